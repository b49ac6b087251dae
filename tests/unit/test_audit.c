/* test_audit.c: the audit file (consumers/audit/audit.c) through its writer API: a chained, sealed
 * file verifies; each of the five kinds of tampering (a changed byte, a deleted line, an
 * inserted line, two lines swapped, a truncated end) is caught at the right line; the writer
 * resumes a file exactly where it ended, repairs a torn last line, and refuses to extend a
 * tampered file or to share it with another writer. When $BARGE_BIN is set, `barge audit
 * verify` is also run on the intact and tampered files for its exit status and message. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "check.h"

static char dir[256];
static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef";
#define KEYLEN (sizeof KEY - 1)
#define NLINES 20

static void path_of(const char *name, char *out, size_t n) { snprintf(out, n, "%s/%s", dir, name); }

/* Appends records from..to-1 over two partitions (record i: partition i % 2, offset i / 2).
 * Returns how many were skipped as already in the file. */
static int append_range(struct audit_writer *w, int from, int to) {
  int skipped = 0;
  for (int i = from; i < to; i++) {
    json_t *ev = json_pack("{s:{s:s}, s:s, s:i, s:f}", "header", "event_id", "e", "jobId", "job-x",
                           "attempt", i, "price", 0.125 * i);
    struct audit_rec r = {.topic = "t.job-events", .partition = i % 2, .offset = i / 2,
                          .key = "job-x", .keylen = 5, .timestamp_ms = 1700000000000LL + i,
                          .type = "barge.JobStateChange", .event = ev};
    if (i % 7 == 3) { /* undecodable bytes */
      r.type = "undecodable";
      r.event = NULL;
      r.raw = "\xc3\x01\xff\x00garbage";
      r.rawlen = 11;
      r.error = "unknown fingerprint";
    } else if (i % 7 == 5) { /* a tombstone with a key that is not UTF-8 */
      r.type = "tombstone";
      r.event = NULL;
      r.key = "\xff\xfe";
      r.keylen = 2;
    }
    int rc = audit_append(w, &r);
    CHECK(rc == 0 || rc == 1, "append %d", i);
    skipped += rc == 1;
    json_decref(ev);
  }
  return skipped;
}

static void write_file(const char *name) {
  char p[512], err[512];
  path_of(name, p, sizeof p);
  struct audit_writer *w = NULL;
  CHECK(audit_open(&w, p, KEY, KEYLEN, 0, err, sizeof err) == 0, "open %s: %s", p, err);
  if (!w) return;
  append_range(w, 0, 8);
  CHECK(audit_flush(w, err, sizeof err) == 0, "flush: %s", err);
  append_range(w, 8, 15);
  CHECK(audit_flush(w, err, sizeof err) == 0, "flush: %s", err);
  append_range(w, 15, NLINES);
  CHECK(audit_flush(w, err, sizeof err) == 0, "flush: %s", err);
  CHECK_INT(audit_lines(w), NLINES);
  audit_close(w);
}

/* The file's lines (with their newlines) */
static int read_lines(const char *p, char **lines, int max) {
  FILE *f = fopen(p, "r");
  int n = 0;
  char *line = NULL;
  size_t cap = 0;
  while (f && n < max && getline(&line, &cap, f) > 0) lines[n++] = xstrdup(line);
  free(line);
  if (f) fclose(f);
  return n;
}

static void write_lines(const char *p, char **lines, int n) {
  FILE *f = fopen(p, "w");
  for (int i = 0; i < n; i++) fputs(lines[i], f);
  fclose(f);
}

static void copy_file(const char *from, const char *to) {
  size_t n = 0;
  char *d = read_file(from, &n);
  FILE *f = fopen(to, "w");
  if (d) fwrite(d, 1, n, f);
  fclose(f);
  free(d);
}

/* A copy of the good file and its seal under a new name, for tampering. */
static int tamper_copy(const char *name, char **lines) {
  char a[512], b[512], as[520], bs[520];
  path_of("good.audit", a, sizeof a);
  path_of(name, b, sizeof b);
  snprintf(as, sizeof as, "%s.seal", a);
  snprintf(bs, sizeof bs, "%s.seal", b);
  copy_file(as, bs);
  return read_lines(a, lines, 64);
}

