/* audit_shell.c: `barge audit` (the consumer writing the chained file) and `barge audit verify`.
 *
 * The file is the source of truth for where the consumer is: at start audit_open checks the
 * file against its seal and learns the next offset of every partition it holds; those
 * partitions are assigned at exactly those offsets, so a restart (after SIGTERM, SIGKILL or a
 * crash) neither skips nor repeats a record. Partitions the file has never seen start at the
 * group's committed offset (a new file continuing an old group) or at the beginning. A partition
 * whose log now ends before the file's position there is another log (a new cluster, a topic made
 * again): the consumer refuses to start rather than wait silently for offsets that never come.
 * The seal also records the Kafka cluster's id: a file written from another cluster is refused
 * even when that cluster's logs are longer (they would be audited from the middle, silently).
 *
 * Loop: every record of the chosen topics (read_committed) becomes one line in the pending
 * buffer; every --flush-ms or --batch lines the buffer is written and fsync'd, the seal
 * rewritten, and only then the offsets committed to the group. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"
#include "bus.h"
#include "codec.h"
#include "metrics.h"
#include "opts.h"
#include "service.h"
#include "stack.h"

/* ---- options ---- */

struct audit_opts {
  struct kafka_opts kafka;
  struct metrics_opts metrics;
  const char *out, *key_file, *topics, *group;
  int64_t flush_ms, batch;
};

#define A struct audit_opts
static const struct opt_spec audit_rows[] = {
    OPT_ROW_DOC(A, out, "out", "FILE", "required", "the audit file to append to (created if missing; FILE.seal beside it)"),
    OPT_ROW_DOC(A, key_file, "hmac-key-file", "KEY", "required", "file holding the HMAC key (32+ random bytes recommended)"),
    OPT_ROW(A, topics, "topics", "all|LIST", "all", "topics to record: all or a comma-separated list (requests,job-events,...)"),
    OPT_ROW(A, group, "group", "G", "barge-audit", "consumer group"),
    OPT_ROW(A, flush_ms, "flush-ms", "MS", "200", "most time a record waits before it is fsync'd and sealed"),
    OPT_ROW_MIN(A, batch, "batch", "N", "1000", 1, "most lines per write and fsync"),
    OPTS_KAFKA(A, kafka),
    OPTS_METRICS(A, metrics),
};
#undef A

const struct opts_cmd audit_opts_cmd =
    OPTS_CMD("audit", "--out FILE --hmac-key-file KEY [options]  |  barge audit verify FILE --hmac-key-file KEY",
    "A hash-chained, HMAC-sealed file of every event (see audit.md).", audit_rows, struct audit_opts, NULL);

struct verify_opts {
  const char *key_file, *seal;
  int64_t expect;
  int no_seal;
};

static const struct opt_spec verify_rows[] = {
    OPT_ROW(struct verify_opts, key_file, "hmac-key-file", "KEY", NULL, "file holding the HMAC key the file was written with"),
    OPT_ROW_DOC(struct verify_opts, seal, "seal", "FILE", "FILE.seal", "the seal to check against"),
    OPT_FLAG_ROW(struct verify_opts, no_seal, "no-seal", "check the chain only (removal of whole lines at the end then goes unnoticed)"),
    OPT_ROW_DOC(struct verify_opts, expect, "expect-lines", "N", "none", "the file must hold at least N lines (a count kept elsewhere)"),
};

static void verify_opts_init(void *conf) { ((struct verify_opts *)conf)->expect = INT64_MIN; /* not given */ }

const struct opts_cmd audit_verify_opts_cmd =
    OPTS_CMD("audit verify", "FILE --hmac-key-file KEY [--seal FILE] [--no-seal] [--expect-lines N]",
    "Checks an audit file against its chain and seal.", verify_rows, struct verify_opts, verify_opts_init);

struct start_ctx {
  struct audit_writer *w;
  const struct bus_conf *bc;
  struct bus_consumer *c;
  int resumed, fresh;
  char foreign[768]; /* the first partition whose log cannot be the one the file was written from */
};

/* A partition resumed from the file must still hold the records the file ends with: its end (high
 * watermark) is at or after the next offset the file expects. An end before it means the log was
 * replaced (a new, empty cluster; the topic deleted and made again): resuming there would wait
 * for offsets that the new log reaches only after thousands of records nobody audits, while the
 * service looks healthy. Noted in s->foreign; the caller refuses to start. */
