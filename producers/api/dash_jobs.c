/* dash_jobs.c: the dashboard's reads and actions (dash.h). The counts and the job table come
 * from the in-memory view under its read lock: counts are the sizes of the store's (queue,
 * status) buckets, and a page of the table is a seek into each ordered (queue, status) index
 * and a merge of as many steps as the page has rows (jobs_store_walk), so that it costs the same
 * at a million jobs as at ten. A name search filters along the same walk for at most
 * DASH_SEARCH_MS per request; the answer's cursor lets the page carry on from where it stopped. A job's page, the compute environments and every action go through the API's own
 * operations (DescribeJobs, DescribeComputeEnvironments, CancelJob, TerminateJob), as the
 * session's key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dash_int.h"
#include "jsonget.h"
#include "util.h"
#include "view.h"
#include "view_live.h"

#define VIEW_WAIT_MS 5000 /* a read waits this long for the view's first load */

static const char *queue_name(const char *arn) {
  const char *slash = arn ? strrchr(arn, '/') : NULL;
  return slash ? slash + 1 : arn ? arn : "";
}

static int read_view(struct dash *d, const struct view **v, char *err, size_t errlen) {
  if (!d->conf.live) return snprintf(err, errlen, "this API keeps no in-memory view of the tables"), 503;
  return view_live_read(d->conf.live, VIEW_WAIT_MS, v, err, errlen) ? 503 : 0;
}

static json_t *counts_json(const size_t *counts) {
  json_t *o = json_object();
  for (int i = 0; jobs_store_statuses[i]; i++) json_object_set_new(o, jobs_store_statuses[i], json_integer((json_int_t)counts[i]));
  return o;
}

static int by_name(const void *a, const void *b) {
  return strcmp(jget_str(*(json_t *const *)a, "name"), jget_str(*(json_t *const *)b, "name"));
}

int dash_overview(struct dash *d, json_t **resp, char *err, size_t errlen) {
  const struct view *v;
  if (read_view(d, &v, err, errlen)) return 503;
  size_t nq = json_object_size(v->cv.queues), k = 0, totals[16] = {0}, all[16];
  json_t **rows = xcalloc(nq ? nq : 1, sizeof *rows), *q;
  const char *arn;
  json_object_foreach(v->cv.queues, arn, q) {
    jobs_store_counts(v->jobs, arn, NULL, all);
    size_t sum = 0;
    for (int i = 0; jobs_store_statuses[i]; i++) sum += all[i];
    rows[k++] = json_pack("{s:s, s:s, s:s?, s:s?, s:o?, s:o, s:I}", "name", queue_name(arn), "arn", arn, "state",
                          jget_str(q, "state"), "status", jget_str(q, "status"), "priority",
                          json_incref(json_object_get(q, "priority")), "counts", counts_json(all), "total", (json_int_t)sum);
  }
  size_t jobs = jobs_store_count(v->jobs);
  jobs_store_counts_every(v->jobs, totals); /* a deleted queue's jobs too, as `jobs` counts them */
  /* read under the view's lock, which its changes are pushed under: the position of these counts,
   * from which the page polls when it has no live stream (docs/dashboard.md, "The live stream") */
  int64_t seq = dash_events_last(d);
  view_live_done(d->conf.live);
  qsort(rows, k, sizeof *rows, by_name);
  json_t *queues = json_array(), *statuses = json_array();
  for (size_t i = 0; i < k; i++) json_array_append_new(queues, rows[i]);
  for (int i = 0; jobs_store_statuses[i]; i++) json_array_append_new(statuses, json_string(jobs_store_statuses[i]));
  free(rows);
  *resp = json_pack("{s:o, s:o, s:o, s:I, s:I}", "statuses", statuses, "queues", queues, "totals", counts_json(totals), "jobs",
                    (json_int_t)jobs, "seq", (json_int_t)seq);
  return 200;
}

/* ------------------------------------------------------------------------- the filter -- */

