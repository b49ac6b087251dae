/* runtime.h: how the agent runs an attempt. One interface, three runtimes (docs/containers.md):
 *
 * - process (runtime_process.c): the job's command as a host process (runner.c), its limits
 *   enforced with a cgroup of its own (cgroup.c, v1 or v2): VCPU -> CPU quota, MEMORY ->
 *   memory limit; the image and the isolation members are not used.
 * - podman, docker (runtime_engine.c): the job in a container from the engine's local image,
 *   driven through the Docker Engine REST API over the engine's unix socket (podman serves it
 *   with `podman system service`): one code path for both.
 *
 * Every runtime reports the runner's facts (runner.h: STARTED, then one of EXITED,
 * FAILED_TO_START, TIMED_OUT, KILLED), with the container conventions: exit 128+N after signal
 * N; an attempt killed for its memory ends EXITED with exit 137 and the reason
 * RUNTIME_REASON_OOM; an image the engine does not hold fails to start with
 * "CannotPullContainerError: ...". Timeouts and kills stop everything in the attempt (the
 * container, or the cgroup's processes), not only its leader.
 *
 * runtime_place turns a Placement (AgentCommand.avsc) into an attempt: the command, the
 * environment with secrets resolved from the agent's local secret store, the limits and the
 * container members (containerJson); the agent's policy (privileged, host devices, root) is
 * applied here, so a refused placement fails to start with the reason. */
#ifndef BARGE_AGENT_RUNTIME_H
#define BARGE_AGENT_RUNTIME_H
#include <jansson.h>

#include "opts.h"
#include "runner.h"

#define RUNTIME_REASON_OOM "OutOfMemoryError: Container killed due to memory usage"
#define RUNTIME_REASON_PULL "CannotPullContainerError: "

struct runtime_conf {
  struct runner_conf runner; /* log_dir, kill grace, max jobs, run_as_user (process runtime) */
  const char *kind;          /* "process", "podman", "docker" or "auto" */
  const char *engine_socket; /* the engine's API socket; NULL = docker's default, or (podman) a
                                `podman system service` the agent starts on state_dir/podman.sock */
  const char *state_dir;     /* the agent's state folder */
  const char *instance_id;   /* labels the containers, names the cgroups */
  const char *secrets_dir;   /* the local secret store: one file per secret */
  const char *cgroup_root;   /* process runtime: NULL = /sys/fs/cgroup; "none" = no cgroups */
  int allow_privileged, allow_devices, allow_root;
  const char *gpu_devices;   /* "PATH,PATH,...": the GPUs' device files, handed out per attempt */
};

/* The agent's runtime options (`barge agent --runtime ...`; rows in runtime_opt_rows). */
struct runtime_opts {
  const char *kind, *engine_socket, *secrets_dir, *cgroup_root, *gpu_devices;
  int allow_privileged, allow_devices, allow_root;
};
#define RUNTIME_OPT_ROWS 8
extern const struct opt_spec runtime_opt_rows[RUNTIME_OPT_ROWS];
/* A runtime_conf from the options and the agent's other settings (strings borrowed). */
void runtime_conf_from_opts(struct runtime_conf *rc, const struct runtime_opts *o,
                            const struct runner_conf *runner, const char *instance_id,
                            const char *state_dir);

/* One attempt to start. */
struct rt_spec {
  struct run_spec run;     /* argv (NULL/empty: the image's own command), envp, log_path, timeout */
  const char *image;       /* "" = none */
  const char *hostname;    /* the container's hostname (the task id's head) */
  int vcpus;               /* CPU quota in whole vCPUs; 0 = none */
  int64_t mem_mib;         /* memory limit; 0 = none */
  const json_t *container; /* containerJson: volumes, mountPoints, user, ulimits, ... (object) */
  char **gpu_devices;      /* NULL-terminated device files given to the attempt, or NULL */
};

struct runtime_ops {
  int (*start)(void *impl, const struct rt_spec *spec, char *err, size_t errlen);
  int (*kill)(void *impl, const char *job_id, int attempt, const char *reason);
  int (*kill_all)(void *impl, const char *reason);
  int (*poll)(void *impl, int64_t now_mono_ms, run_event_fn cb, void *ctx);
  int (*active)(const void *impl);
  void (*free)(void *impl);
};

struct runtime {
  const struct runtime_ops *ops;
  void *impl;
  char name[16]; /* "process", "podman" or "docker" */
  struct runtime_conf conf;
  char secrets[3200]; /* the default secrets_dir */
  /* GPUs: the device files (from conf.gpu_devices) and who holds each ("jobId#attempt" or NULL) */
  char **gpus;
  char **gpu_holder;
  int ngpus;
  run_event_fn cb; /* the caller's, while runtime_poll runs */
  void *cb_ctx;
};

/* The runtime conf->kind names ("auto": an engine that answers, else podman when installed, else
 * process with a warning). NULL with the reason in err. */
struct runtime *runtime_new(const struct runtime_conf *conf, char *err, size_t errlen);
void runtime_free(struct runtime *rt);

/* Starts the attempt a Placement describes, its log at log_path. 0 = accepted (events follow
 * through runtime_poll); 1 = refused before starting: the reason ("CannotStartContainerError:
 * ...", "CannotPullContainerError: ..." or "ResourceInitializationError: ...") in why, to be
 * reported as FAILED_TO_START (also when the runtime refuses it: --max-jobs attempts already
 * alive, "CannotStartContainerError: ..."); -1 = that attempt is alive already (its events follow),
 * detail in why. */
int runtime_place(struct runtime *rt, const json_t *placement, const char *log_path, char *why,
                  size_t whylen);

int runtime_kill(struct runtime *rt, const char *job_id, int attempt, const char *reason);
int runtime_kill_all(struct runtime *rt, const char *reason);
int runtime_poll(struct runtime *rt, int64_t now_mono_ms, run_event_fn cb, void *ctx);
int runtime_active(const struct runtime *rt);

/* Constructors of the runtimes (runtime_process.c, runtime_engine.c). */
void *runtime_process_new(const struct runtime_conf *conf, char *err, size_t errlen);
extern const struct runtime_ops runtime_process_ops;
/* engine: "podman" or "docker"; socket NULL as in runtime_conf. */
void *runtime_engine_new(const struct runtime_conf *conf, const char *engine, char *err,
                         size_t errlen);
extern const struct runtime_ops runtime_engine_ops;
/* 1 if a Docker-API engine answers _ping on the unix socket path. */
int runtime_engine_ping(const char *socket_path);

/* Policy and secrets (runtime.c), exposed for the unit tests. */
/* 0 = allowed; else 1 with "CannotStartContainerError: ..." in why. */
int runtime_policy_check(const struct runtime_conf *conf, const json_t *container, char *why,
                         size_t whylen);
/* Reads secret `value_from` (an ARN's last name, or a plain name) from dir: a new string, or
 * NULL with the reason in why. */
char *runtime_secret_read(const char *dir, const char *value_from, char *why, size_t whylen);

#endif
