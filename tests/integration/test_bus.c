/* test_bus.c: lib/bus.c against the real Kafka broker (the CTest fixture).
 *
 * Checked, under a private topic prefix:
 * - bus_ensure_topics creates every topic with the partition count and cleanup.policy of the
 *   table in lib/bus.c (read back through the Admin API: metadata and DescribeConfigs), and is
 *   idempotent (a second run succeeds and changes nothing);
 * - topic names, bus_topic_by_name;
 * - an idempotent producer's events round-trip through the codec: same key -> same partition,
 *   in order; an event that does not match its topic's schema is refused before it is sent;
 * - a group consumer resumes after what it committed (bus_mark + bus_commit);
 * - transactions: a transaction left open by a producer that died is aborted when a new
 *   producer with the same transactional id starts (fencing), and is invisible to a
 *   read_committed consumer though a read_uncommitted one sees it; a committed transaction is
 *   visible; read-process-write commits the consumer's offsets with the output; a fenced
 *   (zombie) producer cannot commit;
 * - bus_decode refuses garbage, tombstones and an event of the wrong type for the topic;
 * - bus_dead_letter writes a DeadLetter that decodes with the source topic, partition, offset,
 *   consumer, reason, key and raw bytes;
 * - bus_read_table reads a table to its end; bus_watermarks. */
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "check.h"
#include "codec.h"

static char brokers[512], prefix[64];
static struct bus_conf bc;

static void find_broker(void) {
  const char *b = getenv("BARGE_BROKERS");
  if (b && *b) {
    snprintf(brokers, sizeof brokers, "%s", b);
    return;
  }
  const char *dir = getenv("BARGE_KAFKA_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/bootstrap", dir ? dir : "kafka");
  char *text = read_file(path, NULL);
  if (!text) {
    fprintf(stderr, "test_bus: no broker: set BARGE_KAFKA_DIR (CTest fixture) or BARGE_BROKERS\n");
    exit(2);
  }
  text[strcspn(text, "\r\n")] = 0;
  snprintf(brokers, sizeof brokers, "%s", text);
  free(text);
}

static json_t *state_change(const char *job, const char *from, const char *to) {
  return json_pack("{s:o, s:s, s:s, s:s, s:I}", "header", bus_header("test_bus", job, now_ms()),
                   "jobId", job, "oldStatus", from, "newStatus", to, "at", (json_int_t)now_ms());
}

static json_t *execution(const char *job, const char *kind) {
  return json_pack("{s:o, s:s, s:i, s:s, s:s, s:I}", "header", bus_header("test_bus", job, now_ms()),
                   "jobId", job, "attempt", 1, "instanceId", "i-test", "kind", kind, "at",
                   (json_int_t)now_ms());
}

/* Polls until n messages arrived or timeout_ms passed; decodes each into out[i] (owned),
 * keys into keys[i] (up to 63 chars). Returns how many arrived. */
static int collect(struct bus_consumer *c, int n, int timeout_ms, json_t **out, char keys[][64],
                   int32_t *parts) {
  int got = 0;
  int64_t until = mono_ms() + timeout_ms;
  char err[512];
  while (got < n && mono_ms() < until) {
    struct bus_msg m;
    int r = bus_poll(c, 100, &m, err, sizeof err);
    CHECK(r >= 0, "poll: %s", err);
    if (r != 1) continue;
    enum barge_ev_type t;
    json_t *v = NULL;
    if (bus_decode(&m, &t, &v, err, sizeof err)) {
      fprintf(stderr, "undecodable record at offset %lld: %s\n", (long long)m.offset, err);
    }
    if (out) out[got] = v;
    else json_decref(v);
    if (keys) snprintf(keys[got], 64, "%.*s", (int)m.keylen, m.key ? m.key : "");
    if (parts) parts[got] = m.partition;
    got++;
    bus_msg_release(&m);
  }
  return got;
}

