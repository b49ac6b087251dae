/* bench_api_reads.c: `barge api`'s reads at a million jobs, over HTTP with SigV4.
 *
 *   1. fills barge.jobs (under a fresh topic prefix) with N JobRecords (default 1,000,000),
 *      encoded by the real codec and produced directly, as the scheduler would have written
 *      them: one job queue, 90% SUCCEEDED, 5% RUNNING, 5% RUNNABLE, 2 KiB-ish records with a
 *      container, parameters and an attempt;
 *   2. starts `barge api` on them and waits until its view is loaded (DescribeJobs of the last
 *      job answers): prints the load time and the API's resident memory;
 *   3. times signed requests from one client connection: DescribeJobs of one random id,
 *      DescribeJobs of 100 random ids, and ListJobs page walks (maxResults 100) over the
 *      RUNNING jobs (50,000 at 1M) and over the SUCCEEDED ones (900,000): p50, p99, max;
 *   4. logs in to the web dashboard (docs/dashboard.md) and times its job table's pages: the
 *      first page of all jobs, newest and oldest first, of one status, a walk of pages by
 *      cursor deep into the SUCCEEDED jobs, a search by name that matches nearly every job and
 *      one that matches a single job in the middle (a search walks for at most DASH_SEARCH_MS
 *      per request), and the per-queue counts; as the client and as the
 *      API timed them (the answer's tookMs). The target: a page in under 300 ms at 1M jobs.
 *
 * Usage: bench_api_reads [--jobs N] [--requests N] [--brokers HOST:PORT | --kafka-dir DIR]
 *                        [--barge PATH]
 * The brokers default to $BARGE_BROKERS, else DIR/bootstrap of scripts/kafka.sh. The topics
 * (prefix benchreads<random>.) are left on the broker; a dev broker is best (docs/api.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "apicall.h"
#include "bench_args.h"
#include "bench_machine.h"
#include "bus.h"
#include "codec.h"
#include "control.h"
#include "jsonget.h"

#define QUEUE "bench-q"

struct opts {
  long jobs, requests;
  const char *brokers, *barge;
  char brokers_buf[512], prefix[64], barge_buf[1024];
};

static void parse(int argc, char **argv, struct opts *o) {
  memset(o, 0, sizeof *o);
  o->jobs = 1000000;
  o->requests = 2000;
  o->brokers = getenv("BARGE_BROKERS");
  static const char usage[] = "bench_api_reads [--jobs N] [--requests N] [--brokers HOST:PORT | --kafka-dir DIR] "
                              "[--barge PATH]";
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 == argc) exit(bench_unknown("bench_api_reads", usage, argv[i]));
    if (!strcmp(argv[i], "--jobs")) {
      if (bench_number("bench_api_reads", usage, "--jobs", argv[i + 1], 1, &o->jobs)) exit(2);
    } else if (!strcmp(argv[i], "--requests")) {
      if (bench_number("bench_api_reads", usage, "--requests", argv[i + 1], 1, &o->requests)) exit(2);
    } else if (!strcmp(argv[i], "--brokers")) o->brokers = argv[i + 1];
    else if (!strcmp(argv[i], "--barge")) o->barge = argv[i + 1];
    else if (!strcmp(argv[i], "--kafka-dir")) {
      char path[600];
      snprintf(path, sizeof path, "%s/bootstrap", argv[i + 1]);
      char *t = read_file(path, NULL);
      if (t) snprintf(o->brokers_buf, sizeof o->brokers_buf, "%s", t), o->brokers = o->brokers_buf;
      free(t);
    } else exit(bench_unknown("bench_api_reads", usage, argv[i]));
  }
  if (o->brokers_buf[0]) o->brokers_buf[strcspn(o->brokers_buf, "\n ")] = 0;
  if (!o->brokers) {
    fprintf(stderr, "give --brokers, --kafka-dir or BARGE_BROKERS\n");
    exit(2);
  }
  if (!o->barge) { /* the build's barge, next to bench/ */
    char self[900] = "";
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash) *slash = 0;
    snprintf(o->barge_buf, sizeof o->barge_buf, "%s/../barge", self);
    o->barge = o->barge_buf;
  }
  char r[9];
  random_hex(r, sizeof r);
  snprintf(o->prefix, sizeof o->prefix, "benchreads%s.", r);
}

