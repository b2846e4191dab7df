/* Cluster, the primary's side: forking workers by re-executing this binary
 * with SLUICE_WORKER_ID, an IPC channel and a control socket
 * (primary_net.c); worker events in Node's order; the restart policy with
 * backoff; the heartbeat that catches hung workers and carries their load
 * reports; graceful stop of one worker (rolling restart) or all
 * (shutdown) with SIGTERM and SIGKILL deadlines; SIGINT, SIGTERM and
 * SIGHUP. The worker's side is worker.c. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "cluster/cluster_int.h"

#define DEF_BACKOFF_MS     100
#define DEF_MULTIPLIER     1.5
#define DEF_BACKOFF_MAX_MS 10000
#define DEF_HEALTHY_MS     5000
#define DEF_FATAL_CODE     78
/* 60 s: a 1 GiB download at 20 MB/s finishes; below systemd's 90 s stop
 * timeout, so that a cut is reported by us rather than a SIGKILL from
 * outside. */
#define DEF_SHUTDOWN_MS 60000
/* Past the deadline of a rolling restart, how often a worker that is still
 * sending is looked at again. */
#define DRAIN_PROGRESS_MS        1000
#define DEF_HEARTBEAT_MS         1000
#define DEF_HEARTBEAT_TIMEOUT_MS 5000
#define DEF_RESTART_TIMEOUT_MS   10000
#define TERM_FALLBACK_MS         1000 /* SIGTERM after the "shutdown" message */
#define MAX_ENV                  64

typedef struct respawn_s {
  sl__queue_t node;
  sl_timer_t* timer;
} respawn_t;

/* This process as the primary: its options, workers and counters. */
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
} primary;

/* The rolling restart under way. */
static struct {
  int active;
  void (*cb)(int err, void* arg);
  void* arg;
  int* ids; /* the workers to replace, by id */
  size_t n, next;
  sl_worker_t* old;
  sl_worker_t* repl;
  int old_listened; /* the old worker was listening: wait for the same */
  sl_timer_t* timer;
  int err;    /* the restart stops with it */
  int ending; /* the callback is due from the tick */
  sl__tick_t tick;
} restart;

sl_cluster_stats_t* sl__cluster_st = &primary.st;

static int cluster_fork(const char* const* extra, int slot, sl_worker_t** out);
static void restart_step(void);

/* --- primary: setup, events ----------------------------------------------- */

static void cluster_init(void) {
  if (primary.inited) return;
  primary.inited = 1;
  sl__queue_init(&primary.workers);
  sl__queue_init(&primary.respawns);
}

static size_t resolve_workers(int n) {
  if (n > 0) return (size_t)n;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus > 0 ? (size_t)cpus : 1;
}

int sl_cluster_setup(const sl_cluster_opts_t* o) {
  if (!sl_cluster_is_primary()) return SL_EINVAL;
  cluster_init();
  if (primary.st.forked != 0 && !sl__queue_empty(&primary.workers))
    return SL_EBUSY;
  if (o != NULL)
    primary.o = *o;
  else
    memset(&primary.o, 0, sizeof primary.o);
  if (primary.o.backoff_initial_ms == 0)
    primary.o.backoff_initial_ms = DEF_BACKOFF_MS;
  if (primary.o.backoff_multiplier < 1.0)
    primary.o.backoff_multiplier = DEF_MULTIPLIER;
  if (primary.o.backoff_max_ms == 0)
    primary.o.backoff_max_ms = DEF_BACKOFF_MAX_MS;
  if (primary.o.healthy_uptime_ms == 0)
    primary.o.healthy_uptime_ms = DEF_HEALTHY_MS;
  if (primary.o.fatal_exit_code == 0)
    primary.o.fatal_exit_code = DEF_FATAL_CODE;
  if (primary.o.shutdown_timeout_ms == 0)
    primary.o.shutdown_timeout_ms = DEF_SHUTDOWN_MS;
  if (primary.o.heartbeat_interval_ms == 0)
    primary.o.heartbeat_interval_ms = DEF_HEARTBEAT_MS;
  if (primary.o.heartbeat_timeout_ms == 0)
    primary.o.heartbeat_timeout_ms = DEF_HEARTBEAT_TIMEOUT_MS;
  if (primary.o.restart_timeout_ms == 0)
    primary.o.restart_timeout_ms = DEF_RESTART_TIMEOUT_MS;
  if (primary.o.heartbeat_timeout_ms <= primary.o.heartbeat_interval_ms) {
    fprintf(stderr,
            "sluice: cluster: heartbeat_timeout_ms (%llu) must be "
            "longer than heartbeat_interval_ms (%llu)\n",
            (unsigned long long)primary.o.heartbeat_timeout_ms,
            (unsigned long long)primary.o.heartbeat_interval_ms);
    primary.configured = 0;
    return SL_EINVAL;
  }
  if (primary.o.sched == SL_SCHED_DEFAULT) primary.o.sched = SL_SCHED_REUSEPORT;
  primary.st.target = resolve_workers(primary.o.workers);
  primary.configured = 1;
  return 0;
}

