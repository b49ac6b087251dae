/* cli_doc.c: what the command line says about an operation: `barge <operation> help` (with
 * the shorthand syntax of each parameter, as awscli's ParamShorthandDocGen writes it),
 * `--generate-cli-skeleton` and the list of operations. */
#include <stdlib.h>
#include <string.h>

#include "aws_internal.h"

#define DOC_MAX_STACK 3

struct doc_stack {
  const char *names[16];
  int n;
};

static int doc_in_stack(const struct doc_stack *st, const char *name) {
  for (int i = 0; i < st->n; i++)
    if (strcmp(st->names[i], name) == 0) return 1;
  return 0;
}

static int doc_shape(const struct aws_shape *sh, struct doc_stack *st, struct buf *b);

/* doc_shape of a member or element shape, with its name on the stack. */
static int doc_nested(const struct aws_shape *sh, struct doc_stack *st, struct buf *b) {
  st->names[st->n++] = sh->name;
  int r = doc_shape(sh, st, b);
  st->n--;
  return r;
}

static int doc_struct(const struct aws_shape *sh, struct doc_stack *st, struct buf *b) {
  if (st->n) buf_append(b, "{", 1);
  for (size_t i = 0; i < sh->n_members; i++) {
    const struct aws_member *m = &sh->members[i];
    if (i) buf_append(b, ",", 1);
    buf_printf(b, "%s=", m->name);
    if (doc_in_stack(st, m->shape->name)) {
      buf_printf(b, "( ... recursive ... )");
      continue;
    }
    int r = doc_nested(m->shape, st, b);
    if (r) return r;
  }
  if (st->n) buf_append(b, "}", 1);
  return 0;
}

/* A list or a map: its element's syntax, shown twice. */
static int doc_repeated(const struct aws_shape *sh, struct doc_stack *st, struct buf *b) {
  struct buf e;
  buf_init(&e);
  int r = doc_nested(sh->elem, st, &e);
  if (r == 0) {
    const char *x = (const char *)e.data;
    if (sh->type == AWS_MAP)
      buf_printf(b, st->n ? "{KeyName1=%s,KeyName2=%s}" : "KeyName1=%s,KeyName2=%s", x, x);
    else if (aws_is_complex(sh->elem) || st->n > 1)
      buf_printf(b, "[%s,%s]", x, x);
    else
      buf_printf(b, "%s,%s", x, x);
  }
  buf_release(&e);
  return r;
}

/* Appends the shorthand syntax of sh to b; -1 when it is too deep to show (TooComplexError)
 * or not modelled (JSON). */
static int doc_shape(const struct aws_shape *sh, struct doc_stack *st, struct buf *b) {
  if (st->n > DOC_MAX_STACK) return -1;
  if (aws_is_scalar(sh)) {
    buf_printf(b, "%s", aws_type_word(sh));
    return 0;
  }
  if (sh->type == AWS_STRUCT) return doc_struct(sh, st, b);
  if (sh->type == AWS_LIST || sh->type == AWS_MAP) return doc_repeated(sh, st, b);
  return -1;
}

/* The full shorthand syntax of a top-level parameter, as `aws help` shows it; 0 if there is
 * none (scalars, lists of scalars, shapes too deep). b holds the text. */
static int shorthand_doc(const struct aws_shape *sh, struct buf *b) {
  if (!aws_is_complex(sh) || (sh->type == AWS_LIST && !aws_is_complex(sh->elem))) return 0;
  struct doc_stack st = {.n = 0};
  const struct aws_shape *top = sh->type == AWS_LIST ? sh->elem : sh;
  if (doc_shape(top, &st, b)) return 0;
  if (sh->type == AWS_LIST) buf_printf(b, " ...");
  return 1;
}

/* The top level of the shorthand syntax with nested structures shown as {...}, cut after max
 * characters: the hint in error messages, and help's syntax for shapes too deep to show. */
void cli_shorthand_hint(const struct aws_shape *sh, size_t max, char *out, size_t outlen) {
  struct buf b;
  buf_init(&b);
  const struct aws_shape *top = sh->type == AWS_LIST ? sh->elem : sh;
  if (top->type == AWS_STRUCT) {
    for (size_t i = 0; i < top->n_members && b.len < max; i++) {
      const struct aws_shape *ms = top->members[i].shape;
      buf_printf(&b, "%s%s=%s", i ? "," : "", top->members[i].name,
                 ms->type == AWS_STRUCT || ms->type == AWS_MAP ? "{...}"
                 : ms->type == AWS_LIST ? (aws_is_complex(ms->elem) ? "[{...}]" : "value1,value2")
                                           : aws_type_word(ms));
      if (i + 1 < top->n_members && b.len >= max) buf_printf(&b, ",...");
    }
  } else if (top->type == AWS_MAP) {
    buf_printf(&b, "KeyName1=%s,KeyName2=%s", aws_type_word(top->elem), aws_type_word(top->elem));
  } else {
    buf_printf(&b, "key=value");
  }
  if (sh->type == AWS_LIST) buf_printf(&b, " ...");
  snprintf(out, outlen, "%s", b.data ? (char *)b.data : "");
  buf_release(&b);
}

/* ---- skeleton and help ----------------------------------------------------------------- */

