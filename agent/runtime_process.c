/* runtime_process.c: the process runtime (runtime.h). The runner (runner.c) runs the command
 * as a host process group; each attempt also gets a cgroup of its own (cgroup.c) that carries
 * its CPU quota and memory limit, whose OOM-kill counter (its growth during the attempt) tells
 * an attempt killed for its memory, and whose remaining processes die with the attempt. An
 * emptied group is kept for a later attempt of the same limits (one attempt at a time). Without a usable cgroup tree
 * (or with --cgroup-root none) attempts run unlimited, as before, with one warning. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "runtime.h"

struct pslot {
  char *job_id;
  int attempt;
  struct cgroup *cg;
  long oom_base; /* the group's OOM-kill count when the attempt started */
};

/* Emptied attempt groups kept for the next attempts of the same limits: creating and removing a
 * memory and a cpu cgroup per attempt was about half of the agent's CPU with trivial jobs. */
#define POOL_MAX 256
/* The first POOL_KEEP_OPEN groups of the pool keep their join files open (cgroup.h, join_fds):
 * opening and closing them for every attempt was two path walks through the cgroup tree each;
 * past that (a burst of hundreds of attempts) a group's files are closed, to bound the
 * descriptors held, and opened again when it is reused. */
#define POOL_KEEP_OPEN 64

struct proc_rt {
  struct runner *runner;
  char *cg_root; /* NULL = no cgroups */
  char *cg_parent;
  struct pslot *slots;
  int n, cap;
  struct cgroup *pool[POOL_MAX];
  int npool;
  long long groups; /* groups created, for their names */
  /* the caller's callback, while runner_poll runs */
  run_event_fn cb;
  void *ctx;
};

/* The cgroup tree an earlier incarnation used, from <state_dir>/cgroup-root: its groups are swept
 * (runtime_process_new) even when this one runs with another --cgroup-root, or none, since its
 * attempts' process groups were not recorded (run_event.swept). Then this one's is recorded. */
static void sweep_earlier_root(const struct runtime_conf *conf, const char *root, const char *parent) {
  if (!conf->state_dir) return;
  char path[4400], prev[4096];
  snprintf(path, sizeof path, "%s/cgroup-root", conf->state_dir);
  ssize_t n = read_small(path, prev, sizeof prev);
  while (n > 0 && prev[n - 1] == '\n') prev[--n] = 0;
  if (n > 0 && (!root || strcmp(prev, root)) && cg_version(prev)) {
    int left = cg_sweep(prev, parent);
    cg_remove_parent(prev, parent);
    if (left) log_warn("process runtime: removed %d attempt cgroup(s) left by an earlier incarnation under %s", left, prev);
  }
  if (!root) {
    unlink(path);
  } else if (n < 0 || strcmp(prev, root)) {
    char line[4200];
    int k = snprintf(line, sizeof line, "%.4096s\n", root);
    if (write_file_atomic(path, line, (size_t)k)) log_warn("cannot record the cgroup tree in %s", path);
  }
}

void *runtime_process_new(const struct runtime_conf *conf, char *err, size_t errlen) {
  struct proc_rt *p = xcalloc(1, sizeof *p);
  p->runner = runner_new(&conf->runner, err, errlen);
  if (!p->runner) {
    free(p);
    return NULL;
  }
  const char *root = conf->cgroup_root ? conf->cgroup_root : "/sys/fs/cgroup";
  /* the instance id and a hash of the agent's state folder (<log-dir>/.agents/<id>): the same
   * across restarts of this agent, so a new incarnation sweeps its predecessor's groups, and
   * apart for another stack's agent that happens to use the same instance id */
  struct buf b;
  buf_init(&b);
  uint32_t h = 2166136261u;
  for (const char *c = conf->state_dir ? conf->state_dir : ""; *c; c++) h = (h ^ (unsigned char)*c) * 16777619u;
  buf_printf(&b, "barge/%s-%08x", conf->instance_id ? conf->instance_id : "agent", h);
  p->cg_parent = (char *)b.data;
  if (strcmp(root, "none")) {
    int v = cg_version(root);
    if (v) {
      p->cg_root = xstrdup(root);
      log_info("process runtime: limits with cgroup v%d under %s/%s", v, root, p->cg_parent);
      int left = cg_sweep(root, p->cg_parent);
      if (left) log_warn("process runtime: removed %d attempt cgroup(s) left by an earlier incarnation", left);
      /* the state folder, and so the groups' parent, follows --log-dir: an earlier start of this
       * agent with another --log-dir is not swept; said, since its attempts may run on */
      char prefix[300], other[4096];
      snprintf(prefix, sizeof prefix, "%.200s-", conf->instance_id ? conf->instance_id : "agent");
      int others = cg_others(root, p->cg_parent, prefix, other, sizeof other);
      if (others)
        log_warn("process runtime: %d process(es) run in %s, the attempt cgroups of an agent with this --instance-id "
                 "and another --log-dir (its state folder <log-dir>/.agents/%s is another one). If that was an "
                 "earlier start of this agent, its attempts still run and this one does not stop them: kill what "
                 "%s/*/cgroup.procs lists, and keep --log-dir the same across restarts (docs/operations.md). "
                 "Else give each agent its own --instance-id",
                 others, other, conf->instance_id ? conf->instance_id : "agent", other);
    } else {
      log_warn("process runtime: no usable cgroup tree at %s: VCPU and MEMORY are not enforced", root);
    }
  }
  sweep_earlier_root(conf, p->cg_root, p->cg_parent);
  return p;
}

