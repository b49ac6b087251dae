/* runtime_process.c: the process runtime (runtime.h). The runner (runner.c) runs the command
 * as a host process group; each attempt also gets a cgroup of its own (cgroup.c) that carries
 * its CPU quota and memory limit, whose OOM-kill counter tells an attempt killed for its
 * memory, and whose remaining processes die with the attempt. Without a usable cgroup tree
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
};

struct proc_rt {
  struct runner *runner;
  char *cg_root; /* NULL = no cgroups */
  char *cg_parent;
  struct pslot *slots;
  int n, cap;
  /* the caller's callback, while runner_poll runs */
  run_event_fn cb;
  void *ctx;
};

void *runtime_process_new(const struct runtime_conf *conf, char *err, size_t errlen) {
  struct proc_rt *p = xcalloc(1, sizeof *p);
  p->runner = runner_new(&conf->runner, err, errlen);
  if (!p->runner) {
    free(p);
    return NULL;
  }
  const char *root = conf->cgroup_root ? conf->cgroup_root : "/sys/fs/cgroup";
  if (strcmp(root, "none")) {
    int v = cg_version(root);
    if (v) {
      p->cg_root = xstrdup(root);
      struct buf b;
      buf_init(&b);
      buf_printf(&b, "barge/%s", conf->instance_id ? conf->instance_id : "agent");
      p->cg_parent = (char *)b.data;
      log_info("process runtime: limits with cgroup v%d under %s/%s", v, root, p->cg_parent);
      int left = cg_sweep(root, p->cg_parent);
      if (left) log_warn("process runtime: removed %d attempt cgroup(s) left by an earlier incarnation", left);
    } else {
      log_warn("process runtime: no usable cgroup tree at %s: VCPU and MEMORY are not enforced", root);
    }
  }
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
  if (p->cg_root) cg_remove_parent(p->cg_root, p->cg_parent);
  free(p->cg_root);
  free(p->cg_parent);
  free(p);
}

static int pstart(void *impl, const struct rt_spec *spec, char *err, size_t errlen) {
  struct proc_rt *p = impl;
  struct cgroup *cg = NULL;
  struct run_spec rs = spec->run;
  if (p->cg_root && (spec->mem_mib > 0 || spec->vcpus > 0)) {
    char name[600];
    snprintf(name, sizeof name, "%.500s-%d", spec->run.job_id, spec->run.attempt);
    for (char *c = name; *c; c++)
      if (*c == '/' || *c == ':' || *c == '#') *c = '_';
    char why[512];
    cg = cg_create(p->cg_root, p->cg_parent, name, spec->mem_mib, spec->vcpus, why, sizeof why);
    if (!cg) {
      log_warn("%s attempt %d: no cgroup, limits not enforced: %s", spec->run.job_id, spec->run.attempt, why);
    } else {
      rs.join_fds = cg->join_fds;
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
  p->slots[p->n++] = (struct pslot){xstrdup(spec->run.job_id), spec->run.attempt, cg};
  if (cg) /* the child holds its own copy; the group is found again by job and attempt */
    for (int i = 0; i < CG_MAX_JOIN; i++)
      if (cg->join_fds[i] >= 0) {
        close(cg->join_fds[i]);
        cg->join_fds[i] = -1;
      }
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
  if (ev->kind == RUN_STARTED || i == p->n) {
    p->cb(p->ctx, ev);
    return;
  }
  struct run_event e = *ev;
  struct cgroup *cg = p->slots[i].cg;
  if (cg && e.kind == RUN_EXITED && cg_oom_kills(cg) > 0) {
    e.reason = RUNTIME_REASON_OOM;
    if (e.exit_code < 0 || e.signal == 0) e.exit_code = e.exit_code > 0 ? e.exit_code : 137;
  }
  cg_destroy(cg); /* whatever is left in the attempt dies with it */
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
