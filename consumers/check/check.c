/* check.c: the invariant checker's entry points: the history built from events (jobs with their
 * state changes, agents' reports and placements; instances with their life; the latest usage
 * records), violations, and the report. The invariants themselves are in check_rules.c and
 * check_acct.c. Pure (see check_core.h). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "jsonget.h"
#include "states.h"

const char *const check_status_names[ST__COUNT] = {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING",
                                                   "RUNNING", "SUCCEEDED", "FAILED"};

static const char *const kind_names[CHECK__COUNT] = {
    "terminal", "unknown-job", "attempts", "overlap", "capacity",
    "dependency", "array-summary", "accounting", "audit"};

const char *check_kind_name(enum check_kind k) { return k < CHECK__COUNT ? kind_names[k] : "?"; }

void check_conf_defaults(struct check_conf *c) {
  memset(c, 0, sizeof *c);
  c->lost_after_ms = 30000;
  c->acct_tolerance_s = 0.001;
}

int check_status_code(const char *name) {
  for (int i = 0; name && i < ST__COUNT; i++)
    if (!strcmp(name, check_status_names[i])) return i;
  return -1;
}

struct check *check_new(const struct check_conf *conf) {
  struct check *c = xcalloc(1, sizeof *c);
  if (conf) c->conf = *conf;
  else check_conf_defaults(&c->conf);
  strmap_init(&c->job_ix);
  strmap_init(&c->inst_ix);
  c->usage = json_object();
  c->violations = json_array();
  return c;
}

void check_free(struct check *c) {
  if (!c) return;
  for (size_t i = 0; i < c->njobs; i++) {
    struct cjob *j = c->jobs[i];
    json_decref(j->depends_on);
    json_decref(j->rec_summary);
    free(j->ev);
    free(j->ex);
    free(j->pl);
    free(j->id);
    free(j);
  }
  for (size_t i = 0; i < c->ninsts; i++) {
    free(c->insts[i]->ev);
    free(c->insts[i]->id);
    free(c->insts[i]->ce);
    free(c->insts[i]);
  }
  free(c->jobs);
  free(c->insts);
  strmap_release(&c->job_ix);
  strmap_release(&c->inst_ix);
  json_decref(c->usage);
  json_decref(c->violations);
  free(c);
}

void check_violation(struct check *c, enum check_kind k, const char *subject, const char *fmt, ...) {
  char detail[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  c->counts[k]++;
  json_array_append_new(c->violations, json_pack("{s:s, s:s, s:s}", "kind", check_kind_name(k),
                                                 "subject", subject ? subject : "", "detail", detail));
}

/* ---- the history ---- */

uint32_t check_job_find(const struct check *c, const char *id) {
  uint32_t v = id ? strmap_get(&c->job_ix, id) : STRMAP_NONE;
  return v == STRMAP_NONE ? NONE : v;
}

static uint32_t job_get(struct check *c, const char *id);

/* The job an id "<parent><sep><n>" names as its parent (made if new), sep at `at` in id, with n
 * in *n; NONE when at is NULL or no decimal n >= 0 follows it. */
static uint32_t parent_named(struct check *c, const char *id, const char *at, long *n) {
  if (!at || !at[1]) return NONE;
  char *end;
  *n = strtol(at + 1, &end, 10);
  if (*end || *n < 0) return NONE;
  char pid[256];
  snprintf(pid, sizeof pid, "%.*s", (int)(at - id), id);
  return job_get(c, pid);
}

