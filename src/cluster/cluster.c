/* Cluster: roles and lifecycle. The primary's side: forking workers by
 * re-executing this binary with SLUICE_WORKER_ID, an IPC channel and a
 * control socket (primary_net.c); worker events in Node's order; the
 * restart policy with backoff; the heartbeat that catches hung workers and
 * carries their load reports; graceful stop of one worker (rolling
 * restart) or all (shutdown) with SIGTERM and SIGKILL deadlines; SIGINT,
 * SIGTERM and SIGHUP. The worker's side: role, id, "online", the answer to
 * each ping, exit when the channel to the primary closes, graceful
 * shutdown on SIGTERM or the primary's "shutdown". Internal messages are
 * JSON objects with a "sluice_cluster" key. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "cluster/cluster_int.h"

#define DEF_BACKOFF_MS 100
#define DEF_MULTIPLIER 1.5
#define DEF_BACKOFF_MAX_MS 10000
#define DEF_HEALTHY_MS 5000
#define DEF_FATAL_CODE 78
/* 60 s: a 1 GiB download at 20 MB/s finishes; below systemd's 90 s stop
 * timeout, so that a cut is reported by us rather than a SIGKILL from
 * outside. */
#define DEF_SHUTDOWN_MS 60000
/* Past the deadline of a rolling restart, how often a worker that is still
 * sending is looked at again. */
#define DRAIN_PROGRESS_MS 1000
#define DEF_HEARTBEAT_MS 1000
#define DEF_HEARTBEAT_TIMEOUT_MS 5000
#define DEF_RESTART_TIMEOUT_MS 10000
#define TERM_FALLBACK_MS 1000 /* SIGTERM after the "shutdown" message */
#define LAG_PROBE_MS 100
#define MAX_ENV 64

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
  sl__tick_t done_tick;
  uv_signal_t* sig[3]; /* allocated: a restarted cluster's new ones may
                          start before the old ones finished closing */
  int sig_on;
  sl_timer_t* heartbeat;
} C;

/* The rolling restart under way. */
static struct {
  int active;
  void (*cb)(int err, void* arg);
  void* arg;
  int* ids; /* the workers to replace, by id */
  size_t n, next;
  sl_worker_t* old;
  sl_worker_t* repl;
  int old_listened;  /* the old worker was listening: wait for the same */
  sl_timer_t* timer;
  int err;           /* the restart stops with it */
  int ending;        /* the callback is due from the tick */
  sl__tick_t tick;
} R;

static struct {
  int checked;
  int id;
  sl_channel_t* ch;
  void (*shut_cb)(void*);
  void* shut_arg;
  int shutting;
  int sig_on;
  uv_signal_t sig;
  uv_timer_t lag;
  uint64_t lag_due_ms;
  double lag_max_ms;
} W;

sl_cluster_stats_t* sl__cluster_st = &C.st;

static int cluster_fork(const char* const* extra, int slot,
                        sl_worker_t** out);
static void restart_step(void);

/* --- worker side ---------------------------------------------------------- */

static void on_primary_gone(sl_channel_t* ch, const sl_child_event_t* ev,
                            void* arg) {
  (void)ch;
  (void)ev;
  (void)arg;
  if (!W.shutting) exit(0); /* else the worker ends when its loop empties */
}

/* Runs once, from the loop (SIGTERM or the primary's "shutdown"), as
 * Node's worker.disconnect(): the registered callback first, then every
 * cluster server still open closes gracefully, and the channel to the
 * primary closes, so that sl_run() returns once the in-flight work is
 * done. A worker with neither a callback nor a server dies of SIGTERM. */
static void worker_shutdown(void) {
  if (W.shutting) return;
  W.shutting = 1;
  if (W.shut_cb != NULL) W.shut_cb(W.shut_arg);
  if (sl__wnet_shutdown_all() == 0 && W.shut_cb == NULL) {
    if (W.sig_on) uv_signal_stop(&W.sig);
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
    return;
  }
  uv_timer_stop(&W.lag);
  if (W.ch != NULL) sl_channel_disconnect(W.ch);
}

static void on_worker_sigterm(uv_signal_t* h, int signum) {
  (void)h;
  (void)signum;
  worker_shutdown();
}

