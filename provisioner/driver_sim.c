/* driver_sim.c: the `sim` driver: a simulated fleet inside the provisioner process (driver.h).
 *
 * Each simulated instance boots (READY after --sim-boot-ms), heartbeats, and runs the placements
 * the scheduler writes for it on barge.placements: STARTED at once, EXITED after the job's
 * BARGE_SIM_DURATION_MS (default --sim-job-ms) with exit code BARGE_SIM_EXIT_CODE (default 0).
 * Spot instances are interrupted at the catalogue's rate (or --sim-interrupt-rate, or every one
 * --sim-interrupt-after-ms after READY, at most --sim-interrupt-count times): an
 * INTERRUPTION_NOTICE, then TERMINATED after the notice period (two minutes); their running jobs
 * simply stop, as on a reclaimed host. Every simulated duration is divided by --sim-time-scale.
 *
 * Everything is driven by one timer heap, so a 10,000-instance fleet costs O(log n) per event.
 * Events go out through the driver's own idempotent producer, in order per instance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "heap.h"
#include "strmap.h"

enum { S_BOOTING, S_UP, S_NOTICE, S_GONE };
enum { T_READY, T_HEARTBEAT, T_NOTICE, T_RECLAIM, T_JOB_END };

struct sinst {
  char id[32];
  char *ce;
  int type;
  int spot;
  int state;
  uint32_t gen;
};

struct sjob {
  char key[96]; /* jobId#attempt; the strmap key */
  char job_id[72];
  int attempt;
  uint32_t inst, inst_gen;
  int exit_code;
  int used;
};

struct timer {
  int64_t due;
  uint32_t idx, gen;
  uint8_t kind;
};

struct sim {
  struct bus_producer *prod;
  struct bus_consumer *placements;
  struct sinst *insts;
  size_t ninsts, capinsts;
  struct strmap by_id;
  struct sjob *jobs;
  size_t njobs, capjobs;
  uint32_t *free_jobs;
  size_t nfree_jobs;
  struct strmap job_by_key;
  struct heap timers; /* of struct timer, earliest first */
  uint64_t rng;
  long long interrupts_left;
  int64_t next_flush;
  char **unobtainable;
  size_t nunobtainable;
};

/* ---- timer heap ---- */

static int t_before(const void *x, const void *y) {
  const struct timer *a = x, *b = y;
  if (a->due != b->due) return a->due < b->due;
  if (a->kind != b->kind) return a->kind < b->kind;
  return a->idx < b->idx;
}

static void timer_at(struct sim *s, int64_t due, uint8_t kind, uint32_t idx, uint32_t gen) {
  struct timer t = {due, idx, gen, kind};
  heap_push(&s->timers, &t);
}

/* ---- helpers ---- */

static double rnd(struct sim *s) { /* xorshift64*, uniform in (0, 1) */
  s->rng ^= s->rng >> 12;
  s->rng ^= s->rng << 25;
  s->rng ^= s->rng >> 27;
  uint64_t v = s->rng * 2685821657736338717ULL;
  return ((double)(v >> 11) + 0.5) / 9007199254740992.0;
}

static int64_t scaled(const struct driver *d, long long ms) {
  double f = d->conf.sim_time_scale > 0 ? d->conf.sim_time_scale : 1.0;
  return (int64_t)((double)ms / f);
}

static const struct catalog_type *itype(const struct driver *d, const struct sinst *in) {
  return &d->conf.cat->types[in->type];
}

static int publish(struct driver *d, enum bus_topic t, const char *key, json_t *ev /* @owned */,
                   char *err, size_t errlen) {
  struct sim *s = d->impl;
  int rc = bus_produce(s->prod, t, key, ev, err, errlen);
  json_decref(ev);
  return rc;
}

static int publish_instance(struct driver *d, struct sinst *in, const char *kind, const char *reason,
                            char *err, size_t errlen) {
  const struct catalog_type *t = itype(d, in);
  json_t *ev = driver_instance_event(d, in->id, in->ce, kind, t, catalog_sched_mem(d->conf.cat, t), in->spot, reason);
  return publish(d, TOPIC_INSTANCES, in->id, ev, err, errlen);
}

static int report(struct driver *d, const struct sjob *j, const char *instance, const char *kind,
                  int exit_code, char *err, size_t errlen) {
  int64_t now = now_ms();
  json_t *r = json_pack("{s:o, s:s, s:i, s:s, s:s, s:I}", "header", bus_header(d->conf.source, j->job_id, now),
                        "jobId", j->job_id, "attempt", j->attempt, "instanceId", instance, "kind", kind, "at",
                        (json_int_t)now);
  if (exit_code >= 0) json_object_set_new(r, "exitCode", json_integer(exit_code));
  return publish(d, TOPIC_EXECUTIONS, j->job_id, r, err, errlen);
}

