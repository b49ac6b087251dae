/* bench_args.h: the benchmarks' checks of their own arguments. A size that is not a whole number
 * of at least its minimum, or an option the benchmark does not know (one renamed since), is said
 * on stderr with the usage and the benchmark exits 2, instead of running with 0 or a default and
 * printing nan figures with exit 0 (tests/e2e/test_bench_smoke.py checks it). */
#ifndef BARGE_BENCH_ARGS_H
#define BARGE_BENCH_ARGS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* *out = s as a whole number >= min; else says so (prog: what, usage) and returns 2. */
__attribute__((warn_unused_result)) static inline int bench_number(const char *prog, const char *usage,
                                                                   const char *what, const char *s, long min,
                                                                   long *out) {
  char *end = NULL;
  errno = 0;
  long v = s ? strtol(s, &end, 10) : 0;
  if (!s || errno || end == s || *end || v < min) {
    fprintf(stderr, "%s: %s wants a whole number, %ld or more (got '%s')\nusage: %s\n", prog, what, min,
            s ? s : "nothing", usage);
    return 2;
  }
  *out = v;
  return 0;
}

/* Says that arg is not an option of prog (or lacks its value); returns 2, the exit status. */
static inline int bench_unknown(const char *prog, const char *usage, const char *arg) {
  fprintf(stderr, "%s: unknown option or missing value: %s\nusage: %s\n", prog, arg, usage);
  return 2;
}

#endif
