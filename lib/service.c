/* service.c: signals, the connection, the transactional id and the loop of service.h. */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "stack.h"

/* How long a service waits for the end of barge.config before it goes on without it. */
#define CONFIG_WAIT_MS 30000

/* ---------------- signals ---------------- */

static volatile sig_atomic_t stop_flag;
static int wake[2] = {-1, -1};

static void on_signal(int sig) {
  int saved = errno;
  if (sig != SIGCHLD) stop_flag = sig;
  if (wake[1] >= 0) {
    char c = 0;
    ssize_t w = write(wake[1], &c, 1); /* a full pipe already says "awake" */
    (void)w;
  }
  errno = saved;
}

void service_signals(int watch_children) {
  if (wake[0] < 0 && pipe2(wake, O_CLOEXEC | O_NONBLOCK)) wake[0] = wake[1] = -1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  if (watch_children) {
    sa.sa_flags |= SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
  }
}

int service_stopping(void) { return stop_flag != 0; }
int service_stop_signal(void) { return stop_flag; }
void service_request_stop(void) { on_signal(SIGTERM); }
int service_wake_fd(void) { return wake[0]; }

void service_wake_drain(void) {
  char b[64];
  while (wake[0] >= 0 && read(wake[0], b, sizeof b) > 0) {
  }
}

/* ---------------- connection ---------------- */

/* service_connect's SERVICE_WAIT: 0 once a broker answers, else 1 (said why). */
static int wait_broker(const char *cmd, const struct service_conn *conn) {
  char err[1024];
  int64_t t0 = mono_ms();
  int rc = bus_probe(&conn->bc, SERVICE_BROKER_QUIET_MS, err, sizeof err);
  if (rc == -1 && !service_stopping()) {
    fprintf(stderr, "barge %s: waiting for a Kafka broker at %s (up to %d s; Ctrl-C stops)\n", cmd,
            conn->bc.brokers, SERVICE_BROKER_WAIT_MS / 1000);
    rc = bus_probe(&conn->bc, (int)(SERVICE_BROKER_WAIT_MS - (mono_ms() - t0)), err, sizeof err);
    if (rc == 0) log_info("a Kafka broker answers at %s, after %lld ms", conn->bc.brokers, (long long)(mono_ms() - t0));
  }
  if (rc == 0) return 0;
  if (service_stopping())
    fprintf(stderr, "barge %s: stopped while waiting for a Kafka broker at %s\n", cmd, conn->bc.brokers);
  else if (rc == -2) /* refused: the reason says what to check */
    fprintf(stderr, "barge %s: %s (broker %s)\n", cmd, err, conn->bc.brokers);
  else
    fprintf(stderr, "barge %s: no Kafka broker answers at %s after %d s: %s\n", cmd, conn->bc.brokers,
            SERVICE_BROKER_WAIT_MS / 1000, err);
  return 1;
}

int service_connect(const char *cmd, const struct kafka_opts *k, const char *client_id,
                    int flags, struct service_conn *conn) {
  char err[1024];
  memset(conn, 0, sizeof *conn);
  /* bad properties first: no broker could ever be reached with them, so waiting for one (a
   * service) or saying none answers (a client) would send the user after the wrong thing */
  struct bus_conf check = {.kafka_props = k->props};
  if (k->props && *k->props && bus_conf_check(&check, err, sizeof err)) {
    fprintf(stderr, "barge %s: --kafka-props: %s\n", cmd, err);
    return 2;
  }
  stack_prefix(k->prefix, conn->prefix, sizeof conn->prefix);
  if (stack_prefix_check(k->prefix, conn->prefix, err, sizeof err)) {
    fprintf(stderr, "barge %s: %s\n", cmd, err);
    return 2; /* bad usage, as bad properties: no topic could ever be made under it */
  }
  if (stack_brokers(k->brokers, conn->brokers, sizeof conn->brokers, err, sizeof err)) {
    fprintf(stderr, "barge %s: %s\n", cmd, err);
    return 1; /* nothing to talk to is a runtime condition, not bad usage */
  }
  if (stack_brokers_check(k->brokers, conn->brokers, err, sizeof err)) {
    fprintf(stderr, "barge %s: %s\n", cmd, err);
    return 2; /* bad usage: no broker could ever answer at such an address */
  }
  conn->bc = (struct bus_conf){.brokers = conn->brokers, .prefix = conn->prefix,
                               .kafka_props = k->props, .client_id = client_id};
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "barge %s: %s\n", cmd, err);
    return 1;
  }
  if (flags & SERVICE_WAIT) {
    service_signals(0); /* a Ctrl-C stops the wait (the default action would skip the message) */
    conn->bc.stop = service_stopping;
    if (wait_broker(cmd, conn)) return 1;
  }
  if ((flags & SERVICE_TOPICS) && bus_ensure_topics(&conn->bc, err, sizeof err)) {
    if (service_stopping()) fprintf(stderr, "barge %s: stopped while waiting for a Kafka broker at %s\n", cmd, conn->brokers);
    else fprintf(stderr, "barge %s: %s\n", cmd, err);
    return 1;
  }
  return 0;
}

