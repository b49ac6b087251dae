/* test_client_args.c: the client library's (include/barge/client.h) refusals of bad arguments,
 * which need no Kafka: barge_client_new and barge_client_set do no I/O, and barge_submit_job
 * checks its request before any.
 *
 * Checked:
 * - a broker list no broker can be at (a port past 65535, which librdkafka took modulo 65536
 *   and so connected elsewhere; a port that is not a number; an empty entry) and a topic prefix
 *   Kafka refuses (a character a topic name cannot hold, more than 100 characters) make
 *   barge_client_new fail with a reason naming the value, not a later BARGE_ERR_KAFKA ("retry
 *   later") after seconds of waiting;
 * - a principal that is empty or not UTF-8 is BARGE_ERR_ARGUMENT at barge_client_set (one not
 *   UTF-8 was dropped without a word: the requests were recorded as $USER's);
 * - good values are taken; NULLs and an err buffer of NULL are refused without a crash;
 * - a BARGE_* variable that configures the client with a bad value (a registry URL without a
 *   scheme, BARGE_MIN_ATTEMPT_DURATION_SECONDS=abc, BARGE_LOG=verbose) makes barge_client_new
 *   fail naming it; they were taken silently (as 1 second, as info) or failed at the first
 *   submission. The same URL check for the option; a kafka.<name> with ',' or '=' is refused. */
#include <stdlib.h>
#include <string.h>

#include "barge/client.h"
#include "check.h"

static int refused_new(const char *brokers, const char *prefix, const char *word) {
  char err[512] = "";
  struct barge_client *c = barge_client_new(brokers, prefix, err, sizeof err);
  int ok = !c && strstr(err, word) != NULL;
  if (!ok) fprintf(stderr, "  barge_client_new(%s, %s): %s\n", brokers, prefix ? prefix : "NULL", c ? "taken" : err);
  barge_client_free(c);
  return ok;
}

