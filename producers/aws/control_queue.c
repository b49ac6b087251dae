/* control_queue.c: CreateJobQueue, UpdateJobQueue, DeleteJobQueue (validations; control.h). */
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "control_int.h"

/* The architecture a managed CE's instanceTypes resolve to (the first type's; a CE holds one,
 * control_ce.c); NULL for an unmanaged CE, whose instances the operator brings. */
static const char *ce_arch(const json_t *ce) {
  json_t *cr = json_object_get(ce, "computeResources");
  if (!json_is_object(cr)) return NULL;
  const struct catalog *c = catalog_default();
  int *idx = NULL;
  size_t n = catalog_resolve(c, json_object_get(cr, "instanceTypes"), &idx, NULL, NULL);
  const char *arch = n ? c->types[idx[0]].arch : NULL;
  free(idx);
  return arch;
}

static int build_queue_parts(const struct config_view *cv, const json_t *req, json_t *b,
                             char *err, size_t errlen) {
  int rc;
  if ((rc = ctl_check_int(req, "priority", 0, 1000, 0, "", err, errlen))) return rc;
  json_t *ceo = json_object_get(req, "computeEnvironmentOrder");
  if (ceo) {
    if (!json_is_array(ceo) || json_array_size(ceo) < 1 || json_array_size(ceo) > 3)
      return fail(err, errlen, CLIENT, "computeEnvironmentOrder must list 1 to 3 compute environments");
    json_t *out = json_array();
    size_t i;
    json_t *o;
    const char *arch0 = NULL, *arch0_ce = NULL; /* the first managed CE's architecture */
    json_array_foreach(ceo, i, o) {
      json_t *ce = config_find(cv->ces, "computeEnvironmentName", jget_str(o, "computeEnvironment"));
      if (!ce) {
        json_decref(out);
        return fail(err, errlen, CLIENT, "computeEnvironmentOrder[%zu].computeEnvironment %s does not exist", i, jget_str(o, "computeEnvironment") ? jget_str(o, "computeEnvironment") : "(missing)");
      }
      if (strcmp(jget_str(ce, "status"), "VALID")) {
        json_decref(out);
        return fail(err, errlen, CLIENT, "compute environment %s is not VALID", jget_str(ce, "computeEnvironmentName"));
      }
      if (!json_is_integer(json_object_get(o, "order"))) {
        json_decref(out);
        return fail(err, errlen, CLIENT, "computeEnvironmentOrder[%zu].order is required", i);
      }
      /* by name or ARN, the same CE twice (the scheduler would try it twice) */
      size_t k;
      json_t *prev;
      json_array_foreach(out, k, prev) {
        if (strcmp(jget_str(prev, "computeEnvironment"), jget_str(ce, "computeEnvironmentArn"))) continue;
        json_decref(out);
        return fail(err, errlen, CLIENT,
                    "computeEnvironmentOrder[%zu].computeEnvironment: compute environment %s is already listed at "
                    "computeEnvironmentOrder[%zu]; each may appear once",
                    i, jget_str(ce, "computeEnvironmentName"), k);
      }
      /* AWS: a queue's compute environments share one architecture; a queue of an x86_64 and
       * an arm64 CE used to be accepted, and a job ran on either */
      const char *arch = ce_arch(ce);
      if (arch && arch0 && strcmp(arch, arch0)) {
        json_decref(out);
        return fail(err, errlen, CLIENT,
                    "computeEnvironmentOrder[%zu].computeEnvironment: compute environment %s launches %s instances "
                    "and %s launches %s; a job queue's compute environments must share one architecture",
                    i, jget_str(ce, "computeEnvironmentName"), arch, arch0_ce, arch0);
      }
      if (arch && !arch0) arch0 = arch, arch0_ce = jget_str(ce, "computeEnvironmentName");
      json_array_append_new(out, json_pack("{s:O, s:s}", "order", json_object_get(o, "order"), "computeEnvironment", jget_str(ce, "computeEnvironmentArn")));
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
      if (!ctl_in_list(jget_str(a, "reason"), reasons))
        return fail(err, errlen, CLIENT, "jobStateTimeLimitActions[%zu].reason must be one of MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE, MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT, CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", i);
      if (!jget_str(a, "state") || strcmp(jget_str(a, "state"), "RUNNABLE"))
        return fail(err, errlen, CLIENT, "jobStateTimeLimitActions[%zu].state must be RUNNABLE", i);
      if (!jget_str(a, "action") || strcmp(jget_str(a, "action"), "CANCEL"))
        return fail(err, errlen, CLIENT, "jobStateTimeLimitActions[%zu].action must be CANCEL (TERMINATE is for SageMaker queues)", i);
      char path[64];
      snprintf(path, sizeof path, "jobStateTimeLimitActions[%zu].", i);
      if ((rc = ctl_check_int(a, "maxTimeSeconds", 600, 86400, 1, path, err, errlen))) return rc;
    }
    json_object_set(b, "jobStateTimeLimitActions", tla);
  }
  const char *pol = jget_str(req, "schedulingPolicyArn");
  if (pol && !*pol) /* was "scheduling policy  does not exist" */
    return fail(err, errlen, CLIENT,
                "schedulingPolicyArn is empty: name a scheduling policy (a fair-share queue's policy can be replaced, "
                "never removed; a FIFO queue has none)");
  if (pol) {
    json_t *p = barge_arn_get(cv->policies, pol);
    if (!p) return ctl_policy_missing(cv, "schedulingPolicyArn", pol, err, errlen);
    json_object_set(b, "schedulingPolicyArn", json_object_get(p, "arn"));
  }
  return 0;
}

