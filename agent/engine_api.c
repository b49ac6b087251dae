/* engine_api.c: Docker Engine API calls over a unix socket, and the create body (engine_api.h). */
#include "engine_api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "jsonget.h"

static size_t collect(char *p, size_t sz, size_t n, void *ud) {
  buf_append(ud, p, sz * n);
  return sz * n;
}

int engine_call(const struct engine_api *api, CURL *h, const char *method, const char *path,
                const json_t *body, json_t **resp, char *err, size_t errlen) {
  CURL *own = NULL;
  if (!h) h = own = curl_easy_init();
  if (!h) {
    snprintf(err, errlen, "curl_easy_init failed");
    return -1;
  }
  curl_easy_reset(h);
  char url[1200];
  snprintf(url, sizeof url, "http://engine/" ENGINE_API_VERSION "%s", path);
  struct buf out;
  buf_init(&out);
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, api->socket);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  if (strstr(path, "/wait") == NULL) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 120000L);
  if (text) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
  } else if (!strcmp(method, "POST")) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
  CURLcode cc = curl_easy_perform(h);
  long status = -1;
  if (cc != CURLE_OK) {
    snprintf(err, errlen, "%s %s on %s: %s", method, path, api->socket, curl_easy_strerror(cc));
  } else {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 300) snprintf(err, errlen, "HTTP %ld: %.300s", status, out.len ? (char *)out.data : "");
    if (resp) *resp = out.len ? json_loadb((const char *)out.data, out.len, 0, NULL) : NULL;
  }
  curl_slist_free_all(hdr);
  free(text);
  buf_release(&out);
  if (own) curl_easy_cleanup(own);
  return (int)status;
}

int runtime_engine_ping(const char *socket_path) {
  if (!socket_path || access(socket_path, F_OK) != 0) return 0;
  struct engine_api api;
  snprintf(api.socket, sizeof api.socket, "%s", socket_path);
  char err[256];
  return engine_call(&api, NULL, "GET", "/_ping", NULL, NULL, err, sizeof err) == 200;
}

/* ---- logs: the multiplexed stream, frame by frame: [stream, 0, 0, 0, size (4 bytes BE)] data ---- */

struct demux {
  int fd;
  unsigned char hdr[8];
  size_t hdr_got;
  size_t left; /* payload bytes left in the current frame */
};

/* 0, or -1 when the reader is gone (EPIPE: the agent is stopping). */
static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static size_t demux_cb(char *p, size_t sz, size_t n, void *ud) {
  struct demux *d = ud;
  size_t len = sz * n, i = 0;
  while (i < len) {
    if (d->left == 0) {
      d->hdr[d->hdr_got++] = (unsigned char)p[i++];
      if (d->hdr_got == 8) {
        d->hdr_got = 0;
        d->left = (size_t)d->hdr[4] << 24 | (size_t)d->hdr[5] << 16 | (size_t)d->hdr[6] << 8 | d->hdr[7];
      }
      continue;
    }
    size_t take = len - i < d->left ? len - i : d->left;
    if (write_all(d->fd, p + i, take)) return 0; /* ends the transfer */
    i += take;
    d->left -= take;
  }
  return len;
}

struct give_up {
  int (*fn)(void *);
  void *ud;
};

static int progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  struct give_up *g = ud;
  return g->fn(g->ud); /* non-zero ends the transfer (CURLE_ABORTED_BY_CALLBACK) */
}

int engine_follow_logs(const struct engine_api *api, CURL *h, const char *name, int fd, int (*give_up)(void *),
                        void *ud) {
  struct demux d = {.fd = fd};
  struct give_up g = {give_up, ud};
  char url[1200];
  snprintf(url, sizeof url, "http://engine/" ENGINE_API_VERSION "/containers/%s/logs?follow=1&stdout=1&stderr=1", name);
  curl_easy_reset(h);
  curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, api->socket);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, demux_cb);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);
  if (give_up) {
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &g);
  }
  CURLcode cc = curl_easy_perform(h);
  if (cc != CURLE_OK && cc != CURLE_WRITE_ERROR && cc != CURLE_ABORTED_BY_CALLBACK) log_warn("logs of container %s: %s", name, curl_easy_strerror(cc));
  return cc == CURLE_ABORTED_BY_CALLBACK;
}

