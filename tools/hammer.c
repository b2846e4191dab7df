/* hammer: a small, bounded HTTP/1.1 load generator for the end-to-end tests
 * (wrk is not installed there). Single-threaded, plain POSIX sockets and
 * epoll; it deliberately does not use libsluice, so it cannot share its bugs.
 * C connections send GET requests, parse each response (status line, then a
 * Content-Length, chunked or read-until-close body) and classify every
 * attempt: ok (2xx, whole body), http_error (other status), refused
 * (ECONNREFUSED at connect), reset (ECONNRESET/EPIPE after connect), eof (the
 * connection closed with a request sent and no complete response), timeout
 * (no complete response in --timeout-ms) and other (any other socket error,
 * e.g. EADDRNOTAVAIL). It stops by itself: after --requests attempts or
 * --duration-ms, then waits at most one timeout for the attempts in flight.
 * A kept-alive connection the server closed before a request byte went out
 * is no attempt: hammer reconnects. The stats line also counts two subsets
 * of reset+eof: stale_keepalive (a kept-alive connection closed after the
 * request went out, before any response byte: the case clients retry) and
 * unsent (a new connection reset or closed before the request went out).
 * Output: with --tally, "tally <count> <body's first line>" per distinct
 * body; then "stats ..."; the summary line "ok=N http_error=N refused=N
 * reset=N eof=N timeout=N other=N" is last. Exit status 0, 2 on misuse. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX        (64 * 1024) /* a longer response head is a protocol error */
#define FIRST_MAX       200         /* bytes of the body's first line kept */
#define TALLY_MAX       1024 /* distinct bodies tallied; the rest lumped */
#define FAIL_BACKOFF_MS 5    /* a slot waits this long after a failure */

enum { O_OK, O_HTTP, O_REFUSED, O_RESET, O_EOF, O_TIMEOUT, O_OTHER, O_MAX_ };
static const char* const outcome_names[O_MAX_] = {
    "ok", "http_error", "refused", "reset", "eof", "timeout", "other"};

/* Where a response parse stands; zeroed at the start of each attempt. */
enum {
  P_HEAD,
  P_BODY_LEN,
  P_BODY_EOF,
  P_CHUNK_SIZE,
  P_CHUNK_DATA,
  P_CHUNK_CRLF,
  P_TRAILER,
  P_DONE,
  P_BAD
};

typedef struct {
  int phase;
  int status;
  int close;       /* the server will close: Connection: close, 1.0 */
  uint64_t remain; /* body or chunk bytes still expected */
  char first[FIRST_MAX + 1];
  size_t first_len;
  int first_done; /* the first body line is complete (or truncated) */
} resp_t;

/* A connection slot. IDLE: no attempt (fd may be an open keep-alive
 * connection, else -1); WAIT: backing off until wake_us. */
enum { S_IDLE, S_WAIT, S_CONNECTING, S_WRITING, S_READING };

typedef struct {
  int fd;
  int state;
  uint64_t start_us; /* the current attempt began (timeout, latency) */
  uint64_t wake_us;
  size_t sent;
  size_t got; /* response bytes received in this attempt */
  int reused; /* this attempt runs on a kept-alive connection */
  char* buf;  /* received bytes not yet parsed */
  size_t len, cap;
  resp_t r;
} conn_t;

typedef struct {
  char* body;
  uint64_t count;
} tally_t;

/* Options and the whole run's state (one run per process). */
static struct {
  struct sockaddr_storage addr;
  socklen_t addrlen;
  char* req;
  size_t req_len;
  uint64_t duration_ms, requests, timeout_ms, report_ms;
  int concurrency, keepalive, tally, verbose;
  int ep;
  conn_t* conns;
  uint64_t t0_us, started, counts[O_MAX_];
  uint64_t stale;     /* eof/reset on a kept-alive connection after the
                         request went out and before any response byte */
  uint64_t reset_new; /* reset on a new connection, request written, no
                         response byte: the handshake completed in the
                         kernel as the listener closed, or a server that
                         closed without reading */
  uint64_t unsent;    /* eof/reset on a new connection before a request
                         byte went out (the handshake raced a close) */
  uint32_t* lat_us;   /* latency of each ok response */
  size_t nlat, lat_cap;
  tally_t tallies[TALLY_MAX];
  size_t ntallies;
  uint64_t tally_overflow;
} H;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void* xrealloc(void* p, size_t n) {
  p = realloc(p, n);
  if (p == NULL) {
    fprintf(stderr, "hammer: out of memory\n");
    exit(1);
  }
  return p;
}

