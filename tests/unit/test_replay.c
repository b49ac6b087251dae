/* test_replay.c: `barge replay rebuild` and `barge replay simulate` cores (consumers/replay/replay*.c)
 * without Kafka.
 *
 * A small deterministic "world" drives the real scheduler core (sched.c) the way the Kafka shell
 * and two agents would: configuration, two instances, a workload with an array, dependencies, a
 * retried job, a failure cascading to a dependent, a cancellation and a termination. What the
 * core writes (JobStateChange, the latest JobRecord per job) and what was submitted (JobRequest)
 * is the recording. Checked:
 *   - rebuild finds no difference on the recording; a forged record, a missing record and a
 *     record of a job never submitted are each reported;
 *   - simulate (scheduler core + provisioner core) with the recorded configuration reproduces
 *     every job's final status and attempts and the recorded makespan (within 5%); doubling
 *     maxvCpus on this queue-bound workload shortens the makespan and raises the peak vCPUs, with
 *     the provisioner core and with replay's own fleet model; the same input gives the same
 *     report; an ALT naming an unknown compute environment or member is refused;
 *   - with 3 jobs no instance can take (unfinished on both sides), the summary's final-status
 *     agreement counts them as agreeing, as the --per-job rows show (it said 17/20);
 *   - an attempt lost before it started (its agent restarted between placement and start) ends
 *     in the simulation when it did in the recording (it ran for the median duration, 2 s late,
 *     with a note saying attempts were still running when the recording ended);
 *   - a multi-node job (its parent without attempts of its own, its nodes created with it)
 *     rebuilds without a difference (each one showed four), and simulates as recorded: its
 *     worker killed as the main node ends, the attempts and peak vCPUs agreeing; a worker that
 *     ended in the same millisecond as its main node, its end handled first, SUCCEEDED in the
 *     recording and in the simulation (which fed the main node's end first and killed it);
 *   - the registry client's Parsing Canonical Form equals the codec's for every schema;
 *   - a registry answering 404 for an id makes it unknown (the record is dead-lettered), one
 *     answering 401 tells nothing (the record is not dead-lettered: it was, and its job lost);
 *   - a process uses one registry: attaching another URL is refused, naming both. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "codec.h"
#include "registry.h"
#include "replay.h"
#include "sched_core.h"
#include "sched_harness.h"

#define T0 1700000000000LL

/* ---------------- the world ---------------- */

struct wev {
  int64_t at;
  int seq;
  enum barge_ev_type type;
  json_t *ev;
};

struct world {
  struct sched *core;
  struct outbox out;
  struct wev *q;
  size_t nq, capq;
  int seq;
  int64_t now;
  json_t *requests, *events, *records, *config, *instances;
};

static json_t *hdr(struct world *w, int64_t at) {
  char id[32];
  snprintf(id, sizeof id, "w-%d", ++w->seq);
  return json_pack("{s:s, s:I, s:s, s:s}", "event_id", id, "event_time", (json_int_t)at, "source", "test", "request_id", "");
}

static void wpush(struct world *w, int64_t at, enum barge_ev_type t, json_t *ev) {
  if (w->nq == w->capq) {
    w->capq = w->capq ? w->capq * 2 : 64;
    w->q = realloc(w->q, w->capq * sizeof *w->q);
  }
  w->q[w->nq++] = (struct wev){at, ++w->seq, t, ev};
}

static const char *jstr(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* The agent model: durations and exit codes by job name. */
static void agent(struct world *w, const struct out_ev *e) {
  json_t *cmd = sched_agent_command(w->core, e, "test");
  json_t *p = json_object_get(json_object_get(cmd, "body"), "Placement");
  json_t *k = json_object_get(json_object_get(cmd, "body"), "KillRequest");
  const char *inst = jstr(cmd, "instanceId");
  if (k) {
    json_t *r = json_pack("{s:o, s:s, s:O, s:s, s:s, s:I}", "header", hdr(w, w->now), "jobId", jstr(k, "jobId"),
                          "attempt", json_object_get(k, "attempt"), "instanceId", inst, "kind", "KILLED",
                          "at", (json_int_t)w->now);
    wpush(w, w->now, BARGE_EV_EXECUTION_REPORT, r);
  } else if (p) {
    const char *name = jstr(p, "jobName"), *id = jstr(p, "jobId");
    int attempt = (int)json_integer_value(json_object_get(p, "attempt"));
    int64_t dur = 2000, start = w->now + 150;
    if (!strcmp(name, "hang") && attempt == 1) { /* the agent dies before starting it, and comes back */
      int64_t at = w->now + 500;
      wpush(w, at, BARGE_EV_INSTANCE_EVENT,
            json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:I, s:I}", "header", hdr(w, at), "instanceId", inst,
                      "computeEnvironment", "ce1", "kind", "READY", "instanceType", "m5.large", "vcpus", 2,
                      "memoryMib", 8192, "driver", "local", "incarnation", (json_int_t)2, "at", (json_int_t)at));
      json_decref(cmd);
      return;
    }
    int code = 0;
    if (!strncmp(name, "fail", 4)) code = 3;
    if (!strncmp(name, "flaky", 5) && attempt == 1) code = 1;
    if (!strncmp(name, "long", 4)) dur = 60000;
    if (!strncmp(name, "short", 5)) dur = 700;
    if (!strcmp(name, "mnp") && strchr(id, '#') && strcmp(strchr(id, '#'), "#0")) dur = 60000; /* a worker */
    /* mnp-tie: both nodes end in the same millisecond, and the worker's report reaches the
     * scheduler first (the nodes run on two agents, whose reports race) */
    int late = !strcmp(name, "mnp-tie") && strchr(id, '#') && !strcmp(strchr(id, '#'), "#0");
    wpush(w, start, BARGE_EV_EXECUTION_REPORT,
          json_pack("{s:o, s:s, s:i, s:s, s:s, s:I}", "header", hdr(w, start), "jobId", id, "attempt", attempt,
                    "instanceId", inst, "kind", "STARTED", "at", (json_int_t)start));
    wpush(w, start + dur, BARGE_EV_EXECUTION_REPORT,
          json_pack("{s:o, s:s, s:i, s:s, s:s, s:i, s:I}", "header", hdr(w, start + dur), "jobId", id, "attempt",
                    attempt, "instanceId", inst, "kind", "EXITED", "exitCode", code, "at", (json_int_t)(start + dur)));
    if (late) w->q[w->nq - 1].seq += 1000000; /* handled after every other report of its millisecond */
  }
  json_decref(cmd);
}

static void handle(struct world *w, enum barge_ev_type t, json_t *ev) {
  char err[256];
  int rc = sched_handle(w->core, t, ev, &w->out, err, sizeof err);
  CHECK(rc == 0, "sched_handle: %s", err);
  if (t == BARGE_EV_JOB_REQUEST) json_array_append(w->requests, ev);
  if (t == BARGE_EV_CONFIG_RECORD) json_array_append(w->config, ev);
  if (t == BARGE_EV_INSTANCE_EVENT) json_array_append(w->instances, ev);
  for (size_t i = 0; i < w->out.n; i++) {
    const struct out_ev *e = &w->out.ev[i];
    if (e->kind == OUT_STATE_CHANGE) json_array_append_new(w->events, sched_state_change(w->core, e, "test"));
    if (e->kind == OUT_JOB_RECORD)
      json_object_set_new(w->records, sched_job_id(w->core, e->job), sched_job_record(w->core, e->job, "test", e->at_ms));
    if (e->kind == OUT_PLACEMENT || e->kind == OUT_KILL) agent(w, e);
  }
  sched_outbox_reset(&w->out);
}

