/* sched_int.h: the scheduler core's internal structures and the functions its files share:
 * sched.c (entry point, lifecycle, helpers), sched_config.c, sched_submit.c, sched_attempt.c,
 * sched_dispatch.c, sched_time.c, sched_wait.c (the decisions), sched_out.c (serialisers) and sched_restore.c
 * (rebuild). Not for use outside scheduler/. */
#ifndef BARGE_SCHED_INT_H
#define BARGE_SCHED_INT_H

/* A "Terminated: " or "Cancelled: " statusReason with its reason of at most 1024 characters
 * (4 bytes each at most, docs/job-model.md §7.1) and the NUL. */
#define SCHED_STOP_REASON_BUF (12 + 4 * 1024 + 1)
#include "jsonget.h"
#include "sched_core.h"
#include "strmap.h"

#define NO_EXIT INT32_MIN
#define MAX_RULES 5

struct retry_rule {
  char *on_status_reason, *on_reason, *on_exit_code;
  int retry; /* 1 RETRY, 0 EXIT */
};
struct retry {
  int attempts; /* 1 when absent */
  int nrules;
  struct retry_rule rules[MAX_RULES];
};

struct jobdef {
  char *name, *arn;
  int revision;
  int active;
  json_t *body;      /* the ConfigRecord JobDefinition (owned reference) */
  json_t *container; /* ContainerDetail as registered (command with Ref:: placeholders) */
  json_t *container_subst; /* the same with the JD's own parameters substituted */
  json_t *params;    /* JD parameters object */
  size_t own_bytes;  /* container_subst and params serialised (sched_submit.c, SCHED_MAX_JOB_BYTES) */
  int vcpus, mem_mib, gpus;
  json_t *retry_json; /* NULL when none */
  struct retry retry;
  int timeout_s;
  int sched_prio; /* -1 none */
  json_t *nodes; /* type multinode: nodeProperties, each range's container in the scheduler's
                    form (sched_container_of); NULL for container definitions */
};

/* How many of a CE's live instances have each capacity of one dimension, ascending: the
 * largest is the last, and it drops to the next when its last holder goes. */
struct ce_cap_count {
  int cap;
  size_t n;
};
struct ce_caps {
  struct ce_cap_count *v;
  size_t len, alloc;
};

struct ce {
  char *name, *arn;
  int managed, enabled, valid, deleted;
  int minv, maxv;
  json_t *body;
  /* The books below are kept as each instance registers, drains, goes and takes or frees
   * capacity (sched_config.c), so no instance event walks the CE: a CE of N instances once
   * paid O(N) per event, O(N^2) for N joining (docs/architecture.md, "The scheduler"). */
  uint32_t *insts; /* instance indices, ascending instance id: every live instance, and gone
                      ones until they outnumber the live (then dropped, sched_config.c) */
  size_t ninst, capinst;
  size_t ngone_listed;     /* gone instances still in insts */
  int max_v, max_m, max_g; /* largest registered instance per dimension (unmanaged checks) */
  struct ce_caps caps[3];  /* how many live instances have each vcpus, memoryMib, gpus */
  int free_v;              /* free vCPUs over ready, non-draining instances */
  size_t live;             /* instances not gone */
  int64_t live_v;          /* vCPUs of the instances not gone */
  int launch_refused;      /* the provider's last answer to a launch was a refusal */
  char refused_type[32];   /* ... for this instance type */
  char refused_why[160];   /* ... saying this */
  /* whether an allowed instance type holds a shape (managed CEs), a small cache */
  struct { int v, m, g, fits; } type_fit[8];
  int ntype_fit;
  uint32_t reserved_for;   /* a queue head holding this CE, this dispatch cycle */
  uint32_t *avail;         /* READY instances with a free vCPU: the only placement candidates */
  size_t navail, capavail;
  json_t *last_demand;     /* the last CapacityDemand shapes emitted (for change detection) */
  json_t *last_busy;       /* the last busyInstances emitted */
};

struct tl_action {
  char *reason;
  int64_t max_ms;
};

/* A list of RUNNABLE jobs linked through job->rq_prev/rq_next: retried jobs first (in return
 * order, up to retry_tail), then fresh ones in queue order. */
struct rlist {
  uint32_t head, tail, retry_tail;
};

