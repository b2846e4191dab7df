/* TCP sockets and servers over 127.0.0.1: echo, half close, refused and
 * reset connections, backpressure against a peer that does not read, server
 * close, SO_REUSEPORT and EADDRINUSE; and the uvstream.c wrapper's internal
 * API (handle accessor, zero-copy capabilities, destroy with a write in
 * flight). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream/stream_int.h"
#include "test.h"
#include "stream/sink.h"

/* --- helpers ------------------------------------------------------------ */

static sl_tcp_server_t* listen_or_die(sl_connection_cb cb, void* arg,
                                      const sl_tcp_server_opts_t* o) {
  sl_tcp_server_t* srv = NULL;
  ASSERT_EQ(sl_tcp_listen("127.0.0.1", 0, o, cb, arg, &srv), 0);
  ASSERT(srv != NULL);
  ASSERT_GT(sl_tcp_server_port(srv), 0);
  return srv;
}

static void close_server_on_close(sl_stream_t* s, const sl_event_t* ev,
                                  void* arg) {
  sl_tcp_server_close(arg, NULL, NULL);
}

/* --- echo --------------------------------------------------------------- */

/* Echoes every connection; with arg, closes the server after *arg of them
 * (accepted connections live on). */
static void echo_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  sl_stream_pipe(conn, conn, NULL);
  if (arg != NULL && --*(int*)arg == 0) sl_tcp_server_close(srv, NULL, NULL);
}

TEST(tcp_echo_16mib) {
  size_t len = 16u << 20;
  char* data = malloc(len);
  sl_test_fill_random(data, len, 7);
  sl_tcp_server_t* srv = listen_or_die(echo_conn, NULL, NULL);
  sl_stream_t* c = sl_tcp_connect("127.0.0.1", sl_tcp_server_port(srv), NULL);
  ASSERT(c != NULL);
  sink_t k = {0};
  sink_watch(c, &k, 1);
  sl_stream_on(c, SL_EV_CLOSE, close_server_on_close, srv);
  sl_test_feeder_t f = {.s = c, .data = data, .len = len};
  sl_test_feed(&f);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(k.err, 0);
  ASSERT_EQ(k.connected, 1);
  ASSERT_EQ(k.ended, 1);
  ASSERT_EQ(k.finished, 1);
  ASSERT_EQ(k.closed, 1);
  ASSERT_EQ(k.len, len);
  ASSERT_MEM_EQ(k.buf, data, len);
  free(k.buf);
  free(data);
}

/* Twenty clients at once, each echoing its own pattern. */
TEST(tcp_echo_many_clients) {
  enum { N = 20, LEN = 200000 };
  int left = N;
  sl_tcp_server_t* srv = listen_or_die(echo_conn, &left, NULL);
  static char data[N][LEN];
  static sink_t k[N];
  static sl_test_feeder_t f[N];
  for (int i = 0; i < N; i++) {
    sl_test_fill_random(data[i], LEN, (uint64_t)i + 100);
    sl_stream_t* c = sl_tcp_connect("127.0.0.1", sl_tcp_server_port(srv), NULL);
    sink_watch(c, &k[i], 1);
    f[i] = (sl_test_feeder_t){.s = c, .data = data[i], .len = LEN};
    sl_test_feed(&f[i]);
  }
  ASSERT_EQ(sl_run(), 0);
  for (int i = 0; i < N; i++) {
    ASSERT_EQ(k[i].err, 0);
    ASSERT_EQ(k[i].len, LEN);
    ASSERT_MEM_EQ(k[i].buf, data[i], LEN);
    ASSERT_EQ(k[i].closed, 1);
    free(k[i].buf);
  }
}

/* --- connecting --------------------------------------------------------- */

TEST(tcp_connect_refused) {
  int fd;
  int port = sl_test_unused_port(&fd);
  sl_stream_t* c = sl_tcp_connect("127.0.0.1", port, NULL);
  ASSERT(c != NULL);
  sl_stream_write_str(c, "queued before connect");
  sink_t k = {0};
  sink_watch(c, &k, 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(k.err, SL_ECONNREFUSED);
  char want[128];
  snprintf(want, sizeof want,
           "ECONNREFUSED: connection refused, connect 127.0.0.1:%d", port);
  ASSERT_STR_EQ(k.msg, want);
  ASSERT_EQ(k.connected, 0);
  ASSERT_EQ(k.closed, 1);
  close(fd);
}

TEST(tcp_invalid_address) {
  ASSERT(sl_tcp_connect("not-an-address", 80, NULL) == NULL);
  ASSERT(sl_tcp_connect("127.0.0.1", 70000, NULL) == NULL);
  ASSERT(sl_tcp_connect(NULL, 80, NULL) == NULL);
  sl_tcp_server_t* srv = (sl_tcp_server_t*)1;
  ASSERT_EQ(sl_tcp_listen("nowhere", 0, NULL, echo_conn, NULL, &srv),
            SL_EINVAL);
  ASSERT(srv == NULL);
}

static void hello_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  sl_stream_end_str(conn, "hello from server");
  sl_stream_resume(conn);
  sl_tcp_server_close(srv, NULL, NULL);
}

