/* test_api_logs.c: the CloudWatch Logs subset of `barge api` (producers/api/logs_api.c) over an
 * in-memory source: GetLogEvents' tokens (forward, backward, the same token at the end), limits
 * and the 1 MB cap, time windows; FilterLogEvents' patterns and paging across streams;
 * DescribeLogStreams' orders and paging; CloudWatch's error types; and the routing by
 * X-Amz-Target in api_handle (producers/api/http.c). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http.h"
#include "logs_api.h"

/* ---- the fake source: three streams with texts made here ---- */

static const char *names[] = {"many/default/bbbb", "hello/default/aaaa", "big/default/cccc"};
static char *texts[3];
static size_t lens[3];
static int fail_list, fail_read;

static int fake_list(void *ctx, struct logs_streams *out, char *err, size_t errlen) {
  (void)ctx;
  if (fail_list) return snprintf(err, errlen, "Kafka is away"), 500;
  for (int i = 0; i < 3; i++) {
    char job[16], rel[32];
    snprintf(job, sizeof job, "job-%d", i);
    snprintf(rel, sizeof rel, "%s/1.log", job);
    struct logs_stream s = {(char *)names[i], job, 1, rel, NULL, NULL, 1000 + 100 * i, 2000 - 100 * i, NULL};
    if (i == 0) s.group = "/custom/grp"; /* its job definition's logConfiguration names this group */
    logs_streams_add(out, &s);
  }
  return 0;
}

/* The time index of "many" (lines "l0\n".."l9\n", 3 bytes each): l0-l1 by 5000, l2-l4 by 5100,
 * l5 by 4000, which goes back in time and is held at 5100, l6-l9 by 5200. */
static const char *many_times = "6 5000\n15 5100\n20 4000\n30 5200\n";

static int fake_read(void *ctx, const struct logs_stream *s, char **text, size_t *len, char **times, char *err,
                     size_t errlen) {
  (void)ctx;
  *times = NULL;
  if (fail_read) return snprintf(err, errlen, "the agent is gone"), 500;
  for (int i = 0; i < 3; i++)
    if (!strcmp(s->name, names[i])) {
      *text = malloc(lens[i] + 1);
      memcpy(*text, texts[i], lens[i]);
      *len = lens[i];
      if (i == 0 && many_times) *times = strdup(many_times);
      return 0;
    }
  return snprintf(err, errlen, "no text"), 500;
}

static const struct logs_source src = {NULL, fake_list, fake_read, NULL};

/* A source that also finds a stream by name, counting both kinds of calls. */
static int list_calls, find_calls;

static int counting_list(void *ctx, struct logs_streams *out, char *err, size_t errlen) {
  list_calls++;
  return fake_list(ctx, out, err, errlen);
}

static int fake_find(void *ctx, const char *name, struct logs_streams *out, char *err, size_t errlen) {
  find_calls++;
  struct logs_streams all = {0};
  int rc = fake_list(ctx, &all, err, errlen);
  for (size_t i = 0; !rc && i < all.n; i++)
    if (!strcmp(all.v[i].name, name)) logs_streams_add(out, &all.v[i]);
  logs_streams_release(&all);
  return rc;
}

static const struct logs_source finding = {NULL, counting_list, fake_read, fake_find};
static const struct logs_source *cur = &src;

/* Calls action with the JSON text req; returns the status, *resp the answer or the error's
 * {"__type", "message"}. */
static int call(const char *action, const char *req_text, json_t **resp) {
  json_t *req = json_loads(req_text, 0, NULL);
  CHECK(req != NULL, "the test's request parses: %s", req_text);
  const char *type = NULL;
  char msg[1024];
  int st = logs_call(cur, action, req, resp, &type, msg, sizeof msg);
  if (st != 200) *resp = json_pack("{s:s, s:s}", "__type", type ? type : "-", "message", msg);
  json_decref(req);
  return st;
}

static void expect_error(const char *action, const char *req, int status, const char *type) {
  json_t *r;
  CHECK_INT(call(action, req, &r), status);
  CHECK_STR(json_string_value(json_object_get(r, "__type")), type);
  printf("   %s %s -> %d %s: %s\n", action, req, status, type, json_string_value(json_object_get(r, "message")));
  json_decref(r);
}

