/* client.c: the Barge client library (include/barge/client.h), a thin layer over the bus
 * (lib/bus.c), the configuration view (lib/views.c) and the SubmitJob validation of
 * producers/control.c, so a submission through the library is validated and written exactly as
 * `barge submit-job` writes it. */
#include "barge/client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "control.h"
#include "registry.h"
#include "stack.h"
#include "views.h"


struct barge_client {
  char *brokers, *prefix, *principal;
  struct buf props; /* librdkafka properties "k=v,k=v" */
  struct bus_conf bc;
  struct bus_producer *prod;
  /* this client's schema registry (URL, caches, codec ids): a second client with another
   * registry used to switch this one's too, registry_set_url being the process's */
  struct registry *reg;
  struct config_view cv;
  int cv_loaded;
};

static const char *const messages[] = {
    [BARGE_OK] = "success",
    [BARGE_ERR_INVALID] = "the request was refused",
    [BARGE_ERR_NOT_FOUND] = "no such job",
    [BARGE_ERR_TIMEOUT] = "timed out",
    [BARGE_ERR_KAFKA] = "Kafka is unreachable or did not confirm the write",
    [BARGE_ERR_REGISTRY] = "the schema registry refused or is unreachable",
    [BARGE_ERR_ARGUMENT] = "bad argument",
    [BARGE_ERR_OUTCOME_UNKNOWN] = "the write was not confirmed but may have been written: check before retrying",
};

