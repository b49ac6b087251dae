/* sched_gang.c: multi-node parallel jobs (docs/job-model.md, "Multi-node parallel jobs").
 *
 * A multinode submission is a parent job (the one that waits in its queue) and numNodes node
 * jobs <jobId>#<i>, created with it, PENDING until the gang is placed. The parent is placed as
 * a gang: every node on its own instance, all in one compute environment, in one dispatch pass,
 * or none of them, so a gang that cannot fit whole never holds capacity while smaller jobs run.
 * Each node then lives as a job of its own (its attempts, its exit); the main node's start
 * makes the parent RUNNING and its end decides the parent, whose remaining nodes are
 * terminated. Pure (see sched.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_int.h"

static struct job *node_of(const struct sched *s, const struct job *p, int i) {
  return s->jobs[p->mnp->first_node + (uint32_t)i];
}

static int index_of(const struct job *p, const struct job *node) {
  return (int)(node->idx - p->mnp->first_node);
}

/* Whether targetNodes t of a job of n nodes holds node i. */
static int in_range(const char *t, int n, int i) {
  int lo, hi;
  return !target_nodes_parse(t, n, &lo, &hi) && lo <= i && i <= hi;
}

/* The container (scheduler form) of the node range of definition d that holds node i of n. */
static const json_t *range_container(const struct jobdef *d, int n, int i) {
  size_t k;
  json_t *r;
  json_array_foreach(json_object_get(d->nodes, "nodeRangeProperties"), k, r)
      if (in_range(jget_str(r, "targetNodes"), n, i)) return json_object_get(r, "container");
  return NULL;
}

/* A node's spec: its range's container with the nodePropertyOverrides (ovs) that hold node i
 * of n, the rest as the parent's. One attempt: a gang is retried whole or not at all, and
 * Barge does not retry gangs yet. */
static struct spec *node_spec(const struct spec *ps, const json_t *container, const json_t *ovs,
                              int n, int i) {
  struct spec *sp = sched_spec_new();
  sp->name = xstrdup(ps->name);
  sp->jd = ps->jd;
  sp->container = json_deep_copy(container);
  size_t k;
  json_t *e;
  json_array_foreach(ovs, k, e) {
    json_t *co = json_object_get(e, "containerOverrides");
    char err[200];
    if (json_is_object(co) && in_range(jget_str(e, "targetNodes"), n, i) &&
        sched_apply_overrides(sp->container, co, "nodeOverrides", err, sizeof err))
      continue; /* not after the producer's checks (reserved names are refused there) */
  }
  sp->params = ps->params ? json_incref(ps->params) : json_object();
  sched_substitute(json_object_get(sp->container, "command"), sp->params);
  sched_resources(sp->container, &sp->vcpus, &sp->mem_mib, &sp->gpus);
  sched_parse_retry(NULL, &sp->retry);
  sp->timeout_s = ps->timeout_s;
  sp->share_id = sched_dupn(ps->share_id);
  sp->sched_prio = ps->sched_prio;
  sp->tags = ps->tags ? json_deep_copy(ps->tags) : NULL;
  sp->propagate_tags = ps->propagate_tags;
  sp->arn_prefix = sched_dupn(ps->arn_prefix);
  return sp;
}

void sched_gang_spawn(struct sched *s, struct job *p, const json_t *sub) {
  const struct jobdef *d = p->spec->jd;
  const json_t *no = json_object_get(sub, "nodeOverrides");
  const json_t *ovs = json_object_get(no, "nodePropertyOverrides");
  p->mnp = xcalloc(1, sizeof *p->mnp);
  p->mnp->num_nodes = (int)jget_int(d->nodes, "numNodes", 1);
  if (json_is_integer(json_object_get(no, "numNodes"))) p->mnp->num_nodes = (int)jget_int(no, "numNodes", 1);
  p->mnp->main_node = (int)jget_int(d->nodes, "mainNode", 0);
  p->mnp->first_node = (uint32_t)s->njobs;
  const json_t *last = NULL;
  struct spec *sp = NULL;
  for (int i = 0; i < p->mnp->num_nodes; i++) {
    const json_t *c = range_container(d, p->mnp->num_nodes, i);
    if (!c) c = p->spec->container; /* not after the producer's checks: every node is in a range */
    if (c != last || json_array_size(ovs)) { /* the nodes of one range share its spec */
      sched_spec_unref(sp);
      sp = node_spec(p->spec, c, ovs, p->mnp->num_nodes, i);
      last = c;
    }
    char id[64];
    snprintf(id, sizeof id, "%s#%d", p->id, i);
    sched_mark_dirty(s, sched_child_new(s, p, id, sp));
  }
  sched_spec_unref(sp);
  /* it waits in its queue with its main node's shape */
  const struct spec *ms = node_of(s, p, p->mnp->main_node)->spec;
  p->spec->vcpus = ms->vcpus;
  p->spec->mem_mib = ms->mem_mib;
  p->spec->gpus = ms->gpus;
}

