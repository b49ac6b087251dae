/* logs_api.c: the CloudWatch Logs subset for job logs (logs_api.h): requests, tokens, paging
 * and filter patterns over a struct logs_source. No I/O of its own. */
#include "logs_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "jsonget.h"
#include "views.h"

/* Frees the strings one stream owns (logs_streams_add copied them). */
static void stream_strings_free(struct logs_stream *x) {
  free(x->name);
  free(x->job_id);
  free(x->rel_path);
  free(x->local_path);
  free(x->instance_id);
  free(x->group);
}

void logs_streams_release(struct logs_streams *s) {
  for (size_t i = 0; i < s->n; i++) stream_strings_free(&s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

void logs_streams_add(struct logs_streams *all, const struct logs_stream *s) {
  all->v = xrealloc(all->v, (all->n + 1) * sizeof *all->v);
  struct logs_stream *x = &all->v[all->n++];
  *x = *s;
  x->name = xstrdup(s->name);
  x->job_id = xstrdup(s->job_id);
  x->rel_path = xstrdup(s->rel_path);
  x->local_path = dup_or_null(s->local_path);
  x->instance_id = dup_or_null(s->instance_id);
  x->group = dup_or_null(s->group);
}

/* ---------------------------------------------------------------------------- errors -- */

struct answer {
  const char **type;
  char *msg;
  size_t msglen;
};

static int fail(const struct answer *a, int status, const char *type, const char *fmt, ...) BARGE_PRINTF(4, 5);
static int fail(const struct answer *a, int status, const char *type, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->msg, a->msglen, fmt, ap);
  va_end(ap);
  *a->type = type;
  return status;
}

#define INVALID(a, ...) fail(a, 400, "InvalidParameterException", __VA_ARGS__)

#define GROUP_MAX 512 /* CloudWatch's longest log group name */

/* The log group of req (logGroupName or logGroupIdentifier, a name or an ARN) into group. Every
 * stream is in LOGS_GROUP; a stream whose job's logConfiguration names another group
 * (awslogs-group) is in that one too (in_group), so whether a group exists is known only from
 * the streams. */
static int check_group(const json_t *req, char *group, const struct answer *a) {
  const char *g = jget_str(req, "logGroupName");
  if (!g) g = jget_str(req, "logGroupIdentifier");
  if (!g) return INVALID(a, "1 validation error detected: Value null at 'logGroupName' failed to satisfy constraint: Member must not be null");
  const char *tail = strstr(g, ":log-group:"); /* an ARN names the group too */
  if (tail) g = tail + strlen(":log-group:");
  size_t n = strlen(g);
  if (n > 2 && !strcmp(g + n - 2, ":*")) n -= 2;
  if (n == 0 || n >= GROUP_MAX) return fail(a, 400, "ResourceNotFoundException", "The specified log group does not exist.");
  memcpy(group, g, n);
  group[n] = 0;
  return 0;
}

static int in_group(const char *group, const struct logs_stream *s) {
  return !strcmp(group, LOGS_GROUP) || (s->group && !strcmp(s->group, group));
}

/* Keeps the streams of all that are in group; 0, or ResourceNotFoundException (all released)
 * when none is and the group is not LOGS_GROUP: no job names that group. */
static int keep_group(struct logs_streams *all, const char *group, const struct answer *a) {
  if (!strcmp(group, LOGS_GROUP)) return 0;
  size_t k = 0;
  for (size_t i = 0; i < all->n; i++) {
    if (in_group(group, &all->v[i])) {
      all->v[k++] = all->v[i];
      continue;
    }
    stream_strings_free(&all->v[i]); /* dropped: its strings go, the array stays */
  }
  all->n = k;
  if (!k) {
    logs_streams_release(all);
    return fail(a, 400, "ResourceNotFoundException", "The specified log group does not exist.");
  }
  return 0;
}

/* An optional integer member in [lo, hi] (def when absent). */
static int int_member(const json_t *req, const char *name, int64_t lo, int64_t hi, int64_t def, int64_t *out,
                      const struct answer *a) {
  const json_t *v = json_object_get(req, name);
  *out = def;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_integer(v)) return INVALID(a, "%s must be an integer", name);
  *out = json_integer_value(v);
  if (*out < lo || *out > hi)
    return INVALID(a, "1 validation error detected: Value '%lld' at '%s' failed to satisfy constraint: Member must have value between %lld and %lld",
                   (long long)*out, name, (long long)lo, (long long)hi);
  return 0;
}

