/* A server's listening side, in and out of a cluster worker: the
 * synchronous listen request to the primary over the control socket
 * (descriptor SLUICE_CLUSTER_FD), the rr handoffs that arrive on it (given
 * to the server's callback, or bounced back when the server is gone), the
 * unlisten handshake, and the accept-queue drain servers run when they
 * stop. Outside a worker a server simply binds its own socket. */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "stream/stream_int.h"

#define LISTEN_TIMEOUT_MS 10000
#define MAX_EARLY 1024 /* handoffs read while waiting for a listen answer */

sl__load_t sl__load;

/* The bounds of the request-duration histogram, in seconds: Prometheus's
 * default buckets, which span a cached small file to a slow download. */
static const double bucket_le[SL_DURATION_BUCKETS] = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

double sl_load_bucket_le(int i) {
  return i >= 0 && i < SL_DURATION_BUCKETS ? bucket_le[i] : -1;
}

void sl__load_observe(int status, uint64_t bytes, uint64_t ns) {
  if (status >= 100 && status < 600) sl__load.responses[status / 100 - 1]++;
  sl__load.bytes_sent += bytes;
  sl__load.duration_sum_ns += ns;
  double s = (double)ns / 1e9;
  int i = 0;
  while (i < SL_DURATION_BUCKETS && s > bucket_le[i]) i++;
  if (i < SL_DURATION_BUCKETS) sl__load.duration_buckets[i]++;
  else sl__load.duration_over++;
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

struct sl__clisten_s {
  sl__queue_t node;
  int key;
  int index;
  char host[64];
  int port; /* as asked */
  int bounce_late;
  sl__conn_fd_cb on_fd;
  void (*close_server)(void* arg);
  void* arg;
  int closing;
  void (*close_cb)(void* arg);
  void* close_arg;
  sl__tick_t gone_tick; /* the primary is gone: no acknowledgement */
};

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
} N = {.fd = -1};

/* --- packets -------------------------------------------------------------- */

int sl__ctl_send(int sock, const sl__ctl_msg_t* m, int fd) {
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {.iov_base = (void*)m, .iov_len = sizeof *m};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  if (fd >= 0) {
    memset(cbuf, 0, sizeof cbuf);
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t n;
  do
    n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : 0;
}

int sl__ctl_recv(int sock, sl__ctl_msg_t* m, int* fd, int flags) {
  char cbuf[CMSG_SPACE(sizeof(int) * 4)];
  struct iovec iov = {.iov_base = m, .iov_len = sizeof *m};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
                      .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  ssize_t n;
  *fd = -1;
  do
    n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EAGAIN ? 0 : -errno;
  if (n == 0) return SL_EOF;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
      if (*fd < 0) *fd = got;
      else close(got); /* one descriptor per packet */
    }
  }
  if ((size_t)n != sizeof *m || (mh.msg_flags & MSG_TRUNC)) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
    return SL_EINVAL;
  }
  m->host[sizeof m->host - 1] = '\0';
  return 1;
}

/* --- the worker's control socket ------------------------------------------ */

static void ctl_check(void) {
  if (N.checked) return;
  N.checked = 1;
  sl__queue_init(&N.members);
  const char* e = getenv("SLUICE_CLUSTER_FD");
  if (e == NULL || sl_cluster_is_primary()) return; /* the id is unset
                                                       once it was read */
  int fd = atoi(e);
  int type;
  socklen_t l = sizeof type;
  if (fd < 3 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0 ||
      type != SOCK_SEQPACKET)
    return;
  unsetenv("SLUICE_CLUSTER_FD");
  N.fd = fd;
}

static sl__clisten_t* member_find(int key) {
  for (sl__queue_t* q = N.members.next; q != &N.members; q = q->next) {
    sl__clisten_t* l = sl__container_of(q, sl__clisten_t, node);
    if (l->key == key) return l;
  }
  return NULL;
}

/* A connection for `key`: to its server, or back to the primary when the
 * server is gone (the primary gives it to another worker). */
