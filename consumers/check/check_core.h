/* check_core.h: the invariant checker behind `barge check` (docs/operations.md, "barge check"), a
 * pure core: decoded events in, violations out. No Kafka, no clock, no files; cmd/check.c reads
 * the topics and the audit file around it.
 *
 * The events are added in any order between topics, but each topic's own records in their
 * partition order (a job's events in the order the scheduler wrote them). check_finish then
 * verifies the whole history:
 *
 *   terminal      every submitted job (array parents and children too) reaches exactly one
 *                 terminal state (SUCCEEDED or FAILED) and never changes after it; a job still
 *                 live is listed with where it is (a violation only with require_terminal);
 *                 its JobRecord agrees with its last event
 *   unknown-job   an event for a job that was never submitted (when barge.requests was read)
 *   attempts      attempt numbers are 1..n with no gap, each with one start (-> STARTING) and
 *                 one end (leaving STARTING/RUNNING; only the last may be open, and only while
 *                 the job is live), one Placement on the instance it started on, and at most
 *                 one process start reported by the agents
 *   overlap       no two attempts of a job run at once: neither by the scheduler's events nor by
 *                 the agents' reports; an attempt settled as lost (`Host EC2 ...`) may keep
 *                 running until lost_after_ms after it was settled, and no longer
 *   capacity      the vCPUs and memory of the attempts open on an instance never exceed what the
 *                 instance declared (READY/HEARTBEAT)
 *   dependency    no job starts before each of its dependencies (docs/job-model.md §6.2, with
 *                 N_TO_N and SEQUENTIAL expanded here, independently of the scheduler) succeeded
 *   array-summary an array parent's statusSummary equals its children's statuses, and its own
 *                 end agrees with them (§2.3)
 *   accounting    each compute environment's instance-seconds in barge.usage equal its
 *                 instances' up time (READY .. TERMINATED/LOST, an older agent incarnation's
 *                 late word ignored as accounting ignores it, computed here) to the
 *                 millisecond, and, where every attempt on it is settled, the jobs' shares plus
 *                 IDLE equal that total
 *   audit         added by the caller (check_violation) from consumers/audit's verifier
 *
 * Threads: a struct check is used by one thread at a time. */
#ifndef BARGE_CHECK_CORE_H
#define BARGE_CHECK_CORE_H
#include <jansson.h>
#include <stdint.h>

#include "schemas_gen.h"
#include "util.h"

enum check_kind {
  CHECK_TERMINAL,
  CHECK_UNKNOWN_JOB,
  CHECK_ATTEMPTS,
  CHECK_OVERLAP,
  CHECK_CAPACITY,
  CHECK_DEPENDENCY,
  CHECK_ARRAY,
  CHECK_ACCOUNTING,
  CHECK_AUDIT,
  CHECK__COUNT
};
const char *check_kind_name(enum check_kind k); /* "terminal", "attempts", ... */

struct check_conf {
  int64_t lost_after_ms;  /* how long a cut-off copy may outlive its settling (the scheduler's
                             --lost-after-ms, default 30000) */
  int64_t skew_ms;        /* clock difference tolerated between hosts (default 0) */
  int require_terminal;   /* a live job is a violation (after a workload that should be done) */
  double acct_tolerance_s; /* accounting: largest difference, seconds (default 0.001) */
};
void check_conf_defaults(struct check_conf *c);

struct check;
struct check *check_new(const struct check_conf *conf);
void check_free(struct check *c);

/* Adds one decoded event (borrowed): JobRequest (barge.requests), JobStateChange, JobRecord,
 * ExecutionReport, AgentCommand (barge.placements), InstanceEvent, UsageRecord; other types are
 * counted and ignored. 0 when used, 1 when it lacks what the checker needs (why). */
int check_add(struct check *c, enum barge_ev_type t, const json_t *ev, char *why, size_t whylen);

/* Records a violation found by the caller (the audit file's verdict). */
void check_violation(struct check *c, enum check_kind k, const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Verifies everything added so far and returns the report (owned):
 *   {"ok": bool, "violations": [{"kind", "subject", "detail"}...], "counts": {kind: n},
 *    "live": [{"jobId", "status", "where"}...], "stats": {...}}
 * and the number of violations in *nviolations. Call once. */
json_t *check_finish(struct check *c, long long *nviolations);
#endif
