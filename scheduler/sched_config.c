/* sched_config.c: the scheduler core's configuration: compute environments (and the instances
 * they hold for placement), job queues, job definitions and scheduling policies, from
 * barge.config records and tombstones; lookups by name or ARN. Pure (see sched.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_int.h"
#include "views.h"

static void sort_queues(struct sched *s);

/* ---------------- lookups ---------------- */

/* A name, or an ARN in either form (docs/job-model.md §1): a direct producer's request may name a
 * resource either way (docs/publishing.md), as the producers' lookups take it. */
static int ref_matches(const char *ref, const char *name, const char *arn) {
  return !strcmp(ref, name) || barge_arn_same(ref, arn);
}

/* As config_find_jd: a name or an ARN without revision means the highest ACTIVE revision,
 * name:revision or an ARN with revision that revision. */
struct jobdef *sched_find_jd(struct sched *s, const char *ref) {
  if (!ref) return NULL;
  struct jobdef *best = NULL;
  const char *colon = strrchr(ref, ':');
  int arn = !strncmp(ref, "arn:", 4), arn_name = arn && !config_jd_ref_has_revision(ref);
  for (size_t i = 0; i < s->njds; i++) /* the producers' form: the ARN as configured */
    if (!strcmp(ref, s->jds[i]->arn)) return s->jds[i];
  for (size_t i = 0; i < s->njds; i++) {
    struct jobdef *d = s->jds[i];
    if (arn && !arn_name && barge_arn_same(ref, d->arn)) return d;
    if (arn_name ? config_jd_arn_unrevisioned(d->arn, ref) : !strcmp(ref, d->name)) {
      if (d->active && (!best || d->revision > best->revision)) best = d;
    } else if (!arn && colon && !strncmp(ref, d->name, (size_t)(colon - ref)) &&
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

uint32_t sched_restore_queue(struct sched *s, const char *ref) {
  uint32_t qi = sched_find_queue(s, ref);
  if (qi != SCHED_NONE || !ref || !*ref) return qi;
  for (size_t i = 0; i < s->nqueues; i++) /* deleted: its record and tombstone were read */
    if (ref_matches(ref, s->queues[i]->name, s->queues[i]->arn)) return (uint32_t)i;
  /* neither is left (compacted away): a deleted queue named after the ARN's last element */
  const char *tail = strstr(ref, ":job-queue/");
  if (!tail || !tail[11]) return SCHED_NONE;
  struct queue *q = xcalloc(1, sizeof *q);
  q->name = xstrdup(tail + 11);
  q->arn = xstrdup(ref);
  q->rq.head = q->rq.tail = q->rq.retry_tail = SCHED_NONE;
  q->head = SCHED_NONE;
  q->deleted = 1;
  s->queues = xrealloc(s->queues, (s->nqueues + 1) * sizeof *s->queues);
  s->queues[s->nqueues++] = q;
  sort_queues(s);
  return (uint32_t)(s->nqueues - 1);
}

uint32_t sched_find_ce(struct sched *s, const char *ref) {
  for (size_t i = 0; ref && i < s->nces; i++)
    if (ref_matches(ref, s->ces[i]->name, s->ces[i]->arn)) return (uint32_t)i;
  return SCHED_NONE;
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

void sched_avail_add(struct sched *s, struct ce *c, uint32_t ii) {
  struct instance *in = s->insts[ii];
  if (in->avail_pos >= 0) return;
  if (c->navail == c->capavail) {
    c->capavail = c->capavail ? c->capavail * 2 : 16;
    c->avail = xrealloc(c->avail, c->capavail * sizeof *c->avail);
  }
  in->avail_pos = (int64_t)c->navail;
  c->avail[c->navail++] = ii;
}

void sched_avail_del(struct sched *s, struct ce *c, uint32_t ii) {
  struct instance *in = s->insts[ii];
  if (in->avail_pos < 0) return;
  uint32_t last = c->avail[--c->navail];
  c->avail[in->avail_pos] = last;
  s->insts[last]->avail_pos = in->avail_pos;
  in->avail_pos = -1;
}

/* ---------------- a CE's books (struct ce) ---------------- */

/* The index of cap in cc, or where it would go. */
static size_t caps_find(const struct ce_caps *cc, int cap) {
  size_t lo = 0, hi = cc->len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cc->v[mid].cap < cap) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static void caps_add(struct ce_caps *cc, int cap) {
  size_t k = caps_find(cc, cap);
  if (k < cc->len && cc->v[k].cap == cap) {
    cc->v[k].n++;
    return;
  }
  if (cc->len == cc->alloc) {
    cc->alloc = cc->alloc ? cc->alloc * 2 : 4;
    cc->v = xrealloc(cc->v, cc->alloc * sizeof *cc->v);
  }
  memmove(&cc->v[k + 1], &cc->v[k], (cc->len - k) * sizeof *cc->v);
  cc->v[k] = (struct ce_cap_count){.cap = cap, .n = 1};
  cc->len++;
}

static void caps_del(struct ce_caps *cc, int cap) {
  size_t k = caps_find(cc, cap);
  if (k == cc->len || cc->v[k].cap != cap) abort(); /* counted in, never out: the books are broken */
  if (--cc->v[k].n) return;
  memmove(&cc->v[k], &cc->v[k + 1], (cc->len - k - 1) * sizeof *cc->v);
  cc->len--;
}

/* The largest capacity counted, 0 with none (as an empty CE holds nothing). */
static int caps_max(const struct ce_caps *cc) {
  return cc->len && cc->v[cc->len - 1].cap > 0 ? cc->v[cc->len - 1].cap : 0;
}

static void set_max(struct ce *c) {
  c->max_v = caps_max(&c->caps[0]);
  c->max_m = caps_max(&c->caps[1]);
  c->max_g = caps_max(&c->caps[2]);
}

/* A live instance counts in its CE's live count, live vCPUs and largest instance. */
static void count_in(struct ce *c, const struct instance *in) {
  c->live++;
  c->live_v += in->cap_v;
  caps_add(&c->caps[0], in->cap_v);
  caps_add(&c->caps[1], in->cap_m);
  caps_add(&c->caps[2], in->cap_g);
  set_max(c);
}

/* A READY instance's free vCPUs are its CE's; one with a free vCPU is a placement candidate. */
static void ready_in(struct sched *s, struct ce *c, uint32_t ii) {
  struct instance *in = s->insts[ii];
  c->free_v += in->cap_v - in->used_v;
  if (in->cap_v > in->used_v) sched_avail_add(s, c, ii);
}

/* Where instance id goes in c->insts (ascending id), or is. */
static size_t list_find(struct sched *s, const struct ce *c, const char *id) {
  size_t lo = 0, hi = c->ninst;
  if (hi && strcmp(s->insts[c->insts[hi - 1]]->id, id) < 0) return hi; /* ids mostly come in order */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(s->insts[c->insts[mid]]->id, id) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static void list_add(struct sched *s, uint32_t ci, uint32_t ii) {
  struct ce *c = s->ces[ci];
  if (c->ninst == c->capinst) {
    c->capinst = c->capinst ? c->capinst * 2 : 8;
    c->insts = xrealloc(c->insts, c->capinst * sizeof *c->insts);
  }
  size_t pos = list_find(s, c, s->insts[ii]->id);
  memmove(&c->insts[pos + 1], &c->insts[pos], (c->ninst - pos) * sizeof *c->insts);
  c->insts[pos] = ii;
  c->ninst++;
  s->insts[ii]->listed_in = ci;
}

/* Gone instance ii leaves the list of the CE it left (it registers with another). */
static void list_del_gone(struct sched *s, uint32_t ii) {
  struct instance *in = s->insts[ii];
  struct ce *c = s->ces[in->listed_in];
  size_t pos = list_find(s, c, in->id);
  if (pos == c->ninst || c->insts[pos] != ii) abort(); /* listed_in said it is there */
  memmove(&c->insts[pos], &c->insts[pos + 1], (c->ninst - pos - 1) * sizeof *c->insts);
  c->ninst--;
  c->ngone_listed--;
  in->listed_in = SCHED_NONE;
}

/* Drops the gone instances from c->insts, keeping the order: done when they outnumber the live
 * ones, so each costs O(1) amortised and the list stays within twice the live instances. */
static void list_compact(struct sched *s, struct ce *c) {
  size_t w = 0;
  for (size_t i = 0; i < c->ninst; i++) {
    struct instance *in = s->insts[c->insts[i]];
    if (in->state == INST_GONE) in->listed_in = SCHED_NONE;
    else c->insts[w++] = c->insts[i];
  }
  c->ninst = w;
  c->ngone_listed = 0;
}

/* The scheduler's live list: swap-remove, so its order is arbitrary; who walks it in an order
 * that decides outputs sorts what it picks (sched_time.c). */
static void live_add(struct sched *s, uint32_t ii) {
  struct instance *in = s->insts[ii];
  if (in->live_pos >= 0) abort(); /* registered twice without going: the books are broken */
  if (s->nlive == s->caplive) {
    s->caplive = s->caplive ? s->caplive * 2 : 64;
    s->live = xrealloc(s->live, s->caplive * sizeof *s->live);
  }
  in->live_pos = (int64_t)s->nlive;
  s->live[s->nlive++] = ii;
}

static void live_del(struct sched *s, uint32_t ii) {
  struct instance *in = s->insts[ii];
  if (in->live_pos < 0) abort(); /* uncounted twice */
  uint32_t last = s->live[--s->nlive];
  s->live[in->live_pos] = last;
  s->insts[last]->live_pos = in->live_pos;
  in->live_pos = -1;
}

/* Gone instance ii joins the back of the gone queue, queued at time at. */
static void gone_push(struct sched *s, uint32_t ii, int64_t at) {
  if (s->ngone == s->capgone) { /* unroll the ring into a larger one */
    size_t ncap = s->capgone ? s->capgone * 2 : 64;
    struct gone_entry *g = xcalloc(ncap, sizeof *g);
    for (size_t k = 0; k < s->ngone; k++) g[k] = s->gone[(s->gone_head + k) % s->capgone];
    free(s->gone);
    s->gone = g;
    s->capgone = ncap;
    s->gone_head = 0;
  }
  s->gone[(s->gone_head + s->ngone) % s->capgone] = (struct gone_entry){.ii = ii, .at = at};
  s->ngone++;
  s->insts[ii]->gone_queued = 1;
}

int sched_ce_register(struct sched *s, uint32_t ii) {
  struct instance *in = s->insts[ii];
  struct ce *c = s->ces[in->ce];
  int ov = c->max_v, om = c->max_m, og = c->max_g, olive = (c->live > 0);
  if (in->listed_in == in->ce) {
    c->ngone_listed--; /* gone, still listed: back */
  } else {
    if (in->listed_in != SCHED_NONE) list_del_gone(s, ii);
    list_add(s, in->ce, ii);
  }
  count_in(c, in);
  ready_in(s, c, ii);
  live_add(s, ii);
  return ov != c->max_v || om != c->max_m || og != c->max_g || olive != (c->live > 0);
}

void sched_ce_unready(struct sched *s, uint32_t ii, enum inst_state st) {
  struct instance *in = s->insts[ii];
  if (in->state == INST_READY) {
    struct ce *c = s->ces[in->ce];
    c->free_v -= in->cap_v - in->used_v;
    sched_avail_del(s, c, ii);
  }
  in->state = st;
}

int sched_ce_uncount(struct sched *s, uint32_t ii) {
  struct instance *in = s->insts[ii];
  struct ce *c = s->ces[in->ce];
  int ov = c->max_v, om = c->max_m, og = c->max_g, olive = (c->live > 0);
  c->live--;
  c->live_v -= in->cap_v;
  caps_del(&c->caps[0], in->cap_v);
  caps_del(&c->caps[1], in->cap_m);
  caps_del(&c->caps[2], in->cap_g);
  set_max(c);
  live_del(s, ii);
  if (in->listed_in != SCHED_NONE && ++c->ngone_listed > c->live) list_compact(s, c);
  in->gone_at = s->now;
  if (!in->gone_queued) gone_push(s, ii, s->now);
  return ov != c->max_v || om != c->max_m || og != c->max_g || olive != (c->live > 0);
}

/* Frees gone instance ii's record; its index goes on the free list for the next new instance. */
static void forget(struct sched *s, uint32_t ii) {
  struct instance *in = s->insts[ii];
  if (in->listed_in != SCHED_NONE) list_del_gone(s, ii);
  if (in->incarnation > s->forgot_inc) s->forgot_inc = in->incarnation;
  s->nforgotten++;
  strmap_del(&s->inst_by_id, in->id); /* before the free: the map borrows in->id */
  free(in->type);
  free(in->address);
  free(in);
  s->insts[ii] = NULL;
  if (s->nfree_insts == s->capfree_insts) {
    s->capfree_insts = s->capfree_insts ? s->capfree_insts * 2 : 64;
    s->free_insts = xrealloc(s->free_insts, s->capfree_insts * sizeof *s->free_insts);
  }
  s->free_insts[s->nfree_insts++] = ii;
}

/* The queue's entries were pushed at nondecreasing times (s->now never goes back), so the front
 * is the oldest: the sweep stops at the first entry queued less than the memory ago. An entry
 * whose instance came back (a READY) is dropped; one that went again later, or (defensively)
 * still has jobs, is queued again at now. Each entry is looked at once per sweep at most. */
void sched_forget_gone(struct sched *s) {
  int64_t w = sched_gone_memory_ms(s);
  for (size_t n = s->ngone; n > 0 && s->now - s->gone[s->gone_head].at >= w; n--) {
    uint32_t ii = s->gone[s->gone_head].ii;
    s->gone_head = (s->gone_head + 1) % s->capgone;
    s->ngone--;
    struct instance *in = s->insts[ii];
    in->gone_queued = 0;
    if (in->state != INST_GONE) continue; /* registered again: queued when it next goes */
    if (s->now - in->gone_at < w || in->jobs_head != SCHED_NONE || in->njobs) gone_push(s, ii, s->now);
    else forget(s, ii);
  }
}

int sched_recompute_ce(struct sched *s, struct ce *c) {
  int ov = c->max_v, om = c->max_m, og = c->max_g, olive = (c->live > 0);
  c->free_v = 0;
  c->live = 0;
  c->live_v = 0;
  for (int d = 0; d < 3; d++) c->caps[d].len = 0;
  for (size_t i = 0; i < c->navail; i++) s->insts[c->avail[i]]->avail_pos = -1;
  c->navail = 0;
  list_compact(s, c);
  for (size_t i = 0; i < c->ninst; i++) {
    struct instance *in = s->insts[c->insts[i]];
    count_in(c, in);
    if (in->state == INST_READY) ready_in(s, c, c->insts[i]);
  }
  set_max(c);
  return ov != c->max_v || om != c->max_m || og != c->max_g || olive != (c->live > 0);
}


/* Finds the record of table tab (n entries: s->ces, s->queues, s->jds, s->policies; each
 * struct starts with char *name, *arn) whose ARN is arn_, or appends a new one holding name_
 * and arn_; fresh_ tells which. A macro because the four tables have four types. */
#define CONFIG_UPSERT(rec, tab, n, name_, arn_, fresh_)                                    \
  do {                                                                                     \
    (rec) = NULL;                                                                          \
    (fresh_) = 0;                                                                          \
    for (size_t i_ = 0; i_ < (n); i_++)                                                    \
      if (!strcmp((tab)[i_]->arn, (arn_))) (rec) = (tab)[i_];                              \
    if (!(rec)) {                                                                          \
      (rec) = xcalloc(1, sizeof *(rec));                                                   \
      (rec)->name = xstrdup(name_);                                                        \
      (rec)->arn = xstrdup(arn_);                                                          \
      (tab) = xrealloc((tab), ((n) + 1) * sizeof *(tab));                                  \
      (tab)[(n)++] = (rec);                                                                \
      (fresh_) = 1;                                                                        \
    }                                                                                      \
  } while (0)

static void upsert_ce(struct sched *s, const json_t *b) {
  struct ce *c;
  int fresh;
  CONFIG_UPSERT(c, s->ces, s->nces, jget_str(b, "computeEnvironmentName"),
                jget_str(b, "computeEnvironmentArn"), fresh);
  (void)fresh;
  json_decref(c->body);
  c->body = json_deep_copy(b);
  c->ntype_fit = 0;
  const char *type = jget_str(b, "type");
  c->managed = !type || strcmp(type, "UNMANAGED") != 0;
  const char *state = jget_str(b, "state");
  c->enabled = !state || !strcmp(state, "ENABLED");
  const char *status = jget_str(b, "status");
  c->valid = !status || !strcmp(status, "VALID");
  c->deleted = 0;
  json_t *cr = json_object_get(b, "computeResources");
  c->minv = (int)jget_int(cr, "minvCpus", 0);
  c->maxv = (int)jget_int(cr, "maxvCpus", c->managed ? 0 : INT_MAX);
  if (!c->managed) c->maxv = INT_MAX;
}

static void upsert_queue(struct sched *s, const json_t *b) {
  struct queue *q;
  int fresh;
  CONFIG_UPSERT(q, s->queues, s->nqueues, jget_str(b, "jobQueueName"), jget_str(b, "jobQueueArn"),
                fresh);
  if (fresh) {
    q->rq.head = q->rq.tail = q->rq.retry_tail = SCHED_NONE;
    q->head = SCHED_NONE;
  }
  q->deleted = 0;
  q->priority = (int)jget_int(b, "priority", 0);
  const char *state = jget_str(b, "state");
  q->enabled = !state || !strcmp(state, "ENABLED");
  sched_set_str(&q->policy_arn, jget_str(b, "schedulingPolicyArn"));
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
      int o = (int)jget_int(e, "order", 0);
      if (o < bestord) bestord = o, best = (int)k;
    }
    if (best < 0) break;
    used[best] = 1;
    uint32_t ci =
        sched_find_ce(s, jget_str(json_array_get(ceo, (size_t)best), "computeEnvironment"));
    if (ci != SCHED_NONE) q->ce[q->nce++] = ci;
  }
  sched_queue_clear_time_limits(q);
  json_t *tla = json_object_get(b, "jobStateTimeLimitActions");
  if (json_array_size(tla)) {
    q->tl = xcalloc(json_array_size(tla), sizeof *q->tl);
    size_t k;
    json_t *e;
    json_array_foreach(tla, k, e) {
      q->tl[q->ntl].reason = xstrdup(jget_str(e, "reason"));
      q->tl[q->ntl].max_ms = (int64_t)(int)jget_int(e, "maxTimeSeconds", 600) * 1000;
      q->ntl++;
    }
  }
  sort_queues(s);
}

json_t *sched_container_of(const json_t *cp) {
  json_t *c = json_object();
  json_object_set_new(c, "image", json_string(jget_str(cp, "image") ? jget_str(cp, "image") : ""));
  static const char *const lists[] = {"command", "environment", "resourceRequirements"};
  for (size_t k = 0; k < 3; k++) {
    json_t *l = json_object_get(cp, lists[k]);
    json_object_set_new(c, lists[k], json_is_array(l) ? json_deep_copy(l) : json_array());
  }
  json_t *v;
  if (json_is_integer(v = json_object_get(cp, "vcpus"))) json_object_set(c, "vcpus", v);
  if (json_is_integer(v = json_object_get(cp, "memory"))) json_object_set(c, "memory", v);
  if (json_is_string(v = json_object_get(cp, "jobRoleArn"))) json_object_set(c, "jobRoleArn", v);
  if (json_is_string(v = json_object_get(cp, "storedJson"))) {
    if (strcmp(json_string_value(v), "{}")) json_object_set(c, "storedJson", v);
    return c;
  }
  /* a container as registered (a node range's): the members the runtime reads travel as text */
  json_t *rest = json_deep_copy(cp);
  static const char *const mine[] = {"image", "command", "environment", "resourceRequirements", "vcpus",
                                     "memory", "jobRoleArn", "executionRoleArn"};
  for (size_t k = 0; k < sizeof mine / sizeof *mine; k++) json_object_del(rest, mine[k]);
  if (json_object_size(rest)) {
    char *text = json_dumps(rest, JSON_COMPACT | JSON_SORT_KEYS);
    json_object_set_new(c, "storedJson", json_string(text));
    free(text);
  }
  json_decref(rest);
  return c;
}

static void upsert_jd(struct sched *s, const json_t *b) {
  struct jobdef *d;
  int fresh;
  CONFIG_UPSERT(d, s->jds, s->njds, jget_str(b, "jobDefinitionName"),
                jget_str(b, "jobDefinitionArn"), fresh);
  if (!fresh) sched_jd_clear(d);
  d->revision = (int)jget_int(b, "revision", 1);
  const char *st = jget_str(b, "status");
  d->active = !st || !strcmp(st, "ACTIVE");
  d->body = json_deep_copy(b);
  d->params = json_deep_copy(json_object_get(b, "parameters"));
  if (!d->params) d->params = json_object();
  d->container = sched_container_of(json_object_get(b, "containerProperties"));
  const char *np = jget_str(b, "nodePropertiesJson");
  if (np) { /* multinode: the main node's container stands for the job in its queue */
    d->nodes = json_loads(np, 0, NULL);
    int main_node = (int)jget_int(d->nodes, "mainNode", 0);
    size_t k;
    json_t *r;
    json_array_foreach(json_object_get(d->nodes, "nodeRangeProperties"), k, r) {
      json_t *c = sched_container_of(json_object_get(r, "container"));
      int lo = -1, hi = -1, n = (int)jget_int(d->nodes, "numNodes", 1);
      if (!target_nodes_parse(jget_str(r, "targetNodes"), n, &lo, &hi) && lo <= main_node && main_node <= hi) {
        json_decref(d->container);
        d->container = json_incref(c);
      }
      json_object_set_new(r, "container", c);
    }
  }
  sched_resources(d->container, &d->vcpus, &d->mem_mib, &d->gpus);
  d->container_subst = json_deep_copy(d->container);
  sched_substitute(json_object_get(d->container_subst, "command"), d->params);
  d->own_bytes = json_dumpb(d->container_subst, NULL, 0, JSON_COMPACT) +
                 (d->params ? json_dumpb(d->params, NULL, 0, JSON_COMPACT) : 0);
  json_t *rs = json_object_get(b, "retryStrategy");
  d->retry_json = json_is_object(rs) ? json_deep_copy(rs) : NULL;
  sched_parse_retry(rs, &d->retry);
  d->timeout_s = (int)jget_int(json_object_get(b, "timeout"), "attemptDurationSeconds", 0);
  json_t *sp = json_object_get(b, "schedulingPriority");
  d->sched_prio = json_is_integer(sp) ? (int)json_integer_value(sp) : -1;
}

static void upsert_policy(struct sched *s, const json_t *b) {
  struct policy *p;
  int fresh;
  CONFIG_UPSERT(p, s->policies, s->npolicies, jget_str(b, "name"), jget_str(b, "arn"), fresh);
  (void)fresh;
  json_decref(p->body);
  p->body = json_deep_copy(b);
  p->deleted = 0;
}

int sched_handle_config(struct sched *s, const json_t *ev, struct outbox *out, char *err,
                         size_t errlen) {
  json_t *body;
  const char *kind = sched_body(ev, "ConfigRecord", &body, err, errlen);
  if (!kind) return -1;
  if (!strcmp(kind, "ComputeEnvironment")) {
    if (!jget_str(body, "computeEnvironmentArn") || !jget_str(body, "computeEnvironmentName")) goto bad;
    upsert_ce(s, body);
  } else if (!strcmp(kind, "JobQueue")) {
    if (!jget_str(body, "jobQueueArn") || !jget_str(body, "jobQueueName")) goto bad;
    upsert_queue(s, body);
  } else if (!strcmp(kind, "JobDefinition")) {
    if (!jget_str(body, "jobDefinitionArn") || !jget_str(body, "jobDefinitionName")) goto bad;
    upsert_jd(s, body);
  } else if (!strcmp(kind, "SchedulingPolicy")) {
    if (!jget_str(body, "arn")) goto bad;
    upsert_policy(s, body);
  } else {
    snprintf(err, errlen, "unknown config kind %s", kind);
    return -1;
  }
  s->cycle_needed = 1;
  s->demand_dirty = 1;
  sched_reevaluate_codes(s, out);
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
    if (!strcmp(s->queues[i]->arn, arn) && !s->queues[i]->deleted) {
      s->queues[i]->deleted = 1;
      sched_queue_deleted(s, (uint32_t)i, out); /* a re-created queue starts empty */
    }
  for (size_t i = 0; i < s->npolicies; i++)
    if (!strcmp(s->policies[i]->arn, arn)) s->policies[i]->deleted = 1;
  s->cycle_needed = 1;
  sched_reevaluate_codes(s, out);
}

