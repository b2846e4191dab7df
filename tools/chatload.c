/* chatload: a load generator for the chat benchmark (bench/chat), with no
 * sluice code in it, so that it measures sluice's examples/chat and the
 * Node twin (bench/chat/chat.js) alike. One thread, epoll, non-blocking
 * sockets; masked client frames, unmasked server frames; WebSockets on
 * GET /ws of 127.0.0.1:PORT, JSON text messages (see bench/chat/chat.js).
 *
 *   chatload hold PORT CONNS SECONDS
 *       opens CONNS connections, connection k joins room "idle<k%10>";
 *       prints "open N" once every one got its "joined", holds them
 *       SECONDS (answering pings), closes them
 *   chatload room PORT MEMBERS SENDERS SECONDS
 *       MEMBERS connections join room "big"; once all got "joined", the
 *       first SENDERS of them say messages for SECONDS, each with at most
 *       a window (8) of its own messages outstanding (said, not yet come back
 *       to it); the text carries the sender and its send time
 *       (CLOCK_MONOTONIC ns). Prints one line of key=value:
 *         delivered_per_s  msg frames received by all members in the
 *                          window, per second
 *         msgs_per_s       messages said in the window, per second
 *         p50_ms p99_ms    send to delivery, at every member, in the window
 *         order_violations live ids at a member not strictly +1 (or a first
 *                          live id not above its "joined" last)
 *         missing          messages some member never got (after a drain
 *                          of up to 10 s once sending stopped)
 *         errors           {"t":"error"} frames received
 *         live_total       msg frames received by all members after they
 *                          joined, window and drain
 *         last_id          the highest id seen
 *
 * CHATLOAD_TEXT=N sets the text size in bytes (default 64, at least 40),
 * CHATLOAD_WINDOW=N the sender's window (default 8), CHATLOAD_RATE=N paces
 * the senders instead: N messages per second in all, taking turns (one
 * whose window is full skips its turn; "skipped" counts those), for the
 * latency of a room that keeps up with its load. (A window of 1 alone does
 * not give that: the sender sees its own message early in the fan-out and
 * says the next while the other members are still being read, so the room
 * runs as fast as chatload reads.)
 * Every run is bounded: a hard limit (alarm) for the whole run ends it with
 * exit code 1, as do connections that do not upgrade or join within 60 s,
 * a connection the server closes, or a frame chatload does not handle. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { SETUP_LIMIT = 60, DRAIN_LIMIT = 10 };

typedef struct {
  int fd;
  int idx;
  int upgraded;        /* the 101 arrived (and the join was sent) */
  int joined;          /* the "joined" arrived */
  int sender;          /* one of the first SENDERS in room mode */
  int outstanding;     /* sender: own messages said, not yet back */
  unsigned char* pend; /* bytes of an incomplete frame */
  size_t plen, pcap;
  int64_t joined_last; /* "last" of its "joined" */
  int64_t last_id;     /* last live id seen, -1 before the first */
  uint64_t live;       /* live msg frames received */
} conn_t;

static conn_t* cs;
static int nconn, nsenders;
static int mode_room;
static int port;
static int njoined, nupgraded;
static int sending, measuring, closing;
static uint64_t delivered, said_in_window, errors, order_violations;
static int64_t max_id;
static size_t text_len = 64;
static int window = 8;
static double rate; /* CHATLOAD_RATE: messages/s, 0: as the window allows */
static unsigned char rbuf[1 << 18];
static uint64_t t_recv; /* when the bytes being parsed were read */

/* Latency histogram: 1 us buckets up to 100 ms, then 100 us buckets up to
 * 10.1 s (the last bucket takes everything above). */
#define H1 100000
#define H2 100000
static uint64_t hist[H1 + H2 + 1], nlat;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
static double now(void) { return (double)now_ns() / 1e9; }

static void die(const char* m) {
  perror(m);
  exit(1);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char m[] = "chatload: time limit reached\n";
  if (write(2, m, sizeof m - 1) < 0) _exit(1);
  _exit(1);
}

static void lat_add(uint64_t ns) {
  uint64_t us = ns / 1000;
  uint64_t b = us < H1 ? us : H1 + (us - H1) / 100;
  if (b > H1 + H2) b = H1 + H2;
  hist[b]++;
  nlat++;
}

