/* cli_util.c: the command line's scalar conversions (as Python's int() and float() read text)
 * and file:// values. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aws_internal.h"

/* Python int(): optional whitespace and sign around decimal digits. */
int cli_parse_int(const char *s, long long *out) {
  const char *p = cli_skip_ws(s);
  if (!*p) return -1;
  errno = 0;
  char *end;
  long long v = strtoll(p, &end, 10);
  if (end == p || errno == ERANGE) return -1;
  if (*cli_skip_ws(end)) return -1;
  if (!isdigit((unsigned char)end[-1])) return -1;
  *out = v;
  return 0;
}

/* Python float(), finite values only (JSON has no inf or nan). */
int cli_parse_double(const char *s, double *out) {
  const char *p = cli_skip_ws(s);
  if (!*p) return -1;
  errno = 0;
  char *end;
  double v = strtod(p, &end);
  if (end == p || errno == ERANGE || !isfinite(v)) return -1;
  if (*cli_skip_ws(end)) return -1;
  *out = v;
  return 0;
}

/* file:// and fileb:// values, as awscli/paramfile.py reads them. */
int cli_load_paramfile(const char *value, char **content, char *err, size_t errlen) {
  const char *path;
  if (cli_starts_with(value, "file://"))
    path = value + 7;
  else if (cli_starts_with(value, "fileb://"))
    path = value + 8;
  else
    return 0;
  char *expanded = NULL;
  if (path[0] == '~' && (path[1] == '/' || path[1] == 0) && getenv("HOME")) {
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s%s", getenv("HOME"), path + 1);
    expanded = (char *)b.data;
    path = expanded;
  }
  size_t len;
  char *data = read_file(path, &len);
  int rc = 1;
  if (!data) {
    rc = aws_fail(err, errlen, "cannot read %s: %s", value, strerror(errno));
  } else if (strlen(data) != len) {
    free(data);
    data = NULL;
    rc = aws_fail(err, errlen, "%s holds NUL bytes; only text values are supported", value);
  }
  free(expanded);
  *content = data;
  return rc;
}

