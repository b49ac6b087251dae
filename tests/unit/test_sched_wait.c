/* test_sched_wait.c: why a job is not placed (docs/job-model.md §3.5 and §3.7), on the pure
 * core: AWS's blocking codes in AWS's wording, Barge's WAITING:... reasons for a queue head, a
 * head reservation, a fair-share wait and dependencies, and the JobWait written only when the
 * reason changes (never once per tick). */
#include "sched_harness.h"
#include "jsonget.h"

static const char *reason(struct h *h, const char *id) {
  static char r[1024];
  return h_reason(h, id, r, sizeof r);
}

static int starts(const char *s, const char *prefix) { return s && !strncmp(s, prefix, strlen(prefix)); }

static void test_codes_worded_at_once(void) {
  TEST("MISCONFIGURATION codes carry AWS's wording, are set by the event that made the job RUNNABLE (no tick) and go out as one JobWait");
  struct h h;
  h_init(&h);
  h.log = json_array();
  h_ce(&h, "m", 1, 4);
  h_queue(&h, "q", 1, NULL, "m", NULL);
  h_jd(&h, "big", 1, 8, 1024, NULL);
  h_submit(&h, "a", "q", "big", NULL);
  CHECK_STATUS(&h, "a", JOB_RUNNABLE);
  CHECK_STR(reason(&h, "a"), "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE(s) associated with the job queue cannot meet the CPU requirement of the job.");
  json_t *w = h_last_wait(&h, "a");
  CHECK(w != NULL, "a JobWait for a");
  CHECK_STR(json_string_value(json_object_get(w, "code")), "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE");
  CHECK_STR(json_string_value(json_object_get(w, "computeEnvironment")), "m");
  CHECK(strstr(json_string_value(json_object_get(w, "detail")), "needs 8 vCPUs") != NULL, "detail: %s",
        json_string_value(json_object_get(w, "detail")));
  int waits = h.outputs[OUT_WAIT], records = h.outputs[OUT_JOB_RECORD];
  for (int i = 0; i < 5; i++) {
    h.t += 1000;
    h_tick(&h);
  }
  CHECK_INT(h.outputs[OUT_WAIT], waits);
  CHECK_INT(h.outputs[OUT_JOB_RECORD], records);
  h_release(&h);
}

static void test_capacity_wording_and_time_limit(void) {
  TEST("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY names the refused instance type; the time-limit action matches the bare code");
  struct h h;
  h_init(&h);
  h.log = json_array();
  h_ce(&h, "m", 1, 64);
  h_queue(&h, "q", 1, "{\"jobStateTimeLimitActions\": [{\"reason\": \"CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY\", \"state\": \"RUNNABLE\", \"maxTimeSeconds\": 600, \"action\": \"CANCEL\"}]}", "m", NULL);
  h_jd(&h, "jd", 1, 2, 1024, NULL);
  h_submit(&h, "a", "q", "jd", NULL);
  h_feed(&h, BARGE_EV_INSTANCE_EVENT,
         json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:I}", "header", h_header(h.t), "instanceId", "",
                   "computeEnvironment", "m", "kind", "LAUNCH_FAILED", "instanceType", "m5.large", "vcpus", 2,
                   "memoryMib", 8192, "reason", "1 of 1 x m5.large not launched: InsufficientInstanceCapacity",
                   "at", (json_int_t)h.t));
  CHECK_STR(reason(&h, "a"), "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type m5.large");
  json_t *w = h_last_wait(&h, "a");
  CHECK(w && strstr(json_string_value(json_object_get(w, "detail")), "InsufficientInstanceCapacity"), "the JobWait says what the provider answered");
  h.t += 601000;
  h_tick(&h);
  CHECK_STATUS(&h, "a", JOB_FAILED);
  CHECK_STR(reason(&h, "a"), "Cancelled: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY");
  h_release(&h);
}

