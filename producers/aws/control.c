/* control.c: the write step every write operation shares (see control.h) and the checks the
 * validations share. The validations are by resource: control_ce.c, control_queue.c,
 * control_jd.c, control_policy.c, control_job.c. */
#include <ctype.h>
#include <string.h>

#include "control_int.h"

int ctl_valid_name(const char *s, int job) {
  size_t n = s ? strlen(s) : 0;
  if (n < 1 || n > 128) return 0;
  if (job && !isalnum((unsigned char)s[0])) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_') return 0;
  return 1;
}

int ctl_valid_share_id(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n && s[n - 1] == '*') n--; /* "can be followed by an asterisk" */
  if (n < 1 || n > 255) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i])) return 0;
  return 1;
}

int ctl_in_list(const char *s, const char *const *list) {
  for (; s && *list; list++)
    if (!strcmp(s, *list)) return 1;
  return 0;
}

int ctl_valid_state(const char *s) { return !strcmp(s, "ENABLED") || !strcmp(s, "DISABLED"); }

int ctl_absent(const json_t *v) { return !v || json_is_null(v) || (json_is_object(v) && !json_object_size(v)); }

int ctl_check_command_override(const json_t *cmd, const char *path, char *err, size_t errlen) {
  size_t i;
  json_t *e;
  json_array_foreach(cmd, i, e) {
    if (json_is_string(e) && !json_string_length(e))
      return fail(err, errlen, CLIENT, "%s[%zu] is an empty string, which a command override may not hold (as in AWS)", path, i);
  }
  return 0;
}

int ctl_check_disabled(const json_t *r, const char *what, const char *ref, char *err,
                       size_t errlen) {
  if (strcmp(jget_str(r, "state"), "DISABLED"))
    return fail(err, errlen, CLIENT, "%s %s must be DISABLED before it is deleted", what, ref);
  return 0;
}

int ctl_out_of_scope(const char *member, char *err, size_t errlen) {
  return fail(err, errlen, CLIENT, "%s is not supported by Barge (out of scope: EKS, ECS properties, consumable resources, quota shares, service environments)", member);
}

int ctl_reject_out_of_scope(const json_t *req, char *err, size_t errlen) {
  static const char *const oos[] = {"eksConfiguration",
                                    "eksProperties", "ecsProperties", "eksPropertiesOverride",
                                    "ecsPropertiesOverride", "consumableResourceProperties",
                                    "consumableResourcePropertiesOverride",
                                    "serviceEnvironmentOrder", "quotaSharePolicy",
                                    NULL};
  for (const char *const *k = oos; *k; k++)
    if (json_object_get(req, *k)) return ctl_out_of_scope(*k, err, errlen);
  return 0;
}

int ctl_check_int(const json_t *o, const char *k, long lo, long hi, int required,
                  const char *path, char *err, size_t errlen) {
  json_t *v = json_object_get(o, k);
  if (!v || json_is_null(v)) {
    if (required) return fail(err, errlen, CLIENT, "%s%s is required", path, k);
    return 0;
  }
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return fail(err, errlen, CLIENT, "%s%s must be a whole number from %ld to %ld", path, k, lo, hi);
  return 0;
}

void ctl_copy_members(json_t *dst, const json_t *src, const char *const *members) {
  for (; *members; members++) {
    json_t *v = json_object_get(src, *members);
    if (v && !json_is_null(v)) json_object_set(dst, *members, v);
  }
}

json_t *ctl_tags_of(const json_t *req) {
  json_t *t = json_object_get(req, "tags");
  return json_is_object(t) ? json_deep_copy(t) : json_object();
}

void ctl_arn(const struct control_conf *cc, const char *kind, const char *name, char *out, size_t n) {
  char suffix[256];
  snprintf(suffix, sizeof suffix, "%s/%s", kind, name);
  barge_arn_in(cc ? cc->account : NULL, suffix, out, n);
}

void ctl_put_config(struct control_write *w, const char *kind, json_t *body, const char *name_key,
                    const char *arn_key) {
  w->topic = TOPIC_CONFIG;
  snprintf(w->key, sizeof w->key, "%s", jget_str(body, arn_key));
  w->resp = name_key ? json_pack("{s:O, s:O}", name_key, json_object_get(body, name_key), arn_key,
                                 json_object_get(body, arn_key))
                     : json_object();
  w->value = json_pack("{s:o, s:{s:o}}", "header", bus_header("api", "", now_ms()), "body", kind,
                       body);
}

void ctl_delete_config(struct control_write *w, const char *arn) {
  w->topic = TOPIC_CONFIG;
  snprintf(w->key, sizeof w->key, "%s", arn);
  w->value = NULL;
  w->resp = json_object();
}

