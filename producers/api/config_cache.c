/* config_cache.c: see config_cache.h. */
#include "config_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_PARTS 64

struct config_cache {
  struct bus_consumer *c;
  int nparts;
  pthread_rwlock_t lock; /* guards cv */
  struct config_view cv;
  pthread_mutex_t mu; /* guards pos, fatal; moved signals their changes */
  pthread_cond_t moved;
  int64_t pos[MAX_PARTS]; /* the next offset the view has not seen, per partition */
  int fatal;
  atomic_int stop;
  pthread_t th;
};

static void advance(struct config_cache *c, int32_t part, int64_t next) {
  if (part < 0 || part >= c->nparts) return;
  pthread_mutex_lock(&c->mu);
  if (next > c->pos[part]) c->pos[part] = next;
  pthread_cond_broadcast(&c->moved);
  pthread_mutex_unlock(&c->mu);
}

static void *follow(void *arg) {
  struct config_cache *c = arg;
  char err[512];
  while (!atomic_load(&c->stop)) {
    struct bus_msg m;
    int r = bus_poll(c->c, 100, &m, err, sizeof err);
    if (r == 1) {
      pthread_rwlock_wrlock(&c->lock);
      config_view_apply(&c->cv, &m);
      pthread_rwlock_unlock(&c->lock);
      advance(c, m.partition, m.offset + 1);
      bus_msg_release(&m);
    } else if (r == 2) {
      advance(c, m.partition, m.offset);
    } else if (r < 0) {
      log_error("config cache: %s", err);
      pthread_mutex_lock(&c->mu);
      c->fatal = 1;
      pthread_cond_broadcast(&c->moved);
      pthread_mutex_unlock(&c->mu);
      break;
    }
  }
  return NULL;
}

static void deadline(struct timespec *ts, int timeout_ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += timeout_ms / 1000;
  ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

/* Waits until pos[p] >= want[p] for every partition. */
static int wait_for(struct config_cache *c, const int64_t *want, int timeout_ms) {
  struct timespec until;
  deadline(&until, timeout_ms);
  pthread_mutex_lock(&c->mu);
  int ok = 0;
  for (;;) {
    ok = 1;
    for (int p = 0; p < c->nparts; p++)
      if (c->pos[p] < want[p]) ok = 0;
    if (ok || c->fatal || pthread_cond_timedwait(&c->moved, &c->mu, &until)) break;
  }
  pthread_mutex_unlock(&c->mu);
  return ok ? 0 : -1;
}

int config_cache_wait(struct config_cache *c, int32_t partition, int64_t offset, int timeout_ms) {
  int64_t want[MAX_PARTS] = {0};
  if (partition >= 0 && partition < c->nparts) want[partition] = offset + 1;
  return wait_for(c, want, timeout_ms);
}

int config_cache_sync(struct config_cache *c, int timeout_ms) {
  int64_t want[MAX_PARTS] = {0};
  for (int p = 0; p < c->nparts; p++) {
    int64_t lo;
    if (bus_watermarks(c->c, TOPIC_CONFIG, p, &lo, &want[p])) {
      log_warn("config cache: the end offset of partition %d could not be read", p);
      return -1;
    }
  }
  return wait_for(c, want, timeout_ms);
}

static int64_t from_start(void *ctx, enum bus_topic t, int32_t partition, int64_t committed) {
  (void)ctx, (void)t, (void)partition, (void)committed;
  return BUS_OFFSET_BEGINNING;
}

struct config_cache *config_cache_new(const struct bus_conf *bc, char *err, size_t errlen) {
  struct config_cache *c = xcalloc(1, sizeof *c);
  c->nparts = bus_topic_partitions(TOPIC_CONFIG);
  if (c->nparts > MAX_PARTS) c->nparts = MAX_PARTS;
  config_view_init(&c->cv);
  pthread_rwlockattr_t ra; /* the follower must not starve behind a stream of readers */
  pthread_rwlockattr_init(&ra);
  pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&c->lock, &ra);
  pthread_rwlockattr_destroy(&ra);
  pthread_mutex_init(&c->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->moved, &ca);
  pthread_condattr_destroy(&ca);
  enum bus_topic t = TOPIC_CONFIG;
  c->c = bus_consumer_new(bc, NULL, 1, err, errlen);
  if (!c->c || bus_assign_with(c->c, &t, 1, from_start, NULL, err, errlen) ||
      pthread_create(&c->th, NULL, follow, c)) {
    if (c->c) bus_consumer_free(c->c);
    config_view_release(&c->cv);
    free(c);
    return NULL;
  }
  int64_t t0 = mono_ms();
  int synced;
  while ((synced = config_cache_sync(c, 30000)) && mono_ms() - t0 < 30000) usleep(100 * 1000); /* a new topic's leader */
  if (synced) {
    snprintf(err, errlen, "could not read %s to its end in 30 s", "barge.config");
    config_cache_free(c);
    return NULL;
  }
  return c;
}

void config_cache_free(struct config_cache *c) {
  if (!c) return;
  atomic_store(&c->stop, 1);
  pthread_join(c->th, NULL);
  bus_consumer_free(c->c);
  config_view_release(&c->cv);
  pthread_rwlock_destroy(&c->lock);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->moved);
  free(c);
}

const struct config_view *config_cache_lock(struct config_cache *c) {
  pthread_rwlock_rdlock(&c->lock);
  return &c->cv;
}

void config_cache_unlock(struct config_cache *c) { pthread_rwlock_unlock(&c->lock); }
