/* writer.c: see writer.h. */
#include "writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_int.h"

/* How long a request waits for Kafka to confirm its record before it is answered 500: the
 * writer's message.timeout.ms, unless --kafka-props sets one. Well under botocore's 60 s read
 * timeout, so that the client gets the answer (and retries) rather than timing out blind. */
#define WRITER_TIMEOUT_MS 20000
#define WRITER_WAIT_MS 90000 /* past message.timeout.ms: the report always comes first */

struct api_writer {
  struct bus_producer *p;
  pthread_t server;
  atomic_int stop;
  char *props; /* the --kafka-props given to the producer, with its message.timeout.ms */
};

/* One record in flight: on the stack of the request that waits for it. */
struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  struct bus_delivery d;
};

static void delivered(void *ctx, const struct bus_delivery *d) {
  struct waiter *wt = ctx;
  pthread_mutex_lock(&wt->mu);
  wt->d = *d;
  wt->done = 1;
  pthread_cond_signal(&wt->cv);
  pthread_mutex_unlock(&wt->mu);
}

static void *serve(void *arg) {
  struct api_writer *w = arg;
  while (!atomic_load(&w->stop)) bus_producer_serve(w->p, 100);
  return NULL;
}

static int writer_publish(void *ctx, enum bus_topic t, const char *key, const json_t *v,
                          struct control_written *at, char *err, size_t errlen) {
  struct api_writer *w = ctx;
  struct waiter wt = {.done = 0};
  pthread_mutex_init(&wt.mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&wt.cv, &ca);
  pthread_condattr_destroy(&ca);
  char e[512];
  int rc = 0;
  if (bus_produce_async(w->p, t, key, v, &wt, e, sizeof e)) {
    rc = fail(err, errlen, SERVER, "%s", e);
    goto out;
  }
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += WRITER_WAIT_MS / 1000;
  pthread_mutex_lock(&wt.mu);
  while (!wt.done && pthread_cond_timedwait(&wt.cv, &wt.mu, &until) == 0) {
  }
  int done = wt.done;
  pthread_mutex_unlock(&wt.mu);
  if (!done) {
    /* cannot happen while librdkafka keeps message.timeout.ms; never leave wt behind */
    log_error("no delivery report after %d ms; exiting rather than answer blind", WRITER_WAIT_MS);
    abort();
  }
  if (!wt.d.ok) {
    /* Not persisted: the record will never be written, the caller may retry. Uncertain (it was
     * sent, and the answer lost): a retry of a SubmitJob could make a second job. */
    rc = fail(err, errlen, SERVER, "%s; %s", wt.d.reason,
              wt.d.uncertain ? "the request may have been written all the same: check (ListJobs, Describe*) before "
                               "retrying"
                             : "nothing was written, retry once Kafka answers");
    goto out;
  }
  at->topic = t;
  at->partition = wt.d.partition;
  at->offset = wt.d.offset;
out:
  pthread_cond_destroy(&wt.cv);
  pthread_mutex_destroy(&wt.mu);
  return rc;
}

struct api_writer *api_writer_new(const struct bus_conf *bc, char *err, size_t errlen) {
  struct api_writer *w = xcalloc(1, sizeof *w);
  struct bus_conf c = *bc;
  const char *given = bc->kafka_props ? bc->kafka_props : "";
  if (!bus_conf_has_prop(bc, "message.timeout.ms")) {
    size_t n = strlen(given) + 64;
    w->props = xmalloc(n);
    snprintf(w->props, n, "%s%smessage.timeout.ms=%d", given, *given ? "," : "", WRITER_TIMEOUT_MS);
    c.kafka_props = w->props;
  }
  w->p = bus_producer_new(&c, NULL, err, errlen);
  if (!w->p) {
    free(w->props);
    free(w);
    return NULL;
  }
  bus_producer_on_delivery(w->p, delivered);
  if (pthread_create(&w->server, NULL, serve, w)) {
    snprintf(err, errlen, "cannot start the delivery thread");
    bus_producer_free(w->p);
    free(w->props);
    free(w);
    return NULL;
  }
  return w;
}

void api_writer_free(struct api_writer *w) {
  if (!w) return;
  char e[256];
  if (bus_flush(w->p, 30000, e, sizeof e)) log_warn("writer: %s", e);
  atomic_store(&w->stop, 1);
  pthread_join(w->server, NULL);
  bus_producer_free(w->p);
  free(w->props);
  free(w);
}

struct control_sink api_writer_sink(struct api_writer *w) {
  return (struct control_sink){writer_publish, w};
}