static int verify(const char *name, struct audit_verdict *v, const struct audit_verify_opts *o) {
  char p[512];
  path_of(name, p, sizeof p);
  return audit_verify(p, KEY, KEYLEN, o, v);
}

static const char *bin;
static char keyfile[512];

/* `barge audit verify` on a file: its exit status, and whether stdout holds `want`. */
static void check_cli_with(const char *name, const char *args, int want_rc, const char *want) {
  if (!bin) return;
  char p[512], out[512], cmd[2048];
  path_of(name, p, sizeof p);
  path_of("cli.out", out, sizeof out);
  snprintf(cmd, sizeof cmd, "'%s' audit verify '%s' --hmac-key-file '%s' %s > '%s' 2>&1", bin, p, keyfile, args, out);
  int st = system(cmd);
  int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  char *text = read_file(out, NULL);
  CHECK(rc == want_rc, "barge audit verify %s exits %d (want %d): %s", name, rc, want_rc, text ? text : "");
  CHECK(text && strstr(text, want), "barge audit verify %s says '%s': %s", name, want, text ? text : "");
  free(text);
}

static void check_cli(const char *name, int want_rc, const char *want) { check_cli_with(name, "", want_rc, want); }

static void free_lines(char **lines, int n) {
  for (int i = 0; i < n; i++) free(lines[i]);
}

static void test_intact(void) {
  TEST("a chained, sealed file verifies, through the API and the CLI");
  write_file("good.audit");
  struct audit_verdict v;
  int rc = verify("good.audit", &v, NULL);
  CHECK(rc == 0, "intact file: rc %d, line %lld: %s", rc, v.bad_line, v.what);
  CHECK_INT(v.lines, NLINES);
  CHECK_INT(v.sealed, NLINES);
  check_cli("good.audit", 0, "intact: 20 lines");
  /* a count that cannot be one is bad usage (it was taken as no count at all: exit 0, intact) */
  check_cli_with("good.audit", "--expect-lines -5", 2, "--expect-lines is a count of lines, at least 1, not -5");
  check_cli_with("good.audit", "--expect-lines 0", 2, "--expect-lines is a count of lines, at least 1, not 0");
  char *lines[64];
  int n = tamper_copy("x", lines);
  CHECK_INT(n, NLINES);
  CHECK(strstr(lines[0], "\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\"") != NULL,
        "line 1 chains to the zero hash");
  CHECK(strstr(lines[3], "\"type\":\"undecodable\"") && strstr(lines[3], "\"raw\":\"wwH/AGdhcmJhZ2U=\"") &&
            strstr(lines[3], "\"error\":\"unknown fingerprint\""),
        "an undecodable record keeps its bytes (base64) and the error: %s", lines[3]);
  CHECK(strstr(lines[5], "\"keyBase64\":\"//4=\"") && strstr(lines[5], "\"event\":null"),
        "a tombstone with a binary key: %s", lines[5]);
  const char *layout = "{\"seq\":2,\"topic\":\"t.job-events\",\"partition\":1,\"offset\":0,\"key\":\"job-x\",";
  CHECK(strncmp(lines[1], layout, strlen(layout)) == 0, "line layout: %s", lines[1]);
  free_lines(lines, n);
  /* a stream (zcat events.jsonl.gz | barge audit verify /dev/stdin): it said "seek: Illegal
   * seek", exit 1, as if the file were not intact */
  if (bin) {
    char p[512], out[512], cmd[2600];
    path_of("good.audit", p, sizeof p);
    path_of("cli.out", out, sizeof out);
    snprintf(cmd, sizeof cmd, "cat '%s' | '%s' audit verify /dev/stdin --hmac-key-file '%s' --seal '%s.seal' > '%s' 2>&1",
             p, bin, keyfile, p, out);
    int st = system(cmd);
    char *text = read_file(out, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && text && strstr(text, "intact: 20 lines, sealed through line 20"),
          "a file read through a pipe verifies: %s", text ? text : "");
    free(text);
  }
}

