/* Children: starting a process without copying the parent (posix_spawn,
 * which glibc runs with clone(CLONE_VM|CLONE_VFORK)), watching it with a
 * pidfd (a SIGCHLD handler that waits for each of our children by pid where
 * the kernel has no pidfd_open), the event order spawn, exit, close, the
 * child's lifetime, kill, kill_tree, and timeouts that signal the whole
 * process group and follow with SIGKILL after a grace period. exec.c builds
 * on sl__spawn_raw() and sl__group_kill() for exec, execFile and the
 * synchronous variants; fork.c on sl__child_spawn(). */
#define _GNU_SOURCE
#include "process/process_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <grp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

#define CHILD_KILL_GRACE_MS 2000
#define CHILD_DRAIN_MS      1000
#define CHILD_STDIO_HWM     (64 * 1024)
#define GROUP_POLL_MS       10

/* Set by tests to exercise the SIGCHLD path on kernels that have pidfds. */
int sl__spawn_no_pidfd;

struct sl_child_s {
  pid_t pid;     /* 0 when the spawn failed */
  pid_t pgid;    /* the child's own group (or session) */
  int pidfd;     /* -1 on the SIGCHLD path */
  unsigned refs; /* the library's own until close, plus sl_child_ref() */
  int handles;   /* libuv handles still to close before the free */
  sl__tick_t tick;
  sl__emitter_t events;
  uv_poll_t poll;   /* on pidfd, until the child is reaped */
  uv_timer_t timer; /* timeout before the exit, drain deadline after */
  sl__queue_t live; /* SIGCHLD path: the children still to reap */
  sl_stream_t* stdio[3];
  sl_channel_t* channel;
  char* file; /* for the error message */
  int spawn_err;
  char* errmsg;
  int exit_code, term_signal;
  int kill_signal;
  uint64_t timeout_ms, grace_ms, drain_ms;
  unsigned poll_init : 1, timer_init : 1, on_sigchld : 1, reaped : 1,
      spawn_emitted : 1, exit_emitted : 1, close_emitted : 1, timed_out : 1,
      drain_timeout : 1, drain_armed : 1, channel_done : 1, freeing : 1;
  unsigned stdio_open : 3; /* bit i: stdio[i] has not closed yet */
};

static void child_unref_internal(sl_child_t* c);

/* --- environment ----------------------------------------------------------- */

static size_t env_name_len(const char* e) {
  const char* eq = strchr(e, '=');
  return eq ? (size_t)(eq - e) : strlen(e);
}

/* 1 if `e` names a variable that one of the lists sets. */
static int env_overridden(const char* e, const char* const* a,
                          const char* const* b) {
  size_t n = env_name_len(e);
  for (int k = 0; k < 2; k++)
    for (const char* const* p = k ? b : a; p != NULL && *p != NULL; p++)
      if (env_name_len(*p) == n && memcmp(*p, e, n) == 0) return 1;
  return 0;
}

static size_t env_count(const char* const* v) {
  size_t n = 0;
  while (v != NULL && v[n] != NULL) n++;
  return n;
}

/* The child's environment: the parent's (inherit), the parent's with `env`
 * over it (add), or `env` alone (replace); `extra` (fork's channel
 * variables) overrides all. Sets *owned when the array was allocated (its
 * strings are borrowed). NULL on ENOMEM. */
static char** env_build(const sl_spawn_opts_t* o, const char* const* extra,
                        int* owned) {
  const char* const* base = (const char* const*)environ;
  const char* const* env = o->env_mode == SL_ENV_INHERIT ? NULL : o->env;
  *owned = 0;
  if (env == NULL && extra == NULL && o->env_mode != SL_ENV_REPLACE)
    return environ;
  if (o->env_mode == SL_ENV_REPLACE) base = NULL;
  size_t n = env_count(base) + env_count(env) + env_count(extra);
  char** v = sl__malloc((n + 1) * sizeof *v);
  if (v == NULL) return NULL;
  size_t k = 0;
  for (size_t i = 0; base != NULL && base[i] != NULL; i++)
    if (!env_overridden(base[i], env, extra)) v[k++] = (char*)base[i];
  for (size_t i = 0; env != NULL && env[i] != NULL; i++)
    if (!env_overridden(env[i], NULL, extra)) v[k++] = (char*)env[i];
  for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
    v[k++] = (char*)extra[i];
  v[k] = NULL;
  *owned = 1;
  return v;
}

