/* dash.h: the web dashboard that `barge api` serves under /dashboard/ (docs/dashboard.md): a
 * page of plain HTML, JS and CSS embedded in the binary (producers/api/dashboard/, turned into C
 * at build time), and the JSON it reads, all answered from the API's in-memory view
 * (view_live.h) and through the API's own operations (api_ops.h), so that a cancel from the
 * dashboard is a CancelJob like any other.
 *
 *   GET  /dashboard/                    the page (and /dashboard/app.js, /dashboard/app.css)
 *   POST /dashboard/api/login           {"accessKey", "secretKey"[, "sessionToken"]} -> a
 *                                       session cookie (HttpOnly, SameSite=Strict) and its
 *                                       CSRF token; a key of the API's credentials file
 *   GET  /dashboard/api/session         who is logged in, and the CSRF token again
 *   POST /dashboard/api/logout
 *   GET  /dashboard/api/overview        per-queue job counts by status
 *   GET  /dashboard/api/jobs            the job table: queue, status, q (name search), sort,
 *                                       limit, after (a cursor): one page, from the view's
 *                                       ordered index (jobs_store_walk)
 *   GET  /dashboard/api/job?id=         DescribeJobs of one job, and an array's children counts
 *   GET  /dashboard/api/children?id=    an array job's children, by index (a page)
 *   GET  /dashboard/api/log?stream=     GetLogEvents of a stream (logs_api.h), paged by token
 *   GET  /dashboard/api/explain?id=     the job's `barge explain` timeline (explain_load)
 *   GET  /dashboard/api/ces?minutes=    DescribeComputeEnvironments (desired vCPUs, instances),
 *                                       each CE with its desired and actual vCPUs over time
 *   GET  /dashboard/api/usage?by=&source=&since=&until=   the `barge usage` report (JSON)
 *   GET  /dashboard/api/shares          the fair-share queues: per share, jobs, vCPUs, weight
 *   POST /dashboard/api/action          {"action": "cancel"|"terminate", "jobIds": [...]}
 *   POST /dashboard/api/bulk            the same on every job the table's filter selects: a
 *                                       dry run gives the count, a confirmed one names it
 *   GET  /dashboard/api/changes?since=  the status changes after a sequence number (JSON)
 *   GET  /dashboard/api/events          the same as server-sent events, as they are applied
 *
 * Every POST but login must carry the session's CSRF token in X-Barge-CSRF. A read-only key may
 * look but not act (403). Failed logins are limited per client address: DASH_LOGIN_FAILS at once,
 * then one every DASH_LOGIN_REFILL_MS; past that every login from the address is refused with 429
 * and Retry-After until the allowance comes back.
 *
 * dash_handle is the request path without sockets (what the unit tests drive); dash_http.c is
 * the libmicrohttpd shell, and the live stream. Any server thread may call them at once. */
#ifndef BARGE_DASH_H
#define BARGE_DASH_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api_ops.h"
#include "credentials.h"
#include "logs_api.h"

#define DASH_PREFIX "/dashboard"
#define DASH_COOKIE "barge_dash"
#define DASH_CSRF_HEADER "X-Barge-CSRF"
#define DASH_MAX_SESSIONS 256
#define DASH_SESSION_IDLE_MS (12LL * 3600 * 1000) /* a session unused this long ends */
#define DASH_PAGE_MAX 500                         /* rows of one job table page */
#define DASH_SEARCH_MS 150                        /* how long a name search walks per request */
#define DASH_BULK_MAX 5000                        /* jobs one bulk action may act on */
#define DASH_EVENTS 4096                          /* status changes kept for the live streams */
#define DASH_MAX_STREAMS 64                       /* live streams at once */
#define DASH_LOGIN_FAILS 5                        /* failed logins a client address may make at once */
#define DASH_LOGIN_REFILL_MS 12000                /* ... then one more this often (5 a minute) */
#define DASH_LOGIN_CLIENTS 1024                   /* client addresses the limit remembers */

struct view_live;
struct bus_conf;
struct dash;

struct dash_conf {
  const struct api_credentials *creds; /* the keys that may log in; NULL: none */
  int allow_anonymous;                 /* a login without a key is anonymous */
  const struct api_ops *ops;           /* DescribeJobs, CancelJob, ... */
  struct view_live *live;              /* the table and counts; NULL: 503 */
  const struct logs_source *logs;      /* job logs; NULL: not served */
  const struct bus_conf *bc;           /* the topics (explain timeline, usage report); NULL: not served */
  int secure;                          /* served over HTTPS: cookies are Secure too */
  unsigned max_streams;                /* live streams at once (0: none; pages poll instead) */
  int64_t (*clock_ms)(void);           /* NULL: now_ms */
};

/* conf is copied; what it points to is borrowed and must outlive the dashboard. Listens to the
 * view's status changes (view_live_listen) until dash_free. */
struct dash *dash_new(const struct dash_conf *conf);
void dash_free(struct dash *d);
/* Ends the live streams (each returns within a second): before the server stops. */
void dash_shutdown(struct dash *d);

struct dash_request {
  const char *method;
  const char *raw_uri;     /* "/dashboard/api/jobs?queue=q1" as sent */
  const char *cookie;      /* the Cookie header, or NULL */
  const char *csrf;        /* the X-Barge-CSRF header, or NULL */
  const char *last_event;  /* the Last-Event-ID header, or NULL */
  const void *body;
  size_t body_len;
  int body_too_large;
  const char *client; /* the client's address (login rate limit), or NULL */
};

struct dash_response {
  int status;
  const char *content_type;
  char *body; /* malloc'd, or the embedded asset when body_static */
  size_t body_len;
  int body_static;
  char set_cookie[256];   /* a Set-Cookie header, or "" */
  const char *location;   /* a redirect's Location, or NULL */
  int retry_after;        /* > 0: a Retry-After header (seconds), with a 429 */
  int stream;             /* 1: answer with the live stream from stream_seq */
  int64_t stream_seq;
};

/* Is this request target the dashboard's ("/dashboard", "/dashboard/...")? */
int dash_path(const char *raw_uri);
void dash_handle(struct dash *d, const struct dash_request *rq, struct dash_response *out);
void dash_response_release(struct dash_response *out);

/* The live stream (dash_events.c). dash_stream_open counts a stream in (0, or -1 when there are
 * max_streams already); dash_stream_close counts it out. dash_stream_read writes the next
 * server-sent events after *seq into buf (at most n bytes), waiting up to wait_ms for one, else
 * a comment line that keeps the connection alive; returns the bytes written, or -1 once the
 * dashboard shuts down. */
int dash_stream_open(struct dash *d);
void dash_stream_close(struct dash *d);
ssize_t dash_stream_read(struct dash *d, int64_t *seq, char *buf, size_t n, int wait_ms);

/* libmicrohttpd (dash_http.c): answers the request (body read) on con. */
struct MHD_Connection;
int dash_serve(struct dash *d, struct MHD_Connection *con, const char *method, const char *raw_uri,
               const void *body, size_t body_len, int too_large);
#endif
