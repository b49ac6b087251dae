/* cli_parse.c: reads `barge <operation> [flags]` the way the AWS CLI reads `aws batch <operation>`.
 *
 * The pipeline for one flag follows awscli (argprocess.py, shorthand.py, paramfile.py):
 *   argv values -> file:// / fileb:// loaded (one value only) -> JSON when the value starts
 *   with '{' or '[' -> else shorthand for structures, maps and lists of structures, with
 *   scalars converted and single values wrapped into lists by the model (BackCompatVisitor)
 *   -> else scalar conversion (integers, floats) -> request member.
 * Then --cli-input-json fills the members no flag set, and the whole request is checked
 * against the model (required, unknown members, types) as botocore's ParamValidator does, so
 * a mistake is reported before anything is sent. The model lives in aws_ops.c. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws_internal.h"
#include "jmespath.h"

/* ---- flag values ----------------------------------------------------------------------- */

/* Parses one value that looks like JSON; err gets "invalid JSON ...". */
static json_t *parse_json(const char *text, char *err, size_t errlen) {
  json_error_t je;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
  if (!v) aws_fail(err, errlen, "invalid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
  return v;
}

static int looks_like_json(const char *s) {
  s = cli_skip_ws(s);
  return *s == '{' || *s == '[';
}

struct flag_ctx {
  const char *prefix; /* "barge submit-job: " */
  const char *flag;   /* as typed, for messages */
  const struct aws_param *p;
  char *err;
  size_t errlen;
};

/* A scalar from text, by type. */
static json_t *scalar_value(const struct flag_ctx *c, const struct aws_shape *sh,
                            const char *s) {
  char shown[SHOW_VALUE_MAX + 8];
  aws_show(s, shown);
  switch (sh->type) {
  case AWS_INTEGER:
  case AWS_LONG: {
    long long n;
    if (cli_parse_int(s, &n) == 0) return json_integer(n);
    aws_fail(c->err, c->errlen, "%s%s: expected an integer, got '%s'", c->prefix, c->flag, shown);
    return NULL;
  }
  case AWS_DOUBLE: {
    double d;
    if (cli_parse_double(s, &d) == 0) return json_real(d);
    aws_fail(c->err, c->errlen, "%s%s: expected a number, got '%s'", c->prefix, c->flag, shown);
    return NULL;
  }
  case AWS_BOOLEAN: /* awscli: "false" is false, any other value true */
    return json_boolean(strcasecmp(s, "false") != 0);
  case AWS_STRING:
  case AWS_STRUCT:
  case AWS_LIST:
  case AWS_MAP:
  case AWS_JSON:
  case AWS_TYPE__COUNT:
    break;
  }
  json_t *v = json_string(s);
  if (!v) aws_fail(c->err, c->errlen, "%s%s: value is not valid UTF-8", c->prefix, c->flag);
  return v;
}

static json_t *json_value(const struct flag_ctx *c, const char *s) {
  char msg[200];
  json_t *v = parse_json(s, msg, sizeof msg);
  if (!v) aws_fail(c->err, c->errlen, "%s%s: %s", c->prefix, c->flag, msg);
  return v;
}

/* A structure or map element given as shorthand, converted by the model. */
static json_t *shorthand_value(const struct flag_ctx *c, const struct aws_shape *sh,
                               const char *s, long index) {
  char msg[300];
  json_t *v = cli_shorthand_parse(s, msg, sizeof msg);
  if (!v) {
    char hint[SHORT_SAMPLE_MAX + 40], shown[SHOW_VALUE_MAX + 8];
    cli_shorthand_hint(c->p->shape, SHORT_SAMPLE_MAX, hint, sizeof hint);
    aws_show(s, shown);
    aws_fail(c->err, c->errlen, "%s%s: expected JSON or shorthand like %s, got '%s' (%s)",
             c->prefix, c->flag, hint, shown, msg);
    return NULL;
  }
  if (sh->type == AWS_JSON) return v;
  char path[256];
  if (index >= 0)
    snprintf(path, sizeof path, "%s[%ld]", c->p->member, index);
  else
    snprintf(path, sizeof path, "%s", c->p->member);
  json_t *nv = cli_shorthand_convert(sh, v, path, msg, sizeof msg);
  json_decref(v);
  if (!nv) aws_fail(c->err, c->errlen, "%s%s: %s", c->prefix, c->flag, msg);
  return nv;
}

/* The list member for a flag's values: one JSON array, or one element per argument. */
static json_t *list_value(const struct flag_ctx *c, const struct aws_shape *sh, const char **vals,
                          size_t n) {
  if (n == 1 && looks_like_json(vals[0]) && *cli_skip_ws(vals[0]) == '[')
    return json_value(c, vals[0]);
  json_t *list = json_array();
  int shorthand = aws_is_complex(sh->elem) && !looks_like_json(vals[0]);
  for (size_t i = 0; i < n; i++) {
    json_t *v;
    if (shorthand) {
      v = shorthand_value(c, sh->elem, vals[i], (long)i);
    } else if (aws_is_complex(sh->elem)) {
      /* JSON elements, one per argument: --depends-on '{"jobId": "a"}' '{"jobId": "b"}' */
      if (!looks_like_json(vals[i])) {
        char shown[SHOW_VALUE_MAX + 8];
        aws_show(vals[i], shown);
        aws_fail(c->err, c->errlen,
             "%s%s: expected JSON like the first value, got '%s' (give every item as JSON "
             "or every item as shorthand)",
             c->prefix, c->flag, shown);
        v = NULL;
      } else {
        v = json_value(c, vals[i]);
      }
    } else {
      v = scalar_value(c, sh->elem, vals[i]);
    }
    if (!v) {
      json_decref(list);
      return NULL;
    }
    json_array_append_new(list, v);
  }
  return list;
}

/* The request member for a flag's values (after file:// loading). */
static json_t *param_value(const struct flag_ctx *c, const char **vals, size_t n) {
  const struct aws_shape *sh = c->p->shape;
  if (aws_is_scalar(sh)) return scalar_value(c, sh, vals[0]);
  if (sh->type == AWS_LIST) return list_value(c, sh, vals, n);
  /* a structure, a map or an unmodelled (JSON) member */
  if (looks_like_json(vals[0])) return json_value(c, vals[0]);
  return shorthand_value(c, sh, vals[0], -1);
}

/* ---- argv ------------------------------------------------------------------------------ */

static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return 99;
  size_t row[64];
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static int unknown_flag(const struct aws_op *op, const char *prefix, const char *name,
                        char *err, size_t errlen) {
  const char *best = NULL;
  size_t best_d = 3; /* suggest only close misspellings */
  for (size_t k = 0; k < op->n_params; k++) {
    size_t d = edit_distance(name, op->params[k].flag);
    if (d < best_d) {
      best_d = d;
      best = op->params[k].flag;
    }
  }
  if (best)
    return aws_fail(err, errlen, "%sunknown option %s; did you mean %s? ('barge %s help' lists them)",
                prefix, name, best, op->cli_name);
  return aws_fail(err, errlen, "%sunknown option %s ('barge %s help' lists the options)", prefix,
              name, op->cli_name);
}

enum { PG_STARTING_TOKEN = 1, PG_MAX_ITEMS = 2, PG_PAGE_SIZE = 4 };

/* One awscli_parse run. */
struct parse {
  const struct aws_op *op;
  struct awscli_globals *g;
  char prefix[80];     /* "barge submit-job: " */
  json_t *req, *input; /* the members flags set; --cli-input-json */
  unsigned char *given; /* per parameter: set by a flag */
  const char **vals;   /* scratch: one flag's values */
  int paging;          /* PG_* options given */
  int manual_paging;   /* --next-token or --max-results given */
  char *err;
  size_t errlen;
};

/* A flag that is not a request member: one kind per row. `value` is the flag's value, read
 * by the caller when takes_value (else NULL). Returns 0 or -1 with err set. */
struct special {
  const char *flag;
  int paged_only;  /* only for operations with page_result */
  int takes_value; /* 1: required value; 2: optional value not starting with '-' */
  int (*take)(struct parse *ps, const char *flag, const char *value);
};

static int take_input_json(struct parse *ps, const char *flag, const char *value) {
  char *content = NULL;
  char msg[300];
  int lr = cli_load_paramfile(value, &content, msg, sizeof msg);
  if (lr < 0) return aws_fail(ps->err, ps->errlen, "%s%s: %s", ps->prefix, flag, msg);
  json_t *in = parse_json(lr ? content : value, msg, sizeof msg);
  free(content);
  if (!in) return aws_fail(ps->err, ps->errlen, "%s%s: %s", ps->prefix, flag, msg);
  if (!json_is_object(in)) {
    json_decref(in);
    return aws_fail(ps->err, ps->errlen, "%s%s: expected a JSON object of request members",
                    ps->prefix, flag);
  }
  json_decref(ps->input);
  ps->input = in;
  return 0;
}

static int take_input_yaml(struct parse *ps, const char *flag, const char *value) {
  (void)value;
  return aws_fail(ps->err, ps->errlen, "%s%s is not supported; use --cli-input-json", ps->prefix,
                  flag);
}

static int take_skeleton(struct parse *ps, const char *flag, const char *value) {
  if (value && strcmp(value, "input") != 0)
    return aws_fail(ps->err, ps->errlen, "%s%s: only 'input' is supported, got '%s'", ps->prefix,
                    flag, value);
  ps->g->action = AWSCLI_SKELETON;
  return 0;
}

static int take_starting_token(struct parse *ps, const char *flag, const char *value) {
  (void)flag;
  ps->g->starting_token = value;
  ps->paging |= PG_STARTING_TOKEN;
  return 0;
}

static int take_count(struct parse *ps, const char *flag, const char *value, long long *out,
                      int bit) {
  long long n;
  if (cli_parse_int(value, &n))
    return aws_fail(ps->err, ps->errlen, "%s%s: expected an integer, got '%s'", ps->prefix, flag,
                    value);
  *out = n;
  ps->paging |= bit;
  return 0;
}

static int take_max_items(struct parse *ps, const char *flag, const char *value) {
  return take_count(ps, flag, value, &ps->g->max_items, PG_MAX_ITEMS);
}

static int take_page_size(struct parse *ps, const char *flag, const char *value) {
  return take_count(ps, flag, value, &ps->g->page_size, PG_PAGE_SIZE);
}

static const struct special specials[] = {
    {"--cli-input-json", 0, 1, take_input_json},
    {"--cli-input-yaml", 0, 0, take_input_yaml},
    {"--generate-cli-skeleton", 0, 2, take_skeleton},
    {"--starting-token", 1, 1, take_starting_token},
    {"--max-items", 1, 1, take_max_items},
    {"--page-size", 1, 1, take_page_size},
};

/* 1 when name is a special flag of this operation (taken), 0 when not, -1 on error. */
static int take_special(struct parse *ps, const char *name, const char *inline_val, int argc,
                        char **argv, int *i) {
  for (size_t k = 0; k < sizeof specials / sizeof *specials; k++) {
    const struct special *sp = &specials[k];
    if (strcmp(sp->flag, name) || (sp->paged_only && !ps->op->page_result)) continue;
    const char *v = NULL;
    if (sp->takes_value == 1) {
      if (cli_take_value(name, inline_val, argc, argv, i, &v, ps->prefix, ps->err, ps->errlen))
        return -1;
    } else if (sp->takes_value == 2) {
      v = inline_val;
      if (!v && *i + 1 < argc && argv[*i + 1][0] != '-') v = argv[++*i];
    }
    return sp->take(ps, name, v) ? -1 : 1;
  }
  return 0;
}

/* The parameter a flag names: `--flag`, or `--no-flag` for a boolean (*negated set). */
static const struct aws_param *param_of_flag(const struct aws_op *op, const char *name,
                                             int *negated) {
  *negated = 0;
  for (size_t k = 0; k < op->n_params; k++) {
    const struct aws_param *q = &op->params[k];
    if (strcmp(q->flag, name) == 0) return q;
    if (q->shape->type == AWS_BOOLEAN && cli_starts_with(name, "--no-") &&
        strcmp(q->flag + 2, name + 5) == 0) {
      *negated = 1;
      return q;
    }
  }
  return NULL;
}

/* The values of a non-boolean member flag, converted: a new reference, or NULL with err set. */
static json_t *member_value(struct parse *ps, const struct aws_param *p, const char *name,
                            const char *inline_val, int argc, char **argv, int *i) {
  size_t n = 0;
  if (inline_val) {
    ps->vals[n++] = inline_val;
  } else if (p->shape->type == AWS_LIST) {
    /* nargs='*' as in the AWS CLI: `--jobs` alone sends an empty list. */
    while (*i + 1 < argc && !cli_starts_with(argv[*i + 1], "--")) ps->vals[n++] = argv[++*i];
  } else {
    if (cli_take_value(name, inline_val, argc, argv, i, &ps->vals[0], ps->prefix, ps->err,
                       ps->errlen))
      return NULL;
    n = 1;
  }
  if (n == 0) return json_array();
  char *content = NULL;
  if (n == 1) {
    char msg[300];
    int lr = cli_load_paramfile(ps->vals[0], &content, msg, sizeof msg);
    if (lr < 0) {
      aws_fail(ps->err, ps->errlen, "%s%s: %s", ps->prefix, name, msg);
      return NULL;
    }
    if (lr > 0) ps->vals[0] = content;
  }
  struct flag_ctx c = {ps->prefix, name, p, ps->err, ps->errlen};
  json_t *v;
  if (content && p->shape->type == AWS_LIST && !looks_like_json(content) &&
      aws_is_complex(p->shape->elem))
    v = param_value(&c, ps->vals, 1); /* shorthand for one item read from a file */
  else
    v = param_value(&c, ps->vals, n);
  free(content);
  return v;
}

/* A request member's flag at argv[*i]: 0, or -1 with err set. */
static int take_member(struct parse *ps, const char *name, const char *inline_val, int argc,
                       char **argv, int *i) {
  int negated;
  const struct aws_param *p = param_of_flag(ps->op, name, &negated);
  if (!p) return unknown_flag(ps->op, ps->prefix, name, ps->err, ps->errlen);
  json_t *v;
  if (p->shape->type == AWS_BOOLEAN) {
    if (inline_val)
      return aws_fail(ps->err, ps->errlen, "%s%s takes no value (use %s or --no-%s)", ps->prefix,
                      name, p->flag, p->flag + 2);
    v = json_boolean(!negated);
  } else {
    v = member_value(ps, p, name, inline_val, argc, argv, i);
    if (!v) return -1;
    if (strcmp(p->member, "nextToken") == 0 || strcmp(p->member, "maxResults") == 0)
      ps->manual_paging = 1;
  }
  json_object_set_new(ps->req, p->member, v);
  ps->given[p - ps->op->params] = 1;
  return 0;
}

/* Reads argv[1..]: 0 when done (g->action may say help), -1 on error. */
static int read_args(struct parse *ps, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!cli_starts_with(arg, "--")) {
      if (strcmp(arg, "help") == 0) {
        ps->g->action = AWSCLI_HELP;
        return 0;
      }
      return aws_fail(ps->err, ps->errlen, "%sunexpected argument '%s' (values follow their --flag)",
                      ps->prefix, arg);
    }
    int r = cli_take_global(argc, argv, &i, ps->g, ps->prefix, ps->err, ps->errlen);
    if (r < 0) return -1;
    if (r > 0) continue;
    char name[128];
    const char *inline_val;
    cli_split_flag(arg, name, sizeof name, &inline_val);
    r = take_special(ps, name, inline_val, argc, argv, &i);
    if (r < 0) return -1;
    if (r > 0) continue;
    if (take_member(ps, name, inline_val, argc, argv, &i)) return -1;
  }
  return 0;
}