static void job_id(long i, char out[37]) {
  snprintf(out, 37, "b0000000-0000-4000-8000-%012lu", (unsigned long)i % 1000000000000UL);
}

static const char *status_of(long i) { return i % 20 == 0 ? "RUNNING" : i % 20 == 1 ? "RUNNABLE" : "SUCCEEDED"; }

/* The configuration (through the write operations, as a user would) and N job records. */
static int fill(const struct bus_conf *bc, long n, char *qarn, size_t qlen) {
  char err[1024];
  json_t *resp = NULL;
  json_t *ce = json_pack("{s:s, s:s}", "computeEnvironmentName", "bench-ce", "type", "UNMANAGED");
  json_t *q = json_pack("{s:s, s:i, s:[{s:i, s:s}]}", "jobQueueName", QUEUE, "priority", 1, "computeEnvironmentOrder",
                        "order", 1, "computeEnvironment", "bench-ce");
  int rc = control_call(bc, "CreateComputeEnvironment", ce, &resp, err, sizeof err);
  json_decref(resp);
  if (!rc) rc = control_call(bc, "CreateJobQueue", q, &resp, err, sizeof err);
  if (!rc) snprintf(qarn, qlen, "%s", jget_str(resp, "jobQueueArn"));
  json_decref(resp);
  json_decref(ce);
  json_decref(q);
  if (rc) return fprintf(stderr, "configuration: %s\n", err), -1;
  struct bus_producer *p = bus_producer_new(bc, NULL, err, sizeof err);
  if (!p) return fprintf(stderr, "producer: %s\n", err), -1;
  int64_t t0 = mono_ms(), base = now_ms() - n * 10;
  size_t bytes = 0;
  struct buf enc;
  buf_init(&enc);
  for (long i = 0; i < n; i++) {
    char id[37], arn[256];
    job_id(i, id);
    snprintf(arn, sizeof arn, "arn:barge:batch:local:000000000000:job/%s", id);
    const char *st = status_of(i);
    json_t *rec = json_pack(
        "{s:o, s:{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:[{s:{s:i, s:s}, s:I, s:I}], s:[], s:{s:s},"
        " s:{s:s, s:[s, s, s], s:[{s:s, s:s}, {s:s, s:s}], s:[{s:s, s:s}], s:s}, s:{}, s:b, s:[s], s:b, s:b}, s:i, s:I, s:[]}",
        "header", bus_header("scheduler", id, base + i * 10), "detail", "jobArn", arn, "jobName", i == n / 2 ? "needle-job" : "bench-job", "jobId", id,
        "jobQueue", qarn, "status", st, "createdAt", (json_int_t)(base + i * 10), "startedAt", (json_int_t)(base + i * 10 + 5),
        "jobDefinition", "arn:barge:batch:local:000000000000:job-definition/bench:1", "attempts", "container", "exitCode", 0,
        "logStreamName", "bench/default/0123456789abcdef", "startedAt", (json_int_t)(base + i * 10 + 5), "stoppedAt",
        (json_int_t)(base + i * 10 + 9), "dependsOn", "parameters", "input", "s3://bucket/some/input/path", "container",
        "image", "busybox:latest", "command", "sh", "-c", "echo processing Ref::input && sleep 1", "resourceRequirements",
        "type", "VCPU", "value", "1", "type", "MEMORY", "value", "512", "environment", "name", "STAGE", "value", "bench",
        "logStreamName", "bench/default/0123456789abcdef", "tags", "propagateTags", 0, "platformCapabilities", "EC2",
        "isCancelled", 0, "isTerminated", 0, "attempt", 1, "queueSeq", (json_int_t)i, "dependencyIds");
    buf_reset(&enc);
    if (!rec || codec_encode(bus_topic_type(TOPIC_JOBS), rec, &enc, err, sizeof err) ||
        bus_produce_raw(p, TOPIC_JOBS, id, strlen(id), enc.data, enc.len, -1, err, sizeof err)) {
      fprintf(stderr, "job %ld: %s\n", i, rec ? err : "bad template");
      json_decref(rec);
      buf_release(&enc);
      bus_producer_free(p);
      return -1;
    }
    bytes += enc.len;
    json_decref(rec);
    if (i % 10000 == 0) bus_producer_poll(p);
  }
  buf_release(&enc);
  rc = bus_flush(p, 300000, err, sizeof err);
  bus_producer_free(p);
  if (rc) return fprintf(stderr, "flush: %s\n", err), -1;
  double s = (double)(mono_ms() - t0) / 1000;
  printf("filled barge.jobs: %ld JobRecords (%.0f bytes each encoded) in %.1f s (%.0f/s)\n", n,
         (double)bytes / (double)n, s, (double)n / s);
  return 0;
}

