/* bus_int.h: the insides of the bus's producer and consumer, shared by lib/bus.c and
 * lib/bus_txn.c (transactions) only. Nothing else includes it. */
#ifndef BARGE_BUS_INT_H
#define BARGE_BUS_INT_H
#include "bus.h"
#include "util.h"

#include <librdkafka/rdkafka.h>

struct bus_producer {
  rd_kafka_t *rk;
  struct bus_conf conf;
  char names[TOPIC__COUNT][256];
  int transactional;
  int in_txn;
  /* delivery failures since the last flush */
  int failures, uncertain; /* uncertain: failures whose message may have been written */
  char first_failure[512];
  struct buf enc;
  bus_delivered_fn on_delivery; /* for messages queued by bus_produce_async */
  /* a transaction's messages, held back until its offsets are sent (lib/bus_txn.c) */
  struct buf held;
  size_t nheld;
  size_t txn_bytes; /* keys and values produced in the open transaction (bus_txn_bytes) */
};

struct bus_consumer {
  rd_kafka_t *rk;
  int wake[2];        /* bus_wait: librdkafka writes to wake[1] when the consumer queue fills */
  rd_kafka_queue_t *q; /* bus_wait: the consumer queue */
  struct bus_conf conf;
  char names[TOPIC__COUNT][256];
  rd_kafka_topic_partition_list_t *marks;
  int has_group;
  int64_t *eof[TOPIC__COUNT]; /* per partition: the offset of its last end reached (bus_lag), or -1 */
  /* bus_consumer_new_follow: librdkafka's reports on its brokers, kept for bus_consumer_reachable
   * (served by bus_poll, on the caller's thread) instead of logged */
  int all_down;          /* librdkafka said every broker is down since the last bus_consumer_reachable */
  char broker_err[512];  /* its latest report on a connection, "" when none since the last answer */
};

/* lib/bus.c: queues one message now; opaque (NULL: none) comes back in its delivery report. */
int bus_produce_now(struct bus_producer *p, enum bus_topic t, const char *key, size_t keylen,
                    const void *value, size_t vlen, int32_t partition, void *opaque, char *err,
                    size_t errlen);

/* lib/bus_txn.c */
/* Holds a message of the open transaction (queued at its commit). 0, or -1 with err when the
 * messages held had to be queued at once (past BUS_HELD_MAX_BYTES) and could not be. */
int bus_held_add(struct bus_producer *p, enum bus_topic t, const char *key, size_t keylen,
                 const void *value, size_t vlen, int32_t partition, char *err, size_t errlen);
/* Queues what the open transaction holds, in order. 0, or -1 with err (the rest is dropped). */
int bus_held_release(struct bus_producer *p, char *err, size_t errlen);
#endif