static void check_peer_on_connect(sl_stream_t* s, const sl_event_t* ev,
                                  void* arg) {
  char want[64];
  snprintf(want, sizeof want, "127.0.0.1:%d", *(int*)arg);
  ASSERT_STR_EQ(sl_tcp_peer(s), want);
}

/* "localhost" resolves (preferring IPv4); the peer is named after connect. */
TEST(tcp_localhost_and_peer) {
  sl_tcp_server_t* srv = listen_or_die(hello_conn, NULL, NULL);
  int port = sl_tcp_server_port(srv);
  sl_stream_t* c = sl_tcp_connect("localhost", port, NULL);
  ASSERT(c != NULL);
  ASSERT_STR_EQ(sl_tcp_peer(c), "");
  sink_t k = {0};
  sink_watch(c, &k, 1);
  sl_stream_on(c, SL_EV_CONNECT, check_peer_on_connect, &port);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(k.err, 0);
  ASSERT_EQ(k.connected, 1);
  ASSERT_EQ(k.len, strlen("hello from server"));
  ASSERT_MEM_EQ(k.buf, "hello from server", k.len);
  ASSERT_EQ(k.ended, 1);
  ASSERT_EQ(k.closed, 1);
  sl_stream_t* plain = sl_duplex_new(NULL);
  ASSERT_STR_EQ(sl_tcp_peer(plain), "");
  sl_stream_destroy(plain, 0);
  sl_run();
  free(k.buf);
}

/* Destroying a socket before it connected: close, no error, nothing left. */
TEST(tcp_destroy_while_connecting) {
  sl_tcp_server_t* srv = listen_or_die(echo_conn, NULL, NULL);
  sl_stream_t* c = sl_tcp_connect("127.0.0.1", sl_tcp_server_port(srv), NULL);
  sl_stream_t* d = sl_tcp_connect("localhost", sl_tcp_server_port(srv), NULL);
  sl_stream_write_str(c, "never sent");
  sink_t k = {0}, kd = {0};
  sink_watch(c, &k, 1);
  sink_watch(d, &kd, 1);
  sl_stream_destroy(c, 0);
  sl_stream_destroy(d, 0);
  sl_tcp_server_close(srv, NULL, NULL);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(k.err, 0);
  ASSERT_EQ(k.connected, 0);
  ASSERT_EQ(k.closed, 1);
  ASSERT_EQ(kd.closed, 1);
}

/* --- half close --------------------------------------------------------- */

typedef struct {
  sink_t in;
  sl_stream_t* conn;
} half_t;

static void half_on_end(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  half_t* h = arg;
  /* The client has ended; this side can still answer. */
  char reply[128];
  snprintf(reply, sizeof reply, "got: %.*s", (int)h->in.len, h->in.buf);
  sl_stream_write_str(s, reply);
  sl_stream_end(s, NULL, NULL, NULL);
}

static void half_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  half_t* h = arg;
  h->conn = conn;
  sink_watch(conn, &h->in, 1);
  sl_stream_on(conn, SL_EV_END, half_on_end, h);
  sl_tcp_server_close(srv, NULL, NULL);
}

TEST(tcp_half_close) {
  half_t h = {0};
  sl_tcp_server_opts_t so = {.conn = {.allow_half_open = 1}};
  sl_tcp_server_t* srv = listen_or_die(half_conn, &h, &so);
  sl_stream_t* c = sl_tcp_connect("127.0.0.1", sl_tcp_server_port(srv),
                                  &(sl_tcp_opts_t){.allow_half_open = 1});
  sink_t k = {0};
  sink_watch(c, &k, 1);
  sl_stream_write_str(c, "hello");
  sl_stream_end(c, NULL, NULL, NULL);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(h.in.ended, 1);
  ASSERT_EQ(h.in.finished, 1);
  ASSERT_EQ(h.in.closed, 1);
  ASSERT_EQ(k.finished, 1);
  ASSERT_EQ(k.ended, 1);
  ASSERT_EQ(k.err, 0);
  ASSERT_EQ(k.len, strlen("got: hello"));
  ASSERT_MEM_EQ(k.buf, "got: hello", k.len);
  free(k.buf);
  free(h.in.buf);
}

