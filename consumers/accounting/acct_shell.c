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
 * `barge usage` (the report): recomputes from barge.job-events and barge.instances with the same
 * core, clipped to [--since, --until), so any window is exact; or, with --source usage, prints
 * the latest records of barge.usage (running totals since accounting began). */
#include "acct_shell.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acct.h"
#include "bus.h"
#include "opts.h"
#include "stack.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

/* One input partition: the group's committed offset, and reading progress for the watermark. */
struct progress {
  enum bus_topic t;
  int32_t p;
  int64_t committed; /* at start (-1: none) */
  int64_t last_at;   /* max event time read */
  int seen, eof, rebuilt;
};

struct svc {
  struct acct *core;
  struct bus_producer *prod;
  struct bus_consumer *c;
  struct progress *pr;
  size_t npr;
  char source[128];
  int in_txn;
  long long marked; /* records consumed since the last commit */
  long long published, dead;
};

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

static void seed_cb(void *ctx, const struct bus_msg *m) {
  struct acct *core = ctx;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (m->value && !bus_decode(m, &t, &ev, why, sizeof why) && acct_seed(core, ev))
    log_warn("barge.usage offset %lld: not a usage record", (long long)m->offset);
  json_decref(ev);
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

static int ensure_txn(struct svc *s, char *err, size_t errlen) {
  if (s->in_txn) return 0;
  if (bus_txn_begin(s->prod, err, errlen)) return -1;
  s->in_txn = 1;
  return 0;
}

/* Settles, writes the records the core has, and commits them with the consumed offsets. */
static int publish(struct svc *s, int64_t lag_ms, char *err, size_t errlen) {
  int64_t w = watermark(s, lag_ms);
  if (w != INT64_MIN) acct_settle(s->core, w);
  json_t *recs = json_array();
  acct_collect(s->core, recs, 1);
  size_t n = json_array_size(recs), i;
  json_t *r;
  int rc = 0;
  if ((n || s->marked) && ensure_txn(s, err, errlen)) rc = -1;
  json_array_foreach(recs, i, r) {
    if (rc) break;
    int64_t until = json_integer_value(json_object_get(r, "until"));
    json_object_set_new(r, "header", bus_header(s->source, "", until));
    if (bus_produce(s->prod, TOPIC_USAGE, json_string_value(json_object_get(r, "key")), r, err,
                    errlen))
      rc = -1;
  }
  json_decref(recs);
  if (rc) return -1;
  if (s->in_txn) {
    if (bus_txn_commit(s->prod, s->c, err, errlen)) return -1;
    s->in_txn = 0;
    s->marked = 0;
  }
  s->published += (long long)n;
  if (n) log_debug("published %zu usage records (settled to %lld)", n, (long long)acct_settled(s->core));
  return 0;
}

/* Decodes and hands one record to the core. Returns 0, or 1 when it is invalid (why). */
static int feed(struct svc *s, const struct bus_msg *m, char *why, size_t whylen) {
  struct progress *p = progress_of(s, m->topic, m->partition);
  p->seen = 1;
  p->eof = 0;
  if (!m->value) return 0; /* a tombstone (barge.config deletions, compaction of instances) */
  enum barge_ev_type t;
  json_t *ev = NULL;
  int bad = bus_decode(m, &t, &ev, why, whylen) != 0;
  if (!bad) {
    json_t *atv = json_object_get(ev, "at");
    if (json_is_integer(atv) && json_integer_value(atv) > p->last_at)
      p->last_at = json_integer_value(atv);
    bad = acct_handle(s->core, t, ev, why, whylen) < 0;
  }
  json_decref(ev);
  return bad;
}

/* Hands the core every record before the committed offsets: what the earlier run had seen. */
static int rebuild(struct svc *s, const struct bus_conf *bc, const enum bus_topic *inputs, int n,
                   char *err, size_t errlen) {
  size_t todo = 0;
  for (size_t i = 0; i < s->npr; i++) todo += s->pr[i].committed > 0;
  if (!todo) return 0;
  struct bus_consumer *r = bus_consumer_new(bc, NULL, 1, err, errlen);
  if (!r || bus_assign_with(r, inputs, n, rebuild_start, s, err, errlen)) {
    bus_consumer_free(r);
    return -1;
  }
  long long fed = 0;
  int64_t deadline = mono_ms() + 600000;
  int rc = 0;
  while (todo > 0 && !stop_flag) {
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

int acct_service_main(int argc, char **argv) {
  const char *brokers_flag = NULL, *prefix_flag = NULL, *props = NULL, *group = "barge-accounting";
  const char *txn_id = NULL;
  long long lag_ms = 5000, publish_ms = 2000, dedup_max = 262144, batch = 5000, reopen_ms = 3600000;
  const struct opt opts[] = {
      {"brokers", "HOST:PORT", &brokers_flag, NULL, NULL, "Kafka bootstrap servers (default: the stack of `barge up`)"},
      {"topic-prefix", "P", &prefix_flag, NULL, NULL, "topic name prefix (default barge.)"},
      {"kafka-props", "K=V,...", &props, NULL, NULL, "extra librdkafka properties (TLS, SASL)"},
      {"group", "G", &group, NULL, NULL, "consumer group (default barge-accounting)"},
      {"transactional-id", "ID", &txn_id, NULL, NULL, "transactional id; a second instance with the same id fences the first (default: the group)"},
      {"settle-lag-ms", "MS", NULL, &lag_ms, NULL, "time is accounted once it is this old (default 5000)"},
      {"reopen-ms", "MS", NULL, &reopen_ms, NULL, "how late an event may arrive and still be applied exactly (default 3600000)"},
      {"publish-ms", "MS", NULL, &publish_ms, NULL, "how often usage records are written, one transaction each (default 2000)"},
      {"dedup-max", "N", NULL, &dedup_max, NULL, "event ids remembered for deduplication (default 262144)"},
      {"batch", "N", NULL, &batch, NULL, "most records handled between publishes (default 5000)"},
  };
  int r = opts_parse("accounting", "[options]", argc, argv, opts, sizeof opts / sizeof *opts, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  if (lag_ms < 0 || reopen_ms < 0 || publish_ms < 10 || dedup_max < 1024 || batch < 1) {
    fprintf(stderr, "barge accounting: --settle-lag-ms and --reopen-ms >= 0, --publish-ms >= 10, --dedup-max >= 1024, --batch >= 1\n");
    return 2;
  }
  if (!txn_id) txn_id = group;
  log_set_role("accounting");
  struct service sv;
  if ((r = service_connect("accounting", brokers_flag, prefix_flag, props, "barge-accounting", 1, &sv))) return r;
  const char *brokers = sv.brokers, *prefix = sv.prefix;
  struct bus_conf bc = sv.bc;
  char err[1024];
  struct svc s;
  memset(&s, 0, sizeof s);
  char host[64] = "localhost";
  gethostname(host, sizeof host - 1);
  snprintf(s.source, sizeof s.source, "accounting/%s:%d", host, (int)getpid());
  struct acct_conf conf;
  acct_conf_defaults(&conf);
  conf.dedup_max = (size_t)dedup_max;
  conf.reopen_ms = reopen_ms;
  s.core = acct_new(&conf);
  int rc = 1;
  /* the transactional producer first: it fences an older instance and aborts its open
   * transaction, so what is read back below is final */
  s.prod = bus_producer_new(&bc, txn_id, err, sizeof err);
  struct bus_consumer *tmp = s.prod ? bus_consumer_new(&bc, NULL, 1, err, sizeof err) : NULL;
  if (!s.prod || !tmp) {
    log_error("%s", err);
    bus_consumer_free(tmp);
    goto out;
  }
  int64_t t0 = mono_ms();
  if (bus_read_table(tmp, TOPIC_USAGE, seed_cb, s.core, err, sizeof err)) {
    log_error("reading barge.usage back: %s", err);
    bus_consumer_free(tmp);
    goto out;
  }
  bus_consumer_free(tmp);
  s.c = bus_consumer_new(&bc, group, 1, err, sizeof err);
  enum bus_topic inputs[] = {TOPIC_JOB_EVENTS, TOPIC_INSTANCES, TOPIC_CONFIG};
  if (!s.c || bus_assign_with(s.c, inputs, 3, group_start, &s, err, sizeof err) ||
      rebuild(&s, &bc, inputs, 3, err, sizeof err)) {
    log_error("%s", err);
    goto out;
  }
  acct_restored(s.core);
  json_t *none = json_array();
  acct_collect(s.core, none, 0); /* the rebuild reports nothing; clear what it queued */
  json_decref(none);
  log_info("state restored in %lld ms", (long long)(mono_ms() - t0));
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  log_info("accounting running (brokers %s, prefix %s, group %s)", brokers, prefix, group);
  int64_t next_publish = mono_ms() + publish_ms;
  while (!stop_flag) {
    for (long long n = 0; n < batch && !stop_flag && mono_ms() < next_publish;) {
      struct bus_msg m;
      int pr = bus_poll(s.c, 100, &m, err, sizeof err);
      if (pr < 0) goto fatal;
      if (pr == 0) continue;
      if (pr == 2) {
        struct progress *p = progress_of(&s, m.topic, m.partition);
        p->seen = p->eof = 1;
        continue;
      }
      n++;
      char why[512];
      int bad = feed(&s, &m, why, sizeof why);
      if (bad) {
        s.dead++;
        if (ensure_txn(&s, err, sizeof err) ||
            bus_dead_letter(s.prod, &m, "accounting", why, err, sizeof err)) {
          bus_msg_release(&m);
          goto fatal;
        }
      }
      bus_mark(s.c, &m);
      s.marked++;
      bus_msg_release(&m);
    }
    if (publish(&s, lag_ms, err, sizeof err)) goto fatal;
    next_publish = mono_ms() + publish_ms;
  }
  if (publish(&s, lag_ms, err, sizeof err)) goto fatal;
  struct acct_stats st;
  acct_stats(s.core, &st);
  log_info("accounting stopping: %lld events, %lld duplicates, %lld late (applied exactly), %lld too late, %lld invalid; %lld records written",
           st.events, st.duplicates, st.late, st.too_late, st.invalid, s.published);
  rc = 0;
  goto out;
fatal:
  /* the open transaction aborts: the restart resumes from the last committed one */
  log_error("fatal: %s", err);
  rc = 1;
out:
  bus_consumer_free(s.c);
  bus_producer_free(s.prod);
  acct_free(s.core);
  free(s.pr);
  return rc;
}

/* ---------------------------------------------------------------- barge usage -- */

enum fmt { FMT_TABLE, FMT_CSV, FMT_JSON };
enum by { BY_JOB, BY_QUEUE, BY_SHARE, BY_CE };

struct row {
  char *key, *queue, *share, *ce;
  int jobs, attempts, running;
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
      json_number_value(json_object_get(r, "vcpuSeconds")),
      json_number_value(json_object_get(r, "memoryGibSeconds")),
      json_number_value(json_object_get(r, "gpuSeconds")),
      json_number_value(json_object_get(r, "instanceSeconds")),
      json_number_value(json_object_get(r, "cost")),
  };
  return t;
}

static const char *jstr0(const json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "";
}

static void report_from_usage(struct report *rp, json_t *latest, int64_t since, int64_t until) {
  static const char *kinds[] = {[BY_JOB] = "JOB", [BY_QUEUE] = "QUEUE", [BY_SHARE] = "SHARE",
                                [BY_CE] = "COMPUTE_ENVIRONMENT"};
  const char *k;
  json_t *r;
  json_object_foreach(latest, k, r) {
    const char *kind = jstr0(r, "kind");
    if (strcmp(kind, kinds[rp->by]) != 0) continue;
    if (rp->by == BY_JOB) {
      int64_t from = json_integer_value(json_object_get(r, "from"));
      int64_t to = json_integer_value(json_object_get(r, "until"));
      if ((since != INT64_MIN && to < since) || from >= until) continue;
      struct row *row = add_row(rp, k);
      row->queue = xstrdup(jstr0(r, "jobQueue"));
      row->share = xstrdup(jstr0(r, "shareIdentifier"));
      row->ce = xstrdup(jstr0(r, "computeEnvironment"));
      row->t = rec_totals(r);
      continue;
    }
    const char *name = rp->by == BY_QUEUE ? jstr0(r, "jobQueue")
                     : rp->by == BY_SHARE ? jstr0(r, "shareIdentifier")
                     : jstr0(r, "computeEnvironment");
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
    if (rp->by == BY_JOB || strcmp(jstr0(r, "kind"), "JOB") != 0) continue;
    const char *name = rp->by == BY_QUEUE ? jstr0(r, "jobQueue")
                     : rp->by == BY_SHARE ? jstr0(r, "shareIdentifier")
                     : jstr0(r, "computeEnvironment");
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

static void print_json(const struct report *rp, int64_t since, int64_t until) {
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
      json_object_set_new(o, "attempts", json_integer(r->attempts));
      json_object_set_new(o, "running", json_boolean(r->running));
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
  static const char *bys[] = {"job", "queue", "share", "ce"};
  json_t *out = json_pack("{s:s, s:o, s:I, s:o, s:o}", "by", bys[rp->by], "since",
                          since == INT64_MIN ? json_null() : json_integer(since), "until",
                          (json_int_t)until, "rows", rows, "total", total);
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
      printf(",%d,%s", r->attempts, r->running ? "true" : "false");
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
      snprintf(buf, sizeof buf, "%d%s", r ? r->attempts : 0, r && r->running ? "+" : "");
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

int acct_usage_main(int argc, char **argv) {
  const char *brokers_flag = NULL, *prefix_flag = NULL, *props = NULL, *by_s = "queue";
  const char *since_s = NULL, *until_s = NULL, *fmt_s = "table", *source = "events";
  const struct opt opts[] = {
      {"by", "queue|share|ce|job", &by_s, NULL, NULL, "what to group by (default queue)"},
      {"since", "TIME", &since_s, NULL, NULL, "window start: ISO-8601 UTC, a date, or epoch s/ms (default: the beginning)"},
      {"until", "TIME", &until_s, NULL, NULL, "window end, exclusive (default: now)"},
      {"format", "table|csv|json", &fmt_s, NULL, NULL, "output format (default table)"},
      {"source", "events|usage", &source, NULL, NULL, "recompute from the event topics (default, exact for any window) or print barge.usage's running totals"},
      {"brokers", "HOST:PORT", &brokers_flag, NULL, NULL, "Kafka bootstrap servers (default: the stack of `barge up`)"},
      {"topic-prefix", "P", &prefix_flag, NULL, NULL, "topic name prefix (default barge.)"},
      {"kafka-props", "K=V,...", &props, NULL, NULL, "extra librdkafka properties (TLS, SASL)"},
  };
  int r = opts_parse("usage", "[--by queue|share|ce|job] [--since T] [--until T] [--format table|csv|json]",
                     argc, argv, opts, sizeof opts / sizeof *opts, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  enum by by;
  if (!strcmp(by_s, "queue")) by = BY_QUEUE;
  else if (!strcmp(by_s, "share")) by = BY_SHARE;
  else if (!strcmp(by_s, "ce")) by = BY_CE;
  else if (!strcmp(by_s, "job")) by = BY_JOB;
  else {
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
  if (since != INT64_MIN && until <= since) {
    fprintf(stderr, "barge usage: --until must be after --since\n");
    return 2;
  }
  log_set_role("usage");
  char brokers[1024], prefix[128], err[1024];
  if (stack_brokers(brokers_flag, brokers, sizeof brokers, err, sizeof err)) {
    fprintf(stderr, "barge usage: %s\n", err);
    return 2;
  }
  stack_prefix(prefix_flag, prefix, sizeof prefix);
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "barge usage: %s\n", err);
    return 1;
  }
  struct bus_conf bc = {.brokers = brokers, .prefix = prefix, .kafka_props = props, .client_id = "barge-usage"};
  struct bus_consumer *c = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  if (!c) {
    fprintf(stderr, "barge usage: %s\n", err);
    return 1;
  }
  struct report rp = {.by = by};
  int rc = 1;
  if (!strcmp(source, "events")) {
    struct acct_conf conf;
    acct_conf_defaults(&conf);
    conf.from_ms = since;
    conf.keep_jobs = 1;
    conf.dedup_max = 1 << 20;
    struct acct *core = acct_new(&conf);
    if (bus_read_table(c, TOPIC_CONFIG, feed_cb, core, err, sizeof err) ||
        bus_read_table(c, TOPIC_INSTANCES, feed_cb, core, err, sizeof err) ||
        bus_read_table(c, TOPIC_JOB_EVENTS, feed_cb, core, err, sizeof err)) {
      fprintf(stderr, "barge usage: %s\n", err);
      acct_free(core);
      goto out;
    }
    acct_settle(core, until);
    static const enum acct_kind kinds[] = {[BY_JOB] = ACCT_JOB, [BY_QUEUE] = ACCT_QUEUE,
                                           [BY_SHARE] = ACCT_SHARE, [BY_CE] = ACCT_CE};
    acct_foreach(core, kinds[by], 0, row_cb, &rp);
    if (by == BY_CE) acct_foreach(core, ACCT_IDLE, 0, row_cb, &rp);
    acct_free(core);
  } else {
    struct usage_read u = {.latest = json_object()};
    if (bus_read_table(c, TOPIC_USAGE, usage_cb, &u, err, sizeof err)) {
      fprintf(stderr, "barge usage: %s\n", err);
      json_decref(u.latest);
      goto out;
    }
    report_from_usage(&rp, u.latest, since, until);
    json_decref(u.latest);
  }
  qsort(rp.rows, rp.n, sizeof *rp.rows, cmp_row);
  if (fmt == FMT_JSON) print_json(&rp, since, until);
  else if (fmt == FMT_CSV) print_csv(&rp);
  else print_table(&rp, since, until);
  rc = 0;
out:
  for (size_t i = 0; i < rp.n; i++) {
    free(rp.rows[i].key);
    free(rp.rows[i].queue);
    free(rp.rows[i].share);
    free(rp.rows[i].ce);
  }
  free(rp.rows);
  bus_consumer_free(c);
  return rc;
}
