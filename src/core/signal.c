/* Signals for programs: sl_signal_on() watches a signal with a libuv signal
 * handle that does not keep the loop alive. The handler only records the
 * signal (libuv writes to its pipe) and the callback runs from the loop, as
 * nginx's master acts on what its handler recorded. sl_signal_off() stops
 * and closes the handle. Watchers live on one list so that off can find
 * them by (signum, cb, arg), the way listeners are removed elsewhere. */
#include "core/internal.h"

typedef struct {
  sl__queue_t node;
  uv_signal_t h;
  sl_signal_cb cb;
  void* arg;
} watch_t;

static sl__queue_t watches = {&watches, &watches};

static void on_uv_signal(uv_signal_t* h, int signum) {
  watch_t* w = h->data;
  w->cb(signum, w->arg); /* may call sl_signal_off() on itself */
}

static void watch_closed(uv_handle_t* h) { sl__free(h->data); }

int sl_signal_on(int signum, sl_signal_cb cb, void* arg) {
  if (cb == NULL || signum <= 0) return SL_EINVAL;
  watch_t* w = sl__calloc(1, sizeof *w);
  if (w == NULL) return SL_ENOMEM;
  int rc = uv_signal_init(sl__loop(), &w->h);
  if (rc != 0) {
    sl__free(w);
    return sl__uv_err(rc);
  }
  w->h.data = w;
  w->cb = cb;
  w->arg = arg;
  if ((rc = uv_signal_start(&w->h, on_uv_signal, signum)) != 0) {
    uv_close((uv_handle_t*)&w->h, watch_closed);
    return sl__uv_err(rc);
  }
  uv_unref((uv_handle_t*)&w->h);
  sl__queue_insert_tail(&watches, &w->node);
  return 0;
}

int sl_signal_off(int signum, sl_signal_cb cb, void* arg) {
  for (sl__queue_t* q = watches.next; q != &watches; q = q->next) {
    watch_t* w = sl__container_of(q, watch_t, node);
    if (w->h.signum != signum || w->cb != cb || w->arg != arg) continue;
    sl__queue_remove(&w->node);
    uv_signal_stop(&w->h);
    uv_close((uv_handle_t*)&w->h, watch_closed);
    return 0;
  }
  return SL_ENOENT;
}
