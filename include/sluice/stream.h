/* sluice/stream.h: Streams (manual chapter 2): the stream object and its concrete kinds (files, sockets, stdio, zlib, lines).
 * Included by <sluice.h>; programs include that. */
#ifndef SLUICE_STREAM_H
#define SLUICE_STREAM_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Streams                                                                   */
/*                                                                           */
/* One opaque type for Readable, Writable, Duplex and Transform, as in Node. */
/* Lifetime: a stream belongs to the library. It closes itself after end    */
/* and finish (autoDestroy) or after sl_stream_destroy(), delivers exactly   */
/* one SL_EV_CLOSE, and is freed once its close listeners have returned,     */
/* unless a reference taken with sl_stream_ref() is still held.              */
/* Event order, enforced by one state machine: data..., end (readable side); */
/* drain..., finish (writable side); at most one error; exactly one close,   */
/* always last; nothing after close.                                         */

typedef struct sl_stream_s sl_stream_t;

typedef enum {
  SL_EV_DATA = 0, /* a chunk, in flowing mode (ev->chunk, borrowed) */
  SL_EV_END,      /* the readable side has delivered all its data */
  SL_EV_ERROR,    /* ev->err, ev->message; at most once */
  SL_EV_CLOSE,    /* exactly once, last */
  SL_EV_READABLE, /* paused mode: data (or end) can be read with read() */
  SL_EV_PAUSE,
  SL_EV_RESUME,
  SL_EV_DRAIN,  /* the writable buffer emptied after write() returned 0 */
  SL_EV_FINISH, /* every write completed after end() */
  SL_EV_PIPE,   /* ev->peer started piping into this stream */
  SL_EV_UNPIPE, /* ev->peer stopped piping into this stream */
  SL_EV_CONNECT /* a socket connected */
} sl_event_type_t;

typedef struct sl_event_s {
  sl_event_type_t type;
  sl_chunk_t* chunk;   /* SL_EV_DATA: valid during the callback; ref to keep */
  int err;             /* SL_EV_ERROR: the SL_E* code */
  const char* message; /* SL_EV_ERROR: "ENOENT: no such file or directory,
                          open 'x.txt'"; valid during the callback */
  sl_stream_t* peer;   /* SL_EV_PIPE / SL_EV_UNPIPE */
} sl_event_t;

typedef void (*sl_stream_cb)(sl_stream_t* s, const sl_event_t* ev, void* arg);
/* Completion of a write, end, finished(): err is 0 or an SL_E* code. */
typedef void (*sl_done_cb)(sl_stream_t* s, int err, void* arg);

/* Hooks a stream implementation provides (Node's _read, _write, ...).
 * Each hook runs on the loop thread, never re-entered, and finishes by
 * calling the completion function named beside it, then or later. */
typedef struct sl_stream_hooks_s {
  /* Produce data: call sl_stream_push() any number of times (NULL for end
   * of data), now or later. Not called again until a push has happened and
   * the buffer is below the high-water mark. `n` is a size hint. On a
   * Transform (optional): called from the loop whenever the readable side
   * is below its mark and no write is held, so a transform that keeps
   * input of its own can resume (Node's _read). */
  void (*read)(sl_stream_t* s, size_t n);
  /* Consume one chunk (borrowed; ref it to keep it past the call), then
   * call sl_stream_write_done(s, err). One write at a time. */
  void (*write)(sl_stream_t* s, sl_chunk_t* chunk);
  /* Optional: consume a batch of queued chunks at once (after cork/uncork or
   * while a write was in flight); then sl_stream_write_done(s, err). With
   * no `write` hook, single chunks come here too (n == 1). */
  void (*writev)(sl_stream_t* s, sl_chunk_t** chunks, size_t n);
  /* Optional: after the last write, before finish; then
   * sl_stream_final_done(s, err). */
  void (*final)(sl_stream_t* s);
  /* Transform: push the output for `chunk` (borrowed), then
   * sl_stream_write_done(s, err). */
  void (*transform)(sl_stream_t* s, sl_chunk_t* chunk);
  /* Transform, optional: push the last output after the input ended, then
   * sl_stream_final_done(s, err). */
  void (*flush)(sl_stream_t* s);
  /* Optional: release resources (close a descriptor, cancel work), then
   * call sl_stream_destroy_done(s) now or later; close follows. `err` is the
   * destroy reason (0 for a normal end). */
  void (*destroy)(sl_stream_t* s, int err);
} sl_stream_hooks_t;

