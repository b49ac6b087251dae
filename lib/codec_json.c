/* codec_json.c: an event's bytes rendered straight to compact JSON text, without building the
 * jansson tree (codec.h has the contract). The text is byte for byte what
 * json_dumps(v, JSON_COMPACT) gives for v = codec_decode's value with its null members removed
 * (as bus_decode delivers events): members in schema order, map entries in wire order, strings
 * escaped as jansson escapes them (\" \\ \b \f \n \r \t, other control characters as \u00XX
 * with capital hex digits, everything else as it is), reals formatted by jansson itself.
 *
 * It is a fast path beside codec_decode, never a second opinion: it accepts only what
 * codec_decode accepts (the same bounds on every length, count, index and nesting, the same
 * UTF-8 rule as jansson), and it gives up (returns 1) on anything it does not render exactly the
 * same way, a map naming a key twice included. The caller then uses codec_decode, which gives the
 * verdict and the error message. tests/unit/test_codec_json.c compares both on every schema. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_int.h"

#define JS_DEPTH 64                /* codec.c's MAX_DEPTH: the same nesting */
#define JS_ZERO_SIZE_ITEMS (1 << 16) /* codec.c's MAX_ZERO_SIZE_ITEMS */
#define JS_MAP_KEYS 64             /* keys checked for repeats; a bigger map takes the slow path */

struct jr {
  const unsigned char *p, *end;
  struct buf *o;
  int depth;
};

/* A zig-zag varint, as codec.c's get_long (more than 64 bits is corrupt). */
static int jr_long(struct jr *r, int64_t *out) {
  uint64_t z = 0;
  for (int shift = 0; shift < 70 && r->p < r->end; shift += 7) {
    unsigned char b = *r->p++;
    if (shift == 63 && (b & 0x7e)) return 1;
    z |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
      return 0;
    }
  }
  return 1;
}

static int jr_len(struct jr *r, size_t *out) {
  int64_t len;
  if (jr_long(r, &len) || len < 0 || (uint64_t)len > (uint64_t)(r->end - r->p)) return 1;
  *out = (size_t)len;
  return 0;
}

static void put_raw(struct buf *o, const char *s, size_t n) { buf_append(o, s, n); }

static void put_int(struct buf *o, int64_t v) {
  char tmp[24], *e = tmp + sizeof tmp, *q = e;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    *--q = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *--q = '-';
  buf_append(o, q, (size_t)(e - q));
}

/* The length of the UTF-8 sequence at s (n bytes left) as jansson accepts it (no overlong
 * form, no surrogate, nothing above U+10FFFF); 0 when it is not valid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  uint32_t v;
  if (c < 0xc2 || c > 0xf4) return 0; /* a continuation byte, an overlong lead, beyond U+10FFFF */
  if (c < 0xe0) len = 2, v = c & 0x1f;
  else if (c < 0xf0) len = 3, v = c & 0x0f;
  else len = 4, v = c & 0x07;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3f);
  }
  if ((len == 3 && v < 0x800) || (len == 4 && v < 0x10000) || v > 0x10ffff ||
      (v >= 0xd800 && v <= 0xdfff))
    return 0;
  return len;
}

int codec_json_string(struct buf *o, const void *data, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char *s = data, *end = s + n, *run = s;
  size_t start = o->len;
  buf_append(o, "\"", 1);
  while (s < end) {
    unsigned c = *s;
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      s++;
      continue;
    }
    if (c >= 0x80) {
      size_t k = utf8_seq(s, (size_t)(end - s));
      if (!k) {
        o->len = start;
        if (o->data) o->data[start] = 0;
        return 1;
      }
      s += k;
      continue;
    }
    buf_append(o, run, (size_t)(s - run));
    char esc[6] = {'\\', 0};
    size_t el = 2;
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      el = 6;
    }
    buf_append(o, esc, el);
    run = ++s;
  }
  buf_append(o, run, (size_t)(s - run));
  buf_append(o, "\"", 1);
  return 0;
}

