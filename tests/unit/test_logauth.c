/* test_logauth.c: signing and checking the agents' log server requests (lib/logauth.c): a good
 * signature passes once; a wrong key, another path, a tampered time, a time outside the window, a
 * replay, a missing or malformed header are each refused with their status; the signature is
 * HMAC-SHA256 of the documented message (checked against OpenSSL's command line result). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "logauth.h"
#include "util.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef";
#define KL (sizeof KEY - 1)
#define T0 1764856800000LL
#define PATH "/job-1/1.log"

static int verify(struct logauth_guard *g, const unsigned char *key, const char *path, const char *h, int64_t now,
                  char *why) {
  return logauth_verify(key, KL, g, path, h, now, why, 256);
}

int main(void) {
  char h[400], why[256];
  struct logauth_guard *g = xcalloc(1, sizeof *g);
  logauth_guard_init(g);

  TEST("the header carries ts, nonce and the HMAC-SHA256 of the documented message");
  CHECK(logauth_sign(KEY, KL, PATH, T0, "00112233aabbccdd", h, sizeof h) == 0, "signed");
  /* printf 'barge-log-v1\n/job-1/1.log\n1764856800000\n00112233aabbccdd' |
   *   openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef */
  const char *want = LOGAUTH_SCHEME " ts=1764856800000, nonce=00112233aabbccdd, "
                                    "sig=1917e652fba39cd6a9e66564e12cf48406d39f4885feae6e65b193e9e879d015";
  CHECK(!strcmp(h, want), "got  %s\n  want %s", h, want);

  TEST("a good signature passes, within the window either side, and only once");
  CHECK(verify(g, KEY, PATH, h, T0 + 59000, why) == 0, "59 s later: %s", why);
  CHECK(verify(g, KEY, PATH, h, T0 + 59000, why) == 403 && strstr(why, "replayed"), "replay: %s", why);
  logauth_sign(KEY, KL, PATH, T0, "ffeeddccbbaa9988", h, sizeof h);
  CHECK(verify(g, KEY, PATH, h, T0 - 59000, why) == 0, "59 s earlier, another nonce: %s", why);

  TEST("a stale or future time is refused");
  logauth_sign(KEY, KL, PATH, T0 - 3600000, "0000000000000001", h, sizeof h);
  CHECK(verify(g, KEY, PATH, h, T0, why) == 403 && strstr(why, "stale"), "an hour old: %s", why);
  logauth_sign(KEY, KL, PATH, T0 + 61000, "0000000000000002", h, sizeof h);
  CHECK(verify(g, KEY, PATH, h, T0, why) == 403 && strstr(why, "stale"), "61 s ahead: %s", why);

  TEST("a wrong key, another path, a tampered time are refused");
  static const unsigned char OTHER[] = "0123456789abcdef0123456789abcdeX";
  logauth_sign(OTHER, KL, PATH, T0, "0000000000000003", h, sizeof h);
  CHECK(verify(g, KEY, PATH, h, T0, why) == 403 && strstr(why, "wrong signature"), "wrong key: %s", why);
  logauth_sign(KEY, KL, PATH, T0, "0000000000000004", h, sizeof h);
  CHECK(verify(g, KEY, "/job-2/1.log", h, T0, why) == 403, "another path: %s", why);
  char *ts = strstr(h, "ts=") + 3;
  ts[12] = ts[12] == '1' ? '2' : '1';
  CHECK(verify(g, KEY, PATH, h, T0, why) == 403 && strstr(why, "wrong signature"), "tampered ts: %s", why);

  TEST("no header, another scheme, missing or bad parameters: 401");
  CHECK(verify(g, KEY, PATH, NULL, T0, why) == 401 && strstr(why, "no credentials"), "none: %s", why);
  CHECK(verify(g, KEY, PATH, "Bearer abc", T0, why) == 401, "bearer: %s", why);
  CHECK(verify(g, KEY, PATH, LOGAUTH_SCHEME " ts=1, sig=00", T0, why) == 401 && strstr(why, "malformed"), "%s", why);
  CHECK(verify(g, KEY, PATH, LOGAUTH_SCHEME " ts=x1, nonce=0011223344, sig=00", T0, why) == 401, "%s", why);
  CHECK(verify(g, KEY, PATH, LOGAUTH_SCHEME " ts=1, nonce=0011223344, sig=00", T0, why) == 403, "short sig: %s", why);

  TEST("the key file: trailing white space dropped, a short secret refused");
  char path[64], err[256];
  snprintf(path, sizeof path, "/tmp/test-logauth-%d.key", (int)getpid());
  FILE *f = fopen(path, "w");
  fputs("0123456789abcdef0123456789abcdef\n", f);
  fclose(f);
  size_t kl = 0;
  unsigned char *k = logauth_read_key(path, &kl, err, sizeof err);
  CHECK(k && kl == KL && !memcmp(k, KEY, KL), "read: %s", k ? "wrong bytes" : err);
  free(k);
  f = fopen(path, "w");
  fputs("short\n", f);
  fclose(f);
  CHECK(!logauth_read_key(path, &kl, err, sizeof err) && strstr(err, "at least"), "short: %s", err);
  unlink(path);
  CHECK(!logauth_read_key(path, &kl, err, sizeof err) && strstr(err, "cannot read"), "missing: %s", err);
  logauth_guard_destroy(g);
  free(g);
  return check_summary();
}
