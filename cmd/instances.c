/* instances.c: `barge instances`: instances with type, state, capacity and the jobs on them
 * (consumers/views/instances_view.c). */
#include <string.h>

#include "cmds.h"
#include "instances_view.h"
#include "opts.h"
#include "stack.h"

int cmd_instances(int argc, char **argv) {
  const char *brokers_flag = NULL, *prefix_flag = NULL, *ce = NULL, *output = "table";
  int all = 0, events = 0, decisions = 0;
  const struct opt opts[] = {
      {"compute-environment", "NAME", &ce, NULL, NULL, "only this compute environment"},
      {"all", NULL, NULL, NULL, &all, "include terminated, lost and failed instances"},
      {"output", "table|json", &output, NULL, NULL, "output format (default table)"},
      {"events", NULL, NULL, NULL, &events, "print every instance event retained in barge.instances as JSON lines"},
      {"decisions", NULL, NULL, NULL, &decisions, "print the scaling decisions (barge.scaling) as JSON lines"},
      {"brokers", "HOST:PORT", &brokers_flag, NULL, NULL, "Kafka bootstrap servers (default: the stack of `barge up`)"},
      {"topic-prefix", "P", &prefix_flag, NULL, NULL, "topic name prefix (default barge.)"},
  };
  int r = opts_parse("instances", "[--compute-environment CE] [--all] [--output table|json] [--events|--decisions]",
                     argc, argv, opts, sizeof opts / sizeof *opts, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  if (strcmp(output, "table") && strcmp(output, "json")) {
    fprintf(stderr, "barge instances: --output must be table or json\n");
    return 2;
  }
  struct service sv;
  if ((r = service_connect("instances", brokers_flag, prefix_flag, NULL, "barge-cli", 0, &sv))) return r;
  struct instances_query q = {.ce = ce, .all = all, .show = !strcmp(output, "json") ? INSTANCES_JSON : INSTANCES_TABLE};
  if (events) q.show = INSTANCES_EVENTS;
  if (decisions) q.show = INSTANCES_DECISIONS;
  char err[1024];
  if (instances_view_print(&sv.bc, &q, stdout, err, sizeof err)) {
    fprintf(stderr, "barge instances: %s\n", err);
    return 1;
  }
  return 0;
}
