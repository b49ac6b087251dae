/* up.c: `barge up` and `barge down`: a whole local stack on one machine.
 *
 * `barge up` starts a single-node Kafka (scripts/kafka.sh) unless --brokers is given, creates
 * the topics and the UNMANAGED compute environment its agents serve, then supervises the whole
 * system (docs/operations.md "The local stack"): the scheduler, a fixed set of local agents, the
 * provisioner with the local driver (so a MANAGED compute environment a user creates gets local
 * instances, clamped to the machine's size), accounting, audit (with an HMAC key generated once
 * per BARGE_HOME) and the AWS Batch API (`barge api`, access key generated once per BARGE_HOME);
 * --no-X leaves a part out. A child that dies is restarted (Kafka replays what it had not
 * committed). It records the stack in $BARGE_HOME/stack so that other commands find the broker
 * and the API, and its services in $BARGE_HOME/services for `barge status`, with the metrics
 * endpoint each serves on a free port of 127.0.0.1 (docs/metrics.md; --no-metrics for none). Ctrl-C (or
 * `barge down` for --detach) stops everything it started. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmds.h"
#include "control.h"
#include "credentials.h"
#include "logauth.h"
#include "opts.h"
#include "service.h"
#include "stack.h"
#include "views.h"

#ifndef BARGE_SOURCE_DIR
#define BARGE_SOURCE_DIR "."
#endif

/* ---- options ---- */

/* The services that may run under a Kafka principal of their own (--kafka-props-dir). */
enum up_svc { SVC_SCHEDULER, SVC_AGENT, SVC_PROVISIONER, SVC_ACCOUNTING, SVC_AUDIT, SVC_API, SVC__COUNT };
static const char *const svc_names[SVC__COUNT] = {"scheduler", "agent", "provisioner", "accounting", "audit", "api"};

struct up_opts {
  struct kafka_opts kafka; /* brokers: a Kafka to use instead of starting one */
  const char *ce, *driver, *api_listen, *runtime, *props_dir;
  char *svc_props[SVC__COUNT]; /* DIR/kafka-props.NAME of --kafka-props-dir (NULL: --kafka-props) */
  char *cli_props;             /* DIR/kafka-props.cli, --kafka-props when that is not given */
  int64_t agents, vcpus, mem, max_vcpus, tick_ms, heartbeat_ms, lost_ms, local_vcpus, local_mem;
  double log_retention_h; /* the agents' --log-retention-hours (0: not passed) */
  int detach, no_api, no_provisioner, no_accounting, no_audit, no_metrics, explicit_driver, fresh;
};

static void up_opts_init(void *conf) {
  struct up_opts *o = conf;
  o->local_vcpus = o->local_mem = -1; /* not given: the provisioner's defaults */
}

#define U struct up_opts
static const struct opt_spec up_rows[] = {
    OPT_ROW_DOC(U, kafka.brokers, "brokers", "HOST:PORT", "$BARGE_BROKERS, else start one with scripts/kafka.sh",
                "use this Kafka instead of starting one"),
    OPT_ROW(U, agents, "agents", "N", "2", "local agents (instances) to run"),
    OPT_ROW(U, vcpus, "agent-vcpus", "N", "2", "vCPUs each agent offers"),
    OPT_ROW(U, mem, "agent-memory", "MIB", "4096", "memory each agent offers in MiB"),
    OPT_ROW_DOC(U, log_retention_h, "agent-log-retention-hours", "H", "0: kept for ever",
                "every agent's --log-retention-hours, the fixed ones' and those the provisioner starts: a job's "
                "log folder goes once its files are H hours old and it runs no more"),
    OPT_ROW_DOC(U, ce, "compute-environment", "NAME", "local; local-managed with --driver",
                "compute environment of the agents, created if missing"),
    OPT_ROW_DOC(U, driver, "driver", "local|sim", "local, serving MANAGED compute environments beside the fixed agents",
                "given: instead of fixed agents, the provisioner with this driver scales a MANAGED compute environment it creates"),
    OPT_ROW_MIN(U, max_vcpus, "max-vcpus", "N", "16", 1, "with --driver: maxvCpus of that compute environment"),
    OPT_ROW_DOC_MIN(U, local_vcpus, "local-max-vcpus", "N", "this machine's cores x 4", 0,
                "local driver: most vCPUs of all the instances it starts together"),
    OPT_ROW_DOC_MIN(U, local_mem, "local-max-memory", "MIB", "75% of this machine's memory", 0,
                "local driver: most memory of all the instances it starts together"),
    OPT_FLAG_ROW(U, no_provisioner, "no-provisioner", "do not start the provisioner (MANAGED compute environments get no instances)"),
    OPT_FLAG_ROW(U, no_accounting, "no-accounting", "do not start accounting (`barge usage` still reads the events)"),
    OPT_FLAG_ROW(U, no_audit, "no-audit", "do not start the audit log"),
    OPT_ROW(U, runtime, "runtime", "process|podman|docker|auto", "process",
            "how the agents run jobs: host processes, or containers of an engine (docs/containers.md)"),
    OPT_ROW_MIN(U, tick_ms, "tick-ms", "MS", "1000", 1, "scheduler tick"),
    OPT_ROW_MIN(U, heartbeat_ms, "heartbeat-ms", "MS", "2000", 1, "agent heartbeat"),
    OPT_ROW_MIN(U, lost_ms, "lost-after-ms", "MS", "60000", 1,
            "an agent silent this long is lost; its agents ride out a Kafka outage a heartbeat shorter"),
    OPT_ROW(U, api_listen, "api-listen", "HOST:PORT", "127.0.0.1:8780",
            "address of the AWS Batch API (`barge api`); a free port of that host when this one is taken"),
    OPT_FLAG_ROW(U, no_api, "no-api", "do not start the API"),
    OPT_FLAG_ROW(U, no_metrics, "no-metrics",
                 "give the services no metrics endpoint (by default each serves one on a free port of 127.0.0.1, "
                 "docs/metrics.md)"),
    {.type = OPT_INCLUDE, .off = offsetof(U, kafka), .include = &opts_kafka[2], .ninclude = 1}, /* --kafka-props */
    OPT_ROW_DOC(U, props_dir, "kafka-props-dir", "DIR", "none: every service uses --kafka-props",
                "a Kafka principal per service: scheduler, agents, provisioner, accounting, audit and API each use "
                "DIR/kafka-props.NAME when it exists (`scripts/kafka.sh acl` writes them), else --kafka-props; "
                "`barge up` itself uses --kafka-props, or DIR/kafka-props.cli when none is given "
                "(docs/operations.md, \"Per-service principals\")"),
    OPT_FLAG_ROW(U, fresh, "fresh",
                 "start the stack's Kafka empty, deleting every job, queue, compute environment and job definition "
                 "of the last run, and move its audit log aside (by default they are kept across `barge down` and "
                 "`barge up`)"),
    OPT_FLAG_ROW(U, detach, "detach", "run in the background; stop with `barge down`"),
};
#undef U

const struct opts_cmd up_opts_cmd =
    OPTS_CMD("up", "[--brokers HOST:PORT] [--agents N] [--no-provisioner] [--no-accounting] [--no-audit] "
    "[--api-listen HOST:PORT | --no-api] [--detach]",
    "The whole system on this machine: Kafka (unless --brokers), the scheduler, fixed agents, the provisioner "
    "(local driver, for MANAGED compute environments), accounting, audit and the AWS Batch API with an access key "
    "generated once per BARGE_HOME. A child that dies is restarted. `barge status` shows each service.",
    up_rows, struct up_opts, up_opts_init);

/* ---- the API ---- */

#define API_PROFILE "barge" /* the profile of a generated credentials file */

/* The API of the stack, decided before anything starts (so that a restarted `barge api` binds
 * the same address and the stack file can name it). */
struct api_plan {
  int on;
  char listen[320];   /* --listen of `barge api`: HOST:PORT */
  char connect[300];  /* the host clients use (the listen host, or loopback for a wildcard) */
  int port;
  char url[360];      /* http://HOST:PORT */
  char asked[320];    /* the address asked for, when it was taken and another port was chosen */
  char creds[4200];   /* the credentials file */
  char creds_show[4300]; /* the same for a shell: ~/... under $HOME, quoted when needed */
  char profile[128];  /* the profile of that file to use */
  char log_token[4200]; /* the log servers' secret (plan_log_token) */
  int fd;             /* the API's listening socket, held by `barge up` for the stack's life and
                         inherited by each `barge api` it starts (--listen-fd) */
};

/* Splits HOST:PORT ([v6]:PORT); 0, or -1. */
static int split_hostport(const char *s, char *host, size_t hn, char *port, size_t pn) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || !colon[1]) return -1;
  const char *h = s;
  size_t hl = (size_t)(colon - s);
  if (*h == '[' && hl >= 2 && h[hl - 1] == ']') h++, hl -= 2;
  if (hl >= hn) return -1;
  snprintf(host, hn, "%.*s", (int)hl, h);
  snprintf(port, pn, "%s", colon + 1);
  char *end;
  long p = strtol(port, &end, 10);
  return *end || p < 0 || p > 65535 ? -1 : 0;
}