typedef struct sl_stream_opts_s {
  const sl_stream_hooks_t* hooks; /* NULL: a PassThrough / no-op */
  void* data;                     /* user pointer: sl_stream_data() */
  /* Readable side: 0 means 16 KiB, or 16 objects in object mode. */
  size_t high_water_mark;
  /* Writable side of a Duplex/Transform; 0 means high_water_mark. */
  size_t write_high_water_mark;
  int object_mode;          /* both sides count chunks, not bytes */
  int readable_object_mode; /* only the readable side */
  int writable_object_mode; /* only the writable side */
  int no_auto_destroy;      /* keep the stream open after end/finish */
  int end_on_end;           /* Duplex: end the writable side when the
                               readable side ends (Node's allowHalfOpen:
                               false); 0 keeps it open, Node's default */
  const char* name;         /* for error messages: a path, a peer */
} sl_stream_opts_t;

/* Constructors. `o` may be NULL for defaults. Each returns a new stream or
 * NULL on ENOMEM. The stream is owned by the library (see Lifetime). */
SL_EXTERN sl_stream_t* sl_readable_new(const sl_stream_opts_t* o);
SL_EXTERN sl_stream_t* sl_writable_new(const sl_stream_opts_t* o);
SL_EXTERN sl_stream_t* sl_duplex_new(const sl_stream_opts_t* o);
SL_EXTERN sl_stream_t* sl_transform_new(const sl_stream_opts_t* o);
/* A Transform that passes chunks through unchanged. */
SL_EXTERN sl_stream_t* sl_passthrough_new(const sl_stream_opts_t* o);

/* Adds a listener. Adding an SL_EV_DATA listener switches a stream that was
 * not explicitly paused to flowing mode; adding SL_EV_READABLE makes it read
 * in paused mode. Listeners run in the order added. Returns 0, SL_ENOMEM,
 * or SL_EDESTROYED after close. The callback runs from the loop only. */
SL_EXTERN int sl_stream_on(sl_stream_t* s, sl_event_type_t type,
                           sl_stream_cb cb, void* arg);
/* As sl_stream_on(), removed after its first call. */
SL_EXTERN int sl_stream_once(sl_stream_t* s, sl_event_type_t type,
                             sl_stream_cb cb, void* arg);
/* Removes the first listener equal to (type, cb, arg). Returns 0 or
 * SL_ENOENT. Safe from inside a callback. */
SL_EXTERN int sl_stream_off(sl_stream_t* s, sl_event_type_t type,
                            sl_stream_cb cb, void* arg);

SL_EXTERN void* sl_stream_data(const sl_stream_t* s);
SL_EXTERN void sl_stream_set_data(sl_stream_t* s, void* data);
SL_EXTERN const char* sl_stream_name(const sl_stream_t* s);
/* Keeps `s` allocated past its close; pair with sl_stream_unref(). */
SL_EXTERN sl_stream_t* sl_stream_ref(sl_stream_t* s);
SL_EXTERN void sl_stream_unref(sl_stream_t* s);

/* --- Readable side ------------------------------------------------------ */

/* For implementations: appends `chunk` (a reference is taken) to the read
 * buffer, or ends the readable side when `chunk` is NULL. Returns 1 while
 * the buffer is below the high-water mark, 0 at or above it (stop producing
 * until the read hook runs again), SL_EPUSHAFTEREOF after the end, or
 * SL_EDESTROYED. A zero-length chunk is accepted and delivers nothing
 * (object mode: delivered as one object). Listeners run later, from the
 * loop. */
