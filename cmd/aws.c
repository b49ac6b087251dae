/* aws.c: `barge <aws batch operation>`: parse as the AWS CLI does (producers/awscli.c), run
 * the operation against Kafka (producers/control.c for writes, consumers/views/query.c for reads),
 * print the AWS response. Exit statuses follow the AWS CLI v2: 0 success, 252 bad usage or
 * input, 254 the service refused the request (ClientException), 255 anything else. */
#include <stdlib.h>
#include <string.h>

#include "awscli.h"
#include "bulk_submit.h"
#include "cmds.h"
#include "control.h"
#include "query.h"
#include "stack.h"

void cmd_list_aws(FILE *out) { awscli_list_ops(out); }

/* A small JMESPath subset for --query: field, a.b, a[0], a[].b, a[*].b, [0]. */
static json_t *query_path(json_t *v, const char *q) {
  if (!v) return NULL;
  while (*q == '.') q++;
  if (!*q) return json_incref(v);
  if (*q == '[') {
    const char *close = strchr(q, ']');
    if (!close) return NULL;
    if (close == q + 1 || (close == q + 2 && q[1] == '*')) {
      json_t *out = json_array();
      size_t i;
      json_t *e;
      json_array_foreach(v, i, e) {
        json_t *r = query_path(e, close + 1);
        if (r && !json_is_null(r)) json_array_append_new(out, r);
        else json_decref(r);
      }
      return out;
    }
    if (q[1] != '-' && (q[1] < '0' || q[1] > '9')) {
      /* a multiselect list: [a, b.c, d] */
      json_t *out = json_array();
      const char *p = q + 1;
      while (p < close) {
        size_t n = strcspn(p, ",]");
        char sub[256];
        snprintf(sub, sizeof sub, "%.*s", (int)n, p);
        char *t = sub;
        while (*t == ' ') t++;
        json_t *r = query_path(v, t);
        json_array_append_new(out, r ? r : json_null());
        p += n + (p[n] == ',');
      }
      json_t *rest = query_path(out, close + 1);
      json_decref(out);
      return rest;
    }
    long idx = strtol(q + 1, NULL, 10);
    if (idx < 0) idx += (long)json_array_size(v);
    return query_path(json_array_get(v, (size_t)idx), close + 1);
  }
  size_t n = strcspn(q, ".[");
  char key[256];
  snprintf(key, sizeof key, "%.*s", (int)n, q);
  return query_path(json_object_get(v, key), q + n);
}

static void print_text(json_t *v, int top) {
  if (json_is_array(v)) {
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
      if (i) fputc(json_is_array(e) || json_is_object(e) ? '\n' : '\t', stdout);
      print_text(e, 0);
    }
  } else if (json_is_object(v)) {
    const char *k;
    json_t *e;
    int first = 1;
    json_object_foreach(v, k, e) {
      if (!first) fputc('\t', stdout);
      first = 0;
      print_text(e, 0);
    }
  } else if (json_is_string(v)) {
    fputs(json_string_value(v), stdout);
  } else if (json_is_null(v)) {
    fputs("None", stdout);
  } else {
    char *s = json_dumps(v, JSON_ENCODE_ANY);
    fputs(s, stdout);
    free(s);
  }
  if (top) fputc('\n', stdout);
}

static void print_result(json_t *resp, const struct awscli_globals *g) {
  json_t *v = g->query ? query_path(resp, g->query) : json_incref(resp);
  if (!v) v = json_null();
  if (g->output && !strcmp(g->output, "text")) {
    print_text(v, 1);
  } else {
    char *s = json_dumps(v, JSON_INDENT(4) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    if (s) printf("%s\n", s);
    free(s);
  }
  json_decref(v);
}

/* Runs one operation: writes through control_call, reads through query_call. */
static int run_op(const struct bus_conf *bc, const char *api, const json_t *req, json_t **resp,
                  char *err, size_t errlen) {
  int rc = control_call(bc, api, req, resp, err, errlen);
  if (rc == -1) rc = query_call(bc, api, req, resp, err, errlen);
  if (rc == -1) {
    snprintf(err, errlen, "%s is not implemented by Barge yet", api);
    rc = 400;
  }
  return rc;
}

int cmd_aws(int argc, char **argv) {
  /* bulk submission from JSON lines (producers/bulk_submit.c) */
  if (!strcmp(argv[0], "submit-job") && bulk_submit_wanted(argc, argv)) return bulk_submit_main(argc, argv);
  const struct awscli_op *op = awscli_find(argv[0]);
  if (!op) return -1;
  struct awscli_globals g;
  awscli_globals_init(&g);
  json_t *req = NULL;
  char err[2048];
  if (awscli_parse(op, argc, argv, &req, &g, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 252;
  }
  if (g.action == AWSCLI_HELP) {
    awscli_usage(op, stdout);
    return 0;
  }
  if (g.action == AWSCLI_SKELETON) {
    json_t *sk = awscli_skeleton(op);
    char *s = json_dumps(sk, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
    printf("%s\n", s);
    free(s);
    json_decref(sk);
    return 0;
  }
  char brokers[1024], prefix[128];
  if (stack_brokers(g.brokers, brokers, sizeof brokers, err, sizeof err)) {
    fprintf(stderr, "barge %s: %s\n", op->cli_name, err);
    json_decref(req);
    return 255;
  }
  stack_prefix(getenv("BARGE_TOPIC_PREFIX"), prefix, sizeof prefix);
  if (codec_init(err, sizeof err)) {
    fprintf(stderr, "barge: %s\n", err);
    json_decref(req);
    return 255;
  }
  struct bus_conf bc = {.brokers = brokers, .prefix = prefix, .client_id = "barge-cli"};
  json_t *resp = NULL;
  int rc = run_op(&bc, op->api_name, req, &resp, err, sizeof err);
  /* the AWS CLI follows nextToken itself unless the user paged by hand */
  while (rc == 0 && op->page_result && g.paginate && json_object_get(resp, "nextToken") &&
         !json_object_get(req, "nextToken") && !json_object_get(req, "maxResults")) {
    json_object_set(req, "nextToken", json_object_get(resp, "nextToken"));
    json_t *more = NULL;
    rc = run_op(&bc, op->api_name, req, &more, err, sizeof err);
    if (rc) break;
    json_array_extend(json_object_get(resp, op->page_result), json_object_get(more, op->page_result));
    if (json_object_get(more, "nextToken")) json_object_set(resp, "nextToken", json_object_get(more, "nextToken"));
    else json_object_del(resp, "nextToken");
    json_decref(more);
    json_object_del(req, "nextToken");
    if (!json_object_get(resp, "nextToken")) break;
  }
  json_decref(req);
  if (rc) {
    fprintf(stderr, "\nAn error occurred (%s) when calling the %s operation: %s\n",
            rc == 400 ? "ClientException" : "ServerException", op->api_name, err);
    json_decref(resp);
    return rc == 400 ? 254 : 255;
  }
  print_result(resp, &g);
  json_decref(resp);
  return 0;
}
