/* replay_sim.c: `barge replay simulate` (see replay.h, docs/replay.md).
 *
 * A discrete-event simulation around the real scheduler core (scheduler/sched.c):
 *
 *   recorded barge.requests ──(SubmitJob, CancelJob, TerminateJob at their times)──┐
 *   Tick every tick_ms ─────────────────────────────────────────────────────────────┤
 *   fleet model: READY / TERMINATED instances ──────────────────────────────────────┤
 *   execution model: STARTED / EXITED / ... as recorded ─────────────────────────────┤
 *                                                                                     v
 *                                   sched_handle (the same core, ALT configuration)
 *                                                                                     │
 *   placements -> execution model; CapacityDemand -> fleet model; state changes -> metrics
 *
 * Execution model: attempt k of a job starts (STARTING -> RUNNING) after the delay recorded for
 * its attempt k and ends after the recorded RUNNING -> end time with the recorded exit code (or
 * timeout, failure to start, host loss). An attempt that ended by TerminateJob in the recording
 * runs until the simulated TerminateJob kills it. An attempt with no recorded counterpart takes
 * the median duration of the recorded attempts of jobs with the same name (else of all jobs) and
 * exits 0.
 *
 * Capacity, by default through the real provisioner core (provisioner/prov.c) with a sim-like
 * driver: the scheduler's CapacityDemand goes to prov_handle_demand, Ticks to prov_tick; a launch
 * it asks for creates instances of the catalogue type at once (LAUNCHING), READY after a boot
 * delay (the LAUNCHING -> READY time the recording shows for the type, else 1 s for a type the
 * recording used, else 30 s); its drains go to the scheduler core (DRAIN_REQUESTED), whose
 * DRAINED goes back, and its terminations end the instance. Instances alive when the range starts
 * are a warm fleet (registered READY at the start, up to maxvCpus per MANAGED compute
 * environment); UNMANAGED compute environments get the recorded instances at their recorded
 * times. `capacity_model "replay"` selects Barge replay's own simpler fleet model instead
 * (replay_fleet.c, which says why it is kept).
 *
 * The recorded side and the figures are replay_record.c's; what the files share is replay_int.h.
 *
 * Everything is ordered by (time, sequence number), but the recorded reports of one millisecond
 * and one job-events key, which go in their recorded order (tied_in_recorded_order); ids of
 * simulated instances are counters; no clock, no randomness: the same input gives the same report. */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "replay_int.h"
#include "views.h"

static json_t *sim_header(struct sim *s, int64_t at) {
  char id[48];
  snprintf(id, sizeof id, "sim-%llu", (unsigned long long)++s->seq);
  return json_pack("{s:s, s:I, s:s, s:s}", "event_id", id, "event_time", (json_int_t)at,
                   "source", "replay-simulate", "request_id", "");
}

static int sev_before(const void *a, const void *b) {
  const struct sev *x = a, *y = b;
  return x->at != y->at ? x->at < y->at : x->seq < y->seq;
}

void replay_push(struct sim *s, int64_t at, enum sev_kind k, int a, json_t *ev /* @owned */) {
  heap_push(&s->q, &(struct sev){at, ++s->seq, k, a, ev, -1});
}

/* An ExecutionReport at `at` that stands for the recorded one whose state change is at position
 * rank of barge.job-events (-1: none), for tied_in_recorded_order. */
static void push_report(struct sim *s, int64_t at, json_t *ev /* @owned */, long rank) {
  heap_push(&s->q, &(struct sev){at, ++s->seq, SEV_EXEC, 0, ev, rank});
}

/* The length of the key a job's state changes travel under on barge.job-events: an array child
 * <id>:<n> and a multi-node node <id>#<n> travel under their parent's id. */
static size_t event_key_len(const char *job_id) {
  return strcspn(job_id, ":#");
}

/* e, an ExecutionReport just taken from the queue, and the reports waiting in the same
 * millisecond for jobs of the same key (one partition of barge.job-events, so one recorded
 * order) are fed in the order the recording has the state changes they stand for, which is the
 * order the live scheduler handled them: the core's decision can hang on it. A multi-node job's
 * main node's end stops the nodes still running (docs/job-model.md §11), so a worker that ended
 * in the same millisecond SUCCEEDED when its end was handled first; fed in the order the nodes
 * were placed (the main node's first), the simulation stopped it and it ended FAILED. When one
 * of those reports was recorded before e, the two swap what they carry (each keeps its time and
 * sequence number, so the queue stays in order) and e is that one. Reports with no recorded
 * counterpart keep their places; ties with other events keep the (time, sequence) order. */
static void tied_in_recorded_order(struct sim *s, struct sev *e) {
  const struct sev *next = heap_peek(&s->q);
  if (e->kind != SEV_EXEC || e->rank < 0 || !next || next->at != e->at) return;
  const char *id = jget_str(e->ev, "jobId");
  if (!id) return;
  size_t n = event_key_len(id);
  struct sev *first = NULL;
  for (size_t i = 0; i < s->q.n; i++) {
    struct sev *x = (struct sev *)(void *)(s->q.items + i * s->q.size);
    if (x->at != e->at || x->kind != SEV_EXEC || x->rank < 0 || x->rank >= (first ? first->rank : e->rank)) continue;
    const char *xid = jget_str(x->ev, "jobId");
    if (xid && event_key_len(xid) == n && !strncmp(xid, id, n)) first = x;
  }
  if (!first) return;
  struct sev was = *e;
  e->ev = first->ev;
  e->rank = first->rank;
  first->ev = was.ev;
  first->rank = was.rank;
}

void replay_note(struct sim *s, const char *text) {
  size_t i;
  json_t *v;
  json_array_foreach(s->notes, i, v) if (!strcmp(json_string_value(v), text)) return;
  json_array_append_new(s->notes, json_string(text));
}

/* ---- jobs ---- */

static struct sim_job *sim_job_get(struct sim *s, const char *id, int create) {
  int i = idx_get(s->job_idx, id);
  if (i >= 0) return &s->jobs[i];
  if (!create) return NULL;
  s->jobs = xrealloc(s->jobs, (s->njobs + 1) * sizeof *s->jobs);
  struct sim_job *j = &s->jobs[s->njobs];
  memset(j, 0, sizeof *j);
  j->id = xstrdup(id);
  j->created = j->first_runnable = j->first_starting = j->stopped = -1;
  j->placed_at = -1;
  j->inst = -1;
  j->status = JOB_SUBMITTED;
  idx_put(s->job_idx, id, (int)s->njobs);
  s->njobs++;
  return j;
}

/* ---- the execution model ---- */

static json_t *exec_report(struct sim *s, const char *job, int attempt, const char *inst,
                           const char *kind, int64_t at, int has_exit, int exit_code,
                           const char *reason) {
  json_t *r = json_pack("{s:o, s:s, s:i, s:s, s:s, s:I}", "header", sim_header(s, at), "jobId", job,
                        "attempt", attempt, "instanceId", inst, "kind", kind, "at", (json_int_t)at);
  if (has_exit) json_object_set_new(r, "exitCode", json_integer(exit_code));
  if (reason) json_object_set_new(r, "reason", json_string(reason));
  return r;
}

