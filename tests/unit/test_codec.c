/* test_codec.c: the event codec (lib/codec.c) over whatever schemas/NAME.avsc holds.
 *
 * For every event type a sample generator walks the embedded schema and fills every field,
 * taking each union branch in turn (sample k takes branch k mod n of every union), so every
 * branch of every union, the body unions included, is encoded and decoded at least once.
 * Checked: round trips in both framings; defaults of omitted fields; encode errors name the
 * bad field's path; fingerprints and canonical forms; garbage, truncated and mutated frames
 * fail cleanly (the fuzz part; run it under -DBARGE_SANITIZE=ON too); concurrent use; and
 * interop with fastavro: the samples are written to a temporary folder and
 * tests/unit/codec_interop.py checks them with an independent Avro implementation.
 *
 *   test_codec              everything
 *   test_codec --dump DIR   only write the interop files into DIR */
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <unistd.h>

#include "check.h"
#include "codec.h"

/* ---- a sample generator walking a schema's JSON ---- */

struct gen {
  json_t *names; /* full name -> definition (borrowed from the schema) */
  int k;         /* sample index: which union branch, which variant of each value */
  int omit_defaults;
  size_t max_union;
  /* The most deeply nested string field met, for the encode-error check. */
  int leaf_depth;
  json_t *leaf_parent;
  char leaf_key[128], leaf_path[256];
};

static const char *const prims[] = {"null", "boolean", "int",   "long",
                                    "float", "double", "bytes", "string"};

static int is_prim(const char *s) {
  for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
    if (strcmp(s, prims[i]) == 0) return 1;
  return 0;
}

static void full_name(char *out, size_t n, const char *name, const char *ns) {
  if (strchr(name, '.') || !ns || !*ns)
    snprintf(out, n, "%s", name);
  else
    snprintf(out, n, "%s.%s", ns, name);
}

/* The namespace a definition establishes for the names inside it. */
static void def_ns(char *out, size_t n, json_t *def, const char *ns) {
  const char *name = json_string_value(json_object_get(def, "name"));
  const char *own = json_string_value(json_object_get(def, "namespace"));
  char full[256];
  full_name(full, sizeof full, name, own ? own : ns);
  char *dot = strrchr(full, '.');
  if (dot) *dot = 0;
  snprintf(out, n, "%s", dot ? full : "");
}

/* Resolves references and {"type": ...} wrappers down to a definition; registers named
 * definitions it passes. *ns_io becomes the namespace of the returned schema's context. */
static json_t *resolve(struct gen *g, json_t *s, char *ns_io, size_t nslen) {
  for (int guard = 0; guard < 100; guard++) {
    if (json_is_string(s)) {
      const char *r = json_string_value(s);
      if (is_prim(r)) return s;
      char full[256];
      full_name(full, sizeof full, r, ns_io);
      json_t *def = json_object_get(g->names, full);
      if (!def) def = json_object_get(g->names, r);
      if (!def) {
        fprintf(stderr, "test: unknown type %s\n", full);
        abort();
      }
      /* the definition's own namespace is recomputed from its full name */
      const char *dot = strrchr(full, '.');
      snprintf(ns_io, nslen, "%.*s", dot ? (int)(dot - full) : 0, full);
      s = def;
      continue;
    }
    if (json_is_object(s)) {
      json_t *t = json_object_get(s, "type");
      if (!json_is_string(t)) {
        s = t;
        continue;
      }
      const char *ts = json_string_value(t);
      if (strcmp(ts, "record") == 0 || strcmp(ts, "enum") == 0 || strcmp(ts, "fixed") == 0) {
        const char *name = json_string_value(json_object_get(s, "name"));
        const char *own = json_string_value(json_object_get(s, "namespace"));
        char full[256];
        full_name(full, sizeof full, name, own ? own : ns_io);
        if (!json_object_get(g->names, full)) json_object_set(g->names, full, s);
      } else if (!is_prim(ts) && strcmp(ts, "array") != 0 && strcmp(ts, "map") != 0) {
        s = t;
        continue;
      }
    }
    return s;
  }
  abort();
}

/* The kind of a resolved schema: a primitive name, "record", "enum", "fixed", "array", "map",
 * or "union". */
static const char *kind_of(json_t *s) {
  if (json_is_string(s)) return json_string_value(s);
  if (json_is_array(s)) return "union";
  return json_string_value(json_object_get(s, "type"));
}

static const char *short_of(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot ? dot + 1 : name;
}

static const char *branch_key(json_t *b) {
  const char *k = kind_of(b);
  if (strcmp(k, "record") == 0 || strcmp(k, "enum") == 0 || strcmp(k, "fixed") == 0)
    return short_of(json_string_value(json_object_get(b, "name")));
  return k;
}

static json_t *b64(const unsigned char *p, size_t n) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char out[512];
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                 (i + 2 < n ? p[i + 2] : 0);
    out[o++] = a[v >> 18];
    out[o++] = a[(v >> 12) & 63];
    out[o++] = i + 1 < n ? a[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? a[v & 63] : '=';
  }
  return json_stringn(out, o);
}

/* Puts c, a converted member of a default, into out: an array when key is NULL, else an object
 * under key. When c is NULL (no conversion) releases out and returns 0. */
static int put_default(json_t *out, const char *key, json_t *c) {
  if (!c) {
    json_decref(out);
    return 0;
  }
  if (key)
    json_object_set_new(out, key, c);
  else
    json_array_append_new(out, c);
  return 1;
}