/* The request as botocore checks it before sending: --cli-input-json fills what no flag set,
 * pagination options agree, required members are there, and every member fits the model. */
static int finish_request(struct parse *ps) {
  const struct aws_op *op = ps->op;
  const char *input_flag = "--cli-input-json";
  const char *k;
  json_t *v;
  if (ps->input) {
    json_object_foreach(ps->input, k, v) {
      if (!json_object_get(ps->req, k)) json_object_set(ps->req, k, v);
    }
  }
  if (op->page_result) {
    if (ps->manual_paging) ps->g->paginate = 0;
    if (!ps->g->paginate && ps->paging)
      return aws_fail(ps->err, ps->errlen,
                      "%scannot use --no-paginate, --next-token or --max-results with %s",
                      ps->prefix,
                      ps->paging & PG_STARTING_TOKEN ? "--starting-token"
                      : ps->paging & PG_MAX_ITEMS    ? "--max-items"
                                                     : "--page-size");
    if ((ps->paging & PG_MAX_ITEMS) && ps->g->max_items < 1)
      return aws_fail(ps->err, ps->errlen, "%s--max-items must be at least 1", ps->prefix);
    if ((ps->paging & PG_PAGE_SIZE) && ps->g->page_size < 1)
      return aws_fail(ps->err, ps->errlen, "%s--page-size must be at least 1", ps->prefix);
    json_t *page_token = NULL;
    long long skip;
    char msg[400];
    int bad = ps->g->starting_token && cli_token_decode(ps->g->starting_token, &page_token, &skip, msg, sizeof msg);
    json_decref(page_token);
    if (bad) return aws_fail(ps->err, ps->errlen, "%s%s", ps->prefix, msg);
  }
  for (size_t i = 0; i < op->n_params; i++) {
    const struct aws_param *p = &op->params[i];
    if (p->required && !json_object_get(ps->req, p->member))
      return aws_fail(ps->err, ps->errlen, "%smissing required parameter %s (%s)", ps->prefix,
                      p->member, p->flag);
  }
  json_object_foreach(ps->req, k, v) {
    const struct aws_param *p = aws_param_find(op, k);
    if (!p) {
      struct buf b;
      buf_init(&b);
      for (size_t j = 0; j < op->n_params; j++)
        if (!op->params[j].out_of_scope)
          buf_printf(&b, "%s%s", b.len ? ", " : "", op->params[j].member);
      aws_fail(ps->err, ps->errlen, "%s%s: unknown parameter %s, must be one of: %s", ps->prefix,
               input_flag, k, (char *)b.data);
      buf_release(&b);
      return -1;
    }
    char msg[400];
    if (aws_validate(p->shape, v, p->member, msg, sizeof msg))
      return aws_fail(ps->err, ps->errlen, "%s%s: %s", ps->prefix,
                      ps->given[p - op->params] ? p->flag : input_flag, msg);
  }
  return 0;
}

