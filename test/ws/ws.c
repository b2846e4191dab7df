/* WebSocket streams end to end in one loop: sluice's client against
 * sluice's server. Message kinds, the close handshake both ways, paused
 * mode, fragments, permessage-deflate, backpressure and drain, the send cap
 * (close and drop), keep-alive pings against a dead peer, subprotocols,
 * refusals and handshake failures, and the API's argument checks. The
 * protocol rules themselves are the conformance suite's
 * (test/ws/conformance.py, against real bytes). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

/* --- a recorder of one side's events -------------------------------------- */

#define MAXMSG 4096
typedef struct side_s {
  sl_stream_t* ws;
  int nmsg;
  unsigned tags[MAXMSG];
  size_t lens[MAXMSG];
  char* first; /* the first message's bytes */
  char* last;  /* the last message's bytes */
  uint64_t bytes, seq_sum, prev_seq;
  int out_of_order;
  int had_req; /* server: sl_ws_request() was there at a message */
  int connected, ended, closed, drains, err;
  char errmsg[300];
  int close_code;
  char close_reason[130];
  int echo;              /* write each message back */
  int close_after;       /* sl_ws_close after this many messages */
  struct side_s* stop;   /* also close this one's server at close */
  sl_http_server_t* srv; /* closed when this side closes */
  sl_stream_t* kill;     /* destroyed when this side closes */
} side_t;

static void on_side(sl_stream_t* ws, const sl_event_t* ev, void* arg) {
  side_t* s = arg;
  switch (ev->type) {
    case SL_EV_DATA: {
      size_t n = sl_chunk_len(ev->chunk);
      if (s->nmsg < MAXMSG) {
        s->tags[s->nmsg] = sl_chunk_tag(ev->chunk);
        s->lens[s->nmsg] = n;
      }
      char* copy = malloc(n + 1);
      memcpy(copy, sl_chunk_data(ev->chunk), n);
      copy[n] = '\0';
      if (s->first == NULL) {
        s->first = copy;
      } else {
        free(s->last);
        s->last = copy;
      }
      s->nmsg++;
      s->bytes += n;
      if (sl_is_ws(ws) && sl_ws_request(ws) != NULL) s->had_req = 1;
      if (n >= 8) {
        uint64_t seq;
        memcpy(&seq, sl_chunk_data(ev->chunk), 8);
        s->seq_sum += seq;
        if (s->nmsg > 1 && seq <= s->prev_seq) s->out_of_order++;
        s->prev_seq = seq;
      }
      if (s->echo) sl_stream_write(ws, ev->chunk, NULL, NULL);
      if (s->close_after && s->nmsg == s->close_after)
        sl_ws_close(ws, 4001, "enough");
      break;
    }
    case SL_EV_CONNECT:
      s->connected++;
      break;
    case SL_EV_END:
      s->ended++;
      break;
    case SL_EV_DRAIN:
      s->drains++;
      break;
    case SL_EV_ERROR:
      s->err = ev->err;
      snprintf(s->errmsg, sizeof s->errmsg, "%s", ev->message);
      break;
    case SL_EV_CLOSE:
      s->closed++;
      s->close_code = sl_ws_close_code(ws);
      snprintf(s->close_reason, sizeof s->close_reason, "%s",
               sl_ws_close_reason(ws));
      if (s->srv != NULL) sl_http_server_close(s->srv, NULL, NULL);
      s->srv = NULL;
      if (s->kill != NULL) sl_stream_destroy(s->kill, 0);
      s->kill = NULL;
      break;
    default:
      break;
  }
}

static void side_watch(side_t* s, sl_stream_t* ws, int flowing) {
  static const sl_event_type_t t[] = {SL_EV_CONNECT, SL_EV_END, SL_EV_DRAIN,
                                      SL_EV_ERROR, SL_EV_CLOSE};
  s->ws = sl_stream_ref(ws); /* read after its close by the test */
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    sl_stream_on(ws, t[i], on_side, s);
  if (flowing) sl_stream_on(ws, SL_EV_DATA, on_side, s);
}

static void side_free(side_t* s) {
  if (s->ws != NULL) sl_stream_unref(s->ws);
  free(s->first);
  free(s->last);
}

/* The server's side of each test: one connection. */
static side_t srv_side;

static void on_conn(sl_stream_t* ws, void* arg) {
  (void)arg;
  side_watch(&srv_side, ws, 1);
}

/* The server of a test: one whose connections go to `cb` (serve: to
 * on_conn, recorded in srv_side). test_srv is the latest, for callbacks. */
static sl_http_server_t* test_srv;

