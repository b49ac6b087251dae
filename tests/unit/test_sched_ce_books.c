/* test_sched_ce_books.c: a compute environment's books (struct ce in scheduler/sched_int.h: its
 * live instances and their vCPUs, its largest instance, its free vCPUs, its placement candidates
 * and its instance list) are kept as each instance event comes, not recomputed by walking every
 * instance the CE ever had (which made N instances joining cost O(N^2); docs/architecture.md,
 * "The scheduler"). Checked:
 *   - after every event of a random run (instances joining in and out of id order, draining,
 *     terminated, lost at a Tick, gone ids registering again, also with another CE; jobs of 1,
 *     3 and 7 vCPUs placed and ended), every CE's books equal a recomputation from scratch over
 *     all instances, and the full rebuild (sched_recompute_ce) finds nothing to change (a gone
 *     instance registering with another CE stayed in its old CE's list and books, and was no
 *     placement candidate in its new one);
 *   - the list keeps every live instance in ascending id order, and its gone instances never
 *     outnumber its live ones by more than one (it kept every instance the CE ever had);
 *   - an instance gone from one CE that registers with another takes that CE's jobs, not the
 *     first one's;
 *   - an instance restored holding more vCPUs than it has takes a placement once an ending
 *     attempt leaves it room (it had to wait for some other instance event in its CE);
 *   - the scheduler's live list (what a Tick walks, not every instance ever registered) holds
 *     exactly the instances not gone, and each instance's list of jobs exactly the jobs whose
 *     attempt is on it (what a lost host's attempts are found by, not a scan of all jobs), after
 *     every event;
 *   - after heavy churn (gone ids registering again, so the live list is in no index order), each
 *     Tick declares LOST exactly the instances a walk over every instance finds silent, in
 *     ascending instance index, and ends exactly their running jobs, in ascending job index per
 *     instance (the outputs a walk of all instances and all jobs gave). */
#include "sched_harness.h"
#include "sched_int.h"

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

static int bad; /* checks failed so far in the random run: stop after the first event that fails */

