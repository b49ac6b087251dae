/* throughput_driver.c: the Barge side of bench/throughput.sh (docs/benchmarks.md), run against a
 * stack that is already up, with a job queue and a job definition.
 *
 *   array N    submits one array job of N tasks through the client library (the same validation
 *              and durable write as `barge submit-job`) and waits until the parent is SUCCEEDED
 *              or FAILED. The wait follows barge.jobs (committed records only) positioned at its
 *              end before the submission, and decodes only the parent's own records (compared
 *              by key), so watching costs the machine next to nothing. Prints one line of
 *              key=value: the client-observed time from the submission to the parent's terminal
 *              record, and the parent's own stoppedAt - createdAt.
 *   latency N  submits N single jobs one by one on idle capacity; for each, the time from the
 *              submission to reading its RUNNING transition on barge.job-events (a consumer
 *              positioned before the first submission: no polling of DescribeJobs), then waits
 *              for its terminal transition before the next one. At the end it reads barge.jobs
 *              once for each job's startedAt - createdAt. Prints p50/p90/p99/max of both, and
 *              of the submission's acknowledgement alone.
 *
 * Usage: throughput_driver --brokers B [--topic-prefix P] --job-queue Q --job-definition JD
 *                          (array N [--timeout-s S] | latency N [--gap-ms MS]) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "barge/client.h"
#include "bus.h"
#include "jsonget.h"
#include "util.h"

struct drv {
  struct bus_conf bc;
  struct barge_client *client;
  const char *queue, *jobdef;
};

static int usage(void) {
  fprintf(stderr, "usage: throughput_driver --brokers B [--topic-prefix P] --job-queue Q "
                  "--job-definition JD (array N [--timeout-s S] | latency N [--gap-ms MS])\n");
  return 2;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A consumer of one topic positioned at its current end (read_committed), or NULL. */
static struct bus_consumer *follow(struct drv *d, enum bus_topic t) {
  char err[512];
  struct bus_consumer *c = bus_consumer_new(&d->bc, NULL, 1, err, sizeof err);
  if (!c || bus_assign_all(c, &t, 1, 0, err, sizeof err)) {
    fprintf(stderr, "throughput_driver: following %s: %s\n", bus_topic_base(t), err);
    bus_consumer_free(c);
    return NULL;
  }
  return c;
}

/* Submits a job (size 0: single); 0 with its id in id_out. */
static int submit(struct drv *d, const char *name, long size, char *id_out, size_t n) {
  json_t *req = json_pack("{s:s, s:s, s:s}", "jobName", name, "jobQueue", d->queue,
                          "jobDefinition", d->jobdef);
  if (size > 0) json_object_set_new(req, "arrayProperties", json_pack("{s:I}", "size", (json_int_t)size));
  char *s = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  char err[1024];
  int rc = barge_submit_job(d->client, s, id_out, n, err, sizeof err);
  free(s);
  if (rc) fprintf(stderr, "throughput_driver: submit-job: %s\n", err);
  return rc;
}

/* bus_poll, saying on stderr what failed when it returns -1. */
static int next_msg(struct bus_consumer *c, int timeout_ms, struct bus_msg *m, const char *topic) {
  char err[512];
  int pr = bus_poll(c, timeout_ms, m, err, sizeof err);
  if (pr < 0) fprintf(stderr, "throughput_driver: reading %s: %s\n", topic, err);
  return pr;
}

static int is_terminal(const char *st) { return st && (!strcmp(st, "SUCCEEDED") || !strcmp(st, "FAILED")); }

/* ---------------------------------------------------------------------------------- array -- */

/* Polls barge.jobs until the parent's record is terminal; its detail (owned) or NULL. */
static json_t *wait_parent(struct bus_consumer *c, const char *id, int64_t deadline_ms) {
  size_t idlen = strlen(id);
  int64_t next_note = mono_ms() + 10000;
  char err[512];
  while (mono_ms() < deadline_ms) {
    struct bus_msg m;
    int pr = next_msg(c, 200, &m, "barge.jobs");
    if (pr < 0) return NULL;
    if (pr != 1) continue;
    json_t *detail = NULL;
    if (m.keylen == idlen && !memcmp(m.key, id, idlen) && m.value) {
      enum barge_ev_type type;
      json_t *rec = NULL;
      if (!bus_decode(&m, &type, &rec, err, sizeof err)) detail = json_incref(json_object_get(rec, "detail"));
      json_decref(rec);
    }
    bus_msg_release(&m);
    if (!detail) continue;
    if (is_terminal(jget_str(detail, "status"))) return detail;
    if (mono_ms() >= next_note) {
      char *ss = json_dumps(json_object_get(json_object_get(detail, "arrayProperties"), "statusSummary"),
                            JSON_COMPACT);
      fprintf(stderr, "throughput_driver: %s %s\n", jget_str(detail, "status"), ss ? ss : "");
      free(ss);
      next_note = mono_ms() + 10000;
    }
    json_decref(detail);
  }
  fprintf(stderr, "throughput_driver: the array was not terminal in time\n");
  return NULL;
}

