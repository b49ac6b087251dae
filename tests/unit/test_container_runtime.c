/* test_container_runtime.c: the parts of the agent's runtimes that need no engine and no real
 * cgroup (docs/containers.md): the cgroup v2 (and v1) layout written into a fake cgroup tree,
 * the OOM counters read back from it, the agent's policy, the local secret store, and the
 * container-create body a job definition's members become. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "check.h"
#include "engine_api.h"
#include "runtime.h"

static char *slurp(const char *dir, const char *file) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  return read_file(p, NULL);
}

static void put(const char *dir, const char *file, const char *text) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  CHECK(write_file_atomic(p, text, strlen(text)) == 0, "writing %s", p);
}

static void test_v2(const char *root) {
  /* a v2 tree: cgroup.controllers at the root names memory */
  CHECK(mkdir_p(root) == 0, "mkdir %s", root);
  put(root, "cgroup.controllers", "cpuset cpu io memory pids\n");
  CHECK(cg_version(root) == 2, "v2 detected");
  char err[512] = "";
  struct cgroup *cg = cg_create(root, "barge/i-1", "job-1", 256, 2, err, sizeof err);
  CHECK(cg != NULL, "cg_create v2: %s", err);
  if (!cg) return;
  CHECK(cg->version == 2 && cg->n == 1, "one v2 group");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/barge/i-1/job-1", root);
  CHECK_STR(cg->dirs[0], dir);
  char *mem = slurp(dir, "memory.max"), *cpu = slurp(dir, "cpu.max");
  CHECK_STR(mem, "268435456");
  CHECK_STR(cpu, "200000 100000");
  free(mem);
  free(cpu);
  char *sub = slurp(root, "cgroup.subtree_control");
  CHECK(sub && strstr(sub, "+memory") && strstr(sub, "+cpu"), "controllers enabled for the children: %s", sub ? sub : "");
  free(sub);
  CHECK(cg->join_fds[0] >= 0, "cgroup.procs opened for the child");
  CHECK(cg_oom_kills(cg) == 0, "no OOM kill yet");
  put(dir, "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
  CHECK(cg_oom_kills(cg) == 1, "memory.events oom_kill read");
  cg_destroy(cg);
}