static void check_resume(struct start_ctx *s, enum bus_topic t, int32_t p, const char *name, int64_t next) {
  int64_t lo = 0, hi = -1;
  if (s->foreign[0]) return;
  if (bus_watermarks(s->c, t, p, &lo, &hi)) {
    snprintf(s->foreign, sizeof s->foreign, "cannot read the end of %s[%d] to check the file's position there (%lld)",
             name, (int)p, (long long)next);
    return;
  }
  if (hi < next)
    snprintf(s->foreign, sizeof s->foreign,
             "the file resumes %s[%d] at offset %lld, but that partition ends at %lld: this Kafka's log is not "
             "the one the file was written from (a new cluster, or the topic deleted and created again)",
             name, (int)p, (long long)next, (long long)hi);
}

static int64_t start_at(void *ctx, enum bus_topic t, int32_t p, int64_t committed) {
  struct start_ctx *s = ctx;
  char name[256];
  bus_topic_name(s->bc, t, name, sizeof name);
  int64_t next = audit_next_offset(s->w, name, p);
  if (next >= 0) {
    s->resumed++;
    return next;
  }
  s->fresh++;
  return committed >= 0 ? committed : BUS_OFFSET_BEGINNING;
}

/* Parses --topics: "all" or base names ("requests,job-events") or full names. */
static int parse_topics(const struct bus_conf *bc, const char *spec, enum bus_topic *out, int *n) {
  *n = 0;
  if (!strcmp(spec, "all")) {
    for (int t = 0; t < TOPIC__COUNT; t++) out[(*n)++] = (enum bus_topic)t;
    return 0;
  }
  char *copy = xstrdup(spec), *save = NULL;
  int rc = 0;
  for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
    int t = bus_topic_by_name(bc, name);
    if (t < 0) {
      fprintf(stderr, "barge audit: unknown topic '%s'\n", name);
      rc = -1;
      break;
    }
    int dup = 0;
    for (int k = 0; k < *n; k++) dup |= out[k] == (enum bus_topic)t;
    if (!dup) out[(*n)++] = (enum bus_topic)t;
  }
  free(copy);
  return rc;
}

/* --out before any broker is waited for: a path that can never be an audit file is bad usage,
 * said at once. A device such as /dev/full was read for ever (its zeros, gigabytes a second)
 * once a broker answered; a missing folder or a folder was said only after that wait. 0, or 2
 * saying why. (audit_open refuses the same again, for a path that changes meanwhile.) */
static int check_out(const char *out) {
  struct stat st;
  if (!*out) {
    fprintf(stderr, "barge audit: --out is empty: give the audit file's path\n");
    return 2;
  }
  if (stat(out, &st) == 0) {
    if (S_ISREG(st.st_mode)) return 0;
    fprintf(stderr, "barge audit: --out %s is %s, not a regular file: give a path to create, or an audit file to "
            "extend\n", out, S_ISDIR(st.st_mode) ? "a directory" : "a device, pipe or socket");
    return 2;
  }
  if (errno != ENOENT) {
    fprintf(stderr, "barge audit: --out %s: %s\n", out, strerror(errno));
    return 2;
  }
  char *copy = xstrdup(out), *slash = strrchr(copy, '/');
  const char *dir = !slash ? "." : slash == copy ? "/" : (*slash = 0, copy);
  int e = stat(dir, &st) ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
  if (e) fprintf(stderr, "barge audit: --out %s: cannot create it in %s: %s\n", out, dir, strerror(e));
  free(copy);
  return e ? 2 : 0;
}

static int flush_and_commit(struct audit_writer *w, struct bus_consumer *c, char *err,
                            size_t errlen) {
  if (audit_flush(w, err, errlen)) return -1;
  return bus_commit(c, err, errlen); /* only now: the lines are on disk */
}

