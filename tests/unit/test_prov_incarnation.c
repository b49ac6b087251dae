/* test_prov_incarnation.c: the provisioner core and agent incarnations (docs/architecture.md "Agent
 * incarnations", docs/provisioner.md "Agent restarts"), with no Kafka. An agent that restarts
 * under the same instance id says so with a larger incarnation in its READY; word from an older
 * incarnation that arrives after it (its process's TERMINATED on a late stop, a late beat, the
 * scheduler's LOST of the old process) must not end the instance the new incarnation serves.
 * Before, such a TERMINATED removed the instance from the core's view: the minvCpus floor was
 * launched again beside it (a relaunch), the instance was never drained when idle (an orphan,
 * running and billed for ever), and demand it could take launched a new one; a stale LOST
 * terminated it under the new agent. Incarnation 0 (unknown) is taken as before. */
#include "test_prov_helpers.h"

#define SHAPE_1x1024(n) "[{\"vcpus\":1,\"memoryMib\":1024,\"gpus\":0,\"count\":" #n "}]"

/* An InstanceEvent of kind for id (a c6i.xlarge of CE "ce": 4 vCPUs) from incarnation inc (0:
 * no incarnation member, as from the provisioner, a driver or an older agent). */
static void feed_inc(struct prov *p, const char *id, const char *kind, int64_t inc, int64_t at, struct prov_outbox *o) {
  json_t *ev = inst_ev(id, "ce", kind, "c6i.xlarge", 4, 8160, at);
  if (inc) json_object_set_new(ev, "incarnation", json_integer(inc));
  feed_inst(p, ev, o);
}

static void restore_inc(struct prov *p, const char *id, const char *kind, int64_t inc, int64_t at) {
  json_t *ev = inst_ev(id, "ce", kind, "c6i.xlarge", 4, 8160, at);
  if (inc) json_object_set_new(ev, "incarnation", json_integer(inc));
  prov_restore_instance(p, ev);
  json_decref(ev);
}

/* A core with CE "ce" (minvCpus minv, c6i) and one instance i-x adopted from its agent's READY
 * (incarnation 100) at 2 s, then restarted (READY, incarnation 200) at 3 s. */
static struct prov *core_restarted(int minv, struct prov_outbox *o) {
  struct prov *p = core_with_ce("ENABLED", "EC2", minv, 256, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 500, o);
  feed_inc(p, "i-x", "READY", 100, 2000, o);
  feed_inc(p, "i-x", "READY", 200, 3000, o);
  CHECK_STR(prov_instance_state(p, "i-x"), "READY");
  return p;
}

