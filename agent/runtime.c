/* runtime.c: choosing the agent's runtime, and what every runtime shares: a Placement turned
 * into an rt_spec, the agent's policy, the local secret store (runtime.h). */
#include "runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonget.h"
#include "stack.h"

#define O struct runtime_opts
const struct opt_spec runtime_opt_rows[RUNTIME_OPT_ROWS] = {
    OPT_ROW(O, kind, "runtime", "podman|docker|process|auto", "auto",
            "how jobs run: containers of a podman or docker engine, or host processes; auto = the first engine found, else process (docs/containers.md)"),
    OPT_ROW_DOC(O, engine_socket, "engine-socket", "PATH", "docker: /var/run/docker.sock; podman: a service the agent starts",
                "the engine's Docker API unix socket"),
    OPT_ROW_DOC(O, secrets_dir, "secrets-dir", "DIR", "$BARGE_HOME/secrets",
                "the local secret store: one file per secret, named as the secret's ARN ends"),
    OPT_ROW_DOC(O, cgroup_root, "cgroup-root", "DIR", "/sys/fs/cgroup",
                "process runtime: the cgroup tree for CPU and memory limits; none = no limits"),
    OPT_FLAG_ROW(O, allow_privileged, "allow-privileged", "run job definitions with privileged true (refused otherwise)"),
    OPT_FLAG_ROW(O, allow_devices, "allow-devices", "give jobs the host devices their linuxParameters.devices name (refused otherwise)"),
    OPT_FLAG_ROW(O, allow_root, "allow-root", "run job definitions whose user is root or 0 (refused otherwise)"),
    OPT_ROW(O, gpu_devices, "gpu-devices", "PATH,...", NULL,
            "the GPUs' device files: a job asking for n GPUs gets n free ones (and NVIDIA_VISIBLE_DEVICES); list as many as --gpus"),
};
#undef O

void runtime_conf_from_opts(struct runtime_conf *rc, const struct runtime_opts *o,
                            const struct runner_conf *runner, const char *instance_id,
                            const char *state_dir) {
  memset(rc, 0, sizeof *rc);
  rc->runner = *runner;
  rc->kind = o->kind;
  rc->engine_socket = o->engine_socket;
  rc->secrets_dir = o->secrets_dir;
  rc->cgroup_root = o->cgroup_root;
  rc->allow_privileged = o->allow_privileged;
  rc->allow_devices = o->allow_devices;
  rc->allow_root = o->allow_root;
  rc->gpu_devices = o->gpu_devices;
  rc->instance_id = instance_id;
  rc->state_dir = state_dir;
}

/* 1 if an executable named name is on the agent's PATH. */
static int on_path(const char *name) {
  const char *path = getenv("PATH");
  if (!path) path = RUNNER_DEFAULT_PATH;
  char buf[4096];
  for (const char *p = path; *p;) {
    const char *c = strchr(p, ':');
    size_t n = c ? (size_t)(c - p) : strlen(p);
    snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, name);
    if (n && access(buf, X_OK) == 0) return 1;
    if (!c) break;
    p = c + 1;
  }
  return 0;
}

