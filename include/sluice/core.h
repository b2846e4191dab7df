/* sluice/core.h: Errors, the loop, timers, signals, memory, chunks, byte
 * buffers and JSON: the base every other layer stands on.
 * Included by <sluice.h>; programs include that. */
#ifndef SLUICE_CORE_H
#define SLUICE_CORE_H

#include <errno.h>
#include <stdarg.h>
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
#define SL_ERRNO_MAP(X)            \
  X(E2BIG, -E2BIG)                 \
  X(EACCES, -EACCES)               \
  X(EADDRINUSE, -EADDRINUSE)       \
  X(EADDRNOTAVAIL, -EADDRNOTAVAIL) \
  X(EAGAIN, -EAGAIN)               \
  X(EBADF, -EBADF)                 \
  X(EBUSY, -EBUSY)                 \
  X(ECANCELED, -ECANCELED)         \
  X(ECHILD, -ECHILD)               \
  X(ECONNABORTED, -ECONNABORTED)   \
  X(ECONNREFUSED, -ECONNREFUSED)   \
  X(ECONNRESET, -ECONNRESET)       \
  X(EEXIST, -EEXIST)               \
  X(EFBIG, -EFBIG)                 \
  X(EINVAL, -EINVAL)               \
  X(EIO, -EIO)                     \
  X(EISDIR, -EISDIR)               \
  X(EMFILE, -EMFILE)               \
  X(EMSGSIZE, -EMSGSIZE)           \
  X(ENAMETOOLONG, -ENAMETOOLONG)   \
  X(ENFILE, -ENFILE)               \
  X(ENOBUFS, -ENOBUFS)             \
  X(ENOENT, -ENOENT)               \
  X(ENOMEM, -ENOMEM)               \
  X(ENOSPC, -ENOSPC)               \
  X(ENOSYS, -ENOSYS)               \
  X(ENOTCONN, -ENOTCONN)           \
  X(ENOTDIR, -ENOTDIR)             \
  X(ENOTSOCK, -ENOTSOCK)           \
  X(ENOTSUP, -ENOTSUP)             \
  X(EPERM, -EPERM)                 \
  X(EPIPE, -EPIPE)                 \
  X(EPROTO, -EPROTO)               \
  X(ERANGE, -ERANGE)               \
  X(ESPIPE, -ESPIPE)               \
  X(ESRCH, -ESRCH)                 \
  X(ETIMEDOUT, -ETIMEDOUT)         \
  X(EXDEV, -EXDEV)                 \
  X(EOF, -4095)

/* sluice's own codes: a range libuv does not use. */
#define SL_OWN_ERRORS(X)                                  \
  X(EWRITEAFTEREND, -6001, "write after end")             \
  X(EDESTROYED, -6002, "stream destroyed")                \
  X(EPREMATURECLOSE, -6003, "premature close")            \
  X(EMAXBUFFER, -6004, "max buffer exceeded")             \
  X(EIPCCLOSED, -6005, "IPC channel closed")              \
  X(EZDATA, -6006, "invalid compressed data")             \
  X(EPUSHAFTEREOF, -6007, "push after end of stream")     \
  X(EMULTIPLECB, -6008, "callback called more than once") \
  X(ENOTWRITABLE, -6009, "stream is not writable")        \
  X(ENOTREADABLE, -6010, "stream is not readable")        \
  X(EUNEXPECTEDEOF, -6011, "unexpected end of input")     \
  X(EFULL, -6012, "queue full")                           \
  X(ECMDFAILED, -6013, "command failed")

