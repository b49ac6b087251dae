/* test_sched_gang.c: multi-node parallel jobs in the pure scheduler core (scheduler/sched_gang.c,
 * docs/job-model.md "Multi-node parallel jobs"): gang placement whole or not at all, one
 * instance per node, the nodes' environment, the main node deciding, terminate and cancel, the
 * JobDetail members and a rebuild from the records. No Kafka. */
#include "jsonget.h"
#include "sched_harness.h"

/* A multinode definition "mnp": n nodes, main node 0; node 0 of 1 vCPU, the others of v. */
static void mnp_jd(struct h *h, int n, int v) {
  char np[600], extra[900];
  snprintf(np, sizeof np,
           "{\"numNodes\":%d,\"mainNode\":0,\"nodeRangeProperties\":["
           "{\"targetNodes\":\"0:0\",\"container\":{\"image\":\"busybox\",\"command\":[\"main\"],"
           "\"resourceRequirements\":[{\"type\":\"VCPU\",\"value\":\"1\"},{\"type\":\"MEMORY\",\"value\":\"64\"}]}},"
           "{\"targetNodes\":\"1:\",\"container\":{\"image\":\"busybox\",\"command\":[\"worker\"],\"user\":\"nobody\","
           "\"resourceRequirements\":[{\"type\":\"VCPU\",\"value\":\"%d\"},{\"type\":\"MEMORY\",\"value\":\"64\"}]}}]}",
           n, v);
  json_t *x = json_pack("{s:s, s:s}", "type", "multinode", "nodePropertiesJson", np);
  char *text = json_dumps(x, JSON_COMPACT);
  snprintf(extra, sizeof extra, "%s", text);
  free(text);
  json_decref(x);
  h_jd(h, "mnp", 1, 1, 64, extra);
}

static void ready(struct h *h, const char *id, int v, const char *addr) {
  h_feed(h, BARGE_EV_INSTANCE_EVENT,
         json_pack("{s:o, s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:I}", "header", h_header(h->t), "instanceId", id,
                   "computeEnvironment", "ce", "kind", "READY", "vcpus", v, "memoryMib", 4096, "gpus", 0,
                   "privateIpv4Address", addr, "at", (json_int_t)h->t));
}

static void world(struct h *h) {
  h_init(h);
  h_ce(h, "ce", 0, 0);
  h_queue(h, "q", 10, NULL, "ce", NULL);
  h_jd(h, "small", 1, 1, 64, NULL);
  mnp_jd(h, 3, 1);
}

/* The environment of the last placement of job id in h's log, as name -> value. */
static json_t *placed_env(struct h *h, const char *id) {
  json_t *env = NULL;
  size_t i;
  json_t *e;
  json_array_foreach(h->log, i, e) {
    if (jget_int(e, "kind", -1) != OUT_PLACEMENT) continue;
    json_t *p = json_object_get(json_object_get(json_object_get(e, "value"), "body"), "Placement");
    if (!p || strcmp(jget_str(p, "jobId"), id)) continue;
    json_decref(env);
    env = json_object();
    size_t k;
    json_t *kv;
    json_array_foreach(json_object_get(p, "environment"), k, kv)
        json_object_set_new(env, jget_str(kv, "name"), json_string(jget_str(kv, "value")));
  }
  return env;
}

