/* log_retention.c: see log_retention.h. */
#include "log_retention.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

struct log_sweep {
  char *log_dir;
  int64_t keep_ms;
  DIR *walk; /* the walk in progress, or NULL: the next step opens a new one */
  int64_t removed, removed_bytes;
};

struct log_sweep *log_sweep_new(const char *log_dir, int64_t keep_ms) {
  struct log_sweep *s = xcalloc(1, sizeof *s);
  s->log_dir = xstrdup(log_dir);
  s->keep_ms = keep_ms;
  return s;
}

void log_sweep_free(struct log_sweep *s) {
  if (!s) return;
  if (s->walk) closedir(s->walk);
  free(s->log_dir);
  free(s);
}

int64_t log_sweep_removed(const struct log_sweep *s) { return s->removed; }
int64_t log_sweep_removed_bytes(const struct log_sweep *s) { return s->removed_bytes; }

static int64_t mtime_ms(const struct stat *st) {
  return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

/* The folder name (a job's) under the walk's dir fd: removed when every entry in it is a regular
 * file last written before cutoff. 1 removed, 0 kept, -1 could not (logged). */
static int sweep_folder(struct log_sweep *s, int parent, const char *name, int64_t cutoff) {
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return -1;
  }
  /* first pass: is everything old and plain? (a folder someone put anything else in stays) */
  struct dirent *e;
  int64_t bytes = 0;
  int due = 1;
  struct stat st;
  while (due && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode) || mtime_ms(&st) >= cutoff) due = 0;
    else bytes += (int64_t)st.st_blocks * 512;
  }
  if (due) {
    rewinddir(d);
    while ((e = readdir(d))) {
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && unlinkat(fd, e->d_name, 0) && errno != ENOENT) due = -1;
    }
  }
  closedir(d);
  if (due == 1 && unlinkat(parent, name, AT_REMOVEDIR)) due = errno == ENOENT ? 0 : -1;
  if (due == 1) {
    s->removed++;
    s->removed_bytes += bytes;
  }
  if (due < 0) log_warn("log retention: cannot remove %s/%s: %s", s->log_dir, name, strerror(errno));
  return due;
}

int log_sweep_step(struct log_sweep *s, int budget, int64_t now_ms, log_live_fn live, void *ctx, int *walk_done) {
  *walk_done = 0;
  if (!s->walk && !(s->walk = opendir(s->log_dir))) {
    *walk_done = 1;
    return 0;
  }
  int removed = 0, parent = dirfd(s->walk);
  int64_t cutoff = now_ms - s->keep_ms;
  struct stat st;
  for (int seen = 0; seen < budget;) {
    errno = 0;
    struct dirent *e = readdir(s->walk);
    if (!e) {
      closedir(s->walk);
      s->walk = NULL;
      *walk_done = 1;
      break;
    }
    if (e->d_name[0] == '.') continue; /* ., .., .agents/ */
    if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
    seen++;
    /* the folder's own time first: a folder written to since the cutoff has a newer file in it */
    if (fstatat(parent, e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(st.st_mode) || mtime_ms(&st) >= cutoff)
      continue;
    if (live && live(ctx, e->d_name)) continue;
    if (sweep_folder(s, parent, e->d_name, cutoff) == 1) removed++;
  }
  return removed;
}
