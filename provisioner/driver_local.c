/* driver_local.c: the `local` driver: each instance is a `barge agent` child process of the
 * provisioner, declaring the instance type's capacity (driver.h). Jobs really run. The agent
 * registers and heartbeats itself and reports TERMINATED when stopped (SIGTERM); the driver
 * reports TERMINATED too when a child exits on its own. --local-max-instances, --local-max-vcpus
 * and --local-max-memory (by default this machine's cores x 4 and 75% of its memory, summed over
 * the agents) clamp what one machine runs: a launch beyond them fails like an EC2 launch without
 * capacity (InsufficientInstanceCapacity), so the provisioner tries another type or waits. The
 * clamp is said once in the log and in every heartbeat (d->limits).
 * Children get SIGTERM when the provisioner dies (PR_SET_PDEATHSIG).
 *
 * Metrics (docs/metrics.md "Agents of the local driver"): when the provisioner serves metrics
 * (d->conf.agent_metrics_host), each agent gets --metrics-port on a free port of that host. The
 * port is found by binding a probe socket (SO_REUSEADDR, never listening) that is held until the
 * agent has had time to listen on it, so no other socket is given the port meanwhile. The live
 * agents, with their pid, log and metrics URL, are listed in <agent_log_dir>/local-agents in the
 * services file's format, which `barge status` shows beside the stack's services. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"

#define KILL_GRACE_MS 30000
#define PROBE_HOLD_MS 30000 /* a metrics port's probe socket is held this long after the agent starts */

struct child {
  char id[32];
  char *ce;
  int type;
  int spot;
  pid_t pid;
  int stopping;
  int64_t stop_at;
  int64_t started;  /* mono_ms at launch */
  int metrics_port; /* 0: none */
  int probe_fd;     /* holds metrics_port until the agent listens on it; -1 once closed */
};

struct local {
  struct bus_producer *prod;
  struct child *kids;
  size_t nkids, capkids;
};

/* vCPUs and MiB the live agents declare, and how many they are. */
static int alive_vcpus(const struct driver *d, const struct local *l, int *count, long long *mem) {
  int v = 0;
  *count = 0;
  *mem = 0;
  for (size_t i = 0; i < l->nkids; i++) {
    if (l->kids[i].pid <= 0) continue;
    const struct catalog_type *t = &d->conf.cat->types[l->kids[i].type];
    v += t->vcpus;
    *mem += catalog_sched_mem(d->conf.cat, t);
    (*count)++;
  }
  return v;
}

/* A free port of host for an agent's metrics, held by a bound probe socket (*fd); 0 when none. */
static int probe_port(const char *host, int *fd) {
  struct sockaddr_in sa = {.sin_family = AF_INET};
  socklen_t sl = sizeof sa;
  int one = 1;
  *fd = -1;
  if (!host || inet_pton(AF_INET, host, &sa.sin_addr) != 1) return 0;
  *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (*fd < 0 || setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) || bind(*fd, (struct sockaddr *)&sa, sizeof sa) ||
      getsockname(*fd, (struct sockaddr *)&sa, &sl)) {
    log_warn("local: no free port for an agent's metrics on %s: %s", host, strerror(errno));
    if (*fd >= 0) close(*fd);
    *fd = -1;
    return 0;
  }
  return ntohs(sa.sin_port);
}

/* Rewrites <agent_log_dir>/local-agents: a line per live agent, as the services file has them
 * ("agent ID<TAB>pid<TAB>restarts<TAB>log<TAB>metrics URL or -"). */
static void list_agents(const struct driver *d, const struct local *l) {
  if (!d->conf.agent_log_dir) return;
  char path[4200];
  snprintf(path, sizeof path, "%s/local-agents", d->conf.agent_log_dir);
  struct buf b;
  buf_init(&b);
  for (size_t i = 0; i < l->nkids; i++) {
    const struct child *c = &l->kids[i];
    if (c->pid <= 0) continue;
    buf_printf(&b, "agent %s\t%d\t0\t%s/agent-%s.log\t", c->id, (int)c->pid, d->conf.agent_log_dir, c->id);
    if (c->metrics_port) buf_printf(&b, "http://%s:%d/metrics\n", d->conf.agent_metrics_host, c->metrics_port);
    else buf_printf(&b, "-\n");
  }
  if (write_file_atomic(path, b.data ? (const void *)b.data : "", b.len)) log_warn("local: cannot write %s", path);
  buf_release(&b);
}

