/* example_submit.c: barge-example-submit, the smallest program using the Barge client library
 * (include/barge/client.h): it submits one job given as an AWS SubmitJob JSON object, waits
 * for it and prints its final state.
 *
 *   barge-example-submit [--brokers HOST:PORT] [--topic-prefix P] [--timeout-ms N] [--kafka NAME=VALUE]...
 *                        '{"jobName": "hello", "jobQueue": "q", "jobDefinition": "jd"}'
 *
 * A request given as - is read from stdin (an argument holds at most 128 KiB).
 * Brokers default to $BARGE_BROKERS, the prefix to $BARGE_TOPIC_PREFIX (else "barge.").
 * Prints "submitted <jobId>", then "<jobId> <STATUS> attempts=N exitCode=C reason=..." and the
 * JobDetail. Exit status: 0 SUCCEEDED, 1 FAILED or an error, 2 bad usage, 3 timed out. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "barge/client.h"

static int usage(void) {
  fprintf(stderr, "usage: barge-example-submit [--brokers HOST:PORT] [--topic-prefix P] [--timeout-ms N] [--kafka NAME=VALUE]... SUBMIT_JOB_JSON|-\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *brokers = getenv("BARGE_BROKERS"), *prefix = getenv("BARGE_TOPIC_PREFIX"), *json = NULL;
  int timeout_ms = 600000;
  const char *kafka[32]; /* --kafka NAME=VALUE: librdkafka properties (TLS, SASL) */
  int nkafka = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--brokers") && i + 1 < argc) brokers = argv[++i];
    else if (!strcmp(argv[i], "--topic-prefix") && i + 1 < argc) prefix = argv[++i];
    else if (!strcmp(argv[i], "--kafka") && i + 1 < argc && strchr(argv[i + 1], '=') && nkafka < 32)
      kafka[nkafka++] = argv[++i];
    else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
      /* a whole number of milliseconds: "10s" or "abc" was read as 10 or 0, and a job submitted
       * anyway was reported as timed out (exit 3) at once */
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end || v < 1 || v > INT_MAX) {
        fprintf(stderr, "barge-example-submit: --timeout-ms takes a whole number of milliseconds, 1 or more (got '%s')\n",
                argv[i]);
        return 2;
      }
      timeout_ms = (int)v;
    }
    else if ((argv[i][0] != '-' || !strcmp(argv[i], "-")) && !json) json = argv[i];
    else {
      fprintf(stderr, "barge-example-submit: unexpected argument '%s' (an unknown option, a missing value, "
              "or a second request)\n", argv[i]);
      return usage();
    }
  }
  if (!json) return usage();
  if (!brokers || !*brokers) { /* unlike the barge commands, the example does not read barge up's stack file */
    fprintf(stderr, "barge-example-submit: no Kafka broker: pass --brokers HOST:PORT or set BARGE_BROKERS "
            "(a `barge up` stack's is the brokers= line of $BARGE_HOME/stack, ~/.barge/stack by default)\n");
    return 2;
  }
  char *in = NULL;
  if (!strcmp(json, "-")) { /* the request from stdin: an argument holds at most 128 KiB */
    size_t len = 0, cap = 0;
    for (;;) {
      if (cap - len < 65536 && !(in = realloc(in, cap = cap * 2 + 65536))) return 1;
      size_t n = fread(in + len, 1, cap - len - 1, stdin);
      if (!n) break;
      len += n;
    }
    in[len] = 0;
    json = in;
  }
  char err[1024], id[64];
  struct barge_client *c = barge_client_new(brokers, prefix, err, sizeof err);
  if (!c) {
    fprintf(stderr, "barge-example-submit: %s\n", err);
    free(in);
    return 1;
  }
  for (int k = 0; k < nkafka; k++) {
    char name[256];
    const char *eq = strchr(kafka[k], '=');
    snprintf(name, sizeof name, "kafka.%.*s", (int)(eq - kafka[k]), kafka[k]);
    if (barge_client_set(c, name, eq + 1, err, sizeof err) != BARGE_OK) {
      fprintf(stderr, "barge-example-submit: --kafka %s: %s\n", kafka[k], err);
      barge_client_free(c);
      free(in);
      return 2;
    }
  }
  int rc = barge_submit_job(c, json, id, sizeof id, err, sizeof err);
  free(in);
  if (rc != BARGE_OK) { /* BARGE_ERR_OUTCOME_UNKNOWN: err names the job id to look up */
    fprintf(stderr, "barge-example-submit: submit: %s (%s)\n", barge_strerror(rc), err);
    barge_client_free(c);
    return 1;
  }
  printf("submitted %s\n", id);
  fflush(stdout);
  struct barge_job_state st;
  char *detail = NULL;
  rc = barge_wait_job(c, id, timeout_ms, &st, &detail, err, sizeof err);
  if (rc != BARGE_OK) {
    fprintf(stderr, "barge-example-submit: wait: %s (%s)\n", barge_strerror(rc), err);
    barge_client_free(c);
    return rc == BARGE_ERR_TIMEOUT ? 3 : 1;
  }
  printf("%s %s attempts=%d", id, st.status, st.attempts);
  if (st.has_exit_code) printf(" exitCode=%d", st.exit_code);
  if (*st.status_reason) printf(" reason=%s", st.status_reason);
  printf("\n%s\n", detail ? detail : "{}");
  barge_free_string(detail);
  barge_client_free(c);
  return strcmp(st.status, "SUCCEEDED") == 0 ? 0 : 1;
}
