/* acct.c: the accounting core (see acct.h for the model and docs/accounting.md for the why).
 *
 * State: instances (by id), each with a timeline reaching back to its `base` (the reopen
 * horizon): the life state at base, the UP/DOWN points after it, and the attempts that ran on
 * it after it; jobs (by id) with their open attempt and totals; aggregates (by "kind:name").
 *
 * accumulate(instance, [lo, hi), sign) cuts [lo, hi) at every point, attempt start and attempt
 * end, and adds (sign +1) or takes back (sign -1) each segment's cost and resources for the
 * attempts running in it, or for IDLE. Settling is accumulate(+1) from the settled point to the
 * new one. A change to the timeline before the settled point (a late event) is exact: the span
 * from the change to the settled point is taken back with the old timeline and added again with
 * the new one (correct_begin / correct_end), and jobs already reported are reported again. */
#include "acct.h"
#include "jsonget.h"

#include <stdlib.h>
#include <string.h>

#include "states.h"
#include "strmap.h"

enum { ST_UNKNOWN, ST_UP, ST_DOWN };

struct pt {
  int64_t t;
  uint8_t up; /* ST_UP or ST_DOWN */
};

struct job;
struct inst;
struct agg;

struct att {
  struct job *job;
  struct inst *inst;
  int attempt;
  int emitted; /* its end was settled and its job reported (or suppressed after a restart) */
  int ran;     /* it ran in the time settled (counted in its job's ran) */
  int vcpus, mem_mib, gpus;
  int64_t start, end; /* end INT64_MAX while open */
  struct agg *queue, *share;
};

struct job {
  char *id, *queue, *share, *ce;
  int attempts, nrefs, terminal, emit, contributed;
  int ran;             /* attempts that ran in the time settled (from conf.from_ms on) */
  int64_t running_at;  /* the latest settled point an attempt was running at */
  struct att *open;
  int64_t first, last_end;
  struct acct_totals t;
};

struct inst {
  char *id, *ce, *type, *lifecycle;
  int vcpus, mem_mib, gpus;
  double price;
  int64_t price_at;
  int has_price;
  int64_t base;       /* the timeline starts here; nothing before it can be corrected */
  uint8_t base_state; /* the life state at base */
  int64_t settled;    /* accounted up to here */
  int64_t incarnation; /* its agent's latest incarnation (lib/states.h instance_incarnation_fold) */
  struct pt *pts;     /* changes of life state after base, sorted by time */
  size_t npts, cappts;
  struct att **att;   /* attempts on it that end after base (or are open) */
  size_t natt, capatt;
  struct acct_totals t;
};

struct agg {
  enum acct_kind kind;
  char *name, *key;
  struct acct_totals t;
  int64_t from, until;
  int dirty;
  int muted; /* seeded from barge.usage: takes nothing until the rebuild is done */
};

/* Objects by string key: a pointer vector with a free list and a map to the slot. */
struct pool {
  void **v;
  size_t n, cap;
  uint32_t *freev;
  size_t nfree, capfree;
  struct strmap map;
};

struct acct {
  struct acct_conf conf;
  struct pool jobs, insts, aggs;
  int64_t settled;    /* max(conf.from_ms, last settle) */
  int64_t base;       /* max(conf.from_ms, settled - conf.reopen_ms): the horizon */
  int settled_once;
  int restoring;      /* rebuilding what an earlier run had seen: nothing is reported */
  int64_t seed_until; /* the latest `until` of the seeded aggregates */
  struct job **emitq;
  size_t nemit, capemit;
  /* dedup: a FIFO ring of event ids */
  char **ring;
  size_t ring_next;
  struct strmap seen;
  /* grand totals (never cut by seeds) */
  struct acct_totals jobs_total, idle_total, inst_total;
  struct acct_stats st;
  /* scratch */
  int64_t *bp;
  size_t capbp;
  struct att **act;
  double *w;
  size_t capact;
};

static const char *kind_names[ACCT__COUNT] = {"JOB", "QUEUE", "SHARE", "COMPUTE_ENVIRONMENT",
                                              "IDLE"};
static const char *kind_prefix[ACCT__COUNT] = {"", "queue:", "share:", "ce:", "idle:"};

const char *acct_kind_name(enum acct_kind k) { return k < ACCT__COUNT ? kind_names[k] : "?"; }

void acct_conf_defaults(struct acct_conf *c) {
  memset(c, 0, sizeof *c);
  c->from_ms = INT64_MIN;
  c->dedup_max = 262144;
  c->reopen_ms = 3600000;
}

/* ---------------- small helpers ---------------- */

static void pool_init(struct pool *p) {
  memset(p, 0, sizeof *p);
  strmap_init(&p->map);
}

static void *pool_get(const struct pool *p, const char *key) {
  uint32_t i = strmap_get(&p->map, key);
  return i == STRMAP_NONE ? NULL : p->v[i];
}

