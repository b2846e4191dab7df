/* Internal contract of the cluster layer: primary.c (forking, lifecycle,
 * restart policy, heartbeat, rolling restart, shutdown), worker.c (the
 * worker's role, online, pongs, its shutdown), primary_net.c (the
 * primary's listening sockets and the control sockets to the workers:
 * listen requests, rr handoffs, orphaned slots) and worker_net.c (a
 * worker's side of the control socket: synchronous listen, handoffs),
 * which it plugs into the stream layer's listen hooks.
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
#include "stream/listen_int.h"

/* --- the servers' side (worker_net.c) ------------------------------------ */

/* In a worker (SLUICE_CLUSTER_FD set), installs the listen hooks that make
 * a server's listen ask the primary (stream/listen_int.h). sl_init and the
 * worker's first cluster call run it; idempotent. */
void sl__wnet_install(void);
/* Worker shutdown: asks every cluster server not closing yet to close.
 * Returns how many cluster servers there are (closing included). */
size_t sl__wnet_shutdown_all(void);

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
  int32_t index; /* LISTEN: the worker's n-th open server on the address
                     (Node's listen index): two servers on port 0 in one
                     worker get two ports */
  char host[64];
} sl__ctl_msg_t;

/* Sends `m` with `fd` (-1: none) attached, without blocking
 * (stream/fdmsg.c). Returns 0, or a negative code (SL_EAGAIN when the
 * socket is full). */
int sl__ctl_send(int sock, const sl__ctl_msg_t* m, int fd);
/* Receives one packet without blocking: 1 and *m, *fd (-1 when none came;
 * close-on-exec; a second descriptor is closed), 0 when nothing waits,
 * SL_EOF at the peer's close, SL_EINVAL for a packet of the wrong size or
 * cut short (any descriptor with it is closed), or another negative
 * code. */
int sl__ctl_recv(int sock, sl__ctl_msg_t* m, int* fd);

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
  void* data; /* sl_worker_set_data: the program's */
  int id;
  int slot; /* reuseport: which per-slot socket it uses */
  pid_t pid;
  sl__wstate_t state;
  int ever_listened;
  uint64_t started_ms;
  int no_respawn;          /* disconnected on purpose or retired */
  int retired;             /* stopped by a rolling restart */
  int pinged;              /* sent "online": answers the heartbeat */
  int disconnected;        /* its channel closed: no heartbeat */
  int warned;              /* a malformed packet was reported */
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

/* primary.c, for primary_net.c: a worker now listens on `port` (emits
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
