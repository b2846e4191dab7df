/* Compression Transforms: round trips through sl_pipeline, interoperability
 * with gzip(1) and Node's zlib, gzip output that is exactly one member at
 * every level and block size, multi-member and corrupt input to gunzip,
 * destroy while pool work is in flight, bounded buffering under a slow or
 * stalled consumer, shared compressors, and bad options. */
#include "test.h"

#include <stdarg.h>
#include <zlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- helpers: a Readable over a buffer, a Writable that collects -------- */

typedef struct {
  const char* buf;
  size_t len, off, step;
} src_t;

static void src_read(sl_stream_t* s, size_t n) {
  src_t* src = sl_stream_data(s);
  for (;;) {
    if (src->off == src->len) {
      sl_stream_push(s, NULL);
      return;
    }
    size_t k =
        src->len - src->off < src->step ? src->len - src->off : src->step;
    int rc = sl_stream_push_bytes(s, src->buf + src->off, k);
    src->off += k;
    if (rc <= 0) return;
  }
}

static const sl_stream_hooks_t src_hooks = {.read = src_read};

static sl_stream_t* source_new(src_t* src, const void* buf, size_t len,
                               size_t step) {
  *src = (src_t){.buf = buf, .len = len, .step = step};
  sl_stream_opts_t o = {.hooks = &src_hooks, .data = src};
  return sl_readable_new(&o);
}

typedef struct {
  char* buf;
  size_t len, cap;
  int slow_ms; /* > 0: complete each write after a timer */
  sl_stream_t* s;
} sink_t;

static void sink_append(sink_t* k, const void* p, size_t n) {
  if (k->len + n > k->cap) {
    k->cap = (k->len + n) * 2;
    k->buf = realloc(k->buf, k->cap);
    ASSERT(k->buf != NULL);
  }
  memcpy(k->buf + k->len, p, n);
  k->len += n;
}

static void sink_later(sl_timer_t* t, void* arg) {
  sink_t* k = arg;
  sl_stream_write_done(k->s, 0);
}

static void sink_write(sl_stream_t* s, sl_chunk_t* c) {
  sink_t* k = sl_stream_data(s);
  sink_append(k, sl_chunk_data(c), sl_chunk_len(c));
  if (k->slow_ms > 0) {
    k->s = s;
    sl_timer_start((uint64_t)k->slow_ms, 0, sink_later, k);
    return;
  }
  sl_stream_write_done(s, 0);
}

static const sl_stream_hooks_t sink_hooks = {.write = sink_write};

static sl_stream_t* sink_new(sink_t* k) {
  memset(k, 0, sizeof *k);
  sl_stream_opts_t o = {.hooks = &sink_hooks, .data = k};
  return sl_writable_new(&o);
}

typedef struct {
  int calls, err, stage;
  char msg[256];
} pl_result_t;

static void on_pipeline(int err, const sl_pipeline_result_t* pr, void* arg) {
  pl_result_t* r = arg;
  r->calls++;
  r->err = err;
  r->stage = pr->stage;
  snprintf(r->msg, sizeof r->msg, "%s", pr->message ? pr->message : "");
}

/* Log-like text with stretches of random bytes: compressible, but not
 * trivially. */
static char* make_data(size_t len, uint64_t seed) {
  char* p = malloc(len);
  ASSERT(p != NULL);
  size_t off = 0;
  unsigned n = 0;
  while (off < len) {
    char line[160];
    int k;
    if (n % 97 == 96) {
      k = 120;
      sl_test_fill_random(line, (size_t)k, seed + n);
    } else {
      k = snprintf(line, sizeof line,
                   "2024-05-%02u 12:%02u:%02u.%03u INFO GET /api/v1/items/%u "
                   "status=200 bytes=%u ms=%u\n",
                   n % 28 + 1, n % 60, (n * 7) % 60, (n * 13) % 1000,
                   (n * 2654435761u) % 100000, n % 5000, n % 300);
    }
    size_t take = len - off < (size_t)k ? len - off : (size_t)k;
    memcpy(p + off, line, take);
    off += take;
    n++;
  }
  return p;
}

/* Runs buf through the given transforms (NULL-terminated, at most 3) with a
 * source stepping `step` bytes; returns the collected output. */