static void run_world(struct world *w, int64_t until) {
  int64_t next_tick = T0;
  for (;;) {
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < w->nq; i++)
      if (best == SIZE_MAX || w->q[i].at < w->q[best].at || (w->q[i].at == w->q[best].at && w->q[i].seq < w->q[best].seq))
        best = i;
    int64_t at = best == SIZE_MAX ? INT64_MAX : w->q[best].at;
    if (next_tick <= at) {
      if (next_tick > until) break;
      w->now = next_tick;
      json_t *tick = json_pack("{s:o, s:s, s:{s:{s:i}}}", "header", hdr(w, next_tick), "principal", "scheduler",
                               "body", "Tick", "seq", 1);
      handle(w, BARGE_EV_JOB_REQUEST, tick);
      json_decref(tick);
      next_tick += 1000;
      continue;
    }
    struct wev e = w->q[best];
    w->q[best] = w->q[--w->nq];
    w->now = e.at;
    handle(w, e.type, e.ev);
    json_decref(e.ev);
  }
}

static json_t *config_rec(struct world *w, const char *kind, json_t *body) {
  return json_pack("{s:o, s:{s:o}}", "header", hdr(w, T0 - 1000), "body", kind, body);
}

static json_t *submit(struct world *w, int64_t at, const char *id, const char *name, json_t *extra) {
  json_t *b = json_pack("{s:s, s:s, s:s, s:s}", "jobId", id, "jobName", name, "jobQueue",
                        "arn:barge:batch:local:000000000000:job-queue/q1", "jobDefinition", "jd1");
  if (extra) {
    json_object_update(b, extra);
    json_decref(extra);
  }
  return json_pack("{s:o, s:s, s:{s:o}}", "header", hdr(w, at), "principal", "test", "body", "SubmitJob", b);
}

static json_t *stop_req(struct world *w, int64_t at, const char *kind, const char *id) {
  return json_pack("{s:o, s:s, s:{s:{s:s, s:s}}}", "header", hdr(w, at), "principal", "test", "body", kind,
                   "jobId", id, "reason", "by the test");
}

/* unfinished: also 3 jobs of 4 vCPUs, which no instance (2 vCPUs, m5.large) can ever take: they
 * stay RUNNABLE in the recording and in the simulation. lost: the agents carry incarnation 1, and
 * a job "hang" (2 attempts) whose first attempt is lost before it starts: its agent restarts
 * (incarnation 2) 500 ms after the placement, and the scheduler settles the attempt as on a lost
 * host (STARTING -> RUNNABLE, "Host EC2 ..."). */
/* mnp 1: a multi-node job "mnp" of 2 nodes (a multinode definition "jdm"), whose worker node #1
 * runs until the main node's end terminates it. mnp 2: the same job named "mnp-tie", whose two
 * nodes end in the same millisecond, the worker's end handled first. */
static void build_world(struct world *w, int unfinished, int lost, int mnp) {
  memset(w, 0, sizeof *w);
  w->core = h_core_new(3600000, &w->out);
  w->requests = json_array();
  w->events = json_array();
  w->records = json_object();
  w->config = json_array();
  w->instances = json_array();
  json_t *ce = config_rec(w, "ComputeEnvironment",
                          json_pack("{s:s, s:s, s:s, s:{s:s, s:i, s:i, s:[s]}}", "computeEnvironmentName", "ce1",
                                    "computeEnvironmentArn", "arn:barge:batch:local:000000000000:compute-environment/ce1",
                                    "type", "MANAGED", "computeResources", "type", "EC2", "minvCpus", 0, "maxvCpus", 4,
                                    "instanceTypes", "m5.large"));
  json_t *jd = config_rec(w, "JobDefinition",
                          json_pack("{s:s, s:s, s:i, s:{s:[s], s:[{s:s, s:s}, {s:s, s:s}]}}", "jobDefinitionName", "jd1",
                                    "jobDefinitionArn", "arn:barge:batch:local:000000000000:job-definition/jd1:1",
                                    "revision", 1, "containerProperties", "command", "true", "resourceRequirements",
                                    "type", "VCPU", "value", "1", "type", "MEMORY", "value", "512"));
  json_t *q = config_rec(w, "JobQueue",
                         json_pack("{s:s, s:s, s:i, s:[{s:i, s:s}]}", "jobQueueName", "q1", "jobQueueArn",
                                   "arn:barge:batch:local:000000000000:job-queue/q1", "priority", 1,
                                   "computeEnvironmentOrder", "order", 1, "computeEnvironment", "ce1"));
  handle(w, BARGE_EV_CONFIG_RECORD, ce);
  handle(w, BARGE_EV_CONFIG_RECORD, jd);
  if (mnp) {
    json_t *jdm = config_rec(
        w, "JobDefinition",
        json_pack("{s:s, s:s, s:i, s:s, s:s}", "jobDefinitionName", "jdm", "jobDefinitionArn",
                  "arn:barge:batch:local:000000000000:job-definition/jdm:1", "revision", 1, "type", "multinode",
                  "nodePropertiesJson",
                  "{\"numNodes\":2,\"mainNode\":0,\"nodeRangeProperties\":[{\"targetNodes\":\"0:\",\"container\":"
                  "{\"image\":\"busybox\",\"command\":[\"true\"],\"resourceRequirements\":[{\"type\":\"VCPU\","
                  "\"value\":\"1\"},{\"type\":\"MEMORY\",\"value\":\"512\"}]}}]}"));
    handle(w, BARGE_EV_CONFIG_RECORD, jdm);
    json_decref(jdm);
  }
  handle(w, BARGE_EV_CONFIG_RECORD, q);
  json_decref(ce);
  json_decref(jd);
  json_decref(q);
  const char *insts[] = {"i-00000000000000a01", "i-00000000000000a02"};
  for (int i = 0; i < 2; i++) {
    json_t *r = json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:I}", "header", hdr(w, T0 - 500), "instanceId",
                          insts[i], "computeEnvironment", "ce1", "kind", "READY", "instanceType", "m5.large", "vcpus", 2,
                          "memoryMib", 8192, "driver", "local", "at", (json_int_t)(T0 - 500));
    if (lost) json_object_set_new(r, "incarnation", json_integer(1));
    handle(w, BARGE_EV_INSTANCE_EVENT, r);
    json_decref(r);
  }
  /* the workload: 4 vCPUs of capacity for ~20 jobs of 1 vCPU: queue-bound */
  int64_t t = T0 + 100;
  wpush(w, t, BARGE_EV_JOB_REQUEST, submit(w, t, "a0000000-0000-4000-8000-000000000001", "ok-1", NULL));
  wpush(w, t + 10, BARGE_EV_JOB_REQUEST,
        submit(w, t + 10, "a0000000-0000-4000-8000-000000000002", "arr", json_pack("{s:{s:i}}", "arrayProperties", "size", 4)));
  wpush(w, t + 20, BARGE_EV_JOB_REQUEST,
        submit(w, t + 20, "a0000000-0000-4000-8000-000000000003", "after-ok",
               json_pack("{s:[{s:s}]}", "dependsOn", "jobId", "a0000000-0000-4000-8000-000000000001")));
  wpush(w, t + 30, BARGE_EV_JOB_REQUEST,
        submit(w, t + 30, "a0000000-0000-4000-8000-000000000004", "flaky",
               json_pack("{s:{s:i}}", "retryStrategy", "attempts", 2)));
  wpush(w, t + 40, BARGE_EV_JOB_REQUEST, submit(w, t + 40, "a0000000-0000-4000-8000-000000000005", "fail-1", NULL));
  wpush(w, t + 50, BARGE_EV_JOB_REQUEST,
        submit(w, t + 50, "a0000000-0000-4000-8000-000000000006", "after-fail",
               json_pack("{s:[{s:s}]}", "dependsOn", "jobId", "a0000000-0000-4000-8000-000000000005")));
  wpush(w, t + 60, BARGE_EV_JOB_REQUEST, submit(w, t + 60, "a0000000-0000-4000-8000-000000000007", "long-1", NULL));
  wpush(w, t + 70, BARGE_EV_JOB_REQUEST,
        submit(w, t + 70, "a0000000-0000-4000-8000-000000000008", "seq",
               json_pack("{s:{s:i}, s:[{s:s}]}", "arrayProperties", "size", 3, "dependsOn", "type", "SEQUENTIAL")));
  for (int i = 0; i < 8; i++) {
    char id[64], name[32];
    snprintf(id, sizeof id, "b0000000-0000-4000-8000-%012d", i);
    snprintf(name, sizeof name, "%s-%d", i % 2 ? "short" : "ok", i);
    wpush(w, t + 100 + i, BARGE_EV_JOB_REQUEST, submit(w, t + 100 + i, id, name, NULL));
  }
  /* cancelled while it waits in the queue */
  wpush(w, t + 200, BARGE_EV_JOB_REQUEST, submit(w, t + 200, "a0000000-0000-4000-8000-000000000009", "ok-cancel", NULL));
  wpush(w, t + 300, BARGE_EV_JOB_REQUEST, stop_req(w, t + 300, "CancelJob", "a0000000-0000-4000-8000-000000000009"));
  /* terminated while it runs */
  wpush(w, t + 5000, BARGE_EV_JOB_REQUEST, stop_req(w, t + 5000, "TerminateJob", "a0000000-0000-4000-8000-000000000007"));
  for (int i = 0; unfinished && i < 3; i++) {
    char id[64];
    snprintf(id, sizeof id, "c0000000-0000-4000-8000-%012d", i);
    wpush(w, t + 400 + i, BARGE_EV_JOB_REQUEST,
          submit(w, t + 400 + i, id, "big",
                 json_pack("{s:{s:[{s:s, s:s}]}}", "containerOverrides", "resourceRequirements", "type", "VCPU", "value", "4")));
  }
  if (mnp)
    wpush(w, t + 90, BARGE_EV_JOB_REQUEST,
          submit(w, t + 90, "e0000000-0000-4000-8000-000000000000", mnp == 2 ? "mnp-tie" : "mnp",
                 json_pack("{s:s}", "jobDefinition", "jdm")));
  if (lost)
    wpush(w, t + 80, BARGE_EV_JOB_REQUEST,
          submit(w, t + 80, "a0000000-0000-4000-8000-00000000000a", "hang",
                 json_pack("{s:{s:i}}", "retryStrategy", "attempts", 2)));
  run_world(w, T0 + 120000);
}

