/* sched_time.c: what happens as time passes (a Tick): attempts left on a restarted agent, lost
 * instances, queue time-limit actions (T15). Pure: time is the core's event time (see sched.c). */
#include <stdlib.h>
#include <string.h>

#include "sched_int.h"

/* ---------------- time (ticks) ---------------- */

struct picked {
  int64_t seq;
  uint32_t ii;
};

static int cmp_seq(const void *a, const void *b) {
  int64_t x = ((const struct picked *)a)->seq, y = ((const struct picked *)b)->seq;
  return x < y ? -1 : x > y;
}

/* The live instances (s->live, in no order) that pick says, in registration order (seq): the
 * order the outputs follow, as when every instance ever registered was walked by index (an
 * index is reused once its instance is forgotten, a seq never). NULL when none; else *n of
 * them (@owned result). */
static uint32_t *live_picked(struct sched *s, int (*pick)(const struct sched *s, const struct instance *in), size_t *n) {
  struct picked *p = NULL;
  *n = 0;
  for (size_t k = 0; k < s->nlive; k++) {
    const struct instance *in = s->insts[s->live[k]];
    if (!pick(s, in)) continue;
    if (!p) p = xcalloc(s->nlive - k, sizeof *p);
    p[(*n)++] = (struct picked){in->seq, s->live[k]};
  }
  if (!p) return NULL;
  if (*n > 1) qsort(p, *n, sizeof *p, cmp_seq);
  uint32_t *v = xcalloc(*n, sizeof *v);
  for (size_t k = 0; k < *n; k++) v[k] = p[k].ii;
  free(p);
  return v;
}

static int any_live(const struct sched *s, const struct instance *in) {
  (void)s;
  return in->state != INST_GONE;
}

static int silent(const struct sched *s, const struct instance *in) {
  return in->state != INST_GONE && s->now - in->last_seen > s->conf.lost_after_ms;
}

void sched_on_tick(struct sched *s, struct outbox *out) {
  s->tick_now = 1;
  /* gone instances remembered long enough (docs/architecture.md, "Gone instances"): first, so
   * that no entry of this event's outbox can name one */
  sched_forget_gone(s);
  /* Only live instances matter here: the live list, not every instance ever registered (after
   * weeks of churn, nearly all gone; docs/architecture.md, "The scheduler"). Nothing below makes
   * another instance silent or gone, so picking first and acting after decides the same. */
  size_t n;
  uint32_t *v;
  /* attempts restored onto an instance whose agent has restarted since */
  if (s->reconcile_needed) {
    s->reconcile_needed = 0;
    v = live_picked(s, any_live, &n);
    for (size_t k = 0; k < n; k++)
      if (s->insts[v[k]]->state != INST_GONE) sched_settle_stale_attempts(s, v[k], out);
    free(v);
  }
  /* lost instances */
  v = live_picked(s, silent, &n);
  for (size_t k = 0; k < n; k++)
    if (silent(s, s->insts[v[k]])) sched_instance_lost(s, v[k], 1, out);
  free(v);
  /* queue time-limit actions (T15) */
  size_t w = 0;
  for (size_t i = 0; i < s->ncoded; i++) {
    struct job *j = s->jobs[s->coded[i]];
    const char *code = j->status == JOB_RUNNABLE ? sched_code_of(j->status_reason) : NULL;
    if (!code) continue;
    struct queue *q = s->queues[j->queue];
    int fired = 0;
    for (int k = 0; k < q->ntl; k++) {
      /* the entry names the bare code; the reason carries AWS's wording after it */
      if (!strcmp(q->tl[k].reason, code) && s->now - j->code_since >= q->tl[k].max_ms) {
        char r[256];
        snprintf(r, sizeof r, "Cancelled: %s", code);
        j->cancelled = 1;
        sched_fail_job(s, j, r, out);
        fired = 1;
        break;
      }
    }
    if (!fired) s->coded[w++] = s->coded[i];
  }
  s->ncoded = w;
  s->cycle_needed = 1;
}