static void test_full_ce_capacity_wait(void) {
  TEST("a head behind a full CE: WAITING:CAPACITY at the next tick, naming the CE, its maxvCpus and the instance that lacked room; once only; cleared when placed");
  struct h h;
  h_init(&h);
  h.log = json_array();
  h_ce(&h, "m", 1, 2);
  h_queue(&h, "q", 1, NULL, "m", NULL);
  h_jd(&h, "jd", 1, 2, 512, NULL);
  h_instance(&h, "i-0", "m", "READY", 2, 4096);
  h_submit(&h, "a", "q", "jd", NULL);
  h_submit(&h, "b", "q", "jd", NULL);
  CHECK_STATUS(&h, "a", JOB_STARTING);
  CHECK_STR(reason(&h, "b"), ""); /* judged at ticks only */
  h_tick(&h);
  CHECK_STR(reason(&h, "b"), "WAITING:CAPACITY - no instance of compute environment m has 2 vCPUs, 512 MiB and 0 GPUs free; at its maxvCpus: m (maxvCpus 2)");
  json_t *w = h_last_wait(&h, "b");
  CHECK(w != NULL, "a JobWait for b");
  CHECK_STR(json_string_value(json_object_get(w, "code")), "WAITING:CAPACITY");
  CHECK_STR(json_string_value(json_object_get(w, "instanceId")), "i-0");
  CHECK(starts(json_string_value(json_object_get(w, "detail")), "instance i-0 has 0 of 2 vCPUs"), "detail: %s",
        json_string_value(json_object_get(w, "detail")));
  int waits = h.outputs[OUT_WAIT], records = h.outputs[OUT_JOB_RECORD];
  for (int i = 0; i < 5; i++) {
    h.t += 1000;
    h_instance(&h, "i-0", "m", "HEARTBEAT", 2, 4096);
    h_tick(&h);
  }
  CHECK_INT(h.outputs[OUT_WAIT], waits); /* the reason did not change: nothing written */
  CHECK_INT(h.outputs[OUT_JOB_RECORD], records);
  h_exec(&h, "a", 1, "i-0", "STARTED", -9999, NULL);
  h_exec(&h, "a", 1, "i-0", "EXITED", 0, NULL);
  CHECK_STATUS(&h, "b", JOB_STARTING);
  CHECK_STR(reason(&h, "b"), "");
  h_release(&h);
}

static void test_no_instance_yet(void) {
  TEST("a managed CE with no instance yet: WAITING:CAPACITY whose detail says the provisioner is asked");
  struct h h;
  h_init(&h);
  h.log = json_array();
  h_ce(&h, "m", 1, 16);
  h_queue(&h, "q", 1, NULL, "m", NULL);
  h_jd(&h, "jd", 1, 2, 512, NULL);
  h_submit(&h, "a", "q", "jd", NULL);
  h_tick(&h);
  CHECK_STR(reason(&h, "a"), "WAITING:CAPACITY - no instance of compute environment m has 2 vCPUs, 512 MiB and 0 GPUs free");
  json_t *w = h_last_wait(&h, "a");
  CHECK(w && strstr(json_string_value(json_object_get(w, "detail")), "no instance yet"), "detail says no instance yet");
  h_release(&h);
}

