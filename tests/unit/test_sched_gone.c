/* test_sched_gone.c: the scheduler core forgets gone instances (docs/architecture.md, "Gone
 * instances"): a gone instance no job references is forgotten at the first Tick at least
 * sched_gone_memory_ms (event time) after it went and was last spoken of, so the records kept
 * stay bounded by the live
 * instances plus a window of recently gone ones; and a forgotten instance's late words (a
 * heartbeat, a READY of its old incarnation, an execution report) neither bring it back, nor
 * get it placements, nor change a job that has moved on. */
#include "sched_harness.h"

#define W_MS 600000 /* sched_gone_memory_ms with the harness's lost_after_ms of 30000 */

static int inst(struct h *h, const char *id, const char *kind, int v, int64_t inc) {
  return h_feed(h, BARGE_EV_INSTANCE_EVENT,
         json_pack("{s:o, s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:I}", "header", h_header(h->t), "instanceId", id,
                   "computeEnvironment", "ce", "kind", kind, "vcpus", v, "memoryMib", 4096 * v, "gpus", 0, "at",
                   (json_int_t)h->t, "incarnation", (json_int_t)inc));
}

static void report(struct h *h, const char *job, int attempt, const char *id, const char *kind, int code, int64_t inc) {
  json_t *ev = json_pack("{s:o, s:s, s:i, s:s, s:s, s:I, s:I}", "header", h_header(h->t), "jobId", job, "attempt",
                         attempt, "instanceId", id, "kind", kind, "at", (json_int_t)h->t, "incarnation", (json_int_t)inc);
  if (code > -1000) json_object_set_new(ev, "exitCode", json_integer(code));
  h_feed(h, BARGE_EV_EXECUTION_REPORT, ev);
}

/* Placements written per instance id: how many named "i-old" since the count was reset. */
static int placed_on_old, placed_total;
static void on_output(struct h *h, const struct out_ev *e) {
  if (e->kind != OUT_PLACEMENT) return;
  placed_total++;
  placed_on_old += !strcmp(sched_instance_id(h->s, e->inst), "i-old");
}

static int attempt_of(struct h *h, const char *id) {
  json_t *d = h_detail(h, id);
  int n = (int)json_array_size(json_object_get(d, "attempts"));
  json_decref(d);
  return n + 1; /* the live attempt follows the ended ones */
}

/* i-old (incarnation 100) ran job j; it went (TERMINATED) and j's second attempt runs on i-new,
 * which is then full. Time passes beyond the memory and a Tick forgets i-old. */
static void setup(struct h *h) {
  h_init(h);
  h->each = on_output;
  h_ce(h, "ce", 0, 0);
  h_queue(h, "q", 10, NULL, "ce", NULL);
  h_jd(h, "one", 1, 1, 256, "{\"retryStrategy\": {\"attempts\": 3}}");
  inst(h, "i-old", "READY", 1, 100);
  h_submit(h, "j", "q", "one", NULL);
  CHECK_STATUS(h, "j", JOB_STARTING);
  report(h, "j", 1, "i-old", "STARTED", -2000, 100);
  CHECK_STATUS(h, "j", JOB_RUNNING);
  h->t += 1000;
  inst(h, "i-old", "TERMINATED", 0, 100);
  CHECK_STATUS(h, "j", JOB_RUNNABLE); /* attempt 1 ended with the host; retried */
  inst(h, "i-new", "READY", 1, 200);
  CHECK_STATUS(h, "j", JOB_STARTING);
  char on[32];
  CHECK(!strcmp(h_instance_of(h, "j", on, sizeof on), "i-new"), "j's second attempt runs on %s, not i-new", on);
  CHECK_INT(sched_instances_kept(h->s), 2);
  h->t += W_MS - 2000;
  inst(h, "i-new", "HEARTBEAT", 0, 200);
  h_tick(h);
  CHECK_INT(sched_instances_kept(h->s), 2); /* gone less than the memory ago: kept */
  h->t += 2000;
  inst(h, "i-new", "HEARTBEAT", 0, 200);
  h_tick(h);
  CHECK_INT(sched_instances_kept(h->s), 1); /* i-old forgotten */
  placed_on_old = placed_total = 0;
}