static pid_t spawn_agent(const struct driver *d, const struct driver_launch *req, const char *id, int metrics_port) {
  char vcpus[16], mem[16], gpus[16], hb[24], fence[24], log_path[4096], port[16], keep[32];
  snprintf(vcpus, sizeof vcpus, "%d", req->type->vcpus);
  snprintf(mem, sizeof mem, "%d", req->sched_mem_mib);
  snprintf(gpus, sizeof gpus, "%d", req->type->gpus);
  snprintf(hb, sizeof hb, "%lld", d->conf.agent_heartbeat_ms);
  const char *argv[40];
  int n = 0;
  argv[n++] = "barge";
  argv[n++] = "agent";
  argv[n++] = "--brokers";
  argv[n++] = d->conf.bus.brokers;
  argv[n++] = "--topic-prefix";
  argv[n++] = d->conf.bus.prefix ? d->conf.bus.prefix : "barge.";
  const char *props = d->conf.agent_kafka_props ? d->conf.agent_kafka_props : d->conf.bus.kafka_props;
  if (props && *props) {
    argv[n++] = "--kafka-props";
    argv[n++] = props;
  }
  argv[n++] = "--compute-environment";
  argv[n++] = req->ce;
  argv[n++] = "--instance-id";
  argv[n++] = id;
  argv[n++] = "--instance-type";
  argv[n++] = req->type->name;
  argv[n++] = "--vcpus";
  argv[n++] = vcpus;
  argv[n++] = "--memory";
  argv[n++] = mem;
  argv[n++] = "--gpus";
  argv[n++] = gpus;
  argv[n++] = "--driver";
  argv[n++] = "local";
  argv[n++] = "--heartbeat-ms";
  argv[n++] = hb;
  if (d->conf.agent_fence_ms > 0) {
    snprintf(fence, sizeof fence, "%lld", d->conf.agent_fence_ms);
    argv[n++] = "--fence-after-ms";
    argv[n++] = fence;
  }
  argv[n++] = "--runtime";
  argv[n++] = d->conf.agent_runtime ? d->conf.agent_runtime : "process";
  if (d->conf.log_dir) {
    argv[n++] = "--log-dir";
    argv[n++] = d->conf.log_dir;
  }
  if (d->conf.agent_log_retention_h > 0) {
    snprintf(keep, sizeof keep, "%.17g", d->conf.agent_log_retention_h);
    argv[n++] = "--log-retention-hours";
    argv[n++] = keep;
  }
  if (metrics_port) {
    snprintf(port, sizeof port, "%d", metrics_port);
    argv[n++] = "--metrics-port";
    argv[n++] = port;
    argv[n++] = "--metrics-host";
    argv[n++] = d->conf.agent_metrics_host;
  }
  argv[n] = NULL;
  if (d->conf.agent_log_dir) snprintf(log_path, sizeof log_path, "%s/agent-%s.log", d->conf.agent_log_dir, id);
  else snprintf(log_path, sizeof log_path, "/dev/null");
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  /* child */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(0);
  int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
  }
  int nul = open("/dev/null", O_RDONLY);
  if (nul >= 0) dup2(nul, 0);
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_DFL);
  execv(d->conf.agent_bin, (char *const *)argv);
  _exit(127);
}

