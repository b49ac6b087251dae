/* jmespath.c: JMESPath for --query (jmespath.h). A lexer into a token array, a Pratt parser
 * into a tree (the binding powers and the nud/led functions of jmespath.py's parser, so that
 * precedence and projection stops are the reference implementation's), and a tree walker over
 * jansson values with jmespath.py's rules: projections drop nulls, ordering comparisons hold
 * for numbers and strings only (null otherwise), false/0 and true/1 are unequal, falsy is
 * null, false, "", [] and {}. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "jmespath.h"

/* ---- tokens ---- */

enum tok {
  T_EOF, T_UNQUOTED, T_QUOTED, T_LITERAL, T_RBRACKET, T_RPAREN, T_COMMA, T_RBRACE, T_NUMBER,
  T_CURRENT, T_EXPREF, T_COLON, T_PIPE, T_OR, T_AND, T_EQ, T_GT, T_LT, T_GTE, T_LTE, T_NE,
  T_FLATTEN, T_STAR, T_FILTER, T_DOT, T_NOT, T_LBRACE, T_LBRACKET, T_LPAREN,
  T__COUNT
};

/* jmespath.py's BINDING_POWER */
static const int bp[T__COUNT] = {
    [T_PIPE] = 1, [T_OR] = 2, [T_AND] = 3, [T_EQ] = 5, [T_GT] = 5, [T_LT] = 5, [T_GTE] = 5,
    [T_LTE] = 5, [T_NE] = 5, [T_FLATTEN] = 9, [T_STAR] = 20, [T_FILTER] = 21, [T_DOT] = 40,
    [T_NOT] = 45, [T_LBRACE] = 50, [T_LBRACKET] = 55, [T_LPAREN] = 60,
};
enum { PROJECTION_STOP = 10 };

static const char *const tok_name[T__COUNT] = {
    [T_EOF] = "end of expression", [T_UNQUOTED] = "identifier", [T_QUOTED] = "quoted identifier",
    [T_LITERAL] = "literal", [T_RBRACKET] = "']'", [T_RPAREN] = "')'", [T_COMMA] = "','",
    [T_RBRACE] = "'}'", [T_NUMBER] = "number", [T_CURRENT] = "'@'", [T_EXPREF] = "'&'",
    [T_COLON] = "':'", [T_PIPE] = "'|'", [T_OR] = "'||'", [T_AND] = "'&&'", [T_EQ] = "'=='",
    [T_GT] = "'>'", [T_LT] = "'<'", [T_GTE] = "'>='", [T_LTE] = "'<='", [T_NE] = "'!='",
    [T_FLATTEN] = "'[]'", [T_STAR] = "'*'", [T_FILTER] = "'[?'", [T_DOT] = "'.'", [T_NOT] = "'!'",
    [T_LBRACE] = "'{'", [T_LBRACKET] = "'['", [T_LPAREN] = "'('",
};

struct token {
  enum tok type;
  int col;     /* 1-based */
  char *str;   /* identifiers */
  json_t *lit; /* literals */
  long long num;
};

/* ---- tree ---- */

enum nkind {
  N_FIELD, N_CURRENT, N_LITERAL, N_INDEX, N_SLICE, N_SUB, N_PROJECTION, N_VALUE_PROJECTION,
  N_FILTER_PROJECTION, N_FLATTEN, N_PIPE, N_OR, N_AND, N_NOT, N_CMP, N_MULTI_LIST, N_MULTI_HASH,
  N_FUNCTION, N_EXPREF,
  N__COUNT
};

struct func;

struct node {
  enum nkind kind;
  const char *name;       /* N_FIELD (borrowed from a token) */
  json_t *lit;            /* N_LITERAL (borrowed from a token) */
  long long idx;          /* N_INDEX */
  int has[3];             /* N_SLICE: start, stop, step given */
  long long sl[3];
  enum tok cmp;           /* N_CMP */
  const struct func *fn;  /* N_FUNCTION */
  struct node *kids[3];   /* binary and filter nodes */
  struct node **list;     /* N_MULTI_LIST, N_MULTI_HASH, N_FUNCTION */
  const char **keys;      /* N_MULTI_HASH */
  size_t n;
};

struct jmes {
  struct token *toks;
  size_t ntoks;
  struct node **nodes; /* every node, for jmes_free */
  size_t nnodes, capnodes;
  struct node *root;
};

/* ---- functions (the table is at the end) ---- */

struct arg {
  json_t *v;              /* the value; NULL for an expression reference */
  const struct node *ref; /* &expr */
};
struct ev;
typedef json_t *(*fn_impl)(struct ev *x, const struct func *f, struct arg *a, size_t n);
struct func {
  const char *name;
  size_t nargs;  /* at least this many */
  int variadic;  /* more allowed */
  const char *types[2]; /* accepted types of the first two arguments, "a|b"; NULL = any */
  fn_impl impl;
};
static const struct func *func_find(const char *name);

/* ---- lexer ---- */

static int fail(char *err, size_t errlen, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  if (col > 0 && n >= 0 && (size_t)n < errlen) snprintf(err + n, errlen - (size_t)n, " (column %d)", col);
  return -1;
}

static void push(struct jmes *e, size_t *cap, struct token t) {
  if (e->ntoks == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    e->toks = xrealloc(e->toks, *cap * sizeof *e->toks);
  }
  e->toks[e->ntoks++] = t;
}

static char *xstrndup(const char *s, size_t n) {
  char *o = xmalloc(n + 1);
  memcpy(o, s, n);
  o[n] = 0;
  return o;
}

/* The end of a quoted run starting after s[0] (the quote q), honouring backslashes. */
static const char *quoted_end(const char *s, char q) {
  for (const char *p = s + 1; *p; p++) {
    if (*p == '\\' && p[1]) p++;
    else if (*p == q) return p;
  }
  return NULL;
}

/* Copies s[0..n) dropping the backslash of each `\q`. */
static char *unescape(const char *s, size_t n, char q) {
  char *o = xmalloc(n + 1), *w = o;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\\' && i + 1 < n && s[i + 1] == q) i++;
    *w++ = s[i];
  }
  *w = 0;
  return o;
}