static void on_placement(struct sim *s, const struct out_ev *e) {
  const char *id = sched_job_id(s->core, e->job);
  const char *iid = sched_instance_id(s->core, e->inst);
  struct sim_job *j = sim_job_get(s, id, 1);
  int ii = idx_get(s->inst_idx, iid);
  j->inst = ii;
  j->placed_at = s->now;
  j->attempts = e->attempt;
  if (ii >= 0) {
    s->insts[ii].njobs++;
    s->insts[ii].idle_since = -1;
  }
  int ri = idx_get(s->rec.job_idx, id);
  struct rec_job *rj = ri >= 0 ? &s->rec.jobs[ri] : NULL;
  if (rj && rj->vcpus) j->vcpus = rj->vcpus;
  const struct rec_attempt *a = NULL;
  long run_rank = -1, end_rank = -1; /* this attempt's recorded state changes, when it has them */
  if (rj && e->attempt >= 1 && e->attempt <= rj->natt) {
    a = &rj->att[e->attempt - 1];
    run_rank = a->run_ord;
    end_rank = a->end_ord;
  } else if (rj && rj->closed > 0) {
    a = &rj->att[rj->closed - 1]; /* more attempts than recorded */
  }
  int64_t at = s->now;
  if (!a) {
    s->no_recording++;
    json_t *byname = rj && rj->name ? json_object_get(s->run_by_name, rj->name) : NULL;
    int64_t run = byname ? (int64_t)json_integer_value(byname) : s->default_run_ms;
    replay_push(s, at + s->default_delay_ms, SEV_EXEC, 0,
         exec_report(s, id, e->attempt, iid, "STARTED", at + s->default_delay_ms, 0, 0, NULL));
    replay_push(s, at + s->default_delay_ms + run, SEV_EXEC, 0,
         exec_report(s, id, e->attempt, iid, "EXITED", at + s->default_delay_ms + run, 1, 0, NULL));
    return;
  }
  int64_t delay = a->running_at >= 0 ? a->running_at - a->placed_at
                                     : (a->end_at >= 0 ? a->end_at - a->placed_at : s->default_delay_ms);
  if (delay < 0) delay = 0;
  int64_t run = a->running_at >= 0 && a->end_at >= 0 ? a->end_at - a->running_at : -1;
  switch (a->kind) {
  case ATT_FAILED_TO_START:
    push_report(s, at + delay,
                exec_report(s, id, e->attempt, iid, "FAILED_TO_START", at + delay, 0, 0,
                            a->reason ? a->reason : "CannotStartContainerError"),
                end_rank);
    return;
  case ATT_LOST:
    if (a->running_at < 0 && a->end_at >= 0) {
      /* lost before it started (an agent killed between placement and start): it never ran, and
       * ends when the recording's did, with the lost-host reason; not a run of the median
       * duration, as for an attempt still running when the recording ended */
      push_report(s, at + delay, exec_report(s, id, e->attempt, iid, "FAILED_TO_START", at + delay, 0, 0, a->reason),
                  end_rank);
      return;
    }
    break;
  case ATT_EXITED:
  case ATT_TIMED_OUT:
  case ATT_TERMINATED:
    break;
  }
  push_report(s, at + delay, exec_report(s, id, e->attempt, iid, "STARTED", at + delay, 0, 0, NULL), run_rank);
  if (a->kind == ATT_TERMINATED) return; /* runs until the simulated TerminateJob kills it */
  if (run < 0) {
    /* the recording ends while it runs: it runs as long as the recording lasted */
    replay_note(s, "some attempts were still running when the recording ended; they ran for the median recorded duration");
    run = s->default_run_ms;
  }
  int64_t end = at + delay + run;
  if (a->kind == ATT_TIMED_OUT)
    push_report(s, end, exec_report(s, id, e->attempt, iid, "TIMED_OUT", end, a->has_exit, a->exit_code, NULL), end_rank);
  else if (a->kind == ATT_LOST)
    push_report(s, end, exec_report(s, id, e->attempt, iid, "FAILED_TO_START", end, 0, 0, a->reason), end_rank);
  else
    push_report(s, end, exec_report(s, id, e->attempt, iid, "EXITED", end, a->has_exit, a->exit_code, NULL), end_rank);
}

static void on_kill(struct sim *s, const struct out_ev *e) {
  const char *id = sched_job_id(s->core, e->job);
  const char *iid = sched_instance_id(s->core, e->inst);
  replay_push(s, s->now, SEV_EXEC, 0, exec_report(s, id, e->attempt, iid, "KILLED", s->now, 0, 0, NULL));
}

static void on_state_change(struct sim *s, const struct out_ev *e) {
  const char *id = sched_job_id(s->core, e->job);
  struct sim_job *j = sim_job_get(s, id, 1);
  s->last_change = s->now;
  int old = e->old_status, st = e->new_status;
  if (old == JOB_SUBMITTED && j->created < 0) j->created = e->at_ms;
  if (st == JOB_RUNNABLE && j->first_runnable < 0) j->first_runnable = e->at_ms;
  if (st == JOB_STARTING && j->first_starting < 0) j->first_starting = e->at_ms;
  if (st == JOB_STARTING && old != JOB_STARTING && old != JOB_RUNNING) s->live_attempts++;
  if ((old == JOB_STARTING || old == JOB_RUNNING) && st != JOB_RUNNING) {
    if (s->live_attempts > 0) s->live_attempts--;
    if (j->inst >= 0) {
      struct sim_inst *in = &s->insts[j->inst];
      if (in->njobs > 0) in->njobs--;
      if (in->njobs == 0) in->idle_since = s->now;
    }
    /* a multi-node parent is never placed (its nodes are): it runs on no vCPUs of its own */
    if (j->placed_at >= 0) replay_span_push(&s->job_spans, j->placed_at, e->at_ms, j->vcpus ? j->vcpus : 1, 0);
    j->placed_at = -1;
    j->inst = -1;
  }
  if ((st == JOB_SUCCEEDED || st == JOB_FAILED) && j->stopped < 0) {
    j->stopped = e->at_ms;
    if (j->top && s->unfinished_top > 0) s->unfinished_top--;
  }
  j->status = st;
}

int replay_ce_by_name(struct sim *s, const char *name) {
  for (size_t i = 0; name && i < s->nces; i++)
    if (!strcmp(s->ces[i].name, name) || !strcmp(s->ces[i].arn, name)) return (int)i;
  return -1;
}

/* Feeds one event to the core and acts on what it decided. */
int replay_feed(struct sim *s, enum barge_ev_type t, const json_t *ev) {
  char why[512];
  if (sched_handle(s->core, t, ev, &s->out, why, sizeof why)) {
    sched_outbox_reset(&s->out);
    return 0; /* invalid data: the real scheduler dead-letters it and goes on */
  }
  for (size_t i = 0; i < s->out.n; i++) {
    const struct out_ev *e = &s->out.ev[i];
    switch (e->kind) {
    case OUT_STATE_CHANGE:
      on_state_change(s, e);
      break;
    case OUT_PLACEMENT:
      on_placement(s, e);
      break;
    case OUT_KILL:
      on_kill(s, e);
      break;
    case OUT_CAPACITY:
      if (s->prov) replay_push(s, s->now, SEV_PROV_DEMAND, 0, sched_capacity(s->core, e, "replay-simulate"));
      else replay_fleet_demand(s, e);
      break;
    case OUT_INSTANCE: /* DRAINED (a drain the provisioner asked for) */
      if (s->prov) replay_push(s, s->now, SEV_PROV_INSTANCE, 0, sched_instance_event(s->core, e, "replay-simulate"));
      break;
    case OUT_REJECT:
      s->rejected++;
      break;
    case OUT_JOB_RECORD:
    case OUT_WAIT:
    case OUT__COUNT:
      break;
    }
  }
  sched_outbox_reset(&s->out);
  return 0;
}

/* ---- the fleet model ---- */

json_t *replay_instance_event(struct sim *s, const struct sim_inst *in, const char *kind, int64_t at) {
  return json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:f, s:s, s:I}", "header",
                   sim_header(s, at), "instanceId", in->id, "computeEnvironment",
                   s->ces[in->ce].name, "kind", kind, "instanceType", in->type, "vcpus", in->v,
                   "memoryMib", in->m, "gpus", in->g, "lifecycle", in->spot ? "SPOT" : "ON_DEMAND",
                   "pricePerHour", in->price, "driver", "sim", "at", (json_int_t)at);
}

int replay_add_inst(struct sim *s, const char *id, int ce, const char *type, int v, int m, int g,
                    double price, int spot, int64_t at) {
  if (s->ninsts == s->capinsts) {
    s->capinsts = s->capinsts ? s->capinsts * 2 : 64;
    s->insts = xrealloc(s->insts, s->capinsts * sizeof *s->insts);
  }
  struct sim_inst *in = &s->insts[s->ninsts];
  memset(in, 0, sizeof *in);
  snprintf(in->id, sizeof in->id, "%s", id);
  snprintf(in->type, sizeof in->type, "%s", type ? type : "");
  in->ce = ce;
  in->v = v;
  in->m = m;
  in->g = g;
  in->price = price;
  in->spot = spot;
  in->launched_at = at;
  in->ended_at = -1;
  in->state = SI_LAUNCHING;
  in->idle_since = -1;
  in->managed = s->ces[ce].managed;
  idx_put(s->inst_idx, in->id, (int)s->ninsts);
  return (int)s->ninsts++;
}

int replay_fleet_v(struct sim *s, int ce) {
  int v = 0;
  for (size_t i = 0; i < s->ninsts; i++)
    if (s->insts[i].ce == ce && s->insts[i].state != SI_GONE) v += s->insts[i].v;
  return v;
}

/* ---- the provisioner core and its simulated driver ---- */

