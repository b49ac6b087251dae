/* query_config.c: DescribeComputeEnvironments, DescribeJobQueues, DescribeJobDefinitions,
 * DescribeSchedulingPolicies and ListSchedulingPolicies from barge.config (query.h). */
#include <stdlib.h>
#include <string.h>

#include "capacity_view.h"
#include "query_int.h"

int query_max_results(const json_t *req, int def, int max, int cap, int *out, char *err, size_t errlen) {
  json_t *m = json_object_get(req, "maxResults");
  *out = def;
  if (!m) return 0;
  /* beyond max AWS answers a ClientException; Barge used to cap it silently */
  if (!json_is_integer(m) || json_integer_value(m) < 1 || json_integer_value(m) > max) {
    char got[32] = "";
    if (json_is_integer(m)) snprintf(got, sizeof got, ", got %" JSON_INTEGER_FORMAT, json_integer_value(m));
    return fail(err, errlen, CLIENT, "maxResults must be a whole number from 1 to %d%s", max, got);
  }
  *out = (int)json_integer_value(m) > cap ? cap : (int)json_integer_value(m);
  return 0;
}

int query_paginate(json_t *all, const json_t *req, int page, const char *member, json_t **resp,
                   char *err, size_t errlen) {
  size_t start = 0;
  const char *tok = jget_str(req, "nextToken");
  if (tok) {
    char *end;
    unsigned long v = strtoul(tok, &end, 10);
    if (*end || v > json_array_size(all)) {
      json_decref(all);
      return fail(err, errlen, CLIENT, "nextToken '%s' is not valid", tok);
    }
    start = v;
  }
  json_t *items = json_array();
  size_t i;
  for (i = start; i < json_array_size(all) && (int)(i - start) < page; i++)
    json_array_append(items, json_array_get(all, i));
  *resp = json_pack("{s:o}", member, items);
  if (i < json_array_size(all)) {
    char next[32];
    snprintf(next, sizeof next, "%zu", i);
    json_object_set_new(*resp, "nextToken", json_string(next));
  }
  json_decref(all);
  return 0;
}

/* Barge's stored record -> the AWS Describe* shape. */
static json_t *ce_view(const json_t *b) {
  json_t *o = json_deep_copy(b);
  json_object_del(o, "driver");
  json_object_del(o, "createdAt");
  json_t *cr = json_object_get(o, "computeResources");
  if (json_is_object(cr)) {
    json_t *pass = json_loads(jget_str(cr, "passthroughJson") ? jget_str(cr, "passthroughJson") : "{}", 0, NULL);
    json_object_del(cr, "passthroughJson");
    if (json_is_object(pass)) json_object_update_missing(cr, pass);
    json_decref(pass);
    json_t *d = json_object_get(cr, "minScaleDownDelayMinutes");
    if (d) {
      json_object_set_new(cr, "scalingPolicy", json_pack("{s:O}", "minScaleDownDelayMinutes", d));
      json_object_del(cr, "minScaleDownDelayMinutes");
    }
  } else {
    json_object_del(o, "computeResources");
  }
  json_object_set_new(o, "containerOrchestrationType", json_string("ECS"));
  return o;
}

static json_t *jd_view(const json_t *b) {
  json_t *o = json_deep_copy(b);
  json_object_del(o, "createdAt");
  json_t *cp = json_object_get(o, "containerProperties");
  json_t *stored = json_loads(jget_str(cp, "storedJson") ? jget_str(cp, "storedJson") : "{}", 0, NULL);
  json_object_del(cp, "storedJson");
  if (json_is_object(stored)) json_object_update_missing(cp, stored);
  json_decref(stored);
  /* a multinode definition shows its nodeProperties and no containerProperties, as AWS does */
  json_t *np = jget_str(o, "nodePropertiesJson") ? json_loads(jget_str(o, "nodePropertiesJson"), 0, NULL) : NULL;
  json_object_del(o, "nodePropertiesJson");
  if (json_is_object(np)) {
    json_object_del(o, "containerProperties");
    json_object_set_new(o, "nodeProperties", np);
  } else {
    json_decref(np);
  }
  return o;
}

static json_t *plain_view(const json_t *b) {
  json_t *o = json_deep_copy(b);
  json_object_del(o, "createdAt");
  return o;
}

