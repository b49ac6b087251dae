/* test_explain.c: `barge explain`'s timeline (consumers/views/explain.c) built from what the
 * scheduler core itself wrote for a job (its JobStateChanges, JobWaits and record), plus a
 * provisioner decision inside and one outside the job's window; no Kafka. */
#include "explain.h"
#include "sched_harness.h"

/* The outputs of one kind for one job, from h->log (new reference). */
static json_t *outputs_of(struct h *h, enum out_kind kind, const char *id) {
  json_t *r = json_array();
  size_t i;
  json_t *x;
  json_array_foreach(h->log, i, x) {
    json_t *v = json_object_get(x, "value");
    if (json_integer_value(json_object_get(x, "kind")) == kind && !strcmp(json_string_value(json_object_get(v, "jobId")), id))
      json_array_append(r, v);
  }
  return r;
}

static json_t *timeline_with(struct h *h, const char *id, json_t *scaling, json_t *launch_failures) {
  json_t *changes = outputs_of(h, OUT_STATE_CHANGE, id), *waits = outputs_of(h, OUT_WAIT, id);
  json_t *rec = sched_job_record(h->s, sched_find_job(h->s, id), "test", h->t);
  json_t *ces = json_pack("[s]", "m");
  json_t *launches = launch_failures ? json_incref(launch_failures) : json_array();
  struct explain_input in = {rec, changes, waits, scaling, launches, ces};
  json_t *t = explain_build(&in);
  json_decref(changes);
  json_decref(waits);
  json_decref(rec);
  json_decref(ces);
  json_decref(launches);
  return t;
}

static json_t *timeline_of(struct h *h, const char *id, json_t *scaling) {
  return timeline_with(h, id, scaling, NULL);
}

static int has_text(const json_t *t, const char *kind, const char *needle) {
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(t, "timeline"), i, e)
    if (!strcmp(json_string_value(json_object_get(e, "kind")), kind) && strstr(json_string_value(json_object_get(e, "text")), needle))
      return 1;
  return 0;
}

/* A recording core with the MANAGED CE "m" (maxvCpus 2), queue "q" over it and the job
 * definition jd of jd_vcpus vCPUs. */
static void world(struct h *h, const char *jd, int jd_vcpus) {
  h_init(h);
  h->log = json_array();
  h_ce(h, "m", 1, 2);
  h_queue(h, "q", 1, NULL, "m", NULL);
  h_jd(h, jd, 1, jd_vcpus, 512, NULL);
}

static void test_timeline_of_waiting_job(void) {
  TEST("explain: a job behind a full CE, then placed: its changes, its reason with the instance that lacked room, the scaling decision in its window only, in time order");
  struct h h;
  world(&h, "jd", 2);
  int64_t t0 = h.t;
  h_instance(&h, "i-0", "m", "READY", 2, 4096);
  h_submit(&h, "a", "q", "jd", NULL);
  h.t += 1000;
  h_submit(&h, "b", "q", "jd", NULL);
  h.t += 1000;
  h_instance(&h, "i-0", "m", "HEARTBEAT", 2, 4096);
  h_tick(&h);
  h.t += 1000;
  h_exec(&h, "a", 1, "i-0", "STARTED", -9999, NULL);
  h_exec(&h, "a", 1, "i-0", "EXITED", 0, NULL);
  CHECK_STATUS(&h, "b", JOB_STARTING);
  json_t *scaling = json_pack("[{s:s, s:i, s:i, s:s, s:s, s:[{s:s, s:i, s:s}], s:I}, {s:s, s:i, s:i, s:s, s:s, s:I}]",
                              "computeEnvironment", "m", "fromDesiredvCpus", 2, "toDesiredvCpus", 2, "reason",
                              "MAX_VCPUS_LIMIT", "detail", "1 RUNNABLE job(s) need 2 vCPUs", "launches", "instanceType",
                              "m5.large", "count", 1, "lifecycle", "ON_DEMAND", "at", (json_int_t)(t0 + 1500),
                              "computeEnvironment", "m", "fromDesiredvCpus", 0, "toDesiredvCpus", 2, "reason",
                              "RUNNABLE_DEMAND", "detail", "before b", "at", (json_int_t)(t0 - 5000));
  json_t *t = timeline_of(&h, "b", scaling);
  CHECK_STR(json_string_value(json_object_get(t, "status")), "STARTING");
  CHECK(has_text(t, "submitted", "submitted to job queue"), "the submission");
  CHECK(has_text(t, "state", "SUBMITTED -> RUNNABLE"), "SUBMITTED -> RUNNABLE");
  CHECK(has_text(t, "reason", "not placed: no instance had room for it (WAITING:CAPACITY)"), "the reason, in words");
  CHECK(has_text(t, "reason", "instance i-0 has 0 of 2 vCPUs"), "which instance lacked what");
  CHECK(has_text(t, "state", "placed on instance i-0 of compute environment m (attempt 1): RUNNABLE -> STARTING"), "the placement");
  CHECK(has_text(t, "scaling", "the provisioner kept compute environment m's desired vCPUs at 2 (MAX_VCPUS_LIMIT: 1 RUNNABLE job(s) need 2 vCPUs); launching 1 x m5.large (ON_DEMAND)."),
        "the decision inside the window");
  CHECK(!has_text(t, "scaling", "before b"), "not the decision made before the job existed");
  /* time order */
  int64_t last = 0;
  int ordered = 1;
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(t, "timeline"), i, e) {
    int64_t at = json_integer_value(json_object_get(e, "at"));
    if (at < last) ordered = 0;
    last = at;
  }
  CHECK(ordered, "entries in time order");
  char *text = explain_render(t);
  CHECK(strstr(text, "Job b (job) in queue") && strstr(text, "Now: STARTING"), "the rendering: %s", text);
  free(text);
  json_decref(t);
  json_decref(scaling);
  h_release(&h);
}

