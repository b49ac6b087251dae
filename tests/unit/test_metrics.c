/* test_metrics.c: the metrics registry and its exposition writer (lib/metrics.c), and the GET
 * /metrics endpoint (lib/metrics_http.c) over a loopback socket. */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "metrics.h"

/* The exposition text of r (malloc'd). */
static char *render(struct metrics *r) {
  struct buf b;
  buf_init(&b);
  metrics_write(r, &b);
  char *s = xstrdup(b.data ? (const char *)b.data : "");
  buf_release(&b);
  return s;
}

static int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; (p = strstr(p, line)); p++)
    if ((p == text || p[-1] == '\n') && (p[n] == '\n' || !p[n])) return 1;
  return 0;
}

#define CHECK_LINE(text, line) CHECK(has_line(text, line), "no line '%s' in:\n%s", line, text)

static void test_counter_gauge(void) {
  TEST("counters and gauges: HELP, TYPE, a label-less family at 0, labels in order");
  struct metrics *r = metrics_new();
  struct metric *c = metrics_counter(r, "t_requests_total", "requests seen", NULL);
  struct metric *g = metrics_gauge(r, "t_jobs", "jobs by queue and state", "queue,state");
  char *t = render(r);
  CHECK_LINE(t, "# HELP t_requests_total requests seen");
  CHECK_LINE(t, "# TYPE t_requests_total counter");
  CHECK_LINE(t, "t_requests_total 0");
  CHECK_LINE(t, "# TYPE t_jobs gauge");
  CHECK(!strstr(t, "t_jobs{"), "a labelled family has no series before use");
  free(t);
  metric_add(c, NULL, 3);
  metric_add(g, METRIC_L("q1", "RUNNABLE"), 2);
  metric_add(g, METRIC_L("q1", "RUNNABLE"), -1);
  metric_set(g, METRIC_L("q2", "RUNNING"), 7.5);
  t = render(r);
  CHECK_LINE(t, "t_requests_total 3");
  CHECK_LINE(t, "t_jobs{queue=\"q1\",state=\"RUNNABLE\"} 1");
  CHECK_LINE(t, "t_jobs{queue=\"q2\",state=\"RUNNING\"} 7.5");
  CHECK(strstr(t, "q1") < strstr(t, "q2"), "series in creation order");
  CHECK(strstr(t, "t_requests_total") < strstr(t, "t_jobs"), "families in registration order");
  free(t);
  CHECK(metrics_counter(r, "t_requests_total", "again", NULL) == c, "registering a name again gives the same family");
  CHECK(metric_value(g, METRIC_L("q2", "RUNNING")) == 7.5, "metric_value reads a series");
  CHECK(metric_value(g, METRIC_L("q3", "RUNNING")) == 0, "an absent series reads 0");
  metric_remove(g, METRIC_L("q2", "RUNNING"));
  t = render(r);
  CHECK(!strstr(t, "q2"), "a removed series is not written: %s", t);
  free(t);
  metric_add(g, METRIC_L("q2", "RUNNING"), 1);
  CHECK(metric_value(g, METRIC_L("q2", "RUNNING")) == 1, "a removed series comes back from 0");
  metrics_free(r);
}

static void test_escaping(void) {
  TEST("label values escape backslash, quote and newline; HELP escapes backslash and newline");
  struct metrics *r = metrics_new();
  struct metric *g = metrics_gauge(r, "t_esc", "a \\ help\nwith \"quotes\"", "name");
  metric_set(g, METRIC_L("a\\b\"c\nd"), 1);
  metric_set(g, METRIC_L(""), 2);
  char *t = render(r);
  CHECK_LINE(t, "# HELP t_esc a \\\\ help\\nwith \"quotes\"");
  CHECK_LINE(t, "t_esc{name=\"a\\\\b\\\"c\\nd\"} 1");
  CHECK_LINE(t, "t_esc{name=\"\"} 2");
  free(t);
  metrics_free(r);
}

