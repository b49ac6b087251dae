/* replay_sim.c: `barge replay simulate` (see replay.h, docs/replay.md).
 *
 * A discrete-event simulation around the real scheduler core (scheduler/sched.c):
 *
 *   recorded barge.requests ──(SubmitJob, CancelJob, TerminateJob at their times)──┐
 *   Tick every tick_ms ─────────────────────────────────────────────────────────────┤
 *   fleet model: READY / TERMINATED instances ──────────────────────────────────────┤
 *   execution model: STARTED / EXITED / ... as recorded ─────────────────────────────┤
 *                                                                                     v
 *                                   sched_handle (the same core, ALT configuration)
 *                                                                                     │
 *   placements -> execution model; CapacityDemand -> fleet model; state changes -> metrics
 *
 * Execution model: attempt k of a job starts (STARTING -> RUNNING) after the delay recorded for
 * its attempt k and ends after the recorded RUNNING -> end time with the recorded exit code (or
 * timeout, failure to start, host loss). An attempt that ended by TerminateJob in the recording
 * runs until the simulated TerminateJob kills it. An attempt with no recorded counterpart takes
 * the median duration of the recorded attempts of jobs with the same name (else of all jobs) and
 * exits 0.
 *
 * Capacity, by default through the real provisioner core (provisioner/prov.c) with a sim-like
 * driver: the scheduler's CapacityDemand goes to prov_handle_demand, Ticks to prov_tick; a launch
 * it asks for creates instances of the catalogue type at once (LAUNCHING), READY after a boot
 * delay (the LAUNCHING -> READY time the recording shows for the type, else 1 s for a type the
 * recording used, else 30 s); its drains go to the scheduler core (DRAIN_REQUESTED), whose
 * DRAINED goes back, and its terminations end the instance. Instances alive when the range starts
 * are a warm fleet (registered READY at the start, up to maxvCpus per MANAGED compute
 * environment); UNMANAGED compute environments get the recorded instances at their recorded
 * times. `capacity_model "replay"` selects Barge replay's own simpler fleet model instead (written
 * before the provisioner core existed): RUNNABLE demand that does not fit on launching instances
 * launches the CE's instance types (the recording's first, else a small built-in catalogue) up
 * to maxvCpus, READY after the boot delay; idle instances end after a scale-down delay above
 * minvCpus; BEST_FIT takes the cheapest type that fits a job, the other strategies the largest
 * type the remaining demand fills.
 *
 * Everything is ordered by (time, sequence number); ids of simulated instances are counters;
 * no clock, no randomness: the same input gives the same report. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "prov.h"
#include "replay.h"
#include "sched_core.h"
#include "views.h"

#define DEFAULT_TICK_MS 1000
#define DEFAULT_HORIZON_MS (7LL * 24 * 3600 * 1000)
#define STALL_MS (2LL * 3600 * 1000)
#define CATALOGUE_BOOT_MS 30000
#define LEARNED_BOOT_MS 1000
#define SCALE_DOWN_MS 60000
#define MAX_SHAPES 200000

static const char *jstr(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}
static int64_t jlong(const json_t *o, const char *k, int64_t def) {
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}
static double jnum(const json_t *o, const char *k, double def) {
  json_t *v = json_object_get(o, k);
  return json_is_number(v) ? json_number_value(v) : def;
}
static int64_t ev_time(const json_t *ev) {
  return jlong(json_object_get(ev, "header"), "event_time", 0);
}
static int terminal_name(const char *s) {
  return s && (!strcmp(s, "SUCCEEDED") || !strcmp(s, "FAILED"));
}

/* ---------------- small containers ---------------- */

/* job/instance id -> index, on a jansson object (ids are unique strings) */
static int idx_get(json_t *map, const char *id) {
  json_t *v = json_object_get(map, id);
  return v ? (int)json_integer_value(v) : -1;
}
static void idx_put(json_t *map, const char *id, int i) {
  json_object_set_new(map, id, json_integer(i));
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

struct i64v {
  int64_t *v;
  size_t n, cap;
};
static void i64_push(struct i64v *a, int64_t x) {
  if (a->n == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 64;
    a->v = xrealloc(a->v, a->cap * sizeof *a->v);
  }
  a->v[a->n++] = x;
}
static int64_t median_of(struct i64v *a, int64_t def) {
  if (!a->n) return def;
  qsort(a->v, a->n, sizeof *a->v, cmp_i64);
  return a->v[(a->n - 1) / 2];
}
/* nearest-rank percentile of sorted values */
static int64_t pct(const int64_t *v, size_t n, int p) {
  if (!n) return -1;
  size_t k = (size_t)ceil((double)p / 100.0 * (double)n);
  if (k < 1) k = 1;
  return v[k - 1];
}

/* intervals for peaks and cost */
struct span {
  int64_t start, end; /* end INT64_MAX: open */
  int v;
  double price; /* per hour */
};
struct spans {
  struct span *v;
  size_t n, cap;
};
static void span_push(struct spans *s, int64_t start, int64_t end, int v, double price) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    s->v = xrealloc(s->v, s->cap * sizeof *s->v);
  }
  s->v[s->n++] = (struct span){start, end, v, price};
}
struct edge {
  int64_t at;
  int delta;
};
static int cmp_edge(const void *a, const void *b) {
  const struct edge *x = a, *y = b;
  if (x->at != y->at) return x->at < y->at ? -1 : 1;
  return x->delta - y->delta; /* ends before starts at the same instant */
}
/* The largest sum of v over spans alive at once inside [t0, t1]. */
static int peak_of(const struct spans *s, int64_t t0, int64_t t1) {
  struct edge *e = xcalloc(s->n * 2 + 1, sizeof *e);
  size_t n = 0;
  for (size_t i = 0; i < s->n; i++) {
    int64_t a = s->v[i].start < t0 ? t0 : s->v[i].start;
    int64_t b = s->v[i].end > t1 ? t1 : s->v[i].end;
    if (b <= a && !(a == b && s->v[i].end > a)) continue;
    e[n++] = (struct edge){a, s->v[i].v};
    e[n++] = (struct edge){b, -s->v[i].v};
  }
  qsort(e, n, sizeof *e, cmp_edge);
  int cur = 0, peak = 0;
  for (size_t i = 0; i < n; i++) {
    cur += e[i].delta;
    if (cur > peak) peak = cur;
  }
  free(e);
  return peak;
}
static double cost_of(const struct spans *s, int64_t t0, int64_t t1) {
  double c = 0;
  for (size_t i = 0; i < s->n; i++) {
    int64_t a = s->v[i].start < t0 ? t0 : s->v[i].start;
    int64_t b = s->v[i].end > t1 ? t1 : s->v[i].end;
    if (b > a) c += s->v[i].price * (double)(b - a) / 3600000.0;
  }
  return c;
}

/* ---------------- the recorded outcome ---------------- */

enum att_kind { ATT_EXITED, ATT_TIMED_OUT, ATT_FAILED_TO_START, ATT_TERMINATED, ATT_LOST };

struct rec_attempt {
  enum att_kind kind;
  int64_t placed_at, running_at, end_at; /* running_at/end_at -1: not seen */
  int has_exit;
  int exit_code;
  char *reason;
};

struct rec_job {
  char *id, *parent, *name;
  int is_parent, in_scope;
  int64_t created, first_runnable, first_starting, stopped;
  char status[16];
  int vcpus;
  struct rec_attempt *att;
  int natt, closed;
};

struct rec_inst {
  char *id, *ce, *type, *driver;
  int v, m, g;
  double price;
  int spot;
  int64_t launching, ready, ended, first_seen;
};

struct recording {
  struct rec_job *jobs;
  size_t njobs;
  json_t *job_idx; /* id -> index */
  struct rec_inst *insts;
  size_t ninsts;
  json_t *inst_idx;
};

static struct rec_job *rec_job_get(struct recording *r, const char *id) {
  int i = idx_get(r->job_idx, id);
  if (i >= 0) return &r->jobs[i];
  r->jobs = xrealloc(r->jobs, (r->njobs + 1) * sizeof *r->jobs);
  struct rec_job *j = &r->jobs[r->njobs];
  memset(j, 0, sizeof *j);
  j->id = xstrdup(id);
  j->created = j->first_runnable = j->first_starting = j->stopped = -1;
  snprintf(j->status, sizeof j->status, "SUBMITTED");
  idx_put(r->job_idx, id, (int)r->njobs);
  r->njobs++;
  return j;
}

static void rec_apply_event(struct recording *r, const json_t *ev) {
  const char *id = jstr(ev, "jobId"), *old = jstr(ev, "oldStatus"), *st = jstr(ev, "newStatus");
  if (!id || !st) return;
  struct rec_job *j = rec_job_get(r, id);
  int64_t at = jlong(ev, "at", ev_time(ev));
  if (jstr(ev, "parentJobId") && !j->parent) j->parent = xstrdup(jstr(ev, "parentJobId"));
  if (!j->name && jstr(ev, "jobName")) j->name = xstrdup(jstr(ev, "jobName"));
  if (jlong(ev, "vcpus", 0) > 0) j->vcpus = (int)jlong(ev, "vcpus", 0);
  if (old && !strcmp(old, "SUBMITTED") && j->created < 0) j->created = at;
  if (!strcmp(st, "RUNNABLE") && j->first_runnable < 0) j->first_runnable = at;
  if (!strcmp(st, "STARTING")) {
    if (j->first_starting < 0) j->first_starting = at;
    j->att = xrealloc(j->att, (size_t)(j->natt + 1) * sizeof *j->att);
    struct rec_attempt *a = &j->att[j->natt++];
    memset(a, 0, sizeof *a);
    a->placed_at = at;
    a->running_at = a->end_at = -1;
  }
  struct rec_attempt *cur = j->natt > j->closed ? &j->att[j->natt - 1] : NULL;
  if (!strcmp(st, "RUNNING") && cur) cur->running_at = at;
  if (old && (!strcmp(old, "STARTING") || !strcmp(old, "RUNNING")) && strcmp(st, "RUNNING") && cur) {
    cur->end_at = at;
    json_t *ec = json_object_get(ev, "exitCode");
    cur->has_exit = json_is_integer(ec);
    cur->exit_code = cur->has_exit ? (int)json_integer_value(ec) : 0;
    const char *reason = jstr(ev, "statusReason");
    cur->reason = reason ? xstrdup(reason) : NULL;
    if (reason && !strncmp(reason, "Terminated", 10)) cur->kind = ATT_TERMINATED;
    else if (reason && !strcmp(reason, "Job attempt duration exceeded timeout")) cur->kind = ATT_TIMED_OUT;
    else if (reason && !strncmp(reason, "Host EC2", 8)) cur->kind = ATT_LOST;
    else if (cur->running_at < 0) cur->kind = ATT_FAILED_TO_START;
    else cur->kind = ATT_EXITED;
    j->closed++;
  }
  if (terminal_name(st)) j->stopped = at;
  snprintf(j->status, sizeof j->status, "%s", st);
}

