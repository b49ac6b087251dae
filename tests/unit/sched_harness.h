/* sched_harness.h: builds the events the scheduler core takes, and drives it with no Kafka.
 * Every event carries an explicit time, so the tests control the core's clock. */
#ifndef BARGE_SCHED_HARNESS_H
#define BARGE_SCHED_HARNESS_H
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sched_core.h"

#define ARN "arn:barge:batch:local:000000000000:"

struct h {
  struct sched *s;
  struct outbox out;
  int64_t t;            /* the clock used for the next event */
  json_t *log;          /* every output serialised, when recording */
  int outputs[OUT__COUNT];
  void (*each)(struct h *h, const struct out_ev *e); /* when set: called with every output as it comes */
};

static inline json_t *h_header(int64_t t) {
  return json_pack("{s:s, s:I, s:s, s:s}", "event_id", "00000000-0000-4000-8000-000000000000",
                   "event_time", (json_int_t)t, "source", "test", "request_id", "");
}

/* Serialises an outbox entry deterministically (header ids and times replaced). */
static inline json_t *h_serialise(struct h *h, const struct out_ev *e) {
  json_t *v = NULL;
  switch (e->kind) {
  case OUT_STATE_CHANGE: v = sched_state_change(h->s, e, "test"); break;
  case OUT_JOB_RECORD: v = sched_job_record(h->s, e->job, "test", e->at_ms); break;
  case OUT_PLACEMENT:
  case OUT_KILL: v = sched_agent_command(h->s, e, "test"); break;
  case OUT_CAPACITY: v = sched_capacity(h->s, e, "test"); break;
  case OUT_INSTANCE: v = sched_instance_event(h->s, e, "test"); break;
  case OUT_WAIT: v = sched_job_wait(h->s, e, "test"); break;
  case OUT_REJECT: v = json_pack("{s:s, s:s}", "rejected", sched_job_id(h->s, e->job), "reason", e->reason ? e->reason : ""); break;
  case OUT__COUNT: break;
  }
  json_t *hd = json_object_get(v, "header");
  if (hd) json_object_set_new(hd, "event_id", json_string("-"));
  return json_pack("{s:i, s:o}", "kind", (int)e->kind, "value", v);
}

/* Counts, passes on and records what the core just wrote, then empties the outbox. */
static inline void h_drain(struct h *h) {
  for (size_t i = 0; i < h->out.n; i++) {
    h->outputs[h->out.ev[i].kind]++;
    if (h->each) h->each(h, &h->out.ev[i]);
    if (h->log) json_array_append_new(h->log, h_serialise(h, &h->out.ev[i]));
  }
  sched_outbox_reset(&h->out);
}

static inline int h_feed(struct h *h, enum barge_ev_type type, json_t *ev /* @owned */) {
  char err[512];
  int rc = sched_handle(h->s, type, ev, &h->out, err, sizeof err);
  h_drain(h);
  json_decref(ev);
  return rc;
}

/* A barge.config tombstone for the resource of this ARN suffix ("job-queue/q"). */
static inline void h_delete(struct h *h, const char *suffix) {
  char arn[256];
  snprintf(arn, sizeof arn, ARN "%s", suffix);
  sched_handle_config_delete(h->s, arn, h->t, &h->out);
  h_drain(h);
}

/* A scheduler core with the default configuration but lost_after_ms, and an empty outbox. */
static inline struct sched *h_core_new(int64_t lost_after_ms, struct outbox *out) {
  struct sched_conf c;
  sched_conf_defaults(&c);
  c.lost_after_ms = lost_after_ms;
  sched_outbox_init(out);
  return sched_new(&c);
}

static inline void h_init(struct h *h) {
  memset(h, 0, sizeof *h);
  h->s = h_core_new(30000, &h->out);
  h->t = 1700000000000LL;
}

static inline void h_release(struct h *h) {
  sched_free(h->s);
  sched_outbox_release(&h->out);
  json_decref(h->log);
}

static inline json_t *h_config(struct h *h, const char *kind, json_t *body) {
  return json_pack("{s:o, s:{s:o}}", "header", h_header(h->t), "body", kind, body);
}

