/* test_view.c: the view the read operations answer from (consumers/views/view.c, jobs_store.c),
 * without Kafka: records applied as the consumer reads them (encoded as on the topic), a job
 * moving between the indexes, and read-your-writes: a submission shown as SUBMITTED until the
 * scheduler's record arrives, a configuration write held over older events until it is read
 * back. */
#include <stdlib.h>
#include <string.h>

#include "capacity_view.h"
#include "check.h"
#include "codec.h"
#include "control.h"
#include "jsonget.h"
#include "query.h"
#include "view.h"

#define QARN "arn:barge:batch:local:000000000000:job-queue/q"

/* Applies event ev (borrowed; NULL: a tombstone) of topic t under key as the consumer would. */
static void apply(struct view *v, enum bus_topic t, const char *key, const json_t *ev) {
  struct buf b;
  buf_init(&b);
  char err[256] = "";
  if (ev) CHECK(codec_encode(bus_topic_type(t), ev, &b, err, sizeof err) == 0, "encode: %s", err);
  struct bus_msg m = {.topic = t, .key = key, .keylen = strlen(key), .value = ev ? b.data : NULL, .len = b.len};
  view_apply(v, &m);
  buf_release(&b);
}

static json_t *job_record(const char *id, const char *status, long long created, const char *parent) {
  json_t *r = json_pack("{s:o, s:{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:[], s:[]}, s:i, s:I, s:[]}", "header",
                        bus_header("scheduler", id, 1), "detail", "jobArn", id, "jobName", "n", "jobId", id,
                        "jobQueue", QARN, "status", status, "createdAt", created, "jobDefinition", "jd",
                        "attempts", "dependsOn", "attempt", 0, "queueSeq", (json_int_t)created, "dependencyIds");
  if (parent) json_object_set_new(r, "parentJobId", json_string(parent));
  return r;
}

/* The job's record applied under its id, as barge.jobs holds it. */
static void put_job(struct view *v, const char *id, const char *status, long long created, const char *parent) {
  json_t *r = job_record(id, status, created, parent);
  apply(v, TOPIC_JOBS, id, r);
  json_decref(r);
}

/* "id:STATUS,..." of the items of resp's member (owned); "ERR" when rc says it failed. */
static const char *ids_of(int rc, json_t *resp, const char *member, int with_status) {
  static char out[512];
  if (rc) return "ERR";
  out[0] = 0;
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(resp, member), i, d)
    snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s%s%s", i ? "," : "", jget_str(d, "jobId"),
             with_status ? ":" : "", with_status ? jget_str(d, "status") : "");
  json_decref(resp);
  return out;
}

/* DescribeJobs of the ids (comma-separated). */
static const char *describe(const struct view *v, const char *ids) {
  json_t *req = json_pack("{s:[]}", "jobs"), *resp = NULL;
  char idbuf[256], err[256];
  snprintf(idbuf, sizeof idbuf, "%s", ids);
  for (char *sv, *t = strtok_r(idbuf, ",", &sv); t; t = strtok_r(NULL, ",", &sv))
    json_array_append_new(json_object_get(req, "jobs"), json_string(t));
  int rc = query_describe_jobs_v(v, req, &resp, err, sizeof err);
  json_decref(req);
  return ids_of(rc, resp, "jobs", 1);
}

/* ListJobs of queue q in status. */
static const char *list(const struct view *v, const char *status) {
  json_t *req = json_pack("{s:s, s:s}", "jobQueue", "q", "jobStatus", status), *resp = NULL;
  char err[256];
  int rc = query_list_jobs_v(v, req, &resp, err, sizeof err);
  json_decref(req);
  return ids_of(rc, resp, "jobSummaryList", 0);
}

static void add_queue(struct view *v) {
  json_object_set_new(v->cv.queues, QARN, json_pack("{s:s, s:s, s:s, s:i}", "jobQueueName", "q", "jobQueueArn", QARN,
                                                    "state", "ENABLED", "priority", 1));
}

