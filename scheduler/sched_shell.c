/* sched_shell.c: the scheduler's thin I/O shell around the pure core (sched.c).
 *
 * Start-up: rebuild the core from barge.config, barge.instances and barge.jobs (compacted),
 * then consume barge.requests, barge.instances and barge.executions from the committed
 * offsets. Each batch is one Kafka transaction: the outputs (job-events, jobs, placements,
 * capacity, instances) and the consumed offsets commit together, so a crash never loses or
 * duplicates a decision, and a zombie is fenced by the transactional id. barge.config is read
 * by a second, group-less consumer (it is a table, re-read in full at every start) and is
 * always caught up before a submission that names an unknown queue or job definition.
 *
 * Time: the shell writes a Tick request every --tick-ms; it reaches the core through
 * barge.requests like any input, so a recorded input log replays the passage of time. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "opts.h"
#include "sched_int.h"
#include "sched_shell.h"
#include "stack.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

struct shell {
  struct sched *core;
  struct outbox out;
  struct bus_producer *prod;
  struct bus_consumer *main_c, *cfg_c;
  char source[128];
  FILE *record; /* input log (--record) */
  int live;     /* past the start-up rebuild: bad config records are dead-lettered */
  int64_t cfg_next; /* the next barge.config offset to read */
  int in_txn;
  long long batch_events;
};

static void record_input(struct shell *sh, enum barge_ev_type t, const json_t *ev) {
  if (!sh->record) return;
  char *text = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
  fprintf(sh->record, "{\"type\":\"%s\",\"event\":%s}\n", codec_type_name(t), text);
  free(text);
}

/* Writes the outbox through the producer (inside the open transaction). */
static int emit(struct shell *sh, char *err, size_t errlen) {
  struct sched *s = sh->core;
  for (size_t i = 0; i < sh->out.n; i++) {
    const struct out_ev *e = &sh->out.ev[i];
    json_t *v = NULL;
    enum bus_topic t = TOPIC_JOB_EVENTS;
    switch (e->kind) {
    case OUT_STATE_CHANGE:
      v = sched_state_change(s, e, sh->source);
      t = TOPIC_JOB_EVENTS;
      break;
    case OUT_JOB_RECORD:
      v = sched_job_record(s, e->job, sh->source, e->at_ms);
      t = TOPIC_JOBS;
      break;
    case OUT_PLACEMENT:
    case OUT_KILL:
      v = sched_agent_command(s, e, sh->source);
      t = TOPIC_PLACEMENTS;
      break;
    case OUT_CAPACITY:
      v = sched_capacity(s, e, sh->source);
      t = TOPIC_CAPACITY;
      break;
    case OUT_INSTANCE:
      v = sched_instance_event(s, e, sh->source);
      t = TOPIC_INSTANCES;
      break;
    case OUT_REJECT:
      log_warn("job %s rejected: %s", sched_job_id(s, e->job), e->reason ? e->reason : "");
      continue;
    case OUT__COUNT:
      continue;
    }
    int rc = bus_produce(sh->prod, t, sched_out_key(s, e), v, err, errlen);
    json_decref(v);
    if (rc) return -1;
  }
  sched_outbox_reset(&sh->out);
  return 0;
}

static int ensure_txn(struct shell *sh, char *err, size_t errlen) {
  if (sh->in_txn) return 0;
  if (bus_txn_begin(sh->prod, err, errlen)) return -1;
  sh->in_txn = 1;
  return 0;
}

/* Feeds one decoded event to the core and writes what it decided. */
static int feed(struct shell *sh, enum barge_ev_type t, const json_t *ev, char *why,
                size_t whylen, char *err, size_t errlen) {
  record_input(sh, t, ev);
  if (sched_handle(sh->core, t, ev, &sh->out, why, whylen)) {
    sched_outbox_reset(&sh->out);
    return 1; /* invalid data */
  }
  sh->batch_events++;
  return emit(sh, err, errlen) ? -1 : 0;
}