/* Every CE's books against a recomputation over all instances. */
static void check_books(struct sched *s, int step) {
  size_t listed_total = 0;
  for (size_t ci = 0; ci < s->nces; ci++) {
    struct ce *c = s->ces[ci];
    size_t live = 0, navail = 0;
    int64_t live_v = 0, free_v = 0;
    int max_v = 0, max_m = 0, max_g = 0;
    for (size_t i = 0; i < s->ninsts; i++) {
      const struct instance *in = s->insts[i];
      if (!in || in->ce != ci || in->state == INST_GONE) continue; /* NULL: forgotten */
      live++;
      live_v += in->cap_v;
      if (in->cap_v > max_v) max_v = in->cap_v;
      if (in->cap_m > max_m) max_m = in->cap_m;
      if (in->cap_g > max_g) max_g = in->cap_g;
      if (in->state != INST_READY) continue;
      free_v += in->cap_v - in->used_v;
      if (in->cap_v > in->used_v) {
        navail++;
        int at = in->avail_pos >= 0 && (size_t)in->avail_pos < c->navail && c->avail[in->avail_pos] == i;
        CHECK(at, "step %d: CE %s: instance %s (READY, %d of %d vCPUs used) is no placement candidate", step, c->name,
              in->id, in->used_v, in->cap_v);
        bad += !at;
      }
    }
    int ok = c->live == live && c->live_v == live_v && c->free_v == free_v && c->max_v == max_v && c->max_m == max_m &&
             c->max_g == max_g && c->navail == navail;
    CHECK(ok,
          "step %d: CE %s: books live %zu, vCPUs %lld, free %d, largest %d/%d/%d, candidates %zu; recomputed %zu, %lld, "
          "%lld, %d/%d/%d, %zu",
          step, c->name, c->live, (long long)c->live_v, c->free_v, c->max_v, c->max_m, c->max_g, c->navail, live,
          (long long)live_v, (long long)free_v, max_v, max_m, max_g, navail);
    bad += !ok;
    /* the list: ascending ids, each entry listed here, every live instance of the CE in it */
    size_t gone = 0, live_listed = 0;
    for (size_t k = 0; k < c->ninst; k++) {
      const struct instance *in = s->insts[c->insts[k]];
      int order = k == 0 || strcmp(s->insts[c->insts[k - 1]]->id, in->id) < 0;
      int mine = in->listed_in == ci && (in->state == INST_GONE || in->ce == ci);
      CHECK(order && mine, "step %d: CE %s: list entry %zu (%s) out of order or not this CE's", step, c->name, k, in->id);
      bad += !(order && mine);
      if (in->state == INST_GONE) gone++;
      else live_listed++;
    }
    ok = live_listed == live && gone == c->ngone_listed && gone <= live + 1;
    CHECK(ok, "step %d: CE %s: list holds %zu live and %zu gone (counted %zu gone); %zu live", step, c->name, live_listed,
          gone, c->ngone_listed, live);
    bad += !ok;
    listed_total += c->ninst;
  }
  size_t listed = 0;
  for (size_t i = 0; i < s->ninsts; i++) listed += s->insts[i] && s->insts[i]->listed_in != SCHED_NONE;
  CHECK(listed == listed_total, "step %d: %zu instances say they are listed, the lists hold %zu", step, listed, listed_total);
  bad += listed != listed_total;
  /* the live list: every instance not gone, once, where its live_pos says */
  size_t live_all = 0, kept = 0;
  for (size_t i = 0; i < s->ninsts; i++) {
    const struct instance *in = s->insts[i];
    if (!in) continue;
    kept++;
    int gone = in->state == INST_GONE;
    /* a gone instance waits in the gone queue (else it would never be forgotten); the id map
     * finds each kept instance at its slot */
    int found = strmap_get(&s->inst_by_id, in->id) == i && (!gone || in->gone_queued);
    CHECK(found, "step %d: instance %s (%s): id map %u, slot %zu, queued %d", step, in->id, gone ? "gone" : "live",
          strmap_get(&s->inst_by_id, in->id), i, in->gone_queued);
    bad += !found;
    int at = in->live_pos >= 0 && (size_t)in->live_pos < s->nlive && s->live[in->live_pos] == i;
    live_all += !gone;
    CHECK(gone ? in->live_pos == -1 : at, "step %d: instance %s (%s) live_pos %lld, live list of %zu", step, in->id,
          gone ? "gone" : "live", (long long)in->live_pos, s->nlive);
    bad += gone ? in->live_pos != -1 : !at;
  }
  CHECK(s->nlive == live_all, "step %d: the live list holds %zu, %zu instances are not gone", step, s->nlive, live_all);
  bad += s->nlive != live_all;
  CHECK(kept == sched_instances_kept(s) && kept + s->nfree_insts == s->ninsts && s->ngone <= kept,
        "step %d: %zu records, %zu counted kept, %zu free slots of %zu, %zu queued gone", step, kept,
        sched_instances_kept(s), s->nfree_insts, s->ninsts, s->ngone);
  bad += kept != sched_instances_kept(s) || kept + s->nfree_insts != s->ninsts || s->ngone > kept;
  /* each instance's list of jobs: exactly the jobs whose attempt is on it, njobs of them */
  size_t *on = calloc(s->ninsts + 1, sizeof *on);
  for (size_t k = 0; k < s->njobs; k++)
    if (s->jobs[k]->instance != SCHED_NONE) on[s->jobs[k]->instance]++;
  for (size_t i = 0; i < s->ninsts; i++) {
    const struct instance *in = s->insts[i];
    if (!in) continue;
    size_t n = 0;
    int ok = 1;
    for (uint32_t k = in->jobs_head, prev = SCHED_NONE; k != SCHED_NONE && n <= s->njobs; prev = k, k = s->jobs[k]->inst_next, n++)
      ok &= s->jobs[k]->instance == i && s->jobs[k]->inst_prev == prev;
    ok &= n == on[i] && (int)n == in->njobs;
    CHECK(ok, "step %d: instance %s lists %zu jobs (links %s), %zu jobs are on it, njobs %d", step, in->id, n,
          ok ? "right" : "checked", on[i], in->njobs);
    bad += !ok;
  }
  free(on);
}

