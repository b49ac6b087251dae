/* test_client_registry.c: two client library handles (include/barge/client.h) in one process,
 * each with its own schema registry, against librdkafka's in-process mock cluster and two small
 * Confluent-compatible registries served by this test (POST /subjects/S/versions, GET
 * /schemas/ids/N), whose ids do not overlap (100.. and 200..), so a record says which registry
 * framed it.
 *
 * Checked:
 * - client A (registry A) submits: its request is framed with registry A's id;
 * - client B, created afterwards with registry B, submits: framed with registry B's id, and
 *   reads its job's record (framed with a registry-B id) through registry B;
 * - client A keeps working after B: it reads its job's record (a registry-A id) and submits
 *   again with registry A's id. The registry URL was the process's, so B's option switched A
 *   to registry B: A's next read failed (BARGE_ERR_REGISTRY, "already uses the schema
 *   registry"), and B could not use its own registry at all;
 * - ids are per registry: A asked for B's job does not decode a registry-B record (registry A
 *   is asked for that id and answers 404);
 * - client C with a registry that does not answer fails with BARGE_ERR_REGISTRY naming it, and
 *   A still works after it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "barge/client.h"
#include "bus.h"
#include "check.h"
#include "codec.h"
#include "control.h"
#include "mock_cluster.h"

/* ---------------- a small schema registry ---------------- */

#define MAX_SCHEMAS 64

struct fake_reg {
  int ls;
  pthread_t th;
  int32_t base; /* ids given: base + 1, base + 2, ... */
  pthread_mutex_t mu;
  char *schema[MAX_SCHEMAS];
  char *subject[MAX_SCHEMAS]; /* the first subject it was registered under */
  int n;
  int fetches_unknown; /* GET of an id it never gave */
  char url[64];
};

static void answer(int c, int status, json_t *body) {
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  char head[256];
  int hl = snprintf(head, sizeof head,
                    "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n",
                    status, strlen(text));
  if (write(c, head, (size_t)hl) < 0 || write(c, text, strlen(text)) < 0) { /* the client says so */
  }
  free(text);
}

static void serve(struct fake_reg *r, int c) {
  struct buf req;
  buf_init(&req);
  char chunk[4096];
  ssize_t got;
  size_t need = 0; /* header end + Content-Length, once known */
  while ((got = read(c, chunk, sizeof chunk)) > 0) {
    buf_append(&req, chunk, (size_t)got);
    const char *end = strstr((const char *)req.data, "\r\n\r\n");
    if (end && !need) {
      const char *cl = strcasestr((const char *)req.data, "Content-Length:");
      need = (size_t)(end + 4 - (const char *)req.data) + (cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0);
    }
    if (need && req.len >= need) break;
  }
  const char *s = req.data ? (const char *)req.data : "";
  const char *body = strstr(s, "\r\n\r\n");
  const char *eol = strstr(s, "\r\n"), *sub = strstr(s, " /apis/ccompat/v7/subjects/"),
             *ids = strstr(s, " /apis/ccompat/v7/schemas/ids/");
  pthread_mutex_lock(&r->mu);
  if (!strncmp(s, "POST ", 5) && sub && sub < eol && body) {
    char subject[256] = "";
    sscanf(sub + 27, "%255[^/]", subject);
    json_t *j = json_loads(body + 4, 0, NULL);
    const char *schema = json_string_value(json_object_get(j, "schema"));
    int i = 0;
    while (i < r->n && strcmp(r->schema[i], schema ? schema : "")) i++;
    if (i == r->n && r->n < MAX_SCHEMAS) {
      r->schema[r->n] = strdup(schema ? schema : "");
      r->subject[r->n++] = strdup(subject);
    }
    json_decref(j);
    answer(c, 200, json_pack("{s:i}", "id", (int)(r->base + 1 + i)));
  } else if (!strncmp(s, "GET ", 4) && ids && ids < eol) {
    long id = strtol(ids + 30, NULL, 10);
    if (id > r->base && id <= r->base + r->n) {
      answer(c, 200, json_pack("{s:s}", "schema", r->schema[id - r->base - 1]));
    } else {
      r->fetches_unknown++;
      answer(c, 404, json_pack("{s:i, s:s}", "error_code", 40403, "message", "Schema not found"));
    }
  } else {
    answer(c, 404, json_pack("{s:i, s:s}", "error_code", 404, "message", "no such resource"));
  }
  pthread_mutex_unlock(&r->mu);
  buf_release(&req);
}

