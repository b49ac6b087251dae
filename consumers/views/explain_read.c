/* explain_read.c: the reading half of `barge explain` (explain.h, explain_load), shared by the
 * command line (cmd/explain.c) and the dashboard's job page (producers/api/dash_jobs.c). Only the
 * partition a job's events are keyed to is read on barge.jobs, barge.job-events and
 * barge.job-waits; barge.config, barge.scaling and barge.instances are read whole (one small
 * partition each). */
#include <string.h>

#include "bus.h"
#include "explain.h"
#include "jsonget.h"

#define EXPLAIN_NO_JOB 1

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

/* Reads what explain_build needs; 0, EXPLAIN_NO_JOB, or -1 with err. */
static int gather(struct bus_consumer *cons, const char *id, json_t **record, json_t *lists[5],
                  char *err, size_t errlen) {
  struct collect c = {.job_id = id, .out = json_array()};
  if (read_into(cons, TOPIC_JOBS, id, &c, err, errlen)) {
    json_decref(c.out);
    json_decref(c.record);
    return -1;
  }
  json_decref(c.out);
  if (!c.record) return EXPLAIN_NO_JOB;
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

int explain_load(const struct bus_conf *bc, const char *job_id, json_t **out, char *err, size_t errlen) {
  *out = NULL;
  struct bus_consumer *cons = bus_consumer_new(bc, NULL, 1, err, errlen);
  if (!cons) return -1;
  json_t *record = NULL, *lists[5];
  for (int k = 0; k < 5; k++) lists[k] = json_array();
  int rc = gather(cons, job_id, &record, lists, err, errlen);
  if (!rc) {
    struct explain_input in = {record, lists[0], lists[1], lists[2], lists[3], lists[4]};
    *out = explain_build(&in);
  }
  json_decref(record);
  for (int k = 0; k < 5; k++) json_decref(lists[k]);
  bus_consumer_free(cons);
  return rc;
}
