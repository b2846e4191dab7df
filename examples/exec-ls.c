/* Manual 4.2, exec(): a command line through the shell, its output
 * buffered and handed over at the end.
 *
 *   exec('ls -la', (err, stdout, stderr) => {
 *     if (err) return console.error(err);
 *     console.log('Output:', stdout);
 *   });
 *
 * Usage: exec-ls [DIR] (runs `ls -la` in DIR, the current directory by
 * default). Prints "Output: " and the listing, or the error and exits 1.
 *
 * Lines: 9 of C like for like (9 in all) against the manual's 5 of JS: 1.8x */
#include <sluice.h>

static void done(int err, const sl_exec_result_t* r, void* arg) {
  if (!sl_report(err, r->message)) printf("Output: %s\n", r->out);
}

int main(int argc, char** argv) {
  sl_exec_opts_t o = {.spawn.cwd = argv[1]}; /* NULL: here */
  if (sl_report(sl_exec("ls -la", &o, done, NULL), NULL)) return 1;
  return sl_run();
}
