/* registry.c: the Confluent-compatible Schema Registry client (see registry.h). */
#include "registry.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"

#define MAX_RESPONSE (8u << 20) /* a schema document is far smaller */
#define TRIES 3

/* ---------------- the process-wide URL ---------------- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *url_set;  /* registry_set_url, "" = disabled */
static int url_is_set; /* 0: fall back to the environment */

void registry_set_url(const char *url) {
  pthread_mutex_lock(&lock);
  free(url_set);
  url_set = url ? xstrdup(url) : NULL;
  url_is_set = url != NULL;
  pthread_mutex_unlock(&lock);
}

const char *registry_url(void) {
  const char *u;
  pthread_mutex_lock(&lock);
  u = url_is_set ? url_set : getenv("BARGE_SCHEMA_REGISTRY_URL");
  pthread_mutex_unlock(&lock);
  return u && *u ? u : NULL;
}

/* ---------------- HTTP ---------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

struct id_entry {
  int32_t id;
  char *schema;
  int type; /* -2 not yet known, -1 not Barge's */
};

struct reg_entry {
  char *subject;
  char *schema;
  int32_t id;
};

/* After the registry did not answer a fetch (three tries), others are not sent for this long:
 * they fail at once with the same reason. Without it, a reader of a topic of Confluent-framed
 * records (replay print, watch) spent its tries and backoff on every record, 0.6 s each. */
#define DOWN_MS 10000

struct registry {
  char *url; /* without a trailing slash; "" = no registry */
  struct codec_ids *codec; /* the codec's table of this registry's ids, resolve_id for others */
  char **prefixes;       /* whose schemas are registered (registry_use) */
  size_t nprefixes;
  struct id_entry *ids;
  size_t nids;
  struct reg_entry *regs;
  size_t nregs;
  int64_t down_until; /* mono ms: fetches fail at once until then */
  char down_why[512];
  pthread_mutex_t mu;
};

static int resolve_id(void *ctx, int32_t id, char *err, size_t errlen);

struct registry *registry_new(const char *url) {
  pthread_once(&curl_once, curl_init);
  struct registry *r = xcalloc(1, sizeof *r);
  r->url = xstrdup(url ? url : "");
  size_t n = strlen(r->url);
  while (n > 0 && r->url[n - 1] == '/') r->url[--n] = 0;
  r->codec = codec_ids_new(*r->url ? resolve_id : NULL, r);
  pthread_mutex_init(&r->mu, NULL);
  return r;
}

const struct codec_ids *registry_ids(const struct registry *r) { return r->codec; }

void registry_free(struct registry *r) {
  if (!r) return;
  for (size_t i = 0; i < r->nids; i++) free(r->ids[i].schema);
  free(r->ids);
  for (size_t i = 0; i < r->nregs; i++) {
    free(r->regs[i].subject);
    free(r->regs[i].schema);
  }
  free(r->regs);
  for (size_t i = 0; i < r->nprefixes; i++) free(r->prefixes[i]);
  free(r->prefixes);
  codec_ids_free(r->codec);
  pthread_mutex_destroy(&r->mu);
  free(r->url);
  free(r);
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx) {
  struct buf *b = ctx;
  size_t len = size * n;
  if (b->len + len > MAX_RESPONSE) return 0; /* aborts the transfer */
  buf_append(b, p, len);
  return len;
}

/* Percent-encodes a path segment (subjects may hold any character). */
static void path_segment(struct buf *o, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        *p == '-' || *p == '_' || *p == '.' || *p == '~')
      buf_append(o, p, 1);
    else
      buf_printf(o, "%%%02X", *p);
  }
}

/* One request; retries transport failures, 5xx, 408 and 429. 0 with the parsed JSON answer in
 * *out (owned), or -1 with err; UNAVAILABLE (with err) when the registry still did not answer,
 * or answered 5xx, 408 or 429, after the retries, or answered 401 or 403: nothing was learnt
 * about the request. */
