/* explain.c: `barge explain JOB_ID [--json]`: why a job is where it is, as a timeline rebuilt
 * from the log (consumers/views/explain.h builds it; this file reads the topics). Only the
 * partition a job's events are keyed to is read on barge.jobs, barge.job-events and
 * barge.job-waits; barge.config, barge.scaling and barge.instances are read whole (one small
 * partition each). Exit status: 0, 1 no such job, 2 bad usage, 255 no broker answers. */
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "explain.h"
#include "jsonget.h"
#include "opts.h"
#include "service.h"

#define EXIT_NO_JOB 1
#define EXIT_USAGE 2
#define EXIT_BROKER 255

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
             "event log. Exit status: 0; 1 no such job; 2 bad usage; 255 no Kafka broker answers.",
             explain_rows, struct explain_opts, NULL);

/* What one read of a topic collects: the decoded events that pass `keep`. */
struct collect {
  const char *job_id;        /* job topics: this job's events only */
  const json_t *ces;         /* scaling, instances: events of these CEs only */
  json_t *out;               /* array; for barge.jobs the latest record (object) */
  json_t *record;
};

static int in_ces(const json_t *ces, const char *ce) {
  size_t i;
  json_t *v;
  json_array_foreach(ces, i, v) if (ce && !strcmp(json_string_value(v), ce)) return 1;
  return 0;
}

static void collect_cb(void *ctx, const struct bus_msg *m) {
  struct collect *c = ctx;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (!m->value || bus_decode(m, &t, &ev, why, sizeof why)) return;
  int keep = 0;
  switch (m->topic) {
  case TOPIC_JOBS: {
    const char *id = jget_str(json_object_get(ev, "detail"), "jobId");
    if (id && !strcmp(id, c->job_id)) {
      json_decref(c->record);
      c->record = json_incref(ev);
    }
    break;
  }
  case TOPIC_JOB_EVENTS:
  case TOPIC_JOB_WAITS:
    keep = jget_str(ev, "jobId") && !strcmp(jget_str(ev, "jobId"), c->job_id);
    break;
  case TOPIC_SCALING:
    keep = in_ces(c->ces, jget_str(ev, "computeEnvironment"));
    break;
  case TOPIC_INSTANCES:
    keep = in_ces(c->ces, jget_str(ev, "computeEnvironment")) && jget_str(ev, "kind") &&
           !strcmp(jget_str(ev, "kind"), "LAUNCH_FAILED");
    break;
  case TOPIC_CONFIG: {
    /* the job's queue: its compute environments, by name */
    json_t *q = json_object_get(json_object_get(ev, "body"), "JobQueue");
    const char *arn = jget_str(q, "jobQueueArn"), *name = jget_str(q, "jobQueueName");
    if (q && ((arn && !strcmp(arn, c->job_id)) || (name && !strcmp(name, c->job_id)))) {
      json_array_clear(c->out);
      size_t i;
      json_t *o;
      json_array_foreach(json_object_get(q, "computeEnvironmentOrder"), i, o) {
        const char *ce = jget_str(o, "computeEnvironment"), *slash = ce ? strrchr(ce, '/') : NULL;
        if (ce) json_array_append_new(c->out, json_string(slash ? slash + 1 : ce));
      }
    }
    break;
  }
  default:
    break;
  }
  if (keep) json_array_append(c->out, ev);
  json_decref(ev);
}

/* Reads topic t (only key's partition when key is given) into c. */
static int read_into(struct bus_consumer *cons, enum bus_topic t, const char *key, struct collect *c,
                     char *err, size_t errlen) {
  return key ? bus_read_table_key(cons, t, key, collect_cb, c, err, errlen)
             : bus_read_table(cons, t, collect_cb, c, err, errlen);
}

/* Reads what explain_build needs; 0, EXIT_NO_JOB, or -1 with err. */
static int gather(struct bus_consumer *cons, const char *id, json_t **record, json_t *lists[5],
                  char *err, size_t errlen) {
  struct collect c = {.job_id = id, .out = json_array()};
  if (read_into(cons, TOPIC_JOBS, id, &c, err, errlen)) {
    json_decref(c.out);
    json_decref(c.record);
    return -1;
  }
  json_decref(c.out);
  if (!c.record) return EXIT_NO_JOB;
  *record = c.record;
  const char *parent = jget_str(c.record, "parentJobId");
  const char *key = parent ? parent : id; /* an array family's events are keyed by the parent */
  enum bus_topic job_topics[2] = {TOPIC_JOB_EVENTS, TOPIC_JOB_WAITS};
  for (int k = 0; k < 2; k++) {
    struct collect e = {.job_id = id, .out = lists[k]};
    if (read_into(cons, job_topics[k], key, &e, err, errlen)) return -1;
  }
  const char *queue = jget_str(json_object_get(c.record, "detail"), "jobQueue");
  struct collect q = {.job_id = queue ? queue : "", .out = lists[4]};
  if (read_into(cons, TOPIC_CONFIG, NULL, &q, err, errlen)) return -1;
  struct collect sc = {.ces = lists[4], .out = lists[2]}, in = {.ces = lists[4], .out = lists[3]};
  if (json_array_size(lists[4]) &&
      (read_into(cons, TOPIC_SCALING, NULL, &sc, err, errlen) || read_into(cons, TOPIC_INSTANCES, NULL, &in, err, errlen)))
    return -1;
  return 0;
}

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
           "Exit status: 0; 1 no such job; 2 bad usage; 255 no Kafka broker answers.\n");
    return 0;
  }
  if (r) return EXIT_USAGE;
  if (npos != 1) {
    fprintf(stderr, "barge explain: give one job id (barge explain JOB_ID [--json])\n");
    return EXIT_USAGE;
  }
  struct service_conn conn;
  if (service_connect("explain", &o.kafka, "barge-explain", 0, &conn)) return EXIT_BROKER;
  if (service_require_broker("explain", &conn)) return EXIT_BROKER;
  char err[1024];
  struct bus_consumer *cons = bus_consumer_new(&conn.bc, NULL, 1, err, sizeof err);
  if (!cons) {
    fprintf(stderr, "barge explain: %s\n", err);
    return EXIT_BROKER;
  }
  json_t *record = NULL, *lists[5];
  for (int k = 0; k < 5; k++) lists[k] = json_array();
  int rc = gather(cons, pos[0], &record, lists, err, sizeof err);
  if (rc == EXIT_NO_JOB) {
    fprintf(stderr, "barge explain: no job %s\n", pos[0]);
  } else if (rc) {
    fprintf(stderr, "barge explain: %s\n", err);
    rc = EXIT_BROKER;
  } else {
    struct explain_input in = {record, lists[0], lists[1], lists[2], lists[3], lists[4]};
    json_t *t = explain_build(&in);
    char *text = o.json ? json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : explain_render(t);
    fputs(text, stdout);
    if (o.json) fputc('\n', stdout);
    free(text);
    json_decref(t);
  }
  json_decref(record);
  for (int k = 0; k < 5; k++) json_decref(lists[k]);
  bus_consumer_free(cons);
  return rc;
}