static void free_world(struct world *w) {
  for (size_t i = 0; i < w->nq; i++) json_decref(w->q[i].ev);
  free(w->q);
  sched_free(w->core);
  sched_outbox_release(&w->out);
  json_t *docs[] = {w->requests, w->events, w->records, w->config, w->instances};
  for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) json_decref(docs[i]);
}

static int per_job_rows; /* ask for --per-job's rows */

/* ---------------- rebuild ---------------- */

static size_t rebuild_diffs(struct world *w, json_t *records, json_t **diffs_out, struct replay_rebuild_summary *sum) {
  struct replay_rebuild *rb = replay_rebuild_new();
  size_t i;
  json_t *ev;
  json_array_foreach(w->requests, i, ev) CHECK(replay_rebuild_request(rb, ev) == 0, "request %zu", i);
  json_array_foreach(w->events, i, ev) CHECK(replay_rebuild_event(rb, ev) == 0, "event %zu", i);
  json_t *diffs = json_array();
  replay_rebuild_compare(rb, records, 0, diffs, sum);
  replay_rebuild_free(rb);
  size_t n = json_array_size(diffs);
  if (diffs_out) *diffs_out = diffs;
  else json_decref(diffs);
  return n;
}

static int has_diff(json_t *diffs, const char *id, const char *field) {
  size_t i;
  json_t *d;
  json_array_foreach(diffs, i, d) if (!strcmp(jstr(d, "jobId"), id) && !strcmp(jstr(d, "field"), field)) return 1;
  return 0;
}

