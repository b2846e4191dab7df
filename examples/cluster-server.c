/* Manual 3.4: a clustered HTTP server. The primary forks N workers (the same
 * program, re-executed); each worker listens on the shared port with its own
 * SO_REUSEPORT socket and answers "Worker <pid> handled the request". A
 * worker that dies is replaced; SIGINT/SIGTERM shut the cluster down
 * gracefully (each worker stops accepting and finishes its in-flight
 * requests; SIGKILL past 5 s) and the primary exits 0.
 *
 * Usage: cluster-server [--port P] [--workers N] (3000; N = CPUs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

static void answer(sl_stream_t* res) {
  char buf[64];
  snprintf(buf, sizeof buf, "Worker %d handled the request\n", (int)getpid());
  sl_chunk_t* body = sl_chunk_str(buf);
  sl_stream_end(res, body, NULL, NULL);
  sl_chunk_unref(body);
}

static void answer_later(sl_timer_t* t, void* arg) {
  (void)t;
  answer(arg);
}

/* "/slow" answers after 500 ms (to watch a graceful shutdown finish it). */
static void handle(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  if (strcmp(sl_http_url(req), "/slow") == 0)
    sl_timer_start(500, 0, answer_later, res);
  else
    answer(res);
}

/* Shutdown (SIGTERM or the primary's message): stop accepting, finish the
 * requests in flight; sl_run() then returns and the worker exits 0. */
static void on_shutdown(void* arg) { sl_http_server_close(arg, NULL, NULL); }

static int worker_main(int port) {
  sl_http_server_opts_t o = {.port = port, .reuseport = 1};
  sl_http_server_t* srv;
  int rc = sl_http_listen(&o, handle, NULL, &srv);
  if (rc != 0) {
    fprintf(stderr, "cluster-server: worker %d: %s, listen 127.0.0.1:%d\n",
            (int)getpid(), sl_strerror(rc), port);
    return 78; /* the fatal code: the primary does not respawn it */
  }
  sl_cluster_on_shutdown(on_shutdown, srv);
  sl_cluster_notify_listening(sl_http_server_port(srv));
  printf("Worker %d started\n", (int)getpid());
  fflush(stdout);
  return sl_run();
}

static void on_exit_ev(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  if (!ev->respawn) return;
  printf("Worker %d died. Forking a new one...\n",
         (int)sl_worker_pid(ev->worker));
  fflush(stdout);
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  int port = 3000, workers = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
      workers = atoi(argv[++i]);
    } else {
      fprintf(stderr, "usage: cluster-server [--port P] [--workers N]\n");
      return 2;
    }
  }
  if (!sl_cluster_is_primary()) return worker_main(port);
  sl_cluster_opts_t o = {.workers = workers, .handle_signals = 1,
                         .shutdown_timeout_ms = 5000};
  sl_cluster_setup(&o);
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  printf("Primary process %d running\n", (int)getpid());
  printf("Forking %zu workers...\n", st.target);
  fflush(stdout);
  sl_cluster_on(SL_CLUSTER_EXIT, on_exit_ev, NULL);
  int rc = sl_cluster_start(&o);
  if (rc != 0) {
    fprintf(stderr, "cluster-server: fork: %s\n", sl_strerror(rc));
    sl_cluster_shutdown(NULL, NULL);
    sl_run();
    return 1;
  }
  return sl_run();
}