/* --- the descriptors a child starts with ------------------------------------ */

/* What the child's descriptors 0..4 become: a dup2 of src[t], /dev/null, or
 * nothing (the parent's own, inherited). */
#define NSLOTS (3 + SL__CHILD_EXTRA_FDS)
typedef struct {
  int src[NSLOTS];
  int devnull[NSLOTS];
  int child_end[3];   /* our pipe ends that go to the child, closed after */
  int lifted[NSLOTS]; /* copies made by plan_lift(), closed after */
} fdplan_t;

/* The dup2 actions run in target order 0..4, so a source below its target
 * would already have been replaced by an earlier action: move it out of
 * the way first (rare: only when the parent's own 0-2 are closed or passed
 * crosswise, as in {FD, 1} for stderr). */
static int plan_lift(fdplan_t* p) {
  for (int t = 0; t < NSLOTS; t++) {
    if (p->src[t] < 0 || p->src[t] >= t) continue;
    int fd = fcntl(p->src[t], F_DUPFD_CLOEXEC, NSLOTS);
    if (fd < 0) return -errno;
    p->src[t] = p->lifted[t] = fd;
  }
  return 0;
}

static void close_fd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* Creates the pipes (close-on-exec at both ends: the child gets its end
 * through dup2, which clears the flag) and fills the plan. fds[i] receives
 * our end of a piped slot, -1 for the others. */
static int plan_stdio(fdplan_t* p, const sl_spawn_opts_t* o, const int* extra,
                      int fds[3]) {
  /* All of it set first: plan_release() runs after an early return. */
  for (int t = 0; t < NSLOTS; t++)
    p->src[t] = p->lifted[t] = -1, p->devnull[t] = 0;
  for (int i = 0; i < 3; i++) p->child_end[i] = fds[i] = -1;
  for (int i = 0; i < 3; i++) {
    const sl_stdio_t* s = &o->stdio[i];
    if (s->kind == SL_STDIO_PIPE) {
      int pp[2];
      if (pipe2(pp, O_CLOEXEC) != 0) return -errno;
      fds[i] = pp[i == 0 ? 1 : 0];
      p->src[i] = p->child_end[i] = pp[i == 0 ? 0 : 1];
    } else if (s->kind == SL_STDIO_IGNORE) {
      p->devnull[i] = 1;
    } else if (s->kind == SL_STDIO_FD) {
      p->src[i] = s->fd;
    }
  }
  for (int i = 0; extra != NULL && i < SL__CHILD_EXTRA_FDS; i++)
    p->src[3 + i] = extra[i];
  return plan_lift(p);
}

static void plan_release(fdplan_t* p) {
  for (int i = 0; i < 3; i++) close_fd(&p->child_end[i]);
  for (int t = 0; t < NSLOTS; t++) close_fd(&p->lifted[t]);
}

/* --- posix_spawn ----------------------------------------------------------- */

static const sigset_t* all_signals(void) {
  static sigset_t set;
  static int done;
  if (!done) {
    sigfillset(&set);
    sigdelset(&set, SIGKILL);
    sigdelset(&set, SIGSTOP);
    done = 1;
  }
  return &set;
}

static int spawn_posix(const char* file, const char* const* argv,
                       const sl_spawn_opts_t* o, const fdplan_t* p, char** envp,
                       pid_t* pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  int rc = 0;
  for (int t = 0; t < NSLOTS && rc == 0; t++) {
    if (p->devnull[t])
      rc = posix_spawn_file_actions_addopen(&fa, t, "/dev/null", O_RDWR, 0);
    else if (p->src[t] >= 0)
      rc = posix_spawn_file_actions_adddup2(&fa, p->src[t], t);
  }
  if (rc == 0 && o->cwd != NULL)
    rc = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                (o->detached ? POSIX_SPAWN_SETSID : POSIX_SPAWN_SETPGROUP);
  if (rc == 0) rc = posix_spawnattr_setflags(&at, flags);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&at, &empty);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&at, all_signals());
  if (rc == 0) rc = posix_spawnattr_setpgroup(&at, 0);
  if (rc == 0) rc = posix_spawnp(pid, file, &fa, &at, (char* const*)argv, envp);
  posix_spawnattr_destroy(&at);
  posix_spawn_file_actions_destroy(&fa);
  return -rc;
}

/* --- fork, for uid/gid ------------------------------------------------------ */

