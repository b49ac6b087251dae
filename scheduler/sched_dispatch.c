/* sched_dispatch.c: what runs where: the RUNNABLE lists, blocking codes, the dispatch cycle
 * (queue priority, FIFO with backfill and head reservation, best fit; T6), fair share, and the
 * capacity demand the provisioner reads. Pure (see sched.c). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "sched_int.h"

/* ---------------- the runnable lists ---------------- */

static void shape_add(struct queue *q, const struct spec *sp, int one_each, int delta) {
  for (size_t i = 0; i < q->nshapes; i++) {
    struct shape_count *c = &q->shapes[i];
    if (c->v == sp->vcpus && c->m == sp->mem_mib && c->g == sp->gpus && c->one_each == one_each) {
      c->n += delta;
      return;
    }
  }
  if (q->nshapes == q->capshapes) {
    q->capshapes = q->capshapes ? q->capshapes * 2 : 4;
    q->shapes = xrealloc(q->shapes, q->capshapes * sizeof *q->shapes);
  }
  q->shapes[q->nshapes++] = (struct shape_count){sp->vcpus, sp->mem_mib, sp->gpus, one_each, delta};
}

/* A RUNNABLE job's shapes: its own, or a multi-node parent's nodes' (one instance each). */
static void job_shapes_add(struct sched *s, struct queue *q, const struct job *j, int delta) {
  if (!j->mnp) {
    shape_add(q, j->spec, 0, delta);
    return;
  }
  for (int i = 0; i < j->mnp->num_nodes; i++) shape_add(q, s->jobs[j->mnp->first_node + (uint32_t)i]->spec, 1, delta);
}

static struct rlist *list_of(struct queue *q, const struct job *j) {
  return sched_fair_queue(q) ? &q->shares[j->share].rq : &q->rq;
}

void sched_rq_unlink(struct sched *s, struct job *j) {
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
  /* a head that leaves RUNNABLE (placed, cancelled) is head no more: if it comes back (a
   * retry), its wait towards the reservation threshold starts again (§3.3) */
  if (q->head == j->idx) q->head = SCHED_NONE;
  q->nrunnable--;
  if (sched_fair_queue(q)) q->shares[j->share].nrunnable--;
  job_shapes_add(s, q, j, -1);
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
  if (sched_fair_queue(q)) q->shares[j->share].nrunnable++;
  job_shapes_add(s, q, j, +1);
}

/* A job's schedulingPriority: none given (-1) counts as 0 (docs/job-model.md §3.4 rule 3). */
static int prio_of(const struct job *j) { return j->spec->sched_prio < 0 ? 0 : j->spec->sched_prio; }

/* Queue order of fresh jobs: in a fair-share queue schedulingPriority first (descending);
 * then createdAt (children: the parent's), then job id / array index. */
static int fresh_before(const struct sched *s, const struct job *a, const struct job *b) {
  if (sched_fair_queue(s->queues[a->queue]) && prio_of(a) != prio_of(b)) return prio_of(a) > prio_of(b);
  if (a->queue_seq != b->queue_seq) return a->queue_seq < b->queue_seq;
  if (a->parent != SCHED_NONE && a->parent == b->parent) return a->index < b->index;
  return strcmp(a->id, b->id) < 0;
}

/* On a usage tie between shares (§3.4 rule 2): the head with the higher schedulingPriority, then
 * the older one. By createdAt, not by the list's sequence: a retried job's sequence counts
 * retries, not submissions, so it cannot be set against a fresh job's. */
static int share_head_before(const struct sched *s, const struct job *a, const struct job *b) {
  if (prio_of(a) != prio_of(b)) return prio_of(a) > prio_of(b);
  if (a->created_at != b->created_at) return a->created_at < b->created_at;
  return fresh_before(s, a, b);
}

/* The share of a job in a fair-share queue, created on first use (again after it was
 * reclaimed: a new share, with no usage), in a reclaimed slot if there is one. */
