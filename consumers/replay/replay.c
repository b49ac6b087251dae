/* replay.c: `barge replay print` and `barge replay rebuild` (see replay.h, docs/replay.md).
 *
 * Rebuild applies, job by job, what barge.job-events says to the jobs barge.requests submitted,
 * following the rules the scheduler core uses to keep a JobDetail (scheduler/sched.c):
 *
 *   event old -> new                   rebuilt effect
 *   SUBMITTED -> *                     createdAt = at (array children: the parent's createdAt)
 *   SUBMITTED -> PENDING, array parent the children <id>:0..size-1 exist, PENDING
 *   * -> RUNNING                       startedAt = at (an array parent: the earliest child's)
 *   STARTING|RUNNING -> not RUNNING    one attempt closed; exitCode = the event's exit code
 *   * -> SUCCEEDED|FAILED              stoppedAt = at
 *   first event of a node <id>#<n>     createdAt = the parent's; the parent keeps no attempt and
 *                                      no exit code of its own (a multi-node job's nodes do)
 *   any                                status = new, statusReason = reason, attemptsOpened =
 *                                      max(attempt)
 *
 * Not derivable from events, so not compared: a reason the scheduler sets without a state change
 * (blocking codes and WAITING:... reasons, carried by barge.job-waits). */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include "jsonget.h"
#include "states.h"

void replay_range_init(struct replay_range *r) {
  r->from_ms = r->until_ms = REPLAY_NO_TIME;
  r->from_offset = r->until_offset = -1;
  r->key = NULL;
}

/* ---------------- print ---------------- */

struct print_ctx {
  const struct replay_range *r;
  const char *topic;
  json_t *rows; /* array of [timestamp, partition, offset, line] */
};

static int in_range(const struct replay_range *r, const struct bus_msg *m) {
  if (r->from_offset >= 0 && m->offset < r->from_offset) return 0;
  if (r->until_offset >= 0 && m->offset > r->until_offset) return 0;
  if (r->from_ms != REPLAY_NO_TIME && m->timestamp_ms < r->from_ms) return 0;
  if (r->until_ms != REPLAY_NO_TIME && m->timestamp_ms > r->until_ms) return 0;
  if (r->key && (!m->key || m->keylen != strlen(r->key) || memcmp(m->key, r->key, m->keylen)))
    return 0;
  return 1;
}

static void print_cb(void *vctx, const struct bus_msg *m) {
  struct print_ctx *ctx = vctx;
  if (!in_range(ctx->r, m)) return;
  json_t *o = json_object();
  json_object_set_new(o, "topic", json_string(ctx->topic));
  json_object_set_new(o, "partition", json_integer(m->partition));
  json_object_set_new(o, "offset", json_integer(m->offset));
  json_object_set_new(o, "timestamp", json_integer(m->timestamp_ms));
  /* Kafka keys are bytes: one that is not UTF-8 (any producer may write one) cannot be a JSON
   * string, so it is null with its bytes in keyBase64, as the audit file writes it */
  json_t *key = m->key ? json_stringn(m->key, m->keylen) : NULL;
  json_object_set_new(o, "key", key ? key : json_null());
  if (m->key && !key) {
    char *k64 = base64_encode(m->key, m->keylen, NULL);
    json_object_set_new(o, "keyBase64", json_string(k64));
    free(k64);
  }
  if (!m->value) {
    json_object_set_new(o, "event", json_null());
  } else {
    enum barge_ev_type t;
    json_t *ev = NULL;
    char why[512];
    if (bus_decode(m, &t, &ev, why, sizeof why)) {
      json_object_set_new(o, "event", json_null());
      json_object_set_new(o, "error", json_string(why));
    } else {
      json_object_set_new(o, "event", ev);
    }
  }
  /* keys stay in insertion order: topic, partition, offset, timestamp, key, event */
  char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
  json_decref(o);
  if (!line) { /* never a record left out without a word */
    char buf[256];
    snprintf(buf, sizeof buf, "{\"topic\":\"%s\",\"partition\":%d,\"offset\":%lld,\"event\":null,"
             "\"error\":\"cannot be printed as JSON\"}", ctx->topic, (int)m->partition, (long long)m->offset);
    line = xstrdup(buf);
  }
  json_array_append_new(ctx->rows, json_pack("[I, i, I, s]", (json_int_t)m->timestamp_ms,
                                             (int)m->partition, (json_int_t)m->offset, line));
  free(line);
}