static void usage(void) {
  fprintf(stderr,
          "usage: hammer --url http://HOST:PORT/PATH\n"
          "              (--duration-ms N | --requests N) [--concurrency C]\n"
          "              [--keepalive | --close] [--tally]\n"
          "              [--report-every-ms N] [--timeout-ms N] [--verbose]\n");
  exit(2);
}

/* Tally ---------------------------------------------------------------- */

static void tally_add(const char* body) {
  for (size_t i = 0; i < H.ntallies; i++) {
    if (strcmp(H.tallies[i].body, body) == 0) {
      H.tallies[i].count++;
      return;
    }
  }
  if (H.ntallies == TALLY_MAX) {
    H.tally_overflow++;
    return;
  }
  H.tallies[H.ntallies].body = strdup(body);
  H.tallies[H.ntallies].count = 1;
  H.ntallies++;
}

static int tally_cmp(const void* a, const void* b) {
  return strcmp(((const tally_t*)a)->body, ((const tally_t*)b)->body);
}

/* Response parsing ------------------------------------------------------ */

/* Keeps the body's first line (without its newline) for the tally. */
static void body_bytes(resp_t* r, const char* p, size_t n) {
  for (size_t i = 0; i < n && !r->first_done; i++) {
    if (p[i] == '\n' || r->first_len == FIRST_MAX) {
      r->first_done = 1;
    } else if (p[i] != '\r') {
      r->first[r->first_len++] = p[i];
    }
  }
}

/* Does the comma-separated header value contain `token`? */
static int has_token(const char* v, size_t n, const char* token) {
  size_t tl = strlen(token);
  for (size_t i = 0; i + tl <= n; i++) {
    if (strncasecmp(v + i, token, tl) == 0) return 1;
  }
  return 0;
}

/* One header line (without CRLF): sets the body framing and `close`. */
static void parse_header(resp_t* r, const char* line, size_t n, int* chunked,
                         int64_t* clen) {
  const char* colon = memchr(line, ':', n);
  if (colon == NULL) return;
  size_t nl = (size_t)(colon - line);
  const char* v = colon + 1;
  size_t vl = n - nl - 1;
  while (vl > 0 && (*v == ' ' || *v == '\t')) v++, vl--;
  if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
    *clen = strtoll(v, NULL, 10);
  } else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
    *chunked = has_token(v, vl, "chunked");
  } else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
    if (has_token(v, vl, "close")) r->close = 1;
    if (has_token(v, vl, "keep-alive")) r->close = 0;
  }
}

/* Parses a complete head of `n` bytes (ending in CRLF CRLF) and chooses how
 * the body is framed. Interim 1xx responses go back to P_HEAD. */
static void parse_head(resp_t* r, const char* h, size_t n) {
  int minor;
  if (sscanf(h, "HTTP/1.%d %3d", &minor, &r->status) != 2) {
    r->phase = P_BAD;
    return;
  }
  r->close = minor == 0;
  int chunked = 0;
  int64_t clen = -1;
  const char* line = memchr(h, '\n', n) + 1;
  while (line < h + n) {
    const char* end = memchr(line, '\n', (size_t)(h + n - line));
    size_t ll = (size_t)(end - line);
    if (ll > 0 && line[ll - 1] == '\r') ll--;
    parse_header(r, line, ll, &chunked, &clen);
    line = end + 1;
  }
  if (r->status >= 100 && r->status < 200 && r->status != 101)
    r->phase = P_HEAD;
  else if (r->status == 204 || r->status == 304)
    r->phase = P_DONE;
  else if (chunked)
    r->phase = P_CHUNK_SIZE;
  else if (clen == 0)
    r->phase = P_DONE;
  else if (clen > 0) {
    r->phase = P_BODY_LEN;
    r->remain = (uint64_t)clen;
  } else {
    r->phase = P_BODY_EOF;
    r->close = 1;
  }
}

