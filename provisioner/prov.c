/* prov.c: the provisioner's decision core (see prov.h). Pure: no I/O, no clock, no randomness.
 *
 * Scale-up (docs/job-model.md §4.5), per CE, once its batching window has passed:
 *   1. bins = capacity that will absorb the reported demand without a launch: pending launches,
 *      LAUNCHING instances, and READY instances the scheduler does not report busy (for 30 s
 *      after they register: the scheduler may not have seen them yet);
 *   2. each demand shape is packed best-fit onto the bins (lowest leftover score, §4.4), the rest
 *      onto new instances whose type the allocation strategy picks (choose_type) -> launch set L;
 *   3. a new instance is not opened once live + L reaches maxvCpus; the last may cross it by one
 *      instance, except under BEST_FIT with EC2;
 *   4. desired = clamp(minvCpus, maxvCpus, live + vCPUs(L)); below minvCpus, instances are added
 *      for the floor (MIN_VCPUS), never crossing maxvCpus under BEST_FIT with EC2.
 * Scale-down (docs/job-model.md §4.6), on every tick: READY instances idle (not in the scheduler's
 * busyInstances since their last job or registration, and fitting none of the reported RUNNABLE
 * jobs) longer than the CE's delay are drained —
 * DRAIN_REQUESTED, then the scheduler's DRAINED, then terminate — oldest idle first, never below
 * minvCpus. A DISABLED CE drains idle instances at once, down to minvCpus. */
#include "prov.h"
#include "jsonget.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "states.h"
#include "strmap.h"

enum pstate { PI_LAUNCHING, PI_READY, PI_DRAINING, PI_TERMINATING, PI__COUNT };
static const char *const state_names[PI__COUNT] = {"LAUNCHING", "READY", "DRAINING", "TERMINATING"};

struct pinst {
  char id[32];
  uint32_t ce;
  int type; /* catalogue index, -1 unknown */
  char type_name[40];
  char driver[16];
  int v, m, g; /* schedulable capacity */
  int spot;
  double price;
  enum pstate state;
  uint8_t busy, interrupted, drained, lost;
  uint32_t busy_gen;
  int64_t incarnation; /* the agent's latest incarnation seen (0 = unknown) */
  int64_t launched_at, ready_at, idle_since, state_at;
  size_t ce_pos; /* its index in its CE's insts */
};

#define NO_SLOT UINT32_MAX /* an instance that left, in a CE's insts */

struct preq { /* a launch asked of the driver, not answered yet */
  int64_t req;
  int type, count, spot;
};

struct pshape {
  int v, m, g, count;
  int one_each; /* the nodes of multi-node jobs: one per instance */
};

struct pce {
  char *name, *arn, *driver;
  int managed, enabled, valid, deleted, spot;
  int minv, maxv, bid_pct;
  enum prov_strategy strategy;
  int64_t delay_ms; /* -1: the configured fallback */
  json_t *instance_types;
  int *types, *groups;
  size_t ntypes;
  struct pshape *shapes;
  size_t nshapes;
  int64_t demand_at; /* `at` of the latest CapacityDemand */
  int64_t eval_at; /* 0: no evaluation pending */
  int desired;
  int last_unmet; /* vCPUs left unmet by maxvCpus at the last MAX_VCPUS_LIMIT decision */
  int bid_told;   /* the jobs waiting only for a bid too low were reported (until a change) */
  int64_t *unobt_until; /* per catalogue type */
  int stored_desired;   /* computeResources.desiredvCpus as last configured (-1: not seen yet) */
  int asked_desired;    /* a desiredvCpus an update raised, to launch up to once (0: none) */
  /* its instances' slots in arrival order (the order bins are packed in and terminations are
   * written: it decides outputs). One that leaves becomes NO_SLOT (O(1)); the array is compacted
   * when those outnumber the live, O(1) amortised. Shifting the array at each removal cost O(n);
   * a linked list walked 3 times slower (docs/provisioner.md, "Tests and benchmark") */
  uint32_t *insts;
  size_t ninst, capinst; /* entries, NO_SLOT ones included */
  size_t nleft;          /* NO_SLOT entries */
  struct preq *reqs;
  size_t nreqs, capreqs;
};

struct prov {
  struct prov_conf conf;
  const struct catalog *cat;
  int64_t now;
  int64_t req_seq;
  uint32_t busy_gen;
  struct pce **ces;
  size_t nces;
  struct pinst **insts; /* slots; NULL = free */
  size_t ninsts, capinsts; /* both arrays grow by doubling */
  uint32_t *free_slots; /* reused last freed first */
  size_t nfree, capfree;
  struct strmap by_id;
};

/* ---------------- small helpers ---------------- */

static const char *const strategy_names[PROV_STRATEGY__COUNT] = {
    "BEST_FIT", "BEST_FIT_PROGRESSIVE", "BEST_FIT_PROGRESSIVE_ORDERED", "SPOT_CAPACITY_OPTIMIZED",
    "SPOT_PRICE_CAPACITY_OPTIMIZED", "SPOT_CAPACITY_OPTIMIZED_PRIORITIZED"};

const char *prov_strategy_name(enum prov_strategy s) { return strategy_names[s]; }

int prov_strategy_parse(const char *s) {
  for (int i = 0; s && i < PROV_STRATEGY__COUNT; i++)
    if (!strcmp(s, strategy_names[i])) return i;
  return -1;
}

void prov_conf_defaults(struct prov_conf *c) {
  memset(c, 0, sizeof *c);
  c->window_ms = 1000;
  c->idle_delay_ms = 60000;
  c->launch_timeout_ms = 600000;
  c->unobtainable_ms = 60000;
  c->ready_grace_ms = 30000;
  c->terminate_retry_ms = 60000;
  c->max_launch = 20000;
}

/* Event time: the larger of the header's event_time and the record's own `at`. */
static int64_t event_at(const json_t *ev) {
  int64_t t = (int64_t)json_integer_value(json_object_get(json_object_get(ev, "header"), "event_time"));
  int64_t at = (int64_t)json_integer_value(json_object_get(ev, "at"));
  return at > t ? at : t;
}

static void advance(struct prov *p, int64_t t) {
  if (t > p->now) p->now = t;
}

void prov_outbox_init(struct prov_outbox *o) { memset(o, 0, sizeof *o); }

void prov_outbox_reset(struct prov_outbox *o) {
  for (size_t i = 0; i < o->n; i++) {
    free(o->ev[i].ce);
    free(o->ev[i].driver);
    json_decref(o->ev[i].ev);
  }
  o->n = 0;
}

void prov_outbox_release(struct prov_outbox *o) {
  prov_outbox_reset(o);
  free(o->ev);
  memset(o, 0, sizeof *o);
}

static struct prov_out *push(struct prov_outbox *o, enum prov_out_kind kind, const struct pce *c,
                             int64_t at) {
  if (o->n == o->cap) {
    o->cap = o->cap ? o->cap * 2 : 16;
    o->ev = xrealloc(o->ev, o->cap * sizeof *o->ev);
  }
  struct prov_out *e = &o->ev[o->n++];
  memset(e, 0, sizeof *e);
  e->kind = kind;
  e->ce = xstrdup(c->name);
  e->driver = xstrdup(c->driver ? c->driver : "");
  e->at_ms = at;
  return e;
}

static const struct catalog_type *ctype(const struct prov *p, int i) {
  return i >= 0 && (size_t)i < p->cat->n ? &p->cat->types[i] : NULL;
}

/* ---------------- lifecycle ---------------- */

struct prov *prov_new(const struct prov_conf *conf) {
  struct prov *p = xcalloc(1, sizeof *p);
  if (conf) p->conf = *conf;
  else prov_conf_defaults(&p->conf);
  p->cat = p->conf.cat ? p->conf.cat : catalog_default();
  strmap_init(&p->by_id);
  return p;
}

