/* query.c: the AWS Batch read operations (Describe*, ListJobs, ListSchedulingPolicies,
 * GetJobQueueSnapshot) answered from the compacted tables barge.config and barge.jobs, in the
 * AWS response shapes. */
#include "query.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "capacity_view.h"
#include "views.h"

#define CLIENT API_CLIENT_ERROR
#define SERVER API_SERVER_ERROR
#define fail api_error

static const char *jstr(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

/* Barge's stored record -> the AWS Describe* shape. */
static json_t *ce_view(const json_t *b) {
  json_t *o = json_deep_copy(b);
  json_object_del(o, "driver");
  json_object_del(o, "createdAt");
  json_t *cr = json_object_get(o, "computeResources");
  if (json_is_object(cr)) {
    json_t *pass = json_loads(jstr(cr, "passthroughJson") ? jstr(cr, "passthroughJson") : "{}", 0, NULL);
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
  json_t *stored = json_loads(jstr(cp, "storedJson") ? jstr(cp, "storedJson") : "{}", 0, NULL);
  json_object_del(cp, "storedJson");
  if (json_is_object(stored)) json_object_update_missing(cp, stored);
  json_decref(stored);
  return o;
}

static json_t *plain_view(const json_t *b) {
  json_t *o = json_deep_copy(b);
  json_object_del(o, "createdAt");
  return o;
}

static int max_results(const json_t *req, int def, int cap, char *err, size_t errlen, int *out) {
  json_t *m = json_object_get(req, "maxResults");
  *out = def;
  if (!m) return 0;
  if (!json_is_integer(m) || json_integer_value(m) < 1)
    return fail(err, errlen, CLIENT, "maxResults must be a whole number of at least 1");
  *out = (int)json_integer_value(m) > cap ? cap : (int)json_integer_value(m);
  return 0;
}

/* Pages an array: nextToken is the decimal index of the next item. Takes ownership of all. */
static int paginate(json_t *all, const json_t *req, int page, const char *member, json_t **resp,
                    char *err, size_t errlen) {
  size_t start = 0;
  const char *tok = jstr(req, "nextToken");
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

/* Filters a config table by a list of names/ARNs (or takes all), sorted by ARN. */
static json_t *select_config(json_t *table, const char *name_key, const json_t *refs,
                             json_t *(*view)(const json_t *)) {
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
  for (size_t a = 1; a < k; a++)
    for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
      const char *t = keys[b];
      keys[b] = keys[b - 1];
      keys[b - 1] = t;
    }
  for (size_t i = 0; i < k; i++) json_array_append_new(out, view(json_object_get(table, keys[i])));
  free(keys);
  return out;
}


static int describe_config(const struct bus_conf *bc, const char *api, const json_t *req,
                           json_t **resp, char *err, size_t errlen) {
  struct config_view cv;
  int rc, page;
  if ((rc = max_results(req, 100, 100, err, errlen, &page))) return rc;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  json_t *all = NULL;
  const char *member = NULL;
  if (!strcmp(api, "DescribeComputeEnvironments")) {
    all = select_config(cv.ces, "computeEnvironmentName", json_object_get(req, "computeEnvironments"), ce_view);
    capacity_view_annotate(bc, all); /* desiredvCpus as the provisioner last decided */
    capacity_view_instances(bc, all);
    member = "computeEnvironments";
  } else if (!strcmp(api, "DescribeJobQueues")) {
    all = select_config(cv.queues, "jobQueueName", json_object_get(req, "jobQueues"), plain_view);
    member = "jobQueues";
  } else if (!strcmp(api, "DescribeSchedulingPolicies")) {
    json_t *arns = json_object_get(req, "arns");
    if (!json_array_size(arns)) {
      config_view_release(&cv);
      return fail(err, errlen, CLIENT, "arns is required");
    }
    all = select_config(cv.policies, "name", arns, plain_view);
    config_view_release(&cv);
    *resp = json_pack("{s:o}", "schedulingPolicies", all);
    return 0;
  } else if (!strcmp(api, "ListSchedulingPolicies")) {
    json_t *full = select_config(cv.policies, "name", NULL, plain_view);
    all = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(full, i, p) json_array_append_new(all, json_pack("{s:O}", "arn", json_object_get(p, "arn")));
    json_decref(full);
    member = "schedulingPolicies";
  } else { /* DescribeJobDefinitions */
    json_t *refs = json_object_get(req, "jobDefinitions");
    const char *name = jstr(req, "jobDefinitionName"), *status = jstr(req, "status");
    if (json_array_size(refs) && (name || status)) {
      config_view_release(&cv);
      return fail(err, errlen, CLIENT, "jobDefinitions cannot be combined with jobDefinitionName or status");
    }
    all = json_array();
    if (json_array_size(refs)) {
      size_t i;
      json_t *r;
      json_array_foreach(refs, i, r) {
        json_t *d = config_find_jd(&cv, json_string_value(r));
        if (d) json_array_append_new(all, jd_view(d));
      }
    } else {
      json_t *sorted = select_config(cv.jds, "jobDefinitionArn", NULL, jd_view);
      size_t i;
      json_t *d;
      json_array_foreach(sorted, i, d) {
        if (name && strcmp(name, jstr(d, "jobDefinitionName"))) continue;
        if (status && strcmp(status, jstr(d, "status"))) continue;
        json_array_append(all, d);
      }
      json_decref(sorted);
    }
    member = "jobDefinitions";
  }
  config_view_release(&cv);
  return paginate(all, req, page, member, resp, err, errlen);
}

/* ---------------- jobs ---------------- */

static int load_jobs(const struct bus_conf *bc, json_t **jobs, char *err, size_t errlen) {
  char e[512];
  if (jobs_view_load(bc, jobs, e, sizeof e)) {
    json_decref(*jobs);
    *jobs = NULL;
    return fail(err, errlen, SERVER, "reading jobs: %s", e);
  }
  return 0;
}

static int describe_jobs(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                         size_t errlen) {
  json_t *ids = json_object_get(req, "jobs");
  if (!json_is_array(ids) || json_array_size(ids) < 1)
    return fail(err, errlen, CLIENT, "jobs is required: 1 to 100 job ids");
  if (json_array_size(ids) > 100)
    return fail(err, errlen, CLIENT, "jobs takes at most 100 job ids, got %zu", json_array_size(ids));
  json_t *jobs;
  int rc;
  if ((rc = load_jobs(bc, &jobs, err, errlen))) return rc;
  json_t *out = json_array();
  size_t i;
  json_t *id;
  json_array_foreach(ids, i, id) {
    json_t *rec = json_object_get(jobs, json_string_value(id) ? json_string_value(id) : "");
    if (rec) json_array_append(out, json_object_get(rec, "detail"));
  }
  json_decref(jobs);
  *resp = json_pack("{s:o}", "jobs", out);
  return 0;
}

static json_t *summary_of(const json_t *d) {
  json_t *s = json_object();
  static const char *const copy[] = {"jobArn", "jobId", "jobName", "createdAt", "startedAt", "stoppedAt",
                                     "status", "statusReason", "shareIdentifier", "jobDefinition", NULL};
  for (const char *const *k = copy; *k; k++) {
    json_t *v = json_object_get(d, *k);
    if (v) json_object_set(s, *k, v);
  }
  json_t *c = json_object_get(d, "container");
  if (c) {
    json_t *cs = json_object();
    if (json_object_get(c, "exitCode")) json_object_set(cs, "exitCode", json_object_get(c, "exitCode"));
    if (json_object_get(c, "reason")) json_object_set(cs, "reason", json_object_get(c, "reason"));
    json_object_set_new(s, "container", cs);
  }
  json_t *ap = json_object_get(d, "arrayProperties");
  if (ap) json_object_set(s, "arrayProperties", ap);
  return s;
}

static int cmp_newest(const void *a, const void *b) {
  const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  json_int_t cx = json_integer_value(json_object_get(x, "createdAt"));
  json_int_t cy = json_integer_value(json_object_get(y, "createdAt"));
  if (cx != cy) return cx > cy ? -1 : 1;
  return strcmp(jstr(y, "jobId"), jstr(x, "jobId"));
}

static int name_match(const char *pattern, const char *name) {
  size_t n = strlen(pattern);
  if (n && pattern[n - 1] == '*') return !strncasecmp(pattern, name, n - 1);
  return !strcasecmp(pattern, name);
}

static int list_jobs(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                     size_t errlen) {
  const char *queue = jstr(req, "jobQueue"), *array = jstr(req, "arrayJobId");
  if (json_object_get(req, "multiNodeJobId"))
    return fail(err, errlen, CLIENT, "multiNodeJobId is not supported (multi-node jobs are out of scope)");
  if ((queue != NULL) == (array != NULL))
    return fail(err, errlen, CLIENT, "give exactly one of jobQueue or arrayJobId");
  json_t *filters = json_object_get(req, "filters");
  if (json_array_size(filters) > 1) return fail(err, errlen, CLIENT, "filters takes one filter");
  json_t *filter = json_array_get(filters, 0);
  const char *fname = jstr(filter, "name");
  json_t *fvals = json_object_get(filter, "values");
  static const char *const fnames[] = {"JOB_NAME", "JOB_DEFINITION", "BEFORE_CREATED_AT", "AFTER_CREATED_AT", "SHARE_IDENTIFIER", NULL};
  if (filter) {
    int ok = 0;
    for (const char *const *k = fnames; *k; k++) ok |= fname && !strcmp(fname, *k);
    if (!ok) return fail(err, errlen, CLIENT, "filters[0].name must be one of JOB_NAME, JOB_DEFINITION, BEFORE_CREATED_AT, AFTER_CREATED_AT, SHARE_IDENTIFIER");
    if (!json_array_size(fvals)) return fail(err, errlen, CLIENT, "filters[0].values needs a value");
  }
  const char *status = jstr(req, "jobStatus");
  int use_status = !filter || (fname && !strcmp(fname, "SHARE_IDENTIFIER"));
  if (!status) status = "RUNNING";
  static const char *const statuses[] = {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED", NULL};
  int okst = 0;
  for (const char *const *k = statuses; *k; k++) okst |= !strcmp(status, *k);
  if (!okst) return fail(err, errlen, CLIENT, "jobStatus %s is not a job status", status);
  int page, rc;
  if ((rc = max_results(req, filter ? 100 : 1000, filter ? 100 : 1000, err, errlen, &page))) return rc;
  struct config_view cv;
  const char *qarn = NULL;
  char qbuf[512] = "";
  if (queue) {
    if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
    json_t *q = config_find(cv.queues, "jobQueueName", queue);
    if (q) snprintf(qbuf, sizeof qbuf, "%s", jstr(q, "jobQueueArn"));
    config_view_release(&cv);
    if (!q) return fail(err, errlen, CLIENT, "job queue %s does not exist", queue);
    qarn = qbuf;
  }
  json_t *jobs;
  if ((rc = load_jobs(bc, &jobs, err, errlen))) return rc;
  size_t n = json_object_size(jobs), k = 0;
  json_t **sel = xcalloc(n ? n : 1, sizeof *sel);
  const char *key;
  json_t *rec;
  json_object_foreach(jobs, key, rec) {
    json_t *d = json_object_get(rec, "detail");
    const char *parent = jstr(rec, "parentJobId");
    if (qarn) {
      if (parent || strcmp(jstr(d, "jobQueue"), qarn)) continue;
    } else if (!parent || strcmp(parent, array)) {
      continue;
    }
    if (use_status && strcmp(jstr(d, "status"), status)) continue;
    if (filter && !parent) {
      const char *v = json_string_value(json_array_get(fvals, 0));
      if (!v) continue;
      if (!strcmp(fname, "JOB_NAME") && !name_match(v, jstr(d, "jobName"))) continue;
      if (!strcmp(fname, "JOB_DEFINITION")) {
        const char *jd = jstr(d, "jobDefinition");
        if (!strncmp(v, "arn:", 4)) {
          if (strcmp(v, jd)) continue;
        } else {
          const char *slash = strrchr(jd, '/');
          char nm[256];
          snprintf(nm, sizeof nm, "%s", slash ? slash + 1 : jd);
          char *colon = strrchr(nm, ':');
          if (colon) *colon = 0;
          if (!name_match(v, nm)) continue;
        }
      }
      int64_t t = parse_time_ms(v);
      json_int_t c = json_integer_value(json_object_get(d, "createdAt"));
      if (!strcmp(fname, "BEFORE_CREATED_AT") && !(c < t)) continue;
      if (!strcmp(fname, "AFTER_CREATED_AT") && !(c > t)) continue;
      if (!strcmp(fname, "SHARE_IDENTIFIER") && (!jstr(d, "shareIdentifier") || strcmp(v, jstr(d, "shareIdentifier")))) continue;
    }
    sel[k++] = d;
  }
  qsort(sel, k, sizeof *sel, cmp_newest);
  json_t *all = json_array();
  for (size_t i = 0; i < k; i++) json_array_append_new(all, summary_of(sel[i]));
  free(sel);
  json_decref(jobs);
  return paginate(all, req, page, "jobSummaryList", resp, err, errlen);
}

/* GetJobQueueSnapshot: up to 100 RUNNABLE jobs from the front of the queue, in dispatch order
 * (retried jobs first in return order, then by submission; JobRecord.queueSeq carries both). */
static int cmp_front(const void *a, const void *b) {
  const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  json_int_t qx = json_integer_value(json_object_get(x, "queueSeq"));
  json_int_t qy = json_integer_value(json_object_get(y, "queueSeq"));
  int rx = qx < 0, ry = qy < 0;
  if (rx != ry) return rx ? -1 : 1;
  if (qx < 0) qx = -qx;
  if (qy < 0) qy = -qy;
  if (qx != qy) return qx < qy ? -1 : 1;
  json_t *ix = json_object_get(json_object_get(json_object_get(x, "detail"), "arrayProperties"), "index");
  json_t *iy = json_object_get(json_object_get(json_object_get(y, "detail"), "arrayProperties"), "index");
  return (int)(json_integer_value(ix) - json_integer_value(iy));
}

static int queue_snapshot(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                          size_t errlen) {
  const char *queue = jstr(req, "jobQueue");
  if (!queue) return fail(err, errlen, CLIENT, "jobQueue is required");
  struct config_view cv;
  int rc;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  json_t *q = config_find(cv.queues, "jobQueueName", queue);
  char qarn[512] = "";
  if (q) snprintf(qarn, sizeof qarn, "%s", jstr(q, "jobQueueArn"));
  config_view_release(&cv);
  if (!q) return fail(err, errlen, CLIENT, "job queue %s does not exist", queue);
  json_t *jobs;
  if ((rc = load_jobs(bc, &jobs, err, errlen))) return rc;
  size_t n = json_object_size(jobs), k = 0;
  json_t **sel = xcalloc(n ? n : 1, sizeof *sel);
  const char *key;
  json_t *rec;
  json_object_foreach(jobs, key, rec) {
    json_t *d = json_object_get(rec, "detail");
    if (!strcmp(jstr(d, "jobQueue"), qarn) && !strcmp(jstr(d, "status"), "RUNNABLE")) sel[k++] = rec;
  }
  qsort(sel, k, sizeof *sel, cmp_front);
  json_t *front = json_array();
  for (size_t i = 0; i < k && i < 100; i++) {
    json_t *d = json_object_get(sel[i], "detail");
    json_array_append_new(front, json_pack("{s:O, s:O}", "jobArn", json_object_get(d, "jobArn"),
                                           "earliestTimeAtPosition", json_object_get(d, "createdAt")));
  }
  free(sel);
  json_decref(jobs);
  *resp = json_pack("{s:{s:o, s:I}}", "frontOfQueue", "jobs", front, "lastUpdatedAt", (json_int_t)now_ms());
  return 0;
}

int query_call(const struct bus_conf *bc, const char *api, const json_t *req, json_t **resp,
               char *err, size_t errlen) {
  *resp = NULL;
  if (!strcmp(api, "DescribeComputeEnvironments") || !strcmp(api, "DescribeJobQueues") ||
      !strcmp(api, "DescribeJobDefinitions") || !strcmp(api, "DescribeSchedulingPolicies") ||
      !strcmp(api, "ListSchedulingPolicies"))
    return describe_config(bc, api, req, resp, err, errlen);
  if (!strcmp(api, "DescribeJobs")) return describe_jobs(bc, req, resp, err, errlen);
  if (!strcmp(api, "ListJobs")) return list_jobs(bc, req, resp, err, errlen);
  if (!strcmp(api, "GetJobQueueSnapshot")) return queue_snapshot(bc, req, resp, err, errlen);
  return -1;
}
