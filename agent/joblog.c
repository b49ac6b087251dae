/* joblog.c: draining an attempt's output into its log, within its limit, with its time index
 * (joblog.h). Shared by the process runtime (runner.c) and the container runtimes
 * (runtime_engine.c). */
#include "joblog.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "runner.h"

int joblog_open(const char *path, struct buf *why) {
  char *dir = xstrdup(path);
  char *slash = strrchr(dir, '/');
  int fd = -1;
  if (slash && slash != dir) {
    *slash = 0;
    /* the attempt's own folder first; its parents only when they are missing */
    if (mkdir(dir, 0755) != 0 && errno != EEXIST && mkdir_p(dir) != 0) {
      buf_printf(why, "log directory %s: %s", dir, strerror(errno));
      goto out;
    }
  }
  do {
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) buf_printf(why, "log file %s: %s", path, strerror(errno));
out:
  free(dir);
  return fd;
}

int joblog_fs_journal(const char *dir, const char *sys_root) {
  struct statfs sf;
  struct stat st;
  if (statfs(dir, &sf) || sf.f_type != EXT4_SUPER_MAGIC || stat(dir, &st)) return -1;
  /* the block device's name (vda, nvme0n1p1, dm-0) from its numbers, as ext4 names its folders */
  char path[1100], link[512];
  snprintf(path, sizeof path, "%.400s/dev/block/%u:%u", sys_root, major(st.st_dev), minor(st.st_dev));
  ssize_t n = readlink(path, link, sizeof link - 1);
  if (n <= 0) return -1;
  link[n] = 0;
  const char *name = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
  /* ext4's journal_task: the journal thread's pid, "<none>" without a journal */
  snprintf(path, sizeof path, "%.400s/fs/ext4/%s/journal_task", sys_root, name);
  char text[32] = "";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return -1;
  text[n] = 0;
  return strncmp(text, "<none>", 6) != 0;
}

int joblog_spread(const char *dir, int on) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int flags = 0, rc = -1;
  if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
    if (!(flags & FS_TOPDIR_FL) == !on) rc = 0;
    else {
      flags = on ? flags | FS_TOPDIR_FL : flags & ~FS_TOPDIR_FL;
      rc = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0 ? 0 : -1;
    }
  }
  close(fd);
  return rc;
}

void joblog_init(struct joblog *l, const char *job_id, int attempt, const char *path) {
  memset(l, 0, sizeof *l);
  l->job_id = job_id;
  l->attempt = attempt;
  l->path = path;
  l->in_fd = l->fd = l->times_fd = -1;
}

/* The log's descriptor, and the size it already has (counted toward the limit). */
static void adopt(struct joblog *l, int log_fd) {
  l->fd = log_fd;
  struct stat sb;
  if (!fstat(log_fd, &sb)) l->bytes = l->size = sb.st_size;
}

void joblog_start(struct joblog *l, int in_fd, int log_fd, int64_t max_bytes) {
  fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
  l->in_fd = in_fd;
  l->max_bytes = max_bytes ? max_bytes : RUNNER_DEFAULT_MAX_LOG_BYTES;
  if (log_fd >= 0) adopt(l, log_fd);
}

/* A log started without a file gets it with its first byte; 1 when it cannot be made (the log is
 * FAILED then, with the reason). */
static int create(struct joblog *l) {
  struct buf why;
  buf_init(&why);
  int fd = joblog_open(l->path, &why);
  if (fd >= 0) {
    adopt(l, fd);
  } else {
    snprintf(l->why, sizeof l->why, REASON_LOG_UNWRITABLE "the attempt's log cannot be created (%.400s)",
             why.len ? (char *)why.data : l->path);
    log_warn("job %s attempt %d: %s; stopping it", l->job_id, l->attempt, l->why);
    l->state = JOBLOG_FAILED;
  }
  buf_release(&why);
  return fd < 0;
}

/* Appends n bytes to the log, within its limit; a failed write (a full disk) marks the log
 * FAILED (returns 1 then), and everything after is dropped. */
