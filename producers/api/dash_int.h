/* dash_int.h: what the dashboard's files (dash*.c) share; not for other code. */
#ifndef BARGE_DASH_INT_H
#define BARGE_DASH_INT_H
#include <jansson.h>
#include <pthread.h>

#include "dash.h"
#include "jobs_store.h"

/* One logged-in browser. */
struct dash_session {
  char token[65]; /* the cookie's value; "" for a free entry */
  char csrf[65];
  const struct api_credential *cred; /* NULL: anonymous */
  int64_t last_ms;
};

/* One status change, as the live streams send it. */
struct dash_event {
  int64_t seq, at_ms;
  char id[40], name[129], queue[129], status[12], prev[12];
};

/* A client address's allowance of failed logins (a token bucket). */
struct dash_login_client {
  char addr[64]; /* "" for a free entry */
  double tokens;
  int64_t last_ms;
};

struct dash {
  struct dash_conf conf;
  pthread_mutex_t mu; /* sessions and login clients */
  struct dash_session sessions[DASH_MAX_SESSIONS];
  struct dash_login_client *clients; /* DASH_LOGIN_CLIENTS */
  pthread_mutex_t ev_mu; /* the ring and the streams, with ev_cond */
  pthread_cond_t ev_cond;
  struct dash_event *ring; /* DASH_EVENTS, seq % DASH_EVENTS */
  int64_t next_seq;        /* the next event's sequence number (the first is 1) */
  unsigned streams;
  int stopping;
};

/* Who a request is from, checked against the session table (dash_session.c). */
struct dash_who {
  int ok;                   /* a live session */
  struct api_principal who; /* for ops->call */
  char csrf[65];
  const char *profile; /* for display: the profile, "anonymous" */
};

int64_t dash_now(const struct dash *d);
/* Checks a login; on success a new session's cookie token and CSRF token (65 bytes each).
 * 0, or -1 with the reason in err. */
int dash_login(struct dash *d, const char *access_key, const char *secret, const char *session_token, char *token,
               char *csrf, char *err, size_t errlen);
/* The login rate limit of client (NULL: one shared entry): 0 when a login may be tried, else
 * the seconds until one may; dash_login_failed takes one failure from its allowance. */
int dash_login_wait(struct dash *d, const char *client);
void dash_login_failed(struct dash *d, const char *client);
/* The session of the Cookie header (NULL: none); marks it used. */
void dash_session_of(struct dash *d, const char *cookie, struct dash_who *out);
void dash_logout(struct dash *d, const char *cookie);
/* a == b in time that does not depend on where they differ */
int dash_same(const char *a, const char *b);

/* dash_events.c: the view's listener; the changes after since as a JSON array (at most max):
 * *reset 1 when some were lost (the ring moved past since). Returns the last sequence number. */
void dash_events_listen(void *ctx, const struct vjob_info *j, const char *prev);
int64_t dash_events_since(struct dash *d, int64_t since, size_t max, json_t *out, int *reset);
int64_t dash_events_last(struct dash *d);

/* dash_jobs.c: the JSON reads and the actions. Each fills *resp (owned) and returns the HTTP
 * status; err carries the message of a failure. q is the request's query string. */
int dash_overview(struct dash *d, json_t **resp, char *err, size_t errlen);
int dash_jobs(struct dash *d, const char *q, json_t **resp, char *err, size_t errlen);
int dash_job(struct dash *d, const struct dash_who *w, const char *q, json_t **resp, char *err, size_t errlen);
int dash_children(struct dash *d, const char *q, json_t **resp, char *err, size_t errlen);
int dash_log(struct dash *d, const char *q, json_t **resp, char *err, size_t errlen);
/* dash_panels.c: a job's explain timeline, the compute environments with their vCPU history,
 * the usage report and the fair-share queues' shares. */
int dash_explain(struct dash *d, const char *q, json_t **resp, char *err, size_t errlen);
int dash_ces(struct dash *d, const struct dash_who *w, const char *q, json_t **resp, char *err, size_t errlen);
int dash_usage(struct dash *d, const char *q, json_t **resp, char *err, size_t errlen);
int dash_shares(struct dash *d, json_t **resp, char *err, size_t errlen);
int dash_action(struct dash *d, const struct dash_who *w, const json_t *req, json_t **resp, char *err, size_t errlen);
int dash_bulk(struct dash *d, const struct dash_who *w, const json_t *req, json_t **resp, char *err, size_t errlen);

/* ops->call of operation op as the session's key (req owned): 200 with *resp, or the
 * operation's status with err. */
int dash_call(struct dash *d, const struct dash_who *w, const char *op, json_t *req, json_t **resp, char *err,
              size_t errlen);
/* The query parameter name of q, decoded ('+' is a space), malloc'd; NULL when absent. */
char *dash_query(const char *q, const char *name);
/* The embedded files (dash_assets.c, generated at build time from producers/api/dashboard/). */
struct dash_asset {
  const char *name; /* "index.html" */
  const unsigned char *data;
  size_t len;
};
extern const struct dash_asset dash_assets[];
extern const size_t dash_assets_count;
#endif
