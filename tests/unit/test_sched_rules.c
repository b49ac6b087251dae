/* test_sched_rules.c: one test per scheduling rule of docs/job-model.md §2-6, named after it, run
 * on the pure core with no Kafka. */
#include "sched_harness.h"
#include "sched_int.h"

/* CE "ce" with n instances i-0..i-(n-1) of v vCPUs / m MiB, queue "q" over it, JD "jd". */
static void world(struct h *h, int n, int v, int m) {
  h_init(h);
  h_ce(h, "ce", 0, 0);
  h_queue(h, "q", 10, NULL, "ce", NULL);
  h_jd(h, "jd", 1, 1, 64, "{\"parameters\": {\"msg\": \"from-jd\"}}");
  for (int i = 0; i < n; i++) {
    char id[16];
    snprintf(id, sizeof id, "i-%d", i);
    h_instance(h, id, "ce", "READY", v, m);
  }
}

static void run_to_end(struct h *h, const char *job, int attempt, int code) {
  char inst[64];
  h_instance_of(h, job, inst, sizeof inst);
  h_exec(h, job, attempt, inst, "STARTED", -9999, NULL);
  h_exec(h, job, attempt, inst, "EXITED", code, NULL);
}

static int count_status(struct h *h, const char *prefix, int n, enum job_status st) {
  int c = 0;
  for (int i = 0; i < n; i++) {
    char id[64];
    snprintf(id, sizeof id, "%s:%d", prefix, i);
    if (h_status(h, id) == st) c++;
  }
  return c;
}

static void test_ref_substitution(void) {
  TEST("Ref:: substitution: submit parameters overlay the job definition's, exact elements only");
  struct h h;
  world(&h, 0, 0, 0);
  h_submit(&h, "a", "q", "jd", NULL);
  json_t *d = h_detail(&h, "a");
  json_t *cmd = json_object_get(json_object_get(d, "container"), "command");
  CHECK_STR(json_string_value(json_array_get(cmd, 1)), "from-jd");
  json_decref(d);
  h_submit(&h, "b", "q", "jd", "{\"parameters\": {\"msg\": \"from-submit\"}, \"containerOverrides\": {\"command\": [\"x\", \"Ref::msg\", \"pre-Ref::msg\", \"Ref::nope\"]}}");
  d = h_detail(&h, "b");
  cmd = json_object_get(json_object_get(d, "container"), "command");
  CHECK_STR(json_string_value(json_array_get(cmd, 1)), "from-submit");
  CHECK_STR(json_string_value(json_array_get(cmd, 2)), "pre-Ref::msg");
  CHECK_STR(json_string_value(json_array_get(cmd, 3)), "Ref::nope");
  CHECK_STR(json_string_value(json_object_get(json_object_get(d, "parameters"), "msg")), "from-submit");
  json_decref(d);
  h_release(&h);
}

static void test_container_overrides(void) {
  TEST("containerOverrides: environment merged by name, resourceRequirements by type");
  struct h h;
  world(&h, 1, 8, 8192);
  h_submit(&h, "a", "q", "jd", "{\"containerOverrides\": {\"environment\": [{\"name\": \"A\", \"value\": \"1\"}], \"resourceRequirements\": [{\"type\": \"VCPU\", \"value\": \"3\"}]}}");
  json_t *d = h_detail(&h, "a");
  json_t *c = json_object_get(d, "container");
  CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(c, "environment"), 0), "value")), "1");
  json_t *rr = json_object_get(c, "resourceRequirements");
  CHECK_STR(json_string_value(json_object_get(json_array_get(rr, 0), "value")), "3");
  CHECK_STR(json_string_value(json_object_get(json_array_get(rr, 1), "value")), "64");
  json_decref(d);
  CHECK_STATUS(&h, "a", JOB_STARTING);
  h_release(&h);
}

static void test_array_n_to_n_1000(void) {
  TEST("array N_TO_N: a 1,000-child array whose children wait for the same index of another array");
  struct h h;
  world(&h, 0, 0, 0);
  h_submit(&h, "A", "q", "jd", "{\"arrayProperties\": {\"size\": 1000}}");
  h_submit(&h, "B", "q", "jd", "{\"arrayProperties\": {\"size\": 1000}, \"dependsOn\": [{\"jobId\": \"A\", \"type\": \"N_TO_N\"}]}");
  CHECK_INT(count_status(&h, "A", 1000, JOB_RUNNABLE), 1000);
  CHECK_INT(count_status(&h, "B", 1000, JOB_PENDING), 1000);
  CHECK_STATUS(&h, "A", JOB_PENDING);
  /* capacity for A's children only: instance big enough for all; B's wait */
  h_instance(&h, "i-big", "ce", "READY", 2000, 2000 * 64);
  CHECK_INT(count_status(&h, "A", 1000, JOB_STARTING), 1000);
  /* child 7 of A finishes: exactly child 7 of B becomes RUNNABLE and is placed */
  h_exec(&h, "A:7", 1, "i-big", "STARTED", -9999, NULL);
  h_exec(&h, "A:7", 1, "i-big", "EXITED", 0, NULL);
  CHECK_STATUS(&h, "B:7", JOB_STARTING);
  CHECK_INT(count_status(&h, "B", 1000, JOB_PENDING), 999);
  /* child 8 of A fails: child 8 of B fails with the dependency reason */
  h_exec(&h, "A:8", 1, "i-big", "EXITED", 1, NULL);
  CHECK_STATUS(&h, "B:8", JOB_FAILED);
  char r[256];
  CHECK_STR(h_reason(&h, "B:8", r, sizeof r), "Dependent job A:8 failed");
  /* the parent's summary counts every status */
  json_t *d = h_detail(&h, "A");
  json_t *sum = json_object_get(json_object_get(d, "arrayProperties"), "statusSummary");
  CHECK_INT(json_integer_value(json_object_get(sum, "SUCCEEDED")), 1);
  CHECK_INT(json_integer_value(json_object_get(sum, "FAILED")), 1);
  CHECK_INT(json_integer_value(json_object_get(sum, "STARTING")), 998);
  CHECK_INT(json_object_size(sum), 7);
  json_decref(d);
  h_release(&h);
}

/* Submits an array of size children to queue q, each waiting for the one before (SEQUENTIAL). */
static void submit_sequential(struct h *h, const char *id, int size) {
  char extra[128];
  snprintf(extra, sizeof extra, "{\"arrayProperties\": {\"size\": %d}, \"dependsOn\": [{\"type\": \"SEQUENTIAL\"}]}", size);
  h_submit(h, id, "q", "jd", extra);
}

static void test_array_sequential(void) {
  TEST("array SEQUENTIAL: child i waits for child i-1; a failure fails every later child");
  struct h h;
  world(&h, 1, 16, 4096);
  submit_sequential(&h, "S", 4);
  CHECK_STATUS(&h, "S:0", JOB_STARTING);
  CHECK_STATUS(&h, "S:1", JOB_PENDING);
  run_to_end(&h, "S:0", 1, 0);
  CHECK_STATUS(&h, "S:1", JOB_STARTING);
  CHECK_STATUS(&h, "S:2", JOB_PENDING);
  run_to_end(&h, "S:1", 1, 5);
  CHECK_STATUS(&h, "S:2", JOB_FAILED);
  CHECK_STATUS(&h, "S:3", JOB_FAILED);
  CHECK_STATUS(&h, "S", JOB_FAILED);
  h_release(&h);
}

/* A producer writing straight to barge.requests skips the command line's checks: the scheduler
 * took a SEQUENTIAL entry that names a jobId as a plain dependency (and an unknown type as one
 * too), so the array ran after that job instead of being refused (docs/job-model.md §6.2). */
static void test_depends_on_bad_type_refused(void) {
  TEST("dependsOn: SEQUENTIAL with a jobId, or an unknown type, from a direct producer fails the job (ClientException)");
  struct h h;
  world(&h, 1, 4, 4096);
  h_submit(&h, "a", "q", "jd", NULL);
  h_submit(&h, "S", "q", "jd", "{\"arrayProperties\": {\"size\": 2}, \"dependsOn\": [{\"jobId\": \"a\", \"type\": \"SEQUENTIAL\"}]}");
  CHECK_STATUS(&h, "S", JOB_FAILED);
  char r[256];
  CHECK_STR(h_reason(&h, "S", r, sizeof r), "ClientException: dependsOn[0]: SEQUENTIAL takes no jobId and applies to array jobs only");
  CHECK(sched_find_job(h.s, "S:0") == SCHED_NONE, "a refused array spawns no children");
  h_submit(&h, "T", "q", "jd", "{\"dependsOn\": [{\"jobId\": \"a\", \"type\": \"ALL\"}]}");
  CHECK_STATUS(&h, "T", JOB_FAILED);
  CHECK_STR(h_reason(&h, "T", r, sizeof r), "ClientException: dependsOn[0].type must be N_TO_N or SEQUENTIAL");
  h_release(&h);
}

/* The producers refuse an N_TO_N dependency between arrays of different sizes at SubmitJob; one
 * that a direct producer writes to barge.requests fails here, at once, with the same reason. What
 * the rule allows runs (docs/job-model.md §6.2): a target that is not an array (a single job, an
 * array child), where every child waits for it, and N_TO_N from a single job, a plain dependency. */
static void test_depends_on_n_to_n_sizes(void) {
  TEST("dependsOn N_TO_N: arrays of other sizes fail the job (ClientException); a non-array target or job waits");
  struct h h;
  world(&h, 0, 0, 0);
  h_submit(&h, "a", "q", "jd", NULL);
  h_submit(&h, "A", "q", "jd", "{\"arrayProperties\": {\"size\": 3}}");
  h_submit(&h, "M", "q", "jd", "{\"arrayProperties\": {\"size\": 4}, \"dependsOn\": [{\"jobId\": \"A\", \"type\": \"N_TO_N\"}]}");
  CHECK_STATUS(&h, "M", JOB_FAILED);
  char r[512];
  CHECK_STR(h_reason(&h, "M", r, sizeof r),
            "ClientException: dependsOn: N_TO_N target A has size 3, this array has 4: " N_TO_N_SIZE_HINT);
  CHECK(sched_find_job(h.s, "M:0") == SCHED_NONE, "a refused array spawns no children");
  h_submit(&h, "S", "q", "jd", "{\"arrayProperties\": {\"size\": 4}, \"dependsOn\": [{\"jobId\": \"a\", \"type\": \"N_TO_N\"}]}");
  h_submit(&h, "C", "q", "jd", "{\"arrayProperties\": {\"size\": 4}, \"dependsOn\": [{\"jobId\": \"A:1\", \"type\": \"N_TO_N\"}]}");
  h_submit(&h, "P", "q", "jd", "{\"dependsOn\": [{\"jobId\": \"A\", \"type\": \"N_TO_N\"}]}");
  CHECK_INT(count_status(&h, "S", 4, JOB_PENDING), 4);
  CHECK_INT(count_status(&h, "C", 4, JOB_PENDING), 4);
  CHECK_STATUS(&h, "P", JOB_PENDING);
  h_release(&h);
}

static void test_dependency_failure_cascades(void) {
  TEST("dependsOn: a failed dependency fails its dependents, transitively");
  struct h h;
  world(&h, 1, 4, 4096);
  h_submit(&h, "a", "q", "jd", NULL);
  h_submit(&h, "b", "q", "jd", "{\"dependsOn\": [{\"jobId\": \"a\"}]}");
  h_submit(&h, "c", "q", "jd", "{\"dependsOn\": [{\"jobId\": \"b\"}]}");
  CHECK_STATUS(&h, "b", JOB_PENDING);
  run_to_end(&h, "a", 1, 2);
  CHECK_STATUS(&h, "a", JOB_FAILED);
  CHECK_STATUS(&h, "b", JOB_FAILED);
  CHECK_STATUS(&h, "c", JOB_FAILED);
  char r[256];
  CHECK_STR(h_reason(&h, "c", r, sizeof r), "Dependent job b failed");
  /* a job submitted against an already failed dependency passes T2 then T5 at once */
  h_submit(&h, "d", "q", "jd", "{\"dependsOn\": [{\"jobId\": \"a\"}]}");
  CHECK_STATUS(&h, "d", JOB_FAILED);
  h_release(&h);
}

/* A producer writing straight to barge.requests skips the command line's checks
 * (docs/publishing.md): the scheduler used to keep only the first 20 dependsOn entries, so the
 * job ran before its 21st dependency had ended. AWS Batch takes at most 20: the job is refused. */
static void test_depends_on_more_than_20_refused(void) {
  TEST("dependsOn: more than 20 entries from a direct producer fail the job, none is dropped");
  struct h h;
  world(&h, 6, 4, 4096); /* room for all 21 dependencies at once */
  json_t *deps = json_array();
  for (int i = 0; i < 21; i++) {
    char id[16];
    snprintf(id, sizeof id, "d%d", i);
    h_submit(&h, id, "q", "jd", NULL);
    json_array_append_new(deps, json_pack("{s:s}", "jobId", id));
  }
  json_t *extra = json_pack("{s:o}", "dependsOn", deps);
  char *text = json_dumps(extra, JSON_COMPACT);
  json_decref(extra);
  h_submit(&h, "late", "q", "jd", text);
  free(text);
  /* d0..d19 end; d20 has not run yet: late must not be RUNNABLE */
  for (int i = 0; i < 20; i++) {
    char id[16];
    snprintf(id, sizeof id, "d%d", i);
    run_to_end(&h, id, 1, 0);
  }
  CHECK(h_status(&h, "late") != JOB_RUNNABLE && h_status(&h, "late") != JOB_STARTING &&
            h_status(&h, "late") != JOB_RUNNING && h_status(&h, "late") != JOB_SUCCEEDED,
        "late waits for d20 or is refused, not %s", job_status_name(h_status(&h, "late")));
  CHECK_STATUS(&h, "late", JOB_FAILED);
  char r[256];
  CHECK_STR(h_reason(&h, "late", r, sizeof r), "ClientException: dependsOn takes at most 20 jobs (this request names 21)");
  /* the refused job's record names its job definition (it showed "") */
  json_t *d = h_detail(&h, "late");
  const char *jdarn = json_string_value(json_object_get(d, "jobDefinition"));
  CHECK(jdarn && strstr(jdarn, ":job-definition/jd:1"), "a refused job names its job definition: %s", jdarn ? jdarn : "(none)");
  json_decref(d);
  h_release(&h);
}

