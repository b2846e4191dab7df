/* sluice: Node.js's advanced layer (streams, child processes, cluster, HTTP)
 * for C, on libuv, llhttp and zlib.
 *
 * This is the only header a program includes. Objects are opaque; option
 * structs are visible and a zeroed struct means the defaults. Errors are
 * negative codes equal to libuv's UV_E* values (SL_ENOENT == UV_ENOENT), plus
 * sluice's own range (SL_EWRITEAFTEREND, ...). No callback ever runs inside the
 * call that caused it: every event is delivered from the loop.
 *
 * Threading: every function here must be called on the loop thread.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_VERSION_MAJOR 0
#define SL_VERSION_MINOR 1
#define SL_VERSION_PATCH 0

#if defined(__GNUC__)
#define SL_EXTERN __attribute__((visibility("default")))
#else
#define SL_EXTERN
#endif

struct uv_loop_s;

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

/* Codes shared with libuv: on Linux, UV_E* is -errno, and so is SL_E*. */
#define SL_ERRNO_MAP(X)                                                      \
  X(E2BIG, -E2BIG)                                                          \
  X(EACCES, -EACCES)                                                        \
  X(EADDRINUSE, -EADDRINUSE)                                                \
  X(EADDRNOTAVAIL, -EADDRNOTAVAIL)                                          \
  X(EAGAIN, -EAGAIN)                                                        \
  X(EBADF, -EBADF)                                                          \
  X(EBUSY, -EBUSY)                                                          \
  X(ECANCELED, -ECANCELED)                                                  \
  X(ECHILD, -ECHILD)                                                        \
  X(ECONNABORTED, -ECONNABORTED)                                            \
  X(ECONNREFUSED, -ECONNREFUSED)                                            \
  X(ECONNRESET, -ECONNRESET)                                                \
  X(EEXIST, -EEXIST)                                                        \
  X(EFBIG, -EFBIG)                                                          \
  X(EINVAL, -EINVAL)                                                        \
  X(EIO, -EIO)                                                              \
  X(EISDIR, -EISDIR)                                                        \
  X(EMFILE, -EMFILE)                                                        \
  X(EMSGSIZE, -EMSGSIZE)                                                    \
  X(ENAMETOOLONG, -ENAMETOOLONG)                                            \
  X(ENFILE, -ENFILE)                                                        \
  X(ENOBUFS, -ENOBUFS)                                                      \
  X(ENOENT, -ENOENT)                                                        \
  X(ENOMEM, -ENOMEM)                                                        \
  X(ENOSPC, -ENOSPC)                                                        \
  X(ENOSYS, -ENOSYS)                                                        \
  X(ENOTCONN, -ENOTCONN)                                                    \
  X(ENOTDIR, -ENOTDIR)                                                      \
  X(ENOTSOCK, -ENOTSOCK)                                                    \
  X(ENOTSUP, -ENOTSUP)                                                      \
  X(EPERM, -EPERM)                                                          \
  X(EPIPE, -EPIPE)                                                          \
  X(ERANGE, -ERANGE)                                                        \
  X(ESPIPE, -ESPIPE)                                                        \
  X(ESRCH, -ESRCH)                                                          \
  X(ETIMEDOUT, -ETIMEDOUT)                                                  \
  X(EXDEV, -EXDEV)                                                          \
  X(EOF, -4095)

/* sluice's own codes: a range libuv does not use. */
#define SL_OWN_ERRORS(X)                                                     \
  X(EWRITEAFTEREND, -6001, "write after end")                               \
  X(EDESTROYED, -6002, "stream destroyed")                                  \
  X(EPREMATURECLOSE, -6003, "premature close")                              \
  X(EMAXBUFFER, -6004, "max buffer exceeded")                               \
  X(EIPCCLOSED, -6005, "IPC channel closed")                                \
  X(EZDATA, -6006, "invalid compressed data")                               \
  X(EPUSHAFTEREOF, -6007, "push after end of stream")                      \
  X(EMULTIPLECB, -6008, "callback called more than once")                  \
  X(ENOTWRITABLE, -6009, "stream is not writable")                          \
  X(ENOTREADABLE, -6010, "stream is not readable")                          \
  X(EUNEXPECTEDEOF, -6011, "unexpected end of input")                       \
  X(EFULL, -6012, "queue full")

