/* test_check.c: the invariant checker's pure core (consumers/check/) on a small clean history,
 * then on doctored copies of it: each invariant has a history that breaks it, and the checker
 * must name that violation (and nothing else). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "check_core.h"

/* What to doctor in the clean history. */
enum doctor {
  CLEAN,
  TWO_TERMINALS,    /* B fails after it succeeded */
  LIVE_JOB,         /* C never leaves RUNNABLE */
  UNKNOWN_JOB,      /* an event for a job never submitted */
  ATTEMPT_GAP,      /* A's second attempt is numbered 3 */
  ATTEMPT_TWICE,    /* A's first attempt starts twice */
  NO_PLACEMENT,     /* B's attempt has no Placement */
  EXEC_OVERLAP,     /* A's first process reported ending after its second started */
  LOST_IN_BOUND,    /* A's first attempt lost; its cut-off copy stops inside the bound (clean) */
  LOST_BEYOND,      /* ... and beyond it */
  TWO_COPIES,       /* A's second attempt started by two agent incarnations */
  FOLDED,           /* B's STARTED folded into its EXITED report (startedAt) (clean) */
  FOLDED_COPIES,    /* A's second attempt also started by another incarnation, said by a folded report */
  SCHED_OVERLAP,    /* A's second attempt starts before its first ended */
  OVER_CAPACITY,    /* A asks 7 vCPUs beside P:0's 2 on an 8-vCPU instance */
  OVER_MEMORY,      /* ... 7,500 MiB beside 1,024 of 8,192 */
  DEP_EARLY,        /* B starts before A succeeded */
  DEP_FAILED,       /* B starts though A failed */
  SEQ_EARLY,        /* P:1 starts before P:0 succeeded (SEQUENTIAL) */
  N2N_EARLY,        /* Q:0 (N_TO_N on P) starts before P:0 succeeded */
  SUMMARY_WRONG,    /* P's statusSummary is off */
  PARENT_EARLY,     /* P SUCCEEDED before its last child did */
  ACCT_INSTANCE,    /* ce:local's instance-seconds off by 0.5 s */
  ACCT_JOBS,        /* a job's instance-seconds off by 2 ms */
  ACCT_WITHIN,      /* ... off by 0.4 ms: within the millisecond (clean) */
  MULTINODE,        /* M, a multi-node job: its parent runs on no instance, its nodes M#0, M#1 do (clean) */
  NODE_ORPHAN,      /* ... and N#0, a node whose parent was never submitted */
  NO_INST_EVENTS,   /* D runs on i-2, which has no InstanceEvent: up while D runs, as accounting counts it (clean) */
  EARLY_START,      /* E starts on i-3 before i-3's READY: up from E's start, as accounting counts it (clean) */
  AGENT_RESTART,    /* i-1's agent restarts; its old incarnation's TERMINATED is read after the new READY (clean) */
};

static struct check *chk;
static enum doctor doc;

static void add(const char *type, json_t *ev) {
  static const struct {
    const char *name;
    enum barge_ev_type t;
  } types[] = {{"req", BARGE_EV_JOB_REQUEST}, {"ev", BARGE_EV_JOB_STATE_CHANGE}, {"rec", BARGE_EV_JOB_RECORD},
               {"ex", BARGE_EV_EXECUTION_REPORT}, {"pl", BARGE_EV_AGENT_COMMAND}, {"inst", BARGE_EV_INSTANCE_EVENT},
               {"use", BARGE_EV_USAGE_RECORD}};
  char why[256] = "";
  for (size_t i = 0; i < sizeof types / sizeof *types; i++)
    if (!strcmp(types[i].name, type)) {
      int r = check_add(chk, types[i].t, ev, why, sizeof why);
      CHECK(r == 0, "%s refused: %s", type, why);
    }
  json_decref(ev);
}

