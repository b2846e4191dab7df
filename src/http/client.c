/* The HTTP/1.1 client: sl_http_request() (the request body is a Writable,
 * the response a Readable built on sl__http_msg_t) over the connections of
 * an agent's pools (agent.c keeps the pools and idle sockets). llhttp
 * parses responses from the socket's data events; the parser pauses and the
 * socket stops reading while the response body is above its mark. An
 * exchange (xchg_t) ties a request, its response and the connection that
 * carries them; the calls to the user (the response callback) and the
 * failures run from its tick, never inside a user call. */
#define _GNU_SOURCE /* strcasestr */
#include "http/client_int.h"

#include <llhttp.h>
#include <strings.h>

#define DEFAULT_HWM (64 * 1024)

struct creq_s {
  sl_stream_t s;
  xchg_t* x;
};

struct cres_s {
  sl__http_msg_t m;
  xchg_t* x;
};

static void conn_feed(conn_t* c);
void sl__pool_next(pool_t* p);
void sl__pool_maybe_free(pool_t* p);
static void xchg_unref(xchg_t* x);
static void body_flush(xchg_t* x);
static int send_head(xchg_t* x, int has_body);
static int sock_send(xchg_t* x, sl_chunk_t* c, int own);

/* --- helpers ------------------------------------------------------------ */

/* The context part of a stream's message: "connect 127.0.0.1:9" out of
 * "ECONNREFUSED: connection refused, connect 127.0.0.1:9". */
static const char* msg_context(int err, const char* msg) {
  if (msg == NULL) return "";
  const char* name = sl_err_name(err);
  const char* desc = sl_strerror(err);
  size_t nl = strlen(name), dl = strlen(desc);
  if (strncmp(msg, name, nl) == 0 && strncmp(msg + nl, ": ", 2) == 0 &&
      strncmp(msg + nl + 2, desc, dl) == 0 &&
      strncmp(msg + nl + 2 + dl, ", ", 2) == 0)
    return msg + nl + 2 + dl + 2;
  return msg;
}

static const char* conn_peer(const conn_t* c) {
  const char* peer = c->sock != NULL ? sl_tcp_peer(c->sock) : "";
  return peer[0] != '\0' ? peer : c->x != NULL ? c->x->peer : "";
}

/* --- the response stream ------------------------------------------------ */

static void cres_destroy(sl_stream_t* s, int err) {
  (void)err;
  cres_t* r = (cres_t*)s;
  xchg_t* x = r->x;
  r->x = NULL;
  sl__http_msg_free(&r->m);
  if (x != NULL) {
    x->res = NULL;
    /* Left before its end: the rest of the body cannot be skipped. */
    if (!x->res_done) sl__client_fail(x, SL_ECANCELED, "response destroyed");
    xchg_unref(x);
  }
  sl_stream_destroy_done(s);
}

static const sl_stream_hooks_t cres_hooks = {
    .read = sl__http_msg_read,
    .destroy = cres_destroy,
};

/* The reader wants more: a parser paused on a full body buffer goes on. */
static void cres_on_read(sl__http_msg_t* m) {
  xchg_t* x = ((cres_t*)m)->x;
  conn_t* c = x != NULL ? x->c : NULL;
  if (c == NULL || !c->body_wait) return;
  c->body_wait = 0;
  c->paused = 0;
  c->kick = 1; /* the message may end without another byte */
  llhttp_resume(&c->p);
  sl__tick_schedule(&c->tick);
}

static cres_t* cres_new(conn_t* c) {
  xchg_t* x = c->x;
  sl_stream_opts_t o = {
      .hooks = &cres_hooks, .high_water_mark = x->hwm, .name = conn_peer(c)};
  cres_t* r = (cres_t*)sl__stream_new(SL__KIND_READABLE, &o, sizeof *r);
  if (r == NULL) return NULL;
  r->m.s.errors_owned = 1; /* reported through the request */
  r->m.on_read = cres_on_read;
  r->m.hdrs = c->hdrs;
  memset(&c->hdrs, 0, sizeof c->hdrs);
  r->m.status = c->p.status_code;
  r->m.version_minor = c->p.http_minor;
  snprintf(r->m.remote, sizeof r->m.remote, "%s", conn_peer(c));
  r->x = x;
  x->refs++;
  return r;
}

/* --- parser callbacks --------------------------------------------------- */