/* The job table's filter, as the page and a bulk action give it. */
struct filter {
  const char *queue_arn; /* NULL: every queue (borrowed from the view) */
  const char *statuses[8];
  size_t nstatuses; /* 0: every status */
  const char *needle; /* a name (substring, any case) or a job id; NULL: none */
  int ascending;
};

static int filter_parse(const struct view *v, const char *queue, const char *status, const char *needle,
                        const char *sort, struct filter *f, char *err, size_t errlen) {
  memset(f, 0, sizeof *f);
  if (queue && *queue) {
    json_t *q = config_find(v->cv.queues, "jobQueueName", queue);
    if (!q) return snprintf(err, errlen, "job queue %.200s does not exist", queue), 400;
    f->queue_arn = jget_str(q, "jobQueueArn");
  }
  if (status && *status) {
    int i = jobs_store_status_index(status);
    if (i < 0) return snprintf(err, errlen, "status must be one of SUBMITTED ... FAILED, not %.50s", status), 400;
    f->statuses[f->nstatuses++] = jobs_store_statuses[i];
  }
  f->needle = needle && *needle ? needle : NULL;
  if (sort && *sort && strcmp(sort, "newest") && strcmp(sort, "oldest"))
    return snprintf(err, errlen, "sort is newest or oldest, not %.50s", sort), 400;
  f->ascending = sort && !strcmp(sort, "oldest");
  return 0;
}

static int matches(const struct filter *f, const struct vjob_info *j) {
  return !f->needle || strcasestr(j->name, f->needle) || !strcasecmp(j->id, f->needle);
}

static void walk_of(const struct filter *f, struct jobs_walk *w) {
  memset(w, 0, sizeof *w);
  w->queues = f->queue_arn ? &f->queue_arn : NULL;
  w->nqueues = f->queue_arn ? 1 : 0;
  w->statuses = f->nstatuses ? f->statuses : NULL;
  w->nstatuses = f->nstatuses;
  w->ascending = f->ascending;
}

/* ------------------------------------------------------------------------ the job table -- */

struct page {
  const struct view *v;
  const struct filter *f;
  json_t *rows;
  size_t limit;
  const char *last_id; /* the last job visited: the next page's cursor (valid under the lock) */
  int64_t last_at;
  size_t visited;
  int64_t deadline_us; /* a search stops here; 0: never */
};

/* A row: what the store indexes, and from the record what the table shows besides. */
static json_t *row_of(const struct view *v, const struct vjob_info *j) {
  json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", j->id, "name", j->name, "status", j->status, "queue",
                          queue_name(j->queue), "createdAt", (json_int_t)j->created_at);
  json_t *rec = jobs_store_get(v->jobs, j->id), *det = json_object_get(rec, "detail");
  static const char *const copied[] = {"statusReason", "startedAt", "stoppedAt", NULL};
  for (const char *const *k = copied; *k; k++) {
    json_t *x = json_object_get(det, *k);
    if (x && !json_is_null(x)) json_object_set(row, *k, x);
  }
  json_t *exit = json_object_get(json_object_get(det, "container"), "exitCode");
  if (json_is_integer(exit)) json_object_set(row, "exitCode", exit);
  json_t *size = json_object_get(json_object_get(det, "arrayProperties"), "size");
  if (json_is_integer(size)) {
    size_t counts[16];
    jobs_store_child_counts(v->jobs, j->id, counts);
    json_object_set_new(row, "array", json_pack("{s:O, s:o}", "size", size, "counts", counts_json(counts)));
  }
  json_decref(rec);
  return row;
}

static int page_visit(void *ctx, const struct vjob_info *j) {
  struct page *p = ctx;
  p->last_id = j->id;
  p->last_at = j->created_at;
  if (matches(p->f, j)) json_array_append_new(p->rows, row_of(p->v, j));
  if (p->deadline_us && ++p->visited % 1024 == 0 && mono_us() > p->deadline_us) return 1;
  return json_array_size(p->rows) >= p->limit;
}