/* Reads everything currently in a topic (until every partition reports its end). */
static int drain_all(enum bus_topic t, int read_committed, json_t **out, int max, char keys[][64]) {
  char err[512];
  struct bus_consumer *c = bus_consumer_new(&bc, NULL, read_committed, err, sizeof err);
  CHECK(c != NULL, "%s", err);
  if (!c) return 0;
  CHECK(bus_assign_all(c, &t, 1, 1, err, sizeof err) == 0, "%s", err);
  int parts = bus_topic_partitions(t), eofs = 0, got = 0;
  char *seen = calloc((size_t)parts, 1);
  int64_t until = mono_ms() + 30000;
  while (eofs < parts && mono_ms() < until) {
    struct bus_msg m;
    int r = bus_poll(c, 100, &m, err, sizeof err);
    if (r == 2) {
      if (m.partition >= 0 && m.partition < parts && !seen[m.partition]) {
        seen[m.partition] = 1;
        eofs++;
      }
      continue;
    }
    if (r != 1) continue;
    if (got < max) {
      enum barge_ev_type ty;
      json_t *v = NULL;
      if (bus_decode(&m, &ty, &v, err, sizeof err)) v = NULL;
      out[got] = v;
      if (keys) snprintf(keys[got], 64, "%.*s", (int)m.keylen, m.key ? m.key : "");
    }
    got++;
    bus_msg_release(&m);
  }
  CHECK(eofs == parts, "reached the end of every partition of %s", bus_topic_base(t));
  free(seen);
  bus_consumer_free(c);
  return got;
}

