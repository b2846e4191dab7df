/* Core: the deferred queue (Node's nextTick order), timers (one-shot frees
 * itself, a repeating one runs until stopped), the error table for our own
 * and libuv's codes, and sl_loop_close() as the leak check the runner uses. */
#include <uv.h>

#include "test.h"

static char order[64];
static void note(void* arg) { strncat(order, arg, sizeof order - 1); }
static void note_and_defer(void* arg) {
  note(arg);
  sl_defer(note, "d");
}

TEST(core_defer_order) {
  ASSERT_EQ(sl_defer(note_and_defer, "a"), 0);
  sl_defer(note, "b");
  sl_defer(note, "c");
  ASSERT_STR_EQ(order, ""); /* never inside the call */
  ASSERT_EQ(sl_run(), 0);
  /* FIFO; one scheduled while running goes after those already queued. */
  ASSERT_STR_EQ(order, "abcd");
}

static void timer_note(sl_timer_t* t, void* arg) {
  (void)t;
  note(arg);
}
static void timer_note_defer(sl_timer_t* t, void* arg) {
  (void)t;
  note(arg);
  sl_defer(note, "d");
}

/* As process.nextTick: deferred calls made before the loop runs go before
 * any timer, and one made inside a timer callback runs before the next
 * timer callback. */
TEST(core_defer_before_timers) {
  sl_timer_start(0, 0, timer_note_defer, "A");
  sl_timer_start(0, 0, timer_note, "B");
  sl_defer(note, "x");
  sl_run();
  ASSERT_STR_EQ(order, "xAdB");
}

static int fired;
static void count_fire(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  fired++;
}

TEST(core_timer_oneshot_frees_itself) {
  sl_test_count_allocs();
  sl_timer_t* t = sl_timer_start(1, 0, count_fire, NULL);
  ASSERT(t != NULL);
  ASSERT_EQ(fired, 0);
  sl_run();
  ASSERT_EQ(fired, 1);
  ASSERT_EQ(sl_test_live_allocs(), 0);
}

static void stop_at_three(sl_timer_t* t, void* arg) {
  (void)arg;
  if (++fired == 3) sl_timer_stop(t);
}

TEST(core_timer_repeat_stops) {
  sl_test_count_allocs();
  sl_timer_start(1, 1, stop_at_three, NULL);
  sl_run(); /* returns once the stopped timer is closed */
  ASSERT_EQ(fired, 3);
  ASSERT_EQ(sl_test_live_allocs(), 0);
}

TEST(core_timer_stop_before_fire) {
  sl_timer_t* t = sl_timer_start(60000, 0, count_fire, NULL);
  sl_timer_stop(t);
  uint64_t t0 = sl_now_ms();
  sl_run();
  ASSERT_EQ(fired, 0);
  ASSERT_LT(sl_now_ms() - t0, 30000);
}

static void stop_oneshot_inside(sl_timer_t* t, void* arg) {
  (void)arg;
  fired++;
  sl_timer_stop(t); /* allowed from its own callback */
}

TEST(core_timer_stop_inside_oneshot) {
  sl_timer_start(0, 0, stop_oneshot_inside, NULL);
  sl_run();
  ASSERT_EQ(fired, 1);
}

