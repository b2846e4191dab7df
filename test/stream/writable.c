/* Writable semantics, after Node's test-stream-writable-*, test-stream-writev
 * and test-stream2-writable: the high-water mark and drain, write callbacks
 * and their order, end with a last chunk, cork/uncork into writev, the final
 * hook, write after end, destroy with writes pending, and the
 * callback-called-twice error. */
#include "stream/stream_test_util.h"

/* A sink: logs what its hooks see and completes now, `hops` deferred rounds
 * later (async), or never (holding a reference on the chunk). */
typedef struct {
  sl_stream_t* s;
  evlog_t* log;
  int async, hops, never, twice, final_async;
  int write_err, final_err;
  int writes, writevs, finals;
  size_t maxv;
  sl_chunk_t* held;
  char got[4096];
  size_t ngot;
} snk_t;

static void snk_record(snk_t* k, sl_chunk_t* c) {
  memcpy(k->got + k->ngot, sl_chunk_data(c), sl_chunk_len(c));
  k->ngot += sl_chunk_len(c);
}

static void snk_done_now(void* arg) {
  snk_t* k = arg;
  sl_stream_write_done(k->s, k->write_err);
  if (k->twice == 1) sl_stream_write_done(k->s, 0);
}

static void snk_second_done(void* arg) {
  snk_t* k = arg;
  sl_stream_write_done(k->s, 0);
}

static void snk_complete(snk_t* k) {
  if (k->never) return;
  if (k->async) {
    run_later(k->hops, snk_done_now, k);
    if (k->twice == 2) run_later(k->hops + 3, snk_second_done, k);
  } else {
    snk_done_now(k);
  }
}

static void snk_write(sl_stream_t* s, sl_chunk_t* c) {
  snk_t* k = sl_stream_data(s);
  ASSERT(!in_call);
  k->writes++;
  if (k->log)
    log_add(k->log, "w(%.*s)", (int)sl_chunk_len(c), sl_chunk_data(c));
  snk_record(k, c);
  if (k->never) k->held = sl_chunk_ref(c);
  snk_complete(k);
}

static void snk_writev(sl_stream_t* s, sl_chunk_t** c, size_t n) {
  snk_t* k = sl_stream_data(s);
  ASSERT(!in_call);
  k->writevs++;
  if (n > k->maxv) k->maxv = n;
  if (k->log) log_add(k->log, "wv(%zu)", n);
  for (size_t i = 0; i < n; i++) snk_record(k, c[i]);
  snk_complete(k);
}

static void snk_final_done(void* arg) {
  snk_t* k = arg;
  sl_stream_final_done(k->s, k->final_err);
}

static void snk_final(sl_stream_t* s) {
  snk_t* k = sl_stream_data(s);
  ASSERT(!in_call);
  k->finals++;
  if (k->log) log_add(k->log, "final");
  if (k->final_async)
    run_later(1, snk_final_done, k);
  else
    snk_final_done(k);
}

static const sl_stream_hooks_t write_hooks = {.write = snk_write};
static const sl_stream_hooks_t writev_hooks = {.write = snk_write,
                                               .writev = snk_writev};
static const sl_stream_hooks_t writev_only_hooks = {.writev = snk_writev};
static const sl_stream_hooks_t final_hooks = {.write = snk_write,
                                              .final = snk_final};

static sl_stream_t* snk_new(snk_t* k, const sl_stream_hooks_t* h, size_t hwm) {
  sl_stream_opts_t o = {.hooks = h, .data = k, .high_water_mark = hwm};
  k->s = sl_writable_new(&o);
  ASSERT(k->s != NULL);
  if (k->log) watch(k->s, k->log);
  return k->s;
}

static cbtag_t tags[8];
static cbtag_t* tag(evlog_t* l, int i, const char* name) {
  tags[i] = (cbtag_t){l, name};
  return &tags[i];
}

