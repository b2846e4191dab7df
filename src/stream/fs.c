/* File streams: sl_file_reader and sl_file_writer, Node's fs.ReadStream and
 * fs.WriteStream. Every system call runs on libuv's thread pool (uv_fs_*),
 * one request at a time per stream: open, fstat (a reader refuses a
 * directory with EISDIR; the descriptor's type decides positioned or plain
 * I/O), then reads of up to the read hint, or writes of one batch of queued
 * chunks with one pwritev, continued after a short write. The destroy hook
 * cancels or waits for the request in flight, then closes the descriptor
 * (unless keep_fd) and reports destroy_done. Both streams describe their
 * descriptor to zerocopy.c through sl__zc_ops_t. */
#include "stream/stream_int.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#define FS_READ_HWM  (64 * 1024)
#define FS_MAX_READ  (1 << 30)
#define FS_MAX_BATCH 64

typedef struct {
  sl_stream_t s; /* first: the stream is this object */
  uv_fs_t req;
  int fd;        /* -1 until open succeeded (or use_fd) */
  int64_t pos;   /* next offset; -1: the descriptor's own position */
  uint64_t left; /* reader: bytes left before `end`; UINT64_MAX: EOF */
  int flags, mode, kind;
  unsigned writer : 1, keep_fd : 1, ready : 1, busy : 1, destroying : 1,
      want_final : 1, want_write : 1, closing : 1, own_offset : 1,
      strict_end : 1;
  size_t want_read;   /* a read hint that arrived before the open */
  sl_chunk_t* rchunk; /* the chunk a read fills */
  sl_chunk_t* wchunks[FS_MAX_BATCH]; /* the batch in flight, referenced */
  size_t nw;
  uv_buf_t bufs[FS_MAX_BATCH]; /* what is left of it to write */
  size_t bi;                   /* first buffer not fully written */
} fs_t;

/* Write requests issued by file writers; the tests read it to check that
 * queued chunks leave in batches. */
uint64_t sl__fs_write_calls;

static void on_fs(uv_fs_t* req);
static void fs_close_fd(fs_t* f);

/* Node's message: "ENOENT: no such file or directory, open 'x.txt'". The
 * path is the stream's name (none with use_fd and no path). */
static void fs_fail(fs_t* f, int err, const char* op) {
  if (f->s.name != NULL)
    sl_stream_fail(&f->s, err, "%s '%s'", op, f->s.name);
  else
    sl_stream_fail(&f->s, err, "%s", op);
}

/* --- reading ------------------------------------------------------------- */

static void fs_do_read(fs_t* f, size_t n) {
  if (f->left == 0) {
    sl_stream_push(&f->s, NULL);
    return;
  }
  if (n == 0) n = FS_READ_HWM;
  if (n > FS_MAX_READ) n = FS_MAX_READ;
  if (n > f->left) n = (size_t)f->left;
  f->rchunk = sl_chunk_new(n);
  if (f->rchunk == NULL) {
    fs_fail(f, SL_ENOMEM, "read");
    return;
  }
  uv_buf_t buf = uv_buf_init(sl_chunk_data(f->rchunk), (unsigned)n);
  f->busy = 1;
  int rc = uv_fs_read(sl__loop(), &f->req, f->fd, &buf, 1, f->pos, on_fs);
  if (rc < 0) {
    f->busy = 0;
    sl_chunk_unref(f->rchunk);
    f->rchunk = NULL;
    fs_fail(f, rc, "read");
  }
}

static void fs_read_hook(sl_stream_t* s, size_t n) {
  fs_t* f = (fs_t*)s;
  if (!f->ready) {
    f->want_read = n ? n : 1;
    return;
  }
  fs_do_read(f, n);
}

/* EOF before `end`: a clean end, unless strict_end asked that a file which
 * shrank while it was read be an error (a response that promised its
 * length must not end short and clean). */
static int fs_short_eof(sl_stream_t* s) {
  fs_t* f = (fs_t*)s;
  if (!f->strict_end || f->left == UINT64_MAX || f->left == 0) return 0;
  sl_stream_fail(s, SL_EUNEXPECTEDEOF,
                 "read '%s': the file ended %" PRIu64 " bytes early",
                 s->name ? s->name : "", f->left);
  return SL_EUNEXPECTEDEOF;
}

