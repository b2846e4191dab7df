/* The shared HTTP helpers: the one reason-phrase table and the Date
 * header's clock (the date, range and ETag parsers are tested with the
 * static server that first needed them, test/http/static.c). */
#include <time.h>

#include "test.h"

#include "http/http_int.h"

TEST(http_reason_table) {
  ASSERT_STR_EQ(sl__http_reason(200), "OK");
  ASSERT_STR_EQ(sl__http_reason(404), "Not Found");
  ASSERT_STR_EQ(sl__http_reason(414), "URI Too Long");
  ASSERT_STR_EQ(sl__http_reason(431), "Request Header Fields Too Large");
  ASSERT_STR_EQ(sl__http_reason(599), "Unknown");
}

TEST(http_date_now_is_imf_fixdate) {
  size_t n;
  time_t before = time(NULL);
  const char* d = sl__http_date_now(&n);
  ASSERT_EQ(n, 29);
  ASSERT_EQ(strlen(d), 29);
  ASSERT_STR_EQ(d + 26, "GMT");
  int64_t t;
  ASSERT_EQ(sl__http_parse_date(d, &t), 0);
  ASSERT(t >= before && t <= time(NULL));
  char out[32];
  sl__http_date(784111777, out);
  ASSERT_STR_EQ(out, "Sun, 06 Nov 1994 08:49:37 GMT");
}
