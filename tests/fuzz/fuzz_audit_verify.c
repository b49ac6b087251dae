/* fuzz_audit_verify: the audit file verifier (consumers/audit/audit.h, audit_verify) on a fuzzed
 * file and seal written to a temporary folder, with a fixed key.
 *
 * Input: one flags byte, then the file; a NUL byte, when present, ends the file and what follows
 * is the seal (no NUL: no seal file). Flags:
 *   bit 0  sign the lines: each line of the input is a body (a JSON object without its closing
 *          brace) and the target appends `,"hmac":"<HMAC-SHA256(key, body)>"}` as the writer does,
 *          so the fuzzer gets past the HMAC to the JSON, sequence, chain and offset checks
 *   bit 1  sign the seal the same way (with the seal's domain prefix)
 *   bit 2  verify with no_seal
 *   bit 3  expect_lines = 3
 * The seeds are files the real writer made (flags 0) and their bodies (flags 3). */
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"

static const unsigned char KEY[] = "fuzz-audit-key";
#define KEYLEN (sizeof KEY - 1)

static char file_path[256], seal_path[300];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char dir[] = "/tmp/fuzz_audit.XXXXXX";
  if (!mkdtemp(dir)) abort();
  snprintf(file_path, sizeof file_path, "%s/audit.jsonl", dir);
  snprintf(seal_path, sizeof seal_path, "%s.seal", file_path);
  return 0;
}

static void put_signed(FILE *f, const char *prefix, const uint8_t *body, size_t n) {
  size_t plen = prefix ? strlen(prefix) : 0;
  unsigned char *msg = malloc(plen + n + 1), md[32];
  unsigned int mdlen = 0;
  if (plen) memcpy(msg, prefix, plen);
  memcpy(msg + plen, body, n);
  HMAC(EVP_sha256(), KEY, KEYLEN, msg, plen + n, md, &mdlen);
  free(msg);
  fwrite(body, 1, n, f);
  fputs(",\"hmac\":\"", f);
  for (unsigned i = 0; i < mdlen; i++) fprintf(f, "%02x", md[i]);
  fputs("\"}", f);
}

/* Writes data, each line signed when sign is set. */
static void write_lines(FILE *f, const uint8_t *data, size_t len, const char *prefix, int sign) {
  if (!sign) {
    fwrite(data, 1, len, f);
    return;
  }
  const uint8_t *p = data, *end = data + len;
  while (p < end) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    put_signed(f, prefix, p, n);
    if (nl) fputc('\n', f);
    p += n + (nl ? 1 : 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  if (len < 1 || len > 256 * 1024) return 0;
  unsigned flags = data[0];
  data++, len--;
  const uint8_t *nul = memchr(data, 0, len);
  size_t flen = nul ? (size_t)(nul - data) : len;

  FILE *f = fopen(file_path, "w");
  if (!f) abort();
  write_lines(f, data, flen, NULL, flags & 1);
  fclose(f);
  unlink(seal_path);
  if (nul) {
    FILE *s = fopen(seal_path, "w");
    if (!s) abort();
    write_lines(s, nul + 1, len - flen - 1, "barge-audit-seal\n", flags & 2);
    fclose(s);
  }

  struct audit_verify_opts o = {.no_seal = (flags & 4) != 0, .expect_lines = (flags & 8) ? 3 : 0};
  struct audit_verdict v;
  int rc = audit_verify(file_path, KEY, KEYLEN, &o, &v);
  if (rc < -1 || rc > 1 || memchr(v.what, 0, sizeof v.what) == NULL || v.head[64] != 0) abort();
  if (rc == 0 && v.lines < 0) abort();
  return 0;
}
