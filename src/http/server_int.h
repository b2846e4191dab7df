/* Private to the server (server.c: connections over the stream layer's
 * listener, parsing;
 * server_res.c: the response stream). A connection owns its exchanges
 * (txn_t) in request order; each exchange holds a reference on its request
 * and response streams until it is retired, and the streams point back at
 * it (NULL once it is gone). */
#ifndef SL_HTTP_SERVER_INT_H
#define SL_HTTP_SERVER_INT_H

#include <inttypes.h>
#include <time.h>
#include <llhttp.h>

#include "http/http_int.h"
#include "stream/listen_int.h"

typedef struct conn_s conn_t;
typedef struct txn_s txn_t;
typedef struct res_s res_t;

typedef struct {
  sl__http_msg_t m;
  txn_t* t;
  uint64_t strs[]; /* header fields, url, path (req_new) */
} req_t;

struct sl_http_server_s {
  sl__listen_t* l;         /* NULL once it closed */
  uv_timer_t sweep;        /* body and send timeouts (conn_sweep) */
  sl_http_server_opts_t o; /* defaults applied */
  sl_http_handler handler;
  void* arg;
  int port;
  sl__queue_t conns;
  size_t nconns;
  void (*close_cb)(void* arg);
  void* close_arg;
  void (*on_free)(void* arg); /* a layer above that wrapped the server (the
                                 WebSocket server frees its state) */
  void* free_arg;
  sl__alog_t* alog;     /* with o.access_log */
  sl__cidr_t trust[32]; /* o.trusted_proxies, parsed */
  size_t ntrust;
  unsigned closing : 1, listener_closed : 1, freeing : 1;
};

enum { SL__TIMER_NONE = 0, SL__TIMER_HEADERS, SL__TIMER_IDLE };

struct txn_s {
  sl__queue_t node; /* conn_t.txns */
  conn_t* c;
  req_t* req;
  res_t* res;
  uint64_t start_ns;
  uint64_t begin_ns; /* when its head was parsed: the metrics' duration */
  int minor;
  char method[16];
  char url_log[256];
  char remote[64];
  char referer[256], ua[256]; /* combined and JSON logs only */
  struct timespec wall;       /* when the request came (same) */
  unsigned req_done : 1,      /* the request's last byte was parsed */
      res_done : 1,           /* the response's last byte went to the socket */
      keep_alive : 1, is_head : 1, expect_continue : 1, want_continue : 1,
      continue_sent : 1, dropped : 1, /* replaced by an error answer */
      dispatched : 1;                 /* its handler ran */
};

struct conn_s {
  sl__queue_t node; /* sl_http_server_t.conns */
  sl_http_server_t* srv;
  sl_stream_t* sock; /* a reference */
  llhttp_t p;
  sl__tick_t tick; /* conn_process() */
  uv_timer_t timer;
  int timer_mode;
  uint64_t deadline; /* loop time (ms) when timer_mode expires */
  sl__queue_t txns;  /* oldest first; the head one is answering */
  size_t ntxns;
  txn_t* parsing;  /* whose body is being parsed */
  txn_t* dispatch; /* head complete, handler not called yet */
  txn_t* spare;    /* a freed exchange kept for the next one */
  sl_chunk_t* in;  /* input not parsed yet (while paused) */
  size_t in_off;
  sl__http_lines_t lines; /* empty names, obs-fold */
  sl__http_hdrs_t hdrs;   /* of the request being parsed */
  sl_buf_t url;           /* the request target as it arrives */
  size_t hdr_bytes;
  uint64_t body_bytes;
  int user_status;       /* the status an HPE_USER error stands for */
  sl__http_ext_t ext;    /* several chunk extensions */
  int err_status;        /* an error answer waiting for its turn */
  int refs;              /* calls on the stack that use the conn */
  const char* abort_why; /* a static reason for cutting it short */
  uint64_t head_ns;      /* when the request being parsed began (logs) */
  /* Progress seen by the last sweeps: body bytes received, bytes sent
   * and the socket's unacknowledged bytes, and since when each stood. */
  uint64_t sw_body, sw_sent, body_since, send_since;
  int sw_outq;
  char remote[64];
  unsigned paused : 1, /* llhttp returned HPE_PAUSED */
      body_wait : 1,   /* ... because the body buffer is full */
      pipe_wait : 1,   /* ... because max_pipelined are in flight */
      stop : 1,        /* parse nothing more */
      mid_message : 1, sock_paused : 1, peer_ended : 1,
      closing : 1, /* the server is closing gracefully */
      late : 1,    /* came after close began: gets one answer */
      tcp : 1,     /* sock is a libuv TCP stream (sl__uvs_t) */
      ending : 1, destroyed : 1, timer_closed : 1, abort : 1,
      line_done : 1, /* the request line parsed (for the log) */
      upgrading : 1; /* an upgrade for srv->o.on_upgrade is being parsed */
};

struct res_s {
  sl_stream_t s;
  txn_t* t;
  conn_t* c; /* valid while t != NULL */
  int status;
  char** hdrs; /* "Name: value" lines, in order */
  size_t nhdrs;
  char** trailers;
  size_t ntrailers;
  int64_t content_length; /* -1: not set */
  uint64_t body_bytes;
  sl__parked_t parked; /* a write waiting for its turn */
  unsigned head_sent : 1, chunked : 1, no_body : 1, active : 1, wait_drain : 1,
      parked_final : 1, zc_wait : 1, user_close : 1, user_chunked : 1,
      crlf_due : 1, has_date : 1, has_conn : 1;
};

txn_t* sl__http_txn_new(conn_t* c);
/* Lets go of both streams of `t` (they no longer point at it). */
void sl__http_txn_unlink(txn_t* t);
void sl__http_conn_fail(conn_t* c, int status);
void sl__http_conn_timer(conn_t* c, int mode);

/* The reason phrase for `status` ("Not Found"; "Unknown" for codes
 * without one): the one table, for responses and error answers. */
res_t* sl__http_res_new(conn_t* c, txn_t* t);
/* The exchange reached the head of the queue: send what waited. Also sends
 * 100 Continue when the handler started reading an Expect request. */
void sl__http_res_activate(res_t* r);
/* The socket drained: completes a response write waiting for it. */
void sl__http_res_sock_drained(conn_t* c);

#endif
