/* sched.c: the scheduler core's decisions: configuration, submission, dependencies, the
 * dispatch cycle (priority, FIFO, best-fit placement), attempts and retries, cancel and
 * terminate, lost instances, time-limit actions. Pure: no I/O, no clock, no randomness. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "codec.h"
#include "sched_int.h"

static const char *status_names[JOB__COUNT] = {"SUBMITTED", "PENDING",   "RUNNABLE", "STARTING",
                                                "RUNNING",   "SUCCEEDED", "FAILED"};

const char *job_status_name(enum job_status st) {
  return (unsigned)st < JOB__COUNT ? status_names[st] : "UNKNOWN";
}
int job_status_parse(const char *s) {
  for (int i = 0; s && i < JOB__COUNT; i++)
    if (!strcmp(s, status_names[i])) return i;
  return -1;
}

static int terminal(int st) { return st == JOB_SUCCEEDED || st == JOB_FAILED; }

void sched_conf_defaults(struct sched_conf *c) {
  memset(c, 0, sizeof *c);
  c->region = "local";
  c->account = "000000000000";
  c->lost_after_ms = 30000;
  c->reservation_ms = 300000;
  c->kill_grace_ms = 30000;
  c->max_array_size = 10000;
  c->emit_records = 1;
}

/* ---------------- outbox ---------------- */

void sched_outbox_init(struct outbox *o) { memset(o, 0, sizeof *o); }
void sched_outbox_reset(struct outbox *o) {
  for (size_t i = 0; i < o->n; i++) free(o->ev[i].reason);
  o->n = 0;
}
void sched_outbox_release(struct outbox *o) {
  sched_outbox_reset(o);
  free(o->ev);
  sched_outbox_init(o);
}
static struct out_ev *out_push(struct outbox *o, enum out_kind k) {
  if (o->n == o->cap) {
    o->cap = o->cap ? o->cap * 2 : 64;
    o->ev = xrealloc(o->ev, o->cap * sizeof *o->ev);
  }
  struct out_ev *e = &o->ev[o->n++];
  memset(e, 0, sizeof *e);
  e->kind = k;
  e->job = e->inst = e->ce = SCHED_NONE;
  e->exit_code = NO_EXIT;
  return e;
}

/* ---------------- small helpers ---------------- */

static char *dupn(const char *s) { return s ? xstrdup(s) : NULL; }
static void set_str(char **dst, const char *s) {
  if (*dst && s && !strcmp(*dst, s)) return;
  free(*dst);
  *dst = dupn(s);
}
static const char *jstr(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}
static int jint(const json_t *o, const char *k, int def) {
  json_t *v = json_object_get(o, k);
  if (json_is_integer(v)) return (int)json_integer_value(v);
  if (json_is_string(v)) return atoi(json_string_value(v));
  return def;
}
static int64_t jlong(const json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}
/* The single branch of a union value {"Name": value}; NULL if not that shape. */
static const char *union_branch(const json_t *u, json_t **val) {
  if (!json_is_object(u) || json_object_size(u) != 1) return NULL;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)u, k, v) {
    *val = v;
    return k;
  }
  return NULL;
}
static int64_t event_time(const json_t *ev) {
  json_t *h = json_object_get(ev, "header");
  return (int64_t)json_integer_value(json_object_get(h, "event_time"));
}

void sched_arn(const struct sched *s, const char *suffix, char *out, size_t outlen) {
  snprintf(out, outlen, "arn:barge:batch:%s:%s:%s", s->conf.region, s->conf.account, suffix);
}

/* A deterministic UUID v4-shaped task id from the job id and attempt (FNV-1a based). */
void sched_task_id(const struct job *j, int attempt, char out[37]) {
  unsigned char b[16];
  uint64_t h1 = 1469598103934665603ULL, h2 = 0x9e3779b97f4a7c15ULL;
  for (const char *p = j->id; *p; p++) {
    h1 = (h1 ^ (unsigned char)*p) * 1099511628211ULL;
    h2 = (h2 ^ (unsigned char)*p) * 0x100000001b3ULL + 7;
  }
  h1 ^= (uint64_t)attempt * 0xff51afd7ed558ccdULL;
  h2 ^= (uint64_t)attempt * 0xc4ceb9fe1a85ec53ULL;
  h1 ^= h1 >> 33;
  h2 ^= h2 >> 29;
  memcpy(b, &h1, 8);
  memcpy(b + 8, &h2, 8);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
           b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
           b[15]);
}

void sched_parse_retry(const json_t *rs, struct retry *r) {
  memset(r, 0, sizeof *r);
  r->attempts = 1;
  if (!json_is_object(rs)) return;
  json_t *a = json_object_get(rs, "attempts");
  if (json_is_integer(a) && json_integer_value(a) >= 1) r->attempts = (int)json_integer_value(a);
  json_t *rules = json_object_get(rs, "evaluateOnExit");
  size_t i;
  json_t *rule;
  json_array_foreach(rules, i, rule) {
    if (r->nrules >= MAX_RULES) break;
    struct retry_rule *x = &r->rules[r->nrules++];
    x->on_status_reason = dupn(jstr(rule, "onStatusReason"));
    x->on_reason = dupn(jstr(rule, "onReason"));
    x->on_exit_code = dupn(jstr(rule, "onExitCode"));
    const char *act = jstr(rule, "action");
    x->retry = act && !strcasecmp(act, "RETRY");
  }
}

void sched_free_retry(struct retry *r) {
  for (int i = 0; i < r->nrules; i++) {
    free(r->rules[i].on_status_reason);
    free(r->rules[i].on_reason);
    free(r->rules[i].on_exit_code);
  }
  r->nrules = 0;
}

/* vCPU, MiB and GPU of a ContainerDetail: resourceRequirements first, legacy fields after. */
void sched_resources(const json_t *container, int *v, int *m, int *g) {
  *v = *m = *g = 0;
  int hv = 0, hm = 0;
  size_t i;
  json_t *rr;
  json_array_foreach(json_object_get(container, "resourceRequirements"), i, rr) {
    const char *t = jstr(rr, "type"), *val = jstr(rr, "value");
    if (!t || !val) continue;
    if (!strcmp(t, "VCPU")) *v = atoi(val), hv = 1;
    else if (!strcmp(t, "MEMORY")) *m = atoi(val), hm = 1;
    else if (!strcmp(t, "GPU")) *g = atoi(val);
  }
  if (!hv) *v = jint(container, "vcpus", 0);
  if (!hm) *m = jint(container, "memory", 0);
}

struct spec *sched_spec_new(void) {
  struct spec *sp = xcalloc(1, sizeof *sp);
  sp->refs = 1;
  sp->sched_prio = -1;
  return sp;
}

void sched_spec_unref(struct spec *sp) {
  if (!sp || --sp->refs > 0) return;
  free(sp->name);
  json_decref(sp->container);
  json_decref(sp->params);
  json_decref(sp->retry_json);
  sched_free_retry(&sp->retry);
  free(sp->share_id);
  json_decref(sp->tags);
  json_decref(sp->depends_on);
  free(sp);
}

/* ---------------- lookups ---------------- */

static int ref_matches(const char *ref, const char *name, const char *arn) {
  return !strcmp(ref, name) || !strcmp(ref, arn);
}

struct jobdef *sched_find_jd(struct sched *s, const char *ref) {
  if (!ref) return NULL;
  struct jobdef *best = NULL;
  const char *colon = strrchr(ref, ':');
  for (size_t i = 0; i < s->njds; i++) {
    struct jobdef *d = s->jds[i];
    if (!strcmp(ref, d->arn)) return d;
    if (!strcmp(ref, d->name)) {
      if (d->active && (!best || d->revision > best->revision)) best = d;
    } else if (colon && !strncmp(ref, d->name, (size_t)(colon - ref)) &&
               strlen(d->name) == (size_t)(colon - ref) && atoi(colon + 1) == d->revision) {
      return d;
    }
  }
  return best;
}

uint32_t sched_find_queue(struct sched *s, const char *ref) {
  for (size_t i = 0; ref && i < s->nqueues; i++)
    if (!s->queues[i]->deleted && ref_matches(ref, s->queues[i]->name, s->queues[i]->arn))
      return (uint32_t)i;
  return SCHED_NONE;
}

uint32_t sched_find_ce(struct sched *s, const char *ref) {
  for (size_t i = 0; ref && i < s->nces; i++)
    if (ref_matches(ref, s->ces[i]->name, s->ces[i]->arn)) return (uint32_t)i;
  return SCHED_NONE;
}

/* ---------------- lifecycle ---------------- */

struct sched *sched_new(const struct sched_conf *conf) {
  struct sched *s = xcalloc(1, sizeof *s);
  if (conf) s->conf = *conf;
  else sched_conf_defaults(&s->conf);
  strmap_init(&s->job_by_id);
  strmap_init(&s->inst_by_id);
  return s;
}

static void free_job(struct job *j) {
  sched_spec_unref(j->spec);
  free(j->arr);
  free(j->status_reason);
  free(j->container_reason);
  free(j->stop_reason);
  free(j->log_path);
  free(j->deps);
  free(j->dependents);
  for (int i = 0; i < j->nattempts; i++) {
    free(j->attempts[i].container_reason);
    free(j->attempts[i].status_reason);
  }
  free(j->attempts);
  free(j);
}

static void free_jd(struct jobdef *d) {
  free(d->name);
  free(d->arn);
  json_decref(d->body);
  json_decref(d->container);
  json_decref(d->container_subst);
  json_decref(d->params);
  json_decref(d->retry_json);
  sched_free_retry(&d->retry);
  free(d);
}

void sched_free(struct sched *s) {
  if (!s) return;
  for (size_t i = 0; i < s->njobs; i++) free_job(s->jobs[i]);
  free(s->jobs);
  strmap_release(&s->job_by_id);
  strmap_release(&s->inst_by_id);
  for (size_t i = 0; i < s->njds; i++) free_jd(s->jds[i]);
  free(s->jds);
  for (size_t i = 0; i < s->nces; i++) {
    free(s->ces[i]->name);
    free(s->ces[i]->arn);
    json_decref(s->ces[i]->body);
    json_decref(s->ces[i]->last_demand);
    json_decref(s->ces[i]->last_busy);
    free(s->ces[i]->insts);
    free(s->ces[i]->avail);
    free(s->ces[i]);
  }
  free(s->ces);
  for (size_t i = 0; i < s->nqueues; i++) {
    struct queue *q = s->queues[i];
    free(q->name);
    free(q->arn);
    free(q->policy_arn);
    for (int k = 0; k < q->ntl; k++) free(q->tl[k].reason);
    free(q->tl);
    free(q->shapes);
    for (size_t k = 0; k < q->nshares_; k++) free(q->shares[k].id);
    free(q->shares);
    free(q);
  }
  free(s->queues);
  free(s->queue_order);
  for (size_t i = 0; i < s->npolicies; i++) {
    free(s->policies[i]->name);
    free(s->policies[i]->arn);
    json_decref(s->policies[i]->body);
    free(s->policies[i]);
  }
  free(s->policies);
  for (size_t i = 0; i < s->ninsts; i++) {
    free(s->insts[i]->type);
    free(s->insts[i]);
  }
  free(s->insts);
  free(s->dirty);
  free(s->coded);
  json_decref(s->restoring);
  free(s);
}

