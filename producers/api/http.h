/* http.h: `barge api`'s HTTP server: the AWS Batch REST-JSON protocol on libmicrohttpd.
 *
 * A request goes through api_handle, which does no socket I/O and is what the unit tests and
 * fuzz targets drive: body size limit, SigV4 (sigv4_verify.h) unless anonymous access is
 * allowed, the route of the botocore model (routes.h), read-only keys, the JSON body plus the
 * members bound to the path and query, then ops->call (api_ops.h). Every answer carries
 * x-amzn-RequestId (a UUID); errors carry x-amzn-ErrorType and the body
 * {"__type": TYPE, "message": TEXT} as AWS services answer:
 *
 *   400 ClientException                    malformed JSON, a body that is not an object, and
 *                                          what the operation refuses
 *   403 MissingAuthenticationTokenException, IncompleteSignatureException,
 *       UnrecognizedClientException, InvalidSignatureException   (sigv4_verify.h)
 *   403 AccessDeniedException              a write by a read-only key
 *   404 UnknownOperationException          no operation of the model has this method and path
 *   429 TooManyRequestsException           the access key is over --rate-limit (ratelimit.h)
 *   413 ClientException                    a body over max_body_bytes (read and dropped up to
 *                                          API_DRAIN_MAX_BYTES so the client reads the answer;
 *                                          at once when it sent Expect: 100-continue)
 *   500 ServerException                    what the operation could not do (Kafka, ...)
 *
 * A request whose X-Amz-Target starts with "Logs_20140328." is CloudWatch Logs (JSON 1.1,
 * logs_api.h): its signature is scoped to the service "logs" (Batch requests to "batch"), and
 * after SigV4 it goes to logs_call instead of the route table, its answers and errors typed
 * application/x-amz-json-1.1 in the same {"__type", "message"} shape.
 *
 * With conf->tls_cert_pem and tls_key_pem the server speaks HTTPS only (libmicrohttpd's TLS,
 * GnuTLS); a client that is not speaking TLS fails its handshake and is disconnected.
 *
 * api_server_start runs the server in libmicrohttpd's own threads (one per connection, or a pool
 * of conf->threads);
 * api_handle may run on any of them at once. */
#ifndef BARGE_API_HTTP_H
#define BARGE_API_HTTP_H
#include <stddef.h>
#include <stdint.h>

#include "api_ops.h"
#include "credentials.h"
#include "logs_api.h"
#include "ratelimit.h"
#include "sigv4_verify.h"

#define API_MAX_BODY_BYTES (1024 * 1024)  /* AWS's largest Batch request (a JD) is 24 KiB */
#define API_DRAIN_MAX_BYTES (16 * 1024 * 1024) /* an oversize body up to this is read and dropped */
#define API_IDLE_TIMEOUT_S 10             /* a connection silent this long is closed */
#define API_REQUEST_TIMEOUT_MS 30000      /* a body still arriving after this is dropped */
#define API_MAX_CONNECTIONS 1024
#define API_MAX_HEADERS 128

struct dash;
struct api_conf {
  const struct api_credentials *creds; /* NULL when no credentials file was given */
  int allow_anonymous;                 /* accept requests without a signature */
  const char *region;                  /* the region a signature's scope must name; NULL: any */
  const struct api_ops *ops;
  size_t max_body_bytes;    /* 0: API_MAX_BODY_BYTES */
  unsigned threads;         /* a pool of this many threads; 0: a thread per connection */
  int64_t (*clock_ms)(void); /* NULL: now_ms; tests pin the clock */
  struct api_ratelimit *limiter; /* NULL: no rate limit */
  int64_t (*mono_us)(void);      /* the limiter's clock; NULL: CLOCK_MONOTONIC */
  const struct logs_source *logs; /* CloudWatch Logs requests (logs_api.h); NULL: not served */
  const char *tls_cert_pem, *tls_key_pem; /* both set: serve HTTPS (PEM texts) */
  struct dash *dash; /* the web dashboard under /dashboard (dash.h); NULL: not served */
  int listen_fd;     /* > 0: serve on this inherited listening socket (`barge up` holds the
                        address for the stack's life); listen then only names it */
};

struct api_http_request {
  const char *method;
  const char *raw_uri; /* the request target as sent: "/v1/tags/arn%3A...?tagKeys=a" */
  const struct sigv4_header *headers;
  size_t n_headers;
  const void *body;
  size_t body_len;
  int body_too_large; /* the body exceeded the limit and was not kept */
};

struct api_http_response {
  int status;
  char request_id[37];
  const char *error_type; /* NULL on success */
  const char *operation;  /* the matched operation, NULL when none */
  const char *content_type; /* NULL: application/json */
  char *body;             /* JSON, malloc'd */
  size_t body_len;
};

/* n bytes of s percent-decoded into a new string; '+' a space when plus_space (a browser's
 * form encoding), else itself (SDKs encode spaces as %20). */
char *api_pct_decode(const char *s, size_t n, int plus_space);

/* Handles one request; fills *out (release with api_http_response_release). */
void api_handle(const struct api_conf *conf, const struct api_http_request *rq, struct api_http_response *out);
void api_http_response_release(struct api_http_response *out);

struct api_server;
/* Listens on "HOST:PORT" ("127.0.0.1:8780", "[::1]:0", "0.0.0.0:8780"; port 0 picks a free
 * one) and serves until api_server_stop. conf and what it points to are borrowed and must
 * outlive the server. NULL with the reason in err. */
struct api_server *api_server_start(const struct api_conf *conf, const char *listen, char *err, size_t errlen);
/* The bound address, e.g. "127.0.0.1:8780" with the real port. */
const char *api_server_address(const struct api_server *s);
void api_server_stop(struct api_server *s);
#endif
