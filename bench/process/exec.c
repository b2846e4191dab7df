/* bench/process exec driver: sl_exec("true") through /bin/sh -c, one after
 * the other, each waited for until its callback, N times or until SECS
 * seconds pass (workload 2; Node's twin is child_process.exec).
 *
 * Usage: exec N SECS
 * Prints: n=DONE secs=ELAPSED rate=EXECS_PER_SEC; exits 1 on a failure. */
#include "bench.h"

static long want, done;
static double limit, start;
static int failed;

static void exec_one(void);

static void on_done(int err, const sl_exec_result_t* r, void* arg) {
  if (err != 0) {
    fprintf(stderr, "exec: %s\n", r->message ? r->message : sl_strerror(err));
    failed = 1;
    return;
  }
  done++;
  if (done < want && bench_elapsed() - start < limit) exec_one();
}

static void exec_one(void) {
  int rc = sl_exec("true", NULL, on_done, NULL);
  if (rc != 0) {
    fprintf(stderr, "exec: %s\n", sl_strerror(rc));
    failed = 1;
  }
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  want = (long)bench_arg(argc, argv, 1, 1000);
  limit = bench_arg(argc, argv, 2, 60);
  start = bench_elapsed();
  exec_one();
  sl_run();
  bench_report_rate(done, bench_elapsed() - start);
  return failed;
}
