/* check_acct.c: the checker's accounting invariant (docs/accounting.md, "Reconciliation"):
 * barge.usage against the instance time computed here from barge.instances (and, before an
 * instance's first sign of life or end, from the attempts on it), to the millisecond. Pure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "jsonget.h"

struct iev {
  int64_t at;
  size_t seq;
  int8_t up;
};

static int cmp_iev(const void *x, const void *y) {
  const struct iev *a = x, *b = y;
  if (a->at != b->at) return a->at < b->at ? -1 : 1;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* An attempt's time on an instance, [from, to) (to NEVER while it runs). */
struct span {
  int64_t from, to;
};

struct spans {
  struct span *v;
  size_t n, cap;
};

static int cmp_span(const void *x, const void *y) {
  const struct span *a = x, *b = y;
  return a->from < b->from ? -1 : a->from > b->from;
}

static int active(int st) { return st == ST_STARTING || st == ST_RUNNING; }

/* Every attempt's span, by instance (c->ninsts lists), as the accounting core cuts them
 * (docs/accounting.md, "Attempt"): from the first STARTING or RUNNING event naming an instance
 * until the first event leaving STARTING/RUNNING; a new attempt closes an open one. */
static struct spans *attempt_spans(const struct check *c) {
  struct spans *by = xcalloc(c->ninsts + 1, sizeof *by);
  for (size_t i = 0; i < c->njobs; i++) {
    const struct cjob *j = c->jobs[i];
    uint32_t inst = NONE;
    int32_t att = 0;
    int64_t from = 0;
    for (size_t k = 0; k <= j->nev; k++) {
      const struct cev *e = k < j->nev ? &j->ev[k] : NULL;
      int opens = e && active(e->new_st) && e->inst != NONE && *c->insts[e->inst]->id &&
                  !(inst != NONE && att == e->attempt);
      int closes = !e || opens || (active(e->old_st) && !active(e->new_st));
      if (inst != NONE && closes) {
        struct spans *s = &by[inst];
        if (s->n == s->cap) {
          s->cap = s->cap ? s->cap * 2 : 4;
          s->v = xrealloc(s->v, s->cap * sizeof *s->v);
        }
        s->v[s->n++] = (struct span){from, !e ? NEVER : e->at > from ? e->at : from};
        inst = NONE;
      }
      if (opens) {
        inst = e->inst;
        att = e->attempt;
        from = e->at;
      }
    }
  }
  return by;
}

/* Milliseconds the instance was up before until_ms: from READY (or any later sign of life) to
 * TERMINATED, LOST or LAUNCH_FAILED, as docs/accounting.md defines an instance's life; before its
 * first such event (none at all: its events were compacted away, or never written), while an
 * attempt ran on it (sp, its attempts' spans). */
static int64_t up_ms(const struct cinst *in, struct spans *sp, int64_t until_ms) {
  struct iev *v = xcalloc(in->nev + 1, sizeof *v);
  for (size_t i = 0; i < in->nev; i++) v[i] = (struct iev){in->ev[i].at, i, in->ev[i].up};
  qsort(v, in->nev, sizeof *v, cmp_iev);
  int64_t total = 0, since = 0, known = until_ms;
  int up = 0;
  for (size_t i = 0; i < in->nev && v[i].at < until_ms; i++) {
    if (v[i].up && known == until_ms) known = v[i].at;
    if (v[i].up > 0 && !up) {
      up = 1;
      since = v[i].at;
    } else if (v[i].up < 0 && up) {
      up = 0;
      total += v[i].at - since;
    }
  }
  if (up && until_ms > since) total += until_ms - since;
  free(v);
  /* the union of the attempts' spans before `known` */
  if (sp->n) qsort(sp->v, sp->n, sizeof *sp->v, cmp_span); /* none: v is NULL, which qsort must not get */
  int64_t end = INT64_MIN;
  for (size_t i = 0; i < sp->n; i++) {
    int64_t from = sp->v[i].from > end ? sp->v[i].from : end, to = sp->v[i].to < known ? sp->v[i].to : known;
    if (to > from) total += to - from;
    if (sp->v[i].to > end) end = sp->v[i].to;
  }
  return total;
}