int64_t sched_now(const struct sched *s) { return s->now; }
size_t sched_job_count(const struct sched *s) { return s->njobs; }
uint32_t sched_find_job(const struct sched *s, const char *id) {
  return strmap_get(&s->job_by_id, id);
}
enum job_status sched_job_status(const struct sched *s, uint32_t j) {
  return (enum job_status)s->jobs[j]->status;
}
const char *sched_job_id(const struct sched *s, uint32_t j) { return s->jobs[j]->id; }
const char *sched_instance_id(const struct sched *s, uint32_t i) { return s->insts[i]->id; }

size_t sched_memory_bytes(const struct sched *s) {
  size_t total = s->capjobs * sizeof(struct job *) + strmap_size_bytes(&s->job_by_id);
  for (size_t i = 0; i < s->njobs; i++) {
    const struct job *j = s->jobs[i];
    total += sizeof *j + 16;
    total += (size_t)j->ndeps * 4 + (size_t)j->capdependents * 4;
    total += (size_t)j->nattempts * sizeof(struct attempt);
    if (j->status_reason) total += strlen(j->status_reason) + 17;
    if (j->spec && j->spec->refs == 1) total += sizeof *j->spec + 64;
  }
  return total;
}

/* ---------------- job bookkeeping ---------------- */

struct job *sched_job_new(struct sched *s, const char *id) {
  if (s->njobs == s->capjobs) {
    s->capjobs = s->capjobs ? s->capjobs * 2 : 1024;
    s->jobs = xrealloc(s->jobs, s->capjobs * sizeof *s->jobs);
  }
  struct job *j = xcalloc(1, sizeof *j);
  snprintf(j->id, sizeof j->id, "%s", id);
  j->idx = (uint32_t)s->njobs;
  j->parent = j->instance = j->rq_prev = j->rq_next = SCHED_NONE;
  j->queue = SCHED_NONE;
  j->index = -1;
  j->exit_code = NO_EXIT;
  s->jobs[s->njobs++] = j;
  strmap_put(&s->job_by_id, j->id, j->idx);
  return j;
}

static void mark_dirty(struct sched *s, struct job *j) {
  if (j->dirty) return;
  j->dirty = 1;
  if (s->ndirty == s->capdirty) {
    s->capdirty = s->capdirty ? s->capdirty * 2 : 256;
    s->dirty = xrealloc(s->dirty, s->capdirty * sizeof *s->dirty);
  }
  s->dirty[s->ndirty++] = j->idx;
}

void sched_add_dependent(struct sched *s, struct job *dep, uint32_t job) {
  (void)s;
  if (dep->ndependents == dep->capdependents) {
    dep->capdependents = dep->capdependents ? dep->capdependents * 2 : 2;
    dep->dependents = xrealloc(dep->dependents, dep->capdependents * sizeof *dep->dependents);
  }
  dep->dependents[dep->ndependents++] = job;
}

/* ---------------- the runnable lists ---------------- */

static void shape_add(struct queue *q, const struct spec *sp, int delta) {
  for (size_t i = 0; i < q->nshapes; i++) {
    struct shape_count *c = &q->shapes[i];
    if (c->v == sp->vcpus && c->m == sp->mem_mib && c->g == sp->gpus) {
      c->n += delta;
      return;
    }
  }
  if (q->nshapes == q->capshapes) {
    q->capshapes = q->capshapes ? q->capshapes * 2 : 4;
    q->shapes = xrealloc(q->shapes, q->capshapes * sizeof *q->shapes);
  }
  q->shapes[q->nshapes++] = (struct shape_count){sp->vcpus, sp->mem_mib, sp->gpus, delta};
}

static int fair_queue(const struct queue *q) { return q->policy_arn != NULL; }

static struct rlist *list_of(struct queue *q, const struct job *j) {
  return fair_queue(q) ? &q->shares[j->share].rq : &q->rq;
}

static void rq_unlink(struct sched *s, struct job *j) {
  if (!j->in_rq) return;
  struct queue *q = s->queues[j->queue];
  struct rlist *l = list_of(q, j);
  if (j->rq_prev != SCHED_NONE) s->jobs[j->rq_prev]->rq_next = j->rq_next;
  else l->head = j->rq_next;
  if (j->rq_next != SCHED_NONE) s->jobs[j->rq_next]->rq_prev = j->rq_prev;
  else l->tail = j->rq_prev;
  if (l->retry_tail == j->idx) l->retry_tail = j->rq_prev;
  j->rq_prev = j->rq_next = SCHED_NONE;
  j->in_rq = 0;
  q->nrunnable--;
  if (fair_queue(q)) q->shares[j->share].nrunnable--;
  shape_add(q, j->spec, -1);
}

static void rq_insert_after(struct sched *s, struct queue *q, struct rlist *l, uint32_t after,
                            struct job *j) {
  j->rq_prev = after;
  if (after == SCHED_NONE) {
    j->rq_next = l->head;
    l->head = j->idx;
  } else {
    j->rq_next = s->jobs[after]->rq_next;
    s->jobs[after]->rq_next = j->idx;
  }
  if (j->rq_next != SCHED_NONE) s->jobs[j->rq_next]->rq_prev = j->idx;
  else l->tail = j->idx;
  j->in_rq = 1;
  q->nrunnable++;
  if (fair_queue(q)) q->shares[j->share].nrunnable++;
  shape_add(q, j->spec, +1);
}

/* Queue order of fresh jobs: in a fair-share queue schedulingPriority first (descending);
 * then createdAt (children: the parent's), then job id / array index. */
static int fresh_before(const struct sched *s, const struct job *a, const struct job *b) {
  if (fair_queue(s->queues[a->queue]) && a->spec->sched_prio != b->spec->sched_prio)
    return a->spec->sched_prio > b->spec->sched_prio;
  if (a->queue_seq != b->queue_seq) return a->queue_seq < b->queue_seq;
  if (a->parent != SCHED_NONE && a->parent == b->parent) return a->index < b->index;
  return strcmp(a->id, b->id) < 0;
}

/* The share of a job in a fair-share queue, created on first use. */
static uint16_t share_of(struct queue *q, const char *id) {
  if (!id) id = "";
  for (size_t i = 0; i < q->nshares_; i++)
    if (!strcmp(q->shares[i].id, id)) return (uint16_t)i;
  if (q->nshares_ == q->capshares_) {
    q->capshares_ = q->capshares_ ? q->capshares_ * 2 : 4;
    q->shares = xrealloc(q->shares, q->capshares_ * sizeof *q->shares);
  }
  struct share *sh = &q->shares[q->nshares_];
  memset(sh, 0, sizeof *sh);
  sh->id = xstrdup(id);
  sh->rq.head = sh->rq.tail = sh->rq.retry_tail = SCHED_NONE;
  return (uint16_t)q->nshares_++;
}

/* Puts a RUNNABLE job into its list: retried jobs at the end of the front segment (spec 3.2;
 * in a fair-share queue the front of its own share), fresh ones in queue order (almost always
 * at the tail). */
void sched_enqueue(struct sched *s, struct job *j) {
  struct queue *q = s->queues[j->queue];
  if (j->in_rq) return;
  struct rlist *l = list_of(q, j);
  if (j->retried) {
    rq_insert_after(s, q, l, l->retry_tail, j);
    l->retry_tail = j->idx;
    return;
  }
  uint32_t at = l->tail;
  while (at != SCHED_NONE && at != l->retry_tail && fresh_before(s, j, s->jobs[at]))
    at = s->jobs[at]->rq_prev;
  if (at == SCHED_NONE && l->retry_tail != SCHED_NONE) at = l->retry_tail;
  rq_insert_after(s, q, l, at, j);
}

/* Iterates a queue's RUNNABLE jobs: the FIFO list, or every share's list in turn. */
static uint32_t rq_first(struct sched *s, struct queue *q) {
  (void)s;
  if (!fair_queue(q)) return q->rq.head;
  for (size_t i = 0; i < q->nshares_; i++)
    if (q->shares[i].rq.head != SCHED_NONE) return q->shares[i].rq.head;
  return SCHED_NONE;
}
static uint32_t rq_after(struct sched *s, struct queue *q, const struct job *j) {
  if (j->rq_next != SCHED_NONE || !fair_queue(q)) return j->rq_next;
  for (size_t i = (size_t)j->share + 1; i < q->nshares_; i++)
    if (q->shares[i].rq.head != SCHED_NONE) return q->shares[i].rq.head;
  (void)s;
  return SCHED_NONE;
}

/* ---------------- state changes ---------------- */

static void update_parent(struct sched *s, struct job *child, int old_st, struct outbox *out);
static void share_track(struct sched *s, struct job *j, int old, int st);

