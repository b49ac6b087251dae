/* test_joblog.c: an attempt's log as every runtime drains it (agent/joblog.c): the limit (the
 * first max bytes kept, then one line saying the rest was dropped, the job's later output read
 * and dropped), a log that cannot be written (/dev/full: ENOSPC) reported once with
 * CannotWriteLogError and the system's reason, later output dropped, and the time index (none for
 * a job that printed nothing); the logs' folder marked as a top directory and unmarked
 * (joblog_spread); whether a folder's ext4 has a journal (joblog_fs_journal), on a fake sysfs
 * and on the real one against /proc/fs/jbd2; a log started without a file makes it (and its
 * folder) with the first byte of output, leaves none for a silent attempt, and FAILs as a write
 * would when it cannot make it. */
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "joblog.h"
#include "runner.h"

static void put(int fd, const char *s) { CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s), "write to the pipe"); }

static void test_cap(const char *dir) {
  TEST("the limit: 10 bytes kept, then the line, the rest dropped");
  char path[512];
  snprintf(path, sizeof path, "%s/job-1/1.log", dir);
  struct buf why;
  buf_init(&why);
  int log_fd = joblog_open(path, &why); /* makes job-1/ */
  CHECK(log_fd >= 0, "joblog_open: %s", why.len ? (char *)why.data : "");
  int p[2];
  CHECK(pipe(p) == 0, "pipe");
  struct joblog l;
  joblog_init(&l, "job-1", 1, path);
  joblog_start(&l, p[0], log_fd, 10);
  put(p[1], "0123456");
  CHECK_INT(joblog_pump(&l, 0), 0);
  CHECK(l.state == JOBLOG_OK && l.bytes == 7, "7 bytes in, under the limit (%lld)", (long long)l.bytes);
  put(p[1], "789abcdef");
  put(p[1], "more and more");
  close(p[1]);
  CHECK_INT(joblog_pump(&l, 1), 0);
  CHECK(l.state == JOBLOG_CAPPED && l.dropped == 6 + 13 && l.in_fd == -1,
        "capped, 19 bytes dropped (%lld), pipe closed", (long long)l.dropped);
  joblog_index(&l, mono_ms(), 1);
  joblog_close(&l);
  size_t len = 0;
  char *text = read_file(path, &len);
  CHECK(text && !strncmp(text, "0123456789\n[barge: this log reached its limit of 10 bytes", 57) &&
            !strstr(text, "abc") && text[len - 1] == '\n',
        "the log: the first 10 bytes, then the line: %s", text ? text : "(none)");
  char tpath[600];
  snprintf(tpath, sizeof tpath, "%s.times", path);
  char *times = read_file(tpath, NULL);
  long long size = 0, at = 0;
  CHECK(times && sscanf(times, "%lld %lld", &size, &at) == 2 && size == (long long)len && at > 1600000000000LL,
        "the time index: the log's size and an epoch time: %s", times ? times : "(none)");
  free(text);
  free(times);
  buf_release(&why);
}

static void test_quiet_and_spread(const char *dir) {
  TEST("a job that printed nothing: an empty log, no time index; the folder spread (chattr +T)");
  char path[512], tpath[600];
  snprintf(path, sizeof path, "%s/job-3/1.log", dir);
  snprintf(tpath, sizeof tpath, "%s.times", path);
  struct buf why;
  buf_init(&why);
  int log_fd = joblog_open(path, &why), p[2];
  CHECK(log_fd >= 0 && pipe(p) == 0, "joblog_open: %s", why.len ? (char *)why.data : "");
  struct joblog l;
  joblog_init(&l, "job-3", 1, path);
  joblog_start(&l, p[0], log_fd, 0);
  close(p[1]);
  CHECK_INT(joblog_pump(&l, 1), 0);
  joblog_index(&l, mono_ms(), 1);
  joblog_close(&l);
  struct stat sb;
  CHECK(stat(path, &sb) == 0 && sb.st_size == 0, "the log is there, empty");
  CHECK(stat(tpath, &sb) != 0, "no time index for an empty log");
  buf_release(&why);
  if (joblog_spread(dir, 1) != 0) {
    printf("   no top-directory attribute on this file system: skipped\n");
    return;
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY), flags = 0;
  CHECK(fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_TOPDIR_FL), "FS_TOPDIR_FL set");
  CHECK_INT(joblog_spread(dir, 1), 0); /* set already: still 0 */
  CHECK_INT(joblog_spread(dir, 0), 0);
  CHECK(fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_TOPDIR_FL), "FS_TOPDIR_FL cleared");
  if (fd >= 0) close(fd);
}