static int row_cmp(const void *a, const void *b) {
  const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  for (size_t i = 0; i < 3; i++) {
    json_int_t u = json_integer_value(json_array_get(x, i)), v = json_integer_value(json_array_get(y, i));
    if (u != v) return u < v ? -1 : 1;
  }
  return 0;
}

int replay_print(const struct bus_conf *bc, enum bus_topic t, const struct replay_range *r,
                 FILE *out, size_t *count_out, char *err, size_t errlen) {
  char name[256];
  bus_topic_name(bc, t, name, sizeof name);
  struct print_ctx ctx = {.r = r, .topic = name, .rows = json_array()};
  struct bus_consumer *c = bus_consumer_new(bc, NULL, 1, err, errlen);
  if (!c) {
    json_decref(ctx.rows);
    return -1;
  }
  int rc = bus_read_table(c, t, print_cb, &ctx, err, errlen);
  bus_consumer_free(c);
  if (rc == 0) {
    size_t n = json_array_size(ctx.rows);
    json_t **v = xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = json_array_get(ctx.rows, i);
    qsort(v, n, sizeof *v, row_cmp);
    for (size_t i = 0; i < n; i++) fprintf(out, "%s\n", json_string_value(json_array_get(v[i], 3)));
    free(v);
    if (count_out) *count_out = n;
  }
  json_decref(ctx.rows);
  return rc ? -1 : 0;
}

/* ---------------- rebuild: the pure core ---------------- */

struct replay_rebuild {
  json_t *jobs;   /* job id -> rebuilt state (object) */
  json_t *orphan; /* job id -> true: events for a job never submitted */
  int truncated;  /* the requests or job-events no longer start at offset 0 */
};

struct replay_rebuild *replay_rebuild_new(void) {
  struct replay_rebuild *rb = xcalloc(1, sizeof *rb);
  rb->jobs = json_object();
  rb->orphan = json_object();
  return rb;
}

void replay_rebuild_set_truncated(struct replay_rebuild *rb, int truncated) { rb->truncated = truncated; }

void replay_rebuild_free(struct replay_rebuild *rb) {
  if (!rb) return;
  json_decref(rb->jobs);
  json_decref(rb->orphan);
  free(rb);
}

static json_t *new_job(const char *status) {
  return json_pack("{s:s, s:n, s:i, s:i, s:n, s:n, s:n, s:n, s:i}", "status", status,
                   "statusReason", "attempts", 0, "attemptsOpened", 0, "exitCode", "createdAt",
                   "startedAt", "stoppedAt", "events", 0);
}

int replay_rebuild_request(struct replay_rebuild *rb, const json_t *req) {
  json_t *body = json_object_get(req, "body");
  if (!json_is_object(body)) return -1;
  json_t *sub = json_object_get(body, "SubmitJob");
  if (!sub) return 0;
  const char *id = jget_str(sub, "jobId");
  if (!id || json_object_get(rb->jobs, id)) return 0; /* the scheduler ignores a duplicate too */
  if (!job_id_ok(id, 0)) return 0; /* the scheduler dead-letters it: no job (sched_handle_submit) */
  json_t *j = new_job("SUBMITTED");
  json_t *ap = json_object_get(sub, "arrayProperties");
  json_t *size = json_object_get(ap, "size");
  if (json_is_integer(size)) json_object_set(j, "arraySize", size);
  json_object_set_new(rb->jobs, id, j);
  return 0;
}

static void set_int(json_t *j, const char *k, json_t *v) {
  json_object_set(j, k, json_is_integer(v) ? v : json_null());
}

int replay_is_node_of(const char *id, const char *parent) {
  size_t n = strlen(parent);
  if (strncmp(id, parent, n) || id[n] != '#' || !id[n + 1]) return 0;
  return strspn(id + n + 1, "0123456789") == strlen(id + n + 1);
}

