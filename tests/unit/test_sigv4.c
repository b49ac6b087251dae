/* test_sigv4.c: AWS Signature Version 4 (lib/sigv4.c) against AWS's published vectors:
 * the signing-key example of the IAM documentation and cases of the aws-sig-v4-test-suite
 * (credentials AKIDEXAMPLE, 20150830T123600Z, us-east-1, service "service", host
 * example.amazonaws.com). A signature agrees only if the canonical request, the string to sign
 * and the key derivation are all exactly right. */
#include <string.h>

#include "check.h"
#include "sigv4.h"
#include "util.h"

#define SUITE_DATE "20150830T123600Z"
#define SUITE_HOST "example.amazonaws.com"
#define SUITE_SCOPE "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"

static const struct sigv4_creds suite_creds = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};

static void hexof(const unsigned char *d, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Signs a suite request and compares the whole Authorization header. */
static void suite_case(const char *name, const char *method, const char *query, const char *content_type,
                       const char *body, const char *signed_headers, const char *signature) {
  char auth[512], want[512];
  int rc = sigv4_sign(&suite_creds, "us-east-1", "service", method, SUITE_HOST, "/", query, content_type, body,
                      body ? strlen(body) : 0, SUITE_DATE, auth, sizeof auth);
  snprintf(want, sizeof want, "AWS4-HMAC-SHA256 Credential=" SUITE_SCOPE ", SignedHeaders=%s, Signature=%s",
           signed_headers, signature);
  CHECK(rc == 0, "%s: sigv4_sign returned %d", name, rc);
  CHECK(!strcmp(auth, want), "%s:\n  got  %s\n  want %s", name, auth, want);
  printf("   %s\n", name);
}

int main(void) {
  TEST("the signing key of the IAM documentation's example");
  {
    unsigned char key[32];
    char hex[65];
    sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam", key);
    hexof(key, 32, hex);
    CHECK_STR(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "ec2", key);
    hexof(key, 32, hex);
    CHECK(strcmp(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d") != 0,
          "another service gives another key");
  }

  TEST("aws-sig-v4-test-suite vectors");
  suite_case("get-vanilla", "GET", "", NULL, NULL, "host;x-amz-date",
             "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  /* the suite sends Param2 before Param1: the canonical query string sorts them */
  suite_case("get-vanilla-query-order-key-case", "GET", "Param2=value2&Param1=value1", NULL, NULL, "host;x-amz-date",
             "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
  suite_case("post-vanilla", "POST", "", NULL, NULL, "host;x-amz-date",
             "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  suite_case("post-x-www-form-urlencoded", "POST", "", "application/x-www-form-urlencoded", "Param1=value1",
             "content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");

  TEST("the helpers: x-amz-date, SHA-256, form encoding, a short buffer");
  {
    char d[17];
    sigv4_amz_date(1440938160000LL, d); /* 2015-08-30 12:36:00 UTC */
    CHECK_STR(d, SUITE_DATE);
    char h[65];
    sigv4_sha256_hex("", 0, h);
    CHECK_STR(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sigv4_sha256_hex("Param1=value1", 13, h); /* the suite's payload hash for post-x-www-form-urlencoded */
    CHECK_STR(h, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
    struct buf f;
    buf_init(&f);
    sigv4_form_add(&f, "Action", "RunInstances");
    sigv4_form_add(&f, "TagSpecification.1.Tag.1.Value", "a b/c~d=e&f");
    CHECK_STR((const char *)f.data, "Action=RunInstances&TagSpecification.1.Tag.1.Value=a%20b%2Fc~d%3De%26f");
    buf_release(&f);
    char small[40];
    CHECK(sigv4_sign(&suite_creds, "us-east-1", "service", "GET", SUITE_HOST, "/", "", NULL, NULL, 0, SUITE_DATE,
                     small, sizeof small) == -1,
          "a too small Authorization buffer is refused");
  }
  return check_summary();
}