static int lex(const char *s, struct jmes *e, char *err, size_t errlen) {
  size_t cap = 0;
  const char *p = s;
  while (*p) {
    struct token t = {.col = (int)(p - s) + 1};
    const char *start = p;
    if (isspace((unsigned char)*p)) {
      p++;
      continue;
    }
    if (isalpha((unsigned char)*p) || *p == '_') {
      while (isalnum((unsigned char)*p) || *p == '_') p++;
      t.type = T_UNQUOTED;
      t.str = xstrndup(start, (size_t)(p - start));
    } else if (isdigit((unsigned char)*p) || *p == '-') {
      if (*p == '-' && !isdigit((unsigned char)p[1]))
        return fail(err, errlen, t.col, "'-' must be followed by a digit");
      p++;
      while (isdigit((unsigned char)*p)) p++;
      t.type = T_NUMBER;
      t.num = strtoll(start, NULL, 10);
    } else if (*p == '"' || *p == '\'' || *p == '`') {
      char q = *p;
      const char *end = quoted_end(p, q);
      if (!end) return fail(err, errlen, t.col, "unterminated %c", q);
      p = end + 1;
      if (q == '"') { /* a quoted identifier: a JSON string */
        char *js = xstrndup(start, (size_t)(p - start));
        json_t *v = json_loads(js, JSON_DECODE_ANY, NULL);
        free(js);
        if (!json_is_string(v)) {
          json_decref(v);
          return fail(err, errlen, t.col, "invalid quoted identifier %.*s", (int)(p - start), start);
        }
        t.type = T_QUOTED;
        t.str = xstrdup(json_string_value(v));
        json_decref(v);
      } else if (q == '\'') { /* a raw string literal */
        char *raw = unescape(start + 1, (size_t)(end - start - 1), '\'');
        t.type = T_LITERAL;
        t.lit = json_string(raw);
        free(raw);
        if (!t.lit) return fail(err, errlen, t.col, "raw string literal is not valid UTF-8");
      } else { /* a JSON literal; `foo` (no quotes) is read as a string, as jmespath.py still does */
        char *js = unescape(start + 1, (size_t)(end - start - 1), '`');
        t.type = T_LITERAL;
        t.lit = json_loads(js, JSON_DECODE_ANY, NULL);
        if (!t.lit) {
          const char *l = js;
          while (isspace((unsigned char)*l)) l++;
          size_t ln = strlen(l);
          char *quoted = xmalloc(ln + 3);
          snprintf(quoted, ln + 3, "\"%s\"", l);
          t.lit = json_loads(quoted, JSON_DECODE_ANY, NULL);
          free(quoted);
        }
        free(js);
        if (!t.lit)
          return fail(err, errlen, t.col, "invalid JSON literal %.*s", (int)(p - start), start);
      }
    } else {
      p++;
      switch (*start) {
      case '.': t.type = T_DOT; break;
      case '*': t.type = T_STAR; break;
      case ']': t.type = T_RBRACKET; break;
      case ',': t.type = T_COMMA; break;
      case ':': t.type = T_COLON; break;
      case '@': t.type = T_CURRENT; break;
      case '(': t.type = T_LPAREN; break;
      case ')': t.type = T_RPAREN; break;
      case '{': t.type = T_LBRACE; break;
      case '}': t.type = T_RBRACE; break;
      case '[':
        if (*p == ']') p++, t.type = T_FLATTEN;
        else if (*p == '?') p++, t.type = T_FILTER;
        else t.type = T_LBRACKET;
        break;
      case '|':
        if (*p == '|') p++, t.type = T_OR;
        else t.type = T_PIPE;
        break;
      case '&':
        if (*p == '&') p++, t.type = T_AND;
        else t.type = T_EXPREF;
        break;
      case '<':
        if (*p == '=') p++, t.type = T_LTE;
        else t.type = T_LT;
        break;
      case '>':
        if (*p == '=') p++, t.type = T_GTE;
        else t.type = T_GT;
        break;
      case '!':
        if (*p == '=') p++, t.type = T_NE;
        else t.type = T_NOT;
        break;
      case '=':
        if (*p != '=') return fail(err, errlen, t.col, "'=' is not an operator (use '==')");
        p++;
        t.type = T_EQ;
        break;
      default: return fail(err, errlen, t.col, "unexpected character '%c'", *start);
      }
    }
    push(e, &cap, t);
  }
  push(e, &cap, (struct token){.type = T_EOF, .col = (int)(p - s) + 1});
  return 0;
}

/* ---- parser ---- */

struct parser {
  struct jmes *e;
  size_t i; /* the current token */
  char *err;
  size_t errlen;
};

static struct node *node_new(struct parser *ps, enum nkind kind) {
  struct jmes *e = ps->e;
  if (e->nnodes == e->capnodes) {
    e->capnodes = e->capnodes ? e->capnodes * 2 : 16;
    e->nodes = xrealloc(e->nodes, e->capnodes * sizeof *e->nodes);
  }
  struct node *n = xcalloc(1, sizeof *n);
  n->kind = kind;
  e->nodes[e->nnodes++] = n;
  return n;
}

static struct node *node2(struct parser *ps, enum nkind kind, struct node *l, struct node *r) {
  struct node *n = node_new(ps, kind);
  n->kids[0] = l;
  n->kids[1] = r;
  return n;
}

static void node_append(struct node *n, struct node *kid, const char *key) {
  n->list = xrealloc(n->list, (n->n + 1) * sizeof *n->list);
  n->list[n->n] = kid;
  if (key || n->keys) {
    n->keys = xrealloc((void *)n->keys, (n->n + 1) * sizeof *n->keys);
    n->keys[n->n] = key;
  }
  n->n++;
}

static const struct token *cur(struct parser *ps) { return &ps->e->toks[ps->i]; }
static enum tok cur_type(struct parser *ps) { return cur(ps)->type; }
static enum tok ahead_type(struct parser *ps, size_t k) {
  return ps->i + k < ps->e->ntoks ? ps->e->toks[ps->i + k].type : T_EOF;
}
static void advance(struct parser *ps) {
  if (ps->i + 1 < ps->e->ntoks) ps->i++;
}

static struct node *perr(struct parser *ps, const char *expecting) {
  const struct token *t = cur(ps);
  if (t->type == T_UNQUOTED || t->type == T_QUOTED)
    fail(ps->err, ps->errlen, t->col, "expected %s, got identifier '%s'", expecting, t->str);
  else
    fail(ps->err, ps->errlen, t->col, "expected %s, got %s", expecting, tok_name[t->type]);
  return NULL;
}

