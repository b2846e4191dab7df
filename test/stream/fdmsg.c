/* stream/fdmsg.c, the one sendmsg/recvmsg with descriptors under the IPC
 * channel and the cluster's control socket, on a SOCK_SEQPACKET pair: a
 * descriptor arrives close-on-exec; an empty socket is SL_EAGAIN; a
 * message the kernel cut short (a datagram past the buffer, which only the
 * control socket's copy refused, or more descriptors than the control
 * buffer holds, which neither copy noticed) is refused whole with every
 * descriptor that came closed; descriptors past what the caller takes are
 * closed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#include "stream/stream_int.h"

static int open_fds(void) {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  for (struct dirent* e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* Sends `len` bytes with `n` descriptors, all copies of `fd`, in one
 * sendmsg: a peer that sends more than sl__fdmsg_send ever does. */
static void send_many(int sock, const char* data, size_t len, int fd, int n) {
  union {
    char buf[CMSG_SPACE(sizeof(int) * 32)];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct iovec iov = {.iov_base = (void*)data, .iov_len = len};
  struct msghdr m = {.msg_iov = &iov,
                     .msg_iovlen = 1,
                     .msg_control = u.buf,
                     .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n)};
  struct cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
  for (int i = 0; i < n; i++)
    memcpy(CMSG_DATA(c) + (size_t)i * sizeof(int), &fd, sizeof fd);
  ASSERT_EQ(sendmsg(sock, &m, 0), (ssize_t)len);
}

/* A SOCK_SEQPACKET pair and a pipe whose ends travel over it. */
typedef struct {
  int sv[2], p[2];
  int before; /* descriptors open once they were made */
} fx_t;

static void fx_open(fx_t* f) {
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, f->sv), 0);
  ASSERT_EQ(pipe(f->p), 0);
  f->before = open_fds();
}

static void fx_close(fx_t* f) {
  close(f->p[0]);
  close(f->p[1]);
  close(f->sv[0]);
  close(f->sv[1]);
}

TEST(fdmsg_passes_a_descriptor_close_on_exec) {
  int sv[2], p[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
  ASSERT_EQ(pipe(p), 0);
  struct iovec out = {.iov_base = "hi", .iov_len = 2};
  ASSERT_EQ(sl__fdmsg_send(sv[0], &out, 1, p[1]), 2);
  char buf[8];
  struct iovec in = {.iov_base = buf, .iov_len = sizeof buf};
  int fd = -1;
  size_t nfds = 9;
  ASSERT_EQ(sl__fdmsg_recv(sv[1], &in, 1, &fd, 1, &nfds), 2);
  ASSERT_EQ(nfds, 1);
  ASSERT_MEM_EQ(buf, "hi", 2);
  ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  struct stat a, b;
  ASSERT_EQ(fstat(fd, &a), 0);
  ASSERT_EQ(fstat(p[1], &b), 0);
  ASSERT_EQ(a.st_ino, b.st_ino); /* the same pipe */
  /* Nothing waits now: SL_EAGAIN, not 0 (which is the peer's close). */
  ASSERT_EQ(sl__fdmsg_recv(sv[1], &in, 1, &fd, 1, &nfds), SL_EAGAIN);
  ASSERT_EQ(nfds, 0);
  close(fd);
  close(p[0]);
  close(p[1]);
  close(sv[0]);
  ASSERT_EQ(sl__fdmsg_recv(sv[1], &in, 1, &fd, 1, &nfds), 0);
  close(sv[1]);
}

TEST(fdmsg_truncated_datagram_is_refused_and_its_descriptor_closed) {
  fx_t f;
  fx_open(&f);
  char big[100] = {0};
  struct iovec out = {.iov_base = big, .iov_len = sizeof big};
  ASSERT_EQ(sl__fdmsg_send(f.sv[0], &out, 1, f.p[0]), (ssize_t)sizeof big);
  char small[10];
  struct iovec in = {.iov_base = small, .iov_len = sizeof small};
  int fd = -1;
  size_t nfds = 9;
  ASSERT_EQ(sl__fdmsg_recv(f.sv[1], &in, 1, &fd, 1, &nfds), SL_EPROTO);
  ASSERT_EQ(nfds, 0);
  ASSERT_EQ(open_fds(), f.before);
  fx_close(&f);
}

TEST(fdmsg_too_many_descriptors_are_refused_not_lost) {
  fx_t f;
  fx_open(&f);
  send_many(f.sv[0], "x", 1, f.p[0], SL__FDMSG_MAX_FDS + 1);
  char buf[8];
  struct iovec in = {.iov_base = buf, .iov_len = sizeof buf};
  int fds[SL__FDMSG_MAX_FDS];
  size_t nfds = 99;
  ASSERT_EQ(sl__fdmsg_recv(f.sv[1], &in, 1, fds, SL__FDMSG_MAX_FDS, &nfds),
            SL_EPROTO);
  ASSERT_EQ(nfds, 0);
  ASSERT_EQ(open_fds(), f.before);
  fx_close(&f);
}

TEST(fdmsg_descriptors_past_the_callers_room_are_closed) {
  fx_t f;
  fx_open(&f);
  send_many(f.sv[0], "x", 1, f.p[0], 3);
  char buf[8];
  struct iovec in = {.iov_base = buf, .iov_len = sizeof buf};
  int fd = -1;
  size_t nfds = 0;
  ASSERT_EQ(sl__fdmsg_recv(f.sv[1], &in, 1, &fd, 1, &nfds), 1);
  ASSERT_EQ(nfds, 1);
  ASSERT_EQ(open_fds(), f.before + 1); /* the one kept */
  close(fd);
  fx_close(&f);
}
