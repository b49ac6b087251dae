/* sigv4.c: AWS Signature Version 4 (see sigv4.h). */
#include "sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

void sigv4_amz_date(int64_t epoch_ms, char out[17]) {
  time_t t = (time_t)(epoch_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void sigv4_sha256_hex(const void *data, size_t n, char out[65]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
  hex_encode(md, len, out);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32]) {
  unsigned int len = 32;
  HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

static int cmp_pair(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The canonical query string: the k=v pairs sorted (they are already encoded). */
static char *canonical_query(const char *query) {
  if (!query || !*query) return xstrdup("");
  char *q = xstrdup(query);
  size_t n = 1;
  for (const char *p = q; *p; p++) n += *p == '&';
  char **pairs = xcalloc(n, sizeof *pairs);
  size_t k = 0;
  char *save = NULL;
  for (char *t = strtok_r(q, "&", &save); t; t = strtok_r(NULL, "&", &save)) pairs[k++] = t;
  qsort(pairs, k, sizeof *pairs, cmp_pair);
  struct buf b;
  buf_init(&b);
  for (size_t i = 0; i < k; i++) buf_printf(&b, "%s%s%s", i ? "&" : "", pairs[i], strchr(pairs[i], '=') ? "" : "=");
  free(pairs);
  free(q);
  return (char *)b.data ? (char *)b.data : xstrdup("");
}

void sigv4_signing_key(const char *secret_key, const char *date, const char *region,
                       const char *service, unsigned char key[32]) {
  char ksecret[512];
  snprintf(ksecret, sizeof ksecret, "AWS4%s", secret_key);
  unsigned char k1[32], k2[32], k3[32];
  hmac(ksecret, strlen(ksecret), date, k1);
  hmac(k1, 32, region, k2);
  hmac(k2, 32, service, k3);
  hmac(k3, 32, "aws4_request", key);
}

int sigv4_sign(const struct sigv4_creds *cr, const char *region, const char *service,
               const char *method, const char *host, const char *path, const char *query,
               const char *content_type, const void *body, size_t body_len,
               const char *amz_date, char *auth, size_t auth_len) {
  char payload_hash[65], date[9];
  sigv4_sha256_hex(body ? body : "", body ? body_len : 0, payload_hash);
  snprintf(date, sizeof date, "%.8s", amz_date);
  int token = cr->session_token && *cr->session_token;
  struct buf creq;
  buf_init(&creq);
  char *cq = canonical_query(query);
  buf_printf(&creq, "%s\n%s\n%s\n", method, path && *path ? path : "/", cq);
  free(cq);
  if (content_type) buf_printf(&creq, "content-type:%s\n", content_type);
  buf_printf(&creq, "host:%s\nx-amz-date:%s\n", host, amz_date);
  if (token) buf_printf(&creq, "x-amz-security-token:%s\n", cr->session_token);
  const char *signed_headers = content_type ? (token ? "content-type;host;x-amz-date;x-amz-security-token" : "content-type;host;x-amz-date")
                                            : (token ? "host;x-amz-date;x-amz-security-token" : "host;x-amz-date");
  buf_printf(&creq, "\n%s\n%s", signed_headers, payload_hash);
  char creq_hash[65];
  sigv4_sha256_hex(creq.data, creq.len, creq_hash);
  buf_release(&creq);
  char scope[256], sts[512];
  snprintf(scope, sizeof scope, "%s/%s/%s/aws4_request", date, region, service);
  snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, creq_hash);
  unsigned char key[32], sig[32];
  sigv4_signing_key(cr->secret_key, date, region, service, key);
  hmac(key, 32, sts, sig);
  char sighex[65];
  hex_encode(sig, 32, sighex);
  int w = snprintf(auth, auth_len, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s", cr->access_key,
                   scope, signed_headers, sighex);
  return w < 0 || (size_t)w >= auth_len ? -1 : 0;
}

void sigv4_uri_encode(struct buf *out, const char *s, int keep_slash) {
  for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
        *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/'))
      buf_append(out, p, 1);
    else
      buf_printf(out, "%%%02X", *p);
  }
}

void sigv4_form_add(struct buf *form, const char *key, const char *value) {
  if (form->len) buf_append(form, "&", 1);
  sigv4_uri_encode(form, key, 0);
  buf_append(form, "=", 1);
  sigv4_uri_encode(form, value, 0);
}
