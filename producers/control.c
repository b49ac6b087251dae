/* control.c: the AWS Batch write operations as Kafka producers. Each validates the request
 * against the current configuration (barge.config, compacted) as AWS Batch does, writes one
 * event and answers only after the delivery report confirms it is durably written (acks=all,
 * idempotent producer). Invalid input gives a ClientException naming the member; nothing is
 * written then. */
#include "control.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "views.h"

#define CLIENT API_CLIENT_ERROR
#define SERVER API_SERVER_ERROR
#define fail api_error

static const char *jstr(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

/* 1-128 letters, digits, '-' and '_' (spec 1); job names also start with a letter or digit. */
static int valid_name(const char *s, int job) {
  size_t n = s ? strlen(s) : 0;
  if (n < 1 || n > 128) return 0;
  if (job && !isalnum((unsigned char)s[0])) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_') return 0;
  return 1;
}

static int in_list(const char *s, const char *const *list) {
  for (; s && *list; list++)
    if (!strcmp(s, *list)) return 1;
  return 0;
}

/* Members only out-of-scope features use (spec section 10). */
static int reject_out_of_scope(const json_t *req, char *err, size_t errlen) {
  static const char *const oos[] = {"nodeOverrides", "nodeProperties", "eksConfiguration",
                                    "eksProperties", "ecsProperties", "eksPropertiesOverride",
                                    "ecsPropertiesOverride", "consumableResourceProperties",
                                    "consumableResourcePropertiesOverride",
                                    "serviceEnvironmentOrder", "jobQueueType", "quotaSharePolicy",
                                    "multiNodeJobId", NULL};
  for (const char *const *k = oos; *k; k++)
    if (json_object_get(req, *k))
      return fail(err, errlen, CLIENT, "%s is not supported by Barge (out of scope: multi-node, EKS, ECS properties, consumable resources, service environments)", *k);
  return 0;
}

/* Sends one event and waits for its delivery report. */
static int publish(const struct bus_conf *bc, enum bus_topic t, const char *key, const json_t *v,
                   char *err, size_t errlen) {
  char e[512];
  struct bus_producer *p = bus_producer_new(bc, NULL, e, sizeof e);
  if (!p) return fail(err, errlen, SERVER, "%s", e);
  int rc = bus_produce(p, t, key, v, e, sizeof e);
  if (!rc) rc = bus_flush(p, 30000, e, sizeof e);
  bus_producer_free(p);
  if (rc) return fail(err, errlen, SERVER, "%s", e);
  return 0;
}

static json_t *config_event(const char *kind, json_t *body /* @owned */) {
  return json_pack("{s:o, s:{s:o}}", "header", bus_header("api", "", now_ms()), "body", kind, body);
}

/* The request's tags, or an empty map. */
static json_t *tags_of(const json_t *req) {
  json_t *t = json_object_get(req, "tags");
  return json_is_object(t) ? json_deep_copy(t) : json_object();
}

/* Writes a config record of `kind` (body @owned) keyed by the body's ARN and waits for its
 * delivery; on success answers with the body's name and ARN members (or {} when name_key is
 * NULL), as the AWS Create/Update operations do. */
static int put_config(const struct bus_conf *bc, const char *kind, json_t *body, const char *name_key,
                      const char *arn_key, json_t **resp, char *err, size_t errlen) {
  char arn[512];
  snprintf(arn, sizeof arn, "%s", jstr(body, arn_key));
  json_t *answer = name_key ? json_pack("{s:O, s:O}", name_key, json_object_get(body, name_key), arn_key,
                                        json_object_get(body, arn_key))
                            : json_object();
  json_t *ev = config_event(kind, body);
  int rc = publish(bc, TOPIC_CONFIG, arn, ev, err, errlen);
  json_decref(ev);
  if (rc) json_decref(answer);
  else *resp = answer;
  return rc;
}


/* Copies the listed members of src into dst when present. */
static void copy_members(json_t *dst, const json_t *src, const char *const *members) {
  for (; *members; members++) {
    json_t *v = json_object_get(src, *members);
    if (v && !json_is_null(v)) json_object_set(dst, *members, v);
  }
}

static int check_int(const json_t *o, const char *k, long lo, long hi, int required,
                     const char *path, char *err, size_t errlen) {
  json_t *v = json_object_get(o, k);
  if (!v || json_is_null(v)) {
    if (required) return fail(err, errlen, CLIENT, "%s%s is required", path, k);
    return 0;
  }
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return fail(err, errlen, CLIENT, "%s%s must be a whole number from %ld to %ld", path, k, lo, hi);
  return 0;
}

/* ---------------- compute environments ---------------- */

static int validate_strategy(const char *cr_type, const char *strategy, int update, char *err,
                             size_t errlen) {
  static const char *const all[] = {"BEST_FIT", "BEST_FIT_PROGRESSIVE", "BEST_FIT_PROGRESSIVE_ORDERED",
                                    "SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED",
                                    "SPOT_CAPACITY_OPTIMIZED_PRIORITIZED", NULL};
  if (!in_list(strategy, all))
    return fail(err, errlen, CLIENT, "computeResources.allocationStrategy %s is not one of BEST_FIT, BEST_FIT_PROGRESSIVE, BEST_FIT_PROGRESSIVE_ORDERED, SPOT_CAPACITY_OPTIMIZED, SPOT_PRICE_CAPACITY_OPTIMIZED, SPOT_CAPACITY_OPTIMIZED_PRIORITIZED", strategy);
  if (!strncmp(strategy, "SPOT_", 5) && strcmp(cr_type, "SPOT"))
    return fail(err, errlen, CLIENT, "computeResources.allocationStrategy %s needs computeResources.type SPOT", strategy);
  if (!strcmp(strategy, "BEST_FIT_PROGRESSIVE_ORDERED") && strcmp(cr_type, "EC2"))
    return fail(err, errlen, CLIENT, "computeResources.allocationStrategy BEST_FIT_PROGRESSIVE_ORDERED needs computeResources.type EC2");
  if (update && !strcmp(strategy, "BEST_FIT"))
    return fail(err, errlen, CLIENT, "UpdateComputeEnvironment cannot set allocationStrategy BEST_FIT");
  return 0;
}

static int build_compute_resources(const json_t *cr, json_t **out, char *err, size_t errlen) {
  const char *type = jstr(cr, "type");
  if (!type) return fail(err, errlen, CLIENT, "computeResources.type is required (EC2 or SPOT)");
  if (!strcmp(type, "FARGATE") || !strcmp(type, "FARGATE_SPOT"))
    return fail(err, errlen, CLIENT, "computeResources.type %s is not supported (Fargate is out of scope)", type);
  if (strcmp(type, "EC2") && strcmp(type, "SPOT"))
    return fail(err, errlen, CLIENT, "computeResources.type must be EC2 or SPOT, got %s", type);
  int rc;
  if ((rc = check_int(cr, "maxvCpus", 0, 10000000, 1, "computeResources.", err, errlen)) ||
      (rc = check_int(cr, "minvCpus", 0, 10000000, 0, "computeResources.", err, errlen)) ||
      (rc = check_int(cr, "desiredvCpus", 0, 10000000, 0, "computeResources.", err, errlen)) ||
      (rc = check_int(cr, "bidPercentage", 0, 100, 0, "computeResources.", err, errlen)))
    return rc;
  int maxv = (int)json_integer_value(json_object_get(cr, "maxvCpus"));
  int minv = (int)json_integer_value(json_object_get(cr, "minvCpus"));
  json_t *dv = json_object_get(cr, "desiredvCpus");
  if (minv > maxv)
    return fail(err, errlen, CLIENT, "computeResources.minvCpus (%d) is above maxvCpus (%d)", minv, maxv);
  if (json_is_integer(dv) && (json_integer_value(dv) < minv || json_integer_value(dv) > maxv))
    return fail(err, errlen, CLIENT, "computeResources.desiredvCpus must lie within [minvCpus, maxvCpus]");
  const char *strategy = jstr(cr, "allocationStrategy") ? jstr(cr, "allocationStrategy") : "BEST_FIT";
  if ((rc = validate_strategy(type, strategy, 0, err, errlen))) return rc;
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
  json_t *sp = json_object_get(cr, "scalingPolicy");
  json_t *delay = json_object_get(sp, "minScaleDownDelayMinutes");
  if (json_is_integer(delay)) {
    long d = (long)json_integer_value(delay);
    if (d != 0 && (d < 20 || d > 10080)) {
      json_decref(o);
      return fail(err, errlen, CLIENT, "computeResources.scalingPolicy.minScaleDownDelayMinutes must be 0 or 20..10080");
    }
    if (d) json_object_set_new(o, "minScaleDownDelayMinutes", json_integer(d));
  }
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

static int create_ce(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                     size_t errlen) {
  const char *name = jstr(req, "computeEnvironmentName"), *type = jstr(req, "type");
  if (!name) return fail(err, errlen, CLIENT, "computeEnvironmentName is required");
  if (!valid_name(name, 0))
    return fail(err, errlen, CLIENT, "computeEnvironmentName '%s' must be 1-128 letters, digits, '-' or '_'", name);
  if (!type || (strcmp(type, "MANAGED") && strcmp(type, "UNMANAGED")))
    return fail(err, errlen, CLIENT, "type must be MANAGED or UNMANAGED");
  const char *state = jstr(req, "state") ? jstr(req, "state") : "ENABLED";
  if (strcmp(state, "ENABLED") && strcmp(state, "DISABLED"))
    return fail(err, errlen, CLIENT, "state must be ENABLED or DISABLED");
  json_t *cr = json_object_get(req, "computeResources");
  int rc;
  json_t *crb = NULL;
  if (!strcmp(type, "MANAGED")) {
    if (!json_is_object(cr)) return fail(err, errlen, CLIENT, "computeResources is required for a MANAGED compute environment");
    if ((rc = build_compute_resources(cr, &crb, err, errlen))) return rc;
  } else if (cr && !json_is_null(cr)) {
    return fail(err, errlen, CLIENT, "an UNMANAGED compute environment takes no computeResources");
  }
  if ((rc = check_int(req, "unmanagedvCpus", 0, 10000000, 0, "", err, errlen))) {
    json_decref(crb);
    return rc;
  }
  struct config_view cv;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) {
    json_decref(crb);
    return rc;
  }
  char suffix[256], arn[512];
  snprintf(suffix, sizeof suffix, "compute-environment/%s", name);
  barge_arn(suffix, arn, sizeof arn);
  int exists = json_object_get(cv.ces, arn) != NULL;
  config_view_release(&cv);
  if (exists) {
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
  copy_members(b, req, copy);
  if (crb) json_object_set_new(b, "computeResources", crb);
  json_object_set_new(b, "tags", tags_of(req));
  json_object_set_new(b, "createdAt", json_integer(now_ms()));
  return put_config(bc, "ComputeEnvironment", b, "computeEnvironmentName", "computeEnvironmentArn", resp, err, errlen);
}

static int update_ce(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                     size_t errlen) {
  const char *ref = jstr(req, "computeEnvironment");
  if (!ref) return fail(err, errlen, CLIENT, "computeEnvironment is required");
  struct config_view cv;
  int rc;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  json_t *cur = config_find(cv.ces, "computeEnvironmentName", ref);
  if (!cur) {
    config_view_release(&cv);
    return fail(err, errlen, CLIENT, "compute environment %s does not exist", ref);
  }
  json_t *b = json_deep_copy(cur);
  config_view_release(&cv);
  const char *state = jstr(req, "state");
  if (state) {
    if (strcmp(state, "ENABLED") && strcmp(state, "DISABLED")) {
      json_decref(b);
      return fail(err, errlen, CLIENT, "state must be ENABLED or DISABLED");
    }
    json_object_set_new(b, "state", json_string(state));
  }
  json_t *cr = json_object_get(req, "computeResources"), *crb = json_object_get(b, "computeResources");
  if (json_is_object(cr)) {
    if (!json_is_object(crb)) {
      json_decref(b);
      return fail(err, errlen, CLIENT, "an UNMANAGED compute environment takes no computeResources");
    }
    int minv = json_is_integer(json_object_get(cr, "minvCpus")) ? (int)json_integer_value(json_object_get(cr, "minvCpus")) : (int)json_integer_value(json_object_get(crb, "minvCpus"));
    int maxv = json_is_integer(json_object_get(cr, "maxvCpus")) ? (int)json_integer_value(json_object_get(cr, "maxvCpus")) : (int)json_integer_value(json_object_get(crb, "maxvCpus"));
    if (minv < 0 || maxv < 0 || minv > maxv) {
      json_decref(b);
      return fail(err, errlen, CLIENT, "computeResources: minvCpus (%d) must be <= maxvCpus (%d)", minv, maxv);
    }
    json_t *dv = json_object_get(cr, "desiredvCpus");
    if (json_is_integer(dv)) {
      int d = (int)json_integer_value(dv), curd = (int)json_integer_value(json_object_get(crb, "desiredvCpus"));
      if (d < minv || d > maxv || d < curd) {
        json_decref(b);
        return fail(err, errlen, CLIENT, "computeResources.desiredvCpus must lie within [minvCpus, maxvCpus] and not below the current %d", curd);
      }
      json_object_set(crb, "desiredvCpus", dv);
    }
    json_object_set_new(crb, "minvCpus", json_integer(minv));
    json_object_set_new(crb, "maxvCpus", json_integer(maxv));
    const char *strategy = jstr(cr, "allocationStrategy");
    if (strategy) {
      if ((rc = validate_strategy(jstr(crb, "type"), strategy, 1, err, errlen))) {
        json_decref(b);
        return rc;
      }
      json_object_set_new(crb, "allocationStrategy", json_string(strategy));
    }
    json_t *types = json_object_get(cr, "instanceTypes");
    if (json_is_array(types)) json_object_set(crb, "instanceTypes", types);
    json_t *delay = json_object_get(json_object_get(cr, "scalingPolicy"), "minScaleDownDelayMinutes");
    if (json_is_integer(delay)) {
      if (json_integer_value(delay) == 0) json_object_del(crb, "minScaleDownDelayMinutes");
      else json_object_set(crb, "minScaleDownDelayMinutes", delay);
    }
  }
  if (jstr(req, "serviceRole")) json_object_set(b, "serviceRole", json_object_get(req, "serviceRole"));
  if (json_is_integer(json_object_get(req, "unmanagedvCpus"))) json_object_set(b, "unmanagedvCpus", json_object_get(req, "unmanagedvCpus"));
  return put_config(bc, "ComputeEnvironment", b, "computeEnvironmentName", "computeEnvironmentArn", resp, err, errlen);
}

static int delete_resource(const struct bus_conf *bc, const char *arn, char *err, size_t errlen) {
  return publish(bc, TOPIC_CONFIG, arn, NULL, err, errlen);
}

static int delete_ce(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                     size_t errlen) {
  const char *ref = jstr(req, "computeEnvironment");
  if (!ref) return fail(err, errlen, CLIENT, "computeEnvironment is required");
  struct config_view cv;
  int rc;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  json_t *ce = config_find(cv.ces, "computeEnvironmentName", ref);
  char arn[512] = "";
  if (!ce) rc = fail(err, errlen, CLIENT, "compute environment %s does not exist", ref);
  else if (strcmp(jstr(ce, "state"), "DISABLED"))
    rc = fail(err, errlen, CLIENT, "compute environment %s must be DISABLED before it is deleted", ref);
  if (!rc) {
    snprintf(arn, sizeof arn, "%s", jstr(ce, "computeEnvironmentArn"));
    const char *k;
    json_t *q;
    json_object_foreach(cv.queues, k, q) {
      size_t i;
      json_t *o;
      json_array_foreach(json_object_get(q, "computeEnvironmentOrder"), i, o) {
        if (!rc && !strcmp(jstr(o, "computeEnvironment"), arn))
          rc = fail(err, errlen, CLIENT, "compute environment %s is used by job queue %s; remove it from the queue first", ref, jstr(q, "jobQueueName"));
      }
    }
  }
  config_view_release(&cv);
  if (!rc) rc = delete_resource(bc, arn, err, errlen);
  if (!rc) *resp = json_object();
  return rc;
}

/* ---------------- job queues ---------------- */

static int build_queue_parts(const struct config_view *cv, const json_t *req, json_t *b,
                             char *err, size_t errlen) {
  int rc;
  if ((rc = check_int(req, "priority", 0, 1000, 0, "", err, errlen))) return rc;
  json_t *ceo = json_object_get(req, "computeEnvironmentOrder");
  if (ceo) {
    if (!json_is_array(ceo) || json_array_size(ceo) < 1 || json_array_size(ceo) > 3)
      return fail(err, errlen, CLIENT, "computeEnvironmentOrder must list 1 to 3 compute environments");
    json_t *out = json_array();
    size_t i;
    json_t *o;
    int managed = -1;
    json_array_foreach(ceo, i, o) {
      json_t *ce = config_find(cv->ces, "computeEnvironmentName", jstr(o, "computeEnvironment"));
      if (!ce) {
        json_decref(out);
        return fail(err, errlen, CLIENT, "computeEnvironmentOrder[%zu].computeEnvironment %s does not exist", i, jstr(o, "computeEnvironment") ? jstr(o, "computeEnvironment") : "(missing)");
      }
      if (strcmp(jstr(ce, "status"), "VALID")) {
        json_decref(out);
        return fail(err, errlen, CLIENT, "compute environment %s is not VALID", jstr(ce, "computeEnvironmentName"));
      }
      if (!json_is_integer(json_object_get(o, "order"))) {
        json_decref(out);
        return fail(err, errlen, CLIENT, "computeEnvironmentOrder[%zu].order is required", i);
      }
      int m = !strcmp(jstr(ce, "type"), "MANAGED");
      (void)managed;
      managed = m;
      json_array_append_new(out, json_pack("{s:O, s:s}", "order", json_object_get(o, "order"), "computeEnvironment", jstr(ce, "computeEnvironmentArn")));
    }
    json_object_set_new(b, "computeEnvironmentOrder", out);
  }
  json_t *tla = json_object_get(req, "jobStateTimeLimitActions");
  if (tla) {
    static const char *const reasons[] = {"MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
                                          "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
                                          "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", NULL};
    size_t i;
    json_t *a;
    json_array_foreach(tla, i, a) {
      if (!in_list(jstr(a, "reason"), reasons))
        return fail(err, errlen, CLIENT, "jobStateTimeLimitActions[%zu].reason must be one of MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE, MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT, CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", i);
      if (!jstr(a, "state") || strcmp(jstr(a, "state"), "RUNNABLE"))
        return fail(err, errlen, CLIENT, "jobStateTimeLimitActions[%zu].state must be RUNNABLE", i);
      if (!jstr(a, "action") || strcmp(jstr(a, "action"), "CANCEL"))
        return fail(err, errlen, CLIENT, "jobStateTimeLimitActions[%zu].action must be CANCEL (TERMINATE is for SageMaker queues)", i);
      char path[64];
      snprintf(path, sizeof path, "jobStateTimeLimitActions[%zu].", i);
      if ((rc = check_int(a, "maxTimeSeconds", 600, 86400, 1, path, err, errlen))) return rc;
    }
    json_object_set(b, "jobStateTimeLimitActions", tla);
  }
  const char *pol = jstr(req, "schedulingPolicyArn");
  if (pol) {
    if (!json_object_get(cv->policies, pol))
      return fail(err, errlen, CLIENT, "scheduling policy %s does not exist", pol);
    json_object_set_new(b, "schedulingPolicyArn", json_string(pol));
  }
  return 0;
}

static int create_queue(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                        size_t errlen) {
  const char *name = jstr(req, "jobQueueName");
  if (!name) return fail(err, errlen, CLIENT, "jobQueueName is required");
  if (!valid_name(name, 0))
    return fail(err, errlen, CLIENT, "jobQueueName '%s' must be 1-128 letters, digits, '-' or '_'", name);
  if (!json_object_get(req, "priority")) return fail(err, errlen, CLIENT, "priority is required");
  if (!json_object_get(req, "computeEnvironmentOrder"))
    return fail(err, errlen, CLIENT, "computeEnvironmentOrder is required");
  const char *state = jstr(req, "state") ? jstr(req, "state") : "ENABLED";
  if (strcmp(state, "ENABLED") && strcmp(state, "DISABLED"))
    return fail(err, errlen, CLIENT, "state must be ENABLED or DISABLED");
  struct config_view cv;
  int rc;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  char suffix[256], arn[512];
  snprintf(suffix, sizeof suffix, "job-queue/%s", name);
  barge_arn(suffix, arn, sizeof arn);
  json_t *b = json_object();
  if (json_object_get(cv.queues, arn)) rc = fail(err, errlen, CLIENT, "job queue %s already exists", name);
  if (!rc) rc = build_queue_parts(&cv, req, b, err, errlen);
  config_view_release(&cv);
  if (rc) {
    json_decref(b);
    return rc;
  }
  json_object_set_new(b, "jobQueueName", json_string(name));
  json_object_set_new(b, "jobQueueArn", json_string(arn));
  json_object_set_new(b, "state", json_string(state));
  json_object_set_new(b, "status", json_string("VALID"));
  json_object_set_new(b, "statusReason", json_string("JobQueue Healthy"));
  json_object_set(b, "priority", json_object_get(req, "priority"));
  json_object_set_new(b, "tags", tags_of(req));
  json_object_set_new(b, "createdAt", json_integer(now_ms()));
  return put_config(bc, "JobQueue", b, "jobQueueName", "jobQueueArn", resp, err, errlen);
}

static int update_queue(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                        size_t errlen) {
  const char *ref = jstr(req, "jobQueue");
  if (!ref) return fail(err, errlen, CLIENT, "jobQueue is required");
  struct config_view cv;
  int rc;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  json_t *cur = config_find(cv.queues, "jobQueueName", ref);
  if (!cur) {
    config_view_release(&cv);
    return fail(err, errlen, CLIENT, "job queue %s does not exist", ref);
  }
  json_t *b = json_deep_copy(cur);
  if (jstr(req, "schedulingPolicyArn") && !jstr(b, "schedulingPolicyArn"))
    rc = fail(err, errlen, CLIENT, "job queue %s was created without a scheduling policy and stays FIFO", ref);
  if (!rc) rc = build_queue_parts(&cv, req, b, err, errlen);
  config_view_release(&cv);
  const char *state = jstr(req, "state");
  if (!rc && state && strcmp(state, "ENABLED") && strcmp(state, "DISABLED"))
    rc = fail(err, errlen, CLIENT, "state must be ENABLED or DISABLED");
  if (rc) {
    json_decref(b);
    return rc;
  }
  if (state) json_object_set_new(b, "state", json_string(state));
  if (json_object_get(req, "priority")) json_object_set(b, "priority", json_object_get(req, "priority"));
  return put_config(bc, "JobQueue", b, "jobQueueName", "jobQueueArn", resp, err, errlen);
}

static int delete_queue(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                        size_t errlen) {
  const char *ref = jstr(req, "jobQueue");
  if (!ref) return fail(err, errlen, CLIENT, "jobQueue is required");
  struct config_view cv;
  int rc;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  json_t *q = config_find(cv.queues, "jobQueueName", ref);
  char arn[512] = "";
  if (!q) rc = fail(err, errlen, CLIENT, "job queue %s does not exist", ref);
  else if (strcmp(jstr(q, "state"), "DISABLED"))
    rc = fail(err, errlen, CLIENT, "job queue %s must be DISABLED before it is deleted", ref);
  else snprintf(arn, sizeof arn, "%s", jstr(q, "jobQueueArn"));
  config_view_release(&cv);
  if (!rc) rc = delete_resource(bc, arn, err, errlen);
  if (!rc) *resp = json_object();
  return rc;
}

/* ---------------- job definitions ---------------- */

/* The smallest attemptDurationSeconds (spec 9: 60, configurable with
 * BARGE_MIN_ATTEMPT_DURATION_SECONDS, e.g. for tests that watch a timeout fire). */
static long min_timeout_s(void) {
  const char *e = getenv("BARGE_MIN_ATTEMPT_DURATION_SECONDS");
  long v = e && *e ? atol(e) : 60;
  return v < 1 ? 1 : v;
}

static int validate_retry(const json_t *rs, const char *path, char *err, size_t errlen) {
  if (!rs || json_is_null(rs)) return 0;
  int rc;
  char p[96];
  snprintf(p, sizeof p, "%sretryStrategy.", path);
  if ((rc = check_int(rs, "attempts", 1, 10, 0, p, err, errlen))) return rc;
  json_t *rules = json_object_get(rs, "evaluateOnExit");
  if (json_array_size(rules) > 5) return fail(err, errlen, CLIENT, "%sevaluateOnExit takes at most 5 rules", p);
  if (json_array_size(rules) && !json_object_get(rs, "attempts"))
    return fail(err, errlen, CLIENT, "%sevaluateOnExit needs retryStrategy.attempts", p);
  size_t i;
  json_t *r;
  json_array_foreach(rules, i, r) {
    const char *act = jstr(r, "action");
    if (!act || (strcasecmp(act, "RETRY") && strcasecmp(act, "EXIT")))
      return fail(err, errlen, CLIENT, "%sevaluateOnExit[%zu].action must be RETRY or EXIT", p, i);
    static const char *const pats[] = {"onStatusReason", "onReason", "onExitCode", NULL};
    for (const char *const *k = pats; *k; k++) {
      const char *v = jstr(r, *k);
      if (!v) continue;
      if (strlen(v) > 512) return fail(err, errlen, CLIENT, "%sevaluateOnExit[%zu].%s is longer than 512 characters", p, i, *k);
      for (const char *c = v; *c; c++) {
        int ok = !strcmp(*k, "onExitCode") ? (isdigit((unsigned char)*c) || (*c == '*' && !c[1]))
                                           : (isalnum((unsigned char)*c) || strchr(".: \t", *c) || (*c == '*' && !c[1]));
        if (!ok) return fail(err, errlen, CLIENT, "%sevaluateOnExit[%zu].%s has a character not allowed: '%c'", p, i, *k, *c);
      }
    }
  }
  return 0;
}

/* The retry strategy with actions upper-cased as AWS returns them. */
static json_t *normalize_retry(const json_t *rs) {
  json_t *o = json_object();
  if (json_is_integer(json_object_get(rs, "attempts"))) json_object_set(o, "attempts", json_object_get(rs, "attempts"));
  json_t *rules = json_array();
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(rs, "evaluateOnExit"), i, r) {
    json_t *x = json_object();
    static const char *const pats[] = {"onStatusReason", "onReason", "onExitCode", NULL};
    copy_members(x, r, pats);
    json_object_set_new(x, "action", json_string(strcasecmp(jstr(r, "action"), "RETRY") ? "EXIT" : "RETRY"));
    json_array_append_new(rules, x);
  }
  json_object_set_new(o, "evaluateOnExit", rules);
  return o;
}

static int resources_of(const json_t *cp, int *v, int *m) {
  *v = *m = -1;
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(cp, "resourceRequirements"), i, r) {
    const char *t = jstr(r, "type"), *val = jstr(r, "value");
    if (!t) continue;
    if (!strcmp(t, "VCPU")) *v = val ? atoi(val) : 0;
    if (!strcmp(t, "MEMORY")) *m = val ? atoi(val) : 0;
  }
  if (*v < 0 && json_is_integer(json_object_get(cp, "vcpus"))) *v = (int)json_integer_value(json_object_get(cp, "vcpus"));
  if (*m < 0 && json_is_integer(json_object_get(cp, "memory"))) *m = (int)json_integer_value(json_object_get(cp, "memory"));
  return 0;
}