static void submit(const char *id, int size, json_t *deps) {
  json_t *s = json_pack("{s:s, s:s, s:s, s:s, s:o}", "jobId", id, "jobName", id, "jobQueue", "q", "jobDefinition",
                        "jd", "dependsOn", deps ? deps : json_array());
  if (size) json_object_set_new(s, "arrayProperties", json_pack("{s:i}", "size", size));
  add("req", json_pack("{s:{s:o}}", "body", "SubmitJob", s));
}

/* A state change; inst NULL for none. */
static void ev(const char *id, const char *from, const char *to, int attempt, long long at, const char *inst,
               int vcpus, int mem, const char *reason) {
  json_t *e = json_pack("{s:s, s:s, s:s, s:i, s:I, s:i, s:i}", "jobId", id, "oldStatus", from, "newStatus", to,
                        "attempt", attempt, "at", (json_int_t)at, "vcpus", vcpus, "memoryMib", mem);
  if (inst) json_object_set_new(e, "instanceId", json_string(inst));
  if (reason) json_object_set_new(e, "statusReason", json_string(reason));
  add("ev", e);
}

static void ex(const char *id, int attempt, const char *kind, long long at, long long inc) {
  add("ex", json_pack("{s:s, s:i, s:s, s:s, s:I, s:I}", "jobId", id, "attempt", attempt, "instanceId", "i-1", "kind",
                      kind, "at", (json_int_t)at, "incarnation", (json_int_t)inc));
}

/* An end report that also says STARTED (its startedAt). */
static void ex_folded(const char *id, int attempt, long long started, long long at, long long inc) {
  add("ex", json_pack("{s:s, s:i, s:s, s:s, s:I, s:I, s:I}", "jobId", id, "attempt", attempt, "instanceId", "i-1",
                      "kind", "EXITED", "at", (json_int_t)at, "incarnation", (json_int_t)inc, "startedAt",
                      (json_int_t)started));
}

static void placed(const char *id, int attempt) {
  add("pl", json_pack("{s:s, s:{s:{s:s, s:i}}}", "instanceId", "i-1", "body", "Placement", "jobId", id, "attempt",
                      attempt));
}

/* One attempt on i-1: placed at t, running at t+100, ended at end (to status to). */
static void attempt(const char *id, int n, long long t, long long end, const char *to, int vcpus, int mem,
                    const char *reason) {
  ev(id, "RUNNABLE", "STARTING", n, t, "i-1", vcpus, mem, NULL);
  if (doc != NO_PLACEMENT || strcmp(id, "B")) placed(id, n);
  ev(id, "STARTING", "RUNNING", n, t + 100, "i-1", vcpus, mem, NULL);
  int folded = doc == FOLDED && !strcmp(id, "B");
  if (!folded) ex(id, n, "STARTED", t + 90, 7);
  ev(id, "RUNNING", to, n, end, "i-1", vcpus, mem, reason);
  if (folded) ex_folded(id, n, t + 90, end - 10, 7);
  else if (!reason || strncmp(reason, "Host EC2", 8)) ex(id, n, "EXITED", end - 10, 7);
}

static void usage_rec(const char *key, const char *kind, double inst_s, long long until) {
  add("use", json_pack("{s:s, s:s, s:s, s:f, s:I, s:I}", "key", key, "kind", kind, "computeEnvironment", "local",
                       "instanceSeconds", inst_s, "from", (json_int_t)1000, "until", (json_int_t)until));
}

