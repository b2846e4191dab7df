/* Helpers every test file may use, declared in test.h: files (write, read,
 * make one of random bytes), deterministic random bytes, running a shell
 * command, finding a program on PATH, a port nothing listens on, whether a
 * process is still alive, a descriptor sent to a file for a while (capture
 * stdout or stderr), a counting allocator, and a feeder that writes a
 * buffer to a stream with backpressure. The runner's own state (the case's
 * scratch directory, the binary's path) stays in runner.c. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

void sl_test_write_file(const char* path, const void* data, size_t len) {
  FILE* f = fopen(path, "wb");
  if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
    sl_test_fail(__FILE__, __LINE__, "cannot write %s", path);
}

char* sl_test_read_file(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) sl_test_fail(__FILE__, __LINE__, "cannot open %s", path);
  size_t cap = 1 << 16, n = 0;
  char* buf = malloc(cap + 1);
  for (;;) {
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (n < cap) break;
    cap *= 2;
    buf = realloc(buf, cap + 1);
  }
  fclose(f);
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

int sl_test_have(const char* program) {
  const char* path = getenv("PATH");
  char dir[PATH_MAX + 256];
  while (path != NULL && *path != '\0') {
    const char* colon = strchr(path, ':');
    size_t n = colon ? (size_t)(colon - path) : strlen(path);
    snprintf(dir, sizeof dir, "%.*s/%s", (int)n, n ? path : ".", program);
    if (access(dir, X_OK) == 0) return 1;
    path = colon ? colon + 1 : NULL;
  }
  return 0;
}

void sl_test_fill_random(void* buf, size_t len, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  unsigned char* p = buf;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = (unsigned char)(x >> 24);
  }
}

char* sl_test_make_file(const char* name, size_t len, uint64_t seed) {
  char* buf = malloc(len + 1);
  sl_test_fill_random(buf, len, seed);
  sl_test_write_file(sl_test_path(name), buf, len);
  return buf;
}

int sl_test_sh(const char* fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int rc = system(cmd);
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

int sl_test_unused_port(int* fd) {
  *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(*fd, (struct sockaddr*)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(*fd, (struct sockaddr*)&a, &len);
  return ntohs(a.sin_port);
}

/* A process is gone when kill() cannot find it or it is a zombie waiting
 * for a reaper that is not us. */
int sl_test_pid_alive(pid_t pid) {
  if (kill(pid, 0) != 0) return 0;
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE* f = fopen(path, "r");
  if (f == NULL) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char* p = strrchr(buf, ')');
  return p != NULL && p[2] != 'Z' && p[2] != 'X';
}

int sl_test_capture_fd(int target, const char* path) {
  fflush(NULL);
  int saved = fcntl(target, F_DUPFD_CLOEXEC, 10);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT(saved >= 0 && fd >= 0);
  ASSERT_EQ(dup2(fd, target), target);
  close(fd);
  return saved;
}

char* sl_test_capture_end(int target, int saved, const char* path) {
  fflush(NULL);
  ASSERT_EQ(dup2(saved, target), target);
  close(saved);
  return sl_test_read_file(path, NULL);
}

/* --- the counting allocator ---------------------------------------------- */

static long live_allocs;

static void* count_malloc(size_t n) {
  live_allocs++;
  return malloc(n);
}

static void* count_realloc(void* p, size_t n) {
  if (p == NULL) live_allocs++;
  return realloc(p, n);
}

static void count_free(void* p) {
  if (p != NULL) live_allocs--;
  free(p);
}

void sl_test_count_allocs(void) {
  ASSERT_EQ(sl_set_allocator(count_malloc, count_realloc, count_free), 0);
  live_allocs = 0;
}

long sl_test_live_allocs(void) { return live_allocs; }

/* --- the feeder ----------------------------------------------------------- */

static void on_feed_drain(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s, (void)ev;
  sl_test_feed(arg);
}

void sl_test_feed(sl_test_feeder_t* f) {
  while (f->off < f->len) {
    size_t n = f->len - f->off < 65536 ? f->len - f->off : 65536;
    int rc = sl_stream_write_bytes(f->s, f->data + f->off, n, NULL, NULL);
    ASSERT(rc >= 0);
    f->off += n;
    if (rc == 0) {
      f->saw_zero = 1;
      sl_stream_once(f->s, SL_EV_DRAIN, on_feed_drain, f);
      return;
    }
  }
  if (!f->no_end) sl_stream_end(f->s, NULL, NULL, NULL);
}
