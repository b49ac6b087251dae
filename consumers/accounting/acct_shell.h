/* acct_shell.h: the I/O around the accounting core (acct.h): the `barge accounting` service
 * (consumes barge.job-events, barge.instances and barge.config, writes barge.usage) and the
 * `barge usage` report. Both return the process exit status. */
#ifndef BARGE_ACCT_SHELL_H
#define BARGE_ACCT_SHELL_H

int acct_service_main(int argc, char **argv);
int acct_usage_main(int argc, char **argv);

#endif
