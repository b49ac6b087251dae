/* sched_out.c: pure serialisers from the core's state and outbox to the JSON events the shell
 * encodes (JobRecord, JobStateChange, AgentCommand, CapacityDemand, InstanceEvent), and the
 * AWS JobDetail view. Deterministic: the same state gives the same bytes, except the event
 * header's event_id (bus_header makes a fresh one; comparisons such as
 * tests/unit/test_sched_determinism.c blank it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "sched_int.h"

static void set_opt_str(json_t *o, const char *k, const char *v) {
  if (v) json_object_set_new(o, k, json_string(v));
}

/* Joins strings into out as snprintf would (truncated to n - 1 bytes, NUL-terminated), without
 * parsing a format: a JobRecord takes several ARNs and log stream names, each rewritten at every
 * transition of every job (docs/architecture.md, "Throughput"). */
struct cat {
  char *p;
  size_t left; /* room for bytes before the NUL */
};

static void cat_put(struct cat *c, const char *s, size_t max) {
  size_t n = strnlen(s, max);
  if (n > c->left) n = c->left;
  memcpy(c->p, s, n);
  c->p += n;
  c->left -= n;
  *c->p = 0;
}

static struct cat cat_start(char *out, size_t n) {
  out[0] = 0;
  return (struct cat){out, n - 1};
}

static void ecs_arn(const struct sched *s, const char *kind, const char *ce, const char *id,
                    char *out, size_t n) {
  struct cat c = cat_start(out, n);
  const char *parts[] = {"arn:", s->conf.partition, ":ecs:", s->conf.region, ":", s->conf.account, ":",
                         kind, "/", ce, "/", id};
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) cat_put(&c, parts[i], SIZE_MAX);
}

static void log_stream(const struct job *j, const char *task_id, char *out, size_t n) {
  const char *jd = j->spec && j->spec->jd ? j->spec->jd->name : "job";
  struct cat c = cat_start(out, n);
  cat_put(&c, jd, 200);
  cat_put(&c, "/default/", SIZE_MAX);
  cat_put(&c, task_id, SIZE_MAX);
}

static json_t *summary(const struct array_info *a) {
  json_t *m = json_object();
  for (int st = 0; st < JOB__COUNT; st++)
    json_object_set_new(m, job_status_name((enum job_status)st), json_integer(a->counts[st]));
  return m;
}

json_t *sched_propagated_tags(const struct spec *sp) {
  json_t *t = json_object();
  json_t *jd_tags = sp->jd ? json_object_get(sp->jd->body, "tags") : NULL;
  if (json_is_object(jd_tags)) json_object_update(t, jd_tags);
  if (json_is_object(sp->tags)) json_object_update(t, sp->tags); /* the job's win */
  return t;
}

void sched_job_arn(const struct sched *s, const struct job *j, char *arn, size_t n) {
  char suffix[128];
  struct cat sc = cat_start(suffix, sizeof suffix);
  cat_put(&sc, "job/", SIZE_MAX);
  cat_put(&sc, j->id, SIZE_MAX);
  if (j->spec && j->spec->arn_prefix) {
    sc = cat_start(arn, n);
    cat_put(&sc, j->spec->arn_prefix, SIZE_MAX);
    cat_put(&sc, suffix, SIZE_MAX);
  } else {
    sched_arn(s, suffix, arn, n);
  }
}

void sched_attempt_strings(const struct sched *s, const struct job *j, const struct attempt *a,
                           struct attempt_strings *out) {
  out->has_arns = a->ce != SCHED_NONE;
  if (out->has_arns) {
    ecs_arn(s, "container-instance", s->ces[a->ce]->name, a->instance_id, out->instance_arn, sizeof out->instance_arn);
    ecs_arn(s, "task", s->ces[a->ce]->name, a->task_id, out->task_arn, sizeof out->task_arn);
  }
  log_stream(j, a->task_id, out->log_stream, sizeof out->log_stream);
}

