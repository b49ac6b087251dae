/* catalog.c: the instance-type catalogue (see catalog.h). */
#include "catalog.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The embedded text, generated from provisioner/catalog/instance-types.json (provisioner/catalog/CMakeLists.txt). */
extern const char barge_catalog_json[];

const char *catalog_embedded_json(void) { return barge_catalog_json; }

static int fail(char *err, size_t errlen, const char *msg, const char *what) {
  snprintf(err, errlen, "catalogue: %s%s%s", msg, what ? " " : "", what ? what : "");
  return -1;
}

int catalog_parse(const char *text, struct catalog **out, char *err, size_t errlen) {
  *out = NULL;
  json_error_t je;
  json_t *root = json_loads(text, 0, &je);
  if (!root) {
    snprintf(err, errlen, "catalogue: line %d: %s", je.line, je.text);
    return -1;
  }
  int rc = -1;
  struct catalog *c = xcalloc(1, sizeof *c);
  json_t *types = json_object_get(root, "types");
  if (!json_is_array(types) || json_array_size(types) == 0) {
    fail(err, errlen, "\"types\" must be a non-empty array", NULL);
    goto out;
  }
  json_t *res = json_object_get(root, "agentReserveMib");
  c->reserve_mib = json_is_integer(res) ? (int)json_integer_value(res) : 32;
  json_t *al = json_object_get(root, "aliases");
  c->aliases = json_is_object(al) ? json_incref(al) : json_object();
  c->types = xcalloc(json_array_size(types), sizeof *c->types);
  size_t i;
  json_t *t;
  json_array_foreach(types, i, t) {
    struct catalog_type *ct = &c->types[c->n];
    const char *name = json_string_value(json_object_get(t, "name"));
    const char *dot = name ? strchr(name, '.') : NULL;
    if (!name || !dot || dot == name || !dot[1] || strlen(name) >= sizeof ct->name ||
        (size_t)(dot - name) >= sizeof ct->family || strlen(dot + 1) >= sizeof ct->size) {
      fail(err, errlen, "every type needs a name FAMILY.SIZE, got", name ? name : "(none)");
      goto out;
    }
    if (catalog_find(c, name)) {
      fail(err, errlen, "duplicate type", name);
      goto out;
    }
    snprintf(ct->name, sizeof ct->name, "%s", name);
    snprintf(ct->family, sizeof ct->family, "%.*s", (int)(dot - name), name);
    snprintf(ct->size, sizeof ct->size, "%s", dot + 1);
    ct->metal = !strncmp(ct->size, "metal", 5);
    const char *arch = json_string_value(json_object_get(t, "arch"));
    snprintf(ct->arch, sizeof ct->arch, "%s", arch ? arch : "x86_64");
    ct->vcpus = (int)json_integer_value(json_object_get(t, "vcpus"));
    ct->mem_mib = (int)json_integer_value(json_object_get(t, "memoryMib"));
    ct->gpus = (int)json_integer_value(json_object_get(t, "gpus"));
    ct->od_price = json_number_value(json_object_get(t, "onDemandPrice"));
    json_t *sp = json_object_get(t, "spotPrice");
    ct->spot_price = json_is_number(sp) ? json_number_value(sp) : ct->od_price;
    ct->interrupt_rank = (int)json_integer_value(json_object_get(t, "interruptionRank"));
    ct->interrupt_rate = json_number_value(json_object_get(t, "interruptionRate"));
    if (ct->vcpus <= 0 || ct->mem_mib <= c->reserve_mib || ct->gpus < 0 || ct->od_price < 0 ||
        ct->spot_price < 0 || ct->interrupt_rank < 0) {
      fail(err, errlen, "vcpus, memoryMib (above the reserve), gpus and prices must be positive for", name);
      goto out;
    }
    c->n++;
  }
  rc = 0;
  *out = c;
out:
  json_decref(root);
  if (rc) catalog_free(c);
  return rc;
}

int catalog_load_file(const char *path, struct catalog **out, char *err, size_t errlen) {
  char *text = read_file(path, NULL);
  if (!text) {
    *out = NULL;
    snprintf(err, errlen, "catalogue: cannot read %s", path);
    return -1;
  }
  int rc = catalog_parse(text, out, err, errlen);
  free(text);
  return rc;
}

