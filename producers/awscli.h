/* awscli.h: the `aws batch` command-line layer. `barge <operation> [flags]` takes the same
 * operations, flags and values as `aws batch <operation>` (AWS CLI v2) and turns them into the
 * AWS request JSON, so a user's scripts work with `aws batch` replaced by `barge`.
 *
 * One table (aws_ops.c) describes every operation Barge serves: its CLI and API names, its HTTP
 * route, and each top-level request member with its flag and model shape. The shapes below the
 * top level are the in-scope part of the AWS Batch model (API 2016-08-10); they drive flag value
 * parsing (JSON or shorthand `k=v,...`, scalar conversion, list wrapping), request validation,
 * `--generate-cli-skeleton` and `--help`, as botocore's model does for the AWS CLI.
 *
 * Everything here is pure (no network); the only I/O is reading `file://` values and printing
 * help. All functions are safe to call from any thread; nothing keeps state between calls. */
#ifndef BARGE_AWSCLI_H
#define BARGE_AWSCLI_H
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "util.h"

/* Model types. AWSCLI_JSON is a member we do not model (an out-of-scope feature): its value is
 * passed through as given (JSON, or shorthand parsed without type conversion). */
enum awscli_type {
  AWSCLI_STRING,
  AWSCLI_INTEGER,
  AWSCLI_LONG,
  AWSCLI_DOUBLE,
  AWSCLI_BOOLEAN,
  AWSCLI_STRUCT,
  AWSCLI_LIST,
  AWSCLI_MAP,
  AWSCLI_JSON,
  AWSCLI_TYPE__COUNT
};

struct awscli_member;

/* A model shape. `elem` is a list's element or a map's value; `members` a structure's. */
struct awscli_shape {
  enum awscli_type type;
  const char *name;  /* model shape name, e.g. "ContainerOverrides" */
  const char *enums; /* strings with an enum: "N_TO_N|SEQUENTIAL"; else NULL */
  const struct awscli_shape *elem;
  const struct awscli_member *members;
  size_t n_members;
};

struct awscli_member {
  const char *name; /* lowerCamelCase as on the wire, e.g. "minvCpus" */
  const struct awscli_shape *shape;
  int required;
};

/* Where a request member travels over HTTP (spec section 10): the JSON body, the URI path
 * (`{resourceArn}`), or the query string (`tagKeys`). awscli_parse puts every member in the
 * request JSON; the HTTP layer moves URI and query members out of it. */
enum awscli_loc { AWSCLI_LOC_BODY, AWSCLI_LOC_URI, AWSCLI_LOC_QUERY };

/* A top-level request member and its flag. A boolean member `propagateTags` has the flag pair
 * `--propagate-tags` / `--no-propagate-tags`. An out-of-scope member (spec section 10, e.g.
 * nodeOverrides) is accepted and sent so the server can reject it as AWS would, but it is left
 * out of help and the skeleton. */
struct awscli_param {
  const char *member; /* "jobName" */
  const char *flag;   /* "--job-name"; unmanagedvCpus is "--unmanagedv-cpus", as in the AWS CLI */
  const struct awscli_shape *shape;
  int required;
  int out_of_scope;
  enum awscli_loc loc;
};

struct awscli_op {
  const char *cli_name; /* "submit-job" */
  const char *api_name; /* "SubmitJob" */
  const char *method;   /* "POST", "GET", "DELETE" */
  const char *path;     /* "/v1/submitjob", "/v1/tags/{resourceArn}" */
  const struct awscli_param *params;
  size_t n_params;
  /* Paginated operations (nextToken/maxResults): the response member holding the items, e.g.
   * "jobSummaryList"; NULL when the operation does not page. */
  const char *page_result;
  const char *summary; /* one line for help */
  const char *example; /* one command line for help */
};

/* The operation table, in spec section 10 order. */
extern const struct awscli_op awscli_ops[];
extern const size_t awscli_n_ops;

/* The operation with that CLI name ("submit-job") or API name ("SubmitJob"); NULL if none. */
const struct awscli_op *awscli_find(const char *cli_name);
const struct awscli_op *awscli_find_api(const char *api_name);
/* The operation's parameter for a request member ("jobName"); NULL if none. */
const struct awscli_param *awscli_param_find(const struct awscli_op *op, const char *member);

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
int awscli_parse(const struct awscli_op *op, int argc, char **argv, json_t **req_out,
                 struct awscli_globals *g, char *err, size_t errlen) BARGE_WUR;

/* Parses one shorthand value (`size=8`, `type=EC2,instanceTypes=optimal,subnets=[a,b]`)
 * against a shape (a structure or map; NULL parses without the model) exactly as the AWS CLI
 * does: the grammar of awscli/shorthand.py, then scalars converted and single values wrapped
 * into lists where the model says so. Returns 0 and a new value in *out, or -1 with a message
 * (no prefix) in err. */
int awscli_shorthand(const char *text, const struct awscli_shape *shape, json_t **out, char *err,
                     size_t errlen) BARGE_WUR;

/* The input skeleton `--generate-cli-skeleton` prints: every in-scope member with a
 * placeholder ("" or the first enum value, 0, 0.0, true, one-element lists, {"KeyName": ...}).
 * A new object the caller owns. */
json_t *awscli_skeleton(const struct awscli_op *op);

/* Prints the operation's usage: synopsis, flags with types, required marks, enum values and
 * shorthand syntax, the global options, and an example. */
void awscli_usage(const struct awscli_op *op, FILE *out);

/* Prints every operation with its one-line summary. */
void awscli_list_ops(FILE *out);

#endif
