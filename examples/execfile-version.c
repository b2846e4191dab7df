/* Manual 4.2, execFile(): a program run without a shell, so nothing in its
 * arguments is interpreted.
 *
 *   execFile('/usr/bin/node', ['--version'], (err, stdout) => {
 *     if (err) throw err;
 *     console.log(`Node version: ${stdout}`);
 *   });
 *
 * Usage: execfile-version [PROGRAM] (default: node). Prints
 * "PROGRAM version: <output>", or the error ("spawn PROGRAM ENOENT") and
 * exits 1.
 *
 * Lines: 12 of C like for like (12 in all) against the manual's 4 of JS: 3.0x */
#include <sluice.h>

static void done(int err, const sl_exec_result_t* r, void* program) {
  if (!sl_report(err, r->message))
    printf("%s version: %s\n", (char*)program, r->out);
}

int main(int argc, char** argv) {
  char* program = argc > 1 ? argv[1] : "node";
  const char* args[] = {program, "--version", NULL};
  if (sl_report(sl_exec_file(program, args, NULL, done, program), NULL))
    return 1;
  return sl_run();
}