/* key must live as long as obj (it is obj's own string). */
static void pool_add(struct pool *p, const char *key, void *obj) {
  uint32_t i;
  if (p->nfree) {
    i = p->freev[--p->nfree];
  } else {
    if (p->n == p->cap) {
      p->cap = p->cap ? p->cap * 2 : 64;
      p->v = xrealloc(p->v, p->cap * sizeof *p->v);
    }
    i = (uint32_t)p->n++;
  }
  p->v[i] = obj;
  strmap_put(&p->map, key, i);
}

static void pool_del(struct pool *p, const char *key) {
  uint32_t i = strmap_get(&p->map, key);
  if (i == STRMAP_NONE) return;
  strmap_del(&p->map, key);
  p->v[i] = NULL;
  if (p->nfree == p->capfree) {
    p->capfree = p->capfree ? p->capfree * 2 : 64;
    p->freev = xrealloc(p->freev, p->capfree * sizeof *p->freev);
  }
  p->freev[p->nfree++] = i;
}

static void pool_release(struct pool *p) {
  free(p->v);
  free(p->freev);
  strmap_release(&p->map);
}

static void set_str(char **dst, const char *s) {
  if (!s || (*dst && !strcmp(*dst, s))) return;
  free(*dst);
  *dst = xstrdup(s);
}