/* A field default (Avro's form) in Barge's convention. */
static json_t *conv_default(struct gen *g, json_t *s, const char *ns, json_t *d) {
  char sub[256];
  snprintf(sub, sizeof sub, "%s", ns);
  s = resolve(g, s, sub, sizeof sub);
  const char *k = kind_of(s);
  if (strcmp(k, "bytes") == 0 || strcmp(k, "fixed") == 0) {
    /* Avro writes bytes defaults as strings of code points 0-255. */
    const unsigned char *u = (const unsigned char *)json_string_value(d);
    size_t n = json_string_length(d), len = 0;
    unsigned char raw[256];
    for (size_t i = 0; i < n && len < sizeof raw; len++) {
      raw[len] = u[i] < 0x80 ? u[i] : (unsigned char)(((u[i] & 0x1f) << 6) | (u[i + 1] & 0x3f));
      i += u[i] < 0x80 ? 1 : 2;
    }
    return b64(raw, len);
  }
  if (strcmp(k, "float") == 0 || strcmp(k, "double") == 0) return json_real(json_number_value(d));
  if (strcmp(k, "union") == 0) {
    json_t *b0 = json_array_get(s, 0);
    char bns[256];
    snprintf(bns, sizeof bns, "%s", sub);
    json_t *r0 = resolve(g, b0, bns, sizeof bns);
    if (strcmp(kind_of(r0), "null") == 0) return json_null();
    json_t *c = conv_default(g, b0, sub, d);
    int pair = json_array_size(s) == 2 &&
               (strcmp(kind_of(json_array_get(s, 1)), "null") == 0);
    if (!c || pair) return c;
    json_t *u = json_object();
    json_object_set_new(u, branch_key(r0), c);
    return u;
  }
  if (strcmp(k, "array") == 0) {
    json_t *out = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(d, i, x) {
      if (!put_default(out, NULL, conv_default(g, json_object_get(s, "items"), sub, x))) return NULL;
    }
    return out;
  }
  if (strcmp(k, "map") == 0) {
    json_t *out = json_object();
    const char *key;
    json_t *x;
    json_object_foreach(d, key, x) {
      if (!put_default(out, key, conv_default(g, json_object_get(s, "values"), sub, x))) return NULL;
    }
    return out;
  }
  if (strcmp(k, "record") == 0) {
    char rns[256];
    def_ns(rns, sizeof rns, s, sub);
    json_t *out = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(s, "fields"), i, f) {
      json_t *x = json_object_get(d, json_string_value(json_object_get(f, "name")));
      if (!x) x = json_object_get(f, "default");
      json_t *c = x ? conv_default(g, json_object_get(f, "type"), rns, x) : NULL;
      if (!put_default(out, json_string_value(json_object_get(f, "name")), c)) return NULL;
    }
    return out;
  }
  return json_deep_copy(d);
}

/* Generates a value of schema s; *exp receives what decoding should give back (differs from the
 * returned input only when defaults are omitted). */
static json_t *gen_value(struct gen *g, json_t *s, const char *ns, const char *path, int depth,
                         json_t **exp) {
  char sub[256];
  snprintf(sub, sizeof sub, "%s", ns);
  s = resolve(g, s, sub, sizeof sub);
  const char *k = kind_of(s);
  int v = g->k;
  json_t *in = NULL;
  if (strcmp(k, "null") == 0) {
    in = json_null();
  } else if (strcmp(k, "boolean") == 0) {
    in = json_boolean(v % 2);
  } else if (strcmp(k, "int") == 0) {
    static const json_int_t ints[] = {7, -1, INT32_MAX, INT32_MIN, 300, 0};
    in = json_integer(ints[v % 6]);
  } else if (strcmp(k, "long") == 0) {
    static const json_int_t longs[] = {1700000000123LL, -2, INT64_MAX, INT64_MIN, 0};
    in = json_integer(longs[v % 5]);
  } else if (strcmp(k, "float") == 0) {
    in = json_real(1.5 + v);
  } else if (strcmp(k, "double") == 0) {
    in = json_real(v % 2 ? -1e300 : 0.125 + v);
  } else if (strcmp(k, "string") == 0) {
    char s8[320];
    int n;
    switch (v % 3) {
    case 0: n = snprintf(s8, sizeof s8, "%s-%d", path, v); break;
    case 1: n = snprintf(s8, sizeof s8, "caf\xc3\xa9 \xe2\x9c\x93 \"q\" \\ \n\t%s", path); break;
    default: n = snprintf(s8, sizeof s8, "nul%c%s", 0, path); break; /* embedded NUL */
    }
    in = json_stringn(s8, (size_t)n);
  } else if (strcmp(k, "bytes") == 0 || strcmp(k, "fixed") == 0) {
    unsigned char raw[64];
    size_t n = strcmp(k, "fixed") == 0 ? (size_t)json_integer_value(json_object_get(s, "size"))
                                       : (size_t)(v % 5);
    for (size_t i = 0; i < n && i < sizeof raw; i++)
      raw[i] = (unsigned char)(i * 97 + (size_t)v * 31 + 255);
    in = b64(raw, n < sizeof raw ? n : sizeof raw);
  } else if (strcmp(k, "enum") == 0) {
    json_t *syms = json_object_get(s, "symbols");
    in = json_incref(json_array_get(syms, (size_t)v % json_array_size(syms)));
  } else if (strcmp(k, "array") == 0 || strcmp(k, "map") == 0) {
    int arr = k[0] == 'a';
    in = arr ? json_array() : json_object();
    *exp = arr ? json_array() : json_object();
    int n = depth > 6 ? 0 : 1 + v % 2;
    for (int i = 0; i < n; i++) {
      char p2[256], key[32];
      snprintf(key, sizeof key, "key%d", i);
      if (arr)
        snprintf(p2, sizeof p2, "%s[%d]", path, i);
      else
        snprintf(p2, sizeof p2, "%s.%s", path, key);
      json_t *e, *x = gen_value(g, json_object_get(s, arr ? "items" : "values"), sub, p2,
                                depth + 1, &e);
      if (arr) {
        json_array_append_new(in, x);
        json_array_append_new(*exp, e);
      } else {
        json_object_set_new(in, key, x);
        json_object_set_new(*exp, key, e);
      }
    }
    return in;
  } else if (strcmp(k, "union") == 0) {
    size_t n = json_array_size(s);
    if (n > g->max_union) g->max_union = n;
    size_t pick = (size_t)v % n, null_at = n;
    for (size_t i = 0; i < n; i++) {
      char bns[256];
      snprintf(bns, sizeof bns, "%s", sub);
      if (strcmp(kind_of(resolve(g, json_array_get(s, i), bns, sizeof bns)), "null") == 0)
        null_at = i;
    }
    if (depth > 6 && null_at < n) pick = null_at;
    char bns[256];
    snprintf(bns, sizeof bns, "%s", sub);
    json_t *b = resolve(g, json_array_get(s, pick), bns, sizeof bns);
    if (pick == null_at) {
      *exp = json_null();
      return json_null();
    }
    if (n == 2 && null_at < n) /* null and one other type: the plain value */
      return gen_value(g, json_array_get(s, pick), sub, path, depth + 1, exp);
    char p2[256];
    snprintf(p2, sizeof p2, "%s%s%s", path, *path ? "." : "", branch_key(b));
    json_t *e, *x = gen_value(g, json_array_get(s, pick), sub, p2, depth + 1, &e);
    in = json_object();
    *exp = json_object();
    json_object_set_new(in, branch_key(b), x);
    json_object_set_new(*exp, branch_key(b), e);
    return in;
  } else if (strcmp(k, "record") == 0) {
    char rns[256];
    def_ns(rns, sizeof rns, s, sub);
    in = json_object();
    *exp = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(s, "fields"), i, f) {
      const char *fname = json_string_value(json_object_get(f, "name"));
      char p2[256];
      snprintf(p2, sizeof p2, "%s%s%s", path, *path ? "." : "", fname);
      json_t *d = json_object_get(f, "default");
      json_t *dc = d && g->omit_defaults ? conv_default(g, json_object_get(f, "type"), rns, d)
                                         : NULL;
      if (dc) {
        json_object_set_new(*exp, fname, dc);
        continue;
      }
      json_t *e, *x = gen_value(g, json_object_get(f, "type"), rns, p2, depth + 1, &e);
      if (json_is_string(x) && depth > g->leaf_depth) {
        char rs[256];
        snprintf(rs, sizeof rs, "%s", rns);
        if (strcmp(kind_of(resolve(g, json_object_get(f, "type"), rs, sizeof rs)), "string") ==
            0) {
          g->leaf_parent = in;
          g->leaf_depth = depth;
          snprintf(g->leaf_key, sizeof g->leaf_key, "%s", fname);
          snprintf(g->leaf_path, sizeof g->leaf_path, "%s", p2);
        }
      }
      json_object_set_new(in, fname, x);
      json_object_set_new(*exp, fname, e);
    }
    return in;
  } else {
    fprintf(stderr, "test: cannot generate %s\n", k);
    abort();
  }
  *exp = json_incref(in);
  return in;
}