static sl_http_server_t* serve_cb(sl_ws_server_opts_t* o, sl_ws_cb cb) {
  test_srv = NULL;
  ASSERT_EQ(sl_ws_listen(o, cb, NULL, &test_srv), 0);
  return test_srv;
}

static sl_http_server_t* serve(sl_ws_server_opts_t* o) {
  return serve_cb(o, on_conn);
}

static sl_stream_t* connect_to(sl_http_server_t* srv, const char* path,
                               const sl_ws_opts_t* o) {
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d%s", sl_http_server_port(srv),
           path);
  sl_stream_t* ws = sl_ws_connect(url, o);
  ASSERT(ws != NULL);
  return ws;
}

static sl_chunk_t* tagged(const void* d, size_t n, unsigned tag) {
  sl_chunk_t* c = sl_chunk_copy(d, n);
  sl_chunk_set_tag(c, tag);
  return c;
}

/* --- messages and the close handshake ----------------------------------- */

TEST(ws_echo_keeps_kinds_and_closes_with_code) {
  memset(&srv_side, 0, sizeof srv_side);
  srv_side.echo = 1;
  sl_ws_server_opts_t so = {0};
  sl_http_server_t* srv = serve(&so);
  side_t c = {.close_after = 3, .srv = srv};
  sl_stream_t* ws = connect_to(srv, "/chat?room=a", NULL);
  side_watch(&c, ws, 1);
  /* Written before the 101: they wait for it. */
  ASSERT_EQ(sl_ws_sendf(ws, "h\xc3\xa9llo %d", 1), 1);
  sl_chunk_t* b = tagged("\0\1\2\3", 4, SL_WS_BINARY);
  sl_stream_write(ws, b, NULL, NULL);
  sl_chunk_unref(b);
  sl_chunk_t* e = tagged("", 0, SL_WS_TEXT); /* an empty message counts */
  sl_stream_write(ws, e, NULL, NULL);
  sl_chunk_unref(e);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(c.connected, 1);
  ASSERT_EQ(c.nmsg, 3);
  ASSERT_STR_EQ(c.first, "h\xc3\xa9llo 1");
  ASSERT_EQ(c.tags[0], SL_WS_TEXT);
  ASSERT_EQ(c.tags[1], SL_WS_BINARY);
  ASSERT_EQ(c.lens[1], 4);
  ASSERT_EQ(c.tags[2], SL_WS_TEXT);
  ASSERT_EQ(c.lens[2], 0);
  ASSERT_EQ(srv_side.nmsg, 3);
  ASSERT_EQ(srv_side.had_req, 0); /* not kept past the callback */
  ASSERT_EQ(c.had_req, 0);
  /* The server heard our 4001 and answered with it; no error either side. */
  ASSERT_EQ(srv_side.close_code, 4001);
  ASSERT_STR_EQ(srv_side.close_reason, "enough");
  ASSERT_EQ(c.close_code, 4001);
  ASSERT_EQ(c.err, 0);
  ASSERT_EQ(srv_side.err, 0);
  ASSERT_EQ(c.ended, 1);
  ASSERT_EQ(srv_side.ended, 1);
  ASSERT_EQ(c.closed, 1);
  ASSERT_EQ(srv_side.closed, 1);
  side_free(&c);
  side_free(&srv_side);
}

static void check_request(sl_stream_t* ws, void* arg) {
  sl_stream_t* req = sl_ws_request(ws);
  ASSERT(req != NULL);
  ASSERT_STR_EQ(sl_http_path(req), "/chat");
  ASSERT_STR_EQ(sl_http_query(req, "room"), "a b");
  ASSERT_STR_EQ(sl_http_header(req, "x-token"), "t1");
  ASSERT_STR_EQ(sl_ws_protocol(ws), "superchat");
  on_conn(ws, arg);
}

TEST(ws_request_and_subprotocol) {
  memset(&srv_side, 0, sizeof srv_side);
  static const char* const ours[] = {"chat", "superchat", NULL};
  static const char* const offered[] = {"superchat", "other", NULL};
  static const char* const hdrs[] = {"X-Token: t1", NULL};
  sl_ws_server_opts_t so = {.ws.protocols = ours, .ws.keep_request = 1};
  sl_http_server_t* srv = serve_cb(&so, check_request);
  srv_side.close_after = 1;
  sl_ws_opts_t co = {.protocols = offered, .headers = hdrs};
  side_t c = {.srv = srv};
  side_watch(&c, connect_to(srv, "/chat?room=a+b", &co), 1);
  sl_ws_sendf(c.ws, "later");
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(srv_side.had_req, 1); /* kept: still there at the message */
  ASSERT_EQ(c.connected, 1);
  ASSERT_STR_EQ(sl_ws_protocol(c.ws), "superchat");
  ASSERT_EQ(c.close_code, 4001);
  ASSERT_EQ(c.err, 0);
  side_free(&c);
  side_free(&srv_side);
}

