/* agent_main.c: `barge agent`, the Kafka shell around the runtime (runtime.h: processes or containers).
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
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_main.h"
#include "bus.h"
#include "ce_check.h"
#include "joblog.h"
#include "jsonget.h"
#include "log_retention.h"
#include "log_server.h"
#include "metrics.h"
#include "opts.h"
#include "runtime.h"
#include "service.h"
#include "stack.h"

/* ---- options ---- */

/* The most vCPUs, MiB or GPUs an instance may register with: the scheduler dead-letters more
 * (docs/job-model.md §4.4). */
#define AGENT_CAP_MAX (1 << 30)

struct agent_opts {
  struct kafka_opts kafka;
  struct metrics_opts metrics;
  const char *ce, *instance_id, *instance_type, *log_dir, *run_as, *driver, *log_listen, *log_url, *log_token, *address,
      *log_tls_cert, *log_tls_key;
  int64_t vcpus, mem, gpus, heartbeat_ms, grace_ms, max_jobs, fence_ms, max_log_mib, start_threads, seen_ms;
  double log_retention_h;
  struct runtime_opts rt;
};

#define A struct agent_opts
static const struct opt_spec agent_rows[] = {
    OPTS_KAFKA(A, kafka),
    OPT_ROW_DOC(A, ce, "compute-environment", "NAME", "required", "the compute environment this instance belongs to"),
    OPT_ROW_DOC(A, instance_id, "instance-id", "ID", "a new i-<17 hex>",
                "instance id: 1 to 40 letters, digits, ., _ or -, not beginning with ."),
    OPT_ROW(A, instance_type, "instance-type", "TYPE", "local", "instance type reported"),
    OPT_ROW(A, vcpus, "vcpus", "N", "2", "schedulable vCPUs (1 to 2^30)"),
    OPT_ROW(A, mem, "memory", "MIB", "4096", "schedulable memory in MiB (1 to 2^30)"),
    OPT_ROW(A, gpus, "gpus", "N", "0", "GPUs (0 to 2^30)"),
    OPT_ROW_DOC(A, log_dir, "log-dir", "DIR", "$BARGE_HOME/logs", "per-attempt logs go to DIR/<jobId>/<attempt>.log; the agent's state too "
                "(DIR/.agents/<instance id>): keep DIR across restarts, or the attempts of a start that died run on"),
    OPT_ROW_DOC(A, log_retention_h, "log-retention-hours", "H", "0: kept for ever",
                "remove a job's log folder once its files are H hours old and no attempt of it is alive here "
                "(docs/operations.md, \"Job logs on the agents\")"),
    OPT_ROW(A, heartbeat_ms, "heartbeat-ms", "MS", "5000", "heartbeat period"),
    OPT_ROW_DOC(A, fence_ms, "fence-after-ms", "MS", "5 heartbeats, at least 10000",
                "cut off from Kafka this long (no heartbeat delivered), stop every attempt and exit; keep it above "
                "--heartbeat-ms and below the scheduler's --lost-after-ms (docs/architecture.md, \"Agent "
                "incarnations\")"),
    OPT_ROW(A, grace_ms, "kill-grace-ms", "MS", "30000", "SIGTERM to SIGKILL grace on timeout and terminate (0: SIGKILL at once)"),
    OPT_ROW_MIN(A, seen_ms, "placement-memory-ms", "MS", "600000", 1,
                "how long the agent remembers each placement it accepted, to ignore one delivered again (at least MS, "
                "at most twice that; memory grows with the placements of that window only)"),
    /* bounded: a negative --max-jobs or --max-log-mib, or 100 start threads, were taken silently */
    {.name = "max-jobs", .arg = "N", .type = OPT_I64, .off = offsetof(A, max_jobs), .def = "256", .min = 1,
     .max = 1000000, .help = "most attempts alive at once; one placed beyond fails to start (CannotStartContainerError)"},
    {.name = "start-threads", .arg = "N", .type = OPT_I64, .off = offsetof(A, start_threads), .def = "0", .min = 0,
     .max = 16,
     .help = "process runtime: threads that start attempts (fork, cgroup join, exec) beside the loop, at most 16; "
             "0 = the loop starts each itself, which costs less CPU (docs/architecture.md, \"Throughput\")"},
    {.name = "max-log-mib", .arg = "MIB", .type = OPT_I64, .off = offsetof(A, max_log_mib), .def = "1024", .min = 0,
     .max = 1 << 30, /* 1 PiB: the byte count stays within int64 */
     .help = "most of an attempt's output its log keeps; the rest is dropped with a line saying so (0: no limit)"},
    OPT_ROW_DOC(A, run_as, "run-as", "USER", "the agent's user", "run jobs as this user (needs root)"),
    OPT_ROW(A, driver, "driver", "NAME", "local", "the driver that launched this instance"),
    OPT_ROW_DOC(A, log_listen, "log-listen", "HOST:PORT", "none",
                "serve the attempt logs read-only over HTTP here, for `barge api` on other hosts (docs/api.md)"),
    OPT_ROW_DOC(A, log_url, "log-url", "URL", "http://HOST:PORT of --log-listen",
                "the URL of the log server advertised to `barge api` (behind a proxy or NAT)"),
    OPT_ROW_DOC(A, log_token, "log-token-file", "FILE", "none: --log-listen on loopback only",
                "the log server answers only requests signed with this file's secret, the one `barge api` has "
                "(docs/api.md, \"Job logs\")"),
    OPT_ROW_DOC(A, log_tls_cert, "log-tls-cert", "FILE", "none: plain HTTP",
                "the log server serves HTTPS with this PEM certificate (chain); needs --log-tls-key"),
    OPT_ROW_DOC(A, log_tls_key, "log-tls-key", "FILE", "none", "the PEM private key of --log-tls-cert"),
    OPT_ROW(A, address, "address", "IPV4", "127.0.0.1",
            "the address other instances reach this one at: a multi-node job's nodes get their main node's "
            "(AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS); set it on multi-host set-ups"),
    OPT_INCLUDE_ROWS(A, rt, runtime_opt_rows),
    OPTS_METRICS(A, metrics),
};
#undef A

