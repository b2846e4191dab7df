/* The one wrapper that turns a libuv stream handle (TCP, pipe, TTY) into an
 * sl_stream_t: reads with uv_read_start into fresh chunks until the read
 * buffer reaches its mark, writes a batch of chunks with one uv_write, ends
 * with uv_shutdown (sockets), and closes the handle on destroy. It also
 * parks reads, writes and end until a connecting socket is up, and tells
 * zerocopy.c which descriptor it may use. tcp.c, stdio.c and the layers
 * above (child stdio, HTTP) build on sl__uv_stream_new(). */
#include "stream/stream_int.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define SL__UVS_READ_SIZE (64 * 1024)
#define SL__UVS_READ_MAX  (1024 * 1024)

/* One uv_write in flight (or parked until connect): the chunks it holds. */
typedef struct sl__uvs_write_s {
  uv_write_t req;
  sl__uvs_t* u;
  size_t n;
  sl_chunk_t* chunks[];
} uvs_write_t;

static const sl_stream_hooks_t uvs_hooks;

static const char* uvs_name(const sl__uvs_t* u) {
  if (u->peer[0] != '\0') return u->peer;
  return u->s.name != NULL ? u->s.name : "";
}

static void write_free(uvs_write_t* w) {
  for (size_t i = 0; i < w->n; i++) sl_chunk_unref(w->chunks[i]);
  sl__free(w);
}

/* --- reading ------------------------------------------------------------ */

static void stop_reading(sl__uvs_t* u) {
  if (u->reading) uv_read_stop(u->h);
  u->reading = 0;
}

/* Reads go to one buffer shared by every stream of the loop until a stream
 * shows it moves bulk data (a read of a quarter of its buffer or more);
 * from then on it gets a buffer of its own (rbuf), handed on as the chunk
 * with no copy, until a small read sends it back to the shared one. A
 * small read is copied into a chunk of its size, from either buffer. So a
 * connection that is idle or chatty holds no read buffer at all (10,000
 * idle WebSockets would otherwise pin a page of 64 KiB each), and a bulk
 * stream copies nothing. libuv calls on_alloc and then on_read for one
 * stream at a time, so the shared buffer is never in use twice. */
static char shared_rbuf[SL__UVS_READ_SIZE];

static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  sl__uvs_t* u = h->data;
  (void)suggested;
  *buf = uv_buf_init(NULL, 0);
  /* Zero-copy owns the descriptor: take nothing out of it. libuv reports
   * the empty buffer as UV_ENOBUFS, and on_read stops reading. */
  if (u->s.r.zc_active) return;
  if (!u->bulk) {
    *buf = uv_buf_init(shared_rbuf, sizeof shared_rbuf);
    return;
  }
  if (u->rbuf == NULL && (u->rbuf = sl_chunk_new(u->rsize)) == NULL) return;
  *buf = uv_buf_init(sl_chunk_data(u->rbuf), (unsigned)sl_chunk_len(u->rbuf));
}

/* Turns the `n` bytes libuv read into `base` into a chunk to push. */
static sl_chunk_t* take_read(sl__uvs_t* u, const char* base, size_t n) {
  if (base == shared_rbuf) {
    if (n >= sizeof shared_rbuf / 4) u->bulk = 1;
    return sl_chunk_copy(base, n);
  }
  if (n < u->rsize / 4) {
    sl_chunk_t* c = sl_chunk_copy(base, n);
    sl_chunk_unref(u->rbuf); /* back to the shared buffer */
    u->rbuf = NULL;
    u->bulk = 0;
    return c;
  }
  sl_chunk_t* c = u->rbuf;
  u->rbuf = NULL;
  sl_chunk_set_len(c, n);
  return c;
}

static void on_read(uv_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  sl__uvs_t* u = h->data;
  sl_stream_t* s = &u->s;
  if (nread == 0) return; /* EAGAIN: rbuf stays for the next read */
  if (nread == UV_ENOBUFS && s->r.zc_active) {
    /* Let the read hook run again once zero-copy hands the stream back. */
    stop_reading(u);
    s->r.reading = 0;
    return;
  }
  if (nread < 0) {
    stop_reading(u);
    if (nread == UV_EOF)
      sl_stream_push(s, NULL);
    else if (nread == UV_ENOBUFS)
      sl_stream_fail(s, SL_ENOMEM, "read %s", uvs_name(u));
    else
      sl_stream_fail(s, (int)nread, "read %s", uvs_name(u));
    return;
  }
  sl_chunk_t* c = take_read(u, buf->base, (size_t)nread);
  if (c == NULL) {
    stop_reading(u);
    sl_stream_fail(s, SL_ENOMEM, "read %s", uvs_name(u));
    return;
  }
  int rc = sl_stream_push(s, c);
  sl_chunk_unref(c);
  /* At the mark (or destroyed): stop until the read hook runs again. */
  if (rc <= 0) stop_reading(u);
}