static int run_array(struct drv *d, long size, int timeout_s) {
  struct bus_consumer *c = follow(d, TOPIC_JOBS);
  if (!c) return 1;
  char name[64], id[64];
  snprintf(name, sizeof name, "bench-array-%ld", size);
  int64_t t0 = mono_ms();
  if (submit(d, name, size, id, sizeof id)) {
    bus_consumer_free(c);
    return 1;
  }
  int64_t t_ack = mono_ms();
  json_t *detail = wait_parent(c, id, t0 + (int64_t)timeout_s * 1000);
  int64_t t_end = mono_ms();
  bus_consumer_free(c);
  if (!detail) return 1;
  const char *status = jget_str(detail, "status");
  long long created = jget_int(detail, "createdAt", 0), stopped = jget_int(detail, "stoppedAt", 0);
  printf("tasks=%ld job_id=%s status=%s submit_ack_ms=%lld observed_ms=%lld events_ms=%lld\n", size,
         id, status, (long long)(t_ack - t0), (long long)(t_end - t0), stopped - created);
  int ok = !strcmp(status, "SUCCEEDED");
  json_decref(detail);
  return ok ? 0 : 1;
}

/* -------------------------------------------------------------------------------- latency -- */

struct lat {
  char id[64];
  int64_t ack_ms, observed_ms; /* submission acknowledged; RUNNING read (-1: never seen) */
  int64_t created_at, started_at;
};

/* Polls barge.job-events until job l->id is terminal, noting when RUNNING was read. 0 when it
 * ended within the deadline. */
static int follow_job(struct bus_consumer *c, struct lat *l, int64_t t0, int64_t deadline_ms) {
  char err[512];
  while (mono_ms() < deadline_ms) {
    struct bus_msg m;
    int pr = next_msg(c, 100, &m, "barge.job-events");
    if (pr < 0) return -1;
    if (pr != 1) continue;
    int64_t seen = mono_ms();
    enum barge_ev_type type;
    json_t *ev = NULL;
    int done = 0;
    if (m.value && !bus_decode(&m, &type, &ev, err, sizeof err) && jget_str(ev, "jobId") &&
        !strcmp(jget_str(ev, "jobId"), l->id)) {
      const char *ns = jget_str(ev, "newStatus");
      if (ns && !strcmp(ns, "RUNNING") && l->observed_ms < 0) l->observed_ms = seen - t0;
      done = is_terminal(ns);
    }
    json_decref(ev);
    bus_msg_release(&m);
    if (done) return 0;
  }
  fprintf(stderr, "throughput_driver: job %s not terminal in time\n", l->id);
  return -1;
}

struct lat_set {
  struct lat *v;
  int n;
};

