/* aws.c: `barge <aws batch operation>`: the operation table (producers/aws/aws_op.h) read as the
 * AWS CLI reads `aws batch <operation>`: parse the flags into the request, run the operation,
 * print the response. Exit statuses follow the AWS CLI v2: 0 success, 252 bad usage or input,
 * 254 the service refused the request (ClientException), 255 anything else. */
#include <stdlib.h>
#include <string.h>

#include "awscli.h"
#include "bulk_submit.h"
#include "cmds.h"
#include "service.h"

int cmd_is_aws(const char *name) { return aws_op_find(name) != NULL; }

void cmd_list_aws(FILE *out) { awscli_list_ops(out); }

/* Does argv ask for the operation's bulk form (`--from-jsonl FILE` or `--from-jsonl=FILE`)? */
static int wants_bulk(const struct aws_op *op, int argc, char **argv) {
  size_t n = op->bulk_flag ? strlen(op->bulk_flag) : 0;
  for (int i = 1; n && i < argc; i++)
    if (!strncmp(argv[i], op->bulk_flag, n) && (argv[i][n] == 0 || argv[i][n] == '=')) return 1;
  return 0;
}

static int print_skeleton(const struct aws_op *op) {
  json_t *sk = awscli_skeleton(op);
  char *s = json_dumps(sk, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
  printf("%s\n", s);
  free(s);
  json_decref(sk);
  return 0;
}

/* The bulk form takes every job's fields from its file: a request member's flag (--job-name)
 * beside --from-jsonl is refused by saying so, not as an unknown option. 0, or the status. */
static int bulk_refuses_members(const struct aws_op *op, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    size_t n = strcspn(argv[i], "=");
    for (size_t k = 0; k < op->n_params; k++) {
      const char *flag = op->params[k].flag;
      if (strlen(flag) != n || strncmp(argv[i], flag, n)) continue;
      fprintf(stderr, "barge %s: %s takes every job's fields from the file and cannot be combined with %s\n",
              op->cli_name, op->bulk_flag, flag);
      return 252; /* bad usage, as bulk_submit_main and the AWS CLI exit */
    }
  }
  return 0;
}

int cmd_aws(int argc, char **argv) {
  const struct aws_op *op = aws_op_find(argv[0]);
  if (wants_bulk(op, argc, argv)) {
    int rc = bulk_refuses_members(op, argc, argv);
    return rc ? rc : bulk_submit_main(argc, argv);
  }
  struct awscli_globals g;
  awscli_globals_init(&g);
  json_t *req = NULL;
  char err[2048];
  if (awscli_parse(op, argc, argv, &req, &g, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 252;
  }
  if (g.action == AWSCLI_HELP) {
    awscli_usage(op, stdout);
    if (op->bulk_flag) { /* the bulk form's own options (producers/bulk), which the model does not hold */
      printf("\nWith %s, %s submits many jobs from JSON lines instead; every job's fields come from\n"
             "the file, so the request flags above are not given:\n",
             op->bulk_flag, op->cli_name);
      opts_usage_cmd(stdout, &bulk_opts_cmd);
    }
    return 0;
  }
  if (g.action == AWSCLI_SKELETON) return print_skeleton(op);
  struct kafka_opts k = {.brokers = g.brokers, .prefix = g.topic_prefix, .props = g.kafka_props};
  struct service_conn conn;
  int cr = service_connect(op->cli_name, &k, "barge-cli", 0, &conn);
  if (cr || service_require_broker(op->cli_name, &conn)) {
    json_decref(req);
    return cr == 2 ? 252 : 255; /* bad --kafka-props is bad input; no broker is not */
  }
  json_t *resp = NULL;
  int rc = awscli_call(op, &conn.bc, req, &g, &resp, err, sizeof err);
  json_decref(req);
  if (rc) {
    fprintf(stderr, "\nAn error occurred (%s) when calling the %s operation: %s\n",
            aws_error_class(rc), op->api_name, err);
    return rc == API_CLIENT_ERROR ? 254 : 255;
  }
  rc = awscli_print_titled(resp, &g, op->api_name, stdout, err, sizeof err);
  json_decref(resp);
  if (rc) {
    fprintf(stderr, "barge %s: %s\n", op->cli_name, err); /* the AWS CLI exits 255 on a JMESPath type error */
    return 255;
  }
  return 0;
}