/* The next CRLF-terminated line in buf[0..len), or 0 when incomplete. Returns
 * the bytes to consume (line plus CRLF); *ll gets the line's length. */
static size_t take_line(const char* buf, size_t len, size_t* ll) {
  const char* nl = memchr(buf, '\n', len);
  if (nl == NULL) return 0;
  *ll = (size_t)(nl - buf);
  if (*ll > 0 && buf[*ll - 1] == '\r') (*ll)--;
  return (size_t)(nl - buf) + 1;
}

/* Consumes what it can of buf[0..len) for the chunked framing; returns the
 * bytes used (0: needs more input). */
static size_t parse_chunked(resp_t* r, const char* buf, size_t len) {
  size_t ll, used;
  switch (r->phase) {
    case P_CHUNK_SIZE:
      if ((used = take_line(buf, len, &ll)) == 0) return 0;
      r->remain = strtoull(buf, NULL, 16);
      r->phase = r->remain == 0 ? P_TRAILER : P_CHUNK_DATA;
      return used;
    case P_CHUNK_DATA:
      used = len < r->remain ? len : (size_t)r->remain;
      body_bytes(r, buf, used);
      r->remain -= used;
      if (r->remain == 0) r->phase = P_CHUNK_CRLF;
      return used;
    case P_CHUNK_CRLF:
      if ((used = take_line(buf, len, &ll)) == 0) return 0;
      r->phase = ll == 0 ? P_CHUNK_SIZE : P_BAD;
      return used;
    default: /* P_TRAILER */
      if ((used = take_line(buf, len, &ll)) == 0) return 0;
      if (ll == 0) r->phase = P_DONE;
      return used;
  }
}

/* Runs the parser over the connection's buffered bytes, consuming them. */
static void parse(conn_t* c) {
  resp_t* r = &c->r;
  size_t off = 0, used = 1;
  while (used > 0 && r->phase != P_DONE && r->phase != P_BAD) {
    const char* p = c->buf + off;
    size_t n = c->len - off;
    used = 0;
    if (r->phase == P_HEAD) {
      char* end = memmem(p, n, "\r\n\r\n", 4);
      if (end == NULL) {
        if (n > HEAD_MAX) r->phase = P_BAD;
      } else {
        used = (size_t)(end - p) + 4;
        parse_head(r, p, used);
      }
    } else if (r->phase == P_BODY_LEN || r->phase == P_BODY_EOF) {
      used = r->phase == P_BODY_EOF || n < r->remain ? n : (size_t)r->remain;
      body_bytes(r, p, used);
      if (r->phase == P_BODY_LEN && (r->remain -= used) == 0) r->phase = P_DONE;
    } else {
      used = parse_chunked(r, p, n);
    }
    off += used;
  }
  memmove(c->buf, c->buf + off, c->len - off);
  c->len -= off;
}

/* Connections ---------------------------------------------------------- */

static int may_start(uint64_t now) {
  if (H.requests > 0) return H.started < H.requests;
  return now - H.t0_us < H.duration_ms * 1000u;
}

static void conn_close(conn_t* c) {
  if (c->fd >= 0) close(c->fd); /* close() also leaves the epoll set */
  c->fd = -1;
  c->len = 0;
}

static void watch(conn_t* c, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(H.ep, op, c->fd, &ev) != 0) {
    perror("hammer: epoll_ctl");
    exit(1);
  }
}

/* Ends the current attempt with `outcome`. A complete response on a
 * keep-alive connection keeps the socket for the next attempt. */
