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

enum slot_state { SLOT_STARTING, SLOT_RUNNING, SLOT_FAILED, SLOT_DONE };
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
  int null_fd;           /* /dev/null, every child's stdin (opened once), or -1 */
  int nofile;            /* RLIMIT_NOFILE's soft limit, at most 65536 (child_args.nofile) */
  struct slot **slots; /* pointers, so a slot stays put when the array grows in a callback */
  int n, cap;
  struct launchers *pool; /* NULL: attempts start in runner_start itself */
};

struct launchers;
static struct launchers *launchers_new(int n, void (*wake)(void));
static void launchers_stop(struct runner *r);
static int launchers_done(struct launchers *p);

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

/* Moves fd above stdio (an agent started with 0-2 closed could get them), keeping CLOEXEC. */
static int above_stdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return nfd;
}

struct runner *runner_new(const struct runner_conf *conf, char *err, size_t errlen) {
  struct runner *r = xcalloc(1, sizeof *r);
  r->log_dir = conf->log_dir ? xstrdup(conf->log_dir) : NULL;
  r->kill_grace_ms = conf->kill_grace_ms >= 0 ? conf->kill_grace_ms : RUNNER_DEFAULT_KILL_GRACE_MS;
  r->max_jobs = conf->max_jobs > 0 ? conf->max_jobs : RUNNER_DEFAULT_MAX_JOBS;
  r->max_log_bytes = conf->max_log_bytes; /* joblog_start: 0 = the default */
  struct rlimit nofile = {1024, 1024};
  getrlimit(RLIMIT_NOFILE, &nofile);
  r->nofile = nofile.rlim_cur > 65536 ? 65536 : (int)nofile.rlim_cur;
  do {
    r->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  } while (r->null_fd < 0 && errno == EINTR);
  r->null_fd = above_stdio(r->null_fd); /* a failure is each start's (prepare) */
  if (conf->run_as_user && *conf->run_as_user) {
    if (resolve_user(r, conf->run_as_user, err, errlen) != 0) {
      runner_free(r);
      return NULL;
    }
  } else if (geteuid() == 0) {
    log_warn("runner: no run_as_user configured; jobs will run as root");
  }
  if (conf->launchers > 0) r->pool = launchers_new(conf->launchers, conf->wake);
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
  launchers_stop(r); /* every process started is RUNNING now, and killed below */
  for (int i = 0; i < r->n; i++) {
    struct slot *s = r->slots[i];
    if (s->state == SLOT_RUNNING) {
      kill(-s->pid, SIGKILL);
      reap_blocking(s->pid);
      /* what it wrote before it died, still in the pipe, goes to its log (the pipe holds less
       * than one pump's worth, so a descendant that escaped the kill cannot hold this up) */
      joblog_pump(&s->log, 0);
      joblog_index(&s->log, mono_ms(), 1);
    }
    slot_free(s);
  }
  free(r->slots);
  free(r->groups);
  free(r->log_dir);
  if (r->null_fd >= 0) close(r->null_fd);
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
  /* join the attempt's cgroups: "0" is the writer itself (see cgroup.h on why v1 uses tasks) */
  for (int i = 0; i < a->njoin; i++)
    if (write(a->join_fds[i], "0\n", 2) < 0) child_fail(a->report_fd, STEP_CGROUP, errno);
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
  if (!*argv0) return out; /* an empty command word names no file (execvp: ENOENT) */
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

/* SIGTERM to the attempt's group, the cause kept; an attempt still starting gets it once its
 * process exists (finish). */
static void stop(struct slot *s, enum stop_cause cause, const char *reason, int64_t now) {
  s->cause = cause;
  if (reason) {
    free(s->reason);
    s->reason = xstrdup(reason);
  }
  if (s->state == SLOT_STARTING) return;
  s->term_ms = now;
  if (kill(-s->pid, SIGTERM) != 0 && errno != ESRCH)
    log_warn("runner: SIGTERM to job %s group %d: %s", s->job_id, (int)s->pid, strerror(errno));
}

/* ---- launching: prepare (the caller's thread), execute (vfork and exec: the caller's thread,
 * or a launcher thread), finish (the caller's thread, in runner_poll with launchers) ---- */

/* One attempt being launched: everything its child needs, owned here (the spec's strings are
 * copied: the caller may free them once runner_start returns), then what came of it. A launcher
 * thread touches only this, never the slot nor the runner's lists. */
struct launch {
  struct launch *next;
  struct slot *s;
  struct child_args ca;
  char **argv, **envp, **paths;
  char *work_dir;
  int pipe_rd, pipe_wr, out_rd, out_wr;
  int64_t prepare_us, execute_us; /* how long each took (the debug line of a start) */
  /* the outcome */
  pid_t pid;
  int fork_errno;
  int failed; /* the child reported the step that failed in rep */
  struct child_report rep;
};

/* The launcher threads and their queues (runner_conf.launchers). */
struct launchers {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct launch *todo, **todo_tail; /* waiting for a thread, in order */
  struct launch *done, **done_tail; /* executed, waiting for runner_poll, in order */
  int stopping;
  int running; /* launches being executed */
  int n;
  pthread_t th[RUNNER_MAX_LAUNCHERS];
  void (*wake)(void);
};

static char **strv_dup(char **v) {
  size_t n = 0;
  while (v && v[n]) n++;
  char **out = xcalloc(n + 1, sizeof *out);
  for (size_t i = 0; i < n; i++) out[i] = xstrdup(v[i]);
  return out;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void launch_free(struct launch *l) {
  if (!l) return;
  int *fds[] = {&l->pipe_rd, &l->pipe_wr, &l->out_rd, &l->out_wr};
  for (size_t i = 0; i < sizeof fds / sizeof *fds; i++) close_fd(fds[i]);
  free_strv(l->argv);
  free_strv(l->envp);
  free_strv(l->paths);
  free(l->work_dir);
  free(l);
}

/* The launch of slot s: its pipes made, the spec copied (the log file comes with the first output,
 * joblog.h). NULL when that failed (then the slot is FAILED with the reason). */
static struct launch *prepare(struct runner *r, struct slot *s, const struct run_spec *spec) {
  struct launch *l = xcalloc(1, sizeof *l);
  int pfd[2] = {-1, -1}, ofd[2] = {-1, -1};
  struct buf why;
  buf_init(&why);
  l->s = s;
  /* no log file yet: the log makes it with the job's first byte of output (joblog.h) */
  l->pipe_rd = l->pipe_wr = l->out_rd = l->out_wr = -1;
  if (r->null_fd < 0) {
    buf_printf(&why, "/dev/null: cannot be opened");
    goto fail;
  }
  /* the report pipe non-blocking at both ends: the child writes one small report at most */
  if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) != 0 || pipe2(ofd, O_CLOEXEC) != 0) {
    buf_printf(&why, "%s", strerror(errno));
    goto fail;
  }
  l->pipe_rd = pfd[0];
  l->pipe_wr = pfd[1];
  l->out_rd = above_stdio(ofd[0]);
  l->out_wr = above_stdio(ofd[1]);
  pfd[0] = pfd[1] = ofd[0] = ofd[1] = -1;
  fcntl(l->out_rd, F_SETPIPE_SZ, 1 << 20); /* a chatty job blocks less between two drains */
  if (spec->use_shell) {
    struct buf joined;
    buf_init(&joined);
    for (char **a = spec->argv; *a; a++)
      buf_printf(&joined, "%s%s", a == spec->argv ? "" : " ", *a);
    char *sh[] = {"/bin/sh", "-c", (char *)joined.data, NULL};
    l->argv = strv_dup(sh);
    buf_release(&joined);
  } else {
    l->argv = strv_dup(spec->argv);
  }
  l->envp = strv_dup(spec->envp);
  l->work_dir = spec->work_dir ? xstrdup(spec->work_dir) : NULL;
  l->paths = exec_candidates(l->argv[0], l->envp);
  l->ca = (struct child_args){
      .null_fd = r->null_fd,
      .log_fd = l->out_wr,
      .report_fd = l->pipe_wr,
      .argv = l->argv,
      .envp = l->envp,
      .paths = l->paths,
      .work_dir = l->work_dir,
      .mem_limit_mib = spec->mem_limit_mib,
      .join_fds = spec->join_fds, /* borrowed (run_spec.join_fds) */
      .njoin = spec->njoin,
      .r = r,
      .nofile = r->nofile,
  };
  buf_release(&why);
  return l;
fail:
  for (int i = 0; i < 2; i++) {
    close_fd(&pfd[i]);
    close_fd(&ofd[i]);
  }
  slot_fail(s, (char *)why.data);
  buf_release(&why);
  launch_free(l);
  return NULL;
}

