/* Zero-copy pipes: when sl_stream_pipe() joins two descriptor streams and
 * nothing else consumes the source, the bytes move between the descriptors
 * in the kernel instead of through chunks. A job owns the move from start to
 * end of data:
 *   file -> file (or a device)  copy_file_range(2), then sendfile(2) when the
 *                               first call says the pair is unsupported
 *   pipe on either end          splice(2)
 *   file -> socket              sendfile(2)
 * The job works on dup()s (F_DUPFD_CLOEXEC) of the streams' descriptors, so
 * a stream destroyed meanwhile can close its own descriptor at once; the job
 * notices (close listeners on both streams), stops, and closes its copies.
 * Blocking descriptors (files, pipes a file stream opened) move in blocks of
 * ZC_BLOCK on libuv's thread pool. When either descriptor is non-blocking (a
 * socket, a libuv pipe) the job runs on the loop thread, at most ZC_TURN
 * bytes per turn (ZC_TURN_SOCKET for sendfile to a socket: the call
 * rarely blocks on loopback or a fast link, and fewer, larger turns cost
 * about half the CPU per byte; a turn still lasts a few milliseconds); on
 * EAGAIN it waits with a uv_poll_t on its dup of the descriptor that
 * blocked. libuv keeps one watcher per descriptor number, so
 * polling the socket's own fd would break the TCP handle that owns it; epoll
 * registers (file, fd) pairs, so the dup is a separate registration. (Polling
 * sets O_NONBLOCK on the shared file description, which the job's calls
 * expect anyway.) A socket sink's dst_fd therefore returns the connected
 * socket's own descriptor (uv_fileno), *pos = -1 and *kind = SL__ZC_SOCKET,
 * and SL_EAGAIN until it is connected (then calls sl__zc_ready()).
 * When the first call of every method says EXDEV/EINVAL/ENOSYS/EOPNOTSUPP
 * (or EBADF/EPERM: O_APPEND), the job hands over to a pipe of chunks as if
 * zero-copy had never been tried. On success the source ends (SL_EV_END) and
 * the destination is ended there, as on the chunk path. libuv reports
 * POLLERR as UV_EBADF: that is the polled side's error (SO_ERROR, or what the
 * next call says), never the other side's. On an error the side
 * that failed is destroyed with the code and a message naming it, and the
 * other side is destroyed too. Bytes moved count in bytes_read /
 * bytes_written and in zero_copy_bytes of both streams. */
#define _GNU_SOURCE
#include "stream/stream_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZC_BLOCK       ((size_t)8 << 20)
#define ZC_TURN        ((size_t)1 << 20)
#define ZC_TURN_SOCKET ((size_t)4 << 20)

enum { ZC_CFR = 1, ZC_SENDFILE, ZC_SPLICE };

typedef struct {
  sl__queue_t node; /* in `waiting` while a descriptor is not ready */
  sl__queue_t all;  /* in `jobs` until released */
  sl_stream_t* src;
  sl_stream_t* dst;
  int no_end;
  int fd[2]; /* our duplicates: [0] source, [1] destination */
  int nonblock[2];
  int pollable[2];    /* a pipe, socket or device: uv_poll can watch it */
  int64_t spos, dpos; /* -1: the descriptor's own position */
  uint64_t left;      /* the source's budget; UINT64_MAX: to EOF */
  uint64_t total;     /* bytes moved so far */
  int method, on_loop;
  /* The last block's result, written by whoever ran it (a pool thread or
   * the loop), read on the loop after it. */
  uint64_t moved;
  int err, eof, unsupported;
  uv_work_t work;
  uv_poll_t poll[2]; /* [0] source readable, [1] destination writable */
  int poll_init[2], nclosing;
  int polling; /* the side being polled, -1 none */
  int pollerr; /* POLLERR seen; the next call is to say why */
  unsigned working : 1, done : 1, released : 1;
} zc_job_t;

