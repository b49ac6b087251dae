/* test_stream_index.c: the jobs store's index from log stream name to job (stream_index.c,
 * jobs_store_find_stream), which `barge api`'s CloudWatch Logs calls use instead of reading
 * barge.jobs (producers/api/logs_source.c):
 * - the hash table against a brute-force list under random puts and deletes, with hashes from a
 *   tiny range so that runs collide, wrap around the table's end and are cut by deletions;
 * - jobs_store_find_stream over 3,000 jobs: every attempt's stream (closed attempts and the open
 *   one) found with its job and attempt; a job's later attempts found after an update; a deleted
 *   job's streams gone (and its entries with it); an unknown name not found; a store without the
 *   index finds nothing. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec.h"
#include "jobs_store.h"
#include "stream_index.h"

#define REF_MAX 4096

struct ref {
  struct stream_entry v[REF_MAX];
  size_t n;
};

static size_t ref_find(const struct ref *r, uint64_t h, uint32_t slot, uint32_t att) {
  for (size_t i = 0; i < r->n; i++)
    if (r->v[i].h == h && r->v[i].slot == slot && r->v[i].attempt == att) return i;
  return r->n;
}

/* Every entry of the reference is found under its hash, and no other. */
static int same(const struct stream_index *x, const struct ref *r) {
  if (x->n != r->n) return 0;
  for (uint64_t h = 1; h <= 40; h++) {
    size_t want = 0, got = 0, pos = 0;
    for (size_t i = 0; i < r->n; i++) want += r->v[i].h == h;
    for (const struct stream_entry *e; (e = stream_index_next(x, h, &pos));) {
      if (e->h != h || ref_find(r, e->h, e->slot, e->attempt) == r->n) return 0;
      got++;
    }
    if (got != want) return 0;
  }
  return 1;
}

static void test_table(void) {
  TEST("the hash table against a brute-force list (colliding hashes, deletions)");
  struct stream_index x = {0};
  static struct ref r;
  srand(7);
  int bad = 0;
  for (int step = 0; step < 20000; step++) {
    uint64_t h = 1 + (uint64_t)(rand() % 40);
    uint32_t slot = (uint32_t)(rand() % 30), att = 1 + (uint32_t)(rand() % 3);
    size_t i = ref_find(&r, h, slot, att);
    if (rand() % 3) {
      stream_index_put(&x, h, slot, att);
      if (i == r.n && r.n < REF_MAX) r.v[r.n++] = (struct stream_entry){h, slot, att};
    } else {
      stream_index_del(&x, h, slot, att);
      if (i < r.n) r.v[i] = r.v[--r.n];
    }
    if (step % 97 == 0 && !same(&x, &r)) bad++;
  }
  CHECK(bad == 0 && same(&x, &r), "the table holds what the list holds (%d differences, %zu entries)", bad, r.n);
  CHECK(x.n > 1000 && x.cap >= x.n * 4 / 3, "grown past its first size, at most 3/4 full (%zu of %zu)", x.n, x.cap);
  stream_index_release(&x);
}

/* A JobRecord with `attempts` attempts: the first ones closed (detail.attempts), the last one
 * open (detail.container) unless `closed`. Stream names: jd-<i%7>/default/<hash of i and n>. */
static json_t *record(int i, int attempts, int closed) {
  char id[64], q[64];
  snprintf(id, sizeof id, "job-%05d", i);
  snprintf(q, sizeof q, "q%d", i % 3);
  json_t *atts = json_array(), *c = json_object();
  for (int n = 1; n <= attempts; n++) {
    char name[128];
    snprintf(name, sizeof name, "jd-%d/default/%08x", i % 7, (unsigned)(i * 2654435761u + (unsigned)n * 40503u));
    if (n < attempts || closed)
      json_array_append_new(atts, json_pack("{s:{s:s}}", "container", "logStreamName", name));
    else
      json_object_set_new(c, "logStreamName", json_string(name));
  }
  return json_pack("{s:i, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:o}}", "attempt", attempts, "logPath",
                   "/logs/x/1.log", "detail", "jobId", id, "jobName", "n", "status", "RUNNING", "jobQueue", q,
                   "jobDefinition", "jd", "createdAt", (json_int_t)i, "attempts", atts, "container", c);
}