static int check_env(const json_t *env, const char *path, char *err, size_t errlen) {
  size_t i;
  json_t *e;
  json_array_foreach(env, i, e) {
    const char *n = jstr(e, "name");
    if (!n) return fail(err, errlen, CLIENT, "%s[%zu].name is required", path, i);
    if (!strncmp(n, "AWS_BATCH", 9))
      return fail(err, errlen, CLIENT, "%s[%zu].name %s: names starting with AWS_BATCH are reserved", path, i, n);
  }
  return 0;
}

static int register_jd(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                       size_t errlen) {
  const char *name = jstr(req, "jobDefinitionName"), *type = jstr(req, "type");
  int rc;
  if ((rc = reject_out_of_scope(req, err, errlen))) return rc;
  if (!name) return fail(err, errlen, CLIENT, "jobDefinitionName is required");
  if (!valid_name(name, 0))
    return fail(err, errlen, CLIENT, "jobDefinitionName '%s' must be 1-128 letters, digits, '-' or '_'", name);
  if (!type) return fail(err, errlen, CLIENT, "type is required (container)");
  if (strcmp(type, "container"))
    return fail(err, errlen, CLIENT, "type %s is not supported: Barge runs container job definitions (multinode is out of scope)", type);
  json_t *cp = json_object_get(req, "containerProperties");
  if (!json_is_object(cp)) return fail(err, errlen, CLIENT, "containerProperties is required");
  int v, m;
  resources_of(cp, &v, &m);
  if (v < 1) return fail(err, errlen, CLIENT, "containerProperties needs a VCPU resourceRequirement (or vcpus) of at least 1");
  if (m < 4) return fail(err, errlen, CLIENT, "containerProperties needs a MEMORY resourceRequirement (or memory) of at least 4 MiB");
  if ((rc = check_env(json_object_get(cp, "environment"), "containerProperties.environment", err, errlen))) return rc;
  json_t *img = json_object_get(cp, "image");
  if (json_is_string(img) && strlen(json_string_value(img)) > 255)
    return fail(err, errlen, CLIENT, "containerProperties.image is longer than 255 characters");
  if ((rc = validate_retry(json_object_get(req, "retryStrategy"), "", err, errlen))) return rc;
  if ((rc = check_int(json_object_get(req, "timeout"), "attemptDurationSeconds", min_timeout_s(), 0x7fffffff, 0, "timeout.", err, errlen))) return rc;
  if ((rc = check_int(req, "schedulingPriority", 0, 9999, 0, "", err, errlen))) return rc;
  json_t *pc = json_object_get(req, "platformCapabilities");
  size_t i;
  json_t *x;
  json_array_foreach(pc, i, x) if (!json_is_string(x) || strcmp(json_string_value(x), "EC2"))
    return fail(err, errlen, CLIENT, "platformCapabilities: only EC2 is supported (Fargate is out of scope)");
  struct config_view cv;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  int rev = 0;
  const char *k;
  json_object_foreach(cv.jds, k, x) {
    if (!strcmp(jstr(x, "jobDefinitionName"), name) && json_integer_value(json_object_get(x, "revision")) > rev)
      rev = (int)json_integer_value(json_object_get(x, "revision"));
  }
  config_view_release(&cv);
  rev++;
  char suffix[256], arn[512];
  snprintf(suffix, sizeof suffix, "job-definition/%s:%d", name, rev);
  barge_arn(suffix, arn, sizeof arn);
  json_t *c = json_object();
  static const char *const cmembers[] = {"image", "command", "environment", "resourceRequirements", "vcpus", "memory", "jobRoleArn", "executionRoleArn", NULL};
  copy_members(c, cp, cmembers);
  json_t *stored = json_deep_copy(cp);
  for (const char *const *kk = cmembers; *kk; kk++) json_object_del(stored, *kk);
  char *text = json_dumps(stored, JSON_COMPACT | JSON_SORT_KEYS);
  json_object_set_new(c, "storedJson", json_string(text));
  free(text);
  json_decref(stored);
  json_t *b = json_object();
  json_object_set_new(b, "jobDefinitionName", json_string(name));
  json_object_set_new(b, "jobDefinitionArn", json_string(arn));
  json_object_set_new(b, "revision", json_integer(rev));
  json_object_set_new(b, "status", json_string("ACTIVE"));
  json_object_set_new(b, "type", json_string("container"));
  json_object_set_new(b, "parameters", json_is_object(json_object_get(req, "parameters")) ? json_deep_copy(json_object_get(req, "parameters")) : json_object());
  json_object_set_new(b, "containerProperties", c);
  if (json_is_object(json_object_get(req, "retryStrategy"))) json_object_set_new(b, "retryStrategy", normalize_retry(json_object_get(req, "retryStrategy")));
  if (json_is_object(json_object_get(req, "timeout"))) json_object_set(b, "timeout", json_object_get(req, "timeout"));
  static const char *const copy[] = {"schedulingPriority", "propagateTags", NULL};
  copy_members(b, req, copy);
  json_object_set_new(b, "platformCapabilities", json_pack("[s]", "EC2"));
  json_object_set_new(b, "tags", tags_of(req));
  json_object_set_new(b, "createdAt", json_integer(now_ms()));
  rc = put_config(bc, "JobDefinition", b, "jobDefinitionName", "jobDefinitionArn", resp, err, errlen);
  if (!rc) json_object_set_new(*resp, "revision", json_integer(rev));
  return rc;
}

