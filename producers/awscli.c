/* awscli.c: reads `barge <operation> [flags]` the way the AWS CLI reads `aws batch <operation>`.
 *
 * The pipeline for one flag follows awscli (argprocess.py, shorthand.py, paramfile.py):
 *   argv values -> file:// / fileb:// loaded (one value only) -> JSON when the value starts
 *   with '{' or '[' -> else shorthand for structures, maps and lists of structures, with
 *   scalars converted and single values wrapped into lists by the model (BackCompatVisitor)
 *   -> else scalar conversion (integers, floats) -> request member.
 * Then --cli-input-json fills the members no flag set, and the whole request is checked
 * against the model (required, unknown members, types) as botocore's ParamValidator does, so
 * a mistake is reported before anything is sent. The model table lives in aws_ops.c. */
#include "awscli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SHORT_SAMPLE_MAX 72 /* the "like ..." hint in error messages */
#define SHOW_VALUE_MAX 48   /* how much of a bad value an error message quotes */

static int fail(char *err, size_t errlen, const char *fmt, ...) BARGE_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* ---- the table ------------------------------------------------------------------------- */

const struct awscli_op *awscli_find(const char *cli_name) {
  if (!cli_name) return NULL;
  for (size_t i = 0; i < awscli_n_ops; i++)
    if (strcmp(awscli_ops[i].cli_name, cli_name) == 0) return &awscli_ops[i];
  return NULL;
}

const struct awscli_op *awscli_find_api(const char *api_name) {
  if (!api_name) return NULL;
  for (size_t i = 0; i < awscli_n_ops; i++)
    if (strcmp(awscli_ops[i].api_name, api_name) == 0) return &awscli_ops[i];
  return NULL;
}

const struct awscli_param *awscli_param_find(const struct awscli_op *op, const char *member) {
  for (size_t i = 0; op && member && i < op->n_params; i++)
    if (strcmp(op->params[i].member, member) == 0) return &op->params[i];
  return NULL;
}

static const struct awscli_member *member_find(const struct awscli_shape *sh, const char *name) {
  for (size_t i = 0; i < sh->n_members; i++)
    if (strcmp(sh->members[i].name, name) == 0) return &sh->members[i];
  return NULL;
}

static int is_complex(const struct awscli_shape *sh) {
  return sh->type == AWSCLI_STRUCT || sh->type == AWSCLI_LIST || sh->type == AWSCLI_MAP;
}

static const char *type_word(const struct awscli_shape *sh) {
  switch (sh->type) {
  case AWSCLI_STRING: return "string";
  case AWSCLI_INTEGER: return "integer";
  case AWSCLI_LONG: return "long";
  case AWSCLI_DOUBLE: return "float";
  case AWSCLI_BOOLEAN: return "boolean";
  case AWSCLI_STRUCT: return "structure";
  case AWSCLI_LIST: return "list";
  case AWSCLI_MAP: return "map";
  case AWSCLI_JSON: return "JSON";
  case AWSCLI_TYPE__COUNT: break;
  }
  return "?";
}

/* ---- small helpers --------------------------------------------------------------------- */

