/* provisioner.c: `barge provisioner` (the service, provisioner/prov_shell.c) and
 * `barge instances`: the instances of every compute environment with their type, lifecycle,
 * state, capacity and the jobs running on them, folded from barge.instances and barge.jobs.
 * --events prints the instance history and --decisions the scaling decisions (barge.scaling),
 * as JSON lines, for scripts and tests. */
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "opts.h"
#include "prov_shell.h"
#include "stack.h"
#include "views.h"

int cmd_provisioner(int argc, char **argv) { return prov_service_main(argc, argv); }

struct inst_row {
  char id[32], ce[160], type[40], lifecycle[12], state[16], driver[16];
  int vcpus, mem, gpus;
  double price;
  int64_t launched_at, last_at;
  char reason[200];
};

struct fold {
  struct inst_row *rows;
  size_t n, cap;
  json_t *index;  /* id -> row number */
  const char *ce; /* filter */
  int events;     /* print every event as a JSON line */
  FILE *out;
};

static const char *state_of(const char *kind, const char *cur) {
  if (!strcmp(kind, "LAUNCHING")) return "launching";
  if (!strcmp(kind, "READY")) return "ready";
  if (!strcmp(kind, "HEARTBEAT"))
    return !*cur || !strcmp(cur, "launching") || !strcmp(cur, "terminated") || !strcmp(cur, "lost") ? "ready" : cur;
  if (!strcmp(kind, "DRAIN_REQUESTED")) return "draining";
  if (!strcmp(kind, "DRAINED")) return "drained";
  if (!strcmp(kind, "INTERRUPTION_NOTICE")) return "interrupted";
  if (!strcmp(kind, "TERMINATED")) return "terminated";
  if (!strcmp(kind, "LOST")) return "lost";
  if (!strcmp(kind, "LAUNCH_FAILED")) return "launch-failed";
  return cur;
}

static void fold_cb(void *ctx, const struct bus_msg *m) {
  struct fold *f = ctx;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (!m->value || bus_decode(m, &t, &ev, why, sizeof why)) return;
  const char *id = json_string_value(json_object_get(ev, "instanceId"));
  const char *ce = json_string_value(json_object_get(ev, "computeEnvironment"));
  const char *kind = json_string_value(json_object_get(ev, "kind"));
  if (!id || !ce || !kind || (f->ce && strcmp(f->ce, ce))) {
    json_decref(ev);
    return;
  }
  if (f->events) {
    json_object_del(ev, "header");
    char *s = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
    fprintf(f->out, "%s\n", s);
    free(s);
  }
  json_t *ix = json_object_get(f->index, id);
  struct inst_row *r;
  if (ix) {
    r = &f->rows[json_integer_value(ix)];
  } else {
    if (f->n == f->cap) {
      f->cap = f->cap ? f->cap * 2 : 64;
      f->rows = xrealloc(f->rows, f->cap * sizeof *f->rows);
    }
    r = &f->rows[f->n];
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", id);
    json_object_set_new(f->index, id, json_integer((json_int_t)f->n++));
  }
  snprintf(r->ce, sizeof r->ce, "%s", ce);
  int64_t at = json_integer_value(json_object_get(ev, "at"));
  if (!strcmp(kind, "LAUNCHING") || !r->launched_at) r->launched_at = at;
  r->last_at = at;
  char state[sizeof r->state];
  snprintf(state, sizeof state, "%s", state_of(kind, r->state));
  memcpy(r->state, state, sizeof state);
  const char *type = json_string_value(json_object_get(ev, "instanceType"));
  if (type && *type) snprintf(r->type, sizeof r->type, "%s", type);
  int v = (int)json_integer_value(json_object_get(ev, "vcpus")), mem = (int)json_integer_value(json_object_get(ev, "memoryMib"));
  if (v > 0) r->vcpus = v, r->gpus = (int)json_integer_value(json_object_get(ev, "gpus"));
  if (mem > 0) r->mem = mem;
  /* agents do not know their lifecycle: the provisioner's LAUNCHING says it */
  const char *lc = json_string_value(json_object_get(ev, "lifecycle"));
  if (lc && (!r->lifecycle[0] || !strcmp(kind, "LAUNCHING") || strcmp(lc, "ON_DEMAND"))) snprintf(r->lifecycle, sizeof r->lifecycle, "%s", lc);
  double price = json_number_value(json_object_get(ev, "pricePerHour"));
  if (price > 0) r->price = price;
  const char *d = json_string_value(json_object_get(ev, "driver"));
  if (d && *d && (!r->driver[0] || !strcmp(kind, "LAUNCHING"))) snprintf(r->driver, sizeof r->driver, "%s", d);
  const char *reason = json_string_value(json_object_get(ev, "reason"));
  snprintf(r->reason, sizeof r->reason, "%s", reason ? reason : "");
  json_decref(ev);
}

