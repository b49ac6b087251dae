/* test_views.c: the read views over given records, without Kafka: ListJobs' selection, filters,
 * order and pages (query_list_jobs_in), DescribeJobDefinitions' filters, and the capacity view
 * that DescribeComputeEnvironments adds (desiredvCpus as decided, live instances), and the table of
 * `barge instances`. */
#include <stdlib.h>
#include <string.h>

#include "capacity_view.h"
#include "check.h"
#include "instances_view.h"
#include "jsonget.h"
#include "query.h"
#include "view.h"

#define QARN "arn:barge:batch:local:000000000000:job-queue/q"
#define OTHER "arn:barge:batch:local:000000000000:job-queue/other"
#define BASE_MS 1700000000000LL /* createdAt values are in ms */
#define JD "arn:barge:batch:local:000000000000:job-definition/render:3"

static json_t *jobs;

static void add_job(const char *id, const char *name, const char *queue, const char *status,
                    long long created, const char *parent, const char *share) {
  json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "jobId", id, "jobName", name,
                        "jobQueue", queue, "status", status, "jobArn", id, "createdAt", BASE_MS + created,
                        "jobDefinition", JD);
  if (share) json_object_set_new(d, "shareIdentifier", json_string(share));
  json_t *rec = json_pack("{s:o}", "detail", d);
  if (parent) json_object_set_new(rec, "parentJobId", json_string(parent));
  json_object_set_new(jobs, id, rec);
}

/* ListJobs on the records; returns the job ids of the page as "a,b,c" (or "ERR: msg"). */
static const char *list(const char *qarn, const char *req_text, char *next, size_t nextlen) {
  static char out[512];
  json_t *req = json_loads(req_text, 0, NULL);
  json_t *resp = NULL;
  char err[256];
  int rc = query_list_jobs_in(jobs, qarn, req, &resp, err, sizeof err);
  json_decref(req);
  if (rc) {
    snprintf(out, sizeof out, "ERR %d: %s", rc, err);
    return out;
  }
  out[0] = 0;
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(resp, "jobSummaryList"), i, s)
    snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? "," : "", jget_str(s, "jobId"));
  if (next) snprintf(next, nextlen, "%s", jget_str(resp, "nextToken") ? jget_str(resp, "nextToken") : "");
  json_decref(resp);
  return out;
}