/* One share identifier's state in a fair-share queue. A share that can no longer matter (no job
 * that has not ended, no usage left) is reclaimed (sched_share_sweep): its slot's id is NULL and
 * the slot waits on the queue's free list for the next new identifier. */
#define SHARE_BUCKETS 64
struct share {
  char *id; /* NULL: a free slot */
  struct rlist rq;
  size_t nrunnable;
  int64_t active_jobs;  /* SUBMITTED..RUNNING */
  int64_t held_vcpus;   /* vCPUs of STARTING/RUNNING jobs */
  int64_t last_active;  /* when active_jobs last dropped to 0 */
  int64_t accrued_at;   /* usage accrued up to this time */
  double bucket_vsec[SHARE_BUCKETS];
  int64_t bucket_start[SHARE_BUCKETS];
};

struct queue {
  char *name, *arn;
  int priority, enabled, deleted;
  uint32_t ce[3];
  int nce;
  char *policy_arn;
  struct tl_action *tl;
  int ntl;
  /* the RUNNABLE list (FIFO queues): retried jobs first, then fresh jobs by createdAt */
  struct rlist rq;
  size_t nrunnable;
  uint32_t head;      /* the queue's head (first RUNNABLE job that could fit), and since when */
  int64_t head_since;
  /* fair-share queues: one list per share identifier */
  struct share *shares;
  size_t nshares_, capshares_; /* slots, free ones included */
  struct strmap share_by_id;   /* share identifier -> index into shares (keys: the shares' ids) */
  uint32_t *free_shares;       /* reclaimed slots, the next one to reuse last */
  size_t nfree_shares, capfree_shares;
  /* RUNNABLE jobs in the list by shape, kept as they enter and leave (capacity demand) */
  struct shape_count *shapes;
  size_t nshapes, capshapes;
};

struct shape_count {
  int v, m, g;
  int one_each; /* multi-node nodes: one per instance (CapacityDemand perInstance) */
  int64_t n;
};

struct policy {
  char *name, *arn;
  json_t *body;
  int deleted;
};

enum inst_state { INST_READY, INST_DRAINING, INST_GONE };

struct instance {
  char id[32];
  uint32_t ce;
  int cap_v, cap_m, cap_g;
  int used_v, used_m, used_g;
  int njobs;
  uint32_t jobs_head; /* its jobs (job->instance is it), linked by inst_next, in no order */
  enum inst_state state;
  int drain_confirmed;
  int gone_queued;    /* in the scheduler's gone queue (sched_forget_gone); fills a hole */
  int64_t avail_pos; /* index in its CE's avail, -1 if not there */
  uint32_t listed_in; /* the CE whose insts holds it (its ce, or the one it left), or SCHED_NONE */
  int64_t live_pos;   /* index in the scheduler's live list, -1 once gone (sched_config.c) */
  int64_t last_seen;
  int64_t incarnation; /* the agent's latest incarnation seen (0 = unknown) */
  int64_t seq;         /* registration order (1, 2, ...): the order a tick acts on instances in,
                          as indices are reused once a gone instance is forgotten */
  int64_t gone_at;     /* gone: event time it went, or of the last word about it since */
  char *type;
  char *address; /* privateIpv4Address the agent gave, or NULL */
};

/* What array children share with their parent (and single jobs own alone). */
struct spec {
  int refs;
  char *name;
  struct jobdef *jd;
  json_t *container;  /* effective ContainerDetail (command, environment, resourceRequirements) */
  json_t *params;     /* effective parameters */
  json_t *retry_json; /* effective retryStrategy or NULL */
  struct retry retry;
  int timeout_s;
  int vcpus, mem_mib, gpus;
  char *share_id;
  int sched_prio; /* -1 none */
  json_t *tags;
  int propagate_tags;
  char *arn_prefix; /* "arn:aws:batch:REGION:ACCOUNT:" the submission gave (the caller's
                       account); NULL: the scheduler's own (sched_arn) */
  json_t *depends_on; /* as submitted, for JobDetail.dependsOn (parents and single jobs) */
};

struct attempt {
  char instance_id[32];
  uint32_t ce;
  char task_id[37];
  int32_t exit_code;
  char *container_reason;
  char *status_reason;
  int64_t started_at, stopped_at;
};

struct array_info {
  int size;
  int counts[JOB__COUNT];
  int64_t summary_at;
  uint32_t first_child; /* children are contiguous job indices */
};

