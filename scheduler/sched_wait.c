/* sched_wait.c: why a job is not placed, as its statusReason (docs/job-model.md §3.5, §3.7):
 * AWS's blocking codes with AWS's wording, and Barge's own wait reasons (WAITING:...) for a
 * queue head the cycle left unplaced, a fair-share wait and unfinished dependencies.
 *
 * A reason goes out only when it changes: the job's record (barge.jobs) and one compact JobWait
 * (barge.job-waits) with what the core saw, which `barge explain` reads back. Head reasons are
 * judged at Ticks only and only for heads (one job per FIFO queue, one per share), so a busy
 * scheduler writes at most a few records per tick for them, never one per job per cycle; the
 * words of a reason name only what rarely changes (codes, CE and job names, the job's shape),
 * the changing figures (free vCPUs, usage) travel in the JobWait's detail. Pure (see sched.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_int.h"

static const char *const CODES[] = {
    "ACTION_REQUIRED", /* its wording is the whole reason, below */
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
};

const char *sched_code_of(const char *reason) {
  if (!reason) return NULL;
  for (size_t i = 0; i < sizeof CODES / sizeof *CODES; i++) {
    size_t n = strlen(CODES[i]);
    if (!strncmp(reason, CODES[i], n) && (reason[n] == '\0' || !strncmp(reason + n, " - ", 3)))
      return CODES[i];
  }
  return NULL;
}

int sched_is_code(const char *r) { return sched_code_of(r) != NULL; }

void sched_code_text(const char *code, const char *refused_type, char *out, size_t outlen) {
  if (!strcmp(code, CODES[0]))
    snprintf(out, outlen, "ACTION_REQUIRED - CE(s) associated with the job queue are invalid.");
  else if (!strcmp(code, CODES[1]))
    snprintf(out, outlen, "%s - CE(s) associated with the job queue cannot meet the CPU requirement of the job.", code);
  else if (!strcmp(code, CODES[2]))
    snprintf(out, outlen, "%s - The job resource requirement (vCPU/memory/GPU) is higher than that can be met by the CE(s) attached to the job queue.", code);
  else if (refused_type && *refused_type)
    snprintf(out, outlen, "%s - Service cannot fulfill the capacity requested for instance type %s", code, refused_type);
  else
    snprintf(out, outlen, "%s - Service cannot fulfill the capacity requested", code);
}

int sched_set_wait(struct sched *s, struct job *j, const char *text, json_t *detail,
                   struct outbox *out) {
  if ((!text && !j->status_reason) || (text && j->status_reason && !strcmp(text, j->status_reason))) {
    json_decref(detail);
    return 0;
  }
  sched_set_str(&j->status_reason, text);
  sched_mark_dirty(s, j);
  struct out_ev *e = sched_out_push(out, OUT_WAIT);
  e->job = j->idx;
  e->at_ms = s->now;
  e->reason = sched_dupn(text);
  e->detail = detail;
  return 1;
}

int sched_ce_usable(const struct ce *c) { return !c->deleted && c->enabled && c->valid; }

int sched_ce_can_hold(struct ce *c, const struct spec *sp) {
  return c->managed ? sp->vcpus <= c->maxv && sched_ce_type_fits(c, sp->vcpus, sp->mem_mib, sp->gpus)
                    : sp->vcpus <= c->max_v && sp->mem_mib <= c->max_m && sp->gpus <= c->max_g;
}

/* What blocked jobs' JobWait says beyond the code, for a blocking code. New reference. */
json_t *sched_code_detail(struct sched *s, struct queue *q, const struct job *j, const char *code) {
  const struct spec *sp = j->spec;
  char d[512] = "";
  const struct ce *first = q->nce ? s->ces[q->ce[0]] : NULL;
  if (!strcmp(code, CODES[1])) {
    const struct ce *big = NULL;
    for (int k = 0; k < q->nce; k++)
      if (!s->ces[q->ce[k]]->deleted && (!big || s->ces[q->ce[k]]->maxv > big->maxv)) big = s->ces[q->ce[k]];
    if (big) {
      snprintf(d, sizeof d, "the job needs %d vCPUs; the largest maxvCpus of queue %s's compute environments is %d (%s)",
               sp->vcpus, q->name, big->maxv, big->name);
      first = big;
    }
  } else if (!strcmp(code, CODES[2])) {
    if (first && !first->managed)
      snprintf(d, sizeof d, "the job needs %d vCPUs, %d MiB and %d GPUs; the largest instance of %s has %d vCPUs, %d MiB and %d GPUs",
               sp->vcpus, sp->mem_mib, sp->gpus, first->name, first->max_v, first->max_m, first->max_g);
    else
      snprintf(d, sizeof d, "the job needs %d vCPUs, %d MiB and %d GPUs; no instance type the compute environment(s) of queue %s allow holds that",
               sp->vcpus, sp->mem_mib, sp->gpus, q->name);
  } else if (!strcmp(code, CODES[3])) {
    for (int k = 0; k < q->nce && !*d; k++) {
      struct ce *c = s->ces[q->ce[k]];
      if (c->launch_refused && c->managed && !c->deleted && sched_ce_can_hold(c, sp)) { /* a candidate (§3.5) */
        snprintf(d, sizeof d, "the instance provider refused the latest launch in %s: %s", c->name,
                 c->refused_why[0] ? c->refused_why : "no reason given");
        first = c;
      }
    }
  } else {
    snprintf(d, sizeof d, "no compute environment of queue %s is usable (none left, all deleted or not VALID)", q->name);
  }
  json_t *r = json_pack("{s:s}", "detail", d);
  if (first) json_object_set_new(r, "computeEnvironment", json_string(first->name));
  return r;
}

