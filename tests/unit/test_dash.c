/* test_dash.c: the web dashboard's core without sockets or Kafka (producers/api/dash*.c) and the
 * job store's merged walk it pages with (consumers/views/jobs_store.c, jobs_order.c):
 * - the walk over several (queue, status) indexes against a sorted reference, both directions,
 *   page by page with cursors, after jobs moved and were deleted, and under a visit budget;
 * - the embedded files, the redirect, unknown paths;
 * - login with a key of the credentials file (a wrong secret and an unknown key answer alike;
 *   a key with a session token needs it), the cookie's attributes, sessions that expire, logout;
 * - CSRF: every POST but login needs the session's token; a read-only key may not act;
 * - actions go through the API's operations as the session's key, with a reason;
 * - the ring of status changes: since, a reader that fell behind is told to reset, the
 *   server-sent events' framing, keep-alives, and the end at shutdown. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dash_int.h"
#include "jobs_store.h"
#include "jsonget.h"

/* ------------------------------------------------------------------------ the walk -- */

struct ref {
  char id[16];
  int64_t at;
  int queue, status, live;
};
static const char *QS[] = {"arn:q/a", "arn:q/b", "arn:q/c"};

static json_t *rec_of(const struct ref *r) {
  return json_pack("{s:{s:s, s:s, s:s, s:s, s:I, s:s}}", "detail", "jobId", r->id, "jobName", r->id, "jobQueue",
                   QS[r->queue], "status", jobs_store_statuses[r->status], "createdAt", (json_int_t)r->at, "jobDefinition",
                   "jd");
}

static void put(struct jobs_store *s, const struct ref *r) {
  json_t *rec = rec_of(r);
  jobs_store_put(s, r->id, rec, NULL, 0);
  json_decref(rec);
}

/* ListJobs' order: newest first, then by id descending. */
static int ref_cmp(const void *a, const void *b) {
  const struct ref *x = a, *y = b;
  if (x->at != y->at) return x->at > y->at ? -1 : 1;
  return strcmp(y->id, x->id);
}

struct collect {
  char ids[64][16];
  size_t n, max;
};

static int collect(void *ctx, const struct vjob_info *j) {
  struct collect *c = ctx;
  snprintf(c->ids[c->n++], 16, "%s", j->id);
  return c->n >= c->max;
}

/* Pages through the walk (page rows at a time) and compares with the sorted reference. */
static int pages_match(struct jobs_store *s, struct ref *refs, size_t n, int queue, int status, int asc, size_t page) {
  struct ref *want = xcalloc(n, sizeof *want);
  size_t nw = 0;
  for (size_t i = 0; i < n; i++)
    if (refs[i].live && (queue < 0 || refs[i].queue == queue) && (status < 0 || refs[i].status == status))
      want[nw++] = refs[i];
  qsort(want, nw, sizeof *want, ref_cmp);
  const char *qarn = queue >= 0 ? QS[queue] : NULL, *st = status >= 0 ? jobs_store_statuses[status] : NULL;
  struct jobs_walk w = {qarn ? &qarn : NULL, qarn ? 1 : 0, st ? &st : NULL, st ? 1 : 0, asc, NULL, 0};
  if (jobs_store_walk_total(s, &w) != nw) {
    fprintf(stderr, "walk q%d s%d: total %zu, want %zu\n", queue, status, jobs_store_walk_total(s, &w), nw);
    free(want);
    return 0;
  }
  struct vjob_info after;
  char after_id[16];
  size_t got = 0;
  int ok = 1, ended = 0;
  while (ok && !ended) {
    struct collect c = {.max = page};
    jobs_store_walk(s, &w, collect, &c, &ended);
    for (size_t i = 0; i < c.n && ok; i++, got++) {
      const struct ref *r = &want[asc ? nw - 1 - got : got];
      ok = got < nw && !strcmp(c.ids[i], r->id);
      if (!ok) fprintf(stderr, "walk q%d s%d asc%d: row %zu is %s, want %s\n", queue, status, asc, got, c.ids[i],
                       got < nw ? r->id : "none");
    }
    if (!c.n) break;
    struct vjob_info last;
    jobs_store_info(s, c.ids[c.n - 1], &last);
    snprintf(after_id, sizeof after_id, "%s", last.id);
    after = (struct vjob_info){.id = after_id, .created_at = last.created_at};
    w.after = &after;
  }
  ok = ok && got == nw;
  free(want);
  return ok;
}