/* The messages of an answer's events joined by '|'. */
static char *messages(const json_t *r) {
  struct buf b;
  buf_init(&b);
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(r, "events"), i, e) buf_printf(&b, "%s%s", i ? "|" : "", json_string_value(json_object_get(e, "message")));
  buf_append(&b, "", 0);
  return (char *)b.data;
}

/* action on req answers 200 with these messages ('|'-joined). */
static void expect_messages(const char *action, const char *req, const char *want) {
  json_t *r;
  CHECK_INT(call(action, req, &r), 200);
  char *m = messages(r);
  CHECK_STR(m, want);
  free(m);
  json_decref(r);
}

static void get_events(void) {
  json_t *r;
  TEST("GetLogEvents: from the head, the tail, by tokens");
  CHECK_INT(call("GetLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"hello/default/aaaa\", \"startFromHead\": true}", &r), 200);
  char *m = messages(r);
  CHECK_STR(m, "one||thr?e|four");
  free(m);
  CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(r, "events"), 0), "timestamp")), 1100);
  char fwd[64];
  snprintf(fwd, sizeof fwd, "%s", json_string_value(json_object_get(r, "nextForwardToken")));
  json_decref(r);
  char req[512];
  snprintf(req, sizeof req, "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"hello/default/aaaa\", \"nextToken\": \"%s\"}", fwd);
  CHECK_INT(call("GetLogEvents", req, &r), 200);
  CHECK_INT(json_array_size(json_object_get(r, "events")), 0);
  CHECK_STR(json_string_value(json_object_get(r, "nextForwardToken")), fwd); /* the same token at the end */
  json_decref(r);

  CHECK_INT(call("GetLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"many/default/bbbb\", \"limit\": 3}", &r), 200);
  m = messages(r);
  CHECK_STR(m, "l7|l8|l9"); /* the tail */
  free(m);
  char back[64];
  snprintf(back, sizeof back, "%s", json_string_value(json_object_get(r, "nextBackwardToken")));
  json_decref(r);
  snprintf(req, sizeof req, "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"many/default/bbbb\", \"limit\": 3, \"nextToken\": \"%s\"}", back);
  CHECK_INT(call("GetLogEvents", req, &r), 200);
  m = messages(r);
  CHECK_STR(m, "l4|l5|l6");
  free(m);
  json_decref(r);

  TEST("GetLogEvents: lines dated by the log's time index; startTime/endTime select by them");
  CHECK_INT(call("GetLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"many/default/bbbb\", \"startFromHead\": true}", &r), 200);
  static const int64_t want_ts[] = {5000, 5000, 5100, 5100, 5100, 5100, 5200, 5200, 5200, 5200};
  for (size_t i = 0; i < 10; i++)
    CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(r, "events"), i), "timestamp")), want_ts[i]);
  json_decref(r);
  expect_messages("GetLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"many/default/bbbb\", \"startFromHead\": true, \"startTime\": 5100}", "l2|l3|l4|l5|l6|l7|l8|l9");
  expect_messages("GetLogEvents", "{\"logGroupName\": \"arn:aws:logs:us-east-1:1:log-group:/aws/batch/job:*\", \"logStreamName\": \"many/default/bbbb\", \"startTime\": 5000, \"endTime\": 5200}", "l0|l1|l2|l3|l4|l5");
  expect_messages("FilterLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"filterPattern\": \"l\", \"startTime\": 5050, \"endTime\": 5150}", "l2|l3|l4|l5");
  many_times = "6 5000\n15 51"; /* cut while the agent wrote it: the rest carries the last time */
  CHECK_INT(call("GetLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"many/default/bbbb\", \"limit\": 1}", &r), 200);
  CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(r, "events"), 0), "timestamp")), 5000);
  json_decref(r);
  many_times = NULL; /* no index: the attempt's startedAt */
  CHECK_INT(call("GetLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"many/default/bbbb\", \"limit\": 1}", &r), 200);
  CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(r, "events"), 0), "timestamp")), 1000);
  json_decref(r);
  many_times = "6 5000\n15 5100\n20 4000\n30 5200\n";

  TEST("GetLogEvents: at most 1 MB of events a page; walking forward still gets every line");
  size_t total = 0, pages = 0, first = 0;
  snprintf(req, sizeof req, "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"big/default/cccc\", \"startFromHead\": true}");
  for (;;) {
    CHECK_INT(call("GetLogEvents", req, &r), 200);
    size_t n = json_array_size(json_object_get(r, "events"));
    if (!pages) first = n;
    total += n;
    pages++;
    const char *t = json_string_value(json_object_get(r, "nextForwardToken"));
    int same = strstr(req, t) != NULL;
    snprintf(req, sizeof req, "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"big/default/cccc\", \"nextToken\": \"%s\"}", t);
    json_decref(r);
    if (same || pages > 10) break;
  }
  CHECK(first > 0 && first * (1000 + LOGS_EVENT_OVERHEAD) <= LOGS_MAX_RESPONSE_BYTES, "first page %zu events", first);
  CHECK_INT(total, 3000);
  printf("   3000 lines of 1000 bytes: %zu in the first page, %zu calls\n", first, pages);
}