/* Sample k of type t; *exp as for gen_value. */
static json_t *sample(enum barge_ev_type t, int k, int omit_defaults, json_t **exp,
                      struct gen *g_out) {
  json_t *schema = json_loads(codec_schema_json(t), JSON_ALLOW_NUL, NULL);
  struct gen g = {.names = json_object(), .k = k, .omit_defaults = omit_defaults};
  json_t *v = gen_value(&g, schema, "", "", 0, exp);
  json_decref(g.names);
  json_decref(schema);
  if (g_out) *g_out = g;
  return v;
}

/* ---- helpers ---- */

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 11);
}

static int n_samples(enum barge_ev_type t) {
  struct gen g;
  json_t *e, *v = sample(t, 0, 0, &e, &g);
  json_decref(v);
  json_decref(e);
  int n = (int)g.max_union;
  return n < 3 ? 3 : n; /* at least three variants of every value */
}

static char *dumps(const json_t *v) {
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

/* json_equal(back, exp); prints both when they differ. */
static int same_json(json_t *exp, json_t *back) {
  int eq = json_equal(back, exp);
  if (!eq) {
    char *a = dumps(exp), *c = dumps(back);
    fprintf(stderr, "expected %s\n     got %s\n", a, c);
    free(a);
    free(c);
  }
  return eq;
}

/* codec_render_json against the tree: the same text as json_dumps(JSON_COMPACT) of
 * codec_decode's value with its null members dropped (as bus_decode delivers it), or it gives
 * up and leaves the buffer as it was; never any text where codec_decode fails. */
static int render_same, render_gave_up, render_bad;

static void drop_nulls(json_t *v) {
  const char *k;
  json_t *x;
  void *tmp;
  size_t i;
  if (json_is_object(v)) {
    json_object_foreach_safe(v, tmp, k, x) {
      if (json_is_null(x)) json_object_del(v, k);
      else drop_nulls(x);
    }
  } else if (json_is_array(v)) {
    json_array_foreach(v, i, x) drop_nulls(x);
  }
}

static int check_render(const void *p, size_t n) {
  struct buf b;
  buf_init(&b);
  buf_append(&b, "<", 1); /* appended after what the buffer holds */
  enum barge_ev_type t1 = BARGE_EV__COUNT, t2 = BARGE_EV__COUNT;
  int rr = codec_render_json(p, n, &t1, &b);
  json_t *v = NULL;
  char err[512];
  int dr = codec_decode(p, n, &t2, &v, err, sizeof err);
  if (rr == 0 && dr) {
    fprintf(stderr, "rendered what codec_decode refuses (%s): %.*s\n", err, (int)b.len, b.data);
    render_bad++;
  } else if (rr == 0) {
    drop_nulls(v);
    char *want = json_dumps(v, JSON_COMPACT);
    if (t1 != t2 || b.len != strlen(want) + 1 || memcmp(b.data + 1, want, b.len - 1)) {
      fprintf(stderr, "rendered %.*s\n  jansson %s\n", (int)b.len - 1, b.data + 1, want);
      render_bad++;
    } else {
      render_same++;
    }
    free(want);
  } else {
    render_bad += b.len != 1;
    render_gave_up++;
  }
  json_decref(v);
  buf_release(&b);
  return rr;
}

/* Decodes; returns 0 on success. Used by the fuzz checks: the decoder must either fail with a
 * message or give a value that encodes again. */
static int try_decode(const void *p, size_t n, int *bad_contract) {
  enum barge_ev_type t;
  json_t *v = (json_t *)1;
  char err[512] = "";
  check_render(p, n);
  int rc = codec_decode(p, n, &t, &v, err, sizeof err);
  if (rc) {
    if (v != NULL || !err[0]) *bad_contract = 1;
    return rc;
  }
  struct buf b;
  buf_init(&b);
  char err2[512];
  if (codec_encode(t, v, &b, err2, sizeof err2) != 0) {
    fprintf(stderr, "decoded value does not encode again: %s\n", err2);
    *bad_contract = 1;
  }
  buf_release(&b);
  json_decref(v);
  return 0;
}

/* ---- the tests ---- */

static void test_known_answers(void) {
  TEST("CRC-64-AVRO known answers (Avro spec, fastavro)");
  CHECK(codec_crc64_avro("", 0) == 0xc15d213aa4d7a795ULL, "empty");
  CHECK(codec_crc64_avro("\"int\"", 5) == 0x7275d51a3f395c8fULL, "\"int\" -> %016" PRIx64,
        codec_crc64_avro("\"int\"", 5));
  CHECK(codec_crc64_avro("\"string\"", 8) == 0x8f014872634503c7ULL, "\"string\" -> %016" PRIx64,
        codec_crc64_avro("\"string\"", 8));
}

static void test_schemas(void) {
  TEST("schemas: names, canonical forms, fingerprints");
  CHECK(BARGE_EV__COUNT > 0, "no event schemas");
  for (int t = 0; t < BARGE_EV__COUNT; t++) {
    const char *name = codec_type_name(t), *pcf = codec_canonical_form(t);
    CHECK_STR(name, barge_schema_name[t]);
    CHECK_INT(codec_type_by_name(name), t);
    CHECK_INT(codec_type_by_name(strrchr(name, '.') + 1), t);
    CHECK(pcf != NULL, "%s: no canonical form", name);
    if (!pcf) continue;
    char prefix[300];
    snprintf(prefix, sizeof prefix, "{\"name\":\"%s\",\"type\":\"record\",\"fields\":[", name);
    CHECK(strncmp(pcf, prefix, strlen(prefix)) == 0, "%s: canonical form starts %.80s", name, pcf);
    CHECK(!strpbrk(pcf, " \n\t\r"), "%s: whitespace in %s", name, pcf);
    CHECK(!strstr(pcf, "\"doc\"") && !strstr(pcf, "\"default\"") &&
              !strstr(pcf, "\"logicalType\"") && !strstr(pcf, "\"namespace\"") &&
              !strstr(pcf, "barge_kind"),
          "%s: canonical form keeps attributes it must strip", name);
    CHECK(codec_crc64_avro(pcf, strlen(pcf)) == codec_fingerprint(t), "%s: fingerprint", name);
    json_t *j = json_loads(pcf, 0, NULL);
    CHECK(j != NULL, "%s: canonical form is not JSON", name);
    json_decref(j);
    for (int u = 0; u < t; u++)
      CHECK(codec_fingerprint(u) != codec_fingerprint(t), "%s and %s share a fingerprint",
            codec_type_name(u), name);
    printf("   %-28s %016" PRIx64 "  %zu-byte canonical form\n", name, codec_fingerprint(t),
           strlen(pcf));
  }
  char err[256];
  CHECK(codec_init(err, sizeof err) == 0, "second codec_init: %s", err);
  CHECK_INT(codec_type_by_name("barge.NoSuchEvent"), -1);
  CHECK(codec_type_name((enum barge_ev_type)BARGE_EV__COUNT) == NULL, "out of range type");
}

static void test_round_trips(void) {
  TEST("round trip of every event type, every union branch, both framings");
  int total = 0;
  for (int t = 0; t < BARGE_EV__COUNT; t++) {
    int n = n_samples(t);
    json_t *bodies = json_object();
    size_t body_branches = 0;
    {
      json_t *schema = json_loads(codec_schema_json(t), JSON_ALLOW_NUL, NULL);
      size_t i;
      json_t *f;
      json_array_foreach(json_object_get(schema, "fields"), i, f) {
        json_t *ft = json_object_get(f, "type");
        if (strcmp(json_string_value(json_object_get(f, "name")), "body") == 0 &&
            json_is_array(ft) && json_array_size(ft) > 2)
          body_branches = json_array_size(ft);
      }
      json_decref(schema);
    }
    for (int k = 0; k < n; k++) {
      for (int framing = 0; framing < 2; framing++) {
        json_t *exp, *v = sample(t, k, 0, &exp, NULL);
        codec_set_schema_id(t, framing ? 1000 + t : 0);
        struct buf b;
        buf_init(&b);
        char err[512] = "";
        int rc = codec_encode(t, v, &b, err, sizeof err);
        CHECK(rc == 0, "%s sample %d: encode: %s", codec_type_name(t), k, err);
        if (!rc && framing == 0) {
          uint64_t fp = 0;
          for (int i = 0; i < 8; i++) fp |= (uint64_t)b.data[2 + i] << (8 * i);
          CHECK(b.len >= 10 && b.data[0] == 0xc3 && b.data[1] == 0x01 && fp == codec_fingerprint(t),
                "%s: single-object header", codec_type_name(t));
        } else if (!rc) {
          CHECK(b.len >= 5 && b.data[0] == 0 && b.data[1] == 0 && b.data[2] == 0 &&
                    b.data[3] == (1000 + t) >> 8 && b.data[4] == ((1000 + t) & 0xff),
                "%s: Confluent header", codec_type_name(t));
        }
        enum barge_ev_type got = BARGE_EV__COUNT;
        json_t *back = NULL;
        if (!rc) {
          CHECK(check_render(b.data, b.len) == 0, "%s sample %d: not rendered to JSON",
                codec_type_name(t), k);
          rc = codec_decode(b.data, b.len, &got, &back, err, sizeof err);
          CHECK(rc == 0, "%s sample %d: decode: %s", codec_type_name(t), k, err);
        }
        if (!rc) {
          CHECK_INT(got, t);
          int eq = same_json(exp, back);
          CHECK(eq, "%s sample %d framing %d: decoded value differs", codec_type_name(t), k,
                framing);
          json_t *body = json_object_get(back, "body");
          if (json_is_object(body) && json_object_size(body) == 1)
            json_object_set_new(bodies, json_object_iter_key(json_object_iter(body)), json_true());
          total++;
        }
        json_decref(back);
        json_decref(v);
        json_decref(exp);
        buf_release(&b);
      }
    }
    codec_set_schema_id(t, 0);
    if (body_branches)
      CHECK(json_object_size(bodies) == body_branches, "%s: %zu of %zu body branches covered",
            codec_type_name(t), json_object_size(bodies), body_branches);
    printf("   %-28s %d samples x 2 framings%s\n", codec_type_name(t), n,
           body_branches ? ", every body branch" : "");
    json_decref(bodies);
  }
  printf("   %d round trips\n", total);
}

static void test_defaults(void) {
  TEST("fields left out take their schema defaults");
  for (int t = 0; t < BARGE_EV__COUNT; t++) {
    int n = n_samples(t);
    for (int k = 0; k < n; k++) {
      json_t *exp, *v = sample(t, k, 1, &exp, NULL);
      struct buf b;
      buf_init(&b);
      char err[512] = "";
      enum barge_ev_type got;
      json_t *back = NULL;
      int rc = codec_encode(t, v, &b, err, sizeof err);
      CHECK(rc == 0, "%s: encode without defaulted fields: %s", codec_type_name(t), err);
      if (!rc) rc = codec_decode(b.data, b.len, &got, &back, err, sizeof err);
      CHECK(rc == 0, "%s: decode: %s", codec_type_name(t), err);
      if (!rc) {
        int eq = same_json(exp, back);
        CHECK(eq, "%s sample %d: defaults differ", codec_type_name(t), k);
      }
      json_decref(back);
      json_decref(v);
      json_decref(exp);
      buf_release(&b);
    }
  }
}

static void expect_encode_error(enum barge_ev_type t, json_t *v, const char *want_prefix,
                                const char *want_sub) {
  struct buf b;
  buf_init(&b);
  buf_append(&b, "xy", 2);
  char err[512] = "";
  int rc = codec_encode(t, v, &b, err, sizeof err);
  CHECK(rc != 0, "%s: encoding a bad value succeeded (want %s)", codec_type_name(t), want_sub);
  CHECK(strncmp(err, want_prefix, strlen(want_prefix)) == 0 && strstr(err, want_sub),
        "%s: error '%s', want '%s...%s'", codec_type_name(t), err, want_prefix, want_sub);
  CHECK(b.len == 2 && memcmp(b.data, "xy", 3) == 0, "a failed encode leaves bytes behind");
  if (t == 0) printf("   e.g. %s\n", err);
  buf_release(&b);
}

static void test_encode_errors(void) {
  TEST("encode errors name the bad field's path");
  int shown = 0;
  for (int t = 0; t < BARGE_EV__COUNT; t++) {
    for (int k = 0; k < n_samples(t); k++) {
      struct gen g;
      json_t *exp, *v = sample(t, k, 0, &exp, &g);
      json_decref(exp);
      if (g.leaf_parent) {
        json_t *old = json_incref(json_object_get(g.leaf_parent, g.leaf_key));
        json_object_set_new(g.leaf_parent, g.leaf_key, json_integer(42));
        char want[300];
        snprintf(want, sizeof want, "%s: ", g.leaf_path);
        expect_encode_error(t, v, want, "expected string, got an integer");
        shown++;
        json_object_set_new(g.leaf_parent, g.leaf_key, old);
      }
      if (k) {
        json_decref(v);
        continue;
      }
      /* Unknown field at the top level. */
      json_object_set_new(v, "noSuchField", json_integer(1));
      expect_encode_error(t, v, "", "unknown field \"noSuchField\"");
      json_object_del(v, "noSuchField");
      /* A required field left out. */
      json_t *schema = json_loads(codec_schema_json(t), JSON_ALLOW_NUL, NULL);
      size_t i;
      json_t *f;
      json_array_foreach(json_object_get(schema, "fields"), i, f) {
        json_t *ft = json_object_get(f, "type");
        if (json_object_get(f, "default") || json_is_array(ft)) continue;
        const char *fname = json_string_value(json_object_get(f, "name"));
        json_t *old = json_incref(json_object_get(v, fname));
        json_object_del(v, fname);
        char want[300];
        snprintf(want, sizeof want, "%s: ", fname);
        expect_encode_error(t, v, want, "missing field");
        json_object_set_new(v, fname, old);
        break;
      }
      /* A union branch that does not exist, and a union value without its wrapper. */
      json_t *body = json_object_get(v, "body");
      if (json_is_object(body) && json_object_size(body) == 1) {
        json_t *old = json_incref(body);
        json_object_set_new(v, "body", json_pack("{s:{}}", "NoSuchBranch"));
        expect_encode_error(t, v, "body: ", "unknown union branch \"NoSuchBranch\"");
        json_object_set_new(v, "body", json_string("x"));
        expect_encode_error(t, v, "body: ", "expected a union");
        json_object_set_new(v, "body", old);
      }
      json_decref(schema);
      /* Not an object at all. */
      json_t *num = json_integer(3);
      expect_encode_error(t, num, "", "expected an object");
      json_decref(num);
      /* Types out of range. */
      struct buf b;
      buf_init(&b);
      char err[256];
      CHECK(codec_encode((enum barge_ev_type)-1, v, &b, err, sizeof err) != 0, "type -1");
      buf_release(&b);
      json_decref(v);
    }
  }
  printf("   %d samples with their deepest string field mistyped: each error named its path\n",
         shown);
}

static void test_garbage(void) {
  TEST("garbage, truncated, mutated and misframed input fails cleanly");
  int bad = 0, decoded_ok = 0, tries = 0;
  char err[512];
  enum barge_ev_type t0;
  json_t *v;
  static const unsigned char empty[1];
  CHECK(codec_decode(empty, 0, &t0, &v, err, sizeof err) != 0 && v == NULL, "empty");
  printf("   empty: %s\n", err);
  const unsigned char magic[] = {0xc3, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 0};
  CHECK(codec_decode(magic, sizeof magic, &t0, &v, err, sizeof err) != 0 && v == NULL, "magic");
  printf("   C3 02: %s\n", err);
  const unsigned char other[] = {'{', '"', 'a', '"', '}'};
  CHECK(codec_decode(other, sizeof other, &t0, &v, err, sizeof err) != 0 && v == NULL, "json");
  printf("   JSON text: %s\n", err);
  const unsigned char id[] = {0, 0, 0, 0x03, 0xe7, 2};
  CHECK(codec_decode(id, sizeof id, &t0, &v, err, sizeof err) != 0 && strstr(err, "999"),
        "unknown id: %s", err);
  printf("   id 999: %s\n", err);
  const unsigned char id0[] = {0, 0, 0, 0, 0, 2};
  CHECK(codec_decode(id0, sizeof id0, &t0, &v, err, sizeof err) != 0, "id 0 never matches");

  for (int t = 0; t < BARGE_EV__COUNT; t++) {
    int n = n_samples(t);
    for (int k = 0; k < n; k++) {
      json_t *exp, *s = sample(t, k, 0, &exp, NULL);
      json_decref(exp);
      struct buf b;
      buf_init(&b);
      if (codec_encode(t, s, &b, err, sizeof err) != 0) {
        json_decref(s);
        buf_release(&b);
        continue;
      }
      json_decref(s);
      /* Every truncation must fail. */
      for (size_t len = 0; len < b.len; len++) {
        unsigned char *cp = xmalloc(len + 1); /* exact size so ASan sees over-reads */
        memcpy(cp, b.data, len);
        CHECK(try_decode(cp, len, &bad) != 0, "%s: a %zu of %zu byte prefix decoded",
              codec_type_name(t), len, b.len);
        free(cp);
      }
      if (k == 0) {
        unsigned char *cp = xmalloc(b.len);
        memcpy(cp, b.data, b.len);
        CHECK(codec_decode(cp, b.len - 1, &t0, &v, err, sizeof err) != 0, "truncated");
        if (t == 0) printf("   truncated: %s\n", err);
        cp[2] ^= 1;
        CHECK(codec_decode(cp, b.len, &t0, &v, err, sizeof err) != 0 &&
                  strstr(err, "unknown schema fingerprint") && strstr(err, "another version of a schema"),
              "unknown fingerprint: %s", err);
        if (t == 0) printf("   fingerprint: %s\n", err);
        /* Confluent framing with no registry to ask: the reason says none is configured */
        unsigned char conf[] = {0, 0, 0, 0, 7, 0};
        CHECK(codec_decode(conf, sizeof conf, &t0, &v, err, sizeof err) == 1 &&
                  strstr(err, "unknown schema id 7 (no schema registry configured"),
              "unknown id: %s", err);
        free(cp);
        struct buf longer;
        buf_init(&longer);
        buf_append(&longer, b.data, b.len);
        buf_append(&longer, "\0", 1);
        CHECK(codec_decode(longer.data, longer.len, &t0, &v, err, sizeof err) != 0 &&
                  strstr(err, "trailing"),
              "trailing byte: %s", err);
        /* A huge length where the first string or array count is. */
        buf_reset(&longer);
        buf_append(&longer, b.data, 10);
        const unsigned char huge[] = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'a'};
        buf_append(&longer, huge, sizeof huge);
        CHECK(try_decode(longer.data, longer.len, &bad) != 0, "huge length decoded");
        buf_release(&longer);
      }
      /* Mutations: random bytes changed, inserted, removed. */
      for (int m = 0; m < 300; m++) {
        struct buf mu;
        buf_init(&mu);
        buf_append(&mu, b.data, b.len);
        int edits = 1 + (int)(rnd() % 3);
        for (int e = 0; e < edits; e++) {
          size_t at = 10 + rnd() % (mu.len - 10 + 1);
          switch (rnd() % 3) {
          case 0:
            if (at < mu.len) mu.data[at] = (unsigned char)rnd();
            break;
          case 1:
            buf_reserve(&mu, 1);
            memmove(mu.data + at + 1, mu.data + at, mu.len - at);
            mu.data[at] = (unsigned char)rnd();
            mu.len++;
            break;
          default:
            if (at < mu.len) {
              memmove(mu.data + at, mu.data + at + 1, mu.len - at - 1);
              mu.len--;
            }
          }
        }
        unsigned char *cp = xmalloc(mu.len);
        memcpy(cp, mu.data, mu.len);
        decoded_ok += try_decode(cp, mu.len, &bad) == 0;
        tries++;
        free(cp);
        buf_release(&mu);
      }
      /* Random bodies behind a valid header. */
      for (int m = 0; m < 300; m++) {
        size_t len = 10 + rnd() % 80;
        unsigned char *cp = xmalloc(len);
        memcpy(cp, b.data, 10);
        for (size_t i = 10; i < len; i++) cp[i] = (unsigned char)rnd();
        decoded_ok += try_decode(cp, len, &bad) == 0;
        tries++;
        free(cp);
      }
      buf_release(&b);
    }
  }
  /* Random bytes with no header at all, and random headers. */
  for (int m = 0; m < 2000; m++) {
    size_t len = rnd() % 40;
    unsigned char *cp = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++) cp[i] = (unsigned char)rnd();
    if (len && m % 2) cp[0] = m % 4 == 1 ? 0xc3 : 0;
    if (len > 1 && m % 4 == 1) cp[1] = 1;
    decoded_ok += try_decode(cp, len, &bad) == 0;
    tries++;
    free(cp);
  }
  CHECK(!bad, "a decode broke its contract (error without message, value on error, or a value "
              "that does not encode)");
  printf("   %d fuzzed inputs, %d happened to decode to valid values, none crashed\n", tries,
         decoded_ok);
}

