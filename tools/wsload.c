/* wsload: a WebSocket load generator for the benchmarks (bench/ws), with no
 * sluice code in it, so that it measures sluice and Node alike. One thread,
 * epoll, non-blocking sockets; masked client frames, unmasked server frames.
 *
 *   wsload echo  PORT CONNS SECONDS SIZE   each connection sends a binary
 *                                          message of SIZE bytes, waits for
 *                                          its echo, sends the next: prints
 *                                          round trips per second
 *   wsload idle  PORT CONNS SECONDS        opens CONNS connections, sends
 *                                          one message on each, prints
 *                                          "open N" once all are echoed,
 *                                          holds them SECONDS, closes
 *   wsload bcast PORT CONNS COUNT SIZE     opens CONNS connections, asks the
 *                                          server ("!bcast COUNT SIZE" from
 *                                          the first) to send COUNT messages
 *                                          to every connection: prints
 *                                          messages delivered per second
 *
 * WSLOAD_DEFLATE=1 offers permessage-deflate (sent frames stay plain).
 * Every run is bounded: connections that do not upgrade within 30 s, or a
 * run past its time, end it with exit code 1. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int fd;
  int upgraded;
  unsigned char* in;
  size_t len, cap;
  uint64_t got;
} conn_t;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char* m) {
  perror(m);
  exit(1);
}

static const char req_fmt[] =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n%s\r\n";

/* Sends all of buf (blocking briefly on EAGAIN: messages are small). */
static void send_all(int fd, const void* buf, size_t n) {
  const char* p = buf;
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EAGAIN) {
      usleep(50);
      continue;
    }
    if (w <= 0) die("send");
    p += w;
    n -= (size_t)w;
  }
}

static size_t frame(unsigned char* out, int op, const void* data, size_t n) {
  size_t h = 0;
  out[h++] = (unsigned char)(0x80 | op);
  if (n < 126) {
    out[h++] = (unsigned char)(0x80 | n);
  } else if (n < 65536) {
    out[h++] = 0x80 | 126;
    out[h++] = (unsigned char)(n >> 8);
    out[h++] = (unsigned char)n;
  } else {
    out[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--)
      out[h++] = (unsigned char)((uint64_t)n >> (8 * i));
  }
  static const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  memcpy(out + h, key, 4);
  h += 4;
  const unsigned char* d = data;
  for (size_t i = 0; i < n; i++) out[h + i] = d[i] ^ key[i & 3];
  return h + n;
}

/* Takes whole frames out of c->in; returns how many data messages. */
static int parse(conn_t* c) {
  int msgs = 0;
  size_t pos = 0;
  if (!c->upgraded) {
    unsigned char* e = memmem(c->in, c->len, "\r\n\r\n", 4);
    if (e == NULL) return 0;
    if (memcmp(c->in, "HTTP/1.1 101", 12) != 0) {
      fprintf(stderr, "wsload: no 101: %.40s\n", c->in);
      exit(1);
    }
    c->upgraded = 1;
    pos = (size_t)(e - c->in) + 4;
  }
  for (;;) {
    if (c->len - pos < 2) break;
    unsigned char* b = c->in + pos;
    uint64_t n = b[1] & 127;
    size_t hl = 2;
    if (n == 126) {
      if (c->len - pos < 4) break;
      n = (uint64_t)b[2] << 8 | b[3];
      hl = 4;
    } else if (n == 127) {
      if (c->len - pos < 10) break;
      n = 0;
      for (int i = 0; i < 8; i++) n = n << 8 | b[2 + i];
      hl = 10;
    }
    if (c->len - pos < hl + n) break;
    int op = b[0] & 15;
    if (op == 1 || op == 2) msgs++;
    pos += hl + n;
  }
  memmove(c->in, c->in + pos, c->len - pos);
  c->len -= pos;
  return msgs;
}