static void free_job(struct sim *s, uint32_t ji) {
  struct sjob *j = &s->jobs[ji];
  if (!j->used) return;
  strmap_del(&s->job_by_key, j->key);
  j->used = 0;
  s->free_jobs = xrealloc(s->free_jobs, (s->nfree_jobs + 1) * sizeof *s->free_jobs);
  s->free_jobs[s->nfree_jobs++] = ji;
}

/* ---- placements ---- */

static const char *env_value(const json_t *env, const char *name) {
  size_t i;
  json_t *e;
  json_array_foreach(env, i, e) {
    const char *n = json_string_value(json_object_get(e, "name"));
    if (n && !strcmp(n, name)) return json_string_value(json_object_get(e, "value"));
  }
  return NULL;
}

static int on_command(struct driver *d, const json_t *cmd, char *err, size_t errlen) {
  struct sim *s = d->impl;
  const char *iid = json_string_value(json_object_get(cmd, "instanceId"));
  uint32_t ii = iid ? strmap_get(&s->by_id, iid) : STRMAP_NONE;
  if (ii == STRMAP_NONE) return 0; /* not a simulated instance of ours */
  struct sinst *in = &s->insts[ii];
  if (in->state != S_UP && in->state != S_NOTICE) return 0; /* a dead host runs nothing */
  json_t *body = json_object_get(cmd, "body"), *x;
  if ((x = json_object_get(body, "Placement"))) {
    const char *job = json_string_value(json_object_get(x, "jobId"));
    int attempt = (int)json_integer_value(json_object_get(x, "attempt"));
    if (!job) return 0;
    char key[96];
    snprintf(key, sizeof key, "%s#%d", job, attempt);
    if (strmap_get(&s->job_by_key, key) != STRMAP_NONE) return 0; /* re-delivered */
    uint32_t ji;
    if (s->nfree_jobs) {
      ji = s->free_jobs[--s->nfree_jobs];
    } else {
      if (s->njobs == s->capjobs) {
        /* keys are borrowed by the map: rebuild it after growing */
        s->capjobs = s->capjobs ? s->capjobs * 2 : 1024;
        s->jobs = xrealloc(s->jobs, s->capjobs * sizeof *s->jobs);
        strmap_release(&s->job_by_key);
        strmap_init(&s->job_by_key);
        for (size_t k = 0; k < s->njobs; k++)
          if (s->jobs[k].used) strmap_put(&s->job_by_key, s->jobs[k].key, (uint32_t)k);
      }
      ji = (uint32_t)s->njobs++;
    }
    struct sjob *j = &s->jobs[ji];
    memset(j, 0, sizeof *j);
    snprintf(j->key, sizeof j->key, "%s", key);
    snprintf(j->job_id, sizeof j->job_id, "%s", job);
    j->attempt = attempt;
    j->inst = ii;
    j->inst_gen = in->gen;
    j->used = 1;
    json_t *env = json_object_get(x, "environment");
    const char *dur = env_value(env, "BARGE_SIM_DURATION_MS"), *code = env_value(env, "BARGE_SIM_EXIT_CODE");
    long long ms = dur ? atoll(dur) : d->conf.sim_job_ms;
    if (ms < 0) ms = 0;
    j->exit_code = code ? atoi(code) : 0;
    strmap_put(&s->job_by_key, j->key, ji);
    if (report(d, j, in->id, "STARTED", -1, err, errlen)) return -1;
    timer_at(s, mono_ms() + scaled(d, ms), T_JOB_END, ji, in->gen);
  } else if ((x = json_object_get(body, "KillRequest"))) {
    const char *job = json_string_value(json_object_get(x, "jobId"));
    char key[96];
    snprintf(key, sizeof key, "%s#%d", job ? job : "", (int)json_integer_value(json_object_get(x, "attempt")));
    uint32_t ji = strmap_get(&s->job_by_key, key);
    if (ji == STRMAP_NONE) return 0;
    if (report(d, &s->jobs[ji], in->id, "KILLED", 143, err, errlen)) return -1;
    free_job(s, ji);
  }
  return 0;
}

/* ---- timers ---- */

