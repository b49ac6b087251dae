/* sched_submit.c: a job's way to RUNNABLE and its ends: status changes and their events,
 * dependencies (T2-T5), submission of single and array jobs (T1), cancel and terminate
 * (T12-T14). Pure (see sched.c). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sched_int.h"

/* AWS Batch's limit on dependsOn entries (producers/aws/control_job.c refuses more too) */
#define SCHED_MAX_DEPENDS_ON 20

/* A name as a rejection records it: at most 128 bytes (AWS Batch's longest), cut at a UTF-8
 * character boundary, so that a direct producer's oversized jobName cannot make the rejection's
 * own records too large. */
#define SCHED_MAX_NAME_BYTES 128

/* AWS Batch's limit on a CancelJob or TerminateJob reason; a longer one is cut (sched_stop_job) */
#define SCHED_MAX_STOP_REASON_CHARS 1024

/* ---------------- state changes ---------------- */

static void update_parent(struct sched *s, struct job *child, int old_st, struct outbox *out);

/* Moves a job to a new status with a reason, recording the event and the job's record. */
void sched_set_status(struct sched *s, struct job *j, int st, const char *reason,
                       struct outbox *out) {
  int old = j->status;
  if (old == st && (!reason || (j->status_reason && !strcmp(reason, j->status_reason)))) return;
  if (old == JOB_RUNNABLE && st != JOB_RUNNABLE) sched_rq_unlink(s, j);
  sched_set_str(&j->status_reason, reason);
  if (old != st) sched_share_track(s, j, old, st);
  j->status = (uint8_t)st;
  if (sched_terminal(st)) j->stopped_at = s->now;
  if (old != st) {
    struct out_ev *e = sched_out_push(out, OUT_STATE_CHANGE);
    e->job = j->idx;
    e->old_status = (uint8_t)old;
    e->new_status = (uint8_t)st;
    e->attempt = j->attempt;
    e->at_ms = s->now;
    e->reason = sched_dupn(reason);
    e->exit_code = j->exit_code;
    e->inst = j->instance;
    if (st == JOB_RUNNABLE) {
      sched_enqueue(s, j);
      s->cycle_needed = 1;
      s->demand_dirty = 1;
    }
    if (old == JOB_RUNNABLE) s->demand_dirty = 1;
    if (j->parent != SCHED_NONE) update_parent(s, j, old, out);
  }
  sched_mark_dirty(s, j);
}


static void update_parent(struct sched *s, struct job *child, int old_st, struct outbox *out) {
  struct job *p = s->jobs[child->parent];
  if (p->mnp) {
    sched_gang_node_changed(s, child, old_st, out);
    return;
  }
  struct array_info *a = p->arr;
  if (!a) return;
  a->counts[old_st]--;
  a->counts[child->status]++;
  a->summary_at = s->now;
  if (child->started_at && (!p->started_at || child->started_at < p->started_at))
    p->started_at = child->started_at;
  sched_mark_dirty(s, p);
  if (!sched_terminal(p->status) && a->counts[JOB_SUCCEEDED] + a->counts[JOB_FAILED] == a->size) {
    if (a->counts[JOB_FAILED] == 0) {
      /* every child ran to success: a cancel of the parent reached only running children,
       * which it leaves alone, so it took no effect (docs/job-model.md §7.1) */
      p->cancelled = 0;
      sched_set_status(s, p, JOB_SUCCEEDED, NULL, out);
    } else sched_set_status(s, p, JOB_FAILED, p->stop_reason ? p->stop_reason : NULL, out);
    sched_job_terminal(s, p, out);
  }
}

void sched_fail_job(struct sched *s, struct job *j, const char *reason, struct outbox *out) {
  sched_set_status(s, j, JOB_FAILED, reason, out);
  sched_job_terminal(s, j, out);
}

static void make_runnable_or_stop(struct sched *s, struct job *j, struct outbox *out);

static void notify_dependents(struct sched *s, struct job *j, struct outbox *out);

/* A job reached SUCCEEDED or FAILED: its dependents learn about it. A dependent that fails or
 * is stopped in turn goes on the same list: the outermost call works through it, so a chain of
 * any length costs no stack. */