static void finish(conn_t* c, int outcome, uint64_t now) {
  H.counts[outcome]++;
  if ((outcome == O_EOF || outcome == O_RESET) && c->reused && c->got == 0)
    H.stale++;
  if ((outcome == O_EOF || outcome == O_RESET) && !c->reused && c->sent == 0)
    H.unsent++;
  else if (outcome == O_RESET && !c->reused && c->got == 0)
    H.reset_new++;
  if (H.verbose && outcome > O_HTTP && outcome != O_REFUSED)
    fprintf(stderr,
            "hammer: %s at %.1f ms after %.1f ms: slot %d, %s "
            "connection, request bytes sent %zu/%zu, response bytes %zu\n",
            outcome_names[outcome], (double)(now - H.t0_us) / 1000,
            (double)(now - c->start_us) / 1000, (int)(c - H.conns),
            c->reused ? "kept-alive" : "new", c->sent, H.req_len, c->got);
  if (outcome == O_OK || outcome == O_HTTP) {
    if (H.tally) tally_add(c->r.first_len ? c->r.first : "(empty)");
    if (outcome == O_OK) {
      if (H.nlat == H.lat_cap) {
        H.lat_cap = H.lat_cap ? H.lat_cap * 2 : 4096;
        H.lat_us = xrealloc(H.lat_us, H.lat_cap * sizeof *H.lat_us);
      }
      uint64_t d = now - c->start_us;
      H.lat_us[H.nlat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    }
  }
  int reuse = H.keepalive && outcome <= O_HTTP && !c->r.close && c->len == 0;
  if (!reuse) conn_close(c);
  c->state = outcome <= O_HTTP ? S_IDLE : S_WAIT;
  c->wake_us = now + FAIL_BACKOFF_MS * 1000u;
}

static int classify_errno(int err, int connecting) {
  if (err == ECONNREFUSED && connecting) return O_REFUSED;
  if (err == ECONNRESET || err == EPIPE) return O_RESET;
  if (err == ETIMEDOUT) return O_TIMEOUT;
  fprintf(stderr, "hammer: %s: %s\n", connecting ? "connect" : "socket",
          strerror(err));
  return O_OTHER;
}

/* Starts an attempt: reuses the open keep-alive socket or connects anew. */
static void start(conn_t* c, uint64_t now) {
  H.started++;
  c->start_us = now;
  c->sent = c->got = 0;
  c->reused = c->fd >= 0;
  memset(&c->r, 0, sizeof c->r);
  if (c->fd >= 0) {
    c->state = S_WRITING;
    watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    return;
  }
  c->fd = socket(H.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) {
    finish(c, classify_errno(errno, 1), now);
    return;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr*)&H.addr, H.addrlen) != 0 &&
      errno != EINPROGRESS) {
    finish(c, classify_errno(errno, 1), now);
    return;
  }
  c->state = S_CONNECTING;
  watch(c, EPOLLOUT, EPOLL_CTL_ADD);
}

/* The server closed the kept-alive connection before this attempt sent a
 * byte: no request was made, so this is no failure. Start over on a new
 * connection. Returns 1 when it did. */
static int restart_if_unsent(conn_t* c, uint64_t now) {
  if (!c->reused || c->sent > 0) return 0;
  conn_close(c);
  H.started--;
  start(c, now);
  return 1;
}

static void on_connect(conn_t* c, uint64_t now) {
  int err = 0;
  socklen_t el = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
  if (err != 0) {
    finish(c, classify_errno(err, 1), now);
    return;
  }
  c->state = S_WRITING;
  watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
}

static void on_writable(conn_t* c, uint64_t now) {
  while (c->sent < H.req_len) {
    ssize_t n = send(c->fd, H.req + c->sent, H.req_len - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      if (!restart_if_unsent(c, now)) finish(c, classify_errno(errno, 0), now);
      return;
    }
    c->sent += (size_t)n;
  }
  c->state = S_READING;
  watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

/* A response was parsed to its end, or failed to parse. */
static void on_parsed(conn_t* c, uint64_t now) {
  if (c->r.phase == P_BAD) {
    fprintf(stderr, "hammer: malformed response\n");
    c->r.close = 1;
    finish(c, O_HTTP, now);
  } else {
    int st = c->r.status;
    finish(c, st >= 200 && st < 300 ? O_OK : O_HTTP, now);
  }
}

static void on_readable(conn_t* c, uint64_t now) {
  for (;;) {
    if (c->cap - c->len < 16384) {
      c->cap = c->cap ? c->cap * 2 : 32768;
      c->buf = xrealloc(c->buf, c->cap);
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n <= 0 && (n == 0 || (errno != EAGAIN && errno != EINTR)) &&
        restart_if_unsent(c, now))
      return;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      finish(c, classify_errno(errno, 0), now);
      return;
    }
    if (n == 0) {
      int whole = c->r.phase == P_BODY_EOF;
      c->r.close = 1;
      if (whole) c->r.phase = P_DONE;
      if (whole)
        on_parsed(c, now);
      else
        finish(c, O_EOF, now);
      return;
    }
    c->len += (size_t)n;
    c->got += (size_t)n;
    parse(c);
    if (c->r.phase == P_DONE || c->r.phase == P_BAD) {
      on_parsed(c, now);
      return;
    }
  }
}