static void expect_bad(const char *name, long long line, const char *what_has) {
  struct audit_verdict v;
  int rc = verify(name, &v, NULL);
  CHECK(rc == 1, "%s: verify reports a problem (rc %d)", name, rc);
  CHECK(v.bad_line == line, "%s: first bad line %lld, want %lld (%s)", name, v.bad_line, line, v.what);
  CHECK(strstr(v.what, what_has) != NULL, "%s: '%s' mentions '%s'", name, v.what, what_has);
  char want[64];
  snprintf(want, sizeof want, "line %lld: ", line);
  check_cli(name, 1, want);
}

/* The tampered lines written to the file name (tamper_copy made its seal); then expect_bad. */
static void write_expect_bad(const char *name, char **lines, int n, long long line, const char *what_has) {
  char p[512];
  path_of(name, p, sizeof p);
  write_lines(p, lines, n);
  expect_bad(name, line, what_has);
}

static void test_tampering(void) {
  char *lines[64], p[512];
  int n;

  TEST("a changed byte in an event is caught at its line");
  n = tamper_copy("changed.audit", lines);
  char *at = strstr(lines[6], "\"attempt\":6");
  CHECK(at != NULL, "line 7 holds attempt 6");
  if (at) at[10] = '7';
  write_expect_bad("changed.audit", lines, n, 7, "HMAC");
  free_lines(lines, n);

  TEST("a deleted line is caught where it is missing");
  n = tamper_copy("deleted.audit", lines);
  free(lines[4]);
  memmove(lines + 4, lines + 5, (size_t)(n - 5) * sizeof *lines);
  write_expect_bad("deleted.audit", lines, n - 1, 5, "deleted or moved");
  free_lines(lines, n - 1);

  TEST("an inserted line (forged, or a replayed copy of a real one) is caught at its place");
  n = tamper_copy("forged.audit", lines);
  memmove(lines + 9, lines + 8, (size_t)(n - 8) * sizeof *lines);
  lines[8] = xstrdup(lines[7]);
  char *seq = strstr(lines[8], "\"seq\":8,");
  if (seq) seq[6] = '9'; /* looks like the next line; its HMAC cannot follow without the key */
  write_expect_bad("forged.audit", lines, n + 1, 9, "HMAC");
  free(lines[8]);
  lines[8] = xstrdup(lines[7]); /* an authentic line, replayed */
  path_of("replayed.audit", p, sizeof p);
  write_lines(p, lines, n + 1);
  char sp[520], gp[520];
  snprintf(sp, sizeof sp, "%s.seal", p);
  path_of("good.audit.seal", gp, sizeof gp);
  copy_file(gp, sp);
  expect_bad("replayed.audit", 9, "inserted, duplicated or moved");
  free_lines(lines, n + 1);

  TEST("two swapped lines are caught at the first of them");
  n = tamper_copy("swapped.audit", lines);
  char *tmp = lines[10];
  lines[10] = lines[11];
  lines[11] = tmp;
  write_expect_bad("swapped.audit", lines, n, 11, "deleted or moved");
  free_lines(lines, n);

  TEST("a truncated end is caught: whole lines (against the seal) and a cut line");
  n = tamper_copy("truncated.audit", lines);
  write_expect_bad("truncated.audit", lines, n - 3, NLINES - 2, "truncated");
  struct audit_verify_opts noseal = {.no_seal = 1};
  struct audit_verdict v;
  CHECK(verify("truncated.audit", &v, &noseal) == 0 && v.lines == NLINES - 3,
        "without the seal, removing whole lines at the end goes unnoticed (documented)");
  struct audit_verify_opts expect = {.no_seal = 1, .expect_lines = NLINES};
  CHECK(verify("truncated.audit", &v, &expect) == 1 && v.bad_line == NLINES - 2,
        "--expect-lines catches it without the seal: line %lld", v.bad_line);
  lines[n - 1][strlen(lines[n - 1]) / 2] = 0; /* cut the last line in its middle */
  path_of("cut.audit", p, sizeof p);
  write_lines(p, lines, n);
  char cs[520];
  snprintf(cs, sizeof cs, "%s.seal", p);
  copy_file(gp, cs);
  expect_bad("cut.audit", NLINES, "cut in the middle");
  free_lines(lines, n);

  TEST("a missing or forged seal fails the file as a whole; a wrong key fails");
  n = tamper_copy("noseal.audit", lines);
  path_of("noseal.audit", p, sizeof p);
  write_lines(p, lines, n);
  snprintf(cs, sizeof cs, "%s.seal", p);
  unlink(cs);
  CHECK(verify("noseal.audit", &v, NULL) == 1 && v.bad_line == 0 && strstr(v.what, "no seal"),
        "no seal: %s", v.what);
  char *seal = read_file(gp, NULL);
  char *lc = seal ? strstr(seal, "\"lines\":20") : NULL;
  if (lc) lc[9] = '7'; /* claims 27 lines */
  FILE *f = fopen(cs, "w");
  if (seal) fputs(seal, f);
  fclose(f);
  free(seal);
  CHECK(verify("noseal.audit", &v, NULL) == 1 && v.bad_line == 0 && strstr(v.what, "seal's HMAC"),
        "forged seal: %s", v.what);
  free_lines(lines, n);
  path_of("good.audit", p, sizeof p);
  const unsigned char other[] = "another key";
  CHECK(audit_verify(p, other, sizeof other - 1, &noseal, &v) == 1 && v.bad_line == 1,
        "the wrong key fails at line 1: %s", v.what);

  TEST("a directory is no audit file: it cannot be read (exit 2), not an intact file of 0 lines");
  path_of("adir", p, sizeof p);
  CHECK(mkdir(p, 0700) == 0, "mkdir %s", p);
  CHECK(audit_verify(p, KEY, KEYLEN, &noseal, &v) == -1 && strstr(v.what, "Is a directory"),
        "a directory with --no-seal: %s", v.what);
  CHECK(audit_verify(p, KEY, KEYLEN, NULL, &v) == -1 && strstr(v.what, "Is a directory"),
        "a directory: %s", v.what);
  check_cli("adir", 2, "Is a directory");
}

