/* Streams over inherited descriptors: sl_stdin/sl_stdout/sl_stderr and
 * sl_fd_stream. What the descriptor is decides the stream: a regular file or
 * a character device goes to the file streams of fs.c (at the descriptor's
 * own position), a pipe or socket to a non-blocking uv_pipe_t, a terminal to
 * a uv_tty_t, both through the uvstream.c wrapper. libuv never closes
 * descriptors 0-2; a kept descriptor above 2 is dup'ed into the handle so
 * that closing the handle leaves the caller's descriptor open. */
#include "stream/stream_int.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SL__STDIO_HWM (64 * 1024)
/* A redirected file moves in larger blocks: each block costs two trips
 * through the thread pool, and 256 KiB halves the time of a filter over a
 * large file compared with 64 KiB (bench/run, upper-count) for 192 KiB more
 * memory per stream. */
#define SL__STDIO_FILE_HWM (256 * 1024)

static void handle_free_cb(uv_handle_t* h) { sl__free(h); }

/* A stream that fails with `err` from the loop ("EBADF: bad file
 * descriptor, fd 9"). */
static sl_stream_t* failed_stream(int kind, int err, int fd) {
  sl_stream_t* s = sl__stream_new(kind, NULL, sizeof(sl_stream_t));
  if (s != NULL) sl_stream_fail(s, err, "fd %d", fd);
  return s;
}

/* Regular files and devices: I/O on the pool (fs.c) at the descriptor's
 * own offset, so the stream starts where the descriptor stands and moves
 * it, as a shell redirection expects (`(prog; cat) < file`). */
static sl_stream_t* file_stream(int fd, int readable, int keep_fd) {
  sl_file_opts_t fo = {.fd = fd,
                       .use_fd = 1,
                       .keep_fd = keep_fd,
                       .high_water_mark = SL__STDIO_FILE_HWM};
  return readable ? sl__fd_file_reader(&fo) : sl_file_writer(NULL, &fo);
}

static sl_stream_t* wrap(uv_stream_t* h, int kind, int flags,
                         const char* name) {
  sl_stream_opts_t so = {.high_water_mark = SL__STDIO_HWM, .name = name};
  if (kind & SL__KIND_READABLE) flags |= SL__UVS_READABLE;
  if (kind & SL__KIND_WRITABLE) flags |= SL__UVS_WRITABLE;
  return sl__uv_stream_new(h, flags, &so, sizeof(sl__uvs_t));
}

/* The descriptor to give libuv: a close-on-exec duplicate when the caller
 * keeps `fd` (libuv closes what it was given, except 0-2). */
static int handle_fd(int fd, int keep_fd) {
  if (!keep_fd || fd <= STDERR_FILENO) return fd;
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  return dup < 0 ? -errno : dup;
}

/* Opens `hfd` in a new handle: a uv_tcp_t for a TCP socket (so that
 * sl_tcp_peer() works), a uv_pipe_t for anything else. Returns 0 or a code;
 * on failure no handle is left behind (it closes asynchronously). */
static int open_stream_handle(int hfd, int tcp, uv_stream_t** out) {
  uv_stream_t* h = sl__malloc(tcp ? sizeof(uv_tcp_t) : sizeof(uv_pipe_t));
  if (h == NULL) return SL_ENOMEM;
  int rc;
  if (tcp) {
    uv_tcp_init(sl__loop(), (uv_tcp_t*)h);
    rc = uv_tcp_open((uv_tcp_t*)h, hfd);
  } else {
    uv_pipe_init(sl__loop(), (uv_pipe_t*)h, 0);
    rc = uv_pipe_open((uv_pipe_t*)h, hfd);
  }
  if (rc != 0) {
    uv_close((uv_handle_t*)h, handle_free_cb);
    return rc;
  }
  *out = h;
  return 0;
}

