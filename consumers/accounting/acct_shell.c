/* acct_shell.c: the I/O around the accounting core (acct.c).
 *
 * `barge accounting` (the service), exactly once by Kafka transactions:
 *   start    read barge.usage (compacted, read_committed) back into the core (acct_seed); read
 *            the group's committed offsets of barge.job-events, barge.instances and
 *            barge.config; a group-less reader hands the core every record before those offsets
 *            (the events the earlier run had seen: the core rebuilds its timelines and jobs and
 *            reports nothing), then acct_restored. Without committed offsets this is a no-op and
 *            the group starts at the beginning.
 *   loop     the group consumer reads from the committed offsets; each record is decoded and
 *            handed to the core (undecodable ones are dead-lettered); time is settled up to the
 *            watermark
 *                W = min(now - settle_lag, min over partitions not at their end of the last `at`)
 *            so a partition read ahead of another never makes the other's events late (and the
 *            core applies late events exactly anyway, within --reopen-ms); every --publish-ms the
 *            JOB records and changed aggregates are written to barge.usage in one transaction
 *            with the consumed offsets (and the dead letters).
 *   stop     SIGTERM/SIGINT: a last settle and publish, then exit 0. A crash loses nothing: the
 *            open transaction aborts and the restart resumes from the last committed one.
 * Every record is a cumulative total keyed by job or aggregate, and events are deduplicated by
 * event_id in the core, so a duplicated input event never counts twice.
 *
 * The loop itself (batches, transactions, dead letters) is lib/service.c: the publish is its tick,
 * run after every batch, a batch lasting up to --publish-ms.
 *
 * `barge usage` (the report): recomputes from barge.job-events and barge.instances with the same
 * core, clipped to [--since, --until), so any window is exact; or, with --source usage, prints
 * the latest records of barge.usage (running totals since accounting began). */
#include "acct_shell.h"

#include <stdlib.h>
#include <string.h>

#include "acct.h"
#include "bus.h"
#include "jsonget.h"
#include "metrics.h"
#include "opts.h"
#include "service.h"

/* ---- options ---- */

struct acct_opts {
  struct kafka_opts kafka;
  struct metrics_opts metrics;
  const char *group, *txn_id;
  int64_t lag_ms, publish_ms, batch;
  struct acct_conf core;
};

static void acct_opts_init(void *conf) { acct_conf_defaults(&((struct acct_opts *)conf)->core); }

static const struct opt_spec acct_rows[] = {
    OPTS_KAFKA(struct acct_opts, kafka),
    OPT_ROW(struct acct_opts, group, "group", "G", "barge-accounting", "consumer group"),
    OPT_ROW_DOC(struct acct_opts, txn_id, "transactional-id", "ID", "the group, GROUP-PREFIX under another topic prefix",
                "transactional id; a second instance with the same id fences the first"),
    OPT_ROW(struct acct_opts, lag_ms, "settle-lag-ms", "MS", "5000", "time is accounted once it is this old"),
    OPT_ROW(struct acct_opts, core.reopen_ms, "reopen-ms", "MS", NULL,
            "how late an event may arrive and still be applied exactly"),
    OPT_ROW_MIN(struct acct_opts, publish_ms, "publish-ms", "MS", "2000", 1,
            "how often usage records are written, one transaction each"),
    OPT_ROW(struct acct_opts, core.dedup_max, "dedup-max", "N", NULL, "event ids remembered for deduplication"),
    OPT_ROW_MIN(struct acct_opts, batch, "batch", "N", "5000", 1, "most records handled between publishes"),
    OPTS_METRICS(struct acct_opts, metrics),
};

const struct opts_cmd acct_opts_cmd =
    OPTS_CMD("accounting", "[options]",
    "The accounting service: usage and cost per job, queue, share and compute environment, written to barge.usage "
    "(see accounting.md).", acct_rows, struct acct_opts, acct_opts_init);

/* ---- state ---- */

/* One input partition: the group's committed offset, and reading progress for the watermark. */
struct progress {
  enum bus_topic t;
  int32_t p;
  int64_t committed; /* at start (-1: none) */
  int64_t last_at;   /* max event time read */
  int seen, eof, rebuilt;
};

struct svc {
  struct service_loop loop;
  struct acct *core;
  const struct bus_conf *bc;
  int64_t lag_ms;
  struct progress *pr;
  size_t npr;
  char source[128];
  long long published, publishing; /* records committed; written in the open transaction */
};

static const enum bus_topic acct_inputs[] = {TOPIC_JOB_EVENTS, TOPIC_INSTANCES, TOPIC_CONFIG};

static struct progress *progress_of(struct svc *s, enum bus_topic t, int32_t p) {
  for (size_t i = 0; i < s->npr; i++)
    if (s->pr[i].t == t && s->pr[i].p == p) return &s->pr[i];
  s->pr = xrealloc(s->pr, (s->npr + 1) * sizeof *s->pr);
  s->pr[s->npr] = (struct progress){.t = t, .p = p, .committed = -1, .last_at = INT64_MIN};
  return &s->pr[s->npr++];
}