int service_require_broker(const char *cmd, const struct service_conn *conn) {
  char err[512];
  if (bus_probe(&conn->bc, 3000, err, sizeof err) == 0) return 0;
  char home[3072], from[3200] = "", recorded[1024];
  stack_home(home, sizeof home);
  if (!getenv("BARGE_BROKERS") && stack_get("brokers", recorded, sizeof recorded) == 0 &&
      !strcmp(recorded, conn->bc.brokers))
    snprintf(from, sizeof from, " (recorded in %s/stack by `barge up`, which is not running?)", home);
  fprintf(stderr, "barge %s: no Kafka broker answers at %s%s: %s; start one with `barge up` (or pass --brokers HOST:PORT)\n",
          cmd, conn->bc.brokers, from, err);
  return 1;
}

void service_txn_id(const char *base, const char *prefix, char *out, size_t n) {
  if (!prefix || !strcmp(prefix, "barge.")) snprintf(out, n, "%s", base);
  else snprintf(out, n, "%s-%s", base, prefix);
}

void service_source(const char *name, char *out, size_t n) {
  char host[64] = "localhost";
  gethostname(host, sizeof host - 1);
  snprintf(out, n, "%s/%s:%d", name, host, (int)getpid());
}

/* ---------------- metrics ---------------- */

/* The families every service has (docs/metrics.md "Every service"). */
static struct {
  struct metric *dead, *txns, *aborts, *lag, *ready;
} common;
static pthread_once_t common_once = PTHREAD_ONCE_INIT;
static struct metrics_server *metrics_srv;

static void common_init(void) {
  struct metrics *r = metrics_global();
  common.dead = metrics_counter(r, "barge_dead_letters_total",
                                "records this service sent to the dead-letter topic, by the topic they came from", "topic");
  common.txns = metrics_counter(r, "barge_transactions_total", "Kafka transactions committed", NULL);
  common.aborts = metrics_counter(r, "barge_transaction_aborts_total",
                                  "Kafka transactions that failed to commit and were aborted (the service then exits "
                                  "and its restart resumes from the last commit)", NULL);
  common.lag = metrics_gauge(r, "barge_consumer_lag",
                             "records of an input topic this service has still to read (end offset minus position, "
                             "summed over its partitions)", "topic");
  common.ready = metrics_gauge(r, "barge_service_ready",
                               "1 once the start-up is over and the service does its work (the scheduler's state "
                               "rebuilt, an agent's READY delivered, the API listening); 0 while it starts, "
                               "waiting for a broker included", NULL);
}

static void common_metrics(void) { pthread_once(&common_once, common_init); }

int service_metrics_start(const char *name, const struct metrics_opts *mo) {
  common_metrics();
  struct metrics *r = metrics_global();
  metric_set(metrics_gauge(r, "barge_service_info", "the Barge service this process runs (always 1)", "service"),
             METRIC_L(name), 1);
  metric_set(common.ready, NULL, 0);
  if (mo->port < 0 && mo->fd <= 0) return 0;
  char addr[320], err[512];
  metrics_srv = mo->fd > 0 ? metrics_serve_fd(r, mo->fd, addr, sizeof addr, err, sizeof err)
                           : metrics_serve(r, mo->host ? mo->host : "127.0.0.1", mo->port, addr, sizeof addr, err, sizeof err);
  if (!metrics_srv) {
    fprintf(stderr, "barge %s: %s: %s\n", name, mo->fd > 0 ? "--metrics-fd" : "--metrics-port", err);
    return 1;
  }
  log_info("metrics at http://%s/metrics", addr);
  return 0;
}

