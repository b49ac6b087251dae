/* jobs_store.c: see jobs_store.h. Jobs live in one array of slots (freed slots reused), found
 * by id through a strmap; strings that repeat across jobs (queue, status, job definition,
 * share) are interned. A bucket is the list of slots of one (queue, status) or of one array
 * parent; a job sits in its queue bucket and, when a child, in its parent's, and knows its
 * position in each so that a move is O(1) (swap with the last). */
#include "jobs_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus.h"
#include "jobs_order.h"
#include "jsonget.h"
#include "stream_index.h"
#include "strmap.h"
#include "util.h"

#define NONE UINT32_MAX

const char *const jobs_store_statuses[] = {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING",
                                           "RUNNING",   "SUCCEEDED", "FAILED", NULL};

struct vjob {
  char *id, *name, *parent; /* NULL id: a free slot */
  int64_t created_at, queue_seq;
  uint32_t status, queue, jd, share; /* interned; share NONE when none */
  int32_t index;
  int32_t size; /* array size of an array parent, 0 otherwise (in the padding before qb) */
  uint32_t qb, qpos, pb, ppos; /* bucket and position: queue+status, parent (NONE) */
  void *raw;
  uint32_t len;
  json_t *rec; /* kept decoded (an overlay, or a record given without bytes) */
  int overlay;
  int streamed; /* it has entries in the stream index */
};

struct bucket {
  char *key;
  uint32_t *slots;
  uint32_t n, cap;
  struct jorder *ord; /* the slots in ListJobs' order: top-level jobs of a queue and status */
};

struct jobs_store {
  struct vjob *jobs;
  uint32_t njobs, capjobs, live;
  uint32_t *free_slots;
  uint32_t nfree, capfree;
  struct strmap by_id;
  char **strs; /* interned strings */
  uint32_t nstrs, capstrs;
  struct strmap str_idx;
  struct bucket *buckets;
  uint32_t nbuckets, capbuckets;
  struct strmap bucket_idx;
  int index_streams;           /* jobs_store_index_streams was called */
  struct stream_index streams; /* log stream name -> slot and attempt */
};

struct jobs_store *jobs_store_new(void) {
  struct jobs_store *s = xcalloc(1, sizeof *s);
  strmap_init(&s->by_id);
  strmap_init(&s->str_idx);
  strmap_init(&s->bucket_idx);
  return s;
}

static void vjob_clear(struct vjob *j) {
  free(j->id);
  free(j->name);
  free(j->parent);
  free(j->raw);
  json_decref(j->rec);
  memset(j, 0, sizeof *j);
}

void jobs_store_free(struct jobs_store *s) {
  if (!s) return;
  for (uint32_t i = 0; i < s->njobs; i++) vjob_clear(&s->jobs[i]);
  for (uint32_t i = 0; i < s->nstrs; i++) free(s->strs[i]);
  for (uint32_t i = 0; i < s->nbuckets; i++) {
    free(s->buckets[i].key);
    free(s->buckets[i].slots);
    jorder_free(s->buckets[i].ord);
  }
  strmap_release(&s->by_id);
  strmap_release(&s->str_idx);
  strmap_release(&s->bucket_idx);
  stream_index_release(&s->streams);
  free(s->jobs);
  free(s->free_slots);
  free(s->strs);
  free(s->buckets);
  free(s);
}

size_t jobs_store_count(const struct jobs_store *s) { return s->live; }

static uint32_t intern(struct jobs_store *s, const char *str) {
  if (!str) return NONE;
  uint32_t i = strmap_get(&s->str_idx, str);
  if (i != STRMAP_NONE) return i;
  if (s->nstrs == s->capstrs) {
    s->capstrs = s->capstrs ? s->capstrs * 2 : 64;
    s->strs = xrealloc(s->strs, s->capstrs * sizeof *s->strs);
  }
  s->strs[s->nstrs] = xstrdup(str);
  strmap_put(&s->str_idx, s->strs[s->nstrs], s->nstrs);
  return s->nstrs++;
}

static const char *str_of(const struct jobs_store *s, uint32_t i) {
  return i == NONE ? NULL : s->strs[i];
}

