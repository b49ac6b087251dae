/* test_runner.c: the agent's process runner against real processes: exit codes, logs, start
 * failures, timeouts with SIGTERM -> SIGKILL escalation, runner_kill, the exact environment,
 * shell jobs, process-group cleanup, memory limit, many concurrent jobs, no zombies or fd leaks.
 * Timings are asserted as ordering and generous bounds only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "runner.h"
#include "util.h"

#define GRACE_MS 300
#define MAX_EVENTS 1024

struct rec {
  enum run_event_kind kind;
  char job_id[64];
  int attempt;
  pid_t pid;
  int exit_code, signal;
  char reason[256];
  char log_path[512];
  int64_t start_ms, end_ms;
};

static struct rec events[MAX_EVENTS];
static int nevents;
static char tmp[256];
static int runner_launchers; /* of the runners the tests make */
static volatile int wakes;   /* runner_conf.wake calls */

static void on_wake(void) { __atomic_add_fetch(&wakes, 1, __ATOMIC_RELAXED); }

static void on_event(void *ctx, const struct run_event *ev) {
  (void)ctx;
  if (nevents == MAX_EVENTS) return;
  struct rec *e = &events[nevents++];
  e->kind = ev->kind;
  snprintf(e->job_id, sizeof e->job_id, "%s", ev->job_id);
  e->attempt = ev->attempt;
  e->pid = ev->pid;
  e->exit_code = ev->exit_code;
  e->signal = ev->signal;
  snprintf(e->reason, sizeof e->reason, "%s", ev->reason);
  snprintf(e->log_path, sizeof e->log_path, "%s", ev->log_path);
  e->start_ms = ev->start_ms;
  e->end_ms = ev->end_ms;
}

static int terminal(enum run_event_kind k) { return k != RUN_STARTED; }

static int find_ev(const char *job_id, int attempt, int want_terminal) {
  for (int i = 0; i < nevents; i++) {
    if (strcmp(events[i].job_id, job_id) == 0 && events[i].attempt == attempt &&
        terminal(events[i].kind) == want_terminal)
      return i;
  }
  return -1;
}

static int count_ev(const char *job_id, int attempt) {
  int n = 0;
  for (int i = 0; i < nevents; i++)
    n += strcmp(events[i].job_id, job_id) == 0 && events[i].attempt == attempt;
  return n;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Polls until job's terminal (done 1) or started (done 0) event arrives (or max_ms); returns its
 * index or -1. */
static int wait_ev(struct runner *r, const char *job_id, int attempt, int done, int max_ms) {
  int64_t until = mono_ms() + max_ms;
  for (;;) {
    runner_poll(r, mono_ms(), on_event, NULL);
    int i = find_ev(job_id, attempt, done);
    if (i >= 0 || mono_ms() > until) return i;
    sleep_ms(5);
  }
}

static int wait_done(struct runner *r, const char *job_id, int attempt, int max_ms) {
  return wait_ev(r, job_id, attempt, 1, max_ms);
}

static int wait_started(struct runner *r, const char *job_id, int attempt, int max_ms) {
  return wait_ev(r, job_id, attempt, 0, max_ms);
}

static int start(struct runner *r, const char *job_id, char **argv, char **envp, int shell,
                 int64_t timeout_ms, int64_t mem_mib) {
  char err[256] = "";
  struct run_spec spec = {.job_id = job_id,
                          .attempt = 1,
                          .argv = argv,
                          .envp = envp,
                          .timeout_ms = timeout_ms,
                          .mem_limit_mib = mem_mib,
                          .use_shell = shell};
  int rc = runner_start(r, &spec, err, sizeof err);
  CHECK(rc == 0, "runner_start %s: %d %s", job_id, rc, err);
  return rc;
}

static char *log_of(const char *job_id) {
  char path[512];
  snprintf(path, sizeof path, "%s/logs/%s/1.log", tmp, job_id);
  char *s = read_file(path, NULL);
  return s ? s : xstrdup("(no log)");
}

static int fd_count(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d))) n += de->d_name[0] != '.';
  closedir(d);
  return n;
}

