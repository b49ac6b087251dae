/* test_awscli.c: the `aws batch` argument layer (producers/awscli.c). Each case parses a command
 * line and compares the request JSON with what the AWS CLI sends for the same line (the
 * expected literals were checked against aws-cli's own parser), or checks the error message. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws_op.h"
#include "awscli.h"
#include "check.h"

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})

static int argc_of(char **v) {
  int n = 0;
  while (v[n]) n++;
  return n;
}

static char tmpdir[] = "/tmp/test_awscli_XXXXXX";

/* Writes a file in the test's temp dir; returns "file://<path>" (static buffer per slot). */
static const char *tmpfile_uri(const char *name, const char *content, int slot) {
  static char uris[4][512];
  char path[400];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(content, f);
    fclose(f);
  }
  snprintf(uris[slot], sizeof uris[slot], "file://%s", path);
  return uris[slot];
}

static int parse(char **argv, json_t **req, struct awscli_globals *g, char *err, size_t errlen) {
  const struct aws_op *op = aws_op_find(argv[0]);
  if (!op) {
    snprintf(err, errlen, "no operation %s", argv[0]);
    return -2;
  }
  return awscli_parse(op, argc_of(argv), argv, req, g, err, errlen);
}

/* parse with fresh globals, for the cases that look only at the request or the error */
static int parse_fresh(char **argv, json_t **req, char *err, size_t errlen) {
  struct awscli_globals g;
  awscli_globals_init(&g);
  return parse(argv, req, &g, err, errlen);
}

static void expect_req(const char *what, char **argv, const char *expected) {
  json_t *req = NULL;
  char err[600] = "";
  int rc = parse_fresh(argv, &req, err, sizeof err);
  json_error_t je;
  json_t *want = json_loads(expected, 0, &je);
  CHECK(want != NULL, "%s: bad expected JSON: %s", what, je.text);
  CHECK(rc == 0, "%s: rc %d: %s", what, rc, err);
  char *got = req ? json_dumps(req, JSON_COMPACT) : NULL;
  CHECK(req && want && json_equal(req, want), "%s:\n   got  %s\n   want %s", what,
        got ? got : "(null)", expected);
  free(got);
  json_decref(req);
  json_decref(want);
}

static void expect_err(const char *what, char **argv, const char *needle) {
  json_t *req = NULL;
  char err[600] = "";
  int rc = parse_fresh(argv, &req, err, sizeof err);
  CHECK(rc == -1, "%s: expected failure, rc %d", what, rc);
  CHECK(req == NULL, "%s: request returned on failure", what);
  CHECK(strstr(err, needle) != NULL, "%s: message '%s' lacks '%s'", what, err, needle);
  CHECK(strchr(err, '\n') == NULL, "%s: message is not one line: '%s'", what, err);
  json_decref(req);
}

/* A table row for expect_req or expect_err: the check name, the command line, and the request
 * JSON (expect_req) or a part of the error message (expect_err). */
struct parse_case {
  const char *what;
  char **argv;
  const char *want;
};

static void expect_each(void (*expect)(const char *, char **, const char *), const struct parse_case *cases,
                        size_t n) {
  for (size_t i = 0; i < n; i++) expect(cases[i].what, cases[i].argv, cases[i].want);
}
#define EXPECT_EACH(expect, cases) expect_each(expect, cases, sizeof cases / sizeof *cases)

static void expect_shorthand(const char *text, const char *expected) {
  json_t *v = NULL;
  char err[300] = "";
  int rc = awscli_shorthand(text, NULL, &v, err, sizeof err);
  json_t *want = json_loads(expected, 0, NULL);
  char *got = v ? json_dumps(v, JSON_COMPACT) : NULL;
  CHECK(rc == 0 && v && want && json_equal(v, want), "shorthand '%s': got %s (%s), want %s", text,
        got ? got : "(null)", err, expected);
  free(got);
  json_decref(v);
  json_decref(want);
}

static void expect_shorthand_err(const char *text, const char *needle) {
  json_t *v = NULL;
  char err[300] = "";
  int rc = awscli_shorthand(text, NULL, &v, err, sizeof err);
  CHECK(rc == -1 && v == NULL, "shorthand '%s' should fail", text);
  CHECK(strstr(err, needle) != NULL, "shorthand '%s': message '%s' lacks '%s'", text, err, needle);
  json_decref(v);
}

#define SJ "submit-job", "--job-name", "a", "--job-queue", "q", "--job-definition", "d"
#define SJ_JSON "\"jobName\": \"a\", \"jobQueue\": \"q\", \"jobDefinition\": \"d\""

static void test_table(void) {
  TEST("operation table: docs/job-model.md §10 operations, names, routes, irregular flags");
  static const char *const ops[][2] = {
      {"submit-job", "SubmitJob"},
      {"describe-jobs", "DescribeJobs"},
      {"list-jobs", "ListJobs"},
      {"cancel-job", "CancelJob"},
      {"terminate-job", "TerminateJob"},
      {"create-compute-environment", "CreateComputeEnvironment"},
      {"update-compute-environment", "UpdateComputeEnvironment"},
      {"delete-compute-environment", "DeleteComputeEnvironment"},
      {"describe-compute-environments", "DescribeComputeEnvironments"},
      {"create-job-queue", "CreateJobQueue"},
      {"update-job-queue", "UpdateJobQueue"},
      {"delete-job-queue", "DeleteJobQueue"},
      {"describe-job-queues", "DescribeJobQueues"},
      {"register-job-definition", "RegisterJobDefinition"},
      {"deregister-job-definition", "DeregisterJobDefinition"},
      {"describe-job-definitions", "DescribeJobDefinitions"},
      {"create-scheduling-policy", "CreateSchedulingPolicy"},
      {"update-scheduling-policy", "UpdateSchedulingPolicy"},
      {"delete-scheduling-policy", "DeleteSchedulingPolicy"},
      {"describe-scheduling-policies", "DescribeSchedulingPolicies"},
      {"list-scheduling-policies", "ListSchedulingPolicies"},
      {"get-job-queue-snapshot", "GetJobQueueSnapshot"},
      {"tag-resource", "TagResource"},
      {"untag-resource", "UntagResource"},
      {"list-tags-for-resource", "ListTagsForResource"},
  };
  size_t n = sizeof ops / sizeof ops[0];
  CHECK_INT(aws_n_ops, n);
  for (size_t i = 0; i < n; i++) {
    const struct aws_op *op = aws_op_find(ops[i][0]);
    CHECK(op != NULL, "no op %s", ops[i][0]);
    if (!op) continue;
    CHECK_STR(op->api_name, ops[i][1]);
    CHECK(aws_op_find_api(ops[i][1]) == op, "find_api %s", ops[i][1]);
    if (strstr(op->cli_name, "tag") == NULL) {
      char path[128] = "/v1/";
      for (const char *c = op->api_name; *c; c++) {
        size_t l = strlen(path);
        path[l] = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        path[l + 1] = 0;
      }
      CHECK_STR(op->path, path);
      CHECK_STR(op->method, "POST");
    } else {
      CHECK_STR(op->path, "/v1/tags/{resourceArn}");
    }
    for (size_t k = 0; k < op->n_params; k++)
      CHECK(strncmp(op->params[k].flag, "--", 2) == 0 && op->params[k].shape,
            "%s: bad param %s", op->cli_name, op->params[k].member);
  }
  CHECK(aws_op_find("nope") == NULL, "unknown op found");
  CHECK(aws_op_find(NULL) == NULL, "NULL op found");

  /* Required members, docs/job-model.md §10. */
  static const char *const req[][4] = {
      {"submit-job", "jobName", "jobQueue", "jobDefinition"},
      {"describe-jobs", "jobs", NULL, NULL},
      {"cancel-job", "jobId", "reason", NULL},
      {"terminate-job", "jobId", "reason", NULL},
      {"create-compute-environment", "computeEnvironmentName", "type", NULL},
      {"update-compute-environment", "computeEnvironment", NULL, NULL},
      {"delete-compute-environment", "computeEnvironment", NULL, NULL},
      {"create-job-queue", "jobQueueName", "priority", "computeEnvironmentOrder"},
      {"update-job-queue", "jobQueue", NULL, NULL},
      {"delete-job-queue", "jobQueue", NULL, NULL},
      {"register-job-definition", "jobDefinitionName", "type", NULL},
      {"deregister-job-definition", "jobDefinition", NULL, NULL},
      {"create-scheduling-policy", "name", NULL, NULL},
      {"update-scheduling-policy", "arn", NULL, NULL},
      {"delete-scheduling-policy", "arn", NULL, NULL},
      {"describe-scheduling-policies", "arns", NULL, NULL},
      {"get-job-queue-snapshot", "jobQueue", NULL, NULL},
      {"tag-resource", "resourceArn", "tags", NULL},
      {"untag-resource", "resourceArn", "tagKeys", NULL},
      {"list-tags-for-resource", "resourceArn", NULL, NULL},
  };
  for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
    const struct aws_op *op = aws_op_find(req[i][0]);
    size_t want = 0, have = 0;
    for (int k = 1; k < 4 && req[i][k]; k++, want++) {
      const struct aws_param *p = aws_param_find(op, req[i][k]);
      CHECK(p && p->required, "%s: %s not required", req[i][0], req[i][k]);
    }
    for (size_t k = 0; op && k < op->n_params; k++) have += op->params[k].required;
    CHECK_INT(have, want);
  }
  for (size_t i = 0; i < aws_n_ops; i++) {
    const struct aws_op *op = &aws_ops[i];
    int listing = strcmp(op->cli_name, "list-jobs") == 0 ||
                  strcmp(op->cli_name, "list-scheduling-policies") == 0 ||
                  (strncmp(op->cli_name, "describe-", 9) == 0 &&
                   strcmp(op->cli_name, "describe-jobs") != 0 &&
                   strcmp(op->cli_name, "describe-scheduling-policies") != 0);
    CHECK(listing == (op->page_result != NULL), "%s: paginated %d", op->cli_name, listing);
  }
  CHECK_STR(aws_op_find("list-jobs")->page_result, "jobSummaryList");

  const struct aws_op *ce = aws_op_find("create-compute-environment");
  CHECK_STR(aws_param_find(ce, "unmanagedvCpus")->flag, "--unmanagedv-cpus");
  CHECK_STR(aws_param_find(ce, "computeResources")->flag, "--compute-resources");
  CHECK_STR(aws_param_find(aws_op_find("create-job-queue"), "computeEnvironmentOrder")->flag,
            "--compute-environment-order");
  CHECK_STR(aws_param_find(aws_op_find("create-job-queue"), "jobStateTimeLimitActions")->flag,
            "--job-state-time-limit-actions");
  const struct aws_op *sj = aws_op_find("submit-job");
  CHECK_STR(aws_param_find(sj, "schedulingPriorityOverride")->flag,
            "--scheduling-priority-override");
  CHECK_INT(aws_param_find(sj, "propagateTags")->shape->type, AWS_BOOLEAN);
  CHECK_INT(aws_param_find(sj, "dependsOn")->shape->type, AWS_LIST);
  CHECK_INT(aws_param_find(sj, "dependsOn")->shape->elem->type, AWS_STRUCT);
  CHECK_INT(aws_param_find(sj, "parameters")->shape->type, AWS_MAP);
  CHECK(aws_param_find(sj, "eksPropertiesOverride")->out_of_scope, "eksPropertiesOverride in scope");
  CHECK(!aws_param_find(sj, "nodeOverrides")->out_of_scope, "nodeOverrides (multi-node jobs) out of scope");
  CHECK_INT(aws_param_find(aws_op_find("describe-jobs"), "jobs")->shape->elem->type,
            AWS_STRING);
  const struct aws_op *ut = aws_op_find("untag-resource");
  CHECK_INT(aws_param_find(ut, "resourceArn")->loc, AWS_LOC_URI);
  CHECK_INT(aws_param_find(ut, "tagKeys")->loc, AWS_LOC_QUERY);
  CHECK_STR(ut->method, "DELETE");
  CHECK_STR(aws_op_find("list-tags-for-resource")->method, "GET");
  CHECK_INT(aws_param_find(aws_op_find("tag-resource"), "tags")->loc, AWS_LOC_BODY);
}