static void test_histogram(void) {
  TEST("histograms: cumulative buckets, le inclusive, +Inf equals _count, _sum");
  struct metrics *r = metrics_new();
  static const double bounds[] = {0.1, 1, 10};
  struct metric *h = metrics_histogram(r, "t_wait_seconds", "waits", "queue", bounds, 3);
  const double obs[] = {0.05, 0.1, 0.5, 1, 3, 20, 20};
  for (size_t i = 0; i < sizeof obs / sizeof *obs; i++) metric_observe(h, METRIC_L("q"), obs[i]);
  char *t = render(r);
  CHECK_LINE(t, "# TYPE t_wait_seconds histogram");
  CHECK_LINE(t, "t_wait_seconds_bucket{queue=\"q\",le=\"0.1\"} 2");
  CHECK_LINE(t, "t_wait_seconds_bucket{queue=\"q\",le=\"1\"} 4");
  CHECK_LINE(t, "t_wait_seconds_bucket{queue=\"q\",le=\"10\"} 5");
  CHECK_LINE(t, "t_wait_seconds_bucket{queue=\"q\",le=\"+Inf\"} 7");
  const char *sum = strstr(t, "t_wait_seconds_sum{queue=\"q\"} ");
  CHECK(sum && fabs(strtod(sum + strlen("t_wait_seconds_sum{queue=\"q\"} "), NULL) - 44.65) < 1e-9, "the sum");
  CHECK_LINE(t, "t_wait_seconds_count{queue=\"q\"} 7");
  free(t);
  CHECK(metric_value(h, METRIC_L("q")) == 7, "metric_value of a histogram is its count");
  struct metric *h0 = metrics_histogram(r, "t_plain_seconds", "no labels", NULL, bounds, 3);
  metric_observe(h0, NULL, 2);
  t = render(r);
  CHECK_LINE(t, "t_plain_seconds_bucket{le=\"1\"} 0");
  CHECK_LINE(t, "t_plain_seconds_bucket{le=\"+Inf\"} 1");
  CHECK_LINE(t, "t_plain_seconds_count 1");
  free(t);
  metrics_free(r);
}

static void test_values(void) {
  TEST("numbers: the shortest text that reads back, +Inf, -Inf, NaN");
  char s[64];
  struct {
    double v;
    const char *want;
  } cases[] = {{0, "0"}, {3, "3"}, {-2, "-2"}, {0.1, "0.1"}, {44.65, "44.65"}, {1e6, "1000000"}, {1e20, "1e+20"}, {-0.0, "-0"},
               {123456789, "123456789"}, {INFINITY, "+Inf"}, {-INFINITY, "-Inf"}, {NAN, "NaN"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    metrics_format_value(cases[i].v, s, sizeof s);
    CHECK_STR(s, cases[i].want);
  }
  metrics_format_value(1.0 / 3, s, sizeof s);
  CHECK(strtod(s, NULL) == 1.0 / 3, "1/3 reads back exactly (%s)", s);
}

static void test_many_series(void) {
  TEST("many series: each found again after the table grows");
  struct metrics *r = metrics_new();
  struct metric *c = metrics_counter(r, "t_many_total", "many", "id");
  char id[32];
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 5000; i++) {
      snprintf(id, sizeof id, "s%d", i);
      metric_add(c, METRIC_L(id), i);
    }
  int bad = 0;
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof id, "s%d", i);
    bad += metric_value(c, METRIC_L(id)) != 2.0 * i;
  }
  CHECK_INT(bad, 0);
  metrics_free(r);
}

struct worker {
  struct metric *c, *h;
};

static void *work(void *arg) {
  struct worker *w = arg;
  for (int i = 0; i < 100000; i++) {
    metric_add(w->c, METRIC_L(i % 2 ? "odd" : "even"), 1);
    metric_observe(w->h, NULL, 0.5);
  }
  return NULL;
}

static void test_threads(void) {
  TEST("4 threads at once: no update lost");
  struct metrics *r = metrics_new();
  static const double bounds[] = {1};
  struct worker w = {metrics_counter(r, "t_par_total", "parallel", "k"),
                     metrics_histogram(r, "t_par_seconds", "parallel", NULL, bounds, 1)};
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, work, &w);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  CHECK(metric_value(w.c, METRIC_L("odd")) == 200000, "odd %g", metric_value(w.c, METRIC_L("odd")));
  CHECK(metric_value(w.c, METRIC_L("even")) == 200000, "even %g", metric_value(w.c, METRIC_L("even")));
  CHECK(metric_value(w.h, NULL) == 400000, "histogram count %g", metric_value(w.h, NULL));
  metrics_free(r);
}

/* GET path from 127.0.0.1:port; the whole answer (malloc'd), or NULL. */
static char *http_get(int port, const char *path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
    if (fd >= 0) close(fd);
    return NULL;
  }
  char req[256];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
  if (write(fd, req, (size_t)n) != n) {
    close(fd);
    return NULL;
  }
  struct buf b;
  buf_init(&b);
  char chunk[4096];
  ssize_t got;
  while ((got = read(fd, chunk, sizeof chunk)) > 0) buf_append(&b, chunk, (size_t)got);
  close(fd);
  char *s = xstrdup(b.data ? (const char *)b.data : "");
  buf_release(&b);
  return s;
}