static sink_t run_through(const void* buf, size_t len, size_t step,
                          sl_stream_t* t1, sl_stream_t* t2, pl_result_t* res) {
  src_t src;
  sink_t k;
  sl_stream_t* st[4];
  size_t n = 0;
  st[n++] = source_new(&src, buf, len, step);
  st[n++] = t1;
  if (t2 != NULL) st[n++] = t2;
  st[n++] = sink_new(&k);
  memset(res, 0, sizeof *res);
  ASSERT_EQ(sl_pipelinev(st, n, on_pipeline, res), 0);
  sl_run();
  ASSERT_EQ(res->calls, 1);
  return k;
}

static char* file_of(const char* name, const void* data, size_t len) {
  const char* path = sl_test_path(name);
  sl_test_write_file(path, data, len);
  return strdup(path);
}

/* --- gzip / gunzip -------------------------------------------------------- */

TEST(zlib_gzip_gunzip_roundtrip_10mib) {
  size_t len = 10 * 1024 * 1024;
  char* data = make_data(len, 1);
  pl_result_t res;
  sink_t out =
      run_through(data, len, 64 * 1024, sl_gzip(NULL), sl_gunzip(NULL), &res);
  ASSERT_EQ(res.err, 0);
  ASSERT_EQ(res.stage, -1);
  ASSERT_EQ(out.len, len);
  ASSERT_MEM_EQ(out.buf, data, len);
  free(out.buf);
  free(data);
}

/* Issue 9: curl, Chromium, httpx and a single zlib.decompressobj(31) stop
 * after the first gzip member, so sl_gzip must write exactly one, whatever
 * the number of blocks. */
TEST(zlib_gzip_output_is_one_member) {
  size_t len = 5 * 1024 * 1024 + 4321; /* 41 blocks of 128 KiB */
  char* data = make_data(len, 12);
  sl_zlib_opts_t zo = {.threads = 2};
  pl_result_t res;
  sink_t out = run_through(data, len, 50000, sl_gzip(&zo), NULL, &res);
  ASSERT_EQ(res.err, 0);
  /* One header: magic, deflate, no flags (no name, no extra field). */
  ASSERT(out.len > 18);
  const unsigned char* g = (const unsigned char*)out.buf;
  ASSERT(g[0] == 0x1f && g[1] == 0x8b && g[2] == 8 && g[3] == 0);
  /* One z_stream (windowBits 31 = gzip, one member) consumes ALL of it. */
  z_stream z = {0};
  ASSERT_EQ(inflateInit2(&z, 31), Z_OK);
  char* back = malloc(len + 1);
  z.next_in = (Bytef*)out.buf;
  z.avail_in = (uInt)out.len;
  z.next_out = (Bytef*)back;
  z.avail_out = (uInt)len + 1;
  ASSERT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  ASSERT_EQ(z.avail_in, 0);
  ASSERT_EQ(z.total_out, len);
  ASSERT_MEM_EQ(back, data, len);
  /* Fed in pieces, a single-member decoder ends exactly at the last byte. */
  ASSERT_EQ(inflateReset(&z), Z_OK);
  size_t off = 0;
  int rc = Z_OK;
  while (rc == Z_OK && off < out.len) {
    size_t k = out.len - off < 4096 ? out.len - off : 4096;
    z.next_in = (Bytef*)out.buf + off;
    z.avail_in = (uInt)k;
    do {
      z.next_out = (Bytef*)back;
      z.avail_out = 65536;
      rc = inflate(&z, Z_NO_FLUSH);
    } while (rc == Z_OK && z.avail_in > 0);
    off += k - z.avail_in;
  }
  ASSERT_EQ(rc, Z_STREAM_END);
  ASSERT_EQ(off, out.len);
  ASSERT_EQ(z.total_in, out.len);
  inflateEnd(&z);
  /* The trailer: CRC-32 and size of the whole input. */
  const unsigned char* t = g + out.len - 8;
  uint32_t crc = (uint32_t)crc32(0, (const Bytef*)data, (uInt)len);
  ASSERT_EQ(t[0] | t[1] << 8 | t[2] << 16 | (uint32_t)t[3] << 24, crc);
  ASSERT_EQ(t[4] | t[5] << 8 | t[6] << 16 | (uint32_t)t[7] << 24,
            (uint32_t)len);
  free(back);
  free(out.buf);
  free(data);
}

/* Inflates a whole gzip buffer with one z_stream; returns the output
 * length, or (size_t)-1 unless it is exactly one member. */