static void free_ce(struct pce *c) {
  free(c->name);
  free(c->arn);
  free(c->driver);
  json_decref(c->instance_types);
  free(c->types);
  free(c->groups);
  free(c->shapes);
  free(c->unobt_until);
  free(c->insts);
  free(c->reqs);
  free(c);
}

void prov_free(struct prov *p) {
  if (!p) return;
  for (size_t i = 0; i < p->nces; i++) free_ce(p->ces[i]);
  for (size_t i = 0; i < p->ninsts; i++) free(p->insts[i]);
  free(p->ces);
  free(p->insts);
  free(p->free_slots);
  strmap_release(&p->by_id);
  free(p);
}

static uint32_t find_ce(const struct prov *p, const char *ref) {
  if (!ref) return UINT32_MAX;
  for (size_t i = 0; i < p->nces; i++)
    if (!strcmp(p->ces[i]->name, ref) || !strcmp(p->ces[i]->arn, ref)) return (uint32_t)i;
  return UINT32_MAX;
}

static struct pinst *find_inst(const struct prov *p, const char *id) {
  uint32_t i = id ? strmap_get(&p->by_id, id) : STRMAP_NONE;
  return i == STRMAP_NONE ? NULL : p->insts[i];
}

/* Agent incarnations (docs/architecture.md "Agent incarnations", docs/provisioner.md "Agent
 * restarts"): an agent restarted under the same instance id says so with a larger incarnation. Is
 * kind, from incarnation inc, an older incarnation's late word about in (a beat, or its
 * process's TERMINATED, or the scheduler's LOST of it) that must not end the instance the newer
 * incarnation serves? Incarnation 0 is unknown (the provisioner's, a driver's or an older
 * agent's word): never older. */
static int stale_word(const struct pinst *in, const char *kind, int64_t inc) {
  return in && instance_word_stale(in->incarnation, kind, inc); /* the rule every reader applies */
}

/* A READY or HEARTBEAT of incarnation inc: the latest one known rises to it. */
static void see_incarnation(struct pinst *in, int64_t inc) {
  if (inc > in->incarnation) in->incarnation = inc;
}

static int is_live(const struct pinst *in) {
  return (in->state == PI_LAUNCHING || in->state == PI_READY) && !in->interrupted;
}

/* Marks the CE for a scale-up evaluation at the end of its batching window. */
static void mark_dirty(struct prov *p, struct pce *c) {
  if (!c->eval_at) c->eval_at = p->now + p->conf.window_ms;
}

static struct pinst *add_inst(struct prov *p, struct pce *c, uint32_t ci, const char *id) {
  struct pinst *in = xcalloc(1, sizeof *in);
  snprintf(in->id, sizeof in->id, "%s", id);
  in->ce = ci;
  in->type = -1;
  uint32_t slot;
  if (p->nfree) {
    slot = p->free_slots[--p->nfree];
  } else {
    if (p->ninsts == p->capinsts) {
      p->capinsts = p->capinsts ? p->capinsts * 2 : 64;
      p->insts = xrealloc(p->insts, p->capinsts * sizeof *p->insts);
    }
    slot = (uint32_t)p->ninsts++;
  }
  p->insts[slot] = in;
  strmap_put(&p->by_id, in->id, slot);
  if (c->ninst == c->capinst) {
    c->capinst = c->capinst ? c->capinst * 2 : 16;
    c->insts = xrealloc(c->insts, c->capinst * sizeof *c->insts);
  }
  in->ce_pos = c->ninst;
  c->insts[c->ninst++] = slot;
  return in;
}

static void remove_inst(struct prov *p, struct pinst *in) {
  uint32_t slot = strmap_get(&p->by_id, in->id);
  if (slot == STRMAP_NONE) return;
  struct pce *c = p->ces[in->ce];
  c->insts[in->ce_pos] = NO_SLOT;
  c->nleft++;
  if (c->nleft > c->ninst - c->nleft) { /* compacted, in order */
    size_t w = 0;
    for (size_t k = 0; k < c->ninst; k++) {
      if (c->insts[k] == NO_SLOT) continue;
      p->insts[c->insts[k]]->ce_pos = w;
      c->insts[w++] = c->insts[k];
    }
    c->ninst = w;
    c->nleft = 0;
  }
  strmap_del(&p->by_id, in->id);
  p->insts[slot] = NULL;
  if (p->nfree == p->capfree) {
    p->capfree = p->capfree ? p->capfree * 2 : 64;
    p->free_slots = xrealloc(p->free_slots, p->capfree * sizeof *p->free_slots);
  }
  p->free_slots[p->nfree++] = slot;
  free(in);
}

/* Fills type, capacity, lifecycle and driver of an instance from an InstanceEvent. */
static void take_fields(struct prov *p, struct pinst *in, const json_t *ev) {
  const char *t = jget_str(ev, "instanceType");
  if (t && *t) {
    snprintf(in->type_name, sizeof in->type_name, "%s", t);
    in->type = catalog_index(p->cat, t);
  }
  int v = jget_int(ev, "vcpus", 0), m = jget_int(ev, "memoryMib", 0);
  if (v > 0) in->v = v;
  if (m > 0) in->m = m;
  if (v > 0 || m > 0) in->g = jget_int(ev, "gpus", 0);
  if (in->v <= 0 && ctype(p, in->type)) {
    in->v = ctype(p, in->type)->vcpus;
    in->m = catalog_sched_mem(p->cat, ctype(p, in->type));
    in->g = ctype(p, in->type)->gpus;
  }
  const char *lc = jget_str(ev, "lifecycle");
  if (lc && !strcmp(lc, "SPOT")) in->spot = 1;
  json_t *pr = json_object_get(ev, "pricePerHour");
  if (json_is_number(pr) && json_number_value(pr) > 0) in->price = json_number_value(pr);
  /* the driver that launched it knows best: an agent started by hand (or by a bootstrap without
   * --driver) says "local", and terminating an EC2 instance through the local driver would leave
   * it running and billed; an instance adopted from its READY has only the agent's word */
  const char *d = jget_str(ev, "driver");
  if (d && *d && !in->driver[0]) snprintf(in->driver, sizeof in->driver, "%s", d);
}

static json_t *instance_event(const struct prov *p, const struct pinst *in, const char *kind,
                              const char *reason, int64_t at) {
  json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:f, s:s, s:I}", "instanceId", in->id,
                        "computeEnvironment", p->ces[in->ce]->name, "kind", kind, "instanceType",
                        in->type_name, "vcpus", in->v, "memoryMib", in->m, "gpus", in->g,
                        "lifecycle", in->spot ? "SPOT" : "ON_DEMAND", "pricePerHour", in->price,
                        "driver", in->driver, "at", (json_int_t)at);
  if (reason) json_object_set_new(e, "reason", json_string(reason));
  return e;
}

static void set_state(struct prov *p, struct pinst *in, enum pstate st) {
  in->state = st;
  in->state_at = p->now;
}

static void emit_terminate(struct prov *p, struct pinst *in, const char *reason, struct prov_outbox *out) {
  struct pce *c = p->ces[in->ce];
  set_state(p, in, PI_TERMINATING);
  struct prov_out *e = push(out, PROV_OUT_TERMINATE, c, p->now);
  free(e->driver);
  e->driver = xstrdup(in->driver[0] ? in->driver : (c->driver ? c->driver : ""));
  snprintf(e->instance, sizeof e->instance, "%s", in->id);
  e->ev = instance_event(p, in, "TERMINATED", reason, p->now);
}

