/* test_client_wait.c: barge_wait_job and barge_job_status of the client library
 * (include/barge/client.h) against librdkafka's in-process mock cluster, this test writing the
 * scheduler's JobRecords itself (no broker of the fixture is needed).
 *
 * Checked:
 * - a wait that times out says the state the job reached ("still RUNNING"), also when the caller
 *   passed no state struct (it said "not in barge.jobs yet" of a job that was there);
 * - a wait of 0 ms looks once (a job already SUCCEEDED is BARGE_OK, not a timeout);
 * - a wait for a job barge.jobs does not have says that, naming the id;
 * - a wait reads barge.jobs from its start once and then follows it: after its first read, the
 *   broker refuses every ListOffsets request (what a new read of the table from its start asks
 *   first), and the wait still sees the job's SUCCEEDED record written meanwhile. The wait used
 *   to read the whole table again after each change and every 5 s, which fails here;
 * - barge_job_status reads the job's record. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "barge/client.h"
#include "bus.h"
#include "check.h"
#include "codec.h"
#include "mock_cluster.h"

#define LIST_OFFSETS_API_KEY 2 /* Kafka's ListOffsets request */

static struct bus_producer *prod;

/* Writes a JobRecord of job id in this status, as the scheduler does. */
static int write_record(const char *id, const char *status) {
  char err[512];
  json_t *r = json_pack("{s:o, s:{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:[], s:[]}, s:i, s:I, s:[]}", "header",
                        bus_header("scheduler", id, now_ms()), "detail", "jobArn", id, "jobName", "n", "jobId", id,
                        "jobQueue", "q", "status", status, "createdAt", (json_int_t)1, "jobDefinition", "jd",
                        "attempts", "dependsOn", "attempt", 0, "queueSeq", (json_int_t)1, "dependencyIds");
  int rc = bus_produce(prod, TOPIC_JOBS, id, r, err, sizeof err);
  if (!rc) rc = bus_flush(prod, 10000, err, sizeof err);
  json_decref(r);
  if (rc) fprintf(stderr, "writing %s %s: %s\n", id, status, err);
  return rc;
}

struct waiter {
  struct barge_client *c;
  const char *id;
  int rc;
  struct barge_job_state st;
  char err[1024];
};

static void *wait_main(void *arg) {
  struct waiter *w = arg;
  w->rc = barge_wait_job(w->c, w->id, 20000, &w->st, NULL, w->err, sizeof w->err);
  return NULL;
}

int main(void) {
  char err[1024];
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "test_client_wait: codec: %s\n", err);
    return 2;
  }
  struct mock_cluster m;
  if (mock_cluster_start(&m, "test_client_wait", "tcw")) return 2;
  rd_kafka_mock_cluster_t *mc = m.mc;
  const char *brokers = m.brokers, *prefix = m.prefix;
  struct bus_conf bc = {.brokers = brokers, .prefix = prefix, .client_id = "test_client_wait"};
  prod = bus_producer_new(&bc, NULL, err, sizeof err);
  struct barge_client *c = barge_client_new(brokers, prefix, err, sizeof err);
  if (!prod || !c) {
    fprintf(stderr, "test_client_wait: %s\n", err);
    return 2;
  }
  for (int i = 0; i < 50; i++) { /* other jobs, before and after */
    char other[32];
    snprintf(other, sizeof other, "other-%d", i);
    CHECK_INT(write_record(other, "SUCCEEDED"), 0);
    if (i == 25) CHECK_INT(write_record("job-a", "RUNNING"), 0);
  }

  TEST("barge_job_status reads the job's record");
  struct barge_job_state st;
  CHECK_INT(barge_job_status(c, "job-a", &st, NULL, err, sizeof err), BARGE_OK);
  CHECK_STR(st.status, "RUNNING");
  CHECK_INT(barge_job_status(c, "job-none", &st, NULL, err, sizeof err), BARGE_ERR_NOT_FOUND);

  TEST("a wait that times out says the state reached, with or without a state struct");
  err[0] = 0;
  CHECK_INT(barge_wait_job(c, "job-a", 1500, NULL, NULL, err, sizeof err), BARGE_ERR_TIMEOUT);
  CHECK(strstr(err, "job-a") && strstr(err, "RUNNING"), "%s", err);
  CHECK_INT(barge_wait_job(c, "job-a", 1500, &st, NULL, err, sizeof err), BARGE_ERR_TIMEOUT);
  CHECK(strstr(err, "RUNNING") != NULL, "%s", err);
  CHECK_STR(st.status, "RUNNING");

  TEST("a wait of 0 ms looks once: a job already SUCCEEDED is BARGE_OK");
  CHECK_INT(barge_wait_job(c, "other-3", 0, &st, NULL, err, sizeof err), BARGE_OK);
  CHECK_STR(st.status, "SUCCEEDED");
  CHECK_INT(barge_wait_job(c, "job-a", 0, NULL, NULL, err, sizeof err), BARGE_ERR_TIMEOUT);
  CHECK(strstr(err, "still RUNNING") != NULL, "%s", err);

  TEST("a wait for a job barge.jobs does not have says so");
  CHECK_INT(barge_wait_job(c, "job-none", 1500, &st, NULL, err, sizeof err), BARGE_ERR_TIMEOUT);
  CHECK(strstr(err, "job-none") && strstr(err, "not in barge.jobs"), "%s", err);
  CHECK_STR(st.status, "");

  TEST("a wait reads barge.jobs from its start once, then follows it");
  struct waiter w = {.c = c, .id = "job-a"};
  pthread_t th;
  int64_t t0 = mono_ms();
  CHECK_INT(pthread_create(&th, NULL, wait_main, &w), 0);
  sleep(2); /* its first read is done (a few dozen records of an in-process broker) */
  /* from now on, a read of the table from its start fails: ListOffsets is refused */
  enum { REFUSALS = 100000 };
  rd_kafka_resp_err_t *refused = xmalloc(REFUSALS * sizeof *refused);
  for (int i = 0; i < REFUSALS; i++) refused[i] = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
  rd_kafka_mock_push_request_errors_array(mc, LIST_OFFSETS_API_KEY, REFUSALS, refused);
  free(refused);
  CHECK_INT(write_record("job-a", "RUNNABLE"), 0); /* a retry: a change that is not the end */
  sleep(1);
  CHECK_INT(write_record("job-a", "SUCCEEDED"), 0);
  pthread_join(th, NULL);
  CHECK_INT(w.rc, BARGE_OK);
  CHECK_STR(w.st.status, "SUCCEEDED");
  CHECK(mono_ms() - t0 < 15000, "the wait took %lld ms", (long long)(mono_ms() - t0));
  if (w.rc) fprintf(stderr, "wait: %s\n", w.err);
  rd_kafka_mock_clear_request_errors(mc, LIST_OFFSETS_API_KEY);

  barge_client_free(c);
  bus_producer_free(prod);
  mock_cluster_stop(&m);
  return check_summary();
}
