/* service.h: what every Barge service shares: signals, the connection to Kafka, the default
 * transactional id, and the one read-process-write loop the transactional services (scheduler,
 * provisioner, accounting) run with their own hooks.
 *
 * The loop (service_run), in the manner of a small event loop with fixed hooks:
 *
 *   start    producer (transactional: fences an older instance first)
 *            -> barge.config read to its end, each record to hooks.config (if the service keeps
 *               the config table)
 *            -> the compacted tables read back (def.tables) -> hooks.restored
 *            -> commit what the start-up produced -> the input consumer positioned
 *               (hooks.assign, or the group's committed offsets, else the beginning)
 *   batch    barge.config caught up (what is there now)
 *            -> up to def.batch input records within def.batch_ms (def.eager: the batch ends
 *               as soon as no record is waiting, or after a busy batch once the last commit's
 *               duration, at most def.gather_ms, has passed since its first record), each: hooks.take (a raw look;
 *               1 = taken as is), else decoded and given to hooks.handle; undecodable or invalid
 *               records are dead-lettered and logged; every record is marked
 *            -> hooks.batch_done -> hooks.tick (every def.tick_ms; 0 = every batch)
 *            -> one transaction commits the outputs with the marked offsets -> hooks.committed;
 *               a batch that wrote nothing (agents' heartbeats, say) leaves its transaction open
 *               and its offsets marked for the next one that writes, or for a commit of the
 *               offsets alone once SERVICE_OFFSETS_EVERY_MS have passed since the last commit:
 *               an idle stack's inputs then cost the broker a transaction per service every few
 *               seconds instead of one per record. Committing later is as if the batches were
 *               one: a restart re-reads those records, as after a crash before any commit.
 *   stop     SIGINT/SIGTERM: the batch ends, hooks.stopping, a last commit, exit status 0. During
 *            the start-up: its wait ends within a try (bc.stop), "NAME stopped while starting",
 *            exit status 0.
 *
 * Return convention of every int hook and of the service_* calls a hook makes: 0 done; 1 invalid
 * data (the reason in why: the record is dead-lettered, logged as a warning, and the service
 * goes on); -1 fatal (the reason in err: service_run logs it and returns 1, and the restart
 * resumes from the last committed transaction, as the core may hold decisions of the aborted
 * one).
 *
 * Bad barge.config records are one rule everywhere: logged as a warning, and dead-lettered when
 * they arrive while the service runs (the start-up read of the table meets them again at every
 * start, after they were dead-lettered once). A service that gives up waiting for the end of
 * barge.config says so with a warning naming the topic and how long it waited. */
#ifndef BARGE_SERVICE_H
#define BARGE_SERVICE_H
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "opts.h"
#include "util.h"

/* ---- signals ---- */

/* SIGINT and SIGTERM set the stop flag; with watch_children SIGCHLD is caught too. Each of them
 * also makes service_wake_fd() readable (a self-pipe), for a supervisor sleeping in poll(). */
void service_signals(int watch_children);
int service_stopping(void);
/* The signal that set the stop flag (SIGTERM for service_request_stop), 0 when none did. A
 * command a signal cut short (`barge watch --count`, `barge logs --follow`) exits 128 + it, as
 * the AWS CLI exits 130 on Ctrl-C and a shell reports a process killed by it. */
int service_stop_signal(void);
void service_request_stop(void);
/* The read end of the self-pipe (-1 before service_signals), and a way to empty it. */
int service_wake_fd(void);
void service_wake_drain(void);

/* ---- connection ---- */

/* What a service or tool needs before it touches Kafka: the brokers and prefix resolved from the
 * options (else $BARGE_BROKERS / $BARGE_TOPIC_PREFIX, else the stack of `barge up`), the codec
 * initialised and, with flags:
 *   SERVICE_WAIT    (services, `barge init`) SIGINT and SIGTERM set the stop flag from now on
 *                   (service_signals), and it waits up to SERVICE_BROKER_WAIT_MS for a broker to
 *                   answer. When none has within SERVICE_BROKER_QUIET_MS it says once on stderr
 *                   "barge CMD: waiting for a Kafka broker at HOST:PORT ...". A signal ends the
 *                   wait at once ("stopped while waiting", returns 1; a service then exits 0, as at
 *                   any stop: service_stopping() tells the two apart); so does a broker that
 *                   refuses us (TLS, SASL). conn->bc.stop is service_stopping, so later waits for
 *                   a broker (bus_ensure_topics, bus_probe) end at a signal too.
 *   SERVICE_TOPICS  the missing topics created.
 * On failure it prints "barge CMD: reason" and returns the exit status (2: --kafka-props that
 * no client can be made with, bus_conf_check, said before anything else; 1: no broker known, as
 * when no stack was started, and any other failure); 0 on success, with conn->bc ready (its strings point into conn and k). */
