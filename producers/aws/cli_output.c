/* cli_output.c: the AWS CLI's side of a response: pagination followed (all pages joined unless
 * the user pages by hand), --query (a JMESPath subset) and --output json|text|yaml|table as the
 * AWS CLI v2 prints them (yaml: ruamel.yaml's safe dumper in block style, keys sorted, plain
 * scalars folded at 80 columns; table: awscli/table.py's boxed layout). */
#include <ctype.h>
#include <math.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "aws_internal.h"
#include "awscli.h"
#include "jmespath.h"

/* ---- text, as the AWS CLI writes it (awscli/text.py) ----
 * A scalar on a line of its own; a list of scalars on one line, tab-separated; an object's scalar
 * members (keys sorted) on one line, prefixed by the upper-cased name of the member that held it,
 * then each of its lists and objects the same way under its own name; a list of objects as one
 * row each, all on the union of their scalar keys ('' where one lacks it). Scalars as Python's
 * str() writes them: None, True, False. */

static int is_container(const json_t *v) { return json_is_object(v) || json_is_array(v); }

/* v as Python's repr() writes it, which str() of a list or dict gives: {'size': 2, 'x': None}. */
static void py_repr(const json_t *v, FILE *out) {
  char b[64];
  const char *k;
  json_t *e;
  size_t i;
  if (json_is_object(v)) {
    fputc('{', out);
    i = 0;
    json_object_foreach((json_t *)v, k, e) {
      json_t *key = json_string(k);
      fputs(i++ ? ", " : "", out);
      py_repr(key, out);
      fputs(": ", out);
      py_repr(e, out);
      json_decref(key);
    }
    fputc('}', out);
  } else if (json_is_array(v)) {
    fputc('[', out);
    json_array_foreach((json_t *)v, i, e) {
      fputs(i ? ", " : "", out);
      py_repr(e, out);
    }
    fputc(']', out);
  } else if (json_is_string(v)) {
    const char *str = json_string_value(v);
    char q = strchr(str, '\'') && !strchr(str, '"') ? '"' : '\'';
    fputc(q, out);
    for (const unsigned char *c = (const unsigned char *)str; *c; c++) {
      if (*c == '\\' || *c == (unsigned char)q) fprintf(out, "\\%c", *c);
      else if (*c == '\n') fputs("\\n", out);
      else if (*c == '\r') fputs("\\r", out);
      else if (*c == '\t') fputs("\\t", out);
      else if (*c < 0x20 || *c == 0x7f) fprintf(out, "\\x%02x", *c);
      else fputc(*c, out);
    }
    fputc(q, out);
  } else if (json_is_number(v)) {
    jmes_py_number(v, b, sizeof b);
    fputs(b, out);
  } else {
    fputs(json_is_true(v) ? "True" : json_is_false(v) ? "False" : "None", out);
  }
}

static void text_scalar(const json_t *v, FILE *out) {
  char b[64];
  if (json_is_string(v)) {
    fputs(json_string_value(v), out);
  } else if (json_is_null(v)) {
    fputs("None", out);
  } else if (json_is_boolean(v)) {
    fputs(json_is_true(v) ? "True" : "False", out);
  } else if (json_is_number(v)) { /* 0.1, not jansson's 17 digits 0.10000000000000001 */
    jmes_py_number(v, b, sizeof b);
    fputs(b, out);
  } else { /* a list or object in a row of scalars (a key scalar in another object of the list) */
    py_repr(v, out);
  }
}

