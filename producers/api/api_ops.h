/* api_ops.h: what `barge api` serves requests with. The HTTP layer (http.c) authenticates,
 * routes and parses a request into the operation's name and its AWS request JSON, then calls
 * ops->call; it knows nothing of Kafka. ops_table.c implements it over the AWS operation table
 * (producers/aws/aws_op.h) that the `barge` command line runs too; tests of the HTTP layer alone
 * use api_ops_unwired. */
#ifndef BARGE_API_OPS_H
#define BARGE_API_OPS_H
#include <jansson.h>
#include <stddef.h>

#include "apicall.h"
#include "bus.h"
#include "util.h"

/* Who made the request: a verified access key, or anonymous (--allow-anonymous). */
struct api_principal {
  const char *access_key; /* NULL when anonymous */
  const char *profile;    /* the credentials file's profile, NULL when anonymous */
  const char *account_id; /* barge_account_id of the profile, NULL when none */
  int read_only;
  /* the request carried API_SYNC_READ_HEADER: a read waits (bounded) until the API's view has
   * read everything the tables held when the request arrived, so that it shows what another
   * process wrote just before; the `barge` command line sends it */
  int sync_read;
};
#define API_SYNC_READ_HEADER APICALL_SYNC_READ_HEADER

struct api_ops {
  void *ctx;
  /* Runs one operation ("SubmitJob") on its AWS request JSON (borrowed). Returns 0 with *resp
   * (owned) the AWS response; 400 for a ClientException or 500 for a ServerException with the
   * message in err. May be called from several server threads at once. */
  int (*call)(void *ctx, const struct api_principal *who, const char *operation, const json_t *req,
              json_t **resp, char *err, size_t errlen);
};

/* A dispatch that answers every operation with ServerException "not wired": for tests of the
 * HTTP layer alone. */
extern const struct api_ops api_ops_unwired;

/* The dispatch onto the AWS operation table (ops_table.c), the one the command line runs, against
 * the Kafka of bc (borrowed; must outlive the ops). Writes run concurrently through one shared
 * producer (docs/api.md "The write path"); reads answer from the in-memory view it starts
 * (view_live.h), concurrently. Reads barge.config to its end first; NULL with the reason in err. */
struct api_ops *api_ops_table_new(const struct bus_conf *bc, char *err, size_t errlen);
void api_ops_table_free(struct api_ops *ops);
/* The in-memory view of a table dispatch (view_live.h), NULL when it has none: the dashboard
 * (dash.h) reads it beside the operations. */
struct view_live;
struct view_live *api_ops_table_view(const struct api_ops *ops);
#endif
