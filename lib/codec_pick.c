/* codec_pick.c: projections, a few fields of a record read without decoding the rest (codec.h
 * has the contract). The walk follows the same schema tree as codec_decode and the same bounds:
 * every length and count is checked against the bytes left, values nest at most PICK_DEPTH
 * deep, and zero-byte items are limited, so corrupt input gives an error, never a crash. Fields
 * no path names are skipped: strings and bytes by their length, arrays and maps by their block
 * byte size when the writer gave one, so nothing is allocated while reading. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_int.h"

#define PICK_DEPTH 64
#define PICK_ZERO_SIZE_ITEMS (1 << 16)

/* A record some paths go into: per field, the path reading it whole (slot) or a projection
 * into it (sub; the field is a record or a union of null and a record). */
struct pnode {
  const struct node *rec;
  int *slot;
  struct pnode **sub;
};

struct codec_pick {
  enum barge_ev_type type;
  size_t n;
  struct pnode *root;
};

static struct pnode *pnode_new(const struct node *rec) {
  struct pnode *p = xcalloc(1, sizeof *p);
  p->rec = rec;
  p->slot = xmalloc((rec->nfields ? rec->nfields : 1) * sizeof *p->slot);
  for (size_t i = 0; i < rec->nfields; i++) p->slot[i] = -1;
  p->sub = xcalloc(rec->nfields ? rec->nfields : 1, sizeof *p->sub);
  return p;
}

static void pnode_free(struct pnode *p) {
  if (!p) return;
  for (size_t i = 0; i < p->rec->nfields; i++) pnode_free(p->sub[i]);
  free(p->slot);
  free(p->sub);
  free(p);
}

/* The record a path steps into through field type t, or NULL. */
static const struct node *into(const struct node *t) {
  if (t->kind == K_RECORD) return t;
  if (t->kind == K_UNION && t->nullable_pair)
    for (size_t b = 0; b < t->nbranches; b++)
      if (t->branches[b]->kind == K_RECORD) return t->branches[b];
  return NULL;
}

static int add_path(struct pnode *p, const char *path, int slot, char *err, size_t errlen) {
  const char *seg = path;
  for (;;) {
    const char *dot = strchr(seg, '.');
    size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
    size_t i = 0;
    while (i < p->rec->nfields && (strlen(p->rec->fields[i].name) != len || memcmp(p->rec->fields[i].name, seg, len)))
      i++;
    if (i == p->rec->nfields) {
      snprintf(err, errlen, "%s: no field %.*s in %s", path, (int)len, seg, p->rec->full_name);
      return -1;
    }
    if (!dot) {
      if (p->sub[i] || p->slot[i] >= 0) {
        snprintf(err, errlen, "%s: named twice", path);
        return -1;
      }
      p->slot[i] = slot;
      return 0;
    }
    const struct node *r = into(p->rec->fields[i].type);
    if (!r || p->slot[i] >= 0) {
      snprintf(err, errlen, "%s: %.*s is not a record to step into", path, (int)len, seg);
      return -1;
    }
    if (!p->sub[i]) p->sub[i] = pnode_new(r);
    p = p->sub[i];
    seg = dot + 1;
  }
}

struct codec_pick *codec_pick_new(enum barge_ev_type t, const char *const *paths, size_t n, char *err,
                                  size_t errlen) {
  const struct node *root = codec_root(t);
  if (!root || root->kind != K_RECORD) {
    snprintf(err, errlen, "codec_pick_new: unknown event type %d (or codec_init not called)", (int)t);
    return NULL;
  }
  struct codec_pick *p = xcalloc(1, sizeof *p);
  p->type = t;
  p->n = n;
  p->root = pnode_new(root);
  for (size_t i = 0; i < n; i++)
    if (add_path(p->root, paths[i], (int)i, err, errlen)) {
      codec_pick_free(p);
      return NULL;
    }
  return p;
}

void codec_pick_free(struct codec_pick *p) {
  if (!p) return;
  pnode_free(p->root);
  free(p);
}

/* ---- the walk ---- */

struct rd {
  const unsigned char *p, *start, *end;
  int depth;
  char *err;
  size_t errlen;
};

static int bad(struct rd *r, const char *what) {
  snprintf(r->err, r->errlen, "%s (offset %zu)", what, (size_t)(r->p - r->start));
  return -1;
}

static int rlong(struct rd *r, int64_t *out) {
  uint64_t z = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (r->p >= r->end) return bad(r, "truncated input");
    unsigned char b = *r->p++;
    if (shift == 63 && (b & 0x7e)) break;
    z |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
      return 0;
    }
  }
  return bad(r, "corrupt varint");
}

/* A length, then that many bytes (their start in *s). */
static int rspan(struct rd *r, const char **s, size_t *n) {
  int64_t len;
  if (rlong(r, &len)) return -1;
  if (len < 0 || (uint64_t)len > (uint64_t)(r->end - r->p)) return bad(r, "length exceeds the bytes left");
  *s = (const char *)r->p;
  *n = (size_t)len;
  r->p += len;
  return 0;
}

static int skip(const struct node *n, struct rd *r);

