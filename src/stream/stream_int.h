/* Stream internals shared by the generic state machine (stream.c), pipe and
 * pipeline (pipeline.c), zero-copy (zerocopy.c) and the concrete streams. */
#ifndef SL_STREAM_INT_H
#define SL_STREAM_INT_H

#include <sys/uio.h>

#include "core/internal.h"

/* One queued item: a chunk, and for writes the completion to report. */
typedef struct {
  sl_chunk_t* chunk;
  sl_done_cb cb;
  void* arg;
  int err; /* completed writes: the result to report */
} sl__item_t;

/* A FIFO of items in a growable ring. The first SL__RING_INLINE items live
 * in the ring itself (no allocation for the usual one write in flight or
 * one chunk buffered); the ring must not move while it uses them. An array
 * grown for a burst is freed when the ring empties, so an idle stream holds
 * none: a pointer from sl__ring_at is good until the next shift. cap is 0 or
 * a power of two. */
#define SL__RING_INLINE 1
typedef struct {
  sl__item_t* v;
  size_t cap, head, count;
  sl__item_t inl[SL__RING_INLINE];
} sl__ring_t;

int sl__ring_push(sl__ring_t* r, sl__item_t it);
int sl__ring_unshift(sl__ring_t* r, sl__item_t it);
sl__item_t* sl__ring_at(sl__ring_t* r, size_t i);
sl__item_t sl__ring_shift(sl__ring_t* r);
void sl__ring_free(sl__ring_t* r);

/* Zero-copy capabilities of a descriptor-backed stream (see zerocopy.c). */
typedef struct sl__zc_ops_s {
  /* Source: the descriptor to copy from, once it is open; returns the fd or
   * a negative code (SL_EAGAIN: not open yet). *pos is the offset for a
   * positioned source (-1: the descriptor's own position, e.g. a pipe);
   * *remaining the byte budget (UINT64_MAX: to EOF). */
  int (*src_fd)(sl_stream_t* s, int64_t* pos, uint64_t* remaining);
  /* Sink: the descriptor to copy to; *pos as above; *kind one of
   * SL__ZC_FILE, SL__ZC_SOCKET, SL__ZC_PIPE. */
  int (*dst_fd)(sl_stream_t* s, int64_t* pos, int* kind);
  /* Tells the stream that `n` bytes moved past it (advance its offset). */
  void (*advance)(sl_stream_t* s, uint64_t n);
  /* Source, optional: EOF came with part of the budget left. 0 ends the
   * source as usual; a negative code fails it (the source has already
   * recorded its message with sl_stream_fail). */
  int (*short_eof)(sl_stream_t* s);
  /* Sink, optional: how many bytes it may still take (UINT64_MAX: any). A
   * source whose budget is larger, or unknown, moves by chunks instead. */
  uint64_t (*dst_budget)(sl_stream_t* s);
} sl__zc_ops_t;

enum { SL__ZC_FILE = 1, SL__ZC_SOCKET = 2, SL__ZC_PIPE = 3 };

struct sl_stream_s {
  const sl_stream_hooks_t* hooks;
  void* data;
  char* name;
  unsigned refs;
  sl__tick_t tick;
  sl__emitter_t events;
  int processing;

  unsigned readable : 1, writable : 1, is_transform : 1, auto_destroy : 1,
      end_on_end : 1;
  unsigned destroyed : 1, destroy_called : 1, destroy_done : 1,
      error_emitted : 1, close_emitted : 1,
      /* The library reports this stream's errors elsewhere (an HTTP
       * exchange, a child's events): an error without a listener is not
       * reported as unhandled. */
      errors_owned : 1,
      /* A peer that leaves (ECONNRESET, EPIPE, premature close) is not a
       * failure to report: an HTTP server's request and response, which
       * Node closes without an error when the client goes. */
      peer_quiet : 1;
  int err;
  char* errmsg;
  /* Zero-copy capabilities of a descriptor stream (file, socket, HTTP
   * response), set by its constructor; NULL for every other stream. */
  const sl__zc_ops_t* zc;
  /* Optional: runs at the end of every sl_stream_write() that queued a
   * chunk, inside the caller's call (so it may only account and cancel:
   * sl__stream_cancel_write; events it causes come from the loop). A
   * WebSocket polices its send cap with it. */
  void (*on_queued)(sl_stream_t* s);
  /* Optional: runs when the stream's memory is freed (after its close and
   * last reference), to free what its accessors return after close. */
  void (*on_free)(sl_stream_t* s);