/* Every sample renders (the round trips above), fuzzed input never renders where decoding fails
 * (test_garbage), control characters are escaped as jansson escapes them, and a map naming a key
 * twice is left to codec_decode. */
static void test_render_json(void) {
  TEST("JSON text straight from the bytes: jansson's text, or left to codec_decode");
  struct buf o;
  buf_init(&o);
  char all[128];
  for (int i = 0; i < 128; i++) all[i] = (char)i;
  CHECK(codec_json_string(&o, all, sizeof all) == 0, "ASCII");
  json_t *js = json_stringn(all, sizeof all);
  char *want = json_dumps(js, JSON_ENCODE_ANY);
  CHECK(o.len == strlen(want) && memcmp(o.data, want, o.len) == 0, "escapes: %.*s vs %s",
        (int)o.len, o.data, want);
  free(want);
  json_decref(js);
  static const char *const bad8[] = {"\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x9c",
                                     "\x80", "\xf8\x88\x80\x80\x80"};
  for (size_t i = 0; i < sizeof bad8 / sizeof *bad8; i++) {
    buf_reset(&o);
    int refused = codec_json_string(&o, bad8[i], strlen(bad8[i])) == 1 && o.len == 0;
    json_t *x = json_stringn(bad8[i], strlen(bad8[i]));
    CHECK(refused && !x, "invalid UTF-8 %zu refused like json_stringn", i);
    json_decref(x);
  }
  buf_release(&o);
  int dups = 0;
  for (int t = 0; t < BARGE_EV__COUNT; t++) {
    for (int k = 0; k < n_samples(t); k++) {
      json_t *exp, *s = sample(t, k, 0, &exp, NULL);
      json_decref(exp);
      struct buf b;
      buf_init(&b);
      char err[512];
      if (codec_encode(t, s, &b, err, sizeof err) == 0 && b.len > 4) {
        int patched = 0;
        for (size_t i = 0; i + 4 <= b.len; i++)
          if (memcmp(b.data + i, "key1", 4) == 0) b.data[i + 3] = '0', patched = 1;
        enum barge_ev_type got;
        json_t *v = NULL;
        if (patched && codec_decode(b.data, b.len, &got, &v, err, sizeof err) == 0) {
          dups += check_render(b.data, b.len) != 0;
          json_decref(v);
        }
      }
      buf_release(&b);
      json_decref(s);
    }
  }
  CHECK(dups > 0, "maps naming a key twice were left to codec_decode (%d)", dups);
  CHECK(render_bad == 0, "%d renderings differ from jansson's or rendered undecodable bytes",
        render_bad);
  CHECK(render_same > 0, "nothing rendered");
  printf("   %d inputs rendered as jansson writes them, %d left to codec_decode (%d repeated map keys)\n",
         render_same, render_gave_up, dups);
}