static size_t inflate_one_member(const char* gz, size_t len, char* out,
                                 size_t cap) {
  z_stream z = {0};
  ASSERT_EQ(inflateInit2(&z, 31), Z_OK);
  z.next_in = (Bytef*)gz;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef*)out;
  z.avail_out = (uInt)cap;
  int rc = inflate(&z, Z_FINISH);
  size_t n = rc == Z_STREAM_END && z.avail_in == 0 ? z.total_out : (size_t)-1;
  inflateEnd(&z);
  return n;
}

/* Block boundaries anywhere: tiny blocks, inputs shorter than the 32 KiB
 * dictionary, an input that ends exactly on a block, one-byte writes. */
TEST(zlib_gzip_one_member_for_any_block_and_write_size) {
  struct {
    size_t block, len, step;
  } cases[] = {
      {1024, 40000, 1},        {1024, 3 * 1024, 1024},
      {4096 + 7, 300001, 999}, {65536, 65536 * 4, 70000},
      {128 * 1024, 10, 3},     {2048, 0, 1},
  };
  char* data = make_data(300001, 14);
  char* back = malloc(300002);
  /* Every case at each engine: ISA-L (levels 1-3) and zlib (4-9). */
  for (size_t i = 0; i < 4 * sizeof cases / sizeof cases[0]; i++) {
    static const int levels[] = {1, 3, 6, 9};
    sl_zlib_opts_t zo = {
        .block_size = cases[i / 4].block, .threads = 3, .level = levels[i % 4]};
    pl_result_t res;
    size_t len = cases[i / 4].len;
    sink_t out =
        run_through(data, len, cases[i / 4].step, sl_gzip(&zo), NULL, &res);
    ASSERT_EQ(res.err, 0);
    ASSERT_EQ(inflate_one_member(out.buf, out.len, back, 300002), len);
    ASSERT_MEM_EQ(back, data, len);
    free(out.buf);
  }
  free(back);
  free(data);
}

/* Incompressible input through both engines: stored blocks, still one
 * member, and the output stays within a block's worth of the input. */
TEST(zlib_gzip_incompressible_input_every_level) {
  size_t len = 1024 * 1024 + 333;
  char* data = malloc(len);
  char* back = malloc(len + 1);
  sl_test_fill_random(data, len, 15);
  for (int level = 1; level <= 9; level++) {
    sl_zlib_opts_t zo = {.level = level};
    pl_result_t res;
    sink_t out = run_through(data, len, 65536, sl_gzip(&zo), NULL, &res);
    ASSERT_EQ(res.err, 0);
    ASSERT_LT(out.len, len + len / 100);
    ASSERT_EQ(inflate_one_member(out.buf, out.len, back, len + 1), len);
    ASSERT_MEM_EQ(back, data, len);
    free(out.buf);
  }
  free(back);
  free(data);
}

TEST(zlib_gzip_output_passes_gzip_tool) {
  size_t len = 5 * 1024 * 1024 + 12345;
  char* data = make_data(len, 2);
  pl_result_t res;
  sink_t out = run_through(data, len, 50000, sl_gzip(NULL), NULL, &res);
  ASSERT_EQ(res.err, 0);
  ASSERT(out.len > 20 && out.len < len / 2);
  char* gz = file_of("out.gz", out.buf, out.len);
  const char* back = sl_test_path("back");
  ASSERT_EQ(sl_test_sh("gzip -t '%s'", gz), 0);
  ASSERT_EQ(sl_test_sh("gunzip -c '%s' > '%s'", gz, back), 0);
  size_t blen;
  char* b = sl_test_read_file(back, &blen);
  ASSERT_EQ(blen, len);
  ASSERT_MEM_EQ(b, data, len);
  free(b);
  free(gz);
  free(out.buf);
  free(data);
}

TEST(zlib_gzip_output_read_by_node) {
  if (!sl_test_have("node")) SKIP("node is not installed");
  size_t len = 3 * 1024 * 1024 + 7;
  char* data = make_data(len, 3);
  sl_zlib_opts_t zo = {.block_size = 256 * 1024, .level = 9};
  pl_result_t res;
  sink_t out = run_through(data, len, 65536, sl_gzip(&zo), NULL, &res);
  ASSERT_EQ(res.err, 0);
  char* gz = file_of("node.gz", out.buf, out.len);
  const char* back = sl_test_path("node.out");
  ASSERT_EQ(
      sl_test_sh("node -e \"process.stdout.write(require('zlib').gunzipSync("
                 "require('fs').readFileSync(process.argv[1])))\" '%s' > '%s'",
                 gz, back),
      0);
  size_t blen;
  char* b = sl_test_read_file(back, &blen);
  ASSERT_EQ(blen, len);
  ASSERT_MEM_EQ(b, data, len);
  free(b);
  free(gz);
  free(out.buf);
  free(data);
}

