/* The HTTP/1.1 server: connections from the stream layer's listener
 * (listen.c, held back at max_connections), over socket streams, llhttp driven
 * from the socket's data events, the request-smuggling checks llhttp 8.1 lacks,
 * the limits (431, 413, 408, idle keep-alive, pipelining depth), and graceful
 * close. A connection keeps its exchanges (request + response) in order;
 * the head one's response writes to the socket, later ones park theirs.
 * All decisions about a connection are taken in one place, conn_process(),
 * run from a tick, so no handler or stream callback runs inside another's
 * call. The response stream lives in server_res.c. */
#include "http/server_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <strings.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void conn_process(sl__tick_t* t);
static void conn_feed(conn_t* c);
static void conn_destroy(conn_t* c);
static void on_sock_event(sl_stream_t* s, const sl_event_t* ev, void* arg);
static void on_sock_data(sl_stream_t* s, const sl_event_t* ev, void* arg);
static void server_maybe_done(sl_http_server_t* srv);
static void sweep_start(sl_http_server_t* srv);

/* --- exchanges ------------------------------------------------------------ */

static void req_on_read(sl__http_msg_t* m);
static void req_destroy_hook(sl_stream_t* s, int err);

static const sl_stream_hooks_t req_hooks = {
    .read = sl__http_msg_read,
    .destroy = req_destroy_hook,
};

/* The method is llhttp's constant; url, path and the header fields live
 * in the request itself (req_new). */
static void req_destroy_hook(sl_stream_t* s, int err) {
  sl__http_msg_t* m = (sl__http_msg_t*)s;
  (void)err;
  m->method = m->url = m->path = NULL;
  sl__http_msg_free(m);
  sl_stream_destroy_done(s);
}

/* The handler reads: send 100 Continue if asked, and let a parser paused
 * on a full body buffer go on (from the connection's tick). */
static void req_on_read(sl__http_msg_t* m) {
  req_t* r = (req_t*)m;
  txn_t* t = r->t;
  if (t == NULL || t->c == NULL) return;
  t->want_continue = t->expect_continue;
  sl__tick_schedule(&t->c->tick);
}

void sl__http_txn_unlink(txn_t* t) {
  if (t->req != NULL) {
    t->req->t = NULL;
    sl_stream_unref(&t->req->m.s);
  }
  if (t->res != NULL) {
    t->res->t = NULL;
    sl_stream_unref(&t->res->s);
  }
  t->req = NULL;
  t->res = NULL;
}

/* A connection keeps one freed exchange for its next request. */
static void txn_free(txn_t* t) {
  sl__http_txn_unlink(t);
  conn_t* c = t->c;
  if (c != NULL && !c->destroyed && c->spare == NULL)
    c->spare = t;
  else
    sl__free(t);
}

/* Copies `s` for a log line, as nginx escapes: '"', '\\' and bytes
 * outside printable ASCII become \xHH, so that one line is one entry
 * whatever the client sent. */
static void log_escape(char* out, size_t cap, const char* s) {
  size_t o = 0;
  for (; *s != '\0' && o + 5 < cap; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
      out[o++] = (char)ch;
    else
      o += (size_t)snprintf(out + o, cap - o, "\\x%02X", ch);
  }
  out[o] = '\0';
}

/* `s` as one JSON string, quotes included, by the escaper IPC uses (so
 * UTF-8 stays readable and ill-formed bytes become U+FFFD), in at most
 * cap - 1 bytes: a longer value is cut (at fewer input bytes) rather than
 * the line. "" when memory runs out. */
static void log_json(char* out, size_t cap, const char* s) {
  size_t n = strlen(s);
  sl_buf_t b = {0};
  for (;;) {
    sl_buf_reset(&b);
    if (sl_buf_json_str(&b, s, n) != 0) {
      snprintf(out, cap, "\"\"");
      break;
    }
    if (b.len < cap) {
      memcpy(out, b.data, b.len + 1);
      break;
    }
    n = n * (cap - 1) / b.len; /* shrinks at least by the overflow's share */
    if (n > 0) n--;
  }
  sl_buf_free(&b);
}

/* The client's address without the port: "[::1]:5000" -> "::1",
 * "10.0.0.1:5000" -> "10.0.0.1"; a bare address (from X-Forwarded-For)
 * stays as it is. */
static void log_host(char* out, size_t cap, const char* remote) {
  const char* colon = strchr(remote, ':');
  size_t n = strlen(remote);
  if (remote[0] == '[') {
    remote++;
    n = strcspn(remote, "]");
  } else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
    n = (size_t)(colon - remote);
  }
  snprintf(out, cap, "%.*s", (int)n, remote);
}

/* One line per exchange in the server's format; `why` marks one the
 * connection cut short (its client saw no complete response): JSON says
 * it, the sluice format appends it, combined keeps the fields log tools
 * parse (nginx's combined has no such field either). A request rejected
 * before its head was whole has no method: its request is "-". */
static void access_log(sl_http_server_t* srv, const txn_t* t, int status,
                       uint64_t bytes, const char* why) {
  double ms = (double)(sl_hrtime() - t->start_ns) / 1e6;
  int fmt = srv->o.access_log_format;
  int json = fmt == SL_ACCESS_LOG_JSON;
  /* Budgets that keep the escaped fields together under the log's 2 KiB
   * line (an escaped byte takes up to 6; log_json cuts a value to fit): a
   * line is never cut. */
  char host[64], url[640], ref[400], ua[400], when[64], line[sizeof url + 48],
      reason[200] = "";
  if (json)
    log_json(url, sizeof url, t->url_log);
  else
    log_escape(url, sizeof url, t->url_log);
  if (t->method[0] != '\0')
    snprintf(line, sizeof line, "%s %s HTTP/1.%d", t->method, url, t->minor);
  else
    snprintf(line, sizeof line, "-");
  if (why != NULL && json)
    log_json(reason, sizeof reason, why);
  else if (why != NULL)
    log_escape(reason, sizeof reason, why);
  if (fmt == SL_ACCESS_LOG_SLUICE) {
    sl__access_log_printf(srv->alog, "%s \"%s\" %d %" PRIu64 " %.3fms%s%s\n",
                          t->remote, line, status, bytes, ms,
                          why ? " aborted: " : "", reason);
    return;
  }
  struct tm tm;
  log_host(host, sizeof host, t->remote);
  if (json) {
    log_json(ref, sizeof ref, t->referer);
    log_json(ua, sizeof ua, t->ua);
  } else {
    log_escape(ref, sizeof ref, t->referer);
    log_escape(ua, sizeof ua, t->ua);
  }
  gmtime_r(&t->wall.tv_sec, &tm);
  if (!json) {
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    sl__access_log_printf(
        srv->alog, "%s - - [%s] \"%s\" %d %" PRIu64 " \"%s\" \"%s\"\n", host,
        when, line, status, bytes, ref[0] ? ref : "-", ua[0] ? ua : "-");
    return;
  }
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  sl__access_log_printf(
      srv->alog,
      "{\"time\":\"%s.%03ldZ\",\"remote\":\"%s\",\"method\":\"%s\","
      "\"url\":%s,\"version\":\"1.%d\",\"status\":%d,\"bytes\":%" PRIu64
      ",\"ms\":%.3f,\"referer\":%s,\"user_agent\":%s%s%s}\n",
      when, t->wall.tv_nsec / 1000000, host, t->method, url, t->minor, status,
      bytes, ms, ref, ua, why ? ",\"aborted\":" : "", reason);
}