static void test_old_terminated_no_relaunch(void) {
  TEST("an older incarnation's TERMINATED after the new READY: the instance stays, its minvCpus floor is not launched again");
  struct prov_outbox o;
  struct prov *p = core_restarted(4, &o);
  prov_outbox_reset(&o);
  prov_tick(p, 3500, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 0); /* i-x is the floor */
  feed_inc(p, "i-x", "TERMINATED", 100, 4000, &o); /* the old process's stop, read late */
  feed_inc(p, "i-x", "HEARTBEAT", 100, 4100, &o);  /* and a late beat of it */
  CHECK_STR(prov_instance_state(p, "i-x"), "READY");
  CHECK_INT(prov_ce_instances(p, "ce"), 1);
  CHECK_INT(prov_ce_live_vcpus(p, "ce"), 4);
  prov_tick(p, 6000, &o);
  prov_tick(p, 9000, &o);
  /* before: i-x forgotten, live 0 < minvCpus 4: a MIN_VCPUS launch beside the running i-x */
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 0);
  CHECK_INT(count_kind(&o, PROV_OUT_DECISION), 0);
  CHECK_INT(prov_ce_desired(p, "ce"), 4);
  /* the current incarnation's TERMINATED ends it; then the floor is launched again */
  feed_inc(p, "i-x", "TERMINATED", 200, 10000, &o);
  CHECK(prov_instance_state(p, "i-x") == NULL, "gone on the current incarnation's TERMINATED");
  prov_tick(p, 12000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 1);
  CHECK_STR(decision_reason(nth(&o, PROV_OUT_DECISION, 0)), "MIN_VCPUS");
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_old_terminated_still_scaled_in(void) {
  TEST("an older incarnation's TERMINATED: the idle instance is still drained and terminated (no orphan)");
  struct prov_outbox o;
  struct prov *p = core_restarted(0, &o);
  feed_demand(p, demand_ev("ce", "[]", "[]", 3500), &o);
  feed_inc(p, "i-x", "TERMINATED", 100, 4000, &o);
  prov_outbox_reset(&o);
  prov_tick(p, 3000 + 10000, &o); /* idle delay 10 s from the new READY */
  /* before: i-x forgotten, never drained: it ran on, idle and billed, for good */
  CHECK_INT(count_instance_kind(&o, "DRAIN_REQUESTED"), 1);
  CHECK_INT(count_kind(&o, PROV_OUT_DRAIN), 1);
  CHECK_STR(nth(&o, PROV_OUT_DRAIN, 0) ? nth(&o, PROV_OUT_DRAIN, 0)->instance : "", "i-x");
  feed_inc(p, "i-x", "DRAINED", 200, 13500, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_TERMINATE), 1);
  CHECK_STR(prov_instance_state(p, "i-x"), "TERMINATING");
  feed_inc(p, "i-x", "TERMINATED", 0, 14000, &o); /* the provisioner's own, after the driver's terminate */
  CHECK(prov_instance_state(p, "i-x") == NULL, "gone");
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_old_terminated_capacity(void) {
  TEST("an older incarnation's TERMINATED: demand the instance takes launches nothing");
  struct prov_outbox o;
  struct prov *p = core_restarted(0, &o);
  feed_inc(p, "i-x", "TERMINATED", 100, 3200, &o);
  prov_outbox_reset(&o);
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(4), "[]", 3500), &o); /* fits i-x, registered 0.5 s ago */
  prov_tick(p, 5000, &o);
  /* before: no bin for the demand, one c6i.xlarge launched for 4 jobs the scheduler places on i-x */
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 0);
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_old_lost(void) {
  TEST("the scheduler's LOST of an older incarnation after the new READY does not terminate the instance");
  struct prov_outbox o;
  struct prov *p = core_restarted(0, &o);
  prov_outbox_reset(&o);
  feed_inc(p, "i-x", "LOST", 100, 4000, &o);
  /* before: terminated through the driver under the new agent */
  CHECK_INT(count_kind(&o, PROV_OUT_TERMINATE), 0);
  CHECK_STR(prov_instance_state(p, "i-x"), "READY");
  feed_inc(p, "i-x", "LOST", 200, 5000, &o); /* the current one lost: terminated */
  CHECK_INT(count_kind(&o, PROV_OUT_TERMINATE), 1);
  CHECK_STR(prov_instance_state(p, "i-x"), "TERMINATING");
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_unknown_incarnation(void) {
  TEST("incarnation 0 (unknown) is taken as before; a newer incarnation's TERMINATED ends the instance");
  struct prov_outbox o;
  struct prov *p = core_restarted(0, &o);
  feed_inc(p, "i-x", "TERMINATED", 0, 4000, &o); /* a driver's or an older agent's word */
  CHECK(prov_instance_state(p, "i-x") == NULL, "removed on a TERMINATED without incarnation");
  feed_inc(p, "i-y", "READY", 0, 5000, &o); /* an agent that names no incarnation */
  feed_inc(p, "i-y", "TERMINATED", 7, 6000, &o);
  CHECK(prov_instance_state(p, "i-y") == NULL, "an instance of unknown incarnation ends on any TERMINATED");
  feed_inc(p, "i-z", "READY", 100, 7000, &o);
  feed_inc(p, "i-z", "HEARTBEAT", 300, 7500, &o); /* restarted; its READY not read yet */
  feed_inc(p, "i-z", "TERMINATED", 200, 8000, &o);
  CHECK_STR(prov_instance_state(p, "i-z"), "READY"); /* a beat's incarnation counts as well */
  feed_inc(p, "i-z", "TERMINATED", 300, 8500, &o);
  CHECK(prov_instance_state(p, "i-z") == NULL, "gone on its current incarnation's TERMINATED");
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_restore(void) {
  TEST("restore: an older incarnation's TERMINATED or LOST in barge.instances does not drop the instance");
  struct prov_outbox o;
  struct prov *p = core_with_ce("ENABLED", "EC2", 0, 256, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 500, &o);
  restore_inc(p, "i-x", "LAUNCHING", 0, 1000);
  restore_inc(p, "i-x", "READY", 100, 2000);
  restore_inc(p, "i-x", "READY", 200, 3000);
  restore_inc(p, "i-x", "TERMINATED", 100, 4000);
  restore_inc(p, "i-x", "LOST", 100, 4100);
  restore_inc(p, "i-y", "READY", 100, 2000);
  restore_inc(p, "i-y", "TERMINATED", 100, 4000);
  prov_outbox_reset(&o);
  prov_restore_done(p, &o);
  CHECK_STR(prov_instance_state(p, "i-x"), "READY");
  CHECK(prov_instance_state(p, "i-y") == NULL, "its own incarnation's TERMINATED ends it");
  CHECK_INT(prov_ce_desired(p, "ce"), 4);
  /* and the rebuilt core keeps the incarnation for what follows */
  feed_inc(p, "i-x", "TERMINATED", 100, 5000, &o);
  CHECK_STR(prov_instance_state(p, "i-x"), "READY");
  prov_outbox_release(&o);
  prov_free(p);
}

int main(void) {
  test_old_terminated_no_relaunch();
  test_old_terminated_still_scaled_in();
  test_old_terminated_capacity();
  test_old_lost();
  test_unknown_incarnation();
  test_restore();
  return check_summary();
}