/* A multi-node parallel job's gang (its parent only): node jobs <id>#<i> are contiguous job
 * indices from first_node (sched_gang.c). */
struct mnp_info {
  int num_nodes, main_node;
  uint32_t first_node;
};

struct job {
  char id[48];
  uint32_t idx;
  uint32_t parent; /* SCHED_NONE */
  uint32_t queue;
  uint32_t inst_next; /* the jobs on one instance, a list from its jobs_head (sched_attempt.c);
                         inst_next here and inst_prev below fill alignment holes */
  struct spec *spec;
  struct array_info *arr; /* array parents only */
  struct mnp_info *mnp;   /* multi-node parents only */
  int32_t index;          /* array index, -1 */
  uint8_t status;
  uint8_t cancelled, terminated;
  uint8_t pending_stop; /* 0, 1 cancel, 2 terminate (T13) */
  uint8_t stopping;     /* terminate sent to the agent */
  uint8_t in_rq, retried, dirty;
  uint8_t timed_out;
  uint16_t attempt; /* attempts opened */
  int32_t exit_code;
  uint32_t inst_prev; /* see inst_next */
  char *status_reason;
  char *container_reason;
  char *stop_reason; /* pending or in-flight cancel/terminate reason */
  char *log_path;
  int64_t created_at, started_at, stopped_at;
  int64_t attempt_started_at;
  int64_t code_since; /* when a blocking code was set */
  int64_t queue_seq;
  uint32_t instance;
  int64_t incarnation; /* the agent incarnation the live attempt was placed on (0 = unknown) */
  uint32_t *deps;
  uint16_t ndeps, deps_left;
  uint32_t *dependents;
  uint32_t ndependents, capdependents;
  struct attempt *attempts;
  uint16_t nattempts;
  uint32_t rq_prev, rq_next;
  uint32_t share; /* index into the queue's shares (fair-share queues); 32 bits: a 16-bit index
                   * wrapped after 65,536 share identifiers, filing jobs in another share. Only
                   * while the job has not ended: the slot of an ended job may be reclaimed and
                   * reused (sched_share_sweep) */
};

struct sched {
  struct sched_conf conf;
  int64_t now;
  int64_t seq; /* submission counter (fresh jobs) */
  int64_t retry_seq;
  struct job **jobs;
  size_t njobs, capjobs;
  struct strmap job_by_id;
  struct jobdef **jds;
  size_t njds;
  struct ce **ces;
  size_t nces;
  struct queue **queues;
  size_t nqueues;
  uint32_t *queue_order; /* by priority desc, ARN asc */
  struct policy **policies;
  size_t npolicies;
  /* the instances known: the live ones and the gone ones not yet forgotten (sched_forget_gone);
   * a forgotten one's slot is NULL until a new instance takes it (free_insts) */
  struct instance **insts;
  size_t ninsts, capinsts; /* grown by doubling: by one, a realloc could copy them all each time */
  uint32_t *free_insts;    /* NULL slots of insts, the next one to reuse last */
  size_t nfree_insts, capfree_insts;
  int64_t inst_seq;        /* the last instance's seq */
  /* the instances not gone, in no order (sched_ce_register adds, sched_ce_uncount removes): what
   * a Tick looks at. A gone one is kept a while to ignore its late words; a tick that walked
   * them all paid for weeks of churn (docs/architecture.md) */
  uint32_t *live;
  size_t nlive, caplive;
  /* gone instances in the order they went (a ring: gone_head, ngone of capgone), each with the
   * event time it was queued at; sched_forget_gone forgets them from the front */
  struct gone_entry { uint32_t ii; int64_t at; } *gone;
  size_t gone_head, ngone, capgone;
  /* what forgotten instances leave behind, so that their late words stay ignored: the largest
   * incarnation among them, and how many there were */
  int64_t forgot_inc;
  int64_t nforgotten;
  struct strmap inst_by_id;
  int cycle_needed;
  int demand_dirty;
  uint32_t *dirty; /* jobs whose record must be emitted */
  size_t ndirty, capdirty;
  uint32_t *coded; /* RUNNABLE jobs carrying a blocking code */
  size_t ncoded, capcoded;
  /* jobs that ended and whose dependents are still to learn it (sched_job_terminal): a list,
   * not recursion, so that a failure cascading down a long chain (a 10,000-child SEQUENTIAL
   * array) cannot overflow the stack */
  uint32_t *ended;
  size_t nended, capended;
  int notifying; /* a sched_job_terminal is working through the list */
  json_t *restoring; /* job id -> JobRecord, between sched_restore_job and _done */
  struct lite_store *lite; /* queued array children kept by sched_restore_lite, until _done */
  int reconcile_needed; /* restored attempts may sit on an older agent incarnation */
  int tick_now;      /* the event being handled is a Tick: capacity demand may go out */
};