/* Moves a job to a new status with a reason, recording the event and the job's record. */
static void set_status(struct sched *s, struct job *j, int st, const char *reason,
                       struct outbox *out) {
  int old = j->status;
  if (old == st && (!reason || (j->status_reason && !strcmp(reason, j->status_reason)))) return;
  if (old == JOB_RUNNABLE && st != JOB_RUNNABLE) rq_unlink(s, j);
  set_str(&j->status_reason, reason);
  if (old != st) share_track(s, j, old, st);
  j->status = (uint8_t)st;
  if (terminal(st)) j->stopped_at = s->now;
  if (old != st) {
    struct out_ev *e = out_push(out, OUT_STATE_CHANGE);
    e->job = j->idx;
    e->old_status = (uint8_t)old;
    e->new_status = (uint8_t)st;
    e->attempt = j->attempt;
    e->at_ms = s->now;
    e->reason = dupn(reason);
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
  mark_dirty(s, j);
}

static void job_terminal(struct sched *s, struct job *j, struct outbox *out);

static void update_parent(struct sched *s, struct job *child, int old_st, struct outbox *out) {
  struct job *p = s->jobs[child->parent];
  struct array_info *a = p->arr;
  if (!a) return;
  a->counts[old_st]--;
  a->counts[child->status]++;
  a->summary_at = s->now;
  if (child->started_at && (!p->started_at || child->started_at < p->started_at))
    p->started_at = child->started_at;
  mark_dirty(s, p);
  if (!terminal(p->status) && a->counts[JOB_SUCCEEDED] + a->counts[JOB_FAILED] == a->size) {
    if (a->counts[JOB_FAILED] == 0) set_status(s, p, JOB_SUCCEEDED, NULL, out);
    else set_status(s, p, JOB_FAILED, p->stop_reason ? p->stop_reason : NULL, out);
    job_terminal(s, p, out);
  }
}

static void fail_job(struct sched *s, struct job *j, const char *reason, struct outbox *out) {
  set_status(s, j, JOB_FAILED, reason, out);
  job_terminal(s, j, out);
}

static void make_runnable_or_stop(struct sched *s, struct job *j, struct outbox *out);

/* A job reached SUCCEEDED or FAILED: its dependents learn about it. */
static void job_terminal(struct sched *s, struct job *j, struct outbox *out) {
  for (uint32_t k = 0; k < j->ndependents; k++) {
    struct job *d = s->jobs[j->dependents[k]];
    if (d->status != JOB_PENDING) continue;
    if (d->deps_left > 0) d->deps_left--;
    if (j->status == JOB_FAILED && !d->pending_stop) {
      char reason[128];
      snprintf(reason, sizeof reason, "Dependent job %s failed", j->id);
      fail_job(s, d, reason, out); /* T5, cascades */
    } else if (d->deps_left == 0) {
      make_runnable_or_stop(s, d, out);
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
    fail_job(s, j, reason, out);
    return;
  }
  for (uint16_t k = 0; k < j->ndeps; k++) {
    struct job *d = s->jobs[j->deps[k]];
    if (d->status == JOB_FAILED) {
      char reason[128];
      snprintf(reason, sizeof reason, "Dependent job %s failed", d->id);
      fail_job(s, j, reason, out);
      return;
    }
  }
  set_status(s, j, JOB_RUNNABLE, NULL, out);
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
      if (!terminal(d->status)) sched_add_dependent(s, d, j->idx);
    }
  }
  j->deps_left = (uint16_t)left;
  if (failed) {
    /* Barge decision: T2 then T5 at once */
    if (j->status == JOB_SUBMITTED) set_status(s, j, JOB_PENDING, NULL, out);
    char reason[128];
    snprintf(reason, sizeof reason, "Dependent job %s failed", failed->id);
    fail_job(s, j, reason, out);
    return;
  }
  if (left == 0) {
    set_status(s, j, JOB_RUNNABLE, NULL, out);
  } else if (j->status != JOB_PENDING) {
    set_status(s, j, JOB_PENDING, NULL, out);
  }
}

/* ---------------- configuration ---------------- */

static void sort_queues(struct sched *s) {
  free(s->queue_order);
  s->queue_order = xcalloc(s->nqueues, sizeof *s->queue_order);
  for (size_t i = 0; i < s->nqueues; i++) s->queue_order[i] = (uint32_t)i;
  /* insertion sort: few queues */
  for (size_t i = 1; i < s->nqueues; i++) {
    uint32_t x = s->queue_order[i];
    size_t k = i;
    while (k > 0) {
      struct queue *a = s->queues[s->queue_order[k - 1]], *b = s->queues[x];
      int before = b->priority > a->priority ||
                   (b->priority == a->priority && strcmp(b->arn, a->arn) < 0);
      if (!before) break;
      s->queue_order[k] = s->queue_order[k - 1];
      k--;
    }
    s->queue_order[k] = x;
  }
}

static void avail_add(struct sched *s, struct ce *c, uint32_t ii) {
  struct instance *in = s->insts[ii];
  if (in->avail_pos >= 0) return;
  if (c->navail == c->capavail) {
    c->capavail = c->capavail ? c->capavail * 2 : 16;
    c->avail = xrealloc(c->avail, c->capavail * sizeof *c->avail);
  }
  in->avail_pos = (int64_t)c->navail;
  c->avail[c->navail++] = ii;
}

static void avail_del(struct sched *s, struct ce *c, uint32_t ii) {
  struct instance *in = s->insts[ii];
  if (in->avail_pos < 0) return;
  uint32_t last = c->avail[--c->navail];
  c->avail[in->avail_pos] = last;
  s->insts[last]->avail_pos = in->avail_pos;
  in->avail_pos = -1;
}

/* Recomputes a CE's largest instance and free vCPUs. Returns whether what blocking codes
 * depend on (the largest instance, whether any instance lives) changed. */
static int recompute_ce_max(struct sched *s, struct ce *c) {
  int ov = c->max_v, om = c->max_m, og = c->max_g, olive = c->live > 0;
  c->max_v = c->max_m = c->max_g = 0;
  c->free_v = 0;
  c->live = 0;
  for (size_t i = 0; i < c->navail; i++) s->insts[c->avail[i]]->avail_pos = -1;
  c->navail = 0;
  for (size_t i = 0; i < c->ninst; i++) {
    struct instance *in = s->insts[c->insts[i]];
    if (in->state == INST_READY && in->cap_v > in->used_v) avail_add(s, c, c->insts[i]);
    if (in->state == INST_GONE) continue;
    c->live++;
    if (in->cap_v > c->max_v) c->max_v = in->cap_v;
    if (in->cap_m > c->max_m) c->max_m = in->cap_m;
    if (in->cap_g > c->max_g) c->max_g = in->cap_g;
    if (in->state == INST_READY) c->free_v += in->cap_v - in->used_v;
  }
  return ov != c->max_v || om != c->max_m || og != c->max_g || olive != (c->live > 0);
}

static void reevaluate_codes(struct sched *s, struct outbox *out);
static void substitute(json_t *command, const json_t *params);

static void upsert_ce(struct sched *s, const json_t *b) {
  const char *name = jstr(b, "computeEnvironmentName"), *arn = jstr(b, "computeEnvironmentArn");
  uint32_t i = sched_find_ce(s, arn);
  struct ce *c;
  if (i == SCHED_NONE) {
    c = xcalloc(1, sizeof *c);
    c->name = xstrdup(name);
    c->arn = xstrdup(arn);
    s->ces = xrealloc(s->ces, (s->nces + 1) * sizeof *s->ces);
    s->ces[s->nces++] = c;
  } else {
    c = s->ces[i];
  }
  json_decref(c->body);
  c->body = json_deep_copy(b);
  c->ntype_fit = 0;
  const char *type = jstr(b, "type");
  c->managed = !type || strcmp(type, "UNMANAGED") != 0;
  const char *state = jstr(b, "state");
  c->enabled = !state || !strcmp(state, "ENABLED");
  const char *status = jstr(b, "status");
  c->valid = !status || !strcmp(status, "VALID");
  c->deleted = 0;
  json_t *cr = json_object_get(b, "computeResources");
  c->minv = jint(cr, "minvCpus", 0);
  c->maxv = jint(cr, "maxvCpus", c->managed ? 0 : INT_MAX);
  if (!c->managed) c->maxv = INT_MAX;
}

static void upsert_queue(struct sched *s, const json_t *b) {
  const char *arn = jstr(b, "jobQueueArn");
  struct queue *q = NULL;
  for (size_t i = 0; i < s->nqueues; i++)
    if (!strcmp(s->queues[i]->arn, arn)) q = s->queues[i];
  if (!q) {
    q = xcalloc(1, sizeof *q);
    q->name = xstrdup(jstr(b, "jobQueueName"));
    q->arn = xstrdup(arn);
    q->rq.head = q->rq.tail = q->rq.retry_tail = SCHED_NONE;
    q->head = SCHED_NONE;
    s->queues = xrealloc(s->queues, (s->nqueues + 1) * sizeof *s->queues);
    s->queues[s->nqueues++] = q;
  }
  q->deleted = 0;
  q->priority = jint(b, "priority", 0);
  const char *state = jstr(b, "state");
  q->enabled = !state || !strcmp(state, "ENABLED");
  set_str(&q->policy_arn, jstr(b, "schedulingPolicyArn"));
  /* CEs by ascending order */
  json_t *ceo = json_object_get(b, "computeEnvironmentOrder");
  q->nce = 0;
  int used[16] = {0};
  for (int round = 0; round < 3; round++) {
    int best = -1, bestord = INT_MAX;
    size_t k;
    json_t *e;
    json_array_foreach(ceo, k, e) {
      if (k >= 16 || used[k]) continue;
      int o = jint(e, "order", 0);
      if (o < bestord) bestord = o, best = (int)k;
    }
    if (best < 0) break;
    used[best] = 1;
    uint32_t ci =
        sched_find_ce(s, jstr(json_array_get(ceo, (size_t)best), "computeEnvironment"));
    if (ci != SCHED_NONE) q->ce[q->nce++] = ci;
  }
  for (int k = 0; k < q->ntl; k++) free(q->tl[k].reason);
  free(q->tl);
  q->tl = NULL;
  q->ntl = 0;
  json_t *tla = json_object_get(b, "jobStateTimeLimitActions");
  if (json_array_size(tla)) {
    q->tl = xcalloc(json_array_size(tla), sizeof *q->tl);
    size_t k;
    json_t *e;
    json_array_foreach(tla, k, e) {
      q->tl[q->ntl].reason = xstrdup(jstr(e, "reason"));
      q->tl[q->ntl].max_ms = (int64_t)jint(e, "maxTimeSeconds", 600) * 1000;
      q->ntl++;
    }
  }
  sort_queues(s);
}

