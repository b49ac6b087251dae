/* dash_actions.c: the dashboard's cancel and terminate (dash.h), of named jobs or of every job
 * the table's filter selects. Each job is one CancelJob or TerminateJob through the API's
 * operations (api_ops.h), the write path every client uses, as the session's key; a bulk
 * action runs BULK_THREADS of them at once. A bulk action is asked twice: a dry run counts the
 * jobs (what the page's confirmation shows), then the confirmed request names the count it was
 * shown and is refused when more jobs match by then. The jobs are chosen under the view's read
 * lock and acted on after it is released (a write takes the view's write lock). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dash_int.h"
#include "jsonget.h"
#include "util.h"
#include "view.h"
#include "view_live.h"

#define BULK_THREADS 8
#define ACTION_MAX_IDS 100

/* What an action does to which statuses (CancelJob leaves STARTING and RUNNING jobs alone). */
static const char *op_of(const char *action, const char *const **statuses) {
  static const char *const cancel[] = {"SUBMITTED", "PENDING", "RUNNABLE", NULL};
  static const char *const terminate[] = {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", NULL};
  if (action && !strcmp(action, "cancel")) return *statuses = cancel, "CancelJob";
  if (action && !strcmp(action, "terminate")) return *statuses = terminate, "TerminateJob";
  return NULL;
}

struct run {
  struct dash *d;
  const struct dash_who *w;
  const char *op, *reason;
  json_t *ids;
  size_t next, done;
  json_t *failed;
  pthread_mutex_t mu;
};

static void *worker(void *arg) {
  struct run *r = arg;
  for (;;) {
    pthread_mutex_lock(&r->mu);
    size_t i = r->next++;
    pthread_mutex_unlock(&r->mu);
    if (i >= json_array_size(r->ids)) return NULL;
    const char *id = json_string_value(json_array_get(r->ids, i));
    json_t *req = json_pack("{s:s, s:s}", "jobId", id, "reason", r->reason), *resp = NULL;
    char err[1024] = "";
    int rc = r->d->conf.ops->call(r->d->conf.ops->ctx, &r->w->who, r->op, req, &resp, err, sizeof err);
    json_decref(req);
    json_decref(resp);
    pthread_mutex_lock(&r->mu);
    if (rc) json_array_append_new(r->failed, json_pack("{s:s, s:s}", "jobId", id, "error", err));
    else r->done++;
    pthread_mutex_unlock(&r->mu);
  }
}

/* Runs op on every id, threads at once; {done, failed: [{jobId, error}]}. */
static json_t *run_all(struct dash *d, const struct dash_who *w, const char *op, const char *reason, json_t *ids,
                       int threads) {
  struct run r = {d, w, op, reason, ids, 0, 0, json_array(), PTHREAD_MUTEX_INITIALIZER};
  pthread_t t[BULK_THREADS];
  int n = 0;
  if (threads > BULK_THREADS) threads = BULK_THREADS;
  for (; n < threads - 1 && (size_t)n + 1 < json_array_size(ids); n++)
    if (pthread_create(&t[n], NULL, worker, &r)) break;
  worker(&r);
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  pthread_mutex_destroy(&r.mu);
  log_info("dashboard: %s by %s: %zu done, %zu failed", op, w->profile, r.done, json_array_size(r.failed));
  return json_pack("{s:I, s:o}", "done", (json_int_t)r.done, "failed", r.failed);
}

static void reason_of(const struct dash_who *w, const json_t *req, const char *op, char *out, size_t n) {
  const char *given = jget_str(req, "reason");
  if (given && *given) snprintf(out, n, "%.1000s", given);
  else snprintf(out, n, "%s from the dashboard by %s", !strcmp(op, "CancelJob") ? "Cancelled" : "Terminated", w->profile);
}

int dash_action(struct dash *d, const struct dash_who *w, const json_t *req, json_t **resp, char *err, size_t errlen) {
  const char *const *statuses;
  const char *op = op_of(jget_str(req, "action"), &statuses);
  json_t *ids = json_object_get(req, "jobIds");
  if (!op) return snprintf(err, errlen, "action is cancel or terminate"), 400;
  if (!json_is_array(ids) || !json_array_size(ids) || json_array_size(ids) > ACTION_MAX_IDS)
    return snprintf(err, errlen, "jobIds is a list of 1 to %d job ids", ACTION_MAX_IDS), 400;
  size_t i;
  json_t *id;
  json_array_foreach(ids, i, id) if (!json_is_string(id)) return snprintf(err, errlen, "jobIds holds strings"), 400;
  char reason[1100];
  reason_of(w, req, op, reason, sizeof reason);
  *resp = run_all(d, w, op, reason, ids, BULK_THREADS);
  return 200;
}

/* ------------------------------------------------------------------------------ bulk -- */

struct pick {
  const char *needle;
  json_t *ids, *sample;
};

static int pick_visit(void *ctx, const struct vjob_info *j) {
  struct pick *p = ctx;
  if (p->needle && !strcasestr(j->name, p->needle) && strcasecmp(j->id, p->needle)) return 0;
  json_array_append_new(p->ids, json_string(j->id));
  if (json_array_size(p->sample) < 10)
    json_array_append_new(p->sample, json_pack("{s:s, s:s, s:s}", "id", j->id, "name", j->name, "status", j->status));
  return json_array_size(p->ids) > DASH_BULK_MAX;
}

/* The jobs of the filter in req that op acts on, into p. 0, or an HTTP status with err. */
static int pick(struct dash *d, const json_t *req, const char *const *op_statuses, struct pick *p, char *err,
                size_t errlen) {
  const struct view *v;
  if (!d->conf.live) return snprintf(err, errlen, "this API keeps no in-memory view of the tables"), 503;
  if (view_live_read(d->conf.live, 5000, &v, err, errlen)) return 503;
  const char *queue = jget_str(req, "queue"), *status = jget_str(req, "status");
  const char *queue_arn = NULL, *statuses[8];
  size_t ns = 0;
  int rc = 0;
  if (queue && *queue) {
    json_t *q = config_find(v->cv.queues, "jobQueueName", queue);
    if (!q) rc = 400, snprintf(err, errlen, "job queue %.200s does not exist", queue);
    queue_arn = jget_str(q, "jobQueueArn");
  }
  for (const char *const *s = op_statuses; *s; s++)
    if (!status || !*status || !strcmp(status, *s)) statuses[ns++] = *s;
  if (!rc && ns) {
    struct jobs_walk w = {queue_arn ? &queue_arn : NULL, queue_arn ? 1 : 0, statuses, ns, 0, NULL, 0};
    jobs_store_walk(v->jobs, &w, pick_visit, p, NULL);
  }
  view_live_done(d->conf.live);
  return rc;
}

int dash_bulk(struct dash *d, const struct dash_who *w, const json_t *req, json_t **resp, char *err, size_t errlen) {
  const char *const *statuses;
  const char *op = op_of(jget_str(req, "action"), &statuses);
  if (!op) return snprintf(err, errlen, "action is cancel or terminate"), 400;
  const char *needle = jget_str(req, "q");
  struct pick p = {needle && *needle ? needle : NULL, json_array(), json_array()};
  int rc = pick(d, req, statuses, &p, err, errlen);
  size_t n = json_array_size(p.ids);
  json_t *expect = json_object_get(req, "expect");
  if (!rc && n > DASH_BULK_MAX)
    rc = 400, snprintf(err, errlen, "more than %d jobs match: narrow the filter (a bulk action takes at most %d)",
                       DASH_BULK_MAX, DASH_BULK_MAX);
  else if (!rc && json_is_true(json_object_get(req, "confirm"))) {
    if (!json_is_integer(expect)) rc = 400, snprintf(err, errlen, "a confirmed bulk action names the count it was shown (expect)");
    else if ((json_int_t)n > json_integer_value(expect))
      rc = 409, snprintf(err, errlen, "%zu jobs match now, more than the %lld confirmed: confirm again", n,
                         (long long)json_integer_value(expect));
    else {
      char reason[1100];
      reason_of(w, req, op, reason, sizeof reason);
      *resp = run_all(d, w, op, reason, p.ids, BULK_THREADS);
      json_object_set_new(*resp, "count", json_integer((json_int_t)n));
      rc = 200;
    }
  } else if (!rc) {
    *resp = json_pack("{s:I, s:O, s:s}", "count", (json_int_t)n, "sample", p.sample, "operation", op);
    rc = 200;
  }
  json_decref(p.ids);
  json_decref(p.sample);
  return rc;
}
