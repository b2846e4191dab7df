/* JSON helpers: the strict validator the channel runs on every line, and
 * the public getters for top-level keys. */
#include "test.h"

#include "process/process_int.h"

#define J(s) (s), strlen(s)

TEST(json_validate_strict) {
  const char* good[] = {
      "{}", "[]", "0", "-0.5e+3", "\"x\"", "true", "false", "null",
      "{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u00e9\\n\"}", " [ 1 , 2 ] ",
      "\"\\ud83d\\ude00\"", "{\"\":\"\"}", "1E9", "[[[[]]]]"};
  const char* bad[] = {
      "", " ", "{", "}", "[1,]", "{\"a\":}", "{a:1}", "01", "1.", ".5", "-",
      "+1", "1e", "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12g4\"", "[1 2]",
      "{\"a\" 1}", "{\"a\":1,}", "1 2", "'a'", "\"tab\there\"", "NaN",
      "[1]\n", "{\"a\":\n1}", "\"\x01\""};
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
  const char* m = "{\"n\": 10, \"f\": -2.5e1, \"s\": \"caf\\u00e9 \\\"q\\\" "
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