static void test_shorthand_grammar(void) {
  TEST("shorthand grammar (awscli/shorthand.py) without a model");
  expect_shorthand("a=b", "{\"a\": \"b\"}");
  expect_shorthand("a=b,c", "{\"a\": [\"b\", \"c\"]}");
  expect_shorthand("a=b,c,d=e", "{\"a\": [\"b\", \"c\"], \"d\": \"e\"}");
  expect_shorthand("a=b,c=d", "{\"a\": \"b\", \"c\": \"d\"}");
  expect_shorthand("a=[b,c],d={e=f,g=[h]}", "{\"a\": [\"b\", \"c\"], \"d\": {\"e\": \"f\", \"g\": [\"h\"]}}");
  expect_shorthand("a=[]", "{\"a\": []}");
  expect_shorthand("a={}", "{\"a\": {}}");
  expect_shorthand("a=[{b=1},{b=2,c=[x,y]}]",
                   "{\"a\": [{\"b\": \"1\"}, {\"b\": \"2\", \"c\": [\"x\", \"y\"]}]}");
  expect_shorthand("a='x,y',b=\"p \\\"q\\\" r\"", "{\"a\": \"x,y\", \"b\": \"p \\\"q\\\" r\"}");
  expect_shorthand("a='it\\'s'", "{\"a\": \"it's\"}");
  expect_shorthand("a=x\\,y", "{\"a\": \"x,y\"}");
  expect_shorthand("a=x\\,y,z", "{\"a\": [\"x,y\", \"z\"]}");
  expect_shorthand("a=", "{\"a\": \"\"}");
  expect_shorthand("a=,b=c", "{\"a\": \"\", \"b\": \"c\"}");
  expect_shorthand("a = b , c = d ", "{\"a\": \"b\", \"c\": \"d\"}");
  expect_shorthand("a=b c=d", "{\"a\": \"b c=d\"}");
  expect_shorthand("a=b=c", "{\"a\": \"b=c\"}");
  expect_shorthand("a=sleep 10", "{\"a\": \"sleep 10\"}");
  expect_shorthand("a=$Latest,b=*,c=arn:aws:x/y", "{\"a\": \"$Latest\", \"b\": \"*\", \"c\": \"arn:aws:x/y\"}");
  expect_shorthand("k.1/x:y#z=v", "{\"k.1/x:y#z\": \"v\"}");
  expect_shorthand("a=b,'c d',\"e\"", "{\"a\": [\"b\", \"c d\", \"e\"]}");
  expect_shorthand("a=caf\xc3\xa9", "{\"a\": \"caf\xc3\xa9\"}");
  expect_shorthand("a=[ b , c ]", "{\"a\": [\"b\", \"c\"]}");

  const char *uri = tmpfile_uri("cmd.txt", "echo from file", 0);
  char text[600];
  snprintf(text, sizeof text, "a@=%s,b=file://not-loaded", uri);
  expect_shorthand(text, "{\"a\": \"echo from file\", \"b\": \"file://not-loaded\"}");

  expect_shorthand_err("a", "expected '=' at end of input");
  expect_shorthand_err("a=b,", "expected a value at end of input");
  expect_shorthand_err("a=[b", "expected ','");
  expect_shorthand_err("a={b=c", "expected ','");
  expect_shorthand_err("a=1,a=2", "key 'a' given twice");
  expect_shorthand_err("a='x", "unterminated single-quoted value");
  expect_shorthand_err(" a=b", "expected '=' at character 2, found 'a'");
  expect_shorthand_err("", "expected '='");
  expect_shorthand_err("a@=file:///nonexistent/barge-x", "cannot read file:///nonexistent/barge-x");
}