static void test_list_jobs(void) {
  TEST("ListJobs: queue, status, order, filters, array children, pages");
  jobs = json_object();
  add_job("r1", "render-a", QARN, "RUNNING", 100, NULL, NULL);
  add_job("r2", "render-b", QARN, "RUNNING", 300, NULL, "teamA");
  add_job("r3", "Other", QARN, "RUNNING", 200, NULL, NULL);
  add_job("s1", "render-c", QARN, "SUCCEEDED", 50, NULL, "teamA");
  add_job("x1", "render-x", OTHER, "RUNNING", 500, NULL, NULL);
  add_job("arr", "render-arr", QARN, "PENDING", 400, NULL, NULL);
  add_job("arr:0", "render-arr", QARN, "SUCCEEDED", 400, "arr", NULL);
  add_job("arr:1", "render-arr", QARN, "RUNNING", 400, "arr", NULL);
  char next[128], req[256];
  CHECK_STR(list(QARN, "{\"jobQueue\":\"q\"}", NULL, 0), "r2,r3,r1"); /* RUNNING, newest first */
  CHECK_STR(list(QARN, "{\"jobQueue\":\"q\",\"jobStatus\":\"SUCCEEDED\"}", NULL, 0), "s1");
  CHECK_STR(list(NULL, "{\"arrayJobId\":\"arr\",\"jobStatus\":\"SUCCEEDED\"}", NULL, 0), "arr:0");
  /* children by index, as numbers: :10 before :9 (newest first, ties by id descending) */
  add_job("arr:9", "render-arr", QARN, "FAILED", 400, "arr", NULL);
  add_job("arr:10", "render-arr", QARN, "FAILED", 400, "arr", NULL);
  add_job("arr:2", "render-arr", QARN, "FAILED", 400, "arr", NULL);
  CHECK_STR(list(NULL, "{\"arrayJobId\":\"arr\",\"jobStatus\":\"FAILED\"}", NULL, 0), "arr:10,arr:9,arr:2");
  /* a JOB_NAME filter ignores the status and matches case-insensitively, * as a prefix */
  CHECK_STR(list(QARN, "{\"jobQueue\":\"q\",\"filters\":[{\"name\":\"JOB_NAME\",\"values\":[\"RENDER*\"]}]}", NULL, 0),
            "arr,r2,r1,s1");
  CHECK_STR(list(QARN, "{\"jobQueue\":\"q\",\"filters\":[{\"name\":\"JOB_DEFINITION\",\"values\":[\"render\"]}],\"jobStatus\":\"RUNNING\"}", NULL, 0),
            "arr,r2,r3,r1,s1");
  /* JOB_DEFINITION is case-sensitive, as AWS documents it (render and RENDER are two job
   * definitions), also as a prefix */
  CHECK_STR(list(QARN, "{\"jobQueue\":\"q\",\"filters\":[{\"name\":\"JOB_DEFINITION\",\"values\":[\"RENDER\"]}]}", NULL, 0), "");
  CHECK_STR(list(QARN, "{\"jobQueue\":\"q\",\"filters\":[{\"name\":\"JOB_DEFINITION\",\"values\":[\"Rend*\"]}]}", NULL, 0), "");
  CHECK_STR(list(QARN, "{\"jobQueue\":\"q\",\"filters\":[{\"name\":\"JOB_DEFINITION\",\"values\":[\"rend*\"]}]}", NULL, 0),
            "arr,r2,r3,r1,s1");
  CHECK_STR(list(QARN, "{\"jobQueue\":\"q\",\"filters\":[{\"name\":\"SHARE_IDENTIFIER\",\"values\":[\"teamA\"]}]}", NULL, 0),
            "r2"); /* SHARE_IDENTIFIER keeps the status */
  CHECK_STR(list(QARN, "{\"jobQueue\":\"q\",\"filters\":[{\"name\":\"AFTER_CREATED_AT\",\"values\":[\"1700000000150\"]}]}", NULL, 0),
            "arr,r2,r3");
  CHECK_STR(list(QARN, "{\"jobQueue\":\"q\",\"maxResults\":2}", next, sizeof next), "r2,r3");
  /* the token is the last job's sort key: a job newer than it, added between the pages, neither
   * shifts the next page nor shows in it */
  add_job("r9", "render-new", QARN, "RUNNING", 900, NULL, NULL);
  snprintf(req, sizeof req, "{\"jobQueue\":\"q\",\"maxResults\":2,\"nextToken\":\"%s\"}", next);
  CHECK_STR(list(QARN, req, next, sizeof next), "r1");
  CHECK_STR(next, "");
  /* a job added after the cursor's position (older) shows on the next page */
  CHECK_STR(list(QARN, "{\"jobQueue\":\"q\",\"maxResults\":2}", next, sizeof next), "r9,r2");
  add_job("r0", "render-old", QARN, "RUNNING", 10, NULL, NULL);
  snprintf(req, sizeof req, "{\"jobQueue\":\"q\",\"maxResults\":2,\"nextToken\":\"%s\"}", next);
  CHECK_STR(list(QARN, req, next, sizeof next), "r3,r1");
  snprintf(req, sizeof req, "{\"jobQueue\":\"q\",\"maxResults\":2,\"nextToken\":\"%s\"}", next);
  CHECK_STR(list(QARN, req, next, sizeof next), "r0");
  /* equal createdAt: the job id breaks the tie, so the page boundary splits them exactly */
  add_job("t1", "tie", OTHER, "RUNNING", 700, NULL, NULL);
  add_job("t2", "tie", OTHER, "RUNNING", 700, NULL, NULL);
  CHECK_STR(list(OTHER, "{\"jobQueue\":\"other\",\"maxResults\":1}", next, sizeof next), "t2");
  snprintf(req, sizeof req, "{\"jobQueue\":\"other\",\"maxResults\":1,\"nextToken\":\"%s\"}", next);
  CHECK_STR(list(OTHER, req, next, sizeof next), "t1");
  /* refused requests: {request, error} */
  static const char *const refused[][2] = {
      {"{\"jobQueue\":\"q\",\"nextToken\":\"9\"}", "ERR 400: nextToken is not valid: give the nextToken of the previous page"},
      {"{\"jobQueue\":\"q\",\"nextToken\":\"bGoxIHggeQ==\"}", /* "lj1 x y" */
       "ERR 400: nextToken is not valid: give the nextToken of the previous page"},
      {"{\"jobQueue\":\"q\",\"nextToken\":\"bGoxIDEy\"}", /* "lj1 12": no job id */
       "ERR 400: nextToken is not valid: give the nextToken of the previous page"},
      {"{\"jobQueue\":\"q\",\"arrayJobId\":\"arr\"}", "ERR 400: give exactly one of jobQueue, arrayJobId or multiNodeJobId"},
      {"{\"arrayJobId\":\"a\",\"multiNodeJobId\":\"m\"}", "ERR 400: give exactly one of jobQueue, arrayJobId or multiNodeJobId"},
      {"{\"jobQueue\":\"q\",\"jobStatus\":\"DONE\"}", "ERR 400: jobStatus DONE is not a job status"},
      {"{\"jobQueue\":\"q\",\"filters\":[{\"name\":\"COLOUR\",\"values\":[\"x\"]}]}",
       "ERR 400: filters[0].name must be one of JOB_NAME, JOB_DEFINITION, BEFORE_CREATED_AT, AFTER_CREATED_AT, SHARE_IDENTIFIER"},
      {"{\"jobQueue\":\"q\",\"maxResults\":0}", "ERR 400: maxResults must be a whole number from 1 to 1000, got 0"},
      /* above AWS's 1000: used to be capped silently */
      {"{\"jobQueue\":\"q\",\"maxResults\":100000}", "ERR 400: maxResults must be a whole number from 1 to 1000, got 100000"},
      {"{\"jobQueue\":\"q\",\"maxResults\":1001}", "ERR 400: maxResults must be a whole number from 1 to 1000, got 1001"},
      {"{\"jobQueue\":\"q\",\"maxResults\":\"5\"}", "ERR 400: maxResults must be a whole number from 1 to 1000"},
      /* a time that is not one matched every job (parse_time_ms's -1) */
      {"{\"jobQueue\":\"q\",\"filters\":[{\"name\":\"AFTER_CREATED_AT\",\"values\":[\"abc\"]}]}",
       "ERR 400: filters[0].values: AFTER_CREATED_AT takes a time in epoch milliseconds (as a string), got 'abc'"},
      {"{\"jobQueue\":\"q\",\"filters\":[{\"name\":\"BEFORE_CREATED_AT\",\"values\":[\"abc\"]}]}",
       "ERR 400: filters[0].values: BEFORE_CREATED_AT takes a time in epoch milliseconds (as a string), got 'abc'"},
      {"{\"jobQueue\":\"q\",\"filters\":[{\"name\":\"BEFORE_CREATED_AT\",\"values\":[\"-5\"]}]}",
       "ERR 400: filters[0].values: BEFORE_CREATED_AT takes a time in epoch milliseconds (as a string), got '-5'"},
      /* a second value was ignored without a word: the page held the jobs of the first only */
      {"{\"jobQueue\":\"q\",\"filters\":[{\"name\":\"JOB_NAME\",\"values\":[\"render-a\",\"render-b\"]}]}",
       "ERR 400: filters[0].values takes one value, got 2: list each value with a ListJobs call of its own"},
  };
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) CHECK_STR(list(QARN, refused[i][0], NULL, 0), refused[i][1]);
  /* the largest maxResults is taken, with or without filters (a filtered page holds at most 100) */
  CHECK_STR(list(OTHER, "{\"jobQueue\":\"other\",\"maxResults\":1000}", NULL, 0), "t2,t1,x1");
  CHECK(strncmp(list(QARN, "{\"jobQueue\":\"q\",\"maxResults\":1000,\"filters\":[{\"name\":\"JOB_NAME\",\"values\":[\"*\"]}]}",
                     NULL, 0), "ERR", 3) != 0, "maxResults 1000 with filters is taken");
  json_decref(jobs);
}