const struct opts_cmd agent_opts_cmd =
    OPTS_CMD("agent", "--compute-environment NAME [options]",
    "An agent: one instance that runs the jobs placed on it, in containers or as processes.", agent_rows, struct agent_opts, NULL);

/* ---- state ---- */

/* What a report's delivery callback (on_delivered) is given: a generation of reports, one
 * heartbeat, or the READY (register). */
enum dkind { D_GEN, D_HEARTBEAT, D_READY };

struct agent;
/* The reports written between two closes (commit_step): the placements' offsets marked in that
 * time are committed once all of them are delivered. */
struct gen {
  enum dkind kind; /* D_GEN */
  struct agent *a;
  int n;           /* queued, not yet delivered */
  int uncertain;   /* one failed in a way that may have written it */
};

struct heartbeat {
  enum dkind kind; /* D_HEARTBEAT or D_READY */
  struct agent *a;
  int64_t sent;    /* mono_ms */
};

struct agent {
  const char *instance_id, *ce, *instance_type, *driver;
  const char *log_url; /* advertised in every InstanceEvent, NULL when logs are not served */
  const char *address; /* privateIpv4Address, advertised in every InstanceEvent */
  long long vcpus, mem_mib, gpus;
  struct bus_producer *prod;
  struct runtime *runtime;
  char source[128];
  /* "jobId#attempt" -> true: the attempts accepted in this window and the one before (never
   * started twice); rotated every seen_ms (rotate_seen), so memory follows the rate, not the
   * agent's age. A placement is delivered again only within seconds (the consumer re-reading
   * after its last committed position); a later incarnation ignores its predecessor's anyway. */
  json_t *seen, *seen_old;
  int64_t seen_ms, seen_since;
  struct metric *m_seen;
  json_t *groups;   /* "pid" -> process start time: the live attempts' process groups */
  int groups_dirty; /* a group added since the last save_groups */
  int groups_stale; /* a group gone since then (saved at the next commit at the latest) */
  int groups_failing; /* the record cannot be written (a full disk): said once, tried again at each commit */
  struct buf groups_new; /* the lines of the groups added since the last save_groups */
  int groups_fd;         /* <state_dir>/groups open for appending, or -1 */
  int64_t incarnation;
  char state_dir[4096]; /* <log_dir>/.agents/<instance id>: incarnation, live process groups */
  int failed;
  char err[512];
  struct metric *m_exec, *m_running; /* docs/metrics.md "Agent" */
  json_t *held_start; /* a STARTED report not yet written, while runtime_poll runs (on_run_event) */
  /* --log-retention-hours (NULL/0 without): the walk of the log dir, the jobs with an attempt
   * alive here ("jobId" -> how many), when the next step is due (mono_ms) */
  struct log_sweep *sweep;
  json_t *live_jobs;
  int64_t next_sweep, sweep_pause_ms;
  struct metric *m_logs_removed;
  /* delivery and commit (commit_step): reports go to gens[gen & 1], the open generation; the
   * other one, when closed, waits for its deliveries before closed_mark is committed */
  struct gen gens[2];
  unsigned gen;
  int closed;
  struct bus_msg open_mark, closed_mark; /* the last placements record handled (topic, partition,
                                          * offset), before and at the close */
  int open_marked;
  int sync_next; /* a dead letter in the open generation: its offsets wait for a flush */
  int64_t proven; /* mono_ms when the latest heartbeat known delivered was sent */
  struct ce_check *ce_check; /* does a->ce exist? until it is found (NULL then) */
  int superseded; /* a later incarnation of this instance started beside this one (superseded) */
  int ready;      /* the READY's delivery (register): 0 not yet, 1 written, -1 not (why in err) */
};

/* A delivery report, served by bus_producer_poll in the loop's thread. A write failed for good
 * stops the agent, as bus_flush's -1 did; an uncertain one keeps its generation's offsets back. */
static void on_delivered(void *ctx, const struct bus_delivery *d) {
  if (*(enum dkind *)ctx != D_GEN) {
    struct heartbeat *h = ctx;
    if (d->ok && h->sent > h->a->proven) h->a->proven = h->sent;
    if (h->kind == D_READY) {
      h->a->ready = d->ok ? 1 : -1;
      if (!d->ok) snprintf(h->a->err, sizeof h->a->err, "%s", d->reason);
    }
    free(h);
    return;
  }
  struct gen *g = ctx;
  g->n--;
  if (d->ok) return;
  if (d->uncertain) {
    g->uncertain = 1;
    log_warn("%s (may have been written: the placements' offsets wait)", d->reason);
  } else {
    g->a->failed = 1;
    snprintf(g->a->err, sizeof g->a->err, "%s", d->reason);
  }
}

/* Queues an ExecutionReport (borrowed) in the open generation; its delivery is not waited for. */
static void report(struct agent *a, const char *job, const json_t *r) {
  struct gen *g = &a->gens[a->gen & 1];
  if (bus_produce_async(a->prod, TOPIC_EXECUTIONS, job, r, g, a->err, sizeof a->err)) a->failed = 1;
  else g->n++;
}

static int send_instance(struct agent *a, const char *kind, const char *reason) {
  json_t *ev = json_pack("{s:o, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I}", "header",
                         bus_header(a->source, "", now_ms()), "instanceId", a->instance_id,
                         "computeEnvironment", a->ce, "kind", kind, "instanceType",
                         a->instance_type, "vcpus", (json_int_t)a->vcpus, "memoryMib",
                         (json_int_t)a->mem_mib, "gpus", (json_int_t)a->gpus, "driver",
                         a->driver, "at", (json_int_t)now_ms());
  if (reason) json_object_set_new(ev, "reason", json_string(reason));
  json_object_set_new(ev, "incarnation", json_integer(a->incarnation));
  if (a->log_url) json_object_set_new(ev, "logUrl", json_string(a->log_url));
  if (a->address && *a->address) json_object_set_new(ev, "privateIpv4Address", json_string(a->address));
  int rc;
  int ready = !strcmp(kind, "READY");
  if (ready || !strcmp(kind, "HEARTBEAT")) { /* its delivery proves the link (on_delivered) */
    struct heartbeat *h = xcalloc(1, sizeof *h);
    *h = (struct heartbeat){ready ? D_READY : D_HEARTBEAT, a, mono_ms()};
    rc = bus_produce_async(a->prod, TOPIC_INSTANCES, a->instance_id, ev, h, a->err, sizeof a->err);
    if (rc) free(h);
  } else {
    rc = bus_produce(a->prod, TOPIC_INSTANCES, a->instance_id, ev, a->err, sizeof a->err);
  }
  json_decref(ev);
  return rc;
}

