/* logs.c: `barge logs JOB_ID [--attempt N] [--follow]`: prints an attempt's stdout and stderr,
 * which the agent wrote to <log dir>/<jobId>/<attempt>.log (the path travels in the job's record).
 * It reads as `barge api` does (producers/api/logs_source.c): the file when it is on this host,
 * else from the log server of the agent that ran the attempt (`barge agent --log-listen`), signed
 * with the secret of --log-token-file (by default the local stack's, $BARGE_HOME/log.token); an
 * attempt that printed nothing has no file and prints nothing (docs/containers.md).
 *
 * The job's record is read from its own partition of barge.jobs, not the whole table. With
 * --follow the command positions itself at the end of the job's partition of barge.job-events
 * first (so no change after the record was read is missed), then prints the log as it grows,
 * and ends once the job has ended (or, with --attempt, once that attempt has). */
#include <errno.h>
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
#include "states.h"
#include "views.h"

#define FOLLOW_POLL_MS 500 /* how often --follow looks at the log */

struct logs_opts {
  struct kafka_opts kafka;
  int64_t attempt, broker_timeout;
  const char *log_token, *log_ca_bundle;
  int no_local, follow;
};
static const struct opt_spec logs_rows[] = {
    OPT_ROW_DOC(struct logs_opts, attempt, "attempt", "N", "the latest", "which attempt, counting from 1"),
    OPT_FLAG_ROW(struct logs_opts, follow, "follow",
                 "print the log as it grows until the job ends (waits for a job that has not started; with "
                 "--attempt, until that attempt ends); Ctrl-C stops it (exit 130)"),
    FOLLOW_BROKER_TIMEOUT_ROW(struct logs_opts, broker_timeout),
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
    OPTS_CMD("logs", "JOB_ID [--attempt N] [--follow [--broker-timeout SECONDS]]",
             "Prints a job attempt's stdout and stderr. With --follow, while no Kafka broker can be reached it says "
             "so once on stderr and waits, then goes on where it stopped. Exit status: 0; 1 no such job or log, no "
             "broker answered for --broker-timeout, or a Kafka error; 2 bad usage; 130 (128 + the signal) --follow "
             "stopped by Ctrl-C or SIGTERM.", logs_rows,
             struct logs_opts, logs_init);

/* The size of an array parent (arrayProperties.size without an index); 0 for any other job. */
static long long array_size(const json_t *rec) {
  const json_t *ap = json_object_get(json_object_get(rec, "detail"), "arrayProperties");
  if (json_object_get(ap, "index")) return 0;
  return json_integer_value(json_object_get(ap, "size"));
}

/* The number of nodes of a multi-node parent (nodeProperties.numNodes); 0 for any other job. */
static long long node_count(const json_t *rec) {
  return json_integer_value(json_object_get(json_object_get(json_object_get(rec, "detail"), "nodeProperties"), "numNodes"));
}

static const char *status_of(const json_t *rec) { return jget_str(json_object_get(rec, "detail"), "status"); }

/* ---- the job's record, from its own partition of barge.jobs ---- */

struct one {
  const char *id;
  json_t *rec; /* the latest record of id; NULL after a tombstone */
};

static void one_cb(void *ctx, const struct bus_msg *m) {
  struct one *o = ctx;
  if (!m->key || m->keylen != strlen(o->id) || memcmp(m->key, o->id, m->keylen)) return;
  json_decref(o->rec);
  o->rec = NULL;
  enum barge_ev_type t;
  char why[256];
  if (m->value && bus_decode(m, &t, &o->rec, why, sizeof why)) o->rec = NULL;
}

/* The job's JobRecord (a new reference) into *rec, NULL when there is none. 0, or 1 with why in
 * err. quiet: librdkafka's reports on its brokers are kept, not logged (--follow says an outage in
 * its own words). */
static int read_record(const struct bus_conf *bc, const char *id, int quiet, json_t **rec, char *err, size_t errlen) {
  struct one o = {id, NULL};
  struct bus_consumer *c = quiet ? bus_consumer_new_follow(bc, err, errlen) : bus_consumer_new(bc, NULL, 1, err, errlen);
  if (!c || bus_read_table_key(c, TOPIC_JOBS, id, one_cb, &o, err, errlen)) {
    bus_consumer_free(c);
    json_decref(o.rec);
    return 1;
  }
  bus_consumer_free(c);
  *rec = o.rec;
  return 0;
}

/* read_record, saying why it failed. */
static int load_record(const struct bus_conf *bc, const char *id, json_t **rec) {
  char err[1024];
  if (!read_record(bc, id, 0, rec, err, sizeof err)) return 0;
  fprintf(stderr, "barge logs: reading the job's record: %s\n", err);
  return 1;
}

/* ---- --follow: the record read while the broker is watched ---- */

/* bus_conf.stop takes no argument: the follower of the read under way (one per process). */
static struct {
  struct follow_broker *fb;
  struct bus_consumer *ev;
  int gave_up; /* --broker-timeout passed (said) */
} watched;

/* The stop hook of a watched read, asked after each of its tries that went unanswered: asks the
 * broker (through ev, at most once a second) and ends the read once none answers, once
 * --broker-timeout has passed, or at a signal. */
static int watched_stop(void) {
  if (service_stopping() || watched.gave_up) return 1;
  if (follow_broker_waiting(watched.fb, watched.ev)) watched.gave_up = 1;
  return watched.gave_up || watched.fb->down_ms != 0;
}

/* One read of the job's record for --follow (the first, and again at each change of the job).
 * While it waits on the broker, the broker is asked through ev whether it answers, as the follow
 * loop asks, so an outage during the read is said within seconds and --broker-timeout bounds it
 * (the read waited 10-60 s in silence, then failed: docs/operations.md, "Following through a
 * broker outage"). 0 with *rec; 2 when it was not read now: no broker answers (said; fb->down_ms
 * set: read again once one does), or a signal came; 1 said: an error, or --broker-timeout passed. */
static int read_record_watched(const struct bus_conf *bc, const char *id, json_t **rec, struct follow_broker *fb,
                               struct bus_consumer *ev) {
  struct bus_conf wc = *bc;
  wc.stop = watched_stop;
  watched.fb = fb;
  watched.ev = ev;
  watched.gave_up = 0;
  char err[1024];
  if (!read_record(&wc, id, 1, rec, err, sizeof err)) return 0;
  if (watched.gave_up) return 1;
  if (service_stopping() || fb->down_ms) return 2;
  /* it failed while a broker answered: unless none answers now, the read's own error */
  fb->next_ms = 0;
  if (follow_broker_waiting(fb, ev)) return 1;
  if (fb->down_ms) return 2;
  fprintf(stderr, "barge logs: reading the job's record: %s\n", err);
  return 1;
}

/* The first read of the record for --follow: read_record_watched until it reads, waiting (and
 * asking) while no broker answers. 0 with *rec; 1 said; 128 + the signal that stopped it. */
static int load_record_follow(const struct bus_conf *bc, const char *id, json_t **rec, struct follow_broker *fb,
                              struct bus_consumer *ev) {
  for (;;) {
    int r = read_record_watched(bc, id, rec, fb, ev);
    if (r != 2) return r;
    while (fb->down_ms && !service_stopping()) {
      if (follow_broker_waiting(fb, ev)) return 1;
      usleep(100 * 1000);
    }
    if (service_stopping()) return 128 + service_stop_signal();
  }
}

/* ---- reading a log ---- */

struct reader {
  struct logs_source *src;
  unsigned char *key;
  size_t keylen;
};

static int reader_open(const struct logs_opts *o, const struct bus_conf *bc, struct reader *r) {
  char token[4200] = "", err[1024] = "";
  const char *token_file = o->log_token;
  if (!token_file && !stack_get("log_token", token, sizeof token) && token[0] && access(token, R_OK) == 0)
    token_file = token;
  memset(r, 0, sizeof *r);
  r->key = token_file ? logauth_read_key(token_file, &r->keylen, err, sizeof err) : NULL;
  if (token_file && !r->key) {
    fprintf(stderr, "barge logs: --log-token-file %s: %s\n", token_file, err);
    return 1;
  }
  struct logs_source_conf c = {.bc = bc, .local = !o->no_local, .log_key = r->key, .log_keylen = r->keylen,
                               .log_ca_bundle = o->log_ca_bundle};
  r->src = logs_source_new(&c);
  return 0;
}

static void reader_close(struct reader *r) {
  logs_source_free(r->src);
  if (r->key) {
    memset(r->key, 0, r->keylen);
    free(r->key);
  }
}

/* Writes text[from..len) to stdout; 0, or 1 saying that stdout failed (a full disk: `barge logs
 * ID > out.txt` exited 1 without a word, the exit status main gives a lost output with its line
 * kept for a command that had not failed already). */
static int emit(const char *text, size_t len, size_t from) {
  if (from >= len) return 0;
  errno = 0;
  if (fwrite(text + from, 1, len - from, stdout) == len - from && fflush(stdout) == 0) return 0;
  int e = errno;
  fprintf(stderr, "barge logs: cannot write the output%s%s\n", e ? ": " : "", e ? strerror(e) : "");
  return 1;
}

#define READ_CHUNK (1u << 20) /* the most one read of a log takes */

/* What attempt n has written from *printed on, to stdout, in chunks of at most READ_CHUNK (a
 * local pread, or a byte range from the agent's log server); *printed advanced. A log now shorter
 * than *printed is another file: from its start. 0; 1 when stdout fails; -1 when the log cannot be
 * read (said); 2 when the attempt has no log yet. */
static int print_more(struct reader *r, const char *id, const json_t *rec, int n, size_t *printed) {
  struct logs_streams st = {0};
  logs_record_streams(id, rec, n, &st);
  int rc = st.n ? 0 : 2;
  while (!rc) {
    char *text = NULL, err[1024] = "";
    size_t len = 0;
    int got = logs_read_from(r->src, &st.v[0], *printed, READ_CHUNK, &text, &len, err, sizeof err);
    if (got < 0) {
      fprintf(stderr, "barge logs: job %s attempt %d: %s\n", id, n, err);
      rc = -1;
    } else if (got == 1) {
      *printed = 0;
    } else {
      if (emit(text, len, 0)) rc = 1;
      *printed += len;
      if (len < READ_CHUNK) {
        free(text);
        break;
      }
    }
    free(text);
  }
  logs_streams_release(&st);
  return rc;
}

/* Attempt n of the job's log to stdout, once. 0, or 1 saying why. */
static int print_log(struct reader *r, const char *id, const json_t *rec, int n) {
  size_t printed = 0;
  int got = print_more(r, id, rec, n, &printed);
  if (got == 2) fprintf(stderr, "barge logs: job %s attempt %d has no log yet\n", id, n);
  if (!got && !printed) {
    /* no output: say so when the attempt never ran (its start failed), as the reason why */
    const json_t *att = json_array_get(json_object_get(json_object_get(rec, "detail"), "attempts"), (size_t)n - 1);
    const char *why = jget_str(att, "statusReason");
    if (!why) why = jget_str(json_object_get(att, "container"), "reason");
    if (att && !json_object_get(att, "startedAt"))
      fprintf(stderr, "barge logs: job %s attempt %d never started%s%s%s: it has no output\n", id, n,
              why ? " (" : "", why ? why : "", why ? ")" : "");
  }
  return got != 0;
}

/* ---- --follow ---- */

/* The key the job's state changes are written under: an array child's (<parent>:<index>) and a
 * multi-node job's node's (<parent>#<node>) are its parent's (docs/architecture.md, "Topics"). */
static void family_key(const char *id, char *out, size_t n) { snprintf(out, n, "%.*s", (int)job_family_len(id), id); }

/* Follows the job (only_attempt 0) or one attempt of it: prints each attempt's log as it grows,
 * from `printed` bytes of attempt n on, until it has ended. ev is positioned at the end of the
 * job's partition of barge.job-events as of before rec was read. */
static int follow(const struct bus_conf *bc, struct reader *r, struct bus_consumer *ev, const char *id, json_t *rec,
                  int n, int only_attempt, struct follow_broker *fb) {
  size_t printed = 0;
  int rc = 0, reload = 0;
  int64_t next_read = 0;
  while (!service_stopping()) {
    const char *status = status_of(rec);
    int last = (int)jget_int(rec, "attempt", 0);
    int done = job_status_terminal(status) || (only_attempt && last > only_attempt) ||
               (only_attempt && last == only_attempt && status && strcmp(status, "RUNNING") &&
                strcmp(status, "STARTING"));
    if (!only_attempt && last > n && jget_str(rec, "logPath")) {
      /* the attempt followed so far ended and a later one has a log: the rest of that one and the
       * whole of any in between, then on with the latest; each retry announced on stderr */
      for (int k = n >= 1 ? n : 1; k < last && !rc; k++) {
        size_t from = k == n ? printed : 0;
        if (k > 1 && k != n) fprintf(stderr, "barge logs: job %s attempt %d\n", id, k);
        if (print_more(r, id, rec, k, &from) == 1) rc = 1;
      }
      if (last > 1) fprintf(stderr, "barge logs: job %s attempt %d\n", id, last);
      n = last;
      printed = 0;
    }
    if (done || mono_ms() >= next_read) {
      int pm = n >= 1 && jget_str(rec, "logPath") ? print_more(r, id, rec, n, &printed) : 2;
      if (pm == 1 || pm < 0) rc = 1;
      next_read = mono_ms() + FOLLOW_POLL_MS;
      if (done || rc) break;
    }
    /* the job's state changes; the record again when one concerns it */
    struct bus_msg m;
    char err[512];
    int64_t until = next_read;
    int heard = 0;
    for (int pr; (pr = bus_poll(ev, (int)(until > mono_ms() ? until - mono_ms() : 0), &m, err, sizeof err)) != 0;) {
      if (pr < 0) {
        fprintf(stderr, "barge logs: %s\n", err);
        json_decref(rec);
        return 1;
      }
      heard = 1;
      if (pr == 1) {
        enum barge_ev_type t;
        json_t *e = NULL;
        char why[256];
        if (!bus_decode(&m, &t, &e, why, sizeof why) && !strcmp(jget_str(e, "jobId") ? jget_str(e, "jobId") : "", id))
          reload = 1;
        json_decref(e);
        bus_msg_release(&m);
      }
      if (mono_ms() >= until) break;
    }
    if (follow_broker_step(fb, ev, heard)) {
      rc = 1;
      break;
    }
    if (reload && !fb->down_ms) {
      json_t *fresh = NULL;
      int got = read_record_watched(bc, id, &fresh, fb, ev);
      if (got == 1) {
        json_decref(rec);
        return 1;
      }
      if (got == 2) continue; /* no broker answers (said): read again once one does */
      if (fresh) {
        json_decref(rec);
        rec = fresh;
      }
      reload = 0;
    }
  }
  json_decref(rec);
  /* stopped by a signal before the job (or attempt) ended: not the end a script waits for */
  if (!rc && service_stopping()) rc = 128 + service_stop_signal();
  return rc;
}

/* The files named on the command line, read before any broker is asked: one that cannot be read
 * is bad usage, exit 2, as check's --audit-key (docs/operations.md). They were read only when a
 * log had to come from an agent's log server, after the reads (exit 1), and a typo went unseen
 * while the log was on this host. 0, or 2 saying why. */
static int check_files(const struct logs_opts *o) {
  char err[1024];
  if (o->log_token) {
    size_t len = 0;
    unsigned char *key = logauth_read_key(o->log_token, &len, err, sizeof err);
    if (!key) {
      fprintf(stderr, "barge logs: --log-token-file %s: %s\n", o->log_token, err);
      return 2;
    }
    memset(key, 0, len);
    free(key);
  }
  if (o->log_ca_bundle) {
    FILE *f = fopen(o->log_ca_bundle, "r");
    int bad = !f || (getc(f) == EOF && ferror(f)); /* a directory opens, and fails at the first read */
    int e = errno;
    if (f) fclose(f);
    if (bad) {
      fprintf(stderr, "barge logs: --log-ca-bundle %s: cannot read it: %s\n", o->log_ca_bundle, strerror(e));
      return 2;
    }
  }
  return 0;
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
  if (o.broker_timeout && !o.follow) {
    fprintf(stderr, "barge logs: --broker-timeout bounds the wait of --follow; give --follow too (or leave it out)\n");
    return 2;
  }
  const char *id = pos[0];
  if ((r = cmd_job_id_usage("logs", id))) return r;
  if ((r = check_files(&o))) return r;
  struct service_conn conn;
  if ((r = service_connect("logs", &o.kafka, "barge-cli", 0, &conn)) || (r = service_require_broker("logs", &conn))) return r;
  struct bus_conf bc = conn.bc;
  char err[1024], fam[512];
  struct bus_consumer *ev = NULL;
  if (o.follow) { /* first, so that every change after the record is read is seen */
    family_key(id, fam, sizeof fam);
    ev = bus_consumer_new_follow(&bc, err, sizeof err);
    if (!ev || bus_assign_key(ev, TOPIC_JOB_EVENTS, fam, 0, err, sizeof err)) {
      fprintf(stderr, "barge logs: following the job's state changes: %s\n", err);
      bus_consumer_free(ev);
      return 1;
    }
  }
  json_t *rec = NULL;
  struct follow_broker fb; /* --follow: while no broker answers, said and waited for (the log is still read) */
  follow_broker_init(&fb, "logs", bc.brokers, o.broker_timeout);
  if (o.follow) service_signals(0);
  if ((r = o.follow ? load_record_follow(&bc, id, &rec, &fb, ev) : load_record(&bc, id, &rec))) {
    bus_consumer_free(ev);
    return r;
  }
  int rc = 0;
  const char *lp = jget_str(rec, "logPath");
  int last = (int)jget_int(rec, "attempt", 0);
  struct reader rd = {0};
  int waiting = 0; /* --follow of a job submitted a moment ago, whose record is not written yet */
  if (!rec && o.follow) {
    int found = 0;
    if (jobs_exist(&bc, &id, 1, &found, 100000, err, sizeof err)) {
      fprintf(stderr, "barge logs: %s\n", err);
      bus_consumer_free(ev);
      return 1;
    }
    if (found) {
      waiting = 1;
      rec = json_pack("{s:{s:s}, s:i}", "detail", "status", "SUBMITTED", "attempt", 0);
    }
  }
  int submitted = 0;
  if (!rec && !o.follow && jobs_submitted(&bc, &id, 1, &submitted, 100000, err, sizeof err)) submitted = 0;
  if (!rec && submitted) {
    /* no record yet: the scheduler has not read the submission (it lags, or is not running) */
    fprintf(stderr, "barge logs: job %s has no log yet (status SUBMITTED: the scheduler has not handled it yet; "
                    "--follow waits for it)\n", id);
    rc = 1;
  } else if (!rec) {
    fprintf(stderr, "barge logs: no job %s\n", id);
    rc = 1;
  } else if (!waiting && !lp && array_size(rec) > 0) {
    long long n = array_size(rec);
    fprintf(stderr, "barge logs: job %s is an array job of %lld children, which have the logs: barge logs %s:N (N 0..%lld)\n",
            id, n, id, n - 1);
    rc = 1;
  } else if (!waiting && !lp && node_count(rec) > 0) {
    /* a multi-node parent has no container of its own: its nodes ran (docs/job-model.md §11) */
    long long n = node_count(rec);
    fprintf(stderr, "barge logs: job %s is a multi-node job of %lld nodes, which have the logs: barge logs %s#N (N 0..%lld)\n",
            id, n, id, n - 1);
    rc = 1;
  } else if (!lp && job_status_terminal(status_of(rec))) { /* it never will have one */
    const char *why = jget_str(json_object_get(rec, "detail"), "statusReason");
    fprintf(stderr, "barge logs: job %s never ran, so it has no log (%s%s%s)\n", id, status_of(rec), why ? ": " : "",
            why ? why : "");
    rc = 1;
  } else if (!lp && !o.follow) {
    fprintf(stderr, "barge logs: job %s has no log yet (status %s)\n", id, status_of(rec) ? status_of(rec) : "unknown");
    rc = 1;
  } else if (attempt != ATTEMPT_LATEST && attempt > last && !(o.follow && !job_status_terminal(status_of(rec)))) {
    /* like a job that does not exist: 1, not a usage error */
    fprintf(stderr, "barge logs: job %s has no attempt %lld (it has %d)\n", id, attempt, last);
    rc = 1;
  } else if ((rc = reader_open(&o, &bc, &rd)) == 0) {
    int n = attempt == ATTEMPT_LATEST ? last : (int)attempt;
    if (o.follow) {
      rc = follow(&bc, &rd, ev, id, rec, n, attempt == ATTEMPT_LATEST ? 0 : (int)attempt, &fb);
      rec = NULL; /* follow took it */
    } else {
      rc = print_log(&rd, id, rec, n);
    }
    reader_close(&rd);
  }
  json_decref(rec);
  bus_consumer_free(ev);
  return rc;
}