static void test_submit_job(void) {
  TEST("submit-job: scalars, shorthand, JSON, lists of structures, maps, booleans");
  const struct parse_case cases[] = {
      {"required only", ARGV(SJ), "{" SJ_JSON "}"},
      {"--flag=value form", ARGV("submit-job", "--job-name=eq", "--job-queue=q", "--job-definition=d"),
       "{\"jobName\": \"eq\", \"jobQueue\": \"q\", \"jobDefinition\": \"d\"}"},
      {"array size shorthand", ARGV(SJ, "--array-properties", "size=8"), "{" SJ_JSON ", \"arrayProperties\": {\"size\": 8}}"},
      {"array size JSON", ARGV(SJ, "--array-properties", "{\"size\": 8}"), "{" SJ_JSON ", \"arrayProperties\": {\"size\": 8}}"},
      {"array size JSON with spaces", ARGV(SJ, "--array-properties", "  {\"size\": 8} "), "{" SJ_JSON ", \"arrayProperties\": {\"size\": 8}}"},
      {"depends-on several args", ARGV(SJ, "--depends-on", "jobId=a", "jobId=b,type=SEQUENTIAL"),
       "{" SJ_JSON ", \"dependsOn\": [{\"jobId\": \"a\"}, {\"jobId\": \"b\", \"type\": \"SEQUENTIAL\"}]}"},
      {"depends-on one arg", ARGV(SJ, "--depends-on", "jobId=ID,type=N_TO_N"), "{" SJ_JSON ", \"dependsOn\": [{\"jobId\": \"ID\", \"type\": \"N_TO_N\"}]}"},
      {"depends-on JSON list", ARGV(SJ, "--depends-on", "[{\"jobId\": \"a\"}, {\"jobId\": \"b\"}]"),
       "{" SJ_JSON ", \"dependsOn\": [{\"jobId\": \"a\"}, {\"jobId\": \"b\"}]}"},
      {"depends-on JSON per arg", ARGV(SJ, "--depends-on", "{\"jobId\": \"a\"}", "{\"jobId\": \"b\"}"),
       "{" SJ_JSON ", \"dependsOn\": [{\"jobId\": \"a\"}, {\"jobId\": \"b\"}]}"},
      {"depends-on then more flags", ARGV("submit-job", "--depends-on", "jobId=a", "jobId=b", "--job-name", "a", "--job-queue", "q", "--job-definition", "d"),
       "{" SJ_JSON ", \"dependsOn\": [{\"jobId\": \"a\"}, {\"jobId\": \"b\"}]}"},
      {"container-overrides csv tail list and nested list", ARGV(SJ, "--container-overrides", "command=sleep,10,environment=[{name=A,value=1}]"),
       "{" SJ_JSON ", \"containerOverrides\": {\"command\": [\"sleep\", \"10\"], "
       "\"environment\": [{\"name\": \"A\", \"value\": \"1\"}]}}"},
      {"container-overrides ints, quoted comma", ARGV(SJ, "--container-overrides", "command=sleep,environment=[{name=A,value=1},{name=B,value=\"x,y\"}],vcpus=2,memory=512"),
       "{" SJ_JSON ", \"containerOverrides\": {\"command\": [\"sleep\"], \"environment\": "
       "[{\"name\": \"A\", \"value\": \"1\"}, {\"name\": \"B\", \"value\": \"x,y\"}], "
       "\"vcpus\": 2, \"memory\": 512}}"},
      {"container-overrides explicit list", ARGV(SJ, "--container-overrides", "command=[sleep,10],resourceRequirements=[{type=VCPU,value=2}]"),
       "{" SJ_JSON ", \"containerOverrides\": {\"command\": [\"sleep\", \"10\"], "
       "\"resourceRequirements\": [{\"type\": \"VCPU\", \"value\": \"2\"}]}}"},
      {"single value wrapped into list", ARGV(SJ, "--container-overrides", "command=echo"), "{" SJ_JSON ", \"containerOverrides\": {\"command\": [\"echo\"]}}"},
      {"single structure wrapped into list", ARGV(SJ, "--container-overrides", "environment={name=A,value=1}"),
       "{" SJ_JSON ", \"containerOverrides\": {\"environment\": [{\"name\": \"A\", \"value\": \"1\"}]}}"},
      {"quoted list items", ARGV(SJ, "--container-overrides", "command='a b',\"c,d\""), "{" SJ_JSON ", \"containerOverrides\": {\"command\": [\"a b\", \"c,d\"]}}"},
      {"escaped comma", ARGV(SJ, "--container-overrides", "command=a\\,b,c"), "{" SJ_JSON ", \"containerOverrides\": {\"command\": [\"a,b\", \"c\"]}}"},
      {"parameters map shorthand", ARGV(SJ, "--parameters", "k1=v1,k2=v2"), "{" SJ_JSON ", \"parameters\": {\"k1\": \"v1\", \"k2\": \"v2\"}}"},
      {"parameters map JSON", ARGV(SJ, "--parameters", "{\"k1\": \"v1\"}"), "{" SJ_JSON ", \"parameters\": {\"k1\": \"v1\"}}"},
      {"tags and --propagate-tags", ARGV(SJ, "--tags", "team=ml", "--propagate-tags"), "{" SJ_JSON ", \"tags\": {\"team\": \"ml\"}, \"propagateTags\": true}"},
      {"--no-propagate-tags", ARGV(SJ, "--no-propagate-tags"), "{" SJ_JSON ", \"propagateTags\": false}"},
      {"boolean pair, last wins", ARGV(SJ, "--no-propagate-tags", "--propagate-tags"), "{" SJ_JSON ", \"propagateTags\": true}"},
      {"retry strategy with rules", ARGV(SJ, "--retry-strategy", "attempts=3,evaluateOnExit=[{onExitCode=1*,action=RETRY},{onReason=*,action=EXIT}]"),
       "{" SJ_JSON ", \"retryStrategy\": {\"attempts\": 3, \"evaluateOnExit\": "
       "[{\"onExitCode\": \"1*\", \"action\": \"RETRY\"}, {\"onReason\": \"*\", \"action\": \"EXIT\"}]}}"},
      {"retry strategy with spaces in a quoted pattern", ARGV(SJ, "--retry-strategy", "attempts=2,evaluateOnExit=[{onStatusReason='Host EC2*',action=RETRY}]"),
       "{" SJ_JSON ", \"retryStrategy\": {\"attempts\": 2, \"evaluateOnExit\": "
       "[{\"onStatusReason\": \"Host EC2*\", \"action\": \"RETRY\"}]}}"},
      {"timeout, priority override, share id", ARGV(SJ, "--timeout", "attemptDurationSeconds=120", "--scheduling-priority-override", "5", "--share-identifier", "teamA"),
       "{" SJ_JSON ", \"timeout\": {\"attemptDurationSeconds\": 120}, "
       "\"schedulingPriorityOverride\": 5, \"shareIdentifier\": \"teamA\"}"},
      {"negative integer", ARGV(SJ, "--scheduling-priority-override", "-1"), "{" SJ_JSON ", \"schedulingPriorityOverride\": -1}"},
      {"repeated flag, last wins", ARGV(SJ, "--job-name", "b"), "{\"jobName\": \"b\", \"jobQueue\": \"q\", \"jobDefinition\": \"d\"}"},
      {"out-of-scope member passed through for the server to reject", ARGV(SJ, "--eks-properties-override", "{\"podProperties\": {}}"),
       "{" SJ_JSON ", \"eksPropertiesOverride\": {\"podProperties\": {}}}"},
      {"out-of-scope member as shorthand, unconverted", ARGV(SJ, "--eks-properties-override", "a=2"), "{" SJ_JSON ", \"eksPropertiesOverride\": {\"a\": \"2\"}}"},
      {"node-overrides JSON", ARGV(SJ, "--node-overrides", "{\"numNodes\": 2}"), "{" SJ_JSON ", \"nodeOverrides\": {\"numNodes\": 2}}"},
      {"node-overrides shorthand converted by the model", ARGV(SJ, "--node-overrides", "numNodes=2,nodePropertyOverrides=[{targetNodes=0:,containerOverrides={command=[echo,hi],vcpus=2}}]"),
       "{" SJ_JSON ", \"nodeOverrides\": {\"numNodes\": 2, \"nodePropertyOverrides\": [{\"targetNodes\": \"0:\", "
       "\"containerOverrides\": {\"command\": [\"echo\", \"hi\"], \"vcpus\": 2}}]}}"},
  };
  EXPECT_EACH(expect_req, cases);
}

static void test_files(void) {
  TEST("file:// and fileb:// values, --cli-input-json and overrides");
  const char *in = tmpfile_uri("in.json",
                               "{\"jobName\": \"fromfile\", \"jobQueue\": \"q\", \"jobDefinition\": \"d\", "
                               "\"retryStrategy\": {\"attempts\": 2}, \"propagateTags\": true}",
                               0);
  expect_req("cli-input-json file", ARGV("submit-job", "--cli-input-json", (char *)in),
             "{\"jobName\": \"fromfile\", \"jobQueue\": \"q\", \"jobDefinition\": \"d\", "
             "\"retryStrategy\": {\"attempts\": 2}, \"propagateTags\": true}");
  expect_req("flags override cli-input-json member by member",
             ARGV("submit-job", "--cli-input-json", (char *)in, "--job-name", "override",
                  "--retry-strategy", "attempts=5", "--no-propagate-tags"),
             "{\"jobName\": \"override\", \"jobQueue\": \"q\", \"jobDefinition\": \"d\", "
             "\"retryStrategy\": {\"attempts\": 5}, \"propagateTags\": false}");
  expect_req("flags before cli-input-json still win",
             ARGV("submit-job", "--job-name", "first", "--cli-input-json", (char *)in),
             "{\"jobName\": \"first\", \"jobQueue\": \"q\", \"jobDefinition\": \"d\", "
             "\"retryStrategy\": {\"attempts\": 2}, \"propagateTags\": true}");
  expect_req("cli-input-json inline",
             ARGV("submit-job", "--cli-input-json", "{\"jobName\": \"x\", \"jobQueue\": \"q\", \"jobDefinition\": \"d\"}"),
             "{\"jobName\": \"x\", \"jobQueue\": \"q\", \"jobDefinition\": \"d\"}");
  expect_req("required member supplied by cli-input-json only",
             ARGV("submit-job", "--job-queue", "q2", "--cli-input-json", "{\"jobName\": \"x\", \"jobDefinition\": \"d\"}"),
             "{\"jobName\": \"x\", \"jobQueue\": \"q2\", \"jobDefinition\": \"d\"}");

  char fileb[600];
  snprintf(fileb, sizeof fileb, "fileb://%s", in + 7);
  expect_req("cli-input-json fileb://", ARGV("submit-job", "--cli-input-json", fileb),
             "{\"jobName\": \"fromfile\", \"jobQueue\": \"q\", \"jobDefinition\": \"d\", "
             "\"retryStrategy\": {\"attempts\": 2}, \"propagateTags\": true}");

  const char *co = tmpfile_uri("co.json", "{\"command\": [\"echo\", \"hi\"], \"vcpus\": 2}\n", 1);
  expect_req("structure from file", ARGV(SJ, "--container-overrides", (char *)co),
             "{" SJ_JSON ", \"containerOverrides\": {\"command\": [\"echo\", \"hi\"], \"vcpus\": 2}}");
  const char *reason = tmpfile_uri("reason.txt", "hello reason\n", 2);
  expect_req("string from file, verbatim",
             ARGV("cancel-job", "--job-id", "j", "--reason", (char *)reason),
             "{\"jobId\": \"j\", \"reason\": \"hello reason\\n\"}");
  const char *dep = tmpfile_uri("dep.txt", "jobId=a,type=N_TO_N", 3);
  expect_req("list of structures: shorthand item from a file",
             ARGV(SJ, "--depends-on", (char *)dep),
             "{" SJ_JSON ", \"dependsOn\": [{\"jobId\": \"a\", \"type\": \"N_TO_N\"}]}");
  const char *jobs = tmpfile_uri("jobs.json", "[\"id1\", \"id2\"]", 3);
  expect_req("list of strings from a JSON file", ARGV("describe-jobs", "--jobs", (char *)jobs),
             "{\"jobs\": [\"id1\", \"id2\"]}");

  expect_err("file not found", ARGV(SJ, "--container-overrides", "file:///nonexistent/co.json"),
             "barge submit-job: --container-overrides: cannot read file:///nonexistent/co.json: No such file");
  expect_err("cli-input-json file not found", ARGV("submit-job", "--cli-input-json", "file:///nonexistent/in.json"),
             "barge submit-job: --cli-input-json: cannot read file:///nonexistent/in.json");
  expect_err("cli-input-json malformed", ARGV("submit-job", "--cli-input-json", "{\"jobName\": "),
             "barge submit-job: --cli-input-json: invalid JSON");
  expect_err("cli-input-json not an object", ARGV("submit-job", "--cli-input-json", "[1]"),
             "--cli-input-json: expected a JSON object");
  expect_err("cli-input-json unknown member",
             ARGV(SJ, "--cli-input-json", "{\"jobNam\": \"x\"}"),
             "barge submit-job: --cli-input-json: unknown parameter jobNam, must be one of: jobName, jobQueue");
  expect_err("cli-input-json wrong type",
             ARGV("submit-job", "--cli-input-json", "{\"jobName\": 1, \"jobQueue\": \"q\", \"jobDefinition\": \"d\"}"),
             "--cli-input-json: invalid type for parameter jobName: expected string, got 1");
  expect_err("cli-input-json missing required",
             ARGV("submit-job", "--cli-input-json", "{\"jobName\": \"x\"}"),
             "barge submit-job: missing required parameter jobQueue (--job-queue)");
  expect_err("yaml input", ARGV("submit-job", "--cli-input-yaml", "x"), "--cli-input-yaml is not supported");
}