/* A queue as DescribeJobQueues shows it: jobQueueType ECS, what AWS answers for a queue of EC2
 * or SPOT compute environments, every Barge queue (CreateJobQueue refuses the other types). The
 * record does not hold it, so queues created before Barge answered it show it too. */
static json_t *queue_view(const json_t *b) {
  json_t *o = plain_view(b);
  json_object_set_new(o, "jobQueueType", json_string("ECS"));
  return o;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Job definition ARNs by name, then by revision as a number: as strings, revision 10 sorted
 * between 1 and 2, so a client taking the last of a name's revisions did not get the latest. */
static int cmp_jd_arn(const void *a, const void *b) {
  const char *x = *(const char *const *)a, *y = *(const char *const *)b;
  const char *cx = strrchr(x, ':'), *cy = strrchr(y, ':');
  if (!cx || !cy) return strcmp(x, y); /* not an ARN: a key a direct producer wrote */
  size_t nx = (size_t)(cx - x), ny = (size_t)(cy - y);
  int c = strncmp(x, y, nx < ny ? nx : ny);
  if (c || nx != ny) return c ? c : nx < ny ? -1 : 1;
  long rx = atol(cx + 1), ry = atol(cy + 1);
  return (rx > ry) - (rx < ry);
}

/* Filters a config table by a list of names/ARNs (or takes all, sorted by ARN with cmp). */
static json_t *select_config(json_t *table, const char *name_key, const json_t *refs,
                             json_t *(*view)(const json_t *), int (*cmp)(const void *, const void *)) {
  json_t *out = json_array();
  if (json_array_size(refs)) {
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r) {
      json_t *b = config_find(table, name_key, json_string_value(r));
      if (b) json_array_append_new(out, view(b));
    }
    return out;
  }
  size_t n = json_object_size(table), k = 0;
  const char **keys = xcalloc(n ? n : 1, sizeof *keys);
  const char *key;
  json_t *v;
  json_object_foreach(table, key, v) keys[k++] = key;
  qsort(keys, k, sizeof *keys, cmp);
  for (size_t i = 0; i < k; i++) json_array_append_new(out, view(json_object_get(table, keys[i])));
  free(keys);
  return out;
}

/* One Describe*: the items select takes from the configuration, answered as member. */
typedef int (*select_fn)(const struct config_view *cv, const json_t *req, json_t **all, char *err,
                         size_t errlen);

enum { PAGED = 1, WITH_CAPACITY = 2 };

static int describe(const struct view *v, const json_t *req, select_fn select,
                    const char *member, int flags, json_t **resp, char *err, size_t errlen) {
  int rc, page;
  if ((rc = query_max_results(req, 100, 100, 100, &page, err, errlen))) return rc;
  json_t *all = NULL;
  if ((rc = select(&v->cv, req, &all, err, errlen))) return rc;
  if (flags & WITH_CAPACITY) { /* desiredvCpus as last decided, live instances */
    capacity_view_set_desired(all, v->scaling);
    capacity_view_set_instances(all, v->instances);
    capacity_view_set_health(all, v->served, v->launch, now_ms()); /* a MANAGED CE no provisioner serves */
    capacity_view_set_launch_error(all, v->launch);      /* or whose launches EC2 refuses */
  }
  if (!(flags & PAGED)) {
    *resp = json_pack("{s:o}", member, all);
    return 0;
  }
  return query_paginate(all, req, page, member, resp, err, errlen);
}

/* A list of names of a Describe* (req[member]) holds "up to 100", as AWS documents for each of
 * them (and as DescribeJobs' jobs). */
static int list_max(const json_t *req, const char *member, const char *what, char *err, size_t errlen) {
  size_t n = json_array_size(json_object_get(req, member));
  return n > 100 ? fail(err, errlen, CLIENT, "%s takes at most 100 %s, got %zu", member, what, n) : 0;
}

static int select_ces(const struct config_view *cv, const json_t *req, json_t **all, char *err,
                      size_t errlen) {
  int rc = list_max(req, "computeEnvironments", "compute environments", err, errlen);
  if (rc) return rc;
  *all = select_config(cv->ces, "computeEnvironmentName", json_object_get(req, "computeEnvironments"), ce_view, cmp_str);
  return 0;
}

