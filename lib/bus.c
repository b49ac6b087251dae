/* bus.c: the Kafka bus over librdkafka (see bus.h for the contract). */
#include "bus.h"
#include "bus_int.h"
#include "registry.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The codec ids of conf's registry: its own (a client library handle's), or NULL, the process's. */
static const struct codec_ids *ids_of(const struct bus_conf *conf) {
  return conf->registry ? registry_ids(conf->registry) : NULL;
}

/* The topic table of docs/architecture.md "Topics": the partition counts topics are created
 * with. Every topic has one partition. barge.requests needs it: the scheduler must read
 * submissions in the order they were accepted, so that a job depending on one submitted just
 * before it finds it. The scheduler's outputs (jobs, job-events, job-waits, placements) have one
 * because each partition a transaction writes costs the broker a Produce, a partition check with
 * the coordinator and a commit marker: with one writer, more partitions only made every commit
 * dearer and slower (docs/architecture.md, "Choices that differ from the original design").
 * Topics an earlier Barge created with more partitions keep working: consumers ask the broker
 * how many a topic has (bus_partition_count). */
static const struct {
  const char *base;
  int partitions;
  const char *cleanup;
  enum barge_ev_type type;
} topics[TOPIC__COUNT] = {
    [TOPIC_REQUESTS] = {"requests", 1, "delete", BARGE_EV_JOB_REQUEST},
    [TOPIC_CONFIG] = {"config", 1, "compact", BARGE_EV_CONFIG_RECORD},
    [TOPIC_JOB_EVENTS] = {"job-events", 1, "delete", BARGE_EV_JOB_STATE_CHANGE},
    [TOPIC_EXECUTIONS] = {"executions", 1, "delete", BARGE_EV_EXECUTION_REPORT},
    [TOPIC_JOBS] = {"jobs", 1, "compact", BARGE_EV_JOB_RECORD},
    [TOPIC_PLACEMENTS] = {"placements", 1, "delete", BARGE_EV_AGENT_COMMAND},
    [TOPIC_CAPACITY] = {"capacity", 1, "compact", BARGE_EV_CAPACITY_DEMAND},
    [TOPIC_INSTANCES] = {"instances", 1, "compact,delete", BARGE_EV_INSTANCE_EVENT},
    [TOPIC_SCALING] = {"scaling", 1, "delete", BARGE_EV_SCALING_DECISION},
    [TOPIC_USAGE] = {"usage", 1, "compact", BARGE_EV_USAGE_RECORD},
    [TOPIC_DEAD_LETTER] = {"dead-letter", 1, "delete", BARGE_EV_DEAD_LETTER},
    [TOPIC_JOB_WAITS] = {"job-waits", 1, "delete", BARGE_EV_JOB_WAIT},
};

const char *bus_topic_base(enum bus_topic t) { return topics[t].base; }
int bus_topic_partitions(enum bus_topic t) { return topics[t].partitions; }
const char *bus_topic_cleanup(enum bus_topic t) { return topics[t].cleanup; }
enum barge_ev_type bus_topic_type(enum bus_topic t) { return topics[t].type; }

static const char *prefix_of(const struct bus_conf *conf) {
  return conf && conf->prefix ? conf->prefix : "barge.";
}

void bus_topic_name(const struct bus_conf *conf, enum bus_topic t, char *out, size_t outlen) {
  snprintf(out, outlen, "%s%s", prefix_of(conf), topics[t].base);
}

int bus_topic_by_name(const struct bus_conf *conf, const char *name) {
  const char *pre = prefix_of(conf);
  size_t pl = strlen(pre);
  for (int i = 0; i < TOPIC__COUNT; i++) {
    if (!strcmp(name, topics[i].base)) return i;
    if (!strncmp(name, pre, pl) && !strcmp(name + pl, topics[i].base)) return i;
  }
  return -1;
}

json_t *bus_header(const char *source, const char *request_id, int64_t at_ms) {
  char id[37];
  uuid_v4(id);
  /* built member by member: json_pack parses its format anew for every event */
  json_t *h = json_object();
  json_object_set_new_nocheck(h, "event_id", json_stringn_nocheck(id, 36));
  json_object_set_new_nocheck(h, "event_time", json_integer((json_int_t)at_ms));
  json_object_set_new_nocheck(h, "source", json_string(source ? source : "barge"));
  json_object_set_new_nocheck(h, "request_id", json_string(request_id ? request_id : ""));
  return h;
}

/* librdkafka's log lines, through Barge's log. A broker that cannot be reached is said at debug
 * level: in a cluster one broker down is survived (the others serve, docs/operations.md "A
 * cluster"), and a command would otherwise print a line per retry to it; when no broker answers,
 * the caller says so (bus_probe, a timed-out flush or transaction), and librdkafka's "all brokers
 * are down" stays a warning. A fatal error too is said by the caller, once. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *line) {
  (void)rk;
  enum log_level lvl = level <= 3 ? LOG_ERROR : level == 4 ? LOG_WARN : level <= 6 ? LOG_INFO : LOG_DEBUG;
  if (!strcmp(fac, "FAIL") || strstr(line, "Connection refused") || strstr(line, "Disconnected") ||
      (strstr(line, "Connect to") && strstr(line, "failed")))
    lvl = LOG_DEBUG;
  if (strstr(line, "brokers are down")) lvl = LOG_WARN;
  /* Barge reports a fatal error itself (delivery reports and transactions fail with its reason) */
  if (strstr(line, "Fatal error")) lvl = LOG_DEBUG;
  log_msg(lvl, "kafka %s: %s", fac, line);
}

/* Applies brokers, client id and the extra properties. */
static rd_kafka_conf_t *make_conf(const struct bus_conf *conf, char *err, size_t errlen) {
  rd_kafka_conf_t *kc = rd_kafka_conf_new();
  char errstr[512];
  if (rd_kafka_conf_set(kc, "bootstrap.servers", conf->brokers, errstr, sizeof errstr) ||
      rd_kafka_conf_set(kc, "client.id", conf->client_id ? conf->client_id : "barge", errstr,
                        sizeof errstr) ||
      rd_kafka_conf_set(kc, "log_level", "3", errstr, sizeof errstr)) {
    snprintf(err, errlen, "kafka config: %s", errstr);
    rd_kafka_conf_destroy(kc);
    return NULL;
  }
  rd_kafka_conf_set_log_cb(kc, log_cb);
  if (conf->kafka_props && *conf->kafka_props) {
    char *props = xstrdup(conf->kafka_props), *save = NULL;
    for (char *kv = strtok_r(props, ",\n", &save); kv; kv = strtok_r(NULL, ",\n", &save)) {
      char *eq = strchr(kv, '=');
      if (!eq) { /* a blank item is nothing; any other was meant as a setting and is not one */
        if (kv[strspn(kv, " \t\r")] == 0) continue;
        snprintf(err, errlen, "kafka property '%s': not NAME=VALUE", kv);
        free(props);
        rd_kafka_conf_destroy(kc);
        return NULL;
      }
      *eq = 0;
      if (rd_kafka_conf_set(kc, kv, eq + 1, errstr, sizeof errstr)) {
        snprintf(err, errlen, "kafka property %s: %s", kv, errstr);
        free(props);
        rd_kafka_conf_destroy(kc);
        return NULL;
      }
    }
    free(props);
  }
  return kc;
}

int bus_conf_has_prop(const struct bus_conf *conf, const char *k) {
  size_t n = strlen(k);
  for (const char *p = conf->kafka_props; p && *p; p += strcspn(p, ",\n"), p += *p != 0) {
    while (*p == ' ') p++;
    if (!strncmp(p, k, n) && p[n] == '=') return 1;
  }
  return 0;
}

static int set(rd_kafka_conf_t *kc, const char *k, const char *v, char *err, size_t errlen) {
  char errstr[512];
  if (rd_kafka_conf_set(kc, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    snprintf(err, errlen, "kafka config %s: %s", k, errstr);
    return -1;
  }
  return 0;
}

/* rd_kafka_new; NULL with "kafka producer: <reason>" (or consumer) in err. */
static rd_kafka_t *kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *kc, char *err,
                             size_t errlen) {
  char errstr[512];
  rd_kafka_t *rk = rd_kafka_new(type, kc, errstr, sizeof errstr);
  if (!rk) { /* rd_kafka_new takes kc only when it succeeds */
    snprintf(err, errlen, "kafka %s: %s", type == RD_KAFKA_PRODUCER ? "producer" : "consumer",
             errstr);
    rd_kafka_conf_destroy(kc);
  }
  return rk;
}

