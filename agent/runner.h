/* runner.h: the agent's process runner. It executes placed job attempts as local processes,
 * enforces their timeouts and memory limits, and reports what happened to each process as
 * facts (started, exited with a code, failed to start, timed out, killed), never as job states.
 * No Kafka here: the agent's loop calls runner_start for each placement, runner_kill for each
 * TerminateJob, and runner_poll on every iteration, and turns the events into execution events.
 *
 * The process model, standing in for a container:
 * - Each attempt runs in its own process group (the leader is the job's process); signals go to
 *   the whole group. When the leader exits, whatever is left of its group is SIGKILLed, as a
 *   container's processes die with its init. A process that leaves the group (setsid) escapes.
 * - stdin is /dev/null; stdout and stderr are appended to one log file per attempt, made with
 *   the first byte of output (a silent attempt has none; joblog.h); one that cannot be made
 *   stops the attempt with REASON_LOG_UNWRITABLE, as a failed write does. Beside it,
 *   <log>.times indexes when its bytes were written: a line "<size> <epoch ms>" each time
 *   runner_poll sees the log longer (at most every RUNNER_INDEX_PERIOD_MS, and once when the
 *   process exits), so that `barge api` can date each line (docs/api.md, "Job logs").
 * - The environment is exactly run_spec.envp (nothing is inherited from the agent); argv[0] is
 *   looked up in that environment's PATH, or in Docker's default PATH when it sets none.
 * - Signal dispositions and the signal mask are reset to the defaults; every agent descriptor
 *   other than 0, 1, 2 is closed at exec.
 * - MEMORY is approximated with RLIMIT_DATA = mem_limit_mib MiB exactly (no slack): the limit on
 *   a process's writable private memory (heap, anonymous mmaps, .data/.bss), close to what a
 *   cgroup charges. It differs from a container's cgroup limit in three ways: it is per process,
 *   not per group; it counts reserved writable memory rather than touched memory; and a breach
 *   makes allocations fail (the program usually exits non-zero or crashes) instead of an OOM kill
 *   with 137. sh, bash and python3 (without site packages, -S) start fine at the 4 MiB minimum;
 *   the site packages of a Python install can need a few MiB more. (RLIMIT_AS was rejected: it
 *   counts every mapping, so runtimes that reserve address space, and sanitizers, cannot start.)
 * - Exit codes follow the container convention: a normal exit reports its status; death by
 *   signal N reports exit_code 128+N (SIGTERM 143, SIGKILL 137) with signal = N.
 * - Timeout (docs/job-model.md §5.5) and runner_kill (docs/job-model.md §7.1): SIGTERM to the group, SIGKILL to the group
 *   kill_grace_ms later if the leader is still alive. The terminal event names the cause
 *   (RUN_TIMED_OUT / RUN_KILLED) whatever the exit code; the first cause wins.
 * - No SIGCHLD handler: runner_poll reaps with waitid(WNOHANG); the caller polls regularly
 *   (every ~100 ms is plenty). Children are never left as zombies once their event is delivered.
 *
 * Threads: a runner is used by one thread at a time (the agent's loop). It vforks, so it is safe
 * in a multi-threaded process: the child only makes async-signal-safe calls. With launchers
 * (runner_conf) the vforks happen in the runner's own threads, which touch nothing but the
 * launch they were handed. */
#ifndef BARGE_AGENT_RUNNER_H
#define BARGE_AGENT_RUNNER_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

#define RUNNER_DEFAULT_KILL_GRACE_MS 30000
#define RUNNER_INDEX_PERIOD_MS 100 /* how often a live attempt's log size is looked at */
#define RUNNER_DEFAULT_MAX_JOBS 256
#define RUNNER_MAX_LAUNCHERS 16
#define RUNNER_DEFAULT_MAX_LOG_BYTES (1024LL * 1024 * 1024)
/* The reason of an attempt stopped because its log could not be written (a full disk). */
#define REASON_LOG_UNWRITABLE "CannotWriteLogError: "
/* Docker's default, used when a job's environment has no PATH. */
#define RUNNER_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct runner_conf {
  /* Root for per-attempt logs: <log_dir>/<job_id>/<attempt>.log when a spec gives no log_path,
   * and the base of a relative log_path. May be NULL if every spec gives an absolute path. */
  const char *log_dir;
  /* SIGTERM -> SIGKILL delay for timeouts and kills; 0 = SIGKILL with no grace (barge agent
   * --kill-grace-ms 0); < 0 = RUNNER_DEFAULT_KILL_GRACE_MS. */
  int64_t kill_grace_ms;
  /* Maximum attempts alive at once (runner_start refuses beyond); 0 = RUNNER_DEFAULT_MAX_JOBS. */
  int max_jobs;
  /* User name or numeric uid to run jobs as, with its primary and supplementary groups. NULL =
   * don't switch (jobs run as the agent's user). Switching needs root; runner_new fails when
   * the agent is not root and the user is not the agent's own. */
  const char *run_as_user;
  /* The most bytes an attempt's log keeps (stdout and stderr together); what comes after is
   * dropped, with one line saying so. 0 = RUNNER_DEFAULT_MAX_LOG_BYTES; < 0 = no limit. */
  int64_t max_log_bytes;
  /* Threads that start attempts (vfork, the child's cgroup join, exec) beside the caller, at
   * most RUNNER_MAX_LAUNCHERS; 0 = runner_start starts each itself (see runner_start). */
  int launchers;
  /* With launchers: called from a launcher thread each time an attempt has exec'd or failed to,
   * so that the caller's loop polls (async-signal-safe work only, e.g. a self-pipe). May be NULL. */
  void (*wake)(void);
};