static void test_head_reservation_wait(void) {
  TEST("a CE held for another queue's head: WAITING:HEAD_RESERVATION naming the CE, the job ahead and its queue");
  struct h h;
  h_init(&h);
  h.log = json_array();
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "hi", 10, NULL, "ce", NULL);
  h_queue(&h, "lo", 1, NULL, "ce", NULL);
  h_jd(&h, "small", 1, 1, 64, NULL);
  h_jd(&h, "big", 1, 4, 64, NULL);
  h_instance(&h, "i-0", "ce", "READY", 4, 4096);
  h_submit(&h, "s0", "lo", "small", NULL);
  h_submit(&h, "B", "hi", "big", NULL);
  CHECK_STATUS(&h, "B", JOB_RUNNABLE);
  for (int sec = 0; sec < 31; sec++) {
    h.t += 10000;
    h_instance(&h, "i-0", "ce", "HEARTBEAT", 4, 4096);
  }
  h_tick(&h); /* B has waited 310 s: the CE is held for it */
  h_submit(&h, "s2", "lo", "small", NULL);
  h.t += 1000;
  h_instance(&h, "i-0", "ce", "HEARTBEAT", 4, 4096);
  h_tick(&h);
  CHECK_STATUS(&h, "s2", JOB_RUNNABLE);
  CHECK_STR(reason(&h, "s2"), "WAITING:HEAD_RESERVATION - compute environment ce is held for job B, the head of queue hi");
  json_t *w = h_last_wait(&h, "s2");
  CHECK_STR(json_string_value(json_object_get(w, "aheadJobId")), "B");
  CHECK(starts(reason(&h, "B"), "WAITING:CAPACITY - no instance of compute environment ce has 4 vCPUs"), "B: %s", reason(&h, "B"));
  h_release(&h);
}