static void test_rebuild(struct world *w) {
  TEST("rebuild: the recorded run has no difference");
  json_t *diffs = NULL;
  struct replay_rebuild_summary sum;
  size_t n = rebuild_diffs(w, w->records, &diffs, &sum);
  CHECK_INT(n, 0);
  if (n) {
    char *s = json_dumps(diffs, JSON_INDENT(1));
    fprintf(stderr, "%s\n", s);
    free(s);
  }
  json_decref(diffs);
  CHECK_INT(sum.jobs_checked, json_object_size(w->records));
  CHECK_INT(sum.unprocessed, 0);
  CHECK(json_object_size(w->records) == 24, "jobs in the world: %zu", json_object_size(w->records));
  /* the workload covered what it should */
  json_t *flaky = json_object_get(json_object_get(w->records, "a0000000-0000-4000-8000-000000000004"), "detail");
  CHECK_STR(jstr(flaky, "status"), "SUCCEEDED");
  CHECK_INT(json_array_size(json_object_get(flaky, "attempts")), 2);
  json_t *dep = json_object_get(json_object_get(w->records, "a0000000-0000-4000-8000-000000000006"), "detail");
  CHECK_STR(jstr(dep, "status"), "FAILED");
  json_t *cancelled = json_object_get(json_object_get(w->records, "a0000000-0000-4000-8000-000000000009"), "detail");
  CHECK_STR(jstr(cancelled, "status"), "FAILED");
  CHECK(json_is_true(json_object_get(cancelled, "isCancelled")), "cancelled");
  json_t *term = json_object_get(json_object_get(w->records, "a0000000-0000-4000-8000-000000000007"), "detail");
  CHECK_STR(jstr(term, "status"), "FAILED");
  CHECK(jstr(term, "statusReason") && !strncmp(jstr(term, "statusReason"), "Terminated", 10), "terminated");
  json_t *arr = json_object_get(json_object_get(w->records, "a0000000-0000-4000-8000-000000000002"), "detail");
  CHECK_STR(jstr(arr, "status"), "SUCCEEDED");

  TEST("rebuild: a forged record is reported");
  json_t *forged = json_deep_copy(w->records);
  json_t *d = json_object_get(json_object_get(forged, "a0000000-0000-4000-8000-000000000001"), "detail");
  json_object_set_new(d, "status", json_string("FAILED"));
  json_object_set_new(d, "stoppedAt", json_integer(T0 + 99));
  diffs = NULL;
  n = rebuild_diffs(w, forged, &diffs, &sum);
  CHECK_INT(n, 2);
  CHECK(has_diff(diffs, "a0000000-0000-4000-8000-000000000001", "status"), "status difference");
  CHECK(has_diff(diffs, "a0000000-0000-4000-8000-000000000001", "stoppedAt"), "stoppedAt difference");
  json_decref(diffs);
  /* an attempt removed from a child of the array */
  json_t *c = json_object_get(json_object_get(forged, "a0000000-0000-4000-8000-000000000002:1"), "detail");
  json_array_clear(json_object_get(c, "attempts"));
  /* a record missing, one for a job never submitted */
  json_object_del(forged, "b0000000-0000-4000-8000-000000000003");
  json_t *ghost = json_deep_copy(json_object_get(forged, "b0000000-0000-4000-8000-000000000000"));
  json_object_set_new(json_object_get(ghost, "detail"), "jobId", json_string("c0000000-0000-4000-8000-000000000000"));
  json_object_set_new(forged, "c0000000-0000-4000-8000-000000000000", ghost);
  n = rebuild_diffs(w, forged, &diffs, &sum);
  CHECK(has_diff(diffs, "a0000000-0000-4000-8000-000000000002:1", "attempts"), "attempts difference");
  CHECK(has_diff(diffs, "b0000000-0000-4000-8000-000000000003", "job"), "missing record");
  CHECK(has_diff(diffs, "c0000000-0000-4000-8000-000000000000", "job"), "record of a job never submitted");
  CHECK_INT(sum.differences, n);
  json_decref(diffs);
  json_decref(forged);

  /* retention deleted the start of barge.requests and barge.job-events; the compacted barge.jobs
   * still has every record: each job whose history went was "never submitted", a difference */
  TEST("rebuild: a job whose history is older than the retained log is not checked, not a difference");
  const char *gone = "a0000000-0000-4000-8000-000000000001", *half = "a0000000-0000-4000-8000-000000000004";
  for (int truncated = 0; truncated < 2; truncated++) {
    struct replay_rebuild *tr = replay_rebuild_new();
    replay_rebuild_set_truncated(tr, truncated);
    size_t k;
    json_t *x;
    int seen_half = 0;
    json_array_foreach(w->requests, k, x) {
      json_t *sub = json_object_get(json_object_get(x, "body"), "SubmitJob");
      if (!sub || strcmp(jstr(sub, "jobId"), gone)) CHECK(replay_rebuild_request(tr, x) == 0, "request %zu", k);
    }
    json_array_foreach(w->events, k, x) {
      /* gone: its request and events; half: its request, but not its first event */
      if (!strcmp(jstr(x, "jobId"), gone) || (!strcmp(jstr(x, "jobId"), half) && !seen_half++)) continue;
      CHECK(replay_rebuild_event(tr, x) == 0, "event %zu", k);
    }
    json_t *td = json_array();
    replay_rebuild_compare(tr, w->records, 0, td, &sum);
    if (truncated) {
      CHECK_INT(sum.differences, 0);
      CHECK_INT(sum.not_retained, 2);
      CHECK_INT(sum.jobs_checked, json_object_size(w->records) - 2);
    } else {
      CHECK(has_diff(td, gone, "job") && has_diff(td, half, "createdAt"), "without the truncation: differences");
      CHECK_INT(sum.not_retained, 0);
    }
    json_decref(td);
    replay_rebuild_free(tr);
  }

  TEST("rebuild: a submission the scheduler has not handled yet is unprocessed, not a difference");
  struct replay_rebuild *rb = replay_rebuild_new();
  json_t *late = submit(w, T0 + 200000, "d0000000-0000-4000-8000-000000000000", "late", NULL);
  CHECK(replay_rebuild_request(rb, late) == 0, "request");
  json_t *dd = json_array(), *none = json_object();
  replay_rebuild_compare(rb, none, 0, dd, &sum);
  CHECK_INT(sum.differences, 0);
  CHECK_INT(sum.unprocessed, 1);
  replay_rebuild_compare(rb, none, 1, dd, &sum);
  CHECK_INT(sum.differences, 1);
  json_decref(dd);
  json_decref(none);
  json_decref(late);
  replay_rebuild_free(rb);
}

/* A multi-node parent keeps no attempts of its own and has no container (its nodes have them);
 * its nodes are created with it, with its createdAt, and have no SUBMITTED event: rebuild
 * reported four differences for every multi-node job of a healthy log. */
static void test_rebuild_mnp(struct world *w) {
  TEST("rebuild: a multi-node job and its nodes rebuild without a difference");
  const char *p = "e0000000-0000-4000-8000-000000000000";
  json_t *d = json_object_get(json_object_get(w->records, p), "detail");
  CHECK_STR(jstr(d, "status"), "SUCCEEDED");
  json_t *worker = json_object_get(json_object_get(w->records, "e0000000-0000-4000-8000-000000000000#1"), "detail");
  CHECK(worker && jstr(worker, "statusReason") && strstr(jstr(worker, "statusReason"), "main node"),
        "the worker node ended with its main node: %s", worker ? jstr(worker, "statusReason") : "(no record)");
  json_t *diffs = NULL;
  struct replay_rebuild_summary sum;
  size_t n = rebuild_diffs(w, w->records, &diffs, &sum);
  CHECK_INT(n, 0);
  if (n) {
    char *s = json_dumps(diffs, JSON_COMPACT);
    fprintf(stderr, "%s\n", s);
    free(s);
  }
  json_decref(diffs);
  CHECK_INT(sum.jobs_checked, json_object_size(w->records));
}

/* ---------------- simulate ---------------- */

static const char *capacity_model; /* NULL: the provisioner core */

/* replay_simulate over the whole of w's records with config (w->config, or one the test made)
 * and alt; capacity_model and per_job_rows as set. Returns its rc; the report in *rep. */
static int simulate_with(struct world *w, json_t *config, json_t *alt, json_t **rep, char *err, size_t errlen) {
  struct replay_sim_input in = {.capacity_model = capacity_model,
                                .config = config,
                                .requests = w->requests,
                                .job_events = w->events,
                                .instances = w->instances,
                                .alt = alt,
                                .per_job = per_job_rows,
                                .from_ms = REPLAY_NO_TIME,
                                .until_ms = REPLAY_NO_TIME};
  return replay_simulate(&in, rep, err, errlen);
}

static json_t *simulate(struct world *w, json_t *alt, int *rc_out) {
  json_t *rep = NULL;
  char err[512] = "";
  int rc = simulate_with(w, w->config, alt, &rep, err, sizeof err);
  if (rc_out) *rc_out = rc;
  else CHECK(rc == 0, "replay_simulate: %s", err);
  return rep;
}

/* A simulation with --per-job's rows, its report printed; NULL when it failed (checked). */
static json_t *simulate_rows(struct world *w) {
  per_job_rows = 1;
  json_t *rep = simulate(w, NULL, NULL);
  per_job_rows = 0;
  if (rep) replay_report_print(rep, 0, stdout);
  return rep;
}

static json_int_t get(json_t *rep, const char *side, const char *k) {
  return json_integer_value(json_object_get(json_object_get(rep, side), k));
}

