/* Internal contract between the pieces of the process layer: spawn.c (the
 * child object, spawning, reaping, kill, timeouts, close), exec.c (exec,
 * execFile, sync variants), ipc.c (the channel), fork.c (fork, named entries,
 * the parent channel in a child), pool.c (worker pool). */
#ifndef SL_PROCESS_INT_H
#define SL_PROCESS_INT_H

#include "stream/stream_int.h"

/* The descriptor number a channel gets in the child, as Node's fork() does
 * ("ipc" in stdio[3]); announced as NODE_CHANNEL_FD=3. */
#define SL__CHANNEL_CHILD_FD 3

/* The descriptors a child may get past its stdio: extra[0] appears in the
 * child as SL__CHANNEL_CHILD_FD (fork's channel), extra[1] as
 * SL__CONTROL_CHILD_FD (a cluster worker's control socket). */
#define SL__CHILD_EXTRA_FDS  2
#define SL__CONTROL_CHILD_FD 4

/* spawn.c. Starts a child as sl_spawn() does, with two additions for fork:
 * `extra_env` ("NAME=value", NULL-terminated, may be NULL) is added to the
 * environment chosen by the options, and `extra` (NULL, or
 * SL__CHILD_EXTRA_FDS descriptors, -1 for none) are given to the child as
 * descriptors 3 and 4; sl__child_spawn closes the parent's copies, whatever
 * the outcome. Returns as sl_spawn(). */
int sl__child_spawn(const char* file, const char* const* argv,
                    const sl_spawn_opts_t* o, const char* const* extra_env,
                    const int* extra, sl_child_t** out);
/* Gives the child its channel: the child forwards the channel's MESSAGE,
 * DRAIN, DISCONNECT and ERROR events to its own listeners, and its CLOSE
 * waits for the channel's disconnect. */
void sl__child_attach_channel(sl_child_t* c, sl_channel_t* ch);
/* Emits an event to the child's listeners (from the loop only). */
void sl__child_emit(sl_child_t* c, const sl_child_event_t* ev);

/* spawn.c, for exec.c (sync variants) and tests. Starts `file` as
 * sl__child_spawn() does but without a child object: *pid and, for each
 * piped slot, our end of the pipe in fds[i] (-1 for the others; blocking,
 * close-on-exec). `extra` is not closed. Returns 0 or a negative code
 * (the exec error: ENOENT, EACCES..., or EMFILE...), with nothing left
 * open. Options are not checked: see sl__spawn_check_opts(). */
int sl__spawn_raw(const char* file, const char* const* argv,
                  const sl_spawn_opts_t* o, const char* const* extra_env,
                  const int* extra, pid_t* pid, int fds[3]);
/* 0, or SL_EINVAL for options sl_spawn() refuses. */
int sl__spawn_check_opts(const char* file, const sl_spawn_opts_t* o);
/* Sends `sig` to process group `pgid` now and, unless it is SIGKILL, polls
 * the group from the loop and sends SIGKILL to whatever is left after
 * grace_ms (0: 2000). Independent of any child object. Returns 0 or the
 * kill(2) error (SL_ESRCH: the group is gone). */
int sl__group_kill(pid_t pgid, int sig, uint64_t grace_ms);
/* sl__group_kill() of the child's group with `sig` (0: its kill_signal)
 * and its kill_grace_ms. */
int sl__child_kill_tree_grace(sl_child_t* c, int sig);
/* Tests: 1 makes new children use the SIGCHLD path instead of a pidfd. */
extern int sl__spawn_no_pidfd;

/* ipc.c. A channel over a connected UNIX stream socket `fd` (taken over:
 * made non-blocking and close-on-exec, closed with the channel).
 * `on_event(owner, ev)` receives MESSAGE, DRAIN, DISCONNECT and ERROR events
 * (besides the channel's own listeners). NULL on ENOMEM. */
typedef void (*sl__channel_owner_cb)(void* owner, const sl_child_event_t* ev);
sl_channel_t* sl__channel_new(int fd, sl_ipc_mode_t mode, size_t max_message,
                              size_t send_hwm);
void sl__channel_set_owner(sl_channel_t* ch, sl__channel_owner_cb cb,
                           void* owner);
/* 1 if a listener for `type` was added on the channel itself. */
int sl__channel_has_listener(const sl_channel_t* ch,
                             sl_child_event_type_t type);
/* Drops the owner's interest: the channel frees itself once disconnected. */
void sl__channel_release(sl_channel_t* ch);
/* Closes the channel at once (queued messages are dropped), without an
 * error; DISCONNECT follows from the loop. For owners that give up on a
 * peer (a killed worker). */
void sl__channel_close(sl_channel_t* ch);

/* fork.c. Called by sl_init(): records argv for sl_fork_entry() and, when
 * SLUICE_FORK_ENTRY names a registered entry, runs it and exit()s with its
 * return value (removing the variable first so the entry's own children do
 * not inherit it). Returns when there is nothing to dispatch. */
void sl__entry_dispatch(int argc, char** argv);
/* fork.c, for the cluster: sl_fork() (entry NULL) or sl_fork_entry()
 * (entry names a registered entry; `file` is ignored) with `control_fd`
 * (-1: none) given to the child as SL__CONTROL_CHILD_FD. `control_fd` is
 * closed whatever the outcome. Returns as sl_fork(). */
int sl__fork_ex(const char* file, const char* const* argv,
                const sl_spawn_opts_t* o, const char* entry, int control_fd,
                sl_child_t** out);

#endif