/* Before the request is written the socket is watched for EPOLLOUT; an
 * EPOLLIN then is an early answer or EOF, which reading handles. */
static void on_event(conn_t* c, uint32_t events, uint64_t now) {
  if (c->state == S_CONNECTING) {
    on_connect(c, now);
  } else if (c->state == S_WRITING) {
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c, now);
    if (c->state == S_WRITING) on_writable(c, now);
  } else if (c->state == S_READING) {
    on_readable(c, now);
  } else if (c->fd >= 0) {
    /* An idle keep-alive connection the server closed: forget it. */
    conn_close(c);
  }
}

/* The run ---------------------------------------------------------------- */

static void print_counts(const char* prefix) {
  if (prefix) printf("%s", prefix);
  for (int i = 0; i < O_MAX_; i++)
    printf("%s%s=%llu", i ? " " : "", outcome_names[i],
           (unsigned long long)H.counts[i]);
  printf("\n");
  fflush(stdout);
}

/* Starts attempts on ready slots and times out the slow ones. Returns the
 * number of slots with an attempt in flight or a backoff pending. */
static int tick(uint64_t now) {
  int busy = 0;
  for (int i = 0; i < H.concurrency; i++) {
    conn_t* c = &H.conns[i];
    int active = c->state >= S_CONNECTING;
    if (active && now - c->start_us >= H.timeout_ms * 1000u) {
      c->r.close = 1;
      finish(c, O_TIMEOUT, now);
      active = 0;
    }
    if (c->state == S_WAIT && now >= c->wake_us) c->state = S_IDLE;
    if (c->state == S_IDLE && may_start(now)) start(c, now);
    if (c->state != S_IDLE) busy++;
  }
  return busy;
}

static void run(void) {
  struct epoll_event evs[256];
  uint64_t next_report = H.report_ms ? H.report_ms * 1000u : UINT64_MAX;
  H.t0_us = now_us();
  while (tick(now_us()) > 0) {
    int n = epoll_wait(H.ep, evs, 256, 5);
    if (n < 0 && errno != EINTR) {
      perror("hammer: epoll_wait");
      exit(1);
    }
    uint64_t now = now_us();
    for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events, now);
    if (now - H.t0_us >= next_report) {
      char pre[64];
      snprintf(pre, sizeof pre, "progress t=%llu ",
               (unsigned long long)(now - H.t0_us) / 1000u);
      print_counts(pre);
      next_report += H.report_ms * 1000u;
    }
  }
}

static int lat_cmp(const void* a, const void* b) {
  uint32_t x = *(const uint32_t*)a, y = *(const uint32_t*)b;
  return x < y ? -1 : x > y;
}

static double pct_ms(double p) {
  if (H.nlat == 0) return 0;
  size_t i = (size_t)(p * (double)(H.nlat - 1) + 0.5);
  return H.lat_us[i] / 1000.0;
}

/* Tally lines, a stats line, then the summary line last. */
static void report(void) {
  if (H.tally) {
    if (H.ntallies > 0)
      qsort(H.tallies, H.ntallies, sizeof *H.tallies, tally_cmp);
    for (size_t i = 0; i < H.ntallies; i++)
      printf("tally %llu %s\n", (unsigned long long)H.tallies[i].count,
             H.tallies[i].body);
    if (H.tally_overflow)
      printf("tally %llu (more distinct bodies)\n",
             (unsigned long long)H.tally_overflow);
  }
  double secs = (double)(now_us() - H.t0_us) / 1e6;
  if (H.nlat > 0) qsort(H.lat_us, H.nlat, sizeof *H.lat_us, lat_cmp);
  printf(
      "stats attempts=%llu elapsed_ms=%.0f rps=%.0f p50_ms=%.2f "
      "p99_ms=%.2f max_ms=%.2f stale_keepalive=%llu unsent=%llu "
      "reset_new=%llu\n",
      (unsigned long long)H.started, secs * 1000, H.nlat / secs, pct_ms(0.5),
      pct_ms(0.99), pct_ms(1.0), (unsigned long long)H.stale,
      (unsigned long long)H.unsent, (unsigned long long)H.reset_new);
  print_counts(NULL);
}

