/* view.c: see view.h. */
#include "view.h"

#include <string.h>

#include "capacity_view.h"
#include "codec.h"
#include "jsonget.h"

void view_init(struct view *v) {
  memset(v, 0, sizeof *v);
  v->cv.ces = json_object();
  v->cv.queues = json_object();
  v->cv.jds = json_object();
  v->cv.policies = json_object();
  v->jobs = jobs_store_new();
  v->scaling = json_object();
  v->served = json_object();
  v->instances = json_object();
  v->incarnations = json_object();
  v->launch = json_object();
  v->history = ce_history_new();
  v->pending = json_object();
}

void view_release(struct view *v) {
  config_view_release(&v->cv);
  jobs_store_free(v->jobs);
  json_decref(v->scaling);
  json_decref(v->served);
  json_decref(v->instances);
  json_decref(v->incarnations);
  json_decref(v->launch);
  ce_history_free(v->history);
  json_decref(v->pending);
  memset(v, 0, sizeof *v);
}

int view_topics(unsigned tables, enum bus_topic *out) {
  int n = 0;
  if (tables & VIEW_CONFIG) out[n++] = TOPIC_CONFIG;
  if (tables & VIEW_JOBS) out[n++] = TOPIC_JOBS;
  if (tables & VIEW_CAPACITY) {
    out[n++] = TOPIC_SCALING;
    out[n++] = TOPIC_INSTANCES;
  }
  return n;
}

/* barge.config: a key this process wrote keeps its written value until that event is read. */
static void apply_config(struct view *v, const char *key, const json_t *ev) {
  json_t *mine = json_object_get(v->pending, key);
  if (mine) {
    if (!(json_is_null(mine) ? !ev : ev && json_equal(mine, ev))) return; /* an older event */
    json_object_del(v->pending, key);
  }
  config_view_put(&v->cv, key, ev);
}

void view_apply(struct view *v, const struct bus_msg *m) {
  char key[1024];
  snprintf(key, sizeof key, "%.*s", (int)m->keylen, m->key ? m->key : "");
  enum barge_ev_type type;
  json_t *ev = NULL;
  char why[256];
  if (m->value && bus_decode(m, &type, &ev, why, sizeof why)) {
    log_warn("view: skipping an event of %s at %d:%lld: %s", bus_topic_base(m->topic),
             (int)m->partition, (long long)m->offset, why);
    return;
  }
  switch (m->topic) {
  case TOPIC_CONFIG: {
    apply_config(v, key, ev);
    json_t *ce = json_object_get(json_object_get(ev, "body"), "ComputeEnvironment");
    if (ce) capacity_fold_ce_changed(v->launch, jget_str(ce, "computeEnvironmentName"), m->timestamp_ms);
    break;
  }
  case TOPIC_JOBS:
    if (ev) jobs_store_put(v->jobs, key, ev, m->value, m->len);
    else jobs_store_del(v->jobs, key);
    break;
  case TOPIC_SCALING: /* delete retention, keyed by CE: the last decision read is the latest */
    if (ev) scaling_fold(v->scaling, v->served, ev);
    if (ev) ce_history_fold_scaling(v->history, ev);
    break;
  case TOPIC_INSTANCES:
    /* an older agent incarnation's late word (its TERMINATED after the restarted agent's READY)
     * showed a running instance as gone until its next beat, and out of the CE's actual vCPUs */
    if (ev && instance_event_stale(v->incarnations, ev)) break;
    if (ev) json_object_set(v->instances, key, ev);
    else json_object_del(v->instances, key);
    if (!ev) json_object_del(v->incarnations, key);
    if (ev) ce_history_fold_instance(v->history, ev);
    if (ev) capacity_fold_launch(v->launch, ev);
    break;
  default:
    break;
  }
  json_decref(ev);
}

static void apply_cb(void *ctx, const struct bus_msg *m) { view_apply(ctx, m); }

int view_load(const struct bus_conf *bc, struct view *v, unsigned tables, char *err,
              size_t errlen) {
  enum bus_topic topics[4];
  int n = view_topics(tables, topics);
  for (int i = 0; i < n; i++) {
    char e[512];
    if (view_read_table(bc, topics[i], apply_cb, v, e, sizeof e))
      return api_error(err, errlen, API_SERVER_ERROR, "reading %s: %s", bus_topic_base(topics[i]), e);
  }
  return 0;
}

