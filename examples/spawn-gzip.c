/* Manual 4.5: streaming a file through a child process.
 *
 *   const gzip = spawn('gzip', []);
 *   fs.createReadStream('largefile.txt').pipe(gzip.stdin);
 *   gzip.stdout.pipe(fs.createWriteStream('largefile.txt.gz'));
 *
 * Both pipes keep backpressure: memory stays flat whatever the file size
 * (and between descriptors the bytes move with splice, not through
 * chunks). gzip's own messages go to our stderr.
 *
 * Usage: spawn-gzip SRC DST. Prints nothing on success, like its twin;
 * on failure prints the error and exits 1. */
#include <stdio.h>

#include <sluice.h>

static int status;

static void on_pipeline(int err, const sl_pipeline_result_t* pr, void* arg) {
  if (err != 0) {
    fprintf(stderr, "spawn-gzip: %s\n", pr->message ? pr->message : sl_strerror(err));
    status = 1;
  }
}

static void on_child(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  if (ev->type == SL_CHILD_ERROR) {
    fprintf(stderr, "spawn-gzip: %s\n", ev->message);
    status = 1;
  } else if (ev->exit_code != 0) {
    fprintf(stderr, "spawn-gzip: gzip exited with code %d\n", ev->exit_code);
    status = 1;
  }
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  if (argc != 3) {
    fprintf(stderr, "usage: spawn-gzip SRC DST\n");
    return 2;
  }
  const char* args[] = {"gzip", NULL};
  sl_spawn_opts_t o = {.stdio = {{SL_STDIO_PIPE, 0},
                                 {SL_STDIO_PIPE, 0},
                                 {SL_STDIO_INHERIT, 0}}};
  sl_child_t* gzip;
  int rc = sl_spawn("gzip", args, &o, &gzip);
  if (rc != 0) {
    fprintf(stderr, "spawn-gzip: %s\n", sl_strerror(rc));
    return 1;
  }
  sl_child_on(gzip, SL_CHILD_ERROR, on_child, NULL);
  sl_child_on(gzip, SL_CHILD_CLOSE, on_child, NULL);
  if (sl_child_stdin(gzip) != NULL) {
    sl_pipeline(on_pipeline, NULL, sl_file_reader(argv[1], NULL),
                sl_child_stdin(gzip), NULL);
    sl_pipeline(on_pipeline, NULL, sl_child_stdout(gzip),
                sl_file_writer(argv[2], NULL), NULL);
  }
  sl_run();
  return status;
}
