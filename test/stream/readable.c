/* Readable semantics, ported from the behaviour Node's own tests assert
 * (test-stream-readable-*, test-stream2-readable-*, test-readable-single-end):
 * event order on end, error and destroy; flowing and paused modes; read(n)
 * and the readable event; the high-water mark and the read hook; unshift;
 * object mode; UTF-8 decoding. */
#include "stream/stream_test_util.h"

/* A source whose read hook pushes one chunk of `chunk` bytes per call
 * (letters a, b, c, ...), `left` times, then EOF; from a deferred call when
 * `async`. Counts the read hook calls. */
typedef struct {
  sl_stream_t* s;
  int reads, left, seq, last_rc, async;
  size_t chunk;
} src_t;

static void src_push_one(void* arg) {
  src_t* c = arg;
  if (c->left == 0) {
    c->last_rc = sl_stream_push(c->s, NULL);
    return;
  }
  c->left--;
  char buf[256];
  memset(buf, 'a' + c->seq++ % 26, c->chunk);
  c->last_rc = sl_stream_push_bytes(c->s, buf, c->chunk);
}

static void src_read(sl_stream_t* s, size_t n) {
  src_t* c = sl_stream_data(s);
  (void)n;
  ASSERT(!in_call);
  c->reads++;
  if (c->async)
    run_later(1, src_push_one, c);
  else
    src_push_one(c);
}

static const sl_stream_hooks_t src_hooks = {.read = src_read};

static sl_stream_t* src_new(src_t* c, size_t hwm, size_t chunk, int left) {
  sl_stream_opts_t o = {.hooks = &src_hooks, .data = c, .high_water_mark = hwm};
  c->chunk = chunk;
  c->left = left;
  c->s = sl_readable_new(&o);
  ASSERT(c->s != NULL);
  return c->s;
}

TEST(stream_readable_order_normal_end) {
  evlog_t log = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  CALL(sl_stream_push_bytes(r, "a", 1));
  CALL(sl_stream_push_bytes(r, "b", 1));
  CALL(sl_stream_push(r, NULL));
  watch(r, &log);
  CALL(sl_stream_on(r, SL_EV_DATA, on_log, &log));
  ASSERT_EQ(log.n, 0);
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(a) data(b) end close");
}

TEST(stream_readable_order_hook_source) {
  evlog_t log = {0};
  src_t c = {.async = 1};
  sl_stream_t* r = src_new(&c, 0, 2, 3);
  watch(r, &log);
  CALL(sl_stream_on(r, SL_EV_DATA, on_log, &log));
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(aa) data(bb) data(cc) end close");
  ASSERT_EQ(c.reads, 4);
}

static void fail_after_first(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)ev;
  (void)arg;
  CALL(sl_stream_fail(s, SL_ENOENT, "open '%s'", "x.txt"));
}

static char errmsg[256];
static void save_msg(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  (void)arg;
  snprintf(errmsg, sizeof errmsg, "%s", ev->message ? ev->message : "(null)");
}

TEST(stream_readable_order_error) {
  evlog_t log = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_push_bytes(r, "a", 1);
  sl_stream_push_bytes(r, "b", 1);
  watch(r, &log);
  sl_stream_on(r, SL_EV_ERROR, save_msg, NULL);
  sl_stream_on(r, SL_EV_DATA, on_log, &log);
  sl_stream_once(r, SL_EV_DATA, fail_after_first, NULL);
  sl_run();
  /* Nothing after the error but close: "b" is dropped, no end. */
  ASSERT_STR_EQ(log.s, "resume data(a) error(ENOENT) close");
  ASSERT_STR_EQ(errmsg, "ENOENT: no such file or directory, open 'x.txt'");
}

TEST(stream_readable_destroy_close_only) {
  evlog_t log = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_push_bytes(r, "a", 1);
  watch(r, &log);
  CALL(sl_stream_on(r, SL_EV_DATA, on_log, &log));
  CALL(sl_stream_destroy(r, 0));
  sl_run();
  /* Destroyed before the loop ran: the buffered data is dropped. */
  ASSERT_STR_EQ(log.s, "close");
}