void sched_job_terminal(struct sched *s, struct job *j, struct outbox *out) {
  if (j->mnp) sched_gang_parent_ended(s, j, out);
  if (!j->ndependents) return;
  if (s->nended == s->capended) {
    s->capended = s->capended ? s->capended * 2 : 64;
    s->ended = xrealloc(s->ended, s->capended * sizeof *s->ended);
  }
  s->ended[s->nended++] = j->idx;
  if (s->notifying) return;
  s->notifying = 1;
  while (s->nended > 0) notify_dependents(s, s->jobs[s->ended[--s->nended]], out);
  s->notifying = 0;
}

static void notify_dependents(struct sched *s, struct job *j, struct outbox *out) {
  for (uint32_t k = 0; k < j->ndependents; k++) {
    struct job *d = s->jobs[j->dependents[k]];
    if (d->status != JOB_PENDING) continue;
    if (d->deps_left > 0) d->deps_left--;
    if (j->status == JOB_FAILED && !d->pending_stop) {
      char reason[128];
      snprintf(reason, sizeof reason, "Dependent job %s failed", j->id);
      sched_fail_job(s, d, reason, out); /* T5, cascades */
    } else if (d->deps_left == 0) {
      make_runnable_or_stop(s, d, out);
    } else if (d->status_reason && !strncmp(d->status_reason, "WAITING:DEPENDENCY", 18)) {
      char why[160];
      if (sched_dep_reason(s, d, why, sizeof why)) sched_set_wait(s, d, why, NULL, out);
    }
  }
}

/* Every dependency of a PENDING job is terminal: a pending cancel/terminate wins (T13);
 * otherwise a failed dependency fails it (T5), or it becomes RUNNABLE (T4). */
static void make_runnable_or_stop(struct sched *s, struct job *j, struct outbox *out) {
  if (j->pending_stop) {
    char reason[1100];
    snprintf(reason, sizeof reason, "%s: %s", j->pending_stop == 2 ? "Terminated" : "Cancelled",
             j->stop_reason ? j->stop_reason : "");
    if (j->pending_stop == 2) j->terminated = 1;
    else j->cancelled = 1;
    sched_fail_job(s, j, reason, out);
    return;
  }
  for (uint16_t k = 0; k < j->ndeps; k++) {
    struct job *d = s->jobs[j->deps[k]];
    if (d->status == JOB_FAILED) {
      char reason[128];
      snprintf(reason, sizeof reason, "Dependent job %s failed", d->id);
      sched_fail_job(s, j, reason, out);
      return;
    }
  }
  sched_set_status(s, j, JOB_RUNNABLE, NULL, out);
}

/* Evaluates a newly SUBMITTED (or spawned PENDING) job's dependencies: T2/T3/T5. */
static void evaluate_deps(struct sched *s, struct job *j, struct outbox *out) {
  int left = 0;
  struct job *failed = NULL;
  for (uint16_t k = 0; k < j->ndeps; k++) {
    struct job *d = s->jobs[j->deps[k]];
    if (d->status == JOB_FAILED && !failed) failed = d;
    if (d->status != JOB_SUCCEEDED) {
      left++;
      if (!sched_terminal(d->status)) sched_add_dependent(s, d, j->idx);
    }
  }
  j->deps_left = (uint16_t)left;
  if (failed) {
    /* Barge decision: T2 then T5 at once */
    if (j->status == JOB_SUBMITTED) sched_set_status(s, j, JOB_PENDING, NULL, out);
    char reason[128];
    snprintf(reason, sizeof reason, "Dependent job %s failed", failed->id);
    sched_fail_job(s, j, reason, out);
    return;
  }
  if (left == 0) {
    sched_set_status(s, j, JOB_RUNNABLE, NULL, out);
    return;
  }
  /* the dependency it waits for is its statusReason (sched_wait.c); a spawned array child's
   * record carries it without a JobWait of its own */
  char why[160];
  if (!sched_dep_reason(s, j, why, sizeof why)) return;
  if (j->status != JOB_PENDING) {
    sched_set_status(s, j, JOB_PENDING, why, out);
  } else {
    sched_set_str(&j->status_reason, why);
    sched_mark_dirty(s, j);
  }
}


/* ---------------- submission (T1-T3) ---------------- */

