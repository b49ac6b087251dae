/* test_api_http.c: the request path of `barge api` without sockets (api_handle in
 * producers/api/http.c): routing by the botocore model, members bound to the path and query,
 * the AWS error shapes, read-only keys, the body limit, SigV4 on and off. A fake dispatch
 * records what reached it. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http.h"
#include "routes.h"

static char last_op[64];
static json_t *last_req;

static int fake_call(void *ctx, const struct api_principal *who, const char *operation, const json_t *req,
                     json_t **resp, char *err, size_t errlen) {
  (void)ctx;
  (void)who;
  snprintf(last_op, sizeof last_op, "%s", operation);
  json_decref(last_req);
  last_req = json_deep_copy(req);
  if (json_object_get(req, "fail400")) return snprintf(err, errlen, "jobQueue is wrong"), 400;
  if (json_object_get(req, "fail500")) return snprintf(err, errlen, "Kafka is away"), 500;
  *resp = json_pack("{s:s}", "jobQueues", "ok");
  return 0;
}
static const struct api_ops fake_ops = {NULL, fake_call};

static int64_t fixed_clock(void) { return 1440938160000LL; }
static int64_t fixed_mono(void) { return 5000000; }

static json_t *handle(const struct api_conf *conf, const char *method, const char *uri, const char *body,
                      struct api_http_response *r) {
  struct sigv4_header h[] = {{"Host", "127.0.0.1:8780"}, {"Content-Type", "application/json"}};
  struct api_http_request rq = {method, uri, h, 2, body, body ? strlen(body) : 0, 0};
  api_handle(conf, &rq, r);
  CHECK(strlen(r->request_id) == 36 && r->request_id[14] == '4', "%s %s: a UUID v4 request id", method, uri);
  json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
  CHECK(j != NULL, "%s %s: the answer is JSON", method, uri);
  return j;
}

static void expect_error(const struct api_conf *conf, const char *method, const char *uri, const char *body,
                         int status, const char *type, const char *msg_part) {
  struct api_http_response r;
  json_t *j = handle(conf, method, uri, body, &r);
  CHECK_INT(r.status, status);
  CHECK(r.error_type && !strcmp(r.error_type, type), "%s %s: x-amzn-ErrorType %s", method, uri,
        r.error_type ? r.error_type : "-");
  CHECK_STR(json_string_value(json_object_get(j, "__type")), type);
  const char *m = json_string_value(json_object_get(j, "message"));
  CHECK(m && strstr(m, msg_part), "%s %s: message '%s' lacks '%s'", method, uri, m ? m : "-", msg_part);
  printf("   %s %s -> %d %s: %s\n", method, uri, r.status, type, m ? m : "-");
  json_decref(j);
  api_http_response_release(&r);
}

int main(void) {
  struct api_conf anon = {.allow_anonymous = 1, .ops = &fake_ops, .max_body_bytes = 64};

  TEST("the route table comes from the botocore model");
  {
    printf("   %zu routes from %s\n", api_routes_count, api_routes_model);
    CHECK(api_routes_count >= 25, "at least the 25 operations Barge knows");
    const char *label;
    size_t n;
    const struct api_route *r = api_route_find("POST", "/v1/submitjob", &label, &n);
    CHECK(r && !strcmp(r->operation, "SubmitJob") && !r->read_only, "POST /v1/submitjob is SubmitJob, a write");
    r = api_route_find("POST", "/v1/describejobs", &label, &n);
    CHECK(r && !strcmp(r->operation, "DescribeJobs") && r->read_only, "DescribeJobs is a read");
    r = api_route_find("GET", "/v1/tags/arn%3Ax", &label, &n);
    CHECK(r && !strcmp(r->operation, "ListTagsForResource") && n == 7, "GET /v1/tags/{arn} is ListTagsForResource");
    CHECK(api_route_find("GET", "/v1/submitjob", &label, &n) == NULL, "GET /v1/submitjob is no route");
    CHECK(api_route_find("POST", "/v1/tags/", &label, &n) == NULL, "an empty label is no route");
  }

  TEST("requests reach the dispatch with the path and query members bound");
  {
    struct api_http_response r;
    json_t *j = handle(&anon, "POST", "/v1/describejobqueues", "{\"maxResults\": 5}", &r);
    CHECK_INT(r.status, 200);
    CHECK(r.error_type == NULL, "no error type");
    CHECK_STR(last_op, "DescribeJobQueues");
    CHECK_INT(json_integer_value(json_object_get(last_req, "maxResults")), 5);
    CHECK_STR(json_string_value(json_object_get(j, "jobQueues")), "ok");
    json_decref(j);
    api_http_response_release(&r);

    j = handle(&anon, "POST", "/v1/describejobqueues", NULL, &r);
    CHECK(r.status == 200 && json_object_size(last_req) == 0, "an empty body is {}");
    json_decref(j);
    api_http_response_release(&r);

    j = handle(&anon, "DELETE", "/v1/tags/arn%3Aaws%3Abatch%3Aus-east-1%3A123456789012%3Ajob-queue%2Fq?tagKeys=a&tagKeys=b%20c&x=y",
               NULL, &r);
    CHECK_STR(last_op, "UntagResource");
    CHECK_STR(json_string_value(json_object_get(last_req, "resourceArn")), "arn:aws:batch:us-east-1:123456789012:job-queue/q");
    json_t *keys = json_object_get(last_req, "tagKeys");
    CHECK(json_array_size(keys) == 2 && !strcmp(json_string_value(json_array_get(keys, 1)), "b c"),
          "tagKeys from the repeated query parameter");
    json_decref(j);
    api_http_response_release(&r);
  }

  TEST("errors have AWS's shape");
  expect_error(&anon, "POST", "/v1/describejobqueues", "{\"maxResults\": ", 400, "ClientException", "not valid JSON");
  expect_error(&anon, "POST", "/v1/describejobqueues", "[1, 2]", 400, "ClientException", "must be a JSON object");
  expect_error(&anon, "POST", "/v1/nosuchthing", "{}", 404, "UnknownOperationException", "POST /v1/nosuchthing");
  /* a path that is not UTF-8 is quoted with '?' for what is not: the answer keeps AWS's shape
   * (found by tests/fuzz/fuzz_api_request) */
  expect_error(&anon, "POST", "/v1/x\xc4y\xe2\x82", "{}", 404, "UnknownOperationException", "POST /v1/x?y??");
  expect_error(&anon, "POST", "/v1/submitjob", "{\"fail400\": 1}", 400, "ClientException", "jobQueue is wrong");
  expect_error(&anon, "POST", "/v1/submitjob", "{\"fail500\": 1}", 500, "ServerException", "Kafka is away");
  {
    struct api_http_request rq = {"POST", "/v1/submitjob", NULL, 0, NULL, 0, 1};
    struct api_http_response r;
    api_handle(&anon, &rq, &r);
    CHECK_INT(r.status, 413);
    CHECK(strstr(r.body, "limit of 64 bytes") && !strcmp(r.error_type, "ClientException"), "413: %s", r.body);
    api_http_response_release(&r);
  }
  struct api_conf unwired = {.allow_anonymous = 1, .ops = &api_ops_unwired};
  expect_error(&unwired, "POST", "/v1/submitjob", "{}", 500, "ServerException", "not wired");

  TEST("SigV4 is required unless anonymous access is allowed; read-only keys cannot write");
  {
    struct api_credentials creds;
    char err[256];
    int rc = api_credentials_parse("[ro]\naws_access_key_id = AKIDEXAMPLE\n"
                                   "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n"
                                   "barge_role = read-only\nbarge_account_id = 123456789012\n",
                                   "t", &creds, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    struct api_conf sig = {.creds = &creds, .region = "us-east-1", .ops = &fake_ops, .clock_ms = fixed_clock};
    expect_error(&sig, "POST", "/v1/describejobqueues", "{}", 403, "MissingAuthenticationTokenException",
                 "Missing Authentication Token");
    /* a request signed as botocore signs it, replayed through the handler */
    struct sigv4_header h[] = {
        {"Host", "127.0.0.1:8780"},
        {"Content-Type", "application/json"},
        {"X-Amz-Date", "20150830T123600Z"},
        {"Authorization",
         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/batch/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-date, "
         "Signature=959c0dbc26588b17e1edf59734974f6bb738231abcc00752773e44f16014488c"}};
    const char *body = "{\"tags\":{\"a\":\"b\"}}";
    struct api_http_request rq = {"POST", "/v1/tags/arn%3Aaws%3Abatch%3Aus-east-1%3A123456789012%3Ajob-queue%2Fq",
                                  h, 4, body, strlen(body), 0};
    struct api_http_response r;
    api_handle(&sig, &rq, &r);
    CHECK_INT(r.status, 403);
    CHECK(r.error_type && !strcmp(r.error_type, "AccessDeniedException"), "read-only TagResource: %s", r.body);
    CHECK(strstr(r.body, "arn:aws:iam::123456789012:user/ro is not authorized to perform: batch:TagResource") != NULL,
          "%s", r.body);
    printf("   read-only TagResource -> %d %s\n", r.status, r.body);
    api_http_response_release(&r);
    rq.body = "{\"tags\":{\"a\":\"c\"}}";
    api_handle(&sig, &rq, &r);
    CHECK(r.status == 403 && !strcmp(r.error_type, "InvalidSignatureException"), "tampered body: %s", r.body);
    api_http_response_release(&r);
    api_credentials_release(&creds);
  }

  TEST("--rate-limit: a token bucket per access key; over it 429 TooManyRequestsException, the operation not run");
  {
    struct api_credentials creds = {0};
    char err[256];
    int rc = api_credentials_parse("[a]\naws_access_key_id = AKA\naws_secret_access_key = s\n"
                                   "[b]\naws_access_key_id = AKB\naws_secret_access_key = t\n",
                                   "test", &creds, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    struct api_ratelimit *l = api_ratelimit_new(2, 3, &creds);
    const struct api_credential *a = &creds.keys[0], *b = &creds.keys[1];
    int64_t t = 1000000;
    CHECK(api_ratelimit_take(l, a, t) && api_ratelimit_take(l, a, t) && api_ratelimit_take(l, a, t),
          "a burst of 3 passes");
    CHECK(!api_ratelimit_take(l, a, t), "the 4th at once is refused");
    CHECK(api_ratelimit_take(l, b, t), "another key has its own bucket");
    CHECK(api_ratelimit_take(l, NULL, t), "anonymous requests have theirs");
    CHECK(!api_ratelimit_take(l, a, t + 400000), "0.4 s at 2/s refills less than a token");
    CHECK(api_ratelimit_take(l, a, t + 500000), "0.5 s refills one");
    CHECK(!api_ratelimit_take(l, a, t + 500000), "and only one");
    int n = 0;
    for (int i = 0; i < 10; i++) n += api_ratelimit_take(l, a, t + 60000000);
    CHECK_INT(n, 3); /* a long pause refills up to the burst, no more */
    api_ratelimit_free(l);

    struct api_ratelimit *anon_l = api_ratelimit_new(1, 1, NULL);
    struct api_conf limited = {.allow_anonymous = 1, .ops = &fake_ops, .limiter = anon_l, .mono_us = fixed_mono};
    struct api_http_response r;
    json_t *j = handle(&limited, "POST", "/v1/describejobqueues", "{}", &r);
    CHECK_INT(r.status, 200);
    json_decref(j);
    api_http_response_release(&r);
    last_op[0] = 0;
    expect_error(&limited, "POST", "/v1/submitjob", "{\"jobName\":\"x\"}", 429, "TooManyRequestsException",
                 "Too Many Requests");
    CHECK_STR(last_op, ""); /* the refused request reached no operation: nothing written */
    api_ratelimit_free(anon_l);
    api_credentials_release(&creds);
  }
  json_decref(last_req);
  return check_summary();
}