/* --- paused mode, fragments, deflate -------------------------------------- */

static void read_all(sl_stream_t* ws, const sl_event_t* ev, void* arg) {
  (void)ev;
  side_t* s = arg;
  sl_chunk_t* m;
  while ((m = sl_stream_read(ws, 1)) != NULL) {
    if (s->nmsg < MAXMSG) {
      s->lens[s->nmsg] = sl_chunk_len(m);
      s->tags[s->nmsg] = sl_chunk_tag(m);
    }
    s->nmsg++;
    sl_chunk_unref(m);
  }
}

static void on_paused_conn(sl_stream_t* ws, void* arg) {
  (void)arg;
  side_watch(&srv_side, ws, 0);
  sl_stream_on(ws, SL_EV_READABLE, read_all, &srv_side);
}

TEST(ws_paused_read_sizes) {
  memset(&srv_side, 0, sizeof srv_side);
  sl_ws_server_opts_t so = {0};
  sl_http_server_t* srv = serve_cb(&so, on_paused_conn);
  side_t c = {.srv = srv};
  sl_stream_t* ws = connect_to(srv, "/", NULL);
  side_watch(&c, ws, 1);
  static const size_t sizes[] = {10, 0, 70000, 3};
  for (size_t i = 0; i < 4; i++) {
    char* d = calloc(1, sizes[i] + 1);
    sl_chunk_t* m = tagged(d, sizes[i], SL_WS_BINARY);
    sl_stream_write(ws, m, NULL, NULL);
    sl_chunk_unref(m);
    free(d);
  }
  sl_stream_end(ws, NULL, NULL, NULL);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(srv_side.nmsg, 4);
  for (size_t i = 0; i < 4; i++) {
    ASSERT_EQ(srv_side.lens[i], sizes[i]);
    ASSERT_EQ(srv_side.tags[i], SL_WS_BINARY);
  }
  ASSERT_EQ(sl_stream_set_encoding(c.ws, SL_ENC_UTF8), SL_EINVAL);
  ASSERT_EQ(c.close_code, 1000);
  side_free(&c);
  side_free(&srv_side);
}

TEST(ws_fragments_in_and_out) {
  memset(&srv_side, 0, sizeof srv_side);
  /* The server gets fragments as they come; the client whole messages. */
  sl_ws_server_opts_t so = {.ws.fragments = 1};
  sl_http_server_t* srv = serve(&so);
  srv_side.echo = 1;
  side_t c = {.srv = srv, .close_after = 1};
  sl_stream_t* ws = connect_to(srv, "/", NULL);
  side_watch(&c, ws, 1);
  const char* parts[] = {"frag", "men", "ted"};
  for (int i = 0; i < 3; i++) {
    sl_chunk_t* m = tagged(parts[i], strlen(parts[i]),
                           SL_WS_TEXT | (i < 2 ? SL_WS_MORE : 0));
    sl_stream_write(ws, m, NULL, NULL);
    sl_chunk_unref(m);
  }
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(srv_side.nmsg, 3);
  ASSERT_EQ(srv_side.tags[0], SL_WS_TEXT | SL_WS_MORE);
  ASSERT_EQ(srv_side.tags[2], SL_WS_TEXT);
  /* The echo went back as three frames of one message: one for the client. */
  ASSERT_EQ(c.nmsg, 1);
  ASSERT_STR_EQ(c.first, "fragmented");
  side_free(&c);
  side_free(&srv_side);
}

TEST(ws_deflate_both_ways_with_and_without_context) {
  for (int nct = 0; nct < 2; nct++) {
    memset(&srv_side, 0, sizeof srv_side);
    srv_side.echo = 1;
    sl_ws_server_opts_t so = {.ws.deflate = 1,
                              .ws.deflate_no_context_takeover = nct};
    sl_http_server_t* srv = serve(&so);
    sl_ws_opts_t co = {.deflate = 1};
    side_t c = {.srv = srv, .close_after = 50};
    sl_stream_t* ws = connect_to(srv, "/", &co);
    side_watch(&c, ws, 1);
    for (int i = 0; i < 50; i++) {
      char text[2000];
      int n = snprintf(text, sizeof text, "message %d ", i);
      while (n < 1990) n += snprintf(text + n, sizeof text - n, "words %d ", i);
      sl_ws_sendf(ws, "%s", text);
    }
    ASSERT_EQ(sl_run(), 0);
    ASSERT(strstr(sl_ws_extensions(c.ws), "permessage-deflate") != NULL);
    ASSERT_EQ(strstr(sl_ws_extensions(c.ws), "no_context_takeover") != NULL,
              nct);
    ASSERT_EQ(c.nmsg, 50);
    ASSERT(strncmp(c.last, "message 49 words 49", 19) == 0);
    ASSERT_EQ(c.err, 0);
    side_free(&c);
    side_free(&srv_side);
  }
}