static conn_t* conn_of(llhttp_t* p) { return p->data; }

static int on_message_begin(llhttp_t* p) {
  sl__http_hdrs_free(&conn_of(p)->hdrs);
  sl__http_lines_begin(&conn_of(p)->lines);
  return 0;
}

/* A header the server side would refuse (an empty or folded one) fails
 * the response here too, so a proxy never passes it on. */
static int on_header_field(llhttp_t* p, const char* at, size_t n) {
  conn_t* c = conn_of(p);
  if (sl__http_lines_name(&c->lines, at, n) != 0) return -1;
  return sl__http_hdrs_field(&c->hdrs, at, n) == 0 ? 0 : -1;
}

static int on_header_value(llhttp_t* p, const char* at, size_t n) {
  conn_t* c = conn_of(p);
  if (sl__http_lines_value(&c->lines, at, n) != 0) return -1;
  return sl__http_hdrs_value(&c->hdrs, at, n) == 0 ? 0 : -1;
}

static int on_header_value_complete(llhttp_t* p) {
  return sl__http_lines_value_done(&conn_of(p)->lines) == 0 ? 0 : -1;
}

/* Interim responses (100 Continue, 103) are dropped; the final one becomes
 * the response stream. Returns 1 (no body) for HEAD. */
static int on_headers_complete(llhttp_t* p) {
  conn_t* c = conn_of(p);
  xchg_t* x = c->x;
  if (sl__http_lines_end(&c->lines) != 0) return -1;
  if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101) {
    c->interim = 1;
    sl__http_hdrs_free(&c->hdrs);
    return 0;
  }
  if (x == NULL || x->res != NULL) return -1;
  if (sl__http_hdrs_end(&c->hdrs) != 0) return -1;
  x->res = cres_new(c);
  if (x->res == NULL) return -1;
  sl__tick_schedule(&x->tick); /* deliver it once llhttp has returned */
  return x->is_head ? 1 : 0;
}

static int on_body(llhttp_t* p, const char* at, size_t n) {
  conn_t* c = conn_of(p);
  xchg_t* x = c->x;
  if (x == NULL || x->res == NULL || x->res->m.s.destroyed) return 0;
  if (n == 0 || c->in == NULL) return 0; /* an empty span after a resume */
  const char* base = sl_chunk_data(c->in);
  sl_chunk_t* piece = sl_chunk_slice(c->in, (size_t)(at - base), n);
  if (piece == NULL) return -1;
  int rc = sl_stream_push(&x->res->m.s, piece);
  sl_chunk_unref(piece);
  if (rc == 0) {
    c->body_wait = 1; /* above the mark: wait for the reader */
    return HPE_PAUSED;
  }
  return 0;
}

static int on_message_complete(llhttp_t* p) {
  conn_t* c = conn_of(p);
  xchg_t* x = c->x;
  if (sl__http_lines_end(&c->lines) != 0) return -1; /* a folded trailer */
  if (c->interim) {
    c->interim = 0;
    return 0;
  }
  c->msg_done = 1;
  c->keep = llhttp_should_keep_alive(p) != 0;
  if (x != NULL) {
    x->res_done = 1;
    if (x->res != NULL && !x->res->m.s.destroyed)
      sl_stream_push(&x->res->m.s, NULL);
    sl__tick_schedule(&x->tick);
  }
  return HPE_PAUSED; /* nothing may follow: no pipelining here */
}

static int on_chunk_ext_value(llhttp_t* p, const char* at, size_t n) {
  return sl__http_ext_value(&conn_of(p)->ext, at, n);
}

static int on_chunk_ext_value_complete(llhttp_t* p) {
  return sl__http_ext_value_done(&conn_of(p)->ext);
}

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_extension_value = on_chunk_ext_value,
    .on_chunk_extension_value_complete = on_chunk_ext_value_complete,
};

/* --- feeding the parser ------------------------------------------------- */

static void drop_input(conn_t* c) {
  sl_chunk_unref(c->in);
  c->in = NULL;
  c->in_off = 0;
}

static void conn_reading(conn_t* c, int on) {
  if (c->sock == NULL || c->sock->destroyed) return;
  if (on && c->sock_paused) {
    c->sock_paused = 0;
    sl_stream_resume(c->sock);
  } else if (!on && !c->sock_paused) {
    c->sock_paused = 1;
    sl_stream_pause(c->sock);
  }
}