/* Every record about a job (its Placement, its JobRecord) carries its container, parameters, tags
 * and name, and Kafka refuses a record above 1 MB: a job of 20 KB of parameters substituted 60
 * times into its command (or a 999 KB jobName from a direct producer) made the scheduler's
 * transaction fail, and the scheduler exited and failed again at every restart on the same
 * request, for every user. Such a job is refused; its rejection carries a name cut to 128 bytes. */
static void test_oversized_job_refused(void) {
  TEST("a job whose records would exceed what a Kafka record holds is FAILED at submission, the scheduler goes on");
  struct h h;
  world(&h, 1, 4, 4096);
  json_t *cmd = json_array();
  json_array_append_new(cmd, json_string("echo"));
  for (int i = 0; i < 60; i++) json_array_append_new(cmd, json_string("Ref::x"));
  json_t *jd = json_pack("{s:{s:s, s:o, s:[{s:s, s:s}, {s:s, s:s}]}}", "containerProperties", "image", "busybox",
                         "command", cmd, "resourceRequirements", "type", "VCPU", "value", "1", "type", "MEMORY",
                         "value", "64");
  char *jdtext = json_dumps(jd, JSON_COMPACT);
  json_decref(jd);
  h_jd(&h, "amp", 1, 1, 64, jdtext);
  free(jdtext);
  char *x = malloc(20001);
  memset(x, 'a', 20000);
  x[20000] = 0;
  json_t *params = json_pack("{s:{s:s}}", "parameters", "x", x);
  char *ptext = json_dumps(params, JSON_COMPACT);
  json_decref(params);
  h_submit(&h, "big", "q", "amp", ptext);
  free(ptext);
  CHECK_STATUS(&h, "big", JOB_FAILED);
  char r[512];
  h_reason(&h, "big", r, sizeof r);
  CHECK(strstr(r, "ClientException: ") == r && strstr(r, "come to 12") && strstr(r, "at most 262144"),
        "the reason says how large the job is and the limit: %s", r);
  h_submit(&h, "small", "q", "amp", "{\"parameters\": {\"x\": \"b\"}}");
  CHECK_STATUS(&h, "small", JOB_STARTING);
  /* a direct producer's 999 KB jobName: refused, and the rejection's own records stay small */
  char *name = malloc(999001);
  memset(name, 'n', 999000);
  name[999000] = 0;
  json_t *nm = json_pack("{s:s}", "jobName", name);
  char *ntext = json_dumps(nm, JSON_COMPACT);
  json_decref(nm);
  h_submit(&h, "long-name", "q", "jd", ntext);
  free(ntext);
  CHECK_STATUS(&h, "long-name", JOB_FAILED);
  json_t *d = h_detail(&h, "long-name");
  const char *jn = json_string_value(json_object_get(d, "jobName"));
  CHECK(jn && strlen(jn) == 128, "the rejected job's name is cut to 128 bytes (%zu)", jn ? strlen(jn) : 0);
  json_decref(d);
  free(name);
  free(x);
  h_release(&h);
}

/* The size of a job's JobRecord as the scheduler writes it. */
static size_t record_bytes(struct h *h, const char *id) {
  json_t *r = sched_job_record(h->s, sched_find_job(h->s, id), "test", h->t);
  size_t n = json_dumpb(r, NULL, 0, JSON_COMPACT);
  json_decref(r);
  return n;
}

/* A CancelJob or TerminateJob written straight to barge.requests with a 999 KB reason (the
 * command line refuses more than 1024 characters): the reason went into the job's record
 * (pendingStopReason) and the kill command, larger than a Kafka record, and the scheduler exited
 * on it at every restart. The reason is cut to its first 1024 characters. */
static void test_stop_reason_capped(void) {
  TEST("CancelJob/TerminateJob: a reason above 1024 characters is cut, the job's record stays small");
  struct h h;
  world(&h, 1, 4, 4096);
  h_submit(&h, "run", "q", "jd", NULL);
  h_submit(&h, "wait", "q", "jd", "{\"dependsOn\": [{\"jobId\": \"run\"}]}");
  h_submit(&h, "arr", "q", "jd", "{\"arrayProperties\": {\"size\": 2}, \"dependsOn\": [{\"jobId\": \"run\"}]}");
  char *reason = malloc(999001);
  memset(reason, 'r', 999000);
  reason[999000] = 0;
  h_stop(&h, "CancelJob", "wait", reason);
  h_stop(&h, "CancelJob", "arr", reason);
  h_stop(&h, "TerminateJob", "run", reason);
  CHECK(record_bytes(&h, "wait") < 8192, "the PENDING job's record: %zu bytes", record_bytes(&h, "wait"));
  CHECK(record_bytes(&h, "arr") < 8192, "the array parent's record: %zu bytes", record_bytes(&h, "arr"));
  CHECK(record_bytes(&h, "run") < 8192, "the RUNNING job's record: %zu bytes", record_bytes(&h, "run"));
  run_to_end(&h, "run", 1, 137);
  CHECK_STATUS(&h, "wait", JOB_FAILED);
  char r[2048];
  h_reason(&h, "wait", r, sizeof r);
  CHECK(strlen(r) == strlen("Cancelled: ") + 1024, "its reason: Cancelled: and the first 1024 characters (%zu)", strlen(r));
  /* characters, as the producers count them: 1,024 "é" (2,048 bytes) stand whole */
  /* more vCPUs than the instance has: it stays RUNNABLE, where a cancel ends it at once */
  h_submit(&h, "acc", "q", "jd", "{\"containerOverrides\": {\"resourceRequirements\": [{\"type\": \"VCPU\", \"value\": \"64\"}]}}");
  CHECK_STATUS(&h, "acc", JOB_RUNNABLE);
  char accented[2 * 1024 + 1];
  for (int i = 0; i < 1024; i++) memcpy(accented + 2 * i, "\xc3\xa9", 2);
  accented[2 * 1024] = 0;
  h_stop(&h, "CancelJob", "acc", accented);
  CHECK_STATUS(&h, "acc", JOB_FAILED);
  char ra[4096];
  h_reason(&h, "acc", ra, sizeof ra);
  CHECK(strlen(ra) == strlen("Cancelled: ") + 2048, "1,024 characters of 2 bytes are not cut (%zu)", strlen(ra));
  free(reason);
  h_release(&h);
}

/* TagResource checks each request's tags (50 at most, short keys and values), not what a job
 * holds after many of them: a job's tags grew with every TagJob, and its record with them, up to
 * what Kafka refuses. A TagJob that would take the job past the size a job may hold is refused
 * (dead-lettered with the reason) and changes nothing. */
static void test_tag_job_bounded(void) {
  TEST("TagJob: tags that would take the job past 256 KiB are refused, the job's record stays small");
  struct h h;
  world(&h, 1, 4, 4096);
  h_submit(&h, "a", "q", "jd", NULL);
  char value[257];
  memset(value, 'v', 256);
  value[256] = 0;
  int refused = 0;
  for (int req = 0; req < 60; req++) { /* 60 requests of 50 tags of 256 bytes: 3000 tags, 780 KB */
    json_t *tags = json_object();
    for (int k = 0; k < 50; k++) {
      char key[32];
      snprintf(key, sizeof key, "k%d-%d", req, k);
      json_object_set_new(tags, key, json_string(value));
    }
    int rc = h_feed(&h, BARGE_EV_JOB_REQUEST,
                    json_pack("{s:o, s:s, s:{s:{s:s, s:o}}}", "header", h_header(h.t), "principal", "t", "body",
                              "TagJob", "jobId", "a", "tags", tags));
    refused += rc != 0;
  }
  CHECK(record_bytes(&h, "a") < 300 * 1024, "the job's record: %zu bytes", record_bytes(&h, "a"));
  CHECK(refused > 0, "some TagJob requests were refused (%d)", refused);
  h_release(&h);
}

static void test_evaluate_on_exit_first_match(void) {
  TEST("retryStrategy.evaluateOnExit: exit-code and reason globs, first match wins");
  struct h h;
  world(&h, 1, 4, 4096);
  const char *rs = "{\"retryStrategy\": {\"attempts\": 3, \"evaluateOnExit\": ["
                   "{\"onExitCode\": \"4*\", \"action\": \"EXIT\"},"
                   "{\"onExitCode\": \"4\", \"action\": \"RETRY\"},"
                   "{\"onStatusReason\": \"Host EC2*\", \"action\": \"RETRY\"},"
                   "{\"onReason\": \"*\", \"action\": \"EXIT\"}]}}";
  h_submit(&h, "a", "q", "jd", rs);
  run_to_end(&h, "a", 1, 42); /* 4* -> EXIT even though attempts remain */
  CHECK_STATUS(&h, "a", JOB_FAILED);
  h_submit(&h, "b", "q", "jd", rs);
  run_to_end(&h, "b", 1, 7); /* no rule matches exit 7 (onReason needs a reason): attempts left -> retry */
  CHECK_STATUS(&h, "b", JOB_STARTING);
  /* a lost host matches Host EC2* -> RETRY */
  char inst[64];
  h_instance_of(&h, "b", inst, sizeof inst);
  h_instance(&h, inst, "ce", "TERMINATED", 4, 4096);
  CHECK_STATUS(&h, "b", JOB_RUNNABLE);
  char r[256];
  h_reason(&h, "b", r, sizeof r);
  CHECK(strncmp(r, "Host EC2 (instance ", 19) == 0, "reason %s", r);
  /* a start failure has container.reason "Task failed to start": onReason * -> EXIT */
  h_instance(&h, "i-9", "ce", "READY", 4, 4096);
  h_exec(&h, "b", 3, "i-9", "FAILED_TO_START", -9999, "CannotStartContainerError: nope");
  CHECK_STATUS(&h, "b", JOB_FAILED);
  h_release(&h);
}

/* A direct producer's retryStrategy skips the producers' checks: the scheduler kept the first 5
 * evaluateOnExit rules and dropped the rest silently (a 6th rule saying EXIT was never applied,
 * so the job was retried), took any action but RETRY as EXIT and any number of attempts. AWS
 * Batch refuses such a strategy (docs/job-model.md §5.4): the job is refused. */
static void test_retry_strategy_out_of_bounds_refused(void) {
  TEST("retryStrategy from a direct producer: more than 5 rules, a bad action or attempts outside 1..10 fail the job");
  struct h h;
  world(&h, 1, 8, 4096);
  const char *six = "{\"retryStrategy\": {\"attempts\": 3, \"evaluateOnExit\": ["
                    "{\"onExitCode\": \"1\", \"action\": \"RETRY\"}, {\"onExitCode\": \"2\", \"action\": \"RETRY\"},"
                    "{\"onExitCode\": \"3\", \"action\": \"RETRY\"}, {\"onExitCode\": \"4\", \"action\": \"RETRY\"},"
                    "{\"onExitCode\": \"5\", \"action\": \"RETRY\"}, {\"onExitCode\": \"6\", \"action\": \"EXIT\"}]}}";
  h_submit(&h, "six", "q", "jd", six);
  CHECK_STATUS(&h, "six", JOB_FAILED);
  char r[256];
  CHECK_STR(h_reason(&h, "six", r, sizeof r), "ClientException: retryStrategy.evaluateOnExit takes at most 5 rules");
  h_submit(&h, "act", "q", "jd", "{\"retryStrategy\": {\"attempts\": 3, \"evaluateOnExit\": [{\"onExitCode\": \"1\", \"action\": \"RETRY_LATER\"}]}}");
  CHECK_STATUS(&h, "act", JOB_FAILED);
  CHECK_STR(h_reason(&h, "act", r, sizeof r), "ClientException: retryStrategy.evaluateOnExit[0].action must be RETRY or EXIT");
  h_submit(&h, "many", "q", "jd", "{\"retryStrategy\": {\"attempts\": 11}}");
  CHECK_STATUS(&h, "many", JOB_FAILED);
  CHECK_STR(h_reason(&h, "many", r, sizeof r), "ClientException: retryStrategy.attempts must be from 1 to 10");
  h_submit(&h, "none", "q", "jd", "{\"retryStrategy\": {\"evaluateOnExit\": [{\"action\": \"EXIT\"}]}}");
  CHECK_STATUS(&h, "none", JOB_FAILED);
  CHECK_STR(h_reason(&h, "none", r, sizeof r), "ClientException: retryStrategy.evaluateOnExit needs retryStrategy.attempts");
  /* within the bounds, in any letter case: taken */
  h_submit(&h, "ok", "q", "jd", "{\"retryStrategy\": {\"attempts\": 10, \"evaluateOnExit\": [{\"onExitCode\": \"9\", \"action\": \"exit\"}]}}");
  CHECK_STATUS(&h, "ok", JOB_STARTING);
  h_release(&h);
}

/* A direct producer's schedulingPriorityOverride outside 0..9999 (docs/job-model.md §6.1) ordered
 * its job before every job of its share (20000) or was taken as 0 (-5); a timeout of 0 or less
 * seconds was taken as none. The producers refuse both; so does the scheduler now. */
static void test_numeric_members_out_of_range_refused(void) {
  TEST("schedulingPriorityOverride outside 0..9999, or attemptDurationSeconds below 1, from a direct producer fail the job");
  struct h h;
  world(&h, 1, 8, 4096);
  char r[256];
  h_submit(&h, "hi", "q", "jd", "{\"schedulingPriorityOverride\": 20000}");
  CHECK_STATUS(&h, "hi", JOB_FAILED);
  CHECK_STR(h_reason(&h, "hi", r, sizeof r), "ClientException: schedulingPriorityOverride must be from 0 to 9999");
  h_submit(&h, "neg", "q", "jd", "{\"schedulingPriorityOverride\": -5}");
  CHECK_STATUS(&h, "neg", JOB_FAILED);
  h_submit(&h, "t0", "q", "jd", "{\"timeout\": {\"attemptDurationSeconds\": 0}}");
  CHECK_STATUS(&h, "t0", JOB_FAILED);
  CHECK_STR(h_reason(&h, "t0", r, sizeof r), "ClientException: timeout.attemptDurationSeconds must be at least 1");
  h_submit(&h, "ok", "q", "jd", "{\"schedulingPriorityOverride\": 9999, \"timeout\": {\"attemptDurationSeconds\": 60}}");
  CHECK_STATUS(&h, "ok", JOB_STARTING);
  h_release(&h);
}

