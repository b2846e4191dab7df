/* Internal contract of the cluster layer: cluster.c (roles, lifecycle,
 * restart policy, heartbeat, rolling restart, shutdown), primary_net.c (the
 * primary's listening sockets and the control sockets to the workers:
 * listen requests, rr handoffs, orphaned slots) and worker_net.c (a
 * worker's side of the control socket: synchronous listen, handoffs), and
 * the hooks the TCP and HTTP servers call (sl__listen_open and friends).
 *
 * The control socket is a SOCK_SEQPACKET socketpair per worker, given to
 * the worker as descriptor 4 (SLUICE_CLUSTER_FD). Each packet is one
 * sl__ctl_msg_t, with a descriptor attached for LISTEN_OK (reuseport,
 * shared), CONN and BOUNCE. It is separate from the JSON channel so that
 * a worker can wait for its listen answer synchronously, and so that
 * handoffs cost one sendmsg each, with no JSON and no acknowledgement. */
#ifndef SL_CLUSTER_INT_H
#define SL_CLUSTER_INT_H

#include "process/process_int.h"

/* --- the servers' side ---------------------------------------------------- */

/* A server's membership in the cluster listener for its address. */
typedef struct sl__clisten_s sl__clisten_t;

/* rr: an accepted connection for the server (runs from the loop); the
 * callee owns `fd`. */
typedef void (*sl__conn_fd_cb)(void* arg, int fd);

#define SL__LISTEN_HANDOFF (-100000) /* no descriptor: connections arrive
                                        through the callback (rr) */

/* Opens the listening side of a server on host:port (host numeric or NULL
 * for 127.0.0.1). Outside a cluster worker, or with `exclusive`, it binds a
 * socket of its own (SO_REUSEPORT when `reuseport`) and *out is NULL. In a
 * worker it asks the primary, which binds once per address and answers:
 * the result is then a listening descriptor shared with the primary
 * (reuseport, shared) or SL__LISTEN_HANDOFF (rr), and *out the membership.
 * Returns the descriptor (non-blocking, close-on-exec; the caller owns it),
 * SL__LISTEN_HANDOFF, or a negative code (the bind error, from the primary
 * when it made the socket; SL_ETIMEDOUT when the primary did not answer).
 * *port_out gets the bound port. The primary sees LISTENING.
 * close_server(arg) closes the server gracefully: the worker's shutdown
 * calls it for servers still open, as Node's worker.disconnect() does. */
int sl__listen_open(const char* host, int port, int backlog, int reuseport,
                    int exclusive, sl__conn_fd_cb on_fd,
                    void (*close_server)(void* arg), void* arg,
                    int* port_out, sl__clisten_t** out);
/* Leaves the cluster listener: the primary stops handing connections over;
 * the ones already on their way are still given to on_fd, unless
 * `bounce_late`: then they go back to the primary for another worker.
 * cb(arg) runs from the loop once the primary has acknowledged; the
 * membership is freed then (on_fd is not called after cb). */
void sl__listen_close(sl__clisten_t* l, int bounce_late,
                      void (*cb)(void* arg), void* arg);
/* Worker shutdown: close_server() for every cluster server not closing
 * yet. Returns how many cluster servers there are (closing included). */
size_t sl__listen_shutdown_all(void);
/* Takes every connection waiting in listening socket `fd` (non-blocking)
 * and gives each to on_fd: a server that stops accepting drains its queue
 * rather than let close() reset it. Returns how many. */
size_t sl__listen_drain(int fd, sl__conn_fd_cb on_fd, void* arg);

/* A worker's load figures, kept by the servers, reported to the primary
 * (and read by sl_load_self in any process). */
typedef struct sl__load_s {
  uint64_t requests;
  uint64_t connections;
  uint64_t accepted;
  uint64_t responses[5];   /* by status class, 1xx to 5xx */
  uint64_t bytes_sent;
  uint64_t duration_buckets[SL_DURATION_BUCKETS]; /* not cumulative */
  uint64_t duration_over;  /* past the last bound */
  uint64_t duration_sum_ns;
} sl__load_t;
extern sl__load_t sl__load;
/* One finished (or refused, or cut) exchange: its status, body bytes and
 * the nanoseconds since its head arrived. */
void sl__load_observe(int status, uint64_t bytes, uint64_t ns);

/* --- control packets ------------------------------------------------------ */

