/* test_sched_transitions.c: the exhaustive (state, event) table of the job state machine
 * (docs/job-model.md §2.2). Every state a job can rest in, times every event that can reach it,
 * has an expected outcome, including the events that must be ignored or refused.
 *
 * SUBMITTED is never a resting state in Barge: submission evaluates dependencies in the same
 * event (T2/T3), so it is covered by the submit rows (test_sched_rules.c) instead. */
#include "sched_harness.h"

enum st { P, R, S, U, OK, F, ST__COUNT };
static const char *st_names[] = {"PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"};
static const enum job_status st_status[] = {JOB_PENDING, JOB_RUNNABLE, JOB_STARTING, JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED};

enum ev {
  DEP_SUCCEEDED, DEP_FAILED, CAPACITY, STARTED, EXIT0, EXIT1, START_FAIL, TIMEOUT, CANCEL,
  TERMINATE, KILLED, LOST, STALE, TICK, EV__COUNT
};
static const char *ev_names[] = {"dependency succeeded", "dependency failed", "capacity appears",
                                 "process started", "exit 0", "exit 1 (attempts left)",
                                 "failed to start", "timed out", "CancelJob", "TerminateJob",
                                 "killed report", "instance lost", "stale report", "tick"};

/* expected[state][event] */
static const enum job_status expected[ST__COUNT][EV__COUNT] = {
    /*            DEP_OK        DEP_FAIL     CAPACITY      STARTED      EXIT0          EXIT1         START_FAIL    TIMEOUT      CANCEL       TERMINATE    KILLED       LOST          STALE         TICK */
    [P] =  {JOB_RUNNABLE, JOB_FAILED,  JOB_PENDING,  JOB_PENDING, JOB_PENDING,   JOB_PENDING,  JOB_PENDING,  JOB_PENDING, JOB_PENDING, JOB_PENDING, JOB_PENDING, JOB_PENDING,  JOB_PENDING,  JOB_PENDING},
    [R] =  {JOB_RUNNABLE, JOB_RUNNABLE, JOB_STARTING, JOB_RUNNABLE, JOB_RUNNABLE, JOB_RUNNABLE, JOB_RUNNABLE, JOB_RUNNABLE, JOB_FAILED, JOB_FAILED,  JOB_RUNNABLE, JOB_RUNNABLE, JOB_RUNNABLE, JOB_RUNNABLE},
    [S] =  {JOB_STARTING, JOB_STARTING, JOB_STARTING, JOB_RUNNING, JOB_SUCCEEDED, JOB_STARTING, JOB_STARTING, JOB_FAILED,  JOB_STARTING, JOB_STARTING, JOB_FAILED, JOB_RUNNABLE, JOB_STARTING, JOB_STARTING},
    [U] =  {JOB_RUNNING,  JOB_RUNNING,  JOB_RUNNING,  JOB_RUNNING, JOB_SUCCEEDED, JOB_STARTING, JOB_STARTING, JOB_FAILED,  JOB_RUNNING, JOB_RUNNING, JOB_FAILED,  JOB_RUNNABLE, JOB_RUNNING,  JOB_RUNNING},
    [OK] = {JOB_SUCCEEDED, JOB_SUCCEEDED, JOB_SUCCEEDED, JOB_SUCCEEDED, JOB_SUCCEEDED, JOB_SUCCEEDED, JOB_SUCCEEDED, JOB_SUCCEEDED, JOB_SUCCEEDED, JOB_SUCCEEDED, JOB_SUCCEEDED, JOB_SUCCEEDED, JOB_SUCCEEDED, JOB_SUCCEEDED},
    [F] =  {JOB_FAILED,   JOB_FAILED,   JOB_FAILED,   JOB_FAILED,  JOB_FAILED,    JOB_FAILED,   JOB_FAILED,   JOB_FAILED,  JOB_FAILED,  JOB_FAILED,  JOB_FAILED,  JOB_FAILED,   JOB_FAILED,   JOB_FAILED},
};

