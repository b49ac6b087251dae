/* bus.h: Barge's Kafka bus, the only code that includes rdkafka.h.
 *
 * - Topics (docs/architecture.md "Topics") carry a configurable prefix and are created through the Admin
 *   API with explicit partition counts and cleanup policies (bus_ensure_topics).
 * - Producers are idempotent (enable.idempotence, acks=all) and every delivery report is
 *   checked (linger.ms is 5 unless kafka_props sets it): bus_flush fails if any message since
 *   the last flush was not durably written.
 *   A producer given a transactional id runs read-process-write transactions together with a
 *   consumer (bus_txn_*): the consumed offsets and the produced events commit together.
 * - Consumers never auto-commit: a service commits only after the effect (bus_commit, or the
 *   offsets inside a transaction).
 * - Undecodable records are dead-lettered by bus_dead_letter and the consumer goes on.
 *
 * Threads: one bus_producer or bus_consumer per thread; they are not shared, except a producer
 * used through bus_produce_async (below). */
#ifndef BARGE_BUS_H
#define BARGE_BUS_H
#include <jansson.h>
#include <stdint.h>

#include "codec.h"
#include "util.h"

enum bus_topic {
  TOPIC_REQUESTS,
  TOPIC_CONFIG,
  TOPIC_JOB_EVENTS,
  TOPIC_EXECUTIONS,
  TOPIC_JOBS,
  TOPIC_PLACEMENTS,
  TOPIC_CAPACITY,
  TOPIC_INSTANCES,
  TOPIC_SCALING,
  TOPIC_USAGE,
  TOPIC_DEAD_LETTER,
  TOPIC_JOB_WAITS, /* why a job is not placed, when that changes (barge explain) */
  TOPIC__COUNT
};

/* How to reach Kafka. brokers: a bootstrap list; prefix: topic name prefix ("barge.");
 * kafka_props: extra librdkafka properties "k=v" separated by newlines or commas (TLS, SASL),
 * may be NULL. */
struct registry;
struct codec_ids;

struct bus_conf {
  const char *brokers;
  const char *prefix;
  const char *kafka_props;
  const char *client_id;
  /* When set, a wait for a broker (bus_probe, bus_ensure_topics) fails early once it returns
   * non-zero: a service asked to stop (service_stopping). So do, after a try that failed, the
   * waits of a start-up (a topic's metadata, a partition's watermarks, a group's committed offsets,
   * the transaction coordinator, bus_cluster_id, a table read to its end); a call answered at once
   * is never cut short. Called from the waiting thread. */
  int (*stop)(void);
  /* The schema registry (lib/registry.h) of the producers and consumers made with this conf,
   * borrowed: it outlives them. NULL: the process's (registry_url(); a service's one). A client
   * library handle names its own, so two handles in a process may use two registries. */
  struct registry *registry;
};

/* Whether conf's extra properties (kafka_props, "k=v" separated by commas or newlines) set k:
 * then they win over a default the caller would set for it. */
int bus_conf_has_prop(const struct bus_conf *conf, const char *k);

/* Topic base name ("requests"), its full name under a prefix, its partition count and cleanup
 * policy, and the event type its values carry. */
const char *bus_topic_base(enum bus_topic t);
void bus_topic_name(const struct bus_conf *conf, enum bus_topic t, char *out, size_t outlen);
int bus_topic_partitions(enum bus_topic t); /* the count a topic is created with */
const char *bus_topic_cleanup(enum bus_topic t);
enum barge_ev_type bus_topic_type(enum bus_topic t);
/* Finds a topic by base name ("job-events") or full name under conf's prefix; -1 if none. */
int bus_topic_by_name(const struct bus_conf *conf, const char *name);

/* Creates every Barge topic that does not exist yet (Admin API), waiting for the result.
 * Existing topics are left as they are. 0 on success. */
int bus_ensure_topics(const struct bus_conf *conf, char *err, size_t errlen) BARGE_WUR;

/* Fills a header object {event_id, event_time, source, request_id} for a new event. */
json_t *bus_header(const char *source, const char *request_id, int64_t at_ms);

/* ---- producer ---- */
struct bus_producer;
/* transactional_id NULL: an idempotent producer. Otherwise transactions are initialised
 * (fencing any older producer with the same id). */
struct bus_producer *bus_producer_new(const struct bus_conf *conf, const char *transactional_id,
                                      char *err, size_t errlen);