/* The group consumer starts at the committed offsets, or at the beginning. */
static int64_t group_start(void *ctx, enum bus_topic t, int32_t p, int64_t committed) {
  progress_of(ctx, t, p)->committed = committed;
  return committed >= 0 ? committed : BUS_OFFSET_BEGINNING;
}

/* The rebuild reader starts at the beginning of partitions with something committed. */
static int64_t rebuild_start(void *ctx, enum bus_topic t, int32_t p, int64_t committed) {
  (void)committed;
  struct progress *pr = progress_of(ctx, t, p);
  if (pr->committed <= 0) pr->rebuilt = 1;
  return pr->committed > 0 ? BUS_OFFSET_BEGINNING : BUS_OFFSET_END;
}

static void seed_cb(void *ctx, const struct bus_msg *m, const json_t *ev) {
  struct svc *s = ctx;
  if (ev && acct_seed(s->core, ev)) log_warn("barge.usage offset %lld: not a usage record", (long long)m->offset);
}

static int64_t watermark(struct svc *s, int64_t lag_ms) {
  int64_t w = now_ms() - lag_ms;
  for (size_t i = 0; i < s->npr; i++) {
    const struct progress *p = &s->pr[i];
    if (p->t == TOPIC_CONFIG) continue; /* no timeline there */
    if (!p->seen) return INT64_MIN;     /* nothing known yet about this partition */
    if (!p->eof && p->last_at < w) w = p->last_at;
  }
  return w;
}

/* The core's statistics and what was written, as metrics (docs/metrics.md "Accounting"). */
static void publish_metrics(const struct svc *s) {
  struct metrics *r = metrics_global();
  struct acct_stats st;
  acct_stats(s->core, &st);
  static const struct {
    const char *name, *help;
  } rows[] = {
      {"barge_accounting_events_total", "events the accounting core took (the start-up rebuild included)"},
      {"barge_accounting_duplicate_events_total", "events seen before (by event id), not counted again"},
      {"barge_accounting_late_events_total", "events before the settled point, applied exactly (corrections)"},
      {"barge_accounting_too_late_events_total", "events before the reopen horizon, moved to it"},
      {"barge_accounting_invalid_events_total", "events the accounting core refused"},
      {"barge_usage_records_total", "usage records written to barge.usage"},
  };
  const long long v[] = {st.events, st.duplicates, st.late, st.too_late, st.invalid, s->published};
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    metric_set(metrics_counter(r, rows[i].name, rows[i].help, NULL), NULL, (double)v[i]);
  metric_set(metrics_gauge(r, "barge_accounting_jobs", "jobs the accounting core holds", NULL), NULL, (double)st.jobs);
}

/* ---- hooks ---- */

/* Settles and writes the records the core has; the loop commits them with the consumed offsets. */
static int on_publish(void *ctx, char *err, size_t errlen) {
  struct svc *s = ctx;
  int64_t w = watermark(s, s->lag_ms);
  if (w != INT64_MIN) acct_settle(s->core, w);
  json_t *recs = json_array();
  acct_collect(s->core, recs, 1);
  size_t n = json_array_size(recs), i;
  json_t *r;
  int rc = n && service_txn(&s->loop, err, errlen) ? -1 : 0;
  json_array_foreach(recs, i, r) {
    if (rc) break;
    json_object_set_new(r, "header", bus_header(s->source, "", jget_int(r, "until", 0)));
    if (bus_produce(service_producer(&s->loop), TOPIC_USAGE, jget_str(r, "key"), r, err, errlen)) rc = -1;
  }
  json_decref(recs);
  if (rc) return -1;
  s->publishing += (long long)n;
  if (n) log_debug("published %zu usage records (settled to %lld)", n, (long long)acct_settled(s->core));
  return 0;
}

/* Every record counts for the watermark; tombstones (barge.config deletions, compaction of
 * instances) go no further. barge.job-events is a log that never deletes: a tombstone there is
 * handed on, and dead-lettered (on_input). */
static int on_take(void *ctx, const struct bus_msg *m) {
  struct progress *p = progress_of(ctx, m->topic, m->partition);
  p->seen = 1;
  p->eof = 0;
  return !m->value && m->topic != TOPIC_JOB_EVENTS;
}

static int on_input(void *ctx, const struct bus_msg *m, enum barge_ev_type t, const json_t *ev,
                    char *why, size_t whylen, char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  struct svc *s = ctx;
  if (!ev) {
    snprintf(why, whylen, "tombstone: barge.job-events is a log of state changes, with nothing to delete");
    return 1;
  }
  struct progress *p = progress_of(s, m->topic, m->partition);
  int64_t at = jget_int(ev, "at", INT64_MIN);
  if (at > p->last_at) p->last_at = at;
  return acct_handle(s->core, t, ev, why, whylen) < 0 ? 1 : 0;
}

static void on_eof(void *ctx, const struct bus_msg *m) {
  struct progress *p = progress_of(ctx, m->topic, m->partition);
  p->seen = p->eof = 1;
}

