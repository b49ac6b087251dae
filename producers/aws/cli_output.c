/* cli_output.c: the AWS CLI's side of a response: pagination followed (all pages joined unless
 * the user pages by hand), --query (a JMESPath subset) and --output json|text. */
#include <stdlib.h>
#include <string.h>

#include "awscli.h"

/* A small JMESPath subset for --query: field, a.b, a[0], a[].b, a[*].b, [0]. */
static json_t *query_path(json_t *v, const char *q) {
  if (!v) return NULL;
  while (*q == '.') q++;
  if (!*q) return json_incref(v);
  if (*q == '[') {
    const char *close = strchr(q, ']');
    if (!close) return NULL;
    if (close == q + 1 || (close == q + 2 && q[1] == '*')) {
      json_t *out = json_array();
      size_t i;
      json_t *e;
      json_array_foreach(v, i, e) {
        json_t *r = query_path(e, close + 1);
        if (r && !json_is_null(r)) json_array_append_new(out, r);
        else json_decref(r);
      }
      return out;
    }
    if (q[1] != '-' && (q[1] < '0' || q[1] > '9')) {
      /* a multiselect list: [a, b.c, d] */
      json_t *out = json_array();
      const char *p = q + 1;
      while (p < close) {
        size_t n = strcspn(p, ",]");
        char sub[256];
        snprintf(sub, sizeof sub, "%.*s", (int)n, p);
        char *t = sub;
        while (*t == ' ') t++;
        json_t *r = query_path(v, t);
        json_array_append_new(out, r ? r : json_null());
        p += n + (p[n] == ',');
      }
      json_t *rest = query_path(out, close + 1);
      json_decref(out);
      return rest;
    }
    long idx = strtol(q + 1, NULL, 10);
    if (idx < 0) idx += (long)json_array_size(v);
    return query_path(json_array_get(v, (size_t)idx), close + 1);
  }
  size_t n = strcspn(q, ".[");
  char key[256];
  snprintf(key, sizeof key, "%.*s", (int)n, q);
  return query_path(json_object_get(v, key), q + n);
}

static void print_text(json_t *v, int top, FILE *out) {
  if (json_is_array(v)) {
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
      if (i) fputc(json_is_array(e) || json_is_object(e) ? '\n' : '\t', out);
      print_text(e, 0, out);
    }
  } else if (json_is_object(v)) {
    const char *k;
    json_t *e;
    int first = 1;
    json_object_foreach(v, k, e) {
      if (!first) fputc('\t', out);
      first = 0;
      print_text(e, 0, out);
    }
  } else if (json_is_string(v)) {
    fputs(json_string_value(v), out);
  } else if (json_is_null(v)) {
    fputs("None", out);
  } else {
    char *s = json_dumps(v, JSON_ENCODE_ANY);
    fputs(s, out);
    free(s);
  }
  if (top) fputc('\n', out);
}

void awscli_print(const json_t *resp, const struct awscli_globals *g, FILE *out) {
  json_t *v = g->query ? query_path((json_t *)resp, g->query) : json_incref((json_t *)resp);
  if (!v) v = json_null();
  if (g->output && !strcmp(g->output, "text")) {
    print_text(v, 1, out);
  } else {
    char *s = json_dumps(v, JSON_INDENT(4) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    if (s) fprintf(out, "%s\n", s);
    free(s);
  }
  json_decref(v);
}

int awscli_call(const struct aws_op *op, const struct bus_conf *bc, json_t *req,
                const struct awscli_globals *g, json_t **resp, char *err, size_t errlen) {
  int rc = cli_read_call(op, bc, req, resp, err, errlen);
  /* the AWS CLI follows nextToken itself unless the user paged by hand */
  while (rc == 0 && op->page_result && g->paginate && json_object_get(*resp, "nextToken") &&
         !json_object_get(req, "nextToken") && !json_object_get(req, "maxResults")) {
    json_object_set(req, "nextToken", json_object_get(*resp, "nextToken"));
    json_t *more = NULL;
    rc = cli_read_call(op, bc, req, &more, err, errlen);
    json_object_del(req, "nextToken");
    if (rc) break;
    json_array_extend(json_object_get(*resp, op->page_result), json_object_get(more, op->page_result));
    if (json_object_get(more, "nextToken"))
      json_object_set(*resp, "nextToken", json_object_get(more, "nextToken"));
    else
      json_object_del(*resp, "nextToken");
    json_decref(more);
  }
  if (rc) {
    json_decref(*resp);
    *resp = NULL;
  }
  return rc;
}