/* ---------------------------------------------------------------------------- events -- */

/* A stream's text cut into lines: each '\n'-ended line is one event, and so is a last line
 * without one. */
struct lines {
  char *text;
  size_t len;
  size_t *off; /* n + 1 entries: line i is text[off[i] .. off[i+1]), its '\n' dropped */
  size_t n;
  int64_t *ts; /* n entries: line i's timestamp */
};

/* Dates every line from the time index (logs_api.h): the first "<size> <ms>" whose size reaches
 * the line's end, the last one past it, never below started_at nor below the line before. */
static void lines_date(struct lines *l, const char *times, int64_t started_at) {
  l->ts = xmalloc((l->n + 1) * sizeof *l->ts);
  const char *p = times;
  long long size = -1, at = started_at, last = started_at;
  int more = p != NULL;
  for (size_t i = 0; i < l->n; i++) {
    while (more && size < (long long)l->off[i + 1]) {
      char *end;
      long long sz = strtoll(p, &end, 10), t = end != p ? strtoll(end, &end, 10) : 0;
      if (end == p || *end != '\n') { /* the end, or a line cut while being written */
        more = 0;
        size = -1;
        at = last;
        break;
      }
      p = end + 1;
      size = sz;
      at = t > last ? t : last;
    }
    l->ts[i] = more ? at : last;
    last = l->ts[i];
  }
}

static void lines_cut(struct lines *l) {
  size_t cap = 16;
  l->off = xmalloc(cap * sizeof *l->off);
  l->n = 0;
  l->off[0] = 0;
  for (size_t i = 0; i < l->len;) {
    const char *nl = memchr(l->text + i, '\n', l->len - i);
    size_t next = nl ? (size_t)(nl - l->text) + 1 : l->len;
    if (l->n + 2 > cap) l->off = xrealloc(l->off, (cap *= 2) * sizeof *l->off);
    l->off[++l->n] = next;
    i = next;
  }
}

static void lines_release(struct lines *l) {
  free(l->text);
  free(l->off);
  free(l->ts);
}

/* Line i as a JSON string: a NUL or a byte that is not UTF-8 becomes '?'. */
static json_t *line_string(const struct lines *l, size_t i, size_t *bytes) {
  size_t b = l->off[i], e = l->off[i + 1];
  if (e > b && l->text[e - 1] == '\n') e--;
  char *s = xmalloc(e - b + 1);
  memcpy(s, l->text + b, e - b);
  s[e - b] = 0;
  for (size_t k = 0; k < e - b; k++)
    if (!s[k]) s[k] = '?';
  utf8_fix(s);
  *bytes = e - b;
  json_t *j = json_stringn(s, e - b);
  free(s);
  return j;
}

static json_t *event(const struct logs_stream *s, const struct lines *l, size_t i, int with_stream, size_t *bytes) {
  json_t *ev = json_object();
  if (with_stream) json_object_set_new(ev, "logStreamName", json_string(s->name));
  json_object_set_new(ev, "timestamp", json_integer(l->ts[i]));
  json_object_set_new(ev, "message", line_string(l, i, bytes));
  json_object_set_new(ev, "ingestionTime", json_integer(l->ts[i]));
  if (with_stream) {
    char id[600];
    snprintf(id, sizeof id, "%s/%d/%zu", s->job_id, s->attempt, i);
    json_object_set_new(ev, "eventId", json_string(id));
  }
  return ev;
}

