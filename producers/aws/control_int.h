/* control_int.h: checks and builders shared by the write operations (control_*.c); not part of
 * the module's interface. Checks return 0 or API_CLIENT_ERROR with the reason in err. */
#ifndef BARGE_CONTROL_INT_H
#define BARGE_CONTROL_INT_H
#include "control.h"
#include "jsonget.h"

#define CLIENT API_CLIENT_ERROR
#define SERVER API_SERVER_ERROR
#define fail api_error

/* 1-128 letters, digits, '-' and '_'; job names (job = 1) also start with a letter or digit. */
int ctl_valid_name(const char *s, int job);
/* A shareIdentifier as AWS documents it (SubmitJob, ShareAttributes): 1-255 letters and digits,
 * optionally followed by one '*' (docs/job-model.md §3.4, §6.1). */
int ctl_valid_share_id(const char *s);
/* s is one of the NULL-terminated list. */
int ctl_in_list(const char *s, const char *const *list);
/* "ENABLED" or "DISABLED". */
int ctl_valid_state(const char *s);
/* A structure member that says nothing: absent, null or {} (Airflow's AwsBatchOperator sends
 * arrayProperties={} and containerOverrides={} for a plain job, and AWS takes them as absent). */
int ctl_absent(const json_t *v);
/* A command override (path names it): no element may be an empty string, as AWS documents for
 * ContainerOverrides.command. */
int ctl_check_command_override(const json_t *cmd, const char *path, char *err, size_t errlen);
/* Members only out-of-scope features use (multi-node, EKS, ECS, ...). */
int ctl_reject_out_of_scope(const json_t *req, char *err, size_t errlen);
/* o[k] is absent (and not required) or a whole number within lo..hi; path prefixes k. */
int ctl_check_int(const json_t *o, const char *k, long lo, long hi, int required,
                  const char *path, char *err, size_t errlen);
/* Copies the listed members of src into dst when present. */
void ctl_copy_members(json_t *dst, const json_t *src, const char *const *members);
/* The request's tags, or an empty map. */
json_t *ctl_tags_of(const json_t *req);
/* The ARN of a resource: "compute-environment/NAME" and so on, in the caller's account (cc's,
 * else $BARGE_ACCOUNT). */
void ctl_arn(const struct control_conf *cc, const char *kind, const char *name, char *out, size_t n);

/* The principal a job request records for cc's caller; NULL for the local user. */
const char *ctl_principal(const struct control_conf *cc);

/* Resources an update or delete names. */
enum ctl_table { CTL_CES, CTL_QUEUES, CTL_POLICIES, CTL_TABLE__COUNT };
/* The resource of table t that the request names (computeEnvironment or jobQueue: a name or
 * ARN; arn: a policy's ARN): 0 with *cv and *found borrowed from cc, API_CLIENT_ERROR
 * ("jobQueue is required", "job queue q does not exist"), or the configuration's error. */
int ctl_find(struct control_conf *cc, const json_t *req, enum ctl_table t,
             const struct config_view **cv, json_t **found, char *err, size_t errlen);

/* The ClientException for a scheduling policy ref (of member) that no policy's ARN matches:
 * "scheduling policy X does not exist", or, when ref is the name of one (AWS takes ARNs only),
 * a message giving that policy's ARN. */
int ctl_policy_missing(const struct config_view *cv, const char *member, const char *ref, char *err,
                       size_t errlen);

/* A delete's precondition: resource r (what: "job queue", named ref in the request) is
 * DISABLED. */
int ctl_check_disabled(const json_t *r, const char *what, const char *ref, char *err,
                       size_t errlen);

/* w: a config record of kind (body @owned) keyed by the body's ARN; the response names the
 * body's name and ARN members (or is {} when name_key is NULL), as AWS Create/Update answer. */
void ctl_put_config(struct control_write *w, const char *kind, json_t *body, const char *name_key,
                    const char *arn_key);
/* w: the resource arn deleted (a tombstone); the response {}. */
void ctl_delete_config(struct control_write *w, const char *arn);

/* control_jd.c, for SubmitJob too: the smallest attemptDurationSeconds; retryStrategy checked
 * and normalised; container environment names checked. */
long ctl_min_timeout_s(void);
int ctl_validate_retry(const json_t *rs, const char *path, char *err, size_t errlen);
json_t *ctl_normalize_retry(const json_t *rs);
int ctl_check_env(const json_t *env, const char *path, char *err, size_t errlen);
/* c's resourceRequirements (type GPU, VCPU or MEMORY, each at most once; value a whole number,
 * VCPU at least 1, MEMORY at least 4 MiB) and legacy vcpus and memory, as far as c gives them: a job
 * definition's container, or a containerOverrides (path names it in errors). */
int ctl_check_resources(const json_t *c, const char *path, char *err, size_t errlen);
/* A container of a job definition (containerProperties, or a node range's container; path
 * names it in errors): VCPU, MEMORY, environment, the runtime's members, image. Its vCPUs. */
int ctl_check_container_props(const json_t *cp, const char *path, char *err, size_t errlen);
int ctl_container_vcpus(const json_t *cp);
/* control_mnp.c: a multinode RegisterJobDefinition's nodeProperties checked, into *text (JSON,
 * @owned by the caller); a SubmitJob against definition def checked (multinode: its
 * nodeOverrides, and the gang against queue's CEs), its nodeOverrides normalised into *node_ov
 * (@owned by the caller; NULL when none). */
int ctl_check_node_properties(const struct config_view *cv, const json_t *req, char **text,
                              char *err, size_t errlen);
int ctl_check_mnp_submit(const struct config_view *cv, const json_t *queue, const json_t *def,
                         const json_t *req, json_t **node_ov, char *err, size_t errlen);
/* control_container.c: containerProperties' members as the agents' runtimes honour them. */
int ctl_check_container(const json_t *cp, char *err, size_t errlen);
#endif