void service_ready(void) {
  common_metrics();
  metric_set(common.ready, NULL, 1);
}

void service_metrics_stop(void) {
  metrics_server_stop(metrics_srv);
  metrics_srv = NULL;
}

void service_metrics_lag(struct bus_consumer *c) {
  static int64_t next;
  if (!c || mono_ms() < next) return;
  next = mono_ms() + 500;
  common_metrics();
  int64_t lag[TOPIC__COUNT];
  if (bus_lag(c, lag)) return;
  for (int t = 0; t < TOPIC__COUNT; t++)
    if (lag[t] >= 0) metric_set(common.lag, METRIC_L(bus_topic_base((enum bus_topic)t)), (double)lag[t]);
}

void service_metrics_dead_letter(enum bus_topic t) {
  common_metrics();
  metric_add(common.dead, METRIC_L(bus_topic_base(t)), 1);
}

/* ---------------- the loop ---------------- */

struct bus_producer *service_producer(struct service_loop *l) { return l->prod; }
struct bus_consumer *service_input(struct service_loop *l) { return l->in; }

int service_txn(struct service_loop *l, char *err, size_t errlen) {
  if (l->in_txn) return 0;
  if (bus_txn_begin(l->prod, err, errlen)) return -1;
  l->in_txn = 1;
  return 0;
}

/* Commits the open transaction. Unless forced, one that wrote nothing stays open, its offsets
 * marked, until SERVICE_OFFSETS_EVERY_MS have passed since the last commit (service.h). */
static int commit_if(struct service_loop *l, struct bus_consumer *c, int force, char *err, size_t errlen) {
  if (!l->in_txn) return 0;
  if (!force && !bus_txn_bytes(l->prod) && mono_ms() - l->committed_at < SERVICE_OFFSETS_EVERY_MS) return 0;
  l->in_txn = 0;
  common_metrics();
  int64_t t0 = mono_ms();
  int rc = bus_txn_commit(l->prod, c, err, errlen) ? -1 : 0;
  l->commit_ms = mono_ms() - t0;
  l->committed_at = mono_ms();
  metric_add(rc ? common.aborts : common.txns, NULL, 1);
  return rc;
}

static int commit(struct service_loop *l, struct bus_consumer *c, char *err, size_t errlen) {
  return commit_if(l, c, 1, err, errlen);
}

static int dead_letter(struct service_loop *l, const struct bus_msg *m, const char *why, int logged,
                       char *err, size_t errlen) {
  if (logged)
    log_warn("%s[%d] offset %lld dead-lettered: %s", bus_topic_base(m->topic), (int)m->partition,
             (long long)m->offset, why);
  l->dead++;
  service_metrics_dead_letter(m->topic);
  if (service_txn(l, err, errlen)) return -1;
  return (logged ? bus_dead_letter : bus_dead_letter_unlogged)(l->prod, m, l->def->name, why, err, errlen) ? -1 : 0;
}

int service_dead_letter(struct service_loop *l, const struct bus_msg *m, const char *why,
                        char *err, size_t errlen) {
  return dead_letter(l, m, why, 1, err, errlen);
}

int service_dead_letter_unlogged(struct service_loop *l, const struct bus_msg *m, const char *why,
                                 char *err, size_t errlen) {
  return dead_letter(l, m, why, 0, err, errlen);
}

typedef int (*handle_fn)(void *ctx, const struct bus_msg *m, enum barge_ev_type t,
                         const json_t *ev, char *why, size_t whylen, char *err, size_t errlen);

int service_decode_unavailable(const struct bus_msg *m, const char *why, char *err, size_t errlen) {
  snprintf(err, errlen,
           "%s[%d] offset %lld cannot be decoded now (%s): not dead-lettered, it is read again once the "
           "schema registry answers",
           bus_topic_base(m->topic), (int)m->partition, (long long)m->offset, why);
  return -1;
}

/* Decodes m (a tombstone is passed on as ev NULL) and hands it to fn. 0, 1 (why) or -1 (err):
 * a record whose schema the registry could not be asked for is not invalid, and is not
 * dead-lettered; the service stops, and reads it again when it is started again. */
