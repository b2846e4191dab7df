/* The floor of bench/ws's echo: the least work any WebSocket echo server
 * on this kernel must do, with no library, no streams, no event objects.
 * One thread, level-triggered epoll; per readable socket one read(), the
 * frames in it unmasked, and their echoes sent in one write(). It answers
 * the handshake by taking the key from the request and computing the
 * accept value with sluice's own SHA-1 (sl__ws_accept_key, linked from
 * libsluice.a). It is not a server anyone should run: it assumes frames of
 * less than 126 bytes that arrive whole, which is what `wsload echo` sends.
 * Its round trips per second and CPU per round trip bound what sluice (or
 * Node) can reach on the same machine: the rest is the kernel's.
 *
 * Usage: floor PORT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

void sl__ws_accept_key(const char* key, size_t len, char out[29]);

#define MAXFD 65536
static unsigned char upgraded[MAXFD];

static void handshake(int fd, char* req, ssize_t n) {
  req[n] = 0;
  char* k = strcasestr(req, "Sec-WebSocket-Key:");
  if (!k) {
    close(fd);
    return;
  }
  k += 18;
  while (*k == ' ') k++;
  size_t len = strcspn(k, "\r\n");
  char accept[29], out[256];
  sl__ws_accept_key(k, len, accept);
  int m = snprintf(out, sizeof out,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                   accept);
  if (write(fd, out, (size_t)m) != m) {
    close(fd);
    return;
  }
  upgraded[fd] = 1;
}

static void echo(int fd, unsigned char* in, ssize_t n) {
  unsigned char out[65536];
  size_t o = 0;
  for (ssize_t i = 0; i + 6 <= n;) {
    size_t len = in[i + 1] & 0x7f;
    if (len > 125 || i + 6 + (ssize_t)len > n) break;
    const unsigned char* mask = in + i + 2;
    out[o++] = in[i];
    out[o++] = (unsigned char)len;
    for (size_t j = 0; j < len; j++) out[o++] = in[i + 6 + j] ^ mask[j & 3];
    i += 6 + (ssize_t)len;
  }
  if (o && write(fd, out, o) < 0) close(fd);
}

int main(int argc, char** argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8080;
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr*)&a, sizeof a) || listen(ls, 4096)) {
    perror("floor: bind");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  printf("listening on %d\n", port);
  fflush(stdout);
  static struct epoll_event evs[1024];
  static unsigned char buf[65536];
  for (;;) {
    int n = epoll_wait(ep, evs, 1024, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int c;
        while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (c >= MAXFD) {
            close(c);
            continue;
          }
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          upgraded[c] = 0;
          struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf - 1);
      if (r <= 0) {
        close(fd);
        continue;
      }
      if (upgraded[fd])
        echo(fd, buf, r);
      else
        handshake(fd, (char*)buf, r);
    }
  }
}
