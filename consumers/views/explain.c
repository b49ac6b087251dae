/* explain.c: `barge explain`'s timeline of one job (explain.h), in plain sentences. Pure. */
#include "explain.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonget.h"
#include "util.h"

static int64_t ev_at(const json_t *ev) {
  int64_t at = jget_int(ev, "at", 0);
  return at ? at : jget_int(json_object_get(ev, "header"), "event_time", 0);
}

static void add(json_t *tl, int64_t at, const char *source, const char *kind, const char *text,
                const json_t *ev) {
  char iso[32];
  iso8601_utc(at, iso);
  json_t *e = json_pack("{s:I, s:s, s:s, s:s, s:s}", "at", (json_int_t)at, "time", iso, "source", source,
                        "kind", kind, "text", text);
  if (ev) json_object_set(e, "event", (json_t *)ev);
  json_array_append_new(tl, e);
}

static const char *str_or(const json_t *o, const char *k, const char *dflt) {
  const char *v = jget_str(o, k);
  return v && *v ? v : dflt;
}

/* ---------------- state changes ---------------- */

/* has_deps: the job's record lists dependencies; an array child without any also goes
 * PENDING -> RUNNABLE, as it is created PENDING (docs/job-model.md §2.3). */
static void change_text(const json_t *ev, int has_deps, char *out, size_t n) {
  const char *from = str_or(ev, "oldStatus", "?"), *to = str_or(ev, "newStatus", "?");
  const char *why = jget_str(ev, "statusReason"), *inst = jget_str(ev, "instanceId");
  const char *ce = jget_str(ev, "computeEnvironment");
  json_t *code = json_object_get(ev, "exitCode");
  int attempt = (int)jget_int(ev, "attempt", 0);
  size_t k = 0;
  if (!strcmp(to, "STARTING") && inst)
    k = (size_t)snprintf(out, n, "placed on instance %s of compute environment %s (attempt %d): %s -> %s", inst,
                         ce ? ce : "?", attempt, from, to);
  else if (!strcmp(to, "RUNNING"))
    k = (size_t)snprintf(out, n, "its container started%s%s (attempt %d): %s -> %s", inst ? " on instance " : "",
                         inst ? inst : "", attempt, from, to);
  else if (!strcmp(to, "RUNNABLE") && !strcmp(from, "PENDING"))
    k = (size_t)snprintf(out, n, "%s: %s -> %s", has_deps ? "its dependencies finished" : "it has no dependency to wait for",
                         from, to);
  else if (!strcmp(to, "RUNNABLE") && (!strcmp(from, "STARTING") || !strcmp(from, "RUNNING")))
    k = (size_t)snprintf(out, n, "attempt %d ended and the retry strategy gives it another: %s -> %s", attempt, from, to);
  else
    k = (size_t)snprintf(out, n, "%s -> %s", from, to);
  if (k < n && json_is_integer(code) && (!strcmp(to, "SUCCEEDED") || !strcmp(to, "FAILED") || !strcmp(to, "RUNNABLE")))
    k += (size_t)snprintf(out + k, n - k, ", exit code %lld", (long long)json_integer_value(code));
  if (k < n && why && *why) k += (size_t)snprintf(out + k, n - k, ": %s", why);
  if (k < n) snprintf(out + k, n - k, ".");
}

/* ---------------- reasons (JobWait) ---------------- */

/* What a code means, in a few words. */
static const char *code_meaning(const char *code) {
  static const struct {
    const char *code, *words;
  } m[] = {
      {"MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE", "blocked: it needs more vCPUs than the maxvCpus of every compute environment of its queue"},
      {"MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT", "blocked: no instance its queue's compute environments can have holds its vCPUs, memory and GPUs"},
      {"CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", "blocked: the instance provider refused to launch capacity for it"},
      {"ACTION_REQUIRED", "blocked: no compute environment of its queue is usable"},
      {"WAITING:CAPACITY", "not placed: no instance had room for it"},
      {"WAITING:HEAD_RESERVATION", "not placed: a compute environment was held for the job at the head of a queue"},
      {"WAITING:FAIR_SHARE", "not placed: fair share let another share go first"},
      {"WAITING:DEPENDENCY", "waiting for the jobs it depends on"},
  };
  for (size_t i = 0; i < sizeof m / sizeof *m; i++)
    if (!strcmp(code, m[i].code)) return m[i].words;
  return "not placed";
}

