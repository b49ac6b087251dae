/* status.c: `barge status`: the services of the stack `barge up` runs, each with its process,
 * restarts, consumer lag and health; what the provisioner says it serves (its local clamp) and the
 * health of each MANAGED compute environment (docs/operations.md "barge status").
 *
 * The services come from $BARGE_HOME/services (written by the supervisor), then the agents the
 * provisioner's local driver runs from $BARGE_HOME/local-agents (written by the driver, with each
 * agent's metrics endpoint). A running service is up once its metrics say barge_service_ready 1
 * (starting before; running, its readiness unknown, without an endpoint), and an agent whose
 * barge_agent_info names a compute environment barge.config does not have is no-ce, said deleted
 * or never created (docs/metrics.md, docs/operations.md); a service's lag is the sum over its
 * input partitions of the high watermark minus its group's committed offset (the records it has
 * still to take; transaction markers count, so a caught-up transactional service
 * may show a few). A Kafka that does not answer leaves every lag unknown, not the rest. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "jsonget.h"
#include "opts.h"
#include "service.h"
#include "stack.h"
#include "views.h"

struct status_opts {
  struct kafka_opts kafka;
};
static const struct opt_spec status_rows[] = {OPTS_KAFKA(struct status_opts, kafka)};
const struct opts_cmd status_opts_cmd =
    OPTS_CMD("status", "[--brokers HOST:PORT]",
             "Shows each service of the stack `barge up` runs: process, restarts, consumer lag, health; and what "
             "the provisioner serves. HEALTH is up, starting (running, its start-up not over: its metrics say "
             "barge_service_ready 0 or do not answer), running (the process runs, its readiness unknown: no metrics "
             "endpoint, barge up --no-metrics), no-ce (an agent whose compute environment does not exist), "
             "stopped, restarting or down. Exit status 0 when every service is up and Kafka answers; 3 when "
             "every one runs but some are running (readiness unknown); else 1.",
             status_rows, struct status_opts, NULL);

/* The consumer group and input topics of a service, by its name in the services file. */
static int service_inputs(const char *name, char *group, size_t gn, enum bus_topic *ts) {
  static const struct {
    const char *name, *group;
    enum bus_topic t[3];
    int n;
  } known[] = {
      {"scheduler", "barge-scheduler", {TOPIC_REQUESTS, TOPIC_INSTANCES, TOPIC_EXECUTIONS}, 3},
      {"provisioner", "barge-provisioner", {TOPIC_CAPACITY, TOPIC_INSTANCES}, 2},
      {"accounting", "barge-accounting", {TOPIC_JOB_EVENTS, TOPIC_INSTANCES, TOPIC_CONFIG}, 3},
  };
  if (!strcmp(name, "audit")) { /* every topic (--topics all) */
    snprintf(group, gn, "barge-audit");
    for (int t = 0; t < TOPIC__COUNT; t++) ts[t] = (enum bus_topic)t;
    return TOPIC__COUNT;
  }
  for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
    if (strcmp(name, known[i].name)) continue;
    snprintf(group, gn, "%s", known[i].group);
    memcpy(ts, known[i].t, sizeof known[i].t);
    return known[i].n;
  }
  if (!strncmp(name, "agent ", 6)) {
    snprintf(group, gn, "barge-agent-%s", name + 6);
    ts[0] = TOPIC_PLACEMENTS;
    return 1;
  }
  return 0; /* the API: no consumer group */
}

/* The records a group has still to take on topics ts; -1 when it cannot be read. */
static long long group_lag(const struct bus_conf *bc, const char *group, const enum bus_topic *ts, int n) {
  char err[512];
  struct bus_consumer *c = bus_consumer_new(bc, group, 1, err, sizeof err);
  if (!c) return -1;
  long long lag = 0;
  for (int k = 0; k < n && lag >= 0; k++) {
    int parts = bus_partition_count(c, ts[k], err, sizeof err);
    if (parts < 0) lag = -1;
    for (int p = 0; p < parts; p++) {
      int64_t lo, hi, committed;
      if (bus_watermarks(c, ts[k], p, &lo, &hi) || bus_committed(c, ts[k], p, &committed)) {
        lag = -1;
        break;
      }
      lag += hi - (committed >= 0 ? committed : lo);
    }
  }
  bus_consumer_free(c);
  return lag;
}