static int match(struct parser *ps, enum tok type) {
  if (cur_type(ps) != type) {
    perr(ps, tok_name[type]);
    return -1;
  }
  advance(ps);
  return 0;
}

static struct node *expression(struct parser *ps, int rbp);

static struct node *current_node(struct parser *ps) { return node_new(ps, N_CURRENT); }

static struct node *parse_dot_rhs(struct parser *ps, int rbp);
static struct node *parse_multi_list(struct parser *ps);
static struct node *parse_multi_hash(struct parser *ps);

static struct node *parse_projection_rhs(struct parser *ps, int rbp) {
  enum tok t = cur_type(ps);
  if (bp[t] < PROJECTION_STOP) return current_node(ps);
  if (t == T_LBRACKET || t == T_FILTER) return expression(ps, rbp);
  if (t == T_DOT) {
    advance(ps);
    return parse_dot_rhs(ps, rbp);
  }
  return perr(ps, "'.', '[' or '[?' after a projection");
}

static struct node *parse_dot_rhs(struct parser *ps, int rbp) {
  enum tok t = cur_type(ps);
  if (t == T_UNQUOTED || t == T_QUOTED || t == T_STAR) return expression(ps, rbp);
  if (t == T_LBRACKET) {
    advance(ps);
    return parse_multi_list(ps);
  }
  if (t == T_LBRACE) {
    advance(ps);
    return parse_multi_hash(ps);
  }
  return perr(ps, "an identifier, '*', '[' or '{' after '.'");
}

static struct node *parse_multi_list(struct parser *ps) {
  struct node *n = node_new(ps, N_MULTI_LIST);
  for (;;) {
    struct node *x = expression(ps, 0);
    if (!x) return NULL;
    node_append(n, x, NULL);
    if (cur_type(ps) == T_RBRACKET) break;
    if (match(ps, T_COMMA)) return NULL;
  }
  advance(ps);
  return n;
}

static struct node *parse_multi_hash(struct parser *ps) {
  struct node *n = node_new(ps, N_MULTI_HASH);
  for (;;) {
    const struct token *k = cur(ps);
    if (k->type != T_UNQUOTED && k->type != T_QUOTED) return perr(ps, "a key name in '{...}'");
    advance(ps);
    if (match(ps, T_COLON)) return NULL;
    struct node *x = expression(ps, 0);
    if (!x) return NULL;
    node_append(n, x, k->str);
    if (cur_type(ps) == T_COMMA) {
      advance(ps);
    } else if (cur_type(ps) == T_RBRACE) {
      advance(ps);
      return n;
    } else {
      return perr(ps, "',' or '}'");
    }
  }
}

/* [n] or [a:b:c] after the '['; the current token is a number or ':'. */
static struct node *parse_index(struct parser *ps) {
  if (cur_type(ps) != T_COLON && ahead_type(ps, 1) != T_COLON) {
    if (cur_type(ps) != T_NUMBER) return perr(ps, "a number");
    struct node *n = node_new(ps, N_INDEX);
    n->idx = cur(ps)->num;
    advance(ps);
    return match(ps, T_RBRACKET) ? NULL : n;
  }
  struct node *n = node_new(ps, N_SLICE);
  int part = 0;
  while (cur_type(ps) != T_RBRACKET && part < 3) {
    if (cur_type(ps) == T_COLON) {
      if (++part == 3) return perr(ps, "']' (a slice has at most two ':')");
      advance(ps);
    } else if (cur_type(ps) == T_NUMBER) {
      n->has[part] = 1;
      n->sl[part] = cur(ps)->num;
      advance(ps);
    } else {
      return perr(ps, "a number, ':' or ']' in a slice");
    }
  }
  if (n->has[2] && n->sl[2] == 0) {
    fail(ps->err, ps->errlen, cur(ps)->col, "a slice's step cannot be 0");
    return NULL;
  }
  return match(ps, T_RBRACKET) ? NULL : n;
}

static struct node *project_if_slice(struct parser *ps, struct node *left, struct node *right) {
  struct node *ix = node2(ps, N_SUB, left, right);
  if (right->kind != N_SLICE) return ix;
  struct node *rhs = parse_projection_rhs(ps, bp[T_STAR]);
  return rhs ? node2(ps, N_PROJECTION, ix, rhs) : NULL;
}

static struct node *nud(struct parser *ps, const struct token *t) {
  struct node *n, *l, *r;
  switch (t->type) {
  case T_LITERAL:
    n = node_new(ps, N_LITERAL);
    n->lit = t->lit;
    return n;
  case T_UNQUOTED:
  case T_QUOTED:
    if (t->type == T_QUOTED && cur_type(ps) == T_LPAREN) {
      fail(ps->err, ps->errlen, t->col, "a quoted identifier cannot name a function");
      return NULL;
    }
    n = node_new(ps, N_FIELD);
    n->name = t->str;
    return n;
  case T_STAR:
    l = current_node(ps);
    r = cur_type(ps) == T_RBRACKET ? current_node(ps) : parse_projection_rhs(ps, bp[T_STAR]);
    return r ? node2(ps, N_VALUE_PROJECTION, l, r) : NULL;
  case T_FILTER: {
    /* the same as the led with the current node on the left */
    struct node *cond = expression(ps, 0);
    if (!cond || match(ps, T_RBRACKET)) return NULL;
    r = cur_type(ps) == T_FLATTEN ? current_node(ps) : parse_projection_rhs(ps, bp[T_FILTER]);
    if (!r) return NULL;
    n = node2(ps, N_FILTER_PROJECTION, current_node(ps), r);
    n->kids[2] = cond;
    return n;
  }
  case T_LBRACE: return parse_multi_hash(ps);
  case T_LPAREN:
    n = expression(ps, 0);
    return n && !match(ps, T_RPAREN) ? n : NULL;
  case T_FLATTEN:
    l = node2(ps, N_FLATTEN, current_node(ps), NULL);
    r = parse_projection_rhs(ps, bp[T_FLATTEN]);
    return r ? node2(ps, N_PROJECTION, l, r) : NULL;
  case T_NOT:
    l = expression(ps, bp[T_NOT]);
    return l ? node2(ps, N_NOT, l, NULL) : NULL;
  case T_LBRACKET:
    if (cur_type(ps) == T_NUMBER || cur_type(ps) == T_COLON) {
      r = parse_index(ps);
      return r ? project_if_slice(ps, current_node(ps), r) : NULL;
    }
    if (cur_type(ps) == T_STAR && ahead_type(ps, 1) == T_RBRACKET) {
      advance(ps);
      advance(ps);
      r = parse_projection_rhs(ps, bp[T_STAR]);
      return r ? node2(ps, N_PROJECTION, current_node(ps), r) : NULL;
    }
    return parse_multi_list(ps);
  case T_CURRENT: return current_node(ps);
  case T_EXPREF:
    l = expression(ps, 0 /* jmespath.py: BINDING_POWER['expref'] */);
    return l ? node2(ps, N_EXPREF, l, NULL) : NULL;
  case T_EOF:
  case T_RBRACKET:
  case T_RPAREN:
  case T_COMMA:
  case T_RBRACE:
  case T_NUMBER:
  case T_COLON:
  case T_PIPE:
  case T_OR:
  case T_AND:
  case T_EQ:
  case T_GT:
  case T_LT:
  case T_GTE:
  case T_LTE:
  case T_NE:
  case T_DOT:
  case T__COUNT: break;
  }
  if (t->type == T_EOF)
    fail(ps->err, ps->errlen, t->col, "unexpected end of expression");
  else if (t->type == T_NUMBER)
    fail(ps->err, ps->errlen, t->col, "unexpected number %lld (an index goes in brackets: [%lld]; a number literal in backticks: `%lld`)",
         t->num, t->num, t->num);
  else
    fail(ps->err, ps->errlen, t->col, "unexpected %s", tok_name[t->type]);
  return NULL;
}