int control_conf_get(struct control_conf *cc, const struct config_view **cv, char *err,
                     size_t errlen) {
  if (!cc->loaded) {
    int rc = config_view_load_api(cc->bc, &cc->cv, err, errlen);
    if (rc) return rc;
    cc->loaded = 1;
  }
  *cv = &cc->cv;
  return 0;
}

int control_jobs_get(struct control_conf *cc, json_t **jobs, char *err, size_t errlen) {
  if (!cc->jobs_loaded && !cc->bc) return fail(err, errlen, SERVER, "reading barge.jobs: no Kafka to read it from");
  if (!cc->jobs_loaded) {
    char e[512];
    if (jobs_view_load(cc->bc, &cc->jobs, e, sizeof e)) {
      json_decref(cc->jobs);
      cc->jobs = NULL;
      return fail(err, errlen, SERVER, "reading barge.jobs: %s", e);
    }
    cc->jobs_loaded = 1;
  }
  *jobs = cc->jobs;
  return 0;
}

int control_desired_get(struct control_conf *cc, json_t **desired, char *err, size_t errlen) {
  if (!cc->desired_loaded && cc->bc) {
    char e[512];
    if (scaling_view_load(cc->bc, &cc->desired, NULL, e, sizeof e)) {
      json_decref(cc->desired);
      cc->desired = NULL;
      return fail(err, errlen, SERVER, "reading barge.scaling: %s", e);
    }
    cc->desired_loaded = 1;
  }
  *desired = cc->desired;
  return 0;
}

void control_conf_release(struct control_conf *cc) {
  json_decref(cc->jobs);
  json_decref(cc->desired);
  cc->jobs = cc->desired = NULL;
}

int ctl_find(struct control_conf *cc, const json_t *req, enum ctl_table t,
             const struct config_view **cv, json_t **found, char *err, size_t errlen) {
  static const struct {
    const char *member, *what, *name_key; /* name_key NULL: by ARN only */
  } kinds[CTL_TABLE__COUNT] = {
      [CTL_CES] = {"computeEnvironment", "compute environment", "computeEnvironmentName"},
      [CTL_QUEUES] = {"jobQueue", "job queue", "jobQueueName"},
      [CTL_POLICIES] = {"arn", "scheduling policy", NULL},
  };
  const char *ref = jget_str(req, kinds[t].member);
  if (!ref) return fail(err, errlen, CLIENT, "%s is required", kinds[t].member);
  if (!*ref) return fail(err, errlen, CLIENT, "%s is empty: give a %s's %s", kinds[t].member, kinds[t].what,
                         kinds[t].name_key ? "name or ARN" : "ARN");
  int rc = control_conf_get(cc, cv, err, errlen);
  if (rc) return rc;
  json_t *tables[CTL_TABLE__COUNT] = {(*cv)->ces, (*cv)->queues, (*cv)->policies};
  *found = kinds[t].name_key ? config_find(tables[t], kinds[t].name_key, ref) : barge_arn_get(tables[t], ref);
  if (!*found && t == CTL_POLICIES) return ctl_policy_missing(*cv, kinds[t].member, ref, err, errlen);
  if (!*found) return fail(err, errlen, CLIENT, "%s %s does not exist", kinds[t].what, ref);
  return 0;
}

int ctl_policy_missing(const struct config_view *cv, const char *member, const char *ref, char *err,
                       size_t errlen) {
  /* a policy's name was answered "scheduling policy fs1 does not exist" while fs1 existed */
  json_t *named = strncmp(ref, "arn:", 4) ? config_find(cv->policies, "name", ref) : NULL;
  if (named)
    return fail(err, errlen, CLIENT, "%s %s is a scheduling policy's name: give its ARN, %s", member, ref,
                jget_str(named, "arn") ? jget_str(named, "arn") : "arn:...:scheduling-policy/NAME");
  return fail(err, errlen, CLIENT, "scheduling policy %s does not exist", ref);
}

void control_write_release(struct control_write *w) {
  json_decref(w->value);
  json_decref(w->resp);
  json_decref(w->must_exist);
  memset(w, 0, sizeof *w);
}

static control_known_fn known_hook;
static void *known_ctx;

void control_set_known_hook(control_known_fn fn, void *ctx) {
  known_hook = fn;
  known_ctx = ctx;
}

/* A dependsOn id (or the job a TagResource names: member) that does not exist is a
 * ClientException. Known jobs are in barge.jobs; one submitted a moment ago may only be in
 * barge.requests yet, so the recent tail of that topic counts too. Ids the process's own view
 * knows (known_hook) need no reading. An N_TO_N entry of an array job whose target is an array
 * of another size is one too (docs/job-model.md §6.2): the sizes come with the lookup. */
