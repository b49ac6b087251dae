/* control_policy.c: CreateSchedulingPolicy, UpdateSchedulingPolicy, DeleteSchedulingPolicy
 * (validations; control.h). */
#include <string.h>

#include "control_int.h"

static int check_fairshare(const json_t *fp, char *err, size_t errlen) {
  if (!fp || json_is_null(fp)) return 0;
  int rc;
  if ((rc = ctl_check_int(fp, "shareDecaySeconds", 0, 604800, 0, "fairsharePolicy.", err, errlen)) ||
      (rc = ctl_check_int(fp, "computeReservation", 0, 99, 0, "fairsharePolicy.", err, errlen)))
    return rc;
  size_t i, k;
  json_t *s, *t;
  json_t *sd = json_object_get(fp, "shareDistribution");
  json_array_foreach(sd, i, s) {
    const char *id = jget_str(s, "shareIdentifier");
    if (!id || !*id)
      return fail(err, errlen, CLIENT, "fairsharePolicy.shareDistribution[%zu].shareIdentifier is required (1-255 characters)", i);
    if (!ctl_valid_share_id(id))
      return fail(err, errlen, CLIENT, "fairsharePolicy.shareDistribution[%zu].shareIdentifier '%.300s' must be 1-255 letters and digits, optionally followed by '*'", i, id);
    json_t *w = json_object_get(s, "weightFactor");
    if (w && (!json_is_number(w) || json_number_value(w) < 0.0001 || json_number_value(w) > 999.9999))
      return fail(err, errlen, CLIENT, "fairsharePolicy.shareDistribution[%zu].weightFactor must be within 0.0001..999.9999", i);
    json_array_foreach(sd, k, t) {
      if (k <= i) continue;
      const char *o = jget_str(t, "shareIdentifier");
      if (!o) continue;
      size_t la = strlen(id), lb = strlen(o);
      int pa = la && id[la - 1] == '*', pb = lb && o[lb - 1] == '*';
      int overlap = !strcmp(id, o) || (pa && !strncmp(id, o, la - 1)) || (pb && !strncmp(o, id, lb - 1));
      if (overlap) return fail(err, errlen, CLIENT, "fairsharePolicy.shareDistribution: %s and %s overlap", id, o);
    }
  }
  return 0;
}

static json_t *fairshare_body(const json_t *fp) {
  json_t *o = json_object();
  json_object_set_new(o, "shareDecaySeconds", json_integer(json_integer_value(json_object_get(fp, "shareDecaySeconds"))));
  json_object_set_new(o, "computeReservation", json_integer(json_integer_value(json_object_get(fp, "computeReservation"))));
  json_t *sd = json_array();
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(fp, "shareDistribution"), i, s) {
    json_t *w = json_object_get(s, "weightFactor");
    json_array_append_new(sd, json_pack("{s:s, s:f}", "shareIdentifier", jget_str(s, "shareIdentifier"), "weightFactor", w ? json_number_value(w) : 1.0));
  }
  json_object_set_new(o, "shareDistribution", sd);
  return o;
}

int control_create_scheduling_policy(struct control_conf *cc, const json_t *req,
                                     struct control_write *w, char *err, size_t errlen) {
  const char *name = jget_str(req, "name");
  if (!name) return fail(err, errlen, CLIENT, "name is required");
  if (!ctl_valid_name(name, 0)) return fail(err, errlen, CLIENT, "name '%s' must be 1-128 letters, digits, '-' or '_'", name);
  const struct config_view *cv;
  int rc;
  if ((rc = check_fairshare(json_object_get(req, "fairsharePolicy"), err, errlen)) ||
      (rc = control_conf_get(cc, &cv, err, errlen)))
    return rc;
  char arn[512];
  ctl_arn(cc, "scheduling-policy", name, arn, sizeof arn);
  if (config_find(cv->policies, "name", name)) return fail(err, errlen, CLIENT, "scheduling policy %s already exists", name);
  json_t *b = json_pack("{s:s, s:s, s:o, s:I}", "name", name, "arn", arn, "tags", ctl_tags_of(req),
                        "createdAt", (json_int_t)now_ms());
  json_object_set_new(b, "fairsharePolicy", fairshare_body(json_object_get(req, "fairsharePolicy")));
  ctl_put_config(w, "SchedulingPolicy", b, "name", "arn");
  return 0;
}

int control_update_scheduling_policy(struct control_conf *cc, const json_t *req,
                                     struct control_write *w, char *err, size_t errlen) {
  if (!jget_str(req, "arn")) return fail(err, errlen, CLIENT, "arn is required");
  const struct config_view *cv;
  json_t *cur;
  int rc;
  if ((rc = check_fairshare(json_object_get(req, "fairsharePolicy"), err, errlen)) ||
      (rc = ctl_find(cc, req, CTL_POLICIES, &cv, &cur, err, errlen)))
    return rc;
  json_t *b = json_deep_copy(cur);
  if (json_object_get(req, "fairsharePolicy"))
    json_object_set_new(b, "fairsharePolicy", fairshare_body(json_object_get(req, "fairsharePolicy")));
  ctl_put_config(w, "SchedulingPolicy", b, NULL, "arn");
  return 0;
}

int control_delete_scheduling_policy(struct control_conf *cc, const json_t *req,
                                     struct control_write *w, char *err, size_t errlen) {
  const struct config_view *cv;
  json_t *policy;
  int rc;
  if ((rc = ctl_find(cc, req, CTL_POLICIES, &cv, &policy, err, errlen))) return rc;
  /* the policy's own ARN, not the request's: named by the other form of its ARN (arn:barge: for
   * arn:aws:, docs/api.md "Identity"), the policy was deleted while in use, or answered deleted
   * while a tombstone of a key that is not its own left it in place */
  const char *arn = jget_str(policy, "arn");
  const char *k;
  json_t *q;
  json_object_foreach(cv->queues, k, q) {
    if (barge_arn_same(jget_str(q, "schedulingPolicyArn"), arn))
      return fail(err, errlen, CLIENT, "scheduling policy %s is used by job queue %s", arn, jget_str(q, "jobQueueName"));
  }
  ctl_delete_config(w, arn);
  return 0;
}
