/* The server's response: a Writable whose writes go to the socket stream by
 * reference (no copies), behind a status line and headers sent with the
 * first write or at end. Framing is decided then: the Content-Length the
 * handler set, or one computed when the whole body came with end(), else
 * chunked (HTTP/1.1) or close-delimited (1.0); HEAD, 1xx, 204 and 304 send
 * no body. A response waits (its write parked) until the exchanges before
 * it on the connection are done. When its body is length-delimited it
 * offers the socket as a zero-copy sink, so a file piped into it goes out
 * with sendfile(2). */
#define _GNU_SOURCE
#include "http/server_int.h"

#include <stdarg.h>
#include <strings.h>
#include <time.h>

static const sl_stream_hooks_t res_hooks;

static res_t* res_of(sl_stream_t* s) {
  SL_ASSERT(s != NULL && s->hooks == &res_hooks);
  return (res_t*)s;
}

static conn_t* res_conn(res_t* r) {
  if (r->t == NULL || r->c == NULL || r->c->destroyed || r->c->sock == NULL)
    return NULL;
  return r->c;
}

/* --- the head ------------------------------------------------------------ */

/* A head is built with plain copies into a chunk sized for it up front
 * (the bound is summed before writing); no printf per line. */
typedef struct {
  char* p;
} hbuf_t;

static void hb_put(hbuf_t* b, const char* s, size_t n) {
  memcpy(b->p, s, n);
  b->p += n;
}

#define HB_LIT(b, lit) hb_put((b), (lit), sizeof(lit) - 1)

static void hb_u64(hbuf_t* b, uint64_t v) {
  b->p = sl__http_put_u64(b->p, v, 10);
}

static void hb_hex(hbuf_t* b, size_t v) {
  b->p = sl__http_put_u64(b->p, v, 16);
}

/* A line "Name: value" of the handler's, then CRLF. */
static void hb_line(hbuf_t* b, const char* line) {
  hb_put(b, line, strlen(line));
  HB_LIT(b, "\r\n");
}

/* Framing for a body of `total` bytes (-1: unknown yet). */
static void decide_framing(res_t* r, int64_t total) {
  txn_t* t = r->t;
  int st = r->status;
  r->no_body = t->is_head || st < 200 || st == 204 || st == 304;
  if (r->content_length >= 0 || st < 200 || st == 204) {
    /* as set (or none allowed) */
  } else if (r->user_chunked) {
    /* As set. A HEAD keeps the Transfer-Encoding (it says how the GET is
     * framed) but sends no chunk, not even the last. */
    r->chunked = !r->no_body;
  } else if (total >= 0 && st != 304 && !(t->is_head && total == 0)) {
    /* A HEAD answered with an empty end() says nothing about the length:
     * "Content-Length: 0" would claim the GET body is empty. A HEAD
     * answered with the GET's body gets that body's length, as in Node. */
    r->content_length = total;
  } else if (!r->no_body && t->minor >= 1) {
    r->chunked = 1;
  } else if (!r->no_body) {
    t->keep_alive = 0; /* HTTP/1.0: the close delimits the body */
  }
  if (r->user_close || r->c->closing) t->keep_alive = 0;
  /* Answered before asking for the body: the client may send it or not,
   * so the connection cannot carry another request. */
  if (t->expect_continue && !t->continue_sent && !t->req_done)
    t->keep_alive = 0;
}

static void on_head_written(sl_stream_t* sock, int err, void* arg) {
  res_t* r = arg;
  (void)sock;
  if (r->zc_wait && err == 0 && !r->s.destroyed) {
    r->zc_wait = 0;
    sl__zc_ready(&r->s);
  }
  sl_stream_unref(&r->s);
}

static void put_status(hbuf_t* b, int status) {
  const char* why = sl__http_reason(status);
  HB_LIT(b, "HTTP/1.1 ");
  hb_u64(b, (uint64_t)status);
  HB_LIT(b, " ");
  hb_put(b, why, strlen(why));
  HB_LIT(b, "\r\n");
}

/* The handler's lines; a bodiless status drops its framing headers.
 * Returns whether one of them is a Content-Length. */
