/* sluice/cluster.h: Cluster (manual chapter 3): a primary and its workers sharing ports.
 * Included by <sluice.h>; programs include that. */
#ifndef SLUICE_CLUSTER_H
#define SLUICE_CLUSTER_H

#include "http.h"
#include "process.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Cluster (manual chapter 3)                                                */
/*                                                                           */
/* One program, two roles. The primary forks workers by re-executing its    */
/* own binary (/proc/self/exe, same argv) with SLUICE_WORKER_ID set, as      */
/* Node sets NODE_UNIQUE_ID, an IPC channel and a control socket; workers    */
/* run the same main (or a SL_ENTRY named in the options) and tell their     */
/* role with sl_cluster_is_primary(). A server started in a worker           */
/* (sl_http_listen, sl_tcp_listen) joins the cluster's listener for its      */
/* address, as in Node: the call asks the primary (a synchronous round trip  */
/* on the control socket), errors such as SL_EADDRINUSE come back from it,   */
/* and the primary sees LISTENING. How connections are spread is the         */
/* cluster's scheduling (sl_cluster_opts_t.sched). The primary keeps its     */
/* own copy of every listening socket, so a worker that dies or restarts     */
/* leaves its queued connections to its replacement instead of resetting     */
/* them. Internal messages are JSON objects with a "sluice_cluster" key;     */
/* they are never delivered as user messages on the primary.                 */

typedef enum {
  SL_SCHED_DEFAULT = 0, /* reuseport on Linux */
  SL_SCHED_REUSEPORT,   /* one SO_REUSEPORT socket per worker slot, made and
                           kept by the primary: the kernel spreads
                           connections by hash */
  SL_SCHED_RR,          /* the primary accepts and hands each connection to
                           the next listening worker (SCM_RIGHTS on the
                           control socket), strictly in turn, skipping
                           workers that are draining or whose socket is
                           full */
  SL_SCHED_SHARED       /* one listening socket shared by every worker: the
                           kernel wakes one acceptor */
} sl_cluster_sched_t;

/* "reuseport", "rr" or "shared" into *out: 0 or SL_EINVAL. */
SL_EXTERN int sl_cluster_sched_parse(const char* name, sl_cluster_sched_t* out);
/* The name of a scheduling ("reuseport" for SL_SCHED_DEFAULT). */
SL_EXTERN const char* sl_cluster_sched_name(sl_cluster_sched_t s);

typedef struct sl_worker_s sl_worker_t;

typedef enum {
  SL_CLUSTER_FORK = 0,   /* a worker was started */
  SL_CLUSTER_ONLINE,     /* its channel is up (it called a cluster
                              function) */
  SL_CLUSTER_LISTENING,  /* a server in it listens (or it called
                              sl_cluster_notify_listening): ev->port */
  SL_CLUSTER_DISCONNECT, /* its channel closed */
  SL_CLUSTER_EXIT,       /* it is gone: ev->exit_code / ev->term_signal;
                              last event of the worker */
  SL_CLUSTER_MESSAGE     /* ev->msg, a user message from the worker */
} sl_cluster_event_type_t;

typedef struct sl_cluster_event_s {
  sl_cluster_event_type_t type;
  sl_worker_t* worker;     /* valid during the callback; after EXIT never */
  int port;                /* LISTENING */
  int exit_code;           /* EXIT: -1 when signalled */
  int term_signal;         /* EXIT: 0 when it exited */
  int respawn;             /* EXIT: 1 when the restart policy will fork a
                              replacement (a listener that calls
                              sl_cluster_shutdown() cancels it) */
  uint64_t restarts;       /* EXIT: replacements so far, counting the one
                              this exit schedules */
  const sl_message_t* msg; /* MESSAGE: JSON text, valid during the callback */
  const char* reason;      /* EXIT: why it went: "crash" (died on its own:
                              a signal or a non-zero code), "exit" (code
                              0), "fatal" (the fatal code), "hung" (killed
                              for a missed heartbeat), "restart" (retired by
                              a rolling restart), "timeout" (a rolling
                              restart's replacement that did not listen in
                              time), "shutdown", "disconnect"
                              (sl_worker_disconnect) */
} sl_cluster_event_t;

typedef void (*sl_cluster_cb)(const sl_cluster_event_t* ev, void* arg);

/* Primary settings (Node's cluster.setupPrimary plus a restart policy).
 * Zeroed fields take the defaults given. */
#define SL_CLUSTER_NO_DEADLINE UINT64_MAX /* shutdown_timeout_ms: none */

