/* test_job_at.c: a job as it was at each transition (consumers/views/job_at.c, what `barge
 * watch` prints): a retried job's final record, the only one a reader of the compacted
 * barge.jobs may get, turned back into its state at every earlier transition; the order of
 * records and transitions; the container's stored members expanded (no storedJson). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "job_at.h"
#include "jsonget.h"

#define T0 1700000000000LL
#define ARN(x) "arn:aws:ecs:us-east-1:000000000000:" x

/* The final record of a job that failed its first attempt (exit 1, started T0+3, ended T0+5)
 * and succeeded at its second (started T0+8, ended T0+9). */
static json_t *final_record(void) {
  return json_pack(
      "{s:I, s:i, s:{s:s, s:s, s:s, s:s, s:[{s:{s:s, s:s, s:i, s:s}, s:I, s:I, s:s}, {s:{s:s, s:s, s:i, s:s}, s:I, s:I, s:s}],"
      " s:I, s:I, s:I, s:{s:s, s:s, s:s, s:s, s:i, s:s}}}",
      "seq", (json_int_t)9, "attempt", 2, "detail", "jobId", "j1", "jobName", "n", "status", "SUCCEEDED",
      "statusReason", "Essential container in task exited", "attempts",
      "container", "containerInstanceArn", ARN("container-instance/i-1"), "taskArn", ARN("task/t1"), "exitCode", 1,
      "logStreamName", "n/default/t1", "startedAt", (json_int_t)(T0 + 3), "stoppedAt", (json_int_t)(T0 + 5),
      "statusReason", "Essential container in task exited",
      "container", "containerInstanceArn", ARN("container-instance/i-2"), "taskArn", ARN("task/t2"), "exitCode", 0,
      "logStreamName", "n/default/t2", "startedAt", (json_int_t)(T0 + 8), "stoppedAt", (json_int_t)(T0 + 9),
      "statusReason", "Essential container in task exited",
      "createdAt", (json_int_t)T0, "startedAt", (json_int_t)(T0 + 8), "stoppedAt", (json_int_t)(T0 + 9),
      "container", "image", "busybox", "containerInstanceArn", ARN("container-instance/i-2"),
      "taskArn", ARN("task/t2"), "logStreamName", "n/default/t2", "exitCode", 0,
      "storedJson", "{\"user\":\"nobody\"}");
}

static json_t *ev(const char *old, const char *new_, int attempt, long long at) {
  return json_pack("{s:s, s:s, s:s, s:i, s:I}", "jobId", "j1", "oldStatus", old, "newStatus", new_,
                   "attempt", attempt, "at", (json_int_t)(T0 + at));
}

static json_t *container(json_t *d) { return json_object_get(d, "container"); }

static void test_retried_from_final_record(void) {
  TEST("a retried job's end record, turned back to each transition");
  json_t *rec = final_record();
  struct { const char *old, *new_; int attempt; long long at; size_t attempts; const char *task; int exit; long long started; } t[] = {
      {"SUBMITTED", "RUNNABLE", 0, 1, 0, NULL, -1, 0},
      {"RUNNABLE", "STARTING", 1, 2, 0, ARN("task/t1"), -1, 0},
      {"STARTING", "RUNNING", 1, 3, 0, ARN("task/t1"), -1, T0 + 3},
      {"RUNNING", "RUNNABLE", 1, 5, 1, ARN("task/t1"), 1, T0 + 3},
      {"RUNNABLE", "STARTING", 2, 7, 1, ARN("task/t2"), -1, T0 + 3},
      {"STARTING", "RUNNING", 2, 8, 1, ARN("task/t2"), -1, T0 + 8},
      {"RUNNING", "SUCCEEDED", 2, 9, 2, ARN("task/t2"), 0, T0 + 8},
  };
  for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
    json_t *e = ev(t[i].old, t[i].new_, t[i].attempt, t[i].at);
    int last = i + 1 == sizeof t / sizeof *t;
    CHECK(job_at_cmp(rec, e) == (last ? 0 : 1), "transition %zu: the record is %s it", i, last ? "at" : "after");
    json_t *d = job_at_detail(rec, e);
    CHECK_STR(jget_str(d, "status"), t[i].new_);
    CHECK(!json_object_get(d, "statusReason"), "transition %zu: the event's (no) reason", i);
    CHECK_INT(json_array_size(json_object_get(d, "attempts")), t[i].attempts);
    CHECK(!json_object_get(d, "stoppedAt") == !last, "transition %zu: stoppedAt only at the end", i);
    CHECK_INT(jget_int(d, "startedAt", 0), t[i].started);
    json_t *c = container(d);
    CHECK(t[i].task ? !strcmp(jget_str(c, "taskArn") ? jget_str(c, "taskArn") : "", t[i].task) : !json_object_get(c, "taskArn"),
          "transition %zu: task %s, got %s", i, t[i].task ? t[i].task : "none", jget_str(c, "taskArn") ? jget_str(c, "taskArn") : "none");
    CHECK_INT(jget_int(c, "exitCode", -1), t[i].exit);
    CHECK(!json_object_get(c, "storedJson") && jget_str(c, "user") && !strcmp(jget_str(c, "user"), "nobody"),
          "transition %zu: stored members expanded, no storedJson", i);
    CHECK_STR(jget_str(c, "image"), "busybox");
    json_decref(d);
    json_decref(e);
  }
  /* the record itself is untouched */
  CHECK_INT(json_array_size(json_object_get(json_object_get(rec, "detail"), "attempts")), 2);
  json_decref(rec);
}