static int put_user_lines(hbuf_t* b, const res_t* r, int bodiless) {
  int user_cl = 0;
  for (size_t i = 0; i < r->nhdrs; i++) {
    int cl = strncasecmp(r->hdrs[i], "content-length:", 15) == 0;
    user_cl |= cl;
    if (!bodiless ||
        (!cl && strncasecmp(r->hdrs[i], "transfer-encoding:", 18) != 0))
      hb_line(b, r->hdrs[i]);
  }
  return user_cl;
}

/* What the handler left to the server: Date, Connection (and Keep-Alive),
 * Content-Length, Transfer-Encoding. */
static void put_server_lines(hbuf_t* b, const res_t* r, int bodiless,
                             int user_cl) {
  const txn_t* t = r->t;
  if (!r->has_date) {
    size_t n;
    const char* date = sl__http_date_now(&n);
    HB_LIT(b, "Date: ");
    hb_put(b, date, n);
    HB_LIT(b, "\r\n");
  }
  if (!r->has_conn && t->keep_alive) {
    HB_LIT(b, "Connection: keep-alive\r\nKeep-Alive: timeout=");
    hb_u64(b, r->c->srv->o.keep_alive_timeout_ms / 1000);
    HB_LIT(b, "\r\n");
  } else if (!r->has_conn || (!t->keep_alive && !r->user_close)) {
    HB_LIT(b, "Connection: close\r\n");
  }
  if (r->content_length >= 0 && !user_cl && !bodiless) {
    HB_LIT(b, "Content-Length: ");
    hb_u64(b, (uint64_t)r->content_length);
    HB_LIT(b, "\r\n");
  }
  if (r->chunked && !r->user_chunked)
    HB_LIT(b, "Transfer-Encoding: chunked\r\n");
}

/* Room for a head: the status line, the handler's lines and HEAD_FIXED for
 * the server's own lines (under 200 bytes with the longest numbers). */
#define HEAD_FIXED 256
static size_t head_bound(const res_t* r) {
  size_t n = HEAD_FIXED + strlen(sl__http_reason(r->status));
  for (size_t i = 0; i < r->nhdrs; i++) n += strlen(r->hdrs[i]) + 2;
  return n;
}

/* A body up to this size that is ready with the head leaves in the head's
 * chunk: one write instead of two. */
#define HEAD_INLINE_MAX 1024

/* Sends the head. `body` (or NULL), the first body chunk, is copied into
 * it when small and the framing lets it; *merged (if not NULL) says so. */
static int send_head(res_t* r, int64_t total, sl_chunk_t* body, int* merged) {
  decide_framing(r, total);
  r->head_sent = 1;
  size_t blen = body != NULL ? sl_chunk_len(body) : 0;
  int inl = blen != 0 && blen <= HEAD_INLINE_MAX && !r->no_body && !r->chunked;
  if (merged != NULL) *merged = inl;
  sl_chunk_t* head = sl_chunk_new(head_bound(r) + (inl ? blen : 0));
  if (head == NULL) return SL_ENOMEM;
  hbuf_t b = {sl_chunk_data(head)};
  int bodiless = r->status < 200 || r->status == 204;
  put_status(&b, r->status);
  int user_cl = put_user_lines(&b, r, bodiless);
  put_server_lines(&b, r, bodiless, user_cl);
  HB_LIT(&b, "\r\n");
  if (inl) hb_put(&b, sl_chunk_data(body), blen);
  sl_chunk_set_len(head, (size_t)(b.p - sl_chunk_data(head)));
  sl_stream_ref(&r->s);
  int rc = sl_stream_write(r->c->sock, head, on_head_written, r);
  if (rc < 0) sl_stream_unref(&r->s);
  sl_chunk_unref(head);
  return rc;
}

/* --- body ---------------------------------------------------------------- */

static int write_chunked(res_t* r, sl_chunk_t* ch) {
  sl_stream_t* sock = r->c->sock;
  sl_chunk_t* line = sl_chunk_new(4 + 2 * sizeof(size_t));
  if (line == NULL) return SL_ENOMEM;
  hbuf_t b = {sl_chunk_data(line)};
  if (r->crlf_due) HB_LIT(&b, "\r\n");
  hb_hex(&b, sl_chunk_len(ch));
  HB_LIT(&b, "\r\n");
  sl_chunk_set_len(line, (size_t)(b.p - sl_chunk_data(line)));
  int rc = sl_stream_write(sock, line, NULL, NULL);
  sl_chunk_unref(line);
  if (rc < 0) return rc;
  r->crlf_due = 1;
  return sl_stream_write(sock, ch, NULL, NULL);
}

