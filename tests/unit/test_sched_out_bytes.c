/* test_sched_out_bytes.c: the outputs the scheduler writes without a jansson tree
 * (sched_state_change_bytes) are byte for byte what codec_encode makes of the tree
 * (sched_state_change), for every state change of a run that sets each optional member and
 * leaves it out: array children (parentJobId), exit codes, reasons, a share identifier,
 * instances, cancellation, a job without a spec's share. A schema field the writer does not
 * follow fails here. docs/architecture.md, "Throughput". */
#include "codec.h"
#include "sched_harness.h"

static int compared, with_parent, with_exit, with_reason, with_share, with_instance;

static int records, rec_with_container, rec_with_attempts, rec_parent, rec_rich, rec_cancelled;

/* The tree's bytes and the direct ones, event ids aside (each takes a fresh one): the id is the
 * header's first field, right after the single-object framing and its length byte (36), so it
 * is blanked there in both. */
static void same_bytes(struct buf *tree, struct buf *direct, enum barge_ev_type type, const char *what) {
  const size_t id_at = 10 + 1;
  CHECK(tree->len == direct->len && tree->len > id_at + 36, "%s: lengths %zu and %zu", what, tree->len, direct->len);
  if (tree->len == direct->len && tree->len > id_at + 36) {
    memset(tree->data + id_at, '-', 36);
    memset(direct->data + id_at, '-', 36);
    CHECK(memcmp(tree->data, direct->data, tree->len) == 0, "%s: bytes differ", what);
  }
  enum barge_ev_type t;
  json_t *back = NULL;
  char err[512] = "";
  CHECK(codec_decode(direct->data, direct->len, &t, &back, err, sizeof err) == 0 && t == type,
        "%s: the direct bytes decode: %s", what, err);
  json_decref(back);
}

/* The tree v (owned) encoded, against the direct bytes (released here). */
static void check(json_t *v, enum barge_ev_type type, struct buf *direct, const char *what) {
  struct buf tree;
  buf_init(&tree);
  char err[512] = "";
  CHECK(codec_encode(type, v, &tree, err, sizeof err) == 0, "%s: tree encoding: %s", what, err);
  same_bytes(&tree, direct, type, what);
  json_decref(v);
  buf_release(&tree);
  buf_release(direct);
}

static void compare_record(struct h *h, const struct out_ev *e) {
  json_t *v = sched_job_record(h->s, e->job, "sched/host:1", e->at_ms);
  json_t *d = json_object_get(v, "detail");
  records++;
  rec_with_container += json_is_object(json_object_get(d, "container"));
  rec_with_attempts += json_array_size(json_object_get(d, "attempts")) > 0;
  rec_parent += json_is_object(json_object_get(json_object_get(d, "arrayProperties"), "statusSummary"));
  rec_rich += json_is_object(json_object_get(d, "timeout")) && json_object_size(json_object_get(d, "tags")) &&
              json_object_size(json_object_get(d, "parameters")) && json_is_object(json_object_get(d, "retryStrategy")) &&
              json_is_object(json_object_get(json_object_get(d, "container"), "tags"));
  rec_cancelled += json_is_true(json_object_get(d, "isCancelled")) + 100 * json_is_string(json_object_get(v, "pendingStop"));
  rec_rich += 100 * (json_array_size(json_object_get(d, "dependsOn")) > 0);
  struct buf direct;
  buf_init(&direct);
  char err[512] = "", what[256];
  int rc = sched_job_record_bytes(h->s, e->job, "sched/host:1", e->at_ms, &direct, err, sizeof err);
  CHECK(rc == 0, "record of %s not written directly (%d): %s", sched_job_id(h->s, e->job), rc, err);
  snprintf(what, sizeof what, "JobRecord of %s (%s)", sched_job_id(h->s, e->job),
           json_string_value(json_object_get(d, "status")));
  check(v, BARGE_EV_JOB_RECORD, &direct, what);
}

static int placements, placements_env;

static void compare_placement(struct h *h, const struct out_ev *e) {
  json_t *v = sched_agent_command(h->s, e, "sched/host:1");
  placements++;
  placements_env += json_array_size(json_object_get(json_object_get(json_object_get(v, "body"), "Placement"), "environment")) > 5;
  struct buf direct;
  buf_init(&direct);
  char what[256];
  CHECK(sched_placement_bytes(h->s, e, "sched/host:1", &direct) == 0, "placement of %s not written directly",
        sched_job_id(h->s, e->job));
  snprintf(what, sizeof what, "placement of %s, attempt %d", sched_job_id(h->s, e->job), e->attempt);
  check(v, BARGE_EV_AGENT_COMMAND, &direct, what);
}

static void compare(struct h *h, const struct out_ev *e) {
  if (e->kind == OUT_JOB_RECORD) compare_record(h, e);
  if (e->kind == OUT_PLACEMENT) compare_placement(h, e);
  if (e->kind != OUT_STATE_CHANGE) return;
  json_t *v = sched_state_change(h->s, e, "sched/host:1");
  compared++;
  with_parent += json_is_string(json_object_get(v, "parentJobId"));
  with_exit += json_is_integer(json_object_get(v, "exitCode"));
  with_reason += json_is_string(json_object_get(v, "statusReason"));
  with_share += json_is_string(json_object_get(v, "shareIdentifier"));
  with_instance += json_is_string(json_object_get(v, "instanceId"));
  struct buf direct;
  buf_init(&direct);
  char what[256];
  sched_state_change_bytes(h->s, e, "sched/host:1", &direct);
  snprintf(what, sizeof what, "%s -> %s of %s", job_status_name((enum job_status)e->old_status),
           job_status_name((enum job_status)e->new_status), sched_job_id(h->s, e->job));
  check(v, BARGE_EV_JOB_STATE_CHANGE, &direct, what);
}

