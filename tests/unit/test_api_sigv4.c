/* test_api_sigv4.c: server-side SigV4 verification (producers/api/sigv4_verify.c).
 *
 * The published aws-sig-v4-test-suite vectors (credentials AKIDEXAMPLE, 20150830T123600Z,
 * us-east-1, service "service", host example.amazonaws.com) must verify as received; two
 * requests as botocore 1.43.11 signs Batch's tagging paths check the double-encoded path and
 * a repeated query parameter; then each way of failing must be refused with its AWS error. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "credentials.h"
#include "sigv4_verify.h"

#define SUITE_DATE "20150830T123600Z"
#define SUITE_MS 1440938160000LL /* 2015-08-30T12:36:00Z */
#define SUITE_SCOPE "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static struct api_credentials creds;

static void load_creds(const char *text) {
  char err[256];
  api_credentials_release(&creds);
  int rc = api_credentials_parse(text, "test", &creds, err, sizeof err);
  CHECK(rc == 0, "credentials: %s", err);
}

static char auth_buf[512];
static const char *suite_auth(const char *signed_headers, const char *sig) {
  snprintf(auth_buf, sizeof auth_buf, "AWS4-HMAC-SHA256 Credential=" SUITE_SCOPE ", SignedHeaders=%s, Signature=%s",
           signed_headers, sig);
  return auth_buf;
}

static enum sigv4_outcome verify(const char *method, const char *path, const char *query, const struct sigv4_header *h,
                                 size_t nh, const char *body, const char *region, const char *service, int64_t now,
                                 struct sigv4_verdict *v) {
  struct sigv4_request rq = {method, path, query, h, nh, body, body ? strlen(body) : 0};
  return sigv4_verify(&rq, &creds, region, service, now, v);
}

static void expect(const char *what, enum sigv4_outcome got, const struct sigv4_verdict *v, enum sigv4_outcome want,
                   const char *type, const char *msg_prefix) {
  CHECK(got == want, "%s: outcome %d, want %d (%s)", what, got, want, v->message);
  if (type) CHECK(v->error_type && !strcmp(v->error_type, type), "%s: type %s", what, v->error_type ? v->error_type : "-");
  if (type) CHECK(v->http_status == 403, "%s: status %d", what, v->http_status);
  if (msg_prefix)
    CHECK(!strncmp(v->message, msg_prefix, strlen(msg_prefix)), "%s: message '%s'", what, v->message);
  printf("   %s -> %s %s\n", what, v->error_type ? v->error_type : "OK", v->message);
}