/* Binds a socket to addr (SO_REUSEADDR, as a server does) with port and listens on it: the port
 * bound (the kernel's choice for 0), or -errno. The socket into *out (close-on-exec). Binding for
 * real, not probing and releasing, keeps the address ours: another stack starting at the same
 * time cannot take it between the report and the API's start. */
static int listen_on(const struct addrinfo *ai, int port, int *out) {
  struct sockaddr_storage ss;
  memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
  if (ss.ss_family == AF_INET6) ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
  else ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = -1;
  socklen_t sl = sizeof ss;
  if (bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) != 0 || listen(fd, 128) != 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
    rc = -errno;
    close(fd);
    return rc;
  }
  *out = fd;
  return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
}

/* The path for a shell command line: ~/... under $HOME; single-quoted when it holds anything
 * but [A-Za-z0-9_./~-]. */
static void shell_path(const char *path, char *out, size_t n) {
  const char *home = getenv("HOME");
  size_t hl = home ? strlen(home) : 0;
  int safe = strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-+,:@") == strlen(path);
  if (safe && hl > 1 && !strncmp(path, home, hl) && path[hl] == '/') snprintf(out, n, "~%s", path + hl);
  else if (safe) snprintf(out, n, "%s", path);
  else {
    size_t k = 0;
    out[k++] = '\'';
    for (const char *p = path; *p && k + 5 < n; p++) {
      if (*p == '\'') {
        memcpy(out + k, "'\\''", 4);
        k += 4;
      } else {
        out[k++] = *p;
      }
    }
    out[k++] = '\'';
    out[k] = 0;
  }
}

/* Chooses the API's address (the one asked for, or a free port of its host when that is taken),
 * listens on it, and makes sure of its credentials file. 0, or 1, or 2 for a bad --api-listen
 * (said why). */
static int plan_api(const struct up_opts *o, const char *home, struct api_plan *a) {
  memset(a, 0, sizeof *a);
  if (o->no_api) return 0;
  a->on = 1;
  char host[256], port[16], err[1024];
  if (split_hostport(o->api_listen, host, sizeof host, port, sizeof port)) {
    fprintf(stderr, "barge up: --api-listen must be HOST:PORT, got '%s'\n", o->api_listen);
    return 2;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  int gai = getaddrinfo(host, port, &hints, &ai);
  if (gai) {
    fprintf(stderr, "barge up: --api-listen %s: %s\n", o->api_listen, gai_strerror(gai));
    return 2;
  }
  int want = atoi(port), got = listen_on(ai, want, &a->fd);
  if (got == -EADDRINUSE && want != 0) {
    snprintf(a->asked, sizeof a->asked, "%s", o->api_listen);
    got = listen_on(ai, 0, &a->fd);
  }
  int v6 = ai->ai_family == AF_INET6;
  freeaddrinfo(ai);
  if (got < 0) {
    fprintf(stderr, "barge up: cannot listen on %s for the API: %s (--no-api leaves it out)\n", o->api_listen,
            strerror(-got));
    return 1;
  }
  a->port = got;
  snprintf(a->listen, sizeof a->listen, v6 ? "[%s]:%d" : "%s:%d", host, got);
  int wildcard = !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !host[0];
  snprintf(a->connect, sizeof a->connect, "%s", wildcard ? (v6 ? "::1" : "127.0.0.1") : host);
  snprintf(a->url, sizeof a->url, strchr(a->connect, ':') ? "http://[%s]:%d" : "http://%s:%d", a->connect, got);

  snprintf(a->creds, sizeof a->creds, "%s/api-credentials", home);
  int made = api_credentials_ensure(a->creds, API_PROFILE, a->profile, sizeof a->profile, err, sizeof err);
  if (made < 0) {
    /* one that does not parse is the user's to fix; one that could not be written (a full disk:
     * nothing is left of it) is not */
    fprintf(stderr, "barge up: the API's credentials: %s (%s, or --no-api)\n", err,
            access(a->creds, F_OK) == 0 ? "fix or remove the file" : "BARGE_HOME must be writable, with room");
    return 1;
  }
  struct stat sb;
  if (!made && stat(a->creds, &sb) == 0 && (sb.st_mode & 077))
    fprintf(stderr, "barge up: warning: %s is readable by others (mode %03o); chmod 600 it\n", a->creds,
            (unsigned)(sb.st_mode & 0777));
  if (made) fprintf(stderr, "barge up: generated an access key for the API in %s\n", a->creds);
  shell_path(a->creds, a->creds_show, sizeof a->creds_show);
  return 0;
}

/* Waits until the API answers HTTP (it serves once it reached Kafka), at most ms. 0 when it does.
 * A connection alone proves nothing: the socket `barge up` holds accepts them from the start. */
static int api_wait_ready(const struct api_plan *a, int ms) {
  char port[16];
  snprintf(port, sizeof port, "%d", a->port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  if (getaddrinfo(a->connect, port, &hints, &ai)) return -1;
  int64_t until = mono_ms() + ms;
  int rc = -1;
  while (rc && mono_ms() < until && !service_stopping()) {
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    static const char req[] = "GET /dashboard/ HTTP/1.0\r\n\r\n";
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 && write(fd, req, sizeof req - 1) == sizeof req - 1) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      char c;
      if (poll(&p, 1, 1000) == 1 && read(fd, &c, 1) == 1) rc = 0;
    }
    if (fd >= 0) close(fd);
    if (rc) usleep(200000);
  }
  freeaddrinfo(ai);
  return rc;
}

/* The API's lines of the report: lead, the endpoint and how to call it. */
static void print_api(const struct api_plan *a, const char *lead, int ready, const char *home) {
  if (!a->on) return;
  printf("%s%s (", lead, a->url);
  if (a->asked[0]) printf("%s was in use; ", a->asked);
  printf("SigV4; credentials in %s, profile %s)\n", a->creds_show, a->profile);
  printf("    AWS_SHARED_CREDENTIALS_FILE=%s aws batch --profile %s --endpoint-url %s --region us-east-1 "
         "describe-job-queues\n", a->creds_show, a->profile, a->url);
  printf("    dashboard: %s/dashboard/ (log in with that key and secret; docs/dashboard.md)\n", a->url);
  if (!ready) printf("    (the API is not answering yet; see %s/api.log)\n", home);
}

/* ---- audit ---- */

/* The audit log of the stack: a JSON-lines file sealed with a key generated once per
 * BARGE_HOME (docs/audit.md). */
struct audit_plan {
  int on;
  char dir[3200], key[3300], out[3300];
};

/* Makes sure of a secret file of the stack (32 random bytes, hex, mode 0600), made once per
 * BARGE_HOME. One that exists is kept, once it reads as the services read it (file_what and min
 * as they give read_secret_file): an empty one (a crash or a full disk between its creation and
 * its write) or a short one was passed on as it was, and the service given it exited 2 and was
 * restarted for ever while `barge up` said the stack ran. 0, or 1 (said why: with gone, what
 * removing the file costs, and hint). */
static int write_secret(const char *path, const char *what, const char *file_what, size_t min, const char *gone,
                        const char *hint) {
  if (access(path, F_OK) == 0) {
    char err[4400];
    size_t len;
    char *s = read_secret_file(path, file_what, min, &len, err, sizeof err);
    if (!s) {
      fprintf(stderr, "barge up: %s; fix it, or remove it and barge up generates a new one (%s)%s\n", err, gone,
              hint);
      return 1;
    }
    free(s);
    return 0;
  }
  char hex[65];
  random_hex(hex, 64);
  hex[64] = '\n';
  errno = 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  int written = fd >= 0 && write(fd, hex, sizeof hex) == (ssize_t)sizeof hex;
  if (fd >= 0 && close(fd) != 0) written = 0;
  if (!written) {
    int e = errno ? errno : ENOSPC; /* (a short write sets none) */
    fprintf(stderr, "barge up: cannot write %s: %s%s\n", path, strerror(e), hint);
    if (fd >= 0) unlink(path); /* not left empty or cut: the next barge up, with room again, generates it */
    return 1;
  }
  fprintf(stderr, "barge up: generated %s in %s\n", what, path);
  return 0;
}

/* The secret the API signs its fetches from agents' log servers with (--log-token-file of `barge
 * api` and of `barge agent`; docs/api.md, "Job logs"): <home>/log.token, into path. 0, or 1. */
static int plan_log_token(const char *home, char *path, size_t n) {
  snprintf(path, n, "%s/log.token", home);
  return write_secret(path, "the agents' log server token", "log token file", LOGAUTH_MIN_KEY,
                      "copy it then to the hosts of agents started with --log-listen", " (--no-api leaves it out)");
}

