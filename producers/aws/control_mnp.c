/* control_mnp.c: multi-node parallel job definitions and submissions (docs/job-model.md,
 * "Multi-node parallel jobs"): nodeProperties checked at registration, and the
 * limits a submission against such a definition meets (no arrays, no containerOverrides, a gang
 * that a compute environment of the queue can hold). */
#include <stdlib.h>
#include <string.h>

#include "control_int.h"

#define MAX_NODES 1000

/* The largest number of vCPUs one CE can ever hold (managed: maxvCpus; unmanaged:
 * unmanagedvCpus), over the CEs of queue (NULL: every CE of cv); -1 when one of them has no
 * bound or there is none. */
static long largest_ce(const struct config_view *cv, const json_t *queue) {
  long best = 0;
  int any = 0;
  const char *k;
  json_t *ce;
  json_object_foreach(cv->ces, k, ce) {
    if (queue) {
      int in = 0;
      size_t i;
      json_t *o;
      json_array_foreach(json_object_get(queue, "computeEnvironmentOrder"), i, o)
          in |= barge_arn_same(jget_str(o, "computeEnvironment"), jget_str(ce, "computeEnvironmentArn"));
      if (!in) continue;
    }
    any = 1;
    json_t *cr = json_object_get(ce, "computeResources");
    long cap = cr ? (long)jget_int(cr, "maxvCpus", 0) : (long)jget_int(ce, "unmanagedvCpus", 0);
    if (!cr && cap <= 0) return -1; /* an unmanaged CE without a declared size: no known bound */
    if (cap > best) best = cap;
  }
  return any ? best : -1;
}

static int check_fits(long largest, const char *member, int nodes, long vcpus, const char *where,
                      char *err, size_t errlen) {
  if (largest < 0 || vcpus <= largest) return 0;
  return fail(err, errlen, CLIENT,
              "%s %d: no compute environment %s can ever hold the %d nodes "
              "(%ld vCPUs in all; the largest holds %ld)", member, nodes, where, nodes, vcpus, largest);
}

/* A member of a node range (o, at path) that AWS's model has and Barge does not act on: refused
 * naming it and saying why, never dropped (docs/api.md, "Members Barge refuses"). The out-of-scope
 * ones end NULL-terminated oos. */
static int refuse_node_member(const json_t *o, const char *path, const char *const *oos, char *err, size_t errlen) {
  if (json_object_get(o, "instanceTypes"))
    return fail(err, errlen, CLIENT, "%s.instanceTypes is not supported by Barge (no instance-type choice per node)", path);
  for (const char *const *k = oos; *k; k++)
    if (json_object_get(o, *k)) {
      char member[160];
      snprintf(member, sizeof member, "%s.%s", path, *k);
      return ctl_out_of_scope(member, err, errlen);
    }
  return 0;
}

/* Checks one nodeRangeProperties entry and marks its nodes in owner; adds its vCPUs. */
static int check_range(const json_t *r, size_t i, int n, int *owner, long *vcpus, json_t *out,
                       char *err, size_t errlen) {
  char path[96];
  snprintf(path, sizeof path, "nodeProperties.nodeRangeProperties[%zu]", i);
  const char *t = jget_str(r, "targetNodes");
  int lo, hi, rc;
  if (!t || target_nodes_parse(t, n, &lo, &hi))
    return fail(err, errlen, CLIENT, "%s.targetNodes must be n, a:b, a: or :b (node indexes), got '%s'", path, t ? t : "");
  if (hi >= n) return fail(err, errlen, CLIENT, "%s.targetNodes %s goes past the last node %d", path, t, n - 1);
  static const char *const oos[] = {"eksProperties", "ecsProperties", "consumableResourceProperties", NULL};
  if ((rc = refuse_node_member(r, path, oos, err, errlen))) return rc;
  json_t *c = json_object_get(r, "container");
  char cpath[128];
  snprintf(cpath, sizeof cpath, "%s.container", path);
  if (!json_is_object(c)) return fail(err, errlen, CLIENT, "%s is required", cpath);
  if ((rc = ctl_check_container_props(c, cpath, err, errlen))) return rc;
  for (int x = lo; x <= hi; x++) {
    if (owner[x] >= 0)
      return fail(err, errlen, CLIENT, "%s.targetNodes %s: node %d is already in nodeRangeProperties[%d]", path, t, x, owner[x]);
    owner[x] = (int)i;
  }
  *vcpus += (long)(hi - lo + 1) * ctl_container_vcpus(c);
  /* kept as given: an open end ("1:") follows a nodeOverrides.numNodes */
  json_array_append_new(out, json_pack("{s:s, s:O}", "targetNodes", t, "container", c));
  return 0;
}

