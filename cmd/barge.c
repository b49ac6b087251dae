/* barge.c: the one binary. A table of subcommands (git-style): the services, `barge up`, and
 * the AWS Batch user commands, which take the same flags and JSON as `aws batch`. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "util.h"

int cmd_job_id_usage(const char *cmd, const char *id) {
  if (job_id_ok(id, 1)) return 0;
  fprintf(stderr,
          "barge %s: '%.80s%s' is not a job id: " JOB_ID_RULE "\n",
          cmd, id, strlen(id) > 80 ? "..." : "");
  return 2;
}

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
          "Options may come before the command too: barge --output text describe-jobs ...\n"
          "Exit status: the AWS Batch commands exit as the AWS CLI v2 does: 0 success, 252 bad\n"
          "usage or input, 254 the request was refused (ClientException), 255 any other error.\n"
          "Services and tools: 0 success, 1 runtime or service error, 2 bad usage or input.\n");
}

static int is_command(const char *w) {
  for (size_t i = 0; i < sizeof services / sizeof *services; i++)
    if (!strcmp(w, services[i].name)) return 1;
  return cmd_is_aws(w);
}

/* Options before the command, as the aws CLI takes its global ones (`aws --output json batch
 * describe-jobs`): `barge --output json describe-jobs`, `barge --brokers H:P status`. The first
 * word that names a command is the command; the words before it go after it, in their order
 * (a value such as `json` is never a command's name). 1 when argv was so rearranged. */
static int command_first(int argc, char **argv) {
  int at = 1;
  while (at < argc && !is_command(argv[at])) {
    if (strncmp(argv[at], "--", 2) != 0 && (at == 1 || strncmp(argv[at - 1], "--", 2) != 0)) return 0;
    at++;
  }
  if (at == 1 || at >= argc) return 0;
  char *cmd = argv[at];
  memmove(argv + 2, argv + 1, sizeof *argv * (size_t)(at - 1));
  argv[1] = cmd;
  return 1;
}

/* What a command printed must have reached stdout: a full disk or a closed stdout lost it while
 * the command exited 0 (`barge usage > report.csv` on a full disk left a cut report, exit 0). A
 * failed write of stdout turns a success into a runtime error: runtime_rc (1 for the services
 * and tools, 255 for the AWS Batch commands). */
static int output_written(int rc, int runtime_rc) {
  errno = 0;
  if (fflush(stdout) == 0 && !ferror(stdout)) return rc;
  if (rc) return rc;
  int e = errno;
  fprintf(stderr, "barge: cannot write the output%s%s\n", e ? ": " : "", e ? strerror(e) : "");
  return runtime_rc;
}

static int run_main(int argc, char **argv);

/* `barge CMD --help`, `-h`, or the AWS CLI's `barge OPERATION help`: help is printed whatever
 * the environment holds. */
static int asks_help(int argc, char **argv) {
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
  return argc == 3 && !strcmp(argv[2], "help");
}

int main(int argc, char **argv) {
  int rc = run_main(argc, argv);
  /* the command's name, after run_main moved it first (`barge --output json describe-jobs`) */
  const char *cmd = argc >= 3 && !strcmp(argv[1], "help") ? argv[2] : argc >= 2 ? argv[1] : "";
  return output_written(rc, cmd_is_aws(cmd) ? 255 : 1);
}

static int run_main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "help") && strncmp(argv[2], "-", 1)) {
    /* `barge help COMMAND` is `barge COMMAND --help`, as `git help COMMAND`; it used to print the
     * command list (exit 0) whatever COMMAND was, one that does not exist included */
    if (!is_command(argv[2])) {
      fprintf(stderr, "barge help: '%s' is not a barge command. See 'barge --help'.\n", argv[2]);
      return 2;
    }
    char *sub[] = {argv[0], argv[2], "--help", NULL};
    return run_main(3, sub);
  }
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "--version")) return cmd_version(argc - 1, argv + 1);
  if (!strncmp(argv[1], "--", 2)) command_first(argc, argv);
  if (is_command(argv[1]) && !asks_help(argc, argv)) {
    /* a bad BARGE_* value was taken silently (BARGE_LOG=verbose as info), or written into every
     * ARN (BARGE_REGION=us:east): bad usage, before the command does anything */
    char err[512];
    if (env_config_check(err, sizeof err)) {
      fprintf(stderr, "barge %s: %s\n", argv[1], err);
      return cmd_is_aws(argv[1]) ? 252 : 2;
    }
  }
  for (size_t i = 0; i < sizeof services / sizeof *services; i++)
    if (!strcmp(argv[1], services[i].name)) return services[i].fn(argc - 1, argv + 1);
  if (cmd_is_aws(argv[1])) return cmd_aws(argc - 1, argv + 1);
  if (!strncmp(argv[1], "--", 2))
    fprintf(stderr, "barge: no command after '%s' (a command first or after the options: barge describe-jobs "
            "--output json ...; barge --output json describe-jobs ...). See 'barge --help'.\n", argv[1]);
  else
    fprintf(stderr, "barge: '%s' is not a barge command. See 'barge --help'.\n", argv[1]);
  return 2;
}