/* The answer to a ping: this worker's load. */
static void send_pong(void) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf,
                   "{\"sluice_cluster\":\"pong\",\"requests\":%llu,"
                   "\"connections\":%llu,\"accepted\":%llu,\"rss\":%llu,"
                   "\"lag_ms\":%.3f,\"bytes\":%llu,\"dover\":%llu,"
                   "\"dsum_ns\":%llu",
                   (unsigned long long)sl__load.requests,
                   (unsigned long long)sl__load.connections,
                   (unsigned long long)sl__load.accepted,
                   (unsigned long long)sl_rss(), W.lag_max_ms,
                   (unsigned long long)sl__load.bytes_sent,
                   (unsigned long long)sl__load.duration_over,
                   (unsigned long long)sl__load.duration_sum_ns);
  /* Flat keys (r1..r5, d0..d11): the channel's JSON reader has no
   * arrays, and the figures fit one small message. */
  for (int i = 0; i < 5; i++)
    n += snprintf(buf + n, sizeof buf - (size_t)n, ",\"r%d\":%llu", i + 1,
                  (unsigned long long)sl__load.responses[i]);
  for (int i = 0; i < SL_DURATION_BUCKETS; i++)
    n += snprintf(buf + n, sizeof buf - (size_t)n, ",\"d%d\":%llu", i,
                  (unsigned long long)sl__load.duration_buckets[i]);
  n += snprintf(buf + n, sizeof buf - (size_t)n, "}");
  W.lag_max_ms = 0;
  sl_channel_send(W.ch, buf, (size_t)n, -1);
}

/* Event-loop lag: how late a repeating timer fires. */
static void on_lag_probe(uv_timer_t* t) {
  uint64_t now = uv_hrtime();
  if (W.lag_due_ms != 0) {
    double late = (double)now / 1e6 - (double)W.lag_due_ms;
    if (late > W.lag_max_ms) W.lag_max_ms = late;
  }
  W.lag_due_ms = now / 1000000 + LAG_PROBE_MS;
  (void)t;
}

static void on_primary_msg(sl_channel_t* ch, const sl_child_event_t* ev,
                           void* arg) {
  (void)ch;
  (void)arg;
  char cmd[32];
  const sl_message_t* m = ev->msg;
  if (sl_json_get_string(m->data, m->len, "sluice_cluster", cmd,
                         sizeof cmd) != 0)
    return;
  if (strcmp(cmd, "shutdown") == 0) worker_shutdown();
  else if (strcmp(cmd, "ping") == 0) send_pong();
}

static void worker_check(void) {
  if (W.checked) return;
  W.checked = 1;
  sl__wnet_install();
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
  uv_timer_init(sl__loop(), &W.lag);
  uv_timer_start(&W.lag, on_lag_probe, LAG_PROBE_MS, LAG_PROBE_MS);
  uv_unref((uv_handle_t*)&W.lag);
  if (uv_signal_init(sl__loop(), &W.sig) == 0 &&
      uv_signal_start(&W.sig, on_worker_sigterm, SIGTERM) == 0) {
    uv_unref((uv_handle_t*)&W.sig);
    W.sig_on = 1;
  }
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
  return 0;
}

/* --- primary: setup, events ----------------------------------------------- */

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
  if (C.o.heartbeat_interval_ms == 0)
    C.o.heartbeat_interval_ms = DEF_HEARTBEAT_MS;
  if (C.o.heartbeat_timeout_ms == 0)
    C.o.heartbeat_timeout_ms = DEF_HEARTBEAT_TIMEOUT_MS;
  if (C.o.restart_timeout_ms == 0)
    C.o.restart_timeout_ms = DEF_RESTART_TIMEOUT_MS;
  if (C.o.heartbeat_timeout_ms <= C.o.heartbeat_interval_ms) {
    fprintf(stderr, "sluice: cluster: heartbeat_timeout_ms (%llu) must be "
            "longer than heartbeat_interval_ms (%llu)\n",
            (unsigned long long)C.o.heartbeat_timeout_ms,
            (unsigned long long)C.o.heartbeat_interval_ms);
    C.configured = 0;
    return SL_EINVAL;
  }
  if (C.o.sched == SL_SCHED_DEFAULT) C.o.sched = SL_SCHED_REUSEPORT;
  C.st.target = resolve_workers(C.o.workers);
  C.configured = 1;
  return 0;
}

sl__queue_t* sl__cluster_workers_queue(void) {
  cluster_init();
  return &C.workers;
}

