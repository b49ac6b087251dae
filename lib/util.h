/* util.h: small shared utilities: logging, wall-clock time (for I/O shells only; cores never
 * read the clock), UUIDs, growable buffers, files. Every function here is thread-safe. */
#ifndef BARGE_UTIL_H
#define BARGE_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#define BARGE_WUR __attribute__((warn_unused_result))
#define BARGE_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Logging to stderr with a level and the program's role ("scheduler", "agent i-...").
 * BARGE_LOG=debug|info|warn|error selects the threshold (default info), read on the process's
 * first log, whichever thread logs first. */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
void log_set_role(const char *role);
void log_msg(enum log_level lvl, const char *fmt, ...) BARGE_PRINTF(2, 3);
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Wall clock in epoch milliseconds, and a monotonic clock in milliseconds. */
int64_t now_ms(void);
int64_t mono_ms(void);
int64_t mono_us(void); /* the monotonic clock in microseconds */

/* A random UUID v4, lower case, into out (37 bytes with the NUL). */
void uuid_v4(char out[37]);
/* 1 when id can name a job: 1 to 40 of [A-Za-z0-9._-], not starting with '.' (a UUID fits). A
 * job id names the job's log folder on the agents, so no '/', no "..", no hidden name; ':' and
 * '#' are Barge's own, for array children (<id>:<index>) and multi-node nodes (<id>#<node>).
 * With derived (1) those two may follow the first character, up to 64 characters. */
int job_id_ok(const char *id, int derived);
/* What job_id_ok(id, 1) accepts, for the messages that refuse an id. */
#define JOB_ID_RULE \
  "at most 64 characters of A-Z a-z 0-9 . _ -, with ':' (an array child) or '#' (a multi-node node) after the first"
/* The end of the refusal of an N_TO_N dependency between arrays of different sizes (the producers
 * at SubmitJob, the scheduler for a direct producer; docs/job-model.md §6.2). */
#define N_TO_N_SIZE_HINT \
  "N_TO_N pairs child i with the target's child i, so the sizes must be equal (a dependsOn entry without type waits for the whole array)"
/* The length of the id of the job's family: the parent's id before an array child's ':' or a
 * multi-node node's '#' (the whole id otherwise). The scheduler keys a family's records by it, so
 * that a request about a child travels on its parent's partition. */
size_t job_family_len(const char *id);
/* strcmp for job ids, but an array child's or a multi-node node's index compares as a number:
 * <id>:9 before <id>:10 (strcmp puts it after <id>:10). A total order, as strcmp's. */
int job_id_cmp(const char *a, const char *b);
/* n bytes from the kernel's CSPRNG (getrandom); aborts if it fails. */
void random_bytes(void *out, size_t n);
/* Random hex digits (lower case) into out, n digits plus NUL. */
void random_hex(char *out, size_t n);

/* The BARGE_* environment variables that have a fixed form (docs/configuration.md):
 * BARGE_SCHEMA_REGISTRY_URL, BARGE_MIN_ATTEMPT_DURATION_SECONDS, BARGE_LOG, BARGE_PARTITION,
 * BARGE_REGION and BARGE_ACCOUNT. 0 when each is unset, empty (its default) or well formed; else
 * -1, err naming the first bad one, its value and what it must be. A bad value used to be taken
 * silently (BARGE_LOG=verbose as info) or, for the ARN parts, written into every ARN. */
int env_config_check(char *err, size_t errlen);
/* A schema registry URL as BARGE_SCHEMA_REGISTRY_URL takes it: "" (none), or http(s)://HOST...
 * without blanks. */
int registry_url_ok(const char *u);

/* A growable byte buffer. buf_init zeroes it; buf_release frees; data is NUL-terminated for
 * convenience (not counted in len). Out of memory aborts. */