static void upsert_jd(struct sched *s, const json_t *b) {
  const char *arn = jstr(b, "jobDefinitionArn");
  struct jobdef *d = NULL;
  for (size_t i = 0; i < s->njds; i++)
    if (!strcmp(s->jds[i]->arn, arn)) d = s->jds[i];
  if (!d) {
    d = xcalloc(1, sizeof *d);
    d->name = xstrdup(jstr(b, "jobDefinitionName"));
    d->arn = xstrdup(arn);
    s->jds = xrealloc(s->jds, (s->njds + 1) * sizeof *s->jds);
    s->jds[s->njds++] = d;
  } else {
    json_decref(d->body);
    json_decref(d->container);
    json_decref(d->container_subst);
    json_decref(d->params);
    json_decref(d->retry_json);
    sched_free_retry(&d->retry);
  }
  d->revision = jint(b, "revision", 1);
  const char *st = jstr(b, "status");
  d->active = !st || !strcmp(st, "ACTIVE");
  d->body = json_deep_copy(b);
  d->params = json_deep_copy(json_object_get(b, "parameters"));
  if (!d->params) d->params = json_object();
  json_t *cp = json_object_get(b, "containerProperties");
  d->container = json_object();
  json_object_set_new(d->container, "image", json_string(jstr(cp, "image") ? jstr(cp, "image") : ""));
  static const char *const lists[] = {"command", "environment", "resourceRequirements"};
  for (size_t k = 0; k < 3; k++) {
    json_t *l = json_object_get(cp, lists[k]);
    json_object_set_new(d->container, lists[k], json_is_array(l) ? json_deep_copy(l) : json_array());
  }
  json_t *v;
  if (json_is_integer(v = json_object_get(cp, "vcpus"))) json_object_set(d->container, "vcpus", v);
  if (json_is_integer(v = json_object_get(cp, "memory"))) json_object_set(d->container, "memory", v);
  if (json_is_string(v = json_object_get(cp, "jobRoleArn")))
    json_object_set(d->container, "jobRoleArn", v);
  sched_resources(d->container, &d->vcpus, &d->mem_mib, &d->gpus);
  d->container_subst = json_deep_copy(d->container);
  substitute(json_object_get(d->container_subst, "command"), d->params);
  json_t *rs = json_object_get(b, "retryStrategy");
  d->retry_json = json_is_object(rs) ? json_deep_copy(rs) : NULL;
  sched_parse_retry(rs, &d->retry);
  d->timeout_s = jint(json_object_get(b, "timeout"), "attemptDurationSeconds", 0);
  json_t *sp = json_object_get(b, "schedulingPriority");
  d->sched_prio = json_is_integer(sp) ? (int)json_integer_value(sp) : -1;
}

static void upsert_policy(struct sched *s, const json_t *b) {
  const char *arn = jstr(b, "arn");
  struct policy *p = NULL;
  for (size_t i = 0; i < s->npolicies; i++)
    if (!strcmp(s->policies[i]->arn, arn)) p = s->policies[i];
  if (!p) {
    p = xcalloc(1, sizeof *p);
    p->name = xstrdup(jstr(b, "name"));
    p->arn = xstrdup(arn);
    s->policies = xrealloc(s->policies, (s->npolicies + 1) * sizeof *s->policies);
    s->policies[s->npolicies++] = p;
  }
  json_decref(p->body);
  p->body = json_deep_copy(b);
  p->deleted = 0;
}

static int handle_config(struct sched *s, const json_t *ev, struct outbox *out, char *err,
                         size_t errlen) {
  json_t *body;
  const char *kind = union_branch(json_object_get(ev, "body"), &body);
  if (!kind) {
    snprintf(err, errlen, "ConfigRecord without a body");
    return -1;
  }
  if (!strcmp(kind, "ComputeEnvironment")) {
    if (!jstr(body, "computeEnvironmentArn") || !jstr(body, "computeEnvironmentName")) goto bad;
    upsert_ce(s, body);
  } else if (!strcmp(kind, "JobQueue")) {
    if (!jstr(body, "jobQueueArn") || !jstr(body, "jobQueueName")) goto bad;
    upsert_queue(s, body);
  } else if (!strcmp(kind, "JobDefinition")) {
    if (!jstr(body, "jobDefinitionArn") || !jstr(body, "jobDefinitionName")) goto bad;
    upsert_jd(s, body);
  } else if (!strcmp(kind, "SchedulingPolicy")) {
    if (!jstr(body, "arn")) goto bad;
    upsert_policy(s, body);
  } else {
    snprintf(err, errlen, "unknown config kind %s", kind);
    return -1;
  }
  s->cycle_needed = 1;
  s->demand_dirty = 1;
  reevaluate_codes(s, out);
  return 0;
bad:
  snprintf(err, errlen, "%s without its name or ARN", kind);
  return -1;
}

void sched_handle_config_delete(struct sched *s, const char *arn, int64_t at_ms,
                                struct outbox *out) {
  if (at_ms > s->now) s->now = at_ms;
  uint32_t ci = sched_find_ce(s, arn);
  if (ci != SCHED_NONE) s->ces[ci]->deleted = 1, s->ces[ci]->enabled = 0;
  for (size_t i = 0; i < s->nqueues; i++)
    if (!strcmp(s->queues[i]->arn, arn)) s->queues[i]->deleted = 1;
  for (size_t i = 0; i < s->npolicies; i++)
    if (!strcmp(s->policies[i]->arn, arn)) s->policies[i]->deleted = 1;
  s->cycle_needed = 1;
  reevaluate_codes(s, out);
}

/* ---------------- blocking codes (spec 3.5) ---------------- */

static const char *CODE_INVALID = "ACTION_REQUIRED - CE(s) associated with the job queue are invalid.";
static const char *CODE_MAXRES = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE";
static const char *CODE_JOBREQ = "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT";
static const char *CODE_CAPACITY = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY";

/* Whether an instance type the managed CE allows (catalogue, spec 4.2) holds the shape. */
static int managed_type_fits(struct ce *c, int v, int m, int g) {
  for (int i = 0; i < c->ntype_fit; i++)
    if (c->type_fit[i].v == v && c->type_fit[i].m == m && c->type_fit[i].g == g) return c->type_fit[i].fits;
  json_t *types = json_object_get(json_object_get(c->body, "computeResources"), "instanceTypes");
  int fits = catalog_fits(NULL, types, v, m, g);
  int slot = c->ntype_fit < 8 ? c->ntype_fit++ : (v + m + g) % 8;
  c->type_fit[slot].v = v;
  c->type_fit[slot].m = m;
  c->type_fit[slot].g = g;
  c->type_fit[slot].fits = fits;
  return fits;
}

/* The blocking code a RUNNABLE job of this shape carries in queue q, or NULL. */
static const char *shape_code(struct sched *s, struct queue *q, int v, int m, int g) {
  int any_valid = 0, fits_max = 0, fits_type = 0;
  for (int k = 0; k < q->nce; k++) {
    struct ce *c = s->ces[q->ce[k]];
    if (c->deleted || !c->valid) continue;
    any_valid = 1;
    if (v <= c->maxv) fits_max = 1;
    if (c->managed) {
      /* an instance type of the catalogue that the CE allows must hold the job */
      if (v <= c->maxv && managed_type_fits(c, v, m, g)) fits_type = 1;
    } else if (v <= c->max_v && m <= c->max_m && g <= c->max_g) {
      fits_type = 1;
    }
  }
  if (q->nce == 0 || !any_valid) return CODE_INVALID;
  if (!fits_max) return CODE_MAXRES;
  if (!fits_type) {
    /* an unmanaged CE with no registered instance yet is not a misconfiguration */
    for (int k = 0; k < q->nce; k++)
      if (!s->ces[q->ce[k]]->managed && s->ces[q->ce[k]]->live == 0) return NULL;
    return CODE_JOBREQ;
  }
  /* the job fits, but the instance provider refused the launch in every candidate CE */
  int candidates = 0, refused = 0;
  for (int k = 0; k < q->nce; k++) {
    struct ce *c = s->ces[q->ce[k]];
    if (c->deleted || !c->valid || !c->managed || v > c->maxv) continue;
    candidates++;
    refused += c->launch_refused;
  }
  if (candidates && refused == candidates) return CODE_CAPACITY;
  return NULL;
}

static int is_code(const char *r) {
  return r && (r == CODE_INVALID || !strcmp(r, CODE_INVALID) || !strcmp(r, CODE_MAXRES) ||
               !strcmp(r, CODE_JOBREQ) || !strcmp(r, CODE_CAPACITY));
}

static void coded_add(struct sched *s, struct job *j) {
  for (size_t i = 0; i < s->ncoded; i++)
    if (s->coded[i] == j->idx) return;
  if (s->ncoded == s->capcoded) {
    s->capcoded = s->capcoded ? s->capcoded * 2 : 64;
    s->coded = xrealloc(s->coded, s->capcoded * sizeof *s->coded);
  }
  s->coded[s->ncoded++] = j->idx;
}

/* Sets or clears a RUNNABLE job's code; the time-limit clock restarts on every change. */
static void apply_code(struct sched *s, struct job *j, struct outbox *out) {
  struct queue *q = s->queues[j->queue];
  const char *code = shape_code(s, q, j->spec->vcpus, j->spec->mem_mib, j->spec->gpus);
  const char *cur = is_code(j->status_reason) ? j->status_reason : NULL;
  if ((code == NULL && cur == NULL) || (code && cur && !strcmp(code, cur))) return;
  set_str(&j->status_reason, code);
  j->code_since = s->now;
  if (code) coded_add(s, j);
  mark_dirty(s, j);
  (void)out;
}

static void reevaluate_codes(struct sched *s, struct outbox *out) {
  for (size_t qi = 0; qi < s->nqueues; qi++) {
    struct queue *q = s->queues[qi];
    for (uint32_t at = rq_first(s, q); at != SCHED_NONE; at = rq_after(s, q, s->jobs[at]))
      apply_code(s, s->jobs[at], out);
  }
}

void sched_recompute_ce(struct sched *s, struct ce *c) { (void)recompute_ce_max(s, c); }
void sched_recode_all(struct sched *s) {
  struct outbox o;
  sched_outbox_init(&o);
  reevaluate_codes(s, &o);
  sched_outbox_release(&o);
}

/* ---------------- submission (T1-T3) ---------------- */

static void add_env(json_t *env, const char *name, const char *value) {
  size_t i;
  json_t *e;
  json_array_foreach(env, i, e) {
    if (!strcmp(jstr(e, "name"), name)) {
      json_object_set_new(e, "value", json_string(value));
      return;
    }
  }
  json_array_append_new(env, json_pack("{s:s, s:s}", "name", name, "value", value));
}