json_t *sched_detail_container(struct sched *s, const struct job *j) {
  struct spec *sp = j->spec;
  if (!sp || !sp->container || j->arr) return NULL;
  json_t *c = json_copy(sp->container);
  /* the live attempt, or else the last one */
  const struct attempt *last = j->nattempts ? &j->attempts[j->nattempts - 1] : NULL;
  char x[512];
  if (j->instance != SCHED_NONE) {
    struct instance *in = s->insts[j->instance];
    char task[37];
    sched_task_id(j, j->attempt, task);
    ecs_arn(s, "container-instance", s->ces[in->ce]->name, in->id, x, sizeof x);
    json_object_set_new(c, "containerInstanceArn", json_string(x));
    ecs_arn(s, "task", s->ces[in->ce]->name, task, x, sizeof x);
    json_object_set_new(c, "taskArn", json_string(x));
    log_stream(j, task, x, sizeof x);
    json_object_set_new(c, "logStreamName", json_string(x));
  } else if (last) {
    struct attempt_strings as;
    sched_attempt_strings(s, j, last, &as);
    if (as.has_arns) {
      json_object_set_new(c, "containerInstanceArn", json_string(as.instance_arn));
      json_object_set_new(c, "taskArn", json_string(as.task_arn));
    }
    json_object_set_new(c, "logStreamName", json_string(as.log_stream));
    if (last->exit_code != NO_EXIT) json_object_set_new(c, "exitCode", json_integer(last->exit_code));
    set_opt_str(c, "reason", last->container_reason);
  }
  if (sp->propagate_tags) json_object_set_new(c, "tags", sched_propagated_tags(sp));
  return c;
}

json_t *sched_job_detail(struct sched *s, uint32_t ji) {
  struct job *j = s->jobs[ji];
  struct spec *sp = j->spec;
  char arn[512];
  sched_job_arn(s, j, arn, sizeof arn);
  json_t *d = json_object();
  json_object_set_new(d, "jobArn", json_string(arn));
  json_object_set_new(d, "jobName", json_string(sp && sp->name ? sp->name : ""));
  json_object_set_new(d, "jobId", json_string(j->id));
  json_object_set_new(d, "jobQueue",
                      json_string(j->queue != SCHED_NONE ? s->queues[j->queue]->arn : ""));
  json_object_set_new(d, "status", json_string(job_status_name((enum job_status)j->status)));
  set_opt_str(d, "statusReason", j->status_reason);
  if (sp) set_opt_str(d, "shareIdentifier", sp->share_id);
  if (sp && sp->sched_prio >= 0) json_object_set_new(d, "schedulingPriority", json_integer(sp->sched_prio));
  json_t *atts = json_array();
  for (int i = 0; i < j->nattempts; i++) {
    const struct attempt *a = &j->attempts[i];
    json_t *c = json_object();
    struct attempt_strings as;
    sched_attempt_strings(s, j, a, &as);
    set_opt_str(c, "containerInstanceArn", as.has_arns ? as.instance_arn : NULL);
    set_opt_str(c, "taskArn", as.has_arns ? as.task_arn : NULL);
    if (a->exit_code != NO_EXIT) json_object_set_new(c, "exitCode", json_integer(a->exit_code));
    set_opt_str(c, "reason", a->container_reason);
    json_object_set_new(c, "logStreamName", json_string(as.log_stream));
    json_t *at = json_pack("{s:o}", "container", c);
    if (a->started_at) json_object_set_new(at, "startedAt", json_integer(a->started_at));
    json_object_set_new(at, "stoppedAt", json_integer(a->stopped_at));
    set_opt_str(at, "statusReason", a->status_reason);
    json_array_append_new(atts, at);
  }
  json_object_set_new(d, "attempts", atts);
  json_object_set_new(d, "createdAt", json_integer(j->created_at));
  if (j->started_at) json_object_set_new(d, "startedAt", json_integer(j->started_at));
  if (j->stopped_at && (j->status == JOB_SUCCEEDED || j->status == JOB_FAILED))
    json_object_set_new(d, "stoppedAt", json_integer(j->stopped_at));
  if (sp && sp->retry_json) json_object_set(d, "retryStrategy", sp->retry_json);
  /* shallow copies (json_copy) of the spec's trees: the record is encoded and freed at once, and
   * the core replaces or edits only their top level (TagResource), never a nested value in place */
  json_object_set_new(d, "dependsOn", sp && sp->depends_on ? json_copy(sp->depends_on) : json_array());
  json_object_set_new(d, "jobDefinition", json_string(sp && sp->jd ? sp->jd->arn : ""));
  json_object_set_new(d, "parameters", sp && sp->params ? json_copy(sp->params) : json_object());
  json_t *container = sched_detail_container(s, j);
  if (container) json_object_set_new(d, "container", container);
  if (j->arr) {
    json_object_set_new(d, "arrayProperties",
                        json_pack("{s:i, s:o, s:I}", "size", j->arr->size, "statusSummary",
                                  summary(j->arr), "statusSummaryLastUpdatedAt",
                                  (json_int_t)j->arr->summary_at));
  } else if (j->index >= 0) {
    json_object_set_new(d, "arrayProperties", json_pack("{s:i}", "index", j->index));
  }
  if (sp && sp->timeout_s > 0)
    json_object_set_new(d, "timeout", json_pack("{s:i}", "attemptDurationSeconds", sp->timeout_s));
  json_object_set_new(d, "tags", sp && sp->tags ? json_copy(sp->tags) : json_object());
  json_object_set_new(d, "propagateTags", json_boolean(sp && sp->propagate_tags));
  json_object_set_new(d, "platformCapabilities", json_pack("[s]", "EC2"));
  json_object_set_new(d, "isCancelled", json_boolean(j->cancelled));
  json_object_set_new(d, "isTerminated", json_boolean(j->terminated));
  sched_gang_detail(s, j, d);
  return d;
}