/* A length-delimited body must be exactly as long as it said: one byte
 * more would land in the next response on the connection, one byte less
 * would leave the client waiting (or reading the next response as body).
 * Both fail the response, which closes the connection without a clean end
 * (res_on_close). Node only checks with strictContentLength. */
static int res_overruns(res_t* r, sl_chunk_t** chunks, size_t n) {
  int st = r->status; /* before the head too: framing may not be decided */
  if (r->content_length < 0 || r->chunked || r->user_chunked || r->t->is_head ||
      st < 200 || st == 204 || st == 304)
    return 0;
  uint64_t more = 0;
  for (size_t i = 0; i < n; i++) more += sl_chunk_len(chunks[i]);
  if (r->body_bytes + more <= (uint64_t)r->content_length) return 0;
  sl_stream_fail(&r->s, SL_EMSGSIZE,
                 "response body longer than its Content-Length %" PRId64,
                 r->content_length);
  return 1;
}

static int res_falls_short(res_t* r) {
  if (r->content_length < 0 || r->chunked || r->no_body) return 0;
  if (r->body_bytes >= (uint64_t)r->content_length) return 0;
  sl_stream_fail(&r->s, SL_EUNEXPECTEDEOF,
                 "response ended after %" PRIu64
                 " of its Content-Length %" PRId64 " bytes",
                 r->body_bytes, r->content_length);
  return 1;
}

/* Sends a batch of body chunks (after the head, if not sent). */
static void res_send(res_t* r, sl_chunk_t** chunks, size_t n) {
  int rc = 1, merged = 0;
  /* Before the head: it may carry the first chunk with it. */
  if (res_overruns(r, chunks, n)) return;
  if (!r->head_sent) {
    int64_t total = -1;
    /* The whole body given to end() with nothing written before: its
     * length is known (Node does the same). */
    if (r->content_length < 0 && r->s.w.ending && n == 1 &&
        r->s.w.queue.count == 1)
      total = (int64_t)sl_chunk_len(chunks[0]);
    rc = send_head(r, total, n > 0 ? chunks[0] : NULL, &merged);
  }
  if (merged) r->body_bytes += sl_chunk_len(chunks[0]);
  for (size_t i = merged; i < n && rc >= 0 && !r->no_body; i++) {
    if (sl_chunk_len(chunks[i]) == 0) continue;
    r->body_bytes += sl_chunk_len(chunks[i]);
    if (r->chunked)
      rc = write_chunked(r, chunks[i]);
    else
      rc = sl_stream_write(r->c->sock, chunks[i], NULL, NULL);
  }
  if (rc < 0)
    sl_stream_write_done(&r->s, rc == SL_ENOMEM ? rc : SL_EPIPE);
  else if (rc == 0)
    r->wait_drain = 1; /* the socket is full: finish on its drain */
  else
    sl_stream_write_done(&r->s, 0);
}

/* The last chunk of a chunked body, with the trailers. */
static int send_last_chunk(res_t* r) {
  size_t bound = 7;
  for (size_t i = 0; i < r->ntrailers; i++) bound += strlen(r->trailers[i]) + 2;
  sl_chunk_t* end = sl_chunk_new(bound);
  if (end == NULL) return SL_ENOMEM;
  hbuf_t b = {sl_chunk_data(end)};
  if (r->crlf_due) HB_LIT(&b, "\r\n");
  HB_LIT(&b, "0\r\n");
  for (size_t i = 0; i < r->ntrailers; i++) hb_line(&b, r->trailers[i]);
  HB_LIT(&b, "\r\n");
  sl_chunk_set_len(end, (size_t)(b.p - sl_chunk_data(end)));
  int rc = sl_stream_write(r->c->sock, end, NULL, NULL);
  sl_chunk_unref(end);
  return rc;
}

