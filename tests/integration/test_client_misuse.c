/* test_client_misuse.c: what an embedder of the client library (include/barge/client.h) can get
 * wrong or run into, against librdkafka's in-process mock cluster (no broker of the fixture is
 * needed).
 *
 * Checked:
 * - NULL and too-small arguments are BARGE_ERR_ARGUMENT with a reason, err NULL or of 1 byte
 *   included; barge_client_free(NULL) and barge_free_string(NULL) do nothing;
 * - very long job names, job ids and requests are refused or answered, never a crash; a long
 *   job id is cut in err, which says what happened (it filled err, the meaning fell off);
 * - barge_wait_job with a negative timeout waits (for a job that is done: BARGE_OK);
 * - a client used after a broker outage: a submission during it fails, the next one after it
 *   goes through on the same client; and a producer made unusable for good (an idempotent
 *   producer id refused: librdkafka's fatal error) does not stay so for the client's life;
 * - a submission whose flush timed out while the broker was down (BARGE_ERR_OUTCOME_UNKNOWN:
 *   "look it up before submitting again") is not written when the broker is back (it stayed
 *   in the client's queue and was written then: with the caller's retry, a second job). */
#include <stdlib.h>
#include <string.h>

#include "barge/client.h"
#include "bus.h"
#include "check.h"
#include "codec.h"
#include "mock_cluster.h"

#define INIT_PRODUCER_ID_API_KEY 22

struct count {
  const char *id;
  int found;
};

static void count_cb(void *ctx, const struct bus_msg *m) {
  struct count *n = ctx;
  if (m->keylen == strlen(n->id) && !memcmp(m->key, n->id, m->keylen)) n->found++;
}

static const char *req = "{\"jobName\":\"j\",\"jobQueue\":\"q\",\"jobDefinition\":\"jd\"}";

