/* test_util.c: lib/util.c's identifiers. uuid_v4 (every event header's event_id) writes the
 * 8-4-4-4-12 lower-case form with the version 4 and RFC 4122 variant bits, and repeats none in
 * 20,000 draws. read_small (the agent's /proc and cgroup reads) reads a whole small file,
 * truncates one larger than its buffer, and fails on a missing one. log_msg: threads logging a
 * process's first lines at once all keep to BARGE_LOG's level. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "bus.h"
#include "stack.h"
#include "util.h"

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

static int well_formed(const char *u) {
  if (strlen(u) != 36) return 0;
  for (int i = 0; i < 36; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? u[i] != '-' : !((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f'))) return 0;
  }
  return u[14] == '4' && strchr("89ab", u[19]) != NULL;
}

static void test_read_small(void) {
  TEST("read_small: a whole file, one truncated to the buffer, a missing one");
  char path[] = "/tmp/barge-util-XXXXXX", buf[64];
  int fd = mkstemp(path);
  CHECK(fd >= 0 && write(fd, "oom_kill 3\nother 4\n", 19) == 19, "a file of 19 bytes");
  close(fd);
  CHECK_INT(read_small(path, buf, sizeof buf), 19);
  CHECK_STR(buf, "oom_kill 3\nother 4\n");
  CHECK_INT(read_small(path, buf, 9), 8);
  CHECK_STR(buf, "oom_kill");
  unlink(path);
  errno = 0;
  CHECK(read_small(path, buf, sizeof buf) == -1 && errno == ENOENT, "a missing file: -1, ENOENT");
  char stat[4096];
  ssize_t n = read_small("/proc/self/stat", stat, sizeof stat);
  CHECK(n > 0 && (size_t)n == strlen(stat) && strchr(stat, ')') && stat[n - 1] == '\n',
        "/proc/self/stat whole in one read: %s", n > 0 ? stat : "(none)");
}

static void test_read_secret_file(void) {
  TEST("read_secret_file: a directory given as the file says so (it said Input/output error)");
  char err[512] = "";
  size_t n = 0;
  errno = 0;
  char *s = read_secret_file("/tmp", "HMAC key file", 1, &n, err, sizeof err);
  CHECK(!s && errno == EISDIR && strstr(err, "cannot read the HMAC key file /tmp: Is a directory"), "%s", err);
  free(s);
}

static void test_job_id_ok(void) {
  TEST("job_id_ok: what may name a job (and its log folder on the agents)");
  char uuid[37];
  uuid_v4(uuid);
  CHECK(job_id_ok(uuid, 0), "a UUID: %s", uuid);
  CHECK(job_id_ok("etl.step_1-a", 0) && job_id_ok("x", 0), "letters, digits, '.', '_', '-'");
  const char *bad[] = {"", ".", "..", "../escaped", "a/b", ".agents", "a b", "a\nb", "a:1", "a#0", "é",
                       "0123456789012345678901234567890123456789x"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK(!job_id_ok(bad[i], 0), "refused: '%s'", bad[i]);
  CHECK(!job_id_ok(NULL, 0), "refused: NULL");
  CHECK(job_id_ok("0123456789012345678901234567890123456789", 0), "40 characters");
  char child[64], node[64];
  snprintf(child, sizeof child, "%s:9999", uuid);
  snprintf(node, sizeof node, "%s#3", uuid);
  CHECK(job_id_ok(child, 1) && job_id_ok(node, 1), "derived: an array child and a node");
  CHECK(!job_id_ok(child, 0) && !job_id_ok(":1", 1) && !job_id_ok("../x:1", 1) && !job_id_ok("a/b:1", 1),
        "derived ids only where Barge makes them, and never a path");
}

static int sign(int v) { return (v > 0) - (v < 0); }

static void test_job_id_cmp(void) {
  TEST("job_id_cmp: an array child's or a node's index as a number, else strcmp");
  static const struct {
    const char *a, *b;
    int want;
  } cases[] = {
      {"j:9", "j:10", -1}, {"j:10", "j:9", 1}, {"j:10", "j:10", 0}, {"j:2", "j:19", -1}, {"j#9", "j#10", -1},
      {"j:0", "j:1", -1},  {"a:10", "b:9", -1}, /* other jobs: by id first */
      {"j", "j:0", -1},    {"j1", "j10", -1}, {"j9", "j10", 1}, /* no ':' or '#': strcmp, as before */
      {"j:9x", "j:10", 1}, /* not all digits: strcmp */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    CHECK_INT(sign(job_id_cmp(cases[i].a, cases[i].b)), cases[i].want);
}

