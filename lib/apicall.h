/* apicall.h: a client of `barge api` (or any AWS REST-JSON endpoint): one request, signed with
 * SigV4 (sigv4.h), over HTTP with libcurl. The `barge` command line sends its reads through it
 * when a stack runs an API (producers/aws/cli_remote.c); bench/bench_api_reads times the API
 * with it. One struct apicall per thread (it keeps its connection open between calls). */
#ifndef BARGE_APICALL_H
#define BARGE_APICALL_H
#include <jansson.h>
#include <stddef.h>

#include "util.h"

struct apicall;

/* The header with which the `barge` command line asks `barge api` to catch its view up with the
 * tables' ends before a read (producers/api/api_ops.h, docs/api.md). */
#define APICALL_SYNC_READ_HEADER "x-barge-sync-read"

/* endpoint: "http://127.0.0.1:8780"; the key signs for region and service ("batch"). */
struct apicall *apicall_new(const char *endpoint, const char *access_key, const char *secret_key,
                            const char *region, const char *service);
void apicall_free(struct apicall *a);

/* Sends one more header ("Name: value", unsigned) with every request; NULL for none. */
void apicall_header(struct apicall *a, const char *line);

/* Sends body (borrowed; JSON) as method path. Returns the HTTP status (200 with *resp the
 * parsed answer; an error status with *resp its {"__type", "message"} body when it has one),
 * or -1 when nothing came back (connection refused, timeout) with the reason in err. */
int apicall_json(struct apicall *a, const char *method, const char *path, const json_t *body,
                 json_t **resp, char *err, size_t errlen) BARGE_WUR;

/* The access key and secret of profile in an AWS shared-credentials file. 0, or -1. */
int apicall_profile_keys(const char *file, const char *profile, char *key, size_t keylen,
                         char *secret, size_t secretlen) BARGE_WUR;
#endif