static void test_fair_share_wait(void) {
  TEST("fair share: the share that used more waits with WAITING:FAIR_SHARE naming the share that goes first; usage in the JobWait");
  struct h h;
  h_init(&h);
  h.log = json_array();
  h_ce(&h, "ce", 0, 0);
  char *pol = "{\"name\": \"fs\", \"arn\": \"" ARN "scheduling-policy/fs\", \"fairsharePolicy\": {\"shareDecaySeconds\": 0}}";
  h_feed(&h, BARGE_EV_CONFIG_RECORD, h_config(&h, "SchedulingPolicy", json_loads(pol, 0, NULL)));
  h_queue(&h, "q", 1, "{\"schedulingPolicyArn\": \"" ARN "scheduling-policy/fs\"}", "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, NULL);
  h_instance(&h, "i-0", "ce", "READY", 1, 4096);
  h_submit(&h, "a1", "q", "jd", "{\"shareIdentifier\": \"a\"}");
  CHECK_STATUS(&h, "a1", JOB_STARTING);
  h_submit(&h, "a2", "q", "jd", "{\"shareIdentifier\": \"a\"}");
  h_submit(&h, "b1", "q", "jd", "{\"shareIdentifier\": \"b\"}");
  h_tick(&h);
  CHECK_STR(reason(&h, "a2"), "WAITING:FAIR_SHARE - share a has used more than share b, which goes first in queue q");
  json_t *w = h_last_wait(&h, "a2");
  CHECK_STR(json_string_value(json_object_get(w, "leadingShare")), "b");
  CHECK(json_real_value(json_object_get(w, "shareUsage")) > json_real_value(json_object_get(w, "leadingShareUsage")),
        "share a's usage is above share b's");
  CHECK(starts(reason(&h, "b1"), "WAITING:CAPACITY - no instance of compute environment ce has 1 vCPUs"), "b1: %s", reason(&h, "b1"));
  h_release(&h);
}

static void test_dependency_wait(void) {
  TEST("dependencies: a PENDING job's reason names the job it waits for, and changes (one JobWait) when that one ends");
  struct h h;
  h_init(&h);
  h.log = json_array();
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "q", 1, NULL, "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, NULL);
  h_instance(&h, "i-0", "ce", "READY", 4, 4096);
  h_submit(&h, "a", "q", "jd", NULL);
  h_submit(&h, "b", "q", "jd", NULL);
  h_submit(&h, "c", "q", "jd", "{\"dependsOn\": [{\"jobId\": \"a\"}, {\"jobId\": \"b\"}]}");
  CHECK_STATUS(&h, "c", JOB_PENDING);
  CHECK_STR(reason(&h, "c"), "WAITING:DEPENDENCY - waiting for job a and 1 more");
  h_exec(&h, "a", 1, "i-0", "STARTED", -9999, NULL);
  h_exec(&h, "a", 1, "i-0", "EXITED", 0, NULL);
  CHECK_STR(reason(&h, "c"), "WAITING:DEPENDENCY - waiting for job b");
  json_t *w = h_last_wait(&h, "c");
  CHECK(w != NULL, "a JobWait for c");
  CHECK_STR(json_string_value(json_object_get(w, "status")), "PENDING");
  h_exec(&h, "b", 1, "i-0", "STARTED", -9999, NULL);
  h_exec(&h, "b", 1, "i-0", "EXITED", 0, NULL);
  CHECK_STATUS(&h, "c", JOB_STARTING);
  CHECK_STR(reason(&h, "c"), "");
  h_release(&h);
}

static void test_mixed_queue_unmanaged_without_instance(void) {
  TEST("a queue over a MANAGED CE too small for the job and an UNMANAGED CE with no instance: the job waits for that CE's first agent (as in a single-CE queue), and says so; once its agents are all too small, MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT and the time-limit action fires");
  struct h h;
  h_init(&h);
  h.log = json_array();
  h_ce(&h, "ce-m1", 1, 8);
  h_ce(&h, "ce-u1", 0, 0);
  h_queue(&h, "q3", 1, "{\"jobStateTimeLimitActions\": [{\"reason\": \"MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT\", \"state\": \"RUNNABLE\", \"maxTimeSeconds\": 600, \"action\": \"CANCEL\"}]}",
          "ce-m1", "ce-u1", NULL);
  h_ce(&h, "u", 0, 0);
  h_queue(&h, "qu", 1, NULL, "u", NULL);
  h_jd(&h, "big", 1, 64, 1024, NULL);
  h_submit(&h, "a", "q3", "big", NULL);
  h_submit(&h, "s", "qu", "big", NULL);
  h_tick(&h);
  CHECK_STATUS(&h, "a", JOB_RUNNABLE);
  CHECK_STR(reason(&h, "a"), "WAITING:CAPACITY - no instance of compute environment ce-u1 has 64 vCPUs, 1024 MiB and 0 GPUs free");
  json_t *w = h_last_wait(&h, "a");
  CHECK(w && strstr(json_string_value(json_object_get(w, "detail")), "ce-u1 has no instance yet (no agent has registered with it)"),
        "detail: %s", w ? json_string_value(json_object_get(w, "detail")) : "(no JobWait)");
  CHECK_STR(reason(&h, "s"), "WAITING:CAPACITY - no instance of compute environment u has 64 vCPUs, 1024 MiB and 0 GPUs free");
  h_instance(&h, "i-0", "ce-u1", "READY", 16, 65536); /* the agent that registers is too small */
  CHECK_STR(reason(&h, "a"), "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher than that can be met by the CE(s) attached to the job queue.");
  for (int sec = 10; sec <= 600; sec += 10) {
    h.t += 10000;
    h_instance(&h, "i-0", "ce-u1", "HEARTBEAT", 16, 65536);
  }
  h_tick(&h);
  CHECK_STATUS(&h, "a", JOB_FAILED);
  CHECK_STR(reason(&h, "a"), "Cancelled: MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT");
  h_release(&h);
}

static void test_deleted_unmanaged_ce_does_not_hold_code(void) {
  TEST("a deleted UNMANAGED CE with no instance no longer stands for a CE the job may fit: MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT");
  struct h h;
  h_init(&h);
  h_ce(&h, "u1", 0, 0);
  h_ce(&h, "u2", 0, 0);
  h_queue(&h, "q", 1, NULL, "u2", "u1", NULL);
  h_jd(&h, "big", 1, 64, 1024, NULL);
  h_instance(&h, "i-0", "u2", "READY", 4, 8192);
  h_submit(&h, "a", "q", "big", NULL);
  CHECK(!starts(reason(&h, "a"), "MISCONFIGURATION"), "u1 may still get an agent: %s", reason(&h, "a"));
  h_delete(&h, "compute-environment/u1");
  CHECK_STR(reason(&h, "a"), "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher than that can be met by the CE(s) attached to the job queue.");
  h_release(&h);
}

/* The shapes of the latest CapacityDemand the core wrote for a CE (NULL when none). */
static json_t *last_demand(struct h *h, const char *ce) {
  json_t *shapes = NULL, *e;
  size_t i;
  json_array_foreach(h->log, i, e) {
    json_t *v = json_object_get(e, "value");
    if (jget_int(e, "kind", -1) == OUT_CAPACITY && !strcmp(jget_str(v, "computeEnvironment"), ce))
      shapes = json_object_get(v, "shapes");
  }
  return shapes;
}

static void test_capacity_code_keeps_demand(void) {
  TEST("a job whose launch was refused (CAPACITY code) still asks the provisioner for capacity when the demand is restated");
  struct h h;
  h_init(&h);
  h.log = json_array();
  h_ce(&h, "m", 1, 64);
  h_queue(&h, "q", 1, NULL, "m", NULL);
  h_jd(&h, "jd", 1, 2, 1024, NULL);
  h_submit(&h, "a", "q", "jd", NULL);
  h_tick(&h);
  json_t *d = last_demand(&h, "m");
  CHECK(json_array_size(d) == 1 && jget_int(json_array_get(d, 0), "count", 0) == 1, "a asks for one shape");
  h_feed(&h, BARGE_EV_INSTANCE_EVENT,
         json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:I}", "header", h_header(h.t), "instanceId", "",
                   "computeEnvironment", "m", "kind", "LAUNCH_FAILED", "instanceType", "m5.large", "vcpus", 2,
                   "memoryMib", 8192, "reason", "1 of 1 x m5.large not launched: InsufficientInstanceCapacity",
                   "at", (json_int_t)h.t));
  CHECK(starts(reason(&h, "a"), "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"), "a carries the CAPACITY code");
  /* anything that restates the demand (here a second job; a CE update does too) */
  h.t += 1000;
  h_submit(&h, "b", "q", "jd", NULL);
  h_tick(&h);
  d = last_demand(&h, "m");
  CHECK(json_array_size(d) == 1 && jget_int(json_array_get(d, 0), "count", 0) == 2,
        "both jobs still ask for capacity (the provisioner retries the launch): %s", d ? json_dumps(d, JSON_COMPACT) : "none");
  h_release(&h);
}

