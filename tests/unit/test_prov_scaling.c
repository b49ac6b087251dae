/* test_prov_scaling.c: the provisioner core's scaling rules (docs/job-model.md §4.5, 4.6) with no Kafka: the
 * clamp to [minvCpus, maxvCpus] and the one-instance overshoot rule, the batching window, demand
 * absorbed by launching instances, the scale-down delay and the drain handshake, the minvCpus
 * floor, DISABLED and UNMANAGED compute environments, spot interruptions, launch timeouts,
 * restore, determinism (the same inputs give the same outputs, byte for byte), and a CE's
 * instances kept in arrival order through heavy churn (that order decides outputs). */
#include "test_prov_helpers.h"

#define SHAPE_1x1024(n) "[{\"vcpus\":1,\"memoryMib\":1024,\"gpus\":0,\"count\":" #n "}]"

/* An instance event of kind for id, a c6i.2xlarge (8 vCPUs, 16352 MiB usable) of CE "ce". */
static void feed_c6i_2xl(struct prov *p, const char *id, const char *kind, int64_t at, struct prov_outbox *o) {
  feed_inst(p, inst_ev(id, "ce", kind, "c6i.2xlarge", 8, 16352, at), o);
}

static void test_clamp_and_overshoot(void) {
  TEST("maxvCpus: the last instance may cross it by one instance; desired is clamped");
  struct prov_outbox o;
  struct prov *p = core_with_ce("ENABLED", "EC2", 0, 9, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 1000, &o);
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(40), "[]", 1000), &o);
  prov_tick(p, 2500, &o);
  int v = 0, biggest = 0;
  for (size_t i = 0; i < count_kind(&o, PROV_OUT_LAUNCH); i++) {
    const struct catalog_type *t = catalog_find(catalog_default(), launch_type(p, &o, i));
    v += t->vcpus * launch_count(&o, i);
    if (t->vcpus > biggest) biggest = t->vcpus;
  }
  CHECK(v > 9 && v - 9 < 8, "launched %d vCPUs for maxvCpus 9: over by less than one instance", v);
  struct prov_out *d = nth(&o, PROV_OUT_DECISION, 0);
  CHECK_STR(decision_reason(d), "MAX_VCPUS_LIMIT");
  CHECK_INT(decision_int(d, "toDesiredvCpus"), 9);
  prov_outbox_reset(&o);
  /* the same unmet demand again: no new launch, no repeated decision */
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(40), "[]", 3000), &o);
  prov_tick(p, 5000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 0);
  CHECK_INT(count_kind(&o, PROV_OUT_DECISION), 0);
  /* maxvCpus lowered below it (UpdateComputeEnvironment): desired follows at once */
  feed_config(p, ce_ev("ce", "ENABLED", "EC2", 0, 4, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 6000), &o);
  CHECK_INT(prov_ce_desired(p, "ce"), 4);
  prov_outbox_release(&o);
  prov_free(p);

  TEST("BEST_FIT with EC2 never crosses maxvCpus, for demand or the floor; with SPOT it may");
  p = core_with_ce("ENABLED", "EC2", 0, 3, "[\"c6i\"]", "BEST_FIT", 1000, &o);
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(8), "[]", 1000), &o);
  prov_tick(p, 2500, &o);
  CHECK_STR(launch_type(p, &o, 0), "c6i.large");
  CHECK_INT(launch_count(&o, 0), 1); /* 2 vCPUs; a second would make 4 > 3 */
  CHECK_STR(decision_reason(nth(&o, PROV_OUT_DECISION, 0)), "MAX_VCPUS_LIMIT");
  CHECK_INT(decision_int(nth(&o, PROV_OUT_DECISION, 0), "toDesiredvCpus"), 2);
  prov_outbox_release(&o);
  prov_free(p);
  /* the minvCpus floor too: 3 vCPUs of 2-vCPU instances is one instance, not two (4 > 3) */
  p = core_with_ce("ENABLED", "EC2", 3, 3, "[\"c6i\"]", "BEST_FIT", 1000, &o);
  prov_tick(p, 2500, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 1);
  CHECK(count_kind(&o, PROV_OUT_LAUNCH) && !strcmp(launch_type(p, &o, 0), "c6i.large") && launch_count(&o, 0) == 1,
        "the floor under BEST_FIT with EC2: 1 x c6i.large, not crossing maxvCpus 3 (%d x %s)",
        count_kind(&o, PROV_OUT_LAUNCH) ? launch_count(&o, 0) : 0, count_kind(&o, PROV_OUT_LAUNCH) ? launch_type(p, &o, 0) : "-");
  prov_outbox_release(&o);
  prov_free(p);
  p = core_with_ce("ENABLED", "SPOT", 0, 3, "[\"c6i\"]", "BEST_FIT", 1000, &o);
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(8), "[]", 1000), &o);
  prov_tick(p, 2500, &o);
  CHECK_INT(launch_count(&o, 0), 2); /* 4 vCPUs: crosses 3 by one instance */
  CHECK_INT(decision_int(nth(&o, PROV_OUT_DECISION, 0), "toDesiredvCpus"), 3);
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_window(void) {
  TEST("decisions are batched per CE over the window");
  struct prov_outbox o;
  struct prov *p = core_with_ce("ENABLED", "EC2", 0, 256, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 500, &o);
  prov_tick(p, 2000, &o); /* the config's own evaluation: no demand, no floor */
  CHECK_INT(o.n, 0);
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(2), "[]", 10000), &o);
  prov_tick(p, 10500, &o);
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(8), "[]", 10700), &o);
  prov_tick(p, 10900, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_DECISION), 0); /* still inside the window */
  prov_tick(p, 11000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_DECISION), 1);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 1);
  CHECK_STR(launch_type(p, &o, 0), "c6i.2xlarge"); /* one decision for the latest demand: 8 jobs */
  prov_outbox_release(&o);
  prov_free(p);
}