/* A record of the rebuild: as the live loop would hand it over. 1 when it is invalid (why). */
static int feed(struct svc *s, const struct bus_msg *m, char *why, size_t whylen) {
  if (on_take(s, m)) return 0;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char err[16];
  int bad = bus_decode(m, &t, &ev, why, whylen) || on_input(s, m, t, ev, why, whylen, err, sizeof err);
  json_decref(ev);
  return bad;
}

/* Hands the core every record before the committed offsets: what the earlier run had seen. */
static int rebuild(struct svc *s, char *err, size_t errlen) {
  size_t todo = 0;
  for (size_t i = 0; i < s->npr; i++) todo += s->pr[i].committed > 0;
  if (!todo) return 0;
  struct bus_consumer *r = bus_consumer_new(s->bc, NULL, 1, err, errlen);
  if (!r || bus_assign_with(r, acct_inputs, 3, rebuild_start, s, err, errlen)) {
    bus_consumer_free(r);
    return -1;
  }
  long long fed = 0;
  int64_t deadline = mono_ms() + 600000;
  int rc = 0;
  while (todo > 0 && !service_stopping()) {
    if (mono_ms() > deadline) {
      snprintf(err, errlen, "rebuilding from the event topics timed out");
      rc = -1;
      break;
    }
    struct bus_msg m;
    int pr = bus_poll(r, 200, &m, err, errlen);
    if (pr < 0) {
      rc = -1;
      break;
    }
    if (pr == 0) continue;
    struct progress *p = progress_of(s, m.topic, m.partition);
    if (pr == 1 && !p->rebuilt && m.offset < p->committed) {
      char why[512];
      if (feed(s, &m, why, sizeof why))
        log_debug("rebuild: %s[%d]@%lld skipped: %s", bus_topic_base(m.topic), (int)m.partition,
                  (long long)m.offset, why);
      fed++;
    }
    int done = pr == 2 || m.offset + 1 >= p->committed;
    if (pr == 1) bus_msg_release(&m);
    if (done && !p->rebuilt) {
      p->rebuilt = 1;
      todo--;
    }
  }
  bus_consumer_free(r);
  /* the live consumer decides the watermark from here on */
  for (size_t i = 0; i < s->npr; i++) {
    s->pr[i].seen = s->pr[i].eof = 0;
    s->pr[i].last_at = INT64_MIN;
  }
  log_info("rebuilt from %lld events before the committed offsets", fed);
  return rc;
}

/* The group consumer at its committed offsets, and the core rebuilt from what lies before. */
static int on_assign(void *ctx, char *err, size_t errlen) {
  struct svc *s = ctx;
  if (bus_assign_with(service_input(&s->loop), acct_inputs, 3, group_start, s, err, errlen) ||
      rebuild(s, err, errlen))
    return -1;
  acct_restored(s->core);
  json_t *none = json_array();
  acct_collect(s->core, none, 0); /* the rebuild reports nothing; clear what it queued */
  json_decref(none);
  return 0;
}

/* The transaction committed: its records count as written. */
static int on_committed(void *ctx, char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  struct svc *s = ctx;
  s->published += s->publishing;
  s->publishing = 0;
  publish_metrics(s);
  return 0;
}

static int on_stopping(void *ctx, char *err, size_t errlen) {
  struct svc *s = ctx;
  if (on_publish(s, err, errlen)) return -1;
  struct acct_stats st;
  acct_stats(s->core, &st);
  log_info("%lld events, %lld duplicates, %lld late (applied exactly), %lld too late, %lld invalid; %lld records written",
           st.events, st.duplicates, st.late, st.too_late, st.invalid, s->published + s->publishing);
  return 0;
}

static const struct service_table acct_tables[] = {{TOPIC_USAGE, seed_cb, NULL}};

int acct_service_main(int argc, char **argv) {
  struct acct_opts o;
  int r = opts_parse_or_exit(&acct_opts_cmd, &o, argc, argv);
  if (r >= 0) return r;
  if (o.lag_ms < 0 || o.core.reopen_ms < 0 || o.publish_ms < 10 || o.core.dedup_max < 1024 || o.batch < 1) {
    fprintf(stderr, "barge accounting: --settle-lag-ms and --reopen-ms >= 0, --publish-ms >= 10, --dedup-max >= 1024, --batch >= 1\n");
    return 2;
  }
  log_set_role("accounting");
  if (service_metrics_start("accounting", &o.metrics)) return 1;
  struct service_conn conn;
  if ((r = service_connect("accounting", &o.kafka, "barge-accounting", SERVICE_TOPICS | SERVICE_WAIT, &conn))) return service_stopping() ? 0 : r;
  char txn_id[256];
  if (o.txn_id) snprintf(txn_id, sizeof txn_id, "%s", o.txn_id);
  else service_txn_id(o.group, conn.prefix, txn_id, sizeof txn_id);
  struct svc s;
  memset(&s, 0, sizeof s);
  s.bc = &conn.bc;
  s.lag_ms = o.lag_ms;
  service_source("accounting", s.source, sizeof s.source);
  s.core = acct_new(&o.core);
  log_info("group %s", o.group);
  const struct service_def def = {
      .name = "accounting", .group = o.group, .txn_id = txn_id, .inputs = acct_inputs, .ninputs = 3,
      .tables = acct_tables, .ntables = 1, .batch = o.batch, .batch_ms = o.publish_ms, .poll_ms = 100,
      /* it publishes every --publish-ms: no need to wake at every scheduler commit */
      .lazy = 1,
      .hooks = {.assign = on_assign, .take = on_take, .handle = on_input, .eof = on_eof, .tick = on_publish,
                .committed = on_committed, .stopping = on_stopping}};
  int rc = service_run(&s.loop, &def, &s, &conn.bc);
  acct_free(s.core);
  free(s.pr);
  service_metrics_stop();
  return rc;
}