static int local_launch(struct driver *d, const struct driver_launch *req, char (*ids)[32], int *n,
                        char *err, size_t errlen) {
  struct local *l = d->impl;
  *n = 0;
  for (int k = 0; k < req->count; k++) {
    int count;
    long long mem;
    int v = alive_vcpus(d, l, &count, &mem);
    if ((d->conf.local_max_instances > 0 && count + 1 > d->conf.local_max_instances) ||
        (d->conf.local_max_vcpus > 0 && v + req->type->vcpus > d->conf.local_max_vcpus) ||
        (d->conf.local_max_memory > 0 && mem + req->sched_mem_mib > d->conf.local_max_memory)) {
      snprintf(err, errlen,
               "InsufficientInstanceCapacity: %s (--local-max-instances, --local-max-vcpus, --local-max-memory); "
               "%d agents with %d vCPUs and %lld MiB run now, %s needs %d vCPUs and %d MiB",
               d->limits, count, v, mem, req->type->name, req->type->vcpus, req->sched_mem_mib);
      if (*n) list_agents(d, l);
      return -1;
    }
    char hex[18], id[32];
    random_hex(hex, 17);
    snprintf(id, sizeof id, "i-%s", hex);
    int probe = -1, mport = d->conf.agent_metrics_host ? probe_port(d->conf.agent_metrics_host, &probe) : 0;
    pid_t pid = spawn_agent(d, req, id, mport);
    if (pid < 0) {
      snprintf(err, errlen, "cannot start an agent: %s", strerror(errno));
      if (probe >= 0) close(probe);
      list_agents(d, l);
      return -1;
    }
    if (l->nkids == l->capkids) {
      l->capkids = l->capkids ? l->capkids * 2 : 16;
      l->kids = xrealloc(l->kids, l->capkids * sizeof *l->kids);
    }
    struct child *c = &l->kids[l->nkids++];
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    c->ce = xstrdup(req->ce);
    c->type = (int)(req->type - d->conf.cat->types);
    c->spot = req->spot;
    c->pid = pid;
    c->started = mono_ms();
    c->metrics_port = mport;
    c->probe_fd = probe;
    snprintf(ids[k], 32, "%s", id);
    (*n)++;
    if (mport)
      log_info("local: started agent %s (%s, pid %d) for %s, metrics at http://%s:%d/metrics", id, req->type->name, (int)pid,
               req->ce, d->conf.agent_metrics_host, mport);
    else
      log_info("local: started agent %s (%s, pid %d) for %s", id, req->type->name, (int)pid, req->ce);
  }
  list_agents(d, l);
  return 0;
}

static struct child *find(struct local *l, const char *id) {
  for (size_t i = 0; i < l->nkids; i++)
    if (!strcmp(l->kids[i].id, id)) return &l->kids[i];
  return NULL;
}

static int local_drain(struct driver *d, const char *id, char *err, size_t errlen) {
  (void)d, (void)id, (void)err, (void)errlen;
  return 0; /* the scheduler stops placing; the agent keeps running until terminated */
}

static int local_terminate(struct driver *d, const char *id, char *err, size_t errlen) {
  (void)err, (void)errlen;
  struct child *c = find(d->impl, id);
  if (!c || c->pid <= 0 || c->stopping) return 0;
  c->stopping = 1;
  c->stop_at = mono_ms();
  kill(c->pid, SIGTERM); /* the agent reports TERMINATED itself */
  return 0;
}

static int local_describe(struct driver *d, const char *const *ids, size_t n, enum driver_state *st,
                          char *err, size_t errlen) {
  (void)err, (void)errlen;
  for (size_t i = 0; i < n; i++) {
    struct child *c = find(d->impl, ids[i]);
    st[i] = !c ? DRV_UNKNOWN : c->pid > 0 ? DRV_RUNNING : DRV_GONE;
  }
  return 0;
}

