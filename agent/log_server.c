/* log_server.c: an agent's read-only HTTP server of its attempt logs (log_server.h). */
#include "log_server.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logauth.h"
#include "util.h"

#define REFUSAL_LOG_MS 10000 /* refusals are logged at most once per this period */

struct log_server {
  struct MHD_Daemon *d;
  char *log_dir;
  unsigned char *key; /* NULL: no authentication (loopback only) */
  size_t keylen;
  char *tls_cert, *tls_key; /* PEM text (HTTPS), or NULL */
  struct logauth_guard guard;
  pthread_mutex_t mu; /* the refusal log's state */
  int64_t logged_at;
  long unlogged;
};

/* Logs a refusal, at most once per REFUSAL_LOG_MS with the count of those not logged since. */
static void log_refusal(struct log_server *s, struct MHD_Connection *con, const char *why) {
  int64_t now = mono_ms();
  pthread_mutex_lock(&s->mu);
  long skipped = s->unlogged;
  int log_it = !s->logged_at || now - s->logged_at >= REFUSAL_LOG_MS;
  if (log_it) s->logged_at = now, s->unlogged = 0;
  else s->unlogged++;
  pthread_mutex_unlock(&s->mu);
  if (!log_it) return;
  char host[NI_MAXHOST] = "?";
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (ci && ci->client_addr)
    getnameinfo(ci->client_addr, ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                        : sizeof(struct sockaddr_in),
                host, sizeof host, NULL, 0, NI_NUMERICHOST);
  if (skipped)
    log_warn("log server: refused a request from %s: %s (%ld more refusals since the last such line)", host, why,
             skipped);
  else log_warn("log server: refused a request from %s: %s", host, why);
}

/* "/<jobId>/<attempt>.log" (or its time index, .log.times) with a job id that job_id_ok allows
 * (lib/util.h: an array child's "<parent>:<index>", a multi-node job's node "<jobId>#<node>",
 * which a client sends as %23 and libmicrohttpd hands over decoded; never starting with '.') and
 * a decimal attempt: 0 and the path relative to the log dir in rel; anything else (.., other
 * files, the .agents state) -1. */
static int parse_path(const char *url, char *rel, size_t n) {
  if (*url++ != '/') return -1;
  const char *slash = strchr(url, '/');
  size_t jl = slash ? (size_t)(slash - url) : 0;
  char job[80];
  if (jl < 1 || jl >= sizeof job) return -1;
  memcpy(job, url, jl);
  job[jl] = 0;
  if (!job_id_ok(job, 1)) return -1;
  const char *a = url + jl + 1;
  size_t dl = strspn(a, "0123456789");
  if (dl < 1 || dl > 9 || (strcmp(a + dl, ".log") && strcmp(a + dl, ".log.times"))) return -1;
  snprintf(rel, n, "%s", url);
  return 0;
}

/* A Range header of one byte range, "bytes=A-" or "bytes=A-B", over a file of size bytes: 1 with
 * [*first, *last] (B clipped to the end), -1 when A is at or past the end (416), 0 when there is
 * none or it is of another form (suffix, several ranges, not bytes): the whole file is served, as
 * RFC 9110 lets a server do. `barge logs --follow` asks for what was written since its last read. */
static int parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last) {
  if (!h || strncmp(h, "bytes=", 6)) return 0;
  const char *p = h + 6;
  if (*p < '0' || *p > '9') return 0;
  char *end;
  errno = 0;
  unsigned long long a = strtoull(p, &end, 10), b = ~0ULL;
  if (errno || *end != '-') return 0;
  p = end + 1;
  if (*p) {
    if (*p < '0' || *p > '9') return 0;
    b = strtoull(p, &end, 10);
    if (errno || *end || b < a) return 0;
  }
  if (a >= size) return -1;
  *first = a;
  *last = b < size - 1 ? b : size - 1;
  return 1;
}

/* A one-line text answer (a 401 names the scheme it wants). */
static enum MHD_Result answer(struct MHD_Connection *con, unsigned status, const char *text) {
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "text/plain");
  if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, LOGAUTH_SCHEME);
  enum MHD_Result ok = MHD_queue_response(con, status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  (void)version;
  (void)upload_data;
  (void)upload_data_size;
  (void)con_cls;
  struct log_server *s = cls;
  if (strcmp(method, "GET") && strcmp(method, "HEAD")) return answer(con, 405, "only GET\n");
  char rel[300], path[4400];
  if (s->key) {
    char why[256];
    const char *h = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    int st = logauth_verify(s->key, s->keylen, &s->guard, url, h, now_ms(), why, sizeof why);
    if (st) {
      char line[300];
      log_refusal(s, con, why);
      snprintf(line, sizeof line, "%s\n", why);
      return answer(con, (unsigned)st, line);
    }
  }
  if (parse_path(url, rel, sizeof rel)) return answer(con, 404, "no such log\n");
  snprintf(path, sizeof path, "%s/%s", s->log_dir, rel);
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
    if (fd >= 0) close(fd);
    return answer(con, 404, "no such log\n");
  }
  uint64_t size = (uint64_t)sb.st_size, first = 0, last = size ? size - 1 : 0;
  int range = parse_range(MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE), size, &first,
                          &last);
  char cr[96];
  if (range < 0) { /* at or past the end: nothing new (barge logs --follow), and the size */
    close(fd);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    enum MHD_Result ok = MHD_queue_response(con, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
    MHD_destroy_response(r);
    return ok;
  }
  struct MHD_Response *r = range ? MHD_create_response_from_fd_at_offset64(last - first + 1, fd, first)
                                 : MHD_create_response_from_fd(size, fd); /* either closes fd */
  if (!r) {
    close(fd);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
  MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
  if (range) {
    snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)first, (unsigned long long)last,
             (unsigned long long)size);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
  }
  enum MHD_Result ok = MHD_queue_response(con, range ? MHD_HTTP_PARTIAL_CONTENT : 200, r);
  MHD_destroy_response(r);
  return ok;
}