/* Sends the READY and waits up to REGISTER_WAIT_MS for its delivery; a stop (SIGTERM) ends the
 * wait at once: it used to be a bus_flush, which ignored the signal, so an agent whose broker
 * did not take the READY could not be stopped for 30 s (docs/operations.md). 0 once written;
 * 1 when stopped meanwhile (the READY is given up); -1 with why in err. */
#define REGISTER_WAIT_MS 30000
static int register_ready(struct agent *a, char *err, size_t errlen) {
  if (send_instance(a, "READY", NULL)) {
    snprintf(err, errlen, "%s", a->err);
    return -1;
  }
  int64_t until = mono_ms() + REGISTER_WAIT_MS;
  while (!a->ready && !service_stopping() && mono_ms() < until) bus_producer_serve(a->prod, 100);
  if (a->ready > 0) return 0;
  if (a->ready < 0) {
    snprintf(err, errlen, "%s", a->err);
    return -1;
  }
  bus_producer_purge(a->prod); /* not left to be written once the agent has gone */
  if (service_stopping()) return 1;
  snprintf(err, errlen, "the READY was not delivered within %d ms (is the broker taking writes?)", REGISTER_WAIT_MS);
  return -1;
}

/* The start time of process pid in clock ticks since boot (/proc/PID/stat field 22), or -1. */
static long long proc_start_time(pid_t pid) {
  char path[64], txt[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (read_small(path, txt, sizeof txt) < 0) return -1;
  long long st = -1;
  char *p = strrchr(txt, ')'); /* the command name may hold spaces */
  if (p) {
    int field = 2;
    for (p++; *p && field < 22; p++)
      if (*p == ' ') field++;
    if (field == 22) st = strtoll(p, NULL, 10);
  }
  return st;
}

/* Records (or forgets) a live attempt's process group in memory; save_groups writes the set,
 * so that the next incarnation of this agent can stop what this one leaves behind if it dies. */
static void track_group(struct agent *a, pid_t pid, int alive) {
  char key[16];
  snprintf(key, sizeof key, "%d", (int)pid);
  if (alive) {
    long long st = proc_start_time(pid);
    json_object_set_new(a->groups, key, json_integer(st));
    buf_printf(&a->groups_new, "%s %lld\n", key, st);
    a->groups_dirty = 1;
  } else {
    json_object_del(a->groups, key);
    a->groups_stale = 1;
  }
}

/* Writes the live process groups, "pid start-time" lines, to <state_dir>/groups, before the
 * placements' offsets are committed: in every turn of the loop that started an attempt, the new
 * groups' lines are appended (one write); at a commit (all) after a group ended, the whole live
 * set replaces the file (one atomic rename: a rename costs about 1 ms here, too much per start).
 * A group that ended may stay listed until then: the next incarnation kills a listed group only
 * if its process start time still matches. */
static void save_groups(struct agent *a, int all) {
  if (!a->groups_dirty && !(all && a->groups_stale)) return;
  if (a->groups_failing && !all) return; /* tried again at the next commit, not in every turn */
  if (a->groups_dirty && !(all && a->groups_stale) && a->groups_fd >= 0) {
    if (write(a->groups_fd, a->groups_new.data, a->groups_new.len) == (ssize_t)a->groups_new.len) {
      buf_reset(&a->groups_new);
      a->groups_dirty = 0;
      return;
    }
    if (!a->groups_failing) log_warn("appending to the record of live process groups: %s; rewriting it", strerror(errno));
  }
  struct buf b;
  buf_init(&b);
  const char *k;
  json_t *v;
  json_object_foreach(a->groups, k, v) buf_printf(&b, "%s %lld\n", k, (long long)json_integer_value(v));
  char path[4400];
  snprintf(path, sizeof path, "%s/groups", a->state_dir);
  if (write_file_atomic(path, b.len ? (const char *)b.data : "", b.len)) {
    /* once, not in every turn of the loop (200 lines a second on a full disk) */
    if (!a->groups_failing)
      log_warn("cannot record the live process groups in %s: %s (tried again at each commit; said again once it works)",
               path, strerror(errno));
    a->groups_failing = 1;
  } else {
    if (a->groups_failing) log_info("the live process groups are recorded in %s again", path);
    a->groups_failing = 0;
    a->groups_dirty = a->groups_stale = 0;
    buf_reset(&a->groups_new);
    if (a->groups_fd >= 0) close(a->groups_fd); /* the file it appended to is replaced */
    a->groups_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  }
  buf_release(&b);
}

/* SIGKILLs the group of pid if it is still the process recorded (pids are reused). */
static int kill_recorded(pid_t pid, long long want) {
  if (pid <= 1 || want < 0 || proc_start_time(pid) != want) return 0;
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  return 1;
}

/* Takes this start's incarnation (larger than any before it here) and SIGKILLs the process
 * groups an earlier incarnation recorded and left running. */
static int begin_incarnation(struct agent *a, const char *log_dir, char *err, size_t errlen) {
  snprintf(a->state_dir, sizeof a->state_dir, "%.3800s/.agents/%.200s", log_dir, a->instance_id);
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
  int killed = 0;
  snprintf(path, sizeof path, "%s/groups", a->state_dir);
  char *groups = read_file(path, NULL);
  for (char *line = groups, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    char *end;
    long pid = strtol(line, &end, 10);
    killed += kill_recorded((pid_t)pid, end != line ? strtoll(end, NULL, 10) : -2);
    if (!next) break;
  }
  free(groups);
  unlink(path);
  /* the one-file-per-group records of earlier versions */
  DIR *d = opendir(a->state_dir);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (strncmp(de->d_name, "pg-", 3)) continue;
    snprintf(path, sizeof path, "%s/%s", a->state_dir, de->d_name);
    char *rec = read_file(path, NULL);
    killed += kill_recorded((pid_t)atoi(de->d_name + 3), rec ? strtoll(rec, NULL, 10) : -2);
    free(rec);
    unlink(path);
  }
  if (d) closedir(d);
  if (killed) log_warn("stopped %d attempt process group(s) left by an earlier incarnation", killed);
  return 0;
}

