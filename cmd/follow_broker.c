/* follow_broker.c: what `barge watch` and `barge logs --follow` say while their Kafka broker
 * cannot be reached, as `tail -F` says a file became inaccessible (docs/operations.md, "Following
 * through a broker outage"). librdkafka reconnects by itself and its consumer keeps its position,
 * so the stream goes on where it stopped; what was missing was a word: a quiet stream and a dead
 * broker looked alike (one librdkafka warning, then silence), and a script could not bound the
 * wait. The broker is asked (bus_consumer_reachable) once the consumer has been quiet for
 * QUIET_MS, at once when librdkafka says every broker is down, and every RETRY_MS while none
 * answers. */
#include <stdio.h>

#include "bus.h"
#include "cmds.h"
#include "util.h"

#define QUIET_MS 2000    /* a consumer quiet this long asks whether its broker still answers */
#define ASK_UP_MS 2000   /* how long an answer is waited for while the broker answered last */
#define ASK_DOWN_MS 1000 /* the same while it does not (the wait holds up Ctrl-C and, for logs, the file) */
#define RETRY_MS 1000    /* between questions while none answers */

void follow_broker_init(struct follow_broker *fb, const char *cmd, const char *brokers, int64_t timeout_s) {
  *fb = (struct follow_broker){.cmd = cmd, .brokers = brokers, .timeout_s = timeout_s, .heard_ms = mono_ms()};
}

static void say_back(struct follow_broker *fb, int64_t now) {
  fprintf(stderr, "barge %s: a Kafka broker at %s answers again, after %lld s; going on from where it stopped\n",
          fb->cmd, fb->brokers, (long long)((now - fb->down_ms + 500) / 1000));
  fb->down_ms = 0;
}

int follow_broker_step(struct follow_broker *fb, struct bus_consumer *c, int heard) {
  int64_t now = mono_ms();
  if (heard) {
    fb->heard_ms = now;
    if (fb->down_ms) say_back(fb, now);
    return 0;
  }
  int all_down = bus_consumer_all_down(c);
  if (!fb->down_ms && !all_down && now - fb->heard_ms < QUIET_MS) return 0;
  if (now < fb->next_ms && !(all_down && !fb->down_ms)) return 0;
  char why[512];
  int r = bus_consumer_reachable(c, fb->down_ms ? ASK_DOWN_MS : ASK_UP_MS, why, sizeof why);
  int64_t after = mono_ms();
  fb->next_ms = after + RETRY_MS;
  if (!r) {
    fb->heard_ms = after;
    if (fb->down_ms) say_back(fb, after);
    return 0;
  }
  if (!fb->down_ms) {
    fb->down_ms = now;
    char bound[96] = "";
    if (fb->timeout_s)
      snprintf(bound, sizeof bound, "up to %lld s, --broker-timeout; ", (long long)fb->timeout_s);
    fprintf(stderr, "barge %s: no Kafka broker at %s can be reached (%s); still waiting, to go on from where it "
                    "stopped (%sCtrl-C stops)\n", fb->cmd, fb->brokers, why, bound);
  }
  if (fb->timeout_s && after - fb->down_ms >= fb->timeout_s * 1000) {
    fprintf(stderr, "barge %s: no Kafka broker at %s has answered for %lld s (--broker-timeout %lld): giving up\n",
            fb->cmd, fb->brokers, (long long)((after - fb->down_ms) / 1000), (long long)fb->timeout_s);
    return 1;
  }
  return 0;
}