/* mkdir_p: a file in the way is a failure (ENOTDIR), not a directory that exists. */
static void test_mkdir_p(void) {
  TEST("mkdir_p: makes the folders, accepts an existing one, refuses a file in the way");
  char root[] = "/tmp/test_util_XXXXXX", path[128];
  CHECK(mkdtemp(root) != NULL, "mkdtemp");
  snprintf(path, sizeof path, "%s/a/b", root);
  CHECK(mkdir_p(path) == 0 && mkdir_p(path) == 0, "%s made, then made again", path);
  snprintf(path, sizeof path, "%s/f", root);
  FILE *f = fopen(path, "w");
  if (f) fclose(f);
  errno = 0;
  CHECK(mkdir_p(path) == -1 && errno == ENOTDIR, "a file at %s: -1 ENOTDIR (errno %d)", path, errno);
  snprintf(path, sizeof path, "%s/f/x", root);
  errno = 0;
  CHECK(mkdir_p(path) == -1 && errno == ENOTDIR, "a file on the way to %s: -1 ENOTDIR (errno %d)", path, errno);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CHECK(system(cmd) == 0, "cleanup");
}

static void test_parse_time_ms(void) {
  TEST("parse_time_ms: ISO-8601 (fraction, offset), a date, epoch s or ms; -1 for what is not a time");
  static const struct {
    const char *s;
    long long want;
  } cases[] = {
      {"2024-01-11T23:36:40Z", 1705016200000LL}, {"2024-01-11T23:36:40", 1705016200000LL},
      {"2024-01-11", 1704931200000LL}, {"1705016200", 1705016200000LL}, {"1705016200123", 1705016200123LL},
      {"2024-01-11T23:36:40.123Z", 1705016200123LL}, /* JavaScript's toISOString */
      {"2024-01-11T23:36:40.5Z", 1705016200500LL}, {"2024-01-11T23:36:40.123456Z", 1705016200123LL},
      {"2024-01-11T23:36:40+00:00", 1705016200000LL}, /* Python's isoformat */
      {"2024-01-12T00:36:40+01:00", 1705016200000LL}, {"2024-01-11T20:06:40.250-03:30", 1705016200250LL},
      {"99999999999999999999", -1}, /* beyond a long long: not the year 292278994 */
      {"garbage", -1}, {"", -1}, {"-5", -1}, {"2024-01-11T23:36:40.Z", -1}, {"2024-01-11T23:36:40+0100", -1},
      {"2024-01-11T23:36:40+01:00Z", -1}, {"2024-01-11T23:36:40ZZ", -1},
      /* a day the month does not have was rolled into the next month */
      {"2024-02-30", -1}, {"2023-02-29", -1}, {"2024-04-31T10:00:00Z", -1}, {"2024-02-29", 1709164800000LL},
      {"2024-12-31T23:59:59Z", 1735689599000LL},
      /* an offset of a day or more, a 61st second: not times (they were read as 25 hours off, and
       * as the next minute) */
      {"2024-01-11T23:36:40+25:00", -1}, {"2024-01-11T23:36:40-24:00", -1}, {"2024-01-11T23:36:61Z", -1},
      {"2024-01-11T23:36:40+23:59", 1704929860000LL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    long long got = parse_time_ms(cases[i].s);
    CHECK(got == cases[i].want, "parse_time_ms(\"%s\") = %lld, want %lld", cases[i].s, got, cases[i].want);
  }
}

static void test_utf8_fix(void) {
  TEST("utf8_fix: what is not UTF-8 becomes '?', valid text is left alone");
  char s[64];
  snprintf(s, sizeof s, "%s", "job 'a\xc3\xa9\xc3': x \xe2\x82\xac \xf0\x9f\x98\x80");
  utf8_fix(s); /* a character cut by the end of a quote, then valid 2-, 3- and 4-byte ones */
  CHECK_STR(s, "job 'a\xc3\xa9?': x \xe2\x82\xac \xf0\x9f\x98\x80");
  snprintf(s, sizeof s, "%s", "\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xff\xe2\x82");
  utf8_fix(s); /* overlong, a surrogate, past U+10FFFF, a lone byte, a cut 3-byte sequence */
  CHECK_STR(s, "?? ??? ???? ???");
}

static void test_stack_prefix_check(void) {
  TEST("stack_prefix_check: a character a topic name cannot hold is quoted whole, not half of it");
  char err[512];
  unsetenv("BARGE_TOPIC_PREFIX");
  CHECK_INT(stack_prefix_check(NULL, "team-a_1.x", err, sizeof err), 0);
  CHECK_INT(stack_prefix_check("caf\xc3\xa9", NULL, err, sizeof err), -1);
  CHECK(strstr(err, "not '\xc3\xa9'") != NULL, "the whole 'é' quoted: %s", err);
  CHECK_INT(stack_prefix_check("a\xe2\x82\xac\xf0\x9f\x98\x80", NULL, err, sizeof err), -1);
  CHECK(strstr(err, "not '\xe2\x82\xac'") != NULL, "the whole '€' quoted: %s", err);
  CHECK_INT(stack_prefix_check("a b", NULL, err, sizeof err), -1);
  CHECK(strstr(err, "not ' '") != NULL, "an ASCII one as before: %s", err);
}

static void test_utf8_prefix_bytes(void) {
  TEST("utf8_prefix_bytes: the bytes of the first n characters, not n bytes");
  CHECK_INT((int)utf8_prefix_bytes("abc", 2), 2);
  CHECK_INT((int)utf8_prefix_bytes("abc", 3), 3);
  CHECK_INT((int)utf8_prefix_bytes("abc", 9), 3);
  CHECK_INT((int)utf8_prefix_bytes("", 0), 0);
  CHECK_INT((int)utf8_prefix_bytes("\xc3\xa9t\xc3\xa9", 2), 3);                 /* "ét": 3 bytes */
  CHECK_INT((int)utf8_prefix_bytes("\xe2\x82\xac\xf0\x9f\x98\x80x", 2), 7); /* a 3- and a 4-byte one */
}

static void test_bus_conf_has_prop(void) {
  TEST("bus_conf_has_prop: a key given in the extra Kafka properties, not a longer key or a value");
  struct bus_conf bc = {.kafka_props = "linger.ms=20, compression.type=zstd\nsasl.username=message.timeout.ms="};
  CHECK(bus_conf_has_prop(&bc, "linger.ms") && bus_conf_has_prop(&bc, "compression.type"), "listed keys");
  CHECK(!bus_conf_has_prop(&bc, "message.timeout.ms"), "a value that reads like a key is no key");
  CHECK(!bus_conf_has_prop(&bc, "ms") && !bus_conf_has_prop(&bc, "linger"), "part of a key is no key");
  bc.kafka_props = NULL;
  CHECK(!bus_conf_has_prop(&bc, "linger.ms"), "no extra properties");
}

static void test_env_config_check(void) {
  TEST("env_config_check: the BARGE_* variables of a fixed form, each bad value named");
  static const char *const vars[] = {"BARGE_SCHEMA_REGISTRY_URL", "BARGE_MIN_ATTEMPT_DURATION_SECONDS", "BARGE_LOG",
                                     "BARGE_PARTITION", "BARGE_REGION", "BARGE_ACCOUNT"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) unsetenv(vars[i]);
  char err[512] = "";
  CHECK(env_config_check(err, sizeof err) == 0, "none set: %s", err);
  static const struct {
    const char *var, *value;
    int good;
  } cases[] = {
      {"BARGE_LOG", "debug", 1},           {"BARGE_LOG", "verbose", 0},
      {"BARGE_LOG", "", 1},                {"BARGE_MIN_ATTEMPT_DURATION_SECONDS", "1", 1},
      {"BARGE_MIN_ATTEMPT_DURATION_SECONDS", "abc", 0}, {"BARGE_MIN_ATTEMPT_DURATION_SECONDS", "0", 0},
      {"BARGE_SCHEMA_REGISTRY_URL", "http://r:8080", 1}, {"BARGE_SCHEMA_REGISTRY_URL", "r:8080", 0},
      {"BARGE_PARTITION", "aws-cn", 1},    {"BARGE_PARTITION", "aws:cn", 0},
      {"BARGE_REGION", "cn-north-1", 1},   {"BARGE_REGION", "us east", 0},
      {"BARGE_REGION", "us/east", 0},      {"BARGE_ACCOUNT", "123456789012", 1},
      {"BARGE_ACCOUNT", "1234:5678", 0},
      {"BARGE_ACCOUNT", "a123456789012345678901234567890123456789012345678901234567890123", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    setenv(cases[i].var, cases[i].value, 1);
    err[0] = 0;
    int rc = env_config_check(err, sizeof err);
    if (cases[i].good) {
      CHECK(rc == 0, "%s=%s refused: %s", cases[i].var, cases[i].value, err);
    } else {
      CHECK(rc == -1, "%s=%s taken", cases[i].var, cases[i].value);
      CHECK(strstr(err, cases[i].var) && strstr(err, cases[i].value) && strstr(err, "fix or unset it"),
            "the error names %s and its value: %s", cases[i].var, err);
    }
    unsetenv(cases[i].var);
  }
}

/* The threshold is read from BARGE_LOG once, on a process's first log, so each round is a fresh
 * child of this process, forked before this process has logged anything (this test runs first):
 * its LOG_THREADS threads log their process's first lines at once. The old threshold was set to
 * info and then to BARGE_LOG's level; a thread logging in between printed its info line. That
 * window is a few instructions wide: on a 2-core machine about 1 round in 100 hit it (1 in 20
 * under the sanitizers), so 1000 rounds failed each time it was tried. */
enum { LOG_THREADS = 8, LOG_ROUNDS = 1000 };
static pthread_barrier_t log_barrier;

static void *log_thread(void *arg) {
  int i = (int)(intptr_t)arg;
  pthread_barrier_wait(&log_barrier);
  log_info("thread %d: info", i);
  log_error("thread %d: error", i);
  return NULL;
}

static void log_threads(void) {
  pthread_t t[LOG_THREADS];
  pthread_barrier_init(&log_barrier, NULL, LOG_THREADS);
  for (int i = 0; i < LOG_THREADS; i++) pthread_create(&t[i], NULL, log_thread, (void *)(intptr_t)i);
  for (int i = 0; i < LOG_THREADS; i++) pthread_join(t[i], NULL);
}

static void test_log_threshold_threads(void) {
  TEST("log_msg: with BARGE_LOG=error, 8 threads logging their process's first lines at once print no info line");
  int infos = 0, errors = 0, failed = 0;
  for (int round = 0; round < LOG_ROUNDS; round++) {
    int fds[2];
    if (pipe(fds)) break;
    pid_t pid = fork();
    if (pid == 0) {
      dup2(fds[1], 2);
      close(fds[0]);
      close(fds[1]);
      setenv("BARGE_LOG", "error", 1);
      log_threads();
      _exit(0);
    }
    close(fds[1]);
    char out[8192];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 && (r = read(fds[0], out + n, sizeof out - 1 - n)) > 0) n += (size_t)r;
    out[n] = 0;
    close(fds[0]);
    int status = 0;
    failed += pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    for (const char *p = out; (p = strstr(p, ": info")); p++) infos++;
    for (const char *p = out; (p = strstr(p, ": error")); p++) errors++;
  }
  CHECK(failed == 0, "%d of %d rounds did not run to exit 0", failed, LOG_ROUNDS);
  CHECK(infos == 0, "%d info lines printed in %d rounds", infos, LOG_ROUNDS);
  CHECK(errors == LOG_THREADS * LOG_ROUNDS, "%d of %d error lines printed", errors, LOG_THREADS * LOG_ROUNDS);
}

int main(void) {
  test_log_threshold_threads(); /* first: before this process logs */
  test_env_config_check();
  test_utf8_fix();
  test_utf8_prefix_bytes();
  test_stack_prefix_check();
  test_bus_conf_has_prop();
  test_mkdir_p();
  test_read_small();
  test_read_secret_file();
  test_job_id_ok();
  test_job_id_cmp();
  test_parse_time_ms();
  TEST("uuid_v4: the 8-4-4-4-12 form, version 4, RFC 4122 variant, no repeats");
  enum { N = 20000 };
  char(*ids)[37] = xmalloc(N * sizeof *ids);
  int bad = 0;
  for (int i = 0; i < N; i++) {
    memset(ids[i], 'x', sizeof ids[i]);
    uuid_v4(ids[i]);
    if (!well_formed(ids[i])) {
      if (!bad) fprintf(stderr, "malformed: %.37s\n", ids[i]);
      bad++;
    }
  }
  CHECK(bad == 0, "%d of %d identifiers malformed", bad, N);
  qsort(ids, N, sizeof *ids, cmp);
  int dup = 0;
  for (int i = 1; i < N; i++) dup += strcmp(ids[i - 1], ids[i]) == 0;
  CHECK(dup == 0, "%d repeated identifiers", dup);
  printf("   e.g. %s\n", ids[0]);
  free(ids);
  return check_summary();
}
