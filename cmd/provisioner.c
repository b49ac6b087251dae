/* provisioner.c: placeholder until the provisioner commands land. */
#include <stdio.h>

#include "cmds.h"

int cmd_provisioner(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "barge provisioner: not implemented yet\n");
  return 1;
}

int cmd_instances(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "barge instances: not implemented yet\n");
  return 1;
}