sl__queue_t* sl__cluster_workers_queue(void) {
  cluster_init();
  return &primary.workers;
}

sl_cluster_sched_t sl__cluster_sched(void) {
  return primary.o.sched == SL_SCHED_DEFAULT ? SL_SCHED_REUSEPORT
                                             : primary.o.sched;
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
    case SL_SCHED_RR:
      return "rr";
    case SL_SCHED_SHARED:
      return "shared";
    default:
      return "reuseport";
  }
}

static void invoke(sl__fn cb, void* arg, void* owner, const void* ev) {
  (void)owner;
  ((sl_cluster_cb)cb)((const sl_cluster_event_t*)ev, arg);
}

static void emit(sl_worker_t* w, sl_cluster_event_t* ev) {
  ev->worker = w;
  sl__emitter_emit(&primary.em, ev->type, invoke, NULL, ev);
}

int sl_cluster_on(sl_cluster_event_type_t type, sl_cluster_cb cb, void* arg) {
  SL_ASSERT(type < SL__CLUSTER_EV_COUNT && cb != NULL);
  return sl__emitter_add(&primary.em, SL__EV_BIT(type), (sl__fn)cb, arg, 0);
}

int sl_cluster_off(sl_cluster_event_type_t type, sl_cluster_cb cb, void* arg) {
  return sl__emitter_off(&primary.em, SL__EV_BIT(type), (sl__fn)cb, arg);
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
  if (restart.active && w == restart.repl) sl__tick_schedule(&restart.tick);
}

/* --- primary: restart policy ---------------------------------------------- */

static void respawn_after(uint64_t delay_ms);

static void respawn_fire(sl_timer_t* t, void* arg) {
  (void)t;
  respawn_t* r = arg;
  sl__queue_remove(&r->node);
  sl__free(r);
  if (primary.shutting) return;
  primary.st.restarts++;
  int rc = cluster_fork(NULL, -1, NULL);
  if (rc == 0) return;
  primary.st.restarts--;
  fprintf(stderr,
          "sluice: cluster: fork of a replacement failed: %s; "
          "trying again in %llu ms\n",
          sl_strerror(rc), (unsigned long long)primary.o.backoff_max_ms);
  respawn_after(primary.o.backoff_max_ms);
}

static void respawn_after(uint64_t delay_ms) {
  respawn_t* r = sl__calloc(1, sizeof *r);
  if (r == NULL) return;
  r->timer = sl_timer_start(delay_ms, 0, respawn_fire, r);
  if (r->timer == NULL) {
    sl__free(r);
    return;
  }
  sl__queue_insert_tail(&primary.respawns, &r->node);
}

/* The delay before replacing `w`: 0 after a healthy uptime, then growing
 * by the multiplier up to the cap while workers keep dying young. */
static uint64_t next_delay(const sl_worker_t* w) {
  if (sl_now_ms() - w->started_ms >= primary.o.healthy_uptime_ms)
    primary.st.next_delay_ms = 0;
  uint64_t d = primary.st.next_delay_ms;
  double nd = d == 0 ? (double)primary.o.backoff_initial_ms
                     : (double)d * primary.o.backoff_multiplier;
  primary.st.next_delay_ms = nd > (double)primary.o.backoff_max_ms
                                 ? primary.o.backoff_max_ms
                                 : (uint64_t)nd;
  return d;
}

