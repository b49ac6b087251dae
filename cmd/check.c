/* check.c: `barge check`: reads the whole log (every partition of the job, execution, placement,
 * instance and usage topics, read_committed, to their current ends) and the audit file, and
 * verifies the invariants of consumers/check/check_core.h. The checking is the pure core
 * (consumers/check/); this file only reads Kafka and the audit file around it and prints the
 * verdict (docs/operations.md, "barge check").
 *
 * The audit file is verified first, which gives the next offset it holds for each partition;
 * while reading the log, every record at or after that offset is noted as not (yet) in the file.
 * After the log, the file's position is read again from its seal (no lock: the running writer
 * keeps its own), for up to --audit-grace-ms while it is still short of what was read: a live
 * audit catches up within --flush-ms + 500 ms, a stopped or stuck one does not, and the records
 * it still lacks are a violation (docs/audit.md, "Is the file current?"). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "bus.h"
#include "check_core.h"
#include "jsonget.h"
#include "cmds.h"
#include "opts.h"
#include "service.h"
#include "stack.h"
#include "strmap.h"

struct check_opts {
  struct kafka_opts kafka;
  const char *audit, *audit_key;
  int64_t lost_after_ms, skew_ms, max_print, audit_grace_ms;
  int require_terminal, json, quiet, no_audit;
};

#define C struct check_opts
static const struct opt_spec check_rows[] = {
    OPT_ROW_DOC(C, audit, "audit", "FILE", "the stack's audit file", "the audit file whose chain to verify (barge audit verify)"),
    OPT_ROW_DOC(C, audit_key, "audit-key", "KEY", "the stack's key", "the file holding the audit file's HMAC key"),
    OPT_FLAG_ROW(C, no_audit, "no-audit", "do not verify an audit file (wins over --audit and --audit-key)"),
    OPT_ROW_MIN(C, audit_grace_ms, "audit-grace-ms", "MS", "10000", 0,
            "how long the audit file may take to reach the ends of the log as check read it (a running audit "
            "writes within its --flush-ms + 500 ms); records still missing then are a violation"),
    {.name = "lost-after-ms", .arg = "MS", .type = OPT_I64, .off = offsetof(C, lost_after_ms), .min = 0,
     .max = LLONG_MAX, .def_doc = "the one the `barge up` stack of this topic prefix recorded, else 30000, `barge scheduler`'s",
     .help = "the scheduler's lost-after period: how long a cut-off copy of a lost attempt may keep running"},
    OPT_ROW_MIN(C, skew_ms, "skew-ms", "MS", "0", 0, "clock difference tolerated between the agents' hosts"),
    OPT_FLAG_ROW(C, require_terminal, "require-terminal", "a job that is still live is a violation (a finished workload)"),
    OPT_FLAG_ROW(C, json, "json", "print the report as one JSON object"),
    OPT_ROW_MIN(C, max_print, "max-print", "N", "100", 0, "violations printed in the text report (all are counted)"),
    OPT_FLAG_ROW(C, quiet, "quiet", "no progress lines on stderr"),
    OPTS_KAFKA(C, kafka),
};
#undef C

static void check_conf_init(void *conf) {
  ((struct check_opts *)conf)->lost_after_ms = -1; /* not given: lost_after_default */
}

const struct opts_cmd check_opts_cmd =
    OPTS_CMD("check", "[--require-terminal] [--json] [--audit FILE --audit-key KEY]",
             "Reads the whole log and verifies Barge's invariants (jobs end once, attempts, no overlap, "
             "capacity, dependencies, arrays, accounting, the audit chain); exit 1 naming each violation.",
             check_rows, struct check_opts, check_conf_init);

/* ---- the audit file's position against the log ---- */

#define GAP_MAX_OFFSETS (1 << 24) /* offsets kept in all (128 MiB); beyond, records are only counted */

/* One partition of a topic the file records: the records check read at or after the file's
 * position there (their offsets, in order). */
struct gap_part {
  char key[300]; /* "topic/partition", as the file names it */
  int64_t from;  /* the file's next offset when verified (0: none of this partition's records) */
  int64_t *offs;
  size_t n, cap;
  long long uncounted; /* read beyond GAP_MAX_OFFSETS: assumed not in the file */
  int64_t last;        /* the last offset read */
};

struct gap {
  const char *file;
  json_t *next; /* the file's next offsets, "topic/partition" -> offset */
  struct strmap ix; /* key -> index in parts */
  struct gap_part *parts;
  size_t nparts, cap, kept;
  long long lines;
};

