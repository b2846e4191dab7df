/* Responses that cannot end cleanly, and clients that stall: a body
 * shorter or longer than its Content-Length, a file that shrinks while it
 * is sent (plain, sendfile and gzip), a request body that never comes, a
 * client that never reads. Each must close the connection without a clean
 * end (so nothing pipelined behind lands inside a body) and log why.
 * Also the timeout sweep against connections that close all the time. */
#include "http/server_util.h"

#include <fcntl.h>
#include <sys/stat.h>

/* --- Content-Length kept ------------------------------------------------- */

static void short_body(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  if (strcmp(sl_http_path(req), "/short") == 0) {
    sl_http_set_header(res, "Content-Length", "10");
    sl_stream_write_str(res, "12345");
    sl_stream_end(res, NULL, NULL, NULL);
  } else if (strcmp(sl_http_path(req), "/long") == 0) {
    sl_http_set_header(res, "Content-Length", "3");
    sl_stream_write_str(res, "12345");
    sl_stream_end(res, NULL, NULL, NULL);
  } else {
    sl_http_respond(res, 200, "text/plain", "next\n", 5);
  }
}

/* Two requests pipelined; the first response breaks its promise. */
static void expect_cut(const char* path, const char* why) {
  const char* lp = sl_test_path("access.log");
  log_capture(lp);
  sl_http_server_opts_t o = {.access_log = 1};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, short_body, NULL, &srv), 0);
  char req[256];
  snprintf(req, sizeof req,
           "GET %s HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x"
           "\r\n\r\n",
           path);
  raw_t r = {.parts = {req}, .nparts = 1};
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  char* log = log_restore(lp);
  ASSERT(r.eof);
  /* The connection closed inside the first response (what was queued for
   * it may or may not have left): no complete response, and the second
   * never came, so nothing can be taken for the rest of a body. */
  const char* out = r.out ? r.out : "";
  ASSERT_EQ(count_responses(out, r.n, 0, 0), 0);
  ASSERT(strstr(out, "next") == NULL);
  ASSERT(r.n == 0 || strstr(out + 1, "HTTP/1.1") == NULL);
  ASSERT(strstr(log, "aborted") != NULL);
  if (strstr(log, why) == NULL)
    sl_test_fail(__FILE__, __LINE__, "log lacks \"%s\": %s", why, log);
  free(log);
  raw_free(&r);
}

TEST(http_server_body_shorter_than_content_length_closes) {
  expect_cut("/short", "response ended after 5 of its Content-Length 10");
}

TEST(http_server_body_longer_than_content_length_closes) {
  expect_cut("/long", "longer than its Content-Length 3");
}

/* --- a file that shrinks while it is sent -------------------------------- */

#define SHRINK_SIZE (32u << 20)

typedef struct {
  int port;
  const char* path; /* the file, truncated mid-response */
  int gzip;
  char* out;
  size_t n;
  int eof;
  pthread_t th;
  volatile int done;
} shrink_t;

static void* shrink_main(void* arg) {
  shrink_t* s = arg;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int small = 64 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)s->port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr*)&a, sizeof a), 0);
  char req[512];
  const char* ae = s->gzip ? "Accept-Encoding: gzip\r\n" : "";
  int len = snprintf(req, sizeof req,
                     "GET /big.txt HTTP/1.1\r\nHost: x\r\n%s\r\n"
                     "GET /next.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                     ae);
  ASSERT_EQ(send(fd, req, (size_t)len, MSG_NOSIGNAL), len);
  size_t cap = 1 << 20;
  s->out = malloc(cap);
  int truncated = 0;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 10000) <= 0) break; /* a hang fails below */
    if (s->n == cap) s->out = realloc(s->out, cap *= 2);
    ssize_t k = recv(fd, s->out + s->n, cap - s->n, 0);
    if (k <= 0) {
      s->eof = k == 0 || errno == ECONNRESET;
      break;
    }
    s->n += (size_t)k;
    if (!truncated && s->n >= 256 * 1024) {
      ASSERT_EQ(truncate(s->path, 1 << 20), 0);
      truncated = 1;
    }
  }
  close(fd);
  s->done = 1;
  return NULL;
}

