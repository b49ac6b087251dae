/* runtime_engine.c: the container runtime (runtime.h) over the Docker Engine REST API on the
 * engine's unix socket, with libcurl. Docker serves the API itself; podman serves it with
 * `podman system service`, which the agent starts on its own socket when given none (with
 * `--runtime runc --cgroup-manager cgroupfs` on a cgroup v1 host, where crun refuses).
 *
 * One worker thread per attempt carries it through the engine:
 *
 *   create (404: CannotPullContainerError) -> attach -> start -> output (the attach stream,
 *   copied into the attempt's log pipe until the container ends) and wait (the exit code),
 *   side by side -> inspect (OOMKilled) -> remove
 *
 * The output is taken from the attach stream, opened before the start, not from the engine's
 * followed log stream: podman 4 reads that back from its log file and loses parts of a fast
 * writer's output (400,000 lines written at once arrived as about 40,000). An engine that
 * refuses the attach still gets the followed log stream, as before.
 * The wait runs on a thread of its own beside the output: podman's streams do not always end
 * when a short-lived container exits, so once the wait has returned, the followed log stream is
 * given FOLLOW_DRAIN_MS to deliver the rest, and the attach stream as long once nothing comes.
 *
 * The agent's thread drains each attempt's log pipe into its log as the process runtime does
 * (joblog.h: the --max-log-mib limit, the time index, and a log that cannot be written stops
 * the attempt with CannotWriteLogError), reads the workers' progress (under the slot's lock)
 * and sends kills:
 * a timeout or runtime_kill is SIGTERM to the container (all of it: the engine signals its
 * init, and the container's processes die with it), SIGKILL after the grace. Containers are
 * named barge-<job>-<attempt> and labelled barge.instance=<instance id>, so a new incarnation
 * of the agent removes what an earlier one left (engine_sweep). */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine_api.h"
#include "joblog.h"
#include "jsonget.h"
#include "runtime.h"

enum eslot_phase { PH_STARTING, PH_RUNNING, PH_DONE };

struct eslot {
  pthread_t th;
  int has_thread;
  int watch_oom;   /* the attempt has a memory limit */
  _Atomic int freeing; /* the runtime is being freed (the agent stops): start nothing, kill it */
  pthread_mutex_t mu;
  struct engine *eng;
  char *job_id, *log_path, *name;
  int attempt;
  struct joblog log; /* the agent's thread drains the pipe the worker writes (wfd) */
  int wfd;           /* the log pipe's write end, the worker's; -1 once closed */
  json_t *create; /* the create body, owned by the worker */
  /* written by the worker under mu */
  enum eslot_phase phase;
  int started;     /* the container started */
  int exit_code;   /* -1 unknown */
  int oom;
  char *fail;      /* a start failure's reason */
  /* the agent's thread */
  int started_reported;
  int cause;       /* 0 none, 1 timeout, 2 kill */
  char *kill_reason;
  int64_t start_ms, deadline_ms;
  int64_t term_ms;      /* when the SIGTERM was asked for (the grace counts from it); -1 = not yet */
  int term_pending;     /* the SIGTERM is to be sent, or did not reach the engine: sent (again) */
  int64_t resignal_ms;  /* when a signal the engine missed is sent again (once a second) */
  /* the signal in flight: sent by a thread of its own (signal_start), since the engine may take
   * up to engine_call's 120 s to answer and the loop must go on heartbeating meanwhile */
  pthread_t sig_th;
  int sig_busy;         /* the agent's thread: sig_th runs or is to be joined */
  const char *sig;      /* "SIGTERM" or "SIGKILL", set before sig_th starts */
  int64_t sig_ms;       /* when it was sent */
  int sig_result;       /* sig_th's, under mu: 0 running, 1 the engine answered, -1 it did not */
  int64_t timeout_ms; /* the attempt's timeout, counted from its container's start; 0 = none */
  int sigkilled;
  /* the wait thread's: the exit code, and when the wait returned (0 = not yet) */
  int wait_code;
  _Atomic int64_t waited_ms;
};

struct engine {
  struct engine_api api;
  char kind[16];
  char *instance_id;
  int64_t kill_grace_ms;
  int64_t max_log_bytes; /* joblog_start's */
  int max_jobs;
  pid_t service_pid; /* the podman service the agent started, or 0 */
  struct engine_limits lim;
  char *state_dir;          /* where the podman service the agent runs keeps its socket and log */
  int own_service;          /* the agent runs the engine (podman without --engine-socket) */
  int64_t service_check_ms; /* when epoll_ next looks whether that service is alive */
  struct eslot **slots;
  int n, cap;
};

/* ---- the engine service ---- */

/* Starts `podman system service` on state_dir/podman.sock (e->service_pid), without waiting. */
static int spawn_podman_service(struct engine *e, char *err, size_t errlen) {
  const char *state_dir = e->state_dir;
  if (!e->api.socket[0]) /* set once: the workers read it */
    snprintf(e->api.socket, sizeof e->api.socket, "%.3000s/podman.sock", state_dir ? state_dir : "/tmp");
  unlink(e->api.socket);
  char uri[4200], logp[3100];
  snprintf(uri, sizeof uri, "unix://%s", e->api.socket);
  snprintf(logp, sizeof logp, "%.3000s/podman-service.log", state_dir ? state_dir : "/tmp");
  struct stat st;
  int v1 = stat("/sys/fs/cgroup/cgroup.controllers", &st) != 0; /* v1 or hybrid */
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, errlen, "fork: %s", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int nul = open("/dev/null", O_RDONLY);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    if (nul >= 0) dup2(nul, 0);
    setpgid(0, 0);
    /* conmon, the service's container monitor, writes a file "oom" into its working directory
     * when a container is OOM-killed: into the state folder, not wherever the agent started */
    if (chdir(state_dir ? state_dir : "/tmp") != 0 && chdir("/") != 0) _exit(127);
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* the service ends with its agent, even a SIGKILLed one */
    if (getppid() != parent) _exit(0); /* the agent is already gone */
    if (v1)
      execlp("podman", "podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "system", "service",
             "--time=0", uri, (char *)NULL);
    else
      execlp("podman", "podman", "system", "service", "--time=0", uri, (char *)NULL);
    _exit(127);
  }
  e->service_pid = pid;
  return 0;
}