/* The JobRecord a submission stands for until the scheduler writes its own: SUBMITTED, with
 * what the request said (docs/api.md, "Read-your-writes"). */
static json_t *submitted_record(const json_t *ev, const json_t *sub) {
  const char *id = jget_str(sub, "jobId");
  char suffix[128], arn[512];
  snprintf(suffix, sizeof suffix, "job/%s", id);
  if (jget_str(sub, "jobArn")) snprintf(arn, sizeof arn, "%s", jget_str(sub, "jobArn")); /* the caller's account */
  else barge_arn(suffix, arn, sizeof arn);
  json_int_t at = json_integer_value(json_object_get(json_object_get(ev, "header"), "event_time"));
  json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:[], s:[s], s:b, s:b}", "jobArn", arn, "jobName",
                        jget_str(sub, "jobName"), "jobId", id, "jobQueue", jget_str(sub, "jobQueue"),
                        "status", "SUBMITTED", "createdAt", at ? at : (json_int_t)now_ms(), "attempts",
                        "platformCapabilities", "EC2", "isCancelled", 0, "isTerminated", 0);
  static const char *const copy[] = {"jobDefinition", "dependsOn", "parameters", "timeout", "tags",
                                     "propagateTags", "shareIdentifier", "retryStrategy", NULL};
  for (const char *const *k = copy; *k; k++) {
    json_t *x = json_object_get(sub, *k);
    if (x && !json_is_null(x)) json_object_set(d, *k, x);
  }
  if (!json_object_get(d, "dependsOn")) json_object_set_new(d, "dependsOn", json_array());
  json_t *size = json_object_get(json_object_get(sub, "arrayProperties"), "size");
  if (json_is_integer(size))
    json_object_set_new(d, "arrayProperties", json_pack("{s:O, s:{}}", "size", size, "statusSummary"));
  return json_pack("{s:o, s:i, s:[]}", "detail", d, "attempt", 0, "dependencyIds");
}

/* value, written under key, as the view will read it back: encoded and decoded (defaults filled,
 * nulls dropped). */
static json_t *as_read_back(enum bus_topic t, const char *key, const json_t *value) {
  struct buf b;
  buf_init(&b);
  char why[256];
  json_t *out = NULL;
  enum barge_ev_type type;
  if (!codec_encode(bus_topic_type(t), value, &b, why, sizeof why)) {
    struct bus_msg m = {.topic = t, .key = key, .keylen = strlen(key), .value = b.data, .len = b.len};
    if (bus_decode(&m, &type, &out, why, sizeof why)) out = NULL;
  }
  buf_release(&b);
  return out;
}

void view_written(struct view *v, enum bus_topic t, const char *key, const json_t *value) {
  if (t == TOPIC_REQUESTS) {
    json_t *sub = json_object_get(json_object_get(value, "body"), "SubmitJob");
    if (sub && jget_str(sub, "jobId")) jobs_store_overlay(v->jobs, submitted_record(value, sub));
    return;
  }
  if (t != TOPIC_CONFIG) return;
  json_t *ev = value ? as_read_back(t, key, value) : NULL;
  if (value && !ev) return; /* cannot happen for an acknowledged write: it was encoded once */
  /* already read back (the consumer can be quicker than the acknowledgement): nothing to hold */
  json_t *tables[] = {v->cv.ces, v->cv.queues, v->cv.jds, v->cv.policies}, *now = NULL;
  for (size_t i = 0; i < 4 && !now; i++) now = json_object_get(tables[i], key);
  json_t *body = json_object_get(ev, "body");
  const char *kind = json_object_size(body) == 1 ? json_object_iter_key(json_object_iter(body)) : NULL;
  if (ev ? now && kind && json_equal(now, json_object_get(body, kind)) : !now) {
    json_decref(ev);
    return;
  }
  json_object_set_new(v->pending, key, ev ? json_incref(ev) : json_null());
  config_view_put(&v->cv, key, ev);
  json_decref(ev);
}
