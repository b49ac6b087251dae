/* ops_table.c: `barge api`'s dispatch (api_ops.h) onto the AWS operation table
 * (producers/aws/aws_op.h), the same table the `barge` command line runs, so the CLI and the
 * API cannot disagree on an operation's validation, handler or answer.
 *
 * The caller's key reaches the operation (docs/api.md, "Identity"): requests record its profile
 * as their principal, and the ARNs a create makes carry its barge_account_id.
 *
 * Known limits, kept as they are for now (docs/api.md): a write opens its own Kafka producer and
 * a read loads the compacted tables to their end (O(table)); calls run one at a time, since the
 * table's code path keeps per-process state (the schema registry client). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "api_ops.h"
#include "aws_op.h"

struct ops_table {
  struct api_ops ops; /* first: api_ops_table_free gets it back */
  const struct bus_conf *bc;
  pthread_mutex_t mu;
};

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
    snprintf(err, errlen, "%s is not an AWS Batch operation Barge knows", operation);
    return API_CLIENT_ERROR;
  }
  pthread_mutex_lock(&t->mu);
  int rc = aws_op_call_as(op, t->bc, &caller, req, resp, err, errlen);
  pthread_mutex_unlock(&t->mu);
  return rc;
}

struct api_ops *api_ops_table_new(const struct bus_conf *bc) {
  struct ops_table *t = xcalloc(1, sizeof *t);
  t->bc = bc;
  pthread_mutex_init(&t->mu, NULL);
  t->ops.ctx = t;
  t->ops.call = table_call;
  return &t->ops;
}

void api_ops_table_free(struct api_ops *ops) {
  if (!ops) return;
  struct ops_table *t = (struct ops_table *)ops;
  pthread_mutex_destroy(&t->mu);
  free(t);
}
