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

/* The library's version at run time, as libuv's uv_version():
 * (major << 16) | (minor << 8) | patch, and "major.minor.patch". A program
 * can compare them with the SL_VERSION_* it was compiled against. */
SL_EXTERN unsigned sl_version(void);
SL_EXTERN const char* sl_version_string(void);
/* The libraries underneath, for bug reports: "libuv 1.44.2, zlib 1.2.13,
 * libdeflate 1.14, isa-l 2.30.0, llhttp 8.1.0" (libuv and zlib as loaded
 * at run time). A static string. */
SL_EXTERN const char* sl_version_deps(void);

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
  X(EPROTO, -EPROTO)                                                        \
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
  X(EFULL, -6012, "queue full")                                            \
  X(ECMDFAILED, -6013, "command failed")

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
 * directory"): sluice's own codes, the SL_E* table and any code libuv knows
 * (UV_EAI_*). Unknown codes (0 included) give "unknown error". Never NULL. */
SL_EXTERN const char* sl_strerror(int err);
/* Returns the static symbolic name of `err` ("ENOENT", "EWRITEAFTEREND"),
 * or "UNKNOWN". */
SL_EXTERN const char* sl_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Loop                                                                      */

/* Must be the first call in main(). Sets SIGPIPE to ignored (as Node does: a
 * write to a closed peer is SL_EPIPE) and records argv. In a process started
 * by sl_fork_entry() it runs the named entry instead and exits with its
 * return value, so it does not return there. Returns 0. */
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
 * SL_EBUSY when something (a stream, a timer, a socket, a deferred call, a
 * request on the thread pool) is still open: the check the test harness uses
 * to prove a test left nothing behind. SL_EBUSY changes nothing: stop what
 * is open (handles already closing do not count) and call it again. */
SL_EXTERN int sl_loop_close(void);

typedef void (*sl_defer_cb)(void* arg);
/* Runs cb(arg) from the loop, after the current callback returns and before
 * the loop polls for I/O (Node's process.nextTick): in the order deferred;
 * calls deferred before sl_run() go before any timer, and one deferred in a
 * timer callback before the next timer callback. Returns 0 or SL_ENOMEM. */
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

typedef void (*sl_signal_cb)(int signum, void* arg);
/* Watches signal `signum`: the handler only records it and cb(signum, arg)
 * runs from the loop (never inside raise() or kill()), once per delivery
 * (deliveries that arrive together may be coalesced by the kernel). The
 * watch does not keep the loop alive, but sl_loop_close() counts it until
 * sl_signal_off(). Several watches of one signal all run, in no set order.
 * Returns 0, SL_EINVAL (NULL cb, bad or uncatchable signal) or SL_ENOMEM. */
SL_EXTERN int sl_signal_on(int signum, sl_signal_cb cb, void* arg);
/* Removes the first watch equal to (signum, cb, arg); safe inside its own
 * callback, which does not run again. Once the last watch of a signal is
 * gone its default action is back. Returns 0 or SL_ENOENT. */
SL_EXTERN int sl_signal_off(int signum, sl_signal_cb cb, void* arg);

/* Monotonic milliseconds and nanoseconds (CLOCK_MONOTONIC). */
SL_EXTERN uint64_t sl_now_ms(void);
SL_EXTERN uint64_t sl_hrtime(void);
/* Peak resident set size of this process in bytes (from getrusage). */
SL_EXTERN uint64_t sl_peak_rss(void);
/* Resident set size now, in bytes (Node's process.memoryUsage().rss; from
 * /proc/self/statm); 0 when it cannot be read. */
SL_EXTERN uint64_t sl_rss(void);

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
/* 1 when the caller's reference is the only way to reach c's bytes (one
 * reference, storage not shared with another slice, not caller memory
 * without a free callback), so the bytes may be changed in place: a
 * Transform can modify the chunk it was given and push it on, with no copy.
 * 0 otherwise. */
SL_EXTERN int sl_chunk_exclusive(const sl_chunk_t* c);
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
SL_EXTERN int sl_stream_finished_(const sl_stream_t* s);
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
SL_EXTERN int sl_stream_write(sl_stream_t* s, sl_chunk_t* chunk,
                              sl_done_cb cb, void* arg);
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
  int no_end;        /* 1: do not end `dst` when `src` ends */
  int no_zero_copy;  /* 1: always move chunks, never descriptors */
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

/* err: 0, or the first error. stage: index of the stage whose error it was
 * (-1 when none). message: that stage's message ("EPREMATURECLOSE: premature
 * close" for a stage destroyed without an error; NULL when err is 0). */
typedef void (*sl_pipeline_cb)(int err, int stage, const char* message,
                               void* arg);
/* Pipes stages[0] -> stages[1] -> ... -> stages[n-1]. On the first error in
 * any stage, destroys every stage that has not finished (without an error of
 * their own) and calls `cb` with that root-cause error and its stage index.
 * `cb` runs exactly once, from the loop, after the last stage finished (or
 * after every stage closed on error), and before the pipeline drops its
 * references: every stage is still valid inside `cb` (its stats, name,
 * error; destroying it is a no-op). Returns 0, or SL_EINVAL for fewer
 * than 2 stages, a NULL stage (a failed constructor) or a NULL `stages`,
 * in which case every given stage is destroyed and `cb` still runs once,
 * later, with SL_EINVAL; or SL_EINVAL for a NULL `cb` (the stages are
 * destroyed, nothing is called). */
SL_EXTERN int sl_pipelinev(sl_stream_t** stages, size_t n, sl_pipeline_cb cb,
                           void* arg);
/* sl_pipelinev() over a NULL-terminated list of any number of stages
 * (above 64 the list is copied to the heap; on ENOMEM every stage is
 * destroyed and `cb` gets SL_EINVAL). A constructor that
 * failed cannot be told from the terminator: check them when it matters. */
SL_EXTERN int sl_pipeline(sl_pipeline_cb cb, void* arg, ...);
/* Calls cb(s, err) once when `s` is done: err 0 when the readable side ended
 * and the writable side finished, the stream's error, or
 * SL_EPREMATURECLOSE if it closed before. Runs from the loop. Returns 0, or
 * SL_ENOMEM (cb then does not run). */
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
  int strict_end;   /* reader with `end`: a file that ends before `end` (it
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
  int backlog;          /* 0 = 511 */
  int reuseport;        /* SO_REUSEPORT before bind */
  int exclusive;        /* in a cluster worker: a listener of this worker
                           alone, not the cluster's (Node's exclusive) */
  sl_tcp_opts_t conn;   /* options for accepted sockets */
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
SL_EXTERN void sl_tcp_server_close(sl_tcp_server_t* srv,
                                   void (*cb)(void* arg), void* arg);

/* Compression Transforms (zlib formats). A zeroed struct means the
 * defaults; a value outside its range makes the constructor return a stream
 * that fails, from the loop, with SL_EINVAL and a message naming the option
 * and its range ("EINVAL: invalid argument, gzip: level 12 is out of range
 * (1-9, 0 = default 6)"), never an assertion. */
