/* A worker's side of the control socket (descriptor SLUICE_CLUSTER_FD),
 * behind the stream layer's listen hooks (stream/listen_int.h), which
 * sl__wnet_install puts in place in a worker: the synchronous listen
 * request to the primary, the rr handoffs that arrive on it (given to the
 * server's listener, or bounced back when the server is gone), and the
 * unlisten handshake. Outside a worker no hook is installed and a server
 * binds its own socket. Also the load figures a worker reports (read from
 * the servers' counters in listen.c). */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "stream/listen_int.h"

#define LISTEN_TIMEOUT_MS 10000
#define MAX_EARLY         1024 /* handoffs read while waiting for a listen answer */

double sl_load_bucket_le(int i) {
  return i >= 0 && i < SL_DURATION_BUCKETS ? sl__load_bucket_le[i] : -1;
}

void sl_load_self(sl_worker_load_t* out) {
  memset(out, 0, sizeof *out);
  out->requests = sl__load.requests;
  out->connections = sl__load.connections;
  out->accepted = sl__load.accepted;
  out->rss_bytes = sl_rss();
  memcpy(out->responses, sl__load.responses, sizeof out->responses);
  out->bytes_sent = sl__load.bytes_sent;
  memcpy(out->duration_buckets, sl__load.duration_buckets,
         sizeof out->duration_buckets);
  out->duration_over = sl__load.duration_over;
  out->duration_sum_s = (double)sl__load.duration_sum_ns / 1e9;
  out->at_ms = sl_now_ms();
}

/* A server's membership in the primary's listener for its address: the
 * listen hooks' state for one sl__listen_t. */
typedef struct {
  sl__queue_t node;
  sl__listen_t* l;
  int key;
  int index;
  char host[64];
  int port; /* as asked */
  int bounce_late;
  int closing;
  void (*close_cb)(void* arg);
  void* close_arg;
  sl__tick_t gone_tick; /* the primary is gone: no acknowledgement */
} member_t;

typedef struct {
  int key, fd;
} early_t;

static struct {
  int checked;
  int fd; /* the control socket, -1: none */
  int seq;
  uv_poll_t poll;
  int poll_on, refs;
  sl__queue_t members;
  early_t early[MAX_EARLY]; /* read during a synchronous wait */
  size_t nearly;
  sl__tick_t early_tick;
} control = {.fd = -1};

/* --- packets -------------------------------------------------------------- */

int sl__ctl_send(int sock, const sl__ctl_msg_t* m, int fd) {
  struct iovec iov = {.iov_base = (void*)m, .iov_len = sizeof *m};
  ssize_t n = sl__fdmsg_send(sock, &iov, 1, fd);
  return n < 0 ? (int)n : 0;
}

int sl__ctl_recv(int sock, sl__ctl_msg_t* m, int* fd) {
  struct iovec iov = {.iov_base = m, .iov_len = sizeof *m};
  size_t nfds;
  /* One descriptor per packet: any other is closed. */
  ssize_t n = sl__fdmsg_recv(sock, &iov, 1, fd, 1, &nfds);
  if (nfds == 0) *fd = -1;
  if (n == SL_EAGAIN) return 0;
  if (n == SL_EPROTO) return SL_EINVAL;
  if (n < 0) return (int)n;
  if (n == 0) return SL_EOF;
  if ((size_t)n != sizeof *m) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
    return SL_EINVAL;
  }
  m->host[sizeof m->host - 1] = '\0';
  return 1;
}

/* --- the worker's control socket ------------------------------------------ */

static void ctl_check(void) {
  if (control.checked) return;
  control.checked = 1;
  sl__queue_init(&control.members);
  const char* e = getenv("SLUICE_CLUSTER_FD");
  if (e == NULL || sl_cluster_is_primary())
    return; /* the id is unset
                                                       once it was read */
  int fd = atoi(e);
  int type;
  socklen_t l = sizeof type;
  if (fd < 3 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0 ||
      type != SOCK_SEQPACKET)
    return;
  unsetenv("SLUICE_CLUSTER_FD");
  control.fd = fd;
}

static member_t* member_find(int key) {
  for (sl__queue_t* q = control.members.next; q != &control.members;
       q = q->next) {
    member_t* mb = sl__container_of(q, member_t, node);
    if (mb->key == key) return mb;
  }
  return NULL;
}

