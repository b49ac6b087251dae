/* bench_provisioner.c: the provisioner's decision core (provisioner/prov.c), timed without Kafka.
 *
 *   1. demand -> decision: a new CapacityDemand for a CE that already runs a fleet, then the
 *      tick that closes the batching window; the time the core spends from the demand's arrival
 *      to the ScalingDecision it emits (the window itself, 1 s by default, is a configured wait
 *      and not counted);
 *   2. planning a 10,000-instance fleet from one demand (160,000 jobs), then answering the
 *      launches, re-evaluating the same demand against the launching fleet (nothing new to
 *      launch), registering the instances, and one scale-down pass over all of them;
 *   3. churn: a CE of N instances (1,000, 10,000 and 100,000) registers them one by one (READY),
 *      then up to 5,000 of them, spread over the list in a shuffled order, are TERMINATED:
 *      microseconds per READY and per TERMINATED. Flat as N grows means an instance's arrival
 *      and departure cost the same whatever the CE holds; growing means each walks or shifts
 *      the CE's list.
 *
 * Usage: bench_provisioner [--iterations N] [--churn N ...]. Prints the machine (nproc, CPU
 * model) first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_args.h"
#include "bench_machine.h"
#include "prov.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void machine(void) {
  char model[256];
  (void)bench_cpu_model(model, sizeof model);
  printf("machine: nproc %ld, CPU %s\n", sysconf(_SC_NPROCESSORS_ONLN), model);
}

static json_t *hdr(int64_t at) {
  return json_pack("{s:s, s:I, s:s, s:s}", "event_id", "bench", "event_time", (json_int_t)at, "source", "bench",
                   "request_id", "");
}

static json_t *ce_ev(const char *name, const char *types, int64_t at) {
  return json_pack("{s:o, s:{s:{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:i, s:i, s:o, s:s}}}}", "header", hdr(at), "body",
                   "ComputeEnvironment", "computeEnvironmentName", name, "computeEnvironmentArn", name, "type",
                   "MANAGED", "state", "ENABLED", "status", "VALID", "computeResources", "type", "SPOT", "minvCpus", 0,
                   "maxvCpus", 10000000, "instanceTypes", json_loads(types, 0, NULL), "allocationStrategy",
                   "SPOT_CAPACITY_OPTIMIZED");
}

static json_t *demand(const char *ce, json_t *shapes /* @owned */, json_t *busy /* @owned */, int64_t at) {
  return json_pack("{s:o, s:s, s:o, s:o, s:I}", "header", hdr(at), "computeEnvironment", ce, "shapes", shapes,
                   "busyInstances", busy ? busy : json_array(), "at", (json_int_t)at);
}