int awscli_parse(const struct aws_op *op, int argc, char **argv, json_t **req_out,
                 struct awscli_globals *g, char *err, size_t errlen) {
  struct awscli_globals local;
  if (!g) {
    awscli_globals_init(&local);
    g = &local;
  }
  *req_out = NULL;
  /* --help anywhere wins, as it does before argparse sees the rest. */
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      g->action = AWSCLI_HELP;
      return 0;
    }
  struct parse ps = {.op = op, .g = g, .req = json_object(), .err = err, .errlen = errlen};
  snprintf(ps.prefix, sizeof ps.prefix, "barge %s: ", op->cli_name);
  ps.given = xcalloc(op->n_params ? op->n_params : 1, 1);
  ps.vals = xcalloc((size_t)argc + 1, sizeof *ps.vals);
  int rc = read_args(&ps, argc, argv);
  if (!rc && g->action == AWSCLI_RUN) rc = finish_request(&ps);
  if (!rc && g->action == AWSCLI_RUN) rc = awscli_check_query(g, ps.prefix, err, errlen);
  if (!rc && g->action == AWSCLI_RUN) {
    *req_out = ps.req;
    ps.req = NULL;
  }
  json_decref(ps.req);
  json_decref(ps.input);
  free(ps.given);
  free((void *)ps.vals);
  return rc;
}
