/* Manual 2.2: "a proxy server can pipe incoming and outgoing HTTP streams
 * with no buffering". Its Node twin:
 *
 *   http.createServer((req, res) => {
 *     const out = http.request(target + req.url,
 *         {method: req.method, headers: req.headers}, (tres) => {
 *       res.writeHead(tres.statusCode, tres.headers);
 *       tres.pipe(res);
 *     });
 *     out.on('error', () => { res.writeHead(502); res.end('Bad Gateway\n'); });
 *     req.pipe(out);
 *   }).listen(3000);
 *
 * Usage: proxy [--port P] --target http://127.0.0.1:Q[/prefix]. Each request
 * goes to the target with the same method, path and headers (hop-by-hop
 * headers dropped, X-Forwarded-For added); the request body is piped to the
 * target and the target's response (status, headers, body) piped back, with
 * backpressure both ways, so memory stays flat whatever the body size. An
 * unreachable target is a 502. Nothing malformed passes through: a request
 * the server refuses (RFC 9112: a bad header name, obs-fold, a bad target
 * or Host) is answered there and never reaches the target, and a response
 * whose header lines the client refuses (a fold, an empty name) is a 502,
 * none of its headers passed on. An upgrade request (a WebSocket) is
 * forwarded with its Upgrade and Connection headers, and after that the
 * bytes go both ways untouched (the target's 101 included) until either
 * side closes, as nginx does with proxy_set_header Upgrade. Prints "Proxy listening on
 * http://127.0.0.1:P -> TARGET"; exits 1 when the port cannot be bound. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sluice.h>

static const char* target = NULL;

/* One proxied exchange; freed when the client's response closes and the
 * target's callback has run. */
typedef struct {
  sl_stream_t* req;  /* from the client (a reference) */
  sl_stream_t* res;  /* to the client (a reference) */
  sl_stream_t* out;  /* to the target */
  sl_stream_t* tres; /* from the target (a reference), once it answers */
  int refs;
  char line[256]; /* "GET /path", for the log */
} px_t;

static void px_unref(px_t* p) {
  if (--p->refs > 0) return;
  if (p->tres != NULL) sl_stream_unref(p->tres);
  sl_stream_unref(p->req);
  sl_stream_unref(p->res);
  free(p);
}

/* Hop-by-hop headers (RFC 9110 7.6.1), and any the Connection header
 * names, belong to one connection and are not forwarded. */
static int is_hop(const char* name, const char* connection) {
  static const char* const hop[] = {"connection",
                                    "keep-alive",
                                    "proxy-connection",
                                    "te",
                                    "trailer",
                                    "transfer-encoding",
                                    "upgrade",
                                    "proxy-authenticate",
                                    "proxy-authorization"};
  for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
    if (strcasecmp(name, hop[i]) == 0) return 1;
  size_t n = strlen(name);
  for (const char* c = connection; c != NULL && *c != '\0';) {
    c += strspn(c, " \t,");
    size_t len = strcspn(c, " \t,");
    if (len == n && strncasecmp(c, name, n) == 0) return 1;
    c += len;
  }
  return 0;
}

static void bad_gateway(px_t* p, int err) {
  fprintf(stderr, "proxy: %s: %s, %s\n", p->line, sl_strerror(err), target);
  if (sl_stream_destroyed(p->res)) return;
  if (sl_http_headers_sent(p->res))
    sl_stream_destroy(p->res, err); /* the client sees a cut body */
  else
    sl_http_respond(p->res, 502, "text/plain", "Bad Gateway\n", 12);
}

/* The target's body failed midway: cut the client's response too. */
static void on_tres_error(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  px_t* p = arg;
  if (!sl_stream_destroyed(p->res)) sl_stream_destroy(p->res, ev->err);
}

static void on_target(int err, sl_stream_t* tres, void* arg) {
  px_t* p = arg;
  if (err != 0) {
    bad_gateway(p, err);
    px_unref(p);
    return;
  }
  p->tres = sl_stream_ref(tres);
  if (sl_stream_destroyed(p->res)) { /* the client left meanwhile */
    sl_stream_destroy(tres, 0);
    px_unref(p);
    return;
  }
  sl_http_set_status(p->res, sl_http_status(tres));
  const char* conn = sl_http_header(tres, "connection");
  const char *name, *value;
  for (size_t i = 0; sl_http_header_at(tres, i, &name, &value) == 0; i++)
    if (!is_hop(name, conn)) sl_http_add_header(p->res, name, value);
  sl_stream_on(tres, SL_EV_ERROR, on_tres_error, p);
  sl_stream_pipe(tres, p->res, NULL);
  px_unref(p);
}

