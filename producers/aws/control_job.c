/* control_job.c: SubmitJob, CancelJob, TerminateJob (validations; control.h). A job request
 * travels on barge.requests keyed by the job id; the scheduler decides what it means. */
#include <stdlib.h>
#include <string.h>

#include "control_int.h"

/* Validates a SubmitJob against the configuration and builds the request body (with the new
 * job id). Shared by submit-job and the bulk submitter. */
int control_prepare_submit(const struct config_view *cv, const json_t *req, json_t **body,
                           char *err, size_t errlen) {
  int rc;
  *body = NULL;
  /* the model check of every operation (aws_op_call_as), here too for the bulk submitter and the
   * client library, which call this directly */
  if ((rc = aws_check_request(aws_op_find_api("SubmitJob"), req, err, errlen)) ||
      (rc = ctl_reject_out_of_scope(req, err, errlen)))
    return rc;
  const char *name = jget_str(req, "jobName"), *q = jget_str(req, "jobQueue"), *jd = jget_str(req, "jobDefinition");
  if (!name) return fail(err, errlen, CLIENT, "jobName is required");
  if (!ctl_valid_name(name, 1))
    return fail(err, errlen, CLIENT, "jobName '%s' must be 1-128 letters, digits, '-' or '_', starting with a letter or digit", name);
  if (!q) return fail(err, errlen, CLIENT, "jobQueue is required");
  if (!jd) return fail(err, errlen, CLIENT, "jobDefinition is required");
  /* an empty one was looked up, and answered "job queue  does not exist" */
  if (!*q) return fail(err, errlen, CLIENT, "jobQueue is empty: give a job queue's name or ARN");
  if (!*jd) return fail(err, errlen, CLIENT, "jobDefinition is empty: give name, name:revision or an ARN");
  json_t *queue = config_find(cv->queues, "jobQueueName", q);
  if (!queue) return fail(err, errlen, CLIENT, "job queue %s does not exist", q);
  if (strcmp(jget_str(queue, "state"), "ENABLED"))
    return fail(err, errlen, CLIENT, "job queue %s is DISABLED and takes no new jobs", q);
  json_t *def = config_find_jd(cv, jd);
  if (!def) return fail(err, errlen, CLIENT, "job definition %s does not exist or has no ACTIVE revision", jd);
  if (strcmp(jget_str(def, "status"), "ACTIVE")) return fail(err, errlen, CLIENT, "job definition %s is INACTIVE", jd);
  json_t *ap = json_object_get(req, "arrayProperties");
  int size = 0;
  if (!ctl_absent(ap)) {
    if ((rc = ctl_check_int(ap, "size", 2, 10000, 1, "arrayProperties.", err, errlen))) return rc;
    size = (int)json_integer_value(json_object_get(ap, "size"));
  }
  json_t *deps = json_object_get(req, "dependsOn");
  if (json_array_size(deps) > 20) return fail(err, errlen, CLIENT, "dependsOn takes at most 20 jobs");
  size_t i;
  json_t *d;
  json_array_foreach(deps, i, d) {
    const char *type = jget_str(d, "type"), *id = jget_str(d, "jobId");
    if (type && strcmp(type, "N_TO_N") && strcmp(type, "SEQUENTIAL"))
      return fail(err, errlen, CLIENT, "dependsOn[%zu].type must be N_TO_N or SEQUENTIAL", i);
    if (type && !strcmp(type, "SEQUENTIAL") && (id || !size))
      return fail(err, errlen, CLIENT, "dependsOn[%zu]: SEQUENTIAL takes no jobId and applies to array jobs only", i);
    if (!id && !(type && !strcmp(type, "SEQUENTIAL")))
      return fail(err, errlen, CLIENT, "dependsOn[%zu].jobId is required", i);
    if (id && !*id) /* was looked up, and refused as "dependsOn: job  does not exist" */
      return fail(err, errlen, CLIENT, "dependsOn[%zu].jobId is empty: give the id of the job to wait for", i);
  }
  json_t *ov = json_object_get(req, "containerOverrides");
  if (ov && !json_is_null(ov)) {
    if (json_object_get(ov, "instanceType"))
      return fail(err, errlen, CLIENT, "containerOverrides.instanceType is not supported by Barge (no instance-type choice per job)");
    if ((rc = ctl_check_command_override(json_object_get(ov, "command"), "containerOverrides.command", err, errlen)) ||
        (rc = ctl_check_env(json_object_get(ov, "environment"), "containerOverrides.environment", err, errlen)) ||
        (rc = ctl_check_resources(ov, "containerOverrides", err, errlen)))
      return rc;
    json_t *cp = json_object_get(def, "containerProperties");
    size_t k;
    json_t *r;
    json_array_foreach(json_object_get(cp, "resourceRequirements"), k, r) {
      const char *t = jget_str(r, "type");
      if (t && !strcmp(t, "VCPU") && json_object_get(ov, "vcpus"))
        return fail(err, errlen, CLIENT, "containerOverrides.vcpus: the job definition sets VCPU through resourceRequirements; override resourceRequirements instead");
      if (t && !strcmp(t, "MEMORY") && json_object_get(ov, "memory"))
        return fail(err, errlen, CLIENT, "containerOverrides.memory: the job definition sets MEMORY through resourceRequirements; override resourceRequirements instead");
    }
  }
  if ((rc = ctl_validate_retry(json_object_get(req, "retryStrategy"), "", err, errlen))) return rc;
  if ((rc = ctl_check_int(json_object_get(req, "timeout"), "attemptDurationSeconds", ctl_min_timeout_s(), 0x7fffffff, 0, "timeout.", err, errlen))) return rc;
  if ((rc = ctl_check_int(req, "schedulingPriorityOverride", 0, 9999, 0, "", err, errlen))) return rc;
  const char *share = jget_str(req, "shareIdentifier");
  int fair = jget_str(queue, "schedulingPolicyArn") != NULL;
  if (fair && !share) return fail(err, errlen, CLIENT, "shareIdentifier is required on fair-share job queue %s", q);
  if (!fair && share) return fail(err, errlen, CLIENT, "shareIdentifier is not allowed on FIFO job queue %s", q);
  if (share && !ctl_valid_share_id(share))
    return fail(err, errlen, CLIENT, "shareIdentifier '%.300s' must be 1-255 letters and digits, optionally followed by '*'", share);
  json_t *node_ov = NULL; /* last: the only check that allocates */
  if ((rc = ctl_check_mnp_submit(cv, queue, def, req, &node_ov, err, errlen))) return rc;
  char id[37];
  uuid_v4(id);
  json_t *b = json_object();
  json_object_set_new(b, "jobId", json_string(id));
  json_object_set_new(b, "jobName", json_string(name));
  json_object_set_new(b, "jobQueue", json_string(jget_str(queue, "jobQueueArn")));
  json_object_set_new(b, "jobDefinition", json_string(jget_str(def, "jobDefinitionArn")));
  if (size) json_object_set_new(b, "arrayProperties", json_pack("{s:i}", "size", size));
  if (deps) json_object_set(b, "dependsOn", deps);
  static const char *const copy[] = {"parameters", "timeout", "propagateTags", "schedulingPriorityOverride", "shareIdentifier", "tags", NULL};
  ctl_copy_members(b, req, copy);
  if (ov && !json_is_null(ov)) {
    json_t *o = json_object();
    static const char *const om[] = {"command", "environment", "resourceRequirements", "vcpus", "memory", NULL};
    ctl_copy_members(o, ov, om);
    json_object_set_new(b, "containerOverrides", o);
  }
  if (json_is_object(json_object_get(req, "retryStrategy")))
    json_object_set_new(b, "retryStrategy", ctl_normalize_retry(json_object_get(req, "retryStrategy")));
  if (node_ov) json_object_set_new(b, "nodeOverrides", node_ov);
  *body = b;
  return 0;
}