static void test_other_ops(void) {
  TEST("lists of strings, list-jobs filters, CEs, queues, JDs, policies, tags");
  expect_req("jobs as separate args", ARGV("describe-jobs", "--jobs", "id1", "id2:3"),
             "{\"jobs\": [\"id1\", \"id2:3\"]}");
  expect_req("list flag with no values sends [] (as aws does)", ARGV("describe-jobs", "--jobs"),
             "{\"jobs\": []}");
  expect_req("jobs as JSON", ARGV("describe-jobs", "--jobs", "[\"id1\", \"id2\"]"),
             "{\"jobs\": [\"id1\", \"id2\"]}");
  expect_req("string list items keep their commas (as aws does)", ARGV("describe-jobs", "--jobs", "a,b"),
             "{\"jobs\": [\"a,b\"]}");
  expect_req("list-jobs", ARGV("list-jobs", "--job-queue", "q", "--job-status", "RUNNABLE", "--max-results", "5"),
             "{\"jobQueue\": \"q\", \"jobStatus\": \"RUNNABLE\", \"maxResults\": 5}");
  expect_req("list-jobs filter, tail list", ARGV("list-jobs", "--job-queue", "q", "--filters", "name=JOB_NAME,values=a,b"),
             "{\"jobQueue\": \"q\", \"filters\": [{\"name\": \"JOB_NAME\", \"values\": [\"a\", \"b\"]}]}");
  expect_req("list-jobs filter, explicit list", ARGV("list-jobs", "--job-queue", "q", "--filters", "name=JOB_NAME,values=[a,b]"),
             "{\"jobQueue\": \"q\", \"filters\": [{\"name\": \"JOB_NAME\", \"values\": [\"a\", \"b\"]}]}");
  expect_req("list-jobs filter, single value wrapped", ARGV("list-jobs", "--job-queue", "q", "--filters", "name=JOB_NAME,values=abc*"),
             "{\"jobQueue\": \"q\", \"filters\": [{\"name\": \"JOB_NAME\", \"values\": [\"abc*\"]}]}");
  expect_req("list-jobs by array", ARGV("list-jobs", "--array-job-id", "x", "--job-status", "SUCCEEDED"),
             "{\"arrayJobId\": \"x\", \"jobStatus\": \"SUCCEEDED\"}");
  expect_req("terminate-job", ARGV("terminate-job", "--job-id", "j", "--reason", "a reason"),
             "{\"jobId\": \"j\", \"reason\": \"a reason\"}");
  expect_req("managed CE shorthand",
             ARGV("create-compute-environment", "--compute-environment-name", "ce1", "--type", "MANAGED",
                  "--state", "ENABLED", "--compute-resources",
                  "type=EC2,minvCpus=0,maxvCpus=16,instanceTypes=optimal,subnets=s-1,securityGroupIds=sg-1"),
             "{\"computeEnvironmentName\": \"ce1\", \"type\": \"MANAGED\", \"state\": \"ENABLED\", "
             "\"computeResources\": {\"type\": \"EC2\", \"minvCpus\": 0, \"maxvCpus\": 16, "
             "\"instanceTypes\": [\"optimal\"], \"subnets\": [\"s-1\"], \"securityGroupIds\": [\"sg-1\"]}}");
  expect_req("managed CE nested shorthand",
             ARGV("create-compute-environment", "--compute-environment-name", "ce1", "--type", "MANAGED",
                  "--compute-resources",
                  "type=SPOT,maxvCpus=16,instanceTypes=[c5,m5],bidPercentage=60,tags={Name=x,team=y},"
                  "launchTemplate={launchTemplateName=lt,version=$Latest},scalingPolicy={minScaleDownDelayMinutes=30},"
                  "ec2Configuration=[{imageType=ECS_AL2}],allocationStrategy=SPOT_CAPACITY_OPTIMIZED"),
             "{\"computeEnvironmentName\": \"ce1\", \"type\": \"MANAGED\", \"computeResources\": "
             "{\"type\": \"SPOT\", \"maxvCpus\": 16, \"instanceTypes\": [\"c5\", \"m5\"], \"bidPercentage\": 60, "
             "\"tags\": {\"Name\": \"x\", \"team\": \"y\"}, \"launchTemplate\": {\"launchTemplateName\": \"lt\", "
             "\"version\": \"$Latest\"}, \"scalingPolicy\": {\"minScaleDownDelayMinutes\": 30}, "
             "\"ec2Configuration\": [{\"imageType\": \"ECS_AL2\"}], \"allocationStrategy\": \"SPOT_CAPACITY_OPTIMIZED\"}}");
  expect_req("CE without subnets (docs/job-model.md §4.2: only type and maxvCpus required)",
             ARGV("create-compute-environment", "--compute-environment-name", "ce1", "--type", "MANAGED",
                  "--compute-resources", "type=EC2,maxvCpus=8"),
             "{\"computeEnvironmentName\": \"ce1\", \"type\": \"MANAGED\", \"computeResources\": "
             "{\"type\": \"EC2\", \"maxvCpus\": 8}}");
  expect_req("unmanaged CE, irregular flag",
             ARGV("create-compute-environment", "--compute-environment-name", "ce2", "--type", "UNMANAGED",
                  "--unmanagedv-cpus", "64", "--tags", "a=b"),
             "{\"computeEnvironmentName\": \"ce2\", \"type\": \"UNMANAGED\", \"unmanagedvCpus\": 64, \"tags\": {\"a\": \"b\"}}");
  expect_req("update CE with boolean in shorthand",
             ARGV("update-compute-environment", "--compute-environment", "ce1", "--compute-resources",
                  "minvCpus=0,maxvCpus=128,desiredvCpus=4", "--update-policy",
                  "terminateJobsOnUpdate=true,jobExecutionTimeoutMinutes=30", "--state", "DISABLED"),
             "{\"computeEnvironment\": \"ce1\", \"computeResources\": {\"minvCpus\": 0, \"maxvCpus\": 128, "
             "\"desiredvCpus\": 4}, \"updatePolicy\": {\"terminateJobsOnUpdate\": true, "
             "\"jobExecutionTimeoutMinutes\": 30}, \"state\": \"DISABLED\"}");
  expect_req("boolean words are case-insensitive",
             ARGV("update-compute-environment", "--compute-environment", "ce1", "--update-policy",
                  "terminateJobsOnUpdate=FALSE"),
             "{\"computeEnvironment\": \"ce1\", \"updatePolicy\": {\"terminateJobsOnUpdate\": false}}");
  expect_req("delete CE", ARGV("delete-compute-environment", "--compute-environment", "ce1"),
             "{\"computeEnvironment\": \"ce1\"}");
  expect_req("describe CEs", ARGV("describe-compute-environments", "--compute-environments", "ce1", "ce2", "--max-results", "10"),
             "{\"computeEnvironments\": [\"ce1\", \"ce2\"], \"maxResults\": 10}");
  expect_req("describe CEs, no members", ARGV("describe-compute-environments"), "{}");
  expect_req("queue with two CEs as two args",
             ARGV("create-job-queue", "--job-queue-name", "q", "--priority", "10", "--compute-environment-order",
                  "order=1,computeEnvironment=ce1", "order=2,computeEnvironment=ce2"),
             "{\"jobQueueName\": \"q\", \"priority\": 10, \"computeEnvironmentOrder\": "
             "[{\"order\": 1, \"computeEnvironment\": \"ce1\"}, {\"order\": 2, \"computeEnvironment\": \"ce2\"}]}");
  expect_req("queue with time-limit action and policy",
             ARGV("create-job-queue", "--job-queue-name", "q", "--priority", "1", "--state", "ENABLED",
                  "--scheduling-policy-arn", "arn:p", "--compute-environment-order", "order=1,computeEnvironment=ce1",
                  "--job-state-time-limit-actions",
                  "reason=CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY,state=RUNNABLE,maxTimeSeconds=600,action=CANCEL"),
             "{\"jobQueueName\": \"q\", \"priority\": 1, \"state\": \"ENABLED\", \"schedulingPolicyArn\": \"arn:p\", "
             "\"computeEnvironmentOrder\": [{\"order\": 1, \"computeEnvironment\": \"ce1\"}], "
             "\"jobStateTimeLimitActions\": [{\"reason\": \"CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY\", "
             "\"state\": \"RUNNABLE\", \"maxTimeSeconds\": 600, \"action\": \"CANCEL\"}]}");
  expect_req("update queue", ARGV("update-job-queue", "--job-queue", "q", "--state", "DISABLED", "--priority", "3"),
             "{\"jobQueue\": \"q\", \"state\": \"DISABLED\", \"priority\": 3}");
  expect_req("delete queue", ARGV("delete-job-queue", "--job-queue", "q"), "{\"jobQueue\": \"q\"}");
  expect_req("describe queues", ARGV("describe-job-queues", "--job-queues", "q"), "{\"jobQueues\": [\"q\"]}");
  expect_req("register JD with JSON",
             ARGV("register-job-definition", "--job-definition-name", "jd", "--type", "container",
                  "--container-properties",
                  "{\"image\": \"busybox\", \"command\": [\"sleep\", \"1\"], \"resourceRequirements\": "
                  "[{\"type\": \"VCPU\", \"value\": \"1\"}, {\"type\": \"MEMORY\", \"value\": \"512\"}]}"),
             "{\"jobDefinitionName\": \"jd\", \"type\": \"container\", \"containerProperties\": "
             "{\"image\": \"busybox\", \"command\": [\"sleep\", \"1\"], \"resourceRequirements\": "
             "[{\"type\": \"VCPU\", \"value\": \"1\"}, {\"type\": \"MEMORY\", \"value\": \"512\"}]}}");
  expect_req("register multinode JD with shorthand",
             ARGV("register-job-definition", "--job-definition-name", "jd", "--type", "multinode", "--node-properties",
                  "numNodes=2,mainNode=0,nodeRangeProperties=[{targetNodes=0:,container={image=busybox,command=[sleep,1],vcpus=1,memory=128}}]"),
             "{\"jobDefinitionName\": \"jd\", \"type\": \"multinode\", \"nodeProperties\": {\"numNodes\": 2, \"mainNode\": 0, "
             "\"nodeRangeProperties\": [{\"targetNodes\": \"0:\", \"container\": {\"image\": \"busybox\", "
             "\"command\": [\"sleep\", \"1\"], \"vcpus\": 1, \"memory\": 128}}]}}");
  expect_req("register JD with deep shorthand",
             ARGV("register-job-definition", "--job-definition-name", "jd", "--type", "container",
                  "--container-properties",
                  "image=busybox,command=[sleep,1],resourceRequirements=[{type=VCPU,value=1},{type=MEMORY,value=512}],"
                  "privileged=true,linuxParameters={sharedMemorySize=64,initProcessEnabled=false},"
                  "ulimits=[{name=nofile,softLimit=1024,hardLimit=4096}]"),
             "{\"jobDefinitionName\": \"jd\", \"type\": \"container\", \"containerProperties\": "
             "{\"image\": \"busybox\", \"command\": [\"sleep\", \"1\"], \"resourceRequirements\": "
             "[{\"type\": \"VCPU\", \"value\": \"1\"}, {\"type\": \"MEMORY\", \"value\": \"512\"}], "
             "\"privileged\": true, \"linuxParameters\": {\"sharedMemorySize\": 64, \"initProcessEnabled\": false}, "
             "\"ulimits\": [{\"name\": \"nofile\", \"softLimit\": 1024, \"hardLimit\": 4096}]}}");
  expect_req("register JD scalars and lists",
             ARGV("register-job-definition", "--job-definition-name", "jd", "--type", "container",
                  "--platform-capabilities", "EC2", "--propagate-tags", "--scheduling-priority", "7",
                  "--timeout", "attemptDurationSeconds=60", "--parameters", "in=s3://b/k"),
             "{\"jobDefinitionName\": \"jd\", \"type\": \"container\", \"platformCapabilities\": [\"EC2\"], "
             "\"propagateTags\": true, \"schedulingPriority\": 7, \"timeout\": {\"attemptDurationSeconds\": 60}, "
             "\"parameters\": {\"in\": \"s3://b/k\"}}");
  expect_req("deregister JD", ARGV("deregister-job-definition", "--job-definition", "jd:1"),
             "{\"jobDefinition\": \"jd:1\"}");
  expect_req("describe JDs by name", ARGV("describe-job-definitions", "--job-definition-name", "jd", "--status", "ACTIVE"),
             "{\"jobDefinitionName\": \"jd\", \"status\": \"ACTIVE\"}");
  expect_req("describe JDs by list", ARGV("describe-job-definitions", "--job-definitions", "jd:1", "jd:2"),
             "{\"jobDefinitions\": [\"jd:1\", \"jd:2\"]}");
  expect_req("fair-share policy with float weights",
             ARGV("create-scheduling-policy", "--name", "fair", "--fairshare-policy",
                  "shareDecaySeconds=3600,computeReservation=50,shareDistribution=[{shareIdentifier=teamA,weightFactor=0.5},{shareIdentifier=teamB*}]"),
             "{\"name\": \"fair\", \"fairsharePolicy\": {\"shareDecaySeconds\": 3600, \"computeReservation\": 50, "
             "\"shareDistribution\": [{\"shareIdentifier\": \"teamA\", \"weightFactor\": 0.5}, {\"shareIdentifier\": \"teamB*\"}]}}");
  expect_req("wrapped single structure is converted too",
             ARGV("create-scheduling-policy", "--name", "fair", "--fairshare-policy",
                  "shareDistribution={shareIdentifier=a,weightFactor=2}"),
             "{\"name\": \"fair\", \"fairsharePolicy\": {\"shareDistribution\": [{\"shareIdentifier\": \"a\", \"weightFactor\": 2.0}]}}");
  expect_req("update policy", ARGV("update-scheduling-policy", "--arn", "arn:x", "--fairshare-policy", "shareDecaySeconds=600"),
             "{\"arn\": \"arn:x\", \"fairsharePolicy\": {\"shareDecaySeconds\": 600}}");
  expect_req("delete policy", ARGV("delete-scheduling-policy", "--arn", "arn:x"), "{\"arn\": \"arn:x\"}");
  expect_req("describe policies", ARGV("describe-scheduling-policies", "--arns", "arn:x", "arn:y"),
             "{\"arns\": [\"arn:x\", \"arn:y\"]}");
  expect_req("list policies", ARGV("list-scheduling-policies", "--max-results", "10", "--next-token", "t"),
             "{\"maxResults\": 10, \"nextToken\": \"t\"}");
  expect_req("snapshot", ARGV("get-job-queue-snapshot", "--job-queue", "q"), "{\"jobQueue\": \"q\"}");
  expect_req("tag", ARGV("tag-resource", "--resource-arn", "arn:x", "--tags", "a=b,c=d"),
             "{\"resourceArn\": \"arn:x\", \"tags\": {\"a\": \"b\", \"c\": \"d\"}}");
  expect_req("tag JSON", ARGV("tag-resource", "--resource-arn", "arn:x", "--tags", "{\"a\": \"b\"}"),
             "{\"resourceArn\": \"arn:x\", \"tags\": {\"a\": \"b\"}}");
  expect_req("untag", ARGV("untag-resource", "--resource-arn", "arn:x", "--tag-keys", "a", "c"),
             "{\"resourceArn\": \"arn:x\", \"tagKeys\": [\"a\", \"c\"]}");
  expect_req("list tags", ARGV("list-tags-for-resource", "--resource-arn", "arn:x"), "{\"resourceArn\": \"arn:x\"}");
}