static void emit_drain(struct prov *p, struct pinst *in, const char *reason, struct prov_outbox *out) {
  struct pce *c = p->ces[in->ce];
  set_state(p, in, PI_DRAINING);
  struct prov_out *e = push(out, PROV_OUT_INSTANCE, c, p->now);
  e->ev = instance_event(p, in, "DRAIN_REQUESTED", reason, p->now);
  snprintf(e->instance, sizeof e->instance, "%s", in->id);
  e = push(out, PROV_OUT_DRAIN, c, p->now);
  free(e->driver);
  e->driver = xstrdup(in->driver[0] ? in->driver : (c->driver ? c->driver : ""));
  snprintf(e->instance, sizeof e->instance, "%s", in->id);
}

/* ---------------- configuration ---------------- */

static int parse_ce(struct prov *p, const json_t *b, char *err, size_t errlen) {
  const char *name = jget_str(b, "computeEnvironmentName"), *arn = jget_str(b, "computeEnvironmentArn");
  if (!name || !arn) {
    snprintf(err, errlen, "ComputeEnvironment without computeEnvironmentName or computeEnvironmentArn");
    return -1;
  }
  const char *type = jget_str(b, "type");
  json_t *cr = json_object_get(b, "computeResources");
  int managed = type && !strcmp(type, "MANAGED") && json_is_object(cr);
  int strategy = PROV_BEST_FIT;
  if (managed) {
    const char *s = jget_str(cr, "allocationStrategy");
    strategy = s ? prov_strategy_parse(s) : PROV_BEST_FIT;
    if (strategy < 0) {
      snprintf(err, errlen, "compute environment %s: unknown allocationStrategy %s", name, s);
      return -1;
    }
  }
  uint32_t ci = find_ce(p, arn);
  struct pce *c;
  if (ci == UINT32_MAX) {
    c = xcalloc(1, sizeof *c);
    c->name = xstrdup(name);
    c->arn = xstrdup(arn);
    c->unobt_until = xcalloc(p->cat->n ? p->cat->n : 1, sizeof *c->unobt_until);
    c->desired = -1;
    c->stored_desired = -1;
    p->ces = xrealloc(p->ces, (p->nces + 1) * sizeof *p->ces);
    p->ces[p->nces++] = c;
  } else {
    c = p->ces[ci];
  }
  c->deleted = 0;
  c->managed = managed;
  c->bid_told = 0;
  const char *state = jget_str(b, "state"), *status = jget_str(b, "status");
  c->enabled = !state || !strcmp(state, "ENABLED");
  c->valid = !status || !strcmp(status, "VALID");
  free(c->driver);
  c->driver = xstrdup(jget_str(b, "driver") ? jget_str(b, "driver") : "");
  if (managed) {
    const char *crt = jget_str(cr, "type");
    c->spot = crt && !strcmp(crt, "SPOT");
    c->minv = jget_int(cr, "minvCpus", 0);
    c->maxv = jget_int(cr, "maxvCpus", 0);
    c->bid_pct = jget_int(cr, "bidPercentage", 100);
    if (c->bid_pct <= 0) c->bid_pct = 100;
    c->strategy = (enum prov_strategy)strategy;
    int delay_min = jget_int(cr, "minScaleDownDelayMinutes", 0);
    c->delay_ms = delay_min > 0 ? (int64_t)delay_min * 60000 : -1;
    json_decref(c->instance_types);
    c->instance_types = json_deep_copy(json_object_get(cr, "instanceTypes"));
    free(c->types);
    free(c->groups);
    c->ntypes = catalog_resolve(p->cat, c->instance_types, &c->types, &c->groups, NULL);
    json_t *d = json_object_get(cr, "desiredvCpus");
    if (c->desired < 0) c->desired = json_is_integer(d) ? (int)json_integer_value(d) : c->minv;
    /* maxvCpus lowered below the desired: desired stays within [minvCpus, maxvCpus] (the next
     * heartbeat shows it), else every desiredvCpus update would be refused as below the current */
    if (c->desired > c->maxv) c->desired = c->maxv;
    /* UpdateComputeEnvironment set desiredvCpus above the current desired (docs/job-model.md
     * §4.7): launch up to it once, as a floor for one evaluation; idle instances beyond minvCpus
     * go as usual later. "Set" is a stored value that changed, up or down: after a scale-down a
     * value below the one stored before can still be above the current desired. */
    int want = json_is_integer(d) ? (int)json_integer_value(d) : c->minv;
    if (c->stored_desired >= 0 && want != c->stored_desired && want > c->desired) c->asked_desired = want;
    c->stored_desired = want;
  } else {
    c->minv = c->maxv = 0;
    c->ntypes = 0;
    if (c->desired < 0) c->desired = 0;
  }
  mark_dirty(p, c);
  return 0;
}

int prov_handle_config(struct prov *p, const json_t *ev, struct prov_outbox *out, char *err,
                       size_t errlen) {
  (void)out;
  json_t *b = json_object_get(json_object_get(ev, "body"), "ComputeEnvironment");
  if (!b) return 0; /* queues, job definitions, policies: not the provisioner's business */
  advance(p, event_at(ev));
  return parse_ce(p, b, err, errlen);
}

void prov_handle_config_delete(struct prov *p, const char *arn, int64_t at_ms, struct prov_outbox *out) {
  (void)out;
  advance(p, at_ms);
  uint32_t ci = find_ce(p, arn);
  if (ci == UINT32_MAX) return;
  struct pce *c = p->ces[ci];
  c->deleted = 1;
  c->enabled = 0;
  c->minv = 0;
}

/* ---------------- type choice (docs/job-model.md §4.3) ---------------- */

static double price_of(const struct pce *c, const struct catalog_type *t) {
  return c->spot ? t->spot_price : t->od_price;
}

/* Jobs of a shape one empty instance of type t holds. */
static int per_instance(const struct prov *p, const struct catalog_type *t, const struct pshape *s) {
  int k = s->v > 0 ? t->vcpus / s->v : INT32_MAX;
  int mem = catalog_sched_mem(p->cat, t);
  if (s->m > 0 && mem / s->m < k) k = mem / s->m;
  if (s->g > 0 && t->gpus / s->g < k) k = t->gpus / s->g;
  if (s->one_each && k > 1) k = 1;
  return k == INT32_MAX ? 1 << 20 : k;
}

/* What the strategies compare about one candidate type for `n` jobs of one shape. */
struct cand {
  int pos;        /* position in c->types */
  int type;       /* catalogue index */
  int k;          /* jobs of the shape one instance holds */
  double price;   /* per hour (spot price in a SPOT CE) */
  double slot;    /* price per job placed: price / min(k, n); equals the price per vCPU ordering
                     whenever vCPUs are what fills an instance, and does not send a memory-bound
                     job to a large compute type */
  int rank, group;
};

static int feq(double a, double b) { return fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b) + 1e-12); }

/* Strategy order of two candidates (negative: a first). Equal keys leave the choice to the size
 * rule (size_better). */