static int read_some(conn_t* c) {
  int msgs = 0;
  for (;;) {
    if (c->cap - c->len < 65536) {
      c->cap = c->cap * 2 + 65536;
      c->in = realloc(c->in, c->cap);
      if (c->in == NULL) die("realloc");
    }
    ssize_t r = recv(c->fd, c->in + c->len, c->cap - c->len, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (r <= 0) {
      fprintf(stderr, "wsload: connection closed by the server\n");
      exit(1);
    }
    c->len += (size_t)r;
    msgs += parse(c);
    if (!c->upgraded) continue;
  }
  return msgs;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: wsload echo|idle|bcast PORT CONNS ...\n");
    return 2;
  }
  const char* mode = argv[1];
  int port = atoi(argv[2]);
  int nconn = atoi(argv[3]);
  double arg4 = argc > 4 ? atof(argv[4]) : 1;
  size_t size = argc > 5 ? (size_t)atol(argv[5]) : 32;
  struct rlimit rl = {nconn + 64, nconn + 64};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconn + 64) {
    rl.rlim_cur = rl.rlim_max = (rlim_t)nconn + 64;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int ep = epoll_create1(0);
  conn_t* cs = calloc((size_t)nconn, sizeof *cs);
  char req[256];
  const char* ext = getenv("WSLOAD_DEFLATE") != NULL
                        ? "Sec-WebSocket-Extensions: permessage-deflate; "
                          "client_max_window_bits\r\n"
                        : "";
  int rl2 = snprintf(req, sizeof req, req_fmt, port, ext);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int upgraded = 0;
  double t0 = now();
  struct epoll_event evs[1024];
  /* Connect in batches, so the server's backlog is not overrun. */
  for (int i = 0; i < nconn; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) die("connect");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    send_all(fd, req, (size_t)rl2);
    cs[i].fd = fd;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &cs[i]};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    if (i % 256 != 255 && i != nconn - 1) continue;
    int want = i == nconn - 1 ? nconn : i + 1 - 512;
    while (upgraded < want) {
      int n = epoll_wait(ep, evs, 1024, 1000);
      for (int k = 0; k < n; k++) {
        conn_t* c = evs[k].data.ptr;
        int was = c->upgraded;
        read_some(c);
        if (!was && c->upgraded) upgraded++;
      }
      if (now() - t0 > 30) {
        fprintf(stderr, "wsload: %d of %d upgraded in 30 s\n", upgraded, nconn);
        return 1;
      }
    }
  }
  unsigned char* out = malloc(size + 64);
  unsigned char* payload = calloc(1, size + 1);
  if (strcmp(mode, "idle") == 0) {
    /* One message each first (a connection that has talked once), then
     * quiet. */
    size_t fl = frame(out, 2, payload, 32);
    for (int i = 0; i < nconn; i++) send_all(cs[i].fd, out, fl);
    int echoed = 0;
    while (echoed < nconn) {
      int n = epoll_wait(ep, evs, 1024, 1000);
      for (int k = 0; k < n; k++) echoed += read_some(evs[k].data.ptr);
      if (now() - t0 > 60) {
        fprintf(stderr, "wsload: %d of %d echoed\n", echoed, nconn);
        return 1;
      }
    }
    printf("open %d\n", nconn);
    fflush(stdout);
    double end = now() + arg4;
    while (now() < end) {
      int n = epoll_wait(ep, evs, 1024, 100);
      for (int k = 0; k < n; k++) read_some(evs[k].data.ptr);
    }
    return 0;
  }
  if (strcmp(mode, "echo") == 0) {
    size_t fl = frame(out, 2, payload, size);
    for (int i = 0; i < nconn; i++) send_all(cs[i].fd, out, fl);
    uint64_t trips = 0;
    double start = now(), end = start + arg4;
    while (now() < end) {
      int n = epoll_wait(ep, evs, 1024, 100);
      for (int k = 0; k < n; k++) {
        conn_t* c = evs[k].data.ptr;
        int m = read_some(c);
        for (int j = 0; j < m; j++) {
          trips++;
          send_all(c->fd, out, fl);
        }
      }
    }
    printf("%.0f round trips/s (%d connections, %zu-byte messages)\n",
           (double)trips / (now() - start), nconn, size);
    return 0;
  }
  if (strcmp(mode, "bcast") == 0) {
    uint64_t count = (uint64_t)arg4, total = count * (uint64_t)nconn, got = 0;
    char cmd[64];
    int cl = snprintf(cmd, sizeof cmd, "!bcast %llu %zu",
                      (unsigned long long)count, size);
    size_t fl = frame(out, 1, cmd, (size_t)cl);
    double start = now();
    send_all(cs[0].fd, out, fl);
    while (got < total) {
      int n = epoll_wait(ep, evs, 1024, 1000);
      for (int k = 0; k < n; k++) got += (uint64_t)read_some(evs[k].data.ptr);
      if (now() - start > 120) {
        fprintf(stderr, "wsload: %llu of %llu delivered in 120 s\n",
                (unsigned long long)got, (unsigned long long)total);
        return 1;
      }
    }
    printf("%.0f messages delivered/s (%llu to %d connections)\n",
           (double)total / (now() - start), (unsigned long long)total, nconn);
    return 0;
  }
  fprintf(stderr, "wsload: unknown mode %s\n", mode);
  return 2;
}