static void test_walk(void) {
  TEST("the merged walk: every filter, both directions, paged by cursor, after moves and deletions");
  enum { N = 1500 };
  struct ref *refs = xcalloc(N, sizeof *refs);
  struct jobs_store *s = jobs_store_new();
  srandom(7);
  for (int i = 0; i < N; i++) {
    snprintf(refs[i].id, sizeof refs[i].id, "j%05d", (int)(random() % 100000));
    refs[i].at = random() % 400; /* many ties on createdAt: the id decides */
    refs[i].queue = (int)(random() % 3);
    refs[i].status = (int)(random() % 7);
    refs[i].live = 1;
    for (int k = 0; k < i; k++)
      if (!strcmp(refs[k].id, refs[i].id)) refs[k].live = 0; /* the same id again replaces it */
    put(s, &refs[i]);
  }
  for (int i = 0; i < N; i += 3) { /* moves: a new status (a new place in another index) */
    if (!refs[i].live) continue;
    refs[i].status = (refs[i].status + 1) % 7;
    put(s, &refs[i]);
  }
  for (int i = 1; i < N; i += 7)
    if (refs[i].live) jobs_store_del(s, refs[i].id), refs[i].live = 0;
  int all_ok = 1;
  for (int q = -1; q < 3; q++)
    for (int st = -1; st < 7; st += (st < 0 ? 1 : 3))
      for (int asc = 0; asc < 2; asc++) all_ok &= pages_match(s, refs, N, q, st, asc, q < 0 ? 37 : 11);
  CHECK(all_ok, "every walk matches the sorted reference, and its total the reference's size");

  struct collect c = {.max = 64};
  struct jobs_walk w = {.budget = 5};
  int ended = 1;
  size_t visited = jobs_store_walk(s, &w, collect, &c, &ended);
  CHECK(visited == 5 && c.n == 5 && !ended, "a budget of 5 visits 5 jobs and says more remain (%zu, %d)", visited, ended);
  const char *none = "arn:q/none";
  struct jobs_walk empty = {.queues = &none, .nqueues = 1};
  visited = jobs_store_walk(s, &empty, collect, &c, &ended);
  CHECK(visited == 0 && ended, "a queue without jobs: nothing, and ended");

  size_t top[7], all[7], sum = 0, live = 0;
  jobs_store_counts(s, QS[1], top, all);
  for (int i = 0; i < 7; i++) sum += all[i];
  for (int i = 0; i < N; i++) live += refs[i].live && refs[i].queue == 1;
  CHECK_INT(sum, live);
  size_t every[7], total = 0;
  jobs_store_counts_every(s, every);
  for (int i = 0; i < 7; i++) total += every[i];
  CHECK_INT(total, jobs_store_count(s));
  jobs_store_free(s);
  free(refs);
}

