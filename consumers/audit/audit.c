/* audit.c: the audit file's chain, seal, writer and verifier (format in audit.h, reasons in
 * docs/audit.md). SHA-256 and HMAC-SHA256 come from OpenSSL's libcrypto.
 *
 * One checker (check_line) serves both the verifier and the writer's start-up: a line is
 * accepted only if it is complete, its HMAC matches, its sequence number is the next one, its
 * prev is the SHA-256 of the line before, and its offset is after every earlier offset of its
 * partition. The first line failing any of these is the one reported. */
#include "audit.h"

#include "codec.h"
#include "jsonget.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUFFIX_LEN 75 /* ,"hmac":" + 64 hex + "} */
static const char ZERO_HASH[] = "0000000000000000000000000000000000000000000000000000000000000000";
static const char SEAL_DOMAIN[] = "barge-audit-seal\n";

/* ---------------- crypto helpers ---------------- */

static void sha256_hex(const void *data, size_t len, char out[AUDIT_HASH_HEX]) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(data, len, md);
  hex_encode(md, sizeof md, out);
}

static void hmac_hex(const unsigned char *key, size_t keylen, const void *data, size_t len,
                     char out[AUDIT_HASH_HEX]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  HMAC(EVP_sha256(), key, (int)keylen, data, len, md, &mdlen);
  hex_encode(md, mdlen, out);
}

/* HMAC-SHA256 under one key, and SHA-256, through OpenSSL contexts made once: the one-shot
 * HMAC() and SHA256() fetch the algorithm anew on every call, a good part of what a line costs.
 * Should a context not be made, the one-shot functions are used: the digests are the same. */
struct hasher {
  const unsigned char *key; /* borrowed */
  size_t keylen;
  EVP_MAC *mac;
  EVP_MAC_CTX *hmac; /* keyed once; re-initialised per message with the same key */
  EVP_MD *sha;
  EVP_MD_CTX *md;
};

static void hasher_init(struct hasher *h, const unsigned char *key, size_t keylen) {
  memset(h, 0, sizeof *h);
  h->key = key;
  h->keylen = keylen;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                         OSSL_PARAM_construct_end()};
  h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  h->hmac = h->mac ? EVP_MAC_CTX_new(h->mac) : NULL;
  if (h->hmac && !EVP_MAC_init(h->hmac, key, keylen, params)) {
    EVP_MAC_CTX_free(h->hmac);
    h->hmac = NULL;
  }
  h->sha = EVP_MD_fetch(NULL, "SHA256", NULL);
  h->md = h->sha ? EVP_MD_CTX_new() : NULL;
}

static void hasher_release(struct hasher *h) {
  EVP_MAC_CTX_free(h->hmac);
  EVP_MAC_free(h->mac);
  EVP_MD_CTX_free(h->md);
  EVP_MD_free(h->sha);
  memset(h, 0, sizeof *h);
}

static void hasher_hmac(struct hasher *h, const void *data, size_t len, char out[AUDIT_HASH_HEX]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  size_t mdlen = 0;
  if (h->hmac && EVP_MAC_init(h->hmac, NULL, 0, NULL) && EVP_MAC_update(h->hmac, data, len) &&
      EVP_MAC_final(h->hmac, md, &mdlen, sizeof md) && mdlen == SHA256_DIGEST_LENGTH)
    hex_encode(md, mdlen, out);
  else
    hmac_hex(h->key, h->keylen, data, len, out);
}

static void hasher_sha(struct hasher *h, const void *data, size_t len, char out[AUDIT_HASH_HEX]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  if (h->md && EVP_DigestInit_ex(h->md, h->sha, NULL) && EVP_DigestUpdate(h->md, data, len) &&
      EVP_DigestFinal_ex(h->md, md, &mdlen) && mdlen == SHA256_DIGEST_LENGTH)
    hex_encode(md, mdlen, out);
  else
    sha256_hex(data, len, out);
}

