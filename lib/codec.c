/* codec.c: Barge's event codec (see codec.h for the contract and the JSON convention).
 *
 * Avro C parses and validates every embedded schema at codec_init, so a malformed schema stops
 * the process at startup. The binary encoding itself is done here, walking a small schema tree
 * built from the same JSON (lib/codec_schema.c): it gives direct access to field defaults (which Avro C's schema API
 * does not expose), maps straight between jansson and bytes without an intermediate
 * avro_value_t, and lets the decoder bound every length by the bytes actually left, so corrupt
 * or hostile input yields an error, never a huge allocation or a crash. codec_init also converts
 * every field default to Barge's JSON convention and encodes it once, so a bad default fails at
 * startup too. Values nest at most MAX_DEPTH deep in both directions, so whatever encodes decodes.
 *
 * Threads: the schema tree, canonical forms and fingerprints are written once by codec_init (under
 * a lock: concurrent first calls, e.g. two threads each making a client library handle, wait for
 * one to finish) and only read afterwards; registry ids (the process's table and any codec_ids_new's) are atomics. Encoding and decoding keep their state on the
 * caller's stack, so every call is reentrant. */
#include "codec.h"

#include <avro.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "codec_int.h"

#define MAX_DEPTH 64                  /* nesting of values, encoding and decoding alike */
#define MAX_ZERO_SIZE_ITEMS (1 << 16) /* items of a type that can encode to zero bytes */

static struct type_info types[BARGE_EV__COUNT];
/* Set, under init_lock, once types[] is complete: a thread that reads it 1 (acquire) sees the
 * tables. Two client library handles made at the same moment by two threads ran codec_init at
 * once: both parsed the schemas and overwrote each other's types[] (a data race; all but one
 * set of tables leaked). */
static atomic_int initialized;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- encoding ---- */

static void put_long(struct buf *o, int64_t v) {
  uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
  unsigned char tmp[10];
  size_t n = 0;
  while (z > 0x7f) {
    tmp[n++] = (unsigned char)((z & 0x7f) | 0x80);
    z >>= 7;
  }
  tmp[n++] = (unsigned char)z;
  buf_append(o, tmp, n);
}

static void put_bytes(struct buf *o, const void *p, size_t n) {
  put_long(o, (int64_t)n);
  buf_append(o, p, n);
}

static const char *json_kind(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER: return "an integer";
  case JSON_REAL: return "a real";
  case JSON_TRUE: case JSON_FALSE: return "a boolean";
  case JSON_NULL: return "null";
  }
  return "?";
}

static int encode(const struct node *n, const json_t *v, struct buf *o, struct path *p, char *err,
                  size_t errlen);

static int encode_union(const struct node *n, const json_t *v, struct buf *o, struct path *p,
                        char *err, size_t errlen) {
  if (json_is_null(v) && n->null_branch >= 0) {
    put_long(o, n->null_branch);
    return 0;
  }
  if (n->nullable_pair) {
    int other = 1 - n->null_branch;
    put_long(o, other);
    return encode(n->branches[other], v, o, p, err, errlen);
  }
  if (!json_is_object(v) || json_object_size(v) != 1) {
    char names[160] = "";
    size_t used = 0;
    for (size_t i = 0; i < n->nbranches && used < sizeof names; i++) {
      int w = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                       codec_branch_name(n->branches[i]));
      if (w < 0) break;
      used += (size_t)w;
    }
    perr(err, errlen, p, "expected a union {\"<branch>\": value} with one of %s, got %s", names,
         json_kind(v));
    return 1;
  }
  const char *key = json_object_iter_key(json_object_iter((json_t *)v));
  for (size_t i = 0; i < n->nbranches; i++) {
    const struct node *b = n->branches[i];
    if (strcmp(key, codec_branch_name(b)) == 0 || (b->full_name && strcmp(key, b->full_name) == 0)) {
      put_long(o, (int64_t)i);
      size_t old = path_push(p, codec_branch_name(b), strlen(codec_branch_name(b)));
      int rc = encode(b, json_object_get(v, key), o, p, err, errlen);
      path_pop(p, old);
      return rc;
    }
  }
  perr(err, errlen, p, "unknown union branch \"%s\"", key);
  return 1;
}

