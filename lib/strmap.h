/* strmap.h: an open-addressing hash map from borrowed C strings to uint32_t values.
 * Keys are not copied: each key must stay valid while its entry exists. Not thread-safe. */
#ifndef BARGE_STRMAP_H
#define BARGE_STRMAP_H
#include <stddef.h>
#include <stdint.h>

struct strmap {
  const char **keys;
  uint32_t *vals;
  size_t cap, used, tombs;
};
#define STRMAP_NONE UINT32_MAX
void strmap_init(struct strmap *m);
void strmap_release(struct strmap *m);
/* Inserts or replaces. */
void strmap_put(struct strmap *m, const char *key, uint32_t val);
uint32_t strmap_get(const struct strmap *m, const char *key); /* STRMAP_NONE if absent */
void strmap_del(struct strmap *m, const char *key);
size_t strmap_size_bytes(const struct strmap *m);
#endif
