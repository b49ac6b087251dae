/* runner.c: the agent's process runner (see runner.h for the process model).
 *
 * One slot per accepted attempt:
 *
 *   runner_start ──vfork+exec ok─> RUNNING ──leader exits──> terminal event, slot freed
 *        │                          │   ^
 *        │                          │   └─ timeout / runner_kill: SIGTERM group, cause set once;
 *        │                          │      SIGKILL group once the grace has passed
 *        └──log/vfork/exec failed──> FAILED ──next poll──> RUN_FAILED_TO_START, slot freed
 *
 * Death is detected with waitid(WNOWAIT) so the leader stays a zombie while the rest of its
 * group is SIGKILLed: its pid (= the pgid) cannot be reused by an unrelated process meanwhile.
 * Only then is it reaped. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "joblog.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define REASON_EXITED "Essential container in task exited"
#define REASON_TIMEOUT "Job attempt duration exceeded timeout"
#define REASON_CANNOT_START "CannotStartContainerError: "

enum slot_state { SLOT_RUNNING, SLOT_FAILED, SLOT_DONE };
enum stop_cause { CAUSE_NONE, CAUSE_TIMEOUT, CAUSE_KILL };

struct slot {
  enum slot_state state;
  enum stop_cause cause;
  char *job_id;
  int attempt;
  pid_t pid; /* the group leader; its pid is the pgid */
  char *log_path;
  char *reason; /* FAILED: the start failure; CAUSE_KILL: runner_kill's reason */
  int started_reported;
  int sigkilled;
  int64_t start_ms;
  int64_t deadline_ms; /* -1 = no timeout */
  int64_t term_ms;     /* when SIGTERM was sent; -1 = not yet */
  /* The job's stdout and stderr reach the log through a pipe the agent drains (joblog.h), so
   * that a full disk stops the attempt with a reason and a log stops at its limit. */
  struct joblog log;
};

struct runner {
  char *log_dir;
  int64_t kill_grace_ms;
  int max_jobs;
  int switch_user;
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  int ngroups;
  int64_t max_log_bytes; /* 0: the default; < 0: no limit */
  struct slot **slots; /* pointers, so a slot stays put when the array grows in a callback */
  int n, cap;
};

/* What the child sends through the CLOEXEC pipe when it cannot exec. */
enum child_step { STEP_SETPGID, STEP_STDIO, STEP_RLIMIT, STEP_USER, STEP_CHDIR, STEP_EXEC, STEP_CGROUP };
struct child_report {
  int step;
  int err;
};

/* Everything the child needs, prepared before vfork: the child allocates nothing. */
struct child_args {
  int null_fd, log_fd, report_fd;
  char **argv;
  char **envp;
  char **paths; /* candidate executables for argv[0], tried in order */
  const char *work_dir;
  int64_t mem_limit_mib;
  const int *join_fds;
  int njoin;
  const struct runner *r;
  int nofile; /* fallback bound for marking fds CLOEXEC */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) BARGE_PRINTF(3, 4);
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* ---- user switching (resolved once, in runner_new) ---- */

static int resolve_user(struct runner *r, const char *user, char *err, size_t errlen) {
  char pwbuf[16384];
  struct passwd pw, *res = NULL;
  char *end;
  errno = 0;
  unsigned long num = strtoul(user, &end, 10);
  int numeric = *user && *end == 0 && errno == 0;
  int rc = numeric ? getpwuid_r((uid_t)num, &pw, pwbuf, sizeof pwbuf, &res)
                   : getpwnam_r(user, &pw, pwbuf, sizeof pwbuf, &res);
  if (rc != 0 || !res) {
    if (!numeric) {
      set_err(err, errlen, "run_as_user: unknown user '%s'", user);
      return -1;
    }
    r->uid = (uid_t)num; /* a bare uid with no passwd entry: its own group, nothing more */
    r->gid = (gid_t)num;
    r->ngroups = 1;
    r->groups = xmalloc(sizeof *r->groups);
    r->groups[0] = r->gid;
  } else {
    r->uid = pw.pw_uid;
    r->gid = pw.pw_gid;
    int ng = 32;
    r->groups = xmalloc(sizeof *r->groups * (size_t)ng);
    while (getgrouplist(pw.pw_name, pw.pw_gid, r->groups, &ng) < 0) {
      r->groups = xrealloc(r->groups, sizeof *r->groups * (size_t)ng);
    }
    r->ngroups = ng;
  }
  if (geteuid() == 0) {
    r->switch_user = 1;
  } else if (r->uid != geteuid()) {
    set_err(err, errlen, "run_as_user '%s' needs the agent to run as root", user);
    return -1;
  }
  return 0;
}

