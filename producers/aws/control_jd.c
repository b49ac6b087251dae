/* control_jd.c: RegisterJobDefinition, DeregisterJobDefinition (validations; control.h), and
 * the retry, timeout and environment checks SubmitJob shares. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "control_int.h"

/* The smallest attemptDurationSeconds (60 as in AWS Batch, configurable with
 * BARGE_MIN_ATTEMPT_DURATION_SECONDS, e.g. for tests that watch a timeout fire). */
long ctl_min_timeout_s(void) {
  const char *e = getenv("BARGE_MIN_ATTEMPT_DURATION_SECONDS");
  long v = e && *e ? atol(e) : 60;
  return v < 1 ? 1 : v;
}

int ctl_validate_retry(const json_t *rs, const char *path, char *err, size_t errlen) {
  if (!rs || json_is_null(rs)) return 0;
  int rc;
  char p[96];
  snprintf(p, sizeof p, "%sretryStrategy.", path);
  if ((rc = ctl_check_int(rs, "attempts", 1, 10, 0, p, err, errlen))) return rc;
  json_t *rules = json_object_get(rs, "evaluateOnExit");
  if (json_array_size(rules) > 5) return fail(err, errlen, CLIENT, "%sevaluateOnExit takes at most 5 rules", p);
  if (json_array_size(rules) && !json_object_get(rs, "attempts"))
    return fail(err, errlen, CLIENT, "%sevaluateOnExit needs retryStrategy.attempts", p);
  size_t i;
  json_t *r;
  json_array_foreach(rules, i, r) {
    const char *act = jget_str(r, "action");
    if (!act || (strcasecmp(act, "RETRY") && strcasecmp(act, "EXIT")))
      return fail(err, errlen, CLIENT, "%sevaluateOnExit[%zu].action must be RETRY or EXIT", p, i);
    static const char *const pats[] = {"onStatusReason", "onReason", "onExitCode", NULL};
    for (const char *const *k = pats; *k; k++) {
      const char *v = jget_str(r, *k);
      if (!v) continue;
      if (strlen(v) > 512) return fail(err, errlen, CLIENT, "%sevaluateOnExit[%zu].%s is longer than 512 characters", p, i, *k);
      for (const char *c = v; *c; c++) {
        int ok = !strcmp(*k, "onExitCode") ? (isdigit((unsigned char)*c) || (*c == '*' && !c[1]))
                                           : (isalnum((unsigned char)*c) || strchr(".: \t", *c) || (*c == '*' && !c[1]));
        if (!ok) return fail(err, errlen, CLIENT, "%sevaluateOnExit[%zu].%s has a character not allowed: '%c'", p, i, *k, *c);
      }
    }
  }
  return 0;
}

/* The retry strategy with actions upper-cased as AWS returns them. */
json_t *ctl_normalize_retry(const json_t *rs) {
  json_t *o = json_object();
  if (json_is_integer(json_object_get(rs, "attempts"))) json_object_set(o, "attempts", json_object_get(rs, "attempts"));
  json_t *rules = json_array();
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(rs, "evaluateOnExit"), i, r) {
    json_t *x = json_object();
    static const char *const pats[] = {"onStatusReason", "onReason", "onExitCode", NULL};
    ctl_copy_members(x, r, pats);
    json_object_set_new(x, "action", json_string(strcasecmp(jget_str(r, "action"), "RETRY") ? "EXIT" : "RETRY"));
    json_array_append_new(rules, x);
  }
  json_object_set_new(o, "evaluateOnExit", rules);
  return o;
}

static int resources_of(const json_t *cp, int *v, int *m) {
  *v = *m = -1;
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(cp, "resourceRequirements"), i, r) {
    const char *t = jget_str(r, "type"), *val = jget_str(r, "value");
    if (!t) continue;
    if (!strcmp(t, "VCPU")) *v = val ? atoi(val) : 0;
    if (!strcmp(t, "MEMORY")) *m = val ? atoi(val) : 0;
  }
  if (*v < 0 && json_is_integer(json_object_get(cp, "vcpus"))) *v = (int)json_integer_value(json_object_get(cp, "vcpus"));
  if (*m < 0 && json_is_integer(json_object_get(cp, "memory"))) *m = (int)json_integer_value(json_object_get(cp, "memory"));
  return 0;
}

int ctl_check_env(const json_t *env, const char *path, char *err, size_t errlen) {
  size_t i;
  json_t *e;
  json_array_foreach(env, i, e) {
    const char *n = jget_str(e, "name");
    if (!n) return fail(err, errlen, CLIENT, "%s[%zu].name is required", path, i);
    if (!strncmp(n, "AWS_BATCH", 9))
      return fail(err, errlen, CLIENT, "%s[%zu].name %s: names starting with AWS_BATCH are reserved", path, i, n);
  }
  return 0;
}

/* One resourceRequirements value: a whole number from lo to INT_MAX, nothing else ("2abc",
 * "-2", "1.5" and " 2" are refused: the scheduler and the agents read it as an int). */