/* Live (non-zombie) processes whose process group is pgid. */
static int group_alive(pid_t pgid) {
  DIR *d = opendir("/proc");
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *rp = strrchr(buf, ')'); /* comm may hold spaces */
    char state;
    int ppid, pgrp;
    if (rp && sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
        state != 'Z')
      n++;
  }
  closedir(d);
  return n;
}

/* Children of this process not yet reaped (zombies included), whichever thread started them. */
static int my_children(void) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *de;
  int n = 0;
  while (d && (de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char path[300];
    snprintf(path, sizeof path, "/proc/self/task/%s/children", de->d_name);
    char *s = read_file(path, NULL);
    for (char *p = s; p && *p; p++) n += *p == ' ';
    free(s);
  }
  if (d) closedir(d);
  return n;
}

static char *env_path[] = {"PATH=/usr/bin:/bin", NULL};

static void test_exit_codes(struct runner *r) {
  TEST("exit 0: STARTED then EXITED, stdout and stderr in the log");
  char *ok[] = {"sh", "-c", "echo out; echo err >&2", NULL};
  start(r, "job-ok", ok, env_path, 0, 0, 0);
  int i = wait_done(r, "job-ok", 1, 3000);
  int s = find_ev("job-ok", 1, 0);
  CHECK(s >= 0 && i > s, "STARTED (%d) before EXITED (%d)", s, i);
  if (i >= 0) {
    CHECK_INT(events[i].kind, RUN_EXITED);
    CHECK_INT(events[i].exit_code, 0);
    CHECK_INT(events[i].signal, 0);
    CHECK_STR(events[i].reason, "Essential container in task exited");
    CHECK(events[i].pid > 0 && events[i].pid == events[s].pid, "pid %d", (int)events[i].pid);
    CHECK(events[i].end_ms >= events[i].start_ms, "end after start");
    char want[512];
    snprintf(want, sizeof want, "%s/logs/job-ok/1.log", tmp);
    CHECK_STR(events[i].log_path, want);
  }
  CHECK_INT(count_ev("job-ok", 1), 2);
  char *log = log_of("job-ok");
  CHECK(strstr(log, "out\n") && strstr(log, "err\n"), "log: %s", log);
  free(log);

  TEST("exit 3 is reported as exit_code 3");
  char *three[] = {"sh", "-c", "exit 3", NULL};
  start(r, "job-3", three, env_path, 0, 0, 0);
  i = wait_done(r, "job-3", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_EXITED && events[i].exit_code == 3, "exit 3");

  TEST("a job killed by a signal of its own reports 128+signo");
  char *segv[] = {"sh", "-c", "kill -SEGV $$", NULL};
  start(r, "job-segv", segv, env_path, 0, 0, 0);
  i = wait_done(r, "job-segv", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_EXITED && events[i].signal == SIGSEGV &&
            events[i].exit_code == 128 + SIGSEGV,
        "segv: kind %d exit %d", i >= 0 ? (int)events[i].kind : -1,
        i >= 0 ? events[i].exit_code : -1);

  TEST("the same attempt logged twice appends");
  nevents = 0;
  start(r, "job-ok", ok, env_path, 0, 0, 0);
  wait_done(r, "job-ok", 1, 3000);
  log = log_of("job-ok");
  CHECK_STR(log, "out\nerr\nout\nerr\n");
  free(log);
}

