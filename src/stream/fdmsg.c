/* Bytes with descriptors over a UNIX socket: the one sendmsg/recvmsg pair
 * of the IPC channel (process/ipc.c) and the cluster's control socket
 * (cluster/worker_net.c, primary_net.c). Both ends are non-blocking and
 * retry EINTR; the control buffer is aligned for struct cmsghdr; received
 * descriptors are close-on-exec from the start (MSG_CMSG_CLOEXEC, no
 * window for a concurrent exec); a message the kernel cut short (data
 * past the buffer of a datagram, or descriptors past the control buffer)
 * is refused whole, with every descriptor that did arrive closed, rather
 * than delivered without what it carried. */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <unistd.h>

#include "stream/stream_int.h"

typedef union {
  char buf[CMSG_SPACE(sizeof(int) * SL__FDMSG_MAX_FDS)];
  struct cmsghdr align;
} cbuf_t;

ssize_t sl__fdmsg_send(int sock, const struct iovec* iov, size_t n, int fd) {
  cbuf_t u;
  struct msghdr m = {.msg_iov = (struct iovec*)iov, .msg_iovlen = n};
  if (fd >= 0) {
    memset(&u, 0, sizeof u);
    m.msg_control = u.buf;
    m.msg_controllen = CMSG_SPACE(sizeof(int));
    struct cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t r;
  do r = sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

/* Collects the descriptors of `m`: the first `max` into fds, the rest
 * closed. Returns how many were kept. */
static size_t take_fds(struct msghdr* m, int* fds, size_t max) {
  size_t kept = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (kept < max)
        fds[kept++] = fd;
      else
        close(fd);
    }
  }
  return kept;
}

ssize_t sl__fdmsg_recv(int sock, struct iovec* iov, size_t n, int* fds,
                       size_t max_fds, size_t* nfds) {
  cbuf_t u;
  struct msghdr m = {.msg_iov = iov,
                     .msg_iovlen = n,
                     .msg_control = u.buf,
                     .msg_controllen = sizeof u.buf};
  *nfds = 0;
  ssize_t r;
  do r = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r < 0) return -errno;
  size_t kept = m.msg_controllen > 0 ? take_fds(&m, fds, max_fds) : 0;
  if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    for (size_t i = 0; i < kept; i++) close(fds[i]);
    return SL_EPROTO;
  }
  *nfds = kept;
  return r;
}
