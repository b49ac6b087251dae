/* job_at.c: a job as it was at one of its transitions (job_at.h). */
#include <string.h>

#include "job_at.h"
#include "jsonget.h"
#include "query.h"
#include "states.h"

/* The status's place inside the life of attempt `attempt` (see job_at_cmp). */
static int rank(const char *status, int64_t attempt) {
  if (!status) return 0;
  if (job_status_terminal(status)) return 6;
  if (!strcmp(status, "RUNNING")) return 4;
  if (!strcmp(status, "STARTING")) return 3;
  if (!strcmp(status, "RUNNABLE")) return attempt > 0 ? 5 : 2; /* after a retry: past RUNNING */
  if (!strcmp(status, "PENDING")) return 1;
  return 0; /* SUBMITTED */
}

static int64_t position(const char *status, int64_t attempt) {
  return attempt * 8 + rank(status, attempt);
}

int job_at_cmp(const json_t *record, const json_t *ev) {
  json_t *d = json_object_get(record, "detail");
  int64_t r = position(jget_str(d, "status"), jget_int(record, "attempt", 0));
  int64_t e = position(jget_str(ev, "newStatus"), jget_int(ev, "attempt", 0));
  return (r > e) - (r < e);
}

static const char *const attempt_fields[] = {"containerInstanceArn", "taskArn", "logStreamName",
                                             "exitCode", "reason"};

/* Sets c's attempt fields from the attempt container from (NULL: none); the first three only
 * when with_end is 0. */
static void set_attempt_fields(json_t *c, const json_t *from, int with_end) {
  for (size_t i = 0; i < sizeof attempt_fields / sizeof *attempt_fields; i++) {
    json_t *v = (i < 3 || with_end) ? json_object_get(from, attempt_fields[i]) : NULL;
    if (v) json_object_set(c, attempt_fields[i], v);
    else json_object_del(c, attempt_fields[i]);
  }
}

json_t *job_at_detail(const json_t *record, const json_t *ev) {
  json_t *d = json_deep_copy(json_object_get(record, "detail"));
  if (!d) d = json_object();
  const char *st = jget_str(ev, "newStatus");
  json_object_set(d, "status", json_object_get(ev, "newStatus"));
  json_t *reason = json_object_get(ev, "statusReason");
  if (json_is_string(reason)) json_object_set(d, "statusReason", reason);
  else json_object_del(d, "statusReason");
  if (job_at_cmp(record, ev) > 0) {
    /* the record is later than the transition: take back what happened since */
    int live = job_status_active(st);
    int64_t ended = jget_int(ev, "attempt", 0) - (live ? 1 : 0);
    json_t *atts = json_object_get(d, "attempts");
    size_t n = json_array_size(atts);
    if (ended < 0) ended = 0;
    if ((size_t)ended < n) n = (size_t)ended;
    json_t *kept = json_array();
    for (size_t i = 0; i < n; i++) json_array_append(kept, json_array_get(atts, i));
    json_t *c = json_object_get(d, "container");
    if (json_is_object(c)) {
      json_t *later = json_array_get(atts, n); /* the attempt live at ev, ended since */
      if (live && later) set_attempt_fields(c, json_object_get(later, "container"), 0);
      else if (live) { /* still live in the record: it had not ended */
        json_object_del(c, "exitCode");
        json_object_del(c, "reason");
      } else {
        set_attempt_fields(c, n ? json_object_get(json_array_get(kept, n - 1), "container") : NULL, 1);
      }
    }
    json_object_set_new(d, "attempts", kept);
    if (!job_status_terminal(st)) json_object_del(d, "stoppedAt");
    if (st && !strcmp(st, "RUNNING") && json_is_integer(json_object_get(ev, "at"))) {
      json_object_set(d, "startedAt", json_object_get(ev, "at"));
    } else if (!job_status_terminal(st)) {
      /* the last start before the transition: that of the last ended attempt that ran */
      json_t *started = NULL;
      for (size_t i = n; i-- > 0 && !started;)
        started = json_object_get(json_array_get(kept, i), "startedAt");
      if (started) json_object_set(d, "startedAt", started);
      else json_object_del(d, "startedAt");
    }
  }
  json_t *shown = query_job_detail(d);
  json_decref(d);
  return shown;
}