static void test_timeout_not_retried(void) {
  TEST("timeout: the placement carries the attempt timeout; a timed-out attempt is not retried");
  struct h h;
  world(&h, 1, 4, 4096);
  h_submit(&h, "a", "q", "jd", "{\"timeout\": {\"attemptDurationSeconds\": 60}, \"retryStrategy\": {\"attempts\": 5}}");
  CHECK_STATUS(&h, "a", JOB_STARTING);
  h_exec(&h, "a", 1, "i-0", "STARTED", -9999, NULL);
  h_exec(&h, "a", 1, "i-0", "TIMED_OUT", 143, NULL);
  CHECK_STATUS(&h, "a", JOB_FAILED);
  char r[256];
  CHECK_STR(h_reason(&h, "a", r, sizeof r), "Job attempt duration exceeded timeout");
  h_release(&h);
}

static void test_cancel_runnable_vs_terminate_running(void) {
  TEST("CancelJob fails a RUNNABLE job; it leaves a RUNNING one alone; TerminateJob stops it");
  struct h h;
  world(&h, 1, 1, 4096);
  h_submit(&h, "run", "q", "jd", NULL);
  h_submit(&h, "wait", "q", "jd", NULL);
  CHECK_STATUS(&h, "wait", JOB_RUNNABLE);
  h_stop(&h, "CancelJob", "wait", "not needed");
  CHECK_STATUS(&h, "wait", JOB_FAILED);
  char r[256];
  CHECK_STR(h_reason(&h, "wait", r, sizeof r), "Cancelled: not needed");
  h_exec(&h, "run", 1, "i-0", "STARTED", -9999, NULL);
  h_stop(&h, "CancelJob", "run", "too late");
  CHECK_STATUS(&h, "run", JOB_RUNNING);
  int kills = h.outputs[OUT_KILL];
  h_stop(&h, "TerminateJob", "run", "stop");
  CHECK_INT(h.outputs[OUT_KILL], kills + 1);
  h_exec(&h, "run", 1, "i-0", "KILLED", 143, "stop");
  CHECK_STATUS(&h, "run", JOB_FAILED);
  CHECK_STR(h_reason(&h, "run", r, sizeof r), "Terminated: stop");
  /* terminal jobs: success without effect */
  h_stop(&h, "TerminateJob", "run", "again");
  CHECK_STR(h_reason(&h, "run", r, sizeof r), "Terminated: stop");
  h_release(&h);
}

static void test_pending_cancel_waits_for_dependencies(void) {
  TEST("CancelJob of a PENDING job applies once its dependencies are terminal (T13), beating their failure");
  struct h h;
  world(&h, 1, 1, 4096);
  h_submit(&h, "a", "q", "jd", NULL);
  h_submit(&h, "b", "q", "jd", "{\"dependsOn\": [{\"jobId\": \"a\"}]}");
  h_stop(&h, "CancelJob", "b", "changed my mind");
  CHECK_STATUS(&h, "b", JOB_PENDING);
  run_to_end(&h, "a", 1, 1);
  CHECK_STATUS(&h, "b", JOB_FAILED);
  char r[256];
  CHECK_STR(h_reason(&h, "b", r, sizeof r), "Cancelled: changed my mind");
  h_release(&h);
}

static void test_priority_shared_ce(void) {
  TEST("queue priority: on a shared CE the higher-priority queue is served first");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "low", 1, NULL, "ce", NULL);
  h_queue(&h, "high", 100, NULL, "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, NULL);
  for (int i = 0; i < 4; i++) {
    char id[16];
    snprintf(id, sizeof id, "low%d", i);
    h_submit(&h, id, "low", "jd", NULL);
    snprintf(id, sizeof id, "high%d", i);
    h_submit(&h, id, "high", "jd", NULL);
  }
  h_instance(&h, "i-0", "ce", "READY", 4, 4096);
  for (int i = 0; i < 4; i++) {
    char id[16];
    snprintf(id, sizeof id, "high%d", i);
    CHECK_STATUS(&h, id, JOB_STARTING);
    snprintf(id, sizeof id, "low%d", i);
    CHECK_STATUS(&h, id, JOB_RUNNABLE);
  }
  h_release(&h);
}

static void test_fifo_and_retry_front(void) {
  TEST("FIFO order by createdAt; a retried job goes to the front of the queue");
  struct h h;
  world(&h, 1, 1, 4096);
  h_submit(&h, "a", "q", "jd", "{\"retryStrategy\": {\"attempts\": 2}}");
  h.t += 10;
  h_submit(&h, "b", "q", "jd", NULL);
  h.t += 10;
  h_submit(&h, "c", "q", "jd", NULL);
  CHECK_STATUS(&h, "a", JOB_STARTING);
  run_to_end(&h, "a", 1, 1); /* a fails and is retried: it goes before b and c */
  CHECK_STATUS(&h, "a", JOB_STARTING);
  CHECK_STATUS(&h, "b", JOB_RUNNABLE);
  run_to_end(&h, "a", 2, 0);
  CHECK_STATUS(&h, "b", JOB_STARTING);
  CHECK_STATUS(&h, "c", JOB_RUNNABLE);
  h_release(&h);
}

static void test_best_fit_tie_break(void) {
  TEST("placement: best fit by leftover score, ties to the lowest instance id; backfill of smaller jobs");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "q", 1, NULL, "ce", NULL);
  h_jd(&h, "small", 1, 1, 512, NULL);
  h_jd(&h, "big", 1, 8, 512, NULL);
  h_instance(&h, "i-b", "ce", "READY", 4, 8192);
  h_instance(&h, "i-a", "ce", "READY", 4, 8192);
  h_instance(&h, "i-c", "ce", "READY", 2, 1024);
  char inst[64];
  h_submit(&h, "s1", "q", "small", NULL); /* the tightest fit is i-c */
  CHECK_STR(h_instance_of(&h, "s1", inst, sizeof inst), "i-c");
  h_submit(&h, "s2", "q", "small", NULL);
  CHECK_STR(h_instance_of(&h, "s2", inst, sizeof inst), "i-c");
  h_submit(&h, "s3", "q", "small", NULL); /* i-a and i-b tie: lowest id */
  CHECK_STR(h_instance_of(&h, "s3", inst, sizeof inst), "i-a");
  h_submit(&h, "huge", "q", "big", NULL); /* never fits: later small jobs still run */
  h_submit(&h, "s4", "q", "small", NULL);
  CHECK_STATUS(&h, "huge", JOB_RUNNABLE);
  CHECK_STR(h_instance_of(&h, "s4", inst, sizeof inst), "i-a");
  h_release(&h);
}

