/* cgroup.c: the process runtime's per-attempt cgroups (cgroup.h). */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int cg_version(const char *root) {
  char p[4096];
  snprintf(p, sizeof p, "%s/cgroup.controllers", root);
  if (exists(p)) {
    char *c = read_file(p, NULL);
    int ok = c && strstr(c, "memory") != NULL;
    free(c);
    return ok ? 2 : 0;
  }
  snprintf(p, sizeof p, "%s/memory", root);
  return exists(p) ? 1 : 0;
}

static int put(const char *dir, const char *file, const char *val, char *err, size_t errlen) {
  char p[4400];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, val, strlen(val)) < 0) {
    snprintf(err, errlen, "cgroup %s: %s", p, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return 0;
}

/* The v1 mount of a controller under root ("cpu" may be "cpu,cpuacct"), or NULL. */
static const char *v1_mount(const char *root, const char *ctl, char *out, size_t n) {
  static const char *const alts[][3] = {{"memory", "memory", NULL}, {"cpu", "cpu,cpuacct", "cpuacct,cpu"}};
  for (size_t i = 0; i < 2; i++) {
    if (strcmp(alts[i][0], ctl)) continue;
    for (size_t k = 0; k < 3 && alts[i][k]; k++) {
      snprintf(out, n, "%s/%s", root, alts[i][k]);
      if (exists(out)) return out;
    }
  }
  return NULL;
}

static char *group_dir(const char *base, const char *parent, const char *name, char *err, size_t errlen) {
  struct buf b;
  buf_init(&b);
  buf_printf(&b, "%s/%s/%s", base, parent, name);
  if (mkdir_p((char *)b.data) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cgroup %s: %s", (char *)b.data, strerror(errno));
    buf_release(&b);
    return NULL;
  }
  return (char *)b.data;
}

/* v2: the controllers a child of parent may use must be enabled down the path. */
static void v2_enable(const char *root, const char *parent) {
  char p[4400];
  snprintf(p, sizeof p, "%s", root);
  const char *s = parent;
  for (;;) {
    char f[4500];
    snprintf(f, sizeof f, "%s/cgroup.subtree_control", p);
    int fd = open(f, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (write(fd, "+memory +cpu", 12) < 0) { /* a fake tree or a delegated one: best effort */
      }
      close(fd);
    } else if (errno == ENOENT) {
      int unused = put(p, "cgroup.subtree_control", "+memory +cpu", NULL, 0);
      (void)unused;
    }
    if (!*s) break;
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    size_t len = strlen(p);
    snprintf(p + len, sizeof p - len, "/%.*s", (int)n, s);
    mkdir(p, 0755);
    s = slash ? slash + 1 : s + n;
  }
}

static int limits(struct cgroup *cg, const char *memdir, const char *cpudir, int64_t mem_mib,
                  int vcpus, char *err, size_t errlen) {
  char v[64];
  if (mem_mib > 0) {
    snprintf(v, sizeof v, "%lld", (long long)mem_mib * 1024 * 1024);
    if (cg->version == 1) {
      if (put(memdir, "memory.limit_in_bytes", v, err, errlen)) return -1;
      char p[4400];
      snprintf(p, sizeof p, "%s/memory.memsw.limit_in_bytes", memdir);
      if (exists(p) && put(memdir, "memory.memsw.limit_in_bytes", v, err, errlen)) return -1;
    } else {
      if (put(memdir, "memory.max", v, err, errlen)) return -1;
      char p[4400];
      snprintf(p, sizeof p, "%s/memory.swap.max", memdir);
      if (exists(p) && put(memdir, "memory.swap.max", "0", err, errlen)) return -1;
    }
  }
  if (vcpus > 0 && cpudir) {
    if (cg->version == 1) {
      snprintf(v, sizeof v, "%lld", (long long)vcpus * 100000);
      if (put(cpudir, "cpu.cfs_period_us", "100000", err, errlen) || put(cpudir, "cpu.cfs_quota_us", v, err, errlen)) return -1;
    } else {
      snprintf(v, sizeof v, "%lld 100000", (long long)vcpus * 100000);
      if (put(cpudir, "cpu.max", v, err, errlen)) return -1;
    }
  }
  return 0;
}

/* Opens the files the runner's child joins the groups through (cgroup.h, join_fds). */
static int open_join(struct cgroup *cg, char *err, size_t errlen) {
  for (int i = 0; i < cg->n; i++) {
    if (cg->join_fds[i] >= 0) continue;
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", cg->dirs[i], cg->version == 1 ? "tasks" : "cgroup.procs");
    cg->join_fds[i] = open(p, O_WRONLY | O_CLOEXEC);
    if (cg->join_fds[i] < 0 && errno == ENOENT) /* a fake tree */
      cg->join_fds[i] = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (cg->join_fds[i] < 0) {
      snprintf(err, errlen, "cgroup %s: %s", p, strerror(errno));
      return -1;
    }
  }
  return 0;
}

struct cgroup *cg_create(const char *root, const char *parent, const char *name, int64_t mem_mib,
                         int vcpus, char *err, size_t errlen) {
  struct cgroup *cg = xcalloc(1, sizeof *cg);
  for (int i = 0; i < CG_MAX_JOIN; i++) cg->join_fds[i] = -1;
  cg->kill_file = -1;
  cg->version = cg_version(root);
  char *cpudir = NULL;
  if (cg->version == 2) {
    v2_enable(root, parent);
    if (!(cg->dirs[cg->n] = group_dir(root, parent, name, err, errlen))) goto fail;
    cg->memdir = cpudir = cg->dirs[cg->n++];
  } else if (cg->version == 1) {
    char m[4096];
    if (!(cg->dirs[cg->n] = group_dir(v1_mount(root, "memory", m, sizeof m), parent, name, err, errlen))) goto fail;
    cg->memdir = cg->dirs[cg->n++];
    if (v1_mount(root, "cpu", m, sizeof m)) {
      if (!(cg->dirs[cg->n] = group_dir(m, parent, name, err, errlen))) goto fail;
      cpudir = cg->dirs[cg->n++];
    }
  } else {
    snprintf(err, errlen, "no usable cgroup tree at %s (no memory controller)", root);
    goto fail;
  }
  if (limits(cg, cg->memdir, cpudir, mem_mib, vcpus, err, errlen) || open_join(cg, err, errlen)) goto fail;
  cg->mem_mib = mem_mib;
  cg->vcpus = vcpus;
  return cg;
fail:
  cg_destroy(cg);
  return NULL;
}

int cg_reuse(struct cgroup *cg, char *err, size_t errlen) { return open_join(cg, err, errlen); }

/* The number after `key ` in a flat keyed file, or 0. */
static long keyed(const char *dir, const char *file, const char *key) {
  char p[4400], t[4096];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  long v = 0;
  size_t kl = strlen(key);
  for (char *l = read_small(p, t, sizeof t) >= 0 ? t : NULL; l && *l;) {
    if (!strncmp(l, key, kl) && l[kl] == ' ') v = strtol(l + kl + 1, NULL, 10);
    char *nl = strchr(l, '\n');
    l = nl ? nl + 1 : NULL;
  }
  return v;
}

long cg_oom_kills(const struct cgroup *cg) {
  if (!cg || !cg->memdir) return 0;
  if (cg->version == 2) return keyed(cg->memdir, "memory.events", "oom_kill");
  long k = keyed(cg->memdir, "memory.oom_control", "oom_kill");
  /* kernels before 4.13 have no oom_kill counter: a failcnt at the limit is the sign */
  return k;
}

/* SIGKILLs the processes listed in the group's cgroup.procs. How many. */
static int kill_listed(const char *dir) {
  char p[4400], small[8192];
  snprintf(p, sizeof p, "%s/cgroup.procs", dir);
  /* one read without allocation for the usual empty or short list; a long one is read whole */
  ssize_t n = read_small(p, small, sizeof small);
  char *t = n < 0 ? NULL : (size_t)n < sizeof small - 1 ? small : read_file(p, NULL);
  int seen = 0;
  for (char *l = t; l && *l;) {
    long pid = strtol(l, &l, 10);
    if (pid > 1 && kill((pid_t)pid, SIGKILL) == 0) seen++;
    while (*l == '\n' || *l == ' ') l++;
    if (pid <= 0) break;
  }
  if (t != small) free(t);
  return seen;
}

int cg_kill_all(struct cgroup *cg) {
  if (!cg) return 0;
  int killed = 0;
  if (cg->version == 2 && cg->memdir) {
    char p[4400];
    if (cg->kill_file < 0) { /* looked for once per group */
      snprintf(p, sizeof p, "%s/cgroup.kill", cg->memdir);
      cg->kill_file = exists(p);
    }
    if (cg->kill_file) {
      int unused = put(cg->memdir, "cgroup.kill", "1", NULL, 0);
      (void)unused;
    }
  }
  for (int round = 0; round < 5; round++) {
    int seen = 0;
    for (int i = 0; i < cg->n; i++) seen += kill_listed(cg->dirs[i]);
    killed += seen;
    if (!seen) break;
    usleep(2000);
  }
  return killed;
}

void cg_close_join(struct cgroup *cg) {
  for (int i = 0; cg && i < CG_MAX_JOIN; i++)
    if (cg->join_fds[i] >= 0) {
      close(cg->join_fds[i]);
      cg->join_fds[i] = -1;
    }
}

int cg_sweep(const char *root, const char *parent) {
  int version = cg_version(root), found = 0;
  static const char *const v1[] = {"memory", "cpu", NULL}, *const v2[] = {"", NULL};
  for (const char *const *ctl = version == 2 ? v2 : v1; version && *ctl; ctl++) {
    char base[8300], m[4096];
    if (version == 2) snprintf(base, sizeof base, "%s/%s", root, parent);
    else if (v1_mount(root, *ctl, m, sizeof m)) snprintf(base, sizeof base, "%s/%s", m, parent);
    else continue;
    DIR *d = opendir(base);
    struct dirent *de;
    while (d && (de = readdir(d))) {
      if (de->d_name[0] == '.' || de->d_type != DT_DIR) continue;
      struct cgroup *cg = xcalloc(1, sizeof *cg);
      cg->version = version;
      cg->kill_file = -1;
      for (int i = 0; i < CG_MAX_JOIN; i++) cg->join_fds[i] = -1;
      struct buf b;
      buf_init(&b);
      buf_printf(&b, "%s/%s", base, de->d_name);
      cg->dirs[cg->n++] = (char *)b.data;
      cg->memdir = cg->dirs[0];
      cg_destroy(cg);
      found++;
    }
    if (d) closedir(d);
  }
  return found;
}

int cg_others(const char *root, const char *parent, const char *prefix, char *dir, size_t dirlen) {
  int version = cg_version(root), procs = 0;
  char m[4096], base[8300];
  const char *slash = strrchr(parent, '/');
  if (!version || !slash) return 0;
  if (version == 2) snprintf(base, sizeof base, "%s/%.*s", root, (int)(slash - parent), parent);
  else if (v1_mount(root, "memory", m, sizeof m)) snprintf(base, sizeof base, "%s/%.*s", m, (int)(slash - parent), parent);
  else return 0;
  if (dirlen) dir[0] = 0;
  DIR *d = opendir(base);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (de->d_type != DT_DIR || strncmp(de->d_name, prefix, strlen(prefix)) || !strcmp(de->d_name, slash + 1)) continue;
    char other[8600];
    snprintf(other, sizeof other, "%s/%s", base, de->d_name);
    int here = 0;
    DIR *g = opendir(other);
    struct dirent *ge;
    while (g && (ge = readdir(g))) {
      if (ge->d_name[0] == '.' || ge->d_type != DT_DIR) continue;
      char path[8900], txt[65536];
      snprintf(path, sizeof path, "%s/%s/cgroup.procs", other, ge->d_name);
      ssize_t n = read_small(path, txt, sizeof txt);
      for (ssize_t i = 0; i < n; i++) here += txt[i] == '\n';
    }
    if (g) closedir(g);
    if (here && dirlen && !dir[0]) snprintf(dir, dirlen, "%s", other);
    procs += here;
  }
  if (d) closedir(d);
  return procs;
}

void cg_remove_parent(const char *root, const char *parent) {
  cg_sweep(root, parent);
  static const char *const v1[] = {"memory", "cpu", NULL};
  char p[8300], m[4096];
  if (cg_version(root) == 2) {
    snprintf(p, sizeof p, "%s/%s", root, parent);
    rmdir(p);
    return;
  }
  for (const char *const *ctl = v1; *ctl; ctl++) {
    if (!v1_mount(root, *ctl, m, sizeof m)) continue;
    snprintf(p, sizeof p, "%s/%s", m, parent);
    rmdir(p);
  }
}

void cg_destroy(struct cgroup *cg) {
  if (!cg) return;
  cg_close_join(cg);
  cg_kill_all(cg);
  for (int i = 0; i < cg->n; i++) {
    /* a real group is removed empty; a dead process may take a moment to leave */
    for (int t = 0; t < 50 && rmdir(cg->dirs[i]) != 0 && errno == EBUSY; t++) usleep(2000);
    free(cg->dirs[i]);
  }
  free(cg);
}