int audit_service_main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "verify")) return audit_verify_main(argc - 1, argv + 1);
  struct audit_opts o;
  int r = opts_parse_or_exit(&audit_opts_cmd, &o, argc, argv);
  if (r >= 0) return r;
  const char *out = o.out, *key_file = o.key_file, *group = o.group;
  long long flush_ms = o.flush_ms, batch = o.batch;
  if (!out || !key_file) {
    fprintf(stderr, "barge audit: --out FILE and --hmac-key-file KEY are required (see barge audit --help)\n");
    return 2;
  }
  if (flush_ms < 1 || batch < 1) {
    fprintf(stderr, "barge audit: --flush-ms and --batch must be positive\n");
    return 2;
  }
  /* bad usage first: an unknown topic or an unreadable key is said at once, not after waiting up
   * to a minute for a broker (then "no broker", and the key only at the next try) */
  char pre[128];
  stack_prefix(o.kafka.prefix, pre, sizeof pre);
  struct bus_conf names_bc = {.prefix = pre};
  enum bus_topic topics[TOPIC__COUNT];
  int ntopics = 0;
  if (parse_topics(&names_bc, o.topics, topics, &ntopics)) return 2;
  if (ntopics == 0) {
    fprintf(stderr, "barge audit: --topics '%s' names no topic (all, or a comma-separated list: requests,job-events,...)\n",
            o.topics);
    return 2;
  }
  if (check_out(out)) return 2;
  char err[1024];
  size_t keylen = 0;
  unsigned char *key = audit_read_key(key_file, &keylen, err, sizeof err);
  if (!key) {
    fprintf(stderr, "barge audit: %s\n", err);
    return 2;
  }
  log_set_role("audit");
  if (service_metrics_start("audit", &o.metrics)) {
    free(key);
    return 1;
  }
  struct metric *m_records = metrics_counter(metrics_global(), "barge_audit_records_total",
                                           "records appended to the audit file, by what they were", "type");
  struct service_conn conn;
  if ((r = service_connect("audit", &o.kafka, "barge-audit", SERVICE_TOPICS | SERVICE_WAIT, &conn))) {
    free(key);
    return service_stopping() ? 0 : r;
  }
  struct bus_conf bc = conn.bc;
  int rc = 1;
  struct buf text; /* an event's JSON text, the buffer reused record after record */
  buf_init(&text);
  struct audit_writer *w = NULL;
  struct bus_consumer *c = NULL;
  int started = 0; /* past the start-up */
  if (audit_open(&w, out, key, keylen, 1, err, sizeof err)) {
    log_error("%s", err);
    goto done;
  }
  c = bus_consumer_new_wait(&bc, group, 1, BUS_FETCH_LAZY, err, sizeof err); /* off the jobs' path */
  struct start_ctx sc = {.w = w, .bc = &bc, .c = c};
  /* the file's positions are checked against the log first: a replaced log is refused at once,
   * without the group's committed offsets (which a resumed partition does not use) and the wait
   * for its coordinator that reading them may take */
  for (int i = 0; c && i < ntopics && !sc.foreign[0] && !service_stopping(); i++) {
    char name[256];
    bus_topic_name(&bc, topics[i], name, sizeof name);
    int pc = bus_partition_count(c, topics[i], err, sizeof err);
    if (pc < 0) {
      if (!service_stopping()) log_error("%s", err);
      goto done;
    }
    for (int p = 0; p < pc && !sc.foreign[0]; p++) {
      int64_t next = audit_next_offset(w, name, p);
      if (next >= 0) check_resume(&sc, topics[i], p, name, next);
    }
  }
  if (!c || (!sc.foreign[0] && bus_assign_with(c, topics, ntopics, start_at, &sc, err, sizeof err))) {
    if (!service_stopping()) log_error("%s", err);
    goto done;
  }
  char cluster[128] = "";
  if (!sc.foreign[0] && bus_cluster_id(c, cluster, sizeof cluster, 10000) == 0 && audit_cluster(w)[0] &&
      strcmp(cluster, audit_cluster(w)))
    snprintf(sc.foreign, sizeof sc.foreign, "it was written from the Kafka cluster %s, and this one is %s: its log is "
             "not the one the file was written from", audit_cluster(w), cluster);
  if (service_stopping()) goto done; /* a check a signal cut short proves nothing about the file */
  if (!sc.foreign[0] && cluster[0]) audit_set_cluster(w, cluster); /* recorded by the next seal */
  if (sc.foreign[0]) { /* nothing read or written yet: the file stays as it is */
    log_error("%s: %s. Refusing to start: the file (%lld lines) would stop recording without a word. It is "
              "intact and still verifies; to audit this Kafka, move %s and %s.seal aside (keep them) and start "
              "again: a new file begins a new chain (docs/audit.md, \"A different Kafka\")",
              out, sc.foreign, audit_lines(w), out, out);
    goto done;
  }
  char names[TOPIC__COUNT][256]; /* the full topic names, made once */
  for (int t = 0; t < TOPIC__COUNT; t++) bus_topic_name(&bc, (enum bus_topic)t, names[t], sizeof names[t]);
  service_ready();
  log_info("auditing %d topic(s) into %s: %lld lines so far, %d partition(s) resumed from the file, %d new (group %s)",
           ntopics, out, audit_lines(w), sc.resumed, sc.fresh, group);
  started = 1;
  service_signals(0);
  int64_t first_pending = 0;
  long long written = 0;
  while (!service_stopping()) {
    struct bus_msg m;
    int pr = bus_poll(c, 100, &m, err, sizeof err);
    if (pr < 0) goto fatal;
    if (pr == 1) {
      const char *name = names[m.topic];
      enum barge_ev_type t;
      json_t *ev = NULL;
      char why[512];
      struct audit_rec rec = {.topic = name, .partition = m.partition, .offset = m.offset,
                              .key = m.key, .keylen = m.keylen, .timestamp_ms = m.timestamp_ms};
      buf_reset(&text);
      if (!m.value) {
        rec.type = "tombstone";
      } else if (codec_render_json(m.value, m.len, &t, &text) == 0 && t == bus_topic_type(m.topic)) {
        rec.type = codec_type_name(t); /* the text bus_decode's tree would dump to, without it */
        rec.event_json = (const char *)text.data;
        rec.event_json_len = text.len;
      } else if (bus_decode(&m, &t, &ev, why, sizeof why)) {
        rec.type = "undecodable";
        rec.raw = m.value;
        rec.rawlen = m.len;
        rec.error = why;
      } else {
        rec.type = codec_type_name(t);
        rec.event = ev;
      }
      if (audit_append(w, &rec) == 0) {
        written++;
        metric_add(m_records, METRIC_L(!m.value ? "tombstone" : rec.raw ? "undecodable" : "event"), 1);
      }
      json_decref(ev);
      bus_mark(c, &m);
      bus_msg_release(&m);
      if (audit_pending(w) == 1) first_pending = mono_ms();
    }
    service_metrics_lag(c);
    size_t pending = audit_pending(w);
    if (pending >= (size_t)batch || (pending > 0 && mono_ms() - first_pending >= flush_ms)) {
      if (flush_and_commit(w, c, err, sizeof err)) goto fatal;
    }
  }
  if (flush_and_commit(w, c, err, sizeof err)) goto fatal;
  log_info("audit stopping: %lld lines written, %lld in the file, head %s", written, audit_lines(w), audit_head(w));
  rc = 0;
  goto done;