static int encode_record(const struct node *n, const json_t *v, struct buf *o, struct path *p,
                         char *err, size_t errlen) {
  if (!json_is_object(v)) {
    perr(err, errlen, p, "expected an object (record %s), got %s", n->full_name, json_kind(v));
    return 1;
  }
  size_t known = 0;
  /* Objects are mostly built in the schema's order (and decoded ones always are): the member
   * next in the object's own order is tried first, a hash lookup only when it is another one. */
  void *it = json_object_iter((json_t *)v);
  for (size_t i = 0; i < n->nfields; i++) {
    const struct field *f = &n->fields[i];
    const json_t *fv;
    if (it && strcmp(json_object_iter_key(it), f->name) == 0) {
      fv = json_object_iter_value(it);
      it = json_object_iter_next((json_t *)v, it);
    } else { /* elsewhere or absent: look it up, and go on in the object's order from there */
      it = json_object_iter_at((json_t *)v, f->name);
      fv = it ? json_object_iter_value(it) : NULL;
      if (it) it = json_object_iter_next((json_t *)v, it);
    }
    size_t old = path_push(p, f->name, f->namelen);
    int rc;
    if (fv) {
      known++;
      rc = encode(f->type, fv, o, p, err, errlen);
    } else if (f->dflt) {
      rc = encode(f->type, f->dflt, o, p, err, errlen);
    } else if (f->type->kind == K_UNION && f->type->null_branch >= 0) {
      put_long(o, f->type->null_branch);
      rc = 0;
    } else {
      perr(err, errlen, p, "missing field (no default)");
      rc = 1;
    }
    path_pop(p, old);
    if (rc) return rc;
  }
  if (known != json_object_size(v)) {
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
      size_t i = 0;
      while (i < n->nfields && strcmp(n->fields[i].name, key) != 0) i++;
      if (i == n->nfields) {
        perr(err, errlen, p, "unknown field \"%s\" (record %s)", key, n->full_name);
        return 1;
      }
    }
  }
  return 0;
}

static int encode_value(const struct node *n, const json_t *v, struct buf *o, struct path *p,
                        char *err, size_t errlen);

/* Values nest no deeper than the decoder accepts, so whatever encodes also decodes. */
static int encode(const struct node *n, const json_t *v, struct buf *o, struct path *p, char *err,
                  size_t errlen) {
  if (p->depth >= MAX_DEPTH) {
    perr(err, errlen, p, "values nested deeper than %d", MAX_DEPTH);
    return 1;
  }
  p->depth++;
  int rc = encode_value(n, v, o, p, err, errlen);
  p->depth--;
  return rc;
}

static int encode_value(const struct node *n, const json_t *v, struct buf *o, struct path *p,
                        char *err, size_t errlen) {
  switch (n->kind) {
  case K_NULL:
    if (!json_is_null(v)) goto mismatch;
    return 0;
  case K_BOOLEAN:
    if (!json_is_boolean(v)) goto mismatch;
    buf_append(o, json_is_true(v) ? "\1" : "\0", 1);
    return 0;
  case K_INT:
    if (!json_is_integer(v)) goto mismatch;
    if (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX) {
      perr(err, errlen, p, "%" JSON_INTEGER_FORMAT " is out of the int range",
           json_integer_value(v));
      return 1;
    }
    put_long(o, json_integer_value(v));
    return 0;
  case K_LONG:
    if (!json_is_integer(v)) goto mismatch;
    put_long(o, json_integer_value(v));
    return 0;
  case K_FLOAT: {
    if (!json_is_number(v)) goto mismatch;
    float f = (float)json_number_value(v);
    if (!isfinite(f)) {
      perr(err, errlen, p, "%g is out of the float range", json_number_value(v));
      return 1;
    }
    uint32_t u;
    memcpy(&u, &f, 4);
    unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                          (unsigned char)(u >> 24)};
    buf_append(o, b, 4);
    return 0;
  }
  case K_DOUBLE: {
    if (!json_is_number(v)) goto mismatch;
    double d = json_number_value(v);
    uint64_t u;
    memcpy(&u, &d, 8);
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(u >> (8 * i));
    buf_append(o, b, 8);
    return 0;
  }
  case K_STRING:
    if (!json_is_string(v)) goto mismatch;
    put_bytes(o, json_string_value(v), json_string_length(v));
    return 0;
  case K_BYTES:
  case K_FIXED: {
    if (!json_is_string(v)) goto mismatch;
    size_t len;
    unsigned char *raw = base64_decode(json_string_value(v), json_string_length(v), &len);
    if (!raw) {
      perr(err, errlen, p, "expected a base64 string");
      return 1;
    }
    if (n->kind == K_FIXED && len != n->size) {
      perr(err, errlen, p, "expected %zu bytes (fixed %s), got %zu", n->size, n->full_name, len);
      free(raw);
      return 1;
    }
    if (n->kind == K_BYTES)
      put_bytes(o, raw, len);
    else
      buf_append(o, raw, len);
    free(raw);
    return 0;
  }
  case K_ENUM:
    if (!json_is_string(v)) goto mismatch;
    for (size_t i = 0; i < n->nsymbols; i++)
      if (strcmp(n->symbols[i], json_string_value(v)) == 0) {
        put_long(o, (int64_t)i);
        return 0;
      }
    perr(err, errlen, p, "\"%s\" is not a symbol of enum %s", json_string_value(v), n->full_name);
    return 1;
  case K_ARRAY: {
    if (!json_is_array(v)) goto mismatch;
    size_t cnt = json_array_size(v);
    if (n->child->min_size == 0 && cnt > MAX_ZERO_SIZE_ITEMS) {
      perr(err, errlen, p, "more than %d items of a type that encodes to no bytes",
           MAX_ZERO_SIZE_ITEMS);
      return 1;
    }
    if (cnt) put_long(o, (int64_t)cnt);
    for (size_t i = 0; i < cnt; i++) {
      size_t old = path_index(p, i);
      int rc = encode(n->child, json_array_get(v, i), o, p, err, errlen);
      path_pop(p, old);
      if (rc) return rc;
    }
    put_long(o, 0);
    return 0;
  }
  case K_MAP: {
    if (!json_is_object(v)) goto mismatch;
    size_t cnt = json_object_size(v);
    if (cnt) put_long(o, (int64_t)cnt);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
      put_bytes(o, key, strlen(key));
      size_t old = path_push(p, key, strlen(key));
      int rc = encode(n->child, val, o, p, err, errlen);
      path_pop(p, old);
      if (rc) return rc;
    }
    put_long(o, 0);
    return 0;
  }
  case K_RECORD:
    return encode_record(n, v, o, p, err, errlen);
  case K_UNION:
    return encode_union(n, v, o, p, err, errlen);
  }
