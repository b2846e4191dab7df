/* The test runner. `sluice_tests NAME` runs one case in a forked child with a
 * timeout (SL_TEST_TIMEOUT seconds, default 60, times SL_TEST_TIMEOUT_MULT),
 * in its own process group so a timed-out case is killed with everything it
 * started. After the case returns, the child checks that it left nothing
 * behind: sl_loop_close() must succeed (no handle open on the loop), the set
 * of open descriptors must equal the one before, and no child process may
 * remain. A case that calls SKIP exits SL_TEST_SKIP (77), and so does the
 * runner for it. `sluice_tests --list` prints the cases; `sluice_tests` with
 * no argument runs them all (not the helpers), one process each, prints
 * "N passed, N failed, N skipped", and exits 0, 1 when one failed, or 77
 * when every case skipped. `sluice_tests NAME` runs a helper too. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

typedef struct {
  const char* name;
  sl_test_fn fn;
  const char* file;
  int helper;
} test_case_t;

static test_case_t cases[1024];
static int ncases;
static char tmpdir[PATH_MAX];
static char self_path[PATH_MAX];

void sl_test_register(const char* name, sl_test_fn fn, const char* file,
                      int helper) {
  if (ncases == (int)(sizeof(cases) / sizeof(cases[0]))) abort();
  cases[ncases++] = (test_case_t){name, fn, file, helper};
}

void sl_test_fail(const char* file, int line, const char* fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  _exit(1);
}

void sl_test_skip(const char* fmt, ...) {
  va_list ap;
  fputs("SKIP: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(NULL);
  _exit(SL_TEST_SKIP);
}

const char* sl_test_tmpdir(void) { return tmpdir; }
const char* sl_test_self(void) { return self_path; }

const char* sl_test_path(const char* name) {
  static char bufs[8][PATH_MAX + 256];
  static int next;
  char* b = bufs[next++ % 8];
  snprintf(b, PATH_MAX + 256, "%s/%s", tmpdir, name);
  return b;
}

/* The open descriptors as a bitmap over the first 1024. */
static void fd_snapshot(unsigned char set[128]) {
  memset(set, 0, 128);
  DIR* d = opendir("/proc/self/fd");
  if (d == NULL) return;
  int dfd = dirfd(d);
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd == dfd || fd >= 1024) continue;
    set[fd / 8] |= (unsigned char)(1u << (fd % 8));
  }
  closedir(d);
}

static void rm_rf(const char* path) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", path);
}

static int run_in_child(const test_case_t* tc) {
  unsigned char before[128], after[128];
  /* libuv opens a process-wide signal pipe with the first loop; it is not
   * the test's, so the snapshot is taken after the loop exists. */
  sl_loop();
  fd_snapshot(before);
  tc->fn();
  int rc = sl_loop_close();
  if (rc != 0) {
    fprintf(stderr, "%s: left handles open on the loop (%s)\n", tc->name,
            sl_err_name(rc));
    return 1;
  }
  fd_snapshot(after);
  for (int fd = 0; fd < 1024; fd++) {
    int b = before[fd / 8] >> (fd % 8) & 1, a = after[fd / 8] >> (fd % 8) & 1;
    if (a && !b) {
      char link[64], target[PATH_MAX] = "?";
      snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
      ssize_t n = readlink(link, target, sizeof target - 1);
      if (n > 0) target[n] = '\0';
      fprintf(stderr, "%s: leaked descriptor %d (%s)\n", tc->name, fd, target);
      return 1;
    }
  }
  pid_t p = waitpid(-1, NULL, WNOHANG);
  if (p != -1 || errno != ECHILD) {
    fprintf(stderr, "%s: left a child process behind\n", tc->name);
    return 1;
  }
  return 0;
}

/* The runner is a child subreaper (main), so every process a case started
 * and orphaned becomes our child when its parent exits, whatever process
 * group or session it moved to. After a case, a live one is a failure (the
 * case left a process behind); it is killed, and every zombie is reaped. */