static void test_simulate(struct world *w) {
  TEST("simulate: the recorded configuration reproduces the recorded outcome");
  json_t *rep = simulate(w, NULL, NULL);
  if (!rep) return;
  replay_report_print(rep, 0, stdout);
  json_t *ag = json_object_get(rep, "agreement");
  CHECK_INT(json_integer_value(json_object_get(ag, "sameFinalStatus")), json_integer_value(json_object_get(ag, "jobs")));
  CHECK_INT(json_integer_value(json_object_get(ag, "sameAttempts")), json_integer_value(json_object_get(ag, "units")));
  CHECK_INT(get(rep, "simulated", "jobs"), 17);
  CHECK_INT(get(rep, "simulated", "succeeded"), get(rep, "recorded", "succeeded"));
  CHECK_INT(get(rep, "simulated", "failed"), get(rep, "recorded", "failed"));
  json_int_t rm = get(rep, "recorded", "makespanMs"), sm = get(rep, "simulated", "makespanMs");
  CHECK(rm > 0 && sm > 0 && llabs(rm - sm) * 20 <= rm, "makespan recorded %lld simulated %lld", (long long)rm, (long long)sm);
  CHECK_INT(get(rep, "simulated", "peakVcpusInstances"), 4);
  CHECK_INT(get(rep, "recorded", "peakVcpusInstances"), 4);
  CHECK_INT(get(rep, "simulated", "peakVcpusJobs"), get(rep, "recorded", "peakVcpusJobs"));

  TEST("simulate: the same input gives the same report");
  json_t *again = simulate(w, NULL, NULL);
  char *a = json_dumps(rep, JSON_SORT_KEYS), *b = json_dumps(again, JSON_SORT_KEYS);
  CHECK(a && b && !strcmp(a, b), "two runs differ");
  free(a);
  free(b);
  json_decref(again);

  TEST("simulate: doubling maxvCpus on a queue-bound workload shortens the makespan");
  json_t *alt = json_pack("{s:{s:{s:i}}}", "computeEnvironments", "ce1", "maxvCpus", 8);
  json_t *dbl = simulate(w, alt, NULL);
  if (dbl) {
    replay_report_print(dbl, 0, stdout);
    json_int_t dm = get(dbl, "simulated", "makespanMs");
    CHECK(dm > 0 && dm < sm, "doubled makespan %lld, recorded config %lld", (long long)dm, (long long)sm);
    CHECK_INT(get(dbl, "simulated", "peakVcpusInstances"), 8);
    CHECK(get(dbl, "simulated", "instancesLaunched") == 2, "launched %lld", (long long)get(dbl, "simulated", "instancesLaunched"));
    CHECK(get(dbl, "simulated", "queueWaitP95Ms") < get(rep, "simulated", "queueWaitP95Ms"), "p95 wait shorter");
    json_t *ag2 = json_object_get(dbl, "agreement");
    CHECK_INT(json_integer_value(json_object_get(ag2, "sameFinalStatus")), 17);
  }
  json_decref(dbl);
  json_decref(alt);

  TEST("simulate: the same with replay's own fleet model instead of the provisioner core");
  capacity_model = "replay";
  alt = json_pack("{s:{s:{s:i}}}", "computeEnvironments", "ce1", "maxvCpus", 8);
  json_t *own = simulate(w, alt, NULL);
  json_t *own_rec = simulate(w, NULL, NULL);
  if (own && own_rec) {
    CHECK_INT(get(own_rec, "simulated", "makespanMs"), sm);
    CHECK(get(own, "simulated", "makespanMs") < sm, "own model: doubled makespan %lld", (long long)get(own, "simulated", "makespanMs"));
    CHECK_INT(get(own, "simulated", "peakVcpusInstances"), 8);
  }
  json_decref(own);
  json_decref(own_rec);
  json_decref(alt);
  capacity_model = "nonsense";
  int rc0 = 0;
  json_t *none = simulate(w, NULL, &rc0);
  CHECK(rc0 == 2 && !none, "an unknown capacity model is refused");
  capacity_model = NULL;

  TEST("simulate: halving maxvCpus lengthens it; queue priorities and strategies are accepted");
  alt = json_pack("{s:{s:{s:i, s:s}}, s:{s:{s:i}}}", "computeEnvironments", "ce1", "maxvCpus", 2, "allocationStrategy",
                  "BEST_FIT_PROGRESSIVE", "jobQueues", "q1", "priority", 50);
  json_t *half = simulate(w, alt, NULL);
  if (half) CHECK(get(half, "simulated", "makespanMs") > sm, "halved makespan %lld", (long long)get(half, "simulated", "makespanMs"));
  json_decref(half);
  json_decref(alt);

  TEST("simulate: an ALT naming an unknown resource or member is refused");
  int rc = 0;
  alt = json_pack("{s:{s:{s:i}}}", "computeEnvironments", "nope", "maxvCpus", 8);
  json_t *bad = simulate(w, alt, &rc);
  CHECK_INT(rc, 2);
  CHECK(bad == NULL, "no report");
  json_decref(alt);
  alt = json_pack("{s:{s:{s:i}}}", "computeEnvironments", "ce1", "maxCpus", 8);
  bad = simulate(w, alt, &rc);
  CHECK_INT(rc, 2);
  json_decref(alt);

  /* a value of the wrong type or out of range was taken as it came: "maxvCpus": "8" became 0
   * vCPUs, and the "what if" answered another question without a word */
  TEST("simulate: an ALT value of the wrong type or out of range is refused, naming the member");
  static const char *const bad_alts[][2] = {
      {"{\"computeEnvironments\": {\"ce1\": {\"maxvCpus\": \"8\"}}}", "maxvCpus"},
      {"{\"computeEnvironments\": {\"ce1\": {\"maxvCpus\": -1}}}", "maxvCpus"},
      {"{\"computeEnvironments\": {\"ce1\": {\"minvCpus\": 1.5}}}", "minvCpus"},
      {"{\"computeEnvironments\": {\"ce1\": {\"minvCpus\": 9, \"maxvCpus\": 8}}}", "minvCpus"},
      {"{\"computeEnvironments\": {\"ce1\": {\"allocationStrategy\": \"FASTEST\"}}}", "allocationStrategy"},
      {"{\"computeEnvironments\": {\"ce1\": {\"type\": \"SPOTTY\"}}}", "type"},
      {"{\"computeEnvironments\": {\"ce1\": {\"instanceTypes\": \"c5\"}}}", "instanceTypes"},
      {"{\"computeEnvironments\": {\"ce1\": {\"bootDelaySeconds\": -3}}}", "bootDelaySeconds"},
      {"{\"bootDelaySeconds\": \"30\"}", "bootDelaySeconds"},
      {"{\"scaleDownDelaySeconds\": -1}", "scaleDownDelaySeconds"},
      {"{\"jobQueues\": {\"q1\": {\"priority\": \"high\"}}}", "priority"},
      {"{\"jobQueues\": {\"q1\": {\"priority\": -5}}}", "priority"},
      {"{\"jobQueues\": {\"q1\": {\"state\": \"PAUSED\"}}}", "state"},
      /* the top-level instanceTypes were read as they came: a misspelt member ignored, a string
       * read as 0 vCPUs, a negative price taken, a new type of no size launched */
      {"{\"instanceTypes\": [\"x1.big\"]}", "instanceTypes"},
      {"{\"instanceTypes\": {\"x1.big\": 64}}", "x1.big"},
      {"{\"instanceTypes\": {\"x1.big\": {\"vcpu\": 64, \"memoryMib\": 1024}}}", "vcpu"},
      {"{\"instanceTypes\": {\"x1.big\": {\"vcpus\": \"64\", \"memoryMib\": 1024}}}", "vcpus"},
      {"{\"instanceTypes\": {\"x1.big\": {\"vcpus\": 0, \"memoryMib\": 1024}}}", "vcpus"},
      {"{\"instanceTypes\": {\"x1.big\": {\"vcpus\": 4, \"memoryMib\": 1024, \"pricePerHour\": -1}}}", "pricePerHour"},
      {"{\"instanceTypes\": {\"x1.big\": {\"vcpus\": 4, \"memoryMib\": 1024, \"spotPricePerHour\": \"0.1\"}}}", "spotPricePerHour"},
      {"{\"instanceTypes\": {\"x1.big\": {\"vcpus\": 4, \"memoryMib\": 1024, \"bootDelaySeconds\": -1}}}", "bootDelaySeconds"},
      {"{\"instanceTypes\": {\"x1.big\": {\"vcpus\": 4}}}", "memoryMib"},
      {"{\"instanceTypes\": {\"x1.big\": {\"pricePerHour\": 1.5}}}", "vcpus"},
  };
  for (size_t i = 0; i < sizeof bad_alts / sizeof *bad_alts; i++) {
    alt = json_loads(bad_alts[i][0], 0, NULL);
    json_t *r2 = NULL;
    char err[512] = "";
    rc = simulate_with(w, w->config, alt, &r2, err, sizeof err);
    CHECK(rc == 2 && !r2 && strstr(err, bad_alts[i][1]), "%s: rc %d, %s", bad_alts[i][0], rc, err);
    json_decref(r2);
    json_decref(alt);
  }

  /* shareDistribution's entries went to the scheduler core as they came: a weight that is a
   * string, or a misspelt member, was the weight 1 without a word */
  TEST("simulate: an ALT shareDistribution entry of the wrong shape is refused, naming the member");
  json_t *cfg = json_deep_copy(w->config);
  json_array_append_new(cfg, config_rec(w, "SchedulingPolicy",
                                        json_pack("{s:s, s:s, s:{s:i, s:[{s:s, s:f}]}}", "name", "fair", "arn",
                                                  "arn:barge:batch:local:000000000000:scheduling-policy/fair",
                                                  "fairsharePolicy", "shareDecaySeconds", 0, "shareDistribution",
                                                  "shareIdentifier", "a", "weightFactor", 1.0)));
  static const char *const bad_shares[][2] = {
      {"{\"schedulingPolicies\": {\"fair\": {\"shareDistribution\": {\"a\": 1}}}}", "shareDistribution"},
      {"{\"schedulingPolicies\": {\"fair\": {\"shareDistribution\": [{\"shareIdentifier\": \"a\", \"weightFactor\": \"0.5\"}]}}}", "weightFactor"},
      {"{\"schedulingPolicies\": {\"fair\": {\"shareDistribution\": [{\"shareIdentifier\": \"a\", \"weightFactor\": 0}]}}}", "weightFactor"},
      {"{\"schedulingPolicies\": {\"fair\": {\"shareDistribution\": [{\"shareIdentifier\": \"a\", \"weightfactor\": 0.5}]}}}", "weightfactor"},
      {"{\"schedulingPolicies\": {\"fair\": {\"shareDistribution\": [{\"weightFactor\": 0.5}]}}}", "shareIdentifier"},
      {"{\"schedulingPolicies\": {\"fair\": {\"shareDistribution\": [{\"shareIdentifier\": \"team a\"}]}}}", "shareIdentifier"},
      {NULL, "the policy as recorded, with a good entry: accepted"},
  };
  for (size_t i = 0; i < sizeof bad_shares / sizeof *bad_shares; i++) {
    const char *doc = bad_shares[i][0] ? bad_shares[i][0]
                                       : "{\"schedulingPolicies\": {\"fair\": {\"shareDistribution\": "
                                         "[{\"shareIdentifier\": \"a*\", \"weightFactor\": 0.5}]}}}";
    alt = json_loads(doc, 0, NULL);
    json_t *r2 = NULL;
    char err[512] = "";
    rc = simulate_with(w, cfg, alt, &r2, err, sizeof err);
    if (bad_shares[i][0])
      CHECK(rc == 2 && !r2 && strstr(err, bad_shares[i][1]), "%s: rc %d, %s", doc, rc, err);
    else
      CHECK(rc == 0 && r2, "%s: rc %d, %s", bad_shares[i][1], rc, err);
    json_decref(r2);
    json_decref(alt);
  }
  json_decref(cfg);

  /* a range with no submission said only "no SubmitJob request in the range", also when no range
   * was given; a --from typed in local time without its offset left the operator guessing */
  TEST("simulate: an empty range says the range read and where the recorded submissions are");
  {
    size_t nsub = 0, k;
    json_t *ev;
    json_array_foreach(w->requests, k, ev) nsub += json_object_get(json_object_get(ev, "body"), "SubmitJob") != NULL;
    struct replay_sim_input in = {.config = w->config, .requests = w->requests, .job_events = w->events,
                                  .instances = w->instances, .from_ms = T0 + 10 * 86400000LL,
                                  .until_ms = REPLAY_NO_TIME};
    json_t *r2 = NULL;
    char err[512] = "", want[160];
    rc = replay_simulate(&in, &r2, err, sizeof err);
    snprintf(want, sizeof want, "barge.requests holds %zu, submitted from 2023-11-14T22:13:20.100Z until ", nsub);
    CHECK(rc == 2 && !r2 && nsub > 0 && strstr(err, "no SubmitJob request at or after 2023-11-24T22:13:20.000Z") &&
              strstr(err, want),
          "rc %d: %s", rc, err);
    in.from_ms = T0 - 86400000LL;
    in.until_ms = T0 - 3600000LL;
    rc = replay_simulate(&in, &r2, err, sizeof err);
    CHECK(rc == 2 && strstr(err, "from 2023-11-13T22:13:20.000Z until 2023-11-14T21:13:20.000Z"), "rc %d: %s", rc, err);
    json_t *none = json_array();
    in.requests = none;
    in.from_ms = in.until_ms = REPLAY_NO_TIME;
    rc = replay_simulate(&in, &r2, err, sizeof err);
    CHECK(rc == 2 && strstr(err, "barge.requests holds no SubmitJob request"), "no range, no submission: rc %d: %s", rc, err);
    json_decref(none);
  }

  TEST("simulate: ALT instanceTypes: a whole new type, and a known one given only a price, are accepted");
  static const char *const good_alts[] = {
      "{\"instanceTypes\": {\"x1.big\": {\"vcpus\": 64, \"memoryMib\": 262144, \"pricePerHour\": 4.0, "
      "\"spotPricePerHour\": 1.2, \"bootDelaySeconds\": 45}}}",
      "{\"instanceTypes\": {\"c5.large\": {\"pricePerHour\": 0}}}",
  };
  for (size_t i = 0; i < sizeof good_alts / sizeof *good_alts; i++) {
    alt = json_loads(good_alts[i], 0, NULL);
    json_t *r2 = NULL;
    char err[512] = "";
    rc = simulate_with(w, w->config, alt, &r2, err, sizeof err);
    CHECK(rc == 0 && r2, "%s: rc %d %s", good_alts[i], rc, err);
    json_decref(r2);
    json_decref(alt);
  }
  json_decref(rep);
}

