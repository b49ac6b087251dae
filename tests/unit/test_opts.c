/* test_opts.c: the option tables (lib/opts.c): defaults from the table and from a conf_init,
 * each field type, included rows, --name=value, flags, positionals, unknown flags, missing and
 * malformed values, --help, the markdown of docs/configuration.md, and the direct-target tables. */
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>

#include "check.h"
#include "opts.h"

struct core_conf {
  int64_t lost_ms;
  size_t dedup;
};

struct t_opts {
  struct kafka_opts kafka;
  struct metrics_opts metrics;
  const char *name, *mode, *file;
  int64_t tick_ms;
  int count;
  double scale;
  unsigned long long seed;
  int verbose;
  int retention_h;
  struct core_conf core;
};

static void t_init(void *conf) {
  struct t_opts *o = conf;
  o->core.lost_ms = 30000; /* the core's own default, not repeated in the table */
  o->core.dedup = 1024;
}

#define T struct t_opts
static const struct opt_spec t_rows[] = {
    OPTS_KAFKA(T, kafka),
    OPTS_METRICS(T, metrics),
    OPT_ROW(T, name, "name", "NAME", NULL, "a name"),
    OPT_ROW(T, mode, "mode", "a|b", "a", "the mode"),
    OPT_ROW(T, tick_ms, "tick-ms", "MS", "1000", "tick"),
    OPT_ROW_MIN(T, count, "count", "N", "3", -2, "count"),
    OPT_ROW(T, scale, "scale", "F", "1.5", "scale"),
    OPT_ROW(T, seed, "seed", "N", "7", "seed"),
    OPT_FLAG_ROW(T, verbose, "verbose", "say more"),
    OPT_ROW(T, retention_h, "agent-log-retention-hours", "H", "0", "keep logs"),
    OPT_ROW(T, core.lost_ms, "lost-ms", "MS", NULL, "lost after"),
    OPT_ROW_DOC(T, core.dedup, "dedup", "N", "a power of two", "remembered ids"),
    OPT_ROW_DOC(T, file, "file", "FILE", "required", "the file"),
};
#undef T
static const struct opts_cmd t_cmd = {"tcmd", "[options]", "A test command.", t_rows,
                                      sizeof t_rows / sizeof *t_rows, sizeof(struct t_opts), t_init};

/* Runs opts_parse_cmd on argv with stdout and stderr captured into out. */
static int run(struct t_opts *o, char **argv, int argc, char *out, size_t n, const char **pos,
               int *npos, int maxpos) {
  fflush(stdout);
  fflush(stderr);
  FILE *tmp = tmpfile();
  int so = dup(1), se = dup(2);
  dup2(fileno(tmp), 1);
  dup2(fileno(tmp), 2);
  int rc = opts_parse_cmd(&t_cmd, o, argc, argv, pos, npos, maxpos);
  fflush(stdout);
  fflush(stderr);
  dup2(so, 1);
  dup2(se, 2);
  close(so);
  close(se);
  rewind(tmp);
  size_t len = fread(out, 1, n - 1, tmp);
  out[len] = 0;
  fclose(tmp);
  return rc;
}

/* Checks o's mode and number fields against want's. */
static void expect_fields(const struct t_opts *o, const struct t_opts *want) {
  CHECK_STR(o->mode, want->mode);
  CHECK_INT(o->tick_ms, want->tick_ms);
  CHECK_INT(o->count, want->count);
  CHECK(o->scale == want->scale, "scale %g", o->scale);
  CHECK_INT(o->seed, want->seed);
  CHECK_INT(o->verbose, want->verbose);
  CHECK_INT(o->core.lost_ms, want->core.lost_ms);
  CHECK_INT(o->core.dedup, want->core.dedup);
}

#define ARGV(...) (char *[]){"tcmd", __VA_ARGS__}, (int)(sizeof((char *[]){"tcmd", __VA_ARGS__}) / sizeof(char *))