/* Whether pid is stopped (SIGSTOP, SIGTSTP, a tracer): the state T or t of /proc/PID/stat. */
static int pid_stopped(long pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  size_t len = 0;
  char *st = read_file(path, &len); /* "pid (comm) S ..." */
  const char *rp = st ? strrchr(st, ')') : NULL;
  int stopped = rp && rp[1] == ' ' && (rp[2] == 'T' || rp[2] == 't');
  free(st);
  return stopped;
}

/* The compute environment of barge_agent_info{compute_environment="..."} in a metrics text, into
 * out; 0 when absent. */
static int agent_ce_in(const char *text, char *out, size_t n) {
  const char *k = "barge_agent_info{compute_environment=\"";
  const char *p = strstr(text, k);
  if (!p) return 0;
  p += strlen(k);
  size_t len = strcspn(p, "\"\n\\");
  if (p[len] != '"' || !len || len >= n) return 0;
  snprintf(out, n, "%.*s", (int)len, p);
  return 1;
}

/* barge.config as it is now, and the compute environments whose latest record is a tombstone
 * (deleted): a DeleteComputeEnvironment writes a tombstone keyed by the CE's ARN, which ends
 * "compute-environment/NAME", so the name is known even once compaction has removed the CE's own
 * record. The tombstone itself goes delete.retention.ms after compaction (the broker's, 24 h by
 * default): a CE deleted before that cannot be told from one never created. */
struct config_read {
  struct config_view cv;
  json_t *deleted; /* CE name -> true */
};

static void config_read_cb(void *ctx, const struct bus_msg *m) {
  struct config_read *r = ctx;
  config_view_apply(&r->cv, m);
  static const char ce_arn[] = ":compute-environment/";
  char key[1024];
  snprintf(key, sizeof key, "%.*s", (int)m->keylen, m->key ? m->key : "");
  const char *at = strstr(key, ce_arn);
  if (strncmp(key, "arn:", 4) || !at || !at[sizeof ce_arn - 1]) return;
  if (m->value) json_object_del(r->deleted, at + sizeof ce_arn - 1);
  else json_object_set_new(r->deleted, at + sizeof ce_arn - 1, json_true());
}

static int config_read(const struct bus_conf *bc, struct config_read *r, char *err, size_t errlen) {
  config_view_init(&r->cv);
  r->deleted = json_object();
  return view_read_table(bc, TOPIC_CONFIG, config_read_cb, r, err, errlen);
}

static void config_read_release(struct config_read *r) {
  config_view_release(&r->cv);
  json_decref(r->deleted);
}

/* One line per service of a services file (the supervisor's, or the local driver's list of its
 * agents); the number of services neither up nor running; *unknown counts those running whose
 * start-up cannot be told (no metrics endpoint). A missing file is said unless optional. bc NULL:
 * no broker answers, every lag is unknown. cr NULL: barge.config unread, no agent is said no-ce. */