/* ---------------------------------------------------------------- barge usage -- */

enum fmt { FMT_TABLE, FMT_CSV, FMT_JSON };
enum by { BY_JOB, BY_QUEUE, BY_SHARE, BY_CE };
static const char *const by_names[] = {[BY_JOB] = "job", [BY_QUEUE] = "queue", [BY_SHARE] = "share", [BY_CE] = "ce"};

/* --by's word as an enum by, or -1. */
static int by_parse(const char *s) {
  for (int k = 0; k < (int)(sizeof by_names / sizeof *by_names); k++)
    if (s && !strcmp(s, by_names[k])) return k;
  return -1;
}

struct row {
  char *key, *queue, *share, *ce;
  int jobs, attempts, running; /* attempts, running: -1 not known (--source usage: not in a UsageRecord) */
  struct acct_totals t, idle;
};

struct report {
  enum by by;
  struct row *rows;
  size_t n, cap;
};

static struct row *add_row(struct report *rp, const char *key) {
  if (rp->n == rp->cap) {
    rp->cap = rp->cap ? rp->cap * 2 : 32;
    rp->rows = xrealloc(rp->rows, rp->cap * sizeof *rp->rows);
  }
  struct row *r = &rp->rows[rp->n++];
  memset(r, 0, sizeof *r);
  r->key = xstrdup(key ? key : "");
  return r;
}

static struct row *find_row(struct report *rp, const char *key) {
  for (size_t i = 0; i < rp->n; i++)
    if (!strcmp(rp->rows[i].key, key)) return &rp->rows[i];
  return NULL;
}

static void row_cb(void *ctx, const struct acct_row *ar) {
  struct report *rp = ctx;
  if (ar->kind == ACCT_IDLE) {
    struct row *r = find_row(rp, ar->key);
    if (!r) r = add_row(rp, ar->key);
    r->idle = ar->t;
    return;
  }
  struct row *r = add_row(rp, ar->key);
  r->jobs = ar->jobs;
  r->t = ar->t;
  if (ar->kind == ACCT_JOB) {
    r->queue = xstrdup(ar->queue);
    r->share = xstrdup(ar->share);
    r->ce = xstrdup(ar->ce);
    r->attempts = ar->attempts;
    r->running = ar->running;
  }
}

static int cmp_row(const void *x, const void *y) {
  return strcmp(((const struct row *)x)->key, ((const struct row *)y)->key);
}

static void tadd(struct acct_totals *a, const struct acct_totals *b) {
  a->vcpu_s += b->vcpu_s;
  a->mem_gib_s += b->mem_gib_s;
  a->gpu_s += b->gpu_s;
  a->inst_s += b->inst_s;
  a->cost += b->cost;
}

static void feed_cb(void *ctx, const struct bus_msg *m) {
  struct acct *core = ctx;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (m->value && !bus_decode(m, &t, &ev, why, sizeof why) &&
      acct_handle(core, t, ev, why, sizeof why) < 0)
    log_debug("%s[%d]@%lld ignored: %s", bus_topic_base(m->topic), (int)m->partition,
              (long long)m->offset, why);
  json_decref(ev);
}

/* --source usage: the latest record per key of the compacted barge.usage. */
struct usage_read {
  json_t *latest; /* key -> record */
};

static void usage_cb(void *ctx, const struct bus_msg *m) {
  struct usage_read *u = ctx;
  char key[1024];
  snprintf(key, sizeof key, "%.*s", (int)m->keylen, m->key ? m->key : "");
  if (!m->value) {
    json_object_del(u->latest, key);
    return;
  }
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (!bus_decode(m, &t, &ev, why, sizeof why)) json_object_set_new(u->latest, key, ev);
}

static struct acct_totals rec_totals(const json_t *r) {
  struct acct_totals t = {
      jget_num(r, "vcpuSeconds", 0),
      jget_num(r, "memoryGibSeconds", 0),
      jget_num(r, "gpuSeconds", 0),
      jget_num(r, "instanceSeconds", 0),
      jget_num(r, "cost", 0),
  };
  return t;
}

