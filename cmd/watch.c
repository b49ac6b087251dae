/* watch.c: `barge watch`: job state changes as JSON lines in the shape of the EventBridge
 * "Batch Job State Change" event AWS Batch sends, and "Batch Job Queue Blocked" when a
 * RUNNABLE job gets a blocking code.
 *
 * Every transition is a JobStateChange on barge.job-events; the event's `detail` is the job's
 * JobDetail as it was at that transition. The job's state travels on barge.jobs, written in the
 * same transaction, but one record may stand for several transitions (a start folded into the
 * end: STARTING -> RUNNING -> SUCCEEDED with the end's record only), the two topics are read at
 * their own pace, and a compacted barge.jobs keeps only a job's latest record. So for each
 * transition the watcher waits (briefly) for a record at or after it (job_at_cmp: a record read
 * earlier may be behind it), then prints that record taken back to the transition
 * (job_at_detail: the attempts that had ended, stoppedAt and the exit code only once they
 * exist), as DescribeJobs shows it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <stdint.h>

#include "cmds.h"
#include "job_at.h"
#include "jsonget.h"
#include "opts.h"
#include "query.h"
#include "states.h"
#include "service.h"
#include "views.h"

static int blocked_code(const char *r) {
  return r && (!strncmp(r, "MISCONFIGURATION:", 17) || !strncmp(r, "ACTION_REQUIRED", 15) ||
               !strncmp(r, "CAPACITY:", 9));
}

struct watch {
  const char *queue, *job;
  json_t *records; /* job id -> its JobRecords not yet behind its next transition, in order */
  json_t *pending; /* JobStateChange events waiting for their record, in order */
  json_t *blocked; /* job id -> the blocking code last reported */
  json_t *seen;    /* job id -> {newStatus, attempt} of its latest JobStateChange read */
  json_t *blocked_q; /* "Batch Job Queue Blocked" events waiting for the transition before them:
                        {jobId, record, _seen}, in order */
  long long emitted;
  long long count; /* stop after this many (0 = never) */
  int out_errno;   /* stdout could not be written (a full disk): stop, exit 1; -1 with no errno */
};

static int matches(const struct watch *w, const char *id, const char *parent, const char *queue_arn,
                   const char *queue_name) {
  if (w->job && strcmp(w->job, id) && !(parent && !strcmp(w->job, parent))) return 0;
  if (w->queue) {
    const char *slash = queue_arn ? strrchr(queue_arn, '/') : NULL;
    int ok = (queue_arn && !strcmp(w->queue, queue_arn)) || (slash && !strcmp(w->queue, slash + 1)) ||
             (queue_name && !strcmp(w->queue, queue_name));
    if (!ok) return 0;
  }
  return 1;
}

/* Prints one EventBridge-shaped event; takes ownership of detail. */
static void print_event(struct watch *w, const char *type, json_t *detail, int with_queue) {
  char uid[37], iso[32];
  uuid_v4(uid);
  iso8601_utc(now_ms(), iso);
  /* a member missing is left out: json_pack("[O]", NULL) failed, and so did the event, and
   * printf("%s\n", NULL) of its text crashed */
  json_t *resources = json_array();
  if (json_object_get(detail, "jobArn")) json_array_append(resources, json_object_get(detail, "jobArn"));
  if (with_queue && json_object_get(detail, "jobQueue")) json_array_append(resources, json_object_get(detail, "jobQueue"));
  json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "version", "0", "id", uid,
                         "detail-type", type, "source", "aws.batch", "account", barge_account(),
                         "time", iso, "region", barge_region(), "resources", resources, "detail", detail);
  char *s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
  errno = 0;
  if ((printf("%s\n", s) < 0 || fflush(stdout) || ferror(stdout)) && !w->out_errno) w->out_errno = errno ? errno : -1;
  free(s);
  json_decref(ev);
  w->emitted++;
}

/* At most this many records of one job are kept waiting for its transitions (a reader far
 * ahead on barge.jobs); the oldest goes first. */
#define RECORDS_PER_JOB 32

static void keep_record(struct watch *w, const char *id, json_t *rec) {
  json_t *list = json_object_get(w->records, id);
  if (!list) json_object_set_new(w->records, id, list = json_array());
  if (json_array_size(list) >= RECORDS_PER_JOB) json_array_remove(list, 0);
  json_array_append(list, rec);
}