static void text_ident(const char *ident, FILE *out) {
  for (const char *c = ident; *c; c++) fputc(toupper((unsigned char)*c), out);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The object's keys, sorted (only the scalar ones with scalars_only): a json array of strings. */
static json_t *sorted_keys(const json_t *obj, int scalars_only, json_t *into) {
  const char *k;
  json_t *e;
  json_object_foreach((json_t *)obj, k, e) {
    if (scalars_only && is_container(e)) continue;
    size_t i;
    json_t *have;
    int dup = 0;
    json_array_foreach(into, i, have) dup |= !strcmp(json_string_value(have), k);
    if (!dup) json_array_append_new(into, json_string(k));
  }
  size_t n = json_array_size(into);
  const char **v = xcalloc(n ? n : 1, sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = json_string_value(json_array_get(into, i));
  qsort(v, n, sizeof *v, cmp_str);
  json_t *sorted = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(sorted, json_string(v[i]));
  free(v);
  json_decref(into);
  return sorted;
}

static void text_any(const json_t *v, const char *ident, const json_t *scalar_keys, FILE *out);

static void text_scalar_list(const json_t *list, int skip_containers, const char *ident, FILE *out) {
  size_t i;
  json_t *e;
  int first = 1;
  json_array_foreach((json_t *)list, i, e) {
    if (skip_containers && is_container(e)) continue;
    if (ident) {
      text_ident(ident, out);
      fputc('\t', out);
    } else if (!first) {
      fputc('\t', out);
    }
    text_scalar(e, out);
    if (ident) fputc('\n', out);
    first = 0;
  }
  if (!ident && !first) fputc('\n', out);
}

static void text_list(const json_t *list, const char *ident, FILE *out) {
  size_t i;
  json_t *e;
  int objects = 0, lists = 0, scalars = 0;
  json_array_foreach((json_t *)list, i, e) {
    objects |= json_is_object(e);
    lists |= json_is_array(e);
    scalars |= !is_container(e);
  }
  if (objects) {
    json_t *keys = json_array();
    json_array_foreach((json_t *)list, i, e) if (json_is_object(e)) keys = sorted_keys(e, 1, keys);
    json_array_foreach((json_t *)list, i, e) text_any(e, ident, keys, out);
    json_decref(keys);
  } else if (lists) {
    if (scalars) text_scalar_list(list, 1, ident, out);
    json_array_foreach((json_t *)list, i, e) if (is_container(e)) text_any(e, ident, NULL, out);
  } else if (json_array_size(list)) {
    text_scalar_list(list, 0, ident, out);
  }
}

static void text_object(const json_t *obj, const char *ident, const json_t *scalar_keys, FILE *out) {
  json_t *keys = scalar_keys ? json_incref((json_t *)scalar_keys) : sorted_keys(obj, 1, json_array());
  size_t i;
  json_t *k;
  if (json_array_size(keys)) {
    if (ident) {
      text_ident(ident, out);
      fputc('\t', out);
    }
    json_array_foreach(keys, i, k) {
      if (i) fputc('\t', out);
      const json_t *e = json_object_get(obj, json_string_value(k));
      if (e) text_scalar(e, out); /* (a key scalar in another object of the list: '' here) */
    }
    fputc('\n', out);
  }
  /* then the rest, sorted: the lists and objects (with scalar_keys, any key not among them) */
  json_t *all = sorted_keys(obj, 0, json_array());
  json_array_foreach(all, i, k) {
    const char *name = json_string_value(k);
    const json_t *e = json_object_get(obj, name);
    size_t j;
    json_t *sk;
    int scalar_row = 0;
    json_array_foreach(keys, j, sk) scalar_row |= !strcmp(json_string_value(sk), name);
    if (scalar_row || (!scalar_keys && !is_container(e))) continue;
    text_any(e, name, NULL, out);
  }
  json_decref(all);
  json_decref(keys);
}

static void text_any(const json_t *v, const char *ident, const json_t *scalar_keys, FILE *out) {
  if (json_is_object(v)) {
    text_object(v, ident, scalar_keys, out);
  } else if (json_is_array(v)) {
    text_list(v, ident, out);
  } else {
    text_scalar(v, out);
    fputc('\n', out);
  }
}

static void print_text(json_t *v, FILE *out) { text_any(v, NULL, NULL, out); }

/* ---- YAML, as the AWS CLI v2 writes it (ruamel.yaml, typ='safe', YAML 1.2, block style) ---- */

#define YAML_WIDTH 80

struct yout {
  FILE *f;
  int col;
};

static void yput(struct yout *y, const char *s, size_t n) {
  fwrite(s, 1, n, y->f);
  for (size_t i = 0; i < n; i++) y->col = s[i] == '\n' ? 0 : y->col + 1;
}

static void yputs(struct yout *y, const char *s) { yput(y, s, strlen(s)); }

static void yindent(struct yout *y, int indent) {
  yput(y, "\n", 1);
  for (int i = 0; i < indent; i++) yput(y, " ", 1);
}

static int all_of(const char *s, const char *set) { return *s && strspn(s, set) == strlen(s); }

/* Would YAML 1.2 (ruamel's resolver) read the plain scalar s as something else than a string? */
static int resolves_non_string(const char *s) {
  static const char *const words[] = {"true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL", "~",
                                      ".inf", ".Inf", ".INF", "-.inf", "+.inf", ".nan", ".NaN", ".NAN", "<<", "="};
  for (size_t i = 0; i < sizeof words / sizeof *words; i++)
    if (!strcmp(s, words[i])) return 1;
  const char *p = s + (*s == '-' || *s == '+');
  if (!strncmp(p, "0x", 2) && all_of(p + 2, "0123456789abcdefABCDEF_")) return 1;
  if ((!strncmp(p, "0o", 2) || !strncmp(p, "0b", 2)) && all_of(p + 2, "01234567_")) return 1;
  /* ints and floats: digits, at most one '.', an exponent */
  size_t d = strspn(p, "0123456789_");
  const char *q = p + d;
  int frac = 0;
  if (*q == '.') frac = 1, q += 1 + strspn(q + 1, "0123456789_");
  if ((d || (frac && q > p + 1)) && (*q == 'e' || *q == 'E')) {
    const char *e = q + 1 + (q[1] == '-' || q[1] == '+');
    if (all_of(e, "0123456789")) return 1;
  }
  if ((d || frac) && !*q && q > p && isdigit((unsigned char)*p)) return 1;
  if (*p == '.' && frac && !*q && q > p + 1) return 1;
  /* timestamps: YYYY-M-D... */
  if (strlen(s) >= 8 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[3]) && s[4] == '-') {
    const char *t = s + 5 + strspn(s + 5, "0123456789");
    if (t > s + 5 && *t == '-' && isdigit((unsigned char)t[1])) return 1;
  }
  return 0;
}

enum ystyle { Y_PLAIN, Y_SINGLE, Y_DOUBLE };

/* ruamel's analyze_scalar and choose_scalar_style, for block context. */
static enum ystyle yaml_style(const char *s) {
  size_t n = strlen(s);
  if (!n) return Y_SINGLE;
  int indicators = 0, breaks = 0, special = 0;
  if (!strncmp(s, "---", 3) || !strncmp(s, "...", 3)) indicators = 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int ws_after = i + 1 == n || s[i + 1] == ' ' || s[i + 1] == '\n';
    if (i == 0) {
      if (strchr("#,[]{}&*!|>'\"%@`", c)) indicators = 1;
      if ((c == '?' || c == ':' || c == '-') && ws_after) indicators = 1;
    } else {
      if (c == ':' && ws_after) indicators = 1;
      if (c == '#' && s[i - 1] == ' ') indicators = 1;
    }
    if (c == '\n') breaks = 1;
    else if (c < 0x20 || c == 0x7f) special = 1;
  }
  if (special) return Y_DOUBLE;
  if (s[0] == ' ' || s[n - 1] == ' ' || breaks || indicators || resolves_non_string(s)) return Y_SINGLE;
  return Y_PLAIN;
}

