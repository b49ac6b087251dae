/* control_ce.c: CreateComputeEnvironment, UpdateComputeEnvironment, DeleteComputeEnvironment
 * (validations; control.h). */
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "control_int.h"

/* instanceTypes (an array; NULL = absent): each entry a type, a family or an alias of the
 * instance-type catalogue (catalog_default(), so $BARGE_CATALOG too), as catalog_resolve reads
 * it; an unknown name used to be stored, shown VALID, and skipped by the provisioner. */
static int check_instance_types(const json_t *types, char *err, size_t errlen) {
  if (!types || json_is_null(types)) return 0;
  if (!json_is_array(types)) return fail(err, errlen, CLIENT, "computeResources.instanceTypes must be a list of instance types");
  const struct catalog *c = catalog_default();
  size_t i;
  json_t *e;
  json_array_foreach(types, i, e) {
    const char *name = json_string_value(e);
    int unknown = 1, *idx = NULL;
    if (name && *name) {
      json_t *one = json_pack("[s]", name);
      catalog_resolve(c, one, &idx, NULL, &unknown);
      free(idx);
      json_decref(one);
    }
    if (unknown) {
      char aliases[160] = "";
      const char *k;
      json_t *v;
      json_object_foreach(c->aliases, k, v) {
        size_t n = strlen(aliases);
        snprintf(aliases + n, sizeof aliases - n, "%s%s", n ? ", " : "", k);
      }
      return fail(err, errlen, CLIENT,
                  "computeResources.instanceTypes[%zu] %s is not an instance type Barge knows: give a size of its "
                  "catalogue (such as c5.large), a family (such as c5)%s%s",
                  i, name ? name : "(not a string)", aliases[0] ? " or one of " : "", aliases);
    }
  }
  /* one architecture per compute environment, as AWS requires (docs/job-model.md §4.2): a list
   * mixing x86_64 and arm64 types used to be stored VALID, and an image could only run on part
   * of what the CE launched */
  int *idx = NULL;
  size_t n = catalog_resolve(c, types, &idx, NULL, NULL);
  for (size_t k = 1; k < n; k++) {
    const struct catalog_type *a = &c->types[idx[0]], *b = &c->types[idx[k]];
    if (strcmp(a->arch, b->arch)) {
      int rc = fail(err, errlen, CLIENT,
                    "computeResources.instanceTypes mixes architectures: %s is %s, %s is %s; a compute "
                    "environment's instance types must share one architecture (make a compute environment per "
                    "architecture)", a->name, a->arch, b->name, b->arch);
      free(idx);
      return rc;
    }
  }
  free(idx);
  return 0;
}

static int validate_strategy(const char *cr_type, const char *strategy, int update, char *err,
                             size_t errlen) {
  static const char *const all[] = {"BEST_FIT", "BEST_FIT_PROGRESSIVE", "BEST_FIT_PROGRESSIVE_ORDERED",
                                    "SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED",
                                    "SPOT_CAPACITY_OPTIMIZED_PRIORITIZED", NULL};
  if (!ctl_in_list(strategy, all))
    return fail(err, errlen, CLIENT, "computeResources.allocationStrategy %s is not one of BEST_FIT, BEST_FIT_PROGRESSIVE, BEST_FIT_PROGRESSIVE_ORDERED, SPOT_CAPACITY_OPTIMIZED, SPOT_PRICE_CAPACITY_OPTIMIZED, SPOT_CAPACITY_OPTIMIZED_PRIORITIZED", strategy);
  if (!strncmp(strategy, "SPOT_", 5) && strcmp(cr_type, "SPOT"))
    return fail(err, errlen, CLIENT, "computeResources.allocationStrategy %s needs computeResources.type SPOT", strategy);
  if (!strcmp(strategy, "BEST_FIT_PROGRESSIVE_ORDERED") && strcmp(cr_type, "EC2"))
    return fail(err, errlen, CLIENT, "computeResources.allocationStrategy BEST_FIT_PROGRESSIVE_ORDERED needs computeResources.type EC2");
  if (update && !strcmp(strategy, "BEST_FIT"))
    return fail(err, errlen, CLIENT, "UpdateComputeEnvironment cannot set allocationStrategy BEST_FIT");
  return 0;
}

/* unmanagedvCpus (of req) is for UNMANAGED compute environments, as in AWS. */
static int check_unmanaged_vcpus(const json_t *req, const char *name, const char *type, char *err,
                                 size_t errlen) {
  json_t *u = json_object_get(req, "unmanagedvCpus");
  if (!u || json_is_null(u)) return 0;
  if (strcmp(type, "UNMANAGED"))
    return fail(err, errlen, CLIENT, "unmanagedvCpus is for UNMANAGED compute environments; %s is %s", name, type);
  return ctl_check_int(req, "unmanagedvCpus", 0, 10000000, 0, "", err, errlen);
}