/* --- backpressure and the send cap --------------------------------------- */

typedef struct {
  sl_stream_t* ws;
  int written, zero_at, sent_after;
  size_t buffered_at_zero;
  int limit;
} writer_t;

static void write_until_full(writer_t* w) {
  static char block[64 * 1024];
  while (w->written < w->limit) {
    uint64_t seq = (uint64_t)w->written;
    memcpy(block, &seq, 8);
    sl_chunk_t* m = tagged(block, sizeof block, SL_WS_BINARY);
    int rc = sl_stream_write(w->ws, m, NULL, NULL);
    sl_chunk_unref(m);
    w->written++;
    if (rc == 0) {
      if (w->zero_at == 0) {
        w->zero_at = w->written;
        w->buffered_at_zero = sl_ws_buffered_amount(w->ws);
      }
      return;
    }
  }
  sl_stream_end(w->ws, NULL, NULL, NULL);
}

static void on_writer_event(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  writer_t* w = arg;
  if (ev->type == SL_EV_DRAIN || ev->type == SL_EV_CONNECT) write_until_full(w);
}

static void resume_later(sl_timer_t* t, void* arg) {
  (void)t;
  sl_stream_on(arg, SL_EV_DATA, on_side, &srv_side);
}

static void on_slow_conn(sl_stream_t* ws, void* arg) {
  (void)arg;
  side_watch(&srv_side, ws, 0);
  sl_timer_start(200, 0, resume_later, ws); /* reads nothing for 200 ms */
}

TEST(ws_backpressure_write_returns_zero_then_drain) {
  memset(&srv_side, 0, sizeof srv_side);
  sl_ws_server_opts_t so = {0};
  sl_http_server_t* srv = serve_cb(&so, on_slow_conn);
  srv_side.srv = srv;
  writer_t w = {.limit = 200}; /* 12.5 MiB */
  side_t c = {0};
  w.ws = connect_to(srv, "/", NULL);
  side_watch(&c, w.ws, 1);
  sl_stream_on(w.ws, SL_EV_CONNECT, on_writer_event, &w);
  sl_stream_on(w.ws, SL_EV_DRAIN, on_writer_event, &w);
  ASSERT_EQ(sl_run(), 0);
  /* write() said stop at the mark (64 KiB: the first message), with the
   * bytes waiting counted, and drain let the writer finish. */
  ASSERT_GT(w.zero_at, 0);
  ASSERT_GE(w.buffered_at_zero, 64 * 1024);
  ASSERT_GT(c.drains, 0);
  ASSERT_EQ(srv_side.nmsg, 200);
  ASSERT_EQ(srv_side.seq_sum, 199 * 200 / 2); /* all, in order */
  ASSERT_EQ(srv_side.err, 0);
  side_free(&c);
  side_free(&srv_side);
}

/* The server writes to a client that does not read. */
typedef struct {
  sl_stream_t* ws;
  int n;
} flood_t;
static flood_t flood;

/* Once the client reads again: one more message, then the close. */
static void flood_tail(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  char block[64] = {0};
  uint64_t seq = 2000;
  memcpy(block, &seq, 8);
  sl_chunk_t* m = tagged(block, sizeof block, SL_WS_BINARY);
  sl_stream_write(flood.ws, m, NULL, NULL);
  sl_chunk_unref(m);
  sl_ws_close(flood.ws, 1000, NULL);
}

static void flood_tick(sl_timer_t* t, void* arg) {
  (void)arg;
  static char block[64 * 1024];
  for (int i = 0; i < 32 && flood.n < 2000; i++, flood.n++) {
    uint64_t seq = (uint64_t)flood.n;
    memcpy(block, &seq, 8);
    sl_chunk_t* m = tagged(block, sizeof block, SL_WS_BINARY);
    int rc = sl_stream_write(flood.ws, m, NULL, NULL);
    sl_chunk_unref(m);
    if (rc < 0) {
      sl_timer_stop(t);
      return;
    }
  }
  if (flood.n >= 2000) {
    sl_timer_stop(t);
    sl_timer_start(500, 0, flood_tail, NULL);
  }
}

