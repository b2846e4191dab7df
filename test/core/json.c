/* JSON helpers: the strict validator the channel runs on every line, and
 * the public getters for top-level keys. */
#include "test.h"

#include "core/internal.h"

#define J(s) (s), strlen(s)

TEST(json_validate_strict) {
  const char* good[] = {"{}",
                        "[]",
                        "0",
                        "-0.5e+3",
                        "\"x\"",
                        "true",
                        "false",
                        "null",
                        "{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u00e9\\n\"}",
                        " [ 1 , 2 ] ",
                        "\"\\ud83d\\ude00\"",
                        "{\"\":\"\"}",
                        "1E9",
                        "[[[[]]]]"};
  const char* bad[] = {
      "",           " ",           "{",           "}",
      "[1,]",       "{\"a\":}",    "{a:1}",       "01",
      "1.",         ".5",          "-",           "+1",
      "1e",         "tru",         "nul",         "\"abc",
      "\"\\x\"",    "\"\\u12g4\"", "[1 2]",       "{\"a\" 1}",
      "{\"a\":1,}", "1 2",         "'a'",         "\"tab\there\"",
      "NaN",        "[1]\n",       "{\"a\":\n1}", "\"\x01\""};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    if (sl__json_validate(J(good[i])) != 0)
      sl_test_fail(__FILE__, __LINE__, "rejected valid %s", good[i]);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (sl__json_validate(J(bad[i])) == 0)
      sl_test_fail(__FILE__, __LINE__, "accepted invalid [%s]", bad[i]);
  /* Deep nesting is refused rather than recursing without bound. */
  char deep[4001];
  memset(deep, '[', 2000);
  memset(deep + 2000, ']', 2000);
  deep[4000] = '\0';
  ASSERT_EQ(sl__json_validate(deep, 4000), SL_EINVAL);
  /* A length that cuts a valid text is checked as given. */
  ASSERT_EQ(sl__json_validate("{\"a\":1}", 6), SL_EINVAL);
}

TEST(json_get_values) {
  const char* m =
      "{\"n\": 10, \"f\": -2.5e1, \"s\": \"caf\\u00e9 \\\"q\\\" "
      "\\ud83d\\ude00\\n\", \"o\": {\"n\": 99}, \"t\": true}";
  double d;
  int64_t i;
  char buf[64];
  ASSERT_EQ(sl_json_get_number(J(m), "f", &d), 0);
  ASSERT(d == -25.0);
  ASSERT_EQ(sl_json_get_int(J(m), "n", &i), 0);
  ASSERT_EQ(i, 10);
  ASSERT_EQ(sl_json_get_string(J(m), "s", buf, sizeof buf), 0);
  ASSERT_STR_EQ(buf, "caf\xc3\xa9 \"q\" \xf0\x9f\x98\x80\n");
  /* Only top-level keys count; nested ones are not found. */
  ASSERT_EQ(sl_json_get_int(J("{\"o\":{\"x\":1}}"), "x", &i), SL_ENOENT);
  ASSERT_EQ(sl_json_get_int(J(m), "missing", &i), SL_ENOENT);
  /* Wrong types, non-objects and broken text. */
  ASSERT_EQ(sl_json_get_int(J(m), "s", &i), SL_EINVAL);
  ASSERT_EQ(sl_json_get_string(J(m), "n", buf, sizeof buf), SL_EINVAL);
  ASSERT_EQ(sl_json_get_int(J(m), "t", &i), SL_EINVAL);
  ASSERT_EQ(sl_json_get_int(J("[1,2]"), "n", &i), SL_EINVAL);
  ASSERT_EQ(sl_json_get_int(J("{\"n\":1,}"), "n", &i), SL_EINVAL);
  ASSERT_EQ(sl_json_get_int(J("{\"n\":1} x"), "n", &i), SL_EINVAL);
  /* A buffer too small: ENOBUFS. */
  ASSERT_EQ(sl_json_get_string(J("{\"s\":\"abcdef\"}"), "s", buf, 4),
            SL_ENOBUFS);
  ASSERT_EQ(sl_json_get_string(J("{\"s\":\"abc\"}"), "s", buf, 4), 0);
  ASSERT_STR_EQ(buf, "abc");
  /* The last duplicate wins, as in JSON.parse; escaped keys match. */
  ASSERT_EQ(sl_json_get_int(J("{\"k\":1,\"\\u006b\":2}"), "k", &i), 0);
  ASSERT_EQ(i, 2);
  /* A lone surrogate becomes U+FFFD. */
  ASSERT_EQ(sl_json_get_string(J("{\"s\":\"\\ud800x\"}"), "s", buf, 64), 0);
  ASSERT_STR_EQ(buf, "\xef\xbf\xbdx");
}

