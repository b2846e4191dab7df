/* Duplex and Transform semantics, after Node's test-stream-duplex*,
 * test-stream2-transform and test-stream-transform-*: independent sides,
 * end_on_end (allowHalfOpen: false), transform + flush order, PassThrough,
 * the hold rule that carries backpressure through a transform, object
 * mode, and errors from the hooks. */
#include "stream/stream_test_util.h"

/* --- Duplex ---------------------------------------------------------------- */

static evlog_t* wlog;
static void log_write(sl_stream_t* s, sl_chunk_t* c) {
  log_add(wlog, "w(%.*s)", (int)sl_chunk_len(c), sl_chunk_data(c));
  sl_stream_write_done(s, 0);
}
static const sl_stream_hooks_t duplex_hooks = {.write = log_write};

static sl_stream_t* duplex_new(evlog_t* log, int end_on_end) {
  sl_stream_opts_t o = {.hooks = &duplex_hooks, .end_on_end = end_on_end};
  sl_stream_t* d = sl_duplex_new(&o);
  wlog = log;
  watch(d, log);
  return d;
}

TEST(stream_duplex_sides_independent) {
  evlog_t log = {0};
  sl_stream_t* d = duplex_new(&log, 0);
  sl_stream_push_bytes(d, "r1", 2);
  sl_stream_push(d, NULL);
  sl_stream_on(d, SL_EV_DATA, on_log, &log);
  sl_run();
  /* The readable side ended; the writable side is still open (Node's
   * allowHalfOpen default) and the stream is not closed. */
  ASSERT_STR_EQ(log.s, "resume data(r1) end");
  ASSERT(sl_stream_is_writable(d));
  ASSERT(!sl_stream_is_readable(d));
  sl_stream_write_str(d, "w1");
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(r1) end w(w1)");
  sl_stream_end(d, NULL, NULL, NULL);
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(r1) end w(w1) finish close");
}

TEST(stream_duplex_writable_side_first) {
  evlog_t log = {0};
  sl_stream_t* d = duplex_new(&log, 0);
  sl_chunk_t* last = sl_chunk_str("w");
  sl_stream_end(d, last, NULL, NULL);
  sl_chunk_unref(last);
  sl_stream_on(d, SL_EV_DATA, on_log, &log);
  sl_run();
  /* One process() runs the writable side first, then the readable side. */
  ASSERT_STR_EQ(log.s, "w(w) finish resume");
  ASSERT(sl_stream_is_readable(d));
  sl_stream_push_bytes(d, "r", 1);
  sl_stream_push(d, NULL);
  sl_run();
  ASSERT_STR_EQ(log.s, "w(w) finish resume data(r) end close");
}

TEST(stream_duplex_end_on_end) {
  evlog_t log = {0};
  sl_stream_t* d = duplex_new(&log, 1);
  sl_stream_push_bytes(d, "r1", 2);
  sl_stream_push(d, NULL);
  sl_stream_on(d, SL_EV_DATA, on_log, &log);
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(r1) end finish close");
}

/* --- Transform ------------------------------------------------------------ */

typedef struct {
  int calls, flushes, async, fail_on_bad, flush_err;
  evlog_t* log;
} tx_t;

static void upper_push(sl_stream_t* s, sl_chunk_t* c) {
  sl_chunk_t* out = sl_chunk_new(sl_chunk_len(c));
  for (size_t i = 0; i < sl_chunk_len(c); i++) {
    char ch = sl_chunk_data(c)[i];
    sl_chunk_data(out)[i] = ch >= 'a' && ch <= 'z' ? ch - 32 : ch;
  }
  sl_stream_push(s, out);
  sl_chunk_unref(out);
}

typedef struct {
  sl_stream_t* s;
  sl_chunk_t* c;
} pending_t;

static void upper_later(void* arg) {
  pending_t* p = arg;
  upper_push(p->s, p->c);
  sl_chunk_unref(p->c);
  sl_stream_write_done(p->s, 0);
  free(p);
}

static void upper_transform(sl_stream_t* s, sl_chunk_t* c) {
  tx_t* t = sl_stream_data(s);
  ASSERT(!in_call);
  t->calls++;
  if (t->fail_on_bad && sl_chunk_len(c) == 3 &&
      memcmp(sl_chunk_data(c), "bad", 3) == 0) {
    sl_stream_write_done(s, SL_EINVAL);
    return;
  }
  if (t->async) {
    pending_t* p = malloc(sizeof *p);
    *p = (pending_t){s, sl_chunk_ref(c)};
    run_later(2, upper_later, p);
    return;
  }
  upper_push(s, c);
  sl_stream_write_done(s, 0);
}