static void test_fair_share_weights(void) {
  TEST("fair share: weights 1 and 3 split vCPU-time 3:1 (tolerance 10%)");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  char *pol = "{\"name\": \"fs\", \"arn\": \"" ARN "scheduling-policy/fs\", \"fairsharePolicy\": {\"shareDecaySeconds\": 0, \"computeReservation\": 0, \"shareDistribution\": [{\"shareIdentifier\": \"light\", \"weightFactor\": 1.0}, {\"shareIdentifier\": \"heavy\", \"weightFactor\": 3.0}]}}";
  h_feed(&h, BARGE_EV_CONFIG_RECORD, h_config(&h, "SchedulingPolicy", json_loads(pol, 0, NULL)));
  h_queue(&h, "q", 1, "{\"schedulingPolicyArn\": \"" ARN "scheduling-policy/fs\"}", "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, NULL);
  for (int i = 0; i < 1000; i++) {
    char id[16];
    snprintf(id, sizeof id, "l%d", i);
    h_submit(&h, id, "q", "jd", "{\"shareIdentifier\": \"light\"}");
    snprintf(id, sizeof id, "h%d", i);
    h_submit(&h, id, "q", "jd", "{\"shareIdentifier\": \"heavy\"}");
  }
  h_instance(&h, "i-0", "ce", "READY", 8, 8192);
  /* run for a while: every second the jobs running finish and the slots are refilled */
  double light = 0, heavy = 0;
  char (*running)[16] = calloc(16, 16);
  for (int sec = 0; sec < 100; sec++) {
    h.t += 1000;
    int n = 0;
    for (int i = 0; i < 1000 && n < 16; i++) {
      char id[16];
      snprintf(id, sizeof id, "l%d", i);
      if (h_status(&h, id) == JOB_STARTING) snprintf(running[n++], 16, "%s", id), light += 1;
      snprintf(id, sizeof id, "h%d", i);
      if (h_status(&h, id) == JOB_STARTING) snprintf(running[n++], 16, "%s", id), heavy += 1;
    }
    for (int k = 0; k < n; k++) run_to_end(&h, running[k], 1, 0);
  }
  free(running);
  double ratio = heavy > 0 ? light / heavy : 0;
  printf("   light %.0f vCPU-s, heavy %.0f vCPU-s, ratio %.2f\n", light, heavy, ratio);
  CHECK(ratio > 2.7 && ratio < 3.3, "ratio %.2f not within 3 +- 10%%", ratio);
  h_release(&h);
}

static void test_fair_share_priority_inside_share(void) {
  TEST("fair share: inside a share, schedulingPriority (descending) before createdAt");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  char *pol = "{\"name\": \"fs\", \"arn\": \"" ARN "scheduling-policy/fs\", \"fairsharePolicy\": {\"shareDecaySeconds\": 0}}";
  h_feed(&h, BARGE_EV_CONFIG_RECORD, h_config(&h, "SchedulingPolicy", json_loads(pol, 0, NULL)));
  h_queue(&h, "q", 1, "{\"schedulingPolicyArn\": \"" ARN "scheduling-policy/fs\"}", "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, NULL);
  h_submit(&h, "first", "q", "jd", "{\"shareIdentifier\": \"a\", \"schedulingPriorityOverride\": 1}");
  h_submit(&h, "urgent", "q", "jd", "{\"shareIdentifier\": \"a\", \"schedulingPriorityOverride\": 9}");
  h_instance(&h, "i-0", "ce", "READY", 1, 4096);
  CHECK_STATUS(&h, "urgent", JOB_STARTING);
  CHECK_STATUS(&h, "first", JOB_RUNNABLE);
  h_release(&h);
}

static void test_fair_share_priority_default_zero(void) {
  TEST("fair share: a job with no schedulingPriority counts as 0, so it keeps its createdAt place before a later job of priority 0");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  char *pol = "{\"name\": \"fs\", \"arn\": \"" ARN "scheduling-policy/fs\", \"fairsharePolicy\": {\"shareDecaySeconds\": 0}}";
  h_feed(&h, BARGE_EV_CONFIG_RECORD, h_config(&h, "SchedulingPolicy", json_loads(pol, 0, NULL)));
  h_queue(&h, "q", 1, "{\"schedulingPolicyArn\": \"" ARN "scheduling-policy/fs\"}", "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, NULL); /* no schedulingPriority */
  h_submit(&h, "older", "q", "jd", "{\"shareIdentifier\": \"a\"}");
  h.t += 10;
  h_submit(&h, "newer", "q", "jd", "{\"shareIdentifier\": \"a\", \"schedulingPriorityOverride\": 0}");
  h_instance(&h, "i-0", "ce", "READY", 1, 4096);
  CHECK_STATUS(&h, "older", JOB_STARTING);
  CHECK_STATUS(&h, "newer", JOB_RUNNABLE);
  h_release(&h);
}

static void test_fair_share_decay_spreads_usage(void) {
  TEST("fair share with shareDecaySeconds: vCPU-seconds held while nothing was dispatched count by when they were held, and only within the window");
  /* W = 600 s. Share A holds 1 vCPU for 3000 s; share B held 3 vCPUs until 300 s before the
   * decision. In the last W: A ~ 600 s x 1 vCPU x mean weight 0.5 = 300 (+1 held now); B ~
   * 300 s x 3 vCPUs x mean weight 0.25 = 225. B has used less: its job goes first. */
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_ce(&h, "ce2", 0, 0);
  char *pol = "{\"name\": \"fs\", \"arn\": \"" ARN "scheduling-policy/fs\", \"fairsharePolicy\": {\"shareDecaySeconds\": 600, \"computeReservation\": 0}}";
  h_feed(&h, BARGE_EV_CONFIG_RECORD, h_config(&h, "SchedulingPolicy", json_loads(pol, 0, NULL)));
  h_queue(&h, "fs", 1, "{\"schedulingPolicyArn\": \"" ARN "scheduling-policy/fs\"}", "ce", NULL);
  h_queue(&h, "other", 1, NULL, "ce2", NULL);
  h_jd(&h, "one", 1, 1, 64, NULL);
  h_jd(&h, "three", 1, 3, 64, NULL);
  h_instance(&h, "i-0", "ce", "READY", 4, 8192);
  h_instance(&h, "i-9", "ce2", "READY", 1, 8192);
  h_submit(&h, "d", "other", "one", NULL);
  h_submit(&h, "a1", "fs", "one", "{\"shareIdentifier\": \"A\"}");
  h_submit(&h, "b1", "fs", "three", "{\"shareIdentifier\": \"B\"}");
  CHECK_STATUS(&h, "a1", JOB_STARTING);
  CHECK_STATUS(&h, "b1", JOB_STARTING);
  h_exec(&h, "a1", 1, "i-0", "STARTED", -9999, NULL);
  h_exec(&h, "b1", 1, "i-0", "STARTED", -9999, NULL);
  h_exec(&h, "d", 1, "i-9", "STARTED", -9999, NULL);
  /* both wait for d, so nothing of fs is RUNNABLE (no dispatch) until d ends */
  h_submit(&h, "a2", "fs", "three", "{\"shareIdentifier\": \"A\", \"dependsOn\": [{\"jobId\": \"d\"}]}");
  h_submit(&h, "b2", "fs", "three", "{\"shareIdentifier\": \"B\", \"dependsOn\": [{\"jobId\": \"d\"}]}");
  h.t += 2700 * 1000LL;
  h_exec(&h, "b1", 1, "i-0", "EXITED", 0, NULL);
  h.t += 300 * 1000LL;
  h_exec(&h, "d", 1, "i-9", "EXITED", 0, NULL); /* a2 and b2 RUNNABLE; room for one of them */
  CHECK_STATUS(&h, "b2", JOB_STARTING);
  CHECK_STATUS(&h, "a2", JOB_RUNNABLE);
  h_release(&h);
}

/* The configuration of test_fair_share_usage_survives_restart: a fair-share queue (W = 600 s) on
 * ce (i-0, 2 vCPUs), and a FIFO queue on ce2 (i-9) for the job the fair-share jobs wait on. */
static void fs_restart_world(struct h *h, int with_instances) {
  h_ce(h, "ce", 0, 0);
  h_ce(h, "ce2", 0, 0);
  char *pol = "{\"name\": \"fs\", \"arn\": \"" ARN "scheduling-policy/fs\", \"fairsharePolicy\": {\"shareDecaySeconds\": 600, \"computeReservation\": 0}}";
  h_feed(h, BARGE_EV_CONFIG_RECORD, h_config(h, "SchedulingPolicy", json_loads(pol, 0, NULL)));
  h_queue(h, "fs", 1, "{\"schedulingPolicyArn\": \"" ARN "scheduling-policy/fs\"}", "ce", NULL);
  h_queue(h, "other", 1, NULL, "ce2", NULL);
  h_jd(h, "two", 1, 2, 64, NULL);
  if (!with_instances) return;
  h_instance(h, "i-0", "ce", "READY", 2, 8192);
  h_instance(h, "i-9", "ce2", "READY", 2, 8192);
}

static void test_fair_share_usage_survives_restart(void) {
  TEST("fair share with shareDecaySeconds: a restarted scheduler rebuilds each share's usage from the attempts in the window");
  /* share A held 2 vCPUs for 300 s and B nothing; a2 (A) was submitted before b2 (B). After a
   * restart, b2 must still go first, as it would have without the restart; with the usage lost
   * the two shares tie and the older a2 would. */
  struct h h;
  h_init(&h);
  fs_restart_world(&h, 1);
  h_submit(&h, "d", "other", "two", NULL);
  h_exec(&h, "d", 1, "i-9", "STARTED", -9999, NULL);
  h_submit(&h, "a1", "fs", "two", "{\"shareIdentifier\": \"A\"}");
  h_exec(&h, "a1", 1, "i-0", "STARTED", -9999, NULL);
  h.t += 300 * 1000LL;
  h_exec(&h, "a1", 1, "i-0", "EXITED", 0, NULL);
  h.t += 1000;
  h_submit(&h, "a2", "fs", "two", "{\"shareIdentifier\": \"A\", \"dependsOn\": [{\"jobId\": \"d\"}]}");
  h.t += 1000;
  h_submit(&h, "b2", "fs", "two", "{\"shareIdentifier\": \"B\", \"dependsOn\": [{\"jobId\": \"d\"}]}");
  /* the restart: configuration, then instances and job records, as the shell reads them */
  struct h r;
  h_init(&r);
  r.t = 1700000000000LL;
  fs_restart_world(&r, 0);
  h_restore_instance(&r, "i-0", "ce", 2, 8192, h.t);
  h_restore_instance(&r, "i-9", "ce2", 2, 8192, h.t);
  h_restore_jobs(&r, &h, 0);
  r.t = h.t + 1000;
  h_exec(&r, "d", 1, "i-9", "EXITED", 0, NULL); /* a2 and b2 RUNNABLE; room for one */
  CHECK_STATUS(&r, "b2", JOB_STARTING);
  CHECK_STATUS(&r, "a2", JOB_RUNNABLE);
  h_release(&r);
  h_release(&h);
}

static void test_fair_share_tie_goes_to_older_retried_job(void) {
  TEST("fair share: on a usage tie the share whose next job is older goes first, also when that job is a retried one");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_ce(&h, "ce2", 0, 0);
  char *pol = "{\"name\": \"fs\", \"arn\": \"" ARN "scheduling-policy/fs\", \"fairsharePolicy\": {\"shareDecaySeconds\": 0}}";
  h_feed(&h, BARGE_EV_CONFIG_RECORD, h_config(&h, "SchedulingPolicy", json_loads(pol, 0, NULL)));
  h_queue(&h, "fs", 1, "{\"schedulingPolicyArn\": \"" ARN "scheduling-policy/fs\"}", "ce", NULL);
  h_queue(&h, "other", 1, NULL, "ce2", NULL);
  h_jd(&h, "jd", 1, 1, 64, "{\"retryStrategy\": {\"attempts\": 9}}");
  h_instance(&h, "i-9", "ce2", "READY", 1, 4096);
  h_instance(&h, "i-0", "ce", "READY", 1, 4096);
  /* elsewhere, a job that fails and is retried five times */
  h_submit(&h, "x", "other", "jd", NULL);
  for (int a = 1; a <= 5; a++) {
    h.t += 10;
    run_to_end(&h, "x", a, 1);
  }
  h.t += 10;
  h_submit(&h, "a1", "fs", "jd", "{\"shareIdentifier\": \"A\"}");
  CHECK_STATUS(&h, "a1", JOB_STARTING);
  h.t += 10;
  h_submit(&h, "b1", "fs", "jd", "{\"shareIdentifier\": \"B\"}");
  h.t += 10;
  run_to_end(&h, "a1", 1, 1); /* a1 is retried; A and B both hold nothing now: a tie */
  CHECK_STATUS(&h, "a1", JOB_STARTING);
  CHECK_STATUS(&h, "b1", JOB_RUNNABLE);
  h_release(&h);
}

/* docs/job-model.md §3.4 rule 4: at 500 active shares a submission adding another fails with
 * ClientException. There was no limit: every share identifier got a share for good. */
static void test_fair_share_active_share_limit(void) {
  TEST("fair share: a submission that would add a 501st active share is refused; an active share still takes jobs");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  char *pol = "{\"name\": \"fs\", \"arn\": \"" ARN "scheduling-policy/fs\", \"fairsharePolicy\": {\"shareDecaySeconds\": 60}}";
  h_feed(&h, BARGE_EV_CONFIG_RECORD, h_config(&h, "SchedulingPolicy", json_loads(pol, 0, NULL)));
  h_queue(&h, "q", 1, "{\"schedulingPolicyArn\": \"" ARN "scheduling-policy/fs\"}", "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, NULL);
  char id[32], extra[64], r[256];
  for (int i = 0; i < 500; i++) {
    snprintf(id, sizeof id, "j%d", i);
    snprintf(extra, sizeof extra, "{\"shareIdentifier\": \"s%d\"}", i);
    h_submit(&h, id, "q", "jd", extra);
  }
  CHECK_STATUS(&h, "j499", JOB_RUNNABLE);
  h_submit(&h, "new", "q", "jd", "{\"shareIdentifier\": \"s500\"}");
  CHECK_STATUS(&h, "new", JOB_FAILED);
  CHECK_STR(h_reason(&h, "new", r, sizeof r),
            "ClientException: job queue q already has 500 active shares, the most a fair-share queue takes; "
            "shareIdentifier s500 would add another (a share is active while it has a job that has not ended, and "
            "shareDecaySeconds after)");
  h_submit(&h, "more", "q", "jd", "{\"shareIdentifier\": \"s7\"}"); /* an active share: taken */
  CHECK_STATUS(&h, "more", JOB_RUNNABLE);
  /* s3's only job ends; its share stays active for shareDecaySeconds (60 s), then makes room */
  h_stop(&h, "CancelJob", "j3", "done");
  h_submit(&h, "new2", "q", "jd", "{\"shareIdentifier\": \"s501\"}");
  CHECK_STATUS(&h, "new2", JOB_FAILED);
  h.t += 61000;
  h_submit(&h, "new3", "q", "jd", "{\"shareIdentifier\": \"s502\"}");
  CHECK_STATUS(&h, "new3", JOB_RUNNABLE);
  h_release(&h);
}

/* A queue's shares were kept for the scheduler's life; their index was 16 bits, so the 65,537th
 * share identifier seen in a queue wrapped to share 0: its jobs were filed, weighed and charged
 * as another share's. The shares are made here directly (submitting 65,536 jobs would only be
 * slower); the two jobs then go through the core as usual. */
static void test_fair_share_index_beyond_16_bits(void) {
  TEST("fair share: past 65,536 share identifiers in a queue, a job still lands in its own share");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  char *pol = "{\"name\": \"fs\", \"arn\": \"" ARN "scheduling-policy/fs\", \"fairsharePolicy\": {\"shareDecaySeconds\": 0}}";
  h_feed(&h, BARGE_EV_CONFIG_RECORD, h_config(&h, "SchedulingPolicy", json_loads(pol, 0, NULL)));
  h_queue(&h, "q", 1, "{\"schedulingPolicyArn\": \"" ARN "scheduling-policy/fs\"}", "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, NULL);
  struct queue *q = NULL;
  for (size_t i = 0; i < h.s->nqueues; i++)
    if (!strcmp(h.s->queues[i]->name, "q")) q = h.s->queues[i];
  char sid[32];
  h.s->conf.max_active_shares = 70000;
  for (int i = 0; i < 65536; i++) {
    snprintf(sid, sizeof sid, "s%d", i);
    /* each as if it had a job that has not ended (a share without one is reclaimed), above
     * the active-share limit this test lifts */
    uint32_t k = sched_share_of(q, sid);
    q->shares[k].active_jobs = 1;
  }
  h_submit(&h, "old", "q", "jd", "{\"shareIdentifier\": \"s0\"}");
  h_submit(&h, "new", "q", "jd", "{\"shareIdentifier\": \"late\"}");
  CHECK_STATUS(&h, "new", JOB_RUNNABLE);
  CHECK_INT((int)q->nshares_, 65537);
  const char *names[] = {"old", "s0", "new", "late"};
  for (int k = 0; k < 4; k += 2) {
    const struct job *j = h.s->jobs[sched_find_job(h.s, names[k])];
    CHECK_STR(q->shares[j->share].id, names[k + 1]);
    CHECK_INT((int)q->shares[j->share].nrunnable, 1); /* alone in its share's list */
  }
  h_instance(&h, "i-0", "ce", "READY", 2, 4096);
  CHECK_STATUS(&h, "old", JOB_STARTING);
  CHECK_STATUS(&h, "new", JOB_STARTING);
  h_release(&h);
}

/* ---- reclaimed shares (docs/job-model.md §3.4 rule 4) ---- */

static struct queue *queue_named(struct h *h, const char *name) {
  for (size_t i = 0; i < h->s->nqueues; i++)
    if (!strcmp(h->s->queues[i]->name, name)) return h->s->queues[i];
  return NULL;
}

/* The share slots of a queue that hold an identifier (a reclaimed slot holds none). */
static int shares_in_use(const struct queue *q) {
  int n = 0;
  for (size_t i = 0; i < q->nshares_; i++) n += q->shares[i].id != NULL;
  return n;
}

/* A fair-share queue "q" (W = decay_s, no reservation) on ce, one instance i-0 of 1 vCPU, JD "jd";
 * an instance is lost after a day without a word. */
static void fs_one_cpu_world(struct h *h, int decay_s, int with_instance) {
  h_ce(h, "ce", 0, 0);
  char pol[256];
  snprintf(pol, sizeof pol,
           "{\"name\": \"fs\", \"arn\": \"" ARN "scheduling-policy/fs\", \"fairsharePolicy\": {\"shareDecaySeconds\": %d, \"computeReservation\": 0}}",
           decay_s);
  h_feed(h, BARGE_EV_CONFIG_RECORD, h_config(h, "SchedulingPolicy", json_loads(pol, 0, NULL)));
  h_queue(h, "q", 1, "{\"schedulingPolicyArn\": \"" ARN "scheduling-policy/fs\"}", "ce", NULL);
  h_jd(h, "jd", 1, 1, 64, NULL);
  h->s->conf.lost_after_ms = 86400 * 1000; /* the stories send no heartbeats */
  if (with_instance) h_instance(h, "i-0", "ce", "READY", 1, 4096);
}

/* A share was kept for the scheduler's life: a pipeline using a fresh shareIdentifier per run
 * grew the scheduler's memory and every dispatch cycle of the queue without bound. */
static void test_fair_share_reclaims_ended_shares(void) {
  TEST("fair share: 10,000 share identifiers used one after the other (a job each) leave a few share slots, with W = 0 and W = 60 s");
  for (int decay_s = 0; decay_s <= 60; decay_s += 60) {
    struct h h;
    h_init(&h);
    fs_one_cpu_world(&h, decay_s, 1);
    struct queue *q = queue_named(&h, "q");
    int n = decay_s ? 2000 : 10000, step_s = 10, placed = 0, most_in_use = 0;
    /* an ended share waits for the next dispatch cycle; with W > 0 it lasts W (and half a
     * usage bucket) after its job ended */
    int bound = decay_s / step_s + 3;
    for (int i = 0; i < n; i++) {
      char id[32], extra[64];
      snprintf(id, sizeof id, "j%d", i);
      snprintf(extra, sizeof extra, "{\"shareIdentifier\": \"run-%d\"}", i);
      h_submit(&h, id, "q", "jd", extra);
      placed += h_status(&h, id) == JOB_STARTING;
      if (shares_in_use(q) > most_in_use) most_in_use = shares_in_use(q);
      h_exec(&h, id, 1, "i-0", "STARTED", -9999, NULL);
      h.t += 1000;
      h_exec(&h, id, 1, "i-0", "EXITED", 0, NULL);
      h.t += (step_s - 1) * 1000;
    }
    CHECK_INT(placed, n);
    CHECK(most_in_use <= bound, "W = %d s: %d share slots in use at most (bound %d)", decay_s, most_in_use, bound);
    CHECK(q->nshares_ <= (size_t)bound, "W = %d s: %zu share slots allocated (bound %d)", decay_s, q->nshares_, bound);
    h_release(&h);
  }
}

/* The story of test_fair_share_reclaimed_share_is_new and ..._restart, one step per call (W =
 * 600 s, one 1-vCPU instance): A and B each run a job of 100 s; C holds the instance; 630 s
 * after A's job ended its share has no usage left and is reclaimed at the next dispatch cycle (C's
 * second job). A is then seen again, with D new and B still inside its window. */
enum { STORY_STEPS = 15 };
static void story_step(struct h *h, int step) {
  switch (step) {
  case 0: h_submit(h, "a1", "q", "jd", "{\"shareIdentifier\": \"A\"}"); h_exec(h, "a1", 1, "i-0", "STARTED", -9999, NULL); break;
  case 1: h->t += 100000; h_exec(h, "a1", 1, "i-0", "EXITED", 0, NULL); break;
  case 2: h_submit(h, "b1", "q", "jd", "{\"shareIdentifier\": \"B\"}"); h_exec(h, "b1", 1, "i-0", "STARTED", -9999, NULL); break;
  case 3: h->t += 100000; h_exec(h, "b1", 1, "i-0", "EXITED", 0, NULL); break;
  case 4: h_submit(h, "c1", "q", "jd", "{\"shareIdentifier\": \"C\"}"); h_exec(h, "c1", 1, "i-0", "STARTED", -9999, NULL); break;
  case 5: h->t += 530000; h_tick(h); break; /* nothing RUNNABLE: no dispatch cycle */
  case 6: h->t += 1000; h_submit(h, "c2", "q", "jd", "{\"shareIdentifier\": \"C\"}"); break;
  case 7: h->t += 1000; h_submit(h, "a2", "q", "jd", "{\"shareIdentifier\": \"A\"}"); break;
  case 8: h->t += 1000; h_submit(h, "d1", "q", "jd", "{\"shareIdentifier\": \"D\"}"); break;
  case 9: h->t += 1000; h_submit(h, "b2", "q", "jd", "{\"shareIdentifier\": \"B\"}"); break;
  case 10: h->t += 10000; h_exec(h, "c1", 1, "i-0", "EXITED", 0, NULL); break;
  case 11: case 12: case 13: case 14: {
    const char *id = (const char *[]){"a2", "d1", "b2", "c2"}[step - 11];
    if (h_status(h, id) != JOB_STARTING) break; /* the order is checked by the callers */
    h_exec(h, id, 1, "i-0", "STARTED", -9999, NULL);
    h->t += 10000;
    h_exec(h, id, 1, "i-0", "EXITED", 0, NULL);
    break;
  }
  }
}

/* Records the jobs each core places (STARTING), in order: the live core's into story_placed, a
 * restored one's (story_restored) into story_placed_r. */
static json_t *story_placed, *story_placed_r;
static struct h *story_restored;
static void story_each(struct h *h, const struct out_ev *e) {
  if (e->kind == OUT_STATE_CHANGE && e->new_status == JOB_STARTING)
    json_array_append_new(h == story_restored ? story_placed_r : story_placed, json_string(sched_job_id(h->s, e->job)));
}

static void check_json(json_t *v, const char *want) {
  char *got = json_dumps(v, JSON_COMPACT);
  CHECK_STR(got, want);
  free(got);
}

static void test_fair_share_reclaimed_share_is_new(void) {
  TEST("fair share: a share reclaimed W after its last job and seen again is a new share with no usage; the order among active shares is the usage order");
  struct h h;
  h_init(&h);
  fs_one_cpu_world(&h, 600, 1);
  struct queue *q = queue_named(&h, "q");
  story_placed = json_array();
  h.each = story_each;
  for (int k = 0; k <= 5; k++) story_step(&h, k);
  CHECK(strmap_get(&q->share_by_id, "A") != STRMAP_NONE, "A is kept until a dispatch cycle of the queue");
  story_step(&h, 6); /* c2 waits: a dispatch cycle */
  CHECK(strmap_get(&q->share_by_id, "A") == STRMAP_NONE, "A, 631 s after its job, is reclaimed");
  CHECK(strmap_get(&q->share_by_id, "B") != STRMAP_NONE, "B, 531 s after its job (W = 600 s), is kept");
  CHECK_INT(shares_in_use(q), 2);
  story_step(&h, 7);
  const struct job *a2 = h.s->jobs[sched_find_job(h.s, "a2")];
  const struct share *sa = &q->shares[a2->share];
  CHECK_STR(sa->id, "A");
  double vsec = 0;
  for (int b = 0; b < SHARE_BUCKETS; b++) vsec += sa->bucket_vsec[b];
  CHECK(vsec == 0 && sa->last_active == 0 && sa->active_jobs == 1, "A is new: %.1f vCPU-s in its buckets, last active at %lld",
        vsec, (long long)sa->last_active);
  for (int k = 8; k < STORY_STEPS; k++) story_step(&h, k);
  /* A and D have no usage (a tie: a2 is older), B a little (inside its window), C the most */
  check_json(story_placed, "[\"a1\",\"b1\",\"c1\",\"a2\",\"d1\",\"b2\",\"c2\"]");
  CHECK_INT(shares_in_use(q), 4);
  json_decref(story_placed);
  h_release(&h);
}

/* A restart rebuilds the shares from the job records (sched_restore.c): those a scheduler that
 * never restarted has reclaimed, or would reclaim at its next dispatch cycle, are reclaimed there
 * too, and what follows is decided alike. */
static void test_fair_share_reclaim_survives_restart(void) {
  TEST("fair share: a restart before, at and after a share's reclaiming gives the decisions of a scheduler that never restarted");
  for (int at = 4; at <= 10; at++) {
    struct h h, r;
    h_init(&h);
    fs_one_cpu_world(&h, 600, 1);
    story_placed = json_array();
    story_placed_r = json_array();
    h.each = story_each;
    for (int k = 0; k < at; k++) story_step(&h, k);
    h_init(&r);
    story_restored = &r;
    r.each = story_each;
    fs_one_cpu_world(&r, 600, 0);
    h_restore_instance(&r, "i-0", "ce", 1, 4096, h.t);
    h_restore_jobs(&r, &h, 0);
    struct queue *q = queue_named(&h, "q"), *rq = queue_named(&r, "q");
    /* after step 5 the live core still holds A (no dispatch cycle since it could go); the
     * restart does not */
    CHECK(shares_in_use(rq) <= shares_in_use(q), "restart before step %d: %d shares in use, %d live", at, shares_in_use(rq), shares_in_use(q));
    if (at == 6 || at == 7) CHECK(strmap_get(&rq->share_by_id, "A") == STRMAP_NONE, "restart before step %d: A reclaimed", at);
    json_array_clear(story_placed);
    r.t = h.t;
    for (int k = at; k < STORY_STEPS; k++) {
      story_step(&h, k);
      story_step(&r, k);
      CHECK(h.t == r.t, "same clock");
    }
    char *a = json_dumps(story_placed, JSON_COMPACT), *b = json_dumps(story_placed_r, JSON_COMPACT);
    CHECK(json_array_size(story_placed) >= 4 && !strcmp(a, b), "restart before step %d: placed %s live, %s restarted", at, a, b);
    CHECK_INT(shares_in_use(rq), shares_in_use(q));
    for (const char *const *id = (const char *const[]){"a2", "b2", "c2", "d1", NULL}; *id; id++)
      CHECK_INT(h_status(&r, *id), h_status(&h, *id));
    free(a);
    free(b);
    story_restored = NULL;
    json_decref(story_placed);
    json_decref(story_placed_r);
    h_release(&r);
    h_release(&h);
  }
}

/* docs/job-model.md §6.1: shareIdentifier is required on a fair-share queue and refused on a FIFO
 * one. A direct producer skips the producers' check: its job without one joined a share named ""
 * and was weighed as a user of its own, one with one in a FIFO queue ran as if it had none. */
static void test_share_identifier_required_or_refused(void) {
  TEST("shareIdentifier from a direct producer: missing on a fair-share queue, or given on a FIFO one, fails the job");
  struct h h;
  world(&h, 1, 4, 4096);
  char *pol = "{\"name\": \"fs\", \"arn\": \"" ARN "scheduling-policy/fs\", \"fairsharePolicy\": {\"shareDecaySeconds\": 0}}";
  h_feed(&h, BARGE_EV_CONFIG_RECORD, h_config(&h, "SchedulingPolicy", json_loads(pol, 0, NULL)));
  h_queue(&h, "fq", 1, "{\"schedulingPolicyArn\": \"" ARN "scheduling-policy/fs\"}", "ce", NULL);
  char r[256];
  h_submit(&h, "none", "fq", "jd", NULL);
  CHECK_STATUS(&h, "none", JOB_FAILED);
  CHECK_STR(h_reason(&h, "none", r, sizeof r), "ClientException: shareIdentifier is required on fair-share job queue fq");
  h_submit(&h, "fifo", "q", "jd", "{\"shareIdentifier\": \"a\"}");
  CHECK_STATUS(&h, "fifo", JOB_FAILED);
  CHECK_STR(h_reason(&h, "fifo", r, sizeof r), "ClientException: shareIdentifier is not allowed on FIFO job queue q");
  h_submit(&h, "ok", "fq", "jd", "{\"shareIdentifier\": \"a\"}");
  CHECK_STATUS(&h, "ok", JOB_STARTING);
  h_release(&h);
}

static void test_too_large_time_limit_cancel(void) {
  TEST("a job too large for every instance gets MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT and the queue's time-limit action cancels it");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "q", 1, "{\"jobStateTimeLimitActions\": [{\"reason\": \"MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT\", \"state\": \"RUNNABLE\", \"maxTimeSeconds\": 600, \"action\": \"CANCEL\"}]}", "ce", NULL);
  h_jd(&h, "big", 1, 64, 1024, NULL);
  h_jd(&h, "ok", 1, 1, 64, NULL);
  h_instance(&h, "i-0", "ce", "READY", 4, 8192);
  h_submit(&h, "big", "q", "big", NULL);
  char r[256];
  CHECK_STATUS(&h, "big", JOB_RUNNABLE);
  CHECK_STR(h_reason(&h, "big", r, sizeof r), "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher than that can be met by the CE(s) attached to the job queue.");
  h_submit(&h, "small", "q", "ok", NULL); /* the next job is not blocked */
  CHECK_STATUS(&h, "small", JOB_STARTING);
  for (int sec = 10; sec < 599; sec += 10) { /* the instance stays alive */
    h.t += 10000;
    h_instance(&h, "i-0", "ce", "HEARTBEAT", 4, 8192);
  }
  h.t += 9000; /* 599 s after the code was set */
  h_tick(&h);
  CHECK_STATUS(&h, "big", JOB_RUNNABLE);
  h.t += 2000;
  h_instance(&h, "i-0", "ce", "HEARTBEAT", 4, 8192);
  h_tick(&h);
  CHECK_STATUS(&h, "big", JOB_FAILED);
  CHECK_STR(h_reason(&h, "big", r, sizeof r), "Cancelled: MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT");
  json_t *d = h_detail(&h, "big");
  CHECK(json_is_true(json_object_get(d, "isCancelled")), "isCancelled");
  json_decref(d);
  h_release(&h);
}

static void test_max_resource_code(void) {
  TEST("a job needing more vCPUs than maxvCpus of every CE: MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE");
  struct h h;
  h_init(&h);
  h_ce(&h, "m", 1, 16);
  h_queue(&h, "q", 1, NULL, "m", NULL);
  h_jd(&h, "big", 1, 32, 1024, NULL);
  h_submit(&h, "a", "q", "big", NULL);
  char r[256];
  CHECK_STR(h_reason(&h, "a", r, sizeof r), "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE(s) associated with the job queue cannot meet the CPU requirement of the job.");
  h_release(&h);
}

static void test_lost_instance(void) {
  TEST("an instance silent past the heartbeat limit is lost: its attempts fail with the Host EC2 reason");
  struct h h;
  world(&h, 1, 2, 4096);
  h_submit(&h, "a", "q", "jd", NULL);
  h_exec(&h, "a", 1, "i-0", "STARTED", -9999, NULL);
  h.t += 29000;
  h_tick(&h);
  CHECK_STATUS(&h, "a", JOB_RUNNING);
  h.t += 2000;
  int lost = h.outputs[OUT_INSTANCE];
  h_tick(&h);
  CHECK_STATUS(&h, "a", JOB_FAILED);
  CHECK_INT(h.outputs[OUT_INSTANCE], lost + 1);
  char r[256];
  CHECK_STR(h_reason(&h, "a", r, sizeof r), "Host EC2 (instance i-0) terminated.");
  h_release(&h);
}

static void test_array_parent_cancel_forwarded(void) {
  TEST("array parent: cancel is forwarded to non-terminal children; parent FAILED when all are terminal");
  struct h h;
  world(&h, 1, 1, 4096);
  h_submit(&h, "A", "q", "jd", "{\"arrayProperties\": {\"size\": 3}}");
  run_to_end(&h, "A:0", 1, 0);
  h_exec(&h, "A:1", 1, "i-0", "STARTED", -9999, NULL);
  h_stop(&h, "CancelJob", "A", "stop all");
  CHECK_STATUS(&h, "A:1", JOB_RUNNING);  /* cancel leaves a running child */
  CHECK_STATUS(&h, "A:2", JOB_FAILED);
  CHECK_STATUS(&h, "A", JOB_PENDING);
  h_exec(&h, "A:1", 1, "i-0", "EXITED", 0, NULL);
  CHECK_STATUS(&h, "A", JOB_FAILED);
  json_t *d = h_detail(&h, "A");
  CHECK(json_object_get(d, "stoppedAt") != NULL, "stoppedAt set");
  CHECK(json_object_get(d, "startedAt") != NULL, "startedAt = earliest child start");
  CHECK(json_is_true(json_object_get(d, "isCancelled")), "the cancel took effect on A:2: isCancelled");
  json_decref(d);
  h_release(&h);

  /* a cancel that reaches only running children stops none of them: the parent that succeeds
   * is not cancelled (isCancelled follows the operation that took effect, §7.1) */
  TEST("... and an array whose children all ran on and succeeded is SUCCEEDED with isCancelled false");
  world(&h, 1, 2, 4096);
  h_submit(&h, "B", "q", "jd", "{\"arrayProperties\": {\"size\": 2}}");
  h_exec(&h, "B:0", 1, "i-0", "STARTED", -9999, NULL);
  h_exec(&h, "B:1", 1, "i-0", "STARTED", -9999, NULL);
  h_stop(&h, "CancelJob", "B", "too late");
  h_exec(&h, "B:0", 1, "i-0", "EXITED", 0, NULL);
  h_exec(&h, "B:1", 1, "i-0", "EXITED", 0, NULL);
  CHECK_STATUS(&h, "B", JOB_SUCCEEDED);
  d = h_detail(&h, "B");
  CHECK(!json_is_true(json_object_get(d, "isCancelled")), "a SUCCEEDED parent is not isCancelled");
  CHECK(json_object_get(d, "statusReason") == NULL, "and carries no stop reason");
  json_decref(d);
  h_release(&h);
}

/* The children of a SEQUENTIAL array wait for each other: cancelling the parent failed child 0
 * first, and child 1, 2... then failed with "Dependent job S:0 failed" (isCancelled false) before
 * the cancel reached them. Each child gets the caller's reason (§2.3, T13). */
static void test_array_sequential_cancel_forwarded(void) {
  TEST("array parent: a cancel reaches every SEQUENTIAL child with its reason, not a dependency failure");
  struct h h;
  world(&h, 0, 1, 4096); /* no instance: child 0 stays RUNNABLE */
  submit_sequential(&h, "S", 3);
  CHECK_STATUS(&h, "S:0", JOB_RUNNABLE);
  CHECK_STATUS(&h, "S:1", JOB_PENDING);
  h_stop(&h, "CancelJob", "S", "stop all");
  char r[256];
  for (int i = 0; i < 3; i++) {
    char id[16];
    snprintf(id, sizeof id, "S:%d", i);
    CHECK_STATUS(&h, id, JOB_FAILED);
    CHECK_STR(h_reason(&h, id, r, sizeof r), "Cancelled: stop all");
    json_t *d = h_detail(&h, id);
    CHECK(json_is_true(json_object_get(d, "isCancelled")), "%s isCancelled", id);
    json_decref(d);
  }
  CHECK_STATUS(&h, "S", JOB_FAILED);
  CHECK_STR(h_reason(&h, "S", r, sizeof r), "stop all");
  h_release(&h);
}

/* A failure cascades down dependency chains: it did so by recursion, one level of C stack
 * per job, and cancelling a 10,000-child SEQUENTIAL array whose child 0 was running overflowed
 * the stack when child 0 ended. The scheduler died on that event and again at every restart. */
static void test_long_dependency_chain_cascades(void) {
  TEST("a cancel or failure cascades down a 10,000-child SEQUENTIAL chain without exhausting the stack");
  struct h h;
  world(&h, 1, 1, 4096);
  submit_sequential(&h, "S", 10000);
  CHECK_STATUS(&h, "S:0", JOB_STARTING);
  h_stop(&h, "CancelJob", "S", "stop all"); /* S:0 runs on: the others wait for it (T13) */
  CHECK_STATUS(&h, "S:9999", JOB_PENDING);
  run_to_end(&h, "S:0", 1, 0);
  CHECK_STATUS(&h, "S:0", JOB_SUCCEEDED);
  CHECK_INT(count_status(&h, "S", 10000, JOB_FAILED), 9999);
  char r[256];
  CHECK_STR(h_reason(&h, "S:9999", r, sizeof r), "Cancelled: stop all");
  CHECK_STATUS(&h, "S", JOB_FAILED);
  submit_sequential(&h, "T", 10000);
  run_to_end(&h, "T:0", 1, 3);
  CHECK_INT(count_status(&h, "T", 10000, JOB_FAILED), 10000);
  CHECK_STR(h_reason(&h, "T:9999", r, sizeof r), "Dependent job T:9998 failed");
  h_release(&h);
}

static void test_drain_handshake(void) {
  TEST("drain: a draining instance takes no jobs and is confirmed DRAINED once idle");
  struct h h;
  world(&h, 1, 1, 4096);
  h_submit(&h, "a", "q", "jd", NULL);
  int drained = h.outputs[OUT_INSTANCE];
  h_instance(&h, "i-0", "ce", "DRAIN_REQUESTED", 1, 4096);
  CHECK_INT(h.outputs[OUT_INSTANCE], drained);
  h_submit(&h, "b", "q", "jd", NULL);
  run_to_end(&h, "a", 1, 0);
  CHECK_STATUS(&h, "b", JOB_RUNNABLE);
  CHECK_INT(h.outputs[OUT_INSTANCE], drained + 1);
  h_release(&h);
}

static void test_backfill_head_reservation(void) {
  TEST("backfill and head reservation: smaller jobs pass a blocked head until it has waited 300 s, then its CE is held for it");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "q", 1, NULL, "ce", NULL);
  h_jd(&h, "small", 1, 1, 64, NULL);
  h_jd(&h, "big", 1, 4, 64, NULL);
  h_instance(&h, "i-0", "ce", "READY", 4, 4096);
  h_submit(&h, "s0", "q", "small", NULL);
  h.t += 10;
  h_submit(&h, "B", "q", "big", NULL);
  h.t += 10;
  h_submit(&h, "s1", "q", "small", NULL);
  CHECK_STATUS(&h, "B", JOB_RUNNABLE);
  CHECK_STATUS(&h, "s1", JOB_STARTING); /* backfill */
  for (int sec = 0; sec < 31; sec++) {
    h.t += 10000;
    h_instance(&h, "i-0", "ce", "HEARTBEAT", 4, 4096);
  }
  h_tick(&h);
  h_submit(&h, "s2", "q", "small", NULL);
  CHECK_STATUS(&h, "s2", JOB_RUNNABLE); /* the CE is reserved for B now */
  run_to_end(&h, "s0", 1, 0);
  CHECK_STATUS(&h, "B", JOB_RUNNABLE);
  run_to_end(&h, "s1", 1, 0);
  CHECK_STATUS(&h, "B", JOB_STARTING);
  CHECK_STATUS(&h, "s2", JOB_RUNNABLE);
  h_release(&h);
}

static void test_head_reservation_clock_restarts(void) {
  TEST("head reservation: a head that was placed and came back (retried) starts a new 300 s wait; its earlier wait does not count");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "q", 10, NULL, "ce", NULL);
  h_queue(&h, "low", 1, NULL, "ce", NULL);
  h_jd(&h, "small", 1, 1, 64, NULL);
  h_jd(&h, "big", 1, 4, 64, "{\"retryStrategy\": {\"attempts\": 2}}");
  h_instance(&h, "i-0", "ce", "READY", 4, 4096);
  h_instance(&h, "i-1", "ce", "READY", 2, 4096);
  h_submit(&h, "f", "low", "big", NULL); /* holds i-0 */
  h.t += 10;
  h_submit(&h, "B", "q", "big", NULL);
  CHECK_STATUS(&h, "B", JOB_RUNNABLE);
  for (int sec = 0; sec < 31; sec++) { /* B is head for 310 s: the CE is held for it */
    h.t += 10000;
    h_instance(&h, "i-0", "ce", "HEARTBEAT", 4, 4096);
    h_instance(&h, "i-1", "ce", "HEARTBEAT", 2, 4096);
  }
  h_tick(&h);
  h_submit(&h, "s1", "low", "small", NULL);
  CHECK_STATUS(&h, "s1", JOB_RUNNABLE);
  run_to_end(&h, "f", 1, 0);
  CHECK_STATUS(&h, "B", JOB_STARTING);
  CHECK_STATUS(&h, "s1", JOB_STARTING); /* no head waits: i-1 takes it */
  h.t += 1000;
  run_to_end(&h, "s1", 1, 0);
  /* i-0 is drained while B runs; B fails and is retried: it is head again, from now */
  h_instance(&h, "i-0", "ce", "DRAIN_REQUESTED", 4, 4096);
  h.t += 1000;
  run_to_end(&h, "B", 1, 1);
  CHECK_STATUS(&h, "B", JOB_RUNNABLE);
  h_tick(&h);
  h_submit(&h, "s2", "low", "small", NULL);
  CHECK_STATUS(&h, "s2", JOB_STARTING); /* B has been head for 0 s: nothing is held for it */
  h_release(&h);
}

static void test_managed_instance_types_catalogue(void) {
  TEST("managed CE: a job no allowed instance type holds gets MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT (catalogue)");
  struct h h;
  h_init(&h);
  json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:i, s:i, s:[s]}}", "computeEnvironmentName", "small",
                        "computeEnvironmentArn", ARN "compute-environment/small", "type", "MANAGED", "state", "ENABLED",
                        "status", "VALID", "computeResources", "type", "EC2", "minvCpus", 0, "maxvCpus", 256,
                        "instanceTypes", "c5.large");
  h_feed(&h, BARGE_EV_CONFIG_RECORD, h_config(&h, "ComputeEnvironment", b));
  h_queue(&h, "q", 1, NULL, "small", NULL);
  h_jd(&h, "eight", 1, 8, 1024, NULL);
  h_jd(&h, "two", 1, 2, 1024, NULL);
  h_jd(&h, "fullmem", 1, 2, 4096, NULL); /* c5.large has 4 GiB, less the agent's 32 MiB reserve */
  h_submit(&h, "a", "q", "eight", NULL);
  h_submit(&h, "b", "q", "two", NULL);
  h_submit(&h, "c", "q", "fullmem", NULL);
  char r[256];
  CHECK_STR(h_reason(&h, "a", r, sizeof r), "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher than that can be met by the CE(s) attached to the job queue.");
  CHECK_STR(h_reason(&h, "b", r, sizeof r), "");
  CHECK_STR(h_reason(&h, "c", r, sizeof r), "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher than that can be met by the CE(s) attached to the job queue.");
  h_release(&h);
}

