/* replay_fleet.c: instance types for `barge replay simulate`, and Barge replay's own fleet model
 * (`--capacity-model replay`).
 *
 * The types: those the recording shows (with the boot delay it shows), then a small built-in
 * catalogue and ALT's instanceTypes. Both capacity models take boot delays from here.
 *
 * The fleet model was written before the provisioner core existed; the default capacity model
 * is now that core (replay_sim.c drives provisioner/prov.c). It stays, in a file of its own,
 * because `--capacity-model replay` is a documented option (docs/replay.md) that users compare
 * the provisioner's decisions against: a simpler, independent model of the same demand.
 * Removing it would change what `barge replay simulate` offers; keeping it beside the
 * provisioner core's driver would mix two models in one file. It shares nothing with
 * provisioner/prov.c but the idea: RUNNABLE demand that does not fit on launching instances
 * launches the CE's types up to maxvCpus, READY after the boot delay; idle instances end after
 * a scale-down delay above minvCpus; BEST_FIT takes the cheapest type that fits a job, the other
 * strategies the largest type the remaining demand fills. */
#include <stdlib.h>
#include <string.h>

#include "replay_int.h"
#include "util.h"

static const struct {
  const char *name;
  int v, m;
  double price;
} catalogue[] = {
    {"c5.large", 2, 4096, 0.085},     {"c5.xlarge", 4, 8192, 0.17},
    {"c5.2xlarge", 8, 16384, 0.34},   {"c5.4xlarge", 16, 32768, 0.68},
    {"c5.9xlarge", 36, 73728, 1.53},  {"m5.large", 2, 8192, 0.096},
    {"m5.xlarge", 4, 16384, 0.192},   {"m5.2xlarge", 8, 32768, 0.384},
    {"m5.4xlarge", 16, 65536, 0.768}, {"m5.12xlarge", 48, 196608, 2.304},
    {"r5.large", 2, 16384, 0.126},    {"r5.xlarge", 4, 32768, 0.252},
    {"r5.2xlarge", 8, 65536, 0.504},  {"r5.4xlarge", 16, 131072, 1.008},
};

struct shape {
  int v, m, g;
};
static int cmp_shape(const void *a, const void *b) {
  const struct shape *x = a, *y = b;
  if (x->v != y->v) return y->v - x->v;
  if (x->m != y->m) return y->m - x->m;
  return y->g - x->g;
}

static double type_price(const struct sim_ce *c, const struct itype *t) {
  return c->spot ? t->spot_price : t->price;
}

/* Chooses the type to launch for shapes[0] given the vCPUs left under maxvCpus. */
static const struct itype *choose_type(const struct sim_ce *c, const struct shape *sh, int demand_v,
                                       int room_v) {
  const struct itype *best = NULL;
  int progressive = strcmp(c->strategy, "BEST_FIT") != 0;
  for (size_t i = 0; i < c->ntypes; i++) {
    const struct itype *t = &c->types[i];
    if (t->v < sh->v || t->m < sh->m || t->v > room_v) continue;
    if (!best) {
      best = t;
      continue;
    }
    if (!progressive) {
      double a = type_price(c, t), b = type_price(c, best);
      if (a < b || (a == b && (t->v < best->v || (t->v == best->v && strcmp(t->name, best->name) < 0))))
        best = t;
    } else {
      /* the largest type the demand fills, cheapest per vCPU among equals */
      int tf = t->v <= demand_v, bf = best->v <= demand_v;
      if (tf != bf) {
        if (tf) best = t;
        continue;
      }
      if (tf ? t->v > best->v : t->v < best->v) {
        best = t;
      } else if (t->v == best->v) {
        double a = type_price(c, t), b = type_price(c, best);
        if (a < b || (a == b && strcmp(t->name, best->name) < 0)) best = t;
      }
    }
  }
  return best;
}

static int64_t boot_of(const struct sim_ce *c, const struct itype *t) {
  if (c->boot_ms >= 0) return c->boot_ms;
  return t->boot_ms;
}

