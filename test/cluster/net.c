/* cluster: listening in workers. Connections queued on a worker that dies
 * are served (by its replacement, or handed to the other workers), a
 * server that closes drains its accept queue, rr hands connections
 * strictly in turn, shared serves, the heartbeat kills a hung worker, a
 * rolling restart replaces every worker with the new one listening before
 * the old one leaves, a reuseport cluster does not share a port another
 * socket listens on, and the primary survives a worker that sends
 * garbage. Clients are plain blocking sockets: the kernel completes the
 * handshake without anyone accepting, so they never wait on the primary's
 * loop; the answers are collected by a timer. */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>

#include "cluster/cluster_int.h"
#include "cluster/clients.h"

/* --- the worker ------------------------------------------------------------ */

static void answer_id(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req;
  (void)arg;
  char body[32];
  snprintf(body, sizeof body, "worker %d\n", sl_cluster_worker_id());
  sl_http_respond(res, 200, "text/plain", body, strlen(body));
}

static void close_srv(void* arg) { sl_http_server_close(arg, NULL, NULL); }

static void send_garbage(void) {
  int fd = SL__CONTROL_CHILD_FD;
  char junk[7] = "garbage";
  send(fd, junk, sizeof junk, MSG_DONTWAIT); /* wrong size */
  sl__ctl_msg_t m = {.type = 99};
  sl__ctl_send(fd, &m, -1); /* unknown type */
  m = (sl__ctl_msg_t){.type = SL__CTL_UNLISTEN, .key = 999};
  sl__ctl_send(fd, &m, -1); /* no such key */
  m = (sl__ctl_msg_t){.type = SL__CTL_BOUNCE, .key = 0};
  sl__ctl_send(fd, &m, -1); /* a bounce without a connection */
  m = (sl__ctl_msg_t){.type = SL__CTL_LISTEN, .port = 70000};
  sl__ctl_send(fd, &m, 0); /* a listen with a descriptor, bad port */
  static const char* const bad[] = {
      "{\"sluice_cluster\":\"listening\",\"port\":99999}",
      "{\"sluice_cluster\":\"pong\",\"requests\":\"x\",\"rss\":-1}",
      "{\"sluice_cluster\":[1,2]}", "{\"sluice_cluster\":\"nonsense\"}",
      "{\"done\":1}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    sl_channel_send(sl_parent(), bad[i], strlen(bad[i]), -1);
}

/* 17 MiB without a newline, written straight to the channel's descriptor
 * (sl_channel_send would refuse it): more than the primary accepts. */
static void send_huge(void) {
  static char block[1 << 16];
  memset(block, 'a', sizeof block);
  for (size_t sent = 0; sent < (17u << 20);) {
    struct pollfd p = {.fd = SL__CHANNEL_CHILD_FD, .events = POLLOUT};
    if (poll(&p, 1, 2000) <= 0) return;
    ssize_t r = write(SL__CHANNEL_CHILD_FD, block, sizeof block);
    if (r < 0 && errno != EAGAIN) return; /* the primary closed it */
    if (r > 0) sent += (size_t)r;
  }
}

/* Listens on the cluster's address for port 0, answers "worker <id>",
 * closes gracefully. CNET_GARBAGE=1: then sends malformed control packets
 * and internal messages, and {"done":1}. CNET_HUGE=1: sends a message
 * over the channel's 16 MiB limit. */
SL_ENTRY(cnet_worker) {
  (void)argc;
  (void)argv;
  sl_http_server_opts_t o = {0};
  sl_http_server_t* srv;
  if (sl_http_listen(&o, answer_id, NULL, &srv) != 0) return 91;
  sl_cluster_on_shutdown(close_srv, srv);
  if (getenv("CNET_GARBAGE") != NULL) send_garbage();
  if (getenv("CNET_HUGE") != NULL) send_huge();
  return sl_run() == 0 ? 0 : 93;
}

/* --- the primary's bookkeeping ---------------------------------------------- */

typedef struct {
  clients_t cl;
  int listening, exits, port, nclients;
  int first_pid, first_id;
  char log[1024];
  const char* reasons[8];
  int respawn[8];
  int restart_err, restart_done;
  int mode;
} net_t;

static void logf_(net_t* n, const char* fmt, int id) {
  size_t l = strlen(n->log);
  snprintf(n->log + l, sizeof n->log - l, fmt, id);
}

static void shut(void* arg) {
  (void)arg;
  sl_cluster_shutdown(NULL, NULL);
}

static void wait_stopped(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  for (int i = 0; i < 500; i++) {
    FILE* f = fopen(path, "r");
    ASSERT(f != NULL);
    size_t r = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[r] = '\0';
    const char* p = strrchr(buf, ')');
    if (p != NULL && p[2] == 'T') return;
    usleep(2000);
  }
  ASSERT(0 && "worker did not stop");
}

/* --- queued connections survive a worker's death -------------------------- */

enum { M_KILL_QUEUED = 1, M_RR, M_SHARED, M_HUNG, M_ROLL, M_GARBAGE };

static void net_ev(const sl_cluster_event_t* ev, void* arg) {
  net_t* n = arg;
  int id = sl_worker_id(ev->worker);
  if (ev->type == SL_CLUSTER_LISTENING) {
    logf_(n, "%d:listening ", id);
    n->port = ev->port;
    if (++n->listening == 1) {
      n->first_pid = sl_worker_pid(ev->worker);
      n->first_id = id;
    }
  } else if (ev->type == SL_CLUSTER_EXIT) {
    logf_(n, "%d:exit ", id);
    if (n->exits < 8) {
      n->reasons[n->exits] = ev->reason;
      n->respawn[n->exits] = ev->respawn;
    }
    n->exits++;
  }
}

static void kill_queued_on_listen(const sl_cluster_event_t* ev, void* arg) {
  net_t* n = arg;
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  if (n->listening != (int)st.target || n->cl.n > 0) return;
  /* The first worker stops accepting; connections queue on its socket
   * (and, with two workers, on the other's), then it dies. */
  pid_t pid = n->first_pid;
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  wait_stopped(pid);
  clients_open(&n->cl, ev->port, n->nclients, 1);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  clients_wait(&n->cl, shut, NULL);
}

static void run_kill_queued(int workers, int no_restart, net_t* n) {
  memset(n, 0, sizeof *n);
  n->nclients = 20;
  sl_cluster_on(SL_CLUSTER_LISTENING, net_ev, n);
  sl_cluster_on(SL_CLUSTER_EXIT, net_ev, n);
  sl_cluster_on(SL_CLUSTER_LISTENING, kill_queued_on_listen, n);
  sl_cluster_opts_t o = {
      .workers = workers, .entry = "cnet_worker", .no_restart = no_restart};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(n->cl.failed, 0);
  ASSERT_EQ(n->cl.answered, 20);
  ASSERT_STR_EQ(n->reasons[0], "crash");
}

/* One worker, reuseport: it dies with connections in its accept queue; the
 * primary's copy of the socket keeps them for the replacement. */
TEST(cluster_queued_connections_survive_worker_kill) {
  net_t n;
  run_kill_queued(1, 0, &n);
  ASSERT_EQ(n.cl.by_worker[2], 20); /* all served by the replacement */
  ASSERT_EQ(n.respawn[0], 1);
}

/* Two workers, no replacement: the dead worker's slot is orphaned and the
 * primary hands what waits on it to the other worker. */
TEST(cluster_orphaned_slot_handed_to_other_worker) {
  net_t n;
  run_kill_queued(2, 1, &n);
  int other = n.first_id == 1 ? 2 : 1;
  ASSERT_EQ(n.cl.by_worker[other], 20);
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  ASSERT_EQ(st.restarts, 0);
}

/* --- a closing server drains its accept queue -------------------------------- */

static void drain_done(void* arg) { (void)arg; }

TEST(cluster_server_close_drains_accept_queue) {
  sl_http_server_t* srv;
  ASSERT_EQ(sl_http_listen(NULL, answer_id, NULL, &srv), 0);
  clients_t c;
  memset(&c, 0, sizeof c);
  /* Queued in the kernel, never accepted: the loop has not run. */
  clients_open(&c, sl_http_server_port(srv), 8, 1);
  sl_http_server_close(srv, NULL, NULL);
  clients_wait(&c, drain_done, NULL);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(c.failed, 0);
  ASSERT_EQ(c.answered, 8);
}

/* --- rr and shared ----------------------------------------------------------- */

static void serve_on_all_listening(const sl_cluster_event_t* ev, void* arg) {
  net_t* n = arg;
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  if (n->listening != (int)st.target || n->cl.n > 0) return;
  clients_open(&n->cl, ev->port, n->nclients, 1);
  clients_wait(&n->cl, shut, NULL);
}

static void run_sched(sl_cluster_sched_t sched, int workers, int nclients,
                      net_t* n) {
  memset(n, 0, sizeof *n);
  n->nclients = nclients;
  sl_cluster_on(SL_CLUSTER_LISTENING, net_ev, n);
  sl_cluster_on(SL_CLUSTER_LISTENING, serve_on_all_listening, n);
  sl_cluster_opts_t o = {
      .workers = workers, .entry = "cnet_worker", .sched = sched};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(n->cl.failed, 0);
  ASSERT_EQ(n->cl.answered, nclients);
}

/* rr: the primary accepts and hands connections strictly in turn. */
TEST(cluster_rr_hands_connections_in_turn) {
  net_t n;
  sl_cluster_stats_t before;
  sl_cluster_stats(&before);
  run_sched(SL_SCHED_RR, 3, 30, &n);
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  ASSERT_EQ(st.handoffs - before.handoffs, 30);
  ASSERT_EQ(st.handoff_skips, 0);
  for (int id = 1; id <= 3; id++) ASSERT_EQ(n.cl.by_worker[id], 10);
}

/* shared: one socket, every worker accepts on it; all answered. */
TEST(cluster_shared_socket_serves) {
  net_t n;
  run_sched(SL_SCHED_SHARED, 2, 20, &n);
  ASSERT_EQ(n.cl.by_worker[1] + n.cl.by_worker[2], 20);
}

/* Port numbers agree: every worker of a reuseport cluster reports the port
 * the first one got for port 0. */
TEST(cluster_reuseport_workers_share_port) {
  net_t n;
  run_sched(SL_SCHED_REUSEPORT, 2, 16, &n);
  ASSERT_EQ(n.cl.by_worker[1] + n.cl.by_worker[2], 16);
}

/* --- a port served already ------------------------------------------------ */

/* Listens on CNET_PORT; exits 0 when that is SL_EADDRINUSE, 91 when the
 * listen succeeded (it must not), 92 for another error. */
SL_ENTRY(cnet_busy_worker) {
  (void)argc;
  (void)argv;
  sl_http_server_opts_t o = {.port = atoi(getenv("CNET_PORT"))};
  sl_http_server_t* srv;
  int rc = sl_http_listen(&o, answer_id, NULL, &srv);
  if (rc == 0) _exit(91); /* sharing the port: the test fails at once */
  return rc == SL_EADDRINUSE ? 0 : 92;
}

/* Another socket of ours listens with SO_REUSEPORT (a second sluice, say):
 * the reuseport primary refuses the address rather than share it. */
TEST(cluster_reuseport_refuses_port_served_already) {
  int fd = sl__tcp_bind("127.0.0.1", 0, 1);
  ASSERT(fd >= 0);
  ASSERT_EQ(listen(fd, 8), 0);
  char port[16];
  snprintf(port, sizeof port, "%d", sl__tcp_local_port(fd));
  setenv("CNET_PORT", port, 1);
  net_t n = {0};
  sl_cluster_on(SL_CLUSTER_EXIT, net_ev, &n);
  sl_cluster_opts_t o = {.workers = 1,
                         .entry = "cnet_busy_worker",
                         .no_restart = 1,
                         .sched = SL_SCHED_REUSEPORT};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(n.exits, 1);
  ASSERT_STR_EQ(n.reasons[0], "exit");
  close(fd);
}

/* --- heartbeat ----------------------------------------------------------------- */

static void hung_on_listen(const sl_cluster_event_t* ev, void* arg) {
  net_t* n = arg;
  int id = sl_worker_id(ev->worker);
  if (id == 1)
    ASSERT_EQ(kill(sl_worker_pid(ev->worker), SIGSTOP), 0);
  else
    sl_cluster_shutdown(NULL, NULL); /* the replacement listens */
  (void)n;
}

TEST(cluster_hung_worker_killed_and_replaced) {
  net_t n;
  memset(&n, 0, sizeof n);
  sl_cluster_on(SL_CLUSTER_LISTENING, net_ev, &n);
  sl_cluster_on(SL_CLUSTER_EXIT, net_ev, &n);
  sl_cluster_on(SL_CLUSTER_LISTENING, hung_on_listen, &n);
  sl_cluster_opts_t o = {.workers = 1,
                         .entry = "cnet_worker",
                         .heartbeat_interval_ms = 50,
                         .heartbeat_timeout_ms = 300};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_STR_EQ(n.reasons[0], "hung");
  ASSERT_EQ(n.respawn[0], 1);
  ASSERT_STR_EQ(n.log, "1:listening 1:exit 2:listening 2:exit ");
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  ASSERT_EQ(st.hung, 1);
}

/* Load reports ride on the heartbeat: after requests, the worker's
 * figures are in sl_worker_load(). */
static void load_check(sl_timer_t* t, void* arg) {
  net_t* n = arg;
  sl_worker_t* w[4];
  ASSERT_EQ(sl_cluster_workers(w, 4), 1);
  sl_worker_load_t l;
  if (sl_worker_load(w[0], &l) != 0 || l.requests < 5) {
    ASSERT(++n->mode < 200);
    return;
  }
  ASSERT_GT(l.rss_bytes, 1 << 20);
  ASSERT_EQ(l.accepted, 5);
  ASSERT_EQ(l.connections, 0);
  ASSERT_GT(l.at_ms, 0);
  ASSERT_STR_EQ(sl_worker_state(w[0]), "listening");
  sl_timer_stop(t);
  sl_cluster_shutdown(NULL, NULL);
}

static void load_after_clients(void* arg) {
  sl_timer_start(20, 20, load_check, arg);
}

static void load_on_listen(const sl_cluster_event_t* ev, void* arg) {
  net_t* n = arg;
  clients_open(&n->cl, ev->port, 5, 1);
  clients_wait(&n->cl, load_after_clients, n);
}

TEST(cluster_load_reports) {
  net_t n;
  memset(&n, 0, sizeof n);
  sl_cluster_on(SL_CLUSTER_LISTENING, load_on_listen, &n);
  sl_cluster_opts_t o = {
      .workers = 1, .entry = "cnet_worker", .heartbeat_interval_ms = 30};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(n.cl.answered, 5);
}

/* --- rolling restart ---------------------------------------------------------- */

static void rolled(int err, void* arg) {
  net_t* n = arg;
  n->restart_err = err;
  n->restart_done++;
  /* Serve through the new workers, then stop. */
  clients_open(&n->cl, n->port, 8, 1);
  clients_wait(&n->cl, shut, NULL);
}

static void roll_on_listen(const sl_cluster_event_t* ev, void* arg) {
  net_t* n = arg;
  (void)ev;
  if (n->listening == 2 && n->restart_done == 0)
    ASSERT_EQ(sl_cluster_restart(rolled, n), 0);
}

TEST(cluster_rolling_restart_replaces_each_worker) {
  net_t n;
  memset(&n, 0, sizeof n);
  sl_cluster_on(SL_CLUSTER_LISTENING, net_ev, &n);
  sl_cluster_on(SL_CLUSTER_EXIT, net_ev, &n);
  sl_cluster_on(SL_CLUSTER_LISTENING, roll_on_listen, &n);
  sl_cluster_opts_t o = {.workers = 2, .entry = "cnet_worker"};
  ASSERT_EQ(sl_cluster_start(&o), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(n.restart_done, 1);
  ASSERT_EQ(n.restart_err, 0);
  /* Each replacement listens before the worker it replaces leaves. */
  ASSERT(strstr(n.log, "3:listening 1:exit 4:listening 2:exit") != NULL ||
         strstr(n.log, "3:listening 2:exit 4:listening 1:exit") != NULL);
  ASSERT_STR_EQ(n.reasons[0], "restart");
  ASSERT_STR_EQ(n.reasons[1], "restart");
  ASSERT_EQ(n.respawn[0], 0);
  ASSERT_EQ(n.cl.answered, 8);
  ASSERT_EQ(n.cl.by_worker[3] + n.cl.by_worker[4], 8);
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  ASSERT_EQ(st.retired, 2);
  ASSERT_EQ(st.restarts, 0);
}

/* --- bad input from a worker --------------------------------------------------- */

static void garbage_msg(const sl_cluster_event_t* ev, void* arg) {
  net_t* n = arg;
  (void)ev;
  /* After the garbage, the primary still routes connections. */
  clients_open(&n->cl, n->port, 4, 1);
  clients_wait(&n->cl, shut, NULL);
}

TEST(cluster_primary_survives_garbage_from_worker) {
  net_t n;
  memset(&n, 0, sizeof n);
  sl_cluster_on(SL_CLUSTER_LISTENING, net_ev, &n);
  sl_cluster_on(SL_CLUSTER_MESSAGE, garbage_msg, &n);
  const char* env[] = {"CNET_GARBAGE=1", NULL};
  sl_cluster_fork_opts_t fo = {.env = env};
  sl_cluster_opts_t o = {
      .workers = 1, .entry = "cnet_worker", .sched = SL_SCHED_RR};
  ASSERT_EQ(sl_cluster_setup(&o), 0);
  ASSERT_EQ(sl_cluster_fork(&fo, NULL), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(n.listening, 1); /* port 99999 was not believed */
  ASSERT_EQ(n.cl.answered, 4);
}

static void huge_exit(const sl_cluster_event_t* ev, void* arg) {
  net_t* n = arg;
  (void)ev;
  if (n->exits == 1) sl_cluster_shutdown(NULL, NULL);
}

/* A message over the channel's limit: the channel closes, the worker goes
 * (and is replaced), the primary lives on. */
TEST(cluster_primary_survives_oversized_message) {
  net_t n;
  memset(&n, 0, sizeof n);
  sl_cluster_on(SL_CLUSTER_LISTENING, net_ev, &n);
  sl_cluster_on(SL_CLUSTER_EXIT, net_ev, &n);
  sl_cluster_on(SL_CLUSTER_EXIT, huge_exit, &n);
  const char* env[] = {"CNET_HUGE=1", NULL};
  sl_cluster_fork_opts_t fo = {.env = env};
  sl_cluster_opts_t o = {.workers = 1, .entry = "cnet_worker"};
  ASSERT_EQ(sl_cluster_setup(&o), 0);
  ASSERT_EQ(sl_cluster_fork(&fo, NULL), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(n.exits, 1);
  ASSERT_EQ(n.listening, 1);
}