static void bang_flush(sl_stream_t* s) {
  tx_t* t = sl_stream_data(s);
  t->flushes++;
  if (t->log) log_add(t->log, "flush");
  if (t->flush_err == 0) sl_stream_push_bytes(s, "!", 1);
  sl_stream_final_done(s, t->flush_err);
}

static const sl_stream_hooks_t upper_hooks = {.transform = upper_transform,
                                              .flush = bang_flush};

static sl_stream_t* upper_new(tx_t* t, size_t hwm) {
  sl_stream_opts_t o = {
      .hooks = &upper_hooks, .data = t, .high_water_mark = hwm};
  return sl_transform_new(&o);
}

static size_t pos_of(const char* log, const char* word) {
  const char* p = strstr(log, word);
  ASSERT(p != NULL);
  return (size_t)(p - log);
}

TEST(stream_transform_flush_before_end) {
  evlog_t log = {0};
  tx_t t = {.log = &log};
  sl_stream_t* x = upper_new(&t, 0);
  watch(x, &log);
  sl_stream_on(x, SL_EV_DATA, on_log, &log);
  sl_stream_write_str(x, "ab");
  sl_stream_write_str(x, "cd");
  sl_stream_end(x, NULL, NULL, NULL);
  sl_run();
  ASSERT_EQ(t.flushes, 1);
  ASSERT(pos_of(log.s, "data(AB)") < pos_of(log.s, "data(CD)"));
  ASSERT(pos_of(log.s, "data(CD)") < pos_of(log.s, "data(!)"));
  ASSERT(pos_of(log.s, "flush") < pos_of(log.s, "data(!)"));
  ASSERT(pos_of(log.s, "data(!)") < pos_of(log.s, "end"));
  ASSERT(pos_of(log.s, "flush") < pos_of(log.s, "finish"));
  ASSERT(pos_of(log.s, "end") < pos_of(log.s, "close"));
  ASSERT(pos_of(log.s, "finish") < pos_of(log.s, "close"));
}

TEST(stream_transform_async_keeps_order) {
  sink_t k = {0};
  tx_t t = {.async = 1};
  sl_stream_t* x = upper_new(&t, 0);
  sl_stream_on(x, SL_EV_DATA, on_collect, &k);
  for (int i = 0; i < 20; i++) sl_stream_write_str(x, i % 2 ? "xy" : "z");
  sl_stream_end(x, NULL, NULL, NULL);
  sl_run();
  ASSERT_EQ(t.calls, 20);
  ASSERT_EQ(k.len, 31);
  ASSERT_MEM_EQ(k.buf, "ZXYZXY", 6);
  ASSERT_EQ(k.buf[30], '!');
}

TEST(stream_transform_end_without_writes) {
  evlog_t log = {0};
  tx_t t = {0};
  sl_stream_t* x = upper_new(&t, 0);
  watch(x, &log);
  sl_stream_on(x, SL_EV_DATA, on_log, &log);
  sl_stream_end(x, NULL, NULL, NULL);
  sl_run();
  ASSERT_EQ(t.calls, 0);
  ASSERT_EQ(t.flushes, 1);
  ASSERT(strstr(log.s, "data(!)") != NULL);
  ASSERT(pos_of(log.s, "data(!)") < pos_of(log.s, "end"));
}

TEST(stream_transform_error_in_transform) {
  evlog_t log = {0};
  tx_t t = {.fail_on_bad = 1};
  sl_stream_t* x = upper_new(&t, 0);
  watch(x, &log);
  sl_stream_on(x, SL_EV_DATA, on_log, &log);
  cbtag_t a = {&log, "cb1"}, b = {&log, "cb2"};
  sl_stream_write_bytes(x, "ok", 2, on_done_log, &a);
  sl_run();
  sl_stream_write_bytes(x, "bad", 3, on_done_log, &b);
  sl_stream_write_bytes(x, "lost", 4, NULL, NULL);
  sl_stream_end(x, NULL, NULL, NULL);
  sl_run();
  ASSERT_STR_EQ(log.s, "cb1 resume data(OK) cb2(EINVAL) error(EINVAL) close");
  ASSERT_EQ(t.calls, 2);
  ASSERT_EQ(t.flushes, 0);
}

