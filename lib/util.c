/* util.c: logging, clocks, UUIDs, buffers, files (see util.h). */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char log_role[64] = "barge";
/* BARGE_LOG's level, read on the process's first log; -1 until then. Any thread may log first,
 * so it is atomic and stored once, whole: it used to be set to info and then to BARGE_LOG's
 * level, and a thread logging meanwhile printed info lines under BARGE_LOG=error. Relaxed is
 * enough: it guards no other data, and every thread that reads BARGE_LOG finds the same level. */
static atomic_int log_threshold = -1;

void log_set_role(const char *role) { snprintf(log_role, sizeof log_role, "%s", role); }

/* BARGE_LOG's level; anything else is info (env_config_check refuses other values up front). */
static int log_threshold_from_env(void) {
  const char *e = getenv("BARGE_LOG");
  if (e && !strcmp(e, "debug")) return LOG_DEBUG;
  if (e && !strcmp(e, "warn")) return LOG_WARN;
  if (e && !strcmp(e, "error")) return LOG_ERROR;
  return LOG_INFO;
}

void log_msg(enum log_level lvl, const char *fmt, ...) {
  int threshold = atomic_load_explicit(&log_threshold, memory_order_relaxed);
  if (threshold < 0) {
    threshold = log_threshold_from_env();
    atomic_store_explicit(&log_threshold, threshold, memory_order_relaxed);
  }
  if ((int)lvl < threshold) return;
  static const char *names[] = {"debug", "info", "warn", "error"};
  char ts[32];
  iso8601_utc(now_ms(), ts);
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s %s [%s] %s\n", ts, names[lvl], log_role, msg);
}

int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void random_bytes(void *out, size_t n) {
  unsigned char *p = out;
  while (n > 0) {
    ssize_t r = getrandom(p, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      abort();
    }
    p += r;
    n -= (size_t)r;
  }
}

/* UUIDs take their 16 bytes from a per-thread pool filled by one getrandom call per 256 UUIDs:
 * every event's header takes one, and a getrandom per event was a tenth of the scheduler's main
 * thread (docs/architecture.md, "Throughput"). The bytes are the kernel's CSPRNG output as before;
 * a forked child drops the pool it inherited (uuid_fork_gen), so that parent and child never hand
 * out the same bytes. */
#define UUID_POOL 4096
static _Atomic unsigned uuid_fork_gen;
static void uuid_atfork_child(void) { uuid_fork_gen++; }
static pthread_once_t uuid_once = PTHREAD_ONCE_INIT;
static void uuid_init_once(void) { pthread_atfork(NULL, NULL, uuid_atfork_child); }

static void uuid_bytes(unsigned char b[16]) {
  static _Thread_local unsigned char pool[UUID_POOL];
  static _Thread_local size_t used = UUID_POOL;
  static _Thread_local unsigned gen;
  pthread_once(&uuid_once, uuid_init_once);
  unsigned now = uuid_fork_gen;
  if (used + 16 > UUID_POOL || gen != now) {
    random_bytes(pool, sizeof pool);
    used = 0;
    gen = now;
  }
  memcpy(b, pool + used, 16);
  memset(pool + used, 0, 16); /* handed out once */
  used += 16;
}

int job_id_ok(const char *id, int derived) {
  size_t n = 0;
  if (!id || !*id || *id == '.') return 0;
  for (const char *p = id; *p; p++, n++) {
    char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
             c == '-' || (derived && p != id && (c == ':' || c == '#'));
    if (!ok) return 0;
  }
  return n <= (derived ? 64u : 40u);
}

static int all_digits(const char *p) {
  if (!*p) return 0;
  for (; *p; p++)
    if (*p < '0' || *p > '9') return 0;
  return 1;
}

size_t job_family_len(const char *id) { return strcspn(id, ":#"); }

int job_id_cmp(const char *a, const char *b) {
  size_t i = 0;
  while (a[i] && a[i] == b[i]) i++;
  size_t j = i; /* back to the start of the digit run the first difference falls in */
  while (j > 0 && a[j - 1] >= '0' && a[j - 1] <= '9') j--;
  if (j > 0 && (a[j - 1] == ':' || a[j - 1] == '#') && all_digits(a + j) && all_digits(b + j)) {
    size_t na = strlen(a + j), nb = strlen(b + j); /* indexes have no leading zeros */
    if (na != nb) return na < nb ? -1 : 1;
  }
  return strcmp(a, b);
}