static void test_job_definitions(void) {
  TEST("DescribeJobDefinitions: by name and status, sorted by ARN");
  struct config_view cv = {json_object(), json_object(), json_object(), json_object()};
  const char *defs[][3] = {{"render", "2", "ACTIVE"}, {"render", "1", "INACTIVE"}, {"encode", "1", "ACTIVE"},
                           {"render", "10", "ACTIVE"}, {"render2", "1", "ACTIVE"}};
  for (size_t i = 0; i < sizeof defs / sizeof *defs; i++) {
    char arn[256];
    snprintf(arn, sizeof arn, "arn:barge:batch:local:000000000000:job-definition/%s:%s", defs[i][0], defs[i][1]);
    json_object_set_new(cv.jds, arn, json_pack("{s:s, s:s, s:i, s:s, s:{s:s, s:s}, s:I}", "jobDefinitionName", defs[i][0],
                                               "jobDefinitionArn", arn, "revision", atoi(defs[i][1]), "status", defs[i][2],
                                               "containerProperties", "image", "busybox", "storedJson", "{\"privileged\":true}",
                                               "createdAt", (json_int_t)1));
  }
  json_t *all = NULL, *req = json_pack("{s:s}", "jobDefinitionName", "render");
  char err[256];
  CHECK(query_job_definitions_in(&cv, req, &all, err, sizeof err) == 0, "%s", err);
  CHECK_INT(json_array_size(all), 3);
  /* revisions as numbers: 10 after 2 (as strings it came between 1 and 2) */
  CHECK_INT(jget_int(json_array_get(all, 0), "revision", 0), 1);
  CHECK_INT(jget_int(json_array_get(all, 1), "revision", 0), 2);
  CHECK_INT(jget_int(json_array_get(all, 2), "revision", 0), 10);
  json_t *cp = json_object_get(json_array_get(all, 0), "containerProperties");
  CHECK(jget_bool(cp, "privileged", 0) && !json_object_get(cp, "storedJson"), "stored members restored");
  CHECK(!json_object_get(json_array_get(all, 0), "createdAt"), "createdAt is not an AWS member");
  json_decref(all);
  json_decref(req);
  req = json_pack("{s:s}", "status", "ACTIVE");
  CHECK(query_job_definitions_in(&cv, req, &all, err, sizeof err) == 0, "%s", err);
  CHECK_INT(json_array_size(all), 4); /* by name (render before render2), then revision */
  const char *order[] = {"encode:1", "render:2", "render:10", "render2:1"};
  for (size_t i = 0; i < 4; i++) {
    char want[64];
    snprintf(want, sizeof want, "job-definition/%s", order[i]);
    const char *got = jget_str(json_array_get(all, i), "jobDefinitionArn");
    CHECK(got && strstr(got, want), "active #%zu is %s, got %s", i, order[i], got ? got : "(none)");
  }
  json_decref(all);
  json_decref(req);
  req = json_pack("{s:[s], s:s}", "jobDefinitions", "render", "status", "ACTIVE");
  CHECK(query_job_definitions_in(&cv, req, &all, err, sizeof err) == API_CLIENT_ERROR, "refs with status");
  json_decref(req);
  req = json_pack("{s:[s]}", "jobDefinitions", "render");
  CHECK(query_job_definitions_in(&cv, req, &all, err, sizeof err) == 0, "%s", err);
  CHECK_INT(json_array_size(all), 1); /* a name is its highest ACTIVE revision */
  CHECK_INT(jget_int(json_array_get(all, 0), "revision", 0), 10);
  json_decref(all);
  json_decref(req);
  /* a status other than ACTIVE and INACTIVE (`--status active`) matched no revision and read as
   * "no job definitions" */
  const char *bad[] = {"active", "DELETED", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    all = NULL;
    req = json_pack("{s:s}", "status", bad[i]);
    CHECK(query_job_definitions_in(&cv, req, &all, err, sizeof err) == API_CLIENT_ERROR, "status '%s' refused", bad[i]);
    char want[96];
    snprintf(want, sizeof want, "status '%s' is not a job definition status: give ACTIVE or INACTIVE", bad[i]);
    CHECK(strstr(err, want), "message for '%s': %s", bad[i], err);
    json_decref(all);
    json_decref(req);
  }
  req = json_pack("{s:s, s:s}", "jobDefinitionName", "render", "status", "INACTIVE");
  CHECK(query_job_definitions_in(&cv, req, &all, err, sizeof err) == 0, "%s", err);
  CHECK_INT(json_array_size(all), 1);
  json_decref(all);
  json_decref(req);
  config_view_release(&cv);
}