static void on_flood_conn(sl_stream_t* ws, void* arg) {
  (void)arg;
  side_watch(&srv_side, ws, 1);
  flood.ws = ws;
  flood.n = 0;
  sl_timer_start(1, 1, flood_tick, NULL);
}

static void client_resume(sl_timer_t* t, void* arg) {
  (void)t;
  side_t* c = arg;
  sl_stream_on(c->ws, SL_EV_DATA, on_side, c);
}

TEST(ws_send_cap_close_policy) {
  memset(&srv_side, 0, sizeof srv_side);
  sl_ws_server_opts_t so = {.ws.send_cap = 1 << 20};
  sl_http_server_t* srv = serve_cb(&so, on_flood_conn);
  srv_side.srv = srv;
  side_t c = {0};
  sl_ws_opts_t co = {.high_water_mark = 16 * 1024};
  side_watch(&c, connect_to(srv, "/", &co), 0); /* never reads */
  srv_side.kill = c.ws;
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(srv_side.err, SL_ENOBUFS);
  ASSERT(strstr(srv_side.errmsg, "send_cap") != NULL);
  ASSERT(strstr(srv_side.errmsg, "1008") != NULL);
  ASSERT_LT(flood.n, 2000);
  side_free(&c);
  side_free(&srv_side);
}

TEST(ws_send_cap_drop_policy_keeps_order_and_counts) {
  memset(&srv_side, 0, sizeof srv_side);
  sl_ws_server_opts_t so = {.ws.send_cap = 1 << 20,
                            .ws.send_policy = SL_WS_CAP_DROP};
  sl_http_server_t* srv = serve_cb(&so, on_flood_conn);
  srv_side.srv = srv;
  side_t c = {0};
  sl_ws_opts_t co = {.high_water_mark = 16 * 1024};
  side_watch(&c, connect_to(srv, "/", &co), 0);
  sl_timer_start(300, 0, client_resume, &c); /* reads late */
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(srv_side.err, 0);
  uint64_t dropped = sl_ws_dropped(srv_side.ws);
  ASSERT_GT(dropped, 0);
  /* What arrived plus what was dropped is what was sent, in order; the
   * message sent once the client read again arrived. */
  ASSERT_EQ((uint64_t)c.nmsg + dropped, 2001);
  ASSERT_EQ(c.out_of_order, 0);
  uint64_t last;
  memcpy(&last, c.last, 8);
  ASSERT_EQ(last, 2000);
  ASSERT_EQ(c.close_code, 1000);
  side_free(&c);
  side_free(&srv_side);
}

/* --- keep-alive pings ------------------------------------------------------ */

/* A raw client that completes the handshake and then reads nothing more:
 * it never answers a ping. */
static int raw_upgrade(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr*)&a, sizeof a), 0);
  const char* req =
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  ASSERT_EQ(write(fd, req, strlen(req)), (ssize_t)strlen(req));
  return fd;
}

static int dead_fd = -1;

static void close_dead(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  (void)ev;
  sl_http_server_close(arg, NULL, NULL);
}

static void on_dead_conn(sl_stream_t* ws, void* arg) {
  on_conn(ws, arg);
  sl_stream_on(ws, SL_EV_CLOSE, close_dead, test_srv);
}

TEST(ws_ping_timeout_silent_peer) {
  memset(&srv_side, 0, sizeof srv_side);
  sl_ws_server_opts_t so = {.ws.ping_interval_ms = 50,
                            .ws.pong_timeout_ms = 100};
  sl_http_server_t* srv = serve_cb(&so, on_dead_conn);
  uint64_t t0 = sl_now_ms();
  dead_fd = raw_upgrade(sl_http_server_port(srv));
  ASSERT_EQ(sl_run(), 0);
  close(dead_fd);
  ASSERT_EQ(srv_side.err, SL_ETIMEDOUT);
  ASSERT(strstr(srv_side.errmsg, "no answer to a ping within 100 ms") != NULL);
  ASSERT_EQ(srv_side.close_code, 1006);
  uint64_t took = sl_now_ms() - t0;
  ASSERT_GE(took, 100);
  ASSERT_LT(took, 3000);
  side_free(&srv_side);
}

static void close_both(sl_timer_t* t, void* arg) {
  (void)t;
  sl_ws_close(arg, 1000, "idle but alive");
}

