/* test_acct.c: the accounting core (consumers/accounting/acct.c) on a known fleet, every figure worked out
 * by hand below, plus reconciliation, idempotence, order independence, windows and restart.
 *
 * Times are seconds after T0. Prices: i-1 0.36/h = 0.0001/s, i-2 0.072/h = 0.00002/s.
 *
 *   i-1  ce-a ON_DEMAND 4 vCPU 8192 MiB 0 GPU: LAUNCHING -5 (with the price, not billed),
 *        READY 0 (price 0, as an agent reports), TERMINATED 100
 *   i-2  ce-b SPOT 2 vCPU 4096 MiB 1 GPU: READY 10 (with the price), LOST 70
 *   i-x  never described (no InstanceEvent): up while its job runs, price 0
 *
 *   J1 q1/s1   2 vCPU 2048 MiB 0 GPU  i-1 [10,50)                 w = 2/4 + 2048/8192 = 0.75
 *   J2 q1/s2   1 vCPU 2048 MiB 0 GPU  i-1 [30,70) attempt 1, [80,90) attempt 2   w = 0.5
 *   J3 q2/-    1 vCPU 1024 MiB 1 GPU  i-2 [20,70)  (FAILED at the LOST)   w = 0.5+0.25+1 = 1.75
 *   J4 q2/s1   1 vCPU 2048 MiB 0 GPU  i-2 [60,75) -> clipped to [60,70)   w = 0.5+0.5 = 1
 *   J5 q2/s1   1 vCPU 1024 MiB 0 GPU  i-x [0,10)
 *
 * i-1: [0,10) idle, [10,30) J1, [30,50) J1 0.6 + J2 0.4, [50,70) J2, [70,80) idle,
 *      [80,90) J2, [90,100) idle: 100 s, cost 0.01; idle 30 s = 0.003
 *   J1: vcpu-s 80, GiB-s 80, inst-s 20 + 12 = 32, cost 0.0032
 *   J2: vcpu-s 50, GiB-s 100, inst-s 8 + 20 + 10 = 38, cost 0.0038
 * i-2: [10,20) idle, [20,60) J3, [60,70) J3 7/11 + J4 4/11: 60 s, cost 0.0012; idle 10 s
 *   J3: vcpu-s 50, GiB-s 50, GPU-s 50, inst-s 40 + 70/11, cost inst-s * 0.00002
 *   J4: vcpu-s 10, GiB-s 20, inst-s 40/11, cost inst-s * 0.00002
 * i-x: J5 10 s: vcpu-s 10, GiB-s 10, inst-s 10, cost 0 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "acct.h"
#include "check.h"

#define T0 1700000000000LL
#define S(x) (T0 + (long long)((x) * 1000))

static int eq(double a, double b) { return fabs(a - b) <= 1e-9 * (1 + fabs(a) + fabs(b)); }

#define CHECK_NEAR(a, b) \
  CHECK(eq((a), (b)), "%.12f != %.12f", (double)(a), (double)(b))

static int idn;

static json_t *hdr(void) {
  char id[64];
  snprintf(id, sizeof id, "ev-%04d", ++idn);
  return json_pack("{s:s, s:I, s:s}", "event_id", id, "event_time", (json_int_t)T0, "source", "test");
}

static json_t *inst_ev(const char *id, const char *ce, const char *kind, double at, int vcpus,
                       int mem, int gpus, const char *lc, double price) {
  return json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:f, s:I}", "header", hdr(),
                   "instanceId", id, "computeEnvironment", ce, "kind", kind, "instanceType",
                   "m.test", "vcpus", vcpus, "memoryMib", mem, "gpus", gpus, "lifecycle", lc,
                   "pricePerHour", price, "at", (json_int_t)S(at));
}

static json_t *job_ev(const char *job, const char *queue, const char *share, int attempt,
                      const char *olds, const char *news, const char *inst, const char *ce,
                      int vcpus, int mem, int gpus, double at) {
  json_t *e = json_pack("{s:o, s:s, s:s, s:i, s:s, s:s, s:i, s:i, s:i, s:I}", "header", hdr(),
                        "jobId", job, "jobQueue", queue, "attempt", attempt, "oldStatus", olds,
                        "newStatus", news, "vcpus", vcpus, "memoryMib", mem, "gpus", gpus, "at",
                        (json_int_t)S(at));
  if (share) json_object_set_new(e, "shareIdentifier", json_string(share));
  if (inst) json_object_set_new(e, "instanceId", json_string(inst));
  if (ce) json_object_set_new(e, "computeEnvironment", json_string(ce));
  return e;
}

struct evt {
  enum barge_ev_type type;
  json_t *ev;
  double at;
};
static struct evt evs[64];
static int nev;

static void add(enum barge_ev_type t, json_t *ev) {
  evs[nev].type = t;
  evs[nev].ev = ev;
  evs[nev].at = (double)(json_integer_value(json_object_get(ev, "at")) - T0) / 1000.0;
  nev++;
}

/* A job's life: RUNNABLE -> STARTING (instance) -> RUNNING -> end, as the scheduler writes it
 * (the end event has no instanceId: the scheduler releases the instance first). */
