/* HTTP server: the request syntax RFC 9112 and Node 20 reject (header names,
 * obs-fold, the target, Host, the version), one test per rule, each with
 * raw bytes over a TCP socket: the answer is the status line and a closed
 * connection, the handler never sees the request, and a good request on
 * another connection still works. Then what must still pass (Host forms,
 * absolute-form targets, chunk extensions), and the client side, which
 * refuses the same header lines in a response. */
#include "http/server_util.h"

#include <strings.h>

static int handled;
static char seen_host[256];
static char seen_path[256];

/* Echo: collects the body, answers "host=H path=P body=B". */
typedef struct {
  sl_stream_t* res;
  char buf[4096];
  size_t n;
} echo_t;

static void echo_event(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  echo_t* e = arg;
  if (ev->type == SL_EV_DATA) {
    size_t len = sl_chunk_len(ev->chunk);
    if (e->n + len < sizeof e->buf) {
      memcpy(e->buf + e->n, sl_chunk_data(ev->chunk), len);
      e->n += len;
    }
  } else if (ev->type == SL_EV_END) {
    const char* host = sl_http_header(s, "host");
    sl_chunk_t* c =
        sl_chunk_printf("host=%s path=%s body=%.*s", host ? host : "(none)",
                        sl_http_path(s), (int)e->n, e->buf);
    sl_stream_end(e->res, c, NULL, NULL);
    sl_chunk_unref(c);
  } else if (ev->type == SL_EV_CLOSE) {
    free(e);
  }
}

static void echo(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  handled++;
  const char* host = sl_http_header(req, "host");
  snprintf(seen_host, sizeof seen_host, "%s", host ? host : "(none)");
  snprintf(seen_path, sizeof seen_path, "%s", sl_http_path(req));
  echo_t* e = calloc(1, sizeof *e);
  e->res = res;
  sl_stream_on(req, SL_EV_DATA, echo_event, e);
  sl_stream_on(req, SL_EV_END, echo_event, e);
  sl_stream_on(req, SL_EV_CLOSE, echo_event, e);
}

/* Up to 3 parts of one request, sent 30 ms apart so that each lands in its
 * own read (the rules must hold wherever reads split the head). */
typedef struct {
  const char* parts[3];
} bytes_t;

#define MAX_BAD 12

/* Each of bad[0..n) on its own connection gets `status` with Connection:
 * close and then EOF; none reaches the handler; a good request on another
 * connection is answered. */
static void reject_all(const bytes_t* bad, int n, int status) {
  ASSERT(n <= MAX_BAD);
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(NULL, echo, NULL, &srv), 0);
  int port = sl_http_server_port(srv);
  raw_t raws[MAX_BAD + 1];
  raw_t* v[MAX_BAD + 1];
  memset(raws, 0, sizeof raws);
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < 3 && bad[i].parts[k] != NULL; k++) {
      raws[i].parts[k] = bad[i].parts[k];
      raws[i].nparts = k + 1;
    }
    raws[i].gap_ms = 30;
    v[i] = &raws[i];
  }
  raw_t* good = &raws[n];
  good->parts[0] = "GET /good HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  good->nparts = 1;
  v[n] = good;
  for (int i = 0; i <= n; i++) raw_start(v[i], port);
  drive(srv, v, n + 1);
  char want[64];
  snprintf(want, sizeof want, "HTTP/1.1 %d ", status);
  for (int i = 0; i < n; i++) {
    const char* out = raws[i].out;
    if (out == NULL || strncmp(out, want, strlen(want)) != 0)
      sl_test_fail(__FILE__, __LINE__, "case %d: expected %d, got: %s", i,
                   status, out ? out : "(nothing)");
    ASSERT(strstr(out, "\r\nConnection: close\r\n") != NULL);
    ASSERT_EQ(count_responses(out, raws[i].n, 0, 1), 1);
    ASSERT(raws[i].eof);
  }
  ASSERT_EQ(handled, 1); /* only the good request */
  ASSERT(strstr(body_of(good->out), "path=/good") != NULL);
  for (int i = 0; i <= n; i++) raw_free(&raws[i]);
}

#define REJECT(status, ...)                                        \
  do {                                                             \
    static const bytes_t bad_[] = {__VA_ARGS__};                   \
    reject_all(bad_, (int)(sizeof bad_ / sizeof bad_[0]), status); \
  } while (0)

