/* query_jobs.c: DescribeJobs, ListJobs and GetJobQueueSnapshot from barge.jobs (query.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query_int.h"

/* The ARN of the job queue named (or ARN'd) ref, into out. 0, or an error. */
static int queue_arn_of(const struct view *v, const char *ref, char *out, size_t n, char *err,
                        size_t errlen) {
  if (!*ref) /* was looked up, and refused as "job queue  does not exist" */
    return fail(err, errlen, CLIENT, "jobQueue is empty: give a job queue's name or ARN");
  json_t *q = config_find(v->cv.queues, "jobQueueName", ref);
  if (!q) return fail(err, errlen, CLIENT, "job queue %s does not exist", ref);
  snprintf(out, n, "%s", jget_str(q, "jobQueueArn"));
  return 0;
}

/* A JobRecord's detail as DescribeJobs shows it: the container's stored members (volumes,
 * mountPoints, user, ulimits, linuxParameters, ...) in place of its storedJson. A new reference;
 * the detail itself when it has no storedJson (records written before it existed). */
json_t *query_job_detail(const json_t *detail) {
  json_t *c = json_object_get(detail, "container");
  const char *text = jget_str(c, "storedJson");
  if (!text) return json_incref((json_t *)detail);
  json_t *d = json_copy((json_t *)detail), *c2 = json_copy(c); /* shallow: the rest is shared */
  json_object_del(c2, "storedJson");
  json_t *stored = json_loads(text, 0, NULL);
  if (json_is_object(stored)) json_object_update_missing(c2, stored);
  json_decref(stored);
  json_object_set_new(d, "container", c2);
  return d;
}

int query_describe_jobs_v(const struct view *v, const json_t *req, json_t **resp, char *err,
                          size_t errlen) {
  json_t *ids = json_object_get(req, "jobs");
  if (!json_is_array(ids) || json_array_size(ids) < 1)
    return fail(err, errlen, CLIENT, "jobs is required: 1 to 100 job ids");
  if (json_array_size(ids) > 100)
    return fail(err, errlen, CLIENT, "jobs takes at most 100 job ids, got %zu", json_array_size(ids));
  size_t i;
  json_t *id;
  /* an empty id names no job and is no unknown one either: the AWS CLI sends `--jobs ''` as [""],
   * which an empty answer would read as "no such job" (AWS refuses ids outside its pattern) */
  json_array_foreach(ids, i, id) if (json_is_string(id) && !*json_string_value(id))
    return fail(err, errlen, CLIENT, "jobs[%zu] is empty: each entry must be a job id", i);
  json_t *out = json_array();
  json_array_foreach(ids, i, id) {
    json_t *rec = jobs_store_get(v->jobs, json_string_value(id) ? json_string_value(id) : "");
    if (rec) json_array_append_new(out, query_job_detail(json_object_get(rec, "detail")));
    json_decref(rec);
  }
  *resp = json_pack("{s:o}", "jobs", out);
  return 0;
}

/* ---------------- ListJobs ---------------- */

/* A ListJobs request, checked. Strings are borrowed from the request. */
struct list_req {
  const char *queue, *array; /* exactly one */
  const char *fname;         /* the filter's name, or NULL */
  const char *fvalue;        /* its first value (NULL when not a string) */
  int64_t ftime_ms;          /* BEFORE_/AFTER_CREATED_AT: fvalue as a time */
  const char *status;        /* jobStatus (RUNNING when not given) */
  int use_status;            /* without a filter (or with SHARE_IDENTIFIER) the status applies */
  int page;
};

