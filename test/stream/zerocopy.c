/* Zero-copy pipes (src/stream/zerocopy.c): file -> file with
 * copy_file_range, through pipes with splice, to a socket with sendfile on
 * the loop, the transparent fallback to chunks, and the same results, events,
 * errors and counters as the chunk path. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream/stream_int.h"
#include "test.h"

#define BIG (64u << 20)

typedef struct {
  int err, stage, calls;
  char msg[512];
} pl_result_t;

static void on_pipeline(int err, const sl_pipeline_result_t* pr, void* arg) {
  pl_result_t* r = arg;
  r->err = err;
  r->stage = pr->stage;
  r->calls++;
  snprintf(r->msg, sizeof r->msg, "%s", pr->message ? pr->message : "");
}

/* Event letters per stream: e(nd) f(inish) E(rror) c(lose) u(npipe). */
typedef struct {
  char log[32];
  size_t n;
  int err;
  char msg[512];
} ev_log_t;

static void on_ev(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  ev_log_t* l = arg;
  static const char letters[SL_EV_CONNECT + 1] = {[SL_EV_END] = 'e',
                                                  [SL_EV_ERROR] = 'E',
                                                  [SL_EV_CLOSE] = 'c',
                                                  [SL_EV_FINISH] = 'f',
                                                  [SL_EV_UNPIPE] = 'u'};
  if (ev->type == SL_EV_ERROR) {
    l->err = ev->err;
    snprintf(l->msg, sizeof l->msg, "%s", ev->message ? ev->message : "");
  }
  if (letters[ev->type] && l->n + 1 < sizeof l->log)
    l->log[l->n++] = letters[ev->type];
}

static void watch(sl_stream_t* s, ev_log_t* l) {
  sl_event_type_t types[] = {SL_EV_END, SL_EV_ERROR, SL_EV_CLOSE, SL_EV_FINISH,
                             SL_EV_UNPIPE};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    sl_stream_on(s, types[i], on_ev, l);
}

static void assert_file(const char* path, const char* want, size_t len) {
  size_t n;
  char* got = sl_test_read_file(path, &n);
  ASSERT_EQ(n, len);
  ASSERT_MEM_EQ(got, want, len);
  free(got);
}

static void stats(sl_stream_t* s, sl_stream_stats_t* st) {
  sl_stream_stats(s, st);
  sl_stream_unref(s);
}

/* Copies in.bin to out.bin with sl_stream_pipe; returns both streams'
 * counters and event logs. */
static void pipe_copy(const sl_file_opts_t* ro, const sl_pipe_opts_t* po,
                      sl_stream_stats_t* rs, sl_stream_stats_t* ws,
                      ev_log_t* rl, ev_log_t* wl) {
  sl_stream_t* r = sl_stream_ref(sl_file_reader(sl_test_path("in.bin"), ro));
  sl_stream_t* w = sl_stream_ref(sl_file_writer(sl_test_path("out.bin"), NULL));
  watch(r, rl);
  watch(w, wl);
  ASSERT(sl_stream_pipe(r, w, po) == w);
  sl_run();
  stats(r, rs);
  stats(w, ws);
}

TEST(zc_pipe_64mib_file_to_file) {
  char* want = sl_test_make_file("in.bin", BIG, 11);
  sl_stream_stats_t rs, ws;
  ev_log_t rl = {0}, wl = {0};
  pipe_copy(NULL, NULL, &rs, &ws, &rl, &wl);
  assert_file(sl_test_path("out.bin"), want, BIG);
  ASSERT_EQ(rs.zero_copy_bytes, BIG);
  ASSERT_EQ(ws.zero_copy_bytes, BIG);
  ASSERT_EQ(rs.bytes_read, BIG);
  ASSERT_EQ(ws.bytes_written, BIG);
  ASSERT_EQ(rs.max_buffered, 0);
  ASSERT_STR_EQ(rl.log, "ec");
  ASSERT_STR_EQ(wl.log, "ufc");
  free(want);
}