static void test_resume(void) {
  TEST("the writer resumes the chain where the file ends, with each partition's next offset");
  char p[512], err[512];
  path_of("resume.audit", p, sizeof p);
  struct audit_writer *w = NULL, *w2 = NULL;
  CHECK(audit_open(&w, p, KEY, KEYLEN, 1, err, sizeof err) == 0, "%s", err);
  if (!w) return;
  append_range(w, 0, 10);
  CHECK(audit_flush(w, err, sizeof err) == 0, "%s", err);
  CHECK(audit_open(&w2, p, KEY, KEYLEN, 1, err, sizeof err) != 0 && strstr(err, "another process"),
        "a second writer is refused: %s", err);
  audit_close(w);
  w = NULL;
  CHECK(audit_open(&w, p, KEY, KEYLEN, 1, err, sizeof err) == 0, "reopen: %s", err);
  if (!w) return;
  CHECK_INT(audit_lines(w), 10);
  CHECK_INT(audit_next_offset(w, "t.job-events", 0), 5);
  CHECK_INT(audit_next_offset(w, "t.job-events", 1), 5);
  CHECK_INT(audit_next_offset(w, "t.requests", 0), -1);
  /* records already in the file are skipped, not written twice */
  CHECK_INT(append_range(w, 8, 14), 2);
  CHECK_INT(audit_lines(w), 14);
  CHECK(audit_flush(w, err, sizeof err) == 0, "%s", err);
  audit_close(w);
  w = NULL;
  /* a crash in the middle of a write: a torn last line after the sealed end */
  FILE *f = fopen(p, "a");
  fputs("{\"seq\":15,\"topic\":\"t.job-ev", f);
  fclose(f);
  struct audit_verdict v;
  CHECK(audit_verify(p, KEY, KEYLEN, NULL, &v) == 1 && v.bad_line == 15, "the torn line is reported by verify");
  CHECK(audit_open(&w, p, KEY, KEYLEN, 0, err, sizeof err) != 0, "without repair the torn file is refused");
  CHECK(audit_open(&w, p, KEY, KEYLEN, 1, err, sizeof err) == 0, "with repair it opens: %s", err);
  if (!w) return;
  append_range(w, 14, 20);
  CHECK(audit_flush(w, err, sizeof err) == 0, "%s", err);
  audit_close(w);
  w = NULL;
  int rc = audit_verify(p, KEY, KEYLEN, NULL, &v);
  CHECK(rc == 0 && v.lines == 20 && v.sealed == 20, "after two restarts the chain is whole: rc %d, %lld lines, line %lld: %s",
        rc, v.lines, v.bad_line, v.what);
  /* lines fsync'd but never sealed (a crash between the two) are kept */
  char *lines[64];
  char gp[512];
  path_of("good.audit", gp, sizeof gp);
  int n = read_lines(gp, lines, 64);
  path_of("unsealed.audit", p, sizeof p);
  write_lines(p, lines, 12);
  CHECK(audit_open(&w, p, KEY, KEYLEN, 1, err, sizeof err) == 0, "a file without a seal opens after a full check: %s", err);
  if (w) {
    CHECK_INT(audit_lines(w), 12);
    CHECK(audit_flush(w, err, sizeof err) == 0, "%s", err);
    audit_close(w);
    w = NULL;
  }
  CHECK(audit_verify(p, KEY, KEYLEN, NULL, &v) == 0 && v.sealed == 12, "and is sealed by its first flush");
  /* a tampered file is never extended */
  char *at = strstr(lines[2], "\"timestamp\":");
  if (at) at[13] = at[13] == '9' ? '8' : '9';
  path_of("tampered.audit", p, sizeof p);
  write_lines(p, lines, n);
  CHECK(audit_open(&w, p, KEY, KEYLEN, 1, err, sizeof err) != 0 && strstr(err, "line 3"),
        "a tampered file is refused: %s", err);
  free_lines(lines, n);
  path_of("resume.audit", p, sizeof p);
  char sp[520];
  snprintf(sp, sizeof sp, "%s.seal", p);
  n = read_lines(p, lines, 64);
  write_lines(p, lines, n - 2);
  CHECK(audit_open(&w, p, KEY, KEYLEN, 1, err, sizeof err) != 0 && strstr(err, "shorter than its seal"),
        "a file truncated below its seal is refused: %s", err);
  free_lines(lines, n);
}