static int list_req_parse(const json_t *req, struct list_req *lr, char *err, size_t errlen) {
  memset(lr, 0, sizeof *lr);
  lr->queue = jget_str(req, "jobQueue");
  lr->array = jget_str(req, "arrayJobId");
  const char *mnp = jget_str(req, "multiNodeJobId"); /* its nodes are its children, as an array's */
  if ((lr->queue != NULL) + (lr->array != NULL) + (mnp != NULL) != 1)
    return fail(err, errlen, CLIENT, "give exactly one of jobQueue, arrayJobId or multiNodeJobId");
  if (mnp) lr->array = mnp;
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
    /* a second value used to be ignored without a word (the page held the first's jobs only) */
    if (json_array_size(fvals) > 1)
      return fail(err, errlen, CLIENT, "filters[0].values takes one value, got %zu: list each value with a ListJobs call of its own",
                  json_array_size(fvals));
    lr->fname = fname;
    lr->fvalue = json_string_value(json_array_get(fvals, 0));
    if (strstr(fname, "_CREATED_AT")) {
      /* parse_time_ms's -1 for "abc" would match every job (AFTER) or none (BEFORE) */
      lr->ftime_ms = parse_time_ms(lr->fvalue);
      if (lr->ftime_ms < 0)
        return fail(err, errlen, CLIENT, "filters[0].values: %s takes a time in epoch milliseconds (as a string), got '%s'",
                    fname, lr->fvalue ? lr->fvalue : "");
    }
  }
  lr->status = jget_str(req, "jobStatus");
  lr->use_status = !filter || !strcmp(lr->fname, "SHARE_IDENTIFIER");
  if (!lr->status) lr->status = "RUNNING";
  static const char *const statuses[] = {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED", NULL};
  int okst = 0;
  for (const char *const *k = statuses; *k; k++) okst |= !strcmp(lr->status, *k);
  if (!okst) return fail(err, errlen, CLIENT, "jobStatus %s is not a job status", lr->status);
  /* 1..1000 as AWS takes it; with filters a page holds at most 100, as AWS returns */
  return query_max_results(req, filter ? 100 : 1000, 1000, filter ? 100 : 1000, &lr->page, err, errlen);
}

/* JOB_NAME: case-insensitive, a trailing * as a prefix. */
static int name_match(const char *pattern, const char *name) {
  size_t n = strlen(pattern);
  if (n && pattern[n - 1] == '*') return !strncasecmp(pattern, name, n - 1);
  return !strcasecmp(pattern, name);
}

/* JOB_DEFINITION: an ARN matches exactly, a name (with a trailing * as a prefix) any revision.
 * Case-sensitive, as AWS documents it: job definition names are, so jd and JD are two. */
static int jd_match(const char *v, const char *jd) {
  if (!strncmp(v, "arn:", 4)) return barge_arn_same(v, jd);
  const char *slash = strrchr(jd, '/');
  char nm[256];
  snprintf(nm, sizeof nm, "%s", slash ? slash + 1 : jd);
  char *colon = strrchr(nm, ':');
  if (colon) *colon = 0;
  size_t n = strlen(v);
  if (n && v[n - 1] == '*') return !strncmp(v, nm, n - 1);
  return !strcmp(v, nm);
}

/* Does job j pass lr's filter? */
static int filter_match(const struct list_req *lr, const struct vjob_info *j) {
  const char *v = lr->fvalue, *f = lr->fname;
  if (!v) return 0;
  if (!strcmp(f, "JOB_NAME")) return name_match(v, j->name);
  if (!strcmp(f, "JOB_DEFINITION")) return jd_match(v, j->jd);
  if (!strcmp(f, "SHARE_IDENTIFIER")) return j->share && !strcmp(v, j->share);
  return !strcmp(f, "BEFORE_CREATED_AT") ? j->created_at < lr->ftime_ms : j->created_at > lr->ftime_ms;
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
  json_t *np = json_object_get(d, "nodeProperties"), *nd = json_object_get(d, "nodeDetails");
  if (np) json_object_set_new(s, "nodeProperties", json_pack("{s:O}", "numNodes", json_object_get(np, "numNodes")));
  if (nd)
    json_object_set_new(s, "nodeProperties", json_pack("{s:O, s:O}", "nodeIndex", json_object_get(nd, "nodeIndex"),
                                                       "isMainNode", json_object_get(nd, "isMainNode")));
  return s;
}

/* ListJobs' order: newest first, then by job id (descending; an array's children by index,
 * job_id_cmp), a total order. */
static int cmp_newest(const void *a, const void *b) {
  const struct vjob_info *x = a, *y = b;
  if (x->created_at != y->created_at) return x->created_at > y->created_at ? -1 : 1;
  return job_id_cmp(y->id, x->id);
}

/* nextToken: the sort key of the last job a page gave, so that the next page starts after it
 * whatever was added before it meanwhile. Opaque to clients (base64 of "lj1 CREATED ID"). */
struct cursor {
  int set;
  int64_t created_at;
  char id[128];
};

static json_t *token_of(const struct vjob_info *last) {
  char raw[200];
  int n = snprintf(raw, sizeof raw, "lj1 %lld %s", (long long)last->created_at, last->id);
  char *b64 = base64_encode(raw, (size_t)n, NULL);
  json_t *t = json_string(b64);
  free(b64);
  return t;
}