static void test_errors(void) {
  TEST("errors: one line, naming the flag or member and what to do");
  const struct parse_case cases[] = {
      {"missing required", ARGV("submit-job", "--job-queue", "q", "--job-definition", "d"), "barge submit-job: missing required parameter jobName (--job-name)"},
      {"missing required queue CEs", ARGV("create-job-queue", "--job-queue-name", "q", "--priority", "1"),
       "missing required parameter computeEnvironmentOrder (--compute-environment-order)"},
      {"unknown flag", ARGV(SJ, "--bogus", "1"), "barge submit-job: unknown option --bogus"},
      {"misspelt flag gets a suggestion", ARGV(SJ, "--job-nam", "x"), "did you mean --job-name?"},
      {"--no- of a non-boolean", ARGV(SJ, "--no-job-name"), "unknown option --no-job-name"},
      {"paging flag on an unpaginated op", ARGV("cancel-job", "--job-id", "j", "--reason", "r", "--max-items", "3"), "unknown option --max-items"},
      {"missing value at end", ARGV("submit-job", "--job-name"), "barge submit-job: --job-name: expected a value"},
      {"missing value before flag", ARGV("submit-job", "--job-name", "--job-queue", "q"), "--job-name: expected a value"},
      {"structure flag with no value", ARGV(SJ, "--array-properties"), "--array-properties: expected a value"},
      {"positional", ARGV(SJ, "extra"), "unexpected argument 'extra'"},
      {"boolean with a value", ARGV(SJ, "--propagate-tags=true"), "--propagate-tags takes no value"},
      {"bad integer", ARGV("create-job-queue", "--job-queue-name", "q", "--priority", "x", "--compute-environment-order", "order=1,computeEnvironment=ce1"),
       "barge create-job-queue: --priority: expected an integer, got 'x'"},
      {"integer with junk", ARGV("list-jobs", "--job-queue", "q", "--max-results", "5x"), "--max-results: expected an integer, got '5x'"},
      {"malformed shorthand", ARGV(SJ, "--array-properties", "size"), "barge submit-job: --array-properties: expected JSON or shorthand like size=integer, got 'size'"},
      {"malformed list item shorthand", ARGV(SJ, "--depends-on", "jobId"), "--depends-on: expected JSON or shorthand like jobId=string,type=string ..., got 'jobId'"},
      {"comma instead of space between items", ARGV(SJ, "--depends-on", "jobId=a,jobId=b"), "key 'jobId' given twice (separate list items with a space, not a comma)"},
      {"bad integer in shorthand", ARGV(SJ, "--array-properties", "size=abc"), "--array-properties: arrayProperties.size: expected an integer, got 'abc'"},
      {"bad integer in list item", ARGV("create-job-queue", "--job-queue-name", "q", "--priority", "1", "--compute-environment-order", "order=1,computeEnvironment=a", "order=x,computeEnvironment=b"),
       "computeEnvironmentOrder[1].order: expected an integer, got 'x'"},
      {"bad float in shorthand", ARGV("create-scheduling-policy", "--name", "p", "--fairshare-policy", "shareDistribution=[{shareIdentifier=a,weightFactor=heavy}]"),
       "fairsharePolicy.shareDistribution[0].weightFactor: expected a number, got 'heavy'"},
      {"malformed JSON", ARGV(SJ, "--array-properties", "{\"size\": }"), "barge submit-job: --array-properties: invalid JSON"},
      {"malformed JSON list", ARGV("describe-jobs", "--jobs", "[\"a\","), "--jobs: invalid JSON"},
      {"mixed JSON and shorthand items", ARGV(SJ, "--depends-on", "{\"jobId\": \"a\"}", "jobId=b"), "--depends-on: expected JSON like the first value, got 'jobId=b'"},
      {"unknown nested member", ARGV(SJ, "--array-properties", "sise=8"), "--array-properties: unknown parameter arrayProperties.sise, must be one of: size"},
      {"unknown deep member", ARGV(SJ, "--container-overrides", "environment=[{name=A,val=1}]"),
       "unknown parameter containerOverrides.environment[0].val, must be one of: name, value"},
      {"JSON type mismatch", ARGV(SJ, "--array-properties", "{\"size\": \"8\"}"),
       "--array-properties: invalid type for parameter arrayProperties.size: expected integer, got \"8\""},
      {"list where string expected", ARGV(SJ, "--depends-on", "jobId=a,b"), "invalid type for parameter dependsOn[0].jobId: expected string, got [\"a\",\"b\"]"},
      {"boolean word not true/false", ARGV("update-compute-environment", "--compute-environment", "c", "--update-policy", "terminateJobsOnUpdate=yes"),
       "invalid type for parameter updatePolicy.terminateJobsOnUpdate: expected boolean, got \"yes\""},
      {"nested required member", ARGV(SJ, "--retry-strategy", "evaluateOnExit=[{onExitCode=1}]"),
       "--retry-strategy: missing required parameter retryStrategy.evaluateOnExit[0].action"},
      {"node-overrides command not a list", ARGV(SJ, "--node-overrides", "{\"nodePropertyOverrides\": [{\"targetNodes\": \"0:\", \"containerOverrides\": {\"command\": \"echo\"}}]}"),
       "--node-overrides: invalid type for parameter nodeOverrides.nodePropertyOverrides[0].containerOverrides.command: expected list, got \"echo\""},
      {"node-properties bad integer", ARGV("register-job-definition", "--job-definition-name", "jd", "--type", "multinode", "--node-properties", "numNodes=two,mainNode=0,nodeRangeProperties=[]"),
       "--node-properties: nodeProperties.numNodes: expected an integer, got 'two'"},
      {"CE required maxvCpus", ARGV("create-compute-environment", "--compute-environment-name", "c", "--type", "MANAGED", "--compute-resources", "type=EC2"),
       "missing required parameter computeResources.maxvCpus"},
      {"bad --output", ARGV(SJ, "--output", "xml"), "--output: invalid choice 'xml'"},
      {"skeleton output", ARGV("submit-job", "--generate-cli-skeleton", "output"), "--generate-cli-skeleton: only 'input' is supported"},
      {"no-paginate with max-items", ARGV("list-jobs", "--job-queue", "q", "--no-paginate", "--max-items", "3"),
       "cannot use --no-paginate, --next-token or --max-results with --max-items"},
      {"next-token with starting-token", ARGV("list-jobs", "--job-queue", "q", "--next-token", "a", "--starting-token", "b"), "with --starting-token"},
      {"not a starting token", ARGV("list-jobs", "--job-queue", "q", "--starting-token", "tok"),
       "--starting-token: 'tok' is not a token this command printed as NextToken"},
      {"max-items 0", ARGV("list-jobs", "--job-queue", "q", "--max-items", "0"), "--max-items must be at least 1"},
      {"page-size 0", ARGV("list-jobs", "--job-queue", "q", "--page-size", "-1"), "--page-size must be at least 1"},
  };
  EXPECT_EACH(expect_err, cases);
  /* the HTTP API checks a request against the same model: a node override of the wrong type is
   * the client's error (it was a ServerException from the request's encoding) */
  json_t *req = json_loads("{\"jobName\": \"a\", \"jobQueue\": \"q\", \"jobDefinition\": \"d\", \"nodeOverrides\": "
                           "{\"nodePropertyOverrides\": [{\"targetNodes\": \"0:\", \"containerOverrides\": {\"command\": \"echo\"}}]}}",
                           0, NULL);
  char err[400] = "";
  int rc = aws_check_request(aws_op_find("submit-job"), req, err, sizeof err);
  CHECK(rc == API_CLIENT_ERROR && strstr(err, "nodeOverrides.nodePropertyOverrides[0].containerOverrides.command"),
        "API check of a string command override: rc %d, '%s'", rc, err);
  json_decref(req);
}