/* A real as jansson writes it (its own formatting, so the digits are the same). */
static int put_real(struct buf *o, double d) {
  json_t *x = json_real(d);
  char tmp[64];
  size_t n = x ? json_dumpb(x, tmp, sizeof tmp, JSON_ENCODE_ANY | JSON_COMPACT) : 0;
  json_decref(x);
  if (n == 0 || n > sizeof tmp) return 1;
  buf_append(o, tmp, n);
  return 0;
}

static int render(const struct node *n, struct jr *r, int *is_null);

/* Array and map blocks, bounded as codec.c's get_block_count. */
static int block_count(const struct node *n, struct jr *r, size_t total, size_t *out) {
  int64_t cnt;
  if (jr_long(r, &cnt)) return 1;
  if (cnt < 0) {
    size_t bytes;
    if (cnt == INT64_MIN || jr_len(r, &bytes)) return 1;
    cnt = -cnt;
  }
  size_t item = n->kind == K_MAP ? 1 + n->child->min_size : n->child->min_size;
  uint64_t limit = item ? (uint64_t)(r->end - r->p) / item : JS_ZERO_SIZE_ITEMS;
  if ((uint64_t)cnt > limit || (uint64_t)cnt + total > (item ? SIZE_MAX : JS_ZERO_SIZE_ITEMS))
    return 1;
  *out = (size_t)cnt;
  return 0;
}

/* A map key: valid UTF-8 without NUL, and not one of the keys before it (jansson would keep the
 * first one's place with the last one's value: left to the slow path). */
static int map_key(struct jr *r, const unsigned char **keys, size_t *klens, size_t nkeys,
                   size_t klen) {
  const unsigned char *k = r->p;
  if (memchr(k, 0, klen) || nkeys >= JS_MAP_KEYS) return 1;
  for (size_t i = 0; i < nkeys; i++)
    if (klens[i] == klen && memcmp(keys[i], k, klen) == 0) return 1;
  keys[nkeys] = k;
  klens[nkeys] = klen;
  r->p += klen;
  return codec_json_string(r->o, k, klen);
}

static int render_collection(const struct node *n, struct jr *r) {
  int map = n->kind == K_MAP, first = 1;
  const unsigned char *keys[JS_MAP_KEYS];
  size_t klens[JS_MAP_KEYS], total = 0;
  buf_append(r->o, map ? "{" : "[", 1);
  for (;;) {
    size_t cnt;
    if (block_count(n, r, total, &cnt)) return 1;
    if (!cnt) break;
    for (size_t i = 0; i < cnt; i++, total++) {
      size_t mark = r->o->len;
      if (!first) buf_append(r->o, ",", 1);
      int is_null = 0;
      if (map) {
        size_t klen;
        if (jr_len(r, &klen) || map_key(r, keys, klens, total, klen)) return 1;
        buf_append(r->o, ":", 1);
      }
      if (render(n->child, r, &is_null)) return 1;
      if (map && is_null) r->o->len = mark; /* null members are dropped, null items kept */
      else first = 0;
    }
  }
  buf_append(r->o, map ? "}" : "]", 1);
  return 0;
}

static int render_record(const struct node *n, struct jr *r) {
  int first = 1;
  buf_append(r->o, "{", 1);
  for (size_t i = 0; i < n->nfields; i++) {
    size_t mark = r->o->len;
    if (!first) buf_append(r->o, ",", 1);
    if (codec_json_string(r->o, n->fields[i].name, n->fields[i].namelen)) return 1;
    buf_append(r->o, ":", 1);
    int is_null = 0;
    if (render(n->fields[i].type, r, &is_null)) return 1;
    if (is_null) r->o->len = mark;
    else first = 0;
  }
  buf_append(r->o, "}", 1);
  return 0;
}