static void wait_text(const json_t *ev, const char *prev_code, char *out, size_t n) {
  const char *code = str_or(ev, "code", ""), *reason = jget_str(ev, "statusReason");
  const char *detail = jget_str(ev, "detail"), *ahead = jget_str(ev, "aheadJobId");
  if (!*code) {
    snprintf(out, n, "the scheduler cleared its reason%s%s%s: it no longer applies.", prev_code ? " (" : "",
             prev_code ? prev_code : "", prev_code ? ")" : "");
    return;
  }
  size_t k = (size_t)snprintf(out, n, "%s (%s)", code_meaning(code), code);
  const char *words = reason ? strstr(reason, " - ") : NULL;
  if (k < n && words) {
    size_t wl = strlen(words + 3);
    if (wl && words[3 + wl - 1] == '.') wl--; /* AWS's words end with a full stop */
    k += (size_t)snprintf(out + k, n - k, ": %.*s", (int)wl, words + 3);
  }
  if (k < n && ahead && !strstr(words ? words : "", ahead)) k += (size_t)snprintf(out + k, n - k, "; job %s went first", ahead);
  if (k < n && json_is_number(json_object_get(ev, "shareUsage")))
    k += (size_t)snprintf(out + k, n - k, "; share %s's weighted usage was %.1f", str_or(ev, "shareIdentifier", "(none)"),
                          json_number_value(json_object_get(ev, "shareUsage")));
  if (k < n && jget_str(ev, "leadingShare"))
    k += (size_t)snprintf(out + k, n - k, ", share %s's %.1f", jget_str(ev, "leadingShare"),
                          json_number_value(json_object_get(ev, "leadingShareUsage")));
  if (k < n && detail && *detail) k += (size_t)snprintf(out + k, n - k, ". The scheduler saw: %s", detail);
  if (k < n) snprintf(out + k, n - k, ".");
}

/* ---------------- the provisioner ---------------- */

static void scaling_text(const json_t *ev, char *out, size_t n) {
  const char *ce = str_or(ev, "computeEnvironment", "?"), *detail = jget_str(ev, "detail");
  long long from = jget_int(ev, "fromDesiredvCpus", 0), to = jget_int(ev, "toDesiredvCpus", 0);
  char change[64];
  if (to == from) snprintf(change, sizeof change, "at %lld", to);
  else snprintf(change, sizeof change, "from %lld to %lld", from, to);
  size_t k = (size_t)snprintf(out, n, "the provisioner %s compute environment %s's desired vCPUs %s (%s%s%s)",
                              to > from ? "raised" : to < from ? "lowered" : "kept", ce, change,
                              str_or(ev, "reason", "?"), detail && *detail ? ": " : "", detail ? detail : "");
  size_t i;
  json_t *l;
  json_array_foreach(json_object_get(ev, "launches"), i, l) {
    if (k >= n) break;
    k += (size_t)snprintf(out + k, n - k, "%s %lld x %s (%s)", i ? "," : "; launching", (long long)jget_int(l, "count", 0),
                          str_or(l, "instanceType", "?"), str_or(l, "lifecycle", "ON_DEMAND"));
  }
  size_t nt = json_array_size(json_object_get(ev, "terminations"));
  if (k < n && nt) k += (size_t)snprintf(out + k, n - k, "; terminating %zu instance(s)", nt);
  if (k < n) snprintf(out + k, n - k, ".");
}

/* ---------------- the timeline ---------------- */

static int by_time(const void *a, const void *b) {
  const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
  int64_t ta = jget_int(x, "at", 0), tb = jget_int(y, "at", 0);
  if (ta != tb) return ta < tb ? -1 : 1;
  int64_t sa = jget_int(x, "_seq", 0), sb = jget_int(y, "_seq", 0);
  return sa < sb ? -1 : sa > sb;
}

static void sort_timeline(json_t *tl) {
  size_t n = json_array_size(tl);
  if (n < 2) return;
  json_t **v = xcalloc(n, sizeof *v);
  for (size_t i = 0; i < n; i++) {
    v[i] = json_incref(json_array_get(tl, i));
    json_object_set_new(v[i], "_seq", json_integer((json_int_t)i));
  }
  qsort(v, n, sizeof *v, by_time);
  json_array_clear(tl);
  for (size_t i = 0; i < n; i++) {
    json_object_del(v[i], "_seq");
    json_array_append_new(tl, v[i]);
  }
  free(v);
}

/* The window in which the provisioner may have acted for the job: from when it first became
 * RUNNABLE (demand counts RUNNABLE jobs only) until it first started. */