typedef struct sl_zlib_opts_s {
  int level;        /* 1..9; 0 = 6 (the default) */
  size_t chunk_size;/* output chunk size, 1..UINT32_MAX; 0 = 64 KiB */
  size_t high_water_mark;   /* 0 = 64 KiB on both sides */
  int threads;      /* gzip: blocks in flight for this stream, 1..64; 0 =
                       auto: min(max(CPUs, 2), libuv's pool threads, 4) */
  size_t block_size;/* gzip: input bytes per parallel block, 1 KiB..64 MiB;
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

/* ------------------------------------------------------------------------ */
/* Child processes (manual chapter 4)                                        */
/*                                                                           */
/* A child is owned by the library like a stream: it emits exactly one       */
/* SL_CHILD_CLOSE, last, and is freed once its close listeners returned,     */
/* unless sl_child_ref() is held. Every child runs in its own process group  */
/* (unless detached, then its own session); kill_tree and timeouts signal    */
/* the whole group. Every descriptor sluice opens is close-on-exec: a child  */
/* sees only its stdio and its IPC channel. Every child is reaped once.      */

typedef struct sl_child_s sl_child_t;
typedef struct sl_channel_s sl_channel_t;

typedef enum {
  SL_STDIO_PIPE = 0, /* a pipe, exposed as a stream (the default) */
  SL_STDIO_INHERIT,  /* the parent's own descriptor 0, 1 or 2 */
  SL_STDIO_IGNORE,   /* /dev/null */
  SL_STDIO_FD        /* the descriptor in .fd (not closed by sluice) */
} sl_stdio_kind_t;

typedef struct sl_stdio_s {
  sl_stdio_kind_t kind;
  int fd;
} sl_stdio_t;

typedef enum {
  SL_ENV_INHERIT = 0, /* the parent's environment (env ignored) ... */
  SL_ENV_ADD,         /* ... plus env, whose entries override */
  SL_ENV_REPLACE      /* only env */
} sl_env_mode_t;

typedef enum { SL_IPC_JSON = 0, SL_IPC_BINARY = 1 } sl_ipc_mode_t;

typedef struct sl_spawn_opts_s {
  const char* const* env;   /* "NAME=value" strings, NULL-terminated */
  sl_env_mode_t env_mode;
  const char* cwd;          /* NULL: the parent's */
  sl_stdio_t stdio[3];      /* zeroed: three pipes, as in Node */
  int detached;             /* a new session (setsid) */
  int set_uid, set_gid;     /* with uid / gid */
  uid_t uid;
  gid_t gid;
  uint64_t timeout_ms;      /* 0: none. At the deadline kill_signal goes to
                               the child's whole process group */
  int kill_signal;          /* 0: SIGTERM */
  uint64_t kill_grace_ms;   /* then SIGKILL to the group; 0: 2000 */
  uint64_t close_drain_ms;  /* after exit, close waits at most this long for
                               stdio EOF (a grandchild may hold the pipes);
                               0: 1000 */
  int ipc;                  /* add an IPC channel (sl_fork does) */
  sl_ipc_mode_t serialization;
  size_t max_message;       /* IPC: largest message; 0: 16 MiB */
  size_t send_high_water_mark; /* IPC send queue mark, bytes; 0: 1 MiB */
  size_t high_water_mark;   /* stdio pipe streams; 0: 64 KiB */
} sl_spawn_opts_t;

typedef enum {
  SL_CHILD_SPAWN = 0, /* the process started */
  SL_CHILD_ERROR,     /* ev->err, ev->message: could not spawn, or kill
                         failed; at most once */
  SL_CHILD_EXIT,      /* ev->exit_code or ev->term_signal */
  SL_CHILD_CLOSE,     /* after exit and stdio EOF (or the drain deadline:
                         ev->drain_timeout), and after disconnect; last */
  SL_CHILD_DISCONNECT,/* the IPC channel closed */
  SL_CHILD_MESSAGE,   /* ev->msg, from the child's IPC channel */
  SL_CHILD_DRAIN,     /* the IPC send queue emptied after a send that
                         returned 0 */
  SL_CHILD_EV_MAX_
} sl_child_event_type_t;

/* One IPC message: JSON text (json mode, without the newline) or bytes
 * (binary mode), valid during the callback; data[len] is a NUL. `fd` is a
 * descriptor that came with it (-1 if none), close-on-exec; the receiver
 * owns it and must close it. */
typedef struct sl_message_s {
  const char* data;
  size_t len;
  int fd;
} sl_message_t;

typedef struct sl_child_event_s {
  sl_child_event_type_t type;
  int err;              /* SL_CHILD_ERROR */
  const char* message;  /* SL_CHILD_ERROR: "ENOENT: no such file or
                           directory, spawn nosuch" */
  int exit_code;        /* SL_CHILD_EXIT / CLOSE: -1 when signalled */
  int term_signal;      /* SL_CHILD_EXIT / CLOSE: 0 when exited */
  int timed_out;        /* SL_CHILD_EXIT / CLOSE: killed by timeout_ms */
  int drain_timeout;    /* SL_CHILD_CLOSE: stdio still open at the deadline */
  const sl_message_t* msg; /* SL_CHILD_MESSAGE */
} sl_child_event_t;

typedef void (*sl_child_cb)(sl_child_t* c, const sl_child_event_t* ev,
                            void* arg);

/* Starts `file` with `argv` (argv[0] first; NULL means {file, NULL}); a
 * `file` without '/' is searched in the parent's PATH. Returns 0 and the
 * child in *out; SL_CHILD_SPAWN or SL_CHILD_ERROR (ENOENT, EACCES, EAGAIN,
 * EMFILE...; message "ENOENT: no such file or directory, spawn FILE")
 * follows from the loop, then SL_CHILD_EXIT (not after an error) and
 * SL_CHILD_CLOSE. A child that could not start still has a stream for
 * each piped slot, as in Node: each fails with the same error and message
 * (SL_EV_ERROR, then SL_EV_CLOSE, from the loop), so a pipe or pipeline
 * into or out of it reports the spawn error; SL_CHILD_CLOSE follows them.
 * Returns a negative code only for invalid options or
 * ENOMEM (no child then). With o->ipc set it is sl_fork(). Spawning uses
 * posix_spawn (no copy of the parent's address space, so its cost does not
 * grow with the parent's memory), except with set_uid/set_gid, which need a
 * plain fork. At the exit, stdin is destroyed and output nobody reads is
 * drained (as Node does), so close follows once the pipes reach EOF. */
SL_EXTERN int sl_spawn(const char* file, const char* const* argv,
                       const sl_spawn_opts_t* o, sl_child_t** out);
/* Listeners, as for streams. Returns 0, SL_ENOMEM or SL_EDESTROYED. */
SL_EXTERN int sl_child_on(sl_child_t* c, sl_child_event_type_t type,
                          sl_child_cb cb, void* arg);
SL_EXTERN int sl_child_off(sl_child_t* c, sl_child_event_type_t type,
                           sl_child_cb cb, void* arg);
/* The child's pid (also its process group id); 0 if it never started. */
SL_EXTERN pid_t sl_child_pid(const sl_child_t* c);
/* The child's piped stdio as streams (NULL when that slot is not a pipe,
 * or on ENOMEM; a child that failed to start has failed streams, not NULL).
 * stdin is a Writable, stdout and stderr are Readables, with the usual
 * backpressure: a child writing faster than the parent reads is paused by
 * the pipe, not buffered in the parent. */
SL_EXTERN sl_stream_t* sl_child_stdin(const sl_child_t* c);
SL_EXTERN sl_stream_t* sl_child_stdout(const sl_child_t* c);
SL_EXTERN sl_stream_t* sl_child_stderr(const sl_child_t* c);
/* Sends `sig` (0: SIGTERM) to the child only / to its whole process group.
 * Returns 0, SL_ESRCH once it has been reaped, or SL_EINVAL. kill_tree
 * still reaches the group after the child exited (a grandchild may hold
 * it), until the child is freed; SL_ESRCH once the group is empty. Neither
 * emits anything by itself: SL_CHILD_EXIT follows from the loop. */
SL_EXTERN int sl_child_kill(sl_child_t* c, int sig);
SL_EXTERN int sl_child_kill_tree(sl_child_t* c, int sig);
/* The child's IPC channel (NULL without ipc). */
SL_EXTERN sl_channel_t* sl_child_channel(const sl_child_t* c);
/* sl_channel_send() on the child's channel. */
SL_EXTERN int sl_child_send(sl_child_t* c, const char* data, size_t len,
                            int fd);
SL_EXTERN void sl_child_ref(sl_child_t* c);
SL_EXTERN void sl_child_unref(sl_child_t* c);

/* exec / execFile: run to completion and collect stdout and stderr, up to
 * max_buffer bytes each (0: 1 MiB, as in Node); past it the child is killed
 * and err is SL_EMAXBUFFER with what was collected so far. */
typedef struct sl_exec_opts_s {
  sl_spawn_opts_t spawn;  /* stdio is forced: stdin reads /dev/null,
                             stdout and stderr are pipes */
  size_t max_buffer;
  const char* shell;      /* sl_exec: 0 = "/bin/sh" */
} sl_exec_opts_t;

typedef struct sl_exec_result_s {
  int exit_code;          /* -1 when signalled or not started */
  int term_signal;
  int timed_out;
  char* out;              /* NUL-terminated; owned by the result */
  size_t out_len;
  char* err;
  size_t err_len;
  char* message;          /* when err != 0: "Command failed: ls x\n..." */
} sl_exec_result_t;

/* err: 0 when the child exited with code 0; SL_ECMDFAILED for a non-zero
 * exit code or a signal (see r->exit_code, r->term_signal); SL_ETIMEDOUT
 * after timeout_ms; SL_EMAXBUFFER (message "stdout maxBuffer length
 * exceeded"; r->out holds the first max_buffer bytes; the group was
 * killed); or the spawn error (SL_ENOENT..., with its message). r->out and
 * r->err are never NULL. `r` and its buffers are valid during the callback
 * only. */
typedef void (*sl_exec_cb)(int err, const sl_exec_result_t* r, void* arg);
/* Runs `command` through `/bin/sh -c`. Returns 0 (cb runs later from the
 * loop, exactly once) or a negative code for invalid options / ENOMEM (cb
 * does not run). */
SL_EXTERN int sl_exec(const char* command, const sl_exec_opts_t* o,
                      sl_exec_cb cb, void* arg);
/* Runs `file` with `argv` without a shell: metacharacters in argv are inert. */
SL_EXTERN int sl_exec_file(const char* file, const char* const* argv,
                           const sl_exec_opts_t* o, sl_exec_cb cb, void* arg);
/* Synchronous variants, for simple programs: block until the child is done
 * (no loop needed: poll() on the pipes and a pidfd). Return the err of the
 * callback forms and fill *r (always; free it with sl_exec_result_free()).
 * sl_spawn_sync() is Node's spawnSync: o->spawn.stdio is honoured (a piped
 * stdin reads /dev/null), and a non-zero exit or a signal is not an error,
 * only r->exit_code / r->term_signal. */
SL_EXTERN int sl_exec_sync(const char* command, const sl_exec_opts_t* o,
                           sl_exec_result_t* r);
SL_EXTERN int sl_exec_file_sync(const char* file, const char* const* argv,
                                const sl_exec_opts_t* o, sl_exec_result_t* r);
SL_EXTERN int sl_spawn_sync(const char* file, const char* const* argv,
                            const sl_exec_opts_t* o, sl_exec_result_t* r);
SL_EXTERN void sl_exec_result_free(sl_exec_result_t* r);

/* fork: spawn with an IPC channel whose child end is announced in
 * NODE_CHANNEL_FD (and NODE_CHANNEL_SERIALIZATION_MODE=json), so the child
 * may be a Node.js script run by `node` or any program that speaks the
 * channel. `file`/`argv` as for sl_spawn (for a Node script: "node",
 * {"node", "script.js", NULL}). With `o` NULL the child inherits stdio, as
 * Node's fork() does; with `o`, stdio is as given (zeroed: pipes, which the
 * caller must read). Binary mode adds SLUICE_CHANNEL_MODE=binary, a
 * max_message adds SLUICE_CHANNEL_MAX_MESSAGE; sl_parent() reads both.
 * Returns as sl_spawn(). */
SL_EXTERN int sl_fork(const char* file, const char* const* argv,
                      const sl_spawn_opts_t* o, sl_child_t** out);

/* Named entries of this program: sl_fork_entry() re-executes this binary
 * (/proc/self/exe) with SLUICE_FORK_ENTRY=name; sl_init() at the top of main
 * then runs the entry instead of main (with the variable removed from the
 * environment) and exit()s with its return value. The running loop is never
 * forked. SL_ENTRY(name) { ... } defines and registers an entry before main
 * runs. sl_entry_register returns 0, SL_EEXIST or SL_ENOMEM (64 at most).
 * sl_fork_entry: `argv` NULL means this process's own argv as given to
 * sl_init(); returns as sl_fork(), SL_ENOENT for an unregistered name, or
 * SL_EINVAL when sl_init() was not called in this process (the child could
 * not dispatch and would run main() again). */
typedef int (*sl_entry_fn)(int argc, char** argv);
SL_EXTERN int sl_entry_register(const char* name, sl_entry_fn fn);
SL_EXTERN int sl_fork_entry(const char* name, const char* const* argv,
                            const sl_spawn_opts_t* o, sl_child_t** out);
#define SL_ENTRY(name)                                                       \
  static int sl_entry_##name(int argc, char** argv);                        \
  __attribute__((constructor)) static void sl_entry_reg_##name(void) {      \
    sl_entry_register(#name, sl_entry_##name);                              \
  }                                                                         \
  static int sl_entry_##name(int argc, char** argv)

/* IPC channels (both ends). Events reuse sl_child_event_t types:
 * SL_CHILD_MESSAGE, SL_CHILD_DRAIN, SL_CHILD_DISCONNECT, SL_CHILD_ERROR
 * (malformed input from the peer: the channel closes, the process lives;
 * err is SL_EINVAL for a line that is not JSON, SL_EMSGSIZE for a message
 * over max_message, SL_EUNEXPECTEDEOF for a message cut off by the peer's
 * close; DISCONNECT follows). Internal Node messages ("cmd": "NODE_...")
 * are never delivered. Binary mode frames are a 4-byte big-endian length
 * (top bit: a descriptor came with the frame) and the payload. */
typedef void (*sl_channel_cb)(sl_channel_t* ch, const sl_child_event_t* ev,
                              void* arg);
SL_EXTERN int sl_channel_on(sl_channel_t* ch, sl_child_event_type_t type,
                            sl_channel_cb cb, void* arg);
SL_EXTERN int sl_channel_off(sl_channel_t* ch, sl_child_event_type_t type,
                             sl_channel_cb cb, void* arg);
/* Queues a message: JSON text in json mode (one value, no raw newline), any
 * bytes in binary mode, with `fd` (-1: none) passed by SCM_RIGHTS (sluice
 * duplicates it; the caller keeps its own). Returns 1 while below the send
 * mark, 0 at or above it (wait for SL_CHILD_DRAIN; the message is queued),
 * SL_EIPCCLOSED after disconnect, SL_EMSGSIZE over max_message, SL_EINVAL
 * when json-mode text is not exactly one JSON value (a raw newline
 * included), or the dup() error for `fd` (SL_EBADF). Nothing is written
 * inside the call; messages sent in one callback go out together. In json
 * mode a message with a descriptor is Node's NODE_HANDLE message (type
 * net.Socket, net.Server or net.Native) and later messages wait for the
 * peer's NODE_HANDLE_ACK, as in Node. */
SL_EXTERN int sl_channel_send(sl_channel_t* ch, const char* data, size_t len,
                              int fd);
/* Closes the channel after the queued messages are sent; both ends see
 * SL_CHILD_DISCONNECT (from the loop). Messages that arrive after the call
 * are not delivered, as in Node. A peer that closes, exits or resets is a
 * DISCONNECT without an ERROR. */
SL_EXTERN void sl_channel_disconnect(sl_channel_t* ch);
SL_EXTERN int sl_channel_connected(const sl_channel_t* ch);
/* In a child started by sl_fork / Node's fork(): the channel to the parent,
 * opened from NODE_CHANNEL_FD on first use (the channel variables are then
 * removed from the environment, as Node does); the same channel on later
 * calls. NULL when there is none, or when the parent asked for Node's
 * "advanced" serialization. While open it keeps the loop alive, so sl_run()
 * returns once the parent disconnects or dies. */
SL_EXTERN sl_channel_t* sl_parent(void);

/* Small JSON helpers for IPC messages: find the value of `key` at the top
 * level of the object in json[0..len). Return 0, SL_ENOENT when absent, or
 * SL_EINVAL when the text is not an object or the value has another type. */
SL_EXTERN int sl_json_get_number(const char* json, size_t len,
                                 const char* key, double* out);
SL_EXTERN int sl_json_get_int(const char* json, size_t len, const char* key,
                              int64_t* out);
/* Copies the unescaped string value into out[0..cap) (NUL-terminated);
 * SL_ENOBUFS when it does not fit. */
SL_EXTERN int sl_json_get_string(const char* json, size_t len,
                                 const char* key, char* out, size_t cap);

/* Worker pool (manual 4.10 exercise 3): N forked workers running a named
 * entry (or an executable), a bounded queue, dispatch to an idle worker,
 * per-task timeout that kills and replaces the worker, a crash that fails
 * only the task it held. A task is one IPC message; its result is the
 * worker's next message. */
typedef struct sl_pool_s sl_pool_t;
typedef struct sl_pool_opts_s {
  int workers;              /* 0: the number of CPUs */
  size_t queue_max;         /* tasks waiting; 0: 1024 */
  uint64_t task_timeout_ms; /* 0: none */
  const char* entry;        /* a SL_ENTRY name ... */
  const char* file;         /* ... or an executable, with argv */
  const char* const* argv;
  sl_ipc_mode_t serialization;
  /* The pool gave up on its workers (each slot's worker died at its start,
   * before a task, 4 times in a row): err is the spawn error (SL_ENOENT,
   * SL_EACCES) or SL_ECHILD, message names the program and the last exit
   * status. Runs once, from the loop. NULL: the message goes to stderr. */
  void (*on_error)(int err, const char* message, void* arg);
  void* on_error_arg;
} sl_pool_opts_t;
typedef struct sl_pool_stats_s {
  size_t workers, idle, queued;
  uint64_t submitted, completed, failed, timed_out, crashed, replaced;
  uint64_t wait_ns_total, run_ns_total; /* summed over completed tasks */
  int gave_up;                          /* see on_error */
} sl_pool_stats_t;
/* err 0 and the result message, or SL_ETIMEDOUT, SL_ECHILD (the worker
 * died), SL_ECANCELED (pool closed). Runs from the loop. */
typedef void (*sl_task_cb)(int err, const sl_message_t* result, void* arg);
/* Starts the workers. Returns 0 and the pool in *out; SL_EINVAL for bad
 * options (NULL, neither or both of entry and file, workers < 0 or above
 * 1024, an unknown serialization); SL_ENOENT or SL_EACCES when `file`
 * cannot be executed (searched in PATH as execvp does) or `entry` is not
 * registered; SL_ENOMEM. Each error also prints a line naming the option
 * or the program on stderr; *out is then untouched. */
SL_EXTERN int sl_pool_new(const sl_pool_opts_t* o, sl_pool_t** out);
/* Copies `data`. Returns 0 (cb runs later, exactly once), SL_EFULL when
 * queue_max tasks wait (a task handed straight to an idle worker does not
 * wait), SL_EINVAL after close, for a NULL cb or for invalid JSON in json
 * mode, SL_ECHILD once the pool gave up (see on_error; the tasks waiting
 * then fail with SL_ECHILD too). Workers inherit stdio; a worker that
 * exits on its own is replaced (counted in crashed): at once if it had
 * run a while, after a delay doubling from 100 ms up to 5 s if it died
 * within 1 s of its start without finishing a task. */
SL_EXTERN int sl_pool_submit(sl_pool_t* p, const char* data, size_t len,
                             sl_task_cb cb, void* arg);
SL_EXTERN void sl_pool_stats(const sl_pool_t* p, sl_pool_stats_t* out);
/* Stops the pool: with cancel, queued tasks fail with SL_ECANCELED (from
 * the loop), otherwise they run first; running tasks finish either way.
 * Then the workers are disconnected (SIGKILL to their groups after 2 s if
 * they linger), and once all are gone the pool is freed and cb (may be
 * NULL) runs. `p` is invalid from then on. */
SL_EXTERN void sl_pool_close(sl_pool_t* p, int cancel, void (*cb)(void*),
                             void* arg);

/* ------------------------------------------------------------------------ */
/* HTTP/1.1 (llhttp underneath)                                              */
/*                                                                           */
/* A request is a Readable stream (its body) with accessors for the request  */
/* line and headers; a response is a Writable stream (its body) with setters */
/* for status and headers, sent with the first write or end. Both are        */
/* ordinary sl_stream_t, so pipe and pipeline work on them:                  */
/*   sl_stream_pipe(sl_file_reader("video.mp4", NULL), res, NULL);           */

typedef struct sl_http_server_s sl_http_server_t;

/* Called for each request, from the loop, once its head is parsed. `req`
 * and `res` are owned by the library like any stream; the handler may answer
 * now or later. Responses leave in request order (pipelining): a later
 * response's writes wait until the earlier ones finished. The handler's
 * first read of `req` sends "100 Continue" to a client that asked for it. A
 * body nobody reads is discarded once the response has finished (Node's
 * dump). Destroying `res` before it finished closes the connection. */
typedef void (*sl_http_handler)(sl_stream_t* req, sl_stream_t* res,
                                void* arg);

typedef struct sl_http_server_opts_s {
  const char* host;              /* NULL: "127.0.0.1" */
  int port;                      /* 0: any free port (sl_http_server_port) */
  int backlog;                   /* 0: 511 */
  int reuseport;                 /* SO_REUSEPORT before bind */
  int exclusive;                 /* in a cluster worker: a listener of this
                                    worker alone, not the cluster's */
  size_t max_header_size;        /* request line + headers; 0: 16 KiB -> 431 */
  uint64_t max_body_size;        /* 0: no limit; past it 413 */
  uint64_t headers_timeout_ms;   /* to receive the headers; 0: 10000 -> 408 */
  uint64_t keep_alive_timeout_ms;/* idle keep-alive; 0: 5000 */
  uint64_t body_timeout_ms;      /* no request body byte for this long while
                                    one is due (and the handler reads): 408
                                    and close; 0: 60000 (nginx's
                                    client_body_timeout); UINT64_MAX: none */
  uint64_t send_timeout_ms;      /* a response the client does not read:
                                    no byte taken for this long while some
                                    wait: close; 0: 60000 (nginx's
                                    send_timeout); UINT64_MAX: none */
  size_t max_connections;        /* 0: 10000; at the limit the server stops
                                    accepting (more wait in the backlog)
                                    until one closes */
  size_t max_pipelined;          /* requests in flight per connection (parsed
                                    and not yet answered); past it the socket
                                    is not read; 0: 16 */
  size_t high_water_mark;        /* body streams; 0: 64 KiB. The parser and
                                    the socket pause while a request body is
                                    above it */
  int access_log;                /* 1: one line per request, written
                                    without blocking the loop (a reader that
                                    falls 256 KiB behind loses lines, which
                                    are counted and the count logged) */
  int access_log_format;         /* SL_ACCESS_LOG_SLUICE (0): 127.0.0.1:5000
                                    "GET /p HTTP/1.1" 200 12 0.153ms (status,
                                    body bytes, time), "aborted: why" after
                                    a response the connection cut short;
                                    SL_ACCESS_LOG_COMBINED: Apache/nginx
                                    combined, which goaccess, awstats and
                                    fail2ban read; SL_ACCESS_LOG_JSON: one
                                    object per line (time, remote, method,
                                    url, version, status, bytes, ms, referer,
                                    user_agent, aborted) */
  const char* trusted_proxies;   /* NULL: none. Comma-separated addresses
                                    and CIDRs ("10.0.0.0/8, ::1", at most
                                    32) of proxies whose X-Forwarded-For
                                    names the client: the log shows the
                                    right-most address no trusted proxy
                                    vouches past (nginx's real_ip with
                                    real_ip_recursive). A bad list makes
                                    sl_http_listen() return SL_EINVAL */
  const char* access_log_path;   /* NULL: stderr; else a file, opened
                                    O_APPEND|O_CREAT (0644) and opened afresh
                                    by sl_http_access_log_reopen() */
  int unmetered;                 /* 1: its requests and connections are
                                    left out of the load figures
                                    (sl_load_self, load reports): an admin
                                    or metrics server's own traffic */
} sl_http_server_opts_t;
enum {
  SL_ACCESS_LOG_SLUICE = 0,
  SL_ACCESS_LOG_COMBINED = 1,
  SL_ACCESS_LOG_JSON = 2
};

/* Ends every access log file (what is queued is written first) and opens
 * its path again: after logrotate renamed it, the new lines go to a new
 * file. Call it from a SIGUSR1 handler (sl_signal_on), as nginx does.
 * stderr is left alone. Returns 0, or SL_ENOMEM (that log then drops its
 * lines until the next reopen). */
SL_EXTERN int sl_http_access_log_reopen(void);

/* Listens and serves. `o` may be NULL (127.0.0.1, any port); host is a
 * numeric IPv4/IPv6 address or "localhost". Returns 0 and the server in *out,
 * or a negative code (SL_EADDRINUSE, SL_EINVAL ...) with *out NULL.
 * `handler` runs from the loop for each request. A request the parser or
 * the checks reject (malformed, request smuggling: bare CR/LF in a value,
 * obs-fold, Content-Length with Transfer-Encoding, a last coding other than
 * chunked, conflicting Content-Length; RFC 9112: a header name that is empty
 * or not a token, whitespace or control bytes in the target, an HTTP/1.1
 * request without exactly one Host, a Host that is not host[:port]) gets
 * 400, a major version other than 1 gets 505, and the limits 431, 413 and
 * 408, each with Connection: close, after the responses before it. With an
 * absolute-form target ("GET http://a:1/p") the Host the handler reads is
 * the target's authority ("a:1"), as RFC 9112 3.2.2 says. */
SL_EXTERN int sl_http_listen(const sl_http_server_opts_t* o,
                             sl_http_handler handler, void* arg,
                             sl_http_server_t** out);
SL_EXTERN int sl_http_server_port(const sl_http_server_t* srv);
/* Graceful close: stops accepting (connections already waiting in the
 * listener's accept queue are taken and served, not reset), closes idle
 * keep-alive connections at once, answers in-flight requests with
 * Connection: close, lets them finish, then calls cb (may be NULL) from the
 * loop and frees the server. In a cluster worker the primary stops sending
 * it connections first. */
SL_EXTERN void sl_http_server_close(sl_http_server_t* srv,
                                    void (*cb)(void* arg), void* arg);

/* Request accessors (server side `req`). Strings live as long as `req`. */
SL_EXTERN const char* sl_http_method(const sl_stream_t* req);
SL_EXTERN const char* sl_http_url(const sl_stream_t* req); /* raw target */
/* Percent-decoded path without the query ("%00" stays encoded). */
SL_EXTERN const char* sl_http_path(const sl_stream_t* req);
SL_EXTERN int sl_http_version_minor(const sl_stream_t* req); /* 0 or 1 */
/* The value of header `name` (case-insensitive), or NULL. Repeated headers
 * are joined with ", " as in Node. Works on requests and client responses. */
SL_EXTERN const char* sl_http_header(const sl_stream_t* msg, const char* name);
/* The i-th header (raw order); returns 0 or SL_ENOENT past the end. */
SL_EXTERN int sl_http_header_at(const sl_stream_t* msg, size_t i,
                                const char** name, const char** value);
SL_EXTERN const char* sl_http_remote(const sl_stream_t* req); /* "ip:port" */

/* Response (server side `res`). Status and headers leave with the first
 * write or at end. The body is framed by the Content-Length set here, or,
 * when the whole body is the chunk given to end() with nothing written
 * before, by its length (as Node does); otherwise chunked, or for an
 * HTTP/1.0 client delimited by closing the connection. HEAD, 1xx, 204 and
 * 304 send no body (writes are accepted and dropped). Date and Connection
 * are added unless set. With Content-Length set and nothing in between,
 * sl_stream_pipe(file_reader, res) sends the file with sendfile(2).
 * Until the head is sent; returns 0, SL_EINVAL (not 100..999) or SL_EBUSY. */
SL_EXTERN int sl_http_set_status(sl_stream_t* res, int status);
/* Sets (replaces) a header; Content-Length set here disables chunking.
 * Returns 0, SL_EINVAL for CR/LF in name or value, or SL_EBUSY after the
 * head was sent. */
SL_EXTERN int sl_http_set_header(sl_stream_t* res, const char* name,
                                 const char* value);
SL_EXTERN int sl_http_add_header(sl_stream_t* res, const char* name,
                                 const char* value);
/* Trailers, sent after a chunked body (dropped otherwise). Returns 0,
 * SL_EINVAL for CR/LF, SL_EBUSY once the body has ended. */
SL_EXTERN int sl_http_add_trailer(sl_stream_t* res, const char* name,
                                  const char* value);
SL_EXTERN int sl_http_headers_sent(const sl_stream_t* res);
/* Shorthand: status, Content-Type (may be NULL), Content-Length and the
 * whole body (copied), then end. Returns 0 or the first error (SL_EBUSY when
 * the head was sent, SL_EWRITEAFTEREND after end). */
SL_EXTERN int sl_http_respond(sl_stream_t* res, int status,
                              const char* content_type, const void* body,
                              size_t len);

/* Client. The request is a Writable (its body: end it, even when empty);
 * the response arrives as a Readable with status and headers
 * (sl_http_status, sl_http_header, sl_http_header_at). Bodies: fixed-length,
 * chunked or delimited by the server's close; HEAD, 1xx (skipped), 204 and
 * 304 have none. While the response body is above high_water_mark the
 * parser pauses and the socket stops reading (backpressure to the server). */
typedef struct sl_http_agent_s sl_http_agent_t;
typedef struct sl_http_request_opts_s {
  const char* method;          /* NULL: "GET" */
  const char* url;             /* "http://host[:port]/path?query" (http only) */
  /* "Name: value" strings, NULL-terminated, sent as given (copied). Host is
   * added unless given, and Connection: keep-alive unless a Connection
   * header is given ("close" keeps the socket out of the pool). The body
   * is sent chunked unless Content-Length (or Transfer-Encoding) is given;
   * a request ended with no body sends no framing for GET, HEAD, DELETE,
   * OPTIONS, TRACE and CONNECT, and Content-Length: 0 for others. */
  const char* const* headers;
  sl_http_agent_t* agent;      /* keep-alive pool; NULL: the default agent */
  /* 0: none. Otherwise no byte from the server for this long while the
   * request waits for it is SL_ETIMEDOUT (a body paused by its reader
   * does not count). */
  uint64_t timeout_ms;
  size_t high_water_mark;      /* request and response bodies; 0: 64 KiB */
} sl_http_request_opts_t;
/* Runs once, from the loop: err 0 and the response (owned by the library
 * like any stream: listen, pipe or resume it), or an error and NULL. A
 * failure after the head arrived goes to the response stream instead
 * (SL_EV_ERROR, e.g. SL_ECONNRESET "response aborted" when the server closes
 * inside a body, SL_EPROTO for a malformed body). */
typedef void (*sl_http_response_cb)(int err, sl_stream_t* res, void* arg);
/* Starts a request: a socket from the agent's pool for host:port (an idle
 * keep-alive one, a new one below max_sockets, or the next one freed). The
 * head goes out with the first write or with end. Returns the request body
 * stream, owned by the library, or NULL (cb never runs) for ENOMEM, a URL
 * that is not http://host[:port][/...], a method that is not a token, or a
 * header line without ':' or with CR/LF. Errors before the response (an
 * unreachable server, a malformed response, a hang-up, the timeout) reach
 * cb and fail the request stream with a message naming the peer:
 * "ECONNREFUSED: connection refused, connect 127.0.0.1:9",
 * "EPROTO: protocol error, HPE_INVALID_CONSTANT: Expected HTTP/, response
 * from 127.0.0.1:8080", "ECONNRESET: connection reset by peer, socket hang
 * up, 127.0.0.1:8080". The request stream finishes once the whole request
 * is written to the socket and closes once the response has been
 * delivered; destroying it earlier aborts the exchange (cb gets the error,
 * or SL_ECANCELED). A request that finds its reused keep-alive socket
 * closed by the server before any answer is sent again once on a new
 * socket when no body byte had gone out. */
SL_EXTERN sl_stream_t* sl_http_request(const sl_http_request_opts_t* o,
                                       sl_http_response_cb cb, void* arg);
/* Status code of a client response (SL_ASSERTs that `res` is an HTTP
 * message stream). */
SL_EXTERN int sl_http_status(const sl_stream_t* res);
/* A keep-alive agent: at most max_sockets per host:port (0: 8); more
 * requests wait for a socket, in order. The default agent allows 256.
 * A socket goes back to its pool when its response has been parsed to the
 * end (unless either side said Connection: close); idle sockets close after
 * 4 s, when the server closes them, and whenever nothing but idle sockets
 * would keep the loop running, so sl_run() returns once the program's own
 * work is done and sl_loop_close() finds nothing open. NULL on ENOMEM. */
SL_EXTERN sl_http_agent_t* sl_http_agent_new(size_t max_sockets);
/* Closes the agent's idle sockets now and the others when their exchange
 * ends, then frees it (NULL is ignored). Requests already started go on;
 * `a` must not be passed to sl_http_request afterwards. */
SL_EXTERN void sl_http_agent_close(sl_http_agent_t* a);

/* Static files. */
typedef struct sl_static_s sl_static_t;
typedef struct sl_static_opts_s {
  const char* root;          /* directory served */
  const char* index;         /* NULL: "index.html" */
  int no_gzip;               /* 1: never compress on the fly */
  int no_listing;            /* 1: 404 instead of a directory listing */
  int dotfiles;              /* a path segment starting with '.' (.git,
                                .env; ".well-known" excepted):
                                SL_DOTFILES_IGNORE (0): 404, not listed;
                                SL_DOTFILES_DENY: 403, not listed;
                                SL_DOTFILES_ALLOW: served and listed */
} sl_static_opts_t;
enum { SL_DOTFILES_IGNORE = 0, SL_DOTFILES_DENY = 1, SL_DOTFILES_ALLOW = 2 };
/* Resolves o->root (realpath) once. Returns the server (free it with
 * sl_static_free, after the HTTP server using it closed), or NULL with *err
 * (may be NULL) set: SL_ENOENT / SL_ENOTDIR / SL_EACCES for the root. */
SL_EXTERN sl_static_t* sl_static_new(const sl_static_opts_t* o, int* err);
SL_EXTERN void sl_static_free(sl_static_t* st);
/* Answers req (GET or HEAD; others get 405 with Allow) with the file its
 * path names under the root: MIME type from the extension, one Range (206
 * with Content-Range; unsatisfiable: 416 whose Content-Range gives the
 * size; several ranges or a failed If-Range: the whole file, 200), weak
 * ETag and Last-Modified with If-Match / If-Unmodified-Since (412) and
 * If-None-Match / If-Modified-Since (304),
 * gzip when Accept-Encoding allows it and the type is compressible (never
 * for a Range request; chunked, which a HEAD says too; Vary:
 * Accept-Encoding on every answer about such a type), sendfile(2) when
 * nothing transforms the bytes. Dotfiles as o->dotfiles says. A directory gets a
 * 301 to its slash form, then its index file, else an HTML listing (404
 * with no_listing). The path is percent-decoded once: a NUL or a bad
 * escape is 400, a ".." segment or an encoded slash (%2F) 403, a path over
 * 4096 bytes 414; a file whose real location (symlinks resolved) is
 * outside the root is 403, and is never opened (located with O_PATH);
 * missing is 404. open/fstat run on the loop
 * thread; reads (when not sendfile) on the pool. Small regular files (up
 * to 32 KiB) stay open in a bounded open-file cache, as with nginx's
 * open_file_cache: for up to about 1 s after a file was opened, answers
 * use that descriptor and its stat, so a file changed, replaced or
 * deleted on disk may be answered as it was for that long; then it is
 * opened afresh. sl_static_free closes them. Returns 0 (the response
 * is under way or sent, errors included) or a negative code, in which case
 * no head was sent: SL_EBUSY (the head already went out), SL_ENOMEM. */
SL_EXTERN int sl_static_serve(sl_static_t* st, sl_stream_t* req,
                              sl_stream_t* res);

/* ------------------------------------------------------------------------ */
/* Cluster (manual chapter 3)                                                */
/*                                                                           */
/* One program, two roles. The primary forks workers by re-executing its    */
/* own binary (/proc/self/exe, same argv) with SLUICE_WORKER_ID set, as      */
/* Node sets NODE_UNIQUE_ID, an IPC channel and a control socket; workers    */
/* run the same main (or a SL_ENTRY named in the options) and tell their     */
/* role with sl_cluster_is_primary(). A server started in a worker           */
/* (sl_http_listen, sl_tcp_listen) joins the cluster's listener for its      */
/* address, as in Node: the call asks the primary (a synchronous round trip  */
/* on the control socket), errors such as SL_EADDRINUSE come back from it,   */
/* and the primary sees LISTENING. How connections are spread is the         */
/* cluster's scheduling (sl_cluster_opts_t.sched). The primary keeps its     */
/* own copy of every listening socket, so a worker that dies or restarts     */
/* leaves its queued connections to its replacement instead of resetting     */
/* them. Internal messages are JSON objects with a "sluice_cluster" key;     */
/* they are never delivered as user messages on the primary.                 */

typedef enum {
  SL_SCHED_DEFAULT = 0, /* reuseport on Linux */
  SL_SCHED_REUSEPORT,   /* one SO_REUSEPORT socket per worker slot, made and
                           kept by the primary: the kernel spreads
                           connections by hash */
  SL_SCHED_RR,          /* the primary accepts and hands each connection to
                           the next listening worker (SCM_RIGHTS on the
                           control socket), strictly in turn, skipping
                           workers that are draining or whose socket is
                           full */
  SL_SCHED_SHARED       /* one listening socket shared by every worker: the
                           kernel wakes one acceptor */
} sl_cluster_sched_t;

/* "reuseport", "rr" or "shared" into *out: 0 or SL_EINVAL. */
SL_EXTERN int sl_cluster_sched_parse(const char* name,
                                     sl_cluster_sched_t* out);
/* The name of a scheduling ("reuseport" for SL_SCHED_DEFAULT). */
SL_EXTERN const char* sl_cluster_sched_name(sl_cluster_sched_t s);

typedef struct sl_worker_s sl_worker_t;

typedef enum {
  SL_CLUSTER_FORK = 0,     /* a worker was started */
  SL_CLUSTER_ONLINE,       /* its channel is up (it called a cluster
                              function) */
  SL_CLUSTER_LISTENING,    /* a server in it listens (or it called
                              sl_cluster_notify_listening): ev->port */
  SL_CLUSTER_DISCONNECT,   /* its channel closed */
  SL_CLUSTER_EXIT,         /* it is gone: ev->exit_code / ev->term_signal;
                              last event of the worker */
  SL_CLUSTER_MESSAGE,      /* ev->msg, a user message from the worker */
  SL_CLUSTER_EV_MAX_
} sl_cluster_event_type_t;

typedef struct sl_cluster_event_s {
  sl_cluster_event_type_t type;
  sl_worker_t* worker;     /* valid during the callback; after EXIT never */
  int port;                /* LISTENING */
  int exit_code;           /* EXIT: -1 when signalled */
  int term_signal;         /* EXIT: 0 when it exited */
  int respawn;             /* EXIT: 1 when the restart policy will fork a
                              replacement (a listener that calls
                              sl_cluster_shutdown() cancels it) */
  uint64_t restarts;       /* EXIT: replacements so far, counting the one
                              this exit schedules */
  const sl_message_t* msg; /* MESSAGE: JSON text, valid during the callback */
  const char* reason;      /* EXIT: why it went: "crash" (died on its own:
                              a signal or a non-zero code), "exit" (code
                              0), "fatal" (the fatal code), "hung" (killed
                              for a missed heartbeat), "restart" (retired by
                              a rolling restart), "timeout" (a rolling
                              restart's replacement that did not listen in
                              time), "shutdown", "disconnect"
                              (sl_worker_disconnect) */
} sl_cluster_event_t;

typedef void (*sl_cluster_cb)(const sl_cluster_event_t* ev, void* arg);

/* Primary settings (Node's cluster.setupPrimary plus a restart policy).
 * Zeroed fields take the defaults given. */
#define SL_CLUSTER_NO_DEADLINE UINT64_MAX /* shutdown_timeout_ms: none */

typedef struct sl_cluster_opts_s {
  int workers;                 /* target count; 0: the number of CPUs */
  int no_restart;              /* 1: a dead worker is not replaced */
  uint64_t backoff_initial_ms; /* 0: 100. A worker that dies before
                                  healthy_uptime_ms is replaced after the
                                  current delay, which then grows; the first
                                  replacement of a healthy worker is
                                  immediate */
  double backoff_multiplier;   /* 0: 1.5 */
  uint64_t backoff_max_ms;     /* 0: 10000 */
  uint64_t healthy_uptime_ms;  /* 0: 5000; a worker that lived this long
                                  resets the delay to 0 */
  int fatal_exit_code;         /* 0: 78 (EX_CONFIG): a worker that exits
                                  with it is never replaced */
  uint64_t shutdown_timeout_ms;/* 0: 60000; SL_CLUSTER_NO_DEADLINE: wait
                                  as long as it takes. How long a worker
                                  told to stop (shutdown, rolling restart)
                                  may drain its connections before SIGKILL
                                  to its group. In a rolling restart the
                                  deadline moves on, 1 s at a time, while
                                  the worker keeps writing (its replacement
                                  already serves; a client that stopped
                                  reading stops it); a shutdown's holds.
                                  A kill is reported on stderr with the
                                  TCP connections it cut, and counted in
                                  sl_cluster_stats (cut) */
  int handle_signals;          /* 1: SIGINT and SIGTERM in the primary call
                                  sl_cluster_shutdown(NULL, NULL), SIGHUP
                                  sl_cluster_restart(on_restart, ...) (the
                                  handler only records; the loop acts) */
  const char* entry;           /* NULL: workers run main; else a SL_ENTRY
                                  name, run instead of main */
  const char* const* argv;     /* NULL: this process's argv
                                  (/proc/self/cmdline) */
  sl_cluster_sched_t sched;    /* how workers share a listening address */
  uint64_t heartbeat_interval_ms; /* 0: 1000. The primary pings every
                                  online worker this often over the channel;
                                  the worker answers from its loop with its
                                  load report (sl_worker_load) */
  uint64_t heartbeat_timeout_ms;  /* 0: 5000; must exceed the interval. A
                                  worker that has not answered for this long
                                  is hung: SIGKILL to its process group, EXIT
                                  reason "hung", and the restart policy
                                  replaces it. Only workers that run the
                                  worker side (called a cluster function) are
                                  pinged, and not once their channel closed */
  int no_heartbeat;            /* 1: no pings, no load reports, no hung
                                  detection */
  uint64_t restart_timeout_ms; /* 0: 10000. Rolling restart: how long a
                                  replacement may take to listen */
  void (*on_restart)(int err, void* arg); /* with handle_signals: the end
                                  of a rolling restart SIGHUP started (as
                                  sl_cluster_restart's cb); may be NULL */
  void* on_restart_arg;
} sl_cluster_opts_t;

typedef struct sl_cluster_fork_opts_s {
  const char* const* env;      /* extra "NAME=value" strings for this worker,
                                  NULL-terminated; may be NULL */
} sl_cluster_fork_opts_t;

typedef struct sl_cluster_stats_s {
  size_t target;               /* the resolved opts.workers */
  size_t alive;                /* workers not yet exited */
  uint64_t forked;             /* every worker ever started */
  uint64_t exited;             /* EXIT events */
  uint64_t restarts;           /* replacements forked by the policy */
  uint64_t fatal;              /* exits with the fatal code */
  uint64_t next_delay_ms;      /* the delay of the next quick replacement */
  uint64_t crashes;            /* exits reason "crash" */
  uint64_t hung;               /* workers killed for a missed heartbeat */
  uint64_t retired;            /* workers replaced by rolling restarts */
  uint64_t handoffs;           /* rr: connections handed to workers */
  uint64_t handoff_skips;      /* rr: workers skipped (draining or full) */
  uint64_t cut;                /* workers killed at the drain deadline */
  uint64_t cut_connections;    /* TCP connections they still held */
} sl_cluster_stats_t;

/* A worker's latest load report (it answers each heartbeat with one). */
#define SL_DURATION_BUCKETS 12
typedef struct sl_worker_load_s {
  uint64_t requests;           /* HTTP requests received since it started */
  uint64_t connections;        /* connections open now (HTTP and TCP
                                  servers) */
  uint64_t accepted;           /* connections accepted since it started */
  uint64_t rss_bytes;          /* resident set size */
  double loop_lag_ms;          /* the longest event-loop delay seen since the
                                  previous report */
  uint64_t at_ms;              /* sl_now_ms() in the primary when it came */
  uint64_t responses[5];       /* HTTP exchanges ended, by status class:
                                  [0] 1xx ... [4] 5xx (refused requests and
                                  cut responses included) */
  uint64_t bytes_sent;         /* response body bytes */
  uint64_t duration_buckets[SL_DURATION_BUCKETS]; /* exchanges whose time
                                  (head received to response done) was at
                                  most sl_load_bucket_le(i) s and more than
                                  the bound before (not cumulative) */
  uint64_t duration_over;      /* longer than the last bound */
  double duration_sum_s;       /* their total time */
} sl_worker_load_t;
/* The upper bound in seconds of histogram bucket i (0.001 ... 10, as
 * Prometheus's defaults), or -1 outside 0..SL_DURATION_BUCKETS-1. */
SL_EXTERN double sl_load_bucket_le(int i);
/* This process's own figures (any process: a worker, the primary, or a
 * program with no cluster), as its load report would carry them; the
 * loop lag is not measured here (0). */
SL_EXTERN void sl_load_self(sl_worker_load_t* out);

/* 1 in the primary (SLUICE_WORKER_ID absent), 0 in a worker. In a worker
 * the first call (of this or sl_cluster_worker_id) opens the channel to the
 * primary (sl_parent()), sends the internal "online" message, removes
 * SLUICE_WORKER_ID from the environment (the worker's own children are not
 * workers) and arranges that the worker exit(0)s when the channel closes
 * (the primary disconnected or died: no orphan). */
SL_EXTERN int sl_cluster_is_primary(void);
/* The worker's id (1, 2, ... in fork order; replacements get new ids), 0 in
 * the primary. Same first-call effect as sl_cluster_is_primary(). */
SL_EXTERN int sl_cluster_worker_id(void);
/* Worker: tells the primary that a server sluice does not know (one of
 * the program's own) listens on `port` (the primary emits
 * SL_CLUSTER_LISTENING). Servers made by sl_http_listen or sl_tcp_listen
 * announce themselves. Returns 0, SL_EINVAL in the primary, or the
 * sl_channel_send() error. */
SL_EXTERN int sl_cluster_notify_listening(int port);

/* Worker: graceful shutdown, as Node's worker.disconnect(). On the first
 * SIGTERM or the primary's internal "shutdown" message (sl_cluster_shutdown,
 * a rolling restart), from the loop: cb(arg) runs if registered (this call;
 * it replaces an earlier one), to close what else keeps the loop alive;
 * then every server of the cluster listener (sl_http_listen, sl_tcp_listen
 * in this worker, not exclusive) that is still open is closed gracefully
 * (in-flight requests finish; the server pointer is invalid once closed);
 * then the channel to the primary is closed (without the exit(0) that a
 * closed channel otherwise causes). Later SIGTERMs are ignored and the
 * worker ends when sl_run() returns. A worker with neither a callback nor
 * such a server dies of SIGTERM. Worker listeners of sl_parent() also see
 * the internal message (a JSON object with a "sluice_cluster" key).
 * Returns 0, or SL_EINVAL in the primary or for a NULL cb. */
SL_EXTERN int sl_cluster_on_shutdown(void (*cb)(void* arg), void* arg);

/* Primary: sets the options (copied; `argv` and `entry` must stay valid).
 * Call before the first fork; returns 0, SL_EINVAL in a worker or for a
 * heartbeat_timeout_ms not longer than heartbeat_interval_ms, or SL_EBUSY
 * once workers exist. Without it the defaults apply. */
SL_EXTERN int sl_cluster_setup(const sl_cluster_opts_t* o);
/* Primary: listeners for worker events (all workers). Callbacks run from the
 * loop, never inside the call that caused them; per worker the order is
 * FORK, ONLINE, LISTENING..., DISCONNECT, EXIT, with MESSAGE between ONLINE
 * and DISCONNECT. Return 0 or SL_ENOMEM. */
SL_EXTERN int sl_cluster_on(sl_cluster_event_type_t type, sl_cluster_cb cb,
                            void* arg);
SL_EXTERN int sl_cluster_off(sl_cluster_event_type_t type, sl_cluster_cb cb,
                             void* arg);
/* Primary: forks one worker. `o` may be NULL. Returns 0 and the worker in
 * *out (may be NULL; owned by the cluster, valid until its EXIT event has
 * run), SL_EINVAL in a worker or during shutdown, or the sl_fork() error.
 * SL_CLUSTER_FORK follows from the loop. Stdio is inherited. */
SL_EXTERN int sl_cluster_fork(const sl_cluster_fork_opts_t* o,
                              sl_worker_t** out);
/* Primary: sl_cluster_setup(o) then forks the target number of workers.
 * Returns 0 or the first error (workers already forked keep running). */
SL_EXTERN int sl_cluster_start(const sl_cluster_opts_t* o);
/* Primary: the worker's id, its pid. */
SL_EXTERN int sl_worker_id(const sl_worker_t* w);
SL_EXTERN pid_t sl_worker_pid(const sl_worker_t* w);
/* Primary: sends a user message (one JSON value) to the worker, which gets
 * it as SL_CHILD_MESSAGE on sl_parent(). Returns as sl_channel_send(). */
SL_EXTERN int sl_worker_send(sl_worker_t* w, const char* data, size_t len);
/* Primary: sends `sig` (0: SIGTERM) to the worker. The exit counts as a
 * death for the restart policy unless the cluster is shutting down.
 * Returns 0 or SL_ESRCH. */
SL_EXTERN int sl_worker_kill(sl_worker_t* w, int sig);
/* Primary: closes the channel to the worker, which then exits(0) (if it
 * called a cluster function). Not counted as a death: no replacement. */
SL_EXTERN void sl_worker_disconnect(sl_worker_t* w);
/* Primary: counters (zeros in a worker). */
SL_EXTERN void sl_cluster_stats(sl_cluster_stats_t* out);
/* Primary: the worker's latest load report in *out: 0, or SL_ENOENT before
 * its first report (or with no_heartbeat). */
SL_EXTERN int sl_worker_load(const sl_worker_t* w, sl_worker_load_t* out);
/* Primary: "starting" (forked), "online", "listening", "draining" (told to
 * stop: shutdown, rolling restart or disconnect), "dead" (exited, its EXIT
 * event is running). */
SL_EXTERN const char* sl_worker_state(const sl_worker_t* w);
/* Primary: the workers not yet exited, in fork order, into out[0..max);
 * returns how many there are (may exceed max). Pointers are valid until the
 * worker's EXIT event has run. */
SL_EXTERN size_t sl_cluster_workers(sl_worker_t** out, size_t max);
/* Primary: rolling restart. One worker at a time, for every worker alive
 * now: fork its replacement, wait until the replacement listens (LISTENING;
 * ONLINE for a worker that was not listening), then shut the old one down
 * as sl_cluster_shutdown() does for all (EXIT reason "restart") and wait
 * for its exit. The old worker keeps serving until its replacement
 * listens, so no connection is refused or reset. cb(err, arg) (may be
 * NULL) runs from the loop at the end: 0, or SL_ETIMEDOUT when a
 * replacement did not listen within restart_timeout_ms (it is killed, EXIT
 * reason "timeout", the old worker keeps running, the restart stops
 * there), SL_ECHILD when a replacement died before it listened (same),
 * or SL_ECANCELED when a shutdown began. 0 means every worker was
 * replaced, not that nothing was cut: an old worker killed at its drain
 * deadline (see shutdown_timeout_ms) counts in the stats' cut and
 * cut_connections; compare them before and after. An old worker that
 * dies while its replacement starts is not respawned: the replacement
 * takes its place. Old workers drain one after the other, so one that
 * keeps sending keeps the restart waiting.
 * Returns 0, SL_EBUSY when a restart or a shutdown is under way, SL_EINVAL
 * in a worker. SIGHUP calls it when handle_signals is set. */
SL_EXTERN int sl_cluster_restart(void (*cb)(int err, void* arg), void* arg);
/* Primary: stops replacing workers, cancels pending replacements, sends
 * the internal "shutdown" message to every worker (see
 * sl_cluster_on_shutdown), SIGTERM to those left after 1 s (or half the
 * timeout when it is shorter) and SIGKILL to those left after
 * shutdown_timeout_ms. Once every worker has exited (its EXIT events ran),
 * the cluster releases its handles and listeners (sl_cluster_on listeners
 * too: a cluster started again registers its own) and cb(arg) (may be
 * NULL) runs from the loop, so sl_run() returns when nothing else is
 * open.
 * Returns 0, or SL_EBUSY when a shutdown is under way (cb not kept). */
SL_EXTERN int sl_cluster_shutdown(void (*cb)(void* arg), void* arg);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_H */
