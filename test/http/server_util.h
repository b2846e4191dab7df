/* Helpers for the HTTP server tests: a raw TCP client on its own thread
 * (blocking sockets, so the bytes on the wire are exactly the test's), a
 * loop driver that closes the server once every client is done, and a small
 * parser that counts complete responses in what a client received. Static
 * functions only. */
#ifndef SL_TEST_HTTP_SERVER_UTIL_H
#define SL_TEST_HTTP_SERVER_UTIL_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

typedef struct raw_s {
  int port;
  const char* parts[8]; /* sent in order, gap_ms apart */
  size_t lens[8];       /* 0: strlen */
  int nparts;
  int gap_ms;
  int continue_before; /* wait for "100 Continue" before this part (>0) */
  int shut_wr;         /* half-close after the last part */
  int want;            /* stop reading after this many responses (0: EOF) */
  int head;            /* responses have no body (HEAD) */
  int timeout_ms;      /* 0: 4000 */
  int rcvbuf;          /* SO_RCVBUF, 0: default */
  int read_delay_ms;   /* sleep before each read (a slow reader) */
  int rst;             /* close with a reset (SO_LINGER 0) */
  char* out;
  size_t n, cap;
  int eof; /* the server closed */
  int connect_err;
  volatile int done;
  pthread_t th;
} raw_t;

static __attribute__((unused)) void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static const char* find_hdr(const char* h, size_t n, const char* name) {
  size_t len = strlen(name);
  for (const char* p = h; p + len < h + n; p++)
    if ((p == h || p[-1] == '\n') && strncasecmp(p, name, len) == 0 &&
        p[len] == ':')
      return p + len + 1;
  return NULL;
}

/* End of one complete response starting at s[0], or 0 if incomplete (a
 * close-delimited body is complete only with eof). */
static size_t response_end(const char* s, size_t n, int head, int eof) {
  const char* e = memmem(s, n, "\r\n\r\n", 4);
  if (e == NULL || n < 12) return 0;
  size_t hend = (size_t)(e - s) + 4;
  int status = atoi(s + 9);
  if (status >= 100 && status < 200) return hend;
  if (head || status == 204 || status == 304) return hend;
  const char* cl = find_hdr(s, hend, "content-length");
  const char* te = find_hdr(s, hend, "transfer-encoding");
  if (cl != NULL) {
    size_t len = strtoul(cl, NULL, 10);
    return hend + len <= n ? hend + len : 0;
  }
  if (te != NULL && strncasecmp(te + strspn(te, " "), "chunked", 7) == 0) {
    size_t off = hend;
    for (;;) {
      const char* le = memmem(s + off, n - off, "\r\n", 2);
      if (le == NULL) return 0;
      size_t size = strtoul(s + off, NULL, 16);
      off = (size_t)(le - s) + 2;
      if (size == 0) {
        const char* te2 = off + 2 <= n && memcmp(s + off, "\r\n", 2) == 0
                              ? s + off
                              : memmem(s + off, n - off, "\r\n\r\n", 4);
        if (te2 == NULL) return 0;
        return (size_t)(te2 - s) + (te2 == s + off ? 2 : 4);
      }
      if (off + size + 2 > n) return 0;
      off += size + 2;
    }
  }
  return eof ? n : 0;
}

/* Number of complete final (non-1xx) responses in s[0..n). */
static __attribute__((unused)) int count_responses(const char* s, size_t n,
                                                   int head, int eof) {
  int count = 0;
  size_t off = 0;
  while (off < n) {
    size_t end = response_end(s + off, n - off, head, eof);
    if (end == 0) break;
    if (atoi(s + off + 9) >= 200) count++;
    off += end;
  }
  return count;
}

static void raw_append(raw_t* r, const char* b, size_t n) {
  if (r->n + n + 1 > r->cap) {
    r->cap = (r->n + n + 1) * 2;
    r->out = realloc(r->out, r->cap);
  }
  memcpy(r->out + r->n, b, n);
  r->n += n;
  r->out[r->n] = '\0';
}