TEST(stream_transform_error_in_flush) {
  evlog_t log = {0};
  tx_t t = {.flush_err = SL_EZDATA};
  sl_stream_t* x = upper_new(&t, 0);
  watch(x, &log);
  sl_stream_on(x, SL_EV_DATA, on_log, &log);
  sl_chunk_t* a = sl_chunk_str("a");
  sl_stream_write(x, a, NULL, NULL);
  sl_chunk_unref(a);
  sl_run();
  sl_stream_end(x, NULL, NULL, NULL);
  sl_run();
  /* Output already delivered stays delivered; no end after the error. */
  ASSERT_STR_EQ(log.s, "resume data(A) error(EZDATA) close");
}

TEST(stream_passthrough_moves_chunks_by_reference) {
  evlog_t log = {0};
  sl_stream_t* p = sl_passthrough_new(NULL);
  watch(p, &log);
  sl_stream_on(p, SL_EV_DATA, on_log, &log);
  sl_chunk_t* c = sl_chunk_str("hello");
  sl_stream_write(p, c, NULL, NULL);
  sl_stream_end(p, NULL, NULL, NULL);
  sl_run();
  ASSERT_STR_EQ(log.s, "finish resume data(hello) end close");
  /* Only our reference is left: the stream took and dropped its own. */
  sl_chunk_unref(c);
}

static const char* seen_data;
static void note_ptr(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  (void)arg;
  seen_data = sl_chunk_data(ev->chunk);
}

TEST(stream_passthrough_no_copy) {
  sl_stream_t* p = sl_passthrough_new(NULL);
  sl_stream_on(p, SL_EV_DATA, note_ptr, NULL);
  sl_chunk_t* c = sl_chunk_str("bytes");
  sl_stream_write(p, c, NULL, NULL);
  sl_stream_end(p, NULL, NULL, NULL);
  sl_run();
  ASSERT(seen_data == sl_chunk_data(c));
  sl_chunk_unref(c);
}

/* Object mode on the readable side only: one object per input byte. */
static void explode(sl_stream_t* s, sl_chunk_t* c) {
  for (size_t i = 0; i < sl_chunk_len(c); i++) {
    sl_chunk_t* o = sl_chunk_object(
        (void*)(intptr_t)(unsigned char)sl_chunk_data(c)[i], NULL, NULL);
    sl_stream_push(s, o);
    sl_chunk_unref(o);
  }
  sl_stream_write_done(s, 0);
}
static const sl_stream_hooks_t explode_hooks = {.transform = explode};