json_t *control_request_event(const char *kind, json_t *body /* @owned */) {
  return control_request_event_as(NULL, kind, body);
}

json_t *control_request_event_as(const char *principal, const char *kind, json_t *body /* @owned */) {
  const char *id = jget_str(body, "jobId");
  if (!principal || !*principal) principal = getenv("USER") ? getenv("USER") : "anonymous";
  return json_pack("{s:o, s:s, s:{s:o}}", "header", bus_header("cli", id ? id : "", now_ms()),
                   "principal", principal, "body", kind, body);
}

const char *ctl_principal(const struct control_conf *cc) {
  return cc && cc->who ? cc->who->principal : NULL;
}

int control_submit_job(struct control_conf *cc, const json_t *req, struct control_write *w,
                       char *err, size_t errlen) {
  const struct config_view *cv;
  json_t *body = NULL;
  int rc;
  if ((rc = control_conf_get(cc, &cv, err, errlen)) ||
      (rc = control_prepare_submit(cv, req, &body, err, errlen)))
    return rc;
  const char *id = jget_str(body, "jobId");
  char arn[512];
  ctl_arn(cc, "job", id, arn, sizeof arn);
  /* the scheduler names the job by this ARN, so that it carries the caller's account */
  json_object_set_new(body, "jobArn", json_string(arn));
  w->topic = TOPIC_REQUESTS;
  snprintf(w->key, sizeof w->key, "%s", id);
  w->resp = json_pack("{s:s, s:s, s:s}", "jobArn", arn, "jobName", jget_str(body, "jobName"), "jobId", id);
  w->must_exist = json_array();
  w->n2n_size = (int)json_integer_value(json_object_get(json_object_get(body, "arrayProperties"), "size"));
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(body, "dependsOn"), i, d) { /* at most 20 (prepare_submit) */
    const char *dep = jget_str(d, "jobId"), *type = jget_str(d, "type");
    if (!dep) continue;
    if (type && !strcmp(type, "N_TO_N")) w->n2n_mask |= 1u << json_array_size(w->must_exist);
    json_array_append_new(w->must_exist, json_string(dep));
  }
  w->value = control_request_event_as(ctl_principal(cc), "SubmitJob", body);
  return 0;
}

