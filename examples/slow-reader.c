/* Manual 2.9, exercise 1: read a large file and process one chunk per
 * interval, to watch backpressure at work.
 *
 *   stream.on('data', chunk => {
 *     stream.pause();
 *     console.log(`chunk ${n}: ${chunk.length} bytes`);
 *     setTimeout(() => stream.resume(), 1000);
 *   });
 *
 * While the consumer sleeps, the file reader fills its buffer up to the
 * high-water mark and then stops reading: the buffered bytes printed for
 * each chunk never exceed the mark, however large the file.
 *
 * Usage: slow-reader FILE [--interval-ms MS] [--hwm BYTES] */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice.h>

static uint64_t interval_ms = 1000, chunks, bytes, max_buffered;
static int status;

static size_t last_len;

/* The interval is over: report the chunk with what the reader buffered
 * ahead meanwhile (never above the mark), then ask for the next one. */
static void on_tick(sl_timer_t* t, void* arg) {
  sl_stream_t* s = arg;
  size_t buffered = sl_stream_readable_length(s);
  if (buffered > max_buffered) max_buffered = buffered;
  printf("chunk %" PRIu64 ": %zu bytes (buffered %zu of %zu)\n", chunks,
         last_len, buffered, sl_stream_readable_hwm(s));
  fflush(stdout);
  sl_stream_resume(s);
}

static void on_event(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  if (ev->type == SL_EV_DATA) {
    sl_stream_pause(s);
    chunks++;
    last_len = sl_chunk_len(ev->chunk);
    bytes += last_len;
    sl_timer_start(interval_ms, 0, on_tick, s);
  } else if (ev->type == SL_EV_END) {
    printf("Finished: %" PRIu64 " chunks, %" PRIu64
           " bytes; max buffered %" PRIu64 " <= highWaterMark %zu\n",
           chunks, bytes, max_buffered, sl_stream_readable_hwm(s));
  } else if (ev->type == SL_EV_ERROR) {
    fprintf(stderr, "slow-reader: %s\n", ev->message);
    status = 1;
  }
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  const char* path = NULL;
  sl_file_opts_t fo = {0};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--interval-ms") == 0 && i + 1 < argc)
      interval_ms = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--hwm") == 0 && i + 1 < argc)
      fo.high_water_mark = strtoull(argv[++i], NULL, 10);
    else
      path = argv[i];
  }
  if (path == NULL) {
    fprintf(stderr, "usage: slow-reader FILE [--interval-ms MS] [--hwm N]\n");
    return 2;
  }
  sl_stream_t* s = sl_file_reader(path, &fo);
  sl_stream_on(s, SL_EV_DATA, on_event, NULL);
  sl_stream_on(s, SL_EV_END, on_event, NULL);
  sl_stream_on(s, SL_EV_ERROR, on_event, NULL);
  sl_run();
  return status;
}
