/* sluice/process.h: Child processes (manual chapter 4): spawn, exec, execFile, fork, IPC channels, the worker pool.
 * Included by <sluice.h>; programs include that. */
#ifndef SLUICE_PROCESS_H
#define SLUICE_PROCESS_H

#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* Node's `stdio: 'inherit'`, for sl_spawn_opts_t.stdio: `.stdio =
 * SL_STDIO_INHERIT_ALL`. */
#define SL_STDIO_INHERIT_ALL                                              \
  {                                                                       \
    {SL_STDIO_INHERIT, 0}, {SL_STDIO_INHERIT, 0}, { SL_STDIO_INHERIT, 0 } \
  }

typedef enum {
  SL_ENV_INHERIT = 0, /* the parent's environment (env ignored) ... */
  SL_ENV_ADD,         /* ... plus env, whose entries override */
  SL_ENV_REPLACE      /* only env */
} sl_env_mode_t;

typedef enum { SL_IPC_JSON = 0, SL_IPC_BINARY = 1 } sl_ipc_mode_t;

typedef struct sl_spawn_opts_s {
  const char* const* env; /* "NAME=value" strings, NULL-terminated */
  sl_env_mode_t env_mode;
  const char* cwd;      /* NULL: the parent's */
  sl_stdio_t stdio[3];  /* zeroed: three pipes, as in Node */
  int detached;         /* a new session (setsid) */
  int set_uid, set_gid; /* with uid / gid */
  uid_t uid;
  gid_t gid;
  uint64_t timeout_ms;     /* 0: none. At the deadline kill_signal goes to
                               the child's whole process group */
  int kill_signal;         /* 0: SIGTERM */
  uint64_t kill_grace_ms;  /* then SIGKILL to the group; 0: 2000 */
  uint64_t close_drain_ms; /* after exit, close waits at most this long for
                               stdio EOF (a grandchild may hold the pipes);
                               0: 1000 */
  int ipc;                 /* add an IPC channel (sl_fork does) */
  sl_ipc_mode_t serialization;
  size_t max_message;          /* IPC: largest message; 0: 16 MiB */
  size_t send_high_water_mark; /* IPC send queue mark, bytes; 0: 1 MiB */
  size_t high_water_mark;      /* stdio pipe streams; 0: 64 KiB */
} sl_spawn_opts_t;

typedef enum {
  SL_CHILD_SPAWN = 0,  /* the process started */
  SL_CHILD_ERROR,      /* ev->err, ev->message: could not spawn; at most
                         once. With no listener and no sl_child_wait it
                         is reported (sl_report), as Node's unhandled
                         'error' */
  SL_CHILD_EXIT,       /* ev->exit_code or ev->term_signal */
  SL_CHILD_CLOSE,      /* after exit and stdio EOF (or the drain deadline:
                         ev->drain_timeout), and after disconnect; last */
  SL_CHILD_DISCONNECT, /* the IPC channel closed */
  SL_CHILD_MESSAGE,    /* ev->msg, from the child's IPC channel */
  SL_CHILD_DRAIN       /* the IPC send queue emptied after a send that
                         returned 0 */
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
  int err;             /* SL_CHILD_ERROR */
  const char* message; /* SL_CHILD_ERROR: "spawn nosuch ENOENT" */
  int exit_code;       /* SL_CHILD_EXIT / CLOSE: -1 when signalled */
  int term_signal;     /* SL_CHILD_EXIT / CLOSE: 0 when exited */
  int timed_out;       /* SL_CHILD_EXIT / CLOSE: killed by timeout_ms */
  int drain_timeout;   /* SL_CHILD_CLOSE: stdio still open at the deadline */
  const sl_message_t* msg; /* SL_CHILD_MESSAGE */
} sl_child_event_t;

typedef void (*sl_child_cb)(sl_child_t* c, const sl_child_event_t* ev,
                            void* arg);

/* Starts `file` with `argv` (argv[0] first; NULL means {file, NULL}); a
 * `file` without '/' is searched in the parent's PATH. Returns 0 and the
 * child in *out; SL_CHILD_SPAWN or SL_CHILD_ERROR (ENOENT, EACCES, EAGAIN,
 * EMFILE...; message "spawn FILE ENOENT", as Node's)
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
/* One completion callback instead of error, exit and close listeners:
 * cb(c, ev, arg) runs once, from the loop, when the child is done (at
 * SL_CHILD_CLOSE), with ev->type SL_CHILD_CLOSE, ev->exit_code,
 * ev->term_signal and ev->timed_out, and ev->err / ev->message of the
 * child's first SL_CHILD_ERROR (0 / NULL if none: "spawn nosuch ENOENT"
 * style messages come from there). The message is valid during the call.
 * Returns 0, SL_ENOMEM or SL_EDESTROYED (after close; cb not kept). */
SL_EXTERN int sl_child_wait(sl_child_t* c, sl_child_cb cb, void* arg);
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
/* sl_channel_sendf() on the child's channel (SL_EIPCCLOSED without one). */
SL_EXTERN int sl_child_sendf(sl_child_t* c, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
SL_EXTERN void sl_child_ref(sl_child_t* c);
SL_EXTERN void sl_child_unref(sl_child_t* c);

/* exec / execFile: run to completion and collect stdout and stderr, up to
 * max_buffer bytes each (0: 1 MiB, as in Node); past it the child is killed
 * and err is SL_EMAXBUFFER with what was collected so far. */
typedef struct sl_exec_opts_s {
  sl_spawn_opts_t spawn; /* stdio is forced: stdin reads /dev/null,
                             stdout and stderr are pipes */
  size_t max_buffer;
  const char* shell; /* sl_exec: 0 = "/bin/sh" */
} sl_exec_opts_t;

typedef struct sl_exec_result_s {
  int exit_code; /* -1 when signalled or not started */
  int term_signal;
  int timed_out;
  char* out; /* NUL-terminated; owned by the result */
  size_t out_len;
  char* err;
  size_t err_len;
  char* message; /* when err != 0: "Command failed: ls x\n..." */
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
#define SL_ENTRY(name)                                                 \
  static int sl_entry_##name(int argc, char** argv);                   \
  __attribute__((constructor)) static void sl_entry_reg_##name(void) { \
    sl_entry_register(#name, sl_entry_##name);                         \
  }                                                                    \
  static int sl_entry_##name(int argc, char** argv)

/* IPC channels (both ends). Events are SL_CHANNEL_MESSAGE, SL_CHANNEL_DRAIN,
 * SL_CHANNEL_DISCONNECT and SL_CHANNEL_ERROR (the same values as the
 * child's SL_CHILD_* events, delivered in a sl_child_event_t). ERROR is
 * malformed input from the peer (the channel closes, the process lives;
 * err is SL_EINVAL for a line that is not JSON, SL_EMSGSIZE for a message
 * over max_message, SL_EUNEXPECTEDEOF for a message cut off by the peer's
 * close; DISCONNECT follows). Internal Node messages ("cmd": "NODE_...")
 * are never delivered. Binary mode frames are a 4-byte big-endian length
 * (top bit: a descriptor came with the frame) and the payload. */
typedef enum {
  SL_CHANNEL_ERROR = SL_CHILD_ERROR,
  SL_CHANNEL_DISCONNECT = SL_CHILD_DISCONNECT,
  SL_CHANNEL_MESSAGE = SL_CHILD_MESSAGE,
  SL_CHANNEL_DRAIN = SL_CHILD_DRAIN
} sl_channel_event_type_t;
typedef void (*sl_channel_cb)(sl_channel_t* ch, const sl_child_event_t* ev,
                              void* arg);
SL_EXTERN int sl_channel_on(sl_channel_t* ch, sl_channel_event_type_t type,
                            sl_channel_cb cb, void* arg);
SL_EXTERN int sl_channel_off(sl_channel_t* ch, sl_channel_event_type_t type,
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
/* Sends one JSON message built by sl_buf_json() from `fmt` (its %s
 * arguments escaped as JSON strings): `sl_channel_sendf(ch,
 * "{\"result\":%lld}", sum)` is Node's process.send({ result: sum }).
 * Returns as sl_channel_send(), or SL_ENOMEM / SL_EINVAL from the
 * formatting (nothing is sent then). */
SL_EXTERN int sl_channel_sendf(sl_channel_t* ch, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
SL_EXTERN int sl_channel_vsendf(sl_channel_t* ch, const char* fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Reading a received message, an object, by key (sl_json_get_int and
 * friends on msg->data): `if (sl_message_int(ev->msg, "n", &n)) return;`
 * is Node's `({ n }) =>`. Return 0, SL_ENOENT when the key is absent,
 * SL_EINVAL when the message is not an object or the value has another
 * type, and for strings SL_ENOBUFS when it does not fit `cap`. */
SL_EXTERN int sl_message_int(const sl_message_t* m, const char* key,
                             int64_t* out);
SL_EXTERN int sl_message_number(const sl_message_t* m, const char* key,
                                double* out);
SL_EXTERN int sl_message_string(const sl_message_t* m, const char* key,
                                char* out, size_t cap);
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
SL_EXTERN void sl_pool_close(sl_pool_t* p, int cancel, sl_close_cb cb,
                             void* arg);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_PROCESS_H */