/* Whether a time falls in [startTime, endTime) (end < 0: no end). */
static int in_window(int64_t t, int64_t start, int64_t end) { return t >= start && (end < 0 || t < end); }

static int read_lines(const struct logs_source *src, const struct logs_stream *s, struct lines *l,
                      const struct answer *a) {
  memset(l, 0, sizeof *l);
  char e[512] = "", *times = NULL;
  if (src->read(src->ctx, s, &l->text, &l->len, &times, e, sizeof e))
    return fail(a, 500, "ServiceUnavailableException", "The log of %s attempt %d cannot be read: %s", s->job_id,
                s->attempt, e);
  lines_cut(l);
  lines_date(l, times, s->started_at);
  free(times);
  return 0;
}

static int list_streams(const struct logs_source *src, struct logs_streams *all, const struct answer *a) {
  memset(all, 0, sizeof *all);
  char e[512] = "";
  if (src->list(src->ctx, all, e, sizeof e)) {
    logs_streams_release(all);
    return fail(a, 500, "ServiceUnavailableException", "Listing the job log streams failed: %s", e);
  }
  return 0;
}

static const struct logs_stream *find_stream(const struct logs_streams *all, const char *name) {
  for (size_t i = 0; name && i < all->n; i++)
    if (!strcmp(all->v[i].name, name)) return &all->v[i];
  return NULL;
}

/* The streams names[0..n) (each once), asked of the source one by one when it can find them
 * (O(names)), else picked from its whole list. */
static int named_streams(const struct logs_source *src, const char *const *names, size_t n,
                         struct logs_streams *all, const struct answer *a) {
  if (!src->find) return list_streams(src, all, a);
  memset(all, 0, sizeof *all);
  char e[512] = "";
  for (size_t i = 0; i < n; i++) {
    if (find_stream(all, names[i])) continue;
    if (src->find(src->ctx, names[i], all, e, sizeof e)) {
      logs_streams_release(all);
      return fail(a, 500, "ServiceUnavailableException", "Finding the job log stream failed: %s", e);
    }
  }
  return 0;
}

/* ---------------------------------------------------------------------- GetLogEvents -- */

/* "f/<n>" or "b/<n>": *dir 'f' or 'b', *pos n. */
static int parse_token(const char *t, char *dir, int64_t *pos) {
  if (!t || (t[0] != 'f' && t[0] != 'b') || t[1] != '/' || !t[2]) return -1;
  char *end;
  long long v = strtoll(t + 2, &end, 10);
  if (*end || v < 0) return -1;
  *dir = t[0];
  *pos = v;
  return 0;
}

static json_t *token(char dir, size_t pos) {
  char t[40];
  snprintf(t, sizeof t, "%c/%020zu", dir, pos);
  return json_string(t);
}

/* Events [from, to) of lines that fit limit and the 1 MB cap: forward from `from`, or (backward)
 * the last ones before `to`. Adjusts the bound it does not anchor. */
static json_t *event_page(const struct logs_stream *s, const struct lines *l, int forward, size_t *from, size_t *to,
                          int64_t limit) {
  json_t *evs = json_array();
  size_t bytes = 0, k = 0, b;
  if (forward) {
    size_t i = *from;
    for (; i < *to && (int64_t)k < limit; i++, k++) {
      json_t *ev = event(s, l, i, 0, &b);
      if (k && bytes + b + LOGS_EVENT_OVERHEAD > LOGS_MAX_RESPONSE_BYTES) {
        json_decref(ev);
        break;
      }
      bytes += b + LOGS_EVENT_OVERHEAD;
      json_array_append_new(evs, ev);
    }
    *to = i;
  } else {
    size_t i = *to;
    for (; i > *from && (int64_t)k < limit; i--, k++) {
      json_t *ev = event(s, l, i - 1, 0, &b);
      if (k && bytes + b + LOGS_EVENT_OVERHEAD > LOGS_MAX_RESPONSE_BYTES) {
        json_decref(ev);
        break;
      }
      bytes += b + LOGS_EVENT_OVERHEAD;
      json_array_insert_new(evs, 0, ev);
    }
    *from = i;
  }
  return evs;
}

