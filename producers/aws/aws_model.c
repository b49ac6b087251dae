/* aws_model.c: what the request model says about a value: type names and the checks botocore's
 * ParamValidator makes before a request is sent (types, required and unknown members). The HTTP
 * API runs the same checks on a request body. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws_internal.h"

int aws_fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* A short, quoted rendering of a value for error messages. */
void aws_show(const char *s, char out[SHOW_VALUE_MAX + 8]) {
  size_t n = strlen(s);
  if (n <= SHOW_VALUE_MAX) {
    snprintf(out, SHOW_VALUE_MAX + 8, "%s", s);
  } else {
    snprintf(out, SHOW_VALUE_MAX + 8, "%.*s...", SHOW_VALUE_MAX, s);
  }
}

void aws_show_json(const json_t *v, char out[SHOW_VALUE_MAX + 8]) {
  char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
  aws_show(text ? text : "?", out);
  free(text);
}

static const struct aws_member *member_find(const struct aws_shape *sh, const char *name) {
  for (size_t i = 0; i < sh->n_members; i++)
    if (strcmp(sh->members[i].name, name) == 0) return &sh->members[i];
  return NULL;
}

int aws_is_complex(const struct aws_shape *sh) {
  return sh->type == AWS_STRUCT || sh->type == AWS_LIST || sh->type == AWS_MAP;
}

int aws_is_scalar(const struct aws_shape *sh) {
  return !aws_is_complex(sh) && sh->type != AWS_JSON;
}

const char *aws_type_word(const struct aws_shape *sh) {
  switch (sh->type) {
  case AWS_STRING: return "string";
  case AWS_INTEGER: return "integer";
  case AWS_LONG: return "long";
  case AWS_DOUBLE: return "float";
  case AWS_BOOLEAN: return "boolean";
  case AWS_STRUCT: return "structure";
  case AWS_LIST: return "list";
  case AWS_MAP: return "map";
  case AWS_JSON: return "JSON";
  case AWS_TYPE__COUNT: break;
  }
  return "?";
}

static int validate(const struct aws_shape *sh, const json_t *v, struct aws_path *pa, char *err,
                    size_t errlen) {
  char shown[SHOW_VALUE_MAX + 8];
  size_t saved;
  int ok = 1;
  switch (sh->type) {
  case AWS_STRING: ok = json_is_string(v); break;
  case AWS_INTEGER:
  case AWS_LONG: ok = json_is_integer(v); break;
  case AWS_DOUBLE: ok = json_is_number(v); break;
  case AWS_BOOLEAN: ok = json_is_boolean(v); break;
  case AWS_LIST: ok = json_is_array(v); break;
  case AWS_STRUCT:
  case AWS_MAP: ok = json_is_object(v); break;
  case AWS_JSON:
  case AWS_TYPE__COUNT: return 0;
  }
  if (!ok) {
    aws_show_json(v, shown);
    return aws_fail(err, errlen, "invalid type for parameter %s: expected %s, got %s", pa->s,
                aws_type_word(sh), shown);
  }
  if (sh->type == AWS_STRUCT) {
    for (size_t i = 0; i < sh->n_members; i++)
      if (sh->members[i].required && !json_object_get(v, sh->members[i].name))
        return aws_fail(err, errlen, "missing required parameter %s.%s", pa->s,
                    sh->members[i].name);
    const char *k;
    const json_t *child;
    json_object_foreach((json_t *)v, k, child) {
      const struct aws_member *m = member_find(sh, k);
      if (!m) {
        struct buf b;
        buf_init(&b);
        for (size_t i = 0; i < sh->n_members; i++)
          buf_printf(&b, "%s%s", i ? ", " : "", sh->members[i].name);
        aws_fail(err, errlen, "unknown parameter %s.%s, must be one of: %s", pa->s, k,
             (char *)b.data);
        buf_release(&b);
        return -1;
      }
      aws_path_member(pa, &saved, k);
      int r = m->unhonoured ? aws_refuse_unhonoured(pa->s, err, errlen)
                            : validate(m->shape, child, pa, err, errlen);
      aws_path_pop(pa, saved);
      if (r) return r;
    }
  } else if (sh->type == AWS_LIST) {
    for (size_t i = 0; i < json_array_size(v); i++) {
      aws_path_push(pa, &saved, "[%zu]", i);
      int r = validate(sh->elem, json_array_get(v, i), pa, err, errlen);
      aws_path_pop(pa, saved);
      if (r) return r;
    }
  } else if (sh->type == AWS_MAP) {
    const char *k;
    const json_t *child;
    json_object_foreach((json_t *)v, k, child) {
      aws_path_push(pa, &saved, ".%s", k);
      int r = validate(sh->elem, child, pa, err, errlen);
      aws_path_pop(pa, saved);
      if (r) return r;
    }
  }
  return 0;
}

