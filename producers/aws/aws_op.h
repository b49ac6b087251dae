/* aws_op.h: the AWS Batch operations Barge serves, one table (aws_ops.c). Each row names the
 * operation (CLI and API names, HTTP route), its request model (the parameters the command line
 * and the HTTP API parse and validate), what runs it, and how its output pages.
 *
 * Running an operation takes the request JSON and gives the response JSON or an AWS error
 * class; nothing in it knows about argv, so the command line (cmd/aws.c) and an HTTP server
 * serve the same rows. Write operations are split into a validation that reads only the
 * configuration (control.h, `prepare`) and one durable write (control_apply); read operations
 * are a handler over the compacted tables (consumers/views/query.h). */
#ifndef BARGE_AWS_OP_H
#define BARGE_AWS_OP_H
#include <jansson.h>

#include "aws_model.h"
#include "bus.h"
#include "views.h" /* API_CLIENT_ERROR, API_SERVER_ERROR */

struct control_conf;
struct control_write;

/* Who runs an operation (docs/api.md, "Identity"): the principal recorded in the requests it
 * writes ("admin", the credentials file's profile, or the access key) and the 12-digit account
 * of the ARNs it creates. NULL members fall back to $USER and $BARGE_ACCOUNT. */
struct aws_caller {
  const char *principal;
  const char *account;
};

/* A read operation: request JSON in, *resp (owned) out. 0, or API_CLIENT_ERROR /
 * API_SERVER_ERROR (lib/views.h) with the reason in err. */
typedef int (*aws_handler_fn)(const struct bus_conf *bc, const json_t *req, json_t **resp,
                              char *err, size_t errlen);
/* A write operation's validation: reads the configuration through cc only and fills w with the
 * record to write and the response. Same returns as aws_handler_fn. */
typedef int (*aws_prepare_fn)(struct control_conf *cc, const json_t *req, struct control_write *w,
                              char *err, size_t errlen);

struct aws_op {
  const char *cli_name; /* "submit-job" */
  const char *api_name; /* "SubmitJob" */
  const char *method;   /* "POST", "GET", "DELETE" */
  const char *path;     /* "/v1/submitjob", "/v1/tags/{resourceArn}" */
  /* the parser: the request model */
  const struct aws_param *params;
  size_t n_params;
  /* the handler: exactly one of prepare (a write) and handler (a read) is set; neither for an
   * operation Barge lists but does not serve yet (it answers ClientException) */
  aws_prepare_fn prepare;
  aws_handler_fn handler;
  /* the output: for paginated operations (nextToken/maxResults), the response member holding
   * the items, e.g. "jobSummaryList"; NULL when the operation does not page */
  const char *page_result;
  /* a flag that turns the command line into the operation's bulk form (producers/bulk/), e.g.
   * "--from-jsonl" for submit-job; NULL when there is none */
  const char *bulk_flag;
  const char *summary; /* one line for help */
  const char *example; /* one command line for help */
};

/* The operation table, in the order `barge help` lists it. */
extern const struct aws_op aws_ops[];
extern const size_t aws_n_ops;

/* The operation with that CLI name ("submit-job") or API name ("SubmitJob"); NULL if none. */
const struct aws_op *aws_op_find(const char *cli_name);
const struct aws_op *aws_op_find_api(const char *api_name);
/* The operation's parameter for a request member ("jobName"); NULL if none. */
const struct aws_param *aws_param_find(const struct aws_op *op, const char *member);

/* Runs op on a validated request: 0 with *resp (owned) the AWS response, or API_CLIENT_ERROR /
 * API_SERVER_ERROR with the message in err (*resp NULL). */
int aws_op_call(const struct aws_op *op, const struct bus_conf *bc, const json_t *req,
                json_t **resp, char *err, size_t errlen) BARGE_WUR;
/* aws_op_call on behalf of who (NULL: the local user). Before the operation runs, the request
 * is checked against the model (aws_check_request): unknown members, wrong types, members
 * Barge does not honour and tags out of AWS's limits are a ClientException, and nothing is
 * written. */
int aws_op_call_as(const struct aws_op *op, const struct bus_conf *bc, const struct aws_caller *who,
                   const json_t *req, json_t **resp, char *err, size_t errlen) BARGE_WUR;
/* The model check of aws_op_call_as: 0, or API_CLIENT_ERROR with the reason. */
int aws_check_request(const struct aws_op *op, const json_t *req, char *err, size_t errlen) BARGE_WUR;
/* The AWS error class of a failed call's status: "ClientException" or "ServerException". */
const char *aws_error_class(int status);
#endif