typedef struct {
  sl_static_t* st;
  sl_http_server_t* srv;
  shrink_t* client;
  sl_timer_t* t;
} shrink_fx_t;

static void static_handler(sl_stream_t* req, sl_stream_t* res, void* arg) {
  shrink_fx_t* f = arg;
  ASSERT_EQ(sl_static_serve(f->st, req, res), 0);
}

static void shrink_poll(sl_timer_t* t, void* arg) {
  shrink_fx_t* f = arg;
  if (!f->client->done) return;
  pthread_join(f->client->th, NULL);
  sl_timer_stop(t);
  sl_http_server_close(f->srv, NULL, NULL);
}

/* Text that gzip cannot shrink much, so the response is still being sent
 * when the client truncates the file. */
static void write_big_text(const char* path) {
  char* buf = malloc(SHRINK_SIZE);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < SHRINK_SIZE; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    buf[i] = (i % 64 == 63) ? '\n' : (char)('!' + x % 90);
  }
  sl_test_write_file(path, buf, SHRINK_SIZE);
  free(buf);
}

static void run_shrink(int gzip) {
  const char* lp = sl_test_path("access.log");
  char dir[512];
  snprintf(dir, sizeof dir, "%s", sl_test_tmpdir());
  char big[600];
  snprintf(big, sizeof big, "%s/big.txt", dir);
  write_big_text(big);
  sl_test_write_file(sl_test_path("next.txt"), "next\n", 5);
  log_capture(lp);
  sl_static_opts_t so = {.root = dir};
  shrink_fx_t f = {0};
  int err;
  f.st = sl_static_new(&so, &err);
  ASSERT(f.st != NULL);
  sl_http_server_opts_t o = {.access_log = 1};
  ASSERT_EQ(sl_http_listen(&o, static_handler, &f, &f.srv), 0);
  shrink_t c = {.port = sl_http_server_port(f.srv), .path = big, .gzip = gzip};
  f.client = &c;
  ASSERT_EQ(pthread_create(&c.th, NULL, shrink_main, &c), 0);
  f.t = sl_timer_start(5, 5, shrink_poll, &f);
  ASSERT_EQ(sl_run(), 0);
  sl_static_free(f.st);
  char* log = log_restore(lp);
  ASSERT(c.eof); /* closed, not hung */
  ASSERT(c.n < SHRINK_SIZE);
  ASSERT(c.n > 256 * 1024);
  /* Nothing after the first head looks like a second response, and the
   * body did not end cleanly: no last chunk for gzip. */
  ASSERT(memmem(c.out + 1, c.n - 1, "HTTP/1.1 ", 9) == NULL);
  ASSERT_EQ(response_end(c.out, c.n, 0, 0), 0);
  if (gzip) ASSERT(memmem(c.out, c.n, "Transfer-Encoding: chunked", 26));
  /* The big file's line says it was cut: by the response's own check
   * (sendfile), or by the pipeline destroying it (gzip). */
  const char* big_line = strstr(log, "\"GET /big.txt HTTP/1.1\" 200 ");
  ASSERT(big_line != NULL);
  char line[512];
  snprintf(line, sizeof line, "%.*s", (int)strcspn(big_line, "\n"), big_line);
  if (strstr(line, "aborted: the body ended before its Content-Length") ==
          NULL &&
      strstr(line, "aborted: unexpected end of input") == NULL &&
      strstr(line, "aborted: the response was destroyed before its end") ==
          NULL)
    sl_test_fail(__FILE__, __LINE__, "log: %s", log);
  /* The pipelined request behind it never got its turn. */
  ASSERT(strstr(log, "/next.txt HTTP/1.1\" 200 0 ") != NULL);
  ASSERT(strstr(log, "before its turn") != NULL);
  free(log);
  free(c.out);
}

TEST(http_static_file_shrinks_while_sent_closes) { run_shrink(0); }

TEST(http_static_file_shrinks_while_gzipped_closes) { run_shrink(1); }

/* --- timeouts ----------------------------------------------------------- */

static int got_body;

static void on_req_end(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s, (void)ev;
  got_body = 1;
  sl_http_respond(arg, 200, "text/plain", "ok\n", 3);
}

