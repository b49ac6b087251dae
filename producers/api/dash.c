/* dash.c: the dashboard's request path (dash.h): the embedded page, login and sessions, and
 * the routing of its JSON reads and actions (dash_jobs.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dash_int.h"
#include "http.h"
#include "jsonget.h"
#include "util.h"
#include "view_live.h"

struct dash *dash_new(const struct dash_conf *conf) {
  struct dash *d = xcalloc(1, sizeof *d);
  d->conf = *conf;
  pthread_mutex_init(&d->mu, NULL);
  pthread_mutex_init(&d->ev_mu, NULL);
  pthread_cond_init(&d->ev_cond, NULL);
  d->ring = xcalloc(DASH_EVENTS, sizeof *d->ring);
  d->clients = xcalloc(DASH_LOGIN_CLIENTS, sizeof *d->clients);
  d->next_seq = 1;
  if (d->conf.live) view_live_listen(d->conf.live, dash_events_listen, d);
  return d;
}

void dash_shutdown(struct dash *d) {
  if (!d) return;
  pthread_mutex_lock(&d->ev_mu);
  d->stopping = 1;
  pthread_cond_broadcast(&d->ev_cond);
  pthread_mutex_unlock(&d->ev_mu);
}

void dash_free(struct dash *d) {
  if (!d) return;
  if (d->conf.live) view_live_listen(d->conf.live, NULL, NULL);
  pthread_mutex_destroy(&d->mu);
  pthread_mutex_destroy(&d->ev_mu);
  pthread_cond_destroy(&d->ev_cond);
  free(d->ring);
  free(d->clients);
  free(d);
}

int64_t dash_now(const struct dash *d) { return d->conf.clock_ms ? d->conf.clock_ms() : now_ms(); }

int dash_path(const char *raw_uri) {
  size_t n = strlen(DASH_PREFIX);
  return !strncmp(raw_uri, DASH_PREFIX, n) && (raw_uri[n] == 0 || raw_uri[n] == '/' || raw_uri[n] == '?');
}

void dash_response_release(struct dash_response *out) {
  if (!out) return;
  if (!out->body_static) free(out->body);
  out->body = NULL;
}

/* ------------------------------------------------------------------------------ helpers -- */

char *dash_query(const char *q, const char *name) {
  size_t nl = strlen(name);
  for (const char *p = q; p && *p;) {
    size_t len = strcspn(p, "&");
    if (len > nl && p[nl] == '=' && !strncmp(p, name, nl)) return api_pct_decode(p + nl + 1, len - nl - 1, 1);
    if (len == nl && !strncmp(p, name, nl)) return xstrdup("");
    p += len;
    if (*p == '&') p++;
  }
  return NULL;
}

static void set_json(struct dash_response *out, int status, json_t *body /* @owned */) {
  out->status = status;
  out->content_type = "application/json";
  out->body = json_dumps(body, JSON_COMPACT);
  out->body_len = out->body ? strlen(out->body) : 0;
  json_decref(body);
}

static void set_error(struct dash_response *out, int status, const char *msg) {
  char m[1024];
  snprintf(m, sizeof m, "%s", msg);
  utf8_fix(m);
  set_json(out, status, json_pack("{s:s}", "error", m));
}

