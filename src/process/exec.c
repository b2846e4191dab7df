/* exec and execFile (manual 4.2): run a child to completion and collect its
 * stdout and stderr up to max_buffer each, with Node's errors ("Command
 * failed: CMD\n<stderr>", "stdout maxBuffer length exceeded"). The
 * asynchronous forms sit on a child object (spawn.c); the synchronous ones
 * need no loop: sl__spawn_raw(), then poll() on the two pipes and a pidfd,
 * then waitpid(). Past max_buffer or the timeout the child's whole process
 * group is signalled, and SIGKILLed after the grace period. */
#define _GNU_SOURCE
#include "process/process_int.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXEC_MAX_BUFFER (1024 * 1024)
#define EXEC_GRACE_MS   2000
#define EXEC_DRAIN_MS   1000
#define EXEC_READ_SIZE  (64 * 1024)

/* Appends what fits under `max`; returns 1 once something did not fit.
 * An allocation failure counts as not fitting. */
static int buf_append(sl_buf_t* b, const char* data, size_t n, size_t max) {
  int over = 0;
  if (b->len + n > max) {
    n = max - b->len;
    over = 1;
  }
  return sl_buf_append(b, data, n) != 0 ? 1 : over;
}

/* Moves the bytes into the result as a NUL-terminated string (never NULL
 * unless memory ran out). */
static char* buf_take(sl_buf_t* b, size_t* len) {
  if (b->data == NULL) (void)sl_buf_reserve(b, 0);
  *len = b->data ? b->len : 0;
  return sl_buf_detach(b);
}

/* What a run came to, for both forms. */
typedef struct {
  const char* cmd;
  int spawn_err;
  const char* spawn_msg;
  const char* overflow; /* "stdout" or "stderr" past max_buffer */
  int timed_out, exit_code, term_signal;
  int nonzero_is_error; /* exec/execFile: 1; spawnSync: 0 */
  sl_buf_t out, err;
} outcome_t;

static int outcome_result(outcome_t* oc, sl_exec_result_t* r) {
  memset(r, 0, sizeof *r);
  r->exit_code = oc->exit_code;
  r->term_signal = oc->term_signal;
  r->timed_out = oc->timed_out;
  r->out = buf_take(&oc->out, &r->out_len);
  r->err = buf_take(&oc->err, &r->err_len);
  int err = 0;
  if (oc->spawn_err != 0) {
    err = oc->spawn_err;
    r->message = oc->spawn_msg ? sl__strdup(oc->spawn_msg) : NULL;
    return err;
  }
  if (oc->overflow != NULL) {
    r->message = sl__asprintf("%s maxBuffer length exceeded", oc->overflow);
    return SL_EMAXBUFFER;
  }
  if (oc->timed_out)
    err = SL_ETIMEDOUT;
  else if (oc->nonzero_is_error && (oc->exit_code != 0 || oc->term_signal))
    err = SL_ECMDFAILED;
  if (err != 0)
    r->message =
        sl__asprintf("Command failed: %s\n%s", oc->cmd, r->err ? r->err : "");
  return err;
}

void sl_exec_result_free(sl_exec_result_t* r) {
  if (r == NULL) return;
  sl__free(r->out);
  sl__free(r->err);
  sl__free(r->message);
  memset(r, 0, sizeof *r);
}

/* "file arg1 arg2", as Node shows an execFile command. */
static char* join_command(const char* file, const char* const* argv) {
  size_t n = strlen(file) + 1;
  for (size_t i = 1; argv != NULL && argv[0] != NULL && argv[i]; i++)
    n += strlen(argv[i]) + 1;
  char* s = sl__malloc(n);
  if (s == NULL) return NULL;
  strcpy(s, file);
  for (size_t i = 1; argv != NULL && argv[0] != NULL && argv[i]; i++) {
    strcat(s, " ");
    strcat(s, argv[i]);
  }
  return s;
}

/* --- asynchronous ----------------------------------------------------------- */

typedef struct {
  sl_exec_cb cb;
  void* arg;
  sl_child_t* c;
  size_t max;
  char* cmd;
  char* spawn_msg;
  outcome_t oc;
} exec_t;

static void exec_overflow(exec_t* e, const char* which) {
  if (e->oc.overflow != NULL) return;
  e->oc.overflow = which;
  sl__child_kill_tree_grace(e->c, 0);
}

