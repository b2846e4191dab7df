/* Manual 4.7: error handling and timeouts. Runs a command with a deadline;
 * at the deadline the command's whole process group gets SIGTERM (then
 * SIGKILL after a grace period), so nothing it started survives.
 *
 *   child.on('exit', code => console.error(`Child exited with code ${code}`));
 *   child.on('error', err => console.error('Failed to start process:', err));
 *   child.kill('SIGTERM');
 *
 * Usage: run-timeout --timeout-ms MS [--grace-ms MS] -- CMD ARGS...
 * Prints "exited with code N", "killed by SIGNAME" or "killed by SIGNAME
 * (timeout)" and exits with N, or 128 + the signal number; a command that
 * cannot start is reported ("spawn CMD ENOENT"), exit 127.
 *
 * Lines: 19 of C like for like (40 in all) against the manual's 7 of JS: 2.7x */
/* extra: for the command line, and signal names */
#define _GNU_SOURCE /* sigabbrev_np */
#include <stdlib.h>
#include <string.h>
/* end extra */
#include <sluice.h>

static void on_exit_status(sl_child_t* c, const sl_child_event_t* ev,
                           void* arg) {
  /* extra: death by a signal, and by the deadline */
  if (ev->term_signal != 0) {
    printf("killed by SIG%s%s\n", sigabbrev_np(ev->term_signal),
           ev->timed_out ? " (timeout)" : "");
    sl_set_exit_code(128 + ev->term_signal);
    return;
  }
  /* end extra */
  if (sl_report(ev->err, ev->message)) {
    sl_set_exit_code(127);
    return;
  }
  printf("exited with code %d\n", ev->exit_code);
  sl_set_exit_code(ev->exit_code);
}

int main(int argc, char** argv) {
  sl_spawn_opts_t o = {.stdio = SL_STDIO_INHERIT_ALL};
  /* extra: the command line */
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
      o.timeout_ms = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--grace-ms") == 0 && i + 1 < argc)
      o.kill_grace_ms = strtoull(argv[++i], NULL, 10);
  }
  if (i + 1 >= argc || o.timeout_ms == 0) {
    fputs("usage: run-timeout --timeout-ms MS [--grace-ms MS] -- CMD ARGS...\n",
          stderr);
    return 2;
  }
  /* end extra */
  sl_child_t* child;
  char** cmd = argv + i + 1;
  if (sl_report(sl_spawn(cmd[0], (const char* const*)cmd, &o, &child), NULL))
    return 2;
  sl_child_wait(child, on_exit_status, NULL);
  return sl_run();
}
