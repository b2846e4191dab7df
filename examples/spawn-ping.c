/* Manual 4.2, spawn(): a long-running command whose output is streamed as
 * it comes, here line by line.
 *
 *   const child = spawn('ping', ['-c', '4', 'google.com']);
 *   child.stdout.on('data', data => console.log(`stdout: ${data}`));
 *   child.stderr.on('data', data => console.error(`stderr: ${data}`));
 *   child.on('close', code => console.log(`Process exited: ${code}`));
 *
 * Usage: spawn-ping [HOST] (default 127.0.0.1). Prints "stdout: LINE" and
 * "stderr: LINE" as they arrive, then "Process exited: CODE" and exits with
 * ping's code. Without a `ping` program it reports the spawn error
 * ("spawn ping ENOENT") and exits 1. */
#include <stdio.h>

#include <sluice.h>

static int status;

static void on_line(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  FILE* f = arg;
  fprintf(f, "%s: %.*s\n", f == stdout ? "stdout" : "stderr",
          (int)sl_chunk_len(ev->chunk), sl_chunk_data(ev->chunk));
  fflush(f);
}

/* Each output stream through a line splitter, so lines arrive whole. */
static void stream_lines(sl_stream_t* out, FILE* f) {
  sl_stream_t* lines = sl_line_splitter(NULL);
  sl_stream_on(lines, SL_EV_DATA, on_line, f);
  sl_stream_pipe(out, lines, NULL);
}

static void on_child(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  if (ev->type == SL_CHILD_ERROR) {
    fprintf(stderr, "Failed to start process: %s\n", ev->message);
    status = 1;
  } else if (ev->type == SL_CHILD_CLOSE && status == 0) {
    printf("Process exited: %d\n", ev->exit_code);
    status = ev->exit_code == 0 ? 0 : ev->exit_code > 0 ? ev->exit_code : 1;
  }
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  const char* host = argc > 1 ? argv[1] : "127.0.0.1";
  const char* args[] = {"ping", "-c", "4", host, NULL};
  sl_child_t* c;
  int rc = sl_spawn("ping", args, NULL, &c);
  if (rc != 0) {
    fprintf(stderr, "spawn-ping: %s\n", sl_strerror(rc));
    return 1;
  }
  sl_child_on(c, SL_CHILD_ERROR, on_child, NULL);
  sl_child_on(c, SL_CHILD_CLOSE, on_child, NULL);
  if (sl_child_stdout(c) != NULL) {
    stream_lines(sl_child_stdout(c), stdout);
    stream_lines(sl_child_stderr(c), stderr);
  }
  sl_run();
  return status;
}