static int gone_or_unknown(const struct sched *s, const char *id) {
  uint32_t ii = strmap_get(&s->inst_by_id, id);
  return ii == SCHED_NONE || s->insts[ii]->state == INST_GONE;
}

static void test_books_follow_every_event(void) {
  TEST("random run: after every event each CE's books equal a recomputation over all instances");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_ce(&h, "ce2", 0, 0);
  h_ce(&h, "m", 1, 64);
  h_queue(&h, "q", 10, NULL, "ce", "ce2", NULL);
  h_queue(&h, "mq", 5, NULL, "m", NULL);
  h_jd(&h, "one", 1, 1, 256, NULL);
  h_jd(&h, "three", 1, 3, 1024, NULL);
  h_jd(&h, "big", 1, 7, 4096, NULL); /* only the largest instances hold it */
  const char *ces[] = {"ce", "ce2", "m"};
  char names[400][16];
  int ninst = 0, njobs = 0, reregistered = 0, moved = 0, lost = 0, forgotten = 0;
  for (int step = 0; step < 6000 && !bad; step++) {
    h.t += rnd(200);
    uint32_t r = rnd(100);
    if (r < 8 && ninst < 400) { /* a new instance, its id out of order one time in three */
      snprintf(names[ninst], sizeof names[ninst], "i-%05u", rnd(3) ? (unsigned)ninst * 10 : rnd(4000) * 10 + 5);
      int v = 1 + (int)rnd(8);
      h_instance(&h, names[ninst], ces[rnd(3)], "READY", v, 1024 * v);
      ninst++;
    } else if (r < 12 && ninst) { /* an id seen before: READY again (gone: back; live: repeated) */
      uint32_t k = rnd((uint32_t)ninst);
      uint32_t ii = strmap_get(&h.s->inst_by_id, names[k]);
      int was_gone = ii != SCHED_NONE && h.s->insts[ii]->state == INST_GONE;
      const char *ce = rnd(4) || ii == SCHED_NONE ? ces[rnd(3)] : h.s->ces[h.s->insts[ii]->ce]->name;
      int v = 1 + (int)rnd(8);
      if (was_gone) reregistered++, moved += strcmp(ce, h.s->ces[h.s->insts[ii]->ce]->name) != 0;
      h_instance(&h, names[k], ce, "READY", v, 1024 * v);
    } else if (r < 18 && ninst) {
      const char *kinds[] = {"DRAIN_REQUESTED", "TERMINATED", "HEARTBEAT"};
      h_instance(&h, names[rnd((uint32_t)ninst)], "ce", kinds[rnd(3)], 0, 0);
    } else if (r < 22) { /* beats from most live instances, then a Tick: the others may be lost */
      for (int k = 0; k < ninst; k++) /* the agents of gone ones are gone: they are forgotten */
        if (rnd(8) && !gone_or_unknown(h.s, names[k])) h_instance(&h, names[k], "ce", "HEARTBEAT", 0, 0);
      h.t += rnd(4) ? 0 : 31000;
      /* gone after - gone before, plus those the Tick forgot (it registers none) */
      size_t gone_before = 0, kept_before = sched_instances_kept(h.s);
      for (size_t i = 0; i < h.s->ninsts; i++) gone_before += h.s->insts[i] && h.s->insts[i]->state == INST_GONE;
      h_tick(&h);
      for (size_t i = 0; i < h.s->ninsts; i++) lost += h.s->insts[i] && h.s->insts[i]->state == INST_GONE;
      lost += (int)(kept_before - sched_instances_kept(h.s)) - (int)gone_before;
      forgotten += (int)(kept_before - sched_instances_kept(h.s));
    } else if (r < 55) {
      char id[32];
      snprintf(id, sizeof id, "job-%05d", njobs++);
      const char *jds[] = {"one", "one", "three", "big"};
      h_submit(&h, id, rnd(3) ? "q" : "mq", jds[rnd(4)], NULL);
    } else { /* a running job ends */
      for (int tries = 0; tries < 20; tries++) {
        uint32_t k = (uint32_t)sched_job_count(h.s);
        if (!k) break;
        struct job *j = h.s->jobs[rnd(k)];
        if ((j->status != JOB_STARTING && j->status != JOB_RUNNING) || j->instance == SCHED_NONE) continue;
        h_exec(&h, j->id, j->attempt, h.s->insts[j->instance]->id, "EXITED", 0, NULL);
        break;
      }
    }
    check_books(h.s, step);
    if (step % 500 == 0)
      for (size_t ci = 0; ci < h.s->nces; ci++) {
        int changed = sched_recompute_ce(h.s, h.s->ces[ci]);
        CHECK(!changed, "step %d: the full rebuild changed CE %s's largest instance or live count", step, h.s->ces[ci]->name);
        check_books(h.s, step);
      }
  }
  printf("   %d instances, %d registered again after going (%d with another CE), %d lost at a Tick, %d forgotten, "
         "%d jobs\n", ninst, reregistered, moved, lost, forgotten, njobs);
  CHECK(!bad, "the books diverged (above)");
  CHECK(ninst > 300 && reregistered > 20 && moved > 5 && lost > 20 && forgotten > 50 && njobs > 1500,
        "the run covered too little");
  h_release(&h);
}