static int get_log_events(const struct logs_source *src, const json_t *req, json_t **resp, const struct answer *a) {
  int rc;
  int64_t limit, start, end;
  char group[GROUP_MAX];
  if ((rc = check_group(req, group, a))) return rc;
  const char *name = jget_str(req, "logStreamName");
  if (!name) return INVALID(a, "1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: Member must not be null");
  if ((rc = int_member(req, "limit", 1, LOGS_MAX_EVENTS, LOGS_MAX_EVENTS, &limit, a)) ||
      (rc = int_member(req, "startTime", 0, INT64_MAX, 0, &start, a)) ||
      (rc = int_member(req, "endTime", 0, INT64_MAX, -1, &end, a)))
    return rc;
  const char *tok = jget_str(req, "nextToken");
  char dir = 0;
  int64_t pos = 0;
  if (tok && parse_token(tok, &dir, &pos)) return INVALID(a, "The specified nextToken is not valid.");
  int head = jget_bool(req, "startFromHead", 0);
  struct logs_streams all;
  if ((rc = named_streams(src, &name, 1, &all, a))) return rc;
  const struct logs_stream *s = find_stream(&all, name);
  struct lines l = {0};
  if (!s || !in_group(group, s)) { /* of another group than its job names: taken as a group no job names */
    rc = fail(a, 400, "ResourceNotFoundException", strcmp(group, LOGS_GROUP) ? "The specified log group does not exist." : "The specified log stream does not exist.");
    goto out;
  }
  if ((rc = read_lines(src, s, &l, a))) goto out;
  /* the lines in [startTime, endTime): a run, since times do not decrease along a stream */
  size_t lo = 0, hi;
  while (lo < l.n && l.ts[lo] < start) lo++;
  for (hi = lo; hi < l.n && in_window(l.ts[hi], start, end);) hi++;
  size_t from = lo, to = hi;
  int forward = dir ? dir == 'f' : head;
  if (dir == 'f') from = (size_t)pos < lo ? lo : (size_t)pos < hi ? (size_t)pos : hi;
  if (dir == 'b') to = (size_t)pos < lo ? lo : (size_t)pos < hi ? (size_t)pos : hi;
  json_t *evs = event_page(s, &l, forward, &from, &to, limit);
  *resp = json_pack("{s:o, s:o, s:o}", "events", evs, "nextForwardToken", token('f', to), "nextBackwardToken",
                    token('b', from));
  rc = 200;
out:
  lines_release(&l);
  logs_streams_release(&all);
  return rc;
}

/* ------------------------------------------------------------------- FilterLogEvents -- */

/* A filter pattern: terms that must all appear, "?term"s of which one must appear, "-term"s that
 * must not, or one "quoted phrase". JSON and space-delimited patterns ({...}, [...]) are not
 * supported. */
struct pattern {
  json_t *all, *any, *none; /* arrays of strings */
};

static int pattern_parse(const char *p, struct pattern *pt, const struct answer *a) {
  pt->all = json_array();
  pt->any = json_array();
  pt->none = json_array();
  if (!p) return 0;
  while (*p == ' ') p++;
  if (*p == '{' || *p == '[')
    return INVALID(a, "Barge supports text filter patterns (terms, ?term, -term, \"a phrase\"), not JSON or space-delimited ones");
  while (*p) {
    json_t *into = pt->all;
    if (*p == '?') into = pt->any, p++;
    else if (*p == '-') into = pt->none, p++;
    size_t n;
    if (*p == '"') {
      const char *q = strchr(p + 1, '"');
      if (!q) return INVALID(a, "Invalid filter pattern: an unclosed quote");
      json_array_append_new(into, json_stringn(p + 1, (size_t)(q - p - 1)));
      p = q + 1;
    } else {
      n = strcspn(p, " ");
      if (n) json_array_append_new(into, json_stringn(p, n));
      p += n;
    }
    while (*p == ' ') p++;
  }
  return 0;
}