/* The client went away (or the response finished): stop reading from the
 * target if it is still sending, and drop an upload in flight. */
static void on_res_close(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  (void)ev;
  px_t* p = arg;
  if (p->tres != NULL && !sl_stream_ended(p->tres))
    sl_stream_destroy(p->tres, 0);
  px_unref(p);
}

/* The client's upload failed: the request to the target is abandoned. */
static void on_req_error(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  px_t* p = arg;
  if (p->out != NULL && !sl_stream_destroyed(p->out))
    sl_stream_destroy(p->out, ev->err);
}

/* The forwarded request headers, "Name: value" lines; NULL on ENOMEM. */
static char** forward_headers(sl_stream_t* req) {
  size_t n = 0;
  const char *name, *value;
  while (sl_http_header_at(req, n, &name, &value) == 0) n++;
  char** v = calloc(n + 2, sizeof *v);
  if (v == NULL) return NULL;
  const char* conn = sl_http_header(req, "connection");
  const char* xff = sl_http_header(req, "x-forwarded-for");
  char ip[64];
  snprintf(ip, sizeof ip, "%s", sl_http_remote(req));
  char* colon = strrchr(ip, ':');
  if (colon != NULL) *colon = '\0';
  size_t k = 0;
  for (size_t i = 0; sl_http_header_at(req, i, &name, &value) == 0; i++)
    if (!is_hop(name, conn) && strcasecmp(name, "x-forwarded-for") != 0)
      if (asprintf(&v[k], "%s: %s", name, value) >= 0) k++;
  if (asprintf(&v[k], "X-Forwarded-For: %s%s%s", xff ? xff : "",
               xff ? ", " : "", ip) >= 0)
    k++;
  return v;
}

/* --- upgrades (WebSocket): a tunnel of bytes after the request -------- */

/* The two sockets of one tunnel (references); when either closes the
 * other goes too. */
typedef struct {
  sl_stream_t* a;  /* the client */
  sl_stream_t* b;  /* the target */
  sl_chunk_t* req; /* the request to forward once connected */
  int open;
  int answered; /* the client got our 502: it ends by itself */
} tunnel_t;

static void on_tunnel_close(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)ev;
  tunnel_t* t = arg;
  sl_stream_t* other = s == t->a ? t->b : t->a;
  if (!sl_stream_destroyed(other) && !(s == t->b && t->answered))
    sl_stream_destroy(other, 0);
  if (--t->open == 0) {
    sl_chunk_unref(t->req);
    sl_stream_unref(t->a);
    sl_stream_unref(t->b);
    free(t);
  }
}

/* Connected: the request goes out, then bytes flow both ways. */
static void on_tunnel_connect(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)ev;
  tunnel_t* t = arg;
  sl_stream_write(s, t->req, NULL, NULL);
  sl_stream_pipe(t->a, t->b, NULL);
  sl_stream_pipe(t->b, t->a, NULL);
  sl_stream_resume(t->a); /* handed over paused */
}

/* A target that cannot be reached is a 502; other errors end the tunnel
 * (its close follows). */
static void on_tunnel_error(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  tunnel_t* t = arg;
  fprintf(stderr, "proxy: upgrade: %s\n", ev->message);
  if (s == t->b && !sl_tcp_peer(s)[0] && !sl_stream_destroyed(t->a)) {
    t->answered = 1;
    sl_stream_end_str(t->a,
                      "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n"
                      "Content-Length: 0\r\n\r\n");
  }
}