/* maxResults of the Describe* operations and ListSchedulingPolicies: 1..100, as AWS documents;
 * 101 and 100000 used to be capped silently. */
static void test_describe_max_results(void) {
  TEST("Describe* and ListSchedulingPolicies: maxResults 1..100, others refused");
  struct view v;
  view_init(&v);
  static const struct {
    const char *op;
    int (*fn)(const struct view *, const json_t *, json_t **, char *, size_t);
  } ops[] = {{"DescribeComputeEnvironments", query_describe_compute_environments_v},
             {"DescribeJobQueues", query_describe_job_queues_v},
             {"DescribeJobDefinitions", query_describe_job_definitions_v},
             {"ListSchedulingPolicies", query_list_scheduling_policies_v}};
  static const struct {
    long long n;
    const char *words; /* NULL: accepted */
  } cases[] = {{1, NULL}, {100, NULL}, {0, "maxResults must be a whole number from 1 to 100, got 0"},
               {101, "maxResults must be a whole number from 1 to 100, got 101"},
               {100000, "maxResults must be a whole number from 1 to 100, got 100000"}};
  for (size_t o = 0; o < sizeof ops / sizeof *ops; o++)
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
      json_t *req = json_pack("{s:I}", "maxResults", (json_int_t)cases[c].n), *resp = NULL;
      char err[256] = "";
      int rc = ops[o].fn(&v, req, &resp, err, sizeof err);
      if (cases[c].words)
        CHECK(rc == API_CLIENT_ERROR && strstr(err, cases[c].words), "%s maxResults %lld: %d '%s'", ops[o].op, cases[c].n, rc, err);
      else
        CHECK(rc == 0 && resp, "%s maxResults %lld accepted: %d '%s'", ops[o].op, cases[c].n, rc, err);
      json_decref(resp);
      json_decref(req);
    }
  view_release(&v);
}

/* The lists of names the Describe* take: "up to 100" as AWS documents each of them, as
 * DescribeJobs' jobs; 101 used to be answered (a page of 100 and a nextToken). */