/* A string or, for NULL, the empty one. */
static const char *nz(const char *s) { return s ? s : ""; }

static void report_from_usage(struct report *rp, json_t *latest, int64_t since, int64_t until) {
  static const char *kinds[] = {[BY_JOB] = "JOB", [BY_QUEUE] = "QUEUE", [BY_SHARE] = "SHARE",
                                [BY_CE] = "COMPUTE_ENVIRONMENT"};
  const char *k;
  json_t *r;
  json_object_foreach(latest, k, r) {
    const char *kind = nz(jget_str(r, "kind"));
    if (strcmp(kind, kinds[rp->by]) != 0) continue;
    if (rp->by == BY_JOB) {
      int64_t from = jget_int(r, "from", 0);
      int64_t to = jget_int(r, "until", 0);
      if ((since != INT64_MIN && to < since) || from >= until) continue;
      struct row *row = add_row(rp, k);
      row->queue = xstrdup(nz(jget_str(r, "jobQueue")));
      row->share = xstrdup(nz(jget_str(r, "shareIdentifier")));
      row->ce = xstrdup(nz(jget_str(r, "computeEnvironment")));
      row->t = rec_totals(r);
      row->attempts = row->running = -1; /* a JOB record holds neither */
      continue;
    }
    const char *name = rp->by == BY_QUEUE ? nz(jget_str(r, "jobQueue"))
                     : rp->by == BY_SHARE ? nz(jget_str(r, "shareIdentifier"))
                     : nz(jget_str(r, "computeEnvironment"));
    struct row *row = add_row(rp, name);
    row->t = rec_totals(r);
    if (rp->by == BY_CE) {
      char ik[1024];
      snprintf(ik, sizeof ik, "idle:%s", name);
      json_t *idle = json_object_get(latest, ik);
      if (idle) row->idle = rec_totals(idle);
    }
  }
  /* jobs per aggregate, from the JOB records */
  json_object_foreach(latest, k, r) {
    if (rp->by == BY_JOB || strcmp(nz(jget_str(r, "kind")), "JOB") != 0) continue;
    const char *name = rp->by == BY_QUEUE ? nz(jget_str(r, "jobQueue"))
                     : rp->by == BY_SHARE ? nz(jget_str(r, "shareIdentifier"))
                     : nz(jget_str(r, "computeEnvironment"));
    struct row *row = find_row(rp, name);
    if (row) row->jobs++;
  }
}

static const char *by_key_name(enum by by) {
  return by == BY_JOB ? "jobId" : by == BY_QUEUE ? "jobQueue" : by == BY_SHARE ? "shareIdentifier"
                                                                               : "computeEnvironment";
}

static json_t *totals_json(const struct acct_totals *t) {
  return json_pack("{s:f, s:f, s:f, s:f, s:f}", "vcpuSeconds", t->vcpu_s, "memoryGibSeconds",
                   t->mem_gib_s, "gpuSeconds", t->gpu_s, "instanceSeconds", t->inst_s, "cost",
                   t->cost);
}

static json_t *report_json(const struct report *rp, int64_t since, int64_t until) {
  json_t *rows = json_array();
  struct acct_totals tot = {0}, idle = {0};
  int jobs = 0;
  for (size_t i = 0; i < rp->n; i++) {
    const struct row *r = &rp->rows[i];
    json_t *o = json_object();
    json_object_set_new(o, by_key_name(rp->by), json_string(r->key));
    if (rp->by == BY_JOB) {
      json_object_set_new(o, "jobQueue", json_string(r->queue));
      json_object_set_new(o, "shareIdentifier", json_string(r->share));
      json_object_set_new(o, "computeEnvironment", json_string(r->ce));
      json_object_set_new(o, "attempts", r->attempts < 0 ? json_null() : json_integer(r->attempts));
      json_object_set_new(o, "running", r->running < 0 ? json_null() : json_boolean(r->running));
    } else {
      json_object_set_new(o, "jobs", json_integer(r->jobs));
    }
    json_t *t = totals_json(&r->t);
    json_object_update(o, t);
    json_decref(t);
    if (rp->by == BY_CE) {
      json_object_set_new(o, "idleInstanceSeconds", json_real(r->idle.inst_s));
      json_object_set_new(o, "idleCost", json_real(r->idle.cost));
    }
    json_array_append_new(rows, o);
    tadd(&tot, &r->t);
    tadd(&idle, &r->idle);
    jobs += r->jobs;
  }
  json_t *total = totals_json(&tot);
  if (rp->by != BY_JOB) json_object_set_new(total, "jobs", json_integer(jobs));
  else json_object_set_new(total, "jobs", json_integer((json_int_t)rp->n));
  if (rp->by == BY_CE) {
    json_object_set_new(total, "idleInstanceSeconds", json_real(idle.inst_s));
    json_object_set_new(total, "idleCost", json_real(idle.cost));
  }
  return json_pack("{s:s, s:o, s:I, s:o, s:o}", "by", by_names[rp->by], "since",
                   since == INT64_MIN ? json_null() : json_integer(since), "until", (json_int_t)until, "rows",
                   rows, "total", total);
}