/* Acts on what the provisioner core decided, until it decides nothing more. */
static void prov_process(struct sim *s) {
  while (s->pout.n) {
    /* take the entries: answering a launch appends to the outbox */
    size_t n = s->pout.n;
    struct prov_out *v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
      v[i] = s->pout.ev[i];
      v[i].ce = xstrdup(s->pout.ev[i].ce ? s->pout.ev[i].ce : "");
      v[i].driver = NULL;
      v[i].ev = s->pout.ev[i].ev ? json_incref(s->pout.ev[i].ev) : NULL;
    }
    prov_outbox_reset(&s->pout);
    for (size_t i = 0; i < n; i++) {
      struct prov_out *e = &v[i];
      int ci = replay_ce_by_name(s, e->ce);
      switch (e->kind) {
      case PROV_OUT_DECISION:
        s->decisions++;
        break;
      case PROV_OUT_INSTANCE: {
        const char *kind = jget_str(e->ev, "kind");
        if (kind && (!strcmp(kind, "DRAIN_REQUESTED") || !strcmp(kind, "LAUNCHING"))) {
          json_t *x = json_deep_copy(e->ev);
          json_object_set_new(x, "header", sim_header(s, s->now));
          replay_push(s, s->now, SEV_TO_SCHED, 0, x);
        }
        break;
      }
      case PROV_OUT_LAUNCH: {
        if (ci < 0 || e->type < 0 || (size_t)e->type >= s->cat->n || e->count <= 0) {
          prov_launch_result(s->prov, e->req, "sim", NULL, 0, "unknown type or compute environment", s->now, &s->pout);
          break;
        }
        const struct catalog_type *t = &s->cat->types[e->type];
        const char **ids = xcalloc((size_t)e->count, sizeof *ids);
        char(*idbuf)[64] = xcalloc((size_t)e->count, sizeof *idbuf); /* s->insts may move */
        struct sim_ce *c = &s->ces[ci];
        const struct itype *lt = replay_learned_type(s, t->name);
        int64_t boot = c->boot_ms >= 0 ? c->boot_ms : lt ? lt->boot_ms : CATALOGUE_BOOT_MS;
        for (int k = 0; k < e->count; k++) {
          char id[64];
          snprintf(id, sizeof id, "i-sim%02d%06d", ci, ++c->launched);
          int ii = replay_add_inst(s, id, ci, t->name, t->vcpus, catalog_sched_mem(s->cat, t), t->gpus,
                            e->spot ? t->spot_price : t->od_price, e->spot, s->now);
          snprintf(idbuf[k], sizeof idbuf[k], "%s", s->insts[ii].id);
          ids[k] = idbuf[k];
          replay_push(s, s->now + boot, SEV_READY, ii, NULL);
        }
        prov_launch_result(s->prov, e->req, "sim", ids, (size_t)e->count, NULL, s->now, &s->pout);
        free(ids);
        free(idbuf);
        break;
      }
      case PROV_OUT_DRAIN:
        break; /* DRAIN_REQUESTED is its own output */
      case PROV_OUT_TERMINATE: {
        int ii = idx_get(s->inst_idx, e->instance);
        if (ii >= 0 && s->insts[ii].state != SI_GONE) {
          s->insts[ii].state = SI_GONE;
          s->insts[ii].ended_at = s->now;
        }
        json_t *x = e->ev ? json_deep_copy(e->ev) : NULL;
        if (x) {
          json_object_set_new(x, "header", sim_header(s, s->now));
          replay_push(s, s->now, SEV_TO_SCHED, 0, json_incref(x));
          replay_push(s, s->now, SEV_PROV_INSTANCE, 0, x);
        }
        break;
      }
      case PROV_OUT__COUNT:
        break;
      }
      free(e->ce);
      json_decref(e->ev);
    }
    free(v);
  }
}

static void prov_feed(struct sim *s, enum sev_kind k, const json_t *ev) {
  char why[512];
  int rc = 0;
  if (k == SEV_PROV_DEMAND) rc = prov_handle_demand(s->prov, ev, &s->pout, why, sizeof why);
  else rc = prov_handle_instance(s->prov, ev, &s->pout, why, sizeof why);
  if (rc) prov_outbox_reset(&s->pout); /* invalid data: dropped, as the shell would */
  prov_process(s);
}

/* ---------------- configuration and ALT ---------------- */

static int name_matches(const json_t *alt_map, const char *name, const char *arn, json_t **out) {
  *out = json_object_get(alt_map, name);
  if (!*out) *out = json_object_get(alt_map, arn);
  return *out != NULL;
}

static int check_members(const json_t *o, const char *const *allowed, const char *what, char *err,
                         size_t errlen) {
  if (!json_is_object(o)) {
    snprintf(err, errlen, "ALT: %s: expected a JSON object", what);
    return -1;
  }
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)o, k, v) {
    int ok = 0;
    for (const char *const *a = allowed; *a; a++)
      if (!strcmp(k, *a)) ok = 1;
    if (!ok) {
      snprintf(err, errlen, "ALT: %s: unknown member '%s'", what, k);
      return -1;
    }
  }
  return 0;
}

/* ALT's values, checked as the AWS operations check them (producers/aws/control_ce.c), so that
 * a value of the wrong type or out of range is refused, naming it, rather than read as 0 or
 * passed to the cores as it came: "maxvCpus": "8" simulated a compute environment of 0 vCPUs. */
static int check_int(const json_t *o, const char *k, long long lo, long long hi, const char *what, char *err,
                     size_t errlen) {
  json_t *v = json_object_get(o, k);
  if (!v) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
    char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(err, errlen, "ALT: %s: %s must be a whole number from %lld to %lld, not %.100s", what, k, lo, hi,
             txt ? txt : "?");
    free(txt);
    return -1;
  }
  return 0;
}

static int check_enum(const json_t *o, const char *k, const char *const *allowed, const char *what, char *err,
                      size_t errlen) {
  json_t *v = json_object_get(o, k);
  if (!v) return 0;
  for (const char *const *a = allowed; json_is_string(v) && *a; a++)
    if (!strcmp(json_string_value(v), *a)) return 0;
  char list[256] = "";
  for (const char *const *a = allowed; *a; a++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a == allowed ? "" : ", ", *a);
  char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
  snprintf(err, errlen, "ALT: %s: %s must be one of %s, not %.100s", what, k, list, txt ? txt : "?");
  free(txt);
  return -1;
}

#define ALT_MAX_VCPUS 10000000LL     /* as CreateComputeEnvironment takes */
#define ALT_MAX_DELAY_S 31536000LL   /* a year */

static int check_ce_values(const json_t *ov, const json_t *cr, const char *name, char *err, size_t errlen) {
  static const char *const strategies[] = {"BEST_FIT", "BEST_FIT_PROGRESSIVE", "BEST_FIT_PROGRESSIVE_ORDERED",
                                           "SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED",
                                           "SPOT_CAPACITY_OPTIMIZED_PRIORITIZED", NULL};
  static const char *const types[] = {"EC2", "SPOT", NULL};
  if (check_int(ov, "maxvCpus", 0, ALT_MAX_VCPUS, name, err, errlen) ||
      check_int(ov, "minvCpus", 0, ALT_MAX_VCPUS, name, err, errlen) ||
      check_int(ov, "bootDelaySeconds", 0, ALT_MAX_DELAY_S, name, err, errlen) ||
      check_int(ov, "scaleDownDelaySeconds", 0, ALT_MAX_DELAY_S, name, err, errlen) ||
      check_enum(ov, "allocationStrategy", strategies, name, err, errlen) ||
      check_enum(ov, "type", types, name, err, errlen))
    return -1;
  json_t *it = json_object_get(ov, "instanceTypes");
  if (it) {
    size_t i;
    json_t *t;
    int good = json_is_array(it) && json_array_size(it) > 0;
    json_array_foreach(it, i, t) good = good && json_is_string(t);
    if (!good) {
      snprintf(err, errlen, "ALT: %s: instanceTypes must be a non-empty array of names (\"c5\", \"m5.large\", \"optimal\")", name);
      return -1;
    }
  }
  /* the values the compute environment ends with: ALT's, else the recorded ones */
  json_t *mn = json_object_get(ov, "minvCpus") ? json_object_get(ov, "minvCpus") : json_object_get(cr, "minvCpus");
  json_t *mx = json_object_get(ov, "maxvCpus") ? json_object_get(ov, "maxvCpus") : json_object_get(cr, "maxvCpus");
  if (json_is_integer(mn) && json_is_integer(mx) && json_integer_value(mn) > json_integer_value(mx)) {
    snprintf(err, errlen, "ALT: %s: minvCpus %lld is above maxvCpus %lld", name, (long long)json_integer_value(mn),
             (long long)json_integer_value(mx));
    return -1;
  }
  return 0;
}

