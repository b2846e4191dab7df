/* The primary's listening sockets and its end of the workers' control
 * sockets. One key per listening address (host and requested port), made
 * on the first worker's listen request and kept by the primary until the
 * cluster shuts down, so that a worker's death or restart never resets
 * the connections queued on it:
 *   reuseport: one SO_REUSEPORT socket per worker slot; a slot whose
 *              worker is gone is "orphaned": the primary accepts on it and
 *              hands its connections to the other workers until a
 *              replacement takes the slot;
 *   shared:    one socket, a copy in every worker;
 *   rr:        one socket the primary accepts on; each connection goes to
 *              the next listening worker, strictly in turn, skipping the
 *              draining ones and those whose control socket is full. */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "stream/stream_int.h"

#define ACCEPT_BATCH 64

typedef struct lkey_s lkey_t;

/* A listening socket the primary accepts on (rr, or an orphaned slot). */
typedef struct {
  int fd;
  uv_poll_t* poll; /* NULL while not accepting */
  lkey_t* key;
} lsock_t;

struct lkey_s {
  int used;
  char host[64];
  int req_port, port, backlog, index;
  sl_cluster_sched_t sched;
  lsock_t main;    /* shared, rr */
  lsock_t** slots; /* reuseport, by slot (each allocated on its own:
                           a poll's data points at it) */
  int nslots;
  int last_id; /* rr: the worker served last */
  int held;    /* a connection no worker could take yet, -1 */
};

static lkey_t keys[SL__MAX_KEYS];

static void poll_free_cb(uv_handle_t* h) { sl__free(h); }

static void poll_close(uv_poll_t** p) {
  if (*p == NULL) return;
  uv_close((uv_handle_t*)*p, poll_free_cb);
  *p = NULL;
}

/* --- handing connections over --------------------------------------------- */

static int can_take(const sl_worker_t* w, int k, const sl_worker_t* skip) {
  return w != skip && w->member[k] && w->ctl >= 0 &&
         w->state != SL__W_DRAINING && w->state != SL__W_DEAD;
}

static void want_writable(sl_worker_t* w, int on);

/* Gives `fd` to the next worker in turn (never `skip`). 1 when one took
 * it (fd closed here), 0 when none could (fd kept by the caller). */
static int dispatch(lkey_t* key, int fd, const sl_worker_t* skip) {
  int k = (int)(key - keys);
  sl__queue_t* ws = sl__cluster_workers_queue();
  sl__queue_t* start = ws->next;
  /* Workers are in fork order, so ids grow along the queue: the turn
   * starts after the worker served last. */
  for (sl__queue_t* q = ws->next; q != ws; q = q->next)
    if (sl__container_of(q, sl_worker_t, node)->id > key->last_id) {
      start = q;
      break;
    }
  sl__ctl_msg_t m = {.type = SL__CTL_CONN, .key = k};
  sl__queue_t* q = start;
  do {
    if (q != ws) {
      sl_worker_t* w = sl__container_of(q, sl_worker_t, node);
      if (can_take(w, k, skip)) {
        if (sl__ctl_send(w->ctl, &m, fd) == 0) {
          key->last_id = w->id;
          sl__cluster_st->handoffs++;
          close(fd);
          return 1;
        }
        sl__cluster_st->handoff_skips++;
        want_writable(w, 1);
      }
    }
    q = q->next;
  } while (q != start);
  return 0;
}

static void accept_stop(lsock_t* s) { poll_close(&s->poll); }
static void accept_start(lsock_t* s);

static void on_accept(uv_poll_t* p, int status, int events) {
  (void)events;
  lsock_t* s = p->data;
  lkey_t* key = s->key;
  for (int i = 0; i < ACCEPT_BATCH && status == 0; i++) {
    if (key->held >= 0) { /* one waits already: accept no more for now */
      accept_stop(s);
      return;
    }
    int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return; /* EAGAIN, or EMFILE and the like: next wakeup */
    if (!dispatch(key, fd, NULL)) {
      key->held = fd; /* until a worker can take it */
      accept_stop(s);
      return;
    }
  }
}

