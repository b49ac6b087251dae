/* cli_remote.c: the command line's reads through `barge api` (awscli.h, cli_read_call). When
 * the stack of `barge up` runs an API over the same Kafka and topic prefix, a read operation is
 * sent to it, signed with the stack's key (profile barge of $BARGE_HOME/api-credentials), and
 * answered from its in-memory view: milliseconds instead of a reload of barge.jobs. The API
 * runs the same query code (consumers/views/query.h), so the answer is the one a direct read
 * gives; the request asks the API to catch up with the tables' ends first, so that what a
 * command wrote a moment ago shows as in a direct read. With no API, or one that does not answer (not up, still loading, refusing the key),
 * the command reads the tables itself. BARGE_CLI_DIRECT=1 always reads them directly. */
#include <stdlib.h>
#include <string.h>

#include "apicall.h"
#include "awscli.h"
#include "jsonget.h"
#include "query.h"
#include "sigv4.h"
#include "stack.h"

/* A client of the stack's API when it serves bc's Kafka and prefix; NULL otherwise. */
static struct apicall *stack_api(const struct bus_conf *bc) {
  const char *direct = getenv("BARGE_CLI_DIRECT");
  if (direct && *direct && strcmp(direct, "0")) return NULL;
  char endpoint[512], creds[2048], brokers[1024], prefix[256], key[256], secret[256];
  if (stack_get("api_endpoint", endpoint, sizeof endpoint) || stack_get("api_credentials", creds, sizeof creds) ||
      stack_get("brokers", brokers, sizeof brokers) || stack_get("prefix", prefix, sizeof prefix))
    return NULL;
  if (!bc->brokers || strcmp(bc->brokers, brokers) || !bc->prefix || strcmp(bc->prefix, prefix)) return NULL;
  if (apicall_profile_keys(creds, "barge", key, sizeof key, secret, sizeof secret)) return NULL;
  struct apicall *a = apicall_new(endpoint, key, secret, "us-east-1", "batch");
  /* what this or another command wrote a moment ago shows, as in a direct read */
  apicall_header(a, APICALL_SYNC_READ_HEADER ": 1");
  return a;
}

/* 1 when the API answered (rc set: 0, or the API's ClientException), 0 to read directly. */
static int remote(struct apicall *a, const struct aws_op *op, const json_t *req, json_t **resp,
                  int *rc, char *err, size_t errlen) {
  char e[512];
  json_t *out = NULL;
  /* a member bound to the path ("/v1/tags/{resourceArn}") goes into it, URI-encoded, as the SDKs
   * send it: sent as "{resourceArn}" the request was refused and the command read the tables */
  struct buf path;
  buf_init(&path);
  const char *open = strchr(op->path, '{'), *close = open ? strchr(open, '}') : NULL;
  if (close) {
    char member[64];
    snprintf(member, sizeof member, "%.*s", (int)(close - open - 1), open + 1);
    buf_append(&path, op->path, (size_t)(open - op->path));
    sigv4_uri_encode(&path, jget_str(req, member), 0);
    buf_printf(&path, "%s", close + 1);
  } else {
    buf_printf(&path, "%s", op->path);
  }
  int status = apicall_json(a, op->method, (const char *)path.data, req, &out, e, sizeof e);
  buf_release(&path);
  if (status == 200) {
    *resp = out;
    *rc = 0;
    return 1;
  }
  if (status == 400 && json_is_object(out)) {
    const char *msg = json_string_value(json_object_get(out, "message"));
    *rc = api_error(err, errlen, API_CLIENT_ERROR, "%s", msg ? msg : "refused by the API");
    json_decref(out);
    return 1;
  }
  log_debug("%s through the API: %s; reading the tables directly", op->api_name,
            status < 0 ? e : json_string_value(json_object_get(out, "message")));
  json_decref(out);
  return 0;
}

int cli_read_call(const struct aws_op *op, const struct bus_conf *bc, const json_t *req,
                  json_t **resp, char *err, size_t errlen) {
  *resp = NULL;
  static int api_down; /* one refused connection is enough for this command */
  struct apicall *a = query_view_find(op->api_name) && op->handler && !api_down ? stack_api(bc) : NULL;
  int rc = 0;
  if (a) {
    int done = remote(a, op, req, resp, &rc, err, errlen);
    apicall_free(a);
    if (done) return rc;
    api_down = 1;
  }
  return aws_op_call(op, bc, req, resp, err, errlen);
}