struct service_conn {
  char brokers[1024];
  char prefix[128];
  struct bus_conf bc;
};
#define SERVICE_TOPICS 1
#define SERVICE_WAIT 2
#define SERVICE_BROKER_WAIT_MS 60000 /* what creating the topics always allowed */
#define SERVICE_BROKER_QUIET_MS 2000
int service_connect(const char *cmd, const struct kafka_opts *k, const char *client_id,
                    int flags, struct service_conn *conn) BARGE_WUR;
/* For client commands: fails fast when no broker of conn answers within 3 s, printing one
 * line (the broker tried, how to start one). 0 when one answers, else non-zero. */
int service_require_broker(const char *cmd, const struct service_conn *conn);

/* The default transactional id of a service: base ("barge-scheduler", or the accounting group)
 * under the default prefix "barge.", base-PREFIX under any other, so that stacks sharing a broker
 * under different prefixes never fence each other. */
void service_txn_id(const char *base, const char *prefix, char *out, size_t n);

/* ---- metrics (docs/metrics.md) ---- */

/* Sets barge_service_info{service=name} and, when mo->port >= 0, serves the process's registry
 * (metrics_global) at http://HOST:PORT/metrics, logging the address ("metrics at ..."). 0, or 1
 * after printing why (the port is taken: the caller exits 1). Call once, from main. */
int service_metrics_start(const char *name, const struct metrics_opts *mo) BARGE_WUR;
void service_metrics_stop(void);
/* Sets barge_service_ready to 1: the start-up is over (service_metrics_start sets it to 0). What
 * `barge status` reads to tell a service that is still starting from one that is up
 * (docs/operations.md "barge status"). service_run calls it once its state is rebuilt. */
void service_ready(void);
/* Refreshes barge_consumer_lag{topic} from c's view (bus_lag), at most every 500 ms. For the
 * thread that polls c. service_run does it for its input consumer. */
void service_metrics_lag(struct bus_consumer *c);
/* Counts one record sent to the dead-letter topic (service_dead_letter does). */
void service_metrics_dead_letter(enum bus_topic t);

/* ---- the loop ---- */

/* A compacted topic read back at start. cb sees every record, decoded (ev NULL for a tombstone,
 * or for a record that does not decode: that one is logged, as it was dead-lettered when the
 * input consumer first read it). A record whose schema the registry cannot be asked for now
 * (BUS_DECODE_UNAVAILABLE) is not skipped: the start fails (service_decode_unavailable), so that
 * a state rebuilt without it never runs. With raw set, raw sees each record instead, undecoded (a
 * service that reads only a few fields of many records decodes them itself); it returns -1 with
 * err for such a record, which fails the start the same way. */
struct service_table {
  enum bus_topic topic;
  void (*cb)(void *ctx, const struct bus_msg *m, const json_t *ev);
  int (*raw)(void *ctx, const struct bus_msg *m, char *err, size_t errlen);
};

/* The service's hooks; ctx is its own state. Every hook but handle may be NULL. */
struct service_hooks {
  /* One decoded barge.config record (ev NULL: a deletion, the key in m). NULL: the service keeps
   * no config table. */
  int (*config)(void *ctx, const struct bus_msg *m, enum barge_ev_type t, const json_t *ev,
                char *why, size_t whylen, char *err, size_t errlen);
  /* After the tables are read back, before the start-up commit. */
  int (*restored)(void *ctx, char *err, size_t errlen);
  /* Positions the input consumer (service_input). NULL: the group's committed offsets, else the
   * beginning. */
  int (*assign)(void *ctx, char *err, size_t errlen);
  /* A raw look at an input record: 1 when the hook took it as it is (not decoded, but marked). */
  int (*take)(void *ctx, const struct bus_msg *m);
  /* A decoded input record (ev NULL for a tombstone). */
  int (*handle)(void *ctx, const struct bus_msg *m, enum barge_ev_type t, const json_t *ev,
                char *why, size_t whylen, char *err, size_t errlen);
  /* A partition of the inputs reached its end. */
  void (*eof)(void *ctx, const struct bus_msg *m);
  int (*batch_done)(void *ctx, char *err, size_t errlen);
  int (*tick)(void *ctx, char *err, size_t errlen);
  int (*committed)(void *ctx, char *err, size_t errlen);
  int (*stopping)(void *ctx, char *err, size_t errlen);
};

