/* views.c: see views.h. */
#include "views.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "jsonget.h"
#include "states.h"

const char *barge_partition(void) {
  const char *p = getenv("BARGE_PARTITION");
  return p && *p ? p : "aws";
}
const char *barge_region(void) {
  const char *r = getenv("BARGE_REGION");
  return r && *r ? r : "us-east-1";
}
const char *barge_account(void) {
  const char *a = getenv("BARGE_ACCOUNT");
  return a && *a ? a : "000000000000";
}
void barge_arn(const char *suffix, char *out, size_t n) {
  barge_arn_in(NULL, suffix, out, n);
}
void barge_arn_in(const char *account, const char *suffix, char *out, size_t n) {
  snprintf(out, n, "arn:%s:batch:%s:%s:%s", barge_partition(), barge_region(),
           account && *account ? account : barge_account(), suffix);
}

/* The five ':'-separated fields after "arn:" and the rest: 0, or -1 when s is not an ARN. */
static int arn_split(const char *s, const char *f[5], size_t len[5]) {
  if (!s || strncmp(s, "arn:", 4)) return -1;
  s += 4;
  for (int i = 0; i < 4; i++) {
    const char *c = strchr(s, ':');
    if (!c) return -1;
    f[i] = s;
    len[i] = (size_t)(c - s);
    s = c + 1;
  }
  f[4] = s;
  len[4] = strlen(s);
  return 0;
}

int barge_arn_same(const char *a, const char *b) {
  const char *fa[5], *fb[5];
  size_t la[5], lb[5];
  if (!a || !b) return 0;
  if (!strcmp(a, b)) return 1;
  if (arn_split(a, fa, la) || arn_split(b, fb, lb)) return 0;
  for (int i = 1; i < 5; i++)
    if (la[i] != lb[i] || memcmp(fa[i], fb[i], la[i])) return 0;
  /* the partition: equal, or one of them is the arn:barge: Barge wrote before */
  return (la[0] == lb[0] && !memcmp(fa[0], fb[0], la[0])) || (la[0] == 5 && !memcmp(fa[0], "barge", 5)) ||
         (lb[0] == 5 && !memcmp(fb[0], "barge", 5));
}

json_t *barge_arn_get(json_t *table, const char *arn) {
  json_t *v = arn ? json_object_get(table, arn) : NULL;
  if (v || !arn || strncmp(arn, "arn:", 4)) return v;
  const char *k;
  json_object_foreach(table, k, v) if (barge_arn_same(k, arn)) return v;
  return NULL;
}

int view_read_table(const struct bus_conf *bc, enum bus_topic t,
                    void (*cb)(void *ctx, const struct bus_msg *m), void *ctx, char *err,
                    size_t errlen) {
  struct bus_consumer *c = bus_consumer_new(bc, NULL, 1, err, errlen);
  if (!c) return -1;
  int rc = bus_read_table(c, t, cb, ctx, err, errlen);
  bus_consumer_free(c);
  return rc;
}

void config_view_put(struct config_view *cv, const char *key, const json_t *ev) {
  json_t *body = json_object_get(ev, "body"), *b;
  if (!ev) { /* tombstone */
    json_object_del(cv->ces, key);
    json_object_del(cv->queues, key);
    json_object_del(cv->jds, key);
    json_object_del(cv->policies, key);
  } else if ((b = json_object_get(body, "ComputeEnvironment"))) {
    json_object_set(cv->ces, key, b);
  } else if ((b = json_object_get(body, "JobQueue"))) {
    json_object_set(cv->queues, key, b);
  } else if ((b = json_object_get(body, "JobDefinition"))) {
    json_object_set(cv->jds, key, b);
  } else if ((b = json_object_get(body, "SchedulingPolicy"))) {
    json_object_set(cv->policies, key, b);
  }
}

void config_view_apply(struct config_view *cv, const struct bus_msg *m) {
  char key[1024];
  snprintf(key, sizeof key, "%.*s", (int)m->keylen, m->key ? m->key : "");
  if (!m->value) {
    config_view_put(cv, key, NULL);
    return;
  }
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (bus_decode(m, &t, &ev, why, sizeof why)) return;
  config_view_put(cv, key, ev);
  json_decref(ev);
}

static void config_cb(void *ctx, const struct bus_msg *m) { config_view_apply(ctx, m); }

void config_view_init(struct config_view *cv) {
  cv->ces = json_object();
  cv->queues = json_object();
  cv->jds = json_object();
  cv->policies = json_object();
}

int config_view_load(const struct bus_conf *bc, struct config_view *cv, char *err,
                     size_t errlen) {
  config_view_init(cv);
  return view_read_table(bc, TOPIC_CONFIG, config_cb, cv, err, errlen);
}

int instance_event_stale(json_t *incarnations, const json_t *ev) {
  const char *id = jget_str(ev, "instanceId");
  if (!id) return 0;
  json_t *have = json_object_get(incarnations, id);
  int64_t latest = have ? (int64_t)json_integer_value(have) : 0;
  if (instance_incarnation_fold(&latest, jget_str(ev, "kind"), jget_int(ev, "incarnation", 0))) return 1;
  if (latest > 0 && (!have || latest != json_integer_value(have)))
    json_object_set_new(incarnations, id, json_integer((json_int_t)latest));
  return 0;
}

