/* view_live.c: see view_live.h. */
#include "view_live.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonget.h"

#define BATCH_MAX 2000    /* messages applied under one hold of the write lock */
#define BATCH_MAX_MS 20   /* ... or this long, so that reads wait little */

struct part_goal {
  enum bus_topic t;
  int32_t partition;
  int64_t end; /* the end offset when the view started; -1 once reached */
  int64_t pos; /* the next offset the view reads (under the write lock) */
};

struct view_live {
  struct view v;
  pthread_rwlock_t lock;
  pthread_mutex_t mu; /* guards loaded with cond */
  pthread_cond_t cond;
  int loaded;
  volatile int stop;
  pthread_t thread;
  struct bus_consumer *c;
  struct part_goal *goals;
  size_t ngoals, left;
  int64_t started_ms;
  view_live_listener listener; /* under the write lock */
  void *listener_ctx;
};

/* Where every partition ends now: the first load is done when the view has read that far. A
 * topic created a moment ago may have no leader yet: each partition is asked until it answers. */
static int set_goals(struct view_live *l, const enum bus_topic *topics, int n) {
  int parts[TOPIC__COUNT];
  for (int i = 0; i < n; i++) {
    char err[512];
    for (int tries = 0; (parts[i] = bus_partition_count(l->c, topics[i], err, sizeof err)) < 0; tries++) {
      if (l->stop) return -1;
      if (tries % 20 == 0) log_warn("view: %s; retrying", err);
      usleep(250000); /* a refusal (ACLs) answers at once */
    }
    l->ngoals += (size_t)parts[i];
  }
  l->goals = xcalloc(l->ngoals, sizeof *l->goals);
  size_t k = 0;
  for (int i = 0; i < n; i++) {
    for (int p = 0; p < parts[i]; p++, k++) {
      int64_t lo = 0, hi = 0;
      for (int tries = 0; bus_watermarks(l->c, topics[i], p, &lo, &hi); tries++) {
        if (l->stop) return -1;
        if (tries % 20 == 0) log_warn("view: no watermarks of %s[%d] yet; retrying", bus_topic_base(topics[i]), p);
        usleep(250000);
      }
      l->goals[k] = (struct part_goal){topics[i], p, hi > lo ? hi : -1, 0};
      l->left += hi > lo;
    }
  }
  return 0;
}

static int64_t from_beginning(void *ctx, enum bus_topic t, int32_t partition, int64_t committed) {
  (void)ctx, (void)t, (void)partition, (void)committed;
  return BUS_OFFSET_BEGINNING;
}

static void mark_loaded(struct view_live *l) {
  pthread_mutex_lock(&l->mu);
  l->loaded = 1;
  pthread_cond_broadcast(&l->cond);
  pthread_mutex_unlock(&l->mu);
  log_info("view loaded in %lld ms: %zu jobs, %zu queues, %zu compute environments",
           (long long)(mono_ms() - l->started_ms), jobs_store_count(l->v.jobs),
           json_object_size(l->v.cv.queues), json_object_size(l->v.cv.ces));
}

/* A partition read up to offset next (eof: to its end): its position moves on, and the first
 * load is done when every partition reached the end it had at start. */
static void progress(struct view_live *l, enum bus_topic t, int32_t partition, int64_t next, int eof) {
  for (size_t i = 0; i < l->ngoals; i++) {
    struct part_goal *g = &l->goals[i];
    if (g->t != t || g->partition != partition) continue;
    if (next > g->pos) g->pos = next;
    if (g->end >= 0 && (eof || next >= g->end)) {
      g->end = -1;
      if (!--l->left) mark_loaded(l);
    }
    return;
  }
}

/* Wakes the reads waiting in view_live_sync. */
static void moved(struct view_live *l) {
  pthread_mutex_lock(&l->mu);
  pthread_cond_broadcast(&l->cond);
  pthread_mutex_unlock(&l->mu);
}

/* Waits on cond (l->mu held) for a moved() or ms milliseconds. */
static void wait_moved(struct view_live *l, long ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += ms * 1000000L;
  if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
  pthread_cond_timedwait(&l->cond, &l->mu, &ts);
}

