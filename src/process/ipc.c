/* The IPC channel: messages over a connected UNIX stream socket, driven by a
 * uv_poll_t so that reads and writes are recvmsg/sendmsg with SCM_RIGHTS
 * (stream/fdmsg.c, shared with the cluster's control socket) and the
 * framing is ours. Two wire formats:
 *  - json (Node's): one JSON value per line. A descriptor travels as Node
 *    sends it, {"cmd":"NODE_HANDLE","type":...,"msg":<message>} written by a
 *    sendmsg that carries the fd; the receiver answers NODE_HANDLE_ACK (or
 *    NODE_HANDLE_NACK when the fd was lost) and the sender holds later
 *    messages until then. Other "NODE_*" messages are internal and never
 *    delivered to the user.
 *  - binary (sluice to sluice): a 4-byte big-endian length, whose top bit
 *    says "a descriptor came with this frame", then the payload.
 * Descriptors are matched to messages in arrival order: the kernel hands an
 * fd over with the read that holds the first byte of the message it was
 * sent with, so by the time a message is complete its fd is queued. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#include "process/process_int.h"

#define RBUF_MIN           (128 * 1024)
#define SEND_IOV_MAX       256
#define MAX_PENDING_FDS    64
#define MAX_HANDLE_RETRIES 3
#define FRAME_FD_FLAG      0x80000000u
/* json: a NODE_HANDLE line wraps a message of up to max_message bytes in
 * {"cmd":"NODE_HANDLE","type":...,"msg":...} (and Node may add a key or
 * two): lines may be this much longer; the message itself is checked. */
#define HANDLE_SLACK 256

enum { CH_OPEN = 0, CH_CLOSING, CH_CLOSED };

typedef struct send_item_s {
  sl__queue_t node;
  size_t len;  /* wire bytes */
  size_t off;  /* bytes already written */
  int fd;      /* our duplicate, sent with the first byte; -1: none */
  int control; /* json: ACK/NACK, which may pass a held queue */
  int retries;
  char data[];
} send_item_t;

struct sl_channel_s {
  uv_poll_t poll;
  int fd;
  sl_ipc_mode_t mode;
  int state;
  int poll_events;
  int write_blocked; /* the last sendmsg hit EAGAIN */
  size_t max_message;
  size_t send_hwm;
  /* Send side. */
  sl__queue_t sendq;
  size_t queued; /* wire bytes not yet written */
  int need_drain;
  send_item_t* unacked; /* json: the NODE_HANDLE message awaiting its ACK */
  /* Receive side. */
  sl_buf_t rb;  /* bytes read, not yet parsed */
  size_t rscan; /* JSON: rb is searched for '\n' from here */
  char* big;    /* binary: a frame too large for rbuf */
  size_t big_len, big_have;
  int big_fd;
  int fds[MAX_PENDING_FDS];
  size_t fd_head, nfds;
  /* Events. */
  sl__tick_t tick;
  int flush_pending, ev_drain, ev_error, disconnect_emitted;
  int err;
  char* errmsg;
  sl__emitter_t events;
  int busy; /* inside one of our loop callbacks */
  sl__channel_owner_cb owner_cb;
  void* owner;
  int released, handle_closed;
};

static void ch_tick(sl__tick_t* t);
static void flush(sl_channel_t* ch);
static void on_poll(uv_poll_t* h, int status, int events);

/* --- lifetime ------------------------------------------------------------ */

static void maybe_free(sl_channel_t* ch) {
  if (!ch->released || !ch->handle_closed || ch->busy != 0 ||
      ch->tick.pending || !ch->disconnect_emitted)
    return;
  sl_buf_free(&ch->rb);
  sl__emitter_clear(&ch->events);
  sl__free(ch->errmsg);
  sl__free(ch);
}

static void on_handle_closed(uv_handle_t* h) {
  sl_channel_t* ch = h->data;
  ch->handle_closed = 1;
  maybe_free(ch);
}

static void free_item(send_item_t* it) {
  if (it->fd >= 0) close(it->fd);
  sl__free(it);
}

/* Closes the socket now; `err` != 0 reports an ERROR first. DISCONNECT
 * follows from the loop either way. */
