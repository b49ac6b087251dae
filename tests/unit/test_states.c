/* test_states.c: lib/states.h against the schema: every InstanceKind symbol of
 * schemas/InstanceEvent.avsc is exactly one of live, gone or LAUNCHING, and the job-status
 * predicates agree with the scheduler core's status names. */
#include <jansson.h>

#include "check.h"
#include "sched_core.h"
#include "schemas_gen.h"
#include "states.h"

static const json_t *instance_kinds(json_t *schema) {
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(schema, "fields"), i, f) {
    if (strcmp(json_string_value(json_object_get(f, "name")), "kind")) continue;
    return json_object_get(json_object_get(f, "type"), "symbols");
  }
  return NULL;
}

int main(void) {
  json_t *schema = json_loads(barge_schema_json[BARGE_EV_INSTANCE_EVENT], 0, NULL);
  const json_t *kinds = instance_kinds(schema);
  CHECK(json_array_size(kinds) > 0, "InstanceEvent.kind has symbols");
  size_t i, nlive = 0, ngone = 0, nended = 0;
  json_t *k;
  json_array_foreach(kinds, i, k) {
    const char *kind = json_string_value(k);
    int live = instance_kind_live(kind), gone = instance_kind_gone(kind);
    int launching = !strcmp(kind, "LAUNCHING");
    CHECK(live + gone + launching == 1, "%s is exactly one of live, gone, LAUNCHING", kind);
    CHECK(!instance_kind_ended(kind) || gone, "%s: ended implies gone", kind);
    nlive += live;
    ngone += gone;
    nended += instance_kind_ended(kind);
  }
  /* every name the predicates know is a schema symbol */
  CHECK(nlive == 5 && ngone == 3 && nended == 2, "live %zu, gone %zu, ended %zu", nlive, ngone,
        nended);
  CHECK(!instance_kind_live(NULL) && !instance_kind_gone(NULL), "NULL is neither");
  for (int st = 0; st < JOB__COUNT; st++) {
    const char *name = job_status_name((enum job_status)st);
    CHECK(job_status_terminal(name) == (st == JOB_SUCCEEDED || st == JOB_FAILED), "%s terminal", name);
    CHECK(job_status_active(name) == (st == JOB_STARTING || st == JOB_RUNNING), "%s active", name);
  }
  CHECK(!job_status_terminal(NULL) && !job_status_active(NULL), "NULL status");
  /* the incarnation tracker every reader of barge.instances applies (docs/architecture.md "Agent
   * incarnations") */
  int64_t latest = 0;
  CHECK(!instance_incarnation_fold(&latest, "READY", 100) && latest == 100, "READY takes its incarnation");
  CHECK(!instance_incarnation_fold(&latest, "HEARTBEAT", 200) && latest == 200, "a beat of a restart raises it");
  CHECK(instance_incarnation_fold(&latest, "TERMINATED", 100), "an older incarnation's TERMINATED is stale");
  CHECK(instance_incarnation_fold(&latest, "LOST", 100), "... its LOST");
  CHECK(instance_incarnation_fold(&latest, "HEARTBEAT", 100) && latest == 200, "... its beat, which lowers nothing");
  CHECK(!instance_incarnation_fold(&latest, "TERMINATED", 0), "incarnation 0 (unknown) is never older");
  CHECK(!instance_incarnation_fold(&latest, "TERMINATED", 200), "the latest incarnation's end is taken");
  CHECK(!instance_incarnation_fold(&latest, "DRAIN_REQUESTED", 100), "kinds no agent says are not its word");
  CHECK(!instance_incarnation_fold(&latest, "TERMINATED", 300) && latest == 200, "an end raises nothing");
  CHECK(!instance_incarnation_fold(&latest, NULL, 100), "a NULL kind is no word");
  printf("lib/states.h: %zu instance kinds classified, %d job statuses\n", json_array_size(kinds), JOB__COUNT);
  json_decref(schema);
  return check_summary();
}