TEST(ws_ping_keeps_a_live_idle_peer) {
  memset(&srv_side, 0, sizeof srv_side);
  sl_ws_server_opts_t so = {.ws.ping_interval_ms = 30,
                            .ws.pong_timeout_ms = 60};
  sl_http_server_t* srv = serve(&so);
  side_t c = {.srv = srv};
  sl_stream_t* ws = connect_to(srv, "/", NULL);
  side_watch(&c, ws, 1);
  sl_timer_start(400, 0, close_both, ws); /* many ping periods, no data */
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(srv_side.err, 0);
  ASSERT_EQ(srv_side.close_code, 1000);
  ASSERT_STR_EQ(srv_side.close_reason, "idle but alive");
  ASSERT_GT(sl_ws_pongs(srv_side.ws), 2); /* the client answered them */
  ASSERT_EQ(sl_ws_pongs(c.ws), 0);        /* it sent none */
  side_free(&c);
  side_free(&srv_side);
}

/* --- refusals and failures ----------------------------------------------- */

static int deny(sl_stream_t* req, void* arg) {
  (void)arg;
  return sl_http_header(req, "authorization") ? 0 : 401;
}

/* Connects to `srv` and expects the handshake to fail with `want` in the
 * message; then closes `srv` (NULL: destroys `other` instead). */