mismatch:
  perr(err, errlen, p, "expected %s, got %s",
       n->kind == K_BYTES || n->kind == K_FIXED ? "a base64 string"
       : n->kind == K_MAP                        ? "an object (map)"
       : n->kind == K_ENUM                       ? "a string (enum symbol)"
                                                 : codec_kind_names[n->kind],
       json_kind(v));
  return 1;
}

/* ---- decoding ---- */

struct reader {
  const unsigned char *p, *start, *end;
};

static int get_long(struct reader *r, int64_t *out, const struct path *p, char *err,
                    size_t errlen) {
  uint64_t z = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (r->p >= r->end) {
      perr(err, errlen, p, "truncated input (offset %zu)", (size_t)(r->p - r->start));
      return 1;
    }
    unsigned char b = *r->p++;
    if (shift == 63 && (b & 0x7e)) break; /* more than 64 bits */
    z |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
      return 0;
    }
  }
  perr(err, errlen, p, "corrupt varint (offset %zu)", (size_t)(r->p - r->start));
  return 1;
}

static int get_len(struct reader *r, size_t *out, const struct path *p, char *err,
                   size_t errlen) {
  int64_t len;
  if (get_long(r, &len, p, err, errlen)) return 1;
  if (len < 0 || (uint64_t)len > (uint64_t)(r->end - r->p)) {
    perr(err, errlen, p, "length %" PRId64 " exceeds the %zu bytes left (offset %zu)", len,
         (size_t)(r->end - r->p), (size_t)(r->p - r->start));
    return 1;
  }
  *out = (size_t)len;
  return 0;
}

static json_t *decode(const struct node *n, struct reader *r, struct path *p, char *err,
                      size_t errlen);

/* Array and map blocks: a count, negative when followed by the block's byte size. Counts are
 * bounded by what the remaining input can hold. */
static int get_block_count(const struct node *n, struct reader *r, size_t total, size_t *out,
                           const struct path *p, char *err, size_t errlen) {
  int64_t cnt;
  if (get_long(r, &cnt, p, err, errlen)) return 1;
  if (cnt < 0) {
    if (cnt == INT64_MIN) {
      perr(err, errlen, p, "corrupt block count (offset %zu)", (size_t)(r->p - r->start));
      return 1;
    }
    cnt = -cnt;
    size_t bytes;
    if (get_len(r, &bytes, p, err, errlen)) return 1;
  }
  size_t item = n->kind == K_MAP ? 1 + n->child->min_size : n->child->min_size;
  uint64_t limit = item ? (uint64_t)(r->end - r->p) / item : MAX_ZERO_SIZE_ITEMS;
  if ((uint64_t)cnt > limit || (uint64_t)cnt + total > (item ? SIZE_MAX : MAX_ZERO_SIZE_ITEMS)) {
    perr(err, errlen, p, "block count %" PRId64 " impossible with %zu bytes left (offset %zu)",
         cnt, (size_t)(r->end - r->p), (size_t)(r->p - r->start));
    return 1;
  }
  *out = (size_t)cnt;
  return 0;
}

static json_t *decode_value(const struct node *n, struct reader *r, struct path *p, char *err,
                            size_t errlen);

static json_t *decode(const struct node *n, struct reader *r, struct path *p, char *err,
                      size_t errlen) {
  if (p->depth >= MAX_DEPTH) {
    perr(err, errlen, p, "values nested deeper than %d", MAX_DEPTH);
    return NULL;
  }
  p->depth++;
  json_t *v = decode_value(n, r, p, err, errlen);
  p->depth--;
  return v;
}

static json_t *truncated(const struct reader *r, struct path *p, char *err, size_t errlen) {
  perr(err, errlen, p, "truncated input (offset %zu)", (size_t)(r->p - r->start));
  return NULL;
}

