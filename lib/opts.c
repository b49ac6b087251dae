/* opts.c: see opts.h. Included tables are walked in place (their rows shifted by the include's
 * offset), so a shared row exists once in memory as in the source. */
#include "opts.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

const struct opt_spec opts_kafka[3] = {
    OPT_ROW_DOC(struct kafka_opts, brokers, "brokers", "HOST:PORT",
                "$BARGE_BROKERS, else the stack of `barge up`", "Kafka bootstrap servers"),
    OPT_ROW_DOC(struct kafka_opts, prefix, "topic-prefix", "P", "$BARGE_TOPIC_PREFIX, else the stack's, else barge.",
                "topic name prefix"),
    OPT_ROW(struct kafka_opts, props, "kafka-props", "K=V,...", NULL,
            "extra librdkafka properties (TLS, SASL)"),
};

const struct opt_spec opts_metrics[3] = {
    {.name = "metrics-port", .arg = "PORT", .type = OPT_INT, .off = offsetof(struct metrics_opts, port), .def = "-1",
     .def_doc = "off", .help = "serve Prometheus metrics at http://HOST:PORT/metrics (0: a free port, logged; docs/metrics.md)",
     .min = 0, .max = 65535},
    OPT_ROW(struct metrics_opts, host, "metrics-host", "HOST", "127.0.0.1",
            "address the metrics endpoint listens on (0.0.0.0 for every interface)"),
    {.name = "metrics-fd", .arg = "N", .type = OPT_INT, .off = offsetof(struct metrics_opts, fd), .def = "0",
     .def_doc = "none: bind --metrics-port", .help = "serve the metrics on the listening socket inherited as descriptor "
     "N (`barge up` passes one, held across restarts, so that no other process takes the port meanwhile)",
     .min = 0, .max = 1048576},
};

/* Calls fn for every row of the table, included rows with their absolute offset; stops at the
 * first non-zero return and returns it. */
typedef int (*walk_fn)(const struct opt_spec *o, size_t off, void *ctx);
static int walk(const struct opt_spec *rows, size_t n, size_t base, walk_fn fn, void *ctx) {
  for (size_t i = 0; i < n; i++) {
    const struct opt_spec *o = &rows[i];
    int r = o->type == OPT_INCLUDE ? walk(o->include, o->ninclude, base + o->off, fn, ctx)
                                   : fn(o, base + o->off, ctx);
    if (r) return r;
  }
  return 0;
}

/* Stores text into the row's target. 0, or -1 when text is not a value of the row's type. */
static int store(const struct opt_spec *o, void *conf, size_t off, const char *text) {
  char *at = (char *)conf + off, *end = NULL;
  errno = 0;
  switch (o->type) {
  case OPT_DIRECT:
    if (o->direct->str) *o->direct->str = text;
    if (o->direct->num) {
      long long v = strtoll(text, &end, 10);
      if (errno || *end || end == text) return -1;
      *o->direct->num = v;
    }
    if (o->direct->flag) *o->direct->flag = 1;
    return 0;
  case OPT_STR:
    memcpy(at, &text, sizeof text);
    return 0;
  case OPT_I64: {
    int64_t v = strtoll(text, &end, 10);
    if (errno || *end || end == text) return -1;
    memcpy(at, &v, sizeof v);
    return 0;
  }
  case OPT_U64: {
    if (strchr(text, '-')) return -1;
    uint64_t v = strtoull(text, &end, 10);
    if (errno || *end || end == text) return -1;
    memcpy(at, &v, sizeof v);
    return 0;
  }
  case OPT_INT: {
    long v = strtol(text, &end, 10);
    if (errno || *end || end == text || v < INT_MIN || v > INT_MAX) return -1;
    int iv = (int)v;
    memcpy(at, &iv, sizeof iv);
    return 0;
  }
  case OPT_DBL: {
    double v = strtod(text, &end);
    if (errno || *end || end == text) return -1;
    memcpy(at, &v, sizeof v);
    return 0;
  }
  case OPT_FLAG: {
    int one = 1;
    memcpy(at, &one, sizeof one);
    return 0;
  }
  case OPT_INCLUDE:
    break;
  }
  return -1;
}

static int apply_default(const struct opt_spec *o, size_t off, void *conf) {
  if (o->def && store(o, conf, off, o->def)) {
    fprintf(stderr, "barge: the default of --%s ('%s') is not a valid value\n", o->name, o->def);
    abort(); /* a broken table is a programming error */
  }
  return 0;
}

void opts_init(const struct opts_cmd *c, void *conf) {
  if (c->conf_size) memset(conf, 0, c->conf_size);
  if (c->conf_init) c->conf_init(conf);
  walk(c->opts, c->nopts, 0, apply_default, conf);
}

