/* Manual 2.9, exercise 2: a Transform that upper-cases text and counts the
 * characters it processed.
 *
 *   const upper = new Transform({ transform(chunk, enc, cb) {
 *     count += chunk.toString().length; cb(null, chunk.toString().toUpperCase());
 *   }});
 *   process.stdin.pipe(upper).pipe(process.stdout);
 *
 * Reads stdin, writes it upper-cased (ASCII a-z, like `tr a-z A-Z`) to
 * stdout, and prints "characters: N" on stderr at the end, where N counts
 * UTF-8 characters: a byte that is not a continuation byte starts one, so a
 * character split across two chunks is still counted once. */
#include <stdint.h>
#include <stdio.h>

#include <sluice.h>

static uint64_t characters;
static int status;

static void upper(sl_stream_t* s, sl_chunk_t* in) {
  size_t n = sl_chunk_len(in);
  /* Nobody else can see the input's bytes: change them in place. */
  sl_chunk_t* out = sl_chunk_exclusive(in) ? sl_chunk_ref(in) : sl_chunk_new(n);
  if (out == NULL) {
    sl_stream_write_done(s, SL_ENOMEM);
    return;
  }
  const unsigned char* p = (const unsigned char*)sl_chunk_data(in);
  unsigned char* q = (unsigned char*)sl_chunk_data(out);
  uint64_t chars = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = p[i];
    q[i] = (unsigned char)(c - (((unsigned)(c - 'a') < 26u) << 5));
    chars += (c & 0xC0) != 0x80;
  }
  characters += chars;
  sl_stream_push(s, out);
  sl_chunk_unref(out);
  sl_stream_write_done(s, 0);
}

static void on_done(int err, const sl_pipeline_result_t* pr, void* arg) {
  if (err != 0) {
    fprintf(stderr, "upper-count: %s\n",
            pr->message ? pr->message : sl_strerror(err));
    status = 1;
    return;
  }
  fprintf(stderr, "characters: %llu\n", (unsigned long long)characters);
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  static const sl_stream_hooks_t hooks = {.transform = upper};
  sl_stream_opts_t o = {.hooks = &hooks, .high_water_mark = 256 * 1024};
  sl_pipeline(on_done, NULL, sl_stdin(), sl_transform_new(&o), sl_stdout());
  sl_run();
  return status;
}