void uuid_v4(char out[37]) {
  unsigned char b[16];
  uuid_bytes(b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  /* 8-4-4-4-12 lower-case hex digits; every event's header takes one, so no printf here */
  static const char hex[] = "0123456789abcdef";
  char *o = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
    *o++ = hex[b[i] >> 4];
    *o++ = hex[b[i] & 15];
  }
  *o = 0;
}

void random_hex(char *out, size_t n) {
  unsigned char b[64];
  static const char hex[] = "0123456789abcdef";
  size_t i = 0;
  while (i < n) {
    size_t chunk = (n - i + 1) / 2;
    if (chunk > sizeof b) chunk = sizeof b;
    random_bytes(b, chunk);
    for (size_t k = 0; k < chunk && i < n; k++) {
      out[i++] = hex[b[k] >> 4];
      if (i < n) out[i++] = hex[b[k] & 15];
    }
  }
  out[n] = 0;
}

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) abort();
  return p;
}
void *xcalloc(size_t n, size_t m) {
  void *p = calloc(n ? n : 1, m ? m : 1);
  if (!p) abort();
  return p;
}
void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) abort();
  return p;
}
char *xstrdup(const char *s) {
  char *p = strdup(s ? s : "");
  if (!p) abort();
  return p;
}

void buf_init(struct buf *b) { memset(b, 0, sizeof *b); }
void buf_release(struct buf *b) {
  free(b->data);
  buf_init(b);
}
void buf_reset(struct buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = 0;
}
void buf_grow(struct buf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra + 1) cap *= 2;
  b->data = xrealloc(b->data, cap);
  b->cap = cap;
}
void buf_printf(struct buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  buf_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

char *read_file(const char *path, size_t *len_out) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  struct buf b;
  buf_init(&b);
  char tmp[65536];
  size_t n;
  errno = 0;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) buf_append(&b, tmp, n);
  /* the read's own reason (EISDIR for a directory given as a key file: it said "Input/output error") */
  int err = ferror(f) ? (errno ? errno : EIO) : 0;
  fclose(f);
  if (err) {
    buf_release(&b);
    errno = err;
    return NULL;
  }
  if (!b.data) buf_append(&b, "", 0);
  if (len_out) *len_out = b.len;
  return (char *)b.data;
}

ssize_t read_small(const char *path, char *buf, size_t size) {
  if (size == 0) {
    errno = EINVAL;
    return -1;
  }
  int fd;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  size_t len = 0;
  while (len < size - 1) {
    ssize_t n = read(fd, buf + len, size - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    len += (size_t)n;
    if (n == 0 || len < size - 1) break; /* a short read: the end */
  }
  close(fd);
  buf[len] = 0;
  return (ssize_t)len;
}

char *read_secret_file(const char *path, const char *what, size_t min, size_t *len_out, char *err, size_t errlen) {
  size_t n = 0;
  char *s = read_file(path, &n);
  if (!s) {
    snprintf(err, errlen, "cannot read the %s %s: %s", what, path, strerror(errno));
    return NULL;
  }
  while (n > 0 && strchr("\n\r\t ", s[n - 1])) n--;
  if (n < min || n == 0) {
    if (n == 0) snprintf(err, errlen, "the %s %s is empty", what, path);
    else snprintf(err, errlen, "the %s %s holds %zu bytes; it needs at least %zu (e.g. openssl rand -hex 32)", what,
                  path, n, min);
    free(s);
    return NULL;
  }
  *len_out = n;
  return s;
}

int write_file_atomic(const char *path, const void *data, size_t len) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      close(fd);
      unlink(tmp);
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  if (close(fd) != 0 || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

int mkdir_p(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  }
  if (mkdir(tmp, 0755) == 0) return 0;
  if (errno != EEXIST) return -1;
  /* EEXIST is success only for a directory: a file of that name made it "exist" (and
   * `barge up` then said the stack ran while its agents could not write their logs) */
  struct stat st;
  if (stat(tmp, &st) != 0) return -1;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

void fmt_shortest(double d, char *out, size_t n) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, n, "%.*g", prec, d);
    if (strtod(out, NULL) == d) return;
  }
}

