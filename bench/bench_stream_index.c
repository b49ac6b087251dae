/* bench_stream_index.c: the memory and the speed of the index from log stream name to job that
 * `barge api`'s view keeps for the CloudWatch Logs calls (consumers/views/stream_index.c;
 * docs/api.md, "Job logs"). Fills it with N streams (default 1,000,000: a million jobs of one
 * attempt), named as the scheduler names them ("<jd>/default/<uuid>"), then looks each one up and
 * as many names it does not hold. Prints the table's size and the time per operation; the record
 * decode that confirms a hit in jobs_store_find_stream is not included.
 *
 *   build/bench/bench_stream_index [N] */
#include <stdio.h>
#include <stdlib.h>

#include "bench_args.h"
#include "stream_index.h"
#include "util.h"

static void name_of(size_t i, int miss, char *out, size_t n) {
  snprintf(out, n, "jd-%zu/default/%08zx-%04zx-4%03zx-8%03zx-%012zx", i % 50, i * 2654435761u % 0xffffffffu, i % 0xffff,
           i % 0xfff, (i / 7) % 0xfff, i + (miss ? 1000000000000u : 0));
}

int main(int argc, char **argv) {
  static const char usage[] = "bench_stream_index [streams (1000000)]";
  long nstreams = 1000000;
  if (argc > 2) return bench_unknown("bench_stream_index", usage, argv[2]);
  if (argc > 1 && bench_number("bench_stream_index", usage, "streams", argv[1], 1, &nstreams)) return 2;
  size_t n = (size_t)nstreams;
  struct stream_index x = {0};
  char name[128];
  int64_t t0 = mono_ms();
  for (size_t i = 0; i < n; i++) {
    name_of(i, 0, name, sizeof name);
    stream_index_put(&x, stream_index_hash(name), (uint32_t)i, 1);
  }
  int64_t t1 = mono_ms();
  size_t hits = 0, misses = 0, probes = 0;
  for (size_t i = 0; i < n; i++) {
    name_of(i, 0, name, sizeof name);
    size_t pos = 0;
    uint64_t h = stream_index_hash(name);
    for (const struct stream_entry *e; (e = stream_index_next(&x, h, &pos));) hits += e->slot == (uint32_t)i;
    probes += pos;
  }
  int64_t t2 = mono_ms();
  for (size_t i = 0; i < n; i++) {
    name_of(i, 1, name, sizeof name);
    size_t pos = 0;
    misses += stream_index_next(&x, stream_index_hash(name), &pos) == NULL;
  }
  int64_t t3 = mono_ms();
  double mib = (double)x.cap * sizeof *x.v / (1024.0 * 1024.0);
  printf("streams %zu: table of %zu entries (%.0f%% full), %.1f MiB, %.1f bytes a stream\n", x.n, x.cap,
         100.0 * (double)x.n / (double)x.cap, mib, (double)x.cap * sizeof *x.v / (double)(n ? n : 1));
  printf("put    %.0f ns a stream (the name formatted and hashed included)\n", 1e6 * (double)(t1 - t0) / (double)n);
  printf("lookup %.0f ns a stream found, its name formatted and hashed included (%zu of %zu, %.2f slots "
         "probed each)\n",
         1e6 * (double)(t2 - t1) / (double)n, hits, n, (double)probes / (double)n);
  printf("lookup %.0f ns a name not held (%zu of %zu not found)\n", 1e6 * (double)(t3 - t2) / (double)n, misses, n);
  stream_index_release(&x);
  return hits == n ? 0 : 1;
}