/* Makes sure of the audit key (32 random bytes, hex, mode 0600). 0, or 1 (said why). */
static int plan_audit(const struct up_opts *o, const char *home, struct audit_plan *a) {
  memset(a, 0, sizeof *a);
  if (o->no_audit) return 0;
  a->on = 1;
  snprintf(a->dir, sizeof a->dir, "%s/audit", home);
  snprintf(a->key, sizeof a->key, "%s/hmac.key", a->dir);
  snprintf(a->out, sizeof a->out, "%s/events.jsonl", a->dir);
  if (mkdir_p(a->dir)) {
    fprintf(stderr, "barge up: cannot create %s: %s (--no-audit leaves the audit log out)\n", a->dir,
            strerror(errno));
    return 1;
  }
  if (o->fresh && access(a->out, F_OK) == 0) {
    /* it records the Kafka being emptied: kept, verifiable, beside the new one */
    char stamp[32], old[3400], seal[3400], oldseal[3500];
    time_t t = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime(&t));
    snprintf(old, sizeof old, "%s/events.%s.jsonl", a->dir, stamp);
    snprintf(seal, sizeof seal, "%s.seal", a->out);
    snprintf(oldseal, sizeof oldseal, "%s.seal", old);
    if (rename(a->out, old) != 0 || (access(seal, F_OK) == 0 && rename(seal, oldseal) != 0)) {
      fprintf(stderr, "barge up: cannot move the last run's audit log %s aside: %s\n", a->out, strerror(errno));
      return 1;
    }
    fprintf(stderr, "barge up: the last run's audit log is now %s (verify it with `barge audit verify`)\n", old);
  }
  return write_secret(a->key, "the audit log's HMAC key", "HMAC key file", 1,
                      "a new key does not verify the log sealed with the old one: `barge up --fresh` moves that log aside",
                      " (--no-audit leaves the audit log out)");
}

/* ---- children ---- */

struct child {
  char name[64];
  char *argv[48];
  int argc;
  char log[4096];
  pid_t pid;
  int restarts;
  int64_t started;
  int64_t restart_at; /* > 0: to be started again then (mono ms) */
  int metrics_port;   /* the port of its metrics endpoint, 0 for none */
  int metrics_fd;     /* > 0: that port's listening socket, held by `barge up`, inherited (--metrics-fd) */
  int keep_fd;        /* > 0: a descriptor of `barge up` this child inherits (the API's socket) */
  int backoff_ms;     /* the wait before its next restart while it keeps dying young */
  int stop_last;      /* stopped after the others have ended (the audit, to record their last events) */
};

static void add_arg(struct child *c, const char *a) {
  if (c->argc + 1 >= (int)(sizeof c->argv / sizeof *c->argv)) { /* a programming error: argv[] too small */
    fprintf(stderr, "barge up: too many arguments for %s\n", c->name);
    abort();
  }
  c->argv[c->argc++] = xstrdup(a);
}

static void add_opt(struct child *c, const char *flag, const char *v) {
  add_arg(c, flag);
  add_arg(c, v);
}

static void add_num(struct child *c, const char *flag, long long v) {
  char num[32];
  snprintf(num, sizeof num, "%lld", v);
  add_arg(c, flag);
  add_arg(c, num);
}

/* --log-retention-hours and its provisioner form: passed only when set, so that a stack without it
 * runs its agents exactly as before. */
static void add_retention(struct child *c, const char *flag, double h) {
  char num[32];
  if (!(h > 0)) return;
  snprintf(num, sizeof num, "%.17g", h);
  add_arg(c, flag);
  add_arg(c, num);
}

static pid_t spawn(struct child *c) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    /* the services stop with the supervisor, even when it is killed: nothing runs on that nobody
     * supervises or `barge down` knows of */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(0);
    int fd = open(c->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    signal(SIGINT, SIG_IGN); /* the supervisor decides when children stop */
    if (c->keep_fd > 0) fcntl(c->keep_fd, F_SETFD, 0);
    if (c->metrics_fd > 0) fcntl(c->metrics_fd, F_SETFD, 0);
    execv("/proc/self/exe", c->argv);
    _exit(127);
  }
  c->pid = pid;
  c->started = mono_ms();
  c->restart_at = 0;
  return pid;
}

/* $BARGE_HOME/services, for `barge status`: one line per child,
 * "name<TAB>pid<TAB>restarts<TAB>log<TAB>metrics URL or -" (pid 0 while it waits to be restarted). */
static void write_services(const struct child *kids, int n) {
  char home[3072], path[3200];
  stack_home(home, sizeof home);
  snprintf(path, sizeof path, "%s/services", home);
  struct buf b;
  buf_init(&b);
  for (int i = 0; i <= n; i++)
    if (kids[i].metrics_port)
      buf_printf(&b, "%s\t%d\t%d\t%s\thttp://127.0.0.1:%d/metrics\n", kids[i].name, (int)kids[i].pid, kids[i].restarts,
                 kids[i].log, kids[i].metrics_port);
    else
      buf_printf(&b, "%s\t%d\t%d\t%s\t-\n", kids[i].name, (int)kids[i].pid, kids[i].restarts, kids[i].log);
  if (write_file_atomic(path, b.data ? (const char *)b.data : "", b.len)) log_warn("cannot write %s", path);
  buf_release(&b);
}

/* Gives every child a metrics endpoint on its own free port of 127.0.0.1. The supervisor binds
 * and listens on each port and keeps the socket for its whole life; the child serves on it
 * (--metrics-fd). A port chosen and then let go (bound again by the child) could be taken by
 * another process meanwhile, above all while a child waits to be restarted: the child then
 * failed at every restart, for as long as the other process held the port. */
static void plan_metrics(struct child *kids, int n) {
  for (int i = 0; i <= n; i++) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 64) ||
        getsockname(fd, (struct sockaddr *)&sa, &sl)) {
      log_warn("no free port for the metrics of %s: %s", kids[i].name, strerror(errno));
      if (fd >= 0) close(fd);
      continue;
    }
    kids[i].metrics_port = ntohs(sa.sin_port);
    kids[i].metrics_fd = fd; /* never closed: the port stays the child's across its restarts */
    add_num(&kids[i], "--metrics-fd", fd);
  }
}

/* The metrics endpoints of the services file, one line each after lead. */
static void print_metrics(const char *lead) {
  char home[3072], path[3200];
  stack_home(home, sizeof home);
  snprintf(path, sizeof path, "%s/services", home);
  char *text = read_file(path, NULL), *save = NULL;
  for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
    char *name_end = strchr(line, '\t'), *url = strrchr(line, '\t');
    if (name_end && url && !strncmp(url + 1, "http", 4))
      printf("%s%-*.*s %s\n", lead, 28, (int)(name_end - line), line, url + 1);
  }
  free(text);
}

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

const struct opts_cmd down_opts_cmd = {"down", "", "Stops the stack started by `barge up --detach`.", NULL, 0, 0, NULL};

static void kafka_script(const char *verb, const char *kafka_dir, char *cmd, size_t n);

/* SIGTERM to the services $BARGE_HOME/services lists that still run (a killed supervisor's), then
 * up to 30 s for them to end, then SIGKILL. How many there were. */
static int stop_leftovers(void) {
  char home[3072], path[3200], line[8192];
  stack_home(home, sizeof home);
  snprintf(path, sizeof path, "%s/services", home);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  pid_t pids[128];
  char svc[128][32]; /* each one's command word ("agent" for "agent i-..."): a pid that another barge
                        command has got since is not that service */
  int n = 0;
  while (n < 128 && fgets(line, sizeof line, f)) {
    char *tab = strchr(line, '\t');
    pid_t p = tab ? (pid_t)atoi(tab + 1) : 0;
    snprintf(svc[n], sizeof svc[n], "%.*s", (int)strcspn(line, " \t"), line);
    if (p > 0 && stack_pid_runs(p, svc[n])) pids[n++] = p;
  }
  fclose(f);
  for (int i = 0; i < n; i++) kill(pids[i], SIGTERM);
  for (int t = 0; t < 300; t++) {
    int alive = 0;
    for (int i = 0; i < n; i++) alive += stack_pid_runs(pids[i], svc[i]);
    if (!alive) return n;
    usleep(100000);
  }
  for (int i = 0; i < n; i++)
    if (stack_pid_runs(pids[i], svc[i])) kill(pids[i], SIGKILL);
  return n;
}

/* How long a `barge up` or `barge down` waits for another `barge up` that is starting a stack. */
#define UP_LOCK_WAIT_MS 120000

/* A `barge up` still starting holds $BARGE_HOME/up.lock (take_up_lock) before its stack file
 * exists: `barge down` then said no stack ran (or stopped that up's Kafka as a leftover) and the
 * stack started after it. It waits for that stack (at most UP_LOCK_WAIT_MS), to stop it. 0 to go
 * on: no `barge up` starting, or its stack recorded, or it gave up without one; 1 on timeout. */