void bus_producer_free(struct bus_producer *p);
/* Gives up the messages not yet delivered: those queued are dropped, those in flight no longer
 * waited for (their delivery reports come, failed); bus_producer_free then does not wait for
 * them. For a service stopped before its first message counted (the agent stopped while its
 * READY waits for a broker that does not take it). */
void bus_producer_purge(struct bus_producer *p);
/* Queues raw bytes (copied). Partition: by key hash, or `partition` when >= 0. */
int bus_produce_raw(struct bus_producer *p, enum bus_topic t, const char *key, size_t keylen,
                    const void *value, size_t vlen, int32_t partition, char *err,
                    size_t errlen) BARGE_WUR;
/* Encodes v (borrowed) with the topic's event type and queues it. value NULL = a tombstone.
 * Either (and bus_produce_raw) returns BUS_TOO_LARGE when the record is larger than the producer
 * takes (message.max.bytes): nothing was queued, and only this record is at fault. */
#define BUS_TOO_LARGE (-3)
int bus_produce(struct bus_producer *p, enum bus_topic t, const char *key, const json_t *v,
                char *err, size_t errlen) BARGE_WUR;
/* Waits until every queued message is delivered or failed; non-zero (with the first failure
 * in err) if any failed since the last flush: -1 when none of those can have been written,
 * BUS_OUTCOME_UNKNOWN when one may have been (timed out in flight, or still queued at the
 * timeout). */
#define BUS_OUTCOME_UNKNOWN (-2)
int bus_flush(struct bus_producer *p, int timeout_ms, char *err, size_t errlen) BARGE_WUR;
/* Are conf's extra properties (--kafka-props) ones every client can be made with: each item
 * NAME=VALUE, a property librdkafka knows, a value it takes, files it names readable (TLS)?
 * Builds a client that connects to nothing. 0; -1 with the first bad one in err. A client
 * with a bad property can never reach a broker, so callers say so as bad usage rather than as
 * a missing broker (docs/operations.md, "Clients and a missing broker"). */
int bus_conf_check(const struct bus_conf *conf, char *err, size_t errlen) BARGE_WUR;
/* Does a broker of conf answer (cluster metadata) within timeout_ms? 0; -1 with why in err when
 * none answered in time (or conf->stop said stop); -2 when a broker refused us (TLS, SASL:
 * waiting longer will not help). Quiet: librdkafka's connection errors are not logged. For
 * commands that should fail fast, and for services waiting for their broker. */
int bus_probe(const struct bus_conf *conf, int timeout_ms, char *err, size_t errlen) BARGE_WUR;
/* Serves delivery reports without blocking. */
void bus_producer_poll(struct bus_producer *p);

/* A producer shared by threads (the API's write path, docs/api.md "The write path"): any thread
 * may call bus_produce_async at once; one thread calls bus_producer_serve in a loop, which runs
 * the delivery callback of each message with the ctx it was queued with. Messages of many
 * threads share the producer's batches (linger.ms) and broker round trips. */
struct bus_delivery {
  int ok;           /* durably written (acks=all) */
  int uncertain;    /* !ok, but the message may have been written nonetheless (a timeout) */
  char reason[256]; /* why not, when !ok */
  int32_t partition;
  int64_t offset;
};
typedef void (*bus_delivered_fn)(void *ctx, const struct bus_delivery *d);
/* Sets the callback of bus_produce_async's messages (before the first one). */
void bus_producer_on_delivery(struct bus_producer *p, bus_delivered_fn fn);
/* Encodes v (borrowed; NULL: a tombstone) and queues it; its delivery report calls the
 * producer's callback with ctx (not NULL). 0, or -1 (err) when it could not be queued (then no
 * callback comes). */
int bus_produce_async(struct bus_producer *p, enum bus_topic t, const char *key, const json_t *v,
                      void *ctx, char *err, size_t errlen) BARGE_WUR;
/* Serves delivery reports, waiting up to timeout_ms for one. */
void bus_producer_serve(struct bus_producer *p, int timeout_ms);

/* ---- consumer ---- */
struct bus_consumer;
struct bus_msg {
  enum bus_topic topic;
  int32_t partition;
  int64_t offset;
  int64_t timestamp_ms;
  const char *key; /* not NUL-terminated */
  size_t keylen;
  const void *value; /* NULL for a tombstone */
  size_t len;
  void *opaque_; /* the librdkafka message, freed by bus_msg_release */
  const struct codec_ids *ids_; /* its consumer's registry's ids, for bus_decode (NULL: the process's) */
};
/* group_id may be NULL (no group: offsets are not committed). read_committed selects
 * isolation.level. The consumer starts with no assignment. */