static void history(void) {
  /* the instance: 8 vCPUs, 8 GiB, up from 1,000 to 100,000 */
  add("inst", json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:I}", "instanceId", "i-1", "computeEnvironment", "local",
                        "kind", "READY", "vcpus", 8, "memoryMib", 8192, "at", (json_int_t)1000, "incarnation",
                        (json_int_t)(doc == AGENT_RESTART ? 100 : 0)));
  if (doc == AGENT_RESTART) {
    /* the agent restarts at 10,000 (incarnation 200); its earlier process's TERMINATED, stamped
     * 30,000, is read after: it ends nothing (docs/accounting.md "Agent restarts"), so the
     * instance is up 49 s by 50,000 as barge accounting counts it (before: 39 s, a violation) */
    add("inst", json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:I}", "instanceId", "i-1", "computeEnvironment", "local",
                          "kind", "READY", "vcpus", 8, "memoryMib", 8192, "at", (json_int_t)10000, "incarnation",
                          (json_int_t)200));
    add("inst", json_pack("{s:s, s:s, s:s, s:I, s:I}", "instanceId", "i-1", "computeEnvironment", "local", "kind",
                          "TERMINATED", "at", (json_int_t)30000, "incarnation", (json_int_t)100));
    add("inst", json_pack("{s:s, s:s, s:s, s:I, s:I}", "instanceId", "i-1", "computeEnvironment", "local", "kind",
                          "HEARTBEAT", "at", (json_int_t)40000, "incarnation", (json_int_t)200));
    /* and an instance no job ever ran on, up 2 s in its own CE (its attempts' list is empty) */
    add("inst", json_pack("{s:s, s:s, s:s, s:I}", "instanceId", "i-4", "computeEnvironment", "other", "kind", "READY",
                          "at", (json_int_t)1000));
    add("inst", json_pack("{s:s, s:s, s:s, s:I}", "instanceId", "i-4", "computeEnvironment", "other", "kind",
                          "TERMINATED", "at", (json_int_t)3000));
    usage_rec("ce:other", "COMPUTE_ENVIRONMENT", 2.0, 50000);
    usage_rec("idle:other", "IDLE", 2.0, 50000);
  }
  add("inst", json_pack("{s:s, s:s, s:s, s:I}", "instanceId", "i-1", "computeEnvironment", "local", "kind",
                        "HEARTBEAT", "at", (json_int_t)20000));
  add("inst", json_pack("{s:s, s:s, s:s, s:I}", "instanceId", "i-1", "computeEnvironment", "local", "kind",
                        "TERMINATED", "at", (json_int_t)100000));
  submit("A", 0, NULL);
  submit("B", 0, json_pack("[{s:s}]", "jobId", "A"));
  submit("P", 2, json_pack("[{s:s}]", "type", "SEQUENTIAL"));
  submit("Q", 2, json_pack("[{s:s, s:s}]", "jobId", "P", "type", "N_TO_N"));
  if (doc == LIVE_JOB) submit("C", 0, NULL);
  /* A: one failed attempt, retried, then success */
  int lost = doc == LOST_IN_BOUND || doc == LOST_BEYOND;
  ev("A", "SUBMITTED", "RUNNABLE", 0, 1100, NULL, 0, 0, NULL);
  int va = doc == OVER_CAPACITY ? 7 : 2, ma = doc == OVER_MEMORY ? 7500 : 1024;
  attempt("A", 1, 1200, 2000, "RUNNABLE", va, ma, lost ? "Host EC2 (instance i-1) terminated." : "Essential container in task exited");
  if (doc == ATTEMPT_TWICE) ev("A", "RUNNABLE", "STARTING", 1, 2050, "i-1", 2, 1024, NULL);
  if (lost) ex("A", 1, "EXITED", doc == LOST_IN_BOUND ? 2000 + 30000 : 2000 + 30001, 6);
  if (doc == EXEC_OVERLAP) ex("A", 1, "KILLED", 2500, 7);
  int a2 = doc == ATTEMPT_GAP ? 3 : 2;
  attempt("A", a2, doc == SCHED_OVERLAP ? 1900 : 2100, 3000, doc == DEP_FAILED ? "FAILED" : "SUCCEEDED", 2, 1024, NULL);
  if (doc == TWO_COPIES) ex("A", a2, "STARTED", 2300, 8);
  if (doc == FOLDED_COPIES) ex_folded("A", a2, 2300, 2400, 8);
  /* B waits for A */
  ev("B", "SUBMITTED", "PENDING", 0, 1100, NULL, 0, 0, NULL);
  long long b0 = doc == DEP_EARLY ? 2500 : 3000;
  ev("B", "PENDING", "RUNNABLE", 0, b0, NULL, 0, 0, NULL);
  attempt("B", 1, b0 + 100, 4000, "SUCCEEDED", 1, 512, NULL);
  if (doc == TWO_TERMINALS) ev("B", "SUCCEEDED", "FAILED", 1, 5000, NULL, 0, 0, NULL);
  /* P: two children in sequence; Q: N_TO_N on P */
  ev("P", "SUBMITTED", "PENDING", 0, 1100, NULL, 0, 0, NULL);
  ev("P:0", "PENDING", "RUNNABLE", 0, 1100, NULL, 0, 0, NULL);
  attempt("P:0", 1, 1200, 1500, "SUCCEEDED", 2, 1024, NULL);
  long long p1 = doc == SEQ_EARLY ? 1300 : 1500;
  ev("P:1", "PENDING", "RUNNABLE", 0, p1, NULL, 0, 0, NULL);
  attempt("P:1", 1, p1 + 100, 1900, "SUCCEEDED", 1, 1024, NULL);
  ev("P", "PENDING", "SUCCEEDED", 0, doc == PARENT_EARLY ? 1800 : 1900, NULL, 0, 0, NULL);
  ev("Q", "SUBMITTED", "PENDING", 0, 1100, NULL, 0, 0, NULL);
  long long q0 = doc == N2N_EARLY ? 1300 : 1500;
  ev("Q:0", "PENDING", "RUNNABLE", 0, q0, NULL, 0, 0, NULL);
  attempt("Q:0", 1, q0 + 10, 2600, "SUCCEEDED", 1, 256, NULL);
  ev("Q:1", "PENDING", "RUNNABLE", 0, 1900, NULL, 0, 0, NULL);
  attempt("Q:1", 1, 4100, 4500, "SUCCEEDED", 1, 256, NULL);
  ev("Q", "PENDING", "SUCCEEDED", 0, 4500, NULL, 0, 0, NULL);
  if (doc == LIVE_JOB) ev("C", "SUBMITTED", "RUNNABLE", 0, 1100, NULL, 0, 0, NULL);
  if (doc == UNKNOWN_JOB) ev("Z", "SUBMITTED", "RUNNABLE", 0, 1100, NULL, 0, 0, NULL);
  if (doc == MULTINODE || doc == NODE_ORPHAN) {
    /* docs/job-model.md §11: one SubmitJob, the parent's; the nodes have no SUBMITTED event */
    submit("M", 0, NULL);
    ev("M", "SUBMITTED", "RUNNABLE", 0, 5000, NULL, 1, 512, NULL);
    ev("M", "RUNNABLE", "STARTING", 1, 5100, NULL, 1, 512, NULL);
    ev("M#0", "PENDING", "STARTING", 1, 5100, "i-1", 1, 512, NULL);
    placed("M#0", 1);
    ev("M#1", "PENDING", "STARTING", 1, 5100, "i-1", 1, 512, NULL);
    placed("M#1", 1);
    ev("M#0", "STARTING", "RUNNING", 1, 5200, "i-1", 1, 512, NULL);
    ev("M#1", "STARTING", "RUNNING", 1, 5200, "i-1", 1, 512, NULL);
    ev("M", "STARTING", "RUNNING", 1, 5200, NULL, 1, 512, NULL);
    ev("M#0", "RUNNING", "SUCCEEDED", 1, 6000, NULL, 1, 512, "Essential container in task exited");
    ev("M", "RUNNING", "SUCCEEDED", 1, 6000, NULL, 1, 512, "Essential container in task exited");
    ev("M#1", "RUNNING", "FAILED", 1, 6000, NULL, 1, 512, "The main node (M#0) of the multi-node job ended");
  }
  if (doc == NODE_ORPHAN) {
    ev("N#0", "PENDING", "STARTING", 1, 5100, "i-1", 1, 512, NULL);
    placed("N#0", 1);
  }
  if (doc == NO_INST_EVENTS || doc == EARLY_START) {
    /* an instance whose events were compacted away (or never written), or whose READY is
     * stamped after the job's start: docs/accounting.md counts it up while a job runs on it */
    const char *id = doc == NO_INST_EVENTS ? "D" : "E", *inst = doc == NO_INST_EVENTS ? "i-2" : "i-3";
    if (doc == EARLY_START) {
      add("inst", json_pack("{s:s, s:s, s:s, s:i, s:i, s:I}", "instanceId", inst, "computeEnvironment", "local",
                            "kind", "READY", "vcpus", 8, "memoryMib", 8192, "at", (json_int_t)7000));
      add("inst", json_pack("{s:s, s:s, s:s, s:I}", "instanceId", inst, "computeEnvironment", "local", "kind",
                            "TERMINATED", "at", (json_int_t)9000));
    }
    submit(id, 0, NULL);
    ev(id, "SUBMITTED", "RUNNABLE", 0, 5900, NULL, 0, 0, NULL);
    const char *st[][2] = {{"RUNNABLE", "STARTING"}, {"STARTING", "RUNNING"}, {"RUNNING", "SUCCEEDED"}};
    long long at[] = {6000, 6100, 8000};
    for (int k = 0; k < 3; k++) {
      add("ev", json_pack("{s:s, s:s, s:s, s:i, s:I, s:i, s:i, s:s, s:s}", "jobId", id, "oldStatus", st[k][0],
                          "newStatus", st[k][1], "attempt", 1, "at", (json_int_t)at[k], "vcpus", 1, "memoryMib", 512,
                          "instanceId", inst, "computeEnvironment", "local"));
      if (!k)
        add("pl", json_pack("{s:s, s:{s:{s:s, s:i}}}", "instanceId", inst, "body", "Placement", "jobId", id,
                            "attempt", 1));
    }
  }
  /* the parents' records */
  json_t *sum = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "SUBMITTED", 0, "PENDING", 0, "RUNNABLE", 0,
                          "STARTING", 0, "RUNNING", doc == SUMMARY_WRONG ? 1 : 0, "SUCCEEDED",
                          doc == SUMMARY_WRONG ? 1 : 2, "FAILED", 0);
  add("rec", json_pack("{s:{s:s, s:s, s:{s:i, s:O}}}", "detail", "jobId", "P", "status", "SUCCEEDED",
                       "arrayProperties", "size", 2, "statusSummary", sum));
  json_decref(sum);
  /* usage until 50,000: the instance was up 49 s; jobs' shares and idle add up to it */
  /* ... and what barge accounting makes of D or E on their own instance: D's 2 s (6,000 to
   * 8,000); E's 2 s, and i-3 idle from E's end to its TERMINATED (1 s) */
  double extra = doc == NO_INST_EVENTS ? 2.0 : doc == EARLY_START ? 3.0 : 0;
  usage_rec("ce:local", "COMPUTE_ENVIRONMENT", (doc == ACCT_INSTANCE ? 49.5 : 49.0) + extra, 50000);
  if (extra) usage_rec(doc == NO_INST_EVENTS ? "D" : "E", "JOB", 2.0, 8000);
  double a_s = 1.5 + (doc == ACCT_JOBS ? 0.002 : doc == ACCT_WITHIN ? 0.0004 : 0);
  usage_rec("A", "JOB", a_s, 3000);
  usage_rec("B", "JOB", 0.9, 4000);
  usage_rec("P:0", "JOB", 0.2, 1500);
  usage_rec("idle:local", "IDLE", 49.0 - 1.5 - 0.9 - 0.2 + (doc == EARLY_START ? 1.0 : 0), 50000);
}