#define ALT_MAX_MEMORY_MIB 2147483647LL /* what an int holds (struct itype) */

static int check_price(const json_t *o, const char *k, const char *what, char *err, size_t errlen) {
  json_t *v = json_object_get(o, k);
  if (!v || (json_is_number(v) && json_number_value(v) >= 0)) return 0;
  char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
  snprintf(err, errlen, "ALT: instance type %s: %s must be a number of USD from 0, not %.100s", what, k, txt ? txt : "?");
  free(txt);
  return -1;
}

/* ALT's top-level instanceTypes (replay's own fleet model): an object of type name -> its
 * figures, each member checked as the compute environments' are. It was read as it came: a
 * misspelt member ("vcpu") was ignored, "vcpus": "64" read as 0, a negative price taken, and a
 * type the simulation launched with 0 vCPUs ran nothing, without a word. Whether a new type
 * gives its vcpus and memoryMib is checked once the known types are built
 * (check_alt_types_complete). */
static int check_instance_types(const json_t *alt, char *err, size_t errlen) {
  json_t *types = json_object_get(alt, "instanceTypes");
  if (!types) return 0;
  if (!json_is_object(types)) {
    snprintf(err, errlen, "ALT: instanceTypes must be an object of type name -> {\"vcpus\", \"memoryMib\", "
                          "\"pricePerHour\", \"spotPricePerHour\", \"bootDelaySeconds\"}");
    return -1;
  }
  static const char *const allowed[] = {"vcpus", "memoryMib", "pricePerHour", "spotPricePerHour",
                                        "bootDelaySeconds", NULL};
  const char *name;
  json_t *t;
  json_object_foreach(types, name, t) {
    char what[128];
    snprintf(what, sizeof what, "instance type %.100s", name);
    if (!*name || strlen(name) >= sizeof ((struct itype *)0)->name) {
      snprintf(err, errlen, "ALT: instanceTypes: a type name is 1 to %zu characters, not '%.100s'",
               sizeof ((struct itype *)0)->name - 1, name);
      return -1;
    }
    if (check_members(t, allowed, what, err, errlen) || check_int(t, "vcpus", 1, ALT_MAX_VCPUS, what, err, errlen) ||
        check_int(t, "memoryMib", 1, ALT_MAX_MEMORY_MIB, what, err, errlen) ||
        check_int(t, "bootDelaySeconds", 0, ALT_MAX_DELAY_S, what, err, errlen) ||
        check_price(t, "pricePerHour", name, err, errlen) || check_price(t, "spotPricePerHour", name, err, errlen))
      return -1;
  }
  return 0;
}

/* After replay_build_types: a type of ALT's instanceTypes that is neither recorded nor in the
 * built-in table must give its size (it had 0 vCPUs and 0 MiB, and no job fitted it). */
static int check_alt_types_complete(const struct sim *s, char *err, size_t errlen) {
  const char *name;
  json_t *t;
  json_object_foreach(json_object_get(s->in->alt, "instanceTypes"), name, t) {
    for (size_t k = 0; k < s->nlearned; k++) {
      const struct itype *it = &s->learned[k];
      if (strcmp(it->name, name) || (it->v > 0 && it->m > 0)) continue;
      snprintf(err, errlen,
               "ALT: instance type %.100s: %s is required for a type that is neither recorded nor in the built-in "
               "table (docs/replay.md)",
               name, it->v <= 0 ? "vcpus" : "memoryMib");
      return -1;
    }
  }
  return 0;
}

/* A policy's shareDistribution, its entries checked as CreateSchedulingPolicy checks them
 * (producers/aws/control_policy.c): each entry was passed to the scheduler core as it came, and
 * a "weightFactor": "0.5" or a misspelt "weightfactor" was read as the weight 1 without a word. */
static int check_share_distribution(const json_t *sd, const char *policy, char *err, size_t errlen) {
  if (!sd) return 0;
  if (!json_is_array(sd)) {
    snprintf(err, errlen, "ALT: %s: shareDistribution must be an array of {\"shareIdentifier\", \"weightFactor\"}",
             policy);
    return -1;
  }
  static const char *const allowed[] = {"shareIdentifier", "weightFactor", NULL};
  size_t i;
  json_t *e;
  json_array_foreach(sd, i, e) {
    char what[192];
    snprintf(what, sizeof what, "%.100s: shareDistribution[%zu]", policy, i);
    if (check_members(e, allowed, what, err, errlen)) return -1;
    const char *id = jget_str(e, "shareIdentifier");
    size_t n = id ? strlen(id) : 0;
    if (n && id[n - 1] == '*') n--; /* "can be followed by an asterisk" */
    int good = n >= 1 && n <= 255;
    for (size_t k = 0; good && k < n; k++) good = isalnum((unsigned char)id[k]);
    if (!good) {
      char *txt = json_dumps(json_object_get(e, "shareIdentifier"), JSON_ENCODE_ANY | JSON_COMPACT);
      snprintf(err, errlen, "ALT: %s: shareIdentifier must be 1-255 letters and digits, optionally followed by '*', not %.100s",
               what, txt ? txt : "nothing");
      free(txt);
      return -1;
    }
    json_t *w = json_object_get(e, "weightFactor");
    if (w && (!json_is_number(w) || json_number_value(w) < 0.0001 || json_number_value(w) > 999.9999)) {
      char *txt = json_dumps(w, JSON_ENCODE_ANY | JSON_COMPACT);
      snprintf(err, errlen, "ALT: %s: weightFactor must be a number within 0.0001..999.9999, not %.100s", what,
               txt ? txt : "?");
      free(txt);
      return -1;
    }
  }
  return 0;
}