typedef enum {
#define SL__ERR_(name, val) SL_##name = (val),
  SL_ERRNO_MAP(SL__ERR_)
#undef SL__ERR_
#define SL__OWN_(name, val, msg) SL_##name = (val),
      SL_OWN_ERRORS(SL__OWN_)
#undef SL__OWN_
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

/* The first call in main() of a program that forks named entries
 * (sl_fork_entry, sl_pool with an entry, cluster workers): in a process
 * started that way it runs the named entry instead and exits with its
 * return value, so it does not return there. Also sets SIGPIPE to ignored
 * unless the program set a handler (as Node does: a write to a closed peer
 * is SL_EPIPE), which sl_run() does too, so other programs need not call
 * it. Returns 0. */
SL_EXTERN int sl_init(int argc, char** argv);
/* The libuv loop sluice runs on (libuv's default loop). For programs that
 * want raw libuv handles beside sluice's objects. */
SL_EXTERN struct uv_loop_s* sl_loop(void);
/* Runs the loop until nothing is left to do; first sets SIGPIPE to ignored
 * unless the program set a handler (see sl_init). Returns the program's exit
 * status, so that main() can end with `return sl_run();`: the code last
 * given to sl_set_exit_code() (Node's process.exitCode; 0 if none), or 1
 * if the loop could not run. */
SL_EXTERN int sl_run(void);
/* Sets the status sl_run() returns (Node's `process.exitCode = code`);
 * codes are taken modulo 256 as by exit(). The last call wins. */
SL_EXTERN void sl_set_exit_code(int code);
/* The status sl_run() would return now. */
SL_EXTERN int sl_exit_code(void);
/* Reports an error as Node reports one it cannot hand to anybody: when
 * `err` is not 0, writes `message` (or, when NULL, "NAME: description" of
 * `err`) and a newline to stderr and sets the exit status to 1
 * (sl_set_exit_code). Returns `err`, so that a callback can say
 * `if (sl_report(err, msg)) return;`. Does nothing for err 0. A report
 * equal to the one just before it is not written again (one failure seen
 * by two owners, such as both pipelines around a child that could not
 * start). */
SL_EXTERN int sl_report(int err, const char* message);
/* Stops sl_run() after the current iteration. */
SL_EXTERN void sl_stop(void);
/* Releases sluice's own loop handles and closes the loop. Returns 0, or
 * SL_EBUSY when something (a stream, a timer, a socket, a deferred call, a
 * request on the thread pool) is still open: the check the test harness uses
 * to prove a test left nothing behind. SL_EBUSY changes nothing: stop what
 * is open (handles already closing do not count) and call it again. */
SL_EXTERN int sl_loop_close(void);

typedef void (*sl_defer_cb)(void* arg);
/* The callback of every close and shutdown that takes one (TCP and HTTP
 * servers, the worker pool, the cluster): cb(arg) from the loop once it
 * is done. */
typedef void (*sl_close_cb)(void* arg);
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
/* Node's timer.unref()/ref(): an unref'd timer still fires but does not by
 * itself keep sl_run() from returning. Timers start ref'd. */
SL_EXTERN void sl_timer_unref(sl_timer_t* t);
SL_EXTERN void sl_timer_ref(sl_timer_t* t);

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
/* A small number the chunk carries for whoever reads it (0 when made; a
 * slice starts with its parent's): a WebSocket message's kind
 * (SL_WS_TEXT, SL_WS_BINARY). Streams pass it along with the chunk; one
 * that makes new chunks (a Transform) does not. */
SL_EXTERN unsigned sl_chunk_tag(const sl_chunk_t* c);
SL_EXTERN void sl_chunk_set_tag(sl_chunk_t* c, unsigned tag);
/* 1 when the caller's reference is the only way to reach c's bytes (one
 * reference, storage not shared with another slice, not caller memory
 * without a free callback), so the bytes may be changed in place: a
 * Transform can modify the chunk it was given and push it on, with no copy.
 * 0 otherwise. */
SL_EXTERN int sl_chunk_exclusive(const sl_chunk_t* c);
/* Shrinks the visible length (after filling fewer bytes than allocated). */
SL_EXTERN void sl_chunk_set_len(sl_chunk_t* c, size_t len);

/* ------------------------------------------------------------------------ */
/* Byte buffers: one growable run of bytes, owned by whoever holds it.       */
/*                                                                           */
/* A zeroed sl_buf_t is an empty buffer that owns no memory. `data` is       */
/* NULL until the first byte is reserved; after that data[len] is always a   */
/* NUL (not counted in `len` or `cap`), so the contents read as a C string.  */
/* The fields may be read; `len` may be lowered with sl_buf_truncate(), and  */
/* bytes written by hand into data[len..cap) become part of the contents by  */
/* raising `len` (then store the NUL at data[len]). Every function that can  */
/* fail is all or nothing: on a negative return the contents and `len` are   */
/* as they were (only `cap` may have grown): nothing is lost or cut short.   */

typedef struct sl_buf_s {
  char* data;
  size_t len;
  size_t cap;
} sl_buf_t;

/* Makes room for `extra` more bytes after `len`, so the next appends of up
 * to that many bytes cannot fail. The capacity at least doubles each time
 * it grows. Returns 0 or SL_ENOMEM (also when len + extra overflows). */
SL_EXTERN int sl_buf_reserve(sl_buf_t* b, size_t extra);
/* Appends data[0..len) (`data` may be NULL when len is 0). Returns 0 or
 * SL_ENOMEM. */
SL_EXTERN int sl_buf_append(sl_buf_t* b, const void* data, size_t len);
/* Appends the NUL-terminated `s` (without its NUL). Returns 0 or
 * SL_ENOMEM. */
SL_EXTERN int sl_buf_append_str(sl_buf_t* b, const char* s);
/* Appends printf-formatted text, however long. Returns 0, SL_ENOMEM, or
 * SL_EINVAL when vsnprintf rejects the format. */
SL_EXTERN int sl_buf_printf(sl_buf_t* b, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
SL_EXTERN int sl_buf_vprintf(sl_buf_t* b, const char* fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Shortens the contents to their first `len` bytes; SL_ASSERTs that `len`
 * is at most b->len. Keeps the memory. */
SL_EXTERN void sl_buf_truncate(sl_buf_t* b, size_t len);
/* Counts `n` bytes the caller wrote straight into the reserved room after
 * the contents (data + len, up to cap: a read(2) into the buffer) and puts
 * the NUL after them; SL_ASSERTs that they fit in the capacity. */
SL_EXTERN void sl_buf_commit(sl_buf_t* b, size_t n);
/* Empties the buffer (len 0) and keeps its memory for reuse. */
SL_EXTERN void sl_buf_reset(sl_buf_t* b);
/* Drops the first `n` bytes, moving the rest to the front (for a buffer
 * read from the front, such as a partial line); SL_ASSERTs n <= b->len. */
SL_EXTERN void sl_buf_consume(sl_buf_t* b, size_t n);
/* Hands the memory to the caller, who frees it with the library's free
 * (sl_set_allocator's, free() by default) and leaves `b` zeroed (empty).
 * Returns NULL for a buffer that never allocated. */
SL_EXTERN char* sl_buf_detach(sl_buf_t* b);
/* Frees the memory and leaves `b` zeroed. Safe on a zeroed buffer. */
SL_EXTERN void sl_buf_free(sl_buf_t* b);

/* Turns the contents into a chunk without copying: the chunk takes over the
 * memory (freed when its last reference goes) and `b` is left zeroed,
 * ready to fill again. The chunk's length is b->len. Returns the chunk (one
 * reference, the caller's), or NULL on SL_ENOMEM, in which case `b` is
 * unchanged and still owns its memory. */
SL_EXTERN sl_chunk_t* sl_buf_chunk(sl_buf_t* b);

/* ------------------------------------------------------------------------ */
/* JSON: reading one key of an object, writing JSON text into a buffer.     */

/* Small JSON readers (IPC messages, request bodies): find the value of `key` at the top
 * level of the object in json[0..len). Return 0, SL_ENOENT when absent, or
 * SL_EINVAL when the text is not an object or the value has another type. */
SL_EXTERN int sl_json_get_number(const char* json, size_t len, const char* key,
                                 double* out);
SL_EXTERN int sl_json_get_int(const char* json, size_t len, const char* key,
                              int64_t* out);
/* Copies the unescaped string value into out[0..cap) (NUL-terminated);
 * SL_ENOBUFS when it does not fit. */
SL_EXTERN int sl_json_get_string(const char* json, size_t len, const char* key,
                                 char* out, size_t cap);

/* Appends s[0..len) as one JSON string, quotes included, or `null` when s
 * is NULL. Escapes '"', '\\' and control characters as JSON.stringify and
 * Python's json.dumps(ensure_ascii=False) do: \b \f \n \r \t, the others as
 * \u00XX (lowercase hex); everything else, well-formed UTF-8 included, is
 * copied as it is. Bytes that are not well-formed UTF-8 (a stray
 * continuation byte, an overlong form, a surrogate, a cut-off sequence) are
 * replaced by U+FFFD, one for each maximal ill-formed subsequence, as
 * Python's errors="replace" and the WHATWG decoder do, so the output is
 * always valid UTF-8 JSON. Returns 0 or SL_ENOMEM (then `b` is unchanged). */
SL_EXTERN int sl_buf_json_str(sl_buf_t* b, const char* s, size_t len);
/* Appends printf-style text in which the arguments are written as JSON
 * values; the format's own text is copied as it is (it supplies the
 * braces, keys and commas). Directives:
 *   %s, %.*s   a NUL-terminated string (at most the precision's bytes, as
 *              printf) as a JSON string by sl_buf_json_str(); NULL is null
 *   %d %i %u with no, l, ll or z size (%zu size_t, %zd ssize_t): integers
 *   %f %e %g with an optional precision (%.3f): doubles as printf writes
 *              them; NaN and infinities, which JSON lacks, become null
 *   %%         a '%'
 * Widths, flags and other conversions are refused. Booleans and null have
 * no directive (it would cost the compiler's format check): they are
 * literal text of the format. Returns 0, SL_ENOMEM, or SL_EINVAL for a
 * directive it does not know; on failure `b` is unchanged. */
SL_EXTERN int sl_buf_json(sl_buf_t* b, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
SL_EXTERN int sl_buf_vjson(sl_buf_t* b, const char* fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_CORE_H */