/* Runs the doctored history; expects exactly the violations of kind want (none when NULL). */
static void run(enum doctor d, const char *label, const char *want, int require_terminal) {
  TEST(label);
  doc = d;
  struct check_conf cc;
  check_conf_defaults(&cc);
  cc.require_terminal = require_terminal;
  chk = check_new(&cc);
  history();
  long long n = -1;
  json_t *rep = check_finish(chk, &n);
  json_t *counts = json_object_get(rep, "counts");
  if (!want) {
    CHECK(n == 0, "%s: %lld violation(s): %s", label, n, json_dumps(json_object_get(rep, "violations"), 0));
  } else {
    long long have = json_integer_value(json_object_get(counts, want));
    CHECK(have >= 1 && have == n, "%s: want %s, got %lld violation(s): %s", label, want, n,
          json_dumps(json_object_get(rep, "violations"), 0));
  }
  if (d == LIVE_JOB) {
    json_t *live = json_object_get(rep, "live");
    CHECK(json_array_size(live) == 1, "one live job");
    CHECK_STR(json_string_value(json_object_get(json_array_get(live, 0), "status")), "RUNNABLE");
  }
  CHECK(json_is_true(json_object_get(rep, "ok")) == (n == 0), "ok says it");
  json_decref(rep);
  check_free(chk);
}