static json_t *shape(int v, int m, int n) {
  return json_pack("{s:i, s:i, s:i, s:i}", "vcpus", v, "memoryMib", m, "gpus", 0, "count", n);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Answers every launch of the outbox with made-up ids; returns how many instances. */
static size_t answer(struct prov *p, struct prov_outbox *o, int64_t at, struct prov_outbox *next, char ***all, size_t *nall) {
  static unsigned long seq;
  size_t total = 0;
  for (size_t i = 0; i < o->n; i++) {
    if (o->ev[i].kind != PROV_OUT_LAUNCH) continue;
    int n = o->ev[i].count;
    char **ids = malloc((size_t)n * sizeof *ids);
    for (int k = 0; k < n; k++) {
      ids[k] = malloc(24);
      snprintf(ids[k], 24, "i-%017lx", ++seq);
    }
    prov_launch_result(p, o->ev[i].req, "sim", (const char *const *)ids, (size_t)n, NULL, at, next);
    *all = realloc(*all, (*nall + (size_t)n) * sizeof **all);
    memcpy(*all + *nall, ids, (size_t)n * sizeof *ids);
    *nall += (size_t)n;
    free(ids);
    total += (size_t)n;
  }
  return total;
}

/* 1. demand -> decision: the core's latency against a busy fleet of about 1,000 instances. */
static int bench_decision(int iterations) {
  char err[256];
  struct prov_conf conf;
  prov_conf_defaults(&conf);
  struct prov *p = prov_new(&conf);
  struct prov_outbox o, l;
  prov_outbox_init(&o);
  prov_outbox_init(&l);
  int64_t t = 1000;
  json_t *ev = ce_ev("ce", "[\"c5\", \"m5\", \"r5\", \"optimal\"]", t);
  if (prov_handle_config(p, ev, &o, err, sizeof err)) return 1;
  json_decref(ev);
  /* a running fleet of about 1,000 instances, all busy */
  ev = demand("ce", json_pack("[o]", shape(2, 3192, 16000)), NULL, t);
  if (prov_handle_demand(p, ev, &o, err, sizeof err)) return 1;
  json_decref(ev);
  t += 2000;
  prov_tick(p, t, &o);
  char **ids = NULL;
  size_t nids = 0;
  answer(p, &o, t, &l, &ids, &nids);
  json_t *busy = json_array();
  for (size_t i = 0; i < nids; i++) {
    json_t *r = json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:I}", "header", hdr(t + 1), "instanceId", ids[i],
                          "computeEnvironment", "ce", "kind", "READY", "instanceType", "", "vcpus", 0, "memoryMib", 0,
                          "at", (json_int_t)(t + 1));
    if (prov_handle_instance(p, r, &l, err, sizeof err)) return 1;
    json_decref(r);
    json_array_append_new(busy, json_string(ids[i]));
  }
  t += 10;
  double *us = calloc((size_t)iterations, sizeof *us);
  size_t decisions = 0;
  for (int it = 0; it < iterations; it++) {
    prov_outbox_reset(&o);
    t += 5000;
    /* fresh demand each time: new shapes the running fleet cannot absorb */
    json_t *d = demand("ce", json_pack("[o, o]", shape(1 + it % 4, 1024 + 512 * (it % 7), 50 + it % 100),
                                       shape(4, 15000, 10 + it % 13)),
                       json_incref(busy), t);
    double t0 = now_us();
    if (prov_handle_demand(p, d, &o, err, sizeof err)) return 1;
    prov_tick(p, t + conf.window_ms, &o);
    us[it] = now_us() - t0;
    json_decref(d);
    for (size_t k = 0; k < o.n; k++) decisions += o.ev[k].kind == PROV_OUT_DECISION;
    /* forget the launches: the next demand is a new one */
    prov_outbox_reset(&l);
    char **more = NULL;
    size_t nmore = 0;
    answer(p, &o, t + conf.window_ms, &l, &more, &nmore);
    for (size_t k = 0; k < nmore; k++) {
      json_t *r = json_pack("{s:o, s:s, s:s, s:s, s:s, s:I}", "header", hdr(t + 1100), "instanceId", more[k],
                            "computeEnvironment", "ce", "kind", "TERMINATED", "instanceType", "", "at",
                            (json_int_t)(t + 1100));
      if (prov_handle_instance(p, r, &l, err, sizeof err)) return 1;
      json_decref(r);
      free(more[k]);
    }
    free(more);
  }
  qsort(us, (size_t)iterations, sizeof *us, cmp_d);
  printf("demand change -> ScalingDecision (core only, fleet of %zu busy instances, %d demands, %zu decisions):\n"
         "  median %.1f us, p99 %.1f us, max %.1f us (plus the configured batching window, %lld ms)\n",
         nids, iterations, decisions, us[iterations / 2], us[(size_t)(iterations * 0.99)], us[iterations - 1],
         (long long)conf.window_ms);
  free(us);
  for (size_t i = 0; i < nids; i++) free(ids[i]);
  free(ids);
  json_decref(busy);
  prov_outbox_release(&o);
  prov_outbox_release(&l);
  prov_free(p);
  return 0;
}