static void close_channel(sl_channel_t* ch, int err, const char* ctx) {
  if (ch->state == CH_CLOSED) return;
  ch->state = CH_CLOSED;
  uv_close((uv_handle_t*)&ch->poll, on_handle_closed);
  close(ch->fd);
  ch->fd = -1;
  while (!sl__queue_empty(&ch->sendq)) {
    sl__queue_t* q = ch->sendq.next;
    sl__queue_remove(q);
    free_item(sl__container_of(q, send_item_t, node));
  }
  ch->queued = 0;
  if (ch->unacked != NULL) free_item(ch->unacked);
  ch->unacked = NULL;
  for (; ch->nfds > 0; ch->nfds--, ch->fd_head++)
    close(ch->fds[ch->fd_head % MAX_PENDING_FDS]);
  sl__free(ch->big);
  ch->big = NULL;
  if (err != 0 && !ch->ev_error) {
    ch->ev_error = 1;
    ch->err = err;
    ch->errmsg = sl__errmsg(err, "%s", ctx);
  }
  sl__tick_schedule(&ch->tick);
}

void sl__channel_close(sl_channel_t* ch) { close_channel(ch, 0, NULL); }

/* --- events -------------------------------------------------------------- */

static void invoke(sl__fn cb, void* arg, void* owner, const void* ev) {
  ((sl_channel_cb)cb)(owner, ev, arg);
}

static void emit(sl_channel_t* ch, const sl_child_event_t* ev) {
  ch->busy++;
  sl__emitter_emit(&ch->events, ev->type, invoke, ch, ev);
  if (ch->owner_cb != NULL) ch->owner_cb(ch->owner, ev);
  ch->busy--;
}

int sl__channel_has_listener(const sl_channel_t* ch,
                             sl_child_event_type_t type) {
  return sl__emitter_has(&ch->events, type);
}

static int has_listener(const sl_channel_t* ch, int type) {
  return ch->owner_cb != NULL || sl__emitter_has(&ch->events, type);
}

/* Deferred work: flush the send queue, then the events in Node's order:
 * error, drain, disconnect. */
static void ch_tick(sl__tick_t* t) {
  sl_channel_t* ch = sl__container_of(t, sl_channel_t, tick);
  ch->busy++;
  if (ch->flush_pending && ch->state != CH_CLOSED) {
    ch->flush_pending = 0;
    flush(ch);
  }
  if (ch->ev_error == 1) {
    ch->ev_error = 2;
    sl_child_event_t ev = {
        .type = SL_CHILD_ERROR, .err = ch->err, .message = ch->errmsg};
    emit(ch, &ev);
  }
  if (ch->ev_drain && ch->state == CH_OPEN) {
    ch->ev_drain = 0;
    sl_child_event_t ev = {.type = SL_CHILD_DRAIN};
    emit(ch, &ev);
  }
  if (ch->state == CH_CLOSED && !ch->disconnect_emitted) {
    ch->disconnect_emitted = 1;
    sl_child_event_t ev = {.type = SL_CHILD_DISCONNECT};
    emit(ch, &ev);
  }
  ch->busy--;
  maybe_free(ch);
}

int sl_channel_on(sl_channel_t* ch, sl_channel_event_type_t type,
                  sl_channel_cb cb, void* arg) {
  SL_ASSERT(cb != NULL && type < SL__CHILD_EV_COUNT);
  return sl__emitter_add(&ch->events, SL__EV_BIT(type), (sl__fn)cb, arg, 0);
}

int sl_channel_off(sl_channel_t* ch, sl_channel_event_type_t type,
                   sl_channel_cb cb, void* arg) {
  return sl__emitter_off(&ch->events, SL__EV_BIT(type), (sl__fn)cb, arg);
}

/* --- sending ------------------------------------------------------------- */

static void update_poll(sl_channel_t* ch) {
  if (ch->state == CH_CLOSED) return;
  int want = UV_READABLE | (ch->write_blocked ? UV_WRITABLE : 0);
  if (want == ch->poll_events) return;
  ch->poll_events = want;
  uv_poll_start(&ch->poll, want, on_poll);
}

