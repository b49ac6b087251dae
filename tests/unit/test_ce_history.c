/* test_ce_history.c: the compute environments' desired and actual vCPUs over time
 * (consumers/views/ce_history.c), the dashboard chart's points: a point only where a figure
 * changes, heartbeats add none, instances counted from launch to their end (TERMINATED, LOST,
 * LAUNCH_FAILED) in their own CE, events of two topics arriving out of time order, the window's
 * first point, and the cap on points. */
#include <stdio.h>
#include <string.h>

#include "ce_history.h"
#include "check.h"

static json_t *scaling(const char *ce, int to, int64_t at) {
  return json_pack("{s:s, s:i, s:i, s:s, s:I}", "computeEnvironment", ce, "toDesiredvCpus", to, "fromDesiredvCpus", 0,
                   "reason", "RUNNABLE_DEMAND", "at", (json_int_t)at);
}

static json_t *inst(const char *id, const char *ce, const char *kind, int vcpus, int64_t at) {
  return json_pack("{s:s, s:s, s:s, s:i, s:I}", "instanceId", id, "computeEnvironment", ce, "kind", kind, "vcpus", vcpus,
                   "at", (json_int_t)at);
}

static void fold(struct ce_history *h, json_t *ev, int is_scaling) {
  if (is_scaling) ce_history_fold_scaling(h, ev);
  else ce_history_fold_instance(h, ev);
  json_decref(ev);
}

/* The series as "at:v at:v ..." for comparison. */
static void text_of(const json_t *pts, char *out, size_t n) {
  size_t i, used = 0;
  json_t *p;
  out[0] = 0;
  json_array_foreach(pts, i, p) used += (size_t)snprintf(out + used, n - used, "%s%lld:%lld", i ? " " : "",
                                                         (long long)json_integer_value(json_array_get(p, 0)),
                                                         (long long)json_integer_value(json_array_get(p, 1)));
}

static void test_series(void) {
  TEST("desired from decisions, actual from instance events, a point per change");
  struct ce_history *h = ce_history_new();
  fold(h, scaling("m1", 0, 1000), 1);
  fold(h, scaling("m1", 4, 2000), 1);
  fold(h, scaling("m1", 4, 3000), 1); /* a heartbeat: same figure */
  fold(h, inst("i-1", "m1", "LAUNCHING", 2, 2100), 0);
  fold(h, inst("i-2", "m1", "LAUNCHING", 2, 2100), 0);
  fold(h, inst("i-1", "m1", "READY", 2, 2500), 0); /* still 2: no point */
  fold(h, inst("i-1", "m1", "HEARTBEAT", 2, 2600), 0);
  fold(h, inst("i-3", "other", "READY", 8, 2700), 0);
  fold(h, inst("i-2", "m1", "LAUNCH_FAILED", 2, 2800), 0);
  fold(h, scaling("m1", 0, 5000), 1);
  fold(h, inst("i-1", "m1", "TERMINATED", 2, 6000), 0);
  fold(h, inst("i-1", "m1", "TERMINATED", 2, 6100), 0); /* again: nothing */
  fold(h, inst("i-9", "m1", "TERMINATED", 2, 6200), 0); /* never seen up: nothing */
  json_t *j = ce_history_json(h, "m1", 0);
  char d[256], a[256];
  text_of(json_object_get(j, "desired"), d, sizeof d);
  text_of(json_object_get(j, "actual"), a, sizeof a);
  CHECK_STR(d, "1000:0 2000:4 5000:0");
  CHECK_STR(a, "2100:2 2100:4 2800:2 6000:0");
  json_decref(j);
  j = ce_history_json(h, "other", 0);
  text_of(json_object_get(j, "actual"), a, sizeof a);
  CHECK_STR(a, "2700:8");
  json_decref(j);
  j = ce_history_json(h, "m1", 2900);
  text_of(json_object_get(j, "desired"), d, sizeof d);
  CHECK(!strcmp(d, "2000:4 5000:0"), "since 2900: the point the line starts from, then the later ones (%s)", d);
  json_decref(j);
  j = ce_history_json(h, "nobody", 0);
  CHECK(json_array_size(json_object_get(j, "desired")) == 0 && json_array_size(json_object_get(j, "actual")) == 0,
        "an unknown CE: empty series");
  json_decref(j);
  ce_history_free(h);
}

static void test_order_and_cap(void) {
  TEST("a decision read after later instance events goes in time order; at most CE_HISTORY_POINTS points");
  struct ce_history *h = ce_history_new();
  fold(h, scaling("m1", 2, 3000), 1);
  fold(h, scaling("m1", 6, 1000), 1); /* older: before the first */
  json_t *j = ce_history_json(h, "m1", 0);
  char d[256];
  text_of(json_object_get(j, "desired"), d, sizeof d);
  CHECK_STR(d, "1000:6 3000:2");
  json_decref(j);
  for (int i = 0; i < CE_HISTORY_POINTS + 50; i++) fold(h, scaling("m1", i % 2 ? 8 : 16, 10000 + i), 1);
  j = ce_history_json(h, "m1", 0);
  json_t *pts = json_object_get(j, "desired");
  CHECK_INT(json_array_size(pts), CE_HISTORY_POINTS);
  CHECK(json_integer_value(json_array_get(json_array_get(pts, json_array_size(pts) - 1), 0)) == 10000 + CE_HISTORY_POINTS + 49,
        "the newest point is kept, the oldest dropped");
  json_decref(j);
  ce_history_free(h);
}

int main(void) {
  test_series();
  test_order_and_cap();
  return check_summary();
}