static void test_simulate_unfinished(struct world *w) {
  TEST("simulate: jobs unfinished on both sides agree in final status (the summary counts them as --per-job shows)");
  json_t *rep = simulate_rows(w);
  if (!rep) return;
  size_t i, same_rows = 0;
  json_t *row;
  json_array_foreach(json_object_get(rep, "jobs"), i, row) {
    const char *a = jstr(json_object_get(row, "recorded"), "status"), *b = jstr(json_object_get(row, "simulated"), "status");
    same_rows += a && b && !strcmp(a, b);
  }
  CHECK(same_rows && same_rows == json_array_size(json_object_get(rep, "jobs")), "per-job rows with equal statuses: %zu of %zu",
        same_rows, json_array_size(json_object_get(rep, "jobs")));
  CHECK_INT(get(rep, "recorded", "jobs"), 20);
  CHECK_INT(get(rep, "recorded", "unfinished"), 3);
  CHECK_INT(get(rep, "simulated", "unfinished"), 3);
  json_t *ag = json_object_get(rep, "agreement");
  CHECK_INT(json_integer_value(json_object_get(ag, "jobs")), 20);
  CHECK_INT(json_integer_value(json_object_get(ag, "sameFinalStatus")), 20);

  /* a time that never came was -1 in the JSON and "-1.00" s in the text, a time before the first
   * submission: null, and "-" */
  TEST("simulate --per-job: a job that never started shows no start time (it showed -1.00 s)");
  json_t *big = NULL;
  json_array_foreach(json_object_get(rep, "jobs"), i, row) if (!strcmp(jstr(row, "jobId"), "c0000000-0000-4000-8000-000000000000")) big = row;
  CHECK(big != NULL, "the unplaceable job has a row");
  for (int side = 0; big && side < 2; side++) {
    json_t *x = json_object_get(big, side ? "simulated" : "recorded");
    CHECK(json_is_null(json_object_get(x, "startingAt")) && json_is_null(json_object_get(x, "stoppedAt")),
          "%s: startingAt and stoppedAt null", side ? "simulated" : "recorded");
  }
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  replay_report_print(rep, 0, mem);
  fclose(mem);
  CHECK(text && !strstr(text, "-1.00"), "no time of -1.00 s in the text");
  const char *line = text ? strstr(text, "\nc0000000-0000-4000-8000-000000000000 ") : NULL;
  char want[200];
  snprintf(want, sizeof want, "%-9s %5s %7s %7s", "RUNNABLE", "0", "-", "-");
  CHECK(line && strstr(line, want) && strstr(line, want) < strchr(line + 1, '\n'), "its row reads '%s' on both sides: %.*s",
        want, line ? (int)strcspn(line + 1, "\n") : 0, line ? line + 1 : "");
  free(text);
  json_decref(rep);
}

