/* bulk_submit.c: `barge submit-job --from-jsonl FILE|-` (see bulk_submit.h). */
#include "bulk_submit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "jsonget.h"
#include "opts.h"
#include "registry.h"
#include "service.h"
#include "views.h"

#define EXIT_USAGE 252
#define EXIT_REFUSED 254
#define EXIT_SERVICE 255
#define MAX_LINE (1u << 20) /* a SubmitJob request is far smaller */
#define SHOW_REJECTED 100
#define UTF8_BOM "\xEF\xBB\xBF" /* some editors (Notepad, PowerShell's Out-File) start a file so */

/* "an array", "a string"...: what a line that parses as JSON but not as an object is. */
static const char *json_kind(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER:
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  case JSON_NULL: return "null";
  case JSON_OBJECT: return "an object";
  }
  return "not an object";
}

struct pending {
  long line;
  char id[40];
};

struct run {
  const struct bus_conf *bc;
  struct bus_producer *prod;
  struct config_view cv;
  int cv_loaded, reloaded;
  json_t *ids;      /* "N" -> job id of accepted (or pending) line N */
  json_t *rejected; /* [[line, reason], ...] */
  struct pending *batch;
  size_t nbatch, capbatch;
  FILE *out, *progress;
  int tty;
  long total;
  int64_t started, last_draw;
  long last_plain;
  struct bulk_stats *st;
};

static void reject(struct run *r, long line, const char *reason) {
  r->st->rejected++;
  /* a reason quoting the line cut to its first bytes may end in half a character: jansson
   * refused it, and the summary left that line out */
  char *why = xstrdup(reason);
  utf8_fix(why);
  json_array_append_new(r->rejected, json_pack("[I, s]", (json_int_t)line, why));
  free(why);
}

static void draw(struct run *r, int final) {
  if (!r->progress) return;
  int64_t now = mono_ms();
  struct bulk_stats *st = r->st;
  double secs = (double)(now - r->started) / 1000.0;
  double rate = secs > 0 ? (double)st->submitted / secs : 0;
  if (r->tty) {
    if (!final && now - r->last_draw < 100) return;
    r->last_draw = now;
    char bar[41];
    int width = 40, filled = 0;
    if (r->total > 0) filled = (int)((double)st->lines / (double)r->total * width);
    if (filled > width) filled = width;
    for (int i = 0; i < width; i++) bar[i] = r->total > 0 ? (i < filled ? '#' : '-') : (i == (st->lines / 10) % width ? '#' : '-');
    bar[width] = 0;
    if (r->total > 0)
      fprintf(r->progress, "\r[%s] %ld/%ld lines  %ld submitted  %ld rejected  %.0f/s ", bar, st->lines, r->total,
              st->submitted, st->rejected, rate);
    else
      fprintf(r->progress, "\r[%s] %ld lines  %ld submitted  %ld rejected  %.0f/s ", bar, st->lines, st->submitted,
              st->rejected, rate);
    if (final) fputc('\n', r->progress);
    fflush(r->progress);
    return;
  }
  /* plain lines: every 10% of a known total, else every 1000 lines, and at the end */
  long step = r->total > 0 ? (r->total + 9) / 10 : 1000;
  if (!final && st->lines - r->last_plain < step) return;
  r->last_plain = st->lines;
  if (r->total > 0)
    fprintf(r->progress, "progress: %ld/%ld lines, %ld submitted, %ld rejected\n", st->lines, r->total, st->submitted, st->rejected);
  else
    fprintf(r->progress, "progress: %ld lines, %ld submitted, %ld rejected\n", st->lines, st->submitted, st->rejected);
  fflush(r->progress);
}

