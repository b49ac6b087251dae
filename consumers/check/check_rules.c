/* check_rules.c: the checker's invariants over jobs and instances (check_core.h lists them): terminal
 * states, attempts, overlap, dependencies, array summaries, instance capacity. Pure. */
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "jsonget.h"

#define MAX_ATTEMPTS 10000

static int terminal(int st) { return st == ST_SUCCEEDED || st == ST_FAILED; }
static int active(int st) { return st == ST_STARTING || st == ST_RUNNING; }

/* The job's status by its events (SUBMITTED when the scheduler never wrote one). */
static int last_status(const struct cjob *j) { return j->nev ? j->ev[j->nev - 1].new_st : ST_SUBMITTED; }

/* When the job first entered st, NEVER if it did not. */
static int64_t first_at(const struct cjob *j, int st) {
  for (size_t k = 0; k < j->nev; k++)
    if (j->ev[k].new_st == st) return j->ev[k].at;
  return NEVER;
}

/* Did the scheduler refuse the job at submission (SUBMITTED -> FAILED, ClientException)? The
 * children of an array it refused were never created: nothing about them is expected. */
static int refused(const struct cjob *p) {
  return p->nev && p->ev[0].old_st == ST_SUBMITTED && p->ev[0].new_st == ST_FAILED;
}

static int never_created(const struct check *c, const struct cjob *j) {
  return j->parent != NONE && !j->nev && refused(c->jobs[j->parent]);
}

/* ---- terminal states ---- */

static void where(const struct check *c, const struct cjob *j, char *out, size_t n) {
  int st = last_status(j);
  const struct cev *e = j->nev ? &j->ev[j->nev - 1] : NULL;
  if (active(st) && e && e->inst != NONE)
    snprintf(out, n, "%s attempt %d on instance %s", check_status_names[st], e->attempt, c->insts[e->inst]->id);
  else if (!j->nev)
    snprintf(out, n, "SUBMITTED, not yet seen by the scheduler");
  else
    snprintf(out, n, "%s", check_status_names[st]);
}

/* A multi-node job's nodes are created with their parent: submitted when it was. */
static int submitted(const struct check *c, const struct cjob *j) {
  return j->submitted || (j->mnp != NONE && c->jobs[j->mnp]->submitted);
}

static void rule_terminal(struct check *c, const struct cjob *j, json_t *live) {
  if (never_created(c, j)) return;
  if (!submitted(c, j) && c->requests_read) {
    if (j->nev || j->nex) check_violation(c, CHECK_UNKNOWN_JOB, j->id, "events for a job that was never submitted");
    return;
  }
  size_t nterm = 0, first = 0;
  for (size_t k = 0; k < j->nev; k++)
    if (terminal(j->ev[k].new_st) && !nterm++) first = k;
  if (nterm > 1)
    check_violation(c, CHECK_TERMINAL, j->id, "reached a terminal state %zu times", nterm);
  else if (nterm && first + 1 < j->nev)
    check_violation(c, CHECK_TERMINAL, j->id, "changed after %s (to %s)", check_status_names[j->ev[first].new_st],
                    check_status_names[j->ev[first + 1].new_st]);
  if (!nterm) {
    char w[400];
    where(c, j, w, sizeof w);
    if (c->conf.require_terminal) check_violation(c, CHECK_TERMINAL, j->id, "still live: %s", w);
    json_array_append_new(live, json_pack("{s:s, s:s, s:s}", "jobId", j->id, "status",
                                          check_status_names[last_status(j)], "where", w));
  }
  if (j->rec_status >= 0 && j->nev && j->rec_status != last_status(j))
    check_violation(c, CHECK_TERMINAL, j->id, "its JobRecord says %s, its last event %s",
                    check_status_names[j->rec_status], check_status_names[last_status(j)]);
}

/* ---- attempts and overlap ---- */

struct att {
  int starts, ends, lost, placements, placed_right, exec_starts;
  int64_t start_at, end_at, x_start, x_end;
  uint32_t inst, x_inst;
  int64_t x_inc;
};

