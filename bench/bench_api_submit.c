/* bench_api_submit.c: SubmitJob/s through `barge api` over HTTP with SigV4 (docs/api.md, "The
 * write path" and "Benchmark"). A load generator: many keep-alive connections on one epoll
 * loop, each sending signed SubmitJob requests back to back.
 *
 *   build/bench/bench_api_submit --endpoint 127.0.0.1:8780 --access-key AK --secret SK
 *       [--region us-east-1] [--connections 64] [--count 50000 | --duration 10]
 *       [--api-pid PID] [--broker-pid PID] [--queue NAME] [--setup 0]
 *
 * First (unless --setup 0) it creates, through the API, a compute environment, a job queue
 * (--queue, default bench-q) and a job definition (bench-jd), answers of "already exists"
 * accepted, and sends one SubmitJob to warm up. Then it runs the load and prints SubmitJob/s, p50/p99/max latency, errors by
 * HTTP status, and the CPU that the API (and the broker) used during the run, from
 * /proc/PID/stat. Exit status 1 when any request failed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sigv4.h"
#include "util.h"

struct cfg {
  const char *endpoint, *ak, *sk, *region, *queue;
  int conns, setup;
  long count;
  double duration;
  int api_pid, broker_pid;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of a process so far; -1 when unknown. */