static void on_out(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  exec_t* e = arg;
  if (e->oc.overflow == NULL && buf_append(&e->oc.out, sl_chunk_data(ev->chunk),
                                           sl_chunk_len(ev->chunk), e->max))
    exec_overflow(e, "stdout");
}

static void on_err(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  exec_t* e = arg;
  if (e->oc.overflow == NULL && buf_append(&e->oc.err, sl_chunk_data(ev->chunk),
                                           sl_chunk_len(ev->chunk), e->max))
    exec_overflow(e, "stderr");
}

static void on_child_error(sl_child_t* c, const sl_child_event_t* ev,
                           void* arg) {
  exec_t* e = arg;
  e->oc.spawn_err = ev->err;
  if (ev->message != NULL && e->spawn_msg == NULL)
    e->spawn_msg = sl__strdup(ev->message);
  e->oc.spawn_msg = e->spawn_msg;
}

static void exec_free(exec_t* e) {
  sl_buf_free(&e->oc.out);
  sl_buf_free(&e->oc.err);
  sl__free(e->spawn_msg);
  sl__free(e->cmd);
  sl__free(e);
}

static void on_child_close(sl_child_t* c, const sl_child_event_t* ev,
                           void* arg) {
  exec_t* e = arg;
  sl_exec_result_t r;
  e->oc.exit_code = ev->exit_code;
  e->oc.term_signal = ev->term_signal;
  e->oc.timed_out = ev->timed_out;
  int err = outcome_result(&e->oc, &r);
  e->cb(err, &r, e->arg);
  sl_exec_result_free(&r);
  exec_free(e);
}

static sl_spawn_opts_t exec_spawn_opts(const sl_exec_opts_t* o) {
  sl_spawn_opts_t so = o ? o->spawn : (sl_spawn_opts_t){0};
  so.stdio[0] = (sl_stdio_t){.kind = SL_STDIO_IGNORE};
  so.stdio[1] = so.stdio[2] = (sl_stdio_t){.kind = SL_STDIO_PIPE};
  so.ipc = 0;
  return so;
}

static int exec_start(const char* file, const char* const* argv, char* cmd,
                      const sl_exec_opts_t* o, sl_exec_cb cb, void* arg) {
  SL_ASSERT(cb != NULL);
  exec_t* e = cmd ? sl__calloc(1, sizeof *e) : NULL;
  if (e == NULL) {
    sl__free(cmd);
    return SL_ENOMEM;
  }
  e->cb = cb;
  e->arg = arg;
  e->cmd = cmd;
  e->oc.cmd = cmd;
  e->oc.nonzero_is_error = 1;
  e->max = o && o->max_buffer ? o->max_buffer : EXEC_MAX_BUFFER;
  sl_spawn_opts_t so = exec_spawn_opts(o);
  int rc = sl__child_spawn(file, argv, &so, NULL, NULL, &e->c);
  if (rc != 0) {
    exec_free(e);
    return rc;
  }
  if (sl_child_on(e->c, SL_CHILD_ERROR, on_child_error, e) != 0 ||
      sl_child_on(e->c, SL_CHILD_CLOSE, on_child_close, e) != 0) {
    /* The child object reaps the process and frees itself. */
    sl_child_off(e->c, SL_CHILD_ERROR, on_child_error, e);
    sl_child_kill_tree(e->c, SIGKILL);
    exec_free(e);
    return SL_ENOMEM;
  }
  sl_stream_t* out = sl_child_stdout(e->c);
  sl_stream_t* err = sl_child_stderr(e->c);
  if ((out != NULL && sl_stream_on(out, SL_EV_DATA, on_out, e) != 0) ||
      (err != NULL && sl_stream_on(err, SL_EV_DATA, on_err, e) != 0))
    exec_overflow(e, "stdout"); /* no memory to collect with */
  return 0;
}

int sl_exec(const char* command, const sl_exec_opts_t* o, sl_exec_cb cb,
            void* arg) {
  if (command == NULL) return SL_EINVAL;
  const char* shell = o && o->shell ? o->shell : "/bin/sh";
  const char* argv[] = {shell, "-c", command, NULL};
  return exec_start(shell, argv, sl__strdup(command), o, cb, arg);
}

int sl_exec_file(const char* file, const char* const* argv,
                 const sl_exec_opts_t* o, sl_exec_cb cb, void* arg) {
  if (file == NULL) return SL_EINVAL;
  return exec_start(file, argv, join_command(file, argv), o, cb, arg);
}

