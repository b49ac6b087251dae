/* replay.c: `barge replay print|rebuild|simulate`, a thin layer over consumers/replay/replay.c
 * (docs/replay.md). `barge replay --rebuild` and `barge replay --simulate` are accepted as
 * spellings of the subcommands. Exit status: 0 success (rebuild: no difference), 1 a
 * difference (rebuild) or a runtime error, 2 bad usage or input. */
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "opts.h"
#include "registry.h"
#include "replay.h"
#include "stack.h"

static const char *synopsis =
    "print --topic TOPIC [--from TIME|--from-offset N] [--until TIME|--until-offset N] [--key K]\n"
    "       barge replay rebuild [--strict] [--json]\n"
    "       barge replay simulate [--config ALT.json] [--from TIME] [--until TIME] [--json] [--per-job]\n"
    "                             [--capacity-model provisioner|replay]";

static void usage(FILE *out) {
  fprintf(out,
          "usage: barge replay %s\n\n"
          "  print     print a topic's records as JSON lines (topic, partition, offset, timestamp,\n"
          "            key, event), committed data, ordered by timestamp\n"
          "  rebuild   rebuild every job from barge.requests + barge.job-events and compare with\n"
          "            barge.jobs; prints each difference and \"N jobs checked, M differences\";\n"
          "            exit 1 when there is a difference\n"
          "  simulate  feed the recorded submissions of a time range through the scheduler and\n"
          "            provisioner cores under an alternative configuration and print makespan,\n"
          "            queue wait p50/p95/p99, peak vCPUs and cost beside what really happened\n\n"
          "TIME: 2024-01-11T23:36:40Z, 2024-01-11, or epoch seconds/milliseconds.\n"
          "Common options: --brokers HOST:PORT, --topic-prefix P, --kafka-props K=V,...,\n"
          "--schema-registry-url URL (default $BARGE_SCHEMA_REGISTRY_URL). See docs/replay.md.\n",
          synopsis);
}

static int64_t time_opt(const char *what, const char *s, int *bad) {
  if (!s) return REPLAY_NO_TIME;
  int64_t t = parse_time_ms(s);
  if (t < 0) {
    fprintf(stderr, "barge replay: %s: cannot read time '%s' (use 2024-01-11T23:36:40Z or epoch ms)\n", what, s);
    *bad = 1;
  }
  return t;
}