int sched_gang_place(struct sched *s, struct queue *q, struct job *p, struct outbox *out) {
  int n = p->mnp->num_nodes, placed = 0;
  uint32_t *pick = xmalloc((size_t)n * sizeof *pick);
  for (int k = 0; k < q->nce && !placed; k++) {
    struct ce *c = s->ces[q->ce[k]];
    if (c->deleted || !c->enabled || !c->valid || c->navail < (size_t)n) continue;
    if (c->reserved_for != SCHED_NONE && c->reserved_for != p->idx) continue;
    /* one instance per node: each node's best fit among the instances no other node took */
    int i = 0;
    for (; i < n; i++) {
      const struct spec *sp = node_of(s, p, i)->spec;
      pick[i] = sched_best_instance(s, c, sp->vcpus, sp->mem_mib, sp->gpus, pick, i);
      if (pick[i] == SCHED_NONE) break;
    }
    if (i < n) continue; /* nothing was taken: the picks were only looked at */
    for (i = 0; i < n; i++) sched_place_job(s, node_of(s, p, i), pick[i], out);
    placed = 1;
  }
  free(pick);
  if (placed) {
    p->attempt++;
    sched_set_status(s, p, JOB_STARTING, NULL, out);
  }
  return placed;
}

void sched_gang_node_changed(struct sched *s, struct job *node, int old, struct outbox *out) {
  struct job *p = s->jobs[node->parent];
  (void)old;
  if (sched_terminal(p->status) || index_of(p, node) != p->mnp->main_node) return;
  if (node->status == JOB_RUNNING && p->status == JOB_STARTING) {
    p->started_at = node->started_at;
    sched_set_status(s, p, JOB_RUNNING, NULL, out);
  } else if (sched_terminal(node->status)) {
    char r[SCHED_STOP_REASON_BUF];
    const char *reason = node->status_reason;
    if (p->terminated && p->stop_reason) {
      snprintf(r, sizeof r, "Terminated: %s", p->stop_reason);
      reason = r;
    }
    p->exit_code = node->exit_code;
    sched_set_str(&p->container_reason, node->container_reason);
    if (!p->started_at) p->started_at = node->started_at;
    sched_set_status(s, p, node->status == JOB_SUCCEEDED ? JOB_SUCCEEDED : JOB_FAILED, reason, out);
    sched_job_terminal(s, p, out);
  }
}

void sched_gang_parent_ended(struct sched *s, struct job *p, struct outbox *out) {
  char why[160];
  snprintf(why, sizeof why, "The main node (%s#%d) of the multi-node job ended", p->id, p->mnp->main_node);
  for (int i = 0; i < p->mnp->num_nodes; i++) {
    struct job *n = node_of(s, p, i);
    if (n->status == JOB_STARTING || n->status == JOB_RUNNING) {
      sched_stop_job(s, n, 1, why, out);
    } else if (!sched_terminal(n->status)) {
      if (p->cancelled) n->cancelled = 1;
      if (p->terminated) n->terminated = 1;
      sched_fail_job(s, n, p->status_reason ? p->status_reason : why, out);
    }
  }
}

void sched_gang_stop(struct sched *s, struct job *p, int terminate, const char *reason,
                     struct outbox *out) {
  if (!terminate || p->terminated) return; /* CancelJob leaves started jobs alone */
  p->terminated = 1;
  sched_set_str(&p->stop_reason, reason);
  sched_mark_dirty(s, p);
  for (int i = 0; i < p->mnp->num_nodes; i++) {
    struct job *n = node_of(s, p, i);
    if (!sched_terminal(n->status)) sched_stop_job(s, n, 1, reason, out);
  }
}

static void env_int(json_t *env, const char *name, int v) {
  char text[16];
  snprintf(text, sizeof text, "%d", v);
  json_array_append_new(env, json_pack("{s:s, s:s}", "name", name, "value", text));
}

void sched_gang_env(struct sched *s, const struct job *node, json_t *env) {
  const struct job *p = sched_gang_parent(s, node);
  if (!p) return;
  int i = index_of(p, node);
  env_int(env, "AWS_BATCH_JOB_NODE_INDEX", i);
  env_int(env, "AWS_BATCH_JOB_NUM_NODES", p->mnp->num_nodes);
  env_int(env, "AWS_BATCH_JOB_MAIN_NODE_INDEX", p->mnp->main_node);
  if (i == p->mnp->main_node) return; /* as in AWS Batch, the main node is not told its own address */
  const struct job *m = node_of(s, p, p->mnp->main_node);
  const char *addr = m->instance != SCHED_NONE ? s->insts[m->instance]->address : NULL;
  if (addr)
    json_array_append_new(env, json_pack("{s:s, s:s}", "name", "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS",
                                         "value", addr));
}

void sched_gang_detail(struct sched *s, const struct job *j, json_t *d) {
  if (j->mnp) {
    json_object_del(d, "container"); /* a multi-node parent has no container of its own */
    json_object_set_new(d, "nodeProperties", json_pack("{s:i, s:i}", "numNodes", j->mnp->num_nodes,
                                                       "mainNode", j->mnp->main_node));
    return;
  }
  const struct job *p = sched_gang_parent(s, j);
  if (!p) return;
  int i = index_of(p, j);
  json_object_set_new(d, "nodeDetails", json_pack("{s:i, s:b}", "nodeIndex", i, "isMainNode",
                                                  i == p->mnp->main_node));
}

void sched_gang_relink(struct sched *s, struct job *p, int num_nodes, int main_node,
                       uint32_t first_node) {
  p->mnp = xcalloc(1, sizeof *p->mnp);
  p->mnp->num_nodes = num_nodes;
  p->mnp->main_node = main_node;
  p->mnp->first_node = first_node;
  for (int i = 0; i < num_nodes; i++) node_of(s, p, i)->parent = p->idx;
  struct spec *ms = node_of(s, p, main_node)->spec; /* the shape it waits with in its queue */
  ms->refs++;
  sched_spec_unref(p->spec);
  p->spec = ms;
}