static const char *mime_of(const char *name) {
  const char *dot = strrchr(name, '.');
  if (dot && !strcmp(dot, ".html")) return "text/html; charset=utf-8";
  if (dot && !strcmp(dot, ".js")) return "text/javascript; charset=utf-8";
  if (dot && !strcmp(dot, ".css")) return "text/css; charset=utf-8";
  if (dot && !strcmp(dot, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

static int serve_asset(const char *name, struct dash_response *out) {
  for (size_t i = 0; i < dash_assets_count; i++) {
    if (strcmp(dash_assets[i].name, name)) continue;
    out->status = 200;
    out->content_type = mime_of(name);
    out->body = (char *)dash_assets[i].data;
    out->body_len = dash_assets[i].len;
    out->body_static = 1;
    return 0;
  }
  return -1;
}

static void set_cookie(struct dash *d, struct dash_response *out, const char *token) {
  snprintf(out->set_cookie, sizeof out->set_cookie, "%s=%s; Path=%s; HttpOnly; SameSite=Strict%s%s", DASH_COOKIE,
           token, DASH_PREFIX, *token ? "" : "; Max-Age=0", d->conf.secure ? "; Secure" : "");
}

/* ----------------------------------------------------------------------------- sessions -- */

static json_t *session_json(const struct dash_who *w) {
  return json_pack("{s:s, s:s?, s:b, s:s}", "profile", w->profile, "accessKey", w->who.access_key, "readOnly",
                   w->who.read_only, "csrf", w->csrf);
}

static void login(struct dash *d, const struct dash_request *rq, struct dash_response *out) {
  int wait_s = dash_login_wait(d, rq->client);
  if (wait_s > 0) {
    char m[256];
    snprintf(m, sizeof m, "too many failed logins from %.64s: try again in %d s", rq->client ? rq->client : "this address",
             wait_s);
    log_warn("dashboard: login from %s refused: too many failed logins", rq->client ? rq->client : "?");
    set_error(out, 429, m);
    out->retry_after = wait_s;
    return;
  }
  json_t *req = rq->body_len ? json_loadb(rq->body, rq->body_len, 0, NULL) : NULL;
  if (!json_is_object(req)) {
    json_decref(req);
    set_error(out, 400, "the login is a JSON object {\"accessKey\", \"secretKey\"}");
    return;
  }
  char token[65], csrf[65], err[256];
  if (dash_login(d, jget_str(req, "accessKey"), jget_str(req, "secretKey"), jget_str(req, "sessionToken"), token, csrf,
                 err, sizeof err)) {
    log_info("dashboard: login from %s refused: %s", rq->client ? rq->client : "?", err);
    dash_login_failed(d, rq->client);
    set_error(out, 401, err);
  } else {
    struct dash_who w;
    char cookie[128];
    snprintf(cookie, sizeof cookie, "%s=%s", DASH_COOKIE, token);
    dash_session_of(d, cookie, &w);
    log_info("dashboard: %s logged in", w.profile);
    set_json(out, 200, session_json(&w));
    set_cookie(d, out, token);
  }
  json_decref(req);
}

/* ------------------------------------------------------------------------------ routing -- */

/* The JSON API under /dashboard/api/ for a logged-in session w. */
static void api(struct dash *d, const struct dash_request *rq, const char *route, const char *q,
                const struct dash_who *w, struct dash_response *out) {
  int get = !strcmp(rq->method, "GET"), post = !strcmp(rq->method, "POST");
  json_t *resp = NULL;
  char err[1024] = "";
  int status = 0;
  if (get && !strcmp(route, "session")) status = 200, resp = session_json(w);
  else if (get && !strcmp(route, "overview")) status = dash_overview(d, &resp, err, sizeof err);
  else if (get && !strcmp(route, "jobs")) status = dash_jobs(d, q, &resp, err, sizeof err);
  else if (get && !strcmp(route, "job")) status = dash_job(d, w, q, &resp, err, sizeof err);
  else if (get && !strcmp(route, "children")) status = dash_children(d, q, &resp, err, sizeof err);
  else if (get && !strcmp(route, "log")) status = dash_log(d, q, &resp, err, sizeof err);
  else if (get && !strcmp(route, "ces")) status = dash_ces(d, w, q, &resp, err, sizeof err);
  else if (get && !strcmp(route, "explain")) status = dash_explain(d, q, &resp, err, sizeof err);
  else if (get && !strcmp(route, "usage")) status = dash_usage(d, q, &resp, err, sizeof err);
  else if (get && !strcmp(route, "shares")) status = dash_shares(d, &resp, err, sizeof err);
  else if (get && !strcmp(route, "changes")) {
    char *since = dash_query(q, "since");
    int reset = 0;
    json_t *evs = json_array();
    int64_t last = dash_events_since(d, since ? strtoll(since, NULL, 10) : 0, 1000, evs, &reset);
    free(since);
    status = 200, resp = json_pack("{s:I, s:b, s:o}", "seq", (json_int_t)last, "reset", reset, "events", evs);
  } else if (get && !strcmp(route, "events")) {
    out->status = 200;
    out->stream = 1;
    out->stream_seq = rq->last_event ? strtoll(rq->last_event, NULL, 10) : dash_events_last(d);
    return;
  } else if (post && (!strcmp(route, "logout") || !strcmp(route, "action") || !strcmp(route, "bulk"))) {
    if (!rq->csrf || !dash_same(rq->csrf, w->csrf)) {
      set_error(out, 403, "this request lacks the session's CSRF token (" DASH_CSRF_HEADER ")");
      return;
    }
    if (!strcmp(route, "logout")) {
      dash_logout(d, rq->cookie);
      set_cookie(d, out, "");
      set_json(out, 200, json_object());
      return;
    }
    if (w->who.read_only) {
      snprintf(err, sizeof err, "%s has a read-only key: it may look, not act", w->profile);
      set_error(out, 403, err);
      return;
    }
    json_t *req = rq->body_len ? json_loadb(rq->body, rq->body_len, 0, NULL) : NULL;
    if (!json_is_object(req)) status = 400, snprintf(err, sizeof err, "the request body must be a JSON object");
    else if (!strcmp(route, "action")) status = dash_action(d, w, req, &resp, err, sizeof err);
    else status = dash_bulk(d, w, req, &resp, err, sizeof err);
    json_decref(req);
  } else {
    snprintf(err, sizeof err, "the dashboard has no %s /dashboard/api/%.100s", rq->method, route);
    status = 404;
  }
  if (status == 200) set_json(out, 200, resp ? resp : json_object());
  else {
    json_decref(resp);
    set_error(out, status, *err ? err : "internal error");
  }
}

void dash_handle(struct dash *d, const struct dash_request *rq, struct dash_response *out) {
  memset(out, 0, sizeof *out);
  const char *qmark = strchr(rq->raw_uri, '?');
  size_t plen = qmark ? (size_t)(qmark - rq->raw_uri) : strlen(rq->raw_uri);
  char *path = xmalloc(plen + 1);
  memcpy(path, rq->raw_uri, plen);
  path[plen] = 0;
  const char *q = qmark ? qmark + 1 : "";
  const char *rest = path + strlen(DASH_PREFIX); /* "", "/", "/app.js", "/api/jobs" */
  if (rq->body_too_large) {
    set_error(out, 413, "the request body is too large");
  } else if (!*rest) {
    out->status = 302;
    out->location = DASH_PREFIX "/";
  } else if (!strncmp(rest, "/api/", 5)) {
    const char *route = rest + 5;
    if (!strcmp(route, "login") && !strcmp(rq->method, "POST")) {
      login(d, rq, out);
    } else {
      struct dash_who w;
      dash_session_of(d, rq->cookie, &w);
      if (!w.ok)
        set_json(out, 401, json_pack("{s:s, s:b}", "error", "not logged in", "anonymous", d->conf.allow_anonymous));
      else
        api(d, rq, route, q, &w, out);
    }
  } else if (strcmp(rq->method, "GET") && strcmp(rq->method, "HEAD")) {
    set_error(out, 405, "the dashboard's files are read with GET");
  } else if (serve_asset(!strcmp(rest, "/") ? "index.html" : rest + 1, out)) {
    set_error(out, 404, "no such file in the dashboard");
  }
  free(path);
}
