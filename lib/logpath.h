/* logpath.h: where an attempt's log lives below an agent's log dir (docs/architecture.md, "Job
 * logs"). Written by the agent, read back by `barge logs` and `barge api`, served by the agent's
 * log server.
 *
 *   <jobId>/<attempt>.log            a job that is not an array child
 *   <parentId>/<index>.<attempt>.log an array child (job id <parentId>:<index>)
 *
 * An array's children share their parent's folder, so an array of 10,000 makes one folder instead
 * of 10,000: a new folder is the dearest part of an attempt's start on ext4 (about 140 us here
 * against 20-80 us for a file; docs/architecture.md, "Throughput"). The parent itself never runs,
 * so its folder holds no <attempt>.log of its own. Each log may have a time index beside it,
 * <log>.times. Logs written before this layout (an array child under <parentId>:<index>/) are still
 * found: readers go from the path the job's record carries (logpath_attempt), not from the id. */
#ifndef BARGE_LOGPATH_H
#define BARGE_LOGPATH_H
#include <stddef.h>

/* The path of attempt's log relative to the log dir into out. A job id is made one path part:
 * '/' becomes '_', and "." or ".." become "_". 0, or -1 when out is too small. */
int logpath_rel(const char *job_id, int attempt, char *out, size_t n);

/* The path of attempt's log given the recorded path of another attempt of the same job (the
 * JobRecord's logPath: <dir>/<folder>/<n>.log or <dir>/<folder>/<index>.<n>.log): the attempt
 * number swapped. *rel (may be NULL) is set to the offset in out of "<folder>/...", the part below
 * the log dir. 0, or -1 when log_path has neither form or out is too small. */
int logpath_attempt(const char *log_path, int attempt, char *out, size_t n, size_t *rel);

/* Whether rel is a log (or its .times index) in one of the two forms, with a folder of
 * [A-Za-z0-9:_-] (1 to 200) and decimal numbers of 1 to 9 digits: nothing else below a log dir
 * (no "..", no other file, not the .agents state). 1 or 0. */
int logpath_valid_rel(const char *rel);
#endif