/* ---------------- refusals ---------------- */

/* A broker that refuses the login (SASL) or whose certificate is not trusted (TLS) answers
 * nothing, and librdkafka retries forever: its error callback says why, and a client that
 * should fail fast stops at the first such report (docs/operations.md, "TLS and SASL"). */
struct refusal {
  char why[800];  /* the refusal, once one came */
  char last[512]; /* the last error of any kind (for a timeout's message) */
};

/* The length of reason's first line without librdkafka's "(after Nms in state X)" ending. */
static int reason_len(const char *reason) {
  int len = (int)strcspn(reason, "\n");
  const char *after = strstr(reason, " (after ");
  return after && after - reason < len ? (int)(after - reason) : len;
}

static void refusal_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque) {
  (void)rk;
  struct refusal *r = opaque;
  snprintf(r->last, sizeof r->last, "%.*s", reason_len(reason), reason);
  if (r->why[0]) return;
  /* only what retrying cannot mend: a broker dying mid-handshake (one of a cluster) also says
   * "SSL handshake failed" or "Disconnected", and must not stop a client the others serve */
  const char *what = NULL, *hint = NULL;
  if (e == RD_KAFKA_RESP_ERR__AUTHENTICATION && strstr(reason, "Authentication failed")) {
    what = "the broker refused the login";
    hint = "check sasl.username, sasl.password and sasl.mechanisms in --kafka-props";
    /* librdkafka before 2.6.1 sends a SCRAM proof Kafka 4 rejects (librdkafka#4895) */
    if (strstr(reason, "SCRAM") && rd_kafka_version() < 0x020601ff)
      hint = "check sasl.username and sasl.password; and this librdkafka, older than 2.6.1, cannot log in "
             "to Kafka 4 with SCRAM: use sasl.mechanisms=PLAIN (over SASL_SSL)";
  } else if (strstr(reason, "certificate verify failed")) {
    what = "TLS with the broker failed";
    hint = "check ssl.ca.location in --kafka-props";
  }
  if (!what) return;
  snprintf(r->why, sizeof r->why, "%s: %s (%s)", what, r->last, hint);
}

/* Whether the caller asked a wait to end (bus_conf.stop, may be NULL): every wait of a service's
 * start-up checks it after a try that failed, so that SIGTERM ends a start-up that waits for a
 * broker, a leader or a coordinator within a try (a few seconds), not when the wait gives up. A
 * call that succeeds at once is never cut short: a running service's last batch, handled after
 * the signal, still reads what it asks for. */
static int stop_asked(int (*stop)(void)) { return stop && stop(); }

/* Reads cluster metadata until it answers, timeout_ms passes, stop (may be NULL) says stop, or
 * the broker refuses (refusal set up on rk's configuration, served here). 0 with *md; -1 (timed
 * out or stopped) or -2 (refused) with why in err. */
static int metadata_or_refusal(rd_kafka_t *rk, struct refusal *r, int timeout_ms, int (*stop)(void),
                               const struct rd_kafka_metadata **md, char *err, size_t errlen) {
  int64_t deadline = mono_ms() + timeout_ms;
  for (;;) {
    int64_t left = deadline - mono_ms();
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, md, left < 250 ? (int)(left > 0 ? left : 1) : 250);
    if (!e) return 0;
    rd_kafka_poll(rk, 0); /* serves refusal_cb */
    if (r->why[0]) {
      snprintf(err, errlen, "%s", r->why);
      return -2;
    }
    if (stop_asked(stop)) {
      snprintf(err, errlen, "stopped while waiting for a broker");
      return -1;
    }
    if (mono_ms() >= deadline) {
      snprintf(err, errlen, "%s%s", r->last[0] ? r->last : rd_kafka_err2str(e),
               strstr(r->last, "security.protocol") ? " (check security.protocol in --kafka-props)" : "");
      return -1;
    }
  }
}

/* ---------------- admin ---------------- */

/* One NewTopic of the table under conf's prefix, with rf replicas (and, replicated,
 * min.insync.replicas min_isr). NULL with err set on failure. */
static rd_kafka_NewTopic_t *new_topic(const struct bus_conf *conf, int i, int rf, int min_isr,
                                      char *err, size_t errlen) {
  char name[256], errstr[512], isr[16];
  bus_topic_name(conf, (enum bus_topic)i, name, sizeof name);
  rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, topics[i].partitions, rf, errstr, sizeof errstr);
  if (!nt) {
    snprintf(err, errlen, "topic %s: %s", name, errstr);
    return NULL;
  }
  snprintf(isr, sizeof isr, "%d", min_isr);
  if (rd_kafka_NewTopic_set_config(nt, "cleanup.policy", topics[i].cleanup) ||
      (rf > 1 && rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", isr))) {
    snprintf(err, errlen, "topic %s: cannot set its configuration", name);
    rd_kafka_NewTopic_destroy(nt);
    return NULL;
  }
  return nt;
}

