/* test_control.c: the write operations' validations (producers/aws/control_*.c) without Kafka.
 * A test configuration is built the way barge.config is: each accepted write's record is
 * applied to a config_view (a tombstone deletes), so later requests see what earlier ones
 * created. Each case checks what would be written (topic, key, record) and answered, or the
 * ClientException message. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control.h"
#include "jsonget.h"
#include "query.h"

static struct config_view cv;
static struct control_conf cc;

static void conf_reset(void) {
  config_view_release(&cv);
  cv.ces = json_object();
  cv.queues = json_object();
  cv.jds = json_object();
  cv.policies = json_object();
  cc = (struct control_conf){.bc = NULL, .cv = cv, .loaded = 1};
}

/* What barge.config would hold after w: the record under its key, or the key deleted. */
static void conf_apply(const struct control_write *w) {
  json_t *tables[] = {cv.ces, cv.queues, cv.jds, cv.policies};
  if (!w->value) {
    for (size_t i = 0; i < 4; i++) json_object_del(tables[i], w->key);
    return;
  }
  static const char *const kinds[] = {"ComputeEnvironment", "JobQueue", "JobDefinition", "SchedulingPolicy"};
  json_t *body = json_object_get(w->value, "body");
  for (size_t i = 0; i < 4; i++) {
    json_t *b = json_object_get(body, kinds[i]);
    if (b) json_object_set(tables[i], w->key, b);
  }
  cc.cv = cv;
}

/* Runs prepare on the JSON request text; on success applies the write (config records) and
 * leaves it in *w (release it). Returns the status. */
static int run(aws_prepare_fn prepare, const char *req_text, struct control_write *w, char *err,
               size_t errlen) {
  json_error_t je;
  json_t *req = json_loads(req_text, 0, &je);
  if (!req) {
    snprintf(err, errlen, "bad test JSON: %s", je.text);
    return -2;
  }
  memset(w, 0, sizeof *w);
  err[0] = 0;
  int rc = prepare(&cc, req, w, err, errlen);
  json_decref(req);
  if (!rc && w->topic == TOPIC_CONFIG) conf_apply(w);
  return rc;
}

/* run() that must succeed; what names the write in the failure message. */
static void run_ok(aws_prepare_fn prepare, const char *req, struct control_write *w, const char *what) {
  char err[512];
  int rc = run(prepare, req, w, err, sizeof err);
  CHECK(rc == 0, "%s: %s", what, err);
}

static void expect_ok(aws_prepare_fn prepare, const char *req) {
  struct control_write w;
  char err[512];
  int rc = run(prepare, req, &w, err, sizeof err);
  CHECK(rc == 0, "%s: %d %s", req, rc, err);
  control_write_release(&w);
}

static void expect_refused(aws_prepare_fn prepare, const char *req, const char *msg_part) {
  struct control_write w;
  char err[512];
  int rc = run(prepare, req, &w, err, sizeof err);
  CHECK(rc == API_CLIENT_ERROR, "%s: want ClientException, got %d", req, rc);
  CHECK(strstr(err, msg_part) != NULL, "%s: message '%s' lacks '%s'", req, err, msg_part);
  CHECK(w.value == NULL && w.resp == NULL, "%s: refused but something to write", req);
  control_write_release(&w);
}

static void arn(const char *suffix, char *out) { barge_arn(suffix, out, 512); }

