/* credentials.c: the AWS shared-credentials file of `barge api` (see credentials.h). */
#include "credentials.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

BARGE_PRINTF(5, 6)
static int fail(char *err, size_t errlen, const char *name, int line, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (line > 0) snprintf(err, errlen, "%s:%d: %s", name, line, msg);
  else snprintf(err, errlen, "%s: %s", name, msg);
  return -1;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
  return s;
}

/* A finished profile must have both keys. */
static int check_profile(const struct api_credential *k, int line, const char *name, char *err, size_t errlen) {
  if (!k->access_key || !k->secret_key)
    return fail(err, errlen, name, line, "profile [%s] needs both aws_access_key_id and aws_secret_access_key",
                k->profile);
  return 0;
}

static int set_once(char **slot, const char *v, const char *key, int line, const char *name, char *err, size_t errlen) {
  if (*slot) return fail(err, errlen, name, line, "%s given twice in one profile", key);
  if (!*v) return fail(err, errlen, name, line, "%s is empty", key);
  *slot = xstrdup(v);
  return 0;
}

static void credential_release(struct api_credential *k) {
  free(k->profile);
  free(k->access_key);
  free(k->secret_key);
  free(k->session_token);
  free(k->account_id);
}

int api_credentials_parse(const char *text, const char *name, struct api_credentials *out, char *err,
                          size_t errlen) {
  memset(out, 0, sizeof *out);
  char *copy = xstrdup(text);
  size_t cap = 0;
  int rc = 0, line = 0, section_line = 0;
  struct api_credential *cur = NULL;
  char *save = NULL;
  for (char *raw = copy; raw; raw = save) {
    save = strchr(raw, '\n');
    if (save) *save++ = 0;
    line++;
    char *s = trim(raw);
    if (!*s || *s == '#' || *s == ';') continue;
    if (*s == '[') {
      char *close = strchr(s, ']');
      if (!close || *trim(close + 1)) {
        rc = fail(err, errlen, name, line, "a section header must be '[profile-name]'");
        goto out;
      }
      *close = 0;
      char *p = trim(s + 1);
      if (!strncmp(p, "profile ", 8)) p = trim(p + 8);
      if (!*p) {
        rc = fail(err, errlen, name, line, "empty profile name");
        goto out;
      }
      if (cur && (rc = check_profile(cur, section_line, name, err, errlen))) goto out;
      if (out->n == cap) {
        cap = cap ? 2 * cap : 4;
        out->keys = xrealloc(out->keys, cap * sizeof *out->keys);
      }
      cur = &out->keys[out->n++];
      memset(cur, 0, sizeof *cur);
      cur->profile = xstrdup(p);
      section_line = line;
      continue;
    }
    char *eq = strchr(s, '=');
    if (!eq) {
      rc = fail(err, errlen, name, line, "expected 'key = value' or '[profile-name]', got '%.40s'", s);
      goto out;
    }
    *eq = 0;
    char *key = trim(s), *val = trim(eq + 1);
    if (!*key) {
      rc = fail(err, errlen, name, line, "a key is missing before '='");
      goto out;
    }
    if (!cur) {
      rc = fail(err, errlen, name, line, "'%s' comes before any [profile] section", key);
      goto out;
    }
    if (!strcmp(key, "aws_access_key_id")) {
      rc = set_once(&cur->access_key, val, key, line, name, err, errlen);
    } else if (!strcmp(key, "aws_secret_access_key")) {
      rc = set_once(&cur->secret_key, val, key, line, name, err, errlen);
    } else if (!strcmp(key, "aws_session_token") || !strcmp(key, "aws_security_token")) {
      rc = set_once(&cur->session_token, val, key, line, name, err, errlen);
    } else if (!strcmp(key, "barge_account_id")) {
      size_t n = strlen(val);
      int digits = n == 12;
      for (size_t i = 0; digits && i < n; i++) digits = isdigit((unsigned char)val[i]) != 0;
      if (!digits) rc = fail(err, errlen, name, line, "barge_account_id must be 12 digits, got '%.40s'", val);
      else rc = set_once(&cur->account_id, val, key, line, name, err, errlen);
    } else if (!strcmp(key, "barge_role")) {
      if (!strcmp(val, "read-only")) cur->read_only = 1;
      else if (!strcmp(val, "read-write")) cur->read_only = 0;
      else rc = fail(err, errlen, name, line, "barge_role must be read-only or read-write, got '%.40s'", val);
    } else if (!strncmp(key, "barge_", 6)) {
      rc = fail(err, errlen, name, line,
                "unknown key '%.40s' (Barge reads barge_account_id and barge_role)", key);
    } /* any other AWS setting (region, output, ...) is not ours: ignored */
    if (rc) goto out;
  }
  if (cur && (rc = check_profile(cur, section_line, name, err, errlen))) goto out;
  if (!out->n) {
    rc = fail(err, errlen, name, 0, "no [profile] with aws_access_key_id and aws_secret_access_key");
    goto out;
  }
  for (size_t i = 0; i < out->n; i++)
    for (size_t j = 0; j < i; j++)
      if (!strcmp(out->keys[i].access_key, out->keys[j].access_key)) {
        rc = fail(err, errlen, name, 0, "access key %s is in both [%s] and [%s]", out->keys[i].access_key,
                  out->keys[j].profile, out->keys[i].profile);
        goto out;
      }
out:
  free(copy);
  if (rc) api_credentials_release(out);
  return rc;
}

int api_credentials_load(const char *path, struct api_credentials *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  char *text = read_file(path, NULL);
  if (!text) return fail(err, errlen, path, 0, "cannot read: %s", strerror(errno));
  int rc = api_credentials_parse(text, path, out, err, errlen);
  free(text);
  return rc;
}

void api_credentials_release(struct api_credentials *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) credential_release(&c->keys[i]);
  free(c->keys);
  memset(c, 0, sizeof *c);
}

const struct api_credential *api_credentials_find(const struct api_credentials *c, const char *access_key) {
  for (size_t i = 0; c && access_key && i < c->n; i++)
    if (!strcmp(c->keys[i].access_key, access_key)) return &c->keys[i];
  return NULL;
}