void iso8601_utc(int64_t ms, char out[32]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t parse_time_ms(const char *s) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (*end == 0) {
    if (errno == ERANGE || v < 0) return -1; /* not a time: LLONG_MAX would read as the year 292278994 */
    return v < 100000000000LL ? v * 1000 : v; /* seconds or ms */
  }
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  int64_t ms = 0, off_s = 0;
  int offset = 0;
  const char *r = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (r) {
    /* a fraction of a second (".123", JavaScript's toISOString) and a UTC offset ("+00:00",
     * Python's isoformat) are ISO-8601 too */
    if (*r == '.' && r[1] >= '0' && r[1] <= '9') {
      int scale = 100;
      for (r++; *r >= '0' && *r <= '9'; r++, scale /= 10) ms += (*r - '0') * scale;
    }
    /* an offset is under a day (RFC 3339's time-hour, 00-23): +25:00 was read as 25 hours */
    if ((*r == '+' || *r == '-') && r[1] >= '0' && r[1] <= '2' && r[2] >= '0' && r[2] <= (r[1] == '2' ? '3' : '9') &&
        r[3] == ':' &&
        r[4] >= '0' && r[4] <= '5' && r[5] >= '0' && r[5] <= '9' && !r[6]) {
      off_s = ((r[1] - '0') * 10 + (r[2] - '0')) * 3600 + ((r[4] - '0') * 10 + (r[5] - '0')) * 60;
      if (*r == '-') off_s = -off_s;
      r += 6;
      offset = 1;
    }
  } else {
    memset(&tm, 0, sizeof tm);
    r = strptime(s, "%Y-%m-%d", &tm);
  }
  if (!r || tm.tm_sec > 60) return -1; /* glibc's strptime takes a 61st second; a leap second is 60 */
  if (*r == 'Z' && !offset) r++;
  if (*r) return -1;
  /* a day the month does not have (2024-02-30, 2023-02-29, 2024-04-31) is not a date: timegm
   * would roll it into the next month, and a range would start days away from the one asked */
  int mday = tm.tm_mday, mon = tm.tm_mon;
  time_t t = timegm(&tm);
  if (tm.tm_mday != mday || tm.tm_mon != mon) return -1;
  return ((int64_t)t - off_s) * 1000 + ms;
}

int prefix_glob_match(const char *pattern, const char *value) {
  if (!pattern || !value) return 0;
  size_t n = strlen(pattern);
  if (n > 0 && pattern[n - 1] == '*') return strncmp(pattern, value, n - 1) == 0;
  return strcmp(pattern, value) == 0;
}

size_t utf8_prefix_bytes(const char *s, size_t n) {
  size_t i = 0;
  for (size_t chars = 0; s[i]; i++) {
    if (((unsigned char)s[i] & 0xC0) == 0x80) continue; /* a continuation byte */
    if (chars++ == n) break;
  }
  return i;
}

void utf8_fix(char *s) {
  unsigned char *p = (unsigned char *)s;
  while (*p) {
    unsigned c = *p;
    size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    int ok = n > 0;
    for (size_t i = 1; ok && i < n; i++)
      ok = p[i] >= (i == 1 ? lo : 0x80) && p[i] <= (i == 1 ? hi : 0xBF);
    if (!ok) {
      *p++ = '?';
      continue;
    }
    p += n;
  }
}