struct runner *runner_new(const struct runner_conf *conf, char *err, size_t errlen) {
  struct runner *r = xcalloc(1, sizeof *r);
  r->log_dir = conf->log_dir ? xstrdup(conf->log_dir) : NULL;
  r->kill_grace_ms = conf->kill_grace_ms > 0 ? conf->kill_grace_ms : RUNNER_DEFAULT_KILL_GRACE_MS;
  r->max_jobs = conf->max_jobs > 0 ? conf->max_jobs : RUNNER_DEFAULT_MAX_JOBS;
  r->max_log_bytes = conf->max_log_bytes; /* joblog_start: 0 = the default */
  if (conf->run_as_user && *conf->run_as_user) {
    if (resolve_user(r, conf->run_as_user, err, errlen) != 0) {
      runner_free(r);
      return NULL;
    }
  } else if (geteuid() == 0) {
    log_warn("runner: no run_as_user configured; jobs will run as root");
  }
  return r;
}

static void slot_free(struct slot *s) {
  if (!s) return;
  free(s->job_id);
  free(s->log_path);
  free(s->reason);
  joblog_close(&s->log);
  free(s);
}

static void reap_blocking(pid_t pid) {
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
}

void runner_free(struct runner *r) {
  if (!r) return;
  for (int i = 0; i < r->n; i++) {
    struct slot *s = r->slots[i];
    if (s->state == SLOT_RUNNING) {
      kill(-s->pid, SIGKILL);
      reap_blocking(s->pid);
    }
    slot_free(s);
  }
  free(r->slots);
  free(r->groups);
  free(r->log_dir);
  free(r);
}

/* ---- the child, between vfork and exec: async-signal-safe calls only ---- */

static void child_fail(int fd, int step, int err) {
  struct child_report rep = {step, err};
  ssize_t w;
  do {
    w = write(fd, &rep, sizeof rep);
  } while (w < 0 && errno == EINTR);
  _exit(127);
}

static int dup2_retry(int from, int to) {
  int rc;
  do {
    rc = dup2(from, to);
  } while (rc < 0 && (errno == EINTR || errno == EBUSY));
  return rc;
}

