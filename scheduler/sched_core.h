/* sched_core.h: the scheduler core, a pure deterministic state machine (docs/architecture.md).
 *
 *   (state, event) -> (state', output events)
 *
 * The core owns the AWS Batch job state machine and placement. It never reads the wall clock,
 * the network or a random source: time enters only as event timestamps and Tick events; ties
 * break on stable keys (instance id, job id, submission order). The I/O shell
 * (sched_shell.c) decodes Kafka records into the JSON events handled here and turns the outbox
 * into Kafka records (sched_out.c), inside one transaction per batch. The core's files:
 * sched.c (sched_handle, lifecycle), sched_config.c, sched_submit.c, sched_attempt.c,
 * sched_dispatch.c, sched_time.c, sched_wait.c, sched_out.c, sched_restore.c (see sched_int.h).
 *
 * Job state machine (AWS Batch's job states; the T-numbers name the transitions):
 *
 *                 T2            T4
 *   SUBMITTED ---------> PENDING ------> RUNNABLE --T6--> STARTING --T7--> RUNNING --T8--> SUCCEEDED
 *       |  \_______________T3_____________^   ^  |             |                |
 *       |                  |                  |  |T12,T15      |T9 (retry)      |T9 (retry)
 *       |T12               |T5,T13            +--+-------------+----------------+
 *       v                  v                     v             v T10,T14        v T10,T11,T14
 *     FAILED <----------- FAILED <------------ FAILED <------ FAILED <-------- FAILED
 *
 * Transition -> function (static ones named by file):
 *   T1        sched_handle_submit (sched_submit.c)
 *   T2-T5     evaluate_deps on submission, sched_job_terminal and make_runnable_or_stop when a
 *             dependency ends (sched_submit.c)
 *   T6        place_job, from sched_dispatch (sched_dispatch.c)
 *   T7        sched_handle_execution, kind STARTED (sched_attempt.c)
 *   T8-T11    on_attempt_end (sched_attempt.c), from an ExecutionReport or a lost instance
 *   T12-T14   sched_stop_job (sched_submit.c); T14 completes in on_attempt_end
 *   T15       sched_on_tick, the queue's jobStateTimeLimitActions (sched_time.c)
 *   T16       sched_queue_deleted, from a queue's tombstone (sched_submit.c): T12-T14 for
 *             every job of the queue, PENDING ones at once; after a restart, for the queues
 *             that no longer exist, sched_sweep_deleted_queues
 *
 * Threads: a struct sched is used by one thread at a time. */
#ifndef BARGE_SCHED_H
#define BARGE_SCHED_H
#include <jansson.h>
#include <stdint.h>

#include "schemas_gen.h"
#include "util.h"

enum job_status {
  JOB_SUBMITTED,
  JOB_PENDING,
  JOB_RUNNABLE,
  JOB_STARTING,
  JOB_RUNNING,
  JOB_SUCCEEDED,
  JOB_FAILED,
  JOB__COUNT
};
const char *job_status_name(enum job_status st);
int job_status_parse(const char *s); /* -1 if unknown */

struct sched_conf {
  const char *partition;         /* "aws" */
  const char *region;            /* "us-east-1" */
  const char *account;           /* "000000000000" */
  int64_t lost_after_ms;         /* an instance silent this long is lost (default 30000) */
  int64_t reservation_ms;        /* head reservation threshold (default 300000) */
  int64_t kill_grace_ms;         /* SIGTERM -> SIGKILL grace passed to agents (default 30000) */
  int max_array_size;            /* 10000 */
  int max_active_shares;         /* active shares per fair-share queue (500) */
  int emit_records;              /* emit OUT_JOB_RECORD entries (default 1; bench may disable) */
};
void sched_conf_defaults(struct sched_conf *c);

/* What the core asks the shell to write. Entries refer to jobs and instances by index; they
 * stay valid until the next sched_handle call. */
enum out_kind {
  OUT_STATE_CHANGE, /* barge.job-events: job went old -> new */
  OUT_JOB_RECORD,   /* barge.jobs: the job's whole state (once per job per handled event) */
  OUT_PLACEMENT,    /* barge.placements: run attempt on instance */
  OUT_KILL,         /* barge.placements: stop attempt on instance */
  OUT_CAPACITY,     /* barge.capacity: demand of one CE */
  OUT_INSTANCE,     /* barge.instances: DRAINED or LOST, from the scheduler */
  OUT_REJECT,       /* a request the core refused (logged by the shell, no Kafka record) */
  OUT_WAIT,         /* barge.job-waits: why the job is not placed changed (reason, detail) */
  OUT__COUNT
};

struct out_ev {
  enum out_kind kind;
  uint32_t job;      /* job index (STATE_CHANGE, JOB_RECORD, PLACEMENT, KILL) */
  uint32_t inst;     /* instance index (PLACEMENT, KILL, INSTANCE) */
  uint32_t ce;       /* CE index (CAPACITY) */
  uint8_t old_status, new_status;
  int32_t attempt;
  int32_t exit_code; /* INT32_MIN when none */
  int64_t at_ms;
  int64_t incarnation; /* PLACEMENT: the agent incarnation it is for (0 = any) */
  char *reason;      /* owned by the outbox; may be NULL */
  const char *instance_kind; /* OUT_INSTANCE: "DRAINED" or "LOST" (static) */
  json_t *detail;    /* OUT_WAIT: the JobWait members besides the job's own (owned; may be NULL) */
};

struct outbox {
  struct out_ev *ev;
  size_t n, cap;
};
void sched_outbox_init(struct outbox *o);
void sched_outbox_reset(struct outbox *o); /* frees reasons, keeps capacity */
void sched_outbox_release(struct outbox *o);

