/* test_jmespath.c: --query's JMESPath (producers/aws/jmespath.c). Every expected result below
 * is what jmespath.py 1.1.0 (the AWS CLI's JMESPath) returns for the same expression and
 * document; tests/e2e/test_cli_query.py checks `barge --query` against jmespath.py itself on
 * real responses. Also: syntax errors and unknown functions are refused when compiling (with
 * the column), type errors in functions fail the search. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jmespath.h"

static const char *doc = "{\"jobs\":[{\"jobName\":\"a\",\"jobId\":\"id-1\",\"status\":\"SUCCEEDED\",\"createdAt\":30,\"tags\":{\"team\":\"x\",\"env\":\"prod\"},\"attempts\":[{\"container\":{\"exitCode\":0},\"statusReason\":\"ok\"},{\"container\":{\"exitCode\":1}}],\"container\":{\"command\":[\"sh\",\"-c\",\"true\"],\"vcpus\":2}},{\"jobName\":\"b\",\"jobId\":\"id-2\",\"status\":\"FAILED\",\"createdAt\":10,\"tags\":{},\"attempts\":[{\"container\":{\"exitCode\":3},\"statusReason\":\"Essential container exited\"}],\"container\":{\"command\":[\"false\"],\"vcpus\":1}},{\"jobName\":\"c\",\"jobId\":\"id-3\",\"status\":\"RUNNING\",\"createdAt\":20,\"attempts\":[],\"container\":{\"vcpus\":4},\"arrayProperties\":{\"size\":3}}],\"jobQueues\":[{\"jobQueueName\":\"q\",\"priority\":1,\"state\":\"ENABLED\"},{\"jobQueueName\":\"r\",\"priority\":5,\"state\":\"DISABLED\"}],\"n\":[3,1,2],\"s\":[\"b\",\"a\",\"c\"],\"nested\":[[1,[2]],3,[4,5]],\"f\":1.5,\"neg\":-2,\"t\":true,\"e\":\"\",\"z\":0,\"u\":\"h\\u00e9llo\"}";

static const struct {
  const char *expr, *want;
} cases[] = {
    {"jobs[0].jobId", "\"id-1\""},
    {"jobs[-1].jobName", "\"c\""},
    {"jobs[5]", "null"},
    {"jobs[].jobId", "[\"id-1\",\"id-2\",\"id-3\"]"},
    {"jobs[*].status", "[\"SUCCEEDED\",\"FAILED\",\"RUNNING\"]"},
    {"jobs[].attempts[].container.exitCode", "[0,1,3]"},
    {"jobs[].attempts[].statusReason", "[\"ok\",\"Essential container exited\"]"},
    {"jobs[*].attempts[*].container.exitCode", "[[0,1],[3],[]]"},
    {"jobs[].attempts[0].container.exitCode", "[0,3]"},
    {"jobs[?status==`SUCCEEDED`].jobId", "[\"id-1\"]"},
    {"jobs[?status=='FAILED'].jobName", "[\"b\"]"},
    {"jobs[?status!=`\"SUCCEEDED\"`].jobId", "[\"id-2\",\"id-3\"]"},
    {"jobs[?createdAt > `15`].jobName", "[\"a\",\"c\"]"},
    {"jobs[?createdAt >= `20`].jobName", "[\"a\",\"c\"]"},
    {"jobs[?createdAt < `20`].jobName", "[\"b\"]"},
    {"jobs[?createdAt <= `20` && status != 'FAILED'].jobName", "[\"c\"]"},
    {"jobs[?status == 'FAILED' || createdAt > `25`].jobName", "[\"a\",\"b\"]"},
    {"jobs[?!arrayProperties].jobName", "[\"a\",\"b\"]"},
    {"jobs[?arrayProperties].arrayProperties.size", "[3]"},
    {"jobQueues[?jobQueueName==`q`]", "[{\"jobQueueName\":\"q\",\"priority\":1,\"state\":\"ENABLED\"}]"},
    {"jobQueues[?jobQueueName==`q`].priority | [0]", "1"},
    {"length(jobs)", "3"},
    {"length(jobs[0].tags)", "2"},
    {"length(u)", "5"},
    {"length('abc')", "3"},
    {"jobs[0].{s:status, n:jobName}", "{\"s\":\"SUCCEEDED\",\"n\":\"a\"}"},
    {"jobs[].{id: jobId, code: attempts[0].container.exitCode}", "[{\"id\":\"id-1\",\"code\":0},{\"id\":\"id-2\",\"code\":3},{\"id\":\"id-3\",\"code\":null}]"},
    {"jobs | [0].jobName", "\"a\""},
    {"jobs[*].jobName | [1]", "\"b\""},
    {"jobs[0].[status, attempts[0].statusReason]", "[\"SUCCEEDED\",\"ok\"]"},
    {"jobs[].[jobName, status]", "[[\"a\",\"SUCCEEDED\"],[\"b\",\"FAILED\"],[\"c\",\"RUNNING\"]]"},
    {"jobs[:2].jobName", "[\"a\",\"b\"]"},
    {"jobs[::-1].jobName", "[\"c\",\"b\",\"a\"]"},
    {"jobs[1:].jobName", "[\"b\",\"c\"]"},
    {"n[::2]", "[3,2]"},
    {"n[-2:]", "[1,2]"},
    {"n[5:1:-1]", "[2]"},
    {"nested[]", "[1,[2],3,4,5]"},
    {"nested[][]", "[1,2,3,4,5]"},
    {"nested[].to_string(@)", "[\"1\",\"[2]\",\"3\",\"4\",\"5\"]"},
    {"sort_by(jobs, &createdAt)[].jobName", "[\"b\",\"c\",\"a\"]"},
    {"sort_by(jobs, &jobName)[].jobId", "[\"id-1\",\"id-2\",\"id-3\"]"},
    {"max_by(jobs, &createdAt).jobName", "\"a\""},
    {"min_by(jobs, &createdAt).jobName", "\"b\""},
    {"max_by(jobs, &container.vcpus).jobId", "\"id-3\""},
    {"contains(jobs[].status, 'FAILED')", "true"},
    {"contains(jobs[0].jobName, 'a')", "true"},
    {"jobs[?contains(jobId, '2')].jobName", "[\"b\"]"},
    {"jobs[?starts_with(jobId, 'id-')].jobId", "[\"id-1\",\"id-2\",\"id-3\"]"},
    {"jobs[?ends_with(jobId, '3')].jobId", "[\"id-3\"]"},
    {"keys(jobs[0].tags)", "[\"team\",\"env\"]"},
    {"values(jobs[0].tags)", "[\"x\",\"prod\"]"},
    {"sort(n)", "[1,2,3]"},
    {"sort(s)", "[\"a\",\"b\",\"c\"]"},
    {"join(', ', s)", "\"b, a, c\""},
    {"join('', jobs[].jobName)", "\"abc\""},
    {"reverse(n)", "[2,1,3]"},
    {"reverse(u)", "\"oll\\u00e9h\""},
    {"to_string(n)", "\"[3,1,2]\""},
    {"to_string(jobs[0].tags)", "\"{\\\"team\\\":\\\"x\\\",\\\"env\\\":\\\"prod\\\"}\""},
    {"to_string('x')", "\"x\""},
    {"to_string(`0.1`)", "\"0.1\""},
    {"to_string(`[0.1, 2.0, {\"w\": 0.3}]`)", "\"[0.1,2.0,{\\\"w\\\":0.3}]\""},
    {"to_number('12')", "12"},
    {"to_number('1.5')", "1.5"},
    {"to_number('x')", "null"},
    {"to_number(z)", "0"},
    {"max(n)", "3"},
    {"min(s)", "\"a\""},
    {"sum(n)", "6"},
    {"avg(n)", "2.0"},
    {"abs(neg)", "2"},
    {"ceil(f)", "2"},
    {"floor(f)", "1"},
    {"type(f)", "\"number\""},
    {"type(jobs)", "\"array\""},
    {"not_null(missing, e, z)", "\"\""},
    {"to_array(z)", "[0]"},
    {"merge(jobs[0].tags, `{\"team\": \"y\", \"k\": 1}`)", "{\"team\":\"y\",\"env\":\"prod\",\"k\":1}"},
    {"map(&jobName, jobs)", "[\"a\",\"b\",\"c\"]"},
    {"jobs[0].tags.*", "[\"x\",\"prod\"]"},
    {"*.priority", "[]"},
    {"jobQueues[*].*", "[[\"q\",1,\"ENABLED\"],[\"r\",5,\"DISABLED\"]]"},
    {"e || 'default'", "\"default\""},
    {"z || 'default'", "0"},
    {"t && 'yes'", "\"yes\""},
    {"!t", "false"},
    {"!e", "true"},
    {"`[1, 2]`", "[1,2]"},
    {"'it\\'s'", "\"it's\""},
    {"\"jobs\"[0].\"jobId\"", "\"id-1\""},
    {"@.f", "1.5"},
    {"jobs[0].container.command[-1]", "\"true\""},
    {"jobs[?attempts[?container.exitCode == `0`]].jobName", "[\"a\"]"},
    {"jobs[?length(attempts) > `0`].jobName", "[\"a\",\"b\"]"},
    {"t == `true`", "true"},
    {"z == `false`", "false"},
    {"z == `0`", "true"},
    {"f == `1.5`", "true"},
    {"n == `[3,1,2]`", "true"},
    {"jobs[0].tags == `{\"env\": \"prod\", \"team\": \"x\"}`", "true"},
    {"s[?@ > 'a']", "[\"b\",\"c\"]"},
    {"n[?@ >= `2`]", "[3,2]"},
    {"jobs[?status == `SUCCEEDED`]", "[{\"jobName\":\"a\",\"jobId\":\"id-1\",\"status\":\"SUCCEEDED\",\"createdAt\":30,\"tags\":{\"team\":\"x\",\"env\":\"prod\"},\"attempts\":[{\"container\":{\"exitCode\":0},\"statusReason\":\"ok\"},{\"container\":{\"exitCode\":1}}],\"container\":{\"command\":[\"sh\",\"-c\",\"true\"],\"vcpus\":2}}]"},
    {"length(jobs[?status == `SUCCEEDED`])", "1"},
    {"jobs[].attempts[]", "[{\"container\":{\"exitCode\":0},\"statusReason\":\"ok\"},{\"container\":{\"exitCode\":1}},{\"container\":{\"exitCode\":3},\"statusReason\":\"Essential container exited\"}]"},
    {"jobs[].attempts[].container", "[{\"exitCode\":0},{\"exitCode\":1},{\"exitCode\":3}]"},
    {"jobs[0].attempts[].container.exitCode | sort(@)", "[0,1]"},
    {"missing.foo", "null"},
    {"missing[0]", "null"},
    {"missing[]", "null"},
    {"missing[].foo", "null"},
    {"jobs[0].jobName.foo", "null"},
    {"jobs[0].{a: missing}", "{\"a\":null}"},
    {"missing.{a: b}", "null"},
    {"missing.[a]", "null"},
    {"(jobs[0]).jobName", "\"a\""},
    {"jobs[0].attempts[?statusReason].statusReason", "[\"ok\"]"},
    {"jobs[?createdAt > `15`] | length(@)", "2"},
    {"jobs[].container.vcpus | sum(@)", "7"},
    {"jobs[?tags.team == 'x'].jobId", "[\"id-1\"]"},
};

/* Compact JSON with the keys in order, so {a,b} and {b,a} differ as they print differently. */
static char *dump(const json_t *v) {
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
}

