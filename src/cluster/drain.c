/* What the primary can see of a draining worker from the outside, through
 * /proc: how many bytes it has written so far (the progress that keeps a
 * rolling restart from cutting a download a client is still reading) and
 * how many TCP connections it still holds (what a deadline would cut, for
 * an honest report). Both read the kernel's own accounting, so they need
 * no message from a worker whose channel is already closed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cluster/cluster_int.h"

/* The kernel's `wchar` counts every byte that write(2), writev(2) and
 * sendfile(2) accepted, on any descriptor (a socket at a stalled client
 * accepts none, so the figure stops growing). */
int sl__proc_written(pid_t pid, uint64_t* out) {
  char path[64], line[128];
  snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
  FILE* f = fopen(path, "re");
  if (f == NULL) return SL_ENOENT;
  int rc = SL_ENOENT;
  unsigned long long v;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "wchar: %llu", &v) == 1) {
      *out = v;
      rc = 0;
      break;
    }
  fclose(f);
  return rc;
}

#define MAX_SOCKETS 4096

static int cmp_ul(const void* a, const void* b) {
  unsigned long x = *(const unsigned long*)a, y = *(const unsigned long*)b;
  return x < y ? -1 : x > y;
}

/* The socket inodes among `pid`'s descriptors, sorted. Returns how many. */
static size_t socket_inodes(pid_t pid, unsigned long* v, size_t max) {
  char path[64], link[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR* d = opendir(path);
  if (d == NULL) return 0;
  size_t n = 0;
  struct dirent* e;
  while (n < max && (e = readdir(d)) != NULL) {
    char fd[600];
    snprintf(fd, sizeof fd, "%s/%s", path, e->d_name);
    ssize_t len = readlink(fd, link, sizeof link - 1);
    if (len <= 0) continue;
    link[len] = '\0';
    unsigned long ino;
    if (sscanf(link, "socket:[%lu]", &ino) == 1) v[n++] = ino;
  }
  closedir(d);
  qsort(v, n, sizeof *v, cmp_ul);
  return n;
}

/* Established sockets of /proc/PID/net/FILE whose inode is in `v`. */
static int count_established(pid_t pid, const char* file,
                             const unsigned long* v, size_t n) {
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/%d/net/%s", (int)pid, file);
  FILE* f = fopen(path, "re");
  if (f == NULL) return 0;
  int count = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned st;
    unsigned long ino;
    /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
    if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %*s %*s %lu", &st, &ino) != 2)
      continue; /* the header */
    if (st == 1 /* TCP_ESTABLISHED */ &&
        bsearch(&ino, v, n, sizeof *v, cmp_ul) != NULL)
      count++;
  }
  fclose(f);
  return count;
}

int sl__proc_tcp_connections(pid_t pid) {
  unsigned long* v = sl__malloc(MAX_SOCKETS * sizeof *v);
  if (v == NULL) return SL_ENOMEM;
  size_t n = socket_inodes(pid, v, MAX_SOCKETS);
  int c = n == 0 ? 0
                 : count_established(pid, "tcp", v, n) +
                       count_established(pid, "tcp6", v, n);
  sl__free(v);
  return c;
}