static void test_children(void) {
  TEST("array children: counts by status under their parent");
  struct jobs_store *s = jobs_store_new();
  json_t *p = json_pack("{s:{s:s, s:s, s:s, s:s, s:I}}", "detail", "jobId", "p", "jobName", "arr", "jobQueue", QS[0],
                        "status", "PENDING", "createdAt", (json_int_t)5);
  jobs_store_put(s, "p", p, NULL, 0);
  json_decref(p);
  const char *st[] = {"SUCCEEDED", "SUCCEEDED", "FAILED", "RUNNING"};
  for (int i = 0; i < 4; i++) {
    char id[8];
    snprintf(id, sizeof id, "p:%d", i);
    json_t *c = json_pack("{s:{s:s, s:s, s:s, s:s, s:I, s:{s:i}}, s:s}", "detail", "jobId", id, "jobName", "arr", "jobQueue",
                          QS[0], "status", st[i], "createdAt", (json_int_t)5, "arrayProperties", "index", i, "parentJobId", "p");
    jobs_store_put(s, id, c, NULL, 0);
    json_decref(c);
  }
  size_t counts[7];
  CHECK_INT(jobs_store_child_counts(s, "p", counts), 4);
  CHECK(counts[5] == 2 && counts[6] == 1 && counts[4] == 1, "2 SUCCEEDED, 1 FAILED, 1 RUNNING");
  CHECK_INT(jobs_store_child_counts(s, "nobody", counts), 0);
  struct collect c = {.max = 64};
  jobs_store_walk(s, &(struct jobs_walk){0}, collect, &c, NULL);
  CHECK(c.n == 1 && !strcmp(c.ids[0], "p"), "the table walks top-level jobs only (%zu)", c.n);
  jobs_store_free(s);
}

/* ---------------------------------------------------------------- the request path -- */

static const char CREDS[] = "[admin]\naws_access_key_id = AKIAADMIN\naws_secret_access_key = s3cret\n"
                            "[viewer]\naws_access_key_id = AKIAVIEW\naws_secret_access_key = look\nbarge_role = read-only\n"
                            "[sess]\naws_access_key_id = ASIASESS\naws_secret_access_key = sk\naws_session_token = tok\n";

static int64_t fake_now = 1000000;
static int64_t clock_fake(void) { return fake_now; }

static char calls[1024];
static int ops_call(void *ctx, const struct api_principal *who, const char *op, const json_t *req, json_t **resp,
                    char *err, size_t errlen) {
  (void)ctx;
  const char *id = jget_str(req, "jobId");
  snprintf(calls + strlen(calls), sizeof calls - strlen(calls), "%s(%s,%s,%s);", op, id ? id : "-",
           who->profile ? who->profile : "anon", jget_str(req, "reason") ? jget_str(req, "reason") : "-");
  if (id && !strcmp(id, "bad")) return snprintf(err, errlen, "no such job"), 400;
  *resp = json_object();
  return 0;
}
static const struct api_ops fake_ops = {NULL, ops_call};

static const char *ask_client; /* the client address of the requests ask makes */

struct answer {
  int status;
  int retry_after;
  char cookie[256];
  json_t *body;
  char text[256];
  const char *type;
  const char *location;
};

static struct answer ask(struct dash *d, const char *method, const char *uri, const char *cookie, const char *csrf,
                         const char *body) {
  struct dash_request rq = {method, uri, cookie, csrf, NULL, body, body ? strlen(body) : 0, 0, ask_client};
  struct dash_response out;
  dash_handle(d, &rq, &out);
  struct answer a = {out.status, out.retry_after, "", NULL, "", out.content_type, out.location};
  snprintf(a.cookie, sizeof a.cookie, "%s", out.set_cookie);
  if (out.body) snprintf(a.text, sizeof a.text, "%.*s", (int)(out.body_len < 255 ? out.body_len : 255), out.body);
  if (out.body && !out.body_static) a.body = json_loadb(out.body, out.body_len, 0, NULL);
  dash_response_release(&out);
  return a;
}

/* "barge_dash=TOKEN" of a Set-Cookie header, into out. */
static void cookie_of(const struct answer *a, char *out, size_t n) {
  snprintf(out, n, "%.*s", (int)strcspn(a->cookie, ";"), a->cookie);
}