static void filter_and_describe(void) {
  json_t *r;
  TEST("FilterLogEvents: patterns, paging across streams");
  CHECK_INT(call("FilterLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"filterPattern\": \"l ?1 ?9 -l9\"}", &r), 200);
  char *m = messages(r);
  CHECK_STR(m, "l1");
  free(m);
  json_decref(r);
  CHECK_INT(call("FilterLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"filterPattern\": \"o\", \"limit\": 1}", &r), 200);
  m = messages(r);
  CHECK_STR(m, "one"); /* big/ first by name, but none of its lines has an "o" */
  free(m);
  const char *tok = json_string_value(json_object_get(r, "nextToken"));
  CHECK(tok != NULL, "a full page has a nextToken");
  char req[512];
  snprintf(req, sizeof req, "{\"logGroupName\": \"/aws/batch/job\", \"filterPattern\": \"o\", \"nextToken\": \"%s\"}", tok ? tok : "");
  json_decref(r);
  CHECK_INT(call("FilterLogEvents", req, &r), 200);
  m = messages(r);
  CHECK_STR(m, "four");
  free(m);
  CHECK(!json_object_get(r, "nextToken"), "the last page has no nextToken");
  json_decref(r);
  expect_messages("FilterLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamNames\": [\"many/default/bbbb\"], \"filterPattern\": \"\\\"l1\\\"\"}", "l1");
  expect_error("FilterLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"filterPattern\": \"{ $.x = 1 }\"}", 400, "InvalidParameterException");
  expect_error("FilterLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamNames\": [\"a\"], \"logStreamNamePrefix\": \"a\"}", 400, "InvalidParameterException");

  TEST("DescribeLogStreams: by name, by last event time, paged");
  CHECK_INT(call("DescribeLogStreams", "{\"logGroupName\": \"/aws/batch/job\", \"limit\": 2}", &r), 200);
  json_t *ls = json_object_get(r, "logStreams");
  CHECK_INT(json_array_size(ls), 2);
  CHECK_STR(json_string_value(json_object_get(json_array_get(ls, 0), "logStreamName")), "big/default/cccc");
  snprintf(req, sizeof req, "{\"logGroupName\": \"/aws/batch/job\", \"limit\": 2, \"nextToken\": \"%s\"}",
           json_string_value(json_object_get(r, "nextToken")));
  json_decref(r);
  CHECK_INT(call("DescribeLogStreams", req, &r), 200);
  ls = json_object_get(r, "logStreams");
  CHECK_INT(json_array_size(ls), 1);
  CHECK_STR(json_string_value(json_object_get(json_array_get(ls, 0), "logStreamName")), "many/default/bbbb");
  CHECK(!json_object_get(r, "nextToken"), "no nextToken after the last page");
  json_decref(r);
  CHECK_INT(call("DescribeLogStreams", "{\"logGroupName\": \"/aws/batch/job\", \"orderBy\": \"LastEventTime\", \"descending\": true}", &r), 200);
  ls = json_object_get(r, "logStreams");
  CHECK_STR(json_string_value(json_object_get(json_array_get(ls, 0), "logStreamName")), "many/default/bbbb");
  CHECK_STR(json_string_value(json_object_get(json_array_get(ls, 2), "logStreamName")), "big/default/cccc");
  json_decref(r);
  expect_error("DescribeLogStreams", "{\"logGroupName\": \"/aws/batch/job\", \"limit\": 51}", 400, "InvalidParameterException");
}

/* A job definition's logConfiguration {logDriver: awslogs, options: {awslogs-group: G}}: AWS
 * writes the job's log to G, and Airflow's BatchOperator and Nextflow (aws.batch.logsGroup) read
 * it from G; Barge answered "The specified log group does not exist." */