/* A MANAGED CE of maxvCpus 64 allowing one instance type of the catalogue. */
static void typed_ce(struct h *h, const char *name, const char *type) {
  char arn[256];
  snprintf(arn, sizeof arn, ARN "compute-environment/%s", name);
  json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:i, s:i, s:[s]}}", "computeEnvironmentName", name,
                        "computeEnvironmentArn", arn, "type", "MANAGED", "state", "ENABLED", "status", "VALID",
                        "computeResources", "type", "EC2", "minvCpus", 0, "maxvCpus", 64, "instanceTypes", type);
  h_feed(h, BARGE_EV_CONFIG_RECORD, h_config(h, "ComputeEnvironment", b));
}

static void test_demand_skips_ce_whose_types_cannot_hold(void) {
  TEST("computeEnvironmentOrder: a job no instance type of the first CE holds asks the next CE that can (demand and WAITING:CAPACITY)");
  struct h h;
  h_init(&h);
  h.log = json_array();
  typed_ce(&h, "small", "c5.large"); /* 2 vCPUs, 4 GiB */
  typed_ce(&h, "big", "r5.large");   /* 2 vCPUs, 16 GiB */
  h_queue(&h, "q", 1, NULL, "small", "big", NULL);
  h_jd(&h, "mem", 1, 1, 8000, NULL);
  h_submit(&h, "a", "q", "mem", NULL);
  CHECK_STR(reason(&h, "a"), ""); /* big can hold it: no blocking code */
  h_tick(&h);
  json_t *d = last_demand(&h, "big");
  CHECK(json_array_size(d) == 1 && jget_int(json_array_get(d, 0), "memoryMib", 0) == 8000 &&
            jget_int(json_array_get(d, 0), "count", 0) == 1,
        "big is asked for the job: %s", d ? json_dumps(d, JSON_COMPACT) : "none");
  d = last_demand(&h, "small");
  CHECK(json_array_size(d) == 0, "small, whose type cannot hold it, is asked for nothing: %s",
        d ? json_dumps(d, JSON_COMPACT) : "none");
  CHECK_STR(reason(&h, "a"), "WAITING:CAPACITY - no instance of compute environment big has 1 vCPUs, 8000 MiB and 0 GPUs free");
  /* an r5.large registers in big: the job runs there */
  h_instance(&h, "i-r", "big", "READY", 2, 16352);
  CHECK_STATUS(&h, "a", JOB_STARTING);
  h_release(&h);
}