static void test_files(struct dash *d) {
  TEST("the embedded page and its files; the redirect; unknown paths");
  struct answer a = ask(d, "GET", "/dashboard", NULL, NULL, NULL);
  CHECK(a.status == 302 && a.location && !strcmp(a.location, "/dashboard/"), "/dashboard redirects to /dashboard/");
  a = ask(d, "GET", "/dashboard/", NULL, NULL, NULL);
  CHECK(a.status == 200 && strstr(a.type, "text/html") && strstr(a.text, "<!doctype html>"), "the page: %d %s", a.status, a.text);
  a = ask(d, "GET", "/dashboard/app.js", NULL, NULL, NULL);
  CHECK(a.status == 200 && strstr(a.type, "javascript"), "app.js is served as JavaScript");
  a = ask(d, "GET", "/dashboard/app.css", NULL, NULL, NULL);
  CHECK(a.status == 200 && strstr(a.type, "text/css"), "app.css is served as CSS");
  a = ask(d, "GET", "/dashboard/../etc/passwd", NULL, NULL, NULL);
  CHECK_INT(a.status, 404);
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/", NULL, NULL, "x");
  CHECK_INT(a.status, 405);
  json_decref(a.body);
  CHECK(dash_path("/dashboard") && dash_path("/dashboard/api/jobs?x=1") && !dash_path("/dashboardx") &&
            !dash_path("/v1/describejobs"),
        "dash_path tells the dashboard's targets apart");
}

static void test_login(struct dash *d) {
  TEST("login: keys of the credentials file, the cookie, sessions, logout, expiry");
  struct answer a = ask(d, "GET", "/dashboard/api/session", NULL, NULL, NULL);
  CHECK_INT(a.status, 401);
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, "{\"accessKey\":\"AKIAADMIN\",\"secretKey\":\"wrong\"}");
  struct answer b = ask(d, "POST", "/dashboard/api/login", NULL, NULL, "{\"accessKey\":\"AKIANOBODY\",\"secretKey\":\"s3cret\"}");
  CHECK(a.status == 401 && b.status == 401 && !strcmp(a.text, b.text) && !a.cookie[0],
        "a wrong secret and an unknown key: the same 401, no cookie (%s / %s)", a.text, b.text);
  json_decref(a.body), json_decref(b.body);
  a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, "not json");
  CHECK_INT(a.status, 400);
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, "{\"accessKey\":\"ASIASESS\",\"secretKey\":\"sk\"}");
  CHECK(a.status == 401, "a key with a session token needs the token");
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, "{\"accessKey\":\"ASIASESS\",\"secretKey\":\"sk\",\"sessionToken\":\"tok\"}");
  CHECK(a.status == 200, "... and logs in with it");
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, "{\"accessKey\":\"\",\"secretKey\":\"\"}");
  CHECK(a.status == 401, "no anonymous login unless the API allows anonymous requests");
  json_decref(a.body);

  a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, "{\"accessKey\":\"AKIAADMIN\",\"secretKey\":\"s3cret\"}");
  CHECK(a.status == 200 && strstr(a.cookie, "barge_dash=") && strstr(a.cookie, "HttpOnly") &&
            strstr(a.cookie, "SameSite=Strict") && strstr(a.cookie, "Path=/dashboard") && !strstr(a.cookie, "Secure"),
        "login: 200 and the cookie HttpOnly, SameSite=Strict, Path=/dashboard: %s", a.cookie);
  const char *csrf = jget_str(a.body, "csrf");
  CHECK(csrf && strlen(csrf) == 64 && !strstr(a.cookie, csrf), "a 64-digit CSRF token, not the cookie's value");
  CHECK_STR(jget_str(a.body, "profile"), "admin");
  char cookie[200], token[65];
  cookie_of(&a, cookie, sizeof cookie);
  snprintf(token, sizeof token, "%s", csrf ? csrf : "");
  json_decref(a.body);
  a = ask(d, "GET", "/dashboard/api/session", cookie, NULL, NULL);
  CHECK(a.status == 200 && !strcmp(jget_str(a.body, "csrf"), token), "the session answers with the same CSRF token");
  json_decref(a.body);
  char other[300];
  snprintf(other, sizeof other, "theme=dark; %s; x=y", cookie);
  a = ask(d, "GET", "/dashboard/api/session", other, NULL, NULL);
  CHECK(a.status == 200, "the cookie is found among others");
  json_decref(a.body);
  char forged[200];
  snprintf(forged, sizeof forged, "%s", cookie);
  forged[strlen(forged) - 1] ^= 1;
  a = ask(d, "GET", "/dashboard/api/session", forged, NULL, NULL);
  CHECK(a.status == 401, "a token one digit off is no session");
  json_decref(a.body);

  a = ask(d, "POST", "/dashboard/api/logout", cookie, NULL, "{}");
  CHECK(a.status == 403, "logout without the CSRF token: 403");
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/api/logout", cookie, "0000", "{}");
  CHECK(a.status == 403, "logout with a wrong CSRF token: 403");
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/api/logout", cookie, token, "{}");
  CHECK(a.status == 200 && strstr(a.cookie, "Max-Age=0"), "logout with it: 200, the cookie cleared");
  json_decref(a.body);
  a = ask(d, "GET", "/dashboard/api/session", cookie, NULL, NULL);
  CHECK(a.status == 401, "after logout the cookie is no session");
  json_decref(a.body);

  a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, "{\"accessKey\":\"AKIAADMIN\",\"secretKey\":\"s3cret\"}");
  cookie_of(&a, cookie, sizeof cookie);
  json_decref(a.body);
  fake_now += DASH_SESSION_IDLE_MS - 1000;
  a = ask(d, "GET", "/dashboard/api/session", cookie, NULL, NULL);
  CHECK(a.status == 200, "a session used within the idle time lives on");
  json_decref(a.body);
  fake_now += DASH_SESSION_IDLE_MS + 1;
  a = ask(d, "GET", "/dashboard/api/session", cookie, NULL, NULL);
  CHECK(a.status == 401, "a session idle longer than DASH_SESSION_IDLE_MS ends");
  json_decref(a.body);
}