static void access_log_txn(sl_http_server_t* srv, const txn_t* t,
                           const char* why) {
  const res_t* r = t->res;
  access_log(srv, t, r ? r->status : 0, r ? r->body_bytes : 0, why);
}

/* Every exchange counts in the load figures (/metrics), logged or not. */
static void txn_observe(const txn_t* t) {
  const res_t* r = t->res;
  if (!t->c->srv->o.unmetered)
    sl__load_observe(r ? r->status : 0, r ? r->body_bytes : 0,
                     sl_hrtime() - t->begin_ns);
}

/* A request answered with an error before (or instead of) its handler:
 * logged as nginx logs its 400s, with what of the request had parsed. */
static void access_log_reject(conn_t* c, int status) {
  txn_t t = {.minor = c->p.http_minor};
  t.start_ns = c->head_ns ? c->head_ns : sl_hrtime();
  clock_gettime(CLOCK_REALTIME, &t.wall);
  memcpy(t.remote, c->remote, sizeof t.remote);
  if (c->line_done) {
    snprintf(t.method, sizeof t.method, "%s",
             llhttp_method_name((llhttp_method_t)c->p.method));
    snprintf(t.url_log, sizeof t.url_log, "%.*s", (int)c->url.len, c->url.data);
  }
  access_log(c->srv, &t, status, 0, NULL);
}

/* --- parsing: llhttp callbacks ------------------------------------------- */

static conn_t* conn_of(llhttp_t* p) { return p->data; }

static int user_error(conn_t* c, int status) {
  c->user_status = status;
  return HPE_USER;
}

static int count_header_bytes(conn_t* c, size_t n) {
  c->hdr_bytes += n;
  return c->hdr_bytes > c->srv->o.max_header_size;
}

static int on_message_begin(llhttp_t* p) {
  conn_t* c = conn_of(p);
  if (c->srv->o.access_log) c->head_ns = sl_hrtime();
  c->hdr_bytes = 0;
  c->body_bytes = 0;
  c->user_status = 0;
  sl_buf_reset(&c->url);
  sl__http_lines_begin(&c->lines);
  c->mid_message = 1;
  c->line_done = 0;
  sl__http_hdrs_reset(&c->hdrs);
  sl__http_conn_timer(c, SL__TIMER_HEADERS);
  return 0;
}

static int on_url(llhttp_t* p, const char* at, size_t n) {
  conn_t* c = conn_of(p);
  if (count_header_bytes(c, n)) return user_error(c, 431);
  sl__http_lines_url(&c->lines, at, n);
  if (sl_buf_append(&c->url, at, n) != 0) return user_error(c, 500);
  return 0;
}

static int on_header_field(llhttp_t* p, const char* at, size_t n) {
  conn_t* c = conn_of(p);
  c->line_done = 1;
  if (count_header_bytes(c, n + 4)) return user_error(c, 431);
  if (sl__http_lines_name(&c->lines, at, n) != 0) return user_error(c, 400);
  if (sl__http_hdrs_field(&c->hdrs, at, n) != 0) return user_error(c, 500);
  return 0;
}

/* Smuggling rules on a value span: no bare CR or LF inside a value, a
 * name before it, and no obs-fold (c->lines: llhttp 8.1 joins a folded
 * line to the value, even when the field's first line was empty). */
static int on_header_value(llhttp_t* p, const char* at, size_t n) {
  conn_t* c = conn_of(p);
  if (count_header_bytes(c, n)) return user_error(c, 431);
  if (memchr(at, '\r', n) != NULL || memchr(at, '\n', n) != NULL)
    return user_error(c, 400);
  if (sl__http_lines_value(&c->lines, at, n) != 0) return user_error(c, 400);
  if (sl__http_hdrs_value(&c->hdrs, at, n) != 0) return user_error(c, 500);
  return 0;
}

static int on_header_value_complete(llhttp_t* p) {
  conn_t* c = conn_of(p);
  if (sl__http_lines_value_done(&c->lines) != 0) return user_error(c, 400);
  return 0;
}

/* The last coding of a Transfer-Encoding list is "chunked". */
static int te_ends_chunked(const char* te) {
  const char* last = strrchr(te, ',');
  last = last ? last + 1 : te;
  while (*last == ' ' || *last == '\t') last++;
  size_t n = strlen(last);
  while (n > 0 && (last[n - 1] == ' ' || last[n - 1] == '\t')) n--;
  return n == 7 && strncasecmp(last, "chunked", 7) == 0;
}

/* Content-Length and Transfer-Encoding rules; 0 when the head is sound. */
static int check_framing(conn_t* c) {
  const char *name, *value, *cl = NULL, *te = NULL;
  for (size_t i = 0; sl__http_hdrs_at(&c->hdrs, i, &name, &value) == 0; i++) {
    size_t n = (size_t)(value - name) - 1; /* the value follows the name */
    if (n == 14 && strcasecmp(name, "content-length") == 0) {
      if (cl != NULL && strcmp(cl, value) != 0) return 400;
      cl = value;
    } else if (n == 17 && strcasecmp(name, "transfer-encoding") == 0) {
      te = value; /* repeated: the last field holds the last coding */
    }
  }
  if (cl != NULL && te != NULL) return 400;
  if (te != NULL && !te_ends_chunked(te)) return 400;
  if (cl != NULL && strspn(cl, "0123456789") != strlen(cl)) return 400;
  return 0;
}

/* RFC 3986 host [":" port], as a Host value or a target's authority:
 * IP-literal ("[" IPv6 or IPvFuture "]"), IPv4 or reg-name (unreserved,
 * pct-encoded, sub-delims; may be empty), then digits after a colon. */