/* An UNMANAGED CE (instances registered by hand), or MANAGED with maxvCpus. */
static inline void h_ce(struct h *h, const char *name, int managed, int maxv) {
  char arn[256];
  snprintf(arn, sizeof arn, ARN "compute-environment/%s", name);
  json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "computeEnvironmentName", name,
                        "computeEnvironmentArn", arn, "type", managed ? "MANAGED" : "UNMANAGED",
                        "state", "ENABLED", "status", "VALID");
  if (managed)
    json_object_set_new(b, "computeResources", json_pack("{s:s, s:i, s:i}", "type", "EC2", "minvCpus", 0, "maxvCpus", maxv));
  h_feed(h, BARGE_EV_CONFIG_RECORD, h_config(h, "ComputeEnvironment", b));
}

/* A queue over up to 3 CEs (NULL-terminated names); extra members merged from a JSON text. */
static inline void h_queue(struct h *h, const char *name, int priority, const char *extra, ...) {
  char arn[256];
  snprintf(arn, sizeof arn, ARN "job-queue/%s", name);
  json_t *ceo = json_array();
  va_list ap;
  va_start(ap, extra);
  int order = 1;
  for (const char *ce; (ce = va_arg(ap, const char *));) {
    char carn[256];
    snprintf(carn, sizeof carn, ARN "compute-environment/%s", ce);
    json_array_append_new(ceo, json_pack("{s:i, s:s}", "order", order++, "computeEnvironment", carn));
  }
  va_end(ap);
  json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:i, s:o}", "jobQueueName", name, "jobQueueArn", arn,
                        "state", "ENABLED", "status", "VALID", "priority", priority,
                        "computeEnvironmentOrder", ceo);
  if (extra) {
    json_t *x = json_loads(extra, 0, NULL);
    json_object_update(b, x);
    json_decref(x);
  }
  h_feed(h, BARGE_EV_CONFIG_RECORD, h_config(h, "JobQueue", b));
}

/* A job definition with vCPUs, MiB and extra members (JSON text, may be NULL). */
static inline void h_jd(struct h *h, const char *name, int rev, int v, int m, const char *extra) {
  char arn[256], vs[16], ms[16];
  snprintf(arn, sizeof arn, ARN "job-definition/%s:%d", name, rev);
  snprintf(vs, sizeof vs, "%d", v);
  snprintf(ms, sizeof ms, "%d", m);
  json_t *b = json_pack("{s:s, s:s, s:i, s:s, s:s, s:{s:s, s:[s, s], s:[{s:s, s:s}, {s:s, s:s}]}}",
                        "jobDefinitionName", name, "jobDefinitionArn", arn, "revision", rev,
                        "status", "ACTIVE", "type", "container", "containerProperties", "image",
                        "busybox", "command", "echo", "Ref::msg", "resourceRequirements", "type",
                        "VCPU", "value", vs, "type", "MEMORY", "value", ms);
  if (extra) {
    json_t *x = json_loads(extra, 0, NULL);
    json_object_update(b, x);
    json_decref(x);
  }
  h_feed(h, BARGE_EV_CONFIG_RECORD, h_config(h, "JobDefinition", b));
}

/* Submits a job; extra is JSON text merged into the SubmitJob body. */
static inline int h_submit(struct h *h, const char *id, const char *queue, const char *jd, const char *extra) {
  json_t *b = json_pack("{s:s, s:s, s:s, s:s}", "jobId", id, "jobName", "job", "jobQueue", queue,
                        "jobDefinition", jd);
  if (extra) {
    json_t *x = json_loads(extra, 0, NULL);
    if (!x) fprintf(stderr, "bad extra json: %s\n", extra);
    json_object_update(b, x);
    json_decref(x);
  }
  return h_feed(h, BARGE_EV_JOB_REQUEST,
                json_pack("{s:o, s:s, s:{s:o}}", "header", h_header(h->t), "principal", "t", "body", "SubmitJob", b));
}

static inline void h_stop(struct h *h, const char *kind, const char *id, const char *reason) {
  h_feed(h, BARGE_EV_JOB_REQUEST,
         json_pack("{s:o, s:s, s:{s:{s:s, s:s}}}", "header", h_header(h->t), "principal", "t", "body",
                   kind, "jobId", id, "reason", reason));
}

static inline void h_tick(struct h *h) {
  h_feed(h, BARGE_EV_JOB_REQUEST,
         json_pack("{s:o, s:s, s:{s:{s:I}}}", "header", h_header(h->t), "principal", "t", "body", "Tick", "seq", (json_int_t)0));
}