static void add_env(json_t *env, const char *name, const char *value) {
  size_t i;
  json_t *e;
  json_array_foreach(env, i, e) {
    if (!strcmp(jget_str(e, "name"), name)) {
      json_object_set_new(e, "value", json_string(value));
      return;
    }
  }
  json_array_append_new(env, json_pack("{s:s, s:s}", "name", name, "value", value));
}

/* Replaces command elements equal to "Ref::key" with the parameter's value. */
void sched_substitute(json_t *command, const json_t *params) {
  size_t i;
  json_t *a;
  json_array_foreach(command, i, a) {
    const char *s = json_string_value(a);
    if (s && !strncmp(s, "Ref::", 5)) {
      const char *v = json_string_value(json_object_get(params, s + 5));
      if (v) json_array_set_new(command, i, json_string(v));
    }
  }
}

int sched_apply_overrides(json_t *container, const json_t *ov, const char *what, char *err,
                          size_t errlen) {
  json_t *cmd = json_object_get(ov, "command");
  if (json_is_array(cmd)) json_object_set(container, "command", cmd);
  json_t *env = json_object_get(ov, "environment");
  size_t i;
  json_t *e;
  json_array_foreach(env, i, e) {
    const char *n = jget_str(e, "name");
    if (!n) continue;
    if (!strncmp(n, "AWS_BATCH", 9)) {
      snprintf(err, errlen, "%s.environment: %s: names starting AWS_BATCH are reserved", what, n);
      return -1;
    }
    add_env(json_object_get(container, "environment"), n, jget_str(e, "value") ? jget_str(e, "value") : "");
  }
  json_t *rr = json_object_get(ov, "resourceRequirements");
  json_array_foreach(rr, i, e) {
    const char *t = jget_str(e, "type");
    json_t *arr = json_object_get(container, "resourceRequirements");
    size_t k;
    json_t *x;
    int found = 0;
    json_array_foreach(arr, k, x) if (t && !strcmp(jget_str(x, "type"), t)) {
      json_object_set(x, "value", json_object_get(e, "value"));
      found = 1;
    }
    if (!found) json_array_append(arr, e);
  }
  json_t *v;
  if (json_is_integer(v = json_object_get(ov, "vcpus"))) json_object_set(container, "vcpus", v);
  if (json_is_integer(v = json_object_get(ov, "memory"))) json_object_set(container, "memory", v);
  return 0;
}

/* A submission's retryStrategy outside AWS Batch's bounds (docs/job-model.md §5.4), as the
 * producers refuse it (producers/aws/control_jd.c); a direct producer skips their checks, and
 * rules past the 5th were dropped silently, any action but RETRY taken as EXIT. 1 with why. */
static int retry_refused(const json_t *rs, char *err, size_t errlen) {
  json_t *a = json_object_get(rs, "attempts"), *rules = json_object_get(rs, "evaluateOnExit");
  if (json_is_null(a)) a = NULL; /* as absent (bus_decode drops nulls; a caller of the core may not) */
  if (a && (!json_is_integer(a) || json_integer_value(a) < 1 || json_integer_value(a) > 10)) {
    snprintf(err, errlen, "retryStrategy.attempts must be from 1 to 10");
    return 1;
  }
  if (json_array_size(rules) > MAX_RULES) {
    snprintf(err, errlen, "retryStrategy.evaluateOnExit takes at most %d rules", MAX_RULES);
    return 1;
  }
  if (json_array_size(rules) && !a) {
    snprintf(err, errlen, "retryStrategy.evaluateOnExit needs retryStrategy.attempts");
    return 1;
  }
  size_t i;
  json_t *r;
  json_array_foreach(rules, i, r) {
    const char *act = jget_str(r, "action");
    if (!act || (strcasecmp(act, "RETRY") && strcasecmp(act, "EXIT"))) {
      snprintf(err, errlen, "retryStrategy.evaluateOnExit[%zu].action must be RETRY or EXIT", i);
      return 1;
    }
  }
  return 0;
}