static struct node *led(struct parser *ps, enum tok type, struct node *left, int col) {
  struct node *n, *r;
  switch (type) {
  case T_DOT:
    if (cur_type(ps) != T_STAR) {
      r = parse_dot_rhs(ps, bp[T_DOT]);
      return r ? node2(ps, N_SUB, left, r) : NULL;
    }
    advance(ps);
    r = parse_projection_rhs(ps, bp[T_DOT]);
    return r ? node2(ps, N_VALUE_PROJECTION, left, r) : NULL;
  case T_PIPE:
  case T_OR:
  case T_AND:
    r = expression(ps, bp[type]);
    if (!r) return NULL;
    return node2(ps, type == T_PIPE ? N_PIPE : type == T_OR ? N_OR : N_AND, left, r);
  case T_LPAREN: {
    if (left->kind != N_FIELD) {
      fail(ps->err, ps->errlen, col, "'(' follows something that is not a function name");
      return NULL;
    }
    const struct func *f = func_find(left->name);
    if (!f) {
      fail(ps->err, ps->errlen, col, "unknown function %s()", left->name);
      return NULL;
    }
    n = node_new(ps, N_FUNCTION);
    n->fn = f;
    n->name = left->name;
    while (cur_type(ps) != T_RPAREN) {
      struct node *a = expression(ps, 0);
      if (!a) return NULL;
      if (cur_type(ps) == T_COMMA) advance(ps);
      else if (cur_type(ps) != T_RPAREN) return perr(ps, "',' or ')'");
      node_append(n, a, NULL);
    }
    advance(ps);
    if (n->n < f->nargs || (!f->variadic && n->n > f->nargs)) {
      fail(ps->err, ps->errlen, col, "%s() takes %s%zu argument%s, got %zu", f->name,
           f->variadic ? "at least " : "", f->nargs, f->nargs == 1 ? "" : "s", n->n);
      return NULL;
    }
    return n;
  }
  case T_FILTER: {
    struct node *cond = expression(ps, 0);
    if (!cond || match(ps, T_RBRACKET)) return NULL;
    r = cur_type(ps) == T_FLATTEN ? current_node(ps) : parse_projection_rhs(ps, bp[T_FILTER]);
    if (!r) return NULL;
    n = node2(ps, N_FILTER_PROJECTION, left, r);
    n->kids[2] = cond;
    return n;
  }
  case T_EQ:
  case T_NE:
  case T_LT:
  case T_LTE:
  case T_GT:
  case T_GTE:
    r = expression(ps, bp[type]);
    if (!r) return NULL;
    n = node2(ps, N_CMP, left, r);
    n->cmp = type;
    return n;
  case T_FLATTEN:
    left = node2(ps, N_FLATTEN, left, NULL);
    r = parse_projection_rhs(ps, bp[T_FLATTEN]);
    return r ? node2(ps, N_PROJECTION, left, r) : NULL;
  case T_LBRACKET:
    if (cur_type(ps) == T_NUMBER || cur_type(ps) == T_COLON) {
      r = parse_index(ps);
      return r ? project_if_slice(ps, left, r) : NULL;
    }
    if (cur_type(ps) != T_STAR) return perr(ps, "a number, ':' or '*' after '['");
    advance(ps);
    if (match(ps, T_RBRACKET)) return NULL;
    r = parse_projection_rhs(ps, bp[T_STAR]);
    return r ? node2(ps, N_PROJECTION, left, r) : NULL;
  case T_EOF:
  case T_UNQUOTED:
  case T_QUOTED:
  case T_LITERAL:
  case T_RBRACKET:
  case T_RPAREN:
  case T_COMMA:
  case T_RBRACE:
  case T_NUMBER:
  case T_CURRENT:
  case T_EXPREF:
  case T_COLON:
  case T_STAR:
  case T_NOT:
  case T_LBRACE:
  case T__COUNT: break;
  }
  fail(ps->err, ps->errlen, col, "unexpected %s", tok_name[type]);
  return NULL;
}

static struct node *expression(struct parser *ps, int rbp) {
  const struct token *t = cur(ps);
  advance(ps);
  struct node *left = nud(ps, t);
  while (left && rbp < bp[cur_type(ps)]) {
    const struct token *op = cur(ps);
    advance(ps);
    left = led(ps, op->type, left, op->col);
  }
  return left;
}

void jmes_free(struct jmes *e) {
  if (!e) return;
  for (size_t i = 0; i < e->ntoks; i++) {
    free(e->toks[i].str);
    json_decref(e->toks[i].lit);
  }
  free(e->toks);
  for (size_t i = 0; i < e->nnodes; i++) {
    free(e->nodes[i]->list);
    free((void *)e->nodes[i]->keys);
    free(e->nodes[i]);
  }
  free(e->nodes);
  free(e);
}