int ctl_check_node_properties(const struct config_view *cv, const json_t *req, char **text,
                              char *err, size_t errlen) {
  *text = NULL;
  int rc;
  if (json_object_get(req, "containerProperties"))
    return fail(err, errlen, CLIENT, "containerProperties is not allowed with type multinode: each nodeProperties.nodeRangeProperties entry has its container");
  const json_t *np = json_object_get(req, "nodeProperties");
  if (!json_is_object(np)) return fail(err, errlen, CLIENT, "nodeProperties is required with type multinode");
  if ((rc = ctl_check_int(np, "numNodes", 1, MAX_NODES, 1, "nodeProperties.", err, errlen))) return rc;
  int n = (int)json_integer_value(json_object_get(np, "numNodes"));
  if ((rc = ctl_check_int(np, "mainNode", 0, n - 1, 1, "nodeProperties.", err, errlen))) return rc;
  json_t *ranges = json_object_get(np, "nodeRangeProperties");
  if (!json_is_array(ranges) || !json_array_size(ranges))
    return fail(err, errlen, CLIENT, "nodeProperties.nodeRangeProperties is required: at least one range with its container");
  json_t *rs = json_object_get(req, "retryStrategy");
  if (jget_int(rs, "attempts", 1) > 1)
    return fail(err, errlen, CLIENT, "retryStrategy.attempts: multi-node jobs run one attempt in Barge (retrying a gang is not supported yet)");
  int *owner = xmalloc((size_t)n * sizeof *owner);
  for (int x = 0; x < n; x++) owner[x] = -1;
  json_t *out = json_array();
  long vcpus = 0;
  size_t i;
  json_t *r;
  rc = 0;
  json_array_foreach(ranges, i, r) if ((rc = check_range(r, i, n, owner, &vcpus, out, err, errlen))) break;
  for (int x = 0; !rc && x < n; x++)
    if (owner[x] < 0) rc = fail(err, errlen, CLIENT, "nodeProperties.nodeRangeProperties: node %d is in no range", x);
  if (!rc) rc = check_fits(largest_ce(cv, NULL), "nodeProperties.numNodes", n, vcpus, "of this account", err, errlen);
  free(owner);
  if (!rc) {
    json_t *norm = json_pack("{s:i, s:i, s:o}", "numNodes", n, "mainNode",
                             (int)json_integer_value(json_object_get(np, "mainNode")), "nodeRangeProperties", out);
    *text = json_dumps(norm, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(norm);
  } else {
    json_decref(out);
  }
  return rc;
}

/* The vCPUs of each node of a job of n nodes (the definition's ranges re-read against n: an
 * open end follows a nodeOverrides.numNodes), into vcpu[0..n-1]. */
static int ranges_for(const json_t *np, int n, int *vcpu, char *err, size_t errlen) {
  for (int x = 0; x < n; x++) vcpu[x] = -1;
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(np, "nodeRangeProperties"), i, r) {
    int lo, hi; /* an open end read as far as any job goes, then cut at n */
    if (target_nodes_parse(jget_str(r, "targetNodes"), MAX_NODES, &lo, &hi)) continue;
    if (lo >= n)
      return fail(err, errlen, CLIENT, "nodeOverrides.numNodes %d leaves node range %s of the job definition without nodes", n, jget_str(r, "targetNodes"));
    for (int x = lo; x <= hi && x < n; x++) vcpu[x] = ctl_container_vcpus(json_object_get(r, "container"));
  }
  for (int x = 0; x < n; x++)
    if (vcpu[x] < 0) return fail(err, errlen, CLIENT, "nodeOverrides.numNodes %d: node %d is in no node range of the job definition", n, x);
  return 0;
}

/* nodeOverrides.nodePropertyOverrides checked against n nodes and normalised into out; the
 * vCPUs they give their nodes into vcpu. */