#define UNAVAILABLE (-2)
static int http(struct registry *r, const char *method, const char *path, const char *body,
                json_t **out, char *err, size_t errlen) {
  *out = NULL;
  char urlbuf[4096];
  snprintf(urlbuf, sizeof urlbuf, "%s%s", r->url, path);
  for (int attempt = 1;; attempt++) {
    CURL *c = curl_easy_init();
    if (!c) {
      snprintf(err, errlen, "schema registry: curl_easy_init failed");
      return -1;
    }
    struct buf resp;
    buf_init(&resp);
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Accept: application/vnd.schemaregistry.v1+json, application/json");
    if (body) hdr = curl_slist_append(hdr, "Content-Type: application/vnd.schemaregistry.v1+json");
    curl_easy_setopt(c, CURLOPT_URL, urlbuf);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cr = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    /* 408 and 429 (a timeout, too many requests: a managed registry's rate limit) pass like 5xx */
    int transient = cr != CURLE_OK || status >= 500 || status == 408 || status == 429;
    if (transient && attempt < TRIES) {
      buf_release(&resp);
      usleep((useconds_t)(200000 * attempt));
      continue;
    }
    if (cr != CURLE_OK) {
      snprintf(err, errlen, "schema registry %s %s: %s", method, urlbuf, curl_easy_strerror(cr));
      buf_release(&resp);
      return UNAVAILABLE;
    }
    json_error_t je;
    json_t *v = resp.len ? json_loadb((const char *)resp.data, resp.len, 0, &je) : NULL;
    if (status < 200 || status > 299) {
      const char *msg = json_string_value(json_object_get(v, "message"));
      json_int_t code = json_integer_value(json_object_get(v, "error_code"));
      snprintf(err, errlen, "schema registry %s %s: HTTP %ld%s%s (error_code %lld)", method,
               urlbuf, status, msg ? ": " : "", msg ? msg : "", (long long)code);
      json_decref(v);
      buf_release(&resp);
      /* 401 and 403 (credentials) tell nothing about the request either: a record whose schema
       * a service could not be told was dead-lettered, and the pipeline's job lost */
      return transient || status == 401 || status == 403 ? UNAVAILABLE : -1;
    }
    if (!v) {
      snprintf(err, errlen, "schema registry %s %s: the answer is not JSON", method, urlbuf);
      buf_release(&resp);
      return -1;
    }
    buf_release(&resp);
    *out = v;
    return 0;
  }
}

int registry_register(struct registry *r, const char *subject, const char *schema_json,
                      int32_t *id_out, char *err, size_t errlen) {
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->nregs; i++)
    if (!strcmp(r->regs[i].subject, subject) && !strcmp(r->regs[i].schema, schema_json)) {
      *id_out = r->regs[i].id;
      pthread_mutex_unlock(&r->mu);
      return 0;
    }
  pthread_mutex_unlock(&r->mu);
  struct buf path;
  buf_init(&path);
  buf_printf(&path, "/subjects/");
  path_segment(&path, subject);
  buf_printf(&path, "/versions");
  /* Apicurio Registry 3.x sniffs the content type and rewrites a string "{}" into an object {}
   * before parsing (AvroContentAccepter.removeQuotedBrackets), which breaks a string default
   * of "{}" (ConfigRecord has two): write that string as "\u007b}", the same JSON value. */
  struct buf text;
  buf_init(&text);
  for (const char *p = schema_json; *p; p++) {
    if (!strncmp(p, "\"{}\"", 4) && (p == schema_json || p[-1] != '\\')) {
      buf_printf(&text, "\"\\u007b}\"");
      p += 3;
    } else {
      buf_append(&text, p, 1);
    }
  }
  json_t *req = json_pack("{s:s, s:s}", "schema", text.data ? (const char *)text.data : "", "schemaType", "AVRO");
  buf_release(&text);
  char *body = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  json_t *resp = NULL;
  int rc = http(r, "POST", (const char *)path.data, body, &resp, err, errlen);
  free(body);
  buf_release(&path);
  if (rc) return -1;
  json_t *id = json_object_get(resp, "id");
  if (!json_is_integer(id) || json_integer_value(id) <= 0 || json_integer_value(id) > INT32_MAX) {
    snprintf(err, errlen, "schema registry: registering under %s gave no id", subject);
    json_decref(resp);
    return -1;
  }
  *id_out = (int32_t)json_integer_value(id);
  json_decref(resp);
  pthread_mutex_lock(&r->mu);
  r->regs = xrealloc(r->regs, (r->nregs + 1) * sizeof *r->regs);
  r->regs[r->nregs++] = (struct reg_entry){xstrdup(subject), xstrdup(schema_json), *id_out};
  pthread_mutex_unlock(&r->mu);
  return 0;
}

