/* replay.c: `barge replay print|rebuild|simulate`, a thin layer over consumers/replay/replay.c
 * (docs/replay.md). `barge replay --rebuild` and `barge replay --simulate` are accepted as
 * spellings of the subcommands. Exit status: 0 success (rebuild: no difference), 1 a
 * difference (rebuild) or a runtime error, 2 bad usage or input. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "opts.h"
#include "registry.h"
#include "replay.h"
#include "service.h"
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

/* ---- options: one struct, a table per subcommand, the connection rows shared ---- */

struct replay_opts {
  struct kafka_opts kafka;
  const char *registry, *topic, *from, *until, *key, *alt, *capacity;
  long long from_offset, until_offset;
  int strict, json, per_job;
};

#define R struct replay_opts
static const struct opt_spec replay_common[] = {
    OPTS_KAFKA(R, kafka),
    OPT_ROW_DOC(R, registry, "schema-registry-url", "URL", "$BARGE_SCHEMA_REGISTRY_URL",
                "Confluent-compatible schema registry"),
};
static const struct opt_spec print_rows[] = {
    OPT_INCLUDE_ROWS(R, kafka, replay_common),
    OPT_ROW_DOC(R, topic, "topic", "TOPIC", "required", "topic base name (job-events) or full name"),
    OPT_ROW(R, from, "from", "TIME", NULL, "first record timestamp to print"),
    OPT_ROW(R, until, "until", "TIME", NULL, "last record timestamp to print"),
    OPT_ROW_DOC(R, from_offset, "from-offset", "N", "the first", "first offset (in every partition; not with --from)"),
    OPT_ROW_DOC(R, until_offset, "until-offset", "N", "the last", "last offset (in every partition; not with --until)"),
    OPT_ROW(R, key, "key", "K", NULL, "only records with this key"),
};
static const struct opt_spec rebuild_rows[] = {
    OPT_INCLUDE_ROWS(R, kafka, replay_common),
    OPT_FLAG_ROW(R, strict, "strict", "a submitted job the scheduler has not handled yet counts as a difference"),
    OPT_FLAG_ROW(R, json, "json", "JSON lines: one per difference, then {\"summary\": ...}"),
};
static const struct opt_spec simulate_rows[] = {
    OPT_INCLUDE_ROWS(R, kafka, replay_common),
    OPT_ROW_DOC(R, alt, "config", "ALT.json", "the recorded one", "alternative configuration"),
    OPT_ROW_DOC(R, from, "from", "TIME", "the first recorded", "first submission to replay"),
    OPT_ROW_DOC(R, until, "until", "TIME", "the last recorded", "last submission to replay"),
    OPT_FLAG_ROW(R, json, "json", "print the report as one JSON document"),
    OPT_FLAG_ROW(R, per_job, "per-job", "also every job's recorded and simulated status, attempts and times"),
    OPT_ROW_DOC(R, capacity, "capacity-model", "M", "provisioner",
                "provisioner (the provisioner core) or replay (replay's own fleet model)"),
};
#undef R

#define NO_OFFSET LLONG_MIN /* not given */

static void replay_opts_init(void *conf) {
  struct replay_opts *o = conf;
  o->from_offset = o->until_offset = NO_OFFSET;
}

const struct opts_cmd replay_print_opts_cmd =
    OPTS_CMD("replay print", "--topic TOPIC [--from TIME|--from-offset N] [--until TIME|--until-offset N] [--key K]",
    "Prints a topic's records as JSON lines (see replay.md).", print_rows, struct replay_opts, replay_opts_init);
const struct opts_cmd replay_rebuild_opts_cmd =
    OPTS_CMD("replay rebuild", "[--strict] [--json]",
    "Rebuilds every job from barge.requests and barge.job-events and compares with barge.jobs.", rebuild_rows, struct replay_opts, replay_opts_init);