static int host_valid(const char* h, size_t n) {
  static const char reg[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
      "VWXYZ0123456789-._~!$&'()*+,;=";
  size_t i = 0;
  if (n > 0 && h[0] == '[') {
    const char* close = memchr(h, ']', n);
    if (close == NULL) return 0;
    size_t len = (size_t)(close - h) - 1;
    char lit[64];
    struct in6_addr a;
    if (len >= 2 && (h[1] == 'v' || h[1] == 'V')) {
      size_t hex = strspn(h + 2, "0123456789abcdefABCDEF");
      if (hex == 0 || hex + 2 >= len || h[2 + hex] != '.') return 0;
      for (size_t k = 3 + hex; k <= len; k++)
        if (h[k] == '\0' || (h[k] != ':' && strchr(reg, h[k]) == NULL))
          return 0;
    } else if (len == 0 || len >= sizeof lit) {
      return 0;
    } else {
      memcpy(lit, h + 1, len);
      lit[len] = '\0';
      if (inet_pton(AF_INET6, lit, &a) != 1) return 0;
    }
    i = len + 2;
  } else {
    for (; i < n && h[i] != ':'; i++) {
      if (h[i] == '%' && i + 2 < n && isxdigit((unsigned char)h[i + 1]) &&
          isxdigit((unsigned char)h[i + 2]))
        i += 2;
      else if (h[i] == '\0' || strchr(reg, h[i]) == NULL)
        return 0;
    }
  }
  if (i == n) return 1;
  if (h[i] != ':') return 0;
  for (i++; i < n; i++)
    if (h[i] < '0' || h[i] > '9') return 0;
  return 1;
}

/* The authority of an absolute-form target ("http://a:1/p" gives "a:1"),
 * or NULL for the other forms. */
static const char* target_authority(const char* url, size_t* len) {
  if (url[0] == '/' || url[0] == '*') return NULL;
  size_t s = strspn(url,
                    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
                    "YZ0123456789+-.");
  if (s == 0 || strncmp(url + s, "://", 3) != 0) return NULL;
  const char* a = url + s + 3;
  *len = strcspn(a, "/?#");
  return a;
}

/* Makes the request's Host field `i` (SIZE_MAX: a new one) read v[0..n).
 * Returns 0 or SL_ENOMEM. */
static int host_set(conn_t* c, size_t i, const char* v, size_t n) {
  if (i != SIZE_MAX) return sl__http_hdrs_set(&c->hdrs, i, v, n);
  if (sl__http_hdrs_field(&c->hdrs, "Host", 4) != 0 ||
      sl__http_hdrs_value(&c->hdrs, v, n) != 0)
    return SL_ENOMEM;
  return sl__http_hdrs_end(&c->hdrs);
}

/* RFC 9112 3.2: exactly one Host in HTTP/1.1 (at most one in 1.0), valid
 * host syntax; an absolute-form target's authority wins over it (3.2.2),
 * so the handler's Host is the authority. Returns 0 or the status. */
static int check_host(conn_t* c) {
  const char *name, *value;
  size_t at = 0, count = 0;
  for (size_t i = 0; sl__http_hdrs_at(&c->hdrs, i, &name, &value) == 0; i++)
    if (value - name == 5 && strcasecmp(name, "host") == 0) {
      if (!host_valid(value, strlen(value))) return 400;
      at = i;
      count++;
    }
  if (count > 1 || (count == 0 && c->p.http_minor >= 1)) return 400;
  size_t alen = 0;
  const char* auth = c->url.data ? target_authority(c->url.data, &alen) : NULL;
  if (auth == NULL || c->p.method == HTTP_CONNECT) return 0;
  /* An empty host or userinfo (RFC 9110 4.2.1, 4.2.4): rejected. */
  if (alen == 0 || auth[0] == ':' || memchr(auth, '@', alen) != NULL ||
      !host_valid(auth, alen))
    return 400;
  return host_set(c, count ? at : SIZE_MAX, auth, alen) != 0 ? 500 : 0;
}

static int on_headers_complete(llhttp_t* p) {
  conn_t* c = conn_of(p);
  c->line_done = 1;
  if (sl__http_lines_end(&c->lines) != 0) return user_error(c, 400);
  if (sl__http_hdrs_end(&c->hdrs) != 0) return user_error(c, 500);
  /* llhttp takes HTTP/2.0 and 0.9 (other majors fail in parse_status). */
  if (p->http_major != 1) return user_error(c, 505);
  int status = check_framing(c);
  if (status == 0) status = check_host(c);
  if (status != 0) return user_error(c, status);
  uint64_t max = c->srv->o.max_body_size;
  if (max != 0 && (p->flags & F_CONTENT_LENGTH) && p->content_length > max)
    return user_error(c, 413);
  /* An upgrade for on_upgrade: no handler; llhttp parses to the end of
   * the request and stops with HPE_PAUSED_UPGRADE (feed_once). */
  int upgrade = c->srv->o.on_upgrade != NULL && c->ntxns == 0 &&
                p->method != HTTP_CONNECT && (p->flags & F_UPGRADE) &&
                (p->flags & F_CONNECTION_UPGRADE);
  txn_t* t = sl__http_txn_new(c);
  if (t == NULL) return user_error(c, 500);
  sl__http_conn_timer(c, SL__TIMER_NONE);
  c->parsing = t;
  if (upgrade) {
    c->upgrading = 1;
    return 0;
  }
  c->dispatch = t;
  return HPE_PAUSED; /* the handler runs once llhttp has returned */
}

static int on_body(llhttp_t* p, const char* at, size_t n) {
  conn_t* c = conn_of(p);
  txn_t* t = c->parsing;
  c->body_bytes += n;
  uint64_t max = c->srv->o.max_body_size;
  if (max != 0 && c->body_bytes > max) return user_error(c, 413);
  if (t == NULL || t->req == NULL || t->req->m.s.destroyed) return 0;
  const char* base = sl_chunk_data(c->in);
  sl_chunk_t* piece = sl_chunk_slice(c->in, (size_t)(at - base), n);
  if (piece == NULL) return user_error(c, 500);
  int rc = sl_stream_push(&t->req->m.s, piece);
  sl_chunk_unref(piece);
  if (rc == 0) {
    c->body_wait = 1; /* above the mark: pause until the reader reads */
    return HPE_PAUSED;
  }
  return 0;
}

static int on_message_complete(llhttp_t* p) {
  conn_t* c = conn_of(p);
  if (sl__http_lines_end(&c->lines) != 0) return user_error(c, 400);
  txn_t* t = c->parsing;
  c->parsing = NULL;
  c->mid_message = 0;
  if (t != NULL) {
    t->req_done = 1;
    if (t->req != NULL && !t->req->m.s.destroyed)
      sl_stream_push(&t->req->m.s, NULL);
  }
  sl__tick_schedule(&c->tick);
  if (!llhttp_should_keep_alive(p)) {
    c->stop = 1; /* nothing after a request that closes the connection */
    return HPE_PAUSED;
  }
  if (c->ntxns >= c->srv->o.max_pipelined) {
    c->pipe_wait = 1;
    return HPE_PAUSED;
  }
  return 0;
}

/* Several chunk extensions: see sl__http_ext_t (feed_once gives back). */
static int on_chunk_ext_value(llhttp_t* p, const char* at, size_t n) {
  return sl__http_ext_value(&conn_of(p)->ext, at, n);
}

static int on_chunk_ext_value_complete(llhttp_t* p) {
  return sl__http_ext_value_done(&conn_of(p)->ext);
}

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_extension_value = on_chunk_ext_value,
    .on_chunk_extension_value_complete = on_chunk_ext_value_complete,
};

/* --- exchanges, continued ------------------------------------------------- */

/* The request's header fields, url and decoded path are copied into its
 * own allocation; the connection keeps its arena for the next request. */
static req_t* req_new(conn_t* c) {
  sl_stream_opts_t o = {.hooks = &req_hooks,
                        .high_water_mark = c->srv->o.high_water_mark};
  size_t ulen = c->url.len;
  size_t extra = sl__http_hdrs_packed_size(&c->hdrs) + 2 * ulen + 3;
  req_t* r =
      (req_t*)sl__stream_new(SL__KIND_READABLE, &o, sizeof(req_t) + extra);
  if (r == NULL) return NULL;
  r->m.s.errors_owned = 1; /* the exchange reports them */
  r->m.s.peer_quiet = 1;
  sl__http_msg_t* m = &r->m;
  m->on_read = req_on_read;
  m->url = sl__http_hdrs_pack(&m->hdrs, &c->hdrs, (char*)r->strs);
  if (ulen != 0) memcpy(m->url, c->url.data, ulen);
  m->url[ulen] = '\0';
  m->path = m->url + ulen + 1;
  sl__http_decode_path_into(m->url, m->path);
  m->method = (char*)llhttp_method_name(c->p.method);
  m->version_minor = c->p.http_minor;
  memcpy(m->remote, c->remote, sizeof m->remote);
  return r;
}