static int decode_and(struct service_loop *l, handle_fn fn, const struct bus_msg *m, char *why,
                      size_t whylen, char *err, size_t errlen) {
  enum barge_ev_type t = BARGE_EV_JOB_REQUEST;
  json_t *ev = NULL;
  int dr = m->value ? bus_decode(m, &t, &ev, why, whylen) : 0;
  int rc = dr == BUS_DECODE_UNAVAILABLE ? service_decode_unavailable(m, why, err, errlen)
           : dr                         ? 1
                                        : fn(l->ctx, m, t, ev, why, whylen, err, errlen);
  json_decref(ev);
  return rc;
}

/* One barge.config record: a bad one is logged, and dead-lettered once the service runs. */
static int apply_config(struct service_loop *l, const struct bus_msg *m, char *err, size_t errlen) {
  char why[512] = "";
  if (service_txn(l, err, errlen)) return -1;
  int rc = decode_and(l, l->def->hooks.config, m, why, sizeof why, err, errlen);
  if (rc != 1) return rc;
  if (l->live) return service_dead_letter(l, m, why, err, errlen);
  log_warn("%s[0] offset %lld ignored (dead-lettered when it arrived): %s", bus_topic_base(m->topic),
           (long long)m->offset, why);
  return 0;
}

/* Reads barge.config: what is there now (until_end 0), or up to the table's end as the broker
 * reports it now, its high watermark (until_end 1). A partition-EOF event alone is not enough:
 * one queued before the newest records arrived would end the wait too early. barge.config has
 * one partition. */
static int drain_config(struct service_loop *l, int until_end, char *err, size_t errlen) {
  if (!l->cfg) return 0;
  int64_t lo = 0, hi = -1, start = mono_ms();
  if (until_end && bus_watermarks(l->cfg, TOPIC_CONFIG, 0, &lo, &hi)) hi = -1;
  for (;;) {
    if (until_end && hi >= 0 && l->cfg_next >= hi) {
      l->cfg_whole = 1;
      return 0;
    }
    struct bus_msg m;
    int r = bus_poll(l->cfg, until_end ? 200 : 0, &m, err, errlen);
    if (r < 0) return -1;
    if (r == 2) {
      if (m.offset > l->cfg_next) l->cfg_next = m.offset;
      if (until_end && hi >= 0 && m.offset >= hi) l->cfg_whole = 1;
      if (!until_end || hi < 0 || m.offset >= hi) return 0; /* caught up */
      continue;
    }
    if (r == 0) {
      if (!until_end) return 0;
      if (!l->live && service_stopping()) { /* the start-up ends (service_run exits 0) */
        snprintf(err, errlen, "stopped while reading barge.config");
        return -1;
      }
      if (mono_ms() - start > CONFIG_WAIT_MS) { /* compacted away or unreachable: go on */
        char name[256];
        bus_topic_name(l->bc, TOPIC_CONFIG, name, sizeof name);
        log_warn("%s: stopped waiting for offset %lld after %lld ms (read up to %lld); going on",
                 name, (long long)hi, (long long)(mono_ms() - start), (long long)l->cfg_next);
        return 0;
      }
      continue;
    }
    l->cfg_next = m.offset + 1;
    int rc = apply_config(l, &m, err, errlen);
    bus_msg_release(&m);
    if (rc) return -1;
  }
}

int service_config_catch_up(struct service_loop *l, char *err, size_t errlen) {
  return drain_config(l, 1, err, errlen);
}

int service_config_catch_up_for(struct service_loop *l, const char *name, char *err, size_t errlen) {
  if (!l->unknown) l->unknown = json_object();
  json_t *last = json_object_get(l->unknown, name);
  int64_t now = mono_ms();
  if (last && now - json_integer_value(last) < SERVICE_UNKNOWN_RECHECK_MS) return 0;
  if (json_object_size(l->unknown) >= 4096) json_object_clear(l->unknown); /* bounded */
  json_object_set_new(l->unknown, name, json_integer(now));
  return service_config_catch_up(l, err, errlen);
}

int service_config_whole(const struct service_loop *l) { return l->cfg_whole; }

/* One input record: taken raw, or decoded and handled (dead-lettered when invalid); marked. */
static int input(struct service_loop *l, const struct bus_msg *m, char *err, size_t errlen) {
  const struct service_hooks *h = &l->def->hooks;
  if (service_txn(l, err, errlen)) return -1;
  if (!h->take || !h->take(l->ctx, m)) {
    char why[512] = "";
    int rc = decode_and(l, h->handle, m, why, sizeof why, err, errlen);
    if (rc < 0 || (rc == 1 && service_dead_letter(l, m, why, err, errlen))) return -1;
  }
  bus_mark(l->in, m);
  return 0;
}

