/* The WebSocket stream: a Duplex in message mode over a socket stream, for
 * both roles (a client masks what it sends and takes only unmasked frames;
 * a server the reverse).
 *
 * Reading: the socket's bytes collect in `in` and whole frames are parsed
 * from it (a frame is at most max_frame, so `in` is bounded). Data frames
 * build a message in `msg` (or, with opts.fragments, go out one chunk per
 * frame); a complete message is pushed as one chunk tagged SL_WS_TEXT or
 * SL_WS_BINARY. A push at the high-water mark pauses the socket until the
 * read hook runs. Control frames are handled as they come, also between
 * the fragments of a message.
 *
 * Writing: the writev hook frames each chunk and writes it to the socket;
 * it completes at once while the socket is below its mark and otherwise on
 * the socket's drain, so the stream's writable length plus the socket's is
 * what waits for the peer (sl_ws_buffered_amount). Pings, pongs and close
 * frames go straight to the socket, between whole frames, and never wait
 * behind the stream's queue.
 *
 * Closing: end() (or sl_ws_close) sends the close frame after what was
 * written; a close frame from the peer ends the readable side and, if we
 * had not sent ours, ends the writable side so that ours follows. With
 * both sent the server ends TCP at once, the client when the server did or
 * at close_timeout_ms. A protocol failure sends its close code, stops
 * reading and ends TCP; the stream fails with the reason once the socket
 * is gone. One timer per connection serves the close timeout and the
 * keep-alive pings. */
#include <sys/random.h>

#include "ws/ws_int.h"

enum { TIMER_OFF = 0, TIMER_PING, TIMER_CLOSE };

typedef struct ws_s {
  sl_stream_t s;
  sl_stream_t* sock; /* a reference; NULL until a client's handshake ends */
  sl_stream_t* req;  /* server: the upgrade request (a reference) */
  int client;
  size_t max_message, max_frame, send_cap;
  int policy, text_default, fragments;
  uint64_t ping_ms, pong_ms, close_ms;
  char* protocol;   /* NULL: none; these strings live until the stream's */
  char* extensions; /* memory is freed (ws_on_free): read after close */
  sl__ws_pmd_t pmd;
  sl__ws_zctx_t* z; /* with permessage-deflate: [0] inflate, [1] deflate */
  /* reading */
  sl_buf_t in;
  sl_buf_t msg; /* the message being assembled (or inflated) */
  int msg_op;   /* its opcode, 0 when none is in progress */
  int msg_deflated;
  uint64_t msg_len; /* payload bytes of it so far */
  sl__utf8_t utf8;
  /* writing */
  sl_buf_t out;        /* deflate output */
  sl__parked_t parked; /* a client's writes before the 101 */
  int out_cont;        /* the next data frame continues a message */
  int out_text;        /* ... of this kind */
  /* closing */
  int close_code; /* the peer's (1005: none given) */
  char* close_reason;
  int send_code; /* what our close frame says */
  char* send_reason;
  int fail_err; /* the failure to report once closed */
  char* fail_msg;
  uv_timer_t* timer;
  int timer_mode;
  uint64_t last_rx, ping_sent;
  uint64_t dropped, pongs;
  /* Told when the stream is destroyed: a client's handshake in progress
   * (cancelled), a server's connection count (sl__ws_set_owner). */
  void* owner;
  void (*owner_gone)(void* owner);
  unsigned close_sent : 1, close_rcvd : 1, failed : 1, rpaused : 1,
      sock_paused : 1, wait_drain : 1, sock_ended : 1, sock_gone : 1,
      ping_out : 1, in_parse : 1;
} ws_t;

static const sl_stream_hooks_t ws_hooks;
static void ws_parse(ws_t* w);
static void sock_listen(ws_t* w, int on);

static ws_t* ws_of(const sl_stream_t* s) {
  SL_ASSERT(sl_is_ws(s));
  return (ws_t*)s;
}

int sl_is_ws(const sl_stream_t* s) {
  return s != NULL && s->hooks == &ws_hooks;
}

/* --- masks ---------------------------------------------------------------- */

/* Masks must be unpredictable to the page's script (RFC 6455 10.3): a
 * xorshift generator seeded from getrandom(2), reseeded now and then. */