json_t *sched_job_record(struct sched *s, uint32_t ji, const char *source, int64_t at_ms) {
  struct job *j = s->jobs[ji];
  json_t *r = json_object();
  json_object_set_new(r, "header", bus_header(source, j->id, at_ms));
  json_object_set_new(r, "detail", sched_job_detail(s, ji));
  json_object_set_new(r, "attempt", json_integer(j->attempt));
  if (j->instance != SCHED_NONE) {
    json_object_set_new(r, "instanceId", json_string(s->insts[j->instance]->id));
    json_object_set_new(r, "computeEnvironment",
                        json_string(s->ces[s->insts[j->instance]->ce]->name));
    if (j->incarnation) json_object_set_new(r, "incarnation", json_integer(j->incarnation));
  }
  set_opt_str(r, "logPath", j->log_path);
  json_object_set_new(r, "queueSeq", json_integer(j->retried ? -j->queue_seq : j->queue_seq));
  if (j->pending_stop)
    json_object_set_new(r, "pendingStop", json_string(j->pending_stop == 2 ? "TERMINATE" : "CANCEL"));
  set_opt_str(r, "pendingStopReason", j->stop_reason);
  if (j->parent != SCHED_NONE)
    json_object_set_new(r, "parentJobId", json_string(s->jobs[j->parent]->id));
  json_t *deps = json_array();
  for (uint16_t k = 0; k < j->ndeps; k++)
    json_array_append_new(deps, json_string(s->jobs[j->deps[k]]->id));
  json_object_set_new(r, "dependencyIds", deps);
  return r;
}

const char *sched_out_key(struct sched *s, const struct out_ev *e) {
  switch (e->kind) {
  case OUT_JOB_RECORD:
  case OUT_REJECT:
    return s->jobs[e->job]->id;
  case OUT_STATE_CHANGE:
  case OUT_WAIT: {
    struct job *j = s->jobs[e->job];
    return j->parent != SCHED_NONE ? s->jobs[j->parent]->id : j->id;
  }
  case OUT_PLACEMENT:
  case OUT_KILL:
  case OUT_INSTANCE:
    return s->insts[e->inst]->id;
  case OUT_CAPACITY:
    return s->ces[e->ce]->name;
  case OUT__COUNT:
    break;
  }
  return "";
}