/* The numbers of a computeResources (cr), at Create (maxvCpus required) and Update alike: the
 * vCPU counts in range (an update's were cast to int unchecked, so 4294967304 became 8) and
 * scalingPolicy.minScaleDownDelayMinutes 0 (none) or 20..10080 (docs/job-model.md §4.2). */
static int check_numbers(const json_t *cr, int create, char *err, size_t errlen) {
  int rc;
  if ((rc = ctl_check_int(cr, "maxvCpus", 0, 10000000, create, "computeResources.", err, errlen)) ||
      (rc = ctl_check_int(cr, "minvCpus", 0, 10000000, 0, "computeResources.", err, errlen)) ||
      (rc = ctl_check_int(cr, "desiredvCpus", 0, 10000000, 0, "computeResources.", err, errlen)) ||
      (rc = ctl_check_int(cr, "bidPercentage", 0, 100, 0, "computeResources.", err, errlen)))
    return rc;
  json_t *delay = json_object_get(json_object_get(cr, "scalingPolicy"), "minScaleDownDelayMinutes");
  long d = json_is_integer(delay) ? (long)json_integer_value(delay) : 0;
  if (d != 0 && (d < 20 || d > 10080))
    return fail(err, errlen, CLIENT, "computeResources.scalingPolicy.minScaleDownDelayMinutes must be 0 or 20..10080, got %ld", d);
  return 0;
}

static int build_compute_resources(const json_t *cr, json_t **out, char *err, size_t errlen) {
  const char *type = jget_str(cr, "type");
  if (!type) return fail(err, errlen, CLIENT, "computeResources.type is required (EC2 or SPOT)");
  if (!strcmp(type, "FARGATE") || !strcmp(type, "FARGATE_SPOT"))
    return fail(err, errlen, CLIENT, "computeResources.type %s is not supported (Fargate is out of scope)", type);
  if (strcmp(type, "EC2") && strcmp(type, "SPOT"))
    return fail(err, errlen, CLIENT, "computeResources.type must be EC2 or SPOT, got %s", type);
  int rc = check_numbers(cr, 1, err, errlen);
  if (rc) return rc;
  int maxv = (int)json_integer_value(json_object_get(cr, "maxvCpus"));
  int minv = (int)json_integer_value(json_object_get(cr, "minvCpus"));
  json_t *dv = json_object_get(cr, "desiredvCpus");
  if (minv > maxv)
    return fail(err, errlen, CLIENT, "computeResources.minvCpus (%d) is above maxvCpus (%d)", minv, maxv);
  if (json_is_integer(dv) && (json_integer_value(dv) < minv || json_integer_value(dv) > maxv))
    return fail(err, errlen, CLIENT, "computeResources.desiredvCpus must lie within [minvCpus, maxvCpus]");
  const char *strategy = jget_str(cr, "allocationStrategy") ? jget_str(cr, "allocationStrategy") : "BEST_FIT";
  if ((rc = validate_strategy(type, strategy, 0, err, errlen)) ||
      (rc = check_instance_types(json_object_get(cr, "instanceTypes"), err, errlen)))
    return rc;
  json_t *o = json_object();
  json_object_set_new(o, "type", json_string(type));
  json_object_set_new(o, "minvCpus", json_integer(minv));
  json_object_set_new(o, "maxvCpus", json_integer(maxv));
  json_object_set_new(o, "desiredvCpus", json_integer(json_is_integer(dv) ? json_integer_value(dv) : minv));
  json_t *types = json_object_get(cr, "instanceTypes");
  json_object_set_new(o, "instanceTypes", json_is_array(types) && json_array_size(types) ? json_deep_copy(types) : json_pack("[s]", "optimal"));
  json_object_set_new(o, "allocationStrategy", json_string(strategy));
  json_t *bid = json_object_get(cr, "bidPercentage");
  if (json_is_integer(bid)) json_object_set(o, "bidPercentage", bid);
  json_t *delay = json_object_get(json_object_get(cr, "scalingPolicy"), "minScaleDownDelayMinutes");
  if (json_is_integer(delay) && json_integer_value(delay)) json_object_set(o, "minScaleDownDelayMinutes", delay);
  json_object_set_new(o, "tags", json_is_object(json_object_get(cr, "tags")) ? json_deep_copy(json_object_get(cr, "tags")) : json_object());
  /* everything else passes unchanged to the instance provider */
  json_t *pass = json_deep_copy(cr);
  static const char *const modeled[] = {"type", "minvCpus", "maxvCpus", "desiredvCpus", "instanceTypes",
                                        "allocationStrategy", "bidPercentage", "scalingPolicy", "tags", NULL};
  for (const char *const *k = modeled; *k; k++) json_object_del(pass, *k);
  char *text = json_dumps(pass, JSON_COMPACT | JSON_SORT_KEYS);
  json_object_set_new(o, "passthroughJson", json_string(text));
  free(text);
  json_decref(pass);
  *out = o;
  return 0;
}

