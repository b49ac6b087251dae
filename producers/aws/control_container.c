/* control_container.c: RegisterJobDefinition's checks of the container members an agent's
 * runtime honours (docs/containers.md, "What a job definition's container members become").
 * A member Barge does not honour is refused here, naming it, rather than stored and ignored. */
#include <stdlib.h>
#include <string.h>

#include "control_int.h"
#include "stack.h"

static const char *const k_members[] = {
    "image", "command", "environment", "resourceRequirements", "vcpus", "memory", "jobRoleArn",
    "executionRoleArn", "volumes", "mountPoints", "readonlyRootFilesystem", "privileged", "ulimits",
    "user", "linuxParameters", "logConfiguration", "secrets", NULL};
static const char *const k_linux[] = {"initProcessEnabled", "sharedMemorySize", "tmpfs", "devices",
                                      "maxSwap", "swappiness", NULL};
static const char *const k_ulimits[] = {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue",
                                        "nice", "nofile", "nproc", "rss", "rtprio", "rttime",
                                        "sigpending", "stack", NULL};

/* Every member of o is in known; else the first one that is not, refused. */
static int only(const json_t *o, const char *const *known, const char *path, char *err, size_t errlen) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)o, k, v) {
    if (!ctl_in_list(k, known))
      return fail(err, errlen, CLIENT, "%s%s is not supported by Barge (docs/containers.md)", path, k);
  }
  return 0;
}

static int check_bool(const json_t *o, const char *k, const char *path, char *err, size_t errlen) {
  json_t *v = json_object_get(o, k);
  if (v && !json_is_boolean(v)) return fail(err, errlen, CLIENT, "%s%s must be true or false", path, k);
  return 0;
}

static int abs_path(const json_t *o, const char *k, const char *path, char *err, size_t errlen) {
  const char *s = jget_str(o, k);
  if (!s || s[0] != '/') return fail(err, errlen, CLIENT, "%s%s must be an absolute path", path, k);
  return 0;
}

static int check_volumes(const json_t *cp, char *err, size_t errlen) {
  static const char *const vk[] = {"name", "host", NULL}, *const hk[] = {"sourcePath", NULL};
  static const char *const mk[] = {"sourceVolume", "containerPath", "readOnly", NULL};
  char p[96];
  size_t i;
  json_t *v;
  int rc;
  json_array_foreach(json_object_get(cp, "volumes"), i, v) {
    snprintf(p, sizeof p, "containerProperties.volumes[%zu].", i);
    if ((rc = only(v, vk, p, err, errlen))) return rc;
    if (!jget_str(v, "name")) return fail(err, errlen, CLIENT, "%sname is required", p);
    snprintf(p, sizeof p, "containerProperties.volumes[%zu].host.", i);
    if (!json_is_object(json_object_get(v, "host")))
      return fail(err, errlen, CLIENT, "containerProperties.volumes[%zu].host.sourcePath is required (Barge mounts host paths)", i);
    if ((rc = only(json_object_get(v, "host"), hk, p, err, errlen)) ||
        (rc = abs_path(json_object_get(v, "host"), "sourcePath", p, err, errlen)))
      return rc;
  }
  json_array_foreach(json_object_get(cp, "mountPoints"), i, v) {
    snprintf(p, sizeof p, "containerProperties.mountPoints[%zu].", i);
    if ((rc = only(v, mk, p, err, errlen)) || (rc = abs_path(v, "containerPath", p, err, errlen)) ||
        (rc = check_bool(v, "readOnly", p, err, errlen)))
      return rc;
    const char *src = jget_str(v, "sourceVolume");
    int found = 0;
    size_t k;
    json_t *x;
    json_array_foreach(json_object_get(cp, "volumes"), k, x) found |= src && jget_str(x, "name") && !strcmp(src, jget_str(x, "name"));
    if (!found)
      return fail(err, errlen, CLIENT, "%ssourceVolume '%s' names no volume of containerProperties.volumes", p, src ? src : "");
  }
  return 0;
}

static int check_linux(const json_t *lp, char *err, size_t errlen) {
  if (!lp) return 0;
  const char *P = "containerProperties.linuxParameters.";
  int rc;
  if (!json_is_object(lp)) return fail(err, errlen, CLIENT, "containerProperties.linuxParameters must be an object");
  if ((rc = only(lp, k_linux, P, err, errlen)) || (rc = check_bool(lp, "initProcessEnabled", P, err, errlen)) ||
      (rc = ctl_check_int(lp, "sharedMemorySize", 1, 1 << 20, 0, P, err, errlen)) ||
      (rc = ctl_check_int(lp, "maxSwap", 0, 1 << 30, 0, P, err, errlen)) ||
      (rc = ctl_check_int(lp, "swappiness", 0, 100, 0, P, err, errlen)))
    return rc;
  static const char *const tk[] = {"containerPath", "size", "mountOptions", NULL};
  static const char *const dk[] = {"hostPath", "containerPath", "permissions", NULL};
  char p[96];
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(lp, "tmpfs"), i, v) {
    snprintf(p, sizeof p, "%stmpfs[%zu].", P, i);
    if ((rc = only(v, tk, p, err, errlen)) || (rc = abs_path(v, "containerPath", p, err, errlen)) ||
        (rc = ctl_check_int(v, "size", 1, 1 << 20, 1, p, err, errlen)))
      return rc;
  }
  json_array_foreach(json_object_get(lp, "devices"), i, v) {
    snprintf(p, sizeof p, "%sdevices[%zu].", P, i);
    if ((rc = only(v, dk, p, err, errlen)) || (rc = abs_path(v, "hostPath", p, err, errlen))) return rc;
    size_t k;
    json_t *x;
    static const char *const perms[] = {"READ", "WRITE", "MKNOD", NULL};
    json_array_foreach(json_object_get(v, "permissions"), k, x) if (!json_is_string(x) || !ctl_in_list(json_string_value(x), perms))
      return fail(err, errlen, CLIENT, "%spermissions[%zu] must be READ, WRITE or MKNOD", p, k);
  }
  return 0;
}