static void test_gang_whole_or_none(void) {
  TEST("a gang of 3 on 2 instances waits holding nothing while a small job runs; a third instance places it whole, one node per instance");
  struct h h;
  world(&h);
  h.log = json_array();
  ready(&h, "i-0", 2, "10.0.0.10");
  ready(&h, "i-1", 2, "10.0.0.11");
  h_submit(&h, "g", "q", "mnp", NULL);
  h_tick(&h);
  CHECK_STATUS(&h, "g", JOB_RUNNABLE);
  for (int i = 0; i < 3; i++) {
    char id[16];
    snprintf(id, sizeof id, "g#%d", i);
    CHECK_STATUS(&h, id, JOB_PENDING);
  }
  CHECK_INT(h.outputs[OUT_PLACEMENT], 0);
  h_submit(&h, "s1", "q", "small", NULL);
  h_submit(&h, "s2", "q", "small", NULL);
  h_submit(&h, "s3", "q", "small", NULL);
  h_submit(&h, "s4", "q", "small", NULL);
  h_tick(&h);
  /* all four vCPUs go to the small jobs: the waiting gang held none of them */
  CHECK_STATUS(&h, "s1", JOB_STARTING);
  CHECK_STATUS(&h, "s4", JOB_STARTING);
  CHECK_STATUS(&h, "g", JOB_RUNNABLE);
  CHECK_INT(h.outputs[OUT_PLACEMENT], 4);
  for (int i = 1; i <= 4; i++) { /* the small jobs end: 4 free vCPUs, but only 2 instances */
    char id[16], inst[64];
    snprintf(id, sizeof id, "s%d", i);
    h_instance_of(&h, id, inst, sizeof inst);
    h_exec(&h, id, 1, inst, "EXITED", 0, NULL);
  }
  h_tick(&h);
  CHECK_STATUS(&h, "g", JOB_RUNNABLE);
  CHECK_INT(h.outputs[OUT_PLACEMENT], 4);
  ready(&h, "i-2", 2, "10.0.0.12");
  h_tick(&h);
  CHECK_STATUS(&h, "g", JOB_STARTING);
  char seen[3][64];
  for (int i = 0; i < 3; i++) {
    char id[16];
    snprintf(id, sizeof id, "g#%d", i);
    CHECK_STATUS(&h, id, JOB_STARTING);
    h_instance_of(&h, id, seen[i], sizeof seen[i]);
  }
  CHECK(strcmp(seen[0], seen[1]) && strcmp(seen[0], seen[2]) && strcmp(seen[1], seen[2]),
        "three distinct instances: %s %s %s", seen[0], seen[1], seen[2]);
  json_t *env = placed_env(&h, "g#2");
  CHECK_STR(jget_str(env, "AWS_BATCH_JOB_NODE_INDEX"), "2");
  CHECK_STR(jget_str(env, "AWS_BATCH_JOB_NUM_NODES"), "3");
  CHECK_STR(jget_str(env, "AWS_BATCH_JOB_MAIN_NODE_INDEX"), "0");
  char want[32];
  snprintf(want, sizeof want, "10.0.0.1%c", seen[0][2]);
  CHECK_STR(jget_str(env, "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"), want);
  CHECK_STR(jget_str(env, "AWS_BATCH_JOB_ID"), "g#2");
  json_decref(env);
  env = placed_env(&h, "g#0");
  CHECK(env && !json_object_get(env, "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"),
        "the main node is not given its own address (as in AWS Batch)");
  json_decref(env);
  h_release(&h);
}

static void test_gang_needs_distinct_instances(void) {
  TEST("a gang of 3 never doubles up on an instance, even when one instance has the vCPUs for all");
  struct h h;
  world(&h);
  ready(&h, "i-0", 8, "10.0.0.10");
  ready(&h, "i-1", 8, "10.0.0.11");
  h_submit(&h, "g", "q", "mnp", NULL);
  h_tick(&h);
  CHECK_STATUS(&h, "g", JOB_RUNNABLE);
  CHECK_INT(h.outputs[OUT_PLACEMENT], 0);
  h_release(&h);
}

/* A placed gang g of 3 on i-0..i-2, every node RUNNING. */
static void running_gang(struct h *h) {
  world(h);
  ready(h, "i-0", 2, "10.0.0.10");
  ready(h, "i-1", 2, "10.0.0.11");
  ready(h, "i-2", 2, "10.0.0.12");
  h_submit(h, "g", "q", "mnp", NULL);
  h_tick(h);
  for (int i = 0; i < 3; i++) {
    char id[16], inst[64];
    snprintf(id, sizeof id, "g#%d", i);
    h_instance_of(h, id, inst, sizeof inst);
    h_exec(h, id, 1, inst, "STARTED", -9999, NULL);
  }
}

static void node_exits(struct h *h, int i, const char *kind, int code) {
  char id[16], inst[64];
  snprintf(id, sizeof id, "g#%d", i);
  h_instance_of(h, id, inst, sizeof inst);
  h_exec(h, id, 1, inst, kind, code, NULL);
}

