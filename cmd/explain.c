/* explain.c: `barge explain JOB_ID [--json]`: why a job is where it is, as a timeline rebuilt
 * from the log (consumers/views/explain.h builds it, explain_read.c reads the topics, as for the
 * dashboard's job page). Exit status, as every tool's: 0; 1 no such job (or one submitted that
 * the scheduler has not handled yet, said so), no stack or no broker answers; 2 bad usage. */
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "explain.h"
#include "opts.h"
#include "service.h"
#include "views.h"

#define EXIT_NO_JOB 1
#define EXIT_USAGE 2
#define EXIT_BROKER 1 /* a runtime error, as for every tool (not the AWS commands' 255) */

struct explain_opts {
  struct kafka_opts kafka;
  int json;
};
static const struct opt_spec explain_rows[] = {
    OPT_FLAG_ROW(struct explain_opts, json, "json", "print the timeline as one JSON object"),
    OPTS_KAFKA(struct explain_opts, kafka),
};
const struct opts_cmd explain_opts_cmd =
    OPTS_CMD("explain", "JOB_ID [--json]",
             "Why a job is where it is: its state changes, every reason the scheduler gave while it "
             "was not placed (which compute environment, which instance lacked what, which job went "
             "first, the share's usage) and what the provisioner did meanwhile, rebuilt from the "
             "event log. Exit status: 0; 1 no such job (or one the scheduler has not handled yet, said so), no stack, or no Kafka broker answers; 2 bad usage.",
             explain_rows, struct explain_opts, NULL);

int cmd_explain(int argc, char **argv) {
  struct explain_opts o;
  const char *pos[1];
  int npos = 0;
  int r = opts_parse_cmd(&explain_opts_cmd, &o, argc, argv, pos, &npos, 1);
  if (r == 1) {
    printf("\nWhy a job is where it is, rebuilt from the event log: each state change (barge.job-events);\n"
           "each reason the scheduler gave while the job was not placed, with what it saw then: which\n"
           "compute environment, which instance came closest and what it lacked, which job went first,\n"
           "the share's usage (barge.job-waits); and what the provisioner did meanwhile for the compute\n"
           "environments of its queue (barge.scaling, refused launches on barge.instances).\n"
           "Exit status: 0; 1 no such job (or one the scheduler has not handled yet, said so), no stack, or no Kafka broker answers; 2 bad usage.\n");
    return 0;
  }
  if (r) return EXIT_USAGE;
  if (npos != 1) {
    fprintf(stderr, "barge explain: give one job id (barge explain JOB_ID [--json])\n");
    return EXIT_USAGE;
  }
  if (cmd_job_id_usage("explain", pos[0])) return EXIT_USAGE;
  struct service_conn conn;
  int cr = service_connect("explain", &o.kafka, "barge-explain", 0, &conn);
  if (cr) return cr == 2 ? 2 : EXIT_BROKER; /* 2: bad --kafka-props */
  if (service_require_broker("explain", &conn)) return EXIT_BROKER;
  char err[1024];
  json_t *t = NULL;
  int rc = explain_load(&conn.bc, pos[0], &t, err, sizeof err);
  int submitted = 0;
  if (rc == EXIT_NO_JOB && jobs_submitted(&conn.bc, pos, 1, &submitted, 100000, err, sizeof err)) submitted = 0;
  if (rc == EXIT_NO_JOB && submitted) {
    /* no record yet: the scheduler has not read the submission (it lags, or is not running) */
    fprintf(stderr, "barge explain: job %s is SUBMITTED: the scheduler has not handled it yet, so it has no "
                    "state change to explain (`barge status` shows the scheduler and its lag)\n", pos[0]);
  } else if (rc == EXIT_NO_JOB) {
    fprintf(stderr, "barge explain: no job %s\n", pos[0]);
  } else if (rc) {
    fprintf(stderr, "barge explain: %s\n", err);
    rc = EXIT_BROKER;
  } else {
    char *text = o.json ? json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : explain_render(t);
    fputs(text, stdout);
    if (o.json) fputc('\n', stdout);
    free(text);
  }
  json_decref(t);
  return rc;
}
