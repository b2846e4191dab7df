/* Manual 2.6, example 3: gzip a file through a Transform.
 *
 *   fs.createReadStream('input.txt')
 *     .pipe(zlib.createGzip())
 *     .pipe(fs.createWriteStream('input.txt.gz'));
 *
 * Usage: gzip-file SRC [DST] [--level N]; DST defaults to SRC.gz. Prints
 * "File compressed." once DST is complete, or the error (naming the file or
 * the stage) and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice.h>

static int status;

static void on_done(int err, int stage, const char* message, void* arg) {
  if (err != 0) {
    fprintf(stderr, "gzip-file: %s\n", message ? message : sl_strerror(err));
    status = 1;
    return;
  }
  printf("File compressed.\n");
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  const char *src = NULL, *dst = NULL;
  sl_zlib_opts_t zo = {0};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--level") == 0 && i + 1 < argc)
      zo.level = atoi(argv[++i]);
    else if (src == NULL)
      src = argv[i];
    else if (dst == NULL)
      dst = argv[i];
    else
      src = NULL, i = argc; /* too many arguments */
  }
  if (src == NULL) {
    fprintf(stderr, "usage: gzip-file SRC [DST] [--level 1-9]\n");
    return 2;
  }
  char def[4096];
  if (dst == NULL) {
    snprintf(def, sizeof def, "%s.gz", src);
    dst = def;
  }
  sl_pipeline(on_done, NULL, sl_file_reader(src, NULL), sl_gzip(&zo),
              sl_file_writer(dst, NULL), NULL);
  sl_run();
  return status;
}