/* Brings one instance of a fresh CE to READY; returns its id (static buffer). */
static const char *one_ready(struct prov *p, const char *ce, int64_t t, struct prov_outbox *o) {
  static char id[32];
  struct prov_outbox l;
  prov_outbox_init(&l);
  feed_demand(p, demand_ev(ce, SHAPE_1x1024(8), "[]", t), o);
  prov_tick(p, t + 1000, o);
  answer_launches(p, o, "i-a", t + 1000, &l);
  snprintf(id, sizeof id, "%s", launched_id(&l, 0) ? launched_id(&l, 0) : "");
  CHECK_INT(count_instance_kind(&l, "LAUNCHING"), 1);
  feed_inst(p, inst_ev(id, ce, "READY", "c6i.2xlarge", 8, 16352, t + 3000), &l);
  prov_outbox_release(&l);
  return id;
}

/* A new core with the ENABLED CE "ce" (0-256 vCPUs of c6i, type and strategy) and one instance
 * of it READY (one_ready at 1 s), whose id is copied to id. */
static struct prov *core_one_ready(const char *type, const char *strategy, char *id, size_t n,
                                   struct prov_outbox *o) {
  prov_outbox_init(o);
  struct prov *p = new_core();
  feed_config(p, ce_ev("ce", "ENABLED", type, 0, 256, "[\"c6i\"]", strategy, 500), o);
  snprintf(id, n, "%s", one_ready(p, "ce", 1000, o));
  return p;
}

static void test_absorb(void) {
  TEST("launching instances absorb the demand they were launched for");
  struct prov_outbox o, l;
  prov_outbox_init(&o);
  prov_outbox_init(&l);
  struct prov *p = new_core();
  feed_config(p, ce_ev("ce", "ENABLED", "EC2", 0, 256, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 500), &o);
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(8), "[]", 1000), &o);
  prov_tick(p, 2000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 1);
  /* a second report before the launch is answered: the pending launch absorbs it */
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(8), "[]", 2100), &l);
  prov_tick(p, 3200, &l);
  CHECK_INT(count_kind(&l, PROV_OUT_LAUNCH), 0);
  answer_launches(p, &o, "i-b", 3300, &l);
  const char *id = launched_id(&l, 0);
  CHECK(id != NULL, "LAUNCHING emitted");
  char iid[32];
  snprintf(iid, sizeof iid, "%s", id ? id : "");
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(8), "[]", 3400), &l);
  prov_tick(p, 5000, &l);
  CHECK_INT(count_kind(&l, PROV_OUT_LAUNCH), 0);
  /* READY after the scheduler's last report: it still absorbs the demand (the scheduler has
   * not seen it yet) */
  feed_c6i_2xl(p, iid, "READY", 6000, &l);
  prov_tick(p, 8000, &l);
  CHECK_INT(count_kind(&l, PROV_OUT_LAUNCH), 0);
  /* the scheduler placed 8 of them and reports 4 more: one more instance */
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(4), "[]", 8100), &l);
  prov_outbox_reset(&l);
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(4), "[\"i-x\"]", 8200), &l);
  char busy[64];
  snprintf(busy, sizeof busy, "[\"%s\"]", iid);
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(4), busy, 8300), &l);
  prov_tick(p, 9500, &l);
  CHECK_INT(count_kind(&l, PROV_OUT_LAUNCH), 1);
  CHECK_STR(launch_type(p, &l, 0), "c6i.xlarge");
  CHECK_INT(decision_int(nth(&l, PROV_OUT_DECISION, 0), "fromDesiredvCpus"), 8);
  CHECK_INT(decision_int(nth(&l, PROV_OUT_DECISION, 0), "toDesiredvCpus"), 12);
  prov_outbox_release(&o);
  prov_outbox_release(&l);
  prov_free(p);
}

