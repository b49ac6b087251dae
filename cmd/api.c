/* api.c: `barge api`: the AWS Batch REST-JSON endpoint (producers/api/), so that `aws batch
 * --endpoint-url`, boto3 and the SDKs talk to Barge. This file only parses flags, loads the
 * credentials, connects to Kafka and runs the server until SIGINT/SIGTERM. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_ops.h"
#include "cmds.h"
#include "credentials.h"
#include "http.h"
#include "opts.h"
#include "routes.h"
#include "stack.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

int cmd_api(int argc, char **argv) {
  const char *listen = "127.0.0.1:8780", *cred_file = NULL, *region = NULL, *brokers = NULL, *prefix = NULL,
             *kafka_props = NULL;
  int anonymous = 0;
  long long threads = 4;
  const struct opt opts[] = {
      {"listen", "HOST:PORT", &listen, NULL, NULL, "address to serve on (default 127.0.0.1:8780; port 0 picks one)"},
      {"credentials-file", "FILE", &cred_file, NULL, NULL,
       "access keys in the AWS shared-credentials format (docs/api.md); requests must be signed with one"},
      {"allow-anonymous", NULL, NULL, NULL, &anonymous, "also accept unsigned requests (local use only)"},
      {"region", "R", &region, NULL, NULL,
       "the region signatures must be scoped to (default: any)"},
      {"threads", "N", NULL, &threads, NULL, "server threads (default 4)"},
      {"brokers", "HOST:PORT", &brokers, NULL, NULL, "Kafka bootstrap servers (default: the stack of `barge up`)"},
      {"topic-prefix", "P", &prefix, NULL, NULL, "topic name prefix (default barge.)"},
      {"kafka-props", "K=V,...", &kafka_props, NULL, NULL, "extra librdkafka properties"},
  };
  const char *synopsis = "[--listen HOST:PORT] (--credentials-file FILE | --allow-anonymous) [--region R]";
  int r = opts_parse("api", synopsis, argc, argv, opts, sizeof opts / sizeof *opts, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  if (!cred_file && !anonymous) {
    fprintf(stderr, "barge api: give --credentials-file FILE, or --allow-anonymous to accept unsigned requests\n");
    return 2;
  }
  if (threads < 1 || threads > 64) {
    fprintf(stderr, "barge api: --threads must be 1..64\n");
    return 2;
  }
  log_set_role("api");

  char err[1024];
  struct api_credentials creds = {0};
  if (cred_file && api_credentials_load(cred_file, &creds, err, sizeof err)) {
    fprintf(stderr, "barge api: %s\n", err);
    return 2;
  }
  struct service sv;
  if ((r = service_connect("api", brokers, prefix, kafka_props, "barge-api", 1, &sv))) {
    api_credentials_release(&creds);
    return r;
  }
  struct api_ops *ops = api_ops_cli_new(&sv.bc);
  struct api_conf conf = {
      .creds = cred_file ? &creds : NULL,
      .allow_anonymous = anonymous,
      .region = region,
      .ops = ops,
      .threads = (unsigned)threads,
  };
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  struct api_server *srv = api_server_start(&conf, listen, err, sizeof err);
  if (!srv) {
    fprintf(stderr, "barge api: %s\n", err);
    api_ops_cli_free(ops);
    api_credentials_release(&creds);
    return 1;
  }
  printf("barge api: listening on http://%s (region %s, %s; routes of %s)\n", api_server_address(srv),
         region ? region : "any",
         cred_file ? (anonymous ? "SigV4 or anonymous" : "SigV4") : "anonymous", api_routes_model);
  printf("  aws batch --endpoint-url http://%s --region %s describe-job-queues\n", api_server_address(srv),
         region ? region : "us-east-1");
  fflush(stdout);
  log_info("listening on %s, %zu access key(s), topics %s*", api_server_address(srv), creds.n, sv.prefix);
  while (!stop_flag) pause();
  log_info("stopping");
  api_server_stop(srv);
  api_ops_cli_free(ops);
  api_credentials_release(&creds);
  return 0;
}