static int deregister_jd(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                         size_t errlen) {
  const char *ref = jstr(req, "jobDefinition");
  if (!ref) return fail(err, errlen, CLIENT, "jobDefinition is required (name:revision or ARN)");
  struct config_view cv;
  int rc;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  json_t *jd = strchr(ref, ':') ? config_find_jd(&cv, ref) : NULL;
  json_t *b = jd ? json_deep_copy(jd) : NULL;
  config_view_release(&cv);
  if (!b) return fail(err, errlen, CLIENT, "job definition %s does not exist (give name:revision or ARN)", ref);
  json_object_set_new(b, "status", json_string("INACTIVE"));
  return put_config(bc, "JobDefinition", b, NULL, "jobDefinitionArn", resp, err, errlen);
}

/* ---------------- scheduling policies ---------------- */

static int check_fairshare(const json_t *fp, char *err, size_t errlen) {
  if (!fp || json_is_null(fp)) return 0;
  int rc;
  if ((rc = check_int(fp, "shareDecaySeconds", 0, 604800, 0, "fairsharePolicy.", err, errlen)) ||
      (rc = check_int(fp, "computeReservation", 0, 99, 0, "fairsharePolicy.", err, errlen)))
    return rc;
  size_t i, k;
  json_t *s, *t;
  json_t *sd = json_object_get(fp, "shareDistribution");
  json_array_foreach(sd, i, s) {
    const char *id = jstr(s, "shareIdentifier");
    if (!id || !*id || strlen(id) > 255)
      return fail(err, errlen, CLIENT, "fairsharePolicy.shareDistribution[%zu].shareIdentifier is required (1-255 characters)", i);
    json_t *w = json_object_get(s, "weightFactor");
    if (w && (!json_is_number(w) || json_number_value(w) < 0.0001 || json_number_value(w) > 999.9999))
      return fail(err, errlen, CLIENT, "fairsharePolicy.shareDistribution[%zu].weightFactor must be within 0.0001..999.9999", i);
    json_array_foreach(sd, k, t) {
      if (k <= i) continue;
      const char *o = jstr(t, "shareIdentifier");
      if (!o) continue;
      size_t la = strlen(id), lb = strlen(o);
      int pa = la && id[la - 1] == '*', pb = lb && o[lb - 1] == '*';
      int overlap = !strcmp(id, o) || (pa && !strncmp(id, o, la - 1)) || (pb && !strncmp(o, id, lb - 1));
      if (overlap) return fail(err, errlen, CLIENT, "fairsharePolicy.shareDistribution: %s and %s overlap", id, o);
    }
  }
  return 0;
}