/* Waits for the batch's delivery reports; prints its ids when confirmed. 0, or -1. */
static int confirm(struct run *r) {
  if (!r->nbatch) return 0;
  char e[512];
  if (bus_flush(r->prod, 60000, e, sizeof e)) {
    char why[700];
    snprintf(why, sizeof why, "delivery not confirmed: %s", e);
    for (size_t i = 0; i < r->nbatch; i++) {
      r->st->unconfirmed++;
      json_array_append_new(r->rejected, json_pack("[I, s]", (json_int_t)r->batch[i].line, why));
    }
    r->nbatch = 0;
    return -1;
  }
  for (size_t i = 0; i < r->nbatch; i++) fprintf(r->out, "%ld\t%s\n", r->batch[i].line, r->batch[i].id);
  fflush(r->out);
  r->st->submitted += (long)r->nbatch;
  r->nbatch = 0;
  return 0;
}

/* Replaces dependsOn {"jobId": "line:N"} by line N's job id. 0, or -1 with why. */
static int resolve_lines(struct run *r, json_t *req, long line, char *why, size_t whylen) {
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(req, "dependsOn"), i, d) {
    const char *id = jget_str(d, "jobId");
    if (!id || strncmp(id, "line:", 5)) continue;
    char *end;
    long n = strtol(id + 5, &end, 10);
    if (*end || n < 1 || n >= line) {
      snprintf(why, whylen, "dependsOn[%zu].jobId %s: a line reference must name an earlier line", i, id);
      return -1;
    }
    char key[32];
    snprintf(key, sizeof key, "%ld", n);
    const char *target = jget_str(r->ids, key);
    if (!target) {
      snprintf(why, whylen, "dependsOn[%zu].jobId %s: line %ld was not submitted", i, id, n);
      return -1;
    }
    json_object_set_new(d, "jobId", json_string(target));
  }
  return 0;
}

static int load_config(struct run *r, char *why, size_t whylen) {
  if (r->cv_loaded) config_view_release(&r->cv);
  r->cv_loaded = 0;
  char e[512];
  if (config_view_load(r->bc, &r->cv, e, sizeof e)) {
    config_view_release(&r->cv);
    snprintf(why, whylen, "reading barge.config: %s", e);
    return -1;
  }
  r->cv_loaded = 1;
  return 0;
}

/* One line: 0 handled (accepted into the batch or rejected), -1 a service failure. */
static int one_line(struct run *r, char *text, long line) {
  char why[1024];
  json_error_t je;
  json_t *req = json_loads(text, 0, &je);
  if (!req) { /* jansson gives no position for some errors (column -1): say none then */
    if (je.column > 0) snprintf(why, sizeof why, "not a JSON object: %s (column %d)", je.text, je.column);
    else snprintf(why, sizeof why, "not a JSON object: %s", je.text);
    reject(r, line, why);
    return 0;
  }
  if (!json_is_object(req)) { /* valid JSON, but a SubmitJob request is an object */
    snprintf(why, sizeof why, "not a JSON object (%s)", json_kind(req));
    json_decref(req);
    reject(r, line, why);
    return 0;
  }
  if (resolve_lines(r, req, line, why, sizeof why)) {
    json_decref(req);
    reject(r, line, why);
    return 0;
  }
  json_t *body = NULL;
  int rc = control_prepare_submit(&r->cv, req, &body, why, sizeof why);
  if (rc == 400 && !r->reloaded && strstr(why, "does not exist")) {
    /* created after we read the configuration? read it again, once per run */
    r->reloaded = 1;
    char e[600];
    if (load_config(r, e, sizeof e)) {
      json_decref(req);
      fprintf(stderr, "barge submit-job: %s\n", e);
      return -1;
    }
    rc = control_prepare_submit(&r->cv, req, &body, why, sizeof why);
  }
  json_decref(req);
  if (rc) {
    reject(r, line, why);
    return 0;
  }
  struct pending p = {.line = line};
  snprintf(p.id, sizeof p.id, "%s", jget_str(body, "jobId"));
  json_t *ev = control_request_event("SubmitJob", body);
  char e[512];
  rc = bus_produce(r->prod, TOPIC_REQUESTS, p.id, ev, e, sizeof e);
  json_decref(ev);
  if (rc) {
    snprintf(why, sizeof why, "not written: %s", e);
    reject(r, line, why);
    /* a record too large is this line's fault alone: it stopped the run, the rest not attempted */
    return rc == BUS_TOO_LARGE ? 0 : -1;
  }
  char key[32];
  snprintf(key, sizeof key, "%ld", line);
  json_object_set_new(r->ids, key, json_string(p.id));
  if (r->nbatch == r->capbatch) {
    r->capbatch = r->capbatch ? r->capbatch * 2 : 256;
    r->batch = xrealloc(r->batch, r->capbatch * sizeof *r->batch);
  }
  r->batch[r->nbatch++] = p;
  bus_producer_poll(r->prod);
  return 0;
}