static int collect_attempts(struct check *c, const struct cjob *j, struct att *a, int max) {
  int n = 0;
  for (size_t k = 0; k < j->nev; k++) {
    const struct cev *e = &j->ev[k];
    int at = e->attempt;
    if (at < 1 || at > max) {
      if (e->new_st == ST_STARTING || active(e->old_st))
        check_violation(c, CHECK_ATTEMPTS, j->id, "an attempt numbered %d", at);
      continue;
    }
    if (at > n) n = at;
    struct att *x = &a[at - 1];
    if (e->new_st == ST_STARTING) {
      if (!x->starts++) {
        x->start_at = e->at;
        x->inst = e->inst;
      }
    } else if (active(e->old_st) && e->new_st != ST_RUNNING) {
      if (!x->ends++) {
        x->end_at = e->at;
        x->lost = e->lost;
      }
    }
  }
  for (size_t k = 0; k < j->npl; k++) {
    int at = j->pl[k].attempt;
    if (at < 1 || at > max) continue;
    if (at > n) n = at;
    a[at - 1].placements++;
    a[at - 1].placed_right += j->pl[k].inst == a[at - 1].inst;
  }
  for (size_t k = 0; k < j->nex; k++) {
    const struct cexec *x = &j->ex[k];
    if (x->attempt < 1 || x->attempt > max) continue;
    struct att *t = &a[x->attempt - 1];
    if (x->kind == EX_STARTED) {
      /* one process start per attempt: a second from another agent (or incarnation) is a copy */
      if (!t->exec_starts++) {
        t->x_start = x->at;
        t->x_inst = x->inst;
        t->x_inc = x->incarnation;
      } else if (t->x_inst == x->inst && t->x_inc == x->incarnation) {
        t->exec_starts--; /* the same agent saying it again */
      }
    } else if (t->x_end == NEVER || x->at > t->x_end) {
      t->x_end = x->at; /* the last word on the process's end */
    }
  }
  return n;
}

static void rule_attempts(struct check *c, const struct cjob *j) {
  if (j->size > 0) return; /* an array parent has no attempts */
  int max = 0;
  for (size_t k = 0; k < j->nev; k++)
    if (j->ev[k].attempt > max) max = j->ev[k].attempt;
  for (size_t k = 0; k < j->npl; k++)
    if (j->pl[k].attempt > max) max = j->pl[k].attempt;
  if (max > MAX_ATTEMPTS) max = MAX_ATTEMPTS;
  if (!max) return;
  struct att *a = xcalloc((size_t)max, sizeof *a);
  for (int i = 0; i < max; i++) a[i].x_end = a[i].x_start = NEVER;
  int n = collect_attempts(c, j, a, max);
  int live = !terminal(last_status(j));
  for (int i = 0; i < n; i++) {
    struct att *x = &a[i];
    int num = i + 1;
    if (x->starts != 1) {
      check_violation(c, CHECK_ATTEMPTS, j->id, "attempt %d started %d times (attempts %d..%d seen)", num,
                      x->starts, 1, n);
      continue;
    }
    if (x->ends > 1 || (x->ends == 0 && !(live && num == n)))
      check_violation(c, CHECK_ATTEMPTS, j->id, "attempt %d ended %d times", num, x->ends);
    /* a multi-node parent runs on no instance of its own: its nodes are placed, not it */
    if (c->placements_read && !j->nodes && (x->placements != 1 || x->placed_right != 1))
      check_violation(c, CHECK_ATTEMPTS, j->id, "attempt %d has %d placements (%d on the instance it started on)",
                      num, x->placements, x->placed_right);
    if (x->exec_starts > 1)
      check_violation(c, CHECK_OVERLAP, j->id, "attempt %d was started by %d agent processes", num, x->exec_starts);
    if (i == 0) continue;
    struct att *p = &a[i - 1];
    if (p->ends && x->start_at < p->end_at)
      check_violation(c, CHECK_OVERLAP, j->id, "attempt %d started at %lld, before attempt %d ended at %lld",
                      num, (long long)x->start_at, num - 1, (long long)p->end_at);
  }
  /* the processes the agents reported: an earlier attempt's must be over when a later one starts */
  for (int i = 0; i < n; i++) {
    if (a[i].x_end == NEVER) continue;
    for (int k = i + 1; k < n; k++) {
      if (a[k].x_start == NEVER || a[i].x_end <= a[k].x_start + c->conf.skew_ms) continue;
      if (a[i].ends && a[i].lost && a[i].x_end <= a[i].end_at + c->conf.lost_after_ms)
        continue; /* a cut-off copy inside the lost-after bound */
      check_violation(c, CHECK_OVERLAP, j->id,
                      "attempt %d's process ran until %lld, %lld ms after attempt %d's started%s", i + 1,
                      (long long)a[i].x_end, (long long)(a[i].x_end - a[k].x_start), k + 1,
                      a[i].lost ? " (beyond the lost-after bound)" : "");
      break;
    }
  }
  free(a);
}