static void custom_group(void) {
  TEST("a stream whose job names another log group (awslogs-group) is found in that group too");
  json_t *r;
  CHECK_INT(call("GetLogEvents", "{\"logGroupName\": \"/custom/grp\", \"logStreamName\": \"many/default/bbbb\", \"startFromHead\": true, \"limit\": 2}", &r), 200);
  CHECK_INT(json_array_size(json_object_get(r, "events")), 2);
  json_decref(r);
  CHECK_INT(call("GetLogEvents", "{\"logGroupName\": \"arn:aws:logs:us-east-1:000000000000:log-group:/custom/grp:*\", \"logStreamName\": \"many/default/bbbb\", \"limit\": 1}", &r), 200);
  json_decref(r);
  /* still in /aws/batch/job, as before */
  CHECK_INT(call("GetLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"many/default/bbbb\", \"limit\": 1}", &r), 200);
  json_decref(r);
  /* a stream of another group is not in this one; a group no job names does not exist */
  expect_error("GetLogEvents", "{\"logGroupName\": \"/custom/grp\", \"logStreamName\": \"hello/default/aaaa\"}", 400, "ResourceNotFoundException");
  expect_error("DescribeLogStreams", "{\"logGroupName\": \"/nope\"}", 400, "ResourceNotFoundException");
  expect_error("FilterLogEvents", "{\"logGroupName\": \"/nope\"}", 400, "ResourceNotFoundException");
  CHECK_INT(call("DescribeLogStreams", "{\"logGroupName\": \"/custom/grp\"}", &r), 200);
  json_t *ls = json_object_get(r, "logStreams");
  CHECK_INT(json_array_size(ls), 1);
  CHECK_STR(json_string_value(json_object_get(json_array_get(ls, 0), "logStreamName")), "many/default/bbbb");
  CHECK(strstr(json_string_value(json_object_get(json_array_get(ls, 0), "arn")), ":log-group:/custom/grp:log-stream:many/default/bbbb") != NULL,
        "its ARN names the group: %s", json_string_value(json_object_get(json_array_get(ls, 0), "arn")));
  json_decref(r);
  CHECK_INT(call("FilterLogEvents", "{\"logGroupName\": \"/custom/grp\", \"filterPattern\": \"l1\"}", &r), 200);
  json_t *ev = json_object_get(r, "events");
  CHECK(json_array_size(ev) == 1 && !strcmp(json_string_value(json_object_get(json_array_get(ev, 0), "logStreamName")), "many/default/bbbb"),
        "FilterLogEvents over the group: the one line of its one stream (%zu events)", json_array_size(ev));
  json_decref(r);
}

static void errors(void) {
  TEST("CloudWatch's errors");
  expect_error("GetLogEvents", "{\"logGroupName\": \"/aws/batch/other\", \"logStreamName\": \"x\"}", 400, "ResourceNotFoundException");
  expect_error("GetLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"x\"}", 400, "ResourceNotFoundException");
  expect_error("GetLogEvents", "{\"logGroupName\": \"/aws/batch/job\"}", 400, "InvalidParameterException");
  expect_error("GetLogEvents", "{\"logStreamName\": \"x\"}", 400, "InvalidParameterException");
  expect_error("GetLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"hello/default/aaaa\", \"limit\": 0}", 400, "InvalidParameterException");
  expect_error("GetLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"hello/default/aaaa\", \"limit\": \"5\"}", 400, "InvalidParameterException");
  expect_error("GetLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"hello/default/aaaa\", \"nextToken\": \"x/1\"}", 400, "InvalidParameterException");
  expect_error("PutLogEvents", "{}", 400, "UnknownOperationException");
  fail_read = 1;
  expect_error("GetLogEvents", "{\"logGroupName\": \"/aws/batch/job\", \"logStreamName\": \"hello/default/aaaa\"}", 500, "ServiceUnavailableException");
  fail_read = 0;
  fail_list = 1;
  expect_error("DescribeLogStreams", "{\"logGroupName\": \"/aws/batch/job\"}", 500, "ServiceUnavailableException");
  fail_list = 0;
}