static void parse_failed(conn_t* c, llhttp_errno_t e) {
  xchg_t* x = c->x;
  drop_input(c);
  if (x == NULL) {
    sl__client_conn_destroy(c);
    return;
  }
  const char* reason = llhttp_get_error_reason(&c->p);
  sl__client_fail(x, SL_EPROTO, "%s: %s, response from %s",
                  llhttp_errno_name(e), reason ? reason : "", conn_peer(c));
}

/* One llhttp_execute over the input left (none: lets a parser that paused
 * at the end of a body complete the message). */
static void feed_once(conn_t* c) {
  static const char none[1];
  const char* base = c->in ? sl_chunk_data(c->in) + c->in_off : none;
  size_t len = c->in ? sl_chunk_len(c->in) - c->in_off : 0;
  sl__http_lines_exec(&c->lines, base, len);
  c->ext.end = base + len;
  llhttp_errno_t e = llhttp_execute(&c->p, base, len);
  if (e == HPE_OK && sl__http_lines_flush(&c->lines) != 0) {
    llhttp_set_error_reason(&c->p, "Folded header line (obs-fold)");
    parse_failed(c, HPE_INVALID_HEADER_TOKEN);
    return;
  }
  size_t used = len;
  if (e != HPE_OK) {
    const char* pos = llhttp_get_error_pos(&c->p);
    used = pos != NULL && pos >= base ? (size_t)(pos - base) : len;
  }
  if (used > len) used = len;
  c->in_off += used;
  if (c->in != NULL && c->in_off == sl_chunk_len(c->in)) drop_input(c);
  if (e == HPE_PAUSED && c->ext.resume) {
    e = (llhttp_errno_t)sl__http_ext_give_back(&c->ext, &c->p);
    if (e == HPE_OK) return; /* conn_feed goes on with the rest */
  }
  if (e == HPE_OK) return;
  if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
    c->paused = 1;
    if (c->msg_done || e == HPE_PAUSED_UPGRADE) {
      if (c->in != NULL || e == HPE_PAUSED_UPGRADE) c->broken = 1;
      drop_input(c); /* bytes after the response: the socket is not reused */
    }
    return;
  }
  parse_failed(c, e);
}

/* End of input from the server: completes a close-delimited body, or is a
 * hang-up before the response ended. */
static void conn_eof(conn_t* c) {
  xchg_t* x = c->x;
  if (x == NULL || c->msg_done) return;
  llhttp_errno_t e = llhttp_finish(&c->p);
  if (c->msg_done) return;
  (void)e;
  if (x->res == NULL)
    sl__client_fail(x, SL_ECONNRESET, "socket hang up, %s", conn_peer(c));
  else
    sl__client_fail(x, SL_ECONNRESET, "response aborted, %s", conn_peer(c));
}

static void conn_free(conn_t* c) {
  sl__free(c->errctx);
  sl__free(c);
}

static void conn_feed(conn_t* c) {
  if (c->destroyed) return;
  c->busy++;
  if (c->kick && c->in == NULL && !c->paused) feed_once(c);
  c->kick = 0;
  while (c->in != NULL && !c->paused && !c->destroyed) feed_once(c);
  if (!c->destroyed && c->in == NULL && !c->paused && c->peer_ended)
    conn_eof(c);
  c->busy--;
  if (c->destroyed) {
    if (c->busy == 0) conn_free(c);
    return;
  }
  conn_reading(c, c->in == NULL);
  if (c->x != NULL) sl__tick_schedule(&c->x->tick);
}

static void conn_tick(sl__tick_t* t) {
  conn_feed(sl__container_of(t, conn_t, tick));
}

/* --- socket events ------------------------------------------------------ */

static void on_sock_data(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  conn_t* c = arg;
  xchg_t* x = c->x;
  if (x == NULL) {
    sl__client_conn_destroy(
        c); /* bytes on an idle socket: not HTTP we can follow */
    return;
  }
  if (c->msg_done) {
    c->broken = 1;
    return;
  }
  SL_ASSERT(c->in == NULL);
  c->got_bytes = 1;
  x->last_active = uv_now(sl__loop());
  c->in = sl_chunk_ref(ev->chunk);
  c->in_off = 0;
  conn_feed(c);
}

/* A request on a reused socket that the server closed before answering
 * anything is sent again once on a fresh socket, as long as its whole
 * request is still in hand (no body went out). */
