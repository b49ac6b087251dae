/* query_jobs.c: DescribeJobs, ListJobs and GetJobQueueSnapshot from barge.jobs (query.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query_int.h"

static int load_jobs(const struct bus_conf *bc, json_t **jobs, char *err, size_t errlen) {
  char e[512];
  if (jobs_view_load(bc, jobs, e, sizeof e)) {
    json_decref(*jobs);
    *jobs = NULL;
    return fail(err, errlen, SERVER, "reading jobs: %s", e);
  }
  return 0;
}

/* The ARN of the job queue named (or ARN'd) ref, into out. 0, or an error. */
static int queue_arn_of(const struct bus_conf *bc, const char *ref, char *out, size_t n, char *err,
                        size_t errlen) {
  struct config_view cv;
  int rc;
  if ((rc = config_view_load_api(bc, &cv, err, errlen))) return rc;
  json_t *q = config_find(cv.queues, "jobQueueName", ref);
  if (q) snprintf(out, n, "%s", jget_str(q, "jobQueueArn"));
  config_view_release(&cv);
  if (!q) return fail(err, errlen, CLIENT, "job queue %s does not exist", ref);
  return 0;
}

/* A JobRecord's detail as DescribeJobs shows it: the container's stored members (volumes,
 * mountPoints, user, ulimits, linuxParameters, ...) in place of its storedJson. A new reference. */
json_t *query_job_detail(const json_t *detail) {
  json_t *d = json_deep_copy(detail);
  json_t *c = json_object_get(d, "container");
  const char *text = jget_str(c, "storedJson");
  if (text) {
    json_t *stored = json_loads(text, 0, NULL);
    json_object_del(c, "storedJson");
    if (json_is_object(stored)) json_object_update_missing(c, stored);
    json_decref(stored);
  }
  return d;
}

int query_describe_jobs(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
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
    if (rec) json_array_append_new(out, query_job_detail(json_object_get(rec, "detail")));
  }
  json_decref(jobs);
  *resp = json_pack("{s:o}", "jobs", out);
  return 0;
}

/* ---------------- ListJobs ---------------- */

/* A ListJobs request, checked. Strings are borrowed from the request. */
struct list_req {
  const char *queue, *array; /* exactly one */
  const char *fname;         /* the filter's name, or NULL */
  const char *fvalue;        /* its first value (NULL when not a string) */
  const char *status;        /* jobStatus (RUNNING when not given) */
  int use_status;            /* without a filter (or with SHARE_IDENTIFIER) the status applies */
  int page;
};