uint32_t sched_share_of(struct queue *q, const char *id) {
  if (!id) id = "";
  uint32_t i = strmap_get(&q->share_by_id, id);
  if (i != STRMAP_NONE) return i;
  if (q->nfree_shares) {
    i = q->free_shares[--q->nfree_shares];
  } else {
    if (q->nshares_ == q->capshares_) {
      q->capshares_ = q->capshares_ ? q->capshares_ * 2 : 4;
      q->shares = xrealloc(q->shares, q->capshares_ * sizeof *q->shares);
    }
    i = (uint32_t)q->nshares_++;
  }
  struct share *sh = &q->shares[i];
  memset(sh, 0, sizeof *sh);
  sh->id = xstrdup(id);
  sh->rq.head = sh->rq.tail = sh->rq.retry_tail = SCHED_NONE;
  strmap_put(&q->share_by_id, sh->id, i);
  return i;
}

/* Puts a RUNNABLE job into its list: retried jobs at the end of the front segment (in
 * a fair-share queue the front of its own share), fresh ones in queue order (almost always
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
  if (!sched_fair_queue(q)) return q->rq.head;
  for (size_t i = 0; i < q->nshares_; i++)
    if (q->shares[i].rq.head != SCHED_NONE) return q->shares[i].rq.head;
  return SCHED_NONE;
}
static uint32_t rq_after(struct sched *s, struct queue *q, const struct job *j) {
  if (j->rq_next != SCHED_NONE || !sched_fair_queue(q)) return j->rq_next;
  for (size_t i = (size_t)j->share + 1; i < q->nshares_; i++)
    if (q->shares[i].rq.head != SCHED_NONE) return q->shares[i].rq.head;
  (void)s;
  return SCHED_NONE;
}


/* ---------------- blocking codes ---------------- */

static const char *CODE_INVALID = "ACTION_REQUIRED";
static const char *CODE_MAXRES = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE";
static const char *CODE_JOBREQ = "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT";
static const char *CODE_CAPACITY = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY";

/* Whether an instance type the managed CE allows (catalogue) holds the shape. */
int sched_ce_type_fits(struct ce *c, int v, int m, int g) {
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

/* A managed CE that would launch for the shape: a CAPACITY code's candidate (§3.5). */
static int capacity_candidate(struct ce *c, int v, int m, int g) {
  return !c->deleted && c->valid && c->managed && v <= c->maxv && sched_ce_type_fits(c, v, m, g);
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
      if (v <= c->maxv && sched_ce_type_fits(c, v, m, g)) fits_type = 1;
    } else if (v <= c->max_v && m <= c->max_m && g <= c->max_g) {
      fits_type = 1;
    }
  }
  if (q->nce == 0 || !any_valid) return CODE_INVALID;
  if (!fits_max) return CODE_MAXRES;
  if (!fits_type) {
    /* an unmanaged CE with no registered instance yet is not a misconfiguration (its first
     * agent may hold the job); a deleted or invalid one no longer counts */
    for (int k = 0; k < q->nce; k++) {
      const struct ce *c = s->ces[q->ce[k]];
      if (!c->managed && c->live == 0 && !c->deleted && c->valid) return NULL;
    }
    return CODE_JOBREQ;
  }
  /* the job fits, but the instance provider refused the launch in every candidate CE */
  int candidates = 0, refused = 0;
  for (int k = 0; k < q->nce; k++) {
    struct ce *c = s->ces[q->ce[k]];
    if (!capacity_candidate(c, v, m, g)) continue;
    candidates++;
    refused += c->launch_refused;
  }
  if (candidates && refused == candidates) return CODE_CAPACITY;
  return NULL;
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

/* The instance type of the refused launch a CAPACITY code names: the first candidate CE's. */
static const char *refused_type(struct sched *s, struct queue *q, const struct spec *sp) {
  for (int k = 0; k < q->nce; k++) {
    struct ce *c = s->ces[q->ce[k]];
    if (c->launch_refused && capacity_candidate(c, sp->vcpus, sp->mem_mib, sp->gpus)) return c->refused_type;
  }
  return NULL;
}

/* Sets or clears a RUNNABLE job's code (AWS's wording, sched_wait.c); the time-limit clock
 * restarts whenever the code changes. A change goes out as the job's record and a JobWait. */