static int token_parse(const char *tok, struct cursor *c, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  if (!tok) return 0;
  size_t n = 0;
  unsigned char *raw = strlen(tok) < 300 ? base64_decode(tok, strlen(tok), &n) : NULL;
  char text[256] = "";
  int decoded = raw && n < sizeof text;
  if (decoded) memcpy(text, raw, n), text[n] = 0;
  free(raw);
  long long created;
  int used = 0;
  if (!decoded || sscanf(text, "lj1 %lld %n", &created, &used) != 1 || !used || !text[used] ||
      strlen(text + used) >= sizeof c->id || strpbrk(text + used, " \n"))
    return fail(err, errlen, CLIENT, "nextToken is not valid: give the nextToken of the previous page");
  c->set = 1;
  c->created_at = created;
  snprintf(c->id, sizeof c->id, "%s", text + used);
  return 0;
}

/* The jobs a page shows: the `limit` first in ListJobs' order after the cursor, kept in a heap
 * whose root is the last of them, so that a page costs one pass over the index and no sort of
 * the whole selection. */
struct list_walk {
  const struct list_req *lr;
  int by_queue;
  struct cursor cur;
  struct vjob_info *sel;
  size_t n, cap, limit;
};

static void sift_down(struct vjob_info *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && cmp_newest(&h[l], &h[m]) > 0) m = l;
    if (r < n && cmp_newest(&h[r], &h[m]) > 0) m = r;
    if (m == i) return;
    struct vjob_info t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

static void keep(struct list_walk *w, const struct vjob_info *j) {
  if (w->n < w->limit) {
    if (w->n == w->cap) {
      w->cap = w->cap ? w->cap * 2 : 256;
      w->sel = xrealloc(w->sel, w->cap * sizeof *w->sel);
    }
    size_t i = w->n++;
    w->sel[i] = *j;
    while (i && cmp_newest(&w->sel[(i - 1) / 2], &w->sel[i]) < 0) { /* sift up */
      struct vjob_info t = w->sel[i];
      w->sel[i] = w->sel[(i - 1) / 2];
      w->sel[(i - 1) / 2] = t;
      i = (i - 1) / 2;
    }
  } else if (cmp_newest(j, &w->sel[0]) < 0) {
    w->sel[0] = *j;
    sift_down(w->sel, w->n, 0);
  }
}

static int list_visit(void *ctx, const struct vjob_info *j) {
  struct list_walk *w = ctx;
  const struct list_req *lr = w->lr;
  if (w->by_queue && j->parent) return 0;
  if (lr->use_status && strcmp(j->status, lr->status)) return 0;
  if (lr->fname && !j->parent && !filter_match(lr, j)) return 0;
  struct vjob_info key = {.id = w->cur.id, .created_at = w->cur.created_at};
  if (w->cur.set && cmp_newest(j, &key) <= 0) return 0; /* at or before the cursor */
  keep(w, j);
  return 0;
}

/* The ordered walk: jobs come in ListJobs' order after the cursor; the page is the first ones
 * that pass the filter, and one more says whether there is a next page. */
static int ordered_visit(void *ctx, const struct vjob_info *j) {
  struct list_walk *w = ctx;
  if (w->lr->fname && !filter_match(w->lr, j)) return 0;
  if (w->n == w->cap) {
    w->cap = w->cap ? w->cap * 2 : 256;
    w->sel = xrealloc(w->sel, w->cap * sizeof *w->sel);
  }
  w->sel[w->n++] = *j;
  return w->n >= w->limit;
}

