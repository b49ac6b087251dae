/* sched.c: the scheduler core's entry point (sched_handle), its lifecycle, the outbox, the job
 * table and the helpers its other files share (sched_int.h):
 *   sched_config.c    compute environments, job queues, job definitions, scheduling policies
 *   sched_submit.c    submission, dependencies, array jobs, cancel and terminate (T1-T5, T12-T14)
 *   sched_attempt.c   instances and attempts, retries, lost hosts (T6-T11)
 *   sched_dispatch.c  the runnable lists, blocking codes, placement, fair share, capacity demand
 *   sched_time.c      ticks: lost instances, queue time-limit actions (T15)
 *   sched_wait.c      why a job is not placed: blocking codes' words, WAITING:... reasons
 * Pure: no I/O, no clock, no randomness. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

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

void sched_conf_defaults(struct sched_conf *c) {
  memset(c, 0, sizeof *c);
  c->partition = "aws";
  c->region = "us-east-1";
  c->account = "000000000000";
  c->lost_after_ms = 30000;
  c->reservation_ms = 300000;
  c->kill_grace_ms = 30000;
  c->max_array_size = 10000;
  c->max_active_shares = 500;
  c->emit_records = 1;
}

/* ---------------- outbox ---------------- */

void sched_outbox_init(struct outbox *o) { memset(o, 0, sizeof *o); }
void sched_outbox_reset(struct outbox *o) {
  for (size_t i = 0; i < o->n; i++) {
    free(o->ev[i].reason);
    json_decref(o->ev[i].detail);
  }
  o->n = 0;
}
void sched_outbox_release(struct outbox *o) {
  sched_outbox_reset(o);
  free(o->ev);
  sched_outbox_init(o);
}
struct out_ev *sched_out_push(struct outbox *o, enum out_kind k) {
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

void sched_set_str(char **dst, const char *s) {
  if (*dst && s && !strcmp(*dst, s)) return;
  free(*dst);
  *dst = sched_dupn(s);
}
const char *sched_body(const json_t *ev, const char *what, json_t **body, char *err,
                       size_t errlen) {
  const json_t *u = json_object_get(ev, "body");
  if (json_is_object(u) && json_object_size(u) == 1) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)u, k, v) {
      *body = v;
      return k;
    }
  }
  snprintf(err, errlen, "%s without a body", what);
  return NULL;
}
static int64_t event_time(const json_t *ev) {
  json_t *h = json_object_get(ev, "header");
  return (int64_t)json_integer_value(json_object_get(h, "event_time"));
}

char *sched_arn_prefix(const char *job_arn) {
  const char *p = job_arn ? strstr(job_arn, ":job/") : NULL;
  if (!p || strncmp(job_arn, "arn:", 4)) return NULL;
  size_t n = (size_t)(p - job_arn) + 1;
  char *out = xmalloc(n + 1);
  memcpy(out, job_arn, n);
  out[n] = 0;
  return out;
}

/* TagResource / UntagResource of a job: the tags of its spec (an array's children share it,
 * so they are rewritten too). */
int sched_tag_job(struct sched *s, const json_t *body, char *err, size_t errlen) {
  uint32_t ji = sched_find_job(s, jget_str(body, "jobId") ? jget_str(body, "jobId") : "");
  if (ji == SCHED_NONE || !s->jobs[ji]->spec) return 0;
  struct job *j = s->jobs[ji];
  struct spec *sp = j->spec;
  json_t *before = sp->tags ? json_deep_copy(sp->tags) : NULL;
  if (!sp->tags) sp->tags = json_object();
  json_t *t = json_object_get(body, "tags");
  if (json_is_object(t)) json_object_update(sp->tags, t);
  size_t i;
  json_t *k;
  json_array_foreach(json_object_get(body, "untagKeys"), i, k) if (json_is_string(k))
    json_object_del(sp->tags, json_string_value(k));
  /* each request's tags are checked by the producer, not what the job holds after many: the
   * job's records carry its tags, and Kafka refuses a record above about 1 MB */
  size_t bytes = sp->jd ? sched_spec_bytes(sp, sp->jd) : 0;
  if (bytes > SCHED_MAX_JOB_BYTES) {
    json_decref(sp->tags);
    sp->tags = before;
    snprintf(err, errlen, "TagJob for job %s refused: with these tags the job would hold %zu bytes, at most %d "
             "(docs/job-model.md §9); untag some first", j->id, bytes, SCHED_MAX_JOB_BYTES);
    return -1;
  }
  json_decref(before);
  sched_mark_dirty(s, j);
  for (int c = 0; j->arr && c < j->arr->size; c++) sched_mark_dirty(s, s->jobs[j->arr->first_child + (uint32_t)c]);
  return 0;
}