/* Python's string.whitespace. */
static int is_ws(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static const char *skip_ws(const char *s) {
  while (*s && is_ws((unsigned char)*s)) s++;
  return s;
}

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Python int(): optional whitespace and sign around decimal digits. */
static int parse_int(const char *s, long long *out) {
  const char *p = skip_ws(s);
  if (!*p) return -1;
  errno = 0;
  char *end;
  long long v = strtoll(p, &end, 10);
  if (end == p || errno == ERANGE) return -1;
  if (*skip_ws(end)) return -1;
  if (!isdigit((unsigned char)end[-1])) return -1;
  *out = v;
  return 0;
}

/* Python float(), finite values only (JSON has no inf or nan). */
static int parse_double(const char *s, double *out) {
  const char *p = skip_ws(s);
  if (!*p) return -1;
  errno = 0;
  char *end;
  double v = strtod(p, &end);
  if (end == p || errno == ERANGE || !isfinite(v)) return -1;
  if (*skip_ws(end)) return -1;
  *out = v;
  return 0;
}

/* A short, quoted rendering of a value for error messages. */
static void show(const char *s, char out[SHOW_VALUE_MAX + 8]) {
  size_t n = strlen(s);
  if (n <= SHOW_VALUE_MAX) {
    snprintf(out, SHOW_VALUE_MAX + 8, "%s", s);
  } else {
    snprintf(out, SHOW_VALUE_MAX + 8, "%.*s...", SHOW_VALUE_MAX, s);
  }
}

static void show_json(const json_t *v, char out[SHOW_VALUE_MAX + 8]) {
  char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
  show(text ? text : "?", out);
  free(text);
}

static json_t *new_string(const char *s) {
  return json_string(s); /* NULL when s is not UTF-8 */
}

/* Reads a `file://` or `fileb://` value. Returns 1 with *content (malloc'd) when value names a
 * file, 0 when it does not, -1 with a message when the file cannot be read. */
static int load_paramfile(const char *value, char **content, char *err, size_t errlen) {
  const char *path;
  if (starts_with(value, "file://"))
    path = value + 7;
  else if (starts_with(value, "fileb://"))
    path = value + 8;
  else
    return 0;
  char *expanded = NULL;
  if (path[0] == '~' && (path[1] == '/' || path[1] == 0) && getenv("HOME")) {
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s%s", getenv("HOME"), path + 1);
    expanded = (char *)b.data;
    path = expanded;
  }
  size_t len;
  char *data = read_file(path, &len);
  int rc = 1;
  if (!data) {
    rc = fail(err, errlen, "cannot read %s: %s", value, strerror(errno));
  } else if (strlen(data) != len) {
    free(data);
    data = NULL;
    rc = fail(err, errlen, "%s holds NUL bytes; only text values are supported", value);
  }
  free(expanded);
  *content = data;
  return rc;
}

/* ---- shorthand syntax (a port of awscli/shorthand.py's ShorthandParser) ----------------- */

struct sh_parser {
  const char *s;
  long n, i;
  int paramfile; /* the current key was written `key@=`: file:// values are loaded */
  char msg[160]; /* the first syntax error */
};

static int sh_eof(const struct sh_parser *p) { return p->i >= p->n; }
static int sh_cur(const struct sh_parser *p) {
  return p->i < p->n ? (unsigned char)p->s[p->i] : -1;
}
static void sh_ws(struct sh_parser *p) {
  while (!sh_eof(p) && is_ws(sh_cur(p))) p->i++;
}

static int sh_error(struct sh_parser *p, const char *expected) {
  if (sh_eof(p))
    snprintf(p->msg, sizeof p->msg, "expected %s at end of input", expected);
  else
    snprintf(p->msg, sizeof p->msg, "expected %s at character %ld, found '%c'", expected,
             p->i + 1, p->s[p->i]);
  return -1;
}

static int sh_expect(struct sh_parser *p, char c, int ws) {
  if (ws) sh_ws(p);
  if (sh_eof(p) || sh_cur(p) != c) {
    char what[8];
    snprintf(what, sizeof what, "'%c'", c);
    return sh_error(p, what);
  }
  p->i++;
  if (ws) sh_ws(p);
  return 0;
}

/* The regex character classes of shorthand.py, for ASCII; every non-ASCII byte is allowed. */
static int sh_start_char(int c) {
  if (c >= 0x80) return 1;
  if (c <= 0x20 || c == 0x7f) return c == 0x7f;
  return !strchr("\"',=[{", c);
}
static int sh_first_follow(int c) {
  if (c >= 0x80) return 1;
  if (c < 0x20 || c == 0x7f) return is_ws(c) || c == 0x7f;
  return !strchr("\"',]}", c);
}
static int sh_second_follow(int c) {
  if (c >= 0x80) return 1;
  if (c < 0x20 || c == 0x7f) return is_ws(c) || c == 0x7f;
  return !strchr("\"',=", c);
}

/* Turns raw text into a value: `\,` becomes `,`, trailing whitespace goes, and after `key@=`
 * a file:// value is replaced by the file's content. */
static json_t *sh_finish(struct sh_parser *p, const char *raw, long len, int unescape) {
  char *t = xmalloc((size_t)len + 1);
  long o = 0;
  for (long k = 0; k < len; k++) {
    if (unescape && raw[k] == '\\' && k + 1 < len && raw[k + 1] == ',') continue;
    t[o++] = raw[k];
  }
  if (unescape)
    while (o > 0 && is_ws((unsigned char)t[o - 1])) o--;
  t[o] = 0;
  json_t *v = NULL;
  if (p->paramfile) {
    char *content = NULL;
    int r = load_paramfile(t, &content, p->msg, sizeof p->msg);
    if (r < 0) {
      free(t);
      return NULL;
    }
    if (r > 0) {
      free(t);
      t = content;
    }
  }
  v = new_string(t);
  if (!v) snprintf(p->msg, sizeof p->msg, "value is not valid UTF-8");
  free(t);
  return v;
}

/* value / second-value: a run of characters; an empty first value is "" (not an error). */
static json_t *sh_bare(struct sh_parser *p, int second) {
  long start = p->i;
  int first = 1;
  while (!sh_eof(p)) {
    int c = sh_cur(p);
    if (c == '\\' && p->i + 1 < p->n && p->s[p->i + 1] == ',') {
      p->i += 2;
    } else if (first ? sh_start_char(c) : second ? sh_second_follow(c) : sh_first_follow(c)) {
      p->i++;
    } else {
      break;
    }
    first = 0;
  }
  if (second && p->i == start) {
    sh_error(p, "a value");
    return NULL;
  }
  return sh_finish(p, p->s + start, p->i - start, 1);
}

/* '...' or "...": a backslash escapes the quote and itself. Like the regex
 * '(?:\\'|[^'])*', an unterminated string closes at its last escaped quote. */
static json_t *sh_quoted(struct sh_parser *p) {
  char q = p->s[p->i];
  long k = p->i + 1, close = -1, last_escaped = -1;
  while (k < p->n) {
    if (p->s[k] == '\\' && k + 1 < p->n && p->s[k + 1] == q) {
      last_escaped = k + 1;
      k += 2;
    } else if (p->s[k] == q) {
      close = k;
      break;
    } else {
      k++;
    }
  }
  if (close < 0) close = last_escaped;
  if (close < 0) {
    snprintf(p->msg, sizeof p->msg, "unterminated %s-quoted value at character %ld",
             q == '"' ? "double" : "single", p->i + 1);
    return NULL;
  }
  /* value[1:-1].replace("\\" + q, q).replace("\\\\", "\\") */
  long len = close - p->i - 1;
  const char *in = p->s + p->i + 1;
  char *a = xmalloc((size_t)len + 1), *b = xmalloc((size_t)len + 1);
  long o = 0;
  for (long j = 0; j < len; j++) {
    if (in[j] == '\\' && j + 1 < len && in[j + 1] == q) continue;
    a[o++] = in[j];
  }
  a[o] = 0;
  long o2 = 0;
  for (long j = 0; j < o; j++) {
    if (a[j] == '\\' && j + 1 < o && a[j + 1] == '\\') j++;
    b[o2++] = a[j];
  }
  b[o2] = 0;
  p->i = close + 1;
  json_t *v = sh_finish(p, b, o2, 0);
  free(a);
  free(b);
  return v;
}

static json_t *sh_first_value(struct sh_parser *p) {
  int c = sh_cur(p);
  if (c == '\'' || c == '"') return sh_quoted(p);
  return sh_bare(p, 0);
}

static json_t *sh_second_value(struct sh_parser *p) {
  int c = sh_cur(p);
  if (c == '\'' || c == '"') return sh_quoted(p);
  return sh_bare(p, 1);
}

static json_t *sh_explicit_values(struct sh_parser *p);

/* key = 1*[a-zA-Z0-9-_.#/:] (may be empty, then '=' is expected at once). */
static char *sh_key(struct sh_parser *p) {
  long start = p->i;
  while (!sh_eof(p)) {
    int c = sh_cur(p);
    if (!(isalnum(c) || strchr("-_.#/:", c))) break;
    p->i++;
  }
  char *k = xmalloc((size_t)(p->i - start) + 1);
  memcpy(k, p->s + start, (size_t)(p->i - start));
  k[p->i - start] = 0;
  return k;
}

/* `=` or `@=` after a key. */
static int sh_assign(struct sh_parser *p) {
  p->paramfile = 0;
  sh_ws(p);
  if (sh_cur(p) == '@') {
    p->i++;
    p->paramfile = 1;
  }
  return sh_expect(p, '=', 1);
}

static json_t *sh_explicit_list(struct sh_parser *p) {
  if (sh_expect(p, '[', 1)) return NULL;
  json_t *arr = json_array();
  while (sh_cur(p) != ']') {
    json_t *v = sh_explicit_values(p);
    if (!v) goto bad;
    json_array_append_new(arr, v);
    sh_ws(p);
    if (sh_cur(p) != ']') {
      if (sh_expect(p, ',', 0)) goto bad;
      sh_ws(p);
    }
  }
  if (sh_expect(p, ']', 0)) goto bad;
  return arr;
bad:
  json_decref(arr);
  return NULL;
}

static json_t *sh_hash_literal(struct sh_parser *p) {
  if (sh_expect(p, '{', 1)) return NULL;
  json_t *obj = json_object();
  while (sh_cur(p) != '}') {
    char *key = sh_key(p);
    json_t *v = NULL;
    if (sh_assign(p) == 0) v = sh_explicit_values(p);
    if (!v) {
      free(key);
      goto bad;
    }
    json_object_set_new(obj, key, v);
    free(key);
    sh_ws(p);
    if (sh_cur(p) != '}') {
      if (sh_expect(p, ',', 0)) goto bad;
      sh_ws(p);
    }
  }
  if (sh_expect(p, '}', 0)) goto bad;
  return obj;
bad:
  json_decref(obj);
  return NULL;
}

static json_t *sh_explicit_values(struct sh_parser *p) {
  if (sh_cur(p) == '[') return sh_explicit_list(p);
  if (sh_cur(p) == '{') return sh_hash_literal(p);
  return sh_first_value(p);
}

/* foo=bar -> "bar"; foo=bar,baz -> ["bar", "baz"]; a following `key=` ends the list. */
static json_t *sh_csv_value(struct sh_parser *p) {
  json_t *first = sh_first_value(p);
  if (!first) return NULL;
  sh_ws(p);
  if (sh_eof(p) || sh_cur(p) != ',') return first;
  if (sh_expect(p, ',', 1)) {
    json_decref(first);
    return NULL;
  }
  json_t *list = json_array();
  json_array_append_new(list, first);
  for (;;) {
    json_t *v = sh_second_value(p);
    int ok = v != NULL;
    if (ok) {
      sh_ws(p);
      if (sh_eof(p)) {
        json_array_append_new(list, v);
        break;
      }
      ok = sh_expect(p, ',', 1) == 0;
      if (ok) json_array_append_new(list, v);
      else json_decref(v);
    }
    if (!ok) {
      if (sh_eof(p)) {
        json_decref(list);
        return NULL;
      }
      while (p->i >= 0 && p->s[p->i] != ',') p->i--; /* back to the comma before `key=` */
      p->msg[0] = 0;
      break;
    }
  }
  if (json_array_size(list) == 1) {
    json_t *only = json_incref(json_array_get(list, 0));
    json_decref(list);
    return only;
  }
  return list;
}

static json_t *sh_values(struct sh_parser *p) {
  if (sh_eof(p)) return json_string("");
  if (sh_cur(p) == '[') return sh_explicit_list(p);
  if (sh_cur(p) == '{') return sh_hash_literal(p);
  return sh_csv_value(p);
}

/* parameter = keyval *("," keyval) */
static json_t *sh_parameter(struct sh_parser *p) {
  json_t *obj = json_object();
  for (int n = 0; n == 0 || !sh_eof(p); n++) {
    if (n > 0 && sh_expect(p, ',', 1)) goto bad;
    char *key = sh_key(p);
    if (json_object_get(obj, key)) {
      snprintf(p->msg, sizeof p->msg,
               "key '%.40s' given twice (separate list items with a space, not a comma)", key);
      free(key);
      goto bad;
    }
    json_t *v = NULL;
    if (sh_assign(p) == 0) v = sh_values(p);
    if (!v) {
      free(key);
      goto bad;
    }
    json_object_set_new(obj, key, v);
    free(key);
  }
  return obj;
bad:
  json_decref(obj);
  return NULL;
}

/* ---- the model visitor: scalar conversion and list wrapping ---------------------------- */

struct path {
  char s[256];
};

static void path_push(struct path *pa, size_t *saved, const char *fmt, ...) BARGE_PRINTF(3, 4);
static void path_push(struct path *pa, size_t *saved, const char *fmt, ...) {
  *saved = strlen(pa->s);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pa->s + *saved, sizeof pa->s - *saved, fmt, ap);
  va_end(ap);
}
static void path_pop(struct path *pa, size_t saved) { pa->s[saved] = 0; }