TEST(stream_writable_hwm_and_drain_once) {
  evlog_t log = {0};
  snk_t k = {.log = &log, .async = 1, .hops = 1};
  sl_stream_t* w = snk_new(&k, &write_hooks, 10);
  int rc;
  CALL(rc = sl_stream_write_bytes(w, "aaaa", 4, on_done_log,
                                  tag(&log, 0, "cb1")));
  ASSERT_EQ(rc, 1);
  CALL(rc = sl_stream_write_bytes(w, "bbbb", 4, on_done_log,
                                  tag(&log, 1, "cb2")));
  ASSERT_EQ(rc, 1);
  CALL(rc = sl_stream_write_bytes(w, "cccc", 4, on_done_log,
                                  tag(&log, 2, "cb3")));
  ASSERT_EQ(rc, 0); /* 12 >= 10: wait for drain */
  ASSERT_EQ(sl_stream_writable_length(w), 12);
  ASSERT_EQ(log.n, 0);
  sl_run();
  ASSERT_STR_EQ(log.s, "w(aaaa) cb1 w(bbbb) cb2 w(cccc) cb3 drain");
  ASSERT_EQ(sl_stream_writable_length(w), 0);
  CALL(sl_stream_end(w, NULL, on_done_log, tag(&log, 3, "end")));
  sl_run();
  ASSERT_STR_EQ(log.s,
                "w(aaaa) cb1 w(bbbb) cb2 w(cccc) cb3 drain finish end close");
}

TEST(stream_writable_no_drain_without_full_buffer) {
  evlog_t log = {0};
  snk_t k = {.log = &log, .async = 1};
  sl_stream_t* w = snk_new(&k, &write_hooks, 10);
  ASSERT_EQ(sl_stream_write_bytes(w, "aa", 2, NULL, NULL), 1);
  sl_run();
  ASSERT_STR_EQ(log.s, "w(aa)");
  sl_stream_end(w, NULL, NULL, NULL);
  sl_run();
  ASSERT_STR_EQ(log.s, "w(aa) finish close");
}

/* A sink that completes synchronously (no hook at all discards): callbacks
 * still run later, in order, and finish waits for all of them. */
TEST(stream_writable_finish_after_all_callbacks) {
  evlog_t log = {0};
  sl_stream_t* w = sl_writable_new(NULL);
  watch(w, &log);
  CALL(sl_stream_write_str(w, "x"));
  CALL(sl_stream_write_bytes(w, "a", 1, on_done_log, tag(&log, 0, "cb1")));
  CALL(sl_stream_write_bytes(w, "b", 1, on_done_log, tag(&log, 1, "cb2")));
  CALL(sl_stream_write_bytes(w, "c", 1, on_done_log, tag(&log, 2, "cb3")));
  CALL(sl_stream_end(w, NULL, on_done_log, tag(&log, 3, "end")));
  ASSERT_EQ(log.n, 0);
  sl_run();
  ASSERT_STR_EQ(log.s, "cb1 cb2 cb3 finish end close");
}

TEST(stream_writable_drain_after_callback_sync_sink) {
  evlog_t log = {0};
  snk_t k = {.log = &log};
  sl_stream_t* w = snk_new(&k, &write_hooks, 2);
  ASSERT_EQ(
      sl_stream_write_bytes(w, "abc", 3, on_done_log, tag(&log, 0, "cb1")), 0);
  sl_run();
  ASSERT_STR_EQ(log.s, "w(abc) cb1 drain");
  sl_stream_end(w, NULL, NULL, NULL);
  sl_run();
}

TEST(stream_writable_end_with_last_chunk) {
  evlog_t log = {0};
  snk_t k = {.log = &log, .async = 1};
  sl_stream_t* w = snk_new(&k, &write_hooks, 0);
  sl_stream_write_bytes(w, "a", 1, on_done_log, tag(&log, 0, "cb1"));
  sl_chunk_t* last = sl_chunk_str("z");
  CALL(ASSERT_EQ(sl_stream_end(w, last, on_done_log, tag(&log, 1, "end")), 0));
  sl_chunk_unref(last);
  ASSERT(!sl_stream_is_writable(w));
  sl_run();
  ASSERT_STR_EQ(log.s, "w(a) cb1 w(z) finish end close");
  ASSERT_EQ(k.ngot, 2);
}

