/* bench/cluster/hello.c: the clustered hello-world of bench/cluster/run.
 * The primary forks N workers (default 2); each worker's sl_http_listen
 * joins the cluster's listener on 127.0.0.1:PORT and answers every request
 * "hello world\n". A worker that dies is replaced (the restart policy);
 * SIGINT/SIGTERM shut the cluster down gracefully.
 *
 * Usage: hello [--port P] [--workers N] [--sched reuseport|rr|shared]
 *              [--healthy-ms MS]   (3000; 2; reuseport; 5000)
 * --healthy-ms sets sl_cluster_opts_t.healthy_uptime_ms: a worker that dies
 * younger than that counts as a crash loop and its replacement is delayed
 * (100 ms, then x1.5). The bench kills a worker every 2 s, so each lives
 * about 4 s; it passes 1000 to measure the replacement, not the backoff.
 * The primary prints "listening <pid> <ms>" on each LISTENING event and
 * "exit <pid> <ms>" on each EXIT, <ms> being uv_hrtime() in milliseconds
 * (sl_now_ms()'s clock, with 3 decimals), so that the bench can measure
 * how long a killed worker takes to be replaced, in-process. Only the
 * public API (<sluice.h>) is used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice.h>

static void hello(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req;
  (void)arg;
  sl_chunk_t* body = sl_chunk_str("hello world\n");
  sl_stream_end(res, body, NULL, NULL);
  sl_chunk_unref(body);
}

static int worker_main(int port) {
  sl_http_server_opts_t o = {.port = port};
  sl_http_server_t* srv;
  int rc = sl_http_listen(&o, hello, NULL, &srv);
  if (rc != 0) {
    fprintf(stderr, "hello: worker: %s, listen 127.0.0.1:%d\n", sl_strerror(rc),
            port);
    return 78; /* the fatal code: not respawned */
  }
  return sl_run();
}

static void on_event(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  printf("%s %d %.3f\n", ev->type == SL_CLUSTER_EXIT ? "exit" : "listening",
         (int)sl_worker_pid(ev->worker), (double)sl_hrtime() / 1e6);
  fflush(stdout);
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  int port = 3000;
  sl_cluster_opts_t o = {
      .workers = 2, .handle_signals = 1, .shutdown_timeout_ms = 3000};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
      o.workers = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--healthy-ms") == 0 && i + 1 < argc) {
      o.healthy_uptime_ms = strtoull(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--sched") == 0 && i + 1 < argc &&
               sl_cluster_sched_parse(argv[i + 1], &o.sched) == 0) {
      i++;
    } else {
      fprintf(stderr,
              "usage: hello [--port P] [--workers N] "
              "[--sched reuseport|rr|shared] [--healthy-ms MS]\n");
      return 2;
    }
  }
  if (!sl_cluster_is_primary()) return worker_main(port);
  sl_cluster_on(SL_CLUSTER_LISTENING, on_event, NULL);
  sl_cluster_on(SL_CLUSTER_EXIT, on_event, NULL);
  int rc = sl_cluster_start(&o);
  if (rc != 0) {
    fprintf(stderr, "hello: fork: %s\n", sl_strerror(rc));
    sl_cluster_shutdown(NULL, NULL);
    sl_run();
    return 1;
  }
  return sl_run();
}