struct service_def {
  const char *name;    /* "scheduler": the dead-letter consumer and the log lines */
  const char *group;   /* the input consumer's group */
  const char *txn_id;  /* the transactional id */
  const enum bus_topic *inputs;
  int ninputs;
  const struct service_table *tables;
  int ntables;
  int64_t batch;    /* most input records per transaction */
  int64_t batch_ms; /* a batch ends after this long */
  int64_t poll_ms;  /* longest single wait for a record */
  int64_t tick_ms;  /* hooks.tick runs this often; 0: after every batch */
  int eager;        /* a batch ends once the input is idle (waits batch_ms for the first only);
                       the input consumer long-polls (BUS_FETCH_WAIT_LONG_MS) */
  int64_t gather_ms;   /* eager: after a busy batch the next one gathers input from its first
                          record for as long as the last commit took, at most this long (0:
                          never), so that a busy service commits fewer, larger transactions;
                          after a quiet one it ends once the input is idle */
  int64_t gather_busy; /* a batch of at least this many input records is busy */
  int64_t txn_max_bytes; /* a batch also ends once its transaction has produced this many bytes
                            (0: no bound), so that inputs that each make much output (the
                            children of large arrays) do not pile up into one transaction that
                            could outlive the broker's transaction timeout */
  int lazy;            /* not eager, off the jobs' path (accounting): the input consumer fetches
                          lazily (BUS_FETCH_LAZY), so that the broker answers it a few large
                          fetches a second rather than one at every transaction written */
  struct service_hooks hooks;
};

/* A transaction that wrote nothing but input positions is committed at most this often (above). */
#define SERVICE_OFFSETS_EVERY_MS 5000

/* Caller-owned; service_run fills it. Hooks reach it through their ctx. */
struct service_loop {
  const struct service_def *def;
  void *ctx;
  const struct bus_conf *bc;
  struct bus_producer *prod;
  struct bus_consumer *in, *cfg;
  int in_txn;
  int live;         /* past the start-up: bad config records are dead-lettered */
  int64_t cfg_next; /* the next barge.config offset to read */
  int cfg_whole;    /* barge.config has been read to its end as the broker reported it when a
                       catch-up began (the start-up's, or a later one): every record written
                       before that catch-up is known, none was missed to a timeout */
  long long dead;   /* records dead-lettered */
  int64_t last_n;   /* input records of the last batch (def.gather_busy) */
  int64_t commit_ms; /* how long the last transaction took to commit (def.gather_ms) */
  int64_t committed_at; /* mono_ms of the last commit (SERVICE_OFFSETS_EVERY_MS) */
  json_t *unknown;      /* name -> mono_ms of its last catch-up (service_config_catch_up_for) */
};

/* Runs the service until a signal or a fatal error: the exit status (0 stopped, 1 fatal). */
int service_run(struct service_loop *l, const struct service_def *def, void *ctx,
                const struct bus_conf *bc) BARGE_WUR;

/* For hooks: opens the transaction if none is open; reads barge.config up to its current end
 * (a record written just before the event that names it is then known); dead-letters a record
 * (in the transaction) with a warning in the log. */
int service_txn(struct service_loop *l, char *err, size_t errlen) BARGE_WUR;
int service_config_catch_up(struct service_loop *l, char *err, size_t errlen) BARGE_WUR;
/* The same for an input that names a resource the service does not know (name: anything that
 * identifies what it looked for), at most once every SERVICE_UNKNOWN_RECHECK_MS per name: a name
 * still unknown after a catch-up is taken as missing until then, without another. A catch-up asks
 * the broker for the table's end (two ListOffsets round trips, about 0.5 s each with Debian's
 * librdkafka); done for every record, an agent of a compute environment that does not exist,
 * heartbeating, held the scheduler to about one input record a second. The records of such a
 * window are still read with what the config consumer has already fetched (a resource created
 * since is very likely among them). At most 4,096 names are remembered. */
#define SERVICE_UNKNOWN_RECHECK_MS 10000
int service_config_catch_up_for(struct service_loop *l, const char *name, char *err, size_t errlen) BARGE_WUR;
/* Whether barge.config has been read whole (service_loop.cfg_whole): from the restored hook on,
 * 0 when the start-up's read gave up waiting for the table's end (it goes on without it) and no
 * catch-up has reached it since. A decision that needs the absence of a resource (a queue that no
 * longer exists) waits for 1. */
int service_config_whole(const struct service_loop *l);
int service_dead_letter(struct service_loop *l, const struct bus_msg *m, const char *why,
                        char *err, size_t errlen) BARGE_WUR;
/* The same without its warning line, for a caller that rate-limits its own (a record that keeps
 * coming, such as the heartbeats of an agent whose compute environment does not exist). */
int service_dead_letter_unlogged(struct service_loop *l, const struct bus_msg *m, const char *why,
                                 char *err, size_t errlen) BARGE_WUR;
/* For a record bus_decode could not judge now (BUS_DECODE_UNAVAILABLE, why): says so in err and
 * returns -1, the service's fatal error (it exits; started again, it reads the record again). */
int service_decode_unavailable(const struct bus_msg *m, const char *why, char *err, size_t errlen) BARGE_WUR;
/* The producer (in the transaction when one is open) and the input consumer. */
struct bus_producer *service_producer(struct service_loop *l);
struct bus_consumer *service_input(struct service_loop *l);
/* "NAME/host:pid", the header source of what the service writes. */
void service_source(const char *name, char *out, size_t n);
#endif