static void test_describe_list_limit(void) {
  TEST("Describe* of a list of names: at most 100, 101 refused naming the member");
  struct view v;
  view_init(&v);
  static const struct {
    const char *op, *member;
    int (*fn)(const struct view *, const json_t *, json_t **, char *, size_t);
  } ops[] = {{"DescribeComputeEnvironments", "computeEnvironments", query_describe_compute_environments_v},
             {"DescribeJobQueues", "jobQueues", query_describe_job_queues_v},
             {"DescribeJobDefinitions", "jobDefinitions", query_describe_job_definitions_v},
             {"DescribeSchedulingPolicies", "arns", query_describe_scheduling_policies_v}};
  for (size_t o = 0; o < sizeof ops / sizeof *ops; o++)
    for (int n = 100; n <= 101; n++) {
      json_t *names = json_array(), *resp = NULL;
      for (int i = 0; i < n; i++) json_array_append_new(names, json_string("x:1"));
      json_t *req = json_pack("{s:o}", ops[o].member, names);
      char err[256] = "", words[128];
      snprintf(words, sizeof words, "%s takes at most 100", ops[o].member);
      int rc = ops[o].fn(&v, req, &resp, err, sizeof err);
      if (n == 101)
        CHECK(rc == API_CLIENT_ERROR && strstr(err, words), "%s of 101 names: %d '%s'", ops[o].op, rc, err);
      else
        CHECK(rc == 0, "%s of 100 names accepted: %d '%s'", ops[o].op, rc, err);
      json_decref(resp);
      json_decref(req);
    }
  view_release(&v);
}

/* DescribeJobQueues answers jobQueueType ECS on every queue, as AWS does for a queue of EC2 or
 * SPOT compute environments (every Barge queue's), also on a record written before Barge
 * answered it (the record never holds it); it was missing (docs/api.md, "Job queue types"). */
static void test_describe_job_queues_type(void) {
  TEST("DescribeJobQueues: jobQueueType ECS on every queue");
  struct view v;
  view_init(&v);
  json_object_set_new(v.cv.queues, QARN, json_pack("{s:s, s:s, s:s, s:i, s:[], s:I}", "jobQueueName", "q", "jobQueueArn", QARN,
                                                   "state", "ENABLED", "priority", 1, "computeEnvironmentOrder",
                                                   "createdAt", (json_int_t)BASE_MS));
  json_object_set_new(v.cv.queues, OTHER, json_pack("{s:s, s:s, s:s, s:i, s:[]}", "jobQueueName", "other", "jobQueueArn", OTHER,
                                                    "state", "DISABLED", "priority", 2, "computeEnvironmentOrder"));
  const char *reqs[] = {"{}", "{\"jobQueues\": [\"q\", \"" OTHER "\"]}"};
  for (size_t r = 0; r < sizeof reqs / sizeof *reqs; r++) {
    json_t *req = json_loads(reqs[r], 0, NULL), *resp = NULL;
    char err[256] = "";
    CHECK(query_describe_job_queues_v(&v, req, &resp, err, sizeof err) == 0, "%s: %s", reqs[r], err);
    json_t *qs = json_object_get(resp, "jobQueues");
    CHECK_INT(json_array_size(qs), 2);
    size_t i;
    json_t *q;
    json_array_foreach(qs, i, q) {
      CHECK(jget_str(q, "jobQueueType") && !strcmp(jget_str(q, "jobQueueType"), "ECS"), "%s: %s has jobQueueType %s", reqs[r],
            jget_str(q, "jobQueueName"), jget_str(q, "jobQueueType") ? jget_str(q, "jobQueueType") : "(none)");
      CHECK(!json_object_get(q, "createdAt"), "createdAt is not an AWS member");
    }
    json_decref(resp);
    json_decref(req);
  }
  /* the stored record is left as it was: the view adds the member */
  CHECK(!json_object_get(json_object_get(v.cv.queues, QARN), "jobQueueType"), "the record itself is unchanged");
  view_release(&v);
}

/* An empty id in DescribeJobs' jobs (the AWS CLI sends `--jobs ''` as [""]) was looked up and left
 * out: an empty answer, read as "no such job". AWS refuses an id outside its pattern; Barge refuses
 * the empty one, naming its place; an unknown id stays left out (docs/api.md, "DescribeJobs"). */
static void test_describe_jobs_empty_id(void) {
  TEST("DescribeJobs: an empty job id is a ClientException naming it; an unknown one is left out");
  struct view v;
  view_init(&v);
  json_t *resp = NULL, *req = json_pack("{s:[s, s]}", "jobs", "no-such-job", "");
  char err[256] = "";
  int rc = query_describe_jobs_v(&v, req, &resp, err, sizeof err);
  CHECK(rc == API_CLIENT_ERROR && !resp, "[\"no-such-job\", \"\"] refused: %d", rc);
  CHECK_STR(err, "jobs[1] is empty: each entry must be a job id");
  json_decref(req);
  json_decref(resp);
  resp = NULL;
  req = json_pack("{s:[s]}", "jobs", "no-such-job");
  rc = query_describe_jobs_v(&v, req, &resp, err, sizeof err);
  CHECK(rc == 0 && json_array_size(json_object_get(resp, "jobs")) == 0, "an unknown id: an empty list, %d", rc);
  json_decref(req);
  json_decref(resp);
  view_release(&v);
}

