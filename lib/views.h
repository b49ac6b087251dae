/* views.h: current state read from the compacted tables, for the user commands and the API.
 *
 * config_view_load reads barge.config to its end: every live resource's body (the AWS-shaped
 * Describe* view) by kind, keyed by ARN. jobs_view_load reads barge.jobs to its end: the
 * latest JobRecord of every job, keyed by job id. Both read committed data only.
 * The reads are O(table size); a long-running reader (the HTTP API) keeps its view current
 * by consuming the same topics instead of reloading. */
#ifndef BARGE_VIEWS_H
#define BARGE_VIEWS_H
#include <jansson.h>

#include "bus.h"

struct config_view {
  json_t *ces;      /* arn -> ComputeEnvironment */
  json_t *queues;   /* arn -> JobQueue */
  json_t *jds;      /* arn -> JobDefinition (every revision) */
  json_t *policies; /* arn -> SchedulingPolicy */
};

int config_view_load(const struct bus_conf *bc, struct config_view *cv, char *err,
                     size_t errlen) BARGE_WUR;
void config_view_release(struct config_view *cv);
/* An empty view; one barge.config message applied to it (a tombstone deletes the key; an
 * undecodable one is skipped); one decoded event (borrowed; NULL for a tombstone) of that key
 * applied to it. For a reader that keeps its view current by consuming the topic. */
void config_view_init(struct config_view *cv);
void config_view_apply(struct config_view *cv, const struct bus_msg *m);
void config_view_put(struct config_view *cv, const char *key, const json_t *ev);
/* A CE, queue or policy by name or ARN; NULL if none (borrowed). */
json_t *config_find(json_t *table, const char *name_key, const char *ref);
/* A job definition by name or ARN without revision (the highest ACTIVE revision), by
 * name:revision or ARN with revision (that revision, whatever its status). */
json_t *config_find_jd(const struct config_view *cv, const char *ref);
/* Does ref (name, name:revision or ARN) name a revision? */
int config_jd_ref_has_revision(const char *ref);
/* Does jd_arn (a revision's ARN), without its ":revision", name the same job definition as arn
 * (either ARN form)? */
int config_jd_arn_unrevisioned(const char *jd_arn, const char *arn);

/* Error classes of the AWS Batch operations (docs/job-model.md §10): ClientException and
 * ServerException, as HTTP statuses. api_error formats the message into err and returns code. */
#define API_CLIENT_ERROR 400
#define API_SERVER_ERROR 500
int api_error(char *err, size_t errlen, int code, const char *fmt, ...) BARGE_PRINTF(4, 5);
/* config_view_load for an operation: 0, or API_SERVER_ERROR with the reason (cv released). */
int config_view_load_api(const struct bus_conf *bc, struct config_view *cv, char *err,
                         size_t errlen) BARGE_WUR;

/* Reads table t to its end with a consumer of its own, calling cb for every message. */
int view_read_table(const struct bus_conf *bc, enum bus_topic t,
                    void (*cb)(void *ctx, const struct bus_msg *m), void *ctx, char *err,
                    size_t errlen) BARGE_WUR;
/* Table t as key -> the latest decoded event, tombstoned keys left out (new reference in *out,
 * set even on failure). */
int view_load_latest(const struct bus_conf *bc, enum bus_topic t, json_t **out, char *err,
                     size_t errlen) BARGE_WUR;

/* The incarnation tracker (lib/states.h, docs/architecture.md "Agent incarnations") of a reader
 * of barge.instances that keeps no record of its own per instance: incarnations is {instance id:
 * its latest incarnation}. Folds InstanceEvent ev in (each instance's events in their order): 1
 * when ev is an older agent incarnation's late word (its TERMINATED after the restarted agent's
 * READY, a late beat), which the reader ignores; 0 when the reader takes it. */
int instance_event_stale(json_t *incarnations, const json_t *ev);

/* barge.scaling, the provisioner's decisions and heartbeats (a delete-retention topic keyed by
 * CE name: the latest per CE is the last one read). scaling_fold folds one ScalingDecision into
 * desired = {CE name: latest toDesiredvCpus} and served = {CE name: {servedUntil, at, detail} of
 * its latest heartbeat} (served may be NULL). scaling_view_load reads the topic to its end, folded
 * so into *desired and *served (owned, set even on failure; served may be NULL): 0, or nonzero
 * with the reason in err. DescribeComputeEnvironments shows desired as the CE's desiredvCpus. */
void scaling_fold(json_t *desired, json_t *served, const json_t *ev);
int scaling_view_load(const struct bus_conf *bc, json_t **desired, json_t **served, char *err,
                      size_t errlen) BARGE_WUR;

/* job id -> JobRecord (new reference in *out). */
int jobs_view_load(const struct bus_conf *bc, json_t **out, char *err, size_t errlen) BARGE_WUR;

/* Which of the job ids (plain ids or array children "id:N") exist: known to barge.jobs, or
 * submitted in the last `tail` records of barge.requests (a job submitted a moment ago whose
 * record the scheduler has not written yet). found[i] is set for each that exists: to its array
 * size (2..10000) for an array parent, to 1 for any other job (SubmitJob's N_TO_N check,
 * docs/job-model.md §6.2, needs the size); it stays 0 for one that does not. */
int jobs_exist(const struct bus_conf *bc, const char *const *ids, size_t n, int *found,
               int64_t tail, char *err, size_t errlen) BARGE_WUR;
/* The second half of jobs_exist: which of the ids not yet found (found[i] 0) were submitted in
 * the last `tail` records of barge.requests (found[i] as jobs_exist sets it); for a caller that
 * has looked in barge.jobs itself. */
int jobs_submitted(const struct bus_conf *bc, const char *const *ids, size_t n, int *found,
                   int64_t tail, char *err, size_t errlen) BARGE_WUR;

/* The ARN of a Barge resource: arn:<partition>:batch:<region>:<account>:<suffix>, from
 * $BARGE_PARTITION, $BARGE_REGION and $BARGE_ACCOUNT (defaults aws, us-east-1, 000000000000).
 * barge_arn_in takes the account of the caller (NULL or "": $BARGE_ACCOUNT). */
void barge_arn(const char *suffix, char *out, size_t n);
void barge_arn_in(const char *account, const char *suffix, char *out, size_t n);
const char *barge_partition(void);
const char *barge_region(void);
const char *barge_account(void);
/* a and b name the same resource: equal, or equal but for the partition where one of them is
 * the arn:barge: form Barge wrote before (docs/job-model.md §1). */
int barge_arn_same(const char *a, const char *b);
/* table[arn], or the entry whose key is the same ARN in the other form; NULL if none. */
json_t *barge_arn_get(json_t *table, const char *arn);
#endif
