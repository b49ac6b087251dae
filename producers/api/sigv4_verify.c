/* sigv4_verify.c: server-side SigV4 verification (see sigv4_verify.h). The key derivation and
 * hashing are lib/sigv4.c's (the signing side); this file adds what only a verifier
 * needs: the canonical request rebuilt from a received request, and the error mapping. */
#include "sigv4_verify.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sigv4.h"
#include "util.h"

#define MSG_MISMATCH                                                                                 \
  "The request signature we calculated does not match the signature you provided. Check your AWS " \
  "Secret Access Key and signing method. Consult the service documentation for details."
#define MSG_BAD_TOKEN "The security token included in the request is invalid."

static enum sigv4_outcome verdict(struct sigv4_verdict *v, enum sigv4_outcome o, const char *fmt, ...)
    BARGE_PRINTF(3, 4);
static enum sigv4_outcome verdict(struct sigv4_verdict *v, enum sigv4_outcome o, const char *fmt, ...) {
  static const char *const types[SIGV4__COUNT] = {
      [SIGV4_OK] = NULL,
      [SIGV4_MISSING] = "MissingAuthenticationTokenException",
      [SIGV4_INCOMPLETE] = "IncompleteSignatureException",
      [SIGV4_UNKNOWN_KEY] = "UnrecognizedClientException",
      [SIGV4_BAD_SCOPE] = "InvalidSignatureException",
      [SIGV4_EXPIRED] = "InvalidSignatureException",
      [SIGV4_MISMATCH] = "InvalidSignatureException",
  };
  v->outcome = o;
  v->http_status = o == SIGV4_OK ? 200 : 403;
  v->error_type = types[o];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->message, sizeof v->message, fmt, ap);
  va_end(ap);
  return o;
}

/* AWS's URI encoding: unreserved characters stay, everything else is %XX (upper case); '/'
 * stays when keep_slash. */
static void uri_encode(struct buf *b, const char *s, size_t n, int keep_slash) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/'))
      buf_append(b, &c, 1);
    else
      buf_printf(b, "%%%02X", c);
  }
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes n bytes of s into b (an invalid escape is kept as is). */
static void uri_decode(struct buf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int h, l;
    if (s[i] == '%' && i + 2 < n && (h = hexval(s[i + 1])) >= 0 && (l = hexval(s[i + 2])) >= 0) {
      unsigned char c = (unsigned char)(h * 16 + l);
      buf_append(b, &c, 1);
      i += 2;
    } else {
      buf_append(b, &s[i], 1);
    }
  }
}

struct qpair {
  char *k, *v; /* canonically encoded */
};

static int cmp_qpair(const void *a, const void *b) {
  const struct qpair *x = a, *y = b;
  int c = strcmp(x->k, y->k);
  return c ? c : strcmp(x->v, y->v);
}

/* The canonical query string: every pair decoded and re-encoded, sorted by key then value. */
static void canonical_query(struct buf *out, const char *q) {
  if (!q || !*q) return;
  size_t n = 1;
  for (const char *p = q; *p; p++) n += *p == '&';
  struct qpair *pairs = xcalloc(n, sizeof *pairs);
  size_t k = 0;
  for (const char *p = q; *p;) {
    size_t len = strcspn(p, "&");
    if (len) {
      const char *eq = memchr(p, '=', len);
      size_t klen = eq ? (size_t)(eq - p) : len;
      struct buf d, e;
      buf_init(&d);
      buf_init(&e);
      uri_decode(&d, p, klen);
      uri_encode(&e, d.data ? (char *)d.data : "", d.len, 0);
      pairs[k].k = e.data ? (char *)e.data : xstrdup("");
      buf_release(&d);
      buf_init(&e);
      if (eq) uri_decode(&d, eq + 1, len - klen - 1);
      uri_encode(&e, d.data ? (char *)d.data : "", d.len, 0);
      buf_release(&d);
      pairs[k].v = e.data ? (char *)e.data : xstrdup("");
      k++;
    }
    p += len;
    if (*p == '&') p++;
  }
  qsort(pairs, k, sizeof *pairs, cmp_qpair);
  for (size_t i = 0; i < k; i++) {
    buf_printf(out, "%s%s=%s", i ? "&" : "", pairs[i].k, pairs[i].v);
    free(pairs[i].k);
    free(pairs[i].v);
  }
  free(pairs);
}

/* The header's values (every occurrence, joined by ','), trimmed with inner runs of spaces
 * collapsed, appended to out. 0 when the header is absent. */
static int header_value(struct buf *out, const struct sigv4_request *rq, const char *name, size_t name_len) {
  int found = 0;
  for (size_t i = 0; i < rq->n_headers; i++) {
    const char *hn = rq->headers[i].name;
    if (strlen(hn) != name_len || strncasecmp(hn, name, name_len)) continue;
    if (found++) buf_append(out, ",", 1);
    const char *v = rq->headers[i].value ? rq->headers[i].value : "";
    while (*v == ' ' || *v == '\t') v++;
    int space = 0;
    for (; *v; v++) {
      if (*v == ' ' || *v == '\t') {
        space = 1;
        continue;
      }
      if (space) buf_append(out, " ", 1);
      space = 0;
      buf_append(out, v, 1);
    }
  }
  return found;
}