TEST(stream_writable_cork_uncork_writev) {
  evlog_t log = {0};
  snk_t k = {.log = &log};
  sl_stream_t* w = snk_new(&k, &writev_hooks, 0);
  sl_stream_cork(w);
  sl_stream_cork(w);
  sl_stream_write_str(w, "a");
  sl_stream_write_str(w, "b");
  sl_stream_uncork(w);
  sl_stream_write_str(w, "c");
  sl_run();
  ASSERT_EQ(log.n, 0); /* still corked once */
  ASSERT_EQ(sl_stream_writable_length(w), 3);
  sl_stream_uncork(w);
  sl_run();
  ASSERT_STR_EQ(log.s, "wv(3)");
  ASSERT_EQ(k.writevs, 1);
  ASSERT_EQ(k.writes, 0);
  ASSERT_MEM_EQ(k.got, "abc", 3);
  sl_stream_end(w, NULL, NULL, NULL);
  sl_run();
}

TEST(stream_writable_end_uncorks) {
  evlog_t log = {0};
  snk_t k = {.log = &log};
  sl_stream_t* w = snk_new(&k, &writev_hooks, 0);
  sl_stream_cork(w);
  sl_stream_write_str(w, "a");
  sl_stream_write_str(w, "b");
  sl_stream_end(w, NULL, NULL, NULL);
  sl_run();
  ASSERT_STR_EQ(log.s, "wv(2) finish close");
}

TEST(stream_writable_writev_batches_while_busy) {
  evlog_t log = {0};
  snk_t k = {.log = &log, .async = 1, .hops = 2};
  sl_stream_t* w = snk_new(&k, &writev_hooks, 0);
  sl_stream_write_str(w, "a");
  sl_run();
  sl_stream_write_str(w, "b");
  sl_stream_write_str(w, "c");
  sl_stream_write_str(w, "d");
  sl_stream_end(w, NULL, NULL, NULL);
  sl_run();
  ASSERT_STR_EQ(log.s, "w(a) wv(3) finish close");
  ASSERT_EQ(k.maxv, 3);
  ASSERT_MEM_EQ(k.got, "abcd", 4);
}

/* Node's Writable calls writev with one chunk when only writev exists. */
TEST(stream_writable_writev_only_hook) {
  evlog_t log = {0};
  snk_t k = {.log = &log};
  sl_stream_t* w = snk_new(&k, &writev_only_hooks, 0);
  sl_stream_write_str(w, "x");
  sl_stream_end(w, NULL, NULL, NULL);
  sl_run();
  ASSERT_STR_EQ(log.s, "wv(1) finish close");
  ASSERT_EQ(k.ngot, 1);
}

TEST(stream_writable_final_before_finish) {
  evlog_t log = {0};
  snk_t k = {.log = &log, .async = 1, .final_async = 1};
  sl_stream_t* w = snk_new(&k, &final_hooks, 0);
  sl_stream_write_str(w, "a");
  sl_stream_end(w, NULL, on_done_log, tag(&log, 0, "end"));
  sl_run();
  ASSERT_STR_EQ(log.s, "w(a) final finish end close");
  ASSERT_EQ(k.finals, 1);
}

TEST(stream_writable_final_error) {
  evlog_t log = {0};
  snk_t k = {.log = &log, .final_async = 1, .final_err = SL_EIO};
  sl_stream_t* w = snk_new(&k, &final_hooks, 0);
  sl_stream_write_bytes(w, "a", 1, on_done_log, tag(&log, 0, "cb1"));
  sl_stream_end(w, NULL, on_done_log, tag(&log, 1, "end"));
  sl_run();
  ASSERT_STR_EQ(log.s, "w(a) cb1 final error(EIO) end(EIO) close");
}

static char wmsg[256];
static void save_msg_w(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  (void)arg;
  snprintf(wmsg, sizeof wmsg, "%s", ev->message ? ev->message : "(null)");
}

TEST(stream_writable_write_after_end) {
  evlog_t log = {0};
  snk_t k = {.log = &log};
  sl_stream_t* w = snk_new(&k, &write_hooks, 0);
  sl_stream_on(w, SL_EV_ERROR, save_msg_w, NULL);
  sl_stream_end(w, NULL, NULL, NULL);
  int rc;
  CALL(rc = sl_stream_write_bytes(w, "late", 4, on_done_log,
                                  tag(&log, 0, "cb")));
  ASSERT_EQ(rc, SL_EWRITEAFTEREND);
  sl_run();
  ASSERT_STR_EQ(log.s, "error(EWRITEAFTEREND) close");
  ASSERT_STR_EQ(wmsg, "EWRITEAFTEREND: write after end, write");
  ASSERT_EQ(k.writes, 0);
}