static json_t *fairshare_body(const json_t *fp) {
  json_t *o = json_object();
  json_object_set_new(o, "shareDecaySeconds", json_integer(json_integer_value(json_object_get(fp, "shareDecaySeconds"))));
  json_object_set_new(o, "computeReservation", json_integer(json_integer_value(json_object_get(fp, "computeReservation"))));
  json_t *sd = json_array();
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(fp, "shareDistribution"), i, s) {
    json_t *w = json_object_get(s, "weightFactor");
    json_array_append_new(sd, json_pack("{s:s, s:f}", "shareIdentifier", jstr(s, "shareIdentifier"), "weightFactor", w ? json_number_value(w) : 1.0));
  }
  json_object_set_new(o, "shareDistribution", sd);
  return o;
}

static int create_policy(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                         size_t errlen) {
  const char *name = jstr(req, "name");
  if (!name) return fail(err, errlen, CLIENT, "name is required");
  if (!valid_name(name, 0)) return fail(err, errlen, CLIENT, "name '%s' must be 1-128 letters, digits, '-' or '_'", name);
  int rc;
  if ((rc = check_fairshare(json_object_get(req, "fairsharePolicy"), err, errlen))) return rc;
  struct config_view cv;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  char suffix[256], arn[512];
  snprintf(suffix, sizeof suffix, "scheduling-policy/%s", name);
  barge_arn(suffix, arn, sizeof arn);
  int exists = json_object_get(cv.policies, arn) != NULL;
  config_view_release(&cv);
  if (exists) return fail(err, errlen, CLIENT, "scheduling policy %s already exists", name);
  json_t *b = json_pack("{s:s, s:s, s:o, s:I}", "name", name, "arn", arn, "tags",
                        tags_of(req),
                        "createdAt", (json_int_t)now_ms());
  json_object_set_new(b, "fairsharePolicy", fairshare_body(json_object_get(req, "fairsharePolicy")));
  return put_config(bc, "SchedulingPolicy", b, "name", "arn", resp, err, errlen);
}

