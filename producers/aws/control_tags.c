/* control_tags.c: TagResource and UntagResource (validations; control.h), for the five kinds of
 * resources AWS Batch tags: compute environments, job queues, job definitions (a revision's
 * ARN), scheduling policies and jobs (query_tag_target tells them apart; ListTagsForResource is
 * a read of the view, consumers/views/query_tags.c).
 *
 * Where the tags live (docs/job-model.md §10): a configuration resource's tags are in its
 * barge.config body, so tagging writes the whole body again with the new tags (as an Update
 * does); a job's are in its JobRecord, which only the scheduler writes, so tagging a job is a
 * TagJob request on barge.requests that the scheduler applies. Both are in the event log: they
 * survive restarts and a replay rebuilds them. The tag limits are aws_check_tags' (aws_model.c),
 * checked on every request before it gets here. */
#include <string.h>

#include "control_int.h"
#include "query.h"

/* The job's current tags from barge.jobs (borrowed), or NULL when the job is not there yet. */
static json_t *job_tags(json_t *jobs, const char *id) {
  json_t *rec = json_object_get(jobs, id);
  return rec ? json_object_get(json_object_get(rec, "detail"), "tags") : NULL;
}

/* The tag change of req (add: TagResource's tags; remove: UntagResource's tagKeys) on the
 * resource it names: a new config body, or a TagJob request. */
static int change_tags(struct control_conf *cc, const json_t *req, const json_t *add,
                       const json_t *remove, struct control_write *w, char *err, size_t errlen) {
  const struct config_view *cv;
  struct query_tag_target t;
  json_t *jobs = NULL;
  int rc;
  if ((rc = control_conf_get(cc, &cv, err, errlen)) ||
      (rc = query_tag_target(cv, jget_str(req, "resourceArn"), &t, err, errlen)))
    return rc;
  if (t.kind == QUERY_TAG_JOB && (rc = control_jobs_get(cc, &jobs, err, errlen))) return rc;
  /* the tags after the change, to hold AWS's limit of 50 per resource */
  const json_t *cur = t.body ? json_object_get(t.body, "tags") : job_tags(jobs, t.job_id);
  json_t *after = json_is_object(cur) ? json_deep_copy(cur) : json_object();
  if (add) json_object_update(after, (json_t *)add);
  size_t i;
  json_t *k;
  json_array_foreach(remove, i, k) json_object_del(after, json_string_value(k));
  size_t n = json_object_size(after);
  if (n > 50) {
    json_decref(after);
    return fail(err, errlen, CLIENT, "a resource takes at most 50 tags; %s would have %zu", jget_str(req, "resourceArn"), n);
  }
  if (t.kind != QUERY_TAG_JOB) {
    json_t *b = json_deep_copy(t.body);
    json_object_set_new(b, "tags", after);
    ctl_put_config(w, t.record, b, NULL, t.arn_key);
    return 0;
  }
  json_decref(after);
  json_t *body = json_pack("{s:s, s:o, s:o}", "jobId", t.job_id, "tags", add ? json_deep_copy(add) : json_object(),
                           "untagKeys", remove ? json_deep_copy(remove) : json_array());
  w->topic = TOPIC_REQUESTS;
  snprintf(w->key, sizeof w->key, "%s", t.job_id);
  w->value = control_request_event_as(ctl_principal(cc), "TagJob", body);
  w->resp = json_object();
  /* a job not in barge.jobs yet may have been submitted a moment ago */
  if (!json_object_get(jobs, t.job_id)) {
    w->must_exist = json_pack("[s]", t.job_id);
    w->must_exist_member = "resourceArn";
  }
  return 0;
}

int control_tag_resource(struct control_conf *cc, const json_t *req, struct control_write *w,
                         char *err, size_t errlen) {
  json_t *tags = json_object_get(req, "tags");
  if (!json_is_object(tags)) return fail(err, errlen, CLIENT, "tags is required");
  if (!json_object_size(tags)) return fail(err, errlen, CLIENT, "tags must hold at least one tag");
  return change_tags(cc, req, tags, NULL, w, err, errlen);
}

int control_untag_resource(struct control_conf *cc, const json_t *req, struct control_write *w,
                           char *err, size_t errlen) {
  json_t *keys = json_object_get(req, "tagKeys");
  if (!json_is_array(keys) || !json_array_size(keys)) return fail(err, errlen, CLIENT, "tagKeys is required (1 to 50 keys)");
  if (json_array_size(keys) > 50) return fail(err, errlen, CLIENT, "tagKeys takes at most 50 keys, got %zu", json_array_size(keys));
  size_t i;
  json_t *k;
  json_array_foreach(keys, i, k) {
    if (!json_is_string(k)) return fail(err, errlen, CLIENT, "tagKeys[%zu] must be a string", i);
    if (aws_check_tag_key(json_string_value(k), "tagKeys", err, errlen)) return CLIENT;
  }
  return change_tags(cc, req, NULL, keys, w, err, errlen);
}