static void fs_read_done(fs_t* f, ssize_t result) {
  sl_chunk_t* c = f->rchunk;
  f->rchunk = NULL;
  if (result < 0) {
    sl_chunk_unref(c);
    fs_fail(f, (int)result, "read");
    return;
  }
  if (result == 0) {
    sl_chunk_unref(c);
    if (fs_short_eof(&f->s) == 0) sl_stream_push(&f->s, NULL);
    return;
  }
  sl_chunk_set_len(c, (size_t)result);
  if (f->pos >= 0) f->pos += result;
  if (f->left != UINT64_MAX) f->left -= (uint64_t)result;
  sl_stream_push(&f->s, c);
  sl_chunk_unref(c);
  if (f->left == 0) sl_stream_push(&f->s, NULL);
}

/* --- writing ------------------------------------------------------------- */

static void fs_release_batch(fs_t* f);

static void fs_issue_write(fs_t* f) {
  f->busy = 1;
  sl__fs_write_calls++;
  int rc = uv_fs_write(sl__loop(), &f->req, f->fd, f->bufs + f->bi,
                       (unsigned)(f->nw - f->bi), f->pos, on_fs);
  if (rc < 0) {
    f->busy = 0;
    fs_release_batch(f);
    fs_fail(f, rc, "write");
  }
}

static void fs_release_batch(fs_t* f) {
  for (size_t i = 0; i < f->nw; i++) sl_chunk_unref(f->wchunks[i]);
  f->nw = f->bi = 0;
}

static void fs_writev_hook(sl_stream_t* s, sl_chunk_t** chunks, size_t n) {
  fs_t* f = (fs_t*)s;
  SL_ASSERT(n > 0 && n <= FS_MAX_BATCH && f->nw == 0);
  for (size_t i = 0; i < n; i++) {
    f->wchunks[i] = sl_chunk_ref(chunks[i]);
    /* Not uv_buf_init(): its length is an unsigned int, and a chunk of 4
     * GiB or more would be cut short without a word. The kernel writes at
     * most 2 GiB per call; fs_consume() continues the rest. */
    f->bufs[i].base = sl_chunk_data(chunks[i]);
    f->bufs[i].len = sl_chunk_len(chunks[i]);
  }
  f->nw = n;
  f->bi = 0;
  if (f->ready)
    fs_issue_write(f);
  else
    f->want_write = 1;
}

static void fs_write_hook(sl_stream_t* s, sl_chunk_t* chunk) {
  fs_writev_hook(s, &chunk, 1);
}

/* Skips `n` written bytes; returns 1 while some buffer is left to write. */
static int fs_consume(fs_t* f, size_t n) {
  while (f->bi < f->nw && n >= f->bufs[f->bi].len) {
    n -= f->bufs[f->bi].len;
    f->bi++;
  }
  if (f->bi < f->nw) {
    f->bufs[f->bi].base += n;
    f->bufs[f->bi].len -= n;
  }
  while (f->bi < f->nw && f->bufs[f->bi].len == 0) f->bi++;
  return f->bi < f->nw;
}

static void fs_write_done(fs_t* f, ssize_t result) {
  if (result < 0) {
    fs_release_batch(f);
    fs_fail(f, (int)result, "write");
    return;
  }
  if (f->pos >= 0) f->pos += result;
  if (fs_consume(f, (size_t)result)) {
    fs_issue_write(f); /* a short write: send the rest */
    return;
  }
  fs_release_batch(f);
  sl_stream_write_done(&f->s, 0);
}

/* The final hook only makes finish wait for the open, as Node's construct
 * does: a writer that never opened must report the error, not finish. */
static void fs_final_hook(sl_stream_t* s) {
  fs_t* f = (fs_t*)s;
  if (f->ready)
    sl_stream_final_done(s, 0);
  else
    f->want_final = 1;
}

/* --- open, fstat ------------------------------------------------------- */

static void fs_start_fstat(fs_t* f) {
  f->busy = 1;
  int rc = uv_fs_fstat(sl__loop(), &f->req, f->fd, on_fs);
  if (rc < 0) {
    f->busy = 0;
    fs_fail(f, rc, "fstat");
  }
}

static void fs_open_done(fs_t* f, ssize_t result) {
  if (result < 0) {
    fs_fail(f, (int)result, "open");
    return;
  }
  f->fd = (int)result;
  fs_start_fstat(f);
}