/* A queue's bucket of one status, of top-level jobs or of array children; a parent's bucket. */
static void bucket_key(char *out, size_t n, const char *queue, const char *status,
                       const char *parent, int children) {
  if (parent) snprintf(out, n, "p\x1f%s", parent);
  else snprintf(out, n, "q\x1f%s\x1f%s\x1f%c", queue ? queue : "", status ? status : "", children ? 'c' : 't');
}

/* ListJobs' order: newest first, then by job id, descending (an array's children by index,
 * job_id_cmp), as query_jobs.c's. */
static int cmp_jobs(const struct vjob *x, int64_t created_at, const char *id) {
  if (x->created_at != created_at) return x->created_at > created_at ? -1 : 1;
  return job_id_cmp(id, x->id);
}

static int cmp_slots(const void *ctx, uint32_t a, uint32_t b) {
  const struct jobs_store *s = ctx;
  return cmp_jobs(&s->jobs[a], s->jobs[b].created_at, s->jobs[b].id);
}

static int upto_cursor(const void *ctx, uint32_t slot, const void *key) {
  const struct jobs_store *s = ctx;
  const struct vjob_info *k = key;
  return cmp_jobs(&s->jobs[slot], k->created_at, k->id) <= 0;
}

static uint32_t bucket_find(const struct jobs_store *s, const char *key) {
  uint32_t b = strmap_get(&s->bucket_idx, key);
  return b == STRMAP_NONE ? NONE : b;
}

static uint32_t bucket_get(struct jobs_store *s, const char *key) {
  uint32_t b = bucket_find(s, key);
  if (b != NONE) return b;
  if (s->nbuckets == s->capbuckets) {
    s->capbuckets = s->capbuckets ? s->capbuckets * 2 : 16;
    s->buckets = xrealloc(s->buckets, s->capbuckets * sizeof *s->buckets);
  }
  struct bucket *bk = &s->buckets[s->nbuckets];
  memset(bk, 0, sizeof *bk);
  bk->key = xstrdup(key);
  strmap_put(&s->bucket_idx, bk->key, s->nbuckets);
  return s->nbuckets++;
}

static uint32_t bucket_add(struct jobs_store *s, uint32_t b, uint32_t slot) {
  struct bucket *bk = &s->buckets[b];
  if (bk->n == bk->cap) {
    bk->cap = bk->cap ? bk->cap * 2 : 8;
    bk->slots = xrealloc(bk->slots, bk->cap * sizeof *bk->slots);
  }
  bk->slots[bk->n] = slot;
  return bk->n++;
}

static void bucket_remove(struct jobs_store *s, uint32_t b, uint32_t pos) {
  struct bucket *bk = &s->buckets[b];
  uint32_t last = bk->slots[--bk->n];
  if (pos == bk->n) return;
  bk->slots[pos] = last;
  struct vjob *m = &s->jobs[last];
  if (m->qb == b) m->qpos = pos;
  else m->ppos = pos;
}

static void unindex(struct jobs_store *s, struct vjob *j) {
  if (j->qb != NONE && s->buckets[j->qb].ord)
    jorder_remove(s->buckets[j->qb].ord, (uint32_t)(j - s->jobs), cmp_slots, s);
  if (j->qb != NONE) bucket_remove(s, j->qb, j->qpos);
  if (j->pb != NONE) bucket_remove(s, j->pb, j->ppos);
  j->qb = j->pb = NONE;
}

static void index_job(struct jobs_store *s, uint32_t slot) {
  struct vjob *j = &s->jobs[slot];
  char key[1024];
  bucket_key(key, sizeof key, str_of(s, j->queue), str_of(s, j->status), NULL, j->parent != NULL);
  j->qb = bucket_get(s, key);
  j->qpos = bucket_add(s, j->qb, slot);
  if (!j->parent) {
    struct bucket *bk = &s->buckets[j->qb];
    if (!bk->ord) bk->ord = jorder_new();
    jorder_insert(bk->ord, slot, cmp_slots, s);
  }
  if (j->parent) {
    bucket_key(key, sizeof key, NULL, NULL, j->parent, 0);
    j->pb = bucket_get(s, key);
    j->ppos = bucket_add(s, j->pb, slot);
  }
}

static uint32_t slot_new(struct jobs_store *s) {
  if (s->nfree) return s->free_slots[--s->nfree];
  if (s->njobs == s->capjobs) {
    s->capjobs = s->capjobs ? s->capjobs * 2 : 1024;
    s->jobs = xrealloc(s->jobs, s->capjobs * sizeof *s->jobs);
  }
  memset(&s->jobs[s->njobs], 0, sizeof *s->jobs);
  return s->njobs++;
}