static void test_compute_environments(void) {
  TEST("compute environments: defaults, record, refusals");
  conf_reset();
  struct control_write w;
  char err[512], ce_arn[512];
  arn("compute-environment/ce1", ce_arn);
  run_ok(control_create_compute_environment,
         "{\"computeEnvironmentName\":\"ce1\",\"type\":\"MANAGED\",\"computeResources\":"
         "{\"type\":\"EC2\",\"minvCpus\":2,\"maxvCpus\":64,\"subnets\":[\"s-1\"]}}",
         &w, "create ce1");
  CHECK(w.topic == TOPIC_CONFIG, "topic %d", (int)w.topic);
  CHECK_STR(w.key, ce_arn);
  json_t *b = json_object_get(json_object_get(w.value, "body"), "ComputeEnvironment");
  json_t *cr = json_object_get(b, "computeResources");
  CHECK_STR(jget_str(b, "state"), "ENABLED");
  CHECK_STR(jget_str(b, "status"), "VALID");
  CHECK_INT(jget_int(cr, "desiredvCpus", -1), 2); /* desired starts at min */
  CHECK_STR(jget_str(cr, "allocationStrategy"), "BEST_FIT");
  CHECK_STR(json_string_value(json_array_get(json_object_get(cr, "instanceTypes"), 0)), "optimal");
  CHECK_STR(jget_str(cr, "passthroughJson"), "{\"subnets\":[\"s-1\"]}");
  CHECK_STR(jget_str(w.resp, "computeEnvironmentName"), "ce1");
  CHECK_STR(jget_str(w.resp, "computeEnvironmentArn"), ce_arn);
  control_write_release(&w);

  expect_refused(control_create_compute_environment,
                 "{\"computeEnvironmentName\":\"ce1\",\"type\":\"UNMANAGED\"}", "already exists");
  expect_refused(control_create_compute_environment,
                 "{\"computeEnvironmentName\":\"bad name\",\"type\":\"UNMANAGED\"}", "must be 1-128 letters");
  expect_refused(control_create_compute_environment,
                 "{\"computeEnvironmentName\":\"u\",\"type\":\"UNMANAGED\",\"computeResources\":{}}",
                 "takes no computeResources");
  expect_refused(control_create_compute_environment,
                 "{\"computeEnvironmentName\":\"m\",\"type\":\"MANAGED\",\"computeResources\":"
                 "{\"type\":\"EC2\",\"minvCpus\":9,\"maxvCpus\":4}}",
                 "minvCpus (9) is above maxvCpus (4)");
  expect_refused(control_create_compute_environment,
                 "{\"computeEnvironmentName\":\"m\",\"type\":\"MANAGED\",\"computeResources\":"
                 "{\"type\":\"EC2\",\"maxvCpus\":4,\"allocationStrategy\":\"SPOT_CAPACITY_OPTIMIZED\"}}",
                 "needs computeResources.type SPOT");
  expect_refused(control_create_compute_environment,
                 "{\"computeEnvironmentName\":\"m\",\"type\":\"MANAGED\",\"computeResources\":"
                 "{\"type\":\"FARGATE\",\"maxvCpus\":4}}",
                 "Fargate is out of scope");
  /* instanceTypes the catalogue does not know were stored and shown VALID, and jobs then
   * waited with a misleading reason */
  expect_refused(control_create_compute_environment,
                 "{\"computeEnvironmentName\":\"m\",\"type\":\"MANAGED\",\"computeResources\":"
                 "{\"type\":\"EC2\",\"maxvCpus\":4,\"instanceTypes\":[\"c5\",\"zz9.huge\"]}}",
                 "computeResources.instanceTypes[1] zz9.huge is not an instance type Barge knows: give a size of its "
                 "catalogue (such as c5.large), a family (such as c5) or one of optimal, default_x86_64, default_arm64");
  expect_refused(control_create_compute_environment,
                 "{\"computeEnvironmentName\":\"m\",\"type\":\"MANAGED\",\"computeResources\":"
                 "{\"type\":\"EC2\",\"maxvCpus\":4,\"instanceTypes\":[\"c5.huge\"]}}",
                 "computeResources.instanceTypes[0] c5.huge is not an instance type Barge knows");
  expect_refused(control_create_compute_environment,
                 "{\"computeEnvironmentName\":\"m\",\"type\":\"MANAGED\",\"computeResources\":"
                 "{\"type\":\"EC2\",\"maxvCpus\":4,\"instanceTypes\":[7]}}",
                 "computeResources.instanceTypes[0] (not a string) is not an instance type");
  expect_refused(control_create_compute_environment,
                 "{\"computeEnvironmentName\":\"m\",\"type\":\"MANAGED\",\"computeResources\":"
                 "{\"type\":\"EC2\",\"maxvCpus\":4,\"instanceTypes\":\"c5\"}}",
                 "computeResources.instanceTypes must be a list");
  expect_ok(control_create_compute_environment,
            "{\"computeEnvironmentName\":\"types\",\"type\":\"MANAGED\",\"computeResources\":"
            "{\"type\":\"EC2\",\"maxvCpus\":4,\"instanceTypes\":[\"c5\",\"m5.large\",\"optimal\","
            "\"default_x86_64\",\"g4dn.xlarge\"]}}");
  expect_ok(control_create_compute_environment,
            "{\"computeEnvironmentName\":\"types-arm\",\"type\":\"MANAGED\",\"computeResources\":"
            "{\"type\":\"EC2\",\"maxvCpus\":4,\"instanceTypes\":[\"default_arm64\",\"c6g.large\"]}}");
  /* x86_64 and arm64 types in one CE were stored VALID; AWS refuses them (one architecture) */
  expect_refused(control_create_compute_environment,
                 "{\"computeEnvironmentName\":\"m\",\"type\":\"MANAGED\",\"computeResources\":"
                 "{\"type\":\"EC2\",\"maxvCpus\":4,\"instanceTypes\":[\"c5.large\",\"c6g.large\"]}}",
                 "computeResources.instanceTypes mixes architectures: c5.large is x86_64, c6g.large is arm64");
  expect_refused(control_create_compute_environment,
                 "{\"computeEnvironmentName\":\"m\",\"type\":\"MANAGED\",\"computeResources\":"
                 "{\"type\":\"EC2\",\"maxvCpus\":4,\"instanceTypes\":[\"optimal\",\"default_arm64\"]}}",
                 "mixes architectures");

  /* a request refused before the configuration matters never reads it */
  struct control_conf unloaded = {.bc = NULL, .loaded = 0};
  json_t *req = json_pack("{s:s, s:s}", "computeEnvironmentName", "x y", "type", "MANAGED");
  memset(&w, 0, sizeof w);
  CHECK(control_create_compute_environment(&unloaded, req, &w, err, sizeof err) == API_CLIENT_ERROR, "bad name");
  CHECK(!unloaded.loaded, "configuration read for a request refused on its own");
  json_decref(req);

  TEST("compute environments: update and delete");
  expect_refused(control_update_compute_environment,
                 "{\"computeEnvironment\":\"ce1\",\"computeResources\":{\"desiredvCpus\":1}}",
                 "not below the current 2");
  /* "the current" is the provisioner's latest decision (barge.scaling), as DescribeComputeEnvironments
   * shows it, not the value stored at the last update */
  cc.desired = json_pack("{s:i}", "ce1", 6);
  cc.desired_loaded = 1;
  expect_refused(control_update_compute_environment,
                 "{\"computeEnvironment\":\"ce1\",\"computeResources\":{\"desiredvCpus\":4}}",
                 "not below the current 6");
  json_object_set_new(cc.desired, "ce1", json_integer(2)); /* scaled back down */
  expect_ok(control_update_compute_environment, "{\"computeEnvironment\":\"ce1\",\"computeResources\":{\"desiredvCpus\":3}}");
  json_object_set_new(cc.desired, "ce1", json_integer(0)); /* then to nothing: 2, below the stored 3, is allowed */
  expect_ok(control_update_compute_environment, "{\"computeEnvironment\":\"ce1\",\"computeResources\":{\"desiredvCpus\":2}}");
  control_conf_release(&cc);
  cc.desired_loaded = 0;
  expect_refused(control_update_compute_environment,
                 "{\"computeEnvironment\":\"ce1\",\"computeResources\":{\"allocationStrategy\":\"BEST_FIT\"}}",
                 "cannot set allocationStrategy BEST_FIT");
  expect_refused(control_update_compute_environment, "{\"computeEnvironment\":\"nope\"}", "does not exist");
  expect_refused(control_update_compute_environment,
                 "{\"computeEnvironment\":\"ce1\",\"computeResources\":{\"instanceTypes\":[\"zz9.huge\"]}}",
                 "computeResources.instanceTypes[0] zz9.huge is not an instance type Barge knows");
  expect_ok(control_update_compute_environment, "{\"computeEnvironment\":\"ce1\",\"computeResources\":{\"instanceTypes\":[\"c6g\"]}}");
  expect_refused(control_update_compute_environment,
                 "{\"computeEnvironment\":\"ce1\",\"computeResources\":{\"instanceTypes\":[\"c6g\",\"m5\"]}}",
                 "computeResources.instanceTypes mixes architectures");
  /* an update's numbers are held to Create's ranges: a scale-down delay of 5 minutes, or a
   * maxvCpus past int that was cast to 8, used to be stored */
  expect_refused(control_update_compute_environment,
                 "{\"computeEnvironment\":\"ce1\",\"computeResources\":{\"scalingPolicy\":{\"minScaleDownDelayMinutes\":5}}}",
                 "computeResources.scalingPolicy.minScaleDownDelayMinutes must be 0 or 20..10080, got 5");
  expect_refused(control_update_compute_environment,
                 "{\"computeEnvironment\":\"ce1\",\"computeResources\":{\"maxvCpus\":4294967304}}",
                 "computeResources.maxvCpus must be a whole number from 0 to 10000000");
  expect_ok(control_update_compute_environment,
            "{\"computeEnvironment\":\"ce1\",\"computeResources\":{\"scalingPolicy\":{\"minScaleDownDelayMinutes\":30}}}");
  CHECK_INT(jget_int(json_object_get(json_object_get(cv.ces, ce_arn), "computeResources"), "minScaleDownDelayMinutes", -1), 30);
  CHECK_STR(json_string_value(json_array_get(json_object_get(json_object_get(json_object_get(cv.ces, ce_arn), "computeResources"),
                                                             "instanceTypes"), 0)), "c6g");
  expect_ok(control_update_compute_environment, "{\"computeEnvironment\":\"ce1\",\"computeResources\":{\"instanceTypes\":[]}}");
  char *types = json_dumps(json_object_get(json_object_get(json_object_get(cv.ces, ce_arn), "computeResources"), "instanceTypes"),
                           JSON_COMPACT);
  CHECK_STR(types, "[\"optimal\"]"); /* empty means optimal, as at Create */
  free(types);
  /* unmanagedvCpus is for UNMANAGED compute environments only, as in AWS */
  expect_refused(control_update_compute_environment, "{\"computeEnvironment\":\"ce1\",\"unmanagedvCpus\":4}",
                 "unmanagedvCpus is for UNMANAGED compute environments; ce1 is MANAGED");
  CHECK(json_object_get(json_object_get(cv.ces, ce_arn), "unmanagedvCpus") == NULL, "ce1 has no unmanagedvCpus");
  expect_refused(control_create_compute_environment,
                 "{\"computeEnvironmentName\":\"m2\",\"type\":\"MANAGED\",\"unmanagedvCpus\":4,\"computeResources\":"
                 "{\"type\":\"EC2\",\"maxvCpus\":4}}",
                 "unmanagedvCpus is for UNMANAGED compute environments; m2 is MANAGED");
  expect_ok(control_create_compute_environment, "{\"computeEnvironmentName\":\"u1\",\"type\":\"UNMANAGED\",\"unmanagedvCpus\":4}");
  expect_ok(control_update_compute_environment, "{\"computeEnvironment\":\"u1\",\"unmanagedvCpus\":8}");
  char u_arn[512];
  arn("compute-environment/u1", u_arn);
  CHECK_INT(jget_int(json_object_get(cv.ces, u_arn), "unmanagedvCpus", -1), 8);
  expect_refused(control_update_compute_environment, "{\"computeEnvironment\":\"u1\",\"unmanagedvCpus\":-1}",
                 "unmanagedvCpus must be a whole number from 0 to 10000000");
  expect_ok(control_update_compute_environment,
            "{\"computeEnvironment\":\"ce1\",\"state\":\"DISABLED\",\"computeResources\":{\"maxvCpus\":128}}");
  json_t *stored = json_object_get(cv.ces, ce_arn);
  CHECK_STR(jget_str(stored, "state"), "DISABLED");
  CHECK_INT(jget_int(json_object_get(stored, "computeResources"), "maxvCpus", -1), 128);
  CHECK_INT(jget_int(json_object_get(stored, "computeResources"), "minvCpus", -1), 2);
}

