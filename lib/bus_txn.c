/* bus_txn.c: the bus's transactions (bus.h, "transactions"): the messages a transaction holds
 * back, and its commit. */
#include "bus_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- held messages ---------------- */

/* A message of an open transaction is held back in p->held and queued at its commit (or at
 * bus_flush), after the transaction's offsets were sent: every partition the transaction writes
 * is then registered with its coordinator in one AddPartitionsToTxn request, sent once the
 * previous transaction has completed. Produced as they come, the first of them would reach the
 * coordinator while the previous transaction's markers are still being written, be refused
 * (CONCURRENT_TRANSACTIONS) and retried after librdkafka's fixed 20 ms, and the later partitions
 * would wait for that request in turn (docs/architecture.md, "Throughput"). What the transaction
 * holds, and that nothing of it is visible before it commits, are unchanged. */
struct held_msg {
  int32_t partition;
  int topic, has_key, has_value;
  size_t keylen, vlen;
};

/* Past this many bytes a transaction's held messages are queued at once, as they would be without
 * holding back: a transaction that writes a great deal (the children of many large arrays) then
 * costs librdkafka's bounded queue, not memory of its own (1M children in one batch held about
 * 1 GiB in the scheduler); the 20 ms retry it may meet is nothing beside such a transaction. */
#define HELD_MAX_BYTES (4u << 20)

int bus_held_add(struct bus_producer *p, enum bus_topic t, const char *key, size_t keylen,
                 const void *value, size_t vlen, int32_t partition, char *err, size_t errlen) {
  struct held_msg h = {.partition = partition, .topic = (int)t, .has_key = key != NULL,
                       .has_value = value != NULL, .keylen = key ? keylen : 0, .vlen = value ? vlen : 0};
  buf_append(&p->held, &h, sizeof h);
  if (h.keylen) buf_append(&p->held, key, h.keylen);
  if (h.vlen) buf_append(&p->held, value, h.vlen);
  p->nheld++;
  return p->held.len >= HELD_MAX_BYTES ? bus_held_release(p, err, errlen) : 0;
}

/* Queues the messages in held, in their order, and empties it. 0, or -1 with err (what is left
 * is dropped). */
static int queue_held(struct bus_producer *p, struct buf *held, char *err, size_t errlen) {
  int rc = 0;
  const unsigned char *at = held->data, *end = at + held->len;
  while (!rc && at < end) {
    struct held_msg h;
    memcpy(&h, at, sizeof h);
    at += sizeof h;
    const char *key = h.has_key ? (const char *)at : NULL;
    at += h.keylen;
    const void *value = h.has_value ? at : NULL;
    at += h.vlen;
    rc = bus_produce_now(p, (enum bus_topic)h.topic, key, h.keylen, value, h.vlen, h.partition,
                         NULL, err, errlen);
  }
  if (held->cap > 2 * HELD_MAX_BYTES) buf_release(held); /* keep no peak's memory */
  buf_reset(held);
  return rc;
}

/* ---------------- the transaction calls ---------------- */

int bus_held_release(struct bus_producer *p, char *err, size_t errlen) {
  p->nheld = 0;
  return queue_held(p, &p->held, err, errlen);
}

int bus_txn_begin(struct bus_producer *p, char *err, size_t errlen) {
  rd_kafka_error_t *e = rd_kafka_begin_transaction(p->rk);
  if (e) {
    snprintf(err, errlen, "begin transaction: %s", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return -1;
  }
  p->in_txn = 1;
  p->txn_bytes = 0;
  return 0;
}

size_t bus_txn_bytes(const struct bus_producer *p) { return p->in_txn ? p->txn_bytes : 0; }

int bus_txn_commit(struct bus_producer *p, struct bus_consumer *c, char *err, size_t errlen) {
  rd_kafka_error_t *e = NULL;
  p->in_txn = 0;
  int64_t t0 = mono_us(), t1 = t0; /* for the debug line below */
  size_t held = p->nheld;
  if (c && c->marks->cnt > 0) {
    rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(c->rk);
    e = rd_kafka_send_offsets_to_transaction(p->rk, c->marks, md, 30000);
    rd_kafka_consumer_group_metadata_destroy(md);
    if (e) goto fail;
    t1 = mono_us();
  }
  char why[512];
  if (p->nheld && bus_held_release(p, why, sizeof why)) {
    snprintf(err, errlen, "transaction: %s", why);
    rd_kafka_error_t *a = rd_kafka_abort_transaction(p->rk, 30000);
    if (a) rd_kafka_error_destroy(a);
    return -1;
  }
  e = rd_kafka_commit_transaction(p->rk, 60000);
  if (e) goto fail;
  /* BARGE_LOG=debug: where a commit's time goes (bench/throughput.sh --trace reads these lines) */
  log_debug("transaction committed at %lld: %zu messages released at the commit, offsets %.1f ms, "
            "produce and commit %.1f ms", (long long)now_ms(), held, (double)(t1 - t0) / 1000,
            (double)(mono_us() - t1) / 1000);
  if (c) {
    rd_kafka_topic_partition_list_destroy(c->marks);
    c->marks = rd_kafka_topic_partition_list_new(16);
  }
  p->failures = 0;
  return 0;
fail:
  buf_reset(&p->held); /* the transaction is not committed: what it held goes with it */
  p->nheld = 0;
  snprintf(err, errlen, "transaction: %s", rd_kafka_error_string(e));
  if (rd_kafka_error_txn_requires_abort(e)) {
    rd_kafka_error_t *a = rd_kafka_abort_transaction(p->rk, 30000);
    if (a) rd_kafka_error_destroy(a);
  }
  rd_kafka_error_destroy(e);
  return -1;
}
