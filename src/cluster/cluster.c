/* Cluster: the primary's side (forking workers by re-executing this binary
 * with SLUICE_WORKER_ID and an IPC channel, worker lifecycle events in
 * Node's order, the restart policy with backoff, graceful shutdown with a
 * SIGKILL deadline, SIGINT/SIGTERM handling) and the worker's side (role,
 * id, the internal "online" and "listening" messages, exit when the channel
 * to the primary closes, graceful shutdown on SIGTERM or the primary's
 * internal "shutdown" message). Internal messages are JSON objects with a
 * "sluice_cluster" key. Scheduling is left to SO_REUSEPORT (each worker
 * binds its own socket); rr and shared are not here yet. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "process/process_int.h"

#define DEF_BACKOFF_MS 100
#define DEF_MULTIPLIER 1.5
#define DEF_BACKOFF_MAX_MS 10000
#define DEF_HEALTHY_MS 5000
#define DEF_FATAL_CODE 78
#define DEF_SHUTDOWN_MS 10000
#define TERM_FALLBACK_MS 1000 /* SIGTERM after the "shutdown" message */
#define MAX_ENV 64

struct sl_worker_s {
  sl__queue_t node;
  sl_child_t* child;
  int id;
  pid_t pid;
  uint64_t started_ms;
  int no_respawn; /* disconnected on purpose */
  sl__tick_t fork_tick;
};

typedef struct respawn_s {
  sl__queue_t node;
  sl_timer_t* timer;
} respawn_t;

static struct {
  int inited, configured;
  sl_cluster_opts_t o;
  sl__emitter_t em;
  sl__queue_t workers;
  sl__queue_t respawns;
  int next_id;
  sl_cluster_stats_t st;
  char** argv; /* from /proc/self/cmdline when o.argv is NULL */
  int shutting, done_scheduled;
  void (*shut_cb)(void*);
  void* shut_arg;
  sl_timer_t* kill_timer;
  sl_timer_t* term_timer;
  sl__tick_t done_tick;
  uv_signal_t sig[2];
  int sig_on;
} C;

static struct {
  int checked;
  int id;
  sl_channel_t* ch;
  void (*shut_cb)(void*);
  void* shut_arg;
  int shutting;
  int sig_on;
  uv_signal_t sig;
} W;

static int cluster_fork(const char* const* extra, sl_worker_t** out);

/* --- worker side ---------------------------------------------------------- */

static void on_primary_gone(sl_channel_t* ch, const sl_child_event_t* ev,
                            void* arg) {
  (void)ch;
  (void)ev;
  (void)arg;
  if (!W.shutting) exit(0); /* else the worker ends when its loop empties */
}

/* Runs once, from the loop (SIGTERM or the primary's "shutdown"): without
 * a registered callback the worker dies of SIGTERM as before; with one, the
 * callback closes what it owns and the channel to the primary is closed so
 * that sl_run() returns once the in-flight work is done. */
static void worker_shutdown(void) {
  if (W.shutting) return;
  if (W.shut_cb == NULL) {
    raise(SIGTERM);
    return;
  }
  W.shutting = 1;
  W.shut_cb(W.shut_arg);
  if (W.ch != NULL) sl_channel_disconnect(W.ch);
}

static void on_worker_sigterm(uv_signal_t* h, int signum) {
  (void)h;
  (void)signum;
  worker_shutdown();
}

static void on_primary_msg(sl_channel_t* ch, const sl_child_event_t* ev,
                           void* arg) {
  (void)ch;
  (void)arg;
  char cmd[32];
  const sl_message_t* m = ev->msg;
  if (sl_json_get_string(m->data, m->len, "sluice_cluster", cmd,
                         sizeof cmd) == 0 &&
      strcmp(cmd, "shutdown") == 0)
    worker_shutdown();
}

static void worker_check(void) {
  if (W.checked) return;
  W.checked = 1;
  const char* e = getenv("SLUICE_WORKER_ID");
  if (e == NULL) return;
  W.id = atoi(e) > 0 ? atoi(e) : 1;
  unsetenv("SLUICE_WORKER_ID");
  W.ch = sl_parent();
  if (W.ch == NULL) {
    fprintf(stderr, "sluice: worker %d has no channel to its primary\n", W.id);
    return;
  }
  sl_channel_on(W.ch, SL_CHILD_DISCONNECT, on_primary_gone, NULL);
  sl_channel_on(W.ch, SL_CHILD_MESSAGE, on_primary_msg, NULL);
  static const char online[] = "{\"sluice_cluster\":\"online\"}";
  sl_channel_send(W.ch, online, sizeof online - 1, -1);
}