static void start_reading(sl__uvs_t* u) {
  int rc = uv_read_start(u->h, on_alloc, on_read);
  if (rc != 0)
    sl_stream_fail(&u->s, rc, "read %s", uvs_name(u));
  else
    u->reading = 1;
}

static void uvs_read(sl_stream_t* s, size_t n) {
  sl__uvs_t* u = (sl__uvs_t*)s;
  if (u->connecting)
    u->want_read = 1;
  else if (!u->reading)
    start_reading(u);
}

/* --- writing ------------------------------------------------------------ */

static void on_write(uv_write_t* req, int status) {
  uvs_write_t* w = req->data;
  sl__uvs_t* u = w->u;
  write_free(w);
  if (status == 0)
    sl_stream_write_done(&u->s, 0);
  else if (!u->s.destroyed)
    sl_stream_fail(&u->s, status, "write %s", uvs_name(u));
  /* ECANCELED after a destroy: the state machine already failed it. */
}

/* Fills bufs[0..n) from the chunks. Not uv_buf_init(): its unsigned int
 * length would cut a chunk of 4 GiB or more short without a word. */
static void fill_bufs(uv_buf_t* bufs, sl_chunk_t** chunks, size_t n) {
  for (size_t i = 0; i < n; i++) {
    bufs[i].base = sl_chunk_data(chunks[i]);
    bufs[i].len = sl_chunk_len(chunks[i]);
  }
}

/* Drops the first `done` bytes from bufs[*first..n): returns 1 when
 * nothing is left. */
static int skip_written(uv_buf_t* bufs, size_t n, size_t* first, size_t done) {
  while (*first < n && done >= bufs[*first].len) done -= bufs[(*first)++].len;
  if (*first == n) return 1;
  bufs[*first].base += done;
  bufs[*first].len -= done;
  return 0;
}

/* Writes what uv_try_write left (`tried`: its result, 0 if it was not
 * tried yet) with a write request that holds the chunks in `w`. */
static void issue_write(sl__uvs_t* u, uvs_write_t* w, int tried) {
  uv_buf_t small[16] = {{0}};
  uv_buf_t* bufs = small;
  if (w->n > 16 && (bufs = sl__malloc(w->n * sizeof *bufs)) == NULL) {
    write_free(w);
    sl_stream_write_done(&u->s, SL_ENOMEM);
    return;
  }
  fill_bufs(bufs, w->chunks, w->n);
  /* See uvs_writev() for why the socket is tried first. */
  size_t first = 0;
  int n = tried != 0 ? tried : uv_try_write(u->h, bufs, (unsigned)w->n);
  if (n > 0 && skip_written(bufs, w->n, &first, (size_t)n)) {
    if (bufs != small) sl__free(bufs);
    write_free(w);
    sl_stream_write_done(&u->s, 0);
    return;
  }
  /* libuv copies the buf array; the bytes stay referenced through w. */
  int rc = n < 0 && n != UV_EAGAIN && n != UV_ENOSYS
               ? n
               : uv_write(&w->req, u->h, bufs + first, (unsigned)(w->n - first),
                          on_write);
  if (bufs != small) sl__free(bufs);
  if (rc != 0) {
    write_free(w);
    sl_stream_fail(&u->s, rc, "write %s", uvs_name(u));
  }
}

/* A write request holding a reference on each chunk. */
static uvs_write_t* write_new(sl__uvs_t* u, sl_chunk_t** chunks, size_t n) {
  uvs_write_t* w = sl__malloc(sizeof *w + n * sizeof w->chunks[0]);
  if (w == NULL) return NULL;
  w->req.data = w;
  w->u = u;
  w->n = n;
  for (size_t i = 0; i < n; i++) w->chunks[i] = sl_chunk_ref(chunks[i]);
  return w;
}

/* Try the socket first: a response that fits in the socket buffer is done
 * without allocating anything and without a write request, whose
 * completion makes libuv 1.44 re-arm the descriptor in epoll (one
 * epoll_ctl per write). Whatever is left goes through uv_write;
 * uv_try_write refuses while writes are queued, so the order holds. */
