/* test_util.c: lib/util.c's identifiers. uuid_v4 (every event header's event_id) writes the
 * 8-4-4-4-12 lower-case form with the version 4 and RFC 4122 variant bits, and repeats none in
 * 20,000 draws. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util.h"

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

static int well_formed(const char *u) {
  if (strlen(u) != 36) return 0;
  for (int i = 0; i < 36; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? u[i] != '-' : !((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f'))) return 0;
  }
  return u[14] == '4' && strchr("89ab", u[19]) != NULL;
}

int main(void) {
  TEST("uuid_v4: the 8-4-4-4-12 form, version 4, RFC 4122 variant, no repeats");
  enum { N = 20000 };
  char(*ids)[37] = xmalloc(N * sizeof *ids);
  int bad = 0;
  for (int i = 0; i < N; i++) {
    memset(ids[i], 'x', sizeof ids[i]);
    uuid_v4(ids[i]);
    if (!well_formed(ids[i])) {
      if (!bad) fprintf(stderr, "malformed: %.37s\n", ids[i]);
      bad++;
    }
  }
  CHECK(bad == 0, "%d of %d identifiers malformed", bad, N);
  qsort(ids, N, sizeof *ids, cmp);
  int dup = 0;
  for (int i = 1; i < N; i++) dup += strcmp(ids[i - 1], ids[i]) == 0;
  CHECK(dup == 0, "%d repeated identifiers", dup);
  printf("   e.g. %s\n", ids[0]);
  free(ids);
  return check_summary();
}
