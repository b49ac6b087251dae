/* watch.c: `barge watch`: job state changes as JSON lines in the shape of the EventBridge
 * "Batch Job State Change" event (spec section 8), and "Batch Job Queue Blocked" when a
 * RUNNABLE job gets a blocking code. Reads barge.jobs (every record is a job's whole state)
 * and reports a record whose status differs from the last one seen for that job. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "opts.h"
#include "stack.h"
#include "views.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static int blocked_code(const char *r) {
  return r && (!strncmp(r, "MISCONFIGURATION:", 17) || !strncmp(r, "ACTION_REQUIRED", 15) ||
               !strncmp(r, "CAPACITY:", 9));
}

int cmd_watch(int argc, char **argv) {
  const char *brokers_flag = NULL, *queue = NULL, *job = NULL;
  long long count = 0;
  int from_beginning = 0;
  const struct opt opts[] = {
      {"job-queue", "NAME|ARN", &queue, NULL, NULL, "only jobs of this queue"},
      {"job", "ID", &job, NULL, NULL, "only this job (an array parent includes its children)"},
      {"from-beginning", NULL, NULL, NULL, &from_beginning, "replay the retained history first"},
      {"count", "N", NULL, &count, NULL, "exit after N events (default: run until interrupted)"},
      {"brokers", "HOST:PORT", &brokers_flag, NULL, NULL, "Kafka bootstrap servers (default: the stack of `barge up`)"},
  };
  int r = opts_parse("watch", "[--job-queue Q] [--job ID] [--from-beginning] [--count N]", argc,
                     argv, opts, sizeof opts / sizeof *opts, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  char brokers[1024], prefix[128], err[1024];
  if (stack_brokers(brokers_flag, brokers, sizeof brokers, err, sizeof err)) {
    fprintf(stderr, "barge watch: %s\n", err);
    return 2;
  }
  stack_prefix(NULL, prefix, sizeof prefix);
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "barge watch: %s\n", err);
    return 1;
  }
  struct bus_conf bc = {.brokers = brokers, .prefix = prefix, .client_id = "barge-watch"};
  struct bus_consumer *c = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  enum bus_topic t = TOPIC_JOBS;
  if (!c || bus_assign_all(c, &t, 1, from_beginning, err, sizeof err)) {
    fprintf(stderr, "barge watch: %s\n", err);
    bus_consumer_free(c);
    return 1;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  setvbuf(stdout, NULL, _IOLBF, 0);
  json_t *last = json_object(); /* job id -> "STATUS|reason" */
  long long emitted = 0;
  while (!stop_flag && (count <= 0 || emitted < count)) {
    struct bus_msg m;
    int pr = bus_poll(c, 200, &m, err, sizeof err);
    if (pr < 0) {
      fprintf(stderr, "barge watch: %s\n", err);
      break;
    }
    if (pr != 1) continue;
    enum barge_ev_type et;
    json_t *rec = NULL;
    char why[256];
    if (!bus_decode(&m, &et, &rec, why, sizeof why)) {
      json_t *d = json_object_get(rec, "detail");
      const char *id = json_string_value(json_object_get(d, "jobId"));
      const char *st = json_string_value(json_object_get(d, "status"));
      const char *reason = json_string_value(json_object_get(d, "statusReason"));
      const char *parent = json_string_value(json_object_get(rec, "parentJobId"));
      const char *qarn = json_string_value(json_object_get(d, "jobQueue"));
      int match = 1;
      if (job && strcmp(job, id) && !(parent && !strcmp(job, parent))) match = 0;
      if (queue && qarn) {
        const char *slash = strrchr(qarn, '/');
        if (strcmp(queue, qarn) && strcmp(queue, slash ? slash + 1 : qarn)) match = 0;
      }
      char state[1200];
      snprintf(state, sizeof state, "%s|%s", st, reason ? reason : "");
      const char *prev = json_string_value(json_object_get(last, id));
      const char *prev_bar = prev ? strchr(prev, '|') : NULL;
      int status_changed = !prev ? strcmp(st, "SUBMITTED") != 0
                                 : (size_t)(prev_bar - prev) != strlen(st) || strncmp(prev, st, strlen(st));
      int blocked = !strcmp(st, "RUNNABLE") && blocked_code(reason) && (!prev || strcmp(prev, state));
      json_object_set_new(last, id, json_string(state));
      if (match && (status_changed || blocked)) {
        char uid[37], iso[32];
        uuid_v4(uid);
        iso8601_utc(now_ms(), iso);
        json_t *resources = json_pack("[O]", json_object_get(d, "jobArn"));
        if (blocked && !status_changed) json_array_append(resources, json_object_get(d, "jobQueue"));
        json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:O}", "version", "0", "id",
                               uid, "detail-type",
                               blocked && !status_changed ? "Batch Job Queue Blocked" : "Batch Job State Change",
                               "source", "aws.batch", "account", barge_account(), "time", iso,
                               "region", barge_region(), "resources", resources, "detail", d);
        char *s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(ev);
        emitted++;
      }
    }
    json_decref(rec);
    bus_msg_release(&m);
  }
  json_decref(last);
  bus_consumer_free(c);
  return 0;
}
