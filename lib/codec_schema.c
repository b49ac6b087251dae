/* codec_schema.c: the codec's schema tree, built from the embedded schemas' JSON: parsing,
 * the Avro Parsing Canonical Form and the CRC-64-AVRO fingerprint (codec.h has the contract;
 * lib/codec.c encodes and decodes over the tree). */
#include <pthread.h>
#include <stdlib.h>

#include "codec.h"
#include "codec_int.h"

const char *const codec_kind_names[] = {"null",  "boolean", "int",    "long",  "float",
                                         "double", "bytes",  "string", "record", "enum",
                                         "array", "map",     "union",  "fixed"};

/* ---- CRC-64-AVRO ---- */

#define CRC64_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
  for (int i = 0; i < 256; i++) {
    uint64_t fp = (uint64_t)i;
    for (int j = 0; j < 8; j++) fp = (fp >> 1) ^ (CRC64_EMPTY & -(fp & 1));
    crc_table[i] = fp;
  }
}

uint64_t codec_crc64_avro(const void *data, size_t len) {
  pthread_once(&crc_once, crc_init);
  const unsigned char *p = data;
  uint64_t fp = CRC64_EMPTY;
  for (size_t i = 0; i < len; i++) fp = (fp >> 8) ^ crc_table[(fp ^ p[i]) & 0xff];
  return fp;
}

/* ---- schema tree ---- */

struct node *codec_names_find(const struct names *nm, const char *full) {
  for (size_t i = 0; i < nm->n; i++)
    if (strcmp(nm->v[i]->full_name, full) == 0) return nm->v[i];
  return NULL;
}

void codec_names_add(struct names *nm, struct node *n) {
  if (nm->n == nm->cap) {
    nm->cap = nm->cap ? 2 * nm->cap : 16;
    nm->v = xrealloc(nm->v, nm->cap * sizeof *nm->v);
  }
  nm->v[nm->n++] = n;
}

static struct node *node_new(struct names *nm, enum kind k) {
  struct node *n = xcalloc(1, sizeof *n);
  n->kind = k;
  n->null_branch = -1;
  if (nm->keep_all) {
    if (nm->nall == nm->capall) {
      nm->capall = nm->capall ? 2 * nm->capall : 32;
      nm->all = xrealloc(nm->all, nm->capall * sizeof *nm->all);
    }
    nm->all[nm->nall++] = n;
  }
  return n;
}

/* Frees every node a keep_all parse made (the embedded schemas' trees live for the process). */
void codec_names_free_all(struct names *nm) {
  for (size_t i = 0; i < nm->nall; i++) {
    struct node *n = nm->all[i];
    free(n->full_name);
    for (size_t f = 0; f < n->nfields; f++) {
      free(n->fields[f].name);
      json_decref(n->fields[f].avro_default);
      json_decref(n->fields[f].dflt);
    }
    free(n->fields);
    for (size_t y = 0; y < n->nsymbols; y++) free(n->symbols[y]);
    free(n->symbols);
    free(n->branches);
    free(n);
  }
  free(nm->all);
  free(nm->v);
}

static int primitive_kind(const char *s) {
  for (int k = K_NULL; k <= K_STRING; k++)
    if (strcmp(s, codec_kind_names[k]) == 0) return k;
  return -1;
}

static char *full_name_of(const char *name, const char *ns) {
  if (strchr(name, '.') || !ns || !*ns) return xstrdup(name);
  size_t a = strlen(ns), b = strlen(name);
  char *s = xmalloc(a + b + 2);
  memcpy(s, ns, a);
  s[a] = '.';
  memcpy(s + a + 1, name, b + 1);
  return s;
}