static int update_policy(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                         size_t errlen) {
  const char *arn = jstr(req, "arn");
  if (!arn) return fail(err, errlen, CLIENT, "arn is required");
  int rc;
  if ((rc = check_fairshare(json_object_get(req, "fairsharePolicy"), err, errlen))) return rc;
  struct config_view cv;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  json_t *cur = json_object_get(cv.policies, arn);
  json_t *b = cur ? json_deep_copy(cur) : NULL;
  config_view_release(&cv);
  if (!b) return fail(err, errlen, CLIENT, "scheduling policy %s does not exist", arn);
  if (json_object_get(req, "fairsharePolicy"))
    json_object_set_new(b, "fairsharePolicy", fairshare_body(json_object_get(req, "fairsharePolicy")));
  return put_config(bc, "SchedulingPolicy", b, NULL, "arn", resp, err, errlen);
}

static int delete_policy(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                         size_t errlen) {
  const char *arn = jstr(req, "arn");
  if (!arn) return fail(err, errlen, CLIENT, "arn is required");
  struct config_view cv;
  int rc;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  if (!json_object_get(cv.policies, arn)) rc = fail(err, errlen, CLIENT, "scheduling policy %s does not exist", arn);
  const char *k;
  json_t *q;
  json_object_foreach(cv.queues, k, q) {
    if (!rc && jstr(q, "schedulingPolicyArn") && !strcmp(jstr(q, "schedulingPolicyArn"), arn))
      rc = fail(err, errlen, CLIENT, "scheduling policy %s is used by job queue %s", arn, jstr(q, "jobQueueName"));
  }
  config_view_release(&cv);
  if (!rc) rc = delete_resource(bc, arn, err, errlen);
  if (!rc) *resp = json_object();
  return rc;
}

