/* Helpers shared by the process bench drivers (the .c files beside it):
 * arguments, the elapsed-time clock and the one result line each driver
 * prints on stdout for bench/process/run to parse ("key=value ...").
 * Header-only so each driver stays one gcc invocation; the drivers use only
 * <sluice.h> and libc. */
#ifndef SL_BENCH_PROCESS_H_
#define SL_BENCH_PROCESS_H_

#include <stdio.h>
#include <stdlib.h>

#include <sluice.h>

/* Seconds since the first call (a monotonic clock). */
static inline double bench_elapsed(void) {
  static uint64_t t0;
  if (t0 == 0) t0 = sl_hrtime();
  return (double)(sl_hrtime() - t0) / 1e9;
}

/* argv[i] as a number, or `dflt` when absent. */
static inline double bench_arg(int argc, char** argv, int i, double dflt) {
  return i < argc ? atof(argv[i]) : dflt;
}

/* The result line: count done, seconds taken and the rate per second. */
static inline void bench_report_rate(long n, double secs) {
  printf("n=%ld secs=%.6f rate=%.1f\n", n, secs, secs > 0 ? n / secs : 0.0);
  fflush(stdout);
}

#endif /* SL_BENCH_PROCESS_H_ */
