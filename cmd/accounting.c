/* accounting.c: placeholder until the accounting commands land. */
#include <stdio.h>

#include "cmds.h"

int cmd_accounting(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "barge accounting: not implemented yet\n");
  return 1;
}

int cmd_usage(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "barge usage: not implemented yet\n");
  return 1;
}