/* Up to def->batch input records within def->batch_ms. With def->eager it waits up to
 * def->batch_ms for the first record only, then takes the records already fetched without
 * waiting: a batch ends as soon as the input is idle (a lone event is handled at once) and grows
 * by itself under load (what arrives during one transaction's commit makes the next batch).
 * After a busy batch (def->gather_busy records or more) it also waits for more input, from the
 * batch's first record for as long as the last commit took, at most def->gather_ms: under load
 * each transaction then carries more records, and the broker's fixed cost per transaction (its
 * requests, markers and the consumers' wake-ups) is paid fewer times, the more so the slower the
 * broker answers; a quiet service still commits a lone event at once (docs/architecture.md,
 * "Throughput"). */
static int batch(struct service_loop *l, char *err, size_t errlen) {
  const struct service_def *d = l->def;
  int64_t end = mono_ms() + d->batch_ms, gather = -1; /* gather: wait for more until then */
  int busy = d->eager && d->gather_ms > 0 && l->last_n >= d->gather_busy;
  int64_t n = 0;
  while (n < d->batch && !service_stopping()) {
    int64_t now = mono_ms();
    int64_t left = !n || !d->eager ? end - now : gather > now ? gather - now : 0;
    if (left < 0) left = 0;
    if (d->poll_ms > 0 && left > d->poll_ms) left = d->poll_ms;
    struct bus_msg m;
    int pr = bus_poll(l->in, (int)left, &m, err, errlen);
    if (pr < 0) return -1;
    if (pr == 0) {
      if (n && d->eager ? mono_ms() >= gather : mono_ms() >= end) break;
      continue;
    }
    if (pr == 2) {
      if (d->hooks.eof) d->hooks.eof(l->ctx, &m);
      continue;
    }
    if (!n++ && busy) gather = mono_ms() + (l->commit_ms < d->gather_ms ? l->commit_ms : d->gather_ms);
    int rc = input(l, &m, err, errlen);
    bus_msg_release(&m);
    if (rc) return -1;
    if (d->txn_max_bytes > 0 && bus_txn_bytes(l->prod) >= (size_t)d->txn_max_bytes) {
      log_debug("batch of %lld input records ended: its transaction holds %zu bytes (bound %lld)", (long long)n,
                bus_txn_bytes(l->prod), (long long)d->txn_max_bytes);
      break;
    }
  }
  l->last_n = n;
  return 0;
}

struct table_read {
  struct service_loop *l;
  const struct service_table *t;
  int failed; /* a record could not be judged now: the rest are passed over, the start fails */
  char err[1024];
};

static void table_record(void *ctx, const struct bus_msg *m) {
  struct table_read *r = ctx;
  if (r->failed) return;
  if (r->t->raw) {
    if (r->t->raw(r->l->ctx, m, r->err, sizeof r->err)) r->failed = 1;
    return;
  }
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  int dr = m->value ? bus_decode(m, &t, &ev, why, sizeof why) : 0;
  if (dr == BUS_DECODE_UNAVAILABLE) {
    r->failed = service_decode_unavailable(m, why, r->err, sizeof r->err) != 0; /* always -1 */
    return;
  }
  if (dr)
    log_warn("rebuild: %s[%d] offset %lld skipped: %s", bus_topic_base(m->topic), (int)m->partition,
             (long long)m->offset, why);
  r->t->cb(r->l->ctx, m, ev);
  json_decref(ev);
}