static void test_topics(void) {
  TEST("bus_ensure_topics: partitions and cleanup policies, idempotent");
  char err[1024];
  CHECK(bus_ensure_topics(&bc, err, sizeof err) == 0, "first run: %s", err);
  CHECK(bus_ensure_topics(&bc, err, sizeof err) == 0, "second run: %s", err);

  char errstr[512];
  rd_kafka_conf_t *kc = rd_kafka_conf_new();
  rd_kafka_conf_set(kc, "bootstrap.servers", brokers, errstr, sizeof errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof errstr);
  CHECK(rk != NULL, "%s", errstr);
  if (!rk) return;
  /* partition counts from metadata (new topics reach every broker's metadata cache a moment
   * after CreateTopics returns: wait until all of them are listed) */
  const struct rd_kafka_metadata *md = NULL;
  for (int tries = 0; tries < 60; tries++) {
    if (md) rd_kafka_metadata_destroy(md);
    md = NULL;
    if (rd_kafka_metadata(rk, 1, NULL, &md, 15000) != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    int listed = 0;
    for (int t = 0; t < TOPIC__COUNT; t++) {
      char name[256];
      bus_topic_name(&bc, (enum bus_topic)t, name, sizeof name);
      for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, name) && !md->topics[i].err) listed++;
    }
    if (listed == TOPIC__COUNT) break;
    usleep(250000);
  }
  CHECK(md != NULL, "metadata");
  for (int t = 0; t < TOPIC__COUNT && md; t++) {
    char name[256];
    bus_topic_name(&bc, (enum bus_topic)t, name, sizeof name);
    int found = -1;
    for (int i = 0; i < md->topic_cnt; i++)
      if (!strcmp(md->topics[i].topic, name)) found = md->topics[i].partition_cnt;
    CHECK(found == bus_topic_partitions((enum bus_topic)t), "%s: %d partitions, want %d", name,
          found, bus_topic_partitions((enum bus_topic)t));
  }
  if (md) rd_kafka_metadata_destroy(md);

  /* cleanup.policy through DescribeConfigs */
  rd_kafka_ConfigResource_t *res[TOPIC__COUNT];
  for (int t = 0; t < TOPIC__COUNT; t++) {
    char name[256];
    bus_topic_name(&bc, (enum bus_topic)t, name, sizeof name);
    res[t] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
  }
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_DescribeConfigs(rk, res, TOPIC__COUNT, NULL, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
  CHECK(ev && !rd_kafka_event_error(ev), "DescribeConfigs: %s", ev ? rd_kafka_event_error_string(ev) : "timed out");
  if (ev && !rd_kafka_event_error(ev)) {
    size_t n = 0;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    CHECK_INT(n, TOPIC__COUNT);
    for (size_t i = 0; i < n; i++) {
      const char *name = rd_kafka_ConfigResource_name(rs[i]);
      int t = bus_topic_by_name(&bc, name);
      CHECK(t >= 0, "%s is a Barge topic", name);
      size_t ne = 0;
      const rd_kafka_ConfigEntry_t **es = rd_kafka_ConfigResource_configs(rs[i], &ne);
      const char *policy = NULL;
      for (size_t k = 0; k < ne; k++)
        if (!strcmp(rd_kafka_ConfigEntry_name(es[k]), "cleanup.policy")) policy = rd_kafka_ConfigEntry_value(es[k]);
      if (t >= 0) {
        CHECK(policy && !strcmp(policy, bus_topic_cleanup((enum bus_topic)t)), "%s: cleanup.policy %s, want %s",
              name, policy ? policy : "(none)", bus_topic_cleanup((enum bus_topic)t));
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  for (int t = 0; t < TOPIC__COUNT; t++) rd_kafka_ConfigResource_destroy(res[t]);
  rd_kafka_destroy(rk);

  /* the table itself matches docs/architecture.md "Topics" where it is explicit */
  CHECK_STR(bus_topic_cleanup(TOPIC_CONFIG), "compact");
  CHECK_STR(bus_topic_cleanup(TOPIC_JOBS), "compact");
  CHECK_STR(bus_topic_cleanup(TOPIC_INSTANCES), "compact,delete");
  CHECK_STR(bus_topic_cleanup(TOPIC_REQUESTS), "delete");
  CHECK_STR(bus_topic_cleanup(TOPIC_DEAD_LETTER), "delete");
  CHECK(bus_topic_type(TOPIC_DEAD_LETTER) == BARGE_EV_DEAD_LETTER, "dead-letter carries DeadLetter");

  TEST("topic names");
  char name[256], full[256];
  bus_topic_name(&bc, TOPIC_JOB_EVENTS, name, sizeof name);
  snprintf(full, sizeof full, "%sjob-events", prefix);
  CHECK_STR(name, full);
  CHECK_INT(bus_topic_by_name(&bc, "job-events"), TOPIC_JOB_EVENTS);
  CHECK_INT(bus_topic_by_name(&bc, full), TOPIC_JOB_EVENTS);
  CHECK_INT(bus_topic_by_name(&bc, "no-such-topic"), -1);
}

/* A producer on the test's broker, or NULL after a failed check. */
static struct bus_producer *new_producer(void) {
  char err[1024];
  struct bus_producer *p = bus_producer_new(&bc, NULL, err, sizeof err);
  CHECK(p != NULL, "%s", err);
  return p;
}

static void test_round_trip(void) {
  TEST("idempotent producer -> consumer, through the codec");
  char err[1024];
  struct bus_producer *p = new_producer();
  if (!p) return;
  const char *states[][2] = {{"SUBMITTED", "RUNNABLE"}, {"RUNNABLE", "STARTING"}, {"STARTING", "RUNNING"},
                             {"RUNNING", "SUCCEEDED"}};
  char ids[4][40];
  for (int i = 0; i < 4; i++) {
    json_t *ev = state_change("job-rt", states[i][0], states[i][1]);
    snprintf(ids[i], sizeof ids[i], "%s", json_string_value(json_object_get(json_object_get(ev, "header"), "event_id")));
    CHECK(bus_produce(p, TOPIC_JOB_EVENTS, "job-rt", ev, err, sizeof err) == 0, "%s", err);
    json_decref(ev);
  }
  json_t *other = state_change("job-other", "SUBMITTED", "PENDING");
  CHECK(bus_produce(p, TOPIC_JOB_EVENTS, "job-other", other, err, sizeof err) == 0, "%s", err);
  json_decref(other);
  CHECK(bus_flush(p, 30000, err, sizeof err) == 0, "flush: %s", err);

  /* an event that does not fit the topic's schema is refused, naming the field */
  json_t *bad = json_pack("{s:o, s:s, s:s, s:s, s:I, s:s}", "header", bus_header("t", "", now_ms()),
                          "jobId", "x", "oldStatus", "A", "newStatus", "B", "at", (json_int_t)0, "bogusField", "y");
  err[0] = 0;
  CHECK(bus_produce(p, TOPIC_JOB_EVENTS, "x", bad, err, sizeof err) != 0, "an unknown field is refused");
  CHECK(strstr(err, "bogusField") != NULL, "the error names the field: %s", err);
  json_decref(bad);
  json_t *wrong = json_pack("{s:i}", "jobId", 5);
  CHECK(bus_produce(p, TOPIC_JOB_EVENTS, "x", wrong, err, sizeof err) != 0, "a wrong type is refused");
  json_decref(wrong);
  CHECK(bus_flush(p, 30000, err, sizeof err) == 0, "nothing was queued by the refused events: %s", err);

  struct bus_consumer *c = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  CHECK(c != NULL, "%s", err);
  enum bus_topic t = TOPIC_JOB_EVENTS;
  CHECK(bus_assign_all(c, &t, 1, 1, err, sizeof err) == 0, "%s", err);
  json_t *got[5] = {0};
  char keys[5][64];
  int32_t parts[5];
  int n = collect(c, 5, 30000, got, keys, parts);
  CHECK_INT(n, 5);
  int k = 0, part = -1;
  for (int i = 0; i < n; i++) {
    if (!got[i]) continue;
    if (strcmp(keys[i], "job-rt")) continue;
    if (part < 0) part = parts[i];
    CHECK(parts[i] == part, "same key, same partition");
    if (k < 4) {
      CHECK_STR(json_string_value(json_object_get(got[i], "jobId")), "job-rt");
      CHECK_STR(json_string_value(json_object_get(got[i], "oldStatus")), states[k][0]);
      CHECK_STR(json_string_value(json_object_get(got[i], "newStatus")), states[k][1]);
      CHECK_STR(json_string_value(json_object_get(json_object_get(got[i], "header"), "event_id")), ids[k]);
      CHECK_STR(json_string_value(json_object_get(json_object_get(got[i], "header"), "source")), "test_bus");
      CHECK_INT(json_integer_value(json_object_get(got[i], "attempt")), 0); /* the schema default */
    }
    k++;
  }
  CHECK_INT(k, 4);
  for (int i = 0; i < n; i++) json_decref(got[i]);
  int64_t lo = -1, hi = -1, total = 0;
  for (int pi = 0; pi < bus_topic_partitions(TOPIC_JOB_EVENTS); pi++) {
    CHECK(bus_watermarks(c, TOPIC_JOB_EVENTS, pi, &lo, &hi) == 0, "watermarks");
    total += hi - lo;
  }
  CHECK_INT(total, 5);
  bus_consumer_free(c);

  TEST("a group consumer resumes after its commit");
  char group[96];
  snprintf(group, sizeof group, "%sgroup", prefix);
  c = bus_consumer_new(&bc, group, 1, err, sizeof err);
  CHECK(bus_assign_all(c, &t, 1, 1, err, sizeof err) == 0, "%s", err);
  int marked = 0;
  int64_t until = mono_ms() + 30000;
  while (marked < 2 && mono_ms() < until) {
    struct bus_msg m;
    if (bus_poll(c, 100, &m, err, sizeof err) != 1) continue;
    if (m.keylen == 6 && !memcmp(m.key, "job-rt", 6)) {
      bus_mark(c, &m);
      marked++;
    }
    bus_msg_release(&m);
  }
  CHECK_INT(marked, 2);
  CHECK(bus_commit(c, err, sizeof err) == 0, "commit: %s", err);
  bus_consumer_free(c);
  c = bus_consumer_new(&bc, group, 1, err, sizeof err);
  CHECK(bus_assign_all(c, &t, 1, 1, err, sizeof err) == 0, "%s", err);
  json_t *rest[4] = {0};
  n = collect(c, 3, 30000, rest, keys, NULL);
  CHECK_INT(n, 3); /* two job-rt events were committed; two job-rt and one job-other remain */
  int rt = 0;
  for (int i = 0; i < n; i++) {
    if (!strcmp(keys[i], "job-rt")) {
      CHECK_STR(json_string_value(json_object_get(rest[i], "newStatus")), states[2 + rt][1]);
      rt++;
    }
    json_decref(rest[i]);
  }
  CHECK_INT(rt, 2);
  bus_consumer_free(c);
  bus_producer_free(p);
}

static void test_transactions(void) {
  TEST("transactions: an abandoned transaction is aborted by fencing; a committed one is visible");
  char err[1024], txn[96];
  snprintf(txn, sizeof txn, "%stxn", prefix);
  struct bus_producer *p1 = bus_producer_new(&bc, txn, err, sizeof err);
  CHECK(p1 != NULL, "%s", err);
  if (!p1) return;
  CHECK(bus_txn_begin(p1, err, sizeof err) == 0, "%s", err);
  json_t *ev = execution("aborted-job", "STARTED");
  CHECK(bus_produce(p1, TOPIC_EXECUTIONS, "aborted-job", ev, err, sizeof err) == 0, "%s", err);
  json_decref(ev);
  CHECK(bus_flush(p1, 30000, err, sizeof err) == 0, "written to the log (uncommitted): %s", err);
  bus_producer_free(p1); /* dies with its transaction open */

  struct bus_producer *p2 = bus_producer_new(&bc, txn, err, sizeof err); /* fences and aborts it */
  CHECK(p2 != NULL, "%s", err);
  if (!p2) return;
  CHECK(bus_txn_begin(p2, err, sizeof err) == 0, "%s", err);
  ev = execution("committed-job", "EXITED");
  json_object_set_new(ev, "exitCode", json_integer(0));
  CHECK(bus_produce(p2, TOPIC_EXECUTIONS, "committed-job", ev, err, sizeof err) == 0, "%s", err);
  json_decref(ev);
  CHECK(bus_txn_commit(p2, NULL, err, sizeof err) == 0, "commit: %s", err);

  json_t *got[8] = {0};
  char keys[8][64];
  int n = drain_all(TOPIC_EXECUTIONS, 1, got, 8, keys);
  CHECK_INT(n, 1);
  CHECK(n >= 1 && !strcmp(keys[0], "committed-job"), "read_committed sees the committed one only");
  if (n >= 1) CHECK_INT(json_integer_value(json_object_get(got[0], "exitCode")), 0);
  for (int i = 0; i < n && i < 8; i++) json_decref(got[i]);
  n = drain_all(TOPIC_EXECUTIONS, 0, got, 8, keys);
  CHECK_INT(n, 2);
  int saw_aborted = 0;
  for (int i = 0; i < n && i < 8; i++) {
    saw_aborted |= !strcmp(keys[i], "aborted-job");
    json_decref(got[i]);
  }
  CHECK(saw_aborted, "read_uncommitted sees the aborted record: it was really written");

  TEST("read-process-write: the consumed offsets commit with the output");
  char group[96];
  snprintf(group, sizeof group, "%srpw", prefix);
  struct bus_consumer *c = bus_consumer_new(&bc, group, 1, err, sizeof err);
  enum bus_topic t = TOPIC_EXECUTIONS;
  CHECK(bus_assign_all(c, &t, 1, 1, err, sizeof err) == 0, "%s", err);
  int handled = 0;
  int64_t until = mono_ms() + 30000;
  while (!handled && mono_ms() < until) {
    struct bus_msg m;
    if (bus_poll(c, 100, &m, err, sizeof err) != 1) continue;
    CHECK(bus_txn_begin(p2, err, sizeof err) == 0, "%s", err);
    json_t *out = state_change("committed-job", "RUNNING", "SUCCEEDED");
    CHECK(bus_produce(p2, TOPIC_JOB_EVENTS, "committed-job", out, err, sizeof err) == 0, "%s", err);
    json_decref(out);
    bus_mark(c, &m);
    bus_msg_release(&m);
    CHECK(bus_txn_commit(p2, c, err, sizeof err) == 0, "commit with offsets: %s", err);
    handled = 1;
  }
  CHECK(handled, "consumed the committed record");
  bus_consumer_free(c);
  c = bus_consumer_new(&bc, group, 1, err, sizeof err);
  CHECK(bus_assign_all(c, &t, 1, 1, err, sizeof err) == 0, "%s", err);
  CHECK_INT(collect(c, 1, 3000, NULL, NULL, NULL), 0); /* resumes after it: nothing left */
  bus_consumer_free(c);

  TEST("a fenced (zombie) producer cannot commit");
  struct bus_producer *p3 = bus_producer_new(&bc, txn, err, sizeof err); /* fences p2 */
  CHECK(p3 != NULL, "%s", err);
  int began = bus_txn_begin(p2, err, sizeof err) == 0;
  int committed = 0;
  if (began) {
    ev = execution("zombie-job", "STARTED");
    if (bus_produce(p2, TOPIC_EXECUTIONS, "zombie-job", ev, err, sizeof err) == 0)
      committed = bus_txn_commit(p2, NULL, err, sizeof err) == 0;
    json_decref(ev);
  }
  CHECK(!committed, "the zombie's transaction did not commit");
  n = drain_all(TOPIC_EXECUTIONS, 1, got, 8, keys);
  int zombie = 0;
  for (int i = 0; i < n && i < 8; i++) {
    zombie |= !strcmp(keys[i], "zombie-job");
    json_decref(got[i]);
  }
  CHECK(!zombie, "nothing of the zombie is visible to read_committed");
  bus_producer_free(p2);
  bus_producer_free(p3);
}

static void test_decode_and_dead_letter(void) {
  TEST("bus_decode refuses garbage, tombstones and the wrong event type");
  char err[1024];
  enum barge_ev_type ty;
  json_t *v = NULL;
  static const unsigned char garbage[] = {0xc3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9, 'x', 0xff};
  struct bus_msg m = {.topic = TOPIC_REQUESTS, .partition = 0, .offset = 42, .key = "the-key",
                      .keylen = 7, .value = garbage, .len = sizeof garbage};
  err[0] = 0;
  CHECK(bus_decode(&m, &ty, &v, err, sizeof err) != 0 && v == NULL && err[0], "garbage refused");
  struct bus_msg tomb = m;
  tomb.value = NULL;
  tomb.len = 0;
  CHECK(bus_decode(&tomb, &ty, &v, err, sizeof err) != 0, "tombstone refused");
  struct buf b;
  buf_init(&b);
  json_t *sc = state_change("j", "RUNNING", "FAILED");
  CHECK(codec_encode(BARGE_EV_JOB_STATE_CHANGE, sc, &b, err, sizeof err) == 0, "%s", err);
  json_decref(sc);
  struct bus_msg wrong = m;
  wrong.value = b.data;
  wrong.len = b.len;
  CHECK(bus_decode(&wrong, &ty, &v, err, sizeof err) != 0, "a JobStateChange on requests refused");
  CHECK(strstr(err, "JobStateChange") != NULL, "the reason names the type: %s", err);
  wrong.topic = TOPIC_JOB_EVENTS;
  CHECK(bus_decode(&wrong, &ty, &v, err, sizeof err) == 0 && ty == BARGE_EV_JOB_STATE_CHANGE,
        "but accepted on job-events: %s", err);
  json_decref(v);
  buf_release(&b);

  TEST("bus_dead_letter writes a decodable DeadLetter");
  struct bus_producer *p = new_producer();
  if (!p) return;
  CHECK(bus_dead_letter(p, &m, "test_bus", "a reason to reject", err, sizeof err) == 0, "%s", err);
  CHECK(bus_dead_letter(p, &tomb, "test_bus", "tombstone", err, sizeof err) == 0, "%s", err);
  CHECK(bus_flush(p, 30000, err, sizeof err) == 0, "%s", err);
  bus_producer_free(p);
  json_t *got[4] = {0};
  char keys[4][64];
  int n = drain_all(TOPIC_DEAD_LETTER, 1, got, 4, keys);
  CHECK_INT(n, 2);
  if (n >= 1 && got[0]) {
    char topic[256];
    bus_topic_name(&bc, TOPIC_REQUESTS, topic, sizeof topic);
    CHECK_STR(keys[0], "the-key");
    CHECK_STR(json_string_value(json_object_get(got[0], "topic")), topic);
    CHECK_INT(json_integer_value(json_object_get(got[0], "partition")), 0);
    CHECK_INT(json_integer_value(json_object_get(got[0], "offset")), 42);
    CHECK_STR(json_string_value(json_object_get(got[0], "consumer")), "test_bus");
    CHECK_STR(json_string_value(json_object_get(got[0], "error")), "a reason to reject");
    /* bytes travel as base64 in Barge's JSON convention */
    CHECK_STR(json_string_value(json_object_get(got[0], "payload")), "wwEBAgMEBQYHCAl4/w==");
    CHECK(json_object_get(json_object_get(got[0], "header"), "event_id") != NULL, "with a header");
  } else {
    CHECK(0, "the dead letter decodes");
  }
  if (n >= 2 && got[1]) {
    CHECK(json_object_get(got[1], "payload") == NULL, "a tombstone's dead letter has no payload");
    CHECK_STR(json_string_value(json_object_get(got[1], "error")), "tombstone");
  }
  for (int i = 0; i < n && i < 4; i++) json_decref(got[i]);
}

static int table_count;
static void count_cb(void *ctx, const struct bus_msg *m) {
  (void)ctx;
  (void)m;
  table_count++;
}

static void test_read_table(void) {
  TEST("bus_read_table reads a table to its end");
  char err[1024];
  struct bus_producer *p = new_producer();
  if (!p) return;
  for (int i = 0; i < 3; i++) {
    char key[32];
    snprintf(key, sizeof key, "dl-%d", i);
    json_t *dl = json_pack("{s:o, s:s, s:i, s:I, s:s}", "header", bus_header("t", "", now_ms()),
                           "topic", "x", "partition", 0, "offset", (json_int_t)i, "error", "e");
    CHECK(bus_produce(p, TOPIC_DEAD_LETTER, key, dl, err, sizeof err) == 0, "%s", err);
    json_decref(dl);
  }
  CHECK(bus_flush(p, 30000, err, sizeof err) == 0, "%s", err);
  bus_producer_free(p);
  struct bus_consumer *c = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  table_count = 0;
  CHECK(bus_read_table(c, TOPIC_DEAD_LETTER, count_cb, NULL, err, sizeof err) == 0, "%s", err);
  CHECK_INT(table_count, 5); /* the two dead letters above and these three */
  table_count = 0;
  CHECK(bus_read_table(c, TOPIC_SCALING, count_cb, NULL, err, sizeof err) == 0, "empty table: %s", err);
  CHECK_INT(table_count, 0);
  /* an empty key: the partitioner sends it anywhere, so every partition is read (this crashed) */
  table_count = 0;
  CHECK(bus_read_table_key(c, TOPIC_DEAD_LETTER, "", count_cb, NULL, err, sizeof err) == 0, "%s", err);
  CHECK_INT(table_count, 5);
  bus_consumer_free(c);
  c = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  CHECK(bus_assign_key(c, TOPIC_DEAD_LETTER, "", 1, err, sizeof err) == 0, "bus_assign_key with an empty key: %s", err);
  bus_consumer_free(c);
}

static void test_wait(void) {
  TEST("bus_wait sleeps until a record arrives or the other fd is readable, else times out");
  char err[1024];
  struct bus_consumer *c = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  CHECK(c != NULL, "%s", err);
  if (!c) return;
  enum bus_topic t = TOPIC_REQUESTS;
  CHECK(bus_assign_all(c, &t, 1, 0, err, sizeof err) == 0, "%s", err); /* at the end */
  struct bus_msg m;
  for (int64_t until = mono_ms() + 3000; mono_ms() < until;) /* the end-of-partition events */
    if (bus_poll(c, 200, &m, err, sizeof err) == 0) break;
  int64_t t0 = mono_ms();
  CHECK_INT(bus_wait(c, -1, 300), 0);
  CHECK(mono_ms() - t0 >= 250, "slept %lld ms of 300 with nothing to read", (long long)(mono_ms() - t0));
  int fds[2];
  CHECK(pipe(fds) == 0, "pipe");
  CHECK(write(fds[1], "x", 1) == 1, "write");
  t0 = mono_ms();
  CHECK_INT(bus_wait(c, fds[0], 5000), 1);
  CHECK(mono_ms() - t0 < 1000, "woken by the other fd after %lld ms", (long long)(mono_ms() - t0));
  close(fds[0]);
  close(fds[1]);
  struct bus_producer *p = bus_producer_new(&bc, NULL, err, sizeof err);
  CHECK(p != NULL, "%s", err);
  if (!p) {
    bus_consumer_free(c);
    return;
  }
  json_t *ev = json_pack("{s:o, s:s, s:{s:{s:I}}}", "header", bus_header("test_bus", "", now_ms()), "principal",
                         "test", "body", "Tick", "seq", (json_int_t)1);
  t0 = mono_ms();
  CHECK(bus_produce(p, TOPIC_REQUESTS, "wake", ev, err, sizeof err) == 0 && bus_flush(p, 10000, err, sizeof err) == 0,
        "%s", err);
  json_decref(ev);
  int got = 0;
  while (!got && mono_ms() - t0 < 10000) {
    if (!bus_wait(c, -1, 10000)) break;
    int r;
    while ((r = bus_poll(c, 0, &m, err, sizeof err)) != 0) {
      if (r == 1) {
        got = m.keylen == 4 && !memcmp(m.key, "wake", 4);
        bus_msg_release(&m);
      }
    }
  }
  CHECK(got, "the record woke the wait and was read");
  CHECK(mono_ms() - t0 < 5000, "within %lld ms", (long long)(mono_ms() - t0));
  bus_producer_free(p);
  bus_consumer_free(c);
}

int main(void) {
  find_broker();
  char hex[9], err[1024];
  random_hex(hex, 8);
  snprintf(prefix, sizeof prefix, "tbus%s.", hex);
  bc = (struct bus_conf){.brokers = brokers, .prefix = prefix, .client_id = "test_bus"};
  printf("broker %s, prefix %s\n", brokers, prefix);
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "codec_init: %s\n", err);
    return 1;
  }
  test_topics();
  test_round_trip();
  test_transactions();
  test_decode_and_dead_letter();
  test_read_table();
  test_wait();
  return check_summary();
}
