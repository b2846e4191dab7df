/* The opening handshake (RFC 6455 4) on both sides, and the WebSocket
 * server built on the HTTP server's upgrade hook.
 *
 * Server: sl_ws_accept() checks the request, picks the subprotocol and the
 * extensions, writes the 101 and makes the stream over the socket the HTTP
 * server handed over. sl_ws_listen() is an HTTP server whose upgrades all
 * go there, with a connection limit and a verify callback.
 *
 * Client: sl_ws_connect() returns the stream at once; a handshake state
 * (hs_t) connects, sends the request, reads the response head (at most
 * MAX_HEAD bytes) and checks it, then gives the socket to the stream. The
 * stream owns the state while it lasts: destroying the stream cancels it. */
#include <strings.h>
#include <sys/random.h>

#include "http/server_int.h"
#include "ws/ws_int.h"

#define MAX_HEAD             (16 * 1024)
#define DEFAULT_HANDSHAKE_MS 10000

/* --- header helpers ------------------------------------------------------- */

/* 1 when the comma-separated list `v` holds `token` (case-insensitive). */
static int has_token(const char* v, const char* token) {
  size_t tl = strlen(token);
  while (v != NULL && *v != '\0') {
    while (*v == ' ' || *v == '\t' || *v == ',') v++;
    size_t n = strcspn(v, ",");
    size_t e = n;
    while (e > 0 && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
    if (e == tl && strncasecmp(v, token, tl) == 0) return 1;
    v += n;
  }
  return 0;
}

static int key_valid(const char* k) {
  if (k == NULL || strlen(k) != 24 || strcmp(k + 22, "==") != 0) return 0;
  for (int i = 0; i < 22; i++)
    if (!((k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= 'a' && k[i] <= 'z') ||
          (k[i] >= '0' && k[i] <= '9') || k[i] == '+' || k[i] == '/'))
      return 0;
  return 1;
}

/* The first of the server's protocols that the client offered. */
static const char* choose_protocol(const char* const* ours,
                                   const char* offered) {
  for (size_t i = 0; ours != NULL && ours[i] != NULL; i++)
    if (has_token(offered, ours[i])) return ours[i];
  return NULL;
}

/* --- server ---------------------------------------------------------------- */

static void on_refused_end(sl_stream_t* s, int err, void* arg) {
  (void)err;
  (void)arg;
  sl_stream_destroy(s, 0);
}

static void refuse(sl_stream_t* sock, int status, const char* extra,
                   const char* body) {
  if (body == NULL) body = sl__http_reason(status);
  sl_chunk_t* c = sl_chunk_printf(
      "HTTP/1.1 %d %s\r\nConnection: close\r\n%sContent-Type: text/plain; "
      "charset=utf-8\r\nContent-Length: %zu\r\n\r\n%s",
      status, sl__http_reason(status), extra ? extra : "", strlen(body), body);
  if (c != NULL) sl_stream_write(sock, c, NULL, NULL);
  sl_chunk_unref(c);
  sock->errors_owned = 1;
  if (sl_stream_end(sock, NULL, on_refused_end, NULL) != 0)
    sl_stream_destroy(sock, 0);
}

void sl_ws_refuse(sl_stream_t* sock, int status, const char* body) {
  refuse(sock, status, NULL, body);
}

sl_stream_t* sl_ws_accept(sl_stream_t* req, sl_stream_t* sock, sl_chunk_t* head,
                          const sl_ws_opts_t* o) {
  sl_ws_opts_t d = {0};
  if (o == NULL) o = &d;
  const char* key = sl_http_header(req, "sec-websocket-key");
  const char* ver = sl_http_header(req, "sec-websocket-version");
  if (strcmp(sl_http_method(req), "GET") != 0 ||
      sl_http_version_minor(req) != 1 ||
      !has_token(sl_http_header(req, "upgrade"), "websocket") ||
      !has_token(sl_http_header(req, "connection"), "upgrade")) {
    refuse(sock, 400, NULL, "not a WebSocket upgrade request\n");
    return NULL;
  }
  if (ver == NULL || strcmp(ver, "13") != 0) {
    refuse(sock, 426, "Sec-WebSocket-Version: 13\r\n",
           "WebSocket version 13 only\n");
    return NULL;
  }
  if (!key_valid(key)) {
    refuse(sock, 400, NULL, "bad Sec-WebSocket-Key\n");
    return NULL;
  }
  const char* offered = sl_http_header(req, "sec-websocket-protocol");
  const char* proto = NULL;
  if (offered != NULL && o->protocols != NULL) {
    proto = choose_protocol(o->protocols, offered);
    if (proto == NULL || strlen(proto) >= 64) {
      refuse(sock, 400, NULL, "no subprotocol in common\n");
      return NULL;
    }
  }
  sl__ws_pmd_t pmd;
  char ext[200] = "";
  int pm = sl__ws_pmd_accept(o, sl_http_header(req, "sec-websocket-extensions"),
                             &pmd, ext, sizeof ext);
  if (pm < 0) {
    refuse(sock, 400, NULL, "bad Sec-WebSocket-Extensions\n");
    return NULL;
  }
  char accept[29];
  sl__ws_accept_key(key, strlen(key), accept);
  sl_buf_t b = {0};
  int rc = sl_buf_printf(&b,
                         "HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\n",
                         accept);
  if (rc == 0 && proto != NULL)
    rc = sl_buf_printf(&b, "Sec-WebSocket-Protocol: %s\r\n", proto);
  if (rc == 0 && pm > 0)
    rc = sl_buf_printf(&b, "Sec-WebSocket-Extensions: %s\r\n", ext);
  for (size_t i = 0; rc == 0 && o->headers != NULL && o->headers[i]; i++)
    if (strpbrk(o->headers[i], "\r\n") == NULL)
      rc = sl_buf_printf(&b, "%s\r\n", o->headers[i]);
  if (rc == 0) rc = sl_buf_append_str(&b, "\r\n");
  sl_chunk_t* c = rc == 0 ? sl_buf_chunk(&b) : NULL;
  sl_buf_free(&b);
  if (c == NULL) {
    sl_stream_destroy(sock, SL_ENOMEM);
    return NULL;
  }
  sl_stream_write(sock, c, NULL, NULL);
  sl_chunk_unref(c);
  return sl__ws_new(sock, 0, o, proto, &pmd, pm > 0 ? ext : "", req, head);
}

/* The state of sl_ws_listen(): its HTTP server and each open connection
 * hold a reference, since connections outlive a closed server (as Node's
 * do). */
typedef struct {
  sl_ws_server_opts_t o;
  sl_ws_cb cb;
  void* arg;
  size_t nconns;
  int server_gone;
} wss_t;

static void wss_release(wss_t* w) {
  if (w->server_gone && w->nconns == 0) sl__free(w);
}

static void wss_conn_gone(void* arg) {
  wss_t* w = arg;
  w->nconns--;
  wss_release(w);
}

static void wss_server_freed(void* arg) {
  wss_t* w = arg;
  w->server_gone = 1;
  wss_release(w);
}

static void wss_upgrade(sl_stream_t* req, sl_stream_t* sock, sl_chunk_t* head,
                        void* arg) {
  wss_t* w = arg;
  size_t max = w->o.max_connections ? w->o.max_connections : 10000;
  if (w->nconns >= max) {
    refuse(sock, 503, "Retry-After: 1\r\n", "too many WebSocket connections\n");
    return;
  }
  int status = w->o.verify != NULL ? w->o.verify(req, w->arg) : 0;
  if (status != 0) {
    refuse(sock, status >= 400 && status <= 599 ? status : 403, NULL, NULL);
    return;
  }
  sl_ws_opts_t o = w->o.ws;
  o.keep_request = 1; /* for the callback at least */
  sl_stream_t* ws = sl_ws_accept(req, sock, head, &o);
  if (ws == NULL) return;
  w->nconns++;
  sl__ws_set_owner(ws, w, wss_conn_gone);
  sl_stream_ref(ws);
  w->cb(ws, w->arg);
  if (!w->o.ws.keep_request) sl__ws_drop_request(ws);
  sl_stream_unref(ws);
}

static void wss_http(sl_stream_t* req, sl_stream_t* res, void* arg) {
  wss_t* w = arg;
  if (w->o.http_handler != NULL) {
    w->o.http_handler(req, res, w->arg);
    return;
  }
  sl_http_set_status(res, 426);
  sl_http_set_header(res, "Upgrade", "websocket");
  sl_http_set_header(res, "Content-Type", "text/plain; charset=utf-8");
  sl_stream_end_str(res, "this is a WebSocket server\n");
}

int sl_ws_listen(const sl_ws_server_opts_t* o, sl_ws_cb cb, void* arg,
                 sl_http_server_t** out) {
  SL_ASSERT(cb != NULL);
  sl_http_server_t* dummy;
  if (out == NULL) out = &dummy;
  *out = NULL;
  wss_t* w = sl__calloc(1, sizeof *w);
  if (w == NULL) return SL_ENOMEM;
  if (o != NULL) w->o = *o;
  w->cb = cb;
  w->arg = arg;
  sl_http_server_opts_t ho = w->o.http;
  ho.on_upgrade = wss_upgrade;
  int rc = sl_http_listen(&ho, wss_http, w, out);
  if (rc != 0) {
    sl__free(w);
    return rc;
  }
  (*out)->on_free = wss_server_freed;
  (*out)->free_arg = w;
  return 0;
}

/* --- client ---------------------------------------------------------------- */

typedef struct {
  sl_stream_t* ws;
  sl_stream_t* sock;
  sl_buf_t head; /* the response as it arrives */
  char accept[29];
  char* url;
  char** protocols; /* offered, copied */
  sl_ws_opts_t o;   /* scalars only (protocols and headers not kept) */
  uv_timer_t* timer;
} hs_t;

static void hs_timer_closed(uv_handle_t* h) { sl__free(h); }

static void hs_free(hs_t* h) {
  if (h->timer != NULL) {
    uv_close((uv_handle_t*)h->timer, hs_timer_closed);
    h->timer = NULL;
  }
  for (size_t i = 0; h->protocols != NULL && h->protocols[i]; i++)
    sl__free(h->protocols[i]);
  sl__free(h->protocols);
  sl_buf_free(&h->head);
  sl__free(h->url);
  sl__free(h);
}

static void hs_on_sock(sl_stream_t* s, const sl_event_t* ev, void* arg);

static void hs_unlisten(hs_t* h) {
  static const sl_event_type_t t[] = {SL_EV_DATA, SL_EV_END, SL_EV_ERROR,
                                      SL_EV_CLOSE};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    sl_stream_off(h->sock, t[i], hs_on_sock, h);
}

/* The stream went away during the handshake. */
static void hs_cancel(void* arg) {
  hs_t* h = arg;
  hs_unlisten(h);
  sl_stream_destroy(h->sock, 0);
  sl_stream_unref(h->sock);
  hs_free(h);
}

static void hs_fail(hs_t* h, int err, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void hs_fail(hs_t* h, int err, const char* fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sl_stream_t* ws = h->ws;
  hs_unlisten(h);
  sl_stream_destroy(h->sock, 0);
  sl_stream_unref(h->sock);
  hs_free(h);
  sl__ws_fail_handshake(ws, err, msg);
}

/* The value of header `name` in the response head (lines after the status
 * line), copied into out; NULL when absent. Repeated ones are joined. */
static const char* head_header(const char* head, const char* name, char* out,
                               size_t cap) {
  size_t nl = strlen(name), used = 0;
  const char* p = strstr(head, "\r\n");
  int found = 0;
  out[0] = '\0';
  while (p != NULL && p[2] != '\r' && p[2] != '\0') {
    const char* line = p + 2;
    const char* end = strstr(line, "\r\n");
    if (end == NULL) break;
    if ((size_t)(end - line) > nl && line[nl] == ':' &&
        strncasecmp(line, name, nl) == 0) {
      const char* v = line + nl + 1;
      while (*v == ' ' || *v == '\t') v++;
      size_t vl = (size_t)(end - v);
      while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
      int n = snprintf(out + used, cap - used, "%s%.*s", found ? ", " : "",
                       (int)vl, v);
      if (n > 0 && (size_t)n < cap - used) used += (size_t)n;
      found = 1;
    }
    p = end;
  }
  return found ? out : NULL;
}

static void hs_check(hs_t* h, size_t head_len) {
  char* r = h->head.data;
  r[head_len - 2] = '\0'; /* keep the last line's CRLF, drop the blank one */
  int status = 0;
  char reason[64] = "";
  if (sscanf(r, "HTTP/1.1 %3d %63[^\r\n]", &status, reason) < 1) {
    hs_fail(h, SL_EPROTO,
            "WebSocket handshake with %s: not an HTTP/1.1 "
            "response",
            h->url);
    return;
  }
  if (status != 101) {
    hs_fail(h, SL_EPROTO,
            "WebSocket handshake with %s: unexpected status %d %s", h->url,
            status, reason);
    return;
  }
  char v[512];
  if (!has_token(head_header(r, "upgrade", v, sizeof v), "websocket") ||
      !has_token(head_header(r, "connection", v, sizeof v), "upgrade")) {
    hs_fail(h, SL_EPROTO,
            "WebSocket handshake with %s: a 101 without "
            "Upgrade: websocket",
            h->url);
    return;
  }
  const char* acc = head_header(r, "sec-websocket-accept", v, sizeof v);
  if (acc == NULL || strcmp(acc, h->accept) != 0) {
    hs_fail(h, SL_EPROTO,
            "WebSocket handshake with %s: wrong "
            "Sec-WebSocket-Accept",
            h->url);
    return;
  }
  char proto[128] = "";
  const char* p = head_header(r, "sec-websocket-protocol", v, sizeof v);
  if (p != NULL) {
    int ok = 0;
    for (size_t i = 0; h->protocols != NULL && h->protocols[i]; i++)
      if (strcmp(h->protocols[i], p) == 0) ok = 1;
    if (!ok) {
      hs_fail(h, SL_EPROTO,
              "WebSocket handshake with %s: the server chose "
              "subprotocol '%s', which was not offered",
              h->url, p);
      return;
    }
    snprintf(proto, sizeof proto, "%s", p);
  } else if (h->protocols != NULL) {
    hs_fail(h, SL_EPROTO,
            "WebSocket handshake with %s: the server chose "
            "no subprotocol",
            h->url);
    return;
  }
  sl__ws_pmd_t pmd;
  char ext[256] = "";
  const char* e = head_header(r, "sec-websocket-extensions", v, sizeof v);
  if (sl__ws_pmd_check(&h->o, e, &pmd) != 0) {
    hs_fail(h, SL_EPROTO,
            "WebSocket handshake with %s: extensions not "
            "offered or malformed: %s",
            h->url, e);
    return;
  }
  if (e != NULL) snprintf(ext, sizeof ext, "%s", e);
  /* The stream takes the socket and what followed the head. */
  sl_chunk_t* rest = NULL;
  if (h->head.len > head_len)
    rest = sl_chunk_copy(h->head.data + head_len, h->head.len - head_len);
  sl_stream_t* ws = h->ws;
  sl_stream_t* sock = h->sock;
  hs_unlisten(h);
  sl_stream_pause(sock);
  hs_free(h);
  sl__ws_open(ws, sock, proto, &pmd, ext, rest);
  sl_stream_unref(sock);
  sl_chunk_unref(rest);
}

static void hs_on_sock(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  hs_t* h = arg;
  switch (ev->type) {
    case SL_EV_DATA: {
      if (sl_buf_append(&h->head, sl_chunk_data(ev->chunk),
                        sl_chunk_len(ev->chunk)) != 0) {
        hs_fail(h, SL_ENOMEM, "WebSocket handshake with %s: out of memory",
                h->url);
        return;
      }
      char* end = strstr(h->head.data, "\r\n\r\n");
      if (end != NULL) {
        hs_check(h, (size_t)(end - h->head.data) + 4);
      } else if (h->head.len > MAX_HEAD ||
                 memchr(h->head.data, '\0', h->head.len) != NULL) {
        hs_fail(h, SL_EPROTO,
                "WebSocket handshake with %s: a response head "
                "over %d bytes",
                h->url, MAX_HEAD);
      }
      return;
    }
    case SL_EV_ERROR:
      hs_fail(h, ev->err, "WebSocket %s: %s", h->url,
              ev->message ? ev->message : sl_strerror(ev->err));
      return;
    case SL_EV_END:
    case SL_EV_CLOSE:
      hs_fail(h, SL_ECONNRESET,
              "WebSocket handshake with %s: the connection closed before "
              "the 101",
              h->url);
      return;
    default:
      return;
  }
}

static void hs_on_timeout(uv_timer_t* t) {
  hs_t* h = t->data;
  hs_fail(
      h, SL_ETIMEDOUT, "WebSocket handshake with %s: no 101 within %llu ms",
      h->url,
      (unsigned long long)(h->o.handshake_timeout_ms ? h->o.handshake_timeout_ms
                                                     : DEFAULT_HANDSHAKE_MS));
}

sl_stream_t* sl_ws_connect(const char* url, const sl_ws_opts_t* o) {
  sl_ws_opts_t d = {0};
  if (o == NULL) o = &d;
  sl__http_url_t u;
  if (url == NULL || sl__http_parse_url(url, &u) != 0) return NULL;
  hs_t* h = sl__calloc(1, sizeof *h);
  if (h == NULL) return NULL;
  h->o = *o;
  h->o.protocols = NULL;
  h->o.headers = NULL;
  h->o.origin = NULL;
  h->url = sl__strdup(url);
  unsigned char raw[16];
  if (getrandom(raw, sizeof raw, 0) != sizeof raw)
    for (size_t i = 0; i < sizeof raw; i++)
      raw[i] = (unsigned char)(sl_hrtime() >> (i % 8));
  char key[25];
  sl__base64(raw, sizeof raw, key);
  sl__ws_accept_key(key, 24, h->accept);
  size_t np = 0;
  while (o->protocols != NULL && o->protocols[np] != NULL) np++;
  if (np > 0) {
    h->protocols = sl__calloc(np + 1, sizeof *h->protocols);
    for (size_t i = 0; h->protocols != NULL && i < np; i++)
      h->protocols[i] = sl__strdup(o->protocols[i]);
  }
  sl_buf_t b = {0};
  int rc = h->url == NULL || (np > 0 && h->protocols == NULL) ? SL_ENOMEM : 0;
  if (rc == 0)
    rc = sl_buf_printf(&b,
                       "GET %s%.*s HTTP/1.1\r\nHost: %s\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
                       u.path[0] == '/' ? "" : "/", (int)u.path_len, u.path,
                       u.authority, key);
  for (size_t i = 0; rc == 0 && i < np; i++)
    rc = sl_buf_printf(&b, "%s%s%s", i == 0 ? "Sec-WebSocket-Protocol: " : "",
                       o->protocols[i], i + 1 < np ? ", " : "\r\n");
  if (rc == 0 && o->deflate)
    rc = sl_buf_printf(&b, "Sec-WebSocket-Extensions: %s\r\n",
                       sl__ws_pmd_offer(o));
  if (rc == 0 && o->origin != NULL && strpbrk(o->origin, "\r\n") == NULL)
    rc = sl_buf_printf(&b, "Origin: %s\r\n", o->origin);
  for (size_t i = 0; rc == 0 && o->headers != NULL && o->headers[i]; i++)
    if (strpbrk(o->headers[i], "\r\n") == NULL)
      rc = sl_buf_printf(&b, "%s\r\n", o->headers[i]);
  if (rc == 0) rc = sl_buf_append_str(&b, "\r\n");
  char name[300];
  snprintf(name, sizeof name, "%s", u.authority);
  sl_stream_t* ws = rc == 0 ? sl__ws_new_pending(o, name) : NULL;
  sl_tcp_opts_t to = {.no_delay = 1,
                      .high_water_mark = o->high_water_mark
                                             ? o->high_water_mark
                                             : SL__WS_DEFAULT_HWM};
  h->sock = ws != NULL ? sl_tcp_connect(u.host, u.port, &to) : NULL;
  sl_chunk_t* req = h->sock != NULL ? sl_buf_chunk(&b) : NULL;
  sl_buf_free(&b);
  if (req == NULL) {
    if (h->sock != NULL) sl_stream_destroy(h->sock, 0);
    if (ws != NULL) sl_stream_destroy(ws, 0);
    h->sock = NULL;
    hs_free(h);
    return NULL;
  }
  h->ws = ws;
  sl_stream_ref(h->sock);
  h->sock->errors_owned = 1;
  static const sl_event_type_t t[] = {SL_EV_DATA, SL_EV_END, SL_EV_ERROR,
                                      SL_EV_CLOSE};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    sl_stream_on(h->sock, t[i], hs_on_sock, h);
  sl_stream_write(h->sock, req, NULL, NULL);
  sl_chunk_unref(req);
  h->timer = sl__malloc(sizeof *h->timer);
  if (h->timer != NULL) {
    uv_timer_init(sl__loop(), h->timer);
    h->timer->data = h;
    uv_timer_start(h->timer, hs_on_timeout,
                   o->handshake_timeout_ms ? o->handshake_timeout_ms
                                           : DEFAULT_HANDSHAKE_MS,
                   0);
    uv_unref((uv_handle_t*)h->timer);
  }
  sl__ws_set_owner(ws, h, hs_cancel);
  return ws;
}
