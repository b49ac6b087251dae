/* check.h: the in-tree assertion header for Barge's C tests.
 *
 * CHECK(cond, fmt, ...) records a pass or a failure with a message; a test file ends with
 * `return check_summary();`, which prints "N passed, N failed" and returns non-zero when any
 * check failed. Each test runs in its own process (CTest), so a crash fails that test only. */
#ifndef BARGE_CHECK_H
#define BARGE_CHECK_H
#include <stdio.h>
#include <string.h>

static int check_passed_, check_failed_;

#define CHECK(cond, ...)                                                              \
  do {                                                                                \
    if (cond) {                                                                       \
      check_passed_++;                                                                \
    } else {                                                                          \
      check_failed_++;                                                                \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                 \
      fprintf(stderr, __VA_ARGS__);                                                   \
      fputc('\n', stderr);                                                            \
    }                                                                                 \
  } while (0)

#define CHECK_STR(a, b)                                                               \
  do {                                                                                \
    const char *ca_ = (a), *cb_ = (b);                                                \
    CHECK(ca_ && cb_ && strcmp(ca_, cb_) == 0, "'%s' != '%s'", ca_ ? ca_ : "(null)",  \
          cb_ ? cb_ : "(null)");                                                      \
  } while (0)

#define CHECK_INT(a, b)                                                               \
  do {                                                                                \
    long long ca_ = (long long)(a), cb_ = (long long)(b);                             \
    CHECK(ca_ == cb_, "%lld != %lld", ca_, cb_);                                      \
  } while (0)

/* A named group of checks, printed so the log says what was checked. */
#define TEST(name) printf("-- %s\n", name)

static inline int check_summary(void) {
  printf("%d passed, %d failed\n", check_passed_, check_failed_);
  return check_failed_ ? 1 : 0;
}
#endif