static void uvs_writev(sl_stream_t* s, sl_chunk_t** chunks, size_t n) {
  sl__uvs_t* u = (sl__uvs_t*)s;
  int tried = 0;
  if (!u->connecting && n <= 16) {
    uv_buf_t bufs[16] = {{0}};
    size_t first = 0;
    fill_bufs(bufs, chunks, n);
    tried = uv_try_write(u->h, bufs, (unsigned)n);
    if (tried > 0 && skip_written(bufs, n, &first, (size_t)tried)) {
      sl_stream_write_done(s, 0);
      return;
    }
    if (tried < 0 && tried != UV_EAGAIN && tried != UV_ENOSYS) {
      sl_stream_fail(s, tried, "write %s", uvs_name(u));
      return;
    }
  }
  uvs_write_t* w = write_new(u, chunks, n);
  if (w == NULL) {
    sl_stream_write_done(s, SL_ENOMEM);
    return;
  }
  if (u->connecting) {
    SL_ASSERT(u->parked == NULL); /* the core writes one batch at a time */
    u->parked = w;
    return;
  }
  issue_write(u, w, tried);
}

static void uvs_write(sl_stream_t* s, sl_chunk_t* chunk) {
  uvs_writev(s, &chunk, 1);
}

/* --- end (half close) --------------------------------------------------- */

/* The request is allocated for the one shutdown a stream makes, not kept
 * in every socket. libuv calls back before the handle's close callback
 * (ECANCELED when it is closed first), so `u` is still there. */
static void on_shutdown(uv_shutdown_t* req, int status) {
  sl__uvs_t* u = req->data;
  sl__free(req);
  if (u->s.destroyed) return;
  if (status != 0 && status != SL_ENOTCONN)
    sl_stream_fail(&u->s, status, "shutdown %s", uvs_name(u));
  else
    sl_stream_final_done(&u->s, 0); /* ENOTCONN: the peer is gone already */
}

static void start_shutdown(sl__uvs_t* u) {
  uv_shutdown_t* req = sl__malloc(sizeof *req);
  if (req == NULL) {
    sl_stream_fail(&u->s, SL_ENOMEM, "shutdown %s", uvs_name(u));
    return;
  }
  req->data = u;
  int rc = uv_shutdown(req, u->h, on_shutdown);
  if (rc != 0) sl__free(req);
  if (rc == SL_ENOTCONN)
    sl_stream_final_done(&u->s, 0);
  else if (rc != 0)
    sl_stream_fail(&u->s, rc, "shutdown %s", uvs_name(u));
}

static void uvs_final(sl_stream_t* s) {
  sl__uvs_t* u = (sl__uvs_t*)s;
  if (!u->can_shutdown)
    sl_stream_final_done(s, 0); /* the close at destroy ends the peer */
  else if (u->connecting)
    u->want_final = 1;
  else
    start_shutdown(u);
}

/* --- connect ------------------------------------------------------------ */

void sl__uv_stream_connected(sl_stream_t* s, int status) {
  sl__uvs_t* u = (sl__uvs_t*)s;
  SL_ASSERT(s->hooks == &uvs_hooks && u->connecting);
  if (s->destroyed) return; /* the destroy hook released what was parked */
  if (status != 0) {
    sl_stream_fail(s, status, "connect %s", uvs_name(u));
    return;
  }
  u->connecting = 0;
  sl_event_t ev = {.type = SL_EV_CONNECT};
  sl__stream_emit(s, &ev);
  if (s->destroyed) return;
  if (u->parked != NULL) {
    uvs_write_t* w = u->parked;
    u->parked = NULL;
    issue_write(u, w, 0);
  }
  if (u->want_final && !s->destroyed) start_shutdown(u);
  if (u->want_read && !s->destroyed && !u->reading) start_reading(u);
  u->want_final = u->want_read = 0;
  if (!s->destroyed) sl__zc_ready(s); /* dst_fd said SL_EAGAIN until now */
}

/* --- destroy ------------------------------------------------------------ */

static void on_close(uv_handle_t* h) {
  sl__uvs_t* u = h->data;
  sl__free(h);
  u->h = NULL;
  if (u->close_fd >= 0) close(u->close_fd);
  u->close_fd = -1;
  sl_chunk_unref(u->rbuf);
  u->rbuf = NULL;
  sl_stream_destroy_done(&u->s);
}