/* The cache entry of id (locked by the caller), or NULL. */
static struct id_entry *find_id(struct registry *r, int32_t id) {
  for (size_t i = 0; i < r->nids; i++)
    if (r->ids[i].id == id) return &r->ids[i];
  return NULL;
}

int registry_fetch(struct registry *r, int32_t id, char **schema_out, char *err, size_t errlen) {
  *schema_out = NULL;
  pthread_mutex_lock(&r->mu);
  struct id_entry *e = find_id(r, id);
  if (e) *schema_out = xstrdup(e->schema);
  int down = !e && mono_ms() < r->down_until;
  if (down) snprintf(err, errlen, "%s (not asked again for %d s)", r->down_why, DOWN_MS / 1000);
  pthread_mutex_unlock(&r->mu);
  if (*schema_out) return 0;
  if (down) return UNAVAILABLE;
  char path[64];
  snprintf(path, sizeof path, "/schemas/ids/%ld", (long)id);
  json_t *resp = NULL;
  int rc = http(r, "GET", path, NULL, &resp, err, errlen);
  if (rc == UNAVAILABLE) {
    pthread_mutex_lock(&r->mu);
    r->down_until = mono_ms() + DOWN_MS;
    snprintf(r->down_why, sizeof r->down_why, "%s", err);
    pthread_mutex_unlock(&r->mu);
  }
  if (rc) return rc;
  const char *s = json_string_value(json_object_get(resp, "schema"));
  const char *type = json_string_value(json_object_get(resp, "schemaType"));
  if (!s || (type && strcmp(type, "AVRO"))) {
    snprintf(err, errlen, "schema registry: id %ld is not an Avro schema", (long)id);
    json_decref(resp);
    return -1;
  }
  *schema_out = xstrdup(s);
  pthread_mutex_lock(&r->mu);
  if (!find_id(r, id)) {
    r->ids = xrealloc(r->ids, (r->nids + 1) * sizeof *r->ids);
    r->ids[r->nids++] = (struct id_entry){id, xstrdup(s), -2};
  }
  pthread_mutex_unlock(&r->mu);
  json_decref(resp);
  return 0;
}

int registry_latest(struct registry *r, const char *subject, int32_t *id_out, char **schema_out,
                    char *err, size_t errlen) {
  struct buf path;
  buf_init(&path);
  buf_printf(&path, "/subjects/");
  path_segment(&path, subject);
  buf_printf(&path, "/versions/latest");
  json_t *resp = NULL;
  int rc = http(r, "GET", (const char *)path.data, NULL, &resp, err, errlen);
  buf_release(&path);
  if (rc) return -1;
  json_t *id = json_object_get(resp, "id");
  const char *s = json_string_value(json_object_get(resp, "schema"));
  if (!json_is_integer(id) || !s) {
    snprintf(err, errlen, "schema registry: %s has no latest version", subject);
    json_decref(resp);
    return -1;
  }
  *id_out = (int32_t)json_integer_value(id);
  if (schema_out) *schema_out = xstrdup(s);
  json_decref(resp);
  return 0;
}

/* ---------------- Parsing Canonical Form (Avro specification) ---------------- */

int registry_canonical_form(const char *schema_json, struct buf *out, char *err, size_t errlen) {
  return codec_canonical_form_of(schema_json, out, err, errlen);
}

int registry_type_of_schema(const char *schema_json) {
  struct buf b;
  buf_init(&b);
  char err[256];
  int t = -1;
  if (registry_canonical_form(schema_json, &b, err, sizeof err) == 0) {
    for (int u = 0; u < BARGE_EV__COUNT && t < 0; u++) {
      const char *cf = codec_canonical_form((enum barge_ev_type)u);
      if (cf && b.data && !strcmp(cf, (const char *)b.data)) t = u;
    }
  }
  buf_release(&b);
  return t;
}

/* ---------------- Barge integration ---------------- */

static struct registry *global; /* the process's (registry_url()), never freed */

void registry_subject(const struct bus_conf *conf, enum bus_topic t, char *out, size_t outlen) {
  char topic[256];
  bus_topic_name(conf, t, topic, sizeof topic);
  snprintf(out, outlen, "%s-value", topic);
}