/* The items written by one sendmsg: the head and what follows it, up to an
 * item carrying a descriptor (which must start its own sendmsg). While a
 * NODE_HANDLE awaits its ACK only control items (and a partly written head)
 * may go. */
static size_t gather(sl_channel_t* ch, struct iovec* iov, int* fd) {
  size_t n = 0;
  *fd = -1;
  for (sl__queue_t* q = ch->sendq.next; q != &ch->sendq && n < SEND_IOV_MAX;
       q = q->next) {
    send_item_t* it = sl__container_of(q, send_item_t, node);
    if (ch->unacked != NULL && !it->control && it->off == 0) break;
    if (it->fd >= 0 && it->off == 0) {
      if (n > 0) break;
      *fd = it->fd;
    }
    iov[n].iov_base = it->data + it->off;
    iov[n].iov_len = it->len - it->off;
    n++;
    if (*fd >= 0) break;
  }
  return n;
}

/* Accounts `n` written bytes against the head of the queue. A finished
 * json NODE_HANDLE message is kept (with its fd) until the peer ACKs. */
static void consume(sl_channel_t* ch, size_t n) {
  while (n > 0) {
    send_item_t* it = sl__container_of(ch->sendq.next, send_item_t, node);
    size_t k = it->len - it->off < n ? it->len - it->off : n;
    it->off += k;
    n -= k;
    ch->queued -= k;
    if (it->off < it->len) break;
    sl__queue_remove(&it->node);
    if (it->fd >= 0 && ch->mode == SL_IPC_JSON && !it->control) {
      SL_ASSERT(ch->unacked == NULL);
      ch->unacked = it;
    } else {
      free_item(it);
    }
  }
}

static void flush(sl_channel_t* ch) {
  struct iovec iov[SEND_IOV_MAX];
  ch->write_blocked = 0;
  while (ch->state != CH_CLOSED) {
    int fd;
    size_t n = gather(ch, iov, &fd);
    if (n == 0) break;
    ssize_t r = sl__fdmsg_send(ch->fd, iov, n, fd);
    if (r == SL_EAGAIN) {
      ch->write_blocked = 1;
      break;
    }
    if (r < 0) {
      /* EPIPE, ECONNRESET: the peer has gone; that is a disconnect. */
      close_channel(ch, 0, NULL);
      return;
    }
    consume(ch, (size_t)r);
  }
  /* Drain once the queue has emptied, as streams do: announcing it as soon
   * as it dips below the mark would trade one message per wake-up. */
  if (ch->need_drain && ch->queued == 0) {
    ch->need_drain = 0;
    ch->ev_drain = 1;
    sl__tick_schedule(&ch->tick);
  }
  if (ch->state == CH_CLOSING && sl__queue_empty(&ch->sendq)) {
    close_channel(ch, 0, NULL);
    return;
  }
  update_poll(ch);
}

static void enqueue(sl_channel_t* ch, send_item_t* it, int front) {
  if (front) {
    /* After a partly written head, never inside it. */
    sl__queue_t* at = &ch->sendq;
    if (!sl__queue_empty(&ch->sendq)) {
      send_item_t* h = sl__container_of(ch->sendq.next, send_item_t, node);
      if (h->off > 0) at = &h->node;
    }
    sl__queue_insert_head(at, &it->node);
  } else {
    sl__queue_insert_tail(&ch->sendq, &it->node);
  }
  ch->queued += it->len - it->off;
  if (!ch->write_blocked) {
    ch->flush_pending = 1;
    sl__tick_schedule(&ch->tick);
  }
}

static send_item_t* item_new(size_t len) {
  send_item_t* it = sl__malloc(sizeof *it + len);
  if (it == NULL) return NULL;
  memset(it, 0, sizeof *it);
  it->len = len;
  it->fd = -1;
  return it;
}

static void send_control(sl_channel_t* ch, const char* cmd) {
  sl_buf_t line = {0};
  send_item_t* it = NULL;
  if (sl_buf_json(&line, "{\"cmd\":%s}\n", cmd) == 0) it = item_new(line.len);
  if (it != NULL) {
    memcpy(it->data, line.data, line.len);
    it->control = 1;
    enqueue(ch, it, 1);
  }
  sl_buf_free(&line);
}