/* Applies one barge.config record (or tombstone). */
static int apply_config(struct shell *sh, const struct bus_msg *m, char *err, size_t errlen) {
  if (!m->value) {
    char key[512];
    snprintf(key, sizeof key, "%.*s", (int)m->keylen, m->key ? m->key : "");
    sched_handle_config_delete(sh->core, key, m->timestamp_ms, &sh->out);
    return emit(sh, err, errlen);
  }
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[512];
  int rc = 0;
  if (bus_decode(m, &t, &ev, why, sizeof why)) {
    rc = 1;
  } else {
    rc = feed(sh, t, ev, why, sizeof why, err, errlen);
  }
  json_decref(ev);
  if (rc == 1) {
    /* The config consumer is group-less (the table is re-read at every start): a bad record
     * is dead-lettered when it arrives while the scheduler runs, and only logged when the
     * start-up rebuild reads it again (it was dead-lettered when it first arrived, unless no
     * scheduler ran then). Producers validate config before writing it. */
    log_warn("barge.config offset %lld ignored: %s", (long long)m->offset, why);
    rc = 0;
    if (sh->live && bus_dead_letter(sh->prod, m, "scheduler", why, err, errlen)) rc = -1;
  }
  return rc;
}

/* Reads barge.config: what is there now (until_eof = 0), or everything up to the partition's
 * current end (until_eof = 1). An end-of-partition marker can be older than the newest records,
 * so "the end" is the high watermark read now: the drain stops once it has consumed up to it. */
static int drain_config(struct shell *sh, int until_eof, char *err, size_t errlen) {
  int64_t lo = 0, hi = 0;
  if (until_eof && bus_watermarks(sh->cfg_c, TOPIC_CONFIG, 0, &lo, &hi)) hi = -1;
  int64_t deadline = mono_ms() + 30000;
  for (;;) {
    if (until_eof && hi >= 0 && sh->cfg_next >= hi) return 0;
    struct bus_msg m;
    int r = bus_poll(sh->cfg_c, until_eof ? 200 : 0, &m, err, errlen);
    if (r < 0) return -1;
    if (r == 2) {
      if (m.offset > sh->cfg_next) sh->cfg_next = m.offset;
      if (!until_eof || hi < 0 || m.offset >= hi) return 0; /* caught up */
      continue;
    }
    if (r == 0) {
      if (!until_eof) return 0;
      if (mono_ms() > deadline) return 0; /* compacted away or unreachable: go on */
      continue;
    }
    sh->cfg_next = m.offset + 1;
    if (ensure_txn(sh, err, errlen)) {
      bus_msg_release(&m);
      return -1;
    }
    int rc = apply_config(sh, &m, err, errlen);
    bus_msg_release(&m);
    if (rc) return -1;
  }
}

static void restore_instance_cb(void *ctx, const struct bus_msg *m) {
  struct shell *sh = ctx;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (m->value && !bus_decode(m, &t, &ev, why, sizeof why)) sched_restore_instance(sh->core, ev);
  else if (m->value) /* dead-lettered when the live consumer read it */
    log_warn("rebuild: barge.instances offset %lld skipped: %s", (long long)m->offset, why);
  json_decref(ev);
}

static void restore_job_cb(void *ctx, const struct bus_msg *m) {
  struct shell *sh = ctx;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (m->value && !bus_decode(m, &t, &ev, why, sizeof why)) {
    if (sched_restore_job(sh->core, ev, why, sizeof why)) log_warn("restore: %s", why);
  } else if (m->value) {
    log_warn("rebuild: barge.jobs offset %lld skipped: %s", (long long)m->offset, why);
  }
  json_decref(ev);
}

/* Is every resource the event names (a SubmitJob's queue and job definition, an instance's
 * compute environment) known to the core? If not, barge.config is caught up first. */
static int refs_known(struct sched *s, enum barge_ev_type t, const json_t *ev) {
  if (t == BARGE_EV_INSTANCE_EVENT)
    return sched_find_ce(s, json_string_value(json_object_get(ev, "computeEnvironment"))) != SCHED_NONE;
  if (t != BARGE_EV_JOB_REQUEST) return 1;
  json_t *body = json_object_get(json_object_get(ev, "body"), "SubmitJob");
  if (!body) return 1;
  return sched_find_queue(s, json_string_value(json_object_get(body, "jobQueue"))) != SCHED_NONE &&
         sched_find_jd(s, json_string_value(json_object_get(body, "jobDefinition"))) != NULL;
}