/* Finds every stream of record(i, attempts, closed): 1 when each names job i and its attempt. */
static int finds_all(const struct jobs_store *s, int i, int attempts, int closed) {
  json_t *want = record(i, attempts, closed);
  int good = 1;
  for (int n = 1; n <= attempts && good; n++) {
    const char *name = jobs_record_stream(want, n), *id = NULL;
    int att = 0;
    json_t *rec = jobs_store_find_stream(s, name, &id, &att);
    char wid[64];
    snprintf(wid, sizeof wid, "job-%05d", i);
    good = rec && id && !strcmp(id, wid) && att == n;
    json_decref(rec);
  }
  json_decref(want);
  return good;
}

static void test_store(void) {
  TEST("jobs_store_find_stream over 3,000 jobs");
  struct jobs_store *s = jobs_store_new();
  jobs_store_index_streams(s);
  enum { N = 3000 };
  for (int i = 0; i < N; i++) {
    char id[64];
    snprintf(id, sizeof id, "job-%05d", i);
    json_t *rec = record(i, 1 + i % 3, i % 2);
    jobs_store_put(s, id, rec, NULL, 0);
    json_decref(rec);
  }
  int found = 0;
  for (int i = 0; i < N; i++) found += finds_all(s, i, 1 + i % 3, i % 2);
  CHECK_INT(found, N);
  const char *id = NULL;
  int att = 0;
  CHECK(jobs_store_find_stream(s, "jd-1/default/nosuchtask", &id, &att) == NULL, "an unknown stream is not found");

  /* an update: the open attempt closes and a new one opens */
  for (int i = 0; i < N; i += 10) {
    char jid[64];
    snprintf(jid, sizeof jid, "job-%05d", i);
    json_t *rec = record(i, 2 + i % 3, 0);
    jobs_store_put(s, jid, rec, NULL, 0);
    json_decref(rec);
  }
  found = 0;
  for (int i = 0; i < N; i += 10) found += finds_all(s, i, 2 + i % 3, 0);
  CHECK_INT(found, N / 10);

  /* deletions: the job's streams go, the others stay; a new job reuses the slots */
  size_t before = 0;
  for (int i = 1; i < N; i += 2) {
    char jid[64];
    snprintf(jid, sizeof jid, "job-%05d", i);
    jobs_store_del(s, jid);
  }
  int gone = 0, kept = 0;
  for (int i = 0; i < N; i++) {
    json_t *want = record(i, i % 10 ? 1 + i % 3 : 2 + i % 3, i % 10 ? i % 2 : 0);
    json_t *rec = jobs_store_find_stream(s, jobs_record_stream(want, 1), &id, &att);
    if (i % 2) gone += rec == NULL;
    else kept += rec != NULL;
    json_decref(rec);
    json_decref(want);
  }
  CHECK(gone == N / 2 && kept == N / 2, "deleted jobs' streams are gone (%d), the others found (%d)", gone, kept);
  for (int i = N; i < N + N / 2; i++) {
    char jid[64];
    snprintf(jid, sizeof jid, "job-%05d", i);
    json_t *rec = record(i, 1, 0);
    jobs_store_put(s, jid, rec, NULL, 0);
    json_decref(rec);
    before += finds_all(s, i, 1, 0);
  }
  CHECK_INT(before, N / 2);
  jobs_store_free(s);

  TEST("a store without the index finds nothing");
  s = jobs_store_new();
  json_t *rec = record(1, 1, 0);
  jobs_store_put(s, "job-00001", rec, NULL, 0);
  CHECK(jobs_store_find_stream(s, jobs_record_stream(rec, 1), &id, &att) == NULL, "no index, no answer");
  json_decref(rec);
  jobs_store_free(s);
}

int main(void) {
  char err[256];
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "codec_init: %s\n", err);
    return 1;
  }
  test_table();
  test_store();
  return check_summary();
}