static void accept_start(lsock_t* s) {
  if (s->poll != NULL || s->fd < 0) return;
  s->poll = sl__malloc(sizeof *s->poll);
  if (s->poll == NULL) return;
  if (uv_poll_init(sl__loop(), s->poll, s->fd) != 0) {
    sl__free(s->poll);
    s->poll = NULL;
    return;
  }
  s->poll->data = s;
  uv_poll_start(s->poll, UV_READABLE, on_accept);
  uv_unref((uv_handle_t*)s->poll);
}

static int has_taker(int k, const sl_worker_t* skip) {
  sl__queue_t* ws = sl__cluster_workers_queue();
  for (sl__queue_t* q = ws->next; q != ws; q = q->next)
    if (can_take(sl__container_of(q, sl_worker_t, node), k, skip)) return 1;
  return 0;
}

static int slot_held(int k, int slot) {
  sl__queue_t* ws = sl__cluster_workers_queue();
  for (sl__queue_t* q = ws->next; q != ws; q = q->next) {
    sl_worker_t* w = sl__container_of(q, sl_worker_t, node);
    if (w->member[k] && w->slot == slot && w->state != SL__W_DEAD) return 1;
  }
  return 0;
}

/* Re-decides who accepts on key `k`'s sockets the primary holds. */
static void key_update(int k) {
  lkey_t* key = &keys[k];
  if (!key->used) return;
  if (key->held >= 0 && dispatch(key, key->held, NULL)) key->held = -1;
  int takers = has_taker(k, NULL) && key->held < 0;
  if (key->sched == SL_SCHED_RR) {
    if (takers)
      accept_start(&key->main);
    else
      accept_stop(&key->main);
    return;
  }
  for (int i = 0; i < key->nslots; i++) {
    lsock_t* s = key->slots[i];
    if (s->fd >= 0 && takers && !slot_held(k, i))
      accept_start(s);
    else
      accept_stop(s);
  }
}

static void update_all(void) {
  for (int k = 0; k < SL__MAX_KEYS; k++) key_update(k);
}

/* --- keys ----------------------------------------------------------------- */

