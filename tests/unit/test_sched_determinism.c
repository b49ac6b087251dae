/* test_sched_determinism.c: docs/architecture.md "Time and determinism". A recorded input log (thousands of events,
 * mixed features: arrays, dependencies, retries, timeouts, cancel/terminate, lost instances,
 * fair share, priorities) replayed through a fresh core twice gives byte-identical outputs;
 * and rebuilding a core from the job records it wrote (sched_restore_*) gives back the same
 * jobs. The log is written in the format of `barge scheduler --record` and read back. */
#include <unistd.h>

#include "codec.h"
#include "sched_harness.h"
#include "sched_int.h"
#include "sched_shell.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

static FILE *logf_;
/* Records an event and feeds it to h (keeps h's view of which jobs run where current). */
static void rec(struct h *h, enum barge_ev_type t, json_t *ev) {
  char *text = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
  fprintf(logf_, "{\"type\":\"%s\",\"event\":%s}\n", codec_type_name(t), text);
  free(text);
  h_feed(h, t, ev);
}

static json_t *cfg(struct h *h, const char *kind, const char *body) {
  json_t *b = json_loads(body, 0, NULL);
  if (!b) fprintf(stderr, "bad json %s\n", body);
  return h_config(h, kind, b);
}

/* Writes the log while driving a core, so the events are those a live system would see. */
static void record_log(const char *path) {
  logf_ = fopen(path, "w");
  struct h h;
  h_init(&h);
  rec(&h, BARGE_EV_CONFIG_RECORD, cfg(&h, "ComputeEnvironment", "{\"computeEnvironmentName\": \"ce\", \"computeEnvironmentArn\": \"" ARN "compute-environment/ce\", \"type\": \"UNMANAGED\"}"));
  rec(&h, BARGE_EV_CONFIG_RECORD, cfg(&h, "ComputeEnvironment", "{\"computeEnvironmentName\": \"ce2\", \"computeEnvironmentArn\": \"" ARN "compute-environment/ce2\", \"type\": \"UNMANAGED\"}"));
  rec(&h, BARGE_EV_CONFIG_RECORD, cfg(&h, "SchedulingPolicy", "{\"name\": \"fs\", \"arn\": \"" ARN "scheduling-policy/fs\", \"fairsharePolicy\": {\"shareDecaySeconds\": 60, \"computeReservation\": 10, \"shareDistribution\": [{\"shareIdentifier\": \"a*\", \"weightFactor\": 0.5}]}}"));
  rec(&h, BARGE_EV_CONFIG_RECORD, cfg(&h, "JobQueue", "{\"jobQueueName\": \"hi\", \"jobQueueArn\": \"" ARN "job-queue/hi\", \"priority\": 100, \"computeEnvironmentOrder\": [{\"order\": 1, \"computeEnvironment\": \"" ARN "compute-environment/ce\"}]}"));
  rec(&h, BARGE_EV_CONFIG_RECORD, cfg(&h, "JobQueue", "{\"jobQueueName\": \"lo\", \"jobQueueArn\": \"" ARN "job-queue/lo\", \"priority\": 1, \"computeEnvironmentOrder\": [{\"order\": 1, \"computeEnvironment\": \"" ARN "compute-environment/ce\"}, {\"order\": 2, \"computeEnvironment\": \"" ARN "compute-environment/ce2\"}]}"));
  rec(&h, BARGE_EV_CONFIG_RECORD, cfg(&h, "JobQueue", "{\"jobQueueName\": \"fair\", \"jobQueueArn\": \"" ARN "job-queue/fair\", \"priority\": 50, \"schedulingPolicyArn\": \"" ARN "scheduling-policy/fs\", \"computeEnvironmentOrder\": [{\"order\": 1, \"computeEnvironment\": \"" ARN "compute-environment/ce2\"}]}"));
  rec(&h, BARGE_EV_CONFIG_RECORD, cfg(&h, "JobDefinition", "{\"jobDefinitionName\": \"jd\", \"jobDefinitionArn\": \"" ARN "job-definition/jd:1\", \"revision\": 1, \"containerProperties\": {\"command\": [\"run\", \"Ref::x\"], \"resourceRequirements\": [{\"type\": \"VCPU\", \"value\": \"1\"}, {\"type\": \"MEMORY\", \"value\": \"256\"}]}, \"retryStrategy\": {\"attempts\": 3, \"evaluateOnExit\": [{\"onExitCode\": \"9\", \"action\": \"EXIT\"}]}}"));
  rec(&h, BARGE_EV_CONFIG_RECORD, cfg(&h, "JobDefinition", "{\"jobDefinitionName\": \"wide\", \"jobDefinitionArn\": \"" ARN "job-definition/wide:1\", \"revision\": 1, \"containerProperties\": {\"command\": [\"wide\"], \"resourceRequirements\": [{\"type\": \"VCPU\", \"value\": \"3\"}, {\"type\": \"MEMORY\", \"value\": \"1024\"}]}, \"timeout\": {\"attemptDurationSeconds\": 120}}"));
  const char *ces[] = {"ce", "ce2"};
  int ninst = 0;
  char jobs[4000][48];
  int njobs = 0;
  for (int step = 0; step < 5000; step++) {
    h.t += rnd(400);
    uint32_t r = rnd(100);
    if (r < 4 || ninst < 3) { /* an instance arrives */
      char id[32];
      snprintf(id, sizeof id, "i-%05d", ninst++);
      rec(&h, BARGE_EV_INSTANCE_EVENT, json_pack("{s:o, s:s, s:s, s:s, s:i, s:i, s:i, s:I}", "header", h_header(h.t), "instanceId", id, "computeEnvironment", ces[rnd(2)], "kind", "READY", "vcpus", 2 + (int)rnd(6), "memoryMib", 4096, "gpus", 0, "at", (json_int_t)h.t));
    } else if (r < 30 && njobs < 3900) { /* a submission */
      const char *queues[] = {"hi", "lo", "fair"};
      const char *q = queues[rnd(3)];
      char id[48], extra[512];
      snprintf(id, sizeof id, "job-%05d", njobs);
      uint32_t kind = rnd(10);
      if (kind == 0) snprintf(extra, sizeof extra, "{\"arrayProperties\": {\"size\": %u}%s}", 2 + rnd(20), rnd(2) ? ", \"dependsOn\": [{\"type\": \"SEQUENTIAL\"}]" : "");
      else if (kind < 3 && njobs > 0) snprintf(extra, sizeof extra, "{\"dependsOn\": [{\"jobId\": \"job-%05u\"}]}", rnd((uint32_t)njobs));
      else snprintf(extra, sizeof extra, "{\"parameters\": {\"x\": \"%u\"}}", rnd(1000));
      json_t *b = json_pack("{s:s, s:s, s:s, s:s}", "jobId", id, "jobName", "j", "jobQueue", q, "jobDefinition", rnd(8) ? "jd" : "wide");
      json_t *x = json_loads(extra, 0, NULL);
      json_object_update(b, x);
      json_decref(x);
      /* share identifiers come and go (a new pair every 100 submissions), so that shares are
       * reclaimed and their slots reused along the way (docs/job-model.md §3.4 rule 4) */
      char sid[32];
      if (!strcmp(q, "fair")) {
        snprintf(sid, sizeof sid, "%s-%d", rnd(2) ? "alpha" : "beta", njobs / 100);
        json_object_set_new(b, "shareIdentifier", json_string(sid));
      }
      rec(&h, BARGE_EV_JOB_REQUEST, json_pack("{s:o, s:s, s:{s:o}}", "header", h_header(h.t), "principal", "t", "body", "SubmitJob", b));
      snprintf(jobs[njobs++], 48, "%s", id);
    } else if (r < 33 && njobs > 0) { /* cancel or terminate */
      rec(&h, BARGE_EV_JOB_REQUEST, json_pack("{s:o, s:s, s:{s:{s:s, s:s}}}", "header", h_header(h.t), "principal", "t", "body", rnd(2) ? "CancelJob" : "TerminateJob", "jobId", jobs[rnd((uint32_t)njobs)], "reason", "random"));
    } else if (r < 35 && ninst > 0) { /* an instance goes away */
      char id[32];
      snprintf(id, sizeof id, "i-%05u", rnd((uint32_t)ninst));
      rec(&h, BARGE_EV_INSTANCE_EVENT, json_pack("{s:o, s:s, s:s, s:s, s:I}", "header", h_header(h.t), "instanceId", id, "computeEnvironment", "ce", "kind", rnd(2) ? "TERMINATED" : "DRAIN_REQUESTED", "at", (json_int_t)h.t));
    } else if (r < 45) {
      rec(&h, BARGE_EV_JOB_REQUEST, json_pack("{s:o, s:s, s:{s:{s:I}}}", "header", h_header(h.t), "principal", "t", "body", "Tick", "seq", (json_int_t)step));
    } else { /* progress a running job: start it, or end it with some exit code */
      for (int tries = 0; tries < 20; tries++) {
        uint32_t k = (uint32_t)sched_job_count(h.s);
        if (!k) break;
        uint32_t ji = rnd(k);
        enum job_status st = sched_job_status(h.s, ji);
        if (st != JOB_STARTING && st != JOB_RUNNING) continue;
        const char *id = sched_job_id(h.s, ji);
        json_t *d = sched_job_detail(h.s, ji);
        const char *arn = json_string_value(json_object_get(json_object_get(d, "container"), "containerInstanceArn"));
        char inst[64];
        snprintf(inst, sizeof inst, "%s", arn ? strrchr(arn, '/') + 1 : "");
        int attempt = (int)json_array_size(json_object_get(d, "attempts")) + 1;
        json_decref(d);
        const char *kinds[] = {"EXITED", "EXITED", "EXITED", "TIMED_OUT", "FAILED_TO_START"};
        const char *kind = st == JOB_STARTING && rnd(4) ? "STARTED" : kinds[rnd(5)];
        json_t *ev = json_pack("{s:o, s:s, s:i, s:s, s:s, s:I}", "header", h_header(h.t), "jobId", id, "attempt", attempt, "instanceId", inst, "kind", kind, "at", (json_int_t)h.t);
        if (!strcmp(kind, "EXITED")) json_object_set_new(ev, "exitCode", json_integer(rnd(3) ? 0 : (int)rnd(10)));
        if (!strcmp(kind, "FAILED_TO_START")) json_object_set_new(ev, "reason", json_string("CannotStartContainerError: x"));
        rec(&h, BARGE_EV_EXECUTION_REPORT, ev);
        break;
      }
    }
  }
  fclose(logf_);
  printf("   recorded %d jobs submitted, %d instances\n", njobs, ninst);
  h_release(&h);
}

