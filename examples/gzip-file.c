/* Manual 2.6, example 3: gzip a file through a Transform.
 *
 *   fs.createReadStream('input.txt')
 *     .pipe(zlib.createGzip())
 *     .pipe(fs.createWriteStream('input.txt.gz'));
 *
 * Usage: gzip-file SRC [DST] [--level N]; DST defaults to SRC.gz, N is 1-9
 * (default 6). Prints "File compressed." once DST is complete, or the error
 * (naming the file or the stage) and exits 1; a bad argument is a usage
 * error naming it, exit 2. The output is one gzip member. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice.h>

static int status;

static int usage(const char* why) {
  if (why != NULL) fprintf(stderr, "gzip-file: %s\n", why);
  fprintf(stderr, "usage: gzip-file SRC [DST] [--level 1-9]\n");
  return 2;
}

/* Parses the value of --level: an integer from 1 to 9, nothing else. */
static int parse_level(const char* arg, int* level) {
  char* end;
  long v = arg ? strtol(arg, &end, 10) : 0;
  if (arg == NULL || *arg == '\0' || *end != '\0' || v < 1 || v > 9)
    return -1;
  *level = (int)v;
  return 0;
}

static void on_done(int err, const sl_pipeline_result_t* pr, void* arg) {
  if (err != 0) {
    fprintf(stderr, "gzip-file: %s\n", pr->message ? pr->message : sl_strerror(err));
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
    char why[256];
    if (strcmp(argv[i], "--level") == 0) {
      const char* v = i + 1 < argc ? argv[++i] : NULL;
      if (parse_level(v, &zo.level) != 0) {
        snprintf(why, sizeof why,
                 "--level must be an integer from 1 to 9%s%s%s",
                 v ? ", got '" : " (missing)", v ? v : "", v ? "'" : "");
        return usage(why);
      }
    } else if (strncmp(argv[i], "--", 2) == 0) {
      snprintf(why, sizeof why, "unknown option '%s'", argv[i]);
      return usage(why);
    } else if (src == NULL) {
      src = argv[i];
    } else if (dst == NULL) {
      dst = argv[i];
    } else {
      return usage("too many arguments");
    }
  }
  if (src == NULL) return usage(NULL);
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