static void test_list_drops_gone_instances(void) {
  TEST("a CE that churned through 5,000 instances lists its few live ones, not all it ever had");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  for (int i = 0; i < 5000; i++) {
    char id[16];
    snprintf(id, sizeof id, "i-%05d", i);
    h_instance(&h, id, "ce", "READY", 2, 2048);
    if (i >= 3) {
      snprintf(id, sizeof id, "i-%05d", i - 3);
      h_instance(&h, id, "ce", "TERMINATED", 0, 0);
    }
  }
  struct ce *c = h.s->ces[0];
  CHECK_INT(c->live, 3);
  CHECK(c->ninst <= 2 * c->live + 1, "the list holds %zu instances for %zu live", c->ninst, c->live);
  check_books(h.s, 5000);
  h_release(&h);
}

static void test_instance_moves_ce(void) {
  TEST("an instance gone from CE a that registers with CE b takes b's jobs, and a has none");
  struct h h;
  h_init(&h);
  h_ce(&h, "a", 0, 0);
  h_ce(&h, "b", 0, 0);
  h_queue(&h, "qa", 10, NULL, "a", NULL);
  h_queue(&h, "qb", 10, NULL, "b", NULL);
  h_jd(&h, "one", 1, 1, 64, NULL);
  h_instance(&h, "i-0", "a", "READY", 2, 2048);
  h_instance(&h, "i-0", "a", "TERMINATED", 0, 0);
  h_instance(&h, "i-0", "b", "READY", 2, 2048);
  h_submit(&h, "in-b", "qb", "one", NULL);
  CHECK_STATUS(&h, "in-b", JOB_STARTING);
  h_submit(&h, "in-a", "qa", "one", NULL);
  CHECK_STATUS(&h, "in-a", JOB_RUNNABLE);
  check_books(h.s, 0);
  h_release(&h);
}

static void test_restored_overcommit_gets_room(void) {
  TEST("an instance restored holding more vCPUs than it has takes a job once an ending attempt leaves it room");
  /* before the restart i-0 had 4 vCPUs and ran a 3-vCPU and a 1-vCPU job; it comes back with 2 */
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "q", 10, NULL, "ce", NULL);
  h_jd(&h, "three", 1, 3, 64, NULL);
  h_jd(&h, "one", 1, 1, 64, NULL);
  h_instance(&h, "i-0", "ce", "READY", 4, 4096);
  h_submit(&h, "x", "q", "three", NULL);
  h_submit(&h, "y", "q", "one", NULL);
  CHECK_STATUS(&h, "x", JOB_STARTING);
  CHECK_STATUS(&h, "y", JOB_STARTING);
  struct h r;
  h_init(&r);
  h_ce(&r, "ce", 0, 0);
  h_queue(&r, "q", 10, NULL, "ce", NULL);
  h_jd(&r, "three", 1, 3, 64, NULL);
  h_jd(&r, "one", 1, 1, 64, NULL);
  h_restore_instance(&r, "i-0", "ce", 2, 4096, h.t);
  h_restore_jobs(&r, &h, 0);
  r.t = h.t + 1000;
  h_submit(&r, "z", "q", "one", NULL);
  CHECK_STATUS(&r, "z", JOB_RUNNABLE); /* i-0 holds 4 of its 2 vCPUs */
  h_exec(&r, "x", 1, "i-0", "EXITED", 0, NULL); /* 1 of 2 held: room for z */
  CHECK_STATUS(&r, "z", JOB_STARTING);
  check_books(r.s, 0);
  h_release(&r);
  h_release(&h);
}