/* "createdAt.jobId" into a walk's position. */
static int cursor_parse(const char *s, struct vjob_info *at, char *id, size_t n) {
  char *end;
  memset(at, 0, sizeof *at);
  at->created_at = strtoll(s, &end, 10);
  if (end == s || *end != '.' || !end[1] || strlen(end + 1) >= n) return -1;
  snprintf(id, n, "%s", end + 1);
  at->id = id;
  return 0;
}

int dash_jobs(struct dash *d, const char *q, json_t **resp, char *err, size_t errlen) {
  char *queue = dash_query(q, "queue"), *status = dash_query(q, "status"), *needle = dash_query(q, "q"),
       *sort = dash_query(q, "sort"), *limit_s = dash_query(q, "limit"), *after = dash_query(q, "after");
  int rc = 0;
  long limit = limit_s ? strtol(limit_s, NULL, 10) : 50;
  if (limit < 1 || limit > DASH_PAGE_MAX) limit = limit < 1 ? 50 : DASH_PAGE_MAX;
  struct vjob_info at;
  char at_id[128];
  if (after && *after && cursor_parse(after, &at, at_id, sizeof at_id)) {
    rc = 400, snprintf(err, errlen, "after is a cursor the table gave (createdAt.jobId)");
    goto out;
  }
  const struct view *v;
  if (read_view(d, &v, err, errlen)) {
    rc = 503;
    goto out;
  }
  int64_t t0 = mono_us();
  struct filter f;
  if ((rc = filter_parse(v, queue, status, needle, sort, &f, err, errlen))) {
    view_live_done(d->conf.live);
    goto out;
  }
  struct jobs_walk w;
  walk_of(&f, &w);
  w.after = after && *after ? &at : NULL;
  struct vjob_info byid;
  if (f.needle && !w.after && !jobs_store_info(v->jobs, f.needle, &byid)) { /* a job id: no walk */
    json_t *rows = json_array();
    int in = !f.queue_arn || !strcmp(f.queue_arn, byid.queue);
    if (in && (!f.nstatuses || !strcmp(f.statuses[0], byid.status))) json_array_append_new(rows, row_of(v, &byid));
    view_live_done(d->conf.live);
    *resp = json_pack("{s:o, s:n, s:n, s:i, s:b, s:f}", "jobs", rows, "next", "total", "scanned", 1, "searchedAll", 1,
                      "tookMs", (double)(mono_us() - t0) / 1000.0);
    rc = 200;
    goto out;
  }
  struct page p = {v, &f, json_array(), (size_t)limit, NULL, 0, 0, f.needle ? t0 + DASH_SEARCH_MS * 1000 : 0};
  int ended = 0;
  size_t visited = jobs_store_walk(v->jobs, &w, page_visit, &p, &ended);
  char next[200];
  snprintf(next, sizeof next, "%lld.%s", (long long)p.last_at, p.last_id ? p.last_id : "");
  /* known without a search: the sizes of the indexes the walk merges (a deleted queue's jobs,
   * which the walk lists, included) */
  json_int_t total = f.needle ? -1 : (json_int_t)jobs_store_walk_total(v->jobs, &w);
  view_live_done(d->conf.live);
  *resp = json_pack("{s:o, s:s?, s:o, s:I, s:b, s:f}", "jobs", p.rows, "next", ended || !visited ? NULL : next, "total",
                    total < 0 ? json_null() : json_integer(total), "scanned", (json_int_t)visited, "searchedAll",
                    ended, "tookMs", (double)(mono_us() - t0) / 1000.0);
  rc = 200;
out:
  free(queue), free(status), free(needle), free(sort), free(limit_s), free(after);
  return rc;
}

/* --------------------------------------------------------------------------- one job -- */

/* ops->call as the session's key: 200 with *resp, or the operation's status with err. */
int dash_call(struct dash *d, const struct dash_who *w, const char *op, json_t *req /* @owned */, json_t **resp,
                char *err, size_t errlen) {
  *resp = NULL;
  int rc = d->conf.ops && d->conf.ops->call ? d->conf.ops->call(d->conf.ops->ctx, &w->who, op, req, resp, err, errlen)
                                            : (snprintf(err, errlen, "the API has no operations"), 500);
  json_decref(req);
  return rc ? rc : 200;
}

