/* test_control_submit.c: SubmitJob validation (producers/aws/control_job.c), control_call refusals and the
 * configuration lookups it stands on (lib/views.c), with no Kafka.
 *
 * SubmitJob is validated by control_prepare_submit against a config_view built here in memory
 * (what config_view_load would read from barge.config). CreateComputeEnvironment and the other
 * operations check their request before they read anything, so control_call is driven with a
 * broker address nothing listens on: a refusal must come back as a ClientException (400) with a
 * message naming the member, never as a failed read (500). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control.h"
#include "views.h"

static char arn_buf[8][256];

static const char *arn(int slot, const char *suffix) {
  barge_arn(suffix, arn_buf[slot], sizeof arn_buf[slot]);
  return arn_buf[slot];
}

static void add_queue(struct config_view *cv, const char *name, const char *state, const char *policy) {
  char suffix[128];
  snprintf(suffix, sizeof suffix, "job-queue/%s", name);
  const char *a = arn(7, suffix);
  json_t *q = json_pack("{s:s, s:s, s:s, s:i}", "jobQueueName", name, "jobQueueArn", a, "state", state,
                        "priority", 10);
  if (policy) json_object_set_new(q, "schedulingPolicyArn", json_string(policy));
  json_object_set_new(cv->queues, a, q);
}

static void add_jd(struct config_view *cv, const char *name, int rev, const char *status) {
  char suffix[128];
  snprintf(suffix, sizeof suffix, "job-definition/%s:%d", name, rev);
  const char *a = arn(6, suffix);
  json_object_set_new(cv->jds, a,
                      json_pack("{s:s, s:s, s:i, s:s, s:s, s:{s:s, s:[s], s:[{s:s, s:s}, {s:s, s:s}]}}",
                                "jobDefinitionName", name, "jobDefinitionArn", a, "revision", rev, "status", status,
                                "type", "container", "containerProperties", "image", "busybox", "command", "true",
                                "resourceRequirements", "type", "VCPU", "value", "1", "type", "MEMORY", "value",
                                "64"));
}

/* A multinode definition of two nodes (nodePropertiesJson, as RegisterJobDefinition stores it). */
static void add_mnp_jd(struct config_view *cv, const char *name) {
  char suffix[128];
  snprintf(suffix, sizeof suffix, "job-definition/%s:1", name);
  const char *a = arn(6, suffix);
  json_object_set_new(cv->jds, a,
                      json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "jobDefinitionName", name, "jobDefinitionArn", a,
                                "revision", 1, "status", "ACTIVE", "type", "multinode", "nodePropertiesJson",
                                "{\"numNodes\":2,\"mainNode\":0,\"nodeRangeProperties\":[{\"targetNodes\":\"0:\","
                                "\"container\":{\"vcpus\":1,\"memory\":64}}]}"));
}

/* The configuration the SubmitJob cases run against. */
static void build_view(struct config_view *cv) {
  cv->ces = json_object();
  cv->queues = json_object();
  cv->jds = json_object();
  cv->policies = json_object();
  add_queue(cv, "q1", "ENABLED", NULL);
  add_queue(cv, "off", "DISABLED", NULL);
  add_queue(cv, "fair", "ENABLED", arn(5, "scheduling-policy/fs"));
  add_jd(cv, "hello", 1, "INACTIVE");
  add_jd(cv, "hello", 2, "ACTIVE");
  add_jd(cv, "hello", 3, "ACTIVE");
  add_jd(cv, "gone", 1, "INACTIVE");
  add_mnp_jd(cv, "mpi");
}

/* Runs control_prepare_submit on a JSON request text; returns its code, the error in err. */
static int submit(const struct config_view *cv, const char *req_text, json_t **body, char *err, size_t errlen) {
  json_error_t je;
  json_t *req = json_loads(req_text, 0, &je);
  CHECK(req != NULL, "bad test request %s: %s", req_text, je.text);
  err[0] = 0;
  int rc = control_prepare_submit(cv, req, body, err, errlen);
  json_decref(req);
  return rc;
}