static const char *kind_of(const json_t *rec, json_t **body) {
  json_t *b = json_object_get(rec, "body");
  const char *k;
  json_t *v;
  json_object_foreach(b, k, v) {
    *body = v;
    return k;
  }
  return NULL;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Applies ALT to the configuration records (copies) and returns them in feeding order: compute
 * environments, scheduling policies, job definitions, job queues; each by ARN. */
static int prepare_config(struct sim *s, json_t **out, char *err, size_t errlen) {
  const json_t *alt = s->in->alt;
  static const char *const top[] = {"computeEnvironments", "jobQueues", "schedulingPolicies",
                                    "instanceTypes", "bootDelaySeconds", "scaleDownDelaySeconds", NULL};
  if (alt && (!json_is_object(alt) || check_members(alt, top, "the document", err, errlen))) {
    if (!json_is_object(alt)) snprintf(err, errlen, "ALT: the document is not a JSON object");
    return 2;
  }
  if (alt && (check_int(alt, "bootDelaySeconds", 0, ALT_MAX_DELAY_S, "the document", err, errlen) ||
              check_int(alt, "scaleDownDelaySeconds", 0, ALT_MAX_DELAY_S, "the document", err, errlen) ||
              check_instance_types(alt, err, errlen)))
    return 2;
  static const char *const order[] = {"ComputeEnvironment", "SchedulingPolicy", "JobDefinition", "JobQueue"};
  json_t *ces_alt = json_object_get(alt, "computeEnvironments");
  json_t *qs_alt = json_object_get(alt, "jobQueues");
  json_t *ps_alt = json_object_get(alt, "schedulingPolicies");
  json_t *used = json_object();
  json_t *res = json_array();
  size_t n = json_array_size(s->in->config);
  for (size_t o = 0; o < 4; o++) {
    const char **keys = xcalloc(n + 1, sizeof *keys);
    json_t **recs = xcalloc(n + 1, sizeof *recs);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
      json_t *rec = json_array_get(s->in->config, i), *body;
      const char *k = kind_of(rec, &body);
      if (!k || strcmp(k, order[o])) continue;
      const char *arn = !strcmp(k, "ComputeEnvironment") ? jget_str(body, "computeEnvironmentArn")
                        : !strcmp(k, "JobQueue")         ? jget_str(body, "jobQueueArn")
                        : !strcmp(k, "JobDefinition")    ? jget_str(body, "jobDefinitionArn")
                                                         : jget_str(body, "arn");
      if (!arn) continue;
      keys[m] = arn;
      recs[m++] = rec;
    }
    /* by ARN (stable, independent of the table's order) */
    for (size_t a = 1; a < m; a++)
      for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
        const char *tk = keys[b];
        keys[b] = keys[b - 1];
        keys[b - 1] = tk;
        json_t *tr = recs[b];
        recs[b] = recs[b - 1];
        recs[b - 1] = tr;
      }
    for (size_t i = 0; i < m; i++) {
      json_t *rec = json_deep_copy(recs[i]), *body;
      const char *k = kind_of(rec, &body);
      json_t *ov = NULL;
      if (!strcmp(k, "ComputeEnvironment") &&
          name_matches(ces_alt, jget_str(body, "computeEnvironmentName"), keys[i], &ov)) {
        static const char *const allowed[] = {"maxvCpus", "minvCpus", "allocationStrategy", "instanceTypes",
                                              "type", "bootDelaySeconds", "scaleDownDelaySeconds", NULL};
        if (check_members(ov, allowed, jget_str(body, "computeEnvironmentName"), err, errlen)) goto bad;
        json_t *cr = json_object_get(body, "computeResources");
        if (!json_is_object(cr)) {
          snprintf(err, errlen, "ALT: compute environment %s is UNMANAGED: it has no maxvCpus or instance types to change",
                   jget_str(body, "computeEnvironmentName"));
          goto bad;
        }
        if (check_ce_values(ov, cr, jget_str(body, "computeEnvironmentName"), err, errlen)) goto bad;
        static const char *const copy[] = {"maxvCpus", "minvCpus", "allocationStrategy", "instanceTypes", "type", NULL};
        for (const char *const *c = copy; *c; c++)
          if (json_object_get(ov, *c)) json_object_set(cr, *c, json_object_get(ov, *c));
        json_object_set_new(used, jget_str(body, "computeEnvironmentName"), json_true());
        json_object_set_new(used, keys[i], json_true());
      } else if (!strcmp(k, "JobQueue") && name_matches(qs_alt, jget_str(body, "jobQueueName"), keys[i], &ov)) {
        static const char *const allowed[] = {"priority", "state", NULL};
        static const char *const states[] = {"ENABLED", "DISABLED", NULL};
        if (check_members(ov, allowed, jget_str(body, "jobQueueName"), err, errlen) ||
            check_int(ov, "priority", 0, 1000, jget_str(body, "jobQueueName"), err, errlen) ||
            check_enum(ov, "state", states, jget_str(body, "jobQueueName"), err, errlen))
          goto bad;
        if (json_object_get(ov, "priority")) json_object_set(body, "priority", json_object_get(ov, "priority"));
        if (json_object_get(ov, "state")) json_object_set(body, "state", json_object_get(ov, "state"));
        json_object_set_new(used, jget_str(body, "jobQueueName"), json_true());
        json_object_set_new(used, keys[i], json_true());
      } else if (!strcmp(k, "SchedulingPolicy") && name_matches(ps_alt, jget_str(body, "name"), keys[i], &ov)) {
        static const char *const allowed[] = {"shareDistribution", "shareDecaySeconds", "computeReservation", NULL};
        if (check_members(ov, allowed, jget_str(body, "name"), err, errlen) ||
            check_int(ov, "shareDecaySeconds", 0, 604800, jget_str(body, "name"), err, errlen) ||
            check_int(ov, "computeReservation", 0, 99, jget_str(body, "name"), err, errlen))
          goto bad;
        if (check_share_distribution(json_object_get(ov, "shareDistribution"), jget_str(body, "name"), err, errlen))
          goto bad;
        json_t *fp = json_object_get(body, "fairsharePolicy");
        if (!json_is_object(fp)) {
          fp = json_object();
          json_object_set_new(body, "fairsharePolicy", fp);
        }
        json_object_update(fp, ov);
        json_object_set_new(used, jget_str(body, "name"), json_true());
        json_object_set_new(used, keys[i], json_true());
      }
      json_array_append_new(res, rec);
      continue;
    bad:
      json_decref(rec);
      free(keys);
      free(recs);
      json_decref(res);
      json_decref(used);
      return 2;
    }
    free(keys);
    free(recs);
  }
  /* every ALT name must exist */
  json_t *maps[] = {ces_alt, qs_alt, ps_alt};
  const char *what[] = {"compute environment", "job queue", "scheduling policy"};
  for (int mi = 0; mi < 3; mi++) {
    const char *k;
    json_t *v;
    json_object_foreach(maps[mi], k, v) if (!json_object_get(used, k)) {
      snprintf(err, errlen, "ALT: %s %s is not in barge.config", what[mi], k);
      json_decref(res);
      json_decref(used);
      return 2;
    }
  }
  json_decref(used);
  *out = res;
  return 0;
}

static void setup_ces(struct sim *s, const json_t *config) {
  size_t i;
  json_t *rec;
  json_t *ces_alt = json_object_get(s->in->alt, "computeEnvironments");
  json_array_foreach(config, i, rec) {
    json_t *body;
    const char *k = kind_of(rec, &body);
    if (!k || strcmp(k, "ComputeEnvironment")) continue;
    s->ces = xrealloc(s->ces, (s->nces + 1) * sizeof *s->ces);
    struct sim_ce *c = &s->ces[s->nces++];
    memset(c, 0, sizeof *c);
    c->name = xstrdup(jget_str(body, "computeEnvironmentName"));
    c->arn = xstrdup(jget_str(body, "computeEnvironmentArn"));
    const char *type = jget_str(body, "type");
    c->managed = !type || strcmp(type, "UNMANAGED");
    json_t *cr = json_object_get(body, "computeResources");
    c->maxv = (int)jget_int(cr, "maxvCpus", c->managed ? 0 : INT_MAX);
    c->minv = (int)jget_int(cr, "minvCpus", 0);
    snprintf(c->strategy, sizeof c->strategy, "%s", jget_str(cr, "allocationStrategy") ? jget_str(cr, "allocationStrategy") : "BEST_FIT");
    c->spot = jget_str(cr, "type") && !strcmp(jget_str(cr, "type"), "SPOT");
    json_t *ov = NULL;
    name_matches(ces_alt, c->name, c->arn, &ov);
    int64_t gboot = jget_int(s->in->alt, "bootDelaySeconds", -1), gdown = jget_int(s->in->alt, "scaleDownDelaySeconds", -1);
    int64_t boot = jget_int(ov, "bootDelaySeconds", gboot), down = jget_int(ov, "scaleDownDelaySeconds", gdown);
    c->boot_ms = boot >= 0 ? boot * 1000 : -1;
    json_t *delay = json_object_get(cr, "minScaleDownDelayMinutes");
    c->scale_down_ms = down >= 0 ? down * 1000 : json_is_integer(delay) ? json_integer_value(delay) * 60000 : -1;
    if (c->managed) replay_resolve_types(s, c, cr);
  }
}

/* ---------------- the run ---------------- */

static int in_range(const struct replay_sim_input *in, int64_t t) {
  return (in->from_ms == REPLAY_NO_TIME || t >= in->from_ms) &&
         (in->until_ms == REPLAY_NO_TIME || t <= in->until_ms);
}

static void sim_free(struct sim *s) {
  replay_recording_free(&s->rec);
  sched_free(s->core);
  sched_outbox_release(&s->out);
  struct sev e;
  while (heap_pop(&s->q, &e) == 0) json_decref(e.ev);
  heap_release(&s->q);
  for (size_t i = 0; i < s->nces; i++) {
    free(s->ces[i].name);
    free(s->ces[i].arn);
    free(s->ces[i].types);
    json_decref(s->ces[i].demand);
  }
  free(s->ces);
  free(s->insts);
  json_decref(s->inst_idx);
  for (size_t i = 0; i < s->njobs; i++) free(s->jobs[i].id);
  free(s->jobs);
  json_decref(s->job_idx);
  free(s->learned);
  free(s->job_spans.v);
  json_decref(s->run_by_name);
  json_decref(s->notes);
  if (s->prov) {
    prov_outbox_release(&s->pout);
    prov_free(s->prov);
  }
}

/* The recording and the submissions in range: subs gets the requests to replay, scope the ids
 * of the jobs they submit. Returns the number of submissions; *t0 and *last_sub the first and
 * last submission times. */
