/* heap.h: a binary min-heap of fixed-size items ordered by a caller's "before" function; the
 * event queues of the simulators (driver_sim, replay simulate) run on it. Not thread-safe. */
#ifndef BARGE_HEAP_H
#define BARGE_HEAP_H
#include <stddef.h>

struct heap {
  unsigned char *items;
  size_t n, cap, size;                       /* count, capacity, bytes per item */
  int (*before)(const void *a, const void *b); /* strict order: a comes out before b */
};

/* An empty heap of items of `size` bytes. */
void heap_init(struct heap *h, size_t size, int (*before)(const void *, const void *));
void heap_release(struct heap *h);
/* Copies *item in. */
void heap_push(struct heap *h, const void *item);
/* Copies the first item to *out and removes it; 0, or -1 when empty. */
int heap_pop(struct heap *h, void *out);
/* The first item (borrowed), or NULL when empty. */
const void *heap_peek(const struct heap *h);
#endif