static const char* exit_reason(const sl_worker_t* w,
                               const sl_child_event_t* ev) {
  if (w->stop_reason != NULL) return w->stop_reason;
  if (ev->exit_code == primary.o.fatal_exit_code) return "fatal";
  if (ev->exit_code == 0) return "exit";
  return "crash";
}

static int should_respawn(const sl_worker_t* w, const char* reason) {
  return !primary.o.no_restart && !primary.shutting && !w->no_respawn &&
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
  if (sl_json_get_string(m->data, m->len, "sluice_cluster", cmd, sizeof cmd) !=
      0)
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
  if (!sl__queue_empty(&primary.workers) || !sl__queue_empty(&primary.respawns))
    return;
  if (primary.heartbeat != NULL) sl_timer_stop(primary.heartbeat);
  primary.heartbeat = NULL;
  sl__pnet_close_all();
}

static void on_worker_close(sl_worker_t* w, const sl_child_event_t* ce) {
  sl__queue_remove(&w->node);
  sl__tick_cancel(&w->fork_tick);
  timers_stop(w);
  w->state = SL__W_DEAD;
  sl__pnet_detach(w, 1);
  primary.st.alive--;
  primary.st.exited++;
  const char* reason = exit_reason(w, ce);
  if (strcmp(reason, "fatal") == 0) primary.st.fatal++;
  if (strcmp(reason, "crash") == 0) primary.st.crashes++;
  if (w->retired) primary.st.retired++;
  int respawn = should_respawn(w, reason) && !restart_covers(w);
  uint64_t delay = respawn ? next_delay(w) : 0;
  sl_cluster_event_t ev = {.type = SL_CLUSTER_EXIT,
                           .exit_code = ce->exit_code,
                           .term_signal = ce->term_signal,
                           .respawn = respawn,
                           .restarts = primary.st.restarts + (uint64_t)respawn,
                           .reason = reason};
  emit_fork(w);
  emit(w, &ev);
  restart_worker_gone(w);
  sl__free(w);
  if (respawn && !primary.shutting)
    respawn_after(delay); /* unless the listener
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

static void worker_event(sl_child_t* c, const sl_child_event_t* ce, void* arg) {
  (void)c;
  sl_worker_t* w = arg;
  sl_cluster_event_t ev = {.type = SL_CLUSTER_DISCONNECT};
  switch (ce->type) {
    case SL_CHILD_MESSAGE:
      on_worker_message(w, ce->msg);
      break;
    case SL_CHILD_DISCONNECT:
      on_worker_disconnect(w, &ev);
      break;
    case SL_CHILD_ERROR:
      fprintf(stderr, "sluice: worker %d: %s\n", w->id,
              ce->message ? ce->message : sl_strerror(ce->err));
      break;
    case SL_CHILD_CLOSE:
      on_worker_close(w, ce);
      break;
    default:
      break;
  }
}

/* This process's argv, for re-executing main. */
static char** self_argv(void) {
  if (primary.argv != NULL) return primary.argv;
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
  primary.argv = v;
  return v;
}

static int spawn_worker(sl_worker_t* w, const char* const* extra) {
  char idenv[48], ctlenv[48];
  const char* env[MAX_ENV + 3];
  int n = 0;
  snprintf(idenv, sizeof idenv, "SLUICE_WORKER_ID=%d", w->id);
  snprintf(ctlenv, sizeof ctlenv, "SLUICE_CLUSTER_FD=%d", SL__CONTROL_CHILD_FD);
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
  const char* const* argv = primary.o.argv;
  if (argv == NULL) argv = (const char* const*)self_argv();
  if (primary.o.entry == NULL && argv == NULL) {
    close(ctl);
    rc = SL_ENOENT;
  } else {
    rc = sl__fork_ex("/proc/self/exe", argv, &so, primary.o.entry, ctl,
                     &w->child);
  }
  if (rc != 0) sl__pnet_detach(w, 1);
  return rc;
}

/* The lowest slot no live worker uses. */
static int free_slot(void) {
  for (int s = 0;; s++) {
    int used = 0;
    for (sl__queue_t* q = primary.workers.next; q != &primary.workers && !used;
         q = q->next)
      used = sl__container_of(q, sl_worker_t, node)->slot == s;
    if (!used) return s;
  }
}

static int cluster_fork(const char* const* extra, int slot, sl_worker_t** out) {
  sl_worker_t* w = sl__calloc(1, sizeof *w);
  if (w == NULL) return SL_ENOMEM;
  w->id = ++primary.next_id;
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
  sl__queue_insert_tail(&primary.workers, &w->node);
  primary.st.forked++;
  primary.st.alive++;
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
  for (sl__queue_t* q = primary.workers.next; q != &primary.workers;
       q = q->next) {
    sl_worker_t* w = sl__container_of(q, sl_worker_t, node);
    if (!w->pinged || w->disconnected || w->stop_reason != NULL) continue;
    if (now - w->last_pong_ms > primary.o.heartbeat_timeout_ms) {
      fprintf(stderr,
              "sluice: worker %d (pid %d) did not answer for %llu "
              "ms: killed\n",
              w->id, (int)w->pid, (unsigned long long)(now - w->last_pong_ms));
      w->stop_reason = "hung";
      primary.st.hung++;
      sl_child_kill_tree(w->child, SIGKILL);
      continue;
    }
    sl_child_send(w->child, ping, sizeof ping - 1, -1);
  }
}

static void heartbeat_start(void) {
  if (primary.heartbeat != NULL || primary.o.no_heartbeat) return;
  primary.heartbeat =
      sl_timer_start(primary.o.heartbeat_interval_ms,
                     primary.o.heartbeat_interval_ms, on_heartbeat, NULL);
  if (primary.heartbeat != NULL) sl__timer_unref(primary.heartbeat);
}

int sl_cluster_fork(const sl_cluster_fork_opts_t* o, sl_worker_t** out) {
  if (out != NULL) *out = NULL;
  if (!sl_cluster_is_primary() || primary.shutting) return SL_EINVAL;
  if (!primary.configured) sl_cluster_setup(NULL);
  heartbeat_start();
  return cluster_fork(o != NULL ? o->env : NULL, -1, out);
}

static void on_signal(uv_signal_t* h, int signum) {
  (void)h;
  if (signum == SIGHUP)
    sl_cluster_restart(primary.o.on_restart, primary.o.on_restart_arg);
  else
    sl_cluster_shutdown(NULL, NULL);
}

static void signals_start(void) {
  int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) {
    if ((primary.sig[i] = sl__malloc(sizeof *primary.sig[i])) == NULL) continue;
    uv_signal_init(sl__loop(), primary.sig[i]);
    uv_signal_start(primary.sig[i], on_signal, sigs[i]);
    uv_unref((uv_handle_t*)primary.sig[i]);
  }
  primary.sig_on = 1;
}