static void test_job_queues(void) {
  TEST("job queues: order resolved to ARNs, FIFO stays FIFO, delete rules");
  struct control_write w;
  char err[512], ce_arn[512], q_arn[512];
  arn("compute-environment/ce1", ce_arn);
  arn("job-queue/q1", q_arn);
  expect_refused(control_create_job_queue,
                 "{\"jobQueueName\":\"q1\",\"priority\":1,\"computeEnvironmentOrder\":"
                 "[{\"order\":1,\"computeEnvironment\":\"nope\"}]}",
                 "computeEnvironmentOrder[0].computeEnvironment nope does not exist");
  expect_refused(control_create_job_queue,
                 "{\"jobQueueName\":\"q1\",\"priority\":1,\"computeEnvironmentOrder\":"
                 "[{\"order\":1,\"computeEnvironment\":\"ce1\"}],\"jobStateTimeLimitActions\":"
                 "[{\"reason\":\"CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY\",\"state\":\"RUNNABLE\","
                 "\"action\":\"CANCEL\",\"maxTimeSeconds\":10}]}",
                 "maxTimeSeconds must be a whole number from 600 to 86400");
  /* the same compute environment twice, by name or by name and ARN, used to be accepted */
  expect_refused(control_create_job_queue,
                 "{\"jobQueueName\":\"q1\",\"priority\":1,\"computeEnvironmentOrder\":"
                 "[{\"order\":1,\"computeEnvironment\":\"ce1\"},{\"order\":2,\"computeEnvironment\":\"ce1\"}]}",
                 "computeEnvironmentOrder[1].computeEnvironment: compute environment ce1 is already listed at "
                 "computeEnvironmentOrder[0]; each may appear once");
  char dup[1400];
  snprintf(dup, sizeof dup,
           "{\"jobQueueName\":\"q1\",\"priority\":1,\"computeEnvironmentOrder\":"
           "[{\"order\":1,\"computeEnvironment\":\"%s\"},{\"order\":2,\"computeEnvironment\":\"ce1\"}]}",
           ce_arn);
  expect_refused(control_create_job_queue, dup, "compute environment ce1 is already listed at computeEnvironmentOrder[0]");
  /* an x86_64 CE (ce1: optimal) and an arm64 one in one queue were accepted; AWS refuses them */
  expect_refused(control_create_job_queue,
                 "{\"jobQueueName\":\"q-arch\",\"priority\":1,\"computeEnvironmentOrder\":"
                 "[{\"order\":1,\"computeEnvironment\":\"ce1\"},{\"order\":2,\"computeEnvironment\":\"types-arm\"}]}",
                 "computeEnvironmentOrder[1].computeEnvironment: compute environment types-arm launches arm64 instances "
                 "and ce1 launches x86_64; a job queue's compute environments must share one architecture");
  /* an unmanaged CE has no architecture of Barge's choosing: it goes with either */
  expect_ok(control_create_job_queue,
            "{\"jobQueueName\":\"q-arm\",\"priority\":1,\"computeEnvironmentOrder\":"
            "[{\"order\":1,\"computeEnvironment\":\"u1\"},{\"order\":2,\"computeEnvironment\":\"types-arm\"}]}");
  expect_refused(control_update_job_queue,
                 "{\"jobQueue\":\"q-arm\",\"computeEnvironmentOrder\":"
                 "[{\"order\":1,\"computeEnvironment\":\"types-arm\"},{\"order\":2,\"computeEnvironment\":\"types\"}]}",
                 "compute environment types launches x86_64 instances and types-arm launches arm64");
  /* jobQueueType: every Barge queue is what AWS calls ECS (EC2, SPOT and UNMANAGED compute
   * environments); "ECS" was refused as out of scope, the other types were not refused here */
  expect_ok(control_create_job_queue,
            "{\"jobQueueName\":\"q-ecs\",\"priority\":1,\"jobQueueType\":\"ECS\",\"computeEnvironmentOrder\":"
            "[{\"order\":1,\"computeEnvironment\":\"u1\"}]}");
  static const struct {
    const char *type, *words;
  } qtypes[] = {{"ECS_FARGATE", "jobQueueType ECS_FARGATE is not supported by Barge (out of scope: Fargate"},
                {"EKS", "jobQueueType EKS is not supported by Barge (out of scope: EKS"},
                {"SAGEMAKER_TRAINING", "jobQueueType SAGEMAKER_TRAINING is not supported by Barge (out of scope: "
                                       "service environments"},
                {"ecs", "jobQueueType 'ecs' is not a job queue type: give ECS (upper case; EKS, ECS_FARGATE and "
                        "SAGEMAKER_TRAINING are out of scope)"},
                {"", "jobQueueType '' is not a job queue type: give ECS"}};
  for (size_t i = 0; i < sizeof qtypes / sizeof *qtypes; i++) {
    char req[512];
    snprintf(req, sizeof req,
             "{\"jobQueueName\":\"q-type\",\"priority\":1,\"jobQueueType\":\"%s\",\"computeEnvironmentOrder\":"
             "[{\"order\":1,\"computeEnvironment\":\"ce1\"}]}",
             qtypes[i].type);
    expect_refused(control_create_job_queue, req, qtypes[i].words);
    if (i < 3)
      expect_refused(control_create_job_queue, req, "Barge runs EC2, SPOT and UNMANAGED compute environments only, "
                                                    "whose queues are ECS: leave jobQueueType out or give ECS");
  }
  expect_refused(control_create_job_queue,
                 "{\"jobQueueName\":\"q-type\",\"priority\":1,\"jobQueueType\":7,\"computeEnvironmentOrder\":"
                 "[{\"order\":1,\"computeEnvironment\":\"ce1\"}]}",
                 "jobQueueType 7 is not a job queue type: give ECS");
  run_ok(control_create_job_queue,
         "{\"jobQueueName\":\"q1\",\"priority\":5,\"computeEnvironmentOrder\":"
         "[{\"order\":1,\"computeEnvironment\":\"ce1\"},{\"order\":2,\"computeEnvironment\":\"types\"}]}",
         &w, "create q1");
  CHECK_STR(w.key, q_arn);
  json_t *b = json_object_get(json_object_get(w.value, "body"), "JobQueue");
  CHECK_STR(jget_str(json_array_get(json_object_get(b, "computeEnvironmentOrder"), 0), "computeEnvironment"), ce_arn);
  CHECK_INT(jget_int(b, "priority", -1), 5);
  control_write_release(&w);

  expect_refused(control_update_job_queue,
                 "{\"jobQueue\":\"q1\",\"schedulingPolicyArn\":\"arn:x\"}", "stays FIFO");
  expect_refused(control_update_job_queue,
                 "{\"jobQueue\":\"q1\",\"computeEnvironmentOrder\":"
                 "[{\"order\":1,\"computeEnvironment\":\"ce1\"},{\"order\":2,\"computeEnvironment\":\"ce1\"}]}",
                 "compute environment ce1 is already listed at computeEnvironmentOrder[0]");
  expect_refused(control_delete_compute_environment, "{\"computeEnvironment\":\"ce1\"}",
                 "is used by job queue q1");
  expect_refused(control_delete_job_queue, "{\"jobQueue\":\"q1\"}", "must be DISABLED");
  expect_ok(control_update_job_queue, "{\"jobQueue\":\"q1\",\"state\":\"DISABLED\",\"priority\":9}");
  CHECK_INT(jget_int(json_object_get(cv.queues, q_arn), "priority", -1), 9);
  int rc = run(control_delete_job_queue, "{\"jobQueue\":\"q1\"}", &w, err, sizeof err);
  CHECK(rc == 0 && w.value == NULL, "delete q1 writes a tombstone: %s", err);
  CHECK_STR(w.key, q_arn);
  CHECK(json_object_size(w.resp) == 0, "delete answers {}");
  control_write_release(&w);
  CHECK(json_object_get(cv.queues, q_arn) == NULL, "q1 still in the configuration");
}