static int strategy_cmp(const struct pce *c, const struct cand *a, const struct cand *b, int best_rank) {
#define KEY(x, y)                                                                                  \
  do {                                                                                             \
    if ((x) < (y)) return -1;                                                                      \
    if ((x) > (y)) return 1;                                                                       \
  } while (0)
#define FKEY(x, y)                                                                                 \
  do {                                                                                             \
    if (!feq((x), (y))) return (x) < (y) ? -1 : 1;                                                 \
  } while (0)
  switch (c->strategy) {
  case PROV_BEST_FIT: /* the single cheapest type that fits */
    FKEY(a->price, b->price);
    return 0;
  case PROV_BEST_FIT_PROGRESSIVE: /* lowest price per vCPU (per job slot) */
    FKEY(a->slot, b->slot);
    return 0;
  case PROV_BEST_FIT_PROGRESSIVE_ORDERED: /* list order, then as above */
    KEY(a->group, b->group);
    FKEY(a->slot, b->slot);
    return 0;
  case PROV_SPOT_CAPACITY_OPTIMIZED: /* lowest interruption rank */
    KEY(a->rank, b->rank);
    FKEY(a->slot, b->slot);
    return 0;
  case PROV_SPOT_PRICE_CAPACITY_OPTIMIZED: {
    /* the pools within one interruption bucket of the best, then the cheapest of them */
    int ea = a->rank <= best_rank + 1, eb = b->rank <= best_rank + 1;
    KEY(!ea, !eb);
    FKEY(a->slot, b->slot);
    KEY(a->rank, b->rank);
    return 0;
  }
  case PROV_SPOT_CAPACITY_OPTIMIZED_PRIORITIZED: /* rank, then list order */
    KEY(a->rank, b->rank);
    KEY(a->group, b->group);
    FKEY(a->slot, b->slot);
    return 0;
  case PROV_STRATEGY__COUNT:
    break;
  }
#undef KEY
#undef FKEY
  return 0;
}

/* Among types the strategy ranks equal, the size that fits the remaining demand: the smallest
 * holding all `n` jobs, else the one holding the most (fewer, fuller instances); BEST_FIT: the
 * smallest. */
static int size_better(const struct prov *p, const struct pce *c, const struct cand *a,
                       const struct cand *b, int n) {
  const struct catalog_type *ta = &p->cat->types[a->type], *tb = &p->cat->types[b->type];
  if (c->strategy != PROV_BEST_FIT) {
    int alla = a->k >= n, allb = b->k >= n;
    if (alla != allb) return alla;
    if (!alla && a->k != b->k) return a->k > b->k;
  }
  if (ta->vcpus != tb->vcpus) return ta->vcpus < tb->vcpus;
  if (ta->mem_mib != tb->mem_mib) return ta->mem_mib < tb->mem_mib;
  return strcmp(ta->name, tb->name) < 0;
}

static int usable(const struct pce *c, const struct catalog_type *t) {
  /* SPOT: a pool whose price is above the bid ceiling gets no request */
  return !c->spot || t->spot_price <= t->od_price * c->bid_pct / 100.0 + 1e-12;
}

/* The type a new instance for `n` jobs of shape s gets, or -1 (none fits, or BEST_FIT's single
 * type is unobtainable: it waits rather than switching). */
static int choose_type(const struct prov *p, const struct pce *c, const struct pshape *s, int n) {
  int best_rank = 1 << 30, have = 0;
  struct cand best = {0};
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < c->ntypes; i++) {
      const struct catalog_type *t = &p->cat->types[c->types[i]];
      if (!usable(c, t) || !catalog_type_fits(p->cat, t, s->v, s->m, s->g)) continue;
      int unobtainable = c->unobt_until[c->types[i]] > p->now;
      if (unobtainable && c->strategy != PROV_BEST_FIT) continue;
      if (pass == 0) {
        if (t->interrupt_rank < best_rank) best_rank = t->interrupt_rank;
        continue;
      }
      struct cand x = {(int)i, c->types[i], per_instance(p, t, s), price_of(c, t), 0, t->interrupt_rank, c->groups[i]};
      x.slot = x.price / (x.k < n ? x.k : n);
      int cmp = have ? strategy_cmp(c, &x, &best, best_rank) : -1;
      if (cmp < 0 || (cmp == 0 && size_better(p, c, &x, &best, n))) best = x, have = 1;
    }
  }
  if (!have || c->unobt_until[best.type] > p->now) return -1;
  return best.type;
}

static int any_type_fits(const struct prov *p, const struct pce *c, const struct pshape *s) {
  for (size_t i = 0; i < c->ntypes; i++)
    if (usable(c, &p->cat->types[c->types[i]]) &&
        catalog_type_fits(p->cat, &p->cat->types[c->types[i]], s->v, s->m, s->g))
      return 1;
  return 0;
}

/* A SPOT CE whose bidPercentage is below the Spot price of every allowed type that would hold
 * a waiting job: no request is ever made for it (usable()), so no driver answers
 * SpotMaxPriceTooLow, and the catalogue's prices do not move. Without a word the jobs would wait
 * for ever in silence; this says it once (until the CE changes) as a LAUNCH_FAILED of the
 * cheapest such type, which `barge explain` and `barge instances` show
 * (docs/provisioner.md, "Scale-up"). */
static void tell_bid_too_low(const struct prov *p, struct pce *c, const struct pshape *s, int n,
                             struct prov_outbox *out) {
  if (!c->spot || c->bid_told) return;
  const struct catalog_type *best = NULL;
  for (size_t i = 0; i < c->ntypes; i++) {
    const struct catalog_type *t = &p->cat->types[c->types[i]];
    if (!catalog_type_fits(p->cat, t, s->v, s->m, s->g) || t->od_price <= 0) continue;
    if (!best || t->spot_price / t->od_price < best->spot_price / best->od_price) best = t;
  }
  if (!best) return; /* no type holds it at any price: the scheduler's MISCONFIGURATION */
  c->bid_told = 1;
  int pct = (int)(100.0 * best->spot_price / best->od_price + 0.999);
  char why[640];
  snprintf(why, sizeof why,
           "%d x %s not requested: SpotMaxPriceTooLow: bidPercentage %d is below the Spot price of "
           "every allowed instance type that holds a waiting job (%d vCPUs, %d MiB); the lowest is %s "
           "at %.4f, %d%% of its on-demand %.4f. The jobs wait: create the compute environment again "
           "with bidPercentage %d or more, or allow other instance types",
           n, best->name, c->bid_pct, s->v, s->m, best->name, best->spot_price, pct, best->od_price, pct);
  struct prov_out *e = push(out, PROV_OUT_INSTANCE, c, p->now);
  e->ev = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:s, s:s, s:I}", "instanceId", "",
                    "computeEnvironment", c->name, "kind", "LAUNCH_FAILED", "instanceType", best->name,
                    "vcpus", best->vcpus, "memoryMib", catalog_sched_mem(p->cat, best), "gpus", best->gpus,
                    "lifecycle", "SPOT", "driver", "", "reason", why, "at", (json_int_t)p->now);
}

/* ---------------- scale-up ---------------- */

struct bin {
  int cv, cm, cg; /* capacity */
  int fv, fm, fg; /* free */
};

struct plan {
  struct bin *bins;
  size_t nbins, capbins;
  int *launch_count; /* per catalogue type, new instances */
  int nlaunch;
  int new_v;
};

static void add_bin(struct plan *pl, int v, int m, int g) {
  if (pl->nbins == pl->capbins) {
    pl->capbins = pl->capbins ? pl->capbins * 2 : 64;
    pl->bins = xrealloc(pl->bins, pl->capbins * sizeof *pl->bins);
  }
  pl->bins[pl->nbins++] = (struct bin){v, m, g, v, m, g};
}

static int bin_take(const struct bin *b, const struct pshape *s) {
  int k = s->v > 0 ? b->fv / s->v : INT32_MAX;
  if (s->m > 0 && b->fm / s->m < k) k = b->fm / s->m;
  if (s->g > 0 && b->fg / s->g < k) k = b->fg / s->g;
  if (k == INT32_MAX) k = 1 << 20;
  if (s->one_each && k > 1) k = 1;
  return k;
}

static double leftover(const struct bin *b, const struct pshape *s) {
  double sc = 0;
  if (b->cv > 0) sc += (double)(b->fv - s->v) / b->cv;
  if (b->cm > 0) sc += (double)(b->fm - s->m) / b->cm;
  if (b->cg > 0) sc += (double)(b->fg - s->g) / b->cg;
  return sc;
}

static void place(struct bin *b, const struct pshape *s, int k) {
  b->fv -= k * s->v;
  b->fm -= k * s->m;
  b->fg -= k * s->g;
}