/* ---------------- jobs ---------------- */

/* Validates a SubmitJob against the configuration and builds the request body (with the new
 * job id). Shared by submit-job and the bulk submitter. */
int control_prepare_submit(const struct config_view *cv, const json_t *req, json_t **body,
                           char *err, size_t errlen) {
  int rc;
  *body = NULL;
  if ((rc = reject_out_of_scope(req, err, errlen))) return rc;
  const char *name = jstr(req, "jobName"), *q = jstr(req, "jobQueue"), *jd = jstr(req, "jobDefinition");
  if (!name) return fail(err, errlen, CLIENT, "jobName is required");
  if (!valid_name(name, 1))
    return fail(err, errlen, CLIENT, "jobName '%s' must be 1-128 letters, digits, '-' or '_', starting with a letter or digit", name);
  if (!q) return fail(err, errlen, CLIENT, "jobQueue is required");
  if (!jd) return fail(err, errlen, CLIENT, "jobDefinition is required");
  json_t *queue = config_find(cv->queues, "jobQueueName", q);
  if (!queue) return fail(err, errlen, CLIENT, "job queue %s does not exist", q);
  if (strcmp(jstr(queue, "state"), "ENABLED"))
    return fail(err, errlen, CLIENT, "job queue %s is DISABLED and takes no new jobs", q);
  json_t *def = config_find_jd(cv, jd);
  if (!def) return fail(err, errlen, CLIENT, "job definition %s does not exist or has no ACTIVE revision", jd);
  if (strcmp(jstr(def, "status"), "ACTIVE")) return fail(err, errlen, CLIENT, "job definition %s is INACTIVE", jd);
  json_t *ap = json_object_get(req, "arrayProperties");
  int size = 0;
  if (ap && !json_is_null(ap)) {
    if ((rc = check_int(ap, "size", 2, 10000, 1, "arrayProperties.", err, errlen))) return rc;
    size = (int)json_integer_value(json_object_get(ap, "size"));
  }
  json_t *deps = json_object_get(req, "dependsOn");
  if (json_array_size(deps) > 20) return fail(err, errlen, CLIENT, "dependsOn takes at most 20 jobs");
  size_t i;
  json_t *d;
  json_array_foreach(deps, i, d) {
    const char *type = jstr(d, "type"), *id = jstr(d, "jobId");
    if (type && strcmp(type, "N_TO_N") && strcmp(type, "SEQUENTIAL"))
      return fail(err, errlen, CLIENT, "dependsOn[%zu].type must be N_TO_N or SEQUENTIAL", i);
    if (type && !strcmp(type, "SEQUENTIAL") && (id || !size))
      return fail(err, errlen, CLIENT, "dependsOn[%zu]: SEQUENTIAL takes no jobId and applies to array jobs only", i);
    if (!id && !(type && !strcmp(type, "SEQUENTIAL")))
      return fail(err, errlen, CLIENT, "dependsOn[%zu].jobId is required", i);
  }
  json_t *ov = json_object_get(req, "containerOverrides");
  if (ov && !json_is_null(ov)) {
    if (json_object_get(ov, "instanceType"))
      return fail(err, errlen, CLIENT, "containerOverrides.instanceType is for multi-node jobs, which Barge does not run");
    if ((rc = check_env(json_object_get(ov, "environment"), "containerOverrides.environment", err, errlen))) return rc;
    json_t *cp = json_object_get(def, "containerProperties");
    size_t k;
    json_t *r;
    json_array_foreach(json_object_get(cp, "resourceRequirements"), k, r) {
      const char *t = jstr(r, "type");
      if (t && !strcmp(t, "VCPU") && json_object_get(ov, "vcpus"))
        return fail(err, errlen, CLIENT, "containerOverrides.vcpus: the job definition sets VCPU through resourceRequirements; override resourceRequirements instead");
      if (t && !strcmp(t, "MEMORY") && json_object_get(ov, "memory"))
        return fail(err, errlen, CLIENT, "containerOverrides.memory: the job definition sets MEMORY through resourceRequirements; override resourceRequirements instead");
    }
  }
  if ((rc = validate_retry(json_object_get(req, "retryStrategy"), "", err, errlen))) return rc;
  if ((rc = check_int(json_object_get(req, "timeout"), "attemptDurationSeconds", min_timeout_s(), 0x7fffffff, 0, "timeout.", err, errlen))) return rc;
  if ((rc = check_int(req, "schedulingPriorityOverride", 0, 9999, 0, "", err, errlen))) return rc;
  const char *share = jstr(req, "shareIdentifier");
  int fair = jstr(queue, "schedulingPolicyArn") != NULL;
  if (fair && !share) return fail(err, errlen, CLIENT, "shareIdentifier is required on fair-share job queue %s", q);
  if (!fair && share) return fail(err, errlen, CLIENT, "shareIdentifier is not allowed on FIFO job queue %s", q);
  char id[37];
  uuid_v4(id);
  json_t *b = json_object();
  json_object_set_new(b, "jobId", json_string(id));
  json_object_set_new(b, "jobName", json_string(name));
  json_object_set_new(b, "jobQueue", json_string(jstr(queue, "jobQueueArn")));
  json_object_set_new(b, "jobDefinition", json_string(jstr(def, "jobDefinitionArn")));
  if (size) json_object_set_new(b, "arrayProperties", json_pack("{s:i}", "size", size));
  if (deps) json_object_set(b, "dependsOn", deps);
  static const char *const copy[] = {"parameters", "timeout", "propagateTags", "schedulingPriorityOverride", "shareIdentifier", "tags", NULL};
  copy_members(b, req, copy);
  if (ov && !json_is_null(ov)) {
    json_t *o = json_object();
    static const char *const om[] = {"command", "environment", "resourceRequirements", "vcpus", "memory", NULL};
    copy_members(o, ov, om);
    json_object_set_new(b, "containerOverrides", o);
  }
  if (json_is_object(json_object_get(req, "retryStrategy")))
    json_object_set_new(b, "retryStrategy", normalize_retry(json_object_get(req, "retryStrategy")));
  *body = b;
  return 0;
}

