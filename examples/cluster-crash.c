/* Manual 3.12, exercise 2: a worker crash and its replacement. GET /crash
 * answers "crashing" and then the worker that handled it exits with code 1
 * (any other request: "Worker <pid> handled the request"). The primary logs
 * "Worker <pid> died (<reason>), forking a replacement (restart <n>)", the
 * replacement prints "Worker <pid> started" and serves the port. At
 * shutdown (SIGINT/SIGTERM) the primary prints "restarts: <n>, crashes:
 * <n>" and exits 0.
 *
 * Usage: cluster-crash [--port P] [--workers N]   (3000; N = CPUs) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

static void crash(sl_stream_t* res, int err, void* arg) {
  (void)res;
  (void)err;
  (void)arg;
  exit(1); /* after the answer went out */
}

static void handle(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  int die = strcmp(sl_http_url(req), "/crash") == 0;
  sl_chunk_t* body =
      die ? sl_chunk_str("crashing\n")
          : sl_chunk_printf("Worker %d handled the request\n", (int)getpid());
  if (die) sl_http_set_header(res, "Connection", "close");
  sl_stream_end(res, body, die ? crash : NULL, NULL);
  sl_chunk_unref(body);
}

static int worker_main(int port) {
  sl_http_server_opts_t o = {.port = port};
  sl_http_server_t* srv;
  int rc = sl_http_listen(&o, handle, NULL, &srv);
  if (rc != 0) {
    fprintf(stderr, "cluster-crash: worker %d: %s, listen 127.0.0.1:%d\n",
            (int)getpid(), sl_strerror(rc), port);
    return 78; /* the fatal code: not respawned */
  }
  printf("Worker %d started\n", (int)getpid());
  fflush(stdout);
  return sl_run();
}

static void on_exit_ev(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  int pid = (int)sl_worker_pid(ev->worker);
  const char* why = ev->reason ? ev->reason : "unknown";
  if (ev->respawn)
    printf("Worker %d died (%s), forking a replacement (restart %llu)\n", pid,
           why, (unsigned long long)ev->restarts);
  else
    printf("Worker %d exited (%s)\n", pid, why);
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
      fprintf(stderr, "usage: cluster-crash [--port P] [--workers N]\n");
      return 2;
    }
  }
  if (!sl_cluster_is_primary()) return worker_main(port);
  printf("Primary process %d running\n", (int)getpid());
  fflush(stdout);
  sl_cluster_on(SL_CLUSTER_EXIT, on_exit_ev, NULL);
  int rc = sl_cluster_start(&o);
  if (rc != 0) {
    fprintf(stderr, "cluster-crash: fork: %s\n", sl_strerror(rc));
    sl_cluster_shutdown(NULL, NULL);
  }
  sl_run(); /* until every worker is gone */
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  printf("restarts: %llu, crashes: %llu\n", (unsigned long long)st.restarts,
         (unsigned long long)st.crashes);
  return rc != 0;
}