/* Whether another agent with this instance id (and log dir) has started since this one: its
 * incarnation, in the state folder, is then larger. Said once. That one owns the instance now:
 * the scheduler settled this one's attempts as lost and the other killed their processes; this
 * one's TERMINATED at its stop would end the other's instance (its heartbeats are then ignored,
 * and no job is placed on it), so it is not sent (agent_service_main). */
static int superseded(struct agent *a) {
  if (a->superseded) return 1;
  char path[4400];
  snprintf(path, sizeof path, "%s/incarnation", a->state_dir);
  char *txt = read_file(path, NULL);
  long long now = txt ? strtoll(txt, NULL, 10) : 0;
  free(txt);
  if (now <= a->incarnation) return 0;
  log_error("another agent started with --instance-id %s and this --log-dir (incarnation %lld; this one is %lld): it "
            "owns the instance now and this one is given no job. Stop this one (it will not report the instance "
            "TERMINATED), and give each agent its own --instance-id",
            a->instance_id, now, (long long)a->incarnation);
  a->superseded = 1;
  return 1;
}

/* The held STARTED report, written on its own (and said in the log then). */
static void write_held_start(struct agent *a) {
  if (!a->held_start) return;
  const char *job = jget_str(a->held_start, "jobId");
  log_info("%s attempt %d: STARTED", job, (int)jget_int(a->held_start, "attempt", 0));
  report(a, job, a->held_start);
  json_decref(a->held_start);
  a->held_start = NULL;
}

/* Starts a new window of remembered placements when the current one is seen_ms old. */
static void rotate_seen(struct agent *a) {
  int64_t now = mono_ms();
  if (now - a->seen_since >= a->seen_ms) {
    json_decref(a->seen_old);
    a->seen_old = a->seen;
    a->seen = json_object();
    a->seen_since = now;
  }
  metric_set(a->m_seen, NULL, (double)(json_object_size(a->seen) + json_object_size(a->seen_old)));
}

/* --log-retention-hours: counts the attempts of job alive here (by delta; gone at 0). */
static void live_add(struct agent *a, const char *job, int delta) {
  json_int_t n = json_integer_value(json_object_get(a->live_jobs, job)) + delta;
  if (n > 0) json_object_set_new(a->live_jobs, job, json_integer(n));
  else json_object_del(a->live_jobs, job);
}

static int job_live(void *ctx, const char *job) {
  struct agent *a = ctx;
  return json_object_get(a->live_jobs, job) != NULL;
}

/* One step of the log dir's walk when due: at most 256 folders a turn, a new walk a pause after
 * the last one ended. */
#define SWEEP_BUDGET 256
static void sweep_step(struct agent *a) {
  int64_t now = mono_ms();
  if (!a->sweep || now < a->next_sweep) return;
  int done = 0;
  int n = log_sweep_step(a->sweep, SWEEP_BUDGET, now_ms(), job_live, a, &done);
  if (n) metric_add(a->m_logs_removed, NULL, n);
  a->next_sweep = now + (done ? a->sweep_pause_ms : 20);
  if (done && log_sweep_removed(a->sweep))
    log_debug("log retention: %lld job log folders removed so far (%lld KiB)", (long long)log_sweep_removed(a->sweep),
              (long long)(log_sweep_removed_bytes(a->sweep) / 1024));
}

/* One runtime event as an ExecutionReport. A STARTED report is held until the next event of the
 * same runtime_poll: when that is the same attempt's end (a short process, reaped in the same
 * turn), one end report carrying startedAt says both, one record instead of two; otherwise the
 * STARTED report is written as it was, before the next event's (and at the latest when
 * runtime_poll returns), so no report waits longer. docs/architecture.md, "Throughput". */
static void on_run_event(void *ctx, const struct run_event *ev) {
  struct agent *a = ctx;
  /* an attempt in a cgroup of the process runtime is stopped by the next incarnation's sweep of
   * those groups (runtime_process.c), which also finds what left the process group: no record,
   * which spared a read of /proc/PID/stat and a line of the groups file per attempt */
  if (ev->pid > 0 && !ev->swept) track_group(a, ev->pid, ev->kind == RUN_STARTED);
  if (a->live_jobs && ev->kind != RUN_STARTED) live_add(a, ev->job_id, -1); /* every other kind ends the attempt */
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
  metric_add(a->m_exec, METRIC_L(kinds[ev->kind]), 1);
  int folded = 0;
  if (a->held_start) {
    json_t *h = a->held_start;
    if ((ev->kind == RUN_EXITED || ev->kind == RUN_TIMED_OUT || ev->kind == RUN_KILLED) &&
        jget_int(h, "attempt", -1) == ev->attempt && !strcmp(jget_str(h, "jobId"), ev->job_id)) {
      json_object_set(r, "startedAt", json_object_get(h, "at"));
      json_decref(h);
      a->held_start = NULL;
      folded = 1;
    } else {
      write_held_start(a);
    }
  }
  if (ev->kind == RUN_STARTED) { /* said in the log when written, or with the end it folds into */
    a->held_start = r;
    return;
  }
  log_info("%s attempt %d: %s%s %s", ev->job_id, ev->attempt, folded ? "STARTED, " : "", kinds[ev->kind],
           ev->reason ? ev->reason : "");
  report(a, ev->job_id, r);
  json_decref(r);
}

/* Called from the runner's launcher threads when an attempt has exec'd or failed to: the loop
 * sleeps in bus_wait until SIGCHLD (service_signals) or a placement, so the same signal wakes it
 * to report the start at once. Async-signal-safe. */