/* A scalar string in the style it needs, folded at YAML_WIDTH like ruamel's write_plain and
 * write_single_quoted; continuation lines at indent. */
static void yaml_string(struct yout *y, const char *s, int indent) {
  enum ystyle st = yaml_style(s);
  if (st == Y_DOUBLE) {
    yputs(y, "\"");
    for (const char *p = s; *p; p++) {
      char e[8];
      switch (*p) {
      case '"': yputs(y, "\\\""); break;
      case '\\': yputs(y, "\\\\"); break;
      case '\n': yputs(y, "\\n"); break;
      case '\t': yputs(y, "\\t"); break;
      case '\r': yputs(y, "\\r"); break;
      default:
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
          snprintf(e, sizeof e, "\\x%02X", (unsigned char)*p);
          yputs(y, e);
        } else {
          yput(y, p, 1);
        }
      }
    }
    yputs(y, "\"");
    return;
  }
  if (st == Y_SINGLE) yputs(y, "'");
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    if (s[i] == ' ') {
      size_t run = strspn(s + i, " ");
      /* a single space between words breaks the line once past the width */
      if (run == 1 && i > 0 && i + 1 < n && s[i + 1] != '\n' && y->col > YAML_WIDTH) yindent(y, indent);
      else yput(y, s + i, run);
      i += run;
    } else if (s[i] == '\n') {
      size_t run = strspn(s + i, "\n");
      yput(y, "\n", 1); /* n line breaks are written as n + 1 */
      for (size_t k = 0; k < run; k++) {
        if (k + 1 < run) yput(y, "\n", 1);
      }
      yindent(y, indent);
      i += run;
    } else {
      size_t w = strcspn(s + i, " \n");
      for (size_t k = 0; k < w; k++) {
        if (st == Y_SINGLE && s[i + k] == '\'') yput(y, "''", 2);
        else yput(y, s + i + k, 1);
      }
      i += w;
    }
  }
  if (st == Y_SINGLE) yputs(y, "'");
}

/* A number as Python's repr writes it (shortest round-trip form; a whole float keeps ".0"). */
static void yaml_number(struct yout *y, const json_t *v) {
  char b[64];
  jmes_py_number(v, b, sizeof b);
  yputs(y, b);
}

static int key_cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static void yaml_node(struct yout *y, const json_t *v, int indent);

/* A value after "key:" or "- ": on the same line for scalars and empty containers. */
static void yaml_value(struct yout *y, const json_t *v, int indent, int in_seq) {
  if (json_is_object(v) && json_object_size(v)) {
    if (in_seq) yaml_node(y, v, indent); /* "- k: v" */
    else {
      yindent(y, indent);
      yaml_node(y, v, indent);
    }
  } else if (json_is_array(v) && json_array_size(v)) {
    if (!in_seq) yindent(y, indent - 2); /* a sequence under a key sits at the key's indent */
    yaml_node(y, v, in_seq ? indent : indent - 2);
  } else {
    if (!in_seq) yputs(y, " ");
    yaml_node(y, v, indent);
  }
}