/* Without allow_half_open the server's side ends when the client's does. */
static void auto_end_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  sink_watch(conn, arg, 1);
  sl_tcp_server_close(srv, NULL, NULL);
}

TEST(tcp_end_on_peer_end) {
  sink_t sk = {0};
  sl_tcp_server_t* srv = listen_or_die(auto_end_conn, &sk, NULL);
  sl_stream_t* c = sl_tcp_connect("127.0.0.1", sl_tcp_server_port(srv),
                                  &(sl_tcp_opts_t){.allow_half_open = 1});
  sink_t k = {0};
  sink_watch(c, &k, 1);
  sl_stream_end_str(c, "bye");
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(sk.ended, 1);
  ASSERT_EQ(sk.finished, 1); /* ended by the core, not by the test */
  ASSERT_EQ(sk.closed, 1);
  ASSERT_EQ(k.ended, 1);
  ASSERT_EQ(k.closed, 1);
  ASSERT_EQ(sk.len, 3);
  free(sk.buf);
}

/* --- server close ------------------------------------------------------- */

static int server_closed;
static void on_server_closed(void* arg) {
  ASSERT(arg == &server_closed);
  server_closed++;
}
static void never_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  ASSERT(0);
}

TEST(tcp_server_close_cb) {
  sl_tcp_server_t* srv = listen_or_die(never_conn, NULL, NULL);
  int port = sl_tcp_server_port(srv);
  sl_tcp_server_close(srv, on_server_closed, &server_closed);
  ASSERT_EQ(server_closed, 0); /* from the loop, not inside the call */
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(server_closed, 1);
  /* The port is free again, and nothing answers on it. */
  sl_stream_t* c = sl_tcp_connect("127.0.0.1", port, NULL);
  sink_t k = {0};
  sink_watch(c, &k, 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(k.err, SL_ECONNREFUSED);
}

/* --- backpressure ------------------------------------------------------- */

typedef struct {
  sl_stream_t* conn;
  sink_t in;
  sl_test_feeder_t* f;
  sl_tcp_server_t* srv;
  size_t max_wlen;
} bp_t;

static void bp_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  bp_t* b = arg;
  b->conn = conn; /* not read yet: no data listener */
  sl_tcp_server_close(srv, NULL, NULL);
}

static void bp_check(sl_timer_t* t, void* arg) {
  bp_t* b = arg;
  /* The peer reads nothing: the writer is stuck below 64 MiB with a
   * bounded buffer, then the peer starts reading and everything arrives. */
  ASSERT(b->conn != NULL);
  ASSERT(b->f->saw_zero);
  ASSERT_LT(b->f->off, b->f->len);
  size_t wlen = sl_stream_writable_length(b->f->s);
  ASSERT_LE(wlen, sl_stream_writable_hwm(b->f->s) + 65536);
  sl_stream_stats_t st;
  sl_stream_stats(b->f->s, &st);
  ASSERT_LE(st.max_buffered, sl_stream_writable_hwm(b->f->s) + 65536);
  sink_watch(b->conn, &b->in, 0);
  sl_stream_resume(b->conn); /* flowing, data discarded: count only */
  sl_stream_on(b->conn, SL_EV_DATA, on_sink, &b->in);
}

TEST(tcp_backpressure) {
  size_t len = 64u << 20;
  char* data = calloc(1, len);
  bp_t b = {0};
  sl_tcp_server_t* srv = listen_or_die(bp_conn, &b, NULL);
  sl_stream_t* c = sl_tcp_connect("127.0.0.1", sl_tcp_server_port(srv), NULL);
  sl_stream_resume(c); /* read (and drop) what the server sends: its end */
  sl_test_feeder_t f = {.s = c, .data = data, .len = len};
  b.f = &f;
  sl_test_feed(&f);
  ASSERT_EQ(f.saw_zero, 1); /* 64 KiB chunks against a 64 KiB mark */
  sl_timer_start(300, 0, bp_check, &b);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(f.off, len);
  ASSERT_EQ(b.in.len, len);
  ASSERT_EQ(b.in.ended, 1);
  ASSERT_EQ(b.in.closed, 1);
  free(b.in.buf);
  free(data);
}

/* --- reset -------------------------------------------------------------- */