/* The p-th quantile in ms (a bucket's middle), 0 with no samples. */
static double lat_ms(double p) {
  if (nlat == 0) return 0;
  uint64_t want = (uint64_t)(p * (double)nlat);
  if (want >= nlat) want = nlat - 1;
  uint64_t seen = 0;
  for (uint64_t b = 0; b <= H1 + H2; b++) {
    seen += hist[b];
    if (seen > want) {
      double us = b < H1 ? (double)b + 0.5 : H1 + (double)(b - H1) * 100 + 50;
      return us / 1000;
    }
  }
  return 0;
}

/* Sends all of buf; messages are small, so EAGAIN is waited out briefly
 * (and is fatal after 5 s: the server stopped reading). */
static void send_all(int fd, const void* buf, size_t n) {
  const char* p = buf;
  double t0 = 0;
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (t0 == 0)
        t0 = now();
      else if (now() - t0 > 5) {
        fprintf(stderr, "chatload: send blocked for 5 s\n");
        exit(1);
      }
      usleep(50);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("send");
    p += w;
    n -= (size_t)w;
  }
}

/* A masked client frame of opcode op around data; out needs n + 14. */
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
  static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
  memcpy(out + h, key, 4);
  h += 4;
  const unsigned char* d = data;
  for (size_t i = 0; i < n; i++) out[h + i] = d[i] ^ key[i & 3];
  return h + n;
}

static void send_text(conn_t* c, const char* s, size_t n) {
  unsigned char out[8192];
  if (n + 14 > sizeof out) {
    fprintf(stderr, "chatload: message too long\n");
    exit(1);
  }
  send_all(c->fd, out, frame(out, 1, s, n));
}

static void send_join(conn_t* c) {
  char m[128];
  int n;
  if (mode_room)
    n = snprintf(m, sizeof m,
                 "{\"t\":\"join\",\"room\":\"big\",\"nick\":\"%s%d\"}",
                 c->sender ? "s" : "m", c->idx);
  else
    n = snprintf(m, sizeof m,
                 "{\"t\":\"join\",\"room\":\"idle%d\",\"nick\":\"h%d\"}",
                 c->idx % 10, c->idx);
  send_text(c, m, (size_t)n);
}

/* One say: the text is "<sender> <send time ns> " padded with x. */
static void send_say(conn_t* c) {
  char m[4200];
  int n = snprintf(m, sizeof m, "{\"t\":\"say\",\"text\":\"%d %" PRIu64 " ",
                   c->idx, now_ns());
  size_t hl = strlen("{\"t\":\"say\",\"text\":\"");
  size_t tl = (size_t)n - hl;
  while (tl < text_len && (size_t)n < sizeof m - 4) {
    m[n++] = 'x';
    tl++;
  }
  m[n++] = '"';
  m[n++] = '}';
  send_text(c, m, (size_t)n);
  c->outstanding++;
  if (measuring) said_in_window++;
}

/* Where the value of "key" starts in the flat JSON object p[0..n), or
 * NULL. Good enough for the servers' objects (the texts chatload sends
 * hold no quotes). */