static void rec_apply_instance(struct recording *r, const json_t *ev) {
  const char *id = jstr(ev, "instanceId"), *kind = jstr(ev, "kind");
  if (!id || !kind) return;
  int i = idx_get(r->inst_idx, id);
  if (i < 0) {
    r->insts = xrealloc(r->insts, (r->ninsts + 1) * sizeof *r->insts);
    struct rec_inst *n = &r->insts[r->ninsts];
    memset(n, 0, sizeof *n);
    n->id = xstrdup(id);
    n->launching = n->ready = n->ended = -1;
    n->first_seen = jlong(ev, "at", ev_time(ev));
    idx_put(r->inst_idx, id, (int)r->ninsts);
    i = (int)r->ninsts++;
  }
  struct rec_inst *n = &r->insts[i];
  int64_t at = jlong(ev, "at", ev_time(ev));
  if (!n->ce && jstr(ev, "computeEnvironment")) n->ce = xstrdup(jstr(ev, "computeEnvironment"));
  if (jstr(ev, "instanceType") && *jstr(ev, "instanceType") && !n->type) n->type = xstrdup(jstr(ev, "instanceType"));
  if (jstr(ev, "driver") && *jstr(ev, "driver") && !n->driver) n->driver = xstrdup(jstr(ev, "driver"));
  if (jlong(ev, "vcpus", 0) > n->v) n->v = (int)jlong(ev, "vcpus", 0);
  if (jlong(ev, "memoryMib", 0) > n->m) n->m = (int)jlong(ev, "memoryMib", 0);
  if (jlong(ev, "gpus", 0) > n->g) n->g = (int)jlong(ev, "gpus", 0);
  if (jnum(ev, "pricePerHour", 0) > 0) n->price = jnum(ev, "pricePerHour", 0);
  if (jstr(ev, "lifecycle") && !strcmp(jstr(ev, "lifecycle"), "SPOT")) n->spot = 1;
  if (!strcmp(kind, "LAUNCHING") && n->launching < 0) n->launching = at;
  if ((!strcmp(kind, "READY") || !strcmp(kind, "HEARTBEAT")) && n->ready < 0) n->ready = at;
  if (!strcmp(kind, "TERMINATED") || !strcmp(kind, "LOST") || !strcmp(kind, "LAUNCH_FAILED")) {
    if (n->ended < 0) n->ended = at;
  } else if (!strcmp(kind, "READY") && n->ended >= 0 && at > n->ended) {
    n->ended = -1; /* came back (a restarted agent with the same id) */
  }
}

static int64_t rec_inst_start(const struct rec_inst *n) {
  return n->launching >= 0 ? n->launching : n->ready >= 0 ? n->ready : n->first_seen;
}

static void recording_free(struct recording *r) {
  for (size_t i = 0; i < r->njobs; i++) {
    struct rec_job *j = &r->jobs[i];
    free(j->id);
    free(j->parent);
    free(j->name);
    for (int k = 0; k < j->natt; k++) free(j->att[k].reason);
    free(j->att);
  }
  free(r->jobs);
  json_decref(r->job_idx);
  for (size_t i = 0; i < r->ninsts; i++) {
    free(r->insts[i].id);
    free(r->insts[i].ce);
    free(r->insts[i].type);
    free(r->insts[i].driver);
  }
  free(r->insts);
  json_decref(r->inst_idx);
}

/* ---------------- instance types ---------------- */

struct itype {
  char name[64];
  int v, m;
  double price, spot_price;
  int64_t boot_ms;
  int learned;
};

static const struct {
  const char *name;
  int v, m;
  double price;
} catalogue[] = {
    {"c5.large", 2, 4096, 0.085},     {"c5.xlarge", 4, 8192, 0.17},
    {"c5.2xlarge", 8, 16384, 0.34},   {"c5.4xlarge", 16, 32768, 0.68},
    {"c5.9xlarge", 36, 73728, 1.53},  {"m5.large", 2, 8192, 0.096},
    {"m5.xlarge", 4, 16384, 0.192},   {"m5.2xlarge", 8, 32768, 0.384},
    {"m5.4xlarge", 16, 65536, 0.768}, {"m5.12xlarge", 48, 196608, 2.304},
    {"r5.large", 2, 16384, 0.126},    {"r5.xlarge", 4, 32768, 0.252},
    {"r5.2xlarge", 8, 65536, 0.504},  {"r5.4xlarge", 16, 131072, 1.008},
};

/* ---------------- the simulation ---------------- */

enum sev_kind {
  SEV_REQUEST,       /* ev: a JobRequest for the scheduler core */
  SEV_TICK,          /* time passes (both cores) */
  SEV_READY,         /* instance a registers (both cores) */
  SEV_TERMINATE,     /* instance a ends (recorded unmanaged instances) */
  SEV_EXEC,          /* ev: an ExecutionReport for the scheduler core */
  SEV_TO_SCHED,      /* ev: an InstanceEvent from the provisioner for the scheduler core */
  SEV_PROV_DEMAND,   /* ev: a CapacityDemand from the scheduler for the provisioner core */
  SEV_PROV_INSTANCE  /* ev: an InstanceEvent from the scheduler for the provisioner core */
};

struct sev {
  int64_t at;
  uint64_t seq;
  enum sev_kind kind;
  int a;      /* instance index */
  json_t *ev; /* the event to feed (REQUEST, EXEC) */
};

struct heap {
  struct sev *v;
  size_t n, cap;
};

static int sev_before(const struct sev *x, const struct sev *y) {
  return x->at != y->at ? x->at < y->at : x->seq < y->seq;
}
static void heap_push(struct heap *h, struct sev e) {
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 256;
    h->v = xrealloc(h->v, h->cap * sizeof *h->v);
  }
  size_t i = h->n++;
  h->v[i] = e;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!sev_before(&h->v[i], &h->v[p])) break;
    struct sev t = h->v[i];
    h->v[i] = h->v[p];
    h->v[p] = t;
    i = p;
  }
}
static struct sev heap_pop(struct heap *h) {
  struct sev top = h->v[0];
  h->v[0] = h->v[--h->n];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->n && sev_before(&h->v[l], &h->v[m])) m = l;
    if (r < h->n && sev_before(&h->v[r], &h->v[m])) m = r;
    if (m == i) break;
    struct sev t = h->v[i];
    h->v[i] = h->v[m];
    h->v[m] = t;
    i = m;
  }
  return top;
}

enum inst_state { SI_LAUNCHING, SI_READY, SI_GONE };

struct sim_inst {
  char id[64];
  int ce;
  char type[64];
  int v, m, g;
  double price;
  int spot;
  int64_t launched_at, ended_at;
  enum inst_state state;
  int njobs;
  int64_t idle_since;
  int warm;    /* alive when the range starts (recorded) */
  int managed; /* scaled by the fleet model */
};

struct sim_ce {
  char *name, *arn;
  int managed;
  int maxv, minv;
  char strategy[48];
  int spot;
  struct itype *types; /* candidates */
  size_t ntypes;
  int64_t boot_ms, scale_down_ms; /* -1: per type / default */
  json_t *demand;                 /* latest CapacityDemand shapes */
  int launched;
};

struct sim_job {
  char *id;
  int top, is_parent;
  int64_t created, first_runnable, first_starting, stopped;
  int status; /* enum job_status */
  int attempts;
  int inst; /* sim instance index of the live attempt, -1 */
  int64_t placed_at;
  int vcpus;
};

struct sim {
  const struct replay_sim_input *in;
  struct recording rec;
  struct sched *core;
  struct outbox out;
  struct heap q;
  uint64_t seq;
  int64_t now;
  struct sim_ce *ces;
  size_t nces;
  struct sim_inst *insts;
  size_t ninsts;
  json_t *inst_idx;
  struct sim_job *jobs;
  size_t njobs;
  json_t *job_idx;
  struct itype *learned;
  size_t nlearned;
  struct spans job_spans;
  size_t unfinished_top;
  int64_t last_change;
  size_t no_recording, rejected, deps_dropped;
  int64_t default_run_ms, default_delay_ms;
  json_t *run_by_name; /* jobName -> median run ms */
  json_t *notes;
  /* the provisioner core (capacity_model "provisioner") */
  struct prov *prov;
  struct prov_outbox pout;
  const struct catalog *cat;
  int decisions;
  char err[512];
};

static json_t *sim_header(struct sim *s, int64_t at) {
  char id[48];
  snprintf(id, sizeof id, "sim-%llu", (unsigned long long)++s->seq);
  return json_pack("{s:s, s:I, s:s, s:s}", "event_id", id, "event_time", (json_int_t)at,
                   "source", "replay-simulate", "request_id", "");
}

static void push(struct sim *s, int64_t at, enum sev_kind k, int a, json_t *ev /* @owned */) {
  heap_push(&s->q, (struct sev){at, ++s->seq, k, a, ev});
}

static void note(struct sim *s, const char *text) {
  size_t i;
  json_t *v;
  json_array_foreach(s->notes, i, v) if (!strcmp(json_string_value(v), text)) return;
  json_array_append_new(s->notes, json_string(text));
}

/* ---- jobs ---- */

static struct sim_job *sim_job_get(struct sim *s, const char *id, int create) {
  int i = idx_get(s->job_idx, id);
  if (i >= 0) return &s->jobs[i];
  if (!create) return NULL;
  s->jobs = xrealloc(s->jobs, (s->njobs + 1) * sizeof *s->jobs);
  struct sim_job *j = &s->jobs[s->njobs];
  memset(j, 0, sizeof *j);
  j->id = xstrdup(id);
  j->created = j->first_runnable = j->first_starting = j->stopped = -1;
  j->inst = -1;
  j->status = JOB_SUBMITTED;
  idx_put(s->job_idx, id, (int)s->njobs);
  s->njobs++;
  return j;
}

/* ---- the execution model ---- */

static json_t *exec_report(struct sim *s, const char *job, int attempt, const char *inst,
                           const char *kind, int64_t at, int has_exit, int exit_code,
                           const char *reason) {
  json_t *r = json_pack("{s:o, s:s, s:i, s:s, s:s, s:I}", "header", sim_header(s, at), "jobId", job,
                        "attempt", attempt, "instanceId", inst, "kind", kind, "at", (json_int_t)at);
  if (has_exit) json_object_set_new(r, "exitCode", json_integer(exit_code));
  if (reason) json_object_set_new(r, "reason", json_string(reason));
  return r;
}

