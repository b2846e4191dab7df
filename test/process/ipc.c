/* The IPC channel on a socketpair inside one process (both ends on the same
 * loop), and against a raw socket that plays a misbehaving peer: round
 * trips in both modes, order, backpressure, descriptor passing, malformed
 * input, disconnects. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

#include <uv.h>

#include "process/process_int.h"

typedef struct {
  sl_channel_t* ch;
  int messages, errors, disconnects, drains;
  int last_err;
  char last[256];
  size_t last_len;
  int last_fd;
  uint64_t next_seq; /* order checks */
  uint64_t bytes;
  uint64_t sum;
  int bad_order;
  int binary;
} side_t;

static void on_ev(sl_channel_t* ch, const sl_child_event_t* ev, void* arg) {
  side_t* s = arg;
  switch (ev->type) {
    case SL_CHILD_MESSAGE:
      s->messages++;
      s->bytes += ev->msg->len;
      ASSERT_EQ(ev->msg->data[ev->msg->len], '\0');
      s->last_len = ev->msg->len < 255 ? ev->msg->len : 255;
      memcpy(s->last, ev->msg->data, s->last_len);
      s->last[s->last_len] = '\0';
      s->last_fd = ev->msg->fd;
      break;
    case SL_CHILD_ERROR:
      s->errors++;
      s->last_err = ev->err;
      ASSERT(ev->message != NULL);
      break;
    case SL_CHILD_DISCONNECT:
      s->disconnects++;
      ASSERT(!sl_channel_connected(ch));
      break;
    case SL_CHILD_DRAIN:
      s->drains++;
      break;
    default:
      break;
  }
}

static void listen_all(side_t* s) {
  sl_channel_on(s->ch, SL_CHANNEL_MESSAGE, on_ev, s);
  sl_channel_on(s->ch, SL_CHANNEL_ERROR, on_ev, s);
  sl_channel_on(s->ch, SL_CHANNEL_DISCONNECT, on_ev, s);
  sl_channel_on(s->ch, SL_CHANNEL_DRAIN, on_ev, s);
}

static void make_pair(sl_ipc_mode_t mode, side_t* a, side_t* b,
                      size_t max_message, size_t hwm) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  memset(a, 0, sizeof *a);
  memset(b, 0, sizeof *b);
  a->ch = sl__channel_new(sv[0], mode, max_message, hwm);
  b->ch = sl__channel_new(sv[1], mode, max_message, hwm);
  ASSERT(a->ch != NULL && b->ch != NULL);
  a->last_fd = b->last_fd = -1;
  listen_all(a);
  listen_all(b);
}

/* A channel whose peer is a raw socket the test writes by hand. */
static int make_raw(sl_ipc_mode_t mode, side_t* a, size_t max_message) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  memset(a, 0, sizeof *a);
  a->ch = sl__channel_new(sv[0], mode, max_message, 0);
  a->last_fd = -1;
  listen_all(a);
  return sv[1];
}

static void release(side_t* s) { sl__channel_release(s->ch); }

/* --- round trips --------------------------------------------------------- */

static void reply_once(sl_channel_t* ch, const sl_child_event_t* ev,
                       void* arg) {
  ASSERT_EQ(sl_channel_send(ch, "{\"reply\":\"world\"}", 17, -1), 1);
}

static void disconnect_on_msg(sl_channel_t* ch, const sl_child_event_t* ev,
                              void* arg) {
  sl_channel_disconnect(ch);
}

