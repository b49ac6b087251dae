/* awscli.h: the `aws batch` command-line layer. `barge <operation> [flags]` takes the same
 * operations, flags and values as `aws batch <operation>` (AWS CLI v2) and turns them into the
 * AWS request JSON, so a user's scripts work with `aws batch` replaced by `barge`; the response
 * is printed as the AWS CLI prints it (--output, --query, pagination followed).
 *
 * The operation table and its request model (aws_op.h, aws_model.h) drive flag value parsing
 * (JSON or shorthand `k=v,...`, scalar conversion, list wrapping), request validation,
 * `--generate-cli-skeleton` and `--help`, as botocore's model does for the AWS CLI. Files:
 * cli_parse.c (argv to request), cli_globals.c (global options), cli_shorthand.c (shorthand
 * syntax), cli_doc.c (help and skeleton), cli_output.c (printing, pagination).
 *
 * Everything here is pure (no network); the only I/O is reading `file://` values and printing
 * help. All functions are safe to call from any thread; nothing keeps state between calls. */
#ifndef BARGE_AWSCLI_H
#define BARGE_AWSCLI_H
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "aws_op.h"
#include "util.h"

/* What the caller should do after a successful awscli_parse. */
enum awscli_action {
  AWSCLI_RUN,      /* send the request */
  AWSCLI_HELP,     /* `help`, `--help` or `-h` was given: call awscli_usage */
  AWSCLI_SKELETON, /* `--generate-cli-skeleton [input]`: print awscli_skeleton */
  AWSCLI_ACTION__COUNT
};

/* The AWS CLI's global options and Barge's own, which are not request members. Strings are
 * borrowed from argv. Options the AWS CLI has but Barge does not use (--no-verify-ssl,
 * --cli-read-timeout, --color, ...) are recognised and dropped so scripts keep working. */
struct awscli_globals {
  enum awscli_action action;
  const char *brokers;      /* --brokers: Kafka bootstrap servers (Barge) */
  const char *kafka_props;  /* --kafka-props: extra librdkafka properties, TLS, SASL (Barge) */
  const char *topic_prefix; /* --topic-prefix: the topics' prefix (Barge; NULL = $BARGE_TOPIC_PREFIX, ...) */
  const char *output;       /* --output: json, text, table, yaml or yaml-stream; NULL = default */
  const char *query;        /* --query: a JMESPath expression */
  const char *region;       /* --region */
  const char *endpoint_url; /* --endpoint-url */
  const char *profile;      /* --profile */
  int debug;                /* --debug */
  int no_cli_pager;         /* --no-cli-pager */
  /* Pagination, for operations with page_result. paginate is 1 unless --no-paginate, or the
   * user set --next-token or --max-results (then one page is fetched, as the AWS CLI does). */
  int paginate;
  const char *starting_token; /* --starting-token */
  long long max_items;        /* --max-items; 0 = not given */
  long long page_size;        /* --page-size; 0 = not given */
};

/* Sets the defaults: action AWSCLI_RUN, paginate 1, everything else unset. */
void awscli_globals_init(struct awscli_globals *g);

/* Parses global options that come before the operation name (`barge --region r submit-job`).
 * Reads argv[*next], argv[*next + 1], ... while they are global options; on return *next is
 * the index of the first other argument. Returns 0, or -1 with a one-line message in err. */
int awscli_parse_globals(int argc, char **argv, int *next, struct awscli_globals *g, char *err,
                         size_t errlen) BARGE_WUR;

/* Turns `<operation> [flags]` into the request JSON. argv[0] is the operation name and is not
 * read as a flag. Handles --cli-input-json (inline or file://, fileb://) as the base that
 * explicit flags override member by member; file:// and fileb:// values on any flag; JSON or
 * shorthand values for structures, maps and lists of structures; multiple arguments for lists;
 * scalar conversion by the model; global options anywhere (recorded in g, which the caller
 * has initialised with awscli_globals_init); then checks required members, unknown members and
 * types against the model, as botocore does before sending.
 *
 * Returns 0 on success: when g->action is AWSCLI_RUN, *req_out is a new object the caller
 * owns (json_decref); otherwise *req_out is NULL. Returns -1 on a usage error, with *req_out
 * NULL and a one-line message in err, e.g.
 *   barge submit-job: missing required parameter jobName (--job-name)
 * The caller should print it and exit with status 252, as the AWS CLI v2 does. */