static void path_member(struct path *pa, size_t *saved, const char *name) {
  path_push(pa, saved, pa->s[0] ? ".%s" : "%s", name);
}

/* awscli's BackCompatVisitor. Returns the value to store in v's place (a new reference), or
 * NULL with err set. Differs from awscli in one way: a single value wrapped into a list is
 * visited too, so `shareDistribution={shareIdentifier=a,weightFactor=0.5}` converts 0.5. */
static json_t *visit(const struct awscli_shape *sh, json_t *v, struct path *pa, char *err,
                     size_t errlen) {
  size_t saved;
  switch (sh->type) {
  case AWSCLI_STRUCT:
    if (json_is_object(v)) {
      for (size_t i = 0; i < sh->n_members; i++) {
        json_t *child = json_object_get(v, sh->members[i].name);
        if (!child) continue;
        path_member(pa, &saved, sh->members[i].name);
        json_t *nv = visit(sh->members[i].shape, child, pa, err, errlen);
        path_pop(pa, saved);
        if (!nv) return NULL;
        json_object_set_new(v, sh->members[i].name, nv);
      }
    }
    return json_incref(v);
  case AWSCLI_LIST: {
    json_t *list = v;
    if (!json_is_array(v)) {
      list = json_array();
      json_array_append(list, v);
    } else {
      json_incref(list);
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
      path_push(pa, &saved, "[%zu]", i);
      json_t *nv = visit(sh->elem, json_array_get(list, i), pa, err, errlen);
      path_pop(pa, saved);
      if (!nv) {
        json_decref(list);
        return NULL;
      }
      json_array_set_new(list, i, nv);
    }
    return list;
  }
  case AWSCLI_MAP:
    if (json_is_object(v)) {
      const char *k;
      json_t *child;
      void *tmp;
      json_object_foreach_safe(v, tmp, k, child) {
        path_push(pa, &saved, ".%s", k);
        json_t *nv = visit(sh->elem, child, pa, err, errlen);
        path_pop(pa, saved);
        if (!nv) return NULL;
        json_object_set_new(v, k, nv);
      }
    }
    return json_incref(v);
  case AWSCLI_INTEGER:
  case AWSCLI_LONG:
  case AWSCLI_DOUBLE:
  case AWSCLI_BOOLEAN: {
    if (!json_is_string(v)) return json_incref(v);
    const char *s = json_string_value(v);
    char shown[SHOW_VALUE_MAX + 8];
    show(s, shown);
    if (sh->type == AWSCLI_BOOLEAN) {
      if (strcasecmp(s, "true") == 0) return json_true();
      if (strcasecmp(s, "false") == 0) return json_false();
      return json_incref(v); /* awscli leaves other words as they are */
    }
    if (sh->type == AWSCLI_DOUBLE) {
      double d;
      if (parse_double(s, &d) == 0) return json_real(d);
      fail(err, errlen, "%s: expected a number, got '%s'", pa->s, shown);
      return NULL;
    }
    long long n;
    if (parse_int(s, &n) == 0) return json_integer(n);
    fail(err, errlen, "%s: expected an integer, got '%s'", pa->s, shown);
    return NULL;
  }
  case AWSCLI_STRING:
  case AWSCLI_JSON:
  case AWSCLI_TYPE__COUNT:
    break;
  }
  return json_incref(v);
}