static inline int sched_terminal(int st) { return st == JOB_SUCCEEDED || st == JOB_FAILED; }
static inline char *sched_dupn(const char *s) { return s ? xstrdup(s) : NULL; }
static inline int sched_fair_queue(const struct queue *q) { return q->policy_arn != NULL; }
/* Word of incarnation inc about instance ii comes from an agent process older than the one now
 * serving it (0 = unknown: never older; docs/architecture.md, "Agent incarnations"). */
static inline int sched_incarnation_is_older(const struct sched *s, uint32_t ii, int64_t inc) {
  return inc > 0 && inc < s->insts[ii]->incarnation;
}

/* sched.c: helpers, the job table, the outbox */
void sched_set_str(char **dst, const char *s); /* keeps *dst when equal */
/* The branch name of an event's "body" union {"Name": value}, with *body its value; NULL when
 * the body is not that shape (err says "<what> without a body"). */
const char *sched_body(const json_t *ev, const char *what, json_t **body, char *err,
                       size_t errlen);
struct out_ev *sched_out_push(struct outbox *o, enum out_kind k);
void sched_arn(const struct sched *s, const char *suffix, char *out, size_t outlen);
/* A TagJob request (tags set, then untagKeys removed); an unknown job is ignored. */
/* Applies a TagJob request. -1 (err, nothing changed) when the job would then hold more than
 * SCHED_MAX_JOB_BYTES. */
int sched_tag_job(struct sched *s, const json_t *body, char *err, size_t errlen);

/* The most bytes of a job's own content: its name, its container with the parameters
 * substituted, its parameters, tags and dependsOn. Every record about the job (its Placement,
 * its JobRecord) carries them, and Kafka refuses a record above about 1 MB (message.max.bytes):
 * the scheduler's transaction then failed, and the scheduler exited, and again at every restart
 * on the same request. A quarter of that leaves room for the rest of a JobRecord. */
#define SCHED_MAX_JOB_BYTES (256 * 1024)

/* What SCHED_MAX_JOB_BYTES bounds, for a job of job definition d (sched_submit.c). */
size_t sched_spec_bytes(const struct spec *sp, const struct jobdef *d);
void sched_task_id(const struct job *j, int attempt, char out[37]);
void sched_parse_retry(const json_t *rs, struct retry *r);
/* Releases what a job definition holds besides its name and ARN (before it is re-read or freed). */
void sched_jd_clear(struct jobdef *d);
/* Frees a queue's jobStateTimeLimitActions (before they are re-read or the queue is freed). */
void sched_queue_clear_time_limits(struct queue *q);
void sched_free_retry(struct retry *r);
void sched_resources(const json_t *container, int *v, int *m, int *g);
struct spec *sched_spec_new(void);
/* The tags a job with propagateTags gives its container (AWS: its ECS task): the job
 * definition's, overlaid by the job's own (docs/job-model.md §10). New reference. */
json_t *sched_propagated_tags(const struct spec *sp);
/* "arn:P:batch:R:A:" of a job ARN ("arn:P:batch:R:A:job/ID"), or NULL (@owned result). */
char *sched_arn_prefix(const char *job_arn);
void sched_spec_unref(struct spec *sp);
struct job *sched_job_new(struct sched *s, const char *id);
/* An array child "<parent>:<index>", at job index parent's first_child + index: sched_find_job
 * finds it through its parent, not the id map. */
struct job *sched_array_child_new(struct sched *s, const char *id);
/* A PENDING child of parent (an array child or a multi-node node job) in its queue and share,
 * created now with spec sp (a reference taken). */
struct job *sched_child_new(struct sched *s, const struct job *parent, const char *id, struct spec *sp);
void sched_mark_dirty(struct sched *s, struct job *j); /* its record goes out with this event */
void sched_add_dependent(struct sched *s, struct job *dep, uint32_t job);

