/* test_client_outcome.c: the client library (include/barge/client.h) when a submission's write
 * may or may not have landed, against librdkafka's in-process mock cluster (a real broker cannot
 * be made to answer late on demand; this test needs no broker of the fixture).
 *
 * Checked:
 * - a submission whose write was sent but not acknowledged in time (the broker's answers delayed
 *   past kafka.message.timeout.ms) is BARGE_ERR_OUTCOME_UNKNOWN, not BARGE_ERR_KAFKA ("retry"):
 *   a retry could make a second job. The job id is filled in and named in err, so the caller can
 *   look the job up before submitting again;
 * - the write did land: the request with that id is in barge.requests once the broker answers,
 *   under the principal the client was given. */
#include <stdlib.h>
#include <string.h>

#include "barge/client.h"
#include "bus.h"
#include "check.h"
#include "codec.h"
#include "control.h"
#include "mock_cluster.h"

struct find {
  const char *id;
  int found;
  char principal[64];
};

static void find_cb(void *ctx, const struct bus_msg *m) {
  struct find *f = ctx;
  if (m->keylen != strlen(f->id) || memcmp(m->key, f->id, m->keylen)) return;
  f->found++;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (!bus_decode(m, &t, &ev, why, sizeof why))
    snprintf(f->principal, sizeof f->principal, "%s", json_string_value(json_object_get(ev, "principal")));
  json_decref(ev);
}

int main(void) {
  char err[1024];
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "test_client_outcome: codec: %s\n", err);
    return 2;
  }
  struct mock_cluster m;
  if (mock_cluster_start(&m, "test_client_outcome", "tco")) return 2;
  rd_kafka_mock_cluster_t *mc = m.mc;
  const char *brokers = m.brokers, *prefix = m.prefix;
  struct bus_conf bc = {.brokers = brokers, .prefix = prefix, .client_id = "test_client_outcome"};

  mock_cluster_configure(&bc);

  const char *req = "{\"jobName\":\"j\",\"jobQueue\":\"q\",\"jobDefinition\":\"jd\"}";
  TEST("a write acknowledged: BARGE_OK with the job id");
  struct barge_client *c = barge_client_new(brokers, prefix, err, sizeof err);
  CHECK(c != NULL, "%s", err);
  CHECK_INT(barge_client_set(c, "kafka.message.timeout.ms", "2000", err, sizeof err), BARGE_OK);
  CHECK_INT(barge_client_set(c, "principal", "p\xc3\xa9ter", err, sizeof err), BARGE_OK);
  char id[64] = "";
  CHECK_INT(barge_submit_job(c, req, id, sizeof id, err, sizeof err), BARGE_OK);
  CHECK(strlen(id) == 36, "job id '%s'", id);

  TEST("a write sent but not acknowledged in time: BARGE_ERR_OUTCOME_UNKNOWN with the job id");
  rd_kafka_mock_broker_set_rtt(mc, 1, 6000); /* every answer 6 s late: past message.timeout.ms */
  char id2[64] = "";
  err[0] = 0;
  int rc = barge_submit_job(c, req, id2, sizeof id2, err, sizeof err);
  CHECK_INT(rc, BARGE_ERR_OUTCOME_UNKNOWN);
  CHECK(strlen(id2) == 36 && strcmp(id, id2), "job id '%s'", id2);
  CHECK(*id2 && strstr(err, id2) && strstr(err, "may have been written"), "%s", err);
  CHECK(strstr(barge_strerror(rc), "may have been written") != NULL, "%s", barge_strerror(rc));
  barge_client_free(c);

  TEST("the broker answers again: the request with that id is in barge.requests");
  rd_kafka_mock_broker_set_rtt(mc, 1, 0);
  struct find f = {.id = id2};
  struct bus_consumer *k = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  CHECK(k != NULL, "%s", err);
  if (k && *id2) {
    CHECK(bus_read_table(k, TOPIC_REQUESTS, find_cb, &f, err, sizeof err) == 0, "%s", err);
    CHECK_INT(f.found, 1);
    CHECK_STR(f.principal, "p\xc3\xa9ter"); /* under the principal set */
  }
  bus_consumer_free(k);

  mock_cluster_stop(&m);
  return check_summary();
}
