/* barge/client.h: the Barge client library for programs that submit jobs and follow their state
 * (upstream data pipelines; docs/publishing.md). Link with the static library barge_client.
 *
 *   struct barge_client *c = barge_client_new("127.0.0.1:9092", "barge.", err, sizeof err);
 *   char id[64];
 *   if (barge_submit_job(c, "{\"jobName\":\"etl\",\"jobQueue\":\"q\",\"jobDefinition\":\"jd\"}",
 *                        id, sizeof id, err, sizeof err) == BARGE_OK) {
 *     struct barge_job_state st;
 *     barge_wait_job(c, id, 600000, &st, NULL, err, sizeof err);   // st.status "SUCCEEDED"
 *   }
 *   barge_client_free(c);
 *
 * Contracts:
 * - barge_submit_job validates the AWS SubmitJob request against the current configuration
 *   (barge.config) exactly as `barge submit-job` does (but for dependsOn: a job id there is not
 *   looked up in barge.jobs; a job depending on one that does not exist is FAILED by the
 *   scheduler, "dependsOn: job ID does not exist"), writes one JobRequest to barge.requests
 *   with an idempotent producer and returns the job id only after the delivery report confirms it
 *   is durably written (acks=all). A request the configuration refuses is never written.
 * - States come from barge.jobs (the compacted current state, the DescribeJobs view),
 *   committed data only.
 * - Every function returns a BARGE_* code (0 is success) and, on failure, writes a
 *   human-readable reason into the caller's err buffer (which may be NULL). barge_strerror names
 *   the code.
 * - Strings returned through char ** are the caller's, freed with barge_free_string.
 * - Threads: a client is used by one thread at a time (and freed by the last); create one per
 *   thread. Clients share no mutable state, the schema registry included (each has its own: URL,
 *   ids, caches), so several threads may each make, use and free their own at the same moment
 *   (the process-wide schema tables are built once, by whichever barge_client_new comes first,
 *   the others waiting for it). barge_strerror and barge_free_string may be called from any
 *   thread. The library reads the environment (BARGE_*, USER) with getenv: do not setenv while
 *   another thread uses a client. */
#ifndef BARGE_CLIENT_H
#define BARGE_CLIENT_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum barge_code {
  BARGE_OK = 0,
  BARGE_ERR_INVALID = 1,   /* the request was refused (AWS ClientException): nothing written */
  BARGE_ERR_NOT_FOUND = 2, /* no such job (yet) */
  BARGE_ERR_TIMEOUT = 3,   /* barge_wait_job: not terminal in time (the state so far is filled) */
  BARGE_ERR_KAFKA = 4,     /* Kafka unreachable, or a write that cannot have landed: retry later */
  BARGE_ERR_REGISTRY = 5,  /* the schema registry refused or is unreachable */
  BARGE_ERR_ARGUMENT = 6,  /* a bad argument (NULL, not JSON, unknown option) */
  BARGE_ERR_OUTCOME_UNKNOWN = 7 /* barge_submit_job: the write was sent but not confirmed (a
                                 * timeout): it may have landed. The job id is filled in; look
                                 * it up (barge_job_status) before submitting again, or a retry
                                 * may make a second job */
};
/* A static description of a code ("the request was refused"). */
const char *barge_strerror(int code);

struct barge_client;

/* A client of the Barge installation at brokers (a Kafka bootstrap list, HOST:PORT[,...]) whose
 * topics carry topic_prefix (NULL: "barge."). No I/O happens here. NULL on a bad argument (err
 * says why): a broker list or prefix `barge --brokers/--topic-prefix` refuses too, or a bad
 * value of a variable that configures the client: $BARGE_SCHEMA_REGISTRY_URL (http:// or
 * https://), $BARGE_MIN_ATTEMPT_DURATION_SECONDS (a whole number, 1 or more), $BARGE_LOG (debug,
 * info, warn, error); empty or unset is the default. May be called from any thread. */
struct barge_client *barge_client_new(const char *brokers, const char *topic_prefix, char *err,
                                      size_t errlen);
/* Options, before the first call that does I/O:
 *   "schema.registry.url"  a Confluent-compatible registry: this client's events then use its
 *                          framing (default: $BARGE_SCHEMA_REGISTRY_URL as barge_client_new
 *                          found it; "" for none). The registry is this client's: its ids and
 *                          caches too; another client in the process may use another registry
 *   "principal"            who submits (default: $USER); not empty, UTF-8
 *   "kafka.<property>"     any librdkafka property (TLS, SASL), e.g. "kafka.security.protocol";
 *                          one librdkafka refuses (name or value) is BARGE_ERR_ARGUMENT here
 * A registry URL that is not http:// or https:// is BARGE_ERR_ARGUMENT too. */
int barge_client_set(struct barge_client *c, const char *name, const char *value, char *err,
                     size_t errlen);
void barge_client_free(struct barge_client *c);

/* Submits one job: aws_submit_json is an AWS Batch SubmitJob request (jobName, jobQueue,
 * jobDefinition, arrayProperties, dependsOn, parameters, containerOverrides, retryStrategy,
 * timeout, tags, shareIdentifier, ...; queue and job definition by name or ARN). On BARGE_OK the
 * new job id (a UUID, 37 bytes with the NUL) is in job_id_out. On BARGE_ERR_OUTCOME_UNKNOWN
 * too: the write was sent but not confirmed, the job may exist; look it up before a retry.
 * BARGE_ERR_KAFKA means nothing can have been written: a retry is safe. After a failed write the
 * client's next submission connects anew, so a client outlives a broker outage (or a producer
 * librdkafka gave up on for good); a message not yet sent when the call returned is dropped,
 * never written later. */
int barge_submit_job(struct barge_client *c, const char *aws_submit_json, char *job_id_out,
                     size_t job_id_len, char *err, size_t errlen);

/* A job's state as barge.jobs has it. Times are epoch milliseconds, 0 when not reached. */
struct barge_job_state {
  char status[16]; /* SUBMITTED PENDING RUNNABLE STARTING RUNNING SUCCEEDED FAILED */
  char status_reason[512];
  int attempts; /* attempts finished */
  int has_exit_code;
  int exit_code; /* of the last attempt, when has_exit_code */
  long long created_at, started_at, stopped_at;
};

/* The current state of a job (an array child as "<id>:<index>"). st may be NULL; detail_json,
 * when not NULL, receives the AWS JobDetail as JSON. BARGE_ERR_NOT_FOUND when barge.jobs has no
 * record of it yet (the scheduler has not handled the submission). */
int barge_job_status(struct barge_client *c, const char *job_id, struct barge_job_state *st,
                     char **detail_json, char *err, size_t errlen);

/* Waits until the job is SUCCEEDED or FAILED, at most timeout_ms (< 0: forever; 0: looks
 * once): reads barge.jobs once from its start, then follows its new records. BARGE_OK when
 * terminal (st says which), BARGE_ERR_TIMEOUT otherwise with the latest state known in st (all
 * zero, and err says so, when barge.jobs has no record of the job). */
int barge_wait_job(struct barge_client *c, const char *job_id, int timeout_ms,
                   struct barge_job_state *st, char **detail_json, char *err, size_t errlen);

void barge_free_string(char *s);

#ifdef __cplusplus
}
#endif
#endif
