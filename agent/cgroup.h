/* cgroup.h: one cgroup per attempt of the process runtime (docs/containers.md, "Limits").
 *
 * v1 (also the hybrid layout, where the controllers are v1 hierarchies under root): a group
 * <root>/<controller>/<parent>/<name> in the memory and cpu hierarchies (cpu may be mounted as
 * cpu,cpuacct). v2 (root/cgroup.controllers exists): one group <root>/<parent>/<name>.
 *
 *   MEMORY -> v1 memory.limit_in_bytes (+ memory.memsw.limit_in_bytes when swap is accounted),
 *             v2 memory.max and memory.swap.max = 0
 *   VCPU   -> v1 cpu.cfs_period_us 100000 and cpu.cfs_quota_us vcpus*100000,
 *             v2 cpu.max "vcpus*100000 100000"
 *
 * An attempt over its memory is killed by the kernel's OOM killer; cg_oom_killed reads the
 * kill counter (v1 memory.oom_control "oom_kill", v2 memory.events "oom_kill"). Files are
 * written through the root given, so the unit tests run against a fake tree. */
#ifndef BARGE_AGENT_CGROUP_H
#define BARGE_AGENT_CGROUP_H
#include <stdint.h>
#include <stddef.h>

#include "util.h"

#define CG_MAX_JOIN 4

struct cgroup {
  int version;           /* 1 or 2 */
  int n;                 /* groups (v1: one per controller) */
  char *dirs[CG_MAX_JOIN];
  char *memdir;          /* the group holding the memory controller */
  /* Open (O_WRONLY|O_CLOEXEC) for the runner's child, which writes "0" (itself) to each before
   * it execs: v2 cgroup.procs; v1 tasks, which moves the writing thread alone (the child has
   * one): the kernel then skips its global threadgroup lock, whose every write waits for an RCU
   * grace period (cgroup.procs: 1.6 ms a join here, tasks: 0.5 ms, medians, loaded machine). */
  int join_fds[CG_MAX_JOIN];
  int64_t mem_mib;       /* its limits (0 = none) */
  int vcpus;
  int kill_file;         /* v2: 1 if cgroup.kill exists, 0 if not, -1 not looked for yet */
  long oom_count;        /* the process runtime's: the OOM-kill count when it was last emptied */
};

/* 1 or 2 for the tree at root, 0 when none is usable (no memory controller). */
int cg_version(const char *root);

/* Creates the attempt's group(s) under root/parent with the limits (0 = none) and opens their
 * cgroup.procs. NULL with the reason in err. */
struct cgroup *cg_create(const char *root, const char *parent, const char *name, int64_t mem_mib,
                         int vcpus, char *err, size_t errlen);

/* Makes an emptied group ready for another attempt with the same limits (mem_mib, vcpus): opens
 * the join files that are not open (cg_close_join closed them). 0, or -1 with the reason in err. */
int cg_reuse(struct cgroup *cg, char *err, size_t errlen);

/* The OOM-kill count of the group (0 when none or unknown). */
long cg_oom_kills(const struct cgroup *cg);

/* SIGKILLs every process left in the group (v2: cgroup.kill when present). Returns how many. */
int cg_kill_all(struct cgroup *cg);

/* Closes the join files (join_fds -1). NULL is a no-op. */
void cg_close_join(struct cgroup *cg);

/* Kills the processes of every group under root/parent (left by an earlier incarnation of the
 * agent) and removes the groups. Returns how many groups were found. */
int cg_sweep(const char *root, const char *parent);
/* The processes that run in the attempt groups of the other parents beside root/parent whose
 * name starts with prefix ("<instance id>-": agents with this instance id and another state
 * folder, that is another --log-dir). Sweeps nothing. Returns how many; the first such parent's
 * folder in dir (memory controller's, for v1). */
int cg_others(const char *root, const char *parent, const char *prefix, char *dir, size_t dirlen);
/* cg_sweep, then removes root/parent itself (an agent stopping). */
void cg_remove_parent(const char *root, const char *parent);

/* Kills what is left, removes the group(s), frees. NULL is a no-op. */
void cg_destroy(struct cgroup *cg);

#endif