static void test_job_definitions(void) {
  TEST("job definitions: revisions, resources, retry rules");
  struct control_write w;
  char err[512];
  const char *jd = "{\"jobDefinitionName\":\"jd\",\"type\":\"container\",\"containerProperties\":"
                   "{\"image\":\"busybox\",\"resourceRequirements\":[{\"type\":\"VCPU\",\"value\":\"1\"},"
                   "{\"type\":\"MEMORY\",\"value\":\"256\"}],\"privileged\":true},"
                   "\"retryStrategy\":{\"attempts\":2,\"evaluateOnExit\":[{\"onExitCode\":\"1*\",\"action\":\"retry\"}]}}";
  for (int rev = 1; rev <= 2; rev++) {
    CHECK(run(control_register_job_definition, jd, &w, err, sizeof err) == 0, "register: %s", err);
    CHECK_INT(jget_int(w.resp, "revision", -1), rev);
    json_t *b = json_object_get(json_object_get(w.value, "body"), "JobDefinition");
    CHECK_STR(jget_str(json_array_get(json_object_get(json_object_get(b, "retryStrategy"), "evaluateOnExit"), 0), "action"), "RETRY");
    CHECK_STR(jget_str(json_object_get(b, "containerProperties"), "storedJson"), "{\"privileged\":true}");
    control_write_release(&w);
  }
  expect_refused(control_register_job_definition,
                 "{\"jobDefinitionName\":\"x\",\"type\":\"container\",\"containerProperties\":{\"image\":\"i\"}}",
                 "needs a VCPU resourceRequirement");
  expect_refused(control_register_job_definition,
                 "{\"jobDefinitionName\":\"x\",\"type\":\"container\",\"containerProperties\":{\"image\":\"i\","
                 "\"resourceRequirements\":[{\"type\":\"VCPU\",\"value\":\"1\"},{\"type\":\"MEMORY\",\"value\":\"64\"},"
                 "{\"type\":\"FOO\",\"value\":\"1\"}]}}",
                 "containerProperties.resourceRequirements[2].type FOO is not one of GPU, VCPU, MEMORY");
  expect_refused(control_register_job_definition,
                 "{\"jobDefinitionName\":\"x\",\"type\":\"container\",\"containerProperties\":{\"image\":\"i\","
                 "\"resourceRequirements\":[{\"type\":\"VCPU\",\"value\":\"2abc\"},{\"type\":\"MEMORY\",\"value\":\"64\"}]}}",
                 "containerProperties.resourceRequirements[0].value: VCPU must be a whole number from 1 to 2147483647, got '2abc'");
  /* two VCPU entries: the last used to win */
  expect_refused(control_register_job_definition,
                 "{\"jobDefinitionName\":\"x\",\"type\":\"container\",\"containerProperties\":{\"image\":\"i\","
                 "\"resourceRequirements\":[{\"type\":\"VCPU\",\"value\":\"1\"},{\"type\":\"MEMORY\",\"value\":\"64\"},"
                 "{\"type\":\"VCPU\",\"value\":\"4\"}]}}",
                 "containerProperties.resourceRequirements[2].type VCPU is already given at resourceRequirements[0]; each type may appear once");
  expect_refused(control_register_job_definition,
                 "{\"jobDefinitionName\":\"x\",\"type\":\"multinode\"}", "nodeProperties is required with type multinode");
  expect_refused(control_register_job_definition,
                 "{\"jobDefinitionName\":\"x\",\"type\":\"container\",\"nodeProperties\":{}}",
                 "nodeProperties is for type multinode");
  expect_refused(control_register_job_definition,
                 "{\"jobDefinitionName\":\"x\",\"type\":\"multinode\",\"nodeProperties\":{\"numNodes\":2,\"mainNode\":0,"
                 "\"nodeRangeProperties\":[{\"targetNodes\":\"0:\",\"container\":{\"vcpus\":1,\"memory\":64,\"bogus\":1}}]}}",
                 "bogus");
  expect_refused(control_register_job_definition,
                 "{\"jobDefinitionName\":\"x\",\"type\":\"multinode\",\"nodeProperties\":{\"numNodes\":2,\"mainNode\":0,"
                 "\"nodeRangeProperties\":[{\"targetNodes\":\"1:0\",\"container\":{\"vcpus\":1,\"memory\":64}}]}}",
                 "nodeProperties.nodeRangeProperties[0].targetNodes");
  /* said "... is not supported by Barge" and no more: now why, as the top-level members do */
  expect_refused(control_register_job_definition,
                 "{\"jobDefinitionName\":\"x\",\"type\":\"multinode\",\"nodeProperties\":{\"numNodes\":2,\"mainNode\":0,"
                 "\"nodeRangeProperties\":[{\"targetNodes\":\"0:\",\"container\":{\"vcpus\":1,\"memory\":64},"
                 "\"consumableResourceProperties\":{\"consumableResourceList\":[]}}]}}",
                 "nodeProperties.nodeRangeProperties[0].consumableResourceProperties is not supported by Barge (out of scope:");
  expect_refused(control_register_job_definition,
                 "{\"jobDefinitionName\":\"x\",\"type\":\"multinode\",\"nodeProperties\":{\"numNodes\":2,\"mainNode\":0,"
                 "\"nodeRangeProperties\":[{\"targetNodes\":\"0:\",\"container\":{\"vcpus\":1,\"memory\":64},"
                 "\"instanceTypes\":[\"m5.large\"]}]}}",
                 "nodeProperties.nodeRangeProperties[0].instanceTypes is not supported by Barge (no instance-type choice per node)");
  CHECK(run(control_register_job_definition,
            "{\"jobDefinitionName\":\"mn\",\"type\":\"multinode\",\"nodeProperties\":{\"numNodes\":3,\"mainNode\":1,"
            "\"nodeRangeProperties\":[{\"targetNodes\":\":1\",\"container\":{\"vcpus\":1,\"memory\":64}},"
            "{\"targetNodes\":\"2\",\"container\":{\"vcpus\":2,\"memory\":64,\"user\":\"nobody\"}}]}}",
            &w, err, sizeof err) == 0, "register multinode: %s", err);
  json_t *mb = json_object_get(json_object_get(w.value, "body"), "JobDefinition");
  CHECK_STR(jget_str(mb, "type"), "multinode");
  json_t *np = json_loads(jget_str(mb, "nodePropertiesJson"), 0, NULL);
  CHECK_STR(jget_str(json_array_get(json_object_get(np, "nodeRangeProperties"), 0), "targetNodes"), ":1");
  CHECK_STR(jget_str(json_array_get(json_object_get(np, "nodeRangeProperties"), 1), "targetNodes"), "2");
  json_decref(np);
  control_write_release(&w);
  expect_refused(control_register_job_definition,
                 "{\"jobDefinitionName\":\"x\",\"type\":\"container\",\"containerProperties\":"
                 "{\"vcpus\":1,\"memory\":64,\"environment\":[{\"name\":\"AWS_BATCH_X\"}]}}",
                 "names starting with AWS_BATCH are reserved");
  expect_refused(control_deregister_job_definition, "{\"jobDefinition\":\"jd\"}", "give name:revision or ARN");
  char dreq[600], jd_arn[512];
  arn("job-definition/jd", jd_arn); /* SubmitJob takes it (the latest ACTIVE revision); Deregister needs the revision, as in AWS */
  snprintf(dreq, sizeof dreq, "{\"jobDefinition\":\"%s\"}", jd_arn);
  expect_refused(control_deregister_job_definition, dreq, "names no revision (give name:revision or ARN");
  expect_refused(control_deregister_job_definition, "{\"jobDefinition\":\"jd:9\"}", "job definition jd:9 does not exist");
  expect_ok(control_deregister_job_definition, "{\"jobDefinition\":\"jd:2\"}");
  CHECK_STR(jget_str(config_find_jd(&cv, "jd:2"), "status"), "INACTIVE");
  CHECK_INT(jget_int(config_find_jd(&cv, "jd"), "revision", -1), 1); /* the highest ACTIVE one */
}