struct runtime *runtime_new(const struct runtime_conf *conf, char *err, size_t errlen) {
  const char *kind = conf->kind && *conf->kind ? conf->kind : "process";
  if (!strcmp(kind, "auto")) {
    if (conf->engine_socket && runtime_engine_ping(conf->engine_socket))
      kind = "docker";
    else if (runtime_engine_ping("/var/run/docker.sock"))
      kind = "docker";
    else if (on_path("podman"))
      kind = "podman";
    else {
      log_warn("no container engine found (no docker socket answers, no podman on PATH): jobs run "
               "as host processes (--runtime process)");
      kind = "process";
    }
  }
  struct runtime *rt = xcalloc(1, sizeof *rt);
  rt->conf = *conf;
  if (!conf->secrets_dir) {
    char home[3072];
    stack_home(home, sizeof home);
    snprintf(rt->secrets, sizeof rt->secrets, "%s/secrets", home);
    rt->conf.secrets_dir = rt->secrets;
  }
  snprintf(rt->name, sizeof rt->name, "%s", kind);
  if (!strcmp(kind, "process")) {
    rt->ops = &runtime_process_ops;
    rt->impl = runtime_process_new(conf, err, errlen);
  } else if (!strcmp(kind, "podman") || !strcmp(kind, "docker")) {
    rt->ops = &runtime_engine_ops;
    rt->impl = runtime_engine_new(conf, kind, err, errlen);
  } else {
    snprintf(err, errlen, "--runtime %s: expected podman, docker, process or auto", kind);
  }
  if (!rt->impl) {
    free(rt);
    return NULL;
  }
  for (const char *p = conf->gpu_devices; p && *p;) {
    const char *c = strchr(p, ',');
    size_t n = c ? (size_t)(c - p) : strlen(p);
    if (n) {
      rt->gpus = xrealloc(rt->gpus, sizeof *rt->gpus * (size_t)(rt->ngpus + 1));
      rt->gpus[rt->ngpus] = xmalloc(n + 1);
      memcpy(rt->gpus[rt->ngpus], p, n);
      rt->gpus[rt->ngpus++][n] = 0;
    }
    p = c ? c + 1 : p + n;
  }
  rt->gpu_holder = xcalloc((size_t)rt->ngpus + 1, sizeof *rt->gpu_holder);
  return rt;
}

void runtime_free(struct runtime *rt) {
  if (!rt) return;
  rt->ops->free(rt->impl);
  for (int i = 0; i < rt->ngpus; i++) {
    free(rt->gpus[i]);
    free(rt->gpu_holder[i]);
  }
  free(rt->gpus);
  free(rt->gpu_holder);
  free(rt);
}

int runtime_kill(struct runtime *rt, const char *job_id, int attempt, const char *reason) {
  return rt->ops->kill(rt->impl, job_id, attempt, reason);
}
int runtime_kill_all(struct runtime *rt, const char *reason) { return rt->ops->kill_all(rt->impl, reason); }
/* The GPUs job#attempt holds go back to the pool. */
static void release_gpus(struct runtime *rt, const char *job, int attempt) {
  char key[600];
  snprintf(key, sizeof key, "%.500s#%d", job, attempt);
  for (int i = 0; i < rt->ngpus; i++)
    if (rt->gpu_holder[i] && !strcmp(rt->gpu_holder[i], key)) {
      free(rt->gpu_holder[i]);
      rt->gpu_holder[i] = NULL;
    }
}

/* An attempt's terminal event gives its GPUs back. */
static void on_event(void *ctx, const struct run_event *ev) {
  struct runtime *rt = ctx;
  if (ev->kind != RUN_STARTED && rt->ngpus) release_gpus(rt, ev->job_id, ev->attempt);
  rt->cb(rt->cb_ctx, ev);
}

int runtime_poll(struct runtime *rt, int64_t now_mono_ms, run_event_fn cb, void *ctx) {
  rt->cb = cb;
  rt->cb_ctx = ctx;
  return rt->ops->poll(rt->impl, now_mono_ms, on_event, rt);
}
int runtime_active(const struct runtime *rt) { return rt->ops->active(rt->impl); }

/* ---- policy ---- */

/* The user part of "user[:group]" is root by name, or a number the engine reads as 0: it parses
 * numbers as Go's strconv.Atoi does, so "00", "+0" and "-0" are uid 0 too. */
static int is_root_user(const char *u) {
  if (!u) return 0;
  size_t n = strcspn(u, ":");
  if (n == 4 && !strncmp(u, "root", 4)) return 1;
  size_t i = u[0] == '+' || u[0] == '-';
  if (i == n) return 0;
  for (; i < n; i++)
    if (u[i] != '0') return 0;
  return 1;
}

