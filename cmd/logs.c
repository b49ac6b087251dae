/* logs.c: `barge logs JOB_ID [--attempt N]`: prints an attempt's stdout and stderr, which the
 * agent wrote to <log dir>/<jobId>/<attempt>.log (the path travels in the job's record). */
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "jsonget.h"
#include "opts.h"
#include "service.h"
#include "views.h"

struct logs_opts {
  struct kafka_opts kafka;
  int64_t attempt;
};
static const struct opt_spec logs_rows[] = {
    OPT_ROW_DOC(struct logs_opts, attempt, "attempt", "N", "the latest", "which attempt, counting from 1"),
    OPTS_KAFKA(struct logs_opts, kafka),
};
enum { ATTEMPT_LATEST = -1000000 }; /* --attempt not given */
static void logs_init(void *conf) { ((struct logs_opts *)conf)->attempt = ATTEMPT_LATEST; }
const struct opts_cmd logs_opts_cmd =
    OPTS_CMD("logs", "JOB_ID [--attempt N]", "Prints a job attempt's stdout and stderr.", logs_rows, struct logs_opts, logs_init);

/* The size of an array parent (arrayProperties.size without an index); 0 for any other job. */
static long long array_size(const json_t *rec) {
  const json_t *ap = json_object_get(json_object_get(rec, "detail"), "arrayProperties");
  if (json_object_get(ap, "index")) return 0;
  return json_integer_value(json_object_get(ap, "size"));
}

int cmd_logs(int argc, char **argv) {
  struct logs_opts o;
  const char *pos[1];
  int npos = 0;
  int r = opts_parse_cmd(&logs_opts_cmd, &o, argc, argv, pos, &npos, 1);
  if (r) return r == 1 ? 0 : 2;
  if (npos != 1) {
    fprintf(stderr, "barge logs: give one job id (barge logs JOB_ID)\n");
    return 2;
  }
  long long attempt = o.attempt;
  if (attempt != ATTEMPT_LATEST && attempt < 1) {
    fprintf(stderr, "barge logs: --attempt counts from 1 (got %lld); without it, the latest attempt\n", attempt);
    return 2;
  }
  struct service_conn conn;
  if ((r = service_connect("logs", &o.kafka, "barge-cli", 0, &conn)) || (r = service_require_broker("logs", &conn))) return r;
  struct bus_conf bc = conn.bc;
  char err[1024];
  json_t *jobs = NULL;
  if (jobs_view_load(&bc, &jobs, err, sizeof err)) {
    fprintf(stderr, "barge logs: %s\n", err);
    json_decref(jobs);
    return 1;
  }
  json_t *rec = json_object_get(jobs, pos[0]);
  int rc = 0;
  const char *lp = jget_str(rec, "logPath");
  int last = (int)json_integer_value(json_object_get(rec, "attempt"));
  if (!rec) {
    fprintf(stderr, "barge logs: no job %s\n", pos[0]);
    rc = 1;
  } else if (!lp && array_size(rec) > 0) {
    long long n = array_size(rec);
    fprintf(stderr, "barge logs: job %s is an array job of %lld children, which have the logs: barge logs %s:N (N 0..%lld)\n",
            pos[0], n, pos[0], n - 1);
    rc = 1;
  } else if (!lp) {
    const json_t *d = json_object_get(rec, "detail");
    const char *st = jget_str(d, "status"), *why = jget_str(d, "statusReason");
    if (st && (!strcmp(st, "SUCCEEDED") || !strcmp(st, "FAILED"))) /* it never will have one */
      fprintf(stderr, "barge logs: job %s never ran, so it has no log (%s%s%s)\n", pos[0], st, why ? ": " : "",
              why ? why : "");
    else
      fprintf(stderr, "barge logs: job %s has no log yet (status %s)\n", pos[0], st ? st : "unknown");
    rc = 1;
  } else {
    if (attempt == ATTEMPT_LATEST) attempt = last;
    if (attempt > last) { /* like a job that does not exist: 1, not a usage error */
      fprintf(stderr, "barge logs: job %s has no attempt %lld (it has %d)\n", pos[0], attempt, last);
      rc = 1;
    } else {
      /* <dir>/<job>/<n>.log: swap the attempt number */
      char path[4096];
      const char *slash = strrchr(lp, '/');
      snprintf(path, sizeof path, "%.*s/%lld.log", (int)(slash ? slash - lp : 0), lp, attempt);
      size_t len = 0;
      char *text = read_file(path, &len);
      if (!text) {
        fprintf(stderr, "barge logs: cannot read %s (the log lives on the instance that ran the attempt)\n", path);
        rc = 1;
      } else {
        fwrite(text, 1, len, stdout);
        free(text);
      }
    }
  }
  json_decref(jobs);
  return rc;
}