static void test_policies(void) {
  TEST("scheduling policies: share overlaps, in use");
  char p_arn[512];
  arn("scheduling-policy/fair", p_arn);
  expect_refused(control_create_scheduling_policy,
                 "{\"name\":\"fair\",\"fairsharePolicy\":{\"shareDistribution\":"
                 "[{\"shareIdentifier\":\"team*\"},{\"shareIdentifier\":\"teamA\"}]}}",
                 "team* and teamA overlap");
  expect_refused(control_create_scheduling_policy,
                 "{\"name\":\"fair\",\"fairsharePolicy\":{\"shareDistribution\":[{\"shareIdentifier\":\"Us-er\"}]}}",
                 "shareDistribution[0].shareIdentifier 'Us-er' must be 1-255 letters and digits, optionally followed by '*'");
  expect_refused(control_create_scheduling_policy,
                 "{\"name\":\"fair\",\"fairsharePolicy\":{\"shareDistribution\":[{\"shareIdentifier\":\"*\"}]}}",
                 "shareDistribution[0].shareIdentifier '*' must be");
  expect_ok(control_create_scheduling_policy,
            "{\"name\":\"fair\",\"fairsharePolicy\":{\"shareDistribution\":[{\"shareIdentifier\":\"a\",\"weightFactor\":0.5}]}}");
  CHECK(json_object_get(cv.policies, p_arn) != NULL, "policy stored under its ARN");
  char req[1024];
  snprintf(req, sizeof req,
           "{\"jobQueueName\":\"fq\",\"priority\":1,\"schedulingPolicyArn\":\"%s\",\"computeEnvironmentOrder\":"
           "[{\"order\":1,\"computeEnvironment\":\"ce1\"}]}", p_arn);
  expect_ok(control_create_job_queue, req);
  /* an empty name or ARN was looked up: "job queue  does not exist" and the like */
  expect_refused(control_update_job_queue, "{\"jobQueue\":\"\",\"priority\":2}",
                 "jobQueue is empty: give a job queue's name or ARN");
  expect_refused(control_update_compute_environment, "{\"computeEnvironment\":\"\",\"state\":\"DISABLED\"}",
                 "computeEnvironment is empty: give a compute environment's name or ARN");
  expect_refused(control_delete_scheduling_policy, "{\"arn\":\"\"}", "arn is empty: give a scheduling policy's ARN");
  expect_refused(control_deregister_job_definition, "{\"jobDefinition\":\"\"}",
                 "jobDefinition is empty: give name:revision or an ARN");
  /* removing the policy with an empty ARN said "scheduling policy  does not exist" */
  expect_refused(control_update_job_queue, "{\"jobQueue\":\"fq\",\"schedulingPolicyArn\":\"\"}",
                 "schedulingPolicyArn is empty: name a scheduling policy (a fair-share queue's policy can be replaced, "
                 "never removed");
  /* a policy named by its name (AWS takes ARNs) was answered "scheduling policy fair does not
   * exist" while it existed */
  char want[768];
  snprintf(want, sizeof want, "schedulingPolicyArn fair is a scheduling policy's name: give its ARN, %s", p_arn);
  expect_refused(control_create_job_queue,
                 "{\"jobQueueName\":\"fq2\",\"priority\":1,\"schedulingPolicyArn\":\"fair\",\"computeEnvironmentOrder\":"
                 "[{\"order\":1,\"computeEnvironment\":\"ce1\"}]}", want);
  expect_refused(control_update_job_queue, "{\"jobQueue\":\"fq\",\"schedulingPolicyArn\":\"fair\"}", want);
  snprintf(want, sizeof want, "arn fair is a scheduling policy's name: give its ARN, %s", p_arn);
  expect_refused(control_update_scheduling_policy, "{\"arn\":\"fair\"}", want);
  expect_refused(control_delete_scheduling_policy, "{\"arn\":\"fair\"}", want);
  expect_refused(control_update_job_queue, "{\"jobQueue\":\"fq\",\"schedulingPolicyArn\":\"nope\"}",
                 "scheduling policy nope does not exist");
  snprintf(req, sizeof req, "{\"arn\":\"%s\"}", p_arn);
  expect_refused(control_delete_scheduling_policy, req, "is used by job queue fq");
  /* named by the other form of its ARN: it was deleted while in use (the check compared the
   * request's string), and an unused one was answered deleted but stayed (the tombstone's key
   * was the request's string, not the policy's) */
  char other[sizeof p_arn + 16];
  snprintf(other, sizeof other, "arn:barge:%s", p_arn + strlen("arn:aws:"));
  snprintf(req, sizeof req, "{\"arn\":\"%s\"}", other);
  expect_refused(control_delete_scheduling_policy, req, "is used by job queue fq");
  expect_ok(control_create_scheduling_policy, "{\"name\":\"idle\"}");
  char idle_arn[512];
  arn("scheduling-policy/idle", idle_arn);
  snprintf(req, sizeof req, "{\"arn\":\"arn:barge:%s\"}", idle_arn + strlen("arn:aws:"));
  struct control_write w;
  run_ok(control_delete_scheduling_policy, req, &w, "delete idle by its arn:barge: ARN");
  CHECK_STR(w.key, idle_arn);
  CHECK(json_object_get(cv.policies, idle_arn) == NULL, "idle deleted");
  control_write_release(&w);
}

