/* engine_api.h: the Docker Engine REST API over a unix socket, with libcurl (runtime_engine.c),
 * and the container-create body built from an attempt (docs/containers.md, "What a job
 * definition's container members become"). */
#ifndef BARGE_AGENT_ENGINE_API_H
#define BARGE_AGENT_ENGINE_API_H
#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>

#include "runtime.h"

#define ENGINE_API_VERSION "v1.41"

struct engine_api {
  char socket[4096];
};

/* One request; body (may be NULL) is sent as JSON, the answer parsed into *resp when resp is
 * given (NULL when not JSON). h: a handle of the calling thread, or NULL for a temporary one.
 * Returns the HTTP status, or -1 with err set when the engine could not be reached. */
int engine_call(const struct engine_api *api, CURL *h, const char *method, const char *path,
                const json_t *body, json_t **resp, char *err, size_t errlen);

/* Follows container name's stdout and stderr into fd (the write end of the attempt's log pipe,
 * joblog.h; blocking writes) until the stream ends, until fd's reader is gone, or until give_up
 * (may be NULL) returns non-zero: it is asked at least once a second. podman's follow stream
 * does not always end when a short-lived container exits, so the caller waits for the exit
 * elsewhere and gives up on the stream a little after it. The engine's multiplexed stream is
 * taken apart. fd stays open. Returns 1 when give_up ended the stream, else 0. */
int engine_follow_logs(const struct engine_api *api, CURL *h, const char *name, int fd, int (*give_up)(void *),
                        void *ud);

/* Attaches to created container name's stdout and stderr (POST /containers/<name>/attach)
 * and copies them into fd as engine_follow_logs does, until the stream ends (the container
 * ended), fd's reader is gone, or give_up returns non-zero: it is asked at least once a second
 * with how long no byte has come. connected(ud, ok) is called once, from this call's thread:
 * ok 1 as soon as the engine has accepted the attach (the container may be started then, and
 * none of its output is missed), 0 when it refused or could not be reached (the call then
 * returns at once). Unlike the followed log stream, which podman 4 reads back from its log
 * file and which loses parts of a fast writer's output, the attach stream is the container's
 * output itself, with back-pressure. Returns 1 when give_up ended the stream, else 0. */
int engine_attach(const struct engine_api *api, CURL *h, const char *name, int fd, void (*connected)(void *, int),
                  int (*give_up)(void *, int64_t), void *ud);

/* The hard limits the engine's runtime may give (the engine process's own), used as the default
 * nofile and nproc ulimits: an engine's built-in defaults can exceed them (runc then refuses). */
struct engine_limits {
  long long nofile, nproc; /* 0 = unknown: the agent's own */
};

/* Reads the hard nofile and nproc limits of process pid (0 = the agent) into lim. */
void engine_limits_of(int pid, struct engine_limits *lim);

/* The body of POST /containers/create for spec: image, command, environment, hostname, user,
 * limits, host network, mounts, ulimits (nofile and nproc default to lim), linuxParameters,
 * labels. NULL with the reason ("CannotPullContainerError: ..." or "CannotStartContainerError:
 * ...") in why. */
json_t *engine_create_body(const struct rt_spec *spec, const char *instance_id, const struct engine_limits *lim,
                           char *why, size_t whylen);

#endif
