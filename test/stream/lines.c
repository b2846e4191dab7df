/* sl_line_splitter: lines across chunk boundaries, CRLF, empty lines, a last
 * line without a newline, the max_line limit, slices instead of copies, and
 * the readable side counting lines against its high-water mark. */
#include "test.h"

typedef struct {
  char lines[64][64];
  int n, ended, closed, errors;
  int err;
  char msg[128];
  const char* base; /* with base_len: where slices must point */
  size_t base_len;
  int outside; /* lines whose bytes were not inside base */
} got_t;

static void on_line(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  got_t* g = arg;
  switch (ev->type) {
    case SL_EV_DATA: {
      size_t len = sl_chunk_len(ev->chunk);
      ASSERT(len < sizeof g->lines[0]);
      ASSERT(g->n < 64);
      memcpy(g->lines[g->n], sl_chunk_data(ev->chunk), len);
      g->lines[g->n][len] = '\0';
      g->n++;
      const char* p = sl_chunk_data(ev->chunk);
      if (g->base && (p < g->base || p + len > g->base + g->base_len))
        g->outside++;
      break;
    }
    case SL_EV_END:
      g->ended++;
      break;
    case SL_EV_CLOSE:
      g->closed++;
      break;
    case SL_EV_ERROR:
      g->errors++;
      g->err = ev->err;
      snprintf(g->msg, sizeof g->msg, "%s", ev->message);
      break;
    default:
      break;
  }
}

static sl_stream_t* splitter(got_t* g, const sl_lines_opts_t* o) {
  memset(g, 0, sizeof *g);
  sl_stream_t* s = sl_line_splitter(o);
  ASSERT(s != NULL);
  sl_stream_on(s, SL_EV_DATA, on_line, g);
  sl_stream_on(s, SL_EV_END, on_line, g);
  sl_stream_on(s, SL_EV_CLOSE, on_line, g);
  sl_stream_on(s, SL_EV_ERROR, on_line, g);
  return s;
}

/* Writes each string as its own chunk, then ends. */
static void feed(sl_stream_t* s, const char* const* parts) {
  for (; *parts != NULL; parts++) sl_stream_write_str(s, *parts);
  sl_stream_end(s, NULL, NULL, NULL);
  sl_run();
}

TEST(lines_split_across_chunk_boundaries) {
  got_t g;
  sl_stream_t* s = splitter(&g, NULL);
  const char* parts[] = {"alp", "ha\nbe",  "ta\ngam", "m",
                         "a\n", "delta\n", NULL};
  feed(s, parts);
  ASSERT_EQ(g.n, 4);
  ASSERT_STR_EQ(g.lines[0], "alpha");
  ASSERT_STR_EQ(g.lines[1], "beta");
  ASSERT_STR_EQ(g.lines[2], "gamma");
  ASSERT_STR_EQ(g.lines[3], "delta");
  ASSERT_EQ(g.ended, 1);
  ASSERT_EQ(g.closed, 1);
  ASSERT_EQ(g.errors, 0);
}

TEST(lines_crlf_is_stripped_even_across_chunks) {
  got_t g;
  sl_stream_t* s = splitter(&g, NULL);
  const char* parts[] = {"one\r\ntwo\r", "\nthree\r\n", "a\rb\n", NULL};
  feed(s, parts);
  ASSERT_EQ(g.n, 4);
  ASSERT_STR_EQ(g.lines[0], "one");
  ASSERT_STR_EQ(g.lines[1], "two");
  ASSERT_STR_EQ(g.lines[2], "three");
  ASSERT_STR_EQ(g.lines[3], "a\rb"); /* only a "\r" before "\n" goes */
}

TEST(lines_empty_lines_are_delivered) {
  got_t g;
  sl_stream_t* s = splitter(&g, NULL);
  const char* parts[] = {"\n\na\n", "\r\n", "\n", NULL};
  feed(s, parts);
  ASSERT_EQ(g.n, 5);
  ASSERT_STR_EQ(g.lines[0], "");
  ASSERT_STR_EQ(g.lines[1], "");
  ASSERT_STR_EQ(g.lines[2], "a");
  ASSERT_STR_EQ(g.lines[3], "");
  ASSERT_STR_EQ(g.lines[4], "");
  ASSERT_EQ(g.ended, 1);
}

TEST(lines_last_line_without_newline_comes_at_end) {
  got_t g;
  sl_stream_t* s = splitter(&g, NULL);
  const char* parts[] = {"x\ny", "z", NULL};
  feed(s, parts);
  ASSERT_EQ(g.n, 2);
  ASSERT_STR_EQ(g.lines[0], "x");
  ASSERT_STR_EQ(g.lines[1], "yz");
  ASSERT_EQ(g.ended, 1);
  /* No input at all: no line, a clean end. */
  s = splitter(&g, NULL);
  const char* none[] = {NULL};
  feed(s, none);
  ASSERT_EQ(g.n, 0);
  ASSERT_EQ(g.ended, 1);
}

