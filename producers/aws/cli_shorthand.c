/* cli_shorthand.c: the AWS CLI's shorthand syntax (`size=8`, `type=EC2,subnets=[a,b]`), a port
 * of awscli/shorthand.py's ShorthandParser, and the model's conversion of what it parsed
 * (awscli's BackCompatVisitor: scalars converted, single values wrapped into lists). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws_internal.h"

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
  while (!sh_eof(p) && cli_is_ws(sh_cur(p))) p->i++;
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
  if (c < 0x20 || c == 0x7f) return cli_is_ws(c) || c == 0x7f;
  return !strchr("\"',]}", c);
}
static int sh_second_follow(int c) {
  if (c >= 0x80) return 1;
  if (c < 0x20 || c == 0x7f) return cli_is_ws(c) || c == 0x7f;
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
    while (o > 0 && cli_is_ws((unsigned char)t[o - 1])) o--;
  t[o] = 0;
  json_t *v = NULL;
  if (p->paramfile) {
    char *content = NULL;
    int r = cli_load_paramfile(t, &content, p->msg, sizeof p->msg);
    if (r < 0) {
      free(t);
      return NULL;
    }
    if (r > 0) {
      free(t);
      t = content;
    }
  }
  v = json_string(t);
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

/* awscli's BackCompatVisitor. Returns the value to store in v's place (a new reference), or
 * NULL with err set. Differs from awscli in one way: a single value wrapped into a list is
 * visited too, so `shareDistribution={shareIdentifier=a,weightFactor=0.5}` converts 0.5. */
static json_t *visit(const struct aws_shape *sh, json_t *v, struct aws_path *pa, char *err,
                     size_t errlen) {
  size_t saved;
  switch (sh->type) {
  case AWS_STRUCT:
    if (json_is_object(v)) {
      for (size_t i = 0; i < sh->n_members; i++) {
        json_t *child = json_object_get(v, sh->members[i].name);
        if (!child) continue;
        aws_path_member(pa, &saved, sh->members[i].name);
        json_t *nv = visit(sh->members[i].shape, child, pa, err, errlen);
        aws_path_pop(pa, saved);
        if (!nv) return NULL;
        json_object_set_new(v, sh->members[i].name, nv);
      }
    }
    return json_incref(v);
  case AWS_LIST: {
    json_t *list = v;
    if (!json_is_array(v)) {
      list = json_array();
      json_array_append(list, v);
    } else {
      json_incref(list);
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
      aws_path_push(pa, &saved, "[%zu]", i);
      json_t *nv = visit(sh->elem, json_array_get(list, i), pa, err, errlen);
      aws_path_pop(pa, saved);
      if (!nv) {
        json_decref(list);
        return NULL;
      }
      json_array_set_new(list, i, nv);
    }
    return list;
  }
  case AWS_MAP:
    if (json_is_object(v)) {
      const char *k;
      json_t *child;
      void *tmp;
      json_object_foreach_safe(v, tmp, k, child) {
        aws_path_push(pa, &saved, ".%s", k);
        json_t *nv = visit(sh->elem, child, pa, err, errlen);
        aws_path_pop(pa, saved);
        if (!nv) return NULL;
        json_object_set_new(v, k, nv);
      }
    }
    return json_incref(v);
  case AWS_INTEGER:
  case AWS_LONG:
  case AWS_DOUBLE:
  case AWS_BOOLEAN: {
    if (!json_is_string(v)) return json_incref(v);
    const char *s = json_string_value(v);
    char shown[SHOW_VALUE_MAX + 8];
    aws_show(s, shown);
    if (sh->type == AWS_BOOLEAN) {
      if (strcasecmp(s, "true") == 0) return json_true();
      if (strcasecmp(s, "false") == 0) return json_false();
      return json_incref(v); /* awscli leaves other words as they are */
    }
    if (sh->type == AWS_DOUBLE) {
      double d;
      if (cli_parse_double(s, &d) == 0) return json_real(d);
      aws_fail(err, errlen, "%s: expected a number, got '%s'", pa->s, shown);
      return NULL;
    }
    long long n;
    if (cli_parse_int(s, &n) == 0) return json_integer(n);
    aws_fail(err, errlen, "%s: expected an integer, got '%s'", pa->s, shown);
    return NULL;
  }
  case AWS_STRING:
  case AWS_JSON:
  case AWS_TYPE__COUNT:
    break;
  }
  return json_incref(v);
}

int awscli_shorthand(const char *text, const struct aws_shape *shape, json_t **out, char *err,
                     size_t errlen) {
  *out = NULL;
  struct sh_parser p = {.s = text, .n = (long)strlen(text), .i = 0};
  json_t *v = sh_parameter(&p);
  if (!v) return aws_fail(err, errlen, "%s", p.msg[0] ? p.msg : "malformed shorthand");
  if (shape && shape->type != AWS_JSON) {
    struct aws_path pa = {{0}};
    json_t *nv = visit(shape, v, &pa, err, errlen);
    json_decref(v);
    if (!nv) return -1;
    v = nv;
  }
  *out = v;
  return 0;
}

json_t *cli_shorthand_parse(const char *text, char *msg, size_t msglen) {
  struct sh_parser p = {.s = text, .n = (long)strlen(text), .i = 0};
  json_t *v = sh_parameter(&p);
  if (!v) snprintf(msg, msglen, "%s", p.msg[0] ? p.msg : "malformed shorthand");
  return v;
}

json_t *cli_shorthand_convert(const struct aws_shape *sh, json_t *v, const char *path, char *err,
                              size_t errlen) {
  struct aws_path pa = {{0}};
  snprintf(pa.s, sizeof pa.s, "%s", path);
  return visit(sh, v, &pa, err, errlen);
}