static void mask_key(unsigned char out[4]) {
  static uint64_t st[2];
  static unsigned uses;
  if (uses++ % 65536 == 0 || (st[0] | st[1]) == 0) {
    if (getrandom(st, sizeof st, 0) != sizeof st) {
      st[0] = sl_hrtime() | 1;
      st[1] = (uint64_t)(uintptr_t)&uses * 0x9E3779B97F4A7C15ull;
    }
  }
  uint64_t x = st[0], y = st[1];
  st[0] = y;
  x ^= x << 23;
  st[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
  uint32_t v = (uint32_t)((st[1] + y) >> 16);
  memcpy(out, &v, 4);
}

/* --- sending frames ------------------------------------------------------- */

/* Writes one frame to the socket: header and payload in one chunk (masked
 * on a client), or for a large unmasked payload the header and a slice of
 * `src` (no copy). Returns the socket write's result. */
static int send_frame(ws_t* w, int fin, int rsv1, int op, const void* data,
                      size_t len, sl_chunk_t* src) {
  if (w->sock == NULL || w->sock_gone) return SL_EDESTROYED;
  unsigned char hdr[14], key[4];
  if (w->client) mask_key(key);
  size_t hl =
      sl__ws_frame_header(hdr, fin, rsv1, op, len, w->client ? key : NULL);
  if (!w->client && src != NULL && len > 4096) {
    sl_chunk_t* h = sl_chunk_copy(hdr, hl);
    sl_chunk_t* p = sl_chunk_slice(src, 0, len);
    int rc = h != NULL && p != NULL ? sl_stream_write(w->sock, h, NULL, NULL)
                                    : SL_ENOMEM;
    if (rc >= 0) rc = sl_stream_write(w->sock, p, NULL, NULL);
    sl_chunk_unref(h);
    sl_chunk_unref(p);
    return rc;
  }
  sl_chunk_t* c = sl_chunk_new(hl + len);
  if (c == NULL) return SL_ENOMEM;
  unsigned char* d = (unsigned char*)sl_chunk_data(c);
  memcpy(d, hdr, hl);
  if (len != 0) memcpy(d + hl, data, len);
  if (w->client) sl__ws_mask(d + hl, len, key, 0);
  int rc = sl_stream_write(w->sock, c, NULL, NULL);
  sl_chunk_unref(c);
  return rc;
}

static void send_close(ws_t* w, int code, const char* reason) {
  if (w->close_sent) return;
  w->close_sent = 1;
  unsigned char p[125];
  size_t n = 0;
  if (code != 0 && code != 1005) {
    p[0] = (unsigned char)(code >> 8);
    p[1] = (unsigned char)code;
    n = 2;
    size_t rl = reason != NULL ? strlen(reason) : 0;
    if (rl > 123) rl = 123;
    if (rl > 0) memcpy(p + 2, reason, rl);
    n += rl;
  }
  send_frame(w, 1, 0, SL__WS_OP_CLOSE, p, n, NULL);
}

/* --- the timer ------------------------------------------------------------ */

static void on_timer(uv_timer_t* t);

static void timer_set(ws_t* w, int mode, uint64_t ms) {
  if (w->timer == NULL) {
    w->timer = sl__malloc(sizeof *w->timer);
    if (w->timer == NULL) return;
    uv_timer_init(sl__loop(), w->timer);
    w->timer->data = w;
    uv_unref((uv_handle_t*)w->timer); /* the socket keeps the loop alive */
  }
  w->timer_mode = mode;
  uv_timer_start(w->timer, on_timer, ms, mode == TIMER_PING ? ms : 0);
  if (mode == TIMER_PING && w->pong_ms < ms)
    uv_timer_start(w->timer, on_timer, w->pong_ms, w->pong_ms);
}

static void timer_closed(uv_handle_t* h) { sl__free(h); }

static void timer_free(ws_t* w) {
  if (w->timer == NULL) return;
  w->timer->data = NULL;
  uv_close((uv_handle_t*)w->timer, timer_closed);
  w->timer = NULL;
}

/* Ends TCP after what is queued (our close frame) and gives the peer
 * close_timeout_ms to go before the socket is cut. */
static void sock_finish(ws_t* w) {
  if (w->sock == NULL || w->sock_ended) return;
  w->sock_ended = 1;
  sl_stream_end(w->sock, NULL, NULL, NULL);
  timer_set(w, TIMER_CLOSE, w->close_ms);
}

/* The socket is gone: the stream ends with what happened. */
static void ws_gone(ws_t* w, int err, const char* why) {
  if (w->sock_gone) return;
  w->sock_gone = 1;
  if (w->s.destroyed) return;
  /* Everything that ends a connection here comes from the peer (it left,
   * broke the protocol, stopped reading or answering): listeners hear of
   * it; without one it is not reported, as a server expects of clients. */
  w->s.errors_owned = 1;
  if (w->failed) {
    sl__stream_fail_msg(&w->s, w->fail_err, w->fail_msg);
    w->fail_msg = NULL;
  } else if (!w->close_rcvd) {
    if (w->close_code == 0) w->close_code = 1006;
    if (err == 0) err = SL_ECONNRESET;
    sl_stream_fail(&w->s, err, "WebSocket %s: %s (close code 1006)",
                   sl_stream_name(&w->s), why);
  } else if (!w->s.r.ended) {
    sl_stream_push(&w->s, NULL);
  }
}

/* Fails the connection (RFC 6455 7.1.7): sends `code`, reads nothing more,
 * ends TCP; the stream fails with `err` once the socket closed. */
static void ws_fail(ws_t* w, int code, int err, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void ws_fail(ws_t* w, int code, int err, const char* fmt, ...) {
  if (w->failed) return;
  w->failed = 1;
  w->fail_err = err;
  char why[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  w->fail_msg = sl__asprintf("WebSocket %s: %s (close code %d)",
                             sl_stream_name(&w->s), why, code);
  if (w->close_code == 0) w->close_code = 1006; /* no close frame came */
  sl_buf_free(&w->in);
  send_close(w, code, why);
  sock_finish(w);
}

static void on_timer(uv_timer_t* t) {
  ws_t* w = t->data;
  if (w == NULL) return;
  uint64_t now = uv_now(sl__loop());
  if (w->timer_mode == TIMER_CLOSE) {
    if (w->close_rcvd && !w->close_sent && !w->failed) {
      send_close(w, w->send_code, NULL); /* the reader is not reading */
      sock_finish(w);
      return;
    }
    if (w->sock != NULL && !w->sock->destroyed) {
      if (!w->close_rcvd && !w->failed) {
        w->failed = 1;
        w->fail_err = SL_ETIMEDOUT;
        w->fail_msg = sl__asprintf(
            "WebSocket %s: no close frame from the peer within %llu ms "
            "(close code 1006)",
            sl_stream_name(&w->s), (unsigned long long)w->close_ms);
      }
      sl_stream_destroy(w->sock, 0);
    }
    return;
  }
  if (w->close_sent || w->failed) return;
  if (w->ping_out && now - w->ping_sent >= w->pong_ms) {
    w->close_code = 1006;
    w->failed = 1;
    w->fail_err = SL_ETIMEDOUT;
    w->fail_msg = sl__asprintf(
        "WebSocket %s: no answer to a ping within %llu ms (close code 1006)",
        sl_stream_name(&w->s), (unsigned long long)w->pong_ms);
    sl_stream_destroy(w->sock, 0);
    return;
  }
  if (!w->ping_out && now - w->last_rx >= w->ping_ms) {
    w->ping_out = 1;
    w->ping_sent = now;
    send_frame(w, 1, 0, SL__WS_OP_PING, NULL, 0, NULL);
  }
}

/* --- reading frames ------------------------------------------------------- */

static int push_message(ws_t* w, sl_chunk_t* c, int more) {
  sl_chunk_set_tag(c,
                   (w->msg_op == SL__WS_OP_TEXT ? SL_WS_TEXT : SL_WS_BINARY) |
                       (more ? SL_WS_MORE : 0));
  int rc = sl_stream_push(&w->s, c);
  sl_chunk_unref(c);
  if (rc == 0) w->rpaused = 1;
  return rc;
}

/* Checks plain text bytes as they come: 0, or -1 after failing. */
static int check_text(ws_t* w, const void* p, size_t n, int fin) {
  if (w->msg_op != SL__WS_OP_TEXT) return 0;
  if (sl__utf8_feed(&w->utf8, p, n) == 0 &&
      (!fin || sl__utf8_complete(&w->utf8)))
    return 0;
  ws_fail(w, 1007, SL_EPROTO, "invalid UTF-8 in a text message");
  return -1;
}

/* Delivers the plain bytes of a data frame: one chunk per frame with
 * opts.fragments, else one per message (a single-frame message is copied
 * once; a fragmented one grows in `msg`, which becomes the chunk). */
static void deliver(ws_t* w, const unsigned char* p, size_t n, int fin) {
  if (w->fragments) {
    if (n == 0 && !fin) return;
    sl_chunk_t* c = sl_chunk_copy(p, n);
    if (c == NULL) {
      ws_fail(w, 1011, SL_ENOMEM, "out of memory");
      return;
    }
    push_message(w, c, !fin);
  } else if (fin && w->msg.len == 0) {
    sl_chunk_t* c = sl_chunk_copy(p, n);
    if (c == NULL) {
      ws_fail(w, 1011, SL_ENOMEM, "out of memory");
      return;
    }
    push_message(w, c, 0);
  } else {
    if (sl_buf_append(&w->msg, p, n) != 0) {
      ws_fail(w, 1011, SL_ENOMEM, "out of memory");
      return;
    }
    if (fin) {
      sl_chunk_t* c = sl_buf_chunk(&w->msg); /* takes the memory */
      if (c == NULL) {
        ws_fail(w, 1011, SL_ENOMEM, "out of memory");
        return;
      }
      push_message(w, c, 0);
    }
  }
  if (fin) {
    w->msg_op = 0;
    w->msg_len = 0;
  }
}

static void on_close_frame(ws_t* w, const unsigned char* p, size_t n) {
  if (n == 1) {
    ws_fail(w, 1002, SL_EPROTO, "a close frame with a 1-byte payload");
    return;
  }
  int code = 1005;
  if (n >= 2) {
    code = p[0] << 8 | p[1];
    if (!sl__ws_close_code_ok(code)) {
      ws_fail(w, 1002, SL_EPROTO, "close code %d is not allowed", code);
      return;
    }
    sl__utf8_t u = {0};
    if (sl__utf8_feed(&u, p + 2, n - 2) != 0 || !sl__utf8_complete(&u)) {
      ws_fail(w, 1007, SL_EPROTO, "invalid UTF-8 in a close reason");
      return;
    }
    sl__free(w->close_reason);
    w->close_reason = sl__strndup((const char*)p + 2, n - 2);
  }
  w->close_code = code;
  w->close_rcvd = 1;
  sl_buf_free(&w->in);
  if (!w->s.r.ended) sl_stream_push(&w->s, NULL);
  if (!w->close_sent) {
    /* Ours follows the answers to the messages before the close: the
     * writable side ends once the reader has had them (on_own_end), or at
     * the close timeout if it does not read. */
    w->send_code = code;
    sl__free(w->send_reason);
    w->send_reason = NULL;
    timer_set(w, TIMER_CLOSE, w->close_ms);
  } else if (!w->client) {
    sock_finish(w);
  } else {
    timer_set(w, TIMER_CLOSE, w->close_ms); /* the server ends TCP */
  }
}

/* One whole frame: header fields checked, payload unmasked. */
static void on_frame(ws_t* w, int fin, int rsv1, int op, unsigned char* p,
                     size_t n) {
  switch (op) {
    case SL__WS_OP_PING:
      if (!w->close_sent) send_frame(w, 1, 0, SL__WS_OP_PONG, p, n, NULL);
      return;
    case SL__WS_OP_PONG:
      w->pongs++;
      return;
    case SL__WS_OP_CLOSE:
      on_close_frame(w, p, n);
      return;
    default:
      break;
  }
  if (op != SL__WS_OP_CONT) {
    if (w->msg_op != 0) {
      ws_fail(w, 1002, SL_EPROTO, "a new message inside a fragmented one");
      return;
    }
    w->msg_op = op;
    w->msg_deflated = rsv1;
    w->utf8 = (sl__utf8_t){0};
  } else if (w->msg_op == 0) {
    ws_fail(w, 1002, SL_EPROTO, "a continuation frame with no message");
    return;
  } else if (rsv1) {
    ws_fail(w, 1002, SL_EPROTO, "RSV1 set on a continuation frame");
    return;
  }
  w->msg_len += n;
  if (!w->msg_deflated) {
    if (w->msg_len > w->max_message) {
      ws_fail(w, 1009, SL_EMSGSIZE, "a message over max_message (%zu bytes)",
              w->max_message);
      return;
    }
    if (check_text(w, p, n, fin) == 0) deliver(w, p, n, fin);
    return;
  }
  /* Inflated into `out` (fragments) or `msg` (whole messages). */
  sl_buf_t* dst = w->fragments ? &w->out : &w->msg;
  if (w->fragments) sl_buf_reset(&w->out);
  size_t before = dst->len;
  int rc = sl__ws_inflate(&w->z[0], p, n, fin, w->max_message, dst);
  if (rc == SL_EMSGSIZE) {
    ws_fail(w, 1009, SL_EMSGSIZE,
            "a message over max_message (%zu bytes) once inflated",
            w->max_message);
    return;
  }
  if (rc != 0) {
    ws_fail(w, rc == SL_ENOMEM ? 1011 : 1007, rc,
            "a compressed message that does not inflate");
    return;
  }
  const char* added = dst->data != NULL ? dst->data + before : "";
  if (check_text(w, added, dst->len - before, fin) != 0) return;
  if (w->fragments)
    deliver(w, (unsigned char*)w->out.data, w->out.len, fin);
  else if (fin)
    deliver(w, NULL, 0, 1); /* the whole message is in `msg` */
}

/* Parses the whole frames in `in`. Returns when more bytes are needed, the
 * reader is above its mark, or the connection failed or closed. */
static void ws_parse(ws_t* w) {
  if (w->in_parse) return;
  w->in_parse = 1;
  size_t pos = 0;
  while (!w->rpaused && !w->failed && !w->close_rcvd && !w->s.destroyed) {
    size_t have = w->in.len - pos;
    if (have < 2) break; /* (in.data may be NULL: no arithmetic on it) */
    const unsigned char* b = (const unsigned char*)w->in.data + pos;
    int fin = b[0] >> 7 & 1, rsv1 = b[0] >> 6 & 1;
    int rsv23 = b[0] & 0x30, op = b[0] & 0x0F;
    int masked = b[1] >> 7;
    uint64_t len = b[1] & 0x7F;
    size_t hl = 2;
    if (len == 126) {
      if (have < 4) break;
      len = (uint64_t)b[2] << 8 | b[3];
      hl = 4;
    } else if (len == 127) {
      if (have < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | b[2 + i];
      hl = 10;
      if (len >> 63) {
        ws_fail(w, 1002, SL_EPROTO, "a 64-bit length with its top bit set");
        break;
      }
    }
    if (masked) hl += 4;
    if (rsv23 || (rsv1 && !w->pmd.on)) {
      ws_fail(w, 1002, SL_EPROTO, "reserved bits set (RSV%s)",
              rsv1 && !w->pmd.on ? "1"
              : rsv23 & 0x20     ? "2"
                                 : "3");
      break;
    }
    if ((op > 2 && op < 8) || op > 10) {
      ws_fail(w, 1002, SL_EPROTO, "reserved opcode 0x%X", op);
      break;
    }
    if (op >= 8 && (!fin || len > 125)) {
      ws_fail(w, 1002, SL_EPROTO, "%s",
              !fin ? "a fragmented control frame"
                   : "a control frame over 125 bytes");
      break;
    }
    if (op >= 8 && rsv1) {
      ws_fail(w, 1002, SL_EPROTO, "RSV1 set on a control frame");
      break;
    }
    if (masked == w->client) {
      ws_fail(w, 1002, SL_EPROTO, "%s",
              w->client ? "a masked frame from the server"
                        : "an unmasked frame from the client");
      break;
    }
    if (len > w->max_frame) {
      ws_fail(w, 1009, SL_EMSGSIZE, "a frame over max_frame (%zu bytes)",
              w->max_frame);
      break;
    }
    if (have - hl < len || have < hl) break;
    unsigned char* payload = (unsigned char*)w->in.data + pos + hl;
    if (masked) sl__ws_mask(payload, (size_t)len, b + hl - 4, 0);
    pos += hl + (size_t)len;
    w->last_rx = uv_now(sl__loop());
    w->ping_out = 0;
    on_frame(w, fin, rsv1, op, payload, (size_t)len);
  }
  if (w->in.data != NULL && pos > 0 && pos <= w->in.len)
    sl_buf_consume(&w->in, pos);
  /* An idle connection holds no input buffer (the next read allocates one
   * again: one malloc per read, against a connection's memory at rest). */
  if (w->in.len == 0) sl_buf_free(&w->in);
  w->in_parse = 0;
  if (w->sock != NULL && !w->sock_gone) {
    /* After a failure or the peer's close the socket goes on reading, to
     * see its end: what comes is dropped (on_sock_data). */
    int stop = w->rpaused && !w->failed && !w->close_rcvd;
    if (stop && !w->sock_paused) {
      w->sock_paused = 1;
      sl_stream_pause(w->sock);
    } else if (!stop && w->sock_paused) {
      w->sock_paused = 0;
      sl_stream_resume(w->sock);
    }
  }
}

/* --- socket events ------------------------------------------------------- */

static void on_sock_data(ws_t* w, sl_chunk_t* c) {
  if (w->failed || w->close_rcvd) return;
  if (sl_buf_append(&w->in, sl_chunk_data(c), sl_chunk_len(c)) != 0) {
    ws_fail(w, 1011, SL_ENOMEM, "out of memory");
    return;
  }
  ws_parse(w);
}

static void finish_pending_write(ws_t* w, int err) {
  if (!w->wait_drain) return;
  w->wait_drain = 0;
  sl_stream_write_done(&w->s, err);
}

static void on_sock_event(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  ws_t* w = arg;
  switch (ev->type) {
    case SL_EV_DATA:
      on_sock_data(w, ev->chunk);
      break;
    case SL_EV_DRAIN:
      finish_pending_write(w, 0);
      break;
    case SL_EV_END:
      if (!w->close_rcvd && !w->failed)
        ws_gone(w, 0, "the connection closed without a close frame");
      else if (w->client && w->close_sent)
        sl_stream_destroy(w->sock, 0);
      break;
    case SL_EV_ERROR:
      ws_gone(w, ev->err, ev->message ? ev->message : sl_strerror(ev->err));
      break;
    case SL_EV_CLOSE:
      /* Writes the peer will never read: gone with it. */
      finish_pending_write(w, w->close_rcvd || w->failed ? 0 : SL_ECONNRESET);
      ws_gone(w, 0, "the connection closed without a close frame");
      sock_listen(w, 0);
      break;
    default:
      break;
  }
}

/* One listener record for every socket event the WebSocket hears. */
#define SOCK_EVENTS                                                           \
  (SL__EV_BIT(SL_EV_DATA) | SL__EV_BIT(SL_EV_DRAIN) | SL__EV_BIT(SL_EV_END) | \
   SL__EV_BIT(SL_EV_ERROR) | SL__EV_BIT(SL_EV_CLOSE))

static void sock_listen(ws_t* w, int on) {
  if (on)
    sl__stream_listen(w->sock, SOCK_EVENTS, on_sock_event, w);
  else
    sl__stream_unlisten(w->sock, SOCK_EVENTS, on_sock_event, w);
}

/* The reader had every message before the peer's close: ours goes out
 * after what it wrote in answer. */
static void on_own_end(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)ev;
  ws_t* w = arg;
  if (w->close_rcvd && !w->close_sent && !s->w.ending)
    sl_stream_end(s, NULL, NULL, NULL);
}

/* --- the stream's hooks --------------------------------------------------- */

static void ws_read(sl_stream_t* s, size_t n) {
  (void)n;
  ws_t* w = (ws_t*)s;
  if (!w->rpaused) return;
  w->rpaused = 0;
  if (w->sock != NULL) ws_parse(w);
}

/* Frames one chunk. Returns the socket write's result. */
static int send_message(ws_t* w, sl_chunk_t* c) {
  unsigned tag = sl_chunk_tag(c);
  int more = (tag & SL_WS_MORE) != 0;
  int op = SL__WS_OP_CONT;
  if (!w->out_cont) {
    w->out_text = tag & SL_WS_TEXT     ? 1
                  : tag & SL_WS_BINARY ? 0
                                       : w->text_default;
    op = w->out_text ? SL__WS_OP_TEXT : SL__WS_OP_BINARY;
  }
  int first = !w->out_cont;
  w->out_cont = more;
  const char* d = sl_chunk_data(c);
  size_t n = sl_chunk_len(c);
  if (!w->pmd.on) return send_frame(w, !more, 0, op, d, n, c);
  sl_buf_reset(&w->out);
  int rc = sl__ws_deflate(&w->z[1], d, n, !more, &w->out);
  if (rc != 0) return rc;
  rc = send_frame(w, !more, first, op, w->out.data, w->out.len, NULL);
  if (w->out.cap > 4096) sl_buf_free(&w->out); /* no big idle buffer */
  return rc;
}

static void ws_writev(sl_stream_t* s, sl_chunk_t** chunks, size_t n) {
  ws_t* w = (ws_t*)s;
  if (w->sock == NULL) { /* a client before its 101: keep them */
    if (sl__park(&w->parked, chunks, n) != 0)
      sl_stream_write_done(s, SL_ENOMEM);
    return;
  }
  if (w->close_sent || w->failed) {
    /* Nothing may follow a close frame; the stream ends with the reason. */
    sl_stream_write_done(s, 0);
    return;
  }
  int rc = 1;
  for (size_t i = 0; i < n && rc >= 0; i++) rc = send_message(w, chunks[i]);
  if (rc == 0) {
    w->wait_drain = 1; /* the socket's drain completes it */
    return;
  }
  /* A socket destroyed under us (the peer reset it): its close, which is
   * on its way, ends the stream with what happened. */
  if (rc == SL_EDESTROYED) rc = 0;
  sl_stream_write_done(s, rc < 0 ? rc : 0);
}

static void ws_final(sl_stream_t* s) {
  ws_t* w = (ws_t*)s;
  if (w->sock == NULL) { /* ended before the 101: nothing to close */
    sl_stream_final_done(s, 0);
    return;
  }
  send_close(w, w->send_code ? w->send_code : 1000, w->send_reason);
  if (w->close_rcvd && !w->client)
    sock_finish(w);
  else
    timer_set(w, TIMER_CLOSE, w->close_ms);
  sl_stream_final_done(s, 0);
}

/* A socket that outlives its WebSocket: it ends after what is queued (a
 * close frame) and is cut after `ms` if the peer does not take it. */
typedef struct {
  uv_timer_t t;
  sl_stream_t* sock;
} linger_t;

static void linger_closed(uv_handle_t* h) { sl__free(h->data); }

static void on_linger_close(sl_stream_t* s, const sl_event_t* ev, void* arg);

static void linger_done(linger_t* l) {
  if (l->sock == NULL) return;
  sl_stream_t* s = l->sock;
  l->sock = NULL;
  sl_stream_off(s, SL_EV_CLOSE, on_linger_close, l);
  sl_stream_destroy(s, 0);
  sl_stream_unref(s);
  uv_close((uv_handle_t*)&l->t, linger_closed);
}

static void on_linger_timer(uv_timer_t* t) { linger_done(t->data); }

static void on_linger_close(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  (void)ev;
  linger_done(arg);
}

static void on_linger_finished(sl_stream_t* s, int err, void* arg) {
  (void)s;
  (void)err;
  linger_done(arg);
}

static void linger(sl_stream_t* sock, uint64_t ms) {
  linger_t* l = sl__calloc(1, sizeof *l);
  if (l == NULL) {
    sl_stream_destroy(sock, 0);
    return;
  }
  l->sock = sl_stream_ref(sock);
  uv_timer_init(sl__loop(), &l->t);
  l->t.data = l;
  uv_timer_start(&l->t, on_linger_timer, ms, 0);
  uv_unref((uv_handle_t*)&l->t);
  sl_stream_on(sock, SL_EV_CLOSE, on_linger_close, l);
  if (sl_stream_end(sock, NULL, on_linger_finished, l) != 0 &&
      sl_stream_writable_finished(sock))
    linger_done(l);
}

static void ws_destroy(sl_stream_t* s, int err) {
  (void)err;
  ws_t* w = (ws_t*)s;
  if (w->owner_gone != NULL) w->owner_gone(w->owner);
  w->owner_gone = NULL;
  timer_free(w);
  sl__parked_free(&w->parked);
  if (w->sock != NULL) {
    sock_listen(w, 0);
    if (w->close_sent && !w->sock->destroyed)
      linger(w->sock, w->close_ms); /* the close frame still goes out */
    else
      sl_stream_destroy(w->sock, 0);
    sl_stream_unref(w->sock);
    w->sock = NULL;
  }
  if (w->req != NULL) {
    sl_stream_destroy(w->req, 0);
    sl_stream_unref(w->req);
    w->req = NULL;
  }
  sl_buf_free(&w->in);
  sl_buf_free(&w->msg);
  sl_buf_free(&w->out);
  if (w->z != NULL) {
    sl__ws_zfree(&w->z[0]);
    sl__ws_zfree(&w->z[1]);
    sl__free(w->z);
    w->z = NULL;
  }
  sl__free(w->fail_msg);
  w->fail_msg = NULL;
  sl_stream_destroy_done(s);
}

static void ws_on_free(sl_stream_t* s) {
  ws_t* w = (ws_t*)s;
  sl__free(w->protocol);
  sl__free(w->extensions);
  sl__free(w->close_reason);
  sl__free(w->send_reason);
}

static const sl_stream_hooks_t ws_hooks = {
    .read = ws_read,
    .writev = ws_writev,
    .final = ws_final,
    .destroy = ws_destroy,
};

/* The send cap, after each write queued (see sl_ws_opts_t.send_policy). */
static void ws_on_queued(sl_stream_t* s) {
  ws_t* w = (ws_t*)s;
  if (sl_ws_buffered_amount(s) <= w->send_cap || w->failed) return;
  if (w->policy == SL_WS_CAP_CLOSE) {
    ws_fail(w, 1008, SL_ENOBUFS,
            "the peer does not read: over send_cap (%zu bytes buffered)",
            w->send_cap);
    return;
  }
  /* Drop the oldest whole messages not started yet. A fragment of a
   * message in progress, or one that follows a fragment, stays. */
  sl__ring_t* q = &s->w.queue;
  size_t i = s->w.inflight;
  int prev_more = w->out_cont;
  if (i > 0)
    prev_more =
        (sl_chunk_tag(sl__ring_at(q, i - 1)->chunk) & SL_WS_MORE) != 0 ||
        w->out_cont;
  while (i < q->count && sl_ws_buffered_amount(s) > w->send_cap) {
    sl_chunk_t* c = sl__ring_at(q, i)->chunk;
    int more = (sl_chunk_tag(c) & SL_WS_MORE) != 0;
    if (!prev_more && !more) {
      sl__stream_cancel_write(s, i, SL_ECANCELED);
      w->dropped++;
      continue;
    }
    prev_more = more;
    i++;
  }
}

/* --- making one ---------------------------------------------------------- */

static ws_t* ws_alloc(const sl_ws_opts_t* o, int client, const char* name) {
  sl_ws_opts_t d = {0};
  if (o == NULL) o = &d;
  size_t hwm = o->high_water_mark ? o->high_water_mark : SL__WS_DEFAULT_HWM;
  sl_stream_opts_t so = {.hooks = &ws_hooks,
                         .high_water_mark = hwm,
                         .no_auto_destroy = 0,
                         .name = name};
  ws_t* w = (ws_t*)sl__stream_new(SL__KIND_DUPLEX, &so, sizeof *w);
  if (w == NULL) return NULL;
  w->client = client;
  w->s.on_queued = ws_on_queued;
  w->s.on_free = ws_on_free;
  w->s.r.messages = 1;
  if (sl_stream_on(&w->s, SL_EV_END, on_own_end, w) != 0) {
    sl_stream_destroy(&w->s, SL_ENOMEM);
    return NULL;
  }
  w->max_message = o->max_message ? o->max_message : SL__WS_DEFAULT_MAX_MESSAGE;
  w->max_frame = o->max_frame ? o->max_frame : w->max_message;
  w->send_cap = o->send_cap ? o->send_cap : SL__WS_DEFAULT_SEND_CAP;
  w->policy = o->send_policy;
  w->text_default = o->text;
  w->fragments = o->fragments;
  w->ping_ms = o->ping_interval_ms;
  w->pong_ms = o->pong_timeout_ms ? o->pong_timeout_ms : o->ping_interval_ms;
  w->close_ms =
      o->close_timeout_ms ? o->close_timeout_ms : SL__WS_DEFAULT_CLOSE_MS;
  return w;
}

static int ws_attach(ws_t* w, sl_stream_t* sock, const char* protocol,
                     const sl__ws_pmd_t* pmd, const char* extensions,
                     sl_chunk_t* head) {
  w->sock = sl_stream_ref(sock);
  sock->errors_owned = 1;
  if ((protocol != NULL && *protocol != '\0' &&
       (w->protocol = sl__strdup(protocol)) == NULL) ||
      (extensions != NULL && *extensions != '\0' &&
       (w->extensions = sl__strdup(extensions)) == NULL))
    return SL_ENOMEM;
  if (pmd != NULL && pmd->on) {
    if ((w->z = sl__calloc(2, sizeof *w->z)) == NULL) return SL_ENOMEM;
    w->pmd = *pmd;
    /* We deflate with our side's window and takeover, inflate the peer's. */
    int our_nct = w->client ? pmd->client_no_context_takeover
                            : pmd->server_no_context_takeover;
    int peer_nct = w->client ? pmd->server_no_context_takeover
                             : pmd->client_no_context_takeover;
    w->z[1].keep = !our_nct;
    w->z[0].keep = !peer_nct;
    w->z[1].bits =
        w->client ? pmd->client_max_window_bits : pmd->server_max_window_bits;
    if (w->z[1].bits < 9) w->z[1].bits = 9;
  }
  w->last_rx = uv_now(sl__loop());
  sock_listen(w, 1);
  if (w->ping_ms) timer_set(w, TIMER_PING, w->ping_ms);
  if (head != NULL && sl_chunk_len(head) > 0 &&
      sl_buf_append(&w->in, sl_chunk_data(head), sl_chunk_len(head)) != 0)
    return SL_ENOMEM;
  w->sock_paused = 1; /* handed over paused */
  ws_parse(w);
  return 0;
}

sl_stream_t* sl__ws_new(sl_stream_t* sock, int client, const sl_ws_opts_t* o,
                        const char* protocol, const sl__ws_pmd_t* pmd,
                        const char* extensions, sl_stream_t* req,
                        sl_chunk_t* head) {
  ws_t* w = ws_alloc(o, client, sl_tcp_peer(sock));
  if (w == NULL) {
    sl_stream_destroy(sock, SL_ENOMEM);
    return NULL;
  }
  if (req != NULL && o != NULL && o->keep_request) w->req = sl_stream_ref(req);
  if (ws_attach(w, sock, protocol, pmd, extensions, head) != 0) {
    sl_stream_destroy(&w->s, SL_ENOMEM);
    return NULL;
  }
  return &w->s;
}

void sl__ws_drop_request(sl_stream_t* ws) {
  ws_t* w = ws_of(ws);
  if (w->req == NULL) return;
  sl_stream_destroy(w->req, 0);
  sl_stream_unref(w->req);
  w->req = NULL;
}

sl_stream_t* sl__ws_new_pending(const sl_ws_opts_t* o, const char* name) {
  ws_t* w = ws_alloc(o, 1, name);
  return w != NULL ? &w->s : NULL;
}

void sl__ws_set_owner(sl_stream_t* ws, void* owner, void (*gone)(void*)) {
  ws_t* w = ws_of(ws);
  w->owner = owner;
  w->owner_gone = gone;
}

int sl__ws_open(sl_stream_t* ws, sl_stream_t* sock, const char* protocol,
                const sl__ws_pmd_t* pmd, const char* extensions,
                sl_chunk_t* head) {
  ws_t* w = ws_of(ws);
  w->owner_gone = NULL; /* the handshake is over */
  int rc = ws_attach(w, sock, protocol, pmd, extensions, head);
  if (rc != 0) {
    sl_stream_destroy(ws, rc);
    return rc;
  }
  sl_event_t ev = {.type = SL_EV_CONNECT};
  sl__stream_emit(ws, &ev);
  if (w->parked.n > 0 && !ws->destroyed) {
    sl__parked_t p = sl__parked_take(&w->parked);
    ws_writev(ws, p.v, p.n);
    sl__parked_free(&p);
  }
  return 0;
}

void sl__ws_fail_handshake(sl_stream_t* ws, int err, const char* msg) {
  ws_t* w = ws_of(ws);
  w->owner_gone = NULL;
  w->close_code = 1006;
  sl_stream_fail(ws, err, "%s", msg);
}

/* --- public -------------------------------------------------------------- */

int sl_ws_close(sl_stream_t* ws, int code, const char* reason) {
  ws_t* w = ws_of(ws);
  size_t rl = reason != NULL ? strlen(reason) : 0;
  sl__utf8_t u = {0};
  if (!sl__ws_close_code_ok(code) || rl > 123 ||
      sl__utf8_feed(&u, (const unsigned char*)(reason ? reason : ""), rl) !=
          0 ||
      !sl__utf8_complete(&u))
    return SL_EINVAL;
  if (ws->destroyed) return SL_EDESTROYED;
  if (ws->w.ending) return SL_EWRITEAFTEREND;
  w->send_code = code;
  sl__free(w->send_reason);
  w->send_reason = NULL;
  if (rl > 0 && (w->send_reason = sl__strdup(reason)) == NULL) return SL_ENOMEM;
  return sl_stream_end(ws, NULL, NULL, NULL);
}

int sl_ws_ping(sl_stream_t* ws, const void* data, size_t len) {
  ws_t* w = ws_of(ws);
  if (len > 125) return SL_EINVAL;
  if (ws->destroyed || w->failed) return SL_EDESTROYED;
  if (w->close_sent || w->sock == NULL) return SL_EWRITEAFTEREND;
  int rc = send_frame(w, 1, 0, SL__WS_OP_PING, data, len, NULL);
  return rc < 0 ? rc : 0;
}

int sl_ws_close_code(const sl_stream_t* ws) { return ws_of(ws)->close_code; }
const char* sl_ws_close_reason(const sl_stream_t* ws) {
  const ws_t* w = ws_of(ws);
  return w->close_reason ? w->close_reason : "";
}
const char* sl_ws_protocol(const sl_stream_t* ws) {
  const ws_t* w = ws_of(ws);
  return w->protocol ? w->protocol : "";
}
const char* sl_ws_extensions(const sl_stream_t* ws) {
  const ws_t* w = ws_of(ws);
  return w->extensions ? w->extensions : "";
}
sl_stream_t* sl_ws_request(const sl_stream_t* ws) { return ws_of(ws)->req; }

size_t sl_ws_buffered_amount(const sl_stream_t* ws) {
  const ws_t* w = ws_of(ws);
  size_t n = ws->w.length;
  if (w->sock != NULL && !w->sock->destroyed)
    n += sl_stream_writable_length(w->sock);
  return n;
}

uint64_t sl_ws_dropped(const sl_stream_t* ws) { return ws_of(ws)->dropped; }
uint64_t sl_ws_pongs(const sl_stream_t* ws) { return ws_of(ws)->pongs; }

static sl_chunk_t* text_chunk(const char* fmt, va_list ap) {
  sl_buf_t b = {0};
  sl_chunk_t* c = sl_buf_vprintf(&b, fmt, ap) == 0 ? sl_buf_chunk(&b) : NULL;
  sl_buf_free(&b); /* only on a failure is anything left */
  return c;
}

sl_chunk_t* sl_ws_text(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sl_chunk_t* c = text_chunk(fmt, ap);
  va_end(ap);
  if (c != NULL) sl_chunk_set_tag(c, SL_WS_TEXT);
  return c;
}

int sl_ws_sendf(sl_stream_t* ws, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sl_chunk_t* c = text_chunk(fmt, ap);
  va_end(ap);
  if (c == NULL) return SL_ENOMEM;
  sl_chunk_set_tag(c, SL_WS_TEXT);
  int rc = sl_stream_write(ws, c, NULL, NULL);
  sl_chunk_unref(c);
  return rc;
}

int sl_ws_is_text(const sl_chunk_t* c) {
  return (sl_chunk_tag(c) & SL_WS_TEXT) != 0;
}

/* --- fuzzing ----------------------------------------------------------- */

static void fuzz_sock_write(sl_stream_t* s, sl_chunk_t* c) {
  (void)c;
  sl_stream_write_done(s, 0);
}

static void fuzz_on_ws(sl_stream_t* ws, const sl_event_t* ev, void* arg) {
  if (ev->type == SL_EV_DATA) {
    ++*(int*)arg;
    sl_stream_write(ws, ev->chunk, NULL, NULL); /* the send path too */
  }
}

int sl__ws_fuzz_feed(const uint8_t* data, size_t len) {
  static const sl_stream_hooks_t sock_hooks = {.write = fuzz_sock_write};
  if (len < 2) return 0;
  uint8_t flags = data[0];
  size_t cut = data[1];
  data += 2; /* the rest is what the peer sent */
  len -= 2;
  cut %= len + 1;
  sl_ws_opts_t o = {.max_message = 64 * 1024,
                    .max_frame = (flags & 16) ? 200 : 0,
                    .fragments = (flags & 8) != 0,
                    .high_water_mark = (flags & 32) ? 16 : 0};
  sl__ws_pmd_t pmd = {.on = (flags & 2) != 0,
                      .server_no_context_takeover = (flags & 4) != 0,
                      .client_no_context_takeover = (flags & 4) != 0,
                      .server_max_window_bits = 15,
                      .client_max_window_bits = 15};
  sl_stream_t* sock = sl_duplex_new(&(sl_stream_opts_t){.hooks = &sock_hooks});
  if (sock == NULL) return 0;
  sl_stream_ref(sock); /* the WebSocket may destroy it before our pushes */
  int msgs = 0;
  sl_stream_t* ws = sl__ws_new(sock, flags & 1, &o, NULL, &pmd, "", NULL, NULL);
  if (ws == NULL) {
    sl_stream_unref(sock);
    return 0;
  }
  sl_stream_ref(ws);
  sl_stream_on(ws, SL_EV_DATA, fuzz_on_ws, &msgs);
  sl_stream_on(ws, SL_EV_ERROR, fuzz_on_ws, &msgs);
  /* Two reads, split at `cut`, so that frames cross reads. */
  if (cut > 0) sl_stream_push_bytes(sock, data, cut);
  if (len > cut && !sl_stream_destroyed(sock))
    sl_stream_push_bytes(sock, data + cut, len - cut);
  for (int i = 0; i < 50; i++) uv_run(sl__loop(), UV_RUN_NOWAIT);
  if (!sl_stream_destroyed(sock)) sl_stream_push(sock, NULL);
  for (int i = 0; i < 50 && !sl_stream_closed(ws); i++)
    uv_run(sl__loop(), UV_RUN_NOWAIT);
  if (!sl_stream_closed(ws)) sl_stream_destroy(ws, 0);
  sl_run();
  sl_stream_unref(ws);
  sl_stream_unref(sock);
  return msgs;
}