/* The job of key before a change (status NULL when the store has none), and the listener called
 * after it when its status changed. Under the write lock. */
struct job_before {
  char id[128];
  const char *status; /* interned by the store: stays valid */
};

static int before_change(struct view_live *l, const char *key, size_t keylen, struct job_before *b) {
  if (!l->listener || !key || keylen >= sizeof b->id) return 0;
  memcpy(b->id, key, keylen);
  b->id[keylen] = 0;
  struct vjob_info info;
  b->status = jobs_store_info(l->v.jobs, b->id, &info) ? NULL : info.status;
  return 1;
}

static void after_change(struct view_live *l, const struct job_before *b) {
  struct vjob_info info;
  if (jobs_store_info(l->v.jobs, b->id, &info)) return; /* deleted, or not a job */
  if (b->status && !strcmp(b->status, info.status)) return;
  l->listener(l->listener_ctx, &info, b->status);
}

static void apply_one(struct view_live *l, struct bus_msg *m) {
  struct job_before b;
  /* the first load replays every job: no one is watching those as changes yet (loaded is
   * written by this thread only) */
  int watch = l->loaded && m->topic == TOPIC_JOBS && before_change(l, m->key, m->keylen, &b);
  view_apply(&l->v, m);
  if (watch) after_change(l, &b);
}

/* Applies m and whatever else is ready, under one hold of the write lock. */
static void apply_batch(struct view_live *l, struct bus_msg *m) {
  char err[512];
  int64_t until = mono_ms() + BATCH_MAX_MS;
  pthread_rwlock_wrlock(&l->lock);
  for (int n = 0;; n++) {
    apply_one(l, m);
    progress(l, m->topic, m->partition, m->offset + 1, 0);
    bus_msg_release(m);
    if (n >= BATCH_MAX || mono_ms() > until) break;
    int r = bus_poll(l->c, 0, m, err, sizeof err);
    if (r == 2) progress(l, m->topic, m->partition, m->offset, 1);
    if (r != 1) break;
  }
  pthread_rwlock_unlock(&l->lock);
  moved(l);
}

static void *run(void *arg) {
  struct view_live *l = arg;
  char err[512];
  enum bus_topic topics[4];
  int n = view_topics(VIEW_ALL, topics);
  if (set_goals(l, topics, n)) return NULL;
  while (bus_assign_with(l->c, topics, n, from_beginning, NULL, err, sizeof err)) {
    log_warn("view: assigning the tables: %s; retrying", err);
    for (int i = 0; i < 4; i++)
      if (l->stop) return NULL;
      else usleep(250000);
  }
  if (!l->left) mark_loaded(l);
  while (!l->stop) {
    struct bus_msg m;
    int r = bus_poll(l->c, 200, &m, err, sizeof err);
    if (r == 1) apply_batch(l, &m);
    else if (r == 2) {
      pthread_rwlock_wrlock(&l->lock);
      progress(l, m.topic, m.partition, m.offset, 1);
      pthread_rwlock_unlock(&l->lock);
      moved(l);
    }
    else if (r < 0) {
      log_warn("view: consuming: %s", err);
      sleep(1);
    }
  }
  return NULL;
}

struct view_live *view_live_start(const struct bus_conf *bc, char *err, size_t errlen) {
  struct view_live *l = xcalloc(1, sizeof *l);
  view_init(&l->v);
  jobs_store_index_streams(l->v.jobs); /* the CloudWatch Logs calls find a stream by name (logs_source.c) */
  /* writer-preferring: a steady stream of reads must not hold the consumer off */
  pthread_rwlockattr_t ra;
  pthread_rwlockattr_init(&ra);
  pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&l->lock, &ra);
  pthread_rwlockattr_destroy(&ra);
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cond, NULL);
  l->started_ms = mono_ms();
  l->c = bus_consumer_new(bc, NULL, 1, err, errlen);
  if (l->c && pthread_create(&l->thread, NULL, run, l)) {
    snprintf(err, errlen, "cannot start the view's thread");
    bus_consumer_free(l->c);
    l->c = NULL;
  }
  if (!l->c) {
    view_live_stop(l);
    return NULL;
  }
  return l;
}

