/* Raw HTTP clients for the cluster tests: plain blocking sockets, so that
 * connecting and sending never wait on the primary's loop (the kernel
 * completes the handshake without anyone accepting), and answers
 * collected by a timer. Included by the cluster test files only. */
#ifndef SL_TEST_CLUSTER_CLIENTS_H
#define SL_TEST_CLUSTER_CLIENTS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

#define MAXC 64

typedef struct {
  int fd[MAXC];
  char buf[MAXC][256];
  size_t len[MAXC];
  int eof[MAXC];
  int n, answered, failed, ticks;
  int by_worker[16]; /* bodies "worker <id>" */
  void (*done)(void* arg);
  void* arg;
} clients_t;

/* A connection to 127.0.0.1:port, with one GET (Connection: close) sent
 * when `with_request`. Returns the descriptor or -errno. */
static inline int raw_connect(int port, int with_request) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr*)&sa, sizeof sa) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  static const char req[] =
      "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  if (with_request)
    ASSERT_EQ(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
  return fd;
}

static inline void clients_open(clients_t* c, int port, int n,
                                int with_request) {
  for (int i = 0; i < n; i++) {
    int fd = raw_connect(port, with_request);
    ASSERT_GE(fd, 0);
    c->fd[c->n++] = fd;
  }
}

static inline void clients_tally(clients_t* c) {
  for (int i = 0; i < c->n; i++) {
    c->buf[i][c->len[i]] = '\0';
    const char* w = strstr(c->buf[i], "worker ");
    if (strncmp(c->buf[i], "HTTP/1.1 200", 12) == 0 && w != NULL) {
      c->answered++;
      int id = atoi(w + 7);
      if (id > 0 && id < 16) c->by_worker[id]++;
    } else {
      c->failed++;
    }
    close(c->fd[i]);
  }
}

/* Reads what came; once every connection ended (or after about 5 s: the
 * rest count as failed), tallies and calls done. */
static inline void clients_poll(sl_timer_t* t, void* arg) {
  clients_t* c = arg;
  int open = 0;
  for (int i = 0; i < c->n; i++) {
    while (!c->eof[i]) {
      ssize_t r = recv(c->fd[i], c->buf[i] + c->len[i],
                       sizeof c->buf[i] - 1 - c->len[i], MSG_DONTWAIT);
      if (r > 0)
        c->len[i] += (size_t)r;
      else if (r == 0 || (errno != EAGAIN && errno != EINTR))
        c->eof[i] = 1;
      else
        break;
    }
    open += !c->eof[i];
  }
  if (open > 0 && ++c->ticks < 500) return;
  sl_timer_stop(t);
  clients_tally(c);
  c->done(c->arg);
}

static inline void clients_wait(clients_t* c, void (*done)(void*), void* arg) {
  c->done = done;
  c->arg = arg;
  sl_timer_start(10, 10, clients_poll, c);
}

#endif
