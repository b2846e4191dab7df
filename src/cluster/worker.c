/* Cluster, the worker's side: its role and id (SLUICE_WORKER_ID, read on
 * the first cluster call, or at sl_init, which also installs the listen
 * hooks of worker_net.c), "online" and "listening" to the primary, the
 * answer to each ping (this process's load: the servers' counters, RSS,
 * event-loop lag), exit when the channel to the primary closes, and a
 * graceful shutdown on SIGTERM or the primary's "shutdown": the program's
 * callback, then every cluster server closes, then the channel. Internal
 * messages are JSON objects with a "sluice_cluster" key. */
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>

#include "cluster/cluster_int.h"

#define LAG_PROBE_MS 100

/* This process as a worker (id 0: the primary, or no cluster at all). */
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
} this_worker;

static void on_primary_gone(sl_channel_t* ch, const sl_child_event_t* ev,
                            void* arg) {
  (void)ch;
  (void)ev;
  (void)arg;
  if (!this_worker.shutting)
    exit(0); /* else the worker ends when its loop empties */
}

/* Runs once, from the loop (SIGTERM or the primary's "shutdown"), as
 * Node's worker.disconnect(): the registered callback first, then every
 * cluster server still open closes gracefully, and the channel to the
 * primary closes, so that sl_run() returns once the in-flight work is
 * done. A worker with neither a callback nor a server dies of SIGTERM. */
static void worker_shutdown(void) {
  if (this_worker.shutting) return;
  this_worker.shutting = 1;
  if (this_worker.shut_cb != NULL) this_worker.shut_cb(this_worker.shut_arg);
  if (sl__wnet_shutdown_all() == 0 && this_worker.shut_cb == NULL) {
    if (this_worker.sig_on) uv_signal_stop(&this_worker.sig);
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
    return;
  }
  uv_timer_stop(&this_worker.lag);
  if (this_worker.ch != NULL) sl_channel_disconnect(this_worker.ch);
}

static void on_worker_sigterm(uv_signal_t* h, int signum) {
  (void)h;
  (void)signum;
  worker_shutdown();
}

/* The answer to a ping: this worker's load. Flat keys (r1..r5, d0..d11):
 * the channel's JSON reader has no arrays, and the figures fit one small
 * message. */
static void send_pong(void) {
  sl_buf_t b = {0};
  int rc = sl_buf_printf(
      &b,
      "{\"sluice_cluster\":\"pong\",\"requests\":%llu,\"connections\":%llu,"
      "\"accepted\":%llu,\"rss\":%llu,\"lag_ms\":%.3f,\"bytes\":%llu,"
      "\"dover\":%llu,\"dsum_ns\":%llu",
      (unsigned long long)sl__load.requests,
      (unsigned long long)sl__load.connections,
      (unsigned long long)sl__load.accepted, (unsigned long long)sl_rss(),
      this_worker.lag_max_ms, (unsigned long long)sl__load.bytes_sent,
      (unsigned long long)sl__load.duration_over,
      (unsigned long long)sl__load.duration_sum_ns);
  for (int i = 0; i < 5 && rc == 0; i++)
    rc = sl_buf_printf(&b, ",\"r%d\":%llu", i + 1,
                       (unsigned long long)sl__load.responses[i]);
  for (int i = 0; i < SL_DURATION_BUCKETS && rc == 0; i++)
    rc = sl_buf_printf(&b, ",\"d%d\":%llu", i,
                       (unsigned long long)sl__load.duration_buckets[i]);
  if (rc == 0) rc = sl_buf_append_str(&b, "}");
  this_worker.lag_max_ms = 0;
  if (rc == 0) sl_channel_send(this_worker.ch, b.data, b.len, -1);
  sl_buf_free(&b);
}

/* Event-loop lag: how late a repeating timer fires. */
static void on_lag_probe(uv_timer_t* t) {
  uint64_t now = uv_hrtime();
  if (this_worker.lag_due_ms != 0) {
    double late = (double)now / 1e6 - (double)this_worker.lag_due_ms;
    if (late > this_worker.lag_max_ms) this_worker.lag_max_ms = late;
  }
  this_worker.lag_due_ms = now / 1000000 + LAG_PROBE_MS;
  (void)t;
}

static void on_primary_msg(sl_channel_t* ch, const sl_child_event_t* ev,
                           void* arg) {
  (void)ch;
  (void)arg;
  char cmd[32];
  const sl_message_t* m = ev->msg;
  if (sl_json_get_string(m->data, m->len, "sluice_cluster", cmd, sizeof cmd) !=
      0)
    return;
  if (strcmp(cmd, "shutdown") == 0)
    worker_shutdown();
  else if (strcmp(cmd, "ping") == 0)
    send_pong();
}

static void worker_check(void) {
  if (this_worker.checked) return;
  this_worker.checked = 1;
  sl__wnet_install();
  const char* e = getenv("SLUICE_WORKER_ID");
  if (e == NULL) return;
  this_worker.id = atoi(e) > 0 ? atoi(e) : 1;
  unsetenv("SLUICE_WORKER_ID");
  this_worker.ch = sl_parent();
  if (this_worker.ch == NULL) {
    fprintf(stderr, "sluice: worker %d has no channel to its primary\n",
            this_worker.id);
    return;
  }
  sl_channel_on(this_worker.ch, SL_CHANNEL_DISCONNECT, on_primary_gone, NULL);
  sl_channel_on(this_worker.ch, SL_CHANNEL_MESSAGE, on_primary_msg, NULL);
  uv_timer_init(sl__loop(), &this_worker.lag);
  uv_timer_start(&this_worker.lag, on_lag_probe, LAG_PROBE_MS, LAG_PROBE_MS);
  uv_unref((uv_handle_t*)&this_worker.lag);
  if (uv_signal_init(sl__loop(), &this_worker.sig) == 0 &&
      uv_signal_start(&this_worker.sig, on_worker_sigterm, SIGTERM) == 0) {
    uv_unref((uv_handle_t*)&this_worker.sig);
    this_worker.sig_on = 1;
  }
  sl_channel_sendf(this_worker.ch, "{\"sluice_cluster\":\"online\"}");
}

int sl_cluster_is_primary(void) {
  worker_check();
  return this_worker.id == 0;
}

int sl_cluster_worker_id(void) {
  worker_check();
  return this_worker.id;
}

int sl_cluster_notify_listening(int port) {
  worker_check();
  if (this_worker.id == 0) return SL_EINVAL;
  if (this_worker.ch == NULL) return SL_EIPCCLOSED;
  int rc = sl_channel_sendf(
      this_worker.ch, "{\"sluice_cluster\":\"listening\",\"port\":%d}", port);
  return rc < 0 ? rc : 0;
}

int sl_cluster_on_shutdown(sl_close_cb cb, void* arg) {
  worker_check();
  if (this_worker.id == 0 || cb == NULL) return SL_EINVAL;
  this_worker.shut_cb = cb;
  this_worker.shut_arg = arg;
  return 0;
}
