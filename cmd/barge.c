/* barge.c: the one binary. A table of subcommands (git-style): the services, `barge up`, and
 * the AWS Batch user commands, which take the same flags and JSON as `aws batch`. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"

static const struct cmd {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *help;
} services[] = {
    {"up", cmd_up, "start the whole system on this machine (Kafka if needed and every service)"},
    {"down", cmd_down, "stop the local stack started by `barge up --detach`"},
    {"status", cmd_status, "the stack's services: process, restarts, consumer lag, health"},
    {"init", cmd_init, "create Barge's Kafka topics (idempotent)"},
    {"scheduler", cmd_scheduler, "run the scheduler service"},
    {"provisioner", cmd_provisioner, "run the provisioner service (scaling, drivers local|sim|ec2)"},
    {"agent", cmd_agent, "run an agent: execute jobs placed on one instance"},
    {"api", cmd_api, "serve the AWS Batch REST API (aws --endpoint-url, boto3, SDKs) with SigV4"},
    {"accounting", cmd_accounting, "run the accounting service (usage and cost)"},
    {"audit", cmd_audit, "write or verify a tamper-evident audit log of every event"},
    {"instances", cmd_instances, "list instances: type, state, capacity, what runs on them"},
    {"usage", cmd_usage, "report usage and cost by queue, share, compute environment or job"},
    {"check", cmd_check, "read the whole log and verify the invariants (jobs, attempts, capacity, accounting, audit)"},
    {"replay", cmd_replay, "print, rebuild or simulate from the recorded event log"},
    {"logs", cmd_logs, "print a job attempt's stdout and stderr"},
    {"explain", cmd_explain, "why a job is where it is: its decision timeline from the log"},
    {"watch", cmd_watch, "stream job state changes as JSON lines (Batch Job State Change)"},
    {"version", cmd_version, "print the version"},
    {"completion", cmd_completion, "print the bash completion script (`barge completion bash`)"},
    {"help-config", cmd_help_config, NULL}, /* hidden: writes docs/configuration.md */
};

const char *barge_command_name(size_t i) {
  return i < sizeof services / sizeof *services ? services[i].name : NULL;
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: barge <command> [options]   (barge <command> --help for details)\n\n"
          "Barge runs batch jobs the AWS Batch way on Apache Kafka.\n\n"
          "Services and tools:\n");
  for (size_t i = 0; i < sizeof services / sizeof *services; i++)
    if (services[i].help) fprintf(out, "  %-34s %s\n", services[i].name, services[i].help);
  fputc('\n', out);
  cmd_list_aws(out);
  fprintf(out,
          "\nCommon options: --brokers HOST:PORT (default: the stack `barge up` recorded in\n"
          "$BARGE_HOME/stack, BARGE_HOME defaulting to ~/.barge), --topic-prefix P (barge.).\n"
          "Exit status: the AWS Batch commands exit as the AWS CLI v2 does: 0 success, 252 bad\n"
          "usage or input, 254 the request was refused (ClientException), 255 any other error.\n"
          "Services and tools: 0 success, 1 runtime or service error, 2 bad usage or input.\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "--version")) return cmd_version(argc - 1, argv + 1);
  for (size_t i = 0; i < sizeof services / sizeof *services; i++)
    if (!strcmp(argv[1], services[i].name)) return services[i].fn(argc - 1, argv + 1);
  if (cmd_is_aws(argv[1])) return cmd_aws(argc - 1, argv + 1);
  fprintf(stderr, "barge: '%s' is not a barge command. See 'barge --help'.\n", argv[1]);
  return 2;
}
