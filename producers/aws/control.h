/* control.h: the AWS Batch write operations (Create*, Update*, Delete*, Register*,
 * Deregister*, SubmitJob, CancelJob, TerminateJob). Each is two steps:
 *
 *   validation  control_<operation>(cc, req, w): checks the request against the current
 *               configuration as AWS Batch does and says what to write (one record) and what
 *               to answer. It reads the configuration through cc and does no other I/O, so a
 *               test drives it with a configuration it builds.
 *   write       control_apply: runs a validation (loading barge.config when the validation
 *               first asks for it), writes the record and answers only after the delivery
 *               report confirms it is durably written (acks=all, idempotent producer).
 *
 * Invalid input gives a ClientException naming the member; nothing is written then. The
 * operation table (aws_op.h) names each operation's validation. */
#ifndef BARGE_CONTROL_H
#define BARGE_CONTROL_H
#include <jansson.h>

#include "aws_op.h"
#include "bus.h"
#include "views.h"

/* The configuration a validation reads: given (loaded = 1, cv filled by the caller) or loaded
 * from bc's barge.config on first use (then control_apply releases it). */
struct control_conf {
  const struct bus_conf *bc;
  struct config_view cv;
  int loaded;
  /* who asks (docs/api.md, "Identity"): the principal a job request records (NULL: $USER) and
   * the account of the ARNs a create makes (NULL: $BARGE_ACCOUNT) */
  const struct aws_caller *who;
  const char *account;
  /* barge.jobs (job id -> JobRecord), for the tagging of jobs: given (jobs_loaded = 1) or
   * loaded on first use (control_jobs_get), as the configuration */
  json_t *jobs;
  int jobs_loaded;
  /* barge.scaling's latest desiredvCpus per CE name, for UpdateComputeEnvironment: given
   * (desired_loaded = 1) or loaded on first use (control_desired_get) */
  json_t *desired;
  int desired_loaded;
};
/* The configuration: 0 with *cv borrowed from cc, or API_SERVER_ERROR with the reason. */
int control_conf_get(struct control_conf *cc, const struct config_view **cv, char *err,
                     size_t errlen) BARGE_WUR;

/* {CE name: the provisioner's current desiredvCpus}: 0 with *desired borrowed from cc (NULL
 * when cc has none and no Kafka to read: no provisioner has decided anything), or
 * API_SERVER_ERROR. */
int control_desired_get(struct control_conf *cc, json_t **desired, char *err, size_t errlen) BARGE_WUR;
/* Releases what a validation loaded into cc (the configuration it loaded, the tables). */
void control_conf_release(struct control_conf *cc);

/* The jobs table: 0 with *jobs borrowed from cc, or API_SERVER_ERROR with the reason. */
int control_jobs_get(struct control_conf *cc, json_t **jobs, char *err, size_t errlen) BARGE_WUR;
/* "NAME is not supported by Barge (out of scope: ...)": the refusal of an out-of-scope member;
 * returns API_CLIENT_ERROR. */
int ctl_out_of_scope(const char *member, char *err, size_t errlen);

/* What a write operation writes and answers. All members are owned. */
struct control_write {
  enum bus_topic topic; /* TOPIC_CONFIG or TOPIC_REQUESTS */
  char key[512];
  json_t *value; /* the event; NULL writes a tombstone (a deleted resource) */
  json_t *resp;  /* the AWS response */
  /* job ids (dependsOn) that must exist before the write: known to barge.jobs or submitted
   * a moment ago to barge.requests; NULL for none */
  json_t *must_exist;
  /* the request member that names them, for the refusal ("M: job ID does not exist"): NULL
   * for dependsOn; a static string */
  const char *must_exist_member;
  /* SubmitJob of an array job: its size, and which must_exist entries (bit i: entry i) are
   * N_TO_N dependencies, whose target, when an array, must have that size (docs/job-model.md
   * §6.2); 0 for none */
  int n2n_size;
  uint32_t n2n_mask;
};
void control_write_release(struct control_write *w);

/* Where a write went: its topic, partition and offset (-1 when the sink does not say). */
struct control_written {
  enum bus_topic topic;
  int32_t partition;
  int64_t offset;
};
/* How a write reaches Kafka: publish sends one event (NULL: a tombstone) and returns only once
 * its delivery report confirms it durably written (0, filling *at), else API_SERVER_ERROR with
 * the reason in err. The command line opens a producer per write; `barge api` shares one
 * long-lived producer between its threads (producers/api/writer.h). */
struct control_sink {
  int (*publish)(void *ctx, enum bus_topic t, const char *key, const json_t *v,
                 struct control_written *at, char *err, size_t errlen);
  void *ctx;
};
/* The write step after a validation filled w: checks w->must_exist, publishes through sink
 * (NULL: a producer of its own on bc) and moves w->resp to *resp. 0, or API_CLIENT_ERROR /
 * API_SERVER_ERROR with the reason in err. at (may be NULL) gets where the record went. */