struct run_spec {
  const char *job_id; /* e.g. "<uuid>" or "<parentId>:<index>" */
  int attempt;        /* from 1 */
  char **argv;        /* NULL-terminated, at least one element */
  char **envp;        /* the whole environment, NULL-terminated; NULL = empty */
  const char *log_path; /* NULL = <log_dir>/<job_id>/<attempt>.log; parents are created */
  const char *work_dir; /* NULL = the agent's working directory */
  int64_t timeout_ms;   /* 0 = none; counted from runner_start */
  int64_t mem_limit_mib; /* 0 = none; RLIMIT_DATA, see above */
  /* Run as /bin/sh -c "<argv joined with single spaces>": the elements are shell text, not
   * quoted (the job definition asked for a shell). */
  int use_shell;
  /* Open cgroup.procs files (of the attempt's cgroups) the child joins before exec; see cgroup.h.
   * Borrowed, not copied: they must stay open until the attempt's first event (RUN_STARTED or
   * RUN_FAILED_TO_START) has been delivered (with launchers the child starts after runner_start
   * has returned). */
  const int *join_fds;
  int njoin;
};

enum run_event_kind {
  RUN_STARTED,         /* exec succeeded; always before the attempt's terminal event */
  RUN_EXITED,          /* ended on its own: exit_code, signal */
  RUN_FAILED_TO_START, /* no process ran: reason "CannotStartContainerError: <detail>" */
  RUN_TIMED_OUT,       /* ended after its timeout fired: exit_code, signal */
  RUN_KILLED,          /* ended after runner_kill: exit_code, signal, the kill's reason */
  RUN_EVENT_KIND__COUNT
};

/* Every accepted attempt produces exactly one terminal event (EXITED, FAILED_TO_START,
 * TIMED_OUT or KILLED), preceded by RUN_STARTED unless it failed to start. Pointers are
 * borrowed and valid only during the callback. Times are mono_ms() values. */
struct run_event {
  enum run_event_kind kind;
  const char *job_id;
  int attempt;
  pid_t pid;      /* 0 when no process was created */
  int exit_code;  /* terminal events of a process that ran: status, or 128 + signal; else -1 */
  int signal;     /* the signal that ended it, 0 if it exited */
  const char *reason; /* EXITED: "Essential container in task exited"; FAILED_TO_START:
                         "CannotStartContainerError: <strerror> (<argv0>)"; TIMED_OUT: "Job
                         attempt duration exceeded timeout"; KILLED: runner_kill's reason;
                         STARTED: "" */
  const char *log_path;
  int64_t start_ms; /* when runner_start ran */
  int64_t end_ms;   /* terminal events: when the death was seen; STARTED: start_ms */
  /* Set by a runtime, never by the runner: the attempt's processes are in a group the runtime
   * itself sweeps when the agent starts again (the process runtime's cgroup, cg_sweep), so the
   * agent need not record its process group for the next incarnation. */
  int swept;
};

typedef void (*run_event_fn)(void *ctx, const struct run_event *ev);

struct runner;

/* A runner with conf copied (conf may be freed after). NULL with a message in err on a bad
 * conf (unknown run_as_user, or one that needs root). */
struct runner *runner_new(const struct runner_conf *conf, char *err, size_t errlen);

/* SIGKILLs every remaining attempt's process group and reaps the leaders; what they wrote before
 * is moved to their logs (and time indexes), but no events are delivered. NULL is a no-op. */
void runner_free(struct runner *r);

/* Starts an attempt. 0 = accepted: its events follow through runner_poll, including start
 * failures (pipes, fork, exec, user switch, chdir), which become RUN_FAILED_TO_START.
 * Otherwise the attempt was not accepted and no event will follow: -EINVAL (bad spec),
 * -EEXIST (the same job_id and attempt is alive), -EAGAIN (max_jobs alive); detail in err.
 * Without launchers it blocks until the child has exec'd (or failed to): on cgroup v1 the
 * child's join can wait for an RCU grace period, milliseconds. With launchers it only makes the
 * pipes and queues the start; a launcher thread vforks (blocking only itself) and
 * the next runner_poll after it is done delivers RUN_STARTED or RUN_FAILED_TO_START. Until then
 * the attempt counts as active and runner_kill stops it as soon as its process exists. */
int runner_start(struct runner *r, const struct run_spec *spec, char *err, size_t errlen)
    BARGE_WUR;

/* Stops an alive attempt: SIGTERM to its group now, SIGKILL after the grace. reason (copied)
 * is reported in RUN_KILLED. 0 = signalled, or already stopping (the first cause stays), or
 * already ended with its terminal event not yet delivered; -ESRCH = no such attempt. */
int runner_kill(struct runner *r, const char *job_id, int attempt, const char *reason);

/* runner_kill for every alive attempt (agent shutdown). Returns how many were signalled. */
int runner_kill_all(struct runner *r, const char *reason);

/* Non-blocking: reaps exited leaders, fires timeouts and SIGKILL escalations due at
 * now_mono_ms (a mono_ms() value), and delivers events to cb in order. cb may call
 * runner_start, runner_kill and runner_active, but not runner_poll or runner_free. Returns the
 * number of events delivered. */
int runner_poll(struct runner *r, int64_t now_mono_ms, run_event_fn cb, void *ctx);

/* Attempts accepted whose terminal event has not been delivered yet. */
int runner_active(const struct runner *r);

/* The earliest mono_ms at which runner_poll has timer work (a timeout or a SIGKILL escalation),
 * or -1 if none; exits are only seen by polling, so poll at least every ~100 ms anyway. */
int64_t runner_next_deadline_ms(const struct runner *r);

#endif