/* Builds the effective container and parameters of a submission. */
static int build_spec(struct sched *s, struct spec *sp, const json_t *sub, char *err,
                      size_t errlen) {
  struct jobdef *d = sp->jd;
  json_t *params = json_object_get(sub, "parameters");
  json_t *ov = json_object_get(sub, "containerOverrides");
  int own = json_object_size(params) > 0 || json_is_object(ov);
  if (!own) {
    /* nothing job-specific: share the job definition's effective container (memory: a
     * million queued jobs must stay within 1 KiB each) */
    sp->params = json_incref(d->params);
    sp->container = json_incref(d->container_subst);
  } else {
    sp->params = json_deep_copy(d->params);
    if (json_is_object(params)) json_object_update(sp->params, params);
    sp->container = json_deep_copy(d->container);
  }
  if (json_is_object(ov) && sched_apply_overrides(sp->container, ov, "containerOverrides", err, errlen)) return -1;
  if (own) sched_substitute(json_object_get(sp->container, "command"), sp->params);
  sched_resources(sp->container, &sp->vcpus, &sp->mem_mib, &sp->gpus);
  if (sp->vcpus < 1 || sp->mem_mib < 4) {
    snprintf(err, errlen, "the job needs VCPU >= 1 and MEMORY >= 4 (MiB) from its job definition or containerOverrides");
    return -1;
  }
  json_t *rs = json_object_get(sub, "retryStrategy");
  if (json_is_object(rs) && retry_refused(rs, err, errlen)) return -1;
  if (json_is_object(rs)) sp->retry_json = json_deep_copy(rs);
  else if (d->retry_json) sp->retry_json = json_incref(d->retry_json);
  sched_parse_retry(sp->retry_json, &sp->retry);
  json_t *to = json_object_get(sub, "timeout");
  /* the bounds the producers check (docs/job-model.md §6.1), for a direct producer: a duration
   * below 1 s was taken as no timeout */
  json_t *ads = json_object_get(to, "attemptDurationSeconds");
  if (ads && !json_is_null(ads) &&
      (!json_is_integer(ads) || json_integer_value(ads) < 1 || json_integer_value(ads) > INT_MAX)) {
    snprintf(err, errlen, "timeout.attemptDurationSeconds must be at least 1");
    return -1;
  }
  sp->timeout_s = json_is_object(to) ? (int)jget_int(to, "attemptDurationSeconds", 0) : d->timeout_s;
  sp->share_id = sched_dupn(jget_str(sub, "shareIdentifier"));
  json_t *spo = json_object_get(sub, "schedulingPriorityOverride");
  if (spo && !json_is_null(spo) &&
      (!json_is_integer(spo) || json_integer_value(spo) < 0 || json_integer_value(spo) > 9999)) {
    snprintf(err, errlen, "schedulingPriorityOverride must be from 0 to 9999");
    return -1;
  }
  sp->sched_prio = json_is_integer(spo) ? (int)json_integer_value(spo) : d->sched_prio;
  json_t *tags = json_object_get(sub, "tags");
  sp->tags = json_object_size(tags) ? json_deep_copy(tags) : NULL;
  sp->arn_prefix = sched_arn_prefix(jget_str(sub, "jobArn"));
  json_t *pt = json_object_get(sub, "propagateTags");
  sp->propagate_tags = json_is_boolean(pt) ? json_is_true(pt)
                                           : json_is_true(json_object_get(d->body, "propagateTags"));
  if (sp->propagate_tags) {
    /* AWS: "If the total number of combined tags from the job and job definition is over 50,
     * the job is moved to the FAILED state." (equal keys count once, the job's winning) */
    json_t *all = sched_propagated_tags(sp);
    size_t n = json_object_size(all);
    json_decref(all);
    if (n > 50) {
      snprintf(err, errlen, "propagateTags: the job's and its job definition's tags together are %zu tags, more than the 50 a job may propagate", n);
      return -1;
    }
  }
  json_t *deps = json_object_get(sub, "dependsOn");
  sp->depends_on = json_array_size(deps) ? json_deep_copy(deps) : NULL;
  (void)s;
  return 0;
}

/* A copy of s of at most max bytes, cut at a UTF-8 character boundary. */
static char *utf8_cut(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n > max) {
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--; /* s[n] starts a character */
  }
  char *out = xmalloc(n + 1);
  memcpy(out, s, n);
  out[n] = 0;
  return out;
}

static size_t json_bytes(const json_t *v) { return v ? json_dumpb(v, NULL, 0, JSON_COMPACT) : 0; }