static int append(struct joblog *l, const char *p, size_t n) {
  if (l->state != JOBLOG_OK) {
    l->dropped += (int64_t)n;
    return 0;
  }
  if (l->fd < 0 && create(l)) {
    l->dropped += (int64_t)n;
    return 1;
  }
  size_t keep = n;
  if (l->max_bytes >= 0 && l->bytes + (int64_t)n > l->max_bytes)
    keep = l->bytes < l->max_bytes ? (size_t)(l->max_bytes - l->bytes) : 0;
  while (keep > 0) {
    ssize_t w = write(l->fd, p, keep);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      snprintf(l->why, sizeof l->why, REASON_LOG_UNWRITABLE "the attempt's log %.300s cannot be written (%s)",
               l->path, w < 0 ? strerror(errno) : "no progress");
      log_warn("job %s attempt %d: %s; stopping it", l->job_id, l->attempt, l->why);
      l->state = JOBLOG_FAILED;
      l->dropped += (int64_t)n;
      return 1;
    }
    l->bytes += w;
    l->size += w;
    p += w;
    keep -= (size_t)w;
    n -= (size_t)w;
  }
  if (n == 0) return 0;
  l->dropped += (int64_t)n; /* past the limit: say so once, in the log itself */
  l->state = JOBLOG_CAPPED;
  char note[200];
  int k = snprintf(note, sizeof note, "\n[barge: this log reached its limit of %lld bytes (barge agent --max-log-mib); "
                                      "the rest of the output is dropped]\n", (long long)l->max_bytes);
  ssize_t w = write(l->fd, note, (size_t)k);
  if (w < 0) log_debug("%s: %s", l->path, strerror(errno));
  else l->size += w;
  log_info("job %s attempt %d: its log reached %lld bytes; dropping the rest", l->job_id, l->attempt,
           (long long)l->max_bytes);
  return 0;
}

int joblog_pump(struct joblog *l, int final) {
  char buf[65536];
  int64_t moved = 0;
  int failed = 0;
  while (l->in_fd >= 0 && (final || moved < JOBLOG_PUMP_BYTES)) {
    ssize_t n = read(l->in_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) { /* EOF: every writer is gone */
      close(l->in_fd);
      l->in_fd = -1;
      break;
    }
    failed |= append(l, buf, (size_t)n);
    moved += n;
  }
  if (final) {
    if (l->in_fd >= 0) close(l->in_fd);
    l->in_fd = -1;
    if (l->dropped && l->state == JOBLOG_CAPPED)
      log_info("job %s attempt %d: %lld bytes of output past the log's limit dropped", l->job_id, l->attempt,
               (long long)l->dropped);
  }
  return failed;
}

/* A reader dates a line by the first index line whose size reaches the line's end: the time by
 * which it had been written, within a poll period. The size is the one this log wrote (only the
 * agent writes the file): no stat per look, and none at all for a job that printed nothing. */
void joblog_index(struct joblog *l, int64_t now_mono_ms, int final) {
  if (!final && now_mono_ms - l->indexed_at_ms < RUNNER_INDEX_PERIOD_MS) return;
  l->indexed_at_ms = now_mono_ms;
  if (l->fd < 0 || l->size <= l->indexed_bytes) return;
  if (l->times_fd < 0) {
    char path[4200];
    snprintf(path, sizeof path, "%.4100s.times", l->path);
    l->times_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
    if (l->times_fd < 0) {
      log_warn("%s: %s; its lines will carry the attempt's start time", path, strerror(errno));
      l->indexed_bytes = INT64_MAX; /* do not try again */
      return;
    }
  }
  char line[64];
  int n = snprintf(line, sizeof line, "%lld %lld\n", (long long)l->size, (long long)now_ms());
  if (write(l->times_fd, line, (size_t)n) == n) l->indexed_bytes = l->size;
}

void joblog_close(struct joblog *l) {
  if (l->in_fd >= 0) close(l->in_fd);
  if (l->fd >= 0) close(l->fd);
  if (l->times_fd >= 0) close(l->times_fd);
  l->in_fd = l->fd = l->times_fd = -1;
}