int jmes_compile(const char *expr, struct jmes **out, char *err, size_t errlen) {
  *out = NULL;
  struct jmes *e = xcalloc(1, sizeof *e);
  if (lex(expr, e, err, errlen)) goto fail;
  struct parser ps = {.e = e, .err = err, .errlen = errlen};
  if (cur_type(&ps) == T_EOF) {
    fail(err, errlen, 0, "empty expression");
    goto fail;
  }
  e->root = expression(&ps, 0);
  if (!e->root) goto fail;
  if (cur_type(&ps) != T_EOF) {
    fail(err, errlen, cur(&ps)->col, "unexpected %s after a complete expression", tok_name[cur_type(&ps)]);
    goto fail;
  }
  *out = e;
  return 0;
fail:
  jmes_free(e);
  return -1;
}

/* ---- evaluation ---- */

struct ev {
  char *err;
  size_t errlen;
  int failed;
};

static json_t *eval(struct ev *x, const struct node *n, json_t *v);

static int is_num(const json_t *v) { return json_is_integer(v) || json_is_real(v); }

static int truthy(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return json_object_size(v) > 0;
  case JSON_ARRAY: return json_array_size(v) > 0;
  case JSON_STRING: return json_string_length(v) > 0;
  case JSON_INTEGER:
  case JSON_REAL:
  case JSON_TRUE: return 1;
  case JSON_FALSE:
  case JSON_NULL: return 0;
  }
  return 0;
}

/* Python's ==, except that booleans never equal numbers. */
static int equal(const json_t *a, const json_t *b) {
  if (is_num(a) && is_num(b)) {
    if (json_is_integer(a) && json_is_integer(b)) return json_integer_value(a) == json_integer_value(b);
    return json_number_value(a) == json_number_value(b);
  }
  if (json_typeof(a) != json_typeof(b)) return 0;
  if (json_is_array(a)) {
    if (json_array_size(a) != json_array_size(b)) return 0;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!equal(json_array_get(a, i), json_array_get(b, i))) return 0;
    return 1;
  }
  if (json_is_object(a)) {
    if (json_object_size(a) != json_object_size(b)) return 0;
    const char *k;
    json_t *av;
    json_object_foreach((json_t *)a, k, av) {
      json_t *bv = json_object_get(b, k);
      if (!bv || !equal(av, bv)) return 0;
    }
    return 1;
  }
  return json_equal((json_t *)a, (json_t *)b);
}

/* <0, 0, >0 for two numbers or two strings (code point order: bytes of UTF-8). */
static int order(const json_t *a, const json_t *b) {
  if (is_num(a)) {
    if (json_is_integer(a) && json_is_integer(b)) {
      long long x = json_integer_value(a), y = json_integer_value(b);
      return (x > y) - (x < y);
    }
    double x = json_number_value(a), y = json_number_value(b);
    return (x > y) - (x < y);
  }
  size_t la = json_string_length(a), lb = json_string_length(b);
  int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
  return c ? c : (la > lb) - (la < lb);
}

static json_t *compare(const struct node *n, const json_t *l, const json_t *r) {
  if (n->cmp == T_EQ) return json_boolean(equal(l, r));
  if (n->cmp == T_NE) return json_boolean(!equal(l, r));
  int comparable = (is_num(l) && is_num(r)) || (json_is_string(l) && json_is_string(r));
  if (!comparable) return json_null();
  int c = order(l, r);
  switch (n->cmp) {
  case T_LT: return json_boolean(c < 0);
  case T_LTE: return json_boolean(c <= 0);
  case T_GT: return json_boolean(c > 0);
  case T_GTE: return json_boolean(c >= 0);
  default: return json_null();
  }
}

/* Python's slice.indices, then the elements. */
static json_t *slice(const struct node *n, const json_t *v) {
  if (!json_is_array(v)) return json_null();
  long long len = (long long)json_array_size(v);
  long long step = n->has[2] ? n->sl[2] : 1;
  long long lo = step < 0 ? -1 : 0, hi = step < 0 ? len - 1 : len;
  long long b[2];
  for (int k = 0; k < 2; k++) {
    if (!n->has[k]) { /* start defaults to the first element in the step's direction, stop past the last */
      b[k] = (k == 0) == (step > 0) ? lo : hi;
      continue;
    }
    long long i = n->sl[k];
    if (i < 0) i += len;
    if (i < lo) i = lo;
    if (i > hi) i = hi;
    b[k] = i;
  }
  json_t *out = json_array();
  for (long long i = b[0]; step > 0 ? i < b[1] : i > b[1]; i += step)
    json_array_append(out, json_array_get(v, (size_t)i));
  return out;
}

/* Appends r (@owned) unless it is null. */
static void collect(json_t *out, json_t *r) {
  if (json_is_null(r)) json_decref(r);
  else json_array_append_new(out, r);
}

/* Does the argument have one of the types "a|b" (jmespath.py's signature names; NULL = any
 * value but an expression reference)? */
static int arg_fits(const struct arg *a, const char *types) {
  const json_t *av = a->v;
  if (!types) return av != NULL;
  for (const char *t = types; *t;) {
    size_t len = strcspn(t, "|");
#define IS(name) (len == strlen(name) && !strncmp(t, name, len))
    int found = 0;
    if (IS("expref")) found = a->ref != NULL;
    else if (!av) found = 0;
    else if (IS("number")) found = is_num(av);
    else if (IS("string")) found = json_is_string(av);
    else if (IS("array")) found = json_is_array(av);
    else if (IS("object")) found = json_is_object(av);
    else if (IS("array-number") || IS("array-string")) {
      int want_num = IS("array-number");
      found = json_is_array(av);
      for (size_t j = 0; found && j < json_array_size(av); j++)
        found = want_num ? is_num(json_array_get(av, j)) : json_is_string(json_array_get(av, j));
    }
#undef IS
    if (found) return 1;
    t += len + (t[len] == '|');
  }
  return 0;
}

static json_t *type_error(struct ev *x, const struct func *f, const json_t *v, const char *want);