static int bind_listen(const lkey_t* key, int port, int reuseport) {
  int fd = sl__tcp_bind(key->host, port, reuseport);
  if (fd >= 0 && listen(fd, key->backlog) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  return fd;
}

/* SO_REUSEPORT lets any socket of the same user bind a port that is
 * served already, so a second `sluice serve` would silently take half of
 * another's connections. Before the first slot of an address, a plain
 * bind (no SO_REUSEPORT) proves no one listens there: EADDRINUSE, EACCES
 * and the like fail the worker's listen, as rr and shared do. */
static int probe_free(const char* host, int port) {
  int fd = sl__tcp_bind(host, port, 0);
  if (fd < 0) return fd;
  close(fd);
  return 0;
}

static lkey_t* key_find(const sl__ctl_msg_t* m) {
  for (int k = 0; k < SL__MAX_KEYS; k++)
    if (keys[k].used && keys[k].req_port == m->port &&
        keys[k].index == m->index && strcmp(keys[k].host, m->host) == 0)
      return &keys[k];
  return NULL;
}

static int key_new(const sl__ctl_msg_t* m, lkey_t** out) {
  lkey_t* key = NULL;
  for (int k = 0; k < SL__MAX_KEYS && key == NULL; k++)
    if (!keys[k].used) key = &keys[k];
  if (key == NULL) return SL_ENOBUFS;
  memset(key, 0, sizeof *key);
  snprintf(key->host, sizeof key->host, "%s", m->host);
  key->req_port = key->port = m->port;
  key->index = m->index;
  key->backlog = m->backlog > 0 ? m->backlog : 511;
  key->sched = sl__cluster_sched();
  key->main = (lsock_t){.fd = -1, .key = key};
  key->held = -1;
  if (key->sched != SL_SCHED_REUSEPORT) {
    int fd = bind_listen(key, m->port, 0);
    if (fd < 0) return fd;
    key->main.fd = fd;
    key->port = sl__tcp_local_port(fd);
  } else if (m->port != 0) {
    int rc = probe_free(key->host, m->port);
    if (rc != 0) return rc;
  }
  key->used = 1;
  *out = key;
  return 0;
}

/* reuseport: the socket of `slot`, made on first use. */
static int slot_fd(lkey_t* key, int slot) {
  while (slot >= key->nslots) {
    lsock_t** v =
        sl__realloc(key->slots, (size_t)(key->nslots + 1) * sizeof *v);
    if (v == NULL) return SL_ENOMEM;
    key->slots = v;
    if ((v[key->nslots] = sl__malloc(sizeof **v)) == NULL) return SL_ENOMEM;
    *v[key->nslots++] = (lsock_t){.fd = -1, .key = key};
  }
  lsock_t* s = key->slots[slot];
  if (s->fd < 0) {
    int fd = bind_listen(key, key->port, 1);
    if (fd < 0) return fd;
    s->fd = fd;
    if (key->port == 0) key->port = sl__tcp_local_port(fd);
  }
  return s->fd;
}

static void key_close(lkey_t* key) {
  if (!key->used) return;
  accept_stop(&key->main);
  if (key->main.fd >= 0) close(key->main.fd);
  for (int i = 0; i < key->nslots; i++) {
    accept_stop(key->slots[i]);
    if (key->slots[i]->fd >= 0) close(key->slots[i]->fd);
    sl__free(key->slots[i]);
  }
  sl__free(key->slots);
  if (key->held >= 0) close(key->held);
  memset(key, 0, sizeof *key);
}

/* What waits in the queue of a socket the primary accepts on was accepted
 * by the kernel: hand it over before the socket closes. */
static void drain_to_workers(lsock_t* s) {
  if (s->poll == NULL) return;
  for (int fd;
       (fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;)
    if (!dispatch(s->key, fd, NULL)) close(fd);
}

void sl__pnet_close_all(void) {
  for (int k = 0; k < SL__MAX_KEYS; k++) {
    lkey_t* key = &keys[k];
    if (!key->used) continue;
    drain_to_workers(&key->main);
    for (int i = 0; i < key->nslots; i++) drain_to_workers(key->slots[i]);
    key_close(key);
  }
}

/* --- requests from a worker ----------------------------------------------- */

static void on_listen(sl_worker_t* w, sl__ctl_msg_t* m) {
  lkey_t* key = key_find(m);
  int fd = -1;
  int rc = 0;
  if (m->port < 0 || m->port > 65535)
    rc = SL_EINVAL;
  else if (key == NULL)
    rc = key_new(m, &key);
  if (rc == 0 && key->sched == SL_SCHED_REUSEPORT)
    rc = fd = slot_fd(key, w->slot);
  else if (rc == 0 && key->sched == SL_SCHED_SHARED)
    fd = key->main.fd;
  sl__ctl_msg_t r = {
      .type = SL__CTL_LISTEN_OK, .seq = m->seq, .err = rc < 0 ? rc : 0};
  if (rc >= 0) {
    r.port = key->port;
    r.key = (int)(key - keys);
    r.sched = key->sched;
  }
  if (sl__ctl_send(w->ctl, &r, rc < 0 ? -1 : fd) != 0 || rc < 0) return;
  w->member[r.key] = 1;
  sl__cluster_worker_listening(w, key->port);
  key_update(r.key);
}

/* Once per worker: a broken worker must not flood the primary's stderr. */
static void warn_malformed(sl_worker_t* w, int type) {
  if (w->warned) return;
  w->warned = 1;
  fprintf(stderr,
          "sluice: worker %d: malformed control packet (type %d), "
          "ignored (and any more from it)\n",
          w->id, type);
}

static int has_member(int k) {
  sl__queue_t* ws = sl__cluster_workers_queue();
  for (sl__queue_t* q = ws->next; q != ws; q = q->next)
    if (sl__container_of(q, sl_worker_t, node)->member[k]) return 1;
  return 0;
}

static void on_packet(sl_worker_t* w, sl__ctl_msg_t* m, int fd) {
  int k = m->key;
  int valid_key = k >= 0 && k < SL__MAX_KEYS;
  if (m->type == SL__CTL_LISTEN && fd < 0) {
    if (w->state != SL__W_DEAD) on_listen(w, m); /* else read too late */
  } else if (m->type == SL__CTL_UNLISTEN && valid_key && fd < 0) {
    w->member[k] = 0;
    sl__ctl_msg_t r = {.type = SL__CTL_UNLISTEN_OK, .key = k};
    sl__ctl_send(w->ctl, &r, -1);
    /* The last server on the address closed on purpose: the address is
     * free again (a worker's death keeps it, for the replacement). */
    if (!has_member(k))
      key_close(&keys[k]);
    else
      key_update(k);
  } else if (m->type == SL__CTL_BOUNCE && valid_key && fd >= 0 &&
             keys[k].used) {
    if (dispatch(&keys[k], fd, w)) return;
    if (keys[k].held < 0)
      keys[k].held = fd; /* until a worker can */
    else
      close(fd);
  } else {
    if (fd >= 0) close(fd);
    warn_malformed(w, (int)m->type);
  }
}

static void on_ctl(uv_poll_t* p, int status, int events) {
  sl_worker_t* w = p->data;
  if (status == 0 && (events & UV_WRITABLE)) {
    want_writable(w, 0);
    update_all();
  }
  for (int i = 0; i < 64 && status == 0 && (events & UV_READABLE); i++) {
    sl__ctl_msg_t m;
    int fd;
    int rc = sl__ctl_recv(w->ctl, &m, &fd);
    if (rc == 0) return;
    if (rc == SL_EINVAL) {
      warn_malformed(w, -1);
      continue;
    }
    if (rc < 0) {
      status = rc;
      break;
    }
    on_packet(w, &m, fd);
  }
  if (status != 0) {
    /* EOF or an error: the worker is going; its exit detaches it. */
    uv_poll_stop(p);
    w->ctl_events = 0;
  }
}

static void want_writable(sl_worker_t* w, int on) {
  int ev = UV_READABLE | (on ? UV_WRITABLE : 0);
  if (w->ctl_poll == NULL || w->ctl_events == ev) return;
  w->ctl_events = ev;
  uv_poll_start(w->ctl_poll, ev, on_ctl);
}

int sl__pnet_attach(sl_worker_t* w, int* child_end) {
  int sv[2];
  w->ctl = -1;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
                 sv) != 0)
    return -errno;
  w->ctl_poll = sl__malloc(sizeof *w->ctl_poll);
  if (w->ctl_poll == NULL || uv_poll_init(sl__loop(), w->ctl_poll, sv[0])) {
    sl__free(w->ctl_poll);
    w->ctl_poll = NULL;
    close(sv[0]);
    close(sv[1]);
    return SL_ENOMEM;
  }
  w->ctl_poll->data = w;
  w->ctl = sv[0];
  w->ctl_events = 0;
  want_writable(w, 0);
  uv_unref((uv_handle_t*)w->ctl_poll);
  *child_end = sv[1];
  return 0;
}

void sl__pnet_detach(sl_worker_t* w, int gone) {
  if (gone) {
    /* Packets still queued from it (a bounce) are read first. */
    if (w->ctl_poll != NULL) on_ctl(w->ctl_poll, 0, UV_READABLE);
    poll_close(&w->ctl_poll);
    if (w->ctl >= 0) close(w->ctl);
    w->ctl = -1;
    memset(w->member, 0, sizeof w->member);
  }
  update_all();
}
