/* query_tags.c: what a tagged resource's ARN names (query_tag_target, which TagResource and
 * UntagResource share, producers/aws/control_tags.c) and ListTagsForResource from a view
 * (query.h): a configuration resource's tags are in its barge.config body, a job's in its
 * JobRecord. `barge api` answers from the view it keeps current, as its other reads, rather than
 * reading barge.config and barge.jobs to their end per call. */
#include <string.h>

#include "jobs_store.h"
#include "query_int.h"

static const struct {
  const char *prefix, *record, *arn_key;
} kinds[] = {
    [QUERY_TAG_CE] = {"compute-environment/", "ComputeEnvironment", "computeEnvironmentArn"},
    [QUERY_TAG_QUEUE] = {"job-queue/", "JobQueue", "jobQueueArn"},
    [QUERY_TAG_JD] = {"job-definition/", "JobDefinition", "jobDefinitionArn"},
    [QUERY_TAG_POLICY] = {"scheduling-policy/", "SchedulingPolicy", "arn"},
    [QUERY_TAG_JOB] = {"job/", NULL, NULL},
};

int query_tag_target(const struct config_view *cv, const char *arn, struct query_tag_target *t,
                     char *err, size_t errlen) {
  memset(t, 0, sizeof *t);
  if (!arn || !*arn) return fail(err, errlen, CLIENT, "resourceArn is required");
  const char *p = arn;
  int colons = 0;
  while (*p && colons < 5) colons += *p++ == ':';
  if (strncmp(arn, "arn:", 4) || colons < 5 || !strstr(arn, ":batch:"))
    return fail(err, errlen, CLIENT, "resourceArn %s is not an AWS Batch ARN (arn:aws:batch:REGION:ACCOUNT:RESOURCE)", arn);
  for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
    size_t n = strlen(kinds[k].prefix);
    if (strncmp(p, kinds[k].prefix, n)) continue;
    t->kind = (enum query_tag_kind)k;
    t->record = kinds[k].record;
    t->arn_key = kinds[k].arn_key;
    if (t->kind == QUERY_TAG_JOB) {
      const char *id = p + n;
      if (strchr(id, ':'))
        return fail(err, errlen, CLIENT, "resourceArn %s: array children cannot be tagged (AWS tags the array job)", arn);
      if (strchr(id, '#'))
        return fail(err, errlen, CLIENT, "resourceArn %s: the nodes of a multi-node job cannot be tagged (AWS tags the multi-node job)", arn);
      if (!*id || strlen(id) >= sizeof t->job_id) return fail(err, errlen, CLIENT, "resourceArn %s names no job", arn);
      snprintf(t->job_id, sizeof t->job_id, "%s", id);
      return 0;
    }
    json_t *tables[] = {cv->ces, cv->queues, cv->jds, cv->policies};
    t->body = barge_arn_get(tables[k], arn);
    if (!t->body) return fail(err, errlen, CLIENT, "resource %s does not exist", arn);
    return 0;
  }
  return fail(err, errlen, CLIENT, "resourceArn %s: Batch tags compute environments, job queues, job definitions, scheduling policies and jobs", arn);
}

int query_list_tags_for_resource_v(const struct view *v, const json_t *req, json_t **resp, char *err,
                                   size_t errlen) {
  struct query_tag_target t;
  int rc = query_tag_target(&v->cv, jget_str(req, "resourceArn"), &t, err, errlen);
  if (rc) return rc;
  const json_t *tags = t.body ? json_object_get(t.body, "tags") : NULL;
  json_t *rec = NULL;
  if (t.kind == QUERY_TAG_JOB) {
    if (!(rec = jobs_store_get(v->jobs, t.job_id))) return fail(err, errlen, CLIENT, "job %s does not exist", t.job_id);
    tags = json_object_get(json_object_get(rec, "detail"), "tags");
  }
  *resp = json_pack("{s:o}", "tags", json_is_object(tags) ? json_deep_copy(tags) : json_object());
  json_decref(rec);
  return 0;
}