/* ---------------- a head the cycle left unplaced ---------------- */

/* "i-1 has 0 of 2 vCPUs, 512 of 1024 MiB and 0 of 0 GPUs free" for the instance of c that
 * comes closest (most free vCPUs; ties to the lowest id), or what c has when it has none. */
static const char *closest_instance(struct sched *s, const struct ce *c, char *d, size_t dl) {
  const struct instance *best = NULL;
  int64_t total_v = 0;
  size_t live = 0;
  for (size_t i = 0; i < c->ninst; i++) {
    const struct instance *in = s->insts[c->insts[i]];
    if (in->state == INST_GONE) continue;
    live++;
    total_v += in->cap_v;
    if (in->state != INST_READY) continue;
    if (!best || in->cap_v - in->used_v > best->cap_v - best->used_v) best = in;
  }
  if (!live) {
    snprintf(d, dl, "%s has no instance yet%s", c->name,
             c->managed ? " (the provisioner is asked for one)" : " (no agent has registered with it)");
    return NULL;
  }
  char full[96] = "";
  if (c->managed) snprintf(full, sizeof full, ", maxvCpus %d", c->maxv);
  if (!best) {
    snprintf(d, dl, "%s has %zu instance(s), all draining (%lld vCPUs in all%s)", c->name, live, (long long)total_v, full);
    return NULL;
  }
  snprintf(d, dl, "instance %s has %d of %d vCPUs, %d of %d MiB and %d of %d GPUs free; %s has %zu instance(s) with %lld vCPUs in all%s",
           best->id, best->cap_v - best->used_v, best->cap_v, best->cap_m - best->used_m, best->cap_m,
           best->cap_g - best->used_g, best->cap_g, c->name, live, (long long)total_v, full);
  return best->id;
}

/* Whether a managed CE's instances already reach its maxvCpus (it cannot grow). */
static int ce_at_max(const struct ce *c) { return c->managed && c->live_v >= c->maxv; }

/* WAITING:CAPACITY: no instance of the queue's usable CEs has room for the job now. The CEs
 * named are those able to hold it and the unmanaged ones with no instance yet (whose first agent
 * may: the reason a job without a blocking code waits on them, §3.5). extra (@owned, may be
 * NULL) adds members to the JobWait. */
static void capacity_wait(struct sched *s, struct queue *q, struct job *j, json_t *extra,
                          struct outbox *out) {
  const struct spec *sp = j->spec;
  char names[256] = "", fullnames[256] = "", d[512] = "";
  const struct ce *first = NULL;
  const char *inst = NULL;
  for (int k = 0; k < q->nce; k++) {
    struct ce *c = s->ces[q->ce[k]];
    if (!sched_ce_usable(c) || !(sched_ce_can_hold(c, sp) || (!c->managed && c->live == 0))) continue;
    size_t n = strlen(names);
    snprintf(names + n, sizeof names - n, "%s%s", n ? ", " : "", c->name);
    if (ce_at_max(c)) {
      n = strlen(fullnames);
      snprintf(fullnames + n, sizeof fullnames - n, "%s%s (maxvCpus %d)", n ? ", " : "", c->name, c->maxv);
    }
    if (!first) {
      first = c;
      inst = closest_instance(s, c, d, sizeof d);
    }
  }
  char text[768];
  if (!first)
    snprintf(text, sizeof text, "WAITING:CAPACITY - no compute environment of queue %s that could hold the job is ENABLED", q->name);
  else
    snprintf(text, sizeof text, "WAITING:CAPACITY - no instance of compute environment %s has %d vCPUs, %d MiB and %d GPUs free%s%s",
             names, sp->vcpus, sp->mem_mib, sp->gpus, *fullnames ? "; at its maxvCpus: " : "", fullnames);
  json_t *det = extra ? extra : json_object();
  json_object_set_new(det, "detail", json_string(d));
  if (first) json_object_set_new(det, "computeEnvironment", json_string(first->name));
  if (inst) json_object_set_new(det, "instanceId", json_string(inst));
  sched_set_wait(s, j, text, det, out);
}