static void reset_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  uv_os_fd_t fd;
  ASSERT_EQ(uv_fileno((uv_handle_t*)sl__uv_stream_handle(conn), &fd), 0);
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  sl_stream_destroy(conn, 0); /* close with linger 0: RST */
  sl_tcp_server_close(srv, NULL, NULL);
}

TEST(tcp_reset_by_peer) {
  sl_tcp_server_t* srv = listen_or_die(reset_conn, NULL, NULL);
  int port = sl_tcp_server_port(srv);
  sl_stream_t* c = sl_tcp_connect("127.0.0.1", port, NULL);
  sink_t k = {0};
  sink_watch(c, &k, 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(k.err, SL_ECONNRESET);
  char want[128];
  snprintf(want, sizeof want,
           "ECONNRESET: connection reset by peer, read 127.0.0.1:%d", port);
  ASSERT_STR_EQ(k.msg, want);
  ASSERT_EQ(k.ended, 0);
  ASSERT_EQ(k.closed, 1);
}

/* --- reuseport and address in use --------------------------------------- */

static void tally_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  (*(int*)arg)++;
  sl_stream_destroy(conn, 0);
}

static void close_both(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  sl_tcp_server_t** srv = arg;
  sl_tcp_server_close(srv[0], NULL, NULL);
  sl_tcp_server_close(srv[1], NULL, NULL);
}

TEST(tcp_reuseport) {
  sl_tcp_server_opts_t o = {.reuseport = 1, .backlog = 16};
  int n = 0;
  sl_tcp_server_t* srv[2];
  srv[0] = listen_or_die(tally_conn, &n, &o);
  int port = sl_tcp_server_port(srv[0]);
  ASSERT_EQ(sl_tcp_listen("127.0.0.1", port, &o, tally_conn, &n, &srv[1]), 0);
  ASSERT_EQ(sl_tcp_server_port(srv[1]), port);
  sl_stream_t* c = sl_tcp_connect("127.0.0.1", port, NULL);
  sink_t k = {0};
  sink_watch(c, &k, 1);
  sl_stream_on(c, SL_EV_CLOSE, close_both, srv);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(k.connected, 1);
  ASSERT_EQ(k.closed, 1);
}

TEST(tcp_addrinuse) {
  sl_tcp_server_t* srv = listen_or_die(never_conn, NULL, NULL);
  sl_tcp_server_t* other = (sl_tcp_server_t*)1;
  int port = sl_tcp_server_port(srv);
  ASSERT_EQ(sl_tcp_listen("127.0.0.1", port, NULL, never_conn, NULL, &other),
            SL_EADDRINUSE);
  ASSERT(other == NULL);
  /* reuseport on one side only is not enough either. */
  sl_tcp_server_opts_t o = {.reuseport = 1};
  ASSERT_EQ(sl_tcp_listen("127.0.0.1", port, &o, never_conn, NULL, &other),
            SL_EADDRINUSE);
  sl_tcp_server_close(srv, NULL, NULL);
  ASSERT_EQ(sl_run(), 0);
}

/* no_delay reaches accepted sockets (and client ones). */
static void nodelay_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  uv_os_fd_t fd;
  int on = 0;
  socklen_t len = sizeof on;
  ASSERT_EQ(uv_fileno((uv_handle_t*)sl__uv_stream_handle(conn), &fd), 0);
  ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
  *(int*)arg = on;
  sl_stream_destroy(conn, 0);
  sl_tcp_server_close(srv, NULL, NULL);
}

static void nodelay_client(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  uv_os_fd_t fd;
  int on = 0;
  socklen_t len = sizeof on;
  ASSERT_EQ(uv_fileno((uv_handle_t*)sl__uv_stream_handle(s), &fd), 0);
  ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
  *(int*)arg = on;
}

TEST(tcp_no_delay) {
  int srv_on = -1, cli_on = -1;
  sl_tcp_server_opts_t so = {.conn = {.no_delay = 1}};
  sl_tcp_server_t* srv = listen_or_die(nodelay_conn, &srv_on, &so);
  sl_stream_t* c = sl_tcp_connect("127.0.0.1", sl_tcp_server_port(srv),
                                  &(sl_tcp_opts_t){.no_delay = 1});
  sl_stream_on(c, SL_EV_CONNECT, nodelay_client, &cli_on);
  sl_stream_resume(c);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(srv_on, 1);
  ASSERT_EQ(cli_on, 1);
}

/* --- the wrapper's internal API ----------------------------------------- */

