/* test_api_credentials.c: the credentials file of `barge api` (producers/api/credentials.c):
 * a good file with several profiles, and each malformed line refused with file and line; the file
 * `barge up` generates (api_credentials_ensure): created once with mode 0600, then reused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "credentials.h"

static void bad(const char *what, const char *text, const char *want) {
  struct api_credentials c;
  char err[512] = "";
  int rc = api_credentials_parse(text, "creds.ini", &c, err, sizeof err);
  CHECK(rc == -1, "%s: accepted", what);
  CHECK(strstr(err, want) != NULL, "%s: message '%s' lacks '%s'", what, err, want);
  CHECK(c.n == 0 && c.keys == NULL, "%s: nothing kept", what);
  printf("   %s -> %s\n", what, err);
}

int main(void) {
  TEST("a good file: profiles, comments, session token, account, role, foreign AWS keys ignored");
  {
    const char *text =
        "# Barge API keys\n"
        "[default]\n"
        "aws_access_key_id = AKIAADMIN\n"
        "aws_secret_access_key = sec/ret+with=equals\n"
        "barge_account_id = 123456789012\n"
        "region = us-east-1\n"
        "\n"
        "; a read-only viewer with session credentials\n"
        "[profile viewer]\n"
        "  aws_access_key_id=ASIAVIEW  \n"
        "aws_secret_access_key=s2\n"
        "aws_session_token = tok\n"
        "barge_role = read-only\n";
    struct api_credentials c;
    char err[256] = "";
    int rc = api_credentials_parse(text, "creds.ini", &c, err, sizeof err);
    CHECK(rc == 0, "parse: %s", err);
    CHECK_INT(c.n, 2);
    const struct api_credential *a = api_credentials_find(&c, "AKIAADMIN");
    CHECK(a != NULL, "AKIAADMIN found");
    if (a) {
      CHECK_STR(a->profile, "default");
      CHECK_STR(a->secret_key, "sec/ret+with=equals");
      CHECK_STR(a->account_id, "123456789012");
      CHECK(a->session_token == NULL && !a->read_only, "admin: no token, read-write");
    }
    const struct api_credential *v = api_credentials_find(&c, "ASIAVIEW");
    CHECK(v != NULL, "ASIAVIEW found");
    if (v) {
      CHECK_STR(v->profile, "viewer");
      CHECK_STR(v->session_token, "tok");
      CHECK(v->read_only && v->account_id == NULL, "viewer: read-only, no account");
    }
    CHECK(api_credentials_find(&c, "AKIANOBODY") == NULL, "an unknown key is not found");
    api_credentials_release(&c);
    api_credentials_release(&c); /* twice is harmless */
  }

  TEST("malformed files are refused with file and line");
  bad("a line that is not key = value", "[p]\naws_access_key_id = A\njust words\n", "creds.ini:3: expected 'key = value'");
  bad("a key before any section", "aws_access_key_id = A\n", "creds.ini:1: 'aws_access_key_id' comes before any [profile]");
  bad("an unclosed section", "[p\n", "creds.ini:1: a section header must be '[profile-name]'");
  bad("an empty profile name", "[ ]\n", "creds.ini:1: empty profile name");
  bad("a profile without a secret", "[p]\naws_access_key_id = A\n[q]\naws_access_key_id = B\naws_secret_access_key = s\n",
      "creds.ini:1: profile [p] needs both");
  bad("a key given twice", "[p]\naws_access_key_id = A\naws_access_key_id = B\n", "creds.ini:3: aws_access_key_id given twice");
  bad("an empty value", "[p]\naws_access_key_id =\n", "creds.ini:2: aws_access_key_id is empty");
  bad("a bad role", "[p]\naws_access_key_id = A\naws_secret_access_key = s\nbarge_role = admin\n",
      "creds.ini:4: barge_role must be read-only or read-write");
  bad("a bad account id", "[p]\naws_access_key_id = A\naws_secret_access_key = s\nbarge_account_id = 12ab\n",
      "creds.ini:4: barge_account_id must be 12 digits");
  bad("an unknown barge_ key", "[p]\naws_access_key_id = A\naws_secret_access_key = s\nbarge_rol = read-only\n",
      "creds.ini:4: unknown key 'barge_rol'");
  bad("one key in two profiles",
      "[p]\naws_access_key_id = A\naws_secret_access_key = s\n[q]\naws_access_key_id = A\naws_secret_access_key = t\n",
      "access key A is in both [p] and [q]");
  bad("an empty file", "# nothing\n", "creds.ini: no [profile]");

  TEST("a missing file names the file");
  {
    struct api_credentials c;
    char err[256] = "";
    CHECK(api_credentials_load("/nonexistent/creds", &c, err, sizeof err) == -1, "a missing file fails");
    CHECK(strstr(err, "/nonexistent/creds: cannot read") != NULL, "message: %s", err);
  }

  TEST("api_credentials_ensure creates a 0600 file with an AKIA key once, then reuses it");
  {
    char dir[] = "/tmp/barge-creds-XXXXXX", path[256], used[64] = "", err[512] = "";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/api-credentials", dir);
    CHECK(api_credentials_ensure(path, "barge", used, sizeof used, err, sizeof err) == 1, "created: %s", err);
    CHECK(!strcmp(used, "barge"), "the profile to use: %s", used);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "mode %o", (unsigned)(sb.st_mode & 0777));
    struct api_credentials c;
    CHECK(api_credentials_load(path, &c, err, sizeof err) == 0 && c.n == 1, "it loads: %s", err);
    if (c.n == 1) {
      const char *k = c.keys[0].access_key;
      CHECK(strlen(k) == 20 && !strncmp(k, "AKIA", 4) && strspn(k + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == 16,
            "access key %s", k);
      CHECK(strlen(c.keys[0].secret_key) == 40, "a 40-character secret");
    }
    char *before = read_file(path, NULL);
    CHECK(api_credentials_ensure(path, "other", used, sizeof used, err, sizeof err) == 0, "reused: %s", err);
    char *after = read_file(path, NULL);
    CHECK(before && after && !strcmp(before, after) && !strcmp(used, "barge"), "the same keys and profile");
    free(before);
    free(after);
    api_credentials_release(&c);
    unlink(path);
    CHECK(write_file_atomic(path, "junk\n", 5) == 0, "a broken file");
    CHECK(api_credentials_ensure(path, "barge", used, sizeof used, err, sizeof err) == -1 && strstr(err, path),
          "a broken file is refused, not replaced: %s", err);
    unlink(path);
    rmdir(dir);
  }
  return check_summary();
}