/* Does the file hold any partition of topic? (A topic it never recorded may not be audited at
 * all, --topics: its records are not counted as missing.) */
static int gap_topic_in_file(const struct gap *g, const char *topic) {
  const char *k;
  json_t *v;
  size_t tl = strlen(topic);
  json_object_foreach(g->next, k, v) if (!strncmp(k, topic, tl) && k[tl] == '/') return 1;
  return 0;
}

static void gap_note(struct gap *g, const char *topic, int32_t partition, int64_t offset) {
  char key[300];
  snprintf(key, sizeof key, "%s/%d", topic, (int)partition);
  uint32_t i = strmap_get(&g->ix, key);
  if (i == STRMAP_NONE) {
    json_t *nx = json_object_get(g->next, key);
    if (!nx && !gap_topic_in_file(g, topic)) return;
    if (g->nparts == g->cap) {
      g->cap = g->cap ? g->cap * 2 : 16;
      g->parts = xrealloc(g->parts, g->cap * sizeof *g->parts);
    }
    i = (uint32_t)g->nparts++;
    struct gap_part *p = &g->parts[i];
    memset(p, 0, sizeof *p);
    snprintf(p->key, sizeof p->key, "%s", key);
    p->from = nx ? json_integer_value(nx) : 0;
    strmap_put(&g->ix, p->key, i);
  }
  struct gap_part *p = &g->parts[i];
  p->last = offset;
  if (offset < p->from) return; /* in the file */
  if (g->kept >= GAP_MAX_OFFSETS) {
    p->uncounted++;
    return;
  }
  if (p->n == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 64;
    p->offs = xrealloc(p->offs, p->cap * sizeof *p->offs);
  }
  p->offs[p->n++] = offset;
  g->kept++;
}

/* The records read that the file (at next) does not hold, total and by topic (by_topic, when
 * not NULL, a caller's object). */
static long long gap_count(const struct gap *g, const json_t *next, json_t *by_topic) {
  long long total = 0;
  for (size_t i = 0; i < g->nparts; i++) {
    const struct gap_part *p = &g->parts[i];
    json_t *nx = json_object_get(next, p->key);
    int64_t at = nx ? json_integer_value(nx) : 0;
    long long n = 0;
    if (at <= p->last) {
      size_t lo = 0, hi = p->n; /* the first kept offset >= at */
      while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->offs[mid] < at) lo = mid + 1;
        else hi = mid;
      }
      n = (long long)(p->n - lo) + p->uncounted;
    }
    if (!n) continue;
    total += n;
    if (by_topic) {
      char topic[300];
      snprintf(topic, sizeof topic, "%s", p->key);
      char *slash = strrchr(topic, '/');
      if (slash) *slash = 0;
      json_t *t = json_object_get(by_topic, topic);
      json_object_set_new(by_topic, topic, json_integer((t ? json_integer_value(t) : 0) + n));
    }
  }
  return total;
}

static void gap_release(struct gap *g) {
  for (size_t i = 0; i < g->nparts; i++) free(g->parts[i].offs);
  free(g->parts);
  strmap_release(&g->ix);
  json_decref(g->next);
}