static const struct sched *seq_of;
static int cmp_by_seq(const void *a, const void *b) {
  int64_t x = seq_of->insts[*(const uint32_t *)a]->seq, y = seq_of->insts[*(const uint32_t *)b]->seq;
  return x < y ? -1 : x > y;
}

/* The kept instances' slots in registration order (seq): what a walk of every instance ever
 * registered, by index, met them in before forgotten slots were reused. @owned result. */
static uint32_t *by_seq(const struct sched *s, size_t *n) {
  uint32_t *v = calloc(s->ninsts + 1, sizeof *v);
  *n = 0;
  for (size_t i = 0; i < s->ninsts; i++)
    if (s->insts[i]) v[(*n)++] = (uint32_t)i;
  seq_of = s;
  qsort(v, *n, sizeof *v, cmp_by_seq);
  return v;
}

/* What one Tick wrote: LOST instances, and jobs leaving STARTING/RUNNING, in output order. */
static uint32_t tick_lost[512], tick_ended[4096];
static size_t ntick_lost, ntick_ended;
static void on_output(struct h *h, const struct out_ev *e) {
  (void)h;
  if (e->kind == OUT_INSTANCE && !strcmp(e->instance_kind, "LOST") && ntick_lost < 512) tick_lost[ntick_lost++] = e->inst;
  if (e->kind == OUT_STATE_CHANGE && (e->old_status == JOB_STARTING || e->old_status == JOB_RUNNING) &&
      ntick_ended < 4096)
    tick_ended[ntick_ended++] = e->job;
}