SL_EXTERN int sl_stream_push(sl_stream_t* s, sl_chunk_t* chunk);
/* sl_stream_push() of a copy of data[0..len). */
SL_EXTERN int sl_stream_push_bytes(sl_stream_t* s, const void* data,
                                   size_t len);
/* Puts `chunk` back at the front of the read buffer (a reference is taken),
 * to be read first. Returns 0, or SL_EPUSHAFTEREOF / SL_EDESTROYED. */
SL_EXTERN int sl_stream_unshift(sl_stream_t* s, sl_chunk_t* chunk);
/* Paused mode: takes `n` bytes (n == 0: everything buffered) out of the
 * buffer and returns them as a chunk the caller owns, or NULL when fewer
 * than `n` bytes are buffered and the stream has not ended (an
 * SL_EV_READABLE follows when more arrive, not before; an `n` above the
 * high-water mark raises the mark to `n`, as Node does). After the end,
 * returns what is left, then NULL. In object mode returns one object,
 * whatever `n`. */
SL_EXTERN sl_chunk_t* sl_stream_read(sl_stream_t* s, size_t n);
/* Switches to paused mode; SL_EV_PAUSE follows. */
SL_EXTERN void sl_stream_pause(sl_stream_t* s);
/* Switches to flowing mode; SL_EV_RESUME follows, then data. */
SL_EXTERN void sl_stream_resume(sl_stream_t* s);
SL_EXTERN int sl_stream_is_paused(const sl_stream_t* s);
typedef enum { SL_ENC_NONE = 0, SL_ENC_UTF8 = 1 } sl_encoding_t;
/* SL_ENC_UTF8: data chunks never split a UTF-8 character; an incomplete or
 * invalid sequence at the end becomes U+FFFD, as Node's decoder does.
 * Returns 0 or SL_EINVAL (object mode). */
SL_EXTERN int sl_stream_set_encoding(sl_stream_t* s, sl_encoding_t enc);
/* Bytes (objects) in the read buffer / queued on the writable side. */
SL_EXTERN size_t sl_stream_readable_length(const sl_stream_t* s);
SL_EXTERN size_t sl_stream_writable_length(const sl_stream_t* s);
SL_EXTERN size_t sl_stream_readable_hwm(const sl_stream_t* s);
SL_EXTERN size_t sl_stream_writable_hwm(const sl_stream_t* s);
SL_EXTERN int sl_stream_is_readable(const sl_stream_t* s);
SL_EXTERN int sl_stream_is_writable(const sl_stream_t* s);
/* Readable side has emitted end / writable side has emitted finish. */
SL_EXTERN int sl_stream_ended(const sl_stream_t* s);
SL_EXTERN int sl_stream_writable_finished(const sl_stream_t* s);
SL_EXTERN int sl_stream_destroyed(const sl_stream_t* s);
SL_EXTERN int sl_stream_closed(const sl_stream_t* s);

/* --- Writable side ------------------------------------------------------ */

/* Queues `chunk` (a reference is taken; the caller keeps its own). Returns 1
 * while the caller may keep writing, 0 once the buffered length reaches the
 * high-water mark (wait for SL_EV_DRAIN), or a negative code (SL_EWRITEAFTEREND,
 * SL_EDESTROYED, SL_ENOTWRITABLE): then nothing was queued, `cb` does not
 * run, and for write-after-end an SL_EV_ERROR follows as in Node. `cb` (may
 * be NULL) runs from the loop once the chunk is written or failed, in write
 * order, before the SL_EV_DRAIN or SL_EV_FINISH that follows it. */
SL_EXTERN int sl_stream_write(sl_stream_t* s, sl_chunk_t* chunk, sl_done_cb cb,
                              void* arg);
/* sl_stream_write() of a copy of data[0..len). */
SL_EXTERN int sl_stream_write_bytes(sl_stream_t* s, const void* data,
                                    size_t len, sl_done_cb cb, void* arg);