static void on_upgrade(sl_stream_t* req, sl_stream_t* sock, sl_chunk_t* head,
                       void* arg) {
  (void)arg;
  char host[256];
  const char* hp = target + 7;
  size_t hl = strcspn(hp, ":/");
  snprintf(host, sizeof host, "%.*s", (int)hl, hp);
  int port = hp[hl] == ':' ? atoi(hp + hl + 1) : 80;
  const char* prefix = strchr(hp, '/');
  /* The request as it came, with the headers that make it an upgrade. */
  char** headers = forward_headers(req);
  sl_buf_t b = {0};
  sl_buf_printf(&b,
                "%s %s%s HTTP/1.1\r\nUpgrade: %s\r\nConnection: Upgrade\r\n",
                sl_http_method(req), prefix ? prefix : "", sl_http_url(req),
                sl_http_header(req, "upgrade"));
  for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
    sl_buf_printf(&b, "%s\r\n", headers[i]);
    free(headers[i]);
  }
  free(headers);
  sl_buf_append_str(&b, "\r\n");
  if (head != NULL) sl_buf_append(&b, sl_chunk_data(head), sl_chunk_len(head));
  tunnel_t* t = calloc(1, sizeof *t);
  sl_stream_t* up = t != NULL ? sl_tcp_connect(host, port, NULL) : NULL;
  if (up == NULL || b.data == NULL) {
    sl_stream_end_str(sock,
                      "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n"
                      "Content-Length: 0\r\n\r\n");
    if (up != NULL) sl_stream_destroy(up, 0);
    free(t);
    sl_buf_free(&b);
    return;
  }
  /* References: each side's close reads the other. */
  *t = (tunnel_t){.a = sl_stream_ref(sock),
                  .b = sl_stream_ref(up),
                  .req = sl_buf_chunk(&b),
                  .open = 2};
  sl_buf_free(&b);
  sl_stream_on(up, SL_EV_CONNECT, on_tunnel_connect, t);
  sl_stream_on(sock, SL_EV_CLOSE, on_tunnel_close, t);
  sl_stream_on(up, SL_EV_CLOSE, on_tunnel_close, t);
  sl_stream_on(sock, SL_EV_ERROR, on_tunnel_error, t);
  sl_stream_on(up, SL_EV_ERROR, on_tunnel_error, t);
}

static void on_request(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  px_t* p = calloc(1, sizeof *p);
  char** headers = forward_headers(req);
  char* url = NULL;
  const char* path = sl_http_url(req);
  if (path[0] != '/') path = sl_http_path(req); /* absolute form */
  if (p == NULL || headers == NULL ||
      asprintf(&url, "%s%s", target, path) < 0) {
    sl_http_respond(res, 500, "text/plain", "Out of memory\n", 14);
    free(p);
    p = NULL;
  }
  if (p != NULL) {
    p->req = sl_stream_ref(req);
    p->res = sl_stream_ref(res);
    p->refs = 2; /* the target's callback, the response's close */
    snprintf(p->line, sizeof p->line, "%s %s", sl_http_method(req), path);
    sl_http_request_opts_t o = {.method = sl_http_method(req),
                                .url = url,
                                .headers = (const char* const*)headers};
    p->out = sl_http_request(&o, on_target, p);
    sl_stream_on(res, SL_EV_CLOSE, on_res_close, p);
    if (p->out == NULL) {
      bad_gateway(p, SL_EINVAL);
      px_unref(p);
    } else {
      sl_stream_on(req, SL_EV_ERROR, on_req_error, p);
      sl_stream_pipe(req, p->out, NULL);
    }
  }
  for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
    free(headers[i]);
  free(headers);
  free(url);
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  sl_http_server_opts_t o = {.port = 3000, .on_upgrade = on_upgrade};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      o.port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc) {
      target = argv[++i];
    } else {
      target = NULL;
      break;
    }
  }
  if (target == NULL || strncmp(target, "http://", 7) != 0) {
    fprintf(stderr, "usage: proxy [--port P] --target http://HOST:PORT\n");
    return 2;
  }
  size_t tl = strlen(target);
  if (tl > 7 && target[tl - 1] == '/') ((char*)target)[tl - 1] = '\0';
  sl_http_server_t* srv;
  int rc = sl_http_listen(&o, on_request, NULL, &srv);
  if (rc != 0) {
    fprintf(stderr, "proxy: %s: %s, listen 127.0.0.1:%d\n", sl_err_name(rc),
            sl_strerror(rc), o.port);
    return 1;
  }
  printf("Proxy listening on http://127.0.0.1:%d -> %s\n",
         sl_http_server_port(srv), target);
  fflush(stdout);
  return sl_run();
}