int dash_job(struct dash *d, const struct dash_who *w, const char *q, json_t **resp, char *err, size_t errlen) {
  char *id = dash_query(q, "id");
  if (!id || !*id) {
    free(id);
    return snprintf(err, errlen, "id is required"), 400;
  }
  json_t *r = NULL;
  int rc = dash_call(d, w, "DescribeJobs", json_pack("{s:[s]}", "jobs", id), &r, err, errlen);
  json_t *job = json_array_get(json_object_get(r, "jobs"), 0);
  if (rc == 200 && !job) rc = 404, snprintf(err, errlen, "no job %.100s", id);
  if (rc == 200) {
    json_t *children = json_null();
    const struct view *v;
    if (!read_view(d, &v, err, errlen)) {
      size_t counts[16], n = jobs_store_child_counts(v->jobs, id, counts);
      if (n) children = json_pack("{s:I, s:o}", "total", (json_int_t)n, "counts", counts_json(counts));
      view_live_done(d->conf.live);
    }
    *resp = json_pack("{s:O, s:o}", "job", job, "children", children);
  }
  json_decref(r);
  free(id);
  return rc;
}

struct kids {
  const char *status;
  json_t *all;
};

static int kid_visit(void *ctx, const struct vjob_info *j) {
  struct kids *k = ctx;
  if (!k->status || !strcmp(k->status, j->status))
    json_array_append_new(k->all, json_pack("{s:i, s:s, s:s}", "index", j->index, "id", j->id, "status", j->status));
  return 0;
}

static int by_index(const void *a, const void *b) {
  return (int)(json_integer_value(json_object_get(*(json_t *const *)a, "index")) -
               json_integer_value(json_object_get(*(json_t *const *)b, "index")));
}

int dash_children(struct dash *d, const char *q, json_t **resp, char *err, size_t errlen) {
  char *id = dash_query(q, "id"), *status = dash_query(q, "status"), *off_s = dash_query(q, "offset");
  long off = off_s ? strtol(off_s, NULL, 10) : 0;
  const struct view *v;
  int rc = read_view(d, &v, err, errlen);
  if (!rc) {
    struct kids k = {status && *status ? status : NULL, json_array()};
    jobs_store_each(v->jobs, NULL, NULL, id ? id : "", kid_visit, &k);
    view_live_done(d->conf.live);
    size_t n = json_array_size(k.all);
    json_t **items = xcalloc(n ? n : 1, sizeof *items), *page = json_array();
    for (size_t i = 0; i < n; i++) items[i] = json_array_get(k.all, i);
    qsort(items, n, sizeof *items, by_index);
    for (size_t i = off < 0 ? 0 : (size_t)off; i < n && json_array_size(page) < 100; i++)
      json_array_append(page, items[i]);
    free(items);
    json_decref(k.all);
    *resp = json_pack("{s:o, s:I}", "children", page, "total", (json_int_t)n);
    rc = 200;
  }
  free(id), free(status), free(off_s);
  return rc;
}

int dash_log(struct dash *d, const char *q, json_t **resp, char *err, size_t errlen) {
  char *stream = dash_query(q, "stream"), *token = dash_query(q, "token");
  int rc;
  if (!stream || !*stream) {
    rc = 400, snprintf(err, errlen, "stream is required");
  } else {
    json_t *req = json_pack("{s:s, s:s, s:b, s:i}", "logGroupName", LOGS_GROUP, "logStreamName", stream, "startFromHead",
                            1, "limit", 1000);
    if (token && *token) json_object_set_new(req, "nextToken", json_string(token));
    const char *type = NULL;
    rc = logs_call(d->conf.logs, "GetLogEvents", req, resp, &type, err, errlen);
    if (rc == 400 && type && !strcmp(type, "ResourceNotFoundException")) rc = 404;
    json_decref(req);
  }
  free(stream), free(token);
  return rc;
}