/* A job sharing its job definition's container and parameters (no parameters or overrides of
 * its own, the common case) costs no serialisation. */
size_t sched_spec_bytes(const struct spec *sp, const struct jobdef *d) {
  size_t n = strlen(sp->name) + json_bytes(sp->tags) + json_bytes(sp->depends_on);
  if (sp->container == d->container_subst && sp->params == d->params) return n + d->own_bytes;
  return n + json_bytes(sp->container) + json_bytes(sp->params);
}

/* Marks a submission that cannot run as FAILED at once, so its submitter sees why. Its record
 * names the job definition when the submission's resolves to one (DescribeJobs shows it). */
static void reject_job(struct sched *s, const char *id, const json_t *sub, const char *why,
                       struct outbox *out) {
  struct job *j = sched_job_new(s, id);
  struct spec *sp = sched_spec_new();
  sp->name = utf8_cut(jget_str(sub, "jobName") ? jget_str(sub, "jobName") : "unknown", SCHED_MAX_NAME_BYTES);
  sp->jd = sched_find_jd(s, jget_str(sub, "jobDefinition"));
  j->spec = sp;
  j->created_at = s->now;
  j->queue = sched_find_queue(s, jget_str(sub, "jobQueue"));
  j->status = JOB_SUBMITTED;
  char reason[600];
  snprintf(reason, sizeof reason, "ClientException: %s", why);
  /* why quotes the request (a name) and may have been cut in the middle of a character: a
   * reason that is not UTF-8 made the job's record unreadable (DescribeJobs did not show it) */
  utf8_fix(reason);
  sched_fail_job(s, j, reason, out);
  struct out_ev *e = sched_out_push(out, OUT_REJECT);
  e->job = j->idx;
  e->reason = xstrdup(reason);
}