/* What the access log prints survives the request stream. */
static void txn_note_log(txn_t* t, conn_t* c) {
  t->start_ns = sl_hrtime();
  snprintf(t->method, sizeof t->method, "%s", t->req->m.method);
  snprintf(t->url_log, sizeof t->url_log, "%s", t->req->m.url);
  memcpy(t->remote, c->remote, sizeof t->remote);
  sl_http_server_t* srv = c->srv;
  if (srv->ntrust > 0) {
    char peer[64];
    log_host(peer, sizeof peer, c->remote);
    sl__trust_client(srv->trust, srv->ntrust, peer,
                     sl__http_hdrs_get(&t->req->m.hdrs, "x-forwarded-for"),
                     t->remote, sizeof t->remote);
  }
  if (srv->o.access_log_format == SL_ACCESS_LOG_SLUICE) return;
  const char* ref = sl__http_hdrs_get(&t->req->m.hdrs, "referer");
  const char* ua = sl__http_hdrs_get(&t->req->m.hdrs, "user-agent");
  snprintf(t->referer, sizeof t->referer, "%s", ref ? ref : "");
  snprintf(t->ua, sizeof t->ua, "%s", ua ? ua : "");
  clock_gettime(CLOCK_REALTIME, &t->wall);
}

txn_t* sl__http_txn_new(conn_t* c) {
  txn_t* t = c->spare;
  c->spare = NULL;
  if (t != NULL)
    memset(t, 0, sizeof *t);
  else if ((t = sl__calloc(1, sizeof *t)) == NULL)
    return NULL;
  t->c = c;
  t->begin_ns = sl_hrtime();
  t->req = req_new(c);
  if (t->req == NULL) {
    sl__free(t);
    return NULL;
  }
  t->res = sl__http_res_new(c, t);
  if (t->res == NULL) {
    sl_stream_destroy(&t->req->m.s, SL_ENOMEM);
    sl__free(t);
    return NULL;
  }
  t->req->t = t;
  sl_stream_ref(&t->req->m.s);
  sl_stream_ref(&t->res->s);
  t->minor = c->p.http_minor;
  /* After an Upgrade or CONNECT request the bytes are another protocol's
   * (llhttp stops there): the answer closes the connection, and says so. */
  int upgrade =
      c->p.method == HTTP_CONNECT ||
      ((c->p.flags & F_UPGRADE) && (c->p.flags & F_CONNECTION_UPGRADE));
  t->keep_alive = llhttp_should_keep_alive(&c->p) && !c->closing && !upgrade;
  t->is_head = c->p.method == HTTP_HEAD;
  const char* expect = sl__http_hdrs_get(&t->req->m.hdrs, "expect");
  t->expect_continue = expect != NULL && t->minor >= 1 &&
                       strcasecmp(expect, "100-continue") == 0;
  if (c->srv->o.access_log) txn_note_log(t, c);
  /* The first in line answers at once; later ones park their writes. */
  t->res->active = sl__queue_empty(&c->txns);
  sl__queue_insert_tail(&c->txns, &t->node);
  c->ntxns++;
  return t;
}

/* --- feeding the parser -------------------------------------------------- */

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

static void drop_input(conn_t* c) {
  sl_chunk_unref(c->in);
  c->in = NULL;
  c->in_off = 0;
}

/* Runs the handler for the request whose head just parsed. */
static void dispatch(conn_t* c, txn_t* t) {
  sl_http_server_t* srv = c->srv;
  if (t->req == NULL || t->res == NULL) return;
  if (!srv->o.unmetered) sl__load.requests++;
  t->dispatched = 1;
  srv->handler(&t->req->m.s, &t->res->s, srv->arg);
}

/* An HPE_USER from a callback may come back as HPE_CB_*: user_status says
 * what it stood for. A well-formed version llhttp does not know ("HTTP/3.0";
 * it takes 2.0 and 0.9, see on_headers_complete) is a 505 when its major is
 * not 1 (RFC 9110 15.6.6); "HTTP/1.2" and malformed ones are a 400. */
static int parse_status(conn_t* c, llhttp_errno_t e) {
  if (c->user_status != 0) return c->user_status;
  const char* why = llhttp_get_error_reason(&c->p);
  if (e == HPE_INVALID_VERSION && c->p.http_major != 1 && why != NULL &&
      strcmp(why, "Invalid HTTP version") == 0)
    return 505;
  return 400;
}

/* Takes the socket out of the connection (no listener of it left); the
 * caller has the connection's reference. */
static sl_stream_t* conn_detach(conn_t* c) {
  sl_stream_t* s = c->sock;
  c->sock = NULL;
  sl_stream_off(s, SL_EV_END, on_sock_event, c);
  sl_stream_off(s, SL_EV_DRAIN, on_sock_event, c);
  sl_stream_off(s, SL_EV_CLOSE, on_sock_event, c);
  sl_stream_off(s, SL_EV_DATA, on_sock_data, c);
  return s;
}

/* Hands the socket of an upgrade request, and the bytes after the
 * request, to on_upgrade; the connection is then closed without touching
 * the socket. The request stream stays alive for the call (and as long as
 * the callee keeps a reference). */
static void conn_upgrade(conn_t* c) {
  sl_http_server_t* srv = c->srv;
  /* A server that is closing may be freed with its last connection (this
   * one, below): the upgrade is refused instead, as a late request is. */
  sl_http_upgrade_cb cb = srv->closing ? NULL : srv->o.on_upgrade;
  void* arg = srv->arg;
  txn_t* t = sl__container_of(c->txns.next, txn_t, node);
  req_t* r = t->req;
  t->req = NULL;
  if (r != NULL) r->t = NULL; /* the txn's reference is now ours */
  sl_chunk_t* head = NULL;
  if (c->in != NULL && c->in_off < sl_chunk_len(c->in))
    head = sl_chunk_slice(c->in, c->in_off, sl_chunk_len(c->in) - c->in_off);
  drop_input(c);
  sl_stream_t* sock = conn_detach(c);
  sl_stream_pause(sock);
  t->dropped = 1; /* no access-log line for it: it was not answered here */
  conn_destroy(c);
  unsigned refs = r != NULL ? r->m.s.refs : 0;
  if (r == NULL || r->m.s.destroyed) {
    sl_stream_destroy(sock, SL_ENOMEM);
  } else if (cb == NULL) {
    if (sl_stream_end_str(sock,
                          "HTTP/1.1 503 Service Unavailable\r\n"
                          "Connection: close\r\nContent-Length: 0\r\n"
                          "\r\n") != 0)
      sl_stream_destroy(sock, 0);
  } else {
    cb(&r->m.s, sock, head, arg);
  }
  sl_chunk_unref(head);
  sl_stream_unref(sock);
  if (r == NULL) return;
  /* Kept by the callee (a reference of its own): it destroys it. */
  if (r->m.s.refs <= refs) sl_stream_destroy(&r->m.s, 0);
  sl_stream_unref(&r->m.s);
}

/* One llhttp_execute over what is left of the input chunk. Returns 1 to go
 * on, 0 to stop. */