static int print_services(const struct bus_conf *bc, const struct config_read *cr, const char *path, int optional,
                          int *unknown) {
  const struct config_view *cv = cr ? &cr->cv : NULL;
  char *text = read_file(path, NULL);
  if (!text) {
    if (!optional) printf("(no %s: the stack was started by an older barge, or is stopping)\n", path);
    return 0;
  }
  int down = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *f[5] = {line, NULL, NULL, NULL, NULL}; /* name, pid, restarts, log, metrics URL (newer stacks) */
    for (int i = 1; i < 5 && f[i - 1]; i++) {
      char *tab = strchr(f[i - 1], '\t');
      if (tab) *tab = 0, f[i] = tab + 1;
    }
    if (!f[3]) continue;
    long pid = atol(f[1]);
    /* the process must be that service: a pid recorded before its process ended may be another
     * process's since */
    char service[32];
    snprintf(service, sizeof service, "%.*s", (int)strcspn(f[0], " "), f[0]);
    int up = stack_pid_runs(pid, service);
    const char *health = up ? "up" : pid ? "down" : "restarting";
    char note[1024] = "";
    if (up && pid_stopped(pid)) { /* it runs no code: it serves nothing and answers no signal but SIGCONT */
      health = "stopped";
      up = 0;
      snprintf(note, sizeof note, "  (it serves nothing until continued: kill -CONT %ld)", pid);
    }
    /* a running process is up once its start-up is over: barge_service_ready of its metrics
     * (docs/metrics.md); an endpoint that does not answer yet is a start-up too (before a
     * broker answers, the agent serves none). Without an endpoint (--no-metrics) it cannot be
     * told: "running" says only that the process runs, and is not counted as up. */
    if (up && (!f[4] || strncmp(f[4], "http://", 7))) {
      health = "running";
      up = 0;
      (*unknown)++;
    } else if (up) {
      char *m = stack_metrics_get(f[4], 1000), ce[256];
      double ready = m ? stack_metric_value(m, "barge_service_ready") : 0;
      if (ready == 0) { /* -1: a service of an older barge, without the gauge */
        health = "starting";
        up = 0;
      } else if (cv && agent_ce_in(m, ce, sizeof ce) && !config_find(cv->ces, "computeEnvironmentName", ce)) {
        /* the scheduler ignores an agent whose compute environment is not in barge.config */
        health = "no-ce";
        up = 0;
        const char *name = strstr(ce, ":compute-environment/"); /* the agent may name it by ARN */
        name = name ? name + strlen(":compute-environment/") : ce;
        if (json_object_get(cr->deleted, name))
          snprintf(note, sizeof note, "  (compute environment %s was deleted: it is given no job; stop it, or create "
                   "%s again)", ce, ce);
        else
          snprintf(note, sizeof note, "  (compute environment %s was never created (barge.config has no record of it, "
                   "nor of its deletion): it is given no job; check the agent's --compute-environment, or create %s)",
                   ce, ce);
      }
      free(m);
    }
    down += !up && strcmp(health, "running");
    char group[128], lagtext[32] = "-";
    enum bus_topic ts[TOPIC__COUNT];
    int n = service_inputs(f[0], group, sizeof group, ts);
    if (n) {
      long long lag = bc ? group_lag(bc, group, ts, n) : -1;
      if (lag >= 0) snprintf(lagtext, sizeof lagtext, "%lld", lag);
      else snprintf(lagtext, sizeof lagtext, "unknown");
    }
    printf("%-28s %-8ld %-11s %-9s %-9s %s%s\n", f[0], pid, health, f[2], lagtext, f[4] ? f[4] : "-", note);
  }
  free(text);
  return down;
}

/* The provisioners' heartbeats (what serves each MANAGED CE, the local clamp) and the health
 * DescribeComputeEnvironments gives each CE that has one. barge.scaling keeps the heartbeats of a
 * deleted CE: only the MANAGED CEs barge.config has now are shown (all, when it cannot be read). */