static struct node *parse_named(json_t *s, const char *t, const char *ns, struct names *nm,
                                int depth, char *err, size_t errlen) {
  const char *name = json_string_value(json_object_get(s, "name"));
  if (!name) {
    seterr(err, errlen, "a %s without a name", t);
    return NULL;
  }
  json_t *nsj = json_object_get(s, "namespace");
  const char *own_ns = json_is_string(nsj) ? json_string_value(nsj) : ns;
  char *full = full_name_of(name, own_ns);
  if (codec_names_find(nm, full)) {
    seterr(err, errlen, "type %s defined twice", full);
    free(full);
    return NULL;
  }
  enum kind k = strcmp(t, "record") == 0 ? K_RECORD : strcmp(t, "enum") == 0 ? K_ENUM : K_FIXED;
  struct node *n = node_new(nm, k);
  n->full_name = full;
  const char *dot = strrchr(full, '.');
  n->short_name = dot ? dot + 1 : full;
  codec_names_add(nm, n); /* before the fields: a record may refer to itself */
  /* The namespace for names inside this definition is the one of its full name. */
  char *inner_ns = xstrdup(full);
  char *idot = strrchr(inner_ns, '.');
  if (idot)
    *idot = 0;
  else
    inner_ns[0] = 0;
  int ok = 1;
  if (k == K_RECORD) {
    json_t *fields = json_object_get(s, "fields");
    n->nfields = json_array_size(fields);
    n->fields = xcalloc(n->nfields ? n->nfields : 1, sizeof *n->fields);
    for (size_t i = 0; i < n->nfields && ok; i++) {
      json_t *f = json_array_get(fields, i);
      const char *fname = json_string_value(json_object_get(f, "name"));
      if (!fname) {
        seterr(err, errlen, "%s: field %zu has no name", full, i);
        ok = 0;
        break;
      }
      n->fields[i].name = xstrdup(fname);
      n->fields[i].namelen = strlen(fname);
      n->fields[i].type = codec_parse(json_object_get(f, "type"), inner_ns, nm, depth + 1, err, errlen);
      if (!n->fields[i].type) ok = 0;
      json_t *d = json_object_get(f, "default");
      if (d) n->fields[i].avro_default = json_incref(d);
    }
  } else if (k == K_ENUM) {
    json_t *syms = json_object_get(s, "symbols");
    n->nsymbols = json_array_size(syms);
    n->symbols = xcalloc(n->nsymbols ? n->nsymbols : 1, sizeof *n->symbols);
    for (size_t i = 0; i < n->nsymbols; i++) {
      const char *sym = json_string_value(json_array_get(syms, i));
      if (!sym) {
        seterr(err, errlen, "%s: symbol %zu is not a string", full, i);
        ok = 0;
        break;
      }
      n->symbols[i] = xstrdup(sym);
    }
  } else {
    json_t *size = json_object_get(s, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0) {
      seterr(err, errlen, "%s: fixed without a valid size", full);
      ok = 0;
    } else {
      n->size = (size_t)json_integer_value(size);
    }
  }
  free(inner_ns);
  return ok ? n : NULL;
}

struct node *codec_parse(json_t *s, const char *ns, struct names *nm, int depth, char *err,
                          size_t errlen) {
  if (depth > 200) {
    seterr(err, errlen, "schema nested too deeply");
    return NULL;
  }
  if (json_is_string(s)) {
    const char *t = json_string_value(s);
    int k = primitive_kind(t);
    if (k >= 0) return node_new(nm, (enum kind)k);
    char *full = full_name_of(t, ns);
    struct node *n = codec_names_find(nm, full);
    if (!n && !strchr(t, '.')) n = codec_names_find(nm, t);
    if (!n) seterr(err, errlen, "unknown type %s", full);
    free(full);
    return n;
  }
  if (json_is_array(s)) {
    struct node *n = node_new(nm, K_UNION);
    n->nbranches = json_array_size(s);
    n->branches = xcalloc(n->nbranches ? n->nbranches : 1, sizeof *n->branches);
    for (size_t i = 0; i < n->nbranches; i++) {
      n->branches[i] = codec_parse(json_array_get(s, i), ns, nm, depth + 1, err, errlen);
      if (!n->branches[i]) return NULL;
      if (n->branches[i]->kind == K_NULL) n->null_branch = (int)i;
      /* Barge's JSON convention keys a union value by the branch's short name. */
      for (size_t j = 0; j < i; j++)
        if (strcmp(codec_branch_name(n->branches[j]), codec_branch_name(n->branches[i])) == 0) {
          seterr(err, errlen, "a union has two branches named %s", codec_branch_name(n->branches[i]));
          return NULL;
        }
    }
    n->nullable_pair = n->nbranches == 2 && n->null_branch >= 0;
    return n;
  }
  if (!json_is_object(s)) {
    seterr(err, errlen, "a schema must be a string, an array or an object");
    return NULL;
  }
  json_t *type = json_object_get(s, "type");
  if (!json_is_string(type)) return codec_parse(type, ns, nm, depth + 1, err, errlen);
  const char *t = json_string_value(type);
  int k = primitive_kind(t);
  if (k >= 0) return node_new(nm, (enum kind)k); /* logical types are their underlying type */
  if (strcmp(t, "record") == 0 || strcmp(t, "enum") == 0 || strcmp(t, "fixed") == 0)
    return parse_named(s, t, ns, nm, depth, err, errlen);
  if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
    struct node *n = node_new(nm, t[0] == 'a' ? K_ARRAY : K_MAP);
    n->child = codec_parse(json_object_get(s, t[0] == 'a' ? "items" : "values"), ns, nm, depth + 1, err,
                     errlen);
    return n->child ? n : NULL;
  }
  return codec_parse(type, ns, nm, depth + 1, err, errlen); /* {"type": "barge.Foo"} */
}

