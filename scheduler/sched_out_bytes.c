/* sched_out_bytes.c: the scheduler's most frequent outputs written straight to Avro bytes, without
 * the jansson tree that sched_out.c builds and lib/codec.c encodes: per array task the scheduler
 * writes about four JobStateChange and three JobRecord events, and building, encoding and freeing
 * their trees was most of its main thread's work (docs/architecture.md, "Throughput").
 *
 * The bytes are exactly codec_encode's of the tree (tests/unit/test_sched_out_bytes.c compares the
 * two for every output of a run that sets and leaves out each optional member): fields are written
 * in the schema's order with lib/codec.c's primitives; the parts held as JSON (the container, the
 * retry strategy, dependencies, parameters, tags) go through the codec at their schema node. A
 * multi-node job's records keep the tree (sched_gang_detail reshapes them). */
#include <string.h>

#include "bus.h"
#include "sched_int.h"

static void put_bool(struct buf *out, int v) { buf_append(out, v ? "\1" : "\0", 1); }

/* The schema nodes of a JobRecord's JSON parts, found once. */
enum { N_RETRY, N_DEPENDS, N_PARAMS, N_CONTAINER, N_TIMEOUT, N_TAGS, N__COUNT };
static const char *const node_paths[N__COUNT] = {"detail.retryStrategy", "detail.dependsOn", "detail.parameters",
                                                 "detail.container", "detail.timeout", "detail.tags"};

static const struct codec_node *node(int which) {
  static const struct codec_node *nodes[N__COUNT];
  if (!nodes[which]) nodes[which] = codec_node_at(BARGE_EV_JOB_RECORD, node_paths[which]);
  return nodes[which];
}

/* A JSON part at its node; NULL v is the part's empty form (an empty array or map, or null). */
static int put_part(struct buf *out, int which, const json_t *v, char *err, size_t errlen) {
  if (!node(which)) {
    snprintf(err, errlen, "JobRecord has no field %s", node_paths[which]);
    return -1;
  }
  if (!v) { /* an empty array or map is a zero count; a null union branch is index 0 too */
    codec_put_long(out, 0);
    return 0;
  }
  return codec_put_json(node(which), v, out, err, errlen) ? -1 : 0;
}

static void put_header(struct buf *out, const char *source, const char *request_id, int64_t at_ms) {
  char id[37];
  uuid_v4(id);
  codec_put_str(out, id);
  codec_put_long(out, at_ms);
  codec_put_str(out, source ? source : "barge");
  codec_put_str(out, request_id);
}

static void put_attempts(struct sched *s, const struct job *j, struct buf *out) {
  if (j->nattempts) codec_put_long(out, j->nattempts);
  for (int i = 0; i < j->nattempts; i++) {
    const struct attempt *a = &j->attempts[i];
    struct attempt_strings as;
    sched_attempt_strings(s, j, a, &as);
    codec_put_opt_str(out, as.has_arns ? as.instance_arn : NULL);
    codec_put_opt_str(out, as.has_arns ? as.task_arn : NULL);
    codec_put_opt_long(out, a->exit_code != NO_EXIT, a->exit_code);
    codec_put_opt_str(out, a->container_reason);
    codec_put_opt_str(out, as.log_stream);
    codec_put_opt_long(out, a->started_at != 0, a->started_at);
    codec_put_opt_long(out, 1, a->stopped_at);
    codec_put_opt_str(out, a->status_reason);
  }
  codec_put_long(out, 0);
}

static void put_array_properties(const struct job *j, struct buf *out) {
  if (j->arr) {
    codec_put_long(out, 1);
    codec_put_opt_long(out, 1, j->arr->size);
    codec_put_opt_long(out, 0, 0); /* index */
    codec_put_long(out, 1);        /* statusSummary: a map of every status */
    codec_put_long(out, JOB__COUNT);
    for (int st = 0; st < JOB__COUNT; st++) {
      codec_put_str(out, job_status_name((enum job_status)st));
      codec_put_long(out, j->arr->counts[st]);
    }
    codec_put_long(out, 0);
    codec_put_opt_long(out, 1, j->arr->summary_at);
  } else if (j->index >= 0) {
    codec_put_long(out, 1);
    codec_put_opt_long(out, 0, 0);
    codec_put_opt_long(out, 1, j->index);
    codec_put_opt_long(out, 0, 0);
    codec_put_opt_long(out, 0, 0);
  } else {
    codec_put_long(out, 0);
  }
}

