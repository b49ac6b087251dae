/* codec_int.h: what the codec's two files share (lib/codec.c encodes and decodes;
 * lib/codec_schema.c builds the schema tree, its canonical form and fingerprint). Nothing
 * outside the codec includes it. */
#ifndef BARGE_CODEC_INT_H
#define BARGE_CODEC_INT_H
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "schemas_gen.h"
#include "util.h"

enum kind {
  K_NULL, K_BOOLEAN, K_INT, K_LONG, K_FLOAT, K_DOUBLE, K_BYTES, K_STRING,
  K_RECORD, K_ENUM, K_ARRAY, K_MAP, K_UNION, K_FIXED
};

extern const char *const codec_kind_names[];


struct node;

struct field {
  char *name;
  size_t namelen; /* strlen(name), for the paths of error messages */
  struct node *type;
  json_t *avro_default; /* as written in the schema, or NULL */
  json_t *dflt;         /* the same in Barge's JSON convention */
};

struct node {
  enum kind kind;
  char *full_name;        /* record, enum, fixed */
  const char *short_name; /* points into full_name */
  struct field *fields;   /* record */
  size_t nfields;
  char **symbols; /* enum */
  size_t nsymbols;
  struct node *child;     /* array items, map values */
  struct node **branches; /* union */
  size_t nbranches;
  int null_branch;     /* union: index of the null branch or -1 */
  int nullable_pair;   /* union: exactly null and one other type, value written plainly */
  size_t size;         /* fixed */
  size_t min_size;     /* fewest bytes a value of this type can encode to */
  int min_state;       /* 0 not computed, 1 in progress, 2 done */
  unsigned canon_mark; /* canonical form: last emission that wrote this definition */
};

struct type_info {
  struct node *root;
  char *canonical;
  uint64_t fp;
};

struct names {
  struct node **v; /* the named types defined so far */
  size_t n, cap;
  struct node **all; /* every node made by this parse, when it is to be freed (keep_all) */
  size_t nall, capall;
  int keep_all;
};

/* ---- small helpers ---- */

static inline void seterr(char *err, size_t errlen, const char *fmt, ...) BARGE_PRINTF(3, 4);
static inline void seterr(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* The dotted location of the value being worked on, for error messages. */
struct path {
  char s[256];
  size_t len;
  int depth; /* nesting of the value being worked on; the same limit both ways */
};

static inline size_t path_push(struct path *p, const char *seg, size_t seglen) {
  size_t old = p->len;
  size_t need = (old ? 1 : 0) + seglen;
  if (old + need + 1 > sizeof p->s) {
    /* Too deep to spell out; mark the cut and keep going. */
    if (old + 4 < sizeof p->s && (old < 3 || strcmp(p->s + old - 3, "...") != 0)) {
      memcpy(p->s + old, "...", 4);
      p->len = old + 3;
    }
    return old;
  }
  if (old) p->s[p->len++] = '.';
  memcpy(p->s + p->len, seg, seglen);
  p->len += seglen;
  p->s[p->len] = 0;
  return old;
}

static inline size_t path_index(struct path *p, size_t i) {
  size_t old = p->len;
  int n = snprintf(p->s + old, sizeof p->s - old, "[%zu]", i);
  if (n < 0 || (size_t)n >= sizeof p->s - old) {
    p->s[old] = 0;
    return old;
  }
  p->len += (size_t)n;
  return old;
}

static inline void path_pop(struct path *p, size_t old) {
  p->len = old;
  p->s[old] = 0;
}

/* Formats "path: message" (just the message at the top level). */
static inline void perr(char *err, size_t errlen, const struct path *p, const char *fmt, ...)
    BARGE_PRINTF(4, 5);
static inline void perr(char *err, size_t errlen, const struct path *p, const char *fmt, ...) {
  if (!err || !errlen) return;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (p->len)
    snprintf(err, errlen, "%s: %s", p->s, msg);
  else
    snprintf(err, errlen, "%s", msg);
}

/* The little-endian float (4 bytes) or double (8 bytes) at p, as a double. */
static inline double codec_le_real(const unsigned char *p, int is_float) {
  uint64_t u = 0;
  for (int i = 0; i < (is_float ? 4 : 8); i++) u |= (uint64_t)p[i] << (8 * i);
  if (is_float) {
    uint32_t u32 = (uint32_t)u;
    float f;
    memcpy(&f, &u32, 4);
    return f;
  }
  double d;
  memcpy(&d, &u, 8);
  return d;
}

/* ---- the schema tree (codec_schema.c) ---- */

/* Parses schema JSON s into a tree; named types go into nm (and every node, with keep_all). */
struct node *codec_parse(json_t *s, const char *ns, struct names *nm, int depth, char *err,
                         size_t errlen);
struct node *codec_names_find(const struct names *nm, const char *full);
void codec_names_add(struct names *nm, struct node *n);
/* Frees every node a keep_all parse made (the embedded schemas' trees live for the process). */
void codec_names_free_all(struct names *nm);
/* Appends n's Parsing Canonical Form; mark tells definitions already written in this emission. */
void codec_canon(struct buf *o, struct node *n, unsigned mark);
/* The fewest bytes a value of n can encode to (memoised in the node). */
size_t codec_min_size(struct node *n);
/* The key a union branch takes in Barge's JSON convention. */
const char *codec_branch_name(const struct node *b);
/* (codec.c) The event type of framed bytes and the length of their framing header, Confluent
 * ids looked up in ids (NULL: the process's table); non-zero with the reason in err (as
 * codec_decode). The schema tree of an event type (NULL: unknown). */
int codec_frame(const struct codec_ids *ids, const void *data, size_t len, enum barge_ev_type *type_out,
                size_t *hdr_out, char *err, size_t errlen);
const struct node *codec_root(enum barge_ev_type t);
#endif