static size_t load_scope(struct sim *s, json_t *subs, json_t *scope, int64_t *t0, int64_t *last_sub) {
  const struct replay_sim_input *in = s->in;
  size_t i;
  json_t *ev;
  json_array_foreach(in->job_events, i, ev) replay_rec_event(&s->rec, ev);
  json_array_foreach(in->instances, i, ev) replay_rec_instance(&s->rec, ev);
  *t0 = INT64_MAX;
  *last_sub = INT64_MIN;
  json_array_foreach(in->requests, i, ev) {
    json_t *body = json_object_get(ev, "body");
    json_t *sub = json_object_get(body, "SubmitJob");
    int64_t t = ev_time(ev);
    if (json_object_get(body, "Tick") || !in_range(in, t)) continue;
    if (sub) {
      const char *id = jget_str(sub, "jobId");
      if (!id || json_object_get(scope, id)) continue;
      json_object_set_new(scope, id, json_true());
      if (t < *t0) *t0 = t;
      if (t > *last_sub) *last_sub = t;
    }
    json_array_append(subs, ev);
  }
  return json_object_size(scope);
}

static void time_text(int64_t ms, char out[40]) {
  char sec[32];
  iso8601_utc(ms, sec);
  snprintf(out, 40, "%.19s.%03dZ", sec, (int)(((ms % 1000) + 1000) % 1000));
}

/* Says why nothing is to be simulated: the log holds no submission, or none in the range given,
 * then with the range read and where the recorded submissions are (a --from given in local time
 * without its offset, or in the wrong day, was only told "no SubmitJob request in the range"). */
static void empty_range_error(const struct replay_sim_input *in, char *err, size_t errlen) {
  int64_t first = INT64_MAX, last = INT64_MIN;
  size_t n = 0, i;
  json_t *ev;
  json_array_foreach(in->requests, i, ev) {
    if (!json_object_get(json_object_get(ev, "body"), "SubmitJob")) continue;
    int64_t t = ev_time(ev);
    if (t < first) first = t;
    if (t > last) last = t;
    n++;
  }
  if (!n) {
    snprintf(err, errlen, "barge.requests holds no SubmitJob request: nothing to simulate");
    return;
  }
  char from[40] = "", until[40] = "", a[40], b[40], range[120];
  if (in->from_ms != REPLAY_NO_TIME) time_text(in->from_ms, from);
  if (in->until_ms != REPLAY_NO_TIME) time_text(in->until_ms, until);
  if (in->from_ms != REPLAY_NO_TIME && in->until_ms != REPLAY_NO_TIME)
    snprintf(range, sizeof range, "from %s until %s", from, until);
  else if (in->from_ms != REPLAY_NO_TIME)
    snprintf(range, sizeof range, "at or after %s", from);
  else
    snprintf(range, sizeof range, "at or before %s", until);
  time_text(first, a);
  time_text(last, b);
  snprintf(err, errlen, "no SubmitJob request %s; barge.requests holds %zu, submitted from %s until %s", range, n, a, b);
}

/* The execution model's defaults: median run time (overall and per job name) and start delay
 * of the recorded attempts. */
static void learn_durations(struct sim *s) {
  struct i64v runs = {0}, delays = {0};
  json_t *runs_by_name = json_object();
  for (size_t k = 0; k < s->rec.njobs; k++) {
    struct rec_job *j = &s->rec.jobs[k];
    for (int a = 0; a < j->closed; a++) {
      struct rec_attempt *x = &j->att[a];
      if (x->running_at >= 0) replay_i64_push(&delays, x->running_at - x->placed_at);
      if (x->kind == ATT_EXITED && x->running_at >= 0 && x->end_at >= 0) {
        replay_i64_push(&runs, x->end_at - x->running_at);
        if (j->name) {
          json_t *arr = json_object_get(runs_by_name, j->name);
          if (!arr) json_object_set_new(runs_by_name, j->name, arr = json_array());
          json_array_append_new(arr, json_integer(x->end_at - x->running_at));
        }
      }
    }
  }
  s->default_run_ms = replay_median(&runs, 1000);
  s->default_delay_ms = replay_median(&delays, 0);
  free(runs.v);
  free(delays.v);
  const char *nk;
  json_t *arr;
  json_object_foreach(runs_by_name, nk, arr) {
    struct i64v v = {0};
    size_t x;
    json_t *e;
    json_array_foreach(arr, x, e) replay_i64_push(&v, json_integer_value(e));
    json_object_set_new(s->run_by_name, nk, json_integer(replay_median(&v, s->default_run_ms)));
    free(v.v);
  }
  json_decref(runs_by_name);
}

/* The recorded side of the report, over the jobs of scope (array children included). */
static json_t *recorded_outcome(struct sim *s, const json_t *scope, size_t top, int64_t t0) {
  struct side sd;
  replay_side_init(&sd);
  for (size_t k = 0; k < s->rec.njobs; k++) {
    struct rec_job *j = &s->rec.jobs[k];
    int is_top = json_object_get(scope, j->id) != NULL;
    int child = j->parent && json_object_get(scope, j->parent);
    if (!is_top && !child) continue;
    j->in_scope = 1;
    replay_side_job(&sd, is_top, job_status_parse(j->status), j->created, j->stopped, 1,
                    j->first_runnable, j->first_starting);
    for (int a = 0; a < j->natt; a++) {
      int64_t end = j->att[a].end_at >= 0 ? j->att[a].end_at : INT64_MAX;
      replay_span_push(&sd.jobs, j->att[a].placed_at, end, j->vcpus ? j->vcpus : 1, 0);
    }
  }
  replay_side_bounds(&sd, t0);
  for (size_t k = 0; k < s->rec.ninsts; k++) {
    struct rec_inst *n = &s->rec.insts[k];
    replay_span_push(&sd.fleet, replay_rec_inst_start(n), n->ended >= 0 ? n->ended : INT64_MAX, n->v,
                     n->price);
    if (n->launching >= sd.t0 && n->launching <= sd.t1) sd.launched++;
  }
  return replay_side_outcome(&sd, top);
}

/* The scheduler core (and, by default, the provisioner core), fed the configuration. Returns 0,
 * or 2 for an unknown capacity model. */
static int start_cores(struct sim *s, const json_t *config, int64_t t0, char *err, size_t errlen) {
  const struct replay_sim_input *in = s->in;
  struct sched_conf conf;
  sched_conf_defaults(&conf);
  conf.partition = barge_partition();
  conf.region = barge_region();
  conf.account = barge_account();
  conf.lost_after_ms = INT64_MAX / 4; /* the fleet model never loses an instance */
  conf.emit_records = 0;
  s->core = sched_new(&conf);
  s->now = t0;
  if (!in->capacity_model || !strcmp(in->capacity_model, "provisioner")) {
    struct prov_conf pc;
    prov_conf_defaults(&pc);
    s->cat = catalog_default();
    pc.cat = s->cat;
    s->prov = prov_new(&pc);
    prov_outbox_init(&s->pout);
  } else if (strcmp(in->capacity_model, "replay")) {
    snprintf(err, errlen, "unknown capacity model %s (provisioner or replay)", in->capacity_model);
    return 2;
  }
  size_t i;
  json_t *ev;
  json_array_foreach(config, i, ev) {
    json_t *c = json_deep_copy(ev);
    json_object_set_new(c, "header", sim_header(s, t0));
    replay_feed(s, BARGE_EV_CONFIG_RECORD, c);
    if (s->prov) {
      char why[256];
      if (prov_handle_config(s->prov, c, &s->pout, why, sizeof why)) prov_outbox_reset(&s->pout);
      prov_process(s);
    }
    json_decref(c);
  }
  return 0;
}

/* The warm fleet: recorded instances alive when the range starts, by id; unmanaged compute
 * environments also get the recorded instances that came later. */
static void warm_fleet(struct sim *s, int64_t t0) {
  size_t n = s->rec.ninsts;
  const char **ids = xcalloc(n + 1, sizeof *ids);
  for (size_t k = 0; k < n; k++) ids[k] = s->rec.insts[k].id;
  qsort(ids, n, sizeof *ids, cmp_str);
  for (size_t k = 0; k < n; k++) {
    struct rec_inst *r = &s->rec.insts[idx_get(s->rec.inst_idx, ids[k])];
    int ci = replay_ce_by_name(s, r->ce);
    if (ci < 0 || r->v <= 0) continue;
    struct sim_ce *c = &s->ces[ci];
    int64_t st = r->ready >= 0 ? r->ready : replay_rec_inst_start(r);
    int alive_at_t0 = st <= t0 && (r->ended < 0 || r->ended > t0);
    if (c->managed) {
      if (!alive_at_t0) continue;
      if (replay_fleet_v(s, ci) + r->v > c->maxv) continue;
      int ii = replay_add_inst(s, r->id, ci, r->type, r->v, r->m, r->g, r->price, r->spot, t0);
      s->insts[ii].warm = 1;
      replay_push(s, t0, SEV_READY, ii, NULL);
    } else {
      if (r->ended >= 0 && r->ended <= t0) continue;
      int64_t at = st < t0 ? t0 : st;
      int ii = replay_add_inst(s, r->id, ci, r->type, r->v, r->m, r->g, r->price, r->spot, at);
      s->insts[ii].warm = st <= t0;
      replay_push(s, at, SEV_READY, ii, NULL);
      if (r->ended >= 0) replay_push(s, r->ended, SEV_TERMINATE, ii, NULL);
    }
  }
  free(ids);
}

