/* metrics_http.c: the HTTP side of metrics.h: GET /metrics served by libmicrohttpd in a thread of
 * its own, and the process basics read from /proc at each scrape (the names Prometheus's own
 * client libraries use, so the usual dashboards work). */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics.h"

/* ---------------- process basics ---------------- */

/* Fields of /proc/self/stat (1-based, as proc(5) numbers them) from field 3 on; 0 on success. */
static int read_stat(unsigned long long *f, int nf) {
  char *txt = read_file("/proc/self/stat", NULL);
  char *p = txt ? strrchr(txt, ')') : NULL; /* the command name may hold spaces */
  if (!p) {
    free(txt);
    return -1;
  }
  char *save = NULL;
  int field = 3;
  for (char *tok = strtok_r(p + 1, " \n", &save); tok && field < nf; tok = strtok_r(NULL, " \n", &save))
    f[field++] = strtoull(tok, NULL, 10); /* field 3, the state letter, reads as 0 */
  free(txt);
  return field == nf ? 0 : -1;
}

static double boot_time_s(void) {
  static double boot = -1;
  if (boot >= 0) return boot;
  char *txt = read_file("/proc/stat", NULL), *b = txt ? strstr(txt, "\nbtime ") : NULL;
  boot = b ? strtod(b + 7, NULL) : 0;
  free(txt);
  return boot;
}

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

void metrics_process_collect(struct metrics *r, void *ctx) {
  (void)ctx;
  unsigned long long f[25] = {0};
  double tick = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
  if (read_stat(f, 25) == 0 && tick > 0) {
    metric_set(metrics_counter(r, "process_cpu_seconds_total", "user and system CPU time spent, in seconds", NULL),
               NULL, (double)(f[14] + f[15]) / tick);
    metric_set(metrics_gauge(r, "process_start_time_seconds", "start time of the process since the Unix epoch, in seconds",
                             NULL), NULL, boot_time_s() + (double)f[22] / tick);
    metric_set(metrics_gauge(r, "process_virtual_memory_bytes", "virtual memory size in bytes", NULL), NULL,
               (double)f[23]);
    metric_set(metrics_gauge(r, "process_resident_memory_bytes", "resident memory size in bytes", NULL), NULL,
               (double)f[24] * page);
    metric_set(metrics_gauge(r, "process_threads", "threads of the process", NULL), NULL, (double)f[20]);
  }
  int fds = open_fds();
  if (fds >= 0) metric_set(metrics_gauge(r, "process_open_fds", "open file descriptors", NULL), NULL, fds);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    metric_set(metrics_gauge(r, "process_max_fds", "most open file descriptors allowed", NULL), NULL,
               rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
}

/* ---------------- the server ---------------- */

/* Connections kept open at most. Past that, a new connection closes the oldest one that has no
 * request being answered, so clients that connect and send nothing (or keep an idle keep-alive)
 * cannot keep a scrape waiting for their timeout; MHD's own limit is above it, as a closed
 * connection leaves on MHD's next round (docs/metrics.md). */
#define METRICS_MAX_CONNECTIONS 32

/* One TCP connection, oldest first in the server's list; only MHD's thread touches them. */
struct mconn {
  struct mconn *prev, *next;
  MHD_socket fd;
  int busy;    /* a request of it is being answered */
  int evicted; /* shut down, waiting for MHD to close it */
};

struct metrics_server {
  struct MHD_Daemon *d;
  struct metrics *r;
  struct mconn *head, *tail;
  int live; /* connections not evicted */
  int inherited; /* metrics_serve_fd: the socket is shared with the process that passed it */
};

static void on_connection(void *cls, struct MHD_Connection *con, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  struct metrics_server *s = cls;
  struct mconn *c = *socket_context;
  if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    if (!c) return;
    if (c->prev)
      c->prev->next = c->next;
    else
      s->head = c->next;
    if (c->next)
      c->next->prev = c->prev;
    else
      s->tail = c->prev;
    if (!c->evicted) s->live--;
    free(c);
    *socket_context = NULL;
    return;
  }
  const union MHD_ConnectionInfo *info = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
  c = xcalloc(1, sizeof *c);
  c->fd = info ? info->connect_fd : MHD_INVALID_SOCKET;
  c->prev = s->tail;
  if (s->tail)
    s->tail->next = c;
  else
    s->head = c;
  s->tail = c;
  *socket_context = c;
  if (++s->live <= METRICS_MAX_CONNECTIONS) return;
  struct mconn *old = NULL;
  for (struct mconn *o = s->head; o != c; o = o->next)
    if (!o->evicted && o->fd != MHD_INVALID_SOCKET && (!old || (old->busy && !o->busy))) {
      old = o;
      if (!o->busy) break;
    }
  if (!old) return;
  /* MHD sees the end of the stream on its next round and closes the connection */
  shutdown(old->fd, SHUT_RDWR);
  old->evicted = 1;
  s->live--;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)con;
  (void)toe;
  struct mconn *c = *con_cls;
  if (c) c->busy = 0;
}