TEST(ipc_json_round_trip) {
  side_t a, b;
  make_pair(SL_IPC_JSON, &a, &b, 0, 0);
  sl_channel_on(b.ch, SL_CHANNEL_MESSAGE, reply_once, NULL);
  sl_channel_on(a.ch, SL_CHANNEL_MESSAGE, disconnect_on_msg, NULL);
  const char* m = "{\"command\":\"hello\",\"list\":[1,2,3]}";
  ASSERT_EQ(sl_channel_send(a.ch, m, strlen(m), -1), 1);
  ASSERT(sl_channel_connected(a.ch));
  /* Nothing is delivered inside the call. */
  ASSERT_EQ(b.messages, 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(b.messages, 1);
  ASSERT_STR_EQ(b.last, m);
  ASSERT_EQ(b.last_fd, -1);
  ASSERT_EQ(a.messages, 1);
  ASSERT_STR_EQ(a.last, "{\"reply\":\"world\"}");
  ASSERT_EQ(a.disconnects, 1);
  ASSERT_EQ(b.disconnects, 1);
  ASSERT_EQ(a.errors + b.errors, 0);
  release(&a);
  release(&b);
}

/* sl_channel_sendf and sl_message_*: a formatted message arrives as JSON
 * (its string escaped) and reads back by key; a bad format sends nothing,
 * and a closed channel refuses. */
static int64_t got_n;
static char got_name[32];
static int got_missing, got_wrong_type;

static void read_keys(sl_channel_t* ch, const sl_child_event_t* ev, void* arg) {
  double d;
  ASSERT_EQ(sl_message_int(ev->msg, "n", &got_n), 0);
  ASSERT_EQ(sl_message_string(ev->msg, "name", got_name, sizeof got_name), 0);
  got_missing = sl_message_number(ev->msg, "absent", &d);
  got_wrong_type = sl_message_int(ev->msg, "name", &got_n);
  sl_channel_disconnect(ch);
}

TEST(ipc_sendf_and_read_by_key) {
  side_t a, b;
  make_pair(SL_IPC_JSON, &a, &b, 0, 0);
  sl_channel_on(b.ch, SL_CHANNEL_MESSAGE, read_keys, NULL);
  ASSERT_EQ(
      sl_channel_sendf(a.ch, "{\"n\":%lld,\"name\":%s}", 42LL, "say \"hi\"\n"),
      1);
  ASSERT_EQ(sl_channel_sendf(a.ch, "{\"n\":%5d}", 1), SL_EINVAL); /* width */
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(b.messages, 1); /* the refused one never left */
  ASSERT_STR_EQ(b.last, "{\"n\":42,\"name\":\"say \\\"hi\\\"\\n\"}");
  ASSERT_STR_EQ(got_name, "say \"hi\"\n");
  ASSERT_EQ(got_missing, SL_ENOENT);
  ASSERT_EQ(got_wrong_type, SL_EINVAL);
  ASSERT_EQ(sl_channel_sendf(a.ch, "{}"), SL_EIPCCLOSED);
  release(&a);
  release(&b);
}

TEST(ipc_binary_round_trip) {
  side_t a, b;
  make_pair(SL_IPC_BINARY, &a, &b, 0, 0);
  /* Any bytes: NULs and newlines included, an empty message, and one far
   * larger than the receive buffer. */
  const char small[] = "a\0b\nc";
  size_t big_len = 3u << 20;
  char* big = malloc(big_len);
  sl_test_fill_random(big, big_len, 42);
  ASSERT_EQ(sl_channel_send(a.ch, small, sizeof small - 1, -1), 1);
  ASSERT_EQ(sl_channel_send(a.ch, "", 0, -1), 1);
  ASSERT_EQ(sl_channel_send(a.ch, big, big_len, -1), 0);
  ASSERT_EQ(sl_channel_send(a.ch, "end", 3, -1), 0);
  sl_channel_disconnect(a.ch);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(b.messages, 4);
  ASSERT_EQ(b.bytes, 5 + 0 + big_len + 3);
  ASSERT_STR_EQ(b.last, "end");
  /* send() said 0, but disconnect() came first: no drain after it. */
  ASSERT_EQ(a.drains, 0);
  ASSERT_EQ(b.disconnects, 1);
  free(big);
  release(&a);
  release(&b);
}

/* --- order and volume ---------------------------------------------------- */

static void check_seq(sl_channel_t* ch, const sl_child_event_t* ev, void* arg) {
  side_t* s = arg;
  int64_t i;
  if (s->binary) {
    uint64_t v;
    memcpy(&v, ev->msg->data, 8);
    i = (int64_t)v;
  } else {
    ASSERT_EQ(sl_json_get_int(ev->msg->data, ev->msg->len, "i", &i), 0);
  }
  if ((uint64_t)i != s->next_seq) s->bad_order++;
  s->next_seq++;
}

static void many_small(sl_ipc_mode_t mode) {
  side_t a, b;
  make_pair(mode, &a, &b, 0, 0);
  b.binary = mode == SL_IPC_BINARY;
  sl_channel_on(b.ch, SL_CHANNEL_MESSAGE, check_seq, &b);
  enum { N = 100000 };
  for (uint64_t i = 0; i < N; i++) {
    char buf[64];
    int n;
    if (mode == SL_IPC_JSON) {
      n = snprintf(buf, sizeof buf, "{\"i\":%llu}", (unsigned long long)i);
    } else {
      memcpy(buf, &i, 8);
      n = 8;
    }
    ASSERT_GE(sl_channel_send(a.ch, buf, (size_t)n, -1), 0);
  }
  sl_channel_disconnect(a.ch);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(b.messages, N);
  ASSERT_EQ(b.bad_order, 0);
  ASSERT_EQ(b.disconnects, 1);
  release(&a);
  release(&b);
}

TEST(ipc_json_100k_in_order) { many_small(SL_IPC_JSON); }
TEST(ipc_binary_100k_in_order) { many_small(SL_IPC_BINARY); }

/* 64 MiB in 64 KiB JSON strings, sent only while send() says so. */
typedef struct {
  side_t a, b;
  int sent, zeros;
  char* msg;
  size_t len;
} burst_t;

enum { BURST_MSGS = 1024, BURST_SIZE = 64 * 1024 };

static void burst_pump(burst_t* t) {
  while (t->sent < BURST_MSGS) {
    t->msg[2] = (char)('a' + t->sent % 26);
    int rc = sl_channel_send(t->a.ch, t->msg, t->len, -1);
    ASSERT_GE(rc, 0);
    t->sent++;
    if (rc == 0) {
      t->zeros++;
      return;
    }
  }
  sl_channel_disconnect(t->a.ch);
}

static void burst_drain(sl_channel_t* ch, const sl_child_event_t* ev,
                        void* arg) {
  burst_pump(arg);
}

static void burst_sum(sl_channel_t* ch, const sl_child_event_t* ev, void* arg) {
  side_t* b = arg;
  b->sum += (unsigned char)ev->msg->data[2];
}

TEST(ipc_burst_backpressure) {
  burst_t t;
  make_pair(SL_IPC_JSON, &t.a, &t.b, 0, 256 * 1024);
  t.sent = t.zeros = 0;
  t.len = BURST_SIZE;
  t.msg = malloc(t.len);
  memset(t.msg, 'x', t.len);
  t.msg[0] = '"';
  t.msg[t.len - 1] = '"';
  sl_channel_on(t.a.ch, SL_CHANNEL_DRAIN, burst_drain, &t);
  sl_channel_on(t.b.ch, SL_CHANNEL_MESSAGE, burst_sum, &t.b);
  burst_pump(&t);
  ASSERT_EQ(sl_run(), 0);
  uint64_t want = 0;
  for (int i = 0; i < BURST_MSGS; i++) want += (unsigned char)('a' + i % 26);
  ASSERT_EQ(t.b.messages, BURST_MSGS);
  ASSERT_EQ(t.b.bytes, (uint64_t)BURST_MSGS * BURST_SIZE);
  ASSERT_EQ(t.b.sum, want);
  ASSERT_GT(t.zeros, 10);
  /* Every 0 was followed by exactly one drain (the last send may end on
   * one that the disconnect makes moot). */
  ASSERT_GE(t.a.drains, t.zeros - 1);
  ASSERT_LE(t.a.drains, t.zeros);
  free(t.msg);
  release(&t.a);
  release(&t.b);
}

/* --- descriptors --------------------------------------------------------- */

static void write_through_fd(sl_channel_t* ch, const sl_child_event_t* ev,
                             void* arg) {
  side_t* s = arg;
  if (ev->msg->fd < 0) return;
  ASSERT(fcntl(ev->msg->fd, F_GETFD) & FD_CLOEXEC);
  ASSERT_EQ(write(ev->msg->fd, "through", 7), 7);
  close(ev->msg->fd);
  s->sum++;
}

static void fd_passing(sl_ipc_mode_t mode) {
  side_t a, b;
  make_pair(mode, &a, &b, 0, 0);
  sl_channel_on(b.ch, SL_CHANNEL_MESSAGE, write_through_fd, &b);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  const char* m = mode == SL_IPC_JSON ? "{\"take\":\"this\"}" : "take";
  ASSERT_EQ(sl_channel_send(a.ch, "1", 1, -1), 1);
  ASSERT_EQ(sl_channel_send(a.ch, m, strlen(m), p[1]), 1);
  ASSERT_EQ(sl_channel_send(a.ch, "3", 1, -1), 1);
  ASSERT_EQ(sl_channel_send(a.ch, "4", 1, p[1]), 1);
  close(p[1]); /* sluice sent its own duplicates */
  sl_channel_disconnect(a.ch);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(b.messages, 4);
  ASSERT_EQ(b.sum, 2);
  ASSERT_STR_EQ(b.last, "4");
  char buf[32];
  ASSERT_EQ(read(p[0], buf, sizeof buf), 14);
  ASSERT_MEM_EQ(buf, "throughthrough", 14);
  ASSERT_EQ(read(p[0], buf, sizeof buf), 0); /* every copy closed */
  close(p[0]);
  release(&a);
  release(&b);
}

TEST(ipc_fd_passing_binary) { fd_passing(SL_IPC_BINARY); }
TEST(ipc_fd_passing_json) { fd_passing(SL_IPC_JSON); }

/* --- raw peers ----------------------------------------------------------- */

static void spin(int n) {
  for (int i = 0; i < n; i++) uv_run(sl_loop(), UV_RUN_NOWAIT);
}

/* Reads what the channel wrote to the raw peer (spinning the loop until
 * something arrives); *fd gets a descriptor that came with it, or -1. */
static size_t raw_read(int raw, char* buf, size_t cap, int* fd) {
  for (int tries = 0; tries < 2000; tries++) {
    spin(2);
    union {
      char b[CMSG_SPACE(sizeof(int))];
      struct cmsghdr align;
    } u;
    struct iovec iov = {buf, cap - 1};
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = u.b,
                       .msg_controllen = sizeof u.b};
    ssize_t r = recvmsg(raw, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (r < 0 && errno == EAGAIN) {
      usleep(1000);
      continue;
    }
    ASSERT_GT(r, 0);
    buf[r] = '\0';
    *fd = -1;
    struct cmsghdr* c = CMSG_FIRSTHDR(&m);
    if (c != NULL && c->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(c), 4);
    return (size_t)r;
  }
  sl_test_fail(__FILE__, __LINE__, "nothing arrived");
}

static void raw_write(int raw, const char* s, size_t n) {
  ASSERT_EQ(write(raw, s, n), (ssize_t)n);
}

TEST(ipc_node_handle_wire_format) {
  side_t a;
  int raw = make_raw(SL_IPC_JSON, &a, 0);
  int p[2], fd;
  char buf[512];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  ASSERT_EQ(sl_channel_send(a.ch, "{\"k\":1}", 7, p[1]), 1);
  ASSERT_EQ(sl_channel_send(a.ch, "2", 1, -1), 1);
  /* The handle goes as Node sends it; what follows waits for the ACK. */
  raw_read(raw, buf, sizeof buf, &fd);
  ASSERT_STR_EQ(buf,
                "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\","
                "\"msg\":{\"k\":1}}\n");
  ASSERT_GE(fd, 0);
  close(fd);
  spin(5);
  ASSERT_EQ(recv(raw, buf, sizeof buf, MSG_DONTWAIT), -1);
  /* A NACK makes it send the handle again. */
  raw_write(raw, "{\"cmd\":\"NODE_HANDLE_NACK\"}\n", 27);
  raw_read(raw, buf, sizeof buf, &fd);
  ASSERT(strstr(buf, "NODE_HANDLE") != NULL && fd >= 0);
  close(fd);
  raw_write(raw, "{\"cmd\":\"NODE_HANDLE_ACK\"}\n", 26);
  raw_read(raw, buf, sizeof buf, &fd);
  ASSERT_STR_EQ(buf, "2\n");
  /* A NODE_HANDLE that lost its descriptor is NACKed and not delivered;
   * other NODE_ messages are internal; user messages pass. */
  raw_write(
      raw, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":5}\n", 50);
  raw_read(raw, buf, sizeof buf, &fd);
  ASSERT_STR_EQ(buf, "{\"cmd\":\"NODE_HANDLE_NACK\"}\n");
  raw_write(raw, "{\"cmd\":\"NODE_CLUSTER\",\"x\":1}\n{\"cmd\":\"NODE_\"}\n",
            45);
  spin(5);
  ASSERT_EQ(a.messages, 1);
  ASSERT_STR_EQ(a.last, "{\"cmd\":\"NODE_\"}");
  close(raw);
  close(p[0]);
  close(p[1]);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(a.disconnects, 1);
  ASSERT_EQ(a.errors, 0);
  release(&a);
}

/* Malformed input closes the channel with ERROR then DISCONNECT; the
 * process carries on and messages before the bad one were delivered. */
static void malformed(sl_ipc_mode_t mode, size_t max, const char* bytes,
                      size_t n, int close_after, int want_err) {
  side_t a;
  int raw = make_raw(mode, &a, max);
  sl_child_event_type_t order[4];
  raw_write(raw, bytes, n);
  if (close_after) shutdown(raw, SHUT_WR);
  ASSERT_EQ(sl_run(), 0);
  (void)order;
  ASSERT_EQ(a.errors, 1);
  ASSERT_EQ(a.last_err, want_err);
  ASSERT_EQ(a.disconnects, 1);
  ASSERT_EQ(a.messages, 1);
  ASSERT_EQ(sl_channel_send(a.ch, "1", 1, -1), SL_EIPCCLOSED);
  close(raw);
  release(&a);
}

TEST(ipc_malformed_json) {
  const char in[] = "{\"ok\":1}\n{\"bad\":}\n{\"never\":1}\n";
  malformed(SL_IPC_JSON, 0, in, sizeof in - 1, 0, SL_EINVAL);
}

TEST(ipc_overlong_line) {
  char in[3000];
  memcpy(in, "\"hi\"\n", 5);
  memset(in + 5, 'x', sizeof in - 5);
  malformed(SL_IPC_JSON, 1000, in, sizeof in, 0, SL_EMSGSIZE);
}

TEST(ipc_truncated_binary_frame) {
  const char in[] = "\0\0\0\2ok\0\0\0\x64partial";
  malformed(SL_IPC_BINARY, 0, in, sizeof in - 1, 1, SL_EUNEXPECTEDEOF);
}

TEST(ipc_binary_frame_over_limit) {
  const char in[] = "\0\0\0\2ok\0\x10\0\0";
  malformed(SL_IPC_BINARY, 4096, in, sizeof in - 1, 0, SL_EMSGSIZE);
}

/* A write that carries more descriptors than one read takes: the kernel
 * would cut the rest off (MSG_CTRUNC). The channel closes with SL_EPROTO
 * rather than deliver messages without the descriptors they came with;
 * those that did arrive are closed (the runner checks for leaks). */
TEST(ipc_too_many_descriptors_close_the_channel) {
  side_t a;
  int raw = make_raw(SL_IPC_BINARY, &a, 0);
  raw_write(raw, "\0\0\0\2ok", 6);
  for (int i = 0; i < 1000 && a.messages == 0; i++) spin(1);
  ASSERT_EQ(a.messages, 1);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  enum { N = SL__FDMSG_MAX_FDS + 1 };
  union {
    char b[CMSG_SPACE(sizeof(int) * N)];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct iovec iov = {"\x80\0\0\2no", 6};
  struct msghdr m = {.msg_iov = &iov,
                     .msg_iovlen = 1,
                     .msg_control = u.b,
                     .msg_controllen = sizeof u.b};
  struct cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * N);
  for (int i = 0; i < N; i++)
    memcpy(CMSG_DATA(c) + (size_t)i * sizeof(int), &p[0], sizeof(int));
  ASSERT_EQ(sendmsg(raw, &m, 0), 6);
  close(p[0]);
  close(p[1]);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(a.errors, 1);
  ASSERT_EQ(a.last_err, SL_EPROTO);
  ASSERT_EQ(a.disconnects, 1);
  ASSERT_EQ(a.messages, 1);
  close(raw);
  release(&a);
}

/* --- disconnects and send errors ----------------------------------------- */

TEST(ipc_send_errors) {
  side_t a, b;
  make_pair(SL_IPC_JSON, &a, &b, 64, 0);
  char big[100];
  memset(big, '1', sizeof big);
  ASSERT_EQ(sl_channel_send(a.ch, big, sizeof big, -1), SL_EMSGSIZE);
  ASSERT_EQ(sl_channel_send(a.ch, "[1,\n2]", 6, -1), SL_EINVAL);
  ASSERT_EQ(sl_channel_send(a.ch, "{x}", 3, -1), SL_EINVAL);
  ASSERT_EQ(sl_channel_send(a.ch, "[1]", 3, 9999), SL_EBADF);
  ASSERT_EQ(sl_channel_send(a.ch, "[1]", 3, -1), 1);
  sl_channel_disconnect(a.ch);
  /* At once: no new messages after disconnect(). */
  ASSERT(!sl_channel_connected(a.ch));
  ASSERT_EQ(sl_channel_send(a.ch, "[2]", 3, -1), SL_EIPCCLOSED);
  sl_channel_disconnect(a.ch); /* idempotent */
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(b.messages, 1); /* the queued one was flushed first */
  ASSERT_EQ(sl_channel_send(b.ch, "[3]", 3, -1), SL_EIPCCLOSED);
  ASSERT_EQ(a.disconnects + b.disconnects, 2);
  ASSERT_EQ(a.errors + b.errors, 0);
  release(&a);
  release(&b);
}

static int n_after_disconnect;
static void send_then_disconnect(sl_channel_t* ch, const sl_child_event_t* ev,
                                 void* arg) {
  side_t* s = arg;
  if (s->messages == 2)
    sl_channel_disconnect(ch);
  else if (s->messages > 2)
    n_after_disconnect++;
}

TEST(ipc_disconnect_from_receiver) {
  side_t a, b;
  make_pair(SL_IPC_BINARY, &a, &b, 0, 0);
  sl_channel_on(b.ch, SL_CHANNEL_MESSAGE, send_then_disconnect, &b);
  for (int i = 0; i < 10; i++) sl_channel_send(a.ch, "m", 1, -1);
  ASSERT_EQ(sl_run(), 0);
  /* After its own disconnect(), b gets no more messages. */
  ASSERT_EQ(b.messages, 2);
  ASSERT_EQ(n_after_disconnect, 0);
  ASSERT_EQ(a.disconnects, 1);
  ASSERT_EQ(b.disconnects, 1);
  ASSERT_EQ(sl_channel_send(a.ch, "m", 1, -1), SL_EIPCCLOSED);
  release(&a);
  release(&b);
}

static void release_in_cb(sl_channel_t* ch, const sl_child_event_t* ev,
                          void* arg) {
  sl__channel_release(ch);
  ++*(int*)arg;
}

TEST(ipc_release_inside_callback) {
  side_t a, b;
  int calls = 0;
  make_pair(SL_IPC_JSON, &a, &b, 0, 0);
  sl_channel_on(b.ch, SL_CHANNEL_DISCONNECT, release_in_cb, &calls);
  sl_channel_send(a.ch, "1", 1, -1);
  sl_channel_disconnect(a.ch);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(calls, 1);
  ASSERT_EQ(b.messages, 1);
  release(&a);
}

/* --- review: peers that go, framing split anywhere ------------------------ */

/* The peer exits without reading what we sent it: the kernel reports that
 * as ECONNRESET/POLLERR on our end. That is a disconnect, as in Node, not
 * an error. */
TEST(ipc_peer_closes_with_unread_data) {
  side_t a;
  int raw = make_raw(SL_IPC_JSON, &a, 0);
  ASSERT_EQ(sl_channel_send(a.ch, "{\"unread\":1}", 12, -1), 1);
  spin(5); /* it is written, and sits unread in the peer's socket */
  char buf[64];
  ASSERT_EQ(recv(raw, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT), 13);
  close(raw);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(a.errors, 0);
  ASSERT_EQ(a.disconnects, 1);
  release(&a);
}

/* Node writes several lines per write and the kernel may cut them
 * anywhere: every cut position of a stream of messages (one carrying a
 * NODE_HANDLE descriptor, sent with its first byte) gives the same
 * messages, once each. */
static void split_everywhere(sl_ipc_mode_t mode, const char* wire, size_t n,
                             size_t fd_at, int want_msgs) {
  for (size_t cut = 1; cut < n; cut++) {
    side_t a;
    int raw = make_raw(mode, &a, 0);
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    sl_channel_on(a.ch, SL_CHANNEL_MESSAGE, write_through_fd, &a);
    size_t parts[3] = {0, cut, n};
    for (int k = 0; k < 2; k++) {
      size_t from = parts[k], to = parts[k + 1];
      /* The descriptor goes with the write holding byte fd_at. */
      if (fd_at >= from && fd_at < to && fd_at > from) {
        raw_write(raw, wire + from, fd_at - from);
        spin(3);
        from = fd_at;
      }
      union {
        char b[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
      } u;
      struct iovec iov = {(void*)(wire + from), to - from};
      struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
      if (fd_at >= from && fd_at < to) {
        memset(&u, 0, sizeof u);
        m.msg_control = u.b;
        m.msg_controllen = sizeof u.b;
        struct cmsghdr* c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &p[1], sizeof(int));
      }
      ASSERT_EQ(sendmsg(raw, &m, 0), (ssize_t)(to - from));
      spin(3);
    }
    close(p[1]);
    shutdown(raw, SHUT_WR);
    ASSERT_EQ(sl_run(), 0);
    ASSERT_EQ(a.messages, want_msgs);
    ASSERT_EQ(a.errors, 0);
    ASSERT_EQ(a.sum, 1); /* the descriptor reached its message */
    char buf[16];
    ASSERT_EQ(read(p[0], buf, sizeof buf), 7);
    close(p[0]);
    close(raw);
    release(&a);
  }
}

TEST(ipc_json_split_at_every_byte) {
  const char head[] = "{\"a\":[1,-0,1e5,1E-5,\"\\ud83d\\ude00\"]}\n\"x\"\n";
  const char handle[] =
      "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"k\":2}}\n";
  const char tail[] = "{\"cmd\":\"NODE_HANDLE_ACK\"}\n3\n";
  char wire[512];
  size_t n = 0;
  memcpy(wire + n, head, sizeof head - 1), n += sizeof head - 1;
  size_t fd_at = n;
  memcpy(wire + n, handle, sizeof handle - 1), n += sizeof handle - 1;
  memcpy(wire + n, tail, sizeof tail - 1), n += sizeof tail - 1;
  split_everywhere(SL_IPC_JSON, wire, n, fd_at, 4);
}

TEST(ipc_binary_split_at_every_byte) {
  char wire[64];
  size_t n = 0;
  memcpy(wire + n, "\0\0\0\2ab", 6), n += 6;
  memcpy(wire + n, "\0\0\0\0", 4), n += 4;
  size_t fd_at = n;
  memcpy(wire + n, "\x80\0\0\3fdm", 7), n += 7;
  memcpy(wire + n, "\0\0\0\5tail!", 9), n += 9;
  split_everywhere(SL_IPC_BINARY, wire, n, fd_at, 4);
}

/* Messages of exactly max_message bytes pass both ways, in both modes, with
 * or without a descriptor, including a limit above the initial receive
 * buffer; one byte more is refused by send(). */
static void exactly_at_limit(sl_ipc_mode_t mode, size_t max) {
  side_t a, b;
  make_pair(mode, &a, &b, max, 0);
  sl_channel_on(b.ch, SL_CHANNEL_MESSAGE, write_through_fd, &b);
  char* m = malloc(max + 1);
  memset(m, 'x', max + 1);
  m[0] = '"';
  m[max - 1] = '"';
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  ASSERT_GE(sl_channel_send(a.ch, m, max, -1), 0);
  ASSERT_GE(sl_channel_send(a.ch, m, max, p[1]), 0);
  ASSERT_GE(sl_channel_send(a.ch, "7", 1, -1), 0);
  m[max - 1] = 'x';
  m[max] = '"';
  ASSERT_EQ(sl_channel_send(a.ch, m, max + 1, -1), SL_EMSGSIZE);
  close(p[1]);
  sl_channel_disconnect(a.ch);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(b.errors, 0);
  ASSERT_EQ(b.messages, 3);
  ASSERT_EQ(b.bytes, 2 * max + 1);
  ASSERT_EQ(b.sum, 1);
  ASSERT_STR_EQ(b.last, "7");
  char buf[16];
  ASSERT_EQ(read(p[0], buf, sizeof buf), 7);
  close(p[0]);
  free(m);
  release(&a);
  release(&b);
}

TEST(ipc_json_exactly_max_message) {
  exactly_at_limit(SL_IPC_JSON, 1000);
  exactly_at_limit(SL_IPC_JSON, 300000);
}

TEST(ipc_binary_exactly_max_message) {
  exactly_at_limit(SL_IPC_BINARY, 1000);
  exactly_at_limit(SL_IPC_BINARY, 300000);
}

/* One byte over the limit on the wire closes the channel with EMSGSIZE,
 * after the message before it; a limit above the initial buffer too. */
TEST(ipc_json_one_over_max_from_peer) {
  size_t max = 300000;
  char* in = malloc(max + 16);
  memcpy(in, "\"hi\"\n", 5);
  memset(in + 5, 'x', max + 1);
  in[5] = '"';
  in[5 + max] = '"';
  in[5 + max + 1] = '\n';
  side_t a;
  int raw = make_raw(SL_IPC_JSON, &a, max);
  size_t n = 5 + max + 2, off = 0;
  while (off < n) {
    ssize_t w = send(raw, in + off, n - off, MSG_DONTWAIT);
    if (w > 0) off += (size_t)w;
    spin(2);
    if (a.errors) break;
  }
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(a.messages, 1);
  ASSERT_EQ(a.errors, 1);
  ASSERT_EQ(a.last_err, SL_EMSGSIZE);
  ASSERT_EQ(a.disconnects, 1);
  close(raw);
  free(in);
  release(&a);
}

/* A NODE_HANDLE without "msg" (a peer's bug) still delivers, as null. */
TEST(ipc_node_handle_without_msg) {
  side_t a;
  int raw = make_raw(SL_IPC_JSON, &a, 0);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  sl_channel_on(a.ch, SL_CHANNEL_MESSAGE, write_through_fd, &a);
  const char line[] = "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\"}\n";
  union {
    char b[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct iovec iov = {(void*)line, sizeof line - 1};
  struct msghdr m = {.msg_iov = &iov,
                     .msg_iovlen = 1,
                     .msg_control = u.b,
                     .msg_controllen = sizeof u.b};
  struct cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &p[1], sizeof(int));
  ASSERT_EQ(sendmsg(raw, &m, 0), (ssize_t)(sizeof line - 1));
  close(p[1]);
  char buf[64];
  int fd;
  raw_read(raw, buf, sizeof buf, &fd);
  ASSERT_STR_EQ(buf, "{\"cmd\":\"NODE_HANDLE_ACK\"}\n");
  close(raw);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(a.messages, 1);
  ASSERT_STR_EQ(a.last, "null");
  ASSERT_EQ(a.sum, 1);
  ASSERT_EQ(read(p[0], buf, sizeof buf), 7);
  close(p[0]);
  release(&a);
}