int awscli_shorthand(const char *text, const struct awscli_shape *shape, json_t **out, char *err,
                     size_t errlen) {
  *out = NULL;
  struct sh_parser p = {.s = text, .n = (long)strlen(text), .i = 0};
  json_t *v = sh_parameter(&p);
  if (!v) return fail(err, errlen, "%s", p.msg[0] ? p.msg : "malformed shorthand");
  if (shape && shape->type != AWSCLI_JSON) {
    struct path pa = {{0}};
    json_t *nv = visit(shape, v, &pa, err, errlen);
    json_decref(v);
    if (!nv) return -1;
    v = nv;
  }
  *out = v;
  return 0;
}

/* ---- shorthand documentation (awscli's ParamShorthandDocGen) ---------------------------- */

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

/* Appends the shorthand syntax of sh to b; -1 when it is too deep to show (TooComplexError). */
static int doc_shape(const struct awscli_shape *sh, struct doc_stack *st, struct buf *b) {
  if (st->n > DOC_MAX_STACK) return -1;
  switch (sh->type) {
  case AWSCLI_STRUCT: {
    if (st->n) buf_append(b, "{", 1);
    for (size_t i = 0; i < sh->n_members; i++) {
      const struct awscli_member *m = &sh->members[i];
      if (i) buf_append(b, ",", 1);
      buf_printf(b, "%s=", m->name);
      if (doc_in_stack(st, m->shape->name)) {
        buf_printf(b, "( ... recursive ... )");
        continue;
      }
      st->names[st->n++] = m->shape->name;
      int r = doc_shape(m->shape, st, b);
      st->n--;
      if (r) return r;
    }
    if (st->n) buf_append(b, "}", 1);
    return 0;
  }
  case AWSCLI_LIST: {
    struct buf e;
    buf_init(&e);
    st->names[st->n++] = sh->elem->name;
    int r = doc_shape(sh->elem, st, &e);
    st->n--;
    if (r == 0) {
      if (is_complex(sh->elem) || st->n > 1)
        buf_printf(b, "[%s,%s]", (char *)e.data, (char *)e.data);
      else
        buf_printf(b, "%s,%s", (char *)e.data, (char *)e.data);
    }
    buf_release(&e);
    return r;
  }
  case AWSCLI_MAP: {
    struct buf e;
    buf_init(&e);
    st->names[st->n++] = sh->elem->name;
    int r = doc_shape(sh->elem, st, &e);
    st->n--;
    if (r == 0)
      buf_printf(b, st->n ? "{KeyName1=%s,KeyName2=%s}" : "KeyName1=%s,KeyName2=%s",
                 (char *)e.data, (char *)e.data);
    buf_release(&e);
    return r;
  }
  case AWSCLI_JSON:
    return -1;
  case AWSCLI_STRING:
  case AWSCLI_INTEGER:
  case AWSCLI_LONG:
  case AWSCLI_DOUBLE:
  case AWSCLI_BOOLEAN:
  case AWSCLI_TYPE__COUNT:
    break;
  }
  buf_printf(b, "%s", type_word(sh));
  return 0;
}

/* The full shorthand syntax of a top-level parameter, as `aws help` shows it; 0 if there is
 * none (scalars, lists of scalars, shapes too deep). b holds the text. */
static int shorthand_doc(const struct awscli_shape *sh, struct buf *b) {
  if (!is_complex(sh) || (sh->type == AWSCLI_LIST && !is_complex(sh->elem))) return 0;
  struct doc_stack st = {.n = 0};
  const struct awscli_shape *top = sh->type == AWSCLI_LIST ? sh->elem : sh;
  if (doc_shape(top, &st, b)) return 0;
  if (sh->type == AWSCLI_LIST) buf_printf(b, " ...");
  return 1;
}

/* The top level of the shorthand syntax with nested structures shown as {...}, cut after max
 * characters: the hint in error messages, and help's syntax for shapes too deep to show. */