static void print_json(const struct report *rp, int64_t since, int64_t until) {
  json_t *out = report_json(rp, since, until);
  char *text = json_dumps(out, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
  printf("%s\n", text);
  free(text);
  json_decref(out);
}

static void csv_field(const char *s) {
  if (!strpbrk(s, ",\"\n")) {
    fputs(s, stdout);
    return;
  }
  putchar('"');
  for (; *s; s++) {
    if (*s == '"') putchar('"');
    putchar(*s);
  }
  putchar('"');
}

static void print_csv(const struct report *rp) {
  printf("%s", by_key_name(rp->by));
  if (rp->by == BY_JOB) printf(",jobQueue,shareIdentifier,computeEnvironment,attempts,running");
  else printf(",jobs");
  printf(",vcpuSeconds,memoryGibSeconds,gpuSeconds,instanceSeconds,cost");
  if (rp->by == BY_CE) printf(",idleInstanceSeconds,idleCost");
  printf("\n");
  for (size_t i = 0; i < rp->n; i++) {
    const struct row *r = &rp->rows[i];
    csv_field(r->key);
    if (rp->by == BY_JOB) {
      putchar(',');
      csv_field(r->queue);
      putchar(',');
      csv_field(r->share);
      putchar(',');
      csv_field(r->ce);
      if (r->attempts < 0) printf(",,"); /* not known: empty, not 0 and false */
      else printf(",%d,%s", r->attempts, r->running ? "true" : "false");
    } else {
      printf(",%d", r->jobs);
    }
    printf(",%.10g,%.10g,%.10g,%.10g,%.10g", r->t.vcpu_s, r->t.mem_gib_s, r->t.gpu_s, r->t.inst_s,
           r->t.cost);
    if (rp->by == BY_CE) printf(",%.10g,%.10g", r->idle.inst_s, r->idle.cost);
    printf("\n");
  }
}

/* A table: every cell a string; widths from the longest cell. */
static void print_table(const struct report *rp, int64_t since, int64_t until) {
  enum { MAXC = 12 };
  const char *hdr[MAXC];
  int nc = 0, left = 1; /* leading text columns */
  hdr[nc++] = rp->by == BY_JOB ? "JOB ID" : rp->by == BY_QUEUE ? "QUEUE" : rp->by == BY_SHARE ? "SHARE" : "COMPUTE ENV";
  if (rp->by == BY_JOB) {
    hdr[nc++] = "QUEUE";
    hdr[nc++] = "SHARE";
    hdr[nc++] = "COMPUTE ENV";
    hdr[nc++] = "ATTEMPTS";
    left = 4;
  } else {
    hdr[nc++] = "JOBS";
  }
  const char *nums[] = {"VCPU-S", "MEM-GIB-S", "GPU-S", "INSTANCE-S", "COST"};
  for (int k = 0; k < 5; k++) hdr[nc++] = nums[k];
  if (rp->by == BY_CE) {
    hdr[nc++] = "IDLE-S";
    hdr[nc++] = "IDLE COST";
  }
  size_t nrows = rp->n + 1;
  char *(*cells)[MAXC] = xcalloc(nrows, sizeof *cells);
  struct acct_totals tot = {0}, idle = {0};
  int jobs = 0;
  for (size_t i = 0; i <= rp->n; i++) {
    const struct row *r = i < rp->n ? &rp->rows[i] : NULL;
    struct acct_totals t = r ? r->t : tot, it = r ? r->idle : idle;
    char buf[64];
    int c = 0;
    cells[i][c++] = xstrdup(r ? (*r->key ? r->key : "(none)") : "TOTAL");
    if (rp->by == BY_JOB) {
      cells[i][c++] = xstrdup(r ? r->queue : "");
      cells[i][c++] = xstrdup(r ? (*r->share ? r->share : "-") : "");
      cells[i][c++] = xstrdup(r ? r->ce : "");
      if (r && r->attempts < 0) snprintf(buf, sizeof buf, "-");
      else snprintf(buf, sizeof buf, "%d%s", r ? r->attempts : 0, r && r->running > 0 ? "+" : "");
      cells[i][c++] = xstrdup(r ? buf : "");
    } else {
      snprintf(buf, sizeof buf, "%d", r ? r->jobs : jobs);
      cells[i][c++] = xstrdup(buf);
    }
    double v[5] = {t.vcpu_s, t.mem_gib_s, t.gpu_s, t.inst_s, t.cost};
    for (int k = 0; k < 5; k++) {
      snprintf(buf, sizeof buf, k == 4 ? "%.4f" : "%.1f", v[k]);
      cells[i][c++] = xstrdup(buf);
    }
    if (rp->by == BY_CE) {
      snprintf(buf, sizeof buf, "%.1f", it.inst_s);
      cells[i][c++] = xstrdup(buf);
      snprintf(buf, sizeof buf, "%.4f", it.cost);
      cells[i][c++] = xstrdup(buf);
    }
    if (r) {
      tadd(&tot, &r->t);
      tadd(&idle, &r->idle);
      jobs += r->jobs;
    }
  }
  size_t width[MAXC];
  for (int c = 0; c < nc; c++) {
    width[c] = strlen(hdr[c]);
    for (size_t i = 0; i < nrows; i++)
      if (strlen(cells[i][c]) > width[c]) width[c] = strlen(cells[i][c]);
  }
  char a[32], b[32];
  if (since != INT64_MIN) iso8601_utc(since, a);
  iso8601_utc(until, b);
  printf("usage by %s, %s%s to %s\n", rp->by == BY_JOB ? "job" : rp->by == BY_QUEUE ? "queue" : rp->by == BY_SHARE ? "share" : "compute environment",
         since == INT64_MIN ? "from the beginning" : "from ", since == INT64_MIN ? "" : a, b);
  for (int c = 0; c < nc; c++)
    printf(c < left ? "%-*s%s" : "%*s%s", (int)width[c], hdr[c], c + 1 < nc ? "  " : "\n");
  for (size_t i = 0; i < nrows; i++) {
    if (i == rp->n) {
      size_t total = 0;
      for (int c = 0; c < nc; c++) total += width[c] + (c + 1 < nc ? 2 : 0);
      for (size_t k = 0; k < total; k++) putchar('-');
      putchar('\n');
    }
    for (int c = 0; c < nc; c++)
      printf(c < left ? "%-*s%s" : "%*s%s", (int)width[c], cells[i][c], c + 1 < nc ? "  " : "\n");
  }
  for (size_t i = 0; i < nrows; i++)
    for (int c = 0; c < nc; c++) free(cells[i][c]);
  free(cells);
}

static void report_release(struct report *rp) {
  for (size_t i = 0; i < rp->n; i++) {
    free(rp->rows[i].key);
    free(rp->rows[i].queue);
    free(rp->rows[i].share);
    free(rp->rows[i].ce);
  }
  free(rp->rows);
  rp->rows = NULL;
  rp->n = 0;
}

/* The report's rows (rp->by set), sorted by key: recomputed from the event topics (events) or
 * from barge.usage's running totals. 0, or -1 with err. */
static int build_report(const struct bus_conf *bc, int events, int64_t since, int64_t until, struct report *rp,
                        char *err, size_t errlen) {
  struct bus_consumer *c = bus_consumer_new(bc, NULL, 1, err, errlen);
  if (!c) return -1;
  int rc = -1;
  if (events) {
    struct acct_conf conf;
    acct_conf_defaults(&conf);
    conf.from_ms = since;
    conf.keep_jobs = 1;
    conf.dedup_max = 1 << 20;
    struct acct *core = acct_new(&conf);
    if (!bus_read_table(c, TOPIC_CONFIG, feed_cb, core, err, errlen) &&
        !bus_read_table(c, TOPIC_INSTANCES, feed_cb, core, err, errlen) &&
        !bus_read_table(c, TOPIC_JOB_EVENTS, feed_cb, core, err, errlen)) {
      /* time after now has not happened: nothing ran or idled in it (an instance up now is not
       * billed into a future --until) */
      int64_t now = now_ms();
      acct_settle(core, until < now ? until : now);
      static const enum acct_kind kinds[] = {[BY_JOB] = ACCT_JOB, [BY_QUEUE] = ACCT_QUEUE, [BY_SHARE] = ACCT_SHARE,
                                             [BY_CE] = ACCT_CE};
      acct_foreach(core, kinds[rp->by], 0, row_cb, rp);
      if (rp->by == BY_CE) acct_foreach(core, ACCT_IDLE, 0, row_cb, rp);
      rc = 0;
    }
    acct_free(core);
  } else {
    struct usage_read u = {.latest = json_object()};
    if (!bus_read_table(c, TOPIC_USAGE, usage_cb, &u, err, errlen)) {
      report_from_usage(rp, u.latest, since, until);
      rc = 0;
    }
    json_decref(u.latest);
  }
  bus_consumer_free(c);
  if (!rc) qsort(rp->rows, rp->n, sizeof *rp->rows, cmp_row);
  return rc;
}

int acct_usage_report(const struct bus_conf *bc, const char *by, const char *source, int64_t since, int64_t until,
                      json_t **out, char *err, size_t errlen) {
  *out = NULL;
  int k = by_parse(by ? by : "queue");
  if (k < 0) return snprintf(err, errlen, "by is queue, share, ce or job, not %.50s", by), -1;
  if (source && strcmp(source, "events") && strcmp(source, "usage"))
    return snprintf(err, errlen, "source is events or usage, not %.50s", source), -1;
  struct report rp = {.by = (enum by)k};
  if (build_report(bc, !source || !strcmp(source, "events"), since, until, &rp, err, errlen)) return -1;
  *out = report_json(&rp, since, until);
  report_release(&rp);
  return 0;
}

struct usage_opts {
  struct kafka_opts kafka;
  const char *by, *since, *until, *format, *source;
};

static const struct opt_spec usage_rows[] = {
    OPT_ROW(struct usage_opts, by, "by", "queue|share|ce|job", "queue", "what to group by"),
    OPT_ROW_DOC(struct usage_opts, since, "since", "TIME", "the beginning",
                "window start: ISO-8601 UTC, a date, or epoch s/ms"),
    OPT_ROW_DOC(struct usage_opts, until, "until", "TIME", "now", "window end, exclusive"),
    OPT_ROW(struct usage_opts, format, "format", "table|csv|json", "table", "output format"),
    OPT_ROW(struct usage_opts, source, "source", "events|usage", "events",
            "recompute from the event topics (exact for any window) or print barge.usage's running totals"),
    OPTS_KAFKA(struct usage_opts, kafka),
};

const struct opts_cmd usage_opts_cmd =
    OPTS_CMD("usage", "[--by queue|share|ce|job] [--since T] [--until T] [--format table|csv|json]",
             "Usage and cost report (see accounting.md).", usage_rows, struct usage_opts, NULL);

int acct_usage_main(int argc, char **argv) {
  struct usage_opts o;
  int r = opts_parse_or_exit(&usage_opts_cmd, &o, argc, argv);
  if (r >= 0) return r;
  const char *by_s = o.by, *fmt_s = o.format, *source = o.source, *since_s = o.since, *until_s = o.until;
  int by = by_parse(by_s);
  if (by < 0) {
    fprintf(stderr, "barge usage: --by is queue, share, ce or job, not '%s'\n", by_s);
    return 2;
  }
  enum fmt fmt;
  if (!strcmp(fmt_s, "table")) fmt = FMT_TABLE;
  else if (!strcmp(fmt_s, "csv")) fmt = FMT_CSV;
  else if (!strcmp(fmt_s, "json")) fmt = FMT_JSON;
  else {
    fprintf(stderr, "barge usage: --format is table, csv or json, not '%s'\n", fmt_s);
    return 2;
  }
  if (strcmp(source, "events") != 0 && strcmp(source, "usage") != 0) {
    fprintf(stderr, "barge usage: --source is events or usage, not '%s'\n", source);
    return 2;
  }
  int64_t since = INT64_MIN, until = now_ms();
  if (since_s && (since = parse_time_ms(since_s)) < 0) {
    fprintf(stderr, "barge usage: --since: cannot read time '%s'\n", since_s);
    return 2;
  }
  if (until_s && (until = parse_time_ms(until_s)) < 0) {
    fprintf(stderr, "barge usage: --until: cannot read time '%s'\n", until_s);
    return 2;
  }
  if (since != INT64_MIN && until <= since) { /* an empty window: say which end made it so */
    char at[32];
    iso8601_utc(since, at);
    if (!until_s) /* --until is now; the time read is shown when it was given in other words */
      fprintf(stderr, "barge usage: --since %s%s%s%s is in the future: nothing to report yet\n", since_s,
              strcmp(since_s, at) ? " (" : "", strcmp(since_s, at) ? at : "", strcmp(since_s, at) ? ")" : "");
    else
      fprintf(stderr, "barge usage: --until %s is not after --since %s: the window is empty\n", until_s, since_s);
    return 2;
  }
  /* a window reaching into the future ends now: later time has not happened yet (the header says so) */
  int64_t now = now_ms();
  if (until > now) {
    if (since != INT64_MIN && since >= now) {
      char at[32];
      iso8601_utc(since, at);
      fprintf(stderr, "barge usage: --since %s%s%s%s is in the future: nothing to report yet\n", since_s,
              strcmp(since_s, at) ? " (" : "", strcmp(since_s, at) ? at : "", strcmp(since_s, at) ? ")" : "");
      return 2;
    }
    until = now;
  }
  /* barge.usage's aggregates are running totals since accounting began: no window selects part
   * of them (the report said "from --since" over the all-time totals) */
  if (!strcmp(source, "usage") && by != BY_JOB && (since_s || until_s)) {
    fprintf(stderr,
            "barge usage: --%s does not apply to --source usage --by %s: its records are running totals since "
            "accounting began; for a window use --source events (the default), or --by job to select JOB records\n",
            since_s ? "since" : "until", by_names[by]);
    return 2;
  }
  log_set_role("usage");
  struct service_conn conn;
  if ((r = service_connect("usage", &o.kafka, "barge-usage", 0, &conn)) || (r = service_require_broker("usage", &conn))) return r;
  char err[1024];
  struct report rp = {.by = (enum by)by};
  int rc = 1;
  if (build_report(&conn.bc, !strcmp(source, "events"), since, until, &rp, err, sizeof err)) {
    fprintf(stderr, "barge usage: %s\n", err);
    goto out;
  }
  if (fmt == FMT_JSON) print_json(&rp, since, until);
  else if (fmt == FMT_CSV) print_csv(&rp);
  else print_table(&rp, since, until);
  rc = 0;
out:
  report_release(&rp);
  return rc;
}