static void slot_free(struct jobs_store *s, uint32_t slot) {
  struct vjob *j = &s->jobs[slot];
  strmap_del(&s->by_id, j->id);
  unindex(s, j);
  vjob_clear(j);
  if (s->nfree == s->capfree) {
    s->capfree = s->capfree ? s->capfree * 2 : 64;
    s->free_slots = xrealloc(s->free_slots, s->capfree * sizeof *s->free_slots);
  }
  s->free_slots[s->nfree++] = slot;
  s->live--;
}

static json_t *get_slot(const struct jobs_store *s, uint32_t slot);

/* Adds (del 0) or removes (del 1) the stream index's entries of a job's record. An update keeps
 * the job's slot (put frees it and takes it back at once), and a record's streams only grow, so
 * only a removed job's entries are taken out. */
static void index_streams(struct jobs_store *s, uint32_t slot, const json_t *rec, int del) {
  int opened = (int)jget_int(rec, "attempt", 0);
  for (int n = 1; n <= opened; n++) {
    const char *name = jobs_record_stream(rec, n);
    if (!name) continue;
    if (del) stream_index_del(&s->streams, stream_index_hash(name), slot, (uint32_t)n);
    else stream_index_put(&s->streams, stream_index_hash(name), slot, (uint32_t)n);
    s->jobs[slot].streamed = 1;
  }
}

void jobs_store_del(struct jobs_store *s, const char *id) {
  uint32_t slot = strmap_get(&s->by_id, id);
  if (slot == STRMAP_NONE) return;
  if (s->jobs[slot].streamed) {
    json_t *rec = get_slot(s, slot);
    if (rec) index_streams(s, slot, rec, 1);
    json_decref(rec);
  }
  slot_free(s, slot);
}

/* Fills a fresh slot from rec's fields. */
static void fill(struct jobs_store *s, struct vjob *j, const char *id, const json_t *rec) {
  const json_t *d = json_object_get(rec, "detail");
  j->id = xstrdup(id);
  j->name = xstrdup(jget_str(d, "jobName") ? jget_str(d, "jobName") : "");
  j->parent = jget_str(rec, "parentJobId") ? xstrdup(jget_str(rec, "parentJobId")) : NULL;
  j->created_at = json_integer_value(json_object_get(d, "createdAt"));
  j->queue_seq = json_integer_value(json_object_get(rec, "queueSeq"));
  j->status = intern(s, jget_str(d, "status") ? jget_str(d, "status") : "");
  j->queue = intern(s, jget_str(d, "jobQueue") ? jget_str(d, "jobQueue") : "");
  j->jd = intern(s, jget_str(d, "jobDefinition") ? jget_str(d, "jobDefinition") : "");
  j->share = intern(s, jget_str(d, "shareIdentifier"));
  json_t *ix = json_object_get(json_object_get(d, "arrayProperties"), "index");
  j->index = j->parent && json_is_integer(ix) ? (int32_t)json_integer_value(ix) : -1;
  json_t *sz = json_object_get(json_object_get(d, "arrayProperties"), "size");
  j->size = !j->parent && json_is_integer(sz) ? (int32_t)json_integer_value(sz) : 0;
  j->qb = j->pb = NONE;
}

static void put(struct jobs_store *s, const char *id, const json_t *rec, const void *raw,
                size_t len, int overlay) {
  uint32_t slot = strmap_get(&s->by_id, id);
  if (slot != STRMAP_NONE) slot_free(s, slot);
  slot = slot_new(s);
  struct vjob *j = &s->jobs[slot];
  fill(s, j, id, rec);
  if (raw) {
    j->raw = xmalloc(len);
    memcpy(j->raw, raw, len);
    j->len = (uint32_t)len;
  } else {
    j->rec = json_incref((json_t *)rec);
  }
  j->overlay = overlay;
  strmap_put(&s->by_id, j->id, slot);
  index_job(s, slot);
  if (s->index_streams && !overlay) index_streams(s, slot, rec, 0);
  s->live++;
}

void jobs_store_put(struct jobs_store *s, const char *id, const json_t *rec, const void *raw,
                    size_t len) {
  put(s, id, rec, raw, len, 0);
}