/* sl_stream_write_bytes() of a NUL-terminated string. */
SL_EXTERN int sl_stream_write_str(sl_stream_t* s, const char* str);
/* Ends the writable side after writing `last` (may be NULL). `cb` (may be
 * NULL) runs from the loop on finish, or with the error (SL_EDESTROYED if
 * destroyed without one). Returns 0, or SL_EWRITEAFTEREND if end was
 * already called, SL_EDESTROYED after a destroy, SL_ENOTWRITABLE, or the
 * code of writing `last` (cb then does not run). */
SL_EXTERN int sl_stream_end(sl_stream_t* s, sl_chunk_t* last, sl_done_cb cb,
                            void* arg);
/* sl_stream_end() with a copy of the NUL-terminated `str` as the last
 * chunk (Node's end('text')); NULL or "" just ends. Returns as
 * sl_stream_end(), or SL_ENOMEM (the stream is then not ended). */
SL_EXTERN int sl_stream_end_str(sl_stream_t* s, const char* str);
/* Writes are buffered until as many uncork() calls as cork() calls. */
SL_EXTERN void sl_stream_cork(sl_stream_t* s);
SL_EXTERN void sl_stream_uncork(sl_stream_t* s);

/* --- Both ------------------------------------------------------------- */

/* Destroys `s` from any state: pending writes fail with `err` (SL_ECANCELED
 * when `err` is 0), an end() callback still waiting gets the same code, the
 * read buffer is dropped, SL_EV_ERROR follows if `err` != 0 (and no error was
 * emitted before), then SL_EV_CLOSE. Later calls are ignored. */
SL_EXTERN void sl_stream_destroy(sl_stream_t* s, int err);
/* sl_stream_destroy() with an error message: "<NAME>: <description>, <fmt>"
 * as in Node ("ENOENT: no such file or directory, open 'x.txt'"). */
