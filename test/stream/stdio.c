/* Streams over descriptors: pipes, socketpairs, regular files, a terminal,
 * and the process's own stdin/stdout (redirected for the test). Also the
 * uvstream.c wrapper over a pipe built by hand (sl__uv_stream_new), the way
 * child stdio will use it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream/stream_int.h"
#include "test.h"
#include "stream/sink.h"

static int fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

/* --- pipes -------------------------------------------------------------- */

TEST(stdio_pipe_8mib) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  size_t len = 8u << 20;
  char* data = malloc(len);
  sl_test_fill_random(data, len, 3);
  sl_stream_t* r = sl_fd_stream(p[0], 1, 0, 0);
  sl_stream_t* w = sl_fd_stream(p[1], 0, 1, 0);
  ASSERT(r != NULL && w != NULL);
  ASSERT(sl_stream_is_readable(r) && !sl_stream_is_writable(r));
  ASSERT(sl_stream_is_writable(w) && !sl_stream_is_readable(w));
  sink_t kr = {0}, kw = {0};
  sink_watch(r, &kr, 1);
  sink_watch(w, &kw, 0);
  sl_test_feeder_t f = {.s = w, .data = data, .len = len};
  sl_test_feed(&f);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(kw.err, 0);
  ASSERT_EQ(kw.finished, 1);
  ASSERT_EQ(kw.closed, 1);
  ASSERT_EQ(kr.err, 0);
  ASSERT_EQ(kr.ended, 1);
  ASSERT_EQ(kr.closed, 1);
  ASSERT_EQ(kr.len, len);
  ASSERT_MEM_EQ(kr.buf, data, len);
  ASSERT(!fd_open(p[0]) && !fd_open(p[1])); /* closed: keep_fd was 0 */
  free(kr.buf);
  free(data);
}

/* keep_fd: the stream closes its own duplicate, the caller's stays open. */
TEST(stdio_pipe_keep_fd) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  sl_stream_t* w = sl_fd_stream(p[1], 0, 1, 1);
  sl_stream_end_str(w, "kept");
  sink_t kw = {0};
  sink_watch(w, &kw, 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(kw.finished, 1);
  ASSERT_EQ(kw.closed, 1);
  ASSERT(fd_open(p[1]));
  char buf[16];
  ASSERT_EQ(read(p[0], buf, sizeof buf), 4);
  ASSERT_MEM_EQ(buf, "kept", 4);
  close(p[1]);
  close(p[0]);
}

/* A write to a pipe whose reader is gone is EPIPE, not SIGPIPE. */
TEST(stdio_pipe_epipe) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  close(p[0]);
  sl_stream_t* w = sl_fd_stream(p[1], 0, 1, 0);
  sink_t kw = {0};
  sink_watch(w, &kw, 0);
  sl_stream_write_str(w, "nobody reads this");
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(kw.err, SL_EPIPE);
  char want[64];
  snprintf(want, sizeof want, "EPIPE: broken pipe, write fd %d", p[1]);
  ASSERT_STR_EQ(kw.msg, want);
  ASSERT_EQ(kw.closed, 1);
}

/* A socketpair is a Duplex that half-closes: A ends, B still answers. */
static void answer_on_end(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  sl_stream_end_str(s, "answer");
}

TEST(stdio_socketpair_half_close) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  sl_stream_t* a = sl_fd_stream(sv[0], 1, 1, 0);
  sl_stream_t* b = sl_fd_stream(sv[1], 1, 1, 0);
  sink_t ka = {0}, kb = {0};
  sink_watch(a, &ka, 1);
  sink_watch(b, &kb, 1);
  sl_stream_on(b, SL_EV_END, answer_on_end, NULL);
  sl_stream_end_str(a, "question");
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(kb.len, 8);
  ASSERT_MEM_EQ(kb.buf, "question", 8);
  ASSERT_EQ(ka.len, 6);
  ASSERT_MEM_EQ(ka.buf, "answer", 6);
  ASSERT_EQ(ka.ended + ka.finished + ka.closed, 3);
  ASSERT_EQ(kb.ended + kb.finished + kb.closed, 3);
  ASSERT_EQ(ka.err + kb.err, 0);
  free(ka.buf);
  free(kb.buf);
}