/* Start-up: fence, config table, tables, restored, commit, inputs positioned. */
static int start(struct service_loop *l, char *err, size_t errlen) {
  const struct service_def *d = l->def;
  /* the transactional producer first: it fences an older instance (and aborts its open
   * transaction) before any state is read */
  l->prod = bus_producer_new(l->bc, d->txn_id, err, errlen);
  if (!l->prod) return -1;
  /* barge.config is followed (the long fetch wait: a new record is answered at once, and an idle
   * service does not fetch it 20 times a second); its end comes from the watermarks */
  if (d->hooks.config && !(l->cfg = bus_consumer_new_wait(l->bc, NULL, 1, BUS_FETCH_WAIT_LONG_MS, err, errlen)))
    return -1;
  /* an eager service follows its inputs (the long fetch wait); a lazy one gathers them (lib/bus.h,
   * BUS_FETCH_LAZY); others may watch for their end */
  int wait = d->eager ? BUS_FETCH_WAIT_LONG_MS : d->lazy ? BUS_FETCH_LAZY : BUS_FETCH_WAIT_MS;
  if (!(l->in = bus_consumer_new_wait(l->bc, d->group, 1, wait, err, errlen))) return -1;
  int64_t t0 = mono_ms();
  char why[1024];
  enum bus_topic cfg_topic = TOPIC_CONFIG;
  if (l->cfg && (bus_assign_all(l->cfg, &cfg_topic, 1, 1, why, sizeof why) ||
                 drain_config(l, 1, why, sizeof why))) {
    snprintf(err, errlen, "reading configuration: %.900s", why);
    return -1;
  }
  if (d->ntables) {
    struct bus_consumer *tmp = bus_consumer_new_wait(l->bc, NULL, 1, BUS_FETCH_TABLE, why, sizeof why);
    int rc = tmp ? 0 : -1;
    for (int i = 0; i < d->ntables && !rc; i++) {
      struct table_read tr = {l, &d->tables[i], 0, ""};
      rc = bus_read_table(tmp, d->tables[i].topic, table_record, &tr, why, sizeof why);
      if (!rc && tr.failed) {
        snprintf(why, sizeof why, "%s", tr.err);
        rc = -1;
      }
    }
    bus_consumer_free(tmp);
    if (rc) {
      snprintf(err, errlen, "rebuilding state: %.900s", why);
      return -1;
    }
  }
  if (d->hooks.restored && d->hooks.restored(l->ctx, err, errlen)) return -1;
  if (commit(l, NULL, err, errlen)) return -1;
  if (d->hooks.assign ? d->hooks.assign(l->ctx, err, errlen)
                      : bus_assign_all(l->in, d->inputs, d->ninputs, 1, err, errlen))
    return -1;
  l->live = 1;
  log_info("state rebuilt in %lld ms (%lld ms of CPU since the process started)", (long long)(mono_ms() - t0),
           (long long)(clock() * 1000 / CLOCKS_PER_SEC));
  return 0;
}

/* Batches until a signal: each one transaction. */
static int loop(struct service_loop *l, char *err, size_t errlen) {
  const struct service_hooks *h = &l->def->hooks;
  int64_t next_tick = mono_ms();
  while (!service_stopping()) {
    if (drain_config(l, 0, err, errlen) || batch(l, err, errlen)) return -1;
    if (h->batch_done && h->batch_done(l->ctx, err, errlen)) return -1;
    if (h->tick && mono_ms() >= next_tick) {
      next_tick = mono_ms() + l->def->tick_ms;
      if (h->tick(l->ctx, err, errlen)) return -1;
    }
    if (commit_if(l, l->in, 0, err, errlen)) return -1;
    if (h->committed && h->committed(l->ctx, err, errlen)) return -1;
    service_metrics_lag(l->in);
  }
  log_info("%s stopping", l->def->name);
  if (h->stopping && h->stopping(l->ctx, err, errlen)) return -1;
  return commit(l, l->in, err, errlen);
}

int service_run(struct service_loop *l, const struct service_def *def, void *ctx,
                const struct bus_conf *bc) {
  memset(l, 0, sizeof *l);
  l->def = def;
  l->ctx = ctx;
  l->bc = bc;
  char err[1024] = "";
  int rc = 1;
  common_metrics();
  metric_set(common.ready, NULL, 0); /* a start-up again (a service that runs its loop anew) */
  if (start(l, err, sizeof err)) {
    if (!service_stopping()) {
      log_error("%s", err);
      goto out;
    }
    log_info("%s stopped while starting (%s)", def->name, err); /* a stop, as at any other time */
    rc = 0;
    goto out;
  }
  service_signals(0);
  service_ready();
  log_info("%s running (brokers %s, prefix %s)", def->name, bc->brokers, bc->prefix);
  if (loop(l, err, sizeof err)) {
    /* the open transaction aborts; the restart rebuilds from the committed state */
    log_error("fatal: %s", err);
    goto out;
  }
  rc = 0;
out:
  bus_consumer_free(l->in);
  bus_consumer_free(l->cfg);
  bus_producer_free(l->prod);
  json_decref(l->unknown);
  l->in = l->cfg = NULL;
  l->prod = NULL;
  l->unknown = NULL;
  return rc;
}