static int conn_retry(conn_t* c) {
  xchg_t* x = c->x;
  if (x == NULL || !c->reused || c->got_bytes || x->body_sent || x->retried ||
      x->res != NULL)
    return 0;
  pool_t* p = c->pool;
  x->retried = 1;
  x->head_sent = 0;
  x->c = NULL;
  c->x = NULL;
  x->pool = p;
  x->waiting = 1;
  sl__queue_insert_head(&p->waiting, &x->node);
  sl__client_conn_destroy(c); /* its place goes to x (sl__pool_next) */
  return 1;
}

static void on_sock_event(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  conn_t* c = arg;
  xchg_t* x = c->x;
  switch (ev->type) {
    case SL_EV_END:
      c->peer_ended = 1;
      if (x == NULL)
        sl__client_conn_destroy(c);
      else if (!conn_retry(c) && c->in == NULL && !c->paused)
        sl__tick_schedule(&c->tick);
      break;
    case SL_EV_ERROR:
      c->err = ev->err;
      sl__free(c->errctx);
      c->errctx = sl__strdup(msg_context(ev->err, ev->message));
      break;
    case SL_EV_DRAIN:
      if (x != NULL && x->write_wait) {
        x->drained = 1;
        sl__tick_schedule(&x->tick);
      }
      break;
    case SL_EV_CLOSE:
      if (x == NULL) {
        sl__client_conn_destroy(c);
      } else if (conn_retry(c)) {
        /* sent again on a fresh socket */
      } else if (c->err != 0) {
        sl__client_fail(x, c->err, "%s", c->errctx ? c->errctx : conn_peer(c));
      } else if (!c->msg_done || !x->req_done) {
        sl__client_fail(x, SL_ECONNRESET, "socket hang up, %s", conn_peer(c));
      } else {
        sl__client_conn_destroy(c);
      }
      break;
    default:
      break;
  }
  (void)s;
}

/* --- connections -------------------------------------------------------- */

static void conn_unlisten(conn_t* c) {
  static const sl_event_type_t t[] = {SL_EV_END, SL_EV_ERROR, SL_EV_DRAIN,
                                      SL_EV_CLOSE};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    sl_stream_off(c->sock, t[i], on_sock_event, c);
  sl_stream_off(c->sock, SL_EV_DATA, on_sock_data, c);
}

void sl__client_conn_destroy(conn_t* c) {
  if (c->destroyed) return;
  c->destroyed = 1;
  sl__idle_remove(c);
  if (c->x != NULL) c->x->c = NULL;
  c->x = NULL;
  sl__tick_cancel(&c->tick);
  drop_input(c);
  sl__http_hdrs_free(&c->hdrs);
  if (c->sock != NULL) {
    conn_unlisten(c);
    sl_stream_destroy(c->sock, 0);
    sl_stream_unref(c->sock);
    c->sock = NULL;
  }
  pool_t* p = c->pool;
  sl__queue_remove(&c->node);
  p->nconns--;
  if (c->busy == 0) conn_free(c);
  sl__pool_next(p); /* a waiting request may take its place; frees p if empty */
}

conn_t* sl__client_conn_new(pool_t* p) {
  conn_t* c = sl__calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  sl_tcp_opts_t o = {.high_water_mark = DEFAULT_HWM, .no_delay = 1};
  c->sock = sl_tcp_connect(p->host, p->port, &o);
  if (c->sock == NULL) {
    sl__free(c);
    return NULL;
  }
  c->sock->errors_owned = 1; /* the exchange on it reports them */
  sl_stream_ref(c->sock);
  c->pool = p;
  sl__queue_init(&c->inode);
  sl__tick_init(&c->tick, conn_tick);
  sl__queue_insert_tail(&p->conns, &c->node);
  p->nconns++;
  static const sl_event_type_t t[] = {SL_EV_END, SL_EV_ERROR, SL_EV_DRAIN,
                                      SL_EV_CLOSE};
  int rc = 0;
  for (size_t i = 0; i < sizeof t / sizeof t[0] && rc == 0; i++)
    rc = sl_stream_on(c->sock, t[i], on_sock_event, c);
  if (rc == 0) rc = sl_stream_on(c->sock, SL_EV_DATA, on_sock_data, c);
  if (rc != 0) {
    sl__client_conn_destroy(c);
    return NULL;
  }
  return c;
}

