/* jobs_order.c: see jobs_order.h. A skip list with p = 1/4 and at most 16 levels (enough for
 * 4^16 slots); level 0 is linked both ways so that a page can be walked backwards. */
#include "jobs_order.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define LEVELS 16

struct node {
  uint32_t slot;
  struct node *prev;   /* level 0's previous node; NULL for the first */
  struct node *next[]; /* as many as the node's level */
};

struct jorder {
  struct node *head; /* LEVELS next pointers, no slot */
  int level;
  uint64_t rng;
};

struct jorder *jorder_new(void) {
  struct jorder *o = xcalloc(1, sizeof *o);
  o->head = xcalloc(1, sizeof *o->head + LEVELS * sizeof(struct node *));
  o->level = 1;
  o->rng = 0x9e3779b97f4a7c15ULL;
  return o;
}

void jorder_free(struct jorder *o) {
  if (!o) return;
  for (struct node *n = o->head->next[0], *nx; n; n = nx) {
    nx = n->next[0];
    free(n);
  }
  free(o->head);
  free(o);
}

static int random_level(struct jorder *o) {
  o->rng ^= o->rng << 13, o->rng ^= o->rng >> 7, o->rng ^= o->rng << 17;
  int l = 1;
  for (uint64_t r = o->rng; l < LEVELS && (r & 3) == 0; r >>= 2) l++;
  return l;
}

/* The last node before slot at every level, into prev. */
static void find(const struct jorder *o, uint32_t slot, jorder_cmp cmp, const void *ctx,
                 struct node **prev) {
  struct node *x = o->head;
  for (int i = o->level - 1; i >= 0; i--) {
    while (x->next[i] && cmp(ctx, x->next[i]->slot, slot) < 0) x = x->next[i];
    prev[i] = x;
  }
}

void jorder_insert(struct jorder *o, uint32_t slot, jorder_cmp cmp, const void *ctx) {
  struct node *prev[LEVELS];
  find(o, slot, cmp, ctx, prev);
  int l = random_level(o);
  for (int i = o->level; i < l; i++) prev[i] = o->head;
  if (l > o->level) o->level = l;
  struct node *n = xmalloc(sizeof *n + (size_t)l * sizeof(struct node *));
  n->slot = slot;
  n->prev = prev[0] == o->head ? NULL : prev[0];
  if (prev[0]->next[0]) prev[0]->next[0]->prev = n;
  for (int i = 0; i < l; i++) {
    n->next[i] = prev[i]->next[i];
    prev[i]->next[i] = n;
  }
}

void jorder_remove(struct jorder *o, uint32_t slot, jorder_cmp cmp, const void *ctx) {
  struct node *prev[LEVELS];
  find(o, slot, cmp, ctx, prev);
  struct node *n = prev[0]->next[0];
  if (!n || n->slot != slot) return;
  if (n->next[0]) n->next[0]->prev = n->prev;
  for (int i = 0; i < o->level && prev[i]->next[i] == n; i++) prev[i]->next[i] = n->next[i];
  free(n);
  while (o->level > 1 && !o->head->next[o->level - 1]) o->level--;
}

void jorder_each(const struct jorder *o, jorder_upto upto, const void *ctx, const void *key,
                 int (*fn)(void *fctx, uint32_t slot), void *fctx) {
  struct node *x = o->head;
  if (key)
    for (int i = o->level - 1; i >= 0; i--)
      while (x->next[i] && upto(ctx, x->next[i]->slot, key)) x = x->next[i];
  for (x = x->next[0]; x; x = x->next[0])
    if (fn(fctx, x->slot)) return;
}

/* A struct jorder_node is a struct node seen from outside. */
static const struct jorder_node *pub(const struct node *n) { return (const struct jorder_node *)(const void *)n; }
static const struct node *priv(const struct jorder_node *n) { return (const struct node *)(const void *)n; }

const struct jorder_node *jorder_seek(const struct jorder *o, jorder_upto upto, const void *ctx, const void *key) {
  struct node *x = o->head;
  if (key)
    for (int i = o->level - 1; i >= 0; i--)
      while (x->next[i] && upto(ctx, x->next[i]->slot, key)) x = x->next[i];
  return pub(x->next[0]);
}

const struct jorder_node *jorder_seek_back(const struct jorder *o, jorder_upto before, const void *ctx,
                                           const void *key) {
  struct node *x = o->head;
  for (int i = o->level - 1; i >= 0; i--)
    while (x->next[i] && (!key || before(ctx, x->next[i]->slot, key))) x = x->next[i];
  return x == o->head ? NULL : pub(x);
}

const struct jorder_node *jorder_next(const struct jorder_node *n) { return pub(priv(n)->next[0]); }
const struct jorder_node *jorder_prev(const struct jorder_node *n) { return pub(priv(n)->prev); }
uint32_t jorder_slot(const struct jorder_node *n) { return priv(n)->slot; }