/* Node's handle type for a descriptor, so a Node receiver rebuilds the
 * right object: a listening socket, a connected socket, or a raw handle. */
static const char* handle_type(int fd) {
  int type, listening;
  socklen_t l = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0) return "net.Native";
  if (type != SOCK_STREAM) return "dgram.Native";
  l = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) == 0 &&
      listening)
    return "net.Server";
  return "net.Socket";
}

static send_item_t* build_item(sl_channel_t* ch, const char* data, size_t len,
                               int fd) {
  send_item_t* it;
  if (ch->mode == SL_IPC_BINARY) {
    if ((it = item_new(len + 4)) == NULL) return NULL;
    uint32_t h = (uint32_t)len | (fd >= 0 ? FRAME_FD_FLAG : 0);
    unsigned char* p = (unsigned char*)it->data;
    p[0] = (unsigned char)(h >> 24);
    p[1] = (unsigned char)(h >> 16);
    p[2] = (unsigned char)(h >> 8);
    p[3] = (unsigned char)h;
    memcpy(it->data + 4, data, len);
  } else if (fd < 0) {
    if ((it = item_new(len + 1)) == NULL) return NULL;
    memcpy(it->data, data, len);
    it->data[len] = '\n';
  } else {
    /* Node's envelope for a message that carries a descriptor. */
    sl_buf_t head = {0};
    it = NULL;
    if (sl_buf_json(&head, "{\"cmd\":\"NODE_HANDLE\",\"type\":%s,\"msg\":",
                    handle_type(fd)) == 0 &&
        (it = item_new(head.len + len + 2)) != NULL) {
      memcpy(it->data, head.data, head.len);
      memcpy(it->data + head.len, data, len);
      memcpy(it->data + head.len + len, "}\n", 2);
    }
    sl_buf_free(&head);
  }
  return it;
}