int sl_cluster_is_primary(void) {
  worker_check();
  return W.id == 0;
}

int sl_cluster_worker_id(void) {
  worker_check();
  return W.id;
}

int sl_cluster_notify_listening(int port) {
  worker_check();
  if (W.id == 0) return SL_EINVAL;
  if (W.ch == NULL) return SL_EIPCCLOSED;
  char buf[80];
  int n = snprintf(buf, sizeof buf,
                   "{\"sluice_cluster\":\"listening\",\"port\":%d}", port);
  int rc = sl_channel_send(W.ch, buf, (size_t)n, -1);
  return rc < 0 ? rc : 0;
}

int sl_cluster_on_shutdown(void (*cb)(void* arg), void* arg) {
  worker_check();
  if (W.id == 0 || cb == NULL) return SL_EINVAL;
  W.shut_cb = cb;
  W.shut_arg = arg;
  if (W.sig_on) return 0;
  int rc = uv_signal_init(sl__loop(), &W.sig);
  if (rc == 0) rc = uv_signal_start(&W.sig, on_worker_sigterm, SIGTERM);
  if (rc != 0) return rc;
  uv_unref((uv_handle_t*)&W.sig);
  W.sig_on = 1;
  return 0;
}

/* --- primary: setup, events ---------------------------------------------- */

static void cluster_init(void) {
  if (C.inited) return;
  C.inited = 1;
  sl__queue_init(&C.workers);
  sl__queue_init(&C.respawns);
}

static size_t resolve_workers(int n) {
  if (n > 0) return (size_t)n;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus > 0 ? (size_t)cpus : 1;
}

int sl_cluster_setup(const sl_cluster_opts_t* o) {
  if (!sl_cluster_is_primary()) return SL_EINVAL;
  cluster_init();
  if (C.st.forked != 0 && !sl__queue_empty(&C.workers)) return SL_EBUSY;
  if (o != NULL) C.o = *o;
  else memset(&C.o, 0, sizeof C.o);
  if (C.o.backoff_initial_ms == 0) C.o.backoff_initial_ms = DEF_BACKOFF_MS;
  if (C.o.backoff_multiplier < 1.0) C.o.backoff_multiplier = DEF_MULTIPLIER;
  if (C.o.backoff_max_ms == 0) C.o.backoff_max_ms = DEF_BACKOFF_MAX_MS;
  if (C.o.healthy_uptime_ms == 0) C.o.healthy_uptime_ms = DEF_HEALTHY_MS;
  if (C.o.fatal_exit_code == 0) C.o.fatal_exit_code = DEF_FATAL_CODE;
  if (C.o.shutdown_timeout_ms == 0) C.o.shutdown_timeout_ms = DEF_SHUTDOWN_MS;
  C.st.target = resolve_workers(C.o.workers);
  C.configured = 1;
  return 0;
}

static void invoke(sl__fn cb, void* arg, void* owner, const void* ev) {
  (void)owner;
  ((sl_cluster_cb)cb)((const sl_cluster_event_t*)ev, arg);
}

static void emit(sl_worker_t* w, sl_cluster_event_t* ev) {
  ev->worker = w;
  sl__emitter_emit(&C.em, ev->type, invoke, NULL, ev);
}

int sl_cluster_on(sl_cluster_event_type_t type, sl_cluster_cb cb, void* arg) {
  SL_ASSERT(type < SL_CLUSTER_EV_MAX_ && cb != NULL);
  return sl__emitter_add(&C.em, type, (sl__fn)cb, arg, 0);
}

int sl_cluster_off(sl_cluster_event_type_t type, sl_cluster_cb cb,
                   void* arg) {
  return sl__emitter_off(&C.em, type, (sl__fn)cb, arg);
}

/* --- primary: restart policy --------------------------------------------- */