/* Replays a log into a fresh core; returns the serialised outputs as one string. */
static char *replay(const char *path, size_t *nevents, struct h *keep) {
  struct h h;
  h_init(&h);
  h.log = json_array();
  FILE *f = fopen(path, "r");
  char *line = NULL;
  size_t cap = 0;
  *nevents = 0;
  while (getline(&line, &cap, f) > 0) {
    json_t *rec = json_loads(line, 0, NULL);
    int t = codec_type_by_name(json_string_value(json_object_get(rec, "type")));
    h_feed(&h, (enum barge_ev_type)t, json_incref(json_object_get(rec, "event")));
    json_decref(rec);
    (*nevents)++;
  }
  free(line);
  fclose(f);
  char *out = json_dumps(h.log, JSON_COMPACT);
  if (keep) *keep = h;
  else h_release(&h);
  return out;
}

int main(void) {
  char err[256];
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  char path[] = "/tmp/barge-sched-log-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  TEST("recording an input log of thousands of mixed events");
  record_log(path);

  TEST("replaying the log twice through fresh cores gives byte-identical outputs");
  size_t n1, n2;
  struct h kept;
  char *a = replay(path, &n1, &kept);
  char *b = replay(path, &n2, NULL);
  printf("   %zu input events, %zu bytes of output\n", n1, strlen(a));
  CHECK(n1 >= 3000, "only %zu events", n1);
  CHECK(strlen(a) > 100000, "suspiciously little output: %zu bytes", strlen(a));
  CHECK(strcmp(a, b) == 0, "outputs differ");
  int states[JOB__COUNT] = {0};
  for (size_t j = 0; j < sched_job_count(kept.s); j++) states[sched_job_status(kept.s, (uint32_t)j)]++;
  printf("   final states:");
  for (int st = 0; st < JOB__COUNT; st++) printf(" %s=%d", job_status_name((enum job_status)st), states[st]);
  printf("\n");
  CHECK(states[JOB_SUCCEEDED] > 100 && states[JOB_FAILED] > 20 && states[JOB_RUNNABLE] + states[JOB_PENDING] + states[JOB_STARTING] + states[JOB_RUNNING] > 0,
        "the log should exercise every outcome");

  TEST("each compute environment's books, kept event by event, equal a rebuild from its instances");
  for (size_t ci = 0; ci < kept.s->nces; ci++) { /* docs/architecture.md, "The scheduler" */
    struct ce *c = kept.s->ces[ci];
    int free_v = c->free_v;
    size_t live = c->live, navail = c->navail;
    int64_t live_v = c->live_v;
    int changed = sched_recompute_ce(kept.s, c);
    CHECK(!changed && free_v == c->free_v && live == c->live && live_v == c->live_v && navail == c->navail,
          "CE %s: kept free %d, live %zu (%lld vCPUs), %zu candidates; rebuilt %d, %zu (%lld), %zu%s", c->name, free_v,
          live, (long long)live_v, navail, c->free_v, c->live, (long long)c->live_v, c->navail,
          changed ? ", and another largest instance" : "");
  }

  /* twice: the records as JSON (sched_restore_job), then as the bytes the shell reads, where a
   * queued array child takes the fast path (sched_restore_bytes, docs/architecture.md,
   * "Scheduler restart") and every other record is restored whole */
  for (int via_bytes = 0; via_bytes < 2; via_bytes++) {
    TEST(via_bytes ? "... and the same when rebuilt from the encoded records, queued children read by projection"
                   : "a core rebuilt from the job records it wrote holds the same jobs (restart)");
    struct codec_pick *pick = sched_restore_pick(err, sizeof err);
    CHECK(pick != NULL, "%s", err);
    size_t nlite = 0;
    struct sched_conf c;
    sched_conf_defaults(&c);
    struct sched *r = sched_new(&c);
    struct outbox o;
    sched_outbox_init(&o);
    /* config first, as the shell does: re-feed the config events of the log */
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
      json_t *rec = json_loads(line, 0, NULL);
      if (!strcmp(json_string_value(json_object_get(rec, "type")), "barge.ConfigRecord"))
        CHECK(sched_handle(r, BARGE_EV_CONFIG_RECORD, json_object_get(rec, "event"), &o, err, sizeof err) == 0, "%s", err);
      json_decref(rec);
      sched_outbox_reset(&o);
    }
    free(line);
    fclose(f);
    /* instances: their latest state */
    for (size_t j = 0; j < sched_job_count(kept.s); j++) {
      json_t *jr = sched_job_record(kept.s, (uint32_t)j, "test", 0);
      json_t *inst = json_object_get(jr, "instanceId");
      if (inst) {
        json_t *ie = json_pack("{s:o, s:O, s:s, s:s, s:i, s:i, s:I}", "header", h_header(sched_now(kept.s)), "instanceId", inst,
                               "computeEnvironment", json_string_value(json_object_get(jr, "computeEnvironment")), "kind", "READY",
                               "vcpus", 64, "memoryMib", 65536, "at", (json_int_t)sched_now(kept.s));
        sched_restore_instance(r, ie);
        json_decref(ie);
      }
      json_decref(jr);
    }
    for (size_t j = 0; j < sched_job_count(kept.s); j++) {
      json_t *jr = sched_job_record(kept.s, (uint32_t)j, "test", 0);
      struct buf enc;
      buf_init(&enc);
      CHECK(!via_bytes || codec_encode(BARGE_EV_JOB_RECORD, jr, &enc, err, sizeof err) == 0, "%s", err);
      if (via_bytes && sched_restore_bytes(r, pick, enc.data, enc.len) == 0) nlite++;
      else CHECK(sched_restore_job(r, jr, err, sizeof err) == 0, "%s", err);
      buf_release(&enc);
      json_decref(jr);
    }
    printf("   %zu of %zu records read by projection\n", nlite, sched_job_count(kept.s));
    CHECK(!via_bytes || nlite > 10, "the fast path took only %zu records", nlite);
    codec_pick_free(pick);
    sched_restore_done(r);
    CHECK_INT(sched_job_count(r), sched_job_count(kept.s));
    int diffs = 0;
    for (size_t j = 0; j < sched_job_count(kept.s); j++) {
      const char *id = sched_job_id(kept.s, (uint32_t)j);
      uint32_t rj = sched_find_job(r, id);
      if (rj == SCHED_NONE) { diffs++; continue; }
      json_t *x = sched_job_detail(kept.s, (uint32_t)j), *y = sched_job_detail(r, rj);
      /* the live attempt's instance capacity is synthetic here; everything else must match */
      if (!json_equal(x, y)) {
        if (diffs < 3) {
          char *sx = json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS), *sy = json_dumps(y, JSON_COMPACT | JSON_SORT_KEYS);
          fprintf(stderr, "job %s differs:\n  %s\n  %s\n", id, sx, sy);
          free(sx);
          free(sy);
        }
        diffs++;
      }
      json_decref(x);
      json_decref(y);
    }
    CHECK(diffs == 0, "%d jobs differ after the rebuild", diffs);
    sched_outbox_release(&o);
    sched_free(r);
  }
  h_release(&kept);
  free(a);
  free(b);
  unlink(path);
  return check_summary();
}