TEST(zlib_gzip_empty_input_is_valid_gzip) {
  pl_result_t res;
  sink_t out = run_through("", 0, 1, sl_gzip(NULL), NULL, &res);
  ASSERT_EQ(res.err, 0);
  /* One empty member: header, an empty block, trailer. */
  ASSERT(out.len >= 20 && out.len <= 32);
  char* gz = file_of("empty.gz", out.buf, out.len);
  ASSERT_EQ(sl_test_sh("gzip -t '%s'", gz), 0);
  sink_t back = run_through(out.buf, out.len, 7, sl_gunzip(NULL), NULL, &res);
  ASSERT_EQ(res.err, 0);
  ASSERT_EQ(back.len, 0);
  free(back.buf);
  free(gz);
  free(out.buf);
}

TEST(zlib_gzip_same_bytes_for_any_thread_count) {
  size_t len = 3 * 1024 * 1024 + 99;
  char* data = make_data(len, 4);
  sl_zlib_opts_t one = {.threads = 1, .block_size = 300000};
  sl_zlib_opts_t four = {.threads = 4, .block_size = 300000};
  pl_result_t res;
  sink_t a = run_through(data, len, 10000, sl_gzip(&one), NULL, &res);
  ASSERT_EQ(res.err, 0);
  sink_t b = run_through(data, len, 70000, sl_gzip(&four), NULL, &res);
  ASSERT_EQ(res.err, 0);
  ASSERT_EQ(a.len, b.len);
  ASSERT_MEM_EQ(a.buf, b.buf, a.len);
  /* Small blocks (still one member): our gunzip reads them. */
  sink_t c = run_through(a.buf, a.len, 4096, sl_gunzip(NULL), NULL, &res);
  ASSERT_EQ(res.err, 0);
  ASSERT_EQ(c.len, len);
  ASSERT_MEM_EQ(c.buf, data, len);
  free(a.buf);
  free(b.buf);
  free(c.buf);
  free(data);
}

TEST(zlib_gunzip_reads_gzip_tool_output) {
  size_t len = 2 * 1024 * 1024 + 3;
  char* data = make_data(len, 5);
  char* in = file_of("plain", data, len);
  ASSERT_EQ(sl_test_sh("gzip -6 -k -f '%s'", in), 0);
  char gzpath[1024];
  snprintf(gzpath, sizeof gzpath, "%s.gz", in);
  size_t glen;
  char* gz = sl_test_read_file(gzpath, &glen);
  pl_result_t res;
  /* Large steps go through the pool, small ones stay on the loop. */
  sink_t out = run_through(gz, glen, 200000, sl_gunzip(NULL), NULL, &res);
  ASSERT_EQ(res.err, 0);
  ASSERT_EQ(out.len, len);
  ASSERT_MEM_EQ(out.buf, data, len);
  free(out.buf);
  out = run_through(gz, glen, 1000, sl_gunzip(NULL), NULL, &res);
  ASSERT_EQ(res.err, 0);
  ASSERT_EQ(out.len, len);
  ASSERT_MEM_EQ(out.buf, data, len);
  free(out.buf);
  free(gz);
  free(in);
  free(data);
}

TEST(zlib_gunzip_two_members_from_cat) {
  char* a = file_of("a", "hello, ", 7);
  char* b = file_of("b", "world\n", 6);
  const char* ab = sl_test_path("ab.gz");
  ASSERT_EQ(sl_test_sh("gzip -f '%s' '%s' && cat '%s.gz' '%s.gz' > '%s'", a, b,
                       a, b, ab),
            0);
  size_t glen;
  char* gz = sl_test_read_file(ab, &glen);
  for (size_t step = 1; step <= glen; step += glen - 1) {
    pl_result_t res;
    sink_t out = run_through(gz, glen, step, sl_gunzip(NULL), NULL, &res);
    ASSERT_EQ(res.err, 0);
    ASSERT_EQ(out.len, 13);
    ASSERT_MEM_EQ(out.buf, "hello, world\n", 13);
    free(out.buf);
  }
  free(gz);
  free(a);
  free(b);
}