/* Replaces command elements equal to "Ref::key" with the parameter's value (spec 5.3). */
static void substitute(json_t *command, const json_t *params) {
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

/* Builds the effective container and parameters of a submission (spec 5.3, 6.3). */
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
  if (json_is_object(ov)) {
    json_t *cmd = json_object_get(ov, "command");
    if (json_is_array(cmd)) json_object_set(sp->container, "command", cmd);
    json_t *env = json_object_get(ov, "environment");
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e) {
      const char *n = jstr(e, "name");
      if (!n) continue;
      if (!strncmp(n, "AWS_BATCH", 9)) {
        snprintf(err, errlen, "containerOverrides.environment: %s: names starting AWS_BATCH are reserved", n);
        return -1;
      }
      add_env(json_object_get(sp->container, "environment"), n, jstr(e, "value") ? jstr(e, "value") : "");
    }
    json_t *rr = json_object_get(ov, "resourceRequirements");
    json_array_foreach(rr, i, e) {
      const char *t = jstr(e, "type");
      json_t *arr = json_object_get(sp->container, "resourceRequirements");
      size_t k;
      json_t *x;
      int found = 0;
      json_array_foreach(arr, k, x) if (t && !strcmp(jstr(x, "type"), t)) {
        json_object_set(x, "value", json_object_get(e, "value"));
        found = 1;
      }
      if (!found) json_array_append(arr, e);
    }
    json_t *v;
    if (json_is_integer(v = json_object_get(ov, "vcpus"))) json_object_set(sp->container, "vcpus", v);
    if (json_is_integer(v = json_object_get(ov, "memory"))) json_object_set(sp->container, "memory", v);
  }
  if (own) substitute(json_object_get(sp->container, "command"), sp->params);
  sched_resources(sp->container, &sp->vcpus, &sp->mem_mib, &sp->gpus);
  if (sp->vcpus < 1 || sp->mem_mib < 4) {
    snprintf(err, errlen, "the job needs VCPU >= 1 and MEMORY >= 4 (MiB) from its job definition or containerOverrides");
    return -1;
  }
  json_t *rs = json_object_get(sub, "retryStrategy");
  if (json_is_object(rs)) sp->retry_json = json_deep_copy(rs);
  else if (d->retry_json) sp->retry_json = json_incref(d->retry_json);
  sched_parse_retry(sp->retry_json, &sp->retry);
  json_t *to = json_object_get(sub, "timeout");
  sp->timeout_s = json_is_object(to) ? jint(to, "attemptDurationSeconds", 0) : d->timeout_s;
  sp->share_id = dupn(jstr(sub, "shareIdentifier"));
  json_t *spo = json_object_get(sub, "schedulingPriorityOverride");
  sp->sched_prio = json_is_integer(spo) ? (int)json_integer_value(spo) : d->sched_prio;
  json_t *tags = json_object_get(sub, "tags");
  sp->tags = json_object_size(tags) ? json_deep_copy(tags) : NULL;
  json_t *pt = json_object_get(sub, "propagateTags");
  sp->propagate_tags = json_is_boolean(pt) ? json_is_true(pt)
                                           : json_is_true(json_object_get(d->body, "propagateTags"));
  json_t *deps = json_object_get(sub, "dependsOn");
  sp->depends_on = json_array_size(deps) ? json_deep_copy(deps) : NULL;
  (void)s;
  return 0;
}

/* Marks a submission that cannot run as FAILED at once, so its submitter sees why. */
static void reject_job(struct sched *s, const char *id, const json_t *sub, const char *why,
                       struct outbox *out) {
  struct job *j = sched_job_new(s, id);
  struct spec *sp = sched_spec_new();
  sp->name = xstrdup(jstr(sub, "jobName") ? jstr(sub, "jobName") : "unknown");
  j->spec = sp;
  j->created_at = s->now;
  j->queue = sched_find_queue(s, jstr(sub, "jobQueue"));
  j->status = JOB_SUBMITTED;
  char reason[600];
  snprintf(reason, sizeof reason, "ClientException: %s", why);
  fail_job(s, j, reason, out);
  struct out_ev *e = out_push(out, OUT_REJECT);
  e->job = j->idx;
  e->reason = xstrdup(reason);
}

static int handle_submit(struct sched *s, const json_t *sub, struct outbox *out, char *err,
                         size_t errlen) {
  const char *id = jstr(sub, "jobId");
  if (!id || !*id || strlen(id) > 40 || strchr(id, ':')) {
    snprintf(err, errlen, "SubmitJob without a valid jobId");
    return -1;
  }
  if (sched_find_job(s, id) != SCHED_NONE) return 0; /* a duplicate delivery: idempotent */
  char why[512];
  uint32_t qi = sched_find_queue(s, jstr(sub, "jobQueue"));
  struct jobdef *d = sched_find_jd(s, jstr(sub, "jobDefinition"));
  if (qi == SCHED_NONE) {
    snprintf(why, sizeof why, "job queue %s does not exist", jstr(sub, "jobQueue"));
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
             jstr(sub, "jobDefinition"));
    reject_job(s, id, sub, why, out);
    return 0;
  }
  struct spec *sp = sched_spec_new();
  sp->name = xstrdup(jstr(sub, "jobName") ? jstr(sub, "jobName") : "job");
  sp->jd = d;
  if (build_spec(s, sp, sub, why, sizeof why)) {
    sched_spec_unref(sp);
    reject_job(s, id, sub, why, out);
    return 0;
  }
  /* dependencies */
  json_t *deps = sp->depends_on;
  size_t nd = json_array_size(deps); /* NULL when there are none */
  int size = jint(json_object_get(sub, "arrayProperties"), "size", 0);
  if (json_object_get(sub, "arrayProperties") && (size < 2 || size > s->conf.max_array_size)) {
    snprintf(why, sizeof why, "arrayProperties.size must be between 2 and %d", s->conf.max_array_size);
    sched_spec_unref(sp);
    reject_job(s, id, sub, why, out);
    return 0;
  }
  uint32_t plain[20];
  int nplain = 0, seq = 0;
  uint32_t n2n[20];
  int nn2n = 0;
  for (size_t k = 0; k < nd && k < 20; k++) {
    json_t *e = json_array_get(deps, k);
    const char *did = jstr(e, "jobId"), *type = jstr(e, "type");
    if (type && !strcmp(type, "SEQUENTIAL") && !did) {
      if (!size) {
        snprintf(why, sizeof why, "dependsOn: SEQUENTIAL applies to array jobs only");
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
        snprintf(why, sizeof why, "dependsOn: N_TO_N target %s has size %d, this array has %d",
                 did, dj->arr->size, size);
        goto reject;
      }
      n2n[nn2n++] = di;
    } else {
      plain[nplain++] = di;
    }
  }
  struct job *j = sched_job_new(s, id);
  j->spec = sp;
  j->queue = qi;
  j->created_at = s->now;
  j->queue_seq = ++s->seq;
  j->status = JOB_SUBMITTED;
  if (fair_queue(s->queues[qi])) j->share = share_of(s->queues[qi], sp->share_id);
  if (!size) share_track(s, j, JOB__COUNT, JOB_SUBMITTED);
  mark_dirty(s, j);
  if (!size) {
    j->deps = nplain ? xmalloc((size_t)nplain * sizeof *j->deps) : NULL;
    for (int k = 0; k < nplain; k++) j->deps[k] = plain[k];
    j->ndeps = (uint16_t)nplain;
    evaluate_deps(s, j, out);
    return 0;
  }
  /* an array parent: PENDING at spawn, children spawned directly in PENDING (spec 2.3) */
  j->arr = xcalloc(1, sizeof *j->arr);
  j->arr->size = size;
  j->arr->first_child = (uint32_t)s->njobs;
  j->arr->summary_at = s->now;
  set_status(s, j, JOB_PENDING, NULL, out);
  j->arr->counts[JOB_PENDING] = size;
  for (int i = 0; i < size; i++) {
    char cid[64];
    snprintf(cid, sizeof cid, "%s:%d", id, i);
    struct job *c = sched_job_new(s, cid);
    c->parent = j->idx;
    c->index = i;
    c->queue = qi;
    c->spec = sp;
    sp->refs++;
    c->created_at = s->now;
    c->queue_seq = j->queue_seq;
    c->status = JOB_PENDING;
    c->share = j->share;
    share_track(s, c, JOB__COUNT, JOB_PENDING);
    int n = nplain + nn2n + (seq && i > 0);
    c->deps = n ? xmalloc((size_t)n * sizeof *c->deps) : NULL;
    for (int k = 0; k < nplain; k++) c->deps[c->ndeps++] = plain[k];
    for (int k = 0; k < nn2n; k++) c->deps[c->ndeps++] = s->jobs[n2n[k]]->arr->first_child + (uint32_t)i;
    if (seq && i > 0) c->deps[c->ndeps++] = c->idx - 1;
    mark_dirty(s, c);
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
  struct out_ev *e = out_push(out, OUT_KILL);
  e->job = j->idx;
  e->inst = j->instance;
  e->attempt = j->attempt;
  e->at_ms = s->now;
  e->reason = dupn(j->stop_reason);
}

static void stop_job(struct sched *s, struct job *j, int terminate, const char *reason,
                     struct outbox *out) {
  if (terminal(j->status)) return; /* success without effect */
  if (j->arr) {
    set_str(&j->stop_reason, reason);
    if (terminate) j->terminated = 1;
    else j->cancelled = 1;
    for (int i = 0; i < j->arr->size; i++)
      stop_job(s, s->jobs[j->arr->first_child + (uint32_t)i], terminate, reason, out);
    mark_dirty(s, j);
    return;
  }
  char r[1100];
  snprintf(r, sizeof r, "%s: %s", terminate ? "Terminated" : "Cancelled", reason);
  switch ((enum job_status)j->status) {
  case JOB_SUBMITTED:
  case JOB_RUNNABLE:
    if (terminate) j->terminated = 1;
    else j->cancelled = 1;
    set_str(&j->stop_reason, reason);
    fail_job(s, j, r, out);
    break;
  case JOB_PENDING:
    j->pending_stop = terminate ? 2 : 1;
    set_str(&j->stop_reason, reason);
    mark_dirty(s, j);
    if (j->deps_left == 0) make_runnable_or_stop(s, j, out);
    else {
      /* T13 waits until every dependency is terminal */
      int all_terminal = 1;
      for (uint16_t k = 0; k < j->ndeps; k++)
        if (!terminal(s->jobs[j->deps[k]]->status)) all_terminal = 0;
      if (all_terminal) make_runnable_or_stop(s, j, out);
    }
    break;
  case JOB_STARTING:
  case JOB_RUNNING:
    if (!terminate) break; /* CancelJob leaves started jobs alone */
    if (!j->stopping) {
      j->stopping = 1;
      j->terminated = 1;
      set_str(&j->stop_reason, reason);
      kill_attempt(s, j, out);
      mark_dirty(s, j);
    }
    break;
  case JOB_SUCCEEDED:
  case JOB_FAILED:
  case JOB__COUNT:
    break;
  }
}

/* ---------------- instances ---------------- */

static void release_instance(struct sched *s, struct job *j) {
  if (j->instance == SCHED_NONE) return;
  struct instance *in = s->insts[j->instance];
  if (in->state == INST_READY && in->used_v == in->cap_v) avail_add(s, s->ces[in->ce], j->instance);
  in->used_v -= j->spec->vcpus;
  in->used_m -= j->spec->mem_mib;
  in->used_g -= j->spec->gpus;
  in->njobs--;
  if (in->njobs == 0) s->demand_dirty = 1; /* the busy set changed */
  if (in->state == INST_READY) s->ces[in->ce]->free_v += j->spec->vcpus;
  j->instance = SCHED_NONE;
  j->incarnation = 0;
  s->cycle_needed = 1;
}