static void test_jobs(void) {
  TEST("jobs: submit against the configuration, stop requests");
  struct control_write w;
  char q_arn[512];
  arn("job-queue/fq", q_arn);
  expect_refused(control_submit_job, "{\"jobName\":\"j\",\"jobQueue\":\"fq\",\"jobDefinition\":\"jd\"}",
                 "shareIdentifier is required on fair-share job queue fq");
  expect_refused(control_submit_job, "{\"jobName\":\"j\",\"jobQueue\":\"nope\",\"jobDefinition\":\"jd\"}",
                 "job queue nope does not exist");
  expect_refused(control_submit_job,
                 "{\"jobName\":\"j\",\"jobQueue\":\"fq\",\"jobDefinition\":\"jd\",\"shareIdentifier\":\"a\","
                 "\"dependsOn\":[{\"type\":\"SEQUENTIAL\"}]}",
                 "SEQUENTIAL takes no jobId and applies to array jobs only");
  expect_refused(control_submit_job,
                 "{\"jobName\":\"j\",\"jobQueue\":\"fq\",\"jobDefinition\":\"jd\",\"shareIdentifier\":\"a\","
                 "\"arrayProperties\":{\"size\":1}}",
                 "arrayProperties.size must be a whole number from 2 to 10000");
  expect_refused(control_submit_job,
                 "{\"jobName\":\"j\",\"jobQueue\":\"fq\",\"jobDefinition\":\"jd\",\"shareIdentifier\":\"a\","
                 "\"containerOverrides\":{\"vcpus\":2}}",
                 "override resourceRequirements instead");
  run_ok(control_submit_job,
         "{\"jobName\":\"j\",\"jobQueue\":\"fq\",\"jobDefinition\":\"jd\",\"shareIdentifier\":\"a\","
         "\"dependsOn\":[{\"jobId\":\"11111111-2222-3333-4444-555555555555\"}]}",
         &w, "submit");
  CHECK(w.topic == TOPIC_REQUESTS, "submit goes to barge.requests");
  const char *id = jget_str(w.resp, "jobId");
  CHECK(id && strlen(id) == 36, "a new job id");
  CHECK_STR(w.key, id ? id : "");
  json_t *sj = json_object_get(json_object_get(w.value, "body"), "SubmitJob");
  CHECK_STR(jget_str(sj, "jobQueue"), q_arn);
  CHECK(strstr(jget_str(sj, "jobDefinition"), "job-definition/jd:1") != NULL, "resolved to the ACTIVE revision");
  CHECK_INT(json_array_size(w.must_exist), 1);
  CHECK_STR(json_string_value(json_array_get(w.must_exist, 0)), "11111111-2222-3333-4444-555555555555");
  control_write_release(&w);

  run_ok(control_terminate_job, "{\"jobId\":\"11111111-2222-3333-4444-555555555555:7\",\"reason\":\"r\"}", &w, "terminate");
  CHECK_STR(w.key, "11111111-2222-3333-4444-555555555555"); /* a child travels with its parent */
  CHECK(json_object_get(json_object_get(w.value, "body"), "TerminateJob") != NULL, "a TerminateJob request");
  control_write_release(&w);
  /* a producer's own ids: the child of "abc", and a 40-character id (cut at 36 before) */
  run_ok(control_terminate_job, "{\"jobId\":\"abc:3\",\"reason\":\"r\"}", &w, "terminate a child of abc");
  CHECK_STR(w.key, "abc");
  control_write_release(&w);
  run_ok(control_cancel_job, "{\"jobId\":\"0123456789012345678901234567890123456789\",\"reason\":\"r\"}", &w,
         "cancel a 40-character id");
  CHECK_STR(w.key, "0123456789012345678901234567890123456789");
  control_write_release(&w);
  run_ok(control_terminate_job, "{\"jobId\":\"mnp#2\",\"reason\":\"r\"}", &w, "terminate a node of mnp");
  CHECK_STR(w.key, "mnp");
  control_write_release(&w);
  char long_reason[1200];
  memset(long_reason, 'x', 1100);
  long_reason[1100] = 0;
  char req[1400];
  snprintf(req, sizeof req, "{\"jobId\":\"j\",\"reason\":\"%s\"}", long_reason);
  expect_refused(control_cancel_job, req, "longer than 1024");
  /* the limit counts characters, as AWS Batch does: 1,024 "é" (2,048 bytes) are taken, one
   * more is refused (600 of them were refused as longer than 1024 characters) */
  char accented[2 * 1025 + 1], areq[2200];
  for (int i = 0; i < 1025; i++) memcpy(accented + 2 * i, "\xc3\xa9", 2);
  accented[2 * 1024] = 0;
  snprintf(areq, sizeof areq, "{\"jobId\":\"j\",\"reason\":\"%s\"}", accented);
  expect_ok(control_cancel_job, areq);
  accented[2 * 1024] = (char)0xc3;
  accented[2 * 1025] = 0;
  snprintf(areq, sizeof areq, "{\"jobId\":\"j\",\"reason\":\"%s\"}", accented);
  expect_refused(control_terminate_job, areq, "longer than 1024 characters");
  /* an id no job can have is refused, not written to barge.requests for nothing */
  expect_refused(control_cancel_job, "{\"jobId\":\"../x\",\"reason\":\"r\"}", "is not a job id");
  expect_refused(control_terminate_job, "{\"jobId\":\"a/b\",\"reason\":\"r\"}", "is not a job id");
  char long_id[200];
  memset(long_id, 'a', 100);
  long_id[100] = 0;
  snprintf(req, sizeof req, "{\"jobId\":\"%s\",\"reason\":\"r\"}", long_id);
  expect_refused(control_terminate_job, req, "is not a job id");
  run_ok(control_cancel_job, "{\"jobId\":\"11111111-2222-3333-4444-555555555555#1\",\"reason\":\"r\"}", &w,
         "cancel a multi-node node");
  control_write_release(&w);
}