static void pattern_release(struct pattern *pt) {
  json_decref(pt->all);
  json_decref(pt->any);
  json_decref(pt->none);
}

static int has(const char *hay, size_t n, const json_t *term) {
  const char *t = json_string_value(term);
  size_t tl = json_string_length(term);
  if (!tl) return 1;
  for (size_t i = 0; i + tl <= n; i++)
    if (hay[i] == t[0] && !memcmp(hay + i, t, tl)) return 1;
  return 0;
}

static int pattern_match(const struct pattern *pt, const char *s, size_t n) {
  size_t i;
  json_t *t;
  json_array_foreach(pt->all, i, t) if (!has(s, n, t)) return 0;
  json_array_foreach(pt->none, i, t) if (has(s, n, t)) return 0;
  if (!json_array_size(pt->any)) return 1;
  json_array_foreach(pt->any, i, t) if (has(s, n, t)) return 1;
  return 0;
}

static int by_name(const void *x, const void *y) {
  return strcmp(((const struct logs_stream *)x)->name, ((const struct logs_stream *)y)->name);
}

/* Which streams FilterLogEvents searches: sel[i] = 1. */
static int filter_select(const json_t *req, const struct logs_streams *all, char *sel, const struct answer *a) {
  const json_t *names = json_object_get(req, "logStreamNames");
  const char *prefix = jget_str(req, "logStreamNamePrefix");
  if (names && prefix) return INVALID(a, "logStreamNames and logStreamNamePrefix cannot both be given");
  if (names && (!json_is_array(names) || json_array_size(names) < 1 || json_array_size(names) > 100))
    return INVALID(a, "logStreamNames takes 1 to 100 stream names");
  for (size_t i = 0; i < all->n; i++) {
    sel[i] = !names && (!prefix || !strncmp(all->v[i].name, prefix, strlen(prefix)));
    size_t k;
    json_t *nm;
    json_array_foreach(names, k, nm) if (json_is_string(nm) && !strcmp(json_string_value(nm), all->v[i].name)) sel[i] = 1;
  }
  return 0;
}

/* The streams FilterLogEvents may search: those of logStreamNames when it names them (well
 * formed: filter_select checks it), else every one. */
static int filter_streams(const struct logs_source *src, const json_t *req, struct logs_streams *all,
                          const struct answer *a) {
  const json_t *names = json_object_get(req, "logStreamNames");
  size_t n = json_array_size(names);
  if (!json_is_array(names) || n < 1 || n > 100 || json_object_get(req, "logStreamNamePrefix"))
    return list_streams(src, all, a);
  const char *v[100];
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (json_is_string(json_array_get(names, i))) v[k++] = json_string_value(json_array_get(names, i));
  return named_streams(src, v, k, all, a);
}

/* The filter token is "<line>:<stream name>": resume that stream at that line. */
static int filter_token(const char *tok, size_t *line, const char **stream) {
  char *end;
  unsigned long long v = strtoull(tok, &end, 10);
  if (end == tok || *end != ':') return -1;
  *line = (size_t)v;
  *stream = end + 1;
  return 0;
}

struct filter_walk {
  const struct pattern *pt;
  int64_t start, end, limit;
  json_t *events, *searched;
  size_t count, bytes;
  int full; /* the page is full: resume at next_line of next_stream */
  size_t next_line;
  const char *next_stream;
};

static void filter_stream(struct filter_walk *w, const struct logs_stream *s, const struct lines *l, size_t first) {
  size_t i = first;
  for (; i < l->n; i++) {
    if (!in_window(l->ts[i], w->start, w->end)) continue;
    size_t b = l->off[i], e = l->off[i + 1];
    if (e > b && l->text[e - 1] == '\n') e--;
    if (!pattern_match(w->pt, l->text + b, e - b)) continue;
    if ((int64_t)w->count == w->limit || (w->count && w->bytes + (e - b) + LOGS_EVENT_OVERHEAD > LOGS_MAX_RESPONSE_BYTES)) {
      w->full = 1;
      break;
    }
    size_t bytes;
    json_array_append_new(w->events, event(s, l, i, 1, &bytes));
    w->count++;
    w->bytes += bytes + LOGS_EVENT_OVERHEAD;
  }
  json_array_append_new(w->searched, json_pack("{s:s, s:b}", "logStreamName", s->name, "searchedCompletely", !w->full));
  if (w->full) {
    w->next_line = i;
    w->next_stream = s->name;
  }
}