void replay_fleet_scale(struct sim *s) {
  for (size_t ci = 0; ci < s->nces; ci++) {
    struct sim_ce *c = &s->ces[ci];
    if (!c->managed || !c->ntypes) continue;
    /* job shapes waiting for capacity, largest first */
    size_t n = 0, cap = 16;
    struct shape *sh = xmalloc(cap * sizeof *sh);
    size_t i;
    json_t *d;
    int demand_v = 0;
    json_array_foreach(c->demand, i, d) {
      int cnt = (int)jget_int(d, "count", 0);
      for (int k = 0; k < cnt && n < MAX_SHAPES; k++) {
        if (n == cap) sh = xrealloc(sh, (cap *= 2) * sizeof *sh);
        sh[n++] = (struct shape){(int)jget_int(d, "vcpus", 1), (int)jget_int(d, "memoryMib", 0), (int)jget_int(d, "gpus", 0)};
        demand_v += (int)jget_int(d, "vcpus", 1);
      }
    }
    qsort(sh, n, sizeof *sh, cmp_shape);
    char *placed = xcalloc(n + 1, 1);
    /* what launching instances will take when READY */
    for (size_t k = 0; k < s->ninsts; k++) {
      struct sim_inst *in = &s->insts[k];
      if (in->ce != (int)ci || in->state != SI_LAUNCHING) continue;
      int fv = in->v, fm = in->m;
      for (size_t x = 0; x < n; x++)
        if (!placed[x] && sh[x].v <= fv && sh[x].m <= fm) {
          placed[x] = 1;
          fv -= sh[x].v;
          fm -= sh[x].m;
          demand_v -= sh[x].v;
        }
    }
    int fv_total = replay_fleet_v(s, (int)ci);
    for (size_t x = 0; x < n; x++) {
      if (placed[x]) continue;
      int room = c->maxv - fv_total;
      const struct itype *t = choose_type(c, &sh[x], demand_v, room);
      if (!t) {
        int fits_any = 0;
        for (size_t k = 0; k < c->ntypes; k++)
          if (c->types[k].v >= sh[x].v && c->types[k].m >= sh[x].m) fits_any = 1;
        if (!fits_any) replay_note(s, "some jobs fit no instance type of their compute environment");
        continue;
      }
      char id[64];
      snprintf(id, sizeof id, "i-sim%02zu%06d", ci, ++c->launched);
      int ii = replay_add_inst(s, id, (int)ci, t->name, t->v, t->m, 0, type_price(c, t), c->spot, s->now);
      replay_push(s, s->now + boot_of(c, t), SEV_READY, ii, NULL);
      fv_total += t->v;
      int fv = t->v, fm = t->m;
      for (size_t y = x; y < n; y++)
        if (!placed[y] && sh[y].v <= fv && sh[y].m <= fm) {
          placed[y] = 1;
          fv -= sh[y].v;
          fm -= sh[y].m;
          demand_v -= sh[y].v;
        }
    }
    free(placed);
    free(sh);
    /* scale down: idle READY instances after the delay, keeping minvCpus */
    if (json_array_size(c->demand) == 0) {
      int64_t delay = c->scale_down_ms >= 0 ? c->scale_down_ms : SCALE_DOWN_MS;
      for (size_t k = 0; k < s->ninsts; k++) {
        struct sim_inst *in = &s->insts[k];
        if (in->ce != (int)ci || in->state != SI_READY || in->njobs > 0) continue;
        if (in->idle_since < 0) in->idle_since = s->now;
        if (s->now - in->idle_since < delay) continue;
        if (replay_fleet_v(s, (int)ci) - in->v < c->minv) continue;
        in->state = SI_GONE;
        in->ended_at = s->now;
        json_t *ev = replay_instance_event(s, in, "TERMINATED", s->now);
        replay_feed(s, BARGE_EV_INSTANCE_EVENT, ev);
        json_decref(ev);
      }
    }
  }
}

/* The recorded types (what the drivers really launched, e.g. "local"), then the catalogue and
 * ALT's instanceTypes. */
