/* agent_main.c: `barge agent`, the Kafka shell around the process runner (runner.c).
 *
 * One agent is one instance: it registers (InstanceEvent READY with its capacity), heartbeats,
 * reads the placements keyed by its instance id, runs each attempt with the environment the
 * scheduler built, and reports facts (ExecutionReport: STARTED, EXITED with code,
 * FAILED_TO_START, TIMED_OUT, KILLED). It commits a placement's offset only once the attempt
 * has been started, so a crashed agent re-reads it (at-least-once, as AWS Batch); a
 * (job, attempt) it has already accepted is never started twice.
 *
 * Incarnations: every start of an agent takes a new, larger incarnation number (its start
 * time in ms, above the last one it recorded), carried in its InstanceEvents and
 * ExecutionReports. The scheduler settles attempts placed on an earlier incarnation of the same
 * instance as lost; the agent ignores placements addressed to another incarnation, and on start
 * kills the process groups its earlier incarnation left running (recorded in a state folder
 * beside the logs). See docs/architecture.md, "Agent incarnations". */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_main.h"
#include "bus.h"
#include "opts.h"
#include "runner.h"
#include "stack.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

struct agent {
  const char *instance_id, *ce, *instance_type, *driver;
  long long vcpus, mem_mib, gpus;
  struct bus_producer *prod;
  struct runner *runner;
  char source[128];
  json_t *seen; /* "jobId#attempt" -> true: attempts accepted (never started twice) */
  int64_t incarnation;
  char state_dir[4096]; /* <log_dir>/.agents/<instance id>: incarnation, live process groups */
  int failed;
  char err[512];
};

static int send_instance(struct agent *a, const char *kind, const char *reason) {
  json_t *ev = json_pack("{s:o, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I}", "header",
                         bus_header(a->source, "", now_ms()), "instanceId", a->instance_id,
                         "computeEnvironment", a->ce, "kind", kind, "instanceType",
                         a->instance_type, "vcpus", (json_int_t)a->vcpus, "memoryMib",
                         (json_int_t)a->mem_mib, "gpus", (json_int_t)a->gpus, "driver",
                         a->driver, "at", (json_int_t)now_ms());
  if (reason) json_object_set_new(ev, "reason", json_string(reason));
  json_object_set_new(ev, "incarnation", json_integer(a->incarnation));
  int rc = bus_produce(a->prod, TOPIC_INSTANCES, a->instance_id, ev, a->err, sizeof a->err);
  json_decref(ev);
  return rc;
}

/* The start time of process pid in clock ticks since boot (/proc/PID/stat field 22), or -1. */
static long long proc_start_time(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  char *txt = read_file(path, NULL);
  if (!txt) return -1;
  long long st = -1;
  char *p = strrchr(txt, ')'); /* the command name may hold spaces */
  if (p) {
    int field = 2;
    for (p++; *p && field < 22; p++)
      if (*p == ' ') field++;
    if (field == 22) st = strtoll(p, NULL, 10);
  }
  free(txt);
  return st;
}

/* Records (or forgets) a live attempt's process group, so that the next incarnation of this
 * agent can stop what this one leaves behind if it dies. */
static void track_group(struct agent *a, pid_t pid, int alive) {
  char path[4400];
  snprintf(path, sizeof path, "%s/pg-%d", a->state_dir, (int)pid);
  if (!alive) {
    unlink(path);
    return;
  }
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%lld\n", proc_start_time(pid));
  if (write_file_atomic(path, buf, (size_t)n)) log_warn("cannot record process group %d in %s", (int)pid, path);
}

/* Takes this start's incarnation (larger than any before it here) and SIGKILLs the process
 * groups an earlier incarnation recorded and left running. */
static int begin_incarnation(struct agent *a, const char *log_dir, char *err, size_t errlen) {
  snprintf(a->state_dir, sizeof a->state_dir, "%s/.agents/%s", log_dir, a->instance_id);
  if (mkdir_p(a->state_dir)) {
    snprintf(err, errlen, "cannot create the agent state folder %.900s: %s", a->state_dir, strerror(errno));
    return -1;
  }
  char path[4400];
  snprintf(path, sizeof path, "%s/incarnation", a->state_dir);
  char *last = read_file(path, NULL);
  int64_t prev = last ? strtoll(last, NULL, 10) : 0;
  free(last);
  a->incarnation = now_ms();
  if (a->incarnation <= prev) a->incarnation = prev + 1;
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%lld\n", (long long)a->incarnation);
  if (write_file_atomic(path, buf, (size_t)n)) {
    snprintf(err, errlen, "cannot write %.900s: %s", path, strerror(errno));
    return -1;
  }
  DIR *d = opendir(a->state_dir);
  struct dirent *de;
  int killed = 0;
  while (d && (de = readdir(d))) {
    if (strncmp(de->d_name, "pg-", 3)) continue;
    pid_t pid = (pid_t)atoi(de->d_name + 3);
    snprintf(path, sizeof path, "%s/%s", a->state_dir, de->d_name);
    char *rec = read_file(path, NULL);
    long long want = rec ? strtoll(rec, NULL, 10) : -2;
    free(rec);
    /* the same process only if its start time matches: pids are reused */
    if (pid > 1 && want >= 0 && proc_start_time(pid) == want) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      killed++;
    }
    unlink(path);
  }
  if (d) closedir(d);
  if (killed) log_warn("stopped %d attempt process group(s) left by an earlier incarnation", killed);
  return 0;
}