/* The default of a row as --help and the docs state it ("" when there is none). */
static void default_text(const struct opt_spec *o, const void *conf, size_t off, char *out, size_t n) {
  const char *at = (const char *)conf + off;
  *out = 0;
  if (o->def_doc) {
    snprintf(out, n, "%s", o->def_doc);
    return;
  }
  if (!conf) return;
  switch (o->type) {
  case OPT_STR: {
    const char *s;
    memcpy(&s, at, sizeof s);
    if (s) snprintf(out, n, "%s", s);
    break;
  }
  case OPT_I64: {
    int64_t v;
    memcpy(&v, at, sizeof v);
    snprintf(out, n, "%lld", (long long)v);
    break;
  }
  case OPT_U64: {
    uint64_t v;
    memcpy(&v, at, sizeof v);
    snprintf(out, n, "%llu", (unsigned long long)v);
    break;
  }
  case OPT_INT: {
    int v;
    memcpy(&v, at, sizeof v);
    snprintf(out, n, "%d", v);
    break;
  }
  case OPT_DBL: {
    double v;
    memcpy(&v, at, sizeof v);
    snprintf(out, n, "%g", v);
    break;
  }
  case OPT_DIRECT:
  case OPT_FLAG:
  case OPT_INCLUDE:
    break;
  }
}

struct usage_ctx {
  FILE *out;
  const void *conf;
};

static int usage_row(const struct opt_spec *o, size_t off, void *ctx) {
  struct usage_ctx *u = ctx;
  char left[64], def[256];
  snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
  default_text(o, u->conf, off, def, sizeof def);
  /* a name wider than its column gets a line of its own (it ran into its text) */
  if (strlen(left) > 28) fprintf(u->out, "  %s\n  %-28s", left, "");
  else fprintf(u->out, "  %-28s", left);
  if (!strcmp(def, "required")) fprintf(u->out, " %s (required)\n", o->help); /* not "(default required)" */
  else fprintf(u->out, " %s%s%s%s\n", o->help, *def ? " (default " : "", def, *def ? ")" : "");
  return 0;
}

static void usage_rows(FILE *out, const char *cmd, const char *synopsis, const struct opt_spec *opts,
                       size_t nopts, const void *conf) {
  synopsis = synopsis ? synopsis : "[options]";
  fprintf(out, "usage: barge %s%s%s\n\n", cmd, *synopsis ? " " : "", synopsis);
  struct usage_ctx u = {out, conf};
  walk(opts, nopts, 0, usage_row, &u);
  fprintf(out, "  %-28s %s\n", "--help", "show this help");
}

/* A table of direct targets as rows (malloc'd). */
static struct opt_spec *direct_rows(const struct opt *opts, size_t nopts) {
  struct opt_spec *rows = xcalloc(nopts ? nopts : 1, sizeof *rows);
  for (size_t i = 0; i < nopts; i++)
    rows[i] = (struct opt_spec){.name = opts[i].name, .arg = opts[i].arg, .help = opts[i].help,
                                .type = OPT_DIRECT, .direct = &opts[i]};
  return rows;
}

void opts_usage(const char *cmd, const char *synopsis, const struct opt *opts, size_t nopts) {
  struct opt_spec *rows = direct_rows(opts, nopts);
  usage_rows(stdout, cmd, synopsis, rows, nopts, NULL);
  free(rows);
}

void opts_usage_cmd(FILE *out, const struct opts_cmd *c) {
  void *conf = xcalloc(1, c->conf_size ? c->conf_size : 1);
  opts_init(c, conf);
  usage_rows(out, c->name, c->synopsis, c->opts, c->nopts, conf);
  free(conf);
}

/* A markdown table cell: | would end the cell, < and > would open HTML. */
static void md_cell(FILE *out, const char *s) {
  for (; *s; s++) {
    if (*s == '<') fputs("&lt;", out);
    else if (*s == '>') fputs("&gt;", out);
    else if (*s == '|') fputs("\\|", out);
    else fputc(*s, out);
  }
}

static int md_row(const struct opt_spec *o, size_t off, void *ctx) {
  struct usage_ctx *u = ctx;
  char def[256], left[128];
  default_text(o, u->conf, off, def, sizeof def);
  snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
  fputs("| `", u->out);
  md_cell(u->out, left);
  fputs("` | ", u->out);
  if (o->def_doc) { /* words, not a value */
    md_cell(u->out, def);
  } else if (*def) {
    fputc('`', u->out);
    md_cell(u->out, def);
    fputc('`', u->out);
  } else if (o->type == OPT_FLAG) {
    fputs("off", u->out);
  }
  fputs(" | ", u->out);
  md_cell(u->out, o->help);
  fputs(" |\n", u->out);
  return 0;
}