/* Gives connection `c` the exchange `x`: a fresh parser, then whatever the
 * request stream already asked for (body writes, end). */
void sl__client_conn_assign(conn_t* c, xchg_t* x) {
  sl__idle_remove(c);
  c->x = x;
  x->c = c;
  llhttp_init(&c->p, HTTP_RESPONSE, &parser_settings);
  c->p.data = c;
  c->paused = c->body_wait = c->msg_done = c->keep = c->got_bytes = 0;
  c->interim = c->kick = 0;
  x->last_active = uv_now(sl__loop());
  conn_reading(c, 1);
  if (x->retried && x->req_done) { /* a retry: the whole request again */
    int chunked = x->framing == FRAME_CHUNKED;
    send_head(x, chunked);
    if (chunked) sock_send(x, sl_chunk_copy("0\r\n\r\n", 5), 1);
  }
  if (x->parked.n > 0 || x->want_final) sl__tick_schedule(&x->tick);
}

/* The exchange is over (request sent, response parsed): the socket goes
 * back to its pool, or closes. */
static void conn_release(conn_t* c) {
  xchg_t* x = c->x;
  if (x != NULL) x->c = NULL;
  c->x = NULL;
  pool_t* p = c->pool;
  if (!c->keep || c->broken || c->peer_ended || c->in != NULL ||
      (x != NULL && x->close) || p->agent->closing) {
    sl__client_conn_destroy(c);
    return;
  }
  c->reused = 1;
  sl__idle_add(c);
  conn_reading(c, 1);
  sl__pool_next(p);
}

/* --- the request: head and body ----------------------------------------- */

static int method_bodyless(const char* m) {
  static const char* const v[] = {"GET",     "HEAD",  "DELETE",
                                  "OPTIONS", "TRACE", "CONNECT"};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (strcmp(m, v[i]) == 0) return 1;
  return 0;
}

/* Every socket write of a request reports here, so that the request ends
 * (finish) only once all of it is on the wire. */
static void on_sock_written(sl_stream_t* sock, int err, void* arg) {
  (void)sock;
  xchg_t* x = arg;
  x->inflight--;
  if (err == 0 && x->final_sent && x->inflight == 0)
    sl__tick_schedule(&x->tick);
  xchg_unref(x);
}

/* Writes `c` to the exchange's socket (a reference of ours is released
 * when `own`). Returns the socket's write result. */
static int sock_send(xchg_t* x, sl_chunk_t* c, int own) {
  if (c == NULL) return SL_ENOMEM;
  int rc = sl_stream_write(x->c->sock, c, on_sock_written, x);
  if (own) sl_chunk_unref(c);
  if (rc >= 0) {
    x->inflight++;
    x->refs++;
  }
  return rc;
}

/* Sends the head. With no body at all a method that normally has none sends
 * no framing; any other gets Content-Length: 0. */
static int send_head(xchg_t* x, int has_body) {
  const char* framing = "";
  if (x->user_len) {
    x->framing = FRAME_LENGTH;
  } else if (x->user_chunked) {
    x->framing = FRAME_CHUNKED;
  } else if (has_body) {
    x->framing = FRAME_CHUNKED;
    framing = "Transfer-Encoding: chunked\r\n";
  } else {
    x->framing = FRAME_NONE;
    if (!x->bodyless) framing = "Content-Length: 0\r\n";
  }
  x->head_sent = 1;
  return sock_send(x, sl_chunk_printf("%s%s\r\n", x->head, framing), 1);
}

/* One batch of body chunks, framed, in one socket write. */
static int send_body(xchg_t* x, sl_chunk_t** chunks, size_t n) {
  sl_stream_t* sock = x->c->sock;
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += sl_chunk_len(chunks[i]);
  sl_stream_cork(sock);
  int rc = x->head_sent ? 1 : send_head(x, 1);
  int chunked = total > 0 && x->framing == FRAME_CHUNKED;
  if (total > 0) x->body_sent = 1;
  if (chunked && rc >= 0)
    rc = sock_send(x, sl_chunk_printf("%zx\r\n", total), 1);
  for (size_t i = 0; i < n && rc >= 0; i++)
    if (sl_chunk_len(chunks[i]) > 0) rc = sock_send(x, chunks[i], 0);
  if (chunked && rc >= 0) rc = sock_send(x, sl_chunk_copy("\r\n", 2), 1);
  sl_stream_uncork(sock);
  return rc;
}