TEST(stream_readable_destroy_with_error) {
  evlog_t log = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_ref(r);
  watch(r, &log);
  sl_stream_on(r, SL_EV_ERROR, save_msg, NULL);
  CALL(sl_stream_destroy(r, SL_EIO));
  CALL(sl_stream_destroy(r, SL_EPIPE)); /* later calls are ignored */
  ASSERT(sl_stream_destroyed(r));
  ASSERT(!sl_stream_closed(r));
  sl_run();
  ASSERT_STR_EQ(log.s, "error(EIO) close");
  ASSERT_STR_EQ(errmsg, "EIO: i/o error");
  ASSERT_EQ(sl_stream_error(r), SL_EIO);
  ASSERT(sl_stream_closed(r));
  /* Nothing after close: pushes and listeners are refused. */
  ASSERT_EQ(sl_stream_push_bytes(r, "x", 1), SL_EDESTROYED);
  ASSERT_EQ(sl_stream_on(r, SL_EV_DATA, on_log, &log), SL_EDESTROYED);
  sl_run();
  ASSERT_STR_EQ(log.s, "error(EIO) close");
  sl_stream_unref(r);
}

TEST(stream_readable_data_listener_starts_flowing) {
  src_t c = {0};
  sl_stream_t* r = src_new(&c, 0, 3, 2);
  sink_t k = {0};
  ASSERT(!sl_stream_is_paused(r));
  CALL(sl_stream_on(r, SL_EV_DATA, on_collect, &k));
  ASSERT_EQ(c.reads, 0); /* the read hook runs from the loop too */
  sl_run();
  ASSERT_EQ(k.len, 6);
  ASSERT_MEM_EQ(k.buf, "aaabbb", 6);
  ASSERT_EQ(c.reads, 3);
}

TEST(stream_readable_no_read_without_consumer) {
  src_t c = {0};
  sl_stream_t* r = src_new(&c, 0, 3, 2);
  sl_run();
  /* Like Node: nothing asks for data, so _read is never called. */
  ASSERT_EQ(c.reads, 0);
  sl_stream_destroy(r, 0);
  sl_run();
}

TEST(stream_readable_pause_resume_events) {
  evlog_t log = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_push_bytes(r, "a", 1);
  watch(r, &log);
  sl_stream_on(r, SL_EV_DATA, on_log, &log);
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(a)");
  CALL(sl_stream_pause(r));
  ASSERT(sl_stream_is_paused(r));
  CALL(sl_stream_push_bytes(r, "b", 1));
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(a) pause");
  ASSERT_EQ(sl_stream_readable_length(r), 1);
  CALL(sl_stream_resume(r));
  CALL(sl_stream_push(r, NULL));
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(a) pause resume data(b) end close");
}

static void pause_on_data(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)ev;
  (void)arg;
  sl_stream_pause(s);
}

TEST(stream_readable_pause_in_data_stops_delivery) {
  evlog_t log = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_push_bytes(r, "a", 1);
  sl_stream_push_bytes(r, "b", 1);
  sl_stream_push_bytes(r, "c", 1);
  sl_stream_push(r, NULL);
  watch(r, &log);
  sl_stream_on(r, SL_EV_DATA, on_log, &log);
  sl_stream_once(r, SL_EV_DATA, pause_on_data, NULL);
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(a) pause");
  ASSERT_EQ(sl_stream_readable_length(r), 2);
  ASSERT(!sl_stream_ended(r));
  sl_stream_resume(r);
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(a) pause resume data(b) data(c) end close");
}

TEST(stream_readable_explicit_pause_survives_data_listener) {
  evlog_t log = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_push_bytes(r, "a", 1);
  sl_stream_push(r, NULL);
  sl_stream_pause(r);
  watch(r, &log);
  sl_stream_on(r, SL_EV_DATA, on_log, &log);
  sl_run();
  ASSERT(sl_stream_is_paused(r));
  ASSERT_STR_EQ(log.s, "pause");
  sl_stream_resume(r);
  sl_run();
  ASSERT_STR_EQ(log.s, "pause resume data(a) end close");
}

/* --- paused mode: read(n) and readable ---------------------------------- */

typedef struct {
  evlog_t* log;
  size_t n;  /* read(n) once per readable event ... */
  int drain; /* ... or read(0) until NULL */
  int nreadable, nnull;
} reader_t;

