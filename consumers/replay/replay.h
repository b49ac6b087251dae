/* replay.h: `barge replay`: print, rebuild and simulate from the recorded event log
 * (docs/replay.md).
 *
 *   print     any topic's events as JSON lines between two times or offsets (committed data);
 *   rebuild   every job's state from barge.requests + barge.job-events alone, compared with
 *             barge.jobs; each difference is reported;
 *   simulate  the recorded requests of a time range fed through the scheduler core under an
 *             alternative configuration, with a fleet and execution model taken from what
 *             really happened, printed side by side with the recorded outcome.
 *
 * Each part is a pure core over decoded events (Barge's JSON convention, codec.h) that the unit
 * tests drive without Kafka, plus a loader that reads the topics: replay.c (print, rebuild),
 * replay_sim.c (simulate) with replay_record.c (the recorded side, the figures, the report) and
 * replay_fleet.c (instance types, replay's own fleet model), sharing replay_int.h.
 * Nothing here reads the wall clock: the same input gives the same output, byte for byte.
 * Threads: every object is used by one thread at a time. */
#ifndef BARGE_REPLAY_H
#define BARGE_REPLAY_H
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "bus.h"

#define REPLAY_NO_TIME INT64_MIN

/* Whether id names a node of the multi-node job parent: "<parent>#<n>" (an array child is
 * "<parent>:<n>"). */
int replay_is_node_of(const char *id, const char *parent);

/* ---------------- print ---------------- */

/* Bounds of a print; every bound is inclusive. Times are the Kafka record timestamps (epoch
 * ms), offsets are per partition; -1 / REPLAY_NO_TIME leave a side open. key NULL: any. */
struct replay_range {
  int64_t from_ms, until_ms;
  int64_t from_offset, until_offset;
  const char *key;
};
void replay_range_init(struct replay_range *r);

/* Prints topic t's records inside r as JSON lines
 *   {"topic", "partition", "offset", "timestamp", "key", "event"}
 * ordered by (timestamp, partition, offset). A tombstone has "event": null; a record that does
 * not decode has "event": null and "error". Reads committed data up to the current end. Returns
 * 0, or -1 with the reason in err; *count_out (may be NULL) gets the number of lines. */
int replay_print(const struct bus_conf *bc, enum bus_topic t, const struct replay_range *r,
                 FILE *out, size_t *count_out, char *err, size_t errlen) BARGE_WUR;

/* ---------------- rebuild ---------------- */

struct replay_rebuild;
struct replay_rebuild_summary {
  size_t jobs_checked; /* jobs present on either side (but not_retained) */
  size_t differences;
  size_t unprocessed; /* submitted, but the scheduler has not handled them yet (no event, no record) */
  size_t not_retained; /* not checked: their history begins before the retained log */
};

struct replay_rebuild *replay_rebuild_new(void);
void replay_rebuild_free(struct replay_rebuild *rb);
/* Says that barge.requests or barge.job-events no longer holds its first records (retention
 * deleted them: a partition's low watermark above 0). A job whose SubmitJob or first state
 * change is then missing is not checked but counted as not_retained: its record in the
 * compacted barge.jobs outlives them, and was reported as a difference ("never submitted"). */
void replay_rebuild_set_truncated(struct replay_rebuild *rb, int truncated);
/* Applies one JobRequest (SubmitJob creates the job; CancelJob, TerminateJob and Tick change
 * nothing a JobStateChange does not also say). 0, or -1 when the event is not a JobRequest. */
int replay_rebuild_request(struct replay_rebuild *rb, const json_t *req) BARGE_WUR;
/* Applies one JobStateChange, in the order of its partition (one job's events never cross
 * partitions). */
int replay_rebuild_event(struct replay_rebuild *rb, const json_t *ev) BARGE_WUR;
/* Compares the rebuilt jobs with records (job id -> JobRecord, the barge.jobs table). Appends
 * one object per difference to diffs: {"jobId", "field", "rebuilt", "recorded"} (a missing
 * value is null), ordered by job id then field. strict: a submitted job that has neither an
 * event nor a record counts as a difference too (by default it is reported as unprocessed). */
void replay_rebuild_compare(struct replay_rebuild *rb, const json_t *records, int strict,
                            json_t *diffs, struct replay_rebuild_summary *sum);
/* The rebuilt state of one job as an object (status, statusReason, attempts, attemptsOpened,
 * exitCode, createdAt, startedAt, stoppedAt), or NULL; new reference. For tests and --show. */
json_t *replay_rebuild_job(struct replay_rebuild *rb, const char *job_id);

/* Reads barge.requests, barge.job-events and barge.jobs (committed data) and compares.
 * Prints each difference (text, or JSON lines when json) and the summary line
 *   "N jobs checked, M differences" to out. Returns 0 when no difference, 1 when some, -1 on
 * an error (err). */
int replay_rebuild_run(const struct bus_conf *bc, int strict, int json, FILE *out, char *err,
                       size_t errlen) BARGE_WUR;

/* ---------------- simulate ---------------- */

/* What a simulation reads: decoded events as recorded (arrays, borrowed), the alternative
 * configuration (see docs/replay.md; may be NULL: the recorded configuration) and the range of
 * submissions to replay (REPLAY_NO_TIME leaves a side open). */
struct replay_sim_input {
  const json_t *config;     /* ConfigRecord events: the barge.config table */
  const json_t *requests;   /* JobRequest events in topic order */
  const json_t *job_events; /* JobStateChange events, each job's in order */
  const json_t *instances;  /* InstanceEvent events, each instance's in order */
  const json_t *alt;
  int64_t from_ms, until_ms;
  int per_job;        /* add "jobs": every job's recorded and simulated times, side by side */
  const char *capacity_model; /* "provisioner" (NULL: the default) or "replay" (replay_fleet.c) */
  int64_t tick_ms;    /* the scheduler's tick period (default 1000) */
  int64_t horizon_ms; /* stop simulating this long after the last submission (default 7 days) */
};

/* Runs the simulation and builds the report: {"range", "recorded", "simulated", "agreement",
 * "notes"} (new reference in *report). 0, or 2 for an invalid ALT (unknown resource or member),
 * -1 on another error, with the reason in err. */
int replay_simulate(const struct replay_sim_input *in, json_t **report, char *err,
                    size_t errlen) BARGE_WUR;
/* Prints a report side by side (text) or as one JSON document. */
void replay_report_print(const json_t *report, int json, FILE *out);

/* Loads the four topics (committed data), simulates and prints. alt_path may be NULL.
 * Returns 0, 2 for bad input (ALT), -1 on an error (err). */
int replay_simulate_run(const struct bus_conf *bc, const char *alt_path, int64_t from_ms,
                        int64_t until_ms, int json, int per_job, const char *capacity_model,
                        FILE *out, char *err, size_t errlen) BARGE_WUR;

#endif