static int is_hex64(const char *s) {
  for (int i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

/* Splits a line (without its newline) into the body and the hmac digits. 0 if well-formed. */
static int split_line(const char *line, size_t len, size_t *bodylen, const char **mac) {
  if (len < SUFFIX_LEN + 2 || line[0] != '{') return -1;
  const char *p = line + len - SUFFIX_LEN;
  if (memcmp(p, ",\"hmac\":\"", 9) != 0 || !is_hex64(p + 9) || p[73] != '"' || p[74] != '}')
    return -1;
  *bodylen = (size_t)(p - line);
  *mac = p + 9;
  return 0;
}

unsigned char *audit_read_key(const char *path, size_t *keylen, char *err, size_t errlen) {
  return (unsigned char *)read_secret_file(path, "HMAC key file", 1, keylen, err, errlen);
}

/* ---------------- the chain ---------------- */

struct chain {
  long long lines;
  char head[AUDIT_HASH_HEX];
  json_t *next;    /* "topic/partition" -> next offset */
  json_t *line_of; /* "topic/partition" -> the line holding its last offset (verify only) */
};

static void chain_init(struct chain *c) {
  memset(c, 0, sizeof *c);
  memcpy(c->head, ZERO_HASH, sizeof ZERO_HASH);
  c->next = json_object();
  c->line_of = json_object();
}

static void chain_release(struct chain *c) {
  json_decref(c->next);
  json_decref(c->line_of);
}

static void part_key(const char *topic, long long partition, char *out, size_t n) {
  snprintf(out, n, "%s/%lld", topic, partition);
}

/* Checks line number c->lines + 1 (len bytes, no newline) and advances the chain. 0 when it is
 * good; 1 with what is wrong. */
static int check_line(struct hasher *h, const char *line, size_t len, struct chain *c, char *what,
                      size_t whatlen) {
  long long n = c->lines + 1;
  size_t bodylen;
  const char *mac;
  if (split_line(line, len, &bodylen, &mac)) {
    snprintf(what, whatlen, "not an audit line (no hmac member at its end): changed or inserted");
    return 1;
  }
  char want[AUDIT_HASH_HEX];
  hasher_hmac(h, line, bodylen, want);
  if (CRYPTO_memcmp(want, mac, 64) != 0) {
    snprintf(what, whatlen, "HMAC mismatch: the line was changed, or forged without the key");
    return 1;
  }
  /* authentic: now its place in the chain */
  char *text = xmalloc(bodylen + 2);
  memcpy(text, line, bodylen);
  text[bodylen] = '}';
  text[bodylen + 1] = 0;
  json_error_t je;
  json_t *o = json_loadb(text, bodylen + 1, JSON_ALLOW_NUL, &je); /* a string may hold \u0000 */
  free(text);
  if (!o) {
    snprintf(what, whatlen, "not valid JSON (%s)", je.text);
    return 1;
  }
  int rc = 1;
  json_t *seqv = json_object_get(o, "seq");
  const char *prev = json_string_value(json_object_get(o, "prev"));
  const char *topic = json_string_value(json_object_get(o, "topic"));
  json_t *pv = json_object_get(o, "partition"), *ov = json_object_get(o, "offset");
  if (!json_is_integer(seqv) || !prev || !topic || !json_is_integer(pv) || !json_is_integer(ov)) {
    snprintf(what, whatlen, "missing seq, prev, topic, partition or offset");
    goto out;
  }
  long long seq = json_integer_value(seqv);
  if (seq > n) {
    snprintf(what, whatlen, "holds line %lld where line %lld belongs: line(s) deleted or moved", seq, n);
    goto out;
  }
  if (seq < n) {
    snprintf(what, whatlen, "holds line %lld again where line %lld belongs: a line inserted, duplicated or moved", seq, n);
    goto out;
  }
  if (strcmp(prev, c->head) != 0) {
    snprintf(what, whatlen, "prev is not the SHA-256 of line %lld: the chain is broken (lines from another file?)", n - 1);
    goto out;
  }
  char pk[512];
  part_key(topic, json_integer_value(pv), pk, sizeof pk);
  long long off = json_integer_value(ov);
  json_t *nx = json_object_get(c->next, pk);
  if (nx && off < json_integer_value(nx)) {
    snprintf(what, whatlen, "offset %lld of %s[%lld] is not after offset %lld of line %lld: a record written twice",
             off, topic, (long long)json_integer_value(pv), (long long)json_integer_value(nx) - 1,
             (long long)json_integer_value(json_object_get(c->line_of, pk)));
    goto out;
  }
  json_object_set_new(c->next, pk, json_integer(off + 1));
  json_object_set_new(c->line_of, pk, json_integer(n));
  hasher_sha(h, line, len, c->head);
  c->lines = n;
  rc = 0;
out:
  json_decref(o);
  return rc;
}

/* ---------------- the seal ---------------- */

struct seal {
  long long lines;
  long long bytes, last_start;
  char last[AUDIT_HASH_HEX];
  json_t *offsets;
  char cluster[128]; /* the Kafka cluster id the file was written from; "" when the seal has none */
};

static void seal_path_of(const char *path, char *out, size_t n) { snprintf(out, n, "%s.seal", path); }

/* Reads and authenticates a seal. 0 when good, 1 when absent, -1 when unreadable or not
 * authentic (what). */
static int seal_read(const char *sp, const unsigned char *key, size_t keylen, struct seal *s,
                     char *what, size_t whatlen) {
  memset(s, 0, sizeof *s);
  size_t len = 0;
  char *t = read_file(sp, &len);
  if (!t) {
    if (errno == ENOENT) return 1;
    snprintf(what, whatlen, "cannot read the seal %.300s: %s", sp, strerror(errno));
    return -1;
  }
  while (len > 0 && t[len - 1] == '\n') len--;
  size_t bodylen;
  const char *mac;
  int rc = -1;
  if (split_line(t, len, &bodylen, &mac)) {
    snprintf(what, whatlen, "the seal %.300s is malformed", sp);
    goto out;
  }
  struct buf b;
  buf_init(&b);
  buf_append(&b, SEAL_DOMAIN, sizeof SEAL_DOMAIN - 1);
  buf_append(&b, t, bodylen);
  char want[AUDIT_HASH_HEX];
  hmac_hex(key, keylen, b.data, b.len, want);
  buf_release(&b);
  if (CRYPTO_memcmp(want, mac, 64) != 0) {
    snprintf(what, whatlen, "the seal's HMAC does not match: the seal was changed or forged, or the key is wrong");
    goto out;
  }
  t[bodylen] = '}';
  t[bodylen + 1] = 0;
  json_t *o = json_loads(t, 0, NULL);
  const char *last = json_string_value(json_object_get(o, "last"));
  if (!o || !last || strlen(last) != 64 || !json_is_integer(json_object_get(o, "lines"))) {
    snprintf(what, whatlen, "the seal %.300s lacks lines or last", sp);
    json_decref(o);
    goto out;
  }
  s->lines = json_integer_value(json_object_get(o, "lines"));
  s->bytes = json_integer_value(json_object_get(o, "bytes"));
  s->last_start = json_integer_value(json_object_get(o, "lastStart"));
  memcpy(s->last, last, 65);
  snprintf(s->cluster, sizeof s->cluster, "%s", jget_str(o, "cluster") ? jget_str(o, "cluster") : "");
  s->offsets = json_incref(json_object_get(o, "offsets"));
  if (!json_is_object(s->offsets)) {
    json_decref(s->offsets);
    s->offsets = json_object();
  }
  json_decref(o);
  rc = 0;
out:
  free(t);
  return rc;
}

static int fsync_dir_of(const char *path) {
  char *d = xstrdup(path);
  int fd = open(dirname(d), O_RDONLY | O_DIRECTORY);
  free(d);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* ---------------- the writer ---------------- */

struct audit_writer {
  char *path;
  char seal_path[4096];
  int fd;
  unsigned char *key;
  size_t keylen;
  struct hasher hash; /* keyed with key */
  struct chain ch;
  long long flushed_bytes; /* on disk (fsync'd) */
  long long last_start;    /* where the last line begins */
  struct buf pending;
  size_t npending;
  long long sealed_lines; /* -1: no seal written or found */
  char cluster[128];      /* the Kafka cluster id written into the seal; "" when not known */
};

static int seal_write(struct audit_writer *w, char *err, size_t errlen) {
  json_t *o = json_pack("{s:i, s:I, s:I, s:I, s:s, s:O, s:I}", "version", 1, "lines",
                        (json_int_t)w->ch.lines, "bytes", (json_int_t)w->flushed_bytes,
                        "lastStart", (json_int_t)w->last_start, "last", w->ch.head, "offsets",
                        w->ch.next, "at", (json_int_t)now_ms());
  if (w->cluster[0]) json_object_set_new(o, "cluster", json_string(w->cluster));
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  size_t len = strlen(s);
  struct buf b;
  buf_init(&b);
  buf_append(&b, SEAL_DOMAIN, sizeof SEAL_DOMAIN - 1);
  buf_append(&b, s, len - 1);
  char mac[AUDIT_HASH_HEX];
  hmac_hex(w->key, w->keylen, b.data, b.len, mac);
  buf_reset(&b);
  buf_append(&b, s, len - 1);
  buf_printf(&b, ",\"hmac\":\"%s\"}\n", mac);
  free(s);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", w->seal_path);
  int rc = -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
  if (fd < 0 || write_all(fd, b.data, b.len) || fsync(fd)) {
    snprintf(err, errlen, "writing %s: %s", tmp, strerror(errno));
    if (fd >= 0) close(fd);
    goto out;
  }
  close(fd);
  if (rename(tmp, w->seal_path) || fsync_dir_of(w->seal_path)) {
    snprintf(err, errlen, "renaming the seal %s: %s", w->seal_path, strerror(errno));
    goto out;
  }
  rc = 0;
out:
  buf_release(&b);
  return rc;
}

/* getline with a bound: the next line, its '\n' included, into *line (grown, at most
 * AUDIT_MAX_LINE_BYTES + 2 bytes); its length, or 0 at the end of the file or a read error
 * (ferror), or -2 when AUDIT_MAX_LINE_BYTES bytes came without a newline. getline's unbounded
 * line took all the memory there was on an endless stream without one (`barge audit --out
 * /dev/full` read 16 GB of zeros in 12 s; `barge audit verify /dev/zero` under a memory limit
 * said "intact: 0 lines"). */
static ssize_t getline_max(char **line, size_t *cap, FILE *f) {
  size_t len = 0;
  int ch;
  flockfile(f);
  while ((ch = getc_unlocked(f)) != EOF) {
    if (len + 2 > *cap) {
      size_t want = *cap < 4096 ? 4096 : *cap * 2;
      if (want > AUDIT_MAX_LINE_BYTES + 2) want = AUDIT_MAX_LINE_BYTES + 2;
      *line = xrealloc(*line, want);
      *cap = want;
    }
    (*line)[len++] = (char)ch;
    if (ch == '\n') break;
    if (len >= AUDIT_MAX_LINE_BYTES) {
      funlockfile(f);
      return -2;
    }
  }
  funlockfile(f);
  if (*line) (*line)[len] = 0;
  return (ssize_t)len;
}

/* Reads lines from `from` to the end, checking each against the chain. Returns 0, or 1 with
 * what (and *bad_line); *end is where the last complete line ends, *torn whether bytes follow
 * it without a newline. If mark > 0, the chain head after line mark is copied to mark_head. */
static int scan(FILE *f, long long from, struct hasher *h, struct chain *c, long long mark,
                char *mark_head, long long *end, long long *last_start, int *torn, long long *bad_line, char *what,
                size_t whatlen) {
  *torn = 0;
  *end = from;
  /* a stream read from its start need not seek, and a pipe cannot (zcat FILE.gz | barge audit
   * verify /dev/stdin) */
  if ((from != 0 || ftello(f) > 0) && fseeko(f, from, SEEK_SET)) {
    snprintf(what, whatlen, "seek: %s", strerror(errno));
    *bad_line = 0;
    return 1;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0;
  while ((n = getline_max(&line, &cap, f)) != 0) {
    if (n < 0) {
      snprintf(what, whatlen, "more than %d MiB without a newline: not an audit line (no line Barge writes is so long)",
               AUDIT_MAX_LINE_BYTES >> 20);
      *bad_line = c->lines + 1;
      rc = 1;
      break;
    }
    if (line[n - 1] != '\n') {
      *torn = 1;
      break;
    }
    if (check_line(h, line, (size_t)n - 1, c, what, whatlen)) {
      *bad_line = c->lines + 1;
      rc = 1;
      break;
    }
    if (mark > 0 && c->lines == mark) memcpy(mark_head, c->head, AUDIT_HASH_HEX);
    *last_start = *end;
    *end += n;
  }
  /* a read error is not the end of the file: the lines after it were not checked (and the writer
   * must not cut the file there as if its tail were torn) */
  if (!rc && ferror(f)) {
    snprintf(what, whatlen, "read error after line %lld: %s", c->lines, strerror(errno));
    *bad_line = 0;
    rc = -1;
  }
  free(line);
  return rc;
}

int audit_open(struct audit_writer **out, const char *path, const unsigned char *key,
               size_t keylen, int repair_tail, char *err, size_t errlen) {
  *out = NULL;
  struct audit_writer *w = xcalloc(1, sizeof *w);
  w->path = xstrdup(path);
  seal_path_of(path, w->seal_path, sizeof w->seal_path);
  w->key = xmalloc(keylen);
  memcpy(w->key, key, keylen);
  w->keylen = keylen;
  hasher_init(&w->hash, w->key, keylen);
  chain_init(&w->ch);
  buf_init(&w->pending);
  w->fd = open(path, O_RDWR | O_CREAT | O_APPEND, 0640);
  FILE *f = NULL;
  struct seal s = {0};
  char what[512];
  if (w->fd < 0) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    goto fail;
  }
  if (flock(w->fd, LOCK_EX | LOCK_NB)) {
    snprintf(err, errlen, "%s is being written by another process (%s)", path, strerror(errno));
    goto fail;
  }
  struct stat st;
  if (fstat(w->fd, &st)) {
    snprintf(err, errlen, "stat %s: %s", path, strerror(errno));
    goto fail;
  }
  /* a device or a pipe holds no chain to resume, takes no seal beside it and no fsync: /dev/full
   * was read for ever (zeros without a newline) before anything was written */
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s is not a regular file: the audit file must be one (a path to create, or an audit file "
             "to extend)", path);
    goto fail;
  }
  int sr = seal_read(w->seal_path, key, keylen, &s, what, sizeof what);
  if (sr < 0) {
    snprintf(err, errlen, "%s (run `barge audit verify`)", what);
    goto fail;
  }
  f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    goto fail;
  }
  long long from = 0;
  if (sr == 0) {
    if (s.bytes > (long long)st.st_size || s.last_start > s.bytes) {
      snprintf(err, errlen, "%s is shorter than its seal records (%lld lines, %lld bytes): truncated? (run `barge audit verify`)",
               path, s.lines, s.bytes);
      goto fail;
    }
    if (s.lines > 0) {
      /* the sealed last line must still be there, unchanged */
      size_t len = (size_t)(s.bytes - s.last_start);
      char *ln = xmalloc(len + 1);
      char hash[AUDIT_HASH_HEX] = "";
      if (len >= 1 && pread(w->fd, ln, len, s.last_start) == (ssize_t)len && ln[len - 1] == '\n')
        sha256_hex(ln, len - 1, hash);
      free(ln);
      if (strcmp(hash, s.last) != 0) {
        snprintf(err, errlen, "line %lld of %s is not the line its seal records (run `barge audit verify`)", s.lines, path);
        goto fail;
      }
      memcpy(w->ch.head, s.last, sizeof w->ch.head);
    }
    w->ch.lines = s.lines;
    json_object_update(w->ch.next, s.offsets);
    from = s.bytes;
    w->last_start = s.last_start;
  } else if (st.st_size > 0) {
    log_warn("%s has no seal %s: checking every line", path, w->seal_path);
  }
  long long end = 0, bad = 0;
  int torn = 0;
  if (scan(f, from, &w->hash, &w->ch, 0, NULL, &end, &w->last_start, &torn, &bad, what,
           sizeof what)) {
    snprintf(err, errlen, "%s line %lld: %s (run `barge audit verify`)", path, bad, what);
    goto fail;
  }
  if (torn || end < (long long)st.st_size) {
    if (!repair_tail) {
      snprintf(err, errlen, "%s ends with an incomplete line at byte %lld", path, end);
      goto fail;
    }
    log_warn("%s: cutting off an incomplete last line (%lld bytes, an interrupted write that was never sealed)",
             path, (long long)st.st_size - end);
    if (ftruncate(w->fd, end) || fsync(w->fd)) {
      snprintf(err, errlen, "truncating %s: %s", path, strerror(errno));
      goto fail;
    }
  }
  w->flushed_bytes = end;
  w->sealed_lines = sr == 0 ? s.lines : -1;
  if (sr == 0) snprintf(w->cluster, sizeof w->cluster, "%s", s.cluster);
  fclose(f);
  json_decref(s.offsets);
  *out = w;
  return 0;
fail:
  if (f) fclose(f);
  json_decref(s.offsets);
  audit_close(w);
  return -1;
}

const char *audit_cluster(const struct audit_writer *w) { return w->cluster; }

void audit_set_cluster(struct audit_writer *w, const char *id) {
  snprintf(w->cluster, sizeof w->cluster, "%s", id ? id : "");
}

/* Appends the member ,"name":"s" as json_dumps writes a json_string(s) member; nothing when
 * s is not UTF-8 (json_string refuses it, and the member is not set). */
static void put_string_member(struct buf *b, const char *name, const char *s, size_t n) {
  size_t mark = b->len;
  buf_printf(b, ",\"%s\":", name);
  if (codec_json_string(b, s, n)) b->len = mark;
}

static int dump_to_buf(const char *text, size_t n, void *b) {
  buf_append(b, text, n);
  return 0;
}

/* BODY_n (audit.h) of record r, appended to b: byte for byte what json_dumps(JSON_COMPACT)
 * writes for the object {seq, topic, partition, offset, key[, keyBase64], timestamp, type,
 * event[, raw, error], prev} built with jansson, without building it. */
static void render_body(struct buf *b, const struct audit_rec *r, long long n, const char *prev) {
  buf_printf(b, "{\"seq\":%lld", n);
  put_string_member(b, "topic", r->topic, strlen(r->topic));
  buf_printf(b, ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"key\":", r->partition, r->offset);
  int bad_key = r->key && codec_json_string(b, r->key, r->keylen); /* appends nothing when bad */
  if (!r->key || bad_key) buf_append(b, "null", 4);
  if (bad_key) { /* not UTF-8: keep the bytes */
    char *k64 = base64_encode(r->key, r->keylen, NULL);
    buf_printf(b, ",\"keyBase64\":\"%s\"", k64);
    free(k64);
  }
  buf_printf(b, ",\"timestamp\":%" PRId64, r->timestamp_ms);
  const char *type = r->type ? r->type : "undecodable";
  put_string_member(b, "type", type, strlen(type));
  buf_append(b, ",\"event\":", 9);
  if (r->event_json)
    buf_append(b, r->event_json, r->event_json_len);
  else if (!r->event || json_dump_callback(r->event, dump_to_buf, b, JSON_COMPACT | JSON_ENCODE_ANY))
    buf_append(b, "null", 4);
  if (r->error) {
    char *raw = base64_encode(r->raw ? r->raw : "", r->raw ? r->rawlen : 0, NULL);
    buf_printf(b, ",\"raw\":\"%s\"", raw);
    free(raw);
    put_string_member(b, "error", r->error, strlen(r->error));
  }
  buf_printf(b, ",\"prev\":\"%s\"", prev);
}

int audit_append(struct audit_writer *w, const struct audit_rec *r) {
  char pk[512];
  part_key(r->topic, r->partition, pk, sizeof pk);
  json_t *nx = json_object_get(w->ch.next, pk);
  if (nx && r->offset < json_integer_value(nx)) return 1; /* already in the file */
  long long n = w->ch.lines + 1;
  size_t start = w->pending.len;
  render_body(&w->pending, r, n, w->ch.head);
  char mac[AUDIT_HASH_HEX];
  hasher_hmac(&w->hash, w->pending.data + start, w->pending.len - start, mac);
  buf_append(&w->pending, ",\"hmac\":\"", 9);
  buf_append(&w->pending, mac, 64);
  buf_append(&w->pending, "\"}", 2);
  hasher_sha(&w->hash, w->pending.data + start, w->pending.len - start, w->ch.head);
  buf_append(&w->pending, "\n", 1);
  w->last_start = w->flushed_bytes + (long long)start;
  w->ch.lines = n;
  if (nx) json_integer_set(nx, r->offset + 1);
  else json_object_set_new(w->ch.next, pk, json_integer(r->offset + 1));
  w->npending++;
  return 0;
}

int audit_flush(struct audit_writer *w, char *err, size_t errlen) {
  if (!w->pending.len && w->sealed_lines == w->ch.lines) return 0; /* nothing new, and sealed */
  /* The file must still be the one at its path. Moved aside (to begin a new chain) or removed
   * while this writer runs, it would go on growing under its new name while the seal at the old
   * path described it, and every later start would refuse the new file as shorter than that
   * seal. Stop instead, having written nothing more and committed nothing: the moved file and its
   * seal stay consistent, and the next start begins a new chain from the committed offsets. */
  struct stat ps, fs;
  if (stat(w->path, &ps) || fstat(w->fd, &fs) || ps.st_dev != fs.st_dev || ps.st_ino != fs.st_ino) {
    snprintf(err, errlen, "%s was moved or removed while it was being written: stopping (a new start begins a new chain there)",
             w->path);
    return -1;
  }
  if (w->pending.len) {
    if (write_all(w->fd, w->pending.data, w->pending.len) || fsync(w->fd)) {
      snprintf(err, errlen, "writing %s: %s", w->path, strerror(errno));
      return -1;
    }
    w->flushed_bytes += (long long)w->pending.len;
    buf_reset(&w->pending);
    w->npending = 0;
  }
  if (w->sealed_lines == w->ch.lines) return 0; /* nothing new, and sealed */
  if (seal_write(w, err, errlen)) return -1;
  w->sealed_lines = w->ch.lines;
  return 0;
}

size_t audit_pending(const struct audit_writer *w) { return w->npending; }

int64_t audit_next_offset(const struct audit_writer *w, const char *topic, int32_t partition) {
  char pk[512];
  part_key(topic, partition, pk, sizeof pk);
  json_t *nx = json_object_get(w->ch.next, pk);
  return nx ? json_integer_value(nx) : -1;
}

long long audit_lines(const struct audit_writer *w) { return w->ch.lines; }
const char *audit_head(const struct audit_writer *w) { return w->ch.head; }

void audit_close(struct audit_writer *w) {
  if (!w) return;
  if (w->fd >= 0) close(w->fd); /* releases the lock */
  hasher_release(&w->hash);
  if (w->key) OPENSSL_cleanse(w->key, w->keylen);
  free(w->key);
  free(w->path);
  chain_release(&w->ch);
  buf_release(&w->pending);
  free(w);
}

/* ---------------- verification ---------------- */

/* Whether a writer holds path's lock (audit_open keeps it for the writer's life). */
static int writer_running(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return 0;
  struct stat st; /* a pipe has no writer of an audit file behind it */
  int held = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_SH | LOCK_NB) != 0 &&
             errno == EWOULDBLOCK;
  close(fd); /* (a shared lock taken is released with it) */
  return held;
}