/* sched_config.c */
/* A container of a job definition (containerProperties with its storedJson, or a node range's
 * container as registered) in the scheduler's form: image, command, environment,
 * resourceRequirements, vcpus, memory, jobRoleArn, storedJson (the other members). New reference. */
json_t *sched_container_of(const json_t *cp);
struct jobdef *sched_find_jd(struct sched *s, const char *ref);
uint32_t sched_find_queue(struct sched *s, const char *ref);
/* The queue a restored job names (its record's jobQueue): the live one, else the deleted one of
 * that name or ARN, else, when barge.config holds neither its record nor its tombstone any more
 * (compacted away), a new deleted queue named after the ARN's last element; SCHED_NONE only for
 * a ref that is empty or no job queue ARN. A job of a queue that no longer exists so keeps its
 * queue (its records still name it) and sched_sweep_deleted_queues can end it (§7.4). */
uint32_t sched_restore_queue(struct sched *s, const char *ref);
uint32_t sched_find_ce(struct sched *s, const char *ref);
int sched_handle_config(struct sched *s, const json_t *ev, struct outbox *out, char *err,
                        size_t errlen);
void sched_avail_add(struct sched *s, struct ce *c, uint32_t ii);
void sched_avail_del(struct sched *s, struct ce *c, uint32_t ii);
/* A CE's books (struct ce): its live instances, their vCPUs, its largest instance, its free
 * vCPUs and its placement candidates (avail: READY instances with a free vCPU). Each call
 * below costs O(log n) (a new capacity or a new instance out of id order: a move of the
 * entries after it), never a walk of the CE. "Changed" returns say whether what blocking codes
 * depend on (the largest instance, whether any instance lives) changed. */
/* Instance ii, new or gone, registered with CE in->ce: its capacities and state (READY) are
 * set, used_* are 0 for a gone one. It is listed in that CE (and no longer in the one it left),
 * counted, and joins the scheduler's live list. Returns changed. */
int sched_ce_register(struct sched *s, uint32_t ii);
/* Instance ii stops taking placements: it drains (st INST_DRAINING) or is gone (INST_GONE, and
 * then sched_ce_uncount once its attempts have ended). Its free vCPUs leave its CE's. */
void sched_ce_unready(struct sched *s, uint32_t ii, enum inst_state st);
/* Gone instance ii leaves its CE's live count and largest instance, and the scheduler's live
 * list. Returns changed. */
int sched_ce_uncount(struct sched *s, uint32_t ii);
/* How long, in event time, a gone instance is remembered before sched_forget_gone may forget
 * it: 10 x lost_after_ms, at least 10 minutes (docs/architecture.md, "Gone instances"). */
static inline int64_t sched_gone_memory_ms(const struct sched *s) {
  int64_t lost = s->conf.lost_after_ms;
  if (lost > INT64_MAX / 20) return INT64_MAX / 2; /* "never lost" (barge replay) */
  return 10 * lost > 600000 ? 10 * lost : 600000;
}
/* At a Tick: forgets the gone instances that went, and were last spoken of, at least
 * sched_gone_memory_ms ago and that no job references: their records are freed, their indices
 * reused by the next new instances, their incarnations raise forgot_inc. A function of event
 * times only. */
void sched_forget_gone(struct sched *s);
/* Whether a READY or HEARTBEAT of incarnation inc about an instance the scheduler does not know
 * may be a forgotten instance's late word (then ignored; docs/architecture.md, "Gone instances"). */
static inline int sched_maybe_forgotten(const struct sched *s, int heartbeat, int64_t inc) {
  return inc > 0 ? inc <= s->forgot_inc : heartbeat && s->nforgotten > 0;
}
/* Rebuilds a CE's books from its instances (after a restore, which sets states and used
 * capacities directly), dropping its gone instances from insts. Returns changed. */
int sched_recompute_ce(struct sched *s, struct ce *c);

/* sched_submit.c */
void sched_set_status(struct sched *s, struct job *j, int st, const char *reason,
                      struct outbox *out);
void sched_fail_job(struct sched *s, struct job *j, const char *reason, struct outbox *out);
void sched_job_terminal(struct sched *s, struct job *j, struct outbox *out);
void sched_substitute(json_t *command, const json_t *params);
/* Applies containerOverrides ov (command, environment, resourceRequirements, vcpus, memory) to
 * container; -1 with err (what names ov) for a reserved AWS_BATCH* variable. */