/* Starts `podman system service` on state_dir/podman.sock and waits until it answers. */
static int start_podman_service(struct engine *e, char *err, size_t errlen) {
  char logp[3100];
  snprintf(logp, sizeof logp, "%.3000s/podman-service.log", e->state_dir ? e->state_dir : "/tmp");
  if (spawn_podman_service(e, err, errlen)) return -1;
  pid_t pid = e->service_pid;
  for (int i = 0; i < 300; i++) { /* 30 s */
    if (runtime_engine_ping(e->api.socket)) {
      log_info("podman runtime: `podman system service` (pid %d) on %s", (int)pid, e->api.socket);
      return 0;
    }
    if (waitpid(pid, NULL, WNOHANG) == pid) {
      e->service_pid = 0;
      snprintf(err, errlen, "podman system service exited at once (see %s)", logp);
      return -1;
    }
    usleep(100000);
  }
  snprintf(err, errlen, "podman system service did not answer on %s within 30 s (see %s)", e->api.socket, logp);
  return -1;
}

/* Removes the containers of this instance left by an earlier incarnation of the agent. */
static void engine_sweep(struct engine *e) {
  char path[512];
  struct buf q;
  buf_init(&q);
  buf_printf(&q, "{\"label\":[\"barge.instance=%s\"]}", e->instance_id);
  char *fq = curl_easy_escape(NULL, (char *)q.data, (int)q.len);
  snprintf(path, sizeof path, "/containers/json?all=1&filters=%s", fq);
  curl_free(fq);
  buf_release(&q);
  json_t *list = NULL;
  char err[256];
  if (engine_call(&e->api, NULL, "GET", path, NULL, &list, err, sizeof err) != 200) {
    json_decref(list);
    return;
  }
  size_t i;
  json_t *c;
  int n = 0;
  json_array_foreach(list, i, c) {
    const char *id = jget_str(c, "Id");
    if (!id) continue;
    snprintf(path, sizeof path, "/containers/%.80s?force=1&v=1", id);
    if (engine_call(&e->api, NULL, "DELETE", path, NULL, NULL, err, sizeof err) < 300) n++;
  }
  if (n) log_warn("removed %d container(s) left by an earlier incarnation of this agent", n);
  json_decref(list);
}

/* The pid of the process listening on the engine's socket (its credentials as the kernel keeps
 * them for a connection, SO_PEERCRED), or 0 when unknown (in another pid namespace, say). */
static int socket_peer_pid(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) return 0;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), pid = 0;
  if (fd < 0) return 0;
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
    pid = (int)cred.pid;
  close(fd);
  return pid;
}

void *runtime_engine_new(const struct runtime_conf *conf, const char *kind, char *err, size_t errlen) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  struct engine *e = xcalloc(1, sizeof *e);
  snprintf(e->kind, sizeof e->kind, "%s", kind);
  e->instance_id = xstrdup(conf->instance_id ? conf->instance_id : "agent");
  e->kill_grace_ms = conf->runner.kill_grace_ms >= 0 ? conf->runner.kill_grace_ms : RUNNER_DEFAULT_KILL_GRACE_MS;
  e->max_jobs = conf->runner.max_jobs > 0 ? conf->runner.max_jobs : RUNNER_DEFAULT_MAX_JOBS;
  e->max_log_bytes = conf->runner.max_log_bytes;
  if (conf->engine_socket) {
    snprintf(e->api.socket, sizeof e->api.socket, "%s", conf->engine_socket);
  } else if (!strcmp(kind, "docker")) {
    snprintf(e->api.socket, sizeof e->api.socket, "/var/run/docker.sock");
  } else {
    e->state_dir = conf->state_dir ? xstrdup(conf->state_dir) : NULL;
    e->own_service = 1;
    if (start_podman_service(e, err, errlen)) {
      runtime_engine_ops.free(e);
      return NULL;
    }
  }
  if (!runtime_engine_ping(e->api.socket)) {
    snprintf(err, errlen, "the %s engine does not answer on %s", kind, e->api.socket);
    runtime_engine_ops.free(e);
    return NULL;
  }
  /* the engine's own limits, not the agent's: podman lowers its nproc (32768 where the agent has
   * 96367), and an engine started by the operator (--engine-socket) has its own */
  engine_limits_of(e->service_pid > 0 ? e->service_pid : socket_peer_pid(e->api.socket), &e->lim);
  engine_sweep(e);
  log_info("%s runtime: Docker Engine API on %s", kind, e->api.socket);
  return e;
}

/* ---- OOM kills ----
 * An engine reports them in State.OOMKilled, but podman with runc on a cgroup v1 host does not
 * (conmon misses the event). So the worker also watches the container's memory cgroup itself, as
 * docker does on v1: an eventfd registered on memory.oom_control through cgroup.event_control is
 * signalled when the group goes out of memory, and stays readable after the group is removed.
 * The kernel signals it once more when the group is removed (podman's cleanup of an exited
 * container), so with the group gone one signal is that removal's: before, every container that
 * ended with 137 after its group was removed (a job's own `exit 137`, a `podman kill`) was
 * reported as out of memory.
 * It is registered right after the start (the container's pid names its group), so an attempt
 * that runs out of memory within the first milliseconds may go unseen: it then ends with 137
 * and the ordinary reason. */