static int reap_descendants(const char* name) {
  int left = 0;
  for (int round = 0; round < 70; round++) {
    int found = 0;
    DIR* d = opendir("/proc");
    struct dirent* e;
    while (d != NULL && (e = readdir(d)) != NULL) {
      int p = atoi(e->d_name);
      if (p <= 0) continue;
      char path[64], buf[512];
      snprintf(path, sizeof path, "/proc/%d/stat", p);
      FILE* f = fopen(path, "r");
      if (f == NULL) continue;
      size_t n = fread(buf, 1, sizeof buf - 1, f);
      fclose(f);
      buf[n] = '\0';
      char* rp = strrchr(buf, ')');
      char state;
      int ppid;
      if (rp == NULL || sscanf(rp + 1, " %c %d", &state, &ppid) != 2) continue;
      if (ppid != getpid()) continue;
      found = 1;
      if (state != 'Z') {
        /* A process killed a moment ago may still be on its way out:
         * give it 200 ms before calling it left behind. */
        if (round < 20) {
          waitpid(p, NULL, WNOHANG);
          continue;
        }
        if (round == 20) {
          fprintf(stderr, "%s: left process %d behind\n", name, p);
          left = 1;
        }
        kill(p, SIGKILL);
      }
      waitpid(p, NULL, WNOHANG);
    }
    if (d != NULL) closedir(d);
    if (!found) break;
    usleep(10000);
  }
  return left;
}

static double timeout_seconds(void) {
  const char* t = getenv("SL_TEST_TIMEOUT");
  const char* m = getenv("SL_TEST_TIMEOUT_MULT");
  double s = t ? atof(t) : 60;
  return s * (m ? atof(m) : 1);
}

/* A runner stopped by a signal (a script ending the helper it started)
 * passes it on to the case's process group, which would otherwise live on
 * in its own group; the wait below then reaps it. */
static volatile pid_t case_pid;

static void forward_signal(int sig) {
  if (case_pid > 0) kill(-case_pid, sig);
}

static int run_case(const test_case_t* tc) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/sluice-test-%s-XXXXXX", tc->name);
  if (mkdtemp(tmpdir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  fflush(NULL);
  pid_t runner = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    /* A runner killed outright (kill -9 by a script's cleanup) cannot pass
     * the signal on: the case goes with it all the same. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != runner) _exit(1);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    /* exit(), not _exit(): under ASan, LeakSanitizer runs at exit and fails
     * the case on a leak. */
    exit(run_in_child(tc));
  }
  setpgid(pid, pid);
  case_pid = pid;
  signal(SIGTERM, forward_signal);
  signal(SIGINT, forward_signal);
  signal(SIGHUP, forward_signal);
  double limit = timeout_seconds();
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int status = 0, rc = 1;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double el = (now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;
    if (el > limit) {
      fprintf(stderr, "%s: timed out after %.0f s\n", tc->name, limit);
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      status = -1;
      break;
    }
    usleep(el < 1 ? 1000 : 10000);
  }
  if (status != -1) {
    if (WIFEXITED(status))
      rc = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      fprintf(stderr, "%s: killed by signal %d\n", tc->name, WTERMSIG(status));
  }
  /* Whatever the case started in its group goes with it. */
  kill(-pid, SIGKILL);
  /* A case that skipped after starting a process and leaving it is a
   * failure all the same. */
  if (reap_descendants(tc->name) != 0 && (rc == 0 || rc == SL_TEST_SKIP))
    rc = 1;
  rm_rf(tmpdir);
  return rc;
}

int main(int argc, char** argv) {
  sl_init(argc, argv); /* a forked entry of the tests runs here and exits */
  ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
  if (n > 0) self_path[n] = '\0';
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  if (argc > 1 && strcmp(argv[1], "--list") == 0) {
    for (int i = 0; i < ncases; i++)
      if (!cases[i].helper) printf("%s\n", cases[i].name);
    return 0;
  }
  if (argc > 1) {
    for (int i = 0; i < ncases; i++)
      if (strcmp(cases[i].name, argv[1]) == 0) {
        sl_init(argc, argv);
        return run_case(&cases[i]);
      }
    fprintf(stderr, "no test case named %s\n", argv[1]);
    return 2;
  }
  int passed = 0, failed = 0, skipped = 0;
  for (int i = 0; i < ncases; i++) {
    if (cases[i].helper) continue;
    int rc = run_case(&cases[i]);
    const char* word = rc == 0 ? "ok  " : rc == SL_TEST_SKIP ? "skip" : "FAIL";
    printf("%s %s\n", word, cases[i].name);
    rc == 0 ? passed++ : rc == SL_TEST_SKIP ? skipped++ : failed++;
  }
  printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed != 0) return 1;
  return passed == 0 && skipped != 0 ? SL_TEST_SKIP : 0;
}