static void on_run_event(void *ctx, const struct run_event *ev) {
  struct agent *a = ctx;
  if (ev->pid > 0) track_group(a, ev->pid, ev->kind == RUN_STARTED);
  static const char *kinds[] = {"STARTED", "EXITED", "FAILED_TO_START", "TIMED_OUT", "KILLED"};
  json_t *r = json_pack("{s:o, s:s, s:i, s:s, s:s, s:I}", "header",
                        bus_header(a->source, ev->job_id, now_ms()), "jobId", ev->job_id,
                        "attempt", ev->attempt, "instanceId", a->instance_id, "kind",
                        kinds[ev->kind], "at", (json_int_t)now_ms());
  if (ev->kind != RUN_STARTED && ev->kind != RUN_FAILED_TO_START && ev->exit_code >= 0)
    json_object_set_new(r, "exitCode", json_integer(ev->exit_code));
  if (ev->reason && *ev->reason) json_object_set_new(r, "reason", json_string(ev->reason));
  if (ev->log_path) json_object_set_new(r, "logPath", json_string(ev->log_path));
  json_object_set_new(r, "incarnation", json_integer(a->incarnation));
  log_info("%s attempt %d: %s%s%s", ev->job_id, ev->attempt, kinds[ev->kind],
           ev->kind == RUN_STARTED ? "" : " ", ev->kind == RUN_STARTED ? "" : (ev->reason ? ev->reason : ""));
  if (bus_produce(a->prod, TOPIC_EXECUTIONS, ev->job_id, r, a->err, sizeof a->err)) a->failed = 1;
  json_decref(r);
}

/* Builds argv/envp from a Placement and starts it. */
static void start_placement(struct agent *a, const json_t *p, const char *log_dir) {
  const char *job = json_string_value(json_object_get(p, "jobId"));
  int attempt = (int)json_integer_value(json_object_get(p, "attempt"));
  char key[128];
  snprintf(key, sizeof key, "%s#%d", job ? job : "", attempt);
  if (!job || json_object_get(a->seen, key)) return; /* a re-delivered placement */
  int64_t inc = json_integer_value(json_object_get(p, "incarnation"));
  if (inc && inc != a->incarnation) {
    /* placed on an earlier incarnation of this instance: the scheduler settles it as lost */
    log_info("%s attempt %d was placed on incarnation %lld, not this one (%lld): ignored", job,
             attempt, (long long)inc, (long long)a->incarnation);
    return;
  }
  json_object_set_new(a->seen, key, json_true());
  json_t *cmd = json_object_get(p, "command"), *env = json_object_get(p, "environment");
  size_t nc = json_array_size(cmd), ne = json_array_size(env);
  char **argv = xcalloc(nc + 1, sizeof *argv);
  char **envp = xcalloc(ne + 1, sizeof *envp);
  for (size_t i = 0; i < nc; i++) argv[i] = (char *)json_string_value(json_array_get(cmd, i));
  for (size_t i = 0; i < ne; i++) {
    json_t *e = json_array_get(env, i);
    const char *n = json_string_value(json_object_get(e, "name"));
    const char *v = json_string_value(json_object_get(e, "value"));
    size_t len = strlen(n ? n : "") + strlen(v ? v : "") + 2;
    envp[i] = xmalloc(len);
    snprintf(envp[i], len, "%s=%s", n ? n : "", v ? v : "");
  }
  char log_path[4096];
  snprintf(log_path, sizeof log_path, "%s/%s/%d.log", log_dir, job, attempt);
  struct run_spec spec = {.job_id = job,
                          .attempt = attempt,
                          .argv = argv,
                          .envp = envp,
                          .log_path = log_path,
                          .timeout_ms = json_integer_value(json_object_get(p, "timeoutSeconds")) * 1000,
                          .mem_limit_mib = 0};
  char err[512];
  if (nc == 0) {
    /* no command: nothing can start; report it as the container runtime would */
    json_t *r = json_pack("{s:o, s:s, s:i, s:s, s:s, s:s, s:I}", "header",
                          bus_header(a->source, job, now_ms()), "jobId", job, "attempt", attempt,
                          "instanceId", a->instance_id, "kind", "FAILED_TO_START", "reason",
                          "CannotStartContainerError: the job has no command", "at", (json_int_t)now_ms());
    json_object_set_new(r, "incarnation", json_integer(a->incarnation));
    if (bus_produce(a->prod, TOPIC_EXECUTIONS, job, r, a->err, sizeof a->err)) a->failed = 1;
    json_decref(r);
  } else if (runner_start(a->runner, &spec, err, sizeof err)) {
    log_warn("%s attempt %d not started: %s", job, attempt, err);
  }
  for (size_t i = 0; i < ne; i++) free(envp[i]);
  free(envp);
  free(argv);
}

