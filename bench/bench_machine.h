/* bench_machine.h: the machine a benchmark ran on, for the line each prints first (figures say
 * little without it: docs/benchmarks.md). */
#ifndef BARGE_BENCH_MACHINE_H
#define BARGE_BENCH_MACHINE_H

#include <stdio.h>
#include <string.h>

/* The CPU's model name from /proc/cpuinfo into model ("unknown" when it has none); returns the
 * number of processors it lists. */
static inline int bench_cpu_model(char *model, size_t n) {
  char line[512];
  int cpus = 0;
  snprintf(model, n, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  while (f && fgets(line, sizeof line, f)) {
    const char *c = strchr(line, ':');
    if (!strncmp(line, "model name", 10) && c && !strcmp(model, "unknown")) {
      snprintf(model, n, "%s", c + 2);
      model[strcspn(model, "\n")] = 0;
    }
    if (!strncmp(line, "processor", 9)) cpus++;
  }
  if (f) fclose(f);
  return cpus;
}

#endif