static void job_run(const char *job, const char *q, const char *sh, int attempt, const char *inst,
                    const char *ce, int v, int m, int g, double start, double end, const char *fin) {
  add(BARGE_EV_JOB_STATE_CHANGE, job_ev(job, q, sh, attempt, "RUNNABLE", "STARTING", inst, ce, v, m, g, start));
  add(BARGE_EV_JOB_STATE_CHANGE, job_ev(job, q, sh, attempt, "STARTING", "RUNNING", inst, ce, v, m, g, start + 1));
  add(BARGE_EV_JOB_STATE_CHANGE, job_ev(job, q, sh, attempt, "RUNNING", fin, NULL, NULL, v, m, g, end));
}

static void build_events(void) {
  add(BARGE_EV_CONFIG_RECORD,
      json_pack("{s:o, s:{s:{s:s}}, s:I}", "header", hdr(), "body", "JobQueue", "jobQueueName", "q-unused", "at", (json_int_t)T0));
  add(BARGE_EV_INSTANCE_EVENT, inst_ev("i-1", "ce-a", "LAUNCHING", -5, 4, 8192, 0, "ON_DEMAND", 0.36));
  add(BARGE_EV_INSTANCE_EVENT, inst_ev("i-1", "ce-a", "READY", 0, 4, 8192, 0, "ON_DEMAND", 0));
  add(BARGE_EV_INSTANCE_EVENT, inst_ev("i-1", "ce-a", "HEARTBEAT", 45, 4, 8192, 0, "ON_DEMAND", 0));
  add(BARGE_EV_INSTANCE_EVENT, inst_ev("i-1", "ce-a", "TERMINATED", 100, 4, 8192, 0, "ON_DEMAND", 0));
  add(BARGE_EV_INSTANCE_EVENT, inst_ev("i-2", "ce-b", "READY", 10, 2, 4096, 1, "SPOT", 0.072));
  add(BARGE_EV_INSTANCE_EVENT, inst_ev("i-2", "ce-b", "LOST", 70, 2, 4096, 1, "SPOT", 0));
  job_run("J1", "q1", "s1", 1, "i-1", "ce-a", 2, 2048, 0, 10, 50, "SUCCEEDED");
  job_run("J2", "q1", "s2", 1, "i-1", "ce-a", 1, 2048, 0, 30, 70, "RUNNABLE");
  job_run("J2", "q1", "s2", 2, "i-1", "ce-a", 1, 2048, 0, 80, 90, "SUCCEEDED");
  job_run("J3", "q2", NULL, 1, "i-2", "ce-b", 1, 1024, 1, 20, 70, "FAILED");
  job_run("J4", "q2", "s1", 1, "i-2", "ce-b", 1, 2048, 0, 60, 75, "FAILED");
  job_run("J5", "q2", "s1", 1, "i-x", "ce-c", 1, 1024, 0, 0, 10, "SUCCEEDED");
}

static int cmp_at(const void *x, const void *y) {
  double a = ((const struct evt *)x)->at, b = ((const struct evt *)y)->at;
  return a < b ? -1 : a > b;
}

static const char *key_of(const json_t *ev) {
  const char *k = json_string_value(json_object_get(ev, "jobId"));
  if (!k) k = json_string_value(json_object_get(ev, "instanceId"));
  return k ? k : "config";
}

/* Feeds every event. reverse: keys (jobs, instances) in reverse order of first appearance,
 * each key's events in order, as a consumer may interleave partitions. */
static void feed_all(struct acct *a, int reverse) {
  char why[256];
  const char *keys[64];
  int nk = 0;
  for (int i = 0; i < nev; i++) {
    const char *k = key_of(evs[i].ev);
    int found = 0;
    for (int j = 0; j < nk; j++) found |= !strcmp(keys[j], k);
    if (!found) keys[nk++] = k;
  }
  for (int kk = 0; kk < nk; kk++) {
    const char *k = keys[reverse ? nk - 1 - kk : kk];
    for (int i = 0; i < nev; i++) {
      if (strcmp(key_of(evs[i].ev), k) != 0) continue;
      int rc = acct_handle(a, evs[i].type, evs[i].ev, why, sizeof why);
      CHECK(rc == 0, "event %d handled: rc %d %s", i, rc, why);
    }
  }
}

/* expected figures */
static const double J3_INST = 40 + 70.0 / 11, J4_INST = 40.0 / 11;

static void check_job(struct acct *a, const char *id, double v, double m, double g, double is,
                      double cost) {
  struct acct_totals t;
  CHECK(acct_get(a, ACCT_JOB, id, &t) == 0, "job %s known", id);
  CHECK_NEAR(t.vcpu_s, v);
  CHECK_NEAR(t.mem_gib_s, m);
  CHECK_NEAR(t.gpu_s, g);
  CHECK_NEAR(t.inst_s, is);
  CHECK_NEAR(t.cost, cost);
}

static void check_agg(struct acct *a, enum acct_kind k, const char *key, double v, double m,
                      double g, double is, double cost) {
  struct acct_totals t;
  CHECK(acct_get(a, k, key, &t) == 0, "%s %s known", acct_kind_name(k), key);
  CHECK_NEAR(t.vcpu_s, v);
  CHECK_NEAR(t.mem_gib_s, m);
  CHECK_NEAR(t.gpu_s, g);
  CHECK_NEAR(t.inst_s, is);
  CHECK_NEAR(t.cost, cost);
}