static void routing(void) {
  TEST("api_handle: X-Amz-Target Logs_20140328.* goes to the logs, typed x-amz-json-1.1");
  struct api_conf conf = {.allow_anonymous = 1, .ops = &api_ops_unwired, .logs = &src};
  struct sigv4_header h[] = {{"Host", "127.0.0.1"}, {"X-Amz-Target", "Logs_20140328.DescribeLogStreams"}};
  const char *body = "{\"logGroupName\": \"/aws/batch/job\"}";
  struct api_http_request rq = {"POST", "/", h, 2, body, strlen(body), 0};
  struct api_http_response r;
  api_handle(&conf, &rq, &r);
  CHECK_INT(r.status, 200);
  CHECK_STR(r.content_type, "application/x-amz-json-1.1");
  CHECK(r.body && strstr(r.body, "hello/default/aaaa"), "the streams are listed: %s", r.body ? r.body : "-");
  api_http_response_release(&r);
  rq.body = "[1]";
  rq.body_len = 3;
  api_handle(&conf, &rq, &r);
  CHECK_INT(r.status, 400);
  CHECK_STR(r.error_type, "SerializationException");
  api_http_response_release(&r);
  rq.method = "GET";
  api_handle(&conf, &rq, &r);
  CHECK_INT(r.status, 404);
  api_http_response_release(&r);
  conf.logs = NULL;
  rq.method = "POST";
  rq.body = body;
  rq.body_len = strlen(body);
  api_handle(&conf, &rq, &r);
  CHECK_INT(r.status, 500);
  CHECK_STR(r.error_type, "ServiceUnavailableException");
  api_http_response_release(&r);
  struct sigv4_header other[] = {{"Host", "127.0.0.1"}, {"X-Amz-Target", "DynamoDB_20120810.ListTables"}};
  rq.headers = other;
  api_handle(&conf, &rq, &r);
  CHECK_INT(r.status, 404); /* not Logs: the Batch routes, where POST / is no operation */
  CHECK_STR(r.error_type, "UnknownOperationException");
  api_http_response_release(&r);
}

static void by_name(void) {
  TEST("a source that finds streams by name: GetLogEvents and FilterLogEvents of named streams never list");
  cur = &finding;
  json_t *r;
  CHECK_INT(call("GetLogEvents", "{\"logGroupName\":\"/aws/batch/job\",\"logStreamName\":\"hello/default/aaaa\","
                 "\"startFromHead\":true}", &r), 200);
  CHECK_INT(json_array_size(json_object_get(r, "events")), 4);
  json_decref(r);
  expect_error("GetLogEvents", "{\"logGroupName\":\"/aws/batch/job\",\"logStreamName\":\"nope/default/x\"}", 400,
               "ResourceNotFoundException");
  CHECK_INT(call("FilterLogEvents", "{\"logGroupName\":\"/aws/batch/job\",\"logStreamNames\":[\"many/default/bbbb\","
                 "\"hello/default/aaaa\",\"many/default/bbbb\",\"nope/default/x\"],\"filterPattern\":\"l1\"}", &r), 200);
  CHECK_INT(json_array_size(json_object_get(r, "events")), 1);
  CHECK_INT(json_array_size(json_object_get(r, "searchedLogStreams")), 2);
  json_decref(r);
  CHECK(list_calls == 0 && find_calls == 5, "found by name: %d finds (a repeated name once), %d listings", find_calls,
        list_calls);
  CHECK_INT(call("DescribeLogStreams", "{\"logGroupName\":\"/aws/batch/job\"}", &r), 200);
  CHECK_INT(json_array_size(json_object_get(r, "logStreams")), 3);
  json_decref(r);
  CHECK_INT(call("FilterLogEvents", "{\"logGroupName\":\"/aws/batch/job\",\"logStreamNamePrefix\":\"h\"}", &r), 200);
  json_decref(r);
  CHECK(list_calls == 2 && find_calls == 5, "DescribeLogStreams and a prefix list (%d)", list_calls);
  cur = &src;
}

int main(void) {
  texts[1] = "one\n\nthr\xff" "e\nfour";
  lens[1] = strlen(texts[1]);
  struct buf b;
  buf_init(&b);
  for (int i = 0; i < 10; i++) buf_printf(&b, "l%d\n", i);
  texts[0] = (char *)b.data;
  lens[0] = b.len;
  struct buf big;
  buf_init(&big);
  char line[1001];
  memset(line, 'x', 1000);
  line[1000] = '\n';
  for (int i = 0; i < 3000; i++) buf_append(&big, line, sizeof line);
  texts[2] = (char *)big.data;
  lens[2] = big.len;
  get_events();
  filter_and_describe();
  errors();
  custom_group();
  routing();
  by_name();
  buf_release(&b);
  buf_release(&big);
  return check_summary();
}
