/* config_cache.h: the configuration `barge api`'s write validations read (docs/api.md "The
 * write path"): barge.config kept in memory by a thread that consumes it (read_committed)
 * instead of a reload per request.
 *
 * Freshness: a configuration write made through this process is visible to every request
 * answered after it (config_cache_wait on the written offset before the write is answered).
 * A write made elsewhere (the `barge` command line straight to Kafka) is seen within the
 * consumer's lag, a few ms; and a validation that fails on the cached view is tried again
 * after config_cache_sync has caught up with the topic's end, so no request is refused on a
 * stale view. */
#ifndef BARGE_API_CONFIG_CACHE_H
#define BARGE_API_CONFIG_CACHE_H
#include <stdint.h>

#include "views.h"

struct config_cache;
/* Reads barge.config to its end, then follows it. NULL with the reason in err. */
struct config_cache *config_cache_new(const struct bus_conf *bc, char *err, size_t errlen);
void config_cache_free(struct config_cache *c);
/* The view, borrowed until config_cache_unlock; any number of threads at once. */
const struct config_view *config_cache_lock(struct config_cache *c);
void config_cache_unlock(struct config_cache *c);
/* Waits (up to timeout_ms) until the view includes the record at partition/offset. 0, or -1
 * on timeout. */
int config_cache_wait(struct config_cache *c, int32_t partition, int64_t offset, int timeout_ms);
/* Waits (up to timeout_ms) until the view includes every record written before the call. 0,
 * or -1 (timeout, or the end offsets could not be read). */
int config_cache_sync(struct config_cache *c, int timeout_ms);
#endif