/* path with the text (its folders made). */
static void put_file(const char *path, const char *text) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
  CHECK(system(cmd) == 0, "%s", cmd);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL, "create %s", path);
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

static void test_journal(const char *dir) {
  TEST("whether the logs' ext4 has a journal: from sysfs, checked against /proc/fs/jbd2");
  struct statfs sf;
  struct stat st;
  if (statfs(dir, &sf) || sf.f_type != EXT4_SUPER_MAGIC || stat(dir, &st)) {
    CHECK_INT(joblog_fs_journal(dir, "/sys"), -1);
    printf("   %s is not on ext4: -1, the rest skipped\n", dir);
    return;
  }
  /* a fake sysfs: dev/block/M:m -> ../../devices/fake/<name>, fs/ext4/<name>/journal_task */
  char root[600], path[900], link[64];
  snprintf(root, sizeof root, "%s/sys", dir);
  snprintf(path, sizeof path, "%s/dev/block/.keep", root);
  put_file(path, "");
  snprintf(path, sizeof path, "%s/dev/block/%u:%u", root, major(st.st_dev), minor(st.st_dev));
  snprintf(link, sizeof link, "../../devices/fake/fakedisk1");
  CHECK(symlink(link, path) == 0, "symlink %s", path);
  snprintf(path, sizeof path, "%s/fs/ext4/fakedisk1/journal_task", root);
  put_file(path, "<none>\n");
  CHECK_INT(joblog_fs_journal(dir, root), 0);
  put_file(path, "1234\n");
  CHECK_INT(joblog_fs_journal(dir, root), 1);
  unlink(path);
  CHECK_INT(joblog_fs_journal(dir, root), -1);
  /* the real one: a journal has a jbd2 folder named after the device ("<name>-8") */
  int real = joblog_fs_journal(dir, "/sys");
  char devlink[256] = "";
  snprintf(path, sizeof path, "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
  ssize_t n = readlink(path, devlink, sizeof devlink - 1);
  if (real < 0 || n <= 0) {
    printf("   this kernel has no journal_task for the file system of %s: skipped\n", dir);
    return;
  }
  devlink[n] = 0;
  snprintf(path, sizeof path, "/proc/fs/jbd2/%s-8", strrchr(devlink, '/') + 1);
  CHECK(real == (access(path, F_OK) == 0), "the real sysfs says %s; %s %s", real ? "journal" : "no journal", path,
        access(path, F_OK) == 0 ? "exists" : "does not exist");
}

static void test_full(void) {
  TEST("a log that cannot be written (/dev/full): said once, the rest dropped");
  int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (full < 0) {
    printf("   no /dev/full here: skipped\n");
    return;
  }
  int p[2];
  CHECK(pipe(p) == 0, "pipe");
  struct joblog l;
  joblog_init(&l, "job-2", 3, "/somewhere/job-2/3.log");
  joblog_start(&l, p[0], full, -1);
  put(p[1], "hello\n");
  CHECK_INT(joblog_pump(&l, 0), 1);
  CHECK(l.state == JOBLOG_FAILED && !strncmp(l.why, REASON_LOG_UNWRITABLE, strlen(REASON_LOG_UNWRITABLE)) &&
            strstr(l.why, "No space left on device") && strstr(l.why, "/somewhere/job-2/3.log"),
        "the reason: %s", l.why);
  put(p[1], "more\n");
  CHECK_INT(joblog_pump(&l, 0), 0);
  close(p[1]);
  CHECK_INT(joblog_pump(&l, 1), 0);
  CHECK(l.dropped == 11 && l.in_fd == -1, "every byte after it read and dropped (%lld)", (long long)l.dropped);
  joblog_close(&l);
  joblog_close(&l); /* twice is harmless */
}

/* A log started without a file (as the runtimes start every attempt's): no folder and no file
 * until the first byte, both made then; one that cannot be made FAILs the log like a write. */
static void test_lazy(const char *dir) {
  TEST("the file comes with the first output: none for a silent attempt, made at the first byte");
  char path[700], folder[512];
  snprintf(folder, sizeof folder, "%.400s/job-4", dir);
  snprintf(path, sizeof path, "%s/1.log", folder);
  struct stat sb;
  int p[2];
  CHECK(pipe(p) == 0, "pipe");
  struct joblog l;
  joblog_init(&l, "job-4", 1, path);
  joblog_start(&l, p[0], -1, 0);
  CHECK_INT(joblog_pump(&l, 0), 0);
  joblog_index(&l, mono_ms(), 0);
  CHECK(stat(folder, &sb) != 0 && l.fd == -1, "no output yet: no folder, no file");
  put(p[1], "first line\n");
  CHECK_INT(joblog_pump(&l, 0), 0);
  CHECK(l.fd >= 0 && l.bytes == 11 && l.state == JOBLOG_OK, "the first byte made the file (%lld bytes)",
        (long long)l.bytes);
  close(p[1]);
  CHECK_INT(joblog_pump(&l, 1), 0);
  joblog_close(&l);
  char *text = read_file(path, NULL);
  CHECK(text && !strcmp(text, "first line\n"), "the log holds the output: %s", text ? text : "(none)");
  free(text);

  TEST("a silent attempt to its end leaves nothing behind");
  snprintf(folder, sizeof folder, "%.400s/job-5", dir);
  snprintf(path, sizeof path, "%s/1.log", folder);
  CHECK(pipe(p) == 0, "pipe");
  joblog_init(&l, "job-5", 1, path);
  joblog_start(&l, p[0], -1, 0);
  close(p[1]);
  CHECK_INT(joblog_pump(&l, 1), 0);
  joblog_index(&l, mono_ms(), 1);
  joblog_close(&l);
  CHECK(stat(folder, &sb) != 0, "no folder %s", folder);

  TEST("a log whose file cannot be made: FAILED with CannotWriteLogError, said once, the rest dropped");
  char blocker[256];
  snprintf(blocker, sizeof blocker, "%.200s/plain-file", dir);
  int bfd = open(blocker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  CHECK(bfd >= 0, "a plain file where the folder's parent should be");
  close(bfd);
  snprintf(path, sizeof path, "%s/job-6/1.log", blocker); /* a folder under a file: ENOTDIR */
  CHECK(pipe(p) == 0, "pipe");
  joblog_init(&l, "job-6", 1, path);
  joblog_start(&l, p[0], -1, 0);
  put(p[1], "hello\n");
  CHECK_INT(joblog_pump(&l, 0), 1);
  CHECK(l.state == JOBLOG_FAILED && !strncmp(l.why, REASON_LOG_UNWRITABLE, strlen(REASON_LOG_UNWRITABLE)) &&
            strstr(l.why, "cannot be created") && strstr(l.why, "job-6"),
        "the reason: %s", l.why);
  put(p[1], "more\n");
  close(p[1]);
  CHECK_INT(joblog_pump(&l, 1), 0);
  CHECK(l.dropped == 11, "every byte read and dropped (%lld)", (long long)l.dropped);
  joblog_close(&l);
}

int main(void) {
  char dir[] = "/tmp/barge-joblog-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  test_cap(dir);
  test_quiet_and_spread(dir);
  test_journal(dir);
  test_full();
  test_lazy(dir);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return check_summary();
}
