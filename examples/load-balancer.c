/* Manual 4.10, exercise 3: a mini load balancer. Workers are forked once;
 * the master dispatches each task to whichever worker is free (a pool with
 * a bounded queue), then reports how many tasks each worker handled.
 *
 * Usage: load-balancer [--workers N] [--tasks M]   (defaults 4 and 40)
 * Task i sums 0..(i%5+1)*200000 - 1, so task costs differ and a fast
 * worker takes more of them. Prints one line per worker and the total. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

static void task_on_message(sl_channel_t* ch, const sl_child_event_t* ev,
                            void* arg) {
  int64_t id, n;
  if (sl_json_get_int(ev->msg->data, ev->msg->len, "id", &id) != 0 ||
      sl_json_get_int(ev->msg->data, ev->msg->len, "n", &n) != 0)
    return;
  volatile int64_t sum = 0;
  for (int64_t i = 0; i < n; i++) sum += i;
  char out[96];
  int len =
      snprintf(out, sizeof out, "{\"id\":%lld,\"pid\":%d,\"result\":%lld}",
               (long long)id, (int)getpid(), (long long)sum);
  sl_channel_send(ch, out, (size_t)len, -1);
}

SL_ENTRY(lb_worker) {
  sl_channel_t* parent = sl_parent();
  if (parent == NULL) return 1;
  sl_channel_on(parent, SL_CHANNEL_MESSAGE, task_on_message, NULL);
  return sl_run();
}

#define MAX_WORKERS 256

static struct {
  int64_t pid;
  int tasks;
} seen[MAX_WORKERS * 4];
static int nseen, completed, errors;

static void on_result(int err, const sl_message_t* r, void* arg) {
  int64_t pid = 0;
  if (err != 0 || sl_json_get_int(r->data, r->len, "pid", &pid) != 0) {
    fprintf(stderr, "load-balancer: task %ld failed: %s\n", (long)arg,
            sl_strerror(err));
    errors++;
    return;
  }
  completed++;
  int i = 0;
  while (i < nseen && seen[i].pid != pid) i++;
  if (i == nseen && nseen < (int)(sizeof seen / sizeof seen[0]))
    seen[nseen++].pid = pid;
  if (i < nseen) seen[i].tasks++;
}

static void on_closed(void* arg) {}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  int workers = 4, tasks = 40;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--workers") == 0) workers = atoi(argv[i + 1]);
    if (strcmp(argv[i], "--tasks") == 0) tasks = atoi(argv[i + 1]);
  }
  if (workers < 1 || workers > MAX_WORKERS || tasks < 0) {
    fprintf(stderr, "usage: load-balancer [--workers N] [--tasks M]\n");
    return 2;
  }
  sl_pool_opts_t o = {
      .workers = workers, .queue_max = (size_t)tasks + 1, .entry = "lb_worker"};
  sl_pool_t* pool;
  int rc = sl_pool_new(&o, &pool);
  if (rc != 0) {
    fprintf(stderr, "load-balancer: %s\n", sl_strerror(rc));
    return 1;
  }
  for (long i = 0; i < tasks; i++) {
    char msg[64];
    int len = snprintf(msg, sizeof msg, "{\"id\":%ld,\"n\":%ld}", i,
                       (i % 5 + 1) * 200000);
    sl_pool_submit(pool, msg, (size_t)len, on_result, (void*)i);
  }
  sl_pool_close(pool, 0, on_closed, NULL); /* drain, then stop the workers */
  sl_run();
  for (int i = 0; i < nseen; i++)
    printf("Worker %lld: %d tasks\n", (long long)seen[i].pid, seen[i].tasks);
  printf("Total: %d tasks\n", completed);
  return errors == 0 && completed == tasks ? 0 : 1;
}