static void test_results(void) {
  TEST("results equal jmespath.py's: paths, projections, flatten, filters, pipes, multiselect, slices, functions");
  json_t *data = json_loads(doc, 0, NULL);
  CHECK(data != NULL, "the document parses");
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct jmes *q = NULL;
    char err[512] = "";
    json_t *got = NULL;
    int rc = jmes_compile(cases[i].expr, &q, err, sizeof err);
    CHECK(rc == 0, "%s: compile: %s", cases[i].expr, err);
    if (rc) continue;
    rc = jmes_search(q, data, &got, err, sizeof err);
    CHECK(rc == 0, "%s: search: %s", cases[i].expr, err);
    json_t *want = json_loads(cases[i].want, JSON_DECODE_ANY, NULL);
    char *g = got ? dump(got) : NULL, *w = dump(want);
    CHECK(g && w && !strcmp(g, w), "%s: got %s, jmespath.py gives %s", cases[i].expr, g ? g : "(error)", w);
    free(g);
    free(w);
    json_decref(want);
    json_decref(got);
    jmes_free(q);
  }
  printf("   %zu expressions\n", sizeof cases / sizeof *cases);
  json_decref(data);
}

static void test_compile_errors(void) {
  TEST("bad expressions are refused when compiling, with what is wrong and where");
  static const struct {
    const char *expr, *msg;
  } bad[] = {
      {"jobId[", "(column 7)"},
      {"jobs[0", "expected ']'"},
      {"jobs[?status==`x`", "expected ']'"},
      {"jobs.", "(column 6)"},
      {"a b", "unexpected identifier"},
      {"jobs[0].{s:}", "unexpected '}'"},
      {"jobs[0].{s status}", "expected ':'"},
      {"jobs[0].[status,", "unexpected end of expression"},
      {"length(jobs", "expected ',' or ')'"},
      {"lenght(jobs)", "unknown function lenght()"},
      {"length(a, b)", "length() takes 1 argument, got 2"},
      {"sort_by(jobs)", "sort_by() takes 2 arguments, got 1"},
      {"merge()", "merge() takes at least 1 argument, got 0"},
      {"\"length\"(a)", "a quoted identifier cannot name a function"},
      {"a = b", "'=' is not an operator"},
      {"a[::0]", "step cannot be 0"},
      {"a[1:2:3:4]", "at most two ':'"},
      {"`\"a`", "invalid JSON literal"}, /* (`{bad` is the string "{bad", as in jmespath.py) */
      {"'open", "unterminated '"},
      {"a #", "unexpected character '#'"},
      {"a[0]]", "unexpected ']' after a complete expression"},
      {"- 1", "'-' must be followed by a digit"},
      {"", "empty expression"},
      {"  ", "empty expression"},
      {"1", "unexpected number"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct jmes *q = (struct jmes *)1;
    char err[512] = "";
    int rc = jmes_compile(bad[i].expr, &q, err, sizeof err);
    CHECK(rc == -1 && q == NULL, "'%s' is refused", bad[i].expr);
    CHECK(strstr(err, bad[i].msg) != NULL, "'%s': '%s' says '%s'", bad[i].expr, err, bad[i].msg);
  }
}

static void test_type_errors(void) {
  TEST("a function given the wrong type fails the search (jmespath.py's JMESPathTypeError)");
  json_t *data = json_loads(doc, 0, NULL);
  static const char *const bad[] = {"length(f)", "sort(jobs)", "join(',', n)", "sort_by(jobs, &tags)",
                                    "max_by(jobs, &missing)", "keys(n)", "starts_with(f, 'x')",
                                    "sort(`[1, \"a\"]`)", "&jobName", "contains(u, `1`)",
                                    "length(&jobs)", "avg(s)"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct jmes *q = NULL;
    char err[512] = "";
    json_t *got = NULL;
    int rc = jmes_compile(bad[i], &q, err, sizeof err);
    CHECK(rc == 0, "%s compiles: %s", bad[i], err);
    if (rc) continue;
    rc = jmes_search(q, data, &got, err, sizeof err);
    CHECK(rc == -1 && got == NULL && err[0], "%s fails: %s", bad[i], err);
    jmes_free(q);
  }
  json_decref(data);
}

int main(void) {
  test_results();
  test_compile_errors();
  test_type_errors();
  return check_summary();
}
