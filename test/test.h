/* The test harness: TEST(name) defines a case; the runner (runner.c) runs
 * each case in its own process with a timeout and fails it if it leaves a
 * loop handle, a descriptor or a child behind. ASSERT* abort the case with
 * the file, line and values; SKIP ends it as skipped (exit code
 * SL_TEST_SKIP, which ctest reports as "Not Run (Skipped)"). Cases are found
 * by CMake from the TEST(name) lines, so a TEST must start at the beginning
 * of a line. HELPER(name) defines a program other tests run
 * (`sluice_tests NAME`, libuv's spawn_helper pattern): the runner knows it,
 * ctest does not, and running every case leaves it out. */
#ifndef SL_TEST_H
#define SL_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

/* The exit code of a skipped case (automake's, ctest's SKIP_RETURN_CODE). */
#define SL_TEST_SKIP 77

typedef void (*sl_test_fn)(void);
void sl_test_register(const char* name, sl_test_fn fn, const char* file,
                      int helper);
void sl_test_fail(const char* file, int line, const char* fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
/* Ends the case as skipped: prints "SKIP: " and the reason on stderr and
 * exits SL_TEST_SKIP. Call it before the case starts anything. */
void sl_test_skip(const char* fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

#define SL_TEST_DEFINE_(name, helper)                                        \
  static void test_##name(void);                                            \
  __attribute__((constructor)) static void register_##name(void) {          \
    sl_test_register(#name, test_##name, __FILE__, helper);                  \
  }                                                                         \
  static void test_##name(void)
#define TEST(name) SL_TEST_DEFINE_(name, 0)
#define HELPER(name) SL_TEST_DEFINE_(name, 1)
#define SKIP(...) sl_test_skip(__VA_ARGS__)

#define ASSERT(expr)                                                         \
  do {                                                                      \
    if (!(expr)) sl_test_fail(__FILE__, __LINE__, "assertion failed: %s", #expr); \
  } while (0)

#define ASSERT_INT_(a, op, b)                                                \
  do {                                                                      \
    long long a_ = (long long)(a), b_ = (long long)(b);                     \
    if (!(a_ op b_))                                                        \
      sl_test_fail(__FILE__, __LINE__, "%s %s %s (%lld vs %lld)", #a, #op,    \
                   #b, a_, b_);                                             \
  } while (0)
#define ASSERT_EQ(a, b) ASSERT_INT_(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_INT_(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_INT_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_INT_(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_INT_(a, >, b)
#define ASSERT_GE(a, b) ASSERT_INT_(a, >=, b)
#define ASSERT_STR_EQ(a, b)                                                  \
  do {                                                                      \
    const char *a_ = (a), *b_ = (b);                                        \
    if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                    \
      sl_test_fail(__FILE__, __LINE__, "%s == %s (\"%s\" vs \"%s\")", #a, #b, \
                   a_ ? a_ : "(null)", b_ ? b_ : "(null)");                 \
  } while (0)
#define ASSERT_MEM_EQ(a, b, n) ASSERT(memcmp((a), (b), (n)) == 0)

/* A fresh scratch directory for the current case (removed by the runner). */
const char* sl_test_tmpdir(void);
/* Path of `name` inside the scratch directory (static buffer, rotates 8). */
const char* sl_test_path(const char* name);
/* Writes `len` bytes of data to `path`; aborts the case on failure. */
void sl_test_write_file(const char* path, const void* data, size_t len);
/* Reads a whole file into a malloc'd buffer (NUL-terminated); *len its size. */
char* sl_test_read_file(const char* path, size_t* len);
/* Deterministic pseudo-random bytes. */
void sl_test_fill_random(void* buf, size_t len, uint64_t seed);
/* 1 when `program` is an executable file in a directory of $PATH. */
int sl_test_have(const char* program);
/* Path of the running test binary (for helper processes). */
const char* sl_test_self(void);

#endif