static void test_timeline_of_blocked_job(void) {
  TEST("explain: a job too big for maxvCpus names the code and what it needs, and `now` carries its statusReason");
  struct h h;
  world(&h, "big", 8);
  h_submit(&h, "big", "q", "big", NULL);
  json_t *none = json_array();
  json_t *t = timeline_of(&h, "big", none);
  CHECK(has_text(t, "reason", "blocked: it needs more vCPUs than the maxvCpus of every compute environment of its queue (MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE)"),
        "the code in words");
  CHECK(has_text(t, "reason", "the job needs 8 vCPUs; the largest maxvCpus"), "what the job needs against the CE");
  CHECK(strstr(json_string_value(json_object_get(t, "now")), "RUNNABLE - MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE") != NULL,
        "now: %s", json_string_value(json_object_get(t, "now")));
  json_decref(t);
  json_decref(none);
  h_release(&h);
}

static void test_timeline_of_launch_failures(void) {
  TEST("explain: a launch the instance provider refused, and one the provisioner never requested (a Spot bid below every pool), each in its own words");
  struct h h;
  world(&h, "jd", 1);
  int64_t t0 = h.t;
  h_submit(&h, "w", "q", "jd", NULL);
  json_t *none = json_array();
  json_t *launches = json_pack("[{s:s, s:s, s:s, s:s, s:I}, {s:s, s:s, s:s, s:s, s:I}]", "computeEnvironment", "m",
                               "kind", "LAUNCH_FAILED", "driver", "sim", "reason",
                               "1 of 1 x m5.large not launched: InsufficientInstanceCapacity: none", "at",
                               (json_int_t)(t0 + 10), "computeEnvironment", "m", "kind", "LAUNCH_FAILED", "driver", "",
                               "reason", "1 x c5.large not requested: SpotMaxPriceTooLow: bidPercentage 5 is below",
                               "at", (json_int_t)(t0 + 20));
  json_t *t = timeline_with(&h, "w", none, launches);
  CHECK(has_text(t, "launch-failed", "the instance provider refused a launch in compute environment m: 1 of 1 x m5.large"),
        "the refused launch");
  CHECK(has_text(t, "launch-failed", "the provisioner requested no instance in compute environment m: 1 x c5.large not requested: SpotMaxPriceTooLow"),
        "the launch never requested");
  json_decref(t);
  json_decref(none);
  json_decref(launches);
  h_release(&h);
}

static void test_timeline_of_array_child(void) {
  TEST("explain: an array child without dependencies is not said to wait for dependencies; one with a dependency is");
  struct h h;
  world(&h, "jd", 1);
  h_instance(&h, "i-0", "m", "READY", 2, 4096);
  h_submit(&h, "a", "q", "jd", "{\"arrayProperties\": {\"size\": 2}}");
  h_submit(&h, "d", "q", "jd", "{\"arrayProperties\": {\"size\": 2}, \"dependsOn\": [{\"jobId\": \"a\", \"type\": \"N_TO_N\"}]}");
  h_tick(&h);
  h_exec(&h, "a:0", 1, "i-0", "STARTED", -9999, NULL);
  h_exec(&h, "a:0", 1, "i-0", "EXITED", 0, NULL);
  h_tick(&h);
  CHECK_STATUS(&h, "a:0", JOB_SUCCEEDED);
  json_t *none = json_array();
  json_t *t = timeline_of(&h, "a:0", none);
  CHECK(has_text(t, "state", "it has no dependency to wait for: PENDING -> RUNNABLE"), "a:0 had nothing to wait for");
  CHECK(!has_text(t, "state", "dependencies finished"), "a:0 is not said to have had dependencies");
  json_decref(t);
  t = timeline_of(&h, "d:0", none);
  CHECK(has_text(t, "state", "its dependencies finished: PENDING -> RUNNABLE"), "d:0 waited for a:0");
  json_decref(t);
  json_decref(none);
  h_release(&h);
}

int main(void) {
  test_timeline_of_waiting_job();
  test_timeline_of_launch_failures();
  test_timeline_of_blocked_job();
  test_timeline_of_array_child();
  return check_summary();
}