static void test_ce_health(void) {
  TEST("capacity view: a MANAGED CE is VALID only while a provisioner's heartbeat serves it");
  json_t *ces = json_pack("[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}, {s:s, s:s, s:s}]",
                          "computeEnvironmentName", "served", "type", "MANAGED", "status", "VALID", "statusReason", "ComputeEnvironment Healthy",
                          "computeEnvironmentName", "stale", "type", "MANAGED", "status", "VALID", "statusReason", "ComputeEnvironment Healthy",
                          "computeEnvironmentName", "never", "type", "MANAGED", "status", "VALID", "statusReason", "ComputeEnvironment Healthy",
                          "computeEnvironmentName", "local", "type", "UNMANAGED", "status", "VALID");
  json_t *served = json_pack("{s:{s:I, s:I}, s:{s:I, s:I}}", "served", "servedUntil", (json_int_t)20000, "at", (json_int_t)5000,
                             "stale", "servedUntil", (json_int_t)9999, "at", (json_int_t)0);
  capacity_view_set_health(ces, served, NULL, 10000);
  CHECK_STR(jget_str(json_array_get(ces, 0), "status"), "VALID");
  CHECK_STR(jget_str(json_array_get(ces, 0), "statusReason"), "ComputeEnvironment Healthy");
  CHECK_STR(jget_str(json_array_get(ces, 1), "status"), "INVALID");
  CHECK(strstr(jget_str(json_array_get(ces, 1), "statusReason"), "No provisioner has served this compute environment since 1970-01-01T00:00:00"),
        "%s", jget_str(json_array_get(ces, 1), "statusReason"));
  CHECK_STR(jget_str(json_array_get(ces, 2), "status"), "INVALID");
  CHECK(strstr(jget_str(json_array_get(ces, 2), "statusReason"), "No provisioner serves this compute environment"), "never served");
  CHECK_STR(jget_str(json_array_get(ces, 3), "status"), "VALID"); /* UNMANAGED: its own agents */
  capacity_view_set_health(ces, served, NULL, 20001); /* three heartbeats later */
  CHECK_STR(jget_str(json_array_get(ces, 0), "status"), "INVALID");
  /* created (or changed) at 9000, never served: within the grace of a first heartbeat it stays
   * VALID (it was INVALID, "No provisioner serves", until the provisioner's first beat) */
  json_t *fresh = json_pack("[{s:s, s:s, s:s}]", "computeEnvironmentName", "new", "type", "MANAGED", "status", "VALID");
  json_t *launch = json_object();
  capacity_fold_ce_changed(launch, "new", 9000);
  capacity_view_set_health(fresh, served, launch, 9000 + CE_SERVE_GRACE_MS - 1);
  CHECK_STR(jget_str(json_array_get(fresh, 0), "status"), "VALID");
  capacity_view_set_health(fresh, served, launch, 9000 + CE_SERVE_GRACE_MS);
  CHECK_STR(jget_str(json_array_get(fresh, 0), "status"), "INVALID");
  CHECK(strstr(jget_str(json_array_get(fresh, 0), "statusReason"), "No provisioner serves this compute environment"),
        "never served, past the grace");
  json_decref(launch);
  json_decref(fresh);
  json_decref(served);
  json_decref(ces);
}

static json_t *inst_ev(const char *ce, const char *kind, int64_t at, const char *reason) {
  json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:I}", "instanceId", "i-1", "computeEnvironment", ce, "kind", kind,
                        "instanceType", "m5.large", "at", (json_int_t)at);
  if (reason) json_object_set_new(e, "reason", json_string(reason));
  return e;
}

/* The status the view gives ce, whose computeResources.instanceTypes are the JSON array types (NULL:
 * none given). */
static const char *launch_status_types(json_t *launch, const char *ce, const char *types, const char **reason) {
  static char st[32], why[768];
  json_t *ces = json_pack("[{s:s, s:s, s:s, s:s}]", "computeEnvironmentName", ce, "type", "MANAGED", "status", "VALID",
                          "statusReason", "ComputeEnvironment Healthy");
  if (types)
    json_object_set_new(json_array_get(ces, 0), "computeResources",
                        json_pack("{s:o}", "instanceTypes", json_loads(types, 0, NULL)));
  capacity_view_set_launch_error(ces, launch);
  snprintf(st, sizeof st, "%s", jget_str(json_array_get(ces, 0), "status"));
  snprintf(why, sizeof why, "%s", jget_str(json_array_get(ces, 0), "statusReason"));
  json_decref(ces);
  *reason = why;
  return st;
}

static const char *launch_status(json_t *launch, const char *ce, const char **reason) {
  return launch_status_types(launch, ce, NULL, reason);
}

