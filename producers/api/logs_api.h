/* logs_api.h: the CloudWatch Logs subset that `barge api` serves for job logs (docs/api.md,
 * "Job logs"): GetLogEvents, FilterLogEvents and DescribeLogStreams of the log group
 * "/aws/batch/job" (every stream), and of the group a job's logConfiguration names
 * (awslogs-group; its streams only), in the JSON-1.1 protocol (POST /, X-Amz-Target:
 * Logs_20140328.<Action>).
 *
 * One stream is one attempt's log, the file the agent wrote (<log dir>/<jobId>/<attempt>.log),
 * named as DescribeJobs names it: container.logStreamName = "<jobDefinitionName>/default/<taskId>"
 * (docs/job-model.md §1). Each line of the file is one event. Its timestamp (and ingestionTime)
 * comes from the log's time index, <log>.times, that the agent writes beside it (agent/runner.h):
 * lines "<size> <epoch ms>"; a line is dated by the first index line whose size reaches the
 * line's end, a line past the last one by the last one. Without an index (logs of older agents)
 * every event carries the attempt's startedAt. Timestamps never go below startedAt and never
 * decrease along a stream.
 *
 * logs_call is the protocol (requests checked, tokens, paging, the filter pattern) over a
 * struct logs_source that lists streams and reads their text; it does no I/O of its own and is
 * what the unit tests drive. logs_source.c is the source over Kafka and files (and the agents'
 * log servers). Any server thread may call logs_call at once; the source must allow it. */
#ifndef BARGE_API_LOGS_API_H
#define BARGE_API_LOGS_API_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define LOGS_GROUP "/aws/batch/job"
#define LOGS_TARGET_PREFIX "Logs_20140328."
#define LOGS_MAX_EVENTS 10000            /* GetLogEvents' and FilterLogEvents' largest limit */
#define LOGS_MAX_RESPONSE_BYTES 1048576  /* as CloudWatch: at most 1 MB of events per answer */
#define LOGS_EVENT_OVERHEAD 26           /* CloudWatch counts each event's message + 26 bytes */
#define LOGS_MAX_STREAMS_PAGE 50         /* DescribeLogStreams' largest limit */

/* One stream: one attempt of one job. Strings owned by the array that holds it. */
struct logs_stream {
  char *name;        /* "<jd>/default/<taskId>" */
  char *job_id;
  int attempt;       /* 1-based */
  char *rel_path;    /* "<jobId>/<attempt>.log", relative to the agent's log dir */
  char *local_path;  /* where the agent wrote it, as it recorded it */
  char *instance_id; /* the instance that ran it, NULL when unknown */
  int64_t started_at, stopped_at; /* epoch ms; 0 unknown (stopped_at 0: still running) */
  char *group;       /* the log group its job's logConfiguration names (awslogs-group), NULL: LOGS_GROUP */
};

struct logs_streams {
  struct logs_stream *v;
  size_t n;
};
void logs_streams_release(struct logs_streams *s);
/* Appends a copy of s (its strings duplicated). */
void logs_streams_add(struct logs_streams *all, const struct logs_stream *s);

/* Where streams come from. Both calls return 0, or an HTTP status (500) with the reason in err. */
struct logs_source {
  void *ctx;
  /* Every stream of the group, in any order. */
  int (*list)(void *ctx, struct logs_streams *out, char *err, size_t errlen);
  /* The whole text of stream s (malloc'd, *len bytes), and its time index in *times (malloc'd,
   * NUL-terminated; NULL when there is none). A log that cannot be reached is an error. */
  int (*read)(void *ctx, const struct logs_stream *s, char **text, size_t *len, char **times, char *err,
              size_t errlen);
  /* The stream named name appended to out (nothing when there is none), without listing them
   * all: GetLogEvents and FilterLogEvents' logStreamNames use it. NULL: they use list. */
  int (*find)(void *ctx, const char *name, struct logs_streams *out, char *err, size_t errlen);
};

/* Runs the action ("GetLogEvents") on its request JSON (borrowed). Returns 200 with *resp
 * (owned), or the HTTP status of a CloudWatch error with its type in *error_type and the
 * message in msg: 400 ResourceNotFoundException (the group or stream does not exist),
 * InvalidParameterException (a bad member or token), UnknownOperationException (another
 * action); 500 ServiceUnavailableException (the source failed: Kafka, a log that cannot be
 * read). src NULL: every action answers ServiceUnavailableException. */
int logs_call(const struct logs_source *src, const char *action, const json_t *req, json_t **resp,
              const char **error_type, char *msg, size_t msglen);

/* ---- logs_source.c: the source over Kafka and the agents' logs ---- */
struct bus_conf;
struct view_live;
struct logs_source_conf {
  const struct bus_conf *bc; /* borrowed, must outlive the source */
  struct view_live *live;    /* the API's view (borrowed, outlives the source), or NULL: barge.jobs read per call */
  int local;                 /* read a log from its local path when it is there */
  int64_t fetch_timeout_ms;  /* a fetch from an agent's log server; 0: 10 s */
  const unsigned char *log_key; /* the agents' log servers' secret (borrowed), or NULL: unsigned fetches */
  size_t log_keylen;
  const char *log_ca_bundle; /* PEM authorities an https log server is verified against; NULL: the system's */
};
struct logs_source *logs_source_new(const struct logs_source_conf *conf);
/* The streams of one JobRecord (job_id's), appended to out: attempt `only`, or every attempt
 * (only 0); none before the job has a log (logPath). `barge logs` reads through them too. */
void logs_record_streams(const char *job_id, const json_t *rec, int only, struct logs_streams *out);
/* For `barge logs --follow`: bytes [from, from + max) of stream st's log as it is now (*text
 * malloc'd and NUL-terminated, *len bytes, fewer than max when the end was reached), read
 * locally or asked of the agent's log server as a byte range, without the time index. src must
 * come from logs_source_new. 0 (*len 0: nothing new, or nothing printed yet); 1 when the log is
 * now shorter than from (not the file read before: read it again from 0); -1 with the reason in
 * err. */
int logs_read_from(struct logs_source *src, const struct logs_stream *st, uint64_t from, size_t max, char **text,
                   size_t *len, char *err, size_t errlen);
void logs_source_free(struct logs_source *src);
#define LOGS_MAX_FILE_BYTES (256u * 1024 * 1024) /* a larger log is refused */
#endif