int awscli_parse(const struct aws_op *op, int argc, char **argv, json_t **req_out,
                 struct awscli_globals *g, char *err, size_t errlen) BARGE_WUR;

/* Parses one shorthand value (`size=8`, `type=EC2,instanceTypes=optimal,subnets=[a,b]`)
 * against a shape (a structure or map; NULL parses without the model) exactly as the AWS CLI
 * does: the grammar of awscli/shorthand.py, then scalars converted and single values wrapped
 * into lists where the model says so. Returns 0 and a new value in *out, or -1 with a message
 * (no prefix) in err. */
int awscli_shorthand(const char *text, const struct aws_shape *shape, json_t **out, char *err,
                     size_t errlen) BARGE_WUR;

/* The input skeleton `--generate-cli-skeleton` prints: every in-scope member with a
 * placeholder ("" or the first enum value, 0, 0.0, true, one-element lists, {"KeyName": ...}).
 * A new object the caller owns. */
json_t *awscli_skeleton(const struct aws_op *op);

/* Checks g->query (jmespath.h): 0 when there is none or it compiles, else -1 and
 *   <prefix>bad value for --query <expr>: <what is wrong> (column N)
 * in err; the caller exits 252 before sending anything, as the AWS CLI does. awscli_parse
 * calls it; a caller that reads the options itself (bulk submission) calls it directly. */
int awscli_check_query(const struct awscli_globals *g, const char *prefix, char *err, size_t errlen) BARGE_WUR;

/* Prints the operation's usage: synopsis, flags with types, required marks, enum values and
 * shorthand syntax, the global options, and an example. */
void awscli_usage(const struct aws_op *op, FILE *out);

/* Prints every operation with its one-line summary. */
void awscli_list_ops(FILE *out);

/* aws_op_call, except that a read operation goes through the API of the running stack when
 * there is one over the same Kafka (cli_remote.c), answered from its in-memory view. */
int cli_read_call(const struct aws_op *op, const struct bus_conf *bc, const json_t *req,
                  json_t **resp, char *err, size_t errlen) BARGE_WUR;

/* Runs op (cli_read_call) on req and, for an operation with page_result, pages as the AWS
 * CLI's paginator does unless the user pages by hand (g->paginate 0: --no-paginate,
 * --next-token or --max-results): every page fetched (maxResults = --page-size when given),
 * joined into one response without nextToken; with --max-items N at most N items and, when
 * more remain, "NextToken" (botocore's token: base64 of {"nextToken", "boto_truncate_amount"})
 * that --starting-token resumes from, mid-page included. Both reading paths (the stack's API
 * and the tables) are paged the same way, here. Same returns as aws_op_call; req may be
 * changed in between but is as given on return. */
int awscli_call(const struct aws_op *op, const struct bus_conf *bc, json_t *req,
                const struct awscli_globals *g, json_t **resp, char *err, size_t errlen) BARGE_WUR;

/* Prints a response as the AWS CLI does: --query (JMESPath, jmespath.h) applied, then JSON
 * indented by 4 or, with --output text, table, yaml or yaml-stream, as the AWS CLI prints
 * those. Returns 0, or -1 when the query fails on this response (a function given a value of
 * the wrong type): nothing is printed and the message goes into err. An empty object (what an
 * operation without a response body answers) prints nothing in every format, as in the AWS CLI. */
int awscli_print(const json_t *resp, const struct awscli_globals *g, FILE *out, char *err, size_t errlen) BARGE_WUR;
/* The same, with the title --output table gives the whole table (the operation's API name, as
 * the AWS CLI does). */
int awscli_print_titled(const json_t *resp, const struct awscli_globals *g, const char *title, FILE *out,
                        char *err, size_t errlen) BARGE_WUR;

#endif