static void reads_body(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  sl_stream_on(req, SL_EV_END, on_req_end, res);
  sl_stream_resume(req);
}

/* A body announced and never sent: 408 after the body timeout, not a
 * connection held for ever. */
TEST(http_server_body_timeout_408) {
  sl_http_server_opts_t o = {.body_timeout_ms = 300};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, reads_body, NULL, &srv), 0);
  raw_t r = {.parts = {"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100"
                       "\r\n\r\n0123456789"},
             .nparts = 1,
             .timeout_ms = 5000};
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  ASSERT(r.out != NULL && strncmp(r.out, "HTTP/1.1 408 ", 13) == 0);
  ASSERT(r.eof);
  ASSERT_EQ(got_body, 0);
  raw_free(&r);
}

/* A body that trickles in slower than the timeout per byte, but keeps
 * coming, is not cut. */
TEST(http_server_body_timeout_spares_slow_sender) {
  sl_http_server_opts_t o = {.body_timeout_ms = 400};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, reads_body, NULL, &srv), 0);
  raw_t r = {.parts = {"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4"
                       "\r\nConnection: close\r\n\r\n",
                       "a", "b", "c", "d"},
             .nparts = 5,
             .gap_ms = 200,
             .timeout_ms = 5000};
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  if (r.out == NULL || strncmp(r.out, "HTTP/1.1 200 ", 13) != 0)
    sl_test_fail(__FILE__, __LINE__, "got: %s", r.out ? r.out : "nothing");
  ASSERT_EQ(got_body, 1);
  raw_free(&r);
}

static void big_answer(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req, (void)arg;
  size_t n = 16u << 20; /* far more than the socket buffers hold */
  sl_chunk_t* c = sl_chunk_new(n);
  memset(sl_chunk_data(c), 'x', n);
  sl_stream_end(res, c, NULL, NULL);
  sl_chunk_unref(c);
}

/* A client that never reads: closed after the send timeout, logged. */
TEST(http_server_send_timeout_closes) {
  const char* lp = sl_test_path("access.log");
  log_capture(lp);
  sl_http_server_opts_t o = {.send_timeout_ms = 300, .access_log = 1};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, big_answer, NULL, &srv), 0);
  /* It reads one buffer after 1.5 s (well past the timeout): by then the
   * server has hung up, so what follows is the end of the stream. */
  raw_t r = {.parts = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
             .nparts = 1,
             .rcvbuf = 4096,
             .read_delay_ms = 1500,
             .timeout_ms = 20000};
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  char* log = log_restore(lp);
  ASSERT(r.eof);
  ASSERT(r.n < (16u << 20));
  if (strstr(log, "aborted: send timeout") == NULL)
    sl_test_fail(__FILE__, __LINE__, "log: %s", log);
  free(log);
  raw_free(&r);
}

/* --- the sweep meets connections that are closing ------------------------ */

typedef struct {
  int port, n, ok;
  volatile int done;
  pthread_t th;
} churn_t;

/* `n` connections, one request each, closed by the server (Connection:
 * close) or reset by the client: sockets close all the time while the
 * sweep looks at them. */
static void* churn_main(void* arg) {
  churn_t* ch = arg;
  static const char req[] =
      "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  for (int i = 0; i < ch->n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)ch->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr*)&a, sizeof a) == 0 &&
        send(fd, req, sizeof req - 1, MSG_NOSIGNAL) > 0) {
      char buf[512];
      if (i % 3 == 0) { /* a reset while the answer may be on its way */
        struct linger l = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      } else if (recv(fd, buf, sizeof buf, 0) > 0) {
        ch->ok++;
      }
    }
    close(fd);
  }
  ch->done = 1;
  return NULL;
}

static void churn_poll(sl_timer_t* t, void* arg) {
  void** a = arg;
  churn_t* ch = a[0];
  if (!ch->done) return;
  pthread_join(ch->th, NULL);
  sl_timer_stop(t);
  sl_http_server_close(a[1], NULL, NULL);
}

/* A sweep that ran between a socket's close and its connection's end read
 * a handle that was gone (a worker crashed once in 40,000 requests). */
