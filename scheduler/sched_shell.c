/* sched_shell.c: the scheduler's thin I/O shell around the pure core (sched.c).
 *
 * Start-up: rebuild the core from barge.config, barge.instances and barge.jobs (compacted),
 * end the jobs of queues that no longer exist once barge.config is known whole (a deletion
 * whose terminations a crash kept from committing, docs/job-model.md §7.4), then consume
 * barge.requests, barge.instances and barge.executions from the committed offsets. Each batch is one Kafka transaction: the outputs (job-events, jobs, placements,
 * capacity, instances) and the consumed offsets commit together, so a crash never loses or
 * duplicates a decision, and a zombie is fenced by the transactional id. barge.config is read
 * by a second, group-less consumer (it is a table, re-read in full at every start) and is
 * always caught up before a submission that names an unknown queue or job definition.
 *
 * Time: the shell writes a Tick request every --tick-ms; it reaches the core through
 * barge.requests like any input, so a recorded input log replays the passage of time.
 *
 * Metrics (docs/metrics.md "Scheduler"): counted here from the outbox as it is written, never in
 * the core: jobs per queue and state from each job record, placements, and submit->RUNNING times.
 *
 * The loop itself (batches, transactions, dead letters, the config table) is lib/service.c; this
 * file holds the scheduler's hooks and its option table. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "codec.h"
#include "jsonget.h"
#include "metrics.h"
#include "opts.h"
#include "sched_int.h"
#include "sched_shell.h"
#include "service.h"
#include "states.h"
#include "views.h"

/* ---- options ---- */

struct sched_opts {
  struct kafka_opts kafka;
  struct metrics_opts metrics;
  const char *txn_id, *record;
  int64_t tick_ms, batch, gather_ms, gather_busy, txn_max_mib;
  struct sched_conf core;
};

static void sched_opts_init(void *conf) { sched_conf_defaults(&((struct sched_opts *)conf)->core); }

static const struct opt_spec sched_rows[] = {
    OPTS_KAFKA(struct sched_opts, kafka),
    OPT_ROW_DOC(struct sched_opts, txn_id, "transactional-id", "ID",
                "barge-scheduler, barge-scheduler-PREFIX under another topic prefix",
                "transactional id; a second scheduler with the same id fences the first"),
    OPT_ROW_MIN(struct sched_opts, tick_ms, "tick-ms", "MS", "1000", 1, "how often time advances when nothing happens"),
    OPT_ROW_MIN(struct sched_opts, core.lost_after_ms, "lost-after-ms", "MS", NULL, 1, "an instance silent this long is lost"),
    OPT_ROW_MIN(struct sched_opts, core.kill_grace_ms, "kill-grace-ms", "MS", NULL, 0,
            "SIGTERM to SIGKILL grace on timeout and terminate"),
    OPT_ROW_MIN(struct sched_opts, batch, "batch", "N", "2000", 1, "most input events per transaction"),
    OPT_ROW_MIN(struct sched_opts, gather_ms, "gather-ms", "MS", "20", 0,
            "after a busy batch, the next one gathers input as long as the last commit took, at most this long (0: never)"),
    OPT_ROW_MIN(struct sched_opts, gather_busy, "gather-busy", "N", "8", 1,
            "a batch of at least this many input events is busy (--gather-ms)"),
    OPT_ROW_MIN(struct sched_opts, txn_max_mib, "txn-max-mib", "MIB", "16", 0,
            "a batch also ends once its transaction holds this much output, so that many large arrays submitted at "
            "once are taken in several transactions, each well within the broker's transaction timeout (0: no bound)"),
    OPT_ROW_DOC(struct sched_opts, record, "record", "FILE", "off",
                "append every input event the core handles to FILE (JSON lines), for replay"),
    OPTS_METRICS(struct sched_opts, metrics),
};

const struct opts_cmd sched_opts_cmd =
    OPTS_CMD("scheduler", "[options]",
    "The scheduler service: orders, places and retries jobs (one Kafka transaction per batch).", sched_rows, struct sched_opts, sched_opts_init);

/* ---- state ---- */

/* Partitions of barge.instances whose resume offset the rebuild asks (more: taken whole). */
#define SHELL_MAX_PARTS 64