static void on_readable_read(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  reader_t* rd = arg;
  (void)ev;
  ASSERT(!in_call);
  rd->nreadable++;
  log_add(rd->log, "readable");
  for (;;) {
    sl_chunk_t* c = sl_stream_read(s, rd->n);
    if (c == NULL) {
      rd->nnull++;
      log_add(rd->log, "null");
      break;
    }
    log_add(rd->log, "read(%.*s)", (int)sl_chunk_len(c), sl_chunk_data(c));
    sl_chunk_unref(c);
    if (!rd->drain) break;
  }
}

TEST(stream_readable_read_n_paused) {
  evlog_t log = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_push_bytes(r, "hello ", 6);
  sl_stream_push_bytes(r, "world", 5);
  ASSERT(sl_stream_is_paused(r) == 0);
  sl_chunk_t* c = sl_stream_read(r, 3);
  ASSERT(c != NULL);
  ASSERT_MEM_EQ(sl_chunk_data(c), "hel", 3);
  sl_chunk_unref(c);
  c = sl_stream_read(r, 5); /* spans two chunks */
  ASSERT_EQ(sl_chunk_len(c), 5);
  ASSERT_MEM_EQ(sl_chunk_data(c), "lo wo", 5);
  sl_chunk_unref(c);
  ASSERT(sl_stream_read(r, 10) == NULL); /* fewer than 10 buffered */
  ASSERT_EQ(sl_stream_readable_length(r), 3);
  sl_stream_push(r, NULL);
  c = sl_stream_read(r, 10); /* after the end: what is left */
  ASSERT_EQ(sl_chunk_len(c), 3);
  ASSERT_MEM_EQ(sl_chunk_data(c), "rld", 3);
  sl_chunk_unref(c);
  evlog_t l2 = {0};
  watch(r, &l2);
  ASSERT(sl_stream_read(r, 0) == NULL);
  sl_run();
  ASSERT_STR_EQ(l2.s, "end close");
  (void)log;
}

/* Node's test-stream-readable-needReadable "slowProducer": read(8) returns
 * null until 8 bytes are there; each push brings exactly one readable. */
static void push_foo(void* arg) { sl_stream_push_bytes(arg, "foo", 3); }
static void push_eof(void* arg) { sl_stream_push(arg, NULL); }

TEST(stream_readable_read_null_then_readable_later) {
  evlog_t log = {0};
  reader_t rd = {.log = &log, .n = 8};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_on(r, SL_EV_READABLE, on_readable_read, &rd);
  watch(r, &log);
  run_later(2, push_foo, r);
  run_later(6, push_foo, r);
  run_later(10, push_foo, r);
  run_later(14, push_eof, r);
  sl_run();
  ASSERT_STR_EQ(log.s,
                "readable null readable null readable read(foofoofo) "
                "readable read(o) end close");
  ASSERT_EQ(rd.nreadable, 4);
}

/* test-stream-readable-needReadable "asyncReadable": pushes in one tick are
 * batched into one readable; the end brings one more; then end. */
TEST(stream_readable_readable_batches_and_end) {
  evlog_t log = {0};
  reader_t rd = {.log = &log, .drain = 1};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_on(r, SL_EV_READABLE, on_readable_read, &rd);
  watch(r, &log);
  run_later(1, push_foo, r);
  run_later(1, push_foo, r);
  run_later(5, push_eof, r);
  sl_run();
  ASSERT_STR_EQ(log.s, "readable read(foofoo) null readable null end close");
}

/* test-readable-single-end: an ended empty stream gives one readable and
 * end, without a read() from the listener. */
static void count_only(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  (void)ev;
  ++*(int*)arg;
}

TEST(stream_readable_single_readable_at_end) {
  evlog_t log = {0};
  int nreadable = 0;
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_push(r, NULL);
  watch(r, &log);
  CALL(sl_stream_on(r, SL_EV_READABLE, count_only, &nreadable));
  sl_run();
  ASSERT_EQ(nreadable, 1);
  ASSERT_STR_EQ(log.s, "end close");
}

TEST(stream_readable_readable_end_read_null_end) {
  evlog_t log = {0};
  reader_t rd = {.log = &log, .drain = 1};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_push_bytes(r, "xy", 2);
  sl_stream_push(r, NULL);
  sl_stream_on(r, SL_EV_READABLE, on_readable_read, &rd);
  watch(r, &log);
  sl_run();
  ASSERT_STR_EQ(log.s, "readable read(xy) null end close");
}