int sl_channel_send(sl_channel_t* ch, const char* data, size_t len, int fd) {
  if (ch->state != CH_OPEN) return SL_EIPCCLOSED;
  if (len > ch->max_message) return SL_EMSGSIZE;
  if (ch->mode == SL_IPC_JSON && sl__json_validate(data, len) != 0)
    return SL_EINVAL;
  int dup_fd = -1;
  if (fd >= 0 && (dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) return -errno;
  send_item_t* it = build_item(ch, data, len, dup_fd);
  if (it == NULL) {
    if (dup_fd >= 0) close(dup_fd);
    return SL_ENOMEM;
  }
  it->fd = dup_fd;
  enqueue(ch, it, 0);
  if (ch->queued >= ch->send_hwm) {
    ch->need_drain = 1;
    return 0;
  }
  return 1;
}

void sl_channel_disconnect(sl_channel_t* ch) {
  if (ch->state != CH_OPEN) return;
  ch->state = CH_CLOSING;
  ch->flush_pending = 1;
  sl__tick_schedule(&ch->tick);
}

int sl_channel_connected(const sl_channel_t* ch) {
  return ch != NULL && ch->state == CH_OPEN;
}

/* json: the peer acknowledged our NODE_HANDLE (ack) or lost its fd. */
static void on_handle_reply(sl_channel_t* ch, int ack) {
  send_item_t* it = ch->unacked;
  if (it == NULL) return;
  ch->unacked = NULL;
  if (!ack && it->retries < MAX_HANDLE_RETRIES) {
    it->retries++;
    it->off = 0;
    enqueue(ch, it, 1);
    return;
  }
  free_item(it);
  ch->flush_pending = 1;
  sl__tick_schedule(&ch->tick);
}

/* --- receiving ----------------------------------------------------------- */

static int pop_fd(sl_channel_t* ch) {
  if (ch->nfds == 0) return -1;
  int fd = ch->fds[ch->fd_head % MAX_PENDING_FDS];
  ch->fd_head++;
  ch->nfds--;
  return fd;
}

static void deliver(sl_channel_t* ch, const char* data, size_t len, int fd) {
  if (ch->state != CH_OPEN) {
    if (fd >= 0) close(fd);
    return;
  }
  if (fd >= 0 && !has_listener(ch, SL_CHILD_MESSAGE)) {
    close(fd);
    fd = -1;
  }
  sl_message_t m = {data, len, fd};
  sl_child_event_t ev = {.type = SL_CHILD_MESSAGE, .msg = &m};
  emit(ch, &ev);
}

/* A json message whose "cmd" starts with NODE_: Node's internal traffic. */
static int internal_cmd(const char* line, size_t len, const char** cmd,
                        size_t* cmd_len) {
  if (memmem(line, len, "\"NODE_", 6) == NULL) return 0;
  if (sl__json_find(line, len, "cmd", cmd, cmd_len) != 0) return 0;
  return *cmd_len > 7 && memcmp(*cmd, "\"NODE_", 6) == 0;
}

static void on_line(sl_channel_t* ch, char* line, size_t len) {
  if (sl__json_validate(line, len) != 0) {
    close_channel(ch, SL_EINVAL, "invalid JSON message on IPC channel");
    return;
  }
  const char* cmd;
  size_t cn;
  int internal = internal_cmd(line, len, &cmd, &cn);
  int handle = internal && cn == 13 && memcmp(cmd, "\"NODE_HANDLE\"", 13) == 0;
  char null_msg[] = "null"; /* written below, as the line is */
  const char* msg = line;
  size_t mn = len;
  if (handle && sl__json_find(line, len, "msg", &msg, &mn) != 0) {
    msg = null_msg;
    mn = 4;
  }
  if (mn > ch->max_message) {
    close_channel(ch, SL_EMSGSIZE, "IPC message over max_message");
    return;
  }
  if (!internal) {
    deliver(ch, line, len, -1);
    return;
  }
  if (handle) {
    int fd = pop_fd(ch);
    if (fd < 0) {
      send_control(ch, "NODE_HANDLE_NACK");
      return;
    }
    send_control(ch, "NODE_HANDLE_ACK");
    /* The message text is a slice of the line: terminate it in place. */
    char saved = msg[mn];
    ((char*)msg)[mn] = '\0';
    deliver(ch, msg, mn, fd);
    ((char*)msg)[mn] = saved;
  } else if (cn == 17 && memcmp(cmd, "\"NODE_HANDLE_ACK\"", 17) == 0) {
    on_handle_reply(ch, 1);
  } else if (cn == 18 && memcmp(cmd, "\"NODE_HANDLE_NACK\"", 18) == 0) {
    on_handle_reply(ch, 0);
  }
}

/* Grows the read buffer (doubling) for a message longer than it, up to the
 * longest message allowed; 0 or an error code. */
static int grow_rb(sl_channel_t* ch) {
  size_t limit =
      ch->max_message + 1 + (ch->mode == SL_IPC_JSON ? HANDLE_SLACK : 0);
  if (ch->rb.cap >= limit) return SL_EMSGSIZE;
  size_t want = ch->rb.cap * 2 < limit ? ch->rb.cap * 2 : limit;
  return sl_buf_reserve(&ch->rb, want - ch->rb.len);
}

static void parse_json(sl_channel_t* ch) {
  size_t start = 0;
  char* nl;
  while (ch->state != CH_CLOSED &&
         (nl = memchr(ch->rb.data + ch->rscan, '\n', ch->rb.len - ch->rscan))) {
    size_t len = (size_t)(nl - ch->rb.data) - start;
    *nl = '\0';
    if (len > ch->max_message + HANDLE_SLACK) {
      close_channel(ch, SL_EMSGSIZE, "IPC message over max_message");
      return;
    }
    on_line(ch, ch->rb.data + start, len);
    start += len + 1;
    ch->rscan = start;
  }
  if (ch->state == CH_CLOSED) return;
  if (ch->rb.len - start > ch->max_message + HANDLE_SLACK) {
    close_channel(ch, SL_EMSGSIZE, "IPC message over max_message");
    return;
  }
  sl_buf_consume(&ch->rb, start);
  ch->rscan = ch->rb.len;
}

static uint32_t be32(const char* p) {
  const unsigned char* u = (const unsigned char*)p;
  return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 |
         u[3];
}

/* A whole frame in rbuf is delivered in place (data[len] is made a NUL for
 * the callback and restored); a frame larger than the buffer gets one
 * allocation of its exact size, which the following reads fill directly. */
static void parse_binary(sl_channel_t* ch) {
  size_t pos = 0;
  while (ch->state != CH_CLOSED && ch->rb.len - pos >= 4) {
    uint32_t h = be32(ch->rb.data + pos);
    size_t len = h & ~FRAME_FD_FLAG;
    if (len > ch->max_message) {
      close_channel(ch, SL_EMSGSIZE, "IPC message over max_message");
      return;
    }
    int has_fd = (h & FRAME_FD_FLAG) != 0;
    if (ch->rb.len - pos - 4 >= len) {
      char* d = ch->rb.data + pos + 4;
      char saved = d[len];
      d[len] = '\0';
      deliver(ch, d, len, has_fd ? pop_fd(ch) : -1);
      d[len] = saved;
      pos += 4 + len;
      continue;
    }
    if (len + 4 <= ch->rb.cap) break;
    if ((ch->big = sl__malloc(len + 1)) == NULL) {
      close_channel(ch, SL_ENOMEM, "IPC receive");
      return;
    }
    ch->big_len = len;
    ch->big_have = ch->rb.len - pos - 4;
    ch->big_fd = has_fd;
    memcpy(ch->big, ch->rb.data + pos + 4, ch->big_have);
    pos = ch->rb.len;
  }
  if (ch->state == CH_CLOSED) return;
  sl_buf_consume(&ch->rb, pos);
}

static void big_done(sl_channel_t* ch) {
  char* b = ch->big;
  ch->big = NULL;
  b[ch->big_len] = '\0';
  deliver(ch, b, ch->big_len, ch->big_fd ? pop_fd(ch) : -1);
  sl__free(b);
}

/* Queues the descriptors of one read for the messages that claim them;
 * those past the queue's room are closed. */
static void keep_fds(sl_channel_t* ch, const int* fds, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (ch->nfds == MAX_PENDING_FDS) {
      close(fds[i]);
      continue;
    }
    ch->fds[(ch->fd_head + ch->nfds++) % MAX_PENDING_FDS] = fds[i];
  }
}

