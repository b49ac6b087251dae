/* ce_history.c: see ce_history.h. */
#include "ce_history.h"

#include <stdlib.h>
#include <string.h>

#include "jsonget.h"
#include "states.h"
#include "util.h"

struct point {
  int64_t at;
  int32_t v;
};

struct series {
  struct point *p;
  size_t n, cap;
};

struct ce {
  char *name;
  struct series desired, actual;
  int64_t live_vcpus; /* of its instances up now */
};

struct ce_history {
  struct ce *ces;
  size_t n, cap;
  json_t *up; /* instance id -> [CE name, vCPUs] while it is asked for, launching or ready */
};

struct ce_history *ce_history_new(void) {
  struct ce_history *h = xcalloc(1, sizeof *h);
  h->up = json_object();
  return h;
}

void ce_history_free(struct ce_history *h) {
  if (!h) return;
  for (size_t i = 0; i < h->n; i++) {
    free(h->ces[i].name);
    free(h->ces[i].desired.p);
    free(h->ces[i].actual.p);
  }
  free(h->ces);
  json_decref(h->up);
  free(h);
}

static struct ce *find(const struct ce_history *h, const char *name) {
  for (size_t i = 0; i < h->n; i++)
    if (!strcmp(h->ces[i].name, name)) return &h->ces[i];
  return NULL;
}

static struct ce *get(struct ce_history *h, const char *name) {
  struct ce *c = find(h, name);
  if (c) return c;
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 8;
    h->ces = xrealloc(h->ces, h->cap * sizeof *h->ces);
  }
  c = &h->ces[h->n++];
  memset(c, 0, sizeof *c);
  c->name = xstrdup(name);
  return c;
}

/* The value the series has at time at (the last point at or before it), or -1. */
static int32_t value_at(const struct series *s, int64_t at) {
  for (size_t i = s->n; i-- > 0;)
    if (s->p[i].at <= at) return s->p[i].v;
  return -1;
}

/* Adds (at, v) in time order unless the value there is already v; the oldest point goes when full. */
static void add(struct series *s, int64_t at, int32_t v) {
  if (value_at(s, at) == v) return;
  if (s->n == CE_HISTORY_POINTS) memmove(s->p, s->p + 1, --s->n * sizeof *s->p);
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 16;
    if (s->cap > CE_HISTORY_POINTS) s->cap = CE_HISTORY_POINTS;
    s->p = xrealloc(s->p, s->cap * sizeof *s->p);
  }
  size_t i = s->n;
  while (i > 0 && s->p[i - 1].at > at) i--; /* events of two topics may arrive out of time order */
  memmove(s->p + i + 1, s->p + i, (s->n - i) * sizeof *s->p);
  s->p[i] = (struct point){at, v};
  s->n++;
}

void ce_history_fold_scaling(struct ce_history *h, const json_t *ev) {
  const char *ce = jget_str(ev, "computeEnvironment");
  json_t *to = json_object_get(ev, "toDesiredvCpus");
  if (!ce || !json_is_integer(to)) return;
  add(&get(h, ce)->desired, jget_int(ev, "at", 0), (int32_t)json_integer_value(to));
}

void ce_history_fold_instance(struct ce_history *h, const json_t *ev) {
  const char *id = jget_str(ev, "instanceId"), *ce = jget_str(ev, "computeEnvironment"), *kind = jget_str(ev, "kind");
  if (!id || !ce || !kind) return;
  json_t *was = json_object_get(h->up, id);
  int64_t before = was ? json_integer_value(json_array_get(was, 1)) : 0;
  int64_t now = instance_kind_gone(kind) ? 0 : jget_int(ev, "vcpus", 0); /* counted in actual vCPUs? */
  if (was && now == before) return;
  if (!was && !now) return;
  struct ce *c = get(h, was ? json_string_value(json_array_get(was, 0)) : ce);
  c->live_vcpus += now - before;
  if (now) json_object_set_new(h->up, id, json_pack("[s, I]", c->name, (json_int_t)now));
  else json_object_del(h->up, id);
  add(&c->actual, jget_int(ev, "at", 0), (int32_t)c->live_vcpus);
}

static json_t *series_json(const struct series *s, int64_t since) {
  json_t *a = json_array();
  size_t first = 0;
  while (first + 1 < s->n && s->p[first + 1].at <= since) first++;
  for (size_t i = first; i < s->n; i++) json_array_append_new(a, json_pack("[I, i]", (json_int_t)s->p[i].at, s->p[i].v));
  return a;
}

json_t *ce_history_json(const struct ce_history *h, const char *ce, int64_t since) {
  const struct ce *c = find(h, ce);
  static const struct series none;
  return json_pack("{s:o, s:o}", "desired", series_json(c ? &c->desired : &none, since), "actual",
                   series_json(c ? &c->actual : &none, since));
}