static void check_all_figures(struct acct *a) {
  check_job(a, "J1", 80, 80, 0, 32, 0.0032);
  check_job(a, "J2", 50, 100, 0, 38, 0.0038);
  check_job(a, "J3", 50, 50, 50, J3_INST, J3_INST * 0.00002);
  check_job(a, "J4", 10, 20, 0, J4_INST, J4_INST * 0.00002);
  check_job(a, "J5", 10, 10, 0, 10, 0);
  check_agg(a, ACCT_QUEUE, "q1", 130, 180, 0, 70, 0.007);
  check_agg(a, ACCT_QUEUE, "q2", 70, 80, 50, 60, 0.0012 - 0.0002);
  check_agg(a, ACCT_QUEUE, "q-unused", 0, 0, 0, 0, 0);
  check_agg(a, ACCT_SHARE, "s1", 100, 110, 0, 32 + J4_INST + 10, 0.0032 + J4_INST * 0.00002);
  check_agg(a, ACCT_SHARE, "s2", 50, 100, 0, 38, 0.0038);
  check_agg(a, ACCT_SHARE, "", 50, 50, 50, J3_INST, J3_INST * 0.00002);
  check_agg(a, ACCT_CE, "ce-a", 130, 180, 0, 100, 0.01);
  check_agg(a, ACCT_CE, "ce-b", 60, 70, 50, 60, 0.0012);
  check_agg(a, ACCT_CE, "ce-c", 10, 10, 0, 10, 0);
  check_agg(a, ACCT_IDLE, "ce-a", 120, 240, 0, 30, 0.003);
  check_agg(a, ACCT_IDLE, "ce-b", 20, 40, 10, 10, 0.0002);
  /* reconciliation: jobs + idle == instances == CEs, for every figure */
  struct acct_totals jobs, idle, inst, ces, queues, shares;
  CHECK(acct_get(a, ACCT_JOB, NULL, &jobs) == 0, "job totals");
  CHECK(acct_get(a, ACCT_IDLE, NULL, &idle) == 0, "idle totals");
  CHECK(acct_get(a, ACCT__COUNT, NULL, &inst) == 0, "instance totals");
  CHECK(acct_get(a, ACCT_CE, NULL, &ces) == 0, "CE totals");
  CHECK(acct_get(a, ACCT_QUEUE, NULL, &queues) == 0, "queue totals");
  CHECK(acct_get(a, ACCT_SHARE, NULL, &shares) == 0, "share totals");
  CHECK_NEAR(inst.inst_s, 170);
  CHECK_NEAR(inst.cost, 0.0112);
  CHECK_NEAR(jobs.cost + idle.cost, inst.cost);
  CHECK_NEAR(jobs.inst_s + idle.inst_s, inst.inst_s);
  CHECK_NEAR(ces.cost, inst.cost);
  CHECK_NEAR(ces.inst_s, inst.inst_s);
  CHECK_NEAR(ces.vcpu_s, jobs.vcpu_s);
  CHECK_NEAR(queues.cost, jobs.cost);
  CHECK_NEAR(shares.cost, jobs.cost);
  CHECK_NEAR(queues.vcpu_s, jobs.vcpu_s);
  CHECK_NEAR(shares.mem_gib_s, jobs.mem_gib_s);
}

/* Every figure after the whole fleet is handled (in reverse order with reverse) and settled. */
static void check_figures_settled_at_once(int reverse) {
  struct acct *a = acct_new(NULL);
  feed_all(a, reverse);
  acct_settle(a, S(200));
  check_all_figures(a);
  acct_free(a);
}

static void test_figures(void) {
  TEST("every figure of a known fleet, settled at once");
  check_figures_settled_at_once(0);
}

static void test_duplicates(void) {
  TEST("a re-delivered event (same event_id) never counts twice");
  struct acct *a = acct_new(NULL);
  feed_all(a, 0);
  acct_settle(a, S(55));
  char why[256];
  int dups = 0;
  for (int i = 0; i < nev; i++) dups += acct_handle(a, evs[i].type, evs[i].ev, why, sizeof why) == 1;
  CHECK_INT(dups, nev);
  acct_settle(a, S(200));
  for (int i = 0; i < nev; i++) dups += acct_handle(a, evs[i].type, evs[i].ev, why, sizeof why) == 1;
  CHECK_INT(dups, 2 * nev);
  acct_settle(a, S(300));
  check_all_figures(a);
  struct acct_stats st;
  acct_stats(a, &st);
  CHECK_INT(st.duplicates, 2 * nev);
  CHECK_INT(st.events, nev);
  acct_free(a);
}

static void test_order(void) {
  TEST("jobs and instances handled in reverse order before settling give the same figures");
  check_figures_settled_at_once(1);
}