static enum MHD_Result reply(struct MHD_Connection *con, unsigned status, const char *type, char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode) {
  struct MHD_Response *rs = MHD_create_response_from_buffer(len, body, mode);
  if (!rs) return MHD_NO;
  MHD_add_response_header(rs, "Content-Type", type);
  enum MHD_Result ok = MHD_queue_response(con, status, rs);
  MHD_destroy_response(rs);
  return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  (void)version;
  (void)upload_data;
  (void)upload_data_size;
  struct metrics_server *s = cls;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  struct mconn *c = ci ? ci->socket_context : NULL;
  if (c) c->busy = 1;
  *con_cls = c;
  static char only_get[] = "only GET\n", not_found[] = "not found: the metrics are at /metrics\n";
  if (strcmp(method, "GET") && strcmp(method, "HEAD"))
    return reply(con, 405, "text/plain", only_get, sizeof only_get - 1, MHD_RESPMEM_PERSISTENT);
  if (strcmp(url, "/metrics"))
    return reply(con, 404, "text/plain", not_found, sizeof not_found - 1, MHD_RESPMEM_PERSISTENT);
  struct buf b;
  buf_init(&b);
  metrics_write(s->r, &b);
  /* MHD takes the buffer and frees it with free() */
  return reply(con, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? (char *)b.data : xstrdup(""), b.len,
               MHD_RESPMEM_MUST_FREE);
}

struct metrics_server *metrics_serve(struct metrics *r, const char *host, int port, char *addr, size_t addrlen,
                                     char *err, size_t errlen) {
  if (port < 0 || port > 65535) {
    snprintf(err, errlen, "metrics port %d out of range (0-65535)", port);
    return NULL;
  }
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  int gai = getaddrinfo(host, portstr, &hints, &ai);
  if (gai) {
    snprintf(err, errlen, "metrics address %s: %s", host, gai_strerror(gai));
    return NULL;
  }
  struct metrics_server *s = xcalloc(1, sizeof *s);
  s->r = r;
  int v6 = ai->ai_family == AF_INET6;
  unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | (v6 ? MHD_USE_IPv6 : 0);
  s->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                          MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_LIMIT, 2u * METRICS_MAX_CONNECTIONS,
                          MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                          NULL, MHD_OPTION_END);
  freeaddrinfo(ai);
  if (!s->d) {
    snprintf(err, errlen, "cannot serve metrics on %s:%d (port in use?)", host, port);
    free(s);
    return NULL;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  unsigned bound = info ? info->port : (unsigned)port;
  snprintf(addr, addrlen, v6 ? "[%s]:%u" : "%s:%u", host, bound);
  metrics_on_collect(r, metrics_process_collect, NULL);
  return s;
}

struct metrics_server *metrics_serve_fd(struct metrics *r, int fd, char *addr, size_t addrlen, char *err,
                                        size_t errlen) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  int type = 0, listening = 0;
  socklen_t tl = sizeof type, ll = sizeof listening;
  if (fd < 3 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) || type != SOCK_STREAM ||
      getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) || !listening ||
      getsockname(fd, (struct sockaddr *)&ss, &sl) || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
    snprintf(err, errlen, "descriptor %d is not an inherited listening TCP socket", fd);
    return NULL;
  }
  fcntl(fd, F_SETFD, FD_CLOEXEC); /* not passed on again: to the jobs an agent runs, say */
  struct metrics_server *s = xcalloc(1, sizeof *s);
  s->r = r;
  int v6 = ss.ss_family == AF_INET6;
  s->inherited = 1;
  /* MHD_USE_ITC: metrics_server_stop quiesces the daemon, which needs it with a polling thread */
  unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | (v6 ? MHD_USE_IPv6 : 0);
  s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
                          MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_LIMIT, 2u * METRICS_MAX_CONNECTIONS,
                          MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                          NULL, MHD_OPTION_END);
  if (!s->d) {
    snprintf(err, errlen, "cannot serve metrics on descriptor %d", fd);
    free(s);
    return NULL;
  }
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = v6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  inet_ntop(ss.ss_family, v6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr : (void *)&((struct sockaddr_in *)&ss)->sin_addr,
            host, sizeof host);
  snprintf(addr, addrlen, v6 ? "[%s]:%u" : "%s:%u", host, port);
  metrics_on_collect(r, metrics_process_collect, NULL);
  return s;
}

void metrics_server_stop(struct metrics_server *s) {
  if (!s) return;
  if (s->d && s->inherited) {
    /* MHD_stop_daemon shuts its listening socket down, and an inherited one is shared: `barge
     * up` holds it for the service's next incarnation, which then found it no longer listening
     * and could never start again. Quiesced, the daemon hands the socket back untouched; only
     * this process's descriptor of it is closed. */
    MHD_socket ls = MHD_quiesce_daemon(s->d);
    MHD_stop_daemon(s->d);
    if (ls != MHD_INVALID_SOCKET) close(ls);
  } else if (s->d) {
    MHD_stop_daemon(s->d);
  }
  free(s);
}