static void sleep_ms(int64_t ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* After the log: is the file current? Reads its seal again (every 250 ms, up to grace_ms) until
 * it holds every record read; what it still lacks then is a violation. Adds "audit" to rep. */
static void gap_finish(struct gap *g, struct check *c, const unsigned char *key, size_t keylen, int64_t grace_ms,
                       int quiet, json_t **audit_out) {
  json_t *next = json_deep_copy(g->next), *by_topic = json_object();
  long long lines = g->lines, behind = gap_count(g, next, NULL);
  int64_t t0 = mono_ms(), waited = 0;
  char what[512] = "";
  while (behind > 0) {
    json_t *now = json_object();
    long long nl = 0;
    int r = audit_seal_next(g->file, key, keylen, now, &nl, what, sizeof what);
    if (r == 0 && nl >= lines) {
      json_decref(next);
      next = now;
      lines = nl;
      behind = gap_count(g, next, NULL);
    } else {
      json_decref(now);
    }
    waited = mono_ms() - t0;
    if (!behind || waited >= grace_ms) break;
    sleep_ms(250);
  }
  behind = gap_count(g, next, by_topic);
  *audit_out = json_pack("{s:s, s:I, s:b, s:I, s:O, s:I}", "file", g->file, "lines", (json_int_t)lines, "current",
                         behind == 0, "behind", (json_int_t)behind, "behindByTopic", by_topic, "waitedMs",
                         (json_int_t)waited);
  char list[700] = "";
  const char *k;
  json_t *v;
  size_t len = 0;
  json_object_foreach(by_topic, k, v) {
    if (len < sizeof list)
      len += (size_t)snprintf(list + len, sizeof list - len, "%s%s %lld", len ? ", " : "", k,
                              (long long)json_integer_value(v));
  }
  if (behind)
    check_violation(c, CHECK_AUDIT, g->file,
                    "intact through line %lld but %lld records behind the log as check read it (%s), still after "
                    "waiting %lld ms (--audit-grace-ms): the audit service is stopped or stuck",
                    lines, behind, list, (long long)waited);
  else if (!quiet)
    fprintf(stderr, "barge check: %s: intact, %lld lines, current: it holds every record check read%s\n", g->file,
            lines, waited ? " (after it caught up)" : "");
  json_decref(by_topic);
  json_decref(next);
}

struct read_ctx {
  struct check *c;
  struct gap *gap; /* NULL: no audit file to compare */
  const char *topic;
  long long n, bad, dead;
  int64_t last_note;
  int quiet;
  json_t *dead_at; /* "partition/offset" of this topic's records the scheduler dead-lettered */
};

/* barge.dead-letter: which records of the scheduler's inputs (barge.requests, barge.executions,
 * barge.instances) the scheduler refused, by "topic/partition/offset". Such a SubmitJob made no
 * job: counted as one, it stayed "SUBMITTED, not yet seen by the scheduler" for ever, a violation
 * under --require-terminal; such a report (one timed in microseconds, say) for a job that does
 * not exist was an `unknown-job` violation, though no service acted on it. */
static void dead_cb(void *vctx, const struct bus_msg *m) {
  json_t *at = vctx;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (!m->value || bus_decode(m, &t, &ev, why, sizeof why)) return;
  const char *topic = jget_str(ev, "topic"), *by = jget_str(ev, "consumer");
  if (t == BARGE_EV_DEAD_LETTER && topic && by && !strncmp(by, "scheduler", 9)) {
    char k[512];
    snprintf(k, sizeof k, "%.400s/%lld/%lld", topic, (long long)jget_int(ev, "partition", -1),
             (long long)jget_int(ev, "offset", -1));
    json_object_set_new(at, k, json_true());
  }
  json_decref(ev);
}

static void read_cb(void *vctx, const struct bus_msg *m) {
  struct read_ctx *r = vctx;
  r->n++;
  if (r->gap) gap_note(r->gap, r->topic, m->partition, m->offset);
  if (r->dead_at) {
    char k[512];
    snprintf(k, sizeof k, "%.400s/%d/%lld", r->topic, (int)m->partition, (long long)m->offset);
    if (json_object_get(r->dead_at, k)) {
      r->dead++;
      return;
    }
  }
  if (!r->quiet && mono_ms() - r->last_note >= 2000) {
    r->last_note = mono_ms();
    fprintf(stderr, "barge check: %s: %lld records read\n", r->topic, r->n);
  }
  if (!m->value) return; /* a tombstone */
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[512];
  if (bus_decode(m, &t, &ev, why, sizeof why) || check_add(r->c, t, ev, why, sizeof why)) {
    if (!r->bad++) fprintf(stderr, "barge check: %s partition %d offset %lld skipped: %s\n", r->topic,
                           (int)m->partition, (long long)m->offset, why);
  }
  json_decref(ev);
}

static int read_log(const struct bus_conf *bc, struct check *c, struct gap *gap, int quiet, char *err,
                    size_t errlen) {
  static const enum bus_topic order[] = {TOPIC_REQUESTS, TOPIC_JOB_EVENTS, TOPIC_EXECUTIONS, TOPIC_PLACEMENTS,
                                         TOPIC_INSTANCES, TOPIC_JOBS, TOPIC_USAGE};
  struct bus_consumer *k = bus_consumer_new(bc, NULL, 1, err, errlen);
  if (!k) return -1;
  json_t *dead = json_object();
  int rc = bus_read_table(k, TOPIC_DEAD_LETTER, dead_cb, dead, err, errlen);
  for (size_t i = 0; i < sizeof order / sizeof *order && !rc; i++) {
    char name[256];
    bus_topic_name(bc, order[i], name, sizeof name);
    struct read_ctx r = {.c = c, .gap = gap, .topic = name, .last_note = mono_ms(), .quiet = quiet,
                         .dead_at = order[i] == TOPIC_REQUESTS || order[i] == TOPIC_EXECUTIONS ||
                                            order[i] == TOPIC_INSTANCES ? dead : NULL};
    rc = bus_read_table(k, order[i], read_cb, &r, err, errlen);
    if (!quiet) {
      fprintf(stderr, "barge check: %s: %lld records%s", name, r.n, r.bad ? " (some skipped)" : "");
      if (r.dead) fprintf(stderr, " (%lld dead-lettered by the scheduler, left out)", r.dead);
      fputc('\n', stderr);
    }
  }
  json_decref(dead);
  bus_consumer_free(k);
  return rc;
}

/* --lost-after-ms when not given: the scheduler's of the `barge up` stack of this prefix, which
 * `barge up` records (docs/operations.md, "barge check"), else `barge scheduler`'s default. */
static int64_t lost_after_default(const char *prefix) {
  char v[32], sprefix[128];
  if (!stack_get("lost_after_ms", v, sizeof v) && !stack_get("prefix", sprefix, sizeof sprefix) &&
      !strcmp(sprefix, prefix)) {
    char *end;
    long long n = strtoll(v, &end, 10);
    if (end != v && !*end && n >= 0) return n;
  }
  return 30000;
}

/* The audit file: the one given, else the stack's when it audits this prefix. When it is
 * intact, *key (owned) is its key and g (the caller's) holds its file and next offsets: 1. -1
 * after saying that the key given cannot be read, or that none is given (bad usage). */
static int verify_audit(struct check *c, const struct check_opts *o, const char *prefix, struct gap *g,
                        char *file, size_t filelen, unsigned char **key, size_t *keylen) {
  char kpath[1024] = "", sprefix[128] = "", sfile[1024] = "", skey[1024] = "";
  if (o->no_audit) return 0;
  /* the defaults: the audit file and key of the `barge up` stack of this prefix, each used when
   * not given (a key given with the stack's file, or a file given with the stack's key, was
   * ignored or refused for want of one) */
  int stack = !stack_get("audit_file", sfile, sizeof sfile) && !stack_get("prefix", sprefix, sizeof sprefix) &&
              !strcmp(sprefix, prefix);
  if (stack && stack_get("audit_key", skey, sizeof skey)) skey[0] = 0;
  if (o->audit || stack) {
    snprintf(file, filelen, "%s", o->audit ? o->audit : sfile);
    snprintf(kpath, sizeof kpath, "%s", o->audit_key ? o->audit_key : skey);
  } else {
    /* said, so that a clean verdict is not read as covering an audit file */
    if (!o->quiet)
      fprintf(stderr, "barge check: no audit file checked: no --audit FILE given, and no `barge up` stack of topic "
                      "prefix %s runs an audit here (--no-audit to skip it without this line)\n", prefix);
    return 0;
  }
  char err[512];
  unsigned char *k = kpath[0] ? audit_read_key(kpath, keylen, err, sizeof err) : NULL;
  if (!k && (o->audit_key || !kpath[0])) { /* bad usage, not a file that fails: said before the log is read */
    if (kpath[0]) fprintf(stderr, "barge check: --audit-key: %s\n", err);
    else fprintf(stderr, "barge check: --audit %s needs --audit-key KEY (no `barge up` stack of topic prefix %s has "
                         "one)\n", file, prefix);
    return -1;
  }
  if (!k) { /* the stack's own key */
    check_violation(c, CHECK_AUDIT, file, "cannot verify: %s", err);
    return 0;
  }
  json_t *next = json_object();
  struct audit_verify_opts vo = {.next = next};
  struct audit_verdict v;
  int r = audit_verify(file, k, *keylen, &vo, &v);
  if (r) {
    if (r > 0) check_violation(c, CHECK_AUDIT, file, "line %lld: %s", v.bad_line, v.what);
    else check_violation(c, CHECK_AUDIT, file, "cannot verify: %s", v.what);
    json_decref(next);
    free(k);
    return 0;
  }
  if (!o->quiet)
    fprintf(stderr, "barge check: %s: intact, %lld lines%s\n", file, v.lines,
            v.appending ? " (and a line its running writer is appending)" : "");
  g->file = file;
  g->next = next;
  g->lines = v.lines;
  *key = k;
  return 1;
}

static void print_text(const json_t *rep, long long nv, long long max_print) {
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(rep, "violations"), i, v) {
    if ((long long)i >= max_print) {
      printf("... and %lld more\n", nv - max_print);
      break;
    }
    printf("VIOLATION %s %s: %s\n", json_string_value(json_object_get(v, "kind")),
           json_string_value(json_object_get(v, "subject")), json_string_value(json_object_get(v, "detail")));
  }
  json_t *live = json_object_get(rep, "live"), *s = json_object_get(rep, "stats");
  json_array_foreach(live, i, v) {
    if (i >= 20) {
      printf("... and %zu more live jobs\n", json_array_size(live) - 20);
      break;
    }
    printf("live %s: %s\n", json_string_value(json_object_get(v, "jobId")), json_string_value(json_object_get(v, "where")));
  }
  printf("jobs %lld (arrays %lld, array children %lld), attempts %lld, instances %lld, live %lld\n",
         (long long)json_integer_value(json_object_get(s, "jobs")), (long long)json_integer_value(json_object_get(s, "arrays")),
         (long long)json_integer_value(json_object_get(s, "arrayChildren")),
         (long long)json_integer_value(json_object_get(s, "attempts")),
         (long long)json_integer_value(json_object_get(s, "instances")), (long long)json_integer_value(json_object_get(s, "live")));
  printf("violations: %lld", nv);
  const char *k;
  json_object_foreach(json_object_get(rep, "counts"), k, v)
    if (json_integer_value(v)) printf(" %s=%lld", k, (long long)json_integer_value(v));
  printf("\n");
}

