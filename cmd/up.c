/* up.c: `barge up` and `barge down`: a whole local stack on one machine.
 *
 * `barge up` starts a single-node Kafka (scripts/kafka.sh) unless --brokers is given, creates
 * the topics and the UNMANAGED compute environment its agents serve, then supervises the
 * scheduler and a fixed set of local agents: a child that dies is restarted (Kafka replays what
 * it had not committed). It records the stack in $BARGE_HOME/stack so that other commands find
 * the broker. Ctrl-C (or `barge down` for --detach) stops everything it started. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmds.h"
#include "control.h"
#include "opts.h"
#include "stack.h"
#include "views.h"

#ifndef BARGE_SOURCE_DIR
#define BARGE_SOURCE_DIR "."
#endif

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

struct child {
  char name[64];
  char *argv[32];
  int argc;
  char log[4096];
  pid_t pid;
  int64_t started;
};

static void add_arg(struct child *c, const char *a) { c->argv[c->argc++] = xstrdup(a); }

static pid_t spawn(struct child *c) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(c->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    signal(SIGINT, SIG_IGN); /* the supervisor decides when children stop */
    execv("/proc/self/exe", c->argv);
    _exit(127);
  }
  c->pid = pid;
  c->started = mono_ms();
  return pid;
}

static int pid_alive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

/* The compute environment of the stack: UNMANAGED for fixed agents; MANAGED (0..max_vcpus,
 * optimal, BEST_FIT_PROGRESSIVE) when a provisioner driver scales it. */
static int ensure_ce(const struct bus_conf *bc, const char *ce, const char *driver, long long max_vcpus,
                     char *err, size_t errlen) {
  struct config_view cv;
  if (config_view_load(bc, &cv, err, errlen)) {
    config_view_release(&cv);
    return -1;
  }
  int exists = config_find(cv.ces, "computeEnvironmentName", ce) != NULL;
  config_view_release(&cv);
  if (exists) return 0;
  json_t *req = json_pack("{s:s, s:s, s:s}", "computeEnvironmentName", ce, "type", driver ? "MANAGED" : "UNMANAGED", "state", "ENABLED");
  if (driver)
    json_object_set_new(req, "computeResources", json_pack("{s:s, s:i, s:I, s:[s], s:s}", "type", "EC2", "minvCpus", 0, "maxvCpus",
                                                           (json_int_t)max_vcpus, "instanceTypes", "optimal",
                                                           "allocationStrategy", "BEST_FIT_PROGRESSIVE"));
  json_t *resp = NULL;
  int rc = control_call(bc, "CreateComputeEnvironment", req, &resp, err, errlen);
  json_decref(req);
  json_decref(resp);
  return rc ? -1 : 0;
}