static int oom_watch(struct eslot *s, CURL *h, char *dir, size_t dirlen) {
  char path[700], err[256];
  snprintf(path, sizeof path, "/containers/%s/json", s->name);
  json_t *resp = NULL;
  long long pid = 0;
  if (engine_call(&s->eng->api, h, "GET", path, NULL, &resp, err, sizeof err) == 200)
    pid = jget_int(json_object_get(resp, "State"), "Pid", 0);
  json_decref(resp);
  if (pid <= 0) return -1;
  char cgfile[64];
  *dir = 0;
  snprintf(cgfile, sizeof cgfile, "/proc/%lld/cgroup", pid);
  char *t = read_file(cgfile, NULL);
  for (char *l = t; l && *l;) {
    char *nl = strchr(l, '\n');
    if (nl) *nl = 0;
    char *m = strstr(l, ":memory:");
    if (m) snprintf(dir, dirlen, "/sys/fs/cgroup/memory%.4000s", m + 8);
    l = nl ? nl + 1 : NULL;
  }
  free(t);
  if (!*dir) return -1; /* cgroup v2: the engine's OOMKilled is the word */
  char f[4200];
  snprintf(f, sizeof f, "%s/memory.oom_control", dir);
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), ofd = open(f, O_RDONLY | O_CLOEXEC);
  snprintf(f, sizeof f, "%s/cgroup.event_control", dir);
  int cfd = open(f, O_WRONLY | O_CLOEXEC);
  int ok = 0;
  if (efd >= 0 && ofd >= 0 && cfd >= 0) {
    char line[64];
    int n = snprintf(line, sizeof line, "%d %d", efd, ofd);
    ok = write(cfd, line, (size_t)n) == n;
  }
  if (ofd >= 0) close(ofd);
  if (cfd >= 0) close(cfd);
  if (!ok && efd >= 0) {
    close(efd);
    efd = -1;
  }
  return efd;
}

/* 1 if the eventfd was signalled for an OOM in the group (its folder dir); closes it. With the
 * folder gone, one signal is the removal's: that one comes a moment after the folder goes (the
 * kernel's workqueue), so a single signal is given up to 200 ms for the removal's to follow. */
static int oom_seen(int efd, const char *dir) {
  if (efd < 0) return 0;
  uint64_t v = 0, w = 0;
  if (read(efd, &v, sizeof v) != (ssize_t)sizeof v) v = 0;
  struct stat st;
  int gone = stat(dir, &st) != 0;
  if (gone && v == 1) {
    struct pollfd pfd = {.fd = efd, .events = POLLIN};
    if (poll(&pfd, 1, 200) == 1 && read(efd, &w, sizeof w) == (ssize_t)sizeof w) v += w;
  }
  close(efd);
  return gone ? v >= 2 : v >= 1;
}

/* ---- the worker ---- */

static void slot_set_fail(struct eslot *s, const char *fmt, const char *a, const char *b) {
  char buf[1024];
  snprintf(buf, sizeof buf, fmt, a, b);
  pthread_mutex_lock(&s->mu);
  free(s->fail);
  s->fail = xstrdup(buf);
  pthread_mutex_unlock(&s->mu);
}

static int killed_early(struct eslot *s) {
  pthread_mutex_lock(&s->mu);
  int c = s->cause;
  pthread_mutex_unlock(&s->mu);
  return c || s->freeing;
}

/* How long a worker waits for the engine to answer again: the podman service the agent runs
 * (keep_service starts it again within a second of its end; it answers about a second later), or
 * one the operator runs (--engine-socket: restarted by its supervisor, say). */
#define ENGINE_BACK_MS 30000

/* 1 once the engine answers again within ENGINE_BACK_MS, 0 if not, or if the attempt was stopped
 * meanwhile (before its start: nothing to wait for), or the agent stops. A started container
 * that was stopped is waited for: the stop's signal reaches it once the engine is back, and it
 * is removed then (it used to be left running, the attempt reported over). */
static int engine_back(struct eslot *s, int before_start) {
  for (int64_t until = mono_ms() + ENGINE_BACK_MS; mono_ms() < until && !(before_start ? killed_early(s) : s->freeing);) {
    if (runtime_engine_ping(s->eng->api.socket)) return 1;
    usleep(200000);
  }
  return 0;
}

/* create; a short image name missing is retried as localhost/<name> (podman's imported images). */
static int worker_create(struct eslot *s, CURL *h, char *err, size_t errlen) {
  char path[700];
  snprintf(path, sizeof path, "/containers/create?name=%s", s->name);
  json_t *resp = NULL;
  int st = engine_call(&s->eng->api, h, "POST", path, s->create, &resp, err, errlen);
  if (st < 0 && engine_back(s, 1)) { /* the engine is being started again */
    json_decref(resp);
    resp = NULL;
    st = engine_call(&s->eng->api, h, "POST", path, s->create, &resp, err, errlen);
  }
  /* a copy: replacing "Image" below frees the string jget_str points to */
  char img[300];
  snprintf(img, sizeof img, "%s", jget_str(s->create, "Image") ? jget_str(s->create, "Image") : "");
  if (st == 404 && *img && !strchr(img, '/')) {
    json_decref(resp);
    resp = NULL;
    char full[320];
    snprintf(full, sizeof full, "localhost/%s", img);
    json_object_set_new(s->create, "Image", json_string(full));
    st = engine_call(&s->eng->api, h, "POST", path, s->create, &resp, err, errlen);
    json_object_set_new(s->create, "Image", json_string(img));
  }
  if (st == 409) { /* a container of this name is left over (an agent restart): replace it */
    char del[700];
    snprintf(del, sizeof del, "/containers/%s?force=1&v=1", s->name);
    json_decref(resp);
    resp = NULL;
    int unused = engine_call(&s->eng->api, h, "DELETE", del, NULL, NULL, err, errlen);
    (void)unused;
    st = engine_call(&s->eng->api, h, "POST", path, s->create, &resp, err, errlen);
  }
  const char *msg = jget_str(resp, "message");
  /* an image the engine does not hold, or a name that is no image reference at all (podman
   * answers 500 "invalid reference format", docker 400), is the image's fault: ECS reports both
   * as CannotPullContainerError, which retry rules match (docs/job-model.md §2.4) */
  if (st == 404 || (st >= 400 && msg && strstr(msg, "invalid reference format"))) {
    slot_set_fail(s, RUNTIME_REASON_PULL "%s: %s", img, msg ? msg : "no such image");
  } else if (st < 200 || st >= 300) {
    slot_set_fail(s, "CannotCreateContainerError: %s%s", msg ? msg : err, "");
  }
  json_decref(resp);
  return st >= 200 && st < 300 ? 0 : -1;
}