static void yaml_node(struct yout *y, const json_t *v, int indent) {
  if (json_is_object(v) && json_object_size(v)) {
    size_t n = json_object_size(v), k = 0;
    const char **keys = xcalloc(n, sizeof *keys);
    const char *key;
    json_t *e;
    json_object_foreach((json_t *)v, key, e) keys[k++] = key;
    qsort(keys, n, sizeof *keys, key_cmp);
    for (size_t i = 0; i < n; i++) {
      if (i) yindent(y, indent);
      yaml_string(y, keys[i], indent + 2);
      yputs(y, ":");
      yaml_value(y, json_object_get(v, keys[i]), indent + 2, 0);
    }
    free(keys);
  } else if (json_is_array(v) && json_array_size(v)) {
    size_t i;
    json_t *e;
    json_array_foreach((json_t *)v, i, e) {
      if (i) yindent(y, indent);
      yputs(y, "- ");
      yaml_value(y, e, indent + 2, 1);
    }
  } else if (json_is_object(v)) {
    yputs(y, "{}");
  } else if (json_is_array(v)) {
    yputs(y, "[]");
  } else if (json_is_string(v)) {
    yaml_string(y, json_string_value(v), indent);
  } else if (json_is_number(v)) {
    yaml_number(y, v);
  } else {
    yputs(y, json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null");
  }
}

static void print_yaml(const json_t *v, FILE *out) {
  if (!json_is_object(v) && !json_is_array(v)) { /* a scalar: as JSON (awscli's YAMLDumper) */
    char *s = json_dumps(v, JSON_ENCODE_ANY);
    fprintf(out, "%s\n", s ? s : "null");
    free(s);
    return;
  }
  struct yout y = {out, 0};
  yaml_node(&y, v, 0);
  yput(&y, "\n", 1);
}

/* ---- table, as awscli/table.py draws it (MultiTable, no colours) ---- */

struct tsection {
  char *title;
  int indent;
  json_t *headers; /* array of strings (NULL: none) */
  json_t *rows;    /* array of arrays of strings */
  int *maxw;
  size_t ncols;
};

struct table {
  struct tsection *s;
  size_t n, cap;
};

/* Characters, as table.py's get_text_length counts them (UTF-8 code points). */
static int tlen(const char *t) {
  int n = 0;
  for (; *t; t++) n += ((unsigned char)*t & 0xC0) != 0x80;
  return n;
}

/* A scalar as Python's str() writes it. */
static json_t *tcell(const json_t *v) {
  char b[64];
  if (json_is_string(v)) return json_string(json_string_value(v));
  if (json_is_number(v)) {
    jmes_py_number(v, b, sizeof b);
    return json_string(b);
  }
  return json_string(json_is_true(v) ? "True" : json_is_false(v) ? "False" : "None");
}

static void tsec_widths(struct tsection *c, const json_t *row) {
  size_t n = json_array_size(row);
  if (!c->ncols) {
    c->maxw = xrealloc(c->maxw, (n ? n : 1) * sizeof *c->maxw);
    for (size_t i = 0; i < n; i++) c->maxw[i] = tlen(json_string_value(json_array_get(row, i)));
    c->ncols = n;
    return;
  }
  for (size_t i = 0; i < n && i < c->ncols; i++) {
    int w = tlen(json_string_value(json_array_get(row, i)));
    if (w > c->maxw[i]) c->maxw[i] = w;
  }
}

static struct tsection *tnew(struct table *t, const char *title, int indent) {
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 8;
    t->s = xrealloc(t->s, t->cap * sizeof *t->s);
  }
  struct tsection *c = &t->s[t->n++];
  memset(c, 0, sizeof *c);
  c->title = xstrdup(title ? title : "");
  c->indent = indent;
  c->rows = json_array();
  return c;
}

static void tadd_header(struct table *t, json_t *h /* @owned */) {
  struct tsection *c = &t->s[t->n - 1];
  tsec_widths(c, h);
  json_decref(c->headers);
  c->headers = h;
}

static void tadd_row(struct table *t, json_t *r /* @owned */) {
  struct tsection *c = &t->s[t->n - 1];
  tsec_widths(c, r);
  json_array_append_new(c->rows, r);
}

static int tscalar(const json_t *v) { return !json_is_array(v) && !json_is_object(v); }

static int tfalsy(const json_t *v) {
  return !v || json_is_null(v) || json_is_false(v) || (json_is_string(v) && !*json_string_value(v)) ||
         (json_is_integer(v) && !json_integer_value(v)) || (json_is_real(v) && json_real_value(v) == 0) ||
         (json_is_array(v) && !json_array_size(v)) || (json_is_object(v) && !json_object_size(v));
}

/* The sorted scalar keys (headers) and the others (more) of one object, or of all of a list's. */
static void tgroup(const json_t *objs, json_t *headers, json_t *more) {
  size_t i;
  json_t *o;
  json_array_foreach(objs, i, o) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) json_object_set_new(tscalar(v) ? headers : more, k, json_true());
  }
}

static json_t *tsorted_keys(const json_t *set) {
  size_t n = json_object_size(set), k = 0;
  const char **keys = xcalloc(n ? n : 1, sizeof *keys);
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)set, key, v) keys[k++] = key;
  qsort(keys, k, sizeof *keys, key_cmp);
  json_t *out = json_array();
  for (size_t i = 0; i < k; i++) json_array_append_new(out, json_string(keys[i]));
  free(keys);
  return out;
}