/* ---- attach: the container's own output, before it starts ---- */

struct attach {
  struct demux d;
  long status;   /* of the answer, 0 until its status line */
  int told;      /* connected() called */
  void (*connected)(void *, int);
  int (*give_up)(void *, int64_t);
  void *ud;
  curl_off_t last_now; /* bytes at the last progress call */
  int64_t idle_since_ms;
};

static void tell(struct attach *a, int ok) {
  if (a->told) return;
  a->told = 1;
  a->connected(a->ud, ok);
}

static size_t attach_header_cb(char *p, size_t sz, size_t n, void *ud) {
  struct attach *a = ud;
  size_t len = sz * n;
  if (len >= 12 && !strncmp(p, "HTTP/", 5)) {
    const char *sp = memchr(p, ' ', len);
    a->status = sp ? strtol(sp + 1, NULL, 10) : 0;
  } else if ((len == 2 && p[0] == '\r') || (len == 1 && p[0] == '\n')) {
    tell(a, a->status >= 200 && a->status < 300); /* the end of the headers: attached, or refused */
  }
  return len;
}

static size_t attach_body_cb(char *p, size_t sz, size_t n, void *ud) {
  struct attach *a = ud;
  if (a->status < 200 || a->status >= 300) return sz * n; /* an error's body is no output */
  return demux_cb(p, sz, n, &a->d);
}

static int attach_progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  (void)dltotal, (void)ultotal, (void)ulnow;
  struct attach *a = ud;
  int64_t now = mono_ms();
  if (dlnow != a->last_now || !a->idle_since_ms) {
    a->last_now = dlnow;
    a->idle_since_ms = now;
  }
  return a->give_up(a->ud, now - a->idle_since_ms);
}

int engine_attach(const struct engine_api *api, CURL *h, const char *name, int fd, void (*connected)(void *, int),
                  int (*give_up)(void *, int64_t), void *ud) {
  struct attach a = {.d = {.fd = fd}, .connected = connected, .give_up = give_up, .ud = ud};
  char url[1200];
  snprintf(url, sizeof url, "http://engine/" ENGINE_API_VERSION "/containers/%s/attach?stream=1&stdout=1&stderr=1", name);
  curl_easy_reset(h);
  curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, api->socket);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, attach_header_cb);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, attach_body_cb);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, attach_progress_cb);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &a);
  CURLcode cc = curl_easy_perform(h);
  tell(&a, 0); /* no answer at all */
  if (cc != CURLE_OK && cc != CURLE_WRITE_ERROR && cc != CURLE_ABORTED_BY_CALLBACK) log_warn("attach to container %s: %s", name, curl_easy_strerror(cc));
  return cc == CURLE_ABORTED_BY_CALLBACK;
}

/* ---- the create body ---- */

static void add_ulimit(json_t *arr, const char *name, long long soft, long long hard) {
  json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "Name", name, "Soft", (json_int_t)soft, "Hard", (json_int_t)hard));
}

void engine_limits_of(int pid, struct engine_limits *lim) {
  struct rlimit rl;
  lim->nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY ? (long long)rl.rlim_max : 1048576;
  lim->nproc = getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_max != RLIM_INFINITY ? (long long)rl.rlim_max : 1048576;
  if (pid <= 0) return;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/limits", pid);
  char *t = read_file(path, NULL);
  for (char *l = t; l && *l;) {
    char *nl = strchr(l, '\n');
    long long *dst = !strncmp(l, "Max open files", 14) ? &lim->nofile : !strncmp(l, "Max processes", 13) ? &lim->nproc : NULL;
    if (dst) { /* "Max processes   SOFT   HARD   units" */
      char soft[32], hard[32];
      if (sscanf(l + 14, "%31s %31s", soft, hard) == 2 && strcmp(hard, "unlimited")) *dst = atoll(hard);
    }
    l = nl ? nl + 1 : NULL;
  }
  free(t);
}