/* expected_attempt[state][event]: the job's attempt number afterwards (0: never placed). A
 * retry that places the job again shows as STARTING with attempt 2, so an ignored event cannot
 * pass for a transition that happens to end in the same status. */
static const int expected_attempt[ST__COUNT][EV__COUNT] = {
    /*     DEP_OK DEP_FAIL CAPACITY STARTED EXIT0 EXIT1 START_FAIL TIMEOUT CANCEL TERMINATE KILLED LOST STALE TICK */
    [P] =  {0,    0,       0,       0,      0,    0,    0,         0,      0,     0,        0,     0,   0,    0},
    [R] =  {0,    0,       1,       0,      0,    0,    0,         0,      0,     0,        0,     0,   0,    0},
    [S] =  {1,    1,       1,       1,      1,    2,    2,         1,      1,     1,        1,     1,   1,    1},
    [U] =  {1,    1,       1,       1,      1,    2,    2,         1,      1,     1,        1,     1,   1,    1},
    [OK] = {1,    1,       1,       1,      1,    1,    1,         1,      1,     1,        1,     1,   1,    1},
    [F] =  {0,    0,       0,       0,      0,    0,    0,         0,      0,     0,        0,     0,   0,    0},
};

/* The job's current attempt number, from its barge.jobs record; -1 when there is no such job. */
static int h_attempt(struct h *h, const char *id) {
  uint32_t j = sched_find_job(h->s, id);
  if (j == SCHED_NONE) return -1;
  json_t *r = sched_job_record(h->s, j, "test", h->t);
  int a = (int)json_integer_value(json_object_get(r, "attempt"));
  json_decref(r);
  return a;
}

/* A world: CE "ce" (queue q) for the job under test x, CE "ced" (queue qd) with instance i-d
 * for its dependency d, which is STARTING when x is built in PENDING. */
static void build(struct h *h, enum st st) {
  h_init(h);
  h_ce(h, "ce", 0, 0);
  h_ce(h, "ced", 0, 0);
  h_queue(h, "q", 10, NULL, "ce", NULL);
  h_queue(h, "qd", 10, NULL, "ced", NULL);
  h_jd(h, "jd", 1, 1, 64, "{\"retryStrategy\": {\"attempts\": 2}}");
  h_instance(h, "i-d", "ced", "READY", 1, 256);
  h_submit(h, "d", "qd", "jd", "{\"retryStrategy\": {\"attempts\": 1}}");
  h->t += 1000;
  switch (st) {
  case P:
    h_submit(h, "x", "q", "jd", "{\"dependsOn\": [{\"jobId\": \"d\"}]}");
    break;
  case R:
    h_submit(h, "x", "q", "jd", NULL);
    break;
  case S:
  case U:
  case OK:
    h_instance(h, "i-x", "ce", "READY", 2, 256);
    h_submit(h, "x", "q", "jd", NULL);
    if (st >= U) h_exec(h, "x", 1, "i-x", "STARTED", -9999, NULL);
    if (st == OK) h_exec(h, "x", 1, "i-x", "EXITED", 0, NULL);
    break;
  case F:
    h_submit(h, "x", "q", "jd", NULL);
    h_stop(h, "CancelJob", "x", "setup");
    break;
  case ST__COUNT:
    break;
  }
  h->t += 1000;
}