int sl_cluster_start(const sl_cluster_opts_t* o) {
  int rc = sl_cluster_setup(o);
  if (rc != 0) return rc;
  if (primary.o.handle_signals && !primary.sig_on) signals_start();
  for (size_t i = 0; i < primary.st.target; i++)
    if ((rc = sl_cluster_fork(NULL, NULL)) != 0) return rc;
  return 0;
}

int sl_worker_id(const sl_worker_t* w) { return w->id; }
pid_t sl_worker_pid(const sl_worker_t* w) { return w->pid; }
void sl_worker_set_data(sl_worker_t* w, void* data) { w->data = data; }
void* sl_worker_data(const sl_worker_t* w) { return w->data; }

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
  *out = primary.st;
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
  for (sl__queue_t* q = primary.workers.next; q != &primary.workers;
       q = q->next, n++)
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
  if (w->retired && !primary.shutting && worker_progressed(w)) {
    w->kill_timer = sl_timer_start(DRAIN_PROGRESS_MS, 0, on_kill_deadline, w);
    w->extended_ms += DRAIN_PROGRESS_MS;
    if (w->kill_timer != NULL) return;
  }
  int conns = sl__proc_tcp_connections(w->pid);
  if (conns < 0) conns = 0;
  primary.st.cut++;
  primary.st.cut_connections += (uint64_t)conns;
  fprintf(stderr,
          "sluice: worker %d (pid %d) still busy %.1f s after it "
          "was told to stop (%s): killed, %d connection%s cut\n",
          w->id, (int)w->pid,
          (double)(primary.o.shutdown_timeout_ms + w->extended_ms) / 1000.0,
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
  uint64_t deadline = primary.o.shutdown_timeout_ms;
  timers_stop(w);
  w->written_ok = sl__proc_written(w->pid, &w->written_mark) == 0;
  w->extended_ms = 0;
  if (deadline != SL_CLUSTER_NO_DEADLINE)
    w->kill_timer = sl_timer_start(deadline, 0, on_kill_deadline, w);
  w->term_timer = sl_timer_start(
      deadline < TERM_FALLBACK_MS ? deadline / 2 : TERM_FALLBACK_MS, 0,
      on_term_fallback, w);
}