static void print_blocked(struct watch *w, const json_t *rec) {
  const json_t *d = json_object_get(rec, "detail");
  if (matches(w, jget_str(d, "jobId"), jget_str(rec, "parentJobId"), jget_str(d, "jobQueue"), NULL))
    print_event(w, "Batch Job Queue Blocked", query_job_detail(d), 1);
}

/* Prints the queued "Queue Blocked" events of job id whose record is before the transition ev
 * (NULL: those ready: the transition that brought the job where the record is was read and
 * printed, or they waited too long, or force), so that a job is never said blocked before the
 * "State Change" that made it RUNNABLE (barge.jobs may be read ahead of barge.job-events). */
static void flush_blocked(struct watch *w, const char *id, const json_t *ev, int force) {
  for (size_t i = 0; i < json_array_size(w->blocked_q) && (w->count <= 0 || w->emitted < w->count);) {
    json_t *b = json_array_get(w->blocked_q, i);
    const char *bid = jget_str(b, "jobId");
    const json_t *rec = json_object_get(b, "record");
    int ready;
    if (id) {
      ready = !strcmp(bid, id) && job_at_cmp(rec, ev) < 0;
    } else {
      const json_t *seen = json_object_get(w->seen, bid);
      ready = force || now_ms() - jget_int(b, "_seen", 0) >= 3000 || (seen && job_at_cmp(rec, seen) <= 0);
      size_t k;
      json_t *p;
      json_array_foreach(w->pending, k, p) /* a transition not printed yet at or before it */
        if (ready && !force && !strcmp(jget_str(p, "jobId"), bid) && job_at_cmp(rec, p) >= 0) ready = 0;
    }
    if (!ready) {
      i++;
      continue;
    }
    print_blocked(w, rec);
    json_array_remove(w->blocked_q, i);
  }
}

/* Prints the pending transitions whose record has arrived (or that waited too long). */
static void flush_pending(struct watch *w, int force) {
  while (json_array_size(w->pending) && (w->count <= 0 || w->emitted < w->count)) {
    json_t *ev = json_array_get(w->pending, 0);
    const char *id = jget_str(ev, "jobId");
    json_t *list = json_object_get(w->records, id);
    size_t n = json_array_size(list), at = 0;
    while (at < n && job_at_cmp(json_array_get(list, at), ev) < 0) at++;
    int64_t waited = now_ms() - (int64_t)json_integer_value(json_object_get(ev, "_seen"));
    if (at == n && !force && waited < 3000) return;
    if (at == n && n) at = n - 1; /* waited long enough: the latest record, though behind */
    char suffix[256], arn[512];
    if (!n) {
      snprintf(suffix, sizeof suffix, "job/%s", id);
      barge_arn(suffix, arn, sizeof arn);
    }
    /* no record read (barge.jobs behind, or the record gone): what the transition says */
    json_t *detail = n ? job_at_detail(json_array_get(list, at), ev)
                       : json_pack("{s:s, s:s, s:s, s:O}", "jobArn", arn, "jobId", id, "jobName",
                                   jget_str(ev, "jobName"), "status", json_object_get(ev, "newStatus"));
    if (!n && json_is_string(json_object_get(ev, "statusReason")))
      json_object_set(detail, "statusReason", json_object_get(ev, "statusReason"));
    flush_blocked(w, id, ev, 0);
    const char *qarn = jget_str(detail, "jobQueue");
    if (w->count > 0 && w->emitted >= w->count) {
      json_decref(detail);
      return;
    }
    if (matches(w, id, jget_str(ev, "parentJobId"), qarn,
                jget_str(ev, "jobQueue")))
      print_event(w, "Batch Job State Change", detail, 0);
    else
      json_decref(detail);
    /* the records before the one used are behind every later transition of the job; after its
     * end there is none */
    if (job_status_terminal(jget_str(ev, "newStatus"))) {
      json_object_del(w->records, id);
      json_object_del(w->seen, id);
    } else
      while (at-- > 0) json_array_remove(list, 0);
    json_array_remove(w->pending, 0);
  }
}