static void wake_loop(void) { kill(getpid(), SIGCHLD); }

/* Builds argv/envp from a Placement and starts it. */
static void start_placement(struct agent *a, const json_t *p, const char *log_dir) {
  const char *job = jget_str(p, "jobId");
  int attempt = (int)jget_int(p, "attempt", 0);
  char key[128];
  snprintf(key, sizeof key, "%s#%d", job ? job : "", attempt);
  if (!job || json_object_get(a->seen, key) || json_object_get(a->seen_old, key)) return; /* delivered again */
  int64_t inc = jget_int(p, "incarnation", 0);
  if (inc && inc != a->incarnation) {
    /* placed on an earlier incarnation of this instance: the scheduler settles it as lost */
    log_info("%s attempt %d was placed on incarnation %lld, not this one (%lld): ignored", job,
             attempt, (long long)inc, (long long)a->incarnation);
    return;
  }
  json_object_set_new(a->seen, key, json_true());
  char log_path[4096], why[1024];
  snprintf(log_path, sizeof log_path, "%.3500s/%.500s/%d.log", log_dir, job, attempt);
  int rc = 1;
  if (!job_id_ok(job, 1)) /* it names a folder under log_dir: never a path out of it (the scheduler checks too) */
    snprintf(why, sizeof why, "CannotStartContainerError: job id '%.80s' cannot name a log folder", job);
  else rc = runtime_place(a->runtime, p, log_path, why, sizeof why);
  if (rc == 0 && a->live_jobs) live_add(a, job, 1);
  if (rc > 0) {
    /* refused before anything ran (policy, secrets, no command, --max-jobs reached): report it as
     * the runtime would, or the job would stay STARTING */
    json_t *r = json_pack("{s:o, s:s, s:i, s:s, s:s, s:s, s:I}", "header",
                          bus_header(a->source, job, now_ms()), "jobId", job, "attempt", attempt,
                          "instanceId", a->instance_id, "kind", "FAILED_TO_START", "reason", why,
                          "at", (json_int_t)now_ms());
    json_object_set_new(r, "incarnation", json_integer(a->incarnation));
    metric_add(a->m_exec, METRIC_L("FAILED_TO_START"), 1);
    report(a, job, r);
    json_decref(r);
  } else if (rc < 0) {
    log_warn("%s attempt %d not started: %s", job, attempt, why);
  }
}

/* One placements record: a Placement starts, a KillRequest kills, a DrainRequest drains. Records
 * for other instances are skipped; undecodable ones are dead-lettered. */
static void on_command(struct agent *a, const struct bus_msg *m, const char *log_dir, int *draining) {
  if (m->keylen != strlen(a->instance_id) || memcmp(m->key, a->instance_id, m->keylen)) return;
  enum barge_ev_type et;
  json_t *ev = NULL;
  char why[512], err[1024];
  if (bus_decode(m, &et, &ev, why, sizeof why)) {
    log_warn("%s[%d] offset %lld dead-lettered: %s", bus_topic_base(m->topic), (int)m->partition,
             (long long)m->offset, why);
    service_metrics_dead_letter(m->topic);
    if (bus_dead_letter(a->prod, m, a->source, why, err, sizeof err)) log_error("%s", err);
    a->sync_next = 1; /* written outside the generations: flushed before the offsets */
    return;
  }
  json_t *body = json_object_get(ev, "body"), *x;
  if ((x = json_object_get(body, "Placement"))) {
    /* BARGE_LOG=debug: when the placement reached this agent (bench/throughput.sh --trace) */
    log_debug("placement of %s attempt %lld produced at %lld, read at %lld", jget_str(x, "jobId"),
              (long long)jget_int(x, "attempt", 0), (long long)m->timestamp_ms, (long long)now_ms());
    start_placement(a, x, log_dir);
  } else if ((x = json_object_get(body, "KillRequest"))) {
    const char *job = jget_str(x, "jobId"), *reason = jget_str(x, "reason");
    runtime_kill(a->runtime, job ? job : "", (int)jget_int(x, "attempt", 0), reason && *reason ? reason : "terminated");
  } else if (json_object_get(body, "DrainRequest")) {
    *draining = 1;
  }
  json_decref(ev);
}

/* Most placements records handled per turn of the loop. */
#define AGENT_BATCH 512
/* The longest the loop sleeps between two turns: short while attempts run (their logs are
 * drained, their deadlines checked), longer when idle. A placement, or the exit of an attempt's
 * process (SIGCHLD, process runtime), wakes it at once (bus_wait). */
#define AGENT_WAIT_BUSY_MS 5
#define AGENT_WAIT_IDLE_MS 100
/* The placements' offsets are committed at most this often. */
#define AGENT_COMMIT_MS 200
/* The longest one delivery wait blocks the loop (deliver). */
#define AGENT_FLUSH_MS 1000

/* Handles the placements records already fetched, up to AGENT_BATCH, without waiting. 1 when
 * the consumer was emptied, 0 when records are left for the next turn, -1 on a fatal consumer
 * error. */
static int poll_commands(struct agent *a, struct bus_consumer *c, const char *log_dir,
                         int *draining, char *err, size_t errlen) {
  for (int n = 0; n < AGENT_BATCH; n++) {
    struct bus_msg m;
    int pr = bus_poll(c, 0, &m, err, errlen);
    if (pr < 0) return -1;
    if (pr == 0) return 1;
    if (pr == 2) continue;
    on_command(a, &m, log_dir, draining);
    bus_msg_release(&m);
    a->open_mark = m; /* its position only: committed by commit_step */
    a->open_marked = 1;
  }
  return 0;
}

/* The agent's link to Kafka (docs/architecture.md, "Agent incarnations"): when no heartbeat has
 * been delivered for fence_ms, the scheduler will declare this instance lost (its
 * --lost-after-ms counts from the last heartbeat it read, which is no earlier than the last one
 * delivered) and retry its attempts elsewhere, so they must not run on here. 0, or -1 with err. */