static void test_start_failures(struct runner *r) {
  TEST("no such command: FAILED_TO_START with CannotStartContainerError, no STARTED");
  char *nosuch[] = {"no-such-command-xyz", "arg", NULL};
  start(r, "job-nosuch", nosuch, env_path, 0, 0, 0);
  int i = wait_done(r, "job-nosuch", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_FAILED_TO_START, "failed to start");
  if (i >= 0) {
    CHECK_STR(events[i].reason,
              "CannotStartContainerError: No such file or directory (no-such-command-xyz)");
    CHECK_INT(events[i].pid, 0);
    CHECK_INT(events[i].exit_code, -1);
  }
  CHECK_INT(find_ev("job-nosuch", 1, 0), -1);

  TEST("an empty command word: No such file or directory, not the Permission denied of exec'ing a PATH folder");
  char *empty[] = {"", NULL};
  start(r, "job-empty", empty, env_path, 0, 0, 0);
  i = wait_done(r, "job-empty", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_FAILED_TO_START &&
            strcmp(events[i].reason, "CannotStartContainerError: No such file or directory (\"\")") == 0,
        "reason: %s", i >= 0 ? events[i].reason : "-");

  TEST("not executable: Permission denied");
  char plain[300], want_reason[400];
  snprintf(plain, sizeof plain, "%s/plain.txt", tmp);
  CHECK_INT(write_file_atomic(plain, "hi\n", 3), 0);
  chmod(plain, 0644);
  char *noexec[] = {plain, NULL};
  start(r, "job-noexec", noexec, env_path, 0, 0, 0);
  i = wait_done(r, "job-noexec", 1, 3000);
  snprintf(want_reason, sizeof want_reason, "CannotStartContainerError: Permission denied (%s)",
           plain);
  CHECK(i >= 0 && strcmp(events[i].reason, want_reason) == 0, "reason: %s",
        i >= 0 ? events[i].reason : "-");

  TEST("missing work_dir: FAILED_TO_START naming the directory");
  char err[256];
  char *pwd[] = {"pwd", NULL};
  struct run_spec spec = {.job_id = "job-chdir", .attempt = 1, .argv = pwd, .envp = env_path,
                          .work_dir = "/nonexistent-dir"};
  CHECK_INT(runner_start(r, &spec, err, sizeof err), 0);
  i = wait_done(r, "job-chdir", 1, 3000);
  CHECK(i >= 0 && strcmp(events[i].reason, "CannotStartContainerError: chdir /nonexistent-dir: "
                                           "No such file or directory") == 0,
        "reason: %s", i >= 0 ? events[i].reason : "-");

  TEST("work_dir is the job's working directory");
  spec.job_id = "job-pwd";
  spec.work_dir = tmp;
  CHECK_INT(runner_start(r, &spec, err, sizeof err), 0);
  i = wait_done(r, "job-pwd", 1, 3000);
  char *log = log_of("job-pwd"), want[300];
  snprintf(want, sizeof want, "%s\n", tmp);
  CHECK_STR(log, want);
  free(log);

  TEST("unwritable log path: a job that prints is stopped with CannotWriteLogError; a silent one runs");
  spec.job_id = "job-badlog";
  spec.work_dir = NULL;
  spec.log_path = "/proc/no/such.log"; /* the log is made with the first byte (joblog.h) */
  CHECK_INT(runner_start(r, &spec, err, sizeof err), 0);
  i = wait_done(r, "job-badlog", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_KILLED && !strncmp(events[i].reason, REASON_LOG_UNWRITABLE,
                                                            strlen(REASON_LOG_UNWRITABLE)) &&
            strstr(events[i].reason, "cannot be created") && strstr(events[i].reason, "/proc/no"),
        "reason: %s", i >= 0 ? events[i].reason : "-");
  char *silent[] = {"true", NULL};
  struct run_spec quiet = spec;
  quiet.job_id = "job-badlog-quiet";
  quiet.argv = silent;
  CHECK_INT(runner_start(r, &quiet, err, sizeof err), 0);
  i = wait_done(r, "job-badlog-quiet", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_EXITED && events[i].exit_code == 0, "the silent job ran: kind %d",
        i >= 0 ? (int)events[i].kind : -1);

  TEST("refusals: invalid spec, duplicate attempt, over max_jobs");
  char *no_argv[] = {NULL};
  struct run_spec bad = {.job_id = "job-bad", .attempt = 1, .argv = no_argv};
  CHECK_INT(runner_start(r, &bad, err, sizeof err), -EINVAL);
  CHECK_INT(runner_kill(r, "no-such-job", 1, "x"), -ESRCH);
}

