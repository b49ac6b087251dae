/* api.c: `barge api`: the AWS Batch REST-JSON endpoint (producers/api/), so that `aws batch
 * --endpoint-url`, boto3 and the SDKs talk to Barge. This file only parses flags, loads the
 * credentials, connects to Kafka and runs the server until SIGINT/SIGTERM. */
#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_ops.h"
#include "cmds.h"
#include "credentials.h"
#include "dash.h"
#include "http.h"
#include "logauth.h"
#include "logs_api.h"
#include "opts.h"
#include "routes.h"
#include "service.h"

struct api_opts {
  struct kafka_opts kafka;
  struct metrics_opts metrics;
  const char *listen, *cred_file, *region, *tls_cert, *tls_key, *log_token, *log_ca_bundle;
  int anonymous, no_local_logs, no_dashboard;
  int64_t threads, listen_fd;
  double rate_limit, rate_burst;
};
static const struct opt_spec api_rows[] = {
    OPT_ROW(struct api_opts, listen, "listen", "HOST:PORT", "127.0.0.1:8780", "address to serve on (port 0 picks one)"),
    OPT_ROW_DOC(struct api_opts, listen_fd, "listen-fd", "N", "none: bind --listen",
                "serve on the listening socket inherited as descriptor N, bound to --listen (`barge up` passes "
                "one, so that the address stays the stack's across restarts of the API)"),
    OPT_ROW_DOC(struct api_opts, cred_file, "credentials-file", "FILE", "none",
                "access keys in the AWS shared-credentials format (docs/api.md); requests must be signed with one"),
    OPT_FLAG_ROW(struct api_opts, anonymous, "allow-anonymous", "also accept unsigned requests (local use only)"),
    OPT_ROW_DOC(struct api_opts, region, "region", "R", "any", "the region signatures must be scoped to"),
    OPT_ROW(struct api_opts, threads, "threads", "N", "0",
            "server threads: 0 for one per connection (each has a request in flight), N for a pool of N"),
    OPT_ROW_DOC(struct api_opts, rate_limit, "rate-limit", "N", "off",
                "requests per second per access key; over it: 429 TooManyRequestsException (docs/api.md)"),
    OPT_ROW_DOC(struct api_opts, rate_burst, "rate-burst", "N", "the rate, at least 1",
                "requests an idle key may send at once under --rate-limit"),
    OPT_ROW_DOC(struct api_opts, tls_cert, "tls-cert", "FILE", "none", "serve HTTPS with this PEM certificate (chain); needs --tls-key"),
    OPT_ROW_DOC(struct api_opts, tls_key, "tls-key", "FILE", "none", "the PEM private key of --tls-cert"),
    OPT_ROW_DOC(struct api_opts, log_token, "log-token-file", "FILE", "none: unsigned fetches",
                "sign each fetch from an agent's log server with this file's secret, the one the agents have "
                "(docs/api.md, \"Job logs\")"),
    OPT_ROW_DOC(struct api_opts, log_ca_bundle, "log-ca-bundle", "FILE", "the system's authorities",
                "verify the agents' https log servers (barge agent --log-tls-cert) against these PEM certificates"),
    OPT_FLAG_ROW(struct api_opts, no_local_logs, "no-local-logs",
                 "fetch every job log from its agent's log server, even when the file is on this host"),
    OPT_FLAG_ROW(struct api_opts, no_dashboard, "no-dashboard",
                 "do not serve the web dashboard under /dashboard/ (docs/dashboard.md)"),
    OPTS_KAFKA(struct api_opts, kafka),
    OPTS_METRICS(struct api_opts, metrics),
};
const struct opts_cmd api_opts_cmd =
    OPTS_CMD("api", "[--listen HOST:PORT] (--credentials-file FILE | --allow-anonymous) [--region R]",
             "Serves the AWS Batch REST-JSON API (SigV4) over the AWS operation table.", api_rows,
             struct api_opts, NULL);