/* The line as the writer built it before it rendered lines itself: a jansson object dumped
 * compact, HMAC() and SHA256() one-shot. The file format must not change by a byte. */
static char *reference_line(const struct audit_rec *r, long long n, const char *prev) {
  json_t *o = json_object();
  json_object_set_new(o, "seq", json_integer(n));
  json_object_set_new(o, "topic", json_string(r->topic));
  json_object_set_new(o, "partition", json_integer(r->partition));
  json_object_set_new(o, "offset", json_integer(r->offset));
  json_t *k = r->key ? json_stringn(r->key, r->keylen) : json_null();
  if (!k) {
    char *b = base64_encode(r->key, r->keylen, NULL);
    json_object_set_new(o, "key", json_null());
    json_object_set_new(o, "keyBase64", json_string(b));
    free(b);
  } else {
    json_object_set_new(o, "key", k);
  }
  json_object_set_new(o, "timestamp", json_integer(r->timestamp_ms));
  json_object_set_new(o, "type", json_string(r->type ? r->type : "undecodable"));
  json_t *ev = r->event_json ? json_loadb(r->event_json, r->event_json_len, JSON_ALLOW_NUL, NULL) : NULL;
  json_object_set(o, "event", ev ? ev : r->event ? (json_t *)r->event : json_null());
  json_decref(ev);
  if (r->error) {
    char *b = base64_encode(r->raw ? r->raw : "", r->raw ? r->rawlen : 0, NULL);
    json_object_set_new(o, "raw", json_string(b));
    json_object_set_new(o, "error", json_string(r->error));
    free(b);
  }
  json_object_set_new(o, "prev", json_string(prev));
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  size_t len = strlen(s);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  HMAC(EVP_sha256(), KEY, (int)KEYLEN, (const unsigned char *)s, len - 1, md, &mdlen);
  char mac[AUDIT_HASH_HEX];
  hex_encode(md, mdlen, mac);
  s[len - 1] = 0;
  char *line = xmalloc(len + 80);
  snprintf(line, len + 80, "%s,\"hmac\":\"%s\"}", s, mac);
  free(s);
  return line;
}