/* The requests, in their order, at the time the scheduler really handled them (a submission's
 * createdAt: the recording's scheduler latency is kept); dependencies on jobs outside the range
 * are dropped (they would be refused). */
static void queue_requests(struct sim *s, const json_t *subs, const json_t *scope) {
  int64_t feed_at = INT64_MIN;
  size_t i;
  json_t *ev;
  json_array_foreach(subs, i, ev) {
    json_t *c = json_deep_copy(ev);
    json_t *sub = json_object_get(json_object_get(c, "body"), "SubmitJob");
    int64_t at = ev_time(ev);
    if (sub) {
      int ri = idx_get(s->rec.job_idx, jget_str(sub, "jobId") ? jget_str(sub, "jobId") : "");
      if (ri >= 0 && s->rec.jobs[ri].created > at) at = s->rec.jobs[ri].created;
    }
    if (at < feed_at) at = feed_at;
    feed_at = at;
    json_object_set_new(json_object_get(c, "header"), "event_time", json_integer(at));
    if (sub) {
      json_t *deps = json_object_get(sub, "dependsOn");
      json_t *keep = json_array();
      size_t x;
      json_t *d;
      json_array_foreach(deps, x, d) {
        const char *did = jget_str(d, "jobId");
        char base[64];
        snprintf(base, sizeof base, "%.*s", did ? (int)strcspn(did, ":") : 0, did ? did : "");
        if (!did || json_object_get(scope, base)) json_array_append(keep, d);
        else s->deps_dropped++;
      }
      json_object_set_new(sub, "dependsOn", keep);
      struct sim_job *j = sim_job_get(s, jget_str(sub, "jobId"), 1);
      j->top = 1;
      j->is_parent = json_object_get(sub, "arrayProperties") != NULL;
    }
    replay_push(s, at, SEV_REQUEST, 0, c);
  }
}

/* Ends an instance of the simulation (a recorded unmanaged instance's end). */
static void end_instance(struct sim *s, struct sim_inst *in) {
  if (in->state == SI_GONE) return;
  in->state = SI_GONE;
  in->ended_at = s->now;
  json_t *x = replay_instance_event(s, in, "TERMINATED", s->now);
  replay_feed(s, BARGE_EV_INSTANCE_EVENT, x);
  json_decref(x);
}

/* Handles one simulation event at s->now. */
static void step(struct sim *s, const struct sev *e) {
  switch (e->kind) {
  case SEV_REQUEST:
    replay_feed(s, BARGE_EV_JOB_REQUEST, e->ev);
    break;
  case SEV_EXEC:
    replay_feed(s, BARGE_EV_EXECUTION_REPORT, e->ev);
    break;
  case SEV_READY: {
    struct sim_inst *in = &s->insts[e->a];
    if (in->state == SI_LAUNCHING) {
      in->state = SI_READY;
      in->idle_since = s->now;
      json_t *x = replay_instance_event(s, in, "READY", s->now);
      replay_feed(s, BARGE_EV_INSTANCE_EVENT, x);
      if (s->prov) prov_feed(s, SEV_PROV_INSTANCE, x);
      json_decref(x);
    }
    break;
  }
  case SEV_TO_SCHED:
    replay_feed(s, BARGE_EV_INSTANCE_EVENT, e->ev);
    break;
  case SEV_PROV_DEMAND:
  case SEV_PROV_INSTANCE:
    prov_feed(s, e->kind, e->ev);
    break;
  case SEV_TERMINATE:
    end_instance(s, &s->insts[e->a]);
    break;
  case SEV_TICK: {
    json_t *x = json_pack("{s:o, s:s, s:{s:{s:I}}}", "header", sim_header(s, s->now), "principal",
                          "scheduler", "body", "Tick", "seq", (json_int_t)s->seq);
    replay_feed(s, BARGE_EV_JOB_REQUEST, x);
    json_decref(x);
    if (s->prov) {
      prov_tick(s->prov, s->now, &s->pout);
      prov_process(s);
    }
    break;
  }
  }
}

/* Runs the events until every job is terminal, or nothing but ticks is left and nothing changed
 * for STALL_MS, or the horizon after the last submission passed. */
static void run(struct sim *s, int64_t last_sub) {
  const struct replay_sim_input *in = s->in;
  int64_t tick_ms = in->tick_ms > 0 ? in->tick_ms : DEFAULT_TICK_MS;
  int64_t horizon = in->horizon_ms > 0 ? in->horizon_ms : DEFAULT_HORIZON_MS;
  struct sev e;
  while (heap_pop(&s->q, &e) == 0) {
    if (e.at > s->now) s->now = e.at;
    tied_in_recorded_order(s, &e);
    step(s, &e);
    json_decref(e.ev);
    if (!s->prov) replay_fleet_scale(s);
    /* every job ended; a multi-node job's workers, killed as its main node ended, end too */
    if (s->unfinished_top == 0 && s->live_attempts == 0) break;
    if (e.kind == SEV_TICK) {
      /* only ticks left and nothing changed for long: stuck jobs stay unfinished */
      int only_ticks = s->q.n == 0;
      if (s->now > last_sub + horizon || (only_ticks && s->now - s->last_change > STALL_MS && s->now > last_sub)) {
        replay_note(s, "some jobs never finished in the simulation (no capacity could run them)");
        break;
      }
      replay_push(s, s->now + tick_ms, SEV_TICK, 0, NULL);
    }
  }
}

/* The simulated side of the report. */
static json_t *simulated_outcome(struct sim *s, size_t top, int64_t t0) {
  struct side sd;
  replay_side_init(&sd);
  for (size_t k = 0; k < s->njobs; k++) {
    struct sim_job *j = &s->jobs[k];
    replay_side_job(&sd, j->top, j->status, j->created, j->stopped, !j->is_parent, j->first_runnable,
                    j->first_starting);
  }
  replay_side_bounds(&sd, t0);
  for (size_t k = 0; k < s->ninsts; k++) {
    struct sim_inst *in = &s->insts[k];
    replay_span_push(&sd.fleet, in->launched_at, in->ended_at >= 0 ? in->ended_at : INT64_MAX, in->v, in->price);
    if (!in->warm && in->managed) sd.launched++;
  }
  /* attempts still running when the simulation stopped */
  for (size_t k = 0; k < s->njobs; k++)
    if (s->jobs[k].inst >= 0)
      replay_span_push(&s->job_spans, s->jobs[k].placed_at, INT64_MAX, s->jobs[k].vcpus ? s->jobs[k].vcpus : 1, 0);
  sd.jobs = s->job_spans; /* the side owns them now */
  memset(&s->job_spans, 0, sizeof s->job_spans);
  return replay_side_outcome(&sd, top);
}

/* How many jobs end as recorded (in the same status, SUCCEEDED, FAILED or, for a job unfinished
 * on both sides, the same status short of the end: the statuses --per-job shows side by side),
 * and how many units (jobs and array children) took as many attempts. */
static json_t *agreement(struct sim *s, size_t top) {
  size_t same_status = 0, same_attempts = 0, units = 0;
  for (size_t k = 0; k < s->njobs; k++) {
    struct sim_job *j = &s->jobs[k];
    int ri = idx_get(s->rec.job_idx, j->id);
    struct rec_job *r = ri >= 0 ? &s->rec.jobs[ri] : NULL;
    if (j->top) {
      if (r && !strcmp(r->status, job_status_name((enum job_status)j->status))) same_status++;
    }
    if (!j->is_parent && (j->top || (r && r->in_scope))) {
      units++;
      if (r ? r->closed == j->attempts || (r->natt == j->attempts && r->closed < r->natt) : j->attempts == 0)
        same_attempts++;
    }
  }
  return json_pack("{s:i, s:i, s:i, s:i}", "sameFinalStatus", (int)same_status, "jobs", (int)top,
                   "sameAttempts", (int)same_attempts, "units", (int)units);
}

