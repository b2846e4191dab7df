/* stream/listen.c's hook table, with a fake in place of the cluster: a
 * hooked listen gets its port and its connections from the hooks (none of
 * its own socket), a handed-over connection reaches sl_tcp_listen's
 * callback, close waits for the hooks' acknowledgement and passes
 * bounce_late, `exclusive` and SL__LISTEN_LOCAL bind a socket of their
 * own, and without hooks nothing is asked. */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

#include "stream/listen_int.h"

typedef struct {
  sl__listen_t* l;
  int opens, closes, bounce_late, local;
  void (*cb)(void* arg);
  void* cb_arg;
} fake_t;

static fake_t fake;

static int fake_open(sl__listen_t* l, const char* host, int port, int backlog,
                     void** member, int* port_out) {
  (void)backlog;
  fake.opens++;
  ASSERT_STR_EQ(host, "127.0.0.1");
  ASSERT_EQ(port, 0);
  if (fake.local) return SL__LISTEN_LOCAL;
  fake.l = l;
  *member = &fake;
  *port_out = 4242;
  return SL__LISTEN_HANDOFF;
}

static void fake_close(void* member, int bounce_late, void (*cb)(void* arg),
                       void* arg) {
  ASSERT(member == &fake);
  fake.closes++;
  fake.bounce_late = bounce_late;
  fake.cb = cb;
  fake.cb_arg = arg;
}

static const sl__listen_hooks_t fake_hooks = {.open = fake_open,
                                              .close = fake_close};

typedef struct {
  int conns, closed;
  char peer[64];
} seen_t;

static void on_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  (void)srv;
  seen_t* s = arg;
  s->conns++;
  snprintf(s->peer, sizeof s->peer, "%s", sl_tcp_peer(conn));
  sl_stream_destroy(conn, 0);
}

static void on_closed(void* arg) { ((seen_t*)arg)->closed++; }

static void ack_close(sl_timer_t* t, void* arg) {
  (void)t;
  seen_t* s = arg;
  ASSERT_EQ(s->closed, 0); /* waits for the hooks' acknowledgement */
  fake.cb(fake.cb_arg);
}

/* A connected TCP socket's server end, made by hand: what a primary would
 * hand over. *client gets the other end. */
static int server_end(int* client) {
  int lfd = sl__tcp_bind("127.0.0.1", 0, 0);
  ASSERT_GE(lfd, 0);
  ASSERT_EQ(listen(lfd, 1), 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons(sl__tcp_local_port(lfd)),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(connect(*client, (struct sockaddr*)&a, sizeof a), 0);
  int fd = -1;
  for (int i = 0; i < 1000 && fd < 0; i++) {
    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) usleep(1000);
  }
  ASSERT_GE(fd, 0);
  close(lfd);
  return fd;
}

TEST(listen_hooks_hand_connections_and_hold_the_close) {
  memset(&fake, 0, sizeof fake);
  sl__listen_set_hooks(&fake_hooks);
  seen_t s = {0};
  sl_tcp_server_t* srv = NULL;
  ASSERT_EQ(sl_tcp_listen("localhost", 0, NULL, on_conn, &s, &srv), 0);
  ASSERT_EQ(fake.opens, 1);
  ASSERT_EQ(sl_tcp_server_port(srv), 4242);
  int client;
  sl__listen_adopt_fd(fake.l, server_end(&client));
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(s.conns, 1);
  ASSERT(strncmp(s.peer, "127.0.0.1:", 10) == 0);
  sl_tcp_server_close(srv, on_closed, &s);
  ASSERT_EQ(fake.closes, 1);
  ASSERT_EQ(fake.bounce_late, 1); /* a TCP server's late handoffs go back */
  sl_timer_start(20, 0, ack_close, &s);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(s.closed, 1);
  close(client);
  sl__listen_set_hooks(NULL);
}

TEST(listen_hooks_skipped_when_exclusive_or_local) {
  memset(&fake, 0, sizeof fake);
  sl__listen_set_hooks(&fake_hooks);
  seen_t s = {0};
  sl_tcp_server_t* srv = NULL;
  sl_tcp_server_opts_t o = {.exclusive = 1};
  ASSERT_EQ(sl_tcp_listen("127.0.0.1", 0, &o, on_conn, &s, &srv), 0);
  ASSERT_EQ(fake.opens, 0); /* never asked */
  ASSERT_NE(sl_tcp_server_port(srv), 4242);
  sl_tcp_server_close(srv, on_closed, &s);
  fake.local = 1; /* the hook says: not mine */
  ASSERT_EQ(sl_tcp_listen("127.0.0.1", 0, NULL, on_conn, &s, &srv), 0);
  ASSERT_EQ(fake.opens, 1);
  ASSERT_GT(sl_tcp_server_port(srv), 0);
  ASSERT_NE(sl_tcp_server_port(srv), 4242);
  sl_tcp_server_close(srv, on_closed, &s);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(s.closed, 2);
  ASSERT_EQ(fake.closes, 0); /* no membership to leave */
  sl__listen_set_hooks(NULL);
}