struct bus_consumer *bus_consumer_new(const struct bus_conf *conf, const char *group_id,
                                      int read_committed, char *err, size_t errlen);
/* How long the broker holds a fetch that finds no new data (fetch.wait.max.ms). A fetch is
 * answered as soon as data arrives (committed data, for read_committed), so the wait costs no
 * latency to a consumer that follows a topic, only to one that reads a table to its end (the
 * end shows as an empty fetch): bus_consumer_new takes the short wait; a service's long-lived
 * input consumer takes the long one, which saves the broker most of an idle stack's fetches. */
#define BUS_FETCH_WAIT_MS 50
#define BUS_FETCH_WAIT_LONG_MS 500
/* For a consumer that is not on any job's path (the audit log): the broker holds each fetch
 * until BUS_FETCH_LAZY_BYTES have gathered or BUS_FETCH_WAIT_LONG_MS have passed, so that under
 * load it answers a few large fetches a second instead of one per record written. */
#define BUS_FETCH_LAZY (-1)
#define BUS_FETCH_LAZY_BYTES 262144
/* For a consumer that reads whole tables to their end at a service's start (the rebuild): the
 * short wait, and fetches of up to BUS_FETCH_TABLE_PART_BYTES per partition instead of
 * librdkafka's 1 MiB. At a million records over 3 partitions, 4 MiB each read them in 6.0 s
 * against 7.1-7.8 s, with a peak of 600 MB against 540 (16 MiB: 830-850 MB, no faster). With
 * the one partition topics have now, 4 MiB took 7.0-7.6 s (the rebuild waited on its fetches:
 * 1.8 s of CPU) and 12 MiB, the same bytes per fetch as before, 4.9-5.3 s with a peak of 605-620
 * MB (bench/bench_million.py; docs/architecture.md, "Scheduler restart"). */
#define BUS_FETCH_TABLE (-2)
#define BUS_FETCH_TABLE_PART_BYTES "12582912"
struct bus_consumer *bus_consumer_new_wait(const struct bus_conf *conf, const char *group_id,
                                           int read_committed, int fetch_wait_ms, char *err,
                                           size_t errlen);
void bus_consumer_free(struct bus_consumer *c);
/* A consumer with no group, read_committed, for a command that follows topics for as long as the
 * user wants (`barge watch`, `barge logs --follow`) and must tell a quiet stream from brokers that
 * are gone: librdkafka's reports on its brokers (its "all brokers are down" warning, connections
 * refused or cut) are kept for bus_consumer_reachable and bus_consumer_all_down, not logged; its
 * caller says them in its own words. The reports come in through bus_poll. */
struct bus_consumer *bus_consumer_new_follow(const struct bus_conf *conf, char *err, size_t errlen);
/* Does a broker of the consumer's answer now? Asks for the cluster's metadata, waiting up to
 * timeout_ms. 0 when one answered; 1 when one is connected but has not answered within
 * timeout_ms (slow, or holding the connection without answering: how long that may last is the
 * caller's call); -1 when none is connected (none could be within timeout_ms, or the connection
 * failed), with why in err (for a follow consumer, librdkafka's latest report on a connection,
 * such as "Connect to ipv4#127.0.0.1:9092 failed: Connection refused"). The consumer's positions
 * are untouched: once a broker answers again, bus_poll goes on where it stopped, nothing skipped
 * or read twice. Caller's thread. */
int bus_consumer_reachable(struct bus_consumer *c, int timeout_ms, char *err, size_t errlen) BARGE_WUR;
/* Whether librdkafka said every broker of a follow consumer is down (read by bus_poll) since the
 * last bus_consumer_reachable: a reason to ask at once rather than after a quiet while. */
int bus_consumer_all_down(const struct bus_consumer *c);
/* Subscribes (group rebalancing) to the given topics. */
int bus_subscribe(struct bus_consumer *c, const enum bus_topic *topics, int n, char *err,
                  size_t errlen) BARGE_WUR;
/* Assigns every partition of the given topics, starting at the group's committed offsets, or
 * when none is committed at the beginning (from_beginning) or at the current end, read as
 * explicit offsets now so that nothing written after the call is missed. */
int bus_assign_all(struct bus_consumer *c, const enum bus_topic *topics, int n,
                   int from_beginning, char *err, size_t errlen) BARGE_WUR;