size_t codec_min_size(struct node *n) {
  if (n->min_state == 2) return n->min_size;
  if (n->min_state == 1) return 0; /* recursion: an underestimate is safe */
  n->min_state = 1;
  size_t m = 0;
  switch (n->kind) {
  case K_NULL: m = 0; break;
  case K_FLOAT: m = 4; break;
  case K_DOUBLE: m = 8; break;
  case K_FIXED: m = n->size; break;
  case K_BOOLEAN: case K_INT: case K_LONG: case K_BYTES: case K_STRING: case K_ENUM:
    m = 1;
    break;
  case K_ARRAY:
  case K_MAP:
    codec_min_size(n->child); /* the decoder bounds item counts by it */
    m = 1;
    break;
  case K_RECORD:
    for (size_t i = 0; i < n->nfields; i++) m += codec_min_size(n->fields[i].type);
    break;
  case K_UNION: {
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < n->nbranches; i++) {
      size_t b = codec_min_size(n->branches[i]);
      if (b < best) best = b;
    }
    m = 1 + (best == SIZE_MAX ? 0 : best);
    break;
  }
  }
  n->min_size = m;
  n->min_state = 2;
  return m;
}

/* The key a union branch takes in Barge's JSON convention. */
const char *codec_branch_name(const struct node *b) {
  return b->full_name ? b->short_name : codec_kind_names[b->kind];
}

/* ---- Parsing Canonical Form ---- */

static void canon_str(struct buf *o, const char *s) {
  buf_append(o, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      buf_printf(o, "\\%c", *p);
    else if (*p < 0x20)
      buf_printf(o, "\\u%04x", *p);
    else
      buf_append(o, p, 1);
  }
  buf_append(o, "\"", 1);
}

/* The start of a named type's canonical form: {"name":"<full name>","type":"<type>" */
static void canon_named(struct buf *o, const struct node *n, const char *type) {
  buf_append(o, "{\"name\":", 8);
  canon_str(o, n->full_name);
  buf_printf(o, ",\"type\":\"%s\"", type);
}

void codec_canon(struct buf *o, struct node *n, unsigned mark) {
  if (n->full_name) {
    if (n->canon_mark == mark) {
      canon_str(o, n->full_name);
      return;
    }
    n->canon_mark = mark;
  }
  switch (n->kind) {
  case K_NULL: case K_BOOLEAN: case K_INT: case K_LONG: case K_FLOAT: case K_DOUBLE: case K_BYTES:
  case K_STRING:
    canon_str(o, codec_kind_names[n->kind]);
    break;
  case K_RECORD:
    canon_named(o, n, "record");
    buf_printf(o, ",\"fields\":[");
    for (size_t i = 0; i < n->nfields; i++) {
      buf_printf(o, "%s{\"name\":", i ? "," : "");
      canon_str(o, n->fields[i].name);
      buf_printf(o, ",\"type\":");
      codec_canon(o, n->fields[i].type, mark);
      buf_append(o, "}", 1);
    }
    buf_append(o, "]}", 2);
    break;
  case K_ENUM:
    canon_named(o, n, "enum");
    buf_printf(o, ",\"symbols\":[");
    for (size_t i = 0; i < n->nsymbols; i++) {
      if (i) buf_append(o, ",", 1);
      canon_str(o, n->symbols[i]);
    }
    buf_append(o, "]}", 2);
    break;
  case K_FIXED:
    canon_named(o, n, "fixed");
    buf_printf(o, ",\"size\":%zu}", n->size);
    break;
  case K_ARRAY:
    buf_printf(o, "{\"type\":\"array\",\"items\":");
    codec_canon(o, n->child, mark);
    buf_append(o, "}", 1);
    break;
  case K_MAP:
    buf_printf(o, "{\"type\":\"map\",\"values\":");
    codec_canon(o, n->child, mark);
    buf_append(o, "}", 1);
    break;
  case K_UNION:
    buf_append(o, "[", 1);
    for (size_t i = 0; i < n->nbranches; i++) {
      if (i) buf_append(o, ",", 1);
      codec_canon(o, n->branches[i], mark);
    }
    buf_append(o, "]", 1);
    break;
  }
}