static int tbuild(struct table *t, const char *title, const json_t *cur, int indent);

static void tfrom_dict(struct table *t, const json_t *cur, int indent) {
  json_t *one = json_pack("[O]", cur), *hs = json_object(), *ms = json_object();
  tgroup(one, hs, ms);
  json_t *h = tsorted_keys(hs), *m = tsorted_keys(ms);
  size_t i;
  json_t *k;
  if (json_array_size(h) == 1) {
    tadd_row(t, json_pack("[O, o]", json_array_get(h, 0), tcell(json_object_get(cur, json_string_value(json_array_get(h, 0))))));
  } else if (json_array_size(h)) {
    json_t *row = json_array();
    json_array_foreach(h, i, k) json_array_append_new(row, tcell(json_object_get(cur, json_string_value(k))));
    tadd_header(t, json_incref(h));
    tadd_row(t, row);
  }
  json_array_foreach(m, i, k) tbuild(t, json_string_value(k), json_object_get(cur, json_string_value(k)), indent + 1);
  json_decref(one), json_decref(hs), json_decref(ms), json_decref(h), json_decref(m);
}

static void tfrom_list(struct table *t, const json_t *cur, int indent, const char *title) {
  json_t *hs = json_object(), *ms = json_object();
  tgroup(cur, hs, ms);
  json_t *h = tsorted_keys(hs), *m = tsorted_keys(ms);
  tadd_header(t, json_incref(h));
  size_t i, j;
  json_t *e, *k;
  json_array_foreach(cur, i, e) {
    if (i && json_array_size(m)) {
      tnew(t, title, indent);
      tadd_header(t, json_incref(h));
    }
    json_t *row = json_array();
    json_array_foreach(h, j, k) {
      json_t *v = json_object_get(e, json_string_value(k));
      json_array_append_new(row, v ? tcell(v) : json_string(""));
    }
    tadd_row(t, row);
    json_array_foreach(m, j, k) {
      json_t *v = json_object_get(e, json_string_value(k));
      if (v) tbuild(t, json_string_value(k), v, indent + 1);
    }
  }
  json_decref(hs), json_decref(ms), json_decref(h), json_decref(m);
}

/* awscli's TableFormatter._build_table. */
static int tbuild(struct table *t, const char *title, const json_t *cur, int indent) {
  if (tfalsy(cur)) return 0;
  if (title) tnew(t, title, indent);
  if (!t->n) tnew(t, "", indent);
  if (json_is_array(cur)) {
    if (json_is_object(json_array_get(cur, 0))) {
      tfrom_list(t, cur, indent, title);
    } else {
      size_t i;
      json_t *e;
      json_array_foreach(cur, i, e) {
        if (tscalar(e)) {
          tadd_row(t, json_pack("[o]", tcell(e)));
        } else if (json_is_array(e)) {
          int all = 1;
          size_t k;
          json_t *x;
          json_array_foreach(e, k, x) all &= tscalar(x);
          if (all) {
            json_t *row = json_array();
            json_array_foreach(e, k, x) json_array_append_new(row, tcell(x));
            tadd_row(t, row);
          } else {
            tbuild(t, NULL, e, 0);
          }
        } else {
          tbuild(t, NULL, e, 0);
        }
      }
    }
  }
  if (json_is_object(cur)) tfrom_dict(t, cur, indent);
  return 1;
}

static int tsec_total(const struct tsection *c) {
  int total = 2 + 2 * c->indent;
  for (size_t i = 0; i < c->ncols; i++) total += c->maxw[i] + 4;
  int tw = tlen(c->title) + 2 + 2 * c->indent;
  return tw > total ? tw : total;
}

static int tmax_width(const struct table *t) {
  int m = 0;
  for (size_t i = 0; i < t->n; i++)
    if (tsec_total(&t->s[i]) > m) m = tsec_total(&t->s[i]);
  return m;
}

/* Section.calculate_column_widths(padding=4, max_width), Python's round() included. */
static int *tcol_widths(const struct tsection *c, int max_width) {
  int *w = xcalloc(c->ncols ? c->ncols : 1, sizeof *w);
  double sum = 0;
  for (size_t i = 0; i < c->ncols; i++) sum += c->maxw[i] + 4;
  double scale = max_width / sum;
  int total = 0;
  for (size_t i = 0; i < c->ncols; i++) total += w[i] = (int)rint(scale * (c->maxw[i] + 4));
  int off = c->ncols ? total - max_width : 0;
  while (off != 0) {
    for (size_t k = 0; k < c->ncols && off != 0; k++) {
      size_t i = off < 0 ? c->ncols - 1 - k : k;
      if (off > 0) w[i]--, off--;
      else w[i]++, off++;
    }
  }
  return w;
}

