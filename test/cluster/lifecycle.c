/* cluster lifecycle: rolling restart, shutdown, listening keys and heartbeats,
 * each case a regression that failed before its fix. Rolling restart that
 * never reports a timeout or kills a good replacement, a restart callback
 * run inside sl_cluster_shutdown, a second sl_cluster_start from the
 * shutdown callback, listening keys that are never released, two port-0
 * servers in one worker, rr handoffs dropped by a closing TCP server, and
 * heartbeat kills of workers that are alive. Workers are named entries of
 * this binary; the primary's environment (setenv) reaches them. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/clients.h"

/* --- worker side ------------------------------------------------------------ */

static sl_http_server_t* w_srv;
static sl_tcp_server_t* w_tcp;
static int w_srv_closed, w_tcp_closed;
static sl_timer_t* w_keep;
static sl_timer_t* w_delay;

static void w_answer(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req;
  (void)arg;
  char body[32];
  snprintf(body, sizeof body, "worker %d\n", sl_cluster_worker_id());
  sl_http_respond(res, 200, "text/plain", body, strlen(body));
}

static void w_send(const char* fmt, int a, int b) {
  char buf[128];
  int n = snprintf(buf, sizeof buf, fmt, a, b);
  sl_channel_send(sl_parent(), buf, (size_t)n, -1);
}

static void w_keep_cb(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
}

/* Keeps a worker without a server alive until its shutdown. */
static void w_keep_alive(void) {
  w_keep = sl_timer_start(60000, 60000, w_keep_cb, NULL);
}

static void w_shut(void* arg) {
  (void)arg;
  if (w_keep != NULL) sl_timer_stop(w_keep);
  if (w_delay != NULL) sl_timer_stop(w_delay);
  w_keep = w_delay = NULL;
  if (w_srv != NULL && !w_srv_closed) {
    w_srv_closed = 1;
    sl_http_server_close(w_srv, NULL, NULL);
  }
  if (w_tcp != NULL && !w_tcp_closed) {
    w_tcp_closed = 1;
    sl_tcp_server_close(w_tcp, NULL, NULL);
  }
}

static int w_listen(void) {
  return sl_http_listen(NULL, w_answer, NULL, &w_srv);
}

static void w_delayed_listen(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  w_delay = NULL;
  if (w_listen() != 0) exit(91);
  if (w_keep != NULL) sl_timer_stop(w_keep);
  w_keep = NULL;
}

static int env_int(const char* name) {
  const char* v = getenv(name);
  return v != NULL ? atoi(v) : 0;
}

/* An HTTP worker answering "worker <id>". REV_NOLISTEN_FROM=N: workers
 * with id >= N never listen (but are online). REV_DELAY_ID=N: worker N
 * listens REV_DELAY_MS late. REV_BUSY_START_MS=M: blocks its loop for M ms
 * after going online, before it listens. */
SL_ENTRY(rev_roll) {
  (void)argc;
  (void)argv;
  int id = sl_cluster_worker_id();
  sl_cluster_on_shutdown(w_shut, NULL);
  int from = env_int("REV_NOLISTEN_FROM");
  if (env_int("REV_BUSY_START_MS") > 0)
    usleep((useconds_t)env_int("REV_BUSY_START_MS") * 1000);
  if (from > 0 && id >= from) {
    w_keep_alive();
  } else if (id == env_int("REV_DELAY_ID")) {
    w_keep_alive();
    w_delay = sl_timer_start((uint64_t)env_int("REV_DELAY_MS"), 0,
                             w_delayed_listen, NULL);
  } else if (w_listen() != 0) {
    return 91;
  }
  return sl_run() == 0 ? 0 : 93;
}

/* A worker that sends a user message before its first cluster call. */
SL_ENTRY(rev_early_msg) {
  (void)argc;
  (void)argv;
  static const char hi[] = "{\"hi\":1}";
  sl_channel_send(sl_parent(), hi, sizeof hi - 1, -1);
  sl_cluster_is_primary();
  sl_cluster_on_shutdown(w_shut, NULL);
  w_keep_alive();
  return sl_run() == 0 ? 0 : 93;
}

static void w_slow_answer(sl_timer_t* t, void* arg) {
  (void)t;
  sl_http_respond(arg, 200, "text/plain", "worker 1\n", 9);
}

