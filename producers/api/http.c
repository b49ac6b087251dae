/* http.c: the AWS Batch REST-JSON server (see http.h): api_handle, the request path without
 * sockets, and the libmicrohttpd shell around it. */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "dash.h"
#include "logs_api.h"
#include "routes.h"
#include "util.h"

/* no call: api_handle answers ServerException "not wired" */
const struct api_ops api_ops_unwired = {NULL, NULL};

/* ---------------------------------------------------------------------------- the core -- */

static void set_json(struct api_http_response *out, int status, json_t *body /* @owned */) {
  out->status = status;
  out->body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
  out->body_len = out->body ? strlen(out->body) : 0;
  json_decref(body);
}

static void set_error(struct api_http_response *out, int status, const char *type, const char *fmt, ...)
    BARGE_PRINTF(4, 5);
static void set_error(struct api_http_response *out, int status, const char *type, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  utf8_fix(msg);
  out->error_type = type;
  set_json(out, status, json_pack("{s:s, s:s}", "__type", type, "message", msg));
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes n bytes into a new string ('+' stays '+' unless plus_space: SDKs encode spaces
 * as %20, a browser's form encoding as '+'). */
char *api_pct_decode(const char *s, size_t n, int plus_space) {
  char *out = xmalloc(n + 1), *o = out;
  for (size_t i = 0; i < n; i++) {
    int h, l;
    if (s[i] == '%' && i + 2 < n && (h = hexval(s[i + 1])) >= 0 && (l = hexval(s[i + 2])) >= 0) {
      *o++ = (char)(h * 16 + l);
      i += 2;
    } else {
      *o++ = plus_space && s[i] == '+' ? ' ' : s[i];
    }
  }
  *o = 0;
  return out;
}

/* Every value of the query parameter name, decoded, as a JSON array. */
static json_t *query_values(const char *q, const char *name) {
  json_t *arr = json_array();
  for (const char *p = q; p && *p;) {
    size_t len = strcspn(p, "&");
    const char *eq = memchr(p, '=', len);
    size_t klen = eq ? (size_t)(eq - p) : len;
    char *k = api_pct_decode(p, klen, 0);
    if (!strcmp(k, name)) {
      char *v = eq ? api_pct_decode(eq + 1, len - klen - 1, 0) : xstrdup("");
      json_array_append_new(arr, json_string(v));
      free(v);
    }
    free(k);
    p += len;
    if (*p == '&') p++;
  }
  return arr;
}

/* One CloudWatch Logs request (JSON 1.1: POST / with a JSON object body). Every action is a
 * read, so read-only keys may call it. */
static void logs_handle(const struct api_conf *conf, const struct api_http_request *rq, const char *action,
                        const char *path, struct api_http_response *out) {
  out->content_type = "application/x-amz-json-1.1";
  out->operation = action;
  if (strcmp(rq->method, "POST") || strcmp(path, "/")) {
    set_error(out, 404, "UnknownOperationException", "CloudWatch Logs requests are POST /, not %s %.200s", rq->method, path);
    return;
  }
  json_error_t je;
  json_t *req = rq->body_len ? json_loadb(rq->body, rq->body_len, 0, &je) : json_object();
  if (!json_is_object(req)) {
    set_error(out, 400, "SerializationException", "The request body is not a JSON object");
    json_decref(req);
    return;
  }
  json_t *resp = NULL;
  const char *type = NULL;
  char msg[1024];
  int status = logs_call(conf->logs, action, req, &resp, &type, msg, sizeof msg);
  if (status == 200) set_json(out, 200, resp);
  else set_error(out, status, type, "%s", msg);
  json_decref(req);
}

void api_handle(const struct api_conf *conf, const struct api_http_request *rq, struct api_http_response *out) {
  memset(out, 0, sizeof *out);
  uuid_v4(out->request_id);
  size_t limit = conf->max_body_bytes ? conf->max_body_bytes : API_MAX_BODY_BYTES;
  if (rq->body_too_large) {
    set_error(out, 413, "ClientException", "The request body is larger than Barge's limit of %zu bytes", limit);
    return;
  }
  /* the request target: path ? query */
  const char *qmark = strchr(rq->raw_uri, '?');
  size_t path_len = qmark ? (size_t)(qmark - rq->raw_uri) : strlen(rq->raw_uri);
  char *path = xmalloc(path_len + 1);
  memcpy(path, rq->raw_uri, path_len);
  path[path_len] = 0;
  const char *query = qmark ? qmark + 1 : NULL;
  json_t *req = NULL;

  /* CloudWatch Logs (JSON 1.1) is told apart by its X-Amz-Target (logs_api.h) */
  const char *target = NULL;
  for (size_t i = 0; i < rq->n_headers && !target; i++)
    if (!strcasecmp(rq->headers[i].name, "x-amz-target")) target = rq->headers[i].value;
  int logs = target && !strncmp(target, LOGS_TARGET_PREFIX, strlen(LOGS_TARGET_PREFIX));

  /* who is asking */
  struct api_principal who = {0};
  const struct api_credential *cred = NULL;
  struct sigv4_request sr = {rq->method, path, query, rq->headers, rq->n_headers, rq->body, rq->body_len};
  if (sigv4_present(&sr) && conf->creds) {
    struct sigv4_verdict v;
    int64_t now = conf->clock_ms ? conf->clock_ms() : now_ms();
    if (sigv4_verify(&sr, conf->creds, conf->region, logs ? "logs" : "batch", now, &v) != SIGV4_OK) {
      set_error(out, v.http_status, v.error_type, "%s", v.message);
      goto out;
    }
    cred = v.cred;
    who = (struct api_principal){v.cred->access_key, v.cred->profile, v.cred->account_id, v.cred->read_only, 0};
  } else if (!conf->allow_anonymous) {
    set_error(out, 403, "MissingAuthenticationTokenException", "Missing Authentication Token");
    goto out;
  }
  if (conf->limiter && !api_ratelimit_take(conf->limiter, cred, conf->mono_us ? conf->mono_us() : mono_us())) {
    set_error(out, 429, "TooManyRequestsException", "Too Many Requests");
    goto out;
  }

  if (logs) {
    logs_handle(conf, rq, target + strlen(LOGS_TARGET_PREFIX), path, out);
    goto out;
  }

  const char *label;
  size_t label_len;
  const struct api_route *route = api_route_find(rq->method, path, &label, &label_len);
  if (!route) {
    set_error(out, 404, "UnknownOperationException", "No AWS Batch operation is %s %.200s", rq->method, path);
    goto out;
  }
  out->operation = route->operation;
  if (who.read_only && !route->read_only) {
    set_error(out, 403, "AccessDeniedException", "User: arn:aws:iam::%s:user/%s is not authorized to perform: batch:%s",
              who.account_id ? who.account_id : "000000000000", who.profile, route->operation);
    goto out;
  }

  if (rq->body_len) {
    json_error_t je;
    req = json_loadb(rq->body, rq->body_len, 0, &je);
    if (!req) {
      set_error(out, 400, "ClientException", "The request body is not valid JSON: %s (line %d, column %d)", je.text,
                je.line, je.column);
      goto out;
    }
    if (!json_is_object(req)) {
      set_error(out, 400, "ClientException", "The request body must be a JSON object");
      goto out;
    }
  } else {
    req = json_object();
  }
  if (route->uri_member) {
    char *v = api_pct_decode(label, label_len, 0);
    json_object_set_new(req, route->uri_member, json_string(v));
    free(v);
  }
  if (route->query_member) {
    json_t *vals = query_values(query, route->query_name);
    if (json_array_size(vals)) json_object_set_new(req, route->query_member, vals);
    else json_decref(vals);
  }

  for (size_t i = 0; i < rq->n_headers; i++) /* the `barge` command line's reads (docs/api.md) */
    if (!strcasecmp(rq->headers[i].name, API_SYNC_READ_HEADER)) who.sync_read = 1;
  json_t *resp = NULL;
  char err[2048] = "";
  int rc = conf->ops && conf->ops->call
               ? conf->ops->call(conf->ops->ctx, &who, route->operation, req, &resp, err, sizeof err)
               : (snprintf(err, sizeof err, "%s: Barge's API is not wired to the operations yet", route->operation), 500);
  if (rc == 0) {
    set_json(out, 200, resp ? resp : json_object());
    resp = NULL;
  } else if (rc == 400) {
    set_error(out, 400, "ClientException", "%s", err);
  } else {
    set_error(out, 500, "ServerException", "%s", *err ? err : "internal error");
  }
  json_decref(resp);
out:
  json_decref(req);
  free(path);
}

void api_http_response_release(struct api_http_response *out) {
  if (!out) return;
  free(out->body);
  out->body = NULL;
}

/* ------------------------------------------------------------------ the libmicrohttpd shell -- */

struct api_server {
  struct MHD_Daemon *d;
  const struct api_conf *conf;
  size_t limit;
  char address[300];
};

/* One request in flight: created by the URI log callback (which sees the raw request target,
 * before libmicrohttpd unescapes it), freed when the request completes. */
struct conn {
  char *raw_uri;
  int started;
  int too_large;
  int64_t start_ms;
  size_t received; /* body bytes read, kept or dropped */
  struct buf body;
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con) {
  (void)cls;
  (void)con;
  struct conn *c = xcalloc(1, sizeof *c);
  c->raw_uri = xstrdup(uri ? uri : "/");
  buf_init(&c->body);
  return c;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)con;
  (void)toe;
  struct conn *c = *con_cls;
  if (!c) return;
  buf_release(&c->body);
  free(c->raw_uri);
  free(c);
  *con_cls = NULL;
}

struct header_list {
  struct sigv4_header h[API_MAX_HEADERS];
  size_t n;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  struct header_list *l = cls;
  if (l->n == API_MAX_HEADERS) return MHD_NO;
  l->h[l->n++] = (struct sigv4_header){key, value};
  return MHD_YES;
}

static enum MHD_Result send_response(struct MHD_Connection *con, struct api_http_response *r) {
  char *body = r->body ? r->body : xstrdup("{}");
  size_t len = r->body ? r->body_len : 2;
  r->body = NULL;
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : "application/json");
  MHD_add_response_header(resp, "x-amzn-RequestId", r->request_id);
  if (r->error_type) MHD_add_response_header(resp, "x-amzn-ErrorType", r->error_type);
  enum MHD_Result ok = MHD_queue_response(con, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  (void)url;
  (void)version;
  struct api_server *s = cls;
  struct conn *c = *con_cls;
  if (!c) return MHD_NO; /* the URI callback always runs first */
  if (!c->started) {
    c->started = 1;
    c->start_ms = mono_ms();
    const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *expect = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
    if (len > s->limit) c->too_large = 1;
    /* A client that waits for "100 Continue", or announces an absurd body, is answered at once
     * (libmicrohttpd then closes the connection rather than read the body). Any other client is
     * already sending: its body is read and dropped so that it can read the 413 rather than
     * fail with a broken pipe. */
    if (c->too_large && (len > API_DRAIN_MAX_BYTES || (expect && !strcasecmp(expect, "100-continue")))) {
      struct api_http_request rq = {.method = method, .raw_uri = c->raw_uri, .body_too_large = 1};
      struct api_http_response r;
      api_handle(s->conf, &rq, &r);
      log_info("%s %s -> %d (Content-Length %s)", method, c->raw_uri, r.status, cl);
      enum MHD_Result ok = send_response(con, &r);
      api_http_response_release(&r);
      return ok;
    }
    return MHD_YES;
  }
  if (*upload_data_size) {
    if (mono_ms() - c->start_ms > API_REQUEST_TIMEOUT_MS) {
      log_warn("%s %s: body still arriving after %d ms, connection closed", method, c->raw_uri,
               API_REQUEST_TIMEOUT_MS);
      return MHD_NO;
    }
    if (!c->too_large && c->body.len + *upload_data_size > s->limit) {
      c->too_large = 1; /* read and drop the rest, then answer 413 */
      buf_release(&c->body);
    }
    if (!c->too_large) buf_append(&c->body, upload_data, *upload_data_size);
    c->received += *upload_data_size;
    if (c->received > API_DRAIN_MAX_BYTES) {
      log_warn("%s %s: body over %d bytes, connection closed", method, c->raw_uri, API_DRAIN_MAX_BYTES);
      return MHD_NO;
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (s->conf->dash && dash_path(c->raw_uri)) /* the web dashboard (dash.h): its own handler */
    return dash_serve(s->conf->dash, con, method, c->raw_uri, c->body.data, c->body.len, c->too_large) ? MHD_YES : MHD_NO;
  struct header_list *hl = xmalloc(sizeof *hl);
  hl->n = 0;
  MHD_get_connection_values(con, MHD_HEADER_KIND, collect_header, hl);
  struct api_http_request rq = {method, c->raw_uri, hl->h, hl->n, c->body.data, c->body.len, c->too_large};
  struct api_http_response r;
  int64_t t0 = mono_ms();
  api_handle(s->conf, &rq, &r);
  /* refusals at info; answered and throttled requests at debug (BARGE_LOG=debug): a line per
   * request at thousands of requests a second costs a write each and fills the log */
  log_msg(r.status == 200 || r.status == 429 ? LOG_DEBUG : LOG_INFO, "%s %s %s -> %d%s%s (%lld ms) %s", method, c->raw_uri,
          r.operation ? r.operation : "-", r.status, r.error_type ? " " : "", r.error_type ? r.error_type : "",
          (long long)(mono_ms() - t0), r.request_id);
  enum MHD_Result ok = send_response(con, &r);
  api_http_response_release(&r);
  free(hl);
  return ok;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && msg[n - 1] == '\n') msg[--n] = 0;
  log_warn("http: %s", msg);
}

struct api_server *api_server_start(const struct api_conf *conf, const char *listen, char *err, size_t errlen) {
  char host[256];
  const char *colon = strrchr(listen, ':');
  if (!colon || colon == listen || !colon[1]) {
    snprintf(err, errlen, "--listen must be HOST:PORT, got '%s'", listen);
    return NULL;
  }
  const char *h = listen;
  size_t hl = (size_t)(colon - listen);
  if (*h == '[' && hl >= 2 && h[hl - 1] == ']') h++, hl -= 2; /* [::1]:8780 */
  snprintf(host, sizeof host, "%.*s", (int)hl, h);
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 0 || port > 65535) {
    snprintf(err, errlen, "--listen: bad port in '%s'", listen);
    return NULL;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  int gai = getaddrinfo(host, colon + 1, &hints, &ai);
  if (gai) {
    snprintf(err, errlen, "--listen %s: %s", listen, gai_strerror(gai));
    return NULL;
  }
  struct api_server *s = xcalloc(1, sizeof *s);
  s->conf = conf;
  s->limit = conf->max_body_bytes ? conf->max_body_bytes : API_MAX_BODY_BYTES;
  unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  /* A write waits for its delivery report (docs/api.md "The write path"): with a thread per
   * connection every connection has a request in flight, and they share the producer's batches;
   * a pool of N threads serves at most N requests at once. */
  unsigned pool = conf->threads;
  if (!pool) flags |= MHD_USE_THREAD_PER_CONNECTION;
  /* the options that depend on conf: the pool's size, TLS's key and certificate */
  struct MHD_OptionItem more[6] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL},
                                   {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
  size_t nmore = 0;
  /* an inherited socket, already bound and listening; else MHD binds ai's address */
  if (conf->listen_fd > 0) more[nmore++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, conf->listen_fd, NULL};
  else more[nmore++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr};
  if (pool) more[nmore++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, pool, NULL};
  if (conf->tls_cert_pem && conf->tls_key_pem) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      snprintf(err, errlen, "this libmicrohttpd was built without TLS");
      freeaddrinfo(ai);
      free(s);
      return NULL;
    }
    flags |= MHD_USE_TLS;
    more[nmore++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)conf->tls_key_pem};
    more[nmore++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)conf->tls_cert_pem};
  }
  s->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s,
                          MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                          MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_IDLE_TIMEOUT_S,
                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS,
                          MHD_OPTION_ARRAY, more,
                          MHD_OPTION_END);
  int family = ai->ai_family;
  freeaddrinfo(ai);
  if (!s->d) {
    snprintf(err, errlen, "cannot listen on %s (address in use or not local?%s)", listen,
             conf->tls_cert_pem ? " or the TLS certificate and key do not load" : "");
    free(s);
    return NULL;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  unsigned bound = info ? info->port : (unsigned)port;
  if (family == AF_INET6) snprintf(s->address, sizeof s->address, "[%s]:%u", host, bound);
  else snprintf(s->address, sizeof s->address, "%s:%u", host, bound);
  return s;
}

const char *api_server_address(const struct api_server *s) { return s->address; }

void api_server_stop(struct api_server *s) {
  if (!s) return;
  dash_shutdown(s->conf->dash); /* its live streams end, so that their threads can be joined */
  MHD_stop_daemon(s->d);
  free(s);
}
