/* follow_broker.c: what `barge watch` and `barge logs --follow` say while their Kafka broker
 * cannot be reached, as `tail -F` says a file became inaccessible (docs/operations.md, "Following
 * through a broker outage"). librdkafka reconnects by itself and its consumer keeps its position,
 * so the stream goes on where it stopped; what was missing was a word: a quiet stream and a dead
 * broker looked alike (one librdkafka warning, then silence), and a script could not bound the
 * wait. The broker is asked (bus_consumer_reachable) once the consumer has been quiet for
 * QUIET_MS, at once when librdkafka says every broker is down, every RETRY_MS while none
 * answers, and, through follow_broker_waiting, by a read that waits on the broker (logs --follow
 * reading the job's record). */
#include <stdio.h>

#include "bus.h"
#include "cmds.h"
#include "util.h"

#define QUIET_MS 2000    /* a consumer quiet this long asks whether its broker still answers */
#define ASK_UP_MS 2000   /* how long an answer is waited for while the broker answered last */
#define ASK_DOWN_MS 1000 /* the same while it does not (the wait holds up Ctrl-C and, for logs, the file) */
#define ASK_SLOW_MS 5000 /* the same while a connected broker's answers take longer than ASK_UP_MS */
#define HELD_MS 8000     /* a connected broker that has not answered for this long counts as gone */
#define RETRY_MS 1000    /* between questions while none answers */

void follow_broker_init(struct follow_broker *fb, const char *cmd, const char *brokers, int64_t timeout_s) {
  *fb = (struct follow_broker){.cmd = cmd, .brokers = brokers, .timeout_s = timeout_s, .heard_ms = mono_ms()};
}

static void say_back(struct follow_broker *fb, int64_t now) {
  fprintf(stderr, "barge %s: a Kafka broker at %s answers again, after %lld s; going on from where it stopped\n",
          fb->cmd, fb->brokers, (long long)((now - fb->down_ms + 500) / 1000));
  fb->down_ms = 0;
}

/* Asks the broker now (the question began at now) and says what changed. A broker that is
 * connected but slower than ASK_UP_MS is not gone: it is asked again with ASK_SLOW_MS, and only
 * one that has left every question unanswered for HELD_MS counts as gone; one that librdkafka
 * cannot connect to (refused, cut, unresolvable) is gone at the first question. Asking with
 * ASK_UP_MS alone called a broker that answered in 3 s unreachable, then back, over and over. */
static int ask(struct follow_broker *fb, struct bus_consumer *c, int64_t now) {
  char why[512];
  int ask_ms = fb->slow ? ASK_SLOW_MS : fb->down_ms ? ASK_DOWN_MS : ASK_UP_MS;
  int r = bus_consumer_reachable(c, ask_ms, why, sizeof why);
  int64_t after = mono_ms();
  fb->next_ms = after + RETRY_MS;
  if (!r) {
    fb->slow = after - now > ASK_UP_MS;
    fb->unanswered_ms = 0;
    fb->heard_ms = after;
    if (fb->down_ms) say_back(fb, after);
    return 0;
  }
  if (r > 0) { /* connected, no answer yet */
    fb->slow = 1;
    if (!fb->unanswered_ms) fb->unanswered_ms = now;
    if (!fb->down_ms && after - fb->unanswered_ms < HELD_MS) return 0;
    snprintf(why, sizeof why, "connected, but no answer for %lld s",
             (long long)((after - fb->unanswered_ms + 500) / 1000));
  } else {
    fb->slow = 0;
  }
  if (!fb->down_ms) {
    fb->down_ms = r > 0 ? fb->unanswered_ms : now;
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

int follow_broker_step(struct follow_broker *fb, struct bus_consumer *c, int heard) {
  int64_t now = mono_ms();
  if (heard) {
    fb->heard_ms = now;
    fb->unanswered_ms = 0;
    if (fb->down_ms) say_back(fb, now);
    return 0;
  }
  int all_down = bus_consumer_all_down(c);
  if (!fb->down_ms && !all_down && now - fb->heard_ms < QUIET_MS) return 0;
  if (now < fb->next_ms && !(all_down && !fb->down_ms)) return 0;
  return ask(fb, c, now);
}

int follow_broker_waiting(struct follow_broker *fb, struct bus_consumer *c) {
  int64_t now = mono_ms();
  if (now < fb->next_ms) return 0;
  return ask(fb, c, now);
}
