/* Signals: sl_signal_on() callbacks run from the loop, never inside the
 * raise() that sent the signal; a watch does not keep the loop alive;
 * sl_signal_off() stops the callback and releases the handle (the runner
 * fails a case that leaves one). */
#include <signal.h>

#include "test.h"

static int in_raise, calls, last_signum;
static sl_timer_t* guard;

static void on_usr1(int signum, void* arg) {
  ASSERT_EQ(in_raise, 0);
  calls++;
  last_signum = signum;
  ASSERT_STR_EQ(arg, "x");
  ASSERT_EQ(sl_signal_off(SIGUSR1, on_usr1, arg), 0); /* inside itself */
  sl_timer_stop(guard);
}

static void on_guard(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  sl_test_fail(__FILE__, __LINE__, "no signal callback within 5 s");
}

TEST(core_signal_runs_from_loop) {
  ASSERT_EQ(sl_signal_on(SIGUSR1, on_usr1, "x"), 0);
  guard = sl_timer_start(5000, 0, on_guard, NULL);
  in_raise = 1;
  raise(SIGUSR1);
  in_raise = 0;
  ASSERT_EQ(calls, 0); /* not inside raise() */
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(calls, 1);
  ASSERT_EQ(last_signum, SIGUSR1);
}

static int a_calls, b_calls;
static void on_a(int signum, void* arg) {
  (void)signum;
  (void)arg;
  a_calls++;
}
static void on_b(int signum, void* arg) {
  (void)signum;
  (void)arg;
  b_calls++;
  sl_timer_stop(guard);
}

/* Two watches of SIGUSR1; the one removed is not called, the other is (it
 * also keeps SIGUSR1 from killing the process). */
TEST(core_signal_off_stops_callback) {
  ASSERT_EQ(sl_signal_on(SIGUSR1, on_a, NULL), 0);
  ASSERT_EQ(sl_signal_on(SIGUSR1, on_b, NULL), 0);
  ASSERT_EQ(sl_signal_off(SIGUSR1, on_a, NULL), 0);
  ASSERT_EQ(sl_signal_off(SIGUSR1, on_a, NULL), SL_ENOENT);
  guard = sl_timer_start(5000, 0, on_guard, NULL);
  raise(SIGUSR1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(a_calls, 0);
  ASSERT_EQ(b_calls, 1);
  ASSERT_EQ(sl_signal_off(SIGUSR1, on_b, NULL), 0);
  ASSERT_EQ(sl_loop_close(), 0); /* no handle left */
}

/* A watch alone does not keep sl_run() running; sl_loop_close() sees it
 * until it is removed. */
TEST(core_signal_unref) {
  ASSERT_EQ(sl_signal_on(SIGHUP, on_a, NULL), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(sl_loop_close(), SL_EBUSY);
  ASSERT_EQ(sl_signal_off(SIGHUP, on_a, NULL), 0);
  ASSERT_EQ(sl_loop_close(), 0);
  ASSERT_EQ(a_calls, 0);
}

TEST(core_signal_invalid) {
  ASSERT_EQ(sl_signal_on(SIGUSR1, NULL, NULL), SL_EINVAL);
  ASSERT_EQ(sl_signal_on(0, on_a, NULL), SL_EINVAL);
  ASSERT_EQ(sl_signal_on(SIGKILL, on_a, NULL), SL_EINVAL);
  ASSERT_EQ(sl_signal_off(SIGUSR2, on_a, NULL), SL_ENOENT);
}