int aws_refuse_unhonoured(const char *path, char *err, size_t errlen) {
  return aws_fail(err, errlen,
                  "%s is not implemented by Barge: it would have no effect, so the request is refused "
                  "(docs/api.md, \"Members Barge refuses\")",
                  path);
}

int aws_validate(const struct aws_shape *sh, const json_t *v, const char *path, char *err,
                 size_t errlen) {
  struct aws_path pa = {{0}};
  snprintf(pa.s, sizeof pa.s, "%s", path);
  return validate(sh, v, &pa, err, errlen);
}

/* Characters (UTF-8 code points) in s, or -1 when s holds a character tags do not allow. */
static long tag_chars(const char *s) {
  long n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p & 0xC0) == 0x80) continue; /* a continuation byte: part of the character before */
    n++;
    /* ASCII: letters, digits, space and _ . : / = + - @ (AWS's [\p{L}\p{Z}\p{N}_.:/=+\-@]);
     * letters, digits and spaces beyond ASCII are accepted as they come */
    if (*p < 0x80 && !isalnum(*p) && !strchr(" _.:/=+-@", *p)) return -1;
  }
  return n;
}

int aws_check_tag_key(const char *key, const char *path, char *err, size_t errlen) {
  char shown[SHOW_VALUE_MAX + 8];
  aws_show(key, shown);
  long n = tag_chars(key);
  if (n < 0)
    return aws_fail(err, errlen, "%s: tag key '%s' may hold only letters, digits, spaces and _ . : / = + - @", path, shown);
  if (n < 1 || n > 128)
    return aws_fail(err, errlen, "%s: tag key '%s' must be 1 to 128 characters, got %ld", path, shown, n);
  if (!strncasecmp(key, "aws:", 4))
    return aws_fail(err, errlen, "%s: tag key '%s' uses the prefix aws:, which AWS reserves", path, shown);
  return 0;
}

int aws_check_tags(const json_t *tags, const char *path, char *err, size_t errlen) {
  if (!json_is_object(tags)) return aws_fail(err, errlen, "%s must be a map of strings", path);
  if (json_object_size(tags) > 50)
    return aws_fail(err, errlen, "%s: a resource takes at most 50 tags, got %zu", path, json_object_size(tags));
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)tags, k, v) {
    if (aws_check_tag_key(k, path, err, errlen)) return -1;
    char shown[SHOW_VALUE_MAX + 8];
    aws_show(k, shown);
    long n = json_is_string(v) ? tag_chars(json_string_value(v)) : -2;
    if (n == -2) return aws_fail(err, errlen, "%s.%s: a tag value must be a string", path, shown);
    if (n < 0)
      return aws_fail(err, errlen, "%s.%s: the tag value may hold only letters, digits, spaces and _ . : / = + - @", path, shown);
    if (n > 256) return aws_fail(err, errlen, "%s.%s: the tag value must be at most 256 characters, got %ld", path, shown, n);
  }
  return 0;
}
