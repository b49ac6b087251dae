/* accounting.c: `barge accounting` (the usage and cost service) and `barge usage` (the
 * report); both live in consumers/accounting/acct_shell.c over the pure core consumers/accounting/acct.c. */
#include "acct_shell.h"
#include "cmds.h"

int cmd_accounting(int argc, char **argv) { return acct_service_main(argc, argv); }

int cmd_usage(int argc, char **argv) { return acct_usage_main(argc, argv); }
