/* jobs_order.h: an ordered set of job slots (a skip list), the order given by the caller's
 * comparison: jobs_store keeps the top-level jobs of each (queue, status) in ListJobs' order,
 * so that a page is a seek and a walk of the page's length. Not thread-safe. */
#ifndef BARGE_JOBS_ORDER_H
#define BARGE_JOBS_ORDER_H
#include <stdint.h>

struct jorder;
/* < 0, 0, > 0 as slot a sorts before, with or after b. */
typedef int (*jorder_cmp)(const void *ctx, uint32_t a, uint32_t b);
/* Non-zero when slot sorts at or before key (a position that is not a slot). */
typedef int (*jorder_upto)(const void *ctx, uint32_t slot, const void *key);

struct jorder *jorder_new(void);
void jorder_free(struct jorder *o);
void jorder_insert(struct jorder *o, uint32_t slot, jorder_cmp cmp, const void *ctx);
void jorder_remove(struct jorder *o, uint32_t slot, jorder_cmp cmp, const void *ctx);
/* Calls fn for every slot in order, from the first one after key (key NULL: from the first);
 * fn returns non-zero to stop. */
void jorder_each(const struct jorder *o, jorder_upto upto, const void *ctx, const void *key,
                 int (*fn)(void *fctx, uint32_t slot), void *fctx);

/* A position for walking either way (valid until the set changes): jorder_seek the first slot
 * after key (key NULL: the first), jorder_seek_back the last slot strictly before key, with
 * before(slot, key) non-zero when slot sorts strictly before key (key NULL: the last slot);
 * NULL past either end. */
struct jorder_node;
const struct jorder_node *jorder_seek(const struct jorder *o, jorder_upto upto, const void *ctx, const void *key);
const struct jorder_node *jorder_seek_back(const struct jorder *o, jorder_upto before, const void *ctx,
                                           const void *key);
const struct jorder_node *jorder_next(const struct jorder_node *n);
const struct jorder_node *jorder_prev(const struct jorder_node *n);
uint32_t jorder_slot(const struct jorder_node *n);
#endif
