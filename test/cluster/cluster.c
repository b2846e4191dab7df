/* cluster: the test binary is the cluster program. The primary is the case;
 * its workers run named entries of this binary (opts.entry), re-executed
 * with SLUICE_WORKER_ID. Covers the event order, messages both ways with
 * internal messages hidden, replacement of a killed worker, backoff and the
 * fatal code, a worker that exits when its primary goes away, shutdown. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "test.h"

/* --- worker entries ------------------------------------------------------- */

static void worker_on_msg(sl_channel_t* ch, const sl_child_event_t* ev,
                          void* arg) {
  (void)arg;
  const sl_message_t* m = ev->msg;
  char s[64], out[256];
  int64_t n;
  if (sl_json_get_int(m->data, m->len, "exit", &n) == 0) exit((int)n);
  if (sl_json_get_string(m->data, m->len, "echo", s, sizeof s) == 0) {
    snprintf(out, sizeof out, "{\"echoed\":\"%s\",\"id\":%d,\"primary\":%d}", s,
             sl_cluster_worker_id(), sl_cluster_is_primary());
    sl_channel_send(ch, out, strlen(out), -1);
  }
}

static void hello(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req;
  (void)arg;
  sl_chunk_t* c = sl_chunk_str("hi\n");
  sl_stream_end(res, c, NULL, NULL);
  sl_chunk_unref(c);
}

/* A worker: a reuseport HTTP server on any port, announced; answers
 * {"echo":S} and obeys {"exit":N}. CLUSTER_TEST_EXIT=N exits at once. */
SL_ENTRY(cluster_worker) {
  (void)argc;
  (void)argv;
  if (sl_cluster_is_primary()) return 90;
  const char* ex = getenv("CLUSTER_TEST_EXIT");
  if (ex != NULL) return atoi(ex);
  sl_channel_on(sl_parent(), SL_CHANNEL_MESSAGE, worker_on_msg, NULL);
  sl_http_server_opts_t o = {0};
  sl_http_server_t* srv;
  if (sl_http_listen(&o, hello, NULL, &srv) != 0) return 91;
  sl_run();
  return 0;
}

static void slow_answer(sl_timer_t* t, void* arg) {
  (void)t;
  sl_chunk_t* c = sl_chunk_str("slow answer\n");
  sl_stream_end(arg, c, NULL, NULL);
  sl_chunk_unref(c);
}

/* Answers 300 ms later; tells the primary that a request is in flight. */
static void slow(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req;
  (void)arg;
  static const char got[] = "{\"got\":1}";
  sl_channel_send(sl_parent(), got, sizeof got - 1, -1);
  sl_timer_start(300, 0, slow_answer, res);
}

static void graceful_close(void* arg) { sl_http_server_close(arg, NULL, NULL); }

/* A worker that shuts down gracefully: closes its server on shutdown and
 * returns 0 once the in-flight request has been answered. */
SL_ENTRY(cluster_graceful_worker) {
  (void)argc;
  (void)argv;
  sl_http_server_opts_t o = {0};
  sl_http_server_t* srv;
  if (sl_http_listen(&o, slow, NULL, &srv) != 0) return 91;
  if (sl_cluster_on_shutdown(graceful_close, srv) != 0) return 92;
  return sl_run() == 0 ? 0 : 93;
}

static void mid_die(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  _exit(0); /* the primary dies without a goodbye */
}

static void mid_on_event(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  char buf[64];
  int n =
      snprintf(buf, sizeof buf, "{\"pid\":%d}", (int)sl_worker_pid(ev->worker));
  sl_channel_send(sl_parent(), buf, (size_t)n, -1);
  sl_timer_start(50, 0, mid_die, NULL); /* once the message is out */
}

static void mid_on_drain(sl_channel_t* ch, const sl_child_event_t* ev,
                         void* arg) {
  (void)ch;
  (void)ev;
  (void)arg;
}

/* A primary forked by the test: forks one worker, reports its pid once it
 * listens, then dies abruptly. */