/* --- synchronous ------------------------------------------------------------ */

typedef struct {
  pid_t pid;
  int fds[3];
  int pidfd;
  int exited, status;
  int kill_signal;
  uint64_t max, grace_ms, drain_ms;
  uint64_t deadline;       /* timeout; 0: none */
  uint64_t kill_deadline;  /* SIGKILL to the group; 0: not signalled */
  uint64_t drain_deadline; /* after the exit */
} sync_run_t;

static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }

static void sync_kill(sync_run_t* s, int sig) {
  if (s->kill_deadline != 0) return;
  kill(-s->pid, sig);
  s->kill_deadline = now_ms() + s->grace_ms;
}

/* Reads what one pipe has; closes it at EOF. */
static void sync_read(sync_run_t* s, outcome_t* oc, int slot) {
  char tmp[EXEC_READ_SIZE];
  ssize_t n;
  while ((n = read(s->fds[slot], tmp, sizeof tmp)) < 0 && errno == EINTR)
    continue;
  if (n <= 0) {
    close(s->fds[slot]);
    s->fds[slot] = -1;
    return;
  }
  sl_buf_t* b = slot == 1 ? &oc->out : &oc->err;
  if (oc->overflow == NULL && buf_append(b, tmp, (size_t)n, s->max)) {
    oc->overflow = slot == 1 ? "stdout" : "stderr";
    sync_kill(s, s->kill_signal);
  }
}

static void sync_reap(sync_run_t* s) {
  pid_t r;
  while ((r = waitpid(s->pid, &s->status, WNOHANG)) < 0 && errno == EINTR)
    continue;
  if (r == 0) return;
  if (r < 0) s->status = 0;
  s->exited = 1;
  s->drain_deadline = now_ms() + s->drain_ms;
  if (s->pidfd >= 0) close(s->pidfd);
  s->pidfd = -1;
}

/* How long poll() may sleep: until the nearest deadline; without a pidfd,
 * at most 10 ms between looks at the child. */
static int sync_wait_ms(const sync_run_t* s) {
  uint64_t now = now_ms(), next = UINT64_MAX;
  if (s->deadline && !s->kill_deadline) next = s->deadline;
  if (s->kill_deadline && s->kill_deadline < next) next = s->kill_deadline;
  if (s->exited && s->drain_deadline < next) next = s->drain_deadline;
  int ms = next == UINT64_MAX ? -1 : next <= now ? 0 : (int)(next - now);
  if (!s->exited && s->pidfd < 0 && (ms < 0 || ms > 10)) ms = 10;
  return ms;
}

static void sync_deadlines(sync_run_t* s, outcome_t* oc) {
  uint64_t now = now_ms();
  if (s->deadline && !s->kill_deadline && now >= s->deadline) {
    oc->timed_out = 1;
    sync_kill(s, s->kill_signal);
  }
  if (s->kill_deadline && now >= s->kill_deadline) {
    if (kill(-s->pid, 0) == 0) kill(-s->pid, SIGKILL);
    s->kill_deadline = UINT64_MAX; /* sent */
  }
}

static void sync_loop(sync_run_t* s, outcome_t* oc) {
  for (;;) {
    if (!s->exited) sync_reap(s);
    if (s->exited && s->fds[1] < 0 && s->fds[2] < 0) break;
    if (s->exited && now_ms() >= s->drain_deadline) break;
    struct pollfd p[3];
    int n = 0;
    for (int i = 1; i < 3; i++)
      if (s->fds[i] >= 0)
        p[n++] = (struct pollfd){.fd = s->fds[i], .events = POLLIN};
    if (!s->exited && s->pidfd >= 0)
      p[n++] = (struct pollfd){.fd = s->pidfd, .events = POLLIN};
    int rc = poll(p, (nfds_t)n, sync_wait_ms(s));
    for (int i = 0; rc > 0 && i < n; i++) {
      if (p[i].revents == 0 || p[i].fd == s->pidfd) continue;
      sync_read(s, oc, p[i].fd == s->fds[1] ? 1 : 2);
    }
    sync_deadlines(s, oc);
  }
}

/* A group we signalled may still hold a grandchild that ignores the
 * signal: wait for it to go, up to the grace period, then SIGKILL. */