int sched_handle_submit(struct sched *s, const json_t *sub, struct outbox *out, char *err,
                         size_t errlen) {
  const char *id = jget_str(sub, "jobId");
  if (!job_id_ok(id, 0)) {
    snprintf(err, errlen,
             "SubmitJob with jobId '%.60s': a job id is 1 to 40 of [A-Za-z0-9._-], not starting with '.' (a UUID "
             "fits; docs/publishing.md)",
             id ? id : "(none)");
    return -1;
  }
  if (sched_find_job(s, id) != SCHED_NONE) return 0; /* a duplicate delivery: idempotent */
  char why[512];
  uint32_t qi = sched_find_queue(s, jget_str(sub, "jobQueue"));
  struct jobdef *d = sched_find_jd(s, jget_str(sub, "jobDefinition"));
  if (qi == SCHED_NONE) {
    snprintf(why, sizeof why, "job queue %s does not exist", jget_str(sub, "jobQueue"));
    reject_job(s, id, sub, why, out);
    return 0;
  }
  if (!s->queues[qi]->enabled) {
    snprintf(why, sizeof why, "job queue %s is DISABLED", s->queues[qi]->name);
    reject_job(s, id, sub, why, out);
    return 0;
  }
  if (!d || !d->active) {
    snprintf(why, sizeof why, "job definition %s does not exist or is INACTIVE",
             jget_str(sub, "jobDefinition"));
    reject_job(s, id, sub, why, out);
    return 0;
  }
  struct spec *sp = sched_spec_new();
  sp->name = xstrdup(jget_str(sub, "jobName") ? jget_str(sub, "jobName") : "job");
  sp->jd = d;
  if (build_spec(s, sp, sub, why, sizeof why)) {
    sched_spec_unref(sp);
    reject_job(s, id, sub, why, out);
    return 0;
  }
  size_t bytes = sched_spec_bytes(sp, d);
  if (bytes > SCHED_MAX_JOB_BYTES) {
    snprintf(why, sizeof why,
             "the job's name, container (its parameters substituted), parameters, tags and dependsOn come to %zu "
             "bytes; a job may hold at most %d (every record about it carries them)",
             bytes, SCHED_MAX_JOB_BYTES);
    sched_spec_unref(sp);
    reject_job(s, id, sub, why, out);
    return 0;
  }
  /* dependencies */
  json_t *deps = sp->depends_on;
  size_t nd = json_array_size(deps); /* NULL when there are none */
  int size = (int)jget_int(json_object_get(sub, "arrayProperties"), "size", 0);
  if (json_object_get(sub, "arrayProperties") && (size < 2 || size > s->conf.max_array_size)) {
    snprintf(why, sizeof why, "arrayProperties.size must be between 2 and %d", s->conf.max_array_size);
    sched_spec_unref(sp);
    reject_job(s, id, sub, why, out);
    return 0;
  }
  /* AWS Batch takes at most 20; the producers refuse more, a direct producer may write more
   * (docs/publishing.md): refuse the job rather than run it before its 21st dependency ends */
  if (nd > SCHED_MAX_DEPENDS_ON) {
    snprintf(why, sizeof why, "dependsOn takes at most %d jobs (this request names %zu)", SCHED_MAX_DEPENDS_ON, nd);
    goto reject;
  }
  uint32_t plain[SCHED_MAX_DEPENDS_ON];
  int nplain = 0, seq = 0;
  uint32_t n2n[SCHED_MAX_DEPENDS_ON];
  int nn2n = 0;
  for (size_t k = 0; k < nd; k++) {
    json_t *e = json_array_get(deps, k);
    const char *did = jget_str(e, "jobId"), *type = jget_str(e, "type");
    /* as the producers refuse them (producers/aws/control_job.c, docs/job-model.md §6.2): a
     * direct producer's SEQUENTIAL naming a job, or an unknown type, ran as a plain dependency */
    if (type && strcmp(type, "N_TO_N") && strcmp(type, "SEQUENTIAL")) {
      snprintf(why, sizeof why, "dependsOn[%zu].type must be N_TO_N or SEQUENTIAL", k);
      goto reject;
    }
    if (type && !strcmp(type, "SEQUENTIAL")) {
      if (did || !size) {
        snprintf(why, sizeof why, "dependsOn[%zu]: SEQUENTIAL takes no jobId and applies to array jobs only", k);
        goto reject;
      }
      seq = 1;
      continue;
    }
    uint32_t di = did ? sched_find_job(s, did) : SCHED_NONE;
    if (di == SCHED_NONE) {
      snprintf(why, sizeof why, "dependsOn: job %s does not exist", did ? did : "(no jobId)");
      goto reject;
    }
    struct job *dj = s->jobs[di];
    if (type && !strcmp(type, "N_TO_N") && size && dj->arr) {
      if (dj->arr->size != size) {
        snprintf(why, sizeof why, "dependsOn: N_TO_N target %s has size %d, this array has %d: " N_TO_N_SIZE_HINT,
                 did, dj->arr->size, size);
        goto reject;
      }
      n2n[nn2n++] = di;
    } else {
      plain[nplain++] = di;
    }
  }
  /* as the producers check it (control_job.c, docs/job-model.md §6.1), for a direct producer */
  if (sched_fair_queue(s->queues[qi]) != (sp->share_id != NULL)) {
    snprintf(why, sizeof why, sp->share_id ? "shareIdentifier is not allowed on FIFO job queue %s"
                                           : "shareIdentifier is required on fair-share job queue %s",
             s->queues[qi]->name);
    goto reject;
  }
  if (sched_fair_queue(s->queues[qi]) && !sched_share_admits(s, s->queues[qi], sp->share_id)) {
    snprintf(why, sizeof why,
             "job queue %s already has %d active shares, the most a fair-share queue takes; shareIdentifier %.128s "
             "would add another (a share is active while it has a job that has not ended, and shareDecaySeconds "
             "after)",
             s->queues[qi]->name, s->conf.max_active_shares, sp->share_id ? sp->share_id : "");
    goto reject;
  }
  struct job *j = sched_job_new(s, id);
  j->spec = sp;
  j->queue = qi;
  j->created_at = s->now;
  j->queue_seq = ++s->seq;
  j->status = JOB_SUBMITTED;
  if (sched_fair_queue(s->queues[qi])) j->share = sched_share_of(s->queues[qi], sp->share_id);
  if (d->nodes && !size) sched_gang_spawn(s, j, sub); /* arrays of them are refused by the producer */
  if (!size) sched_share_track(s, j, JOB__COUNT, JOB_SUBMITTED);
  sched_mark_dirty(s, j);
  if (!size) {
    j->deps = nplain ? xmalloc((size_t)nplain * sizeof *j->deps) : NULL;
    for (int k = 0; k < nplain; k++) j->deps[k] = plain[k];
    j->ndeps = (uint16_t)nplain;
    evaluate_deps(s, j, out);
    return 0;
  }
  /* an array parent: PENDING at spawn, children spawned directly in PENDING */
  j->arr = xcalloc(1, sizeof *j->arr);
  j->arr->size = size;
  j->arr->first_child = (uint32_t)s->njobs;
  j->arr->summary_at = s->now;
  sched_set_status(s, j, JOB_PENDING, NULL, out);
  j->arr->counts[JOB_PENDING] = size;
  for (int i = 0; i < size; i++) {
    char cid[64];
    snprintf(cid, sizeof cid, "%s:%d", id, i);
    struct job *c = sched_child_new(s, j, cid, sp);
    c->index = i;
    int n = nplain + nn2n + (seq && i > 0);
    c->deps = n ? xmalloc((size_t)n * sizeof *c->deps) : NULL;
    for (int k = 0; k < nplain; k++) c->deps[c->ndeps++] = plain[k];
    for (int k = 0; k < nn2n; k++) c->deps[c->ndeps++] = s->jobs[n2n[k]]->arr->first_child + (uint32_t)i;
    if (seq && i > 0) c->deps[c->ndeps++] = c->idx - 1;
    sched_mark_dirty(s, c);
  }
  for (int i = 0; i < size; i++) evaluate_deps(s, s->jobs[j->arr->first_child + (uint32_t)i], out);
  return 0;
reject:
  sched_spec_unref(sp);
  reject_job(s, id, sub, why, out);
  return 0;
}