void view_live_stop(struct view_live *l) {
  if (!l) return;
  if (l->c) {
    l->stop = 1;
    pthread_join(l->thread, NULL);
    bus_consumer_free(l->c);
  }
  view_release(&l->v);
  free(l->goals);
  pthread_rwlock_destroy(&l->lock);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cond);
  free(l);
}

int view_live_read(struct view_live *l, int wait_ms, const struct view **v, char *err,
                   size_t errlen) {
  pthread_mutex_lock(&l->mu);
  int64_t deadline = mono_ms() + wait_ms;
  while (!l->loaded && mono_ms() < deadline) {
    wait_moved(l, 50);
  }
  int loaded = l->loaded;
  pthread_mutex_unlock(&l->mu);
  pthread_rwlock_rdlock(&l->lock);
  if (!loaded) {
    size_t n = jobs_store_count(l->v.jobs);
    pthread_rwlock_unlock(&l->lock);
    return api_error(err, errlen, API_SERVER_ERROR,
                     "the API is still loading its view of the tables (%zu jobs read so far); retry in a moment", n);
  }
  *v = &l->v;
  return 0;
}

void view_live_done(struct view_live *l) { pthread_rwlock_unlock(&l->lock); }

void view_live_written(struct view_live *l, enum bus_topic t, const char *key, const json_t *value) {
  pthread_rwlock_wrlock(&l->lock);
  struct job_before b; /* a submission shows as a new SUBMITTED job */
  const char *id = t == TOPIC_REQUESTS ? jget_str(json_object_get(json_object_get(value, "body"), "SubmitJob"), "jobId") : NULL;
  int watch = id && before_change(l, id, strlen(id), &b);
  view_written(&l->v, t, key, value);
  if (watch) after_change(l, &b);
  pthread_rwlock_unlock(&l->lock);
}

void view_live_listen(struct view_live *l, view_live_listener fn, void *ctx) {
  pthread_rwlock_wrlock(&l->lock);
  l->listener = fn;
  l->listener_ctx = ctx;
  pthread_rwlock_unlock(&l->lock);
}

int view_live_sync(struct view_live *l, unsigned tables, int wait_ms) {
  enum bus_topic topics[4];
  int n = view_topics(tables, topics);
  int64_t *want = xcalloc(l->ngoals ? l->ngoals : 1, sizeof *want);
  int rc = 0;
  for (size_t i = 0; i < l->ngoals && !rc; i++) {
    want[i] = -1;
    for (int k = 0; k < n; k++) {
      int64_t lo = 0, hi = 0;
      if (l->goals[i].t != topics[k]) continue;
      if (bus_watermarks(l->c, topics[k], l->goals[i].partition, &lo, &hi)) rc = -1;
      else want[i] = hi;
    }
  }
  int64_t deadline = mono_ms() + wait_ms;
  for (int done = 0; !rc && !done;) {
    pthread_rwlock_rdlock(&l->lock);
    done = 1;
    for (size_t i = 0; i < l->ngoals; i++) done &= want[i] < 0 || l->goals[i].pos >= want[i];
    pthread_rwlock_unlock(&l->lock);
    if (done) break;
    if (mono_ms() >= deadline) {
      rc = 1;
      break;
    }
    pthread_mutex_lock(&l->mu);
    wait_moved(l, 20);
    pthread_mutex_unlock(&l->mu);
  }
  free(want);
  return rc;
}

void view_live_known(struct view_live *l, const char *const *ids, size_t n, int *found) {
  pthread_mutex_lock(&l->mu);
  int loaded = l->loaded;
  pthread_mutex_unlock(&l->mu);
  if (!loaded) return; /* the tables answer instead */
  pthread_rwlock_rdlock(&l->lock);
  struct vjob_info info;
  for (size_t i = 0; i < n; i++)
    if (ids[i] && !jobs_store_info(l->v.jobs, ids[i], &info)) found[i] = info.size ? info.size : 1;
  pthread_rwlock_unlock(&l->lock);
}