typedef enum {
#define SL__ERR_(name, val) SL_##name = (val),
  SL_ERRNO_MAP(SL__ERR_)
#undef SL__ERR_
#define SL__OWN_(name, val, msg) SL_##name = (val),
  SL_OWN_ERRORS(SL__OWN_)
#undef SL__OWN_
  SL_ERRNO_MAX_ = -7000
} sl_errno_t;

/* Returns a static, human-readable description of `err` ("no such file or
 * directory"). Unknown codes give "unknown error". Never NULL. */
SL_EXTERN const char* sl_strerror(int err);
/* Returns the static symbolic name of `err` ("ENOENT", "EWRITEAFTEREND"). */
SL_EXTERN const char* sl_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Loop                                                                      */

/* Must be the first call in main(). Records argv for later use (fork of named
 * entries and cluster workers dispatch from here in later layers). Returns 0. */
SL_EXTERN int sl_init(int argc, char** argv);
/* The libuv loop sluice runs on (libuv's default loop). For programs that
 * want raw libuv handles beside sluice's objects. */
SL_EXTERN struct uv_loop_s* sl_loop(void);
/* Runs the loop until nothing is left to do. Returns 0, or a negative code
 * if the loop could not run. */
SL_EXTERN int sl_run(void);
/* Stops sl_run() after the current iteration. */
SL_EXTERN void sl_stop(void);
/* Releases sluice's own loop handles and closes the loop. Returns 0, or
 * SL_EBUSY when something (a stream, a timer, a socket) is still open: the
 * check the test harness uses to prove a test left nothing behind. */
SL_EXTERN int sl_loop_close(void);

typedef void (*sl_defer_cb)(void* arg);
/* Runs cb(arg) from the loop, after the current callback returns and before
 * the loop polls for I/O (Node's process.nextTick). Returns 0 or SL_ENOMEM. */
SL_EXTERN int sl_defer(sl_defer_cb cb, void* arg);

typedef struct sl_timer_s sl_timer_t;
typedef void (*sl_timer_cb)(sl_timer_t* t, void* arg);
/* Starts a timer that fires after `timeout_ms`, then every `repeat_ms` if
 * non-zero. Returns the timer (owned by sluice) or NULL on ENOMEM. A one-shot
 * timer frees itself after its callback returns; a repeating one lives until
 * sl_timer_stop(). cb runs from the loop, never inside this call. */
SL_EXTERN sl_timer_t* sl_timer_start(uint64_t timeout_ms, uint64_t repeat_ms,
                                     sl_timer_cb cb, void* arg);
/* Stops and frees `t` (safe from inside its own callback). `t` is invalid
 * afterwards; its callback does not run again. */
SL_EXTERN void sl_timer_stop(sl_timer_t* t);

/* Monotonic milliseconds and nanoseconds (CLOCK_MONOTONIC). */
SL_EXTERN uint64_t sl_now_ms(void);
SL_EXTERN uint64_t sl_hrtime(void);
/* Peak resident set size of this process in bytes (from getrusage). */
SL_EXTERN uint64_t sl_peak_rss(void);

/* Memory: every allocation of the library goes through these. Replace them
 * before any other sluice call. Returns 0, or SL_EINVAL if one is NULL. */
typedef void* (*sl_malloc_fn)(size_t size);
typedef void* (*sl_realloc_fn)(void* ptr, size_t size);
typedef void (*sl_free_fn)(void* ptr);
SL_EXTERN int sl_set_allocator(sl_malloc_fn m, sl_realloc_fn r, sl_free_fn f);

/* ------------------------------------------------------------------------ */
/* Chunks: reference-counted byte slices (or one object, in object mode).    */
/*                                                                           */
/* A chunk starts with one reference, owned by its creator. Every function   */
/* that takes a chunk takes a reference of its own if it keeps it; the       */
/* caller always releases its own with sl_chunk_unref(). A slice shares its  */
/* parent's storage; nothing is copied between stream stages.                */

typedef struct sl_chunk_s sl_chunk_t;
typedef void (*sl_chunk_free_cb)(void* data, void* arg);

