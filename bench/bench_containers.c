/* bench_containers.c: the per-job overhead of the agent's runtimes (docs/containers.md,
 * "Start overhead"). N trivial jobs (`true`, 1 vCPU, 64 MiB) go one after the other through
 * the agent's runtime interface (runtime_place, runtime_poll), without Kafka or the scheduler:
 * what is timed is what a runtime adds to a job, from the placement to its STARTED event and to
 * its EXITED event. Prints the median, p90, p99 and max of both, per runtime.
 *
 *   build/bench/bench_containers [--jobs 200] [--runtime process|podman|docker|all]
 *                                [--image localhost/barge-test-busybox:3] [--concurrency 1]
 *                                [--start-threads 0] [--spread 1]
 *
 * --spread 0: leave the logs' folder without the top-directory attribute the agent gives its own
 * (joblog_spread, chattr +T), to see what it saves.
 * --start-threads: the process runtime's launcher threads (barge agent --start-threads). Also
 * printed: the wall time of the whole run and the CPU time this process (the runtime's loop and
 * its threads, not the jobs) spent, per job.
 *
 * bench/bench_containers.sh builds the test image first (tests/e2e/container_image.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_args.h"
#include "joblog.h"
#include "runtime.h"

static int start_threads; /* --start-threads */
static int spread = 1;    /* --spread */

static double cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

struct run {
  int64_t placed, started, exited;
  int ok;
};

struct bench {
  struct run *runs;
  int n, done, failed;
  char last_reason[256];
};

static void on_event(void *ctx, const struct run_event *ev) {
  struct bench *b = ctx;
  int i = atoi(ev->job_id + 6); /* "bench-<i>" */
  if (i < 0 || i >= b->n) return;
  if (ev->kind == RUN_STARTED) {
    b->runs[i].started = mono_ms();
    return;
  }
  b->runs[i].exited = mono_ms();
  b->runs[i].ok = ev->kind == RUN_EXITED && ev->exit_code == 0;
  if (!b->runs[i].ok) {
    b->failed++;
    snprintf(b->last_reason, sizeof b->last_reason, "%s", ev->reason ? ev->reason : "");
  }
  b->done++;
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void stats(const char *rt, const char *what, int64_t *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp64);
  int p99 = (int)((n * 99 + 99) / 100) - 1;
  printf("%-8s %-18s n=%d median %lld ms  p90 %lld ms  p99 %lld ms  max %lld ms\n", rt, what, n,
         (long long)v[n / 2], (long long)v[(n * 9) / 10], (long long)v[p99 < 0 ? 0 : p99], (long long)v[n - 1]);
}

