/* The one listener of the TCP and HTTP servers (listen_int.h): a socket of
 * our own (sl__tcp_bind: SO_REUSEPORT, socket activation) or whatever the
 * installed hooks return (a cluster worker's share of the primary's
 * socket, or no socket at all when connections are handed over), libuv's
 * accept with a hold at the server's limit (libuv stops polling a
 * listener whose accepted connection was not taken), and a close that
 * first drains the accept queue and delivers it from the loop. Also the
 * process's load counters, which every server feeds. */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <unistd.h>

#include "stream/listen_int.h"

struct sl__listen_s {
  uv_tcp_t h; /* never opened when `handoff` */
  sl__listen_opts_t o;
  int port;
  const sl__listen_hooks_t* hooks; /* those it was opened with */
  void* member;                    /* the hooks' state, NULL without */
  int handoff;                     /* no socket of its own: handoffs only */
  int held; /* `full` left a connection in libuv's hands */
  int closing;
  int pending; /* parts of the close still due */
  void (*close_cb)(void* arg);
  void* close_arg;
  int* drained; /* taken from the queue at close, for the tick */
  size_t ndrained, cap;
  sl__tick_t drain_tick;
};

static const sl__listen_hooks_t* hooks;

sl__load_t sl__load;

/* Prometheus's default buckets, which span a cached small file to a slow
 * download. */
const double sl__load_bucket_le[SL_DURATION_BUCKETS] = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

void sl__load_observe(int status, uint64_t bytes, uint64_t ns) {
  if (status >= 100 && status < 600) sl__load.responses[status / 100 - 1]++;
  sl__load.bytes_sent += bytes;
  sl__load.duration_sum_ns += ns;
  double s = (double)ns / 1e9;
  int i = 0;
  while (i < SL_DURATION_BUCKETS && s > sl__load_bucket_le[i]) i++;
  if (i < SL_DURATION_BUCKETS)
    sl__load.duration_buckets[i]++;
  else
    sl__load.duration_over++;
}

void sl__listen_set_hooks(const sl__listen_hooks_t* h) { hooks = h; }

static void handle_free_cb(uv_handle_t* h) { sl__free(h); }

static uv_tcp_t* handle_from_fd(int fd) {
  uv_tcp_t* h = sl__malloc(sizeof *h);
  if (h == NULL) {
    close(fd);
    return NULL;
  }
  uv_tcp_init(sl__loop(), h);
  if (uv_tcp_open(h, fd) != 0) {
    close(fd);
    uv_close((uv_handle_t*)h, handle_free_cb);
    return NULL;
  }
  return h;
}

void sl__listen_adopt_fd(sl__listen_t* l, int fd) {
  if (l->o.on_conn == NULL) { /* a listener whose open failed */
    close(fd);
    return;
  }
  uv_tcp_t* h = handle_from_fd(fd);
  if (h != NULL) l->o.on_conn(l->o.arg, h);
}

static void accept_one(sl__listen_t* l) {
  uv_tcp_t* h = sl__malloc(sizeof *h);
  if (h == NULL) return;
  uv_tcp_init(sl__loop(), h);
  if (uv_accept((uv_stream_t*)&l->h, (uv_stream_t*)h) != 0) {
    uv_close((uv_handle_t*)h, handle_free_cb);
    return;
  }
  l->held = 0;
  l->o.on_conn(l->o.arg, h);
}

static void on_connection(uv_stream_t* server, int status) {
  sl__listen_t* l = server->data;
  if (status != 0 || l->closing) return; /* EMFILE: libuv retries later */
  if (l->o.full != NULL && l->o.full(l->o.arg)) {
    l->held = 1;
    return;
  }
  accept_one(l);
}

void sl__listen_resume(sl__listen_t* l) {
  if (l->held && !l->closing) accept_one(l);
}