/* RFC 9112 5.1: field-name is a token, so neither empty nor with blanks
 * (before the colon, a server MUST reject: 5.1 last paragraph). */
TEST(http_rfc_header_name_space) {
  REJECT(400, {{"GET / HTTP/1.1\r\nHost: x\r\nFoo Bar: x\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: x\r\nFoo : x\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: x\r\nFoo\t: x\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: x\r\nFoo B", "ar: x\r\n\r\n"}});
}

TEST(http_rfc_header_name_empty) {
  REJECT(400, {{"GET / HTTP/1.1\r\nHost: x\r\n: x\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: x\r\n:\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n", ": x\r\n\r\n"}});
}

/* RFC 9112 5.2: obs-fold (a line that starts with SP or HTAB) outside
 * message/http is rejected with 400: right after the request line, after
 * a value, after an empty first line, as a blank line, split anywhere. */
TEST(http_rfc_obs_fold) {
  REJECT(400, {{"GET / HTTP/1.1\r\n x: y\r\nHost: x\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: x\r\nX:\r\n b\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nX:\r\n b\r\nHost: x\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: x\r\nX:\r\n \r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost:\r\n", " x\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n", " ", "b\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: x\r\nX:\r", "\n", "\tb\r\n\r\n"}});
}

/* The same rules in a chunked body's trailer section: the head was sound,
 * so the handler has the request, whose body then fails; the answer is
 * still 400 and a close. */
TEST(http_rfc_obs_fold_trailer) {
  static const char* trailers[] = {"X-T: a\r\n b\r\n\r\n", "X-T:\r\n b\r\n\r\n",
                                   "X-T:\r\n \r\n\r\n", ": a\r\n\r\n"};
  for (size_t i = 0; i < sizeof trailers / sizeof trailers[0]; i++) {
    raw_t r = {.parts = {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                         "chunked\r\n\r\n2\r\nok\r\n0\r\n",
                         trailers[i]},
               .nparts = 2,
               .gap_ms = 30};
    sl_http_server_t* srv = NULL;
    ASSERT_EQ(sl_http_listen(NULL, echo, NULL, &srv), 0);
    raw_start(&r, sl_http_server_port(srv));
    raw_t* v[] = {&r};
    drive(srv, v, 1);
    if (r.out == NULL || strncmp(r.out, "HTTP/1.1 400 ", 13) != 0)
      sl_test_fail(__FILE__, __LINE__, "trailer %zu: got %s", i,
                   r.out ? r.out : "(nothing)");
    ASSERT(r.eof);
    raw_free(&r);
  }
}

/* RFC 9112 3.2: request-target has no whitespace or control bytes. */
TEST(http_rfc_target_whitespace) {
  REJECT(400, {{"GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n"}},
         {{"GET /a\t HTTP/1.1\r\nHost: x\r\n\r\n"}},
         {{"GET /?q=\t HTTP/1.1\r\nHost: x\r\n\r\n"}},
         {{"GET /a\fb HTTP/1.1\r\nHost: x\r\n\r\n"}},
         {{"GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n"}},
         {{"GET http://x/a\tb HTTP/1.1\r\nHost: x\r\n\r\n"}},
         {{"GET /a", "\tb HTTP/1.1\r\nHost: x\r\n\r\n"}});
}

/* RFC 9112 3.2: an HTTP/1.1 request without Host is a 400, also with an
 * absolute-form target. */
TEST(http_rfc_host_missing) {
  REJECT(400, {{"GET / HTTP/1.1\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHostname: x\r\n\r\n"}},
         {{"GET http://a.example/p HTTP/1.1\r\n\r\n"}});
}