TEST(zc_pipe_64mib_chunk_path) {
  char* want = sl_test_make_file("in.bin", BIG, 12);
  sl_stream_stats_t rs, ws;
  ev_log_t rl = {0}, wl = {0};
  sl_pipe_opts_t po = {.no_zero_copy = 1};
  pipe_copy(NULL, &po, &rs, &ws, &rl, &wl);
  assert_file(sl_test_path("out.bin"), want, BIG);
  ASSERT_EQ(rs.zero_copy_bytes, 0);
  ASSERT_EQ(ws.zero_copy_bytes, 0);
  ASSERT_EQ(rs.bytes_read, BIG);
  ASSERT_EQ(ws.bytes_written, BIG);
  /* Each side holds at most its mark, plus one 64 KiB read on the writer. */
  ASSERT_LE(rs.max_buffered, 64 * 1024);
  ASSERT_LE(ws.max_buffered, 64 * 1024 + 16 * 1024);
  /* The same events, in the same order, as the zero-copy path. */
  ASSERT_STR_EQ(rl.log, "ec");
  ASSERT_STR_EQ(wl.log, "ufc");
  free(want);
}

TEST(zc_pipeline_64mib) {
  char* want = sl_test_make_file("in.bin", BIG, 13);
  sl_stream_t* r = sl_stream_ref(sl_file_reader(sl_test_path("in.bin"), NULL));
  sl_stream_t* w = sl_stream_ref(sl_file_writer(sl_test_path("out.bin"), NULL));
  pl_result_t res = {.stage = 99};
  ASSERT_EQ(sl_pipeline(on_pipeline, &res, r, w), 0);
  ASSERT_EQ(res.calls, 0);
  sl_run();
  ASSERT_EQ(res.calls, 1);
  ASSERT_EQ(res.err, 0);
  ASSERT_EQ(res.stage, -1);
  assert_file(sl_test_path("out.bin"), want, BIG);
  sl_stream_stats_t rs, ws;
  stats(r, &rs);
  stats(w, &ws);
  ASSERT_EQ(rs.zero_copy_bytes, BIG);
  ASSERT_EQ(ws.zero_copy_bytes, BIG);
  free(want);
}

TEST(zc_range_both_paths) {
  char* want = sl_test_make_file("in.bin", 10 << 20, 14);
  sl_file_opts_t ro = {.start = 777, .end = (9 << 20) + 3};
  size_t len = ro.end - ro.start;
  for (int nozc = 0; nozc < 2; nozc++) {
    sl_stream_stats_t rs, ws;
    ev_log_t rl = {0}, wl = {0};
    sl_pipe_opts_t po = {.no_zero_copy = nozc};
    pipe_copy(&ro, &po, &rs, &ws, &rl, &wl);
    assert_file(sl_test_path("out.bin"), want + ro.start, len);
    ASSERT_EQ(rs.bytes_read, len);
    ASSERT_EQ(ws.bytes_written, len);
    ASSERT_EQ(ws.zero_copy_bytes, nozc ? 0 : len);
  }
  free(want);
}

TEST(zc_empty_file) {
  sl_test_write_file(sl_test_path("in.bin"), "", 0);
  sl_test_write_file(sl_test_path("out.bin"), "old", 3); /* truncated */
  pl_result_t res = {0};
  sl_pipeline(on_pipeline, &res, sl_file_reader(sl_test_path("in.bin"), NULL),
              sl_file_writer(sl_test_path("out.bin"), NULL));
  sl_run();
  ASSERT_EQ(res.calls, 1);
  ASSERT_EQ(res.err, 0);
  assert_file(sl_test_path("out.bin"), "", 0);
}

TEST(zc_missing_source_pipeline) {
  const char* path = sl_test_path("missing.txt");
  pl_result_t res = {0};
  ev_log_t wl = {0};
  sl_stream_t* w = sl_file_writer(sl_test_path("out.bin"), NULL);
  watch(w, &wl);
  sl_pipeline(on_pipeline, &res, sl_file_reader(path, NULL), w);
  sl_run();
  ASSERT_EQ(res.calls, 1);
  ASSERT_EQ(res.err, SL_ENOENT);
  ASSERT_EQ(res.stage, 0);
  char want[600];
  snprintf(want, sizeof want, "ENOENT: no such file or directory, open '%s'",
           path);
  ASSERT_STR_EQ(res.msg, want);
  ASSERT_STR_EQ(wl.log, "c"); /* destroyed, never finished */
}

/* /dev/full has no splice_write: both calls refuse it and the chunk path
 * meets the ENOSPC; the pipeline reports it the same either way. */
