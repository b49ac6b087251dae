/* cli_globals.c: the AWS CLI's global options (--output, --query, --region, ...) and Barge's
 * own (--brokers, --kafka-props, --topic-prefix), which are not request members; options the AWS CLI has but Barge has no use
 * for are accepted and dropped so scripts keep working. */
#include <stdlib.h>
#include <string.h>

#include "aws_internal.h"
#include "jmespath.h"

enum gkind {
  G_BROKERS,
  G_KAFKA_PROPS,
  G_TOPIC_PREFIX,
  G_OUTPUT,
  G_QUERY,
  G_REGION,
  G_ENDPOINT,
  G_PROFILE,
  G_DEBUG,
  G_NO_PAGER,
  G_NO_PAGINATE,
  G_IGNORE_VALUE, /* AWS CLI options Barge has no use for, with a value */
  G_IGNORE_FLAG,  /* ... and without */
  G__COUNT
};

static const struct gopt {
  const char *flag;
  enum gkind kind;
  const char *choices; /* "a|b|c" or NULL */
} gopts[] = {
    {"--brokers", G_BROKERS, NULL},
    {"--kafka-props", G_KAFKA_PROPS, NULL},
    {"--topic-prefix", G_TOPIC_PREFIX, NULL},
    {"--output", G_OUTPUT, "json|text|table|yaml|yaml-stream"},
    {"--query", G_QUERY, NULL},
    {"--region", G_REGION, NULL},
    {"--endpoint-url", G_ENDPOINT, NULL},
    {"--profile", G_PROFILE, NULL},
    {"--debug", G_DEBUG, NULL},
    {"--no-cli-pager", G_NO_PAGER, NULL},
    {"--no-paginate", G_NO_PAGINATE, NULL},
    {"--cli-read-timeout", G_IGNORE_VALUE, NULL},
    {"--cli-connect-timeout", G_IGNORE_VALUE, NULL},
    {"--color", G_IGNORE_VALUE, "on|off|auto"},
    {"--ca-bundle", G_IGNORE_VALUE, NULL},
    {"--cli-binary-format", G_IGNORE_VALUE, "base64|raw-in-base64-out"},
    {"--no-verify-ssl", G_IGNORE_FLAG, NULL},
    {"--no-sign-request", G_IGNORE_FLAG, NULL},
    {"--cli-auto-prompt", G_IGNORE_FLAG, NULL},
    {"--no-cli-auto-prompt", G_IGNORE_FLAG, NULL},
};

static int gopt_takes_value(enum gkind k) {
  switch (k) {
  case G_BROKERS:
  case G_KAFKA_PROPS:
  case G_TOPIC_PREFIX:
  case G_OUTPUT:
  case G_QUERY:
  case G_REGION:
  case G_ENDPOINT:
  case G_PROFILE:
  case G_IGNORE_VALUE: return 1;
  case G_DEBUG:
  case G_NO_PAGER:
  case G_NO_PAGINATE:
  case G_IGNORE_FLAG:
  case G__COUNT: return 0;
  }
  return 0;
}

void awscli_globals_init(struct awscli_globals *g) {
  memset(g, 0, sizeof *g);
  g->action = AWSCLI_RUN;
  g->paginate = 1;
}

static int in_choices(const char *choices, const char *v) {
  size_t n = strlen(v);
  for (const char *c = choices; *c;) {
    const char *bar = strchr(c, '|');
    size_t len = bar ? (size_t)(bar - c) : strlen(c);
    if (len == n && strncmp(c, v, n) == 0) return 1;
    if (!bar) break;
    c = bar + 1;
  }
  return 0;
}

/* Splits "--name=value": name into nbuf, *inline_val at the value or NULL. */
void cli_split_flag(const char *arg, char *nbuf, size_t nlen, const char **inline_val) {
  const char *eq = strchr(arg, '=');
  size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
  if (n >= nlen) n = nlen - 1;
  memcpy(nbuf, arg, n);
  nbuf[n] = 0;
  *inline_val = eq ? eq + 1 : NULL;
}

/* Takes the value of a flag: inline (--flag=v) or the next argument unless it is a flag. */
int cli_take_value(const char *flag, const char *inline_val, int argc, char **argv, int *i,
                      const char **out, const char *prefix, char *err, size_t errlen) {
  if (inline_val) {
    *out = inline_val;
    return 0;
  }
  if (*i + 1 >= argc || cli_starts_with(argv[*i + 1], "--"))
    return aws_fail(err, errlen, "%s%s: expected a value (use %s=VALUE for one starting with --)",
                prefix, flag, flag);
  *out = argv[++*i];
  return 0;
}

/* 1 when argv[*i] was a global option (consumed, *i on its last argument), 0 when it is not
 * one, -1 on error. */
int cli_take_global(int argc, char **argv, int *i, struct awscli_globals *g,
                       const char *prefix, char *err, size_t errlen) {
  char name[64];
  const char *inline_val;
  cli_split_flag(argv[*i], name, sizeof name, &inline_val);
  const struct gopt *o = NULL;
  for (size_t k = 0; k < sizeof gopts / sizeof gopts[0]; k++)
    if (strcmp(gopts[k].flag, name) == 0) o = &gopts[k];
  if (!o) return 0;
  const char *val = NULL;
  if (gopt_takes_value(o->kind)) {
    if (cli_take_value(name, inline_val, argc, argv, i, &val, prefix, err, errlen)) return -1;
    if (o->choices && !in_choices(o->choices, val))
      return aws_fail(err, errlen, "%s%s: invalid choice '%s', valid choices are: %s", prefix, name,
                  val, o->choices);
  } else if (inline_val) {
    return aws_fail(err, errlen, "%s%s takes no value", prefix, name);
  }
  switch (o->kind) {
  case G_BROKERS: g->brokers = val; break;
  case G_KAFKA_PROPS: g->kafka_props = val; break;
  case G_TOPIC_PREFIX: g->topic_prefix = val; break;
  case G_OUTPUT: g->output = val; break;
  case G_QUERY: g->query = val; break;
  case G_REGION: g->region = val; break;
  case G_ENDPOINT: g->endpoint_url = val; break;
  case G_PROFILE: g->profile = val; break;
  case G_DEBUG: g->debug = 1; break;
  case G_NO_PAGER: g->no_cli_pager = 1; break;
  case G_NO_PAGINATE: g->paginate = 0; break;
  case G_IGNORE_VALUE:
  case G_IGNORE_FLAG:
  case G__COUNT: break;
  }
  return 1;
}

int awscli_parse_globals(int argc, char **argv, int *next, struct awscli_globals *g, char *err,
                         size_t errlen) {
  int i = *next;
  for (; i < argc && cli_starts_with(argv[i], "--"); i++) {
    int r = cli_take_global(argc, argv, &i, g, "barge: ", err, errlen);
    if (r < 0) return -1;
    if (r == 0) break;
  }
  *next = i;
  return 0;
}


int awscli_check_query(const struct awscli_globals *g, const char *prefix, char *err, size_t errlen) {
  if (!g->query) return 0;
  struct jmes *q = NULL;
  char msg[512];
  int rc = jmes_compile(g->query, &q, msg, sizeof msg);
  jmes_free(q);
  if (rc) return aws_fail(err, errlen, "%sbad value for --query %s: %s", prefix, g->query, msg);
  return 0;
}