static sl__queue_t waiting = {&waiting, &waiting};
static sl__queue_t jobs = {&jobs, &jobs};

static void zc_next(zc_job_t* j);
static void zc_on_close(sl_stream_t* s, const sl_event_t* ev, void* arg);
static void zc_on_src_end(sl_stream_t* s, const sl_event_t* ev, void* arg);

/* --- the system calls ----------------------------------------------------- */

static int zc_unsupported(int err) {
  return err == -EXDEV || err == -EINVAL || err == -ENOSYS ||
         err == -EOPNOTSUPP || err == -EBADF || err == -EPERM;
}

static ssize_t zc_call(zc_job_t* j, size_t len) {
  loff_t* so = j->spos >= 0 ? (loff_t*)&j->spos : NULL;
  loff_t* dop = j->dpos >= 0 ? (loff_t*)&j->dpos : NULL;
  switch (j->method) {
    case ZC_CFR:
      return copy_file_range(j->fd[0], so, j->fd[1], dop, len, 0);
    case ZC_SPLICE:
      return splice(j->fd[0], so, j->fd[1], dop, len,
                    SPLICE_F_MOVE | (j->on_loop ? SPLICE_F_NONBLOCK : 0));
    default: {
      /* sendfile writes at the destination's own position. */
      if (dop != NULL && lseek(j->fd[1], *dop, SEEK_SET) < 0) return -1;
      ssize_t n = sendfile(j->fd[1], j->fd[0], (off_t*)so, len);
      if (n > 0 && dop != NULL) *dop += n;
      return n;
    }
  }
}

/* Moves up to one block; runs on a pool thread or on the loop. */
static void zc_block(zc_job_t* j) {
  size_t want = !j->on_loop                ? ZC_BLOCK
                : j->method == ZC_SENDFILE ? ZC_TURN_SOCKET
                                           : ZC_TURN;
  if (j->left < want) want = (size_t)j->left;
  j->moved = 0;
  j->err = j->eof = 0;
  while (j->moved < want) {
    ssize_t n = zc_call(j, want - j->moved);
    int first = j->total == 0 && j->moved == 0;
    if (n > 0) {
      j->moved += (uint64_t)n;
    } else if (n == 0 && first && j->method == ZC_CFR) {
      /* Some file systems (procfs, sysfs) answer 0 for data they have:
       * let sendfile decide whether the source is really empty. */
      j->method = ZC_SENDFILE;
    } else if (n == 0) {
      j->eof = 1;
      break;
    } else if (errno != EINTR) {
      int err = -errno;
      if (first && zc_unsupported(err) && j->method == ZC_CFR) {
        j->method = ZC_SENDFILE;
      } else if (first && zc_unsupported(err)) {
        j->unsupported = 1;
        break;
      } else {
        j->err = err;
        break;
      }
    }
  }
}

static void zc_work(uv_work_t* w) {
  zc_block(sl__container_of(w, zc_job_t, work));
}

/* --- the end of a job ----------------------------------------------------- */

static void zc_on_poll_close(uv_handle_t* h) {
  zc_job_t* j = h->data;
  if (--j->nclosing == 0 && j->released) sl__free(j);
}

static void zc_close_fds(zc_job_t* j) {
  for (int i = 0; i < 2; i++) {
    if (j->poll_init[i]) {
      j->poll_init[i] = 0;
      j->polling = -1;
      j->nclosing++;
      uv_close((uv_handle_t*)&j->poll[i], zc_on_poll_close);
    }
    if (j->fd[i] >= 0) close(j->fd[i]);
    j->fd[i] = -1;
  }
}