static int list_req_parse(const json_t *req, struct list_req *lr, char *err, size_t errlen) {
  memset(lr, 0, sizeof *lr);
  lr->queue = jget_str(req, "jobQueue");
  lr->array = jget_str(req, "arrayJobId");
  if (json_object_get(req, "multiNodeJobId"))
    return fail(err, errlen, CLIENT, "multiNodeJobId is not supported (multi-node jobs are out of scope)");
  if ((lr->queue != NULL) == (lr->array != NULL))
    return fail(err, errlen, CLIENT, "give exactly one of jobQueue or arrayJobId");
  json_t *filters = json_object_get(req, "filters");
  if (json_array_size(filters) > 1) return fail(err, errlen, CLIENT, "filters takes one filter");
  json_t *filter = json_array_get(filters, 0);
  static const char *const fnames[] = {"JOB_NAME", "JOB_DEFINITION", "BEFORE_CREATED_AT", "AFTER_CREATED_AT", "SHARE_IDENTIFIER", NULL};
  if (filter) {
    const char *fname = jget_str(filter, "name");
    int ok = 0;
    for (const char *const *k = fnames; *k; k++) ok |= fname && !strcmp(fname, *k);
    if (!ok) return fail(err, errlen, CLIENT, "filters[0].name must be one of JOB_NAME, JOB_DEFINITION, BEFORE_CREATED_AT, AFTER_CREATED_AT, SHARE_IDENTIFIER");
    json_t *fvals = json_object_get(filter, "values");
    if (!json_array_size(fvals)) return fail(err, errlen, CLIENT, "filters[0].values needs a value");
    lr->fname = fname;
    lr->fvalue = json_string_value(json_array_get(fvals, 0));
  }
  lr->status = jget_str(req, "jobStatus");
  lr->use_status = !filter || !strcmp(lr->fname, "SHARE_IDENTIFIER");
  if (!lr->status) lr->status = "RUNNING";
  static const char *const statuses[] = {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED", NULL};
  int okst = 0;
  for (const char *const *k = statuses; *k; k++) okst |= !strcmp(lr->status, *k);
  if (!okst) return fail(err, errlen, CLIENT, "jobStatus %s is not a job status", lr->status);
  return query_max_results(req, filter ? 100 : 1000, filter ? 100 : 1000, &lr->page, err, errlen);
}

static int name_match(const char *pattern, const char *name) {
  size_t n = strlen(pattern);
  if (n && pattern[n - 1] == '*') return !strncasecmp(pattern, name, n - 1);
  return !strcasecmp(pattern, name);
}

/* JOB_DEFINITION: an ARN matches exactly, a name (with a trailing * as a prefix) any revision. */
static int jd_match(const char *v, const char *jd) {
  if (!strncmp(v, "arn:", 4)) return !strcmp(v, jd);
  const char *slash = strrchr(jd, '/');
  char nm[256];
  snprintf(nm, sizeof nm, "%s", slash ? slash + 1 : jd);
  char *colon = strrchr(nm, ':');
  if (colon) *colon = 0;
  return name_match(v, nm);
}

/* Does job detail d pass lr's filter? */
static int filter_match(const struct list_req *lr, const json_t *d) {
  const char *v = lr->fvalue, *f = lr->fname;
  if (!v) return 0;
  if (!strcmp(f, "JOB_NAME")) return name_match(v, jget_str(d, "jobName"));
  if (!strcmp(f, "JOB_DEFINITION")) return jd_match(v, jget_str(d, "jobDefinition"));
  if (!strcmp(f, "SHARE_IDENTIFIER"))
    return jget_str(d, "shareIdentifier") && !strcmp(v, jget_str(d, "shareIdentifier"));
  int64_t t = parse_time_ms(v);
  json_int_t c = json_integer_value(json_object_get(d, "createdAt"));
  return !strcmp(f, "BEFORE_CREATED_AT") ? c < t : c > t;
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
  return strcmp(jget_str(y, "jobId"), jget_str(x, "jobId"));
}

static int list_select(const json_t *jobs, const char *qarn, const struct list_req *lr,
                       const json_t *req, json_t **resp, char *err, size_t errlen) {
  size_t n = json_object_size(jobs), k = 0;
  json_t **sel = xcalloc(n ? n : 1, sizeof *sel);
  const char *key;
  json_t *rec;
  json_object_foreach((json_t *)jobs, key, rec) {
    json_t *d = json_object_get(rec, "detail");
    const char *parent = jget_str(rec, "parentJobId");
    if (qarn) {
      if (parent || strcmp(jget_str(d, "jobQueue"), qarn)) continue;
    } else if (!parent || strcmp(parent, lr->array)) {
      continue;
    }
    if (lr->use_status && strcmp(jget_str(d, "status"), lr->status)) continue;
    if (lr->fname && !parent && !filter_match(lr, d)) continue;
    sel[k++] = d;
  }
  qsort(sel, k, sizeof *sel, cmp_newest);
  json_t *all = json_array();
  for (size_t i = 0; i < k; i++) json_array_append_new(all, summary_of(sel[i]));
  free(sel);
  return query_paginate(all, req, lr->page, "jobSummaryList", resp, err, errlen);
}

int query_list_jobs_in(const json_t *jobs, const char *queue_arn, const json_t *req,
                       json_t **resp, char *err, size_t errlen) {
  struct list_req lr;
  int rc = list_req_parse(req, &lr, err, errlen);
  if (rc) return rc;
  return list_select(jobs, lr.queue ? queue_arn : NULL, &lr, req, resp, err, errlen);
}

int query_list_jobs(const struct bus_conf *bc, const json_t *req, json_t **resp, char *err,
                    size_t errlen) {
  struct list_req lr;
  char qarn[512] = "";
  json_t *jobs;
  int rc;
  if ((rc = list_req_parse(req, &lr, err, errlen))) return rc;
  if (lr.queue && (rc = queue_arn_of(bc, lr.queue, qarn, sizeof qarn, err, errlen))) return rc;
  if ((rc = load_jobs(bc, &jobs, err, errlen))) return rc;
  rc = list_select(jobs, lr.queue ? qarn : NULL, &lr, req, resp, err, errlen);
  json_decref(jobs);
  return rc;
}

/* ---------------- GetJobQueueSnapshot ---------------- */

/* Dispatch order: retried jobs first in return order, then by submission (JobRecord.queueSeq
 * carries both: negative for a retried job), array children by index. */
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

/* Up to 100 RUNNABLE jobs from the front of the queue, in dispatch order. */
int query_get_job_queue_snapshot(const struct bus_conf *bc, const json_t *req, json_t **resp,
                                 char *err, size_t errlen) {
  const char *queue = jget_str(req, "jobQueue");
  if (!queue) return fail(err, errlen, CLIENT, "jobQueue is required");
  char qarn[512] = "";
  json_t *jobs;
  int rc;
  if ((rc = queue_arn_of(bc, queue, qarn, sizeof qarn, err, errlen))) return rc;
  if ((rc = load_jobs(bc, &jobs, err, errlen))) return rc;
  size_t n = json_object_size(jobs), k = 0;
  json_t **sel = xcalloc(n ? n : 1, sizeof *sel);
  const char *key;
  json_t *rec;
  json_object_foreach(jobs, key, rec) {
    json_t *d = json_object_get(rec, "detail");
    if (!strcmp(jget_str(d, "jobQueue"), qarn) && !strcmp(jget_str(d, "status"), "RUNNABLE")) sel[k++] = rec;
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
