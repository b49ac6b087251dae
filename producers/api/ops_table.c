/* ops_table.c: `barge api`'s dispatch (api_ops.h) onto the AWS operation table
 * (producers/aws/aws_op.h), the same table the `barge` command line runs, so the CLI and the
 * API cannot disagree on an operation's validation, handler or answer.
 *
 * Reads (Describe*, ListJobs, GetJobQueueSnapshot, ListSchedulingPolicies) answer from the
 * in-memory view (view_live.h) through the same query functions the CLI runs over a view it
 * loads per call (consumers/views/query.h): no Kafka round trip, and concurrently (a read
 * lock). Writes (docs/api.md "The write path") run the operation's own validation (control_*.c)
 * on the in-memory configuration (config_cache.h) and publish through one producer shared by
 * every server thread (writer.h), each waiting for its own delivery report; no lock is held
 * across requests. A write that Kafka acknowledged is shown by the view at once
 * (read-your-writes), and SubmitJob's dependsOn check asks the view before it reads barge.jobs.
 * Without a view, reads run one at a time through the table.
 *
 * The caller's key reaches the operation (docs/api.md, "Identity"): requests record its profile
 * as their principal, and the ARNs a create makes carry its barge_account_id. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "api_ops.h"
#include "aws_op.h"
#include "config_cache.h"
#include "jobs_store.h"
#include "jsonget.h"
#include "control.h"
#include "query.h"
#include "view_live.h"
#include "writer.h"

#define CONFIG_WAIT_MS 5000 /* read-your-writes bound for a configuration write */
/* How long a read waits for the view's first load before a ServerException. */
#define VIEW_WAIT_MS 30000
/* How long a read with API_SYNC_READ_HEADER waits for the view to reach the tables' ends. */
#define SYNC_WAIT_MS 5000

struct ops_table {
  struct api_ops ops; /* first: api_ops_table_free gets it back */
  const struct bus_conf *bc;
  pthread_mutex_t mu;        /* reads the view does not answer */
  pthread_mutex_t config_mu; /* configuration writes, one at a time */
  struct api_writer *writer;
  struct config_cache *config;
  struct view_live *live; /* NULL: reads load the tables per call, as the CLI does */
};

/* TagResource and UntagResource of a job: {id: its record} from the view ({} when the view does
 * not have it), so that the tag count is held to 50 with the tags DescribeJobs shows (barge.jobs
 * has none for a job submitted a moment ago) and barge.jobs is not read to its end per call.
 * NULL for another request, or without a view: the validation then reads barge.jobs. */
static json_t *jobs_for_tags(struct ops_table *t, const struct aws_op *op, const json_t *req) {
  const char *arn = jget_str(req, "resourceArn"), *id = arn ? strstr(arn, ":job/") : NULL;
  const struct view *v;
  char e[256];
  if (!t->live || !id || (op->prepare != control_tag_resource && op->prepare != control_untag_resource) ||
      view_live_read(t->live, VIEW_WAIT_MS, &v, e, sizeof e))
    return NULL;
  id += strlen(":job/");
  json_t *jobs = json_object(), *rec = jobs_store_get(v->jobs, id);
  view_live_done(t->live);
  if (rec) json_object_set_new(jobs, id, rec);
  return jobs;
}

/* Validates req against the cached configuration: the operation's own prepare step. */
static int validate(struct ops_table *t, const struct aws_op *op, const struct aws_caller *who,
                    const json_t *req, struct control_write *w, char *err, size_t errlen) {
  struct control_conf cc = {.bc = t->bc, .loaded = 1, .who = who, .account = who->account};
  cc.jobs = jobs_for_tags(t, op, req);
  cc.jobs_loaded = cc.jobs != NULL;
  cc.cv = *config_cache_lock(t->config);
  int rc = op->prepare(&cc, req, w, err, errlen);
  config_cache_unlock(t->config);
  control_conf_release(&cc);
  return rc;
}

/* Job requests (barge.requests) run concurrently; a configuration write is judged against the
 * configuration as of now and published before the next one is judged (two CreateJobQueue of
 * one name, or two RegisterJobDefinition revisions, cannot both pass), as the command line's
 * reload-per-call does. They are rare. */
static int writes_config(const struct aws_op *op) {
  return op->prepare != control_submit_job && op->prepare != control_cancel_job &&
         op->prepare != control_terminate_job;
}