static double proc_cpu_s(int pid) {
  if (pid <= 0) return -1;
  char path[64], line[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(line, 1, sizeof line - 1, f);
  fclose(f);
  line[n] = 0;
  char *p = strrchr(line, ')');
  if (!p) return -1;
  unsigned long ut = 0, st = 0;
  /* after the name: state(3) ... utime is field 14, stime 15 */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int connect_to(const char *endpoint) {
  char host[256];
  const char *colon = strrchr(endpoint, ':');
  if (!colon) return -1;
  snprintf(host, sizeof host, "%.*s", (int)(colon - endpoint), endpoint);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
  if (getaddrinfo(host, colon + 1, &hints, &ai)) return -1;
  int fd = socket(ai->ai_family, SOCK_STREAM, 0);
  if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen)) {
    close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* A signed POST of body to path, as the SDKs send it. */
static void build_request(const struct cfg *c, const char *path, const char *body, struct buf *out) {
  char amz[17], auth[512];
  sigv4_amz_date(now_ms(), amz);
  struct sigv4_creds cr = {c->ak, c->sk, NULL};
  sigv4_sign(&cr, c->region, "batch", "POST", c->endpoint, path, "", "application/json", body, strlen(body), amz,
             auth, sizeof auth);
  buf_reset(out);
  buf_printf(out,
             "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Amz-Date: %s\r\n"
             "Authorization: %s\r\nContent-Length: %zu\r\n\r\n%s",
             path, c->endpoint, amz, auth, strlen(body), body);
}

/* A whole response at the start of in (len bytes): its length, or 0 when more is needed;
 * *status gets the HTTP status. */
static size_t response_len(const char *in, size_t len, int *status) {
  const char *end = memmem(in, len, "\r\n\r\n", 4);
  if (!end) return 0;
  size_t head = (size_t)(end - in) + 4;
  *status = len > 12 ? atoi(in + 9) : 0;
  size_t body = 0;
  for (const char *p = in; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
    if (*p == '\n') p++;
    if (!strncasecmp(p, "content-length:", 15)) body = strtoul(p + 15, NULL, 10);
  }
  return len >= head + body ? head + body : 0;
}

/* One blocking request: the status, the body in resp (NUL-terminated). */
static int call_once(const struct cfg *c, int fd, const char *path, const char *body, struct buf *resp) {
  struct buf rq;
  buf_init(&rq);
  build_request(c, path, body, &rq);
  ssize_t w = write(fd, rq.data, rq.len);
  buf_release(&rq);
  if (w < 0) return -1;
  buf_reset(resp);
  char tmp[8192];
  int status = 0;
  size_t n;
  while (!(n = response_len(resp->data ? (const char *)resp->data : "", resp->len, &status))) {
    ssize_t r = read(fd, tmp, sizeof tmp);
    if (r <= 0) return -1;
    buf_append(resp, tmp, (size_t)r);
  }
  buf_append(resp, "", 1);
  return status;
}

/* One SubmitJob before the clock starts (the API's producer connects on its first write). */
static int warm_up(const struct cfg *c) {
  int fd = connect_to(c->endpoint);
  if (fd < 0) {
    fprintf(stderr, "bench: cannot connect to %s\n", c->endpoint);
    return -1;
  }
  char body[512];
  snprintf(body, sizeof body, "{\"jobName\":\"warm-up\",\"jobQueue\":\"%s\",\"jobDefinition\":\"bench-jd\"}", c->queue);
  struct buf resp;
  buf_init(&resp);
  int st = call_once(c, fd, "/v1/submitjob", body, &resp);
  if (st != 200) fprintf(stderr, "bench: warm-up SubmitJob -> %d %s\n", st, resp.data ? (const char *)resp.data : "");
  buf_release(&resp);
  close(fd);
  return st == 200 ? 0 : -1;
}

static int setup(const struct cfg *c) {
  int fd = connect_to(c->endpoint);
  if (fd < 0) {
    fprintf(stderr, "bench: cannot connect to %s\n", c->endpoint);
    return -1;
  }
  char q[1024];
  snprintf(q, sizeof q,
           "{\"jobQueueName\":\"%s\",\"priority\":1,\"computeEnvironmentOrder\":[{\"order\":1,"
           "\"computeEnvironment\":\"bench-ce\"}]}",
           c->queue);
  const char *steps[][2] = {
      {"/v1/createcomputeenvironment",
       "{\"computeEnvironmentName\":\"bench-ce\",\"type\":\"MANAGED\",\"computeResources\":{\"type\":\"EC2\","
       "\"maxvCpus\":16,\"instanceTypes\":[\"optimal\"],\"subnets\":[\"s\"],\"instanceRole\":\"r\"}}"},
      {"/v1/createjobqueue", q},
      {"/v1/registerjobdefinition",
       "{\"jobDefinitionName\":\"bench-jd\",\"type\":\"container\",\"containerProperties\":{\"image\":\"busybox\","
       "\"command\":[\"true\"],\"resourceRequirements\":[{\"type\":\"VCPU\",\"value\":\"1\"},"
       "{\"type\":\"MEMORY\",\"value\":\"128\"}]}}"},
  };
  struct buf resp;
  buf_init(&resp);
  int rc = 0;
  for (size_t i = 0; i < sizeof steps / sizeof *steps && !rc; i++) {
    int st = call_once(c, fd, steps[i][0], steps[i][1], &resp);
    if (st != 200 && !(st == 400 && strstr((const char *)resp.data, "already exists"))) {
      fprintf(stderr, "bench: setup %s -> %d %s\n", steps[i][0], st, resp.data ? (const char *)resp.data : "");
      rc = -1;
    }
  }
  buf_release(&resp);
  close(fd);
  return rc;
}

struct conn {
  int fd;
  struct buf out, in;
  size_t sent;
  double t0;
};

struct run {
  const struct cfg *c;
  long started, done, errors, by_status[6];
  double *lat;
  size_t nlat, caplat;
  double t_end;
  long seq;
};

static int more_to_send(const struct run *r) {
  if (r->c->count > 0) return r->started < r->c->count;
  return now_s() < r->t_end;
}

static void next_request(struct run *r, struct conn *k) {
  char body[512];
  snprintf(body, sizeof body, "{\"jobName\":\"b%ld\",\"jobQueue\":\"%s\",\"jobDefinition\":\"bench-jd\"}", r->seq++,
           r->c->queue);
  build_request(r->c, "/v1/submitjob", body, &k->out);
  k->sent = 0;
  k->t0 = now_s();
  r->started++;
}

static void record(struct run *r, double lat, int status) {
  r->done++;
  if (status != 200) r->errors++;
  int cls = status / 100;
  r->by_status[cls >= 0 && cls < 6 ? cls : 0]++;
  if (r->nlat == r->caplat) {
    r->caplat = r->caplat ? r->caplat * 2 : 65536;
    r->lat = xrealloc(r->lat, r->caplat * sizeof *r->lat);
  }
  r->lat[r->nlat++] = lat;
}

/* Drives one connection after epoll said it is ready; -1 when it closed. */
static int step(struct run *r, struct conn *k, int epfd) {
  while (k->sent < k->out.len) {
    ssize_t w = write(k->fd, (const char *)k->out.data + k->sent, k->out.len - k->sent);
    if (w < 0) return errno == EAGAIN ? 0 : -1;
    k->sent += (size_t)w;
  }
  char tmp[16384];
  for (;;) {
    ssize_t n = read(k->fd, tmp, sizeof tmp);
    if (n == 0) return -1;
    if (n < 0) break;
    buf_append(&k->in, tmp, (size_t)n);
  }
  int status;
  size_t len;
  while (k->in.len && (len = response_len((const char *)k->in.data, k->in.len, &status))) {
    record(r, now_s() - k->t0, status);
    memmove(k->in.data, (char *)k->in.data + len, k->in.len - len);
    k->in.len -= len;
    if (!more_to_send(r)) {
      epoll_ctl(epfd, EPOLL_CTL_DEL, k->fd, NULL);
      return 1;
    }
    next_request(r, k);
    return step(r, k, epfd);
  }
  if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
  return 0;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void report(struct run *r, double secs, double api_cpu, double broker_cpu) {
  qsort(r->lat, r->nlat, sizeof *r->lat, cmp_d);
  double p50 = r->nlat ? r->lat[r->nlat / 2] : 0, p99 = r->nlat ? r->lat[(size_t)((double)r->nlat * 0.99)] : 0;
  double mx = r->nlat ? r->lat[r->nlat - 1] : 0;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double self = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
  printf("SubmitJob: %ld requests in %.2f s over %d connections: %.0f SubmitJob/s\n", r->done, secs, r->c->conns,
         (double)(r->done - r->errors) / secs);
  printf("latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", p50 * 1e3, p99 * 1e3, mx * 1e3);
  printf("errors: %ld (2xx %ld, 4xx %ld, 5xx %ld, other %ld)\n", r->errors, r->by_status[2], r->by_status[4],
         r->by_status[5], r->by_status[0] + r->by_status[1] + r->by_status[3]);
  if (api_cpu >= 0) printf("cpu: api %.2f s (%.0f%% of one core)\n", api_cpu, 100 * api_cpu / secs);
  if (broker_cpu >= 0) printf("cpu: broker %.2f s (%.0f%% of one core)\n", broker_cpu, 100 * broker_cpu / secs);
  printf("cpu: load generator %.2f s (%.0f%% of one core); machine: %ld CPUs online\n", self, 100 * self / secs,
         sysconf(_SC_NPROCESSORS_ONLN));
}

static int run_load(const struct cfg *c) {
  struct run r = {.c = c};
  int epfd = epoll_create1(0);
  struct conn *ks = xcalloc((size_t)c->conns, sizeof *ks);
  double api0 = proc_cpu_s(c->api_pid), br0 = proc_cpu_s(c->broker_pid), t0 = now_s();
  r.t_end = t0 + c->duration;
  int live = 0;
  for (int i = 0; i < c->conns; i++) {
    struct conn *k = &ks[i];
    buf_init(&k->out);
    buf_init(&k->in);
    k->fd = connect_to(c->endpoint);
    if (k->fd < 0) {
      fprintf(stderr, "bench: cannot connect to %s\n", c->endpoint);
      return 2;
    }
    fcntl(k->fd, F_SETFL, O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = k};
    epoll_ctl(epfd, EPOLL_CTL_ADD, k->fd, &ev);
    if (more_to_send(&r)) {
      next_request(&r, k);
      live++;
    }
  }
  struct epoll_event evs[256];
  while (live > 0) {
    int n = epoll_wait(epfd, evs, 256, 1000);
    for (int i = 0; i < n; i++) {
      struct conn *k = evs[i].data.ptr;
      if (k->fd < 0) continue;
      int s = step(&r, k, epfd);
      if (s != 0) {
        if (s < 0) {
          r.errors++, r.done++;
          epoll_ctl(epfd, EPOLL_CTL_DEL, k->fd, NULL);
        }
        close(k->fd);
        k->fd = -1;
        live--;
      }
    }
  }
  double secs = now_s() - t0;
  double api1 = proc_cpu_s(c->api_pid), br1 = proc_cpu_s(c->broker_pid);
  report(&r, secs, api0 >= 0 && api1 >= 0 ? api1 - api0 : -1, br0 >= 0 && br1 >= 0 ? br1 - br0 : -1);
  int rc = r.errors ? 1 : 0;
  for (int i = 0; i < c->conns; i++) {
    buf_release(&ks[i].out);
    buf_release(&ks[i].in);
  }
  free(ks);
  free(r.lat);
  close(epfd);
  return rc;
}

int main(int argc, char **argv) {
  struct cfg c = {.region = "us-east-1", .queue = "bench-q", .conns = 64, .count = 0, .duration = 10, .setup = 1};
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--endpoint")) c.endpoint = v;
    else if (!strcmp(k, "--access-key")) c.ak = v;
    else if (!strcmp(k, "--secret")) c.sk = v;
    else if (!strcmp(k, "--region")) c.region = v;
    else if (!strcmp(k, "--queue")) c.queue = v;
    else if (!strcmp(k, "--connections")) c.conns = atoi(v);
    else if (!strcmp(k, "--count")) c.count = atol(v);
    else if (!strcmp(k, "--duration")) c.duration = atof(v);
    else if (!strcmp(k, "--api-pid")) c.api_pid = atoi(v);
    else if (!strcmp(k, "--broker-pid")) c.broker_pid = atoi(v);
    else if (!strcmp(k, "--setup")) c.setup = atoi(v);
    else {
      fprintf(stderr, "bench_api_submit: unknown option %s\n", k);
      return 2;
    }
  }
  if (!c.endpoint || !c.ak || !c.sk || c.conns < 1 || c.conns > 10000) {
    fprintf(stderr, "usage: bench_api_submit --endpoint HOST:PORT --access-key AK --secret SK [--region R] "
                    "[--connections N] [--count N | --duration S] [--api-pid PID] [--broker-pid PID] "
                    "[--queue NAME] [--setup 0]\n");
    return 2;
  }
  if ((c.setup && setup(&c)) || warm_up(&c)) return 2;
  return run_load(&c);
}
