/* Manual 2.9, exercise 3: an HTTP server that streams a log file, gzipped
 * when the client sends Accept-Encoding: gzip.
 *
 *   http.createServer((req, res) => {
 *     const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] || '');
 *     res.setHeader('Content-Type', 'text/plain; charset=utf-8');
 *     res.setHeader('Vary', 'Accept-Encoding');
 *     const log = fs.createReadStream('server.log');
 *     if (gzip) {
 *       res.setHeader('Content-Encoding', 'gzip');
 *       pipeline(log, zlib.createGzip(), res, () => {});
 *     } else {
 *       pipeline(log, res, () => {});
 *     }
 *   }).listen(3000);
 *
 * Memory stays at the streams' high-water marks whatever the log's size:
 * the gzip Transform pauses the file while the client is slow. Without
 * gzip the length is known and the file goes out with sendfile(2).
 * Usage: log-server FILE [--port P] (default 3000), any path. */
#define _GNU_SOURCE /* strcasestr */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <sluice.h>

/* Whether Accept-Encoding names gzip without "q=0". */
static int wants_gzip(const char* ae) {
  for (const char* p = ae; p != NULL && (p = strcasestr(p, "gzip")) != NULL;
       p += 4) {
    const char* end = p + 4 + strcspn(p + 4, ",");
    const char* q = strstr(p, "q=");
    if (q == NULL || q > end || strtod(q + 2, NULL) > 0) return 1;
  }
  return 0;
}

static void on_done(int err, const sl_pipeline_result_t* pr, void* arg) {
  (void)arg;
  if (err != 0 && err != SL_EPREMATURECLOSE && err != SL_ECONNRESET &&
      err != SL_EPIPE)
    fprintf(stderr, "log-server: %s\n", pr->message);
}

static void on_request(sl_stream_t* req, sl_stream_t* res, void* arg) {
  const char* file = arg;
  sl_http_set_header(res, "Content-Type", "text/plain; charset=utf-8");
  sl_http_set_header(res, "Vary", "Accept-Encoding");
  if (wants_gzip(sl_http_header(req, "Accept-Encoding"))) {
    sl_http_set_header(res, "Content-Encoding", "gzip");
    sl_pipeline(on_done, NULL, sl_file_reader(file, NULL), sl_gzip(NULL), res);
    return;
  }
  struct stat sb;
  if (stat(file, &sb) == 0) {
    char len[32];
    snprintf(len, sizeof len, "%" PRIu64, (uint64_t)sb.st_size);
    sl_http_set_header(res, "Content-Length", len);
  }
  sl_pipeline(on_done, NULL, sl_file_reader(file, NULL), res);
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
    fprintf(stderr, "usage: log-server FILE [--port P]\n");
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
    fprintf(stderr, "log-server: %s: %s, listen 127.0.0.1:%d\n",
            sl_err_name(rc), sl_strerror(rc), o.port);
    return 1;
  }
  printf("Serving %s at http://127.0.0.1:%d/\n", file,
         sl_http_server_port(srv));
  fflush(stdout);
  return sl_run();
}