/* The job's ulimits, then nofile and nproc at the engine's hard limits unless the job set them. */
static json_t *ulimits(const json_t *c, const struct engine_limits *lim) {
  json_t *out = json_array();
  int nofile = 0, nproc = 0;
  size_t i;
  json_t *u;
  json_array_foreach(json_object_get(c, "ulimits"), i, u) {
    const char *n = jget_str(u, "name");
    if (!n) continue;
    add_ulimit(out, n, jget_int(u, "softLimit", 0), jget_int(u, "hardLimit", 0));
    nofile |= !strcmp(n, "nofile");
    nproc |= !strcmp(n, "nproc");
  }
  if (!nofile) add_ulimit(out, "nofile", lim->nofile, lim->nofile);
  if (!nproc) add_ulimit(out, "nproc", lim->nproc, lim->nproc);
  return out;
}

/* volumes + mountPoints -> Binds "host:container[:ro]". 0, or 1 with why. */
static int binds(const json_t *c, json_t *hc, char *why, size_t whylen) {
  json_t *out = json_array();
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(c, "mountPoints"), i, m) {
    const char *src = jget_str(m, "sourceVolume"), *dst = jget_str(m, "containerPath");
    const char *host = NULL;
    size_t k;
    json_t *v;
    json_array_foreach(json_object_get(c, "volumes"), k, v) {
      if (src && jget_str(v, "name") && !strcmp(src, jget_str(v, "name")))
        host = jget_str(json_object_get(v, "host"), "sourcePath");
    }
    if (!host || !dst) {
      snprintf(why, whylen, "CannotStartContainerError: mountPoints[%zu]: volume %s has no host.sourcePath", i, src ? src : "(none)");
      json_decref(out);
      return 1;
    }
    json_array_append_new(out, json_sprintf("%s:%s%s", host, dst, json_is_true(json_object_get(m, "readOnly")) ? ":ro" : ""));
  }
  json_object_set_new(hc, "Binds", out);
  return 0;
}

static void linux_params(const json_t *lp, json_t *hc, int64_t mem_mib) {
  if (json_is_true(json_object_get(lp, "initProcessEnabled"))) json_object_set_new(hc, "Init", json_true());
  json_t *v;
  if (json_is_integer(v = json_object_get(lp, "sharedMemorySize")))
    json_object_set_new(hc, "ShmSize", json_integer(json_integer_value(v) * 1024 * 1024));
  if (json_is_integer(v = json_object_get(lp, "swappiness")))
    json_object_set_new(hc, "MemorySwappiness", json_integer(json_integer_value(v)));
  if (mem_mib > 0) {
    /* no swap unless maxSwap gives some, so that the memory limit is the container's limit */
    int64_t swap = json_is_integer(v = json_object_get(lp, "maxSwap")) ? json_integer_value(v) : 0;
    json_object_set_new(hc, "MemorySwap", json_integer((mem_mib + (swap > 0 ? swap : 0)) * 1024 * 1024));
  }
  json_t *tmpfs = json_object();
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(lp, "tmpfs"), i, t) {
    struct buf o;
    buf_init(&o);
    buf_printf(&o, "size=%lldm", (long long)jget_int(t, "size", 64));
    size_t k;
    json_t *x;
    json_array_foreach(json_object_get(t, "mountOptions"), k, x) if (json_is_string(x)) buf_printf(&o, ",%s", json_string_value(x));
    if (jget_str(t, "containerPath")) json_object_set_new(tmpfs, jget_str(t, "containerPath"), json_string((char *)o.data));
    buf_release(&o);
  }
  json_object_set_new(hc, "Tmpfs", tmpfs);
  json_t *devs = json_array();
  json_array_foreach(json_object_get(lp, "devices"), i, t) {
    char perm[4] = "";
    size_t k, np = 0;
    json_t *x;
    json_array_foreach(json_object_get(t, "permissions"), k, x) {
      const char *p = json_string_value(x);
      if (p && np < 3) perm[np++] = (char)(p[0] == 'R' ? 'r' : p[0] == 'W' ? 'w' : 'm');
    }
    perm[np] = 0;
    const char *hp = jget_str(t, "hostPath"), *cp = jget_str(t, "containerPath");
    json_array_append_new(devs, json_pack("{s:s, s:s, s:s}", "PathOnHost", hp ? hp : "", "PathInContainer",
                                          cp ? cp : (hp ? hp : ""), "CgroupPermissions", np ? perm : "rwm"));
  }
  json_object_set_new(hc, "Devices", devs);
}

