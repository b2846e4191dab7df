/* Manual 4.7: error handling and timeouts. Runs a command with a deadline;
 * at the deadline the command's whole process group gets SIGTERM (then
 * SIGKILL after a grace period), so nothing it started survives.
 *
 *   const child = spawn(cmd, args, { stdio: 'inherit' });
 *   const timer = setTimeout(() => child.kill('SIGTERM'), ms);
 *   child.on('exit', (code, signal) => ...);
 *
 * Usage: run-timeout --timeout-ms MS [--grace-ms MS] -- CMD ARGS...
 * Prints "exited with code N", "killed by SIGNAME" or "killed by SIGNAME
 * (timeout)" and exits with N, or 128 + the signal number. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice.h>

static int status;

static const char* signame(int sig) {
  static const struct { int sig; const char* name; } names[] = {
      {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},
      {SIGILL, "SIGILL"},   {SIGABRT, "SIGABRT"}, {SIGFPE, "SIGFPE"},
      {SIGKILL, "SIGKILL"}, {SIGSEGV, "SIGSEGV"}, {SIGPIPE, "SIGPIPE"},
      {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGUSR1, "SIGUSR1"},
      {SIGUSR2, "SIGUSR2"}, {SIGBUS, "SIGBUS"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].sig == sig) return names[i].name;
  return "SIG?";
}

static void on_child(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  if (ev->type == SL_CHILD_ERROR) {
    fprintf(stderr, "run-timeout: %s\n", ev->message);
    status = 127;
  } else if (ev->type == SL_CHILD_EXIT) {
    if (ev->term_signal != 0) {
      printf("killed by %s%s\n", signame(ev->term_signal),
             ev->timed_out ? " (timeout)" : "");
      status = 128 + ev->term_signal;
    } else {
      printf("exited with code %d\n", ev->exit_code);
      status = ev->exit_code;
    }
    fflush(stdout);
  }
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  sl_spawn_opts_t o = {.stdio = {{SL_STDIO_INHERIT, 0},
                                 {SL_STDIO_INHERIT, 0},
                                 {SL_STDIO_INHERIT, 0}}};
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
      o.timeout_ms = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--grace-ms") == 0 && i + 1 < argc)
      o.kill_grace_ms = strtoull(argv[++i], NULL, 10);
  }
  if (i + 1 >= argc || o.timeout_ms == 0) {
    fprintf(stderr,
            "usage: run-timeout --timeout-ms MS [--grace-ms MS] -- CMD "
            "ARGS...\n");
    return 2;
  }
  sl_child_t* c;
  int rc = sl_spawn(argv[i + 1], (const char* const*)argv + i + 1, &o, &c);
  if (rc != 0) {
    fprintf(stderr, "run-timeout: %s\n", sl_strerror(rc));
    return 2;
  }
  sl_child_on(c, SL_CHILD_ERROR, on_child, NULL);
  sl_child_on(c, SL_CHILD_EXIT, on_child, NULL);
  sl_run();
  return status;
}