SL_ENTRY(cluster_mid_primary) {
  (void)argc;
  (void)argv;
  sl_cluster_opts_t o = {
      .workers = 1, .entry = "cluster_worker", .no_restart = 1};
  sl_channel_on(sl_parent(), SL_CHANNEL_DRAIN, mid_on_drain, NULL);
  sl_cluster_on(SL_CLUSTER_LISTENING, mid_on_event, NULL);
  if (sl_cluster_start(&o) != 0) return 98;
  sl_run();
  return 97;
}

/* --- primary side --------------------------------------------------------- */

typedef struct {
  char log[512];
  int messages, exits, listening;
  int exit_code[8], term_signal[8], respawn[8];
  uint64_t restarts[8];
  pid_t pids[8];
  char last[256];
  int kill_first;            /* SIGKILL worker 1 once it listens */
  int shutdown_at_listening; /* shut down when this worker id listens */
  int exit_on_listen;        /* send {"exit":0} at LISTENING */
  int shutdown_after_exits;
  int disconnect_on_message;
  int no_echo;
  int done;
} rec_t;

static const char* ev_name(sl_cluster_event_type_t t) {
  static const char* names[] = {"fork",       "online", "listening",
                                "disconnect", "exit",   "message"};
  return names[t];
}

static void on_done(void* arg) { ((rec_t*)arg)->done++; }

static void on_ev(const sl_cluster_event_t* ev, void* arg) {
  rec_t* r = arg;
  int id = sl_worker_id(ev->worker);
  size_t l = strlen(r->log);
  snprintf(r->log + l, sizeof r->log - l, "%s%d:%s", l ? " " : "", id,
           ev_name(ev->type));
  if (id < 8) r->pids[id] = sl_worker_pid(ev->worker);
  switch (ev->type) {
    case SL_CLUSTER_ONLINE:
      if (!r->no_echo) sl_worker_send(ev->worker, "{\"echo\":\"hi\"}", 13);
      break;
    case SL_CLUSTER_LISTENING:
      r->listening++;
      ASSERT_GT(ev->port, 0);
      if (r->kill_first && id == 1) kill(sl_worker_pid(ev->worker), SIGKILL);
      if (r->exit_on_listen) sl_worker_send(ev->worker, "{\"exit\":0}", 10);
      if (r->shutdown_at_listening == id) sl_cluster_shutdown(on_done, r);
      break;
    case SL_CLUSTER_MESSAGE:
      r->messages++;
      snprintf(r->last, sizeof r->last, "%.*s", (int)ev->msg->len,
               ev->msg->data);
      ASSERT(strstr(r->last, "sluice_cluster") == NULL);
      if (r->disconnect_on_message) sl_worker_disconnect(ev->worker);
      break;
    case SL_CLUSTER_EXIT:
      if (r->exits < 8) {
        r->exit_code[r->exits] = ev->exit_code;
        r->term_signal[r->exits] = ev->term_signal;
        r->respawn[r->exits] = ev->respawn;
        r->restarts[r->exits] = ev->restarts;
      }
      r->exits++;
      if (r->exits == r->shutdown_after_exits) sl_cluster_shutdown(on_done, r);
      break;
    default:
      break;
  }
}

static void watch(rec_t* r) {
  for (int t = 0; t < (SL_CLUSTER_MESSAGE + 1); t++)
    ASSERT_EQ(sl_cluster_on(t, on_ev, r), 0);
}

TEST(cluster_role_in_primary) {
  ASSERT_EQ(sl_cluster_is_primary(), 1);
  ASSERT_EQ(sl_cluster_worker_id(), 0);
  ASSERT_EQ(sl_cluster_notify_listening(80), SL_EINVAL);
  sl_cluster_stats_t st;
  ASSERT_EQ(sl_cluster_setup(NULL), 0);
  sl_cluster_stats(&st);
  ASSERT_EQ(st.target, sysconf(_SC_NPROCESSORS_ONLN));
  ASSERT_EQ(st.forked, 0);
}