/* A connection for `key`: to its server, or back to the primary when the
 * server is gone (the primary gives it to another worker). */
static void bounce(int key, int fd) {
  sl__ctl_msg_t m = {.type = SL__CTL_BOUNCE, .key = key};
  sl__ctl_send(control.fd, &m, fd);
  close(fd);
}

static void deliver(int key, int fd) {
  member_t* mb = member_find(key);
  if (mb != NULL && !(mb->closing && mb->bounce_late))
    sl__listen_adopt_fd(mb->l, fd);
  else
    bounce(key, fd);
}

static void member_release(member_t* mb) {
  sl__queue_remove(&mb->node);
  if (--control.refs == 0 && control.poll_on)
    uv_unref((uv_handle_t*)&control.poll);
  void (*cb)(void*) = mb->close_cb;
  void* arg = mb->close_arg;
  sl__free(mb);
  if (cb != NULL) cb(arg);
}

static void unlisten_done(int key) {
  member_t* mb = member_find(key);
  if (mb != NULL && mb->closing) member_release(mb);
}

static void on_gone_tick(sl__tick_t* t) {
  member_release(sl__container_of(t, member_t, gone_tick));
}

static void handle(const sl__ctl_msg_t* m, int fd) {
  if (m->type == SL__CTL_CONN && fd >= 0) {
    deliver(m->key, fd);
    return;
  }
  if (fd >= 0) close(fd);
  if (m->type == SL__CTL_UNLISTEN_OK) {
    unlisten_done(m->key);
  } else if (m->type == SL__CTL_LISTEN_OK && m->err == 0) {
    /* The answer to a listen that gave up waiting: leave again. */
    sl__ctl_msg_t u = {.type = SL__CTL_UNLISTEN, .key = m->key};
    sl__ctl_send(control.fd, &u, -1);
  }
}

static void on_ctl(uv_poll_t* p, int status, int events) {
  (void)p;
  (void)events;
  sl__ctl_msg_t m;
  int fd, rc = 0;
  /* A bounded batch per wakeup keeps the loop fair to other handles. */
  for (int i = 0; i < 256 && status == 0; i++) {
    rc = sl__ctl_recv(control.fd, &m, &fd);
    if (rc == 0) return;
    if (rc < 0 && rc != SL_EINVAL) break;
    if (rc == 1) handle(&m, fd);
  }
  if (status != 0 || (rc < 0 && rc != SL_EINVAL)) {
    /* The primary is gone: the channel's close ends the worker. */
    uv_poll_stop(&control.poll);
  }
}

static void deliver_early(sl__tick_t* t) {
  (void)t;
  for (size_t i = 0; i < control.nearly; i++)
    deliver(control.early[i].key, control.early[i].fd);
  control.nearly = 0;
}

static int ctl_poll_start(void) {
  if (control.poll_on) return 0;
  int rc = uv_poll_init(sl__loop(), &control.poll, control.fd);
  if (rc == 0) rc = uv_poll_start(&control.poll, UV_READABLE, on_ctl);
  if (rc != 0) return rc;
  uv_unref((uv_handle_t*)&control.poll);
  sl__tick_init(&control.early_tick, deliver_early);
  control.poll_on = 1;
  return 0;
}

/* The synchronous round trip: send LISTEN, wait for its LISTEN_OK. CONN
 * packets for earlier listeners that arrive meanwhile are kept and
 * delivered from the loop. */
static int ask_primary(sl__ctl_msg_t* m, int* fd) {
  m->seq = ++control.seq;
  int rc = sl__ctl_send(control.fd, m, -1);
  if (rc != 0) return rc;
  uint64_t deadline = uv_hrtime() / 1000000 + LISTEN_TIMEOUT_MS;
  for (;;) {
    uint64_t now = uv_hrtime() / 1000000;
    if (now >= deadline) return SL_ETIMEDOUT;
    struct pollfd pfd = {.fd = control.fd, .events = POLLIN};
    if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
      return -errno;
    sl__ctl_msg_t r;
    rc = sl__ctl_recv(control.fd, &r, fd);
    if (rc < 0 && rc != SL_EINVAL) return rc;
    if (rc != 1) continue;
    if (r.type == SL__CTL_LISTEN_OK && r.seq == m->seq) {
      *m = r;
      return 0;
    }
    if (r.type == SL__CTL_CONN && *fd >= 0 && control.nearly < MAX_EARLY) {
      control.early[control.nearly++] = (early_t){r.key, *fd};
      sl__tick_schedule(&control.early_tick);
    } else if (r.type == SL__CTL_CONN && *fd >= 0) {
      bounce(r.key, *fd); /* no server callback inside a listen call */
    } else {
      handle(&r, *fd);
    }
  }
}

