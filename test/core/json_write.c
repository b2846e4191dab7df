/* The JSON writer: the string escaper against a table and against
 * python3's json module on random byte strings (ill-formed UTF-8 included:
 * Python decodes with errors="replace", the writer must agree byte for
 * byte), the printf-like directives, and the all-or-nothing failures. */
#include <math.h>

#include "test.h"

#include "core/internal.h"

static void expect_str(const char* in, size_t len, const char* want) {
  sl_buf_t b = {0};
  ASSERT_EQ(sl_buf_json_str(&b, in, len), 0);
  if (strcmp(b.data, want) != 0)
    sl_test_fail(__FILE__, __LINE__, "escaped to %s, want %s", b.data, want);
  ASSERT_EQ(sl__json_validate(b.data, b.len), 0);
  sl_buf_free(&b);
}
#define EXPECT(in, want) expect_str((in), sizeof(in) - 1, (want))

TEST(json_write_escapes) {
  EXPECT("", "\"\"");
  EXPECT("plain text", "\"plain text\"");
  EXPECT("q\"b\\s/", "\"q\\\"b\\\\s/\"");
  EXPECT("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
  EXPECT("\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\"");
  EXPECT("a\0b", "\"a\\u0000b\""); /* explicit length: NUL is data */
  EXPECT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT("\xe2\x80\xa8", "\"\xe2\x80\xa8\""); /* U+2028 is valid JSON */
  /* Ill-formed UTF-8: one U+FFFD per maximal ill-formed subsequence. */
  EXPECT("\xff", "\"\xef\xbf\xbd\"");
  EXPECT("a\x80z", "\"a\xef\xbf\xbdz\"");
  EXPECT("\xe2\x82", "\"\xef\xbf\xbd\""); /* cut short */
  EXPECT("\xe2\x82z", "\"\xef\xbf\xbdz\"");
  EXPECT("\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\""); /* overlong */
  EXPECT("\xe0\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
  EXPECT("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* D800 */
  EXPECT("\xf4\x90\x80\x80", /* above U+10FFFF */
         "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
  EXPECT("\xf0\x9f\x98", "\"\xef\xbf\xbd\"");
  EXPECT("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF */
  sl_buf_t b = {0};
  ASSERT_EQ(sl_buf_json_str(&b, NULL, 0), 0);
  ASSERT_STR_EQ(b.data, "null");
  sl_buf_free(&b);
}

/* Random strings, weighted towards the cases that matter: controls,
 * quotes, multi-byte sequences whole and cut, and random high bytes. */
static size_t random_string(unsigned char* s, size_t cap, uint64_t* st) {
  static const char* pieces[] = {"\"",
                                 "\\",
                                 "\n",
                                 "\x01",
                                 "\x1f",
                                 "\x7f",
                                 "\xc3\xa9",
                                 "\xe2\x82\xac",
                                 "\xf0\x9f\x98\x80",
                                 "\xe2\x82",
                                 "\xed\xa0\x80",
                                 "\xf4\x90\x80",
                                 "\xc0\x80",
                                 "/",
                                 "a"};
  size_t n = 0, want;
  *st = *st * 6364136223846793005ull + 1442695040888963407ull;
  want = (size_t)(*st >> 33) % 40;
  while (n < want) {
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    unsigned r = (unsigned)(*st >> 33);
    if (r % 3 == 0) {
      const char* p = pieces[(r >> 4) % (sizeof pieces / sizeof pieces[0])];
      size_t k = strlen(p);
      if (n + k > cap) break;
      memcpy(s + n, p, k);
      n += k;
    } else if (n < cap) {
      s[n++] = (unsigned char)(r >> 8);
    } else {
      break;
    }
  }
  return n;
}

static void put_hex(FILE* f, const unsigned char* s, size_t n) {
  for (size_t i = 0; i < n; i++) fprintf(f, "%02x", s[i]);
  fputc('\n', f);
}

TEST(json_write_matches_python) {
  enum { N = 500 };
  const char* in_path = sl_test_path("in.txt");
  const char* want_path = sl_test_path("want.txt");
  FILE* in = fopen(in_path, "w");
  ASSERT(in != NULL);
  uint64_t st = 12345;
  unsigned char s[256];
  sl_buf_t got = {0};
  for (int i = 0; i < N; i++) {
    size_t n = random_string(s, sizeof s, &st);
    put_hex(in, s, n);
    ASSERT_EQ(sl_buf_json_str(&got, (const char*)s, n), 0);
    ASSERT_EQ(sl_buf_append(&got, "\n", 1), 0);
  }
  fclose(in);
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "python3 -c 'import json,sys\n"
           "out = open(sys.argv[2], \"wb\")\n"
           "for line in open(sys.argv[1]):\n"
           "  s = bytes.fromhex(line.strip()).decode(\"utf-8\", \"replace\")\n"
           "  out.write((json.dumps(s, ensure_ascii=False) + \"\\n\")"
           ".encode(\"utf-8\"))\n' %s %s",
           in_path, want_path);
  ASSERT_EQ(system(cmd), 0);
  size_t wlen;
  char* want = sl_test_read_file(want_path, &wlen);
  /* Line by line, to name the first difference. */
  const char *g = got.data, *w = want;
  for (int i = 0; i < N; i++) {
    const char* ge = strchr(g, '\n');
    const char* we = strchr(w, '\n');
    ASSERT(ge != NULL && we != NULL);
    if (ge - g != we - w || memcmp(g, w, (size_t)(ge - g)) != 0)
      sl_test_fail(__FILE__, __LINE__, "line %d: got %.*s want %.*s", i,
                   (int)(ge - g), g, (int)(we - w), w);
    g = ge + 1;
    w = we + 1;
  }
  ASSERT_EQ(wlen, got.len);
  free(want);
  sl_buf_free(&got);
}

TEST(json_write_directives) {
  sl_buf_t b = {0};
  const char* volatile none = NULL; /* hidden from the format check */
  ASSERT_EQ(sl_buf_json(&b, "{\"s\":%s,\"n\":%s,\"p\":%.*s}", "a\"b", none, 3,
                        "xyzzy"),
            0);
  ASSERT_STR_EQ(b.data, "{\"s\":\"a\\\"b\",\"n\":null,\"p\":\"xyz\"}");
  sl_buf_reset(&b);
  ASSERT_EQ(
      sl_buf_json(&b, "[%d,%i,%ld,%lld,%u,%lu,%llu,%zu,%zd]", -1, 2, -3L, -4LL,
                  5u, 6ul, 18446744073709551615ull, (size_t)8, (ssize_t)-9),
      0);
  ASSERT_STR_EQ(b.data, "[-1,2,-3,-4,5,6,18446744073709551615,8,-9]");
  sl_buf_reset(&b);
  ASSERT_EQ(sl_buf_json(&b, "[%.3f,%g,%f,%g,%e,%.2e] 100%%", 1.5, 0.25, NAN,
                        INFINITY, -HUGE_VAL, 12345.0),
            0);
  ASSERT_STR_EQ(b.data, "[1.500,0.25,null,null,null,1.23e+04] 100%");
  sl_buf_reset(&b);
  ASSERT_EQ(sl_buf_json(&b, "{\"ok\":true}"), 0);
  ASSERT_EQ(sl__json_validate(b.data, b.len), 0);
  sl_buf_free(&b);
}

/* Directives it does not know leave the buffer as it was. The formats are
 * built at run time so that the compiler's format check lets them by. */
TEST(json_write_refuses_unknown) {
  sl_buf_t b = {0};
  ASSERT_EQ(sl_buf_append_str(&b, "keep"), 0);
  const char* bad[] = {"[%s,%x]", "%5d", "%-d", "%p", "%.3d",
                       "%ls",     "%",   "%l",  "%lz"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char* volatile fmt = bad[i];
    ASSERT_EQ(sl_buf_json(&b, fmt, "a", 1), SL_EINVAL);
    ASSERT_EQ(b.len, 4);
    ASSERT_STR_EQ(b.data, "keep");
  }
  sl_buf_free(&b);
}