/* An array's or map's items (skipped), counted. */
static int skip_items(const struct node *n, struct rd *r, int64_t *count) {
  size_t item = n->kind == K_MAP ? 1 + n->child->min_size : n->child->min_size;
  int64_t total = 0;
  for (;;) {
    int64_t cnt;
    if (rlong(r, &cnt)) return -1;
    if (!cnt) break;
    if (cnt == INT64_MIN) return bad(r, "corrupt block count");
    if (cnt < 0) {
      const char *s;
      size_t bytes;
      if (rspan(r, &s, &bytes)) return -1; /* the block's byte size: skipped at once */
      total -= cnt;
      continue;
    }
    uint64_t limit = item ? (uint64_t)(r->end - r->p) / item : PICK_ZERO_SIZE_ITEMS;
    if ((uint64_t)cnt > limit || (!item && (uint64_t)(total + cnt) > PICK_ZERO_SIZE_ITEMS))
      return bad(r, "impossible block count");
    for (int64_t i = 0; i < cnt; i++) {
      const char *s;
      size_t len;
      if (n->kind == K_MAP && rspan(r, &s, &len)) return -1;
      if (skip(n->child, r)) return -1;
    }
    total += cnt;
  }
  *count = total;
  return 0;
}

static int union_branch(const struct node *n, struct rd *r, const struct node **b) {
  int64_t i;
  if (rlong(r, &i)) return -1;
  if (i < 0 || (uint64_t)i >= n->nbranches) return bad(r, "union index out of range");
  *b = n->branches[i];
  return 0;
}

static int skip(const struct node *n, struct rd *r) {
  if (r->depth >= PICK_DEPTH) return bad(r, "values nested too deep");
  r->depth++;
  int rc = 0;
  int64_t v;
  const char *s;
  size_t len;
  const struct node *b;
  switch (n->kind) {
  case K_NULL:
    break;
  case K_BOOLEAN:
    if (r->p >= r->end) rc = bad(r, "truncated input");
    else r->p++;
    break;
  case K_INT:
  case K_LONG:
  case K_ENUM:
    rc = rlong(r, &v);
    break;
  case K_FLOAT:
  case K_DOUBLE:
  case K_FIXED:
    len = n->kind == K_FLOAT ? 4 : n->kind == K_DOUBLE ? 8 : n->size;
    if ((size_t)(r->end - r->p) < len) rc = bad(r, "truncated input");
    else r->p += len;
    break;
  case K_BYTES:
  case K_STRING:
    rc = rspan(r, &s, &len);
    break;
  case K_RECORD:
    for (size_t i = 0; i < n->nfields && !rc; i++) rc = skip(n->fields[i].type, r);
    break;
  case K_UNION:
    rc = union_branch(n, r, &b) ? -1 : skip(b, r);
    break;
  case K_ARRAY:
  case K_MAP:
    rc = skip_items(n, r, &v);
    break;
  }
  r->depth--;
  return rc;
}

/* One named value into f. */
static int leaf(const struct node *n, struct rd *r, struct codec_field *f) {
  const struct node *b;
  int64_t v;
  switch (n->kind) {
  case K_UNION:
    if (union_branch(n, r, &b)) return -1;
    return b->kind == K_NULL ? (f->kind = CF_NULL, 0) : leaf(b, r, f);
  case K_INT:
  case K_LONG:
    f->kind = CF_INT;
    return rlong(r, &f->i);
  case K_BOOLEAN:
    if (r->p >= r->end) return bad(r, "truncated input");
    if (*r->p > 1) return bad(r, "invalid boolean byte");
    f->kind = CF_BOOL;
    f->i = *r->p++;
    return 0;
  case K_STRING:
    f->kind = CF_STRING;
    return rspan(r, &f->s, &f->n);
  case K_ENUM:
    if (rlong(r, &v)) return -1;
    if (v < 0 || (uint64_t)v >= n->nsymbols) return bad(r, "enum index out of range");
    f->kind = CF_STRING;
    f->s = n->symbols[v];
    f->n = strlen(f->s);
    return 0;
  case K_ARRAY:
  case K_MAP:
    f->kind = CF_COUNT;
    return skip_items(n, r, &f->i);
  default:
    f->kind = CF_OTHER;
    return skip(n, r);
  }
}

static int walk(const struct pnode *pn, struct rd *r, struct codec_field *out) {
  if (r->depth >= PICK_DEPTH) return bad(r, "values nested too deep");
  r->depth++;
  int rc = 0;
  for (size_t i = 0; i < pn->rec->nfields && !rc; i++) {
    const struct node *t = pn->rec->fields[i].type;
    if (pn->sub[i]) {
      if (t->kind == K_UNION) { /* null | record: the paths under a null stay CF_NULL */
        if (union_branch(t, r, &t)) rc = -1;
        else if (t->kind != K_NULL) rc = t->kind == K_RECORD ? walk(pn->sub[i], r, out) : skip(t, r);
      } else {
        rc = walk(pn->sub[i], r, out);
      }
    } else if (pn->slot[i] >= 0) {
      rc = leaf(t, r, &out[pn->slot[i]]);
    } else {
      rc = skip(t, r);
    }
  }
  r->depth--;
  return rc;
}

int codec_pick_decode(const struct codec_pick *p, const void *data, size_t len, struct codec_field *out,
                      char *err, size_t errlen) {
  enum barge_ev_type t;
  size_t hdr;
  if (codec_frame(NULL, data, len, &t, &hdr, err, errlen)) return 1;
  if (t != p->type) {
    snprintf(err, errlen, "a %s, not a %s", barge_schema_name[t], barge_schema_name[p->type]);
    return 1;
  }
  for (size_t i = 0; i < p->n; i++) out[i] = (struct codec_field){.kind = CF_NULL};
  char why[256];
  struct rd r = {(const unsigned char *)data + hdr, (const unsigned char *)data + hdr, (const unsigned char *)data + len,
                 0, why, sizeof why};
  if (walk(p->root, &r, out)) {
    snprintf(err, errlen, "%s: %s", barge_schema_name[t], why);
    return 1;
  }
  if (r.p != r.end) {
    snprintf(err, errlen, "%s: %zu trailing bytes after the body", barge_schema_name[t], (size_t)(r.end - r.p));
    return 1;
  }
  return 0;
}