TEST(stream_writable_end_twice) {
  evlog_t log = {0};
  snk_t k = {.log = &log};
  sl_stream_t* w = snk_new(&k, &write_hooks, 0);
  ASSERT_EQ(sl_stream_end(w, NULL, on_done_log, tag(&log, 0, "end1")), 0);
  ASSERT_EQ(sl_stream_end(w, NULL, on_done_log, tag(&log, 1, "end2")),
            SL_EWRITEAFTEREND);
  sl_run();
  ASSERT_STR_EQ(log.s, "finish end1 close");
}

TEST(stream_writable_destroy_pending_write) {
  evlog_t log = {0};
  snk_t k = {.log = &log, .never = 1};
  sl_stream_t* w = snk_new(&k, &write_hooks, 0);
  sl_stream_ref(w);
  sl_stream_write_bytes(w, "a", 1, on_done_log, tag(&log, 0, "cb1"));
  sl_stream_write_bytes(w, "b", 1, on_done_log, tag(&log, 1, "cb2"));
  sl_stream_end(w, NULL, on_done_log, tag(&log, 2, "end"));
  sl_run();
  ASSERT_STR_EQ(log.s, "w(a)"); /* in flight; b queued */
  CALL(sl_stream_destroy(w, 0));
  sl_run();
  ASSERT_STR_EQ(log.s,
                "w(a) cb1(ECANCELED) cb2(ECANCELED) end(EDESTROYED) close");
  /* The hook completes late: ignored, nothing runs, nothing crashes. */
  sl_stream_write_done(w, 0);
  sl_stream_write_done(w, SL_EIO);
  sl_run();
  ASSERT_STR_EQ(log.s,
                "w(a) cb1(ECANCELED) cb2(ECANCELED) end(EDESTROYED) close");
  ASSERT_EQ(sl_stream_write_str(w, "x"), SL_EDESTROYED);
  sl_stream_unref(w);
  sl_chunk_unref(k.held);
}

TEST(stream_writable_destroy_error_pending_write) {
  evlog_t log = {0};
  snk_t k = {.log = &log, .never = 1};
  sl_stream_t* w = snk_new(&k, &write_hooks, 0);
  sl_stream_write_bytes(w, "a", 1, on_done_log, tag(&log, 0, "cb1"));
  sl_run();
  CALL(sl_stream_destroy(w, SL_EPIPE));
  sl_run();
  ASSERT_STR_EQ(log.s, "w(a) cb1(EPIPE) error(EPIPE) close");
  sl_chunk_unref(k.held);
}

/* test-stream-writable-write-cb-twice: sync+sync and async+async. */
TEST(stream_writable_write_done_twice_sync) {
  evlog_t log = {0};
  snk_t k = {.log = &log, .twice = 1};
  sl_stream_t* w = snk_new(&k, &write_hooks, 0);
  sl_stream_write_bytes(w, "hi", 2, on_done_log, tag(&log, 0, "cb1"));
  sl_run();
  ASSERT_STR_EQ(log.s, "w(hi) cb1 error(EMULTIPLECB) close");
}

TEST(stream_writable_write_done_twice_async) {
  evlog_t log = {0};
  snk_t k = {.log = &log, .async = 1, .twice = 2};
  sl_stream_t* w = snk_new(&k, &write_hooks, 0);
  sl_stream_write_bytes(w, "hi", 2, on_done_log, tag(&log, 0, "cb1"));
  sl_run();
  ASSERT_STR_EQ(log.s, "w(hi) cb1 error(EMULTIPLECB) close");
}