int runtime_policy_check(const struct runtime_conf *conf, const json_t *container, char *why,
                         size_t whylen) {
  json_t *p = json_object_get(container, "privileged");
  if (json_is_true(p) && !conf->allow_privileged) {
    snprintf(why, whylen, "CannotStartContainerError: privileged containers are not allowed on this "
             "agent (start it with --allow-privileged)");
    return 1;
  }
  json_t *lp = json_object_get(container, "linuxParameters");
  if (json_array_size(json_object_get(lp, "devices")) && !conf->allow_devices) {
    snprintf(why, whylen, "CannotStartContainerError: host devices (linuxParameters.devices) are "
             "not allowed on this agent (start it with --allow-devices)");
    return 1;
  }
  if (is_root_user(jget_str(container, "user")) && !conf->allow_root) {
    snprintf(why, whylen, "CannotStartContainerError: user %s: running as root is not allowed on "
             "this agent (start it with --allow-root)", jget_str(container, "user"));
    return 1;
  }
  return 0;
}

/* ---- secrets ---- */

char *runtime_secret_read(const char *dir, const char *value_from, char *why, size_t whylen) {
  /* arn:aws:secretsmanager:R:A:secret:NAME, arn:aws:ssm:R:A:parameter/NAME, or NAME */
  const char *name = value_from;
  const char *c = strrchr(value_from, ':'), *s = strrchr(value_from, '/');
  if (s && (!c || s > c)) name = s + 1;
  else if (c) name = c + 1;
  if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
    snprintf(why, whylen, "ResourceInitializationError: secret %s: not a secret name", value_from);
    return NULL;
  }
  if (!dir) {
    snprintf(why, whylen, "ResourceInitializationError: secret %s: this agent has no secret store", value_from);
    return NULL;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t len = 0;
  char *v = read_file(path, &len);
  if (!v) {
    snprintf(why, whylen, "ResourceInitializationError: secret %s: no such secret in the local "
             "store (%s: %s)", value_from, path, strerror(errno));
    return NULL;
  }
  if (len && v[len - 1] == '\n') { /* a file's last newline (\n or \r\n), as an editor or echo ends it; one only */
    v[--len] = 0;
    if (len && v[len - 1] == '\r') v[--len] = 0;
  }
  return v;
}

/* ---- a Placement into an rt_spec ---- */

struct strv {
  char **v;
  size_t n, cap;
};

static void strv_push(struct strv *s, char *x) {
  if (s->n + 2 > s->cap) {
    s->cap = s->cap ? s->cap * 2 : 16;
    s->v = xrealloc(s->v, s->cap * sizeof *s->v);
  }
  s->v[s->n++] = x;
  s->v[s->n] = NULL;
}

static void strv_free(struct strv *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
}

static char *kv(const char *n, const char *v) {
  size_t len = strlen(n) + strlen(v) + 2;
  char *s = xmalloc(len);
  snprintf(s, len, "%s=%s", n, v);
  return s;
}

/* The environment: the placement's (with AWS_BATCH_*), then the secrets. 0, or 1 with why. */
static int build_env(const struct runtime *rt, const json_t *p, const json_t *container,
                     struct strv *env, char *why, size_t whylen) {
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(p, "environment"), i, e) {
    const char *n = jget_str(e, "name"), *v = jget_str(e, "value");
    strv_push(env, kv(n ? n : "", v ? v : ""));
  }
  json_array_foreach(json_object_get(container, "secrets"), i, e) {
    const char *n = jget_str(e, "name"), *from = jget_str(e, "valueFrom");
    char *v = runtime_secret_read(rt->conf.secrets_dir, from ? from : "", why, whylen);
    if (!v) return 1;
    strv_push(env, kv(n ? n : "", v));
    free(v);
  }
  return 0;
}

/* Hands n free GPUs to job#attempt: their device files into devs (NULL-terminated, n + 1
 * slots) and NVIDIA_VISIBLE_DEVICES (their indices) into env. 0, or 1 with why when fewer are
 * free. */