static void *reg_main(void *arg) {
  struct fake_reg *r = arg;
  for (;;) {
    int c = accept(r->ls, NULL, NULL);
    if (c < 0) return NULL;
    serve(r, c);
    close(c);
  }
}

static int reg_start(struct fake_reg *r, int32_t base) {
  memset(r, 0, sizeof *r);
  r->base = base;
  pthread_mutex_init(&r->mu, NULL);
  r->ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  if (bind(r->ls, (struct sockaddr *)&a, sizeof a) || listen(r->ls, 16) ||
      getsockname(r->ls, (struct sockaddr *)&a, &al))
    return -1;
  snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d/apis/ccompat/v7", ntohs(a.sin_port));
  return pthread_create(&r->th, NULL, reg_main, r) ? -1 : 0;
}

/* Stops r's thread (its accept fails once the socket is shut down) and frees what it kept. */
static void reg_stop(struct fake_reg *r) {
  shutdown(r->ls, SHUT_RDWR);
  pthread_join(r->th, NULL);
  close(r->ls);
  for (int i = 0; i < r->n; i++) {
    free(r->schema[i]);
    free(r->subject[i]);
  }
  pthread_mutex_destroy(&r->mu);
}

/* The id r gave to the schema registered under subject, or 0. */
static int32_t reg_id_of(struct fake_reg *r, const char *subject) {
  int32_t id = 0;
  pthread_mutex_lock(&r->mu);
  for (int i = 0; i < r->n && !id; i++)
    if (!strcmp(r->subject[i], subject)) id = r->base + 1 + i;
  pthread_mutex_unlock(&r->mu);
  return id;
}

/* ---------------- Kafka ---------------- */

struct find {
  const char *id;
  int32_t schema_id; /* of the record's Confluent framing; -1: not Confluent-framed */
};

static void find_cb(void *ctx, const struct bus_msg *m) {
  struct find *f = ctx;
  if (m->keylen != strlen(f->id) || memcmp(m->key, f->id, m->keylen) || !m->value) return;
  const unsigned char *d = m->value;
  f->schema_id = m->len >= 5 && d[0] == 0 ? (int32_t)((uint32_t)d[1] << 24 | (uint32_t)d[2] << 16 |
                                                      (uint32_t)d[3] << 8 | d[4])
                                          : -1;
}

/* The schema id framing job id's request in barge.requests, 0 when not found. */
static int32_t request_schema_id(const struct bus_conf *bc, const char *id) {
  char err[512];
  struct find f = {.id = id};
  struct bus_consumer *k = bus_consumer_new(bc, NULL, 1, err, sizeof err);
  if (!k || bus_read_table(k, TOPIC_REQUESTS, find_cb, &f, err, sizeof err)) fprintf(stderr, "%s\n", err);
  bus_consumer_free(k);
  return f.schema_id;
}