static const char *find_header(const struct sigv4_request *rq, const char *name) {
  for (size_t i = 0; i < rq->n_headers; i++)
    if (!strcasecmp(rq->headers[i].name, name)) return rq->headers[i].value ? rq->headers[i].value : "";
  return NULL;
}

int sigv4_present(const struct sigv4_request *rq) { return find_header(rq, "authorization") != NULL; }

char *sigv4_canonical_request(const struct sigv4_request *rq, const char *signed_headers) {
  struct buf b;
  buf_init(&b);
  buf_printf(&b, "%s\n", rq->method);
  const char *path = rq->raw_path && *rq->raw_path ? rq->raw_path : "/";
  /* services other than S3 sign the path URI-encoded once more than it was sent */
  uri_encode(&b, path, strlen(path), 1);
  buf_append(&b, "\n", 1);
  canonical_query(&b, rq->raw_query);
  buf_append(&b, "\n", 1);
  for (const char *p = signed_headers; *p;) {
    size_t len = strcspn(p, ";");
    if (len) {
      for (size_t i = 0; i < len; i++) {
        char c = (char)tolower((unsigned char)p[i]);
        buf_append(&b, &c, 1);
      }
      buf_append(&b, ":", 1);
      if (!header_value(&b, rq, p, len)) {
        buf_release(&b);
        return NULL;
      }
      buf_append(&b, "\n", 1);
    }
    p += len;
    if (*p == ';') p++;
  }
  char hash[65];
  sigv4_sha256_hex(rq->body ? rq->body : "", rq->body ? rq->body_len : 0, hash);
  buf_printf(&b, "\n%s\n%s", signed_headers, hash);
  return (char *)b.data;
}

/* Whether the ';'-separated list has the entry. */
static int list_has(const char *list, const char *entry) {
  size_t n = strlen(entry);
  for (const char *p = list; *p;) {
    size_t len = strcspn(p, ";");
    if (len == n && !strncmp(p, entry, n)) return 1;
    p += len;
    if (*p == ';') p++;
  }
  return 0;
}

/* "20150830T123600Z" to epoch ms; -1 when malformed. */
static int64_t parse_amz_date(const char *s) {
  struct tm tm = {0};
  if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z') return -1;
  for (int i = 0; i < 15; i++)
    if (i != 8 && !isdigit((unsigned char)s[i])) return -1;
  if (sscanf(s, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
             &tm.tm_sec) != 6)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (int64_t)timegm(&tm) * 1000;
}

/* The value of "name=" among the comma-separated components of an Authorization header, into
 * out; 0 when present. */
static int auth_component(const char *auth, const char *name, char *out, size_t n) {
  size_t nl = strlen(name);
  for (const char *p = auth; *p;) {
    while (*p == ' ' || *p == ',') p++;
    size_t len = strcspn(p, ",");
    if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
      size_t vl = len - nl - 1;
      while (vl && p[nl + 1 + vl - 1] == ' ') vl--;
      if (vl >= n) return -1;
      memcpy(out, p + nl + 1, vl);
      out[vl] = 0;
      return 0;
    }
    p += len;
  }
  return -1;
}

/* The signing key of (secret, date, region, service) changes once a day: each server thread
 * keeps the last few it derived (four HMACs saved per request; thread-local, so no lock). */
#define KEY_CACHE 8
struct key_entry {
  char secret[256], scope[128]; /* scope: "date/region/service" */
  unsigned char key[32];
  int used;
};
static _Thread_local struct key_entry key_cache[KEY_CACHE];
static _Thread_local unsigned key_next;

static void signing_key_cached(const char *secret, const char *date, const char *region, const char *service,
                               unsigned char key[32]) {
  char scope[128];
  int n = snprintf(scope, sizeof scope, "%s/%s/%s", date, region, service);
  int cacheable = n > 0 && (size_t)n < sizeof scope && strlen(secret) < sizeof key_cache[0].secret;
  for (int i = 0; cacheable && i < KEY_CACHE; i++) {
    struct key_entry *e = &key_cache[i];
    if (e->used && !strcmp(e->scope, scope) && !strcmp(e->secret, secret)) {
      memcpy(key, e->key, 32);
      return;
    }
  }
  sigv4_signing_key(secret, date, region, service, key);
  if (!cacheable) return;
  struct key_entry *e = &key_cache[key_next++ % KEY_CACHE];
  snprintf(e->secret, sizeof e->secret, "%s", secret);
  snprintf(e->scope, sizeof e->scope, "%s", scope);
  memcpy(e->key, key, 32);
  e->used = 1;
}

