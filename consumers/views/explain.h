/* explain.h: `barge explain`'s timeline of one job, rebuilt from the log (docs/operations.md
 * "Why is my job not running?"): its state changes (barge.job-events), the reasons the scheduler
 * gave while it was not placed (barge.job-waits), and what the provisioner did meanwhile for the
 * compute environments of its queue (barge.scaling, LAUNCH_FAILED on barge.instances). Pure:
 * the caller reads the topics (cmd/explain.c) and hands the decoded events over. */
#ifndef BARGE_EXPLAIN_H
#define BARGE_EXPLAIN_H
#include <jansson.h>

/* The events of one job and of its queue's compute environments, as decoded (borrowed). */
struct explain_input {
  const json_t *record;   /* the job's latest JobRecord (required) */
  const json_t *changes;  /* its JobStateChange events, in log order */
  const json_t *waits;    /* its JobWait events, in log order */
  const json_t *scaling;  /* ScalingDecision events of ces, in log order */
  const json_t *launches; /* LAUNCH_FAILED InstanceEvents of ces, in log order */
  const json_t *ces;      /* the compute environment names of its queue (strings) */
};

/* The timeline as JSON (new reference): {jobId, jobName, jobQueue, status, statusReason,
 * computeEnvironments, timeline: [{at, time, source, kind, text, event}], now}. Entries are in
 * time order (log order on ties); scaling and launch entries only from when the job first became
 * RUNNABLE until it first started (or now), and not while it carried a MISCONFIGURATION or
 * ACTION_REQUIRED code (such a job asks for no capacity); HEARTBEAT decisions left out. Each
 * text is a plain sentence. */
json_t *explain_build(const struct explain_input *in);

/* The timeline as lines of text for a terminal (malloc'd). */
char *explain_render(const json_t *timeline);

/* explain_read.c, the I/O half shared by `barge explain` and the dashboard's job page: reads
 * what explain_build needs through bc (the job's partition of barge.jobs, barge.job-events and
 * barge.job-waits, keyed by an array child's parent; barge.config, barge.scaling and
 * barge.instances whole) and builds the timeline into *out (new reference). 0; 1 when there is
 * no such job; -1 with the reason in err (the broker). */
struct bus_conf;
int explain_load(const struct bus_conf *bc, const char *job_id, json_t **out, char *err, size_t errlen);
#endif
