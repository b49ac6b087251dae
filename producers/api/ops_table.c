/* ops_table.c: `barge api`'s dispatch (api_ops.h) onto the AWS operation table
 * (producers/aws/aws_op.h), the same table the `barge` command line runs, so the CLI and the
 * API cannot disagree on an operation's validation, handler or answer.
 *
 * Reads (Describe*, ListJobs, GetJobQueueSnapshot, ListSchedulingPolicies) answer from the
 * in-memory view (view_live.h) through the same query functions the CLI runs over a view it
 * loads per call (consumers/views/query.h): no Kafka round trip, and concurrently (a read
 * lock). A write that Kafka acknowledged is shown by the view at once (read-your-writes), and
 * SubmitJob's dependsOn check asks the view before it reads barge.jobs.
 *
 * Known limits, kept as they are for now (docs/api.md): a write opens its own Kafka producer and
 * writes run one at a time, since the table's code path keeps per-process state (the schema
 * registry client); the principal is not passed on (requests record $USER, and ARNs carry the
 * process's BARGE_ACCOUNT, not the key's barge_account_id). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "api_ops.h"
#include "aws_op.h"
#include "control.h"
#include "query.h"
#include "view_live.h"

/* How long a read waits for the view's first load before a ServerException. */
#define VIEW_WAIT_MS 30000
/* How long a read with API_SYNC_READ_HEADER waits for the view to reach the tables' ends. */
#define SYNC_WAIT_MS 5000

struct ops_table {
  struct api_ops ops; /* first: api_ops_table_free gets it back */
  const struct bus_conf *bc;
  pthread_mutex_t mu;
  struct view_live *live; /* NULL: reads load the tables per call, as the CLI does */
};

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
  *resp = NULL;
  const struct aws_op *op = aws_op_find_api(operation);
  if (!op) {
    snprintf(err, errlen, "%s is not an AWS Batch operation Barge knows", operation);
    return API_CLIENT_ERROR;
  }
  const struct query_view_op *q = op->handler && t->live ? query_view_find(op->api_name) : NULL;
  if (q) return view_call(t, who, q, req, resp, err, errlen);
  pthread_mutex_lock(&t->mu);
  int rc = aws_op_call(op, t->bc, req, resp, err, errlen);
  pthread_mutex_unlock(&t->mu);
  return rc;
}

static void written(void *ctx, enum bus_topic topic, const char *key, const json_t *value) {
  view_live_written(ctx, topic, key, value);
}

static void known(void *ctx, const char *const *ids, size_t n, int *found) {
  view_live_known(ctx, ids, n, found);
}

struct api_ops *api_ops_table_new(const struct bus_conf *bc) {
  struct ops_table *t = xcalloc(1, sizeof *t);
  t->bc = bc;
  pthread_mutex_init(&t->mu, NULL);
  t->ops.ctx = t;
  t->ops.call = table_call;
  char err[512];
  t->live = view_live_start(bc, err, sizeof err);
  if (t->live) {
    control_set_written_hook(written, t->live);
    control_set_known_hook(known, t->live); /* SubmitJob's dependsOn, without reading barge.jobs */
  }
  else log_warn("no in-memory view (%s): reads load the tables per call", err);
  return &t->ops;
}

void api_ops_table_free(struct api_ops *ops) {
  if (!ops) return;
  struct ops_table *t = (struct ops_table *)ops;
  control_set_written_hook(NULL, NULL);
  control_set_known_hook(NULL, NULL);
  view_live_stop(t->live);
  pthread_mutex_destroy(&t->mu);
  free(t);
}