/* JobDetail, as sched_job_detail builds it. */
static int put_detail(struct sched *s, const struct job *j, struct buf *out, char *err, size_t errlen) {
  const struct spec *sp = j->spec;
  char arn[512];
  sched_job_arn(s, j, arn, sizeof arn);
  codec_put_str(out, arn);
  codec_put_str(out, sp && sp->name ? sp->name : "");
  codec_put_str(out, j->id);
  codec_put_str(out, j->queue != SCHED_NONE ? s->queues[j->queue]->arn : "");
  codec_put_str(out, job_status_name((enum job_status)j->status));
  codec_put_opt_str(out, j->status_reason);
  codec_put_opt_str(out, sp ? sp->share_id : NULL);
  codec_put_opt_long(out, sp && sp->sched_prio >= 0, sp ? sp->sched_prio : 0);
  put_attempts(s, j, out);
  codec_put_long(out, j->created_at);
  codec_put_opt_long(out, j->started_at != 0, j->started_at);
  codec_put_opt_long(out, j->stopped_at && (j->status == JOB_SUCCEEDED || j->status == JOB_FAILED), j->stopped_at);
  if (put_part(out, N_RETRY, sp ? sp->retry_json : NULL, err, errlen) ||
      put_part(out, N_DEPENDS, sp ? sp->depends_on : NULL, err, errlen))
    return -1;
  codec_put_str(out, sp && sp->jd ? sp->jd->arn : "");
  if (put_part(out, N_PARAMS, sp ? sp->params : NULL, err, errlen)) return -1;
  json_t *c = sched_detail_container(s, j);
  int rc = put_part(out, N_CONTAINER, c, err, errlen);
  json_decref(c);
  if (rc) return -1;
  put_array_properties(j, out);
  json_t *t = sp && sp->timeout_s > 0 ? json_pack("{s:i}", "attemptDurationSeconds", sp->timeout_s) : NULL;
  rc = put_part(out, N_TIMEOUT, t, err, errlen);
  json_decref(t);
  if (rc || put_part(out, N_TAGS, sp ? sp->tags : NULL, err, errlen)) return -1;
  put_bool(out, sp && sp->propagate_tags);
  codec_put_long(out, 1); /* platformCapabilities: ["EC2"] */
  codec_put_str(out, "EC2");
  codec_put_long(out, 0);
  put_bool(out, j->cancelled);
  put_bool(out, j->terminated);
  codec_put_long(out, 0); /* nodeProperties, nodeDetails: a multi-node job keeps the tree */
  codec_put_long(out, 0);
  return 0;
}

int sched_job_record_bytes(struct sched *s, uint32_t ji, const char *source, int64_t at_ms, struct buf *out,
                           char *err, size_t errlen) {
  const struct job *j = s->jobs[ji];
  if (j->mnp || sched_gang_parent(s, j)) return 1;
  size_t start = out->len;
  codec_put_frame(BARGE_EV_JOB_RECORD, out);
  put_header(out, source, j->id, at_ms);
  codec_put_long(out, 0); /* seq */
  if (put_detail(s, j, out, err, errlen)) {
    out->len = start; /* nothing half-written stays behind */
    if (out->data) out->data[start] = 0;
    return -1;
  }
  const struct instance *in = j->instance != SCHED_NONE ? s->insts[j->instance] : NULL;
  codec_put_long(out, j->attempt);
  codec_put_opt_str(out, in ? in->id : NULL);
  codec_put_opt_str(out, in ? s->ces[in->ce]->name : NULL);
  codec_put_opt_str(out, j->log_path);
  codec_put_long(out, j->retried ? -j->queue_seq : j->queue_seq);
  codec_put_opt_str(out, j->pending_stop ? (j->pending_stop == 2 ? "TERMINATE" : "CANCEL") : NULL);
  codec_put_opt_str(out, j->stop_reason);
  codec_put_opt_str(out, j->parent != SCHED_NONE ? s->jobs[j->parent]->id : NULL);
  if (j->ndeps) codec_put_long(out, j->ndeps);
  for (uint16_t k = 0; k < j->ndeps; k++) codec_put_str(out, s->jobs[j->deps[k]]->id);
  codec_put_long(out, 0);
  codec_put_long(out, in ? j->incarnation : 0);
  return 0;
}

/* The same JobStateChange as sched_state_change, written straight to Avro bytes (framed), field by
 * field in the schema's order (schemas/JobStateChange.avsc): four are written per array task, and
 * the tree cost more than the rest of the event's handling (docs/architecture.md, "Throughput").
 * tests/unit/test_sched_out_bytes.c holds it to codec_encode's bytes of sched_state_change. */
