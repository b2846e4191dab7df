/* Manual 3.4: a clustered HTTP server. The primary forks N workers (the same
 * program, re-executed); the server each worker starts joins the cluster's
 * listener on the shared port and answers "Worker <pid> handled the
 * request" ("/slow" after 500 ms). A worker that dies is replaced; SIGHUP
 * restarts the workers one at a time; SIGINT/SIGTERM shut the cluster down
 * gracefully (each worker stops accepting and finishes its in-flight
 * requests; SIGKILL past 5 s) and the primary exits 0.
 *
 * Usage: cluster-server [--port P] [--workers N] [--sched reuseport|rr|shared]
 *                       [--timestamps]   (3000; N = CPUs; reuseport)
 * Primary lines: "Primary process <pid> running", "Forking <N> workers...",
 * "Worker <pid> listening on port <P>", "Worker <pid> died (<reason>).
 * Forking a new one..." or "Worker <pid> exited (<reason>)", "Rolling
 * restart done" or "Rolling restart failed: <error>"; each starts with
 * "[<sl_now_ms()>] " under --timestamps. Workers print "Worker <pid>
 * started". */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

static int timestamps;

static void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (timestamps) printf("[%llu] ", (unsigned long long)sl_now_ms());
  vprintf(fmt, ap);
  putchar('\n');
  fflush(stdout);
  va_end(ap);
}

static void answer(sl_stream_t* res) {
  sl_chunk_t* body = sl_chunk_printf("Worker %d handled the request\n",
                                     (int)getpid());
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

static int worker_main(int port) {
  sl_http_server_opts_t o = {.port = port};
  sl_http_server_t* srv;
  int rc = sl_http_listen(&o, handle, NULL, &srv);
  if (rc != 0) {
    fprintf(stderr, "cluster-server: worker %d: %s, listen 127.0.0.1:%d\n",
            (int)getpid(), sl_strerror(rc), port);
    return 78; /* the fatal code: the primary does not respawn it */
  }
  printf("Worker %d started\n", (int)getpid());
  fflush(stdout);
  return sl_run();
}

static void on_event(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  int pid = (int)sl_worker_pid(ev->worker);
  const char* why = ev->reason ? ev->reason : "unknown";
  if (ev->type == SL_CLUSTER_LISTENING)
    say("Worker %d listening on port %d", pid, ev->port);
  else if (ev->respawn)
    say("Worker %d died (%s). Forking a new one...", pid, why);
  else
    say("Worker %d exited (%s)", pid, why);
}

static void restarted(int err, void* arg) {
  (void)arg;
  if (err == 0) say("Rolling restart done");
  else say("Rolling restart failed: %s", sl_strerror(err));
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  int port = 3000;
  sl_cluster_opts_t o = {.handle_signals = 1, .shutdown_timeout_ms = 5000,
                         .on_restart = restarted};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
      o.workers = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--sched") == 0 && i + 1 < argc &&
               sl_cluster_sched_parse(argv[i + 1], &o.sched) == 0) {
      i++;
    } else if (strcmp(argv[i], "--timestamps") == 0) {
      timestamps = 1;
    } else {
      fprintf(stderr, "usage: cluster-server [--port P] [--workers N] "
                      "[--sched reuseport|rr|shared] [--timestamps]\n");
      return 2;
    }
  }
  if (!sl_cluster_is_primary()) return worker_main(port);
  sl_cluster_setup(&o);
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  say("Primary process %d running", (int)getpid());
  say("Forking %zu workers...", st.target);
  sl_cluster_on(SL_CLUSTER_LISTENING, on_event, NULL);
  sl_cluster_on(SL_CLUSTER_EXIT, on_event, NULL);
  int rc = sl_cluster_start(&o);
  if (rc != 0) {
    fprintf(stderr, "cluster-server: fork: %s\n", sl_strerror(rc));
    sl_cluster_shutdown(NULL, NULL);
    sl_run();
    return 1;
  }
  return sl_run();
}