const struct opts_cmd replay_simulate_opts_cmd =
    OPTS_CMD("replay simulate", "[--config ALT.json] [--from TIME] [--until TIME] [--json] [--per-job] [--capacity-model M]",
    "Replays recorded submissions under another configuration.", simulate_rows, struct replay_opts, replay_opts_init);

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
  const struct opts_cmd *c = !strcmp(sub, "print") ? &replay_print_opts_cmd
                              : !strcmp(sub, "rebuild") ? &replay_rebuild_opts_cmd
                                                        : &replay_simulate_opts_cmd;
  struct replay_opts o;
  int r = opts_parse_or_exit(c, &o, argc - 1, argv + 1);
  if (r >= 0) return r;
  const char *topic = o.topic, *key = o.key, *alt = o.alt, *capacity = o.capacity;
  int strict = o.strict, json = o.json, per_job = o.per_job;
  int bad = 0;
  int64_t from_ms = time_opt("--from", o.from, &bad), until_ms = time_opt("--until", o.until, &bad);
  if (bad) return 2;
  /* bounds that select nothing are a mistake: said, not answered with an empty print */
  const char *what = !strcmp(sub, "print") ? "print" : "simulate";
  if (from_ms != REPLAY_NO_TIME && until_ms != REPLAY_NO_TIME && until_ms < from_ms) {
    fprintf(stderr, "barge replay %s: --until %s is before --from %s: the range is empty\n", what, o.until, o.from);
    return 2;
  }
  if ((o.from_offset != NO_OFFSET && o.from_offset < 0) || (o.until_offset != NO_OFFSET && o.until_offset < 0)) {
    fprintf(stderr, "barge replay print: %s %lld: an offset is 0 or more\n",
            o.from_offset != NO_OFFSET && o.from_offset < 0 ? "--from-offset" : "--until-offset",
            o.from_offset != NO_OFFSET && o.from_offset < 0 ? o.from_offset : o.until_offset);
    return 2;
  }
  if (o.from_offset != NO_OFFSET && o.until_offset != NO_OFFSET && o.until_offset < o.from_offset) {
    fprintf(stderr, "barge replay print: --until-offset %lld is before --from-offset %lld: the range is empty\n",
            o.until_offset, o.from_offset);
    return 2;
  }
  /* the rest of the bad usage, before any stack or broker is looked for: a missing --topic, an
   * unknown topic, a capacity model or an ALT file simulate cannot use were said only after the
   * broker answered (with none: "no stack" or "no Kafka broker answers", exit 1), and --from
   * beside --from-offset took the offset without a word */
  for (int end = 0; end < 2; end++) {
    const char *at = end ? o.until : o.from;
    long long off = end ? o.until_offset : o.from_offset;
    if (at && off != NO_OFFSET) {
      fprintf(stderr, "barge replay print: --%s %s and --%s-offset %lld both say where to %s: give one\n",
              end ? "until" : "from", at, end ? "until" : "from", off, end ? "end" : "start");
      return 2;
    }
  }
  int t = -1;
  if (!strcmp(sub, "print")) {
    char pre[128];
    stack_prefix(o.kafka.prefix, pre, sizeof pre);
    struct bus_conf names = {.prefix = pre};
    if (!topic) {
      fprintf(stderr, "barge replay print: --topic is required (e.g. --topic job-events)\n");
      return 2;
    }
    if ((t = bus_topic_by_name(&names, topic)) < 0) { /* said with the names to choose from */
      struct buf list;
      buf_init(&list);
      for (int k = 0; k < TOPIC__COUNT; k++) buf_printf(&list, "%s%s", k ? ", " : "", bus_topic_base((enum bus_topic)k));
      fprintf(stderr, "barge replay print: unknown topic '%s': give one of %s (or its full name, such as %s%s)\n",
              topic, (char *)list.data, pre, bus_topic_base(TOPIC_JOB_EVENTS));
      buf_release(&list);
      return 2;
    }
  }
  if (capacity && strcmp(capacity, "provisioner") && strcmp(capacity, "replay")) {
    fprintf(stderr, "barge replay simulate: --capacity-model is provisioner or replay, not '%s'\n", capacity);
    return 2;
  }
  if (alt) { /* read again by replay_simulate_run: a small file */
    json_error_t je;
    json_t *doc = json_load_file(alt, 0, &je);
    if (!doc) {
      if (je.line > 0) fprintf(stderr, "barge replay simulate: --config %s: %s (line %d)\n", alt, je.text, je.line);
      else fprintf(stderr, "barge replay simulate: --config: %s\n", je.text);
      return 2;
    }
    json_decref(doc);
  }
  if (o.from_offset == NO_OFFSET) o.from_offset = -1;
  if (o.until_offset == NO_OFFSET) o.until_offset = -1;
  struct service_conn conn;
  if ((r = service_connect("replay", &o.kafka, "barge-replay", 0, &conn))) return r;
  struct bus_conf bc = conn.bc;
  char err[2048], cmd[32];
  if (o.registry) registry_set_url(o.registry);
  int rc;
  /* a client command: no broker, one line within 3 s (docs/operations.md) */
  snprintf(cmd, sizeof cmd, "replay %s", sub);
  if ((r = service_require_broker(cmd, &conn))) return r;
  if (!strcmp(sub, "print")) {
    struct replay_range range;
    replay_range_init(&range);
    range.from_ms = from_ms;
    range.until_ms = until_ms;
    range.from_offset = o.from_offset;
    range.until_offset = o.until_offset;
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
