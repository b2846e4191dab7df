/* Manual 3.12, exercise 1: which worker handled each request, and the
 * distribution under load. Each worker logs one line per request on stdout,
 * "worker <id> pid <pid> <method> <url>", and tells the primary over IPC
 * ({"handled":1}, sent before the answer); the primary counts per worker
 * and, when the cluster has shut down (SIGINT/SIGTERM), prints
 * "worker <id> pid <pid>: <n> requests (<pct>%)" for every worker it
 * started, then "total: <n> requests", and exits 0.
 *
 * Usage: cluster-distribution [--port P] [--workers N]
 *                             [--sched reuseport|rr|shared]  (3000; CPUs) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

#define MAX_WORKERS 1024 /* ids are 1, 2, ... in fork order */

static struct {
  int pid;
  uint64_t n;
} count[MAX_WORKERS + 1];

static void handle(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  static const char msg[] = "{\"handled\":1}";
  sl_channel_send(sl_parent(), msg, sizeof msg - 1, -1);
  printf("worker %d pid %d %s %s\n", sl_cluster_worker_id(), (int)getpid(),
         sl_http_method(req), sl_http_url(req));
  fflush(stdout);
  sl_chunk_t* body =
      sl_chunk_printf("Worker %d handled the request\n", (int)getpid());
  sl_stream_end(res, body, NULL, NULL);
  sl_chunk_unref(body);
}

static int worker_main(int port) {
  sl_http_server_opts_t o = {.port = port};
  sl_http_server_t* srv;
  int rc = sl_http_listen(&o, handle, NULL, &srv);
  if (rc != 0) {
    fprintf(stderr, "cluster-distribution: worker %d: %s, port %d\n",
            (int)getpid(), sl_strerror(rc), port);
    return 78; /* the fatal code: not respawned */
  }
  return sl_run();
}

static void on_event(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  int id = sl_worker_id(ev->worker);
  if (id > MAX_WORKERS) return;
  count[id].pid = (int)sl_worker_pid(ev->worker);
  if (ev->type == SL_CLUSTER_MESSAGE) count[id].n++;
}

static void print_distribution(void) {
  uint64_t total = 0;
  for (int i = 1; i <= MAX_WORKERS; i++) total += count[i].n;
  for (int i = 1; i <= MAX_WORKERS; i++)
    if (count[i].pid != 0)
      printf("worker %d pid %d: %llu requests (%.1f%%)\n", i, count[i].pid,
             (unsigned long long)count[i].n,
             total ? 100.0 * (double)count[i].n / (double)total : 0.0);
  printf("total: %llu requests\n", (unsigned long long)total);
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  int port = 3000;
  sl_cluster_opts_t o = {.handle_signals = 1, .shutdown_timeout_ms = 5000};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
      o.workers = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--sched") == 0 && i + 1 < argc &&
               sl_cluster_sched_parse(argv[i + 1], &o.sched) == 0) {
      i++;
    } else {
      fprintf(stderr,
              "usage: cluster-distribution [--port P] [--workers N] "
              "[--sched reuseport|rr|shared]\n");
      return 2;
    }
  }
  if (!sl_cluster_is_primary()) return worker_main(port);
  printf("Primary process %d running (%s)\n", (int)getpid(),
         sl_cluster_sched_name(o.sched));
  fflush(stdout);
  sl_cluster_on(SL_CLUSTER_FORK, on_event, NULL);
  sl_cluster_on(SL_CLUSTER_MESSAGE, on_event, NULL);
  int rc = sl_cluster_start(&o);
  if (rc != 0) {
    fprintf(stderr, "cluster-distribution: fork: %s\n", sl_strerror(rc));
    sl_cluster_shutdown(NULL, NULL);
  }
  sl_run(); /* until every worker is gone */
  print_distribution();
  return rc != 0;
}