static int take_gpus(struct runtime *rt, const char *job, int attempt, int n, char **devs,
                     struct strv *env, char *why, size_t whylen) {
  int free_n = 0;
  for (int i = 0; i < rt->ngpus; i++) free_n += rt->gpu_holder[i] == NULL;
  if (free_n < n) {
    snprintf(why, whylen, "CannotStartContainerError: %d GPU(s) asked, %d free of the %d this agent lists "
             "(--gpu-devices)", n, free_n, rt->ngpus);
    return 1;
  }
  char key[600];
  snprintf(key, sizeof key, "%.500s#%d", job, attempt);
  struct buf vis;
  buf_init(&vis);
  int k = 0;
  for (int i = 0; i < rt->ngpus && k < n; i++) {
    if (rt->gpu_holder[i]) continue;
    rt->gpu_holder[i] = xstrdup(key);
    devs[k++] = rt->gpus[i];
    buf_printf(&vis, "%s%d", k > 1 ? "," : "", i);
  }
  devs[k] = NULL;
  strv_push(env, kv("NVIDIA_VISIBLE_DEVICES", (char *)vis.data));
  buf_release(&vis);
  return 0;
}

int runtime_place(struct runtime *rt, const json_t *p, const char *log_path, char *why,
                  size_t whylen) {
  const char *stored = jget_str(p, "containerJson");
  json_t *container = json_loads(stored && *stored ? stored : "{}", 0, NULL);
  if (!json_is_object(container)) {
    json_decref(container);
    container = json_object();
  }
  struct strv argv = {0}, env = {0};
  int rc = 1, ngpu = (int)jget_int(p, "gpus", 0);
  char **gpu_devs = ngpu > 0 && rt->ngpus ? xcalloc((size_t)ngpu + 1, sizeof *gpu_devs) : NULL;
  if (runtime_policy_check(&rt->conf, container, why, whylen)) goto out;
  if (build_env(rt, p, container, &env, why, whylen)) goto out;
  if (gpu_devs && take_gpus(rt, jget_str(p, "jobId"), (int)jget_int(p, "attempt", 0), ngpu, gpu_devs, &env, why, whylen))
    goto out;
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(p, "command"), i, x) strv_push(&argv, xstrdup(json_string_value(x) ? json_string_value(x) : ""));
  if (!argv.n && rt->ops == &runtime_process_ops) {
    snprintf(why, whylen, "CannotStartContainerError: the job has no command");
    goto out;
  }
  const char *task = jget_str(p, "taskId");
  char host[16];
  snprintf(host, sizeof host, "%.12s", task && *task ? task : "barge-job");
  struct rt_spec spec = {
      .run = {.job_id = jget_str(p, "jobId"),
              .attempt = (int)jget_int(p, "attempt", 0),
              .argv = argv.v,
              .envp = env.v,
              .log_path = log_path,
              .timeout_ms = jget_int(p, "timeoutSeconds", 0) * 1000},
      .image = jget_str(p, "image") ? jget_str(p, "image") : "",
      .hostname = host,
      .vcpus = (int)jget_int(p, "vcpus", 0),
      .mem_mib = jget_int(p, "memoryMib", 0),
      .container = container,
      .gpu_devices = gpu_devs,
  };
  int r = rt->ops->start(rt->impl, &spec, why, whylen);
  if (r && r != -EEXIST) { /* full, or a bad spec: refused, and said so, or the job would stay STARTING */
    char detail[768];
    snprintf(detail, sizeof detail, "%s", why);
    snprintf(why, whylen, "CannotStartContainerError: %s", detail);
  }
  rc = r == 0 ? 0 : r == -EEXIST ? -1 : 1;
out:
  if (rc && gpu_devs) release_gpus(rt, jget_str(p, "jobId"), (int)jget_int(p, "attempt", 0)); /* no event will */
  strv_free(&argv);
  strv_free(&env);
  free(gpu_devs);
  json_decref(container);
  return rc;
}