static void tline(FILE *out, int indent, const char *text) {
  for (int i = 0; i < indent; i++) fputc('|', out);
  fputs(text, out);
  for (int i = 0; i < indent; i++) fputc('|', out);
  fputc('\n', out);
}

static void tpad(struct buf *b, int n) {
  for (int i = 0; i < n; i++) buf_append(b, " ", 1);
}

static void tcenter(struct buf *b, const char *text, int len, const char *left) {
  int tl = tlen(text), start = len / 2 - tl / 2 - 1;
  buf_printf(b, "%s", left);
  tpad(b, start);
  buf_printf(b, "%s", text);
  tpad(b, len - 1 - ((int)strlen(left) + start + tl));
  buf_printf(b, "|");
}

static void tbreak(FILE *out, int indent, const int *w, size_t n) {
  struct buf b;
  buf_init(&b);
  for (size_t i = 0; i < n; i++) {
    buf_printf(&b, "%s", i ? "" : "+");
    for (int k = 0; k < w[i] - (i ? 1 : 2); k++) buf_append(&b, "-", 1);
    buf_printf(&b, "+");
  }
  buf_append(&b, "", 1);
  tline(out, indent, (char *)b.data);
  buf_release(&b);
}

static void trender_section(const struct tsection *c, int max_width, FILE *out) {
  int mw = max_width - 2 * c->indent;
  struct buf b;
  buf_init(&b);
  if (*c->title) {
    tcenter(&b, c->title, mw, "|");
    buf_append(&b, "", 1);
    tline(out, c->indent, (char *)b.data);
    if (!json_array_size(c->headers) && !json_array_size(c->rows)) {
      buf_reset(&b);
      buf_printf(&b, "+");
      for (int k = 0; k < mw - 2; k++) buf_append(&b, "-", 1);
      buf_printf(&b, "+");
      buf_append(&b, "", 1);
      tline(out, c->indent, (char *)b.data);
    }
  }
  int *w = tcol_widths(c, mw);
  if (json_array_size(c->headers)) {
    buf_reset(&b);
    for (size_t i = 0; i < json_array_size(c->headers) && i < c->ncols; i++)
      tcenter(&b, json_string_value(json_array_get(c->headers, i)), w[i], i ? "" : "|");
    buf_append(&b, "", 1);
    tbreak(out, c->indent, w, c->ncols);
    tline(out, c->indent, (char *)b.data);
  }
  if (json_array_size(c->rows) && c->ncols) {
    tbreak(out, c->indent, w, c->ncols);
    size_t r;
    json_t *row;
    json_array_foreach(c->rows, r, row) {
      buf_reset(&b);
      for (size_t i = 0; i < json_array_size(row) && i < c->ncols; i++) {
        const char *text = json_string_value(json_array_get(row, i));
        const char *left = i ? "" : "|";
        int tl = tlen(text), pad = w[i] - (tl + 2 + (int)strlen(left) + 1) >= 0 ? 2 : 0;
        buf_printf(&b, "%s", left);
        tpad(&b, pad);
        buf_printf(&b, "%s", text);
        tpad(&b, w[i] - (int)strlen(left) - pad - tl - 1);
        buf_printf(&b, "|");
      }
      buf_append(&b, "", 1);
      tline(out, c->indent, (char *)b.data);
    }
    tbreak(out, c->indent, w, c->ncols);
  }
  free(w);
  buf_release(&b);
}

/* convert_to_vertical_table: a one-row section with headers becomes header/value rows. */
static void tvertical(struct tsection *c) {
  if (json_array_size(c->rows) != 1 || !json_array_size(c->headers)) return;
  json_t *h = c->headers, *row = json_incref(json_array_get(c->rows, 0));
  c->headers = NULL;
  json_array_clear(c->rows);
  c->ncols = 0;
  for (size_t i = 0; i < json_array_size(h); i++) {
    json_t *r = json_pack("[O, O]", json_array_get(h, i), json_array_get(row, i));
    tsec_widths(c, r);
    json_array_append_new(c->rows, r);
  }
  json_decref(h);
  json_decref(row);
}

static void print_table(const json_t *v, const char *title, FILE *out) {
  struct table t = {0};
  if (tbuild(&t, title, v, 0)) {
    struct winsize ws;
    int term = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
    int mw = tmax_width(&t);
    if (mw > term) {
      for (size_t i = 0; i < t.n; i++) tvertical(&t.s[i]);
      mw = tmax_width(&t);
    }
    for (int i = 0; i < mw; i++) fputc('-', out);
    fputc('\n', out);
    for (size_t i = 0; i < t.n; i++) trender_section(&t.s[i], mw, out);
  }
  for (size_t i = 0; i < t.n; i++) {
    free(t.s[i].title);
    json_decref(t.s[i].headers);
    json_decref(t.s[i].rows);
    free(t.s[i].maxw);
  }
  free(t.s);
}

/* --output json: as the AWS CLI's json.dumps(indent=4) writes it, which jansson's JSON_INDENT(4)
 * does but for its reals (17 digits: 0.10000000000000001 for 0.1); Python writes the shortest
 * form that reads back the same. */