void opts_markdown(FILE *out, const struct opts_cmd *c) {
  void *conf = xcalloc(1, c->conf_size ? c->conf_size : 1);
  opts_init(c, conf);
  fprintf(out, "## barge %s\n\n", c->name);
  if (c->summary) fprintf(out, "%s\n\n", c->summary);
  const char *syn = c->synopsis ? c->synopsis : "[options]";
  fprintf(out, "    barge %s%s%s\n\n", c->name, *syn ? " " : "", syn);
  if (c->nopts) {
    fprintf(out, "| option | default | meaning |\n|---|---|---|\n");
    struct usage_ctx u = {out, conf};
    walk(c->opts, c->nopts, 0, md_row, &u);
    fputc('\n', out);
  }
  free(conf);
}

struct find_ctx {
  const char *name;
  size_t len;
  const struct opt_spec *found;
  size_t off;
};

static int find_row(const struct opt_spec *o, size_t off, void *ctx) {
  struct find_ctx *f = ctx;
  if (strlen(o->name) != f->len || strncmp(o->name, f->name, f->len)) return 0;
  f->found = o;
  f->off = off;
  return 1;
}

static int parse(const char *cmd, const char *synopsis, const struct opt_spec *opts, size_t nopts,
                 void *conf, const struct opts_cmd *c, int argc, char **argv, const char **pos,
                 int *npos, int maxpos) {
  if (npos) *npos = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    /* `barge logs help` as `aws batch describe-jobs help`: a lone first word "help" (no job id
     * or other positional argument is ever spelled so) */
    if (!strcmp(a, "--help") || !strcmp(a, "-h") || (i == 1 && argc == 2 && !strcmp(a, "help"))) {
      if (c) opts_usage_cmd(stdout, c);
      else usage_rows(stdout, cmd, synopsis, opts, nopts, NULL);
      return 1;
    }
    if (strncmp(a, "--", 2) != 0 || !a[2]) {
      if (!pos || !npos || *npos >= maxpos) {
        fprintf(stderr, "barge %s: unexpected argument '%s' (see barge %s --help)\n", cmd, a, cmd);
        return 2;
      }
      pos[(*npos)++] = a;
      continue;
    }
    const char *eq = strchr(a + 2, '=');
    struct find_ctx f = {a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2), NULL, 0};
    walk(opts, nopts, 0, find_row, &f);
    const struct opt_spec *o = f.found;
    if (!o) {
      fprintf(stderr, "barge %s: unknown option '%s' (see barge %s --help)\n", cmd, a, cmd);
      return 2;
    }
    if (!o->arg) {
      /* a flag takes no value: `--json=no` turned JSON on, `--no-audit=false` turned it off */
      if (eq) {
        fprintf(stderr, "barge %s: --%s takes no value, got '%s' (give --%s alone, or leave it out)\n", cmd, o->name,
                a, o->name);
        return 2;
      }
      if (store(o, conf, f.off, "1")) return 2;
      continue;
    }
    const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!val) {
      fprintf(stderr, "barge %s: --%s needs a value (%s)\n", cmd, o->name, o->arg);
      return 2;
    }
    if (store(o, conf, f.off, val)) {
      fprintf(stderr, "barge %s: --%s expects %s, got '%s'\n", cmd, o->name,
              o->type == OPT_DBL ? "a number" : "a whole number", val);
      return 2;
    }
    if (o->min < o->max && (o->type == OPT_INT || o->type == OPT_I64)) {
      long long v = strtoll(val, NULL, 10);
      if (v < o->min || v > o->max) {
        if (o->max == LLONG_MAX)
          fprintf(stderr, "barge %s: --%s expects a whole number of at least %lld, got '%s'\n", cmd, o->name, o->min,
                  val);
        else
          fprintf(stderr, "barge %s: --%s expects a whole number from %lld to %lld, got '%s'\n", cmd, o->name,
                  o->min, o->max, val);
        return 2;
      }
    }
  }
  return 0;
}

int opts_parse(const char *cmd, const char *synopsis, int argc, char **argv,
               const struct opt *opts, size_t nopts, const char **pos, int *npos, int maxpos) {
  struct opt_spec *rows = direct_rows(opts, nopts);
  int rc = parse(cmd, synopsis, rows, nopts, NULL, NULL, argc, argv, pos, npos, maxpos);
  free(rows);
  return rc;
}

int opts_parse_cmd(const struct opts_cmd *c, void *conf, int argc, char **argv, const char **pos,
                   int *npos, int maxpos) {
  opts_init(c, conf);
  return parse(c->name, c->synopsis, c->opts, c->nopts, conf, c, argc, argv, pos, npos, maxpos);
}

int opts_parse_or_exit(const struct opts_cmd *c, void *conf, int argc, char **argv) {
  int r = opts_parse_cmd(c, conf, argc, argv, NULL, NULL, 0);
  return r == 0 ? -1 : r == 1 ? 0 : 2;
}
