/* fuzz_api_request: `barge api`'s request path without sockets (producers/api/http.h,
 * api_handle): the body limit, SigV4 verification (sigv4_verify.h) of fuzzed headers and body,
 * routing, path and query members, the JSON body, then the operation: its request model
 * (aws_validate) and, for a write, its validation (control.h) against an empty configuration
 * given in memory. Nothing reaches Kafka: reads answer ServerException "not wired". CloudWatch
 * Logs requests go to logs_call (logs_api.h) over two streams in memory.
 *
 * Input: one flags byte, then a request as on the wire:
 *   METHOD SP URI \n  (Name: value \n)*  \n  body
 * Flags:
 *   bit 0  the server requires SigV4 (credentials below); else anonymous access is allowed
 *   bit 1  the target signs the request itself (Authorization and X-Amz-Date, as the AWS CLI
 *          would, with the key below), so the fuzzer gets past the signature to the operation;
 *          without it the fuzzed headers face the verifier as they are
 *   bit 2  the key signs for the session token too (X-Amz-Security-Token)
 *   bit 3  the body counts as too large (body_too_large) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_op.h"
#include "control.h"
#include "http.h"
#include "sigv4.h"

#define MAX_HEADERS 64
#define NOW_MS 1440938160000LL /* 2015-08-30T12:36:00Z */

static struct api_credentials creds;

static int64_t fixed_clock(void) { return NOW_MS; }

/* The operation as ops_table.c runs it, minus Kafka: the model's checks, then a write's
 * validation against an empty configuration and an empty jobs table. */
static int fuzz_call(void *ctx, const struct api_principal *who, const char *operation, const json_t *req,
                     json_t **resp, char *err, size_t errlen) {
  (void)ctx;
  (void)who;
  *resp = NULL;
  const struct aws_op *op = aws_op_find_api(operation);
  if (!op) return snprintf(err, errlen, "%s is not an operation Barge knows", operation), API_CLIENT_ERROR;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)req, k, v) {
    const struct aws_param *p = aws_param_find(op, k);
    if (!p) return snprintf(err, errlen, "unknown parameter %s", k), API_CLIENT_ERROR;
    if (aws_validate(p->shape, v, p->member, err, errlen)) return API_CLIENT_ERROR;
  }
  if (!op->prepare) return snprintf(err, errlen, "not wired"), API_SERVER_ERROR;
  struct control_conf cc = {.loaded = 1,
                            .cv = {json_object(), json_object(), json_object(), json_object()},
                            .jobs = json_object(), .jobs_loaded = 1}; /* no jobs either */
  struct control_write w;
  memset(&w, 0, sizeof w);
  int rc = op->prepare(&cc, req, &w, err, errlen);
  if (rc == 0) {
    if (!w.resp) abort();
    *resp = json_incref(w.resp);
  } else if (rc != API_CLIENT_ERROR && rc != API_SERVER_ERROR) {
    fprintf(stderr, "fuzz_api_request: %s's validation returned %d\n", operation, rc);
    abort();
  }
  control_write_release(&w);
  config_view_release(&cc.cv);
  json_decref(cc.jobs);
  return rc;
}
static const struct api_ops fuzz_ops = {NULL, fuzz_call};

/* CloudWatch Logs requests (X-Amz-Target: Logs_20140328.*) reach logs_call over two streams in
 * memory, one with a time index and a last line without its newline. */
static int fuzz_logs_list(void *ctx, struct logs_streams *out, char *err, size_t errlen) {
  (void)ctx, (void)err, (void)errlen;
  struct logs_stream a = {.name = "jd/default/aaaa", .job_id = "job-a", .attempt = 1, .rel_path = "job-a/1.log",
                          .started_at = 1000, .stopped_at = 2000};
  struct logs_stream b = {.name = "jd/default/bbbb", .job_id = "job-b:3", .attempt = 2, .rel_path = "job-b:3/2.log",
                          .instance_id = "i-0", .started_at = 1500};
  logs_streams_add(out, &a);
  logs_streams_add(out, &b);
  return 0;
}
static int fuzz_logs_read(void *ctx, const struct logs_stream *s, char **text, size_t *len, char **times, char *err,
                          size_t errlen) {
  (void)ctx, (void)err, (void)errlen;
  const char *t = s->attempt == 1 ? "one\ntwo ERROR\n\nthree" : "x\xff\ny";
  *text = strdup(t);
  *len = strlen(t);
  *times = s->attempt == 1 ? strdup("4 1100\n12 1050\n99 1300\n") : NULL;
  return 0;
}
static const struct logs_source fuzz_logs = {.ctx = NULL, .list = fuzz_logs_list, .read = fuzz_logs_read};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char err[256];
  if (api_credentials_parse("[fuzz]\naws_access_key_id = AKIDFUZZ\naws_secret_access_key = fuzzsecret\n"
                            "[token]\naws_access_key_id = AKIDTOKEN\naws_secret_access_key = tokensecret\n"
                            "aws_session_token = TOKEN\n[ro]\naws_access_key_id = AKIDRO\n"
                            "aws_secret_access_key = rosecret\nbarge_role = read-only\n",
                            "fuzz", &creds, err, sizeof err)) {
    fprintf(stderr, "fuzz_api_request: %s\n", err);
    abort();
  }
  return 0;
}