static json_t *decode_float(const struct node *n, struct reader *r, struct path *p, char *err,
                            size_t errlen) {
  size_t w = n->kind == K_FLOAT ? 4 : 8;
  if ((size_t)(r->end - r->p) < w) return truncated(r, p, err, errlen);
  double d = codec_le_real(r->p, w == 4);
  r->p += w;
  if (!isfinite(d)) {
    perr(err, errlen, p, "non-finite %s has no JSON form", codec_kind_names[n->kind]);
    return NULL;
  }
  return json_real(d);
}

static json_t *decode_bytes(const struct node *n, struct reader *r, struct path *p, char *err,
                            size_t errlen) {
  size_t len = n->size;
  if (n->kind == K_BYTES) {
    if (get_len(r, &len, p, err, errlen)) return NULL;
  } else if ((size_t)(r->end - r->p) < len) {
    return truncated(r, p, err, errlen);
  }
  size_t blen;
  char *b = base64_encode(r->p, len, &blen);
  r->p += len;
  json_t *s = json_stringn_nocheck(b, blen);
  free(b);
  return s;
}

static json_t *decode_union(const struct node *n, struct reader *r, struct path *p, char *err,
                            size_t errlen) {
  int64_t i;
  if (get_long(r, &i, p, err, errlen)) return NULL;
  if (i < 0 || (uint64_t)i >= n->nbranches) {
    perr(err, errlen, p, "union index %" PRId64 " out of range (offset %zu)", i,
         (size_t)(r->p - r->start));
    return NULL;
  }
  const struct node *b = n->branches[i];
  if (b->kind == K_NULL) return json_null();
  if (n->nullable_pair) return decode(b, r, p, err, errlen);
  size_t old = path_push(p, codec_branch_name(b), strlen(codec_branch_name(b)));
  json_t *v = decode(b, r, p, err, errlen);
  path_pop(p, old);
  if (!v) return NULL;
  json_t *u = json_object();
  json_object_set_new_nocheck(u, codec_branch_name(b), v);
  return u;
}

static json_t *decode_record(const struct node *n, struct reader *r, struct path *p, char *err,
                             size_t errlen) {
  json_t *obj = json_object();
  for (size_t i = 0; i < n->nfields; i++) {
    size_t old = path_push(p, n->fields[i].name, n->fields[i].namelen);
    json_t *v = decode(n->fields[i].type, r, p, err, errlen);
    path_pop(p, old);
    if (!v) {
      json_decref(obj);
      return NULL;
    }
    json_object_set_new_nocheck(obj, n->fields[i].name, v);
  }
  return obj;
}

static json_t *decode_collection(const struct node *n, struct reader *r, struct path *p, char *err,
                                 size_t errlen) {
  json_t *out = n->kind == K_ARRAY ? json_array() : json_object();
  size_t total = 0;
  for (;;) {
    size_t cnt;
    if (get_block_count(n, r, total, &cnt, p, err, errlen)) goto fail;
    if (!cnt) break;
    for (size_t i = 0; i < cnt; i++, total++) {
      size_t old;
      json_t *key = NULL;
      if (n->kind == K_ARRAY) {
        old = path_index(p, total);
      } else {
        size_t klen;
        if (get_len(r, &klen, p, err, errlen)) goto fail;
        key = json_stringn((const char *)r->p, klen);
        if (!key || memchr(r->p, 0, klen)) {
          json_decref(key);
          perr(err, errlen, p, "map key is not valid UTF-8 (offset %zu)",
               (size_t)(r->p - r->start));
          goto fail;
        }
        r->p += klen;
        old = path_push(p, json_string_value(key), klen);
      }
      json_t *v = decode(n->child, r, p, err, errlen);
      path_pop(p, old);
      if (!v) {
        json_decref(key);
        goto fail;
      }
      if (key) {
        json_object_set_new(out, json_string_value(key), v);
        json_decref(key);
      } else {
        json_array_append_new(out, v);
      }
    }
  }
  return out;
fail:
  json_decref(out);
  return NULL;
}