static int wait_starting_up(void) {
  char home[3072], path[3200];
  stack_home(home, sizeof home);
  snprintf(path, sizeof path, "%s/up.lock", home);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  int64_t until = mono_ms() + UP_LOCK_WAIT_MS;
  int said = 0, rc = 0;
  char pidtext[32];
  while (flock(fd, LOCK_SH | LOCK_NB) && !(stack_get("supervisor", pidtext, sizeof pidtext) == 0)) {
    if (mono_ms() >= until) {
      fprintf(stderr, "barge down: a `barge up` in %s has been starting a stack for %d s and still has not "
              "recorded it; see %s/up.log, or stop that process\n", home, UP_LOCK_WAIT_MS / 1000, home);
      rc = 1;
      break;
    }
    if (!said) printf("barge down: a `barge up` is starting a stack in %s; waiting for it, to stop it\n", home);
    fflush(stdout);
    said = 1;
    usleep(100000);
  }
  close(fd); /* (a shared lock taken is released with it) */
  return rc;
}

int cmd_down(int argc, char **argv) {
  int r = opts_parse_cmd(&down_opts_cmd, NULL, argc, argv, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  if ((r = wait_starting_up())) return r;
  char pidtext[32];
  if (stack_get("supervisor", pidtext, sizeof pidtext)) {
    /* a `barge up` stopped before it recorded its stack (killed while starting) leaves the Kafka
     * it started in $BARGE_HOME/kafka: stop that one (kafka.sh checks the pid is that broker) */
    char home[4096], kdir[4200], kpid[4300], text[32], cmd[8800];
    stack_home(home, sizeof home);
    snprintf(kdir, sizeof kdir, "%s/kafka", home);
    snprintf(kpid, sizeof kpid, "%s/pid", kdir);
    ssize_t n = read_small(kpid, text, sizeof text);
    long kp = n > 0 ? strtol(text, NULL, 10) : 0;
    if (kp > 0 && stack_pid_alive(kp)) {
      printf("barge down: no stack is recorded, but a Kafka runs in %s (pid %ld), left by a `barge up` that did "
             "not finish starting; stopping it\n", kdir, kp);
      fflush(stdout);
      kafka_script("stop", kdir, cmd, sizeof cmd);
      if (system(cmd) != 0) {
        fprintf(stderr, "barge down: could not stop the Kafka in %s; see its kafka.log\n", kdir);
        return 1;
      }
      return 0;
    }
    printf("barge down: no stack is running\n");
    return 0;
  }
  pid_t pid = (pid_t)atoi(pidtext);
  if (!stack_supervisor_alive(pid)) { /* (not a process that got its pid since: it was sent SIGTERM) */
    /* the supervisor was killed: what it started may live on (its Kafka always does) */
    int left = stop_leftovers();
    char kdir[4096], cmd[8400];
    if (stack_get("kafka_dir", kdir, sizeof kdir) == 0 && kdir[0]) {
      printf("barge down: stopping the stack's Kafka in %s\n", kdir);
      fflush(stdout);
      kafka_script("stop", kdir, cmd, sizeof cmd);
      if (system(cmd) != 0) fprintf(stderr, "barge down: could not stop the Kafka in %s; see its kafka.log\n", kdir);
    }
    stack_remove();
    /* and its services file, as a supervisor that stops removes it (docs/operations.md) */
    char home[3072], services[3200];
    stack_home(home, sizeof home);
    snprintf(services, sizeof services, "%s/services", home);
    unlink(services);
    printf("barge down: the stack's supervisor (pid %d) was gone; stopped %d service(s) it left and cleared its "
           "record\n", (int)pid, left);
    return 0;
  }
  kill(pid, SIGTERM);
  kill(pid, SIGCONT); /* a stopped supervisor (SIGSTOP) acts on the SIGTERM only once continued */
  for (int i = 0; i < 600 && stack_pid_alive(pid); i++) usleep(100000);
  if (stack_pid_alive(pid)) {
    fprintf(stderr, "barge down: pid %d did not stop within 60 s\n", (int)pid);
    return 1;
  }
  printf("barge down: stack stopped\n");
  return 0;
}

/* ---- starting ---- */

/* The script that runs Kafka: $BARGE_KAFKA_SCRIPT, else the source tree's, else the installed
 * copy beside the binary (PREFIX/bin/barge -> PREFIX/share/barge/scripts/kafka.sh). */
static void kafka_script(const char *verb, const char *kafka_dir, char *cmd, size_t n) {
  const char *script = getenv("BARGE_KAFKA_SCRIPT");
  char installed[4096] = "", exe[4000];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (!script && access(BARGE_SOURCE_DIR "/scripts/kafka.sh", X_OK) && len > 0) {
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    snprintf(installed, sizeof installed, "%s/../share/barge/scripts/kafka.sh", exe);
    script = installed;
  }
  snprintf(cmd, n, "'%s' %s --dir '%s' >&2", script ? script : BARGE_SOURCE_DIR "/scripts/kafka.sh", verb, kafka_dir);
}

/* Starts a single-node Kafka in home/kafka, on the data of the last run unless fresh; its address
 * into brokers. 0, or 1 (said why). */
static int start_kafka(const char *home, int fresh, char *kafka_dir, size_t kdn, char *brokers, size_t bn) {
  char cmd[8192], path[4200];
  snprintf(kafka_dir, kdn, "%s/kafka", home);
  snprintf(path, sizeof path, "%s/data", kafka_dir);
  int had = access(path, F_OK) == 0;
  kafka_script(fresh ? "start" : "start --keep", kafka_dir, cmd, sizeof cmd);
  if (!had) fprintf(stderr, "barge up: starting Kafka (first run downloads it from Maven Central)...\n");
  else if (fresh) fprintf(stderr, "barge up: starting an empty Kafka (--fresh: the last run's data is deleted)...\n");
  else fprintf(stderr, "barge up: starting Kafka on the last run's data (--fresh starts it empty)...\n");
  if (system(cmd) != 0) {
    fprintf(stderr, "barge up: Kafka did not start; see %s/kafka.log, or pass --brokers HOST:PORT\n", kafka_dir);
    return 1;
  }
  snprintf(path, sizeof path, "%s/bootstrap", kafka_dir);
  char *b = read_file(path, NULL);
  if (!b) {
    fprintf(stderr, "barge up: %s missing after Kafka started\n", path);
    return 1;
  }
  b[strcspn(b, "\r\n")] = 0;
  snprintf(brokers, bn, "%s", b);
  free(b);
  return 0;
}

/* What the stack runs, one line each after lead (a fixed-width label follows it). */
static void print_parts(const struct up_opts *o, const char *lead, const struct audit_plan *audit) {
  if (o->explicit_driver)
    printf("%sagents:      launched on demand by the provisioner (driver %s), 0-%lld vCPUs in compute environment %s\n",
           lead, o->driver, (long long)o->max_vcpus, o->ce);
  else if (o->agents > 0)
    printf("%sagents:      %lld x (%lld vCPU, %lld MiB) in the UNMANAGED compute environment %s\n", lead,
           (long long)o->agents, (long long)o->vcpus, (long long)o->mem, o->ce);
  if (!o->no_provisioner && !o->explicit_driver)
    printf("%sprovisioner: driver %s: any MANAGED compute environment you create gets local instances "
           "(clamped to this machine; `barge status` says how)\n", lead, o->driver);
  printf("%saccounting:  %s\n", lead, o->no_accounting ? "off (--no-accounting)" : "on (`barge usage`)");
  if (audit->on) printf("%saudit:       %s, HMAC key %s\n", lead, audit->out, audit->key);
  else printf("%saudit:       off (--no-audit)\n", lead);
  if (!o->props_dir) return;
  printf("%sprincipals:  from %s:", lead, o->props_dir);
  for (int s = 0; s < SVC__COUNT; s++) {
    const char *u = o->svc_props[s] ? strstr(o->svc_props[s], "sasl.username=") : NULL;
    if (u) u += strlen("sasl.username=");
    printf(" %s=%.*s", svc_names[s], u ? (int)strcspn(u, ",\n") : 15, u ? u : "(--kafka-props)");
  }
  printf("\n");
}

/* --detach: the parent reports the stack once the supervisor (the child) has recorded it, and
 * returns its exit status (1 when the supervisor ended, or had not recorded the stack after 30 s:
 * it then said "stack running" of a stack no command could find); the child, in a session of its
 * own with its output in home/up.log, returns -1. */
static int detach(const struct up_opts *o, const char *home, const char *logs, const char *brokers,
                  const struct api_plan *api, const struct audit_plan *audit) {
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "barge up: cannot start the supervisor: fork: %s\n", strerror(errno));
    return 1;
  }
  if (pid > 0) {
    int recorded = 0, ended = 0, status;
    for (int i = 0; i < 300 && !recorded && !ended; i++) {
      char sp[32];
      recorded = stack_get("supervisor", sp, sizeof sp) == 0 && atoi(sp) == pid;
      ended = !recorded && waitpid(pid, &status, WNOHANG) == pid;
      if (!recorded && !ended) usleep(100000);
    }
    if (!recorded) {
      if (!ended) kill(pid, SIGTERM); /* unrecorded, it would run out of reach of `barge down` */
      fprintf(stderr, "barge up: the stack did not start: its supervisor (pid %d) %s without recording it in "
              "%s/stack (a full or read-only BARGE_HOME cannot hold it); see %s/up.log\n", (int)pid,
              ended ? "ended" : "was stopped after 30 s", home, home);
      return 1;
    }
    int ready = !api->on || api_wait_ready(api, 30000) == 0;
    /* then each service's start-up (its barge_service_ready), so that what follows `barge up
     * --detach` finds the stack ready and `barge status` says up (docs/operations.md) */
    char starting[1024];
    int left = stack_wait_ready(30000, starting, sizeof starting, NULL);
    printf("barge up: stack running in the background (pid %d)\n  Kafka:       %s\n", (int)pid, brokers);
    print_parts(o, "  ", audit);
    print_api(api, "  API:         ", ready, home);
    print_metrics("  metrics:     ");
    if (left)
      printf("  starting:    %s (not ready after 30 s: see their logs; `barge status` says when they are up)\n",
             starting);
    printf("  logs:        %s (services), %s (jobs)\n  status:      barge status\n  stop with:   barge down\n", home, logs);
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
  return -1;
}

