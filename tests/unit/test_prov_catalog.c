/* test_prov_catalog.c: the instance-type catalogue (provisioner/catalog/catalog.c): the embedded default parses
 * and covers the c, m and r families, instanceTypes resolve as docs/job-model.md §4.2 says (sizes, families
 * without metal, aliases, explicit sizes keep their place), catalog_fits applies the agent
 * reserve and GPUs, and bad catalogue files are refused with a reason. */
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "check.h"

static size_t resolve(const char *types_json, int **idx, int **group) {
  json_t *t = json_loads(types_json, 0, NULL);
  size_t n = catalog_resolve(catalog_default(), t, idx, group, NULL);
  json_decref(t);
  return n;
}

static int fits(const char *types_json, int v, int m, int g) {
  json_t *t = json_loads(types_json, 0, NULL);
  int r = catalog_fits(NULL, t, v, m, g);
  json_decref(t);
  return r;
}

int main(void) {
  const struct catalog *c = catalog_default();
  TEST("the embedded catalogue");
  CHECK(c && c->n >= 60, "types: %zu", c ? c->n : 0);
  CHECK_INT(c->reserve_mib, 32);
  const char *families[] = {"c5", "m5", "r5", "c6i", "m6i", "r6i", "c7i", "m6g", "c6g", "r6g", "g4dn"};
  for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
    int sizes = 0;
    for (size_t i = 0; i < c->n; i++) sizes += !strcmp(c->types[i].family, families[f]);
    CHECK(sizes >= 5, "family %s has %d sizes", families[f], sizes);
  }
  const struct catalog_type *t = catalog_find(c, "c5.large");
  CHECK(t && t->vcpus == 2 && t->mem_mib == 4096 && t->gpus == 0 && !strcmp(t->arch, "x86_64"), "c5.large");
  CHECK(t && t->od_price > t->spot_price && t->spot_price > 0, "c5.large prices");
  t = catalog_find(c, "m6g.large");
  CHECK(t && !strcmp(t->arch, "arm64"), "m6g.large is arm64");
  CHECK(catalog_find(c, "c5.nope") == NULL, "unknown type");
  for (size_t i = 0; i < c->n; i++)
    CHECK(c->types[i].interrupt_rank >= 0 && c->types[i].interrupt_rank <= 4, "%s rank", c->types[i].name);

  TEST("resolution: families without metal, sizes ascending; aliases; explicit sizes keep their place");
  int *idx, *group;
  size_t n = resolve("[\"c5\"]", &idx, &group);
  CHECK_INT(n, 8);
  int metal = 0, ascending = 1;
  for (size_t i = 0; i < n; i++) {
    metal |= c->types[idx[i]].metal;
    if (i && c->types[idx[i]].vcpus < c->types[idx[i - 1]].vcpus) ascending = 0;
  }
  CHECK(!metal, "a family excludes metal");
  CHECK(ascending, "sizes ascend");
  free(idx);
  free(group);
  n = resolve("[\"c5.metal\"]", &idx, &group);
  CHECK(n == 1 && !strcmp(c->types[idx[0]].name, "c5.metal"), "an explicit metal size");
  free(idx);
  free(group);
  n = resolve("[\"c5\", \"m5.large\", \"c5.large\"]", &idx, &group);
  CHECK_INT(n, 9);
  CHECK_STR(c->types[idx[0]].name, "c5.xlarge"); /* c5.large is listed explicitly: its own place */
  CHECK_STR(c->types[idx[7]].name, "m5.large");
  CHECK_STR(c->types[idx[8]].name, "c5.large");
  CHECK_INT(group[7], 1);
  CHECK_INT(group[8], 2);
  free(idx);
  free(group);
  n = resolve("[\"optimal\"]", &idx, &group);
  int fam_ok = 1;
  for (size_t i = 0; i < n; i++) {
    const char *f = c->types[idx[i]].family;
    if (strcmp(f, "m6i") && strcmp(f, "c6i") && strcmp(f, "r6i") && strcmp(f, "c7i")) fam_ok = 0;
  }
  CHECK(n >= 30 && fam_ok, "optimal = the c, m and r families of default_x86_64 (%zu types)", n);
  free(idx);
  free(group);
  n = resolve("[]", &idx, &group);
  CHECK(n >= 30, "no instanceTypes = optimal");
  free(idx);
  free(group);
  n = resolve("[\"default_arm64\"]", &idx, &group);
  int arm = n > 0;
  for (size_t i = 0; i < n; i++) arm &= !strcmp(c->types[idx[i]].arch, "arm64");
  CHECK(arm, "default_arm64 is arm64 only");
  free(idx);
  free(group);
  int unknown = 0;
  json_t *tj = json_loads("[\"c5\", \"z9\", \"c5\"]", 0, NULL);
  n = catalog_resolve(c, tj, &idx, NULL, &unknown);
  json_decref(tj);
  CHECK(n == 8 && unknown == 1, "duplicates once, unknown counted (%zu, %d)", n, unknown);
  free(idx);

  TEST("catalog_fits: vCPUs, memory minus the agent reserve, GPUs");
  CHECK(fits("[\"optimal\"]", 1, 1024, 0), "small job");
  CHECK(fits("[\"optimal\"]", 192, 1024, 0), "c7i.48xlarge holds 192 vCPUs");
  CHECK(!fits("[\"optimal\"]", 193, 1024, 0), "nothing holds 193 vCPUs");
  CHECK(fits("[\"c5.large\"]", 2, 4096 - 32, 0), "memory minus the reserve");
  CHECK(!fits("[\"c5.large\"]", 2, 4096, 0), "the full nominal memory does not fit");
  CHECK(!fits("[\"optimal\"]", 1, 1024, 1), "no GPUs in optimal");
  CHECK(fits("[\"g4dn\"]", 4, 8192, 4), "g4dn.12xlarge has 4 GPUs");
  CHECK(!fits("[\"g4dn\"]", 4, 8192, 8), "8 GPUs only in g4dn.metal");
  CHECK(fits("[\"g4dn.metal\"]", 4, 8192, 8), "explicit g4dn.metal");

  TEST("bad catalogues are refused with a reason");
  struct catalog *bad = NULL;
  char err[256];
  CHECK(catalog_parse("{", &bad, err, sizeof err) != 0 && strstr(err, "catalogue"), "syntax: %s", err);
  CHECK(catalog_parse("{\"types\": []}", &bad, err, sizeof err) != 0, "empty types");
  CHECK(catalog_parse("{\"types\": [{\"name\": \"x\", \"vcpus\": 1, \"memoryMib\": 100}]}", &bad, err, sizeof err) != 0 &&
            strstr(err, "FAMILY.SIZE"), "a name without a size: %s", err);
  CHECK(catalog_parse("{\"types\": [{\"name\": \"a.b\", \"vcpus\": 1, \"memoryMib\": 100}, {\"name\": \"a.b\", \"vcpus\": 1, \"memoryMib\": 100}]}",
                      &bad, err, sizeof err) != 0 && strstr(err, "duplicate"), "duplicate: %s", err);
  struct catalog *ok = NULL;
  CHECK(catalog_parse("{\"agentReserveMib\": 0, \"aliases\": {\"mine\": [\"x1\"]}, \"types\": [{\"name\": \"x1.big\", \"vcpus\": 4, \"memoryMib\": 100, \"onDemandPrice\": 1}]}",
                      &ok, err, sizeof err) == 0, "a custom catalogue: %s", err);
  if (ok) {
    json_t *mine = json_loads("[\"mine\"]", 0, NULL);
    CHECK(catalog_fits(ok, mine, 4, 100, 0), "custom alias and no reserve");
    json_decref(mine);
    CHECK(ok->types[0].spot_price == ok->types[0].od_price, "spot price defaults to on-demand");
  }
  catalog_free(ok);
  catalog_free(NULL);
  return check_summary();
}