/* A refused submission: 400, no body, and the message contains `words`. */
static void refused(const struct config_view *cv, const char *what, const char *req_text, const char *words) {
  char err[512];
  json_t *body = (json_t *)1;
  int rc = submit(cv, req_text, &body, err, sizeof err);
  CHECK(rc == API_CLIENT_ERROR, "%s: code %d, expected 400 (%s)", what, rc, err);
  CHECK(body == NULL, "%s: no body on a refusal", what);
  CHECK(strstr(err, words) != NULL, "%s: '%s' does not say '%s'", what, err, words);
  printf("   refused: %s: %s\n", what, err);
}

static void test_submit_refusals(const struct config_view *cv) {
  TEST("SubmitJob: every invalid request is a ClientException naming what is wrong");
  refused(cv, "missing jobName", "{\"jobQueue\": \"q1\", \"jobDefinition\": \"hello\"}", "jobName is required");
  refused(cv, "bad jobName", "{\"jobName\": \"-x\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\"}",
          "jobName '-x' must be");
  refused(cv, "missing jobQueue", "{\"jobName\": \"a\", \"jobDefinition\": \"hello\"}", "jobQueue is required");
  refused(cv, "missing jobDefinition", "{\"jobName\": \"a\", \"jobQueue\": \"q1\"}", "jobDefinition is required");
  refused(cv, "unknown queue", "{\"jobName\": \"a\", \"jobQueue\": \"nope\", \"jobDefinition\": \"hello\"}",
          "job queue nope does not exist");
  refused(cv, "DISABLED queue", "{\"jobName\": \"a\", \"jobQueue\": \"off\", \"jobDefinition\": \"hello\"}",
          "job queue off is DISABLED");
  refused(cv, "unknown job definition", "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"nojd\"}",
          "job definition nojd does not exist");
  refused(cv, "no ACTIVE revision", "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"gone\"}",
          "job definition gone does not exist or has no ACTIVE revision");
  refused(cv, "INACTIVE revision", "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello:1\"}",
          "job definition hello:1 is INACTIVE");
  refused(cv, "priority above 9999",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"schedulingPriorityOverride\": 10000}",
          "schedulingPriorityOverride must be a whole number from 0 to 9999");
  refused(cv, "negative priority",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"schedulingPriorityOverride\": -1}",
          "schedulingPriorityOverride must be a whole number from 0 to 9999");
  refused(cv, "array size 1",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"arrayProperties\": {\"size\": 1}}",
          "arrayProperties.size must be a whole number from 2 to 10000");
  refused(cv, "bad dependency type",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"dependsOn\": [{\"jobId\": \"x\", \"type\": \"BOGUS\"}]}",
          "dependsOn[0].type must be N_TO_N or SEQUENTIAL");
  refused(cv, "SEQUENTIAL on a single job",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"dependsOn\": [{\"type\": \"SEQUENTIAL\"}]}",
          "SEQUENTIAL takes no jobId and applies to array jobs only");
  refused(cv, "dependency without jobId",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"dependsOn\": [{}]}",
          "dependsOn[0].jobId is required");
  /* an empty id was looked up and refused as "dependsOn: job  does not exist" */
  refused(cv, "dependency with an empty jobId",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"dependsOn\": [{\"jobId\": \"\"}]}",
          "dependsOn[0].jobId is empty: give the id of the job to wait for");
  /* an empty queue or definition was looked up: "job queue  does not exist" */
  refused(cv, "an empty jobQueue", "{\"jobName\": \"a\", \"jobQueue\": \"\", \"jobDefinition\": \"hello\"}",
          "jobQueue is empty: give a job queue's name or ARN");
  refused(cv, "an empty jobDefinition", "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"\"}",
          "jobDefinition is empty: give name, name:revision or an ARN");
  refused(cv, "reserved AWS_BATCH variable",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"containerOverrides\": "
          "{\"environment\": [{\"name\": \"AWS_BATCH_X\", \"value\": \"1\"}]}}",
          "containerOverrides.environment[0].name AWS_BATCH_X: names starting with AWS_BATCH are reserved");
  /* AWS, ContainerOverrides.command: "This parameter can't contain an empty string." */
  refused(cv, "an empty string in the command override",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"containerOverrides\": {\"command\": [\"echo\", \"\"]}}",
          "containerOverrides.command[1] is an empty string");
  refused(cv, "an empty string in a node's command override",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"mpi\", \"nodeOverrides\": {\"nodePropertyOverrides\": "
          "[{\"targetNodes\": \"0:\", \"containerOverrides\": {\"command\": [\"\"]}}]}}",
          "nodeOverrides.nodePropertyOverrides[0].containerOverrides.command[0] is an empty string");
  refused(cv, "vcpus override against resourceRequirements",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"containerOverrides\": {\"vcpus\": 2}}",
          "containerOverrides.vcpus");
  /* resourceRequirements overrides: the rules of RegisterJobDefinition, at submission (they
   * used to pass and the job FAILED later in the scheduler) */
  static const struct {
    const char *what, *rr, *words;
  } bad_rr[] = {
      {"VCPU 0", "{\"type\": \"VCPU\", \"value\": \"0\"}",
       "containerOverrides.resourceRequirements[0].value: VCPU must be a whole number from 1 to 2147483647, got '0'"},
      {"VCPU -2", "{\"type\": \"VCPU\", \"value\": \"-2\"}", "VCPU must be a whole number from 1 to 2147483647, got '-2'"},
      {"MEMORY abc", "{\"type\": \"MEMORY\", \"value\": \"abc\"}", "MEMORY (MiB) must be a whole number from 4 to 2147483647, got 'abc'"},
      {"MEMORY 1", "{\"type\": \"MEMORY\", \"value\": \"1\"}", "MEMORY (MiB) must be a whole number from 4 to 2147483647, got '1'"},
      {"GPU -1", "{\"type\": \"GPU\", \"value\": \"-1\"}", "GPU must be a whole number from 0 to 2147483647, got '-1'"},
      {"type FOO", "{\"type\": \"FOO\", \"value\": \"1\"}",
       "containerOverrides.resourceRequirements[0].type FOO is not one of GPU, VCPU, MEMORY"},
      {"VCPU 1.5", "{\"type\": \"VCPU\", \"value\": \"1.5\"}", "VCPU must be a whole number from 1"},
      {"VCPU beyond an int", "{\"type\": \"VCPU\", \"value\": \"99999999999\"}", "VCPU must be a whole number from 1"},
      {"VCPU twice (the last used to win)", "{\"type\": \"VCPU\", \"value\": \"1\"}, {\"type\": \"VCPU\", \"value\": \"2\"}",
       "containerOverrides.resourceRequirements[1].type VCPU is already given at resourceRequirements[0]; each type may appear once"},
  };
  for (size_t i = 0; i < sizeof bad_rr / sizeof *bad_rr; i++) {
    char req[512];
    snprintf(req, sizeof req,
             "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"containerOverrides\": "
             "{\"resourceRequirements\": [%s]}}", bad_rr[i].rr);
    refused(cv, bad_rr[i].what, req, bad_rr[i].words);
  }
  refused(cv, "a bad resourceRequirements override of a node range",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"mpi\", \"nodeOverrides\": "
          "{\"nodePropertyOverrides\": [{\"targetNodes\": \"0:\", \"containerOverrides\": "
          "{\"resourceRequirements\": [{\"type\": \"VCPU\", \"value\": \"0\"}]}}]}}",
          "nodeOverrides.nodePropertyOverrides[0].containerOverrides.resourceRequirements[0].value: VCPU must be");
  refused(cv, "MEMORY twice in a node range's override",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"mpi\", \"nodeOverrides\": "
          "{\"nodePropertyOverrides\": [{\"targetNodes\": \"0:\", \"containerOverrides\": "
          "{\"resourceRequirements\": [{\"type\": \"MEMORY\", \"value\": \"64\"}, {\"type\": \"MEMORY\", \"value\": \"128\"}]}}]}}",
          "nodeOverrides.nodePropertyOverrides[0].containerOverrides.resourceRequirements[1].type MEMORY is already given");
  refused(cv, "a legacy memory override below 4 MiB of a node range",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"mpi\", \"nodeOverrides\": "
          "{\"nodePropertyOverrides\": [{\"targetNodes\": \"0:\", \"containerOverrides\": {\"memory\": 1}}]}}",
          "nodeOverrides.nodePropertyOverrides[0].containerOverrides.memory must be a whole number from 4");
  /* a node range's override of a member of AWS's model that Barge does not act on was accepted
   * and dropped: the job ran without the licence, instance type or ECS/EKS properties asked for */
  static const struct {
    const char *member, *words;
  } node_oos[] = {
      {"\"consumableResourcePropertiesOverride\": {\"consumableResourceList\": [{\"consumableResource\": \"lic\", \"quantity\": 1}]}",
       "nodeOverrides.nodePropertyOverrides[0].consumableResourcePropertiesOverride is not supported by Barge (out of scope:"},
      {"\"ecsPropertiesOverride\": {\"taskProperties\": []}",
       "nodeOverrides.nodePropertyOverrides[0].ecsPropertiesOverride is not supported by Barge (out of scope:"},
      {"\"eksPropertiesOverride\": {}",
       "nodeOverrides.nodePropertyOverrides[0].eksPropertiesOverride is not supported by Barge (out of scope:"},
      {"\"instanceTypes\": [\"m5.large\"]",
       "nodeOverrides.nodePropertyOverrides[0].instanceTypes is not supported by Barge (no instance-type choice per node)"},
  };
  for (size_t i = 0; i < sizeof node_oos / sizeof *node_oos; i++) {
    char req[512];
    snprintf(req, sizeof req,
             "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"mpi\", \"nodeOverrides\": "
             "{\"nodePropertyOverrides\": [{\"targetNodes\": \"0:\", %s}]}}", node_oos[i].member);
    refused(cv, "a node range's override of a member Barge does not act on", req, node_oos[i].words);
  }
  refused(cv, "retry attempts above 10",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"retryStrategy\": {\"attempts\": 11}}",
          "retryStrategy.attempts must be a whole number from 1 to 10");
  refused(cv, "retry rule with a bad action",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"retryStrategy\": "
          "{\"attempts\": 2, \"evaluateOnExit\": [{\"onExitCode\": \"1\", \"action\": \"MAYBE\"}]}}",
          "retryStrategy.evaluateOnExit[0].action must be RETRY or EXIT");
  refused(cv, "timeout below the minimum",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"timeout\": {\"attemptDurationSeconds\": 5}}",
          "timeout.attemptDurationSeconds must be a whole number from 60");
  refused(cv, "fair-share queue without shareIdentifier",
          "{\"jobName\": \"a\", \"jobQueue\": \"fair\", \"jobDefinition\": \"hello\"}",
          "shareIdentifier is required on fair-share job queue fair");
  refused(cv, "FIFO queue with a shareIdentifier",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"shareIdentifier\": \"blue\"}",
          "shareIdentifier is not allowed on FIFO job queue q1");
  /* AWS: "limited to 255 alphanumeric characters, and can be followed by an asterisk (*)" */
  refused(cv, "a shareIdentifier with a character AWS does not allow",
          "{\"jobName\": \"a\", \"jobQueue\": \"fair\", \"jobDefinition\": \"hello\", \"shareIdentifier\": \"team-a\"}",
          "shareIdentifier 'team-a' must be 1-255 letters and digits, optionally followed by '*'");
  refused(cv, "a shareIdentifier with a space",
          "{\"jobName\": \"a\", \"jobQueue\": \"fair\", \"jobDefinition\": \"hello\", \"shareIdentifier\": \"a b\"}",
          "shareIdentifier 'a b' must be");
  refused(cv, "an empty shareIdentifier",
          "{\"jobName\": \"a\", \"jobQueue\": \"fair\", \"jobDefinition\": \"hello\", \"shareIdentifier\": \"\"}",
          "shareIdentifier '' must be");
  refused(cv, "a '*' inside a shareIdentifier",
          "{\"jobName\": \"a\", \"jobQueue\": \"fair\", \"jobDefinition\": \"hello\", \"shareIdentifier\": \"a*b\"}",
          "shareIdentifier 'a*b' must be");
  {
    char req[800], id[300];
    memset(id, 'x', 256);
    id[256] = 0;
    snprintf(req, sizeof req, "{\"jobName\": \"a\", \"jobQueue\": \"fair\", \"jobDefinition\": \"hello\", \"shareIdentifier\": \"%s\"}", id);
    refused(cv, "a shareIdentifier of 256 characters", req, "must be 1-255 letters and digits");
  }
  refused(cv, "an out-of-scope member",
          "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"eksPropertiesOverride\": {}}",
          "eksPropertiesOverride is not supported by Barge");
}

