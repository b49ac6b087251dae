/* joblog.h: an attempt's log as every runtime writes it (docs/containers.md, "The log: its size,
 * and a full disk"). The job's output reaches the agent on a descriptor the agent's loop drains
 * into <log dir>/<jobId>/<attempt>.log: the read end of the process's stdout/stderr pipe (the
 * process runtime, runner.c), or of a pipe the attempt's worker thread fills with the engine's
 * log stream of the container (runtime_engine.c). Draining it here gives both runtimes:
 *
 * - the file (and the job's folder) made with the first byte of output, not at the start: an
 *   attempt that prints nothing leaves no file, and costs no folder and file on the agent's loop
 *   (about 200 us per attempt, docs/architecture.md "Throughput"). Readers take a missing log of
 *   an attempt that ran as empty (docs/containers.md "Logs");
 *
 * - the limit: at most max_bytes of output are kept; the rest is read and dropped (the job is
 *   never blocked for long), with one line in the log saying so;
 * - the full-disk stop: a write that fails (ENOSPC, a quota) marks the log FAILED, and
 *   joblog_pump tells the caller once, with the reason (REASON_LOG_UNWRITABLE ...), so that the
 *   runtime stops the attempt; later output is dropped;
 * - the time index <log>.times ("<size> <epoch ms>" lines, runner.h) that `barge api` dates
 *   the lines with.
 *
 * One thread at a time (the agent's loop); the descriptors are owned by the struct. */
#ifndef BARGE_AGENT_JOBLOG_H
#define BARGE_AGENT_JOBLOG_H
#include <stdint.h>

#include "util.h"

#define JOBLOG_PUMP_BYTES (4 << 20) /* a running job's output moved per turn of the loop, at most */

enum joblog_state { JOBLOG_OK, JOBLOG_CAPPED, JOBLOG_FAILED };

struct joblog {
  const char *job_id, *path; /* borrowed from the runtime's slot, for messages and the index */
  int attempt;
  int in_fd;                 /* the output's read end (non-blocking), -1 once closed */
  int fd;                    /* the log file (O_APPEND), -1 until the first output and once closed */
  int times_fd;              /* the time index, -1 until opened */
  int64_t max_bytes;         /* < 0: no limit */
  int64_t bytes;             /* in the log so far */
  int64_t size;              /* the file's size as written here (bytes, and the limit's line) */
  int64_t dropped;           /* bytes past the limit, or after a failed write */
  int64_t indexed_bytes;     /* the log's size at the last index line */
  int64_t indexed_at_ms;     /* when the size was last looked at (monotonic) */
  enum joblog_state state;
  char why[512];             /* JOBLOG_FAILED: "CannotWriteLogError: ..." */
};

/* Opens (creates, appends to) the log file at path, making its folder (and missing parents).
 * The descriptor (O_CLOEXEC), or -1 with the reason ("log file PATH: ...") appended to why. */
int joblog_open(const char *path, struct buf *why);

/* Whether dir is on an ext4 with a journal: 1 yes, 0 no (ext4 without one), -1 not ext4 or not
 * known. Read from sysfs (sys_root, "/sys" but for tests): the folder
 * fs/ext4/<block device>/journal_task says "<none>" without a journal. */
int joblog_fs_journal(const char *dir, const char *sys_root);

/* Marks (on) or unmarks the logs' folder as a top of directory hierarchies for ext2/3/4's Orlov
 * allocator (the FS_TOPDIR_FL attribute, `chattr +T`), best effort. Marked, the attempts' folders
 * are spread over the file system's block groups instead of being packed into the folder's own.
 * The agent marks it only on an ext4 without a journal (joblog_fs_journal 0), which does not
 * reuse the inodes deleted in the last minutes and looks past them one by one for every new one:
 * right after many deletions a folder there cost 300-600 us per attempt, 150-230 us spread. With
 * a journal there is no such wait and spreading only costs: Orlov weighs every group of the file
 * system for each folder (docs/architecture.md, "Throughput"). 0 when the folder is as asked,
 * -1 when the file system has no such attribute or it cannot be changed. */
int joblog_spread(const char *dir, int on);

/* A log with no descriptors yet (every fd -1), so that joblog_close is always safe. */
void joblog_init(struct joblog *l, const char *job_id, int attempt, const char *path);

/* Starts draining in_fd into log_fd (both @owned): in_fd is made non-blocking; the log's
 * current size counts toward max_bytes (0 = RUNNER_DEFAULT_MAX_LOG_BYTES, < 0 = no limit).
 * log_fd -1: the file at l->path is made (joblog_open) when the first byte arrives; if it cannot
 * be, the log is FAILED as for a failed write. */
void joblog_start(struct joblog *l, int in_fd, int log_fd, int64_t max_bytes);

/* Moves what is waiting on in_fd to the log: at most JOBLOG_PUMP_BYTES while the attempt runs,
 * everything up to the end of the output once it has ended (final: the writers are gone), then
 * closes in_fd. Returns 1 when the log has just become unwritable (the reason in l->why: the
 * caller stops the attempt with it; said once), else 0. */
int joblog_pump(struct joblog *l, int final);

/* Adds a time-index line when the log grew: at most every RUNNER_INDEX_PERIOD_MS, and always
 * when final. */
void joblog_index(struct joblog *l, int64_t now_mono_ms, int final);

/* Closes every descriptor (a writer on the other end of in_fd then gets EPIPE). */
void joblog_close(struct joblog *l);

#endif
