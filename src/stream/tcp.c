/* TCP: client sockets (sl_tcp_connect) and servers (sl_tcp_listen). A socket
 * is the uvstream.c wrapper over a uv_tcp_t: this file only resolves and
 * connects, names the peer, and wraps what a server's listener (listen.c)
 * accepts. Listening sockets are created here
 * rather than by uv_tcp_bind so that SO_REUSEPORT can be set before bind
 * (libuv 1.44 has no UV_TCP_REUSEPORT), and where a listener passed by
 * systemd (socket activation) replaces a bind. Every descriptor is
 * close-on-exec:
 * libuv opens client and accepted sockets with SOCK_CLOEXEC, and so do we. */
#include "stream/listen_int.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#define SL__TCP_HWM (64 * 1024)

typedef struct {
  sl__uvs_t u;
  uv_connect_t creq;
} tcp_t;

typedef struct {
  uv_getaddrinfo_t req;
  sl_stream_t* s; /* a reference, so the stream outlives a destroy */
  int port;
} resolve_t;

struct sl_tcp_server_s {
  sl__listen_t* l;
  sl_connection_cb on_conn;
  void* arg;
  sl_tcp_opts_t conn;
  int port;
  void (*close_cb)(void* arg);
  void* close_arg;
  int closing;
};

/* --- addresses ---------------------------------------------------------- */

/* "127.0.0.1:5000" or "[::1]:5000". */
static void format_addr(const struct sockaddr* sa, char* out, size_t size) {
  char ip[INET6_ADDRSTRLEN] = "";
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in* a = (const struct sockaddr_in*)sa;
    uv_ip4_name(a, ip, sizeof ip);
    snprintf(out, size, "%s:%d", ip, ntohs(a->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6* a = (const struct sockaddr_in6*)sa;
    uv_ip6_name(a, ip, sizeof ip);
    snprintf(out, size, "[%s]:%d", ip, ntohs(a->sin6_port));
  } else {
    snprintf(out, size, "%s", "");
  }
}

/* Parses a numeric IPv4/IPv6 address. Returns 0 or SL_EINVAL. */
static int parse_addr(const char* host, int port, struct sockaddr_storage* ss) {
  if (port < 0 || port > 65535 || host == NULL) return SL_EINVAL;
  memset(ss, 0, sizeof *ss);
  if (uv_ip4_addr(host, port, (struct sockaddr_in*)ss) == 0) return 0;
  if (uv_ip6_addr(host, port, (struct sockaddr_in6*)ss) == 0) return 0;
  return SL_EINVAL;
}

static void set_peer(sl__uvs_t* u) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername((uv_tcp_t*)u->h, (struct sockaddr*)&ss, &len) == 0)
    format_addr((struct sockaddr*)&ss, u->peer, sizeof u->peer);
}

const char* sl_tcp_peer(const sl_stream_t* s) {
  uv_stream_t* h = sl__uv_stream_handle(s);
  if (h == NULL || h->type != UV_TCP) return "";
  sl__uvs_t* u = (sl__uvs_t*)s;
  if (u->peer[0] == '\0' && !u->connecting) set_peer(u);
  return u->peer;
}

/* --- connect ------------------------------------------------------------ */

static void on_connect(uv_connect_t* req, int status) {
  tcp_t* t = req->data;
  if (status == 0) set_peer(&t->u);
  sl__uv_stream_connected(&t->u.s, status);
}

static void start_connect(tcp_t* t, const struct sockaddr* sa) {
  char name[64];
  format_addr(sa, name, sizeof name);
  /* Messages name the address actually tried: "connect 127.0.0.1:9". */
  char* copy = sl__strdup(name);
  if (copy != NULL) {
    sl__free(t->u.s.name);
    t->u.s.name = copy;
  }
  t->creq.data = t;
  int rc = uv_tcp_connect(&t->creq, (uv_tcp_t*)t->u.h, sa, on_connect);
  if (rc != 0) sl_stream_fail(&t->u.s, rc, "connect %s", name);
}

/* "localhost" may resolve to ::1 first; servers here listen on 127.0.0.1,
 * so an IPv4 address is preferred when there is one. */
