/* audit.c: `barge audit` (write the tamper-evident audit file) and `barge audit verify`; both
 * live in consumers/audit/audit_shell.c over the chain and seal of consumers/audit/audit.c. */
#include "audit.h"
#include "cmds.h"

int cmd_audit(int argc, char **argv) { return audit_service_main(argc, argv); }