int cmd_check(int argc, char **argv) {
  struct check_opts o;
  int r = opts_parse_or_exit(&check_opts_cmd, &o, argc, argv);
  if (r >= 0) return r;
  /* bad usage before any broker is asked (docs/operations.md, "barge check"): a key that cannot
   * be read was said only once a broker answered (with none, "no Kafka broker answers", exit 1).
   * --no-audit wins over --audit and --audit-key, as its help says: a key it leaves unused is not
   * read. */
  if (o.audit_key && !o.no_audit) {
    char kerr[512];
    size_t klen = 0;
    unsigned char *k = audit_read_key(o.audit_key, &klen, kerr, sizeof kerr);
    if (!k) {
      fprintf(stderr, "barge check: --audit-key: %s\n", kerr);
      return 2;
    }
    memset(k, 0, klen);
    free(k);
  }
  struct service_conn conn;
  if ((r = service_connect("check", &o.kafka, "barge-check", 0, &conn)) || (r = service_require_broker("check", &conn)))
    return r;
  struct check_conf cc;
  check_conf_defaults(&cc);
  cc.lost_after_ms = o.lost_after_ms >= 0 ? o.lost_after_ms : lost_after_default(conn.prefix);
  cc.skew_ms = o.skew_ms;
  cc.require_terminal = o.require_terminal;
  struct check *c = check_new(&cc);
  char err[1024], file[1024] = "";
  struct gap g = {0};
  strmap_init(&g.ix);
  unsigned char *key = NULL;
  size_t keylen = 0;
  int audited = verify_audit(c, &o, conn.prefix, &g, file, sizeof file, &key, &keylen);
  json_t *audit = NULL;
  if (audited < 0) {
    gap_release(&g);
    check_free(c);
    return 2;
  }
  if (read_log(&conn.bc, c, audited ? &g : NULL, o.quiet, err, sizeof err)) {
    fprintf(stderr, "barge check: %s\n", err);
    gap_release(&g);
    free(key);
    check_free(c);
    return 2;
  }
  if (audited) gap_finish(&g, c, key, keylen, o.audit_grace_ms, o.quiet, &audit);
  gap_release(&g);
  free(key);
  long long nv = 0;
  json_t *rep = check_finish(c, &nv);
  if (audit) json_object_set_new(rep, "audit", audit);
  json_object_set_new(rep, "lostAfterMs", json_integer(cc.lost_after_ms));
  if (o.json) {
    json_dumpf(rep, stdout, JSON_COMPACT);
    putchar('\n');
  } else {
    print_text(rep, nv, o.max_print);
  }
  json_decref(rep);
  check_free(c);
  return nv ? 1 : 0;
}