/* read(n) above the mark raises it (Node's computeNewHighWaterMark): the
 * request can be met instead of waiting forever. */
TEST(stream_readable_read_more_than_hwm) {
  evlog_t log = {0};
  src_t c = {.async = 1};
  sl_stream_t* r = src_new(&c, 4, 2, 10);
  reader_t rd = {.log = &log, .n = 10};
  sl_stream_on(r, SL_EV_READABLE, on_readable_read, &rd);
  sl_run();
  ASSERT(strstr(log.s, "read(aabbccddee)") != NULL);
  ASSERT(strstr(log.s, "read(ffgghhiijj)") != NULL);
  ASSERT_LE(rd.nreadable, 12);
}

/* push() returns 0 at the mark and the read hook is not called again until
 * the buffer drops below it. */
TEST(stream_readable_hwm_stops_read_hook) {
  src_t c = {0};
  sl_stream_t* r = src_new(&c, 10, 4, 1000);
  ASSERT(sl_stream_read(r, 0) == NULL); /* start reading, paused */
  sl_run();
  ASSERT_EQ(c.reads, 3);   /* 4, 8, 12 bytes */
  ASSERT_EQ(c.last_rc, 0); /* the third push hit the mark */
  ASSERT_EQ(sl_stream_readable_length(r), 12);
  sl_run();
  ASSERT_EQ(c.reads, 3);
  sl_chunk_t* ch = sl_stream_read(r, 2); /* 10 left: still at the mark */
  sl_chunk_unref(ch);
  sl_run();
  ASSERT_EQ(c.reads, 3);
  ch = sl_stream_read(r, 5); /* 5 left: below */
  sl_chunk_unref(ch);
  sl_run();
  ASSERT_EQ(c.reads, 5); /* 9, then 13 */
  ASSERT_EQ(sl_stream_readable_length(r), 13);
  sl_stream_stats_t st;
  sl_stream_stats(r, &st);
  ASSERT_EQ(st.max_buffered, 13);
  ASSERT_EQ(st.bytes_read, 7);
  sl_stream_destroy(r, 0);
  sl_run();
}

TEST(stream_readable_flowing_async_source_bounded) {
  src_t c = {.async = 1};
  sl_stream_t* r = src_new(&c, 8, 4, 200);
  sink_t k = {0};
  sl_stream_ref(r); /* read its counters after close */
  sl_stream_on(r, SL_EV_DATA, on_collect, &k);
  sl_run();
  ASSERT_EQ(k.len, 800);
  ASSERT_EQ(c.reads, 201);
  sl_stream_stats_t st;
  sl_stream_stats(r, &st);
  ASSERT_LE(st.max_buffered, 8);
  ASSERT_EQ(st.bytes_read, 800);
  sl_stream_unref(r);
}

TEST(stream_readable_unshift) {
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_push_bytes(r, "abcdef", 6);
  sl_chunk_t* c = sl_stream_read(r, 4);
  ASSERT_MEM_EQ(sl_chunk_data(c), "abcd", 4);
  /* Put back what was not consumed, as a parser does. */
  sl_chunk_t* back = sl_chunk_slice(c, 2, 2);
  ASSERT_EQ(sl_stream_unshift(r, back), 0);
  sl_chunk_unref(back);
  sl_chunk_unref(c);
  ASSERT_EQ(sl_stream_readable_length(r), 4);
  sl_stream_push(r, NULL);
  evlog_t log = {0};
  watch(r, &log);
  sl_stream_on(r, SL_EV_DATA, on_log, &log);
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(cd) data(ef) end close");
}

TEST(stream_readable_empty_stream_ends) {
  evlog_t log = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  CALL(sl_stream_push(r, NULL));
  watch(r, &log);
  CALL(sl_stream_on(r, SL_EV_DATA, on_log, &log));
  sl_run();
  ASSERT_STR_EQ(log.s, "resume end close");
}

TEST(stream_readable_zero_length_chunk) {
  evlog_t log = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  ASSERT_EQ(sl_stream_push_bytes(r, "", 0), 1);
  ASSERT_EQ(sl_stream_push_bytes(r, "a", 1), 1);
  ASSERT_EQ(sl_stream_push_bytes(r, "", 0), 1);
  ASSERT_EQ(sl_stream_readable_length(r), 1);
  sl_stream_push(r, NULL);
  watch(r, &log);
  sl_stream_on(r, SL_EV_DATA, on_log, &log);
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(a) end close");
}