static void on_placement(struct sim *s, const struct out_ev *e) {
  const char *id = sched_job_id(s->core, e->job);
  const char *iid = sched_instance_id(s->core, e->inst);
  struct sim_job *j = sim_job_get(s, id, 1);
  int ii = idx_get(s->inst_idx, iid);
  j->inst = ii;
  j->placed_at = s->now;
  j->attempts = e->attempt;
  if (ii >= 0) {
    s->insts[ii].njobs++;
    s->insts[ii].idle_since = -1;
  }
  int ri = idx_get(s->rec.job_idx, id);
  struct rec_job *rj = ri >= 0 ? &s->rec.jobs[ri] : NULL;
  if (rj && rj->vcpus) j->vcpus = rj->vcpus;
  const struct rec_attempt *a = NULL;
  if (rj && e->attempt >= 1 && e->attempt <= rj->natt) a = &rj->att[e->attempt - 1];
  else if (rj && rj->closed > 0) a = &rj->att[rj->closed - 1]; /* more attempts than recorded */
  int64_t at = s->now;
  if (!a) {
    s->no_recording++;
    json_t *byname = rj && rj->name ? json_object_get(s->run_by_name, rj->name) : NULL;
    int64_t run = byname ? (int64_t)json_integer_value(byname) : s->default_run_ms;
    push(s, at + s->default_delay_ms, SEV_EXEC, 0,
         exec_report(s, id, e->attempt, iid, "STARTED", at + s->default_delay_ms, 0, 0, NULL));
    push(s, at + s->default_delay_ms + run, SEV_EXEC, 0,
         exec_report(s, id, e->attempt, iid, "EXITED", at + s->default_delay_ms + run, 1, 0, NULL));
    return;
  }
  int64_t delay = a->running_at >= 0 ? a->running_at - a->placed_at
                                     : (a->end_at >= 0 ? a->end_at - a->placed_at : s->default_delay_ms);
  if (delay < 0) delay = 0;
  int64_t run = a->running_at >= 0 && a->end_at >= 0 ? a->end_at - a->running_at : -1;
  switch (a->kind) {
  case ATT_FAILED_TO_START:
    push(s, at + delay, SEV_EXEC, 0,
         exec_report(s, id, e->attempt, iid, "FAILED_TO_START", at + delay, 0, 0,
                     a->reason ? a->reason : "CannotStartContainerError"));
    return;
  case ATT_EXITED:
  case ATT_TIMED_OUT:
  case ATT_LOST:
  case ATT_TERMINATED:
    break;
  }
  push(s, at + delay, SEV_EXEC, 0, exec_report(s, id, e->attempt, iid, "STARTED", at + delay, 0, 0, NULL));
  if (a->kind == ATT_TERMINATED) return; /* runs until the simulated TerminateJob kills it */
  if (run < 0) {
    /* the recording ends while it runs: it runs as long as the recording lasted */
    note(s, "some attempts were still running when the recording ended; they ran for the median recorded duration");
    run = s->default_run_ms;
  }
  int64_t end = at + delay + run;
  if (a->kind == ATT_TIMED_OUT)
    push(s, end, SEV_EXEC, 0, exec_report(s, id, e->attempt, iid, "TIMED_OUT", end, a->has_exit, a->exit_code, NULL));
  else if (a->kind == ATT_LOST)
    push(s, end, SEV_EXEC, 0, exec_report(s, id, e->attempt, iid, "FAILED_TO_START", end, 0, 0, a->reason));
  else
    push(s, end, SEV_EXEC, 0, exec_report(s, id, e->attempt, iid, "EXITED", end, a->has_exit, a->exit_code, NULL));
}

static void on_kill(struct sim *s, const struct out_ev *e) {
  const char *id = sched_job_id(s->core, e->job);
  const char *iid = sched_instance_id(s->core, e->inst);
  push(s, s->now, SEV_EXEC, 0, exec_report(s, id, e->attempt, iid, "KILLED", s->now, 0, 0, NULL));
}

static void on_state_change(struct sim *s, const struct out_ev *e) {
  const char *id = sched_job_id(s->core, e->job);
  struct sim_job *j = sim_job_get(s, id, 1);
  s->last_change = s->now;
  int old = e->old_status, st = e->new_status;
  if (old == JOB_SUBMITTED && j->created < 0) j->created = e->at_ms;
  if (st == JOB_RUNNABLE && j->first_runnable < 0) j->first_runnable = e->at_ms;
  if (st == JOB_STARTING && j->first_starting < 0) j->first_starting = e->at_ms;
  if ((old == JOB_STARTING || old == JOB_RUNNING) && st != JOB_RUNNING) {
    if (j->inst >= 0) {
      struct sim_inst *in = &s->insts[j->inst];
      if (in->njobs > 0) in->njobs--;
      if (in->njobs == 0) in->idle_since = s->now;
    }
    span_push(&s->job_spans, j->placed_at, e->at_ms, j->vcpus ? j->vcpus : 1, 0);
    j->inst = -1;
  }
  if ((st == JOB_SUCCEEDED || st == JOB_FAILED) && j->stopped < 0) {
    j->stopped = e->at_ms;
    if (j->top && s->unfinished_top > 0) s->unfinished_top--;
  }
  j->status = st;
}

static int ce_by_name(struct sim *s, const char *name) {
  for (size_t i = 0; name && i < s->nces; i++)
    if (!strcmp(s->ces[i].name, name) || !strcmp(s->ces[i].arn, name)) return (int)i;
  return -1;
}

static void on_capacity(struct sim *s, const struct out_ev *e) {
  json_t *d = sched_capacity(s->core, e, "replay-simulate");
  int ci = ce_by_name(s, jstr(d, "computeEnvironment"));
  if (ci >= 0) {
    json_decref(s->ces[ci].demand);
    s->ces[ci].demand = json_incref(json_object_get(d, "shapes"));
  }
  json_decref(d);
}

/* Feeds one event to the core and acts on what it decided. */
static int feed(struct sim *s, enum barge_ev_type t, const json_t *ev) {
  char why[512];
  if (sched_handle(s->core, t, ev, &s->out, why, sizeof why)) {
    sched_outbox_reset(&s->out);
    return 0; /* invalid data: the real scheduler dead-letters it and goes on */
  }
  for (size_t i = 0; i < s->out.n; i++) {
    const struct out_ev *e = &s->out.ev[i];
    switch (e->kind) {
    case OUT_STATE_CHANGE:
      on_state_change(s, e);
      break;
    case OUT_PLACEMENT:
      on_placement(s, e);
      break;
    case OUT_KILL:
      on_kill(s, e);
      break;
    case OUT_CAPACITY:
      if (s->prov) push(s, s->now, SEV_PROV_DEMAND, 0, sched_capacity(s->core, e, "replay-simulate"));
      else on_capacity(s, e);
      break;
    case OUT_INSTANCE: /* DRAINED (a drain the provisioner asked for) */
      if (s->prov) push(s, s->now, SEV_PROV_INSTANCE, 0, sched_instance_event(s->core, e, "replay-simulate"));
      break;
    case OUT_REJECT:
      s->rejected++;
      break;
    case OUT_JOB_RECORD:
    case OUT__COUNT:
      break;
    }
  }
  sched_outbox_reset(&s->out);
  return 0;
}

/* ---- the fleet model ---- */

static json_t *instance_event(struct sim *s, const struct sim_inst *in, const char *kind, int64_t at) {
  return json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:f, s:s, s:I}", "header",
                   sim_header(s, at), "instanceId", in->id, "computeEnvironment",
                   s->ces[in->ce].name, "kind", kind, "instanceType", in->type, "vcpus", in->v,
                   "memoryMib", in->m, "gpus", in->g, "lifecycle", in->spot ? "SPOT" : "ON_DEMAND",
                   "pricePerHour", in->price, "driver", "sim", "at", (json_int_t)at);
}

static int add_inst(struct sim *s, const char *id, int ce, const char *type, int v, int m, int g,
                    double price, int spot, int64_t at) {
  s->insts = xrealloc(s->insts, (s->ninsts + 1) * sizeof *s->insts);
  struct sim_inst *in = &s->insts[s->ninsts];
  memset(in, 0, sizeof *in);
  snprintf(in->id, sizeof in->id, "%s", id);
  snprintf(in->type, sizeof in->type, "%s", type ? type : "");
  in->ce = ce;
  in->v = v;
  in->m = m;
  in->g = g;
  in->price = price;
  in->spot = spot;
  in->launched_at = at;
  in->ended_at = -1;
  in->state = SI_LAUNCHING;
  in->idle_since = -1;
  in->managed = s->ces[ce].managed;
  idx_put(s->inst_idx, in->id, (int)s->ninsts);
  return (int)s->ninsts++;
}

static int fleet_v(struct sim *s, int ce) {
  int v = 0;
  for (size_t i = 0; i < s->ninsts; i++)
    if (s->insts[i].ce == ce && s->insts[i].state != SI_GONE) v += s->insts[i].v;
  return v;
}

struct shape {
  int v, m, g;
};
static int cmp_shape(const void *a, const void *b) {
  const struct shape *x = a, *y = b;
  if (x->v != y->v) return y->v - x->v;
  if (x->m != y->m) return y->m - x->m;
  return y->g - x->g;
}

static double type_price(const struct sim_ce *c, const struct itype *t) {
  return c->spot ? t->spot_price : t->price;
}

/* Chooses the type to launch for shapes[0] given the vCPUs left under maxvCpus. */
static const struct itype *choose_type(const struct sim_ce *c, const struct shape *sh, int demand_v,
                                       int room_v) {
  const struct itype *best = NULL;
  int progressive = strcmp(c->strategy, "BEST_FIT") != 0;
  for (size_t i = 0; i < c->ntypes; i++) {
    const struct itype *t = &c->types[i];
    if (t->v < sh->v || t->m < sh->m || t->v > room_v) continue;
    if (!best) {
      best = t;
      continue;
    }
    if (!progressive) {
      double a = type_price(c, t), b = type_price(c, best);
      if (a < b || (a == b && (t->v < best->v || (t->v == best->v && strcmp(t->name, best->name) < 0))))
        best = t;
    } else {
      /* the largest type the demand fills, cheapest per vCPU among equals */
      int tf = t->v <= demand_v, bf = best->v <= demand_v;
      if (tf != bf) {
        if (tf) best = t;
        continue;
      }
      if (tf ? t->v > best->v : t->v < best->v) {
        best = t;
      } else if (t->v == best->v) {
        double a = type_price(c, t), b = type_price(c, best);
        if (a < b || (a == b && strcmp(t->name, best->name) < 0)) best = t;
      }
    }
  }
  return best;
}