int main(void) {
  run(CLEAN, "the clean history passes", NULL, 1);
  run(TWO_TERMINALS, "two terminal states", "terminal", 0);
  run(LIVE_JOB, "a live job is listed, not a violation", NULL, 0);
  run(LIVE_JOB, "a live job with --require-terminal", "terminal", 1);
  run(UNKNOWN_JOB, "an event for a job never submitted", "unknown-job", 0);
  run(ATTEMPT_GAP, "attempt numbers with a gap", "attempts", 1);
  run(ATTEMPT_TWICE, "an attempt started twice", "attempts", 1);
  run(NO_PLACEMENT, "an attempt without its placement", "attempts", 1);
  run(EXEC_OVERLAP, "a process outliving its attempt into the next", "overlap", 1);
  run(LOST_IN_BOUND, "a lost attempt's copy stopping within lost-after", NULL, 1);
  run(LOST_BEYOND, "a lost attempt's copy beyond lost-after", "overlap", 1);
  run(TWO_COPIES, "one attempt started by two incarnations", "overlap", 1);
  run(FOLDED, "a STARTED folded into the end report counts as the start", NULL, 1);
  run(FOLDED_COPIES, "a second start said by a folded report", "overlap", 1);
  run(SCHED_OVERLAP, "an attempt placed before the previous ended", "overlap", 1);
  run(OVER_CAPACITY, "vCPUs beyond the instance", "capacity", 1);
  run(OVER_MEMORY, "memory beyond the instance", "capacity", 1);
  run(DEP_EARLY, "a dependant started before its dependency succeeded", "dependency", 1);
  run(DEP_FAILED, "a dependant started though its dependency failed", "dependency", 1);
  run(SEQ_EARLY, "SEQUENTIAL: child 1 before child 0 succeeded", "dependency", 1);
  run(N2N_EARLY, "N_TO_N: child 0 before its peer succeeded", "dependency", 1);
  run(SUMMARY_WRONG, "a parent's statusSummary off", "array-summary", 1);
  run(PARENT_EARLY, "a parent SUCCEEDED before its last child", "array-summary", 1);
  run(ACCT_INSTANCE, "usage's instance time off by 0.5 s", "accounting", 1);
  run(ACCT_JOBS, "jobs + idle off by 2 ms", "accounting", 1);
  run(ACCT_WITHIN, "jobs + idle off by 0.4 ms (within the millisecond)", NULL, 1);
  run(MULTINODE, "a multi-node job: nodes submitted with their parent, the parent placed nowhere", NULL, 1);
  run(NODE_ORPHAN, "a node of a multi-node job never submitted", "unknown-job", 1);
  run(NO_INST_EVENTS, "a job on an instance without InstanceEvents: up while the job runs", NULL, 1);
  run(EARLY_START, "a job started before its instance's READY: up from its start", NULL, 1);
  run(AGENT_RESTART, "an older agent incarnation's TERMINATED read after the new READY ends nothing", NULL, 1);
  return check_summary();
}
