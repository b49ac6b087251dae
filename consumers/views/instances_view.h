/* instances_view.h: `barge instances`: the instances of every compute environment with their
 * type, lifecycle, state, capacity and the jobs running on them, folded from barge.instances
 * (the latest events of each instance) and barge.jobs (STARTING and RUNNING jobs name their
 * instance). An instance of a compute environment barge.config does not hold (an agent started
 * with a misspelt one) is shown in state "unknown-ce" with a reason, whatever its events say.
 * An older agent incarnation's late word changes no row (lib/states.h, instance_event_stale).
 * Also the raw history for scripts and tests: every retained instance event, or
 * the scaling decisions (barge.scaling), as JSON lines. */
#ifndef BARGE_INSTANCES_VIEW_H
#define BARGE_INSTANCES_VIEW_H
#include <stdio.h>

#include "bus.h"

enum instances_show {
  INSTANCES_TABLE,     /* a table, one instance a line */
  INSTANCES_JSON,      /* {"instances": [...]} */
  INSTANCES_EVENTS,    /* every instance event as a JSON line */
  INSTANCES_DECISIONS, /* every scaling decision as a JSON line */
  INSTANCES__COUNT
};

struct instances_query {
  const char *ce; /* only this compute environment; NULL for all */
  int all;        /* include terminated, lost and failed instances */
  enum instances_show show;
};

/* Prints rows (the "instances" array of INSTANCES_JSON) as INSTANCES_TABLE does: a header,
 * then one line an instance, each column as wide as its widest value. */
void instances_view_table(const json_t *rows, FILE *out);

/* Reads the topics through bc and prints what q asks for to out. 0, or -1 with the reason. */
int instances_view_print(const struct bus_conf *bc, const struct instances_query *q, FILE *out,
                         char *err, size_t errlen) BARGE_WUR;
#endif
