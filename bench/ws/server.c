/* The sluice side of bench/ws: an echo server that also broadcasts.
 * "!bcast COUNT SIZE" from any client sends COUNT binary messages of SIZE
 * bytes to every open connection (one chunk shared by all). Its Node twin
 * is server.js (ws). Usage: server PORT [deflate] */
#include <sluice.h>
#include <stdlib.h>
#include <string.h>

#define MAXC 20000
static sl_stream_t* conns[MAXC];
static int nconns;

static void on_close(sl_stream_t* ws, const sl_event_t* ev, void* arg) {
  (void)ev;
  int i = (int)(intptr_t)sl_stream_data(ws);
  conns[i] = conns[--nconns];
  sl_stream_set_data(conns[i], (void*)(intptr_t)i);
  (void)arg;
}

static void on_message(sl_stream_t* ws, const sl_event_t* ev, void* arg) {
  (void)arg;
  const char* d = sl_chunk_data(ev->chunk);
  size_t n = sl_chunk_len(ev->chunk);
  if (n > 7 && memcmp(d, "!bcast ", 7) == 0) {
    char cmd[64];
    snprintf(cmd, sizeof cmd, "%.*s", (int)(n < 63 ? n : 63), d);
    unsigned long count = 0, size = 0;
    sscanf(cmd + 7, "%lu %lu", &count, &size);
    sl_chunk_t* m = sl_chunk_new(size);
    memset(sl_chunk_data(m), 'b', size);
    sl_chunk_set_tag(m, SL_WS_BINARY);
    for (unsigned long k = 0; k < count; k++)
      for (int i = 0; i < nconns; i++) sl_stream_write(conns[i], m, NULL, NULL);
    sl_chunk_unref(m);
    return;
  }
  sl_stream_write(ws, ev->chunk, NULL, NULL);
}

static void on_connection(sl_stream_t* ws, void* arg) {
  (void)arg;
  if (nconns == MAXC) {
    sl_stream_destroy(ws, 0);
    return;
  }
  sl_stream_set_data(ws, (void*)(intptr_t)nconns);
  conns[nconns++] = ws;
  sl_stream_on(ws, SL_EV_DATA, on_message, NULL);
  sl_stream_on(ws, SL_EV_CLOSE, on_close, NULL);
}

int main(int argc, char** argv) {
  sl_ws_server_opts_t o = {.http.port = argc > 1 ? atoi(argv[1]) : 8080,
                           .http.backlog = 4096,
                           .http.max_connections = MAXC,
                           .max_connections = MAXC,
                           .ws.send_cap = 64u << 20};
  if (argc > 2 && strcmp(argv[2], "deflate") == 0)
    o.ws.deflate = 1; /* with context takeover, as Node's ws defaults */
  if (sl_report(sl_ws_listen(&o, on_connection, NULL, NULL), NULL)) return 1;
  puts("listening");
  fflush(stdout);
  return sl_run();
}