static int bench_one(const char *kind, int jobs, int conc, const char *image, const char *dir) {
  struct runtime_conf rc = {.runner = {.log_dir = dir, .kill_grace_ms = 2000, .max_jobs = 256, .launchers = start_threads},
                            .kind = kind, .state_dir = dir, .instance_id = "i-bench000000000000", .secrets_dir = dir};
  char err[1024];
  struct runtime *rt = runtime_new(&rc, err, sizeof err);
  if (!rt) {
    fprintf(stderr, "%s: %s\n", kind, err);
    return 1;
  }
  struct bench b = {.runs = calloc((size_t)jobs, sizeof(struct run)), .n = jobs};
  int next = 0;
  int64_t t0 = mono_ms();
  double c0 = cpu_ms();
  while (b.done < jobs) {
    while (next < jobs && next - b.done < conc) {
      char id[32], logp[4200], why[512];
      snprintf(id, sizeof id, "bench-%d", next);
      snprintf(logp, sizeof logp, "%s/%s/1.log", dir, id);
      json_t *p = json_pack("{s:s, s:i, s:[s], s:[], s:i, s:i, s:s, s:s, s:s}", "jobId", id, "attempt", 1, "command",
                            "true", "environment", "vcpus", 1, "memoryMib", 64, "image", image, "taskId",
                            "0123456789abcdef", "containerJson", "{}");
      b.runs[next].placed = mono_ms();
      if (runtime_place(rt, p, logp, why, sizeof why)) {
        fprintf(stderr, "%s: %s not started: %s\n", kind, id, why);
        json_decref(p);
        runtime_free(rt);
        free(b.runs);
        return 1;
      }
      json_decref(p);
      next++;
    }
    runtime_poll(rt, mono_ms(), on_event, &b);
    usleep(1000);
  }
  int64_t wall = mono_ms() - t0;
  double cpu = cpu_ms() - c0;
  char name[16];
  snprintf(name, sizeof name, "%s", rt->name);
  runtime_free(rt);
  printf("%-8s %d jobs in %lld ms (%.0f jobs/s); the runtime's CPU %.3f ms/job (start threads %d)\n", name, jobs,
         (long long)wall, jobs * 1000.0 / (double)(wall ? wall : 1), cpu / jobs, start_threads);
  if (b.failed) fprintf(stderr, "%s: %d job(s) failed, e.g.: %s\n", kind, b.failed, b.last_reason);
  int64_t *st = calloc((size_t)jobs, sizeof *st), *ex = calloc((size_t)jobs, sizeof *ex);
  for (int i = 0; i < jobs; i++) {
    st[i] = b.runs[i].started ? b.runs[i].started - b.runs[i].placed : -1;
    ex[i] = b.runs[i].exited - b.runs[i].placed;
  }
  stats(name, "place->STARTED", st, jobs);
  stats(name, "place->EXITED", ex, jobs);
  free(st);
  free(ex);
  free(b.runs);
  return b.failed ? 1 : 0;
}

int main(int argc, char **argv) {
  int jobs = 200, conc = 1;
  const char *kind = "all", *image = "localhost/barge-test-busybox:3";
  static const char usage[] = "bench_containers [--jobs 200] [--runtime process|podman|docker|all] "
                              "[--image localhost/barge-test-busybox:3] [--concurrency 1] [--start-threads 0] [--spread 1]";
  const char *p = "bench_containers";
  for (int i = 1; i < argc; i += 2) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    long n = 0;
    if (!v) return bench_unknown(p, usage, k);
    if (!strcmp(k, "--jobs") || !strcmp(k, "--concurrency") || !strcmp(k, "--start-threads") || !strcmp(k, "--spread")) {
      if (bench_number(p, usage, k, v, strcmp(k, "--jobs") && strcmp(k, "--concurrency") ? 0 : 1, &n)) return 2;
      if (!strcmp(k, "--jobs")) jobs = (int)n;
      else if (!strcmp(k, "--concurrency")) conc = (int)n;
      else if (!strcmp(k, "--start-threads")) start_threads = (int)n;
      else spread = (int)n;
    } else if (!strcmp(k, "--runtime")) {
      kind = v;
      if (strcmp(v, "process") && strcmp(v, "podman") && strcmp(v, "docker") && strcmp(v, "all")) {
        fprintf(stderr, "%s: --runtime wants process, podman, docker or all (got '%s')\nusage: %s\n", p, v, usage);
        return 2;
      }
    } else if (!strcmp(k, "--image")) image = v;
    else return bench_unknown(p, usage, k);
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  char dir[] = "/tmp/barge-bench-ctr-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  if (spread && joblog_spread(dir, 1)) fprintf(stderr, "%s: no top-directory attribute (chattr +T)\n", dir);
  printf("bench_containers: %d trivial jobs (`true`), %d at a time; host: %ld CPUs online\n", jobs, conc,
         sysconf(_SC_NPROCESSORS_ONLN));
  int rc = 0;
  if (!strcmp(kind, "all") || !strcmp(kind, "process")) rc |= bench_one("process", jobs, conc, image, dir);
  if (!strcmp(kind, "all") || !strcmp(kind, "podman")) rc |= bench_one("podman", jobs, conc, image, dir);
  if (!strcmp(kind, "docker")) rc |= bench_one("docker", jobs, conc, image, dir);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
  return rc;
}