static const char *header(const struct sigv4_header *h, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (!strcasecmp(h[i].name, name)) return h[i].value;
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  if (len < 1 || len > 2 * API_MAX_BODY_BYTES) return 0;
  unsigned flags = data[0];
  data++, len--;
  char *text = malloc(len + 1);
  memcpy(text, data, len);
  text[len] = 0;
  char *end = text + len;

  /* request line */
  char *p = text;
  char *nl = memchr(p, '\n', (size_t)(end - p));
  if (nl) *nl = 0;
  char *method = p, *uri = strchr(p, ' ');
  if (uri) *uri++ = 0;
  else uri = "/";
  p = nl ? nl + 1 : end;

  /* headers up to an empty line; two more slots for the signature */
  struct sigv4_header h[MAX_HEADERS + 4];
  size_t nh = 0;
  while (p < end && nh < MAX_HEADERS) {
    nl = memchr(p, '\n', (size_t)(end - p));
    if (nl) *nl = 0;
    if (*p == 0) {
      p = nl ? nl + 1 : end;
      break;
    }
    char *colon = strchr(p, ':');
    h[nh].name = p;
    h[nh].value = "";
    if (colon) {
      *colon = 0;
      char *val = colon + 1;
      while (*val == ' ') val++;
      h[nh].value = val;
    }
    nh++;
    p = nl ? nl + 1 : end;
  }
  const char *body = p;
  size_t body_len = (size_t)(end - p);

  char auth[2048], amz_date[17], path[4096];
  if (flags & 2) {
    const char *host = header(h, nh, "host");
    if (!host) {
      h[nh++] = (struct sigv4_header){"Host", "127.0.0.1:8780"};
      host = "127.0.0.1:8780";
    }
    sigv4_amz_date(NOW_MS, amz_date);
    h[nh++] = (struct sigv4_header){"X-Amz-Date", amz_date};
    struct sigv4_creds sc = {"AKIDFUZZ", "fuzzsecret", NULL};
    if (flags & 4) {
      sc = (struct sigv4_creds){"AKIDTOKEN", "tokensecret", "TOKEN"};
      h[nh++] = (struct sigv4_header){"X-Amz-Security-Token", "TOKEN"};
    }
    snprintf(path, sizeof path, "%s", uri);
    char *q = strchr(path, '?');
    if (q) *q++ = 0;
    const char *target = header(h, nh, "x-amz-target");
    const char *service = target && !strncmp(target, LOGS_TARGET_PREFIX, strlen(LOGS_TARGET_PREFIX)) ? "logs" : "batch";
    if (sigv4_sign(&sc, "us-east-1", service, method, host, path, q ? q : "", header(h, nh, "content-type"),
                   body, body_len, amz_date, auth, sizeof auth) == 0)
      h[nh++] = (struct sigv4_header){"Authorization", auth};
  }

  struct api_conf conf = {.creds = (flags & 1) ? &creds : NULL,
                          .allow_anonymous = !(flags & 1),
                          .region = "us-east-1",
                          .ops = &fuzz_ops,
                          .clock_ms = fixed_clock,
                          .logs = &fuzz_logs};
  struct api_http_request rq = {method, uri, h, nh, body, body_len, (flags & 8) != 0};
  struct api_http_response r;
  api_handle(&conf, &rq, &r);
  if (r.status < 200 || r.status > 599 || !r.body) {
    fprintf(stderr, "fuzz_api_request: status %d, body %s\n", r.status, r.body ? "set" : "NULL");
    abort();
  }
  json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
  if (!j) {
    fprintf(stderr, "fuzz_api_request: the answer is not JSON: %.*s\n", (int)r.body_len, r.body);
    abort();
  }
  if (r.status >= 400 && (!r.error_type || !json_is_string(json_object_get(j, "__type")))) abort();
  json_decref(j);
  api_http_response_release(&r);

  /* the verifier alone, on the same headers (any path and query) */
  struct sigv4_request sr = {method, uri, NULL, h, nh, body, body_len};
  struct sigv4_verdict v;
  enum sigv4_outcome o = sigv4_verify(&sr, &creds, "us-east-1", "batch", NOW_MS, &v);
  if (o >= SIGV4__COUNT || (o == SIGV4_OK) != (v.http_status == 200) || !memchr(v.message, 0, sizeof v.message))
    abort();
  free(text);
  return 0;
}