/* ... more than one Host field line is a 400, in HTTP/1.0 too. */
TEST(http_rfc_host_duplicate) {
  REJECT(400, {{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\nhOST: a\r\n\r\n"}},
         {{"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"}});
}

/* ... and so is a Host that is not RFC 3986 host [":" port], or an
 * absolute-form authority that is not (or carries userinfo). */
TEST(http_rfc_host_malformed) {
  REJECT(400, {{"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: [not:v6]:80\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: [v1.]\r\n\r\n"}},
         {{"GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"}},
         {{"GET http://u@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n"}},
         {{"GET http://:80/ HTTP/1.1\r\nHost: a.example\r\n\r\n"}});
}

/* RFC 9110 15.6.6: a major version other than 1 is a 505. */
TEST(http_rfc_version_505) {
  REJECT(505, {{"GET / HTTP/2.0\r\nHost: x\r\n\r\n"}},
         {{"GET / HTTP/3.0\r\nHost: x\r\n\r\n"}},
         {{"GET / HTTP/0.9\r\nHost: x\r\n\r\n"}}, {{"GET / HTTP/2.0\r\n\r\n"}});
}

/* --- what must still pass ------------------------------------------------ */

/* Runs one raw client against the echo server. */
static void one_client(raw_t* r) {
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(NULL, echo, NULL, &srv), 0);
  raw_start(r, sl_http_server_port(srv));
  raw_t* v[] = {r};
  drive(srv, v, 1);
}

/* Host with a port, IPv4 and IPv6 literals, IPvFuture, an empty Host
 * (RFC 9112 3.2: a target without authority), percent-encoding, HTTP/1.0
 * without Host: all answered on one keep-alive connection. */
TEST(http_rfc_host_forms_accepted) {
  static const char* hosts[] = {"example.com:8080",
                                "127.0.0.1:80",
                                "[::1]:8080",
                                "[v1.fe80::a+en1]",
                                "",
                                "a%41b.example",
                                "x:"};
  char reqs[2048] = "";
  for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
    snprintf(reqs + strlen(reqs), sizeof reqs - strlen(reqs),
             "GET /%zu HTTP/1.1\r\nHost: %s\r\n\r\n", i, hosts[i]);
  strcat(reqs, "GET /last HTTP/1.0\r\n\r\n");
  raw_t r = {.parts = {reqs}, .nparts = 1};
  one_client(&r);
  ASSERT_EQ(count_responses(r.out, r.n, 0, 1), 8);
  ASSERT_EQ(handled, 8);
  ASSERT(strstr(r.out, "host=[::1]:8080 path=/2 body=") != NULL);
  ASSERT(strstr(r.out, "host= path=/4 body=") != NULL);
  ASSERT(strstr(r.out, "host=(none) path=/last body=") != NULL);
  ASSERT(strstr(r.out, " 400 ") == NULL);
  raw_free(&r);
}

/* RFC 9112 3.2.2: with an absolute-form target the server ignores Host and
 * uses the target's authority: that is the Host the handler reads. */
TEST(http_rfc_absolute_form_authority_wins) {
  raw_t r = {.parts = {"GET http://a.example:81/p?q=1 HTTP/1.1\r\n"
                       "Host: b.example\r\nX: y\r\n\r\n"
                       "GET http://[::1]/q HTTP/1.0\r\n\r\n"},
             .nparts = 1};
  one_client(&r);
  ASSERT_EQ(count_responses(r.out, r.n, 0, 1), 2);
  ASSERT(strstr(r.out, "host=a.example:81 path=/p body=") != NULL);
  ASSERT(strstr(r.out, "host=[::1] path=/q body=") != NULL);
  raw_free(&r);
}

/* RFC 9112 7.1.1: any number of chunk extensions, with token or
 * quoted-string values, on data chunks and the last chunk, however the
 * reads split them; the body arrives intact and the connection goes on. */
TEST(http_rfc_chunk_extensions) {
  static const char* head =
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  raw_t r = {.parts = {head,
                       "5;a=1;b=2\r\nhello\r\n1;a=\"q;v\";b=\"\";c\r\n \r\n"
                       "2;x=1;y",
                       "=2;z=3\r\nwo\r\n3;k=v",
                       ";n=m\r\nrld\r\n0;e=1;f=2\r\n\r\n"
                       "POST /d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                       "chunked\r\n\r\n2;a=1;b=2\r\nok\r\n0\r\n\r\n"},
             .nparts = 4,
             .gap_ms = 30,
             .want = 2};
  one_client(&r);
  ASSERT_EQ(count_responses(r.out, r.n, 0, 0), 2);
  ASSERT(strstr(r.out, "host=x path=/c body=hello world") != NULL);
  ASSERT(strstr(r.out, "host=x path=/d body=ok") != NULL);
  raw_free(&r);
}

/* --- the client side ----------------------------------------------------- */

/* A raw upstream on its own thread: accepts one connection, reads the
 * request head, answers `reply` and closes. */
typedef struct {
  int fd, port;
  const char* reply;
  pthread_t th;
} upstream_t;

static void* upstream_main(void* arg) {
  upstream_t* u = arg;
  int c = accept(u->fd, NULL, NULL);
  if (c < 0) return NULL;
  char buf[4096];
  size_t n = 0;
  while (n < sizeof buf - 1) {
    ssize_t k = recv(c, buf + n, sizeof buf - 1 - n, 0);
    if (k <= 0) break;
    n += (size_t)k;
    buf[n] = '\0';
    if (strstr(buf, "\r\n\r\n") != NULL) break;
  }
  send(c, u->reply, strlen(u->reply), MSG_NOSIGNAL);
  close(c);
  return NULL;
}

static void upstream_start(upstream_t* u, const char* reply) {
  u->reply = reply;
  u->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(u->fd, (struct sockaddr*)&a, sizeof a), 0);
  ASSERT_EQ(listen(u->fd, 4), 0);
  ASSERT_EQ(getsockname(u->fd, (struct sockaddr*)&a, &len), 0);
  u->port = ntohs(a.sin_port);
  ASSERT_EQ(pthread_create(&u->th, NULL, upstream_main, u), 0);
}

static int client_err;
static int client_calls;

static void on_response(int err, sl_stream_t* res, void* arg) {
  (void)arg;
  client_calls++;
  client_err = err;
  if (res != NULL) sl_stream_destroy(res, 0);
}

static char client_body[64];

static void on_body_event(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s, (void)arg;
  size_t have = strlen(client_body);
  if (ev->type == SL_EV_DATA) {
    size_t n = sl_chunk_len(ev->chunk);
    ASSERT_LT(have + n, sizeof client_body);
    memcpy(client_body + have, sl_chunk_data(ev->chunk), n);
    client_body[have + n] = '\0';
  } else if (ev->type == SL_EV_END) {
    snprintf(client_body + have, sizeof client_body - have, "|end");
  }
}

static void on_chunked_response(int err, sl_stream_t* res, void* arg) {
  (void)arg;
  client_calls++;
  client_err = err;
  if (res == NULL) return;
  sl_stream_on(res, SL_EV_DATA, on_body_event, NULL);
  sl_stream_on(res, SL_EV_END, on_body_event, NULL);
}

/* The client parser allows several chunk extensions as the server does. */
TEST(http_rfc_client_chunk_extensions) {
  upstream_t u;
  upstream_start(&u,
                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                 "Connection: close\r\n\r\n5;a=1;b=2\r\nhello\r\n"
                 "1;q=\"x;y\";r=s\r\n!\r\n0;c=1;d=2\r\n\r\n");
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", u.port);
  sl_http_request_opts_t o = {.url = url};
  sl_stream_t* req = sl_http_request(&o, on_chunked_response, NULL);
  ASSERT(req != NULL);
  sl_stream_end(req, NULL, NULL, NULL);
  ASSERT_EQ(sl_run(), 0);
  pthread_join(u.th, NULL);
  close(u.fd);
  ASSERT_EQ(client_calls, 1);
  ASSERT_EQ(client_err, 0);
  ASSERT_STR_EQ(client_body, "hello!|end");
}

/* The response's header lines get the server's rules: a response with an
 * empty field name or a folded line fails (SL_EPROTO) rather than reaching
 * the caller, so a proxy never forwards it. */
TEST(http_rfc_client_rejects_bad_header_lines) {
  static const char* replies[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n: x\r\n\r\nok",
      "HTTP/1.1 200 OK\r\nX:\r\n folded\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.1 200 OK\r\nFoo Bar: x\r\nContent-Length: 2\r\n\r\nok",
  };
  for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
    upstream_t u;
    upstream_start(&u, replies[i]);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", u.port);
    client_calls = 0;
    client_err = 0;
    sl_http_request_opts_t o = {.url = url};
    sl_stream_t* req = sl_http_request(&o, on_response, NULL);
    ASSERT(req != NULL);
    sl_stream_end(req, NULL, NULL, NULL);
    ASSERT_EQ(sl_run(), 0);
    pthread_join(u.th, NULL);
    close(u.fd);
    ASSERT_EQ(client_calls, 1);
    if (client_err != SL_EPROTO)
      sl_test_fail(__FILE__, __LINE__, "reply %zu: err %d (%s)", i, client_err,
                   sl_err_name(client_err));
  }
}