struct thread_arg {
  int failures;
};

/* C11 threads rather than pthread.h: scheduler/sched.h shadows the system <sched.h> that
 * pthread.h includes when the scheduler folder is on the include path. */
static int thread_main(void *p) {
  struct thread_arg *a = p;
  for (int i = 0; i < 200; i++) {
    enum barge_ev_type t = (enum barge_ev_type)(i % BARGE_EV__COUNT);
    json_t *exp, *v = sample(t, i % 3, 0, &exp, NULL);
    struct buf b;
    buf_init(&b);
    char err[256];
    json_t *back = NULL;
    enum barge_ev_type got;
    if (codec_encode(t, v, &b, err, sizeof err) != 0 ||
        codec_decode(b.data, b.len, &got, &back, err, sizeof err) != 0 || !json_equal(back, exp))
      a->failures++;
    json_decref(back);
    json_decref(v);
    json_decref(exp);
    buf_release(&b);
  }
  return 0;
}

static void test_threads(void) {
  TEST("four threads encoding and decoding at once");
  thrd_t th[4];
  struct thread_arg args[4] = {{0}};
  for (int i = 0; i < 4; i++)
    CHECK(thrd_create(&th[i], thread_main, &args[i]) == thrd_success, "thrd_create");
  for (int i = 0; i < 4; i++) {
    thrd_join(th[i], NULL);
    CHECK_INT(args[i].failures, 0);
  }
}