/* Lets go of both streams; the job is freed once its polls have closed. */
static void zc_release(zc_job_t* j) {
  SL_ASSERT(!j->working && !j->released);
  j->released = 1;
  sl__queue_remove(&j->node);
  sl__queue_remove(&j->all);
  sl_stream_off(j->src, SL_EV_CLOSE, zc_on_close, j);
  sl_stream_off(j->dst, SL_EV_CLOSE, zc_on_close, j);
  sl_stream_off(j->src, SL_EV_END, zc_on_src_end, j);
  j->src->r.zc_active = 0;
  zc_close_fds(j);
  sl__stream_schedule(j->src); /* reads were held while zc_active was set */
  sl_stream_unref(j->src);
  sl_stream_unref(j->dst);
  if (j->nclosing == 0) sl__free(j);
}

static void zc_on_src_end(sl_stream_t* src, const sl_event_t* ev, void* arg) {
  zc_job_t* j = arg;
  sl_stream_t* dst = j->dst;
  if (!dst->close_emitted) {
    sl_event_t unpipe = {.type = SL_EV_UNPIPE, .peer = src};
    sl__stream_emit(dst, &unpipe);
  }
  if (!j->no_end && !dst->destroyed && !dst->w.ending)
    sl_stream_end(dst, NULL, NULL, NULL);
  zc_release(j);
}

/* Ends the source; its end event ends the destination, as a pipe does. */
static void zc_succeed(zc_job_t* j) {
  j->done = 1;
  zc_close_fds(j);
  j->src->r.zc_active = 0;
  if (sl_stream_once(j->src, SL_EV_END, zc_on_src_end, j) != 0) {
    sl_stream_destroy(j->src, SL_ENOMEM);
    return; /* the close listener releases the job */
  }
  sl_stream_push(j->src, NULL);
}

/* Errors the destination causes; anything else is charged to the source. */
static int zc_is_write_error(int err) {
  return err == -ENOSPC || err == -EDQUOT || err == -EFBIG || err == -EPIPE ||
         err == -ECONNRESET || err == -ENOTCONN || err == -EROFS ||
         err == -ETXTBSY;
}

static void zc_fail_side(zc_job_t* j, int err, int w) {
  sl_stream_t* bad = w ? j->dst : j->src;
  sl_stream_t* other = w ? j->src : j->dst;
  const char* op = w ? "write" : "read";
  const char* name = sl_stream_name(bad);
  j->done = 1;
  if (name[0] != '\0')
    sl_stream_fail(bad, err, "%s '%s'", op, name);
  else
    sl_stream_fail(bad, err, "%s", op);
  sl_stream_destroy(other, 0);
  zc_release(j);
}

static void zc_fail(zc_job_t* j, int err) {
  zc_fail_side(j, err, zc_is_write_error(err));
}

/* The source failed itself (its message is recorded): the shared
 * descriptors go with it, as in zc_fail. */
static void zc_fail_recorded(zc_job_t* j) {
  j->done = 1;
  sl_stream_destroy(j->dst, 0);
  zc_release(j);
}

/* Nothing has moved: give the pair to an ordinary pipe of chunks. */
static void zc_fallback(zc_job_t* j) {
  sl_stream_t* src = sl_stream_ref(j->src);
  sl_stream_t* dst = sl_stream_ref(j->dst);
  int no_end = j->no_end;
  j->done = 1;
  zc_release(j);
  if (!src->close_emitted && !dst->close_emitted)
    sl__pipe_chunks(src, dst, no_end); /* the pipe event was sent already */
  sl__stream_schedule(src); /* reads were held while zc_active was set */
  sl_stream_unref(src);
  sl_stream_unref(dst);
}

static void zc_on_close(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  zc_job_t* j = arg;
  sl_stream_t* other = s == j->src ? j->dst : j->src;
  j->done = 1;
  if (!other->destroyed) sl_stream_destroy(other, 0);
  if (!j->working) zc_release(j);
}

/* --- running -------------------------------------------------------------- */