/* A socket of our own, listening. */
static int bind_local(const sl__listen_opts_t* o, const char* host,
                      int* port_out) {
  int fd = sl__tcp_bind(host, o->port, o->reuseport);
  if (fd < 0) return fd;
  if (listen(fd, o->backlog) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  *port_out = sl__tcp_local_port(fd);
  return fd;
}

int sl__listen_open(const sl__listen_opts_t* o, sl__listen_t** out) {
  SL_ASSERT(o->on_conn != NULL && out != NULL);
  *out = NULL;
  sl__listen_t* l = sl__calloc(1, sizeof *l);
  if (l == NULL) return SL_ENOMEM;
  l->o = *o;
  const char* host = o->host;
  if (host == NULL || strcmp(host, "localhost") == 0) host = "127.0.0.1";
  l->o.host = NULL; /* the caller's string is not kept */
  if (l->o.backlog <= 0) l->o.backlog = 511;
  int fd = SL__LISTEN_LOCAL;
  if (hooks != NULL && !o->exclusive) l->hooks = hooks;
  if (l->hooks != NULL)
    fd = l->hooks->open(l, host, o->port, l->o.backlog, &l->member, &l->port);
  if (fd == SL__LISTEN_LOCAL) fd = bind_local(&l->o, host, &l->port);
  if (fd < 0 && fd != SL__LISTEN_HANDOFF) {
    sl__free(l);
    return fd;
  }
  uv_tcp_init(sl__loop(), &l->h);
  l->h.data = l;
  l->handoff = fd == SL__LISTEN_HANDOFF;
  int rc = l->handoff ? 0 : uv_tcp_open(&l->h, fd);
  if (rc != 0) close(fd);
  if (rc == 0 && !l->handoff)
    rc = uv_listen((uv_stream_t*)&l->h, l->o.backlog, on_connection);
  if (rc != 0) {
    /* Nothing reaches the caller's server from here on. */
    l->o.on_conn = NULL;
    l->o.bounce_late = 1;
    sl__listen_close(l, NULL, NULL);
    return rc;
  }
  *out = l;
  return 0;
}

int sl__listen_port(const sl__listen_t* l) { return l->port; }

void sl__listen_shutdown(sl__listen_t* l) {
  if (!l->closing && l->o.close_server != NULL) l->o.close_server(l->o.arg);
}

static void part_closed(void* arg) {
  sl__listen_t* l = arg;
  if (--l->pending > 0) return;
  void (*cb)(void*) = l->close_cb;
  void* cb_arg = l->close_arg;
  sl__free(l);
  if (cb != NULL) cb(cb_arg);
}

static void on_handle_closed(uv_handle_t* h) { part_closed(h->data); }

static void keep_drained(sl__listen_t* l, int fd) {
  if (l->ndrained == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    int* v = sl__realloc(l->drained, cap * sizeof *v);
    if (v == NULL) {
      close(fd);
      return;
    }
    l->drained = v;
    l->cap = cap;
  }
  l->drained[l->ndrained++] = fd;
}

/* The kernel accepted what waits in the queue: take it all now, before
 * the socket closes, and hand it over from the loop. */
static void drain_queue(sl__listen_t* l) {
  uv_os_fd_t fd;
  if (l->handoff || uv_fileno((uv_handle_t*)&l->h, &fd) != 0) return;
  for (;;) {
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0 && errno == EINTR) continue;
    if (c < 0) return;
    keep_drained(l, c);
  }
}

static void deliver_drained(sl__tick_t* t) {
  sl__listen_t* l = sl__container_of(t, sl__listen_t, drain_tick);
  for (size_t i = 0; i < l->ndrained; i++)
    sl__listen_adopt_fd(l, l->drained[i]);
  sl__free(l->drained);
  l->drained = NULL;
  part_closed(l);
}

void sl__listen_close(sl__listen_t* l, void (*cb)(void* arg), void* arg) {
  SL_ASSERT(!l->closing);
  l->closing = 1;
  l->close_cb = cb;
  l->close_arg = arg;
  drain_queue(l);
  l->pending = 2 + (l->member != NULL);
  sl__tick_init(&l->drain_tick, deliver_drained);
  sl__tick_schedule(&l->drain_tick);
  if (l->member != NULL)
    l->hooks->close(l->member, l->o.bounce_late, part_closed, l);
  l->member = NULL;
  uv_close((uv_handle_t*)&l->h, on_handle_closed);
}