static json_t *decode_value(const struct node *n, struct reader *r, struct path *p, char *err,
                            size_t errlen) {
  switch (n->kind) {
  case K_NULL:
    return json_null();
  case K_BOOLEAN:
    if (r->p >= r->end) return truncated(r, p, err, errlen);
    if (*r->p > 1) {
      perr(err, errlen, p, "invalid boolean byte 0x%02x (offset %zu)", *r->p,
           (size_t)(r->p - r->start));
      return NULL;
    }
    return json_boolean(*r->p++);
  case K_INT:
  case K_LONG: {
    int64_t v;
    if (get_long(r, &v, p, err, errlen)) return NULL;
    if (n->kind == K_INT && (v < INT32_MIN || v > INT32_MAX)) {
      perr(err, errlen, p, "int out of range (offset %zu)", (size_t)(r->p - r->start));
      return NULL;
    }
    return json_integer(v);
  }
  case K_FLOAT:
  case K_DOUBLE:
    return decode_float(n, r, p, err, errlen);
  case K_STRING: {
    size_t len;
    if (get_len(r, &len, p, err, errlen)) return NULL;
    json_t *s = json_stringn((const char *)r->p, len);
    if (!s) {
      perr(err, errlen, p, "string is not valid UTF-8 (offset %zu)", (size_t)(r->p - r->start));
      return NULL;
    }
    r->p += len;
    return s;
  }
  case K_BYTES:
  case K_FIXED:
    return decode_bytes(n, r, p, err, errlen);
  case K_ENUM: {
    int64_t i;
    if (get_long(r, &i, p, err, errlen)) return NULL;
    if (i < 0 || (uint64_t)i >= n->nsymbols) {
      perr(err, errlen, p, "enum index %" PRId64 " out of range for %s", i, n->full_name);
      return NULL;
    }
    return json_string(n->symbols[i]);
  }
  case K_UNION:
    return decode_union(n, r, p, err, errlen);
  case K_RECORD:
    return decode_record(n, r, p, err, errlen);
  case K_ARRAY:
  case K_MAP:
    return decode_collection(n, r, p, err, errlen);
  }
  return NULL;
}

/* ---- defaults ---- */

/* Converts a default as written in a schema (Avro's JSON encoding, a union's default being a
 * value of its first branch, bytes as code points 0-255) to Barge's convention. */
static json_t *convert_default(const struct node *n, json_t *d, struct path *p, int depth,
                               char *err, size_t errlen) {
  if (depth > 200) {
    perr(err, errlen, p, "default nested too deeply");
    return NULL;
  }
  switch (n->kind) {
  case K_NULL: case K_BOOLEAN: case K_INT: case K_LONG: case K_FLOAT: case K_DOUBLE:
  case K_STRING: case K_ENUM:
    return json_incref(d); /* checked by encoding it afterwards */
  case K_BYTES:
  case K_FIXED: {
    if (!json_is_string(d)) break;
    const unsigned char *s = (const unsigned char *)json_string_value(d);
    size_t n8 = json_string_length(d), len = 0;
    unsigned char *raw = xmalloc(n8 + 1);
    for (size_t i = 0; i < n8;) {
      unsigned cp = s[i];
      if (cp < 0x80) {
        i++;
      } else if ((cp & 0xe0) == 0xc0 && i + 1 < n8) {
        cp = ((cp & 0x1f) << 6) | (s[i + 1] & 0x3f);
        i += 2;
      } else {
        cp = 0x100;
        i = n8;
      }
      if (cp > 0xff) {
        free(raw);
        perr(err, errlen, p, "bytes default has a code point above 255");
        return NULL;
      }
      raw[len++] = (unsigned char)cp;
    }
    size_t blen;
    char *b = base64_encode(raw, len, &blen);
    free(raw);
    json_t *out = json_stringn(b, blen);
    free(b);
    return out;
  }
  case K_ARRAY: {
    if (!json_is_array(d)) break;
    json_t *out = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(d, i, x) {
      json_t *c = convert_default(n->child, x, p, depth + 1, err, errlen);
      if (!c) {
        json_decref(out);
        return NULL;
      }
      json_array_append_new(out, c);
    }
    return out;
  }
  case K_MAP: {
    if (!json_is_object(d)) break;
    json_t *out = json_object();
    const char *k;
    json_t *x;
    json_object_foreach(d, k, x) {
      json_t *c = convert_default(n->child, x, p, depth + 1, err, errlen);
      if (!c) {
        json_decref(out);
        return NULL;
      }
      json_object_set_new(out, k, c);
    }
    return out;
  }
  case K_RECORD: {
    if (!json_is_object(d)) break;
    json_t *out = json_object();
    for (size_t i = 0; i < n->nfields; i++) {
      json_t *x = json_object_get(d, n->fields[i].name);
      if (!x) x = n->fields[i].avro_default;
      if (!x) continue; /* reported when the result is encoded */
      json_t *c = convert_default(n->fields[i].type, x, p, depth + 1, err, errlen);
      if (!c) {
        json_decref(out);
        return NULL;
      }
      json_object_set_new(out, n->fields[i].name, c);
    }
    return out;
  }
  case K_UNION: {
    if (!n->nbranches) break;
    /* The default is a value of the first branch (Avro specification). */
    const struct node *b = n->branches[0];
    if (b->kind == K_NULL) {
      if (json_is_null(d)) return json_null();
      perr(err, errlen, p, "a union's default must be of its first branch (null here)");
      return NULL;
    }
    json_t *c = convert_default(b, d, p, depth + 1, err, errlen);
    if (!c || n->nullable_pair) return c;
    json_t *u = json_object();
    json_object_set_new(u, codec_branch_name(b), c);
    return u;
  }
  }
  perr(err, errlen, p, "default is %s, which does not fit type %s", json_kind(d),
       codec_kind_names[n->kind]);
  return NULL;
}