TEST(stream_readable_push_after_eof) {
  evlog_t log = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_push(r, NULL);
  ASSERT_EQ(sl_stream_push_bytes(r, "a", 1), SL_EPUSHAFTEREOF);
  ASSERT_EQ(sl_stream_push(r, NULL), SL_EPUSHAFTEREOF);
  watch(r, &log);
  sl_stream_on(r, SL_EV_DATA, on_log, &log);
  sl_run();
  ASSERT_STR_EQ(log.s, "resume end close");
}

static int dtor_calls;
static void obj_dtor(void* obj, void* arg) {
  (void)obj;
  (void)arg;
  dtor_calls++;
}

TEST(stream_readable_object_mode_counts_objects) {
  evlog_t log = {0};
  sl_stream_opts_t o = {.object_mode = 1, .high_water_mark = 3};
  sl_stream_t* r = sl_readable_new(&o);
  for (intptr_t i = 1; i <= 4; i++) {
    sl_chunk_t* c = sl_chunk_object((void*)i, obj_dtor, NULL);
    int rc = sl_stream_push(r, c);
    ASSERT_EQ(rc, i < 3 ? 1 : 0);
    sl_chunk_unref(c);
  }
  /* A zero-length object is still one object. */
  sl_chunk_t* z = sl_chunk_object((void*)(intptr_t)5, obj_dtor, NULL);
  ASSERT_EQ(sl_stream_push(r, z), 0);
  sl_chunk_unref(z);
  ASSERT_EQ(sl_stream_readable_length(r), 5);
  ASSERT_EQ(sl_stream_readable_hwm(r), 3);
  sl_chunk_t* c = sl_stream_read(r, 100); /* one object, whatever n */
  ASSERT_EQ((intptr_t)sl_chunk_obj(c), 1);
  sl_chunk_unref(c);
  ASSERT_EQ(dtor_calls, 1);
  sl_stream_push(r, NULL);
  watch(r, &log);
  sl_stream_on(r, SL_EV_DATA, on_log, &log);
  sl_run();
  ASSERT_STR_EQ(log.s, "resume data(#2) data(#3) data(#4) data(#5) end close");
  ASSERT_EQ(dtor_calls, 5);
}

TEST(stream_readable_object_mode_rejects_encoding) {
  sl_stream_opts_t o = {.object_mode = 1};
  sl_stream_t* r = sl_readable_new(&o);
  ASSERT_EQ(sl_stream_set_encoding(r, SL_ENC_UTF8), SL_EINVAL);
  sl_stream_destroy(r, 0);
  sl_run();
}

/* --- UTF-8 ---------------------------------------------------------------- */

/* 1 if p[0..n) is a sequence of whole, well-formed UTF-8 characters. */
static int utf8_whole(const unsigned char* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t k = p[i] < 0x80 ? 1 : p[i] >= 0xF0 ? 4 : p[i] >= 0xE0 ? 3 : 2;
    if (i + k > n) return 0;
    for (size_t j = 1; j < k; j++)
      if ((p[i + j] & 0xC0) != 0x80) return 0;
    i += k;
  }
  return 1;
}

static void check_utf8_data(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  sink_t* k = arg;
  ASSERT(utf8_whole((unsigned char*)sl_chunk_data(ev->chunk),
                    sl_chunk_len(ev->chunk)));
  on_collect(s, ev, k);
}

typedef struct {
  sl_stream_t* s;
  const char* text;
  size_t pos, len;
} bytewise_t;

static void push_next_byte(void* arg) {
  bytewise_t* b = arg;
  if (b->pos == b->len) {
    sl_stream_push(b->s, NULL);
    return;
  }
  sl_stream_push_bytes(b->s, b->text + b->pos++, 1);
  run_later(0, push_next_byte, b);
}

