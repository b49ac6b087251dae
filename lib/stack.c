/* stack.c: the local stack file (see stack.h). */
#include "stack.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

void stack_home(char *out, size_t n) {
  const char *h = getenv("BARGE_HOME");
  if (h && *h) {
    snprintf(out, n, "%s", h);
    return;
  }
  const char *home = getenv("HOME");
  snprintf(out, n, "%s/.barge", home && *home ? home : "/tmp");
}

static void stack_path(char *out, size_t n) {
  char home[3072];
  stack_home(home, sizeof home);
  snprintf(out, n, "%s/stack", home);
}

int stack_get(const char *key, char *out, size_t n) {
  char path[4096];
  stack_path(path, sizeof path);
  char *text = read_file(path, NULL);
  if (!text) return -1;
  int rc = -1;
  size_t kl = strlen(key);
  for (char *line = text; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    if (!strncmp(line, key, kl) && line[kl] == '=') {
      snprintf(out, n, "%s", line + kl + 1);
      rc = 0;
      break;
    }
    line = nl ? nl + 1 : NULL;
  }
  free(text);
  return rc;
}

int stack_write(const char *text) {
  char home[3072], path[4096];
  stack_home(home, sizeof home);
  if (mkdir_p(home)) return -1;
  stack_path(path, sizeof path);
  return write_file_atomic(path, text, strlen(text));
}

void stack_remove(void) {
  char path[4096];
  stack_path(path, sizeof path);
  unlink(path);
}

int stack_brokers(const char *flag, char *out, size_t n, char *err, size_t errlen) {
  if (flag && *flag) {
    snprintf(out, n, "%s", flag);
    return 0;
  }
  const char *env = getenv("BARGE_BROKERS");
  if (env && *env) {
    snprintf(out, n, "%s", env);
    return 0;
  }
  if (stack_get("brokers", out, n) == 0 && *out) return 0;
  char home[3072];
  stack_home(home, sizeof home);
  snprintf(err, errlen,
           "no stack in %s to talk to (no stack file there, no --brokers, no BARGE_BROKERS): "
           "start one with `barge up`, or pass --brokers HOST:PORT",
           home);
  return -1;
}

void stack_prefix(const char *flag, char *out, size_t n) {
  if (flag && *flag) {
    snprintf(out, n, "%s", flag);
    return;
  }
  const char *env = getenv("BARGE_TOPIC_PREFIX");
  if (env && *env) {
    snprintf(out, n, "%s", env);
    return;
  }
  if (stack_get("prefix", out, n) == 0 && *out) return;
  snprintf(out, n, "barge.");
}

/* The longest prefix taken: the callers' buffers hold 127 characters (a longer one was cut there
 * without a word), and Kafka's 249 for a topic name leave room for it and "dead-letter". */
#define PREFIX_MAX 100

int stack_prefix_check(const char *flag, const char *prefix, char *err, size_t errlen) {
  const char *env = getenv("BARGE_TOPIC_PREFIX");
  const char *from = "the topic prefix of the stack file", *raw = prefix;
  if (flag && *flag) {
    from = "--topic-prefix";
    raw = flag;
  } else if (env && *env) {
    from = "$BARGE_TOPIC_PREFIX";
    raw = env;
  }
  if (strlen(raw) > PREFIX_MAX) {
    snprintf(err, errlen, "%s: %zu characters, too long: a topic prefix has at most %d", from, strlen(raw),
             PREFIX_MAX);
    return -1;
  }
  for (const char *c = raw; *c; c++) {
    if (isalnum((unsigned char)*c) || *c == '.' || *c == '_' || *c == '-') continue;
    /* the whole character: '%c' of its first byte quoted half of a non-ASCII one */
    snprintf(err, errlen, "%s '%s': a Kafka topic name may hold only ASCII letters, digits, '.', '_' and '-', "
             "not '%.*s'", from, raw, (int)utf8_prefix_bytes(c, 1), c);
    return -1;
  }
  return 0;
}

/* One entry of a broker list: NULL when it can name a broker, else what is wrong with it. */
static const char *broker_entry_error(const char *e, size_t n) {
  const char *end = e + n, *sep = NULL;
  for (const char *c = e; c + 2 < end; c++)
    if (!memcmp(c, "://", 3)) e = c + 3; /* SSL://host:port, as librdkafka takes */
  if (e == end) return "no host";
  if (*e == '[') { /* [IPv6]:port */
    const char *close = memchr(e, ']', (size_t)(end - e));
    if (!close) return "an unclosed '['";
    if (close + 1 < end && close[1] != ':') return "something after ']' that is not :PORT";
    sep = close + 1 < end ? close + 1 : NULL;
  } else {
    sep = memchr(e, ':', (size_t)(end - e));
    if (sep == e) return "no host";
  }
  if (!sep) return NULL;
  const char *p = sep + 1;
  long port = 0;
  if (p == end) return "an empty port";
  for (; p < end; p++) {
    if (*p < '0' || *p > '9') return "a port that is not a number";
    port = port * 10 + (*p - '0');
    if (port > 65535) break;
  }
  return port < 1 || port > 65535 ? "a port outside 1-65535" : NULL;
}

