/* acct_shell.h: the I/O around the accounting core (acct.h): the `barge accounting` service
 * (consumes barge.job-events, barge.instances and barge.config, writes barge.usage) and the
 * `barge usage` report. Both return the process exit status. */
#ifndef BARGE_ACCT_SHELL_H
#define BARGE_ACCT_SHELL_H
#include "opts.h"

/* Their options (--help, docs/configuration.md). */
extern const struct opts_cmd acct_opts_cmd, usage_opts_cmd;
#include "opts.h"

/* Their options (--help, docs/configuration.md). */
extern const struct opts_cmd acct_opts_cmd, usage_opts_cmd;

int acct_service_main(int argc, char **argv);
int acct_usage_main(int argc, char **argv);

#endif