/* vfork and exec; blocks the calling thread until the child has exec'd (or failed to), which
 * includes the child joining its cgroups. Touches only l.
 *
 * vfork: the child borrows the agent's memory until it execs, so starting a job costs no copy
 * of the agent's page tables (fork's cost grows with the agent's size). The child writes nothing
 * of the agent's but its own stack frames and errno, and makes raw system calls only. Signals
 * stay blocked across it so the child never runs one of the agent's handlers (it resets them all
 * before unblocking). */
static void execute(struct launch *l) {
  sigset_t all, old;
  sigfillset(&all);
  int64_t t0 = mono_us();
  pthread_sigmask(SIG_SETMASK, &all, &old);
  l->pid = start_child(&l->ca);
  l->fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  l->execute_us = mono_us() - t0;
  close_fd(&l->pipe_wr);
  close_fd(&l->out_wr);
  if (l->pid < 0) return;
  /* vfork returned: the child has exec'd or exited. A child that failed wrote its report before
   * _exit, so the pipe holds it now; an empty pipe means it exec'd. No wait for EOF: the write
   * end may live on for a moment in a child another launcher vforked meanwhile (until its exec
   * closes it), which made each start wait for the others' (30 ms apiece under load). */
  ssize_t got;
  do {
    got = read(l->pipe_rd, &l->rep, sizeof l->rep); /* O_NONBLOCK; sizeof rep < PIPE_BUF: whole */
  } while (got < 0 && errno == EINTR);
  if (got == (ssize_t)sizeof l->rep) {
    l->failed = 1;
    reap_blocking(l->pid);
  }
}