static void bounce(int key, int fd) {
  sl__ctl_msg_t m = {.type = SL__CTL_BOUNCE, .key = key};
  sl__ctl_send(N.fd, &m, fd);
  close(fd);
}

static void deliver(int key, int fd) {
  sl__clisten_t* l = member_find(key);
  if (l != NULL && !(l->closing && l->bounce_late)) l->on_fd(l->arg, fd);
  else bounce(key, fd);
}

static void member_release(sl__clisten_t* l) {
  sl__queue_remove(&l->node);
  if (--N.refs == 0 && N.poll_on) uv_unref((uv_handle_t*)&N.poll);
  void (*cb)(void*) = l->close_cb;
  void* arg = l->close_arg;
  sl__free(l);
  if (cb != NULL) cb(arg);
}

static void unlisten_done(int key) {
  sl__clisten_t* l = member_find(key);
  if (l != NULL && l->closing) member_release(l);
}

static void on_gone_tick(sl__tick_t* t) {
  member_release(sl__container_of(t, sl__clisten_t, gone_tick));
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
    sl__ctl_send(N.fd, &u, -1);
  }
}

static void on_ctl(uv_poll_t* p, int status, int events) {
  (void)p;
  (void)events;
  sl__ctl_msg_t m;
  int fd, rc = 0;
  /* A bounded batch per wakeup keeps the loop fair to other handles. */
  for (int i = 0; i < 256 && status == 0; i++) {
    rc = sl__ctl_recv(N.fd, &m, &fd, MSG_DONTWAIT);
    if (rc == 0) return;
    if (rc < 0 && rc != SL_EINVAL) break;
    if (rc == 1) handle(&m, fd);
  }
  if (status != 0 || (rc < 0 && rc != SL_EINVAL)) {
    /* The primary is gone: the channel's close ends the worker. */
    uv_poll_stop(&N.poll);
  }
}

static void deliver_early(sl__tick_t* t) {
  (void)t;
  for (size_t i = 0; i < N.nearly; i++) deliver(N.early[i].key, N.early[i].fd);
  N.nearly = 0;
}

static int ctl_poll_start(void) {
  if (N.poll_on) return 0;
  int rc = uv_poll_init(sl__loop(), &N.poll, N.fd);
  if (rc == 0) rc = uv_poll_start(&N.poll, UV_READABLE, on_ctl);
  if (rc != 0) return rc;
  uv_unref((uv_handle_t*)&N.poll);
  sl__tick_init(&N.early_tick, deliver_early);
  N.poll_on = 1;
  return 0;
}

/* The synchronous round trip: send LISTEN, wait for its LISTEN_OK. CONN
 * packets for earlier listeners that arrive meanwhile are kept and
 * delivered from the loop. */