static void test_late_heartbeat(void) {
  TEST("a forgotten instance's late heartbeat does not bring it back: no placement goes to it");
  struct h h;
  setup(&h);
  inst(&h, "i-old", "HEARTBEAT", 0, 100);
  CHECK_INT(sched_instances_kept(h.s), 1);
  h_submit(&h, "k", "q", "one", NULL); /* i-new is full: only a revived i-old could take it */
  h_tick(&h);
  CHECK_STATUS(&h, "k", JOB_RUNNABLE);
  CHECK_INT(placed_on_old, 0);
  /* a beat of no incarnation (0: an older agent's, a driver's), for it or any unknown id, once any
   * instance was forgotten: a READY registers such an instance */
  inst(&h, "i-old", "HEARTBEAT", 0, 0);
  inst(&h, "i-other", "HEARTBEAT", 0, 0);
  h_tick(&h);
  CHECK_INT(sched_instances_kept(h.s), 1);
  CHECK_STATUS(&h, "k", JOB_RUNNABLE);
  CHECK_INT(placed_on_old, 0);
  /* a beat of an agent started after every forgotten one still registers it, as before */
  inst(&h, "i-later", "HEARTBEAT", 1, 300);
  CHECK_INT(sched_instances_kept(h.s), 2);
  CHECK_STATUS(&h, "k", JOB_STARTING);
  h_release(&h);
}

static void test_late_ready(void) {
  TEST("a forgotten instance's late READY of its old incarnation is ignored; a newer incarnation registers");
  struct h h;
  setup(&h);
  /* refused (the shell dead-letters it with the reason): a new agent with a clock far behind
   * would otherwise stay unregistered in silence */
  CHECK_INT(inst(&h, "i-old", "READY", 1, 100), -1);
  CHECK_INT(sched_instances_kept(h.s), 1);
  h_submit(&h, "k", "q", "one", NULL);
  h_tick(&h);
  CHECK_STATUS(&h, "k", JOB_RUNNABLE);
  CHECK_INT(placed_on_old, 0);
  CHECK_INT(inst(&h, "i-old", "READY", 1, 99), -1); /* an even older one */
  CHECK_INT(sched_instances_kept(h.s), 1);
  CHECK_STATUS(&h, "k", JOB_RUNNABLE);
  /* the agent restarted under the same id: a new incarnation is a registration */
  CHECK_INT(inst(&h, "i-old", "READY", 1, 300), 0);
  CHECK_INT(sched_instances_kept(h.s), 2);
  CHECK_STATUS(&h, "k", JOB_STARTING);
  CHECK_INT(placed_on_old, 1);
  h_release(&h);
}

static void test_late_report(void) {
  TEST("a forgotten instance's late execution report does not change the job that moved on");
  struct h h;
  setup(&h);
  inst(&h, "i-third", "READY", 1, 300); /* takes the forgotten i-old's slot */
  CHECK_INT(sched_instances_kept(h.s), 2);
  report(&h, "j", 1, "i-old", "EXITED", 0, 100); /* attempt 1's end, late */
  CHECK_STATUS(&h, "j", JOB_STARTING);
  CHECK_INT(attempt_of(&h, "j"), 2);
  report(&h, "j", 2, "i-old", "EXITED", 1, 100); /* a stray naming the live attempt */
  report(&h, "j", 2, "i-old", "STARTED", -2000, 0);
  CHECK_STATUS(&h, "j", JOB_STARTING);
  char on[32];
  CHECK(!strcmp(h_instance_of(&h, "j", on, sizeof on), "i-new"), "j runs on %s, not i-new", on);
  report(&h, "j", 2, "i-new", "EXITED", 0, 200); /* the live attempt's own end is taken */
  CHECK_STATUS(&h, "j", JOB_SUCCEEDED);
  report(&h, "j", 1, "i-old", "EXITED", 1, 100);
  report(&h, "j", 2, "i-old", "EXITED", 1, 100);
  CHECK_STATUS(&h, "j", JOB_SUCCEEDED);
  CHECK_INT(sched_instances_kept(h.s), 2);
  CHECK_INT(placed_total, 0);
  h_release(&h);
}