/* --- files, errors, terminals ------------------------------------------- */

/* A regular file is read from where its descriptor stands. */
TEST(stdio_regular_file_read) {
  const char* path = sl_test_path("in.txt");
  sl_test_write_file(path, "0123456789abcdef", 16);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(lseek(fd, 10, SEEK_SET), 10);
  sl_stream_t* r = sl_fd_stream(fd, 1, 0, 0);
  sink_t k = {0};
  sink_watch(r, &k, 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(k.err, 0);
  ASSERT_EQ(k.len, 6);
  ASSERT_MEM_EQ(k.buf, "abcdef", 6);
  ASSERT_EQ(k.closed, 1);
  ASSERT(!fd_open(fd));
  free(k.buf);
}

TEST(stdio_regular_file_write) {
  const char* path = sl_test_path("out.txt");
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_EQ(write(fd, "head:", 5), 5);
  sl_stream_t* w = sl_fd_stream(fd, 0, 1, 1);
  sl_stream_write_str(w, "one,");
  sl_stream_end_str(w, "two");
  sink_t k = {0};
  sink_watch(w, &k, 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(k.finished, 1);
  ASSERT(fd_open(fd));                 /* kept */
  ASSERT_EQ(write(fd, ":tail", 5), 5); /* the stream moved the offset */
  close(fd);
  size_t len;
  char* got = sl_test_read_file(path, &len);
  ASSERT_STR_EQ(got, "head:one,two:tail");
  free(got);
}

TEST(stdio_bad_fd) {
  sl_stream_t* s = sl_fd_stream(987, 1, 0, 0);
  ASSERT(s != NULL);
  sink_t k = {0};
  sink_watch(s, &k, 1);
  ASSERT_EQ(k.err, 0); /* from the loop */
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(k.err, SL_EBADF);
  ASSERT_STR_EQ(k.msg, "EBADF: bad file descriptor, fd 987");
  ASSERT_EQ(k.closed, 1);
}

/* A terminal: libuv reopens the slave side; no descriptor is left open. */
TEST(stdio_pty_write) {
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT(m >= 0);
  ASSERT_EQ(grantpt(m), 0);
  ASSERT_EQ(unlockpt(m), 0);
  int sfd = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT(sfd >= 0);
  sl_stream_t* w = sl_fd_stream(sfd, 0, 1, 0);
  ASSERT_EQ(sl__uv_stream_handle(w)->type, UV_TTY);
  sl_stream_end_str(w, "tty\n");
  sink_t k = {0};
  sink_watch(w, &k, 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(k.err, 0);
  ASSERT_EQ(k.finished, 1);
  ASSERT(!fd_open(sfd));
  char buf[16] = "";
  ASSERT_EQ(read(m, buf, sizeof buf), 5); /* onlcr: "tty\r\n" */
  ASSERT_MEM_EQ(buf, "tty\r\n", 5);
  close(m);
}

/* --- the process's stdio ------------------------------------------------ */

/* Points descriptor `target` at `fd` for the case; returns the saved one. */
static int redirect(int target, int fd) {
  int saved = fcntl(target, F_DUPFD_CLOEXEC, 10);
  ASSERT(saved >= 0);
  ASSERT_EQ(dup2(fd, target), target);
  close(fd);
  return saved;
}

static void restore(int target, int saved) {
  ASSERT_EQ(dup2(saved, target), target);
  close(saved);
}

static void upper(sl_stream_t* s, sl_chunk_t* c) {
  size_t n = sl_chunk_len(c);
  sl_chunk_t* out = sl_chunk_new(n);
  const unsigned char* in = (const unsigned char*)sl_chunk_data(c);
  char* o = sl_chunk_data(out);
  for (size_t i = 0; i < n; i++) o[i] = (char)toupper(in[i]);
  sl_stream_push(s, out);
  sl_chunk_unref(out);
  sl_stream_write_done(s, 0);
}

static int saved_in = -1, saved_out = -1;

static void on_filter_done(int err, const sl_pipeline_result_t* pr, void* arg) {
  *(int*)arg = err ? err : 1;
  /* The reader sees EOF once no writer is left. */
  if (saved_out >= 0) restore(1, saved_out);
  if (saved_in >= 0) restore(0, saved_in);
}

/* stdin (a file) -> upper case -> stdout (a pipe): the same stream object
 * for every sl_stdout() call until it closes, and descriptor 1 survives.
 * With SL_UPPER_FILTER=1 it filters the real stdin/stdout instead (for
 * timing against tr). */
TEST(stdio_stdin_stdout_filter) {
  static const sl_stream_hooks_t hooks = {.transform = upper};
  int filter = getenv("SL_UPPER_FILTER") != NULL;
  int p[2] = {-1, -1};
  sl_stream_t* reader = NULL;
  sink_t k = {0};
  if (!filter) {
    const char* path = sl_test_path("in.txt");
    sl_test_write_file(path, "hello, stdio\n", 13);
    saved_in = redirect(0, open(path, O_RDONLY | O_CLOEXEC));
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    saved_out = redirect(1, p[1]);
    reader = sl_fd_stream(p[0], 1, 0, 0);
    sink_watch(reader, &k, 1);
  }
  sl_stream_t* out = sl_stdout();
  ASSERT(out != NULL && sl_stdout() == out);
  sl_stream_opts_t o = {.hooks = &hooks, .high_water_mark = 64 * 1024};
  int done = 0;
  sl_pipeline(on_filter_done, &done, sl_stdin(), sl_transform_new(&o), out);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(done, 1);
  ASSERT(fd_open(0) && fd_open(1));
  if (filter) return;
  ASSERT_EQ(k.len, 13);
  ASSERT_MEM_EQ(k.buf, "HELLO, STDIO\n", 13);
  ASSERT_EQ(k.closed, 1);
  free(k.buf);
}

/* --- the wrapper over a handle built by hand ---------------------------- */

static int cb_err = 1;
static void on_write_cb(sl_stream_t* s, int err, void* arg) { cb_err = err; }

/* A write stuck on a full pipe when the stream is destroyed: libuv cancels
 * it, the write's callback reports an error, the handle closes. */
TEST(uvs_destroy_with_write_in_flight) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  uv_pipe_t* h = sl__malloc(sizeof *h);
  uv_pipe_init(sl_loop(), h, 0);
  ASSERT_EQ(uv_pipe_open(h, p[1]), 0);
  sl_stream_t* w = sl__uv_stream_new((uv_stream_t*)h, SL__UVS_WRITABLE, NULL,
                                     sizeof(sl__uvs_t));
  ASSERT(w != NULL);
  sl_chunk_t* big = sl_chunk_new(4u << 20); /* more than a pipe holds */
  memset(sl_chunk_data(big), 'z', sl_chunk_len(big));
  ASSERT_EQ(sl_stream_write(w, big, on_write_cb, NULL), 0);
  sl_chunk_unref(big);
  sink_t k = {0};
  sink_watch(w, &k, 0);
  /* Once the write is in flight (a loop turn), destroy. */
  uv_run(sl_loop(), UV_RUN_NOWAIT);
  ASSERT_EQ(cb_err, 1);
  const sl__zc_ops_t* zc = w->zc;
  int64_t pos;
  int kind = 0;
  ASSERT_EQ(zc->dst_fd(w, &pos, &kind), p[1]);
  ASSERT_EQ(kind, SL__ZC_PIPE);
  sl_stream_destroy(w, 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT(cb_err != 0 && cb_err != 1);
  ASSERT_EQ(k.closed, 1);
  ASSERT_EQ(k.finished, 0);
  ASSERT(!fd_open(p[1]));
  close(p[0]);
}

/* A TCP socket handed over as a descriptor is a TCP stream: it names its
 * peer and half-closes. */
TEST(stdio_tcp_socket_fd) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(l, (struct sockaddr*)&a, sizeof a), 0);
  ASSERT_EQ(listen(l, 1), 0);
  socklen_t alen = sizeof a;
  getsockname(l, (struct sockaddr*)&a, &alen);
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(connect(c, (struct sockaddr*)&a, sizeof a), 0);
  int peer = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  ASSERT(peer >= 0);
  ASSERT_EQ(write(peer, "pong", 4), 4);
  sl_stream_t* s = sl_fd_stream(c, 1, 1, 0);
  char want[64];
  snprintf(want, sizeof want, "127.0.0.1:%d", ntohs(a.sin_port));
  ASSERT_STR_EQ(sl_tcp_peer(s), want);
  sink_t k = {0};
  sink_watch(s, &k, 1);
  sl_stream_end_str(s, "ping");
  /* Runs until our side finished; the peer answers EOF with its own. */
  while (!k.finished) uv_run(sl_loop(), UV_RUN_ONCE);
  char buf[16];
  ASSERT_EQ(read(peer, buf, sizeof buf), 4);
  ASSERT_MEM_EQ(buf, "ping", 4);
  ASSERT_EQ(read(peer, buf, sizeof buf), 0); /* shutdown reached the peer */
  close(peer);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(k.len, 4);
  ASSERT_MEM_EQ(k.buf, "pong", 4);
  ASSERT_EQ(k.ended, 1);
  ASSERT_EQ(k.closed, 1);
  ASSERT(!fd_open(c));
  close(l);
  free(k.buf);
}

/* Zero-copy with a pipe source: splice from the pipe into a file; the
 * stream's own reads stay off while zero-copy owns the descriptor. */
TEST(uvs_zc_pipe_to_file) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  size_t len = 4u << 20;
  char* data = malloc(len);
  sl_test_fill_random(data, len, 5);
  const char* path = sl_test_path("spliced.bin");
  sl_stream_t* r = sl_fd_stream(p[0], 1, 0, 0);
  sl_stream_t* w = sl_fd_stream(p[1], 0, 1, 0);
  sl_stream_ref(r);
  sl_stream_pipe(r, sl_file_writer(path, NULL), NULL);
  sl_test_feeder_t f = {.s = w, .data = data, .len = len};
  sl_test_feed(&f);
  ASSERT_EQ(sl_run(), 0);
  sl_stream_stats_t st;
  sl_stream_stats(r, &st);
  ASSERT_EQ(st.zero_copy_bytes, len);
  ASSERT(sl_stream_closed(r));
  sl_stream_unref(r);
  size_t got;
  char* out = sl_test_read_file(path, &got);
  ASSERT_EQ(got, len);
  ASSERT_MEM_EQ(out, data, len);
  free(out);
  free(data);
}