/* Reads into r->out until `until` returns 1, EOF or the deadline. */
static void raw_read(raw_t* r, int fd, int (*until)(raw_t* r), long end_ms) {
  char buf[65536];
  for (;;) {
    if (until != NULL && until(r)) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long now = ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (now >= end_ms) return;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)(end_ms - now)) <= 0) return;
    if (r->read_delay_ms) sleep_ms(r->read_delay_ms);
    ssize_t k = recv(fd, buf, r->read_delay_ms ? 4096 : sizeof buf, 0);
    if (k <= 0) {
      r->eof = 1;
      return;
    }
    raw_append(r, buf, (size_t)k);
  }
}

static int saw_continue(raw_t* r) {
  return r->out != NULL && strstr(r->out, "100 Continue\r\n\r\n") != NULL;
}

static int got_wanted(raw_t* r) {
  return r->want > 0 &&
         count_responses(r->out ? r->out : "", r->n, r->head, 0) >= r->want;
}

static void* raw_main(void* arg) {
  raw_t* r = arg;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)r->port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (r->rcvbuf)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &r->rcvbuf, sizeof r->rcvbuf);
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  long end = ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
             (r->timeout_ms ? r->timeout_ms : 4000);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) {
    r->connect_err = 1;
    goto out;
  }
  for (int i = 0; i < r->nparts; i++) {
    if (i == r->continue_before && i > 0) raw_read(r, fd, saw_continue, end);
    size_t len = r->lens[i] ? r->lens[i] : strlen(r->parts[i]);
    size_t off = 0;
    while (off < len) {
      ssize_t k = send(fd, r->parts[i] + off, len - off, MSG_NOSIGNAL);
      if (k <= 0) break;
      off += (size_t)k;
    }
    if (r->gap_ms && i + 1 < r->nparts) sleep_ms(r->gap_ms);
  }
  if (r->shut_wr) shutdown(fd, SHUT_WR);
  raw_read(r, fd, got_wanted, end);
out:
  if (r->rst) {
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  close(fd);
  r->done = 1;
  return NULL;
}

static __attribute__((unused)) void raw_start(raw_t* r, int port) {
  r->port = port;
  ASSERT_EQ(pthread_create(&r->th, NULL, raw_main, r), 0);
}

static __attribute__((unused)) void raw_free(raw_t* r) {
  free(r->out);
  r->out = NULL;
}

/* Runs the loop until every client in `raws` is done, then closes `srv`
 * and runs the loop until it is empty. */
typedef struct {
  raw_t** raws;
  int n;
  sl_http_server_t* srv;
  sl_timer_t* t;
  int closed;
} drive_t;

static void server_closed(void* arg) { *(int*)arg = 1; }

static void drive_tick(sl_timer_t* t, void* arg) {
  drive_t* d = arg;
  for (int i = 0; i < d->n; i++)
    if (!d->raws[i]->done) return;
  for (int i = 0; i < d->n; i++) pthread_join(d->raws[i]->th, NULL);
  sl_timer_stop(t);
  if (d->srv != NULL) sl_http_server_close(d->srv, server_closed, &d->closed);
}

static __attribute__((unused)) void drive(sl_http_server_t* srv, raw_t** raws,
                                          int n) {
  drive_t d = {.raws = raws, .n = n, .srv = srv};
  d.t = sl_timer_start(5, 5, drive_tick, &d);
  ASSERT_EQ(sl_run(), 0);
  ASSERT(d.closed || srv == NULL);
}

/* The body of the response that starts at `resp` (after the blank line). */
static __attribute__((unused)) const char* body_of(const char* resp) {
  const char* e = strstr(resp, "\r\n\r\n");
  return e ? e + 4 : "";
}

/* Sends fd 2 to `path` (the access log goes there) until log_restore,
 * which returns what was written (malloc'd). */
static int saved_stderr = -1;

static __attribute__((unused)) void log_capture(const char* path) {
  saved_stderr = sl_test_capture_fd(2, path);
}

static __attribute__((unused)) char* log_restore(const char* path) {
  return sl_test_capture_end(2, saved_stderr, path);
}

/* A handler that answers "ok\n". */
static __attribute__((unused)) void tiny(sl_stream_t* req, sl_stream_t* res,
                                         void* arg) {
  (void)req, (void)arg;
  sl_http_respond(res, 200, "text/plain", "ok\n", 3);
}

#endif