void replay_build_types(struct sim *s) {
  json_t *alt_types = json_object_get(s->in->alt, "instanceTypes");
  for (size_t i = 0; i < s->rec.ninsts; i++) {
    const struct rec_inst *n = &s->rec.insts[i];
    if (!n->type || n->v <= 0) continue;
    int found = 0;
    for (size_t k = 0; k < s->nlearned; k++)
      if (!strcmp(s->learned[k].name, n->type)) found = 1;
    if (found) continue;
    s->learned = xrealloc(s->learned, (s->nlearned + 1) * sizeof *s->learned);
    struct itype *t = &s->learned[s->nlearned++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", n->type);
    t->v = n->v;
    t->m = n->m;
    t->price = n->price;
    t->spot_price = n->price;
    t->learned = 1;
    /* the boot delay the recording shows for this type */
    struct i64v boots = {0};
    for (size_t k = 0; k < s->rec.ninsts; k++) {
      const struct rec_inst *x = &s->rec.insts[k];
      if (x->type && !strcmp(x->type, n->type) && x->launching >= 0 && x->ready >= x->launching)
        replay_i64_push(&boots, x->ready - x->launching);
    }
    t->boot_ms = replay_median(&boots, LEARNED_BOOT_MS);
    free(boots.v);
  }
  for (size_t i = 0; i < sizeof catalogue / sizeof *catalogue; i++) {
    int found = 0;
    for (size_t k = 0; k < s->nlearned; k++)
      if (!strcmp(s->learned[k].name, catalogue[i].name)) found = 1;
    if (found) continue;
    s->learned = xrealloc(s->learned, (s->nlearned + 1) * sizeof *s->learned);
    struct itype *t = &s->learned[s->nlearned++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", catalogue[i].name);
    t->v = catalogue[i].v;
    t->m = catalogue[i].m;
    t->price = catalogue[i].price;
    t->spot_price = catalogue[i].price * 0.3;
    t->boot_ms = CATALOGUE_BOOT_MS;
  }
  const char *k;
  json_t *v;
  json_object_foreach(alt_types, k, v) {
    struct itype *t = NULL;
    for (size_t x = 0; x < s->nlearned; x++)
      if (!strcmp(s->learned[x].name, k)) t = &s->learned[x];
    if (!t) {
      s->learned = xrealloc(s->learned, (s->nlearned + 1) * sizeof *s->learned);
      t = &s->learned[s->nlearned++];
      memset(t, 0, sizeof *t);
      snprintf(t->name, sizeof t->name, "%s", k);
      t->boot_ms = CATALOGUE_BOOT_MS;
    }
    t->v = (int)jget_int(v, "vcpus", t->v);
    t->m = (int)jget_int(v, "memoryMib", t->m);
    t->price = jget_num(v, "pricePerHour", t->price);
    t->spot_price = jget_num(v, "spotPricePerHour", t->price * 0.3);
    if (json_object_get(v, "bootDelaySeconds")) t->boot_ms = jget_int(v, "bootDelaySeconds", 0) * 1000;
  }
}

static void add_candidate(struct sim_ce *c, const struct itype *t) {
  for (size_t i = 0; i < c->ntypes; i++)
    if (!strcmp(c->types[i].name, t->name)) return;
  c->types = xrealloc(c->types, (c->ntypes + 1) * sizeof *c->types);
  c->types[c->ntypes++] = *t;
}

void replay_resolve_types(struct sim *s, struct sim_ce *c, const json_t *cr) {
  /* what the recording launched in this CE comes first */
  for (size_t i = 0; i < s->rec.ninsts; i++) {
    const struct rec_inst *n = &s->rec.insts[i];
    if (!n->ce || !n->type || (strcmp(n->ce, c->name) && strcmp(n->ce, c->arn))) continue;
    for (size_t k = 0; k < s->nlearned; k++)
      if (!strcmp(s->learned[k].name, n->type)) add_candidate(c, &s->learned[k]);
  }
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(cr, "instanceTypes"), i, t) {
    const char *name = json_string_value(t);
    if (!name) continue;
    for (size_t k = 0; k < s->nlearned; k++) {
      const char *ln = s->learned[k].name;
      size_t fl = strlen(name);
      int family = !strchr(name, '.') && !strncmp(ln, name, fl) && ln[fl] == '.';
      int optimal = !strcmp(name, "optimal") && !s->learned[k].learned &&
                    (!strncmp(ln, "c5.", 3) || !strncmp(ln, "m5.", 3) || !strncmp(ln, "r5.", 3));
      if (!strcmp(ln, name) || family || optimal) add_candidate(c, &s->learned[k]);
    }
  }
  if (!c->ntypes) {
    for (size_t k = 0; k < s->nlearned; k++)
      if (!strcmp(s->learned[k].name, "m5.large")) add_candidate(c, &s->learned[k]);
    replay_note(s, "a compute environment names no known instance type; m5.large was assumed");
  }
}

const struct itype *replay_learned_type(struct sim *s, const char *name) {
  for (size_t k = 0; k < s->nlearned; k++)
    if (!strcmp(s->learned[k].name, name)) return &s->learned[k];
  return NULL;
}

void replay_fleet_demand(struct sim *s, const struct out_ev *e) {
  json_t *d = sched_capacity(s->core, e, "replay-simulate");
  int ci = replay_ce_by_name(s, jget_str(d, "computeEnvironment"));
  if (ci >= 0) {
    json_decref(s->ces[ci].demand);
    s->ces[ci].demand = json_incref(json_object_get(d, "shapes"));
  }
  json_decref(d);
}