static void test_main_node_decides(void) {
  TEST("the main node's start and exit decide the job; a failed worker does not; the others are stopped");
  struct h h;
  running_gang(&h);
  CHECK_STATUS(&h, "g", JOB_RUNNING);
  node_exits(&h, 2, "EXITED", 3);
  CHECK_STATUS(&h, "g#2", JOB_FAILED);
  CHECK_STATUS(&h, "g", JOB_RUNNING);
  int kills = h.outputs[OUT_KILL];
  node_exits(&h, 0, "EXITED", 0);
  CHECK_STATUS(&h, "g", JOB_SUCCEEDED);
  CHECK_INT(h.outputs[OUT_KILL], kills + 1); /* g#1 still ran */
  CHECK_STATUS(&h, "g#1", JOB_RUNNING);
  node_exits(&h, 1, "KILLED", 143);
  CHECK_STATUS(&h, "g#1", JOB_FAILED);
  CHECK_STATUS(&h, "g", JOB_SUCCEEDED);
  json_t *d = h_detail(&h, "g");
  CHECK(!json_object_get(d, "container"), "a multi-node parent shows no container");
  CHECK_INT(jget_int(json_object_get(d, "nodeProperties"), "numNodes", 0), 3);
  CHECK_INT(jget_int(json_object_get(d, "nodeProperties"), "mainNode", -1), 0);
  json_decref(d);
  d = h_detail(&h, "g#1");
  CHECK_INT(jget_int(json_object_get(d, "nodeDetails"), "nodeIndex", -1), 1);
  CHECK(json_is_false(json_object_get(json_object_get(d, "nodeDetails"), "isMainNode")), "g#1 is not the main node");
  CHECK_STR(jget_str(json_object_get(d, "container"), "image"), "busybox");
  CHECK_STR(json_string_value(json_array_get(json_object_get(json_object_get(d, "container"), "command"), 0)), "worker");
  CHECK(strstr(jget_str(json_object_get(d, "container"), "storedJson"), "nobody") != NULL, "the range's other members travel");
  CHECK(!json_object_get(d, "arrayProperties"), "a node is no array child");
  json_decref(d);
  h_release(&h);

  running_gang(&h);
  node_exits(&h, 0, "EXITED", 7);
  CHECK_STATUS(&h, "g", JOB_FAILED);
  d = h_detail(&h, "g");
  CHECK_STR(jget_str(d, "statusReason"), "Essential container in task exited");
  json_decref(d);
  CHECK_INT(h.outputs[OUT_KILL], 2);
  h_release(&h);
}

static void test_terminate_and_cancel(void) {
  TEST("terminate of a running gang stops every node; cancel of a waiting one fails its nodes");
  struct h h;
  running_gang(&h);
  h_stop(&h, "TerminateJob", "g", "enough");
  CHECK_INT(h.outputs[OUT_KILL], 3);
  CHECK_STATUS(&h, "g", JOB_RUNNING);
  node_exits(&h, 1, "KILLED", 143);
  node_exits(&h, 0, "KILLED", 143);
  CHECK_STATUS(&h, "g", JOB_FAILED);
  char why[256];
  CHECK_STR(h_reason(&h, "g", why, sizeof why), "Terminated: enough");
  h_release(&h);

  world(&h);
  ready(&h, "i-0", 2, "10.0.0.10");
  h_submit(&h, "g", "q", "mnp", NULL);
  h_tick(&h);
  h_stop(&h, "CancelJob", "g", "no room");
  CHECK_STATUS(&h, "g", JOB_FAILED);
  CHECK_STATUS(&h, "g#0", JOB_FAILED);
  CHECK_STATUS(&h, "g#2", JOB_FAILED);
  h_release(&h);
}

