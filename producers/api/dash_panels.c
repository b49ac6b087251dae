/* dash_panels.c: the dashboard's pages beside the job table (dash.h): a job's `barge explain`
 * timeline (consumers/views/explain_read.c, the code the command line runs), the compute
 * environments with their desired and actual vCPUs over time (the view's ce_history) and their
 * instances, the usage report (consumers/accounting's acct_usage_report, what `barge usage`
 * prints) and the fair-share queues' shares. The timeline and the report read the topics per
 * request (as `barge explain` and `barge usage` do); the rest answers from the in-memory view. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acct_shell.h"
#include "dash_int.h"
#include "explain.h"
#include "jsonget.h"
#include "util.h"
#include "view.h"
#include "view_live.h"

#define VIEW_WAIT_MS 5000
#define CHART_MINUTES 60 /* the chart's default window */

int dash_explain(struct dash *d, const char *q, json_t **resp, char *err, size_t errlen) {
  char *id = dash_query(q, "id");
  int rc;
  if (!id || !*id) rc = 400, snprintf(err, errlen, "id is required");
  else if (!d->conf.bc) rc = 503, snprintf(err, errlen, "this API reads no topics: no timeline");
  else {
    json_t *t = NULL;
    int r = explain_load(d->conf.bc, id, &t, err, errlen);
    if (r == 1) rc = 404, snprintf(err, errlen, "no job %.100s in barge.jobs", id);
    else if (r) rc = 503;
    else rc = 200, *resp = t;
  }
  free(id);
  return rc;
}

int dash_ces(struct dash *d, const struct dash_who *w, const char *q, json_t **resp, char *err, size_t errlen) {
  json_t *r = NULL;
  int rc = dash_call(d, w, "DescribeComputeEnvironments", json_object(), &r, err, errlen);
  if (rc != 200) {
    json_decref(r);
    return rc;
  }
  char *min_s = dash_query(q, "minutes");
  long minutes = min_s && *min_s ? strtol(min_s, NULL, 10) : CHART_MINUTES;
  free(min_s);
  if (minutes < 1 || minutes > 7 * 24 * 60) minutes = CHART_MINUTES;
  int64_t now = dash_now(d), since = now - (int64_t)minutes * 60000;
  const struct view *v;
  if (d->conf.live && !view_live_read(d->conf.live, VIEW_WAIT_MS, &v, err, errlen)) {
    size_t i;
    json_t *ce;
    json_array_foreach(json_object_get(r, "computeEnvironments"), i, ce) {
      const char *name = jget_str(ce, "computeEnvironmentName");
      if (name) json_object_set_new(ce, "history", ce_history_json(v->history, name, since));
    }
    view_live_done(d->conf.live);
  }
  json_object_set_new(r, "window", json_pack("{s:I, s:I}", "from", (json_int_t)since, "to", (json_int_t)now));
  *resp = r;
  return 200;
}

int dash_usage(struct dash *d, const char *q, json_t **resp, char *err, size_t errlen) {
  char *by = dash_query(q, "by"), *source = dash_query(q, "source"), *since_s = dash_query(q, "since"),
       *until_s = dash_query(q, "until");
  int64_t since = INT64_MIN, until = dash_now(d);
  int rc = 200;
  if (since_s && *since_s && (since = parse_time_ms(since_s)) < 0)
    rc = 400, snprintf(err, errlen, "since: cannot read time '%.50s'", since_s);
  else if (until_s && *until_s && (until = parse_time_ms(until_s)) < 0)
    rc = 400, snprintf(err, errlen, "until: cannot read time '%.50s'", until_s);
  else if (!d->conf.bc)
    rc = 503, snprintf(err, errlen, "this API reads no topics: no usage report");
  else if (acct_usage_report(d->conf.bc, by && *by ? by : "queue", source && *source ? source : "events", since, until,
                             resp, err, errlen))
    rc = strncmp(err, "by is", 5) && strncmp(err, "source is", 9) ? 503 : 400;
  free(by), free(source), free(since_s), free(until_s);
  return rc;
}

/* ------------------------------------------------------------------------- fair share -- */

/* The weightFactor a fair-share policy gives share (an exact identifier, or a prefix ending in
 * '*'; 1.0 when none matches: docs/job-model.md §3.4). */