/* A chunk of `len` bytes of uninitialised storage. NULL on ENOMEM. */
SL_EXTERN sl_chunk_t* sl_chunk_new(size_t len);
/* A chunk holding a copy of `data[0..len)`. NULL on ENOMEM. */
SL_EXTERN sl_chunk_t* sl_chunk_copy(const void* data, size_t len);
/* sl_chunk_copy() of a NUL-terminated string (without the NUL). */
SL_EXTERN sl_chunk_t* sl_chunk_str(const char* s);
/* sl_chunk_copy() of printf-formatted text. NULL on ENOMEM. */
SL_EXTERN sl_chunk_t* sl_chunk_printf(const char* fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* A chunk over caller memory: no copy; free_cb(data, arg) runs when the last
 * reference goes (free_cb may be NULL for static memory). NULL on ENOMEM, in
 * which case free_cb has not run and the caller still owns `data`. */
SL_EXTERN sl_chunk_t* sl_chunk_wrap(void* data, size_t len,
                                    sl_chunk_free_cb free_cb, void* arg);
/* An object-mode chunk carrying `obj`; `dtor(obj, arg)` runs when the last
 * reference goes (may be NULL). Its length counts as 1 in object mode. */
SL_EXTERN sl_chunk_t* sl_chunk_object(void* obj, sl_chunk_free_cb dtor,
                                      void* arg);
/* A new chunk for bytes [off, off+len) of `c`, sharing its storage (takes a
 * reference on `c`'s storage). SL_ASSERTs that the range lies inside `c`. */
SL_EXTERN sl_chunk_t* sl_chunk_slice(sl_chunk_t* c, size_t off, size_t len);
SL_EXTERN sl_chunk_t* sl_chunk_ref(sl_chunk_t* c);
/* Drops one reference; frees at zero. NULL is ignored. */
SL_EXTERN void sl_chunk_unref(sl_chunk_t* c);
SL_EXTERN char* sl_chunk_data(const sl_chunk_t* c);
SL_EXTERN size_t sl_chunk_len(const sl_chunk_t* c);
/* The object of an object chunk, or NULL for a byte chunk. */
SL_EXTERN void* sl_chunk_obj(const sl_chunk_t* c);
/* Shrinks the visible length (after filling fewer bytes than allocated). */
SL_EXTERN void sl_chunk_set_len(sl_chunk_t* c, size_t len);

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
  SL_EV_DATA = 0,  /* a chunk, in flowing mode (ev->chunk, borrowed) */
  SL_EV_END,       /* the readable side has delivered all its data */
  SL_EV_ERROR,     /* ev->err, ev->message; at most once */
  SL_EV_CLOSE,     /* exactly once, last */
  SL_EV_READABLE,  /* paused mode: data (or end) can be read with read() */
  SL_EV_PAUSE,
  SL_EV_RESUME,
  SL_EV_DRAIN,     /* the writable buffer emptied after write() returned 0 */
  SL_EV_FINISH,    /* every write completed after end() */
  SL_EV_PIPE,      /* ev->peer started piping into this stream */
  SL_EV_UNPIPE,    /* ev->peer stopped piping into this stream */
  SL_EV_CONNECT,   /* a socket connected */
  SL_EV_MAX_
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
   * the buffer is below the high-water mark. `n` is a size hint. */
  void (*read)(sl_stream_t* s, size_t n);
  /* Consume one chunk (borrowed; ref it to keep it past the call), then
   * call sl_stream_write_done(s, err). One write at a time. */
  void (*write)(sl_stream_t* s, sl_chunk_t* chunk);
  /* Optional: consume a batch of queued chunks at once (after cork/uncork or
   * while a write was in flight); then sl_stream_write_done(s, err). */
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
  /* Internal: zero-copy capabilities (descriptors). Leave NULL. */
  const struct sl__zc_ops_s* zc;
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
 * SL_EV_READABLE follows when more arrive). After the end, returns what is
 * left, then NULL. In object mode returns one object, whatever `n`. */
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
SL_EXTERN int sl_stream_finished_(const sl_stream_t* s);
SL_EXTERN int sl_stream_destroyed(const sl_stream_t* s);
SL_EXTERN int sl_stream_closed(const sl_stream_t* s);

/* --- Writable side ------------------------------------------------------ */

/* Queues `chunk` (a reference is taken; the caller keeps its own). Returns 1
 * while the caller may keep writing, 0 once the buffered length reaches the
 * high-water mark (wait for SL_EV_DRAIN), or a negative code (SL_EWRITEAFTEREND,
 * SL_EDESTROYED, SL_ENOTWRITABLE): then nothing was queued, `cb` does not
 * run, and for write-after-end an SL_EV_ERROR follows as in Node. `cb` (may
 * be NULL) runs from the loop once the chunk is written or failed. */
SL_EXTERN int sl_stream_write(sl_stream_t* s, sl_chunk_t* chunk,
                              sl_done_cb cb, void* arg);