static void test_jobs(void) {
  TEST("jobs: records as read, a job moving between statuses, deletion, array children");
  struct view v;
  view_init(&v);
  add_queue(&v);
  put_job(&v, "a", "RUNNABLE", 100, NULL);
  put_job(&v, "b", "RUNNABLE", 200, NULL);
  put_job(&v, "c", "RUNNING", 300, NULL);
  put_job(&v, "c:0", "RUNNING", 300, "c");
  CHECK_STR(list(&v, "RUNNABLE"), "b,a");
  CHECK_STR(list(&v, "RUNNING"), "c"); /* the child is listed under its parent only */
  put_job(&v, "b", "RUNNING", 200, NULL);
  CHECK_STR(list(&v, "RUNNABLE"), "a");
  CHECK_STR(list(&v, "RUNNING"), "c,b");
  CHECK_STR(describe(&v, "a,b,zz,c:0"), "a:RUNNABLE,b:RUNNING,c:0:RUNNING");
  /* an array's children by index as a number (:10 before :9), as query_list_jobs_in orders them */
  put_job(&v, "c:9", "RUNNING", 300, "c");
  put_job(&v, "c:10", "RUNNING", 300, "c");
  json_t *req = json_pack("{s:s, s:s}", "arrayJobId", "c", "jobStatus", "RUNNING"), *resp = NULL;
  char err[256];
  int rc = query_list_jobs_v(&v, req, &resp, err, sizeof err);
  CHECK_STR(ids_of(rc, resp, "jobSummaryList", 0), "c:10,c:9,c:0");
  json_decref(req);
  apply(&v, TOPIC_JOBS, "a", NULL);
  CHECK_STR(list(&v, "RUNNABLE"), "");
  CHECK_STR(describe(&v, "a"), "");
  CHECK_INT(jobs_store_count(v.jobs), 5);
  view_release(&v);
}

/* "jobArn,..." of GetJobQueueSnapshot of queue ref, or "ERR: message". */
static const char *snapshot(const struct view *v, const char *ref) {
  static char out[512];
  json_t *req = json_pack("{s:s}", "jobQueue", ref), *resp = NULL;
  char err[256] = "";
  int rc = query_get_job_queue_snapshot_v(v, req, &resp, err, sizeof err);
  json_decref(req);
  if (rc) {
    snprintf(out, sizeof out, "ERR %d: %s", rc, err);
    return out;
  }
  out[0] = 0;
  json_t *front = json_object_get(resp, "frontOfQueue"), *d;
  CHECK(json_is_integer(json_object_get(front, "lastUpdatedAt")), "frontOfQueue.lastUpdatedAt is a number");
  size_t i;
  json_array_foreach(json_object_get(front, "jobs"), i, d) {
    CHECK(json_is_integer(json_object_get(d, "earliestTimeAtPosition")), "earliestTimeAtPosition of %s", jget_str(d, "jobArn"));
    snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? "," : "", jget_str(d, "jobArn"));
  }
  json_decref(resp);
  return out;
}

static void test_snapshot(void) {
  TEST("GetJobQueueSnapshot: the RUNNABLE jobs in dispatch order; a queue not given or unknown is refused");
  struct view v;
  view_init(&v);
  add_queue(&v);
  json_t *r;
  put_job(&v, "a", "RUNNABLE", 200, NULL);
  put_job(&v, "b", "RUNNABLE", 100, NULL);
  put_job(&v, "c", "RUNNING", 50, NULL);
  r = job_record("d", "RUNNABLE", 300, NULL); /* retried: back at the front */
  json_object_set_new(r, "queueSeq", json_integer(-400));
  apply(&v, TOPIC_JOBS, "d", r), json_decref(r);
  CHECK_STR(snapshot(&v, "q"), "d,b,a");
  CHECK_STR(snapshot(&v, QARN), "d,b,a"); /* by ARN too */
  CHECK_STR(snapshot(&v, "nope"), "ERR 400: job queue nope does not exist");
  /* was "job queue  does not exist" */
  CHECK_STR(snapshot(&v, ""), "ERR 400: jobQueue is empty: give a job queue's name or ARN");
  json_t *req = json_object(), *resp = NULL;
  char err[256] = "";
  CHECK_INT(query_get_job_queue_snapshot_v(&v, req, &resp, err, sizeof err), 400);
  CHECK_STR(err, "jobQueue is required");
  json_decref(req);
  /* ListJobs names its queue through the same lookup */
  req = json_pack("{s:s}", "jobQueue", "");
  CHECK_INT(query_list_jobs_v(&v, req, &resp, err, sizeof err), 400);
  CHECK_STR(err, "jobQueue is empty: give a job queue's name or ARN");
  json_decref(req);
  view_release(&v);
}