void jobs_store_overlay(struct jobs_store *s, json_t *rec) {
  const char *id = jget_str(json_object_get(rec, "detail"), "jobId");
  if (id && strmap_get(&s->by_id, id) == STRMAP_NONE) put(s, id, rec, NULL, 0, 1);
  json_decref(rec);
}

json_t *jobs_store_get(const struct jobs_store *s, const char *id) {
  uint32_t slot = strmap_get(&s->by_id, id);
  return slot == STRMAP_NONE ? NULL : get_slot(s, slot);
}

static json_t *get_slot(const struct jobs_store *s, uint32_t slot) {
  const struct vjob *j = &s->jobs[slot];
  const char *id = j->id;
  if (j->rec) return json_incref(j->rec);
  enum barge_ev_type t;
  json_t *rec = NULL;
  char why[256];
  struct bus_msg m = {.topic = TOPIC_JOBS, .value = j->raw, .len = j->len};
  if (bus_decode(&m, &t, &rec, why, sizeof why)) {
    log_warn("job %s: stored record does not decode: %s", id, why);
    return NULL;
  }
  return rec;
}

static void info_of(const struct jobs_store *s, const struct vjob *j, struct vjob_info *o) {
  o->id = j->id;
  o->name = j->name;
  o->parent = j->parent;
  o->status = str_of(s, j->status);
  o->queue = str_of(s, j->queue);
  o->jd = str_of(s, j->jd);
  o->share = str_of(s, j->share);
  o->created_at = j->created_at;
  o->queue_seq = j->queue_seq;
  o->index = j->index;
  o->size = j->size;
  o->overlay = j->overlay;
}

int jobs_store_info(const struct jobs_store *s, const char *id, struct vjob_info *out) {
  uint32_t slot = strmap_get(&s->by_id, id);
  if (slot == STRMAP_NONE) return -1;
  info_of(s, &s->jobs[slot], out);
  return 0;
}

/* fn over one bucket; 1 when fn stopped. */
static int each_in(const struct jobs_store *s, const char *key,
                   int (*fn)(void *ctx, const struct vjob_info *j), void *ctx) {
  uint32_t b = bucket_find(s, key);
  if (b == NONE) return 0;
  const struct bucket *bk = &s->buckets[b];
  struct vjob_info info;
  for (uint32_t i = 0; i < bk->n; i++) {
    info_of(s, &s->jobs[bk->slots[i]], &info);
    if (fn(ctx, &info)) return 1;
  }
  return 0;
}

void jobs_store_each(const struct jobs_store *s, const char *queue_arn, const char *status,
                     const char *parent, int (*fn)(void *ctx, const struct vjob_info *j),
                     void *ctx) {
  char key[1024];
  if (!queue_arn) {
    bucket_key(key, sizeof key, NULL, NULL, parent ? parent : "", 0);
    each_in(s, key, fn, ctx);
    return;
  }
  for (const char *const *st = jobs_store_statuses; *st; st++) {
    if (status && strcmp(status, *st)) continue;
    for (int children = 0; children < 2; children++) {
      bucket_key(key, sizeof key, queue_arn, *st, NULL, children);
      if (each_in(s, key, fn, ctx)) return;
    }
  }
}

struct ordered_walk {
  const struct jobs_store *s;
  int (*fn)(void *ctx, const struct vjob_info *j);
  void *ctx;
};

static int ordered_visit(void *ctx, uint32_t slot) {
  struct ordered_walk *w = ctx;
  struct vjob_info info;
  info_of(w->s, &w->s->jobs[slot], &info);
  return w->fn(w->ctx, &info);
}

void jobs_store_each_ordered(const struct jobs_store *s, const char *queue_arn, const char *status,
                             const struct vjob_info *after,
                             int (*fn)(void *ctx, const struct vjob_info *j), void *ctx) {
  char key[1024];
  bucket_key(key, sizeof key, queue_arn, status, NULL, 0);
  uint32_t b = bucket_find(s, key);
  if (b == NONE || !s->buckets[b].ord) return;
  struct ordered_walk w = {s, fn, ctx};
  jorder_each(s->buckets[b].ord, upto_cursor, s, after, ordered_visit, &w);
}

int jobs_store_status_index(const char *status) {
  for (int i = 0; status && jobs_store_statuses[i]; i++)
    if (!strcmp(status, jobs_store_statuses[i])) return i;
  return -1;
}