int cmd_api(int argc, char **argv) {
  struct api_opts o;
  int r = opts_parse_or_exit(&api_opts_cmd, &o, argc, argv);
  if (r >= 0) return r;
  const char *listen = o.listen, *cred_file = o.cred_file, *region = o.region;
  int anonymous = o.anonymous;
  int64_t threads = o.threads;
  if (!cred_file && !anonymous) {
    fprintf(stderr, "barge api: give --credentials-file FILE, or --allow-anonymous to accept unsigned requests\n");
    return 2;
  }
  int type = 0;
  socklen_t tl = sizeof type;
  if (o.listen_fd && (o.listen_fd < 3 || o.listen_fd > INT_MAX ||
                      getsockopt((int)o.listen_fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM)) {
    fprintf(stderr, "barge api: --listen-fd %lld is not an inherited stream socket\n", (long long)o.listen_fd);
    return 2;
  }
  if (threads < 0 || threads > 64) {
    fprintf(stderr, "barge api: --threads must be 0..64\n");
    return 2;
  }
  if (o.rate_limit < 0 || o.rate_burst < 0) {
    fprintf(stderr, "barge api: --rate-limit and --rate-burst must be positive\n");
    return 2;
  }
  log_set_role("api");
  if (service_metrics_start("api", &o.metrics)) return 1;

  char err[1024];
  struct api_credentials creds = {0};
  if (cred_file && api_credentials_load(cred_file, &creds, err, sizeof err)) {
    fprintf(stderr, "barge api: %s\n", err);
    return 2;
  }
  if (o.log_ca_bundle && access(o.log_ca_bundle, R_OK)) {
    fprintf(stderr, "barge api: --log-ca-bundle %s: %s\n", o.log_ca_bundle, strerror(errno));
    api_credentials_release(&creds);
    return 2;
  }
  size_t log_keylen = 0;
  unsigned char *log_key = o.log_token ? logauth_read_key(o.log_token, &log_keylen, err, sizeof err) : NULL;
  if (o.log_token && !log_key) {
    fprintf(stderr, "barge api: %s\n", err);
    api_credentials_release(&creds);
    return 2;
  }
  struct service_conn sv;
  if ((r = service_connect("api", &o.kafka, "barge-api", SERVICE_TOPICS | SERVICE_WAIT, &sv))) {
    api_credentials_release(&creds);
    free(log_key);
    return service_stopping() ? 0 : r;
  }
  char *cert = NULL, *key = NULL;
  if ((o.tls_cert != NULL) != (o.tls_key != NULL)) {
    fprintf(stderr, "barge api: give both --tls-cert and --tls-key, or neither\n");
    api_credentials_release(&creds);
    free(log_key);
    return 2;
  }
  if (o.tls_cert && (!(cert = read_file(o.tls_cert, NULL)) || !(key = read_file(o.tls_key, NULL)))) {
    fprintf(stderr, "barge api: cannot read %s\n", cert ? o.tls_key : o.tls_cert);
    free(cert);
    api_credentials_release(&creds);
    free(log_key);
    return 2;
  }
  struct api_ops *ops = api_ops_table_new(&sv.bc, err, sizeof err);
  if (!ops) {
    fprintf(stderr, "barge api: %s\n", err);
    free(cert);
    free(key);
    api_credentials_release(&creds);
    free(log_key);
    return 1;
  }
  struct logs_source_conf lconf = {.bc = &sv.bc, .live = api_ops_table_view(ops), .local = !o.no_local_logs,
                                   .log_key = log_key, .log_keylen = log_keylen, .log_ca_bundle = o.log_ca_bundle};
  struct logs_source *logs = logs_source_new(&lconf);
  struct api_conf conf = {
      .creds = cred_file ? &creds : NULL,
      .allow_anonymous = anonymous,
      .region = region,
      .ops = ops,
      .threads = (unsigned)threads,
      .limiter = o.rate_limit > 0 ? api_ratelimit_new(o.rate_limit, o.rate_burst > 0 ? o.rate_burst : o.rate_limit,
                                                      cred_file ? &creds : NULL)
                                  : NULL,
      .logs = logs,
      .tls_cert_pem = cert,
      .tls_key_pem = key,
      .listen_fd = (int)o.listen_fd,
  };
  const char *scheme = cert ? "https" : "http";
  /* the web dashboard: a live stream holds its connection's thread, so a pool keeps half free */
  struct dash_conf dconf = {.creds = conf.creds, .allow_anonymous = anonymous, .ops = ops,
                            .live = api_ops_table_view(ops), .logs = logs, .bc = &sv.bc, .secure = cert != NULL,
                            .max_streams = threads ? (unsigned)threads / 2 : DASH_MAX_STREAMS};
  conf.dash = o.no_dashboard ? NULL : dash_new(&dconf);
  int rc = 0;
  service_signals(0);
  signal(SIGPIPE, SIG_IGN);
  struct api_server *srv = api_server_start(&conf, listen, err, sizeof err);
  if (!srv) {
    fprintf(stderr, "barge api: %s\n", err);
    rc = 1;
    goto out;
  }
  printf("barge api: listening on %s://%s (region %s, %s; routes of %s)\n", scheme, api_server_address(srv), region ? region : "any",
         cred_file ? (anonymous ? "SigV4 or anonymous" : "SigV4") : "anonymous", api_routes_model);
  printf("  aws batch --endpoint-url %s://%s --region %s describe-job-queues\n", scheme, api_server_address(srv),
         region ? region : "us-east-1");
  if (conf.dash) /* docs/dashboard.md, "Logging in" */
    printf("  dashboard: %s://%s" DASH_PREFIX "/ (%s)\n", scheme, api_server_address(srv),
           !cred_file  ? "an empty login is an anonymous session"
           : anonymous ? "log in with a key of the credentials file, or an empty login for an anonymous session"
                       : "log in with a key of the credentials file");
  fflush(stdout);
  service_ready();
  log_info("listening on %s, %zu access key(s), topics %s*, %s", api_server_address(srv), creds.n, sv.prefix,
           threads ? "a pool of threads" : "a thread per connection");
  if (conf.limiter)
    log_info("rate limit: %g requests per second per access key, burst %g", o.rate_limit,
             o.rate_burst > 0 ? o.rate_burst : o.rate_limit);
  while (!service_stopping()) pause();
  log_info("stopping");
  api_server_stop(srv);
out:
  dash_free(conf.dash);
  logs_source_free(logs);
  api_ops_table_free(ops);
  api_ratelimit_free(conf.limiter);
  api_credentials_release(&creds);
  free(log_key);
  free(cert);
  free(key);
  service_metrics_stop();
  return rc;
}