sl_cluster_sched_t sl__cluster_sched(void) {
  return C.o.sched == SL_SCHED_DEFAULT ? SL_SCHED_REUSEPORT : C.o.sched;
}

int sl_cluster_sched_parse(const char* name, sl_cluster_sched_t* out) {
  static const char* const names[] = {"reuseport", "rr", "shared"};
  for (int i = 0; i < 3; i++)
    if (name != NULL && strcmp(name, names[i]) == 0) {
      *out = (sl_cluster_sched_t)(SL_SCHED_REUSEPORT + i);
      return 0;
    }
  return SL_EINVAL;
}

const char* sl_cluster_sched_name(sl_cluster_sched_t s) {
  switch (s) {
    case SL_SCHED_RR: return "rr";
    case SL_SCHED_SHARED: return "shared";
    default: return "reuseport";
  }
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
  SL_ASSERT(type < SL__CLUSTER_EV_COUNT && cb != NULL);
  return sl__emitter_add(&C.em, type, (sl__fn)cb, arg, 0);
}

int sl_cluster_off(sl_cluster_event_type_t type, sl_cluster_cb cb,
                   void* arg) {
  return sl__emitter_off(&C.em, type, (sl__fn)cb, arg);
}

/* Events in Node's order whatever the order the two sockets deliver in:
 * FORK, then ONLINE, then LISTENING. */
static void emit_fork(sl_worker_t* w) {
  if (w->forked_emitted) return;
  w->forked_emitted = 1;
  sl__tick_cancel(&w->fork_tick);
  sl_cluster_event_t ev = {.type = SL_CLUSTER_FORK};
  emit(w, &ev);
}

static void on_fork_tick(sl__tick_t* t) {
  emit_fork(sl__container_of(t, sl_worker_t, fork_tick));
}

static void emit_online(sl_worker_t* w) {
  if (w->online_emitted) return;
  emit_fork(w);
  w->online_emitted = 1;
  if (w->state < SL__W_ONLINE) w->state = SL__W_ONLINE;
  sl_cluster_event_t ev = {.type = SL_CLUSTER_ONLINE};
  emit(w, &ev);
}

void sl__cluster_worker_listening(sl_worker_t* w, int port) {
  emit_online(w);
  if (!w->pinged) { /* it runs the worker side; its "online" may not be out */
    w->pinged = 1;
    w->last_pong_ms = sl_now_ms();
  }
  w->ever_listened = 1;
  if (w->state < SL__W_LISTENING) w->state = SL__W_LISTENING;
  sl_cluster_event_t ev = {.type = SL_CLUSTER_LISTENING, .port = port};
  emit(w, &ev);
  if (R.active && w == R.repl) sl__tick_schedule(&R.tick);
}

/* --- primary: restart policy ---------------------------------------------- */

static void respawn_after(uint64_t delay_ms);