/* Pipes and sockets: non-blocking, read and written by libuv. */
static sl_stream_t* pipe_stream(int fd, int kind, int keep_fd, int tcp,
                                const char* name) {
  struct stat st;
  uv_stream_t* h = NULL;
  int hfd = handle_fd(fd, keep_fd);
  if (hfd < 0) return failed_stream(kind, hfd, fd);
  int rc = open_stream_handle(hfd, tcp, &h);
  if (rc != 0) {
    if (hfd > STDERR_FILENO) close(hfd); /* our duplicate, or not kept */
    return failed_stream(kind, rc, fd);
  }
  /* Only a socket can half-close; a pipe's reader sees EOF when the
   * handle closes after finish. */
  int flags =
      fstat(hfd, &st) == 0 && S_ISSOCK(st.st_mode) ? SL__UVS_SHUTDOWN : 0;
  return wrap(h, kind, flags, name);
}

/* uv_tty_init reopens a terminal and dup2()s the new description over the
 * descriptor it was given, then uses the reopened one; the descriptor given
 * stays open and is ours to close (unless it is 0-2). */
static sl_stream_t* tty_stream(int fd, int kind, int keep_fd,
                               const char* name) {
  int hfd = handle_fd(fd, keep_fd);
  if (hfd < 0) return failed_stream(kind, hfd, fd);
  uv_tty_t* h = sl__malloc(sizeof *h);
  int rc = h == NULL ? SL_ENOMEM : uv_tty_init(sl__loop(), h, hfd, 0);
  if (rc != 0) {
    sl__free(h); /* uv_tty_init leaves no handle behind on failure */
    if (hfd > STDERR_FILENO) close(hfd);
    return failed_stream(kind, rc, fd);
  }
  uv_os_fd_t real = -1;
  uv_fileno((uv_handle_t*)h, &real);
  sl_stream_t* s = wrap((uv_stream_t*)h, kind, 0, name);
  if (s == NULL) {
    if (real != hfd && hfd > STDERR_FILENO) close(hfd);
    return NULL;
  }
  if (real != hfd && hfd > STDERR_FILENO) ((sl__uvs_t*)s)->close_fd = hfd;
  return s;
}

static sl_stream_t* fd_stream(int fd, int readable, int writable, int keep_fd,
                              const char* name) {
  SL_ASSERT(readable || writable);
  int kind =
      (readable ? SL__KIND_READABLE : 0) | (writable ? SL__KIND_WRITABLE : 0);
  if (fcntl(fd, F_GETFD) < 0) return failed_stream(kind, -errno, fd);
  switch (uv_guess_handle(fd)) {
    case UV_FILE:
      if (readable && writable) break;
      return file_stream(fd, readable, keep_fd);
    case UV_NAMED_PIPE:
      return pipe_stream(fd, kind, keep_fd, 0, name);
    case UV_TCP:
      return pipe_stream(fd, kind, keep_fd, 1, name);
    case UV_TTY:
      return tty_stream(fd, kind, keep_fd, name);
    default:
      break;
  }
  /* A datagram socket, a directory, or a file opened both ways. */
  if (!keep_fd && fd > STDERR_FILENO) close(fd);
  return failed_stream(kind, SL_EINVAL, fd);
}

sl_stream_t* sl_fd_stream(int fd, int readable, int writable, int keep_fd) {
  char name[32];
  snprintf(name, sizeof name, "fd %d", fd);
  return fd_stream(fd, readable, writable, keep_fd, name);
}

/* --- stdin, stdout, stderr ---------------------------------------------- */

static sl_stream_t* std_streams[3];

static void forget_std(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  sl_stream_t** slot = arg;
  if (*slot == s) *slot = NULL;
}

/* One stream per descriptor until it closes; 0-2 are never closed. */
static sl_stream_t* std_stream(int fd) {
  static const char* const names[] = {"stdin", "stdout", "stderr"};
  sl_stream_t** slot = &std_streams[fd];
  if (*slot != NULL) return *slot;
  sl_stream_t* s = fd_stream(fd, fd == 0, fd != 0, 1, names[fd]);
  if (s == NULL) return NULL;
  if (sl_stream_on(s, SL_EV_CLOSE, forget_std, slot) == 0) *slot = s;
  return s;
}

sl_stream_t* sl_stdin(void) { return std_stream(STDIN_FILENO); }
sl_stream_t* sl_stdout(void) { return std_stream(STDOUT_FILENO); }
sl_stream_t* sl_stderr(void) { return std_stream(STDERR_FILENO); }