TEST(zlib_gunzip_corrupt_input_names_stage) {
  char junk[4096];
  sl_test_fill_random(junk, sizeof junk, 9);
  junk[0] = 'x';
  pl_result_t res;
  sink_t out = run_through(junk, sizeof junk, 512, sl_gunzip(NULL), NULL, &res);
  ASSERT_EQ(res.err, SL_EZDATA);
  ASSERT_EQ(res.stage, 1);
  ASSERT_STR_EQ(res.msg,
                "EZDATA: invalid compressed data, incorrect header "
                "check");
  free(out.buf);
}

TEST(zlib_gunzip_corrupt_body_and_trailing_garbage) {
  size_t len = 300000;
  char* data = make_data(len, 6);
  pl_result_t res;
  sink_t gz = run_through(data, len, len, sl_gzip(NULL), NULL, &res);
  ASSERT_EQ(res.err, 0);
  /* A flipped byte in the middle: a data error or a CRC mismatch. */
  char* bad = malloc(gz.len + 8);
  memcpy(bad, gz.buf, gz.len);
  bad[gz.len / 2] ^= 0x55;
  sink_t out = run_through(bad, gz.len, 100000, sl_gunzip(NULL), NULL, &res);
  ASSERT_EQ(res.err, SL_EZDATA);
  ASSERT_EQ(res.stage, 1);
  ASSERT(strncmp(res.msg, "EZDATA: invalid compressed data, ", 33) == 0);
  free(out.buf);
  /* Trailing garbage after a complete member is an error, as in Node... */
  memcpy(bad, gz.buf, gz.len);
  memcpy(bad + gz.len, "garbage!", 8);
  out = run_through(bad, gz.len + 8, 4096, sl_gunzip(NULL), NULL, &res);
  ASSERT_EQ(res.err, SL_EZDATA);
  ASSERT_STR_EQ(res.msg,
                "EZDATA: invalid compressed data, incorrect header "
                "check");
  free(out.buf);
  /* ...but trailing zero bytes are padding. */
  memset(bad + gz.len, 0, 8);
  out = run_through(bad, gz.len + 8, 4096, sl_gunzip(NULL), NULL, &res);
  ASSERT_EQ(res.err, 0);
  ASSERT_EQ(out.len, len);
  free(out.buf);
  free(bad);
  free(gz.buf);
  free(data);
}

TEST(zlib_gunzip_truncated_input_is_an_error) {
  size_t len = 200000;
  char* data = make_data(len, 7);
  pl_result_t res;
  sink_t gz = run_through(data, len, len, sl_gzip(NULL), NULL, &res);
  ASSERT_EQ(res.err, 0);
  size_t cuts[] = {0, 5, gz.len / 2, gz.len - 4};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    sink_t out =
        run_through(gz.buf, cuts[i], 1000, sl_gunzip(NULL), NULL, &res);
    ASSERT_EQ(res.err, SL_EUNEXPECTEDEOF);
    ASSERT_EQ(res.stage, 1);
    ASSERT_STR_EQ(res.msg,
                  "EUNEXPECTEDEOF: unexpected end of input, gunzip: "
                  "truncated input");
    ASSERT(out.len < len);
    free(out.buf);
  }
  free(gz.buf);
  free(data);
}

/* --- deflate / inflate --------------------------------------------------- */

TEST(zlib_deflate_inflate_roundtrip) {
  size_t len = 3 * 1024 * 1024 + 11;
  char* data = make_data(len, 8);
  size_t steps[] = {1000, 200000};
  for (int i = 0; i < 2; i++) {
    sl_zlib_opts_t zo = {.level = 9, .chunk_size = 16384};
    pl_result_t res;
    sink_t z = run_through(data, len, steps[i], sl_deflate(&zo), NULL, &res);
    ASSERT_EQ(res.err, 0);
    ASSERT((unsigned char)z.buf[0] == 0x78); /* a zlib header */
    ASSERT(z.len < len / 2);
    sink_t out =
        run_through(z.buf, z.len, steps[1 - i], sl_inflate(&zo), NULL, &res);
    ASSERT_EQ(res.err, 0);
    ASSERT_EQ(out.len, len);
    ASSERT_MEM_EQ(out.buf, data, len);
    free(z.buf);
    free(out.buf);
  }
  free(data);
}