void scaling_fold(json_t *desired, json_t *served, const json_t *ev) {
  const char *ce = jget_str(ev, "computeEnvironment");
  if (!ce) return;
  json_t *to = json_object_get(ev, "toDesiredvCpus");
  if (json_is_integer(to)) json_object_set(desired, ce, to);
  json_int_t until = json_integer_value(json_object_get(ev, "servedUntil"));
  if (until > 0 && served)
    json_object_set_new(served, ce, json_pack("{s:I, s:I, s:s}", "servedUntil", until, "at",
                                              json_integer_value(json_object_get(ev, "at")), "detail",
                                              jget_str(ev, "detail") ? jget_str(ev, "detail") : ""));
}

struct scaling_tables {
  json_t *desired, *served;
};

static void scaling_cb(void *ctx, const struct bus_msg *m) {
  struct scaling_tables *f = ctx;
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (!m->value || bus_decode(m, &t, &ev, why, sizeof why)) return;
  scaling_fold(f->desired, f->served, ev);
  json_decref(ev);
}

int scaling_view_load(const struct bus_conf *bc, json_t **desired, json_t **served, char *err, size_t errlen) {
  struct scaling_tables f = {json_object(), served ? json_object() : NULL};
  *desired = f.desired;
  if (served) *served = f.served;
  return view_read_table(bc, TOPIC_SCALING, scaling_cb, &f, err, errlen);
}

void config_view_release(struct config_view *cv) {
  json_decref(cv->ces);
  json_decref(cv->queues);
  json_decref(cv->jds);
  json_decref(cv->policies);
  memset(cv, 0, sizeof *cv);
}

json_t *config_find(json_t *table, const char *name_key, const char *ref) {
  if (!ref) return NULL;
  json_t *v = barge_arn_get(table, ref);
  if (v) return v;
  const char *k;
  json_object_foreach(table, k, v) {
    const char *n = json_string_value(json_object_get(v, name_key));
    if (n && !strcmp(n, ref)) return v;
  }
  return NULL;
}

int config_jd_ref_has_revision(const char *ref) {
  const char *slash = ref && !strncmp(ref, "arn:", 4) ? strrchr(ref, '/') : NULL;
  return ref && strchr(slash ? slash : ref, ':') != NULL;
}

int config_jd_arn_unrevisioned(const char *jd_arn, const char *arn) {
  const char *colon = jd_arn ? strrchr(jd_arn, ':') : NULL;
  char base[512];
  if (!colon || (size_t)(colon - jd_arn) >= sizeof base) return 0;
  snprintf(base, sizeof base, "%.*s", (int)(colon - jd_arn), jd_arn);
  return barge_arn_same(base, arn);
}

json_t *config_find_jd(const struct config_view *cv, const char *ref) {
  if (!ref) return NULL;
  json_t *v = barge_arn_get(cv->jds, ref), *best = NULL;
  if (v) return v;
  const char *colon = strrchr(ref, ':');
  /* an ARN without revision names the definition, as a bare name does (AWS SubmitJob) */
  int arn_name = !strncmp(ref, "arn:", 4) && !config_jd_ref_has_revision(ref);
  const char *k;
  json_object_foreach(cv->jds, k, v) {
    const char *n = json_string_value(json_object_get(v, "jobDefinitionName"));
    int rev = (int)json_integer_value(json_object_get(v, "revision"));
    if (!n) continue;
    if (arn_name ? config_jd_arn_unrevisioned(json_string_value(json_object_get(v, "jobDefinitionArn")), ref)
                 : !strcmp(n, ref)) {
      const char *st = json_string_value(json_object_get(v, "status"));
      if (st && strcmp(st, "ACTIVE")) continue;
      if (!best || rev > json_integer_value(json_object_get(best, "revision"))) best = v;
    } else if (colon && strlen(n) == (size_t)(colon - ref) && !strncmp(n, ref, strlen(n)) &&
               atoi(colon + 1) == rev) {
      return v;
    }
  }
  return best;
}

int api_error(char *err, size_t errlen, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return code;
}

int config_view_load_api(const struct bus_conf *bc, struct config_view *cv, char *err,
                         size_t errlen) {
  char e[512];
  if (config_view_load(bc, cv, e, sizeof e)) {
    config_view_release(cv);
    return api_error(err, errlen, API_SERVER_ERROR, "reading configuration: %s", e);
  }
  return 0;
}

/* key -> the latest decoded event; a tombstone removes the key. */
static void latest_cb(void *ctx, const struct bus_msg *m) {
  json_t *latest = ctx;
  char key[256];
  snprintf(key, sizeof key, "%.*s", (int)m->keylen, m->key ? m->key : "");
  if (!m->value) {
    json_object_del(latest, key);
    return;
  }
  enum barge_ev_type t;
  json_t *ev = NULL;
  char why[256];
  if (bus_decode(m, &t, &ev, why, sizeof why)) return;
  json_object_set_new(latest, key, ev);
}