static int feed_once(conn_t* c) {
  const char* base = sl_chunk_data(c->in) + c->in_off;
  size_t len = sl_chunk_len(c->in) - c->in_off;
  c->ext.end = base + len;
  sl__http_lines_exec(&c->lines, base, len);
  llhttp_errno_t e = llhttp_execute(&c->p, base, len);
  size_t used = len;
  if (e != HPE_OK) used = (size_t)(llhttp_get_error_pos(&c->p) - base);
  if (used > len) used = len;
  c->in_off += used;
  if (e == HPE_OK && sl__http_lines_flush(&c->lines) != 0) {
    c->user_status = 400; /* a folded line, ahead of its field's end */
    e = HPE_USER;
  }
  if (e == HPE_PAUSED && c->ext.resume) {
    e = (llhttp_errno_t)sl__http_ext_give_back(&c->ext, &c->p);
    if (e == HPE_OK) {
      if (c->in_off == sl_chunk_len(c->in)) drop_input(c);
      return 1;
    }
  }
  /* A pause at the very end keeps the (empty) rest: llhttp may still have
   * steps to take without input (message complete after the head). */
  if (e == HPE_OK) {
    drop_input(c);
    return 0;
  }
  if (e == HPE_PAUSED_UPGRADE) {
    c->stop = 1; /* no protocol switch: answer, then close */
    if (c->upgrading) conn_upgrade(c);
    return 0;
  }
  if (e != HPE_PAUSED) {
    sl__http_conn_fail(c, parse_status(c, e));
    return 0;
  }
  c->paused = 1;
  txn_t* t = c->dispatch;
  if (t == NULL) return 0;
  c->dispatch = NULL;
  c->paused = 0;
  llhttp_resume(&c->p);
  c->refs++;
  dispatch(c, t);
  c->refs--;
  if (!c->destroyed) sl__tick_schedule(&c->tick);
  return !c->destroyed;
}

static void conn_feed(conn_t* c) {
  if (c->destroyed) return;
  c->refs++;
  while (c->in != NULL && !c->paused && !c->stop && !c->destroyed)
    if (!feed_once(c)) break;
  c->refs--;
  if (c->destroyed) {
    if (c->refs == 0 && c->timer_closed) sl__free(c);
    return;
  }
  if (c->stop) drop_input(c);
  conn_reading(c, c->in == NULL && !c->stop);
}

static void on_sock_data(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  conn_t* c = arg;
  if (c->stop || c->destroyed) return;
  SL_ASSERT(c->in == NULL);
  if (!c->mid_message && c->timer_mode == SL__TIMER_IDLE)
    sl__http_conn_timer(c, SL__TIMER_HEADERS);
  c->in = sl_chunk_ref(ev->chunk);
  c->in_off = 0;
  conn_feed(c);
}

/* --- errors and ends ----------------------------------------------------- */

/* The request cannot be parsed (or broke a limit): stop reading, fail the
 * exchange being parsed, and answer `status` once earlier responses are
 * out; then close. */
void sl__http_conn_fail(conn_t* c, int status) {
  c->stop = 1;
  c->paused = 1;
  drop_input(c);
  conn_reading(c, 0);
  sl__http_conn_timer(c, SL__TIMER_NONE);
  txn_t* t = c->parsing;
  c->parsing = NULL;
  c->dispatch = NULL;
  if (t != NULL) {
    if (t->req != NULL && !t->req->m.s.destroyed)
      sl_stream_fail(&t->req->m.s, status == 413 ? SL_EMSGSIZE : SL_EINVAL,
                     "%d %s", status, sl__http_reason(status));
    if (t->res != NULL && t->res->head_sent) {
      conn_destroy(c); /* a status line went out already: just close */
      return;
    }
    if (t->res != NULL && !t->res->s.destroyed)
      sl_stream_destroy(&t->res->s, 0);
    t->res_done = t->req_done = 1;
    t->dropped = 1;
  }
  c->err_status = status;
  sl__tick_schedule(&c->tick);
}

static void on_sock_finished(sl_stream_t* s, int err, void* arg) {
  (void)err;
  (void)arg;
  sl_stream_destroy(s, 0);
}

/* Ends the socket after what is queued; it closes once the end is out. */
static void conn_end(conn_t* c) {
  if (c->ending || c->sock == NULL) return;
  c->ending = 1;
  c->stop = 1;
  drop_input(c);
  conn_reading(c, 0);
  sl__http_conn_timer(c, SL__TIMER_NONE);
  if (sl_stream_end(c->sock, NULL, on_sock_finished, c) != 0)
    sl_stream_destroy(c->sock, 0);
}

static void send_error(conn_t* c) {
  int status = c->err_status;
  c->err_status = 0;
  if (c->srv->o.access_log) access_log_reject(c, status);
  if (!c->srv->o.unmetered)
    sl__load_observe(status, 0,
                     sl_hrtime() - (c->head_ns ? c->head_ns : sl_hrtime()));
  sl_chunk_t* ch = sl_chunk_printf(
      "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
      status, sl__http_reason(status));
  if (ch != NULL) sl_stream_write(c->sock, ch, NULL, NULL);
  sl_chunk_unref(ch);
  conn_end(c);
}

/* --- the connection's state machine -------------------------------------- */

/* Pops finished exchanges (in order) and logs them. Returns 1 if one of
 * them closes the connection. */
static int retire_done(conn_t* c) {
  int close = 0;
  while (!sl__queue_empty(&c->txns)) {
    txn_t* t = sl__container_of(c->txns.next, txn_t, node);
    if (!t->res_done || !t->req_done) {
      if (!t->res_done) break;
      /* The response went out before the body came: keep parsing into a
       * reader, or throw the rest away (Node's dump) if nobody reads. */
      if (t->req != NULL && t->req->m.s.r.flowing == -1 &&
          !t->req->m.s.destroyed)
        sl_stream_destroy(&t->req->m.s, 0);
      if (!t->keep_alive) close = 1;
      break;
    }
    sl__queue_remove(&t->node);
    c->ntxns--;
    /* A body nobody ever read is dropped (Node's dump), which also lets
     * the request close. */
    if (t->req != NULL && t->req->m.s.r.flowing == -1 && !t->req->m.s.destroyed)
      sl_stream_destroy(&t->req->m.s, 0);
    if (c->srv->o.access_log && !t->dropped) access_log_txn(c->srv, t, NULL);
    txn_observe(t);
    if (!t->keep_alive) close = 1;
    txn_free(t);
    if (close) break;
  }
  return close;
}

static int can_resume(conn_t* c) {
  if (!c->paused || c->stop || c->dispatch != NULL) return 0;
  if (c->pipe_wait) return c->ntxns < c->srv->o.max_pipelined;
  if (c->body_wait) {
    txn_t* t = c->parsing;
    if (t == NULL || t->req == NULL) return 1;
    sl_stream_t* r = &t->req->m.s;
    return r->destroyed || r->r.length < r->r.hwm;
  }
  return 0;
}

static void conn_process(sl__tick_t* tick) {
  conn_t* c = sl__container_of(tick, conn_t, tick);
  if (c->destroyed) return;
  if (c->abort) {
    conn_destroy(c); /* a response was destroyed before its end */
    return;
  }
  if (retire_done(c)) {
    conn_end(c);
    return;
  }
  txn_t* head = sl__queue_empty(&c->txns)
                    ? NULL
                    : sl__container_of(c->txns.next, txn_t, node);
  if (head != NULL && head->res != NULL) sl__http_res_activate(head->res);
  if (c->destroyed) return;
  if (head == NULL && c->err_status != 0) {
    send_error(c);
    return;
  }
  int idle = head == NULL && !c->mid_message && c->parsing == NULL;
  if (idle && (c->peer_ended || (c->srv->closing && !c->late) || c->stop)) {
    conn_end(c);
    return;
  }
  if (can_resume(c)) {
    c->paused = c->pipe_wait = c->body_wait = 0;
    llhttp_resume(&c->p);
    if (c->in != NULL)
      conn_feed(c);
    else
      conn_reading(c, 1);
    if (c->destroyed) return;
  }
  if (idle && !c->stop && c->in == NULL && c->timer_mode == SL__TIMER_NONE)
    sl__http_conn_timer(c, SL__TIMER_IDLE);
}