static json_t *skeleton(const struct aws_shape *sh, struct doc_stack *st) {
  switch (sh->type) {
  case AWS_STRING: {
    if (!sh->enums) return json_string("");
    const char *bar = strchr(sh->enums, '|');
    return bar ? json_stringn(sh->enums, (size_t)(bar - sh->enums)) : json_string(sh->enums);
  }
  case AWS_INTEGER:
  case AWS_LONG: return json_integer(0);
  case AWS_DOUBLE: return json_real(0.0);
  case AWS_BOOLEAN: return json_true();
  case AWS_LIST: return json_pack("[o]", skeleton(sh->elem, st));
  case AWS_MAP: return json_pack("{s:o}", "KeyName", skeleton(sh->elem, st));
  case AWS_STRUCT: {
    json_t *o = json_object();
    if (doc_in_stack(st, sh->name) || st->n >= 16) return o;
    st->names[st->n++] = sh->name;
    for (size_t i = 0; i < sh->n_members; i++) /* a nested JSON member is out of scope */
      if (!sh->members[i].unhonoured && sh->members[i].shape->type != AWS_JSON)
        json_object_set_new(o, sh->members[i].name, skeleton(sh->members[i].shape, st));
    st->n--;
    return o;
  }
  case AWS_JSON:
  case AWS_TYPE__COUNT:
    break;
  }
  return json_object();
}

json_t *awscli_skeleton(const struct aws_op *op) {
  json_t *o = json_object();
  for (size_t i = 0; i < op->n_params; i++) {
    if (op->params[i].out_of_scope || op->params[i].unhonoured) continue;
    struct doc_stack st = {.n = 0};
    json_object_set_new(o, op->params[i].member, skeleton(op->params[i].shape, &st));
  }
  return o;
}

static const char *param_type_label(const struct aws_shape *sh) {
  if (sh->type == AWS_LIST) return aws_is_complex(sh->elem) ? "list of structures" : "list";
  if (sh->type == AWS_MAP) return "map";
  return aws_type_word(sh);
}

void awscli_usage(const struct aws_op *op, FILE *out) {
  fprintf(out, "barge %s: %s\n", op->cli_name, op->summary);
  fprintf(out, "AWS Batch %s (%s %s); flags and JSON as in `aws batch %s`.\n\n", op->api_name,
          op->method, op->path, op->cli_name);
  fprintf(out, "usage: barge %s", op->cli_name);
  for (size_t i = 0; i < op->n_params; i++)
    if (op->params[i].required) fprintf(out, " %s <value>", op->params[i].flag);
  fprintf(out, " [options]\n\n");
  fprintf(out, "Options (* required). Structures, maps and lists of structures take JSON or\n"
               "shorthand (key=value,...); list items are separate arguments; any value can be\n"
               "read from a file with file://path.\n");
  for (size_t i = 0; i < op->n_params; i++) {
    const struct aws_param *p = &op->params[i];
    if (p->out_of_scope) continue;
    if (p->shape->type == AWS_BOOLEAN)
      fprintf(out, "  %s | --no-%s (boolean)", p->flag, p->flag + 2);
    else if (p->shape->type == AWS_LIST)
      fprintf(out, "  %s <value> [<value> ...] (%s)", p->flag, param_type_label(p->shape));
    else
      fprintf(out, "  %s <value> (%s)", p->flag, param_type_label(p->shape));
    fprintf(out, "%s\n", p->required ? " *" : "");
    const struct aws_shape *scalar =
        p->shape->type == AWS_LIST ? p->shape->elem : p->shape;
    if (scalar->enums) {
      fprintf(out, "      one of:");
      for (const char *e = scalar->enums; *e; e++) {
        if (e == scalar->enums || e[-1] == '|') fputc(' ', out);
        if (*e != '|') fputc(*e, out);
      }
      fputc('\n', out);
    }
    struct buf b;
    buf_init(&b);
    if (shorthand_doc(p->shape, &b))
      fprintf(out, "      shorthand: %s\n", (char *)b.data);
    else if (aws_is_complex(p->shape) &&
             aws_is_complex(p->shape->type == AWS_LIST ? p->shape->elem : p->shape)) {
      char hint[2048];
      cli_shorthand_hint(p->shape, sizeof hint - 64, hint, sizeof hint);
      fprintf(out, "      shorthand: %s\n      (write {...} as {key=value,...}; "
                   "--generate-cli-skeleton shows every member)\n", hint);
    }
    buf_release(&b);
  }
  fprintf(out, "  --cli-input-json <JSON | file://path>\n"
               "      request members as JSON; flags given as well override them\n"
               "  --generate-cli-skeleton [input]\n"
               "      print a JSON skeleton for --cli-input-json and exit\n");
  if (op->page_result)
    fprintf(out, "  --starting-token <string>  --max-items <integer>  --page-size <integer>\n"
                 "      pagination: all pages of %s are fetched unless --no-paginate,\n"
                 "      --next-token or --max-results is given; --max-items N prints at most N\n"
                 "      and a NextToken to give to --starting-token for the rest; --page-size\n"
                 "      sets the items per request\n",
            op->page_result);
  fprintf(out, "\nGlobal options: --brokers <host:port,...>  --topic-prefix <P>  --kafka-props <k=v,...>\n"
               "  --output json|text|table|yaml|yaml-stream  --query <JMESPath>  --no-paginate\n"
               "  The AWS CLI's --region, --endpoint-url, --profile, --debug, --no-cli-pager,\n"
               "  --cli-read-timeout, --no-verify-ssl, ... are accepted and ignored: barge talks\n"
               "  to the Kafka of --brokers (or of the stack `barge up` recorded), never to an\n"
               "  endpoint; for another stack's API use `aws batch --endpoint-url`.\n");
  fprintf(out, "\nExample:\n  %s\n", op->example);
}

void awscli_list_ops(FILE *out) {
  fprintf(out, "AWS Batch operations (flags and JSON as in `aws batch <operation>`):\n");
  for (size_t i = 0; i < aws_n_ops; i++)
    fprintf(out, "  %-34s %s\n", aws_ops[i].cli_name, aws_ops[i].summary);
  fprintf(out, "Run `barge <operation> help` for an operation's options.\n");
}