/* --- chunks of 4 GiB and more --------------------------------------------- */

#include <pthread.h>
#include <sys/mman.h>

#define STDIO_HUGE (((size_t)4 << 30) + 3) /* past what 32 bits can count */

typedef struct {
  int fd;
  uint64_t got;
} stdio_drain_t;

static void* stdio_drain_main(void* arg) {
  stdio_drain_t* d = arg;
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  ssize_t n;
  while ((n = splice(d->fd, NULL, null, NULL, 1 << 20, 0)) > 0) d->got += n;
  close(null);
  return NULL;
}

static void stdio_unmap_huge(void* data, void* arg) {
  (void)arg;
  munmap(data, STDIO_HUGE);
}

TEST(stdio_pipe_write_chunk_over_4gib) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  stdio_drain_t d = {.fd = fds[0]};
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, NULL, stdio_drain_main, &d), 0);
  sl_stream_t* w = sl_fd_stream(fds[1], 0, 1, 0);
  void* p = mmap(NULL, STDIO_HUGE, PROT_READ,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT(p != MAP_FAILED);
  sl_chunk_t* c = sl_chunk_wrap(p, STDIO_HUGE, stdio_unmap_huge, NULL);
  sl_stream_end(w, c, NULL, NULL);
  sl_chunk_unref(c);
  sl_run(); /* the stream closes fds[1]: the thread sees EOF */
  pthread_join(t, NULL);
  close(fds[0]);
  ASSERT_EQ(d.got, STDIO_HUGE);
}