static int64_t boot_of(const struct sim_ce *c, const struct itype *t) {
  if (c->boot_ms >= 0) return c->boot_ms;
  return t->boot_ms;
}

static void scale(struct sim *s) {
  for (size_t ci = 0; ci < s->nces; ci++) {
    struct sim_ce *c = &s->ces[ci];
    if (!c->managed || !c->ntypes) continue;
    /* job shapes waiting for capacity, largest first */
    size_t n = 0, cap = 16;
    struct shape *sh = xmalloc(cap * sizeof *sh);
    size_t i;
    json_t *d;
    int demand_v = 0;
    json_array_foreach(c->demand, i, d) {
      int cnt = (int)jlong(d, "count", 0);
      for (int k = 0; k < cnt && n < MAX_SHAPES; k++) {
        if (n == cap) sh = xrealloc(sh, (cap *= 2) * sizeof *sh);
        sh[n++] = (struct shape){(int)jlong(d, "vcpus", 1), (int)jlong(d, "memoryMib", 0), (int)jlong(d, "gpus", 0)};
        demand_v += (int)jlong(d, "vcpus", 1);
      }
    }
    qsort(sh, n, sizeof *sh, cmp_shape);
    char *placed = xcalloc(n + 1, 1);
    /* what launching instances will take when READY */
    for (size_t k = 0; k < s->ninsts; k++) {
      struct sim_inst *in = &s->insts[k];
      if (in->ce != (int)ci || in->state != SI_LAUNCHING) continue;
      int fv = in->v, fm = in->m;
      for (size_t x = 0; x < n; x++)
        if (!placed[x] && sh[x].v <= fv && sh[x].m <= fm) {
          placed[x] = 1;
          fv -= sh[x].v;
          fm -= sh[x].m;
          demand_v -= sh[x].v;
        }
    }
    int fv_total = fleet_v(s, (int)ci);
    for (size_t x = 0; x < n; x++) {
      if (placed[x]) continue;
      int room = c->maxv - fv_total;
      const struct itype *t = choose_type(c, &sh[x], demand_v, room);
      if (!t) {
        int fits_any = 0;
        for (size_t k = 0; k < c->ntypes; k++)
          if (c->types[k].v >= sh[x].v && c->types[k].m >= sh[x].m) fits_any = 1;
        if (!fits_any) note(s, "some jobs fit no instance type of their compute environment");
        continue;
      }
      char id[64];
      snprintf(id, sizeof id, "i-sim%02zu%06d", ci, ++c->launched);
      int ii = add_inst(s, id, (int)ci, t->name, t->v, t->m, 0, type_price(c, t), c->spot, s->now);
      push(s, s->now + boot_of(c, t), SEV_READY, ii, NULL);
      fv_total += t->v;
      int fv = t->v, fm = t->m;
      for (size_t y = x; y < n; y++)
        if (!placed[y] && sh[y].v <= fv && sh[y].m <= fm) {
          placed[y] = 1;
          fv -= sh[y].v;
          fm -= sh[y].m;
          demand_v -= sh[y].v;
        }
    }
    free(placed);
    free(sh);
    /* scale down: idle READY instances after the delay, keeping minvCpus */
    if (json_array_size(c->demand) == 0) {
      int64_t delay = c->scale_down_ms >= 0 ? c->scale_down_ms : SCALE_DOWN_MS;
      for (size_t k = 0; k < s->ninsts; k++) {
        struct sim_inst *in = &s->insts[k];
        if (in->ce != (int)ci || in->state != SI_READY || in->njobs > 0) continue;
        if (in->idle_since < 0) in->idle_since = s->now;
        if (s->now - in->idle_since < delay) continue;
        if (fleet_v(s, (int)ci) - in->v < c->minv) continue;
        in->state = SI_GONE;
        in->ended_at = s->now;
        json_t *ev = instance_event(s, in, "TERMINATED", s->now);
        feed(s, BARGE_EV_INSTANCE_EVENT, ev);
        json_decref(ev);
      }
    }
  }
}

/* ---- the provisioner core and its simulated driver ---- */

static const struct itype *learned_type(struct sim *s, const char *name) {
  for (size_t k = 0; k < s->nlearned; k++)
    if (!strcmp(s->learned[k].name, name)) return &s->learned[k];
  return NULL;
}

/* Acts on what the provisioner core decided, until it decides nothing more. */
static void prov_process(struct sim *s) {
  while (s->pout.n) {
    /* take the entries: answering a launch appends to the outbox */
    size_t n = s->pout.n;
    struct prov_out *v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
      v[i] = s->pout.ev[i];
      v[i].ce = xstrdup(s->pout.ev[i].ce ? s->pout.ev[i].ce : "");
      v[i].driver = NULL;
      v[i].ev = s->pout.ev[i].ev ? json_incref(s->pout.ev[i].ev) : NULL;
    }
    prov_outbox_reset(&s->pout);
    for (size_t i = 0; i < n; i++) {
      struct prov_out *e = &v[i];
      int ci = ce_by_name(s, e->ce);
      switch (e->kind) {
      case PROV_OUT_DECISION:
        s->decisions++;
        break;
      case PROV_OUT_INSTANCE: {
        const char *kind = jstr(e->ev, "kind");
        if (kind && (!strcmp(kind, "DRAIN_REQUESTED") || !strcmp(kind, "LAUNCHING"))) {
          json_t *x = json_deep_copy(e->ev);
          json_object_set_new(x, "header", sim_header(s, s->now));
          push(s, s->now, SEV_TO_SCHED, 0, x);
        }
        break;
      }
      case PROV_OUT_LAUNCH: {
        if (ci < 0 || e->type < 0 || (size_t)e->type >= s->cat->n || e->count <= 0) {
          prov_launch_result(s->prov, e->req, "sim", NULL, 0, "unknown type or compute environment", s->now, &s->pout);
          break;
        }
        const struct catalog_type *t = &s->cat->types[e->type];
        const char **ids = xcalloc((size_t)e->count, sizeof *ids);
        char(*idbuf)[64] = xcalloc((size_t)e->count, sizeof *idbuf); /* s->insts may move */
        struct sim_ce *c = &s->ces[ci];
        const struct itype *lt = learned_type(s, t->name);
        int64_t boot = c->boot_ms >= 0 ? c->boot_ms : lt ? lt->boot_ms : CATALOGUE_BOOT_MS;
        for (int k = 0; k < e->count; k++) {
          char id[64];
          snprintf(id, sizeof id, "i-sim%02d%06d", ci, ++c->launched);
          int ii = add_inst(s, id, ci, t->name, t->vcpus, catalog_sched_mem(s->cat, t), t->gpus,
                            e->spot ? t->spot_price : t->od_price, e->spot, s->now);
          snprintf(idbuf[k], sizeof idbuf[k], "%s", s->insts[ii].id);
          ids[k] = idbuf[k];
          push(s, s->now + boot, SEV_READY, ii, NULL);
        }
        prov_launch_result(s->prov, e->req, "sim", ids, (size_t)e->count, NULL, s->now, &s->pout);
        free(ids);
        free(idbuf);
        break;
      }
      case PROV_OUT_DRAIN:
        break; /* DRAIN_REQUESTED is its own output */
      case PROV_OUT_TERMINATE: {
        int ii = idx_get(s->inst_idx, e->instance);
        if (ii >= 0 && s->insts[ii].state != SI_GONE) {
          s->insts[ii].state = SI_GONE;
          s->insts[ii].ended_at = s->now;
        }
        json_t *x = e->ev ? json_deep_copy(e->ev) : NULL;
        if (x) {
          json_object_set_new(x, "header", sim_header(s, s->now));
          push(s, s->now, SEV_TO_SCHED, 0, json_incref(x));
          push(s, s->now, SEV_PROV_INSTANCE, 0, x);
        }
        break;
      }
      case PROV_OUT__COUNT:
        break;
      }
      free(e->ce);
      json_decref(e->ev);
    }
    free(v);
  }
}

static void prov_feed(struct sim *s, enum sev_kind k, const json_t *ev) {
  char why[512];
  int rc = 0;
  if (k == SEV_PROV_DEMAND) rc = prov_handle_demand(s->prov, ev, &s->pout, why, sizeof why);
  else rc = prov_handle_instance(s->prov, ev, &s->pout, why, sizeof why);
  if (rc) prov_outbox_reset(&s->pout); /* invalid data: dropped, as the shell would */
  prov_process(s);
}

/* ---------------- configuration and ALT ---------------- */

static int name_matches(const json_t *alt_map, const char *name, const char *arn, json_t **out) {
  *out = json_object_get(alt_map, name);
  if (!*out) *out = json_object_get(alt_map, arn);
  return *out != NULL;
}

static int check_members(const json_t *o, const char *const *allowed, const char *what, char *err,
                         size_t errlen) {
  if (!json_is_object(o)) {
    snprintf(err, errlen, "ALT: %s: expected a JSON object", what);
    return -1;
  }
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)o, k, v) {
    int ok = 0;
    for (const char *const *a = allowed; *a; a++)
      if (!strcmp(k, *a)) ok = 1;
    if (!ok) {
      snprintf(err, errlen, "ALT: %s: unknown member '%s'", what, k);
      return -1;
    }
  }
  return 0;
}