static void shorthand_hint(const struct awscli_shape *sh, size_t max, char *out, size_t outlen) {
  struct buf b;
  buf_init(&b);
  const struct awscli_shape *top = sh->type == AWSCLI_LIST ? sh->elem : sh;
  if (top->type == AWSCLI_STRUCT) {
    for (size_t i = 0; i < top->n_members && b.len < max; i++) {
      const struct awscli_shape *ms = top->members[i].shape;
      buf_printf(&b, "%s%s=%s", i ? "," : "", top->members[i].name,
                 ms->type == AWSCLI_STRUCT || ms->type == AWSCLI_MAP ? "{...}"
                 : ms->type == AWSCLI_LIST ? (is_complex(ms->elem) ? "[{...}]" : "value1,value2")
                                           : type_word(ms));
      if (i + 1 < top->n_members && b.len >= max) buf_printf(&b, ",...");
    }
  } else if (top->type == AWSCLI_MAP) {
    buf_printf(&b, "KeyName1=%s,KeyName2=%s", type_word(top->elem), type_word(top->elem));
  } else {
    buf_printf(&b, "key=value");
  }
  if (sh->type == AWSCLI_LIST) buf_printf(&b, " ...");
  snprintf(out, outlen, "%s", b.data ? (char *)b.data : "");
  buf_release(&b);
}

/* ---- validation (botocore's ParamValidator: required, unknown members, types) ----------- */

static int validate(const struct awscli_shape *sh, const json_t *v, struct path *pa, char *err,
                    size_t errlen) {
  char shown[SHOW_VALUE_MAX + 8];
  size_t saved;
  int ok = 1;
  switch (sh->type) {
  case AWSCLI_STRING: ok = json_is_string(v); break;
  case AWSCLI_INTEGER:
  case AWSCLI_LONG: ok = json_is_integer(v); break;
  case AWSCLI_DOUBLE: ok = json_is_number(v); break;
  case AWSCLI_BOOLEAN: ok = json_is_boolean(v); break;
  case AWSCLI_LIST: ok = json_is_array(v); break;
  case AWSCLI_STRUCT:
  case AWSCLI_MAP: ok = json_is_object(v); break;
  case AWSCLI_JSON:
  case AWSCLI_TYPE__COUNT: return 0;
  }
  if (!ok) {
    show_json(v, shown);
    return fail(err, errlen, "invalid type for parameter %s: expected %s, got %s", pa->s,
                type_word(sh), shown);
  }
  if (sh->type == AWSCLI_STRUCT) {
    for (size_t i = 0; i < sh->n_members; i++)
      if (sh->members[i].required && !json_object_get(v, sh->members[i].name))
        return fail(err, errlen, "missing required parameter %s.%s", pa->s,
                    sh->members[i].name);
    const char *k;
    const json_t *child;
    json_object_foreach((json_t *)v, k, child) {
      const struct awscli_member *m = member_find(sh, k);
      if (!m) {
        struct buf b;
        buf_init(&b);
        for (size_t i = 0; i < sh->n_members; i++)
          buf_printf(&b, "%s%s", i ? ", " : "", sh->members[i].name);
        fail(err, errlen, "unknown parameter %s.%s, must be one of: %s", pa->s, k,
             (char *)b.data);
        buf_release(&b);
        return -1;
      }
      path_member(pa, &saved, k);
      int r = validate(m->shape, child, pa, err, errlen);
      path_pop(pa, saved);
      if (r) return r;
    }
  } else if (sh->type == AWSCLI_LIST) {
    for (size_t i = 0; i < json_array_size(v); i++) {
      path_push(pa, &saved, "[%zu]", i);
      int r = validate(sh->elem, json_array_get(v, i), pa, err, errlen);
      path_pop(pa, saved);
      if (r) return r;
    }
  } else if (sh->type == AWSCLI_MAP) {
    const char *k;
    const json_t *child;
    json_object_foreach((json_t *)v, k, child) {
      path_push(pa, &saved, ".%s", k);
      int r = validate(sh->elem, child, pa, err, errlen);
      path_pop(pa, saved);
      if (r) return r;
    }
  }
  return 0;
}

/* ---- global options -------------------------------------------------------------------- */