static void test_insufficient_capacity_code(void) {
  TEST("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY while the provider refuses launches in every candidate CE");
  struct h h;
  h_init(&h);
  h_ce(&h, "m", 1, 64);
  h_queue(&h, "q", 1, NULL, "m", NULL);
  h_jd(&h, "jd", 1, 2, 1024, NULL);
  h_submit(&h, "a", "q", "jd", NULL);
  char r[256];
  CHECK_STR(h_reason(&h, "a", r, sizeof r), "");
  h_instance(&h, "i-x", "m", "LAUNCH_FAILED", 0, 0);
  CHECK_STR(h_reason(&h, "a", r, sizeof r), "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested");
  h_instance(&h, "i-y", "m", "READY", 4, 8192);
  CHECK_STATUS(&h, "a", JOB_STARTING);
  h_release(&h);
}

/* An agent's InstanceEvent with its incarnation number. */
/* An InstanceEvent of instance id (2 vCPUs, 4096 MiB in CE "ce") at h's time. */
static json_t *instance_event(struct h *h, const char *id, const char *kind, long long inc) {
  return json_pack("{s:o, s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:I}", "header", h_header(h->t), "instanceId", id,
                   "computeEnvironment", "ce", "kind", kind, "vcpus", 2, "memoryMib", 4096, "gpus", 0,
                   "incarnation", (json_int_t)inc, "at", (json_int_t)h->t);
}

