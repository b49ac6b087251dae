/* stream_index.c: see stream_index.h. */
#include "stream_index.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

uint64_t stream_index_hash(const char *name) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ull;
  return h ? h : 1;
}

void stream_index_release(struct stream_index *x) {
  free(x->v);
  memset(x, 0, sizeof *x);
}

static size_t home(const struct stream_index *x, uint64_t h) { return (size_t)(h ^ (h >> 29)) & (x->cap - 1); }

static void grow(struct stream_index *x) {
  struct stream_index old = *x;
  x->cap = old.cap ? old.cap * 2 : 1024;
  x->v = xcalloc(x->cap, sizeof *x->v);
  x->n = 0;
  for (size_t i = 0; i < old.cap; i++)
    if (old.v[i].h) stream_index_put(x, old.v[i].h, old.v[i].slot, old.v[i].attempt);
  free(old.v);
}

void stream_index_put(struct stream_index *x, uint64_t h, uint32_t slot, uint32_t attempt) {
  if ((x->n + 1) * 4 > x->cap * 3) grow(x);
  size_t i = home(x, h);
  for (; x->v[i].h; i = (i + 1) & (x->cap - 1))
    if (x->v[i].h == h && x->v[i].slot == slot && x->v[i].attempt == attempt) return;
  x->v[i] = (struct stream_entry){h, slot, attempt};
  x->n++;
}

void stream_index_del(struct stream_index *x, uint64_t h, uint32_t slot, uint32_t attempt) {
  if (!x->cap) return;
  size_t mask = x->cap - 1, i = home(x, h);
  for (; x->v[i].h; i = (i + 1) & mask)
    if (x->v[i].h == h && x->v[i].slot == slot && x->v[i].attempt == attempt) break;
  if (!x->v[i].h) return;
  /* backward-shift deletion: later entries of the run move up into the hole when their home
   * allows it, so that no probe sequence is cut */
  for (size_t j = (i + 1) & mask; x->v[j].h; j = (j + 1) & mask) {
    size_t k = home(x, x->v[j].h);
    if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
      x->v[i] = x->v[j];
      i = j;
    }
  }
  x->v[i].h = 0;
  x->n--;
}

const struct stream_entry *stream_index_next(const struct stream_index *x, uint64_t h, size_t *pos) {
  if (!x->cap) return NULL;
  size_t mask = x->cap - 1;
  for (size_t i = (home(x, h) + *pos) & mask; *pos < x->cap && x->v[i].h; i = (i + 1) & mask) {
    ++*pos;
    if (x->v[i].h == h) return &x->v[i];
  }
  return NULL;
}
