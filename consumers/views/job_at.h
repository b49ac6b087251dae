/* job_at.h: a job as it was at one of its transitions, for `barge watch` (cmd/watch.c).
 *
 * barge.job-events carries each transition (a JobStateChange), barge.jobs the job's whole state
 * (a JobRecord) after a scheduler step. One step may make several transitions and write one
 * record (the agent's folded start-and-end report: STARTING -> RUNNING -> SUCCEEDED with the end
 * state's record only), and a reader that starts from the beginning may see only the latest
 * record of a compacted job. So a transition is not always beside "its" record: these functions
 * say whether a record is at, before or after a transition, and derive the detail at the
 * transition from a record at or after it. Pure: no I/O, no clock; any thread. */
#ifndef BARGE_JOB_AT_H
#define BARGE_JOB_AT_H
#include <jansson.h>

/* Where record (a JobRecord) stands against ev (a JobStateChange of the same job) in the job's
 * life: < 0 before the transition, 0 at it, > 0 after it. The position is the attempts opened
 * (JobRecord.attempt, JobStateChange.attempt) and the status within that attempt, which only grow
 * (PENDING, RUNNABLE, then per attempt STARTING, RUNNING, RUNNABLE again on a retry, the end). */
int job_at_cmp(const json_t *record, const json_t *ev);

/* The job's DescribeJobs detail at the transition ev, from record (a JobRecord at or after ev;
 * one before it gives its own older state): ev's status and reason; the attempts that had ended;
 * startedAt from the first RUNNING on, stoppedAt only at the end; the container's attempt fields
 * (instance, task, log stream; exit code and reason once an attempt has ended) of the live
 * attempt, else of the last ended one; the container's stored members expanded as DescribeJobs
 * shows them (no storedJson). Fields no transition changes (the spec, tags, an array's
 * statusSummary) are the record's. A new reference. */
json_t *job_at_detail(const json_t *record, const json_t *ev);
#endif