static void test_http(void) {
  TEST("GET /metrics over HTTP: 200 text/plain with the registry and process basics; 404 elsewhere");
  struct metrics *r = metrics_new();
  metric_add(metrics_counter(r, "t_served_total", "served", "k"), METRIC_L("v"), 5);
  char addr[64], err[256];
  struct metrics_server *s = metrics_serve(r, "127.0.0.1", 0, addr, sizeof addr, err, sizeof err);
  CHECK(s != NULL, "metrics_serve: %s", err);
  if (!s) return;
  int port = atoi(strrchr(addr, ':') + 1);
  CHECK(port > 0 && !strncmp(addr, "127.0.0.1:", 10), "bound address %s", addr);
  char *a = http_get(port, "/metrics");
  CHECK(a && !strncmp(a, "HTTP/1.1 200", 12), "status line: %.40s", a ? a : "(none)");
  CHECK(a && strstr(a, "Content-Type: text/plain; version=0.0.4"), "content type");
  CHECK(a && strstr(a, "\nt_served_total{k=\"v\"} 5\n"), "the registry's series");
  CHECK(a && strstr(a, "\nprocess_resident_memory_bytes "), "process basics");
  CHECK(a && strstr(a, "\nprocess_open_fds "), "open fds");
  free(a);
  a = http_get(port, "/");
  CHECK(a && !strncmp(a, "HTTP/1.1 404", 12), "/ is 404: %.40s", a ? a : "(none)");
  free(a);
  char addr2[64];
  struct metrics_server *s2 = metrics_serve(r, "127.0.0.1", port, addr2, sizeof addr2, err, sizeof err);
  CHECK(s2 == NULL && strstr(err, "cannot serve"), "a port in use is refused with a reason (%s)", err);
  metrics_server_stop(s2);
  metrics_server_stop(s);
  metrics_free(r);
}

/* --metrics-fd: `barge up` holds the listening socket and each incarnation of a service serves
 * on its copy. Stopping the server used to shut the socket down for every holder, so that no
 * restarted service could serve on it ("descriptor N is not an inherited listening TCP socket")
 * and `barge up` restarted it in vain, every 30 s, forever. */
static void test_http_fd_survives_stop(void) {
  TEST("--metrics-fd: the socket still listens after a server on it stops, and serves the next one");
  struct metrics *r = metrics_new();
  int held = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  CHECK(held >= 0 && !bind(held, (struct sockaddr *)&sa, sizeof sa) && !listen(held, 16) &&
            !getsockname(held, (struct sockaddr *)&sa, &sl),
        "a listening socket");
  int port = ntohs(sa.sin_port);
  char addr[64], err[256];
  for (int round = 0; round < 2; round++) {
    int fd = dup(held); /* the copy a child inherits */
    struct metrics_server *s = metrics_serve_fd(r, fd, addr, sizeof addr, err, sizeof err);
    CHECK(s != NULL, "round %d: metrics_serve_fd: %s", round, err);
    if (!s) break;
    char *a = http_get(port, "/metrics");
    CHECK(a && !strncmp(a, "HTTP/1.1 200", 12), "round %d: served: %.40s", round, a ? a : "(none)");
    free(a);
    metrics_server_stop(s);
    int listening = 0;
    socklen_t ll = sizeof listening;
    CHECK(!getsockopt(held, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) && listening,
          "round %d: the held socket still listens after the server stopped", round);
  }
  close(held);
  metrics_free(r);
}

/* Idle clients (connected, sending nothing, or a keep-alive after one answer) must not keep a
 * scrape waiting: past the server's connection budget the oldest idle one is closed. */
static void test_http_idle_clients(void) {
  TEST("40 idle connections to the endpoint: a scrape is still answered at once");
  struct metrics *r = metrics_new();
  char addr[64], err[256];
  struct metrics_server *s = metrics_serve(r, "127.0.0.1", 0, addr, sizeof addr, err, sizeof err);
  CHECK(s != NULL, "metrics_serve: %s", err);
  if (!s) return;
  int port = atoi(strrchr(addr, ':') + 1);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int idle[40];
  for (int i = 0; i < 40; i++) {
    idle[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (idle[i] >= 0 && connect(idle[i], (struct sockaddr *)&sa, sizeof sa)) {
      close(idle[i]);
      idle[i] = -1;
    }
  }
  usleep(200 * 1000); /* the server has taken them */
  for (int round = 0; round < 3; round++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *a = http_get(port, "/metrics");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(a && !strncmp(a, "HTTP/1.1 200", 12), "scrape %d answered: %.40s", round, a ? a : "(none)");
    CHECK(took < 2, "scrape %d took %.1f s with 40 idle connections open", round, took);
    free(a);
  }
  for (int i = 0; i < 40; i++)
    if (idle[i] >= 0) close(idle[i]);
  metrics_server_stop(s);
  metrics_free(r);
}

int main(void) {
  test_counter_gauge();
  test_escaping();
  test_histogram();
  test_values();
  test_many_series();
  test_threads();
  test_http();
  test_http_idle_clients();
  test_http_fd_survives_stop();
  return check_summary();
}
