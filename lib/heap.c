/* heap.c: see heap.h. */
#include "heap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void heap_init(struct heap *h, size_t size, int (*before)(const void *, const void *)) {
  memset(h, 0, sizeof *h);
  h->size = size;
  h->before = before;
}

void heap_release(struct heap *h) {
  free(h->items);
  h->items = NULL;
  h->n = h->cap = 0;
}

static void *at(const struct heap *h, size_t i) { return h->items + i * h->size; }

static void swap(struct heap *h, size_t i, size_t j) {
  unsigned char tmp[256];
  unsigned char *a = at(h, i), *b = at(h, j);
  for (size_t off = 0; off < h->size; off += sizeof tmp) { /* items of any size */
    size_t n = h->size - off < sizeof tmp ? h->size - off : sizeof tmp;
    memcpy(tmp, a + off, n);
    memcpy(a + off, b + off, n);
    memcpy(b + off, tmp, n);
  }
}

void heap_push(struct heap *h, const void *item) {
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 256;
    h->items = xrealloc(h->items, h->cap * h->size);
  }
  size_t i = h->n++;
  memcpy(at(h, i), item, h->size);
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!h->before(at(h, i), at(h, p))) break;
    swap(h, i, p);
    i = p;
  }
}

int heap_pop(struct heap *h, void *out) {
  if (h->n == 0) return -1;
  memcpy(out, at(h, 0), h->size);
  if (--h->n > 0) memcpy(at(h, 0), at(h, h->n), h->size);
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->n && h->before(at(h, l), at(h, m))) m = l;
    if (r < h->n && h->before(at(h, r), at(h, m))) m = r;
    if (m == i) break;
    swap(h, i, m);
    i = m;
  }
  return 0;
}

const void *heap_peek(const struct heap *h) { return h->n ? at(h, 0) : NULL; }