int bus_ensure_topics(const struct bus_conf *conf, char *err, size_t errlen) {
  int rc = -1;
  rd_kafka_conf_t *kc = make_conf(conf, err, errlen);
  if (!kc) return -1;
  char errstr[512];
  /* quiet: the error callback has librdkafka's reasons, and the error message says them */
  struct refusal refused = {{0}, {0}};
  rd_kafka_conf_set_error_cb(kc, refusal_cb);
  rd_kafka_conf_set_opaque(kc, &refused);
  if (set(kc, "log_level", "0", err, errlen)) {
    rd_kafka_conf_destroy(kc);
    return -1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof errstr);
  if (!rk) {
    snprintf(err, errlen, "kafka: %s", errstr);
    rd_kafka_conf_destroy(kc); /* taken by rd_kafka_new only when it succeeds */
    return -1;
  }
  /* Replication follows the cluster (docs/operations.md, "A cluster"): min(3, brokers)
   * replicas, of which 2 must be in sync from 3 on; one broker: 1 replica, as before. */
  const struct rd_kafka_metadata *md = NULL;
  char why[1024];
  if (metadata_or_refusal(rk, &refused, 60000, conf->stop, &md, why, sizeof why)) {
    if (refused.why[0]) snprintf(err, errlen, "creating topics at %s: %s", conf->brokers, why);
    else snprintf(err, errlen, "creating topics timed out: is Kafka reachable at %s? (%s)", conf->brokers, why);
    rd_kafka_destroy(rk);
    return -1;
  }
  int rf = md->broker_cnt < 3 ? (md->broker_cnt > 0 ? md->broker_cnt : 1) : 3;
  /* only the topics the metadata does not show: those that exist need no request, and a principal
   * that may not create topics (docs/operations.md, "Per-service principals") starts as well */
  char seen[TOPIC__COUNT] = {0};
  for (int k = 0; k < md->topic_cnt; k++) {
    int t = md->topics[k].err ? -1 : bus_topic_by_name(conf, md->topics[k].topic);
    char full[256];
    if (t >= 0) bus_topic_name(conf, (enum bus_topic)t, full, sizeof full);
    if (t >= 0 && !strcmp(full, md->topics[k].topic)) seen[t] = 1;
  }
  rd_kafka_metadata_destroy(md);
  rd_kafka_NewTopic_t *nts[TOPIC__COUNT];
  int n = 0;
  for (int i = 0; i < TOPIC__COUNT; i++)
    if (!seen[i] && !(nts[n++] = new_topic(conf, i, rf, rf >= 3 ? 2 : 1, err, errlen))) {
      n--;
      goto out;
    }
  if (!n) {
    rc = 0;
    goto out;
  }
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, errstr, sizeof errstr);
  rd_kafka_AdminOptions_set_request_timeout(opts, 30000, errstr, sizeof errstr);
  rd_kafka_CreateTopics(rk, nts, (size_t)n, opts, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
  if (!ev) {
    snprintf(err, errlen, "creating topics timed out: is Kafka reachable at %s?", conf->brokers);
  } else if (rd_kafka_event_error(ev)) {
    snprintf(err, errlen, "creating topics: %s", rd_kafka_event_error_string(ev));
  } else {
    size_t cnt = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    rc = 0;
    for (size_t i = 0; i < cnt; i++) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
      /* a topic this principal may not see (no ACL) shows as missing, and creating it is refused
       * whether it exists or not: not this service's topic; one it needs says so when used */
      if (e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
        log_debug("topic %s: not visible to this principal, not created", rd_kafka_topic_result_name(res[i]));
        continue;
      }
      if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        snprintf(err, errlen, "creating topic %s: %s", rd_kafka_topic_result_name(res[i]),
                 rd_kafka_topic_result_error_string(res[i]));
        rc = -1;
        break;
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(q);
out:
  for (int i = 0; i < n; i++) rd_kafka_NewTopic_destroy(nts[i]);
  rd_kafka_destroy(rk);
  return rc;
}

/* ---------------- producer ---------------- */


/* Why a message was not delivered, in one line: a refusal by the ACLs names the principal's
 * missing right (docs/operations.md, "Per-service principals"). */
static void delivery_reason(rd_kafka_t *rk, const rd_kafka_message_t *m, char *out, size_t n) {
  const char *topic = rd_kafka_topic_name(m->rkt);
  char fatal[256] = "";
  /* after a fatal error (say, no right to an idempotent producer id) the messages are purged */
  rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk, fatal, sizeof fatal);
  if (!e) e = m->err;
  const char *why = fatal[0] ? fatal : rd_kafka_err2str(m->err);
  if (e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
    snprintf(out, n, "delivery to %s refused: the Kafka principal of --kafka-props may not write %s (%s; see its ACLs)",
             topic, topic, why);
  else if (e == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED ||
           e == RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    snprintf(out, n, "delivery to %s refused: the Kafka principal of --kafka-props may not produce (%s; see its ACLs)",
             topic, why);
  else
    snprintf(out, n, "delivery to %s failed: %s", topic, why);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  struct bus_producer *p = opaque;
  if (m->_private && p->on_delivery) {
    struct bus_delivery d = {.ok = !m->err, .partition = m->partition, .offset = m->offset};
    if (m->err) delivery_reason(rk, m, d.reason, sizeof d.reason);
    d.uncertain = m->err && rd_kafka_message_status(m) != RD_KAFKA_MSG_STATUS_NOT_PERSISTED;
    p->on_delivery(m->_private, &d);
    return;
  }
  if (m->err) {
    if (rd_kafka_message_status(m) != RD_KAFKA_MSG_STATUS_NOT_PERSISTED) p->uncertain++;
    if (!p->failures++) delivery_reason(rk, m, p->first_failure, sizeof p->first_failure);
  }
}

struct bus_producer *bus_producer_new(const struct bus_conf *conf, const char *transactional_id,
                                      char *err, size_t errlen) {
  /* with a schema registry configured, events use the Confluent framing (registry.h) */
  if (registry_attach(conf, 1, err, errlen)) return NULL;
  rd_kafka_conf_t *kc = make_conf(conf, err, errlen);
  if (!kc) return NULL;
  struct bus_producer *p = xcalloc(1, sizeof *p);
  p->conf = *conf;
  buf_init(&p->enc);
  buf_init(&p->held);
  for (int i = 0; i < TOPIC__COUNT; i++)
    bus_topic_name(conf, (enum bus_topic)i, p->names[i], sizeof p->names[i]);
  if (set(kc, "enable.idempotence", "true", err, errlen) ||
      set(kc, "acks", "all", err, errlen) ||
      (!bus_conf_has_prop(conf, "linger.ms") && set(kc, "linger.ms", "5", err, errlen)) ||
      (!bus_conf_has_prop(conf, "compression.type") && set(kc, "compression.type", "lz4", err, errlen)) ||
      (!bus_conf_has_prop(conf, "message.timeout.ms") && set(kc, "message.timeout.ms", "60000", err, errlen)) ||
      (transactional_id && set(kc, "transactional.id", transactional_id, err, errlen)) ||
      (transactional_id && set(kc, "transaction.timeout.ms", "60000", err, errlen)) ||
      /* a transaction's AddOffsetsToTxn is refused while the previous one's markers are being
       * written (CONCURRENT_TRANSACTIONS, a few ms) and retried after retry.backoff.ms: 100 ms
       * by default, which stalled many commits by 100 ms (docs/architecture.md, "Throughput") */
      (transactional_id && !bus_conf_has_prop(conf, "retry.backoff.ms") && set(kc, "retry.backoff.ms", "5", err, errlen))) {
    rd_kafka_conf_destroy(kc);
    free(p);
    return NULL;
  }
  rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
  rd_kafka_conf_set_opaque(kc, p);
  p->rk = kafka_new(RD_KAFKA_PRODUCER, kc, err, errlen);
  if (!p->rk) {
    free(p);
    return NULL;
  }
  if (transactional_id) {
    p->transactional = 1;
    /* in slices: the call is resumable after a retriable timeout, and stop is asked between them */
    rd_kafka_error_t *e = NULL;
    for (int64_t deadline = mono_ms() + 60000;;) {
      int64_t left = deadline - mono_ms();
      e = rd_kafka_init_transactions(p->rk, left < 1000 ? (int)(left > 0 ? left : 1) : 1000);
      if (!e || !rd_kafka_error_is_retriable(e) || rd_kafka_error_code(e) != RD_KAFKA_RESP_ERR__TIMED_OUT ||
          mono_ms() >= deadline)
        break;
      if (stop_asked(conf->stop)) {
        rd_kafka_error_destroy(e);
        snprintf(err, errlen, "init transactions (%s): stopped while waiting for the transaction coordinator",
                 transactional_id);
        bus_producer_free(p);
        return NULL;
      }
      rd_kafka_error_destroy(e);
    }
    if (e) {
      snprintf(err, errlen, "init transactions (%s): %s", transactional_id,
               rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      bus_producer_free(p);
      return NULL;
    }
  }
  return p;
}

void bus_producer_free(struct bus_producer *p) {
  if (!p) return;
  if (p->rk) {
    rd_kafka_flush(p->rk, 10000);
    rd_kafka_destroy(p->rk);
  }
  buf_release(&p->enc);
  buf_release(&p->held);
  free(p);
}

void bus_producer_purge(struct bus_producer *p) {
  if (p && p->rk) {
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(p->rk, 0); /* the purged messages' delivery reports */
  }
}

int bus_produce_now(struct bus_producer *p, enum bus_topic t, const char *key, size_t keylen,
                       const void *value, size_t vlen, int32_t partition, void *opaque,
                       char *err, size_t errlen) {
  for (int tries = 0;; tries++) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(p->names[t]), RD_KAFKA_V_KEY(key, key ? keylen : 0),
        RD_KAFKA_V_VALUE((void *)value, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_PARTITION(partition >= 0 ? partition : RD_KAFKA_PARTITION_UA),
        RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (!e) return 0;
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && tries < 600) {
      rd_kafka_poll(p->rk, 100); /* backpressure: wait for deliveries */
      continue;
    }
    if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
      snprintf(err, errlen, "produce to %s: the record is %zu bytes, more than Kafka takes (message.max.bytes)",
               p->names[t], (key ? keylen : 0) + vlen);
      return BUS_TOO_LARGE;
    }
    snprintf(err, errlen, "produce to %s: %s", p->names[t], rd_kafka_err2str(e));
    return -1;
  }
}

static int produce_opaque(struct bus_producer *p, enum bus_topic t, const char *key, size_t keylen,
                          const void *value, size_t vlen, int32_t partition, void *opaque,
                          char *err, size_t errlen) {
  if (p->transactional && p->in_txn) p->txn_bytes += (key ? keylen : 0) + (value ? vlen : 0);
  if (p->transactional && p->in_txn && !opaque)
    return bus_held_add(p, t, key, keylen, value, vlen, partition, err, errlen);
  return bus_produce_now(p, t, key, keylen, value, vlen, partition, opaque, err, errlen);
}

int bus_produce_raw(struct bus_producer *p, enum bus_topic t, const char *key, size_t keylen,
                    const void *value, size_t vlen, int32_t partition, char *err,
                    size_t errlen) {
  return produce_opaque(p, t, key, keylen, value, vlen, partition, NULL, err, errlen);
}

void bus_producer_on_delivery(struct bus_producer *p, bus_delivered_fn fn) { p->on_delivery = fn; }

int bus_produce_async(struct bus_producer *p, enum bus_topic t, const char *key, const json_t *v,
                      void *ctx, char *err, size_t errlen) {
  size_t kl = key ? strlen(key) : 0;
  if (!v) return produce_opaque(p, t, key, kl, NULL, 0, -1, ctx, err, errlen);
  struct buf enc; /* per call: threads share the producer */
  buf_init(&enc);
  char e2[512];
  int rc;
  if (codec_encode_ids(ids_of(&p->conf), topics[t].type, v, &enc, e2, sizeof e2)) {
    snprintf(err, errlen, "encoding %s for %s: %s", codec_type_name(topics[t].type), p->names[t],
             e2);
    rc = -1;
  } else {
    rc = produce_opaque(p, t, key, kl, enc.data, enc.len, -1, ctx, err, errlen);
  }
  buf_release(&enc);
  return rc;
}

int bus_produce(struct bus_producer *p, enum bus_topic t, const char *key, const json_t *v,
                char *err, size_t errlen) {
  size_t kl = key ? strlen(key) : 0;
  if (!v) return bus_produce_raw(p, t, key, kl, NULL, 0, -1, err, errlen);
  buf_reset(&p->enc);
  char e2[512];
  if (codec_encode_ids(ids_of(&p->conf), topics[t].type, v, &p->enc, e2, sizeof e2)) {
    snprintf(err, errlen, "encoding %s for %s: %s", codec_type_name(topics[t].type), p->names[t],
             e2);
    return -1;
  }
  return bus_produce_raw(p, t, key, kl, p->enc.data, p->enc.len, -1, err, errlen);
}

int bus_flush(struct bus_producer *p, int timeout_ms, char *err, size_t errlen) {
  if (p->nheld && bus_held_release(p, err, errlen)) return -1;
  rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);
  if (e) {
    snprintf(err, errlen, "flush: %s (%d messages not delivered)", rd_kafka_err2str(e),
             rd_kafka_outq_len(p->rk));
    return BUS_OUTCOME_UNKNOWN; /* still queued or in flight: they may yet be written */
  }
  if (p->failures) {
    int unknown = p->uncertain > 0;
    snprintf(err, errlen, "%s", p->first_failure);
    p->failures = p->uncertain = 0;
    return unknown ? BUS_OUTCOME_UNKNOWN : -1;
  }
  return 0;
}