static void test_scale_down(void) {
  TEST("scale-down: idle past the delay, drained through the scheduler, then terminated");
  struct prov_outbox o;
  char id[32];
  struct prov *p = core_one_ready("EC2", "BEST_FIT_PROGRESSIVE", id, sizeof id, &o); /* idle delay 10 s */
  char busy[64];
  snprintf(busy, sizeof busy, "[\"%s\"]", id);
  prov_outbox_reset(&o);
  feed_demand(p, demand_ev("ce", "[]", busy, 4100), &o);   /* jobs running on it */
  prov_tick(p, 30000, &o);
  CHECK_INT(count_instance_kind(&o, "DRAIN_REQUESTED"), 0); /* busy: never idle */
  feed_demand(p, demand_ev("ce", "[]", "[]", 40000), &o);   /* its last job ended at 40 s */
  prov_tick(p, 49000, &o);
  CHECK_INT(count_instance_kind(&o, "DRAIN_REQUESTED"), 0); /* idle 9 s < 10 s */
  prov_tick(p, 50000, &o);
  CHECK_INT(count_instance_kind(&o, "DRAIN_REQUESTED"), 1);
  CHECK_INT(count_kind(&o, PROV_OUT_DRAIN), 1);
  CHECK_INT(count_kind(&o, PROV_OUT_TERMINATE), 0); /* not before the scheduler confirms */
  struct prov_out *d = nth(&o, PROV_OUT_DECISION, 0);
  CHECK_STR(decision_reason(d), "IDLE_SCALE_DOWN");
  CHECK_INT(decision_int(d, "fromDesiredvCpus"), 8);
  CHECK_INT(decision_int(d, "toDesiredvCpus"), 0);
  CHECK_STR(json_string_value(json_array_get(json_object_get(d->ev, "terminations"), 0)), id);
  CHECK_STR(prov_instance_state(p, id), "DRAINING");
  CHECK_INT(prov_ce_live_vcpus(p, "ce"), 0);
  prov_outbox_reset(&o);
  prov_tick(p, 70000, &o);
  CHECK_INT(o.n, 0); /* one drain request, not one per tick */
  feed_c6i_2xl(p, id, "DRAINED", 70500, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_TERMINATE), 1);
  struct prov_out *t = nth(&o, PROV_OUT_TERMINATE, 0);
  CHECK_STR(t->instance, id);
  CHECK_STR(t->driver, "sim");
  CHECK_STR(json_string_value(json_object_get(t->ev, "kind")), "TERMINATED");
  feed_c6i_2xl(p, id, "TERMINATED", 71000, &o);
  CHECK(prov_instance_state(p, id) == NULL, "gone");
  CHECK_INT(prov_ce_instances(p, "ce"), 0);
  prov_outbox_release(&o);
  prov_free(p);

  TEST("scale-down: minScaleDownDelayMinutes overrides the default delay");
  prov_outbox_init(&o);
  p = new_core();
  json_t *ce = ce_ev("ce", "ENABLED", "EC2", 0, 256, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 500);
  json_object_set_new(json_object_get(json_object_get(json_object_get(ce, "body"), "ComputeEnvironment"), "computeResources"),
                      "minScaleDownDelayMinutes", json_integer(20));
  feed_config(p, ce, &o);
  snprintf(id, sizeof id, "%s", one_ready(p, "ce", 1000, &o));
  feed_demand(p, demand_ev("ce", "[]", "[]", 4000), &o); /* no job for it after all */
  prov_outbox_reset(&o);
  prov_tick(p, 4000 + 20 * 60000 - 1, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_DRAIN), 0);
  prov_tick(p, 4000 + 20 * 60000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_DRAIN), 1);
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_terminate_through_launching_driver(void) {
  TEST("an instance is terminated through the driver that launched it, whatever driver its agent names");
  struct prov_outbox o, l;
  prov_outbox_init(&o);
  prov_outbox_init(&l);
  struct prov *p = new_core();
  feed_config(p, ce_ev("ce", "ENABLED", "EC2", 0, 256, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 500), &o);
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(8), "[]", 1000), &o);
  prov_tick(p, 2000, &o);
  answer_launches(p, &o, "i-e", 2000, &l); /* launched by "sim" */
  char id[32];
  snprintf(id, sizeof id, "%s", launched_id(&l, 0) ? launched_id(&l, 0) : "");
  json_t *ready = inst_ev(id, "ce", "READY", "c6i.2xlarge", 8, 16352, 3000);
  json_object_set_new(ready, "driver", json_string("local")); /* an agent started without --driver */
  feed_inst(p, ready, &l);
  feed_demand(p, demand_ev("ce", "[]", "[]", 4000), &l);
  prov_outbox_reset(&l);
  prov_tick(p, 100000, &l);
  CHECK_INT(count_kind(&l, PROV_OUT_DRAIN), 1);
  feed_c6i_2xl(p, id, "DRAINED", 100500, &l);
  struct prov_out *t = nth(&l, PROV_OUT_TERMINATE, 0);
  CHECK(t != NULL, "terminated");
  if (t) CHECK_STR(t->driver, "sim");
  prov_outbox_release(&o);
  prov_outbox_release(&l);
  prov_free(p);
}