static void agent_says(struct h *h, const char *id, const char *kind, long long inc) {
  h_feed(h, BARGE_EV_INSTANCE_EVENT, instance_event(h, id, kind, inc));
}

/* The same event read back from the instances table at a rebuild. */
static void table_says(struct h *h, const char *id, const char *kind, long long inc) {
  json_t *ie = instance_event(h, id, kind, inc);
  sched_restore_instance(h->s, ie);
  json_decref(ie);
}

static void exec_from(struct h *h, const char *job, int attempt, const char *kind, int code, long long inc) {
  json_t *ev = json_pack("{s:o, s:s, s:i, s:s, s:s, s:I, s:I}", "header", h_header(h->t), "jobId", job,
                         "attempt", attempt, "instanceId", "i-0", "kind", kind, "incarnation", (json_int_t)inc,
                         "at", (json_int_t)h->t);
  if (code > -1000) json_object_set_new(ev, "exitCode", json_integer(code));
  h_feed(h, BARGE_EV_EXECUTION_REPORT, ev);
}

/* A READY with an impossible capacity is refused (the shell dead-letters it); the instance takes
 * no job, and a sound READY of it afterwards does. */
static void test_impossible_capacity_refused(void) {
  TEST("a READY with negative or huge capacity is refused, and the instance gets no job");
  struct h h;
  world(&h, 0, 0, 0);
  h_submit(&h, "j1", "q", "jd", NULL);
  long long bad[][3] = {{-4, 4096, 0}, {4, -1, 0}, {4, 4096, -2}, {4, 4096LL << 30, 0}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    json_t *ev = json_pack("{s:o, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "header", h_header(h.t), "instanceId", "i-r",
                           "computeEnvironment", "ce", "kind", "READY", "vcpus", (json_int_t)bad[i][0], "memoryMib",
                           (json_int_t)bad[i][1], "gpus", (json_int_t)bad[i][2], "at", (json_int_t)h.t);
    char err[512] = "";
    int rc = sched_handle(h.s, BARGE_EV_INSTANCE_EVENT, ev, &h.out, err, sizeof err);
    h_drain(&h);
    json_decref(ev);
    CHECK(rc != 0 && strstr(err, "impossible capacity"), "READY %lld/%lld/%lld refused: %s", bad[i][0], bad[i][1],
          bad[i][2], err);
  }
  CHECK(h_status(&h, "j1") == JOB_RUNNABLE, "the job waits: no instance was registered");
  h_instance(&h, "i-r", "ce", "READY", 4, 4096);
  CHECK(h_status(&h, "j1") == JOB_STARTING, "a sound READY of the same instance takes it");
  h_release(&h);
}