/* One recvmsg into the right place. Returns bytes, 0 at EOF, or a code. */
static ssize_t read_once(sl_channel_t* ch) {
  struct iovec iov;
  if (ch->big != NULL) {
    iov.iov_base = ch->big + ch->big_have;
    iov.iov_len = ch->big_len - ch->big_have;
  } else {
    if (ch->rb.len == ch->rb.cap) {
      int rc = grow_rb(ch);
      if (rc != 0) return rc;
    }
    iov.iov_base = ch->rb.data + ch->rb.len;
    iov.iov_len = ch->rb.cap - ch->rb.len;
  }
  int fds[SL__FDMSG_MAX_FDS];
  size_t nfds;
  ssize_t r = sl__fdmsg_recv(ch->fd, &iov, 1, fds, SL__FDMSG_MAX_FDS, &nfds);
  keep_fds(ch, fds, nfds);
  return r;
}

static void on_eof(sl_channel_t* ch) {
  int partial =
      ch->big != NULL || (ch->mode == SL_IPC_BINARY && ch->rb.len > 0);
  for (size_t i = 0; i < ch->rb.len && !partial; i++)
    partial = !(ch->rb.data[i] == ' ' || ch->rb.data[i] == '\r' ||
                ch->rb.data[i] == '\t');
  if (partial)
    close_channel(ch, SL_EUNEXPECTEDEOF, "IPC channel closed inside a message");
  else
    close_channel(ch, 0, NULL);
}

