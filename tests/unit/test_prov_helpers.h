/* test_prov_helpers.h: building the provisioner core's input events and reading its outbox, for
 * the test_prov_*.c unit tests (no Kafka). Times are explicit milliseconds. */
#ifndef BARGE_TEST_PROV_HELPERS_H
#define BARGE_TEST_PROV_HELPERS_H
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prov.h"

static inline json_t *hdr(int64_t at) {
  return json_pack("{s:s, s:I, s:s, s:s}", "event_id", "00000000-0000-4000-8000-000000000000", "event_time",
                   (json_int_t)at, "source", "test", "request_id", "");
}

/* A MANAGED compute environment. types: a JSON array text ("[\"optimal\"]"). */
static inline json_t *ce_ev(const char *name, const char *state, const char *crtype, int minv, int maxv,
                     const char *types, const char *strategy, int64_t at) {
  char arn[256];
  snprintf(arn, sizeof arn, "arn:barge:batch:local:000000000000:compute-environment/%s", name);
  json_t *cr = json_pack("{s:s, s:i, s:i, s:o, s:s}", "type", crtype, "minvCpus", minv, "maxvCpus", maxv,
                         "instanceTypes", json_loads(types, 0, NULL), "allocationStrategy", strategy);
  return json_pack("{s:o, s:{s:{s:s, s:s, s:s, s:s, s:s, s:o}}}", "header", hdr(at), "body",
                   "ComputeEnvironment", "computeEnvironmentName", name, "computeEnvironmentArn", arn, "type",
                   "MANAGED", "state", state, "status", "VALID", "computeResources", cr);
}

static inline json_t *unmanaged_ce_ev(const char *name, int64_t at) {
  char arn[256];
  snprintf(arn, sizeof arn, "arn:barge:batch:local:000000000000:compute-environment/%s", name);
  return json_pack("{s:o, s:{s:{s:s, s:s, s:s, s:s, s:s}}}", "header", hdr(at), "body", "ComputeEnvironment",
                   "computeEnvironmentName", name, "computeEnvironmentArn", arn, "type", "UNMANAGED", "state",
                   "ENABLED", "status", "VALID");
}

/* CapacityDemand: shapes as a JSON text ("[{\"vcpus\":1,...}]"), busy as a JSON text array. */
static inline json_t *demand_ev(const char *ce, const char *shapes, const char *busy, int64_t at) {
  return json_pack("{s:o, s:s, s:o, s:o, s:I}", "header", hdr(at), "computeEnvironment", ce, "shapes",
                   json_loads(shapes, 0, NULL), "busyInstances", json_loads(busy ? busy : "[]", 0, NULL), "at",
                   (json_int_t)at);
}

static inline json_t *inst_ev(const char *id, const char *ce, const char *kind, const char *type, int v, int m,
                       int64_t at) {
  return json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:I}", "header", hdr(at), "instanceId", id,
                   "computeEnvironment", ce, "kind", kind, "instanceType", type ? type : "", "vcpus", v,
                   "memoryMib", m, "gpus", 0, "at", (json_int_t)at);
}

/* Feeding helpers: each takes the event (@owned) and resets nothing: outputs accumulate. */
static inline void feed_config(struct prov *p, json_t *ev, struct prov_outbox *o) {
  char err[256];
  int rc = prov_handle_config(p, ev, o, err, sizeof err);
  CHECK(rc == 0, "config: %s", err);
  json_decref(ev);
}
static inline void feed_demand(struct prov *p, json_t *ev, struct prov_outbox *o) {
  char err[256];
  int rc = prov_handle_demand(p, ev, o, err, sizeof err);
  CHECK(rc == 0, "demand: %s", err);
  json_decref(ev);
}
static inline void feed_inst(struct prov *p, json_t *ev, struct prov_outbox *o) {
  char err[256];
  int rc = prov_handle_instance(p, ev, o, err, sizeof err);
  CHECK(rc == 0, "instance: %s", err);
  json_decref(ev);
}

