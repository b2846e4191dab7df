/* Manual 2.3 (Duplex: WebSockets): a WebSocket echo server, each message
 * sent back as it came (text as text, binary as binary). Its Node twin,
 * with the ws package:
 *
 *   const { WebSocketServer } = require('ws');
 *   const wss = new WebSocketServer({ port: 8080 });
 *   wss.on('connection', (ws) => {
 *     ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
 *   });
 *
 * Usage: ws-echo [--port P] [--deflate] (default 8080). Prints "Listening
 * on ws://127.0.0.1:P" once it accepts connections. --deflate accepts
 * permessage-deflate (without context takeover: bounded memory). The echo
 * is a pipe of the socket into itself, with backpressure: a client that
 * sends faster than it reads is slowed down, not buffered for.
 *
 * Lines: 10 of C like for like (24 in all) against the Node twin's 5 of JS: 2.0x */
#include <sluice.h>
/* extra: for the command line */
#include <stdlib.h>
#include <string.h>
/* end extra */

static void on_connection(sl_stream_t* ws, void* arg) {
  sl_stream_pipe(ws, ws, NULL); /* each message back, its kind kept */
}

int main(int argc, char** argv) {
  sl_ws_server_opts_t o = {.http.port = 8080};
  /* extra: --port, --deflate, and the address once listening */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      o.http.port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--deflate") == 0) {
      o.ws.deflate = o.ws.deflate_no_context_takeover = 1;
    } else {
      fputs("usage: ws-echo [--port P] [--deflate]\n", stderr);
      return 2;
    }
  }
  /* end extra */
  sl_http_server_t* srv;
  if (sl_report(sl_ws_listen(&o, on_connection, NULL, &srv), NULL)) return 1;
  /* extra: */
  printf("Listening on ws://127.0.0.1:%d\n", sl_http_server_port(srv));
  fflush(stdout);
  /* end extra */
  return sl_run();
}