static void print_json(const json_t *v, int level, FILE *out) {
  char b[64];
  const char *k;
  json_t *e;
  size_t i, n = json_is_object(v) ? json_object_size(v) : json_is_array(v) ? json_array_size(v) : 0;
  if (json_is_real(v)) {
    jmes_py_number(v, b, sizeof b);
    fputs(b, out);
  } else if (!n) { /* a scalar, {} or [] */
    char *s = json_dumps(v, JSON_ENCODE_ANY);
    if (s) fputs(s, out);
    free(s);
  } else if (json_is_object(v)) {
    fputs("{", out);
    i = 0;
    json_object_foreach((json_t *)v, k, e) {
      json_t *key = json_string(k);
      char *ks = json_dumps(key, JSON_ENCODE_ANY);
      fprintf(out, "%s\n%*s%s: ", i++ ? "," : "", 4 * (level + 1), "", ks ? ks : "\"\"");
      free(ks);
      json_decref(key);
      print_json(e, level + 1, out);
    }
    fprintf(out, "\n%*s}", 4 * level, "");
  } else {
    fputs("[", out);
    json_array_foreach((json_t *)v, i, e) {
      fprintf(out, "%s\n%*s", i ? "," : "", 4 * (level + 1), "");
      print_json(e, level + 1, out);
    }
    fprintf(out, "\n%*s]", 4 * level, "");
  }
}

int awscli_print(const json_t *resp, const struct awscli_globals *g, FILE *out, char *err, size_t errlen) {
  return awscli_print_titled(resp, g, NULL, out, err, errlen);
}

/* resp with --query applied (a new reference), or NULL with err set. */
static json_t *apply_query(const json_t *resp, const struct awscli_globals *g, char *err, size_t errlen) {
  if (!g->query) return json_incref((json_t *)resp);
  json_t *v = NULL;
  struct jmes *q = NULL;
  char msg[512];
  int rc = jmes_compile(g->query, &q, msg, sizeof msg);
  if (!rc) rc = jmes_search(q, resp, &v, msg, sizeof msg);
  jmes_free(q);
  if (rc) {
    snprintf(err, errlen, "--query %s: %s", g->query, msg);
    return NULL;
  }
  return v;
}

/* --output text: the AWS CLI formats the listing without its NextToken, then the token on its
 * own as {"NextToken": {"NextToken": token}}, --query applied to each (so its row comes last,
 * `NEXTTOKEN<tab>token` without a query). */
static int print_text_response(const json_t *resp, const struct awscli_globals *g, FILE *out, char *err,
                               size_t errlen) {
  const json_t *token = json_object_get(resp, "NextToken");
  json_t *rest = token ? json_copy((json_t *)resp) : json_incref((json_t *)resp);
  if (token) json_object_del(rest, "NextToken");
  json_t *v = apply_query(rest, g, err, errlen);
  json_decref(rest);
  if (!v) return -1;
  print_text(v, out);
  json_decref(v);
  if (!token) return 0;
  json_t *t = json_pack("{s:{s:O}}", "NextToken", "NextToken", token);
  v = apply_query(t, g, err, errlen);
  json_decref(t);
  if (!v) return -1;
  print_text(v, out);
  json_decref(v);
  return 0;
}

int awscli_print_titled(const json_t *resp, const struct awscli_globals *g, const char *title, FILE *out,
                        char *err, size_t errlen) {
  if (g->output && !strcmp(g->output, "text")) return print_text_response(resp, g, out, err, errlen);
  json_t *v = apply_query(resp, g, err, errlen);
  if (!v) return -1;
  if (json_is_object(v) && !json_object_size(v)) {
    /* an operation without a response body (CancelJob, TagResource, Delete*): the AWS CLI's json,
     * yaml and yaml-stream formatters print nothing for {}, its table prints nothing for any
     * falsy value and its text nothing for an empty object (awscli/formatter.py); barge printed {} */
    json_decref(v);
    return 0;
  }
  if (g->output && !strcmp(g->output, "table")) {
    print_table(v, title ? title : "", out);
  } else if (g->output && !strcmp(g->output, "yaml")) {
    print_yaml(v, out);
  } else if (g->output && !strcmp(g->output, "yaml-stream")) {
    json_t *list = json_pack("[O]", v); /* one document holding the (joined) response */
    print_yaml(list, out);
    json_decref(list);
  } else {
    print_json(v, 0, out);
    fputc('\n', out);
  }
  json_decref(v);
  return 0;
}

/* The AWS CLI's pagination tokens, byte for byte as botocore's TokenEncoder writes them:
 * base64 of json.dumps of {"nextToken": the service's token of the page to fetch (null for the
 * first page), "boto_truncate_amount": the items of that page already shown (only when the
 * cut is mid-page)}. So a NextToken barge prints is the one `aws batch` prints against `barge
 * api`, and either can be given to the other's --starting-token. */