enum gkind {
  G_BROKERS,
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
static void split_flag(const char *arg, char *nbuf, size_t nlen, const char **inline_val) {
  const char *eq = strchr(arg, '=');
  size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
  if (n >= nlen) n = nlen - 1;
  memcpy(nbuf, arg, n);
  nbuf[n] = 0;
  *inline_val = eq ? eq + 1 : NULL;
}

/* Takes the value of a flag: inline (--flag=v) or the next argument unless it is a flag. */
static int take_value(const char *flag, const char *inline_val, int argc, char **argv, int *i,
                      const char **out, const char *prefix, char *err, size_t errlen) {
  if (inline_val) {
    *out = inline_val;
    return 0;
  }
  if (*i + 1 >= argc || starts_with(argv[*i + 1], "--"))
    return fail(err, errlen, "%s%s: expected a value (use %s=VALUE for one starting with --)",
                prefix, flag, flag);
  *out = argv[++*i];
  return 0;
}

/* 1 when argv[*i] was a global option (consumed, *i on its last argument), 0 when it is not
 * one, -1 on error. */
static int take_global(int argc, char **argv, int *i, struct awscli_globals *g,
                       const char *prefix, char *err, size_t errlen) {
  char name[64];
  const char *inline_val;
  split_flag(argv[*i], name, sizeof name, &inline_val);
  const struct gopt *o = NULL;
  for (size_t k = 0; k < sizeof gopts / sizeof gopts[0]; k++)
    if (strcmp(gopts[k].flag, name) == 0) o = &gopts[k];
  if (!o) return 0;
  const char *val = NULL;
  if (gopt_takes_value(o->kind)) {
    if (take_value(name, inline_val, argc, argv, i, &val, prefix, err, errlen)) return -1;
    if (o->choices && !in_choices(o->choices, val))
      return fail(err, errlen, "%s%s: invalid choice '%s', valid choices are: %s", prefix, name,
                  val, o->choices);
  } else if (inline_val) {
    return fail(err, errlen, "%s%s takes no value", prefix, name);
  }
  switch (o->kind) {
  case G_BROKERS: g->brokers = val; break;
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
  for (; i < argc && starts_with(argv[i], "--"); i++) {
    int r = take_global(argc, argv, &i, g, "barge: ", err, errlen);
    if (r < 0) return -1;
    if (r == 0) break;
  }
  *next = i;
  return 0;
}

/* ---- flag values ----------------------------------------------------------------------- */

/* Parses one value that looks like JSON; err gets "invalid JSON ...". */
static json_t *parse_json(const char *text, char *err, size_t errlen) {
  json_error_t je;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
  if (!v) fail(err, errlen, "invalid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
  return v;
}

static int looks_like_json(const char *s) {
  s = skip_ws(s);
  return *s == '{' || *s == '[';
}

struct flag_ctx {
  const char *prefix; /* "barge submit-job: " */
  const char *flag;   /* as typed, for messages */
  const struct awscli_param *p;
  char *err;
  size_t errlen;
};

/* A scalar from text, by type. */
static json_t *scalar_value(const struct flag_ctx *c, const struct awscli_shape *sh,
                            const char *s) {
  char shown[SHOW_VALUE_MAX + 8];
  show(s, shown);
  switch (sh->type) {
  case AWSCLI_INTEGER:
  case AWSCLI_LONG: {
    long long n;
    if (parse_int(s, &n) == 0) return json_integer(n);
    fail(c->err, c->errlen, "%s%s: expected an integer, got '%s'", c->prefix, c->flag, shown);
    return NULL;
  }
  case AWSCLI_DOUBLE: {
    double d;
    if (parse_double(s, &d) == 0) return json_real(d);
    fail(c->err, c->errlen, "%s%s: expected a number, got '%s'", c->prefix, c->flag, shown);
    return NULL;
  }
  case AWSCLI_BOOLEAN: /* awscli: "false" is false, any other value true */
    return json_boolean(strcasecmp(s, "false") != 0);
  case AWSCLI_STRING:
  case AWSCLI_STRUCT:
  case AWSCLI_LIST:
  case AWSCLI_MAP:
  case AWSCLI_JSON:
  case AWSCLI_TYPE__COUNT:
    break;
  }
  json_t *v = new_string(s);
  if (!v) fail(c->err, c->errlen, "%s%s: value is not valid UTF-8", c->prefix, c->flag);
  return v;
}

static json_t *json_value(const struct flag_ctx *c, const char *s) {
  char msg[200];
  json_t *v = parse_json(s, msg, sizeof msg);
  if (!v) fail(c->err, c->errlen, "%s%s: %s", c->prefix, c->flag, msg);
  return v;
}

/* A structure or map element given as shorthand, converted by the model. */
static json_t *shorthand_value(const struct flag_ctx *c, const struct awscli_shape *sh,
                               const char *s, long index) {
  struct sh_parser p = {.s = s, .n = (long)strlen(s), .i = 0};
  json_t *v = sh_parameter(&p);
  if (!v) {
    char hint[SHORT_SAMPLE_MAX + 40], shown[SHOW_VALUE_MAX + 8];
    shorthand_hint(c->p->shape, SHORT_SAMPLE_MAX, hint, sizeof hint);
    show(s, shown);
    fail(c->err, c->errlen, "%s%s: expected JSON or shorthand like %s, got '%s' (%s)", c->prefix,
         c->flag, hint, shown, p.msg[0] ? p.msg : "malformed shorthand");
    return NULL;
  }
  if (sh->type == AWSCLI_JSON) return v;
  char msg[300];
  struct path pa = {{0}};
  if (index >= 0)
    snprintf(pa.s, sizeof pa.s, "%s[%ld]", c->p->member, index);
  else
    snprintf(pa.s, sizeof pa.s, "%s", c->p->member);
  json_t *nv = visit(sh, v, &pa, msg, sizeof msg);
  json_decref(v);
  if (!nv) fail(c->err, c->errlen, "%s%s: %s", c->prefix, c->flag, msg);
  return nv;
}

/* The request member for a flag's values (after file:// loading). */
static json_t *param_value(const struct flag_ctx *c, const char **vals, size_t n) {
  const struct awscli_shape *sh = c->p->shape;
  switch (sh->type) {
  case AWSCLI_STRUCT:
  case AWSCLI_MAP:
  case AWSCLI_JSON:
    if (looks_like_json(vals[0])) return json_value(c, vals[0]);
    return shorthand_value(c, sh, vals[0], -1);
  case AWSCLI_LIST: {
    if (n == 1 && looks_like_json(vals[0]) && *skip_ws(vals[0]) == '[')
      return json_value(c, vals[0]);
    json_t *list = json_array();
    int shorthand = is_complex(sh->elem) && !looks_like_json(vals[0]);
    for (size_t i = 0; i < n; i++) {
      json_t *v;
      if (shorthand) {
        v = shorthand_value(c, sh->elem, vals[i], (long)i);
      } else if (is_complex(sh->elem)) {
        /* JSON elements, one per argument: --depends-on '{"jobId": "a"}' '{"jobId": "b"}' */
        if (!looks_like_json(vals[i])) {
          char shown[SHOW_VALUE_MAX + 8];
          show(vals[i], shown);
          fail(c->err, c->errlen,
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
  case AWSCLI_STRING:
  case AWSCLI_INTEGER:
  case AWSCLI_LONG:
  case AWSCLI_DOUBLE:
  case AWSCLI_BOOLEAN:
  case AWSCLI_TYPE__COUNT:
    break;
  }
  return scalar_value(c, sh, vals[0]);
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

static int unknown_flag(const struct awscli_op *op, const char *prefix, const char *name,
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
    return fail(err, errlen, "%sunknown option %s; did you mean %s? ('barge %s help' lists them)",
                prefix, name, best, op->cli_name);
  return fail(err, errlen, "%sunknown option %s ('barge %s help' lists the options)", prefix,
              name, op->cli_name);
}

enum { PG_STARTING_TOKEN = 1, PG_MAX_ITEMS = 2, PG_PAGE_SIZE = 4 };

int awscli_parse(const struct awscli_op *op, int argc, char **argv, json_t **req_out,
                 struct awscli_globals *g, char *err, size_t errlen) {
  struct awscli_globals local;
  if (!g) {
    awscli_globals_init(&local);
    g = &local;
  }
  *req_out = NULL;
  char prefix[80];
  snprintf(prefix, sizeof prefix, "barge %s: ", op->cli_name);

  /* --help anywhere wins, as it does before argparse sees the rest. */
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      g->action = AWSCLI_HELP;
      return 0;
    }

  int rc = -1;
  json_t *req = json_object(), *input = NULL;
  unsigned char *given = xcalloc(op->n_params ? op->n_params : 1, 1);
  const char **vals = xcalloc((size_t)argc + 1, sizeof *vals);
  const char *input_flag = "--cli-input-json";
  int paging = 0, manual_paging = 0;

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!starts_with(arg, "--")) {
      if (strcmp(arg, "help") == 0) {
        g->action = AWSCLI_HELP;
        rc = 0;
        goto out;
      }
      fail(err, errlen, "%sunexpected argument '%s' (values follow their --flag)", prefix, arg);
      goto out;
    }
    int r = take_global(argc, argv, &i, g, prefix, err, errlen);
    if (r < 0) goto out;
    if (r > 0) continue;

    char name[128];
    const char *inline_val;
    split_flag(arg, name, sizeof name, &inline_val);

    if (strcmp(name, "--cli-input-json") == 0) {
      const char *v;
      char *content = NULL;
      char msg[300];
      if (take_value(name, inline_val, argc, argv, &i, &v, prefix, err, errlen)) goto out;
      int lr = load_paramfile(v, &content, msg, sizeof msg);
      if (lr < 0) {
        fail(err, errlen, "%s--cli-input-json: %s", prefix, msg);
        goto out;
      }
      json_t *in = parse_json(lr ? content : v, msg, sizeof msg);
      free(content);
      if (!in) {
        fail(err, errlen, "%s--cli-input-json: %s", prefix, msg);
        goto out;
      }
      if (!json_is_object(in)) {
        json_decref(in);
        fail(err, errlen, "%s--cli-input-json: expected a JSON object of request members",
             prefix);
        goto out;
      }
      json_decref(input);
      input = in;
      continue;
    }
    if (strcmp(name, "--cli-input-yaml") == 0) {
      fail(err, errlen, "%s--cli-input-yaml is not supported; use --cli-input-json", prefix);
      goto out;
    }
    if (strcmp(name, "--generate-cli-skeleton") == 0) {
      const char *v = inline_val;
      if (!v && i + 1 < argc && argv[i + 1][0] != '-') v = argv[++i];
      if (v && strcmp(v, "input") != 0) {
        fail(err, errlen, "%s--generate-cli-skeleton: only 'input' is supported, got '%s'",
             prefix, v);
        goto out;
      }
      g->action = AWSCLI_SKELETON;
      continue;
    }
    if (op->page_result && (strcmp(name, "--starting-token") == 0 ||
                            strcmp(name, "--max-items") == 0 ||
                            strcmp(name, "--page-size") == 0)) {
      const char *v;
      if (take_value(name, inline_val, argc, argv, &i, &v, prefix, err, errlen)) goto out;
      if (name[2] == 's') {
        g->starting_token = v;
        paging |= PG_STARTING_TOKEN;
        continue;
      }
      long long n;
      if (parse_int(v, &n)) {
        fail(err, errlen, "%s%s: expected an integer, got '%s'", prefix, name, v);
        goto out;
      }
      if (name[2] == 'm') {
        g->max_items = n;
        paging |= PG_MAX_ITEMS;
      } else {
        g->page_size = n;
        paging |= PG_PAGE_SIZE;
      }
      continue;
    }

    /* A request member. */
    const struct awscli_param *p = NULL;
    int negated = 0;
    for (size_t k = 0; k < op->n_params && !p; k++) {
      const struct awscli_param *q = &op->params[k];
      if (strcmp(q->flag, name) == 0) {
        p = q;
      } else if (q->shape->type == AWSCLI_BOOLEAN && starts_with(name, "--no-") &&
                 strcmp(q->flag + 2, name + 5) == 0) {
        p = q;
        negated = 1;
      }
    }
    if (!p) {
      unknown_flag(op, prefix, name, err, errlen);
      goto out;
    }
    size_t idx = (size_t)(p - op->params);
    json_t *v = NULL;
    if (p->shape->type == AWSCLI_BOOLEAN) {
      if (inline_val) {
        fail(err, errlen, "%s%s takes no value (use %s or --no-%s)", prefix, name, p->flag,
             p->flag + 2);
        goto out;
      }
      v = json_boolean(!negated);
    } else {
      size_t n = 0;
      if (inline_val) {
        vals[n++] = inline_val;
      } else if (p->shape->type == AWSCLI_LIST) {
        /* nargs='*' as in the AWS CLI: `--jobs` alone sends an empty list. */
        while (i + 1 < argc && !starts_with(argv[i + 1], "--")) vals[n++] = argv[++i];
      } else {
        if (take_value(name, inline_val, argc, argv, &i, &vals[0], prefix, err, errlen))
          goto out;
        n = 1;
      }
      char *content = NULL;
      if (n == 0) {
        json_object_set_new(req, p->member, json_array());
        given[idx] = 1;
        continue;
      }
      if (n == 1) {
        char msg[300];
        int lr = load_paramfile(vals[0], &content, msg, sizeof msg);
        if (lr < 0) {
          fail(err, errlen, "%s%s: %s", prefix, name, msg);
          goto out;
        }
        if (lr > 0) vals[0] = content;
      }
      struct flag_ctx c = {prefix, name, p, err, errlen};
      if (content && p->shape->type == AWSCLI_LIST && !looks_like_json(content) &&
          is_complex(p->shape->elem)) {
        v = param_value(&c, vals, 1); /* shorthand for one item read from a file */
      } else {
        v = param_value(&c, vals, n);
      }
      free(content);
      if (!v) goto out;
      if (strcmp(p->member, "nextToken") == 0 || strcmp(p->member, "maxResults") == 0)
        manual_paging = 1;
    }
    json_object_set_new(req, p->member, v);
    given[idx] = 1;
  }

  if (g->action == AWSCLI_HELP || g->action == AWSCLI_SKELETON) {
    rc = 0;
    goto out;
  }

  /* --cli-input-json fills what no flag set. */
  if (input) {
    const char *k;
    json_t *v;
    json_object_foreach(input, k, v) {
      if (!json_object_get(req, k)) json_object_set(req, k, v);
    }
  }

  if (op->page_result) {
    if (manual_paging) g->paginate = 0;
    if (!g->paginate && paging) {
      fail(err, errlen, "%scannot use --no-paginate, --next-token or --max-results with %s",
           prefix,
           paging & PG_STARTING_TOKEN ? "--starting-token"
           : paging & PG_MAX_ITEMS    ? "--max-items"
                                      : "--page-size");
      goto out;
    }
  }

  for (size_t k = 0; k < op->n_params; k++) {
    const struct awscli_param *p = &op->params[k];
    if (p->required && !json_object_get(req, p->member)) {
      fail(err, errlen, "%smissing required parameter %s (%s)", prefix, p->member, p->flag);
      goto out;
    }
  }
  {
    const char *k;
    json_t *v;
    json_object_foreach(req, k, v) {
      const struct awscli_param *p = awscli_param_find(op, k);
      if (!p) {
        struct buf b;
        buf_init(&b);
        for (size_t j = 0; j < op->n_params; j++)
          if (!op->params[j].out_of_scope)
            buf_printf(&b, "%s%s", b.len ? ", " : "", op->params[j].member);
        fail(err, errlen, "%s%s: unknown parameter %s, must be one of: %s", prefix, input_flag, k,
             (char *)b.data);
        buf_release(&b);
        goto out;
      }
      struct path pa = {{0}};
      snprintf(pa.s, sizeof pa.s, "%s", p->member);
      char msg[400];
      if (validate(p->shape, v, &pa, msg, sizeof msg)) {
        fail(err, errlen, "%s%s: %s", prefix, given[p - op->params] ? p->flag : input_flag, msg);
        goto out;
      }
    }
  }
  *req_out = req;
  req = NULL;
  rc = 0;
out:
  json_decref(req);
  json_decref(input);
  free(given);
  free((void *)vals);
  return rc;
}

/* ---- skeleton and help ----------------------------------------------------------------- */

static json_t *skeleton(const struct awscli_shape *sh, struct doc_stack *st) {
  switch (sh->type) {
  case AWSCLI_STRING: {
    if (!sh->enums) return json_string("");
    const char *bar = strchr(sh->enums, '|');
    return bar ? json_stringn(sh->enums, (size_t)(bar - sh->enums)) : json_string(sh->enums);
  }
  case AWSCLI_INTEGER:
  case AWSCLI_LONG: return json_integer(0);
  case AWSCLI_DOUBLE: return json_real(0.0);
  case AWSCLI_BOOLEAN: return json_true();
  case AWSCLI_LIST: return json_pack("[o]", skeleton(sh->elem, st));
  case AWSCLI_MAP: return json_pack("{s:o}", "KeyName", skeleton(sh->elem, st));
  case AWSCLI_STRUCT: {
    json_t *o = json_object();
    if (doc_in_stack(st, sh->name) || st->n >= 16) return o;
    st->names[st->n++] = sh->name;
    for (size_t i = 0; i < sh->n_members; i++)
      json_object_set_new(o, sh->members[i].name, skeleton(sh->members[i].shape, st));
    st->n--;
    return o;
  }
  case AWSCLI_JSON:
  case AWSCLI_TYPE__COUNT:
    break;
  }
  return json_object();
}

json_t *awscli_skeleton(const struct awscli_op *op) {
  json_t *o = json_object();
  for (size_t i = 0; i < op->n_params; i++) {
    if (op->params[i].out_of_scope) continue;
    struct doc_stack st = {.n = 0};
    json_object_set_new(o, op->params[i].member, skeleton(op->params[i].shape, &st));
  }
  return o;
}

static const char *param_type_label(const struct awscli_shape *sh) {
  if (sh->type == AWSCLI_LIST) return is_complex(sh->elem) ? "list of structures" : "list";
  if (sh->type == AWSCLI_MAP) return "map";
  return type_word(sh);
}

void awscli_usage(const struct awscli_op *op, FILE *out) {
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
    const struct awscli_param *p = &op->params[i];
    if (p->out_of_scope) continue;
    if (p->shape->type == AWSCLI_BOOLEAN)
      fprintf(out, "  %s | --no-%s (boolean)", p->flag, p->flag + 2);
    else if (p->shape->type == AWSCLI_LIST)
      fprintf(out, "  %s <value> [<value> ...] (%s)", p->flag, param_type_label(p->shape));
    else
      fprintf(out, "  %s <value> (%s)", p->flag, param_type_label(p->shape));
    fprintf(out, "%s\n", p->required ? " *" : "");
    const struct awscli_shape *scalar =
        p->shape->type == AWSCLI_LIST ? p->shape->elem : p->shape;
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
    else if (is_complex(p->shape) &&
             is_complex(p->shape->type == AWSCLI_LIST ? p->shape->elem : p->shape)) {
      char hint[2048];
      shorthand_hint(p->shape, sizeof hint - 64, hint, sizeof hint);
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
                 "      --next-token or --max-results is given\n",
            op->page_result);
  fprintf(out, "\nGlobal options: --brokers <host:port,...>  --output json|text|table\n"
               "  --query <JMESPath>  --region <r>  --endpoint-url <url>  --profile <p>\n"
               "  --debug  --no-cli-pager  --no-paginate  (AWS CLI options such as\n"
               "  --cli-read-timeout and --no-verify-ssl are accepted and ignored)\n");
  fprintf(out, "\nExample:\n  %s\n", op->example);
}

void awscli_list_ops(FILE *out) {
  fprintf(out, "AWS Batch operations (flags and JSON as in `aws batch <operation>`):\n");
  for (size_t i = 0; i < awscli_n_ops; i++)
    fprintf(out, "  %-32s %s\n", awscli_ops[i].cli_name, awscli_ops[i].summary);
  fprintf(out, "Run `barge <operation> help` for an operation's options.\n");
}
