/* bench_sched_instances.c: the scheduler core's cost per instance event as one compute
 * environment grows (no Kafka, no jobs).
 *
 *   build/bench/bench_sched_instances [N ...]      (default: 1000 10000 50000)
 *
 * For each N, a fresh core with one UNMANAGED CE: N instances join (READY, 2 to 16 vCPUs),
 * then every tenth leaves (DRAIN_REQUESTED, then TERMINATED), then as many new ones join in
 * their place (a churned CE). The events are built before each phase, so the times are the
 * core's alone. Prints microseconds per event for each phase: flat as N grows means each event
 * costs the same whatever the CE holds; growing with N means the per-event work walks the CE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched_core.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void machine(void) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512], model[256] = "unknown";
  int cpus = 0;
  while (f && fgets(line, sizeof line, f)) {
    if (!strncmp(line, "model name", 10) && !strcmp(model, "unknown")) {
      char *c = strchr(line, ':');
      if (c) snprintf(model, sizeof model, "%s", c + 2);
      model[strcspn(model, "\n")] = 0;
    }
    if (!strncmp(line, "processor", 9)) cpus++;
  }
  if (f) fclose(f);
  double load = -1;
  f = fopen("/proc/loadavg", "r");
  if (f && fscanf(f, "%lf", &load) != 1) load = -1;
  if (f) fclose(f);
  printf("machine: %s, %d CPUs, load %.2f (the core is single-threaded)\n", model, cpus, load);
}

static struct sched *s;
static struct outbox out;
static int64_t t = 1700000000000LL;

static json_t *header(void) {
  return json_pack("{s:s, s:I, s:s, s:s}", "event_id", "-", "event_time", (json_int_t)t, "source", "bench", "request_id", "");
}

static void feed(enum barge_ev_type type, json_t *ev /* @owned */) {
  char err[256];
  if (sched_handle(s, type, ev, &out, err, sizeof err)) {
    fprintf(stderr, "bench_sched_instances: %s\n", err);
    exit(1);
  }
  sched_outbox_reset(&out);
  json_decref(ev);
}

static json_t *instance_event(long i, const char *kind) {
  char id[32];
  snprintf(id, sizeof id, "i-%08lx", i);
  int v = 2 << (i % 4); /* 2, 4, 8, 16 vCPUs */
  return json_pack("{s:o, s:s, s:s, s:s, s:i, s:i, s:i, s:I}", "header", header(), "instanceId", id, "computeEnvironment", "ce",
                   "kind", kind, "vcpus", v, "memoryMib", v * 2048, "gpus", 0, "at", (json_int_t)t);
}

/* Feeds n prepared events and returns the microseconds per event. */
static double timed(json_t **evs, long n) {
  double a = now_s();
  for (long k = 0; k < n; k++) feed(BARGE_EV_INSTANCE_EVENT, evs[k]);
  return n ? (now_s() - a) * 1e6 / (double)n : 0;
}

static void run(long n) {
  struct sched_conf c;
  sched_conf_defaults(&c);
  c.emit_records = 0;
  c.lost_after_ms = 1LL << 50;
  s = sched_new(&c);
  sched_outbox_init(&out);
  feed(BARGE_EV_CONFIG_RECORD, json_pack("{s:o, s:{s:{s:s, s:s, s:s}}}", "header", header(), "body", "ComputeEnvironment",
                                         "computeEnvironmentName", "ce", "computeEnvironmentArn", "arn:ce", "type", "UNMANAGED"));
  feed(BARGE_EV_CONFIG_RECORD, json_pack("{s:o, s:{s:{s:s, s:s, s:i, s:[{s:i, s:s}]}}}", "header", header(), "body", "JobQueue",
                                         "jobQueueName", "q", "jobQueueArn", "arn:q", "priority", 1, "computeEnvironmentOrder", "order", 1, "computeEnvironment", "arn:ce"));
  long nleave = n / 10;
  json_t **evs = calloc((size_t)(n > 2 * nleave ? n : 2 * nleave) + 1, sizeof *evs);
  for (long i = 0; i < n; i++) evs[i] = instance_event(i, "READY");
  double join = timed(evs, n);
  for (long k = 0; k < nleave; k++) {
    evs[2 * k] = instance_event(k * 10, "DRAIN_REQUESTED");
    evs[2 * k + 1] = instance_event(k * 10, "TERMINATED");
  }
  double leave = timed(evs, 2 * nleave);
  for (long k = 0; k < nleave; k++) evs[k] = instance_event(n + k, "READY");
  double rejoin = timed(evs, nleave);
  printf("%8ld instances: %8.2f us per READY, %8.2f us per DRAIN_REQUESTED/TERMINATED, %8.2f us per READY after churn\n", n,
         join, leave, rejoin);
  fflush(stdout);
  free(evs);
  sched_free(s);
  sched_outbox_release(&out);
}

int main(int argc, char **argv) {
  static const long defaults[] = {1000, 10000, 50000};
  machine();
  if (argc > 1) {
    for (int a = 1; a < argc; a++) {
      char *end;
      long n = strtol(argv[a], &end, 10);
      if (*end || n < 1) {
        fprintf(stderr, "bench_sched_instances: %s is not a number of instances (1 or more)\n", argv[a]);
        return 2;
      }
    }
    for (int a = 1; a < argc; a++) run(atol(argv[a]));
  } else {
    for (size_t k = 0; k < sizeof defaults / sizeof *defaults; k++) run(defaults[k]);
  }
  return 0;
}