static void test_not_idle_while_wanted(void) {
  TEST("scale-down: an idle instance that reported RUNNABLE jobs fit is not drained");
  struct prov_outbox o;
  char id[32];
  struct prov *p = core_one_ready("EC2", "BEST_FIT_PROGRESSIVE", id, sizeof id, &o); /* 8 jobs reported, none placed yet */
  prov_outbox_reset(&o);
  prov_tick(p, 5000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 0); /* it takes those jobs: no launch for them */
  prov_tick(p, 60000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_DRAIN), 0);
  prov_outbox_reset(&o);
  feed_demand(p, demand_ev("ce", "[{\"vcpus\":64,\"memoryMib\":1024,\"gpus\":0,\"count\":1}]", "[]", 61000), &o);
  prov_tick(p, 62000, &o); /* only a job it cannot hold: idle, drained; a larger type launched */
  CHECK_INT(count_kind(&o, PROV_OUT_DRAIN), 1);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 1);
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_min_vcpus(void) {
  TEST("minvCpus: a floor launched and kept");
  struct prov_outbox o, l;
  prov_outbox_init(&o);
  prov_outbox_init(&l);
  struct prov *p = new_core();
  feed_config(p, ce_ev("ce", "ENABLED", "EC2", 4, 256, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 1000), &o);
  prov_tick(p, 2000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 1);
  CHECK_STR(launch_type(p, &o, 0), "c6i.xlarge");
  struct prov_out *d = nth(&o, PROV_OUT_DECISION, 0);
  CHECK_STR(decision_reason(d), "MIN_VCPUS");
  CHECK_INT(decision_int(d, "toDesiredvCpus"), 4);
  answer_launches(p, &o, "i-m", 2000, &l);
  char id[32];
  snprintf(id, sizeof id, "%s", launched_id(&l, 0));
  feed_inst(p, inst_ev(id, "ce", "READY", "c6i.xlarge", 4, 8160, 3000), &l);
  prov_outbox_reset(&l);
  prov_tick(p, 600000, &l);
  CHECK_INT(count_kind(&l, PROV_OUT_DRAIN), 0); /* idle, but it is the floor */
  CHECK_INT(count_kind(&l, PROV_OUT_LAUNCH), 0);
  /* demand while the floor instance is busy adds one 8-vCPU instance; once both are idle only
   * the floor's worth stays */
  char busy[64];
  snprintf(busy, sizeof busy, "[\"%s\"]", id);
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(8), busy, 600000), &l);
  prov_tick(p, 601000, &l);
  CHECK_INT(count_kind(&l, PROV_OUT_LAUNCH), 1);
  CHECK_INT(count_kind(&l, PROV_OUT_DRAIN), 0);
  struct prov_outbox l2;
  prov_outbox_init(&l2);
  answer_launches(p, &l, "i-n", 601000, &l2);
  char id2[32];
  snprintf(id2, sizeof id2, "%s", launched_id(&l2, 0));
  feed_c6i_2xl(p, id2, "READY", 602000, &l2);
  feed_demand(p, demand_ev("ce", "[]", "[]", 650000), &l2);
  prov_outbox_reset(&l2);
  prov_tick(p, 700000, &l2);
  CHECK_INT(count_kind(&l2, PROV_OUT_DRAIN), 1); /* 12 -> 4: never below 4 */
  CHECK_STR(nth(&l2, PROV_OUT_DRAIN, 0)->instance, id2); /* idle longest; the other is the floor */
  CHECK_INT(prov_ce_live_vcpus(p, "ce"), 4);
  prov_outbox_release(&o);
  prov_outbox_release(&l);
  prov_outbox_release(&l2);
  prov_free(p);
}