static void on_resolved(uv_getaddrinfo_t* req, int status,
                        struct addrinfo* res) {
  resolve_t* r = req->data;
  sl_stream_t* s = r->s;
  if (!s->destroyed) {
    const struct addrinfo* pick = NULL;
    for (const struct addrinfo* a = res; a != NULL; a = a->ai_next)
      if (pick == NULL ||
          (a->ai_family == AF_INET && pick->ai_family != AF_INET))
        pick = a;
    if (status != 0 || pick == NULL) {
      sl_stream_fail(s, SL_EADDRNOTAVAIL, "getaddrinfo %s", sl_stream_name(s));
    } else {
      struct sockaddr_storage ss;
      memcpy(&ss, pick->ai_addr, pick->ai_addrlen);
      ((struct sockaddr_in*)&ss)->sin_port = htons((uint16_t)r->port);
      start_connect((tcp_t*)s, (struct sockaddr*)&ss);
    }
  }
  uv_freeaddrinfo(res);
  sl_stream_unref(s);
  sl__free(r);
}

static int start_resolve(tcp_t* t, const char* host, int port) {
  resolve_t* r = sl__calloc(1, sizeof *r);
  if (r == NULL) return SL_ENOMEM;
  r->req.data = r;
  r->s = sl_stream_ref(&t->u.s);
  r->port = port;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  int rc = uv_getaddrinfo(sl__loop(), &r->req, on_resolved, host, NULL, &hints);
  if (rc != 0) {
    sl_stream_unref(r->s);
    sl__free(r);
  }
  return rc;
}

/* Wraps an initialised uv_tcp_t as a socket stream with `o`. */
static sl_stream_t* tcp_wrap(uv_tcp_t* h, const sl_tcp_opts_t* o,
                             const char* name, int connecting) {
  static const sl_tcp_opts_t defaults;
  if (o == NULL) o = &defaults;
  sl_stream_opts_t so = {
      .high_water_mark = o->high_water_mark ? o->high_water_mark : SL__TCP_HWM,
      .end_on_end = !o->allow_half_open,
      .name = name,
  };
  int flags = SL__UVS_READABLE | SL__UVS_WRITABLE | SL__UVS_SHUTDOWN |
              (connecting ? SL__UVS_CONNECTING : 0);
  if (o->no_delay) uv_tcp_nodelay(h, 1);
  return sl__uv_stream_new((uv_stream_t*)h, flags, &so, sizeof(tcp_t));
}

sl_stream_t* sl_tcp_connect(const char* host, int port,
                            const sl_tcp_opts_t* o) {
  struct sockaddr_storage ss;
  int numeric = parse_addr(host, port, &ss) == 0;
  if (!numeric && (host == NULL || strcmp(host, "localhost") != 0 || port < 0 ||
                   port > 65535))
    return NULL;
  uv_tcp_t* h = sl__malloc(sizeof *h);
  if (h == NULL) return NULL;
  uv_tcp_init(sl__loop(), h);
  char name[300];
  snprintf(name, sizeof name, "%s:%d", host, port);
  sl_stream_t* s = tcp_wrap(h, o, name, 1);
  if (s == NULL) return NULL;
  if (numeric) {
    start_connect((tcp_t*)s, (struct sockaddr*)&ss);
  } else {
    int rc = start_resolve((tcp_t*)s, host, port);
    if (rc != 0) sl_stream_fail(s, rc, "getaddrinfo %s", host);
  }
  return s;
}

/* --- servers ------------------------------------------------------------ */

/* Wraps an accepted (or handed over, or drained) socket and gives it to
 * the user. Connections drained from the queue at close still go to
 * on_conn; handoffs that come after close go back to the primary. */
static void conn_adopt(void* arg, uv_tcp_t* h) {
  sl_tcp_server_t* srv = arg;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char name[64] = "";
  if (uv_tcp_getpeername(h, (struct sockaddr*)&ss, &len) == 0)
    format_addr((struct sockaddr*)&ss, name, sizeof name);
  sl_stream_t* conn = tcp_wrap(h, &srv->conn, name, 0);
  if (conn == NULL) return; /* the wrapper closes h */
  memcpy(((sl__uvs_t*)conn)->peer, name, sizeof name);
  sl__load.accepted++;
  srv->on_conn(srv, conn, srv->arg);
}

/* --- socket activation ---------------------------------------------------
 * systemd (and systemd-socket-activate, or any launcher following
 * sd_listen_fds(3)) passes listening sockets from descriptor 3 on, with
 * LISTEN_PID naming the process meant and LISTEN_FDS their count. A bind
 * of an address one of them is bound to (exactly, or by a wildcard on that
 * port) takes a duplicate of it: the launcher's copy keeps queuing while
 * we restart. Only the process named adopts them, so a cluster's workers
 * (other pids) still ask their primary, which adopts once per slot (every
 * slot then shares the one socket, whatever the scheduling). */