int control_create_compute_environment(struct control_conf *cc, const json_t *req,
                                       struct control_write *w, char *err, size_t errlen) {
  const char *name = jget_str(req, "computeEnvironmentName"), *type = jget_str(req, "type");
  if (!name) return fail(err, errlen, CLIENT, "computeEnvironmentName is required");
  if (!ctl_valid_name(name, 0))
    return fail(err, errlen, CLIENT, "computeEnvironmentName '%s' must be 1-128 letters, digits, '-' or '_'", name);
  if (!type || (strcmp(type, "MANAGED") && strcmp(type, "UNMANAGED")))
    return fail(err, errlen, CLIENT, "type must be MANAGED or UNMANAGED");
  const char *state = jget_str(req, "state") ? jget_str(req, "state") : "ENABLED";
  if (!ctl_valid_state(state)) return fail(err, errlen, CLIENT, "state must be ENABLED or DISABLED");
  json_t *cr = json_object_get(req, "computeResources");
  int rc;
  json_t *crb = NULL;
  if ((rc = check_unmanaged_vcpus(req, name, type, err, errlen))) return rc;
  if (!strcmp(type, "MANAGED")) {
    if (!json_is_object(cr)) return fail(err, errlen, CLIENT, "computeResources is required for a MANAGED compute environment");
    if ((rc = build_compute_resources(cr, &crb, err, errlen))) return rc;
  } else if (cr && !json_is_null(cr)) {
    return fail(err, errlen, CLIENT, "an UNMANAGED compute environment takes no computeResources");
  }
  const struct config_view *cv;
  char arn[512];
  ctl_arn(cc, "compute-environment", name, arn, sizeof arn);
  if ((rc = control_conf_get(cc, &cv, err, errlen))) {
    json_decref(crb);
    return rc;
  }
  if (config_find(cv->ces, "computeEnvironmentName", name)) {
    json_decref(crb);
    return fail(err, errlen, CLIENT, "compute environment %s already exists", name);
  }
  json_t *b = json_object();
  json_object_set_new(b, "computeEnvironmentName", json_string(name));
  json_object_set_new(b, "computeEnvironmentArn", json_string(arn));
  json_object_set_new(b, "type", json_string(type));
  json_object_set_new(b, "state", json_string(state));
  json_object_set_new(b, "status", json_string("VALID"));
  json_object_set_new(b, "statusReason", json_string("ComputeEnvironment Healthy"));
  static const char *const copy[] = {"serviceRole", "unmanagedvCpus", NULL};
  ctl_copy_members(b, req, copy);
  if (crb) json_object_set_new(b, "computeResources", crb);
  json_object_set_new(b, "tags", ctl_tags_of(req));
  json_object_set_new(b, "createdAt", json_integer(now_ms()));
  ctl_put_config(w, "ComputeEnvironment", b, "computeEnvironmentName", "computeEnvironmentArn");
  return 0;
}

/* An update's computeResources (cr) applied to the stored ones (crb, changed in place). A new
 * desiredvCpus may not be below cur_desired, the CE's current desired vCPUs (AWS's rule). */
static int update_compute_resources(const json_t *cr, json_t *crb, int cur_desired, char *err, size_t errlen) {
  int rc;
  if ((rc = check_numbers(cr, 0, err, errlen)) ||
      (rc = check_instance_types(json_object_get(cr, "instanceTypes"), err, errlen)))
    return rc;
  int minv = json_is_integer(json_object_get(cr, "minvCpus")) ? (int)json_integer_value(json_object_get(cr, "minvCpus")) : (int)json_integer_value(json_object_get(crb, "minvCpus"));
  int maxv = json_is_integer(json_object_get(cr, "maxvCpus")) ? (int)json_integer_value(json_object_get(cr, "maxvCpus")) : (int)json_integer_value(json_object_get(crb, "maxvCpus"));
  if (minv < 0 || maxv < 0 || minv > maxv)
    return fail(err, errlen, CLIENT, "computeResources: minvCpus (%d) must be <= maxvCpus (%d)", minv, maxv);
  json_t *dv = json_object_get(cr, "desiredvCpus");
  if (json_is_integer(dv)) {
    int d = (int)json_integer_value(dv);
    if (d < minv || d > maxv || d < cur_desired)
      return fail(err, errlen, CLIENT, "computeResources.desiredvCpus must lie within [minvCpus, maxvCpus] and not below the current %d", cur_desired);
    json_object_set(crb, "desiredvCpus", dv);
  }
  json_object_set_new(crb, "minvCpus", json_integer(minv));
  json_object_set_new(crb, "maxvCpus", json_integer(maxv));
  const char *strategy = jget_str(cr, "allocationStrategy");
  if (strategy) {
    rc = validate_strategy(jget_str(crb, "type"), strategy, 1, err, errlen);
    if (rc) return rc;
    json_object_set_new(crb, "allocationStrategy", json_string(strategy));
  }
  json_t *types = json_object_get(cr, "instanceTypes");
  if (json_is_array(types)) /* empty means optimal, as at Create (it was stored and shown as []) */
    json_object_set_new(crb, "instanceTypes", json_array_size(types) ? json_deep_copy(types) : json_pack("[s]", "optimal"));
  json_t *delay = json_object_get(json_object_get(cr, "scalingPolicy"), "minScaleDownDelayMinutes");
  if (json_is_integer(delay)) {
    if (json_integer_value(delay) == 0) json_object_del(crb, "minScaleDownDelayMinutes");
    else json_object_set(crb, "minScaleDownDelayMinutes", delay);
  }
  return 0;
}