static int local_poll(struct driver *d, char *err, size_t errlen) {
  struct local *l = d->impl;
  int64_t now = mono_ms();
  size_t w = 0;
  for (size_t i = 0; i < l->nkids; i++) {
    struct child *c = &l->kids[i];
    int status;
    if (c->pid > 0 && waitpid(c->pid, &status, WNOHANG) == c->pid) {
      char why[128];
      if (WIFEXITED(status)) snprintf(why, sizeof why, "agent process exited with status %d", WEXITSTATUS(status));
      else snprintf(why, sizeof why, "agent process killed by signal %d", WTERMSIG(status));
      if (!c->stopping) log_warn("local: %s %s", c->id, why);
      const struct catalog_type *t = &d->conf.cat->types[c->type];
      json_t *ev = driver_instance_event(d, c->id, c->ce, "TERMINATED", t, catalog_sched_mem(d->conf.cat, t), c->spot, why);
      int rc = bus_produce(l->prod, TOPIC_INSTANCES, c->id, ev, err, errlen);
      json_decref(ev);
      if (rc) return -1;
      c->pid = 0;
    } else if (c->pid > 0 && c->stopping && now - c->stop_at > KILL_GRACE_MS) {
      kill(c->pid, SIGKILL);
    }
    if (c->probe_fd >= 0 && (c->pid <= 0 || now - c->started > PROBE_HOLD_MS)) {
      close(c->probe_fd);
      c->probe_fd = -1;
    }
    if (c->pid > 0) {
      l->kids[w++] = *c;
    } else {
      free(c->ce);
    }
  }
  int changed = w != l->nkids;
  l->nkids = w;
  if (changed) list_agents(d, l);
  bus_producer_poll(l->prod);
  return 0;
}

static void local_free(struct driver *d) {
  struct local *l = d->impl;
  if (!l) return;
  /* the instances end with the provisioner: each agent reports TERMINATED */
  for (size_t i = 0; i < l->nkids; i++)
    if (l->kids[i].pid > 0) kill(l->kids[i].pid, SIGTERM);
  int64_t until = mono_ms() + 15000;
  for (;;) {
    int alive = 0;
    for (size_t i = 0; i < l->nkids; i++) {
      if (l->kids[i].pid > 0 && waitpid(l->kids[i].pid, NULL, WNOHANG) == l->kids[i].pid) l->kids[i].pid = 0;
      if (l->kids[i].pid > 0) alive++;
    }
    if (!alive) break;
    if (mono_ms() > until) {
      for (size_t i = 0; i < l->nkids; i++)
        if (l->kids[i].pid > 0) kill(l->kids[i].pid, SIGKILL);
    }
    usleep(50000);
  }
  driver_producer_close(d, l->prod);
  for (size_t i = 0; i < l->nkids; i++) {
    free(l->kids[i].ce);
    if (l->kids[i].probe_fd >= 0) close(l->kids[i].probe_fd);
  }
  if (d->conf.agent_log_dir) { /* none of them runs now */
    char path[4200];
    snprintf(path, sizeof path, "%s/local-agents", d->conf.agent_log_dir);
    unlink(path);
  }
  free(l->kids);
  free(l);
}

static const struct driver_ops local_ops = {"local", 1, local_launch, local_drain, local_terminate, local_describe, NULL, NULL, local_poll, local_free};

struct driver *driver_local_new(const struct driver_conf *conf, char *err, size_t errlen) {
  struct local *l = xcalloc(1, sizeof *l);
  struct driver *d = driver_alloc(&local_ops, conf, l);
  if (!d->conf.agent_bin) d->conf.agent_bin = "/proc/self/exe";
  long long cores, mem;
  driver_machine_size(&cores, &mem);
  char v[32] = "any number of", m[32] = "any amount of";
  if (d->conf.local_max_vcpus > 0) snprintf(v, sizeof v, "%lld", d->conf.local_max_vcpus);
  if (d->conf.local_max_memory > 0) snprintf(m, sizeof m, "%lld", d->conf.local_max_memory);
  snprintf(d->limits, sizeof d->limits, "local instances clamped to %s vCPUs and %s MiB in all, at most %lld agents "
           "(this machine: %lld cores, %lld MiB)", v, m, d->conf.local_max_instances, cores, mem);
  log_info("local driver: %s", d->limits); /* said once */
  l->prod = bus_producer_new(&d->conf.bus, NULL, err, errlen);
  if (!l->prod) {
    driver_free(d);
    return NULL;
  }
  /* none runs yet: the agents of a provisioner killed before this one ended with it
   * (PR_SET_PDEATHSIG) and must not stay listed, as dead, in `barge status` */
  list_agents(d, l);
  return d;
}