enum {
  SL__CTL_LISTEN = 1,  /* worker -> primary: host, port, backlog, seq */
  SL__CTL_LISTEN_OK,   /* primary -> worker: seq, err, port, key, sched
                          (+ fd for reuseport and shared) */
  SL__CTL_CONN,        /* primary -> worker: key + the connection (rr) */
  SL__CTL_UNLISTEN,    /* worker -> primary: key */
  SL__CTL_UNLISTEN_OK, /* primary -> worker: key */
  SL__CTL_BOUNCE       /* worker -> primary: key + a connection it could
                          not take (its server is gone) */
};

typedef struct sl__ctl_msg_s {
  int32_t type;
  int32_t seq;
  int32_t err;
  int32_t port;
  int32_t key;
  int32_t backlog;
  int32_t sched;
  int32_t index;  /* LISTEN: the worker's n-th open server on the address
                     (Node's listen index): two servers on port 0 in one
                     worker get two ports */
  char host[64];
} sl__ctl_msg_t;

/* Sends `m` with `fd` (-1: none) attached; MSG_DONTWAIT. Returns 0, or a
 * negative code (SL_EAGAIN when the socket is full). */
int sl__ctl_send(int sock, const sl__ctl_msg_t* m, int fd);
/* Receives one packet: 1 and *m, *fd (-1 when none came; close-on-exec),
 * 0 when nothing waits (EAGAIN), SL_EOF at the peer's close, SL_EINVAL for
 * a packet of the wrong size (any descriptor with it is closed), or
 * another negative code. */
int sl__ctl_recv(int sock, sl__ctl_msg_t* m, int* fd, int flags);

/* --- the primary's side --------------------------------------------------- */

typedef enum {
  SL__W_STARTING = 0,
  SL__W_ONLINE,
  SL__W_LISTENING,
  SL__W_DRAINING,
  SL__W_DEAD
} sl__wstate_t;

#define SL__MAX_KEYS 32 /* listening addresses per cluster */

struct sl_worker_s {
  sl__queue_t node;
  sl_child_t* child;
  int id;
  int slot;           /* reuseport: which per-slot socket it uses */
  pid_t pid;
  sl__wstate_t state;
  int ever_listened;
  uint64_t started_ms;
  int no_respawn;     /* disconnected on purpose or retired */
  int retired;        /* stopped by a rolling restart */
  int pinged;         /* sent "online": answers the heartbeat */
  int disconnected;   /* its channel closed: no heartbeat */
  int warned;         /* a malformed packet was reported */
  const char* stop_reason; /* "shutdown", "restart", "hung", "disconnect" */
  sl__tick_t fork_tick;
  int forked_emitted, online_emitted;
  sl_timer_t* term_timer;
  sl_timer_t* kill_timer;
  /* draining (stop_worker) */
  uint64_t written_mark; /* sl__proc_written() at the last check */
  int written_ok;        /* the figure can be read */
  uint64_t extended_ms;  /* how long past the deadline progress kept it */
  /* heartbeat */
  uint64_t last_pong_ms;
  int have_load;
  sl_worker_load_t load;
  /* control socket (primary_net.c) */
  int ctl;
  uv_poll_t* ctl_poll;
  int ctl_events;
  unsigned char member[SL__MAX_KEYS];
};

/* drain.c. Bytes the process has written so far (write, writev,
 * sendfile: /proc/PID/io wchar): 0 and *out, or SL_ENOENT when it cannot
 * be read. */
int sl__proc_written(pid_t pid, uint64_t* out);
/* TCP connections the process holds in the ESTABLISHED state (0 when it
 * cannot be told). */
int sl__proc_tcp_connections(pid_t pid);

/* cluster.c, for primary_net.c: a worker now listens on `port` (emits
 * ONLINE first if it had not been emitted). */
void sl__cluster_worker_listening(sl_worker_t* w, int port);
/* The live workers, in fork order. */
sl__queue_t* sl__cluster_workers_queue(void);
sl_cluster_sched_t sl__cluster_sched(void);
extern sl_cluster_stats_t* sl__cluster_st;

/* primary_net.c. The primary's end of a new worker's control socket: 0 and
 * *child_end (to give to the worker), or a negative code. */
int sl__pnet_attach(sl_worker_t* w, int* child_end);
/* The worker is gone (or draining: `gone` 0): stop handing it
 * connections; when gone, close its control socket and adopt its
 * orphaned slots. */
void sl__pnet_detach(sl_worker_t* w, int gone);
/* Closes every listening socket the primary holds (cluster shutdown: the
 * workers' own copies keep serving until they close). */
void sl__pnet_close_all(void);

#endif