void sched_arn(const struct sched *s, const char *suffix, char *out, size_t outlen) {
  snprintf(out, outlen, "arn:%s:batch:%s:%s:%s", s->conf.partition, s->conf.region, s->conf.account, suffix);
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
    x->on_status_reason = sched_dupn(jget_str(rule, "onStatusReason"));
    x->on_reason = sched_dupn(jget_str(rule, "onReason"));
    x->on_exit_code = sched_dupn(jget_str(rule, "onExitCode"));
    const char *act = jget_str(rule, "action");
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
    const char *t = jget_str(rr, "type"), *val = jget_str(rr, "value");
    if (!t || !val) continue;
    if (!strcmp(t, "VCPU")) *v = atoi(val), hv = 1;
    else if (!strcmp(t, "MEMORY")) *m = atoi(val), hm = 1;
    else if (!strcmp(t, "GPU")) *g = atoi(val);
  }
  if (!hv) *v = (int)jget_int(container, "vcpus", 0);
  if (!hm) *m = (int)jget_int(container, "memory", 0);
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
  free(sp->arn_prefix);
  free(sp);
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
  free(j->mnp);
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

void sched_jd_clear(struct jobdef *d) {
  json_decref(d->body);
  json_decref(d->container);
  json_decref(d->container_subst);
  json_decref(d->params);
  json_decref(d->retry_json);
  json_decref(d->nodes);
  d->nodes = NULL;
  sched_free_retry(&d->retry);
}

static void free_jd(struct jobdef *d) {
  free(d->name);
  free(d->arn);
  sched_jd_clear(d);
  free(d);
}

static void free_ce(struct ce *c) {
  free(c->name);
  free(c->arn);
  json_decref(c->body);
  json_decref(c->last_demand);
  json_decref(c->last_busy);
  free(c->insts);
  free(c->avail);
  for (int d = 0; d < 3; d++) free(c->caps[d].v);
  free(c);
}

void sched_queue_clear_time_limits(struct queue *q) {
  for (int k = 0; k < q->ntl; k++) free(q->tl[k].reason);
  free(q->tl);
  q->tl = NULL;
  q->ntl = 0;
}

static void free_queue(struct queue *q) {
  free(q->name);
  free(q->arn);
  free(q->policy_arn);
  sched_queue_clear_time_limits(q);
  free(q->shapes);
  for (size_t k = 0; k < q->nshares_; k++) free(q->shares[k].id);
  free(q->shares);
  free(q->free_shares);
  strmap_release(&q->share_by_id);
  free(q);
}

static void free_policy(struct policy *p) {
  free(p->name);
  free(p->arn);
  json_decref(p->body);
  free(p);
}

void sched_free(struct sched *s) {
  if (!s) return;
  for (size_t i = 0; i < s->njobs; i++) free_job(s->jobs[i]);
  free(s->jobs);
  strmap_release(&s->job_by_id);
  strmap_release(&s->inst_by_id);
  for (size_t i = 0; i < s->njds; i++) free_jd(s->jds[i]);
  free(s->jds);
  for (size_t i = 0; i < s->nces; i++) free_ce(s->ces[i]);
  free(s->ces);
  for (size_t i = 0; i < s->nqueues; i++) free_queue(s->queues[i]);
  free(s->queues);
  free(s->queue_order);
  for (size_t i = 0; i < s->npolicies; i++) free_policy(s->policies[i]);
  free(s->policies);
  for (size_t i = 0; i < s->ninsts; i++) {
    if (!s->insts[i]) continue; /* forgotten */
    free(s->insts[i]->type);
    free(s->insts[i]->address);
    free(s->insts[i]);
  }
  free(s->insts);
  free(s->live);
  free(s->free_insts);
  free(s->gone);
  free(s->dirty);
  free(s->coded);
  free(s->ended);
  sched_restore_free(s);
  free(s);
}

int64_t sched_now(const struct sched *s) { return s->now; }
size_t sched_job_count(const struct sched *s) { return s->njobs; }
/* Array children are not in job_by_id (a million of them would double the rebuild's work and
 * cost 24 MB): "<parent>:<index>" is found through its parent, whose children are contiguous. */
uint32_t sched_find_job(const struct sched *s, const char *id) {
  uint32_t j = strmap_get(&s->job_by_id, id);
  if (j != STRMAP_NONE || !id) return j == STRMAP_NONE ? SCHED_NONE : j;
  const char *colon = strrchr(id, ':');
  char pid[sizeof ((struct job *)0)->id];
  if (!colon || colon == id || (size_t)(colon - id) >= sizeof pid || colon[1] < '0' || colon[1] > '9')
    return SCHED_NONE;
  char *end;
  long n = strtol(colon + 1, &end, 10);
  if (*end) return SCHED_NONE;
  memcpy(pid, id, (size_t)(colon - id));
  pid[colon - id] = 0;
  uint32_t p = strmap_get(&s->job_by_id, pid);
  if (p == STRMAP_NONE || !s->jobs[p]->arr || n >= s->jobs[p]->arr->size) return SCHED_NONE;
  uint32_t c = s->jobs[p]->arr->first_child + (uint32_t)n;
  return c < s->njobs && !strcmp(s->jobs[c]->id, id) ? c : SCHED_NONE;
}
enum job_status sched_job_status(const struct sched *s, uint32_t j) {
  return (enum job_status)s->jobs[j]->status;
}
const char *sched_job_id(const struct sched *s, uint32_t j) { return s->jobs[j]->id; }
const char *sched_instance_id(const struct sched *s, uint32_t i) { return s->insts[i]->id; }
size_t sched_instances_kept(const struct sched *s) { return s->ninsts - s->nfree_insts; }

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