int main(void) {
  char err[1024];
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "test_client_misuse: codec: %s\n", err);
    return 2;
  }
  struct mock_cluster m;
  if (mock_cluster_start(&m, "test_client_misuse", "tcm")) return 2;
  struct bus_conf bc = {.brokers = m.brokers, .prefix = m.prefix, .client_id = "test_client_misuse"};
  mock_cluster_configure(&bc);

  TEST("NULL and too-small arguments: BARGE_ERR_ARGUMENT, with a reason");
  barge_client_free(NULL);
  barge_free_string(NULL);
  struct barge_client *c = barge_client_new(m.brokers, m.prefix, err, sizeof err);
  CHECK(c != NULL, "%s", err);
  char id[64] = "", tiny[36];
  CHECK_INT(barge_submit_job(NULL, req, id, sizeof id, err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK_INT(barge_submit_job(c, NULL, id, sizeof id, err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK_INT(barge_submit_job(c, req, NULL, 64, err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK_INT(barge_submit_job(c, req, tiny, sizeof tiny, err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK(strstr(err, "37") != NULL, "%s", err);
  CHECK_INT(barge_submit_job(c, req, tiny, sizeof tiny, NULL, 0), BARGE_ERR_ARGUMENT);
  char one[1] = {'x'};
  CHECK_INT(barge_submit_job(c, req, tiny, sizeof tiny, one, sizeof one), BARGE_ERR_ARGUMENT);
  CHECK_INT(one[0], 0);
  CHECK_INT(barge_job_status(NULL, "x", NULL, NULL, err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK_INT(barge_job_status(c, NULL, NULL, NULL, err, sizeof err), BARGE_ERR_ARGUMENT);
  char *detail = (char *)"untouched";
  CHECK_INT(barge_wait_job(NULL, "x", 0, NULL, &detail, err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK(detail == NULL, "detail_json not cleared");
  CHECK_INT(barge_client_set(NULL, "principal", "p", err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK_INT(barge_client_set(c, "principal", NULL, err, sizeof err), BARGE_ERR_ARGUMENT);

  TEST("very long job names, ids and requests: refused or answered");
  size_t big = 2u << 20;
  char *s = xmalloc(big + 256);
  memset(s, 'a', big);
  s[big] = 0;
  CHECK_INT(barge_job_status(c, s + big - 100000, NULL, NULL, err, sizeof err), BARGE_ERR_NOT_FOUND);
  CHECK(strstr(err, "not in barge.jobs") != NULL, "%.300s", err); /* the id, cut, and what it means */
  CHECK_INT(barge_wait_job(c, s + big - 100000, 0, NULL, NULL, err, sizeof err), BARGE_ERR_TIMEOUT);
  CHECK(strstr(err, "not in barge.jobs") != NULL, "%.300s", err);
  char *r = xmalloc(big + 256);
  snprintf(r, big + 256, "{\"jobName\":\"%.2000s\",\"jobQueue\":\"q\",\"jobDefinition\":\"jd\"}", s);
  CHECK_INT(barge_submit_job(c, r, id, sizeof id, err, sizeof err), BARGE_ERR_INVALID);
  CHECK(strstr(err, "jobName") != NULL, "%s", err);
  snprintf(r, big + 256,
           "{\"jobName\":\"j\",\"jobQueue\":\"q\",\"jobDefinition\":\"jd\",\"parameters\":{\"p\":\"%s\"}}", s);
  int rc = barge_submit_job(c, r, id, sizeof id, err, sizeof err);
  CHECK(rc == BARGE_ERR_INVALID, "a request of 2 MiB: %d %s", rc, err);
  snprintf(r, big + 256, "{\"jobName\":\"%.2000s", s); /* not JSON */
  CHECK_INT(barge_submit_job(c, r, id, sizeof id, err, sizeof err), BARGE_ERR_ARGUMENT);
  free(r);
  free(s);

  TEST("the client still submits; a wait with a negative timeout for a done job is BARGE_OK");
  CHECK_INT(barge_submit_job(c, req, id, sizeof id, err, sizeof err), BARGE_OK);
  struct bus_producer *prod = bus_producer_new(&bc, NULL, err, sizeof err);
  json_t *rec = json_pack("{s:o, s:{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:[], s:[]}, s:i, s:I, s:[]}", "header",
                          bus_header("scheduler", "done-1", now_ms()), "detail", "jobArn", "done-1", "jobName", "n",
                          "jobId", "done-1", "jobQueue", "q", "status", "SUCCEEDED", "createdAt", (json_int_t)1,
                          "jobDefinition", "jd", "attempts", "dependsOn", "attempt", 0, "queueSeq", (json_int_t)1,
                          "dependencyIds");
  CHECK(prod && !bus_produce(prod, TOPIC_JOBS, "done-1", rec, err, sizeof err) &&
            !bus_flush(prod, 10000, err, sizeof err), "%s", err);
  json_decref(rec);
  bus_producer_free(prod);
  struct barge_job_state st;
  CHECK_INT(barge_wait_job(c, "done-1", -1, &st, NULL, err, sizeof err), BARGE_OK);
  CHECK_STR(st.status, "SUCCEEDED");
  barge_client_free(c);

  TEST("a client used after a broker outage submits again");
  c = barge_client_new(m.brokers, m.prefix, err, sizeof err);
  CHECK_INT(barge_client_set(c, "kafka.message.timeout.ms", "3000", err, sizeof err), BARGE_OK);
  CHECK_INT(barge_submit_job(c, req, id, sizeof id, err, sizeof err), BARGE_OK);
  rd_kafka_mock_broker_set_down(m.mc, 1);
  rc = barge_submit_job(c, req, id, sizeof id, err, sizeof err);
  CHECK(rc == BARGE_ERR_KAFKA || rc == BARGE_ERR_OUTCOME_UNKNOWN, "during the outage: %d %s", rc, err);
  rd_kafka_mock_broker_set_up(m.mc, 1);
  rc = barge_submit_job(c, req, id, sizeof id, err, sizeof err);
  CHECK(rc == BARGE_OK, "after the outage: %d %s", rc, err);
  barge_client_free(c);

  TEST("a submission whose flush timed out (30 s) during an outage is not written after it");
  c = barge_client_new(m.brokers, m.prefix, err, sizeof err);
  CHECK_INT(barge_client_set(c, "kafka.message.timeout.ms", "45000", err, sizeof err), BARGE_OK);
  CHECK_INT(barge_submit_job(c, req, id, sizeof id, err, sizeof err), BARGE_OK);
  rd_kafka_mock_broker_set_down(m.mc, 1);
  char late[64] = "";
  rc = barge_submit_job(c, req, late, sizeof late, err, sizeof err);
  CHECK(rc == BARGE_ERR_OUTCOME_UNKNOWN && strlen(late) == 36, "during the outage: %d %s", rc, err);
  rd_kafka_mock_broker_set_up(m.mc, 1);
  rc = barge_submit_job(c, req, id, sizeof id, err, sizeof err);
  CHECK(rc == BARGE_OK, "after the outage: %d %s", rc, err);
  barge_client_free(c);
  struct count n = {.id = late};
  struct bus_consumer *k = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  CHECK(k && !bus_read_table(k, TOPIC_REQUESTS, count_cb, &n, err, sizeof err), "%s", err);
  bus_consumer_free(k);
  /* the caller was told to look it up before submitting again: it must not appear later */
  CHECK(n.found == 0, "the request of job %s was written after the call returned", late);

  TEST("a producer refused for good (fatal) is not the client's for its life");
  c = barge_client_new(m.brokers, m.prefix, err, sizeof err);
  CHECK_INT(barge_client_set(c, "kafka.message.timeout.ms", "5000", err, sizeof err), BARGE_OK);
  rd_kafka_mock_push_request_errors(m.mc, INIT_PRODUCER_ID_API_KEY, 1, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED);
  rc = barge_submit_job(c, req, id, sizeof id, err, sizeof err);
  CHECK(rc == BARGE_ERR_KAFKA, "refused: %d %s", rc, err);
  rc = barge_submit_job(c, req, id, sizeof id, err, sizeof err);
  CHECK(rc == BARGE_OK, "once allowed: %d %s", rc, err);
  barge_client_free(c);

  mock_cluster_stop(&m);
  return check_summary();
}