/* Converts every field default of the tree and checks it encodes; each record once. */
static int prepare_defaults(struct node *n, struct names *done, struct path *p, char *err,
                            size_t errlen) {
  switch (n->kind) {
  case K_NULL: case K_BOOLEAN: case K_INT: case K_LONG: case K_FLOAT: case K_DOUBLE: case K_BYTES:
  case K_STRING: case K_ENUM: case K_FIXED:
    return 0;
  case K_ARRAY:
  case K_MAP:
    return prepare_defaults(n->child, done, p, err, errlen);
  case K_UNION:
    for (size_t i = 0; i < n->nbranches; i++)
      if (prepare_defaults(n->branches[i], done, p, err, errlen)) return 1;
    return 0;
  case K_RECORD:
    break;
  }
  if (codec_names_find(done, n->full_name)) return 0;
  codec_names_add(done, n);
  for (size_t i = 0; i < n->nfields; i++) {
    struct field *f = &n->fields[i];
    size_t old = path_push(p, f->name, f->namelen);
    if (prepare_defaults(f->type, done, p, err, errlen)) return 1;
    if (f->avro_default && !f->dflt) {
      f->dflt = convert_default(f->type, f->avro_default, p, 0, err, errlen);
      if (!f->dflt) return 1;
      struct buf scratch;
      buf_init(&scratch);
      char why[256];
      struct path sub = {.s = "", .len = 0};
      int rc = encode(f->type, f->dflt, &scratch, &sub, why, sizeof why);
      buf_release(&scratch);
      if (rc) {
        perr(err, errlen, p, "invalid default: %s", why);
        return 1;
      }
    }
    path_pop(p, old);
  }
  return 0;
}

/* ---- the API ---- */

static int init_tables(char *err, size_t errlen);

int codec_init(char *err, size_t errlen) {
  if (atomic_load_explicit(&initialized, memory_order_acquire)) return 0;
  pthread_mutex_lock(&init_lock);
  int rc = atomic_load_explicit(&initialized, memory_order_relaxed) ? 0 : init_tables(err, errlen);
  if (!rc) atomic_store_explicit(&initialized, 1, memory_order_release);
  pthread_mutex_unlock(&init_lock);
  return rc;
}

/* codec_init's work, under init_lock. */
static int init_tables(char *err, size_t errlen) {
  static unsigned mark;
  for (int t = 0; t < BARGE_EV__COUNT; t++) {
    const char *text = barge_schema_json[t];
    avro_schema_t as;
    if (avro_schema_from_json_length(text, strlen(text), &as) != 0) {
      seterr(err, errlen, "schema %s: Avro rejects it: %s", barge_schema_name[t], avro_strerror());
      return 1;
    }
    avro_schema_decref(as);
    json_error_t je;
    json_t *js = json_loads(text, JSON_ALLOW_NUL, &je);
    if (!js) {
      seterr(err, errlen, "schema %s: %s", barge_schema_name[t], je.text);
      return 1;
    }
    struct names nm = {0};
    char why[256] = "";
    struct node *root = codec_parse(js, "", &nm, 0, why, sizeof why);
    if (root && (root->kind != K_RECORD || strcmp(root->full_name, barge_schema_name[t]) != 0)) {
      snprintf(why, sizeof why, "the top level is not the record %s", barge_schema_name[t]);
      root = NULL;
    }
    struct names done = {0};
    struct path p = {.s = "", .len = 0};
    if (root && prepare_defaults(root, &done, &p, why, sizeof why)) root = NULL;
    json_decref(js);
    free(nm.v);
    free(done.v);
    if (!root) {
      seterr(err, errlen, "schema %s: %s", barge_schema_name[t], why);
      return 1;
    }
    codec_min_size(root);
    struct buf c;
    buf_init(&c);
    codec_canon(&c, root, ++mark);
    types[t].root = root;
    types[t].canonical = (char *)c.data; /* kept for the life of the process */
    types[t].fp = codec_crc64_avro(c.data, c.len);
    for (int u = 0; u < t; u++)
      if (types[u].fp == types[t].fp) {
        seterr(err, errlen, "schemas %s and %s have the same fingerprint", barge_schema_name[u],
               barge_schema_name[t]);
        return 1;
      }
  }
  return 0;
}

static int valid_type(enum barge_ev_type t) {
  return (int)t >= 0 && (int)t < BARGE_EV__COUNT;
}

const char *codec_type_name(enum barge_ev_type t) {
  return valid_type(t) ? barge_schema_name[t] : NULL;
}

const char *codec_schema_json(enum barge_ev_type t) {
  return valid_type(t) ? barge_schema_json[t] : NULL;
}

const char *codec_canonical_form(enum barge_ev_type t) {
  return valid_type(t) ? types[t].canonical : NULL;
}