static void print_served(const struct bus_conf *bc, const struct config_view *cv) {
  json_t *desired = NULL, *served = NULL;
  char err[512];
  if (scaling_view_load(bc, &desired, &served, err, sizeof err)) {
    printf("provisioner heartbeats: cannot read barge.scaling: %s\n", err);
    json_decref(desired);
    json_decref(served);
    return;
  }
  const char *ce;
  json_t *h, *tmp;
  json_object_foreach_safe(served, tmp, ce, h) {
    const char *type = cv ? jget_str(config_find(cv->ces, "computeEnvironmentName", ce), "type") : "MANAGED";
    if (!type || strcmp(type, "MANAGED")) json_object_del(served, ce);
  }
  if (!json_object_size(served)) {
    printf("compute environments served by a provisioner: none yet (a MANAGED one is served once created)\n");
  } else {
    printf("compute environments served by a provisioner:\n");
    int64_t now = now_ms();
    json_object_foreach(served, ce, h) {
      int64_t until = (int64_t)json_integer_value(json_object_get(h, "servedUntil"));
      char at[32];
      iso8601_utc((int64_t)json_integer_value(json_object_get(h, "at")), at);
      printf("  %-24s %-8s last heartbeat %s: %s\n", ce, until >= now ? "VALID" : "INVALID", at, jget_str(h, "detail"));
    }
  }
  json_decref(desired);
  json_decref(served);
}

/* The Kafka `barge up` started in dir (its pid file, DIR/pid, names it): 1 and its pid when it runs,
 * 0 and the pid its file names (0: no file) when not. A process that got that pid since is not it:
 * its command line must be Kafka's, naming dir. */
static int own_kafka_runs(const char *dir, long *pid) {
  char path[4200], text[32], *cmd;
  snprintf(path, sizeof path, "%s/pid", dir);
  ssize_t n = read_small(path, text, sizeof text);
  *pid = n > 0 ? strtol(text, NULL, 10) : 0;
  if (*pid <= 0 || !stack_pid_alive(*pid)) return 0;
  size_t len = 0;
  snprintf(path, sizeof path, "/proc/%ld/cmdline", *pid);
  if (!(cmd = read_file(path, &len))) return 1; /* not ours to read: kill() says it lives */
  for (size_t i = 0; i + 1 < len; i++)
    if (!cmd[i]) cmd[i] = ' ';
  int runs = strstr(cmd, "kafka.Kafka") && strstr(cmd, dir);
  free(cmd);
  return runs;
}

/* Why the Kafka of the stack does not answer, when `barge up` started it (the stack file's
 * kafka_dir): stopped on purpose (`kafka.sh stop` removes the pid file; the supervisor leaves it
 * stopped), dead (the supervisor starts it again) or running but not answering yet (starting
 * again, or stuck). Said so that the operator knows whether to wait or to act (docs/operations.md,
 * "barge status"). */
static void say_own_kafka(const char *brokers) {
  char dir[4096], b[1024];
  long pid;
  if (stack_get("kafka_dir", dir, sizeof dir) || !dir[0]) return; /* barge up --brokers: not the stack's */
  if (stack_get("brokers", b, sizeof b) || strcmp(b, brokers)) return; /* --brokers, BARGE_BROKERS: another */
  if (own_kafka_runs(dir, &pid))
    fprintf(stderr, "barge status: the stack's Kafka in %s (pid %ld) runs but does not answer: it may be starting (barge "
            "up starts it again when it dies: see up.log), else see %s/kafka.log\n", dir, pid, dir);
  else if (pid > 0)
    fprintf(stderr, "barge status: the stack's Kafka in %s (pid %ld) is not running: barge up starts it again "
            "within seconds (see up.log; %s/kafka.log says why it ended)\n", dir, pid, dir);
  else
    fprintf(stderr, "barge status: the stack's Kafka in %s was stopped (its pid file is gone: `scripts/kafka.sh "
            "stop`), and barge up leaves it stopped: `scripts/kafka.sh start --keep --dir %s` starts it again, or "
            "`barge down` stops the stack\n", dir, dir);
}