/* Pending uv_writes and the shutdown complete with ECANCELED before
 * on_close runs; the stream stays allocated until then. */
static void uvs_destroy(sl_stream_t* s, int err) {
  sl__uvs_t* u = (sl__uvs_t*)s;
  if (u->parked != NULL) write_free(u->parked);
  u->parked = NULL;
  u->reading = 0;
  uv_close((uv_handle_t*)u->h, on_close);
}

/* --- zero-copy capabilities -------------------------------------------- */

/* The descriptor of the handle and whether it is a socket or a pipe. */
static int uvs_fd_kind(sl__uvs_t* u, int* kind) {
  uv_os_fd_t fd;
  struct stat st;
  if (u->connecting || u->h == NULL) return SL_EAGAIN;
  if (u->h->type == UV_TTY) return SL_ENOTSUP;
  int rc = uv_fileno((uv_handle_t*)u->h, &fd);
  if (rc != 0) return rc;
  if (fstat(fd, &st) != 0) return -errno;
  if (S_ISSOCK(st.st_mode))
    *kind = SL__ZC_SOCKET;
  else if (S_ISFIFO(st.st_mode))
    *kind = SL__ZC_PIPE;
  else
    return SL_ENOTSUP;
  return fd;
}

/* Only a pipe is a zero-copy source (splice); the stream's own reads stop
 * while the core has r.zc_active set (see on_alloc). */
static int uvs_src_fd(sl_stream_t* s, int64_t* pos, uint64_t* remaining) {
  int kind = 0;
  int fd = uvs_fd_kind((sl__uvs_t*)s, &kind);
  if (fd < 0) return fd;
  if (kind != SL__ZC_PIPE) return SL_ENOTSUP;
  *pos = -1;
  *remaining = UINT64_MAX;
  return fd;
}

/* Sockets and pipes are zero-copy sinks; zero-copy only runs while no
 * write of ours is queued, so the two never interleave. */
static int uvs_dst_fd(sl_stream_t* s, int64_t* pos, int* kind) {
  int fd = uvs_fd_kind((sl__uvs_t*)s, kind);
  if (fd >= 0) *pos = -1;
  return fd;
}

static void uvs_advance(sl_stream_t* s, uint64_t n) {
  (void)s; /* a socket or a pipe has no offset to move */
  (void)n;
}

static const sl__zc_ops_t uvs_zc = {
    .src_fd = uvs_src_fd,
    .dst_fd = uvs_dst_fd,
    .advance = uvs_advance,
};

static const sl_stream_hooks_t uvs_hooks = {
    .read = uvs_read,
    .write = uvs_write,
    .writev = uvs_writev,
    .final = uvs_final,
    .destroy = uvs_destroy,
};

/* --- construction ------------------------------------------------------- */

static void free_on_close(uv_handle_t* h) { sl__free(h); }

sl_stream_t* sl__uv_stream_new(uv_stream_t* h, int flags,
                               const sl_stream_opts_t* o, size_t size) {
  SL_ASSERT(size >= sizeof(sl__uvs_t));
  SL_ASSERT(flags & (SL__UVS_READABLE | SL__UVS_WRITABLE));
  sl__ignore_sigpipe();
  sl_stream_opts_t so = o ? *o : (sl_stream_opts_t){0};
  so.hooks = &uvs_hooks;
  int kind = ((flags & SL__UVS_READABLE) ? SL__KIND_READABLE : 0) |
             ((flags & SL__UVS_WRITABLE) ? SL__KIND_WRITABLE : 0);
  sl__uvs_t* u = (sl__uvs_t*)sl__stream_new(kind, &so, size);
  if (u == NULL) {
    uv_close((uv_handle_t*)h, free_on_close);
    return NULL;
  }
  u->s.zc = &uvs_zc;
  u->h = h;
  h->data = u;
  u->close_fd = -1;
  size_t hwm = so.high_water_mark;
  u->rsize = hwm < SL__UVS_READ_SIZE  ? SL__UVS_READ_SIZE
             : hwm > SL__UVS_READ_MAX ? SL__UVS_READ_MAX
                                      : hwm;
  u->connecting = (flags & SL__UVS_CONNECTING) != 0;
  u->can_shutdown = (flags & SL__UVS_SHUTDOWN) != 0;
  return &u->s;
}

uv_stream_t* sl__uv_stream_handle(const sl_stream_t* s) {
  if (s->hooks != &uvs_hooks) return NULL;
  return ((const sl__uvs_t*)s)->h;
}