int main(void) {
  char err[512];
  TEST("barge_client_new: broker lists no broker can be at are refused, naming the entry");
  CHECK(refused_new("127.0.0.1:99999", NULL, "127.0.0.1:99999"), "a port past 65535");
  CHECK(refused_new("127.0.0.1:notaport", NULL, "notaport"), "a port that is not a number");
  CHECK(refused_new("127.0.0.1:9092,", NULL, "no host"), "an empty entry");
  CHECK(refused_new(",", NULL, "no host"), "only a comma");
  CHECK(refused_new(NULL, NULL, "brokers"), "NULL brokers");
  CHECK(barge_client_new(NULL, NULL, NULL, 0) == NULL, "NULL brokers, no err buffer");

  TEST("barge_client_new: topic prefixes Kafka refuses are refused");
  CHECK(refused_new("127.0.0.1:9092", "bad/prefix!", "bad/prefix!"), "a '/' in the prefix");
  char longp[160];
  memset(longp, 'p', 150);
  longp[150] = 0;
  CHECK(refused_new("127.0.0.1:9092", longp, "at most 100"), "150 characters");
  CHECK(refused_new("127.0.0.1:9092", "caf\xc3\xa9.", "topic_prefix"), "a non-ASCII prefix");

  TEST("barge_client_new: good values are taken");
  const char *good[][2] = {{"127.0.0.1:9092", NULL}, {"a:1,b:2", "barge."}, {"[::1]:9092", "x-y_z."},
                           {"SSL://kafka.example:9093", ""}};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    struct barge_client *c = barge_client_new(good[i][0], good[i][1], err, sizeof err);
    CHECK(c != NULL, "%s %s: %s", good[i][0], good[i][1] ? good[i][1] : "NULL", err);
    barge_client_free(c);
  }

  TEST("barge_client_set: a principal empty or not UTF-8 is refused");
  struct barge_client *c = barge_client_new("127.0.0.1:9092", NULL, err, sizeof err);
  CHECK(c != NULL, "%s", err);
  err[0] = 0;
  CHECK_INT(barge_client_set(c, "principal", "", err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK(strstr(err, "principal") != NULL, "%s", err);
  err[0] = 0;
  CHECK_INT(barge_client_set(c, "principal", "ab\xff", err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK(strstr(err, "UTF-8") != NULL, "%s", err);
  CHECK_INT(barge_client_set(c, "principal", "p\xc3\xa9ter", err, sizeof err), BARGE_OK);
  CHECK_INT(barge_client_set(c, NULL, "x", NULL, 0), BARGE_ERR_ARGUMENT);
  CHECK_INT(barge_client_set(c, "nosuch", "x", NULL, 0), BARGE_ERR_ARGUMENT);

  TEST("barge_submit_job, barge_job_status, barge_wait_job: bad arguments before any I/O");
  char id[64];
  CHECK_INT(barge_submit_job(NULL, "{}", id, sizeof id, NULL, 0), BARGE_ERR_ARGUMENT);
  CHECK_INT(barge_submit_job(c, "{}", id, 10, err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK_INT(barge_submit_job(c, "{\"jobName\":\"\xff\"}", id, sizeof id, err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK_INT(barge_submit_job(c, "[1]", id, sizeof id, err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK(strstr(err, "not an object") != NULL, "%s", err);
  CHECK_INT(barge_job_status(c, "", NULL, NULL, err, sizeof err), BARGE_ERR_ARGUMENT);
  char *detail = (char *)"x";
  CHECK_INT(barge_wait_job(c, NULL, 0, NULL, &detail, err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK(detail == NULL, "detail_json is cleared");
  barge_client_free(c);
  barge_client_free(NULL);

  TEST("barge_client_new: a bad BARGE_* variable is refused, naming it; good and empty ones are taken");
  static const char *const bad_env[][2] = {
      {"BARGE_SCHEMA_REGISTRY_URL", "registry:8080"},   {"BARGE_SCHEMA_REGISTRY_URL", "http://"},
      {"BARGE_SCHEMA_REGISTRY_URL", "ftp://r/x"},       {"BARGE_SCHEMA_REGISTRY_URL", "http://r x/"},
      {"BARGE_MIN_ATTEMPT_DURATION_SECONDS", "abc"},    {"BARGE_MIN_ATTEMPT_DURATION_SECONDS", "0"},
      {"BARGE_MIN_ATTEMPT_DURATION_SECONDS", "-5"},     {"BARGE_MIN_ATTEMPT_DURATION_SECONDS", "10s"},
      {"BARGE_MIN_ATTEMPT_DURATION_SECONDS", "99999999999"}, {"BARGE_LOG", "verbose"}};
  for (size_t i = 0; i < sizeof bad_env / sizeof *bad_env; i++) {
    setenv(bad_env[i][0], bad_env[i][1], 1);
    err[0] = 0;
    c = barge_client_new("127.0.0.1:9092", NULL, err, sizeof err);
    CHECK(!c && strstr(err, bad_env[i][0]) && strstr(err, bad_env[i][1]), "%s=%s: %s", bad_env[i][0], bad_env[i][1],
          c ? "taken" : err);
    barge_client_free(c);
    unsetenv(bad_env[i][0]);
  }
  static const char *const good_env[][2] = {
      {"BARGE_SCHEMA_REGISTRY_URL", "http://127.0.0.1:8080/apis/ccompat/v7"},
      {"BARGE_SCHEMA_REGISTRY_URL", "https://registry.example"}, {"BARGE_SCHEMA_REGISTRY_URL", ""},
      {"BARGE_MIN_ATTEMPT_DURATION_SECONDS", "1"}, {"BARGE_MIN_ATTEMPT_DURATION_SECONDS", ""},
      {"BARGE_LOG", "debug"}, {"BARGE_LOG", "error"}};
  for (size_t i = 0; i < sizeof good_env / sizeof *good_env; i++) {
    setenv(good_env[i][0], good_env[i][1], 1);
    c = barge_client_new("127.0.0.1:9092", NULL, err, sizeof err);
    CHECK(c != NULL, "%s=%s: %s", good_env[i][0], good_env[i][1], err);
    barge_client_free(c);
    unsetenv(good_env[i][0]);
  }

  TEST("barge_client_set: a registry URL that is none, a property name that sets others: refused");
  c = barge_client_new("127.0.0.1:9092", NULL, err, sizeof err);
  err[0] = 0;
  CHECK_INT(barge_client_set(c, "schema.registry.url", "registry:8080", err, sizeof err), BARGE_ERR_ARGUMENT);
  CHECK(strstr(err, "registry:8080") != NULL, "%s", err);
  CHECK_INT(barge_client_set(c, "schema.registry.url", "", err, sizeof err), BARGE_OK);
  CHECK_INT(barge_client_set(c, "schema.registry.url", "http://127.0.0.1:1/x", err, sizeof err), BARGE_OK);
  CHECK_INT(barge_client_set(c, "kafka.client.id=x,bootstrap.servers", "127.0.0.1:1", err, sizeof err),
            BARGE_ERR_ARGUMENT);
  CHECK(strstr(err, "property name") != NULL, "%s", err);
  CHECK_INT(barge_client_set(c, "kafka.client.id", "x", err, sizeof err), BARGE_OK);
  barge_client_free(c);

  TEST("barge_strerror: every code has a description, others are unknown");
  for (int code = BARGE_OK; code <= BARGE_ERR_OUTCOME_UNKNOWN; code++)
    CHECK(strcmp(barge_strerror(code), "unknown error") != 0, "code %d", code);
  CHECK_STR(barge_strerror(-1), "unknown error");
  CHECK_STR(barge_strerror(1000), "unknown error");
  return check_summary();
}
