/* test_bus_outcome.c: what a client can say about a write and about a broker (lib/bus.h), against
 * the real Kafka broker (the CTest fixture) and a port where none listens:
 * - bus_probe answers 0 for the broker, and -1 within its timeout for 127.0.0.1:1;
 * - bus_flush says BUS_OUTCOME_UNKNOWN (never plain failure) for a write still in flight at
 *   its timeout, and 0 once the broker acknowledged it;
 * - a write to a broker that is not there is never reported as delivered. */
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "check.h"
#include "codec.h"

static json_t *request(void) {
  return json_pack("{s:o, s:s, s:{s:{s:s, s:s}}}", "header", bus_header("test_bus_outcome", "r-1", now_ms()),
                   "principal", "test", "body", "CancelJob", "jobId", "j-1", "reason", "test");
}

int main(void) {
  char brokers[512], hex[9], prefix[64], err[1024];
  const char *dir = getenv("BARGE_KAFKA_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/bootstrap", dir ? dir : "kafka");
  char *text = read_file(path, NULL);
  if (!text || codec_init(err, sizeof err)) {
    fprintf(stderr, "test_bus_outcome: no broker (BARGE_KAFKA_DIR) or codec\n");
    return 2;
  }
  text[strcspn(text, "\r\n")] = 0;
  snprintf(brokers, sizeof brokers, "%s", text);
  free(text);
  random_hex(hex, 8);
  snprintf(prefix, sizeof prefix, "tout%s.", hex);
  struct bus_conf bc = {.brokers = brokers, .prefix = prefix, .client_id = "test_bus_outcome"};
  struct bus_conf none = {.brokers = "127.0.0.1:1", .prefix = prefix, .client_id = "test_bus_outcome"};

  TEST("bus_probe: the broker answers; nothing at 127.0.0.1:1, said within the timeout");
  CHECK(bus_ensure_topics(&bc, err, sizeof err) == 0, "%s", err);
  CHECK(bus_probe(&bc, 5000, err, sizeof err) == 0, "%s", err);
  int64_t t0 = mono_ms();
  CHECK(bus_probe(&none, 1500, err, sizeof err) == -1, "no broker at 127.0.0.1:1");
  CHECK(mono_ms() - t0 < 3000, "gave up after %lld ms", (long long)(mono_ms() - t0));

  TEST("bus_flush: in flight at the timeout is an unknown outcome; acknowledged is 0");
  struct bus_producer *p = bus_producer_new(&none, NULL, err, sizeof err);
  CHECK(p != NULL, "%s", err);
  json_t *ev = request();
  if (p) {
    CHECK(bus_produce(p, TOPIC_REQUESTS, "j-1", ev, err, sizeof err) == 0, "%s", err);
    CHECK_INT(bus_flush(p, 1000, err, sizeof err), BUS_OUTCOME_UNKNOWN);
    CHECK(strstr(err, "not delivered") != NULL, "%s", err);
    bus_producer_free(p);
  }
  p = bus_producer_new(&bc, NULL, err, sizeof err);
  CHECK(p != NULL, "%s", err);
  if (p) {
    CHECK(bus_produce(p, TOPIC_REQUESTS, "j-1", ev, err, sizeof err) == 0, "%s", err);
    CHECK_INT(bus_flush(p, 0, err, sizeof err), BUS_OUTCOME_UNKNOWN); /* not acknowledged yet */
    CHECK_INT(bus_flush(p, 30000, err, sizeof err), 0);
    bus_producer_free(p);
  }
  json_decref(ev);
  return check_summary();
}