/* UpdateComputeEnvironment of "ce" (0-256 vCPUs of c6i) setting desiredvCpus. */
static json_t *ce_desired_ev(int desired, int64_t at) {
  json_t *up = ce_ev("ce", "ENABLED", "EC2", 0, 256, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", at);
  json_object_set_new(json_object_get(json_object_get(json_object_get(up, "body"), "ComputeEnvironment"), "computeResources"),
                      "desiredvCpus", json_integer(desired));
  return up;
}

static void test_desired_update(void) {
  TEST("UpdateComputeEnvironment desiredvCpus above the current desired: launched to it, then scaled down when idle");
  struct prov_outbox o, l;
  prov_outbox_init(&o);
  prov_outbox_init(&l);
  struct prov *p = new_core();
  feed_config(p, ce_ev("ce", "ENABLED", "EC2", 0, 256, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 1000), &o);
  prov_tick(p, 2000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 0);
  feed_config(p, ce_desired_ev(8, 3000), &o);
  prov_tick(p, 5000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 1);
  struct prov_out *d = nth(&o, PROV_OUT_DECISION, 0);
  CHECK(d != NULL, "a decision for the new desiredvCpus");
  if (d) CHECK_INT(decision_int(d, "toDesiredvCpus"), 8);
  CHECK_INT(prov_ce_live_vcpus(p, "ce"), 8);
  answer_launches(p, &o, "i-d", 5000, &l);
  char id[32];
  snprintf(id, sizeof id, "%s", launched_id(&l, 0));
  feed_c6i_2xl(p, id, "READY", 6000, &l);
  /* a one-off: later evaluations do not launch again, and the idle instance goes (minvCpus 0) */
  feed_demand(p, demand_ev("ce", "[]", "[]", 7000), &l);
  prov_outbox_reset(&l);
  prov_tick(p, 8000, &l);
  CHECK_INT(count_kind(&l, PROV_OUT_LAUNCH), 0);
  prov_tick(p, 600000, &l);
  CHECK_INT(count_kind(&l, PROV_OUT_DRAIN), 1);
  feed_c6i_2xl(p, id, "DRAINED", 600500, &l);
  feed_c6i_2xl(p, id, "TERMINATED", 601000, &l);
  CHECK_INT(prov_ce_live_vcpus(p, "ce"), 0);
  /* scaled down to 0 with 8 still stored: an update to 4 is above the current desired (0), so it
   * launches too, though it is below what was stored before */
  prov_outbox_reset(&l);
  feed_config(p, ce_desired_ev(4, 602000), &l);
  prov_tick(p, 603000, &l);
  CHECK_INT(count_kind(&l, PROV_OUT_LAUNCH), 1);
  d = nth(&l, PROV_OUT_DECISION, 0);
  CHECK(d != NULL, "a decision for desiredvCpus 4");
  if (d) CHECK_INT(decision_int(d, "toDesiredvCpus"), 4);
  prov_outbox_release(&o);
  prov_outbox_release(&l);
  prov_free(p);
}

static void test_disabled(void) {
  TEST("DISABLED: no scale-up; idle instances drained at once down to minvCpus");
  struct prov_outbox o;
  char id[32];
  struct prov *p = core_one_ready("EC2", "BEST_FIT_PROGRESSIVE", id, sizeof id, &o);
  prov_outbox_reset(&o);
  feed_config(p, ce_ev("ce", "DISABLED", "EC2", 0, 256, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 5000), &o);
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(8), "[]", 5000), &o);
  prov_tick(p, 6000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 0);
  CHECK_INT(count_kind(&o, PROV_OUT_DRAIN), 1); /* idle 2 s, far below the delay */
  CHECK_STR(decision_reason(nth(&o, PROV_OUT_DECISION, 0)), "CE_DISABLED");
  prov_outbox_release(&o);
  prov_free(p);

  TEST("DISABLED with minvCpus: the floor stays, nothing is launched for it");
  p = core_with_ce("DISABLED", "EC2", 8, 256, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 500, &o);
  prov_tick(p, 5000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 0);
  feed_c6i_2xl(p, "i-floor", "READY", 5000, &o);
  prov_tick(p, 6000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_DRAIN), 0);
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_unmanaged(void) {
  TEST("UNMANAGED: never scaled");
  struct prov_outbox o;
  prov_outbox_init(&o);
  struct prov *p = new_core();
  feed_config(p, unmanaged_ce_ev("u", 500), &o);
  feed_inst(p, inst_ev("i-u1", "u", "READY", "local", 2, 4096, 1000), &o);
  feed_demand(p, demand_ev("u", SHAPE_1x1024(8), "[]", 1000), &o);
  prov_tick(p, 5000, &o);
  prov_tick(p, 10000000, &o);
  CHECK_INT(o.n, 0);
  CHECK(prov_instance_state(p, "i-u1") == NULL, "its instances are not the provisioner's");
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_interruption(void) {
  TEST("spot interruption: drained on notice, replaced when its jobs return as demand");
  struct prov_outbox o;
  char id[32];
  struct prov *p = core_one_ready("SPOT", "SPOT_CAPACITY_OPTIMIZED", id, sizeof id, &o);
  char busy[64];
  snprintf(busy, sizeof busy, "[\"%s\"]", id);
  feed_demand(p, demand_ev("ce", "[]", busy, 4100), &o);
  prov_outbox_reset(&o);
  feed_c6i_2xl(p, id, "INTERRUPTION_NOTICE", 5000, &o);
  CHECK_INT(count_instance_kind(&o, "DRAIN_REQUESTED"), 1);
  CHECK_INT(prov_ce_live_vcpus(p, "ce"), 0);
  feed_c6i_2xl(p, id, "TERMINATED", 7000, &o);
  CHECK(prov_instance_state(p, id) == NULL, "gone");
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(8), "[]", 7100), &o);
  prov_tick(p, 9000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 1);
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_launch_timeout_and_lost(void) {
  TEST("an instance that never registers is terminated; a lost one is terminated too, until the driver did it");
  struct prov_outbox o, l;
  prov_outbox_init(&o);
  prov_outbox_init(&l);
  struct prov_conf conf;
  prov_conf_defaults(&conf);
  conf.launch_timeout_ms = 20000;
  struct prov *p = prov_new(&conf);
  feed_config(p, ce_ev("ce", "ENABLED", "EC2", 0, 256, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 500), &o);
  feed_demand(p, demand_ev("ce", SHAPE_1x1024(8), "[]", 1000), &o);
  prov_tick(p, 2000, &o);
  answer_launches(p, &o, "i-t", 2000, &l);
  char id[32];
  snprintf(id, sizeof id, "%s", launched_id(&l, 0));
  prov_outbox_reset(&l);
  prov_tick(p, 21000, &l);
  CHECK_INT(count_kind(&l, PROV_OUT_TERMINATE), 0);
  prov_tick(p, 22000, &l);
  CHECK_INT(count_kind(&l, PROV_OUT_TERMINATE), 1);
  CHECK_STR(decision_reason(nth(&l, PROV_OUT_DECISION, 0)), "IDLE_SCALE_DOWN");
  prov_outbox_reset(&l);
  feed_inst(p, inst_ev("i-lost", "ce", "READY", "c6i.large", 2, 4064, 23000), &l); /* adopted */
  CHECK_STR(prov_instance_state(p, "i-lost"), "READY");
  feed_inst(p, inst_ev("i-lost", "ce", "LOST", "c6i.large", 2, 4064, 60000), &l);
  CHECK_INT(count_kind(&l, PROV_OUT_TERMINATE), 1);
  CHECK_STR(prov_instance_state(p, "i-lost"), "TERMINATING");
  /* the terminate failed (EC2 unreachable, as the agent was): asked again, not forgotten */
  prov_outbox_reset(&l);
  prov_tick(p, 60000 + conf.terminate_retry_ms, &l);
  int again = 0;
  for (size_t i = 0; i < count_kind(&l, PROV_OUT_TERMINATE); i++) again += !strcmp(nth(&l, PROV_OUT_TERMINATE, i)->instance, "i-lost");
  CHECK(again == 1, "a lost instance whose terminate was not done is terminated again (%d)", again);
  prov_terminate_done(p, "i-lost");
  CHECK(prov_instance_state(p, "i-lost") == NULL, "gone once the driver terminated it");
  prov_outbox_release(&o);
  prov_outbox_release(&l);
  prov_free(p);
}