/* ---------------- the API process ---------------- */

static pid_t api_pid;

/* Starts barge api on bc; its address into addr. */
static int start_api(const struct opts *o, const char *creds, char *addr, size_t n) {
  int fds[2];
  if (pipe(fds)) return -1;
  api_pid = fork();
  if (api_pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    char log[128];
    snprintf(log, sizeof log, "/tmp/bench-api-reads-%d.log", (int)getppid());
    FILE *lf = fopen(log, "w");
    if (lf) dup2(fileno(lf), 2);
    setenv("BARGE_LOG", "debug", 1); /* a log line per answered request, read back below */
    execl(o->barge, o->barge, "api", "--listen", "127.0.0.1:0", "--credentials-file", creds, "--brokers", o->brokers,
          "--topic-prefix", o->prefix, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  FILE *f = fdopen(fds[0], "r");
  char line[512];
  int rc = -1;
  while (f && fgets(line, sizeof line, f)) {
    char *h = strstr(line, "http://");
    if (h) {
      snprintf(addr, n, "%.*s", (int)strcspn(h, " \n"), h);
      rc = 0;
      break;
    }
  }
  return rc; /* the pipe stays open: the API's later output is not read */
}

static long rss_kib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) kib = atol(line + 6);
  if (f) fclose(f);
  return kib;
}

/* ---------------- timing ---------------- */

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *what, double *us, long n) {
  qsort(us, (size_t)n, sizeof *us, cmp_d);
  double sum = 0;
  for (long i = 0; i < n; i++) sum += us[i];
  printf("  %-44s n=%-5ld p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  mean %7.2f ms\n", what, n,
         us[n / 2] / 1000, us[(long)((double)n * 0.99)] / 1000, us[n - 1] / 1000, sum / (double)n / 1000);
}

static json_t *ids_req(long njobs, int k) {
  json_t *ids = json_array();
  for (int j = 0; j < k; j++) {
    char id[37];
    job_id(random() % njobs, id);
    json_array_append_new(ids, json_string(id));
  }
  return json_pack("{s:o}", "jobs", ids);
}

/* n DescribeJobs of k random ids each; -1 when one fails or misses a job. */
static int time_describe(struct apicall *a, const struct opts *o, int k, long n, const char *what) {
  double *us = xcalloc((size_t)n, sizeof *us);
  char err[512];
  for (long i = 0; i < n; i++) {
    json_t *req = ids_req(o->jobs, k), *resp = NULL;
    double t = now_us();
    int st = apicall_json(a, "POST", "/v1/describejobs", req, &resp, err, sizeof err);
    us[i] = now_us() - t;
    size_t got = json_array_size(json_object_get(resp, "jobs"));
    json_decref(req);
    json_decref(resp);
    if (st != 200 || got != (size_t)k) {
      fprintf(stderr, "DescribeJobs: status %d, %zu of %d jobs: %s\n", st, got, k, err);
      free(us);
      return -1;
    }
  }
  report(what, us, n);
  free(us);
  return 0;
}