static double weight_of(const json_t *policy, const char *share) {
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(json_object_get(policy, "fairsharePolicy"), "shareDistribution"), i, e) {
    const char *id = jget_str(e, "shareIdentifier");
    size_t n = id ? strlen(id) : 0;
    if (!n) continue;
    if (id[n - 1] == '*' ? !strncmp(id, share, n - 1) : !strcmp(id, share)) return jget_num(e, "weightFactor", 1.0);
  }
  return 1.0;
}

/* The vCPUs a job's record reserves: its container's VCPU requirement, else its vcpus. */
static long vcpus_of(const json_t *rec) {
  const json_t *c = json_object_get(json_object_get(rec, "detail"), "container");
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(c, "resourceRequirements"), i, r)
    if (jget_str(r, "type") && !strcmp(jget_str(r, "type"), "VCPU")) return atol(jget_str(r, "value") ? jget_str(r, "value") : "0");
  return (long)jget_int(c, "vcpus", 0);
}

struct share_walk {
  const struct view *v;
  json_t *shares; /* identifier -> {counts, vcpus} */
};

static int share_visit(void *ctx, const struct vjob_info *j) {
  struct share_walk *sw = ctx;
  const char *id = j->share ? j->share : "";
  json_t *s = json_object_get(sw->shares, id);
  if (!s) {
    s = json_pack("{s:s, s:{}, s:I}", "shareIdentifier", id, "counts", "vcpus", (json_int_t)0);
    json_object_set_new(sw->shares, id, s);
  }
  json_t *counts = json_object_get(s, "counts");
  json_object_set_new(counts, j->status, json_integer(json_integer_value(json_object_get(counts, j->status)) + 1));
  if (!strcmp(j->status, "STARTING") || !strcmp(j->status, "RUNNING")) {
    json_t *rec = jobs_store_get(sw->v->jobs, j->id);
    json_object_set_new(s, "vcpus", json_integer(json_integer_value(json_object_get(s, "vcpus")) + vcpus_of(rec)));
    json_decref(rec);
  }
  return 0;
}

/* One fair-share queue: its policy and, per share with unfinished jobs, the jobs by status, the
 * vCPUs its STARTING and RUNNING jobs hold, its weight and weight x vCPUs (the current usage the
 * scheduler compares when the policy's shareDecaySeconds is 0). */
static json_t *fair_queue(const struct view *v, const char *arn, const json_t *policy) {
  static const char *const active[] = {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"};
  struct share_walk sw = {v, json_object()};
  for (size_t k = 0; k < sizeof active / sizeof *active; k++) jobs_store_each(v->jobs, arn, active[k], NULL, share_visit, &sw);
  json_t *rows = json_array(), *s;
  const char *id;
  json_object_foreach(sw.shares, id, s) {
    double w = weight_of(policy, id);
    json_object_set_new(s, "weightFactor", json_real(w));
    json_object_set_new(s, "weightedUsage", json_real(w * (double)json_integer_value(json_object_get(s, "vcpus"))));
    json_array_append(rows, s);
  }
  json_decref(sw.shares);
  const char *name = strrchr(arn, '/');
  return json_pack("{s:s, s:s?, s:O?, s:o}", "jobQueue", name ? name + 1 : arn, "schedulingPolicy", jget_str(policy, "name"),
                   "fairsharePolicy", json_object_get(policy, "fairsharePolicy"), "shares", rows);
}

int dash_shares(struct dash *d, json_t **resp, char *err, size_t errlen) {
  const struct view *v;
  if (!d->conf.live) return snprintf(err, errlen, "this API keeps no in-memory view of the tables"), 503;
  if (view_live_read(d->conf.live, VIEW_WAIT_MS, &v, err, errlen)) return 503;
  json_t *queues = json_array(), *q;
  const char *arn;
  json_object_foreach(v->cv.queues, arn, q) {
    const char *pol = jget_str(q, "schedulingPolicyArn");
    if (!pol) continue;
    json_array_append_new(queues, fair_queue(v, arn, config_find(v->cv.policies, "name", pol)));
  }
  view_live_done(d->conf.live);
  *resp = json_pack("{s:o}", "queues", queues);
  return 200;
}