/* The attempt's GPUs (the agent's --gpu-devices), at their own paths. */
static void gpu_devices(char **gpus, json_t *hc) {
  json_t *devs = json_object_get(hc, "Devices");
  for (char **g = gpus; g && *g; g++)
    json_array_append_new(devs, json_pack("{s:s, s:s, s:s}", "PathOnHost", *g, "PathInContainer", *g,
                                          "CgroupPermissions", "rwm"));
}

json_t *engine_create_body(const struct rt_spec *spec, const char *instance_id, const struct engine_limits *lim,
                           char *why, size_t whylen) {
  const json_t *c = spec->container;
  if (!spec->image || !*spec->image) {
    snprintf(why, whylen, RUNTIME_REASON_PULL "the job definition names no image");
    return NULL;
  }
  json_t *b = json_object(), *hc = json_object();
  json_object_set_new(b, "Image", json_string(spec->image));
  if (spec->run.argv && spec->run.argv[0]) {
    json_t *cmd = json_array();
    for (char **a = spec->run.argv; *a; a++) json_array_append_new(cmd, json_string(*a));
    json_object_set_new(b, "Cmd", cmd);
  }
  json_t *env = json_array();
  for (char **e = spec->run.envp; e && *e; e++) json_array_append_new(env, json_string(*e));
  json_object_set_new(b, "Env", env);
  if (spec->hostname && *spec->hostname) json_object_set_new(b, "Hostname", json_string(spec->hostname));
  if (jget_str(c, "user")) json_object_set_new(b, "User", json_string(jget_str(c, "user")));
  char att[16];
  snprintf(att, sizeof att, "%d", spec->run.attempt);
  json_object_set_new(b, "Labels", json_pack("{s:s, s:s, s:s}", "barge.instance", instance_id, "barge.job",
                                             spec->run.job_id, "barge.attempt", att));
  json_object_set_new(hc, "NetworkMode", json_string("host"));
  if (spec->mem_mib > 0) json_object_set_new(hc, "Memory", json_integer(spec->mem_mib * 1024 * 1024));
  if (spec->vcpus > 0) json_object_set_new(hc, "NanoCpus", json_integer((json_int_t)spec->vcpus * 1000000000));
  json_object_set_new(hc, "ReadonlyRootfs", json_boolean(json_is_true(json_object_get(c, "readonlyRootFilesystem"))));
  json_object_set_new(hc, "Privileged", json_boolean(json_is_true(json_object_get(c, "privileged"))));
  json_object_set_new(hc, "Ulimits", ulimits(c, lim));
  linux_params(json_object_get(c, "linuxParameters"), hc, spec->mem_mib);
  gpu_devices(spec->gpu_devices, hc);
  if (binds(c, hc, why, whylen)) {
    json_decref(hc);
    json_decref(b);
    return NULL;
  }
  json_object_set_new(b, "HostConfig", hc);
  return b;
}