struct sched;
struct sched *sched_new(const struct sched_conf *conf);
void sched_free(struct sched *s);

/* Handles one decoded event (Barge's JSON convention, see codec.h):
 *   BARGE_EV_JOB_REQUEST (SubmitJob, CancelJob, TerminateJob, Tick), BARGE_EV_CONFIG_RECORD,
 *   BARGE_EV_INSTANCE_EVENT, BARGE_EV_EXECUTION_REPORT.
 * A config tombstone goes to sched_handle_config_delete instead. Appends what to write to out. Returns 0, or
 * non-zero when the event is invalid data (err says why; the shell dead-letters it and the
 * core's state is unchanged). */
int sched_handle(struct sched *s, enum barge_ev_type type, const json_t *ev, struct outbox *out,
                 char *err, size_t errlen) BARGE_WUR;
void sched_handle_config_delete(struct sched *s, const char *arn, int64_t at_ms,
                                struct outbox *out);

/* Restores one job from its barge.jobs record (start-up rebuild). Config must be restored
 * first. Records for the same job replace earlier ones. */
int sched_restore_job(struct sched *s, const json_t *job_record, char *err,
                      size_t errlen) BARGE_WUR;
/* The fields of a queued array child's record (one that takes its family's spec: not :0, no
 * attempt, no instance, no log, no pending stop, no dependency), which is all the rebuild reads
 * of it; the shell reads them without decoding the rest (docs/architecture.md, "Scheduler
 * restart"). Strings are borrowed; status_reason may be NULL. */
struct sched_lite {
  const char *id, *queue, *status, *status_reason;
  int64_t created_at, started_at, stopped_at, queue_seq;
  int cancelled, terminated, attempt, index;
};
/* Restores such a child like sched_restore_job, kept as a small struct: 0, or 1 when the record
 * is not of that form (the caller then gives the whole record to sched_restore_job). */
int sched_restore_lite(struct sched *s, const struct sched_lite *l);
/* Restores one instance from its latest barge.instances event. */
void sched_restore_instance(struct sched *s, const json_t *instance_event);
/* The rebuild met an end of instance `id` that the input will bring again (written after the
 * committed offset, docs/architecture.md "Scheduler restart"): the instance keeps its jobs until
 * then, but takes no new ones (draining, without a DRAINED of its own). */
void sched_restore_instance_ending(struct sched *s, const char *id, int64_t incarnation);
/* Finishes a restore: relinks dependencies and queues. */
void sched_restore_done(struct sched *s);
/* After a restore, once barge.config has been read whole (to its end as it was at the start, so
 * that a queue missing from a partial read is never taken for a deleted one): every job that has
 * not ended and whose queue no longer exists is terminated as DeleteJobQueue does (T16,
 * docs/job-model.md §7.4), queue by queue in index order. These are the deletions whose
 * terminations a crash kept from being committed, or whose tombstone was compacted away before
 * the restart. Jobs already being stopped on their agent are left to end. Returns the number of
 * queues swept. */
int sched_sweep_deleted_queues(struct sched *s, struct outbox *out);

/* Serialisers used by the shell and the tests (pure). Return new references. */
json_t *sched_job_record(struct sched *s, uint32_t job, const char *source, int64_t at_ms);
json_t *sched_state_change(struct sched *s, const struct out_ev *e, const char *source);
/* The same events as Avro bytes (framed), appended to out, without the tree (sched_out_bytes.c).
 * sched_job_record_bytes: 0, 1 when this job's record is not written this way (a multi-node job:
 * use sched_job_record), -1 with err when a JSON part does not encode (out left as it was). */
int sched_job_record_bytes(struct sched *s, uint32_t job, const char *source, int64_t at_ms, struct buf *out,
                           char *err, size_t errlen);
/* A placement's AgentCommand: 0, or 1 (nothing written) when it is to be built as a tree
 * (sched_agent_command): a kill, a node of a multi-node job, a container whose command or
 * environment is not of the expected shape. */
int sched_placement_bytes(struct sched *s, const struct out_ev *e, const char *source, struct buf *out);
void sched_state_change_bytes(struct sched *s, const struct out_ev *e, const char *source, struct buf *out);
json_t *sched_agent_command(struct sched *s, const struct out_ev *e, const char *source);
json_t *sched_capacity(struct sched *s, const struct out_ev *e, const char *source);
json_t *sched_instance_event(struct sched *s, const struct out_ev *e, const char *source);
json_t *sched_job_wait(struct sched *s, const struct out_ev *e, const char *source);
/* Kafka key of an output: the job id (array children: the parent id), instance id or CE name. */
const char *sched_out_key(struct sched *s, const struct out_ev *e);
/* The JobDetail (AWS DescribeJobs shape) of a job, for tests and views. */
json_t *sched_job_detail(struct sched *s, uint32_t job);

/* Lookups for tests and tools. */
int64_t sched_now(const struct sched *s);
uint32_t sched_find_job(const struct sched *s, const char *job_id); /* UINT32_MAX if none */
enum job_status sched_job_status(const struct sched *s, uint32_t job);
const char *sched_job_id(const struct sched *s, uint32_t job);
const char *sched_instance_id(const struct sched *s, uint32_t inst);
/* How many instance records the core keeps: the live instances and the gone ones not yet
 * forgotten (docs/architecture.md, "Gone instances"). */
size_t sched_instances_kept(const struct sched *s);
size_t sched_job_count(const struct sched *s);
size_t sched_memory_bytes(const struct sched *s); /* approximate heap held by jobs */

#define SCHED_NONE UINT32_MAX

#endif