static void test_globals(void) {
  TEST("global options: recorded, skipped, leading ones before the operation");
  struct awscli_globals g;
  awscli_globals_init(&g);
  json_t *req = NULL;
  char err[400] = "";
  int rc = parse(ARGV(SJ, "--brokers", "127.0.0.1:9092", "--topic-prefix", "t1.", "--kafka-props", "security.protocol=SASL_SSL,sasl.mechanisms=PLAIN",
                      "--output", "text", "--query", "jobId",
                      "--region", "local", "--endpoint-url", "http://127.0.0.1:8080", "--profile", "p",
                      "--debug", "--no-cli-pager", "--cli-read-timeout", "5", "--cli-connect-timeout=3",
                      "--no-verify-ssl", "--color", "off", "--no-sign-request"),
                 &req, &g, err, sizeof err);
  CHECK(rc == 0, "globals: %s", err);
  CHECK_STR(g.brokers, "127.0.0.1:9092");
  CHECK_STR(g.topic_prefix, "t1."); /* barge --help lists it as a common option */
  CHECK_STR(g.kafka_props, "security.protocol=SASL_SSL,sasl.mechanisms=PLAIN");
  CHECK_STR(g.output, "text");
  CHECK_STR(g.query, "jobId");
  CHECK_STR(g.region, "local");
  CHECK_STR(g.endpoint_url, "http://127.0.0.1:8080");
  CHECK_STR(g.profile, "p");
  CHECK_INT(g.debug, 1);
  CHECK_INT(g.no_cli_pager, 1);
  CHECK_INT(g.action, AWSCLI_RUN);
  json_t *want = json_loads("{" SJ_JSON "}", 0, NULL);
  CHECK(req && json_equal(req, want), "globals are not request members");
  json_decref(want);
  json_decref(req);

  awscli_globals_init(&g);
  char **argv = ARGV("barge", "--output=json", "--region", "r1", "--debug", "submit-job", "--job-name", "x");
  int next = 1;
  rc = awscli_parse_globals(argc_of(argv), argv, &next, &g, err, sizeof err);
  CHECK(rc == 0, "leading globals: %s", err);
  CHECK_INT(next, 5);
  CHECK_STR(argv[next], "submit-job");
  CHECK_STR(g.output, "json");
  CHECK_STR(g.region, "r1");
  CHECK_INT(g.debug, 1);
  next = 1;
  rc = awscli_parse_globals(3, ARGV("barge", "--output", "yaml2"), &next, &g, err, sizeof err);
  CHECK(rc == -1 && strstr(err, "invalid choice"), "bad leading --output: %s", err);
  next = 1;
  rc = awscli_parse_globals(2, ARGV("barge", "--region"), &next, &g, err, sizeof err);
  CHECK(rc == -1 && strstr(err, "--region: expected a value"), "leading --region: %s", err);

  TEST("pagination options of paginated operations");
  awscli_globals_init(&g);
  rc = parse(ARGV("list-jobs", "--job-queue", "q", "--max-items", "10", "--page-size", "5",
                  "--starting-token", "eyJuZXh0VG9rZW4iOiJhYmMiLCJib3RvX3RydW5jYXRlX2Ftb3VudCI6Mn0="),
             &req, &g, err, sizeof err); /* botocore's token: {"nextToken":"abc","boto_truncate_amount":2} */
  CHECK(rc == 0, "paging: %s", err);
  CHECK_INT(g.max_items, 10);
  CHECK_INT(g.page_size, 5);
  CHECK_STR(g.starting_token, "eyJuZXh0VG9rZW4iOiJhYmMiLCJib3RvX3RydW5jYXRlX2Ftb3VudCI6Mn0=");
  CHECK_INT(g.paginate, 1);
  want = json_loads("{\"jobQueue\": \"q\"}", 0, NULL);
  CHECK(req && json_equal(req, want), "paging options are not request members");
  json_decref(want);
  json_decref(req);
  awscli_globals_init(&g);
  rc = parse(ARGV("list-jobs", "--job-queue", "q", "--max-results", "5"), &req, &g, err, sizeof err);
  CHECK(rc == 0 && g.paginate == 0, "--max-results turns auto-pagination off");
  json_decref(req);
  awscli_globals_init(&g);
  rc = parse(ARGV("describe-job-queues", "--no-paginate"), &req, &g, err, sizeof err);
  CHECK(rc == 0 && g.paginate == 0, "--no-paginate");
  json_decref(req);
}