int view_load_latest(const struct bus_conf *bc, enum bus_topic t, json_t **out, char *err,
                     size_t errlen) {
  *out = json_object();
  return view_read_table(bc, t, latest_cb, *out, err, errlen);
}

int jobs_view_load(const struct bus_conf *bc, json_t **out, char *err, size_t errlen) {
  return view_load_latest(bc, TOPIC_JOBS, out, err, errlen);
}

struct exist_ctx {
  const char *const *ids;
  size_t n;
  int *found;
  int64_t tail;
  struct bus_consumer *c;
};

/* The child index of an id "<parent>:<index>" written as the scheduler names children (0 or
 * digits without a leading zero, "3" not "03" nor "+3"), or -1: atoi took "x" and "-1" for 0
 * and -1, so a dependsOn on <parent>:x was accepted and the job then failed in the scheduler. */
static long child_index(const char *s) {
  if (!isdigit((unsigned char)*s) || (s[0] == '0' && s[1]) || strlen(s) > 9) return -1;
  for (const char *p = s; *p; p++)
    if (!isdigit((unsigned char)*p)) return -1;
  return atol(s);
}

/* An id is matched by a submission of itself, or of its array parent with room for the index. */
static void mark_submitted(struct exist_ctx *x, const json_t *sub) {
  const char *id = json_string_value(json_object_get(sub, "jobId"));
  int size = (int)json_integer_value(json_object_get(json_object_get(sub, "arrayProperties"), "size"));
  if (!id) return;
  size_t il = strlen(id);
  for (size_t i = 0; i < x->n; i++) {
    if (x->found[i]) continue;
    if (!strcmp(x->ids[i], id)) x->found[i] = size > 1 ? size : 1;
    else if (size && !strncmp(x->ids[i], id, il) && x->ids[i][il] == ':' && child_index(x->ids[i] + il + 1) >= 0 &&
             child_index(x->ids[i] + il + 1) < size)
      x->found[i] = 1;
  }
}

static int64_t tail_start(void *ctx, enum bus_topic t, int32_t partition, int64_t committed) {
  struct exist_ctx *x = ctx;
  (void)committed;
  int64_t lo = 0, hi = 0;
  if (bus_watermarks(x->c, t, partition, &lo, &hi)) return BUS_OFFSET_BEGINNING;
  return hi - x->tail > lo ? hi - x->tail : lo;
}

int jobs_exist(const struct bus_conf *bc, const char *const *ids, size_t n, int *found,
               int64_t tail, char *err, size_t errlen) {
  memset(found, 0, n * sizeof *found);
  json_t *jobs = NULL;
  if (jobs_view_load(bc, &jobs, err, errlen)) {
    json_decref(jobs);
    return -1;
  }
  size_t missing = 0;
  for (size_t i = 0; i < n; i++) {
    const json_t *rec = json_object_get(jobs, ids[i]);
    json_int_t size = json_integer_value(
        json_object_get(json_object_get(json_object_get(rec, "detail"), "arrayProperties"), "size"));
    /* a child's record names its parent; only a parent's size counts */
    found[i] = !rec ? 0 : !jget_str(rec, "parentJobId") && size > 1 && size <= 10000 ? (int)size : 1;
    missing += !found[i];
  }
  json_decref(jobs);
  return missing ? jobs_submitted(bc, ids, n, found, tail, err, errlen) : 0;
}

int jobs_submitted(const struct bus_conf *bc, const char *const *ids, size_t n, int *found,
                   int64_t tail, char *err, size_t errlen) {
  struct exist_ctx x = {.ids = ids, .n = n, .found = found, .tail = tail};
  /* read_uncommitted: submissions are not transactional, but the scheduler's ticks are, and a
   * read_committed reader stops at an open transaction before later submissions */
  x.c = bus_consumer_new(bc, NULL, 0, err, errlen);
  enum bus_topic t = TOPIC_REQUESTS;
  if (!x.c || bus_assign_with(x.c, &t, 1, tail_start, &x, err, errlen)) {
    bus_consumer_free(x.c);
    return -1;
  }
  int rc = 0;
  int64_t deadline = mono_ms() + 30000;
  for (;;) {
    struct bus_msg m;
    int r = bus_poll(x.c, 200, &m, err, errlen);
    if (r < 0) {
      rc = -1;
      break;
    }
    if (r == 2) break; /* the one partition is read to its end */
    if (r == 0) {
      if (mono_ms() > deadline) break;
      continue;
    }
    enum barge_ev_type type;
    json_t *ev = NULL;
    char why[256];
    if (!bus_decode(&m, &type, &ev, why, sizeof why)) {
      json_t *sub = json_object_get(json_object_get(ev, "body"), "SubmitJob");
      if (sub) mark_submitted(&x, sub);
    }
    json_decref(ev);
    bus_msg_release(&m);
  }
  bus_consumer_free(x.c);
  return rc;
}
