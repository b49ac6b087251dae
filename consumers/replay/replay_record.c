/* replay_record.c: `barge replay simulate`'s two sides of the report: the recorded run (job and
 * instance histories from barge.job-events and barge.instances) and the figures both sides are
 * measured by (makespan, queue-wait percentiles, peaks, cost), and the report's printing. Pure;
 * see replay_sim.c for the simulation itself. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "replay_int.h"
#include "states.h"
#include "util.h"

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

void replay_i64_push(struct i64v *a, int64_t x) {
  if (a->n == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 64;
    a->v = xrealloc(a->v, a->cap * sizeof *a->v);
  }
  a->v[a->n++] = x;
}

int64_t replay_median(struct i64v *a, int64_t def) {
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

void replay_span_push(struct spans *s, int64_t start, int64_t end, int v, double price) {
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

void replay_rec_event(struct recording *r, const json_t *ev) {
  const char *id = jget_str(ev, "jobId"), *old = jget_str(ev, "oldStatus"), *st = jget_str(ev, "newStatus");
  long ord = r->nevents++;
  if (!id || !st) return;
  const char *pid = jget_str(ev, "parentJobId");
  if (pid && replay_is_node_of(id, pid)) {
    /* a multi-node job's parent keeps no attempt of its own, as its record does: its nodes run */
    struct rec_job *p = rec_job_get(r, pid);
    if (!p->multi_node) {
      p->multi_node = 1;
      for (int a = 0; a < p->natt; a++) free(p->att[a].reason);
      p->natt = p->closed = 0;
    }
  }
  struct rec_job *j = rec_job_get(r, id);
  int64_t at = jget_int(ev, "at", ev_time(ev));
  if (jget_str(ev, "parentJobId") && !j->parent) j->parent = xstrdup(jget_str(ev, "parentJobId"));
  if (!j->name && jget_str(ev, "jobName")) j->name = xstrdup(jget_str(ev, "jobName"));
  if (jget_int(ev, "vcpus", 0) > 0) j->vcpus = (int)jget_int(ev, "vcpus", 0);
  if (old && !strcmp(old, "SUBMITTED") && j->created < 0) j->created = at;
  if (!strcmp(st, "RUNNABLE") && j->first_runnable < 0) j->first_runnable = at;
  if (!strcmp(st, "STARTING")) {
    if (j->first_starting < 0) j->first_starting = at;
  }
  if (!strcmp(st, "STARTING") && !j->multi_node) {
    j->att = xrealloc(j->att, (size_t)(j->natt + 1) * sizeof *j->att);
    struct rec_attempt *a = &j->att[j->natt++];
    memset(a, 0, sizeof *a);
    a->placed_at = at;
    a->running_at = a->end_at = -1;
    a->run_ord = a->end_ord = -1;
  }
  struct rec_attempt *cur = j->natt > j->closed ? &j->att[j->natt - 1] : NULL;
  if (!strcmp(st, "RUNNING") && cur) {
    cur->running_at = at;
    cur->run_ord = ord;
  }
  if (old && (!strcmp(old, "STARTING") || !strcmp(old, "RUNNING")) && strcmp(st, "RUNNING") && cur) {
    cur->end_at = at;
    cur->end_ord = ord;
    json_t *ec = json_object_get(ev, "exitCode");
    cur->has_exit = json_is_integer(ec);
    cur->exit_code = cur->has_exit ? (int)json_integer_value(ec) : 0;
    const char *reason = jget_str(ev, "statusReason");
    cur->reason = reason ? xstrdup(reason) : NULL;
    if (reason && !strncmp(reason, "Terminated", 10)) cur->kind = ATT_TERMINATED;
    else if (reason && !strcmp(reason, "Job attempt duration exceeded timeout")) cur->kind = ATT_TIMED_OUT;
    else if (reason && !strncmp(reason, "Host EC2", 8)) cur->kind = ATT_LOST;
    else if (cur->running_at < 0) cur->kind = ATT_FAILED_TO_START;
    else cur->kind = ATT_EXITED;
    j->closed++;
  }
  if (job_status_terminal(st)) j->stopped = at;
  snprintf(j->status, sizeof j->status, "%s", st);
}