static void test_agent_restart_settles_attempts(void) {
  TEST("a restarted agent (larger incarnation): attempts placed on the earlier one end with the Host EC2 reason and retry; the old incarnation's word is ignored");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "q", 10, NULL, "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, "{\"retryStrategy\": {\"attempts\": 2}}");
  h.log = json_array();
  agent_says(&h, "i-0", "READY", 100);
  h_submit(&h, "a", "q", "jd", NULL);
  exec_from(&h, "a", 1, "STARTED", -9999, 100);
  CHECK_STATUS(&h, "a", JOB_RUNNING);
  /* the same incarnation again (a repeated READY, heartbeats) changes nothing */
  agent_says(&h, "i-0", "READY", 100);
  agent_says(&h, "i-0", "HEARTBEAT", 100);
  CHECK_STATUS(&h, "a", JOB_RUNNING);
  /* the agent restarts: its READY carries incarnation 200 */
  h.t += 1000;
  agent_says(&h, "i-0", "READY", 200);
  json_t *d = h_detail(&h, "a");
  json_t *att = json_object_get(d, "attempts");
  CHECK_INT((int)json_array_size(att), 1);
  CHECK_STR(json_string_value(json_object_get(json_array_get(att, 0), "statusReason")),
            "Host EC2 (instance i-0) terminated.");
  json_decref(d);
  /* retried by its rules, and placed again on the new incarnation */
  CHECK_STATUS(&h, "a", JOB_STARTING);
  json_t *last_placement = NULL;
  for (size_t i = 0; i < json_array_size(h.log); i++) {
    json_t *o = json_array_get(h.log, i);
    if (json_integer_value(json_object_get(o, "kind")) == OUT_PLACEMENT) last_placement = o;
  }
  json_t *pl = json_object_get(json_object_get(json_object_get(last_placement, "value"), "body"), "Placement");
  CHECK_INT((int)json_integer_value(json_object_get(pl, "attempt")), 2);
  CHECK_INT((int)json_integer_value(json_object_get(pl, "incarnation")), 200);
  /* a late report from the old incarnation about the new attempt number is not believed */
  exec_from(&h, "a", 2, "STARTED", -9999, 100);
  CHECK_STATUS(&h, "a", JOB_STARTING);
  exec_from(&h, "a", 2, "STARTED", -9999, 200);
  CHECK_STATUS(&h, "a", JOB_RUNNING);
  /* the old incarnation's heartbeats do not keep the instance alive */
  for (int i = 0; i < 4; i++) {
    h.t += 10000;
    agent_says(&h, "i-0", "HEARTBEAT", 100);
    h_tick(&h);
  }
  CHECK_STATUS(&h, "a", JOB_FAILED);
  char r[256];
  CHECK_STR(h_reason(&h, "a", r, sizeof r), "Host EC2 (instance i-0) terminated.");
  h_release(&h);
}

/* The configuration the rebuild tests share: one CE, one queue, a 1 vCPU / 64 MiB definition. */
static void small_config(struct h *h) {
  h_ce(h, "ce", 0, 0);
  h_queue(h, "q", 10, NULL, "ce", NULL);
  h_jd(h, "jd", 1, 1, 64, NULL);
}

/* A restarted agent's previous process reports its stop (TERMINATED) after the new one's READY:
 * it must not end the instance the new incarnation serves, live or at a rebuild. */
static void test_older_incarnation_end_ignored(void) {
  TEST("an older incarnation's late TERMINATED leaves the instance of the newer one alone; incarnation 0 still ends it");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "q", 10, NULL, "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, "{\"retryStrategy\": {\"attempts\": 3}}");
  agent_says(&h, "i-0", "READY", 100);
  agent_says(&h, "i-0", "READY", 200);
  h_submit(&h, "a", "q", "jd", NULL);
  exec_from(&h, "a", 1, "STARTED", -9999, 200);
  CHECK_STATUS(&h, "a", JOB_RUNNING);
  h.t += 1000;
  agent_says(&h, "i-0", "TERMINATED", 100);
  agent_says(&h, "i-0", "LOST", 100);
  CHECK_STATUS(&h, "a", JOB_RUNNING);
  h_submit(&h, "b", "q", "jd", NULL);
  h_tick(&h);
  CHECK_STATUS(&h, "b", JOB_STARTING); /* the instance still takes jobs */
  /* an end of unknown incarnation (the provisioner's) is taken as before */
  agent_says(&h, "i-0", "TERMINATED", 0);
  CHECK_STATUS(&h, "a", JOB_RUNNABLE);
  CHECK_STATUS(&h, "b", JOB_RUNNABLE);
  h_release(&h);

  /* the same at a rebuild: from the table, and as an end left to the input */
  struct h r;
  h_init(&r);
  small_config(&r);
  table_says(&r, "i-0", "READY", 200);
  table_says(&r, "i-0", "TERMINATED", 100);
  sched_restore_instance_ending(r.s, "i-0", 100);
  sched_restore_done(r.s);
  h_submit(&r, "c", "q", "jd", NULL);
  h_tick(&r);
  CHECK_STATUS(&r, "c", JOB_STARTING);
  h_release(&r);
}

static void test_restore_settles_attempts_of_older_incarnation(void) {
  TEST("rebuilt from its records while the agent restarted: the attempt of the older incarnation ends at the first tick");
  struct h h;
  h_init(&h);
  small_config(&h);
  agent_says(&h, "i-0", "READY", 100);
  h_submit(&h, "a", "q", "jd", NULL);
  exec_from(&h, "a", 1, "STARTED", -9999, 100);
  CHECK_STATUS(&h, "a", JOB_RUNNING);
  uint32_t ji = sched_find_job(h.s, "a");
  json_t *rec = sched_job_record(h.s, ji, "test", h.t);
  CHECK_INT((int)json_integer_value(json_object_get(rec, "incarnation")), 100);
  /* a new core: config, then the instance as the compacted topic now shows it (the agent's new
   * READY, incarnation 200), then the job record */
  struct h r;
  h_init(&r);
  r.t = h.t;
  small_config(&r);
  table_says(&r, "i-0", "READY", 200);
  char err[256];
  CHECK(sched_restore_job(r.s, rec, err, sizeof err) == 0, "%s", err);
  json_decref(rec);
  sched_restore_done(r.s);
  CHECK_STATUS(&r, "a", JOB_RUNNING);
  agent_says(&r, "i-0", "HEARTBEAT", 200); /* nothing newer than what was restored */
  CHECK_STATUS(&r, "a", JOB_RUNNING);
  r.t += 1000;
  h_tick(&r);
  CHECK_STATUS(&r, "a", JOB_FAILED);
  char why[256];
  CHECK_STR(h_reason(&r, "a", why, sizeof why), "Host EC2 (instance i-0) terminated.");
  h_release(&r);
  h_release(&h);
}

static void test_restore_instance_that_ended(void) {
  TEST("rebuilt from an uncompacted instances table (READY, beat, TERMINATED): the stopped host gets no placement");
  struct h r;
  h_init(&r);
  small_config(&r);
  table_says(&r, "i-0", "READY", 100);
  table_says(&r, "i-0", "HEARTBEAT", 100);
  table_says(&r, "i-0", "TERMINATED", 100);
  sched_restore_done(r.s);
  h_submit(&r, "a", "q", "jd", NULL);
  h_tick(&r);
  CHECK_STATUS(&r, "a", JOB_RUNNABLE);
  agent_says(&r, "i-1", "READY", 300); /* a live host takes it */
  h_tick(&r);
  CHECK_STATUS(&r, "a", JOB_STARTING);
  h_release(&r);
}

/* The rebuild meets an agent's TERMINATED written after the committed offset: the instance keeps
 * its job until the input brings that end again, but takes no new one meanwhile (a job submitted
 * right after a `barge down; barge up` was placed on the ended host and failed as lost). */
static void test_restored_ending_host_takes_no_job(void) {
  TEST("an instance whose end the input will bring takes no new job after the rebuild; the end settles its job");
  struct h h;
  h_init(&h);
  small_config(&h);
  agent_says(&h, "i-0", "READY", 100);
  h_submit(&h, "a", "q", "jd", NULL);
  exec_from(&h, "a", 1, "STARTED", -9999, 100);
  json_t *rec = sched_job_record(h.s, sched_find_job(h.s, "a"), "test", h.t);
  struct h r;
  h_init(&r);
  r.t = h.t;
  small_config(&r);
  table_says(&r, "i-0", "READY", 100);
  sched_restore_instance_ending(r.s, "i-0", 100); /* the shell's call for the TERMINATED it leaves to the input */
  char err[256];
  CHECK(sched_restore_job(r.s, rec, err, sizeof err) == 0, "%s", err);
  json_decref(rec);
  sched_restore_done(r.s);
  CHECK_STATUS(&r, "a", JOB_RUNNING);
  h_submit(&r, "b", "q", "jd", NULL);
  r.t += 1000;
  h_tick(&r);
  CHECK_STATUS(&r, "b", JOB_RUNNABLE); /* not placed on the ended host */
  agent_says(&r, "i-0", "TERMINATED", 100); /* the input's copy */
  CHECK_STATUS(&r, "a", JOB_FAILED);     /* lost with its host (no retry strategy) */
  agent_says(&r, "i-1", "READY", 200);
  CHECK_STATUS(&r, "b", JOB_STARTING);   /* the new host takes it */
  h_release(&r);
  h_release(&h);
}

static void test_terminate_on_gone_host(void) {
  TEST("a RUNNING job restored on a host that is gone: TerminateJob fails it at once (no agent can report its end)");
  struct h h;
  h_init(&h);
  small_config(&h);
  agent_says(&h, "i-0", "READY", 100);
  h_submit(&h, "a", "q", "jd", NULL);
  exec_from(&h, "a", 1, "STARTED", -9999, 100);
  CHECK_STATUS(&h, "a", JOB_RUNNING);
  json_t *rec = sched_job_record(h.s, sched_find_job(h.s, "a"), "test", h.t);
  struct h r;
  h_init(&r);
  r.t = h.t;
  small_config(&r);
  table_says(&r, "i-0", "READY", 100);
  table_says(&r, "i-0", "TERMINATED", 100); /* taken by a scheduler before the fix of the rebuild */
  char err[256];
  CHECK(sched_restore_job(r.s, rec, err, sizeof err) == 0, "%s", err);
  json_decref(rec);
  sched_restore_done(r.s);
  r.t += 1000;
  h_tick(&r);
  CHECK_STATUS(&r, "a", JOB_RUNNING); /* on no known host: nothing else will end it */
  h_stop(&r, "TerminateJob", "a", "by the test");
  CHECK_STATUS(&r, "a", JOB_FAILED);
  char why[256];
  CHECK_STR(h_reason(&r, "a", why, sizeof why), "Terminated: by the test");
  json_t *d = h_detail(&r, "a");
  CHECK_INT((int)json_array_size(json_object_get(d, "attempts")), 1);
  json_decref(d);
  h_release(&r);

  TEST("... and one terminated before the restart (restored as stopping, its kill sent to no host): a new TerminateJob ends it");
  h_init(&r);
  r.t = h.t;
  small_config(&r);
  h_stop(&h, "TerminateJob", "a", "first"); /* the kill goes to i-0, which never answers */
  CHECK_STATUS(&h, "a", JOB_RUNNING);
  rec = sched_job_record(h.s, sched_find_job(h.s, "a"), "test", h.t);
  table_says(&r, "i-0", "READY", 100);
  table_says(&r, "i-0", "TERMINATED", 100);
  CHECK(sched_restore_job(r.s, rec, err, sizeof err) == 0, "%s", err);
  json_decref(rec);
  sched_restore_done(r.s);
  h_tick(&r);
  CHECK_STATUS(&r, "a", JOB_RUNNING);
  h_stop(&r, "TerminateJob", "a", "again");
  CHECK_STATUS(&r, "a", JOB_FAILED);
  CHECK_STR(h_reason(&r, "a", why, sizeof why), "Terminated: first");
  h_release(&r);
  h_release(&h);
}

/* A cancelled PENDING job waits for all its dependencies (T13). After a restart, one that had
 * already failed was still counted as one to wait for, so the job stayed PENDING for ever once
 * the others ended. */
static void test_restore_pending_cancel_after_failed_dependency(void) {
  TEST("rebuilt with a cancelled PENDING job one of whose dependencies failed: it ends when the others do");
  struct h h;
  h_init(&h);
  small_config(&h);
  h_instance(&h, "i-0", "ce", "READY", 1, 4096);
  h_instance(&h, "i-1", "ce", "READY", 1, 4096);
  h_submit(&h, "a", "q", "jd", NULL);
  h_submit(&h, "b", "q", "jd", NULL);
  h_submit(&h, "c", "q", "jd", "{\"dependsOn\": [{\"jobId\": \"a\"}, {\"jobId\": \"b\"}]}");
  h_stop(&h, "CancelJob", "c", "not wanted");
  run_to_end(&h, "a", 1, 1);
  char inst[64];
  h_instance_of(&h, "b", inst, sizeof inst);
  h_exec(&h, "b", 1, inst, "STARTED", -9999, NULL);
  CHECK_STATUS(&h, "c", JOB_PENDING); /* a failed, b runs: the cancel waits for b */
  struct h r;
  h_init(&r);
  r.t = h.t;
  small_config(&r);
  h_instance(&r, "i-0", "ce", "READY", 1, 4096);
  h_instance(&r, "i-1", "ce", "READY", 1, 4096);
  h_restore_jobs(&r, &h, 0);
  r.t += 1000;
  h_exec(&r, "b", 1, inst, "EXITED", 0, NULL);
  CHECK_STATUS(&r, "b", JOB_SUCCEEDED);
  CHECK_STATUS(&r, "c", JOB_FAILED);
  char why[256];
  CHECK_STR(h_reason(&r, "c", why, sizeof why), "Cancelled: not wanted");
  h_release(&r);
  h_release(&h);
}

