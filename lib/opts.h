/* opts.h: one option table per command drives parsing, --help and docs/configuration.md.
 *
 * A command's table (struct opts_cmd) lists its options; each row points into the command's
 * options struct (a field offset, its type taken from the field) and holds the option's help and,
 * when the command itself owns the default, the default as text. Defaults that belong to a core
 * (sched_conf_defaults, prov_conf_defaults, ...) stay there: the command's conf_init puts them in
 * the struct, and --help and the docs print whatever value the initialised struct holds, so every
 * default is written once. Rows shared by several commands (the Kafka connection options) are a
 * table of their own that others include at the offset of a sub-struct (OPTS_KAFKA).
 *
 * Options are `--name value`, `--name=value` or, for flags, `--name`. Positional arguments are
 * collected in order.
 *
 * Return convention of opts_parse and opts_parse_cmd: 0 to go on, 1 when --help was printed
 * (exit 0), 2 after printing a usage error (exit 2). */
#ifndef BARGE_OPTS_H
#define BARGE_OPTS_H
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

/* A row of a table of direct targets (opts_parse): tables not (yet) moved to an options struct.
 * Each takes one of str, num (a whole number) or flag (set to 1). */
struct opt {
  const char *name; /* without the dashes */
  const char *arg;  /* "N", "HOST:PORT", ...; NULL for a flag */
  const char **str;
  long long *num;
  int *flag;
  const char *help; /* one line; defaults are stated in it */
};

/* How a row's field is stored. OPT_DIRECT: a struct opt's own targets. */
enum opt_type { OPT_DIRECT, OPT_STR, OPT_I64, OPT_U64, OPT_INT, OPT_DBL, OPT_FLAG, OPT_INCLUDE };

/* A row of a command's table: a field of its options struct (or another table included). */
struct opt_spec {
  const char *name; /* without the dashes */
  const char *arg;  /* "N", "HOST:PORT", ...; NULL for a flag */
  const char *help; /* one line, without the default */
  enum opt_type type;
  size_t off;          /* the field's offset (OPT_INCLUDE: the included struct's) */
  const char *def;     /* the default as text, when the command owns it (NULL: keep the value
                          conf_init put in the struct, or 0/NULL) */
  const char *def_doc; /* how --help and the docs state a default that is not a plain value
                          ("the stack of `barge up`", "required") */
  const struct opt_spec *include; /* OPT_INCLUDE: the rows taken, at off */
  size_t ninclude;
  const struct opt *direct; /* OPT_DIRECT */
  long long min, max;       /* OPT_INT, OPT_I64: the values a user may give, when min < max (a
                               default outside them, such as "off", stays possible) */
};

/* The type of a field, from its C type. */
#define OPT_TYPE_OF(S, f)                                                                          \
  _Generic(((S *)0)->f, const char *: OPT_STR, long: OPT_I64, long long: OPT_I64,                  \
           unsigned long: OPT_U64, unsigned long long: OPT_U64, int: OPT_INT, double: OPT_DBL)
/* A row with a value, stored in field f of struct S. */
#define OPT_ROW(S, f, NAME, ARG, DEF, HELP)                                                        \
  {.name = NAME, .arg = ARG, .help = HELP, .type = OPT_TYPE_OF(S, f), .off = offsetof(S, f), .def = DEF}
/* The same, for a whole number a user may give only from MIN on. */
#define OPT_ROW_MIN(S, f, NAME, ARG, DEF, MIN, HELP)                                               \
  {.name = NAME, .arg = ARG, .help = HELP, .type = OPT_TYPE_OF(S, f), .off = offsetof(S, f), .def = DEF, \
   .min = MIN, .max = LLONG_MAX}
/* The same, with the default described in words. */
#define OPT_ROW_DOC(S, f, NAME, ARG, DEF_DOC, HELP)                                                \
  {.name = NAME, .arg = ARG, .help = HELP, .type = OPT_TYPE_OF(S, f), .off = offsetof(S, f),      \
   .def_doc = DEF_DOC}