static void child_exec(const struct child_args *a) __attribute__((noreturn));
static void child_exec(const struct child_args *a) {
  /* Ignored signals survive exec, so a job would inherit e.g. the agent's SIG_IGN for
   * SIGPIPE: reset every disposition, then the mask (blocked by the parent around vfork). */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
  }
  if (setpgid(0, 0) != 0) child_fail(a->report_fd, STEP_SETPGID, errno);
  if (a->njoin) {
    /* join the attempt's cgroups: write our pid (formatted by hand: no stdio here) */
    char num[24];
    int k = (int)sizeof num;
    unsigned long v = (unsigned long)getpid();
    num[--k] = '\n';
    do {
      num[--k] = (char)('0' + v % 10);
      v /= 10;
    } while (v);
    for (int i = 0; i < a->njoin; i++)
      if (write(a->join_fds[i], num + k, sizeof num - (size_t)k) < 0) child_fail(a->report_fd, STEP_CGROUP, errno);
  }
  if (dup2_retry(a->null_fd, 0) < 0 || dup2_retry(a->log_fd, 1) < 0 ||
      dup2_retry(a->log_fd, 2) < 0)
    child_fail(a->report_fd, STEP_STDIO, errno);
  /* Agent descriptors opened without O_CLOEXEC (a library's socket, say) must not leak into
   * jobs. The report pipe is closed by exec too, which is how the parent learns of success. */
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
#endif
  {
    for (int fd = 3; fd < a->nofile; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  if (a->mem_limit_mib > 0) {
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)a->mem_limit_mib * 1024 * 1024;
    if (setrlimit(RLIMIT_DATA, &rl) != 0) child_fail(a->report_fd, STEP_RLIMIT, errno);
  }
  if (a->r->switch_user) {
    /* the raw system calls: glibc's wrappers would signal every thread of the agent to change
     * its ids too, and this child shares the agent's memory (vfork) */
    if (syscall(SYS_setgroups, (size_t)a->r->ngroups, a->r->groups) != 0 ||
        syscall(SYS_setgid, a->r->gid) != 0 || syscall(SYS_setuid, a->r->uid) != 0)
      child_fail(a->report_fd, STEP_USER, errno);
  }
  if (a->work_dir && chdir(a->work_dir) != 0) child_fail(a->report_fd, STEP_CHDIR, errno);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* execvp's rules, on the job's PATH: skip candidates that don't exist, remember EACCES. */
  int err = ENOENT, saw_eacces = 0;
  for (char **p = a->paths; *p; p++) {
    execve(*p, a->argv, a->envp);
    err = errno;
    if (err == EACCES) {
      saw_eacces = 1;
    } else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ENAMETOOLONG &&
               err != ELOOP) {
      break;
    }
  }
  if (saw_eacces && (err == ENOENT || err == ENOTDIR)) err = EACCES;
  child_fail(a->report_fd, STEP_EXEC, err);
  _exit(127); /* not reached */
}

/* ---- runner_start ---- */

static struct slot *find_alive(const struct runner *r, const char *job_id, int attempt) {
  for (int i = 0; i < r->n; i++) {
    struct slot *s = r->slots[i];
    if (s->state != SLOT_DONE && s->attempt == attempt && strcmp(s->job_id, job_id) == 0)
      return s;
  }
  return NULL;
}

static char *default_log_path(const char *log_dir, const char *job_id, int attempt) {
  struct buf b;
  buf_init(&b);
  buf_printf(&b, "%s/", log_dir);
  /* A job id is one path component: no '/', no "." or "..". */
  if (strcmp(job_id, ".") == 0 || strcmp(job_id, "..") == 0) buf_append(&b, "_", 1);
  for (const char *p = job_id; *p; p++) buf_append(&b, *p == '/' ? "_" : p, 1);
  buf_printf(&b, "/%d.log", attempt);
  return (char *)b.data;
}

/* Moves fd above stdio (an agent started with 0-2 closed could get them), keeping CLOEXEC. */
static int above_stdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return nfd;
}

/* execvp's search list for argv0 on the job's PATH (not the agent's). NULL-terminated. */
static char **exec_candidates(const char *argv0, char **envp) {
  const char *path = NULL;
  for (char **e = envp; e && *e; e++) {
    if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  }
  if (!path) path = RUNNER_DEFAULT_PATH;
  size_t n = 2;
  for (const char *p = path; *p; p++) n += *p == ':';
  char **out = xcalloc(n, sizeof *out);
  if (strchr(argv0, '/')) {
    out[0] = xstrdup(argv0);
    return out;
  }
  size_t k = 0;
  const char *p = path;
  for (;;) {
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    struct buf b;
    buf_init(&b);
    if (len == 0) {
      buf_printf(&b, "%s", argv0); /* an empty element is the working directory */
    } else {
      buf_append(&b, p, len);
      buf_printf(&b, "/%s", argv0);
    }
    out[k++] = (char *)b.data;
    if (!colon) break;
    p = colon + 1;
  }
  return out;
}