static int check_exist(const struct bus_conf *bc, const struct control_write *w, const char *member,
                       char *err, size_t errlen) {
  const char *ids[20], *rest[20];
  size_t n = 0, nrest = 0, i, at[20];
  json_t *id;
  json_array_foreach(w->must_exist, i, id) if (n < 20) ids[n++] = json_string_value(id);
  if (!n) return 0;
  int found[20] = {0}, found_rest[20] = {0}; /* 0: not found; 1, or an array parent's size */
  if (known_hook) known_hook(known_ctx, ids, n, found);
  for (i = 0; i < n; i++)
    if (!found[i]) at[nrest] = i, rest[nrest++] = ids[i];
  if (nrest) {
    char e[512];
    if (jobs_exist(bc, rest, nrest, found_rest, 100000, e, sizeof e))
      return fail(err, errlen, SERVER, "checking %s: %s", member, e);
    for (i = 0; i < nrest; i++) {
      if (!found_rest[i]) return fail(err, errlen, CLIENT, "%s: job %s does not exist", member, rest[i]);
      found[at[i]] = found_rest[i];
    }
  }
  for (i = 0; i < n; i++)
    if (w->n2n_size && (w->n2n_mask >> i & 1) && found[i] > 1 && found[i] != w->n2n_size)
      return fail(err, errlen, CLIENT, "%s: N_TO_N target %s has size %d, this array has %d: " N_TO_N_SIZE_HINT,
                  member, ids[i], found[i], w->n2n_size);
  return 0;
}

/* Sends one event (NULL: a tombstone) with a producer of its own and waits for its delivery
 * report: the command line's sink. */
static int publish(void *ctx, enum bus_topic t, const char *key, const json_t *v,
                   struct control_written *at, char *err, size_t errlen) {
  const struct bus_conf *bc = ctx;
  char e[512];
  (void)at;
  struct bus_producer *p = bus_producer_new(bc, NULL, e, sizeof e);
  if (!p) return fail(err, errlen, SERVER, "%s", e);
  int rc = bus_produce(p, t, key, v, e, sizeof e);
  if (!rc) rc = bus_flush(p, 30000, e, sizeof e);
  bus_producer_free(p);
  if (rc == BUS_OUTCOME_UNKNOWN) { /* never "failed" for a write that may have landed */
    const json_t *h = json_object_get(v, "header");
    return fail(err, errlen, SERVER,
                "the outcome is unknown (%s): the request may have been recorded; request id %s, key %s on %s: check "
                "(describe it) before sending it again", e, jget_str(h, "event_id"), key ? key : "", bus_topic_base(t));
  }
  if (rc) return fail(err, errlen, SERVER, "%s", e);
  return 0;
}

static control_written_fn written_hook;
static void *written_ctx;

void control_set_written_hook(control_written_fn fn, void *ctx) {
  written_hook = fn;
  written_ctx = ctx;
}

int control_write_out(const struct bus_conf *bc, const struct control_sink *sink,
                      struct control_write *w, json_t **resp, struct control_written *at,
                      char *err, size_t errlen) {
  struct control_written none;
  if (!at) at = &none;
  *at = (struct control_written){.topic = w->topic, .partition = -1, .offset = -1};
  int rc = check_exist(bc, w, w->must_exist_member ? w->must_exist_member : "dependsOn", err, errlen);
  if (!rc)
    rc = sink ? sink->publish(sink->ctx, w->topic, w->key, w->value, at, err, errlen)
              : publish((void *)bc, w->topic, w->key, w->value, at, err, errlen);
  if (!rc && written_hook) written_hook(written_ctx, w->topic, w->key, w->value);
  if (!rc) {
    *resp = w->resp;
    w->resp = NULL;
  }
  return rc;
}

int control_apply(aws_prepare_fn prepare, const struct bus_conf *bc, const json_t *req,
                  json_t **resp, char *err, size_t errlen) {
  return control_apply_as(prepare, bc, NULL, req, resp, err, errlen);
}

int control_apply_as(aws_prepare_fn prepare, const struct bus_conf *bc, const struct aws_caller *who,
                     const json_t *req, json_t **resp, char *err, size_t errlen) {
  struct control_conf cc = {.bc = bc, .who = who, .account = who ? who->account : NULL};
  struct control_write w = {0};
  *resp = NULL;
  int rc = prepare(&cc, req, &w, err, errlen);
  if (cc.loaded) config_view_release(&cc.cv);
  control_conf_release(&cc);
  if (!rc) rc = control_write_out(bc, NULL, &w, resp, NULL, err, errlen);
  control_write_release(&w);
  return rc;
}

int control_call(const struct bus_conf *bc, const char *api, const json_t *req, json_t **resp,
                 char *err, size_t errlen) {
  const struct aws_op *op = aws_op_find_api(api);
  *resp = NULL;
  if (!op) return fail(err, errlen, CLIENT, "%s is not an AWS Batch operation Barge knows", api);
  return aws_op_call(op, bc, req, resp, err, errlen);
}
