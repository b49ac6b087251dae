/* strmap.c: linear probing with tombstones; grows at 70% load. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char TOMB[] = "";
#define IS_TOMB(k) ((k) == TOMB)

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h ^ (h >> 29);
}

void strmap_init(struct strmap *m) { memset(m, 0, sizeof *m); }
void strmap_release(struct strmap *m) {
  free(m->keys);
  free(m->vals);
  strmap_init(m);
}

static void grow(struct strmap *m) {
  size_t ncap = m->cap ? m->cap * 2 : 64;
  if (m->used - m->tombs < m->cap / 4 && m->cap) ncap = m->cap; /* just rehash tombstones */
  const char **ok = m->keys;
  uint32_t *ov = m->vals;
  size_t ocap = m->cap;
  m->keys = xcalloc(ncap, sizeof *m->keys);
  m->vals = xcalloc(ncap, sizeof *m->vals);
  m->cap = ncap;
  m->used = m->tombs = 0;
  for (size_t i = 0; i < ocap; i++)
    if (ok[i] && !IS_TOMB(ok[i])) strmap_put(m, ok[i], ov[i]);
  free(ok);
  free(ov);
}

void strmap_put(struct strmap *m, const char *key, uint32_t val) {
  if ((m->used + 1) * 10 >= m->cap * 7) grow(m);
  size_t mask = m->cap - 1, i = hash(key) & mask, tomb = SIZE_MAX;
  for (;; i = (i + 1) & mask) {
    const char *k = m->keys[i];
    if (!k) break;
    if (IS_TOMB(k)) {
      if (tomb == SIZE_MAX) tomb = i;
      continue;
    }
    if (!strcmp(k, key)) {
      m->keys[i] = key;
      m->vals[i] = val;
      return;
    }
  }
  if (tomb != SIZE_MAX) {
    i = tomb;
    m->tombs--;
  } else {
    m->used++;
  }
  m->keys[i] = key;
  m->vals[i] = val;
}

uint32_t strmap_get(const struct strmap *m, const char *key) {
  if (!m->cap) return STRMAP_NONE;
  size_t mask = m->cap - 1;
  for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
    const char *k = m->keys[i];
    if (!k) return STRMAP_NONE;
    if (!IS_TOMB(k) && !strcmp(k, key)) return m->vals[i];
  }
}

void strmap_del(struct strmap *m, const char *key) {
  if (!m->cap) return;
  size_t mask = m->cap - 1;
  for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
    const char *k = m->keys[i];
    if (!k) return;
    if (!IS_TOMB(k) && !strcmp(k, key)) {
      m->keys[i] = TOMB;
      m->tombs++;
      return;
    }
  }
}

size_t strmap_size_bytes(const struct strmap *m) {
  return m->cap * (sizeof *m->keys + sizeof *m->vals);
}