static void test_env_shell(struct runner *r) {
  TEST("the environment is exactly the one given (no PATH unless given)");
  char *envargv[] = {"env", NULL};
  char *envp[] = {"AWS_BATCH_JOB_ID=job-env", "AWS_BATCH_JOB_ATTEMPT=1", "FOO=bar baz", NULL};
  start(r, "job-env", envargv, envp, 0, 0, 0);
  int i = wait_done(r, "job-env", 1, 3000);
  CHECK(i >= 0 && events[i].exit_code == 0, "env ran");
  char *log = log_of("job-env");
  CHECK_STR(log, "AWS_BATCH_JOB_ID=job-env\nAWS_BATCH_JOB_ATTEMPT=1\nFOO=bar baz\n");
  free(log);
  char *envp2[] = {"AWS_BATCH_JOB_ID=job-env2", "PATH=/usr/bin:/bin", NULL};
  start(r, "job-env2", envargv, envp2, 0, 0, 0);
  wait_done(r, "job-env2", 1, 3000);
  log = log_of("job-env2");
  CHECK_STR(log, "AWS_BATCH_JOB_ID=job-env2\nPATH=/usr/bin:/bin\n");
  free(log);
  start(r, "job-env3", envargv, NULL, 0, 0, 0);
  wait_done(r, "job-env3", 1, 3000);
  log = log_of("job-env3");
  CHECK_STR(log, "(no log)"); /* it printed nothing: no file (the log comes with the first byte) */
  free(log);

  TEST("argv[0] is looked up on the job's PATH, not the agent's");
  char *onlytmp[] = {"PATH=/nonexistent", NULL};
  char *sh[] = {"sh", "-c", "true", NULL};
  start(r, "job-path", sh, onlytmp, 0, 0, 0);
  i = wait_done(r, "job-path", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_FAILED_TO_START, "sh not on PATH=/nonexistent");

  TEST("shell job: argv joined and run by /bin/sh -c");
  char *shargv[] = {"echo", "a", "&&", "echo", "$((1+2))", NULL};
  start(r, "job-shell", shargv, env_path, 1, 0, 0);
  i = wait_done(r, "job-shell", 1, 3000);
  CHECK(i >= 0 && events[i].exit_code == 0, "shell ran");
  log = log_of("job-shell");
  CHECK_STR(log, "a\n3\n");
  free(log);

  TEST("signal dispositions and mask reset; only fds 0-2 inherited");
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigprocmask(SIG_BLOCK, &block, &old);
  signal(SIGPIPE, SIG_IGN);
  int leak = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
  char *st[] = {"grep -E 'SigBlk|SigIgn' /proc/self/status; ls /proc/self/fd", NULL};
  start(r, "job-sig", st, env_path, 1, 0, 0);
  wait_done(r, "job-sig", 1, 3000);
  close(leak);
  signal(SIGPIPE, SIG_DFL);
  sigprocmask(SIG_SETMASK, &old, NULL);
  log = log_of("job-sig");
  /* ls's own directory handle is fd 3 */
  CHECK_STR(log, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n0\n1\n2\n3\n");
  free(log);

  TEST("memory limit: RLIMIT_DATA of mem_limit_mib, a breach fails the job");
  char *ul[] = {"ulimit -d", NULL};
  start(r, "job-ulimit", ul, env_path, 1, 0, 16);
  wait_done(r, "job-ulimit", 1, 3000);
  log = log_of("job-ulimit");
  CHECK_STR(log, "16384\n");
  free(log);
  char *hog[] = {"x=$(head -c 50000000 /dev/zero | tr '\\0' a); echo ${#x}", NULL};
  start(r, "job-hog", hog, env_path, 1, 0, 16);
  i = wait_done(r, "job-hog", 1, 4000);
  CHECK(i >= 0 && events[i].kind == RUN_EXITED && events[i].exit_code != 0,
        "hog over 16 MiB fails: exit %d", i >= 0 ? events[i].exit_code : -1);
  /* -S: the interpreter itself, without the machine's site packages, whose .pth files (e.g.
   * Debian's python3-ruamel.yaml) can need more than the 4 MiB minimum */
  char *small[] = {"python3", "-S", "-c", "print('py ok')", NULL};
  start(r, "job-py", small, env_path, 0, 0, 4);
  i = wait_done(r, "job-py", 1, 4000);
  log = log_of("job-py");
  if (i >= 0 && events[i].kind == RUN_EXITED) /* python3 may be absent */
    CHECK_STR(log, "py ok\n");
  free(log);
}

/* Timeouts, SIGKILL escalation, runner_kill and group cleanup, run side by side. */
static void test_stopping(struct runner *r) {
  TEST("timeout, escalation, kill and process groups (concurrently)");
  char *sleep30[] = {"sleep", "30", NULL};
  char *trap[] = {"trap '' TERM; sleep 30", NULL};
  char *group[] = {"sleep 30 & sleep 30", NULL};
  char *stubborn[] = {"(trap '' TERM; sleep 30) & exec sleep 30", NULL};
  char *leftover[] = {"sleep 30 & echo bg", NULL};
  start(r, "t-timeout", sleep30, env_path, 0, 200, 0);
  start(r, "t-trap", trap, env_path, 1, 200, 0);
  start(r, "t-kill", sleep30, env_path, 0, 0, 0);
  start(r, "t-group", group, env_path, 1, 0, 0);
  start(r, "t-stubborn", stubborn, env_path, 1, 0, 0);
  start(r, "t-leftover", leftover, env_path, 1, 0, 0);
  int it = find_ev("t-timeout", 1, 0);
  CHECK_INT(it, -1); /* events come only from runner_poll */
  wait_started(r, "t-timeout", 1, 3000);
  it = find_ev("t-timeout", 1, 0);
  int64_t next = runner_next_deadline_ms(r);
  CHECK(it >= 0 && next > 0 && next <= events[it].start_ms + 200, "next deadline %lld",
        (long long)next);

  /* Wait until both sleeps of the group jobs exist, then kill them. */
  wait_started(r, "t-group", 1, 3000);
  wait_started(r, "t-stubborn", 1, 3000);
  pid_t pg_group = events[find_ev("t-group", 1, 0)].pid;
  pid_t pg_stub = events[find_ev("t-stubborn", 1, 0)].pid;
  for (int k = 0; k < 200 && (group_alive(pg_group) < 2 || group_alive(pg_stub) < 2); k++) {
    runner_poll(r, mono_ms(), on_event, NULL); /* keeps the timeouts running meanwhile */
    sleep_ms(5);
  }
  CHECK(group_alive(pg_group) >= 2, "group job has %d processes", group_alive(pg_group));
  CHECK(group_alive(pg_stub) >= 2, "stubborn job has %d processes", group_alive(pg_stub));
  int64_t kill_at = mono_ms();
  CHECK_INT(runner_kill(r, "t-kill", 1, "Terminated by test"), 0);
  CHECK_INT(runner_kill(r, "t-kill", 1, "second kill"), 0);
  CHECK_INT(runner_kill(r, "t-group", 1, "group"), 0);
  CHECK_INT(runner_kill(r, "t-stubborn", 1, "stubborn"), 0);

  int i = wait_done(r, "t-kill", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_KILLED, "killed");
  if (i >= 0) {
    CHECK_STR(events[i].reason, "Terminated by test");
    CHECK_INT(events[i].signal, SIGTERM);
    CHECK_INT(events[i].exit_code, 143);
    CHECK(events[i].end_ms - kill_at < 2000, "killed promptly: %lld ms",
          (long long)(events[i].end_ms - kill_at));
  }
  i = wait_done(r, "t-group", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_KILLED, "group killed");
  i = wait_done(r, "t-stubborn", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_KILLED && events[i].signal == SIGTERM,
        "stubborn leader died on SIGTERM");
  i = wait_done(r, "t-leftover", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_EXITED && events[i].exit_code == 0, "leftover exited");
  pid_t pg_left = i >= 0 ? events[i].pid : 0;
  sleep_ms(50); /* SIGKILL delivery is asynchronous */
  CHECK_INT(group_alive(pg_group), 0);
  CHECK_INT(group_alive(pg_stub), 0);
  CHECK_INT(group_alive(pg_left), 0);

  i = wait_done(r, "t-timeout", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_TIMED_OUT, "timed out");
  if (i >= 0) {
    int64_t took = events[i].end_ms - events[i].start_ms;
    CHECK_STR(events[i].reason, "Job attempt duration exceeded timeout");
    CHECK_INT(events[i].signal, SIGTERM);
    CHECK_INT(events[i].exit_code, 143);
    CHECK(took >= 200 && took < 200 + GRACE_MS + 2000, "timeout took %lld ms", (long long)took);
  }
  i = wait_done(r, "t-trap", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_TIMED_OUT, "trap timed out");
  if (i >= 0) {
    int64_t took = events[i].end_ms - events[i].start_ms;
    CHECK_INT(events[i].signal, SIGKILL);
    CHECK_INT(events[i].exit_code, 137);
    CHECK(took >= 200 + GRACE_MS && took < 200 + GRACE_MS + 2000, "escalation took %lld ms",
          (long long)took);
  }
  CHECK_INT(runner_kill(r, "t-kill", 1, "after"), -ESRCH);
}

static void test_many(struct runner *r) {
  TEST("50 concurrent short jobs, all reaped with their exit codes");
  char ids[50][24];
  for (int k = 0; k < 50; k++) {
    char code[32];
    snprintf(ids[k], sizeof ids[k], "many-%d", k);
    snprintf(code, sizeof code, "exit %d", k % 7);
    char *argv[] = {"sh", "-c", code, NULL};
    start(r, ids[k], argv, env_path, 0, 0, 0);
  }
  CHECK_INT(runner_active(r), 50);
  int64_t until = mono_ms() + 4000;
  while (runner_active(r) > 0 && mono_ms() < until) {
    runner_poll(r, mono_ms(), on_event, NULL);
    sleep_ms(5);
  }
  CHECK_INT(runner_active(r), 0);
  int right = 0;
  for (int k = 0; k < 50; k++) {
    int i = find_ev(ids[k], 1, 1);
    right += i >= 0 && events[i].kind == RUN_EXITED && events[i].exit_code == k % 7 &&
             count_ev(ids[k], 1) == 2;
  }
  CHECK_INT(right, 50);
}

/* A callback that starts the next job of a chain, as the agent's loop may. */
static void chain_cb(void *ctx, const struct run_event *ev) {
  struct runner *r = ctx;
  on_event(NULL, ev);
  if (ev->kind == RUN_EXITED && strncmp(ev->job_id, "chain-", 6) == 0) {
    int k = atoi(ev->job_id + 6);
    if (k < 20) {
      char id[32], *argv[] = {"true", NULL};
      snprintf(id, sizeof id, "chain-%d", k + 1);
      start(r, id, argv, env_path, 0, 0, 0);
    }
  }
}

static void test_callback_reentry(struct runner *r) {
  TEST("the callback may start jobs (20 chained starts from inside runner_poll)");
  char *argv[] = {"true", NULL};
  start(r, "chain-0", argv, env_path, 0, 0, 0);
  int64_t until = mono_ms() + 4000;
  while (find_ev("chain-20", 1, 1) < 0 && mono_ms() < until) {
    runner_poll(r, mono_ms(), chain_cb, r);
    sleep_ms(2);
  }
  int i = find_ev("chain-20", 1, 1);
  CHECK(i >= 0 && events[i].kind == RUN_EXITED, "chain completed");
  CHECK_INT(runner_active(r), 0);
}

static void test_limits_and_free(void) {
  TEST("max_jobs, duplicate attempts, runner_free kills and reaps");
  char err[256];
  char dir[300];
  snprintf(dir, sizeof dir, "%s/logs2", tmp);
  struct runner_conf conf = {.log_dir = dir, .kill_grace_ms = GRACE_MS, .max_jobs = 2, .launchers = runner_launchers};
  struct runner *r = runner_new(&conf, err, sizeof err);
  char *sleep30[] = {"sleep", "30", NULL};
  struct run_spec spec = {.job_id = "a", .attempt = 1, .argv = sleep30, .envp = env_path};
  CHECK_INT(runner_start(r, &spec, err, sizeof err), 0);
  CHECK_INT(runner_start(r, &spec, err, sizeof err), -EEXIST);
  spec.attempt = 2;
  CHECK_INT(runner_start(r, &spec, err, sizeof err), 0);
  spec.job_id = "b";
  CHECK_INT(runner_start(r, &spec, err, sizeof err), -EAGAIN);
  CHECK_INT(runner_active(r), 2);
  nevents = 0;
  for (int64_t until = mono_ms() + 3000; nevents < 2 && mono_ms() < until; sleep_ms(2))
    runner_poll(r, mono_ms(), on_event, NULL);
  CHECK_INT(nevents, 2);
  pid_t p1 = events[0].pid, p2 = events[1].pid;
  runner_free(r);
  CHECK(kill(p1, 0) != 0 && errno == ESRCH, "first job gone");
  CHECK(kill(p2, 0) != 0 && errno == ESRCH, "second job gone");
  runner_free(NULL);
}

/* The agent stopping (SIGTERM: runtime_free) kills its attempts at once: what a job wrote before
 * that, and the loop had not drained yet, is still in its log (it used to be lost with the pipe). */
static void test_free_keeps_output(void) {
  TEST("runner_free: the output written since the last poll reaches the log");
  char err[256], dir[300], path[400];
  snprintf(dir, sizeof dir, "%s/logs5", tmp);
  struct runner_conf conf = {.log_dir = dir, .kill_grace_ms = GRACE_MS, .launchers = runner_launchers};
  struct runner *r = runner_new(&conf, err, sizeof err);
  char *talk[] = {"echo first; sleep 0.2; echo last-words; echo on-stderr >&2; exec sleep 30", NULL};
  nevents = 0;
  start(r, "free-out", talk, env_path, 1, 0, 0);
  CHECK(wait_started(r, "free-out", 1, 3000) >= 0, "started");
  sleep_ms(700); /* no poll meanwhile: the last lines wait in the pipe */
  runner_free(r);
  snprintf(path, sizeof path, "%s/free-out/1.log", dir);
  char *log = read_file(path, NULL);
  CHECK(log && strstr(log, "last-words\n") && strstr(log, "on-stderr\n"), "log: %s", log ? log : "(none)");
  free(log);
  snprintf(path, sizeof path, "%s/free-out/1.log.times", dir);
  char *times = read_file(path, NULL);
  CHECK(times && strstr(times, "27 "), "time index ends with the log's whole size: %s", times ? times : "(none)");
  free(times);
}

static void test_user(void) {
  char err[256] = "";
  struct runner_conf conf = {.log_dir = tmp, .run_as_user = "no-such-user-xyz", .launchers = runner_launchers};
  CHECK(runner_new(&conf, err, sizeof err) == NULL && strstr(err, "unknown user"), "err: %s",
        err);
  struct passwd *pw = getpwnam("nobody");
  if (geteuid() != 0 || !pw) {
    conf.run_as_user = "0";
    CHECK(runner_new(&conf, err, sizeof err) == NULL, "switching needs root");
    return;
  }
  TEST("run_as_user: the job runs as nobody and still writes its log");
  conf.run_as_user = "nobody";
  struct runner *r = runner_new(&conf, err, sizeof err);
  CHECK(r != NULL, "runner_new: %s", err);
  char *id[] = {"id -u; id -g", NULL};
  struct run_spec spec = {.job_id = "job-user", .attempt = 1, .argv = id, .envp = env_path,
                          .use_shell = 1, .log_path = "user.log"};
  CHECK_INT(runner_start(r, &spec, err, sizeof err), 0);
  int i = wait_done(r, "job-user", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_EXITED, "ran");
  char path[300], want[64];
  snprintf(path, sizeof path, "%s/user.log", tmp);
  char *log = read_file(path, NULL);
  snprintf(want, sizeof want, "%d\n%d\n", (int)pw->pw_uid, (int)pw->pw_gid);
  CHECK_STR(log, want);
  free(log);
  runner_free(r);
}

static void test_no_grace(void) {
  TEST("kill_grace_ms 0 (barge agent --kill-grace-ms 0): SIGKILL at once, not after the 30 s default");
  char err[256], dir[300];
  snprintf(dir, sizeof dir, "%s/logs4", tmp);
  struct runner_conf conf = {.log_dir = dir, .kill_grace_ms = 0, .launchers = runner_launchers};
  struct runner *r = runner_new(&conf, err, sizeof err);
  char *stubborn[] = {"trap '' TERM; sleep 30", NULL};
  nevents = 0;
  start(r, "nograce", stubborn, env_path, 1, 0, 0);
  CHECK(wait_started(r, "nograce", 1, 3000) >= 0, "started");
  sleep_ms(100); /* the shell has set its trap */
  CHECK_INT(runner_kill(r, "nograce", 1, "stop"), 0);
  int i = wait_done(r, "nograce", 1, 3000);
  CHECK(i >= 0 && events[i].kind == RUN_KILLED && events[i].signal == SIGKILL, "killed by SIGKILL within 3 s: %d %d",
        i >= 0 ? (int)events[i].kind : -1, i >= 0 ? events[i].signal : -1);
  runner_free(r);
}

/* Launcher threads: attempts killed, or timed out, while they wait to start; a runner freed with
 * starts still queued. */
static void test_launch_kill(void) {
  TEST("launchers: a kill or a timeout before the process exists still ends it, once");
  char err[256], dir[300];
  snprintf(dir, sizeof dir, "%s/logs3", tmp);
  struct runner_conf conf = {.log_dir = dir, .kill_grace_ms = GRACE_MS, .launchers = 1};
  struct runner *r = runner_new(&conf, err, sizeof err);
  char *sleep30[] = {"sleep", "30", NULL};
  char ids[30][24];
  nevents = 0;
  for (int k = 0; k < 30; k++) {
    snprintf(ids[k], sizeof ids[k], "early-%d", k);
    struct run_spec spec = {.job_id = ids[k], .attempt = 1, .argv = sleep30, .envp = env_path,
                            .timeout_ms = k % 3 == 2 ? 1 : 0};
    CHECK_INT(runner_start(r, &spec, err, sizeof err), 0);
    if (k % 3 != 2) CHECK_INT(runner_kill(r, ids[k], 1, "early kill"), 0);
  }
  CHECK_INT(runner_active(r), 30);
  for (int64_t until = mono_ms() + 6000; runner_active(r) > 0 && mono_ms() < until; sleep_ms(2))
    runner_poll(r, mono_ms(), on_event, NULL);
  CHECK_INT(runner_active(r), 0);
  int right = 0;
  for (int k = 0; k < 30; k++) {
    int s = find_ev(ids[k], 1, 0), i = find_ev(ids[k], 1, 1);
    enum run_event_kind want = k % 3 == 2 ? RUN_TIMED_OUT : RUN_KILLED;
    right += s >= 0 && i > s && count_ev(ids[k], 1) == 2 && events[i].kind == want &&
             events[i].signal == SIGTERM && (want != RUN_KILLED || !strcmp(events[i].reason, "early kill"));
  }
  CHECK_INT(right, 30);
  runner_free(r);

  TEST("launchers: runner_free with starts still queued leaves no process and no descriptor");
  int fds = fd_count();
  r = runner_new(&conf, err, sizeof err);
  for (int k = 0; k < 30; k++) {
    struct run_spec spec = {.job_id = ids[k], .attempt = 2, .argv = sleep30, .envp = env_path};
    CHECK_INT(runner_start(r, &spec, err, sizeof err), 0);
  }
  runner_free(r);
  CHECK_INT(my_children(), 0);
  CHECK_INT(fd_count(), fds);
}

/* Every test above with a runner of `launchers` threads (0: runner_start starts the process
 * itself; else the launcher threads do, and runner_poll reports it). */
static void run_all(int launchers) {
  printf("---- with %d launcher thread(s)\n", launchers);
  snprintf(tmp, sizeof tmp, "/tmp/barge-runner-XXXXXX");
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    exit(1);
  }
  nevents = 0;
  runner_launchers = launchers;
  char err[256] = "", logs[300];
  snprintf(logs, sizeof logs, "%s/logs", tmp);
  struct runner_conf conf = {.log_dir = logs, .kill_grace_ms = GRACE_MS, .launchers = launchers, .wake = on_wake};
  struct runner *r = runner_new(&conf, err, sizeof err);
  CHECK(r != NULL, "runner_new: %s", err);

  test_exit_codes(r);
  test_start_failures(r);
  test_env_shell(r);
  test_stopping(r);
  test_many(r);
  test_callback_reentry(r);
  CHECK_INT(runner_active(r), 0);
  CHECK_INT(runner_next_deadline_ms(r), -1);
  runner_free(r);
  test_limits_and_free();
  test_no_grace();
  test_free_keeps_output();
  test_user();
  if (launchers) test_launch_kill();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
}

int main(void) {
  setenv("BARGE_LOG", "warn", 1);
  int64_t t0 = mono_ms();
  int fds_before = fd_count();
  run_all(0);
  run_all(4);
  TEST("launcher threads wake the caller");
  CHECK(wakes > 0, "%d wakes", (int)wakes);

  TEST("no zombies, no leaked descriptors");
  CHECK_INT(my_children(), 0);
  CHECK_INT(fd_count(), fds_before);
  printf("took %lld ms\n", (long long)(mono_ms() - t0));
  return check_summary();
}