static void test_restore(void) {
  TEST("restore: the instance table folds into state; drained instances are terminated");
  struct prov_outbox o;
  struct prov *p = core_with_ce("ENABLED", "EC2", 0, 256, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 500, &o);
  const char *seq[][2] = {{"i-1", "LAUNCHING"}, {"i-2", "LAUNCHING"}, {"i-3", "LAUNCHING"}, {"i-1", "READY"},
                          {"i-2", "READY"},     {"i-2", "DRAIN_REQUESTED"}, {"i-2", "DRAINED"}, {"i-3", "READY"},
                          {"i-3", "TERMINATED"}, {"i-1", "HEARTBEAT"}};
  for (size_t i = 0; i < sizeof seq / sizeof *seq; i++) {
    json_t *ev = inst_ev(seq[i][0], "ce", seq[i][1], "c6i.large", 2, 4064, 1000 + (int64_t)i);
    prov_restore_instance(p, ev);
    json_decref(ev);
  }
  prov_outbox_reset(&o);
  prov_restore_done(p, &o);
  CHECK_STR(prov_instance_state(p, "i-1"), "READY");
  CHECK(prov_instance_state(p, "i-3") == NULL, "terminated is gone");
  CHECK_INT(count_kind(&o, PROV_OUT_TERMINATE), 1);
  CHECK_STR(nth(&o, PROV_OUT_TERMINATE, 0)->instance, "i-2");
  CHECK_INT(prov_ce_desired(p, "ce"), 2);
  prov_outbox_release(&o);
  prov_free(p);
}