/* 2. a 10,000-instance fleet: planning, launch results, READY events, a scale-down pass. */
static int bench_fleet(void) {
  char err[256];
  struct prov_conf conf;
  prov_conf_defaults(&conf);
  conf.idle_delay_ms = 1000;
  struct prov *p = prov_new(&conf);
  struct prov_outbox o, l;
  prov_outbox_init(&o);
  prov_outbox_init(&l);
  int64_t t = 1000;
  json_t *ev = ce_ev("big", "[\"optimal\"]", t);
  if (prov_handle_config(p, ev, &o, err, sizeof err)) return 1;
  json_decref(ev);
  /* 160,000 jobs of 2 vCPUs: 16 per m6i.8xlarge, the rank-0 type that holds the most */
  json_t *d = demand("big", json_pack("[o]", shape(2, 3192, 160000)), NULL, t);
  double t0 = now_us();
  if (prov_handle_demand(p, d, &o, err, sizeof err)) return 1;
  prov_tick(p, t + conf.window_ms, &o);
  double plan_us = now_us() - t0;
  size_t planned = 0;
  for (size_t k = 0; k < o.n; k++)
    if (o.ev[k].kind == PROV_OUT_LAUNCH) planned += (size_t)o.ev[k].count;
  t += conf.window_ms;
  char **ids = NULL;
  size_t nids = 0;
  t0 = now_us();
  answer(p, &o, t, &l, &ids, &nids);
  double answer_us = now_us() - t0;
  /* the same demand again, the fleet still launching: nothing more to launch */
  prov_outbox_reset(&o);
  json_t *d2 = demand("big", json_pack("[o]", shape(2, 3192, 160000)), NULL, t + 10);
  t0 = now_us();
  if (prov_handle_demand(p, d2, &o, err, sizeof err)) return 1;
  prov_tick(p, t + 10 + conf.window_ms, &o);
  double absorb_us = now_us() - t0;
  size_t relaunch = 0;
  for (size_t k = 0; k < o.n; k++)
    if (o.ev[k].kind == PROV_OUT_LAUNCH) relaunch += (size_t)o.ev[k].count;
  t += 2000;
  t0 = now_us();
  for (size_t i = 0; i < nids; i++) {
    json_t *r = json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:I}", "header", hdr(t), "instanceId", ids[i],
                          "computeEnvironment", "big", "kind", "READY", "instanceType", "", "vcpus", 0, "memoryMib", 0,
                          "at", (json_int_t)t);
    if (prov_handle_instance(p, r, &l, err, sizeof err)) return 1;
    json_decref(r);
  }
  double ready_us = now_us() - t0;
  /* all idle past the delay: one tick drains the whole fleet */
  prov_outbox_reset(&o);
  json_t *d3 = demand("big", json_array(), NULL, t + 1);
  if (prov_handle_demand(p, d3, &o, err, sizeof err)) return 1;
  prov_outbox_reset(&o);
  t0 = now_us();
  prov_tick(p, t + 5000, &o);
  double down_us = now_us() - t0;
  size_t drains = 0;
  for (size_t k = 0; k < o.n; k++) drains += o.ev[k].kind == PROV_OUT_DRAIN;
  printf("10,000-instance fleet (160,000 jobs of 2 vCPUs, optimal, SPOT_CAPACITY_OPTIMIZED):\n"
         "  plan: %zu instances in %.1f ms; launch results recorded in %.1f ms;\n"
         "  same demand against the launching fleet: %zu more launched, %.1f ms;\n"
         "  %zu READY events in %.1f ms (%.2f us each); scale-down pass draining %zu instances: %.1f ms\n",
         planned, plan_us / 1000, answer_us / 1000, relaunch, absorb_us / 1000, nids, ready_us / 1000,
         nids ? ready_us / (double)nids : 0, drains, down_us / 1000);
  json_decref(d);
  json_decref(d2);
  json_decref(d3);
  for (size_t i = 0; i < nids; i++) free(ids[i]);
  free(ids);
  prov_outbox_release(&o);
  prov_outbox_release(&l);
  prov_free(p);
  return 0;
}