static void test_incremental(void) {
  TEST("events in time order, settled every 2.5 s, give the same figures");
  qsort(evs, (size_t)nev, sizeof *evs, cmp_at);
  struct acct_conf c;
  acct_conf_defaults(&c);
  c.reopen_ms = 10000;
  struct acct *a = acct_new(&c);
  char why[256];
  int i = 0;
  for (double w = -10; w <= 200; w += 2.5) {
    while (i < nev && evs[i].at < w) {
      CHECK(acct_handle(a, evs[i].type, evs[i].ev, why, sizeof why) == 0, "%s", why);
      i++;
    }
    acct_settle(a, S(w));
  }
  check_all_figures(a);
  struct acct_stats st;
  acct_stats(a, &st);
  CHECK_INT(st.late, 0);
  CHECK_INT(st.open_attempts, 0);
  CHECK_INT(st.instances, 0); /* every instance ended (or, i-x, has nothing left) and was released */
  acct_free(a);
}

static json_t *find_rec(json_t *arr, const char *key) {
  size_t i;
  json_t *r, *found = NULL;
  json_array_foreach(arr, i, r) if (!strcmp(json_string_value(json_object_get(r, "key")), key)) found = r;
  return found;
}

static double num(json_t *r, const char *k) { return json_number_value(json_object_get(r, k)); }

static void test_records(void) {
  TEST("UsageRecords: one per finished job (cumulative over attempts), aggregates by key");
  struct acct_conf c;
  acct_conf_defaults(&c);
  c.reopen_ms = 0; /* no late events here: jobs are released as soon as they are reported */
  struct acct *a = acct_new(&c);
  feed_all(a, 0);
  json_t *out = json_array();
  acct_settle(a, S(75)); /* J1, J3, J4, J5 and J2's first attempt have ended */
  acct_collect(a, out, 1);
  json_t *j2 = find_rec(out, "J2");
  CHECK(j2 != NULL, "J2 published after its first attempt");
  if (j2) CHECK_NEAR(num(j2, "vcpuSeconds"), 40);
  CHECK(find_rec(out, "J1") && find_rec(out, "J3") && find_rec(out, "J4") && find_rec(out, "J5"),
        "J1, J3, J4, J5 published");
  json_t *q1 = find_rec(out, "queue:q1");
  CHECK(q1 && !strcmp(json_string_value(json_object_get(q1, "kind")), "QUEUE"), "queue:q1 is a QUEUE record");
  if (q1) CHECK_INT(json_integer_value(json_object_get(q1, "until")), S(75));
  json_array_clear(out);
  acct_settle(a, S(200));
  acct_collect(a, out, 1);
  j2 = find_rec(out, "J2");
  CHECK(j2 != NULL, "J2 published again after its second attempt");
  if (j2) {
    CHECK_NEAR(num(j2, "vcpuSeconds"), 50);
    CHECK_NEAR(num(j2, "cost"), 0.0038);
    CHECK_NEAR(num(j2, "instanceSeconds"), 38);
    CHECK_STR(json_string_value(json_object_get(j2, "kind")), "JOB");
    CHECK_STR(json_string_value(json_object_get(j2, "jobQueue")), "q1");
    CHECK_STR(json_string_value(json_object_get(j2, "shareIdentifier")), "s2");
    CHECK_STR(json_string_value(json_object_get(j2, "computeEnvironment")), "ce-a");
    CHECK_INT(json_integer_value(json_object_get(j2, "from")), S(30));
    CHECK_INT(json_integer_value(json_object_get(j2, "until")), S(90));
  }
  CHECK(find_rec(out, "J1") == NULL, "J1 is not published twice");
  json_t *idle = find_rec(out, "idle:ce-a");
  CHECK(idle && !strcmp(json_string_value(json_object_get(idle, "kind")), "IDLE"), "idle:ce-a is an IDLE record");
  if (idle) {
    CHECK_NEAR(num(idle, "cost"), 0.003);
    CHECK_STR(json_string_value(json_object_get(idle, "computeEnvironment")), "ce-a");
  }
  json_t *ce = find_rec(out, "ce:ce-a");
  CHECK(ce && !strcmp(json_string_value(json_object_get(ce, "kind")), "COMPUTE_ENVIRONMENT"), "ce:ce-a record");
  if (ce) CHECK_NEAR(num(ce, "cost"), 0.01);
  json_t *none = find_rec(out, "share:");
  CHECK(none == NULL || json_object_get(none, "shareIdentifier") == NULL, "jobs without a share: share: with no identifier");
  json_array_clear(out);
  acct_collect(a, out, 1);
  CHECK_INT(json_array_size(out), 0); /* nothing changed */
  struct acct_stats st;
  acct_stats(a, &st);
  CHECK_INT(st.jobs, 0); /* finished jobs were released after their records */
  json_decref(out);
  acct_free(a);
}

struct job_row {
  const char *id;
  int attempts, running;
};

static void job_row_cb(void *ctx, const struct acct_row *r) {
  struct job_row *j = ctx;
  if (!strcmp(r->key, j->id)) {
    j->attempts = r->attempts;
    j->running = r->running;
  }
}