static void test_simulate_lost_before_start(struct world *w) {
  TEST("simulate: an attempt lost before it started ends when it was lost, without running (it ran the median "
       "duration, as if still running when the recording ended)");
  json_t *rep = simulate_rows(w);
  if (!rep) return;
  const char *hang = "a0000000-0000-4000-8000-00000000000a";
  json_t *rec = NULL, *sim = NULL, *row;
  size_t i;
  json_array_foreach(json_object_get(rep, "jobs"), i, row) if (!strcmp(jstr(row, "jobId"), hang)) {
    rec = json_object_get(row, "recorded");
    sim = json_object_get(row, "simulated");
  }
  CHECK(rec && sim, "the job %s has a per-job row", hang);
  if (rec && sim) {
    CHECK_INT(json_integer_value(json_object_get(rec, "attempts")), 2);
    CHECK_INT(json_integer_value(json_object_get(sim, "attempts")), 2);
    CHECK_STR(jstr(sim, "status"), "SUCCEEDED");
    json_int_t rs = json_integer_value(json_object_get(rec, "stoppedAt")), ss = json_integer_value(json_object_get(sim, "stoppedAt"));
    CHECK(llabs(rs - ss) <= 300, "stopped at %lld ms in the recording, %lld simulated", (long long)rs, (long long)ss);
  }
  json_t *ag = json_object_get(rep, "agreement");
  CHECK_INT(json_integer_value(json_object_get(ag, "sameAttempts")), json_integer_value(json_object_get(ag, "units")));
  json_t *n;
  json_array_foreach(json_object_get(rep, "notes"), i, n)
    CHECK(!strstr(json_string_value(n), "still running"), "no attempt of the recording was still running: '%s'",
          json_string_value(n));
  json_decref(rep);
}

/* The simulation stopped when the last top-level job ended, with the worker node the main node's
 * end was killing still RUNNING (the recording has it FAILED); the parent's recorded STARTING ->
 * end counted as an attempt and, in the simulation, as a vCPU busy since 1970. */
static void test_simulate_mnp(struct world *w) {
  TEST("simulate: a multi-node job's worker ends with its main node, as recorded");
  json_t *rep = simulate_rows(w);
  if (!rep) return;
  json_t *ag = json_object_get(rep, "agreement");
  CHECK_INT(json_integer_value(json_object_get(ag, "sameFinalStatus")), json_integer_value(json_object_get(ag, "jobs")));
  CHECK_INT(json_integer_value(json_object_get(ag, "sameAttempts")), json_integer_value(json_object_get(ag, "units")));
  CHECK_INT(get(rep, "simulated", "peakVcpusJobs"), get(rep, "recorded", "peakVcpusJobs"));
  CHECK_INT(get(rep, "simulated", "unfinished"), 0);
  json_t *row;
  size_t i;
  json_array_foreach(json_object_get(rep, "jobs"), i, row) {
    if (strcmp(jstr(row, "jobId"), "e0000000-0000-4000-8000-000000000000#1")) continue;
    CHECK_STR(jstr(json_object_get(row, "simulated"), "status"), "FAILED");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(row, "simulated"), "stoppedAt")),
              json_integer_value(json_object_get(json_object_get(row, "recorded"), "stoppedAt")));
  }
  json_decref(rep);
}

/* mnp-tie: the two nodes ended in the same millisecond and the scheduler handled the worker's end
 * first: the worker SUCCEEDED, and the main node's end then found no node to stop. The
 * simulation fed the two ends in the order it placed the nodes (the main node's first), so the
 * main node's end killed the worker, which ended FAILED ("Terminated: The main node ... ended"):
 * reports of one millisecond are now fed in the order barge.job-events recorded them. */
static void test_simulate_mnp_tie(struct world *w) {
  TEST("simulate: a worker node that ended in the same millisecond as its main node ends as recorded");
  const char *main_id = "e0000000-0000-4000-8000-000000000000#0", *worker_id = "e0000000-0000-4000-8000-000000000000#1";
  /* the recording: both nodes ended at the same time, the worker's end first in the log */
  json_int_t main_end = -1, worker_end = -1;
  size_t main_pos = 0, worker_pos = 0, i;
  json_t *ev;
  json_array_foreach(w->events, i, ev) {
    const char *st = jstr(ev, "newStatus");
    if (!st || (strcmp(st, "SUCCEEDED") && strcmp(st, "FAILED"))) continue;
    if (!strcmp(jstr(ev, "jobId"), main_id)) main_end = json_integer_value(json_object_get(ev, "at")), main_pos = i;
    if (!strcmp(jstr(ev, "jobId"), worker_id)) worker_end = json_integer_value(json_object_get(ev, "at")), worker_pos = i;
  }
  CHECK(main_end > 0 && main_end == worker_end && worker_pos < main_pos,
        "the world: the nodes ended at %lld and %lld ms, the worker's end recorded first (%zu < %zu)",
        (long long)main_end, (long long)worker_end, worker_pos, main_pos);
  json_t *rep = simulate_rows(w);
  if (!rep) return;
  json_t *ag = json_object_get(rep, "agreement");
  CHECK_INT(json_integer_value(json_object_get(ag, "sameFinalStatus")), json_integer_value(json_object_get(ag, "jobs")));
  CHECK_INT(json_integer_value(json_object_get(ag, "sameAttempts")), json_integer_value(json_object_get(ag, "units")));
  int seen = 0;
  json_t *row;
  json_array_foreach(json_object_get(rep, "jobs"), i, row) {
    const char *id = jstr(row, "jobId");
    if (strcmp(id, main_id) && strcmp(id, worker_id) && strcmp(id, "e0000000-0000-4000-8000-000000000000")) continue;
    seen++;
    json_t *rec = json_object_get(row, "recorded"), *sim = json_object_get(row, "simulated");
    CHECK_STR(jstr(rec, "status"), "SUCCEEDED");
    CHECK_STR(jstr(sim, "status"), jstr(rec, "status"));
    CHECK_INT(json_integer_value(json_object_get(sim, "stoppedAt")), json_integer_value(json_object_get(rec, "stoppedAt")));
  }
  CHECK_INT(seen, 3);
  json_decref(rep);
}

