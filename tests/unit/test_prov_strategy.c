/* test_prov_strategy.c: the provisioner core's instance-type choice for each allocation strategy
 * (docs/job-model.md §4.3) against the built-in catalogue, with no Kafka. Each case creates a CE, reports
 * RUNNABLE demand, lets the batching window pass and checks the launch set. */
#include "test_prov_helpers.h"

/* Creates a CE, reports `count` jobs of (v, m, g) at t=1000 and ticks past the window. */
static struct prov *plan(const char *crtype, const char *types, const char *strategy, int maxv, int v,
                         int m, int g, int count, struct prov_outbox *o) {
  struct prov *p = new_core();
  feed_config(p, ce_ev("ce", "ENABLED", crtype, 0, maxv, types, strategy, 1000), o);
  char shapes[256];
  snprintf(shapes, sizeof shapes, "[{\"vcpus\":%d,\"memoryMib\":%d,\"gpus\":%d,\"count\":%d}]", v, m, g, count);
  feed_demand(p, demand_ev("ce", shapes, "[]", 1000), o);
  prov_tick(p, 3000, o);
  return p;
}

/* The outbox holds one launch: count instances of the named type. */
static void expect_one_launch(const struct prov *p, const struct prov_outbox *o, const char *type, int count) {
  CHECK_INT(count_kind(o, PROV_OUT_LAUNCH), 1);
  CHECK_STR(launch_type(p, o, 0), type);
  CHECK_INT(launch_count(o, 0), count);
}

static int launched_vcpus(const struct prov_outbox *o) {
  int v = 0;
  for (size_t i = 0; i < o->n; i++)
    if (o->ev[i].kind == PROV_OUT_LAUNCH) v += o->ev[i].count * catalog_default()->types[o->ev[i].type].vcpus;
  return v;
}