int main(void) {
  struct t_opts o;
  char out[8192];

  TEST("defaults: the table's own and conf_init's");
  CHECK_INT(run(&o, (char *[]){"tcmd"}, 1, out, sizeof out, NULL, NULL, 0), 0);
  CHECK(o.kafka.brokers == NULL && o.kafka.prefix == NULL && o.kafka.props == NULL, "kafka unset");
  CHECK(o.name == NULL, "no default name");
  expect_fields(&o, &(struct t_opts){.mode = "a", .tick_ms = 1000, .count = 3, .scale = 1.5, .seed = 7, .verbose = 0,
                                     .core = {.lost_ms = 30000, .dedup = 1024}});

  TEST("each type, --name value and --name=value, included rows");
  CHECK_INT(run(&o, ARGV("--brokers", "h:1", "--topic-prefix=t.", "--kafka-props", "a=b", "--name", "x", "--mode=b",
                         "--tick-ms", "-5", "--count=42", "--scale", "0.25", "--seed", "99", "--verbose", "--lost-ms",
                         "123", "--dedup", "4096"),
                out, sizeof out, NULL, NULL, 0),
            0);
  CHECK_STR(o.kafka.brokers, "h:1");
  CHECK_STR(o.kafka.prefix, "t.");
  CHECK_STR(o.kafka.props, "a=b");
  CHECK_STR(o.name, "x");
  expect_fields(&o, &(struct t_opts){.mode = "b", .tick_ms = -5, .count = 42, .scale = 0.25, .seed = 99, .verbose = 1,
                                     .core = {.lost_ms = 123, .dedup = 4096}});

  TEST("positionals");
  const char *pos[2];
  int npos = 0;
  CHECK_INT(run(&o, ARGV("one", "--count", "1", "two"), out, sizeof out, pos, &npos, 2), 0);
  CHECK_INT(npos, 2);
  CHECK_STR(pos[0], "one");
  CHECK_STR(pos[1], "two");
  CHECK_INT(run(&o, ARGV("one", "two", "three"), out, sizeof out, pos, &npos, 2), 2);
  CHECK(strstr(out, "unexpected argument 'three'"), "%s", out);
  CHECK_INT(run(&o, ARGV("stray"), out, sizeof out, NULL, NULL, 0), 2);

  TEST("unknown flag, missing value, malformed values");
  CHECK_INT(run(&o, ARGV("--nope"), out, sizeof out, NULL, NULL, 0), 2);
  CHECK(strstr(out, "barge tcmd: unknown option '--nope'"), "%s", out);
  CHECK_INT(run(&o, ARGV("--tick"), out, sizeof out, NULL, NULL, 0), 2); /* no prefix matching */
  CHECK_INT(run(&o, ARGV("--tick-ms"), out, sizeof out, NULL, NULL, 0), 2);
  CHECK(strstr(out, "--tick-ms needs a value (MS)"), "%s", out);
  CHECK_INT(run(&o, ARGV("--tick-ms", "10x"), out, sizeof out, NULL, NULL, 0), 2);
  CHECK(strstr(out, "--tick-ms expects a whole number, got '10x'"), "%s", out);
  CHECK_INT(run(&o, ARGV("--count", "99999999999"), out, sizeof out, NULL, NULL, 0), 2);
  CHECK_INT(run(&o, ARGV("--seed", "-1"), out, sizeof out, NULL, NULL, 0), 2);
  CHECK_INT(run(&o, ARGV("--scale", "fast"), out, sizeof out, NULL, NULL, 0), 2);
  CHECK(strstr(out, "--scale expects a number, got 'fast'"), "%s", out);
  CHECK_INT(o.metrics.port, -1); /* off by default, though outside what a user may give */
  CHECK_INT(run(&o, ARGV("--metrics-port", "70000"), out, sizeof out, NULL, NULL, 0), 2);
  CHECK(strstr(out, "barge tcmd: --metrics-port expects a whole number from 0 to 65535, got '70000'"), "%s", out);
  CHECK_INT(run(&o, ARGV("--metrics-port", "-1"), out, sizeof out, NULL, NULL, 0), 2);
  CHECK_INT(run(&o, ARGV("--metrics-port", "65535"), out, sizeof out, NULL, NULL, 0), 0);
  CHECK_INT(o.metrics.port, 65535);
  CHECK_INT(run(&o, ARGV("--count", "-3"), out, sizeof out, NULL, NULL, 0), 2);
  CHECK(strstr(out, "barge tcmd: --count expects a whole number of at least -2, got '-3'"), "%s", out);
  CHECK_INT(run(&o, ARGV("--count", "-2"), out, sizeof out, NULL, NULL, 0), 0);
  CHECK_INT(o.count, -2);

  TEST("--help: every row, included ones too, with its default");
  CHECK_INT(run(&o, ARGV("--count", "5", "--help"), out, sizeof out, NULL, NULL, 0), 1);
  CHECK(strstr(out, "usage: barge tcmd [options]\n"), "%s", out);
  CHECK(strstr(out, "  --brokers HOST:PORT          Kafka bootstrap servers (default $BARGE_BROKERS, else the stack of `barge up`)\n"), "%s", out);
  CHECK(strstr(out, "  --kafka-props K=V,...        extra librdkafka properties (TLS, SASL)\n"), "%s", out);
  CHECK(strstr(out, "  --tick-ms MS                 tick (default 1000)\n"), "%s", out);
  CHECK(strstr(out, "  --scale F                    scale (default 1.5)\n"), "%s", out);
  CHECK(strstr(out, "  --count N                    count (default 3)\n"), "the default, not the value given: %s", out);
  CHECK(strstr(out, "  --lost-ms MS                 lost after (default 30000)\n"), "conf_init's default: %s", out);
  CHECK(strstr(out, "  --dedup N                    remembered ids (default a power of two)\n"), "%s", out);
  CHECK(strstr(out, "  --verbose                    say more\n"), "%s", out);
  CHECK(strstr(out, "  --file FILE                  the file (required)\n"), "a required option, not '(default required)': %s", out);
  CHECK(strstr(out, "  --name NAME                  a name\n"), "%s", out);
  CHECK(strstr(out, "  --help                       show this help\n"), "%s", out);
  CHECK(strstr(out, "  --agent-log-retention-hours H\n                               keep logs (default 0)\n"),
        "a name wider than its column on a line of its own (it ran into its text): %s", out);
  CHECK_INT(run(&o, ARGV("-h"), out, sizeof out, NULL, NULL, 0), 1);
  const char *hp[2];
  int hn = 0;
  CHECK_INT(run(&o, ARGV("help"), out, sizeof out, hp, &hn, 1), 1); /* `barge logs help` */
  CHECK(strstr(out, "usage: barge tcmd [options]\n") && hn == 0, "a lone 'help' is --help: %s", out);
  CHECK_INT(run(&o, ARGV("help"), out, sizeof out, NULL, NULL, 0), 1); /* `barge watch help` */
  CHECK_INT(run(&o, ARGV("help", "x"), out, sizeof out, hp, &hn, 2), 0); /* a positional, with another */
  CHECK(hn == 2 && !strcmp(hp[0], "help"), "'help' with more words stays a positional (%d)", hn);

  TEST("markdown");
  FILE *md = tmpfile();
  opts_markdown(md, &t_cmd);
  rewind(md);
  size_t len = fread(out, 1, sizeof out - 1, md);
  out[len] = 0;
  fclose(md);
  CHECK(strstr(out, "## barge tcmd\n\nA test command.\n\n    barge tcmd [options]\n\n| option | default | meaning |\n"), "%s", out);
  CHECK(strstr(out, "| `--mode a\\|b` | `a` | the mode |\n"), "%s", out);
  CHECK(strstr(out, "| `--lost-ms MS` | `30000` | lost after |\n"), "%s", out);
  CHECK(strstr(out, "| `--verbose` | off | say more |\n"), "%s", out);
  CHECK(strstr(out, "| `--dedup N` | a power of two | remembered ids |\n"), "%s", out);
  CHECK(strstr(out, "| `--file FILE` | required | the file |\n"), "%s", out);

  TEST("direct targets (opts_parse)");
  const char *s = NULL;
  long long n = 0;
  int f = 0;
  const struct opt direct[] = {
      {"s", "S", &s, NULL, NULL, "a string"},
      {"n", "N", NULL, &n, NULL, "a number"},
      {"f", NULL, NULL, NULL, &f, "a flag"},
  };
  char *dargv[] = {"d", "--s", "v", "--n=12", "--f"};
  CHECK_INT(opts_parse("d", NULL, 5, dargv, direct, 3, NULL, NULL, 0), 0);
  CHECK_STR(s, "v");
  CHECK_INT(n, 12);
  CHECK_INT(f, 1);
  char *bad[] = {"d", "--n", "x"};
  fflush(stderr);
  int se = dup(2);
  int nul = open("/dev/null", 1);
  dup2(nul, 2);
  int rc = opts_parse("d", NULL, 3, bad, direct, 3, NULL, NULL, 0);
  dup2(se, 2);
  close(se);
  close(nul);
  CHECK_INT(rc, 2);
  return check_summary();
}