static int render_union(const struct node *n, struct jr *r, int *is_null) {
  int64_t i;
  if (jr_long(r, &i) || i < 0 || (uint64_t)i >= n->nbranches) return 1;
  const struct node *b = n->branches[i];
  if (b->kind == K_NULL) {
    put_raw(r->o, "null", 4);
    *is_null = 1;
    return 0;
  }
  if (n->nullable_pair) return render(b, r, is_null);
  buf_append(r->o, "{", 1);
  if (codec_json_string(r->o, codec_branch_name(b), strlen(codec_branch_name(b)))) return 1;
  buf_append(r->o, ":", 1);
  int inner_null = 0;
  if (render(b, r, &inner_null) || inner_null) return 1;
  buf_append(r->o, "}", 1);
  return 0;
}

static int render_scalar(const struct node *n, struct jr *r) {
  switch (n->kind) {
  case K_BOOLEAN:
    if (r->p >= r->end || *r->p > 1) return 1;
    if (*r->p++) put_raw(r->o, "true", 4);
    else put_raw(r->o, "false", 5);
    return 0;
  case K_INT:
  case K_LONG: {
    int64_t v;
    if (jr_long(r, &v) || (n->kind == K_INT && (v < INT32_MIN || v > INT32_MAX))) return 1;
    put_int(r->o, v);
    return 0;
  }
  case K_FLOAT:
  case K_DOUBLE: {
    size_t w = n->kind == K_FLOAT ? 4 : 8;
    if ((size_t)(r->end - r->p) < w) return 1;
    double d = codec_le_real(r->p, w == 4);
    r->p += w;
    return !isfinite(d) || put_real(r->o, d);
  }
  case K_STRING: {
    size_t len;
    if (jr_len(r, &len) || codec_json_string(r->o, r->p, len)) return 1;
    r->p += len;
    return 0;
  }
  case K_BYTES:
  case K_FIXED: {
    size_t len = n->size, blen;
    if (n->kind == K_BYTES ? jr_len(r, &len) : (size_t)(r->end - r->p) < len) return 1;
    char *b = base64_encode(r->p, len, &blen);
    r->p += len;
    buf_append(r->o, "\"", 1);
    buf_append(r->o, b, blen); /* the base64 alphabet needs no escape */
    buf_append(r->o, "\"", 1);
    free(b);
    return 0;
  }
  case K_ENUM: {
    int64_t i;
    if (jr_long(r, &i) || i < 0 || (uint64_t)i >= n->nsymbols) return 1;
    return codec_json_string(r->o, n->symbols[i], strlen(n->symbols[i]));
  }
  default:
    return 1;
  }
}

/* Renders one value; *is_null says it was a null (which an object then drops). 0, or 1 to give
 * up (the output then holds a partial rendering the caller discards). */
static int render(const struct node *n, struct jr *r, int *is_null) {
  if (r->depth >= JS_DEPTH) return 1;
  r->depth++;
  int rc;
  switch (n->kind) {
  case K_NULL:
    put_raw(r->o, "null", 4);
    *is_null = 1;
    rc = 0;
    break;
  case K_RECORD: rc = render_record(n, r); break;
  case K_UNION: rc = render_union(n, r, is_null); break;
  case K_ARRAY:
  case K_MAP: rc = render_collection(n, r); break;
  default: rc = render_scalar(n, r);
  }
  r->depth--;
  return rc;
}

int codec_render_json(const void *data, size_t len, enum barge_ev_type *type_out,
                      struct buf *out) {
  enum barge_ev_type t;
  size_t hdr;
  char why[256];
  if (codec_frame(NULL, data, len, &t, &hdr, why, sizeof why)) return 1;
  const unsigned char *d = data;
  size_t start = out->len;
  struct jr r = {.p = d + hdr, .end = d + len, .o = out};
  int is_null = 0;
  if (render(codec_root(t), &r, &is_null) || r.p != r.end) {
    out->len = start; /* nothing half-written stays behind */
    if (out->data) out->data[start] = 0;
    return 1;
  }
  *type_out = t;
  return 0;
}
