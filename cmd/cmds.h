/* cmds.h: entry points of barge's subcommands (one file per command family). Each takes
 * argv[0] = the command name and returns the process exit status. */
#ifndef BARGE_CMDS_H
#define BARGE_CMDS_H
#include <stdio.h>

int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_scheduler(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_provisioner(int argc, char **argv);   /* cmd/provisioner.c */
int cmd_instances(int argc, char **argv);     /* cmd/provisioner.c */
int cmd_accounting(int argc, char **argv);    /* cmd/accounting.c */
int cmd_usage(int argc, char **argv);         /* cmd/accounting.c */
int cmd_audit(int argc, char **argv);         /* cmd/audit.c */
int cmd_replay(int argc, char **argv);        /* cmd/replay.c */
int cmd_logs(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_api(int argc, char **argv);          /* cmd/api.c */
/* AWS Batch operations (submit-job, describe-jobs, ...): -1 when argv[0] is not one. */
int cmd_aws(int argc, char **argv);
void cmd_list_aws(FILE *out);
#endif