/* 3. churn: n instances join a CE, then up to 5,000 of them leave, spread and shuffled. */
static int bench_churn(long n) {
  if (n < 1) return 1; /* main checked it; said again for the compiler's allocation-size check */
  char err[256];
  struct prov_conf conf;
  prov_conf_defaults(&conf);
  struct prov *p = prov_new(&conf);
  struct prov_outbox o;
  prov_outbox_init(&o);
  int64_t t = 1000; /* one time throughout: no batching window closes, no evaluation runs */
  json_t *ev = ce_ev("churn", "[\"optimal\"]", t);
  if (prov_handle_config(p, ev, &o, err, sizeof err)) return 1;
  json_decref(ev);
  long nleave = n < 5000 ? n : 5000;
  json_t **evs = calloc((size_t)n, sizeof *evs);
  char id[32];
  for (long i = 0; i < n; i++) {
    snprintf(id, sizeof id, "i-%017lx", (unsigned long)i);
    evs[i] = json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:I}", "header", hdr(t), "instanceId", id, "computeEnvironment",
                       "churn", "kind", "READY", "instanceType", "m6i.large", "vcpus", 2, "memoryMib", 7680, "at", (json_int_t)t);
  }
  double t0 = now_us();
  for (long i = 0; i < n; i++) {
    if (prov_handle_instance(p, evs[i], &o, err, sizeof err)) return 1;
    prov_outbox_reset(&o);
  }
  double join_us = (now_us() - t0) / (double)n;
  for (long i = 0; i < n; i++) json_decref(evs[i]);
  /* leavers: every (n / nleave)-th instance, in a shuffled order (a fixed seed) */
  long *pick = calloc((size_t)nleave, sizeof *pick);
  for (long k = 0; k < nleave; k++) pick[k] = k * (n / nleave);
  unsigned long x = 88172645463325252UL;
  for (long k = nleave - 1; k > 0; k--) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    long j = (long)(x % (unsigned long)(k + 1)), tmp = pick[k];
    pick[k] = pick[j], pick[j] = tmp;
  }
  for (long k = 0; k < nleave; k++) {
    snprintf(id, sizeof id, "i-%017lx", (unsigned long)pick[k]);
    evs[k] = json_pack("{s:o, s:s, s:s, s:s, s:I}", "header", hdr(t), "instanceId", id, "computeEnvironment", "churn", "kind",
                       "TERMINATED", "at", (json_int_t)t);
  }
  t0 = now_us();
  for (long k = 0; k < nleave; k++) {
    if (prov_handle_instance(p, evs[k], &o, err, sizeof err)) return 1;
    prov_outbox_reset(&o);
  }
  double leave_us = (now_us() - t0) / (double)nleave;
  for (long k = 0; k < nleave; k++) json_decref(evs[k]);
  int left = prov_ce_instances(p, "churn");
  printf("churn, a CE of %ld instances: %.2f us per READY; %ld TERMINATED: %.2f us each (%d left)\n", n, join_us, nleave,
         leave_us, left);
  if (left != (int)(n - nleave)) {
    fprintf(stderr, "bench_provisioner: %d instances left, expected %ld\n", left, n - nleave);
    return 1;
  }
  free(pick);
  free(evs);
  prov_outbox_release(&o);
  prov_free(p);
  return 0;
}

int main(int argc, char **argv) {
  static const char usage[] = "bench_provisioner [--iterations N (200)] [--churn N (1000, 10000, 100000; repeatable, up to 16)]";
  long n = 200;
  long churn[16];
  int nchurn = 0;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 == argc || (strcmp(argv[i], "--iterations") && strcmp(argv[i], "--churn")) ||
        (!strcmp(argv[i], "--churn") && nchurn == 16))
      return bench_unknown("bench_provisioner", usage, argv[i]);
    if (!strcmp(argv[i], "--iterations")) {
      if (bench_number("bench_provisioner", usage, "--iterations", argv[i + 1], 1, &n)) return 2;
    } else if (bench_number("bench_provisioner", usage, "--churn", argv[i + 1], 1, &churn[nchurn++])) {
      return 2;
    }
  }
  int iterations = (int)n;
  if (!nchurn) churn[nchurn++] = 1000, churn[nchurn++] = 10000, churn[nchurn++] = 100000;
  machine();
  (void)catalog_default(); /* parse the catalogue before any timing */
  if (bench_decision(iterations)) return 1;
  if (bench_fleet()) return 1;
  for (int k = 0; k < nchurn; k++)
    if (bench_churn(churn[k])) return 1;
  return 0;
}
