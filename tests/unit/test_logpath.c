/* test_logpath.c: the layout of the attempts' logs (lib/logpath.c): an array child's log goes to
 * its parent's folder and any other job's to its own; the attempt number is swapped in a recorded
 * path of either form (and of the layout before array folders); the log server's check takes both
 * forms and their time index, and nothing else. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "logpath.h"

int main(void) {
  char out[256];
  size_t rel = 0;

  TEST("a job that is not an array child: <jobId>/<attempt>.log");
  CHECK(logpath_rel("5f0c9a2e-1b", 1, out, sizeof out) == 0 && !strcmp(out, "5f0c9a2e-1b/1.log"), "%s", out);
  CHECK(logpath_rel("a/b", 12, out, sizeof out) == 0 && !strcmp(out, "a_b/12.log"), "'/' made '_': %s", out);
  CHECK(logpath_rel("..", 1, out, sizeof out) == 0 && !strcmp(out, "_/1.log"), "'..' made '_': %s", out);
  CHECK(logpath_rel("gang#2", 1, out, sizeof out) == 0 && !strcmp(out, "gang#2/1.log"), "a node: %s", out);

  TEST("an array child: <parentId>/<index>.<attempt>.log");
  CHECK(logpath_rel("5f0c9a2e-1b:7", 3, out, sizeof out) == 0 && !strcmp(out, "5f0c9a2e-1b/7.3.log"), "%s", out);
  CHECK(logpath_rel("p:0", 1, out, sizeof out) == 0 && !strcmp(out, "p/0.1.log"), "index 0: %s", out);
  CHECK(logpath_rel("p:x", 1, out, sizeof out) == 0 && !strcmp(out, "p:x/1.log"), "not an index: own folder: %s", out);
  CHECK(logpath_rel(":7", 1, out, sizeof out) == 0 && !strcmp(out, ":7/1.log"), "no parent: own folder: %s", out);
  CHECK(logpath_rel("p:", 1, out, sizeof out) == 0 && !strcmp(out, "p:/1.log"), "no index: own folder: %s", out);

  TEST("out too small");
  CHECK(logpath_rel("5f0c9a2e-1b:7", 3, out, 10) == -1, "refused");
  CHECK(logpath_attempt("/l/p/7.3.log", 1, out, 8, &rel) == -1, "refused");

  TEST("another attempt of a recorded path, and the part below the log dir");
  CHECK(logpath_attempt("/h/logs/p/7.3.log", 1, out, sizeof out, &rel) == 0 && !strcmp(out, "/h/logs/p/7.1.log") &&
            !strcmp(out + rel, "p/7.1.log"),
        "array child: %s (%s)", out, out + rel);
  CHECK(logpath_attempt("/h/logs/j/2.log", 10, out, sizeof out, &rel) == 0 && !strcmp(out, "/h/logs/j/10.log") &&
            !strcmp(out + rel, "j/10.log"),
        "own folder: %s (%s)", out, out + rel);
  CHECK(logpath_attempt("/h/logs/p:7/2.log", 1, out, sizeof out, &rel) == 0 && !strcmp(out, "/h/logs/p:7/1.log") &&
            !strcmp(out + rel, "p:7/1.log"),
        "an array child's log written before array folders: %s", out);
  CHECK(logpath_attempt("j/2.log", 1, out, sizeof out, &rel) == 0 && !strcmp(out, "j/1.log") && rel == 0,
        "a relative path: %s", out);
  CHECK(logpath_attempt("/h/logs/j/x.log", 1, out, sizeof out, NULL) == -1, "no attempt number: refused");
  CHECK(logpath_attempt("/h/logs/j/2.txt", 1, out, sizeof out, NULL) == -1, "not .log: refused");
  CHECK(logpath_attempt("2.log", 1, out, sizeof out, NULL) == -1, "no folder: refused");
  CHECK(logpath_attempt("/2.log", 1, out, sizeof out, NULL) == -1, "no folder below /: refused");
  CHECK(logpath_attempt("/h/logs//2.log", 1, out, sizeof out, NULL) == -1, "an empty folder: refused");
  CHECK(logpath_attempt("/h/logs/j/1.2.3.log", 1, out, sizeof out, NULL) == -1, "three numbers: refused");

  TEST("what the log server serves: both forms and their time index, nothing else");
  const char *good[] = {"j-1/1.log", "p:7/2.log", "p/7.2.log", "p/7.2.log.times", "j_1/123456789.log"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) CHECK(logpath_valid_rel(good[i]), "%s served", good[i]);
  const char *bad[] = {"../x/1.log", "j/../1.log", ".agents/i/state", "j/1.log/x", "j/1.txt", "j/1234567890.log",
                       "j/.log", "j/1..log", "/1.log", "j//1.log", "p/7.2.3.log", "p/7.2.log.times.x", "a b/1.log", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK(!logpath_valid_rel(bad[i]), "%s refused", bad[i]);
  return check_summary();
}
