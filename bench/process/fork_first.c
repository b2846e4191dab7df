/* bench/process fork-first driver: time from sl_fork_entry() to the first
 * IPC message of an entry that sends one message as it starts (workload 3;
 * Node's twin forks a script that calls process.send at start). The child
 * then disconnects (as a Node child whose channel has no listener exits) and
 * the next run starts at SL_CHILD_CLOSE, so runs never overlap.
 *
 * Usage: fork-first N
 * Prints: n=RUNS mean_ms=.. p50_ms=.. min_ms=.. max_ms=..; exits 1 on a
 * failure. */
#include <string.h>

#include "bench.h"

static long want, done;
static double* ms;
static uint64_t t_fork;
static int failed;

/* The child: one message as soon as it runs, then leave. */
SL_ENTRY(hello) {
  static const char msg[] = "{\"hello\":1}";
  sl_channel_t* p = sl_parent();
  if (p == NULL) return 1;
  if (sl_channel_send(p, msg, sizeof msg - 1, -1) < 0) return 1;
  sl_channel_disconnect(p);
  sl_run();
  return 0;
}

static void fork_one(void);

static void on_child(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  switch (ev->type) {
    case SL_CHILD_MESSAGE:
      if (done < want) ms[done++] = (double)(sl_hrtime() - t_fork) / 1e6;
      break;
    case SL_CHILD_ERROR:
      fprintf(stderr, "fork-first: %s\n", ev->message);
      failed = 1;
      break;
    case SL_CHILD_CLOSE:
      if (ev->exit_code != 0) {
        fprintf(stderr, "fork-first: child exited with %d\n", ev->exit_code);
        failed = 1;
      }
      if (!failed && done < want) fork_one();
      break;
    default:
      break;
  }
}

static void fork_one(void) {
  sl_child_t* c;
  t_fork = sl_hrtime();
  int rc = sl_fork_entry("hello", NULL, NULL, &c);
  if (rc != 0) {
    fprintf(stderr, "fork-first: %s\n", sl_strerror(rc));
    failed = 1;
    return;
  }
  sl_child_on(c, SL_CHILD_MESSAGE, on_child, NULL);
  sl_child_on(c, SL_CHILD_ERROR, on_child, NULL);
  sl_child_on(c, SL_CHILD_CLOSE, on_child, NULL);
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static void report(void) {
  double sum = 0;
  for (long i = 0; i < done; i++) sum += ms[i];
  qsort(ms, (size_t)done, sizeof *ms, cmp_double);
  printf("n=%ld mean_ms=%.3f p50_ms=%.3f min_ms=%.3f max_ms=%.3f\n", done,
         done ? sum / done : 0, done ? ms[(done - 1) / 2] : 0, done ? ms[0] : 0,
         done ? ms[done - 1] : 0);
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  want = (long)bench_arg(argc, argv, 1, 50);
  if (want < 1) want = 1;
  ms = calloc((size_t)want, sizeof *ms);
  if (ms == NULL) return 1;
  fork_one();
  sl_run();
  report();
  free(ms);
  return failed || done < want;
}