  struct {
    sl__ring_t buf;
    size_t length, hwm;
    int8_t flowing; /* -1: never chosen, 0: paused, 1: flowing */
    unsigned object_mode : 1, ended : 1, end_emitted : 1, reading : 1, want : 1,
        need_readable : 1, drained_by_read : 1, emit_pause : 1, emit_resume : 1,
        utf8 : 1, zc_active : 1,
        emit_readable : 1, /* a readable event is due (data or EOF came
                              while need_readable was set) */
        messages : 1;      /* message mode (a WebSocket): each chunk is a
                              unit read() returns whole, the length counts
                              bytes, an empty chunk is delivered and counts
                              1; no encoding */
    unsigned char carry[4];
    unsigned ncarry;
    int await_drain;   /* pipes waiting for their destination's drain */
    sl__queue_t pipes; /* pipe_t.src_node */
  } r;

  struct {
    sl__ring_t queue; /* queued and in-flight writes, oldest first */
    sl__ring_t completed;
    size_t length, hwm;
    size_t inflight; /* items at the head of `queue` being written */
    unsigned object_mode : 1, writing : 1, ending : 1, final_called : 1,
        final_done : 1, finished : 1, need_drain : 1, held : 1,
        starting : 1; /* in start_write(): process() sees a completion
                         the hook reports synchronously, unscheduled */
    int held_err;
    int corked;
    sl_done_cb end_cb;
    void* end_arg;
  } w;

  sl_stream_stats_t stats;
};

/* A writev batch held back until its connection can take it (an HTTP
 * response waiting for its turn, a request or a WebSocket waiting for its
 * socket): references to the chunks, owned by the holder. */
typedef struct {
  sl_chunk_t** v;
  size_t n;
} sl__parked_t;
/* Keeps references to chunks[0..n) in the empty *p; 0, or SL_ENOMEM with
 * nothing kept. */
int sl__park(sl__parked_t* p, sl_chunk_t** chunks, size_t n);
/* Drops the references and empties *p. */
void sl__parked_free(sl__parked_t* p);
/* Moves the batch out (*p is empty after): the caller frees what it gets
 * with sl__parked_free once it has handed the chunks on. */
sl__parked_t sl__parked_take(sl__parked_t* p);

/* Takes write `i` of the queue (at or past w.inflight: not started) out;
 * its callback runs from the loop with `err`, as for a failed write. */
void sl__stream_cancel_write(sl_stream_t* s, size_t i, int err);
/* Schedules the state machine to run from the loop. */
void sl__stream_schedule(sl_stream_t* s);
/* sl_stream_fail() with a message already built (see sl__errmsg); takes
 * ownership of `msg`, which may be NULL (then the default message). */
void sl__stream_fail_msg(sl_stream_t* s, int err, char* msg);
/* Emits an event to the listeners now (the caller is the state machine or a
 * piece of the library already running from the loop). */
void sl__stream_emit(sl_stream_t* s, const sl_event_t* ev);
/* One listener for every event type in `types` (SL__EV_BIT(SL_EV_DATA) |
 * ...), with sl_stream_on()'s effects for each (a DATA bit resumes): a
 * library object that watches several events of another stream costs one
 * record, not one per type. Removed with the same `types`, cb and arg. */
int sl__stream_listen(sl_stream_t* s, uint32_t types, sl_stream_cb cb,
                      void* arg);
int sl__stream_unlisten(sl_stream_t* s, uint32_t types, sl_stream_cb cb,
                        void* arg);
/* Initializes a stream embedded in a larger object (concrete streams that
 * want one allocation); `kind` is one of the SL__KIND_* values. */
enum {
  SL__KIND_READABLE = 1,
  SL__KIND_WRITABLE = 2,
  SL__KIND_DUPLEX = 3,
  SL__KIND_TRANSFORM = 7
};
sl_stream_t* sl__stream_new(int kind, const sl_stream_opts_t* o, size_t size);

/* Zero-copy: called by pipe(); returns 1 if it took over moving the data
 * from src to dst, 0 if chunks must be used. */
int sl__zc_pipe(sl_stream_t* src, sl_stream_t* dst, const sl_pipe_opts_t* o);
/* pipeline.c: the pipe of chunks alone, without the SL_EV_PIPE that
 * sl_stream_pipe() sends (zero-copy falls back to it). */
void sl__pipe_chunks(sl_stream_t* src, sl_stream_t* dst, int no_end);
/* Stops a zero-copy pipe from `src` to `dst` (NULL: to any) for
 * sl_stream_unpipe(); returns its destination with a reference the caller
 * drops, or NULL when there is none. */
sl_stream_t* sl__zc_unpipe(sl_stream_t* src, sl_stream_t* dst);
/* A stream whose src_fd/dst_fd returned SL_EAGAIN calls this (from the loop)
 * once its descriptor is usable; a zero-copy pipe waiting for it starts. */
void sl__zc_ready(sl_stream_t* s);

/* --- Streams over libuv stream handles (uvstream.c) ---------------------- */

/* sl_file_reader() over o->fd (use_fd, start 0) that reads at the
 * descriptor's own offset and moves it, for stdio; a public reader reads
 * a given regular file by position from where its offset stood. */
sl_stream_t* sl__fd_file_reader(const sl_file_opts_t* o);