static int schedule_interrupt(struct driver *d, struct sinst *in, uint32_t ii) {
  struct sim *s = d->impl;
  if (!in->spot) return 0;
  if (d->conf.sim_interrupt_after_ms >= 0) {
    if (s->interrupts_left == 0) return 0;
    if (s->interrupts_left > 0) s->interrupts_left--;
    timer_at(s, mono_ms() + scaled(d, d->conf.sim_interrupt_after_ms), T_NOTICE, ii, in->gen);
    return 0;
  }
  double per_hour = d->conf.sim_interrupt_rate >= 0 ? d->conf.sim_interrupt_rate : itype(d, in)->interrupt_rate / 730.0;
  if (per_hour <= 0) return 0;
  double hours = -log(rnd(s)) / per_hour;
  double ms = hours * 3600000.0 / (d->conf.sim_time_scale > 0 ? d->conf.sim_time_scale : 1.0);
  if (ms > 1e15) return 0;
  timer_at(s, mono_ms() + (int64_t)ms, T_NOTICE, ii, in->gen);
  return 0;
}

static int fire(struct driver *d, const struct timer *t, char *err, size_t errlen) {
  struct sim *s = d->impl;
  if (t->kind == T_JOB_END) {
    struct sjob *j = &s->jobs[t->idx];
    if (!j->used || j->inst_gen != t->gen) return 0;
    struct sinst *in = &s->insts[j->inst];
    if (in->gen != j->inst_gen || in->state == S_GONE) {
      free_job(s, t->idx); /* its host is gone: no report, the scheduler ends the attempt */
      return 0;
    }
    if (report(d, j, in->id, "EXITED", j->exit_code, err, errlen)) return -1;
    free_job(s, t->idx);
    return 0;
  }
  struct sinst *in = &s->insts[t->idx];
  if (in->gen != t->gen || in->state == S_GONE) return 0;
  switch (t->kind) {
  case T_READY:
    in->state = S_UP;
    if (publish_instance(d, in, "READY", NULL, err, errlen)) return -1;
    timer_at(s, mono_ms() + d->conf.sim_heartbeat_ms, T_HEARTBEAT, t->idx, in->gen);
    return schedule_interrupt(d, in, t->idx);
  case T_HEARTBEAT:
    if (publish_instance(d, in, "HEARTBEAT", NULL, err, errlen)) return -1;
    timer_at(s, mono_ms() + d->conf.sim_heartbeat_ms, T_HEARTBEAT, t->idx, in->gen);
    return 0;
  case T_NOTICE:
    if (in->state != S_UP) return 0;
    in->state = S_NOTICE;
    if (publish_instance(d, in, "INTERRUPTION_NOTICE", "Spot interruption: two-minute notice", err, errlen)) return -1;
    timer_at(s, mono_ms() + scaled(d, d->conf.sim_notice_ms), T_RECLAIM, t->idx, in->gen);
    return 0;
  case T_RECLAIM:
    in->state = S_GONE;
    in->gen++;
    return publish_instance(d, in, "TERMINATED", "Spot interruption: instance reclaimed", err, errlen);
  }
  return 0;
}

/* ---- operations ---- */

static int sim_launch(struct driver *d, const struct driver_launch *req, char (*ids)[32], int *n,
                      char *err, size_t errlen) {
  struct sim *s = d->impl;
  *n = 0;
  for (size_t k = 0; k < s->nunobtainable; k++) {
    if (!strcmp(s->unobtainable[k], req->type->name)) {
      snprintf(err, errlen, "InsufficientInstanceCapacity: no simulated %s capacity", req->type->name);
      return -1;
    }
  }
  int ti = (int)(req->type - d->conf.cat->types);
  for (int k = 0; k < req->count; k++) {
    if (s->ninsts == s->capinsts) {
      s->capinsts = s->capinsts ? s->capinsts * 2 : 256;
      s->insts = xrealloc(s->insts, s->capinsts * sizeof *s->insts);
      strmap_release(&s->by_id);
      strmap_init(&s->by_id);
      for (size_t i = 0; i < s->ninsts; i++) strmap_put(&s->by_id, s->insts[i].id, (uint32_t)i);
    }
    uint32_t ii = (uint32_t)s->ninsts++;
    struct sinst *in = &s->insts[ii];
    memset(in, 0, sizeof *in);
    char hex[18];
    random_hex(hex, 17);
    snprintf(in->id, sizeof in->id, "i-%s", hex);
    in->ce = xstrdup(req->ce);
    in->type = ti;
    in->spot = req->spot;
    in->state = S_BOOTING;
    strmap_put(&s->by_id, in->id, ii);
    /* boot times vary a little, as real ones do */
    int64_t boot = scaled(d, d->conf.sim_boot_ms);
    boot += (int64_t)(rnd(s) * (double)boot * 0.2);
    timer_at(s, mono_ms() + boot, T_READY, ii, in->gen);
    snprintf(ids[k], 32, "%s", in->id);
    (*n)++;
  }
  return 0;
}