static uint32_t job_get(struct check *c, const char *id) {
  uint32_t ji = check_job_find(c, id);
  if (ji != NONE) return ji;
  if (c->njobs == c->jobs_cap) {
    c->jobs_cap = c->jobs_cap ? c->jobs_cap * 2 : 1024;
    c->jobs = xrealloc(c->jobs, c->jobs_cap * sizeof *c->jobs);
  }
  struct cjob *j = xcalloc(1, sizeof *j);
  j->id = xstrdup(id);
  j->parent = NONE;
  j->mnp = NONE;
  j->index = -1;
  j->rec_status = -1;
  ji = (uint32_t)c->njobs;
  c->jobs[c->njobs++] = j;
  strmap_put(&c->job_ix, j->id, ji);
  /* an array child names its parent in its id: "<parent>:<index>" */
  long n;
  uint32_t pi = parent_named(c, id, strrchr(id, ':'), &n);
  if (pi != NONE) {
    c->jobs[ji]->parent = pi;
    c->jobs[ji]->index = (int32_t)n;
  }
  /* a node of a multi-node job names its parent too: "<parent>#<node>"; the SubmitJob is the
   * parent's only (its numNodes is the job definition's) */
  const char *hash = strrchr(id, '#');
  pi = hash && hash > id ? parent_named(c, id, hash, &n) : NONE;
  if (pi != NONE) {
    c->jobs[ji]->mnp = pi;
    c->jobs[pi]->nodes++;
  }
  return ji;
}

static uint32_t inst_get(struct check *c, const char *id) {
  if (!id) return NONE;
  uint32_t v = strmap_get(&c->inst_ix, id);
  if (v != STRMAP_NONE) return v;
  if (c->ninsts == c->insts_cap) {
    c->insts_cap = c->insts_cap ? c->insts_cap * 2 : 64;
    c->insts = xrealloc(c->insts, c->insts_cap * sizeof *c->insts);
  }
  struct cinst *in = xcalloc(1, sizeof *in);
  in->id = xstrdup(id);
  v = (uint32_t)c->ninsts;
  c->insts[c->ninsts++] = in;
  strmap_put(&c->inst_ix, in->id, v);
  return v;
}

#define PUSH(arr, n, cap, item)                                      \
  do {                                                               \
    if ((n) == (cap)) {                                              \
      (cap) = (cap) ? (cap) * 2 : 8;                                 \
      (arr) = xrealloc((arr), (cap) * sizeof *(arr));                \
    }                                                                \
    (arr)[(n)++] = (item);                                           \
  } while (0)

static int add_request(struct check *c, const json_t *ev, char *why, size_t whylen) {
  c->requests_read++;
  const json_t *sub = json_object_get(json_object_get(ev, "body"), "SubmitJob");
  if (!sub) return 0; /* cancel, terminate, tick, tag */
  const char *id = jget_str(sub, "jobId");
  if (!id) {
    snprintf(why, whylen, "SubmitJob without jobId");
    return 1;
  }
  uint32_t ji = job_get(c, id); /* may grow c->jobs: index after */
  struct cjob *j = c->jobs[ji];
  j->submitted = 1;
  json_t *deps = json_object_get(sub, "dependsOn");
  if (json_array_size(deps)) {
    json_decref(j->depends_on);
    j->depends_on = json_incref(deps);
  }
  int size = (int)jget_int(json_object_get(sub, "arrayProperties"), "size", 0);
  if (size > 0 && size <= 1000000) {
    j->size = size;
    char cid[300];
    for (int i = 0; i < size; i++) {
      snprintf(cid, sizeof cid, "%s:%d", id, i);
      uint32_t ci = job_get(c, cid);
      c->jobs[ci]->submitted = 1;
    }
  }
  return 0;
}