/* The same, for a whole number a user may give only from MIN on. */
#define OPT_ROW_DOC_MIN(S, f, NAME, ARG, DEF_DOC, MIN, HELP)                                       \
  {.name = NAME, .arg = ARG, .help = HELP, .type = OPT_TYPE_OF(S, f), .off = offsetof(S, f),      \
   .def_doc = DEF_DOC, .min = MIN, .max = LLONG_MAX}
/* A flag (an int field set to 1). */
#define OPT_FLAG_ROW(S, f, NAME, HELP) {.name = NAME, .help = HELP, .type = OPT_FLAG, .off = offsetof(S, f)}
/* Every row of table T (an array) at the offset of field f. */
#define OPT_INCLUDE_ROWS(S, f, T)                                                                  \
  {.type = OPT_INCLUDE, .off = offsetof(S, f), .include = T, .ninclude = sizeof T / sizeof *T}

/* The Kafka connection every command that talks to Kafka takes. */
struct kafka_opts {
  const char *brokers; /* --brokers (NULL: $BARGE_BROKERS, else the stack file) */
  const char *prefix;  /* --topic-prefix (NULL: $BARGE_TOPIC_PREFIX, else the stack's, else barge.) */
  const char *props;   /* --kafka-props */
};
extern const struct opt_spec opts_kafka[3];
#define OPTS_KAFKA(S, f) OPT_INCLUDE_ROWS(S, f, opts_kafka)

/* The metrics endpoint every service takes (service_metrics_start, docs/metrics.md). */
struct metrics_opts {
  int port;         /* --metrics-port: -1 off (the default), 0 a free port (logged) */
  const char *host; /* --metrics-host */
  int fd;           /* --metrics-fd: > 0, an inherited listening socket served instead */
};
extern const struct opt_spec opts_metrics[3];
#define OPTS_METRICS(S, f) OPT_INCLUDE_ROWS(S, f, opts_metrics)

/* One command's table. */
struct opts_cmd {
  const char *name;     /* "scheduler", "audit verify" */
  const char *synopsis; /* after "barge NAME" */
  const char *summary;  /* a sentence for the docs */
  const struct opt_spec *opts;
  size_t nopts;
  size_t conf_size;                /* sizeof the options struct */
  void (*conf_init)(void *conf);   /* defaults the table does not own; may be NULL */
};

/* A struct opts_cmd for options struct S with the rows of array ROWS. */
#define OPTS_CMD(NAME, SYNOPSIS, SUMMARY, ROWS, S, INIT)                                           \
  {NAME, SYNOPSIS, SUMMARY, ROWS, sizeof ROWS / sizeof *ROWS, sizeof(S), INIT}

/* Zeroes conf, runs conf_init, then applies the table's own defaults. */
void opts_init(const struct opts_cmd *c, void *conf);
/* opts_init, then argv (argv[0] is the command). pos/npos receive positional arguments (NULL
 * when none are allowed). */
int opts_parse_cmd(const struct opts_cmd *c, void *conf, int argc, char **argv, const char **pos,
                   int *npos, int maxpos) BARGE_WUR;
/* opts_parse_cmd for a command without positional arguments, as a command's exit: -1 to go on,
 * else the status to exit with (0 after --help, 2 after a usage error). */
int opts_parse_or_exit(const struct opts_cmd *c, void *conf, int argc, char **argv) BARGE_WUR;
/* --help of a command. */
void opts_usage_cmd(FILE *out, const struct opts_cmd *c);
/* The command's section of docs/configuration.md: a heading, the summary and a table
 * (option, default, meaning). */
void opts_markdown(FILE *out, const struct opts_cmd *c);

/* Tables of direct targets (no options struct). Same return convention. */
int opts_parse(const char *cmd, const char *synopsis, int argc, char **argv,
               const struct opt *opts, size_t nopts, const char **pos, int *npos,
               int maxpos) BARGE_WUR;
void opts_usage(const char *cmd, const char *synopsis, const struct opt *opts, size_t nopts);
#endif
