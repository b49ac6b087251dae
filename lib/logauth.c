/* logauth.c: signing and checking the log servers' requests (logauth.h). */
#include "logauth.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

unsigned char *logauth_read_key(const char *path, size_t *keylen, char *err, size_t errlen) {
  return (unsigned char *)read_secret_file(path, "log token file", LOGAUTH_MIN_KEY, keylen, err, errlen);
}

/* The hex signature of (path, ts, nonce) into hex[65]. */
static void signature(const unsigned char *key, size_t keylen, const char *path, const char *ts, const char *nonce,
                      char hex[65]) {
  struct buf m;
  buf_init(&m);
  buf_printf(&m, "barge-log-v1\n%s\n%s\n%s", path, ts, nonce);
  unsigned char mac[32];
  unsigned int maclen = sizeof mac;
  HMAC(EVP_sha256(), key, (int)keylen, m.data, m.len, mac, &maclen);
  buf_release(&m);
  hex_encode(mac, sizeof mac, hex);
}

int logauth_sign(const unsigned char *key, size_t keylen, const char *path, int64_t now, const char *nonce,
                 char *out, size_t outlen) {
  char ts[24], hex[65];
  snprintf(ts, sizeof ts, "%" PRId64, now);
  signature(key, keylen, path, ts, nonce, hex);
  int n = snprintf(out, outlen, LOGAUTH_SCHEME " ts=%s, nonce=%s, sig=%s", ts, nonce, hex);
  return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

void logauth_guard_init(struct logauth_guard *g) {
  memset(g, 0, sizeof *g);
  pthread_mutex_init(&g->mu, NULL);
}

void logauth_guard_destroy(struct logauth_guard *g) { pthread_mutex_destroy(&g->mu); }

/* 1 when sig (its first 32 hex digits) was seen with a time still in the window; else remembers it, 0. */
static int guard_seen(struct logauth_guard *g, const char *sig, int64_t ts, int64_t now) {
  pthread_mutex_lock(&g->mu);
  int seen = 0;
  for (size_t i = 0; i < LOGAUTH_SEEN && !seen; i++)
    seen = g->seen[i].ts > now - LOGAUTH_WINDOW_MS && g->seen[i].ts == ts && !memcmp(g->seen[i].sig, sig, 32);
  if (!seen) {
    g->seen[g->next].ts = ts;
    memcpy(g->seen[g->next].sig, sig, 32);
    g->next = (g->next + 1) % LOGAUTH_SEEN;
  }
  pthread_mutex_unlock(&g->mu);
  return seen;
}

/* Copies the value of `name=` in the header's parameters into out: 0, or -1 (absent, too long). */
static int param(const char *h, const char *name, char *out, size_t outlen) {
  size_t nl = strlen(name);
  for (const char *p = h; (p = strstr(p, name)); p += nl) {
    if ((p != h && p[-1] != ' ' && p[-1] != ',') || p[nl] != '=') continue;
    const char *v = p + nl + 1;
    size_t vl = strcspn(v, ", ");
    if (vl == 0 || vl >= outlen) return -1;
    memcpy(out, v, vl);
    out[vl] = 0;
    return 0;
  }
  return -1;
}

int logauth_verify(const unsigned char *key, size_t keylen, struct logauth_guard *g, const char *path,
                   const char *header, int64_t now, char *why, size_t whylen) {
  size_t sl = strlen(LOGAUTH_SCHEME);
  if (!header || strncmp(header, LOGAUTH_SCHEME, sl) || header[sl] != ' ') {
    snprintf(why, whylen, "no credentials: the log server needs an Authorization: " LOGAUTH_SCHEME
                          " header signed with its --log-token-file secret");
    return 401;
  }
  char ts[24], nonce[40], sig[80], want[65];
  if (param(header + sl, "ts", ts, sizeof ts) || param(header + sl, "nonce", nonce, sizeof nonce) ||
      param(header + sl, "sig", sig, sizeof sig)) {
    snprintf(why, whylen, "malformed credentials: " LOGAUTH_SCHEME " needs ts=, nonce= and sig=");
    return 401;
  }
  char *end;
  errno = 0;
  long long t = strtoll(ts, &end, 10);
  if (errno || *end || end == ts || strlen(nonce) < 8) {
    snprintf(why, whylen, "malformed credentials: bad ts or nonce");
    return 401;
  }
  signature(key, keylen, path, ts, nonce, want);
  if (strlen(sig) != 64 || CRYPTO_memcmp(want, sig, 64)) {
    snprintf(why, whylen, "wrong signature: the API and this agent do not share the same --log-token-file secret");
    return 403;
  }
  if (t < now - LOGAUTH_WINDOW_MS || t > now + LOGAUTH_WINDOW_MS) {
    snprintf(why, whylen, "stale signature: its time is %lld s from this host's clock (at most %d s allowed)",
             (t - now) / 1000, LOGAUTH_WINDOW_MS / 1000);
    return 403;
  }
  if (g && guard_seen(g, want, (int64_t)t, now)) {
    snprintf(why, whylen, "replayed signature: this request was already answered");
    return 403;
  }
  return 0;
}
