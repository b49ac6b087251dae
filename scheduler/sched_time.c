/* sched_time.c: what happens as time passes (a Tick): attempts left on a restarted agent, lost
 * instances, queue time-limit actions (T15). Pure: time is the core's event time (see sched.c). */
#include <string.h>

#include "sched_int.h"

/* ---------------- time (ticks) ---------------- */

void sched_on_tick(struct sched *s, struct outbox *out) {
  s->tick_now = 1;
  /* attempts restored onto an instance whose agent has restarted since */
  if (s->reconcile_needed) {
    s->reconcile_needed = 0;
    for (size_t i = 0; i < s->ninsts; i++)
      if (s->insts[i]->state != INST_GONE) sched_settle_stale_attempts(s, (uint32_t)i, out);
  }
  /* lost instances */
  for (size_t i = 0; i < s->ninsts; i++) {
    struct instance *in = s->insts[i];
    if (in->state != INST_GONE && s->now - in->last_seen > s->conf.lost_after_ms)
      sched_instance_lost(s, (uint32_t)i, 1, out);
  }
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

