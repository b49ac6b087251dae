/* ops_cli.c: the adapter from `barge api`'s dispatch (api_ops.h) to the code path the `barge`
 * CLI uses today: control_call for the writes, query_call for the reads, as cmd/aws.c does.
 * It is the only file of producers/api/ that knows those functions; when the operation table
 * lands, this file is replaced by one that calls the table.
 *
 * Known limits of this path, kept as they are until then: every call opens its own Kafka
 * producer or reads the compacted tables to their end (so reads are O(table)); the principal
 * is not passed on (control.c records $USER as a request's principal, and ARNs carry the
 * process's BARGE_ACCOUNT, not the key's barge_account_id); calls run one at a time. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "api_ops.h"
#include "control.h"
#include "query.h"

struct ops_cli {
  struct api_ops ops; /* first: api_ops_cli_free gets it back */
  const struct bus_conf *bc;
  pthread_mutex_t mu;
};

static int cli_call(void *ctx, const struct api_principal *who, const char *operation, const json_t *req,
                    json_t **resp, char *err, size_t errlen) {
  (void)who;
  struct ops_cli *c = ctx;
  pthread_mutex_lock(&c->mu);
  int rc = control_call(c->bc, operation, req, resp, err, errlen);
  if (rc == -1) rc = query_call(c->bc, operation, req, resp, err, errlen);
  pthread_mutex_unlock(&c->mu);
  if (rc == -1) {
    snprintf(err, errlen, "%s is not implemented by Barge yet", operation);
    rc = 400;
  }
  return rc;
}

struct api_ops *api_ops_cli_new(const struct bus_conf *bc) {
  struct ops_cli *c = xcalloc(1, sizeof *c);
  c->bc = bc;
  pthread_mutex_init(&c->mu, NULL);
  c->ops.ctx = c;
  c->ops.call = cli_call;
  return &c->ops;
}

void api_ops_cli_free(struct api_ops *ops) {
  if (!ops) return;
  struct ops_cli *c = (struct ops_cli *)ops;
  pthread_mutex_destroy(&c->mu);
  free(c);
}
