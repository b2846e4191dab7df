/* HTTP server limits (431, 413, 408, idle keep-alive, max connections) and
 * request-smuggling rejections, each with raw bytes over a TCP socket: the
 * answer is the status and a closed connection, and the server goes on
 * serving. */
#include "http/server_util.h"

static int handled;
static char order[256];

static void ok(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  handled++;
  strcat(order, sl_http_path(req));
  sl_http_respond(res, 200, "text/plain", "ok\n", 3);
}

/* Sends `bytes`, expects `status` and a close, then checks that a good
 * request on a new connection still works. */
static void expect_reject(const sl_http_server_opts_t* o, const char* bytes,
                          size_t len, int status) {
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(o, ok, NULL, &srv), 0);
  int port = sl_http_server_port(srv);
  raw_t bad = {.parts = {bytes}, .lens = {len}, .nparts = 1};
  raw_t good = {
      .parts = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"}, .nparts = 1, .want = 1};
  raw_start(&bad, port);
  raw_start(&good, port);
  raw_t* v[] = {&bad, &good};
  drive(srv, v, 2);
  char want[64];
  snprintf(want, sizeof want, "HTTP/1.1 %d ", status);
  if (bad.out == NULL || strncmp(bad.out, want, strlen(want)) != 0)
    sl_test_fail(__FILE__, __LINE__, "expected %d, got: %s", status,
                 bad.out ? bad.out : "(nothing)");
  ASSERT(strstr(bad.out, "Connection: close\r\n") != NULL);
  ASSERT(bad.eof);
  ASSERT_EQ(handled, 1); /* only the good request reached the handler */
  ASSERT_STR_EQ(body_of(good.out), "ok\n");
  raw_free(&bad);
  raw_free(&good);
}

static void reject(const char* bytes, int status) {
  expect_reject(NULL, bytes, strlen(bytes), status);
}

TEST(http_server_malformed_400) { reject("HELLO THERE\r\n\r\n", 400); }

TEST(http_server_smuggle_bare_cr) {
  reject("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400);
}

TEST(http_server_smuggle_bare_lf) {
  reject("GET / HTTP/1.1\r\nHost: x\r\nX: a\nContent-Length: 5\r\n\r\n", 400);
}

TEST(http_server_smuggle_obs_fold) {
  reject("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n  folded\r\n\r\n", 400);
}

TEST(http_server_smuggle_obs_fold_tab) {
  reject(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: x\r\n\tchunked"
      "\r\n\r\n0\r\n\r\n",
      400);
}

TEST(http_server_smuggle_cl_and_te) {
  reject(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      400);
}

TEST(http_server_smuggle_te_not_chunked_last) {
  reject(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n"
      "\r\n0\r\n\r\n",
      400);
}

TEST(http_server_smuggle_te_only_gzip) {
  reject("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc",
         400);
}

TEST(http_server_smuggle_conflicting_cl) {
  reject(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
      "Content-Length: 4\r\n\r\nabcd",
      400);
}

TEST(http_server_smuggle_cl_list) {
  reject("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd", 400);
}

TEST(http_server_limit_header_431) {
  sl_http_server_opts_t o = {.max_header_size = 1024};
  char big[4096];
  int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
  memset(big + n, 'a', 2000);
  strcpy(big + n + 2000, "\r\n\r\n");
  expect_reject(&o, big, strlen(big), 431);
}

TEST(http_server_limit_body_413) {
  sl_http_server_opts_t o = {.max_body_size = 10};
  const char* req =
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
      "hello world";
  expect_reject(&o, req, strlen(req), 413);
}

/* A chunked body crosses the limit after the handler got the request: the
 * request stream fails, and the answer is still 413. */
static int req_err;

static void on_req_error(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s, (void)arg;
  if (ev->type == SL_EV_ERROR) req_err = ev->err;
}

static void reader(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)res, (void)arg;
  sl_stream_on(req, SL_EV_ERROR, on_req_error, NULL);
  sl_stream_resume(req);
}

TEST(http_server_limit_body_413_chunked) {
  sl_http_server_opts_t o = {.max_body_size = 10};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, reader, NULL, &srv), 0);
  raw_t r = {.parts = {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                       "chunked\r\n\r\n6\r\nhello \r\n",
                       "6\r\nworld!\r\n0\r\n\r\n"},
             .nparts = 2,
             .gap_ms = 50};
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  ASSERT(strncmp(r.out, "HTTP/1.1 413 ", 13) == 0);
  ASSERT(r.eof);
  ASSERT_EQ(req_err, SL_EMSGSIZE);
  raw_free(&r);
}

TEST(http_server_headers_timeout_408) {
  /* A slowloris: one header byte every 40 ms against a 300 ms limit. */
  sl_http_server_opts_t o = {.headers_timeout_ms = 300};
  static const char* bytes[] = {"G", "E", "T", " ", "/", " ", "H", "T"};
  raw_t r = {.nparts = 8, .gap_ms = 60, .timeout_ms = 3000};
  for (int i = 0; i < 8; i++) r.parts[i] = bytes[i];
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, ok, NULL, &srv), 0);
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  ASSERT(r.out != NULL && strncmp(r.out, "HTTP/1.1 408 ", 13) == 0);
  ASSERT(r.eof);
  ASSERT_EQ(handled, 0);
  raw_free(&r);
}

TEST(http_server_idle_timeout_closes) {
  sl_http_server_opts_t o = {.keep_alive_timeout_ms = 150};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, ok, NULL, &srv), 0);
  raw_t r = {.parts = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
             .nparts = 1,
             .timeout_ms = 3000};
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  ASSERT_EQ(count_responses(r.out, r.n, 0, 0), 1);
  ASSERT(strstr(r.out, "Keep-Alive: timeout=0") != NULL);
  ASSERT(r.eof); /* closed by the server well before the 3 s deadline */
  raw_free(&r);
}

/* max_connections = 1: a second client waits until the first leaves. */
TEST(http_server_max_connections) {
  sl_http_server_opts_t o = {.max_connections = 1};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, ok, NULL, &srv), 0);
  int port = sl_http_server_port(srv);
  /* The first holds its connection for 400 ms (two requests apart). */
  raw_t a = {.parts = {"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
                       "GET /a2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "\r\n"},
             .nparts = 2,
             .gap_ms = 400};
  raw_t b = {.parts = {"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "\r\n"},
             .nparts = 1};
  raw_start(&a, port);
  sleep_ms(50);
  raw_start(&b, port);
  raw_t* v[] = {&a, &b};
  drive(srv, v, 2);
  ASSERT_EQ(count_responses(a.out, a.n, 0, 1), 2);
  ASSERT_EQ(count_responses(b.out, b.n, 0, 1), 1);
  ASSERT_EQ(handled, 3);
  ASSERT_STR_EQ(order, "/a/a2/b"); /* b was accepted only after a left */
  raw_free(&a);
  raw_free(&b);
}