/* Every job, in submission order (array children after their parent), on both sides. */
static json_t *per_job(struct sim *s) {
  json_t *list = json_array();
  for (size_t k = 0; k < s->njobs; k++) {
    struct sim_job *j = &s->jobs[k];
    int ri = idx_get(s->rec.job_idx, j->id);
    struct rec_job *r = ri >= 0 ? &s->rec.jobs[ri] : NULL;
    json_t *o = json_pack("{s:s}", "jobId", j->id);
    if (r)
      json_object_set_new(o, "recorded", replay_job_times(r->status, r->closed, r->first_runnable,
                                                          r->first_starting, r->stopped));
    json_object_set_new(o, "simulated",
                        replay_job_times(job_status_name((enum job_status)j->status), j->attempts,
                                         j->first_runnable, j->first_starting, j->stopped));
    json_array_append_new(list, o);
  }
  return list;
}

static void count_note(struct sim *s, size_t n, const char *fmt) {
  if (!n) return;
  char b[200];
  snprintf(b, sizeof b, fmt, n);
  replay_note(s, b);
}

static void final_notes(struct sim *s) {
  count_note(s, s->no_recording, "%zu attempts had no recorded counterpart: they ran for the median recorded duration and exited 0");
  count_note(s, s->deps_dropped, "%zu dependencies on jobs submitted outside the range were dropped");
  count_note(s, s->rejected, "%zu submissions were refused by the scheduler core");
  if (s->prov) {
    char b[200];
    snprintf(b, sizeof b, "capacity: the provisioner core (%d scaling decisions) with a simulated driver; warm recorded instances at the start", s->decisions);
    replay_note(s, b);
  } else {
    replay_note(s, "capacity: Barge replay's own fleet model (warm recorded instances, launches up to maxvCpus with a boot delay, idle scale-down); the provisioner core was not used");
  }
}

int replay_simulate(const struct replay_sim_input *in, json_t **report, char *err, size_t errlen) {
  *report = NULL;
  struct sim s;
  memset(&s, 0, sizeof s);
  s.in = in;
  s.rec.job_idx = json_object();
  s.rec.inst_idx = json_object();
  s.inst_idx = json_object();
  s.job_idx = json_object();
  s.run_by_name = json_object();
  s.notes = json_array();
  sched_outbox_init(&s.out);
  heap_init(&s.q, sizeof(struct sev), sev_before);
  int rc = -1;
  json_t *config = NULL;
  json_t *subs = json_array(), *scope = json_object();
  int64_t t0, last_sub;
  size_t top = load_scope(&s, subs, scope, &t0, &last_sub);
  if (top == 0) {
    empty_range_error(in, err, errlen);
    rc = 2;
    goto out;
  }
  learn_durations(&s);
  *report = json_object();
  json_object_set_new(*report, "range", json_pack("{s:I, s:I, s:i}", "from", (json_int_t)t0, "until",
                                                  (json_int_t)last_sub, "submissions", (int)top));
  json_object_set_new(*report, "recorded", recorded_outcome(&s, scope, top, t0));
  if ((rc = prepare_config(&s, &config, err, errlen))) goto out;
  replay_build_types(&s);
  if (check_alt_types_complete(&s, err, errlen)) {
    rc = 2;
    goto out;
  }
  setup_ces(&s, config);
  if ((rc = start_cores(&s, config, t0, err, errlen))) goto out;
  warm_fleet(&s, t0);
  queue_requests(&s, subs, scope);
  s.unfinished_top = top;
  replay_push(&s, t0, SEV_TICK, 0, NULL);
  s.last_change = t0;
  run(&s, last_sub);
  json_object_set_new(*report, "simulated", simulated_outcome(&s, top, t0));
  json_object_set_new(*report, "agreement", agreement(&s, top));
  if (in->per_job) json_object_set_new(*report, "jobs", per_job(&s));
  final_notes(&s);
  json_object_set_new(*report, "configuration", in->alt ? json_deep_copy(in->alt) : json_object());
  json_object_set(*report, "notes", s.notes);
  rc = 0;
out:
  if (rc) {
    json_decref(*report);
    *report = NULL;
  }
  json_decref(config);
  json_decref(subs);
  json_decref(scope);
  sim_free(&s);
  return rc;
}

/* ---------------- reading the topics ---------------- */

struct load {
  json_t *arr;    /* events in topic order (requests, job-events, instances) */
  json_t *table;  /* key -> event (config) */
  json_t *keys;   /* key order of the table */
  size_t bad;
  int requests; /* barge.requests: leave out what the scheduler dead-lettered for its time */
  int timed;    /* barge.config, barge.instances: leave out what the scheduler dead-lettered for its time */
};

static void load_cb(void *ctx, const struct bus_msg *m) {
  struct load *l = ctx;
  char key[1024];
  snprintf(key, sizeof key, "%.*s", (int)(m->keylen < 1000 ? m->keylen : 1000), m->key ? m->key : "");
  if (!m->value) { /* a tombstone: the table forgets the key */
    if (l->table) json_object_del(l->table, key);
    return;
  }
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (bus_decode(m, &t, &ev, why, sizeof why)) {
    l->bad++;
    return;
  }
  /* a request, configuration or instance event the scheduler dead-lettered, for its time (sched_shell.c: fed
   * at that time it would run the simulation's clock 50,000 years on), or a request for its job
   * id (sched_handle_submit): it made no job */
  const char *sub_id = l->requests ? jget_str(json_object_get(json_object_get(ev, "body"), "SubmitJob"), "jobId") : NULL;
  if ((l->requests || l->timed) && bus_event_time_check(ev, m->timestamp_ms, 0, why, sizeof why)) {
    json_decref(ev);
    l->bad++;
    return;
  }
  if (l->requests && json_object_get(json_object_get(ev, "body"), "SubmitJob") && !job_id_ok(sub_id, 0)) {
    json_decref(ev);
    l->bad++;
    return;
  }
  if (l->table) json_object_set_new(l->table, key, ev);
  else json_array_append_new(l->arr, ev);
}

int replay_simulate_run(const struct bus_conf *bc, const char *alt_path, int64_t from_ms,
                        int64_t until_ms, int json, int per_job, const char *capacity_model,
                        FILE *out, char *err, size_t errlen) {
  json_t *alt = NULL;
  if (alt_path) {
    json_error_t je;
    alt = json_load_file(alt_path, 0, &je);
    if (!alt) {
      /* a file that cannot be opened has no line: jansson's own text names the file and why */
      if (je.line > 0) snprintf(err, errlen, "%s: %s (line %d)", alt_path, je.text, je.line);
      else snprintf(err, errlen, "--config: %s", je.text);
      return 2;
    }
  }
  struct load cfg = {.table = json_object(), .timed = 1}, req = {.arr = json_array(), .requests = 1},
              evs = {.arr = json_array()}, ins = {.arr = json_array(), .timed = 1};
  int rc = -1;
  json_t *config = json_array(), *report = NULL;
  struct bus_consumer *c = bus_consumer_new(bc, NULL, 1, err, errlen);
  if (!c) goto out;
  if (bus_read_table(c, TOPIC_CONFIG, load_cb, &cfg, err, errlen) ||
      bus_read_table(c, TOPIC_REQUESTS, load_cb, &req, err, errlen) ||
      bus_read_table(c, TOPIC_JOB_EVENTS, load_cb, &evs, err, errlen) ||
      bus_read_table(c, TOPIC_INSTANCES, load_cb, &ins, err, errlen))
    goto out;
  const char *k;
  json_t *v;
  json_object_foreach(cfg.table, k, v) json_array_append(config, v);
  struct replay_sim_input in = {.config = config,
                                .requests = req.arr,
                                .job_events = evs.arr,
                                .instances = ins.arr,
                                .alt = alt,
                                .from_ms = from_ms,
                                .until_ms = until_ms,
                                .per_job = per_job,
                                .capacity_model = capacity_model};
  rc = replay_simulate(&in, &report, err, errlen);
  if (rc == 0) replay_report_print(report, json, out);
out:
  bus_consumer_free(c);
  json_decref(alt);
  json_decref(cfg.table);
  json_decref(req.arr);
  json_decref(evs.arr);
  json_decref(ins.arr);
  json_decref(config);
  json_decref(report);
  return rc;
}
