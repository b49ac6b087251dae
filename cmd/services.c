/* services.c: the service subcommands (scheduler, agent), `barge init` and `barge version`. */
#include <string.h>

#include "agent_main.h"
#include "bus.h"
#include "cmds.h"
#include "opts.h"
#include "sched_shell.h"
#include "stack.h"

#define BARGE_VERSION "0.1.0"

int cmd_scheduler(int argc, char **argv) { return sched_service_main(argc, argv); }
int cmd_agent(int argc, char **argv) { return agent_service_main(argc, argv); }

int cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("barge %s\n", BARGE_VERSION);
  return 0;
}

int cmd_init(int argc, char **argv) {
  const char *brokers_flag = NULL, *prefix_flag = NULL;
  const struct opt opts[] = {
      {"brokers", "HOST:PORT", &brokers_flag, NULL, NULL, "Kafka bootstrap servers (default: the stack of `barge up`)"},
      {"topic-prefix", "P", &prefix_flag, NULL, NULL, "topic name prefix (default barge.)"},
  };
  int r = opts_parse("init", "[--brokers HOST:PORT]", argc, argv, opts, 2, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  struct service sv;
  if ((r = service_connect("init", brokers_flag, prefix_flag, NULL, "barge-init", 1, &sv))) return r;
  struct bus_conf bc = sv.bc;
  for (int t = 0; t < TOPIC__COUNT; t++) {
    char name[256];
    bus_topic_name(&bc, (enum bus_topic)t, name, sizeof name);
    printf("%-24s partitions=%d cleanup.policy=%s\n", name, bus_topic_partitions((enum bus_topic)t),
           bus_topic_cleanup((enum bus_topic)t));
  }
  return 0;
}