static json_t *eval_function(struct ev *x, const struct node *n, json_t *v) {
  struct arg a[n->n ? n->n : 1];
  for (size_t i = 0; i < n->n; i++) {
    const struct node *k = n->list[i];
    a[i].ref = k->kind == N_EXPREF ? k->kids[0] : NULL;
    a[i].v = a[i].ref ? NULL : eval(x, k, v);
  }
  json_t *r = NULL;
  const struct func *f = n->fn;
  size_t bad = n->n;
  for (size_t i = 0; bad == n->n && i < n->n; i++)
    if (!arg_fits(&a[i], f->types[i < 2 ? i : 1])) bad = i;
  const char *want = bad < n->n ? f->types[bad < 2 ? bad : 1] : NULL;
  if (x->failed) {
    /* an argument failed; the error is set */
  } else if (bad < n->n) {
    type_error(x, f, a[bad].v, want ? want : "a value, not an &expression");
  } else {
    r = f->impl(x, f, a, n->n);
  }
  for (size_t i = 0; i < n->n; i++) json_decref(a[i].v);
  return r ? r : json_null();
}

static json_t *eval(struct ev *x, const struct node *n, json_t *v) {
  json_t *l, *r, *out;
  size_t i;
  json_t *e;
  if (x->failed) return json_null();
  switch (n->kind) {
  case N_FIELD: return json_incref(json_is_object(v) && json_object_get(v, n->name) ? json_object_get(v, n->name) : json_null());
  case N_CURRENT: return json_incref(v);
  case N_LITERAL: return json_incref(n->lit);
  case N_INDEX: {
    if (!json_is_array(v)) return json_null();
    long long k = n->idx < 0 ? n->idx + (long long)json_array_size(v) : n->idx;
    if (k < 0 || k >= (long long)json_array_size(v)) return json_null();
    return json_incref(json_array_get(v, (size_t)k));
  }
  case N_SLICE: return slice(n, v);
  case N_SUB:
  case N_PIPE:
    l = eval(x, n->kids[0], v);
    r = eval(x, n->kids[1], l);
    json_decref(l);
    return r;
  case N_PROJECTION:
  case N_VALUE_PROJECTION:
    l = eval(x, n->kids[0], v);
    if (n->kind == N_PROJECTION ? !json_is_array(l) : !json_is_object(l)) {
      json_decref(l);
      return json_null();
    }
    out = json_array();
    if (json_is_array(l)) {
      json_array_foreach(l, i, e) collect(out, eval(x, n->kids[1], e));
    } else {
      const char *k;
      json_object_foreach(l, k, e) collect(out, eval(x, n->kids[1], e));
    }
    json_decref(l);
    return out;
  case N_FILTER_PROJECTION:
    l = eval(x, n->kids[0], v);
    if (!json_is_array(l)) {
      json_decref(l);
      return json_null();
    }
    out = json_array();
    json_array_foreach(l, i, e) {
      json_t *c = eval(x, n->kids[2], e);
      if (truthy(c)) collect(out, eval(x, n->kids[1], e));
      json_decref(c);
    }
    json_decref(l);
    return out;
  case N_FLATTEN:
    l = eval(x, n->kids[0], v);
    if (!json_is_array(l)) {
      json_decref(l);
      return json_null();
    }
    out = json_array();
    json_array_foreach(l, i, e) {
      if (json_is_array(e)) json_array_extend(out, e);
      else json_array_append(out, e);
    }
    json_decref(l);
    return out;
  case N_OR:
    l = eval(x, n->kids[0], v);
    if (truthy(l)) return l;
    json_decref(l);
    return eval(x, n->kids[1], v);
  case N_AND:
    l = eval(x, n->kids[0], v);
    if (!truthy(l)) return l;
    json_decref(l);
    return eval(x, n->kids[1], v);
  case N_NOT:
    l = eval(x, n->kids[0], v);
    r = json_boolean(!truthy(l));
    json_decref(l);
    return r;
  case N_CMP:
    l = eval(x, n->kids[0], v);
    r = eval(x, n->kids[1], v);
    out = compare(n, l, r);
    json_decref(l);
    json_decref(r);
    return out;
  case N_MULTI_LIST:
  case N_MULTI_HASH:
    if (json_is_null(v)) return json_null();
    out = n->kind == N_MULTI_LIST ? json_array() : json_object();
    for (i = 0; i < n->n; i++) {
      json_t *r1 = eval(x, n->list[i], v);
      if (n->kind == N_MULTI_LIST) json_array_append_new(out, r1);
      else json_object_set_new(out, n->keys[i], r1);
    }
    return out;
  case N_FUNCTION: return eval_function(x, n, v);
  case N_EXPREF:
    if (!x->failed)
      snprintf(x->err, x->errlen, "an expression reference (&...) can only be a function's argument");
    x->failed = 1;
    return json_null();
  case N__COUNT: break;
  }
  return json_null();
}

int jmes_search(const struct jmes *e, const json_t *data, json_t **out, char *err, size_t errlen) {
  struct ev x = {.err = err, .errlen = errlen};
  json_t *r = eval(&x, e->root, (json_t *)data);
  if (x.failed) {
    json_decref(r);
    *out = NULL;
    return -1;
  }
  *out = r;
  return 0;
}

/* ---- the built-in functions ---- */

static json_t *type_error(struct ev *x, const struct func *f, const json_t *v, const char *want) {
  if (!x->failed) {
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    snprintf(x->err, x->errlen, "in function %s(), invalid type for value %s: expected %s", f->name,
             s ? s : "&expression", want);
    free(s);
  }
  x->failed = 1;
  return NULL;
}

static size_t utf8_len(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
  return c;
}

static json_t *f_abs(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  if (json_is_integer(a[0].v)) return json_integer(llabs(json_integer_value(a[0].v)));
  return json_real(fabs(json_real_value(a[0].v)));
}

static json_t *number_sum(const json_t *arr) {
  long long is = 0;
  double ds = 0;
  int real = 0;
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    if (json_is_real(e)) real = 1;
    is += json_is_integer(e) ? json_integer_value(e) : 0;
    ds += json_number_value(e);
  }
  return real ? json_real(ds) : json_integer(is);
}

static json_t *f_avg(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  size_t len = json_array_size(a[0].v);
  if (!len) return json_null();
  json_t *s = number_sum(a[0].v);
  json_t *r = json_real(json_number_value(s) / (double)len);
  json_decref(s);
  return r;
}

static json_t *f_ceil(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  return json_is_integer(a[0].v) ? json_incref(a[0].v) : json_integer((json_int_t)ceil(json_real_value(a[0].v)));
}