static void respawn_fire(sl_timer_t* t, void* arg) {
  (void)t;
  respawn_t* r = arg;
  sl__queue_remove(&r->node);
  sl__free(r);
  if (C.shutting) return;
  C.st.restarts++;
  if (cluster_fork(NULL, NULL) != 0) C.st.restarts--;
}

static void respawn_after(uint64_t delay_ms) {
  respawn_t* r = sl__calloc(1, sizeof *r);
  if (r == NULL) return;
  r->timer = sl_timer_start(delay_ms, 0, respawn_fire, r);
  if (r->timer == NULL) {
    sl__free(r);
    return;
  }
  sl__queue_insert_tail(&C.respawns, &r->node);
}

/* The delay before replacing `w`: 0 after a healthy uptime, then growing
 * by the multiplier up to the cap while workers keep dying young. */
static uint64_t next_delay(const sl_worker_t* w) {
  if (sl_now_ms() - w->started_ms >= C.o.healthy_uptime_ms)
    C.st.next_delay_ms = 0;
  uint64_t d = C.st.next_delay_ms;
  double nd = d == 0 ? (double)C.o.backoff_initial_ms
                     : (double)d * C.o.backoff_multiplier;
  C.st.next_delay_ms = nd > (double)C.o.backoff_max_ms ? C.o.backoff_max_ms
                                                       : (uint64_t)nd;
  return d;
}

static int should_respawn(const sl_worker_t* w, const sl_child_event_t* ev) {
  if (ev->exit_code == C.o.fatal_exit_code) C.st.fatal++;
  return !C.o.no_restart && !C.shutting && !w->no_respawn &&
         ev->exit_code != C.o.fatal_exit_code;
}

/* --- primary: workers ----------------------------------------------------- */

static void shutdown_check(void);

static void emit_fork(sl__tick_t* t) {
  sl_worker_t* w = sl__container_of(t, sl_worker_t, fork_tick);
  sl_cluster_event_t ev = {.type = SL_CLUSTER_FORK};
  emit(w, &ev);
}

static void on_worker_message(sl_worker_t* w, const sl_message_t* m) {
  const char* v;
  size_t vlen;
  sl_cluster_event_t ev = {.msg = m};
  if (sl__json_find(m->data, m->len, "sluice_cluster", &v, &vlen) != 0) {
    ev.type = SL_CLUSTER_MESSAGE;
    emit(w, &ev);
    return;
  }
  char cmd[32];
  if (sl_json_get_string(m->data, m->len, "sluice_cluster", cmd,
                         sizeof cmd) != 0)
    return;
  int64_t port = 0;
  if (strcmp(cmd, "online") == 0) {
    ev.type = SL_CLUSTER_ONLINE;
  } else if (strcmp(cmd, "listening") == 0) {
    sl_json_get_int(m->data, m->len, "port", &port);
    ev.type = SL_CLUSTER_LISTENING;
    ev.port = (int)port;
  } else {
    return; /* unknown internal message: ignored */
  }
  ev.msg = NULL;
  emit(w, &ev);
}

static void on_worker_close(sl_worker_t* w, const sl_child_event_t* ce) {
  sl__queue_remove(&w->node);
  sl__tick_cancel(&w->fork_tick);
  C.st.alive--;
  C.st.exited++;
  int respawn = should_respawn(w, ce);
  uint64_t delay = respawn ? next_delay(w) : 0;
  sl_cluster_event_t ev = {.type = SL_CLUSTER_EXIT,
                           .exit_code = ce->exit_code,
                           .term_signal = ce->term_signal,
                           .respawn = respawn,
                           .restarts = C.st.restarts + (uint64_t)respawn};
  emit(w, &ev);
  sl__free(w);
  if (respawn && !C.shutting) respawn_after(delay); /* unless the listener
                                                     shut down */
  shutdown_check();
}

static void worker_event(sl_child_t* c, const sl_child_event_t* ce,
                         void* arg) {
  (void)c;
  sl_worker_t* w = arg;
  sl_cluster_event_t ev = {.type = SL_CLUSTER_DISCONNECT};
  switch (ce->type) {
    case SL_CHILD_MESSAGE: on_worker_message(w, ce->msg); break;
    case SL_CHILD_DISCONNECT: emit(w, &ev); break;
    case SL_CHILD_ERROR:
      fprintf(stderr, "sluice: worker %d: %s\n", w->id,
              ce->message ? ce->message : sl_strerror(ce->err));
      break;
    case SL_CHILD_CLOSE: on_worker_close(w, ce); break;
    default: break;
  }
}

