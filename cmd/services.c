/* services.c: the service subcommands (scheduler, agent), `barge init` and `barge version`. */
#include <string.h>

#include "agent_main.h"
#include "bus.h"
#include "cmds.h"
#include "opts.h"
#include "sched_shell.h"
#include "service.h"

#define BARGE_VERSION "0.1.0"

int cmd_scheduler(int argc, char **argv) { return sched_service_main(argc, argv); }
int cmd_agent(int argc, char **argv) { return agent_service_main(argc, argv); }

int cmd_version(int argc, char **argv) {
  int help = 0;
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help = 1;
    } else {
      fprintf(stderr, "barge version: unexpected argument '%s' (barge version takes none)\n", argv[i]);
      return 2;
    }
  if (help) {
    printf("usage: barge version\n\nPrints Barge's version (\"barge %s\"), as `barge --version` does. Takes no "
           "options.\n",
           BARGE_VERSION);
    return 0;
  }
  printf("barge %s\n", BARGE_VERSION);
  return 0;
}

struct init_opts {
  struct kafka_opts kafka;
};
static const struct opt_spec init_rows[] = {OPTS_KAFKA(struct init_opts, kafka)};
const struct opts_cmd init_opts_cmd =
    OPTS_CMD("init", "[--brokers HOST:PORT]", "Creates the topics (idempotent; services also do it).", init_rows, struct init_opts, NULL);

int cmd_init(int argc, char **argv) {
  struct init_opts o;
  int r = opts_parse_or_exit(&init_opts_cmd, &o, argc, argv);
  if (r >= 0) return r;
  struct service_conn conn;
  if ((r = service_connect("init", &o.kafka, "barge-init", SERVICE_TOPICS | SERVICE_WAIT, &conn))) return r;
  struct bus_conf bc = conn.bc;
  for (int t = 0; t < TOPIC__COUNT; t++) {
    char name[256];
    bus_topic_name(&bc, (enum bus_topic)t, name, sizeof name);
    printf("%-24s partitions=%d cleanup.policy=%s\n", name, bus_topic_partitions((enum bus_topic)t),
           bus_topic_cleanup((enum bus_topic)t));
  }
  return 0;
}