TEST(cluster_events_in_order) {
  rec_t r = {.exit_on_listen = 1, .no_echo = 1};
  watch(&r);
  sl_cluster_opts_t o = {
      .workers = 1, .entry = "cluster_worker", .no_restart = 1};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.messages, 0); /* the internal ones are not delivered */
  ASSERT_STR_EQ(r.log, "1:fork 1:online 1:listening 1:disconnect 1:exit");
  ASSERT_EQ(r.exit_code[0], 0);
  ASSERT_EQ(r.term_signal[0], 0);
  ASSERT_EQ(r.respawn[0], 0);
}

/* Messages both ways; internal ones ("online", "listening") are not user
 * messages. The primary then disconnects each worker: it exits 0 on its own
 * (no orphan) and, disconnected on purpose, is not replaced. */
TEST(cluster_messages_and_disconnect) {
  rec_t r = {.disconnect_on_message = 1};
  watch(&r);
  sl_cluster_opts_t o = {.workers = 2, .entry = "cluster_worker"};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.messages, 2);
  ASSERT(strstr(r.last, "\"echoed\":\"hi\"") != NULL);
  ASSERT(strstr(r.last, "\"primary\":0") != NULL);
  ASSERT(strstr(r.last, "\"id\":1") || strstr(r.last, "\"id\":2"));
  ASSERT_EQ(r.exits, 2);
  for (int i = 0; i < 2; i++) {
    ASSERT_EQ(r.exit_code[i], 0);
    ASSERT_EQ(r.respawn[i], 0);
  }
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  ASSERT_EQ(st.forked, 2);
  ASSERT_EQ(st.restarts, 0);
  ASSERT_EQ(st.alive, 0);
}

/* Per-worker user data: NULL at the fork, then whatever the program set,
 * for that worker only, until its EXIT event has run. */
typedef struct {
  int mark[3];
  int forks, checked, exits, bad;
} wdata_t;

static void on_wdata(const sl_cluster_event_t* ev, void* arg) {
  wdata_t* d = arg;
  int id = sl_worker_id(ev->worker);
  if (id < 1 || id > 2) {
    d->bad++;
    return;
  }
  void* mine = &d->mark[id];
  switch (ev->type) {
    case SL_CLUSTER_FORK:
      d->forks++;
      if (sl_worker_data(ev->worker) != NULL) d->bad++;
      sl_worker_set_data(ev->worker, mine);
      break;
    case SL_CLUSTER_LISTENING:
      if (sl_worker_data(ev->worker) != mine) d->bad++;
      d->checked++;
      sl_worker_send(ev->worker, "{\"exit\":0}", 10);
      break;
    case SL_CLUSTER_EXIT:
      if (sl_worker_data(ev->worker) != mine) d->bad++;
      d->exits++;
      break;
    default:
      break;
  }
}

TEST(cluster_worker_data_kept_from_fork_to_exit) {
  wdata_t d = {0};
  ASSERT_EQ(sl_cluster_on(SL_CLUSTER_FORK, on_wdata, &d), 0);
  ASSERT_EQ(sl_cluster_on(SL_CLUSTER_LISTENING, on_wdata, &d), 0);
  ASSERT_EQ(sl_cluster_on(SL_CLUSTER_EXIT, on_wdata, &d), 0);
  sl_cluster_opts_t o = {
      .workers = 2, .entry = "cluster_worker", .no_restart = 1};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(d.forks, 2);
  ASSERT_EQ(d.checked, 2);
  ASSERT_EQ(d.exits, 2);
  ASSERT_EQ(d.bad, 0);
}

/* SIGKILL to a worker: it is replaced at once (it was the first death),
 * the counter says so; the replacement listens; shutdown leaves nothing. */
