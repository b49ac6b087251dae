/* audit.c: placeholder until the audit commands land. */
#include <stdio.h>

#include "cmds.h"

int cmd_audit(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "barge audit: not implemented yet\n");
  return 1;
}