int codec_canonical_form_of(const char *schema_json, struct buf *out, char *err, size_t errlen) {
  json_error_t je;
  json_t *js = json_loads(schema_json, JSON_DECODE_ANY, &je);
  if (!js) {
    seterr(err, errlen, "schema is not JSON: %s", je.text);
    return -1;
  }
  struct names nm = {.keep_all = 1};
  struct node *root = codec_parse(js, "", &nm, 0, err, errlen);
  json_decref(js);
  if (root) codec_canon(out, root, 1); /* fresh nodes: any non-zero mark */
  codec_names_free_all(&nm);
  return root ? 0 : -1;
}

uint64_t codec_fingerprint(enum barge_ev_type t) {
  return valid_type(t) ? types[t].fp : 0;
}

int codec_type_by_name(const char *name) {
  if (!name) return -1;
  for (int t = 0; t < BARGE_EV__COUNT; t++) {
    const char *full = barge_schema_name[t], *dot = strrchr(full, '.');
    if (strcmp(full, name) == 0 || (dot && strcmp(dot + 1, name) == 0)) return t;
  }
  return -1;
}

struct codec_ids {
  _Atomic int32_t id[BARGE_EV__COUNT];
  _Atomic(codec_id_resolver) fn;
  void *_Atomic ctx;
};

static struct codec_ids process_ids; /* the process's table */

struct codec_ids *codec_ids_new(codec_id_resolver fn, void *ctx) {
  struct codec_ids *ids = xcalloc(1, sizeof *ids);
  atomic_store(&ids->ctx, ctx);
  atomic_store(&ids->fn, fn);
  return ids;
}

void codec_ids_free(struct codec_ids *ids) {
  if (ids != &process_ids) free(ids);
}

void codec_ids_set(struct codec_ids *ids, enum barge_ev_type t, int32_t id) {
  if (valid_type(t)) atomic_store(&(ids ? ids : &process_ids)->id[t], id);
}

int32_t codec_ids_get(const struct codec_ids *ids, enum barge_ev_type t) {
  return valid_type(t) ? atomic_load(&(ids ? ids : &process_ids)->id[t]) : 0;
}

void codec_set_schema_id(enum barge_ev_type t, int32_t id) { codec_ids_set(&process_ids, t, id); }

int32_t codec_schema_id(enum barge_ev_type t) { return codec_ids_get(&process_ids, t); }

void codec_set_id_resolver(codec_id_resolver fn, void *ctx) {
  /* set once per process in practice (lib/registry.c): a decode during a change could pair the
   * old fn with the new ctx, so it is taken away first */
  atomic_store(&process_ids.fn, NULL);
  atomic_store(&process_ids.ctx, ctx);
  atomic_store(&process_ids.fn, fn);
}

static void put_frame(const struct codec_ids *ids, enum barge_ev_type t, struct buf *out) {
  int32_t id = atomic_load(&ids->id[t]);
  if (id > 0) {
    unsigned char h[5] = {0, (unsigned char)((uint32_t)id >> 24), (unsigned char)(id >> 16),
                          (unsigned char)(id >> 8), (unsigned char)id};
    buf_append(out, h, 5);
  } else {
    unsigned char h[10] = {0xc3, 0x01};
    for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)(types[t].fp >> (8 * i));
    buf_append(out, h, 10);
  }
}

void codec_put_frame(enum barge_ev_type t, struct buf *out) { put_frame(&process_ids, t, out); }

void codec_put_long(struct buf *out, int64_t v) { put_long(out, v); }
void codec_put_str(struct buf *out, const char *s) { put_bytes(out, s, strlen(s)); }
void codec_put_opt_str(struct buf *out, const char *s) {
  put_long(out, s != NULL);
  if (s) put_bytes(out, s, strlen(s));
}
void codec_put_opt_long(struct buf *out, int has, int64_t v) {
  put_long(out, has != 0);
  if (has) put_long(out, v);
}

const struct codec_node *codec_node_at(enum barge_ev_type t, const char *path) {
  if (!initialized || !valid_type(t)) return NULL;
  const struct node *n = types[t].root;
  while (n && *path) {
    size_t len = strcspn(path, ".");
    if (n->kind == K_UNION && n->nullable_pair) n = n->branches[1 - n->null_branch]; /* step through */
    if (n->kind != K_RECORD) return NULL;
    const struct node *next = NULL;
    for (size_t i = 0; i < n->nfields && !next; i++)
      if (n->fields[i].namelen == len && !memcmp(n->fields[i].name, path, len)) next = n->fields[i].type;
    n = next;
    path += len + (path[len] == '.');
  }
  return (const struct codec_node *)n;
}

int codec_put_json(const struct codec_node *node, const json_t *v, struct buf *out, char *err, size_t errlen) {
  struct path p = {.s = "", .len = 0};
  return encode((const struct node *)node, v, out, &p, err, errlen);
}

int codec_encode(enum barge_ev_type t, const json_t *v, struct buf *out, char *err,
                 size_t errlen) {
  return codec_encode_ids(NULL, t, v, out, err, errlen);
}