TEST(cluster_killed_worker_replaced) {
  rec_t r = {.kill_first = 1, .shutdown_at_listening = 2};
  watch(&r);
  sl_cluster_opts_t o = {
      .workers = 1, .entry = "cluster_worker", .shutdown_timeout_ms = 2000};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.done, 1);
  ASSERT_EQ(r.exits, 2);
  ASSERT_EQ(r.term_signal[0], SIGKILL);
  ASSERT_EQ(r.respawn[0], 1);
  ASSERT_EQ(r.restarts[0], 1);
  /* The shutdown closed its server gracefully (Node's disconnect). */
  ASSERT_EQ(r.term_signal[1], 0);
  ASSERT_EQ(r.exit_code[1], 0);
  ASSERT_EQ(r.respawn[1], 0);
  ASSERT_NE(r.pids[1], r.pids[2]);
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  ASSERT_EQ(st.forked, 2);
  ASSERT_EQ(st.restarts, 1);
  ASSERT_EQ(st.alive, 0);
  ASSERT_EQ(st.next_delay_ms, 100); /* a second quick death would wait */
}

/* A crash loop backs off: delays 0, 20, 30, 45 ms (x1.5, capped at 50). */
TEST(cluster_crash_loop_backs_off) {
  rec_t r = {.shutdown_after_exits = 5};
  watch(&r);
  sl_cluster_opts_t o = {.workers = 1,
                         .entry = "cluster_worker",
                         .backoff_initial_ms = 20,
                         .backoff_max_ms = 50,
                         .healthy_uptime_ms = 60000};
  const char* env[] = {"CLUSTER_TEST_EXIT=3", NULL};
  sl_cluster_fork_opts_t fo = {.env = env};
  ASSERT_EQ(sl_cluster_setup(&o), 0);
  /* Replacements do not inherit per-fork env: give it to the whole tree. */
  setenv("CLUSTER_TEST_EXIT", "3", 1);
  ASSERT_EQ(sl_cluster_fork(&fo, NULL), 0);
  ASSERT_EQ(sl_run(), 0);
  unsetenv("CLUSTER_TEST_EXIT");
  ASSERT_EQ(r.done, 1);
  ASSERT_EQ(r.exits, 5);
  for (int i = 0; i < 5; i++) ASSERT_EQ(r.exit_code[i], 3);
  ASSERT_EQ(r.restarts[3], 4);
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  ASSERT_EQ(st.restarts, 4);
  ASSERT_EQ(st.next_delay_ms, 50); /* 0, 20, 30, 45, then the cap */
}

/* The fatal exit code is not respawned. */
TEST(cluster_fatal_exit_not_respawned) {
  rec_t r = {0};
  watch(&r);
  sl_cluster_opts_t o = {.workers = 1, .entry = "cluster_worker"};
  const char* env[] = {"CLUSTER_TEST_EXIT=78", NULL};
  sl_cluster_fork_opts_t fo = {.env = env};
  ASSERT_EQ(sl_cluster_setup(&o), 0);
  ASSERT_EQ(sl_cluster_fork(&fo, NULL), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.exits, 1);
  ASSERT_EQ(r.exit_code[0], 78);
  ASSERT_EQ(r.respawn[0], 0);
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  ASSERT_EQ(st.fatal, 1);
  ASSERT_EQ(st.restarts, 0);
  /* It exited before its loop ran: "online" never went out. */
  ASSERT_STR_EQ(r.log, "1:fork 1:disconnect 1:exit");
}

/* Shutdown of several listening workers: each closes its server, every
 * EXIT, the done callback, and sl_run() returns (no handle left: the runner checks). */
TEST(cluster_shutdown_leaves_nothing) {
  rec_t r = {.shutdown_at_listening = 3};
  watch(&r);
  sl_cluster_opts_t o = {
      .workers = 3, .entry = "cluster_worker", .handle_signals = 1};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.done, 1);
  ASSERT_EQ(r.exits, 3);
  for (int i = 0; i < 3; i++) {
    /* Servers closed by the shutdown, as Node's worker.disconnect(). */
    ASSERT_EQ(r.term_signal[i], 0);
    ASSERT_EQ(r.exit_code[i], 0);
    ASSERT_EQ(r.respawn[i], 0);
  }
  ASSERT_EQ(sl_cluster_shutdown(NULL, NULL), 0); /* nothing left: done */
  ASSERT_EQ(sl_run(), 0);
}

