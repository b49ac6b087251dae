/* bench_audit.c: what the audit consumer (consumers/audit/) spends per record, the JSON text of
 * the event taken straight from its Avro bytes (codec_render_json) against the path it replaced
 * (codec_decode's jansson tree, null members dropped, dumped compact), in the same run.
 *
 * The records are five events captured from a run of bench/throughput.sh (3,000 tasks), one per
 * topic a task writes to, in the proportions a task writes them (barge.jobs 4, job-events 4,
 * executions 2, placements 1, usage ~1). Both paths are checked to give the same text first.
 * Prints the CPU time per record (this thread's, so other load on the machine counts little) of
 *   decode   bytes -> event JSON text;
 *   line     bytes -> a whole chained, HMAC'd line in the writer's buffer (audit_append; the
 *            file is written and fsync'd once at the end, outside the timing),
 * for the tree and the text, and their ratio; the best of --rounds alternating rounds.
 *
 *   build/bench/bench_audit [RECORDS per round, default 200000] [ROUNDS, default 3] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "bench_args.h"
#include "bus.h"
#include "codec.h"

static const struct sample {
  enum bus_topic topic;
  int weight;
  const char *json;
} samples[] = {
    {TOPIC_JOBS, 4,
     "{\"header\":{\"event_id\":\"ba2e65af-1b8d-4846-9c3a-435a68e95539\",\"event_time\":17964024"
     "40080,\"source\":\"scheduler/vm:3433\",\"request_id\":\"1d7a0224-0c2b-4e3b-b0d1-e7db3d2559"
     "99:1507\"},\"seq\":0,\"detail\":{\"jobArn\":\"arn:aws:batch:us-east-1:000000000000:job/1d7"
     "a0224-0c2b-4e3b-b0d1-e7db3d255999:1507\",\"jobName\":\"bench-array-3000\",\"jobId\":\"1d7a"
     "0224-0c2b-4e3b-b0d1-e7db3d255999:1507\",\"jobQueue\":\"arn:aws:batch:us-east-1:00000000000"
     "0:job-queue/bench\",\"status\":\"RUNNING\",\"attempts\":[],\"createdAt\":1796402430744,\"s"
     "tartedAt\":1796402440080,\"dependsOn\":[],\"jobDefinition\":\"arn:aws:batch:us-east-1:0000"
     "00000000:job-definition/true:1\",\"parameters\":{},\"container\":{\"image\":\"none\",\"com"
     "mand\":[\"true\"],\"environment\":[],\"resourceRequirements\":[{\"type\":\"VCPU\",\"value\""
     ":\"1\"},{\"type\":\"MEMORY\",\"value\":\"64\"}],\"containerInstanceArn\":\"arn:aws:ecs:us-"
     "east-1:000000000000:container-instance/local/i-8dd18c5d8d25b096f\",\"taskArn\":\"arn:aws:e"
     "cs:us-east-1:000000000000:task/local/69b91843-73e7-4521-8c29-77f4213b8203\",\"logStreamNam"
     "e\":\"true/default/69b91843-73e7-4521-8c29-77f4213b8203\",\"storedJson\":\"{}\"},\"arrayPr"
     "operties\":{\"index\":1507},\"tags\":{},\"propagateTags\":false,\"platformCapabilities\":["
     "\"EC2\"],\"isCancelled\":false,\"isTerminated\":false},\"attempt\":1,\"instanceId\":\"i-8d"
     "d18c5d8d25b096f\",\"computeEnvironment\":\"local\",\"logPath\":\"/var/lib/barge/logs/1d7a0"
     "224-0c2b-4e3b-b0d1-e7db3d255999:1507/1.log\",\"queueSeq\":2,\"parentJobId\":\"1d7a0224-0c2"
     "b-4e3b-b0d1-e7db3d255999\",\"dependencyIds\":[],\"incarnation\":1796402424460}"},
    {TOPIC_JOB_EVENTS, 4,
     "{\"header\":{\"event_id\":\"22834e52-7baf-4618-b463-1351d64e1233\",\"event_time\":17964024"
     "40080,\"source\":\"scheduler/vm:3433\",\"request_id\":\"1d7a0224-0c2b-4e3b-b0d1-e7db3d2559"
     "99:1507\"},\"jobId\":\"1d7a0224-0c2b-4e3b-b0d1-e7db3d255999:1507\",\"jobName\":\"bench-arr"
     "ay-3000\",\"jobQueue\":\"bench\",\"parentJobId\":\"1d7a0224-0c2b-4e3b-b0d1-e7db3d255999\","
     "\"attempt\":1,\"oldStatus\":\"STARTING\",\"newStatus\":\"RUNNING\",\"instanceId\":\"i-8dd1"
     "8c5d8d25b096f\",\"computeEnvironment\":\"local\",\"vcpus\":1,\"memoryMib\":64,\"gpus\":0,\""
     "at\":1796402440080}"},
    {TOPIC_EXECUTIONS, 2,
     "{\"header\":{\"event_id\":\"4216dee1-6cbb-42d7-b895-9dbe41349b6a\",\"event_time\":17964024"
     "40079,\"source\":\"agent/i-8dd18c5d8d25b096f/vm:3435\",\"request_id\":\"1d7a0224-0c2b-4e3b"
     "-b0d1-e7db3d255999:1506\"},\"jobId\":\"1d7a0224-0c2b-4e3b-b0d1-e7db3d255999:1506\",\"attem"
     "pt\":1,\"instanceId\":\"i-8dd18c5d8d25b096f\",\"kind\":\"STARTED\",\"logPath\":\"/var/lib/"
     "barge/logs/1d7a0224-0c2b-4e3b-b0d1-e7db3d255999:1506/1.log\",\"incarnation\":1796402424460"
     ",\"at\":1796402440079}"},
    {TOPIC_PLACEMENTS, 1,
     "{\"header\":{\"event_id\":\"996410d6-ec8f-477b-9a66-00822674da58\",\"event_time\":17964024"
     "39656,\"source\":\"scheduler/vm:3433\",\"request_id\":\"1d7a0224-0c2b-4e3b-b0d1-e7db3d2559"
     "99:1506\"},\"instanceId\":\"i-8dd18c5d8d25b096f\",\"body\":{\"Placement\":{\"jobId\":\"1d7"
     "a0224-0c2b-4e3b-b0d1-e7db3d255999:1506\",\"attempt\":1,\"jobName\":\"bench-array-3000\",\""
     "command\":[\"true\"],\"environment\":[{\"name\":\"AWS_BATCH_JOB_ID\",\"value\":\"1d7a0224-"
     "0c2b-4e3b-b0d1-e7db3d255999:1506\"},{\"name\":\"AWS_BATCH_JOB_ATTEMPT\",\"value\":\"1\"},{"
     "\"name\":\"AWS_BATCH_JOB_ARRAY_INDEX\",\"value\":\"1506\"},{\"name\":\"AWS_BATCH_JQ_NAME\""
     ",\"value\":\"bench\"},{\"name\":\"AWS_BATCH_CE_NAME\",\"value\":\"local\"}],\"vcpus\":1,\""
     "memoryMib\":64,\"gpus\":0,\"timeoutSeconds\":0,\"logStreamName\":\"true/default/9ebc1843-7"
     "3e8-4521-8137-77f421388203\",\"taskId\":\"9ebc1843-73e8-4521-8137-77f421388203\",\"incarna"
     "tion\":1796402424460,\"image\":\"none\",\"containerJson\":\"{}\"}}}"},
    {TOPIC_USAGE, 1,
     "{\"header\":{\"event_id\":\"b083069b-c932-4890-b5ae-02f8b2c93586\",\"event_time\":17964024"
     "32903,\"source\":\"accounting/vm:3439\",\"request_id\":\"\"},\"key\":\"1d7a0224-0c2b-4e3b-"
     "b0d1-e7db3d255999:115\",\"kind\":\"JOB\",\"jobQueue\":\"bench\",\"computeEnvironment\":\"l"
     "ocal\",\"vcpuSeconds\":0.92,\"memoryGibSeconds\":0.0575,\"gpuSeconds\":0.0,\"instanceSecon"
     "ds\":0.0575,\"cost\":0.0,\"from\":1796402431983,\"until\":1796402432903}"},
};
#define NSAMPLES (sizeof samples / sizeof *samples)

struct rec {
  enum bus_topic topic;
  struct buf bytes;
};

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The event's text through the tree, as the audit consumer made it before. */
static int tree_text(const struct rec *r, struct buf *out) {
  struct bus_msg m = {.topic = r->topic, .value = r->bytes.data, .len = r->bytes.len};
  enum barge_ev_type t;
  json_t *ev = NULL;
  char err[256];
  if (bus_decode(&m, &t, &ev, err, sizeof err)) return -1;
  char *s = json_dumps(ev, JSON_COMPACT);
  buf_append(out, s, strlen(s));
  free(s);
  json_decref(ev);
  return 0;
}

