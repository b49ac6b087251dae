/* credentials.c: the AWS shared-credentials file of `barge api` (see credentials.h). */
#include "credentials.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* n random characters of alphabet (a power of two long, so that a masked byte is unbiased). */
static void random_chars(char *out, size_t n, const char *alphabet, unsigned mask) {
  unsigned char b[64];
  random_bytes(b, n);
  for (size_t i = 0; i < n; i++) out[i] = alphabet[b[i] & mask];
  out[n] = 0;
}

static int write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Writes a new credentials file at path: 1 created, 0 already there, -1 (errno set). The text
 * goes to a private temporary file first, which is then linked to path (link fails when path
 * exists, so a concurrent `barge up` never has its keys replaced). */
static int create_file(const char *path, const char *profile) {
  char key[17], secret[41], tmp[4200];
  random_chars(key, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 31);
  random_chars(secret, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 63);
  struct buf t;
  buf_init(&t);
  buf_printf(&t,
             "# The access key of the Barge API of this BARGE_HOME, written once by `barge up`\n"
             "# (AWS shared-credentials format; `barge api --credentials-file` reads it). Use it with\n"
             "#   AWS_SHARED_CREDENTIALS_FILE=%s aws batch --profile %s --endpoint-url URL ...\n"
             "[%s]\naws_access_key_id = AKIA%s\naws_secret_access_key = %s\n",
             path, profile, profile, key, secret);
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  int rc = -1;
  if (fd >= 0) {
    if (fchmod(fd, 0600) == 0 && write_all(fd, (const char *)t.data, t.len) == 0 && fsync(fd) == 0) rc = 0;
    if (close(fd) != 0) rc = -1;
    if (rc == 0) rc = link(tmp, path) == 0 ? 1 : errno == EEXIST ? 0 : -1;
    int saved = errno;
    unlink(tmp);
    errno = saved;
  }
  memset(t.data, 0, t.len);
  buf_release(&t);
  memset(secret, 0, sizeof secret);
  return rc;
}

int api_credentials_ensure(const char *path, const char *profile, char *used, size_t n, char *err, size_t errlen) {
  int created = 0;
  if (access(path, F_OK) != 0) {
    if (errno != ENOENT) return fail(err, errlen, path, 0, "cannot read: %s", strerror(errno));
    created = create_file(path, profile);
    if (created < 0) return fail(err, errlen, path, 0, "cannot write: %s", strerror(errno));
  }
  struct api_credentials c;
  if (api_credentials_load(path, &c, err, errlen)) return -1;
  snprintf(used, n, "%s", c.keys[0].profile);
  api_credentials_release(&c);
  return created;
}