static void tot_add(struct acct_totals *t, const struct acct_totals *r, double d) {
  t->vcpu_s += r->vcpu_s * d;
  t->mem_gib_s += r->mem_gib_s * d;
  t->gpu_s += r->gpu_s * d;
  t->inst_s += r->inst_s * d;
  t->cost += r->cost * d;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---------------- lifecycle ---------------- */

struct acct *acct_new(const struct acct_conf *conf) {
  struct acct *a = xcalloc(1, sizeof *a);
  if (conf) a->conf = *conf;
  else acct_conf_defaults(&a->conf);
  if (!a->conf.dedup_max) a->conf.dedup_max = 262144;
  pool_init(&a->jobs);
  pool_init(&a->insts);
  pool_init(&a->aggs);
  strmap_init(&a->seen);
  a->ring = xcalloc(a->conf.dedup_max, sizeof *a->ring);
  a->settled = a->conf.from_ms;
  a->base = a->conf.from_ms;
  if (a->conf.reopen_ms < 0) a->conf.reopen_ms = 0;
  a->seed_until = INT64_MIN;
  return a;
}

static void job_free(struct job *j) {
  if (!j) return;
  free(j->id);
  free(j->queue);
  free(j->share);
  free(j->ce);
  free(j);
}

static void inst_free(struct inst *in) {
  if (!in) return;
  for (size_t k = 0; k < in->natt; k++) free(in->att[k]);
  free(in->att);
  free(in->pts);
  free(in->id);
  free(in->ce);
  free(in->type);
  free(in->lifecycle);
  free(in);
}

void acct_free(struct acct *a) {
  if (!a) return;
  for (size_t i = 0; i < a->jobs.n; i++) job_free(a->jobs.v[i]);
  for (size_t i = 0; i < a->insts.n; i++) inst_free(a->insts.v[i]);
  for (size_t i = 0; i < a->aggs.n; i++) {
    struct agg *g = a->aggs.v[i];
    if (!g) continue;
    free(g->name);
    free(g->key);
    free(g);
  }
  pool_release(&a->jobs);
  pool_release(&a->insts);
  pool_release(&a->aggs);
  for (size_t i = 0; i < a->conf.dedup_max; i++) free(a->ring[i]);
  free(a->ring);
  strmap_release(&a->seen);
  free(a->emitq);
  free(a->bp);
  free(a->act);
  free(a->w);
  free(a);
}

static struct agg *agg_get(struct acct *a, enum acct_kind kind, const char *name) {
  char key[1024];
  snprintf(key, sizeof key, "%s%s", kind_prefix[kind], name ? name : "");
  struct agg *g = pool_get(&a->aggs, key);
  if (g) return g;
  g = xcalloc(1, sizeof *g);
  g->kind = kind;
  g->name = xstrdup(name ? name : "");
  g->key = xstrdup(key);
  g->from = INT64_MAX;
  g->until = INT64_MIN;
  g->dirty = 1; /* a new key is published once, even at zero */
  pool_add(&a->aggs, g->key, g);
  return g;
}

/* Adds (sign +1) or takes back (-1) rate r over [b0, b1) of an aggregate. */
static void agg_add(struct agg *g, int64_t b0, int64_t b1, const struct acct_totals *r,
                    double sign) {
  if (g->muted || b1 <= b0) return;
  tot_add(&g->t, r, sign * (double)(b1 - b0) / 1000.0);
  if (b0 < g->from) g->from = b0;
  g->dirty = 1;
}

/* A time before the instance's horizon is moved to it: that part of the past is closed. */
static int64_t clamp_base(struct acct *a, const struct inst *in, int64_t t) {
  if (t >= in->base) return t;
  if (a->settled_once && in->base > a->conf.from_ms) a->st.too_late++;
  return in->base;
}

static void accumulate(struct acct *a, struct inst *in, int64_t lo, int64_t hi, double sign);

/* Before changing an instance's timeline at t: takes back what [t, settled) was charged.
 * Returns where to add back from (INT64_MAX: nothing was settled after t). Attribute changes
 * (t = base) are not counted as late events. */
static int64_t correct_begin(struct acct *a, struct inst *in, int64_t t) {
  if (t >= in->settled) return INT64_MAX;
  int64_t from = max64(t, in->base);
  if (t > in->base) a->st.late++;
  accumulate(a, in, from, in->settled, -1.0);
  return from;
}

static void emit_ended(struct acct *a, struct inst *in);

/* After the change: charges [from, settled) again with the new timeline. An attempt that the
 * change ended before the settled point is reported now, with the aggregates it changed: were it
 * left to the next settle, a publish could commit those aggregates and the consumed offsets
 * without its JOB record, and a restart then rebuilds that job without reporting it. */
static void correct_end(struct acct *a, struct inst *in, int64_t from) {
  if (from != INT64_MAX) accumulate(a, in, from, in->settled, 1.0);
  emit_ended(a, in);
}

static struct inst *inst_get(struct acct *a, const char *id, const char *ce) {
  struct inst *in = pool_get(&a->insts, id);
  if (!in) {
    in = xcalloc(1, sizeof *in);
    in->id = xstrdup(id);
    in->ce = xstrdup(ce ? ce : "");
    in->lifecycle = xstrdup("ON_DEMAND");
    in->base_state = ST_UNKNOWN;
    in->base = a->base;
    in->settled = a->settled;
    pool_add(&a->insts, in->id, in);
  } else if (ce && *ce && !*in->ce) {
    /* its compute environment learnt late: what was charged to "" moves to it */
    int64_t from = correct_begin(a, in, in->base);
    set_str(&in->ce, ce);
    correct_end(a, in, from);
  }
  return in;
}

static struct job *job_get(struct acct *a, const char *id) {
  struct job *j = pool_get(&a->jobs, id);
  if (!j) {
    j = xcalloc(1, sizeof *j);
    j->id = xstrdup(id);
    j->first = INT64_MAX;
    j->last_end = INT64_MIN;
    pool_add(&a->jobs, j->id, j);
  }
  return j;
}

/* ---------------- events ---------------- */


static void close_attempt(struct acct *a, struct att *t, int64_t at) {
  int64_t end = max64(clamp_base(a, t->inst, at), t->start);
  int64_t from = correct_begin(a, t->inst, end);
  t->end = end;
  correct_end(a, t->inst, from);
  if (t->job->open == t) t->job->open = NULL;
  if (t->end > t->job->last_end) t->job->last_end = t->end;
}

static int handle_job(struct acct *a, const json_t *ev, char *why, size_t whylen) {
  const char *id = jget_str(ev, "jobId"), *olds = jget_str(ev, "oldStatus"), *news = jget_str(ev, "newStatus");
  json_t *atv = json_object_get(ev, "at");
  if (!id || !olds || !news || !json_is_integer(atv)) {
    snprintf(why, whylen, "JobStateChange without jobId, oldStatus, newStatus or at");
    return -1;
  }
  int64_t at = json_integer_value(atv);
  int attempt = (int)jget_int(ev, "attempt", 0);
  const char *inst_id = jget_str(ev, "instanceId");
  int act_new = job_status_active(news), act_old = job_status_active(olds);
  struct job *j = pool_get(&a->jobs, id);
  if (act_new && inst_id && *inst_id && !(j && j->open && j->open->attempt == attempt)) {
    if (!j) j = job_get(a, id);
    const char *q = jget_str(ev, "jobQueue"), *sh = jget_str(ev, "shareIdentifier");
    if (q && *q) set_str(&j->queue, q);
    if (sh) set_str(&j->share, sh);
    if (j->open) close_attempt(a, j->open, at); /* its end was never reported */
    struct inst *in = inst_get(a, inst_id, jget_str(ev, "computeEnvironment"));
    struct att *t = xcalloc(1, sizeof *t);
    t->job = j;
    t->inst = in;
    t->attempt = attempt;
    t->vcpus = (int)jget_int(ev, "vcpus", 0);
    t->mem_mib = (int)jget_int(ev, "memoryMib", 0);
    t->gpus = (int)jget_int(ev, "gpus", 0);
    t->start = clamp_base(a, in, at);
    t->end = INT64_MAX;
    t->queue = agg_get(a, ACCT_QUEUE, j->queue ? j->queue : "");
    t->share = agg_get(a, ACCT_SHARE, j->share ? j->share : "");
    if (in->natt == in->capatt) {
      in->capatt = in->capatt ? in->capatt * 2 : 8;
      in->att = xrealloc(in->att, in->capatt * sizeof *in->att);
    }
    int64_t from = correct_begin(a, in, t->start);
    in->att[in->natt++] = t;
    correct_end(a, in, from);
    j->open = t;
    j->nrefs++;
    j->attempts++;
    if (t->start < j->first) j->first = t->start;
    set_str(&j->ce, in->ce);
  } else if (act_old && !act_new && j && j->open) {
    close_attempt(a, j->open, at);
  }
  if (j && job_status_terminal(news)) j->terminal = 1;
  return 0;
}

/* The index of the first point after t (points at t come before it: the later event wins). */
static size_t points_after(const struct inst *in, int64_t t) {
  size_t lo = 0, hi = in->npts;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (in->pts[mid].t <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Records that the instance is up (or down) from t on: the state at any time is the one the
 * latest event at or before it says. A point that changes nothing now is kept all the same
 * (until the horizon passes it): an event read later, between it and the point before, can make
 * it a change again. An agent's heartbeats buffered through a broker outage can arrive after the
 * scheduler's LOST that lies between them in time; dropping the heartbeats that followed the
 * first as redundant lost the instance's time after the LOST (the chaos run's checker saw
 * barge.usage 14.6 s short of the instances' life). */
static void add_point(struct acct *a, struct inst *in, int64_t t, uint8_t up) {
  t = clamp_base(a, in, t);
  if (t == in->base) { /* from the horizon on */
    if (in->base_state == up) return;
    int64_t from = correct_begin(a, in, t);
    in->base_state = up;
    correct_end(a, in, from);
    return;
  }
  size_t i = points_after(in, t);
  int changes = (i == 0 ? in->base_state : in->pts[i - 1].up) != up;
  int64_t from = changes ? correct_begin(a, in, t) : INT64_MAX;
  if (in->npts == in->cappts) {
    in->cappts = in->cappts ? in->cappts * 2 : 4;
    in->pts = xrealloc(in->pts, in->cappts * sizeof *in->pts);
  }
  memmove(in->pts + i + 1, in->pts + i, (in->npts - i) * sizeof *in->pts);
  in->pts[i] = (struct pt){t, up};
  in->npts++;
  correct_end(a, in, from);
}

static int handle_instance(struct acct *a, const json_t *ev, char *why, size_t whylen) {
  const char *id = jget_str(ev, "instanceId"), *kind = jget_str(ev, "kind");
  json_t *atv = json_object_get(ev, "at");
  if (!id || !kind || !json_is_integer(atv)) {
    snprintf(why, whylen, "InstanceEvent without instanceId, kind or at");
    return -1;
  }
  int64_t at = json_integer_value(atv);
  int up;
  if (instance_kind_live(kind)) {
    up = ST_UP;
  } else if (instance_kind_gone(kind)) {
    up = ST_DOWN;
  } else if (!strcmp(kind, "LAUNCHING")) {
    up = -1;
  } else {
    snprintf(why, whylen, "InstanceEvent of unknown kind %s", kind);
    return -1;
  }
  struct inst *in = inst_get(a, id, jget_str(ev, "computeEnvironment"));
  /* an older agent incarnation's late word: its TERMINATED read after the restarted agent's
   * READY ended the instance's life (no up-time, no IDLE, its jobs' time cut) until the next beat */
  if (instance_incarnation_fold(&in->incarnation, kind, jget_int(ev, "incarnation", 0))) return 0;
  const char *type = jget_str(ev, "instanceType"), *lc = jget_str(ev, "lifecycle");
  if (type && *type) set_str(&in->type, type);
  if (lc && *lc) set_str(&in->lifecycle, lc);
  int vcpus = (int)jget_int(ev, "vcpus", 0), mem = (int)jget_int(ev, "memoryMib", 0);
  int gpus = (int)jget_int(ev, "gpus", 0);
  json_t *pv = json_object_get(ev, "pricePerHour");
  double price = json_is_number(pv) ? json_number_value(pv) : 0.0;
  /* the price reported earliest wins, whatever order events are handled in */
  int new_price = price > 0 && (!in->has_price || at < in->price_at);
  if ((vcpus > 0 && vcpus != in->vcpus) || (mem > 0 && mem != in->mem_mib) ||
      (gpus > 0 && gpus != in->gpus) || (new_price && price != in->price)) {
    /* capacity and price hold for the instance's whole life: re-charge what is settled */
    int64_t from = correct_begin(a, in, in->base);
    if (vcpus > 0) in->vcpus = vcpus;
    if (mem > 0) in->mem_mib = mem;
    if (gpus > 0) in->gpus = gpus;
    if (new_price) in->price = price;
    correct_end(a, in, from);
  }
  if (new_price) {
    in->price_at = at;
    in->has_price = 1;
  }
  if (up >= 0) add_point(a, in, at, (uint8_t)up);
  return 0;
}

static void handle_config(struct acct *a, const json_t *ev) {
  json_t *body = json_object_get(ev, "body");
  const char *ce = jget_str(json_object_get(body, "ComputeEnvironment"), "computeEnvironmentName");
  const char *q = jget_str(json_object_get(body, "JobQueue"), "jobQueueName");
  if (ce) agg_get(a, ACCT_CE, ce);
  if (q) agg_get(a, ACCT_QUEUE, q);
}

static int seen_before(struct acct *a, const char *id) {
  return strmap_get(&a->seen, id) != STRMAP_NONE;
}

static void remember(struct acct *a, const char *id) {
  char **slot = &a->ring[a->ring_next];
  if (*slot) {
    strmap_del(&a->seen, *slot);
    free(*slot);
  }
  *slot = xstrdup(id);
  strmap_put(&a->seen, *slot, 1);
  a->ring_next = (a->ring_next + 1) % a->conf.dedup_max;
}

int acct_handle(struct acct *a, enum barge_ev_type t, const json_t *ev, char *why,
                size_t whylen) {
  int known = t == BARGE_EV_JOB_STATE_CHANGE || t == BARGE_EV_INSTANCE_EVENT ||
              t == BARGE_EV_CONFIG_RECORD;
  if (!known) return 0;
  const char *eid = jget_str(json_object_get(ev, "header"), "event_id");
  if (!json_is_object(ev) || !eid || !*eid) {
    snprintf(why, whylen, "event without header.event_id");
    a->st.invalid++;
    return -1;
  }
  if (seen_before(a, eid)) {
    a->st.duplicates++;
    return 1;
  }
  int rc = 0;
  if (t == BARGE_EV_JOB_STATE_CHANGE) rc = handle_job(a, ev, why, whylen);
  else if (t == BARGE_EV_INSTANCE_EVENT) rc = handle_instance(a, ev, why, whylen);
  else handle_config(a, ev);
  if (rc) {
    a->st.invalid++;
    return -1;
  }
  remember(a, eid);
  a->st.events++;
  return 0;
}

/* ---------------- settling ---------------- */

static int cmp64(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  return a < b ? -1 : a > b;
}

static double weight(const struct inst *in, const struct att *t) {
  double w = 0;
  int terms = 0;
  if (in->vcpus > 0) {
    w += (double)t->vcpus / in->vcpus;
    terms++;
  }
  if (in->mem_mib > 0) {
    w += (double)t->mem_mib / in->mem_mib;
    terms++;
  }
  if (in->gpus > 0) {
    w += (double)t->gpus / in->gpus;
    terms++;
  }
  return terms ? w : (double)t->vcpus;
}

static void push_emit(struct acct *a, struct job *j) {
  if (j->emit || a->restoring) return;
  j->emit = 1;
  if (a->nemit == a->capemit) {
    a->capemit = a->capemit ? a->capemit * 2 : 64;
    a->emitq = xrealloc(a->emitq, a->capemit * sizeof *a->emitq);
  }
  a->emitq[a->nemit++] = j;
}

/* Charges (sign +1) or takes back (-1) one segment [b0, b1) of an up instance with the n
 * attempts in a->act running. */
static void charge(struct acct *a, struct inst *in, int64_t b0, int64_t b1, size_t n,
                   double sign) {
  double d = sign * (double)(b1 - b0) / 1000.0;
  double rate = in->price / 3600.0;
  struct agg *ceg = agg_get(a, ACCT_CE, in->ce);
  struct acct_totals r = {0, 0, 0, 1.0, rate};
  tot_add(&in->t, &r, d);
  tot_add(&a->inst_total, &r, d);
  agg_add(ceg, b0, b1, &r, sign);
  if (n == 0) {
    struct acct_totals idle = {in->vcpus, in->mem_mib / 1024.0, in->gpus, 1.0, rate};
    tot_add(&a->idle_total, &idle, d);
    agg_add(agg_get(a, ACCT_IDLE, in->ce), b0, b1, &idle, sign);
    return;
  }
  double sum = 0;
  for (size_t k = 0; k < n; k++) sum += a->w[k] = weight(in, a->act[k]);
  for (size_t k = 0; k < n; k++) {
    struct att *t = a->act[k];
    double share = sum > 0 ? a->w[k] / sum : 1.0 / (double)n;
    struct acct_totals jr = {t->vcpus, t->mem_mib / 1024.0, t->gpus, share, share * rate};
    struct acct_totals res = {t->vcpus, t->mem_mib / 1024.0, t->gpus, 0, 0};
    tot_add(&t->job->t, &jr, d);
    tot_add(&a->jobs_total, &jr, d);
    t->job->contributed = 1;
    if (!t->job->ce || strcmp(t->job->ce, in->ce) != 0) set_str(&t->job->ce, in->ce);
    if (t->emitted) push_emit(a, t->job); /* a correction: report the job again */
    agg_add(t->queue, b0, b1, &jr, sign);
    agg_add(t->share, b0, b1, &jr, sign);
    agg_add(ceg, b0, b1, &res, sign);
  }
}

/* Charges (or takes back) [lo, hi) of an instance's timeline (lo >= its base). */
static void accumulate(struct acct *a, struct inst *in, int64_t lo, int64_t hi, double sign) {
  if (hi <= lo) return;
  /* breakpoints: lo, hi, and every point or attempt edge between */
  size_t need = 2 + in->npts + 2 * in->natt;
  if (need > a->capbp) {
    a->capbp = need * 2;
    a->bp = xrealloc(a->bp, a->capbp * sizeof *a->bp);
  }
  if (in->natt > a->capact) {
    a->capact = in->natt * 2;
    a->act = xrealloc(a->act, a->capact * sizeof *a->act);
    a->w = xrealloc(a->w, a->capact * sizeof *a->w);
  }
  size_t nb = 0;
  a->bp[nb++] = lo;
  a->bp[nb++] = hi;
  size_t first = points_after(in, lo); /* the points in (lo, hi) */
  for (size_t k = first; k < in->npts && in->pts[k].t < hi; k++)
    if (k == 0 || in->pts[k].up != in->pts[k - 1].up) a->bp[nb++] = in->pts[k].t;
  for (size_t k = 0; k < in->natt; k++) {
    struct att *t = in->att[k];
    if (t->start > lo && t->start < hi) a->bp[nb++] = t->start;
    if (t->end > lo && t->end < hi) a->bp[nb++] = t->end;
    if (sign > 0 && t->start < hi && t->end > lo) { /* it ran in [lo, hi): a report's window */
      if (!t->ran) t->job->ran++;
      t->ran = 1;
      if (t->end > hi) t->job->running_at = hi;
    }
  }
  qsort(a->bp, nb, sizeof *a->bp, cmp64);
  size_t pi = first;
  uint8_t state = first ? in->pts[first - 1].up : in->base_state;
  for (size_t s = 0; s + 1 < nb; s++) {
    int64_t b0 = a->bp[s], b1 = a->bp[s + 1];
    if (b1 == b0) continue;
    while (pi < in->npts && in->pts[pi].t <= b0) state = in->pts[pi++].up;
    if (state == ST_DOWN) continue; /* attempts are clipped to the instance's life */
    size_t n = 0;
    for (size_t k = 0; k < in->natt; k++)
      if (in->att[k]->start <= b0 && in->att[k]->end >= b1) a->act[n++] = in->att[k];
    if (state == ST_UP || n > 0) charge(a, in, b0, b1, n, sign);
  }
}

/* Attempts on the instance that ended by its settled point: their jobs are reported. */
static void emit_ended(struct acct *a, struct inst *in) {
  for (size_t k = 0; k < in->natt; k++) {
    struct att *t = in->att[k];
    if (!t->emitted && t->end != INT64_MAX && t->end <= in->settled) {
      t->emitted = 1;
      push_emit(a, t->job);
    }
  }
}

static void settle_inst(struct acct *a, struct inst *in, int64_t until) {
  if (until > in->settled) {
    accumulate(a, in, in->settled, until, 1.0);
    in->settled = until;
  }
  emit_ended(a, in);
  /* the horizon moves on: what lies before it is history no event can change any more */
  if (a->base > in->base) {
    size_t gone = points_after(in, a->base);
    if (gone) {
      in->base_state = in->pts[gone - 1].up;
      memmove(in->pts, in->pts + gone, (in->npts - gone) * sizeof *in->pts);
      in->npts -= gone;
    }
    in->base = a->base;
    size_t keep = 0;
    for (size_t k = 0; k < in->natt; k++) {
      struct att *t = in->att[k];
      if (t->end != INT64_MAX && t->end <= in->base && t->emitted) {
        t->job->nrefs--;
        free(t);
      } else {
        in->att[keep++] = t;
      }
    }
    in->natt = keep;
  }
}

void acct_settle(struct acct *a, int64_t until_ms) {
  /* an earlier or equal until still reports jobs whose late events ended them */
  if (until_ms < a->settled) until_ms = a->settled;
  a->settled = until_ms;
  a->settled_once = 1;
  int64_t horizon = until_ms - a->conf.reopen_ms;
  if (horizon > a->base) a->base = horizon;
  for (size_t i = 0; i < a->insts.n; i++) {
    struct inst *in = a->insts.v[i];
    if (!in) continue;
    settle_inst(a, in, until_ms);
    /* released when nothing more can come of it: down since before the horizon, or never
     * described and idle (an instance known from LAUNCHING keeps its attributes until READY) */
    if (in->natt == 0 && in->npts == 0 &&
        (in->base_state == ST_DOWN ||
         (in->base_state == ST_UNKNOWN && !in->has_price && !in->vcpus))) {
      pool_del(&a->insts, in->id);
      inst_free(in);
    }
  }
}

int64_t acct_settled(const struct acct *a) { return a->settled_once ? a->settled : INT64_MIN; }

/* ---------------- outputs ---------------- */

static json_t *record(enum acct_kind kind, const char *key, const struct acct_totals *t,
                      int64_t from, int64_t until) {
  return json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:I, s:I}", "key", key, "kind",
                   kind_names[kind], "vcpuSeconds", t->vcpu_s, "memoryGibSeconds", t->mem_gib_s,
                   "gpuSeconds", t->gpu_s, "instanceSeconds", t->inst_s, "cost", t->cost, "from",
                   (json_int_t)from, "until", (json_int_t)until);
}

static void set_opt(json_t *o, const char *k, const char *v) {
  if (v && *v) json_object_set_new(o, k, json_string(v));
}

static void maybe_free_job(struct acct *a, struct job *j) {
  if (a->conf.keep_jobs || !j->terminal || j->nrefs > 0 || j->open || j->emit) return;
  pool_del(&a->jobs, j->id);
  job_free(j);
}

void acct_collect(struct acct *a, json_t *out, int with_aggregates) {
  for (size_t i = 0; i < a->nemit; i++) {
    struct job *j = a->emitq[i];
    j->emit = 0;
    json_t *r = record(ACCT_JOB, j->id, &j->t, j->first == INT64_MAX ? 0 : j->first,
                       j->last_end == INT64_MIN ? 0 : j->last_end);
    set_opt(r, "jobQueue", j->queue);
    set_opt(r, "shareIdentifier", j->share);
    set_opt(r, "computeEnvironment", j->ce);
    json_array_append_new(out, r);
  }
  for (size_t i = 0; i < a->nemit; i++) maybe_free_job(a, a->emitq[i]);
  a->nemit = 0;
  /* terminal jobs that never had an attempt to emit */
  for (size_t i = 0; i < a->jobs.n; i++) {
    struct job *j = a->jobs.v[i];
    if (j) maybe_free_job(a, j);
  }
  if (!with_aggregates) return;
  for (size_t i = 0; i < a->aggs.n; i++) {
    struct agg *g = a->aggs.v[i];
    if (!g || !g->dirty) continue;
    g->dirty = 0;
    int64_t until = a->settled_once ? a->settled : 0;
    if (until < g->until) until = g->until;
    g->until = until;
    json_t *r = record(g->kind, g->key, &g->t, g->from == INT64_MAX ? until : g->from, until);
    if (g->kind == ACCT_QUEUE) set_opt(r, "jobQueue", g->name);
    if (g->kind == ACCT_SHARE) set_opt(r, "shareIdentifier", g->name);
    if (g->kind == ACCT_CE || g->kind == ACCT_IDLE) set_opt(r, "computeEnvironment", g->name);
    json_array_append_new(out, r);
  }
}

int acct_seed(struct acct *a, const json_t *rec) {
  const char *kind = jget_str(rec, "kind"), *key = jget_str(rec, "key");
  json_t *untilv = json_object_get(rec, "until");
  if (!kind || !key || !json_is_integer(untilv)) return -1;
  int k = -1;
  for (int i = 0; i < ACCT__COUNT; i++)
    if (!strcmp(kind, kind_names[i])) k = i;
  if (k < 0) return -1;
  if (k == ACCT_JOB) return 0; /* jobs are recomputed from the events */
  size_t pl = strlen(kind_prefix[k]);
  if (strncmp(key, kind_prefix[k], pl) != 0) return -1;
  struct agg *g = agg_get(a, (enum acct_kind)k, key + pl);
  json_t *v;
#define NUM(name) ((v = json_object_get(rec, name)) && json_is_number(v) ? json_number_value(v) : 0.0)
  g->t.vcpu_s = NUM("vcpuSeconds");
  g->t.mem_gib_s = NUM("memoryGibSeconds");
  g->t.gpu_s = NUM("gpuSeconds");
  g->t.inst_s = NUM("instanceSeconds");
  g->t.cost = NUM("cost");
#undef NUM
  int64_t until = json_integer_value(untilv);
  g->from = jget_int(rec, "from", until);
  g->until = until;
  g->muted = 1;
  g->dirty = 0;
  if (until > a->seed_until) a->seed_until = until;
  a->restoring = 1;
  return 0;
}

void acct_restored(struct acct *a) {
  if (!a->restoring) return;
  if (a->seed_until != INT64_MIN) acct_settle(a, a->seed_until);
  a->restoring = 0;
  for (size_t i = 0; i < a->aggs.n; i++) {
    struct agg *g = a->aggs.v[i];
    if (g) g->muted = 0;
  }
}

/* ---------------- queries ---------------- */

static int cmp_job(const void *x, const void *y) {
  return strcmp((*(struct job *const *)x)->id, (*(struct job *const *)y)->id);
}

static int cmp_agg(const void *x, const void *y) {
  return strcmp((*(struct agg *const *)x)->name, (*(struct agg *const *)y)->name);
}

void acct_foreach(struct acct *a, enum acct_kind kind, int all,
                  void (*cb)(void *ctx, const struct acct_row *r), void *ctx) {
  if (kind == ACCT_JOB) {
    struct job **v = xmalloc((a->jobs.n + 1) * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < a->jobs.n; i++) {
      struct job *j = a->jobs.v[i];
      if (j && (all || j->contributed)) v[n++] = j;
    }
    qsort(v, n, sizeof *v, cmp_job);
    for (size_t i = 0; i < n; i++) {
      struct job *j = v[i];
      struct acct_row r = {.kind = ACCT_JOB, .key = j->id, .queue = j->queue ? j->queue : "",
                           .share = j->share ? j->share : "", .ce = j->ce ? j->ce : "",
                           .attempts = j->ran, .running = j->running_at == a->settled,
                           .from_ms = j->first == INT64_MAX ? 0 : j->first,
                           .until_ms = j->open ? a->settled : (j->last_end == INT64_MIN ? 0 : j->last_end),
                           .t = j->t};
      cb(ctx, &r);
    }
    free(v);
    return;
  }
  if (kind >= ACCT__COUNT) return;
  /* jobs per aggregate name, from the jobs still held (all of them with keep_jobs) */
  struct strmap counts;
  strmap_init(&counts);
  for (size_t i = 0; i < a->jobs.n; i++) {
    struct job *j = a->jobs.v[i];
    if (!j || !j->contributed) continue;
    const char *name = kind == ACCT_QUEUE ? j->queue : kind == ACCT_SHARE ? j->share
                     : kind == ACCT_CE ? j->ce : NULL;
    if (kind != ACCT_IDLE && !name) name = "";
    if (!name) continue;
    uint32_t c = strmap_get(&counts, name);
    strmap_put(&counts, name, c == STRMAP_NONE ? 1 : c + 1);
  }
  struct agg **v = xmalloc((a->aggs.n + 1) * sizeof *v);
  size_t n = 0;
  for (size_t i = 0; i < a->aggs.n; i++) {
    struct agg *g = a->aggs.v[i];
    if (g && g->kind == kind) v[n++] = g;
  }
  qsort(v, n, sizeof *v, cmp_agg);
  for (size_t i = 0; i < n; i++) {
    struct agg *g = v[i];
    uint32_t c = kind == ACCT_IDLE ? STRMAP_NONE : strmap_get(&counts, g->name);
    struct acct_row r = {.kind = kind, .key = g->name, .jobs = c == STRMAP_NONE ? 0 : (int)c,
                         .from_ms = g->from == INT64_MAX ? 0 : g->from,
                         .until_ms = a->settled_once ? a->settled : g->until, .t = g->t};
    cb(ctx, &r);
  }
  free(v);
  strmap_release(&counts);
}

int acct_get(struct acct *a, enum acct_kind kind, const char *key, struct acct_totals *out) {
  memset(out, 0, sizeof *out);
  if (kind >= ACCT__COUNT) {
    *out = a->inst_total;
    return 0;
  }
  if (kind == ACCT_JOB) {
    if (!key) {
      *out = a->jobs_total;
      return 0;
    }
    struct job *j = pool_get(&a->jobs, key);
    if (!j) return -1;
    *out = j->t;
    return 0;
  }
  if (!key) {
    if (kind == ACCT_IDLE) {
      *out = a->idle_total;
      return 0;
    }
    for (size_t i = 0; i < a->aggs.n; i++) {
      struct agg *g = a->aggs.v[i];
      if (g && g->kind == kind) tot_add(out, &g->t, 1.0);
    }
    return 0;
  }
  char k[1024];
  snprintf(k, sizeof k, "%s%s", kind_prefix[kind], key);
  struct agg *g = pool_get(&a->aggs, k);
  if (!g) return -1;
  *out = g->t;
  return 0;
}

void acct_stats(const struct acct *a, struct acct_stats *out) {
  *out = a->st;
  out->jobs = a->jobs.n - a->jobs.nfree;
  out->instances = a->insts.n - a->insts.nfree;
  size_t open = 0;
  for (size_t i = 0; i < a->insts.n; i++) {
    struct inst *in = a->insts.v[i];
    if (in) open += in->natt;
  }
  out->open_attempts = open;
}
