/* bench/process spawn driver: sequential spawn of /bin/true with three
 * pipes (sluice's default stdio), each waited for until SL_CHILD_CLOSE,
 * N times or until SECS seconds pass (workloads 1 and 7). With HEAP_MIB
 * the parent first allocates and touches that much heap, to show whether
 * spawn cost grows with the parent's memory.
 *
 * Usage: spawn N SECS [HEAP_MIB]
 * Prints: n=DONE secs=ELAPSED rate=SPAWNS_PER_SEC; exits 1 on a failure. */
#include <string.h>

#include "bench.h"

static long want, done;
static double limit, start;
static int failed;
static unsigned char* volatile heap;

static void spawn_one(void);

static void on_child(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  if (ev->type == SL_CHILD_ERROR) {
    fprintf(stderr, "spawn: %s\n", ev->message);
    failed = 1;
    return;
  }
  if (failed) return;
  if (ev->exit_code != 0) {
    fprintf(stderr, "spawn: /bin/true exited with %d\n", ev->exit_code);
    failed = 1;
    return;
  }
  done++;
  if (done < want && bench_elapsed() - start < limit) spawn_one();
}

static void spawn_one(void) {
  sl_child_t* c;
  int rc = sl_spawn("/bin/true", NULL, NULL, &c);
  if (rc != 0) {
    fprintf(stderr, "spawn: %s\n", sl_strerror(rc));
    failed = 1;
    return;
  }
  sl_child_on(c, SL_CHILD_ERROR, on_child, NULL);
  sl_child_on(c, SL_CHILD_CLOSE, on_child, NULL);
}

/* Allocates `mib` MiB and writes every byte, so every page is resident. */
static int touch_heap(size_t mib) {
  size_t len = mib << 20;
  heap = malloc(len);
  if (heap == NULL) return -1;
  memset(heap, 1, len);
  return 0;
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  want = (long)bench_arg(argc, argv, 1, 2000);
  limit = bench_arg(argc, argv, 2, 60);
  size_t mib = (size_t)bench_arg(argc, argv, 3, 0);
  if (mib > 0 && touch_heap(mib) != 0) {
    fprintf(stderr, "spawn: cannot allocate %zu MiB\n", mib);
    return 1;
  }
  start = bench_elapsed();
  spawn_one();
  sl_run();
  bench_report_rate(done, bench_elapsed() - start);
  if (heap != NULL) free(heap);
  return failed;
}