/* Runs a fixed scenario and returns its outputs as one text. */
static char *scenario_text(void) {
  struct prov_outbox o, l;
  prov_outbox_init(&o);
  prov_outbox_init(&l);
  struct prov *p = new_core();
  struct buf b;
  buf_init(&b);
  feed_config(p, ce_ev("a", "ENABLED", "SPOT", 0, 512, "[\"c5\",\"m5\",\"r5\",\"optimal\"]", "SPOT_PRICE_CAPACITY_OPTIMIZED", 10), &o);
  feed_config(p, ce_ev("b", "ENABLED", "EC2", 2, 64, "[\"optimal\"]", "BEST_FIT", 10), &o);
  feed_demand(p, demand_ev("a", "[{\"vcpus\":2,\"memoryMib\":3192,\"gpus\":0,\"count\":300},{\"vcpus\":4,\"memoryMib\":30000,\"gpus\":0,\"count\":7}]", "[]", 100), &o);
  feed_demand(p, demand_ev("b", SHAPE_1x1024(50), "[]", 200), &o);
  for (int64_t t = 500; t < 5000; t += 250) prov_tick(p, t, &o);
  for (size_t i = 0; i < o.n; i++) {
    char *s = o.ev[i].ev ? json_dumps(o.ev[i].ev, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    buf_printf(&b, "%d %s %s %d %d %s\n", (int)o.ev[i].kind, o.ev[i].ce, o.ev[i].instance, o.ev[i].type, o.ev[i].count, s ? s : "-");
    free(s);
  }
  prov_outbox_release(&o);
  prov_outbox_release(&l);
  prov_free(p);
  return (char *)b.data;
}

static void test_determinism(void) {
  TEST("determinism: the same inputs give the same outputs, byte for byte");
  char *a = scenario_text(), *b = scenario_text();
  CHECK(a && b && strlen(a) > 100 && !strcmp(a, b), "outputs differ or are empty");
  free(a);
  free(b);
}

/* Instances launched for one demand of shapes (a JSON array) on c6i.large (2 vCPUs) only. */
static int launched_for(const char *shapes) {
  struct prov_outbox o;
  struct prov *p = core_with_ce("ENABLED", "EC2", 0, 64, "[\"c6i.large\"]", "BEST_FIT_PROGRESSIVE", 1000, &o);
  feed_demand(p, demand_ev("ce", shapes, "[]", 1000), &o);
  prov_tick(p, 2500, &o);
  int n = 0;
  for (size_t i = 0; i < count_kind(&o, PROV_OUT_LAUNCH); i++) n += launch_count(&o, i);
  prov_outbox_release(&o);
  prov_free(p);
  return n;
}

static void test_per_instance_shapes(void) {
  TEST("perInstance shapes (a multi-node job's nodes) take an instance each: 3 one-vCPU nodes, 3 c6i.large");
  CHECK_INT(launched_for("[{\"vcpus\":1,\"memoryMib\":512,\"gpus\":0,\"count\":3,\"perInstance\":true}]"), 3);
  CHECK_INT(launched_for("[{\"vcpus\":1,\"memoryMib\":512,\"gpus\":0,\"count\":3}]"), 2); /* packed two by two */
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

static void test_churn_keeps_arrival_order(void) {
  TEST("churn: a CE's instances stay in arrival order (the order its launch timeouts are written in) as they come "
       "and go at random");
  struct prov_outbox o;
  prov_outbox_init(&o);
  struct prov_conf conf;
  prov_conf_defaults(&conf);
  struct prov *p = prov_new(&conf);
  feed_config(p, ce_ev("ce", "ENABLED", "EC2", 0, 1000000, "[\"c6i\"]", "BEST_FIT_PROGRESSIVE", 500), &o);
  /* the model: the ids present, in arrival order (an id that left and comes again arrives anew) */
  enum { IDS = 600 };
  int order[IDS], n = 0, present[IDS] = {0}, left = 0, bad = 0;
  int64_t t = 1000;
  for (int round = 0; round < 4 && !bad; round++) {
    for (int step = 0; step < 3000; step++) {
      char id[32];
      int k = (int)rnd(IDS);
      snprintf(id, sizeof id, "i-%04d", k);
      if (!present[k]) { /* arrives at the end */
        feed_inst(p, inst_ev(id, "ce", "LAUNCHING", "c6i.large", 2, 4064, t), &o);
        present[k] = 1;
        order[n++] = k;
      } else if (rnd(3) == 0) { /* leaves from wherever it is */
        feed_inst(p, inst_ev(id, "ce", "TERMINATED", "c6i.large", 2, 4064, t), &o);
        present[k] = 0;
        int w = 0;
        for (int i = 0; i < n; i++)
          if (order[i] != k) order[w++] = order[i];
        n = w;
        left++;
      }
      if (prov_ce_instances(p, "ce") != n) {
        CHECK_INT(prov_ce_instances(p, "ce"), n);
        bad = 1;
        break;
      }
    }
    /* past the launch timeout: each present one is terminated, in the CE's order */
    prov_outbox_reset(&o);
    t += conf.launch_timeout_ms;
    prov_tick(p, t, &o);
    size_t nt = count_kind(&o, PROV_OUT_TERMINATE);
    int same = (int)nt == n;
    for (size_t i = 0; same && i < nt; i++) {
      char want[32];
      snprintf(want, sizeof want, "i-%04d", order[i]);
      same = !strcmp(nth(&o, PROV_OUT_TERMINATE, i)->instance, want);
    }
    CHECK(same, "round %d: %zu terminations for %d instances, or not in arrival order", round, nt, n);
    bad += !same;
    /* all of them leave, in a random order; the next round reuses their slots */
    while (n) {
      int i = (int)rnd((uint32_t)n), k = order[i];
      char id[32];
      snprintf(id, sizeof id, "i-%04d", k);
      feed_inst(p, inst_ev(id, "ce", "TERMINATED", "c6i.large", 2, 4064, t), &o);
      present[k] = 0;
      order[i] = order[--n];
    }
    CHECK_INT(prov_ce_instances(p, "ce"), 0);
    t += 1000;
  }
  printf("   4 rounds: %d instances left at random before the timeouts\n", left);
  CHECK(left > 2000, "the run covered too little");
  prov_outbox_release(&o);
  prov_free(p);
}

int main(void) {
  test_clamp_and_overshoot();
  test_window();
  test_absorb();
  test_scale_down();
  test_not_idle_while_wanted();
  test_min_vcpus();
  test_desired_update();
  test_terminate_through_launching_driver();
  test_disabled();
  test_unmanaged();
  test_interruption();
  test_launch_timeout_and_lost();
  test_restore();
  test_determinism();
  test_per_instance_shapes();
  test_churn_keeps_arrival_order();
  return check_summary();
}