/* ---- dependencies ---- */

static void dep_check(struct check *c, const struct cjob *j, const char *dep, int64_t started) {
  uint32_t di = check_job_find(c, dep);
  int64_t ok_at = di == NONE ? NEVER : first_at(c->jobs[di], ST_SUCCEEDED);
  if (ok_at == NEVER)
    check_violation(c, CHECK_DEPENDENCY, j->id, "started at %lld although its dependency %s never succeeded",
                    (long long)started, dep);
  else if (ok_at > started)
    check_violation(c, CHECK_DEPENDENCY, j->id, "started at %lld, %lld ms before its dependency %s succeeded",
                    (long long)started, (long long)(ok_at - started), dep);
}

/* docs/job-model.md §6.2: a plain entry waits for the target (an array: all of it); for an array
 * child, N_TO_N on an array of the same size waits for the target's child of the same index,
 * SEQUENTIAL for the previous child. */
static void rule_dependencies(struct check *c, const struct cjob *j) {
  if (j->size > 0) return;
  int64_t started = first_at(j, ST_STARTING);
  if (started == NEVER) return;
  const struct cjob *owner = j->parent != NONE ? c->jobs[j->parent] : j;
  json_t *deps = owner->depends_on;
  char id[600];
  for (size_t k = 0; k < json_array_size(deps); k++) {
    json_t *e = json_array_get(deps, k);
    const char *did = jget_str(e, "jobId"), *type = jget_str(e, "type");
    if (j->parent != NONE && type && !strcmp(type, "SEQUENTIAL") && !did) {
      if (j->index <= 0) continue;
      snprintf(id, sizeof id, "%s:%d", owner->id, j->index - 1);
      dep_check(c, j, id, started);
      continue;
    }
    if (!did) continue;
    uint32_t ti = check_job_find(c, did);
    if (j->parent != NONE && type && !strcmp(type, "N_TO_N") && ti != NONE && c->jobs[ti]->size > 0) {
      snprintf(id, sizeof id, "%s:%d", did, j->index);
      dep_check(c, j, id, started);
    } else {
      dep_check(c, j, did, started);
    }
  }
}

/* ---- arrays ---- */

struct family {
  int counts[ST__COUNT], nchildren;
  int64_t last_end;
};

static void rule_array(struct check *c, const struct cjob *p, const struct family *f) {
  const int *counts = f->counts;
  if (f->nchildren != p->size) {
    check_violation(c, CHECK_ARRAY, p->id, "size %d but %d children seen", p->size, f->nchildren);
    return;
  }
  if (p->rec_summary) {
    for (int s = 0; s < ST__COUNT; s++) {
      int have = (int)jget_int(p->rec_summary, check_status_names[s], 0);
      if (have != counts[s]) {
        check_violation(c, CHECK_ARRAY, p->id, "statusSummary says %s %d, its children %d", check_status_names[s],
                        have, counts[s]);
        break;
      }
    }
  }
  int st = last_status(p), done = counts[ST_SUCCEEDED] + counts[ST_FAILED] == p->size;
  int want = !done ? -1 : counts[ST_FAILED] ? ST_FAILED : ST_SUCCEEDED;
  if (terminal(st) && st != want)
    check_violation(c, CHECK_ARRAY, p->id, "%s while its children are %d SUCCEEDED, %d FAILED of %d",
                    check_status_names[st], counts[ST_SUCCEEDED], counts[ST_FAILED], p->size);
  else if (!terminal(st) && done)
    check_violation(c, CHECK_ARRAY, p->id, "still %s although every child is terminal", check_status_names[st]);
  else if (terminal(st) && first_at(p, st) < f->last_end)
    check_violation(c, CHECK_ARRAY, p->id, "ended at %lld, before its last child at %lld",
                    (long long)first_at(p, st), (long long)f->last_end);
}