int main(void) {
  struct sigv4_verdict v;
  load_creds("[suite]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = " SUITE_SECRET "\n");

  TEST("the published aws-sig-v4-test-suite vectors verify");
  {
    struct sigv4_header h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", SUITE_DATE},
                               {"Authorization", suite_auth("host;x-amz-date",
                                                            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")}};
    expect("get-vanilla", verify("GET", "/", NULL, h, 3, NULL, "us-east-1", "service", SUITE_MS, &v), &v, SIGV4_OK,
           NULL, NULL);
    h[2].value = suite_auth("host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
    expect("get-vanilla-query-order-key-case",
           verify("GET", "/", "Param2=value2&Param1=value1", h, 3, NULL, "us-east-1", "service", SUITE_MS, &v), &v,
           SIGV4_OK, NULL, NULL);
    h[2].value = suite_auth("host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
    expect("post-vanilla", verify("POST", "/", NULL, h, 3, NULL, "us-east-1", "service", SUITE_MS, &v), &v, SIGV4_OK,
           NULL, NULL);
    /* the server's clock may be up to 15 minutes either way */
    expect("post-vanilla, server clock 14 min later",
           verify("POST", "/", NULL, h, 3, NULL, "us-east-1", "service", SUITE_MS + 14 * 60000, &v), &v, SIGV4_OK,
           NULL, NULL);
    struct sigv4_header f[] = {{"Content-Type", "application/x-www-form-urlencoded"},
                               {"Host", "example.amazonaws.com"},
                               {"X-Amz-Date", SUITE_DATE},
                               {"Authorization", suite_auth("content-type;host;x-amz-date",
                                                            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")}};
    expect("post-x-www-form-urlencoded",
           verify("POST", "/", NULL, f, 4, "Param1=value1", "us-east-1", "service", SUITE_MS, &v), &v, SIGV4_OK,
           NULL, NULL);
    /* values are trimmed and inner runs of spaces collapsed */
    struct sigv4_header t[] = {{"Host", "example.amazonaws.com"},
                               {"My-Header1", " value1"},
                               {"My-Header2", "\"a   b   c\""},
                               {"X-Amz-Date", SUITE_DATE},
                               {"Authorization", suite_auth("host;my-header1;my-header2;x-amz-date",
                                                            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")}};
    expect("get-header-value-trim", verify("GET", "/", NULL, t, 5, NULL, "us-east-1", "service", SUITE_MS, &v), &v,
           SIGV4_OK, NULL, NULL);
  }

  TEST("Batch tagging paths as botocore signs them (path encoded twice, repeated query keys)");
  {
    const char *arn_path = "/v1/tags/arn%3Aaws%3Abatch%3Aus-east-1%3A123456789012%3Ajob-queue%2Fq";
    struct sigv4_header h[] = {
        {"Host", "127.0.0.1:8780"},
        {"Content-Type", "application/json"},
        {"X-Amz-Date", SUITE_DATE},
        {"Authorization",
         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/batch/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-date, "
         "Signature=959c0dbc26588b17e1edf59734974f6bb738231abcc00752773e44f16014488c"}};
    expect("TagResource", verify("POST", arn_path, NULL, h, 4, "{\"tags\":{\"a\":\"b\"}}", "us-east-1", "batch", SUITE_MS, &v),
           &v, SIGV4_OK, NULL, NULL);
    struct sigv4_header d[] = {{"Host", "127.0.0.1:8780"},
                               {"X-Amz-Date", SUITE_DATE},
                               {"Authorization",
                                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/batch/aws4_request, "
                                "SignedHeaders=host;x-amz-date, "
                                "Signature=f30856874998141d618fd30d4b483cbe25ea60164f26c010e17be169bd121696"}};
    expect("UntagResource", verify("DELETE", arn_path, "tagKeys=a&tagKeys=b%20c", d, 3, NULL, "us-east-1", "batch",
                                   SUITE_MS, &v),
           &v, SIGV4_OK, NULL, NULL);
    expect("UntagResource with a changed query",
           verify("DELETE", arn_path, "tagKeys=a", d, 3, NULL, "us-east-1", "batch", SUITE_MS, &v), &v, SIGV4_MISMATCH,
           "InvalidSignatureException", "The request signature we calculated does not match");
  }

  TEST("each failure is refused with its AWS error");
  {
    struct sigv4_header f[] = {{"Content-Type", "application/x-www-form-urlencoded"},
                               {"Host", "example.amazonaws.com"},
                               {"X-Amz-Date", SUITE_DATE},
                               {"Authorization", suite_auth("content-type;host;x-amz-date",
                                                            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")}};
    expect("tampered body", verify("POST", "/", NULL, f, 4, "Param1=value2", "us-east-1", "service", SUITE_MS, &v), &v,
           SIGV4_MISMATCH, "InvalidSignatureException",
           "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
           "Access Key and signing method.");
    expect("missing Authorization header",
           verify("POST", "/", NULL, f, 3, "Param1=value1", "us-east-1", "service", SUITE_MS, &v), &v, SIGV4_MISSING,
           "MissingAuthenticationTokenException", "Missing Authentication Token");
    expect("stale date (16 minutes)",
           verify("POST", "/", NULL, f, 4, "Param1=value1", "us-east-1", "service", SUITE_MS + 16 * 60000, &v), &v,
           SIGV4_EXPIRED, "InvalidSignatureException",
           "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)");
    expect("date in the future (16 minutes)",
           verify("POST", "/", NULL, f, 4, "Param1=value1", "us-east-1", "service", SUITE_MS - 16 * 60000, &v), &v,
           SIGV4_EXPIRED, "InvalidSignatureException", "Signature not yet current: 20150830T123600Z is still later than");
    expect("another region", verify("POST", "/", NULL, f, 4, "Param1=value1", "eu-west-1", "service", SUITE_MS, &v), &v,
           SIGV4_BAD_SCOPE, "InvalidSignatureException", "Credential should be scoped to a valid region");
    expect("another service", verify("POST", "/", NULL, f, 4, "Param1=value1", "us-east-1", "batch", SUITE_MS, &v), &v,
           SIGV4_BAD_SCOPE, "InvalidSignatureException", "Credential should be scoped to correct service: 'batch'");
    struct sigv4_header nohost[] = {{"X-Amz-Date", SUITE_DATE},
                                    {"Authorization", "AWS4-HMAC-SHA256 Credential=" SUITE_SCOPE ", SignedHeaders=x-amz-date, Signature=00"}};
    expect("host not signed", verify("GET", "/", NULL, nohost, 2, NULL, "us-east-1", "service", SUITE_MS, &v), &v,
           SIGV4_INCOMPLETE, "IncompleteSignatureException", NULL);
    struct sigv4_header garbled[] = {{"Authorization", "AWS4-HMAC-SHA256 Signature=abc"}};
    expect("no Credential", verify("GET", "/", NULL, garbled, 1, NULL, "us-east-1", "service", SUITE_MS, &v), &v,
           SIGV4_INCOMPLETE, "IncompleteSignatureException", "Authorization header requires 'Credential' parameter");

    load_creds("[suite]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = not-the-secret\n");
    expect("wrong secret", verify("POST", "/", NULL, f, 4, "Param1=value1", "us-east-1", "service", SUITE_MS, &v), &v,
           SIGV4_MISMATCH, "InvalidSignatureException", "The request signature we calculated does not match");
    load_creds("[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = " SUITE_SECRET "\n");
    expect("unknown key", verify("POST", "/", NULL, f, 4, "Param1=value1", "us-east-1", "service", SUITE_MS, &v), &v,
           SIGV4_UNKNOWN_KEY, "UnrecognizedClientException", "The security token included in the request is invalid.");
  }

  TEST("session credentials: X-Amz-Security-Token must match the file's aws_session_token");
  {
    load_creds("[s]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = " SUITE_SECRET "\naws_session_token = TOKEN1\n");
    struct sigv4_header h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", SUITE_DATE},
                               {"Authorization", suite_auth("host;x-amz-date",
                                                            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")},
                               {"X-Amz-Security-Token", "TOKEN1"}};
    /* the token need not be signed for the check to hold (the suite's signature omits it) */
    expect("right token", verify("GET", "/", NULL, h, 4, NULL, "us-east-1", "service", SUITE_MS, &v), &v, SIGV4_OK,
           NULL, NULL);
    h[3].value = "TOKEN2";
    expect("wrong token", verify("GET", "/", NULL, h, 4, NULL, "us-east-1", "service", SUITE_MS, &v), &v,
           SIGV4_UNKNOWN_KEY, "UnrecognizedClientException", NULL);
    expect("no token", verify("GET", "/", NULL, h, 3, NULL, "us-east-1", "service", SUITE_MS, &v), &v,
           SIGV4_UNKNOWN_KEY, "UnrecognizedClientException", NULL);
  }

  TEST("the canonical request of get-vanilla-query-order-key-case");
  {
    struct sigv4_header h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", SUITE_DATE}};
    struct sigv4_request rq = {"GET", "/", "Param2=value2&Param1=value1", h, 2, NULL, 0};
    char *c = sigv4_canonical_request(&rq, "host;x-amz-date");
    CHECK_STR(c, "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                 "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    free(c);
    CHECK(sigv4_canonical_request(&rq, "host;my-header1;x-amz-date") == NULL, "an absent signed header gives NULL");
  }
  api_credentials_release(&creds);
  return check_summary();
}