/* Walks ListJobs pages of status (maxResults 100), up to n pages. */
static int time_list(struct apicall *a, const char *status, long n, const char *what) {
  double *us = xcalloc((size_t)n, sizeof *us);
  char err[512];
  json_t *token = NULL;
  long pages = 0, items = 0;
  for (; pages < n; pages++) {
    json_t *req = json_pack("{s:s, s:s, s:i}", "jobQueue", QUEUE, "jobStatus", status, "maxResults", 100), *resp = NULL;
    if (token) json_object_set_new(req, "nextToken", token);
    double t = now_us();
    int st = apicall_json(a, "POST", "/v1/listjobs", req, &resp, err, sizeof err);
    us[pages] = now_us() - t;
    json_decref(req);
    if (st != 200) {
      fprintf(stderr, "ListJobs: status %d: %s\n", st, err);
      json_decref(resp);
      free(us);
      return -1;
    }
    items += (long)json_array_size(json_object_get(resp, "jobSummaryList"));
    token = json_incref(json_object_get(resp, "nextToken"));
    json_decref(resp);
    if (!token) {
      pages++;
      break;
    }
  }
  json_decref(token);
  char label[128];
  snprintf(label, sizeof label, "%s (%ld items)", what, items);
  report(label, us, pages);
  free(us);
  return 0;
}

static void machine(void) {
  char model[256];
  (void)bench_cpu_model(model, sizeof model);
  printf("machine: %ld CPUs (%s)\n", sysconf(_SC_NPROCESSORS_ONLN), model);
}

static long probes = 1; /* DescribeJobs sent while waiting for the view */

static int measure(const struct opts *o, const char *addr) {
  struct apicall *a = apicall_new(addr, "AKIABENCHREADS", "bench-secret", "us-east-1", "batch");
  int64_t t0 = mono_ms();
  char last[37], err[512];
  job_id(o->jobs - 1, last);
  json_t *probe = json_pack("{s:[s]}", "jobs", last);
  for (;; probes++) { /* the API answers ServerException until its view is loaded */
    json_t *resp = NULL;
    int st = apicall_json(a, "POST", "/v1/describejobs", probe, &resp, err, sizeof err);
    size_t got = json_array_size(json_object_get(resp, "jobs"));
    json_decref(resp);
    if (st == 200 && got == 1) break;
    if (mono_ms() - t0 > 900000) return fprintf(stderr, "the view did not load in 15 minutes\n"), -1;
    usleep(100000);
  }
  json_decref(probe);
  printf("view loaded: %.1f s after the API started; API resident memory %.0f MiB (%.0f bytes a job)\n",
         (double)(mono_ms() - t0) / 1000, (double)rss_kib(api_pid) / 1024,
         (double)rss_kib(api_pid) * 1024 / (double)o->jobs);
  printf("signed requests over HTTP from one connection:\n");
  int rc = time_describe(a, o, 1, o->requests, "DescribeJobs, 1 id");
  if (!rc) rc = time_describe(a, o, 100, o->requests / 10, "DescribeJobs, 100 ids");
  if (!rc) rc = time_list(a, "RUNNING", 50, "ListJobs page of 100, RUNNING");
  if (!rc) rc = time_list(a, "SUCCEEDED", 20, "ListJobs page of 100, SUCCEEDED");
  apicall_free(a);
  return rc;
}

/* The API's own time per request (its log line's "(N ms)", whole milliseconds), in the order
 * sent: what the client figures add is the client, the HTTP exchange and the machine's noise. */