/* An array parent's JobRecord held back until the end of the batch (see emit). */
struct deferred {
  uint32_t job;
  int64_t at_ms;
};

/* The warning for an instance event of a compute environment that does not exist, per instance
 * and CE: the first one, then at most one per SHELL_QUIET_MS with the count of those not logged
 * (an agent started with a misspelt --compute-environment beats every second, for ever; each
 * beat is still dead-lettered). The slot least recently logged is reused. */
#define SHELL_QUIET_SLOTS 64
#define SHELL_QUIET_MS 60000
struct quiet_letter {
  char key[256]; /* instance id, a tab, the CE name ("" = free) */
  int64_t logged_at;
  long long unlogged;
};

struct shell {
  struct service_loop loop;
  struct sched *core;
  struct outbox out;
  char source[128];
  FILE *record;     /* input log (--record) */
  struct codec_pick *pick; /* the fields of a JobRecord the rebuild reads (sched_restore_bytes) */
  long long tick_seq;
  /* metrics (docs/metrics.md "Scheduler"), counted from the outbox */
  struct metric *m_jobs, *m_placements, *m_to_running;
  uint8_t *counted; /* per job index: the status it counts under in barge_jobs, COUNTED_NONE before */
  size_t ncounted;
  /* per job index: MARK_MOVED while emit runs (a transition in this event), and the position + 1
   * of its entry in held (0 = none) */
  uint32_t *mark;
  size_t nmark;
  struct deferred *held;
  size_t nheld, capheld;
  struct buf enc; /* an output written without the tree (sched_out_bytes.c) */
  int sweep_pending; /* the rebuild's sweep of deleted queues waits for barge.config read whole */
  /* the rebuild: where the input resumes on each partition of barge.instances (restore_instance_cb) */
  int64_t resume_at[SHELL_MAX_PARTS];
  uint8_t resume_known[SHELL_MAX_PARTS];
  struct quiet_letter quiet[SHELL_QUIET_SLOTS]; /* on_input: instances of unknown CEs */
};

#define COUNTED_NONE 0xff

#define MARK_MOVED 0x80000000u