int bus_conf_check(const struct bus_conf *conf, char *err, size_t errlen) {
  struct bus_conf offline = *conf;
  offline.brokers = ""; /* a client with no bootstrap server connects to nothing */
  rd_kafka_conf_t *kc = make_conf(&offline, err, errlen);
  if (!kc) return -1;
  if (set(kc, "log_level", "0", err, errlen)) { /* the reason is in err: no log lines besides */
    rd_kafka_conf_destroy(kc);
    return -1;
  }
  rd_kafka_t *rk = kafka_new(RD_KAFKA_PRODUCER, kc, err, errlen);
  if (!rk) return -1;
  rd_kafka_destroy(rk);
  return 0;
}

int bus_probe(const struct bus_conf *conf, int timeout_ms, char *err, size_t errlen) {
  rd_kafka_conf_t *kc = make_conf(conf, err, errlen);
  if (!kc || set(kc, "log_level", "0", err, errlen)) {
    if (kc) rd_kafka_conf_destroy(kc);
    return -1;
  }
  struct refusal refused = {{0}, {0}};
  rd_kafka_conf_set_error_cb(kc, refusal_cb);
  rd_kafka_conf_set_opaque(kc, &refused);
  rd_kafka_t *rk = kafka_new(RD_KAFKA_PRODUCER, kc, err, errlen);
  if (!rk) return -1;
  const struct rd_kafka_metadata *md = NULL;
  int rc = metadata_or_refusal(rk, &refused, timeout_ms, conf->stop, &md, err, errlen);
  if (!rc) rd_kafka_metadata_destroy(md);
  rd_kafka_destroy(rk);
  return rc;
}

void bus_producer_poll(struct bus_producer *p) { rd_kafka_poll(p->rk, 0); }

void bus_producer_serve(struct bus_producer *p, int timeout_ms) { rd_kafka_poll(p->rk, timeout_ms); }

/* ---------------- consumer ---------------- */


struct bus_consumer *bus_consumer_new(const struct bus_conf *conf, const char *group_id,
                                      int read_committed, char *err, size_t errlen) {
  return bus_consumer_new_wait(conf, group_id, read_committed, BUS_FETCH_WAIT_MS, err, errlen);
}

/* A follow consumer's error callback (bus_consumer_new_follow), run by bus_poll: the reports on
 * its brokers are kept for bus_consumer_reachable, whose caller says them in Barge's words; any
 * other error is logged as librdkafka logs it without a callback (log_cb, facility ERROR). */
static void follow_error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque) {
  struct bus_consumer *c = opaque;
  if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    c->all_down = 1;
    return;
  }
  if (e == RD_KAFKA_RESP_ERR__TRANSPORT || e == RD_KAFKA_RESP_ERR__RESOLVE || e == RD_KAFKA_RESP_ERR__TIMED_OUT ||
      e == RD_KAFKA_RESP_ERR__SSL || e == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
    /* "HOST:PORT/ID: Connect to ipv4#HOST:PORT failed: Connection refused (after 0ms in state
     * CONNECT)", or "GroupCoordinator: HOST:PORT: ...": without librdkafka's names of the broker
     * (the words before ": " that hold no space) and its "(after ...)" */
    const char *r = reason, *sep;
    while ((sep = strstr(r, ": ")) && sep > r && !memchr(r, ' ', (size_t)(sep - r))) r = sep + 2;
    snprintf(c->broker_err, sizeof c->broker_err, "%.*s", reason_len(r), r);
    return;
  }
  log_cb(rk, 3, "ERROR", reason);
}

static struct bus_consumer *consumer_new(const struct bus_conf *conf, const char *group_id, int read_committed,
                                         int fetch_wait_ms, int follow, char *err, size_t errlen);

struct bus_consumer *bus_consumer_new_follow(const struct bus_conf *conf, char *err, size_t errlen) {
  return consumer_new(conf, NULL, 1, BUS_FETCH_WAIT_MS, 1, err, errlen);
}

struct bus_consumer *bus_consumer_new_wait(const struct bus_conf *conf, const char *group_id,
                                           int read_committed, int fetch_wait_ms, char *err,
                                           size_t errlen) {
  return consumer_new(conf, group_id, read_committed, fetch_wait_ms, 0, err, errlen);
}

static struct bus_consumer *consumer_new(const struct bus_conf *conf, const char *group_id, int read_committed,
                                         int fetch_wait_ms, int follow, char *err, size_t errlen) {
  char wait[16], min_bytes[16];
  int lazy = fetch_wait_ms == BUS_FETCH_LAZY, table = fetch_wait_ms == BUS_FETCH_TABLE;
  snprintf(wait, sizeof wait, "%d", lazy ? BUS_FETCH_WAIT_LONG_MS : table ? BUS_FETCH_WAIT_MS : fetch_wait_ms);
  snprintf(min_bytes, sizeof min_bytes, "%d", lazy ? BUS_FETCH_LAZY_BYTES : 1);
  if (registry_attach(conf, 0, err, errlen)) return NULL; /* resolves Confluent ids */
  rd_kafka_conf_t *kc = make_conf(conf, err, errlen);
  if (!kc) return NULL;
  char anon[64];
  if (!group_id) {
    /* librdkafka's consumer wants a group id; an unused random one commits nothing. */
    char hex[17];
    random_hex(hex, 16);
    snprintf(anon, sizeof anon, "barge-anon-%s", hex);
  }
  if (set(kc, "group.id", group_id ? group_id : anon, err, errlen) ||
      set(kc, "enable.auto.commit", "false", err, errlen) ||
      set(kc, "enable.auto.offset.store", "false", err, errlen) ||
      set(kc, "enable.partition.eof", "true", err, errlen) ||
      set(kc, "auto.offset.reset", "earliest", err, errlen) ||
      set(kc, "fetch.wait.max.ms", wait, err, errlen) ||
      set(kc, "fetch.min.bytes", min_bytes, err, errlen) ||
      set(kc, "isolation.level", read_committed ? "read_committed" : "read_uncommitted", err,
          errlen) ||
      (table && (set(kc, "max.partition.fetch.bytes", BUS_FETCH_TABLE_PART_BYTES, err, errlen) ||
                 set(kc, "fetch.max.bytes", "67108864", err, errlen)))) {
    rd_kafka_conf_destroy(kc);
    return NULL;
  }
  struct bus_consumer *c = xcalloc(1, sizeof *c);
  c->conf = *conf;
  c->has_group = group_id != NULL;
  if (follow) {
    rd_kafka_conf_set_error_cb(kc, follow_error_cb);
    rd_kafka_conf_set_opaque(kc, c);
  }
  for (int i = 0; i < TOPIC__COUNT; i++)
    bus_topic_name(conf, (enum bus_topic)i, c->names[i], sizeof c->names[i]);
  c->rk = kafka_new(RD_KAFKA_CONSUMER, kc, err, errlen);
  if (!c->rk) {
    free(c);
    return NULL;
  }
  rd_kafka_poll_set_consumer(c->rk);
  c->marks = rd_kafka_topic_partition_list_new(16);
  c->wake[0] = c->wake[1] = -1;
  return c;
}