static void test_window(void) {
  TEST("a window [40 s, 80 s) counts only the time inside it");
  struct acct_conf c;
  acct_conf_defaults(&c);
  c.from_ms = S(40);
  c.keep_jobs = 1;
  struct acct *a = acct_new(&c);
  feed_all(a, 0);
  acct_settle(a, S(80));
  /* i-1 [40,50) J1 0.6 + J2 0.4, [50,70) J2, [70,80) idle; i-2 [40,60) J3, [60,70) J3 + J4 */
  check_job(a, "J1", 20, 20, 0, 6, 0.0006);
  check_job(a, "J2", 30, 60, 0, 24, 0.0024);
  check_job(a, "J3", 30, 30, 30, 20 + 70.0 / 11, (20 + 70.0 / 11) * 0.00002);
  check_agg(a, ACCT_IDLE, "ce-a", 40, 80, 0, 10, 0.001);
  check_agg(a, ACCT_CE, "ce-a", 50, 80, 0, 40, 0.004);
  check_agg(a, ACCT_CE, "ce-b", 40, 50, 30, 30, 0.0006);
  struct acct_totals t;
  CHECK(acct_get(a, ACCT_JOB, "J5", &t) == 0 && t.vcpu_s == 0, "J5 (before the window) has nothing");
  /* J2's attempt 2 starts at 80, when the window ends: its row counts the one attempt that ran in
   * the window (it said 2, every attempt ever started), and none was running at its end */
  struct job_row j2 = {"J2", -1, -1};
  acct_foreach(a, ACCT_JOB, 0, job_row_cb, &j2);
  CHECK(j2.attempts == 1 && j2.running == 0, "J2 in [40, 80): %d attempt(s), running %d", j2.attempts, j2.running);
  acct_free(a);
  /* [40, 60): J2's attempt 1 was running when the window ended (it said not running: it ended
   * at 70, after the window) */
  a = acct_new(&c);
  feed_all(a, 0);
  acct_settle(a, S(60));
  j2 = (struct job_row){"J2", -1, -1};
  acct_foreach(a, ACCT_JOB, 0, job_row_cb, &j2);
  CHECK(j2.attempts == 1 && j2.running == 1, "J2 in [40, 60): %d attempt(s), running %d", j2.attempts, j2.running);
  struct job_row j3 = {"J3", -1, -1};
  acct_foreach(a, ACCT_JOB, 0, job_row_cb, &j3);
  CHECK(j3.attempts == 1 && j3.running == 1, "J3 in [40, 60): %d attempt(s), running %d", j3.attempts, j3.running);
  acct_free(a);
  /* the whole history: J2 ran twice */
  c.from_ms = INT64_MIN;
  a = acct_new(&c);
  feed_all(a, 0);
  acct_settle(a, S(200));
  j2 = (struct job_row){"J2", -1, -1};
  acct_foreach(a, ACCT_JOB, 0, job_row_cb, &j2);
  CHECK(j2.attempts == 2 && j2.running == 0, "J2, all time: %d attempt(s), running %d", j2.attempts, j2.running);
  acct_free(a);
}

static void count_cb(void *ctx, const struct acct_row *r) {
  (*(int *)ctx)++;
  (void)r;
}

static int is_job(const struct evt *e, const char *job) {
  const char *j = json_string_value(json_object_get(e->ev, "jobId"));
  return j && !strcmp(j, job);
}

/* A run that saw every event but `skip`'s, settled at `until`: its records. */
static json_t *first_run(const char *skip, double until) {
  struct acct *a = acct_new(NULL);
  char why[256];
  for (int i = 0; i < nev; i++)
    if (!skip || !is_job(&evs[i], skip))
      CHECK(acct_handle(a, evs[i].type, evs[i].ev, why, sizeof why) == 0, "%s", why);
  acct_settle(a, S(until));
  json_t *recs = json_array();
  acct_collect(a, recs, 1);
  acct_free(a);
  return recs;
}

static void test_restart(void) {
  TEST("restart: seeded from the records published at 60 s, the totals continue exactly");
  json_t *first = first_run(NULL, 60);
  /* a new process: reads its records back, then the events the first run had seen */
  struct acct *b = acct_new(NULL);
  size_t i;
  json_t *r;
  json_array_foreach(first, i, r) CHECK(acct_seed(b, r) == 0, "seed %s", json_string_value(json_object_get(r, "key")));
  feed_all(b, 0);
  acct_restored(b);
  json_t *second = json_array();
  acct_collect(b, second, 1);
  CHECK_INT(json_array_size(second), 0); /* nothing new to say yet */
  acct_settle(b, S(200));
  check_agg(b, ACCT_QUEUE, "q1", 130, 180, 0, 70, 0.007);
  check_agg(b, ACCT_CE, "ce-a", 130, 180, 0, 100, 0.01);
  check_agg(b, ACCT_CE, "ce-b", 60, 70, 50, 60, 0.0012);
  check_agg(b, ACCT_IDLE, "ce-a", 120, 240, 0, 30, 0.003);
  check_agg(b, ACCT_SHARE, "s1", 100, 110, 0, 32 + J4_INST + 10, 0.0032 + J4_INST * 0.00002);
  check_job(b, "J2", 50, 100, 0, 38, 0.0038); /* jobs are recomputed in full */
  acct_collect(b, second, 1);
  CHECK(find_rec(second, "J1") == NULL && find_rec(second, "J5") == NULL,
        "jobs finished before the restart point are not written again");
  CHECK(find_rec(second, "J2") && find_rec(second, "J3") && find_rec(second, "J4"),
        "jobs finishing after it are");
  json_decref(first);
  json_decref(second);
  acct_free(b);

  TEST("restart: events the first run never saw, though older than its records, still count");
  first = first_run("J2", 200);
  b = acct_new(NULL);
  json_array_foreach(first, i, r) CHECK(acct_seed(b, r) == 0, "seed");
  char why[256];
  for (int k = 0; k < nev; k++)
    if (!is_job(&evs[k], "J2")) CHECK(acct_handle(b, evs[k].type, evs[k].ev, why, sizeof why) == 0, "%s", why);
  acct_restored(b);
  for (int k = 0; k < nev; k++)
    if (is_job(&evs[k], "J2")) CHECK(acct_handle(b, evs[k].type, evs[k].ev, why, sizeof why) == 0, "%s", why);
  acct_settle(b, S(210));
  check_all_figures(b);
  second = json_array();
  acct_collect(b, second, 1);
  json_t *j1 = find_rec(second, "J1");
  CHECK(j1 && eq(num(j1, "cost"), 0.0032), "J1, reported by the first run, is corrected");
  json_decref(first);
  json_decref(second);
  acct_free(b);
}