/* Writes a RUNNING JobRecord of job id to barge.jobs, Confluent-framed with schema_id. */
static int write_record(struct bus_producer *p, const char *id, int32_t schema_id) {
  char err[512];
  json_t *r = json_pack("{s:o, s:{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:[], s:[]}, s:i, s:I, s:[]}", "header",
                        bus_header("scheduler", id, now_ms()), "detail", "jobArn", id, "jobName", "n", "jobId", id,
                        "jobQueue", "q", "status", "RUNNING", "createdAt", (json_int_t)1, "jobDefinition", "jd",
                        "attempts", "dependsOn", "attempt", 0, "queueSeq", (json_int_t)1, "dependencyIds");
  struct buf b, framed;
  buf_init(&b);
  buf_init(&framed);
  int rc = codec_encode(BARGE_EV_JOB_RECORD, r, &b, err, sizeof err);
  if (!rc) { /* the body after the process's framing (single-object: 10 bytes; Confluent: 5) */
    size_t hdr = b.data[0] == 0 ? 5 : 10;
    unsigned char h[5] = {0, (unsigned char)((uint32_t)schema_id >> 24), (unsigned char)(schema_id >> 16),
                          (unsigned char)(schema_id >> 8), (unsigned char)schema_id};
    buf_append(&framed, h, 5);
    buf_append(&framed, b.data + hdr, b.len - hdr);
    rc = bus_produce_raw(p, TOPIC_JOBS, id, strlen(id), framed.data, framed.len, -1, err, sizeof err);
  }
  if (!rc) rc = bus_flush(p, 10000, err, sizeof err);
  if (rc) fprintf(stderr, "writing %s: %s\n", id, err);
  buf_release(&b);
  buf_release(&framed);
  json_decref(r);
  return rc;
}