/* The lowest index no open server of this worker has on host:port. */
static int listen_index(const char* host, int port) {
  for (int i = 0;; i++) {
    int used = 0;
    for (sl__queue_t* q = control.members.next; q != &control.members && !used;
         q = q->next) {
      member_t* mb = sl__container_of(q, member_t, node);
      used = mb->index == i && mb->port == port && strcmp(mb->host, host) == 0;
    }
    if (!used) return i;
  }
}

/* The open hook: LISTEN to the primary. */
static int listen_via_primary(sl__listen_t* l, const char* host, int port,
                              int backlog, void** member, int* port_out) {
  member_t* mb = sl__calloc(1, sizeof *mb);
  int rc = mb == NULL ? SL_ENOMEM : ctl_poll_start();
  sl__ctl_msg_t m = {.type = SL__CTL_LISTEN,
                     .port = port,
                     .backlog = backlog,
                     .index = listen_index(host, port)};
  snprintf(m.host, sizeof m.host, "%s", host);
  int fd = -1;
  if (rc == 0) rc = ask_primary(&m, &fd);
  if (rc == 0) rc = m.err;
  if (rc == 0 && fd < 0 && m.sched != SL_SCHED_RR) rc = SL_EPROTO;
  if (rc != 0) {
    if (fd >= 0) close(fd);
    sl__free(mb);
    return rc;
  }
  mb->l = l;
  mb->key = m.key;
  mb->index = m.index;
  mb->port = port;
  snprintf(mb->host, sizeof mb->host, "%s", host);
  sl__tick_init(&mb->gone_tick, on_gone_tick);
  sl__queue_insert_tail(&control.members, &mb->node);
  *port_out = m.port;
  *member = mb;
  return fd >= 0 ? fd : SL__LISTEN_HANDOFF;
}

static int hook_open(sl__listen_t* l, const char* host, int port, int backlog,
                     void** member, int* port_out) {
  *member = NULL;
  ctl_check();
  if (control.fd < 0 || strlen(host) >= sizeof((member_t*)0)->host)
    return SL__LISTEN_LOCAL;
  sl_cluster_is_primary(); /* the channel and "online" come first */
  return listen_via_primary(l, host, port, backlog, member, port_out);
}

/* A control packet that must go out (the primary reads them as they come,
 * so a full socket drains quickly): waits up to a second. */
static int send_must(const sl__ctl_msg_t* m) {
  int rc;
  for (int i = 0; i < 100; i++) {
    if ((rc = sl__ctl_send(control.fd, m, -1)) != SL_EAGAIN) return rc;
    struct pollfd pfd = {.fd = control.fd, .events = POLLOUT};
    poll(&pfd, 1, 10);
  }
  return rc;
}

/* The close hook: UNLISTEN; cb runs at the primary's UNLISTEN_OK. */
static void hook_close(void* member, int bounce_late, void (*cb)(void* arg),
                       void* arg) {
  member_t* mb = member;
  SL_ASSERT(!mb->closing);
  mb->closing = 1;
  mb->bounce_late = bounce_late;
  mb->close_cb = cb;
  mb->close_arg = arg;
  sl__ctl_msg_t m = {.type = SL__CTL_UNLISTEN, .key = mb->key};
  if (control.refs++ == 0) uv_ref((uv_handle_t*)&control.poll);
  if (send_must(&m) != 0)
    sl__tick_schedule(&mb->gone_tick); /* the primary is gone */
}

static const sl__listen_hooks_t worker_hooks = {
    .open = hook_open,
    .close = hook_close,
};

void sl__wnet_install(void) {
  if (getenv("SLUICE_CLUSTER_FD") != NULL) sl__listen_set_hooks(&worker_hooks);
}

size_t sl__wnet_shutdown_all(void) {
  size_t n = 0;
  if (!control.checked) return 0;
  for (sl__queue_t* q = control.members.next; q != &control.members;
       q = q->next) {
    member_t* mb = sl__container_of(q, member_t, node);
    n++;
    if (!mb->closing) sl__listen_shutdown(mb->l); /* leaves it listed */
  }
  return n;
}