static int add_state_change(struct check *c, const json_t *ev, char *why, size_t whylen) {
  const char *id = jget_str(ev, "jobId");
  int o = check_status_code(jget_str(ev, "oldStatus")), n = check_status_code(jget_str(ev, "newStatus"));
  if (!id || o < 0 || n < 0) {
    snprintf(why, whylen, "JobStateChange without jobId or with an unknown status");
    return 1;
  }
  uint32_t ji = job_get(c, id); /* may grow c->jobs: index after */
  struct cjob *j = c->jobs[ji];
  const char *r = jget_str(ev, "statusReason");
  struct cev e = {.old_st = (int8_t)o, .new_st = (int8_t)n, .attempt = (int32_t)jget_int(ev, "attempt", 0),
                  .at = jget_int(ev, "at", 0), .inst = inst_get(c, jget_str(ev, "instanceId")),
                  .vcpus = (int32_t)jget_int(ev, "vcpus", 0), .mem_mib = (int32_t)jget_int(ev, "memoryMib", 0),
                  .lost = r && !strncmp(r, "Host EC2", 8)};
  /* an instance with no InstanceEvent (yet) is in the job's compute environment, as accounting
   * takes it (docs/accounting.md, "Instance life") */
  const char *ce = jget_str(ev, "computeEnvironment");
  if (e.inst != NONE && !c->insts[e.inst]->ce && ce && *ce) c->insts[e.inst]->ce = xstrdup(ce);
  PUSH(j->ev, j->nev, j->cev_cap, e);
  return 0;
}

static int add_record(struct check *c, const json_t *ev, char *why, size_t whylen) {
  const json_t *d = json_object_get(ev, "detail");
  const char *id = jget_str(d, "jobId");
  if (!id) {
    snprintf(why, whylen, "JobRecord without detail.jobId");
    return 1;
  }
  uint32_t ji = job_get(c, id); /* may grow c->jobs: index after */
  struct cjob *j = c->jobs[ji];
  j->rec_status = check_status_code(jget_str(d, "status"));
  json_t *sum = json_object_get(json_object_get(d, "arrayProperties"), "statusSummary");
  json_decref(j->rec_summary);
  j->rec_summary = json_is_object(sum) ? json_incref(sum) : NULL;
  return 0;
}

static int add_execution(struct check *c, const json_t *ev, char *why, size_t whylen) {
  const char *id = jget_str(ev, "jobId"), *kind = jget_str(ev, "kind");
  if (!id || !kind) {
    snprintf(why, whylen, "ExecutionReport without jobId or kind");
    return 1;
  }
  uint32_t ji = job_get(c, id); /* may grow c->jobs: index after */
  struct cjob *j = c->jobs[ji];
  struct cexec x = {.attempt = (int32_t)jget_int(ev, "attempt", 0),
                    .kind = !strcmp(kind, "STARTED") ? EX_STARTED : EX_END, .at = jget_int(ev, "at", 0),
                    .inst = inst_get(c, jget_str(ev, "instanceId")),
                    .incarnation = jget_int(ev, "incarnation", 0)};
  json_t *started = json_object_get(ev, "startedAt"); /* an end report that says STARTED too */
  if (x.kind == EX_END && strcmp(kind, "FAILED_TO_START") && json_is_integer(started)) {
    struct cexec st = x;
    st.kind = EX_STARTED;
    st.at = json_integer_value(started);
    PUSH(j->ex, j->nex, j->ex_cap, st);
  }
  PUSH(j->ex, j->nex, j->ex_cap, x);
  return 0;
}

static int add_placement(struct check *c, const json_t *ev) {
  const json_t *p = json_object_get(json_object_get(ev, "body"), "Placement");
  const char *id = jget_str(p, "jobId");
  if (!id) return 0; /* a kill or drain request */
  c->placements_read++;
  uint32_t ji = job_get(c, id); /* may grow c->jobs: index after */
  struct cjob *j = c->jobs[ji];
  struct cplace pl = {.attempt = (int32_t)jget_int(p, "attempt", 0),
                      .inst = inst_get(c, jget_str(ev, "instanceId"))};
  PUSH(j->pl, j->npl, j->pl_cap, pl);
  return 0;
}

