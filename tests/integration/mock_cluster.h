/* mock_cluster.h: librdkafka's in-process mock cluster (one broker) with every Barge topic under
 * a fresh prefix, for the integration tests of paths a real broker cannot be made to take on
 * demand (answers delayed past a timeout, requests refused). Include after check.h and bus.h. */
#ifndef BARGE_TEST_MOCK_CLUSTER_H
#define BARGE_TEST_MOCK_CLUSTER_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>

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

static inline void mock_cluster_stop(struct mock_cluster *m) {
  rd_kafka_mock_cluster_destroy(m->mc);
  rd_kafka_destroy(m->rk);
}
#endif