/* Writes <Type>.schema.json, <Type>.canonical and, per sample, <Type>.<k>.bin (single-object
 * frame) and <Type>.<k>.json (the value in Barge's convention). */
static int dump(const char *dir) {
  int files = 0;
  for (int t = 0; t < BARGE_EV__COUNT; t++) {
    const char *shortname = strrchr(codec_type_name(t), '.') + 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.schema.json", dir, shortname);
    if (write_file_atomic(path, codec_schema_json(t), strlen(codec_schema_json(t))) != 0)
      return -1;
    snprintf(path, sizeof path, "%s/%s.canonical", dir, shortname);
    if (write_file_atomic(path, codec_canonical_form(t), strlen(codec_canonical_form(t))) != 0)
      return -1;
    int n = n_samples(t);
    for (int k = 0; k < n; k++) {
      json_t *exp, *v = sample(t, k, 0, &exp, NULL);
      struct buf b;
      buf_init(&b);
      char err[512];
      if (codec_encode(t, v, &b, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", codec_type_name(t), err);
        return -1;
      }
      snprintf(path, sizeof path, "%s/%s.%d.bin", dir, shortname, k);
      if (write_file_atomic(path, b.data, b.len) != 0) return -1;
      char *text = json_dumps(exp, JSON_COMPACT | JSON_ENCODE_ANY);
      snprintf(path, sizeof path, "%s/%s.%d.json", dir, shortname, k);
      if (write_file_atomic(path, text, strlen(text)) != 0) return -1;
      free(text);
      json_decref(v);
      json_decref(exp);
      buf_release(&b);
      files += 2;
    }
  }
  return files;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

static void test_interop(void) {
  TEST("interop with fastavro (tests/unit/codec_interop.py)");
  char dir[] = "/tmp/barge-codec-XXXXXX";
  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  int files = dump(dir);
  CHECK(files > 0, "dump into %s failed", dir);
  if (files <= 0) return;
  char script[4096];
  const char *src = getenv("BARGE_SOURCE_DIR");
  if (src) {
    snprintf(script, sizeof script, "%s/tests/unit/codec_interop.py", src);
  } else { /* run by hand: next to this file */
    snprintf(script, sizeof script, "%s", __FILE__);
    char *slash = strrchr(script, '/');
    snprintf(slash ? slash + 1 : script, sizeof script - (size_t)(slash ? slash + 1 - script : 0),
             "codec_interop.py");
  }
  /* fastavro is in scripts/requirements.txt; install it when missing rather than skip. */
  int rc = system("python3 -c 'import fastavro' 2>/dev/null || "
                  "python3 -m pip install --quiet fastavro || "
                  "python3 -m pip install --quiet --user --break-system-packages fastavro");
  CHECK(rc == 0, "fastavro is not importable and pip could not install it");
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "python3 '%s' '%s'", script, dir);
  fflush(stdout);
  rc = system(cmd);
  CHECK(rc == 0, "%s failed (status %d); files kept in %s", cmd, rc, dir);
  if (rc == 0) nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- projections (codec_pick_*) ---- */

/* The value at a dotted path of a decoded event (a nullable union is its plain value), or NULL. */
static json_t *at_path(json_t *v, const char *path) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *seg = strtok(buf, "."); seg && v; seg = strtok(NULL, ".")) v = json_object_get(v, seg);
  return v;
}