TEST(json_get_int_forms) {
  int64_t i;
  ASSERT_EQ(sl_json_get_int(J("{\"n\":1e3}"), "n", &i), 0);
  ASSERT_EQ(i, 1000);
  ASSERT_EQ(sl_json_get_int(J("{\"n\":-4.0}"), "n", &i), 0);
  ASSERT_EQ(i, -4);
  ASSERT_EQ(sl_json_get_int(J("{\"n\":2.5}"), "n", &i), SL_EINVAL);
  ASSERT_EQ(sl_json_get_int(J("{\"n\":9007199254740993}"), "n", &i), 0);
  ASSERT_EQ(i, 9007199254740993LL);
  ASSERT_EQ(sl_json_get_int(J("{\"n\":99999999999999999999}"), "n", &i),
            SL_ERANGE);
  ASSERT_EQ(sl_json_get_int(J("{\"n\":1e300}"), "n", &i), SL_ERANGE);
  double d;
  ASSERT_EQ(sl_json_get_number(J("{ \"n\" : 0.125 }"), "n", &d), 0);
  ASSERT(d == 0.125);
}

/* The corners of RFC 8259 numbers, strings and structure, one by one, and
 * embedded NULs and raw bytes, with explicit lengths. */
TEST(json_validate_corners) {
  const char* good[] = {"-0",
                        "0",
                        "-0.0",
                        "1e5",
                        "1E-5",
                        "1e+5",
                        "-1.25E+10",
                        "0e0",
                        "123456789012345678901234567890",
                        "0.000001",
                        "[-0,0,-1]",
                        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
                        "\"\\uD800\"",
                        "\"\\uDC00\\uD800\"",
                        "\"\\uFFFF\"",
                        "\"\xe2\x80\xa8\"",
                        "\"\x7f\"",
                        "\"caf\xc3\xa9\"",
                        "{\"a\":{\"b\":{\"c\":[true,false,null]}}}",
                        "\t{\r\"a\" :\t1 }\r",
                        "[\"\"]",
                        "{\"a\":1,\"a\":2}",
                        "\"12345678\"",
                        "\"1234567\\\"\""};
  const char* bad[] = {"-01",
                       "00",
                       "1.e5",
                       "1e",
                       "1e+",
                       "-",
                       "--1",
                       "0x10",
                       "1_000",
                       "Infinity",
                       "-Infinity",
                       "[01]",
                       "1.5.2",
                       "\"\\u123\"",
                       "\"\\U0041\"",
                       "\"\\'\"",
                       "\"\\\"",
                       "[",
                       "[,1]",
                       "{\"a\"}",
                       "{1:2}",
                       "{\"a\":1 \"b\":2}",
                       "[1,,2]",
                       "truefalse",
                       "nulll",
                       "[true false]",
                       "\"a\"\"b\"",
                       "\xef\xbb\xbf{}",
                       "\"12345678\x1f\"",
                       "{}}",
                       "[]]",
                       "\"\\u0000\x0a\""};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    if (sl__json_validate(J(good[i])) != 0)
      sl_test_fail(__FILE__, __LINE__, "rejected valid %s", good[i]);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (sl__json_validate(J(bad[i])) == 0)
      sl_test_fail(__FILE__, __LINE__, "accepted invalid [%s]", bad[i]);
  ASSERT_EQ(sl__json_validate("\"a\0b\"", 5), SL_EINVAL); /* raw NUL */
  ASSERT_EQ(sl__json_validate("1\0", 2), SL_EINVAL);
  ASSERT_EQ(sl__json_validate("\"\\u0000\"", 8), 0);
  /* 511 levels pass, the limit refuses deeper. */
  char deep[1100];
  memset(deep, '[', 511);
  memset(deep + 511, ']', 511);
  ASSERT_EQ(sl__json_validate(deep, 1022), 0);
  int64_t v;
  ASSERT_EQ(sl_json_get_int(J("{\"n\":-0}"), "n", &v), 0);
  ASSERT_EQ(v, 0);
  ASSERT_EQ(sl_json_get_int(J("{\"n\":1E+3}"), "n", &v), 0);
  ASSERT_EQ(v, 1000);
  ASSERT_EQ(sl_json_get_int(J("{\"n\":1e-5}"), "n", &v), SL_EINVAL);
  ASSERT_EQ(sl_json_get_int(J("{\"n\":9223372036854775808}"), "n", &v),
            SL_ERANGE);
  char s[16];
  ASSERT_EQ(sl_json_get_string(J("{\"s\":\"\\uD83D\"}"), "s", s, sizeof s), 0);
  ASSERT_STR_EQ(s, "\xef\xbf\xbd");
  ASSERT_EQ(sl_json_get_string(J("{\"\\u0073\":\"k\"}"), "s", s, sizeof s), 0);
  ASSERT_STR_EQ(s, "k");
}