/* The end of the log pipe: the agent's thread then reads to its end. */
static void close_wfd(struct eslot *s) {
  if (s->wfd >= 0) close(s->wfd);
  s->wfd = -1;
}

/* How long the followed log stream may go on after the container's wait has returned. */
#define FOLLOW_DRAIN_MS 2000

/* POST /wait: the container's exit code, or -1 when the engine did not answer (err says why). */
static int wait_exit(struct eslot *s, CURL *h, char *err, size_t errlen) {
  char path[700];
  snprintf(path, sizeof path, "/containers/%s/wait", s->name);
  json_t *resp = NULL;
  int code = engine_call(&s->eng->api, h, "POST", path, NULL, &resp, err, errlen) == 200
                 ? (int)jget_int(resp, "StatusCode", -1) : -1;
  json_decref(resp);
  return code;
}

static void *waiter(void *arg) {
  struct eslot *s = arg;
  CURL *h = curl_easy_init();
  char err[512] = "";
  s->wait_code = wait_exit(s, h, err, sizeof err);
  curl_easy_cleanup(h);
  /* only a wait that answered says the container ended: after a failed one the stream is
   * followed to its end, and the worker asks again */
  if (s->wait_code >= 0) s->waited_ms = mono_ms();
  else log_warn("%s attempt %d: waiting for container %s: %s", s->job_id, s->attempt, s->name, err);
  return NULL;
}

/* engine_follow_logs' give_up: the wait returned more than FOLLOW_DRAIN_MS ago. */
static int drained(void *ud) {
  const struct eslot *s = ud;
  int64_t w = s->waited_ms;
  return w && mono_ms() - w > FOLLOW_DRAIN_MS;
}

/* The attach stream (engine_attach), on a thread of its own: opened before the start, so that
 * the container's output reaches the attempt's log whole (podman's followed log stream, read
 * back from its log file, loses parts of a fast writer's output). */
struct attacher {
  struct eslot *s;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int state;         /* 0 not known yet, 1 attached, -1 refused or unreachable */
  _Atomic int stop;  /* the worker gives the stream up (the start failed, the attach was late) */
  int gave_up;       /* the stream went on after the container ended: closed */
};

static void attach_connected(void *ud, int ok) {
  struct attacher *a = ud;
  pthread_mutex_lock(&a->mu);
  a->state = ok ? 1 : -1;
  pthread_cond_signal(&a->cv);
  pthread_mutex_unlock(&a->mu);
}

/* engine_attach's give_up: told to stop, or the wait returned more than FOLLOW_DRAIN_MS ago and
 * nothing has come for as long (what the container wrote last is still delivered). */
static int attach_give_up(void *ud, int64_t idle_ms) {
  struct attacher *a = ud;
  if (a->stop) return 1;
  int64_t w = a->s->waited_ms;
  return w && mono_ms() - w > FOLLOW_DRAIN_MS && idle_ms > FOLLOW_DRAIN_MS;
}

static void *attach_thread(void *arg) {
  struct attacher *a = arg;
  CURL *h = curl_easy_init();
  if (h) a->gave_up = engine_attach(&a->s->eng->api, h, a->s->name, a->s->wfd, attach_connected, attach_give_up, a) && !a->stop;
  else attach_connected(a, 0);
  curl_easy_cleanup(h);
  return NULL;
}

/* How long the worker waits for the engine to accept the attach before it starts the container
 * without it (the followed log stream then carries the output). */
#define ATTACH_WAIT_MS 10000

/* Starts the attach thread and waits until the engine has accepted or refused it. 1 attached
 * (join a->th later), else 0 (nothing left running). */
static int attach_start(struct attacher *a, struct eslot *s) {
  memset(a, 0, sizeof *a);
  a->s = s;
  pthread_mutex_init(&a->mu, NULL);
  pthread_cond_init(&a->cv, NULL);
  if (pthread_create(&a->th, NULL, attach_thread, a) != 0) return 0;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ATTACH_WAIT_MS / 1000;
  pthread_mutex_lock(&a->mu);
  while (a->state == 0 && pthread_cond_timedwait(&a->cv, &a->mu, &until) == 0) {
  }
  int ok = a->state == 1;
  pthread_mutex_unlock(&a->mu);
  if (!ok) {
    a->stop = 1;
    pthread_join(a->th, NULL);
    log_warn("%s attempt %d: attaching to container %s failed; its output comes from the engine's log stream",
             s->job_id, s->attempt, s->name);
  }
  return ok;
}

static int signal_container(struct engine *e, struct eslot *s, const char *sig);