/* 1 when a is a loopback address (127.0.0.0/8, ::1). */
static int loopback(const struct sockaddr *a) {
  if (a->sa_family == AF_INET) return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
  return a->sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
}

struct log_server *log_server_start(const struct log_server_conf *conf, char *addr, size_t addrlen, char *err,
                                    size_t errlen) {
  const char *listen = conf->listen, *token_file = conf->token_file;
  if (!conf->tls_cert != !conf->tls_key) {
    snprintf(err, errlen, "give both --log-tls-cert and --log-tls-key, or neither");
    return NULL;
  }
  const char *colon = strrchr(listen, ':');
  char host[256];
  if (!colon || colon == listen || !colon[1]) {
    snprintf(err, errlen, "--log-listen must be HOST:PORT, got '%s'", listen);
    return NULL;
  }
  const char *h = listen;
  size_t hl = (size_t)(colon - listen);
  if (*h == '[' && hl >= 2 && h[hl - 1] == ']') h++, hl -= 2;
  snprintf(host, sizeof host, "%.*s", (int)hl, h);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  int gai = getaddrinfo(host, colon + 1, &hints, &ai);
  if (gai) {
    snprintf(err, errlen, "--log-listen %s: %s", listen, gai_strerror(gai));
    return NULL;
  }
  if (!token_file && !loopback(ai->ai_addr)) {
    snprintf(err, errlen,
             "--log-listen %s is not a loopback address: give --log-token-file FILE too (the secret `barge api` "
             "is given with its own --log-token-file; docs/api.md, \"Job logs\"), or listen on 127.0.0.1",
             listen);
    freeaddrinfo(ai);
    return NULL;
  }
  char *cert = NULL, *key = NULL;
  if (conf->tls_cert) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      snprintf(err, errlen, "--log-tls-cert: this libmicrohttpd was built without TLS");
      freeaddrinfo(ai);
      return NULL;
    }
    if (!(cert = read_file(conf->tls_cert, NULL)) || !(key = read_file(conf->tls_key, NULL))) {
      snprintf(err, errlen, "cannot read %s: %s", cert ? conf->tls_key : conf->tls_cert, strerror(errno));
      free(cert);
      freeaddrinfo(ai);
      return NULL;
    }
  }
  struct log_server *s = xcalloc(1, sizeof *s);
  s->log_dir = xstrdup(conf->log_dir);
  s->tls_cert = cert;
  s->tls_key = key;
  logauth_guard_init(&s->guard);
  pthread_mutex_init(&s->mu, NULL);
  if (token_file && !(s->key = logauth_read_key(token_file, &s->keylen, err, errlen))) {
    freeaddrinfo(ai);
    log_server_stop(s);
    return NULL;
  }
  if (!token_file) log_warn("--log-listen %s without --log-token-file: any local user can read the job logs", listen);
  unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
  struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
  if (cert) {
    flags |= MHD_USE_TLS;
    tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
    tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
  }
  s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                          MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 64u,
                          MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
  int v6 = ai->ai_family == AF_INET6;
  freeaddrinfo(ai);
  if (!s->d) {
    snprintf(err, errlen, "--log-listen: cannot listen on %s%s", listen,
             cert ? " or the TLS certificate and key (--log-tls-cert, --log-tls-key) do not load" : "");
    log_server_stop(s);
    return NULL;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  unsigned port = info ? info->port : 0;
  /* a wildcard address is advertised as this host's name */
  if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::")) gethostname(host, sizeof host - 1);
  snprintf(addr, addrlen, v6 && strchr(host, ':') ? "%s://[%s]:%u" : "%s://%s:%u", cert ? "https" : "http", host, port);
  return s;
}

void log_server_stop(struct log_server *s) {
  if (!s) return;
  if (s->d) MHD_stop_daemon(s->d);
  logauth_guard_destroy(&s->guard);
  pthread_mutex_destroy(&s->mu);
  free(s->key);
  free(s->tls_cert);
  free(s->tls_key);
  free(s->log_dir);
  free(s);
}