static void signal_closed(uv_handle_t* h) { sl__free(h); }

static void shutdown_done(sl__tick_t* t) {
  (void)t;
  void (*cb)(void*) = primary.shut_cb;
  void* arg = primary.shut_arg;
  if (primary.sig_on) {
    for (int i = 0; i < 3; i++)
      if (primary.sig[i] != NULL)
        uv_close((uv_handle_t*)primary.sig[i], signal_closed);
    memset(primary.sig, 0, sizeof primary.sig);
    primary.sig_on = 0;
  }
  if (primary.heartbeat != NULL) sl_timer_stop(primary.heartbeat);
  primary.heartbeat = NULL;
  sl__pnet_close_all();
  for (int i = 0; primary.argv != NULL && primary.argv[i] != NULL; i++)
    sl__free(primary.argv[i]);
  sl__free(primary.argv);
  primary.argv = NULL;
  sl__emitter_clear(&primary.em);
  primary.shutting = 0;
  primary.done_scheduled = 0;
  primary.shut_cb = NULL;
  if (cb != NULL) cb(arg);
}

static void shutdown_check(void) {
  if (!primary.shutting || primary.done_scheduled ||
      !sl__queue_empty(&primary.workers))
    return;
  primary.done_scheduled = 1;
  sl__tick_init(&primary.done_tick, shutdown_done);
  sl__tick_schedule(&primary.done_tick);
}

static void restart_end(int err);

int sl_cluster_shutdown(sl_close_cb cb, void* arg) {
  if (!sl_cluster_is_primary()) return SL_EINVAL;
  cluster_init();
  if (primary.shutting) return SL_EBUSY;
  if (!primary.configured) sl_cluster_setup(NULL);
  primary.shutting = 1;
  primary.shut_cb = cb;
  primary.shut_arg = arg;
  if (restart.active) restart_end(SL_ECANCELED);
  while (!sl__queue_empty(&primary.respawns)) {
    respawn_t* r = sl__container_of(primary.respawns.next, respawn_t, node);
    sl__queue_remove(&r->node);
    sl_timer_stop(r->timer);
    sl__free(r);
  }
  /* The workers' copies of the listening sockets keep serving until each
   * worker closes its server (and drains what waits in the queue). */
  sl__pnet_close_all();
  for (sl__queue_t* q = primary.workers.next; q != &primary.workers;
       q = q->next)
    stop_worker(sl__container_of(q, sl_worker_t, node), "shutdown");
  shutdown_check();
  return 0;
}

/* --- primary: rolling restart --------------------------------------------- */

/* The restart ends with `err`: the callback runs from the tick, never
 * inside the call that ended it. The worker being replaced keeps running
 * if its replacement failed. */
static void restart_end(int err) {
  if (restart.ending) return;
  if (restart.timer != NULL) sl_timer_stop(restart.timer);
  restart.timer = NULL;
  restart.err = err;
  restart.ending = 1;
  sl__tick_schedule(&restart.tick);
}

static void restart_finish(void) {
  void (*cb)(int, void*) = restart.cb;
  void* arg = restart.arg;
  int err = restart.err;
  sl__tick_cancel(&restart.tick);
  sl__free(restart.ids);
  memset(&restart, 0, sizeof restart);
  if (cb != NULL) cb(err, arg);
}

