/* writer.c: see writer.h. */
#include "writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "control_int.h"

#define WRITER_WAIT_MS 90000 /* past message.timeout.ms (60 s): the report always comes first */

struct api_writer {
  struct bus_producer *p;
  pthread_t server;
  atomic_int stop;
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
    rc = fail(err, errlen, SERVER, "%s", wt.d.reason);
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
  w->p = bus_producer_new(bc, NULL, err, errlen);
  if (!w->p) {
    free(w);
    return NULL;
  }
  bus_producer_on_delivery(w->p, delivered);
  if (pthread_create(&w->server, NULL, serve, w)) {
    snprintf(err, errlen, "cannot start the delivery thread");
    bus_producer_free(w->p);
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
  free(w);
}

struct control_sink api_writer_sink(struct api_writer *w) {
  return (struct control_sink){writer_publish, w};
}