static void test_delete_queue_ends_its_jobs(void) {
  TEST("DeleteJobQueue: every job of the queue ends (RUNNING terminated through the agent, RUNNABLE and PENDING failed at once, array children too); dependents fail; a re-created queue brings none back");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "qz", 10, NULL, "ce", NULL);
  h_queue(&h, "other", 5, NULL, "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, NULL);
  h_jd(&h, "big", 1, 64, 64, NULL);
  h_instance(&h, "i-0", "ce", "READY", 2, 4096);
  h_submit(&h, "run", "qz", "jd", NULL);
  h_exec(&h, "run", 1, "i-0", "STARTED", -9999, NULL);
  h_submit(&h, "big", "qz", "big", NULL);
  h_submit(&h, "pend", "qz", "jd", "{\"dependsOn\": [{\"jobId\": \"run\"}]}");
  h_submit(&h, "arr", "qz", "jd", "{\"arrayProperties\": {\"size\": 3}, \"dependsOn\": [{\"jobId\": \"big\"}]}");
  h_submit(&h, "after", "other", "jd", "{\"dependsOn\": [{\"jobId\": \"run\"}]}");
  CHECK_STATUS(&h, "run", JOB_RUNNING);
  CHECK_STATUS(&h, "big", JOB_RUNNABLE);
  CHECK_STATUS(&h, "pend", JOB_PENDING);
  CHECK_STATUS(&h, "arr:1", JOB_PENDING);
  h_queue(&h, "qz", 10, "{\"state\": \"DISABLED\"}", "ce", NULL);
  CHECK_STATUS(&h, "run", JOB_RUNNING); /* disabling alone stops nothing */
  int kills = h.outputs[OUT_KILL];
  h.t += 1000;
  h_delete(&h, "job-queue/qz");
  const char *why = "Terminated: job queue qz was deleted";
  char r[256];
  CHECK_INT(h.outputs[OUT_KILL], kills + 1);
  CHECK_STATUS(&h, "run", JOB_RUNNING); /* until the agent reports the process ended (T14) */
  const char *now_failed[] = {"big", "pend", "arr:0", "arr:1", "arr:2"};
  for (size_t i = 0; i < sizeof now_failed / sizeof *now_failed; i++) {
    CHECK_STATUS(&h, now_failed[i], JOB_FAILED);
    CHECK_STR(h_reason(&h, now_failed[i], r, sizeof r), why);
  }
  CHECK_STATUS(&h, "arr", JOB_FAILED); /* an array parent carries the reason as given (§2.3) */
  CHECK_STR(h_reason(&h, "arr", r, sizeof r), "job queue qz was deleted");
  json_t *d = h_detail(&h, "big");
  CHECK(json_is_true(json_object_get(d, "isTerminated")), "big isTerminated");
  json_decref(d);
  CHECK_STATUS(&h, "after", JOB_PENDING);
  h_exec(&h, "run", 1, "i-0", "KILLED", 143, NULL);
  CHECK_STATUS(&h, "run", JOB_FAILED);
  CHECK_STR(h_reason(&h, "run", r, sizeof r), why);
  CHECK_STATUS(&h, "after", JOB_FAILED);
  CHECK_STR(h_reason(&h, "after", r, sizeof r), "Dependent job run failed");
  /* between deletion and re-creation the queue does not exist */
  h_submit(&h, "gap", "qz", "jd", NULL);
  CHECK_STATUS(&h, "gap", JOB_FAILED);
  CHECK_STR(h_reason(&h, "gap", r, sizeof r), "ClientException: job queue qz does not exist");
  /* re-created under the same name (same ARN): a new queue, the old jobs stay ended */
  h.t += 1000;
  h_queue(&h, "qz", 10, NULL, "ce", NULL);
  h_tick(&h);
  const char *old[] = {"run", "big", "pend", "arr", "arr:0", "gap"};
  for (size_t i = 0; i < sizeof old / sizeof *old; i++) CHECK_STATUS(&h, old[i], JOB_FAILED);
  h_submit(&h, "new", "qz", "jd", NULL);
  CHECK_STATUS(&h, "new", JOB_STARTING);
  h_release(&h);
}

/* The configuration of test_restore_sweeps_deleted_queue as the restarted scheduler reads it:
 * qz DISABLED then its tombstone (gone 0), or neither, both compacted away (gone 1), or qz still
 * there (gone -1). */
static void qz_config(struct h *h, int gone) {
  h_ce(h, "ce", 0, 0);
  if (gone <= 0) h_queue(h, "qz", 10, gone ? NULL : "{\"state\": \"DISABLED\"}", "ce", NULL);
  h_queue(h, "other", 5, NULL, "ce", NULL);
  h_jd(h, "jd", 1, 1, 64, NULL);
  h_jd(h, "big", 1, 64, 64, NULL);
  if (!gone) h_delete(h, "job-queue/qz");
}

static void test_restore_sweeps_deleted_queue(void) {
  TEST("rebuilt after qz was deleted while its terminations were not committed (or its tombstone compacted away): the sweep ends its RUNNING, RUNNABLE, PENDING and array jobs as DeleteJobQueue does; their records keep the queue; a second sweep adds nothing; with qz still there nothing ends");
  for (int gone = -1; gone <= 1; gone++) {
    struct h h;
    h_init(&h);
    qz_config(&h, -1);
    h_instance(&h, "i-0", "ce", "READY", 2, 4096);
    h_submit(&h, "run", "qz", "jd", NULL);
    h_exec(&h, "run", 1, "i-0", "STARTED", -9999, NULL);
    h_submit(&h, "big", "qz", "big", NULL);
    h_submit(&h, "pend", "qz", "jd", "{\"dependsOn\": [{\"jobId\": \"run\"}]}");
    h_submit(&h, "arr", "qz", "jd", "{\"arrayProperties\": {\"size\": 3}, \"dependsOn\": [{\"jobId\": \"big\"}]}");
    h_submit(&h, "after", "other", "jd", "{\"dependsOn\": [{\"jobId\": \"run\"}]}");
    h_submit(&h, "never", "nosuch", "jd", NULL); /* a queue that never existed: refused at once */
    CHECK_STATUS(&h, "run", JOB_RUNNING);
    CHECK_STATUS(&h, "big", JOB_RUNNABLE);
    /* the restarted core: configuration, the instances table, then every job record */
    struct h r;
    h_init(&r);
    r.t = h.t + 1000;
    qz_config(&r, gone);
    h_restore_instance(&r, "i-0", "ce", 2, 4096, h.t);
    h_restore_jobs(&r, &h, h.t);
    CHECK_STATUS(&r, "run", JOB_RUNNING);
    CHECK_STATUS(&r, "big", JOB_RUNNABLE);
    int swept = sched_sweep_deleted_queues(r.s, &r.out);
    h_drain(&r);
    char why[256];
    CHECK_STATUS(&r, "never", JOB_FAILED); /* as before: it was refused, and stays so */
    CHECK_STR(h_reason(&r, "never", why, sizeof why), "ClientException: job queue nosuch does not exist");
    if (gone < 0) {
      CHECK_INT(swept, 0);
      CHECK_INT(r.outputs[OUT_STATE_CHANGE] + r.outputs[OUT_KILL], 0);
      CHECK_STATUS(&r, "big", JOB_RUNNABLE);
      CHECK_STATUS(&r, "pend", JOB_PENDING);
      h_release(&r);
      h_release(&h);
      continue;
    }
    printf("  qz %s at the restart\n", gone ? "unknown (record and tombstone compacted away)" : "deleted");
    const char *reason = "Terminated: job queue qz was deleted";
    CHECK_INT(swept, 1);
    CHECK_INT(r.outputs[OUT_KILL], 1);
    CHECK_STATUS(&r, "run", JOB_RUNNING); /* until the agent reports the end (T14) */
    const char *failed[] = {"big", "pend", "arr:0", "arr:1", "arr:2"};
    for (size_t i = 0; i < sizeof failed / sizeof *failed; i++) {
      CHECK_STATUS(&r, failed[i], JOB_FAILED);
      CHECK_STR(h_reason(&r, failed[i], why, sizeof why), reason);
    }
    CHECK_STATUS(&r, "arr", JOB_FAILED);
    CHECK_STR(h_reason(&r, "arr", why, sizeof why), "job queue qz was deleted");
    json_t *d = h_detail(&r, "big");
    CHECK(json_is_true(json_object_get(d, "isTerminated")), "big isTerminated");
    CHECK_STR(json_string_value(json_object_get(d, "jobQueue")), ARN "job-queue/qz");
    json_decref(d);
    int changes = r.outputs[OUT_STATE_CHANGE];
    CHECK_INT(sched_sweep_deleted_queues(r.s, &r.out), 0); /* the next restart's sweep */
    h_drain(&r);
    CHECK_INT(r.outputs[OUT_STATE_CHANGE], changes);
    CHECK_INT(r.outputs[OUT_KILL], 1);
    CHECK_STATUS(&r, "after", JOB_PENDING);
    r.t += 1000;
    h_exec(&r, "run", 1, "i-0", "KILLED", 143, NULL);
    CHECK_STATUS(&r, "run", JOB_FAILED);
    CHECK_STR(h_reason(&r, "run", why, sizeof why), reason);
    CHECK_STATUS(&r, "after", JOB_FAILED);
    CHECK_STR(h_reason(&r, "after", why, sizeof why), "Dependent job run failed");
    /* re-created after the restart: a new, empty queue */
    h_queue(&r, "qz", 10, NULL, "ce", NULL);
    h_tick(&r);
    CHECK_STATUS(&r, "big", JOB_FAILED);
    h_submit(&r, "new", "qz", "jd", NULL);
    CHECK_STATUS(&r, "new", JOB_STARTING);
    h_release(&r);
    h_release(&h);
  }
}

/* A direct producer may name the job definition and queue by ARN (docs/publishing.md): an ARN
 * without ":revision" was refused ("does not exist or is INACTIVE") where AWS, the command line
 * and the API take the highest ACTIVE revision, and an ARN in the other partition form (§1) was
 * refused too. */
static void test_submit_by_arn_forms(void) {
  TEST("SubmitJob by ARN: without revision the highest ACTIVE one; either ARN form names the JD and the queue");
  struct h h;
  world(&h, 1, 8, 4096);
  h_jd(&h, "jd", 2, 2, 64, NULL);
  h_jd(&h, "jd", 3, 3, 64, "{\"status\": \"INACTIVE\"}");
  h_submit(&h, "a", "q", ARN "job-definition/jd", NULL);
  CHECK_STATUS(&h, "a", JOB_STARTING);
  json_t *d = h_detail(&h, "a");
  CHECK_STR(json_string_value(json_object_get(d, "jobDefinition")), ARN "job-definition/jd:2");
  json_decref(d);
  h_submit(&h, "b", "arn:aws:batch:local:000000000000:job-queue/q", "arn:aws:batch:local:000000000000:job-definition/jd:1", NULL);
  CHECK_STATUS(&h, "b", JOB_STARTING);
  d = h_detail(&h, "b");
  CHECK_STR(json_string_value(json_object_get(d, "jobDefinition")), ARN "job-definition/jd:1");
  json_decref(d);
  h_submit(&h, "c", "q", "arn:aws:batch:local:000000000000:job-definition/jd", NULL);
  d = h_detail(&h, "c");
  CHECK_STR(json_string_value(json_object_get(d, "jobDefinition")), ARN "job-definition/jd:2");
  json_decref(d);
  /* an INACTIVE revision named exactly, or a name with no ACTIVE revision, is still refused */
  h_submit(&h, "e", "q", ARN "job-definition/jd:3", NULL);
  CHECK_STATUS(&h, "e", JOB_FAILED);
  h_submit(&h, "f", "q", ARN "job-definition/nope", NULL);
  CHECK_STATUS(&h, "f", JOB_FAILED);
  h_submit(&h, "g", "q", "arn:aws:batch:local:111111111111:job-definition/jd", NULL);
  CHECK_STATUS(&h, "g", JOB_FAILED); /* another account's ARN is another definition */
  h_release(&h);
}

/* A refused submission's reason quotes what it names: a job definition of 600 multi-byte
 * characters, cut with the reason at 512 bytes in the middle of one, gave a statusReason that
 * is not UTF-8 (the job's record could not be read back: DescribeJobs did not show the job, and
 * accounting dead-lettered its state change). */
static void test_reject_reason_utf8(void) {
  TEST("a refused submission quoting a long name of multi-byte characters: its reason stays UTF-8");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "q", 1, NULL, "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, NULL);
  char jd[1300] = "a";
  for (int i = 0; i < 600; i++) strcat(jd, "\xc3\xa9");
  h_submit(&h, "u", "q", jd, NULL);
  CHECK_STATUS(&h, "u", JOB_FAILED);
  json_t *d = h_detail(&h, "u");
  const char *r = json_string_value(json_object_get(d, "statusReason"));
  CHECK(r && !strncmp(r, "ClientException: job definition a\xc3\xa9", 35), "statusReason %s", r ? r : "(none)");
  json_decref(d);
  h_release(&h);
}

int main(void) {
  test_reject_reason_utf8();
  test_ref_substitution();
  test_container_overrides();
  test_array_n_to_n_1000();
  test_array_sequential();
  test_dependency_failure_cascades();
  test_depends_on_bad_type_refused();
  test_depends_on_n_to_n_sizes();
  test_depends_on_more_than_20_refused();
  test_oversized_job_refused();
  test_stop_reason_capped();
  test_tag_job_bounded();
  test_evaluate_on_exit_first_match();
  test_retry_strategy_out_of_bounds_refused();
  test_numeric_members_out_of_range_refused();
  test_timeout_not_retried();
  test_cancel_runnable_vs_terminate_running();
  test_pending_cancel_waits_for_dependencies();
  test_priority_shared_ce();
  test_fifo_and_retry_front();
  test_best_fit_tie_break();
  test_fair_share_weights();
  test_fair_share_priority_inside_share();
  test_fair_share_priority_default_zero();
  test_fair_share_decay_spreads_usage();
  test_fair_share_tie_goes_to_older_retried_job();
  test_fair_share_usage_survives_restart();
  test_fair_share_active_share_limit();
  test_fair_share_index_beyond_16_bits();
  test_fair_share_reclaims_ended_shares();
  test_fair_share_reclaimed_share_is_new();
  test_fair_share_reclaim_survives_restart();
  test_share_identifier_required_or_refused();
  test_too_large_time_limit_cancel();
  test_max_resource_code();
  test_lost_instance();
  test_impossible_capacity_refused();
  test_agent_restart_settles_attempts();
  test_restore_settles_attempts_of_older_incarnation();
  test_older_incarnation_end_ignored();
  test_restore_instance_that_ended();
  test_terminate_on_gone_host();
  test_restore_pending_cancel_after_failed_dependency();
  test_restored_ending_host_takes_no_job();
  test_array_parent_cancel_forwarded();
  test_array_sequential_cancel_forwarded();
  test_long_dependency_chain_cascades();
  test_drain_handshake();
  test_backfill_head_reservation();
  test_head_reservation_clock_restarts();
  test_insufficient_capacity_code();
  test_managed_instance_types_catalogue();
  test_delete_queue_ends_its_jobs();
  test_restore_sweeps_deleted_queue();
  test_submit_by_arn_forms();
  return check_summary();
}