static size_t bucket_size(const struct jobs_store *s, const char *queue, const char *status, int children) {
  char key[1024];
  bucket_key(key, sizeof key, queue, status, NULL, children);
  uint32_t b = bucket_find(s, key);
  return b == NONE ? 0 : s->buckets[b].n;
}

void jobs_store_counts(const struct jobs_store *s, const char *queue_arn, size_t *top, size_t *all) {
  for (int i = 0; jobs_store_statuses[i]; i++) {
    size_t t = bucket_size(s, queue_arn, jobs_store_statuses[i], 0);
    if (top) top[i] = t;
    if (all) all[i] = t + bucket_size(s, queue_arn, jobs_store_statuses[i], 1);
  }
}

void jobs_store_counts_every(const struct jobs_store *s, size_t *all) {
  for (int i = 0; jobs_store_statuses[i]; i++) all[i] = 0;
  for (uint32_t b = 0; b < s->nbuckets; b++) { /* "q\x1fQUEUE\x1fSTATUS\x1ft" or "...\x1fc" */
    const char *key = s->buckets[b].key, *st = key[0] == 'q' ? strchr(key + 2, '\x1f') : NULL;
    size_t n = st ? strlen(st + 1) : 0;
    if (n < 3) continue;
    for (int i = 0; jobs_store_statuses[i]; i++)
      if (strlen(jobs_store_statuses[i]) == n - 2 && !strncmp(jobs_store_statuses[i], st + 1, n - 2))
        all[i] += s->buckets[b].n;
  }
}

size_t jobs_store_child_counts(const struct jobs_store *s, const char *parent, size_t *counts) {
  char key[1024];
  bucket_key(key, sizeof key, NULL, NULL, parent, 0);
  for (int i = 0; jobs_store_statuses[i]; i++) counts[i] = 0;
  uint32_t b = bucket_find(s, key);
  if (b == NONE) return 0;
  const struct bucket *bk = &s->buckets[b];
  for (uint32_t i = 0; i < bk->n; i++) {
    int k = jobs_store_status_index(str_of(s, s->jobs[bk->slots[i]].status));
    if (k >= 0) counts[k]++;
  }
  return bk->n;
}

static int before_cursor(const void *ctx, uint32_t slot, const void *key) {
  const struct jobs_store *s = ctx;
  const struct vjob_info *k = key;
  return cmp_jobs(&s->jobs[slot], k->created_at, k->id) < 0;
}

/* Does the bucket key name a top-level (queue, status) bucket the walk wants? */
static int walk_wants(const struct jobs_store *s, const struct jobs_walk *w, const char *key) {
  if (key[0] != 'q' || key[strlen(key) - 1] != 't') return 0;
  const char *q = key + 2, *sep = strchr(q, '\x1f');
  if (!sep) return 0;
  size_t qlen = (size_t)(sep - q);
  int ok = !w->queues;
  for (size_t i = 0; !ok && i < w->nqueues; i++) ok = strlen(w->queues[i]) == qlen && !strncmp(w->queues[i], q, qlen);
  const char *st = sep + 1;
  size_t stlen = strlen(st) - 2; /* "\x1ft" */
  int sok = !w->statuses;
  for (size_t i = 0; !sok && i < w->nstatuses; i++)
    sok = strlen(w->statuses[i]) == stlen && !strncmp(w->statuses[i], st, stlen);
  (void)s;
  return ok && sok;
}

size_t jobs_store_walk_total(const struct jobs_store *s, const struct jobs_walk *w) {
  size_t n = 0;
  for (uint32_t b = 0; b < s->nbuckets; b++)
    if (s->buckets[b].ord && walk_wants(s, w, s->buckets[b].key)) n += s->buckets[b].n;
  return n;
}