int bus_consumer_reachable(struct bus_consumer *c, int timeout_ms, char *err, size_t errlen) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e = rd_kafka_metadata(c->rk, 0, NULL, &md, timeout_ms);
  c->all_down = 0;
  if (!e) {
    rd_kafka_metadata_destroy(md);
    c->broker_err[0] = 0;
    return 0;
  }
  /* rd_kafka_metadata sends its request only once a broker is connected (up, its handshake
   * answered): __TIMED_OUT says one was and has not answered yet, __TRANSPORT that none was
   * within timeout_ms, or the connection failed. Both were "unreachable", and a broker slower
   * than the wait was said to be gone. */
  if (e == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    snprintf(err, errlen, "connected, but no answer within %d ms", timeout_ms);
    return 1;
  }
  if (c->broker_err[0])
    snprintf(err, errlen, "%s", c->broker_err);
  else if (e == RD_KAFKA_RESP_ERR__TRANSPORT)
    snprintf(err, errlen, "no connection to a broker within %d ms", timeout_ms);
  else
    snprintf(err, errlen, "%s", rd_kafka_err2str(e));
  return -1;
}

int bus_consumer_all_down(const struct bus_consumer *c) { return c->all_down; }

void bus_consumer_free(struct bus_consumer *c) {
  if (!c) return;
  if (c->q) {
    rd_kafka_queue_io_event_enable(c->q, -1, NULL, 0);
    rd_kafka_queue_destroy(c->q);
  }
  rd_kafka_consumer_close(c->rk);
  rd_kafka_destroy(c->rk);
  for (int i = 0; i < 2; i++)
    if (c->wake[i] >= 0) close(c->wake[i]);
  rd_kafka_topic_partition_list_destroy(c->marks);
  for (int t = 0; t < TOPIC__COUNT; t++) free(c->eof[t]);
  free(c);
}

int bus_subscribe(struct bus_consumer *c, const enum bus_topic *ts, int n, char *err,
                  size_t errlen) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
  for (int i = 0; i < n; i++)
    rd_kafka_topic_partition_list_add(l, c->names[ts[i]], RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (e) {
    snprintf(err, errlen, "subscribe: %s", rd_kafka_err2str(e));
    return -1;
  }
  return 0;
}

/* One offset of a partition by ListOffsets: which is RD_KAFKA_OFFSET_BEGINNING (the low
 * watermark) or RD_KAFKA_OFFSET_END (the high one; for a read_committed client, the last stable
 * offset). rd_kafka_offsets_for_times, not rd_kafka_query_watermark_offsets: librdkafka 2.0's
 * watermark query waits for ever for an answer from the leader it asked, which never comes when
 * that broker was killed; this one gives up at its timeout. */
static rd_kafka_resp_err_t list_offset(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t which,
                                       int64_t *out, int timeout_ms) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, partition)->offset = which;
  rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, timeout_ms);
  if (!e) e = l->elems[0].err;
  if (!e && l->elems[0].offset < 0) e = RD_KAFKA_RESP_ERR__FAIL; /* not answered */
  if (!e) *out = l->elems[0].offset;
  rd_kafka_topic_partition_list_destroy(l);
  return e;
}

/* A partition's low and high watermarks, asked of its leader, retried for up to total_ms. The
 * leader asked is the one librdkafka's metadata cache names, and a broker killed a moment ago stays
 * there until the next periodic refresh (minutes): between tries the topic's metadata is read again
 * (any live broker answers, and the answer updates the cache), so the query follows the new leader
 * as soon as the cluster elected one (docs/operations.md, "A cluster"). */
static rd_kafka_resp_err_t watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *lo,
                                      int64_t *hi, int total_ms, int (*stop)(void)) {
  int64_t deadline = mono_ms() + total_ms;
  for (;;) {
    int64_t left = deadline - mono_ms();
    int try_ms = left > 3000 ? 3000 : left > 200 ? (int)left : 200;
    rd_kafka_resp_err_t e = list_offset(rk, topic, partition, RD_KAFKA_OFFSET_BEGINNING, lo, try_ms);
    if (!e) e = list_offset(rk, topic, partition, RD_KAFKA_OFFSET_END, hi, try_ms);
    if (!e || mono_ms() >= deadline) return e;
    if (stop_asked(stop)) return RD_KAFKA_RESP_ERR__INTR;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rkt && !rd_kafka_metadata(rk, 0, rkt, &md, try_ms)) rd_kafka_metadata_destroy(md);
    if (rkt) rd_kafka_topic_destroy(rkt);
    if (stop_asked(stop)) return RD_KAFKA_RESP_ERR__INTR;
    usleep(100000);
  }
}

/* rd_kafka_metadata of one topic, waiting up to timeout_ms for its answer. With a stop hook, a
 * try that found no broker connected or got no answer asks it whether to end, after 1 s and after
 * 3 s, before the whole timeout_ms is waited once more (__INTR when it said stop): a broker that
 * went away is known within seconds (`barge logs --follow` reading a job's record says so,
 * docs/operations.md "Following through a broker outage"; it waited 10 s in silence, then
 * failed), and a slow one still answers (the answer to a try that timed out is lost). */
static rd_kafka_resp_err_t topic_metadata(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const struct rd_kafka_metadata **md,
                                          int timeout_ms, int (*stop)(void)) {
  static const int tries_ms[] = {1000, 2000};
  for (size_t i = 0; stop && i < sizeof tries_ms / sizeof tries_ms[0]; i++) {
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, md, tries_ms[i]);
    if (e != RD_KAFKA_RESP_ERR__TRANSPORT && e != RD_KAFKA_RESP_ERR__TIMED_OUT) return e;
    if (stop_asked(stop)) return RD_KAFKA_RESP_ERR__INTR;
  }
  return rd_kafka_metadata(rk, 0, rkt, md, timeout_ms);
}

/* Partition count of a topic from broker metadata; -1 on error. */
int bus_partition_count(struct bus_consumer *c, enum bus_topic t, char *err, size_t errlen) {
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, c->names[t], NULL);
  const struct rd_kafka_metadata *md = NULL;
  int n = -1;
  for (int tries = 0; tries < 20; tries++) {
    if (tries && stop_asked(c->conf.stop)) {
      snprintf(err, errlen, "stopped while waiting for the metadata of %s", c->names[t]);
      break;
    }
    rd_kafka_resp_err_t e = topic_metadata(c->rk, rkt, &md, 10000, c->conf.stop);
    if (e == RD_KAFKA_RESP_ERR__INTR) {
      snprintf(err, errlen, "stopped while waiting for the metadata of %s", c->names[t]);
      break;
    }
    if (e) {
      snprintf(err, errlen, "metadata for %s: %s", c->names[t], rd_kafka_err2str(e));
      break;
    }
    if (md->topic_cnt == 1 && !md->topics[0].err) {
      n = md->topics[0].partition_cnt;
      rd_kafka_metadata_destroy(md);
      break;
    }
    if (md->topic_cnt && md->topics[0].err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
      snprintf(err, errlen, "the Kafka principal of --kafka-props may not read %s (%s; see its ACLs)", c->names[t],
               rd_kafka_err2str(md->topics[0].err));
      rd_kafka_metadata_destroy(md);
      break;
    }
    snprintf(err, errlen, "topic %s: %s (run `barge up` or `barge init` to create topics)",
             c->names[t], md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "missing");
    rd_kafka_metadata_destroy(md);
    usleep(250000);
  }
  rd_kafka_topic_destroy(rkt);
  return n;
}