TEST(zc_dev_full_pipeline) {
  free(sl_test_make_file("in.bin", 4 << 20, 15));
  pl_result_t res = {0};
  sl_pipeline(on_pipeline, &res, sl_file_reader(sl_test_path("in.bin"), NULL),
              sl_file_writer("/dev/full", NULL));
  sl_run();
  ASSERT_EQ(res.calls, 1);
  ASSERT_EQ(res.err, SL_ENOSPC);
  ASSERT_EQ(res.stage, 1);
  ASSERT_STR_EQ(res.msg, "ENOSPC: no space left on device, write '/dev/full'");
}

/* A write error in the middle of a zero-copy move (the file size limit:
 * copy_file_range moves up to it, then says EFBIG) names the destination,
 * destroys both sides, and the bytes moved before it are counted. */
TEST(zc_write_error_midway) {
  free(sl_test_make_file("in.bin", 4 << 20, 24));
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = {.rlim_cur = 1 << 20, .rlim_max = RLIM_INFINITY};
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
  const char* out = sl_test_path("out.bin");
  sl_stream_t* w = sl_stream_ref(sl_file_writer(out, NULL));
  ev_log_t rl = {0};
  sl_stream_t* r = sl_file_reader(sl_test_path("in.bin"), NULL);
  watch(r, &rl);
  pl_result_t res = {0};
  sl_pipeline(on_pipeline, &res, r, w);
  sl_run();
  ASSERT_EQ(res.err, SL_EFBIG);
  ASSERT_EQ(res.stage, 1);
  char want[600];
  snprintf(want, sizeof want, "EFBIG: file too large, write '%s'", out);
  ASSERT_STR_EQ(res.msg, want);
  ASSERT_STR_EQ(rl.log, "c");
  sl_stream_stats_t ws;
  stats(w, &ws);
  ASSERT_EQ(ws.zero_copy_bytes, 1 << 20);
  ASSERT_EQ(ws.bytes_written, 1 << 20);
}

TEST(zc_dev_full_chunk_path) {
  free(sl_test_make_file("in.bin", 1 << 20, 16));
  sl_stream_t* r = sl_file_reader(sl_test_path("in.bin"), NULL);
  sl_stream_t* w = sl_file_writer("/dev/full", NULL);
  ev_log_t rl = {0}, wl = {0};
  watch(r, &rl);
  watch(w, &wl);
  sl_pipe_opts_t po = {.no_zero_copy = 1};
  sl_stream_pipe(r, w, &po);
  sl_run();
  ASSERT_EQ(wl.err, SL_ENOSPC);
  ASSERT_STR_EQ(wl.msg, "ENOSPC: no space left on device, write '/dev/full'");
  /* A plain pipe leaves the source paused; it is ours to destroy. */
  if (!strchr(rl.log, 'c')) {
    sl_stream_destroy(r, 0);
    sl_run();
  }
  ASSERT(strchr(rl.log, 'c') != NULL);
}

/* O_APPEND makes copy_file_range (EBADF) and sendfile (EINVAL) refuse the
 * pair on their first call: the pipe falls back to chunks unnoticed. */
TEST(zc_fallback_to_chunks_on_append) {
  char* want = sl_test_make_file("in.bin", 3 << 20, 17);
  sl_test_write_file(sl_test_path("out.bin"), "head:", 5);
  sl_stream_t* r = sl_stream_ref(sl_file_reader(sl_test_path("in.bin"), NULL));
  sl_file_opts_t wo = {.flags = O_WRONLY | O_APPEND};
  sl_stream_t* w = sl_stream_ref(sl_file_writer(sl_test_path("out.bin"), &wo));
  ev_log_t rl = {0}, wl = {0};
  watch(r, &rl);
  watch(w, &wl);
  sl_stream_pipe(r, w, NULL);
  sl_run();
  size_t n;
  char* got = sl_test_read_file(sl_test_path("out.bin"), &n);
  ASSERT_EQ(n, 5 + (3 << 20));
  ASSERT_MEM_EQ(got, "head:", 5);
  ASSERT_MEM_EQ(got + 5, want, 3 << 20);
  sl_stream_stats_t rs, ws;
  stats(r, &rs);
  stats(w, &ws);
  ASSERT_EQ(ws.zero_copy_bytes, 0);
  ASSERT_EQ(ws.bytes_written, 3 << 20);
  ASSERT_STR_EQ(rl.log, "ec");
  ASSERT_STR_EQ(wl.log, "ufc");
  free(got);
  free(want);
}