/* ---- base64 (RFC 4648, standard alphabet, padded) ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t n, size_t *outlen) {
  const unsigned char *in = data;
  char *out = xmalloc(4 * ((n + 2) / 3) + 1), *o = out;
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    *o++ = b64chars[v >> 18];
    *o++ = b64chars[(v >> 12) & 63];
    *o++ = b64chars[(v >> 6) & 63];
    *o++ = b64chars[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
    *o++ = b64chars[v >> 18];
    *o++ = b64chars[(v >> 12) & 63];
    *o++ = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  *o = 0;
  if (outlen) *outlen = (size_t)(o - out);
  return out;
}

static int b64_val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

unsigned char *base64_decode(const char *s, size_t n, size_t *outlen) {
  if (n % 4) return NULL;
  unsigned char *out = xmalloc(n / 4 * 3 + 1), *o = out;
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; j++) {
      unsigned char c = (unsigned char)s[i + j];
      if (c == '=' && i + 4 == n && j >= 2) {
        v[j] = 0;
        pad++;
        continue;
      }
      v[j] = b64_val(c);
      if (v[j] < 0 || pad) {
        free(out);
        return NULL;
      }
    }
    uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    *o++ = (unsigned char)(x >> 16);
    if (pad < 2) *o++ = (unsigned char)(x >> 8);
    if (pad < 1) *o++ = (unsigned char)x;
  }
  *outlen = (size_t)(o - out);
  *o = 0;
  return out;
}

void hex_encode(const void *data, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  const unsigned char *d = data;
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[d[i] >> 4];
    out[2 * i + 1] = digits[d[i] & 15];
  }
  out[2 * n] = 0;
}

int target_nodes_parse(const char *t, int n, int *lo, int *hi) {
  char *end;
  if (!t || !*t) return -1;
  const char *colon = strchr(t, ':');
  if (!colon) {
    long v = strtol(t, &end, 10);
    if (*end || v < 0) return -1;
    *lo = *hi = (int)v;
    return 0;
  }
  *lo = 0;
  *hi = n - 1;
  if (colon != t) {
    long v = strtol(t, &end, 10);
    if (end != colon || v < 0) return -1;
    *lo = (int)v;
  }
  if (colon[1]) {
    long v = strtol(colon + 1, &end, 10);
    if (*end || v < 0) return -1;
    *hi = (int)v;
  }
  return *lo <= *hi ? 0 : -1;
}

/* ---- the BARGE_* environment (util.h) ---- */

/* A schema registry URL: "" (none), or http(s)://HOST... without blanks. One without a scheme
 * ("registry:8080") failed only at the first submission, after three tries, as
 * BARGE_ERR_REGISTRY. */
int registry_url_ok(const char *u) {
  if (!*u) return 1;
  size_t skip = !strncmp(u, "http://", 7) ? 7 : !strncmp(u, "https://", 8) ? 8 : 0;
  if (!skip || !u[skip] || u[skip] == '/' || u[skip] == ':') return 0;
  for (const char *p = u; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f) return 0;
  return 1;
}

static int seconds_ok(const char *v) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  return *v >= '0' && *v <= '9' && !*end && !errno && n >= 1 && n <= 0x7fffffff;
}

static int log_ok(const char *v) {
  return !strcmp(v, "debug") || !strcmp(v, "info") || !strcmp(v, "warn") || !strcmp(v, "error");
}

/* An ARN part (BARGE_PARTITION, BARGE_REGION, BARGE_ACCOUNT): 1 to 63 letters, digits or '-'; a
 * ':' or '/' in one made every ARN Barge wrote unreadable as an ARN. */
static int arn_part_ok(const char *v) {
  size_t n = strlen(v);
  if (n > 63) return 0;
  for (const char *p = v; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-')) return 0;
  return 1;
}

/* The environment variables with a fixed form (docs/configuration.md). Unset or empty: the
 * default. */
static const struct {
  const char *name;
  int (*ok)(const char *);
  const char *want;
} env_vars[] = {
    {"BARGE_SCHEMA_REGISTRY_URL", registry_url_ok, "an http:// or https:// URL of a schema registry"},
    {"BARGE_MIN_ATTEMPT_DURATION_SECONDS", seconds_ok, "a whole number of seconds, 1 or more (unset: 60)"},
    {"BARGE_LOG", log_ok, "debug, info, warn or error (unset: info)"},
    {"BARGE_PARTITION", arn_part_ok, "1 to 63 letters, digits or '-' (unset: aws)"},
    {"BARGE_REGION", arn_part_ok, "1 to 63 letters, digits or '-' (unset: us-east-1)"},
    {"BARGE_ACCOUNT", arn_part_ok, "1 to 63 letters, digits or '-' (unset: 000000000000)"},
};

int env_config_check(char *err, size_t errlen) {
  for (size_t i = 0; i < sizeof env_vars / sizeof *env_vars; i++) {
    const char *v = getenv(env_vars[i].name);
    if (v && *v && !env_vars[i].ok(v)) {
      snprintf(err, errlen, "$%s is \"%.100s%s\": it must be %s; fix or unset it", env_vars[i].name, v,
               strlen(v) > 100 ? "...(cut)" : "", env_vars[i].want);
      return -1;
    }
  }
  return 0;
}