static struct job *job_alloc(struct sched *s, const char *id, int indexed) {
  if (s->njobs == s->capjobs) {
    s->capjobs = s->capjobs ? s->capjobs * 2 : 1024;
    s->jobs = xrealloc(s->jobs, s->capjobs * sizeof *s->jobs);
  }
  struct job *j = xcalloc(1, sizeof *j);
  size_t n = strlen(id);
  if (n >= sizeof j->id) n = sizeof j->id - 1;
  memcpy(j->id, id, n);
  j->idx = (uint32_t)s->njobs;
  j->parent = j->instance = j->rq_prev = j->rq_next = j->inst_prev = j->inst_next = SCHED_NONE;
  j->queue = SCHED_NONE;
  j->index = -1;
  j->exit_code = NO_EXIT;
  s->jobs[s->njobs++] = j;
  if (indexed) strmap_put(&s->job_by_id, j->id, j->idx);
  return j;
}

struct job *sched_job_new(struct sched *s, const char *id) { return job_alloc(s, id, 1); }
struct job *sched_array_child_new(struct sched *s, const char *id) { return job_alloc(s, id, 0); }

struct job *sched_child_new(struct sched *s, const struct job *parent, const char *id, struct spec *sp) {
  struct job *c = parent->arr ? sched_array_child_new(s, id) : sched_job_new(s, id);
  c->parent = parent->idx;
  c->queue = parent->queue;
  c->spec = sp;
  sp->refs++;
  c->created_at = s->now;
  c->queue_seq = parent->queue_seq;
  c->status = JOB_PENDING;
  c->share = parent->share;
  sched_share_track(s, c, JOB__COUNT, JOB_PENDING);
  return c;
}

void sched_mark_dirty(struct sched *s, struct job *j) {
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


/* ---------------- entry point ---------------- */

static void flush_dirty(struct sched *s, struct outbox *out) {
  for (size_t i = 0; i < s->ndirty; i++) {
    struct job *j = s->jobs[s->dirty[i]];
    j->dirty = 0;
    if (!s->conf.emit_records) continue;
    struct out_ev *e = sched_out_push(out, OUT_JOB_RECORD);
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
    const char *kind = sched_body(ev, "JobRequest", &body, err, errlen);
    if (!kind) return -1;
    if (!strcmp(kind, "SubmitJob")) {
      rc = sched_handle_submit(s, body, out, err, errlen);
    } else if (!strcmp(kind, "CancelJob") || !strcmp(kind, "TerminateJob")) {
      uint32_t ji = sched_find_job(s, jget_str(body, "jobId") ? jget_str(body, "jobId") : "");
      if (ji != SCHED_NONE)
        sched_stop_job(s, s->jobs[ji], kind[0] == 'T', jget_str(body, "reason") ? jget_str(body, "reason") : "", out);
    } else if (!strcmp(kind, "TagJob")) {
      rc = sched_tag_job(s, body, err, errlen);
    } else if (!strcmp(kind, "Tick")) {
      sched_on_tick(s, out);
    } else {
      snprintf(err, errlen, "unknown request %s", kind);
      return -1;
    }
    break;
  }
  case BARGE_EV_CONFIG_RECORD:
    rc = sched_handle_config(s, ev, out, err, errlen);
    break;
  case BARGE_EV_INSTANCE_EVENT:
    rc = sched_handle_instance(s, ev, out, err, errlen);
    break;
  case BARGE_EV_EXECUTION_REPORT:
    rc = sched_handle_execution(s, ev, out, err, errlen);
    break;
  default:
    snprintf(err, errlen, "the scheduler does not take %s events", codec_type_name(type));
    return -1;
  }
  if (rc) return rc;
  /* a new RUNNABLE job gets its blocking code before the cycle looks at it */
  for (size_t i = 0; i < s->ndirty; i++) {
    struct job *j = s->jobs[s->dirty[i]];
    if (j->status == JOB_RUNNABLE && j->in_rq && !j->retried) sched_apply_code(s, j, out);
  }
  if (s->cycle_needed) sched_dispatch(s, out);
  /* capacity demand goes out at most once per tick: each record repeats the CE's busy set, and
   * the provisioner batches decisions over a window anyway */
  if (s->demand_dirty && s->tick_now) sched_emit_demand(s, out);
  s->tick_now = 0;
  flush_dirty(s, out);
  return 0;
}