int replay_rebuild_event(struct replay_rebuild *rb, const json_t *ev) {
  const char *id = jget_str(ev, "jobId"), *old = jget_str(ev, "oldStatus"), *st = jget_str(ev, "newStatus");
  if (!id || !st) return -1;
  json_t *j = json_object_get(rb->jobs, id);
  if (!j) {
    const char *parent = jget_str(ev, "parentJobId");
    json_t *p = parent ? json_object_get(rb->jobs, parent) : NULL;
    if (!p) json_object_set_new(rb->orphan, id, json_true());
    j = new_job(old ? old : "SUBMITTED");
    json_object_set_new(rb->jobs, id, j);
    if (p && replay_is_node_of(id, parent)) {
      /* a node of a multi-node job: created with its parent (no SUBMITTED event of its own); the
       * parent keeps no attempt and no exit code of its own, its nodes do */
      set_int(j, "createdAt", json_object_get(p, "createdAt"));
      json_object_set_new(p, "multiNode", json_true());
      json_object_set_new(p, "attempts", json_integer(0));
      json_object_set_new(p, "exitCode", json_null());
    }
  }
  json_t *at = json_object_get(ev, "at");
  json_object_set_new(j, "events", json_integer(json_integer_value(json_object_get(j, "events")) + 1));
  json_object_set_new(j, "status", json_string(st));
  const char *reason = jget_str(ev, "statusReason");
  json_object_set_new(j, "statusReason", reason ? json_string(reason) : json_null());
  json_int_t attempt = json_integer_value(json_object_get(ev, "attempt"));
  if (attempt > json_integer_value(json_object_get(j, "attemptsOpened")))
    json_object_set_new(j, "attemptsOpened", json_integer(attempt));
  if (old && !strcmp(old, "SUBMITTED")) {
    set_int(j, "createdAt", at);
    json_t *size = json_object_get(j, "arraySize");
    if (json_is_integer(size) && !strcmp(st, "PENDING")) {
      for (json_int_t i = 0; i < json_integer_value(size); i++) {
        char cid[96];
        snprintf(cid, sizeof cid, "%s:%lld", id, (long long)i);
        if (json_object_get(rb->jobs, cid)) continue;
        json_t *c = new_job("PENDING");
        set_int(c, "createdAt", at);
        json_object_set_new(c, "parentJobId", json_string(id));
        json_object_set_new(rb->jobs, cid, c);
      }
    }
  }
  if (!strcmp(st, "RUNNING")) {
    set_int(j, "startedAt", at);
    /* an array parent starts with its earliest child */
    const char *parent = jget_str(j, "parentJobId");
    json_t *p = parent ? json_object_get(rb->jobs, parent) : NULL;
    json_t *ps = json_object_get(p, "startedAt");
    if (p && json_is_integer(at) && (!json_is_integer(ps) || json_integer_value(at) < json_integer_value(ps)))
      json_object_set(p, "startedAt", at);
  }
  if (old && (!strcmp(old, "STARTING") || !strcmp(old, "RUNNING")) && strcmp(st, "RUNNING") &&
      !json_object_get(j, "multiNode")) {
    json_object_set_new(j, "attempts", json_integer(json_integer_value(json_object_get(j, "attempts")) + 1));
    set_int(j, "exitCode", json_object_get(ev, "exitCode"));
  }
  if (job_status_terminal(st)) set_int(j, "stoppedAt", at);
  return 0;
}

json_t *replay_rebuild_job(struct replay_rebuild *rb, const char *job_id) {
  json_t *j = json_object_get(rb->jobs, job_id);
  return j ? json_deep_copy(j) : NULL;
}

/* A reason the scheduler sets without a state change (docs/job-model.md §3.5, §3.7): a blocking
 * code, or a WAITING:... reason (on barge.job-waits, which rebuild does not read). */
static int is_blocking_code(const char *r) {
  return r && (!strncmp(r, "MISCONFIGURATION:", 17) || !strncmp(r, "ACTION_REQUIRED", 15) ||
               !strncmp(r, "CAPACITY:", 9) || !strncmp(r, "WAITING:", 8));
}

static void add_diff(json_t *diffs, const char *id, const char *field, json_t *rebuilt,
                     json_t *recorded) {
  json_array_append_new(diffs, json_pack("{s:s, s:s, s:O, s:O}", "jobId", id, "field", field,
                                         "rebuilt", rebuilt ? rebuilt : json_null(), "recorded",
                                         recorded ? recorded : json_null()));
}

static void cmp_field(json_t *diffs, const char *id, const char *field, json_t *rebuilt,
                      json_t *recorded) {
  if (rebuilt && json_is_null(rebuilt)) rebuilt = NULL;
  if (recorded && json_is_null(recorded)) recorded = NULL;
  if (!rebuilt && !recorded) return;
  if (rebuilt && recorded && json_equal(rebuilt, recorded)) return;
  add_diff(diffs, id, field, rebuilt, recorded);
}

