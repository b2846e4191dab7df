/* Manual 4.5: streaming a file through a child process.
 *
 *   const gzip = spawn('gzip', []);
 *   fs.createReadStream('largefile.txt').pipe(gzip.stdin);
 *   gzip.stdout.pipe(fs.createWriteStream('largefile.txt.gz'));
 *
 * Both pipelines keep backpressure: memory stays flat whatever the file
 * size (and between descriptors the bytes move with splice, not through
 * chunks). gzip's own messages go to our stderr. Pipelines without a
 * callback report their errors, naming the file, and make the exit status 1.
 *
 * Usage: spawn-gzip SRC DST. Prints nothing on success, like its twin.
 *
 * Lines: 9 of C like for like (20 in all) against the manual's 7 of JS: 1.3x */
#include <sluice.h>

/* extra: gzip's own failure */
static void on_close(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  if (ev->exit_code > 0) { /* a spawn error is the pipelines' to report */
    fprintf(stderr, "gzip exited with code %d\n", ev->exit_code);
    sl_set_exit_code(1);
  }
}
/* end extra */

int main(int argc, char** argv) {
  /* extra: usage */
  if (argc != 3) {
    fputs("usage: spawn-gzip SRC DST\n", stderr);
    return 2;
  }
  /* end extra */
  sl_spawn_opts_t o = {.stdio[2] = {SL_STDIO_INHERIT}};
  sl_child_t* gzip;
  if (sl_report(sl_spawn("gzip", NULL, &o, &gzip), NULL)) return 1;
  sl_pipeline(NULL, NULL, sl_file_reader(argv[1], NULL), sl_child_stdin(gzip));
  sl_pipeline(NULL, NULL, sl_child_stdout(gzip), sl_file_writer(argv[2], NULL));
  sl_child_wait(gzip, on_close, NULL); /* extra */
  return sl_run();
}
