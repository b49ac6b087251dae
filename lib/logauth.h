/* logauth.h: the shared secret between `barge api` and the agents' log servers
 * (`barge agent --log-listen`, --log-token-file; docs/api.md, "Job logs").
 *
 * Each request carries
 *   Authorization: Barge-Log ts=<unix ms>, nonce=<16 hex>, sig=<64 hex>
 * where sig is the lower-case hex HMAC-SHA256, keyed with the secret, of
 *   "barge-log-v1\n" <path> "\n" <ts> "\n" <nonce>
 * and path is the request path relative to the log server ("/<jobId>/<attempt>.log"). A server
 * accepts it when the signature matches (compared in constant time), ts is within
 * LOGAUTH_WINDOW_MS of its own clock, and it has not seen the same signature before (its replay
 * guard remembers the signatures of the window). Pure functions: the caller passes the time. */
#ifndef BARGE_LOGAUTH_H
#define BARGE_LOGAUTH_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define LOGAUTH_WINDOW_MS 60000 /* a signature is good this long either side of the server's clock */
#define LOGAUTH_SCHEME "Barge-Log"
#define LOGAUTH_MIN_KEY 16 /* bytes: a shorter secret is refused */

/* Reads a secret file (trailing white space dropped). The key (free it), *keylen set; NULL with
 * the reason in err when it cannot be read, is empty or shorter than LOGAUTH_MIN_KEY bytes. */
unsigned char *logauth_read_key(const char *path, size_t *keylen, char *err, size_t errlen);

/* The Authorization header value for path at now with nonce (16 hex digits) into out.
 * 0, or -1 when out is too small. */
int logauth_sign(const unsigned char *key, size_t keylen, const char *path, int64_t now, const char *nonce,
                 char *out, size_t outlen);

/* Remembers the signatures accepted within the window, so that a captured header is good once. */
#define LOGAUTH_SEEN 4096
struct logauth_guard {
  pthread_mutex_t mu;
  struct {
    int64_t ts;
    char sig[32];
  } seen[LOGAUTH_SEEN];
  size_t next;
};
void logauth_guard_init(struct logauth_guard *g);
void logauth_guard_destroy(struct logauth_guard *g);

/* Checks header (the Authorization value, NULL when absent) for path at now. 0 when good (and
 * the signature is remembered in g, unless g is NULL); else 401 (no or malformed credentials) or
 * 403 (a wrong signature, a stale time, a replay) with a one-line reason in why. */
int logauth_verify(const unsigned char *key, size_t keylen, struct logauth_guard *g, const char *path,
                   const char *header, int64_t now, char *why, size_t whylen);
#endif