static void apply(struct h *h, enum ev ev) {
  switch (ev) {
  case DEP_SUCCEEDED:
    h_exec(h, "d", 1, "i-d", "STARTED", -9999, NULL);
    h_exec(h, "d", 1, "i-d", "EXITED", 0, NULL);
    break;
  case DEP_FAILED:
    h_exec(h, "d", 1, "i-d", "STARTED", -9999, NULL);
    h_exec(h, "d", 1, "i-d", "EXITED", 1, NULL);
    break;
  case CAPACITY: h_instance(h, "i-new", "ce", "READY", 4, 1024); break;
  case STARTED: h_exec(h, "x", 1, "i-x", "STARTED", -9999, NULL); break;
  case EXIT0: h_exec(h, "x", 1, "i-x", "EXITED", 0, NULL); break;
  case EXIT1: h_exec(h, "x", 1, "i-x", "EXITED", 1, NULL); break;
  case START_FAIL: h_exec(h, "x", 1, "i-x", "FAILED_TO_START", -9999, "CannotStartContainerError: boom"); break;
  case TIMEOUT: h_exec(h, "x", 1, "i-x", "TIMED_OUT", 143, NULL); break;
  case CANCEL: h_stop(h, "CancelJob", "x", "by test"); break;
  case TERMINATE: h_stop(h, "TerminateJob", "x", "by test"); break;
  case KILLED:
    /* a terminate is in flight, then the agent reports the kill */
    h_stop(h, "TerminateJob", "x", "by test");
    h_exec(h, "x", 1, "i-x", "KILLED", 143, "by test");
    break;
  case LOST: h_instance(h, "i-x", "ce", "TERMINATED", 2, 256); break;
  case STALE: h_exec(h, "x", 7, "i-x", "EXITED", 0, NULL); break;
  case TICK: h->t += 5000; h_tick(h); break;
  case EV__COUNT: break;
  }
}