static void test_line_format(void) {
  TEST("every line is byte for byte the jansson object the writer used to dump");
  char p[512], err[512];
  path_of("format.audit", p, sizeof p);
  struct audit_writer *w = NULL;
  CHECK(audit_open(&w, p, KEY, KEYLEN, 0, err, sizeof err) == 0, "open: %s", err);
  if (!w) return;
  json_t *ev = json_pack("{s:s, s:[i, f, b, n], s:{}}", "s", "caf\xc3\xa9 \"q\" \\ \x01\x1f/\x7f", "a",
                         -3, 0.1, 1, "o");
  static const char text[] = "{\"jobId\":\"j-1\",\"n\":[1,null,{\"x\":\"\\u0000\"}]}";
  struct audit_rec recs[] = {
      {.topic = "t.job-events", .partition = 0, .offset = 0, .key = "k\0ey", .keylen = 4,
       .timestamp_ms = 1, .type = "barge.JobStateChange", .event = ev},
      {.topic = "t.jobs", .partition = 3, .offset = 7, .key = "j-1", .keylen = 3,
       .timestamp_ms = -5, .type = "barge.JobRecord", .event_json = text, .event_json_len = sizeof text - 1},
      {.topic = "t.\"odd\"\\topic\xe2\x9c\x93", .partition = 1, .offset = 1LL << 40, .key = NULL,
       .timestamp_ms = 1700000000123LL, .type = "tombstone"},
      {.topic = "t.bad", .partition = 2, .offset = 0, .key = "\xc3\x28", .keylen = 2,
       .type = "undecodable", .raw = "\x00\x01", .rawlen = 2, .error = "cut \xe2\x9c"},
      {.topic = "t.x", .partition = 0, .offset = 1, .key = "", .keylen = 0, .type = NULL,
       .error = "why \"not\"\n"},
  };
  size_t nrec = sizeof recs / sizeof *recs;
  for (size_t i = 0; i < nrec; i++) CHECK_INT(audit_append(w, &recs[i]), 0);
  CHECK(audit_flush(w, err, sizeof err) == 0, "flush: %s", err);
  audit_close(w);
  char *lines[16];
  int n = read_lines(p, lines, 16);
  CHECK_INT(n, (long long)nrec);
  char prev[AUDIT_HASH_HEX];
  memset(prev, '0', 64);
  prev[64] = 0;
  for (int i = 0; i < n && i < (int)nrec; i++) {
    char *want = reference_line(&recs[i], i + 1, prev);
    size_t len = strlen(lines[i]) - 1; /* without the newline */
    CHECK(len == strlen(want) && memcmp(lines[i], want, len) == 0, "line %d:\n  %.*s\n  want %s", i + 1,
          (int)len, lines[i], want);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)lines[i], len, md);
    hex_encode(md, sizeof md, prev);
    free(want);
  }
  struct audit_verdict v;
  CHECK(verify("format.audit", &v, NULL) == 0, "the file verifies: %s", v.what);
  CHECK(strcmp(v.head, prev) == 0, "head %s is the SHA-256 of the last line", v.head);
  free_lines(lines, n);
  json_decref(ev);
}

/* Moving the file and its seal aside while the writer runs (to begin a new chain) must leave the
 * moved pair consistent and let the next start begin a new chain at the path. */
/* verify while the writer appends: the file may end in part of a line for a moment */
static void test_appending(void) {
  TEST("verify while the writer runs and the file ends in part of a line: intact, the partial line left out");
  char p[512], err[512];
  path_of("appending.audit", p, sizeof p);
  struct audit_writer *w = NULL;
  CHECK(audit_open(&w, p, KEY, KEYLEN, 0, err, sizeof err) == 0, "%s", err);
  if (!w) return;
  append_range(w, 0, 6);
  CHECK(audit_flush(w, err, sizeof err) == 0, "%s", err);
  FILE *f = fopen(p, "a"); /* what a reader can see of a write in progress */
  fputs("{\"seq\":7,\"topic\":\"t.job-ev", f);
  fclose(f);
  struct audit_verdict v;
  int rc = audit_verify(p, KEY, KEYLEN, NULL, &v);
  CHECK(rc == 0 && v.lines == 6 && v.sealed == 6 && v.appending, "rc %d, %lld lines, appending %d: line %lld: %s", rc,
        v.lines, v.appending, v.bad_line, v.what);
  check_cli("appending.audit", 0, "intact: 6 lines, sealed through line 6");
  check_cli("appending.audit", 0, "a last line being appended by the running writer is not checked");
  audit_close(w); /* no writer now: the same bytes are a cut file */
  rc = audit_verify(p, KEY, KEYLEN, NULL, &v);
  CHECK(rc == 1 && v.bad_line == 7 && strstr(v.what, "incomplete"), "rc %d: line %lld: %s", rc, v.bad_line, v.what);
  check_cli("appending.audit", 1, "line 7: incomplete");
}