static int send_end(xchg_t* x) {
  if (!x->head_sent) return send_head(x, 0);
  if (x->framing == FRAME_CHUNKED)
    return sock_send(x, sl_chunk_copy("0\r\n\r\n", 5), 1);
  return 1;
}

static void req_writev(sl_stream_t* s, sl_chunk_t** chunks, size_t n) {
  xchg_t* x = ((creq_t*)s)->x;
  SL_ASSERT(x != NULL);
  if (sl__park(&x->parked, chunks, n) != 0) {
    sl_stream_write_done(s, SL_ENOMEM);
    return;
  }
  body_flush(x);
}

static void req_write(sl_stream_t* s, sl_chunk_t* chunk) {
  req_writev(s, &chunk, 1);
}

static void req_final(sl_stream_t* s) {
  xchg_t* x = ((creq_t*)s)->x;
  x->want_final = 1;
  body_flush(x);
}

static void req_destroy(sl_stream_t* s, int err) {
  creq_t* r = (creq_t*)s;
  xchg_t* x = r->x;
  r->x = NULL;
  if (x != NULL) {
    x->req = NULL;
    sl__parked_free(&x->parked);
    if (!x->req_done)
      sl__client_fail(x, err ? err : SL_ECANCELED, "%s",
                      err ? msg_context(err, s->errmsg) : "request aborted");
    xchg_unref(x);
  }
  sl_stream_destroy_done(s);
}

static const sl_stream_hooks_t creq_hooks = {
    .write = req_write,
    .writev = req_writev,
    .final = req_final,
    .destroy = req_destroy,
};

/* Moves what the request stream handed over (a parked write, the end) to
 * the socket once there is one. A write completes when the socket takes it
 * below its mark, or at its next drain; the end once every byte of the
 * request is written. */
static void body_flush(xchg_t* x) {
  if (x->c == NULL || x->req == NULL || x->failed) return;
  sl_stream_t* s = &x->req->s;
  if (x->parked.n > 0 && !x->write_wait) {
    int rc = send_body(x, x->parked.v, x->parked.n);
    sl__parked_free(&x->parked);
    x->last_active = uv_now(sl__loop());
    if (rc < 0) return; /* the socket failed: its close fails the exchange */
    if (rc == 0)
      x->write_wait = 1;
    else
      sl_stream_write_done(s, 0);
    return;
  }
  if (x->want_final && !x->final_sent) {
    x->want_final = 0;
    if (send_end(x) < 0) return;
    x->final_sent = 1;
  }
  if (x->final_sent && !x->req_done && x->inflight == 0) {
    x->req_done = 1;
    sl_stream_final_done(s, 0);
  }
}

/* The socket drained: complete the write that waited for it. */
static void body_drained(xchg_t* x) {
  x->drained = 0;
  if (x->req == NULL || x->c == NULL || !x->write_wait) return;
  x->write_wait = 0;
  sl_stream_write_done(&x->req->s, 0);
}

/* --- the exchange ------------------------------------------------------- */

static void timer_closed(uv_handle_t* h) {
  xchg_t* x = h->data;
  sl__free(h);
  xchg_unref(x);
}

static void timer_stop(xchg_t* x) {
  if (x->timer == NULL) return;
  uv_close((uv_handle_t*)x->timer, timer_closed);
  x->timer = NULL;
}

static void xchg_unref(xchg_t* x) {
  SL_ASSERT(x->refs > 0);
  if (--x->refs > 0) return;
  sl__tick_cancel(&x->tick);
  sl__parked_free(&x->parked);
  sl__free(x->head);
  sl__free(x->peer);
  sl__free(x->errctx);
  sl__free(x);
}

/* Inactivity: no byte from the server for timeout_ms while it is the
 * server's turn (a body paused by a slow reader does not count). */
static void on_timeout(uv_timer_t* h) {
  xchg_t* x = h->data;
  uint64_t now = uv_now(sl__loop());
  uint64_t idle_for = now - x->last_active;
  if (x->c != NULL && x->c->body_wait) {
    x->last_active = now;
    idle_for = 0;
  }
  if (idle_for < x->timeout_ms) {
    uv_timer_start(h, on_timeout, x->timeout_ms - idle_for, 0);
    return;
  }
  sl__client_fail(x, SL_ETIMEDOUT, "no response from %s in %llu ms", x->peer,
                  (unsigned long long)x->timeout_ms);
}