/* The descriptor is known: run whatever waited for it. */
static void fs_fstat_done(fs_t* f, ssize_t result, const uv_stat_t* st) {
  if (result < 0) {
    fs_fail(f, (int)result, "fstat");
    return;
  }
  uint64_t mode = st->st_mode;
  if (!f->writer && S_ISDIR(mode)) {
    fs_fail(f, SL_EISDIR, "read");
    return;
  }
  f->kind = S_ISFIFO(mode)   ? SL__ZC_PIPE
            : S_ISSOCK(mode) ? SL__ZC_SOCKET
                             : SL__ZC_FILE;
  /* Pipes, sockets and character devices have no offsets: read and write
   * them at their own position unless a start was asked for. */
  if (!S_ISREG(mode) && !S_ISBLK(mode) && f->pos == 0) f->pos = -1;
  /* A given file descriptor may share its file description (and offset)
   * with others: a dup()ed copy, a cached descriptor handed to several
   * readers. A reader that moved that offset would make the next one start
   * at the end, so it starts where the descriptor stands and reads by
   * position, leaving the offset alone. Only stdio, which owns its
   * descriptor and must leave it where a shell expects, moves it. */
  if (!f->writer && !f->own_offset && f->pos < 0 &&
      (S_ISREG(mode) || S_ISBLK(mode))) {
    off_t at = lseek(f->fd, 0, SEEK_CUR);
    f->pos = at < 0 ? 0 : (int64_t)at;
  }
  if (f->writer && (f->flags & O_APPEND)) f->pos = -1;
  f->ready = 1;
  if (f->want_read) {
    size_t n = f->want_read;
    f->want_read = 0;
    fs_do_read(f, n);
  } else if (f->want_write) {
    f->want_write = 0;
    fs_issue_write(f);
  } else if (f->want_final) {
    f->want_final = 0;
    sl_stream_final_done(&f->s, 0);
  }
  sl__zc_ready(&f->s);
}

/* --- one callback for every request ------------------------------------ */

static void on_fs(uv_fs_t* req) {
  SL_ASSERT(req != NULL);
  fs_t* f = sl__container_of(req, fs_t, req);
  uv_fs_type type = req->fs_type;
  ssize_t result = req->result;
  uv_stat_t st = req->statbuf;
  uv_fs_req_cleanup(req);
  f->busy = 0;
  if (type == UV_FS_OPEN && result >= 0) f->fd = (int)result;
  if (type == UV_FS_CLOSE) {
    f->fd = -1;
    sl_stream_destroy_done(&f->s);
    return;
  }
  if (f->destroying) {
    sl_chunk_unref(f->rchunk);
    f->rchunk = NULL;
    fs_release_batch(f);
    fs_close_fd(f);
    return;
  }
  switch (type) {
    case UV_FS_OPEN:
      fs_open_done(f, result);
      break;
    case UV_FS_FSTAT:
      fs_fstat_done(f, result, &st);
      break;
    case UV_FS_READ:
      fs_read_done(f, result);
      break;
    case UV_FS_WRITE:
      fs_write_done(f, result);
      break;
    default:
      SL_ASSERT(0 && "unexpected fs request");
  }
}

/* --- destroy ------------------------------------------------------------ */

static void fs_close_fd(fs_t* f) {
  if (f->fd < 0 || f->keep_fd || f->closing) {
    f->fd = -1;
    sl_stream_destroy_done(&f->s);
    return;
  }
  f->closing = 1;
  f->busy = 1;
  if (uv_fs_close(sl__loop(), &f->req, f->fd, on_fs) < 0) {
    f->busy = 0;
    f->fd = -1;
    sl_stream_destroy_done(&f->s);
  }
}

static void fs_destroy_hook(sl_stream_t* s, int err) {
  fs_t* f = (fs_t*)s;
  f->destroying = 1;
  if (f->busy) {
    /* Cancel the request if it has not started; either way its callback
     * runs (with UV_ECANCELED or its result) and closes the descriptor. */
    uv_cancel((uv_req_t*)&f->req);
    return;
  }
  fs_release_batch(f);
  fs_close_fd(f);
}

/* --- zero-copy capabilities --------------------------------------------- */

static int fs_src_fd(sl_stream_t* s, int64_t* pos, uint64_t* remaining) {
  fs_t* f = (fs_t*)s;
  if (s->destroyed) return SL_EDESTROYED;
  if (!f->ready) return SL_EAGAIN;
  *pos = f->pos;
  *remaining = f->left;
  return f->fd;
}