static void test_capacity_code_ignores_ce_whose_types_cannot_hold(void) {
  TEST("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY when the only CE whose instance types hold the job refuses its launch (a CE that could never hold it is no candidate)");
  struct h h;
  h_init(&h);
  h.log = json_array();
  typed_ce(&h, "small", "c5.large");
  typed_ce(&h, "big", "r5.large");
  h_queue(&h, "q", 1, NULL, "small", "big", NULL);
  h_jd(&h, "mem", 1, 1, 8000, NULL);
  h_submit(&h, "a", "q", "mem", NULL);
  h_feed(&h, BARGE_EV_INSTANCE_EVENT,
         json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:I}", "header", h_header(h.t), "instanceId", "",
                   "computeEnvironment", "big", "kind", "LAUNCH_FAILED", "instanceType", "r5.large", "vcpus", 2,
                   "memoryMib", 16384, "reason", "1 of 1 x r5.large not launched: InsufficientInstanceCapacity",
                   "at", (json_int_t)h.t));
  CHECK_STR(reason(&h, "a"), "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type r5.large");
  CHECK_STR(jget_str(h_last_wait(&h, "a"), "computeEnvironment"), "big");
  h_release(&h);
}

/* A MANAGED CE of c5.large instances (2 vCPUs) with this maxvCpus. */
static void c5_ce(struct h *h, const char *name, int maxv) {
  char arn[256];
  snprintf(arn, sizeof arn, ARN "compute-environment/%s", name);
  json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:i, s:i, s:[s]}}", "computeEnvironmentName", name,
                        "computeEnvironmentArn", arn, "type", "MANAGED", "state", "ENABLED", "status", "VALID",
                        "computeResources", "type", "EC2", "minvCpus", 0, "maxvCpus", maxv, "instanceTypes", "c5.large");
  h_feed(h, BARGE_EV_CONFIG_RECORD, h_config(h, "ComputeEnvironment", b));
}

static long long demand_count(struct h *h, const char *ce) {
  json_t *d = last_demand(h, ce);
  long long n = 0;
  for (size_t i = 0; i < json_array_size(d); i++) n += jget_int(json_array_get(d, i), "count", 0);
  return n;
}