static int direct_text(const struct rec *r, struct buf *out) {
  enum barge_ev_type t;
  return codec_render_json(r->bytes.data, r->bytes.len, &t, out) ? -1 : 0;
}

/* One line per record into a writer; tree: the event as a jansson tree, else as text. */
static double line_round(const struct rec *recs, size_t nrec, size_t n, int tree, const char *path,
                         const unsigned char *key, size_t keylen) {
  struct audit_writer *w = NULL;
  char err[512];
  unlink(path);
  if (audit_open(&w, path, key, keylen, 0, err, sizeof err)) {
    fprintf(stderr, "bench_audit: %s\n", err);
    exit(1);
  }
  struct buf text;
  buf_init(&text);
  double t0 = cpu_s();
  for (size_t i = 0; i < n; i++) {
    const struct rec *r = &recs[i % nrec];
    struct audit_rec a = {.topic = "barge.jobs", .partition = 0, .offset = (int64_t)i, .key = "k",
                          .keylen = 1, .timestamp_ms = 1700000000000LL, .type = "barge.JobRecord"};
    json_t *ev = NULL;
    buf_reset(&text);
    if (tree) {
      struct bus_msg m = {.topic = r->topic, .value = r->bytes.data, .len = r->bytes.len};
      enum barge_ev_type t;
      if (bus_decode(&m, &t, &ev, err, sizeof err) == 0) a.event = ev;
    } else if (direct_text(r, &text) == 0) {
      a.event_json = (const char *)text.data;
      a.event_json_len = text.len;
    }
    if (audit_append(w, &a) != 0) exit(1);
    json_decref(ev);
    if (audit_pending(w) >= 1000) { /* the writer's buffer grows no further than a batch */
      double t1 = cpu_s();
      if (audit_flush(w, err, sizeof err)) exit(1);
      t0 += cpu_s() - t1; /* the write and fsync are not what is compared */
    }
  }
  double dt = cpu_s() - t0;
  buf_release(&text);
  audit_close(w);
  unlink(path);
  char seal[600];
  snprintf(seal, sizeof seal, "%s.seal", path);
  unlink(seal);
  return dt;
}