/* Setup ------------------------------------------------------------------ */

/* http://HOST[:PORT][/PATH] to an address and the request bytes. */
static void parse_url(const char* url) {
  if (strncmp(url, "http://", 7) != 0) usage();
  const char* host = url + 7;
  const char* path = strchr(host, '/');
  size_t hl = path ? (size_t)(path - host) : strlen(host);
  if (path == NULL) path = "/";
  char hostport[256], name[256], port[16] = "80";
  if (hl == 0 || hl >= sizeof hostport) usage();
  memcpy(hostport, host, hl);
  hostport[hl] = '\0';
  snprintf(name, sizeof name, "%s", hostport);
  char* colon = strrchr(name, ':');
  if (colon) {
    snprintf(port, sizeof port, "%s", colon + 1);
    *colon = '\0';
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
  if (getaddrinfo(name, port, &hints, &ai) != 0) usage();
  memcpy(&H.addr, ai->ai_addr, ai->ai_addrlen);
  H.addrlen = ai->ai_addrlen;
  freeaddrinfo(ai);
  size_t cap = strlen(path) + hl + 128;
  H.req = xrealloc(NULL, cap);
  H.req_len = (size_t)snprintf(
      H.req, cap, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hammer\r\n%s\r\n",
      path, hostport, H.keepalive ? "" : "Connection: close\r\n");
}

static uint64_t num_arg(int argc, char** argv, int* i) {
  if (*i + 1 >= argc) usage();
  char* end;
  const char* s = argv[++*i];
  unsigned long long v = strtoull(s, &end, 10);
  if (*s == '\0' || *end != '\0' || *s == '-') usage();
  return v;
}

static void parse_args(int argc, char** argv) {
  const char* url = NULL;
  H.concurrency = 1;
  H.timeout_ms = 5000;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (strcmp(a, "--url") == 0 && i + 1 < argc)
      url = argv[++i];
    else if (strcmp(a, "--duration-ms") == 0)
      H.duration_ms = num_arg(argc, argv, &i);
    else if (strcmp(a, "--requests") == 0)
      H.requests = num_arg(argc, argv, &i);
    else if (strcmp(a, "--concurrency") == 0 || strcmp(a, "-c") == 0)
      H.concurrency = (int)num_arg(argc, argv, &i);
    else if (strcmp(a, "--keepalive") == 0)
      H.keepalive = 1;
    else if (strcmp(a, "--close") == 0)
      H.keepalive = 0;
    else if (strcmp(a, "--tally") == 0)
      H.tally = 1;
    else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0)
      H.verbose = 1;
    else if (strcmp(a, "--report-every-ms") == 0)
      H.report_ms = num_arg(argc, argv, &i);
    else if (strcmp(a, "--timeout-ms") == 0)
      H.timeout_ms = num_arg(argc, argv, &i);
    else
      usage();
  }
  if (url == NULL || (H.duration_ms == 0) == (H.requests == 0)) usage();
  if (H.concurrency < 1 || H.concurrency > 10000 || H.timeout_ms == 0) usage();
  parse_url(url);
}

int main(int argc, char** argv) {
  parse_args(argc, argv);
  H.ep = epoll_create1(EPOLL_CLOEXEC);
  if (H.ep < 0) {
    perror("hammer: epoll_create1");
    return 1;
  }
  H.conns = xrealloc(NULL, (size_t)H.concurrency * sizeof *H.conns);
  memset(H.conns, 0, (size_t)H.concurrency * sizeof *H.conns);
  for (int i = 0; i < H.concurrency; i++) H.conns[i].fd = -1;
  run();
  report();
  return 0;
}
