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
  int32_t size;  /* array size of an array parent, 0 for any other job */
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

/* The dashboard's job table (producers/api/dash_jobs.c): the top-level jobs of several queues
 * and statuses merged in ListJobs' order (newest first, then by job id descending) or, with
 * ascending, its reverse; from the first job after `after` in that direction (NULL: from the
 * start). queues / statuses NULL: every one the store has. A seek per (queue, status), then a
 * merge step a job. */
struct jobs_walk {
  const char *const *queues; /* queue ARNs */
  size_t nqueues;
  const char *const *statuses;
  size_t nstatuses;
  int ascending;
  const struct vjob_info *after; /* its created_at and id */
  size_t budget;                 /* at most this many jobs visited; 0: no limit */
};
/* Calls fn on each job in order until fn returns non-zero, the jobs end or the budget is spent.
 * Returns how many jobs were visited; *ended (may be NULL) is 1 when the jobs ended. */
size_t jobs_store_walk(const struct jobs_store *s, const struct jobs_walk *w,
                       int (*fn)(void *ctx, const struct vjob_info *j), void *ctx, int *ended);
/* How many jobs a walk with w's queues and statuses visits from the start (its cursor and budget
 * aside): the sizes of the indexes it merges, those of queues no longer configured included. */
size_t jobs_store_walk_total(const struct jobs_store *s, const struct jobs_walk *w);
/* How many jobs of queue_arn are in each status (jobs_store_statuses' order): top[] the
 * top-level ones, all[] with array children (either may be NULL). O(statuses). */
void jobs_store_counts(const struct jobs_store *s, const char *queue_arn, size_t *top, size_t *all);
/* How many jobs of every queue the store has (a deleted one's too) are in each status, array
 * children included (jobs_store_statuses' order). O(indexes). */
void jobs_store_counts_every(const struct jobs_store *s, size_t *all);
/* How many children of the array parent are in each status (jobs_store_statuses' order);
 * returns their number (0: not an array parent, or its children are not read yet). */
size_t jobs_store_child_counts(const struct jobs_store *s, const char *parent, size_t *counts);
/* The index of status in jobs_store_statuses, or -1. */
int jobs_store_status_index(const char *status);

/* ---- log streams (`barge api`'s job logs, producers/api/logs_source.c) ---- */

/* The log stream name of attempt n (1-based) of a JobRecord, or NULL: detail.attempts[n-1]'s
 * container once the attempt closed, detail.container's while attempt n is the open one. */
const char *jobs_record_stream(const json_t *rec, int n);
/* The instance id that ran attempt n (1-based) of a JobRecord: the tail of detail.attempts[n-1]'s
 * containerInstanceArn once the attempt closed, the record's instanceId while it is the open
 * one; NULL when not known. */
const char *jobs_record_instance(const json_t *rec, int n);
/* 1 when the log file at log_path (<log dir>/<jobId>/<attempt>.log) does not exist and the agent
 * of instance_id keeps its state in that same log dir on this host (<log dir>/.agents/<id>): the
 * attempt ran here and printed nothing, since an agent makes a log file with its first byte of
 * output (agent/joblog.h; docs/containers.md "Logs"). 0 otherwise (the file exists, or the log
 * is on another host). */
int jobs_log_empty_here(const char *log_path, const char *instance_id);
/* Turns on the index from log stream name to job (stream_index.h) for the records put from now
 * on: call it on an empty store. `barge api`'s live view does; a per-call view needs none. */
void jobs_store_index_streams(struct jobs_store *s);
/* The JobRecord (a new reference) of the job that has the log stream `name`, its id in *id
 * (borrowed: valid until the store changes) and the attempt in *attempt; NULL when no job has it
 * (or the index is off). One hash lookup and one record decoded (more only on a collision). */
json_t *jobs_store_find_stream(const struct jobs_store *s, const char *name, const char **id, int *attempt);
/* fn for every job that has a log stream, with its record (borrowed, decoded for the call):
 * O(such jobs), in memory. */
void jobs_store_each_streamed(const struct jobs_store *s, void (*fn)(void *ctx, const char *id, const json_t *rec),
                              void *ctx);

/* The job statuses in lifecycle order, NULL-terminated. */
extern const char *const jobs_store_statuses[];
#endif