/* SIGTERM to the primary (handle_signals) shuts the cluster down. */
static void term_self(const sl_cluster_event_t* ev, void* arg) {
  (void)ev;
  if (++*(int*)arg == 2) kill(getpid(), SIGTERM);
}

TEST(cluster_sigterm_shuts_down) {
  rec_t r = {0};
  int listening = 0;
  watch(&r);
  sl_cluster_on(SL_CLUSTER_LISTENING, term_self, &listening);
  sl_cluster_opts_t o = {
      .workers = 2, .entry = "cluster_worker", .handle_signals = 1};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.exits, 2);
  ASSERT_EQ(r.respawn[0] + r.respawn[1], 0);
}

/* The primary dies abruptly: its worker sees the channel close and exits
 * (the runner would fail the case on a process left behind). */
static void on_mid_msg(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  (void)c;
  int64_t pid;
  if (sl_json_get_int(ev->msg->data, ev->msg->len, "pid", &pid) == 0)
    *(pid_t*)arg = (pid_t)pid;
}

static void poll_gone(sl_timer_t* t, void* arg) {
  pid_t* pid = arg;
  static int left = 300;
  if (!sl_test_pid_alive(*pid) || --left == 0) sl_timer_stop(t);
}

TEST(cluster_worker_exits_when_primary_dies) {
  pid_t worker = 0;
  sl_child_t* c;
  ASSERT_EQ(sl_fork_entry("cluster_mid_primary", NULL, NULL, &c), 0);
  sl_child_on(c, SL_CHILD_MESSAGE, on_mid_msg, &worker);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_GT(worker, 0);
  sl_timer_start(10, 10, poll_gone, &worker);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(sl_test_pid_alive(worker), 0);
}

/* Graceful shutdown: a request in flight in a worker (answered 300 ms
 * later) when the primary shuts down still gets its whole 200 response; the
 * worker exits 0 (not by a signal) and nothing is left behind. */
typedef struct {
  rec_t r;
  int status, ended, port;
  char body[64];
  size_t len;
} graceful_t;

static void g_res_ev(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  graceful_t* g = arg;
  if (ev->type == SL_EV_END) g->ended++;
  if (ev->type != SL_EV_DATA) return;
  size_t n = sl_chunk_len(ev->chunk);
  if (g->len + n >= sizeof g->body) n = sizeof g->body - 1 - g->len;
  memcpy(g->body + g->len, sl_chunk_data(ev->chunk), n);
  g->len += n;
}

static void g_on_response(int err, sl_stream_t* res, void* arg) {
  graceful_t* g = arg;
  ASSERT_EQ(err, 0);
  g->status = sl_http_status(res);
  sl_stream_on(res, SL_EV_DATA, g_res_ev, g);
  sl_stream_on(res, SL_EV_END, g_res_ev, g);
}

static void g_on_ev(const sl_cluster_event_t* ev, void* arg) {
  graceful_t* g = arg;
  char url[64];
  if (ev->type == SL_CLUSTER_LISTENING) {
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ev->port);
    sl_http_request_opts_t o = {.url = url};
    sl_stream_t* req = sl_http_request(&o, g_on_response, g);
    ASSERT(req != NULL);
    sl_stream_end(req, NULL, NULL, NULL);
  } else if (ev->type == SL_CLUSTER_MESSAGE) {
    ASSERT_EQ(sl_cluster_shutdown(on_done, &g->r), 0);
  }
}