/* sl_stream_write() of a copy of data[0..len). */
SL_EXTERN int sl_stream_write_bytes(sl_stream_t* s, const void* data,
                                    size_t len, sl_done_cb cb, void* arg);
/* sl_stream_write_bytes() of a NUL-terminated string. */
SL_EXTERN int sl_stream_write_str(sl_stream_t* s, const char* str);
/* Ends the writable side after writing `last` (may be NULL). `cb` (may be
 * NULL) runs from the loop on finish, or with the error. Returns 0, or
 * SL_EWRITEAFTEREND if end was already called (cb then does not run). */
SL_EXTERN int sl_stream_end(sl_stream_t* s, sl_chunk_t* last, sl_done_cb cb,
                            void* arg);
/* Writes are buffered until as many uncork() calls as cork() calls. */
SL_EXTERN void sl_stream_cork(sl_stream_t* s);
SL_EXTERN void sl_stream_uncork(sl_stream_t* s);

/* --- Both ------------------------------------------------------------- */

/* Destroys `s` from any state: pending writes fail with SL_ECANCELED, the
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
  int no_end;        /* 1: do not end `dst` when `src` ends */
  int no_zero_copy;  /* 1: always move chunks, never descriptors */
} sl_pipe_opts_t;

/* Pipes `src` into `dst` with backpressure: `src` pauses while `dst`'s
 * write() returns 0 and resumes on drain; `dst` is ended when `src` ends
 * (unless no_end). Errors are not forwarded (use sl_pipeline). When both
 * ends are descriptors (file, socket, pipe) and nothing else consumes `src`,
 * the data moves with sendfile/splice/copy_file_range instead of chunks.
 * Returns `dst`. */
SL_EXTERN sl_stream_t* sl_stream_pipe(sl_stream_t* src, sl_stream_t* dst,
                                      const sl_pipe_opts_t* o);
/* Stops piping `src` into `dst` (NULL: into every destination). */
SL_EXTERN void sl_stream_unpipe(sl_stream_t* src, sl_stream_t* dst);

/* err: 0, or the first error. stage: index of the stage whose error it was
 * (-1 when none). message: that stage's message (NULL when none). */
typedef void (*sl_pipeline_cb)(int err, int stage, const char* message,
                               void* arg);
/* Pipes stages[0] -> stages[1] -> ... -> stages[n-1]. On the first error in
 * any stage, destroys every stage that has not finished and calls `cb` with
 * that root-cause error and its stage index. `cb` runs exactly once, from the
 * loop, after the last stage finished (or after every stage closed on
 * error). Returns 0, or SL_EINVAL for fewer than 2 stages or a NULL stage (a
 * failed constructor), in which case every given stage is destroyed and
 * `cb` still runs once, later, with SL_EINVAL. */
SL_EXTERN int sl_pipelinev(sl_stream_t** stages, size_t n, sl_pipeline_cb cb,
                           void* arg);
/* sl_pipelinev() over a NULL-terminated list of stages. A constructor that
 * failed cannot be told from the terminator: check them when it matters. */
SL_EXTERN int sl_pipeline(sl_pipeline_cb cb, void* arg, ...);
/* Calls cb(s, err) once when `s` is done: err 0 when the readable side ended
 * and the writable side finished, the stream's error, or
 * SL_EPREMATURECLOSE if it closed before. Runs from the loop. Returns 0. */
SL_EXTERN int sl_stream_finished(sl_stream_t* s, sl_done_cb cb, void* arg);

/* ------------------------------------------------------------------------ */
/* Concrete streams                                                          */

typedef struct sl_file_opts_s {
  uint64_t start;   /* first byte */
  uint64_t end;     /* one past the last byte to read; 0 = end of file */
  int flags;        /* open(2) flags; 0 = O_RDONLY (reader) or
                       O_WRONLY|O_CREAT|O_TRUNC (writer) */
  int mode;         /* 0 = 0666 */
  size_t high_water_mark; /* 0 = 64 KiB (reader), 16 KiB (writer) */
  int fd;           /* with use_fd: read/write this descriptor, not a path */
  int use_fd;
  int keep_fd;      /* with use_fd: do not close fd at the end */
} sl_file_opts_t;

/* A Readable over a file, opened (and read) on libuv's thread pool. An open
 * failure is an SL_EV_ERROR ("ENOENT: no such file or directory, open
 * 'path'"), never a NULL return. NULL only on ENOMEM. */