static void test_submit_accepted(const struct config_view *cv) {
  TEST("SubmitJob: a valid request becomes a JobRequest body with ARNs and a new job id");
  char err[512];
  json_t *body = NULL;
  int rc = submit(cv,
                  "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"schedulingPriorityOverride\": 9999, "
                  "\"arrayProperties\": {\"size\": 3}, \"dependsOn\": [{\"type\": \"SEQUENTIAL\"}], "
                  "\"retryStrategy\": {\"attempts\": 2, \"evaluateOnExit\": [{\"onExitCode\": \"1\", \"action\": \"retry\"}]}, "
                  "\"containerOverrides\": {\"environment\": [{\"name\": \"K\", \"value\": \"v\"}]}}",
                  &body, err, sizeof err);
  CHECK(rc == 0, "accepted: %d %s", rc, err);
  CHECK_INT(strlen(json_string_value(json_object_get(body, "jobId")) ? json_string_value(json_object_get(body, "jobId")) : ""), 36);
  CHECK_STR(json_string_value(json_object_get(body, "jobName")), "a");
  CHECK_STR(json_string_value(json_object_get(body, "jobQueue")), arn(0, "job-queue/q1"));
  /* the job definition by name is its highest ACTIVE revision */
  CHECK_STR(json_string_value(json_object_get(body, "jobDefinition")), arn(1, "job-definition/hello:3"));
  CHECK_INT(json_integer_value(json_object_get(json_object_get(body, "arrayProperties"), "size")), 3);
  CHECK_INT(json_integer_value(json_object_get(body, "schedulingPriorityOverride")), 9999);
  json_t *rule = json_array_get(json_object_get(json_object_get(body, "retryStrategy"), "evaluateOnExit"), 0);
  CHECK_STR(json_string_value(json_object_get(rule, "action")), "RETRY");
  CHECK_STR(json_string_value(json_object_get(
                json_array_get(json_object_get(json_object_get(body, "containerOverrides"), "environment"), 0), "name")),
            "K");
  json_t *body2 = NULL;
  rc = submit(cv,
              "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"containerOverrides\": "
              "{\"resourceRequirements\": [{\"type\": \"VCPU\", \"value\": \"2\"}, {\"type\": \"MEMORY\", \"value\": \"4\"}, "
              "{\"type\": \"GPU\", \"value\": \"0\"}]}}",
              &body2, err, sizeof err);
  CHECK(rc == 0, "valid resourceRequirements overrides are accepted: %s", err);
  json_decref(body2);
  body2 = NULL;
  rc = submit(cv, "{\"jobName\": \"a\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\"}", &body2, err, sizeof err);
  CHECK(rc == 0 && strcmp(json_string_value(json_object_get(body, "jobId")),
                          json_string_value(json_object_get(body2, "jobId"))) != 0,
        "every submission gets its own job id");
  json_decref(body2);
  rc = submit(cv, "{\"jobName\": \"b\", \"jobQueue\": \"fair\", \"jobDefinition\": \"hello:2\", \"shareIdentifier\": \"blue\"}",
              &body2, err, sizeof err);
  CHECK(rc == 0, "a fair-share submission with its shareIdentifier: %s", err);
  {
    json_t *b4 = NULL;
    char id[300], req[800];
    memset(id, 'x', 255);
    id[255] = 0;
    snprintf(req, sizeof req, "{\"jobName\": \"b\", \"jobQueue\": \"fair\", \"jobDefinition\": \"hello\", \"shareIdentifier\": \"%s*\"}", id);
    rc = submit(cv, req, &b4, err, sizeof err);
    CHECK(rc == 0, "255 letters followed by '*' is a shareIdentifier: %s", err);
    json_decref(b4);
  }
  json_t *body3 = NULL;
  char req3[512];
  snprintf(req3, sizeof req3, "{\"jobName\": \"c\", \"jobQueue\": \"q1\", \"jobDefinition\": \"%s\"}",
           arn(2, "job-definition/hello"));
  rc = submit(cv, req3, &body3, err, sizeof err);
  CHECK(rc == 0, "a job definition ARN without revision: %s", err);
  CHECK_STR(json_string_value(json_object_get(body3, "jobDefinition")), arn(1, "job-definition/hello:3"));
  json_decref(body3);
  /* Airflow's AwsBatchOperator sends arrayProperties={} (and empty parameters and overrides)
   * for every job that is not an array: AWS takes that as a single job */
  json_t *body4 = NULL;
  rc = submit(cv,
              "{\"jobName\": \"d\", \"jobQueue\": \"q1\", \"jobDefinition\": \"hello\", \"arrayProperties\": {}, "
              "\"parameters\": {}, \"containerOverrides\": {}}",
              &body4, err, sizeof err);
  CHECK(rc == 0, "arrayProperties {} is a single job: %s", err);
  CHECK(json_object_get(body4, "arrayProperties") == NULL, "no arrayProperties in the request written");
  json_decref(body4);
  body4 = NULL;
  rc = submit(cv,
              "{\"jobName\": \"d\", \"jobQueue\": \"q1\", \"jobDefinition\": \"mpi\", \"arrayProperties\": {}, "
              "\"parameters\": {}, \"containerOverrides\": {}}",
              &body4, err, sizeof err);
  CHECK(rc == 0, "the same for a multi-node job: empty arrayProperties and containerOverrides: %s", err);
  json_decref(body4);
  CHECK_STR(json_string_value(json_object_get(body2, "jobDefinition")), arn(1, "job-definition/hello:2"));
  CHECK_STR(json_string_value(json_object_get(body2, "shareIdentifier")), "blue");
  json_t *ev = control_request_event("SubmitJob", body2);
  CHECK(json_object_get(json_object_get(ev, "body"), "SubmitJob") == body2, "the request event wraps the body");
  CHECK_STR(json_string_value(json_object_get(json_object_get(ev, "header"), "request_id")),
            json_string_value(json_object_get(body2, "jobId")));
  json_decref(ev);
  json_decref(body);
}