static void test_order(void) {
  TEST("records before, at and after a transition");
  json_t *rec = json_pack("{s:i, s:{s:s}}", "attempt", 0, "detail", "status", "RUNNABLE");
  json_t *e = ev("RUNNABLE", "STARTING", 1, 2);
  CHECK(job_at_cmp(rec, e) < 0, "RUNNABLE before STARTING");
  json_decref(rec);
  rec = json_pack("{s:i, s:{s:s}}", "attempt", 1, "detail", "status", "RUNNABLE"); /* retried */
  CHECK(job_at_cmp(rec, e) > 0, "RUNNABLE after a retry is after the STARTING of attempt 1");
  json_decref(e);
  e = ev("RUNNABLE", "STARTING", 2, 2);
  CHECK(job_at_cmp(rec, e) < 0, "... and before the STARTING of attempt 2");
  json_decref(e);
  e = ev("RUNNING", "RUNNABLE", 1, 2);
  CHECK(job_at_cmp(rec, e) == 0, "... at the retry itself");
  json_decref(e);
  json_decref(rec);
  rec = json_pack("{s:i, s:{s:s, s:[], s:s}}", "attempt", 0, "detail", "status", "RUNNABLE", "attempts",
                  "statusReason", "CAPACITY:x");
  e = ev("SUBMITTED", "RUNNABLE", 0, 1);
  json_t *d = job_at_detail(rec, e);
  CHECK(!json_object_get(d, "statusReason"), "the transition's reason, not a later one of the record");
  json_decref(d);
  json_decref(e);
  json_decref(rec);
}

static void test_folded_start(void) {
  TEST("a start folded into the end: RUNNING from the end record");
  json_t *rec = json_pack("{s:i, s:{s:s, s:[{s:{s:s, s:i}, s:I, s:I}], s:I, s:I, s:{s:s, s:s, s:i}}}",
                          "attempt", 1, "detail", "status", "SUCCEEDED", "attempts", "container", "taskArn",
                          "t1", "exitCode", 0, "startedAt", (json_int_t)(T0 + 3), "stoppedAt", (json_int_t)(T0 + 3),
                          "startedAt", (json_int_t)(T0 + 3), "stoppedAt", (json_int_t)(T0 + 3), "container",
                          "image", "busybox", "taskArn", "t1", "exitCode", 0);
  json_t *e = ev("STARTING", "RUNNING", 1, 3);
  json_t *d = job_at_detail(rec, e);
  CHECK_STR(jget_str(d, "status"), "RUNNING");
  CHECK_INT(json_array_size(json_object_get(d, "attempts")), 0);
  CHECK(!json_object_get(d, "stoppedAt") && jget_int(d, "startedAt", 0) == T0 + 3, "started, not stopped");
  CHECK(!json_object_get(container(d), "exitCode") && jget_str(container(d), "taskArn"),
        "the live attempt's task, no exit code yet");
  json_decref(d);
  json_decref(e);
  json_decref(rec);
}

int main(void) {
  test_retried_from_final_record();
  test_order();
  test_folded_start();
  return check_summary();
}