void check_rules_jobs(struct check *c, json_t *live) {
  struct family *fam = xcalloc(c->njobs + 1, sizeof *fam);
  for (size_t i = 0; i < c->njobs; i++) {
    const struct cjob *j = c->jobs[i];
    rule_terminal(c, j, live);
    rule_attempts(c, j);
    rule_dependencies(c, j);
    if (j->parent == NONE) continue;
    struct family *f = &fam[j->parent];
    f->nchildren++;
    f->counts[j->rec_status >= 0 ? j->rec_status : last_status(j)]++;
    int64_t end = first_at(j, ST_SUCCEEDED) != NEVER ? first_at(j, ST_SUCCEEDED) : first_at(j, ST_FAILED);
    if (end != NEVER && end > f->last_end) f->last_end = end;
  }
  for (size_t i = 0; i < c->njobs; i++)
    if (c->jobs[i]->size > 0 && c->jobs[i]->submitted && !refused(c->jobs[i])) rule_array(c, c->jobs[i], &fam[i]);
  free(fam);
}

/* ---- capacity ---- */

struct edge {
  int64_t at;
  int32_t dv, dm; /* + at a start, - at an end */
  uint32_t job;
};

static int cmp_edge(const void *x, const void *y) {
  const struct edge *a = x, *b = y;
  if (a->at != b->at) return a->at < b->at ? -1 : 1;
  return (a->dv > 0) - (b->dv > 0); /* ends before starts at the same instant */
}

/* The attempts of every job as edges on their instances' lists. */
static void capacity_edges(struct check *c, struct edge **e, size_t *n, size_t *cap) {
  for (size_t i = 0; i < c->njobs; i++) {
    const struct cjob *j = c->jobs[i];
    for (size_t k = 0; k < j->nev; k++) {
      const struct cev *s = &j->ev[k];
      if (s->new_st != ST_STARTING || s->inst == NONE) continue;
      int64_t end = NEVER;
      for (size_t m = k + 1; m < j->nev; m++)
        if (j->ev[m].attempt == s->attempt && active(j->ev[m].old_st) && j->ev[m].new_st != ST_RUNNING) {
          end = j->ev[m].at;
          break;
        }
      struct edge a = {s->at, s->vcpus, s->mem_mib, (uint32_t)i}, b = {end, -s->vcpus, -s->mem_mib, (uint32_t)i};
      size_t ii = s->inst;
      if (n[ii] + 2 > cap[ii]) {
        cap[ii] = cap[ii] ? cap[ii] * 2 : 16;
        e[ii] = xrealloc(e[ii], cap[ii] * sizeof *e[ii]);
      }
      e[ii][n[ii]++] = a;
      e[ii][n[ii]++] = b;
    }
  }
}

void check_rules_capacity(struct check *c) {
  size_t ni = c->ninsts;
  struct edge **e = xcalloc(ni + 1, sizeof *e);
  size_t *n = xcalloc(ni + 1, sizeof *n), *cap = xcalloc(ni + 1, sizeof *cap);
  capacity_edges(c, e, n, cap);
  for (size_t i = 0; i < ni; i++) {
    const struct cinst *in = c->insts[i];
    if (!n[i] || in->vcpus <= 0) continue; /* nothing placed, or a capacity never declared */
    qsort(e[i], n[i], sizeof *e[i], cmp_edge);
    long long v = 0, m = 0;
    for (size_t k = 0; k < n[i]; k++) {
      v += e[i][k].dv;
      m += e[i][k].dm;
      if (v > in->vcpus || (in->mem_mib > 0 && m > in->mem_mib)) {
        check_violation(c, CHECK_CAPACITY, in->id,
                        "at %lld it holds %lld vCPUs and %lld MiB (job %s placed last) but has %d vCPUs and %d MiB",
                        (long long)e[i][k].at, v, m, c->jobs[e[i][k].job]->id, in->vcpus, in->mem_mib);
        break;
      }
    }
  }
  for (size_t i = 0; i < ni; i++) free(e[i]);
  free(e);
  free(n);
  free(cap);
}
