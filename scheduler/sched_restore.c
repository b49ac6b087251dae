/* sched_restore.c: rebuilds the core's state at start-up from the compacted topics the
 * scheduler itself wrote (barge.jobs, barge.instances) after barge.config. Because the
 * scheduler commits its consumed offsets and its outputs in one transaction, these records
 * are exactly the state after the committed offsets (docs/architecture.md, "The scheduler"). */
#include <stdlib.h>
#include <string.h>

#include "sched_int.h"
#include "states.h"

/* Copies the members named in keys (NULL-terminated) that src has into a new object. */
static json_t *pick(const json_t *src, const char *const *keys) {
  json_t *o = json_object();
  for (; *keys; keys++) {
    json_t *v = json_object_get(src, *keys);
    if (v) json_object_set(o, *keys, v);
  }
  return o;
}

/* What job_from_record reads of an array child that takes its family's shared spec (every child
 * but :0, whose record carries the spec): a queued child's record shrinks to a small part of
 * itself, which keeps the rebuild of a million queued children within the memory budget. */
static json_t *slim_child(const json_t *rec) {
  static const char *const top[] = {"attempt", "instanceId", "incarnation", "logPath", "queueSeq",
                                    "pendingStop", "pendingStopReason", "parentJobId",
                                    "dependencyIds", NULL};
  static const char *const detail[] = {"jobId", "jobQueue", "status", "statusReason", "createdAt",
                                       "startedAt", "stoppedAt", "isCancelled", "isTerminated",
                                       "arrayProperties", "attempts", NULL};
  json_t *r = pick(rec, top);
  json_object_set_new(r, "detail", pick(json_object_get(rec, "detail"), detail));
  return r;
}

/* ---- queued array children, kept small (sched_restore_lite) ---- */

struct lite_child {
  int64_t created_at, started_at, stopped_at, queue_seq;
  char *status_reason;
  uint32_t queue;
  uint16_t attempt;
  uint8_t present, status, cancelled, terminated;
};

/* One array's children by index (children arrive in any order, parents after or before). */
struct lite_family {
  char *parent;
  struct lite_child *v;
  uint32_t cap;
};

struct lite_store {
  struct strmap by_parent; /* parent id -> index in fam */
  struct lite_family *fam;
  size_t n, cap;
  uint32_t last; /* the family of the last record (a partition's records come in runs), n: none */
};

/* The index of a child id "<parent>:<index>" (canonical decimal, 1..999999), or -1; *plen the
 * length of the parent id. */
static long lite_index(const char *id, size_t *plen) {
  const char *colon = strrchr(id, ':');
  if (!colon || colon == id || colon[1] < '1' || colon[1] > '9') return -1;
  long idx = 0;
  const char *d = colon + 1;
  for (; *d >= '0' && *d <= '9' && d - colon <= 6; d++) idx = idx * 10 + (*d - '0');
  if (*d) return -1;
  *plen = (size_t)(colon - id);
  return idx;
}

/* The family of parent id pid[0..plen), or STRMAP_NONE (create: made when missing). */
static uint32_t lite_family_of(struct lite_store *ls, const char *pid, size_t plen, int create) {
  if (ls->last < ls->n && !strncmp(ls->fam[ls->last].parent, pid, plen) && !ls->fam[ls->last].parent[plen])
    return ls->last;
  char key[64];
  if (plen >= sizeof key) return STRMAP_NONE;
  memcpy(key, pid, plen);
  key[plen] = 0;
  uint32_t fi = strmap_get(&ls->by_parent, key);
  if (fi == STRMAP_NONE) {
    if (!create) return STRMAP_NONE;
    if (ls->n == ls->cap) {
      ls->cap = ls->cap ? ls->cap * 2 : 16;
      ls->fam = xrealloc(ls->fam, ls->cap * sizeof *ls->fam);
      for (size_t i = 0; i < ls->n; i++) strmap_put(&ls->by_parent, ls->fam[i].parent, (uint32_t)i);
    }
    fi = (uint32_t)ls->n++;
    ls->fam[fi] = (struct lite_family){.parent = xstrdup(key)};
    strmap_put(&ls->by_parent, ls->fam[fi].parent, fi);
  }
  return ls->last = fi;
}

