/* capacity_view.c: see capacity_view.h. barge.scaling is a delete-retention topic keyed by CE
 * name, so the latest decision per CE is the last one read. The view (view.c) folds it as it
 * reads; capacity_view_load reads it once, for `barge status`. */
#include "capacity_view.h"

#include <string.h>

#include "jsonget.h"
#include "views.h"

void capacity_fold_scaling(json_t *desired, json_t *served, const json_t *ev) {
  const char *ce = jget_str(ev, "computeEnvironment");
  if (!ce) return;
  json_t *to = json_object_get(ev, "toDesiredvCpus");
  if (json_is_integer(to)) json_object_set(desired, ce, to);
  json_int_t until = json_integer_value(json_object_get(ev, "servedUntil"));
  if (until > 0)
    json_object_set_new(served, ce, json_pack("{s:I, s:I, s:s}", "servedUntil", until, "at",
                                              json_integer_value(json_object_get(ev, "at")), "detail",
                                              jget_str(ev, "detail") ? jget_str(ev, "detail") : ""));
}

struct scaling_fold {
  json_t *desired, *served;
};

static void scaling_cb(void *ctx, const struct bus_msg *m) {
  struct scaling_fold *f = ctx;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (!m->value || bus_decode(m, &t, &ev, why, sizeof why)) return;
  capacity_fold_scaling(f->desired, f->served, ev);
  json_decref(ev);
}

int capacity_view_load(const struct bus_conf *bc, json_t **desired, json_t **served, char *err, size_t errlen) {
  struct scaling_fold f = {json_object(), json_object()};
  *desired = f.desired;
  *served = f.served;
  return view_read_table(bc, TOPIC_SCALING, scaling_cb, &f, err, errlen);
}

void capacity_view_set_health(json_t *ces, const json_t *served, int64_t now) {
  size_t i;
  json_t *ce;
  json_array_foreach(ces, i, ce) {
    const char *name = jget_str(ce, "computeEnvironmentName"), *type = jget_str(ce, "type");
    const char *status = jget_str(ce, "status");
    if (!name || !type || strcmp(type, "MANAGED") || (status && strcmp(status, "VALID"))) continue;
    json_t *h = json_object_get(served, name);
    int64_t until = h ? (int64_t)json_integer_value(json_object_get(h, "servedUntil")) : 0;
    if (until >= now) continue; /* served: the stored VALID stands */
    char reason[512], last[32];
    if (!h) {
      snprintf(reason, sizeof reason,
               "No provisioner serves this compute environment, so no instance can launch for it: "
               "start one with `barge up` or `barge provisioner`");
    } else {
      iso8601_utc((int64_t)json_integer_value(json_object_get(h, "at")), last);
      snprintf(reason, sizeof reason,
               "No provisioner has served this compute environment since %s (its heartbeats stopped), so no "
               "instance can launch for it: start one with `barge up` or `barge provisioner`", last);
    }
    json_object_set_new(ce, "status", json_string("INVALID"));
    json_object_set_new(ce, "statusReason", json_string(reason));
  }
}

void capacity_view_set_desired(json_t *ces, const json_t *desired) {
  size_t i;
  json_t *ce;
  json_array_foreach(ces, i, ce) {
    json_t *cr = json_object_get(ce, "computeResources");
    const char *name = jget_str(ce, "computeEnvironmentName");
    json_t *d = name ? json_object_get(desired, name) : NULL;
    if (json_is_object(cr) && json_is_integer(d)) json_object_set(cr, "desiredvCpus", d);
  }
}

void capacity_view_set_instances(json_t *ces, const json_t *latest) {
  size_t i;
  json_t *ce;
  json_array_foreach(ces, i, ce) {
    const char *name = jget_str(ce, "computeEnvironmentName");
    json_t *list = json_array();
    const char *id;
    json_t *ev;
    json_object_foreach((json_t *)latest, id, ev) {
      const char *kind = jget_str(ev, "kind");
      const char *cen = jget_str(ev, "computeEnvironment");
      if (!name || !cen || strcmp(name, cen) || !kind) continue;
      if (!strcmp(kind, "TERMINATED") || !strcmp(kind, "LOST") || !strcmp(kind, "LAUNCH_FAILED")) continue;
      json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "instanceId", id,
                                            "instanceType", jget_str(ev, "instanceType") ? jget_str(ev, "instanceType") : "",
                                            "state", kind, "vcpus", json_integer_value(json_object_get(ev, "vcpus")),
                                            "memoryMib", json_integer_value(json_object_get(ev, "memoryMib")),
                                            "gpus", json_integer_value(json_object_get(ev, "gpus"))));
    }
    json_object_set_new(ce, "instances", list);
  }
}