static json_t *f_floor(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  return json_is_integer(a[0].v) ? json_incref(a[0].v) : json_integer((json_int_t)floor(json_real_value(a[0].v)));
}

static json_t *f_contains(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  if (json_is_array(a[0].v)) {
    size_t i;
    json_t *e;
    json_array_foreach(a[0].v, i, e) if (equal(e, a[1].v)) return json_true();
    return json_false();
  }
  if (!json_is_string(a[1].v)) return type_error(x, f, a[1].v, "a string (to search a string)");
  return json_boolean(strstr(json_string_value(a[0].v), json_string_value(a[1].v)) != NULL);
}

static json_t *f_ends_with(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  size_t ls = json_string_length(a[0].v), lx = json_string_length(a[1].v);
  return json_boolean(lx <= ls && !memcmp(json_string_value(a[0].v) + ls - lx, json_string_value(a[1].v), lx));
}

static json_t *f_starts_with(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  size_t ls = json_string_length(a[0].v), lx = json_string_length(a[1].v);
  return json_boolean(lx <= ls && !memcmp(json_string_value(a[0].v), json_string_value(a[1].v), lx));
}

static json_t *f_join(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  struct buf b;
  buf_init(&b);
  size_t i;
  json_t *e;
  json_array_foreach(a[1].v, i, e) {
    if (i) buf_printf(&b, "%s", json_string_value(a[0].v));
    buf_printf(&b, "%s", json_string_value(e));
  }
  json_t *r = json_string(b.data ? (char *)b.data : "");
  buf_release(&b);
  return r;
}

static json_t *f_keys(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  json_t *out = json_array();
  const char *k;
  json_t *e;
  json_object_foreach(a[0].v, k, e) json_array_append_new(out, json_string(k));
  return out;
}

static json_t *f_values(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  json_t *out = json_array();
  const char *k;
  json_t *e;
  json_object_foreach(a[0].v, k, e) json_array_append(out, e);
  return out;
}

static json_t *f_length(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  const json_t *v = a[0].v;
  if (json_is_string(v)) return json_integer((json_int_t)utf8_len(json_string_value(v), json_string_length(v)));
  return json_integer((json_int_t)(json_is_array(v) ? json_array_size(v) : json_object_size(v)));
}

static json_t *f_map(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)f, (void)n;
  json_t *out = json_array();
  size_t i;
  json_t *e;
  json_array_foreach(a[1].v, i, e) json_array_append_new(out, eval(x, a[0].ref, e));
  return out;
}

/* max and min of an array of numbers or of strings; sign 1 for max. */
static json_t *extreme(const json_t *arr, int sign) {
  json_t *best = NULL;
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) if (!best || order(e, best) * sign > 0) best = e;
  return best ? json_incref(best) : json_null();
}

static int all_same_kind(const json_t *arr) {
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) if (is_num(e) != is_num(json_array_get(arr, 0))) return 0;
  return 1;
}

static json_t *f_max(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)n;
  if (!all_same_kind(a[0].v)) return type_error(x, f, a[0].v, "an array of numbers or an array of strings");
  return extreme(a[0].v, 1);
}

static json_t *f_min(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)n;
  if (!all_same_kind(a[0].v)) return type_error(x, f, a[0].v, "an array of numbers or an array of strings");
  return extreme(a[0].v, -1);
}

/* The keys of expref over arr, all numbers or all strings; NULL after a type error. */
static json_t *keys_by(struct ev *x, const struct func *f, const struct arg *a) {
  json_t *keys = json_array();
  size_t i;
  json_t *e;
  json_array_foreach(a[0].v, i, e) {
    json_t *k = eval(x, a[1].ref, e);
    if (x->failed) break;
    if (!(is_num(k) || json_is_string(k)) || (i && is_num(k) != is_num(json_array_get(keys, 0)))) {
      type_error(x, f, k, i ? "keys all numbers or all strings" : "a number or a string as the key");
      json_decref(k);
      break;
    }
    json_array_append_new(keys, k);
  }
  if (x->failed) {
    json_decref(keys);
    return NULL;
  }
  return keys;
}

static json_t *by_extreme(struct ev *x, const struct func *f, struct arg *a, int sign) {
  json_t *keys = keys_by(x, f, a);
  if (!keys) return NULL;
  size_t best = 0;
  for (size_t i = 1; i < json_array_size(keys); i++)
    if (order(json_array_get(keys, i), json_array_get(keys, best)) * sign > 0) best = i;
  json_t *r = json_array_size(keys) ? json_incref(json_array_get(a[0].v, best)) : json_null();
  json_decref(keys);
  return r;
}

static json_t *f_max_by(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)n;
  return by_extreme(x, f, a, 1);
}

static json_t *f_min_by(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)n;
  return by_extreme(x, f, a, -1);
}

static json_t *f_merge(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  json_t *out = json_object();
  for (size_t i = 0; i < n; i++) {
    if (!json_is_object(a[i].v)) {
      json_decref(out);
      return type_error(x, f, a[i].v, "an object");
    }
    json_object_update(out, a[i].v);
  }
  return out;
}

static json_t *f_not_null(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f;
  for (size_t i = 0; i < n; i++)
    if (a[i].v && !json_is_null(a[i].v)) return json_incref(a[i].v);
  return json_null();
}

static json_t *f_reverse(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  const json_t *v = a[0].v;
  if (json_is_array(v)) {
    json_t *out = json_array();
    for (size_t i = json_array_size(v); i-- > 0;) json_array_append(out, json_array_get(v, i));
    return out;
  }
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  char *o = xmalloc(len + 1);
  size_t w = 0;
  for (size_t end = len; end > 0;) { /* by code point */
    size_t st = end - 1;
    while (st > 0 && ((unsigned char)s[st] & 0xC0) == 0x80) st--;
    memcpy(o + w, s + st, end - st);
    w += end - st;
    end = st;
  }
  json_t *r = json_stringn(o, w);
  free(o);
  return r;
}

struct keyed {
  const json_t *key;
  size_t i;
};

static int keyed_cmp(const void *pa, const void *pb) {
  const struct keyed *a = pa, *b = pb;
  int c = order(a->key, b->key);
  return c ? c : (a->i > b->i) - (a->i < b->i); /* stable */
}