struct watch_opts {
  struct kafka_opts kafka;
  const char *queue, *job;
  int64_t count, broker_timeout;
  int from_beginning;
};
static const struct opt_spec watch_rows[] = {
    OPT_ROW(struct watch_opts, queue, "job-queue", "NAME|ARN", NULL, "only jobs of this queue (one that exists)"),
    OPT_ROW(struct watch_opts, job, "job", "ID", NULL, "only this job (an array parent includes its children); one not known yet is waited for, said once on stderr"),
    OPT_FLAG_ROW(struct watch_opts, from_beginning, "from-beginning", "replay the retained history first"),
    {.name = "count", .arg = "N", .type = OPT_TYPE_OF(struct watch_opts, count), .off = offsetof(struct watch_opts, count),
     .def = "-9223372036854775808", .def_doc = "run until interrupted", .help = "exit after N (1 or more) events"},
    FOLLOW_BROKER_TIMEOUT_ROW(struct watch_opts, broker_timeout),
    OPTS_KAFKA(struct watch_opts, kafka),
};
const struct opts_cmd watch_opts_cmd =
    OPTS_CMD("watch", "[--job-queue Q] [--job ID] [--from-beginning] [--count N] [--broker-timeout SECONDS]",
    "Job state changes as \"Batch Job State Change\" JSON lines. While no Kafka broker can be reached it says so once on stderr and waits, then goes on where it stopped. Exit status: 0 (after --count events); 1 the queue does not exist, no broker answered for --broker-timeout, or a Kafka error; 2 bad usage; 130 (128 + the signal) stopped by Ctrl-C or SIGTERM.", watch_rows, struct watch_opts, NULL);

/* Whether the queue and the job watched for exist: a queue must (else 1, said on stderr); a job
 * not known yet (no record in barge.jobs, no submission among the latest requests) may be one
 * an upstream producer is about to submit under an id of its own: said once, then waited for.
 * 0, or the exit status. */
static int check_names(const struct bus_conf *bc, const char *queue, const char *job) {
  char err[1024];
  if (queue) {
    struct config_view cv;
    if (config_view_load(bc, &cv, err, sizeof err)) {
      fprintf(stderr, "barge watch: %s\n", err);
      return 1;
    }
    int found = config_find(cv.queues, "jobQueueName", queue) != NULL;
    config_view_release(&cv);
    if (!found) {
      fprintf(stderr, "barge watch: job queue %.100s%s does not exist\n", queue, strlen(queue) > 100 ? "..." : "");
      return 1;
    }
  }
  if (job) {
    int found = 0;
    if (jobs_exist(bc, &job, 1, &found, 100000, err, sizeof err)) {
      fprintf(stderr, "barge watch: %s\n", err);
      return 1;
    }
    if (!found)
      fprintf(stderr, "barge watch: job %s is not known yet (not in barge.jobs, not among the latest "
                      "submissions); waiting for it to be submitted\n", job);
  }
  return 0;
}