TEST(cluster_graceful_shutdown_finishes_requests) {
  graceful_t g;
  memset(&g, 0, sizeof g);
  watch(&g.r);
  sl_cluster_on(SL_CLUSTER_LISTENING, g_on_ev, &g);
  sl_cluster_on(SL_CLUSTER_MESSAGE, g_on_ev, &g);
  sl_cluster_opts_t o = {
      .workers = 1, .entry = "cluster_graceful_worker", .no_restart = 1};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(g.r.done, 1);
  ASSERT_EQ(g.status, 200);
  ASSERT_EQ(g.ended, 1);
  ASSERT_STR_EQ(g.body, "slow answer\n");
  ASSERT_EQ(g.r.exits, 1);
  ASSERT_EQ(g.r.exit_code[0], 0);
  ASSERT_EQ(g.r.term_signal[0], 0);
  ASSERT(strstr(g.r.log, "1:disconnect 1:exit") != NULL);
}

/* --- the drain deadline ---------------------------------------------------- */

/* A worker that keeps writing for 1.5 s after it was told to stop (as a
 * download to a client that reads would), then exits 0. */
static struct {
  sl_http_server_t* srv;
  sl_timer_t* t;
  int fd, ticks;
} B;

static void busy_tick(sl_timer_t* t, void* arg) {
  (void)arg;
  static char block[4096];
  if (write(B.fd, block, sizeof block) < 0) _exit(94);
  if (++B.ticks < 75) return;
  sl_timer_stop(t);
  close(B.fd);
}

static void busy_shutdown(void* arg) {
  (void)arg;
  sl_http_server_close(B.srv, NULL, NULL);
  B.fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  B.t = sl_timer_start(20, 20, busy_tick, NULL);
}

SL_ENTRY(cluster_busy_worker) {
  (void)argc;
  (void)argv;
  sl_http_server_opts_t o = {0};
  if (sl_http_listen(&o, hello, NULL, &B.srv) != 0) return 91;
  if (sl_cluster_on_shutdown(busy_shutdown, NULL) != 0) return 92;
  return sl_run() == 0 ? 0 : 93;
}

static struct {
  int restarted, restart_err, done;
  sl_cluster_stats_t after_restart;
  int exit_code[4], term_signal[4], exits;
} D;

static void drain_shut_done(void* arg) {
  (void)arg;
  D.done++;
}

static void drain_restarted(int err, void* arg) {
  (void)arg;
  D.restarted++;
  D.restart_err = err;
  sl_cluster_stats(&D.after_restart);
  sl_cluster_shutdown(drain_shut_done, NULL);
}

static void drain_on_ev(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  if (ev->type == SL_CLUSTER_LISTENING && sl_worker_id(ev->worker) == 1)
    ASSERT_EQ(sl_cluster_restart(drain_restarted, NULL), 0);
  if (ev->type == SL_CLUSTER_EXIT && D.exits < 4) {
    D.exit_code[D.exits] = ev->exit_code;
    D.term_signal[D.exits++] = ev->term_signal;
  }
}

/* shutdown_timeout_ms 300: the rolling restart lets the old worker write
 * on past it and exit by itself (nothing cut); the shutdown that follows
 * holds its deadline, kills the replacement and counts the cut. */
TEST(cluster_drain_deadline_restart_waits_shutdown_holds) {
  sl_cluster_on(SL_CLUSTER_LISTENING, drain_on_ev, NULL);
  sl_cluster_on(SL_CLUSTER_EXIT, drain_on_ev, NULL);
  sl_cluster_opts_t o = {.workers = 1,
                         .entry = "cluster_busy_worker",
                         .shutdown_timeout_ms = 300,
                         .no_heartbeat = 1};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(D.restarted, 1);
  ASSERT_EQ(D.restart_err, 0);
  ASSERT_EQ(D.after_restart.retired, 1);
  ASSERT_EQ(D.after_restart.cut, 0);
  ASSERT_EQ(D.exits, 2);
  ASSERT_EQ(D.exit_code[0], 0); /* the old worker finished its writes */
  ASSERT_EQ(D.term_signal[0], 0);
  ASSERT_EQ(D.term_signal[1], SIGKILL); /* the shutdown's deadline held */
  ASSERT_EQ(D.done, 1);
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  ASSERT_EQ(st.cut, 1);
  ASSERT_EQ(st.cut_connections, 0);
}