static int check_fence(struct agent *a, int64_t fence_ms, char *err, size_t errlen) {
  int64_t silent = mono_ms() - a->proven;
  if (silent < fence_ms) return 0;
  snprintf(err, errlen,
           "cut off from Kafka: no heartbeat delivered for %lld ms (--fence-after-ms %lld): stopping the %d "
           "attempts this instance runs, which the scheduler retries elsewhere, and exiting",
           (long long)silent, (long long)fence_ms, runtime_active(a->runtime));
  return -1;
}

/* Effects first (attempts started, their process groups recorded, their reports delivered), then
 * the placements' offsets, and the loop never waits for the broker: at most every
 * AGENT_COMMIT_MS (due) the open generation of reports is closed with the last placements record
 * handled; once every report of it is delivered (their callbacks, served here), that record's
 * offset is committed (bus_commit_async) and the next generation may close. Committing later
 * only means re-reading more placements after a crash, which the incarnation check and the seen
 * set make harmless. A dead letter (written outside the generations) makes the next close a
 * flush, bounded by AGENT_FLUSH_MS, and a commit, as every close was before. Also fences the
 * agent (check_fence) when due. 0, or -1 with err: stop. */
static int commit_step(struct agent *a, struct bus_consumer *c, int due, int64_t fence_ms, char *err,
                       size_t errlen) {
  bus_producer_poll(a->prod);
  struct gen *closed = &a->gens[(a->gen + 1) & 1], *open = &a->gens[a->gen & 1];
  if (a->closed && closed->n == 0) {
    if (!closed->uncertain) {
      bus_mark(c, &a->closed_mark);
      if (bus_commit_async(c, err, errlen)) log_warn("%s", err);
    }
    closed->uncertain = 0;
    a->closed = 0;
  }
  if (!due) return 0;
  if (check_fence(a, fence_ms, err, errlen)) return -1;
  if (a->closed || !a->open_marked) return 0;
  if (!a->sync_next) {
    a->closed_mark = a->open_mark;
    a->open_marked = 0;
    a->closed = 1;
    a->gen++;
    return 0;
  }
  int rc = bus_flush(a->prod, AGENT_FLUSH_MS, err, errlen); /* serves the callbacks too */
  if (rc && rc != BUS_OUTCOME_UNKNOWN) return -1;
  if (rc || open->n) return 0; /* not yet: at the next close */
  if (!open->uncertain) {
    bus_mark(c, &a->open_mark);
    if (bus_commit(c, err, errlen)) log_warn("%s", err);
  }
  open->uncertain = 0;
  a->open_marked = a->sync_next = 0;
  return 0;
}

/* The loop: placements in, attempts started and reaped, reports out. 0 when it stopped (a signal,
 * a drain), -1 with err (a->failed: a->err) on a fatal error. */
static int run_loop(struct agent *a, struct bus_consumer *c, const char *log_dir, int64_t heartbeat_ms,
                    int64_t fence_ms, char *err, size_t errlen) {
  int64_t next_hb = mono_ms() + heartbeat_ms, next_commit = 0;
  int draining = 0;
  a->proven = mono_ms();
  while (!service_stopping() && !a->failed) {
    /* every command already fetched, then the reports of the attempts that started or ended */
    int emptied = poll_commands(a, c, log_dir, &draining, err, errlen);
    if (emptied < 0) return -1;
    runtime_poll(a->runtime, mono_ms(), on_run_event, a);
    write_held_start(a);
    sweep_step(a);
    if (a->ce_check && ce_check_step(a->ce_check) == 1) {
      ce_check_free(a->ce_check);
      a->ce_check = NULL;
    }
    rotate_seen(a);
    metric_set(a->m_running, NULL, runtime_active(a->runtime));
    service_metrics_lag(c);
    if (mono_ms() >= next_hb) {
      next_hb = mono_ms() + heartbeat_ms;
      superseded(a);
      if (send_instance(a, "HEARTBEAT", NULL)) a->failed = 1;
    }
    int due = mono_ms() >= next_commit;
    save_groups(a, due);
    if (due) next_commit = mono_ms() + AGENT_COMMIT_MS;
    if (commit_step(a, c, due, fence_ms, err, errlen)) return -1;
    if (draining && runtime_active(a->runtime) == 0) {
      log_info("drained; stopping");
      break;
    }
    /* sleep until a placement arrives, an attempt's process exits, or the next turn is due */
    if (emptied) {
      int64_t wait = runtime_active(a->runtime) || a->closed ? AGENT_WAIT_BUSY_MS : AGENT_WAIT_IDLE_MS;
      int64_t next = (next_hb < next_commit ? next_hb : next_commit) - mono_ms();
      if (next < wait) wait = next < 0 ? 0 : next;
      if (wait > 0) bus_wait(c, service_wake_fd(), (int)wait);
      service_wake_drain();
    }
  }
  if (a->failed) {
    snprintf(err, errlen, "%s", a->err);
    return -1;
  }
  return 0;
}

