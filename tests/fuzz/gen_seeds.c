/* gen_seeds: writes the binary seeds of the fuzz corpora once (the output is committed):
 *
 *   fuzz_gen_seeds DUMP_DIR CORPUS_DIR
 *
 * DUMP_DIR holds single-object frames written by `test_codec --dump DUMP_DIR` (its samples of
 * every event type). Into CORPUS_DIR/fuzz_codec/ go the first frame of each type as it is, and
 * the same event in Confluent framing with the id fuzz_codec gives the type (1000 + its enum
 * value). Into CORPUS_DIR/fuzz_audit_verify/ go an audit file and its seal made by the real
 * writer with fuzz_audit_verify's key, in that target's input form: a flags byte (0: as written;
 * 3: the lines and the seal stripped of their hmac for the target to sign), the file, NUL, the
 * seal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "codec.h"

#define FUZZ_ID_BASE 1000

static void write_file(const char *path, const void *a, size_t alen, const void *b, size_t blen) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) || fclose(f)) {
    perror(path);
    exit(1);
  }
  printf("wrote %s\n", path);
}

static void codec_seeds(const char *dump, const char *corpus) {
  for (int t = 0; t < BARGE_EV__COUNT; t++) {
    const char *full = codec_type_name((enum barge_ev_type)t), *dot = strrchr(full, '.');
    const char *shortname = dot ? dot + 1 : full;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.0.bin", dump, shortname);
    size_t len;
    char *frame = read_file(path, &len);
    if (!frame) continue;
    enum barge_ev_type type;
    json_t *v;
    char err[512];
    if (codec_decode(frame, len, &type, &v, err, sizeof err) || (int)type != t) {
      fprintf(stderr, "%s: %s\n", path, err);
      exit(1);
    }
    snprintf(path, sizeof path, "%s/fuzz_codec/%s.single", corpus, shortname);
    write_file(path, frame, len, NULL, 0);
    codec_set_schema_id(type, FUZZ_ID_BASE + t);
    struct buf b;
    buf_init(&b);
    if (codec_encode(type, v, &b, err, sizeof err)) {
      fprintf(stderr, "%s: %s\n", shortname, err);
      exit(1);
    }
    codec_set_schema_id(type, 0);
    snprintf(path, sizeof path, "%s/fuzz_codec/%s.confluent", corpus, shortname);
    write_file(path, b.data, b.len, NULL, 0);
    buf_release(&b);
    json_decref(v);
    free(frame);
  }
}

/* Removes `,"hmac":"<64 hex>"}` from the end of every line. */
static void strip_hmac(char *s) {
  char *out = s;
  for (char *p = s; *p;) {
    char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    size_t keep = n >= 75 && !strncmp(p + n - 75, ",\"hmac\":\"", 9) ? n - 75 : n;
    memmove(out, p, keep);
    out += keep;
    if (nl) *out++ = '\n';
    p += n + (nl ? 1 : 0);
  }
  *out = 0;
}

static void audit_seeds(const char *corpus) {
  static const unsigned char key[] = "fuzz-audit-key";
  char dir[] = "/tmp/gen_seeds.XXXXXX", path[300], seal[320], err[512];
  if (!mkdtemp(dir)) exit(1);
  snprintf(path, sizeof path, "%s/a.jsonl", dir);
  snprintf(seal, sizeof seal, "%s.seal", path);
  struct audit_writer *w;
  if (audit_open(&w, path, key, sizeof key - 1, 0, err, sizeof err)) {
    fprintf(stderr, "audit_open: %s\n", err);
    exit(1);
  }
  json_t *ev = json_pack("{s:s, s:{s:s, s:i}}", "jobId", "job-1", "detail", "status", "RUNNING", "attempt", 1);
  for (int i = 0; i < 4; i++) {
    struct audit_rec r = {.topic = i == 2 ? "barge.config" : "barge.job-events", .partition = i % 2,
                          .offset = i, .key = "job-1", .keylen = 5, .timestamp_ms = 1700000000000LL + i,
                          .type = "barge.JobStateChange", .event = ev};
    if (i == 3) { /* an undecodable record and a tombstone-like null event */
      r.type = "undecodable";
      r.event = NULL;
      r.raw = "\xc3\x01zz";
      r.rawlen = 4;
      r.error = "bad magic";
    }
    audit_append(w, &r);
  }
  json_decref(ev);
  if (audit_flush(w, err, sizeof err)) {
    fprintf(stderr, "audit_flush: %s\n", err);
    exit(1);
  }
  audit_close(w);
  size_t flen, slen;
  char *file = read_file(path, &flen), *sl = read_file(seal, &slen);
  if (!file || !sl) exit(1);
  struct buf b;
  buf_init(&b);
  buf_append(&b, "\x00", 1);
  buf_append(&b, file, flen);
  buf_append(&b, "", 1);
  buf_append(&b, sl, slen);
  char out[1024];
  snprintf(out, sizeof out, "%s/fuzz_audit_verify/sealed", corpus);
  write_file(out, b.data, b.len, NULL, 0);
  buf_reset(&b);
  buf_append(&b, "\x04", 1);
  buf_append(&b, file, flen);
  snprintf(out, sizeof out, "%s/fuzz_audit_verify/unsealed", corpus);
  write_file(out, b.data, b.len, NULL, 0);
  strip_hmac(file);
  strip_hmac(sl);
  buf_reset(&b);
  buf_append(&b, "\x03", 1);
  buf_append(&b, file, strlen(file));
  buf_append(&b, "", 1);
  buf_append(&b, sl, strlen(sl));
  snprintf(out, sizeof out, "%s/fuzz_audit_verify/bodies", corpus);
  write_file(out, b.data, b.len, NULL, 0);
  buf_release(&b);
  free(file);
  free(sl);
  unlink(path);
  unlink(seal);
  rmdir(dir);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: fuzz_gen_seeds DUMP_DIR CORPUS_DIR\n");
    return 2;
  }
  char err[512];
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "codec_init: %s\n", err);
    return 1;
  }
  codec_seeds(argv[1], argv[2]);
  audit_seeds(argv[2]);
  return 0;
}
