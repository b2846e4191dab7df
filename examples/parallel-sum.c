/* Manual 4.10, exercise 1: fork workers, give each a part of the
 * computation, combine their results in the parent.
 *
 * Usage: parallel-sum N [--workers W]   (W defaults to 4)
 * Each worker (a named entry of this program) sums the integers of its
 * range [start, end); the parent prints each partial sum and the total,
 * which is N(N-1)/2. Exits 1 if a worker fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

static void range_on_message(sl_channel_t* ch, const sl_child_event_t* ev,
                             void* arg) {
  int64_t start, end;
  if (sl_json_get_int(ev->msg->data, ev->msg->len, "start", &start) != 0 ||
      sl_json_get_int(ev->msg->data, ev->msg->len, "end", &end) != 0)
    return;
  volatile int64_t sum = 0;
  for (int64_t i = start; i < end; i++) sum += i;
  char out[64];
  int len = snprintf(out, sizeof out, "{\"sum\":%lld}", (long long)sum);
  sl_channel_send(ch, out, (size_t)len, -1);
  sl_channel_disconnect(ch);
}

SL_ENTRY(sum_range) {
  sl_channel_t* parent = sl_parent();
  if (parent == NULL) return 1;
  sl_channel_on(parent, SL_CHANNEL_MESSAGE, range_on_message, NULL);
  return sl_run();
}

typedef struct {
  int index;
  int64_t start, end, sum;
  int done;
} part_t;

static int64_t total;
static int finished, failed;

static void on_event(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  part_t* p = arg;
  if (ev->type == SL_CHILD_MESSAGE &&
      sl_json_get_int(ev->msg->data, ev->msg->len, "sum", &p->sum) == 0) {
    p->done = 1;
    total += p->sum;
    finished++;
    printf("Worker %d (pid %d): sum of [%lld, %lld) = %lld\n", p->index,
           (int)sl_child_pid(c), (long long)p->start, (long long)p->end,
           (long long)p->sum);
  } else if (ev->type == SL_CHILD_ERROR) {
    fprintf(stderr, "parallel-sum: %s\n", ev->message);
    failed = 1;
  } else if (ev->type == SL_CHILD_EXIT && !p->done) {
    fprintf(stderr, "parallel-sum: worker %d died\n", p->index);
    failed = 1;
  }
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  long long n = -1;
  int workers = 4;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
      workers = atoi(argv[++i]);
    else
      n = atoll(argv[i]);
  }
  if (n < 0 || workers < 1 || workers > 256) {
    fprintf(stderr, "usage: parallel-sum N [--workers W]\n");
    return 2;
  }
  part_t* parts = calloc((size_t)workers, sizeof *parts);
  for (int w = 0; w < workers; w++) {
    part_t* p = &parts[w];
    p->index = w;
    p->start = n * w / workers;
    p->end = n * (w + 1) / workers;
    sl_child_t* c;
    if (sl_fork_entry("sum_range", NULL, NULL, &c) != 0) return 1;
    sl_child_on(c, SL_CHILD_MESSAGE, on_event, p);
    sl_child_on(c, SL_CHILD_ERROR, on_event, p);
    sl_child_on(c, SL_CHILD_EXIT, on_event, p);
    char msg[96];
    int len = snprintf(msg, sizeof msg, "{\"start\":%lld,\"end\":%lld}",
                       (long long)p->start, (long long)p->end);
    sl_child_send(c, msg, (size_t)len, -1);
  }
  sl_run();
  free(parts);
  if (failed || finished != workers) return 1;
  printf("Total: %lld\n", (long long)total);
  return 0;
}