int agent_service_main(int argc, char **argv) {
  struct agent_opts o;
  int r = opts_parse_or_exit(&agent_opts_cmd, &o, argc, argv);
  if (r >= 0) return r;
  if (!o.ce) {
    fprintf(stderr, "barge agent: --compute-environment is required (the CE this instance serves)\n");
    return 2;
  }
  if (o.heartbeat_ms <= 0) { /* 0 sent a heartbeat every turn of the loop, which never slept: 100,000 records a second */
    fprintf(stderr, "barge agent: --heartbeat-ms must be more than 0, not %lld\n", (long long)o.heartbeat_ms);
    return 2;
  }
  /* a fence at or below the heartbeat period cut the agent off between two heartbeats: it said
   * ready, then "cut off from Kafka" and exited, with its broker up */
  if (o.fence_ms < 0 || (o.fence_ms > 0 && o.fence_ms <= o.heartbeat_ms)) {
    fprintf(stderr,
            "barge agent: --fence-after-ms must be more than --heartbeat-ms %lld (a few heartbeats: the default is 5, "
            "at least 10000), not %lld\n",
            (long long)o.heartbeat_ms, (long long)o.fence_ms);
    return 2;
  }
  if (o.grace_ms < 0) {
    fprintf(stderr, "barge agent: --kill-grace-ms must be 0 (SIGKILL at once) or more, not %lld\n", (long long)o.grace_ms);
    return 2;
  }
  /* an instance of -1 vCPU registered, and was shown, as such; `barge up` refuses the same. One
   * above 2^30 the scheduler dead-letters (docs/job-model.md §4.4): the agent said ready and was
   * never given a job */
  if (o.vcpus < 1 || o.mem < 1 || o.gpus < 0 || o.vcpus > AGENT_CAP_MAX || o.mem > AGENT_CAP_MAX ||
      o.gpus > AGENT_CAP_MAX) {
    fprintf(stderr,
            "barge agent: --vcpus and --memory must be from 1 and --gpus from 0, each to %d, not %lld, %lld and %lld\n",
            AGENT_CAP_MAX, (long long)o.vcpus, (long long)o.mem, (long long)o.gpus);
    return 2;
  }
  /* it names the agent's state folder under --log-dir (an id with a '/' or "..": outside it), its
   * consumer group and its cgroups and containers' label */
  if (o.instance_id && !job_id_ok(o.instance_id, 0)) {
    fprintf(stderr,
            "barge agent: --instance-id '%.80s': expected 1 to 40 letters, digits, '.', '_' or '-', not beginning "
            "with '.' (such as i-0123456789abcdef0)\n",
            o.instance_id);
    return 2;
  }
  /* a multi-node job's nodes get it as AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS: "localhost" or
   * a typo reached them as such; empty: none advertised */
  struct in_addr ipv4;
  if (o.address && *o.address && inet_pton(AF_INET, o.address, &ipv4) != 1) {
    fprintf(stderr, "barge agent: --address '%.80s': expected an IPv4 address such as 10.0.3.7 (the one other instances "
            "reach this one at)\n", o.address);
    return 2;
  }
  /* before any broker is asked (it was checked after, so a bad value waited for the broker first);
   * NaN was taken as 0 and inf overflowed the conversion to milliseconds */
  if (!(o.log_retention_h >= 0 && o.log_retention_h <= 1e6)) {
    fprintf(stderr, "barge agent: --log-retention-hours must be 0 (keep every log) or a number of hours up to 1000000, not %g\n",
            o.log_retention_h);
    return 2;
  }
  /* before any broker is asked: a misspelt runtime used to wait for Kafka, then exit 1 */
  if (o.rt.kind && strcmp(o.rt.kind, "podman") && strcmp(o.rt.kind, "docker") && strcmp(o.rt.kind, "process") &&
      strcmp(o.rt.kind, "auto")) {
    fprintf(stderr, "barge agent: --runtime %s: expected podman, docker, process or auto\n", o.rt.kind);
    return 2;
  }
  const char *instance_id = o.instance_id, *log_dir = o.log_dir, *ce = o.ce;
  long long vcpus = o.vcpus, mem = o.mem, gpus = o.gpus, heartbeat_ms = o.heartbeat_ms;
  char err[1024], idbuf[32], logbuf[4096];
  struct service_conn conn;
  if ((r = service_connect("agent", &o.kafka, "barge-agent", SERVICE_WAIT, &conn))) return service_stopping() ? 0 : r;
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
  /* absolute: each attempt's logPath is read by `barge logs` and the API from other folders, and
   * a relative one was also prefixed with the log dir a second time (runner_start) */
  char cwd[2048], absbuf[4096];
  if (log_dir[0] != '/' && getcwd(cwd, sizeof cwd)) {
    snprintf(absbuf, sizeof absbuf, "%s/%.2000s", cwd, log_dir);
    log_dir = absbuf;
  }
  char role[64];
  snprintf(role, sizeof role, "agent %s", instance_id);
  log_set_role(role);
  if (service_metrics_start("agent", &o.metrics)) return 1;
  struct agent a;
  memset(&a, 0, sizeof a);
  a.m_exec = metrics_counter(metrics_global(), "barge_agent_executions_total",
                             "what happened to the attempts this agent ran, by ExecutionReport kind", "kind");
  a.m_running = metrics_gauge(metrics_global(), "barge_agent_running_attempts", "attempts alive on this agent", NULL);
  a.m_logs_removed = metrics_counter(metrics_global(), "barge_agent_log_folders_removed_total",
                                     "job log folders removed by --log-retention-hours", NULL);
  /* the compute environment it joins: `barge status` says when it was deleted (docs/metrics.md) */
  metric_set(metrics_gauge(metrics_global(), "barge_agent_info", "the compute environment this agent joins (always 1)",
                           "compute_environment"),
             METRIC_L(ce), 1);
  if (o.log_retention_h > 0) {
    int64_t keep = (int64_t)(o.log_retention_h * 3600 * 1000);
    if (keep < 1000) keep = 1000;
    a.sweep = log_sweep_new(log_dir, keep);
    a.live_jobs = json_object();
    a.sweep_pause_ms = keep / 4 < 1000 ? 1000 : keep / 4 > 600000 ? 600000 : keep / 4;
  }
  a.instance_id = instance_id;
  a.ce = ce;
  a.instance_type = o.instance_type;
  a.driver = o.driver;
  a.address = o.address;
  a.vcpus = vcpus;
  a.mem_mib = mem;
  a.gpus = gpus;
  a.seen = json_object();
  a.seen_old = json_object();
  a.seen_ms = o.seen_ms;
  a.seen_since = mono_ms();
  a.m_seen = metrics_gauge(metrics_global(), "barge_agent_placements_remembered",
                           "placements remembered to ignore one delivered again (--placement-memory-ms)", NULL);
  a.groups = json_object();
  a.groups_fd = -1;
  buf_init(&a.groups_new);
  for (int i = 0; i < 2; i++) a.gens[i] = (struct gen){D_GEN, &a, 0, 0};
  char host[64] = "localhost";
  gethostname(host, sizeof host - 1);
  snprintf(a.source, sizeof a.source, "agent/%s/%s:%d", instance_id, host, (int)getpid());
  struct bus_conf bc = conn.bc;
  struct runner_conf rconf = {.log_dir = log_dir, .kill_grace_ms = o.grace_ms, .max_jobs = (int)o.max_jobs, .run_as_user = o.run_as,
                            .max_log_bytes = o.max_log_mib > 0 ? o.max_log_mib * 1024 * 1024 : -1,
                            .launchers = o.start_threads < 0 ? 0 : (int)o.start_threads, .wake = wake_loop};
  struct runtime_conf rtconf;
  struct bus_consumer *c = NULL;
  struct log_server *logs = NULL;
  char logs_url[512];
  int rc = 1;
  if (begin_incarnation(&a, log_dir, err, sizeof err)) {
    log_error("%s", err);
    goto out;
  }
  /* spread the attempts' folders over the block groups on an ext4 without a journal only (joblog.h) */
  int journal = joblog_fs_journal(log_dir, "/sys");
  if (journal >= 0 && joblog_spread(log_dir, !journal))
    log_debug("%s: cannot %s the top-directory attribute (chattr %cT): %s", log_dir, journal ? "clear" : "set",
              journal ? '-' : '+', strerror(errno));
  if (o.log_listen) {
    struct log_server_conf lsc = {.log_dir = log_dir, .listen = o.log_listen, .token_file = o.log_token,
                                  .tls_cert = o.log_tls_cert, .tls_key = o.log_tls_key};
    logs = log_server_start(&lsc, logs_url, sizeof logs_url, err, sizeof err);
    if (!logs) {
      log_error("%s", err);
      goto out;
    }
    a.log_url = o.log_url ? o.log_url : logs_url;
    log_info("serving the logs of %s at %s", log_dir, a.log_url);
  }
  runtime_conf_from_opts(&rtconf, &o.rt, &rconf, instance_id, a.state_dir);
  a.runtime = runtime_new(&rtconf, err, sizeof err);
  if (!a.runtime) {
    log_error("%s", err);
    goto out;
  }
  a.prod = bus_producer_new(&bc, NULL, err, sizeof err);
  if (a.prod) bus_producer_on_delivery(a.prod, on_delivered);
  char group[128];
  snprintf(group, sizeof group, "barge-agent-%s", instance_id);
  c = bus_consumer_new_wait(&bc, group, 1, BUS_FETCH_WAIT_LONG_MS, err, sizeof err);
  if (!a.prod || !c) {
    log_error("%s", err);
    goto out;
  }
  /* position first (explicit offsets), then register: no placement can be missed. Placements
   * are keyed by instance id: only the partition of this one is read. */
  if (bus_assign_key(c, TOPIC_PLACEMENTS, instance_id, 0, err, sizeof err)) {
    if (!service_stopping()) {
      log_error("%s", err);
      goto out;
    }
    log_info("agent stopped while starting (%s)", err); /* a stop, as at any other time */
    rc = 0;
    goto out;
  }
  /* a new group's start (a new instance id), committed at once: an agent that is placed nothing
   * for a while has a position all the same, and its lag in `barge status` is 0, not the whole
   * history of barge.placements before it */
  if (bus_commit(c, err, sizeof err)) log_warn("%s", err);
  int reg = register_ready(&a, err, sizeof err);
  if (reg > 0) {
    log_info("agent stopped while starting (registering: the READY not yet delivered)"); /* a stop */
    rc = 0;
    goto out;
  }
  if (reg < 0) {
    log_error("registering: %s", err);
    goto out;
  }
  service_ready();
  log_info("ready: %lld vCPU, %lld MiB, %lld GPU in %s; %s runtime; logs in %s; incarnation %lld", vcpus, mem,
           gpus, ce, a.runtime->name, log_dir, (long long)a.incarnation);
  /* a misspelt CE: the scheduler dead-letters this instance's events, so the agent says so itself */
  a.ce_check = ce_check_new(&bc, ce, err, sizeof err);
  if (!a.ce_check) log_warn("cannot check that compute environment %s exists: %s", ce, err);
  /* with the process runtime an attempt's exit (SIGCHLD) wakes the loop (bus_wait); engine
   * runtimes keep their worker threads' system calls free of it */
  int watch_children = !strcmp(a.runtime->name, "process");
  service_signals(watch_children);
  int64_t fence_ms = o.fence_ms > 0 ? o.fence_ms : 5 * heartbeat_ms < 10000 ? 10000 : 5 * heartbeat_ms;
  if (run_loop(&a, c, log_dir, heartbeat_ms, fence_ms, err, sizeof err)) {
    log_error("%s", err);
    goto out;
  }
  /* leaving: running attempts end with the instance, reported as the instance's loss so that
   * the retry rules for `Host EC2*` apply (runtime_free kills them without events) */
  runtime_free(a.runtime);
  a.runtime = NULL;
  /* the last turn's reports are delivered before the offsets are committed, as in the loop */
  if (bus_flush(a.prod, 30000, err, sizeof err)) {
    log_warn("%s", err);
  } else if (a.gens[0].uncertain || a.gens[1].uncertain) {
    log_warn("a report may not have been written: the last placements' offsets are not committed");
  } else if (a.open_marked || a.closed) {
    bus_mark(c, a.open_marked ? &a.open_mark : &a.closed_mark);
    if (bus_commit(c, err, sizeof err)) log_warn("%s", err);
  }
  if (superseded(&a))
    log_info("not reporting instance %s TERMINATED: it belongs to its later incarnation", instance_id);
  else if (send_instance(&a, "TERMINATED", "agent stopped") == 0 && bus_flush(a.prod, 10000, err, sizeof err))
    log_warn("reporting the stop: %s", err);
  rc = 0;
out:
  runtime_free(a.runtime); /* first: the attempts stop now, not after Kafka's goodbyes (which a
                            * cut-off link can hold for seconds) */
  ce_check_free(a.ce_check);
  bus_consumer_free(c);
  bus_producer_free(a.prod);
  log_server_stop(logs);
  json_decref(a.seen);
  json_decref(a.seen_old);
  json_decref(a.groups);
  json_decref(a.held_start);
  json_decref(a.live_jobs);
  log_sweep_free(a.sweep);
  buf_release(&a.groups_new);
  if (a.groups_fd >= 0) close(a.groups_fd);
  service_metrics_stop();
  return rc;
}
