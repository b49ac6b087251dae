/* instances_view.c: see instances_view.h. */
#include "instances_view.h"

#include <stdlib.h>
#include <string.h>

#include "jsonget.h"
#include "views.h"

struct inst_row {
  char id[32], ce[160], type[40], lifecycle[12], state[16], driver[16];
  int vcpus, mem, gpus;
  double price;
  int64_t launched_at, last_at;
  char reason[200];
};

struct fold {
  struct inst_row *rows;
  size_t n, cap;
  json_t *index;  /* id -> row number */
  json_t *incarnations; /* id -> its agent's latest incarnation (instance_event_stale) */
  const char *ce; /* filter */
  int events;     /* print every event as a JSON line */
  FILE *out;
};

static const char *state_of(const char *kind, const char *cur) {
  if (!strcmp(kind, "LAUNCHING")) return "launching";
  if (!strcmp(kind, "READY")) return "ready";
  if (!strcmp(kind, "HEARTBEAT"))
    return !*cur || !strcmp(cur, "launching") || !strcmp(cur, "terminated") || !strcmp(cur, "lost") ? "ready" : cur;
  if (!strcmp(kind, "DRAIN_REQUESTED")) return "draining";
  if (!strcmp(kind, "DRAINED")) return "drained";
  if (!strcmp(kind, "INTERRUPTION_NOTICE")) return "interrupted";
  if (!strcmp(kind, "TERMINATED")) return "terminated";
  if (!strcmp(kind, "LOST")) return "lost";
  if (!strcmp(kind, "LAUNCH_FAILED")) return "launch-failed";
  return cur;
}

static int gone(const char *state) {
  return !strcmp(state, "terminated") || !strcmp(state, "lost") || !strcmp(state, "launch-failed");
}

/* An event as a JSON line, without its header. */
static void print_line(FILE *out, json_t *ev) {
  json_object_del(ev, "header");
  char *s = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
  fprintf(out, "%s\n", s);
  free(s);
}

static struct inst_row *row_of(struct fold *f, const char *id) {
  json_t *ix = json_object_get(f->index, id);
  if (ix) return &f->rows[json_integer_value(ix)];
  if (f->n == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 64;
    f->rows = xrealloc(f->rows, f->cap * sizeof *f->rows);
  }
  struct inst_row *r = &f->rows[f->n];
  memset(r, 0, sizeof *r);
  snprintf(r->id, sizeof r->id, "%s", id);
  json_object_set_new(f->index, id, json_integer((json_int_t)f->n++));
  return r;
}

/* One InstanceEvent folded into its instance's row. */
static void fold_event(struct inst_row *r, const char *ce, const char *kind, const json_t *ev) {
  snprintf(r->ce, sizeof r->ce, "%s", ce);
  int64_t at = json_integer_value(json_object_get(ev, "at"));
  if (!strcmp(kind, "LAUNCHING") || !r->launched_at) r->launched_at = at;
  r->last_at = at;
  char state[sizeof r->state];
  snprintf(state, sizeof state, "%s", state_of(kind, r->state));
  memcpy(r->state, state, sizeof state);
  const char *type = jget_str(ev, "instanceType");
  if (type && *type) snprintf(r->type, sizeof r->type, "%s", type);
  int v = (int)json_integer_value(json_object_get(ev, "vcpus")), mem = (int)json_integer_value(json_object_get(ev, "memoryMib"));
  if (v > 0) r->vcpus = v, r->gpus = (int)json_integer_value(json_object_get(ev, "gpus"));
  if (mem > 0) r->mem = mem;
  /* agents do not know their lifecycle: the provisioner's LAUNCHING says it */
  const char *lc = jget_str(ev, "lifecycle");
  if (lc && (!r->lifecycle[0] || !strcmp(kind, "LAUNCHING") || strcmp(lc, "ON_DEMAND"))) snprintf(r->lifecycle, sizeof r->lifecycle, "%s", lc);
  double price = json_number_value(json_object_get(ev, "pricePerHour"));
  if (price > 0) r->price = price;
  const char *d = jget_str(ev, "driver");
  if (d && *d && (!r->driver[0] || !strcmp(kind, "LAUNCHING"))) snprintf(r->driver, sizeof r->driver, "%s", d);
  const char *reason = jget_str(ev, "reason");
  snprintf(r->reason, sizeof r->reason, "%s", reason ? reason : "");
}