/* The children's command lines. The services get the stack's prefix explicitly (not through the
 * environment or the stack file, which is written after they start); their transactional ids
 * follow from it (service_txn_id), so stacks sharing a broker under different prefixes never
 * fence each other. */
/* A child running `barge SERVICE` against the stack's Kafka, named NAME, logging to
 * HOME/LOGFILE; the Kafka properties go last (child_end). */
static void child_begin(struct child *c, const char *name, const char *home, const char *logfile,
                        const char *service, const char *brokers, const char *prefix) {
  snprintf(c->name, sizeof c->name, "%s", name);
  snprintf(c->log, sizeof c->log, "%s/%s", home, logfile);
  add_arg(c, "barge");
  add_arg(c, service);
  add_opt(c, "--brokers", brokers);
  add_opt(c, "--topic-prefix", prefix);
}

static void child_end(struct child *c, const char *props) {
  if (props) add_opt(c, "--kafka-props", props);
}

/* The Kafka properties service s runs with: its own from --kafka-props-dir, else --kafka-props. */
static const char *props_of(const struct up_opts *o, enum up_svc s) {
  return o->svc_props[s] ? o->svc_props[s] : o->kafka.props;
}

/* Reads --kafka-props-dir: DIR/kafka-props.NAME of each service that has one. 0, or 2 (said why:
 * DIR unreadable, or holding none of them). */
static int load_svc_props(struct up_opts *o) {
  if (!o->props_dir) return 0;
  int found = 0;
  for (int s = 0; s <= SVC__COUNT; s++) { /* SVC__COUNT: cli, barge up's own when --kafka-props is not given */
    char path[4200];
    snprintf(path, sizeof path, "%s/kafka-props.%s", o->props_dir, s < SVC__COUNT ? svc_names[s] : "cli");
    char *t = s < SVC__COUNT || !o->kafka.props ? read_file(path, NULL) : NULL;
    if (!t) continue;
    size_t n = strlen(t);
    while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ')) t[--n] = 0;
    if (s < SVC__COUNT) {
      o->svc_props[s] = t;
      found++;
    } else {
      o->kafka.props = o->cli_props = t;
    }
  }
  if (!found) {
    fprintf(stderr, "barge up: --kafka-props-dir %s holds no kafka-props.SERVICE file (SERVICE: scheduler, agent, "
            "provisioner, accounting, audit, api; `scripts/kafka.sh acl --dir DIR --service all` writes them)\n",
            o->props_dir);
    return 2;
  }
  return 0;
}

/* Whether `barge up` ARGS asks for the stack that supervisor pid runs: no option at all ("is a
 * stack running?"), or the same options as the `barge up` that started it (its command line,
 * /proc/PID/cmdline: a detached supervisor is a fork of it), in the same order and spelling,
 * --detach and its --fresh aside; never with --fresh, which a running stack cannot be. *theirs:
 * its options, for the message. */
static int same_options(pid_t pid, int argc, char **argv, char *theirs, size_t theirs_len) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
  size_t len = 0;
  char *cmdline = read_file(path, &len);
  const char *mine[256], *its[256];
  int nmine = 0, nits = 0, fresh = 0;
  for (int i = 1; i < argc && nmine < 256; i++) {
    if (!strcmp(argv[i], "--fresh")) fresh = 1;
    if (strcmp(argv[i], "--detach")) mine[nmine++] = argv[i];
  }
  /* barge\0up\0OPTIONS...: the options from the third string on */
  int k = 0;
  for (size_t at = 0; cmdline && at < len && nits < 256; at += strlen(cmdline + at) + 1, k++) {
    if (k < 2 || !strcmp(cmdline + at, "--detach") || !strcmp(cmdline + at, "--fresh")) continue;
    its[nits++] = cmdline + at;
    size_t used = strlen(theirs);
    snprintf(theirs + used, theirs_len - used, "%s%s", used ? " " : "", cmdline + at);
  }
  int same = !fresh && (nmine == 0 || (cmdline && nmine == nits));
  for (int i = 0; same && nmine && i < nmine; i++) same = !strcmp(mine[i], its[i]);
  if (!cmdline) snprintf(theirs, theirs_len, "options that cannot be read");
  free(cmdline);
  return same;
}

/* Every set of Kafka properties the stack would use, checked before anything starts (a service
 * given a bad one would only exit and be restarted, for ever): 0, or 2 (said which and why). */
static int check_props(const struct up_opts *o) {
  char err[1024];
  for (int s = 0; s <= SVC__COUNT; s++) {
    const char *props = s < SVC__COUNT ? o->svc_props[s] : o->kafka.props;
    struct bus_conf bc = {.kafka_props = props};
    if (!props || !*props || !bus_conf_check(&bc, err, sizeof err)) continue;
    if (s < SVC__COUNT) fprintf(stderr, "barge up: %s/kafka-props.%s: %s\n", o->props_dir, svc_names[s], err);
    else if (o->cli_props) fprintf(stderr, "barge up: %s/kafka-props.cli: %s\n", o->props_dir, err);
    else fprintf(stderr, "barge up: --kafka-props: %s\n", err);
    return 2;
  }
  return 0;
}

/* The provisioner: with --driver, scaling the CE up created (capped at its maxvCpus); else the
 * local driver serving whatever MANAGED CE users create, clamped to this machine. */
static void plan_provisioner(struct child *a, const struct up_opts *o, const char *home, const char *logs,
                             const char *brokers, const char *prefix) {
  child_begin(a, "provisioner", home, "provisioner.log", "provisioner", brokers, prefix);
  add_opt(a, "--driver", o->driver);
  add_opt(a, "--log-dir", logs);
  add_num(a, "--agent-heartbeat-ms", o->heartbeat_ms);
  if (o->lost_ms > 2 * o->heartbeat_ms) add_num(a, "--agent-fence-after-ms", o->lost_ms - o->heartbeat_ms);
  if (o->local_vcpus >= 0) add_num(a, "--local-max-vcpus", o->local_vcpus);
  else if (o->explicit_driver) add_num(a, "--local-max-vcpus", o->max_vcpus);
  if (o->local_mem >= 0) add_num(a, "--local-max-memory", o->local_mem);
  add_opt(a, "--agent-runtime", o->runtime);
  add_retention(a, "--agent-log-retention-hours", o->log_retention_h);
  /* the agents it starts run under the agents' principal, not its own */
  if (props_of(o, SVC_AGENT) && props_of(o, SVC_AGENT) != props_of(o, SVC_PROVISIONER))
    add_opt(a, "--agent-kafka-props", props_of(o, SVC_AGENT));
  child_end(a, props_of(o, SVC_PROVISIONER));
}

static void plan_agent(struct child *a, int i, const struct up_opts *o, const char *home, const char *logs,
                       const char *brokers, const char *prefix) {
  char hex[18], id[32], name[48], logfile[32];
  random_hex(hex, 17);
  snprintf(id, sizeof id, "i-%s", hex);
  snprintf(name, sizeof name, "agent %s", id);
  snprintf(logfile, sizeof logfile, "agent-%d.log", i);
  child_begin(a, name, home, logfile, "agent", brokers, prefix);
  add_opt(a, "--compute-environment", o->ce);
  add_opt(a, "--instance-id", id);
  add_num(a, "--vcpus", o->vcpus);
  add_num(a, "--memory", o->mem);
  add_num(a, "--heartbeat-ms", o->heartbeat_ms);
  add_opt(a, "--log-dir", logs);
  add_opt(a, "--runtime", o->runtime);
  add_retention(a, "--log-retention-hours", o->log_retention_h);
  /* cut off from Kafka, it stops its attempts a heartbeat before the scheduler retries them */
  if (o->lost_ms > 2 * o->heartbeat_ms) add_num(a, "--fence-after-ms", o->lost_ms - o->heartbeat_ms);
  child_end(a, props_of(o, SVC_AGENT));
}