static void test_v1(const char *root) {
  char m[4096], c[4096];
  snprintf(m, sizeof m, "%s/memory", root);
  snprintf(c, sizeof c, "%s/cpu,cpuacct", root);
  CHECK(mkdir_p(m) == 0 && mkdir_p(c) == 0, "mkdir v1");
  CHECK(cg_version(root) == 1, "v1 detected");
  char err[512] = "";
  struct cgroup *cg = cg_create(root, "barge/i-2", "job-2", 64, 1, err, sizeof err);
  CHECK(cg != NULL, "cg_create v1: %s", err);
  if (!cg) return;
  CHECK(cg->n == 2, "memory and cpu groups");
  char *v = slurp(cg->memdir, "memory.limit_in_bytes");
  CHECK_STR(v, "67108864");
  free(v);
  v = slurp(cg->dirs[1], "cpu.cfs_quota_us");
  CHECK_STR(v, "100000");
  free(v);
  put(cg->memdir, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  CHECK(cg_oom_kills(cg) == 2, "memory.oom_control oom_kill read");
  /* reuse for the next attempt of the same limits (the process runtime's pool): the join files
   * open again, the limits stay, the OOM count goes on from where it was */
  CHECK(cg->mem_mib == 64 && cg->vcpus == 1, "the group knows its limits");
  for (int i = 0; i < cg->n; i++) {
    close(cg->join_fds[i]);
    cg->join_fds[i] = -1;
  }
  CHECK(cg_reuse(cg, err, sizeof err) == 0, "cg_reuse: %s", err);
  CHECK(cg->join_fds[0] >= 0 && cg->join_fds[1] >= 0, "cgroup.procs open again for the next child");
  v = slurp(cg->memdir, "memory.limit_in_bytes");
  CHECK_STR(v, "67108864");
  free(v);
  CHECK(cg_oom_kills(cg) == 2, "the count is cumulative: an attempt compares with its start");
  cg_destroy(cg);
  /* a fake tree's groups hold plain files, so they stay: the next incarnation's sweep finds them */
  CHECK(cg_sweep(root, "barge/i-2") == 2, "the sweep finds the memory and cpu groups left");
  CHECK(cg_sweep(root, "barge/none") == 0, "nothing under another instance");
}

static void test_policy_and_secrets(const char *dir) {
  struct runtime_conf rc = {0};
  char why[512];
  json_t *c = json_loads("{\"privileged\": true}", 0, NULL);
  CHECK(runtime_policy_check(&rc, c, why, sizeof why) == 1 && strstr(why, "privileged"), "privileged refused: %s", why);
  rc.allow_privileged = 1;
  CHECK(runtime_policy_check(&rc, c, why, sizeof why) == 0, "privileged allowed by the agent's conf");
  json_decref(c);
  c = json_loads("{\"linuxParameters\": {\"devices\": [{\"hostPath\": \"/dev/fake0\"}]}}", 0, NULL);
  CHECK(runtime_policy_check(&rc, c, why, sizeof why) == 1 && strstr(why, "devices"), "devices refused: %s", why);
  json_decref(c);
  c = json_loads("{\"user\": \"root\"}", 0, NULL);
  CHECK(runtime_policy_check(&rc, c, why, sizeof why) == 1 && strstr(why, "root"), "root refused: %s", why);
  json_decref(c);
  /* the engine reads a user as a number as Go's strconv.Atoi does: each of these is uid 0 */
  static const char *roots[] = {"0", "00", "+0", "-0", "0000:0", "root:1000", "0:1000"};
  for (size_t i = 0; i < sizeof roots / sizeof *roots; i++) {
    c = json_pack("{s:s}", "user", roots[i]);
    CHECK(runtime_policy_check(&rc, c, why, sizeof why) == 1 && strstr(why, "root"), "user %s refused: %s", roots[i], why);
    json_decref(c);
  }
  static const char *users[] = {"batch", "1000", "10", "1000:0", "rooty", "0x"};
  for (size_t i = 0; i < sizeof users / sizeof *users; i++) {
    c = json_pack("{s:s}", "user", users[i]);
    CHECK(runtime_policy_check(&rc, c, why, sizeof why) == 0, "user %s allowed", users[i]);
    json_decref(c);
  }
  CHECK(mkdir_p(dir) == 0, "secrets dir");
  put(dir, "db", "pw\n");
  char *s = runtime_secret_read(dir, "arn:aws:secretsmanager:us-east-1:1:secret:db", why, sizeof why);
  CHECK_STR(s, "pw");
  free(s);
  s = runtime_secret_read(dir, "arn:aws:ssm:us-east-1:1:parameter/db", why, sizeof why);
  CHECK_STR(s, "pw");
  free(s);
  /* one trailing newline is dropped (docs/containers.md, "Secrets"), not every one: a value
   * that ends with a blank line keeps it */
  put(dir, "multi", "line 1\nline 2\n\n");
  s = runtime_secret_read(dir, "multi", why, sizeof why);
  CHECK_STR(s, "line 1\nline 2\n");
  free(s);
  put(dir, "crlf", "pw\r\n");
  s = runtime_secret_read(dir, "crlf", why, sizeof why);
  CHECK_STR(s, "pw");
  free(s);
  s = runtime_secret_read(dir, "nope", why, sizeof why);
  CHECK(!s && strstr(why, "nope") && strstr(why, "ResourceInitializationError"), "unknown secret: %s", why);
  s = runtime_secret_read(dir, "..", why, sizeof why);
  CHECK(!s, "'..' is not a secret name");
}

/* GPU plumbing: a job's devices (the fake list of a GPU host) become the engine's Devices. */
static void test_create_body(void) {
  json_t *c = json_loads("{\"user\": \"1000\", \"readonlyRootFilesystem\": true,"
                         " \"volumes\": [{\"name\": \"v\", \"host\": {\"sourcePath\": \"/srv/x\"}}],"
                         " \"mountPoints\": [{\"sourceVolume\": \"v\", \"containerPath\": \"/x\", \"readOnly\": true}],"
                         " \"ulimits\": [{\"name\": \"nofile\", \"softLimit\": 10, \"hardLimit\": 20}],"
                         " \"linuxParameters\": {\"initProcessEnabled\": true, \"sharedMemorySize\": 8, \"maxSwap\": 16,"
                         "  \"swappiness\": 10, \"tmpfs\": [{\"containerPath\": \"/t\", \"size\": 4, \"mountOptions\": [\"noexec\"]}],"
                         "  \"devices\": [{\"hostPath\": \"/dev/fakegpu0\", \"containerPath\": \"/dev/nvidia0\","
                         "                 \"permissions\": [\"READ\", \"WRITE\"]}]}}", 0, NULL);
  char *argv[] = {"echo", "hi", NULL}, *envp[] = {"A=1", NULL};
  struct rt_spec spec = {.run = {.job_id = "j1", .attempt = 2, .argv = argv, .envp = envp},
                         .image = "busybox", .hostname = "abc", .vcpus = 2, .mem_mib = 32, .container = c};
  struct engine_limits lim = {.nofile = 1000, .nproc = 500};
  char why[256] = "";
  json_t *b = engine_create_body(&spec, "i-9", &lim, why, sizeof why);
  CHECK(b != NULL, "create body: %s", why);
  char *t = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
  static const char *const want[] = {
      "\"Image\":\"busybox\"", "\"Cmd\":[\"echo\",\"hi\"]", "\"Env\":[\"A=1\"]", "\"User\":\"1000\"",
      "\"Hostname\":\"abc\"", "\"NetworkMode\":\"host\"", "\"Memory\":33554432", "\"MemorySwap\":50331648",
      "\"MemorySwappiness\":10", "\"NanoCpus\":2000000000", "\"ReadonlyRootfs\":true", "\"Init\":true",
      "\"ShmSize\":8388608", "\"Binds\":[\"/srv/x:/x:ro\"]", "\"Tmpfs\":{\"/t\":\"size=4m,noexec\"}",
      "{\"CgroupPermissions\":\"rw\",\"PathInContainer\":\"/dev/nvidia0\",\"PathOnHost\":\"/dev/fakegpu0\"}",
      "{\"Hard\":20,\"Name\":\"nofile\",\"Soft\":10}", "{\"Hard\":500,\"Name\":\"nproc\",\"Soft\":500}",
      "\"barge.instance\":\"i-9\"", NULL};
  for (const char *const *w = want; *w; w++) CHECK(t && strstr(t, *w), "create body has %s: %s", *w, t ? t : "");
  free(t);
  json_decref(b);
  spec.image = "";
  CHECK(engine_create_body(&spec, "i-9", &lim, why, sizeof why) == NULL && !strncmp(why, "CannotPullContainerError", 24),
        "no image: %s", why);
  json_decref(c);
  c = json_loads("{\"mountPoints\": [{\"sourceVolume\": \"none\", \"containerPath\": \"/x\"}]}", 0, NULL);
  spec.image = "busybox";
  spec.container = c;
  CHECK(engine_create_body(&spec, "i-9", &lim, why, sizeof why) == NULL && strstr(why, "none"), "unknown volume: %s", why);
  json_decref(c);
}

static void no_event(void *ctx, const struct run_event *ev) { (void)ctx, (void)ev; }

/* An attempt placed on an agent that already runs its --max-jobs attempts is refused with a
 * reason to report (1), not dropped (-1: the agent then said nothing and the job stayed STARTING
 * for ever). */
static void test_place_when_full(const char *dir) {
  struct runtime_conf rc = {.runner = {.log_dir = dir, .max_jobs = 1, .kill_grace_ms = 100}, .kind = "process",
                            .state_dir = dir, .instance_id = "i-full", .cgroup_root = "none"};
  char err[512], why[1024], log[512];
  struct runtime *rt = runtime_new(&rc, err, sizeof err);
  CHECK(rt != NULL, "process runtime: %s", err);
  if (!rt) return;
  json_t *p1 = json_loads("{\"jobId\": \"j1\", \"attempt\": 1, \"command\": [\"sleep\", \"30\"]}", 0, NULL);
  json_t *p2 = json_loads("{\"jobId\": \"j2\", \"attempt\": 1, \"command\": [\"true\"]}", 0, NULL);
  snprintf(log, sizeof log, "%s/j1/1.log", dir);
  CHECK(runtime_place(rt, p1, log, why, sizeof why) == 0, "the first attempt starts: %s", why);
  snprintf(log, sizeof log, "%s/j2/1.log", dir);
  why[0] = 0;
  CHECK(runtime_place(rt, p2, log, why, sizeof why) == 1 && !strncmp(why, "CannotStartContainerError: ", 27) &&
            strstr(why, "--max-jobs"),
        "the second is refused with a reason to report: %s", why);
  CHECK(runtime_place(rt, p1, log, why, sizeof why) == -1, "the first again (alive) is not reported: %s", why);
  runtime_kill_all(rt, "test");
  for (int i = 0; i < 200 && runtime_active(rt); i++) {
    runtime_poll(rt, mono_ms(), no_event, NULL);
    usleep(20000);
  }
  CHECK(runtime_active(rt) == 0, "the first attempt stopped");
  json_decref(p1);
  json_decref(p2);
  runtime_free(rt);
}

int main(void) {
  char base[] = "/tmp/barge-cgtest-XXXXXX";
  CHECK(mkdtemp(base) != NULL, "mkdtemp");
  char v2[256], v1[256], sec[256];
  snprintf(v2, sizeof v2, "%s/v2", base);
  snprintf(v1, sizeof v1, "%s/v1", base);
  snprintf(sec, sizeof sec, "%s/secrets", base);
  test_v2(v2);
  test_v1(v1);
  test_policy_and_secrets(sec);
  test_create_body();
  char full[256];
  snprintf(full, sizeof full, "%s/full", base);
  CHECK(mkdir_p(full) == 0, "mkdir %s", full);
  test_place_when_full(full);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", base);
  return check_summary();
}