/* The page of jobs of qarn (or of the array lr names) after the token. */
static int list_select(const struct jobs_store *jobs, const char *qarn, const struct list_req *lr,
                       const json_t *req, json_t **resp, char *err, size_t errlen) {
  struct list_walk w = {.lr = lr, .by_queue = qarn != NULL, .limit = (size_t)lr->page + 1};
  int rc = token_parse(jget_str(req, "nextToken"), &w.cur, err, errlen);
  if (rc) return rc;
  struct vjob_info after = {.id = w.cur.id, .created_at = w.cur.created_at};
  if (qarn && lr->use_status) /* one status, no filter but SHARE_IDENTIFIER: a seek and a walk */
    jobs_store_each_ordered(jobs, qarn, lr->status, w.cur.set ? &after : NULL, ordered_visit, &w);
  else if (qarn)
    jobs_store_each(jobs, qarn, NULL, NULL, list_visit, &w);
  else
    jobs_store_each(jobs, NULL, NULL, lr->array, list_visit, &w);
  if (w.n) qsort(w.sel, w.n, sizeof *w.sel, cmp_newest);
  json_t *items = json_array();
  size_t k = w.n < (size_t)lr->page ? w.n : (size_t)lr->page;
  for (size_t i = 0; i < k; i++) {
    json_t *rec = jobs_store_get(jobs, w.sel[i].id);
    if (rec) json_array_append_new(items, summary_of(json_object_get(rec, "detail")));
    json_decref(rec);
  }
  *resp = json_pack("{s:o}", "jobSummaryList", items);
  if (k < w.n) json_object_set_new(*resp, "nextToken", token_of(&w.sel[k - 1]));
  free(w.sel);
  return 0;
}

int query_list_jobs_in(const json_t *jobs, const char *queue_arn, const json_t *req,
                       json_t **resp, char *err, size_t errlen) {
  struct list_req lr;
  int rc = list_req_parse(req, &lr, err, errlen);
  if (rc) return rc;
  struct jobs_store *st = jobs_store_new();
  const char *id;
  json_t *rec;
  json_object_foreach((json_t *)jobs, id, rec) jobs_store_put(st, id, rec, NULL, 0);
  rc = list_select(st, lr.queue ? queue_arn : NULL, &lr, req, resp, err, errlen);
  jobs_store_free(st);
  return rc;
}

int query_list_jobs_v(const struct view *v, const json_t *req, json_t **resp, char *err,
                      size_t errlen) {
  struct list_req lr;
  char qarn[512] = "";
  int rc;
  if ((rc = list_req_parse(req, &lr, err, errlen))) return rc;
  if (lr.queue && (rc = queue_arn_of(v, lr.queue, qarn, sizeof qarn, err, errlen))) return rc;
  return list_select(v->jobs, lr.queue ? qarn : NULL, &lr, req, resp, err, errlen);
}

/* ---------------- GetJobQueueSnapshot ---------------- */

/* Dispatch order: retried jobs first in return order, then by submission (JobRecord.queueSeq
 * carries both: negative for a retried job), array children by index. */
static int cmp_front(const void *a, const void *b) {
  const struct vjob_info *x = a, *y = b;
  int64_t qx = x->queue_seq, qy = y->queue_seq;
  int rx = qx < 0, ry = qy < 0;
  if (rx != ry) return rx ? -1 : 1;
  if (qx < 0) qx = -qx;
  if (qy < 0) qy = -qy;
  if (qx != qy) return qx < qy ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

static int collect(void *ctx, const struct vjob_info *j) {
  struct list_walk *w = ctx;
  if (w->n == w->cap) {
    w->cap = w->cap ? w->cap * 2 : 256;
    w->sel = xrealloc(w->sel, w->cap * sizeof *w->sel);
  }
  w->sel[w->n++] = *j;
  return 0;
}

/* Up to 100 RUNNABLE jobs from the front of the queue, in dispatch order. */
int query_get_job_queue_snapshot_v(const struct view *v, const json_t *req, json_t **resp,
                                   char *err, size_t errlen) {
  const char *queue = jget_str(req, "jobQueue");
  if (!queue) return fail(err, errlen, CLIENT, "jobQueue is required");
  char qarn[512] = "";
  int rc;
  if ((rc = queue_arn_of(v, queue, qarn, sizeof qarn, err, errlen))) return rc;
  struct list_walk w = {0};
  jobs_store_each(v->jobs, qarn, "RUNNABLE", NULL, collect, &w);
  if (w.n) qsort(w.sel, w.n, sizeof *w.sel, cmp_front);
  json_t *front = json_array();
  for (size_t i = 0; i < w.n && i < 100; i++) {
    json_t *rec = jobs_store_get(v->jobs, w.sel[i].id);
    json_t *d = json_object_get(rec, "detail");
    if (d)
      json_array_append_new(front, json_pack("{s:O, s:O}", "jobArn", json_object_get(d, "jobArn"),
                                             "earliestTimeAtPosition", json_object_get(d, "createdAt")));
    json_decref(rec);
  }
  free(w.sel);
  *resp = json_pack("{s:{s:o, s:I}}", "frontOfQueue", "jobs", front, "lastUpdatedAt", (json_int_t)now_ms());
  return 0;
}