/* In the forked child: only system calls from here to exec. Reports errno
 * through `errfd` (close-on-exec, so a successful exec closes it). */
static void forked_child(const char* file, const char* const* argv,
                         const sl_spawn_opts_t* o, const fdplan_t* p,
                         char** envp, int errfd) {
  sigset_t empty;
  sigemptyset(&empty);
  if (o->detached ? setsid() < 0 : setpgid(0, 0) != 0) goto fail;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  sigprocmask(SIG_SETMASK, &empty, NULL);
  for (int t = 0; t < NSLOTS; t++) {
    int fd = p->src[t];
    if (p->devnull[t] && (fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
      goto fail;
    if (fd < 0) continue;
    if (fd == t ? fcntl(fd, F_SETFD, 0) != 0 : dup2(fd, t) != t) goto fail;
  }
  if (o->cwd != NULL && chdir(o->cwd) != 0) goto fail;
  if (setgroups(0, NULL) != 0 && errno != EPERM) goto fail;
  if (o->set_gid && setgid(o->gid) != 0) goto fail;
  if (o->set_uid && setuid(o->uid) != 0) goto fail;
  execvpe(file, (char* const*)argv, envp);
fail:;
  int err = errno;
  while (write(errfd, &err, sizeof err) < 0 && errno == EINTR) continue;
  _exit(127);
}

/* The documented fallback for uid/gid, which posix_spawn cannot set: a plain
 * fork (its cost grows with the parent's memory; rare enough not to
 * matter). */
static int spawn_fork(const char* file, const char* const* argv,
                      const sl_spawn_opts_t* o, const fdplan_t* p, char** envp,
                      pid_t* pid) {
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) != 0) return -errno;
  pid_t child = fork();
  if (child < 0) {
    int err = errno;
    close(ep[0]);
    close(ep[1]);
    return -err;
  }
  if (child == 0) forked_child(file, argv, o, p, envp, ep[1]);
  close(ep[1]);
  int err = 0;
  ssize_t n;
  while ((n = read(ep[0], &err, sizeof err)) < 0 && errno == EINTR) continue;
  close(ep[0]);
  if (n == (ssize_t)sizeof err) {
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) continue;
    return -err;
  }
  *pid = child;
  return 0;
}

int sl__spawn_raw(const char* file, const char* const* argv,
                  const sl_spawn_opts_t* o, const char* const* extra_env,
                  const int* extra, pid_t* pid, int fds[3]) {
  const char* def_argv[2] = {file, NULL};
  if (argv == NULL) argv = def_argv;
  fdplan_t p;
  int owned = 0;
  char** envp = NULL;
  int rc = plan_stdio(&p, o, extra, fds);
  if (rc == 0 && (envp = env_build(o, extra_env, &owned)) == NULL)
    rc = SL_ENOMEM;
  if (rc == 0 && (o->set_uid || o->set_gid))
    rc = spawn_fork(file, argv, o, &p, envp, pid);
  else if (rc == 0)
    rc = spawn_posix(file, argv, o, &p, envp, pid);
  if (owned) sl__free(envp);
  plan_release(&p);
  if (rc != 0)
    for (int i = 0; i < 3; i++) close_fd(&fds[i]);
  return rc;
}

int sl__spawn_check_opts(const char* file, const sl_spawn_opts_t* o) {
  if (file == NULL || file[0] == '\0') return SL_EINVAL;
  for (int i = 0; i < 3; i++) {
    if ((unsigned)o->stdio[i].kind > SL_STDIO_FD) return SL_EINVAL;
    if (o->stdio[i].kind == SL_STDIO_FD && o->stdio[i].fd < 0) return SL_EINVAL;
  }
  if ((unsigned)o->env_mode > SL_ENV_REPLACE) return SL_EINVAL;
  if (o->kill_signal < 0 || o->kill_signal >= NSIG) return SL_EINVAL;
  return 0;
}

/* --- killing a process group ------------------------------------------------ */

/* A group being killed: polls until every member is gone and sends SIGKILL
 * at the deadline. Lives on its own, so that a child that closed (its
 * leader reaped, its pipes shut) cannot leave a grandchild that ignores
 * the first signal running. */
typedef struct {
  uv_timer_t timer;
  pid_t pgid;
  uint64_t deadline;
} group_kill_t;

static void group_kill_free(uv_handle_t* h) { sl__free(h->data); }