static void test_ce_launch_error(void) {
  TEST("capacity view: a MANAGED CE whose launches EC2 refuses is INVALID with CLIENT_ERROR, until a launch or a change");
  json_t *launch = json_object();
  const char *why;
  static const char *const bad_ami =
      "1 of 1 x m5.large not launched: InvalidAMIID.NotFound: The image id '[ami-nope]' does not exist (HTTP 400)";
  json_t *ev = inst_ev("ce1", "LAUNCH_FAILED", 1000, bad_ami);
  capacity_fold_launch(launch, ev);
  json_decref(ev);
  CHECK_STR(launch_status(launch, "ce1", &why), "INVALID");
  static const char *const want = "CLIENT_ERROR - InvalidAMIID.NotFound: The image id '[ami-nope]' does not exist";
  CHECK(!strncmp(why, want, strlen(want)), "%s", why);
  CHECK(strstr(why, "m5.large") != NULL, "the reason names the type: %s", why);
  /* an older LAUNCHING (another partition, read later) does not clear it; a newer one does */
  ev = inst_ev("ce1", "LAUNCHING", 900, NULL);
  capacity_fold_launch(launch, ev);
  json_decref(ev);
  CHECK_STR(launch_status(launch, "ce1", &why), "INVALID");
  ev = inst_ev("ce1", "LAUNCHING", 1100, NULL);
  capacity_fold_launch(launch, ev);
  json_decref(ev);
  CHECK_STR(launch_status(launch, "ce1", &why), "VALID");
  CHECK_STR(why, "ComputeEnvironment Healthy");
  /* a bad subnet, then the CE updated: the error is the old configuration's */
  ev = inst_ev("ce2", "LAUNCH_FAILED", 2000,
               "1 of 1 x m5.large not launched: InvalidSubnetID.NotFound: The subnet ID 'subnet-x' does not exist (HTTP 400)");
  capacity_fold_launch(launch, ev);
  json_decref(ev);
  CHECK_STR(launch_status(launch, "ce2", &why), "INVALID");
  capacity_fold_ce_changed(launch, "ce2", 2500);
  CHECK_STR(launch_status(launch, "ce2", &why), "VALID");
  /* the change made the CE m5.xlarge: a failure of m5.large after it (the provisioner tried the old
   * type before it read the change) is still the old configuration's; one of a type the CE allows
   * is not (the same type, its family, or a category) */
  ev = inst_ev("ce2", "LAUNCH_FAILED", 2600,
               "1 of 1 x m5.large not launched: InvalidSubnetID.NotFound: The subnet ID 'subnet-x' does not exist (HTTP 400)");
  capacity_fold_launch(launch, ev);
  json_decref(ev);
  CHECK_STR(launch_status_types(launch, "ce2", "[\"m5.xlarge\"]", &why), "VALID");
  CHECK_STR(launch_status_types(launch, "ce2", "[\"c5\", \"m5.large\"]", &why), "INVALID");
  CHECK_STR(launch_status_types(launch, "ce2", "[\"m5\"]", &why), "INVALID");
  CHECK_STR(launch_status_types(launch, "ce2", "[\"m5d\"]", &why), "VALID");
  CHECK_STR(launch_status_types(launch, "ce2", "[\"optimal\"]", &why), "INVALID");
  /* capacity shortages, a Spot price above the bid, throttling and transport errors are EC2's: the CE
   * stays VALID */
  static const char *const ec2s[] = {
      "1 of 1 x m5.large not launched: InsufficientInstanceCapacity: We currently do not have sufficient capacity (HTTP 500)",
      "1 of 1 x m5.large not launched: InsufficientInstanceCapacity: no simulated m5.large capacity",
      "1 of 1 x m5.large not launched: RequestLimitExceeded: Request limit exceeded. (HTTP 400)",
      "1 of 1 x m5.large not launched: SpotMaxPriceTooLow: Your Spot request price of 0.05 is lower than the minimum "
      "required Spot request fulfillment price of 0.061. (HTTP 400)",
      "1 of 1 x m5.large not launched: http://127.0.0.1:1: Couldn't connect to server"};
  for (size_t i = 0; i < sizeof ec2s / sizeof *ec2s; i++) {
    ev = inst_ev("ce3", "LAUNCH_FAILED", 3000 + (int64_t)i, ec2s[i]);
    capacity_fold_launch(launch, ev);
    json_decref(ev);
    CHECK_STR(launch_status(launch, "ce3", &why), "VALID");
  }
  /* an account limit is the account's: INVALID, as AWS Batch shows it */
  ev = inst_ev("ce3", "LAUNCH_FAILED", 4000,
               "1 of 1 x m5.large not launched: VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit of 0 allows (HTTP 400)");
  capacity_fold_launch(launch, ev);
  json_decref(ev);
  CHECK_STR(launch_status(launch, "ce3", &why), "INVALID");
  CHECK(strstr(why, "VcpuLimitExceeded") != NULL, "%s", why);
  json_decref(launch);
}