TEST(http_server_timeout_sweep_survives_churn) {
  sl_http_server_opts_t o = {.send_timeout_ms = 200, .body_timeout_ms = 200};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, tiny, NULL, &srv), 0);
  churn_t ch = {.port = sl_http_server_port(srv), .n = 6000};
  ASSERT_EQ(pthread_create(&ch.th, NULL, churn_main, &ch), 0);
  void* a[] = {&ch, srv};
  sl_timer_start(5, 5, churn_poll, a);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_GT(ch.ok, 3000);
}

/* --- what a review found ------------------------------------------------- */

static void on_pipeline_ignore(int err, const sl_pipeline_result_t* pr,
                               void* arg) {
  (void)err, (void)pr, (void)arg;
}

static void pipe_file_cl10(sl_stream_t* req, sl_stream_t* res, void* arg) {
  const char* path = arg;
  if (strcmp(sl_http_path(req), "/next") == 0) {
    sl_http_respond(res, 200, "text/plain", "next\n", 5);
    return;
  }
  sl_http_set_header(res, "Content-Length", "10");
  sl_stream_t* file = sl_file_reader(path, NULL);
  if (strcmp(sl_http_path(req), "/through") == 0) /* first write comes late */
    sl_pipeline(on_pipeline_ignore, NULL, file, sl_passthrough_new(NULL), res);
  else
    sl_pipeline(on_pipeline_ignore, NULL, file, res); /* sendfile */
}

/* A file longer than the Content-Length its handler set, piped into the
 * response, must not put its extra bytes on the connection, where a
 * pipelining client reads them as the next response: not through sendfile
 * (whose budget was the file's), not through a first chunk that rides in
 * the head's write. */
static void expect_no_smuggle(const char* path) {
  static const char body[] =
      "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"
      "SMUGGLE";
  const char* f = sl_test_path("smuggle.txt");
  sl_test_write_file(f, body, sizeof body - 1);
  char file[512];
  snprintf(file, sizeof file, "%s", f);
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(NULL, pipe_file_cl10, file, &srv), 0);
  char req[256];
  snprintf(req, sizeof req,
           "GET %s HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\n"
           "Host: a\r\n\r\n",
           path);
  raw_t r = {.parts = {req}, .nparts = 1};
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  const char* out = r.out ? r.out : "";
  if (strstr(out, "SMUGGLE") != NULL || strstr(out, "next") != NULL)
    sl_test_fail(__FILE__, __LINE__, "the client read: %s", out);
  ASSERT(r.eof);
  raw_free(&r);
}

TEST(http_server_sendfile_body_longer_than_content_length_closes) {
  expect_no_smuggle("/zc");
}

TEST(http_server_late_first_write_longer_than_content_length_closes) {
  expect_no_smuggle("/through");
}

static void answers_later(sl_timer_t* t, void* arg) {
  (void)t;
  sl_http_respond(arg, 200, "text/plain", "later\n", 6);
  sl_stream_unref(arg);
}

static void waits_then_answers(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req, (void)arg;
  sl_timer_start(700, 0, answers_later, sl_stream_ref(res));
}

/* A client that sent Expect: 100-continue waits, rightly, until the
 * handler reads: the body timeout must not answer it with a 408. */
TEST(http_server_body_timeout_spares_100_continue_wait) {
  sl_http_server_opts_t o = {.body_timeout_ms = 200};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, waits_then_answers, NULL, &srv), 0);
  raw_t r = {.parts = {"POST /w HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                       "Expect: 100-continue\r\n\r\n"},
             .nparts = 1,
             .want = 1,
             .timeout_ms = 4000};
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  if (r.out == NULL || strncmp(r.out, "HTTP/1.1 200 ", 13) != 0)
    sl_test_fail(__FILE__, __LINE__, "got: %s", r.out ? r.out : "nothing");
  raw_free(&r);
}

/* A connection that never sends a byte is closed without an answer (as
 * nginx does: a browser's preconnect is no bad request). */
TEST(http_server_idle_new_connection_closes_silently) {
  sl_http_server_opts_t o = {.headers_timeout_ms = 200};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, tiny, NULL, &srv), 0);
  raw_t r = {.nparts = 0, .timeout_ms = 3000};
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  ASSERT(r.eof);
  ASSERT_EQ(r.n, 0);
  raw_free(&r);
}