static const char *kind_of(const json_t *rec, json_t **body) {
  json_t *b = json_object_get(rec, "body");
  const char *k;
  json_t *v;
  json_object_foreach(b, k, v) {
    *body = v;
    return k;
  }
  return NULL;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Applies ALT to the configuration records (copies) and returns them in feeding order: compute
 * environments, scheduling policies, job definitions, job queues; each by ARN. */
static int prepare_config(struct sim *s, json_t **out, char *err, size_t errlen) {
  const json_t *alt = s->in->alt;
  static const char *const top[] = {"computeEnvironments", "jobQueues", "schedulingPolicies",
                                    "instanceTypes", "bootDelaySeconds", "scaleDownDelaySeconds", NULL};
  if (alt && (!json_is_object(alt) || check_members(alt, top, "the document", err, errlen))) {
    if (!json_is_object(alt)) snprintf(err, errlen, "ALT: the document is not a JSON object");
    return 2;
  }
  static const char *const order[] = {"ComputeEnvironment", "SchedulingPolicy", "JobDefinition", "JobQueue"};
  json_t *ces_alt = json_object_get(alt, "computeEnvironments");
  json_t *qs_alt = json_object_get(alt, "jobQueues");
  json_t *ps_alt = json_object_get(alt, "schedulingPolicies");
  json_t *used = json_object();
  json_t *res = json_array();
  size_t n = json_array_size(s->in->config);
  for (size_t o = 0; o < 4; o++) {
    const char **keys = xcalloc(n + 1, sizeof *keys);
    json_t **recs = xcalloc(n + 1, sizeof *recs);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
      json_t *rec = json_array_get(s->in->config, i), *body;
      const char *k = kind_of(rec, &body);
      if (!k || strcmp(k, order[o])) continue;
      const char *arn = !strcmp(k, "ComputeEnvironment") ? jstr(body, "computeEnvironmentArn")
                        : !strcmp(k, "JobQueue")         ? jstr(body, "jobQueueArn")
                        : !strcmp(k, "JobDefinition")    ? jstr(body, "jobDefinitionArn")
                                                         : jstr(body, "arn");
      if (!arn) continue;
      keys[m] = arn;
      recs[m++] = rec;
    }
    /* by ARN (stable, independent of the table's order) */
    for (size_t a = 1; a < m; a++)
      for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
        const char *tk = keys[b];
        keys[b] = keys[b - 1];
        keys[b - 1] = tk;
        json_t *tr = recs[b];
        recs[b] = recs[b - 1];
        recs[b - 1] = tr;
      }
    for (size_t i = 0; i < m; i++) {
      json_t *rec = json_deep_copy(recs[i]), *body;
      const char *k = kind_of(rec, &body);
      json_t *ov = NULL;
      if (!strcmp(k, "ComputeEnvironment") &&
          name_matches(ces_alt, jstr(body, "computeEnvironmentName"), keys[i], &ov)) {
        static const char *const allowed[] = {"maxvCpus", "minvCpus", "allocationStrategy", "instanceTypes",
                                              "type", "bootDelaySeconds", "scaleDownDelaySeconds", NULL};
        if (check_members(ov, allowed, jstr(body, "computeEnvironmentName"), err, errlen)) goto bad;
        json_t *cr = json_object_get(body, "computeResources");
        if (!json_is_object(cr)) {
          snprintf(err, errlen, "ALT: compute environment %s is UNMANAGED: it has no maxvCpus or instance types to change",
                   jstr(body, "computeEnvironmentName"));
          goto bad;
        }
        static const char *const copy[] = {"maxvCpus", "minvCpus", "allocationStrategy", "instanceTypes", "type", NULL};
        for (const char *const *c = copy; *c; c++)
          if (json_object_get(ov, *c)) json_object_set(cr, *c, json_object_get(ov, *c));
        json_object_set_new(used, jstr(body, "computeEnvironmentName"), json_true());
        json_object_set_new(used, keys[i], json_true());
      } else if (!strcmp(k, "JobQueue") && name_matches(qs_alt, jstr(body, "jobQueueName"), keys[i], &ov)) {
        static const char *const allowed[] = {"priority", "state", NULL};
        if (check_members(ov, allowed, jstr(body, "jobQueueName"), err, errlen)) goto bad;
        if (json_object_get(ov, "priority")) json_object_set(body, "priority", json_object_get(ov, "priority"));
        if (json_object_get(ov, "state")) json_object_set(body, "state", json_object_get(ov, "state"));
        json_object_set_new(used, jstr(body, "jobQueueName"), json_true());
        json_object_set_new(used, keys[i], json_true());
      } else if (!strcmp(k, "SchedulingPolicy") && name_matches(ps_alt, jstr(body, "name"), keys[i], &ov)) {
        static const char *const allowed[] = {"shareDistribution", "shareDecaySeconds", "computeReservation", NULL};
        if (check_members(ov, allowed, jstr(body, "name"), err, errlen)) goto bad;
        json_t *fp = json_object_get(body, "fairsharePolicy");
        if (!json_is_object(fp)) {
          fp = json_object();
          json_object_set_new(body, "fairsharePolicy", fp);
        }
        json_object_update(fp, ov);
        json_object_set_new(used, jstr(body, "name"), json_true());
        json_object_set_new(used, keys[i], json_true());
      }
      json_array_append_new(res, rec);
      continue;
    bad:
      json_decref(rec);
      free(keys);
      free(recs);
      json_decref(res);
      json_decref(used);
      return 2;
    }
    free(keys);
    free(recs);
  }
  /* every ALT name must exist */
  json_t *maps[] = {ces_alt, qs_alt, ps_alt};
  const char *what[] = {"compute environment", "job queue", "scheduling policy"};
  for (int mi = 0; mi < 3; mi++) {
    const char *k;
    json_t *v;
    json_object_foreach(maps[mi], k, v) if (!json_object_get(used, k)) {
      snprintf(err, errlen, "ALT: %s %s is not in barge.config", what[mi], k);
      json_decref(res);
      json_decref(used);
      return 2;
    }
  }
  json_decref(used);
  *out = res;
  return 0;
}

/* The recorded types (what the drivers really launched, e.g. "local"), then the catalogue and
 * ALT's instanceTypes. */