/* The children, in start order (they stop in the reverse): the scheduler, the agents, the
 * provisioner, accounting, audit, the API. The index of the last one. */
static int plan_children(struct child *kids, const struct up_opts *o, const char *home, const char *logs,
                         const char *brokers, const char *prefix, const struct api_plan *api,
                         const struct audit_plan *audit) {
  int agents = o->explicit_driver ? 0 : (int)(o->agents < 0 ? 0 : o->agents > 64 ? 64 : o->agents);
  struct child *s = &kids[0];
  child_begin(s, "scheduler", home, "scheduler.log", "scheduler", brokers, prefix);
  add_num(s, "--tick-ms", o->tick_ms);
  add_num(s, "--lost-after-ms", o->lost_ms);
  child_end(s, props_of(o, SVC_SCHEDULER));
  int n = 0;
  for (int i = 1; i <= agents; i++) plan_agent(&kids[++n], i, o, home, logs, brokers, prefix);
  if (!o->no_provisioner) plan_provisioner(&kids[++n], o, home, logs, brokers, prefix);
  if (!o->no_accounting) {
    struct child *a = &kids[++n];
    child_begin(a, "accounting", home, "accounting.log", "accounting", brokers, prefix);
    child_end(a, props_of(o, SVC_ACCOUNTING));
  }
  if (audit->on) {
    struct child *a = &kids[++n];
    child_begin(a, "audit", home, "audit.log", "audit", brokers, prefix);
    add_opt(a, "--out", audit->out);
    add_opt(a, "--hmac-key-file", audit->key);
    a->stop_last = 1;
    child_end(a, props_of(o, SVC_AUDIT));
  }
  if (api->on) { /* last, so that it stops first: no request arrives while the rest stops */
    struct child *a = &kids[++n];
    child_begin(a, "api", home, "api.log", "api", brokers, prefix);
    add_opt(a, "--listen", api->listen);
    add_num(a, "--listen-fd", api->fd);
    a->keep_fd = api->fd;
    add_opt(a, "--credentials-file", api->creds);
    add_opt(a, "--log-token-file", api->log_token);
    child_end(a, props_of(o, SVC_API));
  }
  return n;
}

/* ---- supervising ---- */

/* The wait before the next try of a child that keeps failing: 1 s, doubling up to 30 s. */
static int backoff_next(int ms) { return ms ? (ms >= 15000 ? 30000 : ms * 2) : 1000; }

/* The Kafka `barge up` started (not one given by --brokers). It is not a child of the supervisor
 * (kafka.sh runs it detached), so no SIGCHLD tells of its end: the supervisor looks at its pid
 * every KAFKA_WATCH_MS. A broker that died (its pid file still names it: a crash, kill -9, the
 * OOM killer) is started again on its data and ports (`kafka.sh start --keep`), as a service
 * that dies is; before, the whole stack stayed without Kafka until someone noticed, and the
 * agents fenced themselves and stopped every running job after --agent-fence-after-ms. One
 * stopped on purpose (`kafka.sh stop` removes the pid file) is left stopped, and said once. The
 * start runs in a child of its own, so that signals and the services' restarts are served
 * meanwhile (docs/operations.md, "Failures"). */
#define KAFKA_WATCH_MS 2000
static struct {
  const char *dir;     /* NULL: not ours */
  const char *brokers; /* the address every service was given */
  pid_t starter;       /* > 0: `kafka.sh start --keep` is running */
  int64_t next_look, restart_at;
  int backoff_ms;
  int told_stopped;
} kw;

/* Whether pid is the broker of kw.dir (alive, not a zombie, its command line naming the dir). */
static int kafka_alive(pid_t pid) {
  char path[64], *cmd;
  size_t len = 0;
  if (pid <= 0 || kill(pid, 0) != 0) return 0;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  char *st = read_file(path, NULL);
  const char *paren = st ? strrchr(st, ')') : NULL;
  int zombie = paren && paren[1] == ' ' && paren[2] == 'Z';
  free(st);
  if (zombie) return 0;
  snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
  if (!(cmd = read_file(path, &len))) return 1; /* not ours to read: kill() says it lives */
  for (size_t i = 0; i + 1 < len; i++)
    if (!cmd[i]) cmd[i] = ' ';
  int ours = strstr(cmd, "kafka.Kafka") && strstr(cmd, kw.dir);
  free(cmd);
  return ours;
}

static void kafka_start_again(void) {
  char cmd[8192];
  kafka_script("start --keep", kw.dir, cmd, sizeof cmd);
  pid_t pid = fork();
  if (pid < 0) {
    log_error("cannot start Kafka again: fork: %s", strerror(errno));
    kw.restart_at = mono_ms() + 5000;
    return;
  }
  if (pid == 0) {
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    signal(SIGINT, SIG_IGN);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  kw.starter = pid;
  kw.restart_at = 0;
}

/* The starter ended with status. */
static void kafka_started(int status) {
  kw.starter = 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    char path[4200];
    snprintf(path, sizeof path, "%s/bootstrap", kw.dir);
    char *b = read_file(path, NULL);
    if (b) b[strcspn(b, "\r\n")] = 0;
    if (b && !strcmp(b, kw.brokers))
      log_info("Kafka runs again at %s", b);
    else
      log_error("Kafka runs again, but at %s, not at %s where every service looks for it (its port was taken "
                "meanwhile): stop the stack (`barge down`) and start it again", b ? b : "?", kw.brokers);
    free(b);
    kw.next_look = mono_ms() + KAFKA_WATCH_MS;
    return;
  }
  int64_t now = mono_ms();
  kw.backoff_ms = backoff_next(kw.backoff_ms);
  kw.restart_at = now + kw.backoff_ms;
  log_warn("starting Kafka again failed (status %d; see %s/kafka.log); trying again in %d s",
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), kw.dir, kw.backoff_ms / 1000);
}

/* One look at the broker when due; the ms until the next is due (-1: never). */
static int64_t kafka_watch(int64_t now) {
  if (!kw.dir) return -1;
  if (kw.starter > 0) return -1; /* its end wakes the loop (SIGCHLD) */
  if (kw.restart_at > 0) {
    if (now < kw.restart_at) return kw.restart_at - now;
    kafka_start_again();
    return -1;
  }
  if (now < kw.next_look) return kw.next_look - now;
  kw.next_look = now + KAFKA_WATCH_MS;
  /* kafka.sh holds DIR/.kafka.sh.lock while it starts or stops the broker: a `kafka.sh stop`
   * removes the pid file only after the broker has exited, and a look between the two took the
   * stop for a death (and started it again). Busy: look again later. */
  char path[4200];
  snprintf(path, sizeof path, "%s/.kafka.sh.lock", kw.dir);
  int lk = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
  if (lk >= 0 && flock(lk, LOCK_EX | LOCK_NB) != 0) {
    close(lk);
    return KAFKA_WATCH_MS;
  }
  snprintf(path, sizeof path, "%s/pid", kw.dir);
  char *t = read_file(path, NULL);
  int has_pid = t != NULL;
  pid_t pid = t ? (pid_t)atoi(t) : 0;
  free(t);
  int alive = has_pid && kafka_alive(pid);
  if (lk >= 0) close(lk); /* releases the lock: kafka.sh start takes it */
  if (!has_pid) {
    if (!kw.told_stopped)
      log_warn("Kafka in %s was stopped (its pid file is gone: `scripts/kafka.sh stop`); it is left stopped: "
               "start it again with `scripts/kafka.sh start --keep --dir %s`, or stop the stack (`barge down`)",
               kw.dir, kw.dir);
    kw.told_stopped = 1;
    return KAFKA_WATCH_MS;
  }
  kw.told_stopped = 0;
  if (alive) {
    kw.backoff_ms = 0;
    return KAFKA_WATCH_MS;
  }
  log_error("Kafka (pid %d, %s) died; starting it again on its data and ports (scripts/kafka.sh start --keep; "
            "its log: %s/kafka.log)", (int)pid, kw.dir, kw.dir);
  kafka_start_again();
  return -1;
}


/* Collects every child that ended; with restart, schedules it to start again: at once after a
 * life of 10 s or more, else after a wait that doubles from 1 s up to 30 s, so that a child that
 * cannot start neither spins nor floods its log. */