void sched_apply_code(struct sched *s, struct job *j, struct outbox *out) {
  struct queue *q = s->queues[j->queue];
  const char *code = shape_code(s, q, j->spec->vcpus, j->spec->mem_mib, j->spec->gpus);
  const char *cur = sched_code_of(j->status_reason);
  if (code == NULL && cur == NULL) return;
  char text[256];
  if (code) sched_code_text(code, refused_type(s, q, j->spec), text, sizeof text);
  if (code && cur && !strcmp(text, j->status_reason)) return;
  if (!code || !cur || strcmp(code, cur)) j->code_since = s->now;
  if (code) coded_add(s, j);
  sched_set_wait(s, j, code ? text : NULL, code ? sched_code_detail(s, q, j, code) : NULL, out);
}

void sched_reevaluate_codes(struct sched *s, struct outbox *out) {
  for (size_t qi = 0; qi < s->nqueues; qi++) {
    struct queue *q = s->queues[qi];
    for (uint32_t at = rq_first(s, q); at != SCHED_NONE; at = rq_after(s, q, s->jobs[at]))
      sched_apply_code(s, s->jobs[at], out);
  }
}

void sched_recode_all(struct sched *s) {
  struct outbox o;
  sched_outbox_init(&o);
  sched_reevaluate_codes(s, &o);
  sched_outbox_release(&o);
}


/* ---------------- the dispatch cycle ---------------- */

