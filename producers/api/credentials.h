/* credentials.h: the access keys `barge api` accepts, read from a file in the AWS
 * shared-credentials format (the format of ~/.aws/credentials), so the file a user already
 * has, or one `aws configure` writes, works unchanged:
 *
 *     [profile-name]                       # or [profile profile-name]
 *     aws_access_key_id = AKIA...
 *     aws_secret_access_key = ...
 *     aws_session_token = ...              # optional: then requests must carry this token
 *     barge_account_id = 123456789012      # optional: the 12-digit account of the key
 *     barge_role = read-only               # optional: read-write (default) or read-only
 *
 * Lines starting with '#' or ';' are comments. Other AWS keys (region, output, ...) are
 * ignored; an unknown `barge_*` key, a line that is neither `key = value` nor `[section]`, a
 * key before any section, a profile without both keys, or one access key in two profiles is an
 * error naming the file and line. The store is immutable once loaded: any thread may read it. */
#ifndef BARGE_API_CREDENTIALS_H
#define BARGE_API_CREDENTIALS_H
#include <stddef.h>

#include "util.h"

struct api_credential {
  char *profile;
  char *access_key, *secret_key;
  char *session_token; /* NULL when the profile has none */
  char *account_id;    /* NULL when the profile gives none */
  int read_only;
};

struct api_credentials {
  struct api_credential *keys;
  size_t n;
};

/* Parses credentials text; name is the file name used in messages. 0 with *out filled (release
 * with api_credentials_release), or -1 with "NAME:LINE: reason" in err. */
int api_credentials_parse(const char *text, const char *name, struct api_credentials *out, char *err,
                          size_t errlen) BARGE_WUR;
/* Reads and parses a file; as api_credentials_parse. */
int api_credentials_load(const char *path, struct api_credentials *out, char *err, size_t errlen) BARGE_WUR;
void api_credentials_release(struct api_credentials *c);
/* The credentials file of a local stack (`barge up`). When path does not exist, creates it
 * (mode 0600, never replacing a file another process wrote meanwhile) with one profile named
 * profile: a random access key id "AKIA" + 16 characters of A-Z2-7, and a random 40-character
 * secret of the base64 alphabet. Then loads the file (new or not) to check it. 1 when it was
 * created, 0 when it was there, -1 with the reason in err. The first profile's name (the one to
 * use) into used, n bytes. */
int api_credentials_ensure(const char *path, const char *profile, char *used, size_t n, char *err,
                           size_t errlen) BARGE_WUR;
/* The entry for an access key, or NULL. */
const struct api_credential *api_credentials_find(const struct api_credentials *c, const char *access_key);
#endif