static void zc_account(zc_job_t* j, uint64_t n) {
  sl_stream_t *src = j->src, *dst = j->dst;
  j->total += n;
  j->pollerr = 0;
  if (j->left != UINT64_MAX) j->left -= n;
  src->stats.bytes_read += n;
  src->stats.zero_copy_bytes += n;
  dst->stats.bytes_written += n;
  dst->stats.zero_copy_bytes += n;
  src->zc->advance(src, n);
  dst->zc->advance(dst, n);
}

static void zc_wait_fd(zc_job_t* j);

/* What follows a block, on the loop thread. */
static void zc_after_block(zc_job_t* j) {
  if (j->moved != 0) zc_account(j, j->moved);
  j->moved = 0;
  if (j->done) {
    zc_release(j); /* a stream closed while the block ran */
  } else if (j->unsupported) {
    zc_fallback(j);
  } else if (j->err == SL_EAGAIN && j->on_loop) {
    zc_wait_fd(j);
  } else if (j->err != 0) {
    zc_fail(j, j->err);
  } else if (j->eof && j->left != 0 && j->src->zc->short_eof &&
             j->src->zc->short_eof(j->src) < 0) {
    zc_fail_recorded(j);
  } else if (j->eof || j->left == 0) {
    zc_succeed(j);
  } else if (!j->src->destroyed && !j->dst->destroyed && !j->on_loop) {
    zc_next(j); /* on the loop, the poll that is on fires again */
  }
}

static void zc_after_work(uv_work_t* w, int status) {
  zc_job_t* j = sl__container_of(w, zc_job_t, work);
  j->working = 0;
  if (status != 0 && j->err == 0) j->err = status;
  zc_after_block(j);
}