static void free_strv(char **v) {
  for (char **p = v; p && *p; p++) free(*p);
  free(v);
}

static const char *step_name(int step) {
  switch ((enum child_step)step) {
  case STEP_SETPGID: return "setpgid";
  case STEP_STDIO: return "redirecting stdio";
  case STEP_RLIMIT: return "memory limit";
  case STEP_USER: return "switching user";
  case STEP_CHDIR: return "chdir";
  case STEP_EXEC: return "exec";
  case STEP_CGROUP: return "joining the cgroup";
  }
  return "?";
}

static void slot_fail(struct slot *s, const char *detail) {
  struct buf b;
  buf_init(&b);
  buf_printf(&b, REASON_CANNOT_START "%s", detail);
  free(s->reason);
  s->reason = (char *)b.data;
  s->state = SLOT_FAILED;
  s->pid = 0;
}

/* In a function of its own, so that no local of the caller lives across vfork. */
__attribute__((noinline)) static pid_t start_child(const struct child_args *ca) {
  pid_t pid = vfork();
  if (pid == 0) child_exec(ca);
  return pid;
}

/* Starts the process (vfork and exec); on any failure the slot becomes FAILED with the reason. */
static void spawn(struct runner *r, struct slot *s, const struct run_spec *spec) {
  struct buf why;
  int log_fd = -1, null_fd = -1, pipe_fd[2] = {-1, -1}, out_fd[2] = {-1, -1};
  char *shell_argv[4] = {NULL, NULL, NULL, NULL};
  char **argv = spec->argv, **paths = NULL;
  static char *empty_env[] = {NULL};
  struct buf joined;
  buf_init(&joined);
  buf_init(&why);

  log_fd = above_stdio(joblog_open(s->log_path, &why));
  if (log_fd < 0) {
    if (!why.len) buf_printf(&why, "log file %s: %s", s->log_path, strerror(errno));
    slot_fail(s, (char *)why.data);
    goto out;
  }
  do {
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  } while (null_fd < 0 && errno == EINTR);
  null_fd = above_stdio(null_fd);
  if (null_fd < 0 || pipe2(pipe_fd, O_CLOEXEC) != 0 || pipe2(out_fd, O_CLOEXEC) != 0) {
    buf_printf(&why, "%s", strerror(errno));
    slot_fail(s, (char *)why.data);
    goto out;
  }
  out_fd[0] = above_stdio(out_fd[0]);
  out_fd[1] = above_stdio(out_fd[1]);
  fcntl(out_fd[0], F_SETPIPE_SZ, 1 << 20); /* a chatty job blocks less between two drains */
  if (spec->use_shell) {
    for (char **a = spec->argv; *a; a++)
      buf_printf(&joined, "%s%s", a == spec->argv ? "" : " ", *a);
    shell_argv[0] = "/bin/sh";
    shell_argv[1] = "-c";
    shell_argv[2] = (char *)joined.data;
    argv = shell_argv;
  }
  paths = exec_candidates(argv[0], spec->envp);
  struct rlimit nofile = {1024, 1024};
  getrlimit(RLIMIT_NOFILE, &nofile);
  struct child_args ca = {
      .null_fd = null_fd,
      .log_fd = out_fd[1],
      .report_fd = pipe_fd[1],
      .argv = argv,
      .envp = spec->envp ? spec->envp : empty_env,
      .paths = paths,
      .work_dir = spec->work_dir,
      .mem_limit_mib = spec->mem_limit_mib,
      .join_fds = spec->join_fds,
      .njoin = spec->njoin,
      .r = r,
      .nofile = nofile.rlim_cur > 65536 ? 65536 : (int)nofile.rlim_cur,
  };

  /* vfork: the child borrows the agent's memory until it execs, so starting a job costs no copy
   * of the agent's page tables (fork's cost grows with the agent's size; this is the agent's
   * largest cost per job). The child writes nothing of the agent's but its own stack frames and
   * errno, and makes raw system calls only. Signals stay blocked across it so the child never
   * runs one of the agent's handlers (it resets them all before unblocking). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = start_child(&ca);
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(pipe_fd[1]);
  pipe_fd[1] = -1;
  close(out_fd[1]);
  out_fd[1] = -1;
  if (pid < 0) {
    buf_printf(&why, "fork: %s", strerror(fork_errno));
    slot_fail(s, (char *)why.data);
    goto out;
  }

  /* EOF = exec succeeded (the pipe was CLOEXEC); a report = the child failed and exits. */
  struct child_report rep;
  size_t got = 0;
  while (got < sizeof rep) {
    ssize_t n = read(pipe_fd[0], (char *)&rep + got, sizeof rep - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  if (got == sizeof rep) {
    reap_blocking(pid);
    if (rep.step == STEP_EXEC)
      buf_printf(&why, "%s (%s)", strerror(rep.err), argv[0]);
    else if (rep.step == STEP_CHDIR)
      buf_printf(&why, "chdir %s: %s", spec->work_dir, strerror(rep.err));
    else
      buf_printf(&why, "%s: %s", step_name(rep.step), strerror(rep.err));
    slot_fail(s, (char *)why.data);
    goto out;
  }
  s->pid = pid;
  s->state = SLOT_RUNNING;
  joblog_start(&s->log, out_fd[0], log_fd, r->max_log_bytes);
  out_fd[0] = log_fd = -1;
out:
  if (out_fd[0] >= 0) close(out_fd[0]);
  if (out_fd[1] >= 0) close(out_fd[1]);
  if (log_fd >= 0) close(log_fd);
  if (null_fd >= 0) close(null_fd);
  if (pipe_fd[0] >= 0) close(pipe_fd[0]);
  if (pipe_fd[1] >= 0) close(pipe_fd[1]);
  free_strv(paths);
  buf_release(&joined);
  buf_release(&why);
}

int runner_start(struct runner *r, const struct run_spec *spec, char *err, size_t errlen) {
  if (!spec || !spec->job_id || !*spec->job_id || !spec->argv || !spec->argv[0] ||
      spec->timeout_ms < 0 || spec->mem_limit_mib < 0) {
    set_err(err, errlen, "invalid run spec: job_id and argv[0] are required");
    return -EINVAL;
  }
  if (!spec->log_path && !r->log_dir) {
    set_err(err, errlen, "invalid run spec: no log_path and no log_dir configured");
    return -EINVAL;
  }
  if (find_alive(r, spec->job_id, spec->attempt)) {
    set_err(err, errlen, "job %s attempt %d is already running", spec->job_id, spec->attempt);
    return -EEXIST;
  }
  if (runner_active(r) >= r->max_jobs) {
    set_err(err, errlen, "runner full: %d jobs running", r->max_jobs);
    return -EAGAIN;
  }
  struct slot *s = xcalloc(1, sizeof *s);
  s->state = SLOT_RUNNING; /* spawn turns it FAILED if no process could be started */
  s->job_id = xstrdup(spec->job_id);
  s->attempt = spec->attempt;
  s->start_ms = mono_ms();
  s->deadline_ms = spec->timeout_ms > 0 ? s->start_ms + spec->timeout_ms : -1;
  s->term_ms = -1;
  if (!spec->log_path) {
    s->log_path = default_log_path(r->log_dir, spec->job_id, spec->attempt);
  } else if (spec->log_path[0] != '/' && r->log_dir) {
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s/%s", r->log_dir, spec->log_path);
    s->log_path = (char *)b.data;
  } else {
    s->log_path = xstrdup(spec->log_path);
  }
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 16;
    r->slots = xrealloc(r->slots, sizeof *r->slots * (size_t)r->cap);
  }
  r->slots[r->n++] = s;
  joblog_init(&s->log, s->job_id, s->attempt, s->log_path);
  spawn(r, s, spec);
  if (s->state == SLOT_FAILED)
    log_info("runner: job %s attempt %d failed to start: %s", s->job_id, s->attempt, s->reason);
  else
    log_debug("runner: job %s attempt %d started, pid %d", s->job_id, s->attempt, (int)s->pid);
  return 0;
}

/* ---- stopping ---- */

static void stop(struct slot *s, enum stop_cause cause, const char *reason, int64_t now) {
  s->cause = cause;
  if (reason) {
    free(s->reason);
    s->reason = xstrdup(reason);
  }
  s->term_ms = now;
  if (kill(-s->pid, SIGTERM) != 0 && errno != ESRCH)
    log_warn("runner: SIGTERM to job %s group %d: %s", s->job_id, (int)s->pid, strerror(errno));
}

int runner_kill(struct runner *r, const char *job_id, int attempt, const char *reason) {
  struct slot *s = find_alive(r, job_id, attempt);
  if (!s) return -ESRCH;
  if (s->state == SLOT_RUNNING && s->cause == CAUSE_NONE)
    stop(s, CAUSE_KILL, reason ? reason : "", mono_ms());
  return 0;
}

int runner_kill_all(struct runner *r, const char *reason) {
  int n = 0;
  int64_t now = mono_ms();
  for (int i = 0; i < r->n; i++) {
    struct slot *s = r->slots[i];
    if (s->state == SLOT_RUNNING && s->cause == CAUSE_NONE) {
      stop(s, CAUSE_KILL, reason ? reason : "", now);
      n++;
    }
  }
  return n;
}

/* ---- polling ---- */

static void deliver(struct slot *s, enum run_event_kind kind, int exit_code, int sig,
                    const char *reason, int64_t end_ms, run_event_fn cb, void *ctx) {
  struct run_event ev = {
      .kind = kind,
      .job_id = s->job_id,
      .attempt = s->attempt,
      .pid = s->pid,
      .exit_code = exit_code,
      .signal = sig,
      .reason = reason,
      .log_path = s->log_path,
      .start_ms = s->start_ms,
      .end_ms = end_ms,
  };
  if (cb) cb(ctx, &ev);
}

/* 1 if the leader has exited (then the group is swept and the leader reaped), else 0. */
static int reap(struct slot *s, int *exit_code, int *sig) {
  siginfo_t si;
  int rc;
  memset(&si, 0, sizeof si);
  do {
    rc = waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    /* ECHILD: someone else reaped it (SIGCHLD set to SIG_IGN, or a stray waitpid(-1)). Its
     * pid may already be reused, so no sweep; the exit status is lost. */
    log_warn("runner: job %s pid %d: waitid: %s", s->job_id, (int)s->pid, strerror(errno));
    *exit_code = -1;
    *sig = 0;
    return 1;
  }
  if (si.si_pid == 0) return 0;
  /* The zombie leader still holds the pgid: sweep what is left of the "container". */
  kill(-s->pid, SIGKILL);
  int status = 0;
  pid_t w;
  do {
    w = waitpid(s->pid, &status, 0);
  } while (w < 0 && errno == EINTR);
  if (w == s->pid && WIFSIGNALED(status)) {
    *sig = WTERMSIG(status);
    *exit_code = 128 + *sig;
  } else if (w == s->pid) {
    *sig = 0;
    *exit_code = WEXITSTATUS(status);
  } else {
    *sig = 0;
    *exit_code = -1;
  }
  return 1;
}

/* Moves the job's output to its log (joblog_pump); a log that cannot be written stops the
 * attempt with the reason, or (final: the leader has exited) makes it the attempt's end.
 * Descendants that outlive the leader lose their output. */
static void pump(struct slot *s, int64_t now, int final) {
  if (!joblog_pump(&s->log, final) || s->cause != CAUSE_NONE) return;
  if (final) {
    s->cause = CAUSE_KILL;
    free(s->reason);
    s->reason = xstrdup(s->log.why);
  } else {
    stop(s, CAUSE_KILL, s->log.why, now);
  }
}

int runner_poll(struct runner *r, int64_t now_mono_ms, run_event_fn cb, void *ctx) {
  int events = 0;
  /* r->n and r->slots are re-read each time round: cb may call runner_start. */
  for (int i = 0; i < r->n; i++) {
    struct slot *s = r->slots[i];
    if (s->state == SLOT_DONE) continue;
    if (s->state == SLOT_FAILED) {
      s->state = SLOT_DONE;
      deliver(s, RUN_FAILED_TO_START, -1, 0, s->reason, s->start_ms, cb, ctx);
      events++;
      continue;
    }
    if (!s->started_reported) {
      s->started_reported = 1;
      deliver(s, RUN_STARTED, -1, 0, "", s->start_ms, cb, ctx);
      events++;
    }
    int exit_code, sig;
    pump(s, now_mono_ms, 0);
    joblog_index(&s->log, now_mono_ms, 0);
    if (reap(s, &exit_code, &sig)) {
      pump(s, now_mono_ms, 1);
      joblog_index(&s->log, now_mono_ms, 1);
      enum run_event_kind kind = RUN_EXITED;
      const char *reason = REASON_EXITED;
      switch (s->cause) {
      case CAUSE_NONE: break;
      case CAUSE_TIMEOUT:
        kind = RUN_TIMED_OUT;
        reason = REASON_TIMEOUT;
        break;
      case CAUSE_KILL:
        kind = RUN_KILLED;
        reason = s->reason;
        break;
      }
      s->state = SLOT_DONE;
      log_debug("runner: job %s attempt %d pid %d ended: exit %d", s->job_id, s->attempt,
                (int)s->pid, exit_code);
      deliver(s, kind, exit_code, sig, reason, now_mono_ms, cb, ctx);
      events++;
      continue;
    }
    if (s->cause == CAUSE_NONE && s->deadline_ms >= 0 && now_mono_ms >= s->deadline_ms) {
      log_info("runner: job %s attempt %d timed out; SIGTERM", s->job_id, s->attempt);
      stop(s, CAUSE_TIMEOUT, NULL, now_mono_ms);
    }
    if (s->term_ms >= 0 && !s->sigkilled && now_mono_ms >= s->term_ms + r->kill_grace_ms) {
      log_info("runner: job %s attempt %d still alive after %lld ms; SIGKILL", s->job_id,
               s->attempt, (long long)r->kill_grace_ms);
      s->sigkilled = 1;
      kill(-s->pid, SIGKILL);
    }
  }
  /* Drop delivered slots, keeping order. */
  int k = 0;
  for (int i = 0; i < r->n; i++) {
    if (r->slots[i]->state == SLOT_DONE)
      slot_free(r->slots[i]);
    else
      r->slots[k++] = r->slots[i];
  }
  r->n = k;
  return events;
}

int runner_active(const struct runner *r) {
  int n = 0;
  for (int i = 0; i < r->n; i++) n += r->slots[i]->state != SLOT_DONE;
  return n;
}

int64_t runner_next_deadline_ms(const struct runner *r) {
  int64_t best = -1;
  for (int i = 0; i < r->n; i++) {
    const struct slot *s = r->slots[i];
    int64_t t = -1;
    if (s->state == SLOT_FAILED || (s->state == SLOT_RUNNING && !s->started_reported))
      t = s->start_ms; /* an event is waiting */
    else if (s->state == SLOT_RUNNING && s->cause == CAUSE_NONE && s->deadline_ms >= 0)
      t = s->deadline_ms;
    else if (s->state == SLOT_RUNNING && s->term_ms >= 0 && !s->sigkilled)
      t = s->term_ms + r->kill_grace_ms;
    if (t >= 0 && (best < 0 || t < best)) best = t;
  }
  return best;
}