struct scored {
  double score;
  size_t idx;
};

static int scored_cmp(const void *a, const void *b) {
  const struct scored *x = a, *y = b;
  if (x->score != y->score) return x->score < y->score ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Best fit of `n` jobs of shape s onto the bins (lowest leftover score, ties to the earlier
 * bin); returns how many were placed. Once a bin is the best for one job it stays the best for
 * the next one of the same shape, so it is filled in one step, and filling it changes no other
 * bin's score: visiting the bins once, in score order, is the same as picking the best bin job
 * by job. */
static int pack_existing(struct plan *pl, const struct pshape *s, int n) {
  if (n <= 0 || !pl->nbins) return 0;
  struct scored *order = xmalloc(pl->nbins * sizeof *order);
  size_t m = 0;
  for (size_t i = 0; i < pl->nbins; i++) {
    struct bin *b = &pl->bins[i];
    if (b->fv < s->v || b->fm < s->m || b->fg < s->g) continue;
    order[m++] = (struct scored){leftover(b, s), i};
  }
  qsort(order, m, sizeof *order, scored_cmp);
  int placed = 0;
  for (size_t j = 0; j < m && n > 0; j++) {
    struct bin *b = &pl->bins[order[j].idx];
    int k = bin_take(b, s);
    if (k > n) k = n;
    place(b, s, k);
    placed += k;
    n -= k;
  }
  free(order);
  return placed;
}

static int may_cross_max(const struct pce *c) { return !(c->strategy == PROV_BEST_FIT && !c->spot); }

static void describe_launches(const struct prov *p, const struct plan *pl, char *out, size_t n) {
  size_t off = 0;
  out[0] = 0;
  for (size_t t = 0; t < p->cat->n; t++) {
    if (!pl->launch_count[t]) continue;
    int w = snprintf(out + off, n - off, "%s%d x %s", off ? ", " : "", pl->launch_count[t], p->cat->types[t].name);
    if (w < 0 || (size_t)w >= n - off) break;
    off += (size_t)w;
  }
}

static void evaluate(struct prov *p, struct pce *c, struct prov_outbox *out) {
  if (!c->managed || c->deleted) return;
  struct plan pl = {0};
  pl.launch_count = xcalloc(p->cat->n ? p->cat->n : 1, sizeof *pl.launch_count);
  int live_v = 0;
  /* 1. capacity that absorbs demand */
  for (size_t k = 0; k < c->nreqs; k++) {
    const struct catalog_type *t = ctype(p, c->reqs[k].type);
    live_v += t->vcpus * c->reqs[k].count;
    for (int j = 0; j < c->reqs[k].count; j++) add_bin(&pl, t->vcpus, catalog_sched_mem(p->cat, t), t->gpus);
  }
  for (size_t k = 0; k < c->ninst; k++) {
    if (c->insts[k] == NO_SLOT) continue;
    struct pinst *in = p->insts[c->insts[k]];
    if (!is_live(in)) continue;
    live_v += in->v;
    /* a READY instance the scheduler does not report busy takes the jobs that fit it: either
     * the scheduler has not seen it yet, or those jobs would have been placed on it (the grace
     * bounds the rare exceptions, e.g. a reservation holding it for another job) */
    if (in->state == PI_LAUNCHING ||
        (in->state == PI_READY && !in->busy && p->now - in->ready_at < p->conf.ready_grace_ms))
      add_bin(&pl, in->v, in->m, in->g);
  }
  int can_grow = c->enabled && c->valid;
  int jobs = 0, job_v = 0, job_m = 0, unmet_v = 0, unfit = 0, waiting = 0, capped = 0;
  for (size_t si = 0; si < c->nshapes && can_grow; si++) {
    struct pshape *s = &c->shapes[si];
    int n = s->count;
    if (n <= 0) continue;
    if (!any_type_fits(p, c, s)) {
      tell_bid_too_low(p, c, s, n, out);
      unfit += n;
      continue;
    }
    n -= pack_existing(&pl, s, n);
    while (n > 0) {
      /* size new instances for what maxvCpus leaves room for */
      int room = c->maxv - live_v - pl.new_v, n_eff = n;
      if (room > 0 && s->v > 0 && (room + s->v - 1) / s->v < n_eff) n_eff = (room + s->v - 1) / s->v;
      int t = choose_type(p, c, s, n_eff);
      if (t < 0) {
        waiting += n;
        break;
      }
      const struct catalog_type *ct = &p->cat->types[t];
      if (live_v + pl.new_v >= c->maxv || (live_v + pl.new_v + ct->vcpus > c->maxv && !may_cross_max(c)) ||
          pl.nlaunch >= p->conf.max_launch) {
        capped = 1;
        unmet_v += n * s->v;
        break;
      }
      add_bin(&pl, ct->vcpus, catalog_sched_mem(p->cat, ct), ct->gpus);
      pl.launch_count[t]++;
      pl.nlaunch++;
      pl.new_v += ct->vcpus;
      int k = bin_take(&pl.bins[pl.nbins - 1], s);
      if (k > n) k = n;
      place(&pl.bins[pl.nbins - 1], s, k);
      n -= k;
    }
  }
  for (size_t si = 0; si < c->nshapes; si++) {
    jobs += c->shapes[si].count;
    job_v += c->shapes[si].count * c->shapes[si].v;
    job_m += c->shapes[si].count * c->shapes[si].m;
  }
  int demand_launches = pl.nlaunch;
  /* 4. the floor */
  int floor_launches = 0;
  int floor_v = c->minv > c->asked_desired ? c->minv : c->asked_desired, asked = c->asked_desired > c->minv;
  if (floor_v > c->maxv) floor_v = c->maxv;
  c->asked_desired = 0; /* once */
  while (can_grow && live_v + pl.new_v < floor_v && pl.nlaunch < p->conf.max_launch) {
    int need = floor_v - live_v - pl.new_v;
    struct pshape one = {1, 0, 0, need, 0};
    int t = choose_type(p, c, &one, need);
    if (t < 0) break;
    const struct catalog_type *ct = &p->cat->types[t];
    if (live_v + pl.new_v + ct->vcpus > c->maxv && !may_cross_max(c)) break; /* BEST_FIT, EC2: never above */
    pl.launch_count[t]++;
    pl.nlaunch++;
    pl.new_v += ct->vcpus;
    floor_launches++;
  }
  int from = c->desired < 0 ? 0 : c->desired;
  int to = live_v + pl.new_v;
  if (to < floor_v) to = floor_v;
  if (to > c->maxv) to = c->maxv;
  const char *reason = NULL;
  char launches[1024], detail[2048];
  describe_launches(p, &pl, launches, sizeof launches);
  const char *lc = c->spot ? "SPOT" : "ON_DEMAND";
  if (capped && (pl.nlaunch || unmet_v != c->last_unmet)) {
    reason = "MAX_VCPUS_LIMIT";
    snprintf(detail, sizeof detail,
             "%d RUNNABLE job(s) need %d vCPUs and %d MiB beyond placed capacity; %d vCPUs of it stay unmet: "
             "maxvCpus %d reached with %d vCPUs live or launching%s%s",
             jobs, job_v, job_m, unmet_v, c->maxv, live_v + pl.new_v, pl.nlaunch ? "; launching " : "",
             pl.nlaunch ? launches : "");
    c->last_unmet = unmet_v;
  } else if (demand_launches) {
    reason = "RUNNABLE_DEMAND";
    snprintf(detail, sizeof detail,
             "%d RUNNABLE job(s) (%d vCPUs, %d MiB) do not fit the %d vCPUs live or launching: launching %s "
             "(%s, %s over %zu allowed type(s))%s",
             jobs, job_v, job_m, live_v, launches, lc, strategy_names[c->strategy], c->ntypes,
             floor_launches ? ", including the minvCpus floor" : "");
  } else if (floor_launches) {
    reason = "MIN_VCPUS";
    snprintf(detail, sizeof detail, "%d vCPUs live or launching is below %s %d: launching %s (%s, %s)",
             live_v, asked ? "the desiredvCpus an update set," : "minvCpus", floor_v, launches, lc,
             strategy_names[c->strategy]);
  }
  if (!capped) c->last_unmet = 0;
  /* jobs no allowed type holds (unfit) carry the scheduler's MISCONFIGURATION code: no
   * decision. Jobs waiting for an unobtainable type (BEST_FIT waits rather than switching, spec
   * 4.3) are looked at again when the first type becomes obtainable. */
  (void)unfit;
  if (waiting) {
    int64_t retry = 0;
    for (size_t i = 0; i < c->ntypes; i++) {
      int64_t u = c->unobt_until[c->types[i]];
      if (u > p->now && (!retry || u < retry)) retry = u;
    }
    if (retry && (!c->eval_at || retry < c->eval_at)) c->eval_at = retry;
  }
  if (reason) {
    json_t *arr = json_array();
    for (size_t t = 0; t < p->cat->n; t++)
      if (pl.launch_count[t])
        json_array_append_new(arr, json_pack("{s:s, s:i, s:s}", "instanceType", p->cat->types[t].name,
                                             "count", pl.launch_count[t], "lifecycle", lc));
    struct prov_out *d = push(out, PROV_OUT_DECISION, c, p->now);
    d->ev = json_pack("{s:s, s:s, s:i, s:i, s:o, s:[], s:s, s:s, s:I}", "computeEnvironment", c->name,
                      "computeEnvironmentArn", c->arn, "fromDesiredvCpus", from, "toDesiredvCpus", to,
                      "launches", arr, "terminations", "reason", reason, "detail", detail, "at",
                      (json_int_t)p->now);
    c->desired = to;
    for (size_t t = 0; t < p->cat->n; t++) {
      if (!pl.launch_count[t]) continue;
      struct prov_out *e = push(out, PROV_OUT_LAUNCH, c, p->now);
      e->req = ++p->req_seq;
      e->type = (int)t;
      e->count = pl.launch_count[t];
      e->spot = c->spot;
      e->max_price = c->spot ? p->cat->types[t].od_price * c->bid_pct / 100.0 : 0;
      if (c->nreqs == c->capreqs) {
        c->capreqs = c->capreqs ? c->capreqs * 2 : 8;
        c->reqs = xrealloc(c->reqs, c->capreqs * sizeof *c->reqs);
      }
      c->reqs[c->nreqs++] = (struct preq){e->req, (int)t, e->count, c->spot};
    }
  }
  free(pl.bins);
  free(pl.launch_count);
}

/* ---------------- scale-down ---------------- */

static int idle_cmp(const void *a, const void *b, void *ctx) {
  const struct prov *p = ctx;
  const struct pinst *x = p->insts[*(const uint32_t *)a], *y = p->insts[*(const uint32_t *)b];
  if (x->idle_since != y->idle_since) return x->idle_since < y->idle_since ? -1 : 1;
  return strcmp(x->id, y->id);
}

/* Do RUNNABLE jobs the scheduler reports for this CE fit the instance? Then it is not idle for
 * want of work (the scheduler may just not have placed them yet) and is not drained. */
static int wanted(const struct pce *c, const struct pinst *in) {
  for (size_t i = 0; i < c->nshapes; i++) {
    const struct pshape *s = &c->shapes[i];
    if (s->count > 0 && s->v <= in->v && s->m <= in->m && s->g <= in->g) return 1;
  }
  return 0;
}

static void scale_down(struct prov *p, struct pce *c, struct prov_outbox *out) {
  if (!c->managed) return;
  int disabled = !c->enabled || c->deleted;
  int64_t delay = c->delay_ms >= 0 ? c->delay_ms : p->conf.idle_delay_ms;
  int live_v = 0;
  for (size_t k = 0; k < c->nreqs; k++) live_v += ctype(p, c->reqs[k].type)->vcpus * c->reqs[k].count;
  uint32_t *cand = NULL;
  size_t ncand = 0;
  json_t *timed_out = NULL;
  for (size_t k = 0; k < c->ninst; k++) {
    if (c->insts[k] == NO_SLOT) continue;
    struct pinst *in = p->insts[c->insts[k]];
    if (in->state == PI_TERMINATING && p->now - in->state_at >= p->conf.terminate_retry_ms) {
      emit_terminate(p, in, "terminate asked again: no TERMINATED seen", out);
      continue;
    }
    if (in->state == PI_LAUNCHING && p->now - in->launched_at >= p->conf.launch_timeout_ms) {
      if (!timed_out) timed_out = json_array();
      json_array_append_new(timed_out, json_string(in->id));
      char why[128];
      snprintf(why, sizeof why, "not READY within %lld s of launch", (long long)(p->conf.launch_timeout_ms / 1000));
      emit_terminate(p, in, why, out);
      continue;
    }
    if (!is_live(in)) continue;
    live_v += in->v;
    if (in->state == PI_READY && !in->busy && (disabled || (p->now - in->idle_since >= delay && !wanted(c, in)))) {
      if (!cand) cand = xcalloc(c->ninst, sizeof *cand);
      cand[ncand++] = c->insts[k];
    }
  }
  int from = c->desired < 0 ? live_v : c->desired;
  if (timed_out) {
    char detail[512];
    snprintf(detail, sizeof detail, "%zu launched instance(s) never registered (no READY within %lld s): terminating",
             json_array_size(timed_out), (long long)(p->conf.launch_timeout_ms / 1000));
    int to = live_v < c->minv ? c->minv : live_v;
    if (to > c->maxv) to = c->maxv;
    struct prov_out *d = push(out, PROV_OUT_DECISION, c, p->now);
    d->ev = json_pack("{s:s, s:s, s:i, s:i, s:[], s:o, s:s, s:s, s:I}", "computeEnvironment", c->name,
                      "computeEnvironmentArn", c->arn, "fromDesiredvCpus", from, "toDesiredvCpus", to,
                      "launches", "terminations", timed_out, "reason", "IDLE_SCALE_DOWN", "detail", detail,
                      "at", (json_int_t)p->now);
    c->desired = to;
    from = to;
    mark_dirty(p, c);
  }
  if (!ncand) {
    free(cand);
    return;
  }
  qsort_r(cand, ncand, sizeof *cand, idle_cmp, p);
  json_t *terms = json_array();
  int min_idle_s = -1;
  for (size_t k = 0; k < ncand; k++) {
    struct pinst *in = p->insts[cand[k]];
    if (live_v - in->v < c->minv) continue; /* the floor stays, overshot by whole instances */
    live_v -= in->v;
    json_array_append_new(terms, json_string(in->id));
    int idle_s = (int)((p->now - in->idle_since) / 1000);
    if (min_idle_s < 0 || idle_s < min_idle_s) min_idle_s = idle_s;
    emit_drain(p, in, disabled ? "compute environment disabled" : "idle", out);
  }
  free(cand);
  if (!json_array_size(terms)) {
    json_decref(terms);
    return;
  }
  int to = live_v < c->minv ? c->minv : live_v;
  if (to > c->maxv) to = c->maxv;
  char detail[512];
  if (disabled)
    snprintf(detail, sizeof detail,
             "compute environment is %s: draining %zu idle instance(s) down to minvCpus %d",
             c->deleted ? "deleted" : "DISABLED", json_array_size(terms), c->minv);
  else
    snprintf(detail, sizeof detail,
             "%zu instance(s) idle for at least %d s (delay %lld s): draining, then terminating; minvCpus %d kept",
             json_array_size(terms), min_idle_s, (long long)(delay / 1000), c->minv);
  struct prov_out *d = push(out, PROV_OUT_DECISION, c, p->now);
  d->ev = json_pack("{s:s, s:s, s:i, s:i, s:[], s:o, s:s, s:s, s:I}", "computeEnvironment", c->name,
                    "computeEnvironmentArn", c->arn, "fromDesiredvCpus", from, "toDesiredvCpus", to,
                    "launches", "terminations", terms, "reason", disabled ? "CE_DISABLED" : "IDLE_SCALE_DOWN",
                    "detail", detail, "at", (json_int_t)p->now);
  c->desired = to;
}

/* Runs every scale-up evaluation whose window has passed. */
static void run_due(struct prov *p, struct prov_outbox *out) {
  for (size_t i = 0; i < p->nces; i++) {
    struct pce *c = p->ces[i];
    if (c->eval_at && p->now >= c->eval_at) {
      c->eval_at = 0;
      evaluate(p, c, out);
    }
  }
}

void prov_tick(struct prov *p, int64_t at_ms, struct prov_outbox *out) {
  advance(p, at_ms);
  run_due(p, out);
  for (size_t i = 0; i < p->nces; i++) scale_down(p, p->ces[i], out);
}

/* ---------------- demand ---------------- */

static int apply_demand(struct prov *p, const json_t *ev, char *err, size_t errlen) {
  const char *name = jget_str(ev, "computeEnvironment");
  if (!name) {
    snprintf(err, errlen, "CapacityDemand without computeEnvironment");
    return -1;
  }
  json_t *shapes = json_object_get(ev, "shapes");
  size_t i;
  json_t *s;
  json_array_foreach(shapes, i, s) {
    if (jget_int(s, "vcpus", -1) < 0 || jget_int(s, "memoryMib", -1) < 0 || jget_int(s, "gpus", 0) < 0 || jget_int(s, "count", -1) < 0) {
      snprintf(err, errlen, "CapacityDemand for %s: shape %zu has a negative or missing member", name, i);
      return -1;
    }
  }
  advance(p, event_at(ev));
  uint32_t ci = find_ce(p, name);
  if (ci == UINT32_MAX) return 0; /* a CE this provisioner does not know (yet) */
  struct pce *c = p->ces[ci];
  int64_t at = (int64_t)json_integer_value(json_object_get(ev, "at"));
  if (at < c->demand_at) return 0; /* older than what we have */
  c->demand_at = at;
  c->nshapes = 0;
  c->shapes = xrealloc(c->shapes, (json_array_size(shapes) + 1) * sizeof *c->shapes);
  json_array_foreach(shapes, i, s) {
    c->shapes[c->nshapes++] = (struct pshape){jget_int(s, "vcpus", 0), jget_int(s, "memoryMib", 0), jget_int(s, "gpus", 0),
                                              jget_int(s, "count", 0), json_is_true(json_object_get(s, "perInstance"))};
  }
  /* busy set: instances with STARTING or RUNNING jobs; one leaving it is idle from then */
  uint32_t gen = ++p->busy_gen;
  json_t *busy = json_object_get(ev, "busyInstances");
  json_array_foreach(busy, i, s) {
    struct pinst *in = find_inst(p, json_string_value(s));
    if (in) in->busy_gen = gen;
  }
  for (size_t k = 0; k < c->ninst; k++) {
    if (c->insts[k] == NO_SLOT) continue;
    struct pinst *in = p->insts[c->insts[k]];
    int now_busy = in->busy_gen == gen;
    if (in->busy && !now_busy) in->idle_since = at > in->ready_at ? at : in->ready_at;
    in->busy = (uint8_t)now_busy;
  }
  mark_dirty(p, c);
  return 0;
}

int prov_handle_demand(struct prov *p, const json_t *ev, struct prov_outbox *out, char *err,
                       size_t errlen) {
  if (apply_demand(p, ev, err, errlen)) return -1;
  run_due(p, out);
  return 0;
}

void prov_restore_demand(struct prov *p, const json_t *ev) {
  char err[256];
  if (apply_demand(p, ev, err, sizeof err)) log_warn("restore: %s", err);
}

/* ---------------- launch results ---------------- */

void prov_launch_result(struct prov *p, int64_t req, const char *driver, const char *const *ids,
                        size_t n, const char *fail_reason, int64_t at_ms, struct prov_outbox *out) {
  advance(p, at_ms);
  for (size_t ci = 0; ci < p->nces; ci++) {
    struct pce *c = p->ces[ci];
    for (size_t k = 0; k < c->nreqs; k++) {
      if (c->reqs[k].req != req) continue;
      struct preq r = c->reqs[k];
      memmove(&c->reqs[k], &c->reqs[k + 1], (c->nreqs - k - 1) * sizeof *c->reqs);
      c->nreqs--;
      const struct catalog_type *t = ctype(p, r.type);
      size_t ok = 0;
      for (size_t j = 0; j < n && (int)ok < r.count; j++) {
        if (!ids[j] || !*ids[j] || find_inst(p, ids[j])) continue;
        struct pinst *in = add_inst(p, c, (uint32_t)ci, ids[j]);
        snprintf(in->type_name, sizeof in->type_name, "%s", t->name);
        snprintf(in->driver, sizeof in->driver, "%s", driver ? driver : "");
        in->type = r.type;
        in->v = t->vcpus;
        in->m = catalog_sched_mem(p->cat, t);
        in->g = t->gpus;
        in->spot = r.spot;
        in->price = r.spot ? t->spot_price : t->od_price;
        in->launched_at = p->now;
        set_state(p, in, PI_LAUNCHING);
        struct prov_out *e = push(out, PROV_OUT_INSTANCE, c, p->now);
        e->ev = instance_event(p, in, "LAUNCHING", NULL, p->now);
        snprintf(e->instance, sizeof e->instance, "%s", in->id);
        ok++;
      }
      if ((int)ok < r.count) {
        /* the rest failed: skip the type for a while (BEST_FIT waits for it) */
        c->unobt_until[r.type] = p->now + p->conf.unobtainable_ms;
        char why[512];
        snprintf(why, sizeof why, "%d of %d x %s not launched: %s", r.count - (int)ok, r.count, t->name,
                 fail_reason && *fail_reason ? fail_reason : "unknown error");
        struct prov_out *e = push(out, PROV_OUT_INSTANCE, c, p->now);
        e->ev = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:s, s:s, s:I}", "instanceId", "",
                          "computeEnvironment", c->name, "kind", "LAUNCH_FAILED", "instanceType", t->name,
                          "vcpus", t->vcpus, "memoryMib", catalog_sched_mem(p->cat, t), "gpus", t->gpus,
                          "lifecycle", r.spot ? "SPOT" : "ON_DEMAND", "driver", driver ? driver : "",
                          "reason", why, "at", (json_int_t)p->now);
        /* desired follows what is really coming */
        int live_v = prov_ce_live_vcpus(p, c->name);
        c->desired = live_v < c->minv ? c->minv : live_v > c->maxv ? c->maxv : live_v;
        mark_dirty(p, c);
      }
      run_due(p, out);
      return;
    }
  }
}