/* The child's entry of "<parent>:<index>" (*idx its index), or NULL (create: made when missing). */
static struct lite_child *lite_slot(struct sched *s, const char *id, int create, long *idx_out) {
  size_t plen;
  long idx = lite_index(id, &plen);
  if (idx < 0 || (!s->lite && !create)) return NULL;
  if (!s->lite) {
    s->lite = xcalloc(1, sizeof *s->lite);
    strmap_init(&s->lite->by_parent);
    s->lite->last = UINT32_MAX;
  }
  uint32_t fi = lite_family_of(s->lite, id, plen, create);
  if (fi == STRMAP_NONE) return NULL;
  struct lite_family *f = &s->lite->fam[fi];
  if ((uint32_t)idx >= f->cap) {
    if (!create) return NULL;
    uint32_t cap = f->cap ? f->cap : 64;
    while (cap <= (uint32_t)idx) cap *= 2;
    f->v = xrealloc(f->v, cap * sizeof *f->v);
    memset(f->v + f->cap, 0, (cap - f->cap) * sizeof *f->v);
    f->cap = cap;
  }
  if (idx_out) *idx_out = idx;
  return &f->v[idx];
}

static void lite_drop(struct sched *s, const char *id) {
  struct lite_child *c = lite_slot(s, id, 0, NULL);
  if (!c || !c->present) return;
  free(c->status_reason);
  memset(c, 0, sizeof *c);
}

int sched_restore_lite(struct sched *s, const struct sched_lite *l) {
  int st = l->status ? job_status_parse(l->status) : -1;
  if (!l->id || st < 0 || strchr(l->id, '#') || strlen(l->id) >= sizeof ((struct job *)0)->id) return 1;
  long idx = -1; /* never :0, whose record carries its family's spec (lite_index refuses it) */
  struct lite_child *c = lite_slot(s, l->id, 1, &idx);
  if (!c || idx != l->index) return 1;
  if (s->restoring) json_object_del(s->restoring, l->id); /* the later record wins */
  free(c->status_reason);
  *c = (struct lite_child){.created_at = l->created_at, .started_at = l->started_at, .stopped_at = l->stopped_at,
                           .queue_seq = l->queue_seq, .queue = sched_restore_queue(s, l->queue),
                           .attempt = (uint16_t)l->attempt, .present = 1, .status = (uint8_t)st,
                           .cancelled = l->cancelled != 0, .terminated = l->terminated != 0};
  /* as job_from_record: a RUNNABLE job's blocking code is recomputed */
  if (l->status_reason && !(st == JOB_RUNNABLE && sched_is_code(l->status_reason)))
    c->status_reason = xstrdup(l->status_reason);
  return 0;
}

void sched_restore_free(struct sched *s) {
  json_decref(s->restoring);
  s->restoring = NULL;
  struct lite_store *ls = s->lite;
  if (!ls) return;
  for (size_t i = 0; i < ls->n; i++) {
    for (uint32_t c = 0; c < ls->fam[i].cap; c++) free(ls->fam[i].v[c].status_reason);
    free(ls->fam[i].v);
    free(ls->fam[i].parent);
  }
  free(ls->fam);
  strmap_release(&ls->by_parent);
  free(ls);
  s->lite = NULL;
}

/* What every restored job takes from its queue sequence and times. */
static void restore_seq_times(struct sched *s, struct job *j, int64_t qs) {
  j->retried = qs < 0;
  j->queue_seq = qs < 0 ? -qs : qs;
  if (j->retried && j->queue_seq > s->retry_seq) s->retry_seq = j->queue_seq;
  if (!j->retried && j->queue_seq > s->seq) s->seq = j->queue_seq;
  if (j->terminated && (j->status == JOB_STARTING || j->status == JOB_RUNNING)) j->stopping = 1;
  if (j->status == JOB_RUNNING) j->attempt_started_at = j->started_at;
  if (j->created_at > s->now) s->now = j->created_at;
  if (j->stopped_at > s->now) s->now = j->stopped_at;
}