static void test_help_and_skeleton(void) {
  TEST("help and --generate-cli-skeleton");
  struct awscli_globals g;
  json_t *req = (json_t *)1;
  char err[400] = "";
  awscli_globals_init(&g);
  int rc = parse(ARGV("submit-job", "help"), &req, &g, err, sizeof err);
  CHECK(rc == 0 && g.action == AWSCLI_HELP && req == NULL, "help positional");
  awscli_globals_init(&g);
  rc = parse(ARGV("submit-job", "--job-name", "--help"), &req, &g, err, sizeof err);
  CHECK(rc == 0 && g.action == AWSCLI_HELP && req == NULL, "--help wins over errors");
  awscli_globals_init(&g);
  rc = parse(ARGV("cancel-job", "-h"), &req, &g, err, sizeof err);
  CHECK(rc == 0 && g.action == AWSCLI_HELP, "-h");
  awscli_globals_init(&g);
  rc = parse(ARGV("submit-job", "--generate-cli-skeleton"), &req, &g, err, sizeof err);
  CHECK(rc == 0 && g.action == AWSCLI_SKELETON && req == NULL, "skeleton ignores required: %s", err);
  awscli_globals_init(&g);
  rc = parse(ARGV("submit-job", "--generate-cli-skeleton", "input"), &req, &g, err, sizeof err);
  CHECK(rc == 0 && g.action == AWSCLI_SKELETON, "skeleton input: %s", err);

  json_t *sk = awscli_skeleton(aws_op_find("submit-job"));
  json_t *want = json_loads(
      "{\"jobName\": \"\", \"jobQueue\": \"\", \"shareIdentifier\": \"\", \"schedulingPriorityOverride\": 0,"
      " \"arrayProperties\": {\"size\": 0}, \"dependsOn\": [{\"jobId\": \"\", \"type\": \"N_TO_N\"}],"
      " \"jobDefinition\": \"\", \"parameters\": {\"KeyName\": \"\"},"
      " \"containerOverrides\": {\"vcpus\": 0, \"memory\": 0, \"command\": [\"\"], \"instanceType\": \"\","
      " \"environment\": [{\"name\": \"\", \"value\": \"\"}], \"resourceRequirements\": [{\"value\": \"\", \"type\": \"GPU\"}]},"
      " \"nodeOverrides\": {\"numNodes\": 0, \"nodePropertyOverrides\": [{\"targetNodes\": \"\", \"containerOverrides\":"
      " {\"vcpus\": 0, \"memory\": 0, \"command\": [\"\"], \"instanceType\": \"\", \"environment\": [{\"name\": \"\", \"value\": \"\"}],"
      " \"resourceRequirements\": [{\"value\": \"\", \"type\": \"GPU\"}]}, \"instanceTypes\": [\"\"]}]},"
      " \"retryStrategy\": {\"attempts\": 0, \"evaluateOnExit\": [{\"onStatusReason\": \"\", \"onReason\": \"\","
      " \"onExitCode\": \"\", \"action\": \"RETRY\"}]}, \"propagateTags\": true,"
      " \"timeout\": {\"attemptDurationSeconds\": 0}, \"tags\": {\"KeyName\": \"\"}}",
      0, NULL);
  char *got = json_dumps(sk, JSON_COMPACT);
  CHECK(want && json_equal(sk, want), "submit-job skeleton: %s", got);
  free(got);
  json_decref(sk);
  json_decref(want);
  sk = awscli_skeleton(aws_op_find("create-compute-environment"));
  json_t *cr = json_object_get(sk, "computeResources");
  CHECK_STR(json_string_value(json_object_get(cr, "type")), "EC2");
  CHECK(json_is_integer(json_object_get(cr, "maxvCpus")), "maxvCpus placeholder");
  json_t *lt_over = json_object_get(json_object_get(cr, "launchTemplate"), "overrides");
  CHECK(json_is_object(json_array_get(lt_over, 0)), "deep skeleton");
  CHECK(json_object_get(sk, "eksConfiguration") == NULL, "out-of-scope member in skeleton");
  json_decref(sk);
  sk = awscli_skeleton(aws_op_find("create-scheduling-policy"));
  json_t *sd = json_array_get(json_object_get(json_object_get(sk, "fairsharePolicy"), "shareDistribution"), 0);
  CHECK(json_is_real(json_object_get(sd, "weightFactor")), "float placeholder");
  CHECK(json_object_get(sk, "quotaSharePolicy") == NULL, "quotaSharePolicy hidden");
  json_decref(sk);

  /* Every skeleton is valid input for its own operation (all required members present). */
  for (size_t i = 0; i < aws_n_ops; i++) {
    const struct aws_op *op = &aws_ops[i];
    sk = awscli_skeleton(op);
    char *text = json_dumps(sk, JSON_COMPACT);
    awscli_globals_init(&g);
    rc = awscli_parse(op, 3, ARGV((char *)op->cli_name, "--cli-input-json", text), &req, &g, err, sizeof err);
    CHECK(rc == 0, "%s skeleton as input: %s", op->cli_name, err);
    json_decref(req);
    free(text);
    json_decref(sk);
  }

  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  awscli_usage(aws_op_find("submit-job"), f);
  fclose(f);
  CHECK(strstr(text, "usage: barge submit-job --job-name <value> --job-queue <value> --job-definition <value>"),
        "synopsis");
  CHECK(strstr(text, "  --job-name <value> (string) *\n"), "required mark");
  CHECK(strstr(text, "  --share-identifier <value> (string)\n"), "optional flag");
  CHECK(strstr(text, "--depends-on <value> [<value> ...] (list of structures)"), "list flag");
  CHECK(strstr(text, "shorthand: jobId=string,type=string ..."), "list shorthand");
  CHECK(strstr(text, "shorthand: size=integer"), "structure shorthand");
  CHECK(strstr(text, "--propagate-tags | --no-propagate-tags (boolean)"), "boolean pair");
  CHECK(strstr(text, "--cli-input-json"), "cli-input-json");
  CHECK(strstr(text, "Example:\n  barge submit-job"), "example");
  CHECK(strstr(text, "--eks-properties-override") == NULL, "out-of-scope flag in help");
  CHECK(strstr(text, "--node-overrides"), "in-scope document flag in help");
  CHECK(strstr(text, "--brokers"), "global options");
  /* help listed --endpoint-url, --region, --profile and --debug as options of barge's, though
   * barge drops them, and --output without yaml */
  CHECK(strstr(text, "--output json|text|table|yaml|yaml-stream"), "every --output choice");
  CHECK(strstr(text, "--region, --endpoint-url, --profile, --debug, --no-cli-pager,\n  --cli-read-timeout, --no-verify-ssl, ... are accepted and ignored"),
        "the AWS CLI options barge ignores are said to be ignored");
  free(text);
  f = open_memstream(&text, &len);
  awscli_usage(aws_op_find("list-jobs"), f);
  fclose(f);
  CHECK(strstr(text, "one of: SUBMITTED PENDING RUNNABLE STARTING RUNNING SUCCEEDED FAILED"), "enum values");
  CHECK(strstr(text, "--max-items"), "paging options");
  free(text);
  f = open_memstream(&text, &len);
  awscli_usage(aws_op_find("create-compute-environment"), f);
  fclose(f);
  CHECK(strstr(text, "shorthand: type=string,allocationStrategy=string,minvCpus=integer,maxvCpus=integer"),
        "top-level shorthand of a deep structure");
  free(text);
  f = open_memstream(&text, &len);
  awscli_list_ops(f);
  fclose(f);
  for (size_t i = 0; i < aws_n_ops; i++)
    CHECK(strstr(text, aws_ops[i].cli_name), "list_ops lacks %s", aws_ops[i].cli_name);
  free(text);
}