/* ---------------- cancel / terminate (T12-T14) ---------------- */

static void kill_attempt(struct sched *s, struct job *j, struct outbox *out) {
  if (j->instance == SCHED_NONE) return;
  struct out_ev *e = sched_out_push(out, OUT_KILL);
  e->job = j->idx;
  e->inst = j->instance;
  e->attempt = j->attempt;
  e->at_ms = s->now;
  e->reason = sched_dupn(j->stop_reason);
}

/* Marks a PENDING job that waits for dependencies as stopped (T13) before any job it waits for
 * ends, so that a stop reaching several jobs at once (an array's children, a deleted queue's
 * jobs) gives each its own stop reason rather than "Dependent job ... failed" from one stopped
 * just before it (T13's rule: the stop reason wins). */
static void mark_pending_stop(struct job *j, int terminate, const char *reason) {
  if (j->status != JOB_PENDING || !j->ndeps) return;
  sched_set_str(&j->stop_reason, reason);
  j->pending_stop = terminate ? 2 : 1;
}

/* T12-T14. at_once: a PENDING job fails now instead of when its dependencies have ended (its
 * queue is gone: it has nowhere to become RUNNABLE). */
static void stop_job(struct sched *s, struct job *j, int terminate, const char *reason, int at_once,
                     struct outbox *out) {
  if (sched_terminal(j->status)) return; /* success without effect */
  if (j->arr) {
    sched_set_str(&j->stop_reason, reason);
    if (terminate) j->terminated = 1;
    else j->cancelled = 1;
    /* SEQUENTIAL children wait for their siblings: each is marked before child 0 fails */
    for (int i = 0; i < j->arr->size; i++)
      mark_pending_stop(s->jobs[j->arr->first_child + (uint32_t)i], terminate, reason);
    for (int i = 0; i < j->arr->size; i++)
      stop_job(s, s->jobs[j->arr->first_child + (uint32_t)i], terminate, reason, at_once, out);
    sched_mark_dirty(s, j);
    return;
  }
  if (j->mnp && (j->status == JOB_STARTING || j->status == JOB_RUNNING)) {
    sched_gang_stop(s, j, terminate, reason, out); /* its main node's end decides */
    return;
  }
  char r[SCHED_STOP_REASON_BUF];
  snprintf(r, sizeof r, "%s: %s", terminate ? "Terminated" : "Cancelled", reason);
  switch ((enum job_status)j->status) {
  case JOB_SUBMITTED:
  case JOB_RUNNABLE:
    if (terminate) j->terminated = 1;
    else j->cancelled = 1;
    sched_set_str(&j->stop_reason, reason);
    sched_fail_job(s, j, r, out);
    break;
  case JOB_PENDING:
    j->pending_stop = terminate ? 2 : 1;
    sched_set_str(&j->stop_reason, reason);
    sched_mark_dirty(s, j);
    if (j->deps_left == 0 || at_once) make_runnable_or_stop(s, j, out);
    else {
      /* T13 waits until every dependency is terminal */
      int all_terminal = 1;
      for (uint16_t k = 0; k < j->ndeps; k++)
        if (!sched_terminal(s->jobs[j->deps[k]]->status)) all_terminal = 0;
      if (all_terminal) make_runnable_or_stop(s, j, out);
    }
    break;
  case JOB_STARTING:
  case JOB_RUNNING:
    if (!terminate) break; /* CancelJob leaves started jobs alone */
    if (!j->stopping) {
      j->stopping = 1;
      j->terminated = 1;
      sched_set_str(&j->stop_reason, reason);
      kill_attempt(s, j, out);
      sched_mark_dirty(s, j);
    }
    /* on no known host (restored naming one that is gone; a terminate before the restart is
     * restored as stopping): no agent will report a KILLED, and the job would wait for it for
     * ever; it ends now */
    if (j->instance == SCHED_NONE) {
      snprintf(r, sizeof r, "Terminated: %s", j->stop_reason ? j->stop_reason : reason);
      sched_end_hostless_attempt(s, j, r, out);
    }
    break;
  case JOB_SUCCEEDED:
  case JOB_FAILED:
  case JOB__COUNT:
    break;
  }
}