/* The CE's current desired vCPUs, as DescribeComputeEnvironments shows them: the provisioner's
 * latest decision (barge.scaling), else the stored value. Read only when the update sets
 * desiredvCpus; a failure to read sets *rc. */
static int current_desired(struct control_conf *cc, const json_t *ce, const json_t *cr, int *rc, char *err,
                           size_t errlen) {
  const json_t *crb = json_object_get(ce, "computeResources");
  int stored = (int)json_integer_value(json_object_get(crb, "desiredvCpus"));
  json_t *desired;
  if (!json_is_integer(json_object_get(cr, "desiredvCpus"))) return stored;
  if ((*rc = control_desired_get(cc, &desired, err, errlen))) return stored;
  json_t *live = json_object_get(desired, jget_str(ce, "computeEnvironmentName") ? jget_str(ce, "computeEnvironmentName") : "");
  return json_is_integer(live) ? (int)json_integer_value(live) : stored;
}

int control_update_compute_environment(struct control_conf *cc, const json_t *req,
                                       struct control_write *w, char *err, size_t errlen) {
  const struct config_view *cv;
  json_t *cur;
  int rc;
  if ((rc = ctl_find(cc, req, CTL_CES, &cv, &cur, err, errlen))) return rc;
  json_t *b = json_deep_copy(cur);
  const char *state = jget_str(req, "state");
  json_t *cr = json_object_get(req, "computeResources"), *crb = json_object_get(b, "computeResources");
  if (state && !ctl_valid_state(state))
    rc = fail(err, errlen, CLIENT, "state must be ENABLED or DISABLED");
  else if (json_is_object(cr) && !json_is_object(crb))
    rc = fail(err, errlen, CLIENT, "an UNMANAGED compute environment takes no computeResources");
  else if (json_is_object(cr)) {
    int cur = current_desired(cc, b, cr, &rc, err, errlen);
    if (!rc) rc = update_compute_resources(cr, crb, cur, err, errlen);
  }
  if (!rc)
    rc = check_unmanaged_vcpus(req, jget_str(b, "computeEnvironmentName"), jget_str(b, "type") ? jget_str(b, "type") : "", err, errlen);
  if (rc) {
    json_decref(b);
    return rc;
  }
  if (state) json_object_set_new(b, "state", json_string(state));
  if (jget_str(req, "serviceRole")) json_object_set(b, "serviceRole", json_object_get(req, "serviceRole"));
  if (json_is_integer(json_object_get(req, "unmanagedvCpus"))) json_object_set(b, "unmanagedvCpus", json_object_get(req, "unmanagedvCpus"));
  ctl_put_config(w, "ComputeEnvironment", b, "computeEnvironmentName", "computeEnvironmentArn");
  return 0;
}

int control_delete_compute_environment(struct control_conf *cc, const json_t *req,
                                       struct control_write *w, char *err, size_t errlen) {
  const char *ref = jget_str(req, "computeEnvironment");
  const struct config_view *cv;
  json_t *ce;
  int rc;
  if ((rc = ctl_find(cc, req, CTL_CES, &cv, &ce, err, errlen)) ||
      (rc = ctl_check_disabled(ce, "compute environment", ref, err, errlen)))
    return rc;
  const char *arn = jget_str(ce, "computeEnvironmentArn");
  const char *k;
  json_t *q;
  json_object_foreach(cv->queues, k, q) {
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(q, "computeEnvironmentOrder"), i, o) {
      if (!strcmp(jget_str(o, "computeEnvironment"), arn))
        return fail(err, errlen, CLIENT, "compute environment %s is used by job queue %s; remove it from the queue first", ref, jget_str(q, "jobQueueName"));
    }
  }
  ctl_delete_config(w, arn);
  return 0;
}
