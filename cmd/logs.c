/* logs.c: `barge logs JOB_ID [--attempt N]`: prints an attempt's stdout and stderr, which the
 * agent wrote to <log dir>/<jobId>/<attempt>.log (the path travels in the job's record). It reads
 * as `barge api` does (producers/api/logs_source.c): the file when it is on this host, else from
 * the log server of the agent that ran the attempt (`barge agent --log-listen`), signed with the
 * secret of --log-token-file (by default the local stack's, $BARGE_HOME/log.token); an attempt
 * that printed nothing has no file and prints nothing (docs/containers.md). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "jsonget.h"
#include "logauth.h"
#include "logs_api.h"
#include "opts.h"
#include "service.h"
#include "stack.h"
#include "views.h"

struct logs_opts {
  struct kafka_opts kafka;
  int64_t attempt;
  const char *log_token, *log_ca_bundle;
  int no_local;
};
static const struct opt_spec logs_rows[] = {
    OPT_ROW_DOC(struct logs_opts, attempt, "attempt", "N", "the latest", "which attempt, counting from 1"),
    OPT_ROW_DOC(struct logs_opts, log_token, "log-token-file", "FILE", "the local stack's log.token",
                "the agents' log servers' secret (barge agent --log-token-file), to fetch a log that is not on "
                "this host"),
    OPT_ROW_DOC(struct logs_opts, log_ca_bundle, "log-ca-bundle", "FILE", "the system's",
                "PEM certificates an https log server is verified against"),
    OPT_FLAG_ROW(struct logs_opts, no_local, "no-local-logs",
             "fetch the log from its agent's log server even when the file is on this host"),
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

/* Attempt n of the job's log to stdout, read as the API reads it. 0, or 1 saying why. */
static int print_log(const struct logs_opts *o, const struct bus_conf *bc, const char *id, const json_t *rec, int n) {
  char token[4200] = "", err[1024] = "";
  const char *token_file = o->log_token;
  if (!token_file && !stack_get("log_token", token, sizeof token) && token[0] && access(token, R_OK) == 0)
    token_file = token;
  size_t keylen = 0;
  unsigned char *key = token_file ? logauth_read_key(token_file, &keylen, err, sizeof err) : NULL;
  if (token_file && !key) {
    fprintf(stderr, "barge logs: --log-token-file %s: %s\n", token_file, err);
    return 1;
  }
  struct logs_streams st = {0};
  logs_record_streams(id, rec, n, &st);
  int rc = 0;
  if (!st.n) {
    fprintf(stderr, "barge logs: job %s attempt %d has no log yet\n", id, n);
    rc = 1;
  } else {
    struct logs_source_conf c = {.bc = bc, .local = !o->no_local, .log_key = key, .log_keylen = keylen,
                                 .log_ca_bundle = o->log_ca_bundle};
    struct logs_source *src = logs_source_new(&c);
    char *text = NULL, *times = NULL;
    size_t len = 0;
    if (src->read(src->ctx, &st.v[0], &text, &len, &times, err, sizeof err)) {
      fprintf(stderr, "barge logs: job %s attempt %d: %s\n", id, n, err);
      rc = 1;
    } else if (len && fwrite(text, 1, len, stdout) != len) {
      rc = 1;
    } else if (!len) {
      /* no output: say so when the attempt never ran (its start failed), as the reason why */
      const json_t *att = json_array_get(json_object_get(json_object_get(rec, "detail"), "attempts"), (size_t)n - 1);
      const char *why = jget_str(att, "statusReason");
      if (!why) why = jget_str(json_object_get(att, "container"), "reason");
      if (att && !json_object_get(att, "startedAt"))
        fprintf(stderr, "barge logs: job %s attempt %d never started%s%s%s: it has no output\n", id, n,
                why ? " (" : "", why ? why : "", why ? ")" : "");
    }
    free(text);
    free(times);
    logs_source_free(src);
  }
  logs_streams_release(&st);
  if (key) {
    memset(key, 0, keylen);
    free(key);
  }
  return rc;
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
    fprintf(stderr, "barge logs: job %s has no log yet (status %s)\n", pos[0],
            jget_str(json_object_get(rec, "detail"), "status"));
    rc = 1;
  } else {
    if (attempt == ATTEMPT_LATEST) attempt = last;
    if (attempt > last) {
      fprintf(stderr, "barge logs: job %s has %d attempt(s)\n", pos[0], last);
      rc = 2;
    } else {
      rc = print_log(&o, &bc, pos[0], rec, (int)attempt);
    }
  }
  json_decref(jobs);
  return rc;
}