/* jobQueueType (CreateJobQueue only: UpdateJobQueueRequest has none in AWS's model). Every Barge
 * queue is what AWS calls an ECS queue, as its compute environments are EC2, SPOT or UNMANAGED;
 * absent or "ECS" is that (docs/api.md, "Job queue types"). */
static int check_queue_type(const json_t *req, char *err, size_t errlen) {
  static const struct {
    const char *type, *scope;
  } oos[] = {{"ECS_FARGATE", "Fargate"}, {"EKS", "EKS"},
             {"SAGEMAKER_TRAINING", "service environments and service jobs"}};
  json_t *v = json_object_get(req, "jobQueueType");
  if (!v || json_is_null(v)) return 0;
  const char *t = json_string_value(v);
  if (t && !strcmp(t, "ECS")) return 0;
  for (size_t i = 0; t && i < sizeof oos / sizeof *oos; i++)
    if (!strcmp(t, oos[i].type))
      return fail(err, errlen, CLIENT,
                  "jobQueueType %s is not supported by Barge (out of scope: %s); Barge runs EC2, SPOT and UNMANAGED "
                  "compute environments only, whose queues are ECS: leave jobQueueType out or give ECS",
                  t, oos[i].scope);
  char *shown = t ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
  int rc = fail(err, errlen, CLIENT,
                "jobQueueType %s%s%s is not a job queue type: give ECS (upper case; EKS, ECS_FARGATE and "
                "SAGEMAKER_TRAINING are out of scope)",
                t ? "'" : "", t ? t : shown ? shown : "?", t ? "'" : "");
  free(shown);
  return rc;
}

int control_create_job_queue(struct control_conf *cc, const json_t *req, struct control_write *w,
                             char *err, size_t errlen) {
  const char *name = jget_str(req, "jobQueueName");
  if (!name) return fail(err, errlen, CLIENT, "jobQueueName is required");
  if (!ctl_valid_name(name, 0))
    return fail(err, errlen, CLIENT, "jobQueueName '%s' must be 1-128 letters, digits, '-' or '_'", name);
  if (!json_object_get(req, "priority")) return fail(err, errlen, CLIENT, "priority is required");
  if (!json_object_get(req, "computeEnvironmentOrder"))
    return fail(err, errlen, CLIENT, "computeEnvironmentOrder is required");
  const char *state = jget_str(req, "state") ? jget_str(req, "state") : "ENABLED";
  if (!ctl_valid_state(state)) return fail(err, errlen, CLIENT, "state must be ENABLED or DISABLED");
  int rc;
  if ((rc = check_queue_type(req, err, errlen))) return rc;
  const struct config_view *cv;
  if ((rc = control_conf_get(cc, &cv, err, errlen))) return rc;
  char arn[512];
  ctl_arn(cc, "job-queue", name, arn, sizeof arn);
  if (config_find(cv->queues, "jobQueueName", name)) return fail(err, errlen, CLIENT, "job queue %s already exists", name);
  json_t *b = json_object();
  if ((rc = build_queue_parts(cv, req, b, err, errlen))) {
    json_decref(b);
    return rc;
  }
  json_object_set_new(b, "jobQueueName", json_string(name));
  json_object_set_new(b, "jobQueueArn", json_string(arn));
  json_object_set_new(b, "state", json_string(state));
  json_object_set_new(b, "status", json_string("VALID"));
  json_object_set_new(b, "statusReason", json_string("JobQueue Healthy"));
  json_object_set(b, "priority", json_object_get(req, "priority"));
  json_object_set_new(b, "tags", ctl_tags_of(req));
  json_object_set_new(b, "createdAt", json_integer(now_ms()));
  ctl_put_config(w, "JobQueue", b, "jobQueueName", "jobQueueArn");
  return 0;
}

int control_update_job_queue(struct control_conf *cc, const json_t *req, struct control_write *w,
                             char *err, size_t errlen) {
  const char *ref = jget_str(req, "jobQueue");
  const struct config_view *cv;
  json_t *cur;
  int rc;
  if ((rc = ctl_find(cc, req, CTL_QUEUES, &cv, &cur, err, errlen))) return rc;
  json_t *b = json_deep_copy(cur);
  const char *state = jget_str(req, "state");
  if (jget_str(req, "schedulingPolicyArn") && !jget_str(b, "schedulingPolicyArn"))
    rc = fail(err, errlen, CLIENT, "job queue %s was created without a scheduling policy and stays FIFO", ref);
  if (!rc) rc = build_queue_parts(cv, req, b, err, errlen);
  if (!rc && state && !ctl_valid_state(state))
    rc = fail(err, errlen, CLIENT, "state must be ENABLED or DISABLED");
  if (rc) {
    json_decref(b);
    return rc;
  }
  if (state) json_object_set_new(b, "state", json_string(state));
  if (json_object_get(req, "priority")) json_object_set(b, "priority", json_object_get(req, "priority"));
  ctl_put_config(w, "JobQueue", b, "jobQueueName", "jobQueueArn");
  return 0;
}

int control_delete_job_queue(struct control_conf *cc, const json_t *req, struct control_write *w,
                             char *err, size_t errlen) {
  const struct config_view *cv;
  json_t *q;
  int rc;
  if ((rc = ctl_find(cc, req, CTL_QUEUES, &cv, &q, err, errlen)) ||
      (rc = ctl_check_disabled(q, "job queue", jget_str(req, "jobQueue"), err, errlen)))
    return rc;
  ctl_delete_config(w, jget_str(q, "jobQueueArn"));
  return 0;
}