static void test_lookups(const struct config_view *cv) {
  TEST("config_find and config_find_jd: by name, by ARN, by name:revision");
  CHECK(config_find(cv->queues, "jobQueueName", "q1") == json_object_get(cv->queues, arn(0, "job-queue/q1")),
        "a queue by name");
  CHECK(config_find(cv->queues, "jobQueueName", arn(0, "job-queue/off")) != NULL, "a queue by ARN");
  CHECK(config_find(cv->queues, "jobQueueName", "nope") == NULL, "an unknown queue");
  CHECK(config_find(cv->queues, "jobQueueName", NULL) == NULL, "no name");
  json_t *jd = config_find_jd(cv, "hello");
  CHECK_INT(json_integer_value(json_object_get(jd, "revision")), 3);
  jd = config_find_jd(cv, "hello:1");
  CHECK(jd && json_integer_value(json_object_get(jd, "revision")) == 1, "name:revision finds an INACTIVE one too");
  CHECK(config_find_jd(cv, "hello:9") == NULL, "an unknown revision");
  CHECK(config_find_jd(cv, "gone") == NULL, "a name with no ACTIVE revision");
  CHECK(config_find_jd(cv, arn(1, "job-definition/hello:2")) != NULL, "by ARN");
  /* an ARN without revision, as AWS takes it: the highest ACTIVE revision */
  jd = config_find_jd(cv, arn(1, "job-definition/hello"));
  CHECK(jd && json_integer_value(json_object_get(jd, "revision")) == 3, "an ARN without revision: the highest ACTIVE one");
  CHECK(config_find_jd(cv, arn(1, "job-definition/gone")) == NULL, "an ARN without revision, no ACTIVE revision");
  CHECK(config_find_jd(cv, "arn:aws:batch:test-region:999999999999:job-definition/hello") == NULL,
        "an ARN without revision of another account");
  CHECK(config_find_jd(cv, "arn:barge:batch:test-region:123456789012:job-definition/hello") == jd,
        "the old arn:barge: form without revision");
  char a[256];
  barge_arn("job-queue/x", a, sizeof a);
  char want[256];
  snprintf(want, sizeof want, "arn:%s:batch:%s:%s:job-queue/x", barge_partition(), barge_region(), barge_account());
  CHECK_STR(a, want);
}