/* The group's committed offsets. A group coordinator that is still loading or moving answers
 * with a retriable error for a while (a fresh broker, a new group): retry for up to a minute. */
static rd_kafka_resp_err_t committed_retry(struct bus_consumer *c, rd_kafka_topic_partition_list_t *l) {
  rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int64_t deadline = mono_ms() + 60000; mono_ms() < deadline;) {
    int64_t left = deadline - mono_ms();
    e = rd_kafka_committed(c->rk, l, left < 2000 ? (int)left + 1 : 2000);
    if (e != RD_KAFKA_RESP_ERR_NOT_COORDINATOR && e != RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS &&
        e != RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE && e != RD_KAFKA_RESP_ERR__TIMED_OUT &&
        e != RD_KAFKA_RESP_ERR__TRANSPORT)
      return e;
    if (stop_asked(c->conf.stop)) return RD_KAFKA_RESP_ERR__INTR;
    usleep(500000);
  }
  return e;
}

/* bus_assign_all's rule: the committed offset, else the beginning or the end as of now. */
static int64_t start_committed_or(void *ctx, enum bus_topic t, int32_t partition, int64_t committed) {
  (void)t;
  (void)partition;
  if (committed >= 0) return committed;
  return *(const int *)ctx ? BUS_OFFSET_BEGINNING : BUS_OFFSET_END;
}

/* Positions the consumer on every partition of ts where start says. A partition whose end cannot
 * be read (a topic created a moment ago may not answer yet) is an error, or, with end_fallback,
 * positioned at the logical end. With mark_end, a partition of a group with no committed offset
 * that is positioned at its end (read as an explicit offset) is marked there (bus_mark's list), so
 * that the caller's next commit gives the group that position. */
/* The partition the producers' default partitioner (consistent_random) sends key to, of pc; -1
 * for every partition: no key, or an empty one, which that partitioner sends to a random
 * partition (and librdkafka's function for it, called without a topic, crashed on one). */
static int32_t key_partition(const char *key, int pc) {
  if (!key || !*key) return -1;
  return rd_kafka_msg_partitioner_consistent_random(NULL, key, strlen(key), pc, NULL, NULL);
}

static int assign(struct bus_consumer *c, const enum bus_topic *ts, int n, const char *key,
                  int64_t (*start)(void *ctx, enum bus_topic t, int32_t partition, int64_t committed),
                  void *ctx, int end_fallback, int mark_end, char *err, size_t errlen) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
  enum bus_topic *which = NULL;
  int rc = -1;
  for (int i = 0; i < n; i++) {
    int pc = bus_partition_count(c, ts[i], err, errlen);
    if (pc < 0) goto out;
    which = xrealloc(which, (size_t)(l->cnt + pc) * sizeof *which);
    /* with a key, only the partition the producers' default partitioner sends it to */
    int32_t only = key_partition(key, pc);
    for (int p = 0; p < pc; p++) {
      if (only >= 0 && p != only) continue;
      which[l->cnt] = ts[i];
      rd_kafka_topic_partition_list_add(l, c->names[ts[i]], p)->offset = RD_KAFKA_OFFSET_INVALID;
    }
  }
  if (c->has_group) {
    rd_kafka_resp_err_t e = committed_retry(c, l);
    if (e == RD_KAFKA_RESP_ERR__INTR) {
      snprintf(err, errlen, "stopped while reading the group's committed offsets");
      goto out;
    }
    if (e) {
      snprintf(err, errlen, "reading committed offsets: %s%s", rd_kafka_err2str(e),
               e == RD_KAFKA_RESP_ERR__TIMED_OUT
                   ? " for 60 s: the group's coordinator did not give them (still loading, or a transaction that "
                     "commits offsets for this group is open: it ends at its commit, abort or timeout); start again later"
                   : "");
      goto out;
    }
  }
  for (int i = 0; i < l->cnt; i++) {
    int64_t committed = c->has_group && l->elems[i].offset >= 0 ? l->elems[i].offset : -1;
    int64_t off = start(ctx, which[i], l->elems[i].partition, committed);
    int64_t lo = 0, hi = 0;
    if (off == BUS_OFFSET_BEGINNING) {
      off = RD_KAFKA_OFFSET_BEGINNING;
    } else if (off < 0) {
      if (!watermarks(c->rk, l->elems[i].topic, l->elems[i].partition, &lo, &hi, 10000, c->conf.stop)) {
        off = hi; /* an explicit position now, so nothing written after this call is missed */
        if (mark_end && c->has_group && committed < 0) {
          rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(c->marks, l->elems[i].topic,
                                                                              l->elems[i].partition);
          if (!tp) tp = rd_kafka_topic_partition_list_add(c->marks, l->elems[i].topic, l->elems[i].partition);
          tp->offset = hi;
        }
      } else if (end_fallback && !stop_asked(c->conf.stop)) {
        off = RD_KAFKA_OFFSET_END;
      } else {
        snprintf(err, errlen, "watermarks of %s[%d]", l->elems[i].topic,
                 (int)l->elems[i].partition);
        goto out;
      }
    }
    l->elems[i].offset = off;
    l->elems[i].err = 0;
  }
  for (int t = 0; t < TOPIC__COUNT; t++) { /* the ends reached belong to the old assignment */
    free(c->eof[t]);
    c->eof[t] = NULL;
  }
  rd_kafka_resp_err_t e = rd_kafka_assign(c->rk, l);
  if (e) {
    snprintf(err, errlen, "assign: %s", rd_kafka_err2str(e));
    goto out;
  }
  rc = 0;
out:
  free(which);
  rd_kafka_topic_partition_list_destroy(l);
  return rc;
}

int bus_assign_all(struct bus_consumer *c, const enum bus_topic *ts, int n, int from_beginning,
                   char *err, size_t errlen) {
  return assign(c, ts, n, NULL, start_committed_or, &from_beginning, 1, 0, err, errlen);
}

int bus_assign_key(struct bus_consumer *c, enum bus_topic t, const char *key, int from_beginning,
                   char *err, size_t errlen) {
  /* another partitioner named in the properties would send the key elsewhere: read them all */
  if (c->conf.kafka_props && strstr(c->conf.kafka_props, "partitioner")) key = NULL;
  return assign(c, &t, 1, key, start_committed_or, &from_beginning, 1, 1, err, errlen);
}

int bus_assign_with(struct bus_consumer *c, const enum bus_topic *ts, int n,
                    int64_t (*start)(void *ctx, enum bus_topic t, int32_t partition,
                                     int64_t committed),
                    void *ctx, char *err, size_t errlen) {
  return assign(c, ts, n, NULL, start, ctx, 0, 0, err, errlen);
}

/* Reads every partition of t to its end, or only partition `only` (>= 0). */
static int read_table(struct bus_consumer *c, enum bus_topic t, const char *key,
                      void (*cb)(void *ctx, const struct bus_msg *m), void *ctx, char *err,
                      size_t errlen) {
  int pc = bus_partition_count(c, t, err, errlen);
  if (pc < 0) return -1;
  /* another partitioner named in the properties would send the key elsewhere: read them all */
  if (c->conf.kafka_props && strstr(c->conf.kafka_props, "partitioner")) key = NULL;
  int32_t only = key_partition(key, pc);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(pc);
  int pending = 0;
  char *done = xcalloc((size_t)pc, 1);
  for (int p = 0; p < pc; p++) {
    if (only >= 0 && p != only) {
      done[p] = 1;
      continue;
    }
    int64_t lo = 0, hi = 0;
    /* a topic created a moment ago may not have a leader yet, a killed one a new one soon */
    rd_kafka_resp_err_t e = watermarks(c->rk, c->names[t], p, &lo, &hi, 60000, c->conf.stop);
    if (e) {
      snprintf(err, errlen, "watermarks of %s[%d]: %s", c->names[t], p, rd_kafka_err2str(e));
      free(done);
      rd_kafka_topic_partition_list_destroy(l);
      return -1;
    }
    if (hi > lo) {
      rd_kafka_topic_partition_list_add(l, c->names[t], p)->offset = RD_KAFKA_OFFSET_BEGINNING;
      pending++;
    } else {
      done[p] = 1;
    }
  }
  int rc = 0;
  if (pending) {
    rd_kafka_assign(c->rk, l);
    /* a table of millions of records may take longer than this: only a stall fails */
    int64_t deadline = mono_ms() + 120000;
    long got = 0;
    while (pending > 0) {
      rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 200);
      if (!m && stop_asked(c->conf.stop)) {
        snprintf(err, errlen, "stopped while reading %s", c->names[t]);
        rc = -1;
        break;
      }
      if (!m || (++got & 1023) == 0) {
        if (m) deadline = mono_ms() + 120000;
        else if (mono_ms() > deadline) {
          snprintf(err, errlen, "reading %s timed out", c->names[t]);
          rc = -1;
          break;
        }
        if (!m) continue;
      }
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (m->partition >= 0 && m->partition < pc && !done[m->partition]) {
          done[m->partition] = 1;
          pending--;
        }
      } else if (!m->err) {
        struct bus_msg bm = {.topic = t,
                             .partition = m->partition,
                             .offset = m->offset,
                             .key = m->key,
                             .keylen = m->key_len,
                             .value = m->payload,
                             .len = m->len,
                             .ids_ = ids_of(&c->conf)};
        bm.timestamp_ms = rd_kafka_message_timestamp(m, NULL);
        cb(ctx, &bm);
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(c->rk, NULL);
  }
  free(done);
  rd_kafka_topic_partition_list_destroy(l);
  return rc;
}