static void res_finish(res_t* r) {
  int rc = 0;
  if (!r->head_sent)
    rc = send_head(r, r->content_length < 0 ? 0 : -1, NULL, NULL);
  if (rc >= 0 && res_falls_short(r)) return;
  if (rc >= 0 && r->chunked) rc = send_last_chunk(r);
  if (rc < 0) {
    sl_stream_final_done(&r->s, rc == SL_ENOMEM ? rc : SL_EPIPE);
    return;
  }
  sl_stream_final_done(&r->s, 0); /* res_on_close retires the exchange */
}

/* --- hooks --------------------------------------------------------------- */

static void res_writev(sl_stream_t* s, sl_chunk_t** chunks, size_t n) {
  res_t* r = (res_t*)s;
  if (res_conn(r) == NULL) {
    sl_stream_write_done(s, SL_ECONNRESET);
    return;
  }
  if (r->active) {
    res_send(r, chunks, n);
    return;
  }
  if (sl__park(&r->parked, chunks, n) != 0) sl_stream_write_done(s, SL_ENOMEM);
}

static void res_final(sl_stream_t* s) {
  res_t* r = (res_t*)s;
  if (res_conn(r) == NULL)
    sl_stream_final_done(s, SL_ECONNRESET);
  else if (r->active)
    res_finish(r);
  else
    r->parked_final = 1;
}

static void free_lines(char** v, size_t n) {
  for (size_t i = 0; i < n; i++) sl__free(v[i]);
  sl__free(v);
}

static void res_destroy(sl_stream_t* s, int err) {
  res_t* r = (res_t*)s;
  (void)err;
  sl__parked_free(&r->parked);
  free_lines(r->hdrs, r->nhdrs);
  free_lines(r->trailers, r->ntrailers);
  r->hdrs = r->trailers = NULL;
  r->nhdrs = r->ntrailers = 0;
  sl_stream_destroy_done(s);
}

/* Zero-copy sink: the socket itself, once the head is out and nothing is
 * queued on the socket, for a length-delimited body only. */
static int res_dst_fd(sl_stream_t* s, int64_t* pos, int* kind) {
  res_t* r = (res_t*)s;
  conn_t* c = res_conn(r);
  if (c == NULL) return SL_ENOTSUP;
  uv_stream_t* h = sl__uv_stream_handle(c->sock);
  if (h == NULL || r->t->is_head) return SL_ENOTSUP;
  if (!r->head_sent) {
    if (r->content_length < 0 || r->user_chunked) return SL_ENOTSUP;
    /* The head goes out from the connection's tick, so that headers the
     * handler sets right after sl_stream_pipe() are still in it. */
    r->zc_wait = 1;
    sl__tick_schedule(&c->tick);
    return SL_EAGAIN; /* on_head_written calls sl__zc_ready() */
  }
  if (r->chunked || r->no_body) return SL_ENOTSUP;
  if (!r->active) {
    r->zc_wait = 1; /* activation calls sl__zc_ready() */
    return SL_EAGAIN;
  }
  if (c->sock->w.queue.count != 0 || c->sock->w.writing) {
    /* An empty write completes after what is queued on the socket. */
    sl_chunk_t* mark = sl_chunk_new(0);
    if (mark == NULL) return SL_ENOMEM;
    r->zc_wait = 1;
    sl_stream_ref(&r->s);
    if (sl_stream_write(c->sock, mark, on_head_written, r) < 0)
      sl_stream_unref(&r->s);
    sl_chunk_unref(mark);
    return SL_EAGAIN;
  }
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t*)h, &fd) != 0) return SL_ENOTSUP;
  *pos = -1;
  *kind = SL__ZC_SOCKET;
  return fd;
}

static void res_advance(sl_stream_t* s, uint64_t n) {
  ((res_t*)s)->body_bytes += n;
}

/* What the Content-Length still allows: a zero-copy source that may hold
 * more must go through chunks, where res_overruns() sees the excess. */
static uint64_t res_budget(sl_stream_t* s) {
  res_t* r = (res_t*)s;
  if (r->content_length < 0) return UINT64_MAX;
  uint64_t cl = (uint64_t)r->content_length;
  return r->body_bytes >= cl ? 0 : cl - r->body_bytes;
}

static const sl__zc_ops_t res_zc = {
    .dst_fd = res_dst_fd,
    .advance = res_advance,
    .dst_budget = res_budget,
};