int sched_apply_overrides(json_t *container, const json_t *ov, const char *what, char *err,
                          size_t errlen);
int sched_handle_submit(struct sched *s, const json_t *sub, struct outbox *out, char *err,
                        size_t errlen);
void sched_stop_job(struct sched *s, struct job *j, int terminate, const char *reason,
                    struct outbox *out);
/* DeleteJobQueue (docs/job-model.md §7.4): every job of queue qi that has not ended is
 * terminated with "job queue NAME was deleted": STARTING/RUNNING ones as TerminateJob does (T14,
 * they fail when the agent reports the end), the others fail now, PENDING ones included (T16). */
void sched_queue_deleted(struct sched *s, uint32_t qi, struct outbox *out);

/* sched_attempt.c */
/* The largest vcpus, memoryMib or gpus an InstanceEvent may register: beyond, or below 0, the
 * event is refused (dead-lettered). */
#define INST_CAP_MAX (1 << 30)
int sched_handle_instance(struct sched *s, const json_t *ev, struct outbox *out, char *err,
                          size_t errlen);
int sched_handle_execution(struct sched *s, const json_t *ev, struct outbox *out, char *err,
                           size_t errlen);
/* Job j's attempt runs on instance ii from now: j->instance is set and j joins ii's list of
 * jobs (what a lost or restarted host's attempts are found by). The caller counts the capacity. */
void sched_attach_job(struct sched *s, struct job *j, uint32_t ii);
void sched_instance_lost(struct sched *s, uint32_t ii, int emit_lost, struct outbox *out);
void sched_settle_stale_attempts(struct sched *s, uint32_t ii, struct outbox *out);
/* Ends the live attempt of a STARTING or RUNNING job that is on no known instance (restored
 * naming a host that is gone or unknown): no agent will report its end, so it ends now, with
 * status_reason, by the job's rules (a terminated job fails, T14). */
void sched_end_hostless_attempt(struct sched *s, struct job *j, const char *status_reason, struct outbox *out);

/* sched_dispatch.c */
void sched_enqueue(struct sched *s, struct job *j);
void sched_rq_unlink(struct sched *s, struct job *j);
uint32_t sched_share_of(struct queue *q, const char *id);
/* Whether fair-share queue q takes a job of share id: an active share always, another only while
 * fewer than conf.max_active_shares are active (docs/job-model.md §3.4 rule 4). */
int sched_share_admits(struct sched *s, struct queue *q, const char *id);
void sched_share_track(struct sched *s, struct job *j, int old, int st);
/* Reclaims the shares of fair-share queue q that can no longer matter: no job between SUBMITTED
 * and RUNNING, and W past since the last one ended with no usage left (docs/job-model.md §3.4
 * rule 4). Their slots go on the free list; no job that has not ended points at one. */
void sched_share_sweep(struct sched *s, struct queue *q);
/* Puts a restored job into its fair-share share (no-op for FIFO queues). */
void sched_assign_share(struct sched *s, struct job *j);
void sched_apply_code(struct sched *s, struct job *j, struct outbox *out);
void sched_reevaluate_codes(struct sched *s, struct outbox *out);
void sched_recode_all(struct sched *s);
void sched_dispatch(struct sched *s, struct outbox *out);
/* The best-fit READY instance of CE c with room for the shape, skipping the nskip in skip. */
uint32_t sched_best_instance(struct sched *s, struct ce *c, int v, int m, int g, const uint32_t *skip,
                             int nskip);
/* T6: runs the job's next attempt on instance ii (capacity taken, PLACEMENT emitted). */
void sched_place_job(struct sched *s, struct job *j, uint32_t ii, struct outbox *out);

/* sched_gang.c: multi-node parallel jobs (docs/job-model.md, "Multi-node parallel jobs") */
/* ---- sched_out.c: what the tree and the direct writers (sched_out_bytes.c) share ---- */
void sched_job_arn(const struct sched *s, const struct job *j, char *arn, size_t n);
/* An attempt's ARNs (when it ran on an instance) and log stream name. */
struct attempt_strings {
  int has_arns;
  char instance_arn[512], task_arn[512], log_stream[300];
};
void sched_attempt_strings(const struct sched *s, const struct job *j, const struct attempt *a,
                           struct attempt_strings *out);
/* The JobDetail's container (NULL when it has none: an array parent, a job without a spec). */
json_t *sched_detail_container(struct sched *s, const struct job *j);