TEST(stream_readable_utf8_never_splits) {
  /* 1-, 2-, 3- and 4-byte characters: a, e-acute, euro sign, grinning face */
  static const char text[] =
      "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z"
      "\xF0\x9F\x98\x80\xE2\x82\xAC";
  sink_t k = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  ASSERT_EQ(sl_stream_set_encoding(r, SL_ENC_UTF8), 0);
  sl_stream_on(r, SL_EV_DATA, check_utf8_data, &k);
  bytewise_t b = {r, text, 0, sizeof text - 1};
  run_later(0, push_next_byte, &b);
  sl_run();
  ASSERT_EQ(k.len, sizeof text - 1);
  ASSERT_MEM_EQ(k.buf, text, k.len);
  ASSERT_EQ(k.ndata, 7); /* one per character */
}

TEST(stream_readable_utf8_incomplete_tail) {
  static const char* tails[] = {"\xC3", "\xE2\x82", "\xF0\x9F\x98"};
  for (int i = 0; i < 3; i++) {
    sink_t k = {0};
    sl_stream_t* r = sl_readable_new(NULL);
    sl_stream_set_encoding(r, SL_ENC_UTF8);
    sl_stream_on(r, SL_EV_DATA, check_utf8_data, &k);
    sl_stream_push_bytes(r, "ok", 2);
    sl_stream_push_bytes(r, tails[i], strlen(tails[i]));
    sl_stream_push(r, NULL);
    sl_run();
    ASSERT_EQ(k.len, 5);
    ASSERT_MEM_EQ(k.buf, "ok\xEF\xBF\xBD", 5);
  }
}

TEST(stream_readable_utf8_read_n_keeps_characters) {
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_set_encoding(r, SL_ENC_UTF8);
  sl_stream_push_bytes(r, "\xE2\x82\xAC\xE2\x82\xAC", 6);
  sl_chunk_t* c = sl_stream_read(r, 4); /* would cut the second euro */
  ASSERT_EQ(sl_chunk_len(c), 3);
  sl_chunk_unref(c);
  c = sl_stream_read(r, 0);
  ASSERT_EQ(sl_chunk_len(c), 3);
  sl_chunk_unref(c);
  sl_stream_destroy(r, 0);
  sl_run();
}

/* The same when the cut falls in a later buffered chunk than the first. */
TEST(stream_readable_utf8_read_n_across_chunks) {
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_set_encoding(r, SL_ENC_UTF8);
  sl_stream_push_bytes(r, "ab", 2);
  sl_stream_push_bytes(r, "\xC3\xA9z", 3);
  sl_chunk_t* c = sl_stream_read(r, 3); /* would cut the e-acute */
  ASSERT(c != NULL);
  ASSERT_EQ(sl_chunk_len(c), 2);
  ASSERT_MEM_EQ(sl_chunk_data(c), "ab", 2);
  sl_chunk_unref(c);
  c = sl_stream_read(r, 0);
  ASSERT_EQ(sl_chunk_len(c), 3);
  ASSERT_MEM_EQ(sl_chunk_data(c), "\xC3\xA9z", 3);
  sl_chunk_unref(c);
  sl_stream_destroy(r, 0);
  sl_run();
}

/* --- listeners ------------------------------------------------------------ */

TEST(stream_readable_once_and_off) {
  evlog_t a = {0}, b = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_push_bytes(r, "1", 1);
  sl_stream_push_bytes(r, "2", 1);
  sl_stream_push(r, NULL);
  sl_stream_once(r, SL_EV_DATA, on_log, &a);
  sl_stream_on(r, SL_EV_DATA, on_log, &b);
  ASSERT_EQ(sl_stream_off(r, SL_EV_END, on_log, &a), SL_ENOENT);
  sl_run();
  ASSERT_STR_EQ(a.s, "data(1)");
  ASSERT_STR_EQ(b.s, "data(1) data(2)");
}

static void off_self(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  evlog_t* l = arg;
  on_log(s, ev, l);
  ASSERT_EQ(sl_stream_off(s, SL_EV_DATA, off_self, arg), 0);
}

TEST(stream_readable_off_inside_callback) {
  evlog_t a = {0}, b = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_push_bytes(r, "1", 1);
  sl_stream_push_bytes(r, "2", 1);
  sl_stream_push(r, NULL);
  sl_stream_on(r, SL_EV_DATA, off_self, &a);
  sl_stream_on(r, SL_EV_DATA, on_log, &b);
  sl_run();
  ASSERT_STR_EQ(a.s, "data(1)");
  ASSERT_STR_EQ(b.s, "data(1) data(2)");
}