static struct job *job_from_lite(struct sched *s, const char *id, struct lite_child *c, struct spec *shared) {
  struct job *j = sched_array_child_new(s, id);
  j->spec = shared;
  shared->refs++;
  j->queue = c->queue;
  j->status = c->status;
  j->status_reason = c->status_reason; /* taken */
  c->status_reason = NULL;
  j->created_at = c->created_at;
  j->started_at = c->started_at;
  j->stopped_at = c->stopped_at;
  j->cancelled = c->cancelled;
  j->terminated = c->terminated;
  j->attempt = c->attempt;
  restore_seq_times(s, j, c->queue_seq);
  return j;
}

int sched_restore_job(struct sched *s, const json_t *rec, char *err, size_t errlen) {
  json_t *d = json_object_get(rec, "detail");
  const char *id = jget_str(d, "jobId");
  if (!id) {
    snprintf(err, errlen, "JobRecord without detail.jobId");
    return -1;
  }
  if (!s->restoring) s->restoring = json_object();
  lite_drop(s, id); /* the later record wins */
  size_t n = strlen(id);
  /* array children share it; multi-node nodes (<id>#<i>) have their own */
  int shares_spec = jget_str(rec, "parentJobId") && strchr(id, ':') && !(n > 2 && !strcmp(id + n - 2, ":0"));
  if (shares_spec) { /* kept as compact text: a few hundred bytes rather than a tree */
    json_t *slim = slim_child(rec);
    char *text = json_dumps(slim, JSON_COMPACT);
    json_decref(slim);
    json_object_set_new(s->restoring, id, json_string(text ? text : "{}"));
    free(text);
  } else {
    json_object_set(s->restoring, id, (json_t *)rec);
  }
  return 0;
}

/* A record kept by sched_restore_job, as an object (a new reference), or NULL. */
static json_t *restored_rec(struct sched *s, const char *id) {
  json_t *v = json_object_get(s->restoring, id);
  if (!json_is_string(v)) return json_incref(v);
  return json_loads(json_string_value(v), 0, NULL);
}

void sched_restore_instance(struct sched *s, const json_t *ev) {
  const char *kind = jget_str(ev, "kind");
  if (!kind) return;
  int64_t at = jget_int(ev, "at", 0);
  if (at > s->now) s->now = at;
  if (!instance_kind_live(kind)) { /* gone, or still LAUNCHING */
    /* the table read before compaction holds the instance's READY and beats before its end:
     * the end must not leave it standing (the scheduler would place on a host that stopped) */
    uint32_t ii = instance_kind_ended(kind) ? strmap_get(&s->inst_by_id, jget_str(ev, "instanceId")) : SCHED_NONE;
    if (ii != SCHED_NONE && sched_incarnation_is_older(s, ii, jget_int(ev, "incarnation", 0))) ii = SCHED_NONE;
    if (ii != SCHED_NONE) {
      struct outbox o;
      sched_outbox_init(&o);
      sched_instance_lost(s, ii, 0, &o); /* no jobs are attached yet: they are restored after */
      sched_outbox_release(&o);
    }
    return;
  }
  json_t *ready = json_deep_copy(ev);
  json_object_set_new(ready, "kind", json_string("READY"));
  struct outbox o;
  sched_outbox_init(&o);
  char err[256];
  json_t *hdr = json_object_get(ready, "header");
  if (hdr) json_object_set_new(hdr, "event_time", json_integer(at));
  if (sched_handle(s, BARGE_EV_INSTANCE_EVENT, ready, &o, err, sizeof err) == 0) {
    uint32_t ii = strmap_get(&s->inst_by_id, jget_str(ev, "instanceId"));
    if (ii != SCHED_NONE && (!strcmp(kind, "DRAIN_REQUESTED") || !strcmp(kind, "DRAINED"))) {
      sched_ce_unready(s, ii, INST_DRAINING);
      s->insts[ii]->drain_confirmed = !strcmp(kind, "DRAINED");
    }
  }
  sched_outbox_release(&o);
  json_decref(ready);
}