static int write_call(struct ops_table *t, const struct aws_op *op, const struct aws_caller *who,
                      const json_t *req, json_t **resp, char *err, size_t errlen) {
  struct control_write w = {0};
  int cfg = writes_config(op);
  if (cfg) {
    pthread_mutex_lock(&t->config_mu);
    if (config_cache_sync(t->config, CONFIG_WAIT_MS)) {
      pthread_mutex_unlock(&t->config_mu);
      return api_error(err, errlen, API_SERVER_ERROR, "reading configuration: barge.config did not catch up in %d ms", CONFIG_WAIT_MS);
    }
  }
  int rc = validate(t, op, who, req, &w, err, errlen);
  if (rc == API_CLIENT_ERROR && !cfg && !config_cache_sync(t->config, CONFIG_WAIT_MS)) {
    /* refused on the cached view: judge again on the configuration as of now */
    control_write_release(&w);
    rc = validate(t, op, who, req, &w, err, errlen);
  }
  struct control_sink sink = api_writer_sink(t->writer);
  struct control_written at;
  if (!rc) rc = control_write_out(t->bc, &sink, &w, resp, &at, err, errlen);
  control_write_release(&w);
  if (!rc && at.topic == TOPIC_CONFIG && config_cache_wait(t->config, at.partition, at.offset, CONFIG_WAIT_MS))
    log_warn("%s: the configuration view has not caught up with offset %lld after %d ms", op->api_name,
             (long long)at.offset, CONFIG_WAIT_MS);
  if (cfg) pthread_mutex_unlock(&t->config_mu);
  return rc;
}

static int view_call(struct ops_table *t, const struct api_principal *who, const struct query_view_op *q,
                     const json_t *req, json_t **resp, char *err, size_t errlen) {
  const struct view *v;
  int rc = view_live_read(t->live, VIEW_WAIT_MS, &v, err, errlen);
  if (rc) return rc;
  if (who->sync_read) { /* caught up to what the tables hold now, then read */
    view_live_done(t->live);
    if (view_live_sync(t->live, q->tables, SYNC_WAIT_MS))
      log_debug("%s: the view did not reach the tables' ends in %d ms; answering as it is", q->api_name, SYNC_WAIT_MS);
    if ((rc = view_live_read(t->live, VIEW_WAIT_MS, &v, err, errlen))) return rc;
  }
  rc = q->fn(v, req, resp, err, errlen);
  view_live_done(t->live);
  return rc;
}

static int table_call(void *ctx, const struct api_principal *who, const char *operation, const json_t *req,
                      json_t **resp, char *err, size_t errlen) {
  struct ops_table *t = ctx;
  /* the request's principal: the key's profile, else the key; "anonymous" without a key */
  struct aws_caller caller = {"anonymous", NULL};
  if (who && who->access_key) {
    caller.principal = who->profile && *who->profile ? who->profile : who->access_key;
    caller.account = who->account_id;
  }
  *resp = NULL;
  const struct aws_op *op = aws_op_find_api(operation);
  if (!op) {
    /* the route table is botocore's model: an operation it has and Barge's table has not */
    snprintf(err, errlen,
             "%s is an AWS Batch operation Barge does not implement (out of scope: consumable resources, quota "
             "shares, service environments and service jobs)",
             operation);
    return API_CLIENT_ERROR;
  }
  int rc = aws_check_request(op, req, err, errlen); /* as aws_op_call_as does */
  if (rc) return rc;
  if (op->prepare && t->writer) return write_call(t, op, &caller, req, resp, err, errlen);
  const struct query_view_op *q = op->handler && t->live ? query_view_find(op->api_name) : NULL;
  if (q) return view_call(t, who, q, req, resp, err, errlen);
  pthread_mutex_lock(&t->mu);
  rc = aws_op_call_as(op, t->bc, &caller, req, resp, err, errlen);
  pthread_mutex_unlock(&t->mu);
  return rc;
}

static void written(void *ctx, enum bus_topic topic, const char *key, const json_t *value) {
  view_live_written(ctx, topic, key, value);
}

static void known(void *ctx, const char *const *ids, size_t n, int *found) {
  view_live_known(ctx, ids, n, found);
}

struct api_ops *api_ops_table_new(const struct bus_conf *bc, char *err, size_t errlen) {
  struct ops_table *t = xcalloc(1, sizeof *t);
  t->bc = bc;
  pthread_mutex_init(&t->mu, NULL);
  pthread_mutex_init(&t->config_mu, NULL);
  t->ops.ctx = t;
  t->ops.call = table_call;
  char e[512];
  if (!(t->config = config_cache_new(bc, e, sizeof e)) || !(t->writer = api_writer_new(bc, e, sizeof e))) {
    snprintf(err, errlen, "the write path: %s", e);
    api_ops_table_free(&t->ops);
    return NULL;
  }
  t->live = view_live_start(bc, e, sizeof e);
  if (t->live) {
    control_set_written_hook(written, t->live);
    control_set_known_hook(known, t->live); /* SubmitJob's dependsOn, without reading barge.jobs */
  } else {
    log_warn("no in-memory view (%s): reads load the tables per call", e);
  }
  return &t->ops;
}

void api_ops_table_free(struct api_ops *ops) {
  if (!ops) return;
  struct ops_table *t = (struct ops_table *)ops;
  control_set_written_hook(NULL, NULL);
  control_set_known_hook(NULL, NULL);
  view_live_stop(t->live);
  api_writer_free(t->writer);
  config_cache_free(t->config);
  pthread_mutex_destroy(&t->mu);
  pthread_mutex_destroy(&t->config_mu);
  free(t);
}

struct view_live *api_ops_table_view(const struct api_ops *ops) {
  return ops ? ((const struct ops_table *)ops)->live : NULL;
}