/* Best fit inside one CE: the lowest leftover score, ties to the lowest instance id. */
uint32_t sched_best_instance(struct sched *s, struct ce *c, int v, int m, int g, const uint32_t *skip,
                             int nskip) {
  if (c->free_v < v) return SCHED_NONE;
  uint32_t best = SCHED_NONE;
  double best_score = 1e300;
  for (size_t k = 0; k < c->navail; k++) {
    uint32_t ii = c->avail[k];
    int taken = 0;
    for (int t = 0; t < nskip && !taken; t++) taken = skip[t] == ii;
    if (taken) continue;
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

void sched_place_job(struct sched *s, struct job *j, uint32_t ii, struct outbox *out) {
  struct instance *in = s->insts[ii];
  in->used_v += j->spec->vcpus;
  in->used_m += j->spec->mem_mib;
  in->used_g += j->spec->gpus;
  if (in->used_v >= in->cap_v) sched_avail_del(s, s->ces[in->ce], ii);
  in->njobs++;
  if (in->njobs == 1) s->demand_dirty = 1; /* the busy set changed */
  s->ces[in->ce]->free_v -= j->spec->vcpus;
  sched_attach_job(s, j, ii);
  j->incarnation = in->incarnation;
  j->attempt++;
  j->exit_code = NO_EXIT;
  free(j->container_reason);
  j->container_reason = NULL;
  j->attempt_started_at = 0;
  sched_set_status(s, j, JOB_STARTING, NULL, out); /* T6 */
  struct out_ev *e = sched_out_push(out, OUT_PLACEMENT);
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
    uint32_t ii = sched_best_instance(s, c, j->spec->vcpus, j->spec->mem_mib, j->spec->gpus, NULL, 0);
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
/* Head reservation: once the head has waited longer than the threshold, the first
 * CE able to hold it places nothing else, from any queue visited after this one. */
static void reserve_for_head(struct sched *s, struct queue *q, struct job *head) {
  if (s->now - q->head_since < s->conf.reservation_ms) return;
  for (int k = 0; k < q->nce; k++) {
    struct ce *c = s->ces[q->ce[k]];
    if (!sched_ce_usable(c) || !sched_ce_can_hold(c, head->spec)) continue;
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
    if (!sched_is_code(s->jobs[at]->status_reason)) {
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
    if (j->mnp) { /* a gang: whole or not at all; its failure says nothing of single shapes */
      if (!sched_gang_place(s, q, j, out) && at == head) reserve_for_head(s, q, j);
    } else if (!shape_failed(failed, nfailed, j)) {
      uint32_t ii = find_instance(s, q, j);
      if (ii != SCHED_NONE) sched_place_job(s, j, ii, out);
      else add_failed(failed, &nfailed, j);
      if (ii == SCHED_NONE && at == head) reserve_for_head(s, q, j);
    }
    at = next;
  }
  /* at a Tick, the head this cycle left unplaced says why (sched_wait.c) */
  if (s->tick_now && head != SCHED_NONE && s->jobs[head]->status == JOB_RUNNABLE)
    sched_wait_head(s, q, s->jobs[head], out);
}

/* ---- fair share ---- */

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
    const char *sid = jget_str(e, "shareIdentifier");
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

/* Adds the vCPU-seconds held since the last accrual to the buckets of the times they were held
 * (the share held the same vCPUs all along: its count changes only through an accrual), leaving
 * out what is older than the window. Accruals come only with dispatches of the queue and the
 * share's own state changes, so the stretch can be hours long: put in the current bucket, it
 * counted at full weight, and beyond the window. */
static void bucket_add(struct share *sh, int64_t w, int64_t at, double vsec) {
  int64_t start = at / w * w;
  int b = (int)((at / w) % SHARE_BUCKETS);
  if (sh->bucket_start[b] != start) {
    sh->bucket_start[b] = start;
    sh->bucket_vsec[b] = 0;
  }
  sh->bucket_vsec[b] += vsec;
}

static void share_accrue(struct share *sh, int64_t now, int64_t window_ms) {
  if (window_ms <= 0 || now <= sh->accrued_at) {
    if (now > sh->accrued_at) sh->accrued_at = now;
    return;
  }
  int64_t w = bucket_width(window_ms);
  bucket_add(sh, w, now, 0); /* the current bucket is fresh even when nothing is held */
  if (sh->accrued_at > 0 && sh->held_vcpus > 0) {
    /* from the window's start, and no further back than the ring holds (its oldest bucket
     * shares the current one's slot; what is lost weighs ~0) */
    int64_t from = sh->accrued_at, oldest = (now / w - (SHARE_BUCKETS - 1)) * w;
    if (from < now - window_ms) from = now - window_ms;
    if (from < oldest) from = oldest;
    while (from < now) { /* at most SHARE_BUCKETS steps */
      int64_t end = from / w * w + w;
      if (end > now) end = now;
      bucket_add(sh, w, from, (double)sh->held_vcpus * (double)(end - from) / 1000.0);
      from = end;
    }
  }
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

/* vCPU-seconds held from `from` to `to` put in the buckets of the times they were held, but only
 * their part in the window before now: older times would share a ring slot with newer ones. */
static void share_add_held(struct share *sh, int64_t window_ms, int64_t now, int64_t from, int64_t to, int vcpus) {
  int64_t w = bucket_width(window_ms);
  if (from < now - window_ms) from = now - window_ms;
  if (to > now) to = now;
  while (from < to) {
    int64_t end = from / w * w + w;
    if (end > to) end = to;
    bucket_add(sh, w, from, (double)vcpus * (double)(end - from) / 1000.0);
    from = end;
  }
}

void sched_share_restore_usage(struct sched *s) {
  for (size_t i = 0; i < s->njobs; i++) {
    struct job *j = s->jobs[i];
    if (j->arr || j->mnp || j->queue == SCHED_NONE || !j->spec) continue;
    struct queue *q = s->queues[j->queue];
    if (!sched_fair_queue(q) || j->share >= q->nshares_ || !q->shares[j->share].id) continue;
    int64_t window = (int64_t)json_integer_value(json_object_get(fair_policy(s, q), "shareDecaySeconds")) * 1000;
    if (window <= 0) continue;
    struct share *sh = &q->shares[j->share];
    /* active for W after its last job ended (rule 4 of docs/job-model.md, 3.4) */
    if (sched_terminal(j->status) && j->stopped_at > sh->last_active) sh->last_active = j->stopped_at;
    for (uint16_t k = 0; k < j->nattempts; k++) {
      const struct attempt *a = &j->attempts[k];
      if (a->started_at > 0) share_add_held(sh, window, s->now, a->started_at, a->stopped_at > 0 ? a->stopped_at : s->now, j->spec->vcpus);
    }
    if (j->status == JOB_RUNNING && j->attempt_started_at > 0)
      share_add_held(sh, window, s->now, j->attempt_started_at, s->now, j->spec->vcpus);
  }
}

/* Keeps a share's counts as its jobs move (children and single jobs; not array parents). A job
 * that has ended counts no more, and its share may be reclaimed (sched_share_sweep). */
void sched_share_track(struct sched *s, struct job *j, int old, int st) {
  if (j->arr || j->mnp || j->queue == SCHED_NONE) return; /* parents: their children count */
  if (old < JOB__COUNT && sched_terminal(old)) return;
  struct queue *q = s->queues[j->queue];
  if (!sched_fair_queue(q) || j->share >= q->nshares_ || !q->shares[j->share].id) return;
  struct share *sh = &q->shares[j->share];
  const json_t *fp = fair_policy(s, q);
  int64_t window = (int64_t)json_integer_value(json_object_get(fp, "shareDecaySeconds")) * 1000;
  share_accrue(sh, s->now, window);
  int was_active = old < JOB__COUNT && !sched_terminal(old), is_active = !sched_terminal(st);
  int was_held = old == JOB_STARTING || old == JOB_RUNNING, is_held = st == JOB_STARTING || st == JOB_RUNNING;
  if (old == JOB__COUNT) was_active = 0;
  sh->active_jobs += is_active - was_active;
  if (was_active && !is_active && sh->active_jobs == 0) sh->last_active = s->now;
  sh->held_vcpus += (int64_t)(is_held - was_held) * j->spec->vcpus;
}

/* A share is active while it has a job from SUBMITTED to RUNNING, and for W after its last one
 * ended (docs/job-model.md §3.4 rule 4). */
static int share_active(const struct share *sh, int64_t now, int64_t window_ms) {
  return sh->active_jobs > 0 || (window_ms > 0 && now - sh->last_active < window_ms);
}

int sched_share_admits(struct sched *s, struct queue *q, const char *id) {
  if (!id) id = "";
  int64_t window = (int64_t)json_integer_value(json_object_get(fair_policy(s, q), "shareDecaySeconds")) * 1000;
  uint32_t own = strmap_get(&q->share_by_id, id);
  if (own != STRMAP_NONE && share_active(&q->shares[own], s->now, window)) return 1;
  int64_t active = 0;
  for (size_t i = 0; i < q->nshares_ && active < s->conf.max_active_shares; i++)
    active += q->shares[i].id && share_active(&q->shares[i], s->now, window);
  return active < s->conf.max_active_shares;
}

/* Whether a share can no longer matter: inactive (rule 4), nothing held or waiting, and no usage
 * left (its last bucket's middle may lie up to half a bucket after its last job ended, so U
 * reaches 0 a little after W). A new share of the same identifier is then the same in every
 * decision: usage 0, inactive until its first job. */
static int share_reclaimable(const struct share *sh, int64_t now, int64_t window_ms) {
  return sh->id && sh->active_jobs == 0 && sh->held_vcpus == 0 && sh->nrunnable == 0 && sh->rq.head == SCHED_NONE &&
         !share_active(sh, now, window_ms) && share_usage(sh, now, window_ms) == 0.0;
}

void sched_share_sweep(struct sched *s, struct queue *q) {
  int64_t window = (int64_t)json_integer_value(json_object_get(fair_policy(s, q), "shareDecaySeconds")) * 1000;
  for (size_t i = 0; i < q->nshares_; i++) {
    struct share *sh = &q->shares[i];
    if (!share_reclaimable(sh, s->now, window)) continue;
    strmap_del(&q->share_by_id, sh->id);
    free(sh->id);
    memset(sh, 0, sizeof *sh);
    sh->rq.head = sh->rq.tail = sh->rq.retry_tail = SCHED_NONE;
    if (q->nfree_shares == q->capfree_shares) {
      q->capfree_shares = q->capfree_shares ? q->capfree_shares * 2 : 4;
      q->free_shares = xrealloc(q->free_shares, q->capfree_shares * sizeof *q->free_shares);
    }
    q->free_shares[q->nfree_shares++] = (uint32_t)i;
  }
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
        total += c->live_v;
    }
  }
  return total;
}

static void dispatch_fair(struct sched *s, struct queue *q, struct outbox *out) {
  const json_t *fp = fair_policy(s, q);
  int64_t window = (int64_t)json_integer_value(json_object_get(fp, "shareDecaySeconds")) * 1000;
  int reservation = (int)json_integer_value(json_object_get(fp, "computeReservation"));
  /* the cycle visits every slot anyway: the shares that can no longer matter go here */
  sched_share_sweep(s, q);
  size_t n = q->nshares_;
  if (!n) return;
  char *exhausted = xcalloc(n, 1);
  double *weight = xcalloc(n, sizeof *weight);
  int64_t held_total = 0;
  int active = 0;
  for (size_t i = 0; i < n; i++) {
    if (!q->shares[i].id) continue; /* a free slot: no list, no usage */
    share_accrue(&q->shares[i], s->now, window);
    weight[i] = share_weight(fp, q->shares[i].id);
    held_total += q->shares[i].held_vcpus;
    if (share_active(&q->shares[i], s->now, window)) active++;
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
          (u < best_u + 1e-9 && share_head_before(s, s->jobs[sh->rq.head], s->jobs[q->shares[best].rq.head]))) {
        best = i;
        best_u = u;
      }
    }
    if (best == SIZE_MAX) break;
    struct share *sh = &q->shares[best];
    int placed = 0;
    for (uint32_t at = sh->rq.head; at != SCHED_NONE; at = s->jobs[at]->rq_next) {
      struct job *j = s->jobs[at];
      if (j->mnp) {
        if (!sched_gang_place(s, q, j, out)) continue;
        for (int i = 0; i < j->mnp->num_nodes; i++) held_total += s->jobs[j->mnp->first_node + (uint32_t)i]->spec->vcpus;
        placed = 1;
        break;
      }
      if (shape_failed(failed, nfailed, j)) continue;
      if (reservation > 0 && (double)(held_total + j->spec->vcpus) > (double)max_total - reserve) {
        exhausted[best] = 2; /* it would eat into the capacity held back for inactive shares */
        break;
      }
      uint32_t ii = find_instance(s, q, j);
      if (ii == SCHED_NONE) {
        add_failed(failed, &nfailed, j);
        continue;
      }
      sched_place_job(s, j, ii, out);
      held_total += j->spec->vcpus;
      placed = 1;
      break;
    }
    if (!placed && !exhausted[best]) exhausted[best] = 1;
  }
  if (s->tick_now) {
    /* at a Tick, each share's first job this cycle left unplaced says why (sched_wait.c) */
    double *usage = xcalloc(n, sizeof *usage);
    for (size_t i = 0; i < n; i++) {
      usage[i] = weight[i] * share_usage(&q->shares[i], s->now, window);
      exhausted[i] = exhausted[i] == 2;
    }
    sched_wait_fair(s, q, usage, exhausted, reservation, out);
    free(usage);
  }
  free(exhausted);
  free(weight);
}

void sched_assign_share(struct sched *s, struct job *j) {
  if (j->queue == SCHED_NONE || !sched_fair_queue(s->queues[j->queue])) return;
  j->share = sched_share_of(s->queues[j->queue], j->spec ? j->spec->share_id : NULL);
  sched_share_track(s, j, JOB__COUNT, j->status);
}

void sched_dispatch(struct sched *s, struct outbox *out) {
  s->cycle_needed = 0;
  for (size_t i = 0; i < s->nces; i++) s->ces[i]->reserved_for = SCHED_NONE;
  for (size_t oi = 0; oi < s->nqueues; oi++) {
    struct queue *q = s->queues[s->queue_order[oi]];
    if (q->deleted || q->nrunnable == 0) continue;
    if (sched_fair_queue(q)) dispatch_fair(s, q, out);
    else dispatch_fifo(s, q, out);
  }
}

/* ---------------- capacity demand (input to the provisioner) ---------------- */

/* Adds n jobs of a shape to a CE's demand (one entry per shape). */
static void demand_add(json_t *arr, const struct shape_count *sc, int64_t n) {
  size_t i;
  json_t *sh;
  json_array_foreach(arr, i, sh) {
    if ((int)jget_int(sh, "vcpus", 0) == sc->v && (int)jget_int(sh, "memoryMib", 0) == sc->m &&
        (int)jget_int(sh, "gpus", 0) == sc->g && json_is_true(json_object_get(sh, "perInstance")) == sc->one_each) {
      json_object_set_new(sh, "count", json_integer(jget_int(sh, "count", 0) + n));
      return;
    }
  }
  sh = json_pack("{s:i, s:i, s:i, s:I}", "vcpus", sc->v, "memoryMib", sc->m, "gpus", sc->g, "count", (json_int_t)n);
  if (sc->one_each) json_object_set_new(sh, "perInstance", json_true());
  json_array_append_new(arr, sh);
}

void sched_emit_demand(struct sched *s, struct outbox *out) {
  s->demand_dirty = 0;
  size_t nce = s->nces;
  json_t **shapes = xcalloc(nce ? nce : 1, sizeof *shapes);
  /* the vCPUs each managed CE can still grow by: maxvCpus less its live instances, less the
   * demand already given to it in this pass (queues by priority, as dispatch visits them) */
  int64_t *room = xcalloc(nce ? nce : 1, sizeof *room);
  for (size_t i = 0; i < nce; i++) {
    shapes[i] = json_array();
    struct ce *c = s->ces[i];
    room[i] = c->maxv - c->live_v;
  }
  for (size_t oi = 0; oi < s->nqueues; oi++) {
    struct queue *q = s->queues[s->queue_order[oi]];
    if (q->deleted) continue;
    for (size_t si = 0; si < q->nshapes; si++) {
      const struct shape_count *sc = &q->shapes[si];
      int v = sc->v, m = sc->m, g = sc->g;
      /* misconfigured jobs ask for nothing; jobs whose launch the provider refused (CAPACITY)
       * still do: the provisioner retries, and its next launch is what clears the code. Leaving
       * them out made the next restated demand empty, and the CE never launched again. */
      const char *code = sc->n > 0 ? shape_code(s, q, v, m, g) : NULL;
      if (sc->n <= 0 || (code && code != CODE_CAPACITY)) continue;
      /* the CEs in queue order that can hold the shape (one whose instance types cannot would
       * launch nothing): each takes what its room holds, the rest overflows to the next; what
       * none has room for stays with the first. A gang's nodes (one_each) stay together. */
      int64_t left = sc->n;
      int first = -1;
      for (int k = 0; k < q->nce && left > 0; k++) {
        uint32_t ci = q->ce[k];
        struct ce *c = s->ces[ci];
        if (c->deleted || !c->managed || !c->enabled || !c->valid || v > c->maxv || !sched_ce_type_fits(c, v, m, g))
          continue;
        if (first < 0) first = (int)ci;
        if (sc->one_each) break;
        int64_t fit = room[ci] > 0 ? room[ci] / v : 0;
        if (fit > left) fit = left;
        if (fit <= 0) continue;
        demand_add(shapes[ci], sc, fit);
        room[ci] -= fit * v;
        left -= fit;
      }
      if (left > 0 && first >= 0) demand_add(shapes[first], sc, left);
    }
  }
  free(room);
  for (size_t i = 0; i < nce; i++) {
    struct ce *c = s->ces[i];
    /* A deleted CE asks for nothing (the loop above gave it no shapes) but is still reported
     * while its busy set changes: the provisioner drains a deleted CE's instances once they are
     * idle, and learns that only from here. Skipping it left an instance that was running a job
     * at the deletion running for ever. */
    if (!c->managed) {
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
    struct out_ev *e = sched_out_push(out, OUT_CAPACITY);
    e->ce = (uint32_t)i;
    e->at_ms = s->now;
  }
  free(shapes);
}

