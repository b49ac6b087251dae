/* query_view.c: the read operations by name (query_view_find) and the operation table's
 * handlers, which load a view once per call (the `barge` command line without an API). */
#include <string.h>

#include "query_int.h"

static const struct query_view_op ops[] = {
    {"DescribeComputeEnvironments", query_describe_compute_environments_v, VIEW_CONFIG | VIEW_CAPACITY},
    {"DescribeJobQueues", query_describe_job_queues_v, VIEW_CONFIG},
    {"DescribeJobDefinitions", query_describe_job_definitions_v, VIEW_CONFIG},
    {"DescribeSchedulingPolicies", query_describe_scheduling_policies_v, VIEW_CONFIG},
    {"ListSchedulingPolicies", query_list_scheduling_policies_v, VIEW_CONFIG},
    {"DescribeJobs", query_describe_jobs_v, VIEW_JOBS},
    {"ListJobs", query_list_jobs_v, VIEW_CONFIG | VIEW_JOBS},
    {"GetJobQueueSnapshot", query_get_job_queue_snapshot_v, VIEW_CONFIG | VIEW_JOBS},
    {"ListTagsForResource", query_list_tags_for_resource_v, VIEW_CONFIG | VIEW_JOBS},
};

const struct query_view_op *query_view_find(const char *api_name) {
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
    if (!strcmp(ops[i].api_name, api_name)) return &ops[i];
  return NULL;
}

/* Loads what op needs (tables, or 0 for all the op names) and runs it. The capacity tables only
 * annotate DescribeComputeEnvironments: when they cannot be read, the answer goes without them
 * (logged). */
static int run_loaded(const struct bus_conf *bc, const char *api_name, unsigned tables, const json_t *req,
                      json_t **resp, char *err, size_t errlen) {
  const struct query_view_op *op = query_view_find(api_name);
  struct view v;
  view_init(&v);
  if (!tables) tables = op->tables;
  int rc = view_load(bc, &v, tables & ~(unsigned)VIEW_CAPACITY, err, errlen);
  char e[512];
  if (!rc && (tables & VIEW_CAPACITY) && view_load(bc, &v, VIEW_CAPACITY, e, sizeof e))
    log_warn("desiredvCpus and instances: %s", e);
  if (!rc) rc = op->fn(&v, req, resp, err, errlen);
  view_release(&v);
  return rc;
}

#define LOADED(fn, api)                                                                         \
  int fn(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err, size_t errlen) { \
    return run_loaded(bc, api, 0, req, resp, err, errlen);                                         \
  }
LOADED(query_describe_compute_environments, "DescribeComputeEnvironments")
LOADED(query_describe_job_queues, "DescribeJobQueues")
LOADED(query_describe_job_definitions, "DescribeJobDefinitions")
LOADED(query_describe_scheduling_policies, "DescribeSchedulingPolicies")
LOADED(query_list_scheduling_policies, "ListSchedulingPolicies")
LOADED(query_describe_jobs, "DescribeJobs")
LOADED(query_list_jobs, "ListJobs")
LOADED(query_get_job_queue_snapshot, "GetJobQueueSnapshot")

/* a queue's tags need barge.config only; barge.jobs is read for a job's */
int query_list_tags_for_resource(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                                 size_t errlen) {
  const char *arn = jget_str(req, "resourceArn");
  unsigned tables = arn && strstr(arn, ":job/") ? VIEW_CONFIG | VIEW_JOBS : VIEW_CONFIG;
  return run_loaded(bc, "ListTagsForResource", tables, req, resp, err, errlen);
}