static int add_instance(struct check *c, const json_t *ev, char *why, size_t whylen) {
  const char *kind = jget_str(ev, "kind");
  uint32_t ii = inst_get(c, jget_str(ev, "instanceId"));
  if (ii == NONE || !kind) {
    snprintf(why, whylen, "InstanceEvent without instanceId or kind");
    return 1;
  }
  struct cinst *in = c->insts[ii];
  /* an older agent incarnation's late word ends nothing, as for the accounting it checks */
  if (instance_incarnation_fold(&in->incarnation, kind, jget_int(ev, "incarnation", 0))) return 0;
  const char *ce = jget_str(ev, "computeEnvironment");
  if (ce && *ce && (!in->ce || strcmp(in->ce, ce))) {
    free(in->ce);
    in->ce = xstrdup(ce);
  }
  int v = (int)jget_int(ev, "vcpus", 0), m = (int)jget_int(ev, "memoryMib", 0);
  if (v > 0) in->vcpus = v;
  if (m > 0) in->mem_mib = m;
  struct cinst_ev e = {.at = jget_int(ev, "at", 0),
                       .up = instance_kind_live(kind) ? 1 : instance_kind_gone(kind) ? -1 : 0};
  PUSH(in->ev, in->nev, in->cap, e);
  return 0;
}

int check_add(struct check *c, enum barge_ev_type t, const json_t *ev, char *why, size_t whylen) {
  if (t < BARGE_EV__COUNT) c->read[t]++;
  switch (t) {
  case BARGE_EV_JOB_REQUEST: return add_request(c, ev, why, whylen);
  case BARGE_EV_JOB_STATE_CHANGE: return add_state_change(c, ev, why, whylen);
  case BARGE_EV_JOB_RECORD: return add_record(c, ev, why, whylen);
  case BARGE_EV_EXECUTION_REPORT: return add_execution(c, ev, why, whylen);
  case BARGE_EV_AGENT_COMMAND: return add_placement(c, ev);
  case BARGE_EV_INSTANCE_EVENT: return add_instance(c, ev, why, whylen);
  case BARGE_EV_USAGE_RECORD: {
    const char *key = jget_str(ev, "key");
    if (!key) {
      snprintf(why, whylen, "UsageRecord without key");
      return 1;
    }
    json_object_set(c->usage, key, (json_t *)ev); /* the compacted topic's latest */
    return 0;
  }
  case BARGE_EV_CAPACITY_DEMAND:
  case BARGE_EV_CONFIG_RECORD:
  case BARGE_EV_DEAD_LETTER:
  case BARGE_EV_JOB_WAIT: /* a waiting job's reason (barge explain): no invariant reads it */
  case BARGE_EV_SCALING_DECISION:
  case BARGE_EV__COUNT:
    break;
  }
  return 0;
}

/* ---- the report ---- */

static json_t *stats(const struct check *c, size_t nlive) {
  long long attempts = 0, arrays = 0, children = 0;
  for (size_t i = 0; i < c->njobs; i++) {
    const struct cjob *j = c->jobs[i];
    for (size_t k = 0; k < j->nev; k++) attempts += j->ev[k].new_st == ST_STARTING;
    arrays += j->size > 0;
    children += j->parent != NONE;
  }
  json_t *s = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "jobs", (json_int_t)c->njobs, "arrays",
                        (json_int_t)arrays, "arrayChildren", (json_int_t)children, "attempts",
                        (json_int_t)attempts, "instances", (json_int_t)c->ninsts, "live", (json_int_t)nlive);
  json_t *rd = json_object();
  for (int t = 0; t < BARGE_EV__COUNT; t++)
    if (c->read[t]) json_object_set_new(rd, barge_schema_name[t], json_integer(c->read[t]));
  json_object_set_new(s, "eventsRead", rd);
  return s;
}

json_t *check_finish(struct check *c, long long *nviolations) {
  json_t *live = json_array();
  check_rules_jobs(c, live);
  check_rules_capacity(c);
  check_rules_accounting(c);
  json_t *counts = json_object();
  long long total = 0;
  for (int k = 0; k < CHECK__COUNT; k++) {
    json_object_set_new(counts, kind_names[k], json_integer(c->counts[k]));
    total += c->counts[k];
  }
  json_t *r = json_pack("{s:b, s:O, s:o, s:o}", "ok", total == 0, "violations", c->violations,
                        "counts", counts, "live", live);
  json_object_set_new(r, "stats", stats(c, json_array_size(live)));
  if (nviolations) *nviolations = total;
  return r;
}
