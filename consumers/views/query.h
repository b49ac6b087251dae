/* query.h: the AWS Batch read operations (Describe*, ListJobs, ListSchedulingPolicies,
 * GetJobQueueSnapshot), answered in the AWS response shapes from a view of the compacted tables
 * barge.config and barge.jobs (view.h). Each operation is a function of a view (query_*_v, found
 * by name with query_view_find), which `barge api` calls on the view it keeps current, and a
 * handler of the operation table (producers/aws/aws_op.h) that loads the view once and calls
 * it, which the `barge` command line runs: request JSON in, 0 with *resp (owned) out, or
 * API_CLIENT_ERROR / API_SERVER_ERROR with the reason in err.
 *
 * Where a read is a pure function of records, it has an entry point of its own that takes the
 * records instead of reading Kafka; the handlers use it and tests drive it. */
#ifndef BARGE_QUERY_H
#define BARGE_QUERY_H
#include <jansson.h>

#include "bus.h"
#include "view.h"
#include "views.h"

/* An operation over a view, and which tables it needs (VIEW_*). */
typedef int (*query_view_fn)(const struct view *v, const json_t *req, json_t **resp, char *err,
                             size_t errlen);
struct query_view_op {
  const char *api_name;
  query_view_fn fn;
  unsigned tables;
};
/* The read operation with that API name ("DescribeJobs"); NULL if it is not one (query_view.c). */
const struct query_view_op *query_view_find(const char *api_name);

int query_describe_compute_environments_v(const struct view *v, const json_t *req, json_t **resp,
                                          char *err, size_t errlen);
int query_describe_job_queues_v(const struct view *v, const json_t *req, json_t **resp, char *err,
                                size_t errlen);
int query_describe_job_definitions_v(const struct view *v, const json_t *req, json_t **resp,
                                     char *err, size_t errlen);
int query_describe_scheduling_policies_v(const struct view *v, const json_t *req, json_t **resp,
                                         char *err, size_t errlen);
int query_list_scheduling_policies_v(const struct view *v, const json_t *req, json_t **resp,
                                     char *err, size_t errlen);
int query_describe_jobs_v(const struct view *v, const json_t *req, json_t **resp, char *err,
                          size_t errlen);
int query_list_jobs_v(const struct view *v, const json_t *req, json_t **resp, char *err,
                      size_t errlen);
int query_get_job_queue_snapshot_v(const struct view *v, const json_t *req, json_t **resp,
                                   char *err, size_t errlen);

/* The operation table's handlers (query_view.c): each loads the tables it needs, then runs its
 * query_*_v. */
int query_describe_compute_environments(const struct bus_conf *bc, const json_t *req,
                                        json_t **resp, char *err, size_t errlen);
int query_describe_job_queues(const struct bus_conf *bc, const json_t *req, json_t **resp,
                              char *err, size_t errlen);
int query_describe_job_definitions(const struct bus_conf *bc, const json_t *req, json_t **resp,
                                   char *err, size_t errlen);
int query_describe_scheduling_policies(const struct bus_conf *bc, const json_t *req,
                                       json_t **resp, char *err, size_t errlen);
int query_list_scheduling_policies(const struct bus_conf *bc, const json_t *req, json_t **resp,
                                   char *err, size_t errlen);
/* DescribeJobDefinitions' items from cv, before paging: by jobDefinitions (names, name:revision
 * or ARNs), else every revision sorted by ARN and filtered by jobDefinitionName and status.
 * 0 with *all (owned), or API_CLIENT_ERROR. */
int query_job_definitions_in(const struct config_view *cv, const json_t *req, json_t **all,
                             char *err, size_t errlen);

/* query_tags.c */
/* What a TagResource, UntagResource or ListTagsForResource resourceArn names: one of the five
 * kinds of resources AWS Batch tags, and, for a configuration resource, its body in cv. */
enum query_tag_kind { QUERY_TAG_CE, QUERY_TAG_QUEUE, QUERY_TAG_JD, QUERY_TAG_POLICY, QUERY_TAG_JOB };
struct query_tag_target {
  enum query_tag_kind kind;
  const char *record;  /* the ConfigRecord kind ("JobQueue"); NULL for a job */
  const char *arn_key; /* the body's ARN member ("jobQueueArn"); NULL for a job */
  json_t *body;        /* the configuration body (borrowed from cv); NULL for a job */
  char job_id[64];     /* a job's id (the job is not looked up) */
};
/* Resolves arn (either ARN form) against cv. 0, or API_CLIENT_ERROR naming what is wrong (not
 * a Batch ARN, an array child, a configuration resource that does not exist). */
int query_tag_target(const struct config_view *cv, const char *arn, struct query_tag_target *t,
                     char *err, size_t errlen);
int query_list_tags_for_resource_v(const struct view *v, const json_t *req, json_t **resp, char *err,
                                   size_t errlen);
/* The operation table's handler: barge.config, and barge.jobs only for a job's ARN. */
int query_list_tags_for_resource(const struct bus_conf *bc, const json_t *req, json_t **resp,
                                 char *err, size_t errlen);

/* query_jobs.c */
/* A JobRecord detail as DescribeJobs shows it (the container's storedJson expanded). New reference. */
json_t *query_job_detail(const json_t *detail);
int query_describe_jobs(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                        size_t errlen);
int query_list_jobs(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                    size_t errlen);
int query_get_job_queue_snapshot(const struct bus_conf *bc, const json_t *req, json_t **resp,
                                 char *err, size_t errlen);
/* ListJobs over given records (job id -> JobRecord, as jobs_view_load gives them): checks req,
 * selects the jobs of queue_arn (the queue req names, resolved; NULL when req names an
 * arrayJobId), filters, sorts newest first and pages after req's nextToken. Same returns as
 * the handler. */
int query_list_jobs_in(const json_t *jobs, const char *queue_arn, const json_t *req,
                       json_t **resp, char *err, size_t errlen);
#endif