static json_t *sorted(const json_t *arr, const json_t *keys) {
  size_t len = json_array_size(arr);
  struct keyed *k = xcalloc(len ? len : 1, sizeof *k);
  for (size_t i = 0; i < len; i++) k[i] = (struct keyed){json_array_get(keys, i), i};
  qsort(k, len, sizeof *k, keyed_cmp);
  json_t *out = json_array();
  for (size_t i = 0; i < len; i++) json_array_append(out, json_array_get(arr, k[i].i));
  free(k);
  return out;
}

static json_t *f_sort(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)n;
  if (!all_same_kind(a[0].v)) return type_error(x, f, a[0].v, "an array of numbers or an array of strings");
  return sorted(a[0].v, a[0].v);
}

static json_t *f_sort_by(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)n;
  json_t *keys = keys_by(x, f, a);
  if (!keys) return NULL;
  json_t *r = sorted(a[0].v, keys);
  json_decref(keys);
  return r;
}

static json_t *f_sum(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  return number_sum(a[0].v);
}

static json_t *f_to_array(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  return json_is_array(a[0].v) ? json_incref(a[0].v) : json_pack("[O]", a[0].v);
}

void jmes_py_number(const json_t *v, char *b, size_t bn) {
  if (json_is_integer(v)) {
    snprintf(b, bn, "%lld", (long long)json_integer_value(v));
    return;
  }
  fmt_shortest(json_real_value(v), b, bn);
  if (!strpbrk(b, ".eni")) {
    size_t n = strlen(b);
    snprintf(b + n, bn - n, ".0");
  }
}

/* v as jmespath.py's to_string writes it, json.dumps(v, separators=(',', ':')): compact, ASCII,
 * and a real in Python's shortest form that reads back the same (0.1, where jansson writes 17
 * digits, 0.10000000000000001). */
static void dump_py(const json_t *v, struct buf *b) {
  const char *k;
  json_t *e;
  size_t i;
  if (json_is_real(v)) {
    char s[64];
    jmes_py_number(v, s, sizeof s);
    buf_printf(b, "%s", s);
  } else if (json_is_object(v) && json_object_size(v)) {
    i = 0;
    json_object_foreach((json_t *)v, k, e) {
      json_t *key = json_string(k);
      char *ks = json_dumps(key, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
      buf_printf(b, "%s%s:", i++ ? "," : "{", ks ? ks : "\"\"");
      free(ks);
      json_decref(key);
      dump_py(e, b);
    }
    buf_printf(b, "}");
  } else if (json_is_array(v) && json_array_size(v)) {
    json_array_foreach((json_t *)v, i, e) {
      buf_printf(b, "%s", i ? "," : "[");
      dump_py(e, b);
    }
    buf_printf(b, "]");
  } else {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
    buf_printf(b, "%s", s ? s : "null");
    free(s);
  }
}

static json_t *f_to_string(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  if (json_is_string(a[0].v)) return json_incref(a[0].v);
  struct buf b;
  buf_init(&b);
  dump_py(a[0].v, &b);
  json_t *r = json_string(b.data ? (const char *)b.data : "null");
  buf_release(&b);
  return r;
}

static json_t *f_to_number(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  const json_t *v = a[0].v;
  if (is_num(v)) return json_incref((json_t *)v);
  if (!json_is_string(v)) return json_null();
  const char *s = json_string_value(v);
  while (isspace((unsigned char)*s)) s++;
  if (!*s) return json_null();
  char *end;
  errno = 0;
  long long i = strtoll(s, &end, 10);
  while (isspace((unsigned char)*end)) end++;
  if (!*end && !errno) return json_integer(i);
  double d = strtod(s, &end);
  while (isspace((unsigned char)*end)) end++;
  if (!*end && isfinite(d)) return json_real(d);
  return json_null();
}

static json_t *f_type(struct ev *x, const struct func *f, struct arg *a, size_t n) {
  (void)x, (void)f, (void)n;
  const char *t = "null";
  switch (json_typeof(a[0].v)) {
  case JSON_OBJECT: t = "object"; break;
  case JSON_ARRAY: t = "array"; break;
  case JSON_STRING: t = "string"; break;
  case JSON_INTEGER:
  case JSON_REAL: t = "number"; break;
  case JSON_TRUE:
  case JSON_FALSE: t = "boolean"; break;
  case JSON_NULL: break;
  }
  return json_string(t);
}

static const struct func funcs[] = {
    {"abs", 1, 0, {"number", NULL}, f_abs},
    {"avg", 1, 0, {"array-number", NULL}, f_avg},
    {"ceil", 1, 0, {"number", NULL}, f_ceil},
    {"contains", 2, 0, {"array|string", NULL}, f_contains},
    {"ends_with", 2, 0, {"string", "string"}, f_ends_with},
    {"floor", 1, 0, {"number", NULL}, f_floor},
    {"join", 2, 0, {"string", "array-string"}, f_join},
    {"keys", 1, 0, {"object", NULL}, f_keys},
    {"length", 1, 0, {"string|array|object", NULL}, f_length},
    {"map", 2, 0, {"expref", "array"}, f_map},
    {"max", 1, 0, {"array-number|array-string", NULL}, f_max},
    {"max_by", 2, 0, {"array", "expref"}, f_max_by},
    {"merge", 1, 1, {"object", "object"}, f_merge},
    {"min", 1, 0, {"array-number|array-string", NULL}, f_min},
    {"min_by", 2, 0, {"array", "expref"}, f_min_by},
    {"not_null", 1, 1, {NULL, NULL}, f_not_null},
    {"reverse", 1, 0, {"string|array", NULL}, f_reverse},
    {"sort", 1, 0, {"array-number|array-string", NULL}, f_sort},
    {"sort_by", 2, 0, {"array", "expref"}, f_sort_by},
    {"starts_with", 2, 0, {"string", "string"}, f_starts_with},
    {"sum", 1, 0, {"array-number", NULL}, f_sum},
    {"to_array", 1, 0, {NULL, NULL}, f_to_array},
    {"to_number", 1, 0, {NULL, NULL}, f_to_number},
    {"to_string", 1, 0, {NULL, NULL}, f_to_string},
    {"type", 1, 0, {NULL, NULL}, f_type},
    {"values", 1, 0, {"object", NULL}, f_values},
};

static const struct func *func_find(const char *name) {
  for (size_t i = 0; i < sizeof funcs / sizeof *funcs; i++)
    if (!strcmp(funcs[i].name, name)) return &funcs[i];
  return NULL;
}