static void server_side(const struct opts *o, const char *log) {
  char *text = read_file(log, NULL);
  if (!text) return;
  long nd = 0, nl = 0;
  double *d = xcalloc((size_t)(probes + o->requests + o->requests / 10 + 1), sizeof *d), *l = xcalloc(100, sizeof *l);
  for (char *sv, *line = strtok_r(text, "\n", &sv); line; line = strtok_r(NULL, "\n", &sv)) {
    char *ms = strstr(line, " -> 200 (");
    if (!ms) continue;
    double v = atof(ms + 9) * 1000;
    if (strstr(line, " DescribeJobs -> ") && nd < probes + o->requests + o->requests / 10) d[nd++] = v;
    else if (strstr(line, " ListJobs -> ") && nl < 100) l[nl++] = v;
  }
  printf("the same requests as the API timed them (whole ms, from its log):\n");
  if (nd > probes + o->requests) {
    report("DescribeJobs, 1 id", d + probes, o->requests);
    report("DescribeJobs, 100 ids", d + probes + o->requests, nd - probes - o->requests);
  }
  if (nl) report("ListJobs page of 100 (both walks)", l, nl);
  free(d);
  free(l);
  free(text);
}

/* ---------------- the dashboard's job table ---------------- */

struct dash_client {
  CURL *c;
  const char *base;
  struct buf body;
};

static size_t on_body(char *p, size_t size, size_t n, void *ctx) {
  buf_append(ctx, p, size * n);
  return size * n;
}

/* GET path (POST when post is given) on the dashboard; the HTTP status, *out the JSON answer. */
static long dash_req(struct dash_client *dc, const char *path, const char *post, json_t **out) {
  char url[1500];
  snprintf(url, sizeof url, "%s%s", dc->base, path);
  buf_reset(&dc->body);
  curl_easy_setopt(dc->c, CURLOPT_URL, url);
  if (post) curl_easy_setopt(dc->c, CURLOPT_POSTFIELDS, post);
  else curl_easy_setopt(dc->c, CURLOPT_HTTPGET, 1L);
  long status = 0;
  if (curl_easy_perform(dc->c) == CURLE_OK) curl_easy_getinfo(dc->c, CURLINFO_RESPONSE_CODE, &status);
  *out = json_loadb(dc->body.data ? (const char *)dc->body.data : "", dc->body.len, 0, NULL);
  return status;
}

/* n requests of path; with walk, each after the previous answer's cursor (until the last page). */
static int time_dash(struct dash_client *dc, const char *what, const char *path, long n, int walk) {
  double *us = xcalloc((size_t)n, sizeof *us), *srv = xcalloc((size_t)n, sizeof *srv);
  char cur[1500], next[300] = "";
  long i = 0, rows = 0, scanned = 0;
  int rc = 0;
  while (i < n) {
    snprintf(cur, sizeof cur, "%s%s%s", path, *next ? "&after=" : "", next);
    json_t *r = NULL;
    double t = now_us();
    long st = dash_req(dc, cur, NULL, &r);
    us[i] = now_us() - t;
    if (st != 200) {
      fprintf(stderr, "dashboard %s: HTTP %ld %s\n", cur, st, dc->body.data ? (const char *)dc->body.data : "");
      json_decref(r);
      rc = -1;
      break;
    }
    srv[i++] = json_number_value(json_object_get(r, "tookMs")) * 1000;
    rows += (long)json_array_size(json_object_get(r, "jobs"));
    scanned += (long)json_integer_value(json_object_get(r, "scanned"));
    const char *nx = jget_str(r, "next");
    snprintf(next, sizeof next, "%s", walk && nx ? nx : "");
    json_decref(r);
    if (walk && !nx) break;
  }
  if (!rc) {
    char label[200];
    snprintf(label, sizeof label, "%s (%ld rows, %ld visited)", what, rows, scanned);
    report(label, us, i);
    double any = 0;
    for (long k = 0; k < i; k++) any += srv[k];
    if (any > 0) report("  the same, as the API timed it (tookMs)", srv, i);
  }
  free(us);
  free(srv);
  return rc;
}