/* The launch's outcome into its slot: RUNNING with its log drained, or FAILED with the reason.
 * A kill that came while it was starting is carried out now. */
static void finish(struct runner *r, struct launch *l) {
  struct slot *s = l->s;
  struct buf why;
  buf_init(&why);
  if (l->pid < 0) {
    buf_printf(&why, "fork: %s", strerror(l->fork_errno));
  } else if (l->failed && l->rep.step == STEP_EXEC) {
    buf_printf(&why, "%s (%s)", strerror(l->rep.err), *l->argv[0] ? l->argv[0] : "\"\"");
  } else if (l->failed && l->rep.step == STEP_CHDIR) {
    buf_printf(&why, "chdir %s: %s", l->work_dir, strerror(l->rep.err));
  } else if (l->failed) {
    buf_printf(&why, "%s: %s", step_name(l->rep.step), strerror(l->rep.err));
  }
  if (why.len) {
    slot_fail(s, (char *)why.data);
    log_info("runner: job %s attempt %d failed to start: %s", s->job_id, s->attempt, s->reason);
  } else {
    s->pid = l->pid;
    s->state = SLOT_RUNNING;
    joblog_start(&s->log, l->out_rd, -1, r->max_log_bytes);
    l->out_rd = -1;
    log_debug("runner: job %s attempt %d started, pid %d (pipes %lld us, vfork to exec %lld us)", s->job_id,
              s->attempt, (int)s->pid, (long long)l->prepare_us, (long long)l->execute_us);
    if (s->cause != CAUSE_NONE) stop(s, s->cause, NULL, mono_ms());
  }
  buf_release(&why);
  launch_free(l);
}

static void *launcher_main(void *arg) {
  struct launchers *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->todo && !p->stopping) pthread_cond_wait(&p->cv, &p->mu);
    if (p->stopping) break; /* what is left in todo is never started */
    struct launch *l = p->todo;
    if (!(p->todo = l->next)) p->todo_tail = &p->todo;
    p->running++;
    pthread_mutex_unlock(&p->mu);
    execute(l);
    pthread_mutex_lock(&p->mu);
    p->running--;
    l->next = NULL;
    *p->done_tail = l;
    p->done_tail = &l->next;
    /* one wake for a burst: when the last start queued is done (an attempt that ends wakes the
     * caller anyway, SIGCHLD). Each wake is a turn of the caller's loop, whose cost grows with
     * the attempts alive: a wake per start made the agent's loop turn 8 times as often. */
    if (!p->todo && !p->running && p->wake) p->wake();
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* n launcher threads, every signal blocked in them (the process's signals go to its other
 * threads). NULL when none could be started. */
