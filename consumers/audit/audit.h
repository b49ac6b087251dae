/* audit.h: Barge's tamper-evident audit file (docs/audit.md): the chained JSON-lines writer,
 * its seal, and the verifier. No Kafka here; audit_shell.c is the consumer around it.
 *
 * Line n (1-based) of FILE is BODY_n + `,"hmac":"<64 hex>"}` + "\n", where BODY_n is a JSON
 * object without its closing brace:
 *   {"seq":n,"topic":T,"partition":P,"offset":O,"key":K,"timestamp":MS,"type":TYPE,
 *    "event":{...} | null [,"raw":BASE64,"error":WHY],"prev":"<64 hex>"
 *   prev = SHA-256 of line n-1 (all its bytes but the newline); 64 zeros for line 1
 *   hmac = HMAC-SHA256(key, BODY_n)
 * so a line cannot be changed or forged without the key (hmac), and a line cannot be removed,
 * inserted or moved without breaking the next line's prev and the sequence numbers.
 *
 * FILE.seal, rewritten atomically after every fsync of FILE, is one line
 *   {"version":1,"lines":N,"bytes":B,"lastStart":S,"last":"<SHA-256 of line N>",
 *    "offsets":{"TOPIC/PARTITION":NEXT,...},"at":MS,"hmac":"<hex>"}
 * with hmac = HMAC-SHA256(key, "barge-audit-seal\n" + the seal without its hmac member), so
 * removing whole lines from the end (truncation) is detected against it.
 *
 * Threads: a writer is used by one thread; the functions are reentrant. */
#ifndef BARGE_AUDIT_H
#define BARGE_AUDIT_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define AUDIT_HASH_HEX 65 /* 64 hex digits and the NUL */
/* The longest line a reader takes (a record is at most Kafka's message.max.bytes, 1 MB by
 * default, a few times that as JSON): more bytes without a newline are no audit line, and a
 * stream without one (/dev/zero) is refused there rather than read into memory for ever. */
#define AUDIT_MAX_LINE_BYTES (64 << 20)

/* Reads an HMAC key from a file (trailing whitespace and newlines dropped). A malloc'd buffer
 * the caller frees, or NULL with the reason in err (unreadable or empty). */
unsigned char *audit_read_key(const char *path, size_t *keylen, char *err, size_t errlen);

/* One record to append. Strings are borrowed. The decoded event is event_json, its compact JSON
 * text (codec_render_json), or else event (borrowed), or neither (null); for an undecodable
 * record raw/rawlen are its bytes and error why. */
struct audit_rec {
  const char *topic;
  int32_t partition;
  int64_t offset;
  const char *key; /* may be NULL; not NUL-terminated */
  size_t keylen;
  int64_t timestamp_ms;
  const char *type; /* "barge.JobStateChange", "tombstone", "undecodable" */
  const json_t *event;
  const char *event_json; /* not NUL-terminated: event_json_len bytes */
  size_t event_json_len;
  const void *raw;
  size_t rawlen;
  const char *error;
};

struct audit_writer;
/* Opens (or creates) FILE for appending: takes an exclusive lock (one writer per file), checks
 * the seal and every line after it, and learns the chain head and each partition's next
 * offset. A torn last line (a crash in the middle of a write; never sealed) is cut off when
 * repair_tail, else refused. A file that does not match its seal, or whose lines after the
 * seal do not verify, is refused: the writer never extends a tampered chain. */
int audit_open(struct audit_writer **out, const char *path, const unsigned char *key,
               size_t keylen, int repair_tail, char *err, size_t errlen) BARGE_WUR;
/* Formats one line into the pending buffer (nothing is written until audit_flush). A record at
 * or before an offset the file already holds for its partition is skipped (returns 1). */
int audit_append(struct audit_writer *w, const struct audit_rec *r);
/* Writes the pending lines, fsyncs FILE, then rewrites and fsyncs FILE.seal. 0 on success. */
int audit_flush(struct audit_writer *w, char *err, size_t errlen) BARGE_WUR;
size_t audit_pending(const struct audit_writer *w);
/* The next offset to read for a partition (the last one in the file + 1), -1 if none. */
int64_t audit_next_offset(const struct audit_writer *w, const char *topic, int32_t partition);
long long audit_lines(const struct audit_writer *w);
/* The id of the Kafka cluster the file was written from, as its seal records it ("" when the
 * seal records none: a file sealed before Barge recorded it, or none yet). */
const char *audit_cluster(const struct audit_writer *w);
/* The cluster id the next seals record (the consumer's, once it has checked it matches). */
void audit_set_cluster(struct audit_writer *w, const char *id);
const char *audit_head(const struct audit_writer *w); /* SHA-256 hex of the last line */
void audit_close(struct audit_writer *w);           /* does not flush */

/* ---- verification ---- */
struct audit_verify_opts {
  const char *seal_path;  /* NULL: FILE.seal */
  int no_seal;            /* check the chain only: truncation of whole lines goes unnoticed */
  long long expect_lines; /* > 0: the file must hold at least this many lines */
  json_t *next;           /* not NULL: a caller's object, filled (when intact) with "topic/partition" ->
                             the next offset (the file's last one there + 1) of every partition in the file */
};
struct audit_verdict {
  long long lines;        /* complete lines read */
  long long sealed;       /* lines the seal covers */
  long long bad_line;     /* the first line where something is wrong (0: the file as a whole) */
  char what[512];         /* what is wrong */
  char head[AUDIT_HASH_HEX];
  int appending;          /* FILE ended in part of a line while its writer runs (holds the lock):
                             a line being appended, not checked, not a cut file */
};
/* Checks FILE from its first line: 0 when intact, 1 when not (v->bad_line and v->what say
 * where and what, the first problem only), -1 when FILE or the seal cannot be read (what). A
 * last line without its newline is a cut file, unless a writer holds FILE's lock: then it is a
 * line being appended, left out (v->appending). */
int audit_verify(const char *path, const unsigned char *key, size_t keylen,
                 const struct audit_verify_opts *o, struct audit_verdict *v);

/* Reads FILE.seal (authenticated with the key) and fills next (a caller's object) with the
 * offsets it records, "topic/partition" -> next offset, and *lines with its line count: where
 * the writer stood at its last flush. Takes no lock: a running writer rewrites the seal
 * atomically. 0, 1 when there is no seal, -1 when it cannot be read or trusted (what). */
int audit_seal_next(const char *path, const unsigned char *key, size_t keylen, json_t *next, long long *lines,
                    char *what, size_t whatlen) BARGE_WUR;

/* `barge audit` and `barge audit verify` (audit_shell.c). */
#include "opts.h"
extern const struct opts_cmd audit_opts_cmd, audit_verify_opts_cmd; /* --help, docs */
int audit_service_main(int argc, char **argv);
int audit_verify_main(int argc, char **argv);
#endif