static void expect_refused(sl_http_server_t* srv, const char* path,
                           const sl_ws_opts_t* o, const char* want,
                           sl_stream_t* other) {
  side_t c = {.srv = other == NULL ? srv : NULL, .kill = other};
  side_watch(&c, connect_to(srv, path, o), 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(c.connected, 0);
  ASSERT_EQ(c.err, SL_EPROTO);
  ASSERT_EQ(c.closed, 1);
  if (strstr(c.errmsg, want) == NULL)
    sl_test_fail(__FILE__, __LINE__, "'%s' lacks '%s'", c.errmsg, want);
  side_free(&c);
}

TEST(ws_refusals_have_clear_errors) {
  memset(&srv_side, 0, sizeof srv_side);
  static const char* const ours[] = {"chat", NULL};
  static const char* const theirs[] = {"other", NULL};
  sl_ws_server_opts_t so = {.verify = deny, .ws.protocols = ours};
  expect_refused(serve(&so), "/", NULL, "unexpected status 401 Unauthorized",
                 NULL);
  static const char* const auth[] = {"Authorization: yes", NULL};
  sl_ws_opts_t co = {.headers = auth, .protocols = theirs};
  expect_refused(serve(&so), "/", &co, "unexpected status 400 Bad Request",
                 NULL);
  ASSERT_EQ(srv_side.closed, 0); /* the handler never saw one */
  ASSERT(sl_ws_connect("wss://127.0.0.1:1/", NULL) == NULL);
  ASSERT(sl_ws_connect("ftp://x/", NULL) == NULL);
  side_t c = {0};
  int fd;
  int port = sl_test_unused_port(&fd);
  close(fd);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  side_watch(&c, sl_ws_connect(url, NULL), 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(c.err, SL_ECONNREFUSED);
  ASSERT(strstr(c.errmsg, "ECONNREFUSED") != NULL);
  ASSERT_EQ(c.closed, 1);
  side_free(&c);
}

static void plain(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req;
  (void)arg;
  sl_http_respond(res, 200, "text/plain", "plain\n", 6);
}

static void stop_loop(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  (void)ev;
  (void)arg;
  sl_stop();
}

TEST(ws_plain_server_and_connection_limit) {
  /* An HTTP server without on_upgrade answers upgrades from its handler. */
  sl_http_server_t* h = NULL;
  ASSERT_EQ(sl_http_listen(NULL, plain, NULL, &h), 0);
  expect_refused(h, "/", NULL, "unexpected status 200", NULL);
  memset(&srv_side, 0, sizeof srv_side);
  sl_ws_server_opts_t so = {.max_connections = 1};
  sl_http_server_t* srv = serve(&so);
  side_t first = {.srv = srv};
  side_watch(&first, connect_to(srv, "/", NULL), 1);
  sl_stream_once(first.ws, SL_EV_CONNECT, stop_loop, NULL);
  ASSERT_EQ(sl_run(), 0); /* until the first is open */
  /* The second is refused; that ends the first too (and the server). */
  expect_refused(srv, "/", NULL, "unexpected status 503", first.ws);
  ASSERT_EQ(first.connected, 1);
  ASSERT_EQ(srv_side.closed, 1);
  side_free(&first);
  side_free(&srv_side);
}

static void check_api(sl_stream_t* ws, void* arg) {
  (void)arg;
  on_conn(ws, NULL);
  char big[200];
  memset(big, 'r', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  ASSERT_EQ(sl_ws_close(ws, 1005, NULL), SL_EINVAL);
  ASSERT_EQ(sl_ws_close(ws, 999, NULL), SL_EINVAL);
  ASSERT_EQ(sl_ws_close(ws, 1000, big), SL_EINVAL);
  ASSERT_EQ(sl_ws_close(ws, 1000, "\xed\xa0\x80"), SL_EINVAL);
  ASSERT_EQ(sl_ws_ping(ws, big, 126), SL_EINVAL);
  ASSERT_EQ(sl_ws_ping(ws, "hi", 2), 0);
  ASSERT(sl_is_ws(ws));
  ASSERT(!sl_is_ws(sl_ws_request(ws)));
  ASSERT_EQ(sl_ws_close(ws, 3000, "ok"), 0);
  ASSERT_EQ(sl_ws_close(ws, 3000, "again"), SL_EWRITEAFTEREND);
}

TEST(ws_api_argument_checks) {
  memset(&srv_side, 0, sizeof srv_side);
  sl_ws_server_opts_t so = {0};
  sl_http_server_t* srv = serve_cb(&so, check_api);
  side_t c = {.srv = srv};
  side_watch(&c, connect_to(srv, "/", NULL), 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(c.close_code, 3000);
  ASSERT_STR_EQ(c.close_reason, "ok");
  side_free(&c);
  side_free(&srv_side);
}

static void destroy_soon(sl_timer_t* t, void* arg) {
  (void)t;
  sl_stream_destroy(arg, 0);
}

TEST(ws_peer_vanishing_is_1006) {
  memset(&srv_side, 0, sizeof srv_side);
  sl_ws_server_opts_t so = {0};
  sl_http_server_t* srv = serve(&so);
  srv_side.srv = srv;
  side_t c = {0};
  sl_stream_t* ws = connect_to(srv, "/", NULL);
  side_watch(&c, ws, 1);
  sl_timer_start(50, 0, destroy_soon, ws); /* no close frame */
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(srv_side.err, SL_ECONNRESET);
  ASSERT_EQ(srv_side.close_code, 1006);
  ASSERT(strstr(srv_side.errmsg, "without a close frame") != NULL);
  side_free(&c);
  side_free(&srv_side);
}

/* A server that listens for nothing but data: a client that breaks off is
 * not reported (the loop's exit status stays 0), as nginx does not fail
 * when a client resets. */
static void on_quiet_conn(sl_stream_t* ws, void* arg) {
  (void)arg;
  sl_stream_on(ws, SL_EV_DATA, on_side, &srv_side);
  sl_stream_once(ws, SL_EV_CLOSE, close_dead, test_srv);
}

TEST(ws_unheard_peer_failures_are_not_reported) {
  memset(&srv_side, 0, sizeof srv_side);
  sl_ws_server_opts_t so = {0};
  sl_http_server_t* srv = serve_cb(&so, on_quiet_conn);
  side_t c = {0};
  sl_stream_t* ws = connect_to(srv, "/", NULL);
  side_watch(&c, ws, 1);
  sl_timer_start(50, 0, destroy_soon, ws);
  ASSERT_EQ(sl_run(), 0);
  side_free(&c);
}

/* An upgrade that arrives once the server began to close is refused with
 * 503 (the server may go with this last connection: the upgrade callback
 * must not run on it). */
static int late_fd = -1;
static sl_http_server_t* late_srv;
static char late_answer[64];

static void late_read(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  ssize_t n = read(late_fd, late_answer, sizeof late_answer - 1);
  if (n > 0) late_answer[n] = '\0';
  close(late_fd); /* the server's socket sees the end and goes */
  late_fd = -1;
}

static void late_close_then_upgrade(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  sl_http_server_close(late_srv, NULL, NULL);
  const char* req =
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  ASSERT_EQ(write(late_fd, req, strlen(req)), (ssize_t)strlen(req));
  sl_timer_start(200, 0, late_read, NULL);
}

static void never(sl_stream_t* ws, void* arg) {
  (void)ws;
  (void)arg;
  sl_test_fail(__FILE__, __LINE__, "an upgrade ran on a closing server");
}

TEST(ws_upgrade_on_a_closing_server_is_refused) {
  sl_ws_server_opts_t so = {0};
  late_srv = serve_cb(&so, never);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons(sl_http_server_port(late_srv))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr*)&a, sizeof a), 0);
  late_fd = fd;
  sl_timer_start(50, 0, late_close_then_upgrade, NULL); /* accepted by then */
  ASSERT_EQ(sl_run(), 0);
  ASSERT(strncmp(late_answer, "HTTP/1.1 503", 12) == 0);
}

/* --- the client's handshake failures and the close timeout -------------- */

/* A TCP server that answers every request with `answer` (NULL: nothing,
 * and the connection stays open; "": closes at once). */
static const char* canned;

static void on_canned_data(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)ev;
  (void)arg;
  if (canned == NULL) return;
  if (canned[0] == '\0')
    sl_stream_destroy(s, 0);
  else
    sl_stream_write_str(s, canned);
}