static void zc_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  const sl__zc_ops_t* zc = conn->zc;
  int64_t pos = 0;
  uint64_t rem = 0;
  int kind = 0;
  int fd = zc->dst_fd(conn, &pos, &kind);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(kind, SL__ZC_SOCKET);
  ASSERT_EQ(pos, -1);
  ASSERT_EQ(zc->src_fd(conn, &pos, &rem), SL_ENOTSUP); /* pipes only */
  sl_stream_destroy(conn, 0);
  sl_tcp_server_close(srv, NULL, NULL);
}

TEST(uvs_tcp_handle_and_zc_caps) {
  sl_tcp_server_t* srv = listen_or_die(zc_conn, NULL, NULL);
  sl_stream_t* c = sl_tcp_connect("127.0.0.1", sl_tcp_server_port(srv), NULL);
  uv_stream_t* h = sl__uv_stream_handle(c);
  ASSERT(h != NULL);
  ASSERT_EQ(h->type, UV_TCP);
  int64_t pos;
  int kind;
  ASSERT_EQ(c->zc->dst_fd(c, &pos, &kind), SL_EAGAIN); /* connecting */
  sl_stream_t* plain = sl_duplex_new(NULL);
  ASSERT(sl__uv_stream_handle(plain) == NULL);
  sl_stream_destroy(plain, 0);
  sink_t k = {0};
  sink_watch(c, &k, 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(k.closed, 1);
}

/* Throughput through loopback: SL_TCP_BENCH_MB (default 64) MiB from a
 * client to a server that counts and drops, reported on stderr. */
static void count_data(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  *(uint64_t*)arg += sl_chunk_len(ev->chunk);
}

static void count_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  sl_stream_on(conn, SL_EV_DATA, count_data, arg);
  sl_tcp_server_close(srv, NULL, NULL);
}

typedef struct {
  sl_stream_t* s;
  sl_chunk_t* c;
  uint64_t left;
} pump_t;

static void pump(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  pump_t* p = arg;
  while (p->left > 0) {
    p->left -= sl_chunk_len(p->c);
    if (sl_stream_write(p->s, p->c, NULL, NULL) == 0) return;
  }
  sl_stream_off(s, SL_EV_DRAIN, pump, p);
  sl_stream_end(s, NULL, NULL, NULL);
}

TEST(tcp_throughput) {
  const char* mb = getenv("SL_TCP_BENCH_MB");
  uint64_t total = (uint64_t)(mb ? atoi(mb) : 64) << 20, got = 0;
  sl_tcp_server_t* srv = listen_or_die(count_conn, &got, NULL);
  sl_stream_t* c = sl_tcp_connect("127.0.0.1", sl_tcp_server_port(srv), NULL);
  pump_t p = {.s = c, .c = sl_chunk_new(65536), .left = total};
  memset(sl_chunk_data(p.c), 'x', 65536);
  sl_stream_on(c, SL_EV_DRAIN, pump, &p);
  sl_stream_resume(c);
  uint64_t t0 = sl_hrtime();
  pump(c, NULL, &p);
  ASSERT_EQ(sl_run(), 0);
  double s = (double)(sl_hrtime() - t0) / 1e9;
  ASSERT_EQ(got, total);
  fprintf(stderr, "tcp_throughput: %llu MiB in %.3f s: %.0f MB/s\n",
          (unsigned long long)(total >> 20), s, (double)total / 1e6 / s);
  sl_chunk_unref(p.c);
}

/* Zero-copy with a socket sink: a file piped into a socket that is still
 * connecting waits for the connection, then moves with sendfile. */
static void collect_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  sink_watch(conn, arg, 1);
  sl_tcp_server_close(srv, NULL, NULL);
}

TEST(uvs_zc_file_to_socket) {
  size_t len = 3u << 20;
  char* data = malloc(len);
  sl_test_fill_random(data, len, 11);
  const char* path = sl_test_path("zc.bin");
  sl_test_write_file(path, data, len);
  sink_t sk = {0};
  sl_tcp_server_t* srv = listen_or_die(collect_conn, &sk, NULL);
  sl_stream_t* c = sl_tcp_connect("127.0.0.1", sl_tcp_server_port(srv), NULL);
  sl_stream_resume(c);
  sl_stream_ref(c);
  sl_stream_pipe(sl_file_reader(path, NULL), c, NULL);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(sk.err, 0);
  ASSERT_EQ(sk.len, len);
  ASSERT_MEM_EQ(sk.buf, data, len);
  ASSERT_EQ(sk.ended, 1);
  sl_stream_stats_t st;
  sl_stream_stats(c, &st);
  ASSERT_EQ(st.zero_copy_bytes, len);
  sl_stream_unref(c);
  free(sk.buf);
  free(data);
}