static char *token_encode(const json_t *page_token, long long truncate) {
  json_t *t = json_object();
  json_object_set(t, "nextToken", page_token ? (json_t *)page_token : json_null());
  if (truncate) json_object_set_new(t, "boto_truncate_amount", json_integer(truncate));
  /* no flags: jansson's separators are then json.dumps's ", " and ": " */
  char *js = json_dumps(t, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
  char *b64 = base64_encode(js, strlen(js), NULL);
  free(js);
  json_decref(t);
  return b64;
}

int cli_token_decode(const char *token, json_t **page_token, long long *truncate, char *err, size_t errlen) {
  size_t n = 0;
  *page_token = NULL;
  *truncate = 0;
  unsigned char *raw = base64_decode(token, strlen(token), &n);
  json_t *t = raw ? json_loadb((const char *)raw, n, 0, NULL) : NULL;
  free(raw);
  json_t *pt = json_object_get(t, "nextToken"), *tr = json_object_get(t, "boto_truncate_amount");
  if (!json_is_object(t) || (pt && !json_is_string(pt) && !json_is_null(pt)) ||
      (tr && (!json_is_integer(tr) || json_integer_value(tr) < 0))) {
    json_decref(t);
    return aws_fail(err, errlen, "--starting-token: '%s' is not a token this command printed as NextToken", token);
  }
  if (json_is_string(pt)) *page_token = json_incref(pt);
  *truncate = tr ? json_integer_value(tr) : 0;
  json_decref(t);
  return 0;
}

/* One page into *resp (the first) or joined onto it. */
static void join_page(const struct aws_op *op, json_t **resp, json_t *page /* @owned */) {
  if (!*resp) {
    *resp = page;
    return;
  }
  json_array_extend(json_object_get(*resp, op->page_result), json_object_get(page, op->page_result));
  json_decref(page);
}

/* botocore's PageIterator: pages fetched with maxResults = --page-size, the first one cut by the
 * starting token's truncate amount, and the whole cut at --max-items, with a NextToken that
 * resumes exactly there (mid-page: the page's own token and how many of it were shown). */
int awscli_call(const struct aws_op *op, const struct bus_conf *bc, json_t *req,
                const struct awscli_globals *g, json_t **resp, char *err, size_t errlen) {
  *resp = NULL;
  if (!op->page_result || !g->paginate) return cli_read_call(op, bc, req, resp, err, errlen);
  json_t *page_token = NULL; /* the service's token of the page being fetched */
  long long skip = 0, total = 0;
  int rc = 0;
  char msg[512];
  if (g->starting_token && cli_token_decode(g->starting_token, &page_token, &skip, msg, sizeof msg))
    return api_error(err, errlen, API_CLIENT_ERROR, "%s", msg); /* (awscli_parse checked it) */
  if (g->page_size) json_object_set_new(req, "maxResults", json_integer(g->page_size));
  long long first_skip = skip;
  json_t *resume = NULL; /* NextToken */
  for (int first = 1;; first = 0) {
    if (page_token) json_object_set(req, "nextToken", page_token);
    else json_object_del(req, "nextToken");
    json_t *page = NULL;
    rc = cli_read_call(op, bc, req, &page, err, errlen);
    if (rc) break;
    json_t *items = json_object_get(page, op->page_result);
    if (!json_is_array(items)) json_object_set_new(page, op->page_result, items = json_array());
    if (first && skip) { /* the items a previous --max-items already showed */
      json_t *rest = json_array();
      for (size_t i = (size_t)skip; i < json_array_size(items); i++) json_array_append(rest, json_array_get(items, i));
      json_object_set_new(page, op->page_result, rest);
      items = rest;
    }
    long long n = (long long)json_array_size(items);
    json_t *next = json_incref(json_object_get(page, "nextToken"));
    json_object_del(page, "nextToken");
    if (g->max_items && total + n > g->max_items) { /* cut mid-page */
      long long keep = g->max_items - total;
      json_t *cut = json_array();
      for (long long i = 0; i < keep; i++) json_array_append(cut, json_array_get(items, (size_t)i));
      json_object_set_new(page, op->page_result, cut);
      char *t = token_encode(page_token, keep + (first ? first_skip : 0));
      resume = json_string(t);
      free(t);
      join_page(op, resp, page);
      json_decref(next);
      break;
    }
    join_page(op, resp, page);
    total += n;
    if (!json_is_string(next) || (page_token && json_equal(next, page_token))) {
      json_decref(next);
      break;
    }
    json_decref(page_token);
    page_token = next;
    if (g->max_items && total == g->max_items) { /* on a page boundary */
      char *t = token_encode(page_token, 0);
      resume = json_string(t);
      free(t);
      break;
    }
  }
  json_decref(page_token);
  json_object_del(req, "nextToken");
  if (g->page_size) json_object_del(req, "maxResults");
  if (rc) {
    json_decref(*resp);
    json_decref(resume);
    *resp = NULL;
    return rc;
  }
  if (resume) json_object_set_new(*resp, "NextToken", resume);
  return 0;
}
