/* jsonget.h: typed reads of one member of a decoded event or request (jansson objects, Barge's
 * JSON convention in docs/development.md). Every accessor takes a possibly NULL object and
 * returns the default when the member is absent or of another type; none allocates. */
#ifndef BARGE_JSONGET_H
#define BARGE_JSONGET_H
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

/* The string member k, or NULL. Borrowed from o. */
static inline const char *jget_str(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

/* The integer member k (a decimal string is read too, as AWS shorthand gives them), or def. */
static inline int64_t jget_int(const json_t *o, const char *k, int64_t def) {
  json_t *v = json_object_get(o, k);
  if (json_is_integer(v)) return (int64_t)json_integer_value(v);
  if (json_is_string(v)) return strtoll(json_string_value(v), NULL, 10);
  return def;
}

/* The number member k (integer or real), or def. */
static inline double jget_num(const json_t *o, const char *k, double def) {
  json_t *v = json_object_get(o, k);
  return json_is_number(v) ? json_number_value(v) : def;
}

/* The boolean member k, or def. */
static inline int jget_bool(const json_t *o, const char *k, int def) {
  json_t *v = json_object_get(o, k);
  return json_is_boolean(v) ? json_is_true(v) : def;
}
#endif
