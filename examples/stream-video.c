/* Manual 2.6, example 4: a streaming HTTP response.
 *
 *   http.createServer((req, res) => {
 *     const stream = fs.createReadStream('video.mp4');
 *     res.writeHead(200, { 'Content-Type': 'video/mp4' });
 *     stream.pipe(res);
 *   }).listen(3000);
 *
 * Plus what a browser needs to seek: Accept-Ranges, and for "Range:
 * bytes=A-B" (or "A-", or "-N") a 206 with Content-Range and the file read
 * from A, as fs.createReadStream(file, {start, end}) would. The length is
 * known, so the bytes leave with sendfile(2), never through user memory.
 * Usage: stream-video FILE [--port P] (default 3000). Prints "Streaming FILE
 * at http://127.0.0.1:P/"; exits 1 if FILE is missing or the port taken. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sluice.h>

/* "bytes=A-B", "bytes=A-", "bytes=-N" into [*start, *end) (end exclusive).
 * Returns 1 for a range to send (206), 0 to send the whole file (200:
 * anything malformed, or several ranges, as `sluice serve` does and the
 * RFC allows), -1 when unsatisfiable (416). */
static int parse_range(const char* h, uint64_t size, uint64_t* start,
                       uint64_t* end) {
  unsigned long long a, b;
  char tail;
  if (strchr(h, ',') != NULL) return 0;
  if (sscanf(h, "bytes=-%llu%c", &b, &tail) == 1) { /* the last b bytes */
    if (b == 0 || size == 0) return -1;
    *start = b < size ? size - b : 0;
    return 1;
  }
  int n = sscanf(h, "bytes=%llu-%llu%c", &a, &b, &tail);
  if (n < 1 || n > 2 || (n == 2 && b < a)) return 0;
  if (a >= size) return -1;
  *start = a;
  if (n == 2 && b + 1 < size) *end = b + 1;
  return 1;
}

static void on_done(int err, const sl_pipeline_result_t* pr, void* arg) {
  (void)arg; /* a viewer that seeks closes its old request */
  if (err != 0 && err != SL_EPREMATURECLOSE && err != SL_ECONNRESET &&
      err != SL_EPIPE)
    fprintf(stderr, "stream-video: %s\n", pr->message);
}

static void on_request(sl_stream_t* req, sl_stream_t* res, void* arg) {
  const char* file = arg;
  struct stat sb;
  if (stat(file, &sb) != 0) {
    sl_http_respond(res, 404, "text/plain", "Not Found\n", 10);
    return;
  }
  uint64_t size = (uint64_t)sb.st_size, start = 0, end = size;
  const char* range = sl_http_header(req, "Range");
  char buf[96];
  sl_http_set_header(res, "Accept-Ranges", "bytes");
  int ranged = range != NULL ? parse_range(range, size, &start, &end) : 0;
  if (ranged < 0) {
    snprintf(buf, sizeof buf, "bytes */%" PRIu64, size);
    sl_http_set_header(res, "Content-Range", buf);
    sl_http_respond(res, 416, "text/plain", "Range Not Satisfiable\n", 22);
    return;
  }
  if (ranged > 0) {
    snprintf(buf, sizeof buf, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start,
             end - 1, size);
    sl_http_set_header(res, "Content-Range", buf);
    sl_http_set_status(res, 206);
  }
  sl_http_set_header(res, "Content-Type", "video/mp4");
  snprintf(buf, sizeof buf, "%" PRIu64, end - start);
  sl_http_set_header(res, "Content-Length", buf);
  if (strcmp(sl_http_method(req), "HEAD") == 0 || end == start) {
    sl_stream_end(res, NULL, NULL, NULL);
    return;
  }
  sl_file_opts_t fo = {.start = start, .end = end};
  sl_pipeline(on_done, NULL, sl_file_reader(file, &fo), res, NULL);
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  const char* file = NULL;
  sl_http_server_opts_t o = {.port = 3000};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
      o.port = atoi(argv[++i]);
    else if (file == NULL && argv[i][0] != '-')
      file = argv[i];
    else
      file = NULL, i = argc;
  }
  if (file == NULL) {
    fprintf(stderr, "usage: stream-video FILE [--port P]\n");
    return 2;
  }
  struct stat sb;
  if (stat(file, &sb) != 0) {
    perror(file);
    return 1;
  }
  sl_http_server_t* srv;
  int rc = sl_http_listen(&o, on_request, (void*)file, &srv);
  if (rc != 0) {
    fprintf(stderr, "stream-video: %s: %s, listen 127.0.0.1:%d\n",
            sl_err_name(rc), sl_strerror(rc), o.port);
    return 1;
  }
  printf("Streaming %s at http://127.0.0.1:%d/\n", file,
         sl_http_server_port(srv));
  fflush(stdout);
  return sl_run();
}