static int str_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void replay_rebuild_compare(struct replay_rebuild *rb, const json_t *records, int strict,
                            json_t *diffs, struct replay_rebuild_summary *sum) {
  memset(sum, 0, sizeof *sum);
  /* every job id on either side, sorted, so the report is deterministic */
  size_t cap = json_object_size(rb->jobs) + json_object_size(records) + 1, n = 0;
  const char **ids = xcalloc(cap, sizeof *ids);
  const char *k;
  json_t *v;
  json_object_foreach(rb->jobs, k, v) ids[n++] = k;
  json_object_foreach((json_t *)records, k, v) if (!json_object_get(rb->jobs, k)) ids[n++] = k;
  qsort(ids, n, sizeof *ids, str_cmp);
  size_t before = json_array_size(diffs);
  for (size_t i = 0; i < n; i++) {
    const char *id = ids[i];
    json_t *j = json_object_get(rb->jobs, id);
    json_t *rec = json_object_get(records, id);
    json_t *d = json_object_get(rec, "detail");
    /* with the log's start gone, a job without its SubmitJob or its first state change (the one
     * from SUBMITTED that sets createdAt; an array child's or node's from its parent) cannot be
     * rebuilt: not a difference */
    if (rb->truncated && rec &&
        (!j || json_object_get(rb->orphan, id) || !json_is_integer(json_object_get(j, "createdAt")))) {
      sum->not_retained++;
      continue;
    }
    sum->jobs_checked++;
    if (!j || json_object_get(rb->orphan, id)) {
      json_t *why = json_string(!j ? "absent: never submitted on barge.requests"
                                   : "job-events for a job never submitted on barge.requests");
      add_diff(diffs, id, "job", why, json_object_get(d, "status"));
      json_decref(why);
      continue;
    }
    if (!rec) {
      int handled = json_integer_value(json_object_get(j, "events")) > 0 ||
                    json_object_get(j, "parentJobId");
      if (!handled && !strict) {
        sum->unprocessed++;
        continue;
      }
      json_t *why = json_string("absent from barge.jobs");
      add_diff(diffs, id, "job", json_object_get(j, "status"), why);
      json_decref(why);
      continue;
    }
    const char *st = jget_str(d, "status");
    json_t *rid = json_object_get(d, "jobId");
    if (!json_is_string(rid) || strcmp(json_string_value(rid), id)) {
      json_t *key = json_string(id);
      cmp_field(diffs, id, "jobId", key, rid);
      json_decref(key);
    }
    cmp_field(diffs, id, "status", json_object_get(j, "status"), json_object_get(d, "status"));
    const char *rr = jget_str(d, "statusReason");
    if (!(st && (!strcmp(st, "RUNNABLE") || !strcmp(st, "PENDING")) && is_blocking_code(rr)))
      cmp_field(diffs, id, "statusReason", json_object_get(j, "statusReason"),
                json_object_get(d, "statusReason"));
    json_t *na = json_integer((json_int_t)json_array_size(json_object_get(d, "attempts")));
    cmp_field(diffs, id, "attempts", json_object_get(j, "attempts"), na);
    json_decref(na);
    cmp_field(diffs, id, "attemptsOpened", json_object_get(j, "attemptsOpened"),
              json_object_get(rec, "attempt"));
    if (!json_object_get(j, "arraySize"))
      cmp_field(diffs, id, "exitCode", json_object_get(j, "exitCode"),
                json_object_get(json_object_get(d, "container"), "exitCode"));
    cmp_field(diffs, id, "createdAt", json_object_get(j, "createdAt"), json_object_get(d, "createdAt"));
    cmp_field(diffs, id, "startedAt", json_object_get(j, "startedAt"), json_object_get(d, "startedAt"));
    cmp_field(diffs, id, "stoppedAt", json_object_get(j, "stoppedAt"), json_object_get(d, "stoppedAt"));
  }
  sum->differences = json_array_size(diffs) - before;
  free(ids);
}

/* ---------------- rebuild: reading the topics ---------------- */

struct load_ctx {
  struct replay_rebuild *rb;
  json_t *records;
  size_t undecodable;
  enum bus_topic t;
};