static double text_round(const struct rec *recs, size_t nrec, size_t n,
                         int (*fn)(const struct rec *, struct buf *)) {
  struct buf out;
  buf_init(&out);
  double t0 = cpu_s();
  for (size_t i = 0; i < n; i++) {
    buf_reset(&out);
    if (fn(&recs[i % nrec], &out)) exit(1);
  }
  double dt = cpu_s() - t0;
  buf_release(&out);
  return dt;
}

int main(int argc, char **argv) {
  static const char usage[] = "bench_audit [records per round (200000)] [rounds (3)]";
  long nrecords = 200000, nrounds = 3;
  if (argc > 3) return bench_unknown("bench_audit", usage, argv[3]);
  if ((argc > 1 && bench_number("bench_audit", usage, "records per round", argv[1], 1, &nrecords)) ||
      (argc > 2 && bench_number("bench_audit", usage, "rounds", argv[2], 1, &nrounds)))
    return 2;
  size_t n = (size_t)nrecords;
  int rounds = (int)nrounds;
  char err[512];
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "bench_audit: %s\n", err);
    return 1;
  }
  /* the samples' Avro bytes: each recs[i] < nrec holds a buffer, released at out */
  struct rec recs[64];
  size_t nrec = 0, bytes = 0;
  int rc = 1;
  char path[] = "/tmp/bench-audit-XXXXXX";
  static const unsigned char key[] = "0123456789abcdef0123456789abcdef";
  double best[4] = {1e9, 1e9, 1e9, 1e9};
  for (size_t s = 0; s < NSAMPLES; s++) {
    json_t *v = json_loads(samples[s].json, 0, NULL);
    for (int k = 0; k < samples[s].weight; k++) {
      struct rec *r = &recs[nrec++];
      r->topic = samples[s].topic;
      buf_init(&r->bytes);
      if (!v || codec_encode(bus_topic_type(r->topic), v, &r->bytes, err, sizeof err)) {
        fprintf(stderr, "bench_audit: sample %zu: %s\n", s, v ? err : "not JSON");
        json_decref(v);
        goto out;
      }
      bytes += r->bytes.len;
    }
    json_decref(v);
  }
  for (size_t i = 0; i < nrec; i++) { /* both paths give the same text */
    struct buf a, b;
    buf_init(&a);
    buf_init(&b);
    int same = !tree_text(&recs[i], &a) && !direct_text(&recs[i], &b) && a.len == b.len && !memcmp(a.data, b.data, a.len);
    buf_release(&a);
    buf_release(&b);
    if (!same) {
      fprintf(stderr, "bench_audit: record %zu: the two paths differ\n", i);
      goto out;
    }
  }
  int fd = mkstemp(path);
  if (fd < 0) {
    fprintf(stderr, "bench_audit: a temporary file %s: %s\n", path, strerror(errno));
    goto out;
  }
  close(fd);
  for (int r = 0; r < rounds; r++) {
    double d[4] = {text_round(recs, nrec, n, tree_text), text_round(recs, nrec, n, direct_text),
                   line_round(recs, nrec, n, 1, path, key, sizeof key - 1),
                   line_round(recs, nrec, n, 0, path, key, sizeof key - 1)};
    for (int k = 0; k < 4; k++)
      if (d[k] < best[k]) best[k] = d[k];
  }
  printf("bench_audit: %zu records per round (a mix of %zu events, %zu Avro bytes each on average), best of %d rounds, CPU time of this thread\n",
         n, nrec, bytes / nrec, rounds);
  printf("| step | jansson tree, us/record | straight from Avro, us/record | ratio |\n|---|---:|---:|---:|\n");
  printf("| decode to JSON text | %.2f | %.2f | %.2fx |\n", best[0] * 1e6 / (double)n, best[1] * 1e6 / (double)n, best[0] / best[1]);
  printf("| whole audit line (audit_append) | %.2f | %.2f | %.2fx |\n", best[2] * 1e6 / (double)n, best[3] * 1e6 / (double)n, best[2] / best[3]);
  rc = 0;
out:
  for (size_t i = 0; i < nrec; i++) buf_release(&recs[i].bytes);
  return rc;
}