static void test_best_fit(void) {
  TEST("BEST_FIT: the single cheapest fitting type, many of it");
  struct prov_outbox o;
  prov_outbox_init(&o);
  struct prov *p = plan("EC2", "[\"optimal\"]", "BEST_FIT", 256, 1, 1024, 0, 8, &o);
  expect_one_launch(p, &o, "c6i.large", 4); /* 2 jobs per c6i.large (2 vCPUs) */
  struct prov_out *d = nth(&o, PROV_OUT_DECISION, 0);
  CHECK_STR(decision_reason(d), "RUNNABLE_DEMAND");
  CHECK_INT(decision_int(d, "fromDesiredvCpus"), 0);
  CHECK_INT(decision_int(d, "toDesiredvCpus"), 8);
  CHECK(json_array_size(json_object_get(d->ev, "launches")) == 1, "one launch entry");
  CHECK(strstr(json_string_value(json_object_get(d->ev, "detail")), "8 RUNNABLE job") != NULL, "detail says why: %s",
        json_string_value(json_object_get(d->ev, "detail")));
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_best_fit_waits(void) {
  TEST("BEST_FIT: waits for an unobtainable type rather than switching");
  struct prov_outbox o, o2, o3;
  prov_outbox_init(&o);
  prov_outbox_init(&o2);
  prov_outbox_init(&o3);
  struct prov *p = plan("EC2", "[\"optimal\"]", "BEST_FIT", 256, 1, 1024, 0, 8, &o);
  struct prov_out *l = nth(&o, PROV_OUT_LAUNCH, 0);
  CHECK(l != NULL, "a launch");
  prov_launch_result(p, l->req, "sim", NULL, 0, "InsufficientInstanceCapacity", 3000, &o2);
  CHECK_INT(count_instance_kind(&o2, "LAUNCH_FAILED"), 1);
  prov_tick(p, 5000, &o2);
  prov_tick(p, 30000, &o2);
  CHECK_INT(count_kind(&o2, PROV_OUT_LAUNCH), 0);
  prov_tick(p, 3000 + 60000, &o3); /* the type is obtainable again */
  CHECK_INT(count_kind(&o3, PROV_OUT_LAUNCH), 1);
  CHECK_STR(launch_type(p, &o3, 0), "c6i.large");
  prov_outbox_release(&o);
  prov_outbox_release(&o2);
  prov_outbox_release(&o3);
  prov_free(p);
}

static void test_best_fit_progressive(void) {
  TEST("BEST_FIT_PROGRESSIVE: lowest price per vCPU, sized to the demand; next type when unobtainable");
  struct prov_outbox o, o2;
  prov_outbox_init(&o);
  prov_outbox_init(&o2);
  struct prov *p = plan("EC2", "[\"optimal\"]", "BEST_FIT_PROGRESSIVE", 256, 1, 1024, 0, 8, &o);
  expect_one_launch(p, &o, "c6i.2xlarge", 1);
  struct prov_out *l = nth(&o, PROV_OUT_LAUNCH, 0);
  CHECK_INT(l->spot, 0);
  /* tests/e2e/test_prov_sim_scale_up_run_down.py asserts this same decision end to end */
  struct prov_out *d = nth(&o, PROV_OUT_DECISION, 0);
  CHECK_STR(decision_reason(d), "RUNNABLE_DEMAND");
  CHECK_INT(decision_int(d, "fromDesiredvCpus"), 0);
  CHECK_INT(decision_int(d, "toDesiredvCpus"), 8);
  prov_launch_result(p, l->req, "sim", NULL, 0, "InsufficientInstanceCapacity", 3000, &o2);
  prov_tick(p, 4500, &o2);
  expect_one_launch(p, &o2, "c6i.xlarge", 2);
  prov_outbox_release(&o);
  prov_outbox_release(&o2);
  prov_free(p);
}

static void test_memory_bound(void) {
  TEST("BEST_FIT_PROGRESSIVE: a memory-bound job gets a memory type, not a large compute type");
  struct prov_outbox o;
  prov_outbox_init(&o);
  struct prov *p = plan("EC2", "[\"optimal\"]", "BEST_FIT_PROGRESSIVE", 256, 1, 30000, 0, 2, &o);
  CHECK_STR(launch_type(p, &o, 0), "r6i.2xlarge"); /* same price per job as 2 x r6i.xlarge, one instance */
  CHECK_INT(launch_count(&o, 0), 1);
  prov_outbox_release(&o);
  prov_free(p);
  TEST("a job asking for a type's full nominal memory needs a larger type (agent reserve)");
  prov_outbox_init(&o);
  p = plan("EC2", "[\"c5.large\", \"c5.xlarge\"]", "BEST_FIT_PROGRESSIVE", 256, 1, 4096, 0, 1, &o);
  CHECK_STR(launch_type(p, &o, 0), "c5.xlarge");
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_ordered(void) {
  TEST("BEST_FIT_PROGRESSIVE_ORDERED: instanceTypes order first");
  struct prov_outbox o;
  prov_outbox_init(&o);
  struct prov *p = plan("EC2", "[\"m5.large\", \"c5\"]", "BEST_FIT_PROGRESSIVE_ORDERED", 256, 1, 1024, 0, 6, &o);
  expect_one_launch(p, &o, "m5.large", 3);
  prov_outbox_release(&o);
  prov_free(p);
}

/* plan() of 6 jobs of 1 vCPU and 1024 MiB on a SPOT CE of 0-256 vCPUs over c5, m5 and r5 with
 * strategy; checks that it launches. */
static struct prov *plan_c5_m5_r5(const char *strategy, struct prov_outbox *o) {
  prov_outbox_init(o);
  struct prov *p = plan("SPOT", "[\"c5\", \"m5\", \"r5\"]", strategy, 256, 1, 1024, 0, 6, o);
  CHECK(count_kind(o, PROV_OUT_LAUNCH) >= 1, "launches");
  return p;
}

/* Every launch in o is of the given family at an interruption rank of 0 to max_rank; why names the
 * expectation in the failure message. */
static void expect_launch_family(const struct prov *p, const struct prov_outbox *o, const char *family, int max_rank,
                                 const char *why) {
  for (size_t i = 0; i < count_kind(o, PROV_OUT_LAUNCH); i++) {
    const struct catalog_type *t = catalog_find(catalog_default(), launch_type(p, o, i));
    CHECK(t && !strcmp(t->family, family) && t->interrupt_rank >= 0 && t->interrupt_rank <= max_rank, "%s, got %s",
          why, t ? t->name : "?");
  }
}

static void test_spot_capacity_optimized(void) {
  TEST("SPOT_CAPACITY_OPTIMIZED: lowest interruption rank, then price");
  struct prov_outbox o;
  struct prov *p = plan_c5_m5_r5("SPOT_CAPACITY_OPTIMIZED", &o);
  for (size_t i = 0; i < count_kind(&o, PROV_OUT_LAUNCH); i++) {
    const struct catalog_type *t = catalog_find(catalog_default(), launch_type(p, &o, i));
    CHECK(t && t->interrupt_rank == 0, "rank 0 type, got %s", t ? t->name : "?");
    CHECK(t && !strcmp(t->family, "m5"), "the cheapest rank-0 family is m5, got %s", t ? t->name : "?");
    CHECK_INT(nth(&o, PROV_OUT_LAUNCH, i)->spot, 1);
    CHECK(nth(&o, PROV_OUT_LAUNCH, i)->max_price > 0, "a spot price ceiling");
  }
  CHECK_INT(launched_vcpus(&o), 6);
  struct prov_out *d = nth(&o, PROV_OUT_DECISION, 0);
  json_t *l0 = json_array_get(json_object_get(d->ev, "launches"), 0);
  CHECK_STR(json_string_value(json_object_get(l0, "lifecycle")), "SPOT");
  prov_outbox_release(&o);
  prov_free(p);
}

/* SPOT strategies that pick one family: {TEST name, instanceTypes, strategy, family, max rank, why}. */
static void test_spot_family_strategies(void) {
  static const struct {
    const char *test, *types, *strategy, *family;
    int max_rank;
    const char *why;
  } cases[] = {
      {"SPOT_PRICE_CAPACITY_OPTIMIZED: the cheapest pool within one interruption bucket of the best",
       "[\"c5\", \"m5\", \"r5\"]", "SPOT_PRICE_CAPACITY_OPTIMIZED", "c5", 1, "c5 (cheapest, rank 1)"},
      {"SPOT_CAPACITY_OPTIMIZED_PRIORITIZED: rank, then list order", "[\"r5\", \"m5\"]",
       "SPOT_CAPACITY_OPTIMIZED_PRIORITIZED", "r5", 0, "r5 rank 0 (listed first)"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    TEST(cases[c].test);
    struct prov_outbox o;
    prov_outbox_init(&o);
    struct prov *p = plan("SPOT", cases[c].types, cases[c].strategy, 256, 1, 1024, 0, 6, &o);
    CHECK(count_kind(&o, PROV_OUT_LAUNCH) >= 1, "launches");
    expect_launch_family(p, &o, cases[c].family, cases[c].max_rank, cases[c].why);
    CHECK_INT(launched_vcpus(&o), 6);
    prov_outbox_release(&o);
    prov_free(p);
  }
}

static void test_bid_percentage(void) {
  TEST("SPOT bidPercentage: pools priced above the ceiling are not used");
  struct prov_outbox o;
  prov_outbox_init(&o);
  struct prov *p = new_core();
  json_t *ce = ce_ev("ce", "ENABLED", "SPOT", 0, 256, "[\"c5\", \"m5\", \"r5\"]", "SPOT_CAPACITY_OPTIMIZED", 1000);
  json_object_set_new(json_object_get(json_object_get(json_object_get(ce, "body"), "ComputeEnvironment"), "computeResources"),
                      "bidPercentage", json_integer(35));
  feed_config(p, ce, &o);
  feed_demand(p, demand_ev("ce", "[{\"vcpus\":1,\"memoryMib\":1024,\"gpus\":0,\"count\":6}]", "[]", 1000), &o);
  prov_tick(p, 3000, &o);
  CHECK(count_kind(&o, PROV_OUT_LAUNCH) >= 1, "launches");
  for (size_t i = 0; i < count_kind(&o, PROV_OUT_LAUNCH); i++) {
    const struct catalog_type *t = catalog_find(catalog_default(), launch_type(p, &o, i));
    CHECK(t && !strcmp(t->family, "r5"), "only r5 spot is under 35%% of on-demand, got %s", t ? t->name : "?");
    CHECK(nth(&o, PROV_OUT_LAUNCH, i)->max_price <= t->od_price * 0.35 + 1e-9, "ceiling is 35%% of on-demand");
  }
  prov_outbox_release(&o);
  prov_free(p);
}

static size_t count_launch_failed(const struct prov_outbox *o) {
  size_t n = 0;
  for (size_t i = 0; i < count_kind(o, PROV_OUT_INSTANCE); i++)
    n += !strcmp(json_string_value(json_object_get(nth(o, PROV_OUT_INSTANCE, i)->ev, "kind")), "LAUNCH_FAILED");
  return n;
}

static void test_bid_below_every_pool(void) {
  TEST("SPOT bidPercentage below every pool's price: no launch, and it is said once per change");
  struct prov_outbox o;
  prov_outbox_init(&o);
  struct prov *p = new_core();
  json_t *ce = ce_ev("ce", "ENABLED", "SPOT", 0, 256, "[\"c5\", \"m5\"]", "SPOT_CAPACITY_OPTIMIZED", 1000);
  json_t *cr = json_object_get(json_object_get(json_object_get(ce, "body"), "ComputeEnvironment"), "computeResources");
  json_object_set_new(cr, "bidPercentage", json_integer(5));
  json_t *again = json_deep_copy(ce);
  feed_config(p, ce, &o);
  feed_demand(p, demand_ev("ce", "[{\"vcpus\":1,\"memoryMib\":1024,\"gpus\":0,\"count\":6}]", "[]", 1000), &o);
  prov_tick(p, 3000, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 0);
  CHECK_INT(count_launch_failed(&o), 1);
  const json_t *ev = nth(&o, PROV_OUT_INSTANCE, 0) ? nth(&o, PROV_OUT_INSTANCE, 0)->ev : NULL;
  const char *why = json_string_value(json_object_get(ev, "reason"));
  CHECK(why && strstr(why, "SpotMaxPriceTooLow") && strstr(why, "bidPercentage 5 "), "reason: %s", why ? why : "(none)");
  const char *type = json_string_value(json_object_get(ev, "instanceType"));
  const struct catalog_type *t = type ? catalog_find(catalog_default(), type) : NULL;
  CHECK(t && (!strcmp(t->family, "c5") || !strcmp(t->family, "m5")) && t->spot_price > t->od_price * 0.05,
        "the cheapest allowed pool, above the bid: %s", type ? type : "(none)");
  /* the jobs still wait: said once, not at every evaluation */
  feed_demand(p, demand_ev("ce", "[{\"vcpus\":1,\"memoryMib\":1024,\"gpus\":0,\"count\":7}]", "[]", 4000), &o);
  prov_tick(p, 6000, &o);
  CHECK_INT(count_launch_failed(&o), 1);
  CHECK_INT(count_kind(&o, PROV_OUT_DECISION), 0);
  /* a change of the CE says it again if it still holds */
  feed_config(p, again, &o);
  feed_demand(p, demand_ev("ce", "[{\"vcpus\":1,\"memoryMib\":1024,\"gpus\":0,\"count\":7}]", "[]", 7000), &o);
  prov_tick(p, 9000, &o);
  CHECK_INT(count_launch_failed(&o), 2);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 0);
  prov_outbox_release(&o);
  prov_free(p);
}

static void test_gpu_and_unfit(void) {
  TEST("GPU jobs get a GPU type; a job no type holds launches nothing");
  struct prov_outbox o;
  prov_outbox_init(&o);
  struct prov *p = plan("EC2", "[\"g4dn\"]", "BEST_FIT_PROGRESSIVE", 256, 4, 8000, 1, 1, &o);
  CHECK_STR(launch_type(p, &o, 0), "g4dn.xlarge");
  prov_outbox_release(&o);
  prov_free(p);
  prov_outbox_init(&o);
  p = plan("EC2", "[\"optimal\"]", "BEST_FIT_PROGRESSIVE", 100000, 1000, 1024, 0, 3, &o);
  CHECK_INT(count_kind(&o, PROV_OUT_LAUNCH), 0);
  CHECK_INT(count_kind(&o, PROV_OUT_DECISION), 0);
  prov_outbox_release(&o);
  prov_free(p);
}

int main(void) {
  test_best_fit();
  test_best_fit_waits();
  test_best_fit_progressive();
  test_memory_bound();
  test_ordered();
  test_spot_capacity_optimized();
  test_spot_family_strategies();
  test_gpu_and_unfit();
  test_bid_below_every_pool();
  test_bid_percentage();
  return check_summary();
}