static int select_queues(const struct config_view *cv, const json_t *req, json_t **all, char *err,
                         size_t errlen) {
  int rc = list_max(req, "jobQueues", "job queues", err, errlen);
  if (rc) return rc;
  *all = select_config(cv->queues, "jobQueueName", json_object_get(req, "jobQueues"), queue_view, cmp_str);
  return 0;
}

static int select_policies(const struct config_view *cv, const json_t *req, json_t **all,
                           char *err, size_t errlen) {
  json_t *arns = json_object_get(req, "arns");
  if (!json_array_size(arns)) return fail(err, errlen, CLIENT, "arns is required");
  int rc = list_max(req, "arns", "scheduling policy ARNs", err, errlen);
  if (rc) return rc;
  *all = select_config(cv->policies, "name", arns, plain_view, cmp_str);
  return 0;
}

static int select_policy_arns(const struct config_view *cv, const json_t *req, json_t **all,
                              char *err, size_t errlen) {
  (void)req, (void)err, (void)errlen;
  json_t *full = select_config(cv->policies, "name", NULL, plain_view, cmp_str);
  *all = json_array();
  size_t i;
  json_t *p;
  json_array_foreach(full, i, p) json_array_append_new(*all, json_pack("{s:O}", "arn", json_object_get(p, "arn")));
  json_decref(full);
  return 0;
}

int query_job_definitions_in(const struct config_view *cv, const json_t *req, json_t **all,
                             char *err, size_t errlen) {
  json_t *refs = json_object_get(req, "jobDefinitions");
  const char *name = jget_str(req, "jobDefinitionName"), *status = jget_str(req, "status");
  if (json_array_size(refs) && (name || status))
    return fail(err, errlen, CLIENT, "jobDefinitions cannot be combined with jobDefinitionName or status");
  /* any other status matched no revision, an empty answer that read as "none registered" */
  if (status && strcmp(status, "ACTIVE") && strcmp(status, "INACTIVE"))
    return fail(err, errlen, CLIENT, "status '%s' is not a job definition status: give ACTIVE or INACTIVE (upper case)", status);
  int rc = list_max(req, "jobDefinitions", "job definitions", err, errlen);
  if (rc) return rc;
  *all = json_array();
  size_t i;
  json_t *d;
  if (json_array_size(refs)) {
    json_array_foreach(refs, i, d) {
      json_t *jd = config_find_jd(cv, json_string_value(d));
      if (jd) json_array_append_new(*all, jd_view(jd));
    }
    return 0;
  }
  json_t *sorted = select_config(cv->jds, "jobDefinitionArn", NULL, jd_view, cmp_jd_arn);
  json_array_foreach(sorted, i, d) {
    if (name && strcmp(name, jget_str(d, "jobDefinitionName"))) continue;
    if (status && strcmp(status, jget_str(d, "status"))) continue;
    json_array_append(*all, d);
  }
  json_decref(sorted);
  return 0;
}

int query_describe_compute_environments_v(const struct view *v, const json_t *req, json_t **resp,
                                          char *err, size_t errlen) {
  return describe(v, req, select_ces, "computeEnvironments", PAGED | WITH_CAPACITY, resp, err, errlen);
}

int query_describe_job_queues_v(const struct view *v, const json_t *req, json_t **resp, char *err,
                                size_t errlen) {
  return describe(v, req, select_queues, "jobQueues", PAGED, resp, err, errlen);
}

int query_describe_job_definitions_v(const struct view *v, const json_t *req, json_t **resp,
                                     char *err, size_t errlen) {
  return describe(v, req, query_job_definitions_in, "jobDefinitions", PAGED, resp, err, errlen);
}

int query_describe_scheduling_policies_v(const struct view *v, const json_t *req, json_t **resp,
                                         char *err, size_t errlen) {
  return describe(v, req, select_policies, "schedulingPolicies", 0, resp, err, errlen);
}

int query_list_scheduling_policies_v(const struct view *v, const json_t *req, json_t **resp,
                                     char *err, size_t errlen) {
  return describe(v, req, select_policy_arns, "schedulingPolicies", PAGED, resp, err, errlen);
}
