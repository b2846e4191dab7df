/* Manual 4.2, exec(): a command line through the shell, its output
 * buffered and handed over at the end.
 *
 *   exec('ls -la', (err, stdout, stderr) => {
 *     if (err) return console.error(err);
 *     console.log('Output:', stdout);
 *   });
 *
 * Usage: exec-ls [DIR] (runs `ls -la` in DIR, the current directory by
 * default). Prints "Output: " and the listing, or the error and exits 1. */
#include <stdio.h>

#include <sluice.h>

static int status;

static void on_done(int err, const sl_exec_result_t* r, void* arg) {
  if (err != 0) {
    fprintf(stderr, "%s\n", r->message ? r->message : sl_strerror(err));
    status = 1;
    return;
  }
  printf("Output: %s\n", r->out);
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  sl_exec_opts_t o = {.spawn = {.cwd = argc > 1 ? argv[1] : NULL}};
  int rc = sl_exec("ls -la", &o, on_done, NULL);
  if (rc != 0) {
    fprintf(stderr, "exec-ls: %s\n", sl_strerror(rc));
    return 1;
  }
  sl_run();
  return status;
}