void replay_rec_instance(struct recording *r, const json_t *ev) {
  const char *id = jget_str(ev, "instanceId"), *kind = jget_str(ev, "kind");
  if (!id || !kind) return;
  int i = idx_get(r->inst_idx, id);
  if (i < 0) {
    r->insts = xrealloc(r->insts, (r->ninsts + 1) * sizeof *r->insts);
    struct rec_inst *n = &r->insts[r->ninsts];
    memset(n, 0, sizeof *n);
    n->id = xstrdup(id);
    n->launching = n->ready = n->ended = -1;
    n->first_seen = jget_int(ev, "at", ev_time(ev));
    idx_put(r->inst_idx, id, (int)r->ninsts);
    i = (int)r->ninsts++;
  }
  struct rec_inst *n = &r->insts[i];
  int64_t at = jget_int(ev, "at", ev_time(ev));
  if (!n->ce && jget_str(ev, "computeEnvironment")) n->ce = xstrdup(jget_str(ev, "computeEnvironment"));
  if (jget_str(ev, "instanceType") && *jget_str(ev, "instanceType") && !n->type) n->type = xstrdup(jget_str(ev, "instanceType"));
  if (jget_str(ev, "driver") && *jget_str(ev, "driver") && !n->driver) n->driver = xstrdup(jget_str(ev, "driver"));
  if (jget_int(ev, "vcpus", 0) > n->v) n->v = (int)jget_int(ev, "vcpus", 0);
  if (jget_int(ev, "memoryMib", 0) > n->m) n->m = (int)jget_int(ev, "memoryMib", 0);
  if (jget_int(ev, "gpus", 0) > n->g) n->g = (int)jget_int(ev, "gpus", 0);
  if (jget_num(ev, "pricePerHour", 0) > 0) n->price = jget_num(ev, "pricePerHour", 0);
  if (jget_str(ev, "lifecycle") && !strcmp(jget_str(ev, "lifecycle"), "SPOT")) n->spot = 1;
  if (!strcmp(kind, "LAUNCHING") && n->launching < 0) n->launching = at;
  if ((!strcmp(kind, "READY") || !strcmp(kind, "HEARTBEAT")) && n->ready < 0) n->ready = at;
  if (instance_kind_gone(kind)) {
    if (n->ended < 0) n->ended = at;
  } else if (!strcmp(kind, "READY") && n->ended >= 0 && at > n->ended) {
    n->ended = -1; /* came back (a restarted agent with the same id) */
  }
}

int64_t replay_rec_inst_start(const struct rec_inst *n) {
  return n->launching >= 0 ? n->launching : n->ready >= 0 ? n->ready : n->first_seen;
}

