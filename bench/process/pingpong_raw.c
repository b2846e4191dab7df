/* bench/process raw ping-pong: the machine's ceiling for workload 4. A
 * forked child echoes over a socketpair with blocking read/write, no event
 * loop, no framing, no sluice: what any IPC ping-pong pays for two context
 * switches and two cross-CPU wake-ups per round trip. A reference only.
 *
 * Usage: pingpong_raw N
 * Prints: n=DONE secs=ELAPSED rate=ROUND_TRIPS_PER_SEC */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void echo(int fd) {
  char buf[64];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    if (write(fd, buf, (size_t)n) != n) break;
  _exit(0);
}

int main(int argc, char** argv) {
  long want = argc > 1 ? atol(argv[1]) : 100000, done = 0;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    close(sv[0]);
    echo(sv[1]);
  }
  close(sv[1]);
  char msg[] = "{\"i\":0}\n", buf[64];
  double t0 = now_s();
  for (; done < want; done++)
    if (write(sv[0], msg, sizeof msg - 1) != (ssize_t)sizeof msg - 1 ||
        read(sv[0], buf, sizeof buf) <= 0)
      break;
  double secs = now_s() - t0;
  close(sv[0]);
  waitpid(pid, NULL, 0);
  printf("n=%ld secs=%.6f rate=%.1f\n", done, secs, done / secs);
  return done != want;
}