int stack_brokers_check(const char *flag, const char *brokers, char *err, size_t errlen) {
  const char *env = getenv("BARGE_BROKERS");
  const char *from = flag && *flag ? "--brokers" : env && *env ? "$BARGE_BROKERS" : "the stack file's brokers";
  for (const char *e = brokers;;) {
    const char *comma = strchr(e, ',');
    size_t n = comma ? (size_t)(comma - e) : strlen(e);
    while (n && (*e == ' ' || *e == '\t')) e++, n--;
    while (n && (e[n - 1] == ' ' || e[n - 1] == '\t')) n--;
    const char *why = broker_entry_error(e, n);
    if (why) {
      snprintf(err, errlen, "%s '%s': '%.*s' has %s: give HOST:PORT[,HOST:PORT...]", from, brokers, (int)n, e, why);
      return -1;
    }
    if (!comma) return 0;
    e = comma + 1;
  }
}

int stack_pid_alive(long pid) {
  if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno != EPERM)) return 0;
  char path[64], st[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 1;
  size_t n = fread(st, 1, sizeof st - 1, f);
  fclose(f);
  st[n] = 0;
  const char *rp = strrchr(st, ')'); /* "pid (comm) S ..." */
  return !(rp && rp[1] == ' ' && rp[2] == 'Z');
}

int stack_pid_runs(long pid, const char *service) {
  if (!stack_pid_alive(pid)) return 0;
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
  size_t len = 0;
  char *cmd = read_file(path, &len); /* "barge\0SERVICE\0..." */
  int ok = cmd && len >= 6 && !strcmp(cmd, "barge") && (!service || !strcmp(cmd + 6, service));
  free(cmd);
  return ok;
}

int stack_supervisor_alive(long pid) {
  if (!stack_pid_alive(pid)) return 0;
  char home[3072], path[3200];
  stack_home(home, sizeof home);
  snprintf(path, sizeof path, "%s/up.lock", home);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1; /* no lock to tell by */
  int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd); /* (a shared lock taken is released with it) */
  return held;
}

/* A plain HTTP/1.0 request: the server closes the connection after its answer. */
char *stack_metrics_get(const char *url, int ms) {
  char host[64], rest[256] = "/";
  int port = 0;
  if (sscanf(url, "http://%63[^:/]:%d%255s", host, &port, rest) < 2 || port <= 0 || port > 65535) return NULL;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return NULL;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return NULL;
  int64_t until = mono_ms() + ms;
  struct buf b;
  buf_init(&b);
  char req[512];
  int reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s:%d\r\n\r\n", rest, host, port);
  int sent = 0, ok = 0;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) && errno != EINPROGRESS) goto out;
  for (;;) {
    int left = (int)(until - mono_ms());
    if (left <= 0) goto out;
    struct pollfd p = {fd, sent < reqlen ? POLLOUT : POLLIN, 0};
    int pr = poll(&p, 1, left);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) goto out;
    if (sent < reqlen) {
      ssize_t w = send(fd, req + sent, (size_t)(reqlen - sent), MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) goto out;
      if (w > 0) sent += (int)w;
      continue;
    }
    char chunk[4096];
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (r < 0) goto out;
    if (r == 0) {
      ok = 1;
      break;
    }
    buf_append(&b, chunk, (size_t)r);
  }
out:
  close(fd);
  if (!ok) {
    buf_release(&b);
    return NULL;
  }
  buf_append(&b, "", 1);
  return (char *)b.data;
}

double stack_metric_value(const char *text, const char *name) {
  size_t n = strlen(name);
  for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    if (!strncmp(l, name, n) && l[n] == ' ') return atof(l + n + 1);
  return -1;
}

int stack_wait_ready(int ms, char *waiting, size_t n, int (*stop)(void)) {
  char home[3072], path[3200];
  stack_home(home, sizeof home);
  snprintf(path, sizeof path, "%s/services", home);
  int64_t until = mono_ms() + ms;
  for (;;) {
    char *text = read_file(path, NULL);
    size_t at = 0;
    int left = 0;
    if (n) waiting[0] = 0;
    char *save = NULL;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line && !(stop && stop());
         line = strtok_r(NULL, "\n", &save)) {
      char *f[5] = {line, NULL, NULL, NULL, NULL}; /* name, pid, restarts, log, metrics URL */
      for (int i = 1; i < 5 && f[i - 1]; i++) {
        char *tab = strchr(f[i - 1], '\t');
        if (tab) *tab = 0, f[i] = tab + 1;
      }
      if (!f[4] || strncmp(f[4], "http://", 7)) continue; /* no endpoint: it cannot be told */
      char *m = stack_metrics_get(f[4], 1000);
      double ready = m ? stack_metric_value(m, "barge_service_ready") : 0;
      free(m);
      if (ready != 0) continue; /* 1, or absent (a service of an older barge) */
      left++;
      if (at < n) at += (size_t)snprintf(waiting + at, n - at, "%s%s", at ? ", " : "", f[0]);
    }
    free(text);
    if (!left || mono_ms() >= until || (stop && stop())) return left;
    usleep(200000);
  }
}