static void group_kill_poll(uv_timer_t* t) {
  group_kill_t* g = t->data;
  int alive = kill(-g->pgid, 0) == 0;
  if (alive && uv_now(sl__loop()) < g->deadline) return;
  if (alive) kill(-g->pgid, SIGKILL);
  uv_close((uv_handle_t*)t, group_kill_free);
}

int sl__group_kill(pid_t pgid, int sig, uint64_t grace_ms) {
  if (pgid <= 1) return SL_ESRCH;
  if (kill(-pgid, sig) != 0) return -errno;
  if (sig == SIGKILL) return 0;
  group_kill_t* g = sl__malloc(sizeof *g);
  if (g == NULL) {
    kill(-pgid, SIGKILL); /* no memory to wait politely */
    return 0;
  }
  g->pgid = pgid;
  g->deadline =
      uv_now(sl__loop()) + (grace_ms ? grace_ms : CHILD_KILL_GRACE_MS);
  uv_timer_init(sl__loop(), &g->timer);
  g->timer.data = g;
  uv_timer_start(&g->timer, group_kill_poll, GROUP_POLL_MS, GROUP_POLL_MS);
  return 0;
}

/* --- listeners and events ----------------------------------------------------- */

int sl_child_on(sl_child_t* c, sl_child_event_type_t type, sl_child_cb cb,
                void* arg) {
  SL_ASSERT((unsigned)type < SL__CHILD_EV_COUNT && cb != NULL);
  if (c->close_emitted) return SL_EDESTROYED;
  return sl__emitter_add(&c->events, SL__EV_BIT(type), (sl__fn)cb, arg, 0);
}

int sl_child_off(sl_child_t* c, sl_child_event_type_t type, sl_child_cb cb,
                 void* arg) {
  return sl__emitter_off(&c->events, SL__EV_BIT(type), (sl__fn)cb, arg);
}

/* sl_child_wait: the first error, kept until close. */
typedef struct {
  sl_child_cb cb;
  void* arg;
  int err;
  char* message;
} child_wait_t;

static void wait_event(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  child_wait_t* w = arg;
  if (ev->type == SL_CHILD_ERROR) {
    if (w->err == 0) {
      w->err = ev->err;
      w->message = ev->message ? sl__strdup(ev->message) : NULL;
    }
    return;
  }
  sl_child_event_t done = *ev;
  done.err = w->err;
  done.message = w->message;
  w->cb(c, &done, w->arg);
  sl__free(w->message);
  sl__free(w);
}

int sl_child_wait(sl_child_t* c, sl_child_cb cb, void* arg) {
  SL_ASSERT(cb != NULL);
  if (c->close_emitted) return SL_EDESTROYED;
  child_wait_t* w = sl__calloc(1, sizeof *w);
  if (w == NULL) return SL_ENOMEM;
  w->cb = cb;
  w->arg = arg;
  int rc = sl_child_on(c, SL_CHILD_ERROR, wait_event, w);
  if (rc == 0) rc = sl_child_on(c, SL_CHILD_CLOSE, wait_event, w);
  if (rc != 0) {
    sl_child_off(c, SL_CHILD_ERROR, wait_event, w);
    sl__free(w);
  }
  return rc;
}

static void invoke(sl__fn cb, void* arg, void* owner, const void* ev) {
  ((sl_child_cb)cb)(owner, ev, arg);
}

void sl__child_emit(sl_child_t* c, const sl_child_event_t* ev) {
  sl__emitter_emit(&c->events, ev->type, invoke, c, ev);
}

static void emit_status(sl_child_t* c, sl_child_event_type_t type) {
  sl_child_event_t ev = {.type = type,
                         .exit_code = c->exit_code,
                         .term_signal = c->term_signal,
                         .timed_out = c->timed_out,
                         .drain_timeout = c->drain_timeout};
  sl__child_emit(c, &ev);
}

/* --- reaping ------------------------------------------------------------------ */

static struct {
  uv_signal_t* h;
  sl__queue_t live;
} sigchld;

static void handle_closed(uv_handle_t* h);
static void free_handle(uv_handle_t* h) { sl__free(h); }

static void sigchld_unwatch(sl_child_t* c) {
  if (!c->on_sigchld) return;
  c->on_sigchld = 0;
  sl__queue_remove(&c->live);
  if (sl__queue_empty(&sigchld.live)) {
    uv_close((uv_handle_t*)sigchld.h, free_handle);
    sigchld.h = NULL;
  }
}