static int filter_log_events(const struct logs_source *src, const json_t *req, json_t **resp, const struct answer *a) {
  int rc;
  struct filter_walk w = {0};
  char group[GROUP_MAX];
  if ((rc = check_group(req, group, a))) return rc;
  if ((rc = int_member(req, "limit", 1, LOGS_MAX_EVENTS, LOGS_MAX_EVENTS, &w.limit, a)) ||
      (rc = int_member(req, "startTime", 0, INT64_MAX, 0, &w.start, a)) ||
      (rc = int_member(req, "endTime", 0, INT64_MAX, -1, &w.end, a)))
    return rc;
  size_t first_line = 0;
  const char *first_stream = NULL, *tok = jget_str(req, "nextToken");
  if (tok && filter_token(tok, &first_line, &first_stream)) return INVALID(a, "The specified nextToken is not valid.");
  struct pattern pt;
  if ((rc = pattern_parse(jget_str(req, "filterPattern"), &pt, a))) {
    pattern_release(&pt);
    return rc;
  }
  w.pt = &pt;
  struct logs_streams all;
  if ((rc = filter_streams(src, req, &all, a)) || (rc = keep_group(&all, group, a))) {
    pattern_release(&pt);
    return rc;
  }
  qsort(all.v, all.n, sizeof *all.v, by_name);
  char *sel = xcalloc(all.n + 1, 1);
  if ((rc = filter_select(req, &all, sel, a))) goto out;
  w.events = json_array();
  w.searched = json_array();
  for (size_t i = 0; i < all.n && !w.full; i++) {
    const struct logs_stream *s = &all.v[i];
    int cmp = first_stream ? strcmp(s->name, first_stream) : 1;
    if (!sel[i] || cmp < 0) continue;
    struct lines l;
    if (w.end >= 0 && s->started_at >= w.end) continue; /* no line is older than its attempt */
    if ((rc = read_lines(src, s, &l, a))) goto out;
    filter_stream(&w, s, &l, cmp == 0 ? first_line : 0);
    lines_release(&l);
  }
  *resp = json_pack("{s:O, s:O}", "events", w.events, "searchedLogStreams", w.searched);
  if (w.full) {
    char t[1200];
    snprintf(t, sizeof t, "%zu:%s", w.next_line, w.next_stream);
    json_object_set_new(*resp, "nextToken", json_string(t));
  }
  rc = 200;
out:
  json_decref(w.events);
  json_decref(w.searched);
  free(sel);
  logs_streams_release(&all);
  pattern_release(&pt);
  return rc;
}

/* ---------------------------------------------------------------- DescribeLogStreams -- */

struct keyed {
  char key[600]; /* what the order sorts by; the next page starts after the token's key */
  const struct logs_stream *s;
};

static int by_key(const void *x, const void *y) {
  return strcmp(((const struct keyed *)x)->key, ((const struct keyed *)y)->key);
}

/* A stream's last event time without reading it: its attempt's stop, or start while it runs. */
static int64_t last_time(const struct logs_stream *s) { return s->stopped_at ? s->stopped_at : s->started_at; }

static json_t *stream_json(const struct logs_stream *s, const char *group) {
  char arn[1400];
  snprintf(arn, sizeof arn, "arn:aws:logs:%s:%s:log-group:%s:log-stream:%s", barge_region(), barge_account(),
           group, s->name);
  int64_t last = last_time(s);
  return json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:i}", "logStreamName", s->name, "creationTime",
                   (json_int_t)s->started_at, "firstEventTimestamp", (json_int_t)s->started_at, "lastEventTimestamp",
                   (json_int_t)last, "lastIngestionTime", (json_int_t)last, "arn", arn, "storedBytes", 0);
}