json_t *sched_state_change(struct sched *s, const struct out_ev *e, const char *source) {
  struct job *j = s->jobs[e->job];
  json_t *r = json_object();
  json_object_set_new(r, "header", bus_header(source, j->id, e->at_ms));
  json_object_set_new(r, "jobId", json_string(j->id));
  json_object_set_new(r, "jobName", json_string(j->spec && j->spec->name ? j->spec->name : ""));
  json_object_set_new(r, "jobQueue", json_string(j->queue != SCHED_NONE ? s->queues[j->queue]->name : ""));
  if (j->parent != SCHED_NONE) json_object_set_new(r, "parentJobId", json_string(s->jobs[j->parent]->id));
  json_object_set_new(r, "attempt", json_integer(e->attempt));
  json_object_set_new(r, "oldStatus", json_string(job_status_name((enum job_status)e->old_status)));
  json_object_set_new(r, "newStatus", json_string(job_status_name((enum job_status)e->new_status)));
  set_opt_str(r, "statusReason", e->reason);
  if (e->inst != SCHED_NONE) {
    json_object_set_new(r, "instanceId", json_string(s->insts[e->inst]->id));
    json_object_set_new(r, "computeEnvironment", json_string(s->ces[s->insts[e->inst]->ce]->name));
  }
  if (e->exit_code != NO_EXIT) json_object_set_new(r, "exitCode", json_integer(e->exit_code));
  if (j->spec) {
    set_opt_str(r, "shareIdentifier", j->spec->share_id);
    json_object_set_new(r, "vcpus", json_integer(j->spec->vcpus));
    json_object_set_new(r, "memoryMib", json_integer(j->spec->mem_mib));
    json_object_set_new(r, "gpus", json_integer(j->spec->gpus));
  }
  json_object_set_new(r, "at", json_integer(e->at_ms));
  return r;
}

json_t *sched_agent_command(struct sched *s, const struct out_ev *e, const char *source) {
  struct job *j = s->jobs[e->job];
  struct instance *in = s->insts[e->inst];
  json_t *r = json_object();
  json_object_set_new(r, "header", bus_header(source, j->id, e->at_ms));
  json_object_set_new(r, "instanceId", json_string(in->id));
  if (e->kind == OUT_KILL) {
    json_object_set_new(r, "body", json_pack("{s:{s:s, s:i, s:s}}", "KillRequest", "jobId", j->id,
                                             "attempt", e->attempt, "reason",
                                             e->reason ? e->reason : ""));
    return r;
  }
  struct spec *sp = j->spec;
  json_t *env = json_copy(json_object_get(sp->container, "environment")); /* appended to below */
  if (!env) env = json_array();
  char attempt[16], index[16];
  snprintf(attempt, sizeof attempt, "%d", e->attempt);
  json_array_append_new(env, json_pack("{s:s, s:s}", "name", "AWS_BATCH_JOB_ID", "value", j->id));
  json_array_append_new(env, json_pack("{s:s, s:s}", "name", "AWS_BATCH_JOB_ATTEMPT", "value", attempt));
  if (j->index >= 0) {
    snprintf(index, sizeof index, "%d", j->index);
    json_array_append_new(env, json_pack("{s:s, s:s}", "name", "AWS_BATCH_JOB_ARRAY_INDEX", "value", index));
  }
  sched_gang_env(s, j, env);
  json_array_append_new(env, json_pack("{s:s, s:s}", "name", "AWS_BATCH_JQ_NAME", "value", s->queues[j->queue]->name));
  json_array_append_new(env, json_pack("{s:s, s:s}", "name", "AWS_BATCH_CE_NAME", "value", s->ces[in->ce]->name));
  char task[37], ls[300];
  sched_task_id(j, e->attempt, task);
  log_stream(j, task, ls, sizeof ls);
  json_t *p = json_object();
  json_object_set_new(p, "jobId", json_string(j->id));
  json_object_set_new(p, "attempt", json_integer(e->attempt));
  json_object_set_new(p, "jobName", json_string(sp->name));
  json_object_set_new(p, "command", json_copy(json_object_get(sp->container, "command")));
  json_object_set_new(p, "environment", env);
  json_object_set_new(p, "vcpus", json_integer(sp->vcpus));
  json_object_set_new(p, "memoryMib", json_integer(sp->mem_mib));
  json_object_set_new(p, "gpus", json_integer(sp->gpus));
  json_object_set_new(p, "timeoutSeconds", json_integer(sp->timeout_s));
  json_object_set_new(p, "logStreamName", json_string(ls));
  json_object_set_new(p, "taskId", json_string(task));
  json_object_set_new(p, "incarnation", json_integer(e->incarnation));
  json_object_set_new(p, "image", json_string(jget_str(sp->container, "image") ? jget_str(sp->container, "image") : ""));
  json_object_set_new(p, "containerJson", json_string(jget_str(sp->container, "storedJson") ? jget_str(sp->container, "storedJson") : "{}"));
  json_object_set_new(r, "body", json_pack("{s:o}", "Placement", p));
  return r;
}

