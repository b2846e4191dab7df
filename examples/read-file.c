/* Manual 2.6, example 1: read a file as a stream of UTF-8 text.
 *
 *   const stream = fs.createReadStream('example.txt', { encoding: 'utf8' });
 *   stream.on('data', chunk => console.log('Received chunk:', chunk));
 *   stream.on('end', () => console.log('Finished reading file.'));
 *
 * Usage: read-file FILE. Exits 1 with the error's message when FILE cannot
 * be read. */
#include <stdio.h>

#include <sluice.h>

static int status;

static void on_event(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  switch (ev->type) {
    case SL_EV_DATA:
      printf("Received chunk: %.*s\n", (int)sl_chunk_len(ev->chunk),
             sl_chunk_data(ev->chunk));
      break;
    case SL_EV_END:
      printf("Finished reading file.\n");
      break;
    case SL_EV_ERROR:
      fprintf(stderr, "read-file: %s\n", ev->message);
      status = 1;
      break;
    default:
      break;
  }
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  if (argc != 2) {
    fprintf(stderr, "usage: read-file FILE\n");
    return 2;
  }
  sl_stream_t* stream = sl_file_reader(argv[1], NULL);
  sl_stream_set_encoding(stream, SL_ENC_UTF8);
  sl_stream_on(stream, SL_EV_DATA, on_event, NULL);
  sl_stream_on(stream, SL_EV_END, on_event, NULL);
  sl_stream_on(stream, SL_EV_ERROR, on_event, NULL);
  sl_run();
  return status;
}