/* This process's argv, for re-executing main. */
static char** self_argv(void) {
  if (C.argv != NULL) return C.argv;
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  char buf[16384];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return NULL;
  buf[n] = '\0';
  int argc = 0;
  for (ssize_t i = 0; i < n; i++) argc += buf[i] == '\0';
  char** v = sl__calloc((size_t)argc + 1, sizeof *v);
  if (v == NULL) return NULL;
  for (int i = 0, off = 0; i < argc; i++) {
    v[i] = sl__strdup(buf + off);
    off += (int)strlen(buf + off) + 1;
  }
  C.argv = v;
  return v;
}

static int spawn_worker(int id, const char* const* extra, sl_child_t** c) {
  char idenv[48];
  const char* env[MAX_ENV + 2];
  int n = 0;
  snprintf(idenv, sizeof idenv, "SLUICE_WORKER_ID=%d", id);
  env[n++] = idenv;
  for (int i = 0; extra != NULL && extra[i] != NULL && n < MAX_ENV; i++)
    env[n++] = extra[i];
  env[n] = NULL;
  sl_spawn_opts_t so = {.env = env, .env_mode = SL_ENV_ADD};
  for (int i = 0; i < 3; i++) so.stdio[i].kind = SL_STDIO_INHERIT;
  const char* const* argv = C.o.argv;
  if (argv == NULL) argv = (const char* const*)self_argv();
  if (C.o.entry != NULL) return sl_fork_entry(C.o.entry, argv, &so, c);
  if (argv == NULL) return SL_ENOENT;
  return sl_fork("/proc/self/exe", argv, &so, c);
}

static int cluster_fork(const char* const* extra, sl_worker_t** out) {
  sl_worker_t* w = sl__calloc(1, sizeof *w);
  if (w == NULL) return SL_ENOMEM;
  w->id = ++C.next_id;
  int rc = spawn_worker(w->id, extra, &w->child);
  if (rc != 0) {
    sl__free(w);
    return rc;
  }
  w->pid = sl_child_pid(w->child);
  w->started_ms = sl_now_ms();
  for (int t = 0; t < SL_CHILD_EV_MAX_; t++)
    sl_child_on(w->child, t, worker_event, w);
  sl__queue_insert_tail(&C.workers, &w->node);
  C.st.forked++;
  C.st.alive++;
  sl__tick_init(&w->fork_tick, emit_fork);
  sl__tick_schedule(&w->fork_tick);
  if (out != NULL) *out = w;
  return 0;
}

int sl_cluster_fork(const sl_cluster_fork_opts_t* o, sl_worker_t** out) {
  if (out != NULL) *out = NULL;
  if (!sl_cluster_is_primary() || C.shutting) return SL_EINVAL;
  if (!C.configured) sl_cluster_setup(NULL);
  return cluster_fork(o != NULL ? o->env : NULL, out);
}

static void on_signal(uv_signal_t* h, int signum) {
  (void)h;
  (void)signum;
  sl_cluster_shutdown(NULL, NULL);
}

static void signals_start(void) {
  int sigs[2] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; i++) {
    uv_signal_init(sl__loop(), &C.sig[i]);
    uv_signal_start(&C.sig[i], on_signal, sigs[i]);
    uv_unref((uv_handle_t*)&C.sig[i]);
  }
  C.sig_on = 1;
}

int sl_cluster_start(const sl_cluster_opts_t* o) {
  int rc = sl_cluster_setup(o);
  if (rc != 0) return rc;
  if (C.o.handle_signals && !C.sig_on) signals_start();
  for (size_t i = 0; i < C.st.target; i++)
    if ((rc = sl_cluster_fork(NULL, NULL)) != 0) return rc;
  return 0;
}

int sl_worker_id(const sl_worker_t* w) { return w->id; }
pid_t sl_worker_pid(const sl_worker_t* w) { return w->pid; }