static int measure_dashboard(const char *addr) {
  struct dash_client dc = {curl_easy_init(), addr, {0}};
  buf_init(&dc.body);
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(dc.c, CURLOPT_COOKIEFILE, ""); /* the session cookie */
  curl_easy_setopt(dc.c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(dc.c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(dc.c, CURLOPT_WRITEDATA, &dc.body);
  json_t *r = NULL;
  long st = dash_req(&dc, "/dashboard/api/login", "{\"accessKey\":\"AKIABENCHREADS\",\"secretKey\":\"bench-secret\"}", &r);
  json_decref(r);
  int rc = st == 200 ? 0 : (fprintf(stderr, "dashboard login: HTTP %ld\n", st), -1);
  printf("the dashboard's job table (pages of 50), one connection:\n");
  if (!rc) rc = time_dash(&dc, "first page, all jobs, newest first", "/dashboard/api/jobs?limit=50", 200, 0);
  if (!rc) rc = time_dash(&dc, "first page, all jobs, oldest first", "/dashboard/api/jobs?limit=50&sort=oldest", 200, 0);
  if (!rc) rc = time_dash(&dc, "first page, queue + RUNNING", "/dashboard/api/jobs?limit=50&queue=" QUEUE "&status=RUNNING", 200, 0);
  if (!rc) rc = time_dash(&dc, "first page, queue + RUNNABLE, oldest first",
                          "/dashboard/api/jobs?limit=50&queue=" QUEUE "&status=RUNNABLE&sort=oldest", 200, 0);
  if (!rc) rc = time_dash(&dc, "200 pages deep, SUCCEEDED, by cursor", "/dashboard/api/jobs?limit=50&status=SUCCEEDED", 200, 1);
  if (!rc) rc = time_dash(&dc, "search 'bench' (nearly all match)", "/dashboard/api/jobs?limit=50&q=bench", 100, 0);
  if (!rc) rc = time_dash(&dc, "search 'needle' (1 job), walked to the end", "/dashboard/api/jobs?limit=50&q=needle", 100, 1);
  if (!rc) rc = time_dash(&dc, "per-queue counts (overview)", "/dashboard/api/overview", 200, 0);
  curl_slist_free_all(h);
  curl_easy_cleanup(dc.c);
  buf_release(&dc.body);
  return rc;
}

int main(int argc, char **argv) {
  struct opts o;
  parse(argc, argv, &o);
  char err[1024];
  if (codec_init(err, sizeof err)) return fprintf(stderr, "codec: %s\n", err), 1;
  setvbuf(stdout, NULL, _IOLBF, 0);
  srandom(1);
  machine();
  struct bus_conf bc = {.brokers = o.brokers, .prefix = o.prefix, .client_id = "bench-api-reads"};
  if (bus_ensure_topics(&bc, err, sizeof err)) return fprintf(stderr, "topics: %s\n", err), 1;
  printf("brokers %s, topics %s*\n", o.brokers, o.prefix);
  char qarn[512];
  if (fill(&bc, o.jobs, qarn, sizeof qarn)) return 1;
  char creds[256], addr[256];
  snprintf(creds, sizeof creds, "/tmp/bench-api-reads-%d.credentials", (int)getpid());
  static const char keys[] = "[bench]\naws_access_key_id = AKIABENCHREADS\naws_secret_access_key = bench-secret\n";
  if (write_file_atomic(creds, keys, sizeof keys - 1))
    return fprintf(stderr, "cannot write %s\n", creds), 1;
  if (start_api(&o, creds, addr, sizeof addr)) return fprintf(stderr, "barge api (%s) did not start\n", o.barge), 1;
  printf("barge api at %s (pid %d, log /tmp/bench-api-reads-%d.log)\n", addr, (int)api_pid, (int)getpid());
  int rc = measure(&o, addr);
  if (!rc) rc = measure_dashboard(addr);
  kill(api_pid, SIGTERM);
  waitpid(api_pid, NULL, 0);
  unlink(creds);
  char log[128];
  snprintf(log, sizeof log, "/tmp/bench-api-reads-%d.log", (int)getpid());
  if (!rc) server_side(&o, log);
  return rc ? 1 : 0;
}