static int fs_dst_fd(sl_stream_t* s, int64_t* pos, int* kind) {
  fs_t* f = (fs_t*)s;
  if (s->destroyed) return SL_EDESTROYED;
  if (!f->ready) return SL_EAGAIN;
  *pos = f->pos;
  *kind = f->kind;
  return f->fd;
}

static void fs_advance(sl_stream_t* s, uint64_t n) {
  fs_t* f = (fs_t*)s;
  if (f->pos >= 0) f->pos += (int64_t)n;
  if (!f->writer && f->left != UINT64_MAX) f->left -= n;
}

static const sl__zc_ops_t reader_zc = {
    .src_fd = fs_src_fd, .advance = fs_advance, .short_eof = fs_short_eof};
static const sl__zc_ops_t writer_zc = {.dst_fd = fs_dst_fd,
                                       .advance = fs_advance};

static const sl_stream_hooks_t reader_hooks = {.read = fs_read_hook,
                                               .destroy = fs_destroy_hook};
static const sl_stream_hooks_t writer_hooks = {.write = fs_write_hook,
                                               .writev = fs_writev_hook,
                                               .final = fs_final_hook,
                                               .destroy = fs_destroy_hook};

/* --- constructors ------------------------------------------------------- */

static fs_t* fs_new(const char* path, const sl_file_opts_t* o, int writer) {
  static const sl_file_opts_t defaults;
  if (o == NULL) o = &defaults;
  SL_ASSERT(o->use_fd ? o->fd >= 0 : path != NULL);
  sl_stream_opts_t so = {.hooks = writer ? &writer_hooks : &reader_hooks,
                         .high_water_mark = o->high_water_mark
                                                ? o->high_water_mark
                                            : writer ? 0
                                                     : FS_READ_HWM,
                         .name = path};
  fs_t* f = (fs_t*)sl__stream_new(
      writer ? SL__KIND_WRITABLE : SL__KIND_READABLE, &so, sizeof(fs_t));
  if (f == NULL) return NULL;
  f->s.zc = writer ? &writer_zc : &reader_zc;
  f->writer = writer != 0;
  f->fd = -1;
  f->flags = o->flags ? o->flags
             : writer ? O_WRONLY | O_CREAT | O_TRUNC
                      : O_RDONLY;
  f->mode = o->mode ? o->mode : 0666;
  /* With a given descriptor and no start, use its own position (a pipe,
   * stdin, a file the caller positioned). */
  f->pos = o->use_fd && o->start == 0 ? -1 : (int64_t)o->start;
  f->left = o->end == 0         ? UINT64_MAX
            : o->end > o->start ? o->end - o->start
                                : 0;
  f->keep_fd = o->use_fd && o->keep_fd;
  f->strict_end = o->strict_end != 0;
  return f;
}

/* Opens on the pool, or goes straight to fstat with a given descriptor.
 * Every callback runs from the loop, never inside the constructor. */
static void fs_start(fs_t* f, const sl_file_opts_t* o) {
  if (o != NULL && o->use_fd) {
    f->fd = o->fd;
    fs_start_fstat(f);
    return;
  }
  f->busy = 1;
  int rc = uv_fs_open(sl__loop(), &f->req, f->s.name, f->flags | O_CLOEXEC,
                      f->mode, on_fs);
  if (rc < 0) {
    f->busy = 0;
    fs_fail(f, rc, "open");
  }
}

sl_stream_t* sl_file_reader(const char* path, const sl_file_opts_t* o) {
  fs_t* f = fs_new(path, o, 0);
  if (f == NULL) return NULL;
  fs_start(f, o);
  return &f->s;
}

sl_stream_t* sl__fd_file_reader(const sl_file_opts_t* o) {
  SL_ASSERT(o != NULL && o->use_fd && o->start == 0);
  fs_t* f = fs_new(NULL, o, 0);
  if (f == NULL) return NULL;
  f->own_offset = 1;
  fs_start(f, o);
  return &f->s;
}

sl_stream_t* sl_file_writer(const char* path, const sl_file_opts_t* o) {
  fs_t* f = fs_new(path, o, 1);
  if (f == NULL) return NULL;
  fs_start(f, o);
  return &f->s;
}
