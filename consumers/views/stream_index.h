/* stream_index.h: the jobs store's index from a log stream name to the job that has it
 * (jobs_store_find_stream; docs/api.md, "Job logs"). A stream name ("<jd>/default/<taskId>")
 * holds a hashed task id, not the job id, so `barge api` would otherwise have to look at every
 * job to find one stream.
 *
 * An open-addressing table (linear probing, at most 3/4 full) of 16-byte entries: the name's
 * 64-bit hash, the job's slot in the store and the attempt. Names are not kept: a hit is
 * confirmed against the job's record, so a hash collision or an entry left by a removed job
 * costs one look, never a wrong answer. At a million jobs of one attempt each the table is
 * 2^21 entries, 32 MiB (about 32 bytes a job, beside the store's ~1 KB). Not thread-safe: the
 * store's caller locks. */
#ifndef BARGE_STREAM_INDEX_H
#define BARGE_STREAM_INDEX_H
#include <stddef.h>
#include <stdint.h>

struct stream_entry {
  uint64_t h; /* 0: an empty entry */
  uint32_t slot, attempt;
};

struct stream_index {
  struct stream_entry *v;
  size_t n, cap; /* cap: 0 or a power of two */
};

uint64_t stream_index_hash(const char *name); /* never 0 */
void stream_index_release(struct stream_index *x);
/* Adds (h, slot, attempt) unless it is there already. */
void stream_index_put(struct stream_index *x, uint64_t h, uint32_t slot, uint32_t attempt);
/* Removes (h, slot, attempt) when it is there. */
void stream_index_del(struct stream_index *x, uint64_t h, uint32_t slot, uint32_t attempt);
/* The entries of hash h, one per call: *pos 0 to start; the next entry, or NULL at the end. */
const struct stream_entry *stream_index_next(const struct stream_index *x, uint64_t h, size_t *pos);
#endif