static void test_table(void) {
  TEST("the operation table names each write's validation");
  CHECK(aws_op_find_api("CreateJobQueue")->prepare == control_create_job_queue, "CreateJobQueue");
  CHECK(aws_op_find_api("SubmitJob")->prepare == control_submit_job, "SubmitJob");
  CHECK(aws_op_find_api("CancelJob")->prepare == control_cancel_job, "CancelJob");
  CHECK(aws_op_find_api("TerminateJob")->prepare == control_terminate_job, "TerminateJob");
  int writes = 0, reads = 0, none = 0;
  for (size_t i = 0; i < aws_n_ops; i++) {
    const struct aws_op *op = &aws_ops[i];
    CHECK(!(op->prepare && op->handler), "%s has both a validation and a handler", op->api_name);
    writes += op->prepare != NULL;
    reads += op->handler != NULL;
    none += !op->prepare && !op->handler;
  }
  CHECK_INT(writes, 16);
  CHECK_INT(reads, 9);
  CHECK_INT(none, 0);
  CHECK(aws_op_find_api("TagResource")->prepare == control_tag_resource, "TagResource");
  CHECK(aws_op_find_api("UntagResource")->prepare == control_untag_resource, "UntagResource");
  CHECK(aws_op_find_api("ListTagsForResource")->handler == query_list_tags_for_resource, "ListTagsForResource");
  CHECK_STR(aws_error_class(API_CLIENT_ERROR), "ClientException");
  CHECK_STR(aws_error_class(API_SERVER_ERROR), "ServerException");
}

int main(void) {
  test_compute_environments();
  test_job_queues();
  test_job_definitions();
  test_policies();
  test_jobs();
  test_table();
  config_view_release(&cv);
  return check_summary();
}