/* ---------------- instances ---------------- */

static struct pce *managed_ce(struct prov *p, const char *name, uint32_t *ci) {
  *ci = find_ce(p, name);
  if (*ci == UINT32_MAX) return NULL;
  struct pce *c = p->ces[*ci];
  return c->managed ? c : NULL;
}

int prov_handle_instance(struct prov *p, const json_t *ev, struct prov_outbox *out, char *err,
                         size_t errlen) {
  const char *id = jget_str(ev, "instanceId"), *kind = jget_str(ev, "kind"), *cename = jget_str(ev, "computeEnvironment");
  if (!id || !kind || !cename) {
    snprintf(err, errlen, "InstanceEvent without instanceId, kind or computeEnvironment");
    return -1;
  }
  int64_t at = event_at(ev);
  advance(p, at);
  struct pinst *in = find_inst(p, id);
  uint32_t ci = in ? in->ce : UINT32_MAX;
  struct pce *c = in ? p->ces[in->ce] : managed_ce(p, cename, &ci);
  if (!c) return 0; /* unknown or unmanaged CE: never scaled */
  int64_t inc = jget_int(ev, "incarnation", 0);
  if (stale_word(in, kind, inc)) {
    /* ignored: an old process's TERMINATED read after its successor's READY removed the
     * instance, and the floor or demand it took launched another beside it, never drained */
  } else if (!strcmp(kind, "LAUNCHING")) {
    if (!in) {
      in = add_inst(p, c, ci, id);
      take_fields(p, in, ev);
      in->launched_at = at;
      set_state(p, in, PI_LAUNCHING);
      mark_dirty(p, c);
    }
  } else if (!strcmp(kind, "READY") || !strcmp(kind, "HEARTBEAT")) {
    if (!in && !strcmp(kind, "HEARTBEAT")) return 0; /* only a registration adopts an instance */
    if (!in) {
      in = add_inst(p, c, ci, id);
      in->launched_at = at;
      set_state(p, in, PI_LAUNCHING);
    }
    if (in->state == PI_LAUNCHING) {
      take_fields(p, in, ev);
      set_state(p, in, PI_READY);
      in->ready_at = at;
      in->idle_since = at;
      in->busy = 0;
      mark_dirty(p, c);
    }
    see_incarnation(in, inc);
  } else if (!strcmp(kind, "INTERRUPTION_NOTICE")) {
    if (in && (in->state == PI_READY || in->state == PI_LAUNCHING) && !in->interrupted) {
      in->interrupted = 1;
      if (in->state == PI_READY) emit_drain(p, in, "spot interruption notice", out);
      mark_dirty(p, c);
    }
  } else if (!strcmp(kind, "DRAIN_REQUESTED")) {
    if (in && in->state == PI_READY) set_state(p, in, PI_DRAINING); /* someone else asked */
  } else if (!strcmp(kind, "DRAINED")) {
    if (in && in->state == PI_DRAINING) emit_terminate(p, in, in->interrupted ? "drained after a spot interruption notice" : "drained: idle", out);
  } else if (instance_kind_ended(kind)) {
    if (in && !strcmp(kind, "LOST")) {
      /* the scheduler gave up on it: make sure the driver does too. It stays (TERMINATING, asked
       * again after terminate_retry_ms) until the driver says it did (prov_terminate_done): a
       * terminate that failed (EC2 unreachable, as the agent was) must not leave it running */
      if (in->state != PI_TERMINATING) emit_terminate(p, in, "lost: missed heartbeats", out);
      in->lost = 1;
      mark_dirty(p, c);
    } else if (in) {
      remove_inst(p, in);
      mark_dirty(p, c);
    }
  }
  /* LAUNCH_FAILED is known from the launch result */
  run_due(p, out);
  return 0;
}

