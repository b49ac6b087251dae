/* catalog.h: the instance-type catalogue (docs/job-model.md §4.2): what a managed compute environment may
 * launch, as data. Each type has vCPUs, memory, GPUs, architecture, an on-demand and a spot price
 * and a spot interruption rank (Spot Instance Advisor bucket, 0 best) and monthly rate.
 *
 * The default catalogue is provisioner/catalog/instance-types.json, embedded in the binary at build
 * time; $BARGE_CATALOG (a file) replaces it for every service, `barge provisioner --catalog`
 * for the provisioner alone. A CE's instanceTypes resolve against it: sizes ("c5.8xlarge"),
 * families ("c5": every size but metal), and the aliases the file defines ("optimal",
 * "default_x86_64", "default_arm64"). Schedulable memory is the catalogue memory minus the agent
 * reserve (agentReserveMib, default 32), so a job asking for a type's full memory needs a larger
 * type.
 *
 * Threads: a loaded catalogue is immutable; any thread may read it. catalog_default() is
 * thread-safe. */
#ifndef BARGE_CATALOG_H
#define BARGE_CATALOG_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct catalog_type {
  char name[40];   /* "c5.large" */
  char family[24]; /* "c5" */
  char size[16];   /* "large", "metal", "metal-24xl" */
  char arch[12];   /* "x86_64", "arm64" */
  int vcpus, mem_mib, gpus;
  int metal;
  double od_price, spot_price; /* USD per hour */
  int interrupt_rank;          /* 0 (<5 % a month) .. 4 (>20 %) */
  double interrupt_rate;       /* fraction interrupted per month */
};

struct catalog {
  struct catalog_type *types; /* ordered as in the file */
  size_t n;
  int reserve_mib; /* agent reserve subtracted from memory */
  json_t *aliases; /* name -> [family or type, ...] */
};

/* Parses catalogue JSON text. 0 with *out (free with catalog_free); else err says why. */
int catalog_parse(const char *json_text, struct catalog **out, char *err, size_t errlen) BARGE_WUR;
int catalog_load_file(const char *path, struct catalog **out, char *err, size_t errlen) BARGE_WUR;
void catalog_free(struct catalog *c);

/* The process-wide catalogue: $BARGE_CATALOG if set and loadable, else the embedded one. Never
 * NULL (an unloadable $BARGE_CATALOG is logged once and the embedded one used). */
const struct catalog *catalog_default(void);
/* The embedded catalogue text (provisioner/catalog/instance-types.json). */
const char *catalog_embedded_json(void);

/* A type by exact name; NULL if none. */
const struct catalog_type *catalog_find(const struct catalog *c, const char *name);
/* Index of a type in c->types, or -1. */
int catalog_index(const struct catalog *c, const char *name);

/* Schedulable capacity of a type: vCPUs, memory minus the agent reserve, GPUs. */
int catalog_sched_mem(const struct catalog *c, const struct catalog_type *t);
/* Does one job of this shape fit an empty instance of type t? */
int catalog_type_fits(const struct catalog *c, const struct catalog_type *t, int vcpus,
                      int mem_mib, int gpus);

/* Resolves a CE's instanceTypes (a JSON array of strings; NULL or empty = ["optimal"]) into
 * catalogue indices in preference order: entries in list order, a family or alias expanding in
 * place (sizes ascending by vCPUs), minus types listed explicitly elsewhere in the list, no
 * duplicates. group_out (optional) receives, per resolved type, the position of the list entry
 * it came from (for BEST_FIT_PROGRESSIVE_ORDERED). Unknown names are skipped; *unknown (optional)
 * receives how many. Returns the count; *idx_out (and *group_out) are malloc'd (free them). */
size_t catalog_resolve(const struct catalog *c, const json_t *instance_types, int **idx_out,
                       int **group_out, int *unknown);

/* Whether any type that instance_types allows holds one job of (vcpus, mem_mib, gpus) — for the
 * scheduler's MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT on managed CEs. NULL catalogue =
 * catalog_default(). */
int catalog_fits(const struct catalog *c, const json_t *instance_types, int vcpus, int mem_mib,
                 int gpus);

#endif