int cmd_watch(int argc, char **argv) {
  struct watch_opts o;
  int r = opts_parse_or_exit(&watch_opts_cmd, &o, argc, argv);
  if (r >= 0) return r;
  const char *queue = o.queue, *job = o.job;
  if (o.count != INT64_MIN && o.count < 1) {
    fprintf(stderr, "barge watch: --count must be at least 1 (leave it out to run until interrupted), got %lld\n",
            (long long)o.count);
    return 2;
  }
  if (job && (r = cmd_job_id_usage("watch", job))) return r;
  if (queue && !*queue) { /* it said "job queue  does not exist" */
    fprintf(stderr, "barge watch: --job-queue needs a name or ARN (leave it out for every queue)\n");
    return 2;
  }
  long long count = o.count == INT64_MIN ? 0 : o.count;
  struct service_conn conn;
  if ((r = service_connect("watch", &o.kafka, "barge-watch", 0, &conn)) || (r = service_require_broker("watch", &conn))) return r;
  struct bus_conf bc = conn.bc;
  char err[1024];
  if ((r = check_names(&bc, queue, job))) return r;
  struct bus_consumer *c = bus_consumer_new_follow(&bc, err, sizeof err);
  enum bus_topic topics[] = {TOPIC_JOB_EVENTS, TOPIC_JOBS};
  if (!c || bus_assign_all(c, topics, 2, o.from_beginning, err, sizeof err)) {
    fprintf(stderr, "barge watch: %s\n", err);
    bus_consumer_free(c);
    return 1;
  }
  service_signals(0);
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct watch w = {.queue = queue, .job = job, .records = json_object(), .pending = json_array(),
                    .blocked = json_object(), .seen = json_object(), .blocked_q = json_array(), .count = count};
  int rc = 0;
  char last_why[256] = "";
  struct follow_broker fb;
  follow_broker_init(&fb, "watch", bc.brokers, o.broker_timeout);
  while (!service_stopping() && !w.out_errno && (count <= 0 || w.emitted < count)) {
    struct bus_msg m;
    int pr = bus_poll(c, 100, &m, err, sizeof err);
    if (pr < 0) {
      fprintf(stderr, "barge watch: %s\n", err);
      rc = 1;
      break;
    }
    if (follow_broker_step(&fb, c, pr != 0)) {
      rc = 1;
      break;
    }
    if (pr == 1) {
      enum barge_ev_type et;
      json_t *ev = NULL;
      char why[256];
      int bad = m.value ? bus_decode(&m, &et, &ev, why, sizeof why) : 0;
      if (bad && strcmp(why, last_why)) {
        /* a change not shown is said (once per reason: an unreachable schema registry fails
         * every record alike), not left out without a word */
        fprintf(stderr, "barge watch: %s[%d] offset %lld skipped: %s\n", bus_topic_base(m.topic), (int)m.partition,
                (long long)m.offset, why);
        snprintf(last_why, sizeof last_why, "%s", why);
      }
      if (m.value && !bad) {
        if (m.topic == TOPIC_JOB_EVENTS) {
          json_object_set_new(ev, "_seen", json_integer(now_ms()));
          json_array_append(w.pending, ev);
          json_object_set_new(w.seen, jget_str(ev, "jobId"),
                              json_pack("{s:O, s:I}", "newStatus", json_object_get(ev, "newStatus"), "attempt",
                                        (json_int_t)jget_int(ev, "attempt", 0)));
        } else {
          json_t *d = json_object_get(ev, "detail");
          const char *id = jget_str(d, "jobId");
          keep_record(&w, id, ev);
          /* a blocking code set or changed on a RUNNABLE job */
          const char *st = jget_str(d, "status");
          const char *reason = jget_str(d, "statusReason");
          const char *prev = jget_str(w.blocked, id);
          if (st && !strcmp(st, "RUNNABLE") && blocked_code(reason) && (!prev || strcmp(prev, reason))) {
            json_object_set_new(w.blocked, id, json_string(reason));
            json_array_append_new(w.blocked_q, json_pack("{s:s, s:O, s:I}", "jobId", id, "record", ev, "_seen",
                                                         (json_int_t)now_ms()));
          } else if (!blocked_code(reason)) {
            json_object_del(w.blocked, id);
          }
        }
      }
      json_decref(ev);
      bus_msg_release(&m);
    }
    flush_pending(&w, 0);
    flush_blocked(&w, NULL, NULL, 0);
  }
  if (!w.out_errno && (count <= 0 || w.emitted < count)) flush_pending(&w, 1);
  if (!w.out_errno) flush_blocked(&w, NULL, NULL, 1);
  /* an event that could not be written ends the watch: every later one would be lost too (it went
   * on, without --count for ever, reading and losing them) */
  if (w.out_errno && !rc) {
    fprintf(stderr, "barge watch: cannot write the output%s%s\n", w.out_errno > 0 ? ": " : "",
            w.out_errno > 0 ? strerror(w.out_errno) : "");
    rc = 1;
  }
  /* a signal before --count events (or with no --count: the only way it ends) is not a success
   * for a script waiting on them: 128 + the signal, 130 for Ctrl-C, as the AWS CLI */
  if (!rc && service_stopping() && (count <= 0 || w.emitted < count)) rc = 128 + service_stop_signal();
  json_decref(w.records);
  json_decref(w.pending);
  json_decref(w.blocked);
  json_decref(w.seen);
  json_decref(w.blocked_q);
  bus_consumer_free(c);
  return rc;
}