int cmd_replay(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *sub = argv[1];
  if (!strcmp(sub, "--rebuild")) sub = "rebuild";
  else if (!strcmp(sub, "--simulate")) sub = "simulate";
  else if (!strcmp(sub, "--print")) sub = "print";
  if (strcmp(sub, "print") && strcmp(sub, "rebuild") && strcmp(sub, "simulate")) {
    fprintf(stderr, "barge replay: unknown subcommand '%s' (print, rebuild or simulate)\n", argv[1]);
    return 2;
  }
  const char *brokers_flag = NULL, *prefix_flag = NULL, *props = NULL, *registry_flag = NULL;
  const char *topic = NULL, *from = NULL, *until = NULL, *key = NULL, *alt = NULL, *capacity = NULL;
  long long from_off = -1, until_off = -1;
  int strict = 0, json = 0, per_job = 0;
  const struct opt common[] = {
      {"brokers", "HOST:PORT", &brokers_flag, NULL, NULL, "Kafka bootstrap servers (default: the stack of `barge up`)"},
      {"topic-prefix", "P", &prefix_flag, NULL, NULL, "topic name prefix (default barge.)"},
      {"kafka-props", "K=V,...", &props, NULL, NULL, "extra librdkafka properties (TLS, SASL)"},
      {"schema-registry-url", "URL", &registry_flag, NULL, NULL, "Confluent-compatible schema registry (default $BARGE_SCHEMA_REGISTRY_URL)"},
  };
  struct opt opts[16];
  size_t n = 0;
  for (size_t i = 0; i < sizeof common / sizeof *common; i++) opts[n++] = common[i];
  char cmdname[32];
  snprintf(cmdname, sizeof cmdname, "replay %s", sub);
  if (!strcmp(sub, "print")) {
    opts[n++] = (struct opt){"topic", "TOPIC", &topic, NULL, NULL, "topic base name (job-events) or full name (required)"};
    opts[n++] = (struct opt){"from", "TIME", &from, NULL, NULL, "first record timestamp to print"};
    opts[n++] = (struct opt){"until", "TIME", &until, NULL, NULL, "last record timestamp to print"};
    opts[n++] = (struct opt){"from-offset", "N", NULL, &from_off, NULL, "first offset (in every partition)"};
    opts[n++] = (struct opt){"until-offset", "N", NULL, &until_off, NULL, "last offset (in every partition)"};
    opts[n++] = (struct opt){"key", "K", &key, NULL, NULL, "only records with this key"};
  } else if (!strcmp(sub, "rebuild")) {
    opts[n++] = (struct opt){"strict", NULL, NULL, NULL, &strict, "a submitted job the scheduler has not handled yet counts as a difference"};
    opts[n++] = (struct opt){"json", NULL, NULL, NULL, &json, "JSON lines: one per difference, then {\"summary\": ...}"};
  } else {
    opts[n++] = (struct opt){"config", "ALT.json", &alt, NULL, NULL, "alternative configuration (default: the recorded one)"};
    opts[n++] = (struct opt){"from", "TIME", &from, NULL, NULL, "first submission to replay (default: the first recorded)"};
    opts[n++] = (struct opt){"until", "TIME", &until, NULL, NULL, "last submission to replay (default: the last recorded)"};
    opts[n++] = (struct opt){"json", NULL, NULL, NULL, &json, "print the report as one JSON document"};
    opts[n++] = (struct opt){"per-job", NULL, NULL, NULL, &per_job, "also every job's recorded and simulated status, attempts and times"};
    opts[n++] = (struct opt){"capacity-model", "M", &capacity, NULL, NULL, "provisioner (the provisioner core, default) or replay (replay's own fleet model)"};
  }
  const char *sub_synopsis =
      !strcmp(sub, "print")     ? "--topic TOPIC [--from TIME|--from-offset N] [--until TIME|--until-offset N] [--key K]"
      : !strcmp(sub, "rebuild") ? "[--strict] [--json]"
                                : "[--config ALT.json] [--from TIME] [--until TIME] [--json] [--per-job] [--capacity-model M]";
  int r = opts_parse(cmdname, sub_synopsis, argc - 1, argv + 1, opts, n, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  int bad = 0;
  int64_t from_ms = time_opt("--from", from, &bad), until_ms = time_opt("--until", until, &bad);
  if (bad) return 2;
  char brokers[1024], prefix[128], err[2048];
  if (stack_brokers(brokers_flag, brokers, sizeof brokers, err, sizeof err)) {
    fprintf(stderr, "barge replay: %s\n", err);
    return 2;
  }
  stack_prefix(prefix_flag, prefix, sizeof prefix);
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "barge replay: %s\n", err);
    return 1;
  }
  if (registry_flag) registry_set_url(registry_flag);
  struct bus_conf bc = {.brokers = brokers, .prefix = prefix, .kafka_props = props, .client_id = "barge-replay"};
  int rc;
  if (!strcmp(sub, "print")) {
    if (!topic) {
      fprintf(stderr, "barge replay print: --topic is required (e.g. --topic job-events)\n");
      return 2;
    }
    int t = bus_topic_by_name(&bc, topic);
    if (t < 0) {
      fprintf(stderr, "barge replay print: unknown topic '%s'\n", topic);
      return 2;
    }
    struct replay_range range;
    replay_range_init(&range);
    range.from_ms = from_ms;
    range.until_ms = until_ms;
    range.from_offset = from_off;
    range.until_offset = until_off;
    range.key = key;
    rc = replay_print(&bc, (enum bus_topic)t, &range, stdout, NULL, err, sizeof err);
    if (rc) {
      fprintf(stderr, "barge replay print: %s\n", err);
      return 1;
    }
    return 0;
  }
  if (!strcmp(sub, "rebuild")) {
    rc = replay_rebuild_run(&bc, strict, json, stdout, err, sizeof err);
    if (rc < 0) {
      fprintf(stderr, "barge replay rebuild: %s\n", err);
      return 1;
    }
    return rc;
  }
  rc = replay_simulate_run(&bc, alt, from_ms, until_ms, json, per_job, capacity, stdout, err, sizeof err);
  if (rc) {
    fprintf(stderr, "barge replay simulate: %s\n", err);
    return rc == 2 ? 2 : 1;
  }
  return 0;
}
