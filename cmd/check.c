/* check.c: `barge check`: reads the whole log (every partition of the job, execution, placement,
 * instance and usage topics, read_committed, to their current ends) and the audit file, and
 * verifies the invariants of consumers/check/check_core.h. The checking is the pure core
 * (consumers/check/); this file only reads Kafka and the audit file around it and prints the
 * verdict (docs/operations.md, "barge check"). */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "bus.h"
#include "check_core.h"
#include "cmds.h"
#include "opts.h"
#include "service.h"
#include "stack.h"

struct check_opts {
  struct kafka_opts kafka;
  const char *audit, *audit_key;
  int64_t lost_after_ms, skew_ms, max_print;
  int require_terminal, json, quiet, no_audit;
};

#define C struct check_opts
static const struct opt_spec check_rows[] = {
    OPT_ROW_DOC(C, audit, "audit", "FILE", "the stack's audit file", "the audit file whose chain to verify (barge audit verify)"),
    OPT_ROW_DOC(C, audit_key, "audit-key", "KEY", "the stack's key", "the file holding the audit file's HMAC key"),
    OPT_FLAG_ROW(C, no_audit, "no-audit", "do not verify an audit file"),
    OPT_ROW(C, lost_after_ms, "lost-after-ms", "MS", "30000",
            "the scheduler's lost-after period: how long a cut-off copy of a lost attempt may keep running"),
    OPT_ROW(C, skew_ms, "skew-ms", "MS", "0", "clock difference tolerated between the agents' hosts"),
    OPT_FLAG_ROW(C, require_terminal, "require-terminal", "a job that is still live is a violation (a finished workload)"),
    OPT_FLAG_ROW(C, json, "json", "print the report as one JSON object"),
    OPT_ROW(C, max_print, "max-print", "N", "100", "violations printed in the text report (all are counted)"),
    OPT_FLAG_ROW(C, quiet, "quiet", "no progress lines on stderr"),
    OPTS_KAFKA(C, kafka),
};
#undef C

const struct opts_cmd check_opts_cmd =
    OPTS_CMD("check", "[--require-terminal] [--json] [--audit FILE --audit-key KEY]",
             "Reads the whole log and verifies Barge's invariants (jobs end once, attempts, no overlap, "
             "capacity, dependencies, arrays, accounting, the audit chain); exit 1 naming each violation.",
             check_rows, struct check_opts, NULL);

struct read_ctx {
  struct check *c;
  const char *topic;
  long long n, bad;
  int64_t last_note;
  int quiet;
};

static void read_cb(void *vctx, const struct bus_msg *m) {
  struct read_ctx *r = vctx;
  r->n++;
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

static int read_log(const struct bus_conf *bc, struct check *c, int quiet, char *err, size_t errlen) {
  static const enum bus_topic order[] = {TOPIC_REQUESTS, TOPIC_JOB_EVENTS, TOPIC_EXECUTIONS, TOPIC_PLACEMENTS,
                                         TOPIC_INSTANCES, TOPIC_JOBS, TOPIC_USAGE};
  struct bus_consumer *k = bus_consumer_new(bc, NULL, 1, err, errlen);
  if (!k) return -1;
  int rc = 0;
  for (size_t i = 0; i < sizeof order / sizeof *order && !rc; i++) {
    char name[256];
    bus_topic_name(bc, order[i], name, sizeof name);
    struct read_ctx r = {.c = c, .topic = name, .last_note = mono_ms(), .quiet = quiet};
    rc = bus_read_table(k, order[i], read_cb, &r, err, errlen);
    if (!quiet) fprintf(stderr, "barge check: %s: %lld records%s\n", name, r.n, r.bad ? " (some skipped)" : "");
  }
  bus_consumer_free(k);
  return rc;
}

/* The audit file: the one given, else the stack's when it audits this prefix. */
static void verify_audit(struct check *c, const struct check_opts *o, const char *prefix) {
  char file[1024] = "", key[1024] = "", sprefix[128] = "";
  if (o->no_audit) return;
  if (o->audit) {
    snprintf(file, sizeof file, "%s", o->audit);
    if (o->audit_key) snprintf(key, sizeof key, "%s", o->audit_key);
  } else if (!stack_get("audit_file", file, sizeof file) && !stack_get("prefix", sprefix, sizeof sprefix) &&
             !strcmp(sprefix, prefix)) {
    if (stack_get("audit_key", key, sizeof key)) key[0] = 0;
  } else {
    return;
  }
  char err[512];
  size_t keylen = 0;
  unsigned char *k = key[0] ? audit_read_key(key, &keylen, err, sizeof err) : NULL;
  if (!k) {
    check_violation(c, CHECK_AUDIT, file, "cannot verify: %s", key[0] ? err : "no --audit-key given");
    return;
  }
  struct audit_verify_opts vo = {0};
  struct audit_verdict v;
  int r = audit_verify(file, k, keylen, &vo, &v);
  free(k);
  if (r > 0) check_violation(c, CHECK_AUDIT, file, "line %lld: %s", v.bad_line, v.what);
  else if (r < 0) check_violation(c, CHECK_AUDIT, file, "cannot verify: %s", v.what);
  else if (!o->quiet) fprintf(stderr, "barge check: %s: intact, %lld lines\n", file, v.lines);
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
  struct service_conn conn;
  if ((r = service_connect("check", &o.kafka, "barge-check", 0, &conn)) || (r = service_require_broker("check", &conn)))
    return r;
  struct check_conf cc;
  check_conf_defaults(&cc);
  cc.lost_after_ms = o.lost_after_ms;
  cc.skew_ms = o.skew_ms;
  cc.require_terminal = o.require_terminal;
  struct check *c = check_new(&cc);
  char err[1024];
  if (read_log(&conn.bc, c, o.quiet, err, sizeof err)) {
    fprintf(stderr, "barge check: %s\n", err);
    check_free(c);
    return 2;
  }
  verify_audit(c, &o, conn.prefix);
  long long nv = 0;
  json_t *rep = check_finish(c, &nv);
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