static sl_worker_t* worker_by_id(int id) {
  for (sl__queue_t* q = primary.workers.next; q != &primary.workers;
       q = q->next) {
    sl_worker_t* w = sl__container_of(q, sl_worker_t, node);
    if (w->id == id) return w;
  }
  return NULL;
}

/* While a replacement is on its way, the worker it replaces is covered:
 * its death needs no respawn of its own; nor does the death of a
 * replacement whose old worker still serves. */
static int restart_covers(const sl_worker_t* w) {
  if (!restart.active || restart.ending) return 0;
  return (w == restart.old && restart.repl != NULL) ||
         (w == restart.repl && restart.old != NULL);
}

static void restart_worker_gone(sl_worker_t* w) {
  if (!restart.active) return;
  if (w == restart.old) restart.old = NULL;
  if (w == restart.repl) {
    restart.repl = NULL;
    if (!restart.ending) restart_end(SL_ECHILD); /* died before it listened */
  }
  sl__tick_schedule(&restart.tick);
}

static void on_restart_timeout(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  restart.timer = NULL;
  if (restart.repl == NULL) return;
  fprintf(stderr,
          "sluice: rolling restart: worker %d did not listen "
          "within %llu ms; stopped there\n",
          restart.repl->id, (unsigned long long)primary.o.restart_timeout_ms);
  restart.repl->no_respawn = 1;
  restart.repl->stop_reason = "timeout";
  sl_child_kill_tree(restart.repl->child, SIGKILL);
  restart.repl = NULL;
  restart_end(SL_ETIMEDOUT);
}

static int repl_ready(const sl_worker_t* w) {
  return w->state == SL__W_LISTENING ||
         (!restart.old_listened && w->online_emitted && w->state != SL__W_DEAD);
}

/* One step, run from the tick whenever something the restart waits for
 * happened: the replacement listens (retire the old worker), the old
 * worker exited (next one), or the end. */
static void restart_step(void) {
  if (!restart.active) return;
  if (restart.ending) {
    restart_finish();
    return;
  }
  if (restart.repl != NULL) {
    if (!repl_ready(restart.repl)) return; /* waiting for it to listen */
    if (restart.timer != NULL) sl_timer_stop(restart.timer);
    restart.timer = NULL;
    restart.repl = NULL;
    if (restart.old != NULL) stop_worker(restart.old, "restart");
  }
  if (restart.old != NULL) return; /* waiting for it to exit */
  while (restart.next < restart.n &&
         (restart.old = worker_by_id(restart.ids[restart.next++])) == NULL)
    continue;
  if (restart.old == NULL) {
    restart_end(0);
    return;
  }
  restart.old_listened = restart.old->ever_listened;
  int rc = cluster_fork(NULL, restart.old->slot, &restart.repl);
  if (rc != 0) {
    restart.old = restart.repl = NULL;
    restart_end(rc);
    return;
  }
  restart.timer =
      sl_timer_start(primary.o.restart_timeout_ms, 0, on_restart_timeout, NULL);
}

static void restart_tick(sl__tick_t* t) {
  (void)t;
  restart_step();
}

int sl_cluster_restart(void (*cb)(int err, void* arg), void* arg) {
  if (!sl_cluster_is_primary()) return SL_EINVAL;
  cluster_init();
  if (restart.active || primary.shutting) return SL_EBUSY;
  size_t n = 0;
  for (sl__queue_t* q = primary.workers.next; q != &primary.workers;
       q = q->next)
    n++;
  memset(&restart, 0, sizeof restart);
  restart.ids = sl__calloc(n ? n : 1, sizeof *restart.ids);
  if (restart.ids == NULL) return SL_ENOMEM;
  for (sl__queue_t* q = primary.workers.next; q != &primary.workers;
       q = q->next) {
    sl_worker_t* w = sl__container_of(q, sl_worker_t, node);
    if (w->stop_reason == NULL) restart.ids[restart.n++] = w->id;
  }
  restart.active = 1;
  restart.cb = cb;
  restart.arg = arg;
  sl__tick_init(&restart.tick, restart_tick);
  sl__tick_schedule(&restart.tick); /* never inside the call */
  return 0;
}