static void test_capacity(void) {
  TEST("capacity view: desiredvCpus as decided, live instances per CE");
  json_t *ces = json_pack("[{s:s, s:{s:i}}, {s:s, s:{s:i}}, {s:s}]", "computeEnvironmentName", "m1",
                          "computeResources", "desiredvCpus", 0, "computeEnvironmentName", "m2",
                          "computeResources", "desiredvCpus", 4, "computeEnvironmentName", "local");
  json_t *desired = json_pack("{s:i, s:i}", "m1", 16, "local", 8);
  capacity_view_set_desired(ces, desired);
  CHECK_INT(jget_int(json_object_get(json_array_get(ces, 0), "computeResources"), "desiredvCpus", -1), 16);
  CHECK_INT(jget_int(json_object_get(json_array_get(ces, 1), "computeResources"), "desiredvCpus", -1), 4);
  CHECK(!json_object_get(json_array_get(ces, 2), "computeResources"), "an unmanaged CE gets no computeResources");
  json_t *latest = json_pack("{s:{s:s, s:s, s:s, s:i, s:i, s:i}, s:{s:s, s:s}, s:{s:s, s:s}}",
                             "i-1", "computeEnvironment", "m1", "kind", "READY", "instanceType", "m5.large", "vcpus", 2,
                             "memoryMib", 8192, "gpus", 0,
                             "i-2", "computeEnvironment", "m1", "kind", "TERMINATED",
                             "i-3", "computeEnvironment", "local", "kind", "HEARTBEAT");
  capacity_view_set_instances(ces, latest);
  json_t *m1 = json_object_get(json_array_get(ces, 0), "instances");
  CHECK_INT(json_array_size(m1), 1);
  CHECK_STR(jget_str(json_array_get(m1, 0), "instanceId"), "i-1");
  CHECK_STR(jget_str(json_array_get(m1, 0), "instanceType"), "m5.large");
  CHECK_INT(jget_int(json_array_get(m1, 0), "memoryMib", 0), 8192);
  CHECK_INT(json_array_size(json_object_get(json_array_get(ces, 1), "instances")), 0);
  json_t *local = json_object_get(json_array_get(ces, 2), "instances");
  CHECK_INT(json_array_size(local), 1);
  CHECK_STR(jget_str(json_array_get(local, 0), "state"), "HEARTBEAT");
  json_decref(latest);
  json_decref(desired);
  json_decref(ces);
}

/* `barge instances`' table: a compute environment name longer than the header (AWS allows 128
 * characters) pushed every later column of its row out of line. Each column now takes its widest
 * value: every value starts where its header does. */
static void test_instances_table(void) {
  TEST("barge instances: every column lines up under its header, whatever the lengths");
  json_t *rows = json_pack("[{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:[s]},"
                           " {s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:[]}]",
                           "instanceId", "i-0123456789abcdef0", "computeEnvironment", "spot-ce-us-east-1-gpu-training-large",
                           "instanceType", "p4de.24xlarge", "lifecycle", "SPOT", "state", "launch-failed", "vcpus", 96,
                           "memoryMib", 1179648, "gpus", 8, "runningJobs", "job-1",
                           "instanceId", "i-1", "computeEnvironment", "ce", "instanceType", "m5.large", "lifecycle",
                           "ON_DEMAND", "state", "ready", "vcpus", 2, "memoryMib", 8192, "gpus", 0, "runningJobs");
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  instances_view_table(rows, f);
  fclose(f);
  char *line[3] = {0};
  int n = 0;
  for (char *p = buf, *save = NULL, *l = strtok_r(p, "\n", &save); l && n < 3; l = strtok_r(NULL, "\n", &save))
    line[n++] = l;
  CHECK(n == 3, "a header and two rows (%d lines)", n);
  static const char *const head[] = {"COMPUTE ENVIRONMENT", "TYPE", "LIFECYCLE", "STATE", "RUNNING JOBS"};
  static const char *const first[] = {"spot-ce-us-east-1-gpu-training-large", "p4de.24xlarge", "SPOT", "launch-failed",
                                      "1: job-1"};
  static const char *const second[] = {"ce ", "m5.large", "ON_DEMAND", "ready", "0"};
  for (size_t c = 0; n == 3 && c < sizeof head / sizeof *head; c++) {
    size_t at = (size_t)(strstr(line[0], head[c]) - line[0]);
    CHECK(strlen(line[1]) > at && !strncmp(line[1] + at, first[c], strlen(first[c])), "row 1: %s under %s: %s",
          first[c], head[c], line[1]);
    CHECK(strlen(line[2]) > at && !strncmp(line[2] + at, second[c], strlen(second[c])), "row 2: %s under %s: %s",
          second[c], head[c], line[2]);
  }
  free(buf);
  json_decref(rows);
}

int main(void) {
  test_instances_table();
  test_list_jobs();
  test_job_definitions();
  test_capacity();
  test_describe_max_results();
  test_describe_list_limit();
  test_describe_jobs_empty_id();
  test_describe_job_queues_type();
  test_ce_health();
  test_ce_launch_error();
  return check_summary();
}