static void test_tick_after_churn(void) {
  TEST("after churn, each Tick declares LOST exactly the silent instances a walk of all finds, in registration order, "
       "and ends exactly their jobs");
  struct h h;
  h_init(&h);
  h_ce(&h, "ce", 0, 0);
  h_ce(&h, "ce2", 0, 0);
  h_queue(&h, "q", 10, NULL, "ce", "ce2", NULL);
  h_jd(&h, "one", 1, 1, 256, NULL);
  h_jd(&h, "two", 1, 2, 256, "{\"retryStrategy\": {\"attempts\": 2}}");
  h.each = on_output;
  const char *ces[] = {"ce", "ce2"};
  char names[300][16];
  int ninst = 0, njobs = 0, ticks = 0, lost = 0, ended = 0, reregistered = 0, forgotten = 0;
  for (int step = 0; step < 8000; step++) {
    h.t += rnd(300);
    uint32_t r = rnd(100);
    if (r < 6 && ninst < 300) {
      snprintf(names[ninst], sizeof names[ninst], "i-%05d", ninst);
      h_instance(&h, names[ninst], ces[rnd(2)], "READY", 1 + (int)rnd(4), 4096);
      ninst++;
    } else if (r < 12 && ninst) { /* gone ones come back (old index, end of the live list) */
      const char *name = names[rnd((uint32_t)ninst)];
      uint32_t ii = strmap_get(&h.s->inst_by_id, name);
      if (ii != SCHED_NONE && h.s->insts[ii]->state == INST_GONE) reregistered++;
      h_instance(&h, name, ces[rnd(2)], "READY", 1 + (int)rnd(4), 4096);
    } else if (r < 16 && ninst) {
      h_instance(&h, names[rnd((uint32_t)ninst)], "ce", rnd(3) ? "TERMINATED" : "DRAIN_REQUESTED", 0, 0);
    } else if (r < 40 && ninst) { /* most instances beat */
      for (int k = 0; k < ninst; k++)
        if (rnd(6) && !gone_or_unknown(h.s, names[k])) h_instance(&h, names[k], "ce", "HEARTBEAT", 0, 0);
    } else if (r < 48) {
      h.t += rnd(3) ? 0 : 20000 + rnd(20000);
      /* the brute-force walk: every instance ever registered, every job */
      uint32_t want_lost[512], want_ended[4096];
      size_t nwant_lost = 0, nwant_ended = 0;
      size_t nseq;
      uint32_t *order = by_seq(h.s, &nseq);
      for (size_t o = 0; o < nseq; o++) {
        uint32_t i = order[o];
        const struct instance *in = h.s->insts[i];
        if (in->state == INST_GONE || h.t - in->last_seen <= 30000) continue;
        want_lost[nwant_lost++] = (uint32_t)i;
        for (size_t k = 0; k < h.s->njobs; k++) {
          const struct job *j = h.s->jobs[k];
          if (j->instance == i && (j->status == JOB_STARTING || j->status == JOB_RUNNING)) want_ended[nwant_ended++] = (uint32_t)k;
        }
      }
      free(order);
      ntick_lost = ntick_ended = 0;
      size_t kept_before = sched_instances_kept(h.s);
      h_tick(&h);
      forgotten += (int)(kept_before - sched_instances_kept(h.s));
      ticks++;
      int same = ntick_lost == nwant_lost && !memcmp(tick_lost, want_lost, nwant_lost * sizeof *want_lost);
      CHECK(same, "step %d: the Tick declared %zu LOST, a walk of all %zu instances finds %zu silent (or another order)",
            step, ntick_lost, h.s->ninsts, nwant_lost);
      bad += !same;
      same = ntick_ended == nwant_ended && !memcmp(tick_ended, want_ended, nwant_ended * sizeof *want_ended);
      CHECK(same, "step %d: the Tick ended %zu running jobs, %zu ran on the lost instances (or another order)", step,
            ntick_ended, nwant_ended);
      bad += !same;
      lost += (int)nwant_lost;
      ended += (int)nwant_ended;
    } else if (r < 85) {
      char id[32];
      snprintf(id, sizeof id, "job-%05d", njobs++);
      h_submit(&h, id, "q", rnd(2) ? "one" : "two", NULL);
    } else {
      for (int tries = 0; tries < 20; tries++) {
        uint32_t k = (uint32_t)sched_job_count(h.s);
        if (!k) break;
        struct job *j = h.s->jobs[rnd(k)];
        if ((j->status != JOB_STARTING && j->status != JOB_RUNNING) || j->instance == SCHED_NONE) continue;
        h_exec(&h, j->id, j->attempt, h.s->insts[j->instance]->id, j->status == JOB_STARTING ? "STARTED" : "EXITED", 0,
               NULL);
        break;
      }
    }
    check_books(h.s, step);
    if (bad) break;
  }
  size_t gone = 0;
  for (size_t i = 0; i < h.s->ninsts; i++) gone += h.s->insts[i] && h.s->insts[i]->state == INST_GONE;
  printf("   %d Ticks: %d instances lost, %d running jobs ended by it; %d gone ids registered again; %zu of %zu kept "
         "gone at the end, %d forgotten\n",
         ticks, lost, ended, reregistered, gone, sched_instances_kept(h.s), forgotten);
  CHECK(!bad, "the Tick and the walk of all instances disagree (above)");
  CHECK(ticks > 300 && lost > 100 && ended > 100 && reregistered > 50 && forgotten > 50, "the run covered too little");
  h_release(&h);
}

int main(void) {
  test_books_follow_every_event();
  test_list_drops_gone_instances();
  test_instance_moves_ce();
  test_restored_overcommit_gets_room();
  test_tick_after_churn();
  return check_summary();
}
