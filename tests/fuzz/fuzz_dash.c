/* fuzz_dash: the web dashboard's request path without sockets (producers/api/dash.h,
 * dash_handle): routing, the embedded files, the Cookie header, login bodies, the CSRF check,
 * query strings (percent and '+' decoding), action bodies through operations that only record
 * them, and the changes feed. There is no view: reads of the tables answer 503.
 *
 * Input: one flags byte, then a request as on the wire:
 *   METHOD SP URI \n  (Name: value \n)*  \n  body
 * (headers Cookie, X-Barge-CSRF and Last-Event-ID are read; others are ignored).
 * Flags:
 *   bit 0  the Cookie header is replaced by a live session's cookie (admin, logged in at start)
 *   bit 1  the X-Barge-CSRF header is replaced by that session's token
 *   bit 2  the body counts as too large (body_too_large)
 *   bit 3  a status change is recorded first (the changes feed has something to say) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dash_int.h"
#include "jsonget.h"
#include "views.h"

static struct api_credentials creds;
static struct dash *dash;
static char cookie[128], csrf[65];

static int64_t fixed_clock(void) { return 1440938160000LL; }

static int record_call(void *ctx, const struct api_principal *who, const char *op, const json_t *req, json_t **resp,
                       char *err, size_t errlen) {
  (void)ctx, (void)who, (void)req;
  if (!strcmp(op, "DescribeJobs")) return snprintf(err, errlen, "not wired"), API_SERVER_ERROR;
  *resp = json_object();
  return 0;
}
static const struct api_ops ops = {NULL, record_call};

static void setup(void) {
  static const char text[] = "[admin]\naws_access_key_id = AKIAFUZZ\naws_secret_access_key = secret\n";
  char err[256];
  if (api_credentials_parse(text, "fuzz", &creds, err, sizeof err)) abort();
  struct dash_conf conf = {.creds = &creds, .ops = &ops, .max_streams = 1, .clock_ms = fixed_clock};
  dash = dash_new(&conf);
}

/* The admin session, made again when an input logged it out. */
static void login(void) {
  struct dash_who w;
  dash_session_of(dash, cookie, &w);
  if (w.ok) return;
  char token[65], err[256];
  if (dash_login(dash, "AKIAFUZZ", "secret", NULL, token, csrf, err, sizeof err)) abort();
  snprintf(cookie, sizeof cookie, "%s=%s", DASH_COOKIE, token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dash) setup();
  if (size < 1) return 0;
  login();
  unsigned flags = data[0];
  char *text = malloc(size);
  memcpy(text, data + 1, size - 1);
  text[size - 1] = 0;
  size_t textlen = size - 1;
  /* the request line, then headers up to an empty line, then the body (the rest, as bytes) */
  char *line_end = memchr(text, '\n', textlen);
  char *body = line_end ? line_end + 1 : text + textlen;
  if (line_end) *line_end = 0;
  char *sp = strchr(text, ' ');
  const char *method = text, *uri = sp ? sp + 1 : "/dashboard/";
  if (sp) *sp = 0;
  const char *hcookie = NULL, *hcsrf = NULL, *hlast = NULL;
  while (line_end && body < text + textlen && *body != '\n') {
    char *e = memchr(body, '\n', (size_t)(text + textlen - body));
    if (!e) break;
    *e = 0;
    char *colon = strchr(body, ':');
    if (colon) {
      *colon = 0;
      const char *v = colon + 1 + (colon[1] == ' ');
      if (!strcasecmp(body, "Cookie")) hcookie = v;
      else if (!strcasecmp(body, DASH_CSRF_HEADER)) hcsrf = v;
      else if (!strcasecmp(body, "Last-Event-ID")) hlast = v;
    }
    body = e + 1;
  }
  if (body < text + textlen && *body == '\n') body++;
  if (!dash_path(uri)) uri = "/dashboard/api/session";
  if (flags & 8) {
    struct vjob_info j = {.id = "job-1", .name = "n", .status = "RUNNING", .queue = "arn:q/q1"};
    dash_events_listen(dash, &j, "RUNNABLE");
  }
  struct dash_request rq = {method, uri, flags & 1 ? cookie : hcookie, flags & 2 ? csrf : hcsrf, hlast, body,
                            (size_t)(text + textlen - body), flags & 4, NULL};
  struct dash_response out;
  dash_handle(dash, &rq, &out);
  if (out.status < 200 || out.status > 599) abort();
  if (!out.stream && !out.body && out.status != 302) abort();
  if (out.body && !out.body_static) { /* every answer but the page's files is JSON */
    json_t *j = json_loadb(out.body, out.body_len, 0, NULL);
    if (!j) abort();
    json_decref(j);
  }
  dash_response_release(&out);
  free(text);
  return 0;
}
