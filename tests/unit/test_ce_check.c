/* test_ce_check.c: the table an agent keeps while it checks that its compute environment exists
 * (agent/ce_check.c), without Kafka: barge.config records encoded as on the topic and applied as
 * the check reads them. It keeps each CE's name under its ARN, not the CE's whole body, and skips
 * the records of queues, job definitions and policies; a deleted CE (tombstone) is gone, a CE
 * created again is back; the CE is found by name, by ARN and by its ARN in the other partition. */
#include <stdlib.h>
#include <string.h>

#include "ce_check.h"
#include "check.h"
#include "codec.h"
#include "util.h"

#define ARN "arn:barge:batch:local:000000000000:"

/* Applies the ConfigRecord {kind: body} (body owned; NULL: a tombstone) under key to names. */
static void apply(json_t *names, const char *key, const char *kind, json_t *body) {
  struct buf b;
  buf_init(&b);
  char err[256] = "";
  if (body) {
    json_t *ev = json_pack("{s:o, s:{s:o}}", "header", bus_header("api", "", 1), "body", kind, body);
    CHECK(codec_encode(bus_topic_type(TOPIC_CONFIG), ev, &b, err, sizeof err) == 0, "encode: %s", err);
    json_decref(ev);
  }
  struct bus_msg m = {.topic = TOPIC_CONFIG, .key = key, .keylen = strlen(key), .value = body ? b.data : NULL,
                      .len = b.len};
  ce_check_apply(names, &m);
  buf_release(&b);
}

static json_t *ce(const char *name, const char *arn) {
  return json_pack("{s:s, s:s, s:s, s:{s:s, s:i, s:[s]}}", "computeEnvironmentName", name, "computeEnvironmentArn",
                   arn, "type", "MANAGED", "computeResources", "type", "EC2", "maxvCpus", 16, "instanceTypes",
                   "m5.large");
}

static void test_names_only(void) {
  TEST("a CE is kept as its name under its ARN; queues, job definitions and policies are not kept");
  json_t *names = json_object();
  apply(names, ARN "compute-environment/local", "ComputeEnvironment", ce("local", ARN "compute-environment/local"));
  apply(names, ARN "job-queue/q", "JobQueue",
        json_pack("{s:s, s:s, s:i, s:[]}", "jobQueueName", "local", "jobQueueArn", ARN "job-queue/q", "priority", 1,
                  "computeEnvironmentOrder"));
  apply(names, ARN "job-definition/local:1", "JobDefinition",
        json_pack("{s:s, s:s, s:i, s:s, s:{}}", "jobDefinitionName", "local", "jobDefinitionArn",
                  ARN "job-definition/local:1", "revision", 1, "type", "container", "containerProperties"));
  apply(names, ARN "scheduling-policy/local", "SchedulingPolicy",
        json_pack("{s:s, s:s}", "name", "local", "arn", ARN "scheduling-policy/local"));
  /* skipped before decoding: even a CE body under a queue's key (which no producer writes, but
   * which bus_decode would take, its key being its ARN) is not kept */
  apply(names, ARN "job-queue/ce", "ComputeEnvironment", ce("ce", ARN "job-queue/ce"));
  CHECK(!ce_check_names_have(names, "ce"), "a record under a job queue's key is not decoded");
  CHECK_INT(json_object_size(names), 1);
  json_t *v = json_object_get(names, ARN "compute-environment/local");
  CHECK(json_is_string(v), "the CE's value is its name, not its body");
  CHECK_STR(json_string_value(v), "local");
  /* a queue, job definition or policy of the agent's CE name is no CE */
  apply(names, ARN "compute-environment/local", NULL, NULL);
  CHECK(!ce_check_names_have(names, "local"), "a queue, job definition or policy named local is not the CE");
  CHECK_INT(json_object_size(names), 0);
  json_decref(names);
}

static void test_lifecycle(void) {
  TEST("a CE created, deleted (tombstone), created again; found by name, ARN, ARN in the other partition");
  json_t *names = json_object();
  const char *arn = ARN "compute-environment/lcoal";
  CHECK(!ce_check_names_have(names, "lcoal"), "an empty table has no CE");
  apply(names, arn, "ComputeEnvironment", ce("lcoal", arn));
  CHECK(ce_check_names_have(names, "lcoal"), "by name");
  CHECK(ce_check_names_have(names, arn), "by ARN");
  CHECK(ce_check_names_have(names, "arn:aws:batch:local:000000000000:compute-environment/lcoal"),
        "by ARN in the aws partition");
  CHECK(!ce_check_names_have(names, "local"), "another name");
  CHECK(!ce_check_names_have(names, ARN "compute-environment/local"), "another ARN");
  CHECK(!ce_check_names_have(names, NULL), "no CE");
  apply(names, arn, NULL, NULL);
  CHECK(!ce_check_names_have(names, "lcoal"), "deleted");
  apply(names, arn, "ComputeEnvironment", ce("lcoal", arn));
  CHECK(ce_check_names_have(names, "lcoal"), "created again");
  /* a record under a key other than its ARN is refused by bus_decode, and not kept */
  apply(names, ARN "compute-environment/other", "ComputeEnvironment", ce("other", ARN "compute-environment/x"));
  CHECK(!ce_check_names_have(names, "other"), "a CE record under another key is not kept");
  struct bus_msg bad = {.topic = TOPIC_CONFIG, .key = ARN "compute-environment/bad",
                        .keylen = strlen(ARN "compute-environment/bad"), .value = "\x01garbage", .len = 8};
  ce_check_apply(names, &bad);
  CHECK(!ce_check_names_have(names, ARN "compute-environment/bad"), "an undecodable record is skipped");
  CHECK_INT(json_object_size(names), 1);
  json_decref(names);
}

int main(void) {
  char err[256];
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "codec_init: %s\n", err);
    return 1;
  }
  test_names_only();
  test_lifecycle();
  return check_summary();
}