int bus_read_table(struct bus_consumer *c, enum bus_topic t,
                   void (*cb)(void *ctx, const struct bus_msg *m), void *ctx, char *err,
                   size_t errlen) {
  return read_table(c, t, NULL, cb, ctx, err, errlen);
}

int bus_read_table_key(struct bus_consumer *c, enum bus_topic t, const char *key,
                       void (*cb)(void *ctx, const struct bus_msg *m), void *ctx, char *err,
                       size_t errlen) {
  return read_table(c, t, key, cb, ctx, err, errlen);
}

/* Records where a partition's end was reached, for bus_lag. Topics created by an earlier Barge
 * may have more partitions than the table says: up to EOF_PARTS are followed. */
#define EOF_PARTS 256
static void note_eof(struct bus_consumer *c, const struct bus_msg *bm) {
  if (bm->partition < 0 || bm->partition >= EOF_PARTS) return;
  if (!c->eof[bm->topic]) {
    c->eof[bm->topic] = xmalloc(EOF_PARTS * sizeof *c->eof[bm->topic]);
    for (int i = 0; i < EOF_PARTS; i++) c->eof[bm->topic][i] = -1;
  }
  c->eof[bm->topic][bm->partition] = bm->offset;
}

int bus_lag(struct bus_consumer *c, int64_t lag[TOPIC__COUNT]) {
  for (int t = 0; t < TOPIC__COUNT; t++) lag[t] = -1;
  rd_kafka_topic_partition_list_t *a = NULL;
  if (rd_kafka_assignment(c->rk, &a) || !a) return -1;
  rd_kafka_position(c->rk, a);
  for (int i = 0; i < a->cnt; i++) {
    const rd_kafka_topic_partition_t *tp = &a->elems[i];
    int t = -1;
    for (int k = 0; k < TOPIC__COUNT && t < 0; k++)
      if (!strcmp(tp->topic, c->names[k])) t = k;
    int64_t lo = -1, hi = -1, pos = tp->offset;
    if (t < 0 || rd_kafka_get_watermark_offsets(c->rk, tp->topic, tp->partition, &lo, &hi) || hi < 0) continue;
    const int64_t *eof = c->eof[t];
    if (eof && tp->partition < EOF_PARTS && eof[tp->partition] > pos)
      pos = eof[tp->partition];
    if (pos < 0) continue; /* nothing read yet, no end reached: unknown */
    lag[t] = (lag[t] < 0 ? 0 : lag[t]) + (hi > pos ? hi - pos : 0);
  }
  rd_kafka_topic_partition_list_destroy(a);
  return 0;
}

int bus_poll(struct bus_consumer *c, int timeout_ms, struct bus_msg *bm, char *err,
             size_t errlen) {
  rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);
  if (!m) return 0;
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    memset(bm, 0, sizeof *bm);
    const char *tn = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    for (int i = 0; i < TOPIC__COUNT; i++)
      if (!strcmp(tn, c->names[i])) bm->topic = (enum bus_topic)i;
    bm->partition = m->partition;
    bm->offset = m->offset;
    note_eof(c, bm);
    rd_kafka_message_destroy(m);
    return 2;
  }
  if (m->err) {
    int fatal = m->err == RD_KAFKA_RESP_ERR__FATAL;
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      log_debug("consumer: %s", rd_kafka_message_errstr(m));
    if (fatal) snprintf(err, errlen, "consumer: %s", rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
    return fatal ? -1 : 0;
  }
  int t = -1;
  const char *name = rd_kafka_topic_name(m->rkt);
  for (int i = 0; i < TOPIC__COUNT; i++)
    if (!strcmp(name, c->names[i])) t = i;
  memset(bm, 0, sizeof *bm);
  bm->topic = (enum bus_topic)(t < 0 ? 0 : t);
  bm->partition = m->partition;
  bm->offset = m->offset;
  bm->timestamp_ms = rd_kafka_message_timestamp(m, NULL);
  bm->key = m->key;
  bm->keylen = m->key_len;
  bm->value = m->payload;
  bm->len = m->len;
  bm->opaque_ = m;
  bm->ids_ = ids_of(&c->conf);
  return 1;
}

int bus_wait(struct bus_consumer *c, int other_fd, int timeout_ms) {
  if (!c->q) {
    if (pipe2(c->wake, O_CLOEXEC | O_NONBLOCK)) {
      c->wake[0] = c->wake[1] = -1;
      return 1; /* cannot wait on it: the caller polls as before */
    }
    c->q = rd_kafka_queue_get_consumer(c->rk);
    rd_kafka_queue_io_event_enable(c->q, c->wake[1], "1", 1);
  }
  /* a trigger fires only when an empty queue fills: one not emptied, or filled before the
   * trigger was set, has nothing to wake us */
  if (rd_kafka_queue_length(c->q) > 0) return 1;
  struct pollfd fds[2] = {{.fd = c->wake[0], .events = POLLIN}, {.fd = other_fd, .events = POLLIN}};
  int n = poll(fds, other_fd >= 0 ? 2 : 1, timeout_ms);
  if (n > 0 && (fds[0].revents & POLLIN)) {
    char b[64];
    while (read(c->wake[0], b, sizeof b) > 0) {
    }
  }
  return n > 0;
}

void bus_msg_release(struct bus_msg *m) {
  if (m && m->opaque_) rd_kafka_message_destroy(m->opaque_);
  if (m) m->opaque_ = NULL;
}

void bus_mark(struct bus_consumer *c, const struct bus_msg *m) {
  const char *name = c->names[m->topic];
  rd_kafka_topic_partition_t *tp =
      rd_kafka_topic_partition_list_find(c->marks, name, m->partition);
  if (!tp) tp = rd_kafka_topic_partition_list_add(c->marks, name, m->partition);
  tp->offset = m->offset + 1;
}

static int commit_marks(struct bus_consumer *c, int async, char *err, size_t errlen) {
  if (c->marks->cnt == 0) return 0;
  rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, c->marks, async);
  if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    snprintf(err, errlen, "commit: %s", rd_kafka_err2str(e));
    return -1;
  }
  rd_kafka_topic_partition_list_destroy(c->marks);
  c->marks = rd_kafka_topic_partition_list_new(16);
  return 0;
}

int bus_commit(struct bus_consumer *c, char *err, size_t errlen) { return commit_marks(c, 0, err, errlen); }

int bus_commit_async(struct bus_consumer *c, char *err, size_t errlen) { return commit_marks(c, 1, err, errlen); }

int bus_watermarks(struct bus_consumer *c, enum bus_topic t, int32_t partition, int64_t *lo,
                   int64_t *hi) {
  return watermarks(c->rk, c->names[t], partition, lo, hi, 10000, c->conf.stop) ? -1 : 0;
}

