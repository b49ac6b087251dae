/* dash_http.c: the dashboard on libmicrohttpd (dash.h): a request of http.c's server whose
 * target is under /dashboard is answered here, with the page's security headers, and the live
 * stream is a response of unknown length whose reader waits for the view's status changes
 * (server-sent events). The reader blocks its connection's thread for up to STREAM_WAIT_MS at a
 * time, which a server with a thread per connection (the default) allows; with a pool of
 * --threads N the streams are capped at N/2 so that requests still find threads. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dash_int.h"
#include "util.h"

#define STREAM_WAIT_MS 3000 /* a keep-alive comment at least this often (the idle timeout is 10 s) */
#define STREAM_BUF 65536

struct stream {
  struct dash *d;
  int64_t seq;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  struct stream *s = cls;
  if (max > STREAM_BUF) max = STREAM_BUF;
  ssize_t n = dash_stream_read(s->d, &s->seq, buf, max, STREAM_WAIT_MS);
  return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void stream_free(void *cls) {
  struct stream *s = cls;
  dash_stream_close(s->d);
  free(s);
}

static void common_headers(struct MHD_Response *r) {
  MHD_add_response_header(r, "Cache-Control", "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "X-Frame-Options", "DENY");
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(r, "Content-Security-Policy",
                          "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                          "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
}

static enum MHD_Result queue_stream(struct dash *d, struct MHD_Connection *con, int64_t seq) {
  if (dash_stream_open(d)) {
    static const char busy[] = "{\"error\":\"too many live streams: poll /dashboard/api/changes\"}";
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof busy - 1, (void *)busy, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(con, 503, r);
    MHD_destroy_response(r);
    return ok;
  }
  struct stream *s = xcalloc(1, sizeof *s);
  s->d = d;
  s->seq = seq;
  struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
  if (!r) {
    stream_free(s);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", "text/event-stream");
  common_headers(r);
  enum MHD_Result ok = MHD_queue_response(con, 200, r);
  MHD_destroy_response(r);
  return ok;
}

/* The client's address as text ("127.0.0.1", "::1"), or "" when unknown. */
static void client_address(struct MHD_Connection *con, char *out, size_t n) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *sa = ci ? ci->client_addr : NULL;
  out[0] = 0;
  if (sa && sa->sa_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
  else if (sa && sa->sa_family == AF_INET6) inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

int dash_serve(struct dash *d, struct MHD_Connection *con, const char *method, const char *raw_uri, const void *body,
               size_t body_len, int too_large) {
  char client[64];
  client_address(con, client, sizeof client);
  struct dash_request rq = {
      .client = client,
      .method = method,
      .raw_uri = raw_uri,
      .cookie = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Cookie"),
      .csrf = MHD_lookup_connection_value(con, MHD_HEADER_KIND, DASH_CSRF_HEADER),
      .last_event = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Last-Event-ID"),
      .body = body,
      .body_len = body_len,
      .body_too_large = too_large,
  };
  struct dash_response out;
  dash_handle(d, &rq, &out);
  if (out.stream) return queue_stream(d, con, out.stream_seq);
  struct MHD_Response *r =
      out.body_static ? MHD_create_response_from_buffer(out.body_len, out.body, MHD_RESPMEM_PERSISTENT)
                      : MHD_create_response_from_buffer(out.body_len, out.body ? out.body : (char *)"", MHD_RESPMEM_MUST_COPY);
  if (!r) {
    dash_response_release(&out);
    return MHD_NO;
  }
  if (out.content_type) MHD_add_response_header(r, "Content-Type", out.content_type);
  if (out.set_cookie[0]) MHD_add_response_header(r, "Set-Cookie", out.set_cookie);
  if (out.location) MHD_add_response_header(r, "Location", out.location);
  if (out.retry_after > 0) {
    char ra[16];
    snprintf(ra, sizeof ra, "%d", out.retry_after);
    MHD_add_response_header(r, "Retry-After", ra);
  }
  common_headers(r);
  if (out.status >= 400) log_info("%s %s -> %d (dashboard)", method, raw_uri, out.status);
  else log_debug("%s %s -> %d (dashboard)", method, raw_uri, out.status);
  enum MHD_Result ok = MHD_queue_response(con, (unsigned)out.status, r);
  MHD_destroy_response(r);
  dash_response_release(&out);
  return ok;
}