int codec_encode_ids(const struct codec_ids *ids, enum barge_ev_type t, const json_t *v, struct buf *out,
                     char *err, size_t errlen) {
  if (!initialized || !valid_type(t)) {
    seterr(err, errlen, initialized ? "unknown event type %d" : "codec_init was not called",
           (int)t);
    return 1;
  }
  size_t start = out->len;
  put_frame(ids ? ids : &process_ids, t, out);
  struct path p = {.s = "", .len = 0};
  if (encode(types[t].root, v, out, &p, err, errlen)) {
    out->len = start; /* nothing half-written stays behind */
    if (out->data) out->data[start] = 0;
    return 1;
  }
  return 0;
}

int codec_frame(const struct codec_ids *ids, const void *data, size_t len, enum barge_ev_type *type_out,
                size_t *hdr_out, char *err, size_t errlen) {
  const unsigned char *d = data;
  if (!ids) ids = &process_ids;
  if (!initialized) {
    seterr(err, errlen, "codec_init was not called");
    return 1;
  }
  if (!d || len == 0) {
    seterr(err, errlen, "empty message");
    return 1;
  }
  int t = -1;
  size_t hdr;
  if (d[0] == 0xc3) {
    if (len < 10) {
      seterr(err, errlen, "truncated single-object header (%zu bytes)", len);
      return 1;
    }
    if (d[1] != 0x01) {
      seterr(err, errlen, "bad single-object magic C3 %02X (expected C3 01)", d[1]);
      return 1;
    }
    uint64_t fp = 0;
    for (int i = 0; i < 8; i++) fp |= (uint64_t)d[2 + i] << (8 * i);
    for (int u = 0; u < BARGE_EV__COUNT && t < 0; u++)
      if (types[u].fp == fp) t = u;
    if (t < 0) {
      /* a pipeline's own copy of a schema, with a field added say, has another fingerprint:
       * say so, as a bare number did not */
      seterr(err, errlen,
             "unknown schema fingerprint %016" PRIx64 ": none of this build's event schemas (a record written "
             "with another version of a schema cannot be decoded: Barge does not resolve schemas)",
             fp);
      return 1;
    }
    hdr = 10;
  } else if (d[0] == 0x00) {
    if (len < 5) {
      seterr(err, errlen, "truncated Confluent header (%zu bytes)", len);
      return 1;
    }
    int32_t id =
        (int32_t)((uint32_t)d[1] << 24 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 8 | d[4]);
    for (int u = 0; u < BARGE_EV__COUNT && t < 0; u++)
      if (id > 0 && atomic_load(&ids->id[u]) == id) t = u;
    codec_id_resolver resolve = atomic_load(&ids->fn);
    if (t < 0 && id > 0 && resolve) {
      char why[256] = "";
      t = resolve(atomic_load(&ids->ctx), id, why, sizeof why);
      if (!valid_type((enum barge_ev_type)t)) {
        seterr(err, errlen, "unknown schema id %" PRId32 ": %s", id, why);
        return t == CODEC_ID_UNAVAILABLE ? 2 : 1;
      }
    }
    if (t < 0) {
      seterr(err, errlen, "unknown schema id %" PRId32 "%s", id,
             resolve ? "" : " (no schema registry configured: BARGE_SCHEMA_REGISTRY_URL)");
      return 1;
    }
    hdr = 5;
  } else {
    seterr(err, errlen, "unknown framing: first byte 0x%02x (expected C3 01 or 00)", d[0]);
    return 1;
  }
  *type_out = (enum barge_ev_type)t;
  *hdr_out = hdr;
  return 0;
}

const struct node *codec_root(enum barge_ev_type t) { return valid_type(t) ? types[t].root : NULL; }

int codec_decode(const void *data, size_t len, enum barge_ev_type *type_out, json_t **out,
                 char *err, size_t errlen) {
  return codec_decode_ids(NULL, data, len, type_out, out, err, errlen);
}

int codec_decode_ids(const struct codec_ids *ids, const void *data, size_t len, enum barge_ev_type *type_out,
                     json_t **out, char *err, size_t errlen) {
  *out = NULL;
  const unsigned char *d = data;
  enum barge_ev_type t;
  size_t hdr;
  int fr = codec_frame(ids, data, len, &t, &hdr, err, errlen);
  if (fr) return fr;
  struct reader r = {d + hdr, d + hdr, d + len};
  struct path p = {.s = "", .len = 0};
  char why[512];
  json_t *v = decode(types[t].root, &r, &p, why, sizeof why);
  if (v && r.p != r.end) {
    snprintf(why, sizeof why, "%zu trailing bytes after the body", (size_t)(r.end - r.p));
    json_decref(v);
    v = NULL;
  }
  if (!v) {
    seterr(err, errlen, "%s: %s", barge_schema_name[t], why);
    return 1;
  }
  *type_out = t;
  *out = v;
  return 0;
}
