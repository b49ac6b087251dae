/* routes.h: the AWS Batch REST routes: for each operation of the botocore service model
 * (batch 2016-08-10), its HTTP method and path, and the request members that travel in the
 * path or the query string rather than in the JSON body. The table (routes_gen.c) is
 * generated from the model by tools/gen_api_routes.py and checked in; see docs/api.md. */
#ifndef BARGE_API_ROUTES_H
#define BARGE_API_ROUTES_H
#include <stddef.h>

struct api_route {
  const char *operation;  /* "SubmitJob" */
  const char *method;     /* "POST" */
  const char *path;       /* "/v1/submitjob", or "/v1/tags/{resourceArn}" */
  int read_only;          /* Describe*, List*, Get*: allowed to read-only keys */
  const char *uri_member; /* the member bound to the path's one {label}, or NULL */
  const char *query_member; /* a list member bound to a repeated query parameter, or NULL */
  const char *query_name;   /* that parameter's name */
};

extern const struct api_route api_routes[];
extern const size_t api_routes_count;
/* "botocore 1.43.11, batch 2016-08-10": the model the table was generated from. */
extern const char api_routes_model[];

/* The model's request shapes (generated with the routes): every structure reachable from an
 * operation's input, and one row "op:NAME" per operation for its input; members as
 * "name:type,..." in model order, types as aws_type_word names them. tests/unit/test_api_model.c
 * checks Barge's request model (producers/aws/aws_ops.c) against them. */
struct api_model_shape {
  const char *name;    /* "ComputeResourceUpdate", "op:SubmitJob" */
  const char *type;    /* "structure" */
  const char *members; /* "minvCpus:integer,maxvCpus:integer,..." */
};
extern const struct api_model_shape api_model_shapes[];
extern const size_t api_model_shapes_count;

/* The route of a request: method and the path as sent (percent-encoded). On a match with a
 * {label}, *label and *label_len give the still-encoded path segment. NULL when none matches. */
const struct api_route *api_route_find(const char *method, const char *raw_path, const char **label,
                                       size_t *label_len);
#endif
