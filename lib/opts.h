/* opts.h: one small option table drives parsing and --help for the service commands
 * (`barge scheduler`, `barge agent`, `barge up`, ...). Options are `--name value`,
 * `--name=value` or, for flags, `--name`. Positional arguments are collected in order. */
#ifndef BARGE_OPTS_H
#define BARGE_OPTS_H
#include <stddef.h>

struct opt {
  const char *name;  /* without the dashes */
  const char *arg;   /* "N", "HOST:PORT", ...; NULL for a flag */
  const char **str;  /* string target (borrowed from argv) */
  long long *num;    /* integer target */
  int *flag;         /* flag target (set to 1) */
  const char *help;  /* one line; defaults are stated in it */
};

/* Returns 0 to go on, 1 when --help was printed (exit 0), 2 after printing a usage error
 * (exit 2). pos/npos receive positional arguments (may be NULL when none are allowed). */
int opts_parse(const char *cmd, const char *synopsis, int argc, char **argv,
               const struct opt *opts, size_t nopts, const char **pos, int *npos, int maxpos);
void opts_usage(const char *cmd, const char *synopsis, const struct opt *opts, size_t nopts);
#endif
