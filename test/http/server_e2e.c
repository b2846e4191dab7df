/* A helper server for test/e2e/http_server.sh (the test binary run under a
 * helper name, libuv's spawn_helper pattern; a HELPER, not a ctest test).
 * It needs SL_HTTP_PORT_FILE in the environment: the server writes its port
 * there and serves until GET /quit:
 *   /echo   the request body piped straight back (chunked)
 *   /len    the number of body bytes, read as fast as they come
 *   /slow   the same, read 64 KiB every 2 ms (a slow consumer)
 *   /quit   closes the server gracefully
 * Each request is logged on stderr (access_log). */
#include <stdio.h>
#include <stdlib.h>

#include "test.h"

static sl_http_server_t* srv;

typedef struct {
  sl_stream_t* req;
  sl_stream_t* res;
  uint64_t total;
  sl_timer_t* t;
} count_t;

static void count_done(count_t* c) {
  char num[32];
  snprintf(num, sizeof num, "%llu\n", (unsigned long long)c->total);
  sl_http_respond(c->res, 200, "text/plain", num, strlen(num));
  free(c);
}

static void count_event(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  count_t* c = arg;
  (void)s;
  if (ev->type == SL_EV_DATA) c->total += sl_chunk_len(ev->chunk);
  if (ev->type == SL_EV_END) count_done(c);
}

static void slow_tick(sl_timer_t* t, void* arg) {
  count_t* c = arg;
  sl_chunk_t* ch = sl_stream_read(c->req, 0);
  if (ch != NULL) {
    c->total += sl_chunk_len(ch);
    sl_chunk_unref(ch);
  } else if (sl_stream_ended(c->req) || !sl_stream_is_readable(c->req)) {
    sl_timer_stop(t);
    count_done(c);
  }
}

static void on_slow_readable(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s, (void)ev, (void)arg;
}

static void on_closed(void* arg) { (void)arg; }

static void handler(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  const char* p = sl_http_path(req);
  if (strcmp(p, "/quit") == 0) {
    sl_http_respond(res, 200, "text/plain", "bye\n", 4);
    sl_http_server_close(srv, on_closed, NULL);
  } else if (strcmp(p, "/echo") == 0) {
    sl_http_set_header(res, "Content-Type", "application/octet-stream");
    sl_stream_pipe(req, res, NULL);
  } else if (strcmp(p, "/len") == 0 || strcmp(p, "/slow") == 0) {
    count_t* c = calloc(1, sizeof *c);
    c->req = req;
    c->res = res;
    if (p[1] == 'l') {
      sl_stream_on(req, SL_EV_DATA, count_event, c);
      sl_stream_on(req, SL_EV_END, count_event, c);
    } else {
      sl_stream_on(req, SL_EV_READABLE, on_slow_readable, c);
      c->t = sl_timer_start(2, 2, slow_tick, c);
    }
  } else {
    sl_http_respond(res, 404, "text/plain", "not found\n", 10);
  }
}

HELPER(http_server_echo_helper) {
  const char* pf = getenv("SL_HTTP_PORT_FILE");
  if (pf == NULL) sl_test_fail(__FILE__, __LINE__, "SL_HTTP_PORT_FILE unset");
  sl_http_server_opts_t o = {.access_log = 1};
  ASSERT_EQ(sl_http_listen(&o, handler, NULL, &srv), 0);
  char num[16];
  int n = snprintf(num, sizeof num, "%d\n", sl_http_server_port(srv));
  sl_test_write_file(pf, num, (size_t)n);
  ASSERT_EQ(sl_run(), 0);
}