static void test_late_corrections(void) {
  TEST("late events (a scheduler catching up) are applied exactly and jobs reported again");
  struct acct *a = acct_new(NULL);
  char why[256];
  for (int i = 0; i < nev; i++) {
    const char *job = json_string_value(json_object_get(evs[i].ev, "jobId"));
    if (job && !strcmp(job, "J2")) continue;
    CHECK(acct_handle(a, evs[i].type, evs[i].ev, why, sizeof why) == 0, "%s", why);
  }
  acct_settle(a, S(200));
  json_t *out = json_array();
  acct_collect(a, out, 1);
  json_t *j1 = find_rec(out, "J1");
  CHECK(j1 && eq(num(j1, "cost"), 0.004), "J1 alone on i-1 first: 40 s of it, 0.004");
  json_array_clear(out);
  /* J2's events arrive now, 110 to 170 s late */
  for (int i = 0; i < nev; i++) {
    const char *job = json_string_value(json_object_get(evs[i].ev, "jobId"));
    if (job && !strcmp(job, "J2"))
      CHECK(acct_handle(a, evs[i].type, evs[i].ev, why, sizeof why) == 0, "%s", why);
  }
  acct_settle(a, S(200));
  check_all_figures(a);
  acct_collect(a, out, 1);
  j1 = find_rec(out, "J1");
  json_t *j2 = find_rec(out, "J2");
  CHECK(j1 && eq(num(j1, "cost"), 0.0032), "J1 reported again with its corrected share");
  CHECK(j2 && eq(num(j2, "cost"), 0.0038), "J2 reported");
  json_t *idle = find_rec(out, "idle:ce-a");
  CHECK(idle && eq(num(idle, "cost"), 0.003), "idle:ce-a corrected to 0.003");
  struct acct_stats st;
  acct_stats(a, &st);
  CHECK(st.late > 0 && st.too_late == 0, "%lld corrections, %lld too late", st.late, st.too_late);
  json_decref(out);
  acct_free(a);
}

static void test_late_reported_with_aggregates(void) {
  TEST("a late attempt that ended before the settled point is reported with the aggregates it changed");
  struct acct *a = acct_new(NULL);
  char why[256];
  for (int i = 0; i < nev; i++)
    if (!is_job(&evs[i], "J2")) CHECK(acct_handle(a, evs[i].type, evs[i].ev, why, sizeof why) == 0, "%s", why);
  acct_settle(a, S(200));
  json_t *out = json_array();
  acct_collect(a, out, 1);
  json_array_clear(out);
  /* J2's events arrive late, and the next publish comes before any settle (its watermark may not
   * be known yet, e.g. a partition not read since a restart): the aggregates it changed are
   * written, and its JOB record must be written with them, in the same transaction as the
   * consumed offsets, or a crash right after loses the record for good */
  for (int i = 0; i < nev; i++)
    if (is_job(&evs[i], "J2")) CHECK(acct_handle(a, evs[i].type, evs[i].ev, why, sizeof why) == 0, "%s", why);
  acct_collect(a, out, 1);
  json_t *q1 = find_rec(out, "queue:q1"), *j2 = find_rec(out, "J2");
  CHECK(q1 && eq(num(q1, "cost"), 0.007), "queue:q1 takes J2 in at once");
  CHECK(j2 && eq(num(j2, "cost"), 0.0038), "J2's JOB record comes with it");
  json_decref(out);
  acct_free(a);
}

