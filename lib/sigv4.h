/* sigv4.h: AWS Signature Version 4 request signing with OpenSSL (HMAC-SHA256), for the ec2
 * driver's Query API calls. Pure functions of their inputs (the caller passes the time), safe from
 * any thread. */
#ifndef BARGE_SIGV4_H
#define BARGE_SIGV4_H
#include <stddef.h>
#include <stdint.h>

struct sigv4_creds {
  const char *access_key, *secret_key;
  const char *session_token; /* NULL when none */
};

/* "20150830T123600Z" for epoch ms. */
void sigv4_amz_date(int64_t epoch_ms, char out[17]);
/* Lower-case hex SHA-256 of data. */
void sigv4_sha256_hex(const void *data, size_t n, char out[65]);

/* The SigV4 signing key: HMAC-SHA256 chained over "AWS4" + secret, date ("20150830"), region,
 * service and "aws4_request". */
void sigv4_signing_key(const char *secret_key, const char *date, const char *region,
                       const char *service, unsigned char key[32]);

/* Signs one request. host: as sent in the Host header ("ec2.us-east-1.amazonaws.com",
 * "127.0.0.1:4566"); path: "/"; query: "k=v&..." already URI-encoded (sorted here), may be "";
 * content_type may be NULL. The signed headers are content-type (when given), host, x-amz-date
 * and x-amz-security-token (when the credentials carry one). Writes the Authorization header
 * value into auth. Returns 0, or -1 when auth is too small. */
int sigv4_sign(const struct sigv4_creds *cr, const char *region, const char *service,
               const char *method, const char *host, const char *path, const char *query,
               const char *content_type, const void *body, size_t body_len,
               const char *amz_date, char *auth, size_t auth_len);

/* Appends "&key=value" (or "key=value" first) to a form, URI-encoding both (RFC 3986). */
struct buf;
void sigv4_form_add(struct buf *form, const char *key, const char *value);
/* Appends s URI-encoded (RFC 3986: all but A-Z a-z 0-9 - _ . ~, and '/' when keep_slash): a
 * path label's value (keep_slash 0), or a path as services other than S3 sign it, encoded once
 * more (keep_slash 1: "/v1/tags/arn%3A..." is signed as "/v1/tags/arn%253A..."). */
void sigv4_uri_encode(struct buf *out, const char *s, int keep_slash);
#endif
