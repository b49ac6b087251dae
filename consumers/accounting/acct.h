/* acct.h: the accounting core, a pure function of job and instance events (no I/O, no clock).
 * docs/accounting.md has the model; in short:
 *
 *   - An instance is up from READY (or any later sign of life: HEARTBEAT, DRAIN_REQUESTED,
 *     DRAINED, INTERRUPTION_NOTICE) until TERMINATED, LOST or LAUNCH_FAILED. LAUNCHING only
 *     carries attributes (type, lifecycle, price): boot time before READY is not billed. An
 *     instance nothing is known about (no InstanceEvent) is taken to be up while jobs run on it.
 *     An older agent incarnation's late word (its TERMINATED after the restarted agent's READY)
 *     is ignored (lib/states.h instance_incarnation_fold; docs/accounting.md "Agent restarts").
 *   - A job attempt runs on the instanceId of its STARTING (or RUNNING) event from that event's
 *     `at` until the first event that leaves STARTING/RUNNING, clipped to the instance's life.
 *   - Time is cut into segments at every start and end. In a segment of d seconds on an
 *     instance priced P per hour with jobs J running, job j is charged
 *         share_j = w_j / sum_{k in J} w_k,   w_j = v_j/V + m_j/M (+ g_j/G when G > 0)
 *     (v, m, g: the job's reserved vCPUs, MiB, GPUs; V, M, G: the instance's; w_j = v_j when
 *     the instance's capacity is unknown; equal shares when every weight is 0):
 *         vcpuSeconds += v_j d, memoryGibSeconds += m_j/1024 d, gpuSeconds += g_j d,
 *         instanceSeconds += share_j d, cost += share_j d P/3600.
 *     With no job running the segment is IDLE, charged to the instance's compute environment:
 *         instanceSeconds += d, cost += d P/3600, vcpuSeconds += V d (capacity left idle), ...
 *     So, exactly: sum over jobs + sum over IDLE == sum over instances == sum over CEs.
 *
 * Events may be handled in any order (each job's and each instance's own events in order, as
 * their partitions give them); time is accounted when acct_settle(until) says that every event
 * before `until` has been seen. An event older than what is already settled ("late", e.g. a
 * scheduler catching up after downtime) is still exact: the instance's timeline is kept back to
 * a horizon (conf.reopen_ms before the settled point), the affected span is taken back and
 * charged again, and the jobs concerned are reported again. Only an event older than the
 * horizon is moved to it (counted as too_late). Every event is deduplicated by
 * header.event_id (a bounded FIFO set), and state updates are themselves idempotent (first
 * start, first end).
 *
 * Outputs are UsageRecord JSON values (without the header, which the shell adds), each a
 * cumulative total, never a delta: a record written again (after a restart, or corrected by a
 * late event) overwrites the same key in the compacted barge.usage.
 *   JOB                  key = job id; emitted when an attempt's end is settled (the job's total
 *                        over all its attempts); from/until = first start / last end.
 *   QUEUE, SHARE         key = "queue:NAME", "share:ID" ("share:" for jobs without one).
 *   COMPUTE_ENVIRONMENT  key = "ce:NAME": its instances' time and cost, its jobs' resources.
 *   IDLE                 key = "idle:NAME": the part of a CE's instance time with no job.
 *
 * Restart: the service commits its input offsets in the same Kafka transaction as its records,
 * so the aggregates read back from barge.usage reflect exactly the events before the committed
 * offsets. acct_seed takes those aggregates (muted); the shell then handles the events before
 * the committed offsets (rebuilding timelines and jobs, reporting nothing) and calls
 * acct_restored, which settles to where the earlier run had settled and unmutes: from there on
 * every event, late ones included, changes the seeded totals exactly as it would have changed
 * the earlier run's.
 *
 * Threads: a struct acct is used by one thread at a time. */
#ifndef BARGE_ACCT_H
#define BARGE_ACCT_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "schemas_gen.h"
#include "util.h"

enum acct_kind { ACCT_JOB, ACCT_QUEUE, ACCT_SHARE, ACCT_CE, ACCT_IDLE, ACCT__COUNT };
const char *acct_kind_name(enum acct_kind k); /* the UsageKind symbol: "JOB", ... */

struct acct_totals {
  double vcpu_s, mem_gib_s, gpu_s, inst_s, cost;
};

struct acct_conf {
  int64_t from_ms;     /* nothing before this time is accounted (INT64_MIN: no bound) */
  size_t dedup_max;    /* event ids remembered (default 262144) */
  int keep_jobs;       /* keep finished jobs for acct_foreach (reports); the service frees them */
  int64_t reopen_ms;   /* how far back a late event is still applied exactly (default 1 h) */
};
void acct_conf_defaults(struct acct_conf *c);

struct acct;
struct acct *acct_new(const struct acct_conf *conf);
void acct_free(struct acct *a);

/* Handles one decoded event (JobStateChange, InstanceEvent, ConfigRecord; other types are
 * ignored). 0 when applied, 1 when a duplicate (same event_id) was ignored, -1 when invalid
 * (reason in why: the shell dead-letters it). */
int acct_handle(struct acct *a, enum barge_ev_type t, const json_t *ev, char *why,
                size_t whylen) BARGE_WUR;

/* Accounts all time before until_ms (every event before it must have been handled). Idempotent
 * for an until not after the last one. */
void acct_settle(struct acct *a, int64_t until_ms);
int64_t acct_settled(const struct acct *a); /* INT64_MIN before the first settle */

/* Appends to `out` (a JSON array) a UsageRecord body (no header) for every job whose attempt
 * finished, or whose reported total a late event corrected, since the last call and, when
 * with_aggregates, for every aggregate that changed (their `until` set to the settled time). */
void acct_collect(struct acct *a, json_t *out, int with_aggregates);

/* Seeds an aggregate from a UsageRecord read back from barge.usage (see Restart above); JOB
 * records are ignored (jobs are recomputed from the events). 0, or -1 for a record that is not
 * a UsageRecord. */
int acct_seed(struct acct *a, const json_t *usage_record) BARGE_WUR;
/* Ends the rebuild after seeding: settles to the seeds' latest `until`, reporting nothing, and
 * lets the seeded aggregates take what follows. A no-op without seeds. */
void acct_restored(struct acct *a);

/* One row of the current totals, for reports and tests. Strings are borrowed. */
struct acct_row {
  enum acct_kind kind;
  const char *key;   /* job id, or the aggregate's name (queue name, share id, CE name) */
  const char *queue, *share, *ce; /* JOB rows */
  int attempts;      /* JOB rows: attempts that ran in the settled time (from conf.from_ms on) */
  int running;       /* JOB rows: an attempt was running at the settled point */
  int jobs;          /* aggregate rows: jobs that contributed (since the conf's from_ms) */
  int64_t from_ms, until_ms;
  struct acct_totals t;
};
/* Calls cb for every job (only those with time accounted, unless all) or every aggregate of
 * one kind, in key order. */
void acct_foreach(struct acct *a, enum acct_kind kind, int all,
                  void (*cb)(void *ctx, const struct acct_row *r), void *ctx);
/* Totals of one row, or of all instances (key NULL, kind ACCT__COUNT). 0 when found. */
int acct_get(struct acct *a, enum acct_kind kind, const char *key, struct acct_totals *out);

struct acct_stats {
  long long events, duplicates, invalid;
  long long late;     /* events before the settled point, applied exactly (corrections) */
  long long too_late; /* events before the reopen horizon, moved to it */
  size_t jobs, instances, open_attempts;
};
void acct_stats(const struct acct *a, struct acct_stats *out);
#endif