static void w_slow(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req;
  (void)arg;
  static const char got[] = "{\"got\":1}";
  sl_channel_send(sl_parent(), got, sizeof got - 1, -1);
  sl_timer_start(800, 0, w_slow_answer, res);
}

/* An HTTP worker whose requests take 800 ms; closes gracefully. */
SL_ENTRY(rev_slow) {
  (void)argc;
  (void)argv;
  if (sl_http_listen(NULL, w_slow, NULL, &w_srv) != 0) return 91;
  sl_cluster_on_shutdown(w_shut, NULL);
  return sl_run() == 0 ? 0 : 93;
}

static void w_noop(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  (void)ev;
  (void)arg;
}

/* Writes a small HTTP-looking answer and ends: the raw clients below read
 * it without sending anything. */
static void w_tcp_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  (void)srv;
  (void)arg;
  char body[64];
  snprintf(body, sizeof body, "HTTP/1.1 200 OK\r\n\r\nworker %d\n",
           sl_cluster_worker_id());
  sl_stream_on(conn, SL_EV_DATA, w_noop, NULL);
  sl_chunk_t* c = sl_chunk_str(body);
  sl_stream_end(conn, c, NULL, NULL);
  sl_chunk_unref(c);
}

static void w_closed_b(void* arg) {
  (void)arg;
  w_send("{\"closed_b\":%d%.0d}", 1, 0);
}

/* Two servers on port 0 in one worker (HTTP, then TCP); reports both ports
 * as {"a":A,"b":B}. REV_CLOSE_B=1: then closes the TCP one and reports
 * {"closed_b":1} from its close callback. */
SL_ENTRY(rev_two) {
  (void)argc;
  (void)argv;
  if (w_listen() != 0) return 91;
  if (sl_tcp_listen("127.0.0.1", 0, NULL, w_tcp_conn, NULL, &w_tcp) != 0)
    return 92;
  sl_cluster_on_shutdown(w_shut, NULL);
  w_send("{\"a\":%d,\"b\":%d}", sl_http_server_port(w_srv),
         sl_tcp_server_port(w_tcp));
  if (env_int("REV_CLOSE_B")) {
    w_tcp_closed = 1;
    sl_tcp_server_close(w_tcp, w_closed_b, NULL);
  }
  return sl_run() == 0 ? 0 : 93;
}

/* --- REV_CYCLES: listen and close on N distinct ports, one after another */

static int w_cycle, w_cycles;

static int w_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t l = sizeof sa;
  if (bind(fd, (struct sockaddr*)&sa, sizeof sa) != 0 ||
      getsockname(fd, (struct sockaddr*)&sa, &l) != 0)
    exit(94);
  close(fd);
  return ntohs(sa.sin_port);
}

static void w_next_cycle(void* arg);

static void w_run_cycle(void) {
  if (w_cycle == w_cycles) {
    w_send("{\"cycles\":%d,\"err\":%d}", w_cycle, 0);
    return;
  }
  sl_tcp_server_t* s;
  int port = w_cycles == 1 ? 0 : w_free_port();
  int rc = sl_tcp_listen("127.0.0.1", port, NULL, w_tcp_conn, NULL, &s);
  if (rc != 0) {
    w_send("{\"cycles\":%d,\"err\":%d}", w_cycle, rc);
    return;
  }
  if (w_cycles == 1) w_send("{\"port\":%d%.0d}", sl_tcp_server_port(s), 0);
  sl_tcp_server_close(s, w_next_cycle, NULL);
}

static void w_next_cycle(void* arg) {
  (void)arg;
  w_cycle++;
  w_run_cycle();
}

/* Listens on REV_CYCLES different ports (port 0 when 1), closing each
 * before the next; reports {"cycles":done,"err":code} (and {"port":P}
 * first when 1). Then idles until shutdown. */
SL_ENTRY(rev_cycles) {
  (void)argc;
  (void)argv;
  w_cycles = env_int("REV_CYCLES");
  sl_cluster_on_shutdown(w_shut, NULL);
  w_keep_alive();
  w_run_cycle();
  return sl_run() == 0 ? 0 : 93;
}

/* --- REV_SLEEP_CLOSE: an rr TCP worker that closes while handoffs wait */