#define jget(p, n, key) jfind(p, n, "\"" key "\"", sizeof key + 1)
static const char* jfind(const char* p, size_t n, const char* pat, size_t pl) {
  const char* e = p + n;
  const char* q = p;
  /* memchr for the quotes: glibc's memmem costs more on such short
   * objects, and this runs for every frame of every member. */
  while (q < e && (q = memchr(q, '"', (size_t)(e - q))) != NULL) {
    if ((size_t)(e - q) < pl || q[1] != pat[1] ||
        memcmp(q + 2, pat + 2, pl - 2) != 0) {
      q++;
      continue;
    }
    const char* v = q + pl;
    while (v < e && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')) v++;
    if (v < e && *v == ':') {
      v++;
      while (v < e && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
        v++;
      return v < e ? v : NULL;
    }
    q += pl;
  }
  return NULL;
}

/* The decimal digits at *v (at most 19), moving *v past them; the frame
 * is followed by more bytes or the buffer's slack, and a JSON object ends
 * with '}', so this stops inside it. */
static uint64_t digits(const char** v) {
  const char* q = *v;
  uint64_t x = 0;
  for (int k = 0; k < 19 && *q >= '0' && *q <= '9'; k++)
    x = x * 10 + (uint64_t)(*q++ - '0');
  *v = q;
  return x;
}

#define jint(p, n, key, dflt) jint_at(jget(p, n, key), dflt)
static int64_t jint_at(const char* v, int64_t dflt) {
  if (v == NULL) return dflt;
  int neg = *v == '-';
  if (neg) v++;
  if (!(*v >= '0' && *v <= '9')) return dflt;
  int64_t x = (int64_t)digits(&v);
  return neg ? -x : x;
}

/* Whether the string value of "key" is exactly s. */
#define jis(p, n, key, s) jis_at(p, n, jget(p, n, key), s)
static int jis_at(const char* p, size_t n, const char* v, const char* s) {
  size_t l = strlen(s);
  return v != NULL && *v == '"' && (size_t)(p + n - v) > l + 1 &&
         memcmp(v + 1, s, l) == 0 && v[1 + l] == '"';
}

/* One pass over a flat object for a msg's "id" and the start of its
 * "text" value (past the quote): the hot path, once per frame per member. */
static void msg_fields(const char* p, size_t n, int64_t* id,
                       const char** text) {
  const char* e = p + n;
  const char* q = p;
  *id = -1;
  *text = NULL;
  while (q < e && (q = memchr(q, '"', (size_t)(e - q))) != NULL) {
    const char* k = q + 1;
    const char* ke = memchr(k, '"', (size_t)(e - k));
    if (ke == NULL) return;
    const char* v = ke + 1;
    while (v < e &&
           (*v == ' ' || *v == ':' || *v == '\t' || *v == '\r' || *v == '\n'))
      v++;
    if (v >= e) return;
    if (ke - k == 2 && k[0] == 'i' && k[1] == 'd') {
      *id = jint_at(v, -1);
      if (*text != NULL) return;
    }
    if (*v != '"') { /* a number: on to the next key */
      q = v;
      continue;
    }
    if (ke - k == 4 && memcmp(k, "text", 4) == 0) {
      *text = v + 1;
      if (*id >= 0) return;
    }
    /* Past the string value (escaped quotes included). */
    for (q = v + 1; q < e; q++) {
      if (*q == '\\')
        q++;
      else if (*q == '"')
        break;
    }
    q++;
  }
}

static void on_text(conn_t* c, const char* p, size_t n) {
  static const char fast[] = "{\"t\":\"msg\",";
  if ((n > sizeof fast && memcmp(p, fast, sizeof fast - 1) == 0) ||
      jis(p, n, "t", "msg")) {
    if (!c->joined) return; /* history */
    int64_t id;
    const char* t;
    msg_fields(p, n, &id, &t);
    if (c->last_id < 0 ? id <= c->joined_last : id != c->last_id + 1)
      order_violations++;
    c->last_id = id;
    c->live++;
    if (id > max_id) max_id = id;
    if (t == NULL) return;
    long who = (long)digits(&t);
    if (*t == ' ') t++;
    uint64_t sent = digits(&t);
    if (measuring) {
      delivered++;
      lat_add(t_recv - sent);
    }
    if (who == c->idx && c->sender) {
      c->outstanding--;
      if (sending && rate == 0) send_say(c);
    }
  } else if (jis(p, n, "t", "joined")) {
    if (!c->joined) njoined++;
    c->joined = 1;
    c->joined_last = jint(p, n, "last", 0);
    c->last_id = -1;
  } else if (jis(p, n, "t", "error")) {
    if (errors++ < 5)
      fprintf(stderr, "chatload: connection %d: %.*s\n", c->idx, (int)n, p);
  } else {
    fprintf(stderr, "chatload: unknown message: %.*s\n", (int)n, p);
    exit(1);
  }
}

/* Takes the HTTP head and whole frames from b[0..len); returns the bytes
 * used. b has slack after len (strtoll in jint reads no further than the
 * '}' anyway). */
static size_t parse(conn_t* c, unsigned char* b, size_t len) {
  size_t pos = 0;
  if (!c->upgraded) {
    unsigned char* e = memmem(b, len, "\r\n\r\n", 4);
    if (e == NULL) return 0;
    if (len < 12 || memcmp(b, "HTTP/1.1 101", 12) != 0) {
      fprintf(stderr, "chatload: no 101: %.40s\n", b);
      exit(1);
    }
    c->upgraded = 1;
    nupgraded++;
    pos = (size_t)(e - b) + 4;
    send_join(c);
  }
  for (;;) {
    if (len - pos < 2) break;
    unsigned char* f = b + pos;
    uint64_t n = f[1] & 127;
    size_t hl = 2;
    if (f[1] & 0x80) {
      fprintf(stderr, "chatload: masked frame from the server\n");
      exit(1);
    }
    if (n == 126) {
      if (len - pos < 4) break;
      n = (uint64_t)f[2] << 8 | f[3];
      hl = 4;
    } else if (n == 127) {
      if (len - pos < 10) break;
      n = 0;
      for (int i = 0; i < 8; i++) n = n << 8 | f[2 + i];
      hl = 10;
    }
    if (len - pos < hl + n) break;
    int op = f[0] & 15;
    if ((f[0] & 0x80) == 0 || op == 0 || (f[0] & 0x70) != 0) {
      fprintf(stderr, "chatload: fragmented or extended frame (0x%02x)\n",
              f[0]);
      exit(1);
    }
    if (op == 1) {
      on_text(c, (const char*)f + hl, (size_t)n);
    } else if (op == 9) { /* ping: pong with its payload */
      unsigned char out[160];
      send_all(c->fd, out, frame(out, 10, f + hl, n < 125 ? n : 125));
    } else if (op == 8) {
      if (!closing) {
        fprintf(stderr, "chatload: connection %d closed by the server\n",
                c->idx);
        exit(1);
      }
    }
    pos += hl + n;
  }
  return pos;
}

static void keep(conn_t* c, const unsigned char* p, size_t n) {
  if (c->pcap < c->plen + n + 16) {
    c->pcap = (c->plen + n + 16) * 2;
    c->pend = realloc(c->pend, c->pcap);
    if (c->pend == NULL) die("realloc");
  }
  memcpy(c->pend + c->plen, p, n);
  c->plen += n;
}

static void read_some(conn_t* c) {
  for (;;) {
    ssize_t r = recv(c->fd, rbuf, sizeof rbuf - 16, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (r < 0 && errno == EINTR) continue;
    t_recv = now_ns();
    if (r <= 0) {
      if (closing) return;
      fprintf(stderr, "chatload: connection %d closed by the server (%s)\n",
              c->idx, r < 0 ? strerror(errno) : "EOF");
      exit(1);
    }
    if (c->plen > 0) { /* an incomplete frame is waiting: add to it */
      keep(c, rbuf, (size_t)r);
      size_t used = parse(c, c->pend, c->plen);
      memmove(c->pend, c->pend + used, c->plen - used);
      c->plen -= used;
    } else {
      size_t used = parse(c, rbuf, (size_t)r);
      if (used < (size_t)r) keep(c, rbuf + used, (size_t)r - used);
    }
    if (c->plen == 0 && c->pcap > 65536) { /* drop a big message's buffer */
      free(c->pend);
      c->pend = NULL;
      c->pcap = 0;
    }
  }
}

static int ep;
static struct epoll_event evs[1024];

static void poll_once(int ms) {
  int n = epoll_wait(ep, evs, 1024, ms);
  if (n < 0 && errno != EINTR) die("epoll_wait");
  for (int k = 0; k < n; k++) read_some(evs[k].data.ptr);
}

static void usage(void) {
  fprintf(stderr,
          "usage: chatload hold PORT CONNS SECONDS\n"
          "       chatload room PORT MEMBERS SENDERS SECONDS\n");
  exit(2);
}

int main(int argc, char** argv) {
  if (argc < 5) usage();
  double secs;
  if (strcmp(argv[1], "hold") == 0 && argc == 5) {
    secs = atof(argv[4]);
  } else if (strcmp(argv[1], "room") == 0 && argc == 6) {
    mode_room = 1;
    nsenders = atoi(argv[4]);
    secs = atof(argv[5]);
  } else {
    usage();
  }
  port = atoi(argv[2]);
  nconn = atoi(argv[3]);
  if (port <= 0 || nconn <= 0 || secs < 0 || nsenders < 0) usage();
  if (nsenders > nconn) nsenders = nconn;
  const char* tl = getenv("CHATLOAD_TEXT");
  if (tl != NULL) text_len = (size_t)atol(tl);
  if (text_len < 40) text_len = 40;
  if (text_len > 4096) text_len = 4096;
  const char* wl = getenv("CHATLOAD_WINDOW");
  if (wl != NULL) window = atoi(wl);
  if (window < 1) window = 1;
  const char* rt = getenv("CHATLOAD_RATE");
  if (rt != NULL) rate = atof(rt);
  if (rate < 0) rate = 0;

  /* The hard limit: set-up, the run, the drain and some slack. */
  signal(SIGALRM, on_alarm);
  alarm((unsigned)(SETUP_LIMIT + secs + DRAIN_LIMIT + 20));

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconn + 64) {
    rl.rlim_cur = (rlim_t)nconn + 64;
    if (rl.rlim_max < rl.rlim_cur) rl.rlim_max = rl.rlim_cur;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      fprintf(stderr, "chatload: cannot open %d files (ulimit -n)\n", nconn);
      return 1;
    }
  }
  ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  cs = calloc((size_t)nconn, sizeof *cs);
  if (cs == NULL) die("calloc");
  char req[256];
  int reql = snprintf(req, sizeof req,
                      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n",
                      port);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  double t0 = now();

  /* Connect in batches, so that the server's backlog is not overrun: at
   * most 512 connections wait for their 101 at a time. */
  for (int i = 0; i < nconn; i++) {
    conn_t* c = &cs[i];
    c->idx = i;
    c->sender = mode_room && i < nsenders;
    c->last_id = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) die("connect");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->fd = fd;
    send_all(fd, req, (size_t)reql);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) die("epoll_ctl");
    if (i % 256 != 255 && i != nconn - 1) continue;
    int want = i == nconn - 1 ? nconn : i + 1 - 512;
    while (nupgraded < want) {
      poll_once(1000);
      if (now() - t0 > SETUP_LIMIT) {
        fprintf(stderr, "chatload: %d of %d upgraded in %d s\n", nupgraded,
                nconn, SETUP_LIMIT);
        printf("joined %d of %d\n", njoined, nconn);
        return 1;
      }
    }
  }
  while (njoined < nconn) {
    poll_once(1000);
    if (now() - t0 > SETUP_LIMIT) {
      fprintf(stderr, "chatload: %d of %d joined in %d s\n", njoined, nconn,
              SETUP_LIMIT);
      printf("joined %d of %d\n", njoined, nconn);
      return 1;
    }
  }
  double setup = now() - t0;

  if (!mode_room) {
    printf("open %d\n", nconn);
    fflush(stdout);
    fprintf(stderr, "chatload: %d connections joined in %.2f s\n", nconn,
            setup);
    double end = now() + secs;
    while (now() < end) poll_once(100);
    closing = 1;
    for (int i = 0; i < nconn; i++) close(cs[i].fd);
    return 0;
  }

  /* room: every member joined; the senders start. */
  fprintf(stderr, "chatload: %d members joined in %.2f s\n", nconn, setup);
  sending = measuring = 1;
  double start = now();
  double end = start + secs;
  uint64_t skipped = 0;
  if (rate == 0) {
    for (int i = 0; i < nsenders; i++)
      for (int k = 0; k < window; k++) send_say(&cs[i]);
    while (now() < end) poll_once(10);
  } else if (nsenders > 0) {
    double next = start;
    int turn = 0;
    while (now() < end) {
      double t = now();
      for (; next <= t; next += 1 / rate, turn = (turn + 1) % nsenders) {
        if (cs[turn].outstanding < window)
          send_say(&cs[turn]);
        else
          skipped++;
      }
      int ms = (int)((next - t) * 1000);
      poll_once(ms < 1 ? 1 : ms > 10 ? 10 : ms);
    }
  }
  double took = now() - start;
  measuring = sending = 0;

  /* Drain: every member should get up to the highest id anybody saw. */
  double dend = now() + DRAIN_LIMIT;
  for (;;) {
    int done = 1;
    for (int i = 0; i < nsenders && done; i++) done = cs[i].outstanding == 0;
    for (int i = 0; i < nconn && done; i++)
      done = cs[i].last_id >= max_id || max_id <= cs[i].joined_last;
    if (done || now() > dend) break;
    poll_once(50);
  }
  uint64_t missing = 0, live_total = 0;
  for (int i = 0; i < nconn; i++) {
    live_total += cs[i].live;
    int64_t want = max_id - cs[i].joined_last;
    if (want > (int64_t)cs[i].live)
      missing += (uint64_t)(want - (int64_t)cs[i].live);
  }
  printf(
      "delivered_per_s=%.0f msgs_per_s=%.0f p50_ms=%.3f p99_ms=%.3f "
      "order_violations=%" PRIu64 " missing=%" PRIu64 " errors=%" PRIu64
      " members=%d senders=%d window=%d seconds=%.2f live_total=%" PRIu64
      " last_id=%" PRId64 " skipped=%" PRIu64 "\n",
      (double)delivered / took, (double)said_in_window / took, lat_ms(0.50),
      lat_ms(0.99), order_violations, missing, errors, nconn, nsenders, window,
      took, live_total, max_id, skipped);
  closing = 1;
  for (int i = 0; i < nconn; i++) close(cs[i].fd);
  return order_violations > 0 || missing > 0 ? 1 : 0;
}