static int valid_amount(const char *val, long lo) {
  if (!val || !isdigit((unsigned char)val[0])) return 0;
  char *end;
  errno = 0;
  long n = strtol(val, &end, 10);
  return !*end && !errno && n >= lo && n <= INT_MAX;
}

int ctl_check_resources(const json_t *c, const char *path, char *err, size_t errlen) {
  static const struct {
    const char *type, *unit;
    long min;
  } kinds[] = {{"GPU", "", 0}, {"VCPU", "", 1}, {"MEMORY", " (MiB)", 4}};
  size_t i, first[sizeof kinds / sizeof *kinds];
  json_t *r;
  for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) first[k] = (size_t)-1;
  json_array_foreach(json_object_get(c, "resourceRequirements"), i, r) {
    const char *t = jget_str(r, "type"), *val = jget_str(r, "value");
    size_t k = 0;
    while (k < sizeof kinds / sizeof *kinds && (!t || strcmp(t, kinds[k].type))) k++;
    if (k == sizeof kinds / sizeof *kinds)
      return fail(err, errlen, CLIENT, "%s.resourceRequirements[%zu].type %s is not one of GPU, VCPU, MEMORY", path, i, t ? t : "(none)");
    /* a second entry of a type used to win silently over the first */
    if (first[k] != (size_t)-1)
      return fail(err, errlen, CLIENT, "%s.resourceRequirements[%zu].type %s is already given at resourceRequirements[%zu]; each type may appear once",
                  path, i, t, first[k]);
    first[k] = i;
    if (!val) return fail(err, errlen, CLIENT, "%s.resourceRequirements[%zu].value is required", path, i);
    if (!valid_amount(val, kinds[k].min))
      return fail(err, errlen, CLIENT, "%s.resourceRequirements[%zu].value: %s%s must be a whole number from %ld to %d, got '%s'",
                  path, i, t, kinds[k].unit, kinds[k].min, INT_MAX, val);
  }
  char p[160];
  snprintf(p, sizeof p, "%s.", path);
  int rc;
  if ((rc = ctl_check_int(c, "vcpus", 1, INT_MAX, 0, p, err, errlen)) ||
      (rc = ctl_check_int(c, "memory", 4, INT_MAX, 0, p, err, errlen)))
    return rc;
  return 0;
}

int ctl_check_container_props(const json_t *cp, const char *path, char *err, size_t errlen) {
  int v, m, rc;
  if ((rc = ctl_check_resources(cp, path, err, errlen))) return rc;
  resources_of(cp, &v, &m);
  if (v < 1) return fail(err, errlen, CLIENT, "%s needs a VCPU resourceRequirement (or vcpus) of at least 1", path);
  if (m < 4) return fail(err, errlen, CLIENT, "%s needs a MEMORY resourceRequirement (or memory) of at least 4 MiB", path);
  char p[128];
  snprintf(p, sizeof p, "%s.environment", path);
  if ((rc = ctl_check_env(json_object_get(cp, "environment"), p, err, errlen))) return rc;
  if ((rc = ctl_check_container(cp, err, errlen))) return rc;
  json_t *img = json_object_get(cp, "image");
  if (json_is_string(img) && strlen(json_string_value(img)) > 255)
    return fail(err, errlen, CLIENT, "%s.image is longer than 255 characters", path);
  return 0;
}

int ctl_container_vcpus(const json_t *cp) {
  int v, m;
  resources_of(cp, &v, &m);
  return v;
}