static void respawn_fire(sl_timer_t* t, void* arg) {
  (void)t;
  respawn_t* r = arg;
  sl__queue_remove(&r->node);
  sl__free(r);
  if (C.shutting) return;
  C.st.restarts++;
  int rc = cluster_fork(NULL, -1, NULL);
  if (rc == 0) return;
  C.st.restarts--;
  fprintf(stderr, "sluice: cluster: fork of a replacement failed: %s; "
          "trying again in %llu ms\n", sl_strerror(rc),
          (unsigned long long)C.o.backoff_max_ms);
  respawn_after(C.o.backoff_max_ms);
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

static const char* exit_reason(const sl_worker_t* w,
                               const sl_child_event_t* ev) {
  if (w->stop_reason != NULL) return w->stop_reason;
  if (ev->exit_code == C.o.fatal_exit_code) return "fatal";
  if (ev->exit_code == 0) return "exit";
  return "crash";
}

static int should_respawn(const sl_worker_t* w, const char* reason) {
  return !C.o.no_restart && !C.shutting && !w->no_respawn &&
         strcmp(reason, "fatal") != 0;
}

/* --- primary: workers ----------------------------------------------------- */

static int restart_covers(const sl_worker_t* w);
static void restart_worker_gone(sl_worker_t* w);
static void shutdown_check(void);
static void stop_worker(sl_worker_t* w, const char* reason);

/* The HTTP figures of a pong; absent keys (an older worker) stay 0. */
static void store_histogram(sl_worker_load_t* l, const sl_message_t* m) {
  int64_t v;
  char key[8];
  if (sl_json_get_int(m->data, m->len, "bytes", &v) == 0)
    l->bytes_sent = (uint64_t)v;
  if (sl_json_get_int(m->data, m->len, "dover", &v) == 0)
    l->duration_over = (uint64_t)v;
  if (sl_json_get_int(m->data, m->len, "dsum_ns", &v) == 0)
    l->duration_sum_s = (double)v / 1e9;
  for (int i = 0; i < 5; i++) {
    snprintf(key, sizeof key, "r%d", i + 1);
    if (sl_json_get_int(m->data, m->len, key, &v) == 0)
      l->responses[i] = (uint64_t)v;
  }
  for (int i = 0; i < SL_DURATION_BUCKETS; i++) {
    snprintf(key, sizeof key, "d%d", i);
    if (sl_json_get_int(m->data, m->len, key, &v) == 0)
      l->duration_buckets[i] = (uint64_t)v;
  }
}

static void store_load(sl_worker_t* w, const sl_message_t* m) {
  int64_t v;
  double lag = 0;
  sl_worker_load_t* l = &w->load;
  if (sl_json_get_int(m->data, m->len, "requests", &v) == 0)
    l->requests = (uint64_t)v;
  if (sl_json_get_int(m->data, m->len, "connections", &v) == 0)
    l->connections = (uint64_t)v;
  if (sl_json_get_int(m->data, m->len, "accepted", &v) == 0)
    l->accepted = (uint64_t)v;
  if (sl_json_get_int(m->data, m->len, "rss", &v) == 0)
    l->rss_bytes = (uint64_t)v;
  if (sl_json_get_number(m->data, m->len, "lag_ms", &lag) == 0)
    l->loop_lag_ms = lag;
  store_histogram(l, m);
  l->at_ms = sl_now_ms();
  w->have_load = 1;
  w->last_pong_ms = l->at_ms;
}

static void on_worker_message(sl_worker_t* w, const sl_message_t* m) {
  const char* v;
  size_t vlen;
  sl_cluster_event_t ev = {.msg = m};
  if (sl__json_find(m->data, m->len, "sluice_cluster", &v, &vlen) != 0) {
    emit_online(w); /* it speaks: it is online, whatever came first */
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
    emit_online(w);
    w->pinged = 1; /* it runs the worker side: it answers pings */
    w->last_pong_ms = sl_now_ms();
  } else if (strcmp(cmd, "pong") == 0) {
    store_load(w, m);
  } else if (strcmp(cmd, "listening") == 0 &&
             sl_json_get_int(m->data, m->len, "port", &port) == 0 &&
             port >= 0 && port <= 65535) {
    sl__cluster_worker_listening(w, (int)port);
  } /* else an unknown or malformed internal message: ignored */
}

static void timers_stop(sl_worker_t* w) {
  if (w->term_timer != NULL) sl_timer_stop(w->term_timer);
  if (w->kill_timer != NULL) sl_timer_stop(w->kill_timer);
  w->term_timer = w->kill_timer = NULL;
}

/* The heartbeat and the listening sockets live while there are workers
 * (or replacements due). */
static void idle_check(void) {
  if (!sl__queue_empty(&C.workers) || !sl__queue_empty(&C.respawns))
    return;
  if (C.heartbeat != NULL) sl_timer_stop(C.heartbeat);
  C.heartbeat = NULL;
  sl__pnet_close_all();
}

static void on_worker_close(sl_worker_t* w, const sl_child_event_t* ce) {
  sl__queue_remove(&w->node);
  sl__tick_cancel(&w->fork_tick);
  timers_stop(w);
  w->state = SL__W_DEAD;
  sl__pnet_detach(w, 1);
  C.st.alive--;
  C.st.exited++;
  const char* reason = exit_reason(w, ce);
  if (strcmp(reason, "fatal") == 0) C.st.fatal++;
  if (strcmp(reason, "crash") == 0) C.st.crashes++;
  if (w->retired) C.st.retired++;
  int respawn = should_respawn(w, reason) && !restart_covers(w);
  uint64_t delay = respawn ? next_delay(w) : 0;
  sl_cluster_event_t ev = {.type = SL_CLUSTER_EXIT,
                           .exit_code = ce->exit_code,
                           .term_signal = ce->term_signal,
                           .respawn = respawn,
                           .restarts = C.st.restarts + (uint64_t)respawn,
                           .reason = reason};
  emit_fork(w);
  emit(w, &ev);
  restart_worker_gone(w);
  sl__free(w);
  if (respawn && !C.shutting) respawn_after(delay); /* unless the listener
                                                     shut down */
  idle_check();
  shutdown_check();
}

/* The channel closed: the worker is leaving (its own shutdown, a crash, or
 * ours): no more connections for it, no heartbeat. */
static void on_worker_disconnect(sl_worker_t* w, sl_cluster_event_t* ev) {
  w->disconnected = 1;
  if (w->state < SL__W_DRAINING) w->state = SL__W_DRAINING;
  sl__pnet_detach(w, 0);
  emit_fork(w);
  emit(w, ev);
}

static void worker_event(sl_child_t* c, const sl_child_event_t* ce,
                         void* arg) {
  (void)c;
  sl_worker_t* w = arg;
  sl_cluster_event_t ev = {.type = SL_CLUSTER_DISCONNECT};
  switch (ce->type) {
    case SL_CHILD_MESSAGE: on_worker_message(w, ce->msg); break;
    case SL_CHILD_DISCONNECT: on_worker_disconnect(w, &ev); break;
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

static int spawn_worker(sl_worker_t* w, const char* const* extra) {
  char idenv[48], ctlenv[48];
  const char* env[MAX_ENV + 3];
  int n = 0;
  snprintf(idenv, sizeof idenv, "SLUICE_WORKER_ID=%d", w->id);
  snprintf(ctlenv, sizeof ctlenv, "SLUICE_CLUSTER_FD=%d",
           SL__CONTROL_CHILD_FD);
  env[n++] = idenv;
  env[n++] = ctlenv;
  for (int i = 0; extra != NULL && extra[i] != NULL && n < MAX_ENV; i++)
    env[n++] = extra[i];
  env[n] = NULL;
  int ctl;
  int rc = sl__pnet_attach(w, &ctl);
  if (rc != 0) return rc;
  sl_spawn_opts_t so = {.env = env, .env_mode = SL_ENV_ADD};
  for (int i = 0; i < 3; i++) so.stdio[i].kind = SL_STDIO_INHERIT;
  const char* const* argv = C.o.argv;
  if (argv == NULL) argv = (const char* const*)self_argv();
  if (C.o.entry == NULL && argv == NULL) {
    close(ctl);
    rc = SL_ENOENT;
  } else {
    rc = sl__fork_ex("/proc/self/exe", argv, &so, C.o.entry, ctl,
                     &w->child);
  }
  if (rc != 0) sl__pnet_detach(w, 1);
  return rc;
}

/* The lowest slot no live worker uses. */
static int free_slot(void) {
  for (int s = 0;; s++) {
    int used = 0;
    for (sl__queue_t* q = C.workers.next; q != &C.workers && !used;
         q = q->next)
      used = sl__container_of(q, sl_worker_t, node)->slot == s;
    if (!used) return s;
  }
}

static int cluster_fork(const char* const* extra, int slot,
                        sl_worker_t** out) {
  sl_worker_t* w = sl__calloc(1, sizeof *w);
  if (w == NULL) return SL_ENOMEM;
  w->id = ++C.next_id;
  w->slot = slot >= 0 ? slot : free_slot();
  int rc = spawn_worker(w, extra);
  if (rc != 0) {
    sl__free(w);
    return rc;
  }
  w->pid = sl_child_pid(w->child);
  w->started_ms = sl_now_ms();
  for (int t = 0; t < SL__CHILD_EV_COUNT; t++)
    sl_child_on(w->child, t, worker_event, w);
  sl__queue_insert_tail(&C.workers, &w->node);
  C.st.forked++;
  C.st.alive++;
  sl__tick_init(&w->fork_tick, on_fork_tick);
  sl__tick_schedule(&w->fork_tick);
  if (out != NULL) *out = w;
  return 0;
}

/* --- primary: heartbeat --------------------------------------------------- */

static void on_heartbeat(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  static const char ping[] = "{\"sluice_cluster\":\"ping\"}";
  uint64_t now = sl_now_ms();
  for (sl__queue_t* q = C.workers.next; q != &C.workers; q = q->next) {
    sl_worker_t* w = sl__container_of(q, sl_worker_t, node);
    if (!w->pinged || w->disconnected || w->stop_reason != NULL) continue;
    if (now - w->last_pong_ms > C.o.heartbeat_timeout_ms) {
      fprintf(stderr, "sluice: worker %d (pid %d) did not answer for %llu "
              "ms: killed\n", w->id, (int)w->pid,
              (unsigned long long)(now - w->last_pong_ms));
      w->stop_reason = "hung";
      C.st.hung++;
      sl_child_kill_tree(w->child, SIGKILL);
      continue;
    }
    sl_child_send(w->child, ping, sizeof ping - 1, -1);
  }
}

static void heartbeat_start(void) {
  if (C.heartbeat != NULL || C.o.no_heartbeat) return;
  C.heartbeat = sl_timer_start(C.o.heartbeat_interval_ms,
                               C.o.heartbeat_interval_ms, on_heartbeat, NULL);
  if (C.heartbeat != NULL) sl__timer_unref(C.heartbeat);
}

int sl_cluster_fork(const sl_cluster_fork_opts_t* o, sl_worker_t** out) {
  if (out != NULL) *out = NULL;
  if (!sl_cluster_is_primary() || C.shutting) return SL_EINVAL;
  if (!C.configured) sl_cluster_setup(NULL);
  heartbeat_start();
  return cluster_fork(o != NULL ? o->env : NULL, -1, out);
}

static void on_signal(uv_signal_t* h, int signum) {
  (void)h;
  if (signum == SIGHUP)
    sl_cluster_restart(C.o.on_restart, C.o.on_restart_arg);
  else sl_cluster_shutdown(NULL, NULL);
}

static void signals_start(void) {
  int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) {
    if ((C.sig[i] = sl__malloc(sizeof *C.sig[i])) == NULL) continue;
    uv_signal_init(sl__loop(), C.sig[i]);
    uv_signal_start(C.sig[i], on_signal, sigs[i]);
    uv_unref((uv_handle_t*)C.sig[i]);
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
  if (w->stop_reason == NULL) w->stop_reason = "disconnect";
  w->state = SL__W_DRAINING;
  sl__pnet_detach(w, 0);
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

int sl_worker_load(const sl_worker_t* w, sl_worker_load_t* out) {
  if (!w->have_load) {
    memset(out, 0, sizeof *out);
    return SL_ENOENT;
  }
  *out = w->load;
  return 0;
}

const char* sl_worker_state(const sl_worker_t* w) {
  static const char* const names[] = {"starting", "online", "listening",
                                      "draining", "dead"};
  return names[w->state];
}

size_t sl_cluster_workers(sl_worker_t** out, size_t max) {
  size_t n = 0;
  cluster_init();
  for (sl__queue_t* q = C.workers.next; q != &C.workers; q = q->next, n++)
    if (n < max) out[n] = sl__container_of(q, sl_worker_t, node);
  return n;
}

/* --- primary: stopping workers -------------------------------------------- */

/* 1 if the worker wrote anything since the last look (a client is still
 * reading what it sends). */
static int worker_progressed(sl_worker_t* w) {
  uint64_t now = 0;
  if (!w->written_ok || sl__proc_written(w->pid, &now) != 0) return 0;
  int grew = now > w->written_mark;
  w->written_mark = now;
  return grew;
}

/* Deadline: a rolling restart never cuts a worker that is still sending
 * (the replacement already serves; a stalled client is the HTTP server's
 * send timeout's business), so it looks again while the bytes grow. A
 * shutdown's deadline is the operator's: it holds. What a kill cuts is
 * said, and counted in the stats. */
static void on_kill_deadline(sl_timer_t* t, void* arg) {
  (void)t;
  sl_worker_t* w = arg;
  w->kill_timer = NULL;
  if (w->retired && !C.shutting && worker_progressed(w)) {
    w->kill_timer = sl_timer_start(DRAIN_PROGRESS_MS, 0, on_kill_deadline, w);
    w->extended_ms += DRAIN_PROGRESS_MS;
    if (w->kill_timer != NULL) return;
  }
  int conns = sl__proc_tcp_connections(w->pid);
  if (conns < 0) conns = 0;
  C.st.cut++;
  C.st.cut_connections += (uint64_t)conns;
  fprintf(stderr, "sluice: worker %d (pid %d) still busy %.1f s after it "
          "was told to stop (%s): killed, %d connection%s cut\n", w->id,
          (int)w->pid,
          (double)(C.o.shutdown_timeout_ms + w->extended_ms) / 1000.0,
          w->stop_reason ? w->stop_reason : "stop", conns,
          conns == 1 ? "" : "s");
  sl_child_kill_tree(w->child, SIGKILL);
}

/* The fallback for a worker that did not act on the "shutdown" message
 * (no callback registered, or no channel open): SIGTERM. */
static void on_term_fallback(sl_timer_t* t, void* arg) {
  (void)t;
  sl_worker_t* w = arg;
  w->term_timer = NULL;
  sl_child_kill(w->child, SIGTERM);
}

/* Graceful stop of one worker: no more connections for it, the
 * "shutdown" message, SIGTERM after 1 s, SIGKILL at the deadline. */
static void stop_worker(sl_worker_t* w, const char* reason) {
  static const char msg[] = "{\"sluice_cluster\":\"shutdown\"}";
  if (w->stop_reason == NULL) w->stop_reason = reason;
  w->retired = strcmp(reason, "restart") == 0;
  w->no_respawn = 1;
  w->state = SL__W_DRAINING;
  sl__pnet_detach(w, 0);
  if (sl_child_send(w->child, msg, sizeof msg - 1, -1) < 0)
    sl_child_kill(w->child, SIGTERM);
  uint64_t deadline = C.o.shutdown_timeout_ms;
  timers_stop(w);
  w->written_ok = sl__proc_written(w->pid, &w->written_mark) == 0;
  w->extended_ms = 0;
  if (deadline != SL_CLUSTER_NO_DEADLINE)
    w->kill_timer = sl_timer_start(deadline, 0, on_kill_deadline, w);
  w->term_timer = sl_timer_start(deadline < TERM_FALLBACK_MS
                                     ? deadline / 2
                                     : TERM_FALLBACK_MS,
                                 0, on_term_fallback, w);
}

static void signal_closed(uv_handle_t* h) { sl__free(h); }

static void shutdown_done(sl__tick_t* t) {
  (void)t;
  void (*cb)(void*) = C.shut_cb;
  void* arg = C.shut_arg;
  if (C.sig_on) {
    for (int i = 0; i < 3; i++)
      if (C.sig[i] != NULL) uv_close((uv_handle_t*)C.sig[i], signal_closed);
    memset(C.sig, 0, sizeof C.sig);
    C.sig_on = 0;
  }
  if (C.heartbeat != NULL) sl_timer_stop(C.heartbeat);
  C.heartbeat = NULL;
  sl__pnet_close_all();
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
  sl__tick_init(&C.done_tick, shutdown_done);
  sl__tick_schedule(&C.done_tick);
}

static void restart_end(int err);

int sl_cluster_shutdown(void (*cb)(void* arg), void* arg) {
  if (!sl_cluster_is_primary()) return SL_EINVAL;
  cluster_init();
  if (C.shutting) return SL_EBUSY;
  if (!C.configured) sl_cluster_setup(NULL);
  C.shutting = 1;
  C.shut_cb = cb;
  C.shut_arg = arg;
  if (R.active) restart_end(SL_ECANCELED);
  while (!sl__queue_empty(&C.respawns)) {
    respawn_t* r = sl__container_of(C.respawns.next, respawn_t, node);
    sl__queue_remove(&r->node);
    sl_timer_stop(r->timer);
    sl__free(r);
  }
  /* The workers' copies of the listening sockets keep serving until each
   * worker closes its server (and drains what waits in the queue). */
  sl__pnet_close_all();
  for (sl__queue_t* q = C.workers.next; q != &C.workers; q = q->next)
    stop_worker(sl__container_of(q, sl_worker_t, node), "shutdown");
  shutdown_check();
  return 0;
}

/* --- primary: rolling restart --------------------------------------------- */

/* The restart ends with `err`: the callback runs from the tick, never
 * inside the call that ended it. The worker being replaced keeps running
 * if its replacement failed. */
static void restart_end(int err) {
  if (R.ending) return;
  if (R.timer != NULL) sl_timer_stop(R.timer);
  R.timer = NULL;
  R.err = err;
  R.ending = 1;
  sl__tick_schedule(&R.tick);
}

static void restart_finish(void) {
  void (*cb)(int, void*) = R.cb;
  void* arg = R.arg;
  int err = R.err;
  sl__tick_cancel(&R.tick);
  sl__free(R.ids);
  memset(&R, 0, sizeof R);
  if (cb != NULL) cb(err, arg);
}

static sl_worker_t* worker_by_id(int id) {
  for (sl__queue_t* q = C.workers.next; q != &C.workers; q = q->next) {
    sl_worker_t* w = sl__container_of(q, sl_worker_t, node);
    if (w->id == id) return w;
  }
  return NULL;
}

/* While a replacement is on its way, the worker it replaces is covered:
 * its death needs no respawn of its own; nor does the death of a
 * replacement whose old worker still serves. */
static int restart_covers(const sl_worker_t* w) {
  if (!R.active || R.ending) return 0;
  return (w == R.old && R.repl != NULL) || (w == R.repl && R.old != NULL);
}

static void restart_worker_gone(sl_worker_t* w) {
  if (!R.active) return;
  if (w == R.old) R.old = NULL;
  if (w == R.repl) {
    R.repl = NULL;
    if (!R.ending) restart_end(SL_ECHILD); /* died before it listened */
  }
  sl__tick_schedule(&R.tick);
}

static void on_restart_timeout(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  R.timer = NULL;
  if (R.repl == NULL) return;
  fprintf(stderr, "sluice: rolling restart: worker %d did not listen "
          "within %llu ms; stopped there\n", R.repl->id,
          (unsigned long long)C.o.restart_timeout_ms);
  R.repl->no_respawn = 1;
  R.repl->stop_reason = "timeout";
  sl_child_kill_tree(R.repl->child, SIGKILL);
  R.repl = NULL;
  restart_end(SL_ETIMEDOUT);
}

static int repl_ready(const sl_worker_t* w) {
  return w->state == SL__W_LISTENING ||
         (!R.old_listened && w->online_emitted && w->state != SL__W_DEAD);
}

/* One step, run from the tick whenever something the restart waits for
 * happened: the replacement listens (retire the old worker), the old
 * worker exited (next one), or the end. */
static void restart_step(void) {
  if (!R.active) return;
  if (R.ending) {
    restart_finish();
    return;
  }
  if (R.repl != NULL) {
    if (!repl_ready(R.repl)) return; /* waiting for it to listen */
    if (R.timer != NULL) sl_timer_stop(R.timer);
    R.timer = NULL;
    R.repl = NULL;
    if (R.old != NULL) stop_worker(R.old, "restart");
  }
  if (R.old != NULL) return; /* waiting for it to exit */
  while (R.next < R.n && (R.old = worker_by_id(R.ids[R.next++])) == NULL)
    continue;
  if (R.old == NULL) {
    restart_end(0);
    return;
  }
  R.old_listened = R.old->ever_listened;
  int rc = cluster_fork(NULL, R.old->slot, &R.repl);
  if (rc != 0) {
    R.old = R.repl = NULL;
    restart_end(rc);
    return;
  }
  R.timer = sl_timer_start(C.o.restart_timeout_ms, 0, on_restart_timeout,
                           NULL);
}

static void restart_tick(sl__tick_t* t) {
  (void)t;
  restart_step();
}

int sl_cluster_restart(void (*cb)(int err, void* arg), void* arg) {
  if (!sl_cluster_is_primary()) return SL_EINVAL;
  cluster_init();
  if (R.active || C.shutting) return SL_EBUSY;
  size_t n = 0;
  for (sl__queue_t* q = C.workers.next; q != &C.workers; q = q->next) n++;
  memset(&R, 0, sizeof R);
  R.ids = sl__calloc(n ? n : 1, sizeof *R.ids);
  if (R.ids == NULL) return SL_ENOMEM;
  for (sl__queue_t* q = C.workers.next; q != &C.workers; q = q->next) {
    sl_worker_t* w = sl__container_of(q, sl_worker_t, node);
    if (w->stop_reason == NULL) R.ids[R.n++] = w->id;
  }
  R.active = 1;
  R.cb = cb;
  R.arg = arg;
  sl__tick_init(&R.tick, restart_tick);
  sl__tick_schedule(&R.tick); /* never inside the call */
  return 0;
}