static void collect_times(void *ctx, const struct bus_msg *m) {
  struct lat_set *ls = ctx;
  for (int i = 0; i < ls->n; i++) {
    struct lat *l = &ls->v[i];
    if (m->keylen != strlen(l->id) || memcmp(m->key, l->id, m->keylen) || !m->value) continue;
    enum barge_ev_type type;
    json_t *rec = NULL;
    char err[256];
    if (!bus_decode(m, &type, &rec, err, sizeof err)) {
      json_t *dt = json_object_get(rec, "detail");
      l->created_at = jget_int(dt, "createdAt", 0);
      l->started_at = jget_int(dt, "startedAt", 0);
    }
    json_decref(rec);
    return;
  }
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Prints p50/p90/p99/max of the n values (sorted in place); nearest-rank percentiles. */
static void print_pcts(const char *what, int64_t *v, int n) {
  if (n == 0) {
    printf("%-48s no samples\n", what);
    return;
  }
  qsort(v, (size_t)n, sizeof *v, cmp_i64);
  int p[3] = {50, 90, 99};
  int64_t r[3];
  for (int i = 0; i < 3; i++) {
    int k = (p[i] * n + 99) / 100; /* ceil(p% of n), 1-based */
    r[i] = v[(k < 1 ? 1 : k) - 1];
  }
  printf("%-48s p50 %5lld ms  p90 %5lld ms  p99 %5lld ms  max %5lld ms  (n=%d)\n", what,
         (long long)r[0], (long long)r[1], (long long)r[2], (long long)v[n - 1], n);
}

static void report_latency(struct lat *v, int n) {
  int64_t *a = xcalloc((size_t)n, sizeof *a), *b = xcalloc((size_t)n, sizeof *b),
          *e = xcalloc((size_t)n, sizeof *e);
  int na = 0, nb = 0, ne = 0;
  for (int i = 0; i < n; i++) {
    a[na++] = v[i].ack_ms;
    if (v[i].observed_ms >= 0) b[nb++] = v[i].observed_ms;
    if (v[i].started_at && v[i].created_at) e[ne++] = v[i].started_at - v[i].created_at;
  }
  print_pcts("submit acknowledged (durable write)", a, na);
  print_pcts("submit -> RUNNING, events (startedAt-createdAt)", e, ne);
  print_pcts("submit -> RUNNING, client-observed", b, nb);
  if (nb < n) printf("%d of %d jobs were never seen RUNNING\n", n - nb, n);
  free(a);
  free(b);
  free(e);
}

static int run_latency(struct drv *d, int n, int gap_ms) {
  struct bus_consumer *c = follow(d, TOPIC_JOB_EVENTS);
  if (!c) return 1;
  struct lat *v = xcalloc((size_t)n, sizeof *v);
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    char name[64];
    snprintf(name, sizeof name, "bench-latency-%d", i);
    v[i].observed_ms = -1;
    int64_t t0 = mono_ms();
    if (submit(d, name, 0, v[i].id, sizeof v[i].id)) rc = 1;
    v[i].ack_ms = mono_ms() - t0;
    if (!rc && follow_job(c, &v[i], t0, t0 + 60000)) rc = 1;
    if (gap_ms > 0) sleep_ms(gap_ms);
  }
  bus_consumer_free(c);
  if (!rc) {
    char err[512];
    struct lat_set ls = {v, n};
    struct bus_consumer *t = bus_consumer_new(&d->bc, NULL, 1, err, sizeof err);
    if (!t || bus_read_table(t, TOPIC_JOBS, collect_times, &ls, err, sizeof err)) {
      fprintf(stderr, "throughput_driver: reading barge.jobs: %s\n", err);
      rc = 1;
    }
    bus_consumer_free(t);
  }
  if (!rc) report_latency(v, n);
  free(v);
  return rc;
}

int main(int argc, char **argv) {
  struct drv d = {.bc = {.prefix = "barge.", .client_id = "throughput-driver"}};
  const char *mode = NULL;
  long count = 0;
  int timeout_s = 1800, gap_ms = 20;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--brokers") && v) d.bc.brokers = argv[++i];
    else if (!strcmp(a, "--topic-prefix") && v) d.bc.prefix = argv[++i];
    else if (!strcmp(a, "--job-queue") && v) d.queue = argv[++i];
    else if (!strcmp(a, "--job-definition") && v) d.jobdef = argv[++i];
    else if (!strcmp(a, "--timeout-s") && v) timeout_s = atoi(argv[++i]);
    else if (!strcmp(a, "--gap-ms") && v) gap_ms = atoi(argv[++i]);
    else if ((!strcmp(a, "array") || !strcmp(a, "latency")) && v && !mode) {
      mode = a;
      count = atol(argv[++i]);
    } else return usage();
  }
  if (!mode || count < 1 || !d.bc.brokers || !d.queue || !d.jobdef) return usage();
  char err[512];
  d.client = barge_client_new(d.bc.brokers, d.bc.prefix, err, sizeof err);
  if (!d.client) {
    fprintf(stderr, "throughput_driver: %s\n", err);
    return 1;
  }
  int rc = !strcmp(mode, "array") ? run_array(&d, count, timeout_s) : run_latency(&d, (int)count, gap_ms);
  barge_client_free(d.client);
  return rc;
}