/* Leaves the pool's waiting list. */
static void xchg_unqueue(xchg_t* x) {
  if (!x->waiting) return;
  pool_t* p = x->pool;
  sl__queue_remove(&x->node);
  x->waiting = 0;
  x->pool = NULL;
  sl__pool_maybe_free(p);
}

/* The exchange's own reference goes. */
static void xchg_finish(xchg_t* x) {
  xchg_unqueue(x);
  timer_stop(x);
  xchg_unref(x);
}

void sl__client_fail(xchg_t* x, int err, const char* fmt, ...) {
  if (x->failed || x->done) return;
  x->failed = 1;
  x->err = err;
  va_list ap;
  va_start(ap, fmt);
  x->errctx = sl__vasprintf(fmt, ap);
  va_end(ap);
  sl__parked_free(&x->parked);
  xchg_unqueue(x);
  if (x->c != NULL) sl__client_conn_destroy(x->c);
  sl__tick_schedule(&x->tick);
}

/* The failure reaches the callback (if not called yet: with the response
 * if its head came, else with the error), the request stream (unless it
 * was all sent and answered) and the response stream (if not complete). */
static void deliver_failure(xchg_t* x) {
  const char* ctx = x->errctx != NULL ? x->errctx : "";
  x->delivered = 1;
  int answered = x->res != NULL && !x->res->m.s.destroyed;
  if (!x->cb_called) {
    x->cb_called = 1;
    if (answered)
      x->cb(0, &x->res->m.s, x->arg);
    else
      x->cb(x->err, NULL, x->arg);
  }
  if (x->req != NULL && !x->req->s.destroyed) {
    if (!x->req_done || !answered)
      sl_stream_fail(&x->req->s, x->err, "%s", ctx);
    else
      sl_stream_destroy(&x->req->s, 0);
  }
  if (x->res != NULL && !x->res->m.s.destroyed && !x->res_done)
    sl_stream_fail(&x->res->m.s, x->err, "%s", ctx);
  xchg_finish(x);
}

static void xchg_tick(sl__tick_t* t) {
  xchg_t* x = sl__container_of(t, xchg_t, tick);
  x->refs++;
  if (x->failed) {
    if (!x->delivered) deliver_failure(x);
  } else if (!x->done) {
    if (x->drained) body_drained(x);
    body_flush(x);
    if (x->res != NULL && !x->cb_called) {
      x->cb_called = 1;
      x->cb(0, &x->res->m.s, x->arg);
    }
    /* The request stream stays open (for errors) until answered. */
    if (x->req != NULL && x->req_done && x->cb_called && !x->req->s.destroyed)
      sl_stream_destroy(&x->req->s, 0);
    if (!x->failed && !x->done && x->req_done && x->res_done && x->cb_called) {
      x->done = 1;
      if (x->c != NULL) conn_release(x->c);
      xchg_finish(x);
    }
  }
  xchg_unref(x);
}

/* --- the head ----------------------------------------------------------- */

static int valid_token(const char* s) {
  if (*s == '\0') return 0;
  for (; *s; s++)
    if (*s <= ' ' || *s >= 127 || strchr("()<>@,;:\\\"/[]?={}", *s)) return 0;
  return 1;
}