static void test_login_limit(struct dash *d) {
  TEST("failed logins are limited per client address: 429 with Retry-After, then allowed again");
  const char *bad = "{\"accessKey\":\"AKIAADMIN\",\"secretKey\":\"guess\"}";
  const char *good = "{\"accessKey\":\"AKIAADMIN\",\"secretKey\":\"s3cret\"}";
  ask_client = "192.0.2.7";
  int n401 = 0;
  for (int i = 0; i < DASH_LOGIN_FAILS; i++) {
    struct answer a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, bad);
    n401 += a.status == 401;
    json_decref(a.body);
  }
  CHECK_INT(n401, DASH_LOGIN_FAILS);
  struct answer a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, bad);
  CHECK(a.status == 429 && strstr(a.text, "too many failed logins from 192.0.2.7") && a.retry_after > 0 &&
            a.retry_after <= DASH_LOGIN_REFILL_MS / 1000 + 1,
        "failure %d: 429 with a clear message and Retry-After %d: %s", DASH_LOGIN_FAILS + 1, a.retry_after, a.text);
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, good);
  CHECK(a.status == 429 && !a.cookie[0], "while refused, even the right secret gets no session (%d)", a.status);
  json_decref(a.body);
  ask_client = "192.0.2.8";
  a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, good);
  CHECK(a.status == 200, "another address logs in (%d)", a.status);
  json_decref(a.body);
  ask_client = "192.0.2.7";
  fake_now += DASH_LOGIN_REFILL_MS;
  a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, good);
  CHECK(a.status == 200, "one refill later the address may log in again (%d)", a.status);
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, bad);
  struct answer b = ask(d, "POST", "/dashboard/api/login", NULL, NULL, bad);
  CHECK(a.status == 401 && b.status == 429, "one failure allowed, the next refused (%d, %d)", a.status, b.status);
  json_decref(a.body), json_decref(b.body);
  ask_client = NULL;
}