int agent_service_main(int argc, char **argv) {
  const char *brokers_flag = NULL, *prefix_flag = NULL, *props = NULL, *log_dir = NULL;
  const char *instance_id = NULL, *ce = NULL, *instance_type = "local", *run_as = NULL, *driver = "local";
  long long vcpus = 2, mem = 4096, gpus = 0, heartbeat_ms = 5000, grace_ms = 30000, max_jobs = 256;
  const struct opt opts[] = {
      {"brokers", "HOST:PORT", &brokers_flag, NULL, NULL, "Kafka bootstrap servers (default: the stack of `barge up`)"},
      {"topic-prefix", "P", &prefix_flag, NULL, NULL, "topic name prefix (default barge.)"},
      {"kafka-props", "K=V,...", &props, NULL, NULL, "extra librdkafka properties"},
      {"compute-environment", "NAME", &ce, NULL, NULL, "the compute environment this instance belongs to (required)"},
      {"instance-id", "ID", &instance_id, NULL, NULL, "instance id (default: a new i-<17 hex>)"},
      {"instance-type", "TYPE", &instance_type, NULL, NULL, "instance type reported (default local)"},
      {"vcpus", "N", NULL, &vcpus, NULL, "schedulable vCPUs (default 2)"},
      {"memory", "MIB", NULL, &mem, NULL, "schedulable memory in MiB (default 4096)"},
      {"gpus", "N", NULL, &gpus, NULL, "GPUs (default 0)"},
      {"log-dir", "DIR", &log_dir, NULL, NULL, "per-attempt logs go to DIR/<jobId>/<attempt>.log (default $BARGE_HOME/logs)"},
      {"heartbeat-ms", "MS", NULL, &heartbeat_ms, NULL, "heartbeat period (default 5000)"},
      {"kill-grace-ms", "MS", NULL, &grace_ms, NULL, "SIGTERM to SIGKILL grace (default 30000)"},
      {"max-jobs", "N", NULL, &max_jobs, NULL, "most attempts alive at once (default 256)"},
      {"run-as", "USER", &run_as, NULL, NULL, "run jobs as this user (needs root; default: the agent's user)"},
      {"driver", "NAME", &driver, NULL, NULL, "the driver that launched this instance (default local)"},
  };
  int r = opts_parse("agent", "--compute-environment NAME [options]", argc, argv, opts,
                     sizeof opts / sizeof *opts, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  if (!ce) {
    fprintf(stderr, "barge agent: --compute-environment is required (the CE this instance serves)\n");
    return 2;
  }
  char brokers[1024], prefix[128], err[1024], idbuf[32], logbuf[4096];
  if (stack_brokers(brokers_flag, brokers, sizeof brokers, err, sizeof err)) {
    fprintf(stderr, "barge agent: %s\n", err);
    return 2;
  }
  stack_prefix(prefix_flag, prefix, sizeof prefix);
  if (!instance_id) {
    char hex[18];
    random_hex(hex, 17);
    snprintf(idbuf, sizeof idbuf, "i-%s", hex);
    instance_id = idbuf;
  }
  if (!log_dir) {
    char home[3072];
    stack_home(home, sizeof home);
    snprintf(logbuf, sizeof logbuf, "%s/logs", home);
    log_dir = logbuf;
  }
  char role[64];
  snprintf(role, sizeof role, "agent %s", instance_id);
  log_set_role(role);
  if (codec_init(err, sizeof err)) {
    log_error("%s", err);
    return 1;
  }
  struct agent a;
  memset(&a, 0, sizeof a);
  a.instance_id = instance_id;
  a.ce = ce;
  a.instance_type = instance_type;
  a.driver = driver;
  a.vcpus = vcpus;
  a.mem_mib = mem;
  a.gpus = gpus;
  a.seen = json_object();
  char host[64] = "localhost";
  gethostname(host, sizeof host - 1);
  snprintf(a.source, sizeof a.source, "agent/%s/%s:%d", instance_id, host, (int)getpid());
  struct bus_conf bc = {.brokers = brokers, .prefix = prefix, .kafka_props = props, .client_id = "barge-agent"};
  struct runner_conf rconf = {.log_dir = log_dir, .kill_grace_ms = grace_ms, .max_jobs = (int)max_jobs, .run_as_user = run_as};
  struct bus_consumer *c = NULL;
  int rc = 1;
  if (begin_incarnation(&a, log_dir, err, sizeof err)) {
    log_error("%s", err);
    goto out;
  }
  a.runner = runner_new(&rconf, err, sizeof err);
  if (!a.runner) {
    log_error("%s", err);
    goto out;
  }
  a.prod = bus_producer_new(&bc, NULL, err, sizeof err);
  char group[128];
  snprintf(group, sizeof group, "barge-agent-%s", instance_id);
  c = bus_consumer_new(&bc, group, 1, err, sizeof err);
  if (!a.prod || !c) {
    log_error("%s", err);
    goto out;
  }
  enum bus_topic t = TOPIC_PLACEMENTS;
  /* position first (explicit offsets), then register: no placement can be missed */
  if (bus_assign_all(c, &t, 1, 0, err, sizeof err)) {
    log_error("%s", err);
    goto out;
  }
  if (send_instance(&a, "READY", NULL) || bus_flush(a.prod, 30000, err, sizeof err)) {
    log_error("registering: %s %s", a.err, err);
    goto out;
  }
  log_info("ready: %lld vCPU, %lld MiB, %lld GPU in %s; logs in %s; incarnation %lld", vcpus, mem, gpus,
           ce, log_dir, (long long)a.incarnation);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  int64_t next_hb = mono_ms() + heartbeat_ms;
  int draining = 0;
  while (!stop_flag && !a.failed) {
    struct bus_msg m;
    int pr = bus_poll(c, 100, &m, err, sizeof err);
    if (pr < 0) {
      log_error("%s", err);
      goto out;
    }
    if (pr == 1) {
      if (m.keylen == strlen(instance_id) && !memcmp(m.key, instance_id, m.keylen)) {
        enum barge_ev_type et;
        json_t *ev = NULL;
        char why[512];
        if (bus_decode(&m, &et, &ev, why, sizeof why)) {
          if (bus_dead_letter(a.prod, &m, a.source, why, err, sizeof err)) log_error("%s", err);
        } else {
          json_t *body = json_object_get(ev, "body"), *x;
          if ((x = json_object_get(body, "Placement"))) {
            start_placement(&a, x, log_dir);
          } else if ((x = json_object_get(body, "KillRequest"))) {
            const char *job = json_string_value(json_object_get(x, "jobId"));
            const char *reason = json_string_value(json_object_get(x, "reason"));
            runner_kill(a.runner, job ? job : "", (int)json_integer_value(json_object_get(x, "attempt")),
                        reason && *reason ? reason : "terminated");
          } else if (json_object_get(body, "DrainRequest")) {
            draining = 1;
          }
        }
        json_decref(ev);
      }
      bus_mark(c, &m);
      bus_msg_release(&m);
    }
    runner_poll(a.runner, mono_ms(), on_run_event, &a);
    if (mono_ms() >= next_hb) {
      next_hb = mono_ms() + heartbeat_ms;
      if (send_instance(&a, "HEARTBEAT", NULL)) a.failed = 1;
    }
    /* effects first (started processes, their reports delivered), then the offsets */
    if (bus_flush(a.prod, 30000, err, sizeof err)) {
      log_error("%s", err);
      goto out;
    }
    if (bus_commit(c, err, sizeof err)) log_warn("%s", err);
    if (draining && runner_active(a.runner) == 0) {
      log_info("drained; stopping");
      break;
    }
  }
  if (a.failed) {
    log_error("%s", a.err);
    goto out;
  }
  /* leaving: running attempts end with the instance, reported as the instance's loss so that
   * the retry rules for `Host EC2*` apply (runner_free kills them without events) */
  runner_free(a.runner);
  a.runner = NULL;
  if (send_instance(&a, "TERMINATED", "agent stopped") == 0 && bus_flush(a.prod, 10000, err, sizeof err))
    log_warn("reporting the stop: %s", err);
  rc = 0;
out:
  bus_consumer_free(c);
  bus_producer_free(a.prod);
  runner_free(a.runner);
  json_decref(a.seen);
  return rc;
}