json_t *control_request_event(const char *kind, json_t *body /* @owned */) {
  const char *id = jstr(body, "jobId");
  return json_pack("{s:o, s:s, s:{s:o}}", "header", bus_header("cli", id ? id : "", now_ms()),
                   "principal", getenv("USER") ? getenv("USER") : "anonymous", "body", kind, body);
}

/* Spec 6.1 (Barge decision): a dependsOn id that does not exist is a ClientException at
 * submission. Known jobs are in barge.jobs; one submitted a moment ago may only be in
 * barge.requests yet, so the recent tail of that topic counts too. */
static int check_dependencies_exist(const struct bus_conf *bc, const json_t *body, char *err,
                                    size_t errlen) {
  json_t *deps = json_object_get(body, "dependsOn");
  const char *ids[20];
  size_t n = 0, i;
  json_t *d;
  json_array_foreach(deps, i, d) {
    const char *id = jstr(d, "jobId");
    if (id && n < 20) ids[n++] = id;
  }
  if (!n) return 0;
  int found[20];
  char e[512];
  if (jobs_exist(bc, ids, n, found, 100000, e, sizeof e))
    return fail(err, errlen, SERVER, "checking dependsOn: %s", e);
  for (i = 0; i < n; i++)
    if (!found[i]) return fail(err, errlen, CLIENT, "dependsOn: job %s does not exist", ids[i]);
  return 0;
}

