/* jobs_store.h: barge.jobs in memory, compactly: the latest JobRecord of every job kept as its
 * encoded bytes (decoded again when a read needs the detail), plus the few fields the reads
 * select and sort on, indexed by job queue and status (the top-level jobs also in ListJobs'
 * order, jobs_order.h) and by array parent. At a million jobs
 * `barge api` holds about 1 KB a job, 600 bytes of it the encoded record (bench/bench_api_reads).
 *
 * The `barge` command line fills one store per call from the table (view_load); `barge api`
 * keeps one current (producers/api/view_live.c). Not thread-safe: the caller locks. */
#ifndef BARGE_JOBS_STORE_H
#define BARGE_JOBS_STORE_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct jobs_store;

/* What the reads select and sort on (borrowed from the store; valid until it changes). */
struct vjob_info {
  const char *id, *name, *status, *queue, *jd, *share; /* share NULL when none */
  const char *parent;                                  /* NULL unless an array child */
  int64_t created_at, queue_seq;
  int32_t index; /* array index, -1 when not a child */
  int overlay;   /* 1: a submission not yet in barge.jobs (jobs_store_overlay) */
};

struct jobs_store *jobs_store_new(void);
void jobs_store_free(struct jobs_store *s);
size_t jobs_store_count(const struct jobs_store *s);

/* Puts the latest record of a job: raw (copied) is its encoded form, rec (borrowed) the same
 * decoded. raw NULL keeps rec itself (a reference). Replaces what the store had, overlay too. */
void jobs_store_put(struct jobs_store *s, const char *id, const json_t *rec, const void *raw,
                    size_t len);
void jobs_store_del(struct jobs_store *s, const char *id);
/* A job submitted through this process whose record the scheduler has not written yet: rec
 * (@owned) a JobRecord built from the submission; ignored when the store has the job. */
void jobs_store_overlay(struct jobs_store *s, json_t *rec);

/* The JobRecord of id (a new reference; decoded when stored encoded), or NULL. */
json_t *jobs_store_get(const struct jobs_store *s, const char *id);
int jobs_store_info(const struct jobs_store *s, const char *id, struct vjob_info *out);

/* Calls fn for every job of queue_arn in status (NULL: every status), children included, or
 * with queue_arn NULL for every child of parent. fn returns non-zero to stop. */
void jobs_store_each(const struct jobs_store *s, const char *queue_arn, const char *status,
                     const char *parent, int (*fn)(void *ctx, const struct vjob_info *j),
                     void *ctx);

/* Calls fn for the top-level jobs (no array children) of queue_arn in status in ListJobs'
 * order (newest first, then by job id, descending), starting after the position of after (its
 * created_at and id; NULL: from the first). fn returns non-zero to stop. A seek, then one step
 * a job. */
void jobs_store_each_ordered(const struct jobs_store *s, const char *queue_arn, const char *status,
                             const struct vjob_info *after,
                             int (*fn)(void *ctx, const struct vjob_info *j), void *ctx);

/* The job statuses in lifecycle order, NULL-terminated. */
extern const char *const jobs_store_statuses[];
#endif