/* Is any attempt on an instance of ce open at t (started before, not ended by then)? */
static int attempt_open_at(const struct check *c, const char *ce, int64_t t) {
  for (size_t i = 0; i < c->njobs; i++) {
    const struct cjob *j = c->jobs[i];
    int64_t start = NEVER;
    int open = 0;
    for (size_t k = 0; k < j->nev; k++) {
      const struct cev *e = &j->ev[k];
      if (e->new_st == ST_STARTING && e->inst != NONE && c->insts[e->inst]->ce && !strcmp(c->insts[e->inst]->ce, ce)) {
        start = e->at;
        open = 1;
      } else if (open && (e->old_st == ST_STARTING || e->old_st == ST_RUNNING) && e->new_st != ST_RUNNING) {
        open = 0;
        if (start < t && e->at > t) return 1;
      }
    }
    if (open && start < t) return 1;
  }
  return 0;
}

/* Where every attempt on the CE is settled, its jobs' instance-seconds plus IDLE are its total. */
static void jobs_plus_idle(struct check *c, const char *ce, const json_t *rec, int64_t until) {
  double jobs = 0;
  const char *key;
  json_t *u;
  json_object_foreach(c->usage, key, u) {
    const char *kind = jget_str(u, "kind"), *uce = jget_str(u, "computeEnvironment");
    if (!kind || strcmp(kind, "JOB") || !uce || strcmp(uce, ce)) continue;
    if (jget_int(u, "until", 0) > until) return; /* written after the CE's total: not comparable */
    jobs += jget_num(u, "instanceSeconds", 0);
  }
  if (attempt_open_at(c, ce, until)) return;
  char idle_key[300];
  snprintf(idle_key, sizeof idle_key, "idle:%s", ce);
  double idle = jget_num(json_object_get(c->usage, idle_key), "instanceSeconds", 0);
  double total = jget_num(rec, "instanceSeconds", 0);
  if (fabs(jobs + idle - total) > c->conf.acct_tolerance_s)
    check_violation(c, CHECK_ACCOUNTING, ce,
                    "jobs' instance-seconds %.3f + idle %.3f = %.3f, but the compute environment's total is %.3f",
                    jobs, idle, jobs + idle, total);
}

void check_rules_accounting(struct check *c) {
  const char *key;
  json_t *rec;
  struct spans *spans = attempt_spans(c);
  json_object_foreach(c->usage, key, rec) {
    const char *kind = jget_str(rec, "kind");
    if (!kind || strcmp(kind, "COMPUTE_ENVIRONMENT") || strncmp(key, "ce:", 3)) continue;
    const char *ce = key + 3;
    int64_t until = jget_int(rec, "until", 0);
    int64_t ms = 0;
    int ninst = 0;
    for (size_t i = 0; i < c->ninsts; i++)
      if (c->insts[i]->ce && !strcmp(c->insts[i]->ce, ce) && (c->insts[i]->nev || spans[i].n)) {
        ms += up_ms(c->insts[i], &spans[i], until);
        ninst++;
      }
    double have = jget_num(rec, "instanceSeconds", 0);
    if (fabs(have - (double)ms / 1000.0) > c->conf.acct_tolerance_s)
      check_violation(c, CHECK_ACCOUNTING, ce,
                      "barge.usage has %.3f instance-seconds until %lld, but its %d instance(s) were up %.3f s",
                      have, (long long)until, ninst, (double)ms / 1000.0);
    else
      jobs_plus_idle(c, ce, rec, until);
  }
  for (size_t i = 0; i < c->ninsts; i++) free(spans[i].v);
  free(spans);
}
