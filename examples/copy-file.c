/* Manual 2.6, example 2: copy a file with pipe().
 *
 *   fs.createReadStream('input.txt').pipe(fs.createWriteStream('output.txt'));
 *
 * Node's example prints "File copied." before the copy has happened; this
 * one prints it once the destination is complete and closed, and reports the
 * error (naming the file) otherwise. Between two files the data moves with
 * copy_file_range(2), never through user memory.
 *
 * Usage: copy-file SRC DST */
#include <stdio.h>

#include <sluice.h>

static int status;

static void on_done(int err, const sl_pipeline_result_t* pr, void* arg) {
  if (err != 0) {
    fprintf(stderr, "copy-file: %s\n", pr->message ? pr->message : sl_strerror(err));
    status = 1;
    return;
  }
  printf("File copied.\n");
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  if (argc != 3) {
    fprintf(stderr, "usage: copy-file SRC DST\n");
    return 2;
  }
  sl_pipeline(on_done, NULL, sl_file_reader(argv[1], NULL),
              sl_file_writer(argv[2], NULL), NULL);
  sl_run();
  return status;
}
