/* logpath.c: the layout of the attempts' logs below a log dir (logpath.h). */
#include "logpath.h"

#include <stdio.h>
#include <string.h>

/* The array child's parent id length when job_id is <parent>:<digits>, else 0. */
static size_t child_split(const char *job_id) {
  const char *c = strrchr(job_id, ':');
  if (!c || c == job_id || !c[1] || strspn(c + 1, "0123456789") != strlen(c + 1)) return 0;
  return (size_t)(c - job_id);
}

/* Appends s[0..len) as one path part: '/' as '_'; "." and ".." as "_". */
static size_t put_part(char *out, size_t n, size_t at, const char *s, size_t len) {
  if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) {
    s = "_";
    len = 1;
  }
  for (size_t i = 0; i < len; i++, at++)
    if (at + 1 < n) out[at] = s[i] == '/' ? '_' : s[i];
  return at;
}

int logpath_rel(const char *job_id, int attempt, char *out, size_t n) {
  if (!n) return -1;
  size_t split = child_split(job_id), at;
  char tail[48];
  if (split) {
    at = put_part(out, n, 0, job_id, split);
    snprintf(tail, sizeof tail, "/%s.%d.log", job_id + split + 1, attempt);
  } else {
    at = put_part(out, n, 0, job_id, strlen(job_id));
    snprintf(tail, sizeof tail, "/%d.log", attempt);
  }
  size_t tl = strlen(tail);
  if (at + tl + 1 > n) {
    out[0] = 0;
    return -1;
  }
  memcpy(out + at, tail, tl + 1);
  return 0;
}

/* The length of a decimal run of 1 to 9 digits at s, or 0. */
static size_t digits(const char *s) {
  size_t d = strspn(s, "0123456789");
  return d >= 1 && d <= 9 ? d : 0;
}

/* For a file name <n>.log or <i>.<n>.log (suffix ".log" or ".log.times" when times): the offset
 * of <n> in name, or -1. */
static long attempt_at(const char *name, int times) {
  const char *suffix = times ? ".log.times" : ".log";
  size_t d = digits(name);
  if (!d) return -1;
  if (!strcmp(name + d, suffix)) return 0;
  if (name[d] != '.') return -1;
  size_t d2 = digits(name + d + 1);
  return d2 && !strcmp(name + d + 1 + d2, suffix) ? (long)(d + 1) : -1;
}

int logpath_attempt(const char *log_path, int attempt, char *out, size_t n, size_t *rel) {
  const char *name = strrchr(log_path, '/');
  if (!name || name == log_path) return -1;
  name++;
  long at = attempt_at(name, 0);
  if (at < 0) return -1;
  const char *folder = name - 1;
  while (folder > log_path && folder[-1] != '/') folder--;
  if (folder == name - 1) return -1; /* an empty folder part */
  int w = snprintf(out, n, "%.*s%d.log", (int)(name - log_path + at), log_path, attempt);
  if (w < 0 || (size_t)w >= n) return -1;
  if (rel) *rel = (size_t)(folder - log_path);
  return 0;
}

int logpath_valid_rel(const char *rel) {
  size_t fl = strspn(rel, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_-");
  if (fl < 1 || fl > 200 || rel[fl] != '/') return 0;
  const char *name = rel + fl + 1;
  return attempt_at(name, 0) >= 0 || attempt_at(name, 1) >= 0;
}
