/* cmds.h: entry points of barge's subcommands (one file per command family). Each takes
 * argv[0] = the command name and returns the process exit status. */
#ifndef BARGE_CMDS_H
#define BARGE_CMDS_H
#include <stdint.h>
#include <stdio.h>

#include "opts.h"

/* The option tables of the commands in cmd/ (--help, docs/configuration.md). */
extern const struct opts_cmd up_opts_cmd, down_opts_cmd, init_opts_cmd, logs_opts_cmd, watch_opts_cmd, explain_opts_cmd,
    instances_opts_cmd, api_opts_cmd, status_opts_cmd, check_opts_cmd,
    replay_print_opts_cmd, replay_rebuild_opts_cmd, replay_simulate_opts_cmd;

int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_scheduler(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_provisioner(int argc, char **argv);   /* cmd/provisioner.c */
int cmd_instances(int argc, char **argv);     /* cmd/instances.c */
int cmd_status(int argc, char **argv);        /* cmd/status.c */
int cmd_accounting(int argc, char **argv);    /* cmd/accounting.c */
int cmd_usage(int argc, char **argv);         /* cmd/accounting.c */
int cmd_audit(int argc, char **argv);         /* cmd/audit.c */
int cmd_replay(int argc, char **argv);        /* cmd/replay.c */
int cmd_check(int argc, char **argv);         /* cmd/check.c */
int cmd_logs(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_explain(int argc, char **argv);       /* cmd/explain.c */
int cmd_version(int argc, char **argv);
int cmd_api(int argc, char **argv);           /* cmd/api.c */
/* `barge help-config` (hidden): docs/configuration.md, generated from the option tables. */
int cmd_help_config(int argc, char **argv);
/* The option tables of every service and tool (cmd/help_config.c), and barge's own command names
 * in `barge help` order, NULL-terminated (cmd/barge.c); for `barge completion`. */
const struct opts_cmd *const *barge_opts_cmds(size_t *n);
const char *barge_command_name(size_t i);
int cmd_completion(int argc, char **argv);   /* cmd/completion.c */
/* 0 when id can name a job (job_id_ok of lib/util.h, array children and nodes included); else
 * says so on stderr as `barge CMD: ...` and returns 2 (bad usage): an empty id crashed `barge
 * logs` and `barge explain` (cmd/barge.c). */
int cmd_job_id_usage(const char *cmd, const char *id);
/* What `barge watch` and `barge logs --follow` say while no broker answers (cmd/follow_broker.c,
 * docs/operations.md "Following through a broker outage"): once per outage on stderr that it
 * cannot be reached and that the command waits, to go on where it stopped; once a broker answers
 * again, that it does; with --broker-timeout, the end of the wait. One per followed consumer,
 * on the thread that polls it. */
struct follow_broker {
  const char *cmd, *brokers;
  int64_t timeout_s; /* --broker-timeout: give up once unreachable this long (0: wait for ever) */
  int64_t heard_ms;  /* when a broker was last heard from: a record, an end of partition, an answer */
  int64_t next_ms;   /* the next question to the broker, while quiet or down */
  int64_t down_ms;   /* since when none answers; 0 while one does */
  int64_t unanswered_ms; /* since when a connected broker leaves the questions unanswered; 0 when none */
  int slow;              /* its last answer took long, or none came: wait longer for the next */
};
void follow_broker_init(struct follow_broker *fb, const char *cmd, const char *brokers, int64_t timeout_s);
struct bus_consumer;
/* After a bus_poll (or several) of c: heard says whether it gave anything (a record, an end of
 * partition). Asks the broker when c has been quiet for a while or librdkafka said every broker
 * is down, and says what changed. 0 to go on; 1 once --broker-timeout has passed (said). */
int follow_broker_step(struct follow_broker *fb, struct bus_consumer *c, int heard) BARGE_WUR;
/* The same for a read that waits on the broker (logs --follow reading the job's record: a try of
 * the read went unanswered): asks at once, unless asked less than a second ago. */
int follow_broker_waiting(struct follow_broker *fb, struct bus_consumer *c) BARGE_WUR;
/* The --broker-timeout option row of watch and logs, for an int64_t field f of struct S. */
#define FOLLOW_BROKER_TIMEOUT_ROW(S, f)                                                            \
  {.name = "broker-timeout", .arg = "SECONDS", .type = OPT_TYPE_OF(S, f), .off = offsetof(S, f),  \
   .def_doc = "wait for ever", .min = 1, .max = 31536000,                                          \
   .help = "give up (exit 1) once no Kafka broker has answered for SECONDS; until then an outage "   \
           "is said on stderr and the output goes on where it stopped"}

/* AWS Batch operations (submit-job, describe-jobs, ...), cmd/aws.c: cmd_is_aws says whether
 * a name is one; cmd_aws runs one (argv[0] must be one); cmd_list_aws lists them. */
int cmd_is_aws(const char *name);
int cmd_aws(int argc, char **argv);
void cmd_list_aws(FILE *out);
#endif