static int submit_job(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                      size_t errlen) {
  struct config_view cv;
  int rc;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  json_t *body = NULL;
  rc = control_prepare_submit(&cv, req, &body, err, errlen);
  config_view_release(&cv);
  if (rc) return rc;
  if ((rc = check_dependencies_exist(bc, body, err, errlen))) {
    json_decref(body);
    return rc;
  }
  char id[64], name[256];
  snprintf(id, sizeof id, "%s", jstr(body, "jobId"));
  snprintf(name, sizeof name, "%s", jstr(body, "jobName"));
  json_t *ev = control_request_event("SubmitJob", body);
  rc = publish(bc, TOPIC_REQUESTS, id, ev, err, errlen);
  json_decref(ev);
  if (!rc) {
    char suffix[128], arn[512];
    snprintf(suffix, sizeof suffix, "job/%s", id);
    barge_arn(suffix, arn, sizeof arn);
    *resp = json_pack("{s:s, s:s, s:s}", "jobArn", arn, "jobName", name, "jobId", id);
  }
  return rc;
}

static int stop_job(const struct bus_conf *bc, const char *kind, const json_t *req, json_t **resp,
                    char *err, size_t errlen) {
  const char *id = jstr(req, "jobId"), *reason = jstr(req, "reason");
  if (!id) return fail(err, errlen, CLIENT, "jobId is required");
  if (!reason) return fail(err, errlen, CLIENT, "reason is required");
  if (strlen(reason) > 1024) return fail(err, errlen, CLIENT, "reason is longer than 1024 characters");
  char key[64];
  snprintf(key, sizeof key, "%.36s", id); /* an array child travels with its parent */
  json_t *ev = control_request_event(kind, json_pack("{s:s, s:s}", "jobId", id, "reason", reason));
  int rc = publish(bc, TOPIC_REQUESTS, key, ev, err, errlen);
  json_decref(ev);
  if (!rc) *resp = json_object();
  return rc;
}

int control_call(const struct bus_conf *bc, const char *api, const json_t *req, json_t **resp,
                 char *err, size_t errlen) {
  *resp = NULL;
  if (!strcmp(api, "CreateComputeEnvironment")) return create_ce(bc, req, resp, err, errlen);
  if (!strcmp(api, "UpdateComputeEnvironment")) return update_ce(bc, req, resp, err, errlen);
  if (!strcmp(api, "DeleteComputeEnvironment")) return delete_ce(bc, req, resp, err, errlen);
  if (!strcmp(api, "CreateJobQueue")) return create_queue(bc, req, resp, err, errlen);
  if (!strcmp(api, "UpdateJobQueue")) return update_queue(bc, req, resp, err, errlen);
  if (!strcmp(api, "DeleteJobQueue")) return delete_queue(bc, req, resp, err, errlen);
  if (!strcmp(api, "RegisterJobDefinition")) return register_jd(bc, req, resp, err, errlen);
  if (!strcmp(api, "DeregisterJobDefinition")) return deregister_jd(bc, req, resp, err, errlen);
  if (!strcmp(api, "CreateSchedulingPolicy")) return create_policy(bc, req, resp, err, errlen);
  if (!strcmp(api, "UpdateSchedulingPolicy")) return update_policy(bc, req, resp, err, errlen);
  if (!strcmp(api, "DeleteSchedulingPolicy")) return delete_policy(bc, req, resp, err, errlen);
  if (!strcmp(api, "SubmitJob")) return submit_job(bc, req, resp, err, errlen);
  if (!strcmp(api, "CancelJob")) return stop_job(bc, "CancelJob", req, resp, err, errlen);
  if (!strcmp(api, "TerminateJob")) return stop_job(bc, "TerminateJob", req, resp, err, errlen);
  return -1;
}