int bulk_submit_run(const struct bus_conf *bc, FILE *in, const char *name, long total_lines,
                    int batch_size, FILE *out, FILE *progress, int tty, struct bulk_stats *st) {
  memset(st, 0, sizeof *st);
  struct run r = {.bc = bc, .out = out, .progress = progress, .tty = tty, .total = total_lines, .st = st};
  r.ids = json_object();
  r.rejected = json_array();
  r.started = mono_ms();
  if (batch_size < 1) batch_size = 500;
  int status = 0, failed = 0;
  char e[600];
  char *line = NULL;
  size_t cap = 0;
  if (load_config(&r, e, sizeof e)) {
    fprintf(stderr, "barge submit-job: %s\n", e);
    status = EXIT_SERVICE;
    goto out;
  }
  if (!(r.prod = bus_producer_new(bc, NULL, e, sizeof e))) {
    fprintf(stderr, "barge submit-job: %s\n", e);
    status = EXIT_SERVICE;
    goto out;
  }
  ssize_t n;
  long lineno = 0;
  while ((n = getline(&line, &cap, in)) >= 0) {
    lineno++;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    char *p = line;
    if (lineno == 1 && !strncmp(p, UTF8_BOM, 3)) p += 3; /* a byte order mark is no request */
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) continue; /* blank lines are not requests */
    if (failed) {
      st->not_attempted++;
      continue;
    }
    st->lines++;
    if ((size_t)n > MAX_LINE) {
      reject(&r, lineno, "longer than 1 MiB");
    } else if (one_line(&r, p, lineno)) {
      failed = 1;
    }
    if (!failed && r.nbatch >= (size_t)batch_size && confirm(&r)) failed = 1;
    draw(&r, 0);
  }
  if (ferror(in)) {
    fprintf(stderr, "barge submit-job: reading %s failed\n", name);
    failed = 1;
  }
  if (!failed && confirm(&r)) failed = 1;
  if (failed) confirm(&r); /* what is queued already: confirm what can be, report the rest */
  draw(&r, 1);
  status = failed ? EXIT_SERVICE : (st->rejected ? EXIT_REFUSED : 0);
out:
  if (progress) {
    fprintf(progress, "barge submit-job: %s: %ld requests, %ld submitted, %ld rejected", name, st->lines,
            st->submitted, st->rejected);
    if (st->unconfirmed) fprintf(progress, ", %ld not confirmed by Kafka", st->unconfirmed);
    if (st->not_attempted) fprintf(progress, ", %ld not attempted after the failure", st->not_attempted);
    fputc('\n', progress);
    size_t i;
    json_t *x;
    json_array_foreach(r.rejected, i, x) {
      if (i == SHOW_REJECTED) {
        fprintf(progress, "  ... and %zu more\n", json_array_size(r.rejected) - SHOW_REJECTED);
        break;
      }
      fprintf(progress, "  line %lld: %s\n", (long long)json_integer_value(json_array_get(x, 0)),
              json_string_value(json_array_get(x, 1)));
    }
    fflush(progress);
  }
  free(line);
  bus_producer_free(r.prod);
  if (r.cv_loaded) config_view_release(&r.cv);
  json_decref(r.ids);
  json_decref(r.rejected);
  free(r.batch);
  return status;
}