TEST(zlib_inflate_rejects_gzip_and_empty_input) {
  pl_result_t res;
  sink_t gz = run_through("abc", 3, 3, sl_gzip(NULL), NULL, &res);
  sink_t out = run_through(gz.buf, gz.len, 100, sl_inflate(NULL), NULL, &res);
  ASSERT_EQ(res.err, SL_EZDATA);
  ASSERT_STR_EQ(res.msg,
                "EZDATA: invalid compressed data, incorrect header "
                "check");
  free(out.buf);
  out = run_through("", 0, 1, sl_inflate(NULL), NULL, &res);
  ASSERT_EQ(res.err, SL_EUNEXPECTEDEOF);
  free(out.buf);
  free(gz.buf);
}

/* --- destroy and backpressure -------------------------------------------- */

static int n_close, n_error;
static void count_ev(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  if (ev->type == SL_EV_CLOSE) n_close++;
  if (ev->type == SL_EV_ERROR) n_error++;
  if (ev->type == SL_EV_DATA && arg != NULL) sl_stream_destroy(s, 0);
}

static void destroy_later(sl_timer_t* t, void* arg) {
  sl_stream_destroy(arg, SL_ECANCELED);
}

/* mode 0: destroy right after the write; 1: on the first data (later blocks
 * still compressing); 2: from a timer while the pool is busy. */
static void destroy_mid(sl_stream_t* z, int mode, size_t len) {
  char* data = make_data(len, 10);
  n_close = n_error = 0;
  sl_stream_on(z, SL_EV_CLOSE, count_ev, NULL);
  sl_stream_on(z, SL_EV_ERROR, count_ev, NULL);
  sl_stream_on(z, SL_EV_DATA, count_ev, mode == 1 ? z : NULL);
  sl_stream_write_bytes(z, data, len, NULL, NULL);
  sl_stream_write_bytes(z, data, len, NULL, NULL);
  sl_stream_end(z, NULL, NULL, NULL);
  if (mode == 0) sl_stream_destroy(z, 0);
  if (mode == 2) sl_timer_start(1, 0, destroy_later, z);
  sl_run();
  ASSERT_EQ(n_close, 1);
  ASSERT_EQ(n_error, mode == 2 ? 1 : 0);
  free(data);
}

TEST(zlib_gzip_destroy_while_blocks_in_flight) {
  for (int mode = 0; mode < 3; mode++) {
    sl_zlib_opts_t zo = {.threads = 2};
    destroy_mid(sl_gzip(&zo), mode, 6 * 1024 * 1024);
  }
}

TEST(zlib_deflate_destroy_while_pool_job_in_flight) {
  for (int mode = 0; mode < 3; mode++)
    destroy_mid(sl_deflate(NULL), mode, 4 * 1024 * 1024);
}

TEST(zlib_gzip_slow_consumer_keeps_buffering_bounded) {
  size_t len = 16 * 1024 * 1024;
  char* data = malloc(len);
  sl_test_fill_random(data, len, 11); /* incompressible: worst case */
  src_t src;
  sink_t k;
  sl_zlib_opts_t zo = {.threads = 2};
  sl_stream_t* z = sl_gzip(&zo);
  sl_stream_t* sink = sink_new(&k);
  k.slow_ms = 1;
  sl_stream_t* source = source_new(&src, data, len, 65536);
  sl_stream_ref(z);
  pl_result_t res = {0};
  ASSERT_EQ(sl_pipeline(on_pipeline, &res, source, z, sink), 0);
  sl_run();
  ASSERT_EQ(res.err, 0);
  ASSERT(k.len > len);
  sl_stream_stats_t st;
  sl_stream_stats(z, &st);
  /* Bound (sluice.h): both marks, one input chunk and `threads` blocks of
   * output beyond the mark; without backpressure the whole input would pile
   * up. */
  ASSERT_LE(st.max_buffered, 3 * 65536 + 2 * (128 * 1024 + 1024));
  sl_stream_unref(z);
  free(k.buf);
  free(data);
}

/* Issue 9, item 6: a reader that never reads pinned about 5 MiB per gzip
 * stream (1 MiB blocks in and out, one per CPU). Eight stalled streams, each
 * offered 64 MiB of incompressible bytes: each must stop taking input having
 * buffered no more than the bound sluice.h states for the default options,
 * whatever the CPU count (its marks, one chunk, at most 4 blocks of output
 * past the mark), and the process must not grow by more than that. */