typedef struct sl_cluster_opts_s {
  int workers;                    /* target count; 0: the number of CPUs */
  int no_restart;                 /* 1: a dead worker is not replaced */
  uint64_t backoff_initial_ms;    /* 0: 100. A worker that dies before
                                  healthy_uptime_ms is replaced after the
                                  current delay, which then grows; the first
                                  replacement of a healthy worker is
                                  immediate */
  double backoff_multiplier;      /* 0: 1.5 */
  uint64_t backoff_max_ms;        /* 0: 10000 */
  uint64_t healthy_uptime_ms;     /* 0: 5000; a worker that lived this long
                                  resets the delay to 0 */
  int fatal_exit_code;            /* 0: 78 (EX_CONFIG): a worker that exits
                                  with it is never replaced */
  uint64_t shutdown_timeout_ms;   /* 0: 60000; SL_CLUSTER_NO_DEADLINE: wait
                                  as long as it takes. How long a worker
                                  told to stop (shutdown, rolling restart)
                                  may drain its connections before SIGKILL
                                  to its group. In a rolling restart the
                                  deadline moves on, 1 s at a time, while
                                  the worker keeps writing (its replacement
                                  already serves; a client that stopped
                                  reading stops it); a shutdown's holds.
                                  A kill is reported on stderr with the
                                  TCP connections it cut, and counted in
                                  sl_cluster_stats (cut) */
  int handle_signals;             /* 1: SIGINT and SIGTERM in the primary call
                                  sl_cluster_shutdown(NULL, NULL), SIGHUP
                                  sl_cluster_restart(on_restart, ...) (the
                                  handler only records; the loop acts) */
  const char* entry;              /* NULL: workers run main; else a SL_ENTRY
                                  name, run instead of main */
  const char* const* argv;        /* NULL: this process's argv
                                  (/proc/self/cmdline) */
  sl_cluster_sched_t sched;       /* how workers share a listening address */
  uint64_t heartbeat_interval_ms; /* 0: 1000. The primary pings every
                                  online worker this often over the channel;
                                  the worker answers from its loop with its
                                  load report (sl_worker_load) */
  uint64_t heartbeat_timeout_ms;  /* 0: 5000; must exceed the interval. A
                                  worker that has not answered for this long
                                  is hung: SIGKILL to its process group, EXIT
                                  reason "hung", and the restart policy
                                  replaces it. Only workers that run the
                                  worker side (called a cluster function) are
                                  pinged, and not once their channel closed */
  int no_heartbeat;               /* 1: no pings, no load reports, no hung
                                  detection */
  uint64_t restart_timeout_ms;    /* 0: 10000. Rolling restart: how long a
                                  replacement may take to listen */
  void (*on_restart)(int err, void* arg); /* with handle_signals: the end
                                  of a rolling restart SIGHUP started (as
                                  sl_cluster_restart's cb); may be NULL */
  void* on_restart_arg;
} sl_cluster_opts_t;

typedef struct sl_cluster_fork_opts_s {
  const char* const* env; /* extra "NAME=value" strings for this worker,
                                  NULL-terminated; may be NULL */
} sl_cluster_fork_opts_t;

typedef struct sl_cluster_stats_s {
  size_t target;            /* the resolved opts.workers */
  size_t alive;             /* workers not yet exited */
  uint64_t forked;          /* every worker ever started */
  uint64_t exited;          /* EXIT events */
  uint64_t restarts;        /* replacements forked by the policy */
  uint64_t fatal;           /* exits with the fatal code */
  uint64_t next_delay_ms;   /* the delay of the next quick replacement */
  uint64_t crashes;         /* exits reason "crash" */
  uint64_t hung;            /* workers killed for a missed heartbeat */
  uint64_t retired;         /* workers replaced by rolling restarts */
  uint64_t handoffs;        /* rr: connections handed to workers */
  uint64_t handoff_skips;   /* rr: workers skipped (draining or full) */
  uint64_t cut;             /* workers killed at the drain deadline */
  uint64_t cut_connections; /* TCP connections they still held */
} sl_cluster_stats_t;