static void read_some(sl_channel_t* ch) {
  for (int i = 0; i < 64 && ch->state != CH_CLOSED; i++) {
    ssize_t r = read_once(ch);
    if (r == SL_EAGAIN) return;
    if (r == SL_EMSGSIZE || r == SL_ENOMEM) {
      close_channel(
          ch, (int)r,
          r == SL_ENOMEM ? "IPC receive" : "IPC message over max_message");
      return;
    }
    if (r == 0 || r == SL_ECONNRESET) {
      on_eof(ch);
      return;
    }
    if (r < 0) {
      close_channel(ch, (int)r, "IPC read");
      return;
    }
    if (ch->big != NULL) {
      ch->big_have += (size_t)r;
      if (ch->big_have == ch->big_len) big_done(ch);
      continue;
    }
    sl_buf_commit(&ch->rb, (size_t)r);
    if (ch->mode == SL_IPC_JSON)
      parse_json(ch);
    else
      parse_binary(ch);
  }
}

/* POLLERR, which libuv reports as UV_EBADF: a peer that closed with some
 * of our bytes unread leaves ECONNRESET pending on our end. Node sees that
 * as the end of the channel, not an error. Reading SO_ERROR clears it. */
static int peer_reset(sl_channel_t* ch) {
  int err = 0;
  socklen_t l = sizeof err;
  if (getsockopt(ch->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0) return 0;
  return err == ECONNRESET || err == EPIPE;
}

static void on_poll(uv_poll_t* h, int status, int events) {
  sl_channel_t* ch = h->data;
  ch->busy++;
  if (status < 0 && !peer_reset(ch)) {
    close_channel(ch, status, "IPC poll");
  } else if (status < 0) {
    /* libuv stopped the handle: start it again and read what the peer
     * sent before it went, then its EOF. */
    ch->poll_events = 0;
    update_poll(ch);
    read_some(ch);
  } else {
    if (events & UV_WRITABLE) flush(ch);
    if (events & (UV_READABLE | UV_DISCONNECT)) read_some(ch);
  }
  ch->busy--;
  maybe_free(ch);
}

/* --- creation ------------------------------------------------------------ */

sl_channel_t* sl__channel_new(int fd, sl_ipc_mode_t mode, size_t max_message,
                              size_t send_hwm) {
  sl_channel_t* ch = sl__calloc(1, sizeof *ch);
  if (ch == NULL) return NULL;
  if (sl_buf_reserve(&ch->rb, RBUF_MIN) != 0 ||
      uv_poll_init(sl__loop(), &ch->poll, fd) != 0) {
    sl_buf_free(&ch->rb);
    sl__free(ch);
    return NULL;
  }
  ch->fd = fd;
  ch->mode = mode;
  ch->max_message = max_message ? max_message : 16u << 20;
  if (ch->max_message > 0x7fffffffu) ch->max_message = 0x7fffffffu;
  ch->send_hwm = send_hwm ? send_hwm : 1u << 20;
  ch->poll.data = ch;
  sl__queue_init(&ch->sendq);
  sl__tick_init(&ch->tick, ch_tick);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  ch->poll_events = UV_READABLE;
  uv_poll_start(&ch->poll, UV_READABLE, on_poll);
  return ch;
}

void sl__channel_set_owner(sl_channel_t* ch, sl__channel_owner_cb cb,
                           void* owner) {
  ch->owner_cb = cb;
  ch->owner = owner;
}

void sl__channel_release(sl_channel_t* ch) {
  ch->released = 1;
  ch->owner_cb = NULL;
  maybe_free(ch);
}

int sl_channel_vsendf(sl_channel_t* ch, const char* fmt, va_list ap) {
  sl_buf_t b = {0};
  int rc = sl_buf_vjson(&b, fmt, ap);
  if (rc == 0) rc = sl_channel_send(ch, b.data, b.len, -1);
  sl_buf_free(&b);
  return rc;
}

int sl_channel_sendf(sl_channel_t* ch, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = sl_channel_vsendf(ch, fmt, ap);
  va_end(ap);
  return rc;
}

int sl_message_int(const sl_message_t* m, const char* key, int64_t* out) {
  return sl_json_get_int(m->data, m->len, key, out);
}

int sl_message_number(const sl_message_t* m, const char* key, double* out) {
  return sl_json_get_number(m->data, m->len, key, out);
}

int sl_message_string(const sl_message_t* m, const char* key, char* out,
                      size_t cap) {
  return sl_json_get_string(m->data, m->len, key, out, cap);
}