int main(void) {
  char err[1024];
  unsetenv("BARGE_SCHEMA_REGISTRY_URL");
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "test_client_registry: codec: %s\n", err);
    return 2;
  }
  struct fake_reg ra, rb;
  if (reg_start(&ra, 100) || reg_start(&rb, 200)) {
    fprintf(stderr, "test_client_registry: cannot listen on loopback\n");
    return 2;
  }
  struct mock_cluster m;
  if (mock_cluster_start(&m, "test_client_registry", "tcr")) return 2;
  const char *brokers = m.brokers, *prefix = m.prefix;
  /* the test's own reads and writes: no registry (single-object framing, raw bytes) */
  struct bus_conf bc = {.brokers = brokers, .prefix = prefix, .client_id = "test_client_registry"};
  char requests_subject[128], jobs_subject[128];
  snprintf(requests_subject, sizeof requests_subject, "%srequests-value", prefix);
  snprintf(jobs_subject, sizeof jobs_subject, "%sjobs-value", prefix);

  mock_cluster_configure(&bc);
  struct bus_producer *prod = bus_producer_new(&bc, NULL, err, sizeof err);
  CHECK(prod != NULL, "%s", err);
  if (!prod) return check_summary();

  int rc;
  const char *req = "{\"jobName\":\"j\",\"jobQueue\":\"q\",\"jobDefinition\":\"jd\"}";
  TEST("client A, registry A: its request is framed with registry A's id");
  struct barge_client *a = barge_client_new(brokers, prefix, err, sizeof err);
  CHECK(a != NULL, "%s", err);
  CHECK_INT(barge_client_set(a, "schema.registry.url", ra.url, err, sizeof err), BARGE_OK);
  char ida[64] = "";
  rc = barge_submit_job(a, req, ida, sizeof ida, err, sizeof err);
  CHECK(rc == BARGE_OK, "%d %s", rc, err);
  int32_t a_req = reg_id_of(&ra, requests_subject), a_jobs = reg_id_of(&ra, jobs_subject);
  CHECK(a_req > 100 && a_jobs > 100, "registry A's ids: %d %d", (int)a_req, (int)a_jobs);
  CHECK_INT(request_schema_id(&bc, ida), a_req);
  CHECK_INT(write_record(prod, ida, a_jobs), 0);
  struct barge_job_state st;
  CHECK_INT(barge_job_status(a, ida, &st, NULL, err, sizeof err), BARGE_OK);

  TEST("client B, created afterwards with registry B: framed with registry B's id, read through it");
  struct barge_client *b = barge_client_new(brokers, prefix, err, sizeof err);
  CHECK(b != NULL, "%s", err);
  CHECK_INT(barge_client_set(b, "schema.registry.url", rb.url, err, sizeof err), BARGE_OK);
  char idb[64] = "";
  rc = barge_submit_job(b, req, idb, sizeof idb, err, sizeof err);
  CHECK(rc == BARGE_OK, "%d %s", rc, err);
  int32_t b_req = reg_id_of(&rb, requests_subject), b_jobs = reg_id_of(&rb, jobs_subject);
  CHECK(b_req > 200 && b_jobs > 200, "registry B's ids: %d %d", (int)b_req, (int)b_jobs);
  if (rc == BARGE_OK) {
    CHECK_INT(request_schema_id(&bc, idb), b_req);
    CHECK_INT(write_record(prod, idb, b_jobs), 0);
    memset(&st, 0, sizeof st);
    rc = barge_job_status(b, idb, &st, NULL, err, sizeof err);
    CHECK(rc == BARGE_OK && !strcmp(st.status, "RUNNING"), "%d %s %s", rc, st.status, err);
  }

  TEST("client A after B: reads its job's record and submits through registry A still");
  memset(&st, 0, sizeof st);
  err[0] = 0;
  rc = barge_job_status(a, ida, &st, NULL, err, sizeof err);
  CHECK(rc == BARGE_OK && !strcmp(st.status, "RUNNING"), "%d %s %s", rc, st.status, err);
  char ida2[64] = "";
  rc = barge_submit_job(a, req, ida2, sizeof ida2, err, sizeof err);
  CHECK(rc == BARGE_OK, "%d %s", rc, err);
  if (rc == BARGE_OK) CHECK_INT(request_schema_id(&bc, ida2), a_req);

  TEST("ids are per registry: A does not decode a registry-B record (registry A answers 404 for its id)");
  if (*idb) {
    pthread_mutex_lock(&ra.mu);
    int unknown_before = ra.fetches_unknown;
    pthread_mutex_unlock(&ra.mu);
    rc = barge_job_status(a, idb, &st, NULL, err, sizeof err);
    CHECK(rc == BARGE_ERR_NOT_FOUND, "%d %s", rc, err);
    pthread_mutex_lock(&ra.mu);
    CHECK(ra.fetches_unknown == unknown_before + 1, "registry A asked %d times for an id it never gave",
          ra.fetches_unknown - unknown_before);
    pthread_mutex_unlock(&ra.mu);
  }

  TEST("client C, a registry that does not answer: BARGE_ERR_REGISTRY naming it; A still works");
  struct barge_client *c = barge_client_new(brokers, prefix, err, sizeof err);
  CHECK(c != NULL, "%s", err);
  CHECK_INT(barge_client_set(c, "schema.registry.url", "http://127.0.0.1:1/nothing", err, sizeof err), BARGE_OK);
  char idc[64] = "";
  rc = barge_submit_job(c, req, idc, sizeof idc, err, sizeof err);
  CHECK(rc == BARGE_ERR_REGISTRY && strstr(err, "127.0.0.1:1/nothing"), "%d %s", rc, err);
  memset(&st, 0, sizeof st);
  rc = barge_job_status(a, ida, &st, NULL, err, sizeof err);
  CHECK(rc == BARGE_OK && !strcmp(st.status, "RUNNING"), "%d %s %s", rc, st.status, err);
  char ida3[64] = "";
  rc = barge_submit_job(a, req, ida3, sizeof ida3, err, sizeof err);
  CHECK(rc == BARGE_OK, "%d %s", rc, err);
  if (rc == BARGE_OK) CHECK_INT(request_schema_id(&bc, ida3), a_req);

  barge_client_free(c);
  barge_client_free(b);
  barge_client_free(a);
  bus_producer_free(prod);
  mock_cluster_stop(&m);
  reg_stop(&ra);
  reg_stop(&rb);
  return check_summary();
}
