/* Manual 3.8: scaling CPU-heavy requests over a cluster. Each worker
 * answers every request with a sum computed in the request itself
 * (0 + 1 + ... + 99999999, as doubles like Node's numbers), so a busy
 * worker blocks only its own loop while the others keep answering:
 * "Worker <pid> computed: 4999999950000000". The primary logs "Master
 * <pid> starting <N> workers" and replaces a worker that dies ("Worker
 * <pid> crashed. Restarting..."); SIGINT/SIGTERM shut down gracefully and
 * the primary exits 0.
 *
 * Usage: cluster-cpu [--port P] [--workers N]   (3000; N = CPUs) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

static double heavy_computation(void) {
  double total = 0;
  for (double i = 0; i < 1e8; i++) total += i;
  return total;
}

static void handle(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req;
  (void)arg;
  sl_chunk_t* body = sl_chunk_printf("Worker %d computed: %.0f",
                                     (int)getpid(), heavy_computation());
  sl_stream_end(res, body, NULL, NULL);
  sl_chunk_unref(body);
}

static int worker_main(int port) {
  sl_http_server_opts_t o = {.port = port};
  sl_http_server_t* srv;
  int rc = sl_http_listen(&o, handle, NULL, &srv);
  if (rc != 0) {
    fprintf(stderr, "cluster-cpu: worker %d: %s, listen 127.0.0.1:%d\n",
            (int)getpid(), sl_strerror(rc), port);
    return 78; /* the fatal code: not respawned */
  }
  return sl_run();
}

static void on_exit_ev(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  if (!ev->respawn) return;
  printf("Worker %d crashed. Restarting...\n", (int)sl_worker_pid(ev->worker));
  fflush(stdout);
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
    } else {
      fprintf(stderr, "usage: cluster-cpu [--port P] [--workers N]\n");
      return 2;
    }
  }
  if (!sl_cluster_is_primary()) return worker_main(port);
  sl_cluster_setup(&o);
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  printf("Master %d starting %zu workers\n", (int)getpid(), st.target);
  fflush(stdout);
  sl_cluster_on(SL_CLUSTER_EXIT, on_exit_ev, NULL);
  if (sl_cluster_start(&o) != 0) {
    fprintf(stderr, "cluster-cpu: fork failed\n");
    sl_cluster_shutdown(NULL, NULL);
    sl_run();
    return 1;
  }
  return sl_run();
}
