/* instances.c: `barge instances`: instances with type, state, capacity and the jobs on them
 * (consumers/views/instances_view.c). */
#include <string.h>

#include "cmds.h"
#include "instances_view.h"
#include "jsonget.h"
#include "opts.h"
#include "service.h"
#include "views.h"

struct instances_opts {
  struct kafka_opts kafka;
  const char *ce, *output;
  int all, events, decisions;
};
static const struct opt_spec instances_rows[] = {
    OPT_ROW_DOC(struct instances_opts, ce, "compute-environment", "NAME", "all", "only this compute environment (name or ARN; one that does not exist: exit 1)"),
    OPT_FLAG_ROW(struct instances_opts, all, "all", "include terminated, lost and failed instances"),
    OPT_ROW(struct instances_opts, output, "output", "table|json", "table", "output format"),
    OPT_FLAG_ROW(struct instances_opts, events, "events",
                 "print every instance event retained in barge.instances as JSON lines"),
    OPT_FLAG_ROW(struct instances_opts, decisions, "decisions",
                 "print the scaling decisions (barge.scaling) as JSON lines"),
    OPTS_KAFKA(struct instances_opts, kafka),
};
const struct opts_cmd instances_opts_cmd =
    OPTS_CMD("instances", "[--compute-environment CE] [--all] [--output table|json] [--events|--decisions]",
             "Lists instances with type, state, capacity and the jobs on them.", instances_rows,
             struct instances_opts, NULL);

/* The name of the compute environment `ce` (a name or an ARN) names, into name: the instances'
 * events carry names. One that does not exist is said so, exit 1 (as `barge watch --queue`
 * does), rather than an empty listing that reads as "no instances". 0, or the exit status. */
static int ce_name(const struct bus_conf *bc, const char *ce, char *name, size_t n) {
  char err[1024];
  struct config_view cv;
  if (config_view_load(bc, &cv, err, sizeof err)) {
    config_view_release(&cv);
    fprintf(stderr, "barge instances: reading the configuration: %s\n", err);
    return 1;
  }
  const char *found = jget_str(config_find(cv.ces, "computeEnvironmentName", ce), "computeEnvironmentName");
  if (found) snprintf(name, n, "%s", found);
  config_view_release(&cv);
  if (!found) {
    fprintf(stderr, "barge instances: compute environment %.100s%s does not exist (barge describe-compute-environments lists them)\n",
            ce, strlen(ce) > 100 ? "..." : "");
    return 1;
  }
  return 0;
}

int cmd_instances(int argc, char **argv) {
  struct instances_opts o;
  int r = opts_parse_or_exit(&instances_opts_cmd, &o, argc, argv);
  if (r >= 0) return r;
  if (strcmp(o.output, "table") && strcmp(o.output, "json")) {
    fprintf(stderr, "barge instances: --output must be table or json\n");
    return 2;
  }
  if (o.events && o.decisions) { /* two listings of two topics: one of them was dropped without a word */
    fprintf(stderr, "barge instances: --events and --decisions are two listings (barge.instances, barge.scaling): give one\n");
    return 2;
  }
  if (o.ce && !*o.ce) { /* it said "compute environment  does not exist" */
    fprintf(stderr, "barge instances: --compute-environment needs a name or ARN (leave it out for all)\n");
    return 2;
  }
  struct service_conn conn;
  if ((r = service_connect("instances", &o.kafka, "barge-cli", 0, &conn)) || (r = service_require_broker("instances", &conn))) return r;
  char ce[256];
  if (o.ce && (r = ce_name(&conn.bc, o.ce, ce, sizeof ce))) return r;
  struct instances_query q = {.ce = o.ce ? ce : NULL, .all = o.all,
                              .show = !strcmp(o.output, "json") ? INSTANCES_JSON : INSTANCES_TABLE};
  if (o.events) q.show = INSTANCES_EVENTS;
  if (o.decisions) q.show = INSTANCES_DECISIONS;
  char err[1024];
  if (instances_view_print(&conn.bc, &q, stdout, err, sizeof err)) {
    fprintf(stderr, "barge instances: %s\n", err);
    return 1;
  }
  return 0;
}