int main(void) {
  char err[512];
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "codec_init: %s\n", err);
    return 1;
  }
  TEST("JobStateChange, JobRecord and placements written without the tree equal codec_encode's bytes");
  struct h h;
  h_init(&h);
  h.each = compare;
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "q", 10, NULL, "ce", NULL);
  /* jobs with a shareIdentifier go to a fair-share queue (a FIFO queue refuses them) */
  h_feed(&h, BARGE_EV_CONFIG_RECORD,
         h_config(&h, "SchedulingPolicy",
                  json_pack("{s:s, s:s, s:{s:i}}", "name", "fs", "arn", ARN "scheduling-policy/fs", "fairsharePolicy",
                            "shareDecaySeconds", 0)));
  h_queue(&h, "fq", 10, "{\"schedulingPolicyArn\": \"" ARN "scheduling-policy/fs\"}", "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, "{\"retryStrategy\": {\"attempts\": 2}}");
  h_jd(&h, "jde", 1, 1, 64,
       "{\"containerProperties\": {\"image\": \"busybox\", \"command\": [\"sh\", \"-c\", \"echo $A\"],"
       " \"environment\": [{\"name\": \"A\", \"value\": \"1\"}, {\"name\": \"B\"}],"
       " \"resourceRequirements\": [{\"type\": \"VCPU\", \"value\": \"1\"}, {\"type\": \"MEMORY\", \"value\": \"64\"}]}}");
  h_instance(&h, "i-1", "ce", "READY", 4, 1024);
  h_submit(&h, "arr", "fq", "jd", "{\"arrayProperties\": {\"size\": 3}, \"shareIdentifier\": \"s1\"}");
  h_submit(&h, "solo", "q", "jd", NULL);
  h_submit(&h, "envy", "q", "jde", NULL);
  h_submit(&h, "dep", "q", "jd", "{\"dependsOn\": [{\"jobId\": \"solo\"}]}");
  h_submit(&h, "rich", "fq", "jd",
           "{\"timeout\": {\"attemptDurationSeconds\": 60}, \"tags\": {\"team\": \"a\"}, \"propagateTags\": true,"
           " \"parameters\": {\"p\": \"v\"}, \"schedulingPriorityOverride\": 5, \"shareIdentifier\": \"s2\"}");
  h.t += 1000;
  h_tick(&h);
  h_exec(&h, "arr:0", 1, "i-1", "STARTED", -9999, NULL);
  h_exec(&h, "arr:0", 1, "i-1", "EXITED", 0, NULL);
  h_exec(&h, "arr:1", 1, "i-1", "EXITED", 1, "Essential container exited");  /* retried */
  h_exec(&h, "solo", 1, "i-1", "EXITED", 3, "boom \"quoted\"\n");
  h.t += 1000;
  h_tick(&h);
  h_exec(&h, "solo", 2, "i-1", "EXITED", 3, NULL); /* out of attempts: dep fails */
  h_stop(&h, "CancelJob", "arr:2", "not needed");
  h_stop(&h, "TerminateJob", "arr:1", "enough");
  h.t += 60000;
  h_tick(&h);
  h_submit(&h, "waiter", "q", "jd", "{\"dependsOn\": [{\"jobId\": \"rich\"}]}");
  h_stop(&h, "CancelJob", "waiter", "changed my mind"); /* PENDING: a pending stop */
  h_ce(&h, "empty", 0, 0);
  h_queue(&h, "q2", 5, NULL, "empty", NULL);
  h_submit(&h, "stuck", "q2", "jd", NULL);
  h_stop(&h, "CancelJob", "stuck", "no capacity there"); /* RUNNABLE: cancelled at once */
  h_exec(&h, "rich", 1, "i-1", "STARTED", -9999, NULL);
  h.t += 61000;
  h_tick(&h); /* rich times out */
  CHECK(compared >= 10, "only %d state changes compared", compared);
  CHECK(rec_rich % 100 > 0 && rec_rich >= 100, "records with a timeout, tags, parameters, retry strategy (%d) and dependencies (%d)",
        rec_rich % 100, rec_rich / 100);
  CHECK(rec_cancelled % 100 > 0 && rec_cancelled >= 100, "records of a cancelled job (%d), with a pending stop (%d)",
        rec_cancelled % 100, rec_cancelled / 100);
  CHECK(records >= 10 && rec_with_container > 0 && rec_with_attempts > 0 && rec_parent > 0,
        "records compared: %d, with a container %d, with attempts %d, of the array parent %d", records,
        rec_with_container, rec_with_attempts, rec_parent);
  CHECK(with_parent > 0 && with_exit > 0 && with_reason > 0 && with_share > 0 && with_instance > 0,
        "every optional member seen set: parent %d, exit %d, reason %d, share %d, instance %d", with_parent,
        with_exit, with_reason, with_share, with_instance);
  CHECK(compared > with_parent && compared > with_exit && compared > with_reason && compared > with_instance,
        "and left out: %d compared", compared);
  CHECK(placements >= 5 && placements_env > 0, "only %d placements compared, %d with a container environment", placements,
        placements_env);
  printf("%d state changes, %d job records and %d placements compared\n", compared, records, placements);
  h_release(&h);
  return check_summary();
}
