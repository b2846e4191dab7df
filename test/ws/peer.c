/* The WebSocket peer the conformance suite (test/ws/conformance.py) and the
 * interop scripts (test/e2e/ws_*.sh) drive: an echo server or an echo
 * client, set up from the environment.
 *
 *   WS_MODE         server (default) or client
 *   WS_PORT_FILE    server: the port is written there once listening
 *   WS_URL          client: ws://host:port/prefix; with WS_CASES=N the
 *                   client connects to PREFIX1 .. PREFIXN in turn
 *   WS_MAX_MESSAGE, WS_MAX_FRAME, WS_DEFLATE (1: with context takeover,
 *   2: without), WS_FRAGMENTS, WS_PING_MS, WS_PONG_MS, WS_SEND_CAP,
 *   WS_POLICY (drop), WS_CLOSE_MS, WS_PROTOCOLS (comma-separated)
 *
 * Each connection's end is one line on stdout:
 *   end <path> code=<peer close code> reason=<...> err=<its error or ->
 * and a server answers "!stats" with "<messages> <bytes> <dropped>". The
 * server also serves /page.html (the Chromium case) from WS_PAGE. */
#include "test.h"

static sl_ws_opts_t wo;
static const char* protos[8];
static int cases, case_no;
static const char* url;

static size_t env_size(const char* name) {
  const char* v = getenv(name);
  return v != NULL ? (size_t)strtoull(v, NULL, 10) : 0;
}

static void setup(void) {
  wo.max_message = env_size("WS_MAX_MESSAGE");
  wo.max_frame = env_size("WS_MAX_FRAME");
  size_t d = env_size("WS_DEFLATE");
  wo.deflate = d != 0;
  wo.deflate_no_context_takeover = d == 2;
  wo.fragments = (int)env_size("WS_FRAGMENTS");
  wo.ping_interval_ms = env_size("WS_PING_MS");
  wo.pong_timeout_ms = env_size("WS_PONG_MS");
  wo.send_cap = env_size("WS_SEND_CAP");
  wo.close_timeout_ms = env_size("WS_CLOSE_MS");
  const char* p = getenv("WS_POLICY");
  wo.send_policy = p != NULL && strcmp(p, "drop") == 0 ? SL_WS_CAP_DROP : 0;
  static char list[256];
  const char* pl = getenv("WS_PROTOCOLS");
  if (pl != NULL) {
    snprintf(list, sizeof list, "%s", pl);
    int n = 0;
    for (char* t = strtok(list, ","); t != NULL && n < 7; t = strtok(NULL, ","))
      protos[n++] = t;
    wo.protocols = protos;
  }
}

typedef struct {
  char path[600];
  char err[300]; /* the stream's error message, "-" for none */
  uint64_t msgs, bytes;
} conn_t;

static void on_event(sl_stream_t* ws, const sl_event_t* ev, void* arg);

static void on_close(sl_stream_t* ws, conn_t* c) {
  printf("end %s code=%d reason=%s err=%s\n", c->path, sl_ws_close_code(ws),
         sl_ws_close_reason(ws), c->err[0] ? c->err : "-");
  fflush(stdout);
}

static void watch(sl_stream_t* ws, conn_t* c) {
  sl_stream_on(ws, SL_EV_DATA, on_event, c);
  sl_stream_on(ws, SL_EV_ERROR, on_event, c);
  sl_stream_on(ws, SL_EV_CLOSE, on_event, c);
  sl_stream_on(ws, SL_EV_DRAIN, on_event, c);
}

static void next_case(void);

static void on_event(sl_stream_t* ws, const sl_event_t* ev, void* arg) {
  conn_t* c = arg;
  switch (ev->type) {
    case SL_EV_DATA: {
      size_t n = sl_chunk_len(ev->chunk);
      c->msgs++;
      c->bytes += n;
      if (n == 6 && memcmp(sl_chunk_data(ev->chunk), "!stats", 6) == 0) {
        sl_ws_sendf(ws, "%llu %llu %llu", (unsigned long long)c->msgs,
                    (unsigned long long)c->bytes,
                    (unsigned long long)sl_ws_dropped(ws));
        return;
      }
      if (n == 6 && memcmp(sl_chunk_data(ev->chunk), "!close", 6) == 0) {
        sl_ws_close(ws, 4000, "asked to");
        return;
      }
      sl_stream_write(ws, ev->chunk, NULL, NULL);
      return;
    }
    case SL_EV_ERROR:
      snprintf(c->err, sizeof c->err, "%s", ev->message);
      return;
    case SL_EV_CLOSE:
      on_close(ws, c);
      free(c);
      if (url != NULL) next_case();
      return;
    default:
      return;
  }
}

static void on_connection(sl_stream_t* ws, void* arg) {
  (void)arg;
  conn_t* c = calloc(1, sizeof *c);
  sl_stream_t* req = sl_ws_request(ws);
  snprintf(c->path, sizeof c->path, "%s", sl_http_url(req));
  watch(ws, c);
}

static void page(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  const char* file = getenv("WS_PAGE");
  if (file != NULL && sl_http_is(req, "GET", "/page.html")) {
    sl_http_set_header(res, "Content-Type", "text/html; charset=utf-8");
    sl_stream_pipe(sl_file_reader(file, NULL), res, NULL);
    return;
  }
  sl_http_respond(res, 404, "text/plain", "not found\n", 10);
}

static void next_case(void) {
  if (case_no >= cases) return;
  case_no++;
  char u[512];
  if (cases > 1)
    snprintf(u, sizeof u, "%s%d", url, case_no);
  else
    snprintf(u, sizeof u, "%s", url);
  conn_t* c = calloc(1, sizeof *c);
  snprintf(c->path, sizeof c->path, "%s", u);
  sl_stream_t* ws = sl_ws_connect(u, &wo);
  if (ws == NULL) {
    printf("end %s code=0 reason= err=bad url\n", u);
    fflush(stdout);
    free(c);
    next_case();
    return;
  }
  watch(ws, c);
}

HELPER(ws_peer) {
  setup();
  const char* mode = getenv("WS_MODE");
  if (mode != NULL && strcmp(mode, "client") == 0) {
    url = getenv("WS_URL");
    ASSERT(url != NULL);
    cases = env_size("WS_CASES") ? (int)env_size("WS_CASES") : 1;
    next_case();
    ASSERT_EQ(sl_run(), 0);
    return;
  }
  const char* pf = getenv("WS_PORT_FILE");
  ASSERT(pf != NULL);
  sl_ws_server_opts_t o = {.ws = wo, .http_handler = page};
  sl_http_server_t* srv;
  ASSERT_EQ(sl_ws_listen(&o, on_connection, NULL, &srv), 0);
  char num[16];
  int n = snprintf(num, sizeof num, "%d\n", sl_http_server_port(srv));
  sl_test_write_file(pf, num, (size_t)n);
  ASSERT_EQ(sl_run(), 0);
}