static void pfree(void *impl) {
  struct proc_rt *p = impl;
  if (!p) return;
  runner_free(p->runner);
  for (int i = 0; i < p->n; i++) {
    cg_destroy(p->slots[i].cg);
    free(p->slots[i].job_id);
  }
  free(p->slots);
  for (int i = 0; i < p->npool; i++) cg_destroy(p->pool[i]);
  if (p->cg_root) cg_remove_parent(p->cg_root, p->cg_parent);
  free(p->cg_root);
  free(p->cg_parent);
  free(p);
}

/* An emptied group of these limits from the pool, ready to join, or a new one. NULL: why. */
static struct cgroup *take_group(struct proc_rt *p, const struct rt_spec *spec, char *why, size_t whylen) {
  for (int i = p->npool - 1; i >= 0; i--) {
    struct cgroup *cg = p->pool[i];
    if (cg->mem_mib != spec->mem_mib || cg->vcpus != spec->vcpus) continue;
    p->pool[i] = p->pool[--p->npool];
    if (cg_reuse(cg, why, whylen) == 0) return cg;
    cg_destroy(cg);
    break;
  }
  char name[64];
  snprintf(name, sizeof name, "a%lld", ++p->groups);
  struct cgroup *cg = cg_create(p->cg_root, p->cg_parent, name, spec->mem_mib, spec->vcpus, why, whylen);
  if (cg) cg->oom_count = cg_oom_kills(cg);
  return cg;
}

/* After an attempt: what is left in its group is killed, then its OOM-kill count is read once,
 * both the attempt's verdict (against the count it started with) and the next attempt's start;
 * an emptied group goes to the pool. The count after the attempt's last processes are gone. */
static long give_group(struct proc_rt *p, struct cgroup *cg) {
  int left = cg_kill_all(cg);
  long oom = cg_oom_kills(cg);
  if (p->npool < POOL_MAX && left == 0) {
    cg->oom_count = oom;
    if (p->npool >= POOL_KEEP_OPEN) cg_close_join(cg);
    p->pool[p->npool++] = cg;
  } else {
    cg_destroy(cg);
  }
  return oom;
}

static int pstart(void *impl, const struct rt_spec *spec, char *err, size_t errlen) {
  struct proc_rt *p = impl;
  struct cgroup *cg = NULL;
  struct run_spec rs = spec->run;
  if (p->cg_root && (spec->mem_mib > 0 || spec->vcpus > 0)) {
    char why[512];
    cg = take_group(p, spec, why, sizeof why);
    if (!cg) {
      log_warn("%s attempt %d: no cgroup, limits not enforced: %s", spec->run.job_id, spec->run.attempt, why);
    } else {
      rs.join_fds = cg->join_fds; /* borrowed by the runner until the attempt's first event */
      rs.njoin = cg->n;
    }
  }
  int rc = runner_start(p->runner, &rs, err, errlen);
  if (rc) {
    cg_destroy(cg);
    return rc;
  }
  if (p->n == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 16;
    p->slots = xrealloc(p->slots, sizeof *p->slots * (size_t)p->cap);
  }
  p->slots[p->n++] = (struct pslot){xstrdup(spec->run.job_id), spec->run.attempt, cg, cg ? cg->oom_count : 0};
  return 0;
}

static int pkill(void *impl, const char *job_id, int attempt, const char *reason) {
  return runner_kill(((struct proc_rt *)impl)->runner, job_id, attempt, reason);
}

static int pkill_all(void *impl, const char *reason) {
  return runner_kill_all(((struct proc_rt *)impl)->runner, reason);
}

/* A runner event, completed with the cgroup's verdict and passed on. */
static void on_event(void *ctx, const struct run_event *ev) {
  struct proc_rt *p = ctx;
  int i = 0;
  while (i < p->n && (p->slots[i].attempt != ev->attempt || strcmp(p->slots[i].job_id, ev->job_id))) i++;
  struct run_event e = *ev;
  e.swept = i < p->n && p->slots[i].cg;
  if (ev->kind == RUN_STARTED || i == p->n) {
    p->cb(p->ctx, &e);
    return;
  }
  struct cgroup *cg = p->slots[i].cg;
  /* whatever is left in the attempt dies with it; an OOM kill in its group is the attempt's end
   * unless its main process exited 0 (a child of it was killed, and the job went on and succeeded:
   * its exit code stays 0, as the container runtimes report it; docs/containers.md, "Limits") */
  if (cg && give_group(p, cg) > p->slots[i].oom_base && e.kind == RUN_EXITED && e.exit_code != 0) {
    e.reason = RUNTIME_REASON_OOM;
    if (e.exit_code < 0) e.exit_code = 137;
  }
  free(p->slots[i].job_id);
  p->slots[i] = p->slots[--p->n];
  p->cb(p->ctx, &e);
}

static int ppoll(void *impl, int64_t now, run_event_fn cb, void *ctx) {
  struct proc_rt *p = impl;
  p->cb = cb;
  p->ctx = ctx;
  return runner_poll(p->runner, now, on_event, p);
}

static int pactive(const void *impl) { return runner_active(((const struct proc_rt *)impl)->runner); }

const struct runtime_ops runtime_process_ops = {pstart, pkill, pkill_all, ppoll, pactive, pfree};
