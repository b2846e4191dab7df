/* Manual 4.2, execFile(): a program run without a shell, so nothing in its
 * arguments is interpreted.
 *
 *   execFile('/usr/bin/node', ['--version'], (err, stdout) => {
 *     if (err) throw err;
 *     console.log(`Node version: ${stdout}`);
 *   });
 *
 * Usage: execfile-version [PROGRAM] (default: node). Prints
 * "PROGRAM version: <output>", or the error and exits 1. */
#include <stdio.h>

#include <sluice.h>

static int status;

static void on_done(int err, const sl_exec_result_t* r, void* arg) {
  if (err != 0) {
    fprintf(stderr, "%s\n", r->message ? r->message : sl_strerror(err));
    status = 1;
    return;
  }
  printf("%s version: %s\n", (const char*)arg, r->out);
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  const char* program = argc > 1 ? argv[1] : "node";
  const char* args[] = {program, "--version", NULL};
  int rc = sl_exec_file(program, args, NULL, on_done, (void*)program);
  if (rc != 0) {
    fprintf(stderr, "execfile-version: %s\n", sl_strerror(rc));
    return 1;
  }
  sl_run();
  return status;
}