int cmd_status(int argc, char **argv) {
  struct status_opts o;
  int r = opts_parse_or_exit(&status_opts_cmd, &o, argc, argv);
  if (r >= 0) return r;
  char home[3072], pidtext[32], path[3200], api[512];
  stack_home(home, sizeof home);
  if (stack_get("supervisor", pidtext, sizeof pidtext) == 0 && !stack_supervisor_alive(atol(pidtext))) {
    fprintf(stderr, "barge status: the stack's supervisor (pid %s) in %s is gone; `barge down` stops what it left (its "
            "Kafka), then `barge up` starts it again\n", pidtext, home);
    return 1;
  }
  if (stack_get("supervisor", pidtext, sizeof pidtext)) {
    /* a `barge up` killed while starting, before it recorded its stack, leaves its Kafka running
     * (`barge down` stops it) */
    char kdir[3200];
    long kpid;
    snprintf(kdir, sizeof kdir, "%s/kafka", home);
    if (own_kafka_runs(kdir, &kpid))
      fprintf(stderr, "barge status: no stack is running in %s, but a Kafka runs in %s (pid %ld), left by a `barge "
              "up` that did not finish starting: `barge down` stops it, `barge up` starts a stack on it\n", home,
              kdir, kpid);
    else
      fprintf(stderr, "barge status: no stack is running in %s (start one with `barge up`)\n", home);
    return 1;
  }
  struct service_conn conn;
  if ((r = service_connect("status", &o.kafka, "barge-status", 0, &conn))) return r;
  /* a Kafka that does not answer is part of the answer: the services are still listed (their
   * processes, restarts, metrics), each lag unknown (docs/operations.md "barge status") */
  char kerr[512];
  int kafka_up = bus_probe(&conn.bc, 3000, kerr, sizeof kerr) == 0;
  if (!kafka_up) {
    fprintf(stderr, "barge status: no Kafka broker answers at %s: %s; every LAG below is unknown\n", conn.bc.brokers,
            kerr);
    say_own_kafka(conn.bc.brokers);
  }
  int sup_stopped = pid_stopped(atol(pidtext));
  printf("stack: supervisor pid %s%s, Kafka at %s%s, topic prefix %s", pidtext,
         sup_stopped ? " (stopped: it restarts nothing until continued, kill -CONT it)" : "", conn.bc.brokers,
         kafka_up ? "" : " (not answering)", conn.bc.prefix);
  if (stack_get("api_endpoint", api, sizeof api) == 0) printf(", API at %s", api);
  printf("\n");
  snprintf(path, sizeof path, "%s/services", home);
  printf("%-28s %-8s %-11s %-9s %-9s %s\n", "SERVICE", "PID", "HEALTH", "RESTARTS", "LAG", "METRICS");
  /* barge.config as it is now: the agents whose compute environment is gone, the CEs served */
  struct config_read cr = {0};
  char cverr[512];
  int have_cv = kafka_up && config_read(&conn.bc, &cr, cverr, sizeof cverr) == 0;
  if (kafka_up && !have_cv) config_read_release(&cr);
  int unknown = 0, agents_unknown = 0;
  int down = print_services(kafka_up ? &conn.bc : NULL, have_cv ? &cr : NULL, path, 0, &unknown);
  /* the agents the provisioner's local driver runs, with their metrics endpoints (not counted
   * in the exit status: the provisioner starts and stops them as the load asks) */
  snprintf(path, sizeof path, "%s/local-agents", home);
  print_services(kafka_up ? &conn.bc : NULL, have_cv ? &cr : NULL, path, 1, &agents_unknown);
  /* without metrics (barge up --no-metrics) a running process may still be starting: status
   * does not claim it is up, nor exits 0 (docs/operations.md "barge status") */
  if (unknown + agents_unknown)
    printf("(running: the process runs, but whether its start-up is over cannot be told without its metrics "
           "endpoint (barge up --no-metrics); start the stack without --no-metrics for up/starting)\n");
  if (kafka_up) print_served(&conn.bc, have_cv ? &cr.cv : NULL);
  else printf("compute environments served by a provisioner: unknown (Kafka does not answer)\n");
  if (have_cv) config_read_release(&cr);
  return down || !kafka_up || sup_stopped ? 1 : unknown ? 3 : 0;
}