static void test_demand_overflows_to_next_ce_at_max(void) {
  TEST("computeEnvironmentOrder: jobs beyond the first CE's maxvCpus ask the next CE (Spot first, On-Demand overflow)");
  struct h h;
  h_init(&h);
  h.log = json_array();
  c5_ce(&h, "first", 2);
  c5_ce(&h, "overflow", 8);
  h_queue(&h, "q", 1, NULL, "first", "overflow", NULL);
  h_jd(&h, "one", 1, 1, 256, NULL);
  for (int i = 0; i < 4; i++) {
    char id[8];
    snprintf(id, sizeof id, "j%d", i);
    h_submit(&h, id, "q", "one", NULL);
  }
  h_tick(&h);
  CHECK(demand_count(&h, "first") == 2, "first is asked for what its maxvCpus holds: %lld", demand_count(&h, "first"));
  CHECK(demand_count(&h, "overflow") == 2, "the rest goes to overflow: %lld", demand_count(&h, "overflow"));
  /* first's instance comes: two jobs run there, the other two still ask overflow */
  h.t += 1000;
  h_instance(&h, "i-f", "first", "READY", 2, 3800);
  CHECK_STATUS(&h, "j0", JOB_STARTING);
  CHECK_STATUS(&h, "j1", JOB_STARTING);
  h_tick(&h);
  CHECK(demand_count(&h, "first") == 0, "first is full: %lld", demand_count(&h, "first"));
  CHECK(demand_count(&h, "overflow") == 2, "overflow: %lld", demand_count(&h, "overflow"));
  h.t += 1000;
  h_instance(&h, "i-o", "overflow", "READY", 2, 3800);
  CHECK_STATUS(&h, "j2", JOB_STARTING);
  CHECK_STATUS(&h, "j3", JOB_STARTING);
  h_release(&h);
}

/* The busyInstances of the latest CapacityDemand the core wrote for a CE (NULL when none). */
static json_t *last_busy(struct h *h, const char *ce) {
  json_t *busy = NULL, *e;
  size_t i;
  json_array_foreach(h->log, i, e) {
    json_t *v = json_object_get(e, "value");
    if (jget_int(e, "kind", -1) == OUT_CAPACITY && !strcmp(jget_str(v, "computeEnvironment"), ce))
      busy = json_object_get(v, "busyInstances");
  }
  return busy;
}

static void test_deleted_ce_reports_instance_idle(void) {
  TEST("a MANAGED CE deleted while its instance runs a job: the instance leaving the busy set is still reported, so the provisioner drains it");
  struct h h;
  h_init(&h);
  h.log = json_array();
  h_ce(&h, "m", 1, 4);
  h_queue(&h, "q", 1, NULL, "m", NULL);
  h_jd(&h, "jd", 1, 1, 64, NULL);
  h_instance(&h, "i-0", "m", "READY", 2, 4096);
  h_submit(&h, "a", "q", "jd", NULL);
  CHECK_STATUS(&h, "a", JOB_STARTING);
  h_exec(&h, "a", 1, "i-0", "STARTED", -9999, NULL);
  h_tick(&h);
  json_t *busy = last_busy(&h, "m");
  CHECK(json_array_size(busy) == 1, "i-0 is reported busy");
  /* as a user does it: the queue moves off the CE, the CE is disabled and deleted */
  h.t += 1000;
  h_queue(&h, "q", 1, "{\"state\": \"DISABLED\"}", "m", NULL);
  h_delete(&h, "job-queue/q");
  h_delete(&h, "compute-environment/m");
  h.t += 1000;
  h_exec(&h, "a", 1, "i-0", "EXITED", 0, NULL);
  h_tick(&h);
  busy = last_busy(&h, "m");
  CHECK(busy && json_array_size(busy) == 0, "i-0 is reported idle after the CE's deletion (busy: %zu)",
        json_array_size(busy));
  h_release(&h);
}

int main(void) {
  test_codes_worded_at_once();
  test_capacity_wording_and_time_limit();
  test_full_ce_capacity_wait();
  test_no_instance_yet();
  test_head_reservation_wait();
  test_fair_share_wait();
  test_dependency_wait();
  test_mixed_queue_unmanaged_without_instance();
  test_deleted_unmanaged_ce_does_not_hold_code();
  test_capacity_code_keeps_demand();
  test_demand_skips_ce_whose_types_cannot_hold();
  test_capacity_code_ignores_ce_whose_types_cannot_hold();
  test_demand_overflows_to_next_ce_at_max();
  test_deleted_ce_reports_instance_idle();
  return check_summary();
}