static void w_on_primary(sl_channel_t* ch, const sl_child_event_t* ev,
                         void* arg) {
  (void)ch;
  (void)arg;
  int64_t v;
  if (sl_json_get_int(ev->msg->data, ev->msg->len, "sleep_close", &v) != 0)
    return;
  /* Straight to the channel's descriptor: sl_channel_send() would only
   * write once the loop runs again, after the sleep. */
  static const char sleeping[] = "{\"sleeping\":1}\n";
  if (write(3, sleeping, sizeof sleeping - 1) != sizeof sleeping - 1) exit(95);
  usleep(600 * 1000); /* the primary hands connections over meanwhile */
  w_tcp_closed = 1;
  sl_tcp_server_close(w_tcp, NULL, NULL);
}

/* A TCP server that answers "worker <id>"; {"sleep_close":1} makes it
 * report, block 600 ms, then close its server. */
SL_ENTRY(rev_tcp) {
  (void)argc;
  (void)argv;
  if (sl_tcp_listen("127.0.0.1", 0, NULL, w_tcp_conn, NULL, &w_tcp) != 0)
    return 91;
  sl_cluster_on_shutdown(w_shut, NULL);
  sl_channel_on(sl_parent(), SL_CHANNEL_MESSAGE, w_on_primary, NULL);
  return sl_run() == 0 ? 0 : 93;
}

/* --- primary side: clients ---------------------------------------------------- */

/* --- primary side: bookkeeping ------------------------------------------------ */

static struct {
  char log[2048];
  const char* reasons[16];
  int nexit, port;
  int restart_calls, restart_err, restart_in_call;
  int in_shutdown_call;
  int alive_at_watchdog, restart_calls_at_watchdog;
  int finishing, timed_out, rounds;
  int msg_a, msg_b, closed_b, cycles, cycle_err, closed_port;
  int sleeper_pid;
  sl_timer_t* watchdog;
  clients_t cl;
  sl_cluster_opts_t o;
} V;

static void logf_(const char* fmt, int id) {
  size_t l = strlen(V.log);
  snprintf(V.log + l, sizeof V.log - l, fmt, id);
}

static void shut_done(void* arg) {
  (void)arg;
  if (V.watchdog != NULL) sl_timer_stop(V.watchdog);
  V.watchdog = NULL;
}

static void finish(void) {
  if (V.finishing) return;
  V.finishing = 1;
  sl_cluster_shutdown(shut_done, NULL);
}

static void on_watchdog(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  V.watchdog = NULL;
  V.timed_out = 1;
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  V.alive_at_watchdog = (int)st.alive;
  V.restart_calls_at_watchdog = V.restart_calls;
  finish();
}

static void watchdog(uint64_t ms) {
  V.watchdog = sl_timer_start(ms, 0, on_watchdog, NULL);
}

static void log_ev(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  static const char* const names[] = {"fork",       "online", "listening",
                                      "disconnect", "exit",   "message"};
  int id = sl_worker_id(ev->worker);
  char fmt[32];
  snprintf(fmt, sizeof fmt, "%%d:%s ", names[ev->type]);
  logf_(fmt, id);
  if (ev->type == SL_CLUSTER_LISTENING) V.port = ev->port;
  if (ev->type == SL_CLUSTER_EXIT && V.nexit < 16)
    V.reasons[V.nexit++] = ev->reason;
}

static void log_all(void) {
  for (int t = 0; t < (SL_CLUSTER_MESSAGE + 1); t++)
    sl_cluster_on((sl_cluster_event_type_t)t, log_ev, NULL);
}

static void on_restarted(int err, void* arg) {
  (void)arg;
  V.restart_calls++;
  V.restart_err = err;
}

static void start(const char* entry, int workers) {
  V.o.workers = workers;
  V.o.entry = entry;
  ASSERT_EQ(sl_cluster_start(&V.o), 0);
}

/* --- rolling restart ---------------------------------------------------------- */

static void restart_on_first_listen(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  if (sl_worker_id(ev->worker) == 1)
    ASSERT_EQ(sl_cluster_restart(on_restarted, NULL), 0);
}

/* The replacement never listens: the doc promises cb(SL_ETIMEDOUT) after
 * restart_timeout_ms, the old worker still serving. The restart instead
 * stays active for ever (R.old is still set, restart_step waits for it),
 * and every later restart or SIGHUP gets SL_EBUSY. */