size_t jobs_store_walk(const struct jobs_store *s, const struct jobs_walk *w,
                       int (*fn)(void *ctx, const struct vjob_info *j), void *ctx, int *ended) {
  size_t nheads = 0, visited = 0;
  const struct jorder_node **heads = xcalloc(s->nbuckets ? s->nbuckets : 1, sizeof *heads);
  for (uint32_t b = 0; b < s->nbuckets; b++) {
    const struct bucket *bk = &s->buckets[b];
    if (!bk->ord || !bk->n || !walk_wants(s, w, bk->key)) continue;
    const struct jorder_node *n = w->ascending ? jorder_seek_back(bk->ord, before_cursor, s, w->after)
                                               : jorder_seek(bk->ord, upto_cursor, s, w->after);
    if (n) heads[nheads++] = n;
  }
  int stopped = 0;
  while (nheads && !stopped && (!w->budget || visited < w->budget)) {
    size_t best = 0; /* the head that comes first in the walk's direction */
    for (size_t i = 1; i < nheads; i++) {
      const struct vjob *a = &s->jobs[jorder_slot(heads[i])], *c = &s->jobs[jorder_slot(heads[best])];
      int cmp = cmp_jobs(a, c->created_at, c->id);
      if (w->ascending ? cmp > 0 : cmp < 0) best = i;
    }
    struct vjob_info info;
    info_of(s, &s->jobs[jorder_slot(heads[best])], &info);
    visited++;
    stopped = fn(ctx, &info) != 0;
    heads[best] = w->ascending ? jorder_prev(heads[best]) : jorder_next(heads[best]);
    if (!heads[best]) heads[best] = heads[--nheads];
  }
  if (ended) *ended = nheads == 0;
  free(heads);
  return visited;
}

/* ---- log streams ---- */

const char *jobs_record_stream(const json_t *rec, int n) {
  const json_t *d = json_object_get(rec, "detail");
  const json_t *att = json_array_get(json_object_get(d, "attempts"), (size_t)n - 1);
  int opened = (int)jget_int(rec, "attempt", 0);
  const json_t *c = att ? json_object_get(att, "container") : n == opened ? json_object_get(d, "container") : NULL;
  return n >= 1 ? jget_str(c, "logStreamName") : NULL;
}

const char *jobs_record_instance(const json_t *rec, int n) {
  const json_t *d = json_object_get(rec, "detail");
  const json_t *att = n >= 1 ? json_array_get(json_object_get(d, "attempts"), (size_t)n - 1) : NULL;
  if (!att) return n >= 1 && n == (int)jget_int(rec, "attempt", 0) ? jget_str(rec, "instanceId") : NULL;
  const char *arn = jget_str(json_object_get(att, "container"), "containerInstanceArn");
  const char *sl = arn ? strrchr(arn, '/') : NULL;
  return sl && sl[1] ? sl + 1 : NULL;
}

int jobs_log_empty_here(const char *log_path, const char *instance_id) {
  struct stat sb;
  if (!log_path || !instance_id || !*instance_id || strchr(instance_id, '/') || !stat(log_path, &sb) ||
      errno != ENOENT)
    return 0;
  /* <log dir>/<jobId>/<n>.log: the log dir is two slashes up */
  const char *end = strrchr(log_path, '/');
  while (end && end > log_path && end[-1] != '/') end--;
  if (!end || end == log_path) return 0;
  char state[4400];
  int k = snprintf(state, sizeof state, "%.*s.agents/%s", (int)(end - log_path), log_path, instance_id);
  return k > 0 && (size_t)k < sizeof state && !stat(state, &sb) && S_ISDIR(sb.st_mode);
}

void jobs_store_index_streams(struct jobs_store *s) { s->index_streams = 1; }

json_t *jobs_store_find_stream(const struct jobs_store *s, const char *name, const char **id, int *attempt) {
  uint64_t h = stream_index_hash(name);
  size_t pos = 0;
  for (const struct stream_entry *e; (e = stream_index_next(&s->streams, h, &pos));) {
    if (!s->jobs[e->slot].id) continue; /* cannot happen: a removed job's entries go with it */
    json_t *rec = get_slot(s, e->slot);
    const char *got = rec ? jobs_record_stream(rec, (int)e->attempt) : NULL;
    if (got && !strcmp(got, name)) {
      *id = s->jobs[e->slot].id;
      *attempt = (int)e->attempt;
      return rec;
    }
    json_decref(rec); /* a hash collision */
  }
  return NULL;
}

void jobs_store_each_streamed(const struct jobs_store *s, void (*fn)(void *ctx, const char *id, const json_t *rec),
                              void *ctx) {
  for (uint32_t slot = 0; slot < s->njobs; slot++) {
    if (!s->jobs[slot].id || !s->jobs[slot].streamed) continue;
    json_t *rec = get_slot(s, slot);
    if (rec) fn(ctx, s->jobs[slot].id, rec);
    json_decref(rec);
  }
}
