/* The load figures a process keeps (worker_net.c: sl_load_self, the
 * numbers a worker's load report and /metrics carry): exchanges by status
 * class, body bytes and a duration histogram whose buckets add up to the
 * exchanges; a server marked unmetered (an admin port) is left out. */
#include "http/server_util.h"

static void answer(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  int missing = strcmp(sl_http_path(req), "/missing") == 0;
  sl_http_respond(res, missing ? 404 : 200, "text/plain", "12345", 5);
}

static void serve_raw(const sl_http_server_opts_t* o, raw_t* r) {
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(o, answer, NULL, &srv), 0);
  raw_start(r, sl_http_server_port(srv));
  raw_t* v[] = {r};
  drive(srv, v, 1);
}

static uint64_t histogram_total(const sl_worker_load_t* l) {
  uint64_t n = l->duration_over;
  for (int i = 0; i < SL_DURATION_BUCKETS; i++) n += l->duration_buckets[i];
  return n;
}

TEST(load_self_counts_exchanges) {
  sl_worker_load_t before, after;
  sl_load_self(&before);
  raw_t r = {.parts = {"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"},
             .nparts = 1,
             .want = 3};
  serve_raw(NULL, &r);
  raw_free(&r);
  sl_load_self(&after);
  ASSERT_EQ(after.requests - before.requests, 3);
  ASSERT_EQ(after.responses[1] - before.responses[1], 2); /* 2xx */
  ASSERT_EQ(after.responses[3] - before.responses[3], 1); /* 4xx */
  ASSERT_EQ(after.bytes_sent - before.bytes_sent, 15);
  ASSERT_EQ(histogram_total(&after) - histogram_total(&before), 3);
  ASSERT(after.duration_sum_s >= before.duration_sum_s);
  ASSERT_EQ(after.connections, 0);
}

/* A request the parser refuses (400) counts as a 4xx exchange. */
TEST(load_self_counts_refused) {
  sl_worker_load_t before, after;
  sl_load_self(&before);
  raw_t r = {.parts = {"BAD\r\n\r\n"}, .nparts = 1, .want = 1};
  serve_raw(NULL, &r);
  raw_free(&r);
  sl_load_self(&after);
  ASSERT_EQ(after.responses[3] - before.responses[3], 1);
  ASSERT_EQ(histogram_total(&after) - histogram_total(&before), 1);
}

TEST(load_self_leaves_out_unmetered_servers) {
  sl_worker_load_t before, after;
  sl_load_self(&before);
  sl_http_server_opts_t o = {.unmetered = 1};
  raw_t r = {
      .parts = {"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"}, .nparts = 1, .want = 1};
  serve_raw(&o, &r);
  raw_free(&r);
  sl_load_self(&after);
  ASSERT_EQ(after.requests, before.requests);
  ASSERT_EQ(after.accepted, before.accepted);
  ASSERT_EQ(histogram_total(&after), histogram_total(&before));
  ASSERT_EQ(after.responses[1], before.responses[1]);
}

TEST(load_bucket_bounds) {
  ASSERT(sl_load_bucket_le(0) == 0.001);
  ASSERT(sl_load_bucket_le(SL_DURATION_BUCKETS - 1) == 10);
  ASSERT(sl_load_bucket_le(SL_DURATION_BUCKETS) == -1);
  ASSERT(sl_load_bucket_le(-1) == -1);
  for (int i = 1; i < SL_DURATION_BUCKETS; i++)
    ASSERT(sl_load_bucket_le(i) > sl_load_bucket_le(i - 1));
}