/* file -> pipe -> file: two splice jobs on the pool, meeting in a pipe. */
TEST(zc_splice_through_pipe) {
  char* want = sl_test_make_file("in.bin", 16 << 20, 18);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  sl_file_opts_t to_pipe = {.use_fd = 1, .fd = p[1]};
  sl_file_opts_t from_pipe = {.use_fd = 1, .fd = p[0]};
  sl_stream_t* a = sl_stream_ref(sl_file_reader(sl_test_path("in.bin"), NULL));
  sl_stream_t* b = sl_stream_ref(sl_file_writer(NULL, &to_pipe));
  sl_stream_t* c = sl_stream_ref(sl_file_reader(NULL, &from_pipe));
  sl_stream_t* d = sl_stream_ref(sl_file_writer(sl_test_path("out.bin"), NULL));
  pl_result_t r1 = {0}, r2 = {0};
  sl_pipeline(on_pipeline, &r1, a, b);
  sl_pipeline(on_pipeline, &r2, c, d);
  sl_run();
  ASSERT_EQ(r1.err, 0);
  ASSERT_EQ(r2.err, 0);
  assert_file(sl_test_path("out.bin"), want, 16 << 20);
  sl_stream_stats_t s[4];
  stats(a, &s[0]);
  stats(b, &s[1]);
  stats(c, &s[2]);
  stats(d, &s[3]);
  for (int i = 0; i < 4; i++) ASSERT_EQ(s[i].zero_copy_bytes, 16 << 20);
  free(want);
}

/* A non-blocking pipe end moves the job to the loop: splice until EAGAIN,
 * then a uv_poll_t on a dup of the descriptor. */
