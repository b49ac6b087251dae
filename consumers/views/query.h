/* query.h: the AWS Batch read operations answered from the compacted tables. */
#ifndef BARGE_QUERY_H
#define BARGE_QUERY_H
#include <jansson.h>

#include "bus.h"

/* Runs one read operation by API name. 0 with *resp (owned); 400/500 with the message in err;
 * -1 when api is not a read operation Barge serves here. */
int query_call(const struct bus_conf *bc, const char *api, const json_t *req, json_t **resp,
               char *err, size_t errlen);
#endif