/* A record's event, or NULL for a tombstone or one that does not decode (skipped). */
static json_t *decoded(const struct bus_msg *m) {
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (!m->value || bus_decode(m, &t, &ev, why, sizeof why)) return NULL;
  return ev;
}

static void fold_cb(void *ctx, const struct bus_msg *m) {
  struct fold *f = ctx;
  json_t *ev = decoded(m);
  if (!ev) return;
  const char *id = jget_str(ev, "instanceId");
  const char *ce = jget_str(ev, "computeEnvironment");
  const char *kind = jget_str(ev, "kind");
  if (id && ce && kind && (!f->ce || !strcmp(f->ce, ce))) {
    /* an older agent incarnation's late word (its TERMINATED after the restarted agent's READY)
     * showed the running instance as terminated, and a beat then as ready even while draining */
    if (!instance_event_stale(f->incarnations, ev)) fold_event(row_of(f, id), ce, kind, ev);
    if (f->events) print_line(f->out, ev); /* the raw history: every event */
  }
  json_decref(ev);
}

static void decision_cb(void *ctx, const struct bus_msg *m) {
  struct fold *f = ctx;
  json_t *ev = decoded(m);
  if (!ev) return;
  const char *ce = jget_str(ev, "computeEnvironment"), *reason = jget_str(ev, "reason");
  int beat = reason && !strcmp(reason, "HEARTBEAT"); /* health, not a decision */
  if (!beat && (!f->ce || (ce && !strcmp(ce, f->ce)))) print_line(f->out, ev);
  json_decref(ev);
}

/* instance id -> [job id, ...]: STARTING and RUNNING jobs whose container names the instance. */
static json_t *running_jobs(const json_t *jobs) {
  json_t *running = json_object();
  const char *jid;
  json_t *rec;
  json_object_foreach((json_t *)jobs, jid, rec) {
    json_t *d = json_object_get(rec, "detail");
    const char *st = jget_str(d, "status");
    if (!st || (strcmp(st, "STARTING") && strcmp(st, "RUNNING"))) continue;
    const char *arn = jget_str(json_object_get(d, "container"), "containerInstanceArn");
    const char *slash = arn ? strrchr(arn, '/') : NULL;
    if (!slash) continue;
    json_t *list = json_object_get(running, slash + 1);
    if (!list) json_object_set_new(running, slash + 1, list = json_array());
    json_array_append_new(list, json_string(jget_str(d, "jobId")));
  }
  return running;
}

/* An agent of a compute environment that does not exist (misspelt, or deleted since) says
 * "ready" in its own events, but the scheduler dead-letters its heartbeats and places nothing on
 * it (docs/operations.md): such a live instance is shown as UNKNOWN_CE_STATE, with the reason. */
#define UNKNOWN_CE_STATE "unknown-ce"

static void mark_unknown_ces(struct fold *f, const struct config_view *cv) {
  for (size_t i = 0; i < f->n; i++) {
    struct inst_row *x = &f->rows[i];
    if (gone(x->state) || config_find(cv->ces, "computeEnvironmentName", x->ce)) continue;
    snprintf(x->state, sizeof x->state, "%s", UNKNOWN_CE_STATE);
    snprintf(x->reason, sizeof x->reason,
             "compute environment %.60s does not exist: the scheduler places no job on this instance until it "
             "is created (barge create-compute-environment)", x->ce);
  }
}

static json_t *rows_json(const struct fold *f, const json_t *running, int all) {
  json_t *arr = json_array();
  for (size_t i = 0; i < f->n; i++) {
    const struct inst_row *x = &f->rows[i];
    if (!all && gone(x->state)) continue;
    json_t *rj = json_object_get(running, x->id);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:f, s:s, s:I, s:I, s:o}", "instanceId", x->id,
                          "computeEnvironment", x->ce, "instanceType", x->type, "lifecycle",
                          x->lifecycle[0] ? x->lifecycle : "ON_DEMAND", "state", x->state, "vcpus", x->vcpus,
                          "memoryMib", x->mem, "gpus", x->gpus, "pricePerHour", x->price, "driver", x->driver,
                          "launchedAt", (json_int_t)x->launched_at, "lastEventAt", (json_int_t)x->last_at,
                          "runningJobs", rj ? json_incref(rj) : json_array());
    if (x->reason[0]) json_object_set_new(o, "reason", json_string(x->reason));
    json_array_append_new(arr, o);
  }
  return arr;
}