static int sim_drain(struct driver *d, const char *id, char *err, size_t errlen) {
  (void)d, (void)id, (void)err, (void)errlen;
  return 0; /* the scheduler stops placing; nothing to do on a simulated host */
}

static int sim_terminate(struct driver *d, const char *id, char *err, size_t errlen) {
  struct sim *s = d->impl;
  uint32_t ii = strmap_get(&s->by_id, id);
  if (ii == STRMAP_NONE) return 0;
  struct sinst *in = &s->insts[ii];
  if (in->state == S_GONE) return 0;
  in->state = S_GONE;
  in->gen++;
  return publish_instance(d, in, "TERMINATED", "terminated by the provisioner", err, errlen);
}

static int sim_describe(struct driver *d, const char *const *ids, size_t n, enum driver_state *st,
                        char *err, size_t errlen) {
  (void)err, (void)errlen;
  struct sim *s = d->impl;
  for (size_t i = 0; i < n; i++) {
    uint32_t ii = strmap_get(&s->by_id, ids[i]);
    if (ii == STRMAP_NONE) st[i] = DRV_UNKNOWN;
    else if (s->insts[ii].state == S_GONE) st[i] = DRV_GONE;
    else if (s->insts[ii].state == S_BOOTING) st[i] = DRV_PENDING;
    else st[i] = DRV_RUNNING;
  }
  return 0;
}

static int sim_poll(struct driver *d, char *err, size_t errlen) {
  struct sim *s = d->impl;
  /* placements first: a job placed on an instance starts before its timers are looked at */
  for (int k = 0; k < 5000; k++) {
    struct bus_msg m;
    int r = bus_poll(s->placements, 0, &m, err, errlen);
    if (r < 0) return -1;
    if (r != 1) break;
    enum barge_ev_type t;
    json_t *ev = NULL;
    char why[256];
    int rc = 0;
    if (m.value && !bus_decode(&m, &t, &ev, why, sizeof why)) rc = on_command(d, ev, err, errlen);
    json_decref(ev);
    bus_msg_release(&m);
    if (rc) return -1;
  }
  int64_t now = mono_ms();
  const struct timer *first;
  for (int k = 0; k < 20000 && (first = heap_peek(&s->timers)) && first->due <= now; k++) {
    struct timer t;
    (void)heap_pop(&s->timers, &t);
    if (fire(d, &t, err, errlen)) return -1;
  }
  bus_producer_poll(s->prod);
  if (now >= s->next_flush) {
    s->next_flush = now + 1000;
    if (bus_flush(s->prod, 10000, err, errlen)) return -1;
  }
  return 0;
}

static void sim_free(struct driver *d) {
  struct sim *s = d->impl;
  if (!s) return;
  driver_producer_close(d, s->prod);
  bus_consumer_free(s->placements);
  for (size_t i = 0; i < s->ninsts; i++) free(s->insts[i].ce);
  free(s->insts);
  strmap_release(&s->by_id);
  free(s->jobs);
  free(s->free_jobs);
  strmap_release(&s->job_by_key);
  heap_release(&s->timers);
  for (size_t i = 0; i < s->nunobtainable; i++) free(s->unobtainable[i]);
  free(s->unobtainable);
  free(s);
}

static const struct driver_ops sim_ops = {"sim", 1, sim_launch, sim_drain, sim_terminate, sim_describe, NULL, NULL, sim_poll, sim_free};

struct driver *driver_sim_new(const struct driver_conf *conf, char *err, size_t errlen) {
  struct sim *s = xcalloc(1, sizeof *s);
  struct driver *d = driver_alloc(&sim_ops, conf, s);
  strmap_init(&s->by_id);
  strmap_init(&s->job_by_key);
  heap_init(&s->timers, sizeof(struct timer), t_before);
  s->rng = conf->sim_seed ? conf->sim_seed * 0x9E3779B97F4A7C15ULL : 0x9E3779B97F4A7C15ULL;
  s->interrupts_left = conf->sim_interrupt_count;
  if (conf->sim_unobtainable && *conf->sim_unobtainable) {
    char *list = xstrdup(conf->sim_unobtainable), *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      s->unobtainable = xrealloc(s->unobtainable, (s->nunobtainable + 1) * sizeof *s->unobtainable);
      s->unobtainable[s->nunobtainable++] = xstrdup(t);
    }
    free(list);
  }
  s->prod = bus_producer_new(&d->conf.bus, NULL, err, errlen);
  s->placements = s->prod ? bus_consumer_new(&d->conf.bus, NULL, 1, err, errlen) : NULL;
  enum bus_topic t = TOPIC_PLACEMENTS;
  if (!s->placements || bus_assign_all(s->placements, &t, 1, 0, err, errlen)) {
    driver_free(d);
    return NULL;
  }
  return d;
}