static void build_types(struct sim *s) {
  json_t *alt_types = json_object_get(s->in->alt, "instanceTypes");
  for (size_t i = 0; i < s->rec.ninsts; i++) {
    const struct rec_inst *n = &s->rec.insts[i];
    if (!n->type || n->v <= 0) continue;
    int found = 0;
    for (size_t k = 0; k < s->nlearned; k++)
      if (!strcmp(s->learned[k].name, n->type)) found = 1;
    if (found) continue;
    s->learned = xrealloc(s->learned, (s->nlearned + 1) * sizeof *s->learned);
    struct itype *t = &s->learned[s->nlearned++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", n->type);
    t->v = n->v;
    t->m = n->m;
    t->price = n->price;
    t->spot_price = n->price;
    t->learned = 1;
    /* the boot delay the recording shows for this type */
    struct i64v boots = {0};
    for (size_t k = 0; k < s->rec.ninsts; k++) {
      const struct rec_inst *x = &s->rec.insts[k];
      if (x->type && !strcmp(x->type, n->type) && x->launching >= 0 && x->ready >= x->launching)
        i64_push(&boots, x->ready - x->launching);
    }
    t->boot_ms = median_of(&boots, LEARNED_BOOT_MS);
    free(boots.v);
  }
  for (size_t i = 0; i < sizeof catalogue / sizeof *catalogue; i++) {
    int found = 0;
    for (size_t k = 0; k < s->nlearned; k++)
      if (!strcmp(s->learned[k].name, catalogue[i].name)) found = 1;
    if (found) continue;
    s->learned = xrealloc(s->learned, (s->nlearned + 1) * sizeof *s->learned);
    struct itype *t = &s->learned[s->nlearned++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", catalogue[i].name);
    t->v = catalogue[i].v;
    t->m = catalogue[i].m;
    t->price = catalogue[i].price;
    t->spot_price = catalogue[i].price * 0.3;
    t->boot_ms = CATALOGUE_BOOT_MS;
  }
  const char *k;
  json_t *v;
  json_object_foreach(alt_types, k, v) {
    struct itype *t = NULL;
    for (size_t x = 0; x < s->nlearned; x++)
      if (!strcmp(s->learned[x].name, k)) t = &s->learned[x];
    if (!t) {
      s->learned = xrealloc(s->learned, (s->nlearned + 1) * sizeof *s->learned);
      t = &s->learned[s->nlearned++];
      memset(t, 0, sizeof *t);
      snprintf(t->name, sizeof t->name, "%s", k);
      t->boot_ms = CATALOGUE_BOOT_MS;
    }
    t->v = (int)jlong(v, "vcpus", t->v);
    t->m = (int)jlong(v, "memoryMib", t->m);
    t->price = jnum(v, "pricePerHour", t->price);
    t->spot_price = jnum(v, "spotPricePerHour", t->price * 0.3);
    if (json_object_get(v, "bootDelaySeconds")) t->boot_ms = jlong(v, "bootDelaySeconds", 0) * 1000;
  }
}

static void add_candidate(struct sim_ce *c, const struct itype *t) {
  for (size_t i = 0; i < c->ntypes; i++)
    if (!strcmp(c->types[i].name, t->name)) return;
  c->types = xrealloc(c->types, (c->ntypes + 1) * sizeof *c->types);
  c->types[c->ntypes++] = *t;
}

static void resolve_types(struct sim *s, struct sim_ce *c, const json_t *cr) {
  /* what the recording launched in this CE comes first */
  for (size_t i = 0; i < s->rec.ninsts; i++) {
    const struct rec_inst *n = &s->rec.insts[i];
    if (!n->ce || !n->type || (strcmp(n->ce, c->name) && strcmp(n->ce, c->arn))) continue;
    for (size_t k = 0; k < s->nlearned; k++)
      if (!strcmp(s->learned[k].name, n->type)) add_candidate(c, &s->learned[k]);
  }
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(cr, "instanceTypes"), i, t) {
    const char *name = json_string_value(t);
    if (!name) continue;
    for (size_t k = 0; k < s->nlearned; k++) {
      const char *ln = s->learned[k].name;
      size_t fl = strlen(name);
      int family = !strchr(name, '.') && !strncmp(ln, name, fl) && ln[fl] == '.';
      int optimal = !strcmp(name, "optimal") && !s->learned[k].learned &&
                    (!strncmp(ln, "c5.", 3) || !strncmp(ln, "m5.", 3) || !strncmp(ln, "r5.", 3));
      if (!strcmp(ln, name) || family || optimal) add_candidate(c, &s->learned[k]);
    }
  }
  if (!c->ntypes) {
    for (size_t k = 0; k < s->nlearned; k++)
      if (!strcmp(s->learned[k].name, "m5.large")) add_candidate(c, &s->learned[k]);
    note(s, "a compute environment names no known instance type; m5.large was assumed");
  }
}

static void setup_ces(struct sim *s, const json_t *config) {
  size_t i;
  json_t *rec;
  json_t *ces_alt = json_object_get(s->in->alt, "computeEnvironments");
  json_array_foreach(config, i, rec) {
    json_t *body;
    const char *k = kind_of(rec, &body);
    if (!k || strcmp(k, "ComputeEnvironment")) continue;
    s->ces = xrealloc(s->ces, (s->nces + 1) * sizeof *s->ces);
    struct sim_ce *c = &s->ces[s->nces++];
    memset(c, 0, sizeof *c);
    c->name = xstrdup(jstr(body, "computeEnvironmentName"));
    c->arn = xstrdup(jstr(body, "computeEnvironmentArn"));
    const char *type = jstr(body, "type");
    c->managed = !type || strcmp(type, "UNMANAGED");
    json_t *cr = json_object_get(body, "computeResources");
    c->maxv = (int)jlong(cr, "maxvCpus", c->managed ? 0 : INT_MAX);
    c->minv = (int)jlong(cr, "minvCpus", 0);
    snprintf(c->strategy, sizeof c->strategy, "%s", jstr(cr, "allocationStrategy") ? jstr(cr, "allocationStrategy") : "BEST_FIT");
    c->spot = jstr(cr, "type") && !strcmp(jstr(cr, "type"), "SPOT");
    json_t *ov = NULL;
    name_matches(ces_alt, c->name, c->arn, &ov);
    int64_t gboot = jlong(s->in->alt, "bootDelaySeconds", -1), gdown = jlong(s->in->alt, "scaleDownDelaySeconds", -1);
    int64_t boot = jlong(ov, "bootDelaySeconds", gboot), down = jlong(ov, "scaleDownDelaySeconds", gdown);
    c->boot_ms = boot >= 0 ? boot * 1000 : -1;
    json_t *delay = json_object_get(cr, "minScaleDownDelayMinutes");
    c->scale_down_ms = down >= 0 ? down * 1000 : json_is_integer(delay) ? json_integer_value(delay) * 60000 : -1;
    if (c->managed) resolve_types(s, c, cr);
  }
}

/* ---------------- outcomes ---------------- */

static json_t *outcome(size_t top, size_t succeeded, size_t failed, int64_t t0, int64_t t1,
                       int finished, struct i64v *waits, int peak_fleet, int peak_jobs,
                       double cost, int launched) {
  qsort(waits->v, waits->n, sizeof *waits->v, cmp_i64);
  json_t *o = json_object();
  json_object_set_new(o, "jobs", json_integer((json_int_t)top));
  json_object_set_new(o, "succeeded", json_integer((json_int_t)succeeded));
  json_object_set_new(o, "failed", json_integer((json_int_t)failed));
  json_object_set_new(o, "unfinished", json_integer((json_int_t)(top - succeeded - failed)));
  json_object_set_new(o, "start", json_integer(t0));
  json_object_set_new(o, "end", json_integer(t1));
  json_object_set_new(o, "makespanMs", finished && t1 >= t0 ? json_integer(t1 - t0) : json_null());
  static const int ps[] = {50, 95, 99};
  static const char *const names[] = {"queueWaitP50Ms", "queueWaitP95Ms", "queueWaitP99Ms"};
  for (int i = 0; i < 3; i++) {
    int64_t v = pct(waits->v, waits->n, ps[i]);
    json_object_set_new(o, names[i], v >= 0 ? json_integer(v) : json_null());
  }
  json_object_set_new(o, "peakVcpusInstances", json_integer(peak_fleet));
  json_object_set_new(o, "peakVcpusJobs", json_integer(peak_jobs));
  char c[32];
  snprintf(c, sizeof c, "%.6f", cost);
  json_object_set_new(o, "cost", json_real(strtod(c, NULL)));
  json_object_set_new(o, "instancesLaunched", json_integer(launched));
  return o;
}

/* ---------------- the run ---------------- */

static int in_range(const struct replay_sim_input *in, int64_t t) {
  return (in->from_ms == REPLAY_NO_TIME || t >= in->from_ms) &&
         (in->until_ms == REPLAY_NO_TIME || t <= in->until_ms);
}

static void sim_free(struct sim *s) {
  recording_free(&s->rec);
  sched_free(s->core);
  sched_outbox_release(&s->out);
  while (s->q.n) json_decref(heap_pop(&s->q).ev);
  free(s->q.v);
  for (size_t i = 0; i < s->nces; i++) {
    free(s->ces[i].name);
    free(s->ces[i].arn);
    free(s->ces[i].types);
    json_decref(s->ces[i].demand);
  }
  free(s->ces);
  free(s->insts);
  json_decref(s->inst_idx);
  for (size_t i = 0; i < s->njobs; i++) free(s->jobs[i].id);
  free(s->jobs);
  json_decref(s->job_idx);
  free(s->learned);
  free(s->job_spans.v);
  json_decref(s->run_by_name);
  json_decref(s->notes);
  if (s->prov) {
    prov_outbox_release(&s->pout);
    prov_free(s->prov);
  }
}

int replay_simulate(const struct replay_sim_input *in, json_t **report, char *err, size_t errlen) {
  *report = NULL;
  struct sim s;
  memset(&s, 0, sizeof s);
  s.in = in;
  s.rec.job_idx = json_object();
  s.rec.inst_idx = json_object();
  s.inst_idx = json_object();
  s.job_idx = json_object();
  s.run_by_name = json_object();
  s.notes = json_array();
  sched_outbox_init(&s.out);
  int64_t tick_ms = in->tick_ms > 0 ? in->tick_ms : DEFAULT_TICK_MS;
  int64_t horizon = in->horizon_ms > 0 ? in->horizon_ms : DEFAULT_HORIZON_MS;
  int rc = -1;
  json_t *config = NULL;

  /* ---- the recording ---- */
  size_t i;
  json_t *ev;
  json_array_foreach(in->job_events, i, ev) rec_apply_event(&s.rec, ev);
  json_array_foreach(in->instances, i, ev) rec_apply_instance(&s.rec, ev);
  /* the submissions in range, and the set of jobs they make */
  json_t *subs = json_array(), *scope = json_object();
  int64_t t0 = INT64_MAX, last_sub = INT64_MIN;
  json_array_foreach(in->requests, i, ev) {
    json_t *body = json_object_get(ev, "body");
    json_t *sub = json_object_get(body, "SubmitJob");
    int64_t t = ev_time(ev);
    if (json_object_get(body, "Tick") || !in_range(in, t)) continue;
    if (sub) {
      const char *id = jstr(sub, "jobId");
      if (!id || json_object_get(scope, id)) continue;
      json_object_set_new(scope, id, json_true());
      if (t < t0) t0 = t;
      if (t > last_sub) last_sub = t;
    }
    json_array_append(subs, ev);
  }
  size_t top = json_object_size(scope);
  if (top == 0) {
    snprintf(err, errlen, "no SubmitJob request in the range");
    json_decref(subs);
    json_decref(scope);
    sim_free(&s);
    return 2;
  }
  /* recorded per-unit data: durations by name, medians */
  struct i64v runs = {0}, delays = {0};
  json_t *runs_by_name = json_object();
  for (size_t k = 0; k < s.rec.njobs; k++) {
    struct rec_job *j = &s.rec.jobs[k];
    for (int a = 0; a < j->closed; a++) {
      struct rec_attempt *x = &j->att[a];
      if (x->running_at >= 0) i64_push(&delays, x->running_at - x->placed_at);
      if (x->kind == ATT_EXITED && x->running_at >= 0 && x->end_at >= 0) {
        i64_push(&runs, x->end_at - x->running_at);
        if (j->name) {
          json_t *arr = json_object_get(runs_by_name, j->name);
          if (!arr) json_object_set_new(runs_by_name, j->name, arr = json_array());
          json_array_append_new(arr, json_integer(x->end_at - x->running_at));
        }
      }
    }
  }
  s.default_run_ms = median_of(&runs, 1000);
  s.default_delay_ms = median_of(&delays, 0);
  free(runs.v);
  free(delays.v);
  const char *nk;
  json_t *arr;
  json_object_foreach(runs_by_name, nk, arr) {
    struct i64v v = {0};
    size_t x;
    json_t *e;
    json_array_foreach(arr, x, e) i64_push(&v, json_integer_value(e));
    json_object_set_new(s.run_by_name, nk, json_integer(median_of(&v, s.default_run_ms)));
    free(v.v);
  }
  json_decref(runs_by_name);

  /* ---- the recorded outcome ---- */
  {
    size_t succ = 0, fail = 0;
    int64_t rt0 = INT64_MAX, rt1 = INT64_MIN;
    int finished = 1;
    struct i64v waits = {0};
    struct spans js = {0}, fs = {0};
    for (size_t k = 0; k < s.rec.njobs; k++) {
      struct rec_job *j = &s.rec.jobs[k];
      int is_top = json_object_get(scope, j->id) != NULL;
      int child = j->parent && json_object_get(scope, j->parent);
      if (!is_top && !child) continue;
      j->in_scope = 1;
      if (is_top) {
        if (!strcmp(j->status, "SUCCEEDED")) succ++;
        else if (!strcmp(j->status, "FAILED")) fail++;
        else finished = 0;
        if (j->created >= 0 && j->created < rt0) rt0 = j->created;
        if (j->stopped > rt1) rt1 = j->stopped;
      }
      if (j->first_runnable >= 0 && j->first_starting >= 0) i64_push(&waits, j->first_starting - j->first_runnable);
      for (int a = 0; a < j->natt; a++) {
        int64_t end = j->att[a].end_at >= 0 ? j->att[a].end_at : INT64_MAX;
        span_push(&js, j->att[a].placed_at, end, j->vcpus ? j->vcpus : 1, 0);
      }
    }
    /* top-level jobs that never had an event (not handled) */
    size_t seen_top = 0;
    for (size_t k = 0; k < s.rec.njobs; k++)
      if (json_object_get(scope, s.rec.jobs[k].id)) seen_top++;
    if (seen_top < top) finished = 0;
    if (rt0 == INT64_MAX) rt0 = t0;
    if (rt1 == INT64_MIN) rt1 = rt0;
    int launched = 0;
    for (size_t k = 0; k < s.rec.ninsts; k++) {
      struct rec_inst *n = &s.rec.insts[k];
      int64_t st = rec_inst_start(n);
      span_push(&fs, st, n->ended >= 0 ? n->ended : INT64_MAX, n->v, n->price);
      if (n->launching >= rt0 && n->launching <= rt1) launched++;
    }
    json_t *o = outcome(top, succ, fail, rt0, rt1, finished, &waits, peak_of(&fs, rt0, rt1),
                        peak_of(&js, rt0, rt1), cost_of(&fs, rt0, rt1), launched);
    *report = json_object();
    json_t *range = json_pack("{s:I, s:I, s:i}", "from", (json_int_t)t0, "until", (json_int_t)last_sub,
                              "submissions", (int)top);
    json_object_set_new(*report, "range", range);
    json_object_set_new(*report, "recorded", o);
    free(waits.v);
    free(js.v);
    free(fs.v);
  }

  /* ---- the simulated run ---- */
  int prc = prepare_config(&s, &config, err, errlen);
  if (prc) {
    rc = prc;
    goto out;
  }
  build_types(&s);
  setup_ces(&s, config);
  struct sched_conf conf;
  sched_conf_defaults(&conf);
  conf.region = barge_region();
  conf.account = barge_account();
  conf.lost_after_ms = INT64_MAX / 4; /* the fleet model never loses an instance */
  conf.emit_records = 0;
  s.core = sched_new(&conf);
  s.now = t0;
  if (!in->capacity_model || !strcmp(in->capacity_model, "provisioner")) {
    struct prov_conf pc;
    prov_conf_defaults(&pc);
    s.cat = catalog_default();
    pc.cat = s.cat;
    s.prov = prov_new(&pc);
    prov_outbox_init(&s.pout);
  } else if (strcmp(in->capacity_model, "replay")) {
    snprintf(err, errlen, "unknown capacity model %s (provisioner or replay)", in->capacity_model);
    rc = 2;
    goto out;
  }
  json_array_foreach(config, i, ev) {
    json_t *c = json_deep_copy(ev);
    json_object_set_new(c, "header", sim_header(&s, t0));
    feed(&s, BARGE_EV_CONFIG_RECORD, c);
    if (s.prov) {
      char why[256];
      if (prov_handle_config(s.prov, c, &s.pout, why, sizeof why)) prov_outbox_reset(&s.pout);
      prov_process(&s);
    }
    json_decref(c);
  }
  /* the warm fleet: recorded instances alive when the range starts, by id; unmanaged compute
   * environments also get the recorded instances that came later */
  {
    size_t n = s.rec.ninsts;
    const char **ids = xcalloc(n + 1, sizeof *ids);
    for (size_t k = 0; k < n; k++) ids[k] = s.rec.insts[k].id;
    qsort(ids, n, sizeof *ids, cmp_str);
    for (size_t k = 0; k < n; k++) {
      struct rec_inst *r = &s.rec.insts[idx_get(s.rec.inst_idx, ids[k])];
      int ci = ce_by_name(&s, r->ce);
      if (ci < 0 || r->v <= 0) continue;
      struct sim_ce *c = &s.ces[ci];
      int64_t st = r->ready >= 0 ? r->ready : rec_inst_start(r);
      int alive_at_t0 = st <= t0 && (r->ended < 0 || r->ended > t0);
      if (c->managed) {
        if (!alive_at_t0) continue;
        if (fleet_v(&s, ci) + r->v > c->maxv) continue;
        int ii = add_inst(&s, r->id, ci, r->type, r->v, r->m, r->g, r->price, r->spot, t0);
        s.insts[ii].warm = 1;
        push(&s, t0, SEV_READY, ii, NULL);
      } else {
        if (r->ended >= 0 && r->ended <= t0) continue;
        int64_t at = st < t0 ? t0 : st;
        int ii = add_inst(&s, r->id, ci, r->type, r->v, r->m, r->g, r->price, r->spot, at);
        s.insts[ii].warm = st <= t0;
        push(&s, at, SEV_READY, ii, NULL);
        if (r->ended >= 0) push(&s, r->ended, SEV_TERMINATE, ii, NULL);
      }
    }
    free(ids);
  }
  /* the requests, in their order, at the time the scheduler really handled them (a
   * submission's createdAt: the recording's scheduler latency is kept); dependencies on jobs
   * outside the range are dropped (they would be refused) */
  int64_t feed_at = INT64_MIN;
  json_array_foreach(subs, i, ev) {
    json_t *c = json_deep_copy(ev);
    json_t *sub = json_object_get(json_object_get(c, "body"), "SubmitJob");
    int64_t at = ev_time(ev);
    if (sub) {
      int ri = idx_get(s.rec.job_idx, jstr(sub, "jobId") ? jstr(sub, "jobId") : "");
      if (ri >= 0 && s.rec.jobs[ri].created > at) at = s.rec.jobs[ri].created;
    }
    if (at < feed_at) at = feed_at;
    feed_at = at;
    json_object_set_new(json_object_get(c, "header"), "event_time", json_integer(at));
    if (sub) {
      json_t *deps = json_object_get(sub, "dependsOn");
      json_t *keep = json_array();
      size_t x;
      json_t *d;
      json_array_foreach(deps, x, d) {
        const char *did = jstr(d, "jobId");
        char base[64];
        snprintf(base, sizeof base, "%.*s", did ? (int)strcspn(did, ":") : 0, did ? did : "");
        if (!did || json_object_get(scope, base)) json_array_append(keep, d);
        else s.deps_dropped++;
      }
      json_object_set_new(sub, "dependsOn", keep);
      struct sim_job *j = sim_job_get(&s, jstr(sub, "jobId"), 1);
      j->top = 1;
      j->is_parent = json_object_get(sub, "arrayProperties") != NULL;
    }
    push(&s, at, SEV_REQUEST, 0, c);
  }
  s.unfinished_top = top;
  push(&s, t0, SEV_TICK, 0, NULL);
  int64_t stall_ms = STALL_MS;
  s.last_change = t0;
  /* ---- the loop ---- */
  while (s.q.n) {
    struct sev e = heap_pop(&s.q);
    if (e.at > s.now) s.now = e.at;
    switch (e.kind) {
    case SEV_REQUEST:
      feed(&s, BARGE_EV_JOB_REQUEST, e.ev);
      break;
    case SEV_EXEC:
      feed(&s, BARGE_EV_EXECUTION_REPORT, e.ev);
      break;
    case SEV_READY: {
      struct sim_inst *in = &s.insts[e.a];
      if (in->state == SI_LAUNCHING) {
        in->state = SI_READY;
        in->idle_since = s.now;
        json_t *x = instance_event(&s, in, "READY", s.now);
        feed(&s, BARGE_EV_INSTANCE_EVENT, x);
        if (s.prov) prov_feed(&s, SEV_PROV_INSTANCE, x);
        json_decref(x);
      }
      break;
    }
    case SEV_TO_SCHED:
      feed(&s, BARGE_EV_INSTANCE_EVENT, e.ev);
      break;
    case SEV_PROV_DEMAND:
    case SEV_PROV_INSTANCE:
      prov_feed(&s, e.kind, e.ev);
      break;
    case SEV_TERMINATE: {
      struct sim_inst *in = &s.insts[e.a];
      if (in->state != SI_GONE) {
        in->state = SI_GONE;
        in->ended_at = s.now;
        json_t *x = instance_event(&s, in, "TERMINATED", s.now);
        feed(&s, BARGE_EV_INSTANCE_EVENT, x);
        json_decref(x);
      }
      break;
    }
    case SEV_TICK: {
      json_t *x = json_pack("{s:o, s:s, s:{s:{s:I}}}", "header", sim_header(&s, s.now), "principal",
                            "scheduler", "body", "Tick", "seq", (json_int_t)s.seq);
      feed(&s, BARGE_EV_JOB_REQUEST, x);
      json_decref(x);
      if (s.prov) {
        prov_tick(s.prov, s.now, &s.pout);
        prov_process(&s);
      }
      break;
    }
    }
    json_decref(e.ev);
    if (!s.prov) scale(&s);
    if (s.unfinished_top == 0) break;
    if (e.kind == SEV_TICK) {
      /* only ticks left and nothing changed for long: stuck jobs stay unfinished */
      int only_ticks = s.q.n == 0;
      if (s.now > last_sub + horizon || (only_ticks && s.now - s.last_change > stall_ms && s.now > last_sub)) {
        note(&s, "some jobs never finished in the simulation (no capacity could run them)");
        break;
      }
      push(&s, s.now + tick_ms, SEV_TICK, 0, NULL);
    }
  }
  /* ---- the simulated outcome ---- */
  {
    size_t succ = 0, fail = 0;
    int64_t st0 = INT64_MAX, st1 = INT64_MIN;
    struct i64v waits = {0};
    struct spans fs = {0};
    for (size_t k = 0; k < s.njobs; k++) {
      struct sim_job *j = &s.jobs[k];
      if (j->top) {
        if (j->status == JOB_SUCCEEDED) succ++;
        else if (j->status == JOB_FAILED) fail++;
        if (j->created >= 0 && j->created < st0) st0 = j->created;
        if (j->stopped > st1) st1 = j->stopped;
      }
      if (!j->is_parent && j->first_runnable >= 0 && j->first_starting >= 0)
        i64_push(&waits, j->first_starting - j->first_runnable);
    }
    if (st0 == INT64_MAX) st0 = t0;
    if (st1 == INT64_MIN) st1 = st0;
    int launched = 0;
    for (size_t k = 0; k < s.ninsts; k++) {
      struct sim_inst *in = &s.insts[k];
      span_push(&fs, in->launched_at, in->ended_at >= 0 ? in->ended_at : INT64_MAX, in->v, in->price);
      if (!in->warm && in->managed) launched++;
    }
    /* attempts still running when the simulation stopped */
    for (size_t k = 0; k < s.njobs; k++)
      if (s.jobs[k].inst >= 0) span_push(&s.job_spans, s.jobs[k].placed_at, INT64_MAX, s.jobs[k].vcpus ? s.jobs[k].vcpus : 1, 0);
    json_t *o = outcome(top, succ, fail, st0, st1, succ + fail == top, &waits, peak_of(&fs, st0, st1),
                        peak_of(&s.job_spans, st0, st1), cost_of(&fs, st0, st1), launched);
    json_object_set_new(*report, "simulated", o);
    free(waits.v);
    free(fs.v);
  }
  /* ---- agreement, per job ---- */
  {
    size_t same_status = 0, same_attempts = 0, units = 0;
    for (size_t k = 0; k < s.njobs; k++) {
      struct sim_job *j = &s.jobs[k];
      int ri = idx_get(s.rec.job_idx, j->id);
      struct rec_job *r = ri >= 0 ? &s.rec.jobs[ri] : NULL;
      if (j->top) {
        const char *ss = j->status == JOB_SUCCEEDED ? "SUCCEEDED" : j->status == JOB_FAILED ? "FAILED" : "";
        if (r && !strcmp(r->status, ss)) same_status++;
      }
      if (!j->is_parent && (j->top || (r && r->in_scope))) {
        units++;
        if (r ? r->closed == j->attempts || (r->natt == j->attempts && r->closed < r->natt) : j->attempts == 0)
          same_attempts++;
      }
    }
    json_object_set_new(*report, "agreement",
                        json_pack("{s:i, s:i, s:i, s:i}", "sameFinalStatus", (int)same_status, "jobs",
                                  (int)top, "sameAttempts", (int)same_attempts, "units", (int)units));
  }
  if (in->per_job) {
    /* every job, in submission order (array children after their parent) */
    json_t *list = json_array();
    for (size_t k = 0; k < s.njobs; k++) {
      struct sim_job *j = &s.jobs[k];
      int ri = idx_get(s.rec.job_idx, j->id);
      struct rec_job *r = ri >= 0 ? &s.rec.jobs[ri] : NULL;
      json_t *o = json_pack("{s:s}", "jobId", j->id);
      if (r)
        json_object_set_new(o, "recorded",
                            json_pack("{s:s, s:i, s:I, s:I, s:I}", "status", r->status, "attempts", r->closed,
                                      "runnableAt", (json_int_t)r->first_runnable, "startingAt",
                                      (json_int_t)r->first_starting, "stoppedAt", (json_int_t)r->stopped));
      json_object_set_new(o, "simulated",
                          json_pack("{s:s, s:i, s:I, s:I, s:I}", "status", job_status_name((enum job_status)j->status),
                                    "attempts", j->attempts, "runnableAt", (json_int_t)j->first_runnable,
                                    "startingAt", (json_int_t)j->first_starting, "stoppedAt", (json_int_t)j->stopped));
      json_array_append_new(list, o);
    }
    json_object_set_new(*report, "jobs", list);
  }
  if (s.no_recording) {
    char b[200];
    snprintf(b, sizeof b, "%zu attempts had no recorded counterpart: they ran for the median recorded duration and exited 0", s.no_recording);
    note(&s, b);
  }
  if (s.deps_dropped) {
    char b[200];
    snprintf(b, sizeof b, "%zu dependencies on jobs submitted outside the range were dropped", s.deps_dropped);
    note(&s, b);
  }
  if (s.rejected) {
    char b[200];
    snprintf(b, sizeof b, "%zu submissions were refused by the scheduler core", s.rejected);
    note(&s, b);
  }
  if (s.prov) {
    char b[200];
    snprintf(b, sizeof b, "capacity: the provisioner core (%d scaling decisions) with a simulated driver; warm recorded instances at the start", s.decisions);
    note(&s, b);
  } else {
    note(&s, "capacity: Barge replay's own fleet model (warm recorded instances, launches up to maxvCpus with a boot delay, idle scale-down); the provisioner core was not used");
  }
  json_object_set_new(*report, "configuration", in->alt ? json_deep_copy(in->alt) : json_object());
  json_object_set(*report, "notes", s.notes);
  rc = 0;
out:
  if (rc) {
    json_decref(*report);
    *report = NULL;
  }
  json_decref(config);
  json_decref(subs);
  json_decref(scope);
  sim_free(&s);
  return rc;
}

/* ---------------- printing ---------------- */

static void cell_ms(char *out, size_t n, const json_t *v) {
  if (!json_is_integer(v)) snprintf(out, n, "-");
  else snprintf(out, n, "%.3f s", (double)json_integer_value(v) / 1000.0);
}

void replay_report_print(const json_t *report, int json, FILE *out) {
  if (json) {
    char *s = json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    fprintf(out, "%s\n", s);
    free(s);
    return;
  }
  const json_t *r = json_object_get(report, "recorded"), *m = json_object_get(report, "simulated");
  const json_t *range = json_object_get(report, "range");
  char a[40], b[40];
  iso8601_utc(jlong(range, "from", 0), a);
  iso8601_utc(jlong(range, "until", 0), b);
  fprintf(out, "replay simulate: %lld submissions from %s to %s\n", (long long)jlong(range, "submissions", 0), a, b);
  const json_t *cfg = json_object_get(report, "configuration");
  char *cs = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
  fprintf(out, "configuration: barge.config%s%s\n\n", json_object_size(cfg) ? " with " : " as recorded", json_object_size(cfg) ? cs : "");
  free(cs);
  fprintf(out, "%-26s %16s %16s\n", "", "recorded", "simulated");
  static const struct {
    const char *label, *key;
    int ms;
  } rows[] = {{"jobs", "jobs", 0},
              {"  succeeded", "succeeded", 0},
              {"  failed", "failed", 0},
              {"  unfinished", "unfinished", 0},
              {"makespan", "makespanMs", 1},
              {"queue wait p50", "queueWaitP50Ms", 1},
              {"queue wait p95", "queueWaitP95Ms", 1},
              {"queue wait p99", "queueWaitP99Ms", 1},
              {"peak vCPUs (instances)", "peakVcpusInstances", 0},
              {"peak vCPUs (jobs)", "peakVcpusJobs", 0},
              {"instances launched", "instancesLaunched", 0}};
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    json_t *x = json_object_get(r, rows[i].key), *y = json_object_get(m, rows[i].key);
    if (rows[i].ms) {
      cell_ms(a, sizeof a, x);
      cell_ms(b, sizeof b, y);
    } else {
      snprintf(a, sizeof a, "%lld", (long long)json_integer_value(x));
      snprintf(b, sizeof b, "%lld", (long long)json_integer_value(y));
    }
    fprintf(out, "%-26s %16s %16s\n", rows[i].label, a, b);
  }
  snprintf(a, sizeof a, "%.4f", json_number_value(json_object_get(r, "cost")));
  snprintf(b, sizeof b, "%.4f", json_number_value(json_object_get(m, "cost")));
  fprintf(out, "%-26s %16s %16s\n", "cost (USD)", a, b);
  const json_t *ag = json_object_get(report, "agreement");
  fprintf(out, "\nagreement with the recording: final status %lld/%lld jobs, attempts %lld/%lld\n",
          (long long)jlong(ag, "sameFinalStatus", 0), (long long)jlong(ag, "jobs", 0),
          (long long)jlong(ag, "sameAttempts", 0), (long long)jlong(ag, "units", 0));
  size_t i;
  json_t *n;
  json_array_foreach(json_object_get(report, "notes"), i, n) fprintf(out, "note: %s\n", json_string_value(n));
  const json_t *jobs = json_object_get(report, "jobs");
  if (!jobs) return;
  int64_t t0 = jlong(r, "start", 0);
  fprintf(out, "\n%-40s %-22s %-22s\n%-40s %-22s %-22s\n", "", "recorded", "simulated", "job (times from the first submission)",
          "status  tries start end", "status  tries start end");
  json_array_foreach(jobs, i, n) {
    const json_t *x = json_object_get(n, "recorded"), *y = json_object_get(n, "simulated");
    char cx[64] = "-", cy[64] = "-";
    if (x)
      snprintf(cx, sizeof cx, "%-9s %d %6.2f %6.2f", jstr(x, "status"), (int)jlong(x, "attempts", 0),
               jlong(x, "startingAt", -1) >= 0 ? (double)(jlong(x, "startingAt", 0) - t0) / 1000 : -1.0,
               jlong(x, "stoppedAt", -1) >= 0 ? (double)(jlong(x, "stoppedAt", 0) - t0) / 1000 : -1.0);
    if (y)
      snprintf(cy, sizeof cy, "%-9s %d %6.2f %6.2f", jstr(y, "status"), (int)jlong(y, "attempts", 0),
               jlong(y, "startingAt", -1) >= 0 ? (double)(jlong(y, "startingAt", 0) - t0) / 1000 : -1.0,
               jlong(y, "stoppedAt", -1) >= 0 ? (double)(jlong(y, "stoppedAt", 0) - t0) / 1000 : -1.0);
    fprintf(out, "%-40s %-22s  %-22s\n", jstr(n, "jobId"), cx, cy);
  }
}