static void test_submitted(void) {
  TEST("read-your-writes: a submission is SUBMITTED until the scheduler's record replaces it");
  struct view v;
  view_init(&v);
  add_queue(&v);
  json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:{s:i}}", "jobId", "s1", "jobName", "mine", "jobQueue", QARN,
                           "jobDefinition", "jd", "arrayProperties", "size", 4);
  json_t *ev = control_request_event("SubmitJob", body);
  view_written(&v, TOPIC_REQUESTS, "s1", ev);
  CHECK_STR(describe(&v, "s1"), "s1:SUBMITTED");
  CHECK_STR(list(&v, "SUBMITTED"), "s1");
  json_t *rec = job_record("s1", "PENDING", 500, NULL);
  apply(&v, TOPIC_JOBS, "s1", rec);
  CHECK_STR(describe(&v, "s1"), "s1:PENDING");
  CHECK_STR(list(&v, "SUBMITTED"), "");
  view_written(&v, TOPIC_REQUESTS, "s1", ev); /* a late overlay never hides the record */
  CHECK_STR(describe(&v, "s1"), "s1:PENDING");
  json_decref(rec);
  json_decref(ev);
  view_release(&v);
}

static json_t *queue_event(const char *state, int priority) {
  json_t *q = json_pack("{s:s, s:s, s:s, s:i, s:[]}", "jobQueueName", "q", "jobQueueArn", QARN, "state", state,
                        "priority", priority, "computeEnvironmentOrder");
  return json_pack("{s:o, s:{s:o}}", "header", bus_header("api", "", priority), "body", "JobQueue", q);
}

static int priority_of(const struct view *v) {
  return (int)json_integer_value(json_object_get(json_object_get(v->cv.queues, QARN), "priority"));
}

static void test_config_written(void) {
  TEST("read-your-writes: a configuration write holds over older events until read back");
  struct view v;
  view_init(&v);
  json_t *older = queue_event("ENABLED", 1), *mine = queue_event("ENABLED", 2), *later = queue_event("DISABLED", 3);
  view_written(&v, TOPIC_CONFIG, QARN, mine);
  CHECK_INT(priority_of(&v), 2);
  apply(&v, TOPIC_CONFIG, QARN, older); /* the consumer is behind: the write stays */
  CHECK_INT(priority_of(&v), 2);
  apply(&v, TOPIC_CONFIG, QARN, mine);
  CHECK_INT(json_object_size(v.pending), 0);
  apply(&v, TOPIC_CONFIG, QARN, later); /* read back: later events apply */
  CHECK_INT(priority_of(&v), 3);
  view_written(&v, TOPIC_CONFIG, QARN, NULL); /* a deletion */
  CHECK(!json_object_get(v.cv.queues, QARN), "deleted at once");
  apply(&v, TOPIC_CONFIG, QARN, later);
  CHECK(!json_object_get(v.cv.queues, QARN), "an older event does not bring it back");
  apply(&v, TOPIC_CONFIG, QARN, NULL);
  CHECK_INT(json_object_size(v.pending), 0);
  apply(&v, TOPIC_CONFIG, QARN, mine); /* already read back: written again after the event, nothing held */
  view_written(&v, TOPIC_CONFIG, QARN, mine);
  CHECK_INT(json_object_size(v.pending), 0);
  json_decref(older);
  json_decref(mine);
  json_decref(later);
  view_release(&v);
}

/* The reference of test_order: a job's id, createdAt and status ("" once deleted). */
struct ref {
  char id[16];
  long long created;
  const char *status;
};

static int cmp_ref(const void *a, const void *b) {
  const struct ref *x = a, *y = b;
  if (x->created != y->created) return x->created > y->created ? -1 : 1;
  return strcmp(y->id, x->id);
}

/* Every page of ListJobs of status (maxResults 7), the ids joined; NULL on an error. */
static char *walk(const struct view *v, const char *status) {
  struct buf out;
  buf_init(&out);
  json_t *token = NULL;
  for (int pages = 0; pages < 10000; pages++) {
    json_t *req = json_pack("{s:s, s:s, s:i}", "jobQueue", "q", "jobStatus", status, "maxResults", 7), *resp = NULL;
    if (token) json_object_set_new(req, "nextToken", token);
    char err[256];
    int rc = query_list_jobs_v(v, req, &resp, err, sizeof err);
    json_decref(req);
    if (rc) return buf_release(&out), NULL;
    size_t i;
    json_t *j;
    json_array_foreach(json_object_get(resp, "jobSummaryList"), i, j) buf_printf(&out, "%s,", jget_str(j, "jobId"));
    token = json_incref(json_object_get(resp, "nextToken"));
    json_decref(resp);
    if (!token) break;
  }
  char *text = xstrdup(out.data ? (char *)out.data : "");
  buf_release(&out);
  return text;
}