SL_EXTERN void sl_stream_fail(sl_stream_t* s, int err, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The last error's code (0 if none) and message (NULL if none). */
SL_EXTERN int sl_stream_error(const sl_stream_t* s);
SL_EXTERN const char* sl_stream_error_message(const sl_stream_t* s);

/* --- Hook completions (for stream implementations) ---------------------- */

/* Completes the write, writev or transform in flight. err != 0 destroys the
 * stream with that error. Calling it twice for one write is SL_EMULTIPLECB. */
SL_EXTERN void sl_stream_write_done(sl_stream_t* s, int err);
/* Completes the final or flush hook. */
SL_EXTERN void sl_stream_final_done(sl_stream_t* s, int err);
/* Completes the destroy hook: close follows. */
SL_EXTERN void sl_stream_destroy_done(sl_stream_t* s);

/* --- Counters ----------------------------------------------------------- */

typedef struct sl_stream_stats_s {
  uint64_t bytes_read;      /* delivered by the readable side */
  uint64_t bytes_written;   /* completed by the writable side */
  uint64_t zero_copy_bytes; /* moved by sendfile/splice/copy_file_range */
  uint64_t max_buffered;    /* peak readable + writable buffered length */
} sl_stream_stats_t;
SL_EXTERN void sl_stream_stats(const sl_stream_t* s, sl_stream_stats_t* out);

/* --- pipe, pipeline, finished ------------------------------------------ */

typedef struct sl_pipe_opts_s {
  int no_end;       /* 1: do not end `dst` when `src` ends */
  int no_zero_copy; /* 1: always move chunks, never descriptors */
} sl_pipe_opts_t;

/* Pipes `src` into `dst` with backpressure: `src` pauses while `dst`'s
 * write() returns 0 and resumes on drain; `dst` is ended when `src` ends
 * (unless no_end). Errors are not forwarded (use sl_pipeline): when `dst`
 * closes first, `src` is left paused, as Node's unpipe leaves it. When both
 * ends are descriptors (file, socket, pipe) and nothing else consumes `src`,
 * the data moves with sendfile/splice/copy_file_range instead of chunks;
 * then a failure or close of either side destroys the other too (the
 * descriptors are shared). `dst` gets SL_EV_PIPE from the loop (once, on
 * either path), and SL_EV_UNPIPE when the pipe ends (src ended, either side
 * closed on the chunk path, unpipe). A `src` that already ended ends `dst`
 * (unless no_end). Returns `dst`, or NULL (and changes nothing) when `src`
 * or `dst` is NULL (a failed constructor) or not readable / writable. */
SL_EXTERN sl_stream_t* sl_stream_pipe(sl_stream_t* src, sl_stream_t* dst,
                                      const sl_pipe_opts_t* o);
/* Stops piping `src` into `dst` (NULL: into every destination), zero-copy
 * pipes included (they stop after the block in flight; `src` keeps the
 * bytes not yet moved); `src` pauses when no pipe is left. SL_EV_UNPIPE
 * follows on `dst`, from the loop; `dst` is not ended. */
SL_EXTERN void sl_stream_unpipe(sl_stream_t* src, sl_stream_t* dst);

/* What a pipeline tells its callback; valid only during the call. */
typedef struct sl_pipeline_result_s {
  int stage;                  /* index of the stage whose error it was; -1 */
  const char* message;        /* that stage's message ("EPREMATURECLOSE:
                                 premature close" for a stage destroyed
                                 without an error); NULL when err is 0 */
  sl_stream_t* const* stages; /* every stage, in order (their stats, names,
                                 errors): the file writer's byte count, the
                                 HTTP response at the end */
  size_t nstages;
} sl_pipeline_result_t;
/* err: 0, or the first (root-cause) error of any stage. */
typedef void (*sl_pipeline_cb)(int err, const sl_pipeline_result_t* r,
                               void* arg);
/* Pipes stages[0] -> stages[1] -> ... -> stages[n-1]. On the first error in
 * any stage, destroys every stage that has not finished (without an error of
 * their own) and calls `cb` with that root-cause error and its stage index.
 * `cb` runs exactly once, from the loop, after the last stage finished (or
 * after every stage closed on error), and before the pipeline drops its
 * references: every stage is still valid inside `cb` (its stats, name,
 * error; destroying it is a no-op). A NULL `cb` is Node's pipe chain: an
 * error is reported with sl_report() (stderr, exit status 1), except an
 * HTTP client that went away mid-response (ECONNRESET, EPIPE or a
 * premature close of a server's request or response, which Node's http
 * closes without an error). Returns 0,
 * or SL_EINVAL for fewer than 2 stages, a NULL stage (a failed
 * constructor) or a NULL `stages`, in which case every given stage is
 * destroyed and `cb` still runs once, later, with SL_EINVAL. */
SL_EXTERN int sl_pipelinev(sl_stream_t** stages, size_t n, sl_pipeline_cb cb,
                           void* arg);
/* sl_pipelinev() with a context the pipeline keeps for you: `size` bytes
 * copied from `ctx` into storage the pipeline owns, handed to `cb` as its
 * `arg` (writable) and freed when `cb` returns. For the little state a
 * callback needs (a start time, a request's path) without a malloc'd
 * struct of your own. SL_ENOMEM when the copy cannot be made (the stages
 * are destroyed, `cb` does not run). */
SL_EXTERN int sl_pipelinev_ctx(sl_stream_t** stages, size_t n,
                               sl_pipeline_cb cb, const void* ctx, size_t size);
/* sl_pipelinev() over the stages listed, any number of them:
 * `sl_pipeline(cb, arg, sl_file_reader(a, NULL), sl_gzip(NULL),
 * sl_file_writer(b, NULL))`. A macro that counts its arguments, so a
 * constructor that failed (NULL) is caught as SL_EINVAL, never taken for
 * the end of the list. Each argument is evaluated once. sl_pipeline_ctx()
 * is the same over sl_pipelinev_ctx(): `ctx` points to the context, of
 * which sizeof *ctx bytes are copied: `sl_pipeline_ctx(done, &job, in,
 * out)`. */
#ifndef __cplusplus
#define sl_pipeline(cb, arg, ...)                                            \
  sl_pipelinev((sl_stream_t*[]){__VA_ARGS__},                                \
               sizeof((sl_stream_t*[]){__VA_ARGS__}) / sizeof(sl_stream_t*), \
               (cb), (arg))
#define sl_pipeline_ctx(cb, ctx, ...)                                     \
  sl_pipelinev_ctx(                                                       \
      (sl_stream_t*[]){__VA_ARGS__},                                      \
      sizeof((sl_stream_t*[]){__VA_ARGS__}) / sizeof(sl_stream_t*), (cb), \
      (ctx), sizeof *(ctx))
#else /* C++ has no compound literals: a lambda holds the array */
#define sl_pipeline(cb, arg, ...)                                          \
  ([&]() {                                                                 \
    sl_stream_t* sl_v_[] = {__VA_ARGS__};                                  \
    return sl_pipelinev(sl_v_, sizeof sl_v_ / sizeof *sl_v_, (cb), (arg)); \
  }())
#define sl_pipeline_ctx(cb, ctx, ...)                                         \
  ([&]() {                                                                    \
    sl_stream_t* sl_v_[] = {__VA_ARGS__};                                     \
    return sl_pipelinev_ctx(sl_v_, sizeof sl_v_ / sizeof *sl_v_, (cb), (ctx), \
                            sizeof *(ctx));                                   \
  }())
#endif
/* Calls cb(s, err) once when `s` is done: err 0 when the readable side ended
 * and the writable side finished, the stream's error, or
 * SL_EPREMATURECLOSE if it closed before. Runs from the loop. Returns 0, or
 * SL_ENOMEM (cb then does not run). */
SL_EXTERN int sl_stream_finished(sl_stream_t* s, sl_done_cb cb, void* arg);

/* ------------------------------------------------------------------------ */
/* Concrete streams                                                          */

typedef struct sl_file_opts_s {
  uint64_t start;         /* first byte */
  uint64_t end;           /* one past the last byte to read; 0 = end of file */
  int flags;              /* open(2) flags; 0 = O_RDONLY (reader) or
                       O_WRONLY|O_CREAT|O_TRUNC (writer) */
  int mode;               /* 0 = 0666 */
  size_t high_water_mark; /* 0 = 64 KiB (reader), 16 KiB (writer) */
  int fd; /* with use_fd: read/write this descriptor, not a path */
  int use_fd;
  int keep_fd;    /* with use_fd: do not close fd at the end */
  int strict_end; /* reader with `end`: a file that ends before `end` (it
                       shrank meanwhile) is an error, SL_EUNEXPECTEDEOF,
                       not a short clean end */
} sl_file_opts_t;

/* A Readable over a file, opened (always O_CLOEXEC), checked with fstat and
 * read on libuv's thread pool, one read of up to the free buffer space at a
 * time (64 KiB chunks by default). Reads bytes [start, end) (end exclusive;
 * end == 0 or past EOF: to EOF; end <= start: nothing). With use_fd and
 * start == 0 a regular file is read from where its offset stands, by
 * position (pread): the offset never moves, so descriptors that share it
 * (dup) can each be read whole. Pipes and character devices are read at
 * their own position. Failures are an SL_EV_ERROR then SL_EV_CLOSE, never a NULL
 * return: "ENOENT: no such file or directory, open 'path'", "EISDIR:
 * illegal operation on a directory, read 'path'". The descriptor is closed
 * (unless keep_fd) before SL_EV_CLOSE. NULL only on ENOMEM. `path` may be
 * NULL with use_fd (messages then name no path). */
SL_EXTERN sl_stream_t* sl_file_reader(const char* path,
                                      const sl_file_opts_t* o);
/* A Writable to a file (O_WRONLY|O_CREAT|O_TRUNC, mode 0666 by default;
 * always O_CLOEXEC), writing from `start` (ignored with O_APPEND). Writes run
 * on the pool; chunks queued while a write is in flight leave together in
 * one pwritev; a short write is continued. SL_EV_FINISH waits for the open
 * (a failed open is an error, never a finish); the descriptor is closed
 * after finish, before SL_EV_CLOSE. Errors as for the reader: "ENOSPC: no
 * space left on device, write '/dev/full'". No fsync. */
SL_EXTERN sl_stream_t* sl_file_writer(const char* path,
                                      const sl_file_opts_t* o);

/* The process's stdin / stdout / stderr as streams of the right kind for
 * what the descriptor is: a file (positioned reads/writes on the pool, in
 * 256 KiB blocks), a pipe or socket (non-blocking, libuv, 64 KiB marks), or
 * a terminal. Each call returns the
 * same stream until it closes; the descriptor itself is never closed. */
SL_EXTERN sl_stream_t* sl_stdin(void);
SL_EXTERN sl_stream_t* sl_stdout(void);
SL_EXTERN sl_stream_t* sl_stderr(void);
/* A stream over an inherited descriptor of any kind (as sl_stdin() chooses).
 * `readable`/`writable` choose the sides. The descriptor is closed at the end
 * unless keep_fd (0, 1 and 2 are never closed). A regular file or device is
 * read or written from the descriptor's own position, one side only (both
 * sides: SL_EINVAL); a pipe or socket becomes non-blocking, and a socket's
 * end() half-closes. NULL on ENOMEM; other failures (SL_EBADF, ...) arrive
 * as SL_EV_ERROR ("EBADF: bad file descriptor, fd 9"). */
SL_EXTERN sl_stream_t* sl_fd_stream(int fd, int readable, int writable,
                                    int keep_fd);

/* TCP. A socket is a Duplex: the readable side is what the peer sent, the
 * writable side goes to the peer; end() half-closes (shutdown). The first
 * socket, pipe or terminal stream sets SIGPIPE to ignored (if it was the
 * default), as Node does: a write to a closed peer is SL_EPIPE. */
typedef struct sl_tcp_opts_s {
  size_t high_water_mark; /* 0 = 64 KiB */
  int allow_half_open;    /* 0: end our side when the peer ends */
  int no_delay;           /* 1: TCP_NODELAY */
} sl_tcp_opts_t;
/* Connects to host:port (numeric IPv4/IPv6, or "localhost", resolved with
 * getaddrinfo, its IPv4 address preferred). Writes, reads and end() before
 * the connection is up wait for it. SL_EV_CONNECT follows on success; failure
 * is an SL_EV_ERROR naming the peer ("ECONNREFUSED: connection refused,
 * connect 127.0.0.1:9"). NULL only on ENOMEM or SL_EINVAL address. */
SL_EXTERN sl_stream_t* sl_tcp_connect(const char* host, int port,
                                      const sl_tcp_opts_t* o);
/* "127.0.0.1:5000" of the peer (or local) side; "" if not connected. */
SL_EXTERN const char* sl_tcp_peer(const sl_stream_t* s);

typedef struct sl_tcp_server_s sl_tcp_server_t;
/* Called for each accepted connection; `conn` is owned by the library like
 * any stream (it closes itself when both sides are done). */
typedef void (*sl_connection_cb)(sl_tcp_server_t* srv, sl_stream_t* conn,
                                 void* arg);
typedef struct sl_tcp_server_opts_s {
  int backlog;        /* 0 = 511 */
  int reuseport;      /* SO_REUSEPORT before bind */
  int exclusive;      /* in a cluster worker: a listener of this worker
                           alone, not the cluster's (Node's exclusive) */
  sl_tcp_opts_t conn; /* options for accepted sockets */
} sl_tcp_server_opts_t;
/* Listens on host:port (numeric IPv4/IPv6 or "localhost" = 127.0.0.1; port
 * 0: any free port). SO_REUSEADDR always, SO_REUSEPORT when asked. Returns 0
 * and stores the server in *out, or a negative code (SL_EADDRINUSE,
 * SL_EINVAL, ...) with *out NULL. on_conn runs from the loop. */
SL_EXTERN int sl_tcp_listen(const char* host, int port,
                            const sl_tcp_server_opts_t* o,
                            sl_connection_cb on_conn, void* arg,
                            sl_tcp_server_t** out);
/* The bound port (useful after port 0). */
SL_EXTERN int sl_tcp_server_port(const sl_tcp_server_t* srv);
/* Stops accepting and frees the server; accepted connections live on.
 * Connections already waiting in the accept queue (accepted by the kernel)
 * are still given to on_conn, from the loop, rather than reset. `cb` (may
 * be NULL) runs from the loop once the listener is closed. */
SL_EXTERN void sl_tcp_server_close(sl_tcp_server_t* srv, sl_close_cb cb,
                                   void* arg);

/* Compression Transforms (zlib formats). A zeroed struct means the
 * defaults; a value outside its range makes the constructor return a stream
 * that fails, from the loop, with SL_EINVAL and a message naming the option
 * and its range ("EINVAL: invalid argument, gzip: level 12 is out of range
 * (1-9, 0 = default 6)"), never an assertion. */
typedef struct sl_zlib_opts_s {
  int level;              /* 1..9; 0 = 6 (the default) */
  size_t chunk_size;      /* output chunk size, 1..UINT32_MAX; 0 = 64 KiB */
  size_t high_water_mark; /* 0 = 64 KiB on both sides */
  int threads;            /* gzip: blocks in flight for this stream, 1..64; 0 =
                       auto: min(max(CPUs, 2), libuv's pool threads, 4) */
  size_t block_size; /* gzip: input bytes per parallel block, 1 KiB..64 MiB;
                       0 = 128 KiB */
} sl_zlib_opts_t;
/* Each returns a new Transform (owned by the library), or NULL on ENOMEM.
 * sl_gzip writes ONE gzip member (what curl, browsers and a single
 * zlib.decompressobj(31) expect) but compresses in parallel, as pigz does:
 * each block_size block is deflated on libuv's thread pool and ended like a
 * sync flush (byte aligned, not final). Levels 1-3 use ISA-L's igzip (with
 * the previous 32 KiB as dictionary; 3.5x zlib -1's speed, smaller output),
 * levels 4-9 libdeflate (each block starts without one; twice zlib's speed
 * at level 6). The compressors
 * are shared by all gzip streams (at most min(max(CPUs, 2), libuv's pool
 * threads) at once, process-wide) and lent per block; a block starts only
 * while the readable side is below its mark. So a stream whose reader
 * stalls holds at most: its two marks, one written chunk, one block being
 * filled plus 32 KiB of dictionary, and `threads` blocks of output past the
 * mark (each at most block_size + 1 KiB). With the defaults that is under
 * 1 MiB in the worst case (incompressible input, 4 threads), about 0.3 MiB
 * for text, whatever the CPU count. sl_gunzip reads concatenated members.
 * Corrupt input (or, for gunzip, trailing data that is not zero padding)
 * is an SL_EV_ERROR with SL_EZDATA and zlib's reason ("EZDATA: invalid
 * compressed data, incorrect header check"); input that ends inside a
 * stream is SL_EUNEXPECTEDEOF. sl_inflate ignores data after the end of its
 * stream, as Node does. */
SL_EXTERN sl_stream_t* sl_gzip(const sl_zlib_opts_t* o);
SL_EXTERN sl_stream_t* sl_gunzip(const sl_zlib_opts_t* o);
SL_EXTERN sl_stream_t* sl_deflate(const sl_zlib_opts_t* o);
SL_EXTERN sl_stream_t* sl_inflate(const sl_zlib_opts_t* o);

/* A Transform from bytes to lines: each output chunk is one line without its
 * "\n" (and without a "\r" before it), in object mode. A last line without a
 * newline is delivered at the end. A line longer than max_line bytes is an
 * SL_EV_ERROR with SL_E2BIG (0 = 1 MiB) naming the limit. A line inside one
 * input chunk is a slice of it (no copy); only lines spanning chunks are
 * copied. The writable side counts bytes (16 KiB mark). NULL on ENOMEM. */
typedef struct sl_lines_opts_s {
  size_t max_line;
  size_t high_water_mark; /* lines; 0 = 16 */
} sl_lines_opts_t;
SL_EXTERN sl_stream_t* sl_line_splitter(const sl_lines_opts_t* o);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_STREAM_H */