/* Whether the "Name: value" line names `name`. */
static int line_is(const char* line, const char* name) {
  size_t n = strlen(name);
  return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

static const char* line_value(const char* line) {
  const char* v = strchr(line, ':') + 1;
  while (*v == ' ' || *v == '\t') v++;
  return v;
}

/* Appends the user's header lines to the head; notes framing and close. */
static int head_headers(xchg_t* x, const char* const* h, sl_buf_t* out,
                        int* has_host) {
  for (size_t i = 0; h != NULL && h[i] != NULL; i++) {
    const char* l = h[i];
    const char* colon = strchr(l, ':');
    if (colon == NULL || colon == l || strpbrk(l, "\r\n") != NULL)
      return SL_EINVAL;
    if (line_is(l, "Host")) *has_host = 1;
    if (line_is(l, "Content-Length")) x->user_len = 1;
    if (line_is(l, "Transfer-Encoding"))
      x->user_chunked = strcasestr(line_value(l), "chunked") != NULL;
    if (line_is(l, "Connection") && strcasestr(line_value(l), "close") != NULL)
      x->close = 1;
    if (sl_buf_printf(out, "%s\r\n", l) != 0) return SL_ENOMEM;
  }
  return 0;
}

static int build_head(xchg_t* x, const char* method, const sl__http_url_t* u,
                      const char* const* headers) {
  const char* slash = u->path_len > 0 && u->path[0] == '/' ? "" : "/";
  sl_buf_t h = {0};
  int has_host = 0;
  int rc = sl_buf_printf(&h, "%s %s%.*s HTTP/1.1\r\n", method, slash,
                         (int)u->path_len, u->path);
  if (rc == 0) rc = head_headers(x, headers, &h, &has_host);
  if (rc == 0 && !has_host)
    rc = sl_buf_printf(&h, "Host: %s\r\n", u->authority);
  if (rc == 0 && !x->close)
    rc = sl_buf_append_str(&h, "Connection: keep-alive\r\n");
  if (rc != 0) sl_buf_free(&h);
  x->head = sl_buf_detach(&h); /* NULL after a failure */
  return rc;
}

static xchg_t* xchg_new(const sl_http_request_opts_t* o,
                        const sl__http_url_t* u, sl_http_response_cb cb,
                        void* arg) {
  const char* method = o->method ? o->method : "GET";
  if (!valid_token(method)) return NULL;
  xchg_t* x = sl__calloc(1, sizeof *x);
  if (x == NULL) return NULL;
  x->refs = 1;
  x->cb = cb;
  x->arg = arg;
  x->hwm = o->high_water_mark ? o->high_water_mark : DEFAULT_HWM;
  x->is_head = strcmp(method, "HEAD") == 0;
  x->bodyless = method_bodyless(method);
  sl__tick_init(&x->tick, xchg_tick);
  x->peer = sl__asprintf("%s:%d", u->host, u->port);
  if (x->peer == NULL || build_head(x, method, u, o->headers) != 0) {
    xchg_unref(x);
    return NULL;
  }
  return x;
}

static void start_timer(xchg_t* x, uint64_t ms) {
  x->timer = sl__malloc(sizeof *x->timer);
  if (x->timer == NULL) return;
  uv_update_time(sl__loop()); /* the loop's clock may be stale here */
  uv_timer_init(sl__loop(), x->timer);
  x->timer->data = x;
  x->timeout_ms = ms;
  x->last_active = uv_now(sl__loop());
  x->refs++;
  uv_timer_start(x->timer, on_timeout, ms, 0);
}

sl_stream_t* sl_http_request(const sl_http_request_opts_t* o,
                             sl_http_response_cb cb, void* arg) {
  sl__http_url_t u;
  SL_ASSERT(o != NULL && cb != NULL);
  if (o->url == NULL || strncasecmp(o->url, "http://", 7) != 0 ||
      sl__http_parse_url(o->url, &u) != 0)
    return NULL;
  sl_http_agent_t* a = o->agent ? o->agent : sl__agent_default();
  if (a == NULL || a->closing) return NULL;
  xchg_t* x = xchg_new(o, &u, cb, arg);
  if (x == NULL) return NULL;
  sl_stream_opts_t so = {.hooks = &creq_hooks,
                         .high_water_mark = x->hwm,
                         .name = x->peer,
                         .no_auto_destroy = 1};
  creq_t* r = (creq_t*)sl__stream_new(SL__KIND_WRITABLE, &so, sizeof *r);
  if (r != NULL) r->s.errors_owned = 1; /* they reach the callback */
  pool_t* p = r != NULL ? sl__pool_get(a, u.host, u.port) : NULL;
  if (p == NULL) {
    if (r != NULL) sl_stream_destroy(&r->s, 0);
    xchg_unref(x);
    return NULL;
  }
  r->x = x;
  x->req = r;
  x->refs++;
  if (o->timeout_ms > 0) start_timer(x, o->timeout_ms);
  x->pool = p;
  x->waiting = 1;
  sl__queue_insert_tail(&p->waiting, &x->node);
  sl__pool_next(p);
  return &r->s;
}

int sl_http_status(const sl_stream_t* res) {
  SL_ASSERT(sl__http_is_msg(res));
  return ((const sl__http_msg_t*)res)->status;
}
