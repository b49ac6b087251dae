/* sched_attempt.c: instances and attempts: registration, heartbeats, drains, lost hosts and
 * agent incarnations; an attempt's end and its retry by the retry strategy (T7-T11). Pure (see
 * sched.c). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sched_int.h"
#include "states.h"

/* ---------------- instances ---------------- */

void sched_attach_job(struct sched *s, struct job *j, uint32_t ii) {
  struct instance *in = s->insts[ii];
  j->instance = ii;
  j->inst_prev = SCHED_NONE;
  j->inst_next = in->jobs_head;
  if (in->jobs_head != SCHED_NONE) s->jobs[in->jobs_head]->inst_prev = j->idx;
  in->jobs_head = j->idx;
}

static void detach_job(struct sched *s, struct job *j) {
  struct instance *in = s->insts[j->instance];
  if (j->inst_prev != SCHED_NONE) s->jobs[j->inst_prev]->inst_next = j->inst_next;
  else in->jobs_head = j->inst_next;
  if (j->inst_next != SCHED_NONE) s->jobs[j->inst_next]->inst_prev = j->inst_prev;
  j->inst_prev = j->inst_next = SCHED_NONE;
  j->instance = SCHED_NONE;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* The jobs on instance ii, in ascending job index: the order their ends are written in, as when
 * every job was scanned for them (O(jobs) per lost host; docs/architecture.md, "The
 * scheduler"). NULL when none; else *n of them (@owned result). */
static uint32_t *jobs_on(struct sched *s, uint32_t ii, size_t *n) {
  *n = 0;
  for (uint32_t k = s->insts[ii]->jobs_head; k != SCHED_NONE; k = s->jobs[k]->inst_next) (*n)++;
  if (!*n) return NULL;
  uint32_t *v = xcalloc(*n, sizeof *v), *p = v;
  for (uint32_t k = s->insts[ii]->jobs_head; k != SCHED_NONE; k = s->jobs[k]->inst_next) *p++ = k;
  qsort(v, *n, sizeof *v, cmp_u32);
  return v;
}

static void release_instance(struct sched *s, struct job *j) {
  if (j->instance == SCHED_NONE) return;
  struct instance *in = s->insts[j->instance];
  in->used_v -= j->spec->vcpus;
  in->used_m -= j->spec->mem_mib;
  in->used_g -= j->spec->gpus;
  in->njobs--;
  if (in->njobs == 0) s->demand_dirty = 1; /* the busy set changed */
  if (in->state == INST_READY) {
    s->ces[in->ce]->free_v += j->spec->vcpus;
    /* a candidate again (a no-op if it still was one); by what it holds now, so an instance
     * that held more than it has (restored so) comes back once it has room */
    if (in->cap_v > in->used_v) sched_avail_add(s, s->ces[in->ce], j->instance);
  }
  detach_job(s, j);
  j->incarnation = 0;
  s->cycle_needed = 1;
}

static void on_attempt_end(struct sched *s, struct job *j, int32_t exit_code,
                           const char *status_reason, const char *container_reason,
                           int timed_out, struct outbox *out);

static void maybe_confirm_drain(struct sched *s, struct instance *in, struct outbox *out) {
  if (in->state == INST_DRAINING && in->njobs == 0 && !in->drain_confirmed) {
    in->drain_confirmed = 1;
    struct out_ev *e = sched_out_push(out, OUT_INSTANCE);
    e->inst = (uint32_t)strmap_get(&s->inst_by_id, in->id);
    e->instance_kind = "DRAINED";
    e->at_ms = s->now;
  }
}

/* The instance is gone: every attempt on it ends with the lost-host reason. */
void sched_instance_lost(struct sched *s, uint32_t ii, int emit_lost, struct outbox *out) {
  struct instance *in = s->insts[ii];
  if (in->state == INST_GONE) return;
  sched_ce_unready(s, ii, INST_GONE);
  char reason[128];
  snprintf(reason, sizeof reason, "Host EC2 (instance %s) terminated.", in->id);
  size_t n;
  uint32_t *v = jobs_on(s, ii, &n);
  for (size_t k = 0; k < n && in->njobs > 0; k++) {
    struct job *j = s->jobs[v[k]];
    if (j->instance == ii && (j->status == JOB_STARTING || j->status == JOB_RUNNING))
      on_attempt_end(s, j, NO_EXIT, reason, NULL, 0, out);
  }
  free(v);
  if (emit_lost) {
    struct out_ev *e = sched_out_push(out, OUT_INSTANCE);
    e->inst = ii;
    e->instance_kind = "LOST";
    e->at_ms = s->now;
    e->reason = xstrdup("missed heartbeats");
  }
  /* its capacity counts until its attempts have ended, as the codes they set saw it */
  if (sched_ce_uncount(s, ii)) sched_reevaluate_codes(s, out);
  s->demand_dirty = 1;
}

/* The agent of instance ii restarted (a larger incarnation): the processes of attempts placed
 * on an earlier incarnation are gone with it, so those attempts end as on a lost host and are
 * retried by their rules (docs/architecture.md, "Agent incarnations"). */
void sched_settle_stale_attempts(struct sched *s, uint32_t ii, struct outbox *out) {
  struct instance *in = s->insts[ii];
  if (in->incarnation <= 0 || in->njobs == 0) return;
  char reason[128];
  snprintf(reason, sizeof reason, "Host EC2 (instance %s) terminated.", in->id);
  size_t n;
  uint32_t *v = jobs_on(s, ii, &n);
  for (size_t k = 0; k < n && in->njobs > 0; k++) {
    struct job *j = s->jobs[v[k]];
    if (j->instance == ii && (j->status == JOB_STARTING || j->status == JOB_RUNNING) &&
        j->incarnation > 0 && j->incarnation < in->incarnation)
      on_attempt_end(s, j, NO_EXIT, reason, NULL, 0, out);
  }
  free(v);
}

void sched_end_hostless_attempt(struct sched *s, struct job *j, const char *status_reason, struct outbox *out) {
  if (j->instance != SCHED_NONE || (j->status != JOB_STARTING && j->status != JOB_RUNNING)) return;
  on_attempt_end(s, j, NO_EXIT, status_reason, NULL, 0, out);
}

/* An agent's word carries its incarnation: a larger one than known means the agent restarted. */
static void see_incarnation(struct sched *s, uint32_t ii, int64_t inc, struct outbox *out) {
  struct instance *in = s->insts[ii];
  if (inc <= in->incarnation) return;
  in->incarnation = inc;
  sched_settle_stale_attempts(s, ii, out);
}

int sched_handle_instance(struct sched *s, const json_t *ev, struct outbox *out, char *err,
                           size_t errlen) {
  const char *id = jget_str(ev, "instanceId"), *kind = jget_str(ev, "kind");
  const char *cename = jget_str(ev, "computeEnvironment");
  if (!id || !kind || !cename) {
    snprintf(err, errlen, "InstanceEvent without instanceId, kind or computeEnvironment");
    return -1;
  }
  uint32_t ii = strmap_get(&s->inst_by_id, id);
  struct instance *in = ii == SCHED_NONE ? NULL : s->insts[ii];
  /* a gone instance is forgotten once silent for the gone memory: any word about it, even one
   * ignored below, restarts that (docs/architecture.md, "Gone instances") */
  if (in && in->state == INST_GONE) in->gone_at = s->now;
  if (!strcmp(kind, "HEARTBEAT") && in && in->state == INST_GONE) return 0; /* a late beat from a dead host */
  int64_t inc = jget_int(ev, "incarnation", 0);
  /* an older incarnation's late word: a beat, or its process reporting its stop after the agent
   * restarted, which must not end the instance the new incarnation serves (incarnation 0 is
   * unknown, from the provisioner or an older agent: it is taken as before) */
  if (in && instance_word_stale(in->incarnation, kind, inc)) return 0; /* lib/states.h */
  /* an instance the scheduler does not know: maybe one it forgot (sched_forget_gone), whose
   * late beat or READY must not bring it back; a READY of a newer incarnation, or of none
   * (a driver's), registers it */
  if (!in && (!strcmp(kind, "READY") || !strcmp(kind, "HEARTBEAT")) &&
      sched_maybe_forgotten(s, !strcmp(kind, "HEARTBEAT"), inc)) {
    if (strcmp(kind, "READY")) return 0; /* beats: silently, as any late beat */
    /* dead-lettered with its reason, so that a new agent whose clock is behind by more than
     * the gone memory is found, not left unregistered in silence */
    snprintf(err, errlen,
             "instance %s: READY of incarnation %lld, not above %lld, the largest among the instances the "
             "scheduler has forgotten: taken for a late word of one of them and ignored. If this is a new "
             "agent, its clock is behind: set it right and restart the agent (docs/architecture.md, \"Gone "
             "instances\")",
             id, (long long)inc, (long long)s->forgot_inc);
    return -1;
  }
  if (!strcmp(kind, "READY") || (!strcmp(kind, "HEARTBEAT") && !in)) {
    uint32_t ci = sched_find_ce(s, cename);
    if (ci == SCHED_NONE) {
      snprintf(err, errlen, "instance %s registers with unknown compute environment %s", id, cename);
      return -1;
    }
    long long v = jget_int(ev, "vcpus", 0), m = jget_int(ev, "memoryMib", 0), g = jget_int(ev, "gpus", 0);
    if (v < 0 || m < 0 || g < 0 || v > INST_CAP_MAX || m > INST_CAP_MAX || g > INST_CAP_MAX) {
      /* a rogue or broken agent's word: dead-lettered, never a capacity (docs/job-model.md §4.4) */
      snprintf(err, errlen,
               "instance %s registers with an impossible capacity (vcpus %lld, memoryMib %lld, gpus %lld): each "
               "must be from 0 to %d",
               id, v, m, g, INST_CAP_MAX);
      return -1;
    }
    if (!in) {
      in = xcalloc(1, sizeof *in);
      in->avail_pos = -1;
      in->live_pos = -1; /* sched_ce_register adds it to the live list */
      in->jobs_head = SCHED_NONE;
      in->listed_in = SCHED_NONE; /* sched_ce_register lists it */
      snprintf(in->id, sizeof in->id, "%s", id);
      in->seq = ++s->inst_seq;
      if (s->nfree_insts) { /* a forgotten instance's slot */
        ii = s->free_insts[--s->nfree_insts];
      } else {
        if (s->ninsts == s->capinsts) {
          s->capinsts = s->capinsts ? s->capinsts * 2 : 64;
          s->insts = xrealloc(s->insts, s->capinsts * sizeof *s->insts);
        }
        ii = (uint32_t)s->ninsts++;
      }
      s->insts[ii] = in;
      strmap_put(&s->inst_by_id, in->id, ii);
    } else if (in->state != INST_GONE && !strcmp(kind, "READY")) {
      in->last_seen = s->now;
      see_incarnation(s, ii, inc, out); /* a restarted agent; otherwise a repeated READY */
      return 0;
    }
    in->ce = ci;
    if (s->ces[ci]->launch_refused) {
      s->ces[ci]->launch_refused = 0;
      sched_reevaluate_codes(s, out);
    }
    in->cap_v = (int)jget_int(ev, "vcpus", 0);
    in->cap_m = (int)jget_int(ev, "memoryMib", 0);
    in->cap_g = (int)jget_int(ev, "gpus", 0);
    sched_set_str(&in->type, jget_str(ev, "instanceType"));
    if (jget_str(ev, "privateIpv4Address")) sched_set_str(&in->address, jget_str(ev, "privateIpv4Address"));
    if (in->state == INST_GONE) in->used_v = in->used_m = in->used_g = in->njobs = 0;
    in->state = INST_READY;
    in->drain_confirmed = 0;
    in->last_seen = s->now;
    if (inc > in->incarnation) in->incarnation = inc;
    if (sched_ce_register(s, ii)) sched_reevaluate_codes(s, out);
    s->cycle_needed = 1;
    s->demand_dirty = 1;
    return 0;
  }
  if (!strcmp(kind, "LAUNCH_FAILED") || !strcmp(kind, "LAUNCHING")) {
    /* the provider refused (or accepted) a launch for this CE: CAPACITY code */
    uint32_t ci = sched_find_ce(s, cename);
    int refused = !strcmp(kind, "LAUNCH_FAILED");
    if (ci != SCHED_NONE && refused) {
      /* what the CAPACITY code's wording and its JobWait name */
      struct ce *c = s->ces[ci];
      const char *type = jget_str(ev, "instanceType"), *why = jget_str(ev, "reason");
      if (strcmp(c->refused_type, type ? type : "")) c->launch_refused = -1; /* re-word the code */
      snprintf(c->refused_type, sizeof c->refused_type, "%s", type ? type : "");
      snprintf(c->refused_why, sizeof c->refused_why, "%s", why ? why : "");
    }
    if (ci != SCHED_NONE && s->ces[ci]->launch_refused != refused) {
      s->ces[ci]->launch_refused = refused;
      sched_reevaluate_codes(s, out);
    }
    return 0;
  }
  if (!in) return 0; /* news about an instance the scheduler never saw: nothing to do */
  if (!strcmp(kind, "HEARTBEAT")) {
    in->last_seen = s->now;
    see_incarnation(s, ii, inc, out);
  } else if (!strcmp(kind, "DRAIN_REQUESTED")) {
    if (in->state == INST_READY) sched_ce_unready(s, ii, INST_DRAINING);
    maybe_confirm_drain(s, in, out);
  } else if (instance_kind_ended(kind)) {
    sched_instance_lost(s, ii, 0, out);
  }
  return 0;
}

/* ---------------- attempts (T6-T11) ---------------- */

static void close_attempt(struct sched *s, struct job *j, int32_t exit_code,
                          const char *status_reason, const char *container_reason) {
  j->attempts = xrealloc(j->attempts, (size_t)(j->nattempts + 1) * sizeof *j->attempts);
  struct attempt *a = &j->attempts[j->nattempts++];
  memset(a, 0, sizeof *a);
  if (j->instance != SCHED_NONE) {
    snprintf(a->instance_id, sizeof a->instance_id, "%s", s->insts[j->instance]->id);
    a->ce = s->insts[j->instance]->ce;
  } else {
    a->ce = SCHED_NONE;
  }
  sched_task_id(j, j->attempt, a->task_id);
  a->exit_code = exit_code;
  a->container_reason = sched_dupn(container_reason);
  a->status_reason = sched_dupn(status_reason);
  a->started_at = j->attempt_started_at;
  a->stopped_at = s->now;
}

/* Decides retry or failure by the retry strategy: rules in order, first match. */
static int should_retry(const struct job *j, int32_t exit_code, const char *status_reason,
                        const char *container_reason) {
  const struct retry *r = &j->spec->retry;
  int left = j->attempt < r->attempts;
  char code[16];
  if (exit_code != NO_EXIT) snprintf(code, sizeof code, "%d", exit_code);
  for (int i = 0; i < r->nrules; i++) {
    const struct retry_rule *x = &r->rules[i];
    if (x->on_status_reason && !prefix_glob_match(x->on_status_reason, status_reason ? status_reason : NULL)) continue;
    if (x->on_reason && !prefix_glob_match(x->on_reason, container_reason)) continue;
    if (x->on_exit_code && (exit_code == NO_EXIT || !prefix_glob_match(x->on_exit_code, code))) continue;
    return x->retry && left;
  }
  return left;
}

static void on_attempt_end(struct sched *s, struct job *j, int32_t exit_code,
                           const char *status_reason, const char *container_reason,
                           int timed_out, struct outbox *out) {
  uint32_t inst = j->instance;
  j->exit_code = exit_code;
  sched_set_str(&j->container_reason, container_reason);
  close_attempt(s, j, exit_code, status_reason, container_reason);
  release_instance(s, j);
  if (inst != SCHED_NONE) maybe_confirm_drain(s, s->insts[inst], out);
  if (j->stopping || j->terminated) {
    char r[SCHED_STOP_REASON_BUF];
    snprintf(r, sizeof r, "Terminated: %s", j->stop_reason ? j->stop_reason : "");
    j->stopping = 0;
    sched_fail_job(s, j, r, out); /* T14 */
  } else if (timed_out) {
    j->timed_out = 1;
    sched_fail_job(s, j, status_reason, out); /* T11: never retried */
  } else if (exit_code == 0) {
    sched_set_status(s, j, JOB_SUCCEEDED, status_reason, out); /* T8 */
    sched_job_terminal(s, j, out);
  } else if (should_retry(j, exit_code, status_reason, container_reason)) {
    j->retried = 1;
    j->queue_seq = ++s->retry_seq;
    sched_set_status(s, j, JOB_RUNNABLE, status_reason, out); /* T9 */
  } else {
    sched_fail_job(s, j, status_reason, out); /* T10 */
  }
}

int sched_handle_execution(struct sched *s, const json_t *ev, struct outbox *out, char *err,
                            size_t errlen) {
  const char *id = jget_str(ev, "jobId"), *kind = jget_str(ev, "kind");
  int attempt = (int)jget_int(ev, "attempt", 0);
  if (!id || !kind) {
    snprintf(err, errlen, "ExecutionReport without jobId or kind");
    return -1;
  }
  uint32_t ji = sched_find_job(s, id);
  if (ji == SCHED_NONE) return 0;
  struct job *j = s->jobs[ji];
  /* facts about an attempt that is no longer the live one are stale: ignore them */
  if (attempt != j->attempt || (j->status != JOB_STARTING && j->status != JOB_RUNNING)) return 0;
  const char *inst = jget_str(ev, "instanceId");
  if (j->instance != SCHED_NONE && inst && strcmp(inst, s->insts[j->instance]->id)) return 0;
  int64_t inc = jget_int(ev, "incarnation", 0);
  if (inc > 0 && j->incarnation > 0 && inc != j->incarnation) return 0; /* another agent incarnation */
  json_t *ec = json_object_get(ev, "exitCode");
  int32_t code = json_is_integer(ec) ? (int32_t)json_integer_value(ec) : NO_EXIT;
  const char *lp = jget_str(ev, "logPath");
  if (lp) sched_set_str(&j->log_path, lp);
  /* an end report with startedAt stands for the STARTED report too: the agent saw the process
   * start and end at once and wrote one record (docs/architecture.md, "Throughput") */
  int started = !strcmp(kind, "STARTED") ||
                (strcmp(kind, "FAILED_TO_START") && json_is_integer(json_object_get(ev, "startedAt")));
  if (started && j->status == JOB_STARTING) {
    j->started_at = s->now;
    j->attempt_started_at = s->now;
    sched_set_status(s, j, JOB_RUNNING, NULL, out); /* T7 */
  }
  if (!strcmp(kind, "STARTED")) {
    /* done above */
  } else if (!strcmp(kind, "EXITED") || !strcmp(kind, "KILLED")) {
    /* an OOM kill names itself in both reasons, as AWS Batch does (docs/containers.md); so does
     * an attempt the agent stopped because its log could not be written (a full disk) */
    const char *r = jget_str(ev, "reason");
    int named = r && (!strncmp(r, "OutOfMemoryError", 16) || !strncmp(r, "CannotWriteLogError", 19));
    on_attempt_end(s, j, code, named ? r : "Essential container in task exited", named ? r : NULL, 0, out);
  } else if (!strcmp(kind, "FAILED_TO_START")) {
    const char *r = jget_str(ev, "reason");
    on_attempt_end(s, j, NO_EXIT, r ? r : "CannotStartContainerError: unknown",
                   "Task failed to start", 0, out);
  } else if (!strcmp(kind, "TIMED_OUT")) {
    on_attempt_end(s, j, code, "Job attempt duration exceeded timeout", NULL, 1, out);
  } else {
    snprintf(err, errlen, "unknown execution kind %s", kind);
    return -1;
  }
  return 0;
}