/* Logs in; the cookie into cookie, the CSRF token into csrf. */
static void login_as(struct dash *d, const char *key, const char *secret, char *cookie, char *csrf) {
  char body[200];
  snprintf(body, sizeof body, "{\"accessKey\":\"%s\",\"secretKey\":\"%s\"}", key, secret);
  struct answer a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, body);
  cookie_of(&a, cookie, 200);
  snprintf(csrf, 65, "%s", jget_str(a.body, "csrf") ? jget_str(a.body, "csrf") : "");
  json_decref(a.body);
}

static void test_actions(struct dash *d) {
  TEST("actions: CSRF, read-only keys, each job one operation as the session's key");
  char cookie[200], csrf[65], vcookie[200], vcsrf[65];
  login_as(d, "AKIAADMIN", "s3cret", cookie, csrf);
  login_as(d, "AKIAVIEW", "look", vcookie, vcsrf);
  const char *body = "{\"action\":\"cancel\",\"jobIds\":[\"j1\",\"bad\"]}";
  calls[0] = 0;
  struct answer a = ask(d, "POST", "/dashboard/api/action", cookie, NULL, body);
  CHECK(a.status == 403 && !calls[0], "no CSRF token: 403 and no operation");
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/api/action", cookie, vcsrf, body);
  CHECK(a.status == 403 && !calls[0], "another session's CSRF token: 403");
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/api/action", vcookie, vcsrf, body);
  CHECK(a.status == 403 && strstr(a.text, "read-only") && !calls[0], "a read-only key may not act: %s", a.text);
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/api/action", cookie, csrf, body);
  CHECK(a.status == 200 && json_integer_value(json_object_get(a.body, "done")) == 1 &&
            json_array_size(json_object_get(a.body, "failed")) == 1,
        "one done, one failed: %s", a.text);
  CHECK(strstr(calls, "CancelJob(j1,admin,Cancelled from the dashboard by admin);") &&
            strstr(calls, "CancelJob(bad,admin,"),
        "CancelJob for each id as admin, with a reason: %s", calls);
  json_decref(a.body);
  calls[0] = 0;
  a = ask(d, "POST", "/dashboard/api/action", cookie, csrf, "{\"action\":\"terminate\",\"jobIds\":[\"j2\"],\"reason\":\"why\"}");
  CHECK(a.status == 200 && !strcmp(calls, "TerminateJob(j2,admin,why);"), "terminate with the given reason: %s", calls);
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/api/action", cookie, csrf, "{\"action\":\"delete\",\"jobIds\":[\"j2\"]}");
  CHECK_INT(a.status, 400);
  json_decref(a.body);
  a = ask(d, "POST", "/dashboard/api/bulk", cookie, csrf, "{\"action\":\"cancel\"}");
  CHECK(a.status == 503, "without a view, bulk answers 503 (%d)", a.status);
  json_decref(a.body);
  a = ask(d, "GET", "/dashboard/api/nothing", cookie, NULL, NULL);
  CHECK_INT(a.status, 404);
  json_decref(a.body);
}

static void change(struct dash *d, const char *id, const char *status, const char *prev) {
  struct vjob_info j = {.id = id, .name = "job-name", .status = status, .queue = "arn:aws:batch:x:1:job-queue/q1"};
  dash_events_listen(d, &j, prev);
}