static inline void h_instance(struct h *h, const char *id, const char *ce, const char *kind, int v, int m) {
  h_feed(h, BARGE_EV_INSTANCE_EVENT,
         json_pack("{s:o, s:s, s:s, s:s, s:i, s:i, s:i, s:I}", "header", h_header(h->t), "instanceId", id,
                   "computeEnvironment", ce, "kind", kind, "vcpus", v, "memoryMib", m, "gpus", 0, "at", (json_int_t)h->t));
}

/* A READY instance as the scheduler's rebuild reads it from the instances table: v vCPUs, m MiB
 * in CE ce, its event written at t. */
static inline void h_restore_instance(struct h *h, const char *id, const char *ce, int v, int m, int64_t t) {
  json_t *ie = json_pack("{s:o, s:s, s:s, s:s, s:i, s:i, s:i, s:I}", "header", h_header(t), "instanceId", id,
                         "computeEnvironment", ce, "kind", "READY", "vcpus", v, "memoryMib", m, "gpus", 0, "at",
                         (json_int_t)t);
  sched_restore_instance(h->s, ie);
  json_decref(ie);
}

/* A restart's rebuild after the configuration and instances: every job of from's core restored
 * into to's from its job record (written at at_ms), then sched_restore_done. */
static inline void h_restore_jobs(struct h *to, struct h *from, int64_t at_ms) {
  char err[256];
  for (size_t j = 0; j < sched_job_count(from->s); j++) {
    json_t *jr = sched_job_record(from->s, (uint32_t)j, "test", at_ms);
    CHECK(sched_restore_job(to->s, jr, err, sizeof err) == 0, "%s", err);
    json_decref(jr);
  }
  sched_restore_done(to->s);
}

/* An execution report for the job's current attempt on its instance (exit < -1000: none). */
static inline void h_exec(struct h *h, const char *job, int attempt, const char *inst, const char *kind, int code, const char *reason) {
  json_t *ev = json_pack("{s:o, s:s, s:i, s:s, s:s, s:I}", "header", h_header(h->t), "jobId", job,
                         "attempt", attempt, "instanceId", inst, "kind", kind, "at", (json_int_t)h->t);
  if (code > -1000) json_object_set_new(ev, "exitCode", json_integer(code));
  if (reason) json_object_set_new(ev, "reason", json_string(reason));
  h_feed(h, BARGE_EV_EXECUTION_REPORT, ev);
}

static inline enum job_status h_status(struct h *h, const char *id) {
  uint32_t j = sched_find_job(h->s, id);
  return j == SCHED_NONE ? JOB__COUNT : sched_job_status(h->s, j);
}

static inline json_t *h_detail(struct h *h, const char *id) {
  uint32_t j = sched_find_job(h->s, id);
  return j == SCHED_NONE ? NULL : sched_job_detail(h->s, j);
}

/* The live instance of a job, from its detail's containerInstanceArn. */
static inline const char *h_instance_of(struct h *h, const char *id, char *out, size_t n) {
  json_t *d = h_detail(h, id);
  const char *arn = json_string_value(json_object_get(json_object_get(d, "container"), "containerInstanceArn"));
  const char *slash = arn ? strrchr(arn, '/') : NULL;
  snprintf(out, n, "%s", slash ? slash + 1 : "");
  json_decref(d);
  return out;
}

static inline const char *h_reason(struct h *h, const char *id, char *out, size_t n) {
  json_t *d = h_detail(h, id);
  const char *r = json_string_value(json_object_get(d, "statusReason"));
  snprintf(out, n, "%s", r ? r : "");
  json_decref(d);
  return out;
}

/* The last JobWait written for a job while h->log records (borrowed), or NULL. */
static inline json_t *h_last_wait(struct h *h, const char *id) {
  json_t *found = NULL;
  for (size_t i = 0; h->log && i < json_array_size(h->log); i++) {
    json_t *x = json_array_get(h->log, i);
    json_t *v = json_object_get(x, "value");
    if (json_integer_value(json_object_get(x, "kind")) == OUT_WAIT &&
        !strcmp(json_string_value(json_object_get(v, "jobId")), id))
      found = v;
  }
  return found;
}
#define CHECK_STATUS(h, id, st) \
  CHECK(h_status(h, id) == (st), "%s: status %s, expected %s", id, job_status_name(h_status(h, id)), job_status_name(st))
#endif
