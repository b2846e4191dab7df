/* The HTTP/1.1 client's private types, shared by its two files: client.c
 * (the exchange: a request, its response and the connection that carries
 * them, and the parser) and agent.c (agents, their per-host:port pools and
 * the idle sockets of every agent). An agent owns pools; a pool owns its
 * connections and queues the exchanges waiting for one; a connection
 * carries at most one exchange at a time. */
#ifndef SL_HTTP_CLIENT_INT_H
#define SL_HTTP_CLIENT_INT_H

#include "http/http_int.h"

#include <llhttp.h>

#define SL__CLIENT_IDLE_MS 4000 /* an idle socket older than this closes */

enum { FRAME_NONE = 0, FRAME_LENGTH, FRAME_CHUNKED };

typedef struct pool_s pool_t;
typedef struct conn_s conn_t;
typedef struct xchg_s xchg_t;

struct sl_http_agent_s {
  sl__queue_t pools;
  size_t max_sockets;
  int closing; /* sl_http_agent_close(): freed once its pools are gone */
};

/* The sockets to one host:port. Freed when it has none and no waiter. */
struct pool_s {
  sl__queue_t node; /* agent->pools */
  sl_http_agent_t* agent;
  char* host;
  int port;
  sl__queue_t conns;   /* conn_t.node: busy and idle */
  sl__queue_t waiting; /* xchg_t.node: requests waiting for a socket */
  size_t nconns;
  int in_next; /* inside pool_next(): no re-entry, no free */
};

struct conn_s {
  sl__queue_t node;  /* pool->conns */
  sl__queue_t inode; /* idles.list while idle */
  pool_t* pool;
  sl_stream_t* sock; /* a reference */
  llhttp_t p;
  sl__http_hdrs_t hdrs;
  sl__http_lines_t lines; /* the server's rules: no empty name, no fold */
  sl__http_ext_t ext;     /* several chunk extensions */
  xchg_t* x;              /* the exchange it carries, NULL while idle */
  sl_chunk_t* in;         /* input not yet parsed (the parser paused) */
  size_t in_off;
  sl__tick_t tick; /* feeds the parser again after a pause */
  uint64_t idle_since;
  int busy; /* inside conn_feed(): free later */
  int err;  /* the socket's error and its context */
  char* errctx;
  unsigned idle : 1, destroyed : 1, paused : 1, body_wait : 1, msg_done : 1,
      keep : 1, peer_ended : 1, sock_paused : 1, reused : 1, got_bytes : 1,
      broken : 1, interim : 1, kick : 1;
};

typedef struct creq_s creq_t;
typedef struct cres_s cres_t;

struct xchg_s {
  sl__queue_t node; /* pool->waiting while waiting */
  pool_t* pool;
  conn_t* c;
  creq_t* req; /* NULL once its stream is destroyed */
  cres_t* res; /* NULL until the head arrives, and once destroyed */
  sl_http_response_cb cb;
  void* arg;
  char* head;          /* request line and headers, without the blank line */
  char* peer;          /* "host:port" for messages */
  sl__parked_t parked; /* a body write waiting for a socket */
  sl__tick_t tick;
  uv_timer_t* timer;
  uint64_t timeout_ms, last_active;
  size_t hwm;
  int refs; /* active + req + res + timer */
  int framing;
  int err;
  char* errctx;
  int inflight; /* socket writes not yet completed */
  unsigned waiting : 1, head_sent : 1, want_final : 1, write_wait : 1,
      final_sent : 1, req_done : 1, res_done : 1, cb_called : 1, failed : 1,
      delivered : 1, done : 1, user_len : 1, user_chunked : 1, is_head : 1,
      bodyless : 1, close : 1, body_sent : 1, retried : 1, drained : 1;
};

/* agent.c */

/* The default agent, made on first use; NULL without memory. */
sl_http_agent_t* sl__agent_default(void);
/* The pool of `a` for host:port, made if there is none; NULL without memory. */
pool_t* sl__pool_get(sl_http_agent_t* a, const char* host, int port);
/* Hands sockets to the exchanges waiting in `p` while it can (reusing idle
 * ones, connecting new ones up to the agent's max_sockets), then frees `p`
 * if nothing is left in it. Safe to call from inside itself. */
void sl__pool_next(pool_t* p);
/* Frees `p` (and a closing agent with it) once it has no socket and no
 * waiter. */
void sl__pool_maybe_free(pool_t* p);
/* Puts `c` on the idle list (the loop may then close it, see agent.c);
 * sl__idle_remove takes it off, and does nothing if it is not there. */
void sl__idle_add(conn_t* c);
void sl__idle_remove(conn_t* c);

/* client.c, called by the pools */

/* A new connection in pool `p` (connecting), or NULL. */
conn_t* sl__client_conn_new(pool_t* p);
/* Gives connection `c` the exchange `x`. */
void sl__client_conn_assign(conn_t* c, xchg_t* x);
/* Closes `c` and leaves its pool, which may then hand out another. */
void sl__client_conn_destroy(conn_t* c);
/* Fails exchange `x` with `err`; the callback hears of it from a tick. */
void sl__client_fail(xchg_t* x, int err, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