TEST(zc_splice_nonblocking_pipe_on_loop) {
  char* want = sl_test_make_file("in.bin", 8 << 20, 19);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  ASSERT_EQ(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
  sl_file_opts_t to_pipe = {.use_fd = 1, .fd = p[1]};
  sl_file_opts_t from_pipe = {.use_fd = 1, .fd = p[0]};
  sl_stream_t* b = sl_stream_ref(sl_file_writer(NULL, &to_pipe));
  pl_result_t r1 = {0}, r2 = {0};
  sl_pipeline(on_pipeline, &r1, sl_file_reader(sl_test_path("in.bin"), NULL),
              b);
  sl_pipeline(on_pipeline, &r2, sl_file_reader(NULL, &from_pipe),
              sl_file_writer(sl_test_path("out.bin"), NULL));
  sl_run();
  ASSERT_EQ(r1.err, 0);
  ASSERT_EQ(r2.err, 0);
  assert_file(sl_test_path("out.bin"), want, 8 << 20);
  sl_stream_stats_t bs;
  stats(b, &bs);
  ASSERT_EQ(bs.zero_copy_bytes, 8 << 20);
  free(want);
}

/* --- a socket sink ------------------------------------------------------- */

/* A minimal writable over one end of a non-blocking socketpair, describing
 * itself as SL__ZC_SOCKET the way tcp.c does. */
typedef struct {
  sl_stream_t s;
  int fd;
} sock_sink_t;

static int sink_dst_fd(sl_stream_t* s, int64_t* pos, int* kind) {
  *pos = -1;
  *kind = SL__ZC_SOCKET;
  return ((sock_sink_t*)s)->fd;
}
static void sink_advance(sl_stream_t* s, uint64_t n) {}
static void sink_destroy(sl_stream_t* s, int err) {
  close(((sock_sink_t*)s)->fd); /* EOF for the other end */
  sl_stream_destroy_done(s);
}
static const sl__zc_ops_t sink_zc = {.dst_fd = sink_dst_fd,
                                     .advance = sink_advance};
static const sl_stream_hooks_t sink_hooks = {.destroy = sink_destroy};

static sl_stream_t* sock_sink(int fd) {
  sl_stream_opts_t o = {.hooks = &sink_hooks, .name = "127.0.0.1:9"};
  sock_sink_t* k =
      (sock_sink_t*)sl__stream_new(SL__KIND_WRITABLE, &o, sizeof *k);
  k->s.zc = &sink_zc;
  k->fd = fd;
  return &k->s;
}

TEST(zc_sendfile_to_nonblocking_socket) {
  char* want = sl_test_make_file("in.bin", 12 << 20, 20);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_EQ(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
  sl_stream_t* k = sl_stream_ref(sock_sink(sv[0]));
  sl_stream_t* r = sl_stream_ref(sl_file_reader(sl_test_path("in.bin"), NULL));
  /* The other end is read by a file reader over the socket (chunks: a
   * socket source has no zero-copy call into a file). */
  sl_file_opts_t from = {.use_fd = 1, .fd = sv[1]};
  pl_result_t r1 = {0}, r2 = {0};
  sl_pipeline(on_pipeline, &r1, r, k);
  sl_pipeline(on_pipeline, &r2, sl_file_reader(NULL, &from),
              sl_file_writer(sl_test_path("out.bin"), NULL));
  sl_run();
  ASSERT_EQ(r1.err, 0);
  ASSERT_EQ(r2.err, 0);
  assert_file(sl_test_path("out.bin"), want, 12 << 20);
  sl_stream_stats_t rs, ks;
  stats(r, &rs);
  stats(k, &ks);
  ASSERT_EQ(rs.zero_copy_bytes, 12 << 20);
  ASSERT_EQ(ks.zero_copy_bytes, 12 << 20);
  free(want);
}

TEST(zc_socket_peer_gone_is_epipe) {
  free(sl_test_make_file("in.bin", 8 << 20, 21));
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_EQ(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
  close(sv[1]);
  pl_result_t res = {0};
  sl_pipeline(on_pipeline, &res, sl_file_reader(sl_test_path("in.bin"), NULL),
              sock_sink(sv[0]));
  sl_run();
  ASSERT_EQ(res.err, SL_EPIPE);
  ASSERT_EQ(res.stage, 1);
  ASSERT_STR_EQ(res.msg, "EPIPE: broken pipe, write '127.0.0.1:9'");
}

/* --- when zero-copy must not be used ------------------------------------ */

static size_t seen;
static void count_data(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  seen += sl_chunk_len(ev->chunk);
}

TEST(zc_not_used_with_another_consumer) {
  char* want = sl_test_make_file("in.bin", 1 << 20, 22);
  sl_stream_t* r = sl_stream_ref(sl_file_reader(sl_test_path("in.bin"), NULL));
  sl_stream_t* w = sl_stream_ref(sl_file_writer(sl_test_path("out.bin"), NULL));
  sl_stream_on(r, SL_EV_DATA, count_data, NULL);
  sl_stream_pipe(r, w, NULL);
  sl_run();
  ASSERT_EQ(seen, 1 << 20);
  assert_file(sl_test_path("out.bin"), want, 1 << 20);
  sl_stream_stats_t ws;
  stats(w, &ws);
  sl_stream_unref(r);
  ASSERT_EQ(ws.zero_copy_bytes, 0);
  free(want);
}

static void destroy_dst(sl_timer_t* t, void* arg) {
  sl_stream_destroy(arg, SL_ECANCELED);
}

TEST(zc_destroy_during_copy) {
  free(sl_test_make_file("in.bin", BIG, 23));
  sl_stream_t* w = sl_file_writer(sl_test_path("out.bin"), NULL);
  ev_log_t rl = {0}, wl = {0};
  pl_result_t res = {0};
  sl_stream_t* r = sl_file_reader(sl_test_path("in.bin"), NULL);
  watch(r, &rl);
  watch(w, &wl);
  sl_pipeline(on_pipeline, &res, r, w);
  sl_timer_start(2, 0, destroy_dst, w);
  sl_run();
  ASSERT_EQ(res.calls, 1);
  if (res.err != 0) { /* the copy may have won the race */
    ASSERT_EQ(res.err, SL_ECANCELED);
    ASSERT_EQ(res.stage, 1);
    ASSERT_STR_EQ(wl.log, "Ec");
    ASSERT_STR_EQ(rl.log, "c");
  }
}

/* no_end: the destination stays open after a zero-copy move, positioned
 * after the bytes moved, so later writes append to them. */
static void write_tail(sl_stream_t* src, const sl_event_t* ev, void* arg) {
  sl_stream_end_str(arg, "<tail>");
}

TEST(zc_no_end_then_write) {
  char* want = sl_test_make_file("in.bin", 5 << 20, 25);
  sl_stream_t* r = sl_file_reader(sl_test_path("in.bin"), NULL);
  sl_stream_t* w = sl_stream_ref(sl_file_writer(sl_test_path("out.bin"), NULL));
  ev_log_t wl = {0};
  watch(w, &wl);
  sl_stream_on(r, SL_EV_END, write_tail, w);
  sl_pipe_opts_t po = {.no_end = 1};
  sl_stream_pipe(r, w, &po);
  sl_run();
  size_t n;
  char* got = sl_test_read_file(sl_test_path("out.bin"), &n);
  ASSERT_EQ(n, (5 << 20) + 6);
  ASSERT_MEM_EQ(got, want, 5 << 20);
  ASSERT_MEM_EQ(got + (5 << 20), "<tail>", 6);
  sl_stream_stats_t ws;
  stats(w, &ws);
  ASSERT_EQ(ws.zero_copy_bytes, 5 << 20);
  ASSERT_EQ(ws.bytes_written, (5 << 20) + 6);
  ASSERT_STR_EQ(wl.log, "ufc");
  free(got);
  free(want);
}

/* dst hears of the pipe once, whichever way the bytes move: zero-copy,
 * chunks, or chunks after zero-copy gave up (O_APPEND). */
static void count_pipe(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  if (ev->type == SL_EV_PIPE) ++*(int*)arg;
}

TEST(zc_pipe_event_on_every_path) {
  char* want = sl_test_make_file("in.bin", 1 << 20, 21);
  for (int way = 0; way < 3; way++) {
    sl_stream_t* r = sl_file_reader(sl_test_path("in.bin"), NULL);
    sl_file_opts_t wo = {.flags = way == 2 ? O_WRONLY | O_CREAT | O_APPEND : 0};
    sl_stream_t* w = sl_stream_ref(sl_file_writer(sl_test_path("o.bin"), &wo));
    int pipes = 0;
    sl_stream_on(w, SL_EV_PIPE, count_pipe, &pipes);
    sl_pipe_opts_t po = {.no_zero_copy = way == 1};
    sl_stream_pipe(r, w, &po);
    sl_run();
    sl_stream_stats_t ws;
    stats(w, &ws);
    ASSERT_EQ(pipes, 1);
    ASSERT_EQ(ws.bytes_written, 1 << 20);
    ASSERT_EQ(ws.zero_copy_bytes, way == 0 ? 1 << 20 : 0);
    unlink(sl_test_path("o.bin"));
  }
  free(want);
}

/* unpipe() stops a zero-copy pipe as it stops a pipe of chunks: dst hears
 * of it, is not ended, and the source keeps its unread bytes. */
static void count_unpipe(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  if (ev->type == SL_EV_UNPIPE) ++*(int*)arg;
}

TEST(zc_unpipe_stops_the_copy) {
  char* want = sl_test_make_file("in.bin", 4 << 20, 22);
  sl_stream_t* r = sl_stream_ref(sl_file_reader(sl_test_path("in.bin"), NULL));
  sl_stream_t* w = sl_stream_ref(sl_file_writer(sl_test_path("o.bin"), NULL));
  int unpipes = 0;
  sl_stream_on(w, SL_EV_UNPIPE, count_unpipe, &unpipes);
  sl_stream_pipe(r, w, NULL);
  sl_stream_unpipe(r, w);
  sl_run();
  ASSERT_EQ(unpipes, 1);
  ASSERT(!sl_stream_writable_finished(w));
  ASSERT(sl_stream_is_paused(r));
  sl_stream_stats_t ws, rs;
  sl_stream_stats(w, &ws);
  ASSERT_EQ(ws.bytes_written, 0);
  /* The source still has every byte: read them through a pipe of chunks. */
  sl_stream_end(w, NULL, NULL, NULL);
  sl_stream_t* w2 = sl_file_writer(sl_test_path("o2.bin"), NULL);
  sl_pipe_opts_t po = {.no_zero_copy = 1};
  sl_stream_pipe(r, w2, &po);
  sl_run();
  assert_file(sl_test_path("o2.bin"), want, 4 << 20);
  stats(r, &rs);
  stats(w, &ws);
  free(want);
}
