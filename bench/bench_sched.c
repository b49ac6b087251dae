/* bench_sched.c: the scheduler core alone (no Kafka), at scale.
 *
 *   build/bench/bench_sched [jobs] [instances] [vcpus-per-instance]
 *
 * Queues `jobs` (default 1,000,000) single jobs, then registers `instances` (default 10,000)
 * instances, which places the first wave, then completes jobs one by one (each completion frees
 * a slot that the next queued job takes) until the queue is empty. Prints placements per second
 * for the waves and the steady state, resident memory per queued job (RSS growth while queueing,
 * and the core's own estimate), and the machine. Targets (issue #3): >= 100,000 placements/s on
 * one core, <= 1 KiB per queued job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_args.h"
#include "bench_machine.h"
#include "sched_core.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) v = atol(line + 6);
  if (f) fclose(f);
  return v;
}

static void machine(void) {
  char model[256];
  int cpus = bench_cpu_model(model, sizeof model);
  printf("machine: %s, %d CPUs (the core is single-threaded)\n", model, cpus);
}

static struct sched *s;
static struct outbox out;
static int64_t t = 1700000000000LL;
static long placements;
static uint32_t *inst_of; /* job index -> instance index, from the placements */

static json_t *header(void) {
  return json_pack("{s:s, s:I, s:s, s:s}", "event_id", "-", "event_time", (json_int_t)t, "source", "bench", "request_id", "");
}

static void feed(enum barge_ev_type type, json_t *ev) {
  char err[256];
  if (sched_handle(s, type, ev, &out, err, sizeof err)) {
    fprintf(stderr, "bench: %s\n", err);
    exit(1);
  }
  for (size_t i = 0; i < out.n; i++)
    if (out.ev[i].kind == OUT_PLACEMENT) {
      placements++;
      if (inst_of) inst_of[out.ev[i].job] = out.ev[i].inst;
    }
  sched_outbox_reset(&out);
  json_decref(ev);
}

int main(int argc, char **argv) {
  static const char usage[] = "bench_sched [jobs (1000000)] [instances (10000)] [vcpus-per-instance (16)]";
  long njobs = 1000000, ninst = 10000, nvcpus = 16;
  if (argc > 4) return bench_unknown("bench_sched", usage, argv[4]);
  if ((argc > 1 && bench_number("bench_sched", usage, "jobs", argv[1], 1, &njobs)) ||
      (argc > 2 && bench_number("bench_sched", usage, "instances", argv[2], 1, &ninst)) ||
      (argc > 3 && bench_number("bench_sched", usage, "vcpus-per-instance", argv[3], 1, &nvcpus)))
    return 2;
  int vcpus = (int)nvcpus;
  machine();
  struct sched_conf c;
  sched_conf_defaults(&c);
  c.emit_records = 0; /* the bench measures decisions; serialising records is the shell's */
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
  long rss0 = rss_kib();
  double t0 = now_s();
  char id[64];
  for (long i = 0; i < njobs; i++) {
    snprintf(id, sizeof id, "%08lx-0000-4000-8000-000000000000", i);
    t++;
    feed(BARGE_EV_JOB_REQUEST, json_pack("{s:o, s:s, s:{s:{s:s, s:s, s:s, s:s}}}", "header", header(), "principal", "b", "body", "SubmitJob",
                                         "jobId", id, "jobName", "bench", "jobQueue", "q", "jobDefinition", "jd"));
  }
  double t1 = now_s();
  long rss1 = rss_kib();
  printf("queued %ld jobs in %.2f s (%.0f submissions/s, JSON decode included)\n", njobs, t1 - t0, njobs / (t1 - t0));
  printf("memory per queued job: %.0f bytes RSS growth, %.0f bytes by the core's own count\n",
         (double)(rss1 - rss0) * 1024.0 / njobs, (double)sched_memory_bytes(s) / njobs);

  inst_of = calloc((size_t)njobs + 16, sizeof *inst_of);
  /* wave: instances arrive; each READY places vcpus jobs */
  placements = 0;
  double t2 = now_s();
  for (long i = 0; i < ninst; i++) {
    snprintf(id, sizeof id, "i-%017lx", i);
    feed(BARGE_EV_INSTANCE_EVENT, json_pack("{s:o, s:s, s:s, s:s, s:i, s:i, s:i, s:I}", "header", header(), "instanceId", id, "computeEnvironment", "ce",
                                            "kind", "READY", "vcpus", vcpus, "memoryMib", vcpus * 2048, "gpus", 0, "at", (json_int_t)t));
  }
  double t3 = now_s();
  long wave = placements;
  printf("first wave: %ld placements onto %ld instances in %.2f s: %.0f placements/s (event decode included)\n", wave, ninst, t3 - t2, wave / (t3 - t2));

  /* steady state: complete running jobs one at a time; each completion places one job. The
   * completion events are built first, so the timing is the core's alone. */
  long target = 2 * ninst * vcpus;
  json_t **evs = calloc((size_t)target, sizeof *evs);
  long nev = 0;
  size_t n = sched_job_count(s);
  placements = 0;
  double tc = 0, te = 0;
  for (int round = 0; round < 2; round++) {
    nev = 0;
    for (size_t j = 0; j < n && nev < target / 2; j++) {
      if (sched_job_status(s, (uint32_t)j) != JOB_STARTING) continue;
      t++;
      evs[nev++] = json_pack("{s:o, s:s, s:i, s:s, s:s, s:i, s:I}", "header", header(), "jobId", sched_job_id(s, (uint32_t)j), "attempt", 1,
                             "instanceId", sched_instance_id(s, inst_of[j]), "kind", "EXITED", "exitCode", 0, "at", (json_int_t)t);
    }
    double a = now_s();
    for (long e = 0; e < nev; e++) {
      char err[256];
      if (sched_handle(s, BARGE_EV_EXECUTION_REPORT, evs[e], &out, err, sizeof err)) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
      }
      for (size_t i = 0; i < out.n; i++)
        if (out.ev[i].kind == OUT_PLACEMENT) placements++, inst_of[out.ev[i].job] = out.ev[i].inst;
      sched_outbox_reset(&out);
    }
    tc += now_s() - a;
    for (long e = 0; e < nev; e++) json_decref(evs[e]);
    te += nev;
  }
  free(evs);
  printf("steady state: %.0f completions -> %ld placements in %.3f s of core time: %.0f placements/s\n",
         te, placements, tc, placements / tc);
  printf("targets: >= 100000 placements/s, <= 1024 bytes per queued job\n");
  sched_free(s);
  sched_outbox_release(&out);
  return 0;
}