/* The text columns are as wide as their widest value (an EC2 id, a long compute environment or
 * instance type name), so that every row lines up under its header. */
void instances_view_table(const json_t *arr, FILE *out) {
  static const char *const head[] = {"INSTANCE", "COMPUTE ENVIRONMENT", "TYPE", "LIFECYCLE", "STATE"};
  static const char *const key[] = {"instanceId", "computeEnvironment", "instanceType", "lifecycle", "state"};
  enum { NTEXT = sizeof head / sizeof *head };
  int w[NTEXT];
  size_t i;
  json_t *o;
  for (int c = 0; c < NTEXT; c++) {
    size_t m = strlen(head[c]);
    json_array_foreach(arr, i, o) {
      const char *v = jget_str(o, key[c]);
      if (v && strlen(v) > m) m = strlen(v);
    }
    w[c] = m > 200 ? 200 : (int)m;
  }
  fprintf(out, "%-*s %-*s %-*s %-*s %-*s %6s %8s %4s %s\n", w[0], head[0], w[1], head[1], w[2], head[2], w[3],
          head[3], w[4], head[4], "VCPUS", "MIB", "GPUS", "RUNNING JOBS");
  json_array_foreach(arr, i, o) {
    json_t *rjobs = json_object_get(o, "runningJobs");
    char jobs_text[256] = "";
    size_t k, off = 0;
    json_t *j;
    json_array_foreach(rjobs, k, j) {
      if (k == 3) {
        snprintf(jobs_text + off, sizeof jobs_text - off, " +%zu more", json_array_size(rjobs) - 3);
        break;
      }
      int n = snprintf(jobs_text + off, sizeof jobs_text - off, "%s%s", k ? " " : "", json_string_value(j));
      if (n < 0 || (size_t)n >= sizeof jobs_text - off) break;
      off += (size_t)n;
    }
    const char *v[NTEXT];
    for (int c = 0; c < NTEXT; c++) v[c] = jget_str(o, key[c]) ? jget_str(o, key[c]) : "";
    fprintf(out, "%-*s %-*s %-*s %-*s %-*s %6d %8d %4d %zu%s%s\n", w[0], v[0], w[1], v[1], w[2], v[2], w[3], v[3],
            w[4], v[4], (int)json_integer_value(json_object_get(o, "vcpus")),
            (int)json_integer_value(json_object_get(o, "memoryMib")), (int)json_integer_value(json_object_get(o, "gpus")),
            json_array_size(rjobs), json_array_size(rjobs) ? ": " : "", jobs_text);
  }
}

int instances_view_print(const struct bus_conf *bc, const struct instances_query *q, FILE *out,
                         char *err, size_t errlen) {
  struct fold f = {.index = json_object(), .incarnations = json_object(), .ce = q->ce, .events = q->show == INSTANCES_EVENTS, .out = out};
  struct bus_consumer *c = bus_consumer_new(bc, NULL, 1, err, errlen);
  json_t *jobs = NULL;
  int rc = -1;
  if (!c) goto out;
  if (q->show == INSTANCES_DECISIONS) {
    rc = bus_read_table(c, TOPIC_SCALING, decision_cb, &f, err, errlen) ? -1 : 0;
    goto out;
  }
  if (bus_read_table(c, TOPIC_INSTANCES, fold_cb, &f, err, errlen)) goto out;
  if (q->show == INSTANCES_EVENTS) {
    rc = 0;
    goto out;
  }
  struct config_view cv;
  if (config_view_load(bc, &cv, err, errlen)) {
    config_view_release(&cv);
    goto out;
  }
  mark_unknown_ces(&f, &cv);
  config_view_release(&cv);
  if (jobs_view_load(bc, &jobs, err, errlen)) goto out;
  json_t *running = running_jobs(jobs);
  json_t *arr = rows_json(&f, running, q->all);
  if (q->show == INSTANCES_JSON) {
    json_t *doc = json_pack("{s:o}", "instances", arr);
    char *s = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    fprintf(out, "%s\n", s);
    free(s);
  } else {
    instances_view_table(arr, out);
    json_decref(arr);
  }
  json_decref(running);
  rc = 0;
out:
  bus_consumer_free(c);
  json_decref(jobs);
  json_decref(f.index);
  json_decref(f.incarnations);
  free(f.rows);
  return rc;
}