static void test_order(void) {
  TEST("ListJobs' ordered index against a sorted reference, through random updates and page walks");
  enum { N = 1500, UPDATES = 3000 };
  static const char *const statuses[] = {"RUNNABLE", "RUNNING", "SUCCEEDED"};
  static struct ref ref[N], sorted[N];
  struct view v;
  view_init(&v);
  add_queue(&v);
  srandom(7);
  for (int u = 0; u < N + UPDATES; u++) {
    int i = u < N ? u : (int)(random() % N);
    if (u < N) {
      snprintf(ref[i].id, sizeof ref[i].id, "j%05d", i);
      ref[i].created = random() % 300; /* many ties */
    }
    json_t *r = NULL;
    if (u >= N && random() % 5 == 0) {
      ref[i].status = "";
    } else {
      ref[i].status = statuses[random() % 3];
      r = job_record(ref[i].id, ref[i].status, ref[i].created, NULL);
    }
    apply(&v, TOPIC_JOBS, ref[i].id, r);
    json_decref(r);
  }
  for (int k = 0; k < 3; k++) {
    struct buf want;
    buf_init(&want);
    size_t n = 0;
    for (int i = 0; i < N; i++)
      if (!strcmp(ref[i].status, statuses[k])) sorted[n++] = ref[i];
    qsort(sorted, n, sizeof *sorted, cmp_ref);
    for (size_t i = 0; i < n; i++) buf_printf(&want, "%s,", sorted[i].id);
    char *got = walk(&v, statuses[k]);
    CHECK(got && !strcmp(got, want.data ? (char *)want.data : ""), "%s: %zu jobs, the walk differs", statuses[k], n);
    free(got);
    buf_release(&want);
  }
  view_release(&v);
}

/* An InstanceEvent of i-v (2 vCPUs in ce-v) from agent incarnation inc, as read from the topic. */
static void inst_event(struct view *v, const char *kind, long long at, long long inc) {
  json_t *e = json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:I}", "header", bus_header("agent/i-v", "t", at),
                        "instanceId", "i-v", "computeEnvironment", "ce-v", "kind", kind, "instanceType", "m5.large",
                        "vcpus", 2, "memoryMib", 2048, "incarnation", (json_int_t)inc, "at", (json_int_t)at);
  apply(v, TOPIC_INSTANCES, "i-v", e);
  json_decref(e);
}

/* "KIND" of each live instance DescribeComputeEnvironments lists for ce-v, and its actual vCPUs
 * now on the dashboard's chart: "READY/2", "/0" (owned by a static buffer). */
static const char *ce_v_now(struct view *v) {
  static char out[128];
  json_t *ces = json_pack("[{s:s}]", "computeEnvironmentName", "ce-v");
  capacity_view_set_instances(ces, v->instances);
  json_t *list = json_object_get(json_array_get(ces, 0), "instances");
  json_t *h = ce_history_json(v->history, "ce-v", 0), *actual = json_object_get(h, "actual");
  json_t *last = json_array_get(actual, json_array_size(actual) - 1);
  snprintf(out, sizeof out, "%s%s/%lld", json_array_size(list) ? jget_str(json_array_get(list, 0), "state") : "",
           json_array_size(list) > 1 ? "+more" : "", (long long)json_integer_value(json_array_get(last, 1)));
  json_decref(h);
  json_decref(ces);
  return out;
}

static void test_agent_restart(void) {
  TEST("an older agent incarnation's late word neither ends nor revives the instance in the view");
  struct view v;
  view_init(&v);
  inst_event(&v, "READY", 1000, 100);
  inst_event(&v, "READY", 2000, 200); /* the agent restarted */
  CHECK_STR(ce_v_now(&v), "READY/2");
  /* its earlier process's TERMINATED read after the new READY: before, the CE listed no instance
   * and its actual vCPUs fell to 0 until the next beat */
  inst_event(&v, "TERMINATED", 3000, 100);
  CHECK_STR(ce_v_now(&v), "READY/2");
  inst_event(&v, "HEARTBEAT", 4000, 200);
  CHECK_STR(ce_v_now(&v), "HEARTBEAT/2");
  /* the newest incarnation's own end is taken; a late beat of the older one does not revive it */
  inst_event(&v, "TERMINATED", 5000, 200);
  CHECK_STR(ce_v_now(&v), "/0");
  inst_event(&v, "HEARTBEAT", 6000, 100);
  CHECK_STR(ce_v_now(&v), "/0");
  /* incarnation 0 (a driver's, the provisioner's) is never older */
  inst_event(&v, "READY", 7000, 300);
  inst_event(&v, "TERMINATED", 8000, 0);
  CHECK_STR(ce_v_now(&v), "/0");
  view_release(&v);
}

int main(void) {
  char err[256];
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "codec_init: %s\n", err);
    return 1;
  }
  test_jobs();
  test_snapshot();
  test_submitted();
  test_config_written();
  test_order();
  test_agent_restart();
  return check_summary();
}