static void on_canned_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  (void)srv;
  (void)arg;
  sl_stream_on(conn, SL_EV_DATA, on_canned_data, NULL);
}

static void close_tcp_server(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  (void)ev;
  sl_tcp_server_close(arg, NULL, NULL);
}

static void expect_handshake_error(const char* answer, const sl_ws_opts_t* o,
                                   int err, const char* want) {
  canned = answer;
  sl_tcp_server_t* srv = NULL;
  ASSERT_EQ(sl_tcp_listen("127.0.0.1", 0, NULL, on_canned_conn, NULL, &srv), 0);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/x", sl_tcp_server_port(srv));
  side_t c = {0};
  side_watch(&c, sl_ws_connect(url, o), 1);
  sl_stream_on(c.ws, SL_EV_CLOSE, close_tcp_server, srv);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(c.connected, 0);
  ASSERT_EQ(c.err, err);
  if (strstr(c.errmsg, want) == NULL)
    sl_test_fail(__FILE__, __LINE__, "'%s' lacks '%s'", c.errmsg, want);
  ASSERT_EQ(c.close_code, 1006);
  side_free(&c);
}

TEST(ws_client_handshake_failures) {
  sl_ws_opts_t quick = {.handshake_timeout_ms = 100};
  expect_handshake_error(NULL, &quick, SL_ETIMEDOUT, "no 101 within 100 ms");
  expect_handshake_error("", NULL, SL_ECONNRESET,
                         "the connection closed before the 101");
  expect_handshake_error("SSH-2.0-OpenSSH\r\n\r\n", NULL, SL_EPROTO,
                         "not an HTTP/1.1 response");
  expect_handshake_error(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Accept: wrong=\r\n\r\n",
      NULL, SL_EPROTO, "wrong Sec-WebSocket-Accept");
  expect_handshake_error("HTTP/1.1 101 Switching Protocols\r\n\r\n", NULL,
                         SL_EPROTO, "a 101 without Upgrade: websocket");
}

/* A peer that never answers our close frame: after close_timeout_ms the
 * socket is cut and the stream fails with ETIMEDOUT. */
static void close_on_open(sl_stream_t* ws, void* arg) {
  on_dead_conn(ws, arg);
  sl_ws_close(ws, 1001, "going away");
}

TEST(ws_close_timeout_cuts_a_peer_that_does_not_answer) {
  memset(&srv_side, 0, sizeof srv_side);
  sl_ws_server_opts_t so = {.ws.close_timeout_ms = 100};
  sl_http_server_t* srv = serve_cb(&so, close_on_open);
  uint64_t t0 = sl_now_ms();
  dead_fd = raw_upgrade(sl_http_server_port(srv)); /* never reads or writes */
  ASSERT_EQ(sl_run(), 0);
  close(dead_fd);
  ASSERT_EQ(srv_side.err, SL_ETIMEDOUT);
  ASSERT(strstr(srv_side.errmsg,
                "no close frame from the peer within 100 ms") != NULL);
  ASSERT_GE(sl_now_ms() - t0, 100);
  side_free(&srv_side);
}

/* --- a connection outlives its server ----------------------------------- */

static void close_srv_then_echo(sl_stream_t* ws, void* arg) {
  (void)arg;
  side_watch(&srv_side, ws, 1);
  /* As Node's server.close(): no new connections, the open ones go on. */
  sl_http_server_close(test_srv, NULL, NULL);
}

static void send_later(sl_timer_t* t, void* arg) {
  (void)t;
  ASSERT_EQ(sl_ws_sendf(arg, "after the server"), 1);
}

TEST(ws_connection_outlives_its_closed_server) {
  memset(&srv_side, 0, sizeof srv_side);
  srv_side.echo = 1;
  sl_ws_server_opts_t so = {0};
  sl_http_server_t* srv = serve_cb(&so, close_srv_then_echo);
  side_t c = {.close_after = 1};
  side_watch(&c, connect_to(srv, "/", NULL), 1);
  /* The server is closed (and freed) by the time this message goes. */
  sl_timer_t* t = sl_timer_start(100, 0, send_later, c.ws);
  ASSERT(t != NULL);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(c.nmsg, 1);
  ASSERT_STR_EQ(c.first, "after the server");
  ASSERT_EQ(srv_side.close_code, 4001);
  ASSERT_EQ(srv_side.err, 0);
  ASSERT_EQ(c.err, 0);
  side_free(&c);
  side_free(&srv_side);
}