static void *worker(void *arg) {
  struct eslot *s = arg;
  /* a write to the log pipe whose reader is gone (the agent stopping) fails with EPIPE rather
   * than raising SIGPIPE, which would end the agent */
  sigset_t pipe_sig;
  sigemptyset(&pipe_sig);
  sigaddset(&pipe_sig, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
  CURL *h = curl_easy_init();
  char err[512], path[700];
  int exit_code = -1, oom = 0, created = 0;
  if (worker_create(s, h, err, sizeof err)) goto done;
  created = 1;
  if (killed_early(s)) goto done; /* stopped before it started */
  struct attacher att;
  int attached = attach_start(&att, s);
  snprintf(path, sizeof path, "/containers/%s/start", s->name);
  json_t *resp = NULL;
  int st = engine_call(&s->eng->api, h, "POST", path, NULL, &resp, err, sizeof err);
  if (st < 200 || st >= 300) {
    const char *m = jget_str(resp, "message");
    slot_set_fail(s, "CannotStartContainerError: %s%s", m ? m : err, "");
    json_decref(resp);
    if (attached) {
      att.stop = 1;
      pthread_join(att.th, NULL);
    }
    goto done;
  }
  json_decref(resp);
  pthread_mutex_lock(&s->mu);
  s->started = 1;
  s->phase = PH_RUNNING;
  pthread_mutex_unlock(&s->mu);
  /* efree's SIGKILL came while the engine was starting it (refused: not running yet) */
  if (s->freeing) signal_container(s->eng, s, "SIGKILL");
  char oom_dir[4096];
  int oom_fd = s->watch_oom ? oom_watch(s, h, oom_dir, sizeof oom_dir) : -1;
  pthread_t wth;
  int has_waiter = pthread_create(&wth, NULL, waiter, s) == 0;
  if (attached) {
    pthread_join(att.th, NULL);
    if (att.gave_up)
      log_info("%s attempt %d: the attach stream of %s went on after the container ended; closed once idle %d ms",
               s->job_id, s->attempt, s->name, FOLLOW_DRAIN_MS);
  } else if (engine_follow_logs(&s->eng->api, h, s->name, s->wfd, has_waiter ? drained : NULL, s))
    log_info("%s attempt %d: the engine's log stream of %s went on after the container ended; closed %d ms after",
             s->job_id, s->attempt, s->name, FOLLOW_DRAIN_MS);
  close_wfd(s);
  if (has_waiter) {
    pthread_join(wth, NULL);
    exit_code = s->wait_code;
  }
  if (exit_code < 0) exit_code = wait_exit(s, h, err, sizeof err); /* no waiter, or its wait failed */
  if (exit_code < 0 && !runtime_engine_ping(s->eng->api.socket) && engine_back(s, 0))
    exit_code = wait_exit(s, h, err, sizeof err); /* the engine ended meanwhile: ask its successor */
  snprintf(path, sizeof path, "/containers/%s/json", s->name);
  resp = NULL;
  int inspected = engine_call(&s->eng->api, h, "GET", path, NULL, &resp, err, sizeof err);
  if (inspected == 200) {
    json_t *state = json_object_get(resp, "State");
    oom = json_is_true(json_object_get(state, "OOMKilled"));
    if (exit_code < 0) exit_code = (int)jget_int(state, "ExitCode", -1);
  } else if (inspected == 404) {
    /* removed by someone else while it ran (podman rm -f): podman's wait then answers 0, which
     * made a killed job SUCCEEDED; its exit code is unknown (the attempt FAILS without one) */
    log_warn("%s attempt %d: container %s was removed while it ran; its exit code is unknown", s->job_id, s->attempt,
             s->name);
    exit_code = -1;
    created = 0;
  }
  json_decref(resp);
  oom |= exit_code == 137 && oom_seen(oom_fd, oom_dir);
  if (exit_code != 137 && oom_fd >= 0) close(oom_fd);
done:
  close_wfd(s);
  if (created) {
    snprintf(path, sizeof path, "/containers/%s?force=1&v=1", s->name);
    if (engine_call(&s->eng->api, h, "DELETE", path, NULL, NULL, err, sizeof err) >= 300)
      log_warn("%s attempt %d: removing container %s: %s", s->job_id, s->attempt, s->name, err);
  }
  curl_easy_cleanup(h);
  pthread_mutex_lock(&s->mu);
  s->exit_code = exit_code;
  s->oom = oom;
  s->phase = PH_DONE;
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* ---- the runtime ---- */

static struct eslot *find(struct engine *e, const char *job_id, int attempt) {
  for (int i = 0; i < e->n; i++)
    if (e->slots[i]->attempt == attempt && !strcmp(e->slots[i]->job_id, job_id)) return e->slots[i];
  return NULL;
}

/* The pipe the attempt's worker fills (wfd) and the log drains; the log file itself comes with
 * the first output (joblog.h). 0, or -1 with s->fail set. */
static int open_log(struct engine *e, struct eslot *s) {
  int fds[2] = {-1, -1};
  if (pipe2(fds, O_CLOEXEC) != 0) {
    char msg[1024];
    snprintf(msg, sizeof msg, "CannotStartContainerError: the log's pipe: %s", strerror(errno));
    s->fail = xstrdup(msg);
    return -1;
  }
  fcntl(fds[0], F_SETPIPE_SZ, 1 << 20); /* a chatty container waits less between two drains */
  joblog_start(&s->log, fds[0], -1, e->max_log_bytes);
  s->wfd = fds[1];
  return 0;
}

static int estart(void *impl, const struct rt_spec *spec, char *err, size_t errlen) {
  struct engine *e = impl;
  if (!spec->run.job_id || !*spec->run.job_id || !spec->run.log_path) {
    snprintf(err, errlen, "invalid run spec: job_id and log_path are required");
    return -EINVAL;
  }
  if (find(e, spec->run.job_id, spec->run.attempt)) {
    snprintf(err, errlen, "job %s attempt %d is already running", spec->run.job_id, spec->run.attempt);
    return -EEXIST;
  }
  if (e->n >= e->max_jobs) {
    snprintf(err, errlen, "this agent runs its --max-jobs %d attempts already", e->max_jobs);
    return -EAGAIN;
  }
  struct eslot *s = xcalloc(1, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  s->eng = e;
  s->job_id = xstrdup(spec->run.job_id);
  s->attempt = spec->run.attempt;
  s->log_path = xstrdup(spec->run.log_path);
  s->wfd = -1;
  joblog_init(&s->log, s->job_id, s->attempt, s->log_path);
  s->exit_code = -1;
  s->watch_oom = spec->mem_mib > 0;
  s->start_ms = mono_ms();
  s->timeout_ms = spec->run.timeout_ms > 0 ? spec->run.timeout_ms : 0;
  s->deadline_ms = -1; /* set once the container has started */
  s->term_ms = -1;
  struct buf b;
  buf_init(&b);
  buf_printf(&b, "barge-");
  for (const char *c = s->job_id; *c; c++) /* names: [a-zA-Z0-9][a-zA-Z0-9_.-]* */
    buf_append(&b, (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ? c : "_", 1);
  buf_printf(&b, "-%d", s->attempt);
  s->name = (char *)b.data;
  char why[512] = "";
  s->create = engine_create_body(spec, e->instance_id, &e->lim, why, sizeof why);
  if (!s->create) {
    s->fail = xstrdup(why);
    s->phase = PH_DONE;
  } else if (open_log(e, s)) {
    json_decref(s->create);
    s->create = NULL;
    s->phase = PH_DONE;
  }
  if (e->n == e->cap) {
    e->cap = e->cap ? e->cap * 2 : 16;
    e->slots = xrealloc(e->slots, sizeof *e->slots * (size_t)e->cap);
  }
  e->slots[e->n++] = s;
  if (s->create && pthread_create(&s->th, NULL, worker, s) == 0) {
    s->has_thread = 1;
  } else if (s->create) {
    s->fail = xstrdup("CannotStartContainerError: no thread for the attempt");
    s->phase = PH_DONE;
    json_decref(s->create);
    s->create = NULL;
    close_wfd(s);
  }
  return 0;
}

/* 1 when the engine answered (it took the signal, or the container is gone or not running), 0
 * when it did not (being restarted, say): the caller sends it again later. */
static int signal_container(struct engine *e, struct eslot *s, const char *sig) {
  char path[700], err[256];
  snprintf(path, sizeof path, "/containers/%s/kill?signal=%s", s->name, sig);
  int st = engine_call(&e->api, NULL, "POST", path, NULL, NULL, err, sizeof err);
  if (st >= 300 && st != 404 && st != 409)
    log_warn("%s attempt %d: %s to container %s: HTTP %d %s", s->job_id, s->attempt, sig, s->name, st, err);
  return st >= 0;
}

static void *signal_thread(void *arg) {
  struct eslot *s = arg;
  int answered = signal_container(s->eng, s, s->sig);
  pthread_mutex_lock(&s->mu);
  s->sig_result = answered ? 1 : -1;
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* What a signal's answer means: SIGKILL taken, the grace is over; SIGTERM taken, nothing more
 * until the grace ends; not answered (the engine being restarted, or hung), sent again a second
 * after it was sent. */
static void signal_done(struct eslot *s, int answered) {
  if (!answered) {
    s->resignal_ms = s->sig_ms + 1000;
    return;
  }
  if (!strcmp(s->sig, "SIGKILL")) s->sigkilled = 1;
  else s->term_pending = 0;
}

/* Sends sig to s's container from a thread of its own, so that an engine slow to answer (up to
 * engine_call's 120 s) never holds the agent's loop, its heartbeats and its fence
 * (docs/containers.md, "Stopping"); the answer is taken by signal_poll. Without a
 * thread, sent here. */
static void signal_start(struct engine *e, struct eslot *s, const char *sig, int64_t now) {
  s->sig = sig;
  s->sig_result = 0;
  s->sig_ms = now;
  if (pthread_create(&s->sig_th, NULL, signal_thread, s) == 0) s->sig_busy = 1;
  else signal_done(s, signal_container(e, s, sig));
}

/* The signal in flight, if its answer has come (or wait: until it comes): joined and taken.
 * 1 when none is in flight any more. */
static int signal_poll(struct eslot *s, int wait) {
  if (!s->sig_busy) return 1;
  pthread_mutex_lock(&s->mu);
  int r = s->sig_result;
  pthread_mutex_unlock(&s->mu);
  if (!r && !wait) return 0;
  pthread_join(s->sig_th, NULL);
  s->sig_busy = 0;
  signal_done(s, s->sig_result > 0);
  return 1;
}

/* The signals a stopped container is due, when none is in flight: SIGKILL once the grace since
 * the SIGTERM has passed, else the SIGTERM (again, a second after the engine missed it). Only a
 * running container takes a signal; one still starting gets its SIGTERM once started. */
static void signal_step(struct engine *e, struct eslot *s, enum eslot_phase ph, int64_t now) {
  if (!signal_poll(s, 0) || ph != PH_RUNNING || s->sigkilled || now < s->resignal_ms) return;
  if (s->term_ms >= 0 && now >= s->term_ms + e->kill_grace_ms) {
    signal_start(e, s, "SIGKILL", now);
  } else if (s->term_pending) {
    if (s->sig)
      log_info("%s attempt %d: the engine missed its SIGTERM to container %s; sending it again", s->job_id,
               s->attempt, s->name);
    signal_start(e, s, "SIGTERM", now);
  }
}

/* SIGTERM to the container, sent by signal_step (at once) */
static void send_term(struct engine *e, struct eslot *s, int64_t now) {
  s->term_pending = 1;
  signal_step(e, s, PH_RUNNING, now);
}

static void stop(struct engine *e, struct eslot *s, int cause, const char *reason, int64_t now) {
  pthread_mutex_lock(&s->mu);
  s->cause = cause;
  int running = s->phase == PH_RUNNING;
  pthread_mutex_unlock(&s->mu);
  free(s->kill_reason);
  s->kill_reason = reason ? xstrdup(reason) : NULL;
  if (!running) return; /* SIGTERM once it has started (epoll_), and the grace from then */
  s->term_ms = now;
  send_term(e, s, now);
}

static int ekill(void *impl, const char *job_id, int attempt, const char *reason) {
  struct engine *e = impl;
  struct eslot *s = find(e, job_id, attempt);
  if (!s) return -ESRCH;
  if (!s->cause) stop(e, s, 2, reason ? reason : "", mono_ms());
  return 0;
}

static int ekill_all(void *impl, const char *reason) {
  struct engine *e = impl;
  int n = 0;
  for (int i = 0; i < e->n; i++)
    if (!e->slots[i]->cause) {
      stop(e, e->slots[i], 2, reason, mono_ms());
      n++;
    }
  return n;
}

static void slot_free(struct eslot *s) {
  signal_poll(s, 1);
  joblog_close(&s->log);
  close_wfd(s);
  json_decref(s->create);
  free(s->job_id);
  free(s->log_path);
  free(s->name);
  free(s->fail);
  free(s->kill_reason);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

static void deliver(struct eslot *s, enum run_event_kind kind, int code, const char *reason, int64_t now,
                    run_event_fn cb, void *ctx) {
  struct run_event ev = {.kind = kind, .job_id = s->job_id, .attempt = s->attempt, .exit_code = code,
                         .signal = code > 128 ? code - 128 : 0, .reason = reason, .log_path = s->log_path,
                         .start_ms = s->start_ms, .end_ms = now};
  cb(ctx, &ev);
}

/* The terminal event of a finished slot. */
static void finish(struct eslot *s, int64_t now, run_event_fn cb, void *ctx) {
  if (s->fail && !s->started) {
    deliver(s, RUN_FAILED_TO_START, -1, s->fail, now, cb, ctx);
  } else if (s->cause == 1) {
    deliver(s, RUN_TIMED_OUT, s->exit_code, "Job attempt duration exceeded timeout", now, cb, ctx);
  } else if (s->cause == 2) {
    deliver(s, RUN_KILLED, s->exit_code, s->kill_reason ? s->kill_reason : "", now, cb, ctx);
  } else {
    int oom = s->oom && s->exit_code != 0; /* not a container whose main process exited 0 (a child killed) */
    deliver(s, RUN_EXITED, oom && s->exit_code < 0 ? 137 : s->exit_code,
            oom ? RUNTIME_REASON_OOM : "Essential container in task exited", now, cb, ctx);
  }
}

/* The podman service the agent runs ended (killed, crashed, OOM-killed): it is started again,
 * so that the instance does not go on taking jobs only to fail each at once with "Couldn't
 * connect to server". Looked at once a second from the agent's loop; the new service is not
 * waited for here (the workers wait for the engine, worker_create). */
static void keep_service(struct engine *e, int64_t now) {
  if (!e->own_service || now < e->service_check_ms) return;
  e->service_check_ms = now + 1000;
  if (e->service_pid > 0) {
    int status = 0;
    if (waitpid(e->service_pid, &status, WNOHANG) != e->service_pid) return;
    log_warn("podman runtime: `podman system service` (pid %d) ended (%s %d); starting it again", (int)e->service_pid,
             WIFSIGNALED(status) ? "signal" : "exit status", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    e->service_pid = 0;
  }
  char err[512];
  if (spawn_podman_service(e, err, sizeof err)) log_error("podman runtime: starting `podman system service`: %s", err);
  else log_info("podman runtime: `podman system service` started again (pid %d) on %s", (int)e->service_pid, e->api.socket);
}

static int epoll_(void *impl, int64_t now, run_event_fn cb, void *ctx) {
  struct engine *e = impl;
  int events = 0;
  keep_service(e, now);
  for (int i = 0; i < e->n; i++) {
    struct eslot *s = e->slots[i];
    pthread_mutex_lock(&s->mu);
    enum eslot_phase ph = s->phase;
    int started = s->started;
    pthread_mutex_unlock(&s->mu);
    if (started && !s->started_reported) {
      s->started_reported = 1;
      deliver(s, RUN_STARTED, -1, "", s->start_ms, cb, ctx);
      events++;
      /* from the start, as the job's startedAt: not from the placement, which a slow create and
       * start (or an engine being restarted, up to ENGINE_BACK_MS) would have eaten into */
      if (s->timeout_ms) s->deadline_ms = now + s->timeout_ms;
      if (s->cause && s->term_ms < 0) { /* stopped while starting: its SIGTERM now, the grace from it */
        s->term_ms = now;
        send_term(e, s, now);
      }
    }
    if (ph == PH_DONE) {
      if (!signal_poll(s, 0)) continue; /* its last signal's answer first (the container is gone: soon) */
      if (s->has_thread) pthread_join(s->th, NULL);
      s->has_thread = 0;
      if (joblog_pump(&s->log, 1) && !s->cause) { /* its last output could not be written */
        s->cause = 2;
        s->kill_reason = xstrdup(s->log.why);
      }
      joblog_index(&s->log, now, 1);
      finish(s, now, cb, ctx);
      events++;
      slot_free(s);
      e->slots[i] = NULL;
      continue;
    }
    if (joblog_pump(&s->log, 0) && !s->cause) {
      log_info("%s attempt %d: its log cannot be written; SIGTERM to container %s", s->job_id, s->attempt, s->name);
      stop(e, s, 2, s->log.why, now);
    }
    joblog_index(&s->log, now, 0);
    /* a container whose wait has answered has ended in time, though its stream still drains */
    if (!s->cause && s->deadline_ms >= 0 && now >= s->deadline_ms && !s->waited_ms) {
      log_info("%s attempt %d timed out; SIGTERM to container %s", s->job_id, s->attempt, s->name);
      stop(e, s, 1, NULL, now);
    }
    signal_step(e, s, ph, now);
  }
  int k = 0;
  for (int i = 0; i < e->n; i++)
    if (e->slots[i]) e->slots[k++] = e->slots[i];
  e->n = k;
  return events;
}

static int eactive(const void *impl) { return ((const struct engine *)impl)->n; }

/* How long an agent that stops waits for its containers to end after their SIGKILL
 * (docs/containers.md, "Stopping"): an engine that does not answer within it would otherwise
 * hold the stop for up to engine_call's 120 s per container, and at the fence the copies for
 * longer than the scheduler's lost-after. */
#define EFREE_WAIT_MS 10000

/* efree's SIGKILL to one container, sent from a thread of its own: all of them at once. */
struct killer {
  struct eslot *s;
  pthread_t th;
  int has_thread;
  _Atomic int done;
};

static void *killer_thread(void *arg) {
  struct killer *k = arg;
  signal_container(k->s->eng, k->s, "SIGKILL");
  k->done = 1;
  return NULL;
}

/* How long an agent that stops waits for the podman service it started to end after its
 * SIGTERM before it SIGKILLs the service's process group. A sound service ends within
 * milliseconds (measured: 2 ms); the bound only stops one that hangs or ignores the SIGTERM from
 * holding the agent's exit for ever, and it is the containers' (EFREE_WAIT_MS), so that a stop,
 * at the fence too, is bounded as docs/containers.md ("Stopping") says. */
#define SERVICE_STOP_WAIT_MS 10000
/* After the SIGKILL: a process stuck in the kernel (uninterruptible sleep) outlives even it. */
#define SERVICE_KILL_WAIT_MS 2000

/* Whether child pid ended (reaped) within ms. */
static int reaped_within(pid_t pid, int64_t ms) {
  int64_t until = mono_ms() + ms;
  for (;;) {
    pid_t r = waitpid(pid, NULL, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return 1; /* ECHILD: reaped already */
    if (mono_ms() >= until) return 0;
    usleep(20000);
  }
}

/* Stops the podman service the agent started (if any): SIGTERM to its process group, then, if it
 * has not ended within SERVICE_STOP_WAIT_MS, SIGKILL. It used to be waited for with no limit, so
 * a service that hung or ignored its SIGTERM kept the agent from ever exiting. */
static void stop_service(struct engine *e) {
  pid_t pid = e->service_pid;
  if (pid <= 0) return;
  e->service_pid = 0;
  kill(-pid, SIGTERM);
  kill(pid, SIGTERM);
  if (reaped_within(pid, SERVICE_STOP_WAIT_MS)) return;
  log_warn("podman runtime: `podman system service` (pid %d) did not end within %d ms of its SIGTERM; SIGKILL to "
           "its process group",
           (int)pid, SERVICE_STOP_WAIT_MS);
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  if (!reaped_within(pid, SERVICE_KILL_WAIT_MS))
    log_warn("podman runtime: `podman system service` (pid %d) has not ended %d ms after its SIGKILL; the agent "
             "stops without it",
             (int)pid, SERVICE_KILL_WAIT_MS);
}

static void efree(void *impl) {
  struct engine *e = impl;
  if (!e) return;
  int64_t until = mono_ms() + EFREE_WAIT_MS;
  struct killer *k = xcalloc((size_t)e->n + 1, sizeof *k);
  for (int i = 0; i < e->n; i++) {
    struct eslot *s = e->slots[i];
    s->freeing = 1; /* before the signal: a worker past its start sends its own (worker) */
    k[i].s = s;
    /* each from a thread of its own: one after the other, an engine that did not answer held
     * the stop for up to 120 s per container */
    if (pthread_create(&k[i].th, NULL, killer_thread, &k[i]) == 0) {
      k[i].has_thread = 1;
    } else {
      signal_container(e, s, "SIGKILL");
      k[i].done = 1;
    }
  }
  /* what each container wrote before it died still reaches its log: its pipe is drained until
   * its worker is done (the stream ends with the container), then to its end. It used to be
   * closed unread, so the last output of a job was lost when the agent stopped. */
  int left = 0;
  for (int i = 0; i < e->n; i++) {
    struct eslot *s = e->slots[i];
    int done = 0;
    for (;;) {
      pthread_mutex_lock(&s->mu);
      done = s->phase == PH_DONE;
      pthread_mutex_unlock(&s->mu);
      int64_t now = mono_ms();
      if (done || !s->has_thread || now >= until) break;
      joblog_pump(&s->log, 0);
      struct pollfd pfd = {.fd = s->log.in_fd, .events = POLLIN};
      poll(&pfd, 1, until - now < 50 ? (int)(until - now) : 50);
    }
    pthread_mutex_lock(&s->mu);
    int sig_running = s->sig_busy && !s->sig_result;
    pthread_mutex_unlock(&s->mu);
    if ((!done && s->has_thread) || !k[i].done || sig_running) {
      /* the engine has not answered in time: the slot stays with the threads that still use it
       * (the agent exits next) */
      joblog_pump(&s->log, 0);
      log_warn("%s attempt %d: container %s not confirmed killed %d ms after its SIGKILL (the %s engine did not "
               "answer): it may still run; the agent removes it when it starts again, or remove it with `%s rm -f %s`",
               s->job_id, s->attempt, s->name, EFREE_WAIT_MS, e->kind, e->kind, s->name);
      left++;
      continue;
    }
    if (k[i].has_thread) pthread_join(k[i].th, NULL);
    if (s->has_thread) pthread_join(s->th, NULL);
    joblog_pump(&s->log, 1);
    joblog_index(&s->log, mono_ms(), 1);
    slot_free(s);
  }
  stop_service(e);
  if (left) {
    log_warn("%s runtime: %d container(s) not confirmed killed; the agent stops without them", e->kind, left);
    return; /* their threads still use e, k and the slots */
  }
  free(k);
  free(e->slots);
  free(e->instance_id);
  free(e->state_dir);
  free(e);
}

const struct runtime_ops runtime_engine_ops = {estart, ekill, ekill_all, epoll_, eactive, efree};