/* bus_assign_all for the one partition of t that records keyed `key` go to (the producers'
 * default partitioner, consistent hashing of the key); every partition when the Kafka properties
 * name another partitioner. For a reader of its own key only (an agent's placements). A group
 * with no committed offset starts at the end (unless from_beginning), and that start is marked
 * (bus_mark) for the caller to commit: until a group has read something it would otherwise have
 * no position, and `barge status` would count the whole partition as its lag. */
int bus_assign_key(struct bus_consumer *c, enum bus_topic t, const char *key, int from_beginning,
                   char *err, size_t errlen) BARGE_WUR;
/* Assigns every partition of the given topics at offsets chosen by the caller: start(ctx, t,
 * partition, committed) gets the group's committed offset (-1 when none or no group) and
 * returns the offset to begin at, BUS_OFFSET_BEGINNING or BUS_OFFSET_END (the end as of this
 * call, read as an explicit offset). For consumers whose own storage, not the group, says where
 * they are (an audit file), or that rebuild state from the beginning. */
#define BUS_OFFSET_BEGINNING (-2)
#define BUS_OFFSET_END (-1)
int bus_assign_with(struct bus_consumer *c, const enum bus_topic *topics, int n,
                    int64_t (*start)(void *ctx, enum bus_topic t, int32_t partition,
                                     int64_t committed),
                    void *ctx, char *err, size_t errlen) BARGE_WUR;
/* Assigns every partition of one topic from the beginning and reads to the current end,
 * calling cb for every message; then leaves the consumer unassigned. For rebuilding state from
 * compacted topics at start-up. */
int bus_read_table(struct bus_consumer *c, enum bus_topic t,
                   void (*cb)(void *ctx, const struct bus_msg *m), void *ctx, char *err,
                   size_t errlen) BARGE_WUR;
/* bus_read_table over the one partition records keyed `key` go to (bus_assign_key's rule):
 * the history of one job, without reading the others'. cb still sees other keys there. */
int bus_read_table_key(struct bus_consumer *c, enum bus_topic t, const char *key,
                       void (*cb)(void *ctx, const struct bus_msg *m), void *ctx, char *err,
                       size_t errlen) BARGE_WUR;
/* Polls one message. Returns 1 with *m filled (release with bus_msg_release), 0 on timeout,
 * 2 when a partition reached its end (m->topic and m->partition say which; nothing to
 * release), -1 on a fatal consumer error (in err). Transient errors are absorbed. */
int bus_poll(struct bus_consumer *c, int timeout_ms, struct bus_msg *m, char *err,
             size_t errlen) BARGE_WUR;
void bus_msg_release(struct bus_msg *m);
/* Sleeps until c has something to hand out (a record, an end of partition, an error), until
 * other_fd (-1: none) is readable, or for timeout_ms at most, whichever comes first; then
 * bus_poll(c, 0, ...) takes what is there. For a loop that also waits on something else (the
 * agent: its children's exits). Level-triggered on c only once bus_poll has emptied it: the
 * first call arms it. 1 when woken by c or other_fd, 0 on timeout. */
int bus_wait(struct bus_consumer *c, int other_fd, int timeout_ms);
/* Records that m has been fully handled: its offset+1 becomes the position to commit. */
void bus_mark(struct bus_consumer *c, const struct bus_msg *m);
/* Commits marked positions synchronously (non-transactional consumers). */
int bus_commit(struct bus_consumer *c, char *err, size_t errlen) BARGE_WUR;
/* How many partitions topic t has, as the broker says (retried while it is missing, up to about
 * 5 s); -1 with err. Topics made by an earlier Barge may have more than bus_topic_partitions. */
int bus_partition_count(struct bus_consumer *c, enum bus_topic t, char *err, size_t errlen) BARGE_WUR;
/* bus_commit without waiting for the coordinator's answer: the request is sent in the order of
 * the commits before it; a failure is not reported (a later commit carries later offsets). 0, or
 * -1 (err) when it could not be sent. */
int bus_commit_async(struct bus_consumer *c, char *err, size_t errlen);
/* The Kafka cluster's id (KRaft's cluster.id) into out, asking the brokers for up to timeout_ms.
 * 0, or -1 when none answered. */
int bus_cluster_id(struct bus_consumer *c, char *out, size_t n, int timeout_ms);
/* Low and high watermarks of a partition. */
int bus_watermarks(struct bus_consumer *c, enum bus_topic t, int32_t partition, int64_t *lo,
                   int64_t *hi) BARGE_WUR;