void replay_recording_free(struct recording *r) {
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

/* ---------------- the figures of a side ---------------- */

void replay_side_init(struct side *sd) {
  memset(sd, 0, sizeof *sd);
  sd->t0 = INT64_MAX;
  sd->t1 = INT64_MIN;
}

void replay_side_job(struct side *sd, int top, int status, int64_t created, int64_t stopped,
                     int waits, int64_t first_runnable, int64_t first_starting) {
  if (top) {
    if (status == JOB_SUCCEEDED) sd->succeeded++;
    else if (status == JOB_FAILED) sd->failed++;
    if (created >= 0 && created < sd->t0) sd->t0 = created;
    if (stopped > sd->t1) sd->t1 = stopped;
  }
  if (waits && first_runnable >= 0 && first_starting >= 0)
    replay_i64_push(&sd->waits, first_starting - first_runnable);
}

void replay_side_bounds(struct side *sd, int64_t t0_default) {
  if (sd->t0 == INT64_MAX) sd->t0 = t0_default;
  if (sd->t1 == INT64_MIN) sd->t1 = sd->t0;
}

json_t *replay_side_outcome(struct side *sd, size_t top) {
  int64_t t0 = sd->t0, t1 = sd->t1;
  int finished = sd->succeeded + sd->failed == top; /* every top-level job seen and terminal */
  qsort(sd->waits.v, sd->waits.n, sizeof *sd->waits.v, cmp_i64);
  json_t *o = json_object();
  json_object_set_new(o, "jobs", json_integer((json_int_t)top));
  json_object_set_new(o, "succeeded", json_integer((json_int_t)sd->succeeded));
  json_object_set_new(o, "failed", json_integer((json_int_t)sd->failed));
  json_object_set_new(o, "unfinished", json_integer((json_int_t)(top - sd->succeeded - sd->failed)));
  json_object_set_new(o, "start", json_integer(t0));
  json_object_set_new(o, "end", json_integer(t1));
  json_object_set_new(o, "makespanMs", finished && t1 >= t0 ? json_integer(t1 - t0) : json_null());
  static const int ps[] = {50, 95, 99};
  static const char *const names[] = {"queueWaitP50Ms", "queueWaitP95Ms", "queueWaitP99Ms"};
  for (int i = 0; i < 3; i++) {
    int64_t v = pct(sd->waits.v, sd->waits.n, ps[i]);
    json_object_set_new(o, names[i], v >= 0 ? json_integer(v) : json_null());
  }
  json_object_set_new(o, "peakVcpusInstances", json_integer(peak_of(&sd->fleet, t0, t1)));
  json_object_set_new(o, "peakVcpusJobs", json_integer(peak_of(&sd->jobs, t0, t1)));
  char c[32];
  snprintf(c, sizeof c, "%.6f", cost_of(&sd->fleet, t0, t1));
  json_object_set_new(o, "cost", json_real(strtod(c, NULL)));
  json_object_set_new(o, "instancesLaunched", json_integer(sd->launched));
  free(sd->waits.v);
  free(sd->fleet.v);
  free(sd->jobs.v);
  replay_side_init(sd);
  return o;
}

static json_t *time_or_null(int64_t t) { return t >= 0 ? json_integer(t) : json_null(); }

json_t *replay_job_times(const char *status, int attempts, int64_t runnable, int64_t starting,
                         int64_t stopped) {
  return json_pack("{s:s, s:i, s:o, s:o, s:o}", "status", status, "attempts", attempts, "runnableAt",
                   time_or_null(runnable), "startingAt", time_or_null(starting), "stoppedAt",
                   time_or_null(stopped));
}
/* ---------------- printing ---------------- */

static void cell_ms(char *out, size_t n, const json_t *v) {
  if (!json_is_integer(v)) snprintf(out, n, "-");
  else snprintf(out, n, "%.3f s", (double)json_integer_value(v) / 1000.0);
}

/* A time of a job's row in seconds from t0, or "-" when it never came (it printed -1.00, a time
 * before the first submission). */
static void cell_secs(char *out, size_t n, const json_t *t, int64_t t0) {
  if (json_is_integer(t)) snprintf(out, n, "%.2f", (double)(json_integer_value(t) - t0) / 1000);
  else snprintf(out, n, "-");
}

#define JOB_CELL "%-9s %5s %7s %7s" /* status, tries, start, end */

/* One side of a job's row: status, tries, start and end in seconds from t0. */
static void cell_job(char *out, size_t n, const json_t *x, int64_t t0) {
  if (!x) {
    snprintf(out, n, JOB_CELL, "-", "", "", "");
    return;
  }
  char tries[16], start[32], end[32];
  snprintf(tries, sizeof tries, "%d", (int)jget_int(x, "attempts", 0));
  cell_secs(start, sizeof start, json_object_get(x, "startingAt"), t0);
  cell_secs(end, sizeof end, json_object_get(x, "stoppedAt"), t0);
  snprintf(out, n, JOB_CELL, jget_str(x, "status"), tries, start, end);
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
  iso8601_utc(jget_int(range, "from", 0), a);
  iso8601_utc(jget_int(range, "until", 0), b);
  fprintf(out, "replay simulate: %lld submissions from %s to %s\n", (long long)jget_int(range, "submissions", 0), a, b);
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
          (long long)jget_int(ag, "sameFinalStatus", 0), (long long)jget_int(ag, "jobs", 0),
          (long long)jget_int(ag, "sameAttempts", 0), (long long)jget_int(ag, "units", 0));
  size_t i;
  json_t *n;
  json_array_foreach(json_object_get(report, "notes"), i, n) fprintf(out, "note: %s\n", json_string_value(n));
  const json_t *jobs = json_object_get(report, "jobs");
  if (!jobs) return;
  int64_t t0 = jget_int(r, "start", 0);
  char hx[64];
  snprintf(hx, sizeof hx, JOB_CELL, "status", "tries", "start", "end");
  fprintf(out, "\n%-40s %-31s   %-31s\n%-40s %-31s   %-31s\n", "", "recorded", "simulated",
          "job (seconds from the 1st submission)", hx, hx);
  json_array_foreach(jobs, i, n) {
    const json_t *x = json_object_get(n, "recorded"), *y = json_object_get(n, "simulated");
    char cx[128], cy[128]; /* status, tries and two times: room for each at its widest */
    cell_job(cx, sizeof cx, x, t0);
    cell_job(cy, sizeof cy, y, t0);
    fprintf(out, "%-40s %-31s   %-31s\n", jget_str(n, "jobId"), cx, cy);
  }
}
