/* test_sched_out_bytes.c: the outputs the scheduler writes without a jansson tree
 * (sched_state_change_bytes) are byte for byte what codec_encode makes of the tree
 * (sched_state_change), for every state change of a run that sets each optional member and
 * leaves it out: array children (parentJobId), exit codes, reasons, a share identifier,
 * instances, cancellation, a job without a spec's share. A schema field the writer does not
 * follow fails here. docs/architecture.md, "Throughput". */
#include "codec.h"
#include "sched_harness.h"

static int compared, with_parent, with_exit, with_reason, with_share, with_instance;

/* Both encodings of e, event ids aside (each takes a fresh one): the id's bytes are at the same
 * place in both (the header's first field, after the framing), so they are blanked there. */
static void compare(struct h *h, const struct out_ev *e) {
  if (e->kind != OUT_STATE_CHANGE) return;
  json_t *v = sched_state_change(h->s, e, "sched/host:1");
  struct buf tree, direct;
  buf_init(&tree);
  buf_init(&direct);
  char err[512] = "";
  CHECK(codec_encode(BARGE_EV_JOB_STATE_CHANGE, v, &tree, err, sizeof err) == 0, "tree encoding: %s", err);
  sched_state_change_bytes(h->s, e, "sched/host:1", &direct);
  const size_t id_at = 10 + 1; /* single-object framing, then the id's length (36: one byte) */
  CHECK(tree.len == direct.len && tree.len > id_at + 36, "lengths %zu and %zu", tree.len, direct.len);
  if (tree.len == direct.len && tree.len > id_at + 36) {
    memset(tree.data + id_at, '-', 36);
    memset(direct.data + id_at, '-', 36);
    CHECK(memcmp(tree.data, direct.data, tree.len) == 0, "%s -> %s of %s: bytes differ",
          job_status_name((enum job_status)e->old_status), job_status_name((enum job_status)e->new_status),
          sched_job_id(h->s, e->job));
  }
  enum barge_ev_type t;
  json_t *back = NULL;
  CHECK(codec_decode(direct.data, direct.len, &t, &back, err, sizeof err) == 0 && t == BARGE_EV_JOB_STATE_CHANGE,
        "the direct bytes decode: %s", err);
  compared++;
  with_parent += json_is_string(json_object_get(v, "parentJobId"));
  with_exit += json_is_integer(json_object_get(v, "exitCode"));
  with_reason += json_is_string(json_object_get(v, "statusReason"));
  with_share += json_is_string(json_object_get(v, "shareIdentifier"));
  with_instance += json_is_string(json_object_get(v, "instanceId"));
  json_decref(back);
  json_decref(v);
  buf_release(&tree);
  buf_release(&direct);
}

int main(void) {
  char err[512];
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "codec_init: %s\n", err);
    return 1;
  }
  TEST("JobStateChange written without the tree equals codec_encode's bytes");
  struct h h;
  h_init(&h);
  h.each = compare;
  h_ce(&h, "ce", 0, 0);
  h_queue(&h, "q", 10, NULL, "ce", NULL);
  h_jd(&h, "jd", 1, 1, 64, "{\"retryStrategy\": {\"attempts\": 2}}");
  h_instance(&h, "i-1", "ce", "READY", 4, 1024);
  h_submit(&h, "arr", "q", "jd", "{\"arrayProperties\": {\"size\": 3}, \"shareIdentifier\": \"s1\"}");
  h_submit(&h, "solo", "q", "jd", NULL);
  h_submit(&h, "dep", "q", "jd", "{\"dependsOn\": [{\"jobId\": \"solo\"}]}");
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
  CHECK(compared >= 10, "only %d state changes compared", compared);
  CHECK(with_parent > 0 && with_exit > 0 && with_reason > 0 && with_share > 0 && with_instance > 0,
        "every optional member seen set: parent %d, exit %d, reason %d, share %d, instance %d", with_parent,
        with_exit, with_reason, with_share, with_instance);
  CHECK(compared > with_parent && compared > with_exit && compared > with_reason && compared > with_instance,
        "and left out: %d compared", compared);
  printf("%d state changes compared\n", compared);
  h_release(&h);
  return check_summary();
}
