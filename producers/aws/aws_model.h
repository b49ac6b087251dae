/* aws_model.h: the AWS Batch request model (API 2016-08-10) cut down to what Barge serves: each
 * top-level request member with its flag and shape, and the shapes below it. The model drives
 * the command line (flag values, --generate-cli-skeleton, --help) and request validation
 * (aws_validate), as botocore's model does for the AWS CLI; the HTTP API reads the same model.
 * The shapes themselves are in aws_ops.c. */
#ifndef BARGE_AWS_MODEL_H
#define BARGE_AWS_MODEL_H
#include <jansson.h>
#include <stddef.h>

#include "util.h"

/* Model types. AWS_JSON is a member we do not model (an out-of-scope feature): its value is
 * passed through as given (JSON, or shorthand parsed without type conversion). */
enum aws_type {
  AWS_STRING,
  AWS_INTEGER,
  AWS_LONG,
  AWS_DOUBLE,
  AWS_BOOLEAN,
  AWS_STRUCT,
  AWS_LIST,
  AWS_MAP,
  AWS_JSON,
  AWS_TYPE__COUNT
};

struct aws_member;

/* A model shape. `elem` is a list's element or a map's value; `members` a structure's. */
struct aws_shape {
  enum aws_type type;
  const char *name;  /* model shape name, e.g. "ContainerOverrides" */
  const char *enums; /* strings with an enum: "N_TO_N|SEQUENTIAL"; else NULL */
  const struct aws_shape *elem;
  const struct aws_member *members;
  size_t n_members;
};

struct aws_member {
  const char *name; /* lowerCamelCase as on the wire, e.g. "minvCpus" */
  const struct aws_shape *shape;
  int required;
  /* a member of AWS's model that Barge would not act on (UpdateComputeEnvironment's
   * computeResources.launchTemplate): refused by aws_validate, never silently dropped */
  int unhonoured;
};

/* Where a request member travels over HTTP: the JSON body, the URI path (`{resourceArn}`), or
 * the query string (`tagKeys`). The command line puts every member in the request JSON; the
 * HTTP layer moves URI and query members out of it. */
enum aws_loc { AWS_LOC_BODY, AWS_LOC_URI, AWS_LOC_QUERY };

/* A top-level request member and its flag. A boolean member `propagateTags` has the flag pair
 * `--propagate-tags` / `--no-propagate-tags`. An out-of-scope member (e.g. nodeOverrides) is
 * accepted and sent so the server can reject it as AWS would, but it is left out of help and
 * the skeleton. */
struct aws_param {
  const char *member; /* "jobName" */
  const char *flag;   /* "--job-name"; unmanagedvCpus is "--unmanagedv-cpus", as in the AWS CLI */
  const struct aws_shape *shape;
  int required;
  int out_of_scope;
  enum aws_loc loc;
  int unhonoured; /* as aws_member's: refused by aws_check_request (UpdateComputeEnvironment's
                     updatePolicy); shown in help */
};

/* "string", "integer", ... as messages and help name the type. */
const char *aws_type_word(const struct aws_shape *sh);
/* Structures, lists and maps. */
int aws_is_complex(const struct aws_shape *sh);
/* Strings, numbers and booleans. */
int aws_is_scalar(const struct aws_shape *sh);

/* AWS's limits on a resource's tags (docs/job-model.md §10): at most 50; keys of 1 to 128
 * characters, values of 0 to 256, both of letters, digits, spaces and _ . : / = + - @; no key
 * starting with the reserved "aws:" (any case). path names the map in messages. 0, or -1 with
 * the reason in err. */
int aws_check_tags(const json_t *tags, const char *path, char *err, size_t errlen) BARGE_WUR;
/* One tag key of those limits (UntagResource's tagKeys). */
int aws_check_tag_key(const char *key, const char *path, char *err, size_t errlen) BARGE_WUR;

/* "NAME is not implemented by Barge ...": the message refusing an unhonoured member. */
int aws_refuse_unhonoured(const char *path, char *err, size_t errlen);

/* Checks v against shape sh as botocore's ParamValidator does: types, required members and
 * unknown members, recursively; and refuses members marked unhonoured. path names v in messages ("computeResources"). Returns 0, or
 * -1 with a one-line message in err ("invalid type for parameter computeResources.minvCpus:
 * expected integer, got \"a\""). */
int aws_validate(const struct aws_shape *sh, const json_t *v, const char *path, char *err,
                 size_t errlen) BARGE_WUR;
#endif