struct buf {
  unsigned char *data;
  size_t len, cap;
};
void buf_init(struct buf *b);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
void buf_printf(struct buf *b, const char *fmt, ...) BARGE_PRINTF(2, 3);
/* Makes room for extra more bytes (and the NUL): the slow path of buf_reserve. */
void buf_grow(struct buf *b, size_t extra);
/* Inline: the codecs append a few bytes at a time, millions of times a second under load. */
static inline void buf_reserve(struct buf *b, size_t extra) {
  if (b->len + extra + 1 > b->cap) buf_grow(b, extra);
}
static inline void buf_append(struct buf *b, const void *p, size_t n) {
  buf_reserve(b, n);
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;
}

/* Allocation that aborts on out of memory. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Reads a whole file into a NUL-terminated malloc'd string; NULL on error (errno set). */
char *read_file(const char *path, size_t *len_out);
/* Reads a small file (a /proc or cgroup file) into buf, NUL-terminated, with no allocation:
 * open, read until size - 1 bytes or a short read (the end, for regular, /proc and cgroup files:
 * one read instead of two), close. Its length, or -1 (errno set). */
ssize_t read_small(const char *path, char *buf, size_t size);
/* A secret from a key file ("HMAC key file" is `what`): its bytes without trailing white space,
 * *len_out set; NULL with the reason in err when it cannot be read or holds fewer than min bytes. */
char *read_secret_file(const char *path, const char *what, size_t min, size_t *len_out, char *err, size_t errlen);
/* Writes data atomically (temp file + rename). 0 on success. */
int write_file_atomic(const char *path, const void *data, size_t len) BARGE_WUR;
/* mkdir -p. 0 on success, also when path is a directory already; -1 with errno otherwise (ENOTDIR
 * when path, or a folder on the way, is something else). */
int mkdir_p(const char *path) BARGE_WUR;

/* A finite double in the shortest %g form that reads back the same (0.1, not 0.10000000000000001). */
void fmt_shortest(double d, char *out, size_t n);
/* Formats epoch ms as ISO-8601 UTC with whole seconds ("2024-01-11T23:36:40Z"). */
void iso8601_utc(int64_t ms, char out[32]);
/* Parses "2024-01-11T23:36:40Z" (optionally with a fraction of a second, ".123", and a UTC offset,
 * "+01:00", instead of the Z), "2024-01-11", or an integer of epoch ms/s. -1 on error. */
int64_t parse_time_ms(const char *s);

/* Glob-like match used by retry rules and filters: a trailing '*' makes a prefix match,
 * otherwise exact; a lone "*" matches anything. */
int prefix_glob_match(const char *pattern, const char *value);

/* Replaces what is not UTF-8 in s (RFC 3629: no overlong forms, surrogates or code points past
 * U+10FFFF; a sequence cut by the end) with '?', in place: a message quoting input cut to its
 * first bytes may end in half a character, and jansson refuses a string that is not UTF-8. */
void utf8_fix(char *s);
/* The bytes of s's first n characters (code points; s is UTF-8): strlen(s) when s has no more.
 * AWS Batch counts its limits (a CancelJob reason's 1024) in characters, not bytes. */
size_t utf8_prefix_bytes(const char *s, size_t n);

/* Base64 (RFC 4648, standard alphabet, padded) of n bytes, NUL-terminated, malloc'd; its length
 * in *outlen when outlen is not NULL. */
char *base64_encode(const void *data, size_t n, size_t *outlen);
/* Decodes n characters of padded base64 into a new buffer (length in *outlen), NUL-terminated
 * after those bytes; NULL when s is not valid padded base64. */
unsigned char *base64_decode(const char *s, size_t n, size_t *outlen);
/* Lower-case hex of n bytes into out (2n + 1 bytes with the NUL). */
void hex_encode(const void *data, size_t n, char *out);
/* A multi-node job's targetNodes ("n", "a:b", "a:" or ":b") as node indexes [*lo, *hi] of a job
 * of num_nodes nodes (an open end is 0 or num_nodes - 1). 0, or -1 when malformed or empty; *hi
 * may exceed num_nodes - 1 (the caller says so). */
int target_nodes_parse(const char *t, int num_nodes, int *lo, int *hi);

#endif