enum sigv4_outcome sigv4_verify(const struct sigv4_request *rq, const struct api_credentials *creds,
                                const char *region, const char *service, int64_t now_ms,
                                struct sigv4_verdict *v) {
  memset(v, 0, sizeof *v);
  const char *auth = find_header(rq, "authorization");
  if (!auth) return verdict(v, SIGV4_MISSING, "Missing Authentication Token");
  static const char algo[] = "AWS4-HMAC-SHA256 ";
  if (strncmp(auth, algo, sizeof algo - 1))
    return verdict(v, SIGV4_INCOMPLETE, "Authorization header requires the AWS4-HMAC-SHA256 algorithm.");
  const char *rest = auth + sizeof algo - 1;
  char credential[512], signed_headers[1024], signature[128];
  if (auth_component(rest, "Credential", credential, sizeof credential))
    return verdict(v, SIGV4_INCOMPLETE, "Authorization header requires 'Credential' parameter. Authorization=%.200s",
                   auth);
  if (auth_component(rest, "SignedHeaders", signed_headers, sizeof signed_headers))
    return verdict(v, SIGV4_INCOMPLETE,
                   "Authorization header requires 'SignedHeaders' parameter. Authorization=%.200s", auth);
  if (auth_component(rest, "Signature", signature, sizeof signature))
    return verdict(v, SIGV4_INCOMPLETE, "Authorization header requires 'Signature' parameter. Authorization=%.200s",
                   auth);
  /* Credential=AKID/20150830/us-east-1/service/aws4_request */
  char *parts[5] = {0};
  int np = 0;
  for (char *p = credential, *s; np < 5 && p; p = s) {
    s = strchr(p, '/');
    if (s) *s++ = 0;
    parts[np++] = p;
    if (!s) break;
  }
  if (np != 5 || !*parts[0])
    return verdict(v, SIGV4_INCOMPLETE,
                   "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term");
  const struct api_credential *cr = api_credentials_find(creds, parts[0]);
  if (!cr) return verdict(v, SIGV4_UNKNOWN_KEY, MSG_BAD_TOKEN);
  const char *token = find_header(rq, "x-amz-security-token");
  if ((cr->session_token != NULL) != (token != NULL) ||
      (token && (strlen(token) != strlen(cr->session_token) ||
                 CRYPTO_memcmp(token, cr->session_token, strlen(token)))))
    return verdict(v, SIGV4_UNKNOWN_KEY, MSG_BAD_TOKEN);
  v->cred = cr;
  if (!list_has(signed_headers, "host"))
    return verdict(v, SIGV4_INCOMPLETE, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  const char *amz_date = find_header(rq, "x-amz-date");
  int64_t at_ms = parse_amz_date(amz_date);
  if (at_ms < 0)
    return verdict(v, SIGV4_INCOMPLETE,
                   "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  if (now_ms - at_ms > SIGV4_MAX_SKEW_MS) {
    char earliest[17], now[17];
    sigv4_amz_date(now_ms - SIGV4_MAX_SKEW_MS, earliest);
    sigv4_amz_date(now_ms, now);
    return verdict(v, SIGV4_EXPIRED, "Signature expired: %s is now earlier than %s (%s - 15 min.)", amz_date,
                   earliest, now);
  }
  if (at_ms - now_ms > SIGV4_MAX_SKEW_MS) {
    char latest[17], now[17];
    sigv4_amz_date(now_ms + SIGV4_MAX_SKEW_MS, latest);
    sigv4_amz_date(now_ms, now);
    return verdict(v, SIGV4_EXPIRED, "Signature not yet current: %s is still later than %s (%s + 15 min.)",
                   amz_date, latest, now);
  }
  if (strncmp(parts[1], amz_date, 8) || strlen(parts[1]) != 8)
    return verdict(v, SIGV4_BAD_SCOPE,
                   "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                   "'%.16s' != '%.8s', from '%s'.",
                   parts[1], amz_date, amz_date);
  if (region && strcmp(parts[2], region))
    return verdict(v, SIGV4_BAD_SCOPE, "Credential should be scoped to a valid region, not '%.64s'. ", parts[2]);
  if (strcmp(parts[3], service))
    return verdict(v, SIGV4_BAD_SCOPE, "Credential should be scoped to correct service: '%s'. ", service);
  if (strcmp(parts[4], "aws4_request"))
    return verdict(v, SIGV4_BAD_SCOPE, "Credential should be scoped with a valid terminator: 'aws4_request', not '%.64s'. ",
                   parts[4]);
  char *creq = sigv4_canonical_request(rq, signed_headers);
  if (!creq) return verdict(v, SIGV4_MISMATCH, MSG_MISMATCH);
  char creq_hash[65];
  sigv4_sha256_hex(creq, strlen(creq), creq_hash);
  free(creq);
  struct buf sts;
  buf_init(&sts);
  buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, parts[1], parts[2], parts[3],
             creq_hash);
  unsigned char key[32], sig[32];
  unsigned int sig_len = sizeof sig;
  signing_key_cached(cr->secret_key, parts[1], parts[2], parts[3], key);
  HMAC(EVP_sha256(), key, sizeof key, sts.data, sts.len, sig, &sig_len);
  buf_release(&sts);
  char want[65];
  hex_encode(sig, sizeof sig, want);
  if (strlen(signature) != 64 || CRYPTO_memcmp(want, signature, 64)) return verdict(v, SIGV4_MISMATCH, MSG_MISMATCH);
  return verdict(v, SIGV4_OK, "%s", "");
}