static int ask_primary(sl__ctl_msg_t* m, int* fd) {
  m->seq = ++N.seq;
  int rc = sl__ctl_send(N.fd, m, -1);
  if (rc != 0) return rc;
  uint64_t deadline = uv_hrtime() / 1000000 + LISTEN_TIMEOUT_MS;
  for (;;) {
    uint64_t now = uv_hrtime() / 1000000;
    if (now >= deadline) return SL_ETIMEDOUT;
    struct pollfd pfd = {.fd = N.fd, .events = POLLIN};
    if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
      return -errno;
    sl__ctl_msg_t r;
    rc = sl__ctl_recv(N.fd, &r, fd, MSG_DONTWAIT);
    if (rc < 0 && rc != SL_EINVAL) return rc;
    if (rc != 1) continue;
    if (r.type == SL__CTL_LISTEN_OK && r.seq == m->seq) {
      *m = r;
      return 0;
    }
    if (r.type == SL__CTL_CONN && *fd >= 0 && N.nearly < MAX_EARLY) {
      N.early[N.nearly++] = (early_t){r.key, *fd};
      sl__tick_schedule(&N.early_tick);
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
    for (sl__queue_t* q = N.members.next; q != &N.members && !used;
         q = q->next) {
      sl__clisten_t* l = sl__container_of(q, sl__clisten_t, node);
      used = l->index == i && l->port == port && strcmp(l->host, host) == 0;
    }
    if (!used) return i;
  }
}

static int listen_via_primary(const char* host, int port, int backlog,
                              sl__conn_fd_cb on_fd,
                              void (*close_server)(void* arg), void* arg,
                              int* port_out, sl__clisten_t** out) {
  sl__clisten_t* l = sl__calloc(1, sizeof *l);
  int rc = l == NULL ? SL_ENOMEM : ctl_poll_start();
  sl__ctl_msg_t m = {.type = SL__CTL_LISTEN, .port = port,
                     .backlog = backlog, .index = listen_index(host, port)};
  snprintf(m.host, sizeof m.host, "%s", host);
  int fd = -1;
  if (rc == 0) rc = ask_primary(&m, &fd);
  if (rc == 0) rc = m.err;
  if (rc == 0 && fd < 0 && m.sched != SL_SCHED_RR) rc = SL_EPROTO;
  if (rc != 0) {
    if (fd >= 0) close(fd);
    sl__free(l);
    return rc;
  }
  l->key = m.key;
  l->index = m.index;
  l->port = port;
  snprintf(l->host, sizeof l->host, "%s", host);
  l->on_fd = on_fd;
  l->close_server = close_server;
  l->arg = arg;
  sl__tick_init(&l->gone_tick, on_gone_tick);
  sl__queue_insert_tail(&N.members, &l->node);
  *port_out = m.port;
  *out = l;
  return fd >= 0 ? fd : SL__LISTEN_HANDOFF;
}

int sl__listen_open(const char* host, int port, int backlog, int reuseport,
                    int exclusive, sl__conn_fd_cb on_fd,
                    void (*close_server)(void* arg), void* arg,
                    int* port_out, sl__clisten_t** out) {
  *out = NULL;
  ctl_check();
  if (host == NULL) host = "127.0.0.1";
  size_t host_max = sizeof((sl__clisten_t*)0)->host;
  if (N.fd >= 0 && !exclusive && strlen(host) < host_max) {
    sl_cluster_is_primary(); /* the channel and "online" come first */
    return listen_via_primary(host, port, backlog, on_fd, close_server, arg,
                              port_out, out);
  }
  int fd = sl__tcp_bind(host, port, reuseport);
  if (fd < 0) return fd;
  if (listen(fd, backlog) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  *port_out = sl__tcp_local_port(fd);
  return fd;
}

/* A control packet that must go out (the primary reads them as they come,
 * so a full socket drains quickly): waits up to a second. */
static int send_must(const sl__ctl_msg_t* m) {
  int rc;
  for (int i = 0; i < 100; i++) {
    if ((rc = sl__ctl_send(N.fd, m, -1)) != SL_EAGAIN) return rc;
    struct pollfd pfd = {.fd = N.fd, .events = POLLOUT};
    poll(&pfd, 1, 10);
  }
  return rc;
}

void sl__listen_close(sl__clisten_t* l, int bounce_late,
                      void (*cb)(void* arg), void* arg) {
  SL_ASSERT(!l->closing);
  l->closing = 1;
  l->bounce_late = bounce_late;
  l->close_cb = cb;
  l->close_arg = arg;
  sl__ctl_msg_t m = {.type = SL__CTL_UNLISTEN, .key = l->key};
  if (N.refs++ == 0) uv_ref((uv_handle_t*)&N.poll);
  if (send_must(&m) != 0)
    sl__tick_schedule(&l->gone_tick); /* the primary is gone */
}

size_t sl__listen_shutdown_all(void) {
  size_t n = 0;
  if (!N.checked) return 0;
  for (sl__queue_t* q = N.members.next; q != &N.members; q = q->next) {
    sl__clisten_t* l = sl__container_of(q, sl__clisten_t, node);
    n++;
    if (!l->closing) l->close_server(l->arg); /* leaves it in the list */
  }
  return n;
}

size_t sl__listen_drain(int fd, sl__conn_fd_cb on_fd, void* arg) {
  size_t n = 0;
  for (;;) {
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0 && errno == EINTR) continue;
    if (c < 0) return n;
    on_fd(arg, c);
    n++;
  }
}