SL_EXTERN sl_stream_t* sl_file_reader(const char* path,
                                      const sl_file_opts_t* o);
/* A Writable to a file (created/truncated by default); writes go to the pool,
 * queued chunks are written with one pwritev. Errors as for the reader. */
SL_EXTERN sl_stream_t* sl_file_writer(const char* path,
                                      const sl_file_opts_t* o);

/* The process's stdin / stdout / stderr as streams of the right kind for
 * what the descriptor is: a file (positioned reads/writes on the pool), a
 * pipe or socket (non-blocking, libuv), or a terminal. Each call returns the
 * same stream until it closes; the descriptor itself is never closed. */
SL_EXTERN sl_stream_t* sl_stdin(void);
SL_EXTERN sl_stream_t* sl_stdout(void);
SL_EXTERN sl_stream_t* sl_stderr(void);
/* A stream over an inherited descriptor of any kind (as sl_stdin() chooses).
 * `readable`/`writable` choose the sides. The descriptor is closed at the end
 * unless keep_fd. NULL on ENOMEM; other failures arrive as SL_EV_ERROR. */
SL_EXTERN sl_stream_t* sl_fd_stream(int fd, int readable, int writable,
                                    int keep_fd);

/* TCP. A socket is a Duplex: the readable side is what the peer sent, the
 * writable side goes to the peer; end() half-closes (shutdown). */
typedef struct sl_tcp_opts_s {
  size_t high_water_mark; /* 0 = 64 KiB */
  int allow_half_open;    /* 0: end our side when the peer ends */
  int no_delay;           /* 1: TCP_NODELAY */
} sl_tcp_opts_t;
/* Connects to host:port (numeric IPv4/IPv6, or "localhost"). Writes before
 * the connection is up are queued. SL_EV_CONNECT follows on success; failure
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
  int backlog;          /* 0 = 511 */
  int reuseport;        /* SO_REUSEPORT before bind */
  sl_tcp_opts_t conn;   /* options for accepted sockets */
} sl_tcp_server_opts_t;
/* Listens on host:port (port 0: any free port). Returns 0 and stores the
 * server in *out, or a negative code (SL_EADDRINUSE, ...). on_conn runs
 * from the loop. */
SL_EXTERN int sl_tcp_listen(const char* host, int port,
                            const sl_tcp_server_opts_t* o,
                            sl_connection_cb on_conn, void* arg,
                            sl_tcp_server_t** out);
/* The bound port (useful after port 0). */
SL_EXTERN int sl_tcp_server_port(const sl_tcp_server_t* srv);
/* Stops accepting and frees the server; accepted connections live on.
 * `cb` (may be NULL) runs from the loop once the listener is closed. */
SL_EXTERN void sl_tcp_server_close(sl_tcp_server_t* srv,
                                   void (*cb)(void* arg), void* arg);

/* Compression Transforms (zlib formats). */
typedef struct sl_zlib_opts_s {
  int level;        /* 1..9; 0 = 6 (the default) */
  size_t chunk_size;/* output chunk size; 0 = 64 KiB */
  size_t high_water_mark;   /* 0 = 64 KiB on both sides */
  int threads;      /* gzip: parallel block compressors; 0 = auto */
  size_t block_size;/* gzip: input bytes per gzip member; 0 = 1 MiB */
} sl_zlib_opts_t;
/* NULL on ENOMEM. Corrupt input is an SL_EV_ERROR with SL_EZDATA. */
SL_EXTERN sl_stream_t* sl_gzip(const sl_zlib_opts_t* o);
SL_EXTERN sl_stream_t* sl_gunzip(const sl_zlib_opts_t* o);
SL_EXTERN sl_stream_t* sl_deflate(const sl_zlib_opts_t* o);
SL_EXTERN sl_stream_t* sl_inflate(const sl_zlib_opts_t* o);

/* A Transform from bytes to lines: each output chunk is one line without its
 * "\n" (and without a "\r" before it), in object mode. A last line without a
 * newline is delivered at the end. A line longer than max_line bytes is an
 * SL_EV_ERROR with SL_E2BIG (0 = 1 MiB). */
typedef struct sl_lines_opts_s {
  size_t max_line;
  size_t high_water_mark; /* lines; 0 = 16 */
} sl_lines_opts_t;
SL_EXTERN sl_stream_t* sl_line_splitter(const sl_lines_opts_t* o);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_H */