int main(void) {
  TEST("the (state, event) table of the job state machine");
  int rows = 0;
  for (int st = 0; st < ST__COUNT; st++) {
    struct h h;
    build(&h, (enum st)st);
    CHECK(h_status(&h, "x") == st_status[st], "setup of %s gave %s", st_names[st], job_status_name(h_status(&h, "x")));
    CHECK(h_attempt(&h, "x") == (st >= S && st <= OK ? 1 : 0), "setup of %s gave attempt %d", st_names[st], h_attempt(&h, "x"));
    h_release(&h);
    for (int ev = 0; ev < EV__COUNT; ev++) {
      build(&h, (enum st)st);
      apply(&h, (enum ev)ev);
      enum job_status got = h_status(&h, "x");
      /* KILLED on a job that was never started: the terminate alone decides */
      enum job_status want = expected[st][ev];
      if (ev == KILLED && (st == P || st == R)) want = st == P ? JOB_PENDING : JOB_FAILED;
      CHECK(got == want, "%s + %s -> %s, expected %s", st_names[st], ev_names[ev], job_status_name(got), job_status_name(want));
      int attempt = h_attempt(&h, "x");
      CHECK(attempt == expected_attempt[st][ev], "%s + %s -> attempt %d, expected %d", st_names[st], ev_names[ev],
            attempt, expected_attempt[st][ev]);
      rows++;
      h_release(&h);
    }
  }
  printf("   %d (state, event) pairs checked\n", rows);

  TEST("terminate of a STARTING/RUNNING job sends a kill and ends FAILED isTerminated only on the report");
  {
    struct h h;
    build(&h, U);
    int kills = h.outputs[OUT_KILL];
    h_stop(&h, "TerminateJob", "x", "stop it");
    CHECK(h.outputs[OUT_KILL] == kills + 1, "a KillRequest is sent");
    CHECK_STATUS(&h, "x", JOB_RUNNING);
    h_exec(&h, "x", 1, "i-x", "EXITED", 143, NULL);
    CHECK_STATUS(&h, "x", JOB_FAILED);
    char r[256];
    CHECK_STR(h_reason(&h, "x", r, sizeof r), "Terminated: stop it");
    json_t *d = h_detail(&h, "x");
    CHECK(json_is_true(json_object_get(d, "isTerminated")), "isTerminated");
    json_decref(d);
    h_release(&h);
  }

  TEST("a retried job re-enters with attempt 2 and keeps the first attempt in attempts[]");
  {
    struct h h;
    build(&h, U);
    h_exec(&h, "x", 1, "i-x", "EXITED", 1, NULL);
    json_t *d = h_detail(&h, "x");
    CHECK_INT(json_array_size(json_object_get(d, "attempts")), 1);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(json_array_get(json_object_get(d, "attempts"), 0), "container"), "exitCode")), 1);
    json_decref(d);
    h_exec(&h, "x", 2, "i-x", "STARTED", -9999, NULL);
    h_exec(&h, "x", 2, "i-x", "EXITED", 1, NULL);
    CHECK_STATUS(&h, "x", JOB_FAILED); /* attempts 2 used up */
    d = h_detail(&h, "x");
    CHECK_INT(json_array_size(json_object_get(d, "attempts")), 2);
    json_decref(d);
    h_release(&h);
  }
  TEST("an end report carrying startedAt stands for STARTED and the end: the same transitions, detail and last record as the two reports");
  {
    struct h two, one;
    build(&two, S);
    build(&one, S);
    two.log = json_array();
    one.log = json_array();
    h_exec(&two, "x", 1, "i-x", "STARTED", -9999, NULL);
    h_exec(&two, "x", 1, "i-x", "EXITED", 0, NULL);
    json_t *ev = json_pack("{s:o, s:s, s:i, s:s, s:s, s:i, s:I, s:I}", "header", h_header(one.t), "jobId", "x",
                           "attempt", 1, "instanceId", "i-x", "kind", "EXITED", "exitCode", 0, "at",
                           (json_int_t)one.t, "startedAt", (json_int_t)one.t);
    h_feed(&one, BARGE_EV_EXECUTION_REPORT, ev);
    CHECK_STATUS(&one, "x", JOB_SUCCEEDED);
    json_t *changes[2] = {json_array(), json_array()}, *last[2] = {NULL, NULL};
    json_t *logs[2] = {two.log, one.log};
    for (int k = 0; k < 2; k++)
      for (size_t i = 0; i < json_array_size(logs[k]); i++) {
        json_t *o = json_array_get(logs[k], i);
        json_int_t kind = json_integer_value(json_object_get(o, "kind"));
        if (kind == OUT_STATE_CHANGE) json_array_append(changes[k], json_object_get(o, "value"));
        if (kind == OUT_JOB_RECORD) last[k] = json_object_get(o, "value");
      }
    CHECK_INT(json_array_size(changes[1]), 2);
    CHECK(json_equal(changes[0], changes[1]), "STARTING -> RUNNING -> SUCCEEDED, as from the two reports");
    CHECK(last[0] && last[1] && json_equal(last[0], last[1]), "the job's last record is the same");
    json_t *d1 = h_detail(&two, "x"), *d2 = h_detail(&one, "x");
    CHECK(json_equal(d1, d2), "the same JobDetail (startedAt, stoppedAt, attempts)");
    CHECK(json_is_integer(json_object_get(d2, "startedAt")), "startedAt set");
    json_decref(d1);
    json_decref(d2);
    json_decref(changes[0]);
    json_decref(changes[1]);
    h_release(&two);
    h_release(&one);
  }

  TEST("FAILED_TO_START carrying startedAt still never ran: STARTING -> FAILED without RUNNING");
  {
    struct h h;
    build(&h, S);
    json_t *ev = json_pack("{s:o, s:s, s:i, s:s, s:s, s:s, s:I, s:I}", "header", h_header(h.t), "jobId", "x",
                           "attempt", 1, "instanceId", "i-x", "kind", "FAILED_TO_START", "reason",
                           "CannotStartContainerError: boom", "at", (json_int_t)h.t, "startedAt", (json_int_t)h.t);
    h_feed(&h, BARGE_EV_EXECUTION_REPORT, ev);
    json_t *d = h_detail(&h, "x");
    CHECK(!json_object_get(d, "startedAt"), "no startedAt");
    json_decref(d);
    h_release(&h);
  }
  return check_summary();
}