int sched_service_main(int argc, char **argv) {
  const char *brokers_flag = NULL, *prefix_flag = NULL, *record_path = NULL, *props = NULL;
  const char *txn_id = NULL;
  long long tick_ms = 1000, lost_after_ms = 30000, batch = 2000, kill_grace_ms = 30000;
  const struct opt opts[] = {
      {"brokers", "HOST:PORT", &brokers_flag, NULL, NULL, "Kafka bootstrap servers (default: the stack of `barge up`)"},
      {"topic-prefix", "P", &prefix_flag, NULL, NULL, "topic name prefix (default barge.)"},
      {"kafka-props", "K=V,...", &props, NULL, NULL, "extra librdkafka properties (TLS, SASL)"},
      {"transactional-id", "ID", &txn_id, NULL, NULL, "transactional id; a second scheduler with the same id fences the first (default barge-scheduler, or barge-scheduler-PREFIX for another topic prefix)"},
      {"tick-ms", "MS", NULL, &tick_ms, NULL, "how often time advances when nothing happens (default 1000)"},
      {"lost-after-ms", "MS", NULL, &lost_after_ms, NULL, "an instance silent this long is lost (default 30000)"},
      {"kill-grace-ms", "MS", NULL, &kill_grace_ms, NULL, "SIGTERM to SIGKILL grace on timeout and terminate (default 30000)"},
      {"batch", "N", NULL, &batch, NULL, "most input events per transaction (default 2000)"},
      {"record", "FILE", &record_path, NULL, NULL, "append every input event the core handles to FILE (JSON lines) for replay"},
  };
  int r = opts_parse("scheduler", "[options]", argc, argv, opts, sizeof opts / sizeof *opts, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  log_set_role("scheduler");
  struct service sv;
  if ((r = service_connect("scheduler", brokers_flag, prefix_flag, props, "barge-scheduler", 1, &sv))) return r;
  const char *brokers = sv.brokers, *prefix = sv.prefix;
  struct bus_conf bc = sv.bc;
  char err[1024];
  char txn_buf[256];
  if (!txn_id) {
    /* stacks sharing a broker under different prefixes must not fence each other */
    if (!strcmp(prefix, "barge.")) snprintf(txn_buf, sizeof txn_buf, "barge-scheduler");
    else snprintf(txn_buf, sizeof txn_buf, "barge-scheduler-%s", prefix);
    txn_id = txn_buf;
  }
  struct shell sh;
  memset(&sh, 0, sizeof sh);
  sched_outbox_init(&sh.out);
  char host[64] = "localhost";
  gethostname(host, sizeof host - 1);
  snprintf(sh.source, sizeof sh.source, "scheduler/%s:%d", host, (int)getpid());
  struct sched_conf conf;
  sched_conf_defaults(&conf);
  conf.lost_after_ms = lost_after_ms;
  conf.kill_grace_ms = kill_grace_ms;
  sh.core = sched_new(&conf);
  int rc = 1;
  if (record_path && !(sh.record = fopen(record_path, "a"))) {
    log_error("cannot open %s", record_path);
    goto out;
  }
  /* a transactional producer first: it fences any older scheduler before we read state */
  sh.prod = bus_producer_new(&bc, txn_id, err, sizeof err);
  if (!sh.prod) {
    log_error("%s", err);
    goto out;
  }
  sh.cfg_c = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  sh.main_c = bus_consumer_new(&bc, "barge-scheduler", 1, err, sizeof err);
  if (!sh.cfg_c || !sh.main_c) {
    log_error("%s", err);
    goto out;
  }
  int64_t t0 = mono_ms();
  enum bus_topic cfg_topic = TOPIC_CONFIG;
  if (bus_assign_all(sh.cfg_c, &cfg_topic, 1, 1, err, sizeof err) ||
      drain_config(&sh, 1, err, sizeof err)) {
    log_error("reading configuration: %s", err);
    goto out;
  }
  struct bus_consumer *tmp = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  if (!tmp || bus_read_table(tmp, TOPIC_INSTANCES, restore_instance_cb, &sh, err, sizeof err) ||
      bus_read_table(tmp, TOPIC_JOBS, restore_job_cb, &sh, err, sizeof err)) {
    log_error("rebuilding state: %s", err);
    bus_consumer_free(tmp);
    goto out;
  }
  bus_consumer_free(tmp);
  sched_restore_done(sh.core);
  sched_outbox_reset(&sh.out);
  if (sh.in_txn) {
    if (bus_txn_commit(sh.prod, NULL, err, sizeof err)) {
      log_error("%s", err);
      goto out;
    }
    sh.in_txn = 0;
  }
  log_info("state rebuilt in %lld ms: %zu jobs", (long long)(mono_ms() - t0), sched_job_count(sh.core));
  enum bus_topic inputs[] = {TOPIC_REQUESTS, TOPIC_INSTANCES, TOPIC_EXECUTIONS};
  if (bus_assign_all(sh.main_c, inputs, 3, 1, err, sizeof err)) {
    log_error("%s", err);
    goto out;
  }
  sh.live = 1;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  log_info("scheduler running (brokers %s, prefix %s)", brokers, prefix);
  int64_t next_tick = mono_ms();
  long long tick_seq = 0;
  while (!stop_flag) {
    sh.batch_events = 0;
    if (drain_config(&sh, 0, err, sizeof err)) goto fatal;
    /* a batch of inputs */
    int64_t batch_end = mono_ms() + 50;
    for (long long n = 0; n < batch && !stop_flag;) {
      int64_t left = batch_end - mono_ms();
      struct bus_msg m;
      int pr = bus_poll(sh.main_c, left > 0 ? (int)left : 0, &m, err, sizeof err);
      if (pr < 0) goto fatal;
      if (pr == 0) break;
      if (pr == 2) continue;
      n++;
      if (ensure_txn(&sh, err, sizeof err)) {
        bus_msg_release(&m);
        goto fatal;
      }
      enum barge_ev_type t;
      json_t *ev = NULL;
      char why[512];
      int bad = bus_decode(&m, &t, &ev, why, sizeof why);
      if (!bad && !refs_known(sh.core, t, ev)) {
        if (drain_config(&sh, 1, err, sizeof err)) {
          json_decref(ev);
          bus_msg_release(&m);
          goto fatal;
        }
      }
      if (!bad) {
        int fr = feed(&sh, t, ev, why, sizeof why, err, sizeof err);
        if (fr < 0) {
          json_decref(ev);
          bus_msg_release(&m);
          goto fatal;
        }
        bad = fr == 1;
      }
      if (bad && bus_dead_letter(sh.prod, &m, "scheduler", why, err, sizeof err)) {
        json_decref(ev);
        bus_msg_release(&m);
        goto fatal;
      }
      json_decref(ev);
      bus_mark(sh.main_c, &m);
      bus_msg_release(&m);
    }
    if (mono_ms() >= next_tick) {
      next_tick = mono_ms() + tick_ms;
      if (ensure_txn(&sh, err, sizeof err)) goto fatal;
      json_t *tick = json_pack("{s:o, s:s, s:{s:{s:I}}}", "header", bus_header(sh.source, "", now_ms()),
                               "principal", "scheduler", "body", "Tick", "seq", (json_int_t)++tick_seq);
      int pr = bus_produce(sh.prod, TOPIC_REQUESTS, "tick", tick, err, sizeof err);
      json_decref(tick);
      if (pr) goto fatal;
    }
    if (sh.in_txn) {
      if (bus_txn_commit(sh.prod, sh.main_c, err, sizeof err)) goto fatal;
      sh.in_txn = 0;
    }
  }
  log_info("scheduler stopping");
  rc = 0;
  goto out;
fatal:
  /* The core may hold decisions of an aborted transaction: exit and let the restart rebuild
   * from the committed state (STYLE.md: fatal errors exit; Kafka replays). */
  log_error("fatal: %s", err);
  rc = 1;
out:
  if (sh.record) fclose(sh.record);
  bus_consumer_free(sh.main_c);
  bus_consumer_free(sh.cfg_c);
  bus_producer_free(sh.prod);
  sched_outbox_release(&sh.out);
  sched_free(sh.core);
  return rc;
}
