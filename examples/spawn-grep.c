/* Manual 4.10, exercise 2: spawn a Unix command, feed it a file as a
 * stream, and print its matches as they arrive.
 *
 *   const grep = spawn('grep', [pattern]);
 *   fs.createReadStream(file).pipe(grep.stdin);
 *   grep.stdout.on('data', data => process.stdout.write(data));
 *
 * Usage: spawn-grep PATTERN FILE. Prints the matching lines as grep finds
 * them and exits with grep's code (1: no match). */
#include <stdio.h>

#include <sluice.h>

static int status;

static void on_match(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  fwrite(sl_chunk_data(ev->chunk), 1, sl_chunk_len(ev->chunk), stdout);
  fflush(stdout);
}

static void on_input(int err, const sl_pipeline_result_t* pr, void* arg) {
  if (err != 0 && err != SL_EPIPE) {
    fprintf(stderr, "spawn-grep: %s\n",
            pr->message ? pr->message : sl_strerror(err));
    status = 2;
  }
}

static void on_child(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  if (ev->type == SL_CHILD_ERROR) {
    fprintf(stderr, "spawn-grep: %s\n", ev->message);
    status = 2;
  } else if (status == 0) {
    status = ev->exit_code < 0 ? 2 : ev->exit_code;
  }
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  if (argc != 3) {
    fprintf(stderr, "usage: spawn-grep PATTERN FILE\n");
    return 2;
  }
  /* --line-buffered: each match leaves grep as soon as it is found. */
  const char* args[] = {"grep", "--line-buffered", "--", argv[1], NULL};
  sl_spawn_opts_t o = {
      .stdio = {{SL_STDIO_PIPE, 0}, {SL_STDIO_PIPE, 0}, {SL_STDIO_INHERIT, 0}}};
  sl_child_t* grep;
  int rc = sl_spawn("grep", args, &o, &grep);
  if (rc != 0) {
    fprintf(stderr, "spawn-grep: %s\n", sl_strerror(rc));
    return 2;
  }
  sl_child_on(grep, SL_CHILD_ERROR, on_child, NULL);
  sl_child_on(grep, SL_CHILD_CLOSE, on_child, NULL);
  if (sl_child_stdin(grep) != NULL) {
    sl_stream_on(sl_child_stdout(grep), SL_EV_DATA, on_match, NULL);
    sl_pipeline(on_input, NULL, sl_file_reader(argv[2], NULL),
                sl_child_stdin(grep));
  }
  sl_run();
  return status;
}