void sched_stop_job(struct sched *s, struct job *j, int terminate, const char *reason,
                    struct outbox *out) {
  /* AWS Batch takes a reason of at most 1024 characters and the producers refuse longer ones; a
   * direct producer may write any: the reason goes into the job's record and kill command, and
   * one above Kafka's record size stopped the scheduler at every restart */
  size_t n = utf8_prefix_bytes(reason, SCHED_MAX_STOP_REASON_CHARS);
  if (!reason[n]) {
    stop_job(s, j, terminate, reason, 0, out);
    return;
  }
  char *cut = utf8_cut(reason, n); /* its first 1024 characters, as the producers count */
  stop_job(s, j, terminate, cut, 0, out);
  free(cut);
}

void sched_queue_deleted(struct sched *s, uint32_t qi, struct outbox *out) {
  char reason[300];
  snprintf(reason, sizeof reason, "job queue %s was deleted", s->queues[qi]->name);
  /* first every waiting job of the queue is marked, so that one failing below does not fail its
   * dependents of this queue with "Dependent job ... failed" before their turn (T13's rule: the
   * stop reason wins), nor an array parent without a reason */
  for (size_t i = 0; i < s->njobs; i++) {
    struct job *j = s->jobs[i];
    if (j->queue != qi || sched_terminal(j->status)) continue;
    if (j->arr) {
      sched_set_str(&j->stop_reason, reason);
      j->terminated = 1;
    } else {
      mark_pending_stop(j, 1, reason);
    }
  }
  /* then each ends, in job index order (deterministic); children (array, multi-node) are
   * reached through their parent, as TerminateJob reaches them */
  for (size_t i = 0; i < s->njobs; i++) {
    struct job *j = s->jobs[i];
    if (j->queue == qi && j->parent == SCHED_NONE && !sched_terminal(j->status))
      stop_job(s, j, 1, reason, 1, out);
  }
}

int sched_sweep_deleted_queues(struct sched *s, struct outbox *out) {
  int swept = 0;
  for (size_t qi = 0; qi < s->nqueues; qi++) {
    if (!s->queues[qi]->deleted) continue;
    /* a job still to end: not one already being stopped on its agent (nothing new to say) */
    int left = 0;
    for (size_t i = 0; i < s->njobs && !left; i++) {
      const struct job *j = s->jobs[i];
      left = j->queue == qi && !j->arr && !sched_terminal(j->status) &&
             !((j->status == JOB_STARTING || j->status == JOB_RUNNING) && j->stopping);
    }
    if (!left) continue;
    sched_queue_deleted(s, (uint32_t)qi, out);
    swept++;
  }
  return swept;
}