/* control_call on a request that must be refused before anything is read. */
static void call_refused(const char *api, const char *req_text, const char *words) {
  struct bus_conf bc = {.brokers = "127.0.0.1:1", .prefix = "tcontrol."};
  json_t *req = json_loads(req_text, 0, NULL), *resp = NULL;
  char err[512] = "";
  int rc = control_call(&bc, api, req, &resp, err, sizeof err);
  CHECK(rc == API_CLIENT_ERROR, "%s %s: code %d (%s)", api, req_text, rc, err);
  CHECK(resp == NULL, "%s: no response", api);
  CHECK(strstr(err, words) != NULL, "%s: '%s' does not say '%s'", api, err, words);
  printf("   refused: %s: %s\n", api, err);
  json_decref(req);
}

static void test_call_refusals(void) {
  TEST("control_call: requests refused before any read, and an operation Barge does not know");
  call_refused("CreateComputeEnvironment", "{\"type\": \"MANAGED\"}", "computeEnvironmentName is required");
  call_refused("CreateComputeEnvironment", "{\"computeEnvironmentName\": \"a b\", \"type\": \"UNMANAGED\"}",
               "computeEnvironmentName 'a b' must be");
  call_refused("CreateComputeEnvironment", "{\"computeEnvironmentName\": \"ce\", \"type\": \"FARGATE\"}",
               "type must be MANAGED or UNMANAGED");
  call_refused("CreateComputeEnvironment", "{\"computeEnvironmentName\": \"ce\", \"type\": \"MANAGED\"}",
               "computeResources is required for a MANAGED compute environment");
  call_refused("CreateComputeEnvironment",
               "{\"computeEnvironmentName\": \"ce\", \"type\": \"UNMANAGED\", \"computeResources\": {\"type\": \"EC2\", \"maxvCpus\": 4}}",
               "an UNMANAGED compute environment takes no computeResources");
  call_refused("CreateComputeEnvironment",
               "{\"computeEnvironmentName\": \"ce\", \"type\": \"UNMANAGED\", \"state\": \"PAUSED\"}",
               "state must be ENABLED or DISABLED");
  call_refused("SubmitJobs", "{}", "SubmitJobs is not an AWS Batch operation Barge knows");
  /* a quota-share policy was said to be out of scope for a list that did not name quota shares */
  call_refused("CreateSchedulingPolicy", "{\"name\": \"p\", \"quotaSharePolicy\": {}}",
               "quotaSharePolicy is not supported by Barge (out of scope: EKS, ECS properties, consumable resources, "
               "quota shares, service environments)");
}

int main(void) {
  setenv("BARGE_REGION", "test-region", 1);
  setenv("BARGE_ACCOUNT", "123456789012", 1);
  unsetenv("BARGE_MIN_ATTEMPT_DURATION_SECONDS");
  struct config_view cv;
  build_view(&cv);
  test_submit_refusals(&cv);
  test_submit_accepted(&cv);
  test_lookups(&cv);
  test_call_refusals();
  config_view_release(&cv);
  return check_summary();
}