static const sl_stream_hooks_t res_hooks = {
    .writev = res_writev,
    .final = res_final,
    .destroy = res_destroy,
};

/* The exchange's response is over once its stream closed (so that its
 * finish and close listeners ran before the next exchange starts): done if
 * it finished, else the connection cannot go on. */
static void res_on_close(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  res_t* r = arg;
  (void)ev;
  conn_t* c = res_conn(r);
  if (c == NULL || r->t->dropped) return;
  if (s->w.finished)
    r->t->res_done = 1;
  else
    c->abort = 1;
  sl__tick_schedule(&c->tick);
}

res_t* sl__http_res_new(conn_t* c, txn_t* t) {
  sl_stream_opts_t o = {.hooks = &res_hooks,
                        .high_water_mark = c->srv->o.high_water_mark};
  res_t* r = (res_t*)sl__stream_new(SL__KIND_WRITABLE, &o, sizeof(res_t));
  if (r == NULL) return NULL;
  r->s.errors_owned =
      1; /* a client that goes away is not the program's error */
  r->s.peer_quiet = 1;
  r->s.zc = &res_zc;
  r->t = t;
  r->c = c;
  r->status = 200;
  r->content_length = -1;
  if (sl_stream_on(&r->s, SL_EV_CLOSE, res_on_close, r) != 0) {
    sl_stream_destroy(&r->s, SL_ENOMEM);
    return NULL;
  }
  return r;
}

void sl__http_res_activate(res_t* r) {
  txn_t* t = r->t;
  conn_t* c = r->c;
  if (r->s.destroyed) return;
  if (t->want_continue && !t->continue_sent && !r->head_sent) {
    t->continue_sent = 1;
    sl_chunk_t* ch = sl_chunk_str("HTTP/1.1 100 Continue\r\n\r\n");
    if (ch != NULL) sl_stream_write(c->sock, ch, NULL, NULL);
    sl_chunk_unref(ch);
  }
  if (r->active) {
    if (r->zc_wait && !r->head_sent) /* see res_dst_fd */
      send_head(r, -1, NULL, NULL);
    return;
  }
  r->active = 1;
  if (r->parked.n != 0) {
    sl__parked_t p = sl__parked_take(&r->parked);
    res_send(r, p.v, p.n);
    sl__parked_free(&p);
  }
  if (r->parked_final && !r->s.destroyed) {
    r->parked_final = 0;
    res_finish(r);
  }
  if (r->zc_wait && !r->s.destroyed) {
    if (!r->head_sent) {
      send_head(r, -1, NULL, NULL);
    } else {
      r->zc_wait = 0;
      sl__zc_ready(&r->s);
    }
  }
}

void sl__http_res_sock_drained(conn_t* c) {
  if (sl__queue_empty(&c->txns)) return;
  txn_t* t = sl__container_of(c->txns.next, txn_t, node);
  res_t* r = t->res;
  if (r != NULL && r->wait_drain) {
    r->wait_drain = 0;
    sl_stream_write_done(&r->s, 0);
  }
  if (r != NULL && r->zc_wait && !r->s.destroyed) {
    r->zc_wait = 0;
    sl__zc_ready(&r->s);
  }
}

/* --- setters ------------------------------------------------------------- */

static int valid_field(const char* name, const char* value) {
  if (name == NULL || value == NULL || name[0] == '\0') return 0;
  for (const char* p = name; *p; p++)
    if (*p <= ' ' || *p == ':' || *p == 127) return 0;
  return strpbrk(value, "\r\n") == NULL;
}

static void note_special(res_t* r, const char* name, const char* value) {
  if (strcasecmp(name, "content-length") == 0) {
    char* end;
    long long n = strtoll(value, &end, 10);
    if (end != value && *end == '\0' && n >= 0) r->content_length = n;
  } else if (strcasecmp(name, "transfer-encoding") == 0) {
    r->user_chunked = strcasestr(value, "chunked") != NULL;
  } else if (strcasecmp(name, "connection") == 0) {
    r->has_conn = 1;
    r->user_close = strcasestr(value, "close") != NULL;
  } else if (strcasecmp(name, "date") == 0) {
    r->has_date = 1;
  }
}

