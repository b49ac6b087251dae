/* log_retention.h: `barge agent --log-retention-hours H`: the agent removes the log folders of
 * jobs that ended on it longer ago than H (docs/operations.md, "Job logs on the agents").
 *
 * A job's folder (<log dir>/<jobId>/, its attempts' <n>.log and <n>.log.times) goes once every
 * file in it was last written more than H ago and no attempt of that job is alive on this agent
 * (a silent job that runs for days keeps its log). The agent's loop walks the log dir a little
 * at a time (log_sweep_step, at most `budget` folders per call) so that a dir of a million
 * folders never holds the loop; a walk that reaches the end starts again after a pause. Entries
 * whose name starts with '.' (the agent's state, `.agents/`) and plain files are left alone.
 * Nothing here knows Kafka: the loop gives the liveness test. */
#ifndef BARGE_AGENT_LOG_RETENTION_H
#define BARGE_AGENT_LOG_RETENTION_H
#include <stdint.h>

struct log_sweep;
/* 1 when an attempt of job_id (a folder's name) is alive. */
typedef int (*log_live_fn)(void *ctx, const char *job_id);

/* keep_ms > 0: folders last written longer ago than that go. */
struct log_sweep *log_sweep_new(const char *log_dir, int64_t keep_ms);
void log_sweep_free(struct log_sweep *s); /* NULL: no-op */

/* Looks at up to budget folders, removing those due at now_ms (wall clock, ms since the epoch).
 * Returns how many folders it removed; *walk_done is set to 1 when this call reached the end of
 * the log dir (the next call starts a new walk from the beginning). */
int log_sweep_step(struct log_sweep *s, int budget, int64_t now_ms, log_live_fn live, void *ctx, int *walk_done);

/* Folders and bytes removed since log_sweep_new. */
int64_t log_sweep_removed(const struct log_sweep *s);
int64_t log_sweep_removed_bytes(const struct log_sweep *s);
#endif