TEST(lines_long_line_is_e2big) {
  got_t g;
  sl_lines_opts_t o = {.max_line = 10};
  sl_stream_t* s = splitter(&g, &o);
  /* Exactly the limit passes, even with a "\r" before the "\n". */
  const char* fits[] = {"0123456789\r\n", "01234", "56789\n", NULL};
  feed(s, fits);
  ASSERT_EQ(g.n, 2);
  ASSERT_STR_EQ(g.lines[0], "0123456789");
  ASSERT_STR_EQ(g.lines[1], "0123456789");
  ASSERT_EQ(g.errors, 0);
  /* One byte more, spread over two chunks, fails before any newline. */
  s = splitter(&g, &o);
  const char* over[] = {"0123456", "7890123", NULL};
  feed(s, over);
  ASSERT_EQ(g.n, 0);
  ASSERT_EQ(g.errors, 1);
  ASSERT_EQ(g.err, SL_E2BIG);
  ASSERT(strstr(g.msg, "E2BIG: ") == g.msg);
  ASSERT(strstr(g.msg, "line longer than 10 bytes") != NULL);
  ASSERT_EQ(g.ended, 0);
  ASSERT_EQ(g.closed, 1);
  /* A long line inside one chunk fails the same way. */
  s = splitter(&g, &o);
  const char* one[] = {"ok\n0123456789ab\nnext\n", NULL};
  feed(s, one);
  ASSERT(g.n <= 1); /* the destroy drops lines not yet delivered */
  ASSERT_EQ(g.err, SL_E2BIG);
  ASSERT_EQ(g.ended, 0);
}

TEST(lines_within_a_chunk_are_slices_not_copies) {
  got_t g;
  sl_stream_t* s = splitter(&g, NULL);
  sl_chunk_t* c = sl_chunk_str("first\nsecond\r\nthird\n");
  g.base = sl_chunk_data(c);
  g.base_len = sl_chunk_len(c);
  sl_stream_write(s, c, NULL, NULL);
  sl_stream_end(s, NULL, NULL, NULL);
  sl_run();
  ASSERT_EQ(g.n, 3);
  ASSERT_EQ(g.outside, 0);
  ASSERT_STR_EQ(g.lines[1], "second");
  sl_chunk_unref(c);
}

static int counted, closed;
static void count_line(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  if (ev->type == SL_EV_DATA) counted++;
  if (ev->type == SL_EV_CLOSE) closed++;
}

TEST(lines_high_water_mark_counts_lines) {
  sl_lines_opts_t o = {.high_water_mark = 4};
  sl_stream_t* s = sl_line_splitter(&o);
  ASSERT_EQ(sl_stream_readable_hwm(s), 4);
  ASSERT_EQ(sl_stream_writable_hwm(s), 16 * 1024); /* bytes on that side */
  char block[100 * 3 + 1];
  for (int i = 0; i < 100; i++) memcpy(block + i * 3, "ab\n", 3);
  block[300] = '\0';
  ASSERT_EQ(sl_stream_write_str(s, block), 1);
  ASSERT_EQ(sl_stream_write_str(s, block), 1);
  sl_stream_end(s, NULL, NULL, NULL);
  sl_run(); /* nobody reads: the loop runs dry with the buffer full */
  /* One chunk's lines are buffered (100 objects, not 300 bytes); its write
   * is held and the next chunk waits behind it on the writable side. */
  ASSERT_EQ(sl_stream_readable_length(s), 100);
  ASSERT_EQ(sl_stream_writable_length(s), 600);
  sl_stream_on(s, SL_EV_DATA, count_line, NULL);
  sl_stream_on(s, SL_EV_CLOSE, count_line, NULL);
  sl_run();
  ASSERT_EQ(counted, 200);
  ASSERT_EQ(closed, 1);
}

typedef struct {
  const char* text;
  size_t len, off;
} lsrc_t;

static void lsrc_read(sl_stream_t* s, size_t n) {
  lsrc_t* r = sl_stream_data(s);
  while (r->off < r->len) {
    size_t k = r->len - r->off < 7 ? r->len - r->off : 7;
    int rc = sl_stream_push_bytes(s, r->text + r->off, k);
    r->off += k;
    if (rc <= 0) return;
  }
  sl_stream_push(s, NULL);
}

static const sl_stream_hooks_t lsrc_hooks = {.read = lsrc_read};

static void on_pl(int err, const sl_pipeline_result_t* pr, void* arg) {
  *(int*)arg = err == 0 ? 1 : err;
}

TEST(lines_in_a_pipeline_with_gunzip) {
  /* bytes -> gzip -> gunzip -> lines: a pipeline a log reader would use. */
  static const char text[] =
      "GET /a 200\nGET /b 404\r\nPOST /c 201\n\nGET /d 500";
  lsrc_t r = {.text = text, .len = sizeof text - 1};
  sl_stream_opts_t so = {.hooks = &lsrc_hooks, .data = &r};
  got_t g;
  sl_stream_t* lines = splitter(&g, NULL);
  int done = 0;
  ASSERT_EQ(sl_pipeline(on_pl, &done, sl_readable_new(&so), sl_gzip(NULL),
                        sl_gunzip(NULL), lines),
            0);
  sl_run();
  ASSERT_EQ(done, 1);
  ASSERT_EQ(g.n, 5);
  ASSERT_STR_EQ(g.lines[1], "GET /b 404");
  ASSERT_STR_EQ(g.lines[3], "");
  ASSERT_STR_EQ(g.lines[4], "GET /d 500");
}
