/* capacity_view.c: see capacity_view.h. barge.scaling is read by scaling_view_load or folded by
 * scaling_fold (lib/views.h): the view (view.c) folds it as it reads, `barge status` and
 * UpdateComputeEnvironment read it once. */
#include "capacity_view.h"

#include <string.h>

#include "jsonget.h"
#include "states.h"
#include "views.h"

void capacity_view_set_health(json_t *ces, const json_t *served, const json_t *launch, int64_t now) {
  size_t i;
  json_t *ce;
  json_array_foreach(ces, i, ce) {
    const char *name = jget_str(ce, "computeEnvironmentName"), *type = jget_str(ce, "type");
    const char *status = jget_str(ce, "status");
    if (!name || !type || strcmp(type, "MANAGED") || (status && strcmp(status, "VALID"))) continue;
    json_t *h = json_object_get(served, name);
    int64_t until = h ? (int64_t)json_integer_value(json_object_get(h, "servedUntil")) : 0;
    if (until >= now) continue; /* served: the stored VALID stands */
    /* created (or changed) a moment ago: a provisioner's first heartbeat for it is on its way (it
     * beats every 5 s by default); `barge up --detach` returned before it, and the stack's own CE
     * was shown INVALID, "No provisioner serves", for a few seconds */
    int64_t changed = jget_int(json_object_get(launch, name), "changedAt", 0);
    if (!h && changed > 0 && now - changed < CE_SERVE_GRACE_MS) continue;
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
      if (instance_kind_gone(kind)) continue;
      json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "instanceId", id,
                                            "instanceType", jget_str(ev, "instanceType") ? jget_str(ev, "instanceType") : "",
                                            "state", kind, "vcpus", json_integer_value(json_object_get(ev, "vcpus")),
                                            "memoryMib", json_integer_value(json_object_get(ev, "memoryMib")),
                                            "gpus", json_integer_value(json_object_get(ev, "gpus"))));
    }
    json_object_set_new(ce, "instances", list);
  }
}

static json_t *launch_entry(json_t *launch, const char *ce) {
  json_t *e = json_object_get(launch, ce);
  if (!e) {
    e = json_object();
    json_object_set_new(launch, ce, e);
  }
  return e;
}

static void set_later(json_t *e, const char *member, int64_t at) {
  if (at > jget_int(e, member, 0)) json_object_set_new(e, member, json_integer(at));
}

void capacity_fold_launch(json_t *launch, const json_t *ev) {
  const char *ce = jget_str(ev, "computeEnvironment"), *kind = jget_str(ev, "kind");
  if (!ce || !kind) return;
  int64_t at = jget_int(ev, "at", 0);
  if (!strcmp(kind, "LAUNCH_FAILED")) {
    json_t *e = launch_entry(launch, ce), *cur = json_object_get(e, "failed");
    if (!cur || at >= jget_int(cur, "at", 0)) json_object_set(e, "failed", (json_t *)ev);
  } else if (!strcmp(kind, "LAUNCHING") || !strcmp(kind, "READY")) {
    set_later(launch_entry(launch, ce), "launchedAt", at);
  }
}

void capacity_fold_ce_changed(json_t *launch, const char *ce, int64_t at_ms) {
  if (ce) set_later(launch_entry(launch, ce), "changedAt", at_ms);
}

/* Whether a launch failure's reason ("N of M x TYPE not launched: Code: message (HTTP 400)",
 * provisioner/prov.c and driver_ec2.c) is the request's fault rather than EC2's: an answer 4xx
 * that is not a capacity shortage (AWS retries those elsewhere and keeps the CE VALID), a Spot
 * price above the bid ceiling (the market's, not the CE's: the same bid launches once it falls)
 * or throttling. Transport errors and 5xx are EC2's, and sim/local shortages carry no HTTP status. */
static int client_error(const char *reason) {
  static const char *const ec2s[] = {"Insufficient", "SpotMaxPriceTooLow", "RequestLimitExceeded", "Throttling"};
  if (!strstr(reason, "(HTTP 4")) return 0;
  for (size_t i = 0; i < sizeof ec2s / sizeof *ec2s; i++)
    if (strstr(reason, ec2s[i])) return 0;
  return 1;
}

/* Whether the CE's instanceTypes (as DescribeComputeEnvironments shows them) still allow type:
 * the type itself, its family ("m5" for "m5.large"), or a category that stands for many
 * ("optimal", "default_x86_64"). A failure to launch a type the CE no longer allows was its old
 * configuration's, even when the provisioner tried it after the change, before reading it. */
static int type_still_allowed(const json_t *ce, const char *type) {
  const json_t *types = json_object_get(json_object_get(ce, "computeResources"), "instanceTypes"), *t;
  size_t i;
  if (!type || !json_array_size(types)) return 1;
  json_array_foreach(types, i, t) {
    const char *s = json_string_value(t);
    if (!s || !strcmp(s, type) || !strcmp(s, "optimal") || !strncmp(s, "default", 7)) return 1;
    size_t n = strlen(s);
    if (!strchr(s, '.') && !strncmp(type, s, n) && type[n] == '.') return 1;
  }
  return 0;
}

void capacity_view_set_launch_error(json_t *ces, const json_t *launch) {
  size_t i;
  json_t *ce;
  json_array_foreach(ces, i, ce) {
    const char *name = jget_str(ce, "computeEnvironmentName"), *type = jget_str(ce, "type");
    const char *status = jget_str(ce, "status");
    if (!name || !type || strcmp(type, "MANAGED") || (status && strcmp(status, "VALID"))) continue;
    json_t *e = json_object_get(launch, name), *failed = json_object_get(e, "failed");
    const char *why = jget_str(failed, "reason");
    if (!failed || !why || !client_error(why)) continue;
    int64_t at = jget_int(failed, "at", 0);
    if (at <= jget_int(e, "launchedAt", 0) || at <= jget_int(e, "changedAt", 0)) continue;
    if (!type_still_allowed(ce, jget_str(failed, "instanceType"))) continue;
    const char *ec2 = strstr(why, "not launched: ");
    char reason[768], when[32];
    iso8601_utc(at, when);
    snprintf(reason, sizeof reason, "CLIENT_ERROR - %s (launching %s at %s; the provisioner keeps trying)",
             ec2 ? ec2 + strlen("not launched: ") : why,
             jget_str(failed, "instanceType") ? jget_str(failed, "instanceType") : "an instance", when);
    json_object_set_new(ce, "status", json_string("INVALID"));
    json_object_set_new(ce, "statusReason", json_string(reason));
  }
}