/* --- timers -------------------------------------------------------------- */

/* The timer runs lazily (no stop and start per request): a mode change
 * records its deadline and moves the timer only when that comes before the
 * timer's due time. So the timer may fire early, or with no mode: it then
 * re-arms, or stays off. With no mode it does not keep the loop alive. */
static void on_timer(uv_timer_t* h) {
  conn_t* c = h->data;
  int mode = c->timer_mode;
  if (mode == SL__TIMER_NONE) return;
  uint64_t now = uv_now(h->loop);
  if (now < c->deadline) {
    uv_timer_start(h, on_timer, c->deadline - now, 0);
    return;
  }
  c->timer_mode = SL__TIMER_NONE;
  if (mode == SL__TIMER_IDLE && sl__queue_empty(&c->txns) && !c->mid_message) {
    conn_destroy(c);
  } else if (mode == SL__TIMER_HEADERS && !c->mid_message &&
             sl__queue_empty(&c->txns) && c->in == NULL) {
    conn_destroy(c); /* nothing of a request came: close, as nginx does */
  } else if (mode == SL__TIMER_HEADERS) {
    c->parsing = NULL; /* no exchange exists before the head is complete */
    sl__http_conn_fail(c, 408);
  }
}

void sl__http_conn_timer(conn_t* c, int mode) {
  if (c->destroyed || c->timer_mode == mode) return;
  c->timer_mode = mode;
  if (mode == SL__TIMER_NONE) {
    uv_unref((uv_handle_t*)&c->timer); /* see on_timer */
    return;
  }
  uv_ref((uv_handle_t*)&c->timer);
  uint64_t ms = mode == SL__TIMER_HEADERS ? c->srv->o.headers_timeout_ms
                                          : c->srv->o.keep_alive_timeout_ms;
  uint64_t now = uv_now(c->timer.loop);
  c->deadline = now + ms;
  if (!uv_is_active((uv_handle_t*)&c->timer) ||
      now + uv_timer_get_due_in(&c->timer) > c->deadline)
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* --- body and send timeouts ---------------------------------------------- */

/* One unreferenced timer per server checks every connection a few times
 * per timeout instead of re-arming a timer on every read and write: a
 * connection is cut within 1.25 timeouts of its last progress, at no cost
 * per byte. nginx's client_body_timeout and send_timeout, as progress
 * timeouts: a slow client that keeps reading or sending is never cut. */
static uint64_t sweep_period(const sl_http_server_t* srv) {
  uint64_t t = srv->o.body_timeout_ms < srv->o.send_timeout_ms
                   ? srv->o.body_timeout_ms
                   : srv->o.send_timeout_ms;
  t /= 4;
  return t < 50 ? 50 : t > 1000 ? 1000 : t;
}

/* The socket's descriptor, or -1 (not TCP, or its handle is closing). */
static int conn_fd(conn_t* c) {
  uv_stream_t* h =
      c->tcp && !c->sock->destroyed ? sl__uv_stream_handle(c->sock) : NULL;
  uv_os_fd_t fd;
  if (h == NULL || uv_is_closing((uv_handle_t*)h) ||
      uv_fileno((uv_handle_t*)h, &fd) != 0)
    return -1;
  return fd;
}

/* A body is due and the client sends nothing (our own backpressure, a
 * handler that does not read, is not the client's fault). */
static int body_stalled(conn_t* c, uint64_t now) {
  txn_t* t = c->parsing;
  /* A client that asked for 100 Continue waits, rightly, until the
   * handler reads. */
  int waits = t != NULL && t->expect_continue && !t->continue_sent;
  if (t == NULL || waits || c->stop || c->paused || c->dispatch != NULL ||
      c->body_bytes != c->sw_body) {
    c->sw_body = c->body_bytes;
    c->body_since = now;
    return 0;
  }
  return now - c->body_since >= c->srv->o.body_timeout_ms;
}

/* Bytes wait for the client (in the socket stream or unacknowledged in
 * the kernel) and none moved since the last look. */
static int send_stalled(conn_t* c, uint64_t now) {
  txn_t* t = sl__queue_empty(&c->txns)
                 ? NULL
                 : sl__container_of(c->txns.next, txn_t, node);
  uint64_t sent = c->sock->stats.bytes_written;
  int outq = 0, fd = conn_fd(c);
  if (t != NULL && t->res != NULL) sent += t->res->body_bytes;
  if (fd >= 0 && ioctl(fd, SIOCOUTQ, &outq) != 0) outq = 0;
  int waiting = outq > 0 || sl_stream_writable_length(c->sock) > 0;
  if (!waiting || sent != c->sw_sent || outq != c->sw_outq) {
    c->sw_sent = sent;
    c->sw_outq = outq;
    c->send_since = now;
    return 0;
  }
  return now - c->send_since >= c->srv->o.send_timeout_ms;
}

/* Closes with a reset, as nginx's reset_timedout_connection: what the
 * client did not take is dropped now instead of waiting in the kernel for
 * a reader that is not there. */
static void conn_reset(conn_t* c) {
  struct linger l = {1, 0};
  int fd = conn_fd(c);
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  conn_destroy(c);
}

static void on_sweep(uv_timer_t* h) {
  sl_http_server_t* srv = h->data;
  uint64_t now = uv_now(h->loop);
  sl__queue_t* q = srv->conns.next;
  while (q != &srv->conns) {
    conn_t* c = sl__container_of(q, conn_t, node);
    q = q->next; /* c may go */
    if (c->destroyed || c->sock == NULL || c->sock->destroyed) continue;
    if (send_stalled(c, now)) {
      c->abort_why = "send timeout";
      conn_reset(c);
    } else if (body_stalled(c, now)) {
      /* The reason for the exchange cut now; a 408 that is only queued
       * leaves the connection to end as it will. */
      c->abort_why = "body timeout";
      sl__http_conn_fail(c, 408);
      if (!c->destroyed) c->abort_why = NULL;
    }
  }
}

static void sweep_start(sl_http_server_t* srv) {
  uint64_t period = sweep_period(srv);
  uv_timer_init(sl__loop(), &srv->sweep);
  srv->sweep.data = srv;
  uv_timer_start(&srv->sweep, on_sweep, period, period);
  uv_unref((uv_handle_t*)&srv->sweep);
}

/* --- connection lifetime -------------------------------------------------- */

static void on_timer_closed(uv_handle_t* h) {
  conn_t* c = h->data;
  c->timer_closed = 1;
  if (c->refs == 0) sl__free(c);
}

/* Why an exchange still queued when its connection went had no clean
 * end, for the access log: the connection's own reason (a timeout), the
 * response's error (a body that ended short), or the peer. */
static const char* conn_abort_reason(conn_t* c, txn_t* t, int head) {
  res_t* r = t->res;
  if (!head) return "the connection closed before its turn";
  if (c->abort_why != NULL) return c->abort_why;
  if (r != NULL && r->s.errmsg != NULL) return r->s.errmsg;
  if (r != NULL && r->s.err != 0) return sl_strerror(r->s.err);
  if (r != NULL && r->content_length >= 0 && !r->no_body &&
      r->body_bytes < (uint64_t)r->content_length && c->abort)
    return "the body ended before its Content-Length";
  if (c->abort) return "the response was destroyed before its end";
  return "the client went away";
}

static void conn_destroy(conn_t* c) {
  if (c->destroyed) return;
  c->destroyed = 1;
  sl__tick_cancel(&c->tick);
  drop_input(c);
  for (int head = 1; !sl__queue_empty(&c->txns); head = 0) {
    txn_t* t = sl__container_of(c->txns.next, txn_t, node);
    if (c->srv->o.access_log && t->dispatched && !t->dropped)
      access_log_txn(c->srv, t, conn_abort_reason(c, t, head));
    if (t->dispatched) txn_observe(t);
    sl__queue_remove(&t->node);
    if (t->req != NULL && !t->req->m.s.destroyed)
      sl_stream_destroy(&t->req->m.s, t->req_done ? 0 : SL_ECONNRESET);
    if (t->res != NULL && !t->res->s.destroyed)
      sl_stream_destroy(&t->res->s, 0);
    txn_free(t);
  }
  c->ntxns = 0;
  sl__free(c->spare);
  c->spare = NULL;
  sl__http_hdrs_free(&c->hdrs);
  sl_buf_free(&c->url);
  if (c->sock != NULL) {
    sl_stream_t* s = conn_detach(c);
    sl_stream_destroy(s, 0);
    sl_stream_unref(s);
  }
  uv_close((uv_handle_t*)&c->timer, on_timer_closed);
  sl_http_server_t* srv = c->srv;
  sl__queue_remove(&c->node);
  srv->nconns--;
  if (!srv->o.unmetered) sl__load.connections--;
  if (srv->l != NULL) sl__listen_resume(srv->l);
  server_maybe_done(srv);
}

static void on_sock_event(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  conn_t* c = arg;
  if (c->destroyed) return;
  switch (ev->type) {
    case SL_EV_END:
      c->peer_ended = 1;
      if (c->mid_message && !c->stop) {
        conn_destroy(c); /* the peer left inside a request */
        return;
      }
      sl__tick_schedule(&c->tick);
      break;
    case SL_EV_DRAIN:
      sl__http_res_sock_drained(c);
      break;
    case SL_EV_CLOSE:
      conn_destroy(c);
      break;
    default:
      break;
  }
}

/* Makes a connection over `sock` (a socket stream, or any Duplex for the
 * fuzzer). Takes over `sock`. */
static conn_t* conn_new(sl_http_server_t* srv, sl_stream_t* sock) {
  conn_t* c = sl__calloc(1, sizeof *c);
  if (c == NULL) {
    sl_stream_destroy(sock, SL_ENOMEM);
    return NULL;
  }
  c->srv = srv;
  c->body_since = c->send_since = uv_now(sl__loop());
  c->sock = sl_stream_ref(sock);
  sl__queue_init(&c->txns);
  sl__tick_init(&c->tick, conn_process);
  llhttp_init(&c->p, HTTP_REQUEST, &parser_settings);
  c->p.data = c;
  uv_timer_init(sl__loop(), &c->timer);
  c->timer.data = c;
  snprintf(c->remote, sizeof c->remote, "%s", sl_tcp_peer(sock));
  sl__queue_insert_tail(&srv->conns, &c->node);
  srv->nconns++;
  if (!srv->o.unmetered) sl__load.connections++;
  if (sl_stream_on(sock, SL_EV_END, on_sock_event, c) != 0 ||
      sl_stream_on(sock, SL_EV_DRAIN, on_sock_event, c) != 0 ||
      sl_stream_on(sock, SL_EV_CLOSE, on_sock_event, c) != 0 ||
      sl_stream_on(sock, SL_EV_DATA, on_sock_data, c) != 0) {
    conn_destroy(c);
    return NULL;
  }
  sl__http_conn_timer(c, SL__TIMER_HEADERS);
  return c;
}

/* --- the listener -------------------------------------------------------- */

/* Serves a connection accepted here, drained from the queue or handed
 * over by the cluster's primary. One that comes after close began gets
 * its first request answered (with Connection: close). */
static void conn_adopt(void* arg, uv_tcp_t* h) {
  sl_http_server_t* srv = arg;
  uv_tcp_nodelay(h, 1);
  sl_stream_opts_t so = {.high_water_mark = srv->o.high_water_mark};
  int flags = SL__UVS_READABLE | SL__UVS_WRITABLE | SL__UVS_SHUTDOWN;
  sl_stream_t* sock =
      sl__uv_stream_new((uv_stream_t*)h, flags, &so, sizeof(sl__uvs_t));
  if (sock == NULL) return;
  sock->errors_owned = 1;
  conn_t* c = conn_new(srv, sock);
  if (c == NULL) return;
  if (!srv->o.unmetered) sl__load.accepted++;
  c->tcp = 1;
  if (srv->closing) c->closing = c->late = 1;
}

/* At max_connections the next connection is left in the kernel's queue
 * until one closes (conn_destroy resumes the listener). */
static int server_full(void* arg) {
  sl_http_server_t* srv = arg;
  return srv->nconns >= srv->o.max_connections;
}

static void apply_defaults(sl_http_server_opts_t* o) {
  if (o->host == NULL || strcmp(o->host, "localhost") == 0)
    o->host = "127.0.0.1";
  if (o->backlog == 0) o->backlog = 511;
  if (o->max_header_size == 0) o->max_header_size = 16 * 1024;
  if (o->headers_timeout_ms == 0) o->headers_timeout_ms = 10000;
  if (o->keep_alive_timeout_ms == 0) o->keep_alive_timeout_ms = 5000;
  if (o->body_timeout_ms == 0) o->body_timeout_ms = 60000;
  if (o->send_timeout_ms == 0) o->send_timeout_ms = 60000;
  if (o->max_connections == 0) o->max_connections = 10000;
  if (o->max_pipelined == 0) o->max_pipelined = 16;
  if (o->high_water_mark == 0) o->high_water_mark = 64 * 1024;
}

static void server_free(sl_http_server_t* srv) {
  void (*cb)(void*) = srv->close_cb;
  void* arg = srv->close_arg;
  void (*on_free)(void*) = srv->on_free;
  void* free_arg = srv->free_arg;
  sl__access_log_close(srv->alog);
  sl__free(srv);
  if (cb != NULL) cb(arg);
  if (on_free != NULL) on_free(free_arg);
}

/* The listener closed: its queue was drained and the cluster (if any)
 * hands nothing over any more. */
static void on_listener_closed(void* arg) {
  sl_http_server_t* srv = arg;
  srv->listener_closed = 1;
  server_maybe_done(srv);
}

static void on_sweep_closed(uv_handle_t* h) { server_free(h->data); }

static void server_maybe_done(sl_http_server_t* srv) {
  if (srv->closing && srv->listener_closed && srv->nconns == 0 &&
      !srv->freeing) {
    srv->freeing = 1;
    uv_close((uv_handle_t*)&srv->sweep, on_sweep_closed);
  }
}

static void close_on_shutdown(void* arg) {
  sl_http_server_close(arg, NULL, NULL);
}

int sl_http_listen(const sl_http_server_opts_t* o, sl_http_handler handler,
                   void* arg, sl_http_server_t** out) {
  SL_ASSERT(handler != NULL && out != NULL);
  *out = NULL;
  sl_http_server_t* srv = sl__calloc(1, sizeof *srv);
  if (srv == NULL) return SL_ENOMEM;
  if (o != NULL) srv->o = *o;
  apply_defaults(&srv->o);
  int bad =
      sl__trust_parse(srv->o.trusted_proxies, srv->trust,
                      sizeof srv->trust / sizeof srv->trust[0], &srv->ntrust);
  if (bad != 0) {
    sl__free(srv);
    return bad;
  }
  srv->handler = handler;
  srv->arg = arg;
  sl__queue_init(&srv->conns);
  /* The log first: once the listener is open, connections may come. */
  if (srv->o.access_log &&
      (srv->alog = sl__access_log_open(srv->o.access_log_path)) == NULL) {
    sl__free(srv);
    return SL_ENOMEM;
  }
  sl__listen_opts_t lo = {
      .host = srv->o.host,
      .port = srv->o.port,
      .backlog = srv->o.backlog,
      .reuseport = srv->o.reuseport,
      .exclusive = srv->o.exclusive,
      .on_conn = conn_adopt,
      .full = server_full,
      .close_server = close_on_shutdown,
      .arg = srv,
  };
  int rc = sl__listen_open(&lo, &srv->l);
  if (rc != 0) {
    sl__access_log_close(srv->alog);
    sl__free(srv);
    return rc;
  }
  srv->port = sl__listen_port(srv->l);
  sweep_start(srv);
  *out = srv;
  return 0;
}

int sl_http_server_port(const sl_http_server_t* srv) { return srv->port; }

/* Bytes the peer sent that the loop has not read yet (a request that
 * crossed the close). */
static int conn_has_input(conn_t* c) {
  uv_os_fd_t fd;
  int n = 0;
  if (c->sock == NULL || !c->tcp) return 0;
  uv_handle_t* h = (uv_handle_t*)((sl__uvs_t*)c->sock)->h;
  if (h == NULL || uv_is_closing(h) || uv_fileno(h, &fd) != 0) return 0;
  return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

void sl_http_server_close(sl_http_server_t* srv, sl_close_cb cb, void* arg) {
  SL_ASSERT(!srv->closing);
  srv->closing = 1;
  srv->close_cb = cb;
  srv->close_arg = arg;
  /* What waits in the accept queue was accepted by the kernel: the
   * listener serves it (from the loop) rather than let close() reset it. */
  sl__listen_close(srv->l, on_listener_closed, srv);
  srv->l = NULL;
  for (sl__queue_t* q = srv->conns.next; q != &srv->conns; q = q->next) {
    conn_t* c = sl__container_of(q, conn_t, node);
    c->closing = 1;
    /* One still waiting for its first request, with a request under way
     * or with request bytes not read yet is not an idle keep-alive
     * connection: its request gets an answer. */
    if (c->timer_mode == SL__TIMER_HEADERS || conn_has_input(c)) c->late = 1;
    sl__tick_schedule(&c->tick);
  }
}

/* --- fuzzing entry -------------------------------------------------------- */

static void fuzz_on_data(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s, (void)ev, (void)arg;
}

static void fuzz_handler(sl_stream_t* req, sl_stream_t* res, void* arg) {
  sl__http_fuzz_result_t* r = arg;
  r->requests++;
  sl_http_header(req, "host");
  sl_http_path(req);
  sl_stream_on(req, SL_EV_DATA, fuzz_on_data, NULL);
  sl_http_set_header(res, "X-Test", "1");
  if (strncmp(sl_http_path(req), "/c", 2) == 0) {
    sl_stream_write_str(res, "chunk");
    sl_http_add_trailer(res, "X-T", "2");
    sl_stream_end(res, NULL, NULL, NULL);
  } else {
    sl_http_respond(res, 200, "text/plain", "hello\n", 6);
  }
}

/* The socket's write side: counts what the connection wrote and keeps the
 * start of it for the status lines. */
static void fuzz_write(sl_stream_t* s, sl_chunk_t* chunk) {
  sl__http_fuzz_result_t* r = sl_stream_data(s);
  size_t n = sl_chunk_len(chunk), room = sizeof r->out - r->out_kept;
  if (n > room) n = room;
  memcpy(r->out + r->out_kept, sl_chunk_data(chunk), n);
  r->out_kept += n;
  r->out_bytes += sl_chunk_len(chunk);
  sl_stream_write_done(s, 0);
}

/* "200 400": the status of each response in the kept output. */
static void fuzz_statuses(sl__http_fuzz_result_t* r) {
  static const char line[] = "HTTP/1.1 ";
  size_t used = 0;
  for (size_t i = 0; i + sizeof line + 2 <= r->out_kept; i++) {
    if (memcmp(r->out + i, line, sizeof line - 1) != 0) continue;
    if (used + 5 > sizeof r->statuses) break;
    if (used) r->statuses[used++] = ' ';
    memcpy(r->statuses + used, r->out + i + sizeof line - 1, 3);
    used += 3;
  }
  r->statuses[used] = '\0';
}

int sl__http_fuzz_feed_split(const uint8_t* data, size_t len, size_t cut,
                             sl__http_fuzz_result_t* r) {
  static const sl_stream_hooks_t sock_hooks = {.write = fuzz_write};
  sl__http_fuzz_result_t scratch;
  if (r == NULL) r = &scratch;
  memset(r, 0, sizeof *r);
  if (cut > len) cut = len;
  sl_http_server_t srv = {0};
  srv.o.max_header_size = 2048;
  srv.o.max_body_size = 4096;
  srv.o.max_pipelined = 4;
  srv.o.high_water_mark = 64;
  apply_defaults(&srv.o);
  srv.handler = fuzz_handler;
  srv.arg = r;
  srv.closing = 0;
  srv.listener_closed = 1;
  srv.freeing = 1; /* on the stack: never freed */
  sl__queue_init(&srv.conns);
  sl_stream_opts_t so = {.hooks = &sock_hooks, .data = r};
  sl_stream_t* sock = sl_duplex_new(&so);
  if (sock == NULL || conn_new(&srv, sock) == NULL) return 0;
  /* Two reads, split at `cut`, to exercise spans that cross reads. */
  if (cut > 0) sl_stream_push_bytes(sock, data, cut), r->pieces++;
  if (len > cut) sl_stream_push_bytes(sock, data + cut, len - cut), r->pieces++;
  sl_stream_push(sock, NULL);
  /* Let the exchange play out, then tear down whatever still waits (a
   * paused body nobody reads, a timer). */
  for (int i = 0; i < 200 && !sl__queue_empty(&srv.conns); i++)
    uv_run(sl__loop(), UV_RUN_NOWAIT);
  if (!sl__queue_empty(&srv.conns))
    conn_destroy(sl__container_of(srv.conns.next, conn_t, node));
  sl_run();
  fuzz_statuses(r);
  return 0;
}

int sl__http_fuzz_feed(const uint8_t* data, size_t len) {
  /* The first byte says where the input is split. */
  size_t cut = len ? data[0] % (len + 1) : 0;
  return sl__http_fuzz_feed_split(data, len, cut, NULL);
}