const char *barge_strerror(int code) {
  if (code < 0 || (size_t)code >= sizeof messages / sizeof *messages || !messages[code])
    return "unknown error";
  return messages[code];
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...) BARGE_PRINTF(4, 5);
static int fail(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* A job id in a message: cut to 100 characters, or a long (mistaken) id filled err and the
 * message's meaning ("is not in barge.jobs") fell off its end. */
#define ID_FMT "%.100s%s"
#define ID_ARG(id) (id), (strlen(id) > 100 ? "...(cut)" : "")

/* A bus error: registry troubles are told apart from Kafka ones by the message. */
static int bus_fail(char *err, size_t errlen, const char *what, const char *why) {
  int code = strstr(why, "schema registry") ? BARGE_ERR_REGISTRY : BARGE_ERR_KAFKA;
  return fail(err, errlen, code, "%s: %s", what, why);
}

/* Is s UTF-8 (jansson, and so every event, takes nothing else)? */
static int is_utf8(const char *s) {
  char *t = xstrdup(s);
  utf8_fix(t);
  int same = !strcmp(t, s);
  free(t);
  return same;
}

struct barge_client *barge_client_new(const char *brokers, const char *topic_prefix, char *err,
                                      size_t errlen) {
  char e[512];
  if (!brokers || !*brokers) {
    fail(err, errlen, BARGE_ERR_ARGUMENT, "brokers is required (host:port[,host:port...])");
    return NULL;
  }
  /* the command line's checks (lib/stack.h): a list or prefix they refuse failed only at the
   * first I/O, as BARGE_ERR_KAFKA "retry later", after seconds of waiting; a port past 65535
   * was taken modulo 65536 by librdkafka and reached another port. Their messages name the
   * command line's flag: said here as the argument's name. */
  if (stack_brokers_check(brokers, brokers, e, sizeof e) ||
      (topic_prefix && *topic_prefix && stack_prefix_check(topic_prefix, topic_prefix, e, sizeof e))) {
    const char *m = strncmp(e, "--", 2) ? e : e + 2;
    if (!strncmp(m, "topic-prefix", 12)) fail(err, errlen, BARGE_ERR_ARGUMENT, "topic_prefix%s", m + 12);
    else fail(err, errlen, BARGE_ERR_ARGUMENT, "%s", m);
    return NULL;
  }
  /* the environment's BARGE_* values, as every barge command checks them (lib/util.h) */
  if (env_config_check(e, sizeof e)) {
    fail(err, errlen, BARGE_ERR_ARGUMENT, "%s", e);
    return NULL;
  }
  if (codec_init(e, sizeof e)) {
    fail(err, errlen, BARGE_ERR_ARGUMENT, "codec: %s", e);
    return NULL;
  }
  struct barge_client *c = xcalloc(1, sizeof *c);
  c->brokers = xstrdup(brokers);
  c->prefix = xstrdup(topic_prefix ? topic_prefix : "barge.");
  const char *user = getenv("USER");
  c->principal = xstrdup(user && *user && is_utf8(user) ? user : "anonymous");
  buf_init(&c->props);
  c->bc.brokers = c->brokers;
  c->bc.prefix = c->prefix;
  c->bc.client_id = "barge-client";
  c->reg = registry_new(getenv("BARGE_SCHEMA_REGISTRY_URL")); /* NULL or "": none */
  c->bc.registry = c->reg;
  return c;
}

int barge_client_set(struct barge_client *c, const char *name, const char *value, char *err,
                     size_t errlen) {
  if (!c || !name || !value) return fail(err, errlen, BARGE_ERR_ARGUMENT, "client, name and value are required");
  if (c->prod) return fail(err, errlen, BARGE_ERR_ARGUMENT, "options must be set before the first submission");
  if (!strcmp(name, "schema.registry.url")) {
    if (!registry_url_ok(value))
      return fail(err, errlen, BARGE_ERR_ARGUMENT, "schema.registry.url \"%.100s\": not an http:// or https:// URL (\"\" for none)", value);
    /* no producer yet, and consumers live within a call: nothing uses the old one */
    registry_free(c->reg);
    c->bc.registry = c->reg = registry_new(value);
  } else if (!strcmp(name, "principal")) {
    /* one that is not UTF-8 was dropped: the requests were recorded as $USER's */
    if (!*value || !is_utf8(value))
      return fail(err, errlen, BARGE_ERR_ARGUMENT, "principal: %s", *value ? "not UTF-8" : "empty");
    free(c->principal);
    c->principal = xstrdup(value);
  } else if (!strncmp(name, "kafka.", 6) && name[6]) {
    if (strchr(value, ',') || strchr(value, '\n'))
      return fail(err, errlen, BARGE_ERR_ARGUMENT, "%s: a value with ',' cannot be passed", name);
    /* the properties are one "k=v,k=v" string: a name with ',' or '=' set others besides
     * ("kafka.client.id=x,bootstrap.servers" took another broker list than the client's) */
    if (strpbrk(name + 6, ",=\n"))
      return fail(err, errlen, BARGE_ERR_ARGUMENT, "%.100s: not a librdkafka property name (',' or '=' in it)", name);
    size_t was = c->props.len;
    buf_printf(&c->props, "%s%s=%s", c->props.len ? "," : "", name + 6, value);
    c->bc.kafka_props = (const char *)c->props.data;
    /* a property librdkafka refuses was found only at the first I/O, as BARGE_ERR_KAFKA
     * ("unreachable: retry later"), which no retry can help */
    char e[512];
    if (bus_conf_check(&c->bc, e, sizeof e)) {
      c->props.len = was;
      if (c->props.data) c->props.data[was] = 0;
      c->bc.kafka_props = was ? (const char *)c->props.data : NULL;
      return fail(err, errlen, BARGE_ERR_ARGUMENT, "%s", e);
    }
  } else {
    return fail(err, errlen, BARGE_ERR_ARGUMENT, "unknown option %s (schema.registry.url, principal, kafka.<property>)", name);
  }
  return BARGE_OK;
}

void barge_client_free(struct barge_client *c) {
  if (!c) return;
  bus_producer_free(c->prod);
  registry_free(c->reg); /* after its producer */
  if (c->cv_loaded) config_view_release(&c->cv);
  buf_release(&c->props);
  free(c->brokers);
  free(c->prefix);
  free(c->principal);
  free(c);
}

void barge_free_string(char *s) { free(s); }

/* After a write that failed, the next submission gets a new producer. The old one could be
 * unusable for good (librdkafka's fatal error of an idempotent producer, e.g. its producer id
 * refused once: every later submission of the client failed with "Local: Fatal error"), or
 * still hold a message whose flush timed out: its delivery report, when it came, was taken for
 * the next submission's. Its queue is purged (a message not sent is not written later, after
 * the caller was told to look the job up), so freeing it does not wait. */
static void drop_producer(struct barge_client *c) {
  bus_producer_purge(c->prod);
  bus_producer_free(c->prod);
  c->prod = NULL;
}

static int load_config(struct barge_client *c, char *err, size_t errlen) {
  char e[512];
  if (c->cv_loaded) config_view_release(&c->cv);
  c->cv_loaded = 0;
  if (config_view_load(&c->bc, &c->cv, e, sizeof e)) {
    config_view_release(&c->cv);
    return bus_fail(err, errlen, "reading barge.config", e);
  }
  c->cv_loaded = 1;
  return BARGE_OK;
}

int barge_submit_job(struct barge_client *c, const char *aws_submit_json, char *job_id_out,
                     size_t job_id_len, char *err, size_t errlen) {
  if (!c || !aws_submit_json || !job_id_out || job_id_len < 37)
    return fail(err, errlen, BARGE_ERR_ARGUMENT, "client, request and a job id buffer of 37 bytes are required");
  json_error_t je;
  json_t *req = json_loads(aws_submit_json, 0, &je);
  if (!json_is_object(req)) { /* valid JSON that is no object left je.text empty: say so */
    int parsed = req != NULL;
    json_decref(req);
    return fail(err, errlen, BARGE_ERR_ARGUMENT, "the request is not a JSON object: %s",
                parsed ? "valid JSON, but not an object" : je.text);
  }
  int rc;
  char e[1024];
  json_t *body = NULL;
  if (!c->cv_loaded && (rc = load_config(c, err, errlen))) goto out;
  rc = control_prepare_submit(&c->cv, req, &body, e, sizeof e);
  if (rc == 400 && (strstr(e, "does not exist") || strstr(e, "DISABLED") || strstr(e, "INACTIVE"))) {
    /* the configuration may have changed since it was read: read it again, once */
    if ((rc = load_config(c, err, errlen))) goto out;
    rc = control_prepare_submit(&c->cv, req, &body, e, sizeof e);
  }
  if (rc) {
    rc = fail(err, errlen, BARGE_ERR_INVALID, "%s", e);
    goto out;
  }
  if (!c->prod && !(c->prod = bus_producer_new(&c->bc, NULL, e, sizeof e))) {
    rc = bus_fail(err, errlen, "producer", e);
    goto out;
  }
  char id[64];
  snprintf(id, sizeof id, "%s", json_string_value(json_object_get(body, "jobId")));
  json_t *ev = control_request_event_as(c->principal, "SubmitJob", body);
  body = NULL;
  json_object_set_new(ev, "header", bus_header("barge-client", id, now_ms()));
  rc = bus_produce(c->prod, TOPIC_REQUESTS, id, ev, e, sizeof e);
  json_decref(ev);
  if (rc == BUS_TOO_LARGE) { /* no retry helps: it was BARGE_ERR_KAFKA, "retry later" */
    rc = fail(err, errlen, BARGE_ERR_INVALID, "the request is too large, nothing written: %s", e);
    goto out;
  }
  if (!rc) rc = bus_flush(c->prod, 30000, e, sizeof e);
  if (rc) drop_producer(c);
  if (rc == BUS_OUTCOME_UNKNOWN) { /* sent, not confirmed: a retry could make a second job */
    snprintf(job_id_out, job_id_len, "%s", id);
    rc = fail(err, errlen, BARGE_ERR_OUTCOME_UNKNOWN,
              "writing the request: %s; it may have been written all the same, as job %s: look it up "
              "(barge_job_status, barge describe-jobs --jobs %s) before submitting again",
              e, id, id);
    goto out;
  }
  if (rc) {
    rc = bus_fail(err, errlen, "writing the request", e);
    goto out;
  }
  snprintf(job_id_out, job_id_len, "%s", id);
  rc = BARGE_OK;
out:
  json_decref(body);
  json_decref(req);
  return rc;
}

/* ---------------- state ---------------- */

struct find {
  const char *id;
  size_t idlen;
  json_t *rec;
};

static void find_cb(void *ctx, const struct bus_msg *m) {
  struct find *f = ctx;
  if (m->keylen != f->idlen || memcmp(m->key, f->id, f->idlen)) return;
  json_decref(f->rec);
  f->rec = NULL;
  if (!m->value) return; /* a tombstone: deleted */
  enum barge_ev_type t;
  char why[256];
  if (bus_decode(m, &t, &f->rec, why, sizeof why)) f->rec = NULL;
}

static void fill_state(const json_t *detail, struct barge_job_state *st) {
  memset(st, 0, sizeof *st);
  const char *status = json_string_value(json_object_get(detail, "status"));
  snprintf(st->status, sizeof st->status, "%s", status ? status : "");
  const char *r = json_string_value(json_object_get(detail, "statusReason"));
  snprintf(st->status_reason, sizeof st->status_reason, "%s", r ? r : "");
  st->attempts = (int)json_array_size(json_object_get(detail, "attempts"));
  json_t *ec = json_object_get(json_object_get(detail, "container"), "exitCode");
  if (json_is_integer(ec)) {
    st->has_exit_code = 1;
    st->exit_code = (int)json_integer_value(ec);
  }
  st->created_at = json_integer_value(json_object_get(detail, "createdAt"));
  st->started_at = json_integer_value(json_object_get(detail, "startedAt"));
  st->stopped_at = json_integer_value(json_object_get(detail, "stoppedAt"));
}

/* Reads the job's latest record: BARGE_OK with *detail (owned), or NOT_FOUND / KAFKA. */
static int read_detail(struct barge_client *c, const char *job_id, json_t **detail, char *err,
                       size_t errlen) {
  char e[512];
  *detail = NULL;
  struct bus_consumer *k = bus_consumer_new(&c->bc, NULL, 1, e, sizeof e);
  if (!k) return bus_fail(err, errlen, "consumer", e);
  struct find f = {.id = job_id, .idlen = strlen(job_id)};
  int rc = bus_read_table_key(k, TOPIC_JOBS, job_id, find_cb, &f, e, sizeof e); /* keyed by job id */
  bus_consumer_free(k);
  if (rc) {
    json_decref(f.rec);
    return bus_fail(err, errlen, "reading barge.jobs", e);
  }
  if (!f.rec) return fail(err, errlen, BARGE_ERR_NOT_FOUND, "job " ID_FMT " is not in barge.jobs (not submitted, or not handled by the scheduler yet)", ID_ARG(job_id));
  *detail = json_incref(json_object_get(f.rec, "detail"));
  json_decref(f.rec);
  return *detail ? BARGE_OK : fail(err, errlen, BARGE_ERR_KAFKA, "job " ID_FMT ": a record without a detail", ID_ARG(job_id));
}

static int report(const json_t *detail, struct barge_job_state *st, char **detail_json) {
  if (st) fill_state(detail, st);
  if (detail_json) *detail_json = json_dumps(detail, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  return BARGE_OK;
}

int barge_job_status(struct barge_client *c, const char *job_id, struct barge_job_state *st,
                     char **detail_json, char *err, size_t errlen) {
  if (detail_json) *detail_json = NULL;
  if (!c || !job_id || !*job_id) return fail(err, errlen, BARGE_ERR_ARGUMENT, "client and job id are required");
  json_t *d = NULL;
  int rc = read_detail(c, job_id, &d, err, errlen);
  if (rc == BARGE_OK) report(d, st, detail_json);
  json_decref(d);
  return rc;
}

static int is_terminal(const char *s) {
  return s && (!strcmp(s, "SUCCEEDED") || !strcmp(s, "FAILED"));
}

int barge_wait_job(struct barge_client *c, const char *job_id, int timeout_ms,
                   struct barge_job_state *st, char **detail_json, char *err, size_t errlen) {
  if (detail_json) *detail_json = NULL;
  if (st) memset(st, 0, sizeof *st);
  if (!c || !job_id || !*job_id) return fail(err, errlen, BARGE_ERR_ARGUMENT, "client and job id are required");
  int64_t deadline = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
  char e[512];
  /* The job's record is read once, then barge.jobs is followed from where it ended before that
   * read (an explicit offset): every change of a job is a new record there, written in the
   * transaction of its JobStateChange, so none falls in between. The wait used to read the
   * whole table again after each change of the job and every 5 s besides: an hour's wait read
   * it some 720 times. Records of other jobs are skipped by key, not decoded. */
  struct bus_consumer *k = bus_consumer_new(&c->bc, NULL, 1, e, sizeof e);
  if (!k) return bus_fail(err, errlen, "consumer", e);
  enum bus_topic t = TOPIC_JOBS;
  struct find f = {.id = job_id, .idlen = strlen(job_id)};
  char status[sizeof st->status] = "";
  int rc;
  if (bus_assign_all(k, &t, 1, 0, e, sizeof e)) {
    rc = bus_fail(err, errlen, "following barge.jobs", e);
    goto out;
  }
  json_t *d = NULL;
  rc = read_detail(c, job_id, &d, err, errlen);
  if (rc != BARGE_OK && rc != BARGE_ERR_NOT_FOUND) goto out;
  if (d) f.rec = json_pack("{s:o}", "detail", d);
  for (int changed = 1;;) {
    if (changed) {
      changed = 0;
      d = json_object_get(f.rec, "detail");
      const char *s = json_string_value(json_object_get(d, "status"));
      snprintf(status, sizeof status, "%s", d ? (s ? s : "?") : ""); /* no detail: deleted */
      if (st) {
        if (d) fill_state(d, st);
        else memset(st, 0, sizeof *st);
      }
      if (is_terminal(s)) {
        rc = report(d, st, detail_json);
        goto out;
      }
    }
    int64_t left = deadline - mono_ms();
    if (left <= 0) {
      if (*status)
        rc = fail(err, errlen, BARGE_ERR_TIMEOUT, "job " ID_FMT " is still %s after %d ms (not SUCCEEDED or FAILED yet)",
                  ID_ARG(job_id), status, timeout_ms);
      else
        rc = fail(err, errlen, BARGE_ERR_TIMEOUT,
                  "job " ID_FMT " is not in barge.jobs after %d ms (not submitted, a mistyped id, or no scheduler "
                  "handled it: is one running?)", ID_ARG(job_id), timeout_ms);
      goto out;
    }
    struct bus_msg m;
    int pr = bus_poll(k, (int)(left < 200 ? left : 200), &m, e, sizeof e);
    if (pr < 0) {
      rc = bus_fail(err, errlen, "following barge.jobs", e);
      goto out;
    }
    if (pr != 1) continue;
    changed = m.keylen == f.idlen && !memcmp(m.key, f.id, f.idlen);
    if (changed) find_cb(&f, &m);
    bus_msg_release(&m);
  }
out:
  json_decref(f.rec);
  bus_consumer_free(k);
  return rc;
}
