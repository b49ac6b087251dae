/* control_mnp.c: multi-node parallel job definitions and submissions (docs/job-model.md,
 * "Multi-node parallel jobs"): nodeProperties checked and normalised at registration, and the
 * limits a submission against such a definition meets (no arrays, no containerOverrides, a gang
 * that a compute environment of the queue can hold). */
#include <stdlib.h>
#include <string.h>

#include "control_int.h"

#define MAX_NODES 1000

/* targetNodes "n", "a:b", "a:" or ":b" -> [*lo, *hi] within 0..n-1; 0, or -1 when malformed. */
static int parse_range(const char *t, int n, int *lo, int *hi) {
  char *end;
  const char *colon = strchr(t, ':');
  if (!*t) return -1;
  if (!colon) {
    long v = strtol(t, &end, 10);
    if (*end || v < 0) return -1;
    *lo = *hi = (int)v;
    return 0;
  }
  *lo = 0;
  *hi = n - 1;
  if (colon != t) {
    long v = strtol(t, &end, 10);
    if (end != colon || v < 0) return -1;
    *lo = (int)v;
  }
  if (colon[1]) {
    long v = strtol(colon + 1, &end, 10);
    if (*end || v < 0) return -1;
    *hi = (int)v;
  }
  return *lo <= *hi ? 0 : -1;
}

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

static int check_fits(long largest, int nodes, long vcpus, const char *where, char *err, size_t errlen) {
  if (largest < 0 || vcpus <= largest) return 0;
  return fail(err, errlen, CLIENT,
              "nodeProperties.numNodes %d: no compute environment %s can ever hold the %d nodes "
              "(%ld vCPUs in all; the largest holds %ld)", nodes, where, nodes, vcpus, largest);
}

/* Checks one nodeRangeProperties entry and marks its nodes in owner; adds its vCPUs. */
static int check_range(const json_t *r, size_t i, int n, int *owner, long *vcpus, json_t *out,
                       char *err, size_t errlen) {
  char path[96];
  snprintf(path, sizeof path, "nodeProperties.nodeRangeProperties[%zu]", i);
  const char *t = jget_str(r, "targetNodes");
  int lo, hi, rc;
  if (!t || parse_range(t, n, &lo, &hi))
    return fail(err, errlen, CLIENT, "%s.targetNodes must be n, a:b, a: or :b (node indexes), got '%s'", path, t ? t : "");
  if (hi >= n) return fail(err, errlen, CLIENT, "%s.targetNodes %s goes past the last node %d", path, t, n - 1);
  static const char *const refused[] = {"instanceTypes", "eksProperties", "ecsProperties", "consumableResourceProperties", NULL};
  for (const char *const *k = refused; *k; k++)
    if (json_object_get(r, *k)) return fail(err, errlen, CLIENT, "%s.%s is not supported by Barge", path, *k);
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
  char norm[32];
  snprintf(norm, sizeof norm, "%d:%d", lo, hi);
  json_array_append_new(out, json_pack("{s:s, s:O}", "targetNodes", norm, "container", c));
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
  if (!rc) rc = check_fits(largest_ce(cv, NULL), n, vcpus, "of this account", err, errlen);
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

int ctl_check_mnp_submit(const struct config_view *cv, const json_t *queue, const json_t *def,
                         const json_t *req, char *err, size_t errlen) {
  const char *text = jget_str(def, "nodePropertiesJson");
  if (!text) return 0;
  json_t *ap = json_object_get(req, "arrayProperties");
  if (ap && !json_is_null(ap))
    return fail(err, errlen, CLIENT, "arrayProperties: array jobs of a multi-node job definition are not supported (as in AWS Batch)");
  json_t *ov = json_object_get(req, "containerOverrides");
  if (ov && !json_is_null(ov))
    return fail(err, errlen, CLIENT, "containerOverrides: a multi-node job's containers are its node ranges' (nodeOverrides is not supported yet)");
  json_t *rs = json_object_get(req, "retryStrategy");
  if (jget_int(rs, "attempts", 1) > 1)
    return fail(err, errlen, CLIENT, "retryStrategy.attempts: multi-node jobs run one attempt in Barge (retrying a gang is not supported yet)");
  json_t *np = json_loads(text, 0, NULL);
  int n = (int)jget_int(np, "numNodes", 0);
  long vcpus = 0;
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(np, "nodeRangeProperties"), i, r) {
    int lo = 0, hi = -1;
    if (!parse_range(jget_str(r, "targetNodes") ? jget_str(r, "targetNodes") : "", n, &lo, &hi))
      vcpus += (long)(hi - lo + 1) * ctl_container_vcpus(json_object_get(r, "container"));
  }
  json_decref(np);
  char where[200];
  snprintf(where, sizeof where, "of job queue %.150s", jget_str(queue, "jobQueueName"));
  return check_fits(largest_ce(cv, queue), n, vcpus, where, err, errlen);
}