static void test_moved_aside(void) {
  TEST("a file moved aside while written: the writer stops; the moved file verifies; a new start begins a new chain");
  char p[512], q[512], ps[520], qs[520], err[512];
  path_of("rotate.audit", p, sizeof p);
  path_of("rotated.audit", q, sizeof q);
  snprintf(ps, sizeof ps, "%s.seal", p);
  snprintf(qs, sizeof qs, "%s.seal", q);
  struct audit_writer *w = NULL;
  CHECK(audit_open(&w, p, KEY, KEYLEN, 1, err, sizeof err) == 0, "%s", err);
  if (!w) return;
  append_range(w, 0, 10);
  CHECK(audit_flush(w, err, sizeof err) == 0, "%s", err);
  CHECK(rename(p, q) == 0 && rename(ps, qs) == 0, "moved aside");
  append_range(w, 10, 14);
  CHECK(audit_flush(w, err, sizeof err) == -1 && strstr(err, "moved or removed"), "the flush refuses: %s", err);
  audit_close(w);
  w = NULL;
  struct audit_verdict v;
  int rc = audit_verify(q, KEY, KEYLEN, NULL, &v);
  CHECK(rc == 0 && v.lines == 10 && v.sealed == 10, "the moved file verifies with its seal: rc %d, %lld lines, %s", rc,
        v.lines, v.what);
  CHECK(access(ps, F_OK) != 0, "no seal was written at the old path");
  CHECK(audit_open(&w, p, KEY, KEYLEN, 1, err, sizeof err) == 0, "a new start opens a new chain: %s", err);
  if (w) CHECK_INT(audit_lines(w), 0);
  audit_close(w);
}

/* Not an audit file: a device is refused by the writer (it read /dev/full's endless zeros into
 * memory, 16 GB in 12 s); a run of bytes longer than any line Barge writes, with no newline, is
 * refused by the reader at AUDIT_MAX_LINE_BYTES (getline took it all: a stream of zeros was
 * read until memory ran out, and then said to be an intact, empty file). */
static void test_not_an_audit_file(void) {
  char p[512], err[512];
  struct audit_writer *w = NULL;
  CHECK(audit_open(&w, "/dev/null", KEY, KEYLEN, 1, err, sizeof err) != 0 && strstr(err, "not a regular file"),
        "the writer refuses a device: %s", w ? "opened" : err);
  audit_close(w);
  path_of("endless", p, sizeof p);
  FILE *f = fopen(p, "w"); /* sparse: zeros, no newline */
  CHECK(f && ftruncate(fileno(f), (off_t)AUDIT_MAX_LINE_BYTES + 4096) == 0, "make %s", p);
  if (f) fclose(f);
  struct audit_verdict v;
  struct audit_verify_opts vo = {.no_seal = 1};
  int rc = audit_verify(p, KEY, KEYLEN, &vo, &v);
  CHECK(rc == 1 && v.bad_line == 1 && strstr(v.what, "without a newline"),
        "a line longer than any Barge writes is refused: rc %d, line %lld, %s", rc, v.bad_line, v.what);
  w = NULL;
  CHECK(audit_open(&w, p, KEY, KEYLEN, 1, err, sizeof err) != 0, "the writer does not extend it");
  audit_close(w);
  unlink(p);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/barge-test-audit-XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  path_of("key", keyfile, sizeof keyfile);
  FILE *k = fopen(keyfile, "w");
  fprintf(k, "%s\n", (const char *)KEY);
  fclose(k);
  bin = getenv("BARGE_BIN");
  if (bin && access(bin, X_OK) != 0) bin = NULL;
  printf("files in %s; CLI checks %s\n", dir, bin ? "on" : "off (no BARGE_BIN)");
  test_intact();
  test_tampering();
  test_resume();
  test_appending();
  test_moved_aside();
  test_line_format();
  test_not_an_audit_file();
  int rc = check_summary();
  if (rc == 0) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  }
  return rc;
}