/* A worker's latest load report (it answers each heartbeat with one). */
#define SL_DURATION_BUCKETS 12
typedef struct sl_worker_load_s {
  uint64_t requests;     /* HTTP requests received since it started */
  uint64_t connections;  /* connections open now (HTTP and TCP
                                  servers) */
  uint64_t accepted;     /* connections accepted since it started */
  uint64_t rss_bytes;    /* resident set size */
  double loop_lag_ms;    /* the longest event-loop delay seen since the
                                  previous report */
  uint64_t at_ms;        /* sl_now_ms() in the primary when it came */
  uint64_t responses[5]; /* HTTP exchanges ended, by status class:
                                  [0] 1xx ... [4] 5xx (refused requests and
                                  cut responses included) */
  uint64_t bytes_sent;   /* response body bytes */
  uint64_t duration_buckets[SL_DURATION_BUCKETS]; /* exchanges whose time
                                  (head received to response done) was at
                                  most sl_load_bucket_le(i) s and more than
                                  the bound before (not cumulative) */
  uint64_t duration_over; /* longer than the last bound */
  double duration_sum_s;  /* their total time */
} sl_worker_load_t;
/* The upper bound in seconds of histogram bucket i (0.001 ... 10, as
 * Prometheus's defaults), or -1 outside 0..SL_DURATION_BUCKETS-1. */
SL_EXTERN double sl_load_bucket_le(int i);
/* This process's own figures (any process: a worker, the primary, or a
 * program with no cluster), as its load report would carry them; the
 * loop lag is not measured here (0). */
SL_EXTERN void sl_load_self(sl_worker_load_t* out);

/* 1 in the primary (SLUICE_WORKER_ID absent), 0 in a worker. In a worker
 * the first call (of this or sl_cluster_worker_id) opens the channel to the
 * primary (sl_parent()), sends the internal "online" message, removes
 * SLUICE_WORKER_ID from the environment (the worker's own children are not
 * workers) and arranges that the worker exit(0)s when the channel closes
 * (the primary disconnected or died: no orphan). */
SL_EXTERN int sl_cluster_is_primary(void);
/* The worker's id (1, 2, ... in fork order; replacements get new ids), 0 in
 * the primary. Same first-call effect as sl_cluster_is_primary(). */
SL_EXTERN int sl_cluster_worker_id(void);
/* Worker: tells the primary that a server sluice does not know (one of
 * the program's own) listens on `port` (the primary emits
 * SL_CLUSTER_LISTENING). Servers made by sl_http_listen or sl_tcp_listen
 * announce themselves. Returns 0, SL_EINVAL in the primary, or the
 * sl_channel_send() error. */
SL_EXTERN int sl_cluster_notify_listening(int port);

/* Worker: graceful shutdown, as Node's worker.disconnect(). On the first
 * SIGTERM or the primary's internal "shutdown" message (sl_cluster_shutdown,
 * a rolling restart), from the loop: cb(arg) runs if registered (this call;
 * it replaces an earlier one), to close what else keeps the loop alive;
 * then every server of the cluster listener (sl_http_listen, sl_tcp_listen
 * in this worker, not exclusive) that is still open is closed gracefully
 * (in-flight requests finish; the server pointer is invalid once closed);
 * then the channel to the primary is closed (without the exit(0) that a
 * closed channel otherwise causes). Later SIGTERMs are ignored and the
 * worker ends when sl_run() returns. A worker with neither a callback nor
 * such a server dies of SIGTERM. Worker listeners of sl_parent() also see
 * the internal message (a JSON object with a "sluice_cluster" key).
 * Returns 0, or SL_EINVAL in the primary or for a NULL cb. */
SL_EXTERN int sl_cluster_on_shutdown(sl_close_cb cb, void* arg);

/* Primary: sets the options (copied; `argv` and `entry` must stay valid).
 * Call before the first fork; returns 0, SL_EINVAL in a worker or for a
 * heartbeat_timeout_ms not longer than heartbeat_interval_ms, or SL_EBUSY
 * once workers exist. Without it the defaults apply. */
SL_EXTERN int sl_cluster_setup(const sl_cluster_opts_t* o);
/* Primary: listeners for worker events (all workers). Callbacks run from the
 * loop, never inside the call that caused them; per worker the order is
 * FORK, ONLINE, LISTENING..., DISCONNECT, EXIT, with MESSAGE between ONLINE
 * and DISCONNECT. Return 0 or SL_ENOMEM. */
SL_EXTERN int sl_cluster_on(sl_cluster_event_type_t type, sl_cluster_cb cb,
                            void* arg);
SL_EXTERN int sl_cluster_off(sl_cluster_event_type_t type, sl_cluster_cb cb,
                             void* arg);
/* Primary: forks one worker. `o` may be NULL. Returns 0 and the worker in
 * *out (may be NULL; owned by the cluster, valid until its EXIT event has
 * run), SL_EINVAL in a worker or during shutdown, or the sl_fork() error.
 * SL_CLUSTER_FORK follows from the loop. Stdio is inherited. */
SL_EXTERN int sl_cluster_fork(const sl_cluster_fork_opts_t* o,
                              sl_worker_t** out);
/* Primary: sl_cluster_setup(o) then forks the target number of workers.
 * Returns 0 or the first error (workers already forked keep running). */