static void zc_on_poll(uv_poll_t* h, int status, int events) {
  zc_job_t* j = h->data;
  if (status == UV_EBADF) {
    /* libuv's name for POLLERR, and it stopped the watch. The error is the
     * polled side's: SO_ERROR says which for a socket (a client that
     * reset), unless the socket's own reader took it first; then the next
     * call says it (EPIPE, ECONNRESET). A second POLLERR without progress
     * is that side's EPIPE. */
    int side = h == &j->poll[1], soerr = 0;
    socklen_t len = sizeof soerr;
    j->polling = -1;
    if (getsockopt(j->fd[side], SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 &&
        soerr != 0) {
      zc_fail_side(j, -soerr, side);
      return;
    }
    if (j->pollerr) {
      zc_fail_side(j, SL_EPIPE, side);
      return;
    }
    j->pollerr = 1;
  } else if (status < 0) {
    zc_fail(j, status);
    return;
  }
  zc_block(j);
  zc_after_block(j);
}

/* Polls our duplicate of the source (side 0, readable) or the destination
 * (side 1, writable), and only that one. */
static void zc_poll(zc_job_t* j, int side) {
  int rc = 0;
  if (j->polling == side) return; /* level-triggered: it fires again */
  if (!j->poll_init[side]) {
    rc = uv_poll_init(sl__loop(), &j->poll[side], j->fd[side]);
    if (rc == 0) {
      j->poll_init[side] = 1;
      j->poll[side].data = j;
    }
  }
  if (j->poll_init[!side]) uv_poll_stop(&j->poll[!side]);
  if (rc == 0)
    rc = uv_poll_start(&j->poll[side], side ? UV_WRITABLE : UV_READABLE,
                       zc_on_poll);
  j->polling = rc == 0 ? side : -1;
  if (rc != 0) zc_fail(j, rc);
}

/* EAGAIN: wait for the side that would block: the destination when it is
 * not writable, else the source. A regular file never blocks and cannot be
 * polled. */
static void zc_wait_fd(zc_job_t* j) {
  int side;
  if (!j->pollable[0]) {
    side = 1;
  } else if (!j->pollable[1]) {
    side = 0;
  } else {
    struct pollfd p = {.fd = j->fd[1], .events = POLLOUT};
    side = poll(&p, 1, 0) == 1 ? 0 : 1;
  }
  zc_poll(j, side);
}

static void zc_next(zc_job_t* j) {
  if (j->left == 0) {
    zc_succeed(j);
    return;
  }
  if (j->on_loop) {
    zc_poll(j, j->pollable[1] ? 1 : 0);
    return;
  }
  j->working = 1;
  int rc = uv_queue_work(sl__loop(), &j->work, zc_work, zc_after_work);
  if (rc != 0) {
    j->working = 0;
    zc_fail(j, rc);
  }
}

/* --- starting ------------------------------------------------------------- */

/* Picks the system call for the two descriptors; 0 when none fits. */
static int zc_choose(zc_job_t* j) {
  struct stat st[2];
  for (int i = 0; i < 2; i++) {
    if (fstat(j->fd[i], &st[i]) != 0 || S_ISDIR(st[i].st_mode)) return 0;
    /* O_NONBLOCK means nothing to a regular file (and it cannot be
     * polled): only pipes, sockets and devices can make a call wait. */
    int fl = fcntl(j->fd[i], F_GETFL);
    j->pollable[i] = !S_ISREG(st[i].st_mode) && !S_ISBLK(st[i].st_mode);
    j->nonblock[i] = fl >= 0 && (fl & O_NONBLOCK) != 0 && j->pollable[i];
  }
  int spipe = S_ISFIFO(st[0].st_mode), dpipe = S_ISFIFO(st[1].st_mode);
  if (spipe) j->spos = -1; /* a pipe end takes no offset */
  if (dpipe) j->dpos = -1;
  j->on_loop = j->nonblock[0] || j->nonblock[1];
  if (spipe || dpipe) return ZC_SPLICE;
  if (S_ISSOCK(st[0].st_mode)) return 0; /* socket -> file: no call */
  if (S_ISSOCK(st[1].st_mode)) return ZC_SENDFILE;
  return j->on_loop ? ZC_SENDFILE : ZC_CFR;
}

/* Whether the source may hold more than the sink can take: a regular
 * file read to its end is measured (its size from where the read starts);
 * anything else of unknown length is assumed to. */
static int zc_over_budget(sl_stream_t* dst, int sfd, int64_t spos,
                          uint64_t left) {
  if (dst->zc->dst_budget == NULL) return 0;
  uint64_t budget = dst->zc->dst_budget(dst);
  if (budget == UINT64_MAX) return 0;
  struct stat st;
  if (left == UINT64_MAX && spos >= 0 && fstat(sfd, &st) == 0 &&
      S_ISREG(st.st_mode))
    left = (uint64_t)st.st_size > (uint64_t)spos
               ? (uint64_t)st.st_size - (uint64_t)spos
               : 0;
  return left > budget;
}

static void zc_try_start(zc_job_t* j) {
  sl_stream_t *src = j->src, *dst = j->dst;
  int64_t spos = -1, dpos = -1;
  uint64_t left = UINT64_MAX;
  int kind = 0;
  int sfd = src->zc->src_fd(src, &spos, &left);
  int dfd = sfd >= 0 ? dst->zc->dst_fd(dst, &dpos, &kind) : sfd;
  if (sfd == SL_EAGAIN || dfd == SL_EAGAIN || src->destroyed ||
      dst->destroyed) {
    /* Not open yet (sl__zc_ready() follows), or closing (the close
     * listener follows). */
    if (sl__queue_empty(&j->node)) sl__queue_insert_tail(&waiting, &j->node);
    return;
  }
  sl__queue_remove(&j->node);
  if (sfd < 0 || dfd < 0) {
    zc_fallback(j);
    return;
  }
  if (zc_over_budget(dst, sfd, spos, left)) {
    zc_fallback(j);
    return;
  }
  j->fd[0] = fcntl(sfd, F_DUPFD_CLOEXEC, 0);
  j->fd[1] = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  j->spos = spos;
  j->dpos = dpos;
  j->left = left;
  if (j->fd[0] < 0 || j->fd[1] < 0 || (j->method = zc_choose(j)) == 0) {
    zc_fallback(j);
    return;
  }
  zc_next(j);
}

void sl__zc_ready(sl_stream_t* s) {
  sl__queue_t* q = waiting.next;
  while (q != &waiting) {
    zc_job_t* j = sl__container_of(q, zc_job_t, node);
    q = q->next;
    if (j->src == s || j->dst == s) zc_try_start(j);
  }
}

static int zc_has_consumer(const sl_stream_t* s) {
  return sl__emitter_has(&s->events, SL_EV_DATA) ||
         sl__emitter_has(&s->events, SL_EV_READABLE);
}

/* Zero-copy only when the bytes can go from descriptor to descriptor
 * without anyone noticing: nothing buffered or being read on the source, no
 * other consumer, and nothing queued on the destination. */
static int zc_eligible(const sl_stream_t* src, const sl_stream_t* dst) {
  const sl__zc_ops_t* so = src->zc;
  const sl__zc_ops_t* dops = dst->zc;
  if (so == NULL || so->src_fd == NULL || dops == NULL || dops->dst_fd == NULL)
    return 0;
  if (src->destroyed || dst->destroyed || src->r.ended || src->r.zc_active ||
      src->r.reading || src->r.length != 0 || src->r.utf8 ||
      src->r.object_mode || !sl__queue_empty(&src->r.pipes) ||
      zc_has_consumer(src))
    return 0;
  return !dst->w.ending && !dst->w.writing && dst->w.queue.count == 0 &&
         !dst->w.corked && !dst->w.object_mode;
}

int sl__zc_pipe(sl_stream_t* src, sl_stream_t* dst, const sl_pipe_opts_t* o) {
  if (!zc_eligible(src, dst)) return 0;
  zc_job_t* j = sl__calloc(1, sizeof *j);
  if (j == NULL) return 0;
  sl__queue_init(&j->node);
  sl__queue_insert_tail(&jobs, &j->all);
  j->fd[0] = j->fd[1] = -1;
  j->polling = -1;
  j->no_end = o->no_end;
  if (sl_stream_on(src, SL_EV_CLOSE, zc_on_close, j) != 0 ||
      sl_stream_on(dst, SL_EV_CLOSE, zc_on_close, j) != 0) {
    sl_stream_off(src, SL_EV_CLOSE, zc_on_close, j);
    sl__queue_remove(&j->all);
    sl__free(j);
    return 0;
  }
  j->src = sl_stream_ref(src);
  j->dst = sl_stream_ref(dst);
  src->r.zc_active = 1;
  sl_stream_resume(src); /* flowing, as a pipe makes it; reads stay held */
  zc_try_start(j);
  return 1;
}

/* sl_stream_unpipe() on a zero-copy pipe from `src` (to `dst`, or to any
 * when NULL): stops it after the block in flight, without ending or
 * destroying either side; the source's offset stays where the copy left it.
 * Returns the destination (a reference the caller drops), NULL if none. */
sl_stream_t* sl__zc_unpipe(sl_stream_t* src, sl_stream_t* dst) {
  for (sl__queue_t* q = jobs.next; q != &jobs; q = q->next) {
    zc_job_t* j = sl__container_of(q, zc_job_t, all);
    if (j->src != src || (dst != NULL && j->dst != dst) || j->done) continue;
    sl_stream_t* out = sl_stream_ref(j->dst);
    j->done = 1;
    /* No close listener may destroy the other side from now on. */
    sl_stream_off(j->src, SL_EV_CLOSE, zc_on_close, j);
    sl_stream_off(j->dst, SL_EV_CLOSE, zc_on_close, j);
    if (!j->working) zc_release(j); /* else zc_after_block() releases it */
    return out;
  }
  return NULL;
}