#define SL__LISTEN_FDS_START 3
#define SL__LISTEN_FDS_MAX   64

static int same_addr(const struct sockaddr* want,
                     const struct sockaddr_storage* got) {
  if (want->sa_family != got->ss_family) return 0;
  if (want->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const void*)want, *b = (const void*)got;
    return a->sin_port == b->sin_port &&
           (a->sin_addr.s_addr == b->sin_addr.s_addr ||
            b->sin_addr.s_addr == htonl(INADDR_ANY));
  }
  const struct sockaddr_in6 *a = (const void*)want, *b = (const void*)got;
  return a->sin6_port == b->sin6_port &&
         (memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0 ||
          memcmp(&b->sin6_addr, &in6addr_any, 16) == 0);
}

static int activated_count(void) {
  const char* pid = getenv("LISTEN_PID");
  const char* fds = getenv("LISTEN_FDS");
  if (pid == NULL || fds == NULL || atol(pid) != (long)getpid()) return 0;
  long n = atol(fds);
  return n < 0 ? 0 : n > SL__LISTEN_FDS_MAX ? SL__LISTEN_FDS_MAX : (int)n;
}

/* A non-blocking, close-on-exec duplicate of the passed listener bound to
 * `sa`, or -1 when none is. */
static int activated_fd(const struct sockaddr* sa) {
  int n = activated_count();
  for (int fd = SL__LISTEN_FDS_START; fd < SL__LISTEN_FDS_START + n; fd++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int on = 0;
    socklen_t olen = sizeof on;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) != 0 || !on ||
        getsockname(fd, (struct sockaddr*)&ss, &len) != 0 ||
        !same_addr(sa, &ss))
      continue;
    fcntl(fd, F_SETFD, FD_CLOEXEC); /* not into our children */
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, SL__LISTEN_FDS_START);
    int fl = dup >= 0 ? fcntl(dup, F_GETFL) : -1;
    if (fl >= 0 && fcntl(dup, F_SETFL, fl | O_NONBLOCK) == 0) return dup;
    if (dup >= 0) close(dup);
    return -errno;
  }
  return -1;
}

int sl__tcp_bind(const char* host, int port, int reuseport) {
  struct sockaddr_storage ss;
  int rc = parse_addr(host, port, &ss);
  if (rc != 0) return rc;
  const struct sockaddr* sa = (const struct sockaddr*)&ss;
  if (port != 0 && (rc = activated_fd(sa)) != -1) return rc;
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
  int on = 1;
  socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      (reuseport &&
       setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ||
      bind(fd, sa, len) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  return fd;
}

int sl__tcp_local_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr*)&ss, &len) != 0) return 0;
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6*)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in*)&ss)->sin_port);
}

static void close_on_shutdown(void* arg) {
  sl_tcp_server_close(arg, NULL, NULL);
}

int sl_tcp_listen(const char* host, int port, const sl_tcp_server_opts_t* o,
                  sl_connection_cb on_conn, void* arg, sl_tcp_server_t** out) {
  static const sl_tcp_server_opts_t defaults;
  if (o == NULL) o = &defaults;
  SL_ASSERT(on_conn != NULL && out != NULL);
  *out = NULL;
  sl_tcp_server_t* srv = sl__calloc(1, sizeof *srv);
  if (srv == NULL) return SL_ENOMEM;
  srv->on_conn = on_conn;
  srv->arg = arg;
  srv->conn = o->conn;
  sl__listen_opts_t lo = {
      .host = host,
      .port = port,
      .backlog = o->backlog,
      .reuseport = o->reuseport,
      .exclusive = o->exclusive,
      .bounce_late = 1,
      .on_conn = conn_adopt,
      .close_server = close_on_shutdown,
      .arg = srv,
  };
  int rc = sl__listen_open(&lo, &srv->l);
  if (rc != 0) {
    sl__free(srv);
    return rc;
  }
  srv->port = sl__listen_port(srv->l);
  *out = srv;
  return 0;
}

int sl_tcp_server_port(const sl_tcp_server_t* srv) { return srv->port; }

static void server_closed(void* arg) {
  sl_tcp_server_t* srv = arg;
  if (srv->close_cb != NULL) srv->close_cb(srv->close_arg);
  sl__free(srv);
}

void sl_tcp_server_close(sl_tcp_server_t* srv, sl_close_cb cb, void* arg) {
  SL_ASSERT(!srv->closing);
  srv->closing = 1;
  srv->close_cb = cb;
  srv->close_arg = arg;
  sl__listen_close(srv->l, server_closed, srv);
}