static void test_node_overrides(void) {
  TEST("nodeOverrides: numNodes grows the open range, a node's container overridden, the gang needs one instance more");
  struct h h;
  world(&h);
  ready(&h, "i-0", 2, "10.0.0.10");
  ready(&h, "i-1", 2, "10.0.0.11");
  ready(&h, "i-2", 2, "10.0.0.12");
  h_submit(&h, "g", "q", "mnp",
           "{\"nodeOverrides\":{\"numNodes\":4,\"nodePropertyOverrides\":[{\"targetNodes\":\"3:\",\"containerOverrides\":"
           "{\"command\":[\"special\"],\"environment\":[{\"name\":\"X\",\"value\":\"1\"}]}}]}}");
  h_tick(&h);
  CHECK_STATUS(&h, "g", JOB_RUNNABLE);
  CHECK_STATUS(&h, "g#3", JOB_PENDING);
  CHECK(h_status(&h, "g#4") == JOB__COUNT, "no fifth node");
  json_t *d = h_detail(&h, "g");
  CHECK_INT(jget_int(json_object_get(d, "nodeProperties"), "numNodes", 0), 4);
  json_decref(d);
  d = h_detail(&h, "g#3");
  json_t *c = json_object_get(d, "container");
  CHECK_STR(json_string_value(json_array_get(json_object_get(c, "command"), 0)), "special");
  CHECK_STR(jget_str(json_array_get(json_object_get(c, "environment"), 0), "name"), "X");
  json_decref(d);
  d = h_detail(&h, "g#2");
  CHECK_STR(json_string_value(json_array_get(json_object_get(json_object_get(d, "container"), "command"), 0)), "worker");
  json_decref(d);
  ready(&h, "i-3", 2, "10.0.0.13");
  h_tick(&h);
  CHECK_STATUS(&h, "g", JOB_STARTING);
  CHECK_STATUS(&h, "g#3", JOB_STARTING);
  h_release(&h);
}

static void test_demand_per_instance(void) {
  TEST("a waiting gang asks a managed CE for one instance per node (CapacityDemand perInstance)");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 1, 64);
  h_queue(&h, "q", 10, NULL, "ce", NULL);
  mnp_jd(&h, 3, 1);
  h.log = json_array();
  h_submit(&h, "g", "q", "mnp", NULL);
  h_tick(&h);
  json_t *shapes = NULL;
  size_t i;
  json_t *e;
  json_array_foreach(h.log, i, e) if (jget_int(e, "kind", -1) == OUT_CAPACITY)
      shapes = json_object_get(json_object_get(e, "value"), "shapes");
  json_t *sh = json_array_get(shapes, 0);
  CHECK(json_array_size(shapes) == 1 && jget_int(sh, "count", 0) == 3 && json_is_true(json_object_get(sh, "perInstance")),
        "one shape of 3 nodes, one per instance");
  h_release(&h);
}

static void test_restore(void) {
  TEST("rebuilt from the records, a running gang keeps its nodes, and the main node still decides");
  struct h h;
  running_gang(&h);
  struct h r;
  h_init(&r);
  r.t = h.t;
  h_ce(&r, "ce", 0, 0);
  h_queue(&r, "q", 10, NULL, "ce", NULL);
  h_jd(&r, "small", 1, 1, 64, NULL);
  mnp_jd(&r, 3, 1);
  ready(&r, "i-0", 2, "10.0.0.10");
  ready(&r, "i-1", 2, "10.0.0.11");
  ready(&r, "i-2", 2, "10.0.0.12");
  char err[256];
  for (size_t i = 0; i < sched_job_count(h.s); i++) {
    json_t *rec = sched_job_record(h.s, (uint32_t)i, "test", h.t);
    CHECK(sched_restore_job(r.s, rec, err, sizeof err) == 0, "%s", err);
    json_decref(rec);
  }
  sched_restore_done(r.s);
  CHECK_STATUS(&r, "g", JOB_RUNNING);
  CHECK_STATUS(&r, "g#1", JOB_RUNNING);
  node_exits(&r, 0, "EXITED", 0);
  CHECK_STATUS(&r, "g", JOB_SUCCEEDED);
  CHECK_INT(r.outputs[OUT_KILL], 2);
  h_release(&r);
  h_release(&h);
}

int main(void) {
  test_gang_whole_or_none();
  test_gang_needs_distinct_instances();
  test_main_node_decides();
  test_terminate_and_cancel();
  test_node_overrides();
  test_demand_per_instance();
  test_restore();
  return check_summary();
}
