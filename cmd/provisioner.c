/* provisioner.c: `barge provisioner`, the service (provisioner/prov_shell.c). */
#include "cmds.h"
#include "prov_shell.h"

int cmd_provisioner(int argc, char **argv) { return prov_service_main(argc, argv); }