static void load_cb(void *vctx, const struct bus_msg *m) {
  struct load_ctx *ctx = vctx;
  char key[512];
  snprintf(key, sizeof key, "%.*s", (int)(m->keylen < 500 ? m->keylen : 500), m->key ? m->key : "");
  if (!m->value) {
    if (ctx->t == TOPIC_JOBS) json_object_del(ctx->records, key);
    return;
  }
  enum barge_ev_type type;
  json_t *ev = NULL;
  char why[512];
  if (bus_decode(m, &type, &ev, why, sizeof why)) {
    ctx->undecodable++;
    return;
  }
  int rc = 0;
  switch (ctx->t) {
  case TOPIC_REQUESTS:
    /* a request the scheduler dead-lettered for its header time made no job (sched_shell.c) */
    if (bus_event_time_check(ev, m->timestamp_ms, 0, why, sizeof why)) break;
    rc = replay_rebuild_request(ctx->rb, ev);
    break;
  case TOPIC_JOB_EVENTS:
    rc = replay_rebuild_event(ctx->rb, ev);
    break;
  case TOPIC_JOBS:
    json_object_set(ctx->records, key, ev); /* a table: the latest value per key */
    break;
  default:
    break;
  }
  if (rc) ctx->undecodable++;
  json_decref(ev);
}

static void print_value(FILE *out, json_t *v) {
  if (!v || json_is_null(v)) {
    fputs("(none)", out);
    return;
  }
  if (json_is_string(v)) {
    fputs(json_string_value(v), out);
    return;
  }
  char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
  fputs(s ? s : "?", out);
  free(s);
}

int replay_rebuild_run(const struct bus_conf *bc, int strict, int json, FILE *out, char *err,
                       size_t errlen) {
  struct load_ctx ctx = {.rb = replay_rebuild_new(), .records = json_object()};
  struct bus_consumer *c = bus_consumer_new(bc, NULL, 1, err, errlen);
  int rc = -1;
  if (!c) goto out;
  static const enum bus_topic history[] = {TOPIC_REQUESTS, TOPIC_JOB_EVENTS};
  for (size_t i = 0; i < 2; i++) {
    int pc = bus_partition_count(c, history[i], err, errlen);
    if (pc < 0) goto out;
    for (int p = 0; p < pc; p++) {
      int64_t lo = 0, hi = 0;
      if (bus_watermarks(c, history[i], p, &lo, &hi) == 0 && lo > 0) replay_rebuild_set_truncated(ctx.rb, 1);
    }
  }
  /* barge.jobs first: every record read has its events already committed (the scheduler
   * writes both in one transaction), so reading the events after cannot miss one */
  static const enum bus_topic order[] = {TOPIC_JOBS, TOPIC_REQUESTS, TOPIC_JOB_EVENTS};
  for (size_t i = 0; i < 3; i++) {
    ctx.t = order[i];
    if (bus_read_table(c, order[i], load_cb, &ctx, err, errlen)) goto out;
  }
  json_t *diffs = json_array();
  struct replay_rebuild_summary sum;
  replay_rebuild_compare(ctx.rb, ctx.records, strict, diffs, &sum);
  size_t i;
  json_t *d;
  json_array_foreach(diffs, i, d) {
    if (json) {
      char *s = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
      fprintf(out, "%s\n", s);
      free(s);
    } else {
      fprintf(out, "job %s: %s: rebuilt ", jget_str(d, "jobId"), jget_str(d, "field"));
      print_value(out, json_object_get(d, "rebuilt"));
      fputs(", barge.jobs ", out);
      print_value(out, json_object_get(d, "recorded"));
      fputc('\n', out);
    }
  }
  json_decref(diffs);
  if (json) {
    fprintf(out, "{\"summary\":{\"jobsChecked\":%zu,\"differences\":%zu,\"unprocessed\":%zu,\"undecodable\":%zu,"
            "\"notRetained\":%zu}}\n",
            sum.jobs_checked, sum.differences, sum.unprocessed, ctx.undecodable, sum.not_retained);
  } else {
    fprintf(out, "%zu jobs checked, %zu differences", sum.jobs_checked, sum.differences);
    if (sum.unprocessed) fprintf(out, " (%zu submitted jobs not handled by the scheduler yet)", sum.unprocessed);
    if (ctx.undecodable) fprintf(out, " (%zu records could not be decoded)", ctx.undecodable);
    if (sum.not_retained)
      fprintf(out, " (%zu jobs not checked: their history begins before what barge.requests and "
                   "barge.job-events retain)", sum.not_retained);
    fputc('\n', out);
  }
  rc = sum.differences ? 1 : 0;
out:
  bus_consumer_free(c);
  replay_rebuild_free(ctx.rb);
  json_decref(ctx.records);
  return rc;
}
