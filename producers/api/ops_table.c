/* ops_table.c: `barge api`'s dispatch (api_ops.h) onto the AWS operation table
 * (producers/aws/aws_op.h), the same table the `barge` command line runs, so the CLI and the
 * API cannot disagree on an operation's validation, handler or answer.
 *
 * Writes (docs/api.md "The write path") run the operation's own validation (control_*.c) on the
 * in-memory configuration (config_cache.h) and publish through one producer shared by every
 * server thread (writer.h), each waiting for its own delivery report; no lock is held across
 * requests. Reads still run one at a time through the table (they load the compacted tables).
 * The caller's key reaches the operation (docs/api.md, "Identity"): requests record its profile
 * as their principal, and the ARNs a create makes carry its barge_account_id. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "api_ops.h"
#include "aws_op.h"
#include "config_cache.h"
#include "control.h"
#include "writer.h"

#define CONFIG_WAIT_MS 5000 /* read-your-writes bound for a configuration write */

struct ops_table {
  struct api_ops ops; /* first: api_ops_table_free gets it back */
  const struct bus_conf *bc;
  pthread_mutex_t mu;        /* the read path */
  pthread_mutex_t config_mu; /* configuration writes, one at a time */
  struct api_writer *writer;
  struct config_cache *config;
};

/* Validates req against the cached configuration: the operation's own prepare step. */
static int validate(struct ops_table *t, const struct aws_op *op, const struct aws_caller *who,
                    const json_t *req, struct control_write *w, char *err, size_t errlen) {
  struct control_conf cc = {.bc = t->bc, .loaded = 1, .who = who, .account = who->account};
  cc.cv = *config_cache_lock(t->config);
  int rc = op->prepare(&cc, req, w, err, errlen);
  config_cache_unlock(t->config);
  json_decref(cc.jobs);
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
  if (op->prepare && t->writer) {
    int rc = aws_check_request(op, req, err, errlen); /* as aws_op_call_as does */
    return rc ? rc : write_call(t, op, &caller, req, resp, err, errlen);
  }
  pthread_mutex_lock(&t->mu);
  int rc = aws_op_call_as(op, t->bc, &caller, req, resp, err, errlen);
  pthread_mutex_unlock(&t->mu);
  return rc;
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
  return &t->ops;
}

void api_ops_table_free(struct api_ops *ops) {
  if (!ops) return;
  struct ops_table *t = (struct ops_table *)ops;
  api_writer_free(t->writer);
  config_cache_free(t->config);
  pthread_mutex_destroy(&t->mu);
  pthread_mutex_destroy(&t->config_mu);
  free(t);
}