static void test_late_and_invalid(void) {
  TEST("a late event within the horizon is exact; one before it is moved to it; invalid events are refused");
  struct acct_conf c;
  acct_conf_defaults(&c);
  c.reopen_ms = 3000;
  struct acct *a = acct_new(&c);
  char why[256];
  json_t *e = inst_ev("i-9", "ce-z", "READY", 0, 2, 2048, 0, "ON_DEMAND", 3.6); /* 0.001/s */
  CHECK(acct_handle(a, BARGE_EV_INSTANCE_EVENT, e, why, sizeof why) == 0, "%s", why);
  json_decref(e);
  acct_settle(a, S(10)); /* the horizon is now 7 s */
  /* a job that started at 8 s, heard of only now: exact */
  e = job_ev("JL", "q", NULL, 1, "RUNNABLE", "STARTING", "i-9", "ce-z", 1, 1024, 0, 8);
  CHECK(acct_handle(a, BARGE_EV_JOB_STATE_CHANGE, e, why, sizeof why) == 0, "%s", why);
  json_decref(e);
  /* one that started at 2 s: before the horizon, counted from 7 s */
  e = job_ev("JT", "q", NULL, 1, "RUNNABLE", "STARTING", "i-9", "ce-z", 1, 1024, 0, 2);
  CHECK(acct_handle(a, BARGE_EV_JOB_STATE_CHANGE, e, why, sizeof why) == 0, "%s", why);
  json_decref(e);
  e = job_ev("JL", "q", NULL, 1, "RUNNING", "SUCCEEDED", NULL, NULL, 1, 1024, 0, 20);
  CHECK(acct_handle(a, BARGE_EV_JOB_STATE_CHANGE, e, why, sizeof why) == 0, "%s", why);
  json_decref(e);
  e = job_ev("JT", "q", NULL, 1, "RUNNING", "SUCCEEDED", NULL, NULL, 1, 1024, 0, 20);
  CHECK(acct_handle(a, BARGE_EV_JOB_STATE_CHANGE, e, why, sizeof why) == 0, "%s", why);
  json_decref(e);
  acct_settle(a, S(30));
  struct acct_stats st;
  acct_stats(a, &st);
  CHECK_INT(st.too_late, 1);
  CHECK_INT(st.late, 1);
  /* [0,7) idle, [7,8) JT, [8,20) JL + JT (equal weights), [20,30) idle */
  check_job(a, "JL", 12, 12, 0, 6, 0.006);
  check_job(a, "JT", 13, 13, 0, 7, 0.007);
  check_agg(a, ACCT_IDLE, "ce-z", 34, 34, 0, 17, 0.017);
  struct acct_totals jobs, idle, inst;
  CHECK(acct_get(a, ACCT_JOB, NULL, &jobs) == 0 && acct_get(a, ACCT_IDLE, NULL, &idle) == 0 &&
            acct_get(a, ACCT__COUNT, NULL, &inst) == 0, "totals");
  CHECK_NEAR(jobs.cost + idle.cost, inst.cost);
  CHECK_NEAR(inst.cost, 0.03);
  e = json_pack("{s:o, s:s}", "header", hdr(), "jobId", "X");
  CHECK(acct_handle(a, BARGE_EV_JOB_STATE_CHANGE, e, why, sizeof why) == -1, "a JobStateChange without times is invalid");
  json_decref(e);
  e = json_pack("{s:s}", "jobId", "X");
  CHECK(acct_handle(a, BARGE_EV_JOB_STATE_CHANGE, e, why, sizeof why) == -1, "an event without event_id is invalid");
  json_decref(e);
  e = inst_ev("i-9", "ce-z", "EXPLODED", 40, 2, 2048, 0, "ON_DEMAND", 0);
  CHECK(acct_handle(a, BARGE_EV_INSTANCE_EVENT, e, why, sizeof why) == -1, "an unknown instance kind is invalid");
  json_decref(e);
  int n = 0;
  acct_foreach(a, ACCT_IDLE, 0, count_cb, &n);
  CHECK_INT(n, 1);
  acct_free(a);
}

static void test_late_attributes(void) {
  TEST("a price and capacity learnt late re-charge the instance's settled time");
  struct acct *a = acct_new(NULL);
  char why[256];
  json_t *e = inst_ev("i-7", "ce-p", "READY", 0, 0, 0, 0, "SPOT", 0); /* an agent: no price */
  CHECK(acct_handle(a, BARGE_EV_INSTANCE_EVENT, e, why, sizeof why) == 0, "%s", why);
  json_decref(e);
  e = job_ev("JP", "q", NULL, 1, "RUNNABLE", "STARTING", "i-7", "ce-p", 2, 1024, 0, 10);
  CHECK(acct_handle(a, BARGE_EV_JOB_STATE_CHANGE, e, why, sizeof why) == 0, "%s", why);
  json_decref(e);
  acct_settle(a, S(20));
  check_job(a, "JP", 20, 10, 0, 10, 0);
  /* the provisioner's LAUNCHING, with the price and the capacity, read late */
  e = inst_ev("i-7", "ce-p", "LAUNCHING", -3, 4, 4096, 0, "SPOT", 0.36);
  CHECK(acct_handle(a, BARGE_EV_INSTANCE_EVENT, e, why, sizeof why) == 0, "%s", why);
  json_decref(e);
  acct_settle(a, S(30));
  check_job(a, "JP", 40, 20, 0, 20, 0.002);
  check_agg(a, ACCT_IDLE, "ce-p", 40, 40, 0, 10, 0.001);
  acct_free(a);
}

static void feed_inst(struct acct *a, const char *kind, double at) {
  char why[256];
  json_t *e = inst_ev("i-h", "ce-h", kind, at, 2, 2048, 0, "ON_DEMAND", 3.6); /* 0.001/s */
  CHECK(acct_handle(a, BARGE_EV_INSTANCE_EVENT, e, why, sizeof why) == 0, "%s", why);
  json_decref(e);
}