/* Waits for our child once, by pid (never -1: other children are not
 * ours). Returns 1 once it has been reaped. */
static int child_reap(sl_child_t* c) {
  int st = 0;
  pid_t r;
  while ((r = waitpid(c->pid, &st, WNOHANG)) < 0 && errno == EINTR) continue;
  if (r == 0) return 0;
  if (r < 0) {
    c->exit_code = -1; /* ECHILD: someone else waited for it */
  } else if (WIFSIGNALED(st)) {
    c->exit_code = -1;
    c->term_signal = WTERMSIG(st);
  } else {
    c->exit_code = WEXITSTATUS(st);
  }
  c->reaped = 1;
  if (c->poll_init && !uv_is_closing((uv_handle_t*)&c->poll))
    uv_close((uv_handle_t*)&c->poll, handle_closed);
  sigchld_unwatch(c);
  if (c->timer_init) uv_timer_stop(&c->timer);
  sl__tick_schedule(&c->tick);
  return 1;
}

static void on_sigchld(uv_signal_t* h, int signum) {
  sl__queue_t* q = sigchld.live.next;
  while (q != &sigchld.live) {
    sl_child_t* c = sl__container_of(q, sl_child_t, live);
    q = q->next; /* child_reap() may unlink c */
    child_reap(c);
    if (sigchld.h == NULL) break;
  }
}

static int sigchld_watch(sl_child_t* c) {
  if (sigchld.h == NULL) {
    uv_signal_t* h = sl__malloc(sizeof *h);
    if (h == NULL) return SL_ENOMEM;
    uv_signal_init(sl__loop(), h);
    int rc = uv_signal_start(h, on_sigchld, SIGCHLD);
    if (rc != 0) {
      uv_close((uv_handle_t*)h, free_handle);
      return rc;
    }
    sigchld.h = h;
    sl__queue_init(&sigchld.live);
  }
  sl__queue_insert_tail(&sigchld.live, &c->live);
  c->on_sigchld = 1;
  child_reap(c); /* a SIGCHLD before the watch started is not replayed */
  return 0;
}

static void on_pidfd(uv_poll_t* h, int status, int events) {
  sl_child_t* c = h->data;
  if (!c->reaped) child_reap(c);
}

/* A pidfd turns readable when the child exits; one poll per child. */
static int pidfd_watch(sl_child_t* c) {
  static int have_pidfd = 1;
  if (!have_pidfd || sl__spawn_no_pidfd) return SL_ENOSYS;
  int fd = (int)syscall(SYS_pidfd_open, c->pid, 0);
  if (fd < 0) {
    if (errno == ENOSYS) have_pidfd = 0;
    return -errno;
  }
  c->pidfd = fd;
  if (uv_poll_init(sl__loop(), &c->poll, fd) != 0) {
    close_fd(&c->pidfd);
    return SL_ENOSYS;
  }
  c->poll.data = c;
  c->poll_init = 1;
  c->handles++;
  int rc = uv_poll_start(&c->poll, UV_READABLE, on_pidfd);
  if (rc != 0) uv_close((uv_handle_t*)&c->poll, handle_closed);
  return rc;
}

/* Watches the child until it is reaped. If neither way works the child is
 * killed and waited for here, so that it never becomes a zombie. */
static int child_watch(sl_child_t* c) {
  if (pidfd_watch(c) == 0) return 0;
  int rc = sigchld_watch(c);
  if (rc == 0) return 0;
  kill(c->pid, SIGKILL);
  while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) continue;
  c->reaped = 1;
  c->term_signal = SIGKILL;
  return rc;
}

/* --- stdio streams ------------------------------------------------------------- */

static void on_stdio_close(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  sl_child_t* c = arg;
  for (int i = 0; i < 3; i++)
    if (c->stdio[i] == s) c->stdio_open &= ~(1u << i);
  sl__tick_schedule(&c->tick);
}

/* Wraps our end of a pipe in a libuv pipe handle and a stream. On failure
 * the descriptor is closed. */