fatal:
  /* what was not fsync'd is not committed: the restart reads it again */
  log_error("fatal: %s", err);
  rc = 1;
done:
  if (rc && service_stopping() && !started) { /* SIGTERM during the start-up: a stop, as at any other time */
    log_info("audit stopped while starting");
    rc = 0;
  }
  buf_release(&text);
  bus_consumer_free(c);
  audit_close(w);
  free(key);
  service_metrics_stop();
  return rc;
}

int audit_verify_main(int argc, char **argv) {
  struct verify_opts o;
  const char *pos[1];
  int npos = 0;
  int r = opts_parse_cmd(&audit_verify_opts_cmd, &o, argc, argv, pos, &npos, 1);
  if (r) return r == 1 ? 0 : 2;
  const char *key_file = o.key_file;
  int no_seal = o.no_seal;
  if (npos != 1 || !key_file) {
    fprintf(stderr, "barge audit verify: FILE and --hmac-key-file KEY are required\n");
    return 2;
  }
  if (o.expect != INT64_MIN && o.expect < 1) {
    fprintf(stderr, "barge audit verify: --expect-lines is a count of lines, at least 1, not %lld\n", (long long)o.expect);
    return 2;
  }
  char err[512];
  size_t keylen = 0;
  unsigned char *key = audit_read_key(key_file, &keylen, err, sizeof err);
  if (!key) {
    fprintf(stderr, "barge audit verify: %s\n", err);
    return 2;
  }
  struct audit_verify_opts vo = {.seal_path = o.seal, .no_seal = no_seal, .expect_lines = o.expect == INT64_MIN ? 0 : o.expect};
  struct audit_verdict v;
  int rc = audit_verify(pos[0], key, keylen, &vo, &v);
  free(key);
  if (rc < 0) {
    fprintf(stderr, "barge audit verify: %s\n", v.what);
    return 2;
  }
  if (rc == 0) {
    const char *more = v.appending ? "; a last line being appended by the running writer is not checked" : "";
    if (no_seal)
      printf("%s: intact: %lld lines, head %s (not checked against a seal)%s\n", pos[0], v.lines, v.head, more);
    else
      printf("%s: intact: %lld lines, sealed through line %lld, head %s%s\n", pos[0], v.lines, v.sealed, v.head, more);
    return 0;
  }
  if (v.bad_line > 0) printf("%s: line %lld: %s\n", pos[0], v.bad_line, v.what);
  else printf("%s: %s\n", pos[0], v.what);
  return 1;
}
