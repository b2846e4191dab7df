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
#include <sys/types.h>

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

#define SL_TEST_DEFINE_(name, helper)                              \
  static void test_##name(void);                                   \
  __attribute__((constructor)) static void register_##name(void) { \
    sl_test_register(#name, test_##name, __FILE__, helper);        \
  }                                                                \
  static void test_##name(void)
#define TEST(name)   SL_TEST_DEFINE_(name, 0)
#define HELPER(name) SL_TEST_DEFINE_(name, 1)
#define SKIP(...)    sl_test_skip(__VA_ARGS__)

#define ASSERT(expr)                                                   \
  do {                                                                 \
    if (!(expr))                                                       \
      sl_test_fail(__FILE__, __LINE__, "assertion failed: %s", #expr); \
  } while (0)

#define ASSERT_INT_(a, op, b)                                                  \
  do {                                                                         \
    long long a_ = (long long)(a), b_ = (long long)(b);                        \
    if (!(a_ op b_))                                                           \
      sl_test_fail(__FILE__, __LINE__, "%s %s %s (%lld vs %lld)", #a, #op, #b, \
                   a_, b_);                                                    \
  } while (0)
#define ASSERT_EQ(a, b) ASSERT_INT_(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_INT_(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_INT_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_INT_(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_INT_(a, >, b)
#define ASSERT_GE(a, b) ASSERT_INT_(a, >=, b)
#define ASSERT_STR_EQ(a, b)                                                   \
  do {                                                                        \
    const char *a_ = (a), *b_ = (b);                                          \
    if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                      \
      sl_test_fail(__FILE__, __LINE__, "%s == %s (\"%s\" vs \"%s\")", #a, #b, \
                   a_ ? a_ : "(null)", b_ ? b_ : "(null)");                   \
  } while (0)
#define ASSERT_MEM_EQ(a, b, n) ASSERT(memcmp((a), (b), (n)) == 0)

/* --- runner.c: the case's own ---------------------------------------- */
/* A fresh scratch directory for the current case (removed by the runner). */
const char* sl_test_tmpdir(void);
/* Path of `name` inside the scratch directory (static buffer, rotates 8). */
const char* sl_test_path(const char* name);
/* Path of the running test binary (for helper processes). */
const char* sl_test_self(void);

/* --- helpers.c: shared helpers ----------------------------------------- */
/* Writes `len` bytes of data to `path`; aborts the case on failure. */
void sl_test_write_file(const char* path, const void* data, size_t len);
/* Reads a whole file into a malloc'd buffer (NUL-terminated); *len its size. */
char* sl_test_read_file(const char* path, size_t* len);
/* Deterministic pseudo-random bytes. */
void sl_test_fill_random(void* buf, size_t len, uint64_t seed);
/* 1 when `program` is an executable file in a directory of $PATH. */
int sl_test_have(const char* program);
/* `len` random bytes (seeded) written to sl_test_path(name); returns them
 * in a malloc'd buffer of len + 1 bytes. */
char* sl_test_make_file(const char* name, size_t len, uint64_t seed);
/* Runs the formatted command with sh -c; returns its exit code (-1: none). */
int sl_test_sh(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
/* A port nothing listens on: *fd is a socket bound to it on 127.0.0.1 that
 * never listens (close it when done). */
int sl_test_unused_port(int* fd);
/* 1 while `pid` runs (not gone, not a zombie). */
int sl_test_pid_alive(pid_t pid);
/* Points descriptor `target` (1: stdout, 2: stderr) at the file `path`,
 * created or truncated, until sl_test_capture_end(); returns the saved
 * descriptor to pass to it. */
int sl_test_capture_fd(int target, const char* path);
/* Points `target` back at `saved` (and closes it); returns what the file
 * got, malloc'd and NUL-terminated. */
char* sl_test_capture_end(int target, int saved, const char* path);
/* Installs an allocator that counts live blocks (call it before anything
 * allocates); sl_test_live_allocs() is the count since then. */
void sl_test_count_allocs(void);
long sl_test_live_allocs(void);

/* Writes `len` bytes of `data` to `s` in 64 KiB chunks, honouring
 * backpressure (saw_zero: a write returned 0), then ends the stream unless
 * no_end. Start it with sl_test_feed(&f); `f` must outlive the writes. */
typedef struct {
  sl_stream_t* s;
  const char* data;
  size_t len, off;
  int no_end, saw_zero;
} sl_test_feeder_t;
void sl_test_feed(sl_test_feeder_t* f);

#endif