static int add_line(char*** v, size_t* n, const char* name, const char* value) {
  char* line = sl__asprintf("%s: %s", name, value);
  char** nv = line ? sl__realloc(*v, (*n + 1) * sizeof *nv) : NULL;
  if (nv == NULL) {
    sl__free(line);
    return SL_ENOMEM;
  }
  nv[(*n)++] = line;
  *v = nv;
  return 0;
}

static void remove_lines(res_t* r, const char* name) {
  size_t len = strlen(name), k = 0;
  for (size_t i = 0; i < r->nhdrs; i++) {
    if (strncasecmp(r->hdrs[i], name, len) == 0 && r->hdrs[i][len] == ':')
      sl__free(r->hdrs[i]);
    else
      r->hdrs[k++] = r->hdrs[i];
  }
  r->nhdrs = k;
}

int sl_http_set_status(sl_stream_t* res, int status) {
  res_t* r = res_of(res);
  if (r->head_sent) return SL_EBUSY;
  if (status < 100 || status > 999) return SL_EINVAL;
  r->status = status;
  return 0;
}

/* A response destroyed meanwhile (a client that left, one held with
 * sl_http_hold) takes no more headers: they would outlive its cleanup. */
static int res_gone(const res_t* r) {
  return r->s.destroyed ? (r->s.err ? r->s.err : SL_EDESTROYED) : 0;
}

int sl_http_add_header(sl_stream_t* res, const char* name, const char* value) {
  res_t* r = res_of(res);
  if (!valid_field(name, value)) return SL_EINVAL;
  if (r->head_sent) return SL_EBUSY;
  if (res_gone(r)) return res_gone(r);
  int rc = add_line(&r->hdrs, &r->nhdrs, name, value);
  if (rc == 0) note_special(r, name, value);
  return rc;
}

int sl_http_set_header(sl_stream_t* res, const char* name, const char* value) {
  res_t* r = res_of(res);
  if (!valid_field(name, value)) return SL_EINVAL;
  if (r->head_sent) return SL_EBUSY;
  remove_lines(r, name);
  if (strcasecmp(name, "content-length") == 0) r->content_length = -1;
  return sl_http_add_header(res, name, value);
}

int sl_http_add_trailer(sl_stream_t* res, const char* name, const char* value) {
  res_t* r = res_of(res);
  if (!valid_field(name, value)) return SL_EINVAL;
  if (r->s.w.final_called) return SL_EBUSY;
  if (res_gone(r)) return res_gone(r);
  return add_line(&r->trailers, &r->ntrailers, name, value);
}

int sl_http_headers_sent(const sl_stream_t* res) {
  return res_of((sl_stream_t*)res)->head_sent;
}

int sl_http_replyf(sl_stream_t* res, int status, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[512];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return SL_EINVAL;
  char* body = small;
  if ((size_t)n >= sizeof small) {
    body = sl__malloc((size_t)n + 1);
    if (body == NULL) return SL_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(body, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  int rc = sl_http_respond(res, status, "text/plain; charset=utf-8", body,
                           (size_t)n);
  if (body != small) sl__free(body);
  return rc;
}

int sl_http_respond(sl_stream_t* res, int status, const char* content_type,
                    const void* body, size_t len) {
  int rc = sl_http_set_status(res, status);
  if (rc == 0 && content_type != NULL)
    rc = sl_http_set_header(res, "Content-Type", content_type);
  char num[32];
  snprintf(num, sizeof num, "%zu", len);
  if (rc == 0) rc = sl_http_set_header(res, "Content-Length", num);
  if (rc != 0) return rc;
  sl_chunk_t* c = len ? sl_chunk_copy(body, len) : NULL;
  if (len && c == NULL) return SL_ENOMEM;
  rc = sl_stream_end(res, c, NULL, NULL);
  sl_chunk_unref(c);
  return rc;
}

int sl_http_set_headerf(sl_stream_t* res, const char* name, const char* fmt,
                        ...) {
  va_list ap;
  va_start(ap, fmt);
  char* value = sl__vasprintf(fmt, ap);
  va_end(ap);
  if (value == NULL) return SL_ENOMEM;
  int rc = sl_http_set_header(res, name, value);
  sl__free(value);
  return rc;
}
