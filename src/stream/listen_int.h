/* The listening side of every TCP server (sl_tcp_listen, sl_http_listen):
 * listen.c binds, accepts, holds back at a server's connection limit,
 * drains the accept queue on close, and keeps this process's load
 * counters. A layer above may take over the opening of listeners through
 * a hook table, NULL by default: the cluster installs one in a worker, so
 * that a listen asks the primary (nginx's ngx_listening_t, which serves
 * http, mail and stream alike, is the model). The servers see only this
 * header; the cluster's side of it is in cluster/worker_net.c. */
#ifndef SL_STREAM_LISTEN_INT_H
#define SL_STREAM_LISTEN_INT_H

#include "stream/stream_int.h"

typedef struct sl__listen_s sl__listen_t;

/* A connection for the server: an open libuv TCP handle (allocated; the
 * callee owns it and frees it with uv_close and sl__free). Runs from the
 * loop, never inside the call that made the listener. */
typedef void (*sl__accept_cb)(void* arg, uv_tcp_t* h);

typedef struct {
  const char* host; /* numeric, "localhost" or NULL (127.0.0.1) */
  int port;
  int backlog;     /* 0: 511 */
  int reuseport;   /* SO_REUSEPORT on a socket of our own */
  int exclusive;   /* never through the hooks: a socket of our own */
  int bounce_late; /* handoffs that come after close began are given
                        back to whoever handed them (another worker takes
                        them) rather than to on_conn */
  sl__accept_cb on_conn;
  /* Nonzero when the server takes no more connections now: the next one
   * stays in the kernel's queue until sl__listen_resume. NULL: never. */
  int (*full)(void* arg);
  /* Asks the server to close gracefully (sl__listen_shutdown). */
  void (*close_server)(void* arg);
  void* arg;
} sl__listen_opts_t;

/* Returned by the open hook: no socket here, connections come through
 * sl__listen_adopt_fd (the cluster's rr). */
#define SL__LISTEN_HANDOFF (-100000)
/* Returned by the open hook: not mine, bind a socket of our own. */
#define SL__LISTEN_LOCAL (-100001)

/* What a layer above provides to take listeners over. */
typedef struct {
  /* Opens `l`'s listening side on host:port (host numeric, never NULL).
   * Returns a listening descriptor (non-blocking, close-on-exec; the
   * listener owns it), SL__LISTEN_HANDOFF, SL__LISTEN_LOCAL or a negative
   * code. On success *member is the hook's state for `l` (may be NULL)
   * and *port_out the bound port. */
  int (*open)(sl__listen_t* l, const char* host, int port, int backlog,
              void** member, int* port_out);
  /* `l` closes: leave. cb(arg) runs from the loop once no handoff for
   * `l` can come any more (sl__listen_adopt_fd is not called after it);
   * late ones go back when `bounce_late`, else to sl__listen_adopt_fd. */
  void (*close)(void* member, int bounce_late, void (*cb)(void* arg),
                void* arg);
} sl__listen_hooks_t;

/* Installs `h` (NULL: none) for listeners opened from now on. */
void sl__listen_set_hooks(const sl__listen_hooks_t* h);

/* Opens a listener with `o` (copied). Returns 0 and *out, or a negative
 * code (the bind error; SL_ETIMEDOUT from a primary that did not answer),
 * in which case on_conn never runs. */
int sl__listen_open(const sl__listen_opts_t* o, sl__listen_t** out);
/* The port it is bound to (the one asked for, or the kernel's pick). */
int sl__listen_port(const sl__listen_t* l);
/* The server has room again: takes the connection held back by `full`. */
void sl__listen_resume(sl__listen_t* l);
/* Closes `l`: the connections waiting in its accept queue (the kernel
 * accepted them; close() would reset them) go to on_conn from the loop,
 * the hooks are left, then cb(arg) runs and `l` is freed. */
void sl__listen_close(sl__listen_t* l, void (*cb)(void* arg), void* arg);
/* For the hooks: a connection handed to `l` (the callee owns `fd`). */
void sl__listen_adopt_fd(sl__listen_t* l, int fd);
/* For the hooks: asks `l`'s server to close (a worker's shutdown). */
void sl__listen_shutdown(sl__listen_t* l);

/* This process's load figures, kept by the servers and read by the
 * cluster (load reports, sl_load_self). */
typedef struct sl__load_s {
  uint64_t requests;
  uint64_t connections;
  uint64_t accepted;
  uint64_t responses[5]; /* by status class, 1xx to 5xx */
  uint64_t bytes_sent;
  uint64_t duration_buckets[SL_DURATION_BUCKETS]; /* not cumulative */
  uint64_t duration_over;                         /* past the last bound */
  uint64_t duration_sum_ns;
} sl__load_t;
extern sl__load_t sl__load;
/* The histogram's upper bounds, in seconds. */
extern const double sl__load_bucket_le[SL_DURATION_BUCKETS];
/* One finished (or refused, or cut) exchange: its status, body bytes and
 * the nanoseconds since its head arrived. */
void sl__load_observe(int status, uint64_t bytes, uint64_t ns);

#endif
