/* bench_sched_instances.c: the scheduler core's cost per instance event as one compute
 * environment grows, and what instances that came and went leave behind (no Kafka).
 *
 *   build/bench/bench_sched_instances [N ...]      (default: 1000 10000 50000)
 *
 * For each N, three cases, each on a fresh core with one UNMANAGED CE:
 *   1. N instances join (READY, 2 to 16 vCPUs), then every tenth leaves (DRAIN_REQUESTED, then
 *      TERMINATED), then as many new ones join in their place (a churned CE): microseconds per
 *      event of each phase;
 *   2. churn: N instances join and leave one after the other (a stack that ran for weeks), 10
 *      stay live; then microseconds per Tick (the scheduler remembers the gone ones: a tick that
 *      walks every instance ever registered pays for them);
 *   3. lost hosts: N/4 instances of 4 vCPUs join, each taking 4 of N queued one-vCPU jobs
 *      (microseconds per READY: 4 placements), then up to 500 of them are terminated:
 *      microseconds per TERMINATED (each ends 4 jobs; an end that scans every job pays for all N).
 * The events are built before each timed phase, so the times are the core's alone. Flat as N
 * grows means each event costs the same whatever the core holds; growing with N means the
 * per-event work walks it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_machine.h"
#include "sched_core.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void machine(void) {
  char model[256];
  int cpus = bench_cpu_model(model, sizeof model);
  double load = -1;
  FILE *f = fopen("/proc/loadavg", "r");
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

/* A fresh core with CE "ce", queue "q" on it and job definition "jd" (1 vCPU). */
static void core_new(void) {
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
  feed(BARGE_EV_CONFIG_RECORD, json_pack("{s:o, s:{s:{s:s, s:s, s:i, s:{s:[s], s:[{s:s, s:s}, {s:s, s:s}]}}}}", "header", header(), "body", "JobDefinition",
                                         "jobDefinitionName", "jd", "jobDefinitionArn", "arn:jd:1", "revision", 1, "containerProperties", "command", "true",
                                         "resourceRequirements", "type", "VCPU", "value", "1", "type", "MEMORY", "value", "1024"));
}

static void core_free(void) {
  sched_free(s);
  sched_outbox_release(&out);
}

static json_t *tick(void) {
  return json_pack("{s:o, s:s, s:{s:{s:I}}}", "header", header(), "principal", "b", "body", "Tick", "seq", (json_int_t)0);
}

/* 2. n instances came and went, 10 are live: the time per Tick. */
static void run_ticks(long n) {
  core_new();
  for (long i = 0; i < 10; i++) feed(BARGE_EV_INSTANCE_EVENT, instance_event(i, "READY"));
  for (long i = 10; i < n + 10; i++) {
    feed(BARGE_EV_INSTANCE_EVENT, instance_event(i, "READY"));
    feed(BARGE_EV_INSTANCE_EVENT, instance_event(i, "TERMINATED"));
  }
  enum { TICKS = 2000 };
  json_t **evs = calloc(TICKS, sizeof *evs);
  for (long k = 0; k < TICKS; k++) evs[k] = tick();
  double a = now_s();
  for (long k = 0; k < TICKS; k++) feed(BARGE_EV_JOB_REQUEST, evs[k]);
  double us = (now_s() - a) * 1e6 / TICKS;
  printf("%8ld gone instances, 10 live: %8.2f us per Tick\n", n, us);
  fflush(stdout);
  free(evs);
  core_free();
}

/* 3. n jobs on n/4 instances of 4 vCPUs; up to 500 instances (evenly spread) terminated. */
static void run_lost(long n) {
  core_new();
  char id[64];
  for (long i = 0; i < n; i++) {
    snprintf(id, sizeof id, "%08lx-0000-4000-8000-000000000000", i);
    feed(BARGE_EV_JOB_REQUEST, json_pack("{s:o, s:s, s:{s:{s:s, s:s, s:s, s:s}}}", "header", header(), "principal", "b", "body",
                                         "SubmitJob", "jobId", id, "jobName", "bench", "jobQueue", "q", "jobDefinition", "jd"));
  }
  long ninst = n / 4, nlost = ninst < 500 ? ninst : 500;
  json_t **evs = calloc((size_t)ninst + 1, sizeof *evs);
  for (long i = 0; i < ninst; i++) {
    snprintf(id, sizeof id, "i-%08lx", i);
    evs[i] = json_pack("{s:o, s:s, s:s, s:s, s:i, s:i, s:i, s:I}", "header", header(), "instanceId", id, "computeEnvironment",
                       "ce", "kind", "READY", "vcpus", 4, "memoryMib", 8192, "gpus", 0, "at", (json_int_t)t);
  }
  double place = timed(evs, ninst);
  for (long k = 0; k < nlost; k++) {
    snprintf(id, sizeof id, "i-%08lx", k * (ninst / nlost));
    evs[k] = json_pack("{s:o, s:s, s:s, s:s, s:I}", "header", header(), "instanceId", id, "computeEnvironment", "ce", "kind",
                       "TERMINATED", "at", (json_int_t)t);
  }
  double us = timed(evs, nlost);
  printf("%8ld jobs running on %ld instances: %8.2f us per READY placing 4, %8.2f us per TERMINATED of an instance with 4\n", n,
         ninst, place, us);
  fflush(stdout);
  free(evs);
  core_free();
}

/* 1. one CE of n instances: joining, leaving, joining after churn. */
static void run(long n) {
  core_new();
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
  core_free();
}

static void run_all(long n) {
  run(n);
  run_ticks(n);
  run_lost(n);
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
    for (int a = 1; a < argc; a++) run_all(atol(argv[a]));
  } else {
    for (size_t k = 0; k < sizeof defaults / sizeof *defaults; k++) run_all(defaults[k]);
  }
  return 0;
}