#if defined(__SANITIZE_ADDRESS__)
#define ZLIB_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZLIB_TEST_ASAN 1
#endif
#endif
#ifndef ZLIB_TEST_ASAN
#define ZLIB_TEST_ASAN 0
#endif
#define STALL_N     8
#define STALL_BOUND (3 * 65536 + 4 * (128 * 1024 + 1024))

static char stall_buf[65536];

typedef struct {
  uint64_t left, pushed;
} gen_t;

static void gen_read(sl_stream_t* s, size_t n) {
  gen_t* g = sl_stream_data(s);
  for (;;) {
    if (g->left == 0) {
      sl_stream_push(s, NULL);
      return;
    }
    int rc = sl_stream_push_bytes(s, stall_buf, sizeof stall_buf);
    g->left -= sizeof stall_buf;
    g->pushed += sizeof stall_buf;
    if (rc <= 0) return;
  }
}

static const sl_stream_hooks_t gen_hooks = {.read = gen_read};

TEST(zlib_gzip_stalled_reader_holds_a_bounded_amount) {
  /* 64 KiB of random bytes repeated: the repeats are beyond deflate's 32 KiB
   * window, so the output is as large as the input (the worst case). */
  sl_test_fill_random(stall_buf, sizeof stall_buf, 13);
  gen_t g[STALL_N];
  sl_stream_t *src[STALL_N], *z[STALL_N];
  uint64_t rss0 = sl_rss();
  for (int i = 0; i < STALL_N; i++) {
    g[i] = (gen_t){.left = (uint64_t)64 << 20};
    sl_stream_opts_t o = {.hooks = &gen_hooks, .data = &g[i]};
    src[i] = sl_readable_new(&o);
    z[i] = sl_gzip(NULL);
    sl_stream_ref(src[i]);
    sl_stream_ref(z[i]);
    sl_stream_pipe(src[i], z[i], NULL);
  }
  sl_run(); /* returns once nothing moves: every pipe is stalled */
  uint64_t rss1 = sl_rss();
  for (int i = 0; i < STALL_N; i++) {
    sl_stream_stats_t st;
    sl_stream_stats(z[i], &st);
    ASSERT_LE(st.max_buffered, STALL_BOUND);
    /* Backpressure reached the source long before its 64 MiB. */
    ASSERT_LT(g[i].pushed, (uint64_t)2 << 20);
    ASSERT(!sl_stream_writable_finished(z[i]));
  }
  fprintf(stderr, "rss +%.1f MiB for %d stalled streams\n",
          (double)(rss1 - rss0) / 1048576, STALL_N);
#if !ZLIB_TEST_ASAN /* ASan's redzones and quarantine inflate the RSS */
  ASSERT_LT(rss1 - rss0, (uint64_t)STALL_N * STALL_BOUND + (4u << 20));
#endif
  for (int i = 0; i < STALL_N; i++) {
    sl_stream_destroy(src[i], 0);
    sl_stream_destroy(z[i], 0);
  }
  sl_run();
  for (int i = 0; i < STALL_N; i++) {
    sl_stream_unref(src[i]);
    sl_stream_unref(z[i]);
  }
}

/* More streams than shared compressors: they queue for jobs, all finish
 * with the right bytes, and one destroyed while it waits leaves the queue
 * (the others still finish). */
#define SHARE_N 6
TEST(zlib_gzip_streams_share_the_compressors) {
  size_t len = 2 * 1024 * 1024 + 17;
  char* data[SHARE_N];
  src_t src[SHARE_N];
  sink_t k[SHARE_N];
  pl_result_t res[SHARE_N];
  sl_stream_t* z[SHARE_N];
  for (int i = 0; i < SHARE_N; i++) {
    data[i] = make_data(len, 20 + (uint64_t)i);
    sl_zlib_opts_t zo = {.threads = 4, .block_size = 64 * 1024};
    z[i] = sl_gzip(&zo);
    memset(&res[i], 0, sizeof res[i]);
    ASSERT_EQ(sl_pipeline(on_pipeline, &res[i],
                          source_new(&src[i], data[i], len, 65536), z[i],
                          sink_new(&k[i])),
              0);
  }
  sl_timer_start(5, 0, destroy_later, z[SHARE_N - 1]);
  sl_run();
  for (int i = 0; i < SHARE_N; i++) {
    ASSERT_EQ(res[i].calls, 1);
    if (i == SHARE_N - 1) {
      /* Destroyed from the timer, unless it had already finished. */
      ASSERT(res[i].err == SL_ECANCELED || res[i].err == 0);
    } else {
      ASSERT_EQ(res[i].err, 0);
      pl_result_t r2;
      sink_t back =
          run_through(k[i].buf, k[i].len, 30000, sl_gunzip(NULL), NULL, &r2);
      ASSERT_EQ(r2.err, 0);
      ASSERT_EQ(back.len, len);
      ASSERT_MEM_EQ(back.buf, data[i], len);
      free(back.buf);
    }
    free(k[i].buf);
    free(data[i]);
  }
}