/* CancelJob and TerminateJob: {jobId, reason} as a request of that kind. */
static int stop_job(const struct control_conf *cc, const char *kind, const json_t *req,
                    struct control_write *w, char *err, size_t errlen) {
  const char *id = jget_str(req, "jobId"), *reason = jget_str(req, "reason");
  if (!id) return fail(err, errlen, CLIENT, "jobId is required");
  if (!job_id_ok(id, 1)) /* no job has such an id: refused rather than written for nothing */
    return fail(err, errlen, CLIENT,
                "jobId '%.80s%s' is not a job id: " JOB_ID_RULE,
                id, strlen(id) > 80 ? "..." : "");
  if (!reason) return fail(err, errlen, CLIENT, "reason is required");
  /* AWS Batch's limit is 1024 characters: 600 "é" (1,200 bytes) were refused as longer */
  if (utf8_prefix_bytes(reason, 1024) < strlen(reason))
    return fail(err, errlen, CLIENT, "reason is longer than 1024 characters");
  w->topic = TOPIC_REQUESTS;
  /* an array child travels with its parent: "%.36s" did so for UUIDs only (a producer's own
   * id, such as abc:3 or one of 40 characters, was keyed otherwise than its submission) */
  snprintf(w->key, sizeof w->key, "%.*s", (int)job_family_len(id), id);
  w->value = control_request_event_as(ctl_principal(cc), kind, json_pack("{s:s, s:s}", "jobId", id, "reason", reason));
  w->resp = json_object();
  return 0;
}

int control_cancel_job(struct control_conf *cc, const json_t *req, struct control_write *w,
                       char *err, size_t errlen) {
  return stop_job(cc, "CancelJob", req, w, err, errlen);
}

int control_terminate_job(struct control_conf *cc, const json_t *req, struct control_write *w,
                          char *err, size_t errlen) {
  return stop_job(cc, "TerminateJob", req, w, err, errlen);
}
