/* test_client_threads.c: the client library (include/barge/client.h) embedded in a program
 * whose threads each make their own client at the same moment, against librdkafka's in-process
 * mock cluster (no broker of the fixture is needed).
 *
 * The test calls no codec_init of its own: the first clients of the process, 16 threads
 * released together by a barrier, make it run. Checked:
 * - every client is made, and each thread sees the same process-wide schema tables (the
 *   codec's canonical forms), written once: barge_client_new ran codec_init unguarded, so
 *   threads parsed the schemas at once and overwrote each other's tables (a data race, and the
 *   tables of all but one leaked: LeakSanitizer and ThreadSanitizer report it);
 * - each thread submits a job through its client and frees it; every job id is distinct and
 *   its request is in barge.requests;
 * - the same again, clients made, used and freed together, a few rounds. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "barge/client.h"
#include "bus.h"
#include "check.h"
#include "codec.h"
#include "mock_cluster.h"

#define THREADS 16
#define ROUNDS 3

static const char *brokers, *prefix;
static pthread_barrier_t made, configured;

struct worker {
  int round;
  int made;            /* barge_client_new returned a client */
  const char *canon;   /* a codec table the thread saw right after barge_client_new */
  int rc;              /* barge_submit_job */
  char id[64];
  char err[1024];
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  pthread_barrier_wait(&made); /* all threads start together */
  struct barge_client *c = barge_client_new(brokers, prefix, w->err, sizeof w->err);
  w->made = c != NULL;
  w->canon = codec_canonical_form(BARGE_EV_JOB_REQUEST);
  pthread_barrier_wait(&configured); /* main configures the cluster in the first round */
  pthread_barrier_wait(&configured);
  w->rc = c ? barge_submit_job(c, "{\"jobName\":\"t\",\"jobQueue\":\"q\",\"jobDefinition\":\"jd\"}", w->id,
                               sizeof w->id, w->err, sizeof w->err)
            : -1;
  barge_client_free(c);
  return NULL;
}

static char ids[THREADS * ROUNDS][64];
static int nids;

/* Counts the records keyed by a job id one of the threads was given. */
static void count_cb(void *ctx, const struct bus_msg *m) {
  for (int i = 0; i < nids; i++)
    if (m->keylen == strlen(ids[i]) && !memcmp(m->key, ids[i], m->keylen)) (*(int *)ctx)++;
}

int main(void) {
  char err[1024];
  struct mock_cluster m;
  if (mock_cluster_start(&m, "test_client_threads", "tct")) return 2;
  brokers = m.brokers;
  prefix = m.prefix;
  struct bus_conf bc = {.brokers = brokers, .prefix = prefix, .client_id = "test_client_threads"};
  int submitted = 0;
  for (int round = 0; round < ROUNDS; round++) {
    char name[128];
    snprintf(name, sizeof name, "round %d: %d threads make a client at once, submit a job, free it", round + 1, THREADS);
    TEST(name);
    struct worker w[THREADS] = {0};
    pthread_t th[THREADS];
    pthread_barrier_init(&made, NULL, THREADS);
    pthread_barrier_init(&configured, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++) {
      w[i].round = round;
      CHECK_INT(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    pthread_barrier_wait(&configured); /* every client made */
    if (round == 0) mock_cluster_configure(&bc); /* the codec is the clients' by now */
    pthread_barrier_wait(&configured);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&made);
    pthread_barrier_destroy(&configured);

    const char *canon = codec_canonical_form(BARGE_EV_JOB_REQUEST);
    int made_n = 0, same = 0, ok = 0, distinct = 1;
    for (int i = 0; i < THREADS; i++) {
      made_n += w[i].made;
      same += w[i].canon && w[i].canon == canon;
      ok += w[i].rc == BARGE_OK && strlen(w[i].id) == 36;
      if (w[i].rc == BARGE_OK) snprintf(ids[nids++], sizeof ids[0], "%s", w[i].id);
      if (w[i].rc != BARGE_OK) fprintf(stderr, "thread %d: %d %s\n", i, w[i].rc, w[i].err);
      for (int j = 0; j < i; j++)
        if (w[i].rc == BARGE_OK && w[j].rc == BARGE_OK && !strcmp(w[i].id, w[j].id)) distinct = 0;
    }
    CHECK_INT(made_n, THREADS);
    CHECK(same == THREADS, "%d of %d threads saw the schema tables the process kept (written more than once)",
          THREADS - same, THREADS);
    CHECK_INT(ok, THREADS);
    CHECK(distinct, "two submissions returned the same job id");
    submitted += ok;
  }

  TEST("every request is in barge.requests");
  int n = 0;
  struct bus_consumer *k = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  CHECK(k != NULL, "%s", err);
  if (k) CHECK_INT(bus_read_table(k, TOPIC_REQUESTS, count_cb, &n, err, sizeof err), 0);
  bus_consumer_free(k);
  CHECK(n == submitted, "%d records for %d submissions", n, submitted);
  CHECK_INT(submitted, THREADS * ROUNDS);

  mock_cluster_stop(&m);
  return check_summary();
}