static void test_talking_gone_instance_kept(void) {
  TEST("a gone instance still spoken of (its agent beats on) is kept, its beats ignored; forgotten once silent");
  struct h h;
  h_init(&h);
  h.each = on_output;
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "q", 10, NULL, "ce", NULL);
  h_jd(&h, "one", 1, 1, 256, NULL);
  inst(&h, "i-old", "READY", 1, 100);
  h.t += 1000;
  h_tick(&h);
  h.t += 31000;
  h_tick(&h); /* silent: LOST, though its agent still runs */
  for (int i = 0; i < 60; i++) { /* its beats come through again for an hour: ignored */
    h.t += 60000;
    inst(&h, "i-old", "HEARTBEAT", 0, 100);
    h_tick(&h);
    CHECK_INT(sched_instances_kept(h.s), 1);
  }
  h_submit(&h, "k", "q", "one", NULL);
  CHECK_STATUS(&h, "k", JOB_RUNNABLE);
  h.t += W_MS - 1;
  h_tick(&h);
  CHECK_INT(sched_instances_kept(h.s), 1);
  h.t += 1;
  h_tick(&h);
  CHECK_INT(sched_instances_kept(h.s), 0); /* silent for the memory: forgotten */
  inst(&h, "i-old", "HEARTBEAT", 0, 100);
  h_tick(&h);
  CHECK_INT(sched_instances_kept(h.s), 0);
  CHECK_STATUS(&h, "k", JOB_RUNNABLE);
  CHECK_INT(placed_total, 0);
  h_release(&h);
}

static void test_bounded_churn(void) {
  TEST("100,000 instances join and leave over 2 days of event time: the records kept stay bounded");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "q", 10, NULL, "ce", NULL);
  h_jd(&h, "one", 1, 1, 256, NULL);
  enum { N = 100000, LIVE = 8 };
  size_t most = 0;
  int jobs = 0;
  for (int i = 0; i < N; i++) {
    char id[32];
    h.t += 1700; /* one joins every 1.7 s: about 50,000 a day */
    snprintf(id, sizeof id, "i-%06d", i);
    inst(&h, id, "READY", 2, h.t);
    if (i % 50 == 0) { /* some run a job, which ends with its host */
      char job[32];
      snprintf(job, sizeof job, "job-%d", jobs++);
      h_submit(&h, job, "q", "one", NULL);
    }
    if (i >= LIVE) { /* the oldest leaves: TERMINATED, or LOST by silence every third */
      snprintf(id, sizeof id, "i-%06d", i - LIVE);
      if (i % 3) inst(&h, id, "TERMINATED", 0, 0);
    }
    if (i % 4 == 0) {
      for (int k = i - LIVE + 1; k <= i; k++) { /* the live ones beat */
        if (k < 0) continue;
        snprintf(id, sizeof id, "i-%06d", k);
        inst(&h, id, "HEARTBEAT", 0, 0);
      }
      h_tick(&h);
    }
    if (sched_instances_kept(h.s) > most) most = sched_instances_kept(h.s);
  }
  /* gone ones are kept W (353 joiners' worth at 1.7 s) plus up to a lost-after and a tick;
   * far below the 100,000 seen */
  size_t bound = LIVE + W_MS / 1700 + 40;
  printf("   at most %zu instance records kept at once (bound %zu), %zu at the end, of %d seen\n", most, bound,
         sched_instances_kept(h.s), N);
  CHECK(most <= bound, "%zu instance records kept, more than the %zu live and recently gone", most, bound);
  CHECK(most >= W_MS / 1700, "only %zu kept: gone instances must be remembered for the memory", most);
  /* the first one's late beat: long forgotten, not brought back */
  size_t kept = sched_instances_kept(h.s);
  inst(&h, "i-000000", "HEARTBEAT", 0, 0);
  CHECK_INT(sched_instances_kept(h.s), kept);
  h_release(&h);
}

int main(void) {
  test_late_heartbeat();
  test_late_ready();
  test_late_report();
  test_talking_gone_instance_kept();
  test_bounded_churn();
  return check_summary();
}