json_t *sched_capacity(struct sched *s, const struct out_ev *e, const char *source) {
  struct ce *c = s->ces[e->ce];
  json_t *busy = c->last_busy ? json_deep_copy(c->last_busy) : json_array();
  json_t *shapes = c->last_demand ? json_deep_copy(c->last_demand) : json_array();
  return json_pack("{s:o, s:s, s:o, s:o, s:I}", "header", bus_header(source, "", e->at_ms),
                   "computeEnvironment", c->name, "shapes", shapes, "busyInstances", busy, "at",
                   (json_int_t)e->at_ms);
}

json_t *sched_instance_event(struct sched *s, const struct out_ev *e, const char *source) {
  struct instance *in = s->insts[e->inst];
  json_t *r = json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:I}", "header",
                        bus_header(source, "", e->at_ms), "instanceId", in->id,
                        "computeEnvironment", s->ces[in->ce]->name, "kind", e->instance_kind,
                        "instanceType", in->type ? in->type : "", "vcpus", in->cap_v,
                        "memoryMib", in->cap_m, "gpus", in->cap_g, "at", (json_int_t)e->at_ms);
  if (e->reason) json_object_set_new(r, "reason", json_string(e->reason));
  if (in->incarnation) json_object_set_new(r, "incarnation", json_integer(in->incarnation));
  return r;
}

/* A JobWait (barge.job-waits): the job's reason as it now stands, and what the core saw. */
json_t *sched_job_wait(struct sched *s, const struct out_ev *e, const char *source) {
  struct job *j = s->jobs[e->job];
  json_t *r = json_object();
  json_object_set_new(r, "header", bus_header(source, j->id, e->at_ms));
  json_object_set_new(r, "jobId", json_string(j->id));
  if (j->parent != SCHED_NONE) json_object_set_new(r, "parentJobId", json_string(s->jobs[j->parent]->id));
  json_object_set_new(r, "jobQueue", json_string(j->queue != SCHED_NONE ? s->queues[j->queue]->name : ""));
  json_object_set_new(r, "status", json_string(job_status_name((enum job_status)j->status)));
  char code[64] = "";
  if (e->reason) {
    const char *dash = strstr(e->reason, " - ");
    size_t n = dash ? (size_t)(dash - e->reason) : strlen(e->reason);
    snprintf(code, sizeof code, "%.*s", (int)(n < sizeof code ? n : sizeof code - 1), e->reason);
  }
  json_object_set_new(r, "code", json_string(code));
  set_opt_str(r, "statusReason", e->reason);
  if (e->detail) json_object_update(r, e->detail);
  if (j->spec) {
    json_object_set_new(r, "vcpus", json_integer(j->spec->vcpus));
    json_object_set_new(r, "memoryMib", json_integer(j->spec->mem_mib));
    json_object_set_new(r, "gpus", json_integer(j->spec->gpus));
  }
  json_object_set_new(r, "at", json_integer(e->at_ms));
  return r;
}