static void init_metrics(struct shell *sh) {
  static const double to_running_s[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
  struct metrics *r = metrics_global();
  sh->m_jobs = metrics_gauge(r, "barge_jobs", "jobs by queue and status (array parents and children count one each)",
                             "queue,state");
  sh->m_placements = metrics_counter(r, "barge_placements_total", "attempts placed on an instance, by queue", "queue");
  sh->m_to_running = metrics_histogram(r, "barge_submit_to_running_seconds",
                                       "time from a job's submission to its first attempt RUNNING, by queue", "queue",
                                       to_running_s, sizeof to_running_s / sizeof *to_running_s);
}

static const char *job_queue_name(const struct sched *s, const struct job *j) {
  return j->queue < s->nqueues && s->queues[j->queue]->name ? s->queues[j->queue]->name : "";
}

/* Moves the job's count in barge_jobs to its current status. */
static void count_job(struct shell *sh, uint32_t idx) {
  const struct sched *s = sh->core;
  if (idx >= s->njobs) return;
  if (idx >= sh->ncounted) {
    size_t n = sh->ncounted ? sh->ncounted : 1024;
    while (n <= idx) n *= 2;
    sh->counted = xrealloc(sh->counted, n);
    memset(sh->counted + sh->ncounted, COUNTED_NONE, n - sh->ncounted);
    sh->ncounted = n;
  }
  const struct job *j = s->jobs[idx];
  if (sh->counted[idx] == j->status) return;
  const char *q = job_queue_name(s, j);
  if (sh->counted[idx] != COUNTED_NONE)
    metric_add(sh->m_jobs, METRIC_L(q, job_status_name((enum job_status)sh->counted[idx])), -1);
  metric_add(sh->m_jobs, METRIC_L(q, job_status_name((enum job_status)j->status)), 1);
  sh->counted[idx] = j->status;
}

/* What one output says to the metrics. */
static void count_output(struct shell *sh, const struct out_ev *e) {
  const struct sched *s = sh->core;
  if (e->kind == OUT_JOB_RECORD) {
    count_job(sh, e->job);
  } else if (e->kind == OUT_PLACEMENT && e->job < s->njobs) {
    metric_add(sh->m_placements, METRIC_L(job_queue_name(s, s->jobs[e->job])), 1);
  } else if (e->kind == OUT_STATE_CHANGE && e->new_status == JOB_RUNNING && e->attempt == 1 && e->job < s->njobs) {
    const struct job *j = s->jobs[e->job];
    if (!j->arr) metric_observe(sh->m_to_running, METRIC_L(job_queue_name(s, j)), (double)(e->at_ms - j->created_at) / 1000.0);
  }
}

static void record_input(struct shell *sh, enum barge_ev_type t, const json_t *ev) {
  if (!sh->record) return;
  char *text = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
  fprintf(sh->record, "{\"type\":\"%s\",\"event\":%s}\n", codec_type_name(t), text);
  free(text);
}

/* Produces what sh->enc holds (an output written without the tree) under key to t. */
static int produce_enc(struct shell *sh, enum bus_topic t, const char *key, char *err, size_t errlen) {
  return bus_produce_raw(service_producer(&sh->loop), t, key, strlen(key), sh->enc.data, sh->enc.len, -1, err,
                         errlen) ? -1 : 0;
}

/* A JobRecord, written without the tree (sched_out_bytes.c) unless it is a multi-node job's. */
static int write_record(struct shell *sh, uint32_t job, int64_t at_ms, char *err, size_t errlen) {
  const char *key = sched_job_id(sh->core, job);
  buf_reset(&sh->enc);
  int rc = sched_job_record_bytes(sh->core, job, sh->source, at_ms, &sh->enc, err, errlen);
  if (rc < 0) return -1;
  if (!rc) return produce_enc(sh, TOPIC_JOBS, key, err, errlen);
  json_t *v = sched_job_record(sh->core, job, sh->source, at_ms);
  rc = bus_produce(service_producer(&sh->loop), TOPIC_JOBS, key, v, err, errlen);
  json_decref(v);
  return rc ? -1 : 0;
}

/* Marks (on 1) or unmarks the jobs that change state in the outbox. */
static void mark_moved(struct shell *sh, int on) {
  size_t n = sched_job_count(sh->core);
  if (n > sh->nmark) {
    size_t cap = sh->nmark ? sh->nmark : 1024;
    while (cap < n) cap *= 2;
    sh->mark = xrealloc(sh->mark, cap * sizeof *sh->mark);
    memset(sh->mark + sh->nmark, 0, (cap - sh->nmark) * sizeof *sh->mark);
    sh->nmark = cap;
  }
  for (size_t i = 0; i < sh->out.n; i++)
    if (sh->out.ev[i].kind == OUT_STATE_CHANGE) {
      if (on) sh->mark[sh->out.ev[i].job] |= MARK_MOVED;
      else sh->mark[sh->out.ev[i].job] &= ~MARK_MOVED;
    }
}

/* A JobRecord of an array parent whose own status did not move in this event (its
 * statusSummary did: every child's start and end rewrites it) is held back and written once, at
 * the end of the batch, with the parent's state then: in the same transaction, so readers of
 * the committed table see exactly what they saw before, with one parent record per batch
 * instead of two per child. Every other record is written at once, as each transition is paired
 * with the record written beside it (`barge watch`). docs/architecture.md, "Throughput". */
static int hold_record(struct shell *sh, const struct out_ev *e) {
  struct job *j = sh->core->jobs[e->job];
  uint32_t *m = &sh->mark[e->job];
  if (!j->arr || (*m & MARK_MOVED)) {
    if (*m & ~MARK_MOVED) sh->held[(*m & ~MARK_MOVED) - 1].job = SCHED_NONE; /* written now */
    *m &= MARK_MOVED;
    return 0;
  }
  if (!(*m & ~MARK_MOVED)) {
    if (sh->nheld == sh->capheld) {
      sh->capheld = sh->capheld ? sh->capheld * 2 : 64;
      sh->held = xrealloc(sh->held, sh->capheld * sizeof *sh->held);
    }
    sh->held[sh->nheld++].job = e->job;
    *m |= (uint32_t)sh->nheld;
  }
  sh->held[(*m & ~MARK_MOVED) - 1].at_ms = e->at_ms;
  return 1;
}

/* The held-back records, before the batch's transaction commits. */
static int write_held(struct shell *sh, char *err, size_t errlen) {
  int rc = 0;
  for (size_t i = 0; i < sh->nheld; i++) {
    uint32_t job = sh->held[i].job;
    if (job == SCHED_NONE) continue;
    sh->mark[job] &= MARK_MOVED;
    if (!rc) rc = write_record(sh, job, sh->held[i].at_ms, err, errlen);
  }
  sh->nheld = 0;
  return rc;
}

static int on_batch_done(void *ctx, char *err, size_t errlen) { return write_held(ctx, err, errlen); }

/* Writes the outbox through the producer (inside the open transaction). */
static int emit(struct shell *sh, char *err, size_t errlen) {
  struct sched *s = sh->core;
  mark_moved(sh, 1);
  int rc = 0;
  for (size_t i = 0; i < sh->out.n && !rc; i++) {
    const struct out_ev *e = &sh->out.ev[i];
    count_output(sh, e);
    json_t *v = NULL;
    enum bus_topic t = TOPIC_JOB_EVENTS;
    switch (e->kind) {
    case OUT_STATE_CHANGE: { /* written without the tree: the most frequent output */
      buf_reset(&sh->enc);
      sched_state_change_bytes(s, e, sh->source, &sh->enc);
      rc = produce_enc(sh, TOPIC_JOB_EVENTS, sched_out_key(s, e), err, errlen);
      continue;
    }
    case OUT_JOB_RECORD:
      if (!hold_record(sh, e)) rc = write_record(sh, e->job, e->at_ms, err, errlen);
      continue;
    case OUT_PLACEMENT:
    case OUT_KILL:
      buf_reset(&sh->enc);
      if (!sched_placement_bytes(s, e, sh->source, &sh->enc)) {
        rc = produce_enc(sh, TOPIC_PLACEMENTS, sched_out_key(s, e), err, errlen);
        continue;
      }
      v = sched_agent_command(s, e, sh->source);
      t = TOPIC_PLACEMENTS;
      break;
    case OUT_CAPACITY:
      v = sched_capacity(s, e, sh->source);
      t = TOPIC_CAPACITY;
      break;
    case OUT_INSTANCE:
      v = sched_instance_event(s, e, sh->source);
      t = TOPIC_INSTANCES;
      break;
    case OUT_WAIT:
      v = sched_job_wait(s, e, sh->source);
      t = TOPIC_JOB_WAITS;
      break;
    case OUT_REJECT:
      log_warn("job %s rejected: %s", sched_job_id(s, e->job), e->reason ? e->reason : "");
      continue;
    case OUT__COUNT:
      continue;
    }
    rc = bus_produce(service_producer(&sh->loop), t, sched_out_key(s, e), v, err, errlen) ? -1 : 0;
    json_decref(v);
  }
  mark_moved(sh, 0);
  if (rc) return -1;
  sched_outbox_reset(&sh->out);
  return 0;
}

/* Feeds one decoded event to the core and writes what it decided. 1: invalid data (why). */
static int feed(struct shell *sh, enum barge_ev_type t, const json_t *ev, char *why,
                size_t whylen, char *err, size_t errlen) {
  record_input(sh, t, ev);
  if (sched_handle(sh->core, t, ev, &sh->out, why, whylen)) {
    sched_outbox_reset(&sh->out);
    return 1;
  }
  return emit(sh, err, errlen) ? -1 : 0;
}

/* ---- hooks ---- */

/* One barge.config record (or tombstone). */
static int on_config(void *ctx, const struct bus_msg *m, enum barge_ev_type t, const json_t *ev,
                     char *why, size_t whylen, char *err, size_t errlen) {
  struct shell *sh = ctx;
  if (!ev) {
    char key[512];
    snprintf(key, sizeof key, "%.*s", (int)m->keylen, m->key ? m->key : "");
    sched_handle_config_delete(sh->core, key, m->timestamp_ms, &sh->out);
    return emit(sh, err, errlen) ? -1 : 0;
  }
  if (bus_event_time_check(ev, m->timestamp_ms, sh->core->now, why, whylen)) return 1; /* as on_input */
  return feed(sh, t, ev, why, whylen, err, errlen);
}

/* The scheduler group's committed offset on barge.instances[partition]: where its input resumes
 * (-1: none, or it cannot be read). Asked once per partition. */
static int64_t instances_resume_at(struct shell *sh, int32_t partition) {
  if (partition < 0 || partition >= SHELL_MAX_PARTS) return -1;
  if (!sh->resume_known[partition]) {
    sh->resume_known[partition] = 1;
    if (!sh->loop.in || bus_committed(sh->loop.in, TOPIC_INSTANCES, partition, &sh->resume_at[partition]))
      sh->resume_at[partition] = -1;
  }
  return sh->resume_at[partition];
}

/* The rebuild reads barge.instances to its end, but the input resumes at the committed offset:
 * an agent's or a provisioner's end of an instance (TERMINATED, LOST) written after it, while the
 * scheduler was down, is handled as input right after the rebuild. Taken here too, it would end
 * the instance before the jobs running on it are restored (they would then name an unknown host),
 * and the input's copy would find it gone already: those jobs stayed RUNNING for ever. So such an
 * end is left to the input, which settles the instance's attempts as on a lost host. The
 * scheduler's own LOST is part of the committed state and is taken. */
static void restore_instance_cb(void *ctx, const struct bus_msg *m, const json_t *ev) {
  struct shell *sh = ctx;
  char why[512];
  if (!ev || bus_event_time_check(ev, m->timestamp_ms, 0, why, sizeof why)) return; /* dead-lettered (on_input) */
  const char *kind = jget_str(ev, "kind"), *src = jget_str(json_object_get(ev, "header"), "source");
  if (instance_kind_ended(kind) && !(src && !strncmp(src, "scheduler/", 10))) {
    int64_t resume = instances_resume_at(sh, m->partition);
    if (resume >= 0 && m->offset >= resume) {
      /* but no new job goes there meanwhile: a job submitted just after the restart was placed
       * on the ended host before the input's end came, and failed as lost */
      sched_restore_instance_ending(sh->core, jget_str(ev, "instanceId"), jget_int(ev, "incarnation", 0));
      return;
    }
  }
  sched_restore_instance(sh->core, ev);
}

static void restore_job_cb(void *ctx, const struct bus_msg *m, const json_t *ev) {
  (void)m;
  struct shell *sh = ctx;
  char why[256];
  if (ev && sched_restore_job(sh->core, ev, why, sizeof why)) log_warn("restore: %s", why);
}

/* A barge.jobs record at the rebuild: most are queued array children, read without a whole
 * decode (docs/architecture.md, "Scheduler restart"); the others decoded as any record. */
static int restore_job_raw(void *ctx, const struct bus_msg *m, char *err, size_t errlen) {
  struct shell *sh = ctx;
  if (!m->value || (sh->pick && !sched_restore_bytes(sh->core, sh->pick, m->value, m->len))) return 0;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  int dr = bus_decode(m, &t, &ev, why, sizeof why);
  if (dr == BUS_DECODE_UNAVAILABLE) return service_decode_unavailable(m, why, err, errlen);
  if (dr)
    log_warn("rebuild: %s[%d] offset %lld skipped: %s", bus_topic_base(m->topic), (int)m->partition,
             (long long)m->offset, why);
  else
    restore_job_cb(ctx, m, ev);
  json_decref(ev);
  return 0;
}

/* Ends the jobs of queues that no longer exist (sched_sweep_deleted_queues), in the open
 * transaction, once barge.config has been read whole; until then it stays pending (retried at
 * each tick): a queue missing from a partial read may well exist. */
static int sweep_deleted(struct shell *sh, char *err, size_t errlen) {
  if (!service_config_whole(&sh->loop)) {
    if (!sh->sweep_pending)
      log_warn("barge.config not read to its end: the jobs of deleted queues are ended once it is");
    sh->sweep_pending = 1;
    return 0;
  }
  sh->sweep_pending = 0;
  if (service_txn(&sh->loop, err, errlen)) return -1;
  int n = sched_sweep_deleted_queues(sh->core, &sh->out);
  if (n) log_info("the jobs of %d deleted job queue(s) terminated (docs/job-model.md 7.4)", n);
  return emit(sh, err, errlen) || write_held(sh, err, errlen) ? -1 : 0;
}

static int on_restored(void *ctx, char *err, size_t errlen) {
  struct shell *sh = ctx;
  sched_restore_done(sh->core);
  sched_outbox_reset(&sh->out);
  for (size_t i = 0; i < sh->nheld; i++) /* nothing is held before the rebuild; to be sure */
    if (sh->held[i].job != SCHED_NONE) sh->mark[sh->held[i].job] = 0;
  sh->nheld = 0;
  malloc_trim(0); /* the decoded records of the rebuild are freed: give their memory back */
  for (size_t i = 0; i < sh->core->njobs; i++) count_job(sh, (uint32_t)i);
  log_info("%zu jobs restored", sched_job_count(sh->core));
  return sweep_deleted(sh, err, errlen);
}

/* Is every resource the event names (a SubmitJob's queue and job definition, an instance's
 * compute environment) known to the core? If not, barge.config is caught up first, and key
 * names what was missing. */
static int refs_known(struct sched *s, enum barge_ev_type t, const json_t *ev, char *key, size_t keylen) {
  if (t == BARGE_EV_INSTANCE_EVENT) {
    const char *ce = jget_str(ev, "computeEnvironment");
    snprintf(key, keylen, "ce %s", ce ? ce : "");
    return sched_find_ce(s, ce) != SCHED_NONE;
  }
  if (t != BARGE_EV_JOB_REQUEST) return 1;
  json_t *body = json_object_get(json_object_get(ev, "body"), "SubmitJob");
  if (!body) return 1;
  const char *q = jget_str(body, "jobQueue"), *jd = jget_str(body, "jobDefinition");
  snprintf(key, keylen, "queue %s, job definition %s", q ? q : "", jd ? jd : "");
  return sched_find_queue(s, q) != SCHED_NONE && sched_find_jd(s, jd) != NULL;
}

/* An instance event the core refused for its unknown compute environment: dead-lettered, its
 * warning rate-limited (struct quiet_letter). */
static int dead_letter_unknown_ce(struct shell *sh, const struct bus_msg *m, const char *inst, const char *ce,
                                  const char *why, char *err, size_t errlen) {
  char key[sizeof sh->quiet[0].key];
  snprintf(key, sizeof key, "%s\t%s", inst, ce);
  struct quiet_letter *q = NULL, *lru = &sh->quiet[0];
  for (size_t i = 0; i < SHELL_QUIET_SLOTS && !q; i++) {
    if (!strcmp(sh->quiet[i].key, key)) q = &sh->quiet[i];
    else if (sh->quiet[i].logged_at < lru->logged_at) lru = &sh->quiet[i];
  }
  int64_t now = mono_ms();
  if (!q) {
    q = lru;
    snprintf(q->key, sizeof q->key, "%s", key);
    q->unlogged = 0;
  } else if (now - q->logged_at < SHELL_QUIET_MS) {
    q->unlogged++;
    return service_dead_letter_unlogged(&sh->loop, m, why, err, errlen) ? -1 : 0;
  }
  if (q->unlogged)
    log_warn("%s[%d] offset %lld dead-lettered: %s (and %lld more of instance %s, dead-lettered without a line "
             "each, since the last line)",
             bus_topic_base(m->topic), (int)m->partition, (long long)m->offset, why, q->unlogged, inst);
  else
    log_warn("%s[%d] offset %lld dead-lettered: %s (the next ones of this instance: at most one line a minute)",
             bus_topic_base(m->topic), (int)m->partition, (long long)m->offset, why);
  q->logged_at = now;
  q->unlogged = 0;
  return service_dead_letter_unlogged(&sh->loop, m, why, err, errlen) ? -1 : 0;
}

static int on_input(void *ctx, const struct bus_msg *m, enum barge_ev_type t, const json_t *ev,
                    char *why, size_t whylen, char *err, size_t errlen) {
  struct shell *sh = ctx;
  if (!ev) {
    snprintf(why, whylen, "tombstone");
    return 1;
  }
  /* the core's clock is the latest event time it was given: one request of a producer writing
   * microseconds moved it 50,000 years ahead, every instance was lost and every running job
   * failed. Any producer can write to each input, so an agent's report or an instance event
   * (their `at` too) is held to the same bound: one ExecutionReport in microseconds, even for an
   * unknown job, did the same. */
  if (bus_event_time_check(ev, m->timestamp_ms, sh->core->now, why, whylen)) return 1;
  char key[600];
  if (!refs_known(sh->core, t, ev, key, sizeof key) && service_config_catch_up_for(&sh->loop, key, err, errlen))
    return -1;
  int rc = feed(sh, t, ev, why, whylen, err, errlen);
  const char *inst = jget_str(ev, "instanceId"), *ce = jget_str(ev, "computeEnvironment");
  if (rc == 1 && t == BARGE_EV_INSTANCE_EVENT && inst && ce && sched_find_ce(sh->core, ce) == SCHED_NONE)
    return dead_letter_unknown_ce(sh, m, inst, ce, why, err, errlen);
  return rc;
}

/* A Tick request: the core's clock advances through barge.requests like any input. */
static int on_tick(void *ctx, char *err, size_t errlen) {
  struct shell *sh = ctx;
  if (sh->sweep_pending && (service_config_catch_up(&sh->loop, err, errlen) || sweep_deleted(sh, err, errlen)))
    return -1;
  if (service_txn(&sh->loop, err, errlen)) return -1;
  json_t *tick = json_pack("{s:o, s:s, s:{s:{s:I}}}", "header", bus_header(sh->source, "", now_ms()),
                           "principal", "scheduler", "body", "Tick", "seq", (json_int_t)++sh->tick_seq);
  int rc = bus_produce(service_producer(&sh->loop), TOPIC_REQUESTS, "tick", tick, err, errlen);
  json_decref(tick);
  return rc ? -1 : 0;
}

/* ---- main ---- */

static const enum bus_topic sched_inputs[] = {TOPIC_REQUESTS, TOPIC_INSTANCES, TOPIC_EXECUTIONS};
static const struct service_table sched_tables[] = {{TOPIC_INSTANCES, restore_instance_cb, NULL},
                                                    {TOPIC_JOBS, restore_job_cb, restore_job_raw}};

int sched_service_main(int argc, char **argv) {
  struct sched_opts o;
  int r = opts_parse_or_exit(&sched_opts_cmd, &o, argc, argv);
  if (r >= 0) return r;
  log_set_role("scheduler");
  if (service_metrics_start("scheduler", &o.metrics)) return 1;
  struct service_conn conn;
  if ((r = service_connect("scheduler", &o.kafka, "barge-scheduler", SERVICE_TOPICS | SERVICE_WAIT, &conn))) return service_stopping() ? 0 : r;
  char txn_id[256];
  if (o.txn_id) snprintf(txn_id, sizeof txn_id, "%s", o.txn_id);
  else service_txn_id("barge-scheduler", conn.prefix, txn_id, sizeof txn_id);
  struct shell sh;
  memset(&sh, 0, sizeof sh);
  sched_outbox_init(&sh.out);
  service_source("scheduler", sh.source, sizeof sh.source);
  init_metrics(&sh);
  o.core.partition = barge_partition();
  o.core.region = barge_region();
  o.core.account = barge_account();
  sh.core = sched_new(&o.core);
  char perr[256];
  if (!(sh.pick = sched_restore_pick(perr, sizeof perr)))
    log_warn("rebuild: every record decoded whole (%s)", perr);
  int rc = 1;
  if (o.record && !(sh.record = fopen(o.record, "a"))) {
    log_error("cannot open %s", o.record);
  } else {
    const struct service_def def = {
        .name = "scheduler", .group = "barge-scheduler", .txn_id = txn_id,
        .inputs = sched_inputs, .ninputs = 3, .tables = sched_tables, .ntables = 2,
        .batch = o.batch, .batch_ms = 50, .eager = 1, .tick_ms = o.tick_ms,
        .gather_ms = o.gather_ms, .gather_busy = o.gather_busy, .txn_max_bytes = o.txn_max_mib * 1024 * 1024,
        .hooks = {.config = on_config, .restored = on_restored, .handle = on_input,
                  .batch_done = on_batch_done, .tick = on_tick}};
    rc = service_run(&sh.loop, &def, &sh, &conn.bc);
  }
  if (sh.record) fclose(sh.record);
  sched_outbox_release(&sh.out);
  free(sh.mark);
  free(sh.held);
  buf_release(&sh.enc);
  sched_free(sh.core);
  codec_pick_free(sh.pick);
  free(sh.counted);
  service_metrics_stop();
  return rc;
}