static int field_matches(const struct codec_field *f, json_t *v) {
  if (!v || json_is_null(v)) return f->kind == CF_NULL;
  if (json_is_integer(v)) return f->kind == CF_INT && f->i == json_integer_value(v);
  if (json_is_boolean(v)) return f->kind == CF_BOOL && f->i == json_is_true(v);
  if (json_is_string(v))
    return f->kind == CF_STRING && f->n == json_string_length(v) && !memcmp(f->s, json_string_value(v), f->n);
  if (json_is_array(v)) return f->kind == CF_COUNT && (size_t)f->i == json_array_size(v);
  if (json_is_object(v)) return f->kind == CF_COUNT || f->kind == CF_OTHER;
  return 0;
}

static void test_projection(void) {
  TEST("projections read the named fields of every sample as a whole decode does, and fail cleanly on bad bytes");
  static const char *const paths[] = {"header.event_id", "seq", "detail.jobId", "detail.status", "detail.statusReason",
                                      "detail.createdAt", "detail.startedAt", "detail.isCancelled", "detail.attempts",
                                      "detail.arrayProperties.index", "detail.arrayProperties.statusSummary",
                                      "detail.nodeProperties", "detail.tags", "attempt", "instanceId", "queueSeq",
                                      "parentJobId", "dependencyIds", "incarnation"};
  enum { NP = sizeof paths / sizeof *paths };
  char err[512];
  struct codec_pick *p = codec_pick_new(BARGE_EV_JOB_RECORD, paths, NP, err, sizeof err);
  CHECK(p != NULL, "codec_pick_new: %s", err);
  if (!p) return;
  int n = n_samples(BARGE_EV_JOB_RECORD), mismatches = 0, crashes_avoided = 0, bad_contract = 0;
  if (n < 24) n = 24; /* sample k picks each union's branch k modulo its count */
  for (int k = 0; k < n; k++) {
    json_t *exp, *v = sample(BARGE_EV_JOB_RECORD, k, 0, &exp, NULL);
    struct buf b;
    buf_init(&b);
    CHECK(codec_encode(BARGE_EV_JOB_RECORD, v, &b, err, sizeof err) == 0, "sample %d: %s", k, err);
    enum barge_ev_type t;
    json_t *back = NULL;
    CHECK(codec_decode(b.data, b.len, &t, &back, err, sizeof err) == 0, "sample %d: %s", k, err);
    struct codec_field f[NP];
    CHECK(codec_pick_decode(p, b.data, b.len, f, err, sizeof err) == 0, "sample %d: %s", k, err);
    for (int i = 0; i < NP; i++)
      if (!field_matches(&f[i], at_path(back, paths[i]))) {
        if (mismatches++ < 3) fprintf(stderr, "sample %d: %s read as kind %d\n", k, paths[i], (int)f[i].kind);
      }
    for (size_t cut = 0; cut < b.len; cut++) { /* every truncation is refused */
      err[0] = 0;
      if (codec_pick_decode(p, b.data, cut, f, err, sizeof err) == 0 || !err[0]) bad_contract++;
    }
    for (int m = 0; m < 200; m++) { /* mutations: an answer or a reason, never a crash */
      unsigned char *c = xmalloc(b.len);
      memcpy(c, b.data, b.len);
      c[10 + rnd() % (b.len - 10)] = (unsigned char)rnd();
      err[0] = 0;
      if (codec_pick_decode(p, c, b.len, f, err, sizeof err) != 0 && !err[0]) bad_contract++;
      crashes_avoided++;
      free(c);
    }
    buf_release(&b);
    json_decref(back);
    json_decref(v);
    json_decref(exp);
  }
  CHECK(mismatches == 0, "%d fields read differently from the whole decode", mismatches);
  CHECK(bad_contract == 0, "%d bad inputs accepted or refused without a reason", bad_contract);
  printf("   %d samples, %d mutations read\n", n, crashes_avoided);
  codec_pick_free(p);
  static const char *const wrong[][2] = {{"detail.nope", NULL}, {"detail", "detail.jobId"}, {"seq.x", NULL},
                                         {"detail.jobId", "detail.jobId"}};
  for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
    err[0] = 0;
    struct codec_pick *w = codec_pick_new(BARGE_EV_JOB_RECORD, wrong[i], wrong[i][1] ? 2 : 1, err, sizeof err);
    CHECK(w == NULL && err[0], "a wrong projection (%s) was accepted", wrong[i][0]);
    codec_pick_free(w);
  }
  struct buf b;
  buf_init(&b);
  json_t *e, *v = sample(BARGE_EV_JOB_REQUEST, 0, 0, &e, NULL);
  CHECK(codec_encode(BARGE_EV_JOB_REQUEST, v, &b, err, sizeof err) == 0, "%s", err);
  p = codec_pick_new(BARGE_EV_JOB_RECORD, paths, 1, err, sizeof err);
  struct codec_field f1;
  CHECK(p && codec_pick_decode(p, b.data, b.len, &f1, err, sizeof err) != 0 && strstr(err, "JobRequest"),
        "another event type is refused by name: %s", err);
  codec_pick_free(p);
  buf_release(&b);
  json_decref(v);
  json_decref(e);
}

int main(int argc, char **argv) {
  char err[512];
  if (codec_init(err, sizeof err) != 0) {
    fprintf(stderr, "codec_init: %s\n", err);
    return 1;
  }
  if (argc == 3 && strcmp(argv[1], "--dump") == 0) {
    if (mkdir_p(argv[2]) != 0) return 1;
    int files = dump(argv[2]);
    printf("%d files written to %s\n", files, argv[2]);
    return files > 0 ? 0 : 1;
  }
  test_known_answers();
  test_schemas();
  test_round_trips();
  test_defaults();
  test_encode_errors();
  test_garbage();
  test_render_json();
  test_threads();
  test_projection();
  test_interop();
  return check_summary();
}