static sl_stream_t* wrap_pipe(int fd, int slot, size_t hwm) {
  static const char* names[3] = {"stdin", "stdout", "stderr"};
  uv_pipe_t* p = sl__malloc(sizeof *p);
  if (p == NULL) {
    close(fd);
    return NULL;
  }
  uv_pipe_init(sl__loop(), p, 0);
  int rc = uv_pipe_open(p, fd);
  if (rc != 0) {
    close(fd);
    uv_close((uv_handle_t*)p, free_handle);
    return NULL;
  }
  sl_stream_opts_t so = {.high_water_mark = hwm ? hwm : CHILD_STDIO_HWM,
                         .name = names[slot]};
  int flags = slot == 0 ? SL__UVS_WRITABLE : SL__UVS_READABLE;
  sl_stream_t* s =
      sl__uv_stream_new((uv_stream_t*)p, flags, &so, sizeof(sl__uvs_t));
  if (s != NULL) s->errors_owned = 1; /* the child's events report them */
  return s;
}

/* A child that could not start still has its piped stdio, as in Node: a
 * stream per piped slot, failed with the spawn error ("spawn FILE ENOENT"),
 * so that a pipe or a pipeline into it reports that error instead of meeting
 * NULL. Close waits for them. */
static void child_failed_stdio(sl_child_t* c, const sl_spawn_opts_t* o,
                               int err) {
  static const char* names[3] = {"stdin", "stdout", "stderr"};
  for (int i = 0; i < 3; i++) {
    if (o->stdio[i].kind != SL_STDIO_PIPE) continue;
    sl_stream_opts_t so = {.name = names[i]};
    sl_stream_t* s = i == 0 ? sl_writable_new(&so) : sl_readable_new(&so);
    if (s == NULL) continue; /* ENOMEM: that slot stays NULL */
    s->errors_owned = 1;
    if (sl_stream_on(s, SL_EV_CLOSE, on_stdio_close, c) == 0) {
      c->stdio[i] = sl_stream_ref(s);
      c->stdio_open |= 1u << i;
    }
    sl__stream_fail_msg(s, err, sl__errmsg_sys(err, "spawn %s", c->file));
  }
}

static int child_wrap_stdio(sl_child_t* c, int fds[3], size_t hwm) {
  int rc = 0;
  for (int i = 0; i < 3; i++) {
    if (fds[i] < 0) continue;
    sl_stream_t* s = wrap_pipe(fds[i], i, hwm);
    if (s == NULL || sl_stream_on(s, SL_EV_CLOSE, on_stdio_close, c) != 0) {
      if (s != NULL) sl_stream_destroy(s, 0);
      rc = SL_ENOMEM;
      continue;
    }
    c->stdio[i] = sl_stream_ref(s);
    c->stdio_open |= 1u << i;
  }
  return rc;
}

/* As Node's flushStdio: output nobody reads is drained, so that close can
 * follow the exit; stdin is destroyed, as in Node's onexit. */
static void child_flush_stdio(sl_child_t* c) {
  if (c->stdio[0] != NULL && !sl_stream_destroyed(c->stdio[0]))
    sl_stream_destroy(c->stdio[0], 0);
  for (int i = 1; i < 3; i++) {
    sl_stream_t* s = c->stdio[i];
    if (s != NULL && !s->destroyed && s->r.flowing == -1 &&
        sl__queue_empty(&s->r.pipes))
      sl_stream_resume(s);
  }
}

/* --- the state machine ------------------------------------------------------ */

static void on_timer(uv_timer_t* t);

