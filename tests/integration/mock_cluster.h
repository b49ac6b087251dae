/* mock_cluster.h: librdkafka's in-process mock cluster (one broker) with every Barge topic under
 * a fresh prefix, for the integration tests of paths a real broker cannot be made to take on
 * demand (answers delayed past a timeout, requests refused). Include after check.h and bus.h. */
#ifndef BARGE_TEST_MOCK_CLUSTER_H
#define BARGE_TEST_MOCK_CLUSTER_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>

#include "control.h"
#include "util.h"

struct mock_cluster {
  rd_kafka_t *rk; /* the handle that owns the cluster */
  rd_kafka_mock_cluster_t *mc;
  char brokers[256];
  char prefix[64]; /* "<tag><8 hex>." */
};

/* Starts the cluster and creates the topics (the mock cluster has no controller for
 * CreateTopics). 0, or -1 with the reason printed under the test's name. */
static inline int mock_cluster_start(struct mock_cluster *m, const char *test, const char *tag) {
  char errstr[512], hex[9];
  rd_kafka_conf_t *kc = rd_kafka_conf_new();
  rd_kafka_conf_set(kc, "log_level", "0", errstr, sizeof errstr);
  m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof errstr);
  m->mc = m->rk ? rd_kafka_mock_cluster_new(m->rk, 1) : NULL;
  if (!m->mc) {
    fprintf(stderr, "%s: no mock cluster: %s\n", test, m->rk ? "rd_kafka_mock_cluster_new failed" : errstr);
    if (m->rk) rd_kafka_destroy(m->rk);
    return -1;
  }
  snprintf(m->brokers, sizeof m->brokers, "%s", rd_kafka_mock_cluster_bootstraps(m->mc));
  random_hex(hex, 8);
  snprintf(m->prefix, sizeof m->prefix, "%s%s.", tag, hex);
  for (int t = 0; t < TOPIC__COUNT; t++) {
    char name[128];
    snprintf(name, sizeof name, "%s%s", m->prefix, bus_topic_base(t));
    CHECK(rd_kafka_mock_topic_create(m->mc, name, bus_topic_partitions(t), 1) == 0, "%s", name);
  }
  return 0;
}

/* One control request (what the CLI's create-* and register-* send), its error printed. 0 or the
 * control_call's code. */
static inline int mock_call(const struct bus_conf *bc, const char *api, const char *req_json) {
  char err[1024];
  json_t *req = json_loads(req_json, 0, NULL), *resp = NULL;
  int rc = control_call(bc, api, req, &resp, err, sizeof err);
  if (rc) fprintf(stderr, "%s: %d %s\n", api, rc, err);
  json_decref(resp);
  json_decref(req);
  return rc;
}

/* What a submission needs: compute environment "ce" (UNMANAGED), queue "q" on it, job
 * definition "jd" (1 vCPU, 64 MiB, `true`). */
static inline void mock_cluster_configure(const struct bus_conf *bc) {
  TEST("a configuration on the mock cluster: a compute environment, a queue, a job definition");
  CHECK_INT(mock_call(bc, "CreateComputeEnvironment",
                      "{\"computeEnvironmentName\":\"ce\",\"type\":\"UNMANAGED\",\"state\":\"ENABLED\"}"), 0);
  CHECK_INT(mock_call(bc, "CreateJobQueue",
                      "{\"jobQueueName\":\"q\",\"priority\":1,\"computeEnvironmentOrder\":"
                      "[{\"order\":1,\"computeEnvironment\":\"ce\"}]}"), 0);
  CHECK_INT(mock_call(bc, "RegisterJobDefinition",
                      "{\"jobDefinitionName\":\"jd\",\"type\":\"container\",\"containerProperties\":"
                      "{\"image\":\"busybox\",\"command\":[\"true\"],\"resourceRequirements\":"
                      "[{\"type\":\"VCPU\",\"value\":\"1\"},{\"type\":\"MEMORY\",\"value\":\"64\"}]}}"), 0);
}

static inline void mock_cluster_stop(struct mock_cluster *m) {
  rd_kafka_mock_cluster_destroy(m->mc);
  rd_kafka_destroy(m->rk);
}
#endif