/* ---------------- reading the topics ---------------- */

struct load {
  json_t *arr;    /* events in topic order (requests, job-events, instances) */
  json_t *table;  /* key -> event (config) */
  json_t *keys;   /* key order of the table */
  size_t bad;
};

static void load_cb(void *ctx, const struct bus_msg *m) {
  struct load *l = ctx;
  if (l->table) {
    char key[1024];
    snprintf(key, sizeof key, "%.*s", (int)(m->keylen < 1000 ? m->keylen : 1000), m->key ? m->key : "");
    if (!m->value) {
      json_object_del(l->table, key);
      return;
    }
    enum barge_ev_type t;
    json_t *ev = NULL;
    char why[256];
    if (bus_decode(m, &t, &ev, why, sizeof why)) {
      l->bad++;
      return;
    }
    json_object_set_new(l->table, key, ev);
    return;
  }
  if (!m->value) return;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (bus_decode(m, &t, &ev, why, sizeof why)) {
    l->bad++;
    return;
  }
  json_array_append_new(l->arr, ev);
}

int replay_simulate_run(const struct bus_conf *bc, const char *alt_path, int64_t from_ms,
                        int64_t until_ms, int json, int per_job, const char *capacity_model,
                        FILE *out, char *err, size_t errlen) {
  json_t *alt = NULL;
  if (alt_path) {
    json_error_t je;
    alt = json_load_file(alt_path, 0, &je);
    if (!alt) {
      snprintf(err, errlen, "%s: %s (line %d)", alt_path, je.text, je.line);
      return 2;
    }
  }
  struct load cfg = {.table = json_object()}, req = {.arr = json_array()},
              evs = {.arr = json_array()}, ins = {.arr = json_array()};
  int rc = -1;
  json_t *config = json_array(), *report = NULL;
  struct bus_consumer *c = bus_consumer_new(bc, NULL, 1, err, errlen);
  if (!c) goto out;
  if (bus_read_table(c, TOPIC_CONFIG, load_cb, &cfg, err, errlen) ||
      bus_read_table(c, TOPIC_REQUESTS, load_cb, &req, err, errlen) ||
      bus_read_table(c, TOPIC_JOB_EVENTS, load_cb, &evs, err, errlen) ||
      bus_read_table(c, TOPIC_INSTANCES, load_cb, &ins, err, errlen))
    goto out;
  const char *k;
  json_t *v;
  json_object_foreach(cfg.table, k, v) json_array_append(config, v);
  struct replay_sim_input in = {.config = config,
                                .requests = req.arr,
                                .job_events = evs.arr,
                                .instances = ins.arr,
                                .alt = alt,
                                .from_ms = from_ms,
                                .until_ms = until_ms,
                                .per_job = per_job,
                                .capacity_model = capacity_model};
  rc = replay_simulate(&in, &report, err, errlen);
  if (rc == 0) replay_report_print(report, json, out);
out:
  bus_consumer_free(c);
  json_decref(alt);
  json_decref(cfg.table);
  json_decref(req.arr);
  json_decref(evs.arr);
  json_decref(ins.arr);
  json_decref(config);
  json_decref(report);
  return rc;
}
