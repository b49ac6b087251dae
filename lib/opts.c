/* opts.c: see opts.h. */
#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void opts_usage(const char *cmd, const char *synopsis, const struct opt *opts, size_t nopts) {
  printf("usage: barge %s %s\n\n", cmd, synopsis ? synopsis : "[options]");
  for (size_t i = 0; i < nopts; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
             opts[i].arg ? opts[i].arg : "");
    printf("  %-28s %s\n", left, opts[i].help);
  }
  printf("  %-28s %s\n", "--help", "show this help");
}

int opts_parse(const char *cmd, const char *synopsis, int argc, char **argv,
               const struct opt *opts, size_t nopts, const char **pos, int *npos, int maxpos) {
  if (npos) *npos = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      opts_usage(cmd, synopsis, opts, nopts);
      return 1;
    }
    if (strncmp(a, "--", 2) != 0 || !a[2]) {
      if (!pos || !npos || *npos >= maxpos) {
        fprintf(stderr, "barge %s: unexpected argument '%s' (see barge %s --help)\n", cmd, a, cmd);
        return 2;
      }
      pos[(*npos)++] = a;
      continue;
    }
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t nl = eq ? (size_t)(eq - name) : strlen(name);
    const struct opt *o = NULL;
    for (size_t k = 0; k < nopts; k++)
      if (strlen(opts[k].name) == nl && !strncmp(opts[k].name, name, nl)) o = &opts[k];
    if (!o) {
      fprintf(stderr, "barge %s: unknown option '%s' (see barge %s --help)\n", cmd, a, cmd);
      return 2;
    }
    if (!o->arg) {
      if (o->flag) *o->flag = 1;
      continue;
    }
    const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!val) {
      fprintf(stderr, "barge %s: --%s needs a value (%s)\n", cmd, o->name, o->arg);
      return 2;
    }
    if (o->str) *o->str = val;
    if (o->num) {
      char *end;
      errno = 0;
      long long v = strtoll(val, &end, 10);
      if (errno || *end || end == val) {
        fprintf(stderr, "barge %s: --%s expects a whole number, got '%s'\n", cmd, o->name, val);
        return 2;
      }
      *o->num = v;
    }
  }
  return 0;
}