static inline struct job *sched_gang_parent(const struct sched *s, const struct job *j) {
  return j->parent != SCHED_NONE && s->jobs[j->parent]->mnp ? s->jobs[j->parent] : NULL;
}
/* Creates the node jobs of a new parent p (PENDING until the gang is placed), with the
 * submission's nodeOverrides (sub: the SubmitJob). */
void sched_gang_spawn(struct sched *s, struct job *p, const json_t *sub);
/* Places every node of RUNNABLE parent p on its own instance in one CE of q, or none (0). */
int sched_gang_place(struct sched *s, struct queue *q, struct job *p, struct outbox *out);
/* A node job changed status (from old): the main node's start and end decide the parent's. */
void sched_gang_node_changed(struct sched *s, struct job *node, int old, struct outbox *out);
/* Parent p ended: waiting nodes fail, running ones are terminated. */
void sched_gang_parent_ended(struct sched *s, struct job *p, struct outbox *out);
/* TerminateJob/CancelJob of a started parent: its live nodes are terminated. */
void sched_gang_stop(struct sched *s, struct job *p, int terminate, const char *reason,
                     struct outbox *out);
/* The AWS_BATCH_JOB_*NODE* variables of a node job's placement. */
void sched_gang_env(struct sched *s, const struct job *node, json_t *env);
/* nodeProperties (parents) or nodeDetails (nodes) in a JobDetail; a parent shows no container. */
void sched_gang_detail(struct sched *s, const struct job *j, json_t *detail);
/* Restore: relinks parent p (whose record has nodeProperties) with its node jobs, already
 * restored; p takes its main node's spec. */
void sched_gang_relink(struct sched *s, struct job *p, int num_nodes, int main_node,
                       uint32_t first_node);
void sched_emit_demand(struct sched *s, struct outbox *out);

/* sched_wait.c: why a job is not placed (statusReason; docs/job-model.md §3.5) */
/* The blocking code a status reason starts with (AWS's code, a static string), or NULL. */
const char *sched_code_of(const char *reason);
int sched_is_code(const char *reason); /* whether a status reason is a blocking code */
/* A blocking code's statusReason in AWS's wording; refused_type: CAPACITY's instance type. */
void sched_code_text(const char *code, const char *refused_type, char *out, size_t outlen);
/* The JobWait members a blocking code adds (computeEnvironment, detail). New reference. */
json_t *sched_code_detail(struct sched *s, struct queue *q, const struct job *j, const char *code);
/* Sets j's statusReason to text (NULL clears it) when it differs: the job's record goes out
 * and one JobWait with detail's members (@owned, may be NULL). Returns whether it changed. */
int sched_set_wait(struct sched *s, struct job *j, const char *text, json_t *detail,
                   struct outbox *out);
int sched_ce_usable(const struct ce *c);                          /* not deleted, ENABLED, VALID */
int sched_ce_can_hold(struct ce *c, const struct spec *sp); /* maxvCpus and types / largest instance */
int sched_ce_type_fits(struct ce *c, int v, int m, int g);  /* an allowed type holds it (cached) */
/* After a restart (sched_restore_done): each fair-share share's usage within its decay window,
 * from the restored jobs' attempts (startedAt to stoppedAt, or to now for the running one), and
 * when its last job ended, as the live accrual had them before the restart (docs/job-model.md,
 * 3.4). The live count starts at STARTING, this one at startedAt: a few ms less per attempt. */
void sched_share_restore_usage(struct sched *s);
/* At a Tick: the reason of a FIFO queue's head the cycle left unplaced (a CE held for another
 * head, or no room), and of each fair-share share's first job (usage: weighted usage per share;
 * held_back: the share stopped at the computeReservation). */
void sched_wait_head(struct sched *s, struct queue *q, struct job *j, struct outbox *out);
void sched_wait_fair(struct sched *s, struct queue *q, const double *usage, const char *held_back,
                     int reservation, struct outbox *out);
/* A PENDING job's reason while dependencies are unfinished; 0 (out untouched) when none is. */
int sched_dep_reason(const struct sched *s, const struct job *j, char *out, size_t outlen);

/* sched_restore.c: what a restore holds until sched_restore_done (freed there, or here) */
void sched_restore_free(struct sched *s);

/* sched_time.c */
void sched_on_tick(struct sched *s, struct outbox *out);
#endif