static void on_attempt_end(struct sched *s, struct job *j, int32_t exit_code,
                           const char *status_reason, const char *container_reason,
                           int timed_out, struct outbox *out);

static void maybe_confirm_drain(struct sched *s, struct instance *in, struct outbox *out) {
  if (in->state == INST_DRAINING && in->njobs == 0 && !in->drain_confirmed) {
    in->drain_confirmed = 1;
    struct out_ev *e = out_push(out, OUT_INSTANCE);
    e->inst = (uint32_t)strmap_get(&s->inst_by_id, in->id);
    e->instance_kind = "DRAINED";
    e->at_ms = s->now;
  }
}

/* The instance is gone: every attempt on it ends with the lost-host reason (spec 2.4). */
static void instance_lost(struct sched *s, uint32_t ii, int emit_lost, struct outbox *out) {
  struct instance *in = s->insts[ii];
  if (in->state == INST_GONE) return;
  in->state = INST_GONE;
  char reason[128];
  snprintf(reason, sizeof reason, "Host EC2 (instance %s) terminated.", in->id);
  for (size_t k = 0; k < s->njobs && in->njobs > 0; k++) {
    struct job *j = s->jobs[k];
    if (j->instance == ii && (j->status == JOB_STARTING || j->status == JOB_RUNNING))
      on_attempt_end(s, j, NO_EXIT, reason, NULL, 0, out);
  }
  if (emit_lost) {
    struct out_ev *e = out_push(out, OUT_INSTANCE);
    e->inst = ii;
    e->instance_kind = "LOST";
    e->at_ms = s->now;
    e->reason = xstrdup("missed heartbeats");
  }
  if (recompute_ce_max(s, s->ces[in->ce])) reevaluate_codes(s, out);
  s->demand_dirty = 1;
}

/* The agent of instance ii restarted (a larger incarnation): the processes of attempts placed
 * on an earlier incarnation are gone with it, so those attempts end as on a lost host and are
 * retried by their rules (docs/architecture.md, "Agent incarnations"). */
static void settle_stale_attempts(struct sched *s, uint32_t ii, struct outbox *out) {
  struct instance *in = s->insts[ii];
  if (in->incarnation <= 0 || in->njobs == 0) return;
  char reason[128];
  snprintf(reason, sizeof reason, "Host EC2 (instance %s) terminated.", in->id);
  for (size_t k = 0; k < s->njobs && in->njobs > 0; k++) {
    struct job *j = s->jobs[k];
    if (j->instance == ii && (j->status == JOB_STARTING || j->status == JOB_RUNNING) &&
        j->incarnation > 0 && j->incarnation < in->incarnation)
      on_attempt_end(s, j, NO_EXIT, reason, NULL, 0, out);
  }
}

/* An agent's word carries its incarnation: a larger one than known means the agent restarted. */
static void see_incarnation(struct sched *s, uint32_t ii, int64_t inc, struct outbox *out) {
  struct instance *in = s->insts[ii];
  if (inc <= in->incarnation) return;
  in->incarnation = inc;
  settle_stale_attempts(s, ii, out);
}

static int handle_instance(struct sched *s, const json_t *ev, struct outbox *out, char *err,
                           size_t errlen) {
  const char *id = jstr(ev, "instanceId"), *kind = jstr(ev, "kind");
  const char *cename = jstr(ev, "computeEnvironment");
  if (!id || !kind || !cename) {
    snprintf(err, errlen, "InstanceEvent without instanceId, kind or computeEnvironment");
    return -1;
  }
  uint32_t ii = strmap_get(&s->inst_by_id, id);
  struct instance *in = ii == SCHED_NONE ? NULL : s->insts[ii];
  if (!strcmp(kind, "HEARTBEAT") && in && in->state == INST_GONE) return 0; /* a late beat from a dead host */
  int64_t inc = jlong(ev, "incarnation");
  int from_agent = !strcmp(kind, "READY") || !strcmp(kind, "HEARTBEAT");
  if (from_agent && in && inc > 0 && inc < in->incarnation) return 0; /* an older incarnation's late word */
  if (!strcmp(kind, "READY") || (!strcmp(kind, "HEARTBEAT") && !in)) {
    uint32_t ci = sched_find_ce(s, cename);
    if (ci == SCHED_NONE) {
      snprintf(err, errlen, "instance %s registers with unknown compute environment %s", id, cename);
      return -1;
    }
    if (!in) {
      in = xcalloc(1, sizeof *in);
      in->avail_pos = -1;
      snprintf(in->id, sizeof in->id, "%s", id);
      s->insts = xrealloc(s->insts, (s->ninsts + 1) * sizeof *s->insts);
      ii = (uint32_t)s->ninsts;
      s->insts[s->ninsts++] = in;
      strmap_put(&s->inst_by_id, in->id, ii);
      struct ce *c = s->ces[ci];
      if (c->ninst == c->capinst) {
        c->capinst = c->capinst ? c->capinst * 2 : 8;
        c->insts = xrealloc(c->insts, c->capinst * sizeof *c->insts);
      }
      /* keep ascending instance id order for tie-breaks */
      size_t pos = c->ninst;
      while (pos > 0 && strcmp(s->insts[c->insts[pos - 1]]->id, in->id) > 0) {
        c->insts[pos] = c->insts[pos - 1];
        pos--;
      }
      c->insts[pos] = ii;
      c->ninst++;
    } else if (in->state != INST_GONE && !strcmp(kind, "READY")) {
      in->last_seen = s->now;
      see_incarnation(s, ii, inc, out); /* a restarted agent; otherwise a repeated READY */
      return 0;
    }
    in->ce = ci;
    if (s->ces[ci]->launch_refused) {
      s->ces[ci]->launch_refused = 0;
      reevaluate_codes(s, out);
    }
    in->cap_v = jint(ev, "vcpus", 0);
    in->cap_m = jint(ev, "memoryMib", 0);
    in->cap_g = jint(ev, "gpus", 0);
    set_str(&in->type, jstr(ev, "instanceType"));
    if (in->state == INST_GONE) in->used_v = in->used_m = in->used_g = in->njobs = 0;
    in->state = INST_READY;
    in->drain_confirmed = 0;
    in->last_seen = s->now;
    if (inc > in->incarnation) in->incarnation = inc;
    if (recompute_ce_max(s, s->ces[ci])) reevaluate_codes(s, out);
    s->cycle_needed = 1;
    s->demand_dirty = 1;
    return 0;
  }
  if (!strcmp(kind, "LAUNCH_FAILED") || !strcmp(kind, "LAUNCHING")) {
    /* the provider refused (or accepted) a launch for this CE: CAPACITY code (spec 3.5) */
    uint32_t ci = sched_find_ce(s, cename);
    int refused = !strcmp(kind, "LAUNCH_FAILED");
    if (ci != SCHED_NONE && s->ces[ci]->launch_refused != refused) {
      s->ces[ci]->launch_refused = refused;
      reevaluate_codes(s, out);
    }
    return 0;
  }
  if (!in) return 0; /* news about an instance the scheduler never saw: nothing to do */
  if (!strcmp(kind, "HEARTBEAT")) {
    in->last_seen = s->now;
    see_incarnation(s, ii, inc, out);
  } else if (!strcmp(kind, "DRAIN_REQUESTED")) {
    if (in->state == INST_READY) {
      in->state = INST_DRAINING;
      recompute_ce_max(s, s->ces[in->ce]);
    }
    maybe_confirm_drain(s, in, out);
  } else if (!strcmp(kind, "TERMINATED") || !strcmp(kind, "LOST")) {
    instance_lost(s, ii, 0, out);
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
  a->container_reason = dupn(container_reason);
  a->status_reason = dupn(status_reason);
  a->started_at = j->attempt_started_at;
  a->stopped_at = s->now;
}

/* Decides retry or failure by the retry strategy (spec 5.4): rules in order, first match. */
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
  set_str(&j->container_reason, container_reason);
  close_attempt(s, j, exit_code, status_reason, container_reason);
  release_instance(s, j);
  if (inst != SCHED_NONE) maybe_confirm_drain(s, s->insts[inst], out);
  if (j->stopping || j->terminated) {
    char r[1100];
    snprintf(r, sizeof r, "Terminated: %s", j->stop_reason ? j->stop_reason : "");
    j->stopping = 0;
    fail_job(s, j, r, out); /* T14 */
  } else if (timed_out) {
    j->timed_out = 1;
    fail_job(s, j, status_reason, out); /* T11: never retried */
  } else if (exit_code == 0) {
    set_status(s, j, JOB_SUCCEEDED, status_reason, out); /* T8 */
    job_terminal(s, j, out);
  } else if (should_retry(j, exit_code, status_reason, container_reason)) {
    j->retried = 1;
    j->queue_seq = ++s->retry_seq;
    set_status(s, j, JOB_RUNNABLE, status_reason, out); /* T9 */
  } else {
    fail_job(s, j, status_reason, out); /* T10 */
  }
}

