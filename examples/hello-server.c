/* Manual 3.4 (one process): the plain hello-world HTTP server.
 *
 *   http.createServer((req, res) => res.end('Hello World\n')).listen(3000);
 *
 * Usage: hello-server [--port P] (default 3000). Prints "Server listening on
 * http://127.0.0.1:P" once it accepts connections; SIGINT/SIGTERM stop it
 * (the default action). Exits 1 when the port cannot be bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice.h>

static void hello(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)req;
  (void)arg;
  sl_chunk_t* body = sl_chunk_str("Hello World\n");
  sl_stream_end(res, body, NULL, NULL);
  sl_chunk_unref(body);
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  sl_http_server_opts_t o = {.port = 3000};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      o.port = atoi(argv[++i]);
    } else {
      fprintf(stderr, "usage: hello-server [--port P]\n");
      return 2;
    }
  }
  sl_http_server_t* srv;
  int rc = sl_http_listen(&o, hello, NULL, &srv);
  if (rc != 0) {
    fprintf(stderr, "hello-server: %s: %s, listen 127.0.0.1:%d\n",
            sl_err_name(rc), sl_strerror(rc), o.port);
    return 1;
  }
  printf("Server listening on http://127.0.0.1:%d\n",
         sl_http_server_port(srv));
  fflush(stdout);
  return sl_run();
}
