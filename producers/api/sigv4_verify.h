/* sigv4_verify.h: server-side AWS Signature Version 4 verification of one HTTP request
 * (the Authorization-header form that the AWS CLI, boto3 and the SDKs send).
 *
 * The verifier rebuilds the canonical request from what arrived (method, the path as sent,
 * the query string, the headers named in SignedHeaders, the SHA-256 of the body), derives the
 * signing key of the access key's secret for the credential scope date/region/service, and
 * compares signatures in constant time. The caller passes the time, so the 15-minute clock
 * skew is testable. Pure: no I/O, no clock; any thread may call it.
 *
 * Outcomes and the AWS errors they answer with (all HTTP 403):
 *   SIGV4_MISSING      MissingAuthenticationTokenException  "Missing Authentication Token"
 *   SIGV4_INCOMPLETE   IncompleteSignatureException         the Authorization header is malformed
 *   SIGV4_UNKNOWN_KEY  UnrecognizedClientException          unknown access key, or a wrong or
 *                                                           missing X-Amz-Security-Token
 *   SIGV4_BAD_SCOPE    InvalidSignatureException            scope date/region/service wrong
 *   SIGV4_EXPIRED      InvalidSignatureException            "Signature expired: ..." (or "not yet current")
 *   SIGV4_MISMATCH     InvalidSignatureException            "The request signature we calculated ..." */
#ifndef BARGE_API_SIGV4_VERIFY_H
#define BARGE_API_SIGV4_VERIFY_H
#include <stddef.h>
#include <stdint.h>

#include "credentials.h"

/* Allowed difference between X-Amz-Date and the server's clock, as in AWS. */
#define SIGV4_MAX_SKEW_MS (15 * 60 * 1000)

struct sigv4_header {
  const char *name, *value; /* name in any case, value as received */
};

/* One request as it arrived. raw_path is the path exactly as on the request line, still
 * percent-encoded ("/v1/tags/arn%3Aaws%3A..."); raw_query the text after '?', or NULL. A
 * header repeated in the request appears once per occurrence. */
struct sigv4_request {
  const char *method;
  const char *raw_path;
  const char *raw_query;
  const struct sigv4_header *headers;
  size_t n_headers;
  const void *body;
  size_t body_len;
};

enum sigv4_outcome {
  SIGV4_OK,
  SIGV4_MISSING,
  SIGV4_INCOMPLETE,
  SIGV4_UNKNOWN_KEY,
  SIGV4_BAD_SCOPE,
  SIGV4_EXPIRED,
  SIGV4_MISMATCH,
  SIGV4__COUNT
};

struct sigv4_verdict {
  enum sigv4_outcome outcome;
  int http_status;                   /* 200 when OK, else 403 */
  const char *error_type;            /* the AWS error type (x-amzn-ErrorType), NULL when OK */
  char message[640];                 /* AWS's message for the error */
  const struct api_credential *cred; /* the key that signed (OK, and the scope/expiry/mismatch cases) */
};

/* Verifies rq against creds. region: the region the scope must name (NULL: any); service:
 * the signing name the scope must name ("batch"). now_ms: the server's clock. Returns the
 * outcome (also in v->outcome). */
enum sigv4_outcome sigv4_verify(const struct sigv4_request *rq, const struct api_credentials *creds,
                                const char *region, const char *service, int64_t now_ms,
                                struct sigv4_verdict *v);

/* Whether a request carries any signature (an Authorization header). */
int sigv4_present(const struct sigv4_request *rq);

/* The canonical request of rq for these signed headers ("host;x-amz-date"), malloc'd; NULL
 * when a signed header is absent. Exposed for tests and for debug logs. */
char *sigv4_canonical_request(const struct sigv4_request *rq, const char *signed_headers);
#endif