void sched_state_change_bytes(struct sched *s, const struct out_ev *e, const char *source, struct buf *out) {
  struct job *j = s->jobs[e->job];
  codec_put_frame(BARGE_EV_JOB_STATE_CHANGE, out);
  put_header(out, source, j->id, e->at_ms);
  codec_put_str(out, j->id); /* jobId */
  codec_put_str(out, j->spec && j->spec->name ? j->spec->name : "");
  codec_put_str(out, j->queue != SCHED_NONE ? s->queues[j->queue]->name : "");
  codec_put_opt_str(out, j->parent != SCHED_NONE ? s->jobs[j->parent]->id : NULL);
  codec_put_long(out, e->attempt);
  codec_put_str(out, job_status_name((enum job_status)e->old_status));
  codec_put_str(out, job_status_name((enum job_status)e->new_status));
  codec_put_opt_str(out, e->reason);
  const struct instance *in = e->inst != SCHED_NONE ? s->insts[e->inst] : NULL;
  codec_put_opt_str(out, in ? in->id : NULL);
  codec_put_opt_str(out, in ? s->ces[in->ce]->name : NULL);
  codec_put_opt_long(out, e->exit_code != NO_EXIT, e->exit_code);
  codec_put_opt_str(out, j->spec ? j->spec->share_id : NULL);
  codec_put_long(out, j->spec ? j->spec->vcpus : 0);
  codec_put_long(out, j->spec ? j->spec->mem_mib : 0);
  codec_put_long(out, j->spec ? j->spec->gpus : 0);
  codec_put_long(out, e->at_ms); /* at */
}

/* A container environment entry as KeyValuePair: 0, or 1 when it is not exactly {name, value?}
 * of strings (the tree then says what is wrong with it). */
static int put_env_entry(struct buf *out, const json_t *kv) {
  const char *name = jget_str(kv, "name");
  const json_t *value = json_object_get(kv, "value");
  if (!name || (value && !json_is_string(value)) || json_object_size(kv) != 1u + (value != NULL)) return 1;
  codec_put_str(out, name);
  codec_put_str(out, value ? json_string_value(value) : "");
  return 0;
}

static void put_env(struct buf *out, const char *name, const char *value) {
  codec_put_str(out, name);
  codec_put_str(out, value);
}

int sched_placement_bytes(struct sched *s, const struct out_ev *e, const char *source, struct buf *out) {
  const struct job *j = s->jobs[e->job];
  const struct spec *sp = j->spec;
  const json_t *command = json_object_get(sp->container, "command");
  const json_t *env = json_object_get(sp->container, "environment");
  if (e->kind != OUT_PLACEMENT || sched_gang_parent(s, j) || !json_is_array(command) || (env && !json_is_array(env)))
    return 1;
  size_t start = out->len;
  const struct instance *in = s->insts[e->inst];
  codec_put_frame(BARGE_EV_AGENT_COMMAND, out);
  put_header(out, source, j->id, e->at_ms);
  codec_put_str(out, in->id);
  codec_put_long(out, 0); /* body: the Placement branch */
  codec_put_str(out, j->id);
  codec_put_long(out, e->attempt);
  codec_put_str(out, sp->name ? sp->name : "");
  size_t i;
  const json_t *x;
  if (json_array_size(command)) codec_put_long(out, (int64_t)json_array_size(command));
  json_array_foreach(command, i, x) {
    if (!json_is_string(x)) goto tree;
    codec_put_str(out, json_string_value(x));
  }
  codec_put_long(out, 0);
  char attempt[16], index[16];
  snprintf(attempt, sizeof attempt, "%d", e->attempt);
  snprintf(index, sizeof index, "%d", j->index);
  codec_put_long(out, (int64_t)json_array_size(env) + 4 + (j->index >= 0));
  json_array_foreach(env, i, x) if (put_env_entry(out, x)) goto tree;
  put_env(out, "AWS_BATCH_JOB_ID", j->id);
  put_env(out, "AWS_BATCH_JOB_ATTEMPT", attempt);
  if (j->index >= 0) put_env(out, "AWS_BATCH_JOB_ARRAY_INDEX", index);
  put_env(out, "AWS_BATCH_JQ_NAME", s->queues[j->queue]->name);
  put_env(out, "AWS_BATCH_CE_NAME", s->ces[in->ce]->name);
  codec_put_long(out, 0);
  codec_put_long(out, sp->vcpus);
  codec_put_long(out, sp->mem_mib);
  codec_put_long(out, sp->gpus);
  codec_put_long(out, sp->timeout_s);
  char task[37];
  struct attempt_strings as;
  sched_task_id(j, e->attempt, task);
  struct attempt a = {.ce = SCHED_NONE};
  memcpy(a.task_id, task, sizeof task);
  sched_attempt_strings(s, j, &a, &as); /* the log stream name of this attempt's task */
  codec_put_str(out, as.log_stream);
  codec_put_str(out, task);
  codec_put_long(out, e->incarnation);
  codec_put_str(out, jget_str(sp->container, "image") ? jget_str(sp->container, "image") : "");
  codec_put_str(out, jget_str(sp->container, "storedJson") ? jget_str(sp->container, "storedJson") : "{}");
  return 0;
tree:
  out->len = start;
  if (out->data) out->data[start] = 0;
  return 1;
}
