/* HTTP server: requests and responses over raw TCP bytes (keep-alive,
 * pipelining, bodies, HEAD, 100-continue, HTTP/1.0, framing of responses,
 * accessors). Limits and request smuggling are in server_limits.c. */
#include "http/server_util.h"
#include "http/http_int.h"

#include <strings.h>

static sl_http_server_t* listen_with(const sl_http_server_opts_t* o,
                                     sl_http_handler h, void* arg) {
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(o, h, arg, &srv), 0);
  ASSERT(sl_http_server_port(srv) > 0);
  return srv;
}

/* Runs one raw client against a server with `h`. */
static void one_client(const sl_http_server_opts_t* o, sl_http_handler h,
                       void* arg, raw_t* r) {
  sl_http_server_t* srv = listen_with(o, h, arg);
  raw_start(r, sl_http_server_port(srv));
  raw_t* v[] = {r};
  drive(srv, v, 1);
}

static void hello(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req, (void)arg;
  sl_chunk_t* c = sl_chunk_str("Hello World\n");
  sl_stream_end(res, c, NULL, NULL);
  sl_chunk_unref(c);
}

/* Echo: collects the body, answers "METHOD PATH LEN:body". */
typedef struct {
  sl_stream_t* res;
  sl_stream_t* req;
  char buf[1 << 16];
  size_t n;
  size_t total;
} echo_t;

static void echo_event(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  echo_t* e = arg;
  if (ev->type == SL_EV_DATA) {
    size_t len = sl_chunk_len(ev->chunk);
    if (e->n + len < sizeof e->buf) {
      memcpy(e->buf + e->n, sl_chunk_data(ev->chunk), len);
      e->n += len;
    }
    e->total += len;
  } else if (ev->type == SL_EV_END) {
    sl_chunk_t* c =
        sl_chunk_printf("%s %s %zu:%.*s", sl_http_method(s), sl_http_path(s),
                        e->total, (int)e->n, e->buf);
    sl_stream_end(e->res, c, NULL, NULL);
    sl_chunk_unref(c);
  } else if (ev->type == SL_EV_CLOSE) {
    free(e);
  }
}

static void echo(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  echo_t* e = calloc(1, sizeof *e);
  e->res = res;
  e->req = req;
  sl_stream_on(req, SL_EV_DATA, echo_event, e);
  sl_stream_on(req, SL_EV_END, echo_event, e);
  sl_stream_on(req, SL_EV_CLOSE, echo_event, e);
}