static int check_overrides(const json_t *list, int n, int *vcpu, json_t *out, char *err, size_t errlen) {
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    char path[96];
    snprintf(path, sizeof path, "nodeOverrides.nodePropertyOverrides[%zu]", i);
    const char *t = jget_str(e, "targetNodes");
    int lo, hi, rc;
    if (target_nodes_parse(t, n, &lo, &hi) || hi >= n)
      return fail(err, errlen, CLIENT, "%s.targetNodes must be n, a:b, a: or :b within the job's %d nodes, got '%s'", path, n, t ? t : "");
    static const char *const oos[] = {"ecsPropertiesOverride", "eksPropertiesOverride",
                                      "consumableResourcePropertiesOverride", NULL};
    if ((rc = refuse_node_member(e, path, oos, err, errlen))) return rc;
    json_t *co = json_object_get(e, "containerOverrides");
    if (co && !json_is_object(co)) return fail(err, errlen, CLIENT, "%s.containerOverrides must be an object", path);
    if (json_object_get(co, "instanceType"))
      return fail(err, errlen, CLIENT, "%s.containerOverrides.instanceType is not supported by Barge (no instance-type choice per node)", path);
    char epath[128];
    snprintf(epath, sizeof epath, "%s.containerOverrides.command", path);
    if ((rc = ctl_check_command_override(json_object_get(co, "command"), epath, err, errlen))) return rc;
    snprintf(epath, sizeof epath, "%s.containerOverrides.environment", path);
    if ((rc = ctl_check_env(json_object_get(co, "environment"), epath, err, errlen))) return rc;
    snprintf(epath, sizeof epath, "%s.containerOverrides", path);
    if ((rc = ctl_check_resources(co, epath, err, errlen))) return rc;
    int v = ctl_container_vcpus(co);
    for (int x = lo; v > 0 && x <= hi; x++) vcpu[x] = v;
    json_t *c = json_object();
    static const char *const om[] = {"command", "environment", "resourceRequirements", "vcpus", "memory", NULL};
    ctl_copy_members(c, co ? co : c, om);
    json_array_append_new(out, json_pack("{s:s, s:o}", "targetNodes", t, "containerOverrides", c));
  }
  return 0;
}

int ctl_check_mnp_submit(const struct config_view *cv, const json_t *queue, const json_t *def,
                         const json_t *req, json_t **node_ov, char *err, size_t errlen) {
  *node_ov = NULL;
  const char *text = jget_str(def, "nodePropertiesJson");
  json_t *no = json_object_get(req, "nodeOverrides");
  if (ctl_absent(no)) no = NULL;
  if (!text)
    return no ? fail(err, errlen, CLIENT, "nodeOverrides is for multi-node job definitions; %s is of type container", jget_str(def, "jobDefinitionName")) : 0;
  if (!ctl_absent(json_object_get(req, "arrayProperties")))
    return fail(err, errlen, CLIENT, "arrayProperties: array jobs of a multi-node job definition are not supported (as in AWS Batch)");
  if (!ctl_absent(json_object_get(req, "containerOverrides")))
    return fail(err, errlen, CLIENT, "containerOverrides: a multi-node job's containers are overridden per node range, with nodeOverrides");
  json_t *rs = json_object_get(req, "retryStrategy");
  if (jget_int(rs, "attempts", 1) > 1)
    return fail(err, errlen, CLIENT, "retryStrategy.attempts: multi-node jobs run one attempt in Barge (retrying a gang is not supported yet)");
  if (no && !json_is_object(no)) return fail(err, errlen, CLIENT, "nodeOverrides must be an object");
  int rc;
  if ((rc = ctl_check_int(no, "numNodes", 1, MAX_NODES, 0, "nodeOverrides.", err, errlen))) return rc;
  json_t *np = json_loads(text, 0, NULL);
  int n = (int)jget_int(np, "numNodes", 1), main_node = (int)jget_int(np, "mainNode", 0);
  if (json_is_integer(json_object_get(no, "numNodes"))) n = (int)jget_int(no, "numNodes", n);
  int *vcpu = xcalloc((size_t)n, sizeof *vcpu);
  json_t *list = json_array();
  if (main_node >= n)
    rc = fail(err, errlen, CLIENT, "nodeOverrides.numNodes %d must be more than the main node's index %d", n, main_node);
  if (!rc) rc = ranges_for(np, n, vcpu, err, errlen);
  if (!rc) rc = check_overrides(json_object_get(no, "nodePropertyOverrides"), n, vcpu, list, err, errlen);
  long total = 0;
  for (int x = 0; x < n; x++) total += vcpu[x];
  char where[200];
  snprintf(where, sizeof where, "of job queue %.150s", jget_str(queue, "jobQueueName"));
  const char *member = json_object_get(no, "numNodes") ? "nodeOverrides.numNodes" : "nodeProperties.numNodes";
  if (!rc) rc = check_fits(largest_ce(cv, queue), member, n, total, where, err, errlen);
  free(vcpu);
  json_decref(np);
  if (!rc && no) {
    *node_ov = json_pack("{s:o}", "nodePropertyOverrides", list);
    if (json_is_integer(json_object_get(no, "numNodes"))) json_object_set_new(*node_ov, "numNodes", json_integer(n));
  } else {
    json_decref(list);
  }
  return rc;
}