void prov_terminate_done(struct prov *p, const char *id) {
  struct pinst *in = find_inst(p, id);
  if (in && in->lost && in->state == PI_TERMINATING) remove_inst(p, in);
}

/* ---------------- restore ---------------- */

void prov_restore_instance(struct prov *p, const json_t *ev) {
  const char *id = jget_str(ev, "instanceId"), *kind = jget_str(ev, "kind"), *cename = jget_str(ev, "computeEnvironment");
  if (!id || !*id || !kind || !cename) return;
  int64_t at = event_at(ev);
  advance(p, at);
  struct pinst *in = find_inst(p, id);
  uint32_t ci = in ? in->ce : UINT32_MAX;
  struct pce *c = in ? p->ces[in->ce] : managed_ce(p, cename, &ci);
  if (!c) return;
  int64_t inc = jget_int(ev, "incarnation", 0);
  if (stale_word(in, kind, inc)) return; /* as in prov_handle_instance */
  if (instance_kind_gone(kind)) {
    if (in) remove_inst(p, in);
    return;
  }
  if (!in) {
    in = add_inst(p, c, ci, id);
    in->launched_at = at;
    set_state(p, in, PI_LAUNCHING);
  }
  take_fields(p, in, ev);
  if (!strcmp(kind, "LAUNCHING")) return;
  if (!strcmp(kind, "READY") || !strcmp(kind, "HEARTBEAT") || !strcmp(kind, "INTERRUPTION_NOTICE")) {
    if (in->state == PI_LAUNCHING) {
      set_state(p, in, PI_READY);
      in->ready_at = in->idle_since = at;
    }
    if (!strcmp(kind, "INTERRUPTION_NOTICE")) in->interrupted = 1;
    else see_incarnation(in, inc);
  } else if (!strcmp(kind, "DRAIN_REQUESTED")) {
    set_state(p, in, PI_DRAINING);
  } else if (!strcmp(kind, "DRAINED")) {
    set_state(p, in, PI_DRAINING);
    in->drained = 1;
  }
}

