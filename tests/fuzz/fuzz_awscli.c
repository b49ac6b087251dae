/* fuzz_awscli: the `aws batch` command line (producers/aws/awscli.h): flags, JSON and shorthand
 * values, --cli-input-json, global options, then --query over the parsed request.
 *
 * The input is argv, one argument per line ('\n'). The first line names the operation
 * (`submit-job`); when it names none, a hash of it picks one of the table, so every operation
 * is reachable. Inputs mentioning `file` are skipped: file:// and fileb:// read the named file,
 * which for /dev/zero or /dev/stdin never ends (as with the AWS CLI), and is not the parser. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "awscli.h"

#define MAX_ARGS 256

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  devnull = fopen("/dev/null", "w");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  if (len > 64 * 1024 || memmem(data, len, "file", 4)) return 0;
  char *text = malloc(len + 1);
  memcpy(text, data, len);
  text[len] = 0;
  char *argv[MAX_ARGS + 1];
  int argc = 0;
  for (char *p = text; argc < MAX_ARGS;) {
    argv[argc++] = p;
    char *nl = memchr(p, '\n', (size_t)(text + len - p));
    if (!nl) break;
    *nl = 0;
    p = nl + 1;
  }
  argv[argc] = NULL;

  const struct aws_op *op = aws_op_find(argv[0]);
  if (!op) {
    uint32_t h = 2166136261u;
    for (const char *c = argv[0]; *c; c++) h = (h ^ (uint8_t)*c) * 16777619u;
    op = &aws_ops[h % aws_n_ops];
  }
  /* globals before the operation, as `barge --region r submit-job` */
  struct awscli_globals g;
  awscli_globals_init(&g);
  char err[1024];
  int next = 0;
  int rg = awscli_parse_globals(argc, argv, &next, &g, err, sizeof err);
  if (rg == 0 && (next < 0 || next > argc)) abort();

  awscli_globals_init(&g);
  json_t *req = NULL;
  if (awscli_parse(op, argc, argv, &req, &g, err, sizeof err) == 0) {
    if (g.action == AWSCLI_RUN) {
      if (!req) abort();
      (void)!awscli_print(req, &g, devnull, err, sizeof err); /* --query and --output over the request as if it were the answer */
    } else if (req) {
      abort();
    }
  } else if (req) {
    abort();
  }
  json_decref(req);
  free(text);
  return 0;
}