int cmd_down(int argc, char **argv) {
  const struct opt opts[] = {{"help", NULL, NULL, NULL, NULL, ""}};
  int r = opts_parse("down", "", argc, argv, opts, 0, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  char pidtext[32];
  if (stack_get("supervisor", pidtext, sizeof pidtext)) {
    printf("barge down: no stack is running\n");
    return 0;
  }
  pid_t pid = (pid_t)atoi(pidtext);
  if (!pid_alive(pid)) {
    stack_remove();
    printf("barge down: the stack (pid %d) was not running; cleared its record\n", (int)pid);
    return 0;
  }
  kill(pid, SIGTERM);
  for (int i = 0; i < 600 && pid_alive(pid); i++) usleep(100000);
  if (pid_alive(pid)) {
    fprintf(stderr, "barge down: pid %d did not stop within 60 s\n", (int)pid);
    return 1;
  }
  printf("barge down: stack stopped\n");
  return 0;
}

int cmd_up(int argc, char **argv) {
  const char *brokers_flag = NULL, *ce = NULL, *props = NULL, *driver = NULL;
  long long agents = 2, vcpus = 2, mem = 4096, tick_ms = 1000, heartbeat_ms = 2000, lost_ms = 15000, max_vcpus = 16;
  int detach = 0;
  const struct opt opts[] = {
      {"brokers", "HOST:PORT", &brokers_flag, NULL, NULL, "use this Kafka instead of starting one (scripts/kafka.sh)"},
      {"agents", "N", NULL, &agents, NULL, "local agents (instances) to run (default 2)"},
      {"agent-vcpus", "N", NULL, &vcpus, NULL, "vCPUs each agent offers (default 2)"},
      {"agent-memory", "MIB", NULL, &mem, NULL, "memory each agent offers in MiB (default 4096)"},
      {"compute-environment", "NAME", &ce, NULL, NULL, "compute environment of the agents, created if missing (default local; with --driver local-managed)"},
      {"driver", "local|sim", &driver, NULL, NULL, "instead of fixed agents, run `barge provisioner --driver` scaling a MANAGED compute environment"},
      {"max-vcpus", "N", NULL, &max_vcpus, NULL, "with --driver: maxvCpus of that compute environment (default 16)"},
      {"tick-ms", "MS", NULL, &tick_ms, NULL, "scheduler tick (default 1000)"},
      {"heartbeat-ms", "MS", NULL, &heartbeat_ms, NULL, "agent heartbeat (default 2000)"},
      {"lost-after-ms", "MS", NULL, &lost_ms, NULL, "an agent silent this long is lost (default 15000)"},
      {"kafka-props", "K=V,...", &props, NULL, NULL, "extra librdkafka properties for every service"},
      {"detach", NULL, NULL, NULL, &detach, "run in the background; stop with `barge down`"},
  };
  int r = opts_parse("up", "[--brokers HOST:PORT] [--agents N] [--detach]", argc, argv, opts,
                     sizeof opts / sizeof *opts, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  if (driver && strcmp(driver, "local") && strcmp(driver, "sim")) {
    fprintf(stderr, "barge up: --driver must be local or sim\n");
    return 2;
  }
  if (!ce) ce = driver ? "local-managed" : "local";
  char home[3072], err[2048], brokers[1024], prefix[128];
  stack_home(home, sizeof home);
  if (mkdir_p(home)) {
    fprintf(stderr, "barge up: cannot create %s\n", home);
    return 1;
  }
  char pidtext[32];
  if (stack_get("supervisor", pidtext, sizeof pidtext) == 0 && pid_alive((pid_t)atoi(pidtext))) {
    char b[1024] = "";
    stack_get("brokers", b, sizeof b);
    printf("barge up: a stack is already running (pid %s, Kafka at %s); `barge down` stops it\n", pidtext, b);
    return 0;
  }
  stack_prefix(NULL, prefix, sizeof prefix);
  char kafka_dir[4096] = "";
  if (brokers_flag) {
    snprintf(brokers, sizeof brokers, "%s", brokers_flag);
  } else {
    snprintf(kafka_dir, sizeof kafka_dir, "%s/kafka", home);
    const char *script = getenv("BARGE_KAFKA_SCRIPT");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' start --dir '%s' >&2", script ? script : BARGE_SOURCE_DIR "/scripts/kafka.sh", kafka_dir);
    fprintf(stderr, "barge up: starting Kafka (first run downloads it from Maven Central)...\n");
    if (system(cmd) != 0) {
      fprintf(stderr, "barge up: Kafka did not start; see %s/kafka.log, or pass --brokers HOST:PORT\n", kafka_dir);
      return 1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/bootstrap", kafka_dir);
    char *b = read_file(path, NULL);
    if (!b) {
      fprintf(stderr, "barge up: %s missing after Kafka started\n", path);
      return 1;
    }
    b[strcspn(b, "\r\n")] = 0;
    snprintf(brokers, sizeof brokers, "%s", b);
    free(b);
  }
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "barge up: %s\n", err);
    return 1;
  }
  struct bus_conf bc = {.brokers = brokers, .prefix = prefix, .kafka_props = props, .client_id = "barge-up"};
  if (bus_ensure_topics(&bc, err, sizeof err) || ensure_ce(&bc, ce, driver, max_vcpus, err, sizeof err)) {
    fprintf(stderr, "barge up: %s\n", err);
    return 1;
  }
  char logs[4200];
  snprintf(logs, sizeof logs, "%s/logs", home);
  if (mkdir_p(logs)) {
    fprintf(stderr, "barge up: cannot create %s\n", logs);
    return 1;
  }
  if (detach) {
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid > 0) {
      /* wait until the supervisor has recorded the stack */
      for (int i = 0; i < 300; i++) {
        char sp[32];
        if (stack_get("supervisor", sp, sizeof sp) == 0 && atoi(sp) == pid) break;
        usleep(100000);
      }
      printf("barge up: stack running in the background (pid %d)\n  Kafka:     %s\n", (int)pid, brokers);
      if (driver)
        printf("  agents:    launched on demand by the provisioner (driver %s), 0-%lld vCPUs in compute environment %s\n",
               driver, max_vcpus, ce);
      else
        printf("  agents:    %lld x (%lld vCPU, %lld MiB) in compute environment %s\n", agents, vcpus, mem, ce);
      printf("  logs:      %s (services), %s (jobs)\n  stop with: barge down\n", home, logs);
      return 0;
    }
    setsid();
    char uplog[4200];
    snprintf(uplog, sizeof uplog, "%s/up.log", home);
    int fd = open(uplog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
  }
  log_set_role("up");
  int n = driver ? 1 : (int)(agents < 0 ? 0 : agents > 64 ? 64 : agents);
  struct child *kids = xcalloc((size_t)n + 1, sizeof *kids);
  char num[32];
  struct child *s = &kids[0];
  snprintf(s->name, sizeof s->name, "scheduler");
  snprintf(s->log, sizeof s->log, "%s/scheduler.log", home);
  add_arg(s, "barge");
  add_arg(s, "scheduler");
  add_arg(s, "--brokers");
  add_arg(s, brokers);
  /* the services get the stack's prefix explicitly (not through the environment or the stack
   * file, which is written after they start), and a scheduler transactional id per prefix so
   * that stacks sharing a broker under different prefixes never fence each other */
  add_arg(s, "--topic-prefix");
  add_arg(s, prefix);
  add_arg(s, "--transactional-id");
  char txn_id[200];
  if (!strcmp(prefix, "barge.")) snprintf(txn_id, sizeof txn_id, "barge-scheduler");
  else snprintf(txn_id, sizeof txn_id, "barge-scheduler-%s", prefix);
  add_arg(s, txn_id);
  add_arg(s, "--tick-ms");
  snprintf(num, sizeof num, "%lld", tick_ms);
  add_arg(s, num);
  add_arg(s, "--lost-after-ms");
  snprintf(num, sizeof num, "%lld", lost_ms);
  add_arg(s, num);
  if (props) {
    add_arg(s, "--kafka-props");
    add_arg(s, props);
  }
  for (int i = 1; i <= n; i++) {
    struct child *a = &kids[i];
    if (driver) { /* the provisioner launches agents on demand (docs/provisioner.md) */
      snprintf(a->name, sizeof a->name, "provisioner");
      snprintf(a->log, sizeof a->log, "%s/provisioner.log", home);
      const char *pargs[] = {"barge", "provisioner", "--driver", driver, "--brokers", brokers, "--topic-prefix", prefix,
                             "--log-dir", logs, "--transactional-id"};
      for (size_t k = 0; k < sizeof pargs / sizeof *pargs; k++) add_arg(a, pargs[k]);
      snprintf(txn_id, sizeof txn_id, strcmp(prefix, "barge.") ? "barge-provisioner-%s" : "barge-provisioner", prefix);
      add_arg(a, txn_id);
      add_arg(a, "--agent-heartbeat-ms");
      snprintf(num, sizeof num, "%lld", heartbeat_ms);
      add_arg(a, num);
      add_arg(a, "--local-max-vcpus");
      snprintf(num, sizeof num, "%lld", max_vcpus);
      add_arg(a, num);
      if (props) {
        add_arg(a, "--kafka-props");
        add_arg(a, props);
      }
      continue;
    }
    char hex[18], id[32];
    random_hex(hex, 17);
    snprintf(id, sizeof id, "i-%s", hex);
    snprintf(a->name, sizeof a->name, "agent %s", id);
    snprintf(a->log, sizeof a->log, "%s/agent-%d.log", home, i);
    add_arg(a, "barge");
    add_arg(a, "agent");
    add_arg(a, "--brokers");
    add_arg(a, brokers);
    add_arg(a, "--topic-prefix");
    add_arg(a, prefix);
    add_arg(a, "--compute-environment");
    add_arg(a, ce);
    add_arg(a, "--instance-id");
    add_arg(a, id);
    add_arg(a, "--vcpus");
    snprintf(num, sizeof num, "%lld", vcpus);
    add_arg(a, num);
    add_arg(a, "--memory");
    snprintf(num, sizeof num, "%lld", mem);
    add_arg(a, num);
    add_arg(a, "--heartbeat-ms");
    snprintf(num, sizeof num, "%lld", heartbeat_ms);
    add_arg(a, num);
    add_arg(a, "--log-dir");
    add_arg(a, logs);
    if (props) {
      add_arg(a, "--kafka-props");
      add_arg(a, props);
    }
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  for (int i = 0; i <= n; i++) {
    if (spawn(&kids[i]) < 0) {
      log_error("cannot start %s", kids[i].name);
      stop_flag = 1;
    }
  }
  struct buf st;
  buf_init(&st);
  buf_printf(&st, "brokers=%s\nprefix=%s\nsupervisor=%d\nlog_dir=%s\nkafka_dir=%s\ncompute_environment=%s\n",
             brokers, prefix, (int)getpid(), logs, kafka_dir, ce);
  if (stack_write((char *)st.data)) log_warn("cannot write %s/stack", home);
  buf_release(&st);
  if (!detach) {
    printf("barge up: Kafka at %s%s\n", brokers, kafka_dir[0] ? " (started by barge up)" : "");
    if (driver)
      printf("barge up: scheduler and provisioner (driver %s) scaling compute environment %s (0-%lld vCPUs)\n", driver, ce, max_vcpus);
    else
      printf("barge up: scheduler and %d agent(s) (%lld vCPU, %lld MiB each) in compute environment %s\n", n, vcpus, mem, ce);
    printf("barge up: service logs in %s, job logs in %s\n", home, logs);
    printf("barge up: recorded in %s/stack; in another terminal, e.g.:\n"
           "  barge create-job-queue --job-queue-name q --priority 1 --compute-environment-order order=1,computeEnvironment=%s\n"
           "Ctrl-C stops the stack.\n", home, ce);
    fflush(stdout);
  }
  while (!stop_flag) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (int i = 0; i <= n; i++) {
        if (kids[i].pid != pid) continue;
        kids[i].pid = 0;
        if (stop_flag) break;
        log_warn("%s exited (status %d); restarting it", kids[i].name,
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        if (mono_ms() - kids[i].started < 1000) usleep(1000000);
        spawn(&kids[i]);
      }
      continue;
    }
    usleep(100000);
  }
  log_info("stopping the stack");
  for (int i = n; i >= 0; i--)
    if (kids[i].pid > 0) kill(kids[i].pid, SIGTERM);
  int64_t until = mono_ms() + 15000;
  for (;;) {
    int alive = 0;
    for (int i = 0; i <= n; i++) {
      if (kids[i].pid > 0 && waitpid(kids[i].pid, NULL, WNOHANG) == kids[i].pid) kids[i].pid = 0;
      if (kids[i].pid > 0) alive++;
    }
    if (!alive) break;
    if (mono_ms() > until) {
      for (int i = 0; i <= n; i++)
        if (kids[i].pid > 0) kill(kids[i].pid, SIGKILL);
    }
    usleep(50000);
  }
  if (kafka_dir[0]) {
    char cmd[8192];
    const char *script = getenv("BARGE_KAFKA_SCRIPT");
    snprintf(cmd, sizeof cmd, "'%s' stop --dir '%s' >&2", script ? script : BARGE_SOURCE_DIR "/scripts/kafka.sh", kafka_dir);
    if (system(cmd) != 0) log_warn("stopping Kafka failed");
  }
  stack_remove();
  for (int i = 0; i <= n; i++)
    for (int k = 0; k < kids[i].argc; k++) free(kids[i].argv[k]);
  free(kids);
  if (!detach) printf("barge up: stopped\n");
  return 0;
}