/* Issue 9, item 14: a bad option is an SL_EINVAL error from the loop that
 * names the option and its range, never an assertion. */
TEST(zlib_bad_options_fail_with_einval) {
  struct {
    sl_zlib_opts_t o;
    sl_stream_t* (*make)(const sl_zlib_opts_t*);
    const char* msg;
  } cases[] = {
      {{.level = 12},
       sl_gzip,
       "EINVAL: invalid argument, gzip: level 12 is out of range (1-9, 0 = "
       "default 6)"},
      {{.level = -1},
       sl_deflate,
       "EINVAL: invalid argument, deflate: level -1 is out of range (1-9, 0 "
       "= default 6)"},
      {{.threads = -2},
       sl_gzip,
       "EINVAL: invalid argument, gzip: threads -2 is out of range (1-64, 0 "
       "= auto)"},
      {{.block_size = 100},
       sl_gzip,
       "EINVAL: invalid argument, gzip: block_size 100 is out of range "
       "(1024-67108864, 0 = 128 KiB)"},
      {{.chunk_size = (size_t)1 << 33},
       sl_gunzip,
       "EINVAL: invalid argument, gunzip: chunk_size 8589934592 is out of "
       "range (1-4294967295, 0 = 64 KiB)"},
      {{.level = 10},
       sl_inflate,
       "EINVAL: invalid argument, inflate: level 10 is out of range (1-9, 0 "
       "= default 6)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    src_t src;
    sink_t k;
    pl_result_t res = {0};
    sl_stream_t* z = cases[i].make(&cases[i].o);
    ASSERT(z != NULL);
    ASSERT_EQ(sl_pipeline(on_pipeline, &res, source_new(&src, "abc", 3, 3), z,
                          sink_new(&k)),
              0);
    ASSERT_EQ(res.calls, 0); /* from the loop, not inside the call */
    sl_run();
    ASSERT_EQ(res.calls, 1);
    ASSERT_EQ(res.err, SL_EINVAL);
    ASSERT_EQ(res.stage, 1);
    ASSERT_STR_EQ(res.msg, cases[i].msg);
    ASSERT_EQ(k.len, 0);
    free(k.buf);
  }
}

/* --- a chunk of 4 GiB and more ------------------------------------------- */

#include <sys/mman.h>

#define ZLIB_HUGE (((size_t)4 << 30) + 3) /* past zlib's 32-bit avail_in */

static void zlib_unmap_huge(void* data, void* arg) {
  (void)arg;
  munmap(data, ZLIB_HUGE);
}

static void zlib_collect(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  sink_append(arg, sl_chunk_data(ev->chunk), sl_chunk_len(ev->chunk));
}

/* One written chunk larger than zlib can take in one call (avail_in is 32
 * bits): a zlib stream followed by data inflate ignores, as Node does. */
TEST(zlib_inflate_chunk_over_4gib) {
  static const unsigned char hello[] = {0x78, 0x9c, 0xcb, 0x48, 0xcd,
                                        0xc9, 0xc9, 0x07, 0x00, 0x06,
                                        0x2c, 0x02, 0x15};
  char* p = mmap(NULL, ZLIB_HUGE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT(p != MAP_FAILED);
  memcpy(p, hello, sizeof hello);
  sl_chunk_t* c = sl_chunk_wrap(p, ZLIB_HUGE, zlib_unmap_huge, NULL);
  sink_t out = {0};
  sl_stream_t* z = sl_inflate(NULL);
  sl_stream_ref(z);
  sl_stream_on(z, SL_EV_DATA, zlib_collect, &out);
  sl_stream_end(z, c, NULL, NULL);
  sl_chunk_unref(c);
  sl_run();
  ASSERT_EQ(sl_stream_error(z), 0);
  ASSERT(sl_stream_writable_finished(z) && sl_stream_ended(z));
  ASSERT_EQ(out.len, 5);
  ASSERT_MEM_EQ(out.buf, "hello", 5);
  sl_stream_unref(z);
  free(out.buf);
}