TEST(core_strerror_own_codes) {
  ASSERT_STR_EQ(sl_strerror(SL_EWRITEAFTEREND), "write after end");
  ASSERT_STR_EQ(sl_err_name(SL_EWRITEAFTEREND), "EWRITEAFTEREND");
  ASSERT_STR_EQ(sl_strerror(SL_EPREMATURECLOSE), "premature close");
  ASSERT_STR_EQ(sl_err_name(SL_EMULTIPLECB), "EMULTIPLECB");
  ASSERT_STR_EQ(sl_err_name(SL_EFULL), "EFULL");
#define CHECK_OWN(name, val, msg)         \
  ASSERT_STR_EQ(sl_err_name(val), #name); \
  ASSERT_STR_EQ(sl_strerror(val), msg);
  SL_OWN_ERRORS(CHECK_OWN)
#undef CHECK_OWN
}

TEST(core_strerror_libuv_codes) {
  ASSERT_EQ(SL_ENOENT, UV_ENOENT);
  ASSERT_EQ(SL_EOF, UV_EOF);
  ASSERT_STR_EQ(sl_strerror(SL_ENOENT), "no such file or directory");
  ASSERT_STR_EQ(sl_err_name(SL_ENOENT), "ENOENT");
  ASSERT_STR_EQ(sl_strerror(SL_EOF), "end of file");
  ASSERT_STR_EQ(sl_err_name(SL_EOF), "EOF");
  ASSERT_STR_EQ(sl_err_name(SL_ECONNREFUSED), "ECONNREFUSED");
  /* A libuv code sluice does not name itself passes straight through. */
  ASSERT_STR_EQ(sl_err_name(UV_EAI_NONAME), "EAI_NONAME");
  ASSERT_STR_EQ(sl_strerror(UV_EAI_NONAME), uv_strerror(UV_EAI_NONAME));
#define CHECK_UV(name, val)               \
  ASSERT_STR_EQ(sl_err_name(val), #name); \
  ASSERT(strcmp(sl_strerror(val), "unknown error") != 0);
  SL_ERRNO_MAP(CHECK_UV)
#undef CHECK_UV
}

TEST(core_strerror_unknown_codes) {
  static const int codes[] = {0,     1,     12345, -4000, -4094,
                              -5000, -6000, -6099, -7000, -100000};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    ASSERT_STR_EQ(sl_strerror(codes[i]), "unknown error");
    ASSERT_STR_EQ(sl_err_name(codes[i]), "UNKNOWN");
  }
}

TEST(core_loop_close_busy_timer) {
  sl_timer_t* t = sl_timer_start(60000, 1000, count_fire, NULL);
  ASSERT_EQ(sl_loop_close(), SL_EBUSY);
  ASSERT_EQ(fired, 0);
  sl_timer_stop(t);
  ASSERT_EQ(sl_loop_close(), 0);
  ASSERT_EQ(fired, 0);
}

TEST(core_loop_close_busy_defer) {
  sl_defer(note, "z");
  ASSERT_EQ(sl_loop_close(), SL_EBUSY);
  ASSERT_STR_EQ(order, "");
  sl_run();
  ASSERT_STR_EQ(order, "z");
  ASSERT_EQ(sl_loop_close(), 0);
}

TEST(core_loop_close_open_stream) {
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_destroy(r, 0);
  ASSERT_EQ(sl_loop_close(), SL_EBUSY); /* its close is still due */
  sl_run();
  ASSERT_EQ(sl_loop_close(), 0);
}

TEST(core_set_allocator_rejects_null) {
  ASSERT_EQ(sl_set_allocator(NULL, realloc, free), SL_EINVAL);
  ASSERT_EQ(sl_set_allocator(malloc, NULL, free), SL_EINVAL);
  ASSERT_EQ(sl_set_allocator(malloc, realloc, NULL), SL_EINVAL);
}

TEST(core_clocks) {
  uint64_t a = sl_hrtime(), b = sl_hrtime();
  ASSERT_LE(a, b);
  ASSERT_GT(sl_peak_rss(), 0);
  ASSERT_EQ(sl_init(0, NULL), 0);
  ASSERT(sl_loop() != NULL);
}

/* sl_rss() is the resident size now: 32 MiB touched shows, and it never
 * passes the peak by more than a page or so. */
static char* volatile rss_block; /* keeps the compiler from eliding it */

TEST(core_rss_now) {
  uint64_t before = sl_rss();
  ASSERT_GT(before, 0);
  size_t n = 32u << 20;
  char* p = rss_block = malloc(n);
  ASSERT(p != NULL);
  memset(p, 1, n);
  uint64_t after = sl_rss();
  ASSERT_GE(after, before + (16u << 20));
  ASSERT_LE(after, sl_peak_rss() + (1u << 20));
  free(p);
}

/* An unref'd timer does not keep the loop alive: sl_run() returns although
 * it would fire in a minute; ref'd again it holds the loop until it fires. */
TEST(core_timer_unref_does_not_hold_loop) {
  sl_timer_t* t = sl_timer_start(60000, 0, count_fire, NULL);
  sl_timer_unref(t);
  uint64_t t0 = sl_now_ms();
  sl_run();
  ASSERT_LT(sl_now_ms() - t0, 30000);
  ASSERT_EQ(fired, 0);
  sl_timer_stop(t);
  sl_timer_t* u = sl_timer_start(20, 0, count_fire, NULL);
  sl_timer_unref(u);
  sl_timer_ref(u);
  sl_run();
  ASSERT_EQ(fired, 1);
}

static void set_code(void* arg) { sl_set_exit_code((int)(intptr_t)arg); }

/* sl_run() returns the status a program returns from main. */
TEST(core_run_returns_exit_code) {
  ASSERT_EQ(sl_run(), 0);
  sl_defer(set_code, (void*)(intptr_t)3);
  ASSERT_EQ(sl_run(), 3);
  ASSERT_EQ(sl_exit_code(), 3);
  sl_set_exit_code(256 + 7);
  ASSERT_EQ(sl_run(), 7);
  sl_set_exit_code(0);
}