int audit_verify(const char *path, const unsigned char *key, size_t keylen,
                 const struct audit_verify_opts *o, struct audit_verdict *v) {
  memset(v, 0, sizeof *v);
  memcpy(v->head, ZERO_HASH, sizeof ZERO_HASH);
  struct audit_verify_opts dflt = {0};
  if (!o) o = &dflt;
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(v->what, sizeof v->what, "cannot read %s: %s", path, strerror(errno));
    return -1;
  }
  /* fopen opens a directory too, and reading it then ends at once: that is no intact, empty file */
  struct stat st;
  int serr = fstat(fileno(f), &st) ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
  if (serr) {
    snprintf(v->what, sizeof v->what, "cannot read %s: %s", path, strerror(serr));
    fclose(f);
    return -1;
  }
  struct seal s = {0};
  int sr = 1;
  char sp[4096];
  if (o->seal_path) snprintf(sp, sizeof sp, "%s", o->seal_path);
  else seal_path_of(path, sp, sizeof sp);
  if (!o->no_seal) {
    sr = seal_read(sp, key, keylen, &s, v->what, sizeof v->what);
    if (sr < 0) {
      /* a seal that cannot be trusted fails the file as a whole (line 0) */
      fclose(f);
      return 1;
    }
  }
  struct chain c;
  chain_init(&c);
  char sealed_hash[AUDIT_HASH_HEX] = "";
  long long end = 0, last_start = 0;
  int torn = 0;
  struct hasher h;
  hasher_init(&h, key, keylen);
  int rc = scan(f, 0, &h, &c, sr == 0 ? s.lines : 0, sealed_hash, &end, &last_start,
                &torn, &v->bad_line, v->what, sizeof v->what);
  if (rc) goto out;
  if (torn && writer_running(path)) { /* a line being written, not a cut one */
    torn = 0;
    v->appending = 1;
  }
  if (torn) {
    v->bad_line = c.lines + 1;
    snprintf(v->what, sizeof v->what, "incomplete (no newline): the file was cut in the middle of this line");
    rc = 1;
    goto out;
  }
  v->lines = c.lines;
  memcpy(v->head, c.head, sizeof v->head);
  if (o->expect_lines > 0 && c.lines < o->expect_lines) {
    v->bad_line = c.lines + 1;
    snprintf(v->what, sizeof v->what, "missing: %lld lines expected, the file ends after line %lld (truncated)",
             o->expect_lines, c.lines);
    rc = 1;
    goto out;
  }
  if (o->no_seal) goto out;
  if (sr == 1) {
    v->bad_line = 0;
    snprintf(v->what, sizeof v->what, "no seal %.300s: truncation cannot be ruled out (--no-seal checks the chain only)", sp);
    rc = 1;
    goto out;
  }
  v->sealed = s.lines;
  if (c.lines < s.lines) {
    v->bad_line = c.lines + 1;
    snprintf(v->what, sizeof v->what, "missing: the seal records %lld lines, the file ends after line %lld (truncated)",
             s.lines, c.lines);
    rc = 1;
  } else if (s.lines > 0 && strcmp(sealed_hash, s.last) != 0) {
    v->bad_line = s.lines;
    snprintf(v->what, sizeof v->what, "is not the line the seal records as line %lld", s.lines);
    rc = 1;
  }
out:
  if (rc == 0 && o->next) json_object_update(o->next, c.next);
  fclose(f);
  hasher_release(&h);
  chain_release(&c);
  json_decref(s.offsets);
  return rc;
}

int audit_seal_next(const char *path, const unsigned char *key, size_t keylen, json_t *next, long long *lines,
                    char *what, size_t whatlen) {
  char sp[4096];
  struct seal s;
  seal_path_of(path, sp, sizeof sp);
  int rc = seal_read(sp, key, keylen, &s, what, whatlen);
  if (rc) return rc;
  json_object_update(next, s.offsets);
  *lines = s.lines;
  json_decref(s.offsets);
  return 0;
}