static struct launchers *launchers_new(int n, void (*wake)(void)) {
  struct launchers *p = xcalloc(1, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->todo_tail = &p->todo;
  p->done_tail = &p->done;
  p->wake = wake;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (int i = 0; i < n && i < RUNNER_MAX_LAUNCHERS; i++) {
    if (pthread_create(&p->th[p->n], NULL, launcher_main, p) != 0) break;
    p->n++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!p->n) {
    log_warn("runner: no launcher thread could be started: attempts start on the loop");
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
    return NULL;
  }
  return p;
}

static void launchers_queue(struct launchers *p, struct launch *l) {
  pthread_mutex_lock(&p->mu);
  *p->todo_tail = l;
  p->todo_tail = &l->next;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

/* The launches executed since the last call, in order (NULL-terminated list). */
static struct launch *launchers_take(struct launchers *p) {
  if (!p) return NULL;
  pthread_mutex_lock(&p->mu);
  struct launch *l = p->done;
  p->done = NULL;
  p->done_tail = &p->done;
  pthread_mutex_unlock(&p->mu);
  return l;
}

/* 1 if launches wait for runner_poll. */
static int launchers_done(struct launchers *p) {
  pthread_mutex_lock(&p->mu);
  int any = p->done != NULL;
  pthread_mutex_unlock(&p->mu);
  return any;
}

static void finish_done(struct runner *r) {
  for (struct launch *l = launchers_take(r->pool), *next; l; l = next) {
    next = l->next;
    finish(r, l);
  }
}

/* Stops the threads (each ends the launch it is in), finishes what was executed and drops what
 * was never started. */
static void launchers_stop(struct runner *r) {
  struct launchers *p = r->pool;
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stopping = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->n; i++) pthread_join(p->th[i], NULL);
  finish_done(r);
  for (struct launch *l = p->todo, *next; l; l = next) {
    next = l->next;
    launch_free(l);
  }
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
  r->pool = NULL;
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
    set_err(err, errlen, "this agent runs its --max-jobs %d attempts already", r->max_jobs);
    return -EAGAIN;
  }
  struct slot *s = xcalloc(1, sizeof *s);
  s->state = SLOT_RUNNING; /* prepare and finish turn it FAILED if no process could start */
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
  int64_t t0 = mono_us();
  struct launch *l = prepare(r, s, spec);
  if (l) l->prepare_us = mono_us() - t0;
  if (!l) {
    log_info("runner: job %s attempt %d failed to start: %s", s->job_id, s->attempt, s->reason);
  } else if (r->pool) {
    s->state = SLOT_STARTING; /* runner_poll finishes it once a launcher thread has run it */
    launchers_queue(r->pool, l);
  } else {
    execute(l);
    finish(r, l);
  }
  return 0;
}

int runner_kill(struct runner *r, const char *job_id, int attempt, const char *reason) {
  struct slot *s = find_alive(r, job_id, attempt);
  if (!s) return -ESRCH;
  if ((s->state == SLOT_RUNNING || s->state == SLOT_STARTING) && s->cause == CAUSE_NONE)
    stop(s, CAUSE_KILL, reason ? reason : "", mono_ms());
  return 0;
}

int runner_kill_all(struct runner *r, const char *reason) {
  int n = 0;
  int64_t now = mono_ms();
  for (int i = 0; i < r->n; i++) {
    struct slot *s = r->slots[i];
    if ((s->state == SLOT_RUNNING || s->state == SLOT_STARTING) && s->cause == CAUSE_NONE) {
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

/* 0 when no child of this process has exited (nothing to reap: one system call instead of one
 * per attempt in every turn of the loop), else 1 (also when unsure). */
static int any_exited(void) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int rc;
  do {
    rc = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
  } while (rc < 0 && errno == EINTR);
  return rc < 0 || si.si_pid != 0;
}

int runner_poll(struct runner *r, int64_t now_mono_ms, run_event_fn cb, void *ctx) {
  int events = 0, exits = -1; /* -1: not looked at yet */
  finish_done(r); /* the launches the threads have run: RUNNING or FAILED now */
  /* r->n and r->slots are re-read each time round: cb may call runner_start. */
  for (int i = 0; i < r->n; i++) {
    struct slot *s = r->slots[i];
    if (s->state == SLOT_DONE || s->state == SLOT_STARTING) continue;
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
    if (exits < 0) exits = any_exited();
    if (exits && reap(s, &exit_code, &sig)) {
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
  if (r->pool && launchers_done(r->pool)) best = mono_ms(); /* a launch to finish */
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
