/* replay.c: placeholder until the replay commands land. */
#include <stdio.h>

#include "cmds.h"

int cmd_replay(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "barge replay: not implemented yet\n");
  return 1;
}