static void test_events(struct dash *d) {
  TEST("live changes: the ring, resets, the stream's framing and end");
  int64_t start = dash_events_last(d);
  change(d, "j1", "SUBMITTED", NULL);
  change(d, "j1", "RUNNABLE", "SUBMITTED");
  json_t *evs = json_array();
  int reset = 1;
  int64_t last = dash_events_since(d, start, 100, evs, &reset);
  CHECK(json_array_size(evs) == 2 && !reset && last == start + 2, "two changes since the start");
  json_t *e = json_array_get(evs, 1);
  CHECK(!strcmp(jget_str(e, "status"), "RUNNABLE") && !strcmp(jget_str(e, "prev"), "SUBMITTED") &&
            !strcmp(jget_str(e, "queue"), "q1") && !strcmp(jget_str(e, "id"), "j1"),
        "a change names the job, its queue, its status and the one before");
  CHECK(json_object_get(json_array_get(evs, 0), "prev") == NULL, "a new job has no previous status");
  json_decref(evs);

  char buf[8192];
  int64_t seq = start;
  ssize_t n = dash_stream_read(d, &seq, buf, sizeof buf, 10);
  CHECK(n > 0 && seq == start + 2 && !strncmp(buf, "id: ", 4) && strstr(buf, "\nevent: job\ndata: {") &&
            strstr(buf, "\n\n"),
        "the stream frames each change as a server-sent event: %.*s", (int)(n > 0 ? n : 0), buf);
  n = dash_stream_read(d, &seq, buf, sizeof buf, 10);
  CHECK(n > 0 && buf[0] == ':', "nothing new: a keep-alive comment");
  for (int i = 0; i < DASH_EVENTS + 10; i++) change(d, "j2", i % 2 ? "RUNNING" : "RUNNABLE", "x");
  evs = json_array();
  dash_events_since(d, start, 5, evs, &reset);
  CHECK(reset && json_array_size(evs) == 5, "a reader more than the ring behind is told to reset");
  json_decref(evs);
  int64_t now_last = dash_events_last(d);
  evs = json_array();
  last = dash_events_since(d, INT64_MAX, 5, evs, &reset); /* ?since= from a client: any number (found by fuzz_dash) */
  CHECK(json_array_size(evs) == 0 && !reset && last == now_last, "since beyond every change: nothing, the last seq");
  json_decref(evs);
  evs = json_array();
  dash_events_since(d, INT64_MIN, 5, evs, &reset);
  CHECK(json_array_size(evs) == 5 && reset, "since far before the ring: a reset and the oldest kept");
  json_decref(evs);
  seq = start;
  n = dash_stream_read(d, &seq, buf, 300, 10);
  CHECK(n > 0 && n < 300 && !strncmp(buf, "event: reset", 12), "... on the stream too, within the buffer given");
  CHECK(dash_stream_open(d) == 0, "a stream opens");
  dash_stream_close(d);
  dash_shutdown(d);
  CHECK(dash_stream_read(d, &seq, buf, sizeof buf, 1000) == -1, "after shutdown the stream ends");
  CHECK(dash_stream_open(d) == -1, "and no new one opens");
}

static void test_anonymous(const struct api_credentials *creds) {
  TEST("anonymous: with --allow-anonymous a login without a key");
  struct dash_conf conf = {.creds = creds, .allow_anonymous = 1, .ops = &fake_ops, .max_streams = 1};
  struct dash *d = dash_new(&conf);
  struct answer a = ask(d, "POST", "/dashboard/api/login", NULL, NULL, "{}");
  CHECK(a.status == 200 && !strcmp(jget_str(a.body, "profile"), "anonymous"), "anonymous login: %s", a.text);
  json_decref(a.body);
  CHECK(dash_stream_open(d) == 0 && dash_stream_open(d) == -1, "at most max_streams streams");
  dash_stream_close(d);
  dash_free(d);
}

int main(void) {
  test_walk();
  test_children();
  struct api_credentials creds;
  char err[256];
  if (api_credentials_parse(CREDS, "creds", &creds, err, sizeof err)) {
    fprintf(stderr, "credentials: %s\n", err);
    return 1;
  }
  struct dash_conf conf = {.creds = &creds, .ops = &fake_ops, .max_streams = 4, .clock_ms = clock_fake};
  struct dash *d = dash_new(&conf);
  test_files(d);
  test_login(d);
  test_login_limit(d);
  test_actions(d);
  test_events(d);
  dash_free(d);
  test_anonymous(&creds);
  api_credentials_release(&creds);
  return check_summary();
}