static void reap(struct child *kids, int n, int restart) {
  int status, waiting = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid == kw.starter) {
      kafka_started(status);
      continue;
    }
    for (int i = 0; i <= n; i++) {
      if (kids[i].pid != pid) continue;
      kids[i].pid = 0;
      if (!restart || service_stopping()) break;
      int64_t now = mono_ms();
      struct child *k = &kids[i];
      k->backoff_ms = now - k->started >= 10000 ? 0 : backoff_next(k->backoff_ms);
      k->restart_at = now + k->backoff_ms;
      waiting += k->backoff_ms > 0;
      if (k->backoff_ms)
        log_warn("%s exited (status %d); restarting it in %d s (see %s)", k->name,
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), k->backoff_ms / 1000, k->log);
      else
        log_warn("%s exited (status %d); restarting it", k->name,
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
  }
  /* pid 0 while it waits: `barge status` says restarting, and never takes the ended process's
   * pid, which another process may get meanwhile, for the service */
  if (waiting) write_services(kids, n);
}

/* Sleeps until a signal (SIGCHLD, SIGINT, SIGTERM wake the self-pipe) or timeout_ms (-1: none). */
static void sleep_for_signal(int timeout_ms) {
  struct pollfd p = {.fd = service_wake_fd(), .events = POLLIN};
  if (poll(&p, 1, timeout_ms) < 0 && errno != EINTR) usleep(100000);
  service_wake_drain();
}

/* Restarts children that end, until SIGINT or SIGTERM. */
static void supervise(struct child *kids, int n) {
  while (!service_stopping()) {
    reap(kids, n, 1);
    int64_t now = mono_ms(), wait = kafka_watch(now);
    for (int i = 0; i <= n && !service_stopping(); i++) {
      if (!kids[i].restart_at) continue;
      if (kids[i].restart_at <= now) {
        if (spawn(&kids[i]) < 0) { /* no signal may come to wake us: try again after the backoff */
          kids[i].backoff_ms = backoff_next(kids[i].backoff_ms);
          kids[i].restart_at = now + kids[i].backoff_ms;
          log_error("cannot restart %s: fork: %s; trying again in %d s", kids[i].name, strerror(errno),
                    kids[i].backoff_ms / 1000);
          if (wait < 0 || kids[i].backoff_ms < wait) wait = kids[i].backoff_ms;
          continue;
        }
        kids[i].restarts++;
        write_services(kids, n);
      } else if (wait < 0 || kids[i].restart_at - now < wait) {
        wait = kids[i].restart_at - now;
      }
    }
    if (!service_stopping()) sleep_for_signal((int)wait);
  }
}

/* SIGTERM to a child, and SIGCONT: a stopped one (SIGSTOP, a debugger let go) would only act on
 * the SIGTERM once continued, and be SIGKILLed after the 15 s without its clean stop. */
static void terminate(pid_t pid) {
  kill(pid, SIGTERM);
  kill(pid, SIGCONT);
}

/* SIGTERM to every child (the scheduler last), SIGKILL to those alive after 15 s. The audit is
 * stopped once the others have ended, and a second later, so that its file holds their last
 * events (`barge check` after `barge down` finds it current). */
static void stop_children(struct child *kids, int n) {
  for (int i = n; i >= 0; i--)
    if (kids[i].pid > 0 && !kids[i].stop_last) terminate(kids[i].pid);
  int64_t until = mono_ms() + 15000, last_at = 0;
  int killed = 0;
  for (;;) {
    reap(kids, n, 0);
    int alive = 0, others = 0;
    for (int i = 0; i <= n; i++) {
      alive += kids[i].pid > 0;
      others += kids[i].pid > 0 && !kids[i].stop_last;
    }
    if (!alive) break;
    if (!others && !last_at) last_at = mono_ms() + 1000;
    if (last_at > 0 && mono_ms() >= last_at) {
      for (int i = 0; i <= n; i++)
        if (kids[i].pid > 0 && kids[i].stop_last) terminate(kids[i].pid);
      last_at = -1;
    }
    if (!killed && mono_ms() > until) {
      for (int i = 0; i <= n; i++)
        if (kids[i].pid > 0) kill(kids[i].pid, SIGKILL);
      killed = 1;
    }
    sleep_for_signal(100);
  }
}

/* The report of a foreground `barge up`; starting: the services still starting (NULL: none; "":
 * not known). */
static void print_banner(const struct up_opts *o, const char *home, const char *logs, const char *brokers,
                         const char *kafka_dir, const struct api_plan *api, int api_ready,
                         const struct audit_plan *audit, const char *starting) {
  printf("barge up: Kafka at %s%s\n", brokers, kafka_dir[0] ? " (started by barge up)" : "");
  print_parts(o, "barge up: ", audit);
  print_api(api, "barge up: API at ", api_ready, home);
  print_metrics("barge up: metrics of ");
  if (starting && starting[0])
    printf("barge up: still starting: %s (not ready after 30 s: see their logs; `barge status` says when they are "
           "up)\n", starting);
  else if (!starting && !o->no_metrics)
    printf("barge up: every service is ready\n");
  printf("barge up: service logs in %s, job logs in %s; `barge status` shows each service\n", home, logs);
  printf("barge up: recorded in %s/stack; in another terminal, e.g.:\n"
         "  barge create-job-queue --job-queue-name q --priority 1 --compute-environment-order order=1,computeEnvironment=%s\n"
         "Ctrl-C stops the stack.\n", home, o->ce);
  fflush(stdout);
}

/* What a foreground `barge up` reports, once the stack is ready (or 30 s have passed). */
struct banner {
  const struct up_opts *o;
  const char *home, *logs, *brokers, *kafka_dir;
  const struct api_plan *api;
  const struct audit_plan *audit;
};

/* Waits as --detach does (the API, then each service's barge_service_ready, each at most 30 s),
 * then prints the banner, so that commands run once it shows find the stack ready
 * (docs/operations.md). On a thread of its own: the supervisor meanwhile restarts what dies and
 * stops at Ctrl-C, when this ends at once without a banner. */
static void *banner_when_ready(void *arg) {
  const struct banner *b = arg;
  /* said at once: the wait may take up to a minute (the API, then the services) with nothing
   * else on the terminal */
  printf("barge up: services started; waiting for them to be ready (at most 30 s%s) before the report\n",
         b->api->on ? " for the API, 30 s for the others" : "");
  fflush(stdout);
  int ready = !b->api->on || api_wait_ready(b->api, 30000) == 0;
  char starting[1024];
  int left = stack_wait_ready(30000, starting, sizeof starting, service_stopping);
  if (!service_stopping())
    print_banner(b->o, b->home, b->logs, b->brokers, b->kafka_dir, b->api, ready, b->audit, left ? starting : NULL);
  return NULL;
}

/* Runs the stack in this process until SIGINT or SIGTERM, then stops it. 0, or 1 when the stack
 * file could not be written: a stack no command can find (`barge status`, `barge down`) is stopped
 * at once rather than run out of reach. */
static int run_stack(const struct up_opts *o, const char *home, const char *logs, const char *brokers,
                      const char *prefix, const char *kafka_dir, const struct api_plan *api,
                      const struct audit_plan *audit) {
  log_set_role("up");
  struct child *kids = xcalloc(72, sizeof *kids); /* scheduler, up to 64 agents, 4 services */
  int n = plan_children(kids, o, home, logs, brokers, prefix, api, audit);
  if (!o->no_metrics) plan_metrics(kids, n);
  service_signals(1);
  for (int i = 0; i <= n; i++) {
    if (spawn(&kids[i]) < 0) {
      log_error("cannot start %s", kids[i].name);
      service_request_stop();
    }
  }
  write_services(kids, n);
  struct buf st;
  buf_init(&st);
  buf_printf(&st, "brokers=%s\nprefix=%s\nsupervisor=%d\nlog_dir=%s\nkafka_dir=%s\ncompute_environment=%s\n"
                  "lost_after_ms=%lld\n",
             brokers, prefix, (int)getpid(), logs, kafka_dir, o->ce, (long long)o->lost_ms);
  if (api->on) buf_printf(&st, "api_endpoint=%s\napi_credentials=%s\nlog_token=%s\n", api->url, api->creds, api->log_token);
  if (audit->on) buf_printf(&st, "audit_file=%s\naudit_key=%s\n", audit->out, audit->key);
  int unrecorded = 0;
  if (stack_write((char *)st.data)) {
    log_error("cannot write %s/stack: %s; no command could find this stack (a full or read-only BARGE_HOME?): "
              "stopping it", home, strerror(errno));
    unrecorded = 1;
    service_request_stop();
  }
  buf_release(&st);
  struct banner banner = {o, home, logs, brokers, kafka_dir, api, audit};
  pthread_t banner_thread;
  int banner_started = 0;
  if (!o->detach && !service_stopping()) {
    /* the signals stay the supervisor's (this thread's): the waiter starts with them blocked */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    banner_started = pthread_create(&banner_thread, NULL, banner_when_ready, &banner) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!banner_started) {
      log_warn("cannot start a thread to wait for the services: reporting the stack before they are ready");
      print_banner(o, home, logs, brokers, kafka_dir, api, 0, audit, "");
    }
  }
  if (kafka_dir[0]) {
    kw.dir = kafka_dir;
    kw.brokers = brokers;
    kw.next_look = mono_ms() + KAFKA_WATCH_MS;
  }
  supervise(kids, n);
  if (banner_started) pthread_join(banner_thread, NULL); /* it ends within a probe (1 s) of the stop */
  log_info("stopping the stack");
  stop_children(kids, n);
  if (kw.starter > 0) { /* a start of Kafka under way: let it end, then stop what it started */
    int status;
    if (waitpid(kw.starter, &status, 0) == kw.starter) kw.starter = 0;
  }
  if (kafka_dir[0]) {
    char cmd[8192];
    kafka_script("stop", kafka_dir, cmd, sizeof cmd);
    if (system(cmd) != 0) log_warn("stopping Kafka failed");
  }
  stack_remove();
  char services[3200];
  snprintf(services, sizeof services, "%s/services", home);
  unlink(services);
  for (int i = 0; i <= n; i++)
    for (int k = 0; k < kids[i].argc; k++) free(kids[i].argv[k]);
  free(kids);
  return unrecorded;
}