/* Flags for sl__uv_stream_new(). */
enum {
  SL__UVS_READABLE = 1,   /* a readable side (the peer's bytes) */
  SL__UVS_WRITABLE = 2,   /* a writable side (to the peer) */
  SL__UVS_CONNECTING = 4, /* reads, writes and end wait for
                             sl__uv_stream_connected() */
  SL__UVS_SHUTDOWN = 8    /* end() half-closes with shutdown(2) (sockets);
                             without it end() only finishes, and the
                             descriptor closes with the stream */
};

/* The wrapper: concrete streams over a handle (tcp.c, stdio.c, child stdio,
 * HTTP connections) embed it first in their own struct and pass their size
 * to sl__uv_stream_new(). Fields below `h` and `close_fd` are private to
 * uvstream.c. */
typedef struct sl__uvs_s {
  sl_stream_t s;
  uv_stream_t* h;   /* owned; h->data belongs to the wrapper */
  int close_fd;     /* closed after the handle (-1: none) */
  char peer[64];    /* "127.0.0.1:5000" for sockets, set by tcp.c */
  sl_chunk_t* rbuf; /* a bulk stream's own read buffer (see uvstream.c) */
  size_t rsize;
  struct sl__uvs_write_s* parked; /* a write waiting for the connection */
  unsigned connecting : 1, reading : 1, want_read : 1, want_final : 1,
      can_shutdown : 1, bulk : 1; /* reads into rbuf, not the shared one */
} sl__uvs_t;

/* Wraps `h`, a TCP, pipe or TTY handle that is initialised and allocated
 * with sl__malloc(), in a stream (Readable, Writable or Duplex by `flags`).
 * `h` belongs to the stream from now on, even on failure: it is closed and
 * freed when the stream is destroyed (on a NULL return, right away and
 * asynchronously). libuv never closes descriptors 0-2. `o` as for any
 * stream (`o->hooks` is ignored; high_water_mark also sizes the reads, 64
 * KiB when 0); `size` >= sizeof(sl__uvs_t). Returns the stream or NULL on
 * ENOMEM. Ignores SIGPIPE process-wide on first use, as Node does, so that a
 * write to a closed peer is an EPIPE error, not a signal. */
sl_stream_t* sl__uv_stream_new(uv_stream_t* h, int flags,
                               const sl_stream_opts_t* o, size_t size);
/* The handle of a stream made by sl__uv_stream_new(), NULL for any other
 * stream. For reading its address or descriptor (uv_fileno), options, or
 * passing it to another process; reading from or writing to it directly
 * would race the wrapper. */
uv_stream_t* sl__uv_stream_handle(const sl_stream_t* s);
/* Completes SL__UVS_CONNECTING, from the connect callback: status 0 emits
 * SL_EV_CONNECT and starts the parked reads, write and end; an error fails
 * the stream ("ECONNREFUSED: connection refused, connect <name>"). */
void sl__uv_stream_connected(sl_stream_t* s, int status);

/* tcp.c: a bound, non-blocking, close-on-exec TCP socket for a numeric
 * host (SO_REUSEADDR, and SO_REUSEPORT when asked, set before bind: libuv
 * 1.44 has no flag for it). Returns the descriptor or a negative code
 * (SL_EINVAL for a host that is not a numeric address, SL_EADDRINUSE...).
 * A listener passed by systemd for that address (LISTEN_PID/LISTEN_FDS,
 * port != 0) is duplicated instead, already listening. */
int sl__tcp_bind(const char* host, int port, int reuseport);
/* The local port a socket is bound to (0 on error). */
int sl__tcp_local_port(int fd);

/* fdmsg.c: bytes with descriptors over a UNIX socket, for the IPC channel
 * and the cluster's control socket. At most SL__FDMSG_MAX_FDS descriptors
 * fit one received message. */
#define SL__FDMSG_MAX_FDS 16
/* Sends iov[0..n) with `fd` (-1: none) attached, in one non-blocking
 * sendmsg (EINTR retried, no SIGPIPE). Returns the bytes sent or a
 * negative code (SL_EAGAIN when the socket is full). The caller keeps
 * `fd` open either way. */
ssize_t sl__fdmsg_send(int sock, const struct iovec* iov, size_t n, int fd);
/* Receives one message into iov[0..n) without blocking (EINTR retried).
 * Returns the bytes read (0 at the peer's close), with the descriptors
 * that came in fds[0..*nfds): close-on-exec, owned by the caller, those
 * past max_fds closed. SL_EAGAIN when nothing waits; SL_EPROTO, with
 * nothing kept, for a message the kernel cut short (a datagram longer
 * than the buffer, or more than SL__FDMSG_MAX_FDS descriptors); or
 * another negative code. */
ssize_t sl__fdmsg_recv(int sock, struct iovec* iov, size_t n, int* fds,
                       size_t max_fds, size_t* nfds);

#endif