int control_register_job_definition(struct control_conf *cc, const json_t *req,
                                    struct control_write *w, char *err, size_t errlen) {
  const char *name = jget_str(req, "jobDefinitionName"), *type = jget_str(req, "type");
  int rc;
  if ((rc = ctl_reject_out_of_scope(req, err, errlen))) return rc;
  if (!name) return fail(err, errlen, CLIENT, "jobDefinitionName is required");
  if (!ctl_valid_name(name, 0))
    return fail(err, errlen, CLIENT, "jobDefinitionName '%s' must be 1-128 letters, digits, '-' or '_'", name);
  if (!type) return fail(err, errlen, CLIENT, "type is required (container or multinode)");
  int multinode = !strcmp(type, "multinode");
  if (strcmp(type, "container") && !multinode)
    return fail(err, errlen, CLIENT, "type %s is not supported: container or multinode", type);
  json_t *cp = json_object_get(req, "containerProperties");
  char *node_props = NULL; /* multinode: the normalised nodeProperties, as JSON text */
  if (multinode) {
    const struct config_view *cv0;
    if ((rc = control_conf_get(cc, &cv0, err, errlen))) return rc;
    if ((rc = ctl_check_node_properties(cv0, req, &node_props, err, errlen))) return rc;
  } else {
    if (json_object_get(req, "nodeProperties"))
      return fail(err, errlen, CLIENT, "nodeProperties is for type multinode, not %s", type);
    if (!json_is_object(cp)) return fail(err, errlen, CLIENT, "containerProperties is required");
    if ((rc = ctl_check_container_props(cp, "containerProperties", err, errlen))) return rc;
  }
  if ((rc = ctl_validate_retry(json_object_get(req, "retryStrategy"), "", err, errlen)) ||
      (rc = ctl_check_int(json_object_get(req, "timeout"), "attemptDurationSeconds", ctl_min_timeout_s(), 0x7fffffff, 0, "timeout.", err, errlen)) ||
      (rc = ctl_check_int(req, "schedulingPriority", 0, 9999, 0, "", err, errlen))) {
    free(node_props);
    return rc;
  }
  json_t *pc = json_object_get(req, "platformCapabilities");
  size_t i;
  json_t *x;
  json_array_foreach(pc, i, x) if (!json_is_string(x) || strcmp(json_string_value(x), "EC2")) {
    free(node_props);
    return fail(err, errlen, CLIENT, "platformCapabilities: only EC2 is supported (Fargate is out of scope)");
  }
  const struct config_view *cv;
  if ((rc = control_conf_get(cc, &cv, err, errlen))) {
    free(node_props);
    return rc;
  }
  int rev = 0;
  const char *k;
  json_object_foreach(cv->jds, k, x) {
    if (!strcmp(jget_str(x, "jobDefinitionName"), name) && json_integer_value(json_object_get(x, "revision")) > rev)
      rev = (int)json_integer_value(json_object_get(x, "revision"));
  }
  rev++;
  char ref[256], arn[512];
  snprintf(ref, sizeof ref, "%s:%d", name, rev);
  ctl_arn(cc, "job-definition", ref, arn, sizeof arn);
  json_t *c = json_object();
  if (!cp) cp = c; /* multinode: no containerProperties (each node range has its own) */
  static const char *const cmembers[] = {"image", "command", "environment", "resourceRequirements", "vcpus", "memory", "jobRoleArn", "executionRoleArn", NULL};
  ctl_copy_members(c, cp, cmembers);
  json_t *stored = json_deep_copy(cp);
  for (const char *const *kk = cmembers; *kk; kk++) json_object_del(stored, *kk);
  char *text = json_dumps(stored, JSON_COMPACT | JSON_SORT_KEYS);
  json_object_set_new(c, "storedJson", json_string(text));
  free(text);
  json_decref(stored);
  json_t *b = json_object();
  json_object_set_new(b, "jobDefinitionName", json_string(name));
  json_object_set_new(b, "jobDefinitionArn", json_string(arn));
  json_object_set_new(b, "revision", json_integer(rev));
  json_object_set_new(b, "status", json_string("ACTIVE"));
  json_object_set_new(b, "type", json_string(multinode ? "multinode" : "container"));
  if (node_props) json_object_set_new(b, "nodePropertiesJson", json_string(node_props));
  free(node_props);
  json_object_set_new(b, "parameters", json_is_object(json_object_get(req, "parameters")) ? json_deep_copy(json_object_get(req, "parameters")) : json_object());
  json_object_set_new(b, "containerProperties", c);
  if (json_is_object(json_object_get(req, "retryStrategy"))) json_object_set_new(b, "retryStrategy", ctl_normalize_retry(json_object_get(req, "retryStrategy")));
  if (json_is_object(json_object_get(req, "timeout"))) json_object_set(b, "timeout", json_object_get(req, "timeout"));
  static const char *const copy[] = {"schedulingPriority", "propagateTags", NULL};
  ctl_copy_members(b, req, copy);
  json_object_set_new(b, "platformCapabilities", json_pack("[s]", "EC2"));
  json_object_set_new(b, "tags", ctl_tags_of(req));
  json_object_set_new(b, "createdAt", json_integer(now_ms()));
  ctl_put_config(w, "JobDefinition", b, "jobDefinitionName", "jobDefinitionArn");
  json_object_set_new(w->resp, "revision", json_integer(rev));
  return 0;
}

int control_deregister_job_definition(struct control_conf *cc, const json_t *req,
                                      struct control_write *w, char *err, size_t errlen) {
  const char *ref = jget_str(req, "jobDefinition");
  if (!ref) return fail(err, errlen, CLIENT, "jobDefinition is required (name:revision or ARN)");
  if (!*ref) return fail(err, errlen, CLIENT, "jobDefinition is empty: give name:revision or an ARN");
  /* a revision is required, as in AWS: a name or an ARN without one would find the latest */
  if (!config_jd_ref_has_revision(ref))
    return fail(err, errlen, CLIENT, "jobDefinition %s names no revision (give name:revision or ARN with the revision)", ref);
  const struct config_view *cv;
  int rc;
  if ((rc = control_conf_get(cc, &cv, err, errlen))) return rc;
  json_t *jd = config_find_jd(cv, ref);
  json_t *b = jd ? json_deep_copy(jd) : NULL;
  if (!b) return fail(err, errlen, CLIENT, "job definition %s does not exist", ref);
  json_object_set_new(b, "status", json_string("INACTIVE"));
  ctl_put_config(w, "JobDefinition", b, NULL, "jobDefinitionArn");
  return 0;
}