/* One stack per BARGE_HOME: the supervisor holds an exclusive lock on HOME/up.lock for its whole
 * life (the descriptor is never closed; a detached supervisor inherits it across the fork, the
 * services do not across exec). Without it two `barge up` started at once both found no stack
 * file and both started a stack: the file named the last, and the other ran on out of `barge
 * down`'s reach, fencing the first one's scheduler on the same transactional id. A `barge up`
 * that finds the lock taken waits (at most UP_LOCK_WAIT_MS) for the other one's stack file, then
 * answers as for any running stack. 0 when this process may start a stack (*mine: it holds the
 * lock, so no supervisor runs, whatever the stack file says), or when the other's stack is
 * running (the caller then finds it in the stack file); else the exit status, said why. */
static int take_up_lock(const char *home, int *mine) {
  *mine = 0;
  char path[4200];
  snprintf(path, sizeof path, "%s/up.lock", home);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "barge up: cannot write %s: %s (BARGE_HOME must name a directory this user can write)\n", path,
            strerror(errno));
    return 1;
  }
  int64_t until = mono_ms() + UP_LOCK_WAIT_MS;
  int said = 0;
  while (flock(fd, LOCK_EX | LOCK_NB)) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      fprintf(stderr, "barge up: cannot lock %s: %s\n", path, strerror(errno));
      close(fd);
      return 1;
    }
    char pidtext[32];
    if (stack_get("supervisor", pidtext, sizeof pidtext) == 0 && stack_pid_alive((pid_t)atoi(pidtext))) {
      close(fd);
      return 0;
    }
    if (mono_ms() >= until) {
      fprintf(stderr, "barge up: another `barge up` in %s has been starting a stack for %d s and still has not "
              "recorded it; see %s/up.log, or stop that process\n", home, UP_LOCK_WAIT_MS / 1000, home);
      close(fd);
      return 1;
    }
    if (!said) fprintf(stderr, "barge up: another `barge up` is starting a stack in %s; waiting for it\n", home);
    said = 1;
    usleep(100000);
  }
  *mine = 1;
  return 0; /* fd stays open: the lock lasts as long as this process (and a detached supervisor) */
}

int cmd_up(int argc, char **argv) {
  struct up_opts o;
  int r = opts_parse_or_exit(&up_opts_cmd, &o, argc, argv);
  if (r >= 0) return r;
  if (o.driver && strcmp(o.driver, "local") && strcmp(o.driver, "sim")) {
    fprintf(stderr, "barge up: --driver must be local or sim\n");
    return 2;
  }
  o.explicit_driver = o.driver != NULL;
  if (o.explicit_driver && o.no_provisioner) {
    fprintf(stderr, "barge up: --driver runs a provisioner; drop --no-provisioner\n");
    return 2;
  }
  if (o.log_retention_h < 0) {
    fprintf(stderr, "barge up: --agent-log-retention-hours must be 0 (keep every log) or more, not %g\n",
            o.log_retention_h);
    return 2;
  }
  if (o.runtime && strcmp(o.runtime, "process") && strcmp(o.runtime, "podman") && strcmp(o.runtime, "docker") &&
      strcmp(o.runtime, "auto")) {
    fprintf(stderr, "barge up: --runtime must be process, podman, docker or auto, not '%s'\n", o.runtime);
    return 2;
  }
  if (o.agents < 0 || o.agents > 64 || o.vcpus < 1 || o.mem < 1) {
    fprintf(stderr, "barge up: --agents must be 0 to 64, --agent-vcpus and --agent-memory at least 1\n");
    return 2;
  }
  if (o.fresh && (o.kafka.brokers || getenv("BARGE_BROKERS"))) {
    fprintf(stderr, "barge up: --fresh empties the Kafka barge up starts; with --brokers (or BARGE_BROKERS) the "
            "Kafka is yours to empty\n");
    return 2;
  }
  const char *given = o.kafka.brokers ? o.kafka.brokers : getenv("BARGE_BROKERS");
  char berr[1024];
  if (given && *given && stack_brokers_check(o.kafka.brokers, given, berr, sizeof berr)) {
    fprintf(stderr, "barge up: %s\n", berr);
    return 2;
  }
  if ((r = load_svc_props(&o))) return r;
  if ((r = check_props(&o))) return r;
  if (!o.ce) o.ce = o.driver ? "local-managed" : "local";
  if (!o.driver) o.driver = "local";
  char home[3072], err[2048], brokers[1024], prefix[128], kafka_dir[4096] = "", logs[4200];
  stack_home(home, sizeof home);
  if (mkdir_p(home)) {
    fprintf(stderr, "barge up: cannot create %s: %s (BARGE_HOME must name a directory this user can write)\n", home,
            strerror(errno));
    return 1;
  }
  int mine;
  if ((r = take_up_lock(home, &mine))) return r;
  char pidtext[32];
  /* with the lock ours, the supervisor recorded is gone, whatever process has its pid now */
  if (!mine && stack_get("supervisor", pidtext, sizeof pidtext) == 0 && stack_pid_alive((pid_t)atoi(pidtext))) {
    char b[1024] = "";
    if (stack_get("brokers", b, sizeof b)) b[0] = 0;
    char e[512];
    int api = stack_get("api_endpoint", e, sizeof e) == 0;
    char theirs[2048] = "";
    if (!same_options((pid_t)atoi(pidtext), argc, argv, theirs, sizeof theirs)) {
      fprintf(stderr,
              "barge up: a stack is already running (pid %s, Kafka at %s%s%s), started with %s; the options given "
              "were not applied to it: `barge down`, then `barge up` with them\n",
              pidtext, b, api ? ", API at " : "", api ? e : "", theirs[0] ? theirs : "no options");
      return 1;
    }
    printf("barge up: a stack is already running (pid %s, Kafka at %s%s%s); `barge down` stops it\n", pidtext, b,
           api ? ", API at " : "", api ? e : "");
    return 0;
  }
  stack_prefix(NULL, prefix, sizeof prefix);
  if (stack_prefix_check(NULL, prefix, err, sizeof err)) {
    fprintf(stderr, "barge up: %s\n", err);
    return 2;
  }
  /* the job logs' folder before Kafka is started or written to: the agents cannot run without it */
  snprintf(logs, sizeof logs, "%s/logs", home);
  if (mkdir_p(logs)) {
    fprintf(stderr, "barge up: cannot create %s: %s\n", logs, strerror(errno));
    return 1;
  }
  struct api_plan api;
  struct audit_plan audit;
  if ((r = plan_api(&o, home, &api)) || (r = plan_audit(&o, home, &audit))) return r;
  if (api.on && plan_log_token(home, api.log_token, sizeof api.log_token)) return 1;
  if (!o.kafka.brokers && getenv("BARGE_BROKERS") && *getenv("BARGE_BROKERS")) o.kafka.brokers = getenv("BARGE_BROKERS");
  if (o.kafka.brokers) snprintf(brokers, sizeof brokers, "%s", o.kafka.brokers);
  else if (start_kafka(home, o.fresh, kafka_dir, sizeof kafka_dir, brokers, sizeof brokers)) return 1;
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "barge up: %s\n", err);
    return 1;
  }
  struct bus_conf bc = {.brokers = brokers, .prefix = prefix, .kafka_props = o.kafka.props, .client_id = "barge-up"};
  if (bus_ensure_topics(&bc, err, sizeof err) || ensure_ce(&bc, o.ce, o.explicit_driver ? o.driver : NULL, o.max_vcpus, err, sizeof err)) {
    fprintf(stderr, "barge up: %s\n", err);
    return 1;
  }
  if (o.detach && (r = detach(&o, home, logs, brokers, &api, &audit)) >= 0) return r;
  r = run_stack(&o, home, logs, brokers, prefix, kafka_dir, &api, &audit);
  for (int s = 0; s < SVC__COUNT; s++) free(o.svc_props[s]);
  free(o.cli_props);
  if (!o.detach) printf(r ? "barge up: the stack did not start (see the error above)\n" : "barge up: stopped\n");
  return r;
}