static void sync_finish_kill(sync_run_t* s) {
  if (s->kill_deadline == 0 || s->kill_deadline == UINT64_MAX) return;
  while (kill(-s->pid, 0) == 0 && now_ms() < s->kill_deadline) usleep(5000);
  if (kill(-s->pid, 0) == 0) kill(-s->pid, SIGKILL);
}

static int run_sync(const char* file, const char* const* argv, const char* cmd,
                    const sl_exec_opts_t* o, const sl_spawn_opts_t* so,
                    int nonzero_is_error, sl_exec_result_t* r) {
  outcome_t oc = {
      .cmd = cmd, .nonzero_is_error = nonzero_is_error, .exit_code = -1};
  sync_run_t s = {.pidfd = -1};
  s.max = o && o->max_buffer ? o->max_buffer : EXEC_MAX_BUFFER;
  s.kill_signal = so->kill_signal ? so->kill_signal : SIGTERM;
  s.grace_ms = so->kill_grace_ms ? so->kill_grace_ms : EXEC_GRACE_MS;
  s.drain_ms = so->close_drain_ms ? so->close_drain_ms : EXEC_DRAIN_MS;
  char* msg = NULL;
  int rc = sl__spawn_raw(file, argv, so, NULL, NULL, &s.pid, s.fds);
  if (rc != 0) {
    oc.spawn_err = rc;
    oc.spawn_msg = msg = sl__errmsg_sys(rc, "spawn %s", file);
  } else {
    if (so->timeout_ms) s.deadline = now_ms() + so->timeout_ms;
    s.pidfd = (int)syscall(SYS_pidfd_open, s.pid, 0);
    sync_loop(&s, &oc);
    for (int i = 0; i < 3; i++)
      if (s.fds[i] >= 0) close(s.fds[i]);
    sync_finish_kill(&s);
    if (WIFSIGNALED(s.status))
      oc.term_signal = WTERMSIG(s.status);
    else
      oc.exit_code = WEXITSTATUS(s.status);
  }
  int err = outcome_result(&oc, r);
  sl__free(msg);
  return err;
}

static int exec_sync_common(const char* file, const char* const* argv,
                            char* cmd, const sl_exec_opts_t* o,
                            sl_exec_result_t* r) {
  sl_spawn_opts_t so = exec_spawn_opts(o);
  int rc = cmd ? sl__spawn_check_opts(file, &so) : SL_ENOMEM;
  if (rc == 0)
    rc = run_sync(file, argv, cmd, o, &so, 1, r);
  else
    memset(r, 0, sizeof *r), r->exit_code = -1;
  sl__free(cmd);
  return rc;
}

int sl_exec_sync(const char* command, const sl_exec_opts_t* o,
                 sl_exec_result_t* r) {
  if (command == NULL) return SL_EINVAL;
  const char* shell = o && o->shell ? o->shell : "/bin/sh";
  const char* argv[] = {shell, "-c", command, NULL};
  return exec_sync_common(shell, argv, sl__strdup(command), o, r);
}

int sl_exec_file_sync(const char* file, const char* const* argv,
                      const sl_exec_opts_t* o, sl_exec_result_t* r) {
  if (file == NULL) return SL_EINVAL;
  return exec_sync_common(file, argv, join_command(file, argv), o, r);
}

/* Node's spawnSync: the stdio slots are honoured (a piped stdin reads
 * /dev/null, as there is no input to give), piped output is collected, and
 * a non-zero exit or a signal is not an error, only r->exit_code /
 * r->term_signal. */
int sl_spawn_sync(const char* file, const char* const* argv,
                  const sl_exec_opts_t* o, sl_exec_result_t* r) {
  sl_spawn_opts_t so = o ? o->spawn : (sl_spawn_opts_t){0};
  so.ipc = 0;
  if (so.stdio[0].kind == SL_STDIO_PIPE) so.stdio[0].kind = SL_STDIO_IGNORE;
  int rc = sl__spawn_check_opts(file, &so);
  char* cmd = rc == 0 ? join_command(file, argv) : NULL;
  if (rc == 0 && cmd == NULL) rc = SL_ENOMEM;
  if (rc == 0)
    rc = run_sync(file, argv, cmd, o, &so, 0, r);
  else
    memset(r, 0, sizeof *r), r->exit_code = -1;
  sl__free(cmd);
  return rc;
}
