/* test_log_retention.c: `barge agent --log-retention-hours` (agent/log_retention.c) on a real
 * folder: a job's log folder whose files are all older than the retention goes; one with a newer
 * file stays (a job still writing, or a later attempt), as do the folder of a job alive on the
 * agent whatever its age, the agent's state (.agents/), plain files, and a folder holding
 * something other than files; the walk looks at no more folders per step than its budget and
 * says when it reached the end; a second walk removes nothing more. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "log_retention.h"
#include "util.h"

#define HOUR_MS (3600LL * 1000)

static int64_t now;

/* Sets path's modification time to now - age_ms. */
static void age(const char *path, int64_t age_ms) {
  int64_t t = now - age_ms;
  struct timespec ts[2] = {{t / 1000, (t % 1000) * 1000000}, {t / 1000, (t % 1000) * 1000000}};
  CHECK(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) == 0, "utimensat %s", path);
}

/* dir/name/file with the text, written age_ms ago. */
static void file_at(const char *dir, const char *name, const char *file, int64_t age_ms) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/%s/%s", dir, name, file);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL, "create %s", path);
  if (f) {
    fputs("some output\n", f);
    fclose(f);
  }
  age(path, age_ms);
}

static int exists(const char *dir, const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

static int live(void *ctx, const char *job) {
  (void)ctx;
  return strcmp(job, "job-live") == 0;
}

int main(void) {
  char dir[] = "/tmp/barge-retention-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  now = now_ms();
  TEST("folders old and new, alive and not, and what is never touched");
  file_at(dir, "job-old", "1.log", 3 * HOUR_MS);
  file_at(dir, "job-old", "1.log.times", 3 * HOUR_MS);
  file_at(dir, "job-old2:7", "1.log", 2 * HOUR_MS); /* an array child */
  file_at(dir, "job-new", "1.log", 10 * 60 * 1000);
  file_at(dir, "job-mixed", "1.log", 5 * HOUR_MS);
  file_at(dir, "job-mixed", "2.log", 5 * 60 * 1000); /* a later attempt, recent */
  file_at(dir, "job-live", "1.log", 9 * HOUR_MS);    /* a silent job running for 9 hours */
  file_at(dir, ".agents", "incarnation", 9 * HOUR_MS);
  file_at(dir, "job-odd", "1.log", 9 * HOUR_MS);
  char path[512];
  snprintf(path, sizeof path, "%s/job-odd/sub", dir);
  CHECK(mkdir(path, 0755) == 0, "mkdir %s", path);
  age(path, 9 * HOUR_MS);
  snprintf(path, sizeof path, "%s/stray.txt", dir);
  FILE *f = fopen(path, "w");
  if (f) fclose(f);
  age(path, 9 * HOUR_MS);
  const char *folders[] = {"job-old", "job-old2:7", "job-new", "job-mixed", "job-live", ".agents", "job-odd"};
  for (size_t i = 0; i < sizeof folders / sizeof *folders; i++) { /* the folders' own times: their last file's */
    snprintf(path, sizeof path, "%s/%s", dir, folders[i]);
    age(path, !strcmp(folders[i], "job-new") ? 10 * 60 * 1000 : !strcmp(folders[i], "job-mixed") ? 5 * 60 * 1000 : 2 * HOUR_MS);
  }

  struct log_sweep *s = log_sweep_new(dir, HOUR_MS);
  int done = 0, steps = 0, removed = 0;
  int n = log_sweep_step(s, 1, now, live, NULL, &done);
  removed += n;
  steps++;
  CHECK(!done && n <= 1, "a step of budget 1 looks at one folder and the walk goes on (removed %d)", n);
  while (!done && steps < 100) {
    removed += log_sweep_step(s, 1, now, live, NULL, &done);
    steps++;
  }
  CHECK(done && steps >= 6, "the walk ended after one step per job folder (%d steps)", steps);
  CHECK_INT(removed, 2);
  CHECK(!exists(dir, "job-old") && !exists(dir, "job-old2:7"), "the folders older than the retention are gone");
  CHECK(exists(dir, "job-new/1.log"), "a folder written 10 minutes ago stays");
  CHECK(exists(dir, "job-mixed/1.log") && exists(dir, "job-mixed/2.log"),
        "a folder with one recent file stays whole (a later attempt)");
  CHECK(exists(dir, "job-live/1.log"), "the folder of a job alive on the agent stays, however old");
  CHECK(exists(dir, ".agents/incarnation") && exists(dir, "stray.txt"), "the agent's state and plain files stay");
  CHECK(exists(dir, "job-odd/1.log") && exists(dir, "job-odd/sub"), "a folder holding a folder stays");
  CHECK(log_sweep_removed(s) == 2 && log_sweep_removed_bytes(s) > 0, "counted: %lld folders, %lld bytes",
        (long long)log_sweep_removed(s), (long long)log_sweep_removed_bytes(s));

  TEST("the next walk: nothing more, until time passes");
  n = log_sweep_step(s, 100, now, live, NULL, &done);
  CHECK(n == 0 && done, "a second walk removes nothing (%d)", n);
  n = log_sweep_step(s, 100, now + 2 * HOUR_MS, NULL, NULL, &done);
  CHECK(n == 3 && done, "two hours later the new, the mixed and the (ended) live job's folders go too (%d)", n);
  CHECK(exists(dir, ".agents/incarnation") && exists(dir, "job-odd/sub"), "the state and the odd folder still stay");
  log_sweep_free(s);

  TEST("a log dir that does not exist: nothing, no crash");
  s = log_sweep_new("/nonexistent/barge-logs", HOUR_MS);
  n = log_sweep_step(s, 10, now, live, NULL, &done);
  CHECK(n == 0 && done, "no walk (%d)", n);
  log_sweep_free(s);

  snprintf(path, sizeof path, "rm -rf '%s'", dir);
  if (system(path)) fprintf(stderr, "could not remove %s\n", dir);
  return check_summary();
}