int sl_worker_send(sl_worker_t* w, const char* data, size_t len) {
  return sl_child_send(w->child, data, len, -1);
}

int sl_worker_kill(sl_worker_t* w, int sig) {
  return sl_child_kill(w->child, sig == 0 ? SIGTERM : sig);
}

void sl_worker_disconnect(sl_worker_t* w) {
  w->no_respawn = 1;
  sl_channel_t* ch = sl_child_channel(w->child);
  if (ch != NULL) sl_channel_disconnect(ch);
}

void sl_cluster_stats(sl_cluster_stats_t* out) {
  if (!sl_cluster_is_primary()) {
    memset(out, 0, sizeof *out);
    return;
  }
  *out = C.st;
}

/* --- primary: shutdown ---------------------------------------------------- */

static void on_kill_deadline(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  C.kill_timer = NULL;
  sl__queue_t* q;
  for (q = C.workers.next; q != &C.workers; q = q->next)
    sl_child_kill_tree(sl__container_of(q, sl_worker_t, node)->child,
                       SIGKILL);
}

/* The fallback for workers that did not act on the "shutdown" message
 * (no callback registered, or no channel open): SIGTERM. */
static void on_term_fallback(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  C.term_timer = NULL;
  sl__queue_t* q;
  for (q = C.workers.next; q != &C.workers; q = q->next)
    sl_child_kill(sl__container_of(q, sl_worker_t, node)->child, SIGTERM);
}

static void signal_closed(uv_handle_t* h) { (void)h; }

static void shutdown_done(sl__tick_t* t) {
  (void)t;
  void (*cb)(void*) = C.shut_cb;
  void* arg = C.shut_arg;
  if (C.sig_on) {
    for (int i = 0; i < 2; i++)
      uv_close((uv_handle_t*)&C.sig[i], signal_closed);
    C.sig_on = 0;
  }
  for (int i = 0; C.argv != NULL && C.argv[i] != NULL; i++)
    sl__free(C.argv[i]);
  sl__free(C.argv);
  C.argv = NULL;
  sl__emitter_clear(&C.em);
  C.shutting = 0;
  C.done_scheduled = 0;
  C.shut_cb = NULL;
  if (cb != NULL) cb(arg);
}

static void shutdown_check(void) {
  if (!C.shutting || C.done_scheduled || !sl__queue_empty(&C.workers))
    return;
  C.done_scheduled = 1;
  if (C.kill_timer != NULL) sl_timer_stop(C.kill_timer);
  C.kill_timer = NULL;
  if (C.term_timer != NULL) sl_timer_stop(C.term_timer);
  C.term_timer = NULL;
  sl__tick_init(&C.done_tick, shutdown_done);
  sl__tick_schedule(&C.done_tick);
}

int sl_cluster_shutdown(void (*cb)(void* arg), void* arg) {
  if (!sl_cluster_is_primary()) return SL_EINVAL;
  cluster_init();
  if (C.shutting) return SL_EBUSY;
  C.shutting = 1;
  C.shut_cb = cb;
  C.shut_arg = arg;
  while (!sl__queue_empty(&C.respawns)) {
    respawn_t* r = sl__container_of(C.respawns.next, respawn_t, node);
    sl__queue_remove(&r->node);
    sl_timer_stop(r->timer);
    sl__free(r);
  }
  static const char msg[] = "{\"sluice_cluster\":\"shutdown\"}";
  sl__queue_t* q;
  for (q = C.workers.next; q != &C.workers; q = q->next) {
    sl_worker_t* w = sl__container_of(q, sl_worker_t, node);
    if (sl_child_send(w->child, msg, sizeof msg - 1, -1) < 0)
      sl_child_kill(w->child, SIGTERM);
  }
  uint64_t deadline =
      C.o.shutdown_timeout_ms ? C.o.shutdown_timeout_ms : DEF_SHUTDOWN_MS;
  if (!sl__queue_empty(&C.workers)) {
    C.kill_timer = sl_timer_start(deadline, 0, on_kill_deadline, NULL);
    C.term_timer = sl_timer_start(deadline < TERM_FALLBACK_MS
                                      ? deadline / 2
                                      : TERM_FALLBACK_MS,
                                  0, on_term_fallback, NULL);
  }
  shutdown_check();
  return 0;
}