int bus_cluster_id(struct bus_consumer *c, char *out, size_t n, int timeout_ms) {
  char *id = NULL;
  for (int64_t deadline = mono_ms() + timeout_ms; !id;) { /* in slices, asking stop between them */
    int64_t left = deadline - mono_ms();
    id = rd_kafka_clusterid(c->rk, left < 500 ? (int)(left > 0 ? left : 0) : 500);
    if (!id && (left <= 500 || stop_asked(c->conf.stop))) return -1;
  }
  snprintf(out, n, "%s", id);
  rd_kafka_mem_free(c->rk, id);
  return 0;
}

int bus_committed(struct bus_consumer *c, enum bus_topic t, int32_t partition, int64_t *off) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, c->names[t], partition);
  rd_kafka_resp_err_t e = rd_kafka_committed(c->rk, l, 5000);
  *off = e ? -1 : l->elems[0].offset;
  rd_kafka_topic_partition_list_destroy(l);
  return e ? -1 : 0;
}

/* ---------------- dead letters and decoding ---------------- */

/* One time field of ev (epoch ms): 1 with why when it lies more than BUS_EVENT_AHEAD_MAX_MS after
 * ref. */
static int time_ahead(const char *field, const json_t *t, int64_t ref, int64_t record_ms, char *why, size_t whylen) {
  if (!json_is_integer(t)) return 0;
  int64_t at = (int64_t)json_integer_value(t);
  if (ref <= 0 || at <= ref + BUS_EVENT_AHEAD_MAX_MS) return 0;
  snprintf(why, whylen,
           "%s %lld lies %lld s after the record's timestamp %lld: %s is epoch "
           "milliseconds (microseconds or nanoseconds given?), at most an hour ahead (docs/publishing.md)",
           field, (long long)at, (long long)((at - ref) / 1000), (long long)record_ms, field);
  return 1;
}

int bus_event_time_check(const json_t *ev, int64_t record_ms, int64_t now_ms, char *why, size_t whylen) {
  int64_t ref = record_ms > now_ms ? record_ms : now_ms;
  return time_ahead("header.event_time", json_object_get(json_object_get(ev, "header"), "event_time"), ref,
                    record_ms, why, whylen) ||
         time_ahead("at", json_object_get(ev, "at"), ref, record_ms, why, whylen);
}

static int dead_letter(struct bus_producer *p, const struct bus_msg *m, const char *consumer,
                       const char *reason, int logged, char *err, size_t errlen) {
  char src[256];
  snprintf(src, sizeof src, "%s", consumer ? consumer : "barge");
  json_t *dl = json_object();
  json_object_set_new(dl, "header", bus_header(src, "", now_ms()));
  json_object_set_new(dl, "topic", json_string(p->names[m->topic]));
  json_object_set_new(dl, "partition", json_integer(m->partition));
  json_object_set_new(dl, "offset", json_integer(m->offset));
  json_object_set_new(dl, "consumer", json_string(src));
  /* A record the broker took (up to its 1 MiB) can be too large for a dead letter holding all
   * of it beside the reason (a producer's message.max.bytes is 1,000,000 by default): its
   * delivery failed, and the service exited on it at every restart. The original stays on its
   * topic at the offset the dead letter names. */
  size_t plen = m->len > BUS_DEAD_LETTER_MAX_PAYLOAD ? BUS_DEAD_LETTER_MAX_PAYLOAD : m->len;
  /* the key byte for byte: a C string cut it at its first NUL and, silently, at 511 bytes */
  size_t kl = m->key && m->keylen > BUS_DEAD_LETTER_MAX_KEY ? BUS_DEAD_LETTER_MAX_KEY : m->key ? m->keylen : 0;
  char *why = xmalloc(strlen(reason) + 192);
  strcpy(why, reason);
  if (m->value && plen < m->len)
    sprintf(why + strlen(why), " (payload cut to its first %zu of %zu bytes)", plen, m->len);
  if (m->key && kl < m->keylen)
    sprintf(why + strlen(why), " (key cut to its first %zu of %zu bytes)", kl, m->keylen);
  /* a reason quoting the record (a job id cut to its first bytes) may end in half a character:
   * jansson refused it, the dead letter could not be encoded and the service stopped on that
   * record at every restart */
  utf8_fix(why);
  json_object_set_new(dl, "error", json_string(why));
  free(why);
  if (m->value) {
    /* bytes travel as base64 in Barge's JSON convention */
    char *b64 = base64_encode(m->value, plen, NULL);
    json_object_set_new(dl, "payload", json_string(b64));
    free(b64);
  }
  struct buf enc;
  buf_init(&enc);
  char e2[512];
  int rc = 0;
  if (codec_encode_ids(ids_of(&p->conf), topics[TOPIC_DEAD_LETTER].type, dl, &enc, e2, sizeof e2)) {
    snprintf(err, errlen, "encoding a dead letter: %s", e2);
    rc = -1;
  } else {
    rc = bus_produce_raw(p, TOPIC_DEAD_LETTER, m->key, kl, enc.data, enc.len, -1, err, errlen);
  }
  buf_release(&enc);
  json_decref(dl);
  if (logged)
    log_warn("dead-lettered %s[%d]@%lld: %s", p->names[m->topic], (int)m->partition,
             (long long)m->offset, reason);
  return rc;
}

int bus_dead_letter(struct bus_producer *p, const struct bus_msg *m, const char *consumer,
                    const char *reason, char *err, size_t errlen) {
  return dead_letter(p, m, consumer, reason, 1, err, errlen);
}

int bus_dead_letter_unlogged(struct bus_producer *p, const struct bus_msg *m, const char *consumer,
                             const char *reason, char *err, size_t errlen) {
  return dead_letter(p, m, consumer, reason, 0, err, errlen);
}

/* Removes null members, recursively: in Barge's JSON an absent optional member and a null one
 * mean the same, and AWS shapes omit unknown values rather than sending null. */
static void strip_nulls(json_t *v) {
  if (json_is_object(v)) {
    const char *k;
    json_t *x;
    void *tmp;
    json_object_foreach_safe(v, tmp, k, x) {
      if (json_is_null(x)) json_object_del(v, k);
      else strip_nulls(x);
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) strip_nulls(x);
  }
}

/* barge.config is a table keyed by each resource's ARN, and a deletion is a tombstone under that
 * ARN: a record under another key would outlive its resource's deletion (every reader would
 * find it again at its next start). 0 when m's key is the ARN its record names, else -1 (err). */
static int config_key_check(const struct bus_msg *m, const json_t *ev, char *err, size_t errlen) {
  static const char *const arns[][2] = {{"ComputeEnvironment", "computeEnvironmentArn"},
                                        {"JobQueue", "jobQueueArn"},
                                        {"JobDefinition", "jobDefinitionArn"},
                                        {"SchedulingPolicy", "arn"}};
  json_t *body = json_object_get(ev, "body");
  for (size_t i = 0; i < sizeof arns / sizeof *arns; i++) {
    json_t *b = json_object_get(body, arns[i][0]);
    if (!b) continue;
    const char *arn = json_string_value(json_object_get(b, arns[i][1]));
    if (!arn) arn = "";
    if (m->key && m->keylen == strlen(arn) && !memcmp(m->key, arn, m->keylen)) return 0;
    snprintf(err, errlen,
             "a %s record whose key (%zu bytes) is not its %s %.300s: barge.config is keyed by the resource's ARN, "
             "and a deletion (a tombstone under the ARN) would leave it standing",
             arns[i][0], m->keylen, arns[i][1], arn);
    return -1;
  }
  return 0; /* no known body: the readers say so */
}

int bus_decode(const struct bus_msg *m, enum barge_ev_type *type, json_t **out, char *err,
               size_t errlen) {
  *out = NULL;
  if (!m->value) {
    snprintf(err, errlen, "tombstone");
    return -1;
  }
  int rc = codec_decode_ids(m->ids_, m->value, m->len, type, out, err, errlen);
  if (rc) return rc == 2 ? BUS_DECODE_UNAVAILABLE : -1;
  strip_nulls(*out);
  if (*type != topics[m->topic].type) {
    snprintf(err, errlen, "a %s event on topic %s, which carries %s", codec_type_name(*type),
             topics[m->topic].base, codec_type_name(topics[m->topic].type));
    json_decref(*out);
    *out = NULL;
    return -1;
  }
  if (m->topic == TOPIC_CONFIG && config_key_check(m, *out, err, errlen)) {
    json_decref(*out);
    *out = NULL;
    return -1;
  }
  return 0;
}