SL_EXTERN int sl_cluster_start(const sl_cluster_opts_t* o);
/* Primary: the worker's id, its pid. */
SL_EXTERN int sl_worker_id(const sl_worker_t* w);
SL_EXTERN pid_t sl_worker_pid(const sl_worker_t* w);
/* Primary: attaches the program's own pointer to the worker (a
 * per-worker record, a counter, a connection to it). The cluster never
 * reads, frees or copies it; a replacement starts with NULL. */
SL_EXTERN void sl_worker_set_data(sl_worker_t* w, void* data);
/* Primary: what sl_worker_set_data() attached to the worker last, or NULL
 * (from its FORK event until its EXIT event has run, whoever set it). */
SL_EXTERN void* sl_worker_data(const sl_worker_t* w);
/* Primary: sends a user message (one JSON value) to the worker, which gets
 * it as SL_CHILD_MESSAGE on sl_parent(). Returns as sl_channel_send(). */
SL_EXTERN int sl_worker_send(sl_worker_t* w, const char* data, size_t len);
/* Primary: sends `sig` (0: SIGTERM) to the worker. The exit counts as a
 * death for the restart policy unless the cluster is shutting down.
 * Returns 0 or SL_ESRCH. */
SL_EXTERN int sl_worker_kill(sl_worker_t* w, int sig);
/* Primary: closes the channel to the worker, which then exits(0) (if it
 * called a cluster function). Not counted as a death: no replacement. */
SL_EXTERN void sl_worker_disconnect(sl_worker_t* w);
/* Primary: counters (zeros in a worker). */
SL_EXTERN void sl_cluster_stats(sl_cluster_stats_t* out);
/* Primary: the worker's latest load report in *out: 0, or SL_ENOENT before
 * its first report (or with no_heartbeat). */
SL_EXTERN int sl_worker_load(const sl_worker_t* w, sl_worker_load_t* out);
/* Primary: "starting" (forked), "online", "listening", "draining" (told to
 * stop: shutdown, rolling restart or disconnect), "dead" (exited, its EXIT
 * event is running). */
SL_EXTERN const char* sl_worker_state(const sl_worker_t* w);
/* Primary: the workers not yet exited, in fork order, into out[0..max);
 * returns how many there are (may exceed max). Pointers are valid until the
 * worker's EXIT event has run. */
SL_EXTERN size_t sl_cluster_workers(sl_worker_t** out, size_t max);
/* Primary: rolling restart. One worker at a time, for every worker alive
 * now: fork its replacement, wait until the replacement listens (LISTENING;
 * ONLINE for a worker that was not listening), then shut the old one down
 * as sl_cluster_shutdown() does for all (EXIT reason "restart") and wait
 * for its exit. The old worker keeps serving until its replacement
 * listens, so no connection is refused or reset. cb(err, arg) (may be
 * NULL) runs from the loop at the end: 0, or SL_ETIMEDOUT when a
 * replacement did not listen within restart_timeout_ms (it is killed, EXIT
 * reason "timeout", the old worker keeps running, the restart stops
 * there), SL_ECHILD when a replacement died before it listened (same),
 * or SL_ECANCELED when a shutdown began. 0 means every worker was
 * replaced, not that nothing was cut: an old worker killed at its drain
 * deadline (see shutdown_timeout_ms) counts in the stats' cut and
 * cut_connections; compare them before and after. An old worker that
 * dies while its replacement starts is not respawned: the replacement
 * takes its place. Old workers drain one after the other, so one that
 * keeps sending keeps the restart waiting.
 * Returns 0, SL_EBUSY when a restart or a shutdown is under way, SL_EINVAL
 * in a worker. SIGHUP calls it when handle_signals is set. */
SL_EXTERN int sl_cluster_restart(void (*cb)(int err, void* arg), void* arg);
/* Primary: stops replacing workers, cancels pending replacements, sends
 * the internal "shutdown" message to every worker (see
 * sl_cluster_on_shutdown), SIGTERM to those left after 1 s (or half the
 * timeout when it is shorter) and SIGKILL to those left after
 * shutdown_timeout_ms. Once every worker has exited (its EXIT events ran),
 * the cluster releases its handles and listeners (sl_cluster_on listeners
 * too: a cluster started again registers its own) and cb(arg) (may be
 * NULL) runs from the loop, so sl_run() returns when nothing else is
 * open.
 * Returns 0, or SL_EBUSY when a shutdown is under way (cb not kept). */
SL_EXTERN int sl_cluster_shutdown(sl_close_cb cb, void* arg);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_CLUSTER_H */