/* The records the consumer has still to read, per topic: the sum over its assigned partitions of
 * the high watermark minus the consumer's position (or, when larger, the offset at which it last
 * reached the partition's end: transaction markers and aborted records are skipped there), as the
 * consumer last heard from the broker (no request is made; for metrics). A read_committed consumer
 * at the end thus counts the records of a transaction still open, until it commits. lag[t] is -1
 * for a topic with no assigned partition whose position is known yet. 0, or -1 when the
 * assignment cannot be read. */
int bus_lag(struct bus_consumer *c, int64_t lag[TOPIC__COUNT]) BARGE_WUR;
/* The offset the consumer's group committed on a partition (-1: none), one try of up to 5 s
 * (for `barge status`; services use the retrying read of bus_assign_*). */
int bus_committed(struct bus_consumer *c, enum bus_topic t, int32_t partition, int64_t *off) BARGE_WUR;

/* ---- transactions (read-process-write) ---- */
int bus_txn_begin(struct bus_producer *p, char *err, size_t errlen) BARGE_WUR;
/* What a transactional producer produces inside a transaction is held in memory and queued here
 * (or at bus_flush), after the offsets, so that the transaction registers its partitions in one
 * request once the previous transaction has completed.
 * Sends the consumer's marked positions (c may be NULL) with the transaction and commits it.
 * 0 on success (the marks are cleared). On any failure -1 with the reason in err; when the error
 * requires it the transaction is aborted, but nothing is rewound: neither the consumer's position
 * nor the caller's state goes back, so the caller must not go on as if the outputs had been
 * written. Services exit, and their restart resumes from the last committed positions. */
int bus_txn_commit(struct bus_producer *p, struct bus_consumer *c, char *err,
                   size_t errlen) BARGE_WUR;
/* The bytes (keys and values) produced in the open transaction so far; 0 when none is open. */
size_t bus_txn_bytes(const struct bus_producer *p);

/* The most bytes of the original record a dead letter carries: a larger record's payload is cut
 * to its first BUS_DEAD_LETTER_MAX_PAYLOAD bytes, and the reason says so. */
#define BUS_DEAD_LETTER_MAX_PAYLOAD (512 * 1024)
/* The most bytes of the original key a dead letter is keyed by (the reason says when it is cut):
 * with the payload's bound, a dead letter stays within a producer's 1,000,000 bytes. */
#define BUS_DEAD_LETTER_MAX_KEY (64 * 1024)

/* Sends m to barge.dead-letter with the reason (through p, in its transaction if one is
 * open), keyed by m's key byte for byte (at most BUS_DEAD_LETTER_MAX_KEY bytes of it); at most
 * BUS_DEAD_LETTER_MAX_PAYLOAD bytes of m's value. */
int bus_dead_letter(struct bus_producer *p, const struct bus_msg *m, const char *consumer,
                    const char *reason, char *err, size_t errlen) BARGE_WUR;
/* The same without its warning line (service_dead_letter_unlogged). */
int bus_dead_letter_unlogged(struct bus_producer *p, const struct bus_msg *m, const char *consumer,
                             const char *reason, char *err, size_t errlen) BARGE_WUR;

/* How far an event's header.event_time (or `at`) may lie after both its Kafka record's timestamp
 * and the reader's own clock: an hour of clock skew between hosts. */
#define BUS_EVENT_AHEAD_MAX_MS (3600 * 1000LL)

/* Are the header.event_time of ev and its `at`, if it has one (an ExecutionReport, an
 * InstanceEvent), decoded from a record of timestamp record_ms, plausible for a reader whose clock
 * stands at now_ms (0: none yet)? 0 if so; 1 with why when either lies more than
 * BUS_EVENT_AHEAD_MAX_MS after both (a producer writing microseconds or nanoseconds where epoch
 * milliseconds belong): a service that takes its time from events would jump ahead with it. */
int bus_event_time_check(const json_t *ev, int64_t record_ms, int64_t now_ms, char *why, size_t whylen);

/* Decodes m's value. 0 with *type and *out (owned) on success; else the reason in err: -1 for
 * bytes that are invalid, BUS_DECODE_UNAVAILABLE for bytes that cannot be judged now (their
 * Confluent schema id is new to this process and the schema registry did not answer). A service
 * dead-letters the first kind only: the second is a valid record read again once the registry
 * answers (docs/publishing.md). */
#define BUS_DECODE_UNAVAILABLE (-2)
int bus_decode(const struct bus_msg *m, enum barge_ev_type *type, json_t **out, char *err,
               size_t errlen) BARGE_WUR;

#endif