TEST(stream_transform_object_mode) {
  evlog_t log = {0};
  sl_stream_opts_t o = {
      .hooks = &explode_hooks, .readable_object_mode = 1, .high_water_mark = 2};
  sl_stream_t* x = sl_transform_new(&o);
  ASSERT_EQ(sl_stream_readable_hwm(x), 2);
  ASSERT_EQ(sl_stream_writable_hwm(x), 2); /* bytes: the given mark */
  watch(x, &log);
  sl_stream_on(x, SL_EV_DATA, on_log, &log);
  sl_stream_write_str(x, "AB");
  sl_stream_write_str(x, "C");
  sl_stream_end(x, NULL, NULL, NULL);
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(#65) data(#66) finish data(#67) end close");
}

/* The hold rule: a transform whose readable side is full does not complete
 * the write in flight, so its writable side fills and write() returns 0. */
static int pt_calls;
static void count_pass(sl_stream_t* s, sl_chunk_t* c) {
  pt_calls++;
  sl_stream_push(s, c);
  sl_stream_write_done(s, 0);
}
static const sl_stream_hooks_t count_hooks = {.transform = count_pass};

TEST(stream_transform_hold_rule) {
  sl_stream_opts_t o = {
      .hooks = &count_hooks, .object_mode = 1, .high_water_mark = 2};
  sl_stream_t* x = sl_transform_new(&o);
  int rc[6];
  for (intptr_t i = 0; i < 6; i++) {
    sl_chunk_t* c = sl_chunk_object((void*)(i + 1), NULL, NULL);
    rc[i] = sl_stream_write(x, c, NULL, NULL);
    sl_chunk_unref(c);
  }
  ASSERT_EQ(rc[0], 1);
  ASSERT_EQ(rc[1], 0);
  sl_run();
  /* Two objects out, the second write held: nothing more is transformed
   * while nobody reads. */
  ASSERT_EQ(pt_calls, 2);
  ASSERT_EQ(sl_stream_readable_length(x), 2);
  ASSERT_EQ(sl_stream_writable_length(x), 5);
  sl_chunk_t* c = sl_stream_read(x, 0);
  ASSERT_EQ((intptr_t)sl_chunk_obj(c), 1);
  sl_chunk_unref(c);
  sl_run();
  ASSERT_EQ(pt_calls, 3);
  ASSERT_EQ(sl_stream_readable_length(x), 2);
  ASSERT_EQ(sl_stream_writable_length(x), 4);
  sl_stream_end(x, NULL, NULL, NULL);
  evlog_t log = {0};
  watch(x, &log);
  sl_stream_on(x, SL_EV_DATA, on_log, &log);
  sl_run();
  ASSERT_EQ(pt_calls, 6);
  ASSERT_STR_EQ(log.s,
                "resume data(#2) data(#3) data(#4) data(#5) finish "
                "data(#6) end close");
}

/* Backpressure through a transform: a fast producer into a slow consumer
 * never buffers past the marks, at any step. */
#define BP_CHUNK 100
#define BP_HWM   1000
#define BP_TOTAL 500
static sl_stream_t *bp_src, *bp_tx, *bp_dst;
static size_t bp_max[4];
static int bp_produced, bp_reads;
static size_t bp_got;

static void bp_note(void) {
  size_t v[4] = {
      sl_stream_readable_length(bp_src), sl_stream_writable_length(bp_tx),
      sl_stream_readable_length(bp_tx), sl_stream_writable_length(bp_dst)};
  for (int i = 0; i < 4; i++)
    if (v[i] > bp_max[i]) bp_max[i] = v[i];
}

static void bp_read(sl_stream_t* s, size_t n) {
  (void)n;
  bp_reads++;
  /* Fast: push until told to stop. */
  int rc = 1;
  while (rc == 1 && bp_produced < BP_TOTAL) {
    char buf[BP_CHUNK];
    memset(buf, 'a' + bp_produced % 26, sizeof buf);
    bp_produced++;
    rc = sl_stream_push_bytes(s, buf, sizeof buf);
    bp_note();
  }
  if (bp_produced == BP_TOTAL) sl_stream_push(s, NULL);
}

static void bp_done(void* arg) { sl_stream_write_done(arg, 0); }
static void bp_write(sl_stream_t* s, sl_chunk_t* c) {
  bp_got += sl_chunk_len(c);
  bp_note();
  run_later(3, bp_done, s); /* slow */
}

static void bp_result(int err, const sl_pipeline_result_t* pr, void* arg) {
  ASSERT_EQ(err, 0);
  ASSERT_EQ(pr->stage, -1);
  ++*(int*)arg;
}

TEST(stream_transform_backpressure) {
  static const sl_stream_hooks_t src_h = {.read = bp_read};
  static const sl_stream_hooks_t dst_h = {.write = bp_write};
  sl_stream_opts_t so = {.hooks = &src_h, .high_water_mark = BP_HWM};
  sl_stream_opts_t to = {.hooks = &upper_hooks, .high_water_mark = BP_HWM};
  sl_stream_opts_t wo = {.hooks = &dst_h, .high_water_mark = BP_HWM};
  tx_t t = {0};
  to.data = &t;
  bp_src = sl_readable_new(&so);
  bp_tx = sl_transform_new(&to);
  bp_dst = sl_writable_new(&wo);
  sl_stream_ref(bp_src);
  sl_stream_ref(bp_tx);
  sl_stream_ref(bp_dst);
  int done = 0;
  ASSERT_EQ(sl_pipeline(bp_result, &done, bp_src, bp_tx, bp_dst), 0);
  sl_run();
  ASSERT_EQ(done, 1);
  ASSERT_EQ(bp_got, BP_TOTAL * BP_CHUNK + 1);
  for (int i = 0; i < 4; i++) ASSERT_LE(bp_max[i], BP_HWM + BP_CHUNK);
  sl_stream_t* all[3] = {bp_src, bp_tx, bp_dst};
  for (int i = 0; i < 3; i++) {
    sl_stream_stats_t st;
    sl_stream_stats(all[i], &st);
    ASSERT_LE(st.max_buffered, 2 * (BP_HWM + BP_CHUNK));
    sl_stream_unref(all[i]);
  }
  /* The producer was asked in bursts, not once per chunk. */
  ASSERT_LT(bp_reads, BP_TOTAL);
}
