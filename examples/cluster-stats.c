/* Manual 3.12, exercise 3: workers send their load statistics to the
 * primary over IPC every --interval-ms (default 10000, as in the manual), as
 * {"pid":..,"requests":..,"rss":..,"uptime_ms":..}. The primary prints one
 * line per report, "worker <id> pid <pid>: <n> requests, rss <KiB> KiB, up
 * <ms> ms", followed by the cluster's own heartbeat figures when it has
 * them (sl_worker_load), keeps the latest report per worker and prints them
 * at shutdown (SIGINT/SIGTERM; exits 0). Requests get "Worker <pid> handled
 * the request".
 *
 * Usage: cluster-stats [--port P] [--workers N] [--interval-ms MS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

#define MAX_WORKERS 1024 /* ids are 1, 2, ... in fork order */

static uint64_t requests, started_ms;
static sl_timer_t* timer;
static int64_t latest[MAX_WORKERS + 1][2]; /* pid, requests */

static void handle(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req;
  (void)arg;
  requests++;
  sl_chunk_t* body =
      sl_chunk_printf("Worker %d handled the request\n", (int)getpid());
  sl_stream_end(res, body, NULL, NULL);
  sl_chunk_unref(body);
}

static void report(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  char msg[160];
  int n = snprintf(msg, sizeof msg,
                   "{\"pid\":%d,\"requests\":%llu,\"rss\":%llu,"
                   "\"uptime_ms\":%llu}",
                   (int)getpid(), (unsigned long long)requests,
                   (unsigned long long)sl_rss(),
                   (unsigned long long)(sl_now_ms() - started_ms));
  sl_channel_send(sl_parent(), msg, (size_t)n, -1);
}

/* Shutdown: the reports stop; the cluster closes the server itself. */
static void on_shutdown(void* arg) {
  (void)arg;
  sl_timer_stop(timer);
}

static int worker_main(int port, uint64_t interval_ms) {
  sl_http_server_opts_t o = {.port = port};
  sl_http_server_t* srv;
  int rc = sl_http_listen(&o, handle, NULL, &srv);
  if (rc != 0) {
    fprintf(stderr, "cluster-stats: worker %d: %s, listen 127.0.0.1:%d\n",
            (int)getpid(), sl_strerror(rc), port);
    return 78; /* the fatal code: not respawned */
  }
  started_ms = sl_now_ms();
  timer = sl_timer_start(interval_ms, interval_ms, report, NULL);
  sl_cluster_on_shutdown(on_shutdown, NULL);
  return sl_run();
}

static void on_message(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  const sl_message_t* m = ev->msg;
  int64_t pid = 0, reqs = 0, rss = 0, up = 0;
  sl_json_get_int(m->data, m->len, "pid", &pid);
  sl_json_get_int(m->data, m->len, "requests", &reqs);
  sl_json_get_int(m->data, m->len, "rss", &rss);
  sl_json_get_int(m->data, m->len, "uptime_ms", &up);
  int id = sl_worker_id(ev->worker);
  printf("worker %d pid %lld: %lld requests, rss %lld KiB, up %lld ms", id,
         (long long)pid, (long long)reqs, (long long)(rss / 1024),
         (long long)up);
  sl_worker_load_t l;
  if (sl_worker_load(ev->worker, &l) == 0)
    printf(" (heartbeat: %llu requests, %llu connections, lag %.1f ms)",
           (unsigned long long)l.requests, (unsigned long long)l.connections,
           l.loop_lag_ms);
  printf("\n");
  fflush(stdout);
  if (id <= MAX_WORKERS) {
    latest[id][0] = pid;
    latest[id][1] = reqs;
  }
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  int port = 3000;
  uint64_t interval_ms = 10000;
  sl_cluster_opts_t o = {.handle_signals = 1, .shutdown_timeout_ms = 5000};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
      o.workers = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--interval-ms") == 0 && i + 1 < argc &&
               atoi(argv[i + 1]) > 0) {
      interval_ms = (uint64_t)atoi(argv[++i]);
    } else {
      fprintf(stderr,
              "usage: cluster-stats [--port P] [--workers N] "
              "[--interval-ms MS]\n");
      return 2;
    }
  }
  if (!sl_cluster_is_primary()) return worker_main(port, interval_ms);
  printf("Primary process %d running\n", (int)getpid());
  fflush(stdout);
  sl_cluster_on(SL_CLUSTER_MESSAGE, on_message, NULL);
  int rc = sl_cluster_start(&o);
  if (rc != 0) {
    fprintf(stderr, "cluster-stats: fork: %s\n", sl_strerror(rc));
    sl_cluster_shutdown(NULL, NULL);
  }
  sl_run(); /* until every worker is gone */
  for (int i = 1; i <= MAX_WORKERS; i++)
    if (latest[i][0] != 0)
      printf("latest: worker %d pid %lld: %lld requests\n", i,
             (long long)latest[i][0], (long long)latest[i][1]);
  return rc != 0;
}