static void decision_cb(void *ctx, const struct bus_msg *m) {
  struct fold *f = ctx;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (!m->value || bus_decode(m, &t, &ev, why, sizeof why)) return;
  const char *ce = json_string_value(json_object_get(ev, "computeEnvironment"));
  if (!f->ce || (ce && !strcmp(ce, f->ce))) {
    json_object_del(ev, "header");
    char *s = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
    fprintf(f->out, "%s\n", s);
    free(s);
  }
  json_decref(ev);
}

static int gone(const char *state) {
  return !strcmp(state, "terminated") || !strcmp(state, "lost") || !strcmp(state, "launch-failed");
}

int cmd_instances(int argc, char **argv) {
  const char *brokers_flag = NULL, *prefix_flag = NULL, *ce = NULL, *output = "table";
  int all = 0, events = 0, decisions = 0;
  const struct opt opts[] = {
      {"compute-environment", "NAME", &ce, NULL, NULL, "only this compute environment"},
      {"all", NULL, NULL, NULL, &all, "include terminated, lost and failed instances"},
      {"output", "table|json", &output, NULL, NULL, "output format (default table)"},
      {"events", NULL, NULL, NULL, &events, "print every instance event retained in barge.instances as JSON lines"},
      {"decisions", NULL, NULL, NULL, &decisions, "print the scaling decisions (barge.scaling) as JSON lines"},
      {"brokers", "HOST:PORT", &brokers_flag, NULL, NULL, "Kafka bootstrap servers (default: the stack of `barge up`)"},
      {"topic-prefix", "P", &prefix_flag, NULL, NULL, "topic name prefix (default barge.)"},
  };
  int r = opts_parse("instances", "[--compute-environment CE] [--all] [--output table|json] [--events|--decisions]",
                     argc, argv, opts, sizeof opts / sizeof *opts, NULL, NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  if (strcmp(output, "table") && strcmp(output, "json")) {
    fprintf(stderr, "barge instances: --output must be table or json\n");
    return 2;
  }
  char brokers[1024], prefix[128], err[1024];
  if (stack_brokers(brokers_flag, brokers, sizeof brokers, err, sizeof err)) {
    fprintf(stderr, "barge instances: %s\n", err);
    return 2;
  }
  stack_prefix(prefix_flag, prefix, sizeof prefix);
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "barge instances: %s\n", err);
    return 1;
  }
  struct bus_conf bc = {.brokers = brokers, .prefix = prefix, .client_id = "barge-cli"};
  struct fold f = {.index = json_object(), .ce = ce, .events = events, .out = stdout};
  struct bus_consumer *c = bus_consumer_new(&bc, NULL, 1, err, sizeof err);
  int rc = 1;
  json_t *jobs = NULL;
  if (!c) goto fail;
  if (decisions) {
    if (bus_read_table(c, TOPIC_SCALING, decision_cb, &f, err, sizeof err)) goto fail;
    rc = 0;
    goto out;
  }
  if (bus_read_table(c, TOPIC_INSTANCES, fold_cb, &f, err, sizeof err)) goto fail;
  if (events) {
    rc = 0;
    goto out;
  }
  if (jobs_view_load(&bc, &jobs, err, sizeof err)) goto fail;
  /* running jobs per instance: STARTING/RUNNING jobs whose container names the instance */
  json_t *running = json_object();
  const char *jid;
  json_t *rec;
  json_object_foreach(jobs, jid, rec) {
    json_t *d = json_object_get(rec, "detail");
    const char *st = json_string_value(json_object_get(d, "status"));
    if (!st || (strcmp(st, "STARTING") && strcmp(st, "RUNNING"))) continue;
    const char *arn = json_string_value(json_object_get(json_object_get(d, "container"), "containerInstanceArn"));
    const char *slash = arn ? strrchr(arn, '/') : NULL;
    if (!slash) continue;
    json_t *list = json_object_get(running, slash + 1);
    if (!list) json_object_set_new(running, slash + 1, list = json_array());
    json_array_append_new(list, json_string(json_string_value(json_object_get(d, "jobId"))));
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < f.n; i++) {
    struct inst_row *x = &f.rows[i];
    if (!all && gone(x->state)) continue;
    json_t *rj = json_object_get(running, x->id);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:f, s:s, s:I, s:I, s:o}", "instanceId", x->id,
                          "computeEnvironment", x->ce, "instanceType", x->type, "lifecycle",
                          x->lifecycle[0] ? x->lifecycle : "ON_DEMAND", "state", x->state, "vcpus", x->vcpus,
                          "memoryMib", x->mem, "gpus", x->gpus, "pricePerHour", x->price, "driver", x->driver,
                          "launchedAt", (json_int_t)x->launched_at, "lastEventAt", (json_int_t)x->last_at,
                          "runningJobs", rj ? json_incref(rj) : json_array());
    if (x->reason[0]) json_object_set_new(o, "reason", json_string(x->reason));
    json_array_append_new(arr, o);
  }
  if (!strcmp(output, "json")) {
    json_t *doc = json_pack("{s:o}", "instances", arr);
    char *s = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    printf("%s\n", s);
    free(s);
  } else {
    printf("%-21s %-20s %-14s %-9s %-12s %6s %8s %4s %s\n", "INSTANCE", "COMPUTE ENVIRONMENT", "TYPE", "LIFECYCLE",
           "STATE", "VCPUS", "MIB", "GPUS", "RUNNING JOBS");
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
      json_t *rjobs = json_object_get(o, "runningJobs");
      char jobs_text[256] = "";
      size_t k;
      json_t *j;
      size_t off = 0;
      json_array_foreach(rjobs, k, j) {
        if (k == 3) {
          snprintf(jobs_text + off, sizeof jobs_text - off, " +%zu more", json_array_size(rjobs) - 3);
          break;
        }
        int w = snprintf(jobs_text + off, sizeof jobs_text - off, "%s%s", k ? " " : "", json_string_value(j));
        if (w < 0 || (size_t)w >= sizeof jobs_text - off) break;
        off += (size_t)w;
      }
      printf("%-21s %-20s %-14s %-9s %-12s %6d %8d %4d %zu%s%s\n", json_string_value(json_object_get(o, "instanceId")),
             json_string_value(json_object_get(o, "computeEnvironment")),
             json_string_value(json_object_get(o, "instanceType")), json_string_value(json_object_get(o, "lifecycle")),
             json_string_value(json_object_get(o, "state")), (int)json_integer_value(json_object_get(o, "vcpus")),
             (int)json_integer_value(json_object_get(o, "memoryMib")), (int)json_integer_value(json_object_get(o, "gpus")),
             json_array_size(rjobs), json_array_size(rjobs) ? ": " : "", jobs_text);
    }
    json_decref(arr);
  }
  json_decref(running);
  rc = 0;
  goto out;
fail:
  fprintf(stderr, "barge instances: %s\n", err);
out:
  bus_consumer_free(c);
  json_decref(jobs);
  json_decref(f.index);
  free(f.rows);
  return rc;
}