void prov_restore_done(struct prov *p, struct prov_outbox *out) {
  for (size_t i = 0; i < p->ninsts; i++) {
    struct pinst *in = p->insts[i];
    if (!in) continue;
    if (in->state == PI_DRAINING && in->drained) emit_terminate(p, in, "drained: idle", out);
    else if (in->state == PI_READY && in->interrupted) emit_drain(p, in, "spot interruption notice", out);
  }
  for (size_t i = 0; i < p->nces; i++) {
    struct pce *c = p->ces[i];
    if (c->managed && c->desired < 0) c->desired = c->minv;
    if (c->managed) {
      int live = prov_ce_live_vcpus(p, c->name);
      c->desired = live < c->minv ? c->minv : live > c->maxv ? c->maxv : live;
    }
  }
}

/* ---------------- views ---------------- */

int64_t prov_now(const struct prov *p) { return p->now; }

void prov_each_instance(const struct prov *p,
                        void (*fn)(void *ctx, const char *id, const char *ce, const char *driver,
                                   const char *state, int type, int spot),
                        void *ctx) {
  for (size_t i = 0; i < p->ninsts; i++) {
    const struct pinst *in = p->insts[i];
    if (in) fn(ctx, in->id, p->ces[in->ce]->name, in->driver[0] ? in->driver : p->ces[in->ce]->driver,
               state_names[in->state], in->type, in->spot);
  }
}

int prov_ce_desired(const struct prov *p, const char *ce) {
  uint32_t ci = find_ce(p, ce);
  return ci == UINT32_MAX ? -1 : p->ces[ci]->desired;
}

int prov_ce_live_vcpus(const struct prov *p, const char *ce) {
  uint32_t ci = find_ce(p, ce);
  if (ci == UINT32_MAX) return -1;
  const struct pce *c = p->ces[ci];
  int v = 0;
  for (size_t k = 0; k < c->nreqs; k++) v += p->cat->types[c->reqs[k].type].vcpus * c->reqs[k].count;
  for (size_t k = 0; k < c->ninst; k++)
    if (c->insts[k] != NO_SLOT && is_live(p->insts[c->insts[k]])) v += p->insts[c->insts[k]]->v;
  return v;
}

int prov_ce_instances(const struct prov *p, const char *ce) {
  uint32_t ci = find_ce(p, ce);
  return ci == UINT32_MAX ? -1 : (int)(p->ces[ci]->ninst - p->ces[ci]->nleft);
}

const char *prov_instance_state(const struct prov *p, const char *id) {
  const struct pinst *in = find_inst(p, id);
  return in ? state_names[in->state] : NULL;
}