/* ---------------- registry canonical form ---------------- */

static void test_canonical(void) {
  TEST("registry: the client's Parsing Canonical Form equals the codec's for every schema");
  for (int t = 0; t < BARGE_EV__COUNT; t++) {
    struct buf b;
    buf_init(&b);
    char err[256];
    int rc = registry_canonical_form(codec_schema_json((enum barge_ev_type)t), &b, err, sizeof err);
    CHECK(rc == 0, "%s: %s", codec_type_name((enum barge_ev_type)t), err);
    CHECK(b.data && !strcmp((char *)b.data, codec_canonical_form((enum barge_ev_type)t)), "%s differs",
          codec_type_name((enum barge_ev_type)t));
    CHECK_INT(registry_type_of_schema(codec_schema_json((enum barge_ev_type)t)), t);
    buf_release(&b);
  }
  /* whitespace, docs, defaults and key order do not matter; a changed field does */
  const char *a = "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"doc\":\"x\",\"fields\":[{\"name\":\"f\",\"type\":{\"type\":\"int\"},\"default\":1},{\"name\":\"g\",\"type\":[\"null\",\"R\"]}]}";
  const char *b2 = "{ \"fields\": [ {\"type\": \"int\", \"name\": \"f\"}, {\"name\":\"g\",\"type\":[\"null\",\"n.R\"]} ], \"name\": \"n.R\", \"type\": \"record\" }";
  struct buf x, y;
  buf_init(&x);
  buf_init(&y);
  char err[256];
  CHECK(registry_canonical_form(a, &x, err, sizeof err) == 0, "%s", err);
  CHECK(registry_canonical_form(b2, &y, err, sizeof err) == 0, "%s", err);
  CHECK_STR((char *)x.data, "{\"name\":\"n.R\",\"type\":\"record\",\"fields\":[{\"name\":\"f\",\"type\":\"int\"},{\"name\":\"g\",\"type\":[\"null\",\"n.R\"]}]}");
  CHECK_STR((char *)x.data, (char *)y.data);
  buf_release(&x);
  buf_release(&y);
  CHECK_INT(registry_type_of_schema("{\"type\":\"record\",\"name\":\"barge.JobRequest\",\"fields\":[]}"), -1);
}

/* ---------------- registry answers that tell nothing of the id ---------------- */

/* A fake registry: GET /schemas/ids/404 answers 404, any other id 401 (credentials refused). */
static void *fake_registry(void *arg) {
  int ls = *(int *)arg;
  for (;;) {
    int c = accept(ls, NULL, NULL);
    if (c < 0) return NULL;
    char req[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof req - 1 && (r = read(c, req + n, sizeof req - 1 - n)) > 0) {
      n += (size_t)r;
      req[n] = 0;
      if (strstr(req, "\r\n\r\n")) break;
    }
    req[n] = 0;
    int st = strstr(req, "GET /schemas/ids/404 ") ? 404 : 401;
    const char *body = st == 404 ? "{\"error_code\":40403,\"message\":\"Schema not found\"}"
                                 : "{\"error_code\":401,\"message\":\"Unauthorized\"}";
    char resp[512];
    int len = snprintf(resp, sizeof resp,
                       "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s",
                       st, strlen(body), body);
    if (write(c, resp, (size_t)len) < 0) { /* the test then fails on its answer */
    }
    close(c);
  }
}

static void test_registry_refusals(void) {
  TEST("registry: a 404 for an id is an unknown id (dead-lettered); 401 is no answer (not dead-lettered)");
  static int ls;
  ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  CHECK(bind(ls, (struct sockaddr *)&a, sizeof a) == 0 && listen(ls, 8) == 0 &&
            getsockname(ls, (struct sockaddr *)&a, &al) == 0,
        "listen");
  pthread_t th;
  pthread_create(&th, NULL, fake_registry, &ls);
  pthread_detach(th);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
  registry_set_url(url);
  struct bus_conf bc = {.prefix = "t."};
  char err[512];
  CHECK(registry_attach(&bc, 0, err, sizeof err) == 0, "%s", err);
  /* Confluent framing: 00, the id, a body that does not matter */
  unsigned char rec404[] = {0, 0, 0, 0x01, 0x94, 0}, rec401[] = {0, 0, 0, 0x01, 0x91, 0};
  enum barge_ev_type t;
  json_t *v = NULL;
  CHECK_INT(codec_decode(rec404, sizeof rec404, &t, &v, err, sizeof err), 1);
  CHECK(strstr(err, "unknown schema id 404") && strstr(err, "HTTP 404"), "%s", err);
  /* the registry refused the credentials: nothing is known of the id; the record was dead-lettered */
  CHECK_INT(codec_decode(rec401, sizeof rec401, &t, &v, err, sizeof err), 2);
  CHECK(strstr(err, "unknown schema id 401") && strstr(err, "HTTP 401"), "%s", err);
  /* one registry per process: the same URL (a trailing slash aside) again is fine, another is
   * refused, naming both (it was silently ignored, and records framed with the first one's ids) */
  char same[80];
  snprintf(same, sizeof same, "%s/", url);
  registry_set_url(same);
  CHECK(registry_attach(&bc, 0, err, sizeof err) == 0, "%s", err);
  registry_set_url("http://127.0.0.1:1/other");
  CHECK(registry_attach(&bc, 0, err, sizeof err) == -1 && strstr(err, "127.0.0.1:1/other") && strstr(err, url) &&
            strstr(err, "schema registry"),
        "%s", err);
  registry_set_url(NULL);
  codec_set_id_resolver(NULL, NULL);
}

int main(void) {
  char err[256];
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "codec_init: %s\n", err);
    return 1;
  }
  struct world w;
  build_world(&w, 0, 0, 0);
  test_rebuild(&w);
  test_simulate(&w);
  free_world(&w);
  build_world(&w, 1, 0, 0);
  test_simulate_unfinished(&w);
  free_world(&w);
  build_world(&w, 0, 1, 0);
  test_simulate_lost_before_start(&w);
  free_world(&w);
  build_world(&w, 0, 0, 1);
  test_rebuild_mnp(&w);
  test_simulate_mnp(&w);
  free_world(&w);
  build_world(&w, 0, 0, 2);
  test_simulate_mnp_tie(&w);
  free_world(&w);
  test_canonical();
  test_registry_refusals();
  return check_summary();
}