static void test_late_lost_between_heartbeats(void) {
  TEST("a LOST read after heartbeats that follow it in time: the heartbeats bring the instance back");
  /* an agent's heartbeats buffered through a broker outage reach the topic after the
   * scheduler's LOST, which lies between them in time: up [0,120), down [120,150), up [150,200) */
  struct acct *a = acct_new(NULL);
  feed_inst(a, "READY", 0);
  feed_inst(a, "HEARTBEAT", 50);
  acct_settle(a, S(60));
  feed_inst(a, "HEARTBEAT", 150);
  feed_inst(a, "HEARTBEAT", 160);
  feed_inst(a, "LOST", 120);
  acct_settle(a, S(200));
  check_agg(a, ACCT_IDLE, "ce-h", 340, 340, 0, 170, 0.17);
  /* a second LOST, later still in time but read last, ends it at 180; a heartbeat at 170 read
   * after it changes nothing (the LOST at 180 is the later event) */
  feed_inst(a, "LOST", 180);
  feed_inst(a, "HEARTBEAT", 170);
  acct_settle(a, S(200));
  check_agg(a, ACCT_IDLE, "ce-h", 300, 300, 0, 150, 0.15);
  /* read in time order, the same events give the same figures */
  struct acct *b = acct_new(NULL);
  feed_inst(b, "READY", 0);
  feed_inst(b, "HEARTBEAT", 50);
  feed_inst(b, "LOST", 120);
  feed_inst(b, "HEARTBEAT", 150);
  feed_inst(b, "HEARTBEAT", 160);
  feed_inst(b, "HEARTBEAT", 170);
  feed_inst(b, "LOST", 180);
  acct_settle(b, S(200));
  check_agg(b, ACCT_IDLE, "ce-h", 300, 300, 0, 150, 0.15);
  acct_free(a);
  acct_free(b);
}

/* An event of i-r (2 vCPU, 2048 MiB, 0.001/s) from agent incarnation inc (0: not an agent's). */
static void feed_inc(struct acct *a, const char *kind, double at, long long inc) {
  char why[256];
  json_t *e = inst_ev("i-r", "ce-r", kind, at, 2, 2048, 0, "ON_DEMAND", 3.6);
  json_object_set_new(e, "incarnation", json_integer(inc));
  CHECK(acct_handle(a, BARGE_EV_INSTANCE_EVENT, e, why, sizeof why) == 0, "%s", why);
  json_decref(e);
}

static void test_agent_restart(void) {
  TEST("an older agent incarnation's TERMINATED, read after the restarted agent's READY, ends nothing");
  /* the agent (incarnation 100) restarts at 10 (200); its earlier process's TERMINATED, stamped
   * 20, is read after the new READY: the instance stays up, J on it [15,35) runs whole. Before,
   * it was down [20,30) until the next beat: 10 s of its life and of J's time were lost */
  struct acct *a = acct_new(NULL);
  char why[256];
  feed_inc(a, "READY", 0, 100);
  feed_inc(a, "READY", 10, 200);
  json_t *e = job_ev("JR", "qr", NULL, 1, "RUNNABLE", "STARTING", "i-r", "ce-r", 2, 2048, 0, 15);
  CHECK(acct_handle(a, BARGE_EV_JOB_STATE_CHANGE, e, why, sizeof why) == 0, "%s", why);
  json_decref(e);
  feed_inc(a, "TERMINATED", 20, 100);
  feed_inc(a, "HEARTBEAT", 30, 200);
  e = job_ev("JR", "qr", NULL, 1, "STARTING", "SUCCEEDED", "i-r", "ce-r", 2, 2048, 0, 35);
  CHECK(acct_handle(a, BARGE_EV_JOB_STATE_CHANGE, e, why, sizeof why) == 0, "%s", why);
  json_decref(e);
  acct_settle(a, S(40));
  check_job(a, "JR", 40, 40, 0, 20, 0.02);
  check_agg(a, ACCT_IDLE, "ce-r", 40, 40, 0, 20, 0.02);
  check_agg(a, ACCT_CE, "ce-r", 40, 40, 0, 40, 0.04); /* jobs' resources, instances' time */
  /* the newest incarnation's own TERMINATED ends it at 50; an older incarnation's beat read
   * after it (a late one from the earlier process) does not bring it back */
  feed_inc(a, "TERMINATED", 50, 200);
  feed_inc(a, "HEARTBEAT", 55, 100);
  acct_settle(a, S(70));
  check_agg(a, ACCT_IDLE, "ce-r", 60, 60, 0, 30, 0.03);
  /* incarnation 0 is unknown, never older: a driver's TERMINATED ends the instance */
  struct acct *b = acct_new(NULL);
  feed_inc(b, "READY", 0, 100);
  feed_inc(b, "READY", 10, 200);
  feed_inc(b, "TERMINATED", 20, 0);
  acct_settle(b, S(40));
  check_agg(b, ACCT_IDLE, "ce-r", 40, 40, 0, 20, 0.02);
  acct_free(a);
  acct_free(b);
}

int main(void) {
  build_events();
  test_figures();
  test_duplicates();
  test_order();
  test_records();
  test_window();
  test_restart();
  test_late_corrections();
  test_late_reported_with_aggregates();
  test_late_and_invalid();
  test_late_attributes();
  test_late_lost_between_heartbeats();
  test_agent_restart();
  test_incremental(); /* sorts evs: last */
  for (int i = 0; i < nev; i++) json_decref(evs[i].ev);
  return check_summary();
}