/* Lines in a regular file, for the progress bar; -1 when it cannot be known (a pipe). */
static long count_lines(FILE *f) {
  long pos = ftell(f);
  if (pos < 0) return -1;
  long n = 0, nonblank = 0;
  int c, blank = 1, bom = pos == 0 ? 0 : 3; /* bytes of a leading byte order mark seen */
  while ((c = getc(f)) != EOF) {
    if (bom < 3 && (unsigned char)c == (unsigned char)UTF8_BOM[bom]) {
      bom++; /* bulk_submit_run skips it: a line of only a BOM is blank */
      continue;
    }
    if (bom > 0 && bom < 3) blank = 0; /* a part of one is text */
    bom = 3;
    if (c == '\n') {
      if (!blank) nonblank++;
      blank = 1;
      n++;
    } else if (c != ' ' && c != '\t' && c != '\r') {
      blank = 0;
    }
  }
  if (!blank) nonblank++;
  clearerr(f);
  if (fseek(f, pos, SEEK_SET)) return -1;
  (void)n;
  return nonblank;
}

struct bulk_opts {
  struct kafka_opts kafka;
  const char *path, *registry;
  int64_t batch;
  int quiet;
};
static const struct opt_spec bulk_rows[] = {
    OPT_ROW_DOC(struct bulk_opts, path, "from-jsonl", "FILE|-", "required",
                "AWS SubmitJob requests, one JSON object per line (- reads stdin)"),
    OPTS_KAFKA(struct bulk_opts, kafka),
    OPT_ROW_DOC(struct bulk_opts, registry, "schema-registry-url", "URL", "$BARGE_SCHEMA_REGISTRY_URL",
                "Confluent-compatible schema registry"),
    OPT_ROW(struct bulk_opts, batch, "batch-size", "N", "500", "requests confirmed per delivery wait"),
    OPT_FLAG_ROW(struct bulk_opts, quiet, "quiet", "no progress and no summary on stderr"),
};
const struct opts_cmd bulk_opts_cmd =
    OPTS_CMD("submit-job", "--from-jsonl FILE|- [options]",
             "With --from-jsonl: submits many jobs from JSON lines, with progress and a summary.", bulk_rows, struct bulk_opts, NULL);

int bulk_submit_main(int argc, char **argv) {
  struct bulk_opts o;
  int r = opts_parse_cmd(&bulk_opts_cmd, &o, argc, argv, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : EXIT_USAGE;
  if (!o.path) {
    fprintf(stderr, "barge submit-job: --from-jsonl needs a file or -\n");
    return EXIT_USAGE;
  }
  if (o.batch < 1 || o.batch > 100000) {
    fprintf(stderr, "barge submit-job: --batch-size must be 1..100000\n");
    return EXIT_USAGE;
  }
  FILE *in = strcmp(o.path, "-") ? fopen(o.path, "r") : stdin;
  if (!in) {
    fprintf(stderr, "barge submit-job: cannot open %s: %s\n", o.path, strerror(errno));
    return EXIT_USAGE;
  }
  struct service_conn conn;
  int cr = service_connect("submit-job", &o.kafka, "barge-bulk-submit", 0, &conn);
  if (cr || service_require_broker("submit-job", &conn)) {
    if (in != stdin) fclose(in);
    return cr == 2 ? EXIT_USAGE : EXIT_SERVICE; /* bad --kafka-props is bad input */
  }
  if (o.registry) registry_set_url(o.registry);
  long total = in == stdin ? -1 : count_lines(in);
  struct bulk_stats st;
  int rc = bulk_submit_run(&conn.bc, in, in == stdin ? "stdin" : o.path, total, (int)o.batch, stdout,
                           o.quiet ? NULL : stderr, !o.quiet && isatty(2), &st);
  if (in != stdin) fclose(in);
  return rc;
}