void catalog_free(struct catalog *c) {
  if (!c) return;
  free(c->types);
  json_decref(c->aliases);
  free(c);
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct catalog *default_cat;

static void load_default(void) {
  char err[512];
  const char *path = getenv("BARGE_CATALOG");
  if (path && *path) {
    if (catalog_load_file(path, &default_cat, err, sizeof err) == 0) return;
    log_warn("%s; using the built-in catalogue", err);
  }
  if (catalog_parse(barge_catalog_json, &default_cat, err, sizeof err)) {
    log_error("built-in %s", err); /* a build defect: the file is checked by the tests */
    abort();
  }
}

const struct catalog *catalog_default(void) {
  pthread_once(&default_once, load_default);
  return default_cat;
}

const struct catalog_type *catalog_find(const struct catalog *c, const char *name) {
  int i = catalog_index(c, name);
  return i < 0 ? NULL : &c->types[i];
}

int catalog_index(const struct catalog *c, const char *name) {
  if (!name) return -1;
  for (size_t i = 0; i < c->n; i++)
    if (!strcmp(c->types[i].name, name)) return (int)i;
  return -1;
}

int catalog_sched_mem(const struct catalog *c, const struct catalog_type *t) {
  return t->mem_mib - c->reserve_mib;
}

int catalog_type_fits(const struct catalog *c, const struct catalog_type *t, int vcpus,
                      int mem_mib, int gpus) {
  return vcpus <= t->vcpus && mem_mib <= catalog_sched_mem(c, t) && gpus <= t->gpus;
}

/* ---- resolution ---- */

struct resolver {
  const struct catalog *c;
  int *idx, *group;
  size_t n;
  char *explicit_; /* per type: listed by exact name somewhere in the list */
  char *taken;
};

static void take(struct resolver *r, int i, int group) {
  if (r->taken[i]) return;
  r->taken[i] = 1;
  r->idx[r->n] = i;
  r->group[r->n] = group;
  r->n++;
}

/* Adds every non-metal size of a family, ascending by vCPUs (then name), skipping types the
 * list names explicitly (they keep their own position). */
static int take_family(struct resolver *r, const char *family, int group) {
  const struct catalog *c = r->c;
  int found = 0;
  for (;;) {
    int best = -1;
    for (size_t i = 0; i < c->n; i++) {
      const struct catalog_type *t = &c->types[i];
      if (r->taken[i] || r->explicit_[i] || t->metal || strcmp(t->family, family)) continue;
      if (best < 0 || t->vcpus < c->types[best].vcpus ||
          (t->vcpus == c->types[best].vcpus && strcmp(t->name, c->types[best].name) < 0))
        best = (int)i;
    }
    if (best < 0) break;
    take(r, best, group);
    found = 1;
  }
  for (size_t i = 0; i < c->n && !found; i++)
    if (!strcmp(c->types[i].family, family) && !c->types[i].metal) found = 1;
  return found;
}

static int take_name(struct resolver *r, const char *name, int group, int depth) {
  const struct catalog *c = r->c;
  int i = catalog_index(c, name);
  if (i >= 0) {
    take(r, i, group);
    return 1;
  }
  json_t *alias = json_object_get(c->aliases, name);
  if (json_is_array(alias) && depth < 4) {
    size_t k;
    json_t *e;
    int any = 0;
    json_array_foreach(alias, k, e) {
      const char *n = json_string_value(e);
      if (n && take_name(r, n, group, depth + 1)) any = 1;
    }
    return any;
  }
  return take_family(r, name, group);
}

size_t catalog_resolve(const struct catalog *c, const json_t *instance_types, int **idx_out,
                       int **group_out, int *unknown) {
  struct resolver r = {.c = c};
  r.idx = xcalloc(c->n ? c->n : 1, sizeof *r.idx);
  r.group = xcalloc(c->n ? c->n : 1, sizeof *r.group);
  r.explicit_ = xcalloc(c->n ? c->n : 1, 1);
  r.taken = xcalloc(c->n ? c->n : 1, 1);
  int unk = 0;
  json_t *def = NULL;
  if (!json_is_array(instance_types) || json_array_size(instance_types) == 0)
    instance_types = def = json_pack("[s]", "optimal");
  size_t k;
  json_t *e;
  json_array_foreach(instance_types, k, e) {
    int i = catalog_index(c, json_string_value(e));
    if (i >= 0) r.explicit_[i] = 1;
  }
  json_array_foreach(instance_types, k, e) {
    const char *n = json_string_value(e);
    if (!n || !take_name(&r, n, (int)k, 0)) unk++;
  }
  json_decref(def);
  free(r.explicit_);
  free(r.taken);
  if (unknown) *unknown = unk;
  *idx_out = r.idx;
  if (group_out) *group_out = r.group;
  else free(r.group);
  return r.n;
}

int catalog_fits(const struct catalog *c, const json_t *instance_types, int vcpus, int mem_mib,
                 int gpus) {
  if (!c) c = catalog_default();
  int *idx;
  size_t n = catalog_resolve(c, instance_types, &idx, NULL, NULL);
  int fits = 0;
  for (size_t i = 0; i < n && !fits; i++) fits = catalog_type_fits(c, &c->types[idx[i]], vcpus, mem_mib, gpus);
  free(idx);
  return fits;
}