static void window(const struct explain_input *in, int64_t *from, int64_t *until) {
  *from = INT64_MAX;
  *until = INT64_MAX;
  size_t i;
  json_t *ev;
  json_array_foreach(in->changes, i, ev) {
    const char *to = jget_str(ev, "newStatus");
    if (to && !strcmp(to, "RUNNABLE") && *from == INT64_MAX) *from = ev_at(ev);
    if (to && !strcmp(to, "STARTING")) {
      *until = ev_at(ev);
      break;
    }
  }
}

/* Whether the job carried a MISCONFIGURATION or ACTION_REQUIRED code at time at: such a job
 * asks the provisioner for nothing, so no decision then was for it. */
static int misconfigured_at(const struct explain_input *in, int64_t at) {
  const char *code = NULL;
  size_t i;
  json_t *ev;
  json_array_foreach(in->waits, i, ev) {
    if (ev_at(ev) > at) break;
    code = jget_str(ev, "code");
  }
  return code && (!strncmp(code, "MISCONFIGURATION:", 17) || !strcmp(code, "ACTION_REQUIRED"));
}

json_t *explain_build(const struct explain_input *in) {
  const json_t *d = json_object_get(in->record, "detail");
  json_t *tl = json_array();
  char text[2048];
  int64_t created = jget_int(d, "createdAt", 0), from, until;
  window(in, &from, &until);
  snprintf(text, sizeof text, "submitted to job queue %s as %s (job definition %s).", str_or(d, "jobQueue", "?"),
           str_or(d, "jobName", "?"), str_or(d, "jobDefinition", "?"));
  add(tl, created, "scheduler", "submitted", text, NULL);
  size_t i;
  json_t *ev;
  json_array_foreach(in->changes, i, ev) {
    change_text(ev, json_array_size(json_object_get(d, "dependsOn")) > 0, text, sizeof text);
    add(tl, ev_at(ev), "scheduler", "state", text, ev);
  }
  const char *prev = NULL;
  json_array_foreach(in->waits, i, ev) {
    wait_text(ev, prev, text, sizeof text);
    add(tl, ev_at(ev), "scheduler", "reason", text, ev);
    prev = str_or(ev, "code", NULL);
  }
  json_array_foreach(in->scaling, i, ev) {
    int64_t at = ev_at(ev);
    const char *r = jget_str(ev, "reason");
    if (at < from || at > until || (r && !strcmp(r, "HEARTBEAT")) || misconfigured_at(in, at)) continue;
    scaling_text(ev, text, sizeof text);
    add(tl, at, "provisioner", "scaling", text, ev);
  }
  json_array_foreach(in->launches, i, ev) {
    int64_t at = ev_at(ev);
    if (at < from || at > until || misconfigured_at(in, at)) continue;
    /* no driver: the provisioner asked for nothing (a Spot bid below every pool, prov.c) */
    const char *drv = jget_str(ev, "driver");
    snprintf(text, sizeof text, "%s in compute environment %s: %s.",
             drv && !*drv ? "the provisioner requested no instance" : "the instance provider refused a launch",
             str_or(ev, "computeEnvironment", "?"), str_or(ev, "reason", "no reason given"));
    add(tl, at, "provisioner", "launch-failed", text, ev);
  }
  sort_timeline(tl);
  const char *st = str_or(d, "status", "?"), *why = jget_str(d, "statusReason");
  snprintf(text, sizeof text, "%s%s%s", st, why && *why ? " - " : "", why && *why ? why : "");
  json_t *ces = in->ces ? json_deep_copy(in->ces) : json_array();
  json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s}", "jobId", str_or(d, "jobId", "?"), "jobName",
                        str_or(d, "jobName", "?"), "jobQueue", str_or(d, "jobQueue", "?"), "status", st,
                        "computeEnvironments", ces, "timeline", tl, "now", text);
  if (why) json_object_set_new(r, "statusReason", json_string(why));
  return r;
}

char *explain_render(const json_t *t) {
  struct buf b;
  buf_init(&b);
  buf_printf(&b, "Job %s (%s) in queue %s\n", str_or(t, "jobId", "?"), str_or(t, "jobName", "?"), str_or(t, "jobQueue", "?"));
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(t, "timeline"), i, e)
    buf_printf(&b, "  %s  %-11s %s\n", str_or(e, "time", "?"), str_or(e, "source", "?"), str_or(e, "text", ""));
  buf_printf(&b, "Now: %s\n", str_or(t, "now", "?"));
  char *out = xstrdup(b.data ? (const char *)b.data : "");
  buf_release(&b);
  return out;
}