static int describe_log_streams(const struct logs_source *src, const json_t *req, json_t **resp,
                                const struct answer *a) {
  int rc;
  int64_t limit;
  char group[GROUP_MAX];
  if ((rc = check_group(req, group, a))) return rc;
  if ((rc = int_member(req, "limit", 1, LOGS_MAX_STREAMS_PAGE, LOGS_MAX_STREAMS_PAGE, &limit, a))) return rc;
  const char *prefix = jget_str(req, "logStreamNamePrefix"), *order = jget_str(req, "orderBy");
  const char *tok = jget_str(req, "nextToken");
  int by_time = 0, desc = jget_bool(req, "descending", 0);
  if (order && !strcmp(order, "LastEventTime")) by_time = 1;
  else if (order && strcmp(order, "LogStreamName"))
    return INVALID(a, "orderBy must be LogStreamName or LastEventTime, got %.100s", order);
  if (by_time && prefix) return INVALID(a, "Cannot order by LastEventTime with a logStreamNamePrefix.");
  struct logs_streams all;
  if ((rc = list_streams(src, &all, a)) || (rc = keep_group(&all, group, a))) return rc;
  struct keyed *k = xcalloc(all.n + 1, sizeof *k);
  size_t n = 0;
  for (size_t i = 0; i < all.n; i++) {
    const struct logs_stream *s = &all.v[i];
    if (prefix && strncmp(s->name, prefix, strlen(prefix))) continue;
    if (by_time) snprintf(k[n].key, sizeof k[n].key, "%020lld/%s", (long long)last_time(s), s->name);
    else snprintf(k[n].key, sizeof k[n].key, "%s", s->name);
    k[n++].s = s;
  }
  qsort(k, n, sizeof *k, by_key);
  json_t *out = json_array();
  size_t shown = 0;
  const char *last = NULL;
  for (size_t j = 0; j < n; j++) {
    const struct keyed *x = &k[desc ? n - 1 - j : j];
    if (tok && (desc ? strcmp(x->key, tok) >= 0 : strcmp(x->key, tok) <= 0)) continue;
    if ((int64_t)shown == limit) break;
    json_array_append_new(out, stream_json(x->s, group));
    last = x->key;
    shown++;
  }
  *resp = json_pack("{s:o}", "logStreams", out);
  /* a next page exists when some key lies beyond the last one shown */
  int more = 0;
  for (size_t j = 0; last && j < n && !more; j++) more = desc ? strcmp(k[j].key, last) < 0 : strcmp(k[j].key, last) > 0;
  if (more) json_object_set_new(*resp, "nextToken", json_string(last));
  free(k);
  logs_streams_release(&all);
  return 200;
}

/* ------------------------------------------------------------------------- dispatch -- */

int logs_call(const struct logs_source *src, const char *action, const json_t *req, json_t **resp,
              const char **error_type, char *msg, size_t msglen) {
  struct answer a = {error_type, msg, msglen};
  *resp = NULL;
  *error_type = NULL;
  *msg = 0;
  int (*fn)(const struct logs_source *, const json_t *, json_t **, const struct answer *) = NULL;
  if (!strcmp(action, "GetLogEvents")) fn = get_log_events;
  else if (!strcmp(action, "FilterLogEvents")) fn = filter_log_events;
  else if (!strcmp(action, "DescribeLogStreams")) fn = describe_log_streams;
  if (!fn)
    return fail(&a, 400, "UnknownOperationException",
                "Barge serves GetLogEvents, FilterLogEvents and DescribeLogStreams of CloudWatch Logs, not %.100s", action);
  if (!src) return fail(&a, 500, "ServiceUnavailableException", "Job logs are not wired to this server");
  return fn(src, req, resp, &a);
}