void sched_wait_head(struct sched *s, struct queue *q, struct job *j, struct outbox *out) {
  for (int k = 0; k < q->nce; k++) {
    struct ce *c = s->ces[q->ce[k]];
    if (!sched_ce_usable(c) || c->reserved_for == SCHED_NONE || c->reserved_for == j->idx ||
        !sched_ce_can_hold(c, j->spec))
      continue;
    const struct job *h = s->jobs[c->reserved_for];
    const struct queue *hq = s->queues[h->queue];
    char text[512], d[512];
    snprintf(text, sizeof text, "WAITING:HEAD_RESERVATION - compute environment %s is held for job %s, the head of queue %s",
             c->name, h->id, hq->name);
    snprintf(d, sizeof d, "job %s has been the head of queue %s for %lld s (more than the %lld s reservation threshold) and does not fit yet; %s takes no other job until it is placed",
             h->id, hq->name, (long long)((s->now - hq->head_since) / 1000), (long long)(s->conf.reservation_ms / 1000), c->name);
    sched_set_wait(s, j, text, json_pack("{s:s, s:s, s:s}", "computeEnvironment", c->name, "aheadJobId", h->id, "detail", d), out);
    return;
  }
  capacity_wait(s, q, j, NULL, out);
}

void sched_wait_fair(struct sched *s, struct queue *q, const double *usage, const char *held_back,
                     int reservation, struct outbox *out) {
  size_t lead = SIZE_MAX;
  for (size_t i = 0; i < q->nshares_; i++)
    if (q->shares[i].rq.head != SCHED_NONE && !held_back[i] && (lead == SIZE_MAX || usage[i] < usage[lead])) lead = i;
  for (size_t i = 0; i < q->nshares_; i++) {
    struct share *sh = &q->shares[i];
    if (sh->rq.head == SCHED_NONE) continue;
    struct job *j = s->jobs[sh->rq.head];
    if (j->status != JOB_RUNNABLE || sched_is_code(j->status_reason)) continue;
    json_t *det = json_pack("{s:s, s:f}", "shareIdentifier", sh->id, "shareUsage", usage[i]);
    char text[512], d[512];
    if (held_back[i]) {
      snprintf(text, sizeof text, "WAITING:FAIR_SHARE - share %s would use capacity of queue %s that computeReservation (%d) holds back for inactive shares",
               sh->id, q->name, reservation);
      snprintf(d, sizeof d, "share %s has a weighted usage of %.1f and %lld vCPUs running", sh->id, usage[i], (long long)sh->held_vcpus);
    } else if (lead != SIZE_MAX && lead != i && usage[lead] < usage[i]) {
      const struct share *ls = &q->shares[lead];
      snprintf(text, sizeof text, "WAITING:FAIR_SHARE - share %s has used more than share %s, which goes first in queue %s",
               sh->id, ls->id, q->name);
      snprintf(d, sizeof d, "weighted usage: share %s %.1f, share %s %.1f; no room is left for both", sh->id, usage[i], ls->id, usage[lead]);
      json_object_set_new(det, "leadingShare", json_string(ls->id));
      json_object_set_new(det, "leadingShareUsage", json_real(usage[lead]));
    } else {
      capacity_wait(s, q, j, det, out);
      continue;
    }
    json_object_set_new(det, "detail", json_string(d));
    sched_set_wait(s, j, text, det, out);
  }
}

/* ---------------- dependencies ---------------- */

int sched_dep_reason(const struct sched *s, const struct job *j, char *out, size_t outlen) {
  const struct job *first = NULL;
  int left = 0;
  for (uint16_t k = 0; k < j->ndeps; k++) {
    const struct job *d = s->jobs[j->deps[k]];
    if (sched_terminal(d->status)) continue;
    if (!first) first = d;
    left++;
  }
  if (!first) return 0;
  if (left == 1) snprintf(out, outlen, "WAITING:DEPENDENCY - waiting for job %s", first->id);
  else snprintf(out, outlen, "WAITING:DEPENDENCY - waiting for job %s and %d more", first->id, left - 1);
  return 1;
}