TEST(stream_writable_write_error) {
  evlog_t log = {0};
  snk_t k = {.log = &log, .async = 1, .write_err = SL_EPIPE};
  sl_stream_t* w = snk_new(&k, &write_hooks, 0);
  sl_stream_write_bytes(w, "a", 1, on_done_log, tag(&log, 0, "cb1"));
  sl_stream_write_bytes(w, "b", 1, on_done_log, tag(&log, 1, "cb2"));
  sl_stream_end(w, NULL, on_done_log, tag(&log, 2, "end"));
  sl_run();
  ASSERT_STR_EQ(log.s,
                "w(a) cb1(EPIPE) cb2(EPIPE) error(EPIPE) end(EPIPE) close");
  ASSERT_EQ(k.writes, 1);
}

TEST(stream_writable_object_mode_hwm) {
  sl_stream_opts_t o = {.object_mode = 1, .high_water_mark = 2};
  sl_stream_t* w = sl_writable_new(&o);
  sl_chunk_t* c = sl_chunk_object((void*)(intptr_t)1, NULL, NULL);
  ASSERT_EQ(sl_stream_write(w, c, NULL, NULL), 1);
  ASSERT_EQ(sl_stream_write(w, c, NULL, NULL), 0);
  ASSERT_EQ(sl_stream_writable_length(w), 2);
  ASSERT_EQ(sl_stream_writable_hwm(w), 2);
  sl_chunk_unref(c);
  sl_stream_end(w, NULL, NULL, NULL);
  sl_run();
}

TEST(stream_writable_side_checks) {
  sl_stream_t* r = sl_readable_new(NULL);
  ASSERT_EQ(sl_stream_write_str(r, "x"), SL_ENOTWRITABLE);
  ASSERT_EQ(sl_stream_end(r, NULL, NULL, NULL), SL_ENOTWRITABLE);
  ASSERT(!sl_stream_is_writable(r));
  ASSERT(sl_stream_is_readable(r));
  sl_stream_destroy(r, 0);
  sl_run();
}

TEST(stream_writable_stats) {
  snk_t k = {.async = 1};
  sl_stream_t* w = snk_new(&k, &write_hooks, 4);
  sl_stream_ref(w);
  for (int i = 0; i < 10; i++) sl_stream_write_bytes(w, "abc", 3, NULL, NULL);
  sl_stream_end(w, NULL, NULL, NULL);
  sl_run();
  sl_stream_stats_t st;
  sl_stream_stats(w, &st);
  ASSERT_EQ(st.bytes_written, 30);
  ASSERT_EQ(st.max_buffered, 30);
  ASSERT(sl_stream_writable_finished(w));
  ASSERT(sl_stream_closed(w));
  sl_stream_unref(w);
}

/* No callback runs inside the call that caused it, even on a sink that
 * completes synchronously. */
static int cb_ran;
static void mark_cb(sl_stream_t* s, int err, void* arg) {
  (void)s;
  (void)err;
  (void)arg;
  ASSERT(!in_call);
  cb_ran++;
}

TEST(stream_writable_callbacks_never_inside_call) {
  snk_t k = {0};
  sl_stream_t* w = snk_new(&k, &write_hooks, 1);
  CALL(sl_stream_write_bytes(w, "ab", 2, mark_cb, NULL));
  CALL(sl_stream_write_bytes(w, "cd", 2, mark_cb, NULL));
  CALL(sl_stream_end(w, NULL, mark_cb, NULL));
  ASSERT_EQ(cb_ran, 0);
  ASSERT_EQ(k.writes, 0); /* even the hook runs from the loop */
  sl_run();
  ASSERT_EQ(cb_ran, 3);
}

TEST(stream_writable_end_str) {
  evlog_t log = {0};
  snk_t k = {.log = &log, .async = 1};
  sl_stream_t* w = snk_new(&k, &write_hooks, 0);
  CALL(ASSERT_EQ(sl_stream_end_str(w, "bye"), 0));
  ASSERT_EQ(sl_stream_end_str(w, "again"), SL_EWRITEAFTEREND);
  sl_run();
  ASSERT_STR_EQ(log.s, "w(bye) finish close");
  evlog_t log2 = {0};
  snk_t k2 = {.log = &log2, .async = 1};
  sl_stream_t* e = snk_new(&k2, &write_hooks, 0);
  ASSERT_EQ(sl_stream_end_str(e, ""), 0);
  ASSERT(!sl_stream_is_writable(e));
  sl_run();
  ASSERT_STR_EQ(log2.s, "finish close");
}