/* Splits a help example like a shell would: quotes, backslash-newline, spaces. */
static int split_words(const char *s, char **words, int max, char *store) {
  int n = 0;
  char *o = store;
  while (*s) {
    while (*s == ' ' || *s == '\n' || (*s == '\\' && s[1] == '\n')) s += (*s == '\\') ? 2 : 1;
    if (!*s) break;
    if (n == max) return -1;
    words[n++] = o;
    while (*s && *s != ' ' && *s != '\n') {
      if (*s == '\'') {
        for (s++; *s && *s != '\''; s++) *o++ = *s;
        if (*s) s++;
      } else if (*s == '"') {
        for (s++; *s && *s != '"'; s++) *o++ = (*s == '\\' && s[1]) ? *++s : *s;
        if (*s) s++;
      } else if (*s == '\\' && s[1] == '\n') {
        break;
      } else {
        *o++ = *s++;
      }
    }
    *o++ = 0;
  }
  return n;
}

static void test_examples(void) {
  TEST("every help example parses");
  for (size_t i = 0; i < aws_n_ops; i++) {
    const struct aws_op *op = &aws_ops[i];
    char *words[64], store[2048];
    int n = split_words(op->example, words, 64, store);
    CHECK(n >= 2 && strcmp(words[0], "barge") == 0 && strcmp(words[1], op->cli_name) == 0,
          "%s: example '%s'", op->cli_name, op->example);
    if (n < 2) continue;
    words[n] = NULL;
    struct awscli_globals g;
    awscli_globals_init(&g);
    json_t *req = NULL;
    char err[600] = "";
    int rc = awscli_parse(op, n - 1, words + 1, &req, &g, err, sizeof err);
    CHECK(rc == 0 && req, "%s example: %s", op->cli_name, err);
    json_decref(req);
  }
}

/* --output text as the AWS CLI's awscli/text.py writes it (the expected strings are what
 * awscli.text.format_text printed for the same JSON): rows named by the member holding them, keys
 * sorted, a list of objects on the union of their scalar keys, Python's None/True/False. It used
 * to print every value of the response on one line, in the response's order, with true/false. */
static void expect_output(const char *output, const char *in, const char *query, const char *want) {
  json_error_t je;
  json_t *v = json_loads(in, JSON_DECODE_ANY, &je);
  struct awscli_globals g;
  awscli_globals_init(&g);
  g.output = output;
  g.query = query;
  char *got = NULL, err[256] = "";
  size_t len = 0;
  FILE *f = open_memstream(&got, &len);
  int rc = awscli_print(v, &g, f, err, sizeof err);
  fclose(f);
  CHECK(rc == 0 && !strcmp(got, want), "--output %s of %s: got '%s', want '%s' (%s)", output, in, got, want, err);
  free(got);
  json_decref(v);
}

static void expect_text(const char *in, const char *query, const char *want) { expect_output("text", in, query, want); }

/* An operation without a response body (CancelJob, TagResource, Delete*) answers {}: the AWS CLI
 * prints nothing for it in any format (awscli/formatter.py), nor for a --query that gives {};
 * barge printed {} (json, yaml) and - {} (yaml-stream). Other empty values still print. */
static void test_empty_output(void) {
  TEST("an empty response prints nothing in every --output, as the AWS CLI");
  static const char *const fmts[] = {"json", "text", "table", "yaml", "yaml-stream"};
  for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++) {
    expect_output(fmts[i], "{}", NULL, "");
    expect_output(fmts[i], "{\"jobs\": [{\"tags\": {}}]}", "jobs[0].tags", "");
  }
  expect_output("json", "{\"jobs\": []}", "jobs", "[]\n");
  expect_output("json", "{\"jobs\": []}", NULL, "{\n    \"jobs\": []\n}\n");
}

static void test_text_output(void) {
  TEST("--output text (and json) as the AWS CLI writes it");
  expect_text("{\"jobs\": [{\"jobId\": \"j1\", \"status\": \"FAILED\", \"isCancelled\": false, \"retry\": null, "
              "\"attempts\": [{\"container\": {\"exitCode\": 3, \"logStreamName\": \"s\"}, \"startedAt\": 5}], "
              "\"tags\": {\"team\": \"a\"}, \"container\": {\"command\": [\"sh\", \"-c\", \"x\"], \"environment\": "
              "[{\"name\": \"A\", \"value\": \"x\"}]}}, {\"jobId\": \"j2\", \"status\": \"RUNNING\", \"extra\": 1, "
              "\"attempts\": []}], \"nextToken\": \"t\"}",
              NULL,
              "t\nJOBS\t\tFalse\tj1\tNone\tFAILED\nATTEMPTS\t5\nCONTAINER\t3\ts\nCOMMAND\tsh\nCOMMAND\t-c\n"
              "COMMAND\tx\nENVIRONMENT\tA\tx\nTAGS\ta\nJOBS\t1\t\tj2\t\tRUNNING\n");
  expect_text("[[\"a\", \"b\"], \"c\", [\"d\"]]", NULL, "c\na\tb\nd\n");
  expect_text("{\"a\": [1, {\"b\": 2}], \"z\": true}", "a[1]", "2\n");
  expect_text("{\"z\": true, \"y\": [1, 2]}", NULL, "True\nY\t1\nY\t2\n");
  expect_text("{\"jobs\": [{\"jobId\": \"j1\", \"status\": \"SUCCEEDED\"}]}", "jobs[].[jobId, status]",
              "j1\tSUCCEEDED\n");
  expect_text("{\"jobs\": []}", "jobs[0].jobId", "None\n");
  expect_text("{\"jobs\": []}", "jobs", "");
  /* --max-items' NextToken: a row of its own, after the listing; the query applied to each */
  expect_text("{\"jobQueues\": [{\"jobQueueName\": \"q\"}], \"NextToken\": \"tok\"}", NULL,
              "JOBQUEUES\tq\nNEXTTOKEN\ttok\n");
  expect_text("{\"jobQueues\": [{\"jobQueueName\": \"q\"}], \"NextToken\": \"tok\"}",
              "{q: jobQueues[].jobQueueName, t: NextToken}", "None\nQ\tq\nNone\nT\ttok\n");
  /* reals as Python writes them, in text and in JSON: 0.1, not jansson's 0.10000000000000001 */
  expect_text("{\"shareDistribution\": [{\"shareIdentifier\": \"a\", \"weightFactor\": 0.1}, "
              "{\"shareIdentifier\": \"b\", \"weightFactor\": 1.0}]}",
              NULL, "SHAREDISTRIBUTION\ta\t0.1\nSHAREDISTRIBUTION\tb\t1.0\n");
  expect_output("json", "{\"weightFactor\": 0.1, \"b\": [1.0, 2, {}, [], null, true, 3e-05, 1e+16], "
                "\"c\": {\"d\": \"x\\\"y\u00e9\"}, \"e\": []}", NULL,
                "{\n    \"weightFactor\": 0.1,\n    \"b\": [\n        1.0,\n        2,\n        {},\n        [],\n"
                "        null,\n        true,\n        3e-05,\n        1e+16\n    ],\n    \"c\": {\n"
                "        \"d\": \"x\\\"y\u00e9\"\n    },\n    \"e\": []\n}\n");
  expect_output("json", "{\"a\": 0.30000000000000004}", "a", "0.30000000000000004\n");
  /* a member scalar in one object of a list and not in another: there its value is printed in
   * the row as Python's str() writes it (awscli/text.py) */
  expect_text("{\"l\": [{\"a\": null, \"n\": \"x\"}, {\"a\": {\"size\": 2, \"s\": \"it's\", \"f\": 0.5, "
              "\"t\": true, \"l\": [1, null]}, \"n\": \"y\"}]}",
              NULL, "L\tNone\tx\nL\t{'size': 2, 's': \"it's\", 'f': 0.5, 't': True, 'l': [1, None]}\ty\n");
}

int main(void) {
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_table();
  test_shorthand_grammar();
  test_submit_job();
  test_files();
  test_other_ops();
  test_errors();
  test_globals();
  test_help_and_skeleton();
  test_examples();
  test_text_output();
  test_empty_output();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  return check_summary();
}