/* The codec's resolver of r's ids (ctx is r). */
static int resolve_id(void *ctx, int32_t id, char *err, size_t errlen) {
  struct registry *r = ctx;
  pthread_mutex_lock(&r->mu);
  struct id_entry *e = find_id(r, id);
  int known = e && e->type != -2 ? e->type : -2;
  pthread_mutex_unlock(&r->mu);
  if (known >= 0) return known;
  if (known == -1) {
    snprintf(err, errlen, "the registry's schema %ld is none of this build's event schemas", (long)id);
    return -1;
  }
  char *schema = NULL;
  int rc = registry_fetch(r, id, &schema, err, errlen);
  if (rc) return rc == UNAVAILABLE ? CODEC_ID_UNAVAILABLE : -1;
  int t = registry_type_of_schema(schema);
  free(schema);
  pthread_mutex_lock(&r->mu);
  e = find_id(r, id);
  if (e) e->type = t;
  pthread_mutex_unlock(&r->mu);
  if (t < 0)
    snprintf(err, errlen, "the registry's schema %ld is none of this build's event schemas (a different version cannot be decoded)", (long)id);
  return t;
}

int registry_use(struct registry *r, const struct bus_conf *conf, int producer, char *err, size_t errlen) {
  if (!*r->url || !producer) return 0;
  const char *prefix = conf->prefix ? conf->prefix : "barge.";
  int done = 0;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->nprefixes; i++)
    if (!strcmp(r->prefixes[i], prefix)) done = 1;
  pthread_mutex_unlock(&r->mu);
  if (done) return 0;
  /* every topic's schema under its subject; a type carried by one topic has one id */
  for (int t = 0; t < TOPIC__COUNT; t++) {
    enum barge_ev_type type = bus_topic_type((enum bus_topic)t);
    char subject[300];
    registry_subject(conf, (enum bus_topic)t, subject, sizeof subject);
    int32_t id = 0;
    if (registry_register(r, subject, codec_schema_json(type), &id, err, errlen)) return -1;
    codec_ids_set(r->codec, type, id);
    pthread_mutex_lock(&r->mu);
    if (!find_id(r, id)) {
      r->ids = xrealloc(r->ids, (r->nids + 1) * sizeof *r->ids);
      r->ids[r->nids++] = (struct id_entry){id, xstrdup(codec_schema_json(type)), (int)type};
    }
    pthread_mutex_unlock(&r->mu);
  }
  pthread_mutex_lock(&r->mu);
  r->prefixes = xrealloc(r->prefixes, (r->nprefixes + 1) * sizeof *r->prefixes);
  r->prefixes[r->nprefixes++] = xstrdup(prefix);
  pthread_mutex_unlock(&r->mu);
  log_debug("schema registry %s: schemas registered under %s*-value", r->url, prefix);
  return 0;
}

int registry_attach(const struct bus_conf *conf, int producer, char *err, size_t errlen) {
  if (conf->registry) return registry_use(conf->registry, conf, producer, err, errlen);
  const char *url = registry_url();
  if (!url) return 0;
  pthread_mutex_lock(&lock);
  if (!global) global = registry_new(url);
  struct registry *r = global;
  pthread_mutex_unlock(&lock);
  /* the process's table of ids (codec_encode, codec_decode, the services' writers and readers
   * without a tree) is this registry's: one registry per process. Another URL set later was
   * silently ignored, and records framed with the first registry's ids. (A client library
   * handle has a registry of its own, conf->registry, docs/publishing.md.) */
  size_t ulen = strlen(url);
  while (ulen > 0 && url[ulen - 1] == '/') ulen--;
  if (strlen(r->url) != ulen || strncmp(r->url, url, ulen)) {
    snprintf(err, errlen, "schema registry %.*s: this process already uses the schema registry %s (one per process)",
             (int)ulen, url, r->url);
    return -1;
  }
  codec_set_id_resolver(resolve_id, r);
  if (registry_use(r, conf, producer, err, errlen)) return -1;
  for (int t = 0; t < BARGE_EV__COUNT; t++) {
    int32_t id = codec_ids_get(r->codec, (enum barge_ev_type)t);
    if (id > 0) codec_set_schema_id((enum barge_ev_type)t, id);
  }
  return 0;
}