static void timer_start(sl_child_t* c, uint64_t ms) {
  if (!c->timer_init) {
    uv_timer_init(sl__loop(), &c->timer);
    c->timer.data = c;
    c->timer_init = 1;
    c->handles++;
  }
  uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Before the exit: the timeout. After it: the drain deadline, at which the
 * pipes a grandchild still holds are destroyed (and the channel closed) so
 * that close can come. */
static void on_timer(uv_timer_t* t) {
  sl_child_t* c = t->data;
  if (!c->reaped) {
    /* Timers run before I/O: an exit that came in time may not have been
     * seen yet. */
    if (child_reap(c)) return;
    c->timed_out = 1;
    sl__group_kill(c->pgid, c->kill_signal, c->grace_ms);
    return;
  }
  for (int i = 0; i < 3; i++)
    if (c->stdio_open & (1u << i)) {
      c->drain_timeout = 1;
      sl_stream_destroy(c->stdio[i], 0);
    }
  /* Closed, not disconnected: a disconnect waits for the queued messages,
   * which a grandchild that holds the channel and never reads would keep
   * back for as long as it lives. */
  if (c->channel != NULL && !c->channel_done) sl__channel_close(c->channel);
}

static int child_all_closed(const sl_child_t* c) {
  return c->stdio_open == 0 && (c->channel == NULL || c->channel_done);
}

static void child_after_exit(sl_child_t* c) {
  child_flush_stdio(c);
  if (!child_all_closed(c) && !c->drain_armed) {
    c->drain_armed = 1;
    timer_start(c, c->drain_ms);
  }
}

static void child_process(sl__tick_t* t) {
  sl_child_t* c = sl__container_of(t, sl_child_t, tick);
  if (c->close_emitted) return;
  c->refs++; /* listeners may drop every other reference */
  if (!c->spawn_emitted) {
    c->spawn_emitted = 1;
    if (c->spawn_err != 0) {
      sl_child_event_t ev = {.type = SL_CHILD_ERROR,
                             .err = c->spawn_err,
                             .message = c->errmsg,
                             .exit_code = -1};
      /* As Node's unhandled 'error': nobody listens, so it is reported. */
      if (sl__emitter_has(&c->events, SL_CHILD_ERROR))
        sl__child_emit(c, &ev);
      else
        sl_report(c->spawn_err, c->errmsg);
    } else {
      emit_status(c, SL_CHILD_SPAWN);
    }
  }
  if (c->reaped && !c->exit_emitted) {
    c->exit_emitted = 1;
    emit_status(c, SL_CHILD_EXIT);
    child_after_exit(c);
  }
  /* A child that never started has no exit; one that started always has
   * one, even after an error (a stream that could not be made). */
  int done = c->exit_emitted || c->pid == 0;
  if (done && !c->close_emitted && child_all_closed(c)) {
    if (c->timer_init) uv_timer_stop(&c->timer);
    c->close_emitted = 1;
    emit_status(c, SL_CHILD_CLOSE);
    child_unref_internal(c); /* the library's own reference */
  }
  child_unref_internal(c);
}

/* --- lifetime ------------------------------------------------------------------- */

static void child_free_now(sl_child_t* c) {
  for (int i = 0; i < 3; i++)
    if (c->stdio[i] != NULL) sl_stream_unref(c->stdio[i]);
  if (c->channel != NULL) sl__channel_release(c->channel);
  sl__emitter_clear(&c->events);
  sl__free(c->errmsg);
  sl__free(c->file);
  sl__free(c);
}

static void handle_closed(uv_handle_t* h) {
  sl_child_t* c = h->data;
  if (h == (uv_handle_t*)&c->poll) close_fd(&c->pidfd);
  if (--c->handles == 0 && c->freeing) child_free_now(c);
}

static void child_unref_internal(sl_child_t* c) {
  SL_ASSERT(c->refs > 0);
  if (--c->refs != 0) return;
  SL_ASSERT(c->close_emitted);
  sl__tick_cancel(&c->tick);
  c->freeing = 1;
  if (c->timer_init) uv_close((uv_handle_t*)&c->timer, handle_closed);
  if (c->handles == 0) child_free_now(c);
}

void sl_child_ref(sl_child_t* c) {
  SL_ASSERT(c->refs > 0);
  c->refs++;
}

void sl_child_unref(sl_child_t* c) { child_unref_internal(c); }

/* --- spawning ------------------------------------------------------------------- */

static sl_child_t* child_new(const char* file, const sl_spawn_opts_t* o) {
  sl_child_t* c = sl__calloc(1, sizeof *c);
  if (c == NULL || (c->file = sl__strdup(file)) == NULL) {
    sl__free(c);
    return NULL;
  }
  c->refs = 1;
  c->pidfd = -1;
  c->exit_code = -1;
  sl__tick_init(&c->tick, child_process);
  sl__queue_init(&c->live);
  c->kill_signal = o->kill_signal ? o->kill_signal : SIGTERM;
  c->timeout_ms = o->timeout_ms;
  c->grace_ms = o->kill_grace_ms ? o->kill_grace_ms : CHILD_KILL_GRACE_MS;
  c->drain_ms = o->close_drain_ms ? o->close_drain_ms : CHILD_DRAIN_MS;
  return c;
}

static void child_set_error(sl_child_t* c, int err) {
  if (c->spawn_err != 0) return;
  c->spawn_err = err;
  c->errmsg = sl__errmsg_sys(err, "spawn %s", c->file);
}

int sl__child_spawn(const char* file, const char* const* argv,
                    const sl_spawn_opts_t* o, const char* const* extra_env,
                    const int* extra, sl_child_t** out) {
  static const sl_spawn_opts_t defaults;
  if (o == NULL) o = &defaults;
  int rc = sl__spawn_check_opts(file, o);
  sl_child_t* c = rc == 0 ? child_new(file, o) : NULL;
  int fds[3];
  if (c != NULL)
    rc = sl__spawn_raw(file, argv, o, extra_env, extra, &c->pid, fds);
  for (int i = 0; extra != NULL && i < SL__CHILD_EXTRA_FDS; i++)
    if (extra[i] >= 0) close(extra[i]);
  if (c == NULL) return rc != 0 ? rc : SL_ENOMEM;
  if (rc == 0) {
    c->pgid = c->pid;
    rc = child_watch(c);
    int wrc = child_wrap_stdio(c, fds, o->high_water_mark);
    if (rc == 0) rc = wrc;
    if (c->timeout_ms != 0 && !c->reaped) timer_start(c, c->timeout_ms);
  }
  if (rc != 0) child_set_error(c, rc);
  if (c->pid == 0) child_failed_stdio(c, o, rc);
  sl__tick_schedule(&c->tick);
  *out = c;
  return 0;
}

int sl_spawn(const char* file, const char* const* argv,
             const sl_spawn_opts_t* o, sl_child_t** out) {
  if (o != NULL && o->ipc) return sl_fork(file, argv, o, out);
  return sl__child_spawn(file, argv, o, NULL, NULL, out);
}

/* --- accessors, kill, channel ------------------------------------------------- */

pid_t sl_child_pid(const sl_child_t* c) { return c->pid; }
sl_stream_t* sl_child_stdin(const sl_child_t* c) { return c->stdio[0]; }
sl_stream_t* sl_child_stdout(const sl_child_t* c) { return c->stdio[1]; }
sl_stream_t* sl_child_stderr(const sl_child_t* c) { return c->stdio[2]; }
sl_channel_t* sl_child_channel(const sl_child_t* c) { return c->channel; }

int sl_child_kill(sl_child_t* c, int sig) {
  if (sig < 0 || sig >= NSIG) return SL_EINVAL;
  if (c->pid == 0 || c->reaped) return SL_ESRCH;
  return kill(c->pid, sig ? sig : SIGTERM) == 0 ? 0 : -errno;
}

/* The group outlives its leader while a grandchild is in it, so this works
 * after the exit too (until the child is freed). */
int sl_child_kill_tree(sl_child_t* c, int sig) {
  if (sig < 0 || sig >= NSIG) return SL_EINVAL;
  if (c->pgid <= 1) return SL_ESRCH;
  return kill(-c->pgid, sig ? sig : SIGTERM) == 0 ? 0 : -errno;
}

int sl__child_kill_tree_grace(sl_child_t* c, int sig) {
  if (c->pgid <= 1) return SL_ESRCH;
  return sl__group_kill(c->pgid, sig ? sig : c->kill_signal, c->grace_ms);
}

static void on_channel_event(void* owner, const sl_child_event_t* ev) {
  sl_child_t* c = owner;
  if (ev->type == SL_CHILD_DISCONNECT) {
    c->channel_done = 1;
    sl__tick_schedule(&c->tick);
  }
  int mine = !c->close_emitted && sl__emitter_has(&c->events, ev->type);
  /* A descriptor nobody listens for is closed here, not leaked. */
  if (ev->type == SL_CHILD_MESSAGE && ev->msg->fd >= 0 && !mine &&
      !sl__channel_has_listener(c->channel, SL_CHILD_MESSAGE))
    close(ev->msg->fd);
  if (mine) sl__child_emit(c, ev);
}

void sl__child_attach_channel(sl_child_t* c, sl_channel_t* ch) {
  SL_ASSERT(c->channel == NULL && ch != NULL);
  c->channel = ch;
  c->channel_done = 0;
  sl__channel_set_owner(ch, on_channel_event, c);
}

int sl_child_send(sl_child_t* c, const char* data, size_t len, int fd) {
  if (c->channel == NULL) return SL_EIPCCLOSED;
  return sl_channel_send(c->channel, data, len, fd);
}

int sl_child_sendf(sl_child_t* c, const char* fmt, ...) {
  if (c->channel == NULL) return SL_EIPCCLOSED;
  va_list ap;
  va_start(ap, fmt);
  int rc = sl_channel_vsendf(c->channel, fmt, ap);
  va_end(ap);
  return rc;
}