static inline size_t count_kind(const struct prov_outbox *o, enum prov_out_kind k) {
  size_t n = 0;
  for (size_t i = 0; i < o->n; i++) n += o->ev[i].kind == k;
  return n;
}

/* The i-th output of a kind, or NULL. */
static inline struct prov_out *nth(const struct prov_outbox *o, enum prov_out_kind k, size_t i) {
  for (size_t j = 0; j < o->n; j++)
    if (o->ev[j].kind == k && i-- == 0) return &o->ev[j];
  return NULL;
}

static inline const char *decision_reason(const struct prov_out *d) {
  return d ? json_string_value(json_object_get(d->ev, "reason")) : NULL;
}
static inline int decision_int(const struct prov_out *d, const char *k) {
  return d ? (int)json_integer_value(json_object_get(d->ev, k)) : -1;
}

/* Launch type name and count of the i-th PROV_OUT_LAUNCH. */
static inline const char *launch_type(const struct prov *p, const struct prov_outbox *o, size_t i) {
  (void)p;
  struct prov_out *l = nth(o, PROV_OUT_LAUNCH, i);
  return l ? catalog_default()->types[l->type].name : NULL;
}
static inline int launch_count(const struct prov_outbox *o, size_t i) {
  struct prov_out *l = nth(o, PROV_OUT_LAUNCH, i);
  return l ? l->count : -1;
}

/* Answers every launch in the outbox with ids "<prefix><n>"; returns how many instances. */
static inline int answer_launches(struct prov *p, struct prov_outbox *o, const char *prefix, int64_t at,
                           struct prov_outbox *next) {
  static int seq;
  int total = 0;
  for (size_t i = 0; i < o->n; i++) {
    struct prov_out *l = &o->ev[i];
    if (l->kind != PROV_OUT_LAUNCH) continue;
    char **ids = calloc((size_t)l->count, sizeof *ids);
    for (int k = 0; k < l->count; k++) {
      ids[k] = malloc(32);
      snprintf(ids[k], 32, "%s%05d", prefix, ++seq);
    }
    prov_launch_result(p, l->req, "sim", (const char *const *)ids, (size_t)l->count, NULL, at, next);
    total += l->count;
    for (int k = 0; k < l->count; k++) free(ids[k]);
    free(ids);
  }
  return total;
}

/* The id of the i-th LAUNCHING instance event in the outbox. */
static inline const char *launched_id(const struct prov_outbox *o, size_t i) {
  for (size_t j = 0; j < o->n; j++) {
    if (o->ev[j].kind != PROV_OUT_INSTANCE) continue;
    const char *kind = json_string_value(json_object_get(o->ev[j].ev, "kind"));
    if (kind && !strcmp(kind, "LAUNCHING") && i-- == 0) return json_string_value(json_object_get(o->ev[j].ev, "instanceId"));
  }
  return NULL;
}

static inline size_t count_instance_kind(const struct prov_outbox *o, const char *kind) {
  size_t n = 0;
  for (size_t j = 0; j < o->n; j++) {
    if (o->ev[j].kind != PROV_OUT_INSTANCE) continue;
    const char *k = json_string_value(json_object_get(o->ev[j].ev, "kind"));
    n += k && !strcmp(k, kind);
  }
  return n;
}

static inline struct prov *new_core(void) {
  struct prov_conf conf;
  prov_conf_defaults(&conf);
  conf.idle_delay_ms = 10000;
  return prov_new(&conf);
}

/* A fresh outbox o and a new_core() that was given the MANAGED CE "ce" (ce_ev's other arguments). */
static inline struct prov *core_with_ce(const char *state, const char *crtype, int minv, int maxv, const char *types,
                                        const char *strategy, int64_t at, struct prov_outbox *o) {
  prov_outbox_init(o);
  struct prov *p = new_core();
  feed_config(p, ce_ev("ce", state, crtype, minv, maxv, types, strategy, at), o);
  return p;
}
#endif