TEST(http_server_hello_get) {
  raw_t r = {
      .parts = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"}, .nparts = 1, .want = 1};
  one_client(NULL, hello, NULL, &r);
  ASSERT(strncmp(r.out, "HTTP/1.1 200 OK\r\n", 17) == 0);
  ASSERT(strstr(r.out, "Content-Length: 12\r\n") != NULL);
  ASSERT(strstr(r.out, "Connection: keep-alive\r\n") != NULL);
  ASSERT(strstr(r.out, "Date: ") != NULL);
  ASSERT_STR_EQ(body_of(r.out), "Hello World\n");
  raw_free(&r);
}

TEST(http_server_keep_alive_sequential) {
  /* Two requests with a pause between them: one connection, two answers. */
  raw_t r = {.parts = {"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
                       "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"},
             .nparts = 2,
             .gap_ms = 100,
             .want = 2};
  one_client(NULL, echo, NULL, &r);
  ASSERT_EQ(count_responses(r.out, r.n, 0, 0), 2);
  ASSERT(strstr(r.out, "GET /a 0:") != NULL);
  ASSERT(strstr(r.out, "GET /b 0:") != NULL);
  ASSERT(!r.eof);
  raw_free(&r);
}

/* Pipelining: answers are delayed in reverse order; they still leave in
 * request order. */
typedef struct {
  sl_stream_t* res;
  char text[32];
} later_t;

static void later_fire(sl_timer_t* t, void* arg) {
  later_t* l = arg;
  (void)t;
  sl_http_respond(l->res, 200, "text/plain", l->text, strlen(l->text));
  free(l);
}

static int in_flight, max_in_flight;

static void on_res_close(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s, (void)ev, (void)arg;
  in_flight--;
}

static void delayed(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  later_t* l = calloc(1, sizeof *l);
  l->res = res;
  snprintf(l->text, sizeof l->text, "%s\n", sl_http_path(req));
  int delay = 60 - 10 * (sl_http_path(req)[1] - '0');
  if (++in_flight > max_in_flight) max_in_flight = in_flight;
  sl_stream_on(res, SL_EV_CLOSE, on_res_close, NULL);
  sl_timer_start(delay > 0 ? (uint64_t)delay : 1, 0, later_fire, l);
}

TEST(http_server_pipelined_in_order) {
  raw_t r = {.parts = {"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n"},
             .nparts = 1,
             .want = 3};
  one_client(NULL, delayed, NULL, &r);
  ASSERT_EQ(count_responses(r.out, r.n, 0, 0), 3);
  char* a = strstr(r.out, "/1\n");
  char* b = strstr(r.out, "/2\n");
  char* c = strstr(r.out, "/3\n");
  ASSERT(a != NULL && b != NULL && c != NULL && a < b && b < c);
  ASSERT_EQ(max_in_flight, 3); /* all three handled concurrently */
  raw_free(&r);
}

TEST(http_server_max_pipelined) {
  sl_http_server_opts_t o = {.max_pipelined = 2};
  raw_t r = {.parts = {"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /4 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /5 HTTP/1.1\r\nHost: x\r\n\r\n"},
             .nparts = 1,
             .want = 5};
  one_client(&o, delayed, NULL, &r);
  ASSERT_EQ(count_responses(r.out, r.n, 0, 0), 5);
  ASSERT_LE(max_in_flight, 2);
  ASSERT(strstr(r.out, "/4\n") < strstr(r.out, "/5\n"));
  raw_free(&r);
}

TEST(http_server_post_content_length) {
  raw_t r = {.parts = {"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11"
                       "\r\n\r\nhello world"},
             .nparts = 1,
             .want = 1};
  one_client(NULL, echo, NULL, &r);
  ASSERT_STR_EQ(body_of(r.out), "POST /up 11:hello world");
  raw_free(&r);
}

TEST(http_server_post_chunked) {
  raw_t r = {.parts = {"POST /c HTTP/1.1\r\nHost: x\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                       "6\r\n world\r\n0\r\n\r\n"},
             .nparts = 2,
             .gap_ms = 30,
             .want = 1};
  one_client(NULL, echo, NULL, &r);
  ASSERT_STR_EQ(body_of(r.out), "POST /c 11:hello world");
  raw_free(&r);
}

TEST(http_server_head_no_body) {
  raw_t r = {.parts = {"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
             .nparts = 1,
             .timeout_ms = 500};
  one_client(NULL, hello, NULL, &r);
  /* HEAD: the same head as GET (Content-Length 12) and no body; then the
   * GET's answer follows directly. */
  ASSERT(strstr(r.out, "Content-Length: 12\r\n\r\nHTTP/1.1 200 OK") != NULL);
  ASSERT_EQ(count_responses(r.out, r.n, 1, 0), 2);
  ASSERT(strstr(r.out, "Hello World\n") != NULL);
  ASSERT(strstr(strstr(r.out, "Hello World\n") + 1, "Hello World") == NULL);
  raw_free(&r);
}

TEST(http_server_expect_continue) {
  raw_t r = {.parts = {"PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                       "Expect: 100-continue\r\n\r\n",
                       "data"},
             .nparts = 2,
             .continue_before = 1,
             .want = 1};
  one_client(NULL, echo, NULL, &r);
  ASSERT(strncmp(r.out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK", 40) ==
         0);
  ASSERT(strstr(r.out, "PUT /e 4:data") != NULL);
  raw_free(&r);
}

TEST(http_server_connection_close) {
  raw_t r = {.parts = {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                       "GET /ignored HTTP/1.1\r\nHost: x\r\n\r\n"},
             .nparts = 1};
  one_client(NULL, hello, NULL, &r);
  ASSERT(r.eof);
  ASSERT(strstr(r.out, "Connection: close\r\n") != NULL);
  ASSERT_EQ(count_responses(r.out, r.n, 0, 1), 1);
  raw_free(&r);
}

/* Streams two writes with no length: chunked for 1.1, close-delimited for
 * 1.0. */
static void stream_two(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req, (void)arg;
  sl_stream_write_str(res, "one,");
  sl_stream_write_str(res, "two");
  sl_http_add_trailer(res, "X-Sum", "2");
  sl_stream_end(res, NULL, NULL, NULL);
}

TEST(http_server_http10_close_delimited) {
  raw_t r = {.parts = {"GET / HTTP/1.0\r\n\r\n"}, .nparts = 1};
  one_client(NULL, stream_two, NULL, &r);
  ASSERT(r.eof);
  ASSERT(strstr(r.out, "Transfer-Encoding") == NULL);
  ASSERT(strstr(r.out, "Connection: close\r\n") != NULL);
  ASSERT_STR_EQ(body_of(r.out), "one,two");
  raw_free(&r);
}

TEST(http_server_http10_keep_alive) {
  raw_t r = {.parts = {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
             .nparts = 1,
             .want = 1};
  one_client(NULL, hello, NULL, &r);
  ASSERT(!r.eof);
  ASSERT(strstr(r.out, "Connection: keep-alive\r\n") != NULL);
  ASSERT_STR_EQ(body_of(r.out), "Hello World\n");
  raw_free(&r);
}

TEST(http_server_chunked_response_trailers) {
  raw_t r = {
      .parts = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"}, .nparts = 1, .want = 1};
  one_client(NULL, stream_two, NULL, &r);
  ASSERT(strstr(r.out, "Transfer-Encoding: chunked\r\n") != NULL);
  ASSERT_STR_EQ(body_of(r.out),
                "4\r\none,\r\n3\r\ntwo\r\n0\r\nX-Sum: 2\r\n\r\n");
  raw_free(&r);
}

/* Headers set by the handler, and status. */
static void custom(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req, (void)arg;
  ASSERT_EQ(sl_http_set_status(res, 201), 0);
  ASSERT_EQ(sl_http_set_header(res, "X-A", "1"), 0);
  ASSERT_EQ(sl_http_set_header(res, "x-a", "2"), 0); /* replaces */
  ASSERT_EQ(sl_http_add_header(res, "Set-Cookie", "a=1"), 0);
  ASSERT_EQ(sl_http_add_header(res, "Set-Cookie", "b=2"), 0);
  ASSERT_EQ(sl_http_set_header(res, "Bad", "x\r\nInjected: 1"), SL_EINVAL);
  ASSERT_EQ(sl_http_set_header(res, "Bad Name", "x"), SL_EINVAL);
  ASSERT(!sl_http_headers_sent(res));
  sl_stream_write_str(res, "abc");
  sl_chunk_t* c = sl_chunk_str("def");
  sl_stream_end(res, c, NULL, NULL);
  sl_chunk_unref(c);
}

TEST(http_server_headers_and_status) {
  raw_t r = {
      .parts = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"}, .nparts = 1, .want = 1};
  one_client(NULL, custom, NULL, &r);
  ASSERT(strncmp(r.out, "HTTP/1.1 201 Created\r\n", 22) == 0);
  ASSERT(strstr(r.out, "X-A") == NULL);
  ASSERT(strstr(r.out, "x-a: 2\r\n") != NULL);
  ASSERT(strstr(r.out, "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n") != NULL);
  ASSERT(strstr(r.out, "Injected") == NULL);
  /* Written before end: chunked, as in Node. */
  ASSERT_STR_EQ(body_of(r.out), "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n");
  raw_free(&r);
}

/* Accessors. */
static char seen[1024];

static void accessors(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  const char *n0, *v0;
  ASSERT_EQ(sl_http_header_at(req, 0, &n0, &v0), 0);
  ASSERT_EQ(sl_http_header_at(req, 99, NULL, NULL), SL_ENOENT);
  snprintf(seen, sizeof seen, "%s|%s|%s|%d|%s|%s|%s|%s|%d", sl_http_method(req),
           sl_http_url(req), sl_http_path(req), sl_http_version_minor(req),
           sl_http_header(req, "ACCEPT"), sl_http_header(req, "x-trim"), n0, v0,
           sl_http_header(req, "missing") == NULL);
  ASSERT(strncmp(sl_http_remote(req), "127.0.0.1:", 10) == 0);
  sl_http_respond(res, 204, NULL, NULL, 0);
}

TEST(http_server_request_accessors) {
  raw_t r = {.parts = {"DELETE /a%20b/c%2Fd?q=1%20 HTTP/1.1\r\nHost: h\r\n"
                       "Accept: a\r\nX-Trim: v  \r\naccept: b\r\n\r\n"},
             .nparts = 1,
             .want = 1};
  one_client(NULL, accessors, NULL, &r);
  ASSERT_STR_EQ(seen, "DELETE|/a%20b/c%2Fd?q=1%20|/a b/c/d|1|a, b|v|Host|h|1");
  ASSERT(strncmp(r.out, "HTTP/1.1 204 No Content\r\n", 25) == 0);
  ASSERT(strstr(r.out, "Content-Length") == NULL);
  raw_free(&r);
}

/* Zero-copy: a file piped into a response with a known length moves with
 * sendfile. */
static sl_stream_t* zc_res;

static void send_file(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req;
  const char* path = arg;
  sl_http_set_header(res, "Content-Length", "1048576");
  zc_res = sl_stream_ref(res);
  sl_stream_pipe(sl_file_reader(path, NULL), res, NULL);
  /* Still before the head: it leaves from the loop. */
  ASSERT_EQ(sl_http_set_header(res, "Content-Type", "application/x-test"), 0);
}

TEST(http_server_sendfile_zero_copy) {
  size_t size = 1 << 20;
  char* data = malloc(size);
  sl_test_fill_random(data, size, 7);
  const char* path = sl_test_path("big.bin");
  sl_test_write_file(path, data, size);
  raw_t r = {
      .parts = {"GET /f HTTP/1.1\r\nHost: x\r\n\r\n"}, .nparts = 1, .want = 1};
  one_client(NULL, send_file, (void*)path, &r);
  ASSERT(strstr(r.out, "Content-Length: 1048576\r\n") != NULL);
  ASSERT(strstr(r.out, "Content-Type: application/x-test\r\n") != NULL);
  const char* body = strstr(r.out, "\r\n\r\n") + 4;
  ASSERT_EQ(r.n - (size_t)(body - r.out), size);
  ASSERT_MEM_EQ(body, data, size);
  sl_stream_stats_t st;
  sl_stream_stats(zc_res, &st);
  ASSERT_EQ(st.zero_copy_bytes, size);
  sl_stream_unref(zc_res);
  free(data);
  raw_free(&r);
}

/* The same file through a transform: chunked, no zero-copy. */
static void ignore_done(int err, const sl_pipeline_result_t* pr, void* a) {
  (void)err, (void)pr, (void)a;
}

static void send_file_pt(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req;
  zc_res = sl_stream_ref(res);
  sl_pipeline(ignore_done, NULL, sl_file_reader(arg, NULL),
              sl_passthrough_new(NULL), res);
}

TEST(http_server_piped_chunked) {
  const char* path = sl_test_path("small.txt");
  sl_test_write_file(path, "0123456789", 10);
  raw_t r = {
      .parts = {"GET /f HTTP/1.1\r\nHost: x\r\n\r\n"}, .nparts = 1, .want = 1};
  one_client(NULL, send_file_pt, (void*)path, &r);
  ASSERT(strstr(r.out, "Transfer-Encoding: chunked\r\n") != NULL);
  ASSERT_STR_EQ(body_of(r.out), "a\r\n0123456789\r\n0\r\n\r\n");
  sl_stream_stats_t st;
  sl_stream_stats(zc_res, &st);
  ASSERT_EQ(st.zero_copy_bytes, 0);
  sl_stream_unref(zc_res);
  raw_free(&r);
}

/* A handler that never answers: the connection going away (a reset from
 * the peer, or the handler destroying its response) closes both streams. */
static int closes;

static void count_close(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s, (void)arg;
  if (ev->type == SL_EV_CLOSE) closes++;
}

static void give_up(sl_timer_t* t, void* arg) {
  (void)t;
  sl_stream_destroy(arg, 0);
}

static void never(sl_stream_t* req, sl_stream_t* res, void* arg) {
  sl_stream_on(req, SL_EV_CLOSE, count_close, NULL);
  sl_stream_on(res, SL_EV_CLOSE, count_close, NULL);
  if (arg != NULL) sl_timer_start(100, 0, give_up, res);
}

TEST(http_server_handler_never_answers_reset) {
  raw_t r = {.parts = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
             .nparts = 1,
             .timeout_ms = 200,
             .rst = 1};
  one_client(NULL, never, NULL, &r);
  ASSERT_EQ(r.n, 0);
  ASSERT_EQ(closes, 2);
}

TEST(http_server_handler_destroys_response) {
  raw_t r = {.parts = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
             .nparts = 1,
             .timeout_ms = 2000};
  one_client(NULL, never, "destroy", &r);
  ASSERT_EQ(r.n, 0);
  ASSERT(r.eof); /* the server closed the connection */
  ASSERT_EQ(closes, 2);
}

/* sl_http_hold: the handler answers from a timer through one pointer. */
static int late_rc = 1;

static void hold_fire(sl_timer_t* t, void* arg) {
  sl_http_exchange_t* x = arg;
  sl_http_set_headerf(x->res, "X-Path-Len", "%zu",
                      strlen(sl_http_path(x->req)));
  late_rc = sl_http_replyf(x->res, 200, "late %s\n", sl_http_path(x->req));
  sl_http_release(x);
}

static void hold_later(sl_stream_t* req, sl_stream_t* res, void* arg) {
  sl_http_exchange_t* x = sl_http_hold(req, res);
  ASSERT(x != NULL && x->req == req && x->res == res);
  sl_timer_start(arg != NULL ? 300 : 20, 0, hold_fire, x);
}

TEST(http_server_hold_answers_later) {
  raw_t r = {.parts = {"GET /abc HTTP/1.1\r\nHost: x\r\n\r\n"},
             .nparts = 1,
             .want = 1};
  one_client(NULL, hold_later, NULL, &r);
  ASSERT_EQ(late_rc, 0);
  ASSERT(strstr(r.out, "HTTP/1.1 200") == r.out);
  ASSERT(strcasestr(r.out, "\r\nX-Path-Len: 4\r\n") != NULL);
  ASSERT_STR_EQ(body_of(r.out), "late /abc\n");
  raw_free(&r);
}

/* The client resets long before the answer: the held streams are
 * destroyed but stay allocated (ASan checks), and the late reply fails
 * with an error instead of touching freed memory. */
TEST(http_server_hold_client_gone) {
  raw_t r = {.parts = {"GET /abc HTTP/1.1\r\nHost: x\r\n\r\n"},
             .nparts = 1,
             .timeout_ms = 50,
             .rst = 1};
  one_client(NULL, hold_later, "slow", &r);
  ASSERT_EQ(r.n, 0);
  ASSERT(late_rc < 0);
  raw_free(&r);
}

/* Graceful close: an exchange in flight finishes with Connection: close;
 * the close callback runs after it. */
static sl_http_server_t* gsrv;
static int gclosed;

static void on_gclosed(void* arg) {
  (void)arg;
  gclosed = 1;
}

static void close_then_answer(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req, (void)arg;
  sl_http_server_close(gsrv, on_gclosed, NULL);
  later_t* l = calloc(1, sizeof *l);
  l->res = res;
  strcpy(l->text, "bye\n");
  sl_timer_start(50, 0, later_fire, l);
}

TEST(http_server_graceful_close) {
  gsrv = listen_with(NULL, close_then_answer, NULL);
  raw_t r = {.parts = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"}, .nparts = 1};
  raw_start(&r, sl_http_server_port(gsrv));
  raw_t* v[] = {&r};
  drive(NULL, v, 1);
  ASSERT(gclosed);
  ASSERT(r.eof);
  ASSERT(strstr(r.out, "Connection: close\r\n") != NULL);
  ASSERT_STR_EQ(body_of(r.out), "bye\n");
  raw_free(&r);
}

/* Backpressure: a handler that does not read leaves the upload in the
 * kernel; the request buffer stays at its mark. Then it reads it all. */
typedef struct {
  sl_stream_t* req;
  sl_stream_t* res;
  size_t max_buffered;
  size_t total;
  int reads;
} slow_t;

static slow_t slow;

static void slow_event(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)arg;
  if (ev->type == SL_EV_READABLE) {
    size_t len = sl_stream_readable_length(s);
    if (len > slow.max_buffered) slow.max_buffered = len;
    sl_chunk_t* c;
    while ((c = sl_stream_read(s, 0)) != NULL) {
      slow.total += sl_chunk_len(c);
      sl_chunk_unref(c);
    }
  } else if (ev->type == SL_EV_END) {
    char num[32];
    snprintf(num, sizeof num, "%zu", slow.total);
    sl_http_respond(slow.res, 200, "text/plain", num, strlen(num));
  }
}

static void start_reading(sl_timer_t* t, void* arg) {
  (void)t, (void)arg;
  slow.max_buffered = sl_stream_readable_length(slow.req);
  sl_stream_on(slow.req, SL_EV_READABLE, slow_event, NULL);
  sl_stream_on(slow.req, SL_EV_END, slow_event, NULL);
}

static void slow_handler(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  slow.req = req;
  slow.res = res;
  sl_timer_start(300, 0, start_reading, NULL);
}

TEST(http_server_body_backpressure) {
  size_t size = 8 << 20;
  char* up = malloc(size + 200);
  int h = snprintf(up, 200,
                   "POST /u HTTP/1.1\r\nHost: x\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   size);
  memset(up + h, 'x', size);
  sl_http_server_opts_t o = {.high_water_mark = 16 * 1024};
  raw_t r = {.parts = {up},
             .lens = {(size_t)h + size},
             .nparts = 1,
             .want = 1,
             .timeout_ms = 10000};
  one_client(&o, slow_handler, NULL, &r);
  ASSERT_STR_EQ(body_of(r.out), "8388608");
  /* Before reading: at most the mark plus one socket read was buffered. */
  ASSERT_LE(slow.max_buffered, 16 * 1024 + 64 * 1024);
  free(up);
  raw_free(&r);
}

/* The fuzzing entry split at every cut point gives what the whole input in
 * one read gives: the same requests, the same responses (the Date header
 * keeps its width); and each cut is really a cut (two reads inside). */
TEST(http_server_fuzz_entry) {
  static const struct {
    const char* in;
    int requests;
    const char* statuses;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1, "200"},
      {"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
       "3\r\nabc\r\n0\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n",
       2, "200 200"},
      {"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n", 0, "400"},
      {"\x01\x02garbage", 0, "400"},
      {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\nabc", 0,
       "413"},
      {"", 0, ""},
  };
  static sl__http_fuzz_result_t whole, split;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const uint8_t* in = (const uint8_t*)cases[i].in;
    size_t len = strlen(cases[i].in), cuts = 0;
    sl__http_fuzz_feed_split(in, len, len, &whole);
    ASSERT_EQ(whole.requests, cases[i].requests);
    ASSERT_STR_EQ(whole.statuses, cases[i].statuses);
    ASSERT_EQ(whole.pieces, len > 0);
    for (size_t cut = 0; cut <= len; cut++) {
      sl__http_fuzz_feed_split(in, len, cut, &split);
      ASSERT_EQ(split.pieces, (cut > 0) + (cut < len));
      ASSERT_EQ(split.requests, whole.requests);
      ASSERT_STR_EQ(split.statuses, whole.statuses);
      ASSERT_EQ(split.out_bytes, whole.out_bytes);
      cuts++;
    }
    ASSERT_EQ(cuts, len + 1);
    /* The libFuzzer entry takes its cut from the first byte. */
    ASSERT_EQ(sl__http_fuzz_feed(in, len), 0);
  }
}

/* Two pipelined file responses: the second one's head and sendfile wait for
 * the first; HEAD with a file piped sends the head only. */
static void send_small_file(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req;
  sl_http_set_header(res, "Content-Length", "100000");
  sl_stream_pipe(sl_file_reader(arg, NULL), res, NULL);
}

TEST(http_server_sendfile_pipelined) {
  size_t size = 100000;
  char* data = malloc(size);
  sl_test_fill_random(data, size, 9);
  const char* path = sl_test_path("f.bin");
  sl_test_write_file(path, data, size);
  raw_t r = {.parts = {"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"},
             .nparts = 1,
             .want = 2};
  one_client(NULL, send_small_file, (void*)path, &r);
  ASSERT_EQ(count_responses(r.out, r.n, 0, 0), 2);
  const char* b1 = strstr(r.out, "\r\n\r\n") + 4;
  ASSERT_MEM_EQ(b1, data, size);
  ASSERT(strncmp(b1 + size, "HTTP/1.1 200 OK\r\n", 17) == 0);
  const char* b2 = strstr(b1 + size, "\r\n\r\n") + 4;
  ASSERT_EQ(r.n - (size_t)(b2 - r.out), size);
  ASSERT_MEM_EQ(b2, data, size);
  raw_free(&r);

  raw_t h = {.parts = {"HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "\r\n"},
             .nparts = 1};
  one_client(NULL, send_small_file, (void*)path, &h);
  ASSERT(h.eof);
  ASSERT(strstr(h.out, "Content-Length: 100000\r\n") != NULL);
  ASSERT_STR_EQ(body_of(h.out), "");
  raw_free(&h);
  free(data);
}

static void head_empty(sl_stream_t* req, sl_stream_t* res, void* arg) {
  sl_stream_end(res, NULL, NULL, NULL);
}

/* A HEAD answered with an empty end() must not claim Content-Length: 0 (a
 * proxy would tell its client the GET body is empty). */
TEST(http_server_head_empty_end_no_length) {
  raw_t r = {
      .parts = {"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
      .nparts = 1,
      .timeout_ms = 500};
  one_client(NULL, head_empty, NULL, &r);
  ASSERT(strncmp(r.out, "HTTP/1.1 200 OK\r\n", 17) == 0);
  ASSERT(strstr(r.out, "Content-Length") == NULL);
  ASSERT(strstr(r.out, "Transfer-Encoding") == NULL);
  raw_free(&r);
}

/* Query parameters, method/path matching and a formatted text reply: what
 * a handler reads and writes in Node with URLSearchParams and res.end(). */
static void query_reply(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  const char* n = sl_http_query(req, "n");
  const char* sp = sl_http_query(req, "a b");
  const char* empty = sl_http_query(req, "e");
  sl_http_replyf(res, sl_http_is(req, "GET", "/sum/*") ? 200 : 404,
                 "n=%s sp=%s e=[%s] none=%s is=%d%d%d%d", n ? n : "-",
                 sp ? sp : "-", empty ? empty : "-",
                 sl_http_query(req, "zz") ? "yes" : "no",
                 sl_http_is(req, "GET", "/sum/x"), sl_http_is(req, NULL, NULL),
                 sl_http_is(req, "POST", NULL), sl_http_is(req, NULL, "/sum"));
}

TEST(http_server_query_is_replyf) {
  raw_t r = {.parts = {"GET /sum/x?n=4%2B2&a+b=c+d%21&e&x=1 HTTP/1.1\r\n"
                       "Host: x\r\n\r\n"},
             .nparts = 1,
             .want = 1};
  one_client(NULL, query_reply, NULL, &r);
  ASSERT(strncmp(r.out, "HTTP/1.1 200 OK\r\n", 17) == 0);
  ASSERT(strstr(r.out, "Content-Type: text/plain; charset=utf-8\r\n") != NULL);
  ASSERT_STR_EQ(body_of(r.out), "n=4+2 sp=c d! e=[] none=no is=1100");
  raw_free(&r);
}
