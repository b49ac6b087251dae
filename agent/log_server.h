/* log_server.h: `barge agent --log-listen HOST:PORT`: the agent serves its attempt logs
 * read-only over HTTP, so that `barge api` can answer CloudWatch Logs requests for jobs that ran
 * on another host (docs/api.md, "Job logs"; docs/architecture.md).
 *
 *   GET /<jobId>/<attempt>.log         the file <log dir>/<jobId>/<attempt>.log as it is now
 *   GET /<jobId>/<attempt>.log.times   its time index (agent/runner.h)
 *
 * A GET may ask for one byte range ("Range: bytes=A-" or "bytes=A-B"): 206 with those bytes, or
 * 416, the file's size in Content-Range, when A is at or past the end. That is how
 * `barge logs --follow` reads only what an attempt wrote since its last look.
 *
 * Nothing else is served (no listing, no other file: the job id is [A-Za-z0-9:_#-], the attempt
 * a number). With a token file, every request must be signed with its secret (lib/logauth.h):
 * without credentials 401, with wrong, stale or replayed ones 403, each a one-line reason, and
 * the refusals logged at most once per 10 s. Without one the server only listens on a loopback
 * address (anyone on this host may read the logs). With a certificate and key it serves HTTPS
 * (the API then verifies it against --log-ca-bundle or the system's authorities). libmicrohttpd serves it from its own
 * threads; the agent's loop is not involved. */
#ifndef BARGE_AGENT_LOG_SERVER_H
#define BARGE_AGENT_LOG_SERVER_H
#include <stddef.h>

struct log_server;
struct log_server_conf {
  const char *log_dir;
  const char *listen;     /* "HOST:PORT", port 0 picks one */
  const char *token_file; /* the secret requests are signed with; NULL: anyone, on a loopback address only */
  const char *tls_cert, *tls_key; /* PEM files: HTTPS (both or neither) */
};
/* Serves conf->log_dir on conf->listen; the URL to advertise ("http[s]://HOST:PORT", a wildcard
 * host replaced by the host name) goes into addr. NULL with the reason in err. */
struct log_server *log_server_start(const struct log_server_conf *conf, char *addr, size_t addrlen, char *err,
                                    size_t errlen);
void log_server_stop(struct log_server *s); /* NULL: no-op */
#endif