static int handle_execution(struct sched *s, const json_t *ev, struct outbox *out, char *err,
                            size_t errlen) {
  const char *id = jstr(ev, "jobId"), *kind = jstr(ev, "kind");
  int attempt = jint(ev, "attempt", 0);
  if (!id || !kind) {
    snprintf(err, errlen, "ExecutionReport without jobId or kind");
    return -1;
  }
  uint32_t ji = sched_find_job(s, id);
  if (ji == SCHED_NONE) return 0;
  struct job *j = s->jobs[ji];
  /* facts about an attempt that is no longer the live one are stale: ignore them */
  if (attempt != j->attempt || (j->status != JOB_STARTING && j->status != JOB_RUNNING)) return 0;
  const char *inst = jstr(ev, "instanceId");
  if (j->instance != SCHED_NONE && inst && strcmp(inst, s->insts[j->instance]->id)) return 0;
  int64_t inc = jlong(ev, "incarnation");
  if (inc > 0 && j->incarnation > 0 && inc != j->incarnation) return 0; /* another agent incarnation */
  json_t *ec = json_object_get(ev, "exitCode");
  int32_t code = json_is_integer(ec) ? (int32_t)json_integer_value(ec) : NO_EXIT;
  const char *lp = jstr(ev, "logPath");
  if (lp) set_str(&j->log_path, lp);
  if (!strcmp(kind, "STARTED")) {
    if (j->status == JOB_STARTING) {
      j->started_at = s->now;
      j->attempt_started_at = s->now;
      set_status(s, j, JOB_RUNNING, NULL, out); /* T7 */
    }
  } else if (!strcmp(kind, "EXITED") || !strcmp(kind, "KILLED")) {
    on_attempt_end(s, j, code, "Essential container in task exited", NULL, 0, out);
  } else if (!strcmp(kind, "FAILED_TO_START")) {
    const char *r = jstr(ev, "reason");
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

/* ---------------- the dispatch cycle (spec 3.1, 4.4) ---------------- */

/* Best fit inside one CE: the lowest leftover score, ties to the lowest instance id. */
static uint32_t best_instance(struct sched *s, struct ce *c, int v, int m, int g) {
  if (c->free_v < v) return SCHED_NONE;
  uint32_t best = SCHED_NONE;
  double best_score = 1e300;
  for (size_t k = 0; k < c->navail; k++) {
    uint32_t ii = c->avail[k];
    struct instance *in = s->insts[ii];
    int fv = in->cap_v - in->used_v, fm = in->cap_m - in->used_m, fg = in->cap_g - in->used_g;
    if (fv < v || fm < m || fg < g) continue;
    double score = (double)(fv - v) / in->cap_v;
    if (in->cap_m > 0) score += (double)(fm - m) / in->cap_m;
    if (in->cap_g > 0) score += (double)(fg - g) / in->cap_g;
    if (score < best_score || (score == best_score && strcmp(in->id, s->insts[best]->id) < 0)) {
      best_score = score;
      best = ii;
    }
  }
  return best;
}

static void place_job(struct sched *s, struct job *j, uint32_t ii, struct outbox *out) {
  struct instance *in = s->insts[ii];
  in->used_v += j->spec->vcpus;
  in->used_m += j->spec->mem_mib;
  in->used_g += j->spec->gpus;
  if (in->used_v >= in->cap_v) avail_del(s, s->ces[in->ce], ii);
  in->njobs++;
  if (in->njobs == 1) s->demand_dirty = 1; /* the busy set changed */
  s->ces[in->ce]->free_v -= j->spec->vcpus;
  j->instance = ii;
  j->incarnation = in->incarnation;
  j->attempt++;
  j->exit_code = NO_EXIT;
  free(j->container_reason);
  j->container_reason = NULL;
  j->attempt_started_at = 0;
  set_status(s, j, JOB_STARTING, NULL, out); /* T6 */
  struct out_ev *e = out_push(out, OUT_PLACEMENT);
  e->job = j->idx;
  e->inst = ii;
  e->attempt = j->attempt;
  e->incarnation = j->incarnation;
  e->at_ms = s->now;
}

struct failed_shape {
  int v, m, g;
};

static int queue_has_room(struct sched *s, struct queue *q) {
  for (int k = 0; k < q->nce; k++) {
    struct ce *c = s->ces[q->ce[k]];
    if (!c->deleted && c->enabled && c->valid && c->free_v > 0) return 1;
  }
  return 0;
}

/* The instance for a job: CEs in queue order, best fit inside the first CE with room. */
static uint32_t find_instance(struct sched *s, struct queue *q, const struct job *j) {
  for (int k = 0; k < q->nce; k++) {
    struct ce *c = s->ces[q->ce[k]];
    if (c->deleted || !c->enabled || !c->valid) continue;
    if (c->reserved_for != SCHED_NONE && c->reserved_for != j->idx) continue;
    uint32_t ii = best_instance(s, c, j->spec->vcpus, j->spec->mem_mib, j->spec->gpus);
    if (ii != SCHED_NONE) return ii;
  }
  return SCHED_NONE;
}

static int shape_failed(const struct failed_shape *f, int n, const struct job *j) {
  for (int i = 0; i < n; i++)
    if (j->spec->vcpus >= f[i].v && j->spec->mem_mib >= f[i].m && j->spec->gpus >= f[i].g) return 1;
  return 0;
}

static void add_failed(struct failed_shape *f, int *n, const struct job *j) {
  if (*n < 32) f[(*n)++] = (struct failed_shape){j->spec->vcpus, j->spec->mem_mib, j->spec->gpus};
}

/* FIFO: jobs in queue order; a job that does not fit does not stop smaller ones (backfill). */
/* Head reservation (spec 3.3): once the head has waited longer than the threshold, the first
 * CE able to hold it places nothing else, from any queue visited after this one. */
static void reserve_for_head(struct sched *s, struct queue *q, struct job *head) {
  if (s->now - q->head_since < s->conf.reservation_ms) return;
  for (int k = 0; k < q->nce; k++) {
    struct ce *c = s->ces[q->ce[k]];
    if (c->deleted || !c->enabled || !c->valid) continue;
    int holds = c->managed ? head->spec->vcpus <= c->maxv
                           : head->spec->vcpus <= c->max_v && head->spec->mem_mib <= c->max_m &&
                                 head->spec->gpus <= c->max_g;
    if (!holds) continue;
    if (c->reserved_for == SCHED_NONE) c->reserved_for = head->idx;
    return;
  }
}

/* FIFO: jobs in queue order; a job that does not fit does not stop smaller ones (backfill). */
static void dispatch_fifo(struct sched *s, struct queue *q, struct outbox *out) {
  struct failed_shape failed[32];
  int nfailed = 0;
  uint32_t head = SCHED_NONE;
  for (uint32_t at = q->rq.head; at != SCHED_NONE; at = s->jobs[at]->rq_next)
    if (!is_code(s->jobs[at]->status_reason)) {
      head = at;
      break;
    }
  if (head != q->head) {
    q->head = head;
    q->head_since = s->now;
  }
  uint32_t at = q->rq.head;
  while (at != SCHED_NONE && queue_has_room(s, q)) {
    struct job *j = s->jobs[at];
    uint32_t next = j->rq_next;
    if (!shape_failed(failed, nfailed, j)) {
      uint32_t ii = find_instance(s, q, j);
      if (ii != SCHED_NONE) place_job(s, j, ii, out);
      else add_failed(failed, &nfailed, j);
      if (ii == SCHED_NONE && at == head) reserve_for_head(s, q, j);
    }
    at = next;
  }
}

/* ---- fair share (spec 3.4) ---- */

static const json_t *fair_policy(struct sched *s, const struct queue *q) {
  for (size_t i = 0; i < s->npolicies; i++)
    if (!s->policies[i]->deleted && !strcmp(s->policies[i]->arn, q->policy_arn))
      return json_object_get(s->policies[i]->body, "fairsharePolicy");
  return NULL;
}

static double share_weight(const json_t *fp, const char *id) {
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(fp, "shareDistribution"), i, e) {
    const char *sid = jstr(e, "shareIdentifier");
    if (sid && prefix_glob_match(sid, id)) {
      json_t *w = json_object_get(e, "weightFactor");
      return w && json_number_value(w) > 0 ? json_number_value(w) : 1.0;
    }
  }
  return 1.0;
}

static int64_t bucket_width(int64_t window_ms) {
  int64_t w = window_ms / SHARE_BUCKETS;
  return w < 1000 ? 1000 : w;
}

/* Adds the vCPU-seconds held since the last accrual to the current bucket. */
static void share_accrue(struct share *sh, int64_t now, int64_t window_ms) {
  if (window_ms <= 0 || now <= sh->accrued_at) {
    if (now > sh->accrued_at) sh->accrued_at = now;
    return;
  }
  int64_t w = bucket_width(window_ms), start = now / w * w;
  int b = (int)((now / w) % SHARE_BUCKETS);
  if (sh->bucket_start[b] != start) {
    sh->bucket_start[b] = start;
    sh->bucket_vsec[b] = 0;
  }
  if (sh->accrued_at > 0) sh->bucket_vsec[b] += (double)sh->held_vcpus * (double)(now - sh->accrued_at) / 1000.0;
  sh->accrued_at = now;
}

/* U(s): vCPUs held now when W = 0; otherwise the vCPU-seconds of the last W seconds, each
 * weighted 1 - age/W, plus the vCPUs held now (so that one instant's placements balance). */
static double share_usage(const struct share *sh, int64_t now, int64_t window_ms) {
  double u = (double)sh->held_vcpus;
  if (window_ms <= 0) return u;
  int64_t w = bucket_width(window_ms);
  for (int b = 0; b < SHARE_BUCKETS; b++) {
    if (!sh->bucket_vsec[b]) continue;
    double age = (double)(now - (sh->bucket_start[b] + w / 2));
    if (age < 0) age = 0;
    if (age < (double)window_ms) u += sh->bucket_vsec[b] * (1.0 - age / (double)window_ms);
  }
  return u;
}

/* Keeps a share's counts as its jobs move (children and single jobs; not array parents). */
static void share_track(struct sched *s, struct job *j, int old, int st) {
  if (j->arr || j->queue == SCHED_NONE) return;
  struct queue *q = s->queues[j->queue];
  if (!fair_queue(q) || j->share >= q->nshares_) return;
  struct share *sh = &q->shares[j->share];
  const json_t *fp = fair_policy(s, q);
  int64_t window = (int64_t)json_integer_value(json_object_get(fp, "shareDecaySeconds")) * 1000;
  share_accrue(sh, s->now, window);
  int was_active = old < JOB__COUNT && !terminal(old), is_active = !terminal(st);
  int was_held = old == JOB_STARTING || old == JOB_RUNNING, is_held = st == JOB_STARTING || st == JOB_RUNNING;
  if (old == JOB__COUNT) was_active = 0;
  sh->active_jobs += is_active - was_active;
  if (was_active && !is_active && sh->active_jobs == 0) sh->last_active = s->now;
  sh->held_vcpus += (int64_t)(is_held - was_held) * j->spec->vcpus;
}

static int64_t queue_max_vcpus(struct sched *s, struct queue *q) {
  int64_t total = 0;
  for (int k = 0; k < q->nce; k++) {
    struct ce *c = s->ces[q->ce[k]];
    if (c->deleted) continue;
    if (c->managed) total += c->maxv;
    else {
      json_t *u = json_object_get(c->body, "unmanagedvCpus");
      if (json_is_integer(u) && json_integer_value(u) > 0) total += json_integer_value(u);
      else
        for (size_t i = 0; i < c->ninst; i++)
          if (s->insts[c->insts[i]]->state != INST_GONE) total += s->insts[c->insts[i]]->cap_v;
    }
  }
  return total;
}

static void dispatch_fair(struct sched *s, struct queue *q, struct outbox *out) {
  const json_t *fp = fair_policy(s, q);
  int64_t window = (int64_t)json_integer_value(json_object_get(fp, "shareDecaySeconds")) * 1000;
  int reservation = (int)json_integer_value(json_object_get(fp, "computeReservation"));
  size_t n = q->nshares_;
  if (!n) return;
  char *exhausted = xcalloc(n, 1);
  double *weight = xcalloc(n, sizeof *weight);
  int64_t held_total = 0;
  int active = 0;
  for (size_t i = 0; i < n; i++) {
    share_accrue(&q->shares[i], s->now, window);
    weight[i] = share_weight(fp, q->shares[i].id);
    held_total += q->shares[i].held_vcpus;
    if (q->shares[i].active_jobs > 0 || (window > 0 && s->now - q->shares[i].last_active < window)) active++;
  }
  double reserve = 0;
  int64_t max_total = queue_max_vcpus(s, q);
  if (reservation > 0) {
    double f = 1.0;
    for (int a = 0; a < active; a++) f *= reservation / 100.0;
    reserve = (double)max_total * f;
  }
  struct failed_shape failed[32];
  int nfailed = 0;
  while (queue_has_room(s, q)) {
    /* the active share with the smallest weighted usage supplies the next job */
    size_t best = SIZE_MAX;
    double best_u = 0;
    for (size_t i = 0; i < n; i++) {
      struct share *sh = &q->shares[i];
      if (exhausted[i] || sh->rq.head == SCHED_NONE) continue;
      double u = weight[i] * share_usage(sh, s->now, window);
      if (best == SIZE_MAX || u < best_u - 1e-9 ||
          (u < best_u + 1e-9 && fresh_before(s, s->jobs[sh->rq.head], s->jobs[q->shares[best].rq.head]))) {
        best = i;
        best_u = u;
      }
    }
    if (best == SIZE_MAX) break;
    struct share *sh = &q->shares[best];
    int placed = 0;
    for (uint32_t at = sh->rq.head; at != SCHED_NONE; at = s->jobs[at]->rq_next) {
      struct job *j = s->jobs[at];
      if (shape_failed(failed, nfailed, j)) continue;
      if (reservation > 0 && (double)(held_total + j->spec->vcpus) > (double)max_total - reserve) {
        exhausted[best] = 1; /* it would eat into the capacity held back for inactive shares */
        break;
      }
      uint32_t ii = find_instance(s, q, j);
      if (ii == SCHED_NONE) {
        add_failed(failed, &nfailed, j);
        continue;
      }
      place_job(s, j, ii, out);
      held_total += j->spec->vcpus;
      placed = 1;
      break;
    }
    if (!placed) exhausted[best] = 1;
  }
  free(exhausted);
  free(weight);
}

void sched_assign_share(struct sched *s, struct job *j) {
  if (j->queue == SCHED_NONE || !fair_queue(s->queues[j->queue])) return;
  j->share = share_of(s->queues[j->queue], j->spec ? j->spec->share_id : NULL);
  share_track(s, j, JOB__COUNT, j->status);
}

static void dispatch(struct sched *s, struct outbox *out) {
  s->cycle_needed = 0;
  for (size_t i = 0; i < s->nces; i++) s->ces[i]->reserved_for = SCHED_NONE;
  for (size_t oi = 0; oi < s->nqueues; oi++) {
    struct queue *q = s->queues[s->queue_order[oi]];
    if (q->deleted || q->nrunnable == 0) continue;
    if (fair_queue(q)) dispatch_fair(s, q, out);
    else dispatch_fifo(s, q, out);
  }
}

/* ---------------- capacity demand (spec 4.5, input to the provisioner) ---------------- */

static void emit_demand(struct sched *s, struct outbox *out) {
  s->demand_dirty = 0;
  size_t nce = s->nces;
  json_t **shapes = xcalloc(nce ? nce : 1, sizeof *shapes);
  for (size_t i = 0; i < nce; i++) shapes[i] = json_array();
  for (size_t qi = 0; qi < s->nqueues; qi++) {
    struct queue *q = s->queues[qi];
    if (q->deleted) continue;
    for (size_t si = 0; si < q->nshapes; si++) {
      const struct shape_count *sc = &q->shapes[si];
      int v = sc->v, m = sc->m, g = sc->g;
      if (sc->n <= 0 || shape_code(s, q, v, m, g)) continue; /* misconfigured jobs ask for nothing */
      for (int k = 0; k < q->nce; k++) {
        struct ce *c = s->ces[q->ce[k]];
        if (c->deleted || !c->managed || !c->enabled || !c->valid || v > c->maxv) continue;
        json_t *arr = shapes[q->ce[k]];
        size_t i;
        json_t *sh;
        int found = 0;
        json_array_foreach(arr, i, sh) {
          if (jint(sh, "vcpus", 0) == v && jint(sh, "memoryMib", 0) == m && jint(sh, "gpus", 0) == g) {
            json_object_set_new(sh, "count", json_integer(jint(sh, "count", 0) + sc->n));
            found = 1;
            break;
          }
        }
        if (!found)
          json_array_append_new(arr, json_pack("{s:i, s:i, s:i, s:I}", "vcpus", v, "memoryMib", m, "gpus", g, "count", (json_int_t)sc->n));
        break;
      }
    }
  }
  for (size_t i = 0; i < nce; i++) {
    struct ce *c = s->ces[i];
    if (!c->managed || c->deleted) {
      json_decref(shapes[i]);
      continue;
    }
    json_t *busy = json_array();
    for (size_t k = 0; k < c->ninst; k++) {
      struct instance *in = s->insts[c->insts[k]];
      if (in->state != INST_GONE && in->njobs > 0) json_array_append_new(busy, json_string(in->id));
    }
    if (c->last_demand && json_equal(c->last_demand, shapes[i]) && c->last_busy &&
        json_equal(c->last_busy, busy)) {
      json_decref(shapes[i]);
      json_decref(busy);
      continue;
    }
    json_decref(c->last_demand);
    c->last_demand = shapes[i];
    json_decref(c->last_busy);
    c->last_busy = busy;
    struct out_ev *e = out_push(out, OUT_CAPACITY);
    e->ce = (uint32_t)i;
    e->at_ms = s->now;
  }
  free(shapes);
}

/* ---------------- time (ticks) ---------------- */

static void on_tick(struct sched *s, struct outbox *out) {
  s->tick_now = 1;
  /* attempts restored onto an instance whose agent has restarted since */
  if (s->reconcile_needed) {
    s->reconcile_needed = 0;
    for (size_t i = 0; i < s->ninsts; i++)
      if (s->insts[i]->state != INST_GONE) settle_stale_attempts(s, (uint32_t)i, out);
  }
  /* lost instances */
  for (size_t i = 0; i < s->ninsts; i++) {
    struct instance *in = s->insts[i];
    if (in->state != INST_GONE && s->now - in->last_seen > s->conf.lost_after_ms)
      instance_lost(s, (uint32_t)i, 1, out);
  }
  /* queue time-limit actions (T15) */
  size_t w = 0;
  for (size_t i = 0; i < s->ncoded; i++) {
    struct job *j = s->jobs[s->coded[i]];
    if (j->status != JOB_RUNNABLE || !is_code(j->status_reason)) continue;
    struct queue *q = s->queues[j->queue];
    int fired = 0;
    for (int k = 0; k < q->ntl; k++) {
      if (!strcmp(q->tl[k].reason, j->status_reason) && s->now - j->code_since >= q->tl[k].max_ms) {
        char r[256];
        snprintf(r, sizeof r, "Cancelled: %s", j->status_reason);
        j->cancelled = 1;
        fail_job(s, j, r, out);
        fired = 1;
        break;
      }
    }
    if (!fired) s->coded[w++] = s->coded[i];
  }
  s->ncoded = w;
  s->cycle_needed = 1;
}

/* ---------------- entry point ---------------- */

static void flush_dirty(struct sched *s, struct outbox *out) {
  for (size_t i = 0; i < s->ndirty; i++) {
    struct job *j = s->jobs[s->dirty[i]];
    j->dirty = 0;
    if (!s->conf.emit_records) continue;
    struct out_ev *e = out_push(out, OUT_JOB_RECORD);
    e->job = j->idx;
    e->at_ms = s->now;
  }
  s->ndirty = 0;
}

int sched_handle(struct sched *s, enum barge_ev_type type, const json_t *ev, struct outbox *out,
                 char *err, size_t errlen) {
  int64_t t = event_time(ev);
  if (type == BARGE_EV_EXECUTION_REPORT || type == BARGE_EV_INSTANCE_EVENT) {
    int64_t at = (int64_t)json_integer_value(json_object_get(ev, "at"));
    if (at > t) t = at;
  }
  if (t > s->now) s->now = t;
  int rc = 0;
  switch (type) {
  case BARGE_EV_JOB_REQUEST: {
    json_t *body;
    const char *kind = union_branch(json_object_get(ev, "body"), &body);
    if (!kind) {
      snprintf(err, errlen, "JobRequest without a body");
      return -1;
    }
    if (!strcmp(kind, "SubmitJob")) {
      rc = handle_submit(s, body, out, err, errlen);
    } else if (!strcmp(kind, "CancelJob") || !strcmp(kind, "TerminateJob")) {
      uint32_t ji = sched_find_job(s, jstr(body, "jobId") ? jstr(body, "jobId") : "");
      if (ji != SCHED_NONE)
        stop_job(s, s->jobs[ji], kind[0] == 'T', jstr(body, "reason") ? jstr(body, "reason") : "", out);
    } else if (!strcmp(kind, "Tick")) {
      on_tick(s, out);
    } else {
      snprintf(err, errlen, "unknown request %s", kind);
      return -1;
    }
    break;
  }
  case BARGE_EV_CONFIG_RECORD:
    rc = handle_config(s, ev, out, err, errlen);
    break;
  case BARGE_EV_INSTANCE_EVENT:
    rc = handle_instance(s, ev, out, err, errlen);
    break;
  case BARGE_EV_EXECUTION_REPORT:
    rc = handle_execution(s, ev, out, err, errlen);
    break;
  default:
    snprintf(err, errlen, "the scheduler does not take %s events", codec_type_name(type));
    return -1;
  }
  if (rc) return rc;
  /* a new RUNNABLE job gets its blocking code before the cycle looks at it */
  for (size_t i = 0; i < s->ndirty; i++) {
    struct job *j = s->jobs[s->dirty[i]];
    if (j->status == JOB_RUNNABLE && j->in_rq && !j->retried) apply_code(s, j, out);
  }
  if (s->cycle_needed) dispatch(s, out);
  /* capacity demand goes out at most once per tick: each record repeats the CE's busy set, and
   * the provisioner batches decisions over a window anyway */
  if (s->demand_dirty && s->tick_now) emit_demand(s, out);
  s->tick_now = 0;
  flush_dirty(s, out);
  return 0;
}