/* The local secret store the agents read (docs/containers.md, "Secrets"): $BARGE_SECRETS_DIR,
 * else $BARGE_HOME/secrets. */
static int secret_exists(const char *value_from) {
  char dir[3200], path[4096];
  const char *env = getenv("BARGE_SECRETS_DIR");
  if (env && *env) {
    snprintf(dir, sizeof dir, "%s", env);
  } else {
    char home[3072];
    stack_home(home, sizeof home);
    snprintf(dir, sizeof dir, "%s/secrets", home);
  }
  const char *name = value_from, *c = strrchr(value_from, ':'), *s = strrchr(value_from, '/');
  if (s && (!c || s > c)) name = s + 1;
  else if (c) name = c + 1;
  if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) return 0;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *v = read_file(path, NULL);
  free(v);
  return v != NULL;
}

static int check_misc(const json_t *cp, char *err, size_t errlen) {
  const char *P = "containerProperties.";
  int rc;
  if ((rc = check_bool(cp, "readonlyRootFilesystem", P, err, errlen)) || (rc = check_bool(cp, "privileged", P, err, errlen)))
    return rc;
  json_t *u = json_object_get(cp, "user");
  if (u && (!json_is_string(u) || !*json_string_value(u))) return fail(err, errlen, CLIENT, "containerProperties.user must be a user name or uid");
  static const char *const uk[] = {"name", "softLimit", "hardLimit", NULL};
  char p[96];
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(cp, "ulimits"), i, v) {
    snprintf(p, sizeof p, "%sulimits[%zu].", P, i);
    if ((rc = only(v, uk, p, err, errlen))) return rc;
    const char *n = jget_str(v, "name");
    if (!n || !ctl_in_list(n, k_ulimits)) return fail(err, errlen, CLIENT, "%sname '%s' is not a ulimit", p, n ? n : "");
    if ((rc = ctl_check_int(v, "softLimit", 0, 0x7fffffff, 1, p, err, errlen)) ||
        (rc = ctl_check_int(v, "hardLimit", 0, 0x7fffffff, 1, p, err, errlen)))
      return rc;
    if (jget_int(v, "softLimit", 0) > jget_int(v, "hardLimit", 0)) return fail(err, errlen, CLIENT, "%ssoftLimit is above hardLimit", p);
  }
  json_t *lc = json_object_get(cp, "logConfiguration");
  static const char *const lk[] = {"logDriver", "options", NULL};
  if (lc && ((rc = only(lc, lk, "containerProperties.logConfiguration.", err, errlen)))) return rc;
  if (lc && (!jget_str(lc, "logDriver") || strcmp(jget_str(lc, "logDriver"), "awslogs")))
    return fail(err, errlen, CLIENT, "containerProperties.logConfiguration.logDriver %s is not supported by Barge (awslogs: the attempt log)",
                jget_str(lc, "logDriver") ? jget_str(lc, "logDriver") : "(none)");
  static const char *const sk[] = {"name", "valueFrom", NULL};
  json_array_foreach(json_object_get(cp, "secrets"), i, v) {
    snprintf(p, sizeof p, "%ssecrets[%zu].", P, i);
    if ((rc = only(v, sk, p, err, errlen))) return rc;
    if (!jget_str(v, "name") || !jget_str(v, "valueFrom")) return fail(err, errlen, CLIENT, "%sname and valueFrom are required", p);
    if (!secret_exists(jget_str(v, "valueFrom")))
      return fail(err, errlen, CLIENT, "%svalueFrom: secret %s does not exist in the local secret store", p, jget_str(v, "valueFrom"));
  }
  return 0;
}

int ctl_check_container(const json_t *cp, char *err, size_t errlen) {
  int rc;
  if ((rc = only(cp, k_members, "containerProperties.", err, errlen)) || (rc = check_volumes(cp, err, errlen)) ||
      (rc = check_linux(json_object_get(cp, "linuxParameters"), err, errlen)) || (rc = check_misc(cp, err, errlen)))
    return rc;
  return 0;
}