void sched_restore_instance_ending(struct sched *s, const char *id, int64_t incarnation) {
  uint32_t ii = id ? strmap_get(&s->inst_by_id, id) : SCHED_NONE;
  if (ii == SCHED_NONE || s->insts[ii]->state == INST_GONE || sched_incarnation_is_older(s, ii, incarnation)) return;
  sched_ce_unready(s, ii, INST_DRAINING); /* the capacities are recomputed once the jobs are restored */
  s->insts[ii]->drain_confirmed = 1;   /* its end is on the way: no DRAINED */
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The last path element of an ARN ("…/ce/i-123" -> "i-123"), and the one before it. */
static void arn_tail(const char *arn, char *last, size_t n1, char *prev, size_t n2) {
  last[0] = prev[0] = 0;
  if (!arn) return;
  const char *l = strrchr(arn, '/');
  if (!l) return;
  snprintf(last, n1, "%s", l + 1);
  const char *p = l - 1;
  while (p > arn && *p != '/') p--;
  if (*p == '/') snprintf(prev, n2, "%.*s", (int)(l - p - 1), p + 1);
}

static struct spec *spec_from_detail(struct sched *s, const json_t *d) {
  struct spec *sp = sched_spec_new();
  sp->name = xstrdup(jget_str(d, "jobName") ? jget_str(d, "jobName") : "job");
  sp->jd = sched_find_jd(s, jget_str(d, "jobDefinition"));
  json_t *c = json_deep_copy(json_object_get(d, "container"));
  if (c) {
    static const char *live[] = {"exitCode", "reason", "containerInstanceArn", "taskArn",
                                 "logStreamName", "tags"};
    for (size_t i = 0; i < sizeof live / sizeof *live; i++) json_object_del(c, live[i]);
    sp->container = c;
    sched_resources(c, &sp->vcpus, &sp->mem_mib, &sp->gpus);
  }
  sp->params = json_deep_copy(json_object_get(d, "parameters"));
  json_t *rs = json_object_get(d, "retryStrategy");
  if (json_is_object(rs)) sp->retry_json = json_deep_copy(rs);
  sched_parse_retry(sp->retry_json, &sp->retry);
  sp->timeout_s = (int)json_integer_value(json_object_get(json_object_get(d, "timeout"), "attemptDurationSeconds"));
  const char *share = jget_str(d, "shareIdentifier");
  if (share) sp->share_id = xstrdup(share);
  json_t *pr = json_object_get(d, "schedulingPriority");
  if (json_is_integer(pr)) sp->sched_prio = (int)json_integer_value(pr);
  sp->tags = json_deep_copy(json_object_get(d, "tags"));
  sp->arn_prefix = sched_arn_prefix(jget_str(d, "jobArn"));
  sp->propagate_tags = json_is_true(json_object_get(d, "propagateTags"));
  sp->depends_on = json_deep_copy(json_object_get(d, "dependsOn"));
  return sp;
}

static struct job *job_from_record(struct sched *s, const json_t *rec, struct spec *shared) {
  json_t *d = json_object_get(rec, "detail");
  /* shared: an array child, found through its parent */
  struct job *j = shared ? sched_array_child_new(s, jget_str(d, "jobId")) : sched_job_new(s, jget_str(d, "jobId"));
  j->spec = shared ? shared : spec_from_detail(s, d);
  if (shared) shared->refs++;
  j->queue = sched_restore_queue(s, jget_str(d, "jobQueue"));
  int st = job_status_parse(jget_str(d, "status"));
  j->status = (uint8_t)(st < 0 ? JOB_FAILED : st);
  const char *r = jget_str(d, "statusReason");
  /* a blocking code is recomputed (its time-limit clock restarts at the rebuild); a WAITING:
   * reason stays until the next tick judges the queue's head again, as without a rebuild */
  if (r && !(j->status == JOB_RUNNABLE && sched_is_code(r)))
    j->status_reason = xstrdup(r);
  j->created_at = jget_int(d, "createdAt", 0);
  j->started_at = jget_int(d, "startedAt", 0);
  j->stopped_at = jget_int(d, "stoppedAt", 0);
  j->cancelled = json_is_true(json_object_get(d, "isCancelled"));
  j->terminated = json_is_true(json_object_get(d, "isTerminated"));
  j->attempt = (uint16_t)json_integer_value(json_object_get(rec, "attempt"));
  json_t *ap = json_object_get(d, "arrayProperties");
  json_t *idx = json_object_get(ap, "index");
  if (json_is_integer(idx)) j->index = (int32_t)json_integer_value(idx);
  const char *ps = jget_str(rec, "pendingStop");
  if (ps) j->pending_stop = !strcmp(ps, "TERMINATE") ? 2 : 1;
  const char *psr = jget_str(rec, "pendingStopReason");
  if (psr) j->stop_reason = xstrdup(psr);
  const char *lp = jget_str(rec, "logPath");
  if (lp) j->log_path = xstrdup(lp);
  restore_seq_times(s, j, jget_int(rec, "queueSeq", 0));
  size_t i;
  json_t *a;
  json_t *atts = json_object_get(d, "attempts");
  if (json_array_size(atts)) j->attempts = xcalloc(json_array_size(atts), sizeof *j->attempts);
  json_array_foreach(atts, i, a) {
    struct attempt *x = &j->attempts[j->nattempts++];
    json_t *c = json_object_get(a, "container");
    char last[128], prev[160];
    arn_tail(jget_str(c, "containerInstanceArn"), last, sizeof last, prev, sizeof prev);
    snprintf(x->instance_id, sizeof x->instance_id, "%.31s", last);
    x->ce = prev[0] ? sched_find_ce(s, prev) : SCHED_NONE;
    arn_tail(jget_str(c, "taskArn"), last, sizeof last, prev, sizeof prev);
    snprintf(x->task_id, sizeof x->task_id, "%.36s", last);
    json_t *ec = json_object_get(c, "exitCode");
    x->exit_code = json_is_integer(ec) ? (int32_t)json_integer_value(ec) : INT32_MIN;
    if (jget_str(c, "reason")) x->container_reason = xstrdup(jget_str(c, "reason"));
    if (jget_str(a, "statusReason")) x->status_reason = xstrdup(jget_str(a, "statusReason"));
    x->started_at = jget_int(a, "startedAt", 0);
    x->stopped_at = jget_int(a, "stoppedAt", 0);
  }
  const char *inst = jget_str(rec, "instanceId");
  if (inst && (j->status == JOB_STARTING || j->status == JOB_RUNNING)) {
    uint32_t ii = strmap_get(&s->inst_by_id, inst);
    if (ii != SCHED_NONE && s->insts[ii]->state != INST_GONE) { /* a gone host: as an unknown one */
      struct instance *in = s->insts[ii];
      sched_attach_job(s, j, ii);
      j->incarnation = jget_int(rec, "incarnation", 0);
      in->used_v += j->spec->vcpus;
      in->used_m += j->spec->mem_mib;
      in->used_g += j->spec->gpus;
      in->njobs++;
    }
  }
  return j;
}

/* A multi-node parent's node jobs <id>#<i>, from their own records (written with the parent's). */
static void restore_nodes(struct sched *s, uint32_t pidx, const json_t *np) {
  int n = (int)jget_int(np, "numNodes", 0), main_node = (int)jget_int(np, "mainNode", 0);
  if (n < 1 || main_node < 0 || main_node >= n) return;
  uint32_t first = (uint32_t)s->njobs;
  for (int i = 0; i < n; i++) {
    char id[64];
    snprintf(id, sizeof id, "%s#%d", s->jobs[pidx]->id, i);
    json_t *rec = restored_rec(s, id);
    if (rec) {
      job_from_record(s, rec, NULL);
      json_decref(rec);
      continue;
    }
    struct job *nj = sched_job_new(s, id); /* not written: it cannot run, say so */
    nj->spec = s->jobs[pidx]->spec;
    nj->spec->refs++;
    nj->queue = s->jobs[pidx]->queue;
    nj->status = JOB_FAILED;
    nj->status_reason = xstrdup("the node's record was not found at the scheduler's restart");
  }
  sched_gang_relink(s, s->jobs[pidx], n, main_node, first);
}

/* A RUNNABLE job's place at the rebuild, sorted without touching the jobs themselves. */
struct rq_key {
  int64_t seq;
  uint32_t idx;
  uint8_t retried;
};

static int cmp_rq(const void *a, const void *b) {
  const struct rq_key *x = a, *y = b;
  if (x->retried != y->retried) return x->retried ? -1 : 1;
  if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Writes the decimal c after the "<parent>:" prefix of id (plen bytes). */
static void child_id(char *id, size_t plen, int c) {
  char d[12];
  int n = 0;
  do d[n++] = (char)('0' + c % 10);
  while ((c /= 10) > 0);
  while (n) id[plen++] = d[--n];
  id[plen] = 0;
}

void sched_restore_done(struct sched *s) {
  if (!s->restoring) {
    sched_restore_free(s); /* children without a parent record are not rebuilt, as before */
    return;
  }
  size_t n = json_object_size(s->restoring), nk = 0;
  const char **keys = xcalloc(n ? n : 1, sizeof *keys);
  const char *k;
  json_t *v;
  json_object_foreach(s->restoring, k, v) {
    if (!json_is_string(v) && !jget_str(v, "parentJobId")) keys[nk++] = k;
  }
  qsort(keys, nk, sizeof *keys, cmp_str);
  /* per job index: built from a lite child (no dependencies to look up) */
  uint8_t *no_deps = NULL;
  size_t cap_nd = 0;
  for (size_t i = 0; i < nk; i++) {
    json_t *rec = json_object_get(s->restoring, keys[i]);
    struct job *p = job_from_record(s, rec, NULL);
    json_t *np = json_object_get(json_object_get(rec, "detail"), "nodeProperties");
    if (json_is_object(np)) {
      restore_nodes(s, p->idx, np);
      continue;
    }
    json_t *ap = json_object_get(json_object_get(rec, "detail"), "arrayProperties");
    json_t *size = json_object_get(ap, "size");
    if (!json_is_integer(size)) continue;
    /* the family's shared spec (command, resources) travels in the children's records */
    char c0[64];
    snprintf(c0, sizeof c0, "%s:0", p->id);
    json_t *c0rec = json_object_get(s->restoring, c0);
    if (c0rec) {
      struct spec *sp = spec_from_detail(s, json_object_get(c0rec, "detail"));
      sched_spec_unref(p->spec);
      p->spec = sp;
    }
    p->arr = xcalloc(1, sizeof *p->arr);
    p->arr->size = (int)json_integer_value(size);
    p->arr->first_child = (uint32_t)s->njobs;
    p->arr->summary_at = jget_int(ap, "statusSummaryLastUpdatedAt", 0);
    uint32_t pidx = p->idx;
    uint32_t fi = s->lite ? strmap_get(&s->lite->by_parent, p->id) : STRMAP_NONE;
    struct lite_family *fam = fi != STRMAP_NONE ? &s->lite->fam[fi] : NULL;
    char cid[64];
    size_t plen = (size_t)snprintf(cid, sizeof cid, "%s:", p->id);
    for (int c = 0; c < p->arr->size; c++) {
      child_id(cid, plen, c);
      struct lite_child *lc = fam && (uint32_t)c < fam->cap && fam->v[c].present ? &fam->v[c] : NULL;
      json_t *crec = lc ? NULL : restored_rec(s, cid);
      struct job *cj;
      if (lc) {
        cj = job_from_lite(s, cid, lc, s->jobs[pidx]->spec);
        if (cj->idx >= cap_nd) {
          size_t n = cap_nd ? cap_nd : 1024;
          while (n <= cj->idx) n *= 2;
          no_deps = xrealloc(no_deps, n);
          memset(no_deps + cap_nd, 0, n - cap_nd);
          cap_nd = n;
        }
        no_deps[cj->idx] = 1;
      } else if (crec) {
        cj = job_from_record(s, crec, s->jobs[pidx]->spec);
        json_decref(crec);
      } else { /* a child never written: it was spawned PENDING with its parent */
        cj = sched_array_child_new(s, cid);
        cj->spec = s->jobs[pidx]->spec;
        cj->spec->refs++;
        cj->queue = s->jobs[pidx]->queue;
        cj->status = JOB_PENDING;
        cj->created_at = s->jobs[pidx]->created_at;
        cj->queue_seq = s->jobs[pidx]->queue_seq;
      }
      cj->parent = pidx;
      cj->index = c;
      s->jobs[pidx]->arr->counts[cj->status]++;
    }
  }
  /* dependencies and dependents */
  for (size_t i = 0; i < s->njobs; i++) {
    struct job *j = s->jobs[i];
    if (i < cap_nd && no_deps[i]) continue;
    json_t *kept = json_object_get(s->restoring, j->id);
    /* a compact child record is parsed again only when it names dependencies */
    json_t *rec = json_is_string(kept) && !strstr(json_string_value(kept), "\"dependencyIds\":[\"")
                      ? NULL
                      : restored_rec(s, j->id);
    json_t *ids = json_object_get(rec, "dependencyIds");
    if (json_array_size(ids)) {
      j->deps = xcalloc(json_array_size(ids), sizeof *j->deps);
      size_t x;
      json_t *e;
      json_array_foreach(ids, x, e) {
        uint32_t di = sched_find_job(s, json_string_value(e));
        if (di != SCHED_NONE) j->deps[j->ndeps++] = di;
      }
    }
    json_decref(rec);
    if (j->status == JOB_PENDING) {
      /* deps_left counts the dependencies still to end, each of which will say so
       * (sched_job_terminal): a failed one still PENDING here has a cancel or terminate waiting
       * for the others (T13), and counted, it kept the job PENDING for ever */
      for (uint16_t d = 0; d < j->ndeps; d++) {
        struct job *dj = s->jobs[j->deps[d]];
        if (!sched_terminal(dj->status)) {
          j->deps_left++;
          sched_add_dependent(s, dj, j->idx);
        }
      }
    }
  }
  free(no_deps);
  for (size_t i = 0; i < s->njobs; i++) sched_assign_share(s, s->jobs[i]);
  sched_share_restore_usage(s);
  /* shares of ended jobs whose usage has gone: reclaimed, as the scheduler that did not
   * restart has done or does at its next dispatch cycle (nothing tells them apart) */
  for (size_t i = 0; i < s->nqueues; i++)
    if (sched_fair_queue(s->queues[i])) sched_share_sweep(s, s->queues[i]);
  /* the runnable lists: retried jobs first in return order, then fresh ones (ties: job index) */
  struct rq_key *rq = xcalloc(s->njobs ? s->njobs : 1, sizeof *rq);
  size_t nrq = 0;
  for (size_t i = 0; i < s->njobs; i++) {
    const struct job *j = s->jobs[i];
    if (j->status == JOB_RUNNABLE && j->queue != SCHED_NONE)
      rq[nrq++] = (struct rq_key){.retried = j->retried, .seq = j->queue_seq, .idx = (uint32_t)i};
  }
  qsort(rq, nrq, sizeof *rq, cmp_rq);
  for (size_t i = 0; i < nrq; i++) sched_enqueue(s, s->jobs[rq[i].idx]);
  free(rq);
  for (size_t i = 0; i < s->nces; i++) (void)sched_recompute_ce(s, s->ces[i]);
  sched_recode_all(s);
  free(keys);
  sched_restore_free(s);
  s->cycle_needed = 1;
  s->demand_dirty = 1;
  s->reconcile_needed = 1;
}