TEST(cluster_rev_restart_timeout_reports_etimedout) {
  setenv("REV_NOLISTEN_FROM", "2", 1);
  log_all();
  sl_cluster_on(SL_CLUSTER_LISTENING, restart_on_first_listen, NULL);
  V.o.restart_timeout_ms = 300;
  V.o.no_heartbeat = 1;
  watchdog(2500);
  start("rev_roll", 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(V.restart_calls_at_watchdog, 1);
  ASSERT_EQ(V.restart_err, SL_ETIMEDOUT);
}

static void kill_old_on_repl_fork(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  if (sl_worker_id(ev->worker) != 2) return;
  sl_worker_t* w[4];
  ASSERT_GE(sl_cluster_workers(w, 4), 2);
  ASSERT_EQ(sl_worker_id(w[0]), 1);
  ASSERT_EQ(kill(sl_worker_pid(w[0]), SIGKILL), 0);
}

/* The old worker dies while its replacement is starting. Expected: the
 * replacement stands in for it (no second replacement from the restart
 * policy), the restart ends with 0 once it listens, and it keeps running.
 * Observed: the policy forks worker 3 too (two workers for a target of
 * one), restart_step waits for R.old forever, and restart_timeout_ms
 * later the healthy replacement is SIGKILLed and cb gets SL_ETIMEDOUT. */
TEST(cluster_rev_restart_old_dies_during_restart) {
  setenv("REV_DELAY_ID", "2", 1);
  setenv("REV_DELAY_MS", "300", 1);
  log_all();
  sl_cluster_on(SL_CLUSTER_LISTENING, restart_on_first_listen, NULL);
  sl_cluster_on(SL_CLUSTER_FORK, kill_old_on_repl_fork, NULL);
  V.o.restart_timeout_ms = 1200;
  V.o.no_heartbeat = 1;
  watchdog(2500);
  start("rev_roll", 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(V.alive_at_watchdog, 1);
  ASSERT_EQ(V.restart_calls_at_watchdog, 1);
  ASSERT_EQ(V.restart_err, 0);
  ASSERT(strstr(V.log, "2:exit") != NULL);
  ASSERT_STR_EQ(V.reasons[1], "shutdown"); /* worker 2 lived to the end */
}

static void shutdown_on_repl_fork(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  if (sl_worker_id(ev->worker) != 2) return;
  V.in_shutdown_call = 1;
  V.finishing = 1;
  ASSERT_EQ(sl_cluster_shutdown(shut_done, NULL), 0);
  V.in_shutdown_call = 0;
  V.restart_in_call = V.restart_calls;
}

/* A shutdown while a restart runs: the restart's cb must run from the
 * loop (SL_ECANCELED), not inside sl_cluster_shutdown. */
TEST(cluster_rev_restart_cb_not_inside_shutdown) {
  setenv("REV_NOLISTEN_FROM", "2", 1);
  sl_cluster_on(SL_CLUSTER_LISTENING, restart_on_first_listen, NULL);
  sl_cluster_on(SL_CLUSTER_FORK, shutdown_on_repl_fork, NULL);
  V.o.no_heartbeat = 1;
  V.o.shutdown_timeout_ms = 1000;
  watchdog(4000);
  start("rev_roll", 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(V.restart_in_call, 0);
  ASSERT_EQ(V.restart_calls, 1);
  ASSERT_EQ(V.restart_err, SL_ECANCELED);
}

static void restart_then_shutdown(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  (void)ev;
  ASSERT_EQ(sl_cluster_restart(on_restarted, NULL), 0);
  finish();
}

/* sl_cluster_restart() then sl_cluster_shutdown() before the loop turns
 * (SIGHUP and SIGTERM read in the same iteration do this): restart_finish
 * memsets R while R.tick is still queued, and the tick
 * queue then runs through a zeroed node. */
TEST(cluster_rev_restart_then_shutdown_same_tick) {
  sl_cluster_on(SL_CLUSTER_LISTENING, restart_then_shutdown, NULL);
  V.o.no_heartbeat = 1;
  start("rev_roll", 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(V.restart_calls, 1);
  ASSERT_EQ(V.restart_err, SL_ECANCELED);
}

/* --- a second cluster after a shutdown ---------------------------------------- */

static void second_round_start(void* arg);

static void round_on_listen(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  (void)ev;
  sl_cluster_shutdown(second_round_start, NULL);
}

/* Starting the cluster again from the shutdown callback, with
 * handle_signals: shutdown_done() has just uv_close()d C.sig[] and
 * signals_start() uv_signal_init()s the same handles before their close
 * callbacks ran. Listeners are cleared by
 * the shutdown, so the second round registers them again. */
static void second_round_start(void* arg) {
  (void)arg;
  V.rounds++;
  if (V.rounds > 1) return;
  sl_cluster_on(SL_CLUSTER_LISTENING, round_on_listen, NULL);
  ASSERT_EQ(sl_cluster_start(&V.o), 0);
}

static void first_round_listen(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  (void)ev;
  sl_cluster_shutdown(second_round_start, NULL);
}

TEST(cluster_rev_start_again_from_shutdown_cb) {
  sl_cluster_on(SL_CLUSTER_LISTENING, first_round_listen, NULL);
  V.o.handle_signals = 1;
  V.o.no_heartbeat = 1;
  start("rev_roll", 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(V.rounds, 2);
}

/* --- event order ---------------------------------------------------------------- */

static void early_msg(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  (void)ev;
  finish();
}

/* A worker that sends a message and then makes its first cluster call:
 * the primary emits MESSAGE before ONLINE, against the documented order
 * (FORK, ONLINE, ... with MESSAGE between ONLINE and DISCONNECT). */
TEST(cluster_rev_message_not_before_online) {
  log_all();
  sl_cluster_on(SL_CLUSTER_MESSAGE, early_msg, NULL);
  V.o.no_heartbeat = 1;
  watchdog(3000);
  start("rev_early_msg", 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_STR_EQ(V.log, "1:fork 1:online 1:message 1:disconnect 1:exit ");
}

/* --- listening keys ------------------------------------------------------------- */

static void two_msg(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  int64_t v;
  const sl_message_t* m = ev->msg;
  if (sl_json_get_int(m->data, m->len, "a", &v) == 0) V.msg_a = (int)v;
  if (sl_json_get_int(m->data, m->len, "b", &v) == 0) V.msg_b = (int)v;
  if (sl_json_get_int(m->data, m->len, "closed_b", &v) == 0) V.closed_b = 1;
  if (getenv("REV_CLOSE_B") == NULL || V.closed_b) finish();
}

/* Node gives each listen() of a worker on the same address its own index
 * (the primary's key includes it), so two port-0 servers in one worker get
 * two ports. Here the key is host and requested port only
 *, so both servers share one port (with reuseport, two
 * copies of the same socket in one process). */
TEST(cluster_rev_two_port0_servers_get_distinct_ports) {
  sl_cluster_on(SL_CLUSTER_MESSAGE, two_msg, NULL);
  V.o.no_heartbeat = 1;
  watchdog(3000);
  start("rev_two", 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_GT(V.msg_a, 0);
  ASSERT_GT(V.msg_b, 0);
  ASSERT_NE(V.msg_a, V.msg_b);
}

/* Same two servers; closing the second one never completes: the primary's
 * UNLISTEN_OK names the key only, unlisten_done() finds the first member
 * (not closing) and releases nothing, so the close
 * callback never runs and N.refs keeps the worker's loop alive. The
 * primary also dropped membership for the server still open. */
TEST(cluster_rev_second_server_close_completes) {
  setenv("REV_CLOSE_B", "1", 1);
  sl_cluster_on(SL_CLUSTER_MESSAGE, two_msg, NULL);
  V.o.no_heartbeat = 1;
  V.o.shutdown_timeout_ms = 1000;
  watchdog(2000);
  start("rev_two", 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(V.closed_b, 1);
}

static void cycles_msg(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  int64_t v;
  const sl_message_t* m = ev->msg;
  if (sl_json_get_int(m->data, m->len, "port", &v) == 0) V.port = (int)v;
  if (sl_json_get_int(m->data, m->len, "err", &v) == 0) V.cycle_err = (int)v;
  if (sl_json_get_int(m->data, m->len, "cycles", &v) != 0) return;
  V.cycles = (int)v;
  /* Every server of the cluster on that port is closed: Node's primary
   * closes its handle then, and a client is refused. */
  if (V.port > 0) {
    int fd = raw_connect(V.port, 0);
    V.closed_port = fd < 0 ? fd : 0;
    if (fd >= 0) close(fd);
  }
  finish();
}

/* A key (and the primary's listening socket) lives until the cluster
 * shuts down, even when no worker listens on it any more. After 32
 * addresses every listen fails with SL_ENOBUFS for the life of the
 * cluster. */
TEST(cluster_rev_keys_released_after_unlisten) {
  setenv("REV_CYCLES", "40", 1);
  sl_cluster_on(SL_CLUSTER_MESSAGE, cycles_msg, NULL);
  V.o.no_heartbeat = 1;
  watchdog(4000);
  start("rev_cycles", 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(V.cycle_err, 0);
  ASSERT_EQ(V.cycles, 40);
}

/* The port stays bound and listening in the primary after the only
 * server on it closed: clients connect and then hang, where Node refuses
 * them. */
TEST(cluster_rev_port_released_after_last_server_closes) {
  setenv("REV_CYCLES", "1", 1);
  sl_cluster_on(SL_CLUSTER_MESSAGE, cycles_msg, NULL);
  V.o.no_heartbeat = 1;
  watchdog(3000);
  start("rev_cycles", 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(V.cycles, 1);
  ASSERT_EQ(V.closed_port, SL_ECONNREFUSED);
}

/* --- rr: a closing TCP server drops the handoffs already sent --------------- */

static void rr_done(void* arg) {
  (void)arg;
  finish();
}

static void rr_on_listen(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  (void)ev;
  sl_worker_t* w[4];
  if (sl_cluster_workers(w, 4) != 2 || strstr(V.log, "2:listening") == NULL ||
      strstr(V.log, "1:listening") == NULL)
    return;
  static const char m[] = "{\"sleep_close\":1}";
  ASSERT_GE(sl_worker_send(w[0], m, sizeof m - 1), 0);
}

static void rr_on_msg(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  (void)ev;
  clients_open(&V.cl, V.port, 10, 0);
  clients_wait(&V.cl, rr_done, NULL);
}

/* rr, two workers: worker 1 closes its TCP server while connections the
 * primary handed it wait in its control socket. An HTTP server serves
 * such late ones; a TCP server must bounce them to worker 2 (it used to
 * close them unserved). */
TEST(cluster_rev_rr_tcp_close_bounces_handoffs) {
  log_all();
  sl_cluster_on(SL_CLUSTER_LISTENING, rr_on_listen, NULL);
  sl_cluster_on(SL_CLUSTER_MESSAGE, rr_on_msg, NULL);
  V.o.sched = SL_SCHED_RR;
  V.o.no_restart = 1;
  V.o.no_heartbeat = 1;
  watchdog(5000);
  start("rev_tcp", 2);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(V.cl.answered + V.cl.failed, 10);
  ASSERT_EQ(V.cl.failed, 0);
  ASSERT_EQ(V.cl.by_worker[2], 10);
}

/* --- heartbeat false positives ---------------------------------------------- */

static void slow_done(void* arg) {
  (void)arg;
  finish();
}

static void slow_on_listen(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  if (sl_worker_id(ev->worker) != 1) return;
  V.sleeper_pid = sl_worker_pid(ev->worker);
  clients_open(&V.cl, ev->port, 1, 1);
  clients_wait(&V.cl, slow_done, NULL);
}

static void slow_on_msg(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  if (sl_worker_id(ev->worker) == 1) ASSERT_EQ(kill(V.sleeper_pid, SIGTERM), 0);
}

/* SIGTERM sent to a worker directly (not through the primary): the worker
 * shuts down gracefully and closes its channel, so it stops answering
 * pings; the primary must not take it for hung (it did: the request in
 * flight was lost to a SIGKILL). */
TEST(cluster_rev_sigterm_drain_not_killed_as_hung) {
  log_all();
  sl_cluster_on(SL_CLUSTER_LISTENING, slow_on_listen, NULL);
  sl_cluster_on(SL_CLUSTER_MESSAGE, slow_on_msg, NULL);
  V.o.heartbeat_interval_ms = 50;
  V.o.heartbeat_timeout_ms = 300;
  watchdog(4000);
  start("rev_slow", 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(V.cl.answered, 1);
  /* "exit", or "shutdown" when the test's own shutdown (once the answer
   * came) finds the worker still finishing: never "hung". */
  ASSERT(strcmp(V.reasons[0], "exit") == 0 ||
         strcmp(V.reasons[0], "shutdown") == 0);
}