int control_write_out(const struct bus_conf *bc, const struct control_sink *sink,
                      struct control_write *w, json_t **resp, struct control_written *at,
                      char *err, size_t errlen) BARGE_WUR;

/* Validates req with prepare, then writes: 0 with *resp (owned), or API_CLIENT_ERROR /
 * API_SERVER_ERROR with the reason in err. */
int control_apply(aws_prepare_fn prepare, const struct bus_conf *bc, const json_t *req,
                  json_t **resp, char *err, size_t errlen) BARGE_WUR;
/* control_apply on behalf of who (NULL: the local user, as control_apply). */
int control_apply_as(aws_prepare_fn prepare, const struct bus_conf *bc, const struct aws_caller *who,
                     const json_t *req, json_t **resp, char *err, size_t errlen) BARGE_WUR;

/* The validations, one per write operation (each an aws_prepare_fn). */
int control_create_compute_environment(struct control_conf *cc, const json_t *req,
                                       struct control_write *w, char *err, size_t errlen);
int control_update_compute_environment(struct control_conf *cc, const json_t *req,
                                       struct control_write *w, char *err, size_t errlen);
int control_delete_compute_environment(struct control_conf *cc, const json_t *req,
                                       struct control_write *w, char *err, size_t errlen);
int control_create_job_queue(struct control_conf *cc, const json_t *req, struct control_write *w,
                             char *err, size_t errlen);
int control_update_job_queue(struct control_conf *cc, const json_t *req, struct control_write *w,
                             char *err, size_t errlen);
int control_delete_job_queue(struct control_conf *cc, const json_t *req, struct control_write *w,
                             char *err, size_t errlen);
int control_register_job_definition(struct control_conf *cc, const json_t *req,
                                    struct control_write *w, char *err, size_t errlen);
int control_deregister_job_definition(struct control_conf *cc, const json_t *req,
                                      struct control_write *w, char *err, size_t errlen);
int control_create_scheduling_policy(struct control_conf *cc, const json_t *req,
                                     struct control_write *w, char *err, size_t errlen);
int control_update_scheduling_policy(struct control_conf *cc, const json_t *req,
                                     struct control_write *w, char *err, size_t errlen);
int control_delete_scheduling_policy(struct control_conf *cc, const json_t *req,
                                     struct control_write *w, char *err, size_t errlen);
int control_submit_job(struct control_conf *cc, const json_t *req, struct control_write *w,
                       char *err, size_t errlen);
int control_tag_resource(struct control_conf *cc, const json_t *req, struct control_write *w,
                         char *err, size_t errlen);
int control_untag_resource(struct control_conf *cc, const json_t *req, struct control_write *w,
                           char *err, size_t errlen);
int control_cancel_job(struct control_conf *cc, const json_t *req, struct control_write *w,
                       char *err, size_t errlen);
int control_terminate_job(struct control_conf *cc, const json_t *req, struct control_write *w,
                          char *err, size_t errlen);

/* Called after every acknowledged write of this process with what was written (value NULL for
 * a tombstone), from the writing thread: `barge api` shows its own writes at once through it
 * (read-your-writes, producers/api/view_live.h). NULL removes it. */
typedef void (*control_written_fn)(void *ctx, enum bus_topic t, const char *key,
                                   const json_t *value);
void control_set_written_hook(control_written_fn fn, void *ctx);

/* Marks each of the job ids the caller's own view knows, so that SubmitJob's dependsOn check
 * reads the tables only for the others (`barge api`, view_live.h): found[i] = its array size for
 * an array parent, 1 for any other job (as jobs_exist, views.h). NULL removes it. */
typedef void (*control_known_fn)(void *ctx, const char *const *ids, size_t n, int *found);
void control_set_known_hook(control_known_fn fn, void *ctx);

/* Runs the operation with that API name ("CreateComputeEnvironment") through the table:
 * aws_op_call's returns; API_CLIENT_ERROR for a name the table does not have. */
int control_call(const struct bus_conf *bc, const char *api, const json_t *req, json_t **resp,
                 char *err, size_t errlen) BARGE_WUR;

/* Validates a SubmitJob request against cv and builds the JobRequest body with a new job id
 * (*body owned). 0, or 400 with the reason. Shared by submit-job, the bulk submitter and the
 * client library. */
int control_prepare_submit(const struct config_view *cv, const json_t *req, json_t **body,
                           char *err, size_t errlen);
/* A JobRequest event around body (@owned): header, principal ($USER), body {kind: body}. */
json_t *control_request_event(const char *kind, json_t *body);
/* The same with the principal given (NULL: $USER). */
json_t *control_request_event_as(const char *principal, const char *kind, json_t *body);
#endif
