/* aws_internal.h: helpers shared by the files of producers/aws/ (the model checks and the
 * command-line layer); not part of the module's interface. */
#ifndef BARGE_AWS_INTERNAL_H
#define BARGE_AWS_INTERNAL_H
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "awscli.h"

#define SHORT_SAMPLE_MAX 72 /* the "like ..." hint in error messages */
#define SHOW_VALUE_MAX 48   /* how much of a bad value an error message quotes */

/* Formats a message into err (when given) and returns -1. */
int aws_fail(char *err, size_t errlen, const char *fmt, ...) BARGE_PRINTF(3, 4);
/* A short rendering of a string or a JSON value for error messages. */
void aws_show(const char *s, char out[SHOW_VALUE_MAX + 8]);
void aws_show_json(const json_t *v, char out[SHOW_VALUE_MAX + 8]);

/* The place of a value in a request, for messages: "computeResources.subnets[0]". */
struct aws_path {
  char s[256];
};

static inline void aws_path_push(struct aws_path *pa, size_t *saved, const char *fmt, ...)
    BARGE_PRINTF(3, 4);
static inline void aws_path_push(struct aws_path *pa, size_t *saved, const char *fmt, ...) {
  *saved = strlen(pa->s);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pa->s + *saved, sizeof pa->s - *saved, fmt, ap);
  va_end(ap);
}
static inline void aws_path_pop(struct aws_path *pa, size_t saved) { pa->s[saved] = 0; }
static inline void aws_path_member(struct aws_path *pa, size_t *saved, const char *name) {
  aws_path_push(pa, saved, pa->s[0] ? ".%s" : "%s", name);
}

/* Python's string.whitespace. */
static inline int cli_is_ws(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
static inline const char *cli_skip_ws(const char *s) {
  while (*s && cli_is_ws((unsigned char)*s)) s++;
  return s;
}
static inline int cli_starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* cli_util.c: Python int() and float() (finite values) over text; 0 or -1. */
int cli_parse_int(const char *s, long long *out);
int cli_parse_double(const char *s, double *out);
/* Reads a `file://` or `fileb://` value. Returns 1 with *content (malloc'd) when value names a
 * file, 0 when it does not, -1 with a message when the file cannot be read. */
int cli_load_paramfile(const char *value, char **content, char *err, size_t errlen);

/* cli_shorthand.c: the shorthand grammar without the model (NULL with the first syntax error
 * in msg), and the model's conversion of a parsed value (awscli's BackCompatVisitor: scalars
 * converted, single values wrapped into lists; a new reference, or NULL with err set). */
json_t *cli_shorthand_parse(const char *text, char *msg, size_t msglen);
json_t *cli_shorthand_convert(const struct aws_shape *sh, json_t *v, const char *path, char *err,
                              size_t errlen);

/* cli_doc.c: the top level of a parameter's shorthand syntax, nested structures as {...}, cut
 * after max characters. */
void cli_shorthand_hint(const struct aws_shape *sh, size_t max, char *out, size_t outlen);

/* cli_globals.c: the value of a flag: inline (--flag=v) or the next argument unless it is a
 * flag; *i moves past it. And "--name=value" split into name and the inline value or NULL. */
int cli_take_value(const char *flag, const char *inline_val, int argc, char **argv, int *i,
                   const char **out, const char *prefix, char *err, size_t errlen);
void cli_split_flag(const char *arg, char *nbuf, size_t nlen, const char **inline_val);
/* 1 when argv[*i] was a global option (consumed, *i on its last argument), 0 when it is not
 * one, -1 on error. */
/* Reads a --starting-token (a NextToken --max-items printed, cli_output.c): the service's
 * token of the page to fetch (a new reference, or NULL for the first page) and how many of its
 * items were already shown. 0, or -1 with a message in err. */
int cli_token_decode(const char *token, json_t **page_token, long long *truncate, char *err, size_t errlen) BARGE_WUR;
int cli_take_global(int argc, char **argv, int *i, struct awscli_globals *g, const char *prefix,
                    char *err, size_t errlen);
#endif
