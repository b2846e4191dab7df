/* The client's URL parser: host, port, authority and path of the URLs
 * sl_http_request() takes, and the ones it refuses. */
#include "test.h"

#include "http/http_int.h"

TEST(http_url_parts) {
  sl__http_url_t u;
  ASSERT_EQ(sl__http_parse_url("http://example.com/a/b?q=1#frag", &u), 0);
  ASSERT_STR_EQ(u.host, "example.com");
  ASSERT_EQ(u.port, 80);
  ASSERT_STR_EQ(u.authority, "example.com");
  ASSERT_EQ(u.path_len, 8);
  ASSERT_MEM_EQ(u.path, "/a/b?q=1", 8);
  ASSERT_EQ(sl__http_parse_url("HTTP://user:pw@127.0.0.1:8080", &u), 0);
  ASSERT_STR_EQ(u.host, "127.0.0.1");
  ASSERT_EQ(u.port, 8080);
  ASSERT_STR_EQ(u.authority, "127.0.0.1:8080");
  ASSERT_EQ(u.path_len, 0);
  ASSERT_EQ(sl__http_parse_url("http://[::1]:3000?x", &u), 0);
  ASSERT_STR_EQ(u.host, "::1");
  ASSERT_EQ(u.port, 3000);
  ASSERT_STR_EQ(u.authority, "[::1]:3000");
  ASSERT_MEM_EQ(u.path, "?x", 2);
  ASSERT_EQ(sl__http_parse_url("http://[::1]/", &u), 0);
  ASSERT_EQ(u.port, 80);
}

TEST(http_url_refused) {
  sl__http_url_t u;
  const char* bad[] = {
      NULL,          "https://a/",     "ftp://a",        "http://",
      "http:///p",   "http://a:0/",    "http://a:65536", "http://a:8x/",
      "http://[::1", "http://[::1]x/", "http://:80/"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (sl__http_parse_url(bad[i], &u) != SL_EINVAL)
      sl_test_fail(__FILE__, __LINE__, "accepted %s", bad[i] ? bad[i] : "NULL");
  char long_host[400] = "http://";
  memset(long_host + 7, 'h', 300);
  ASSERT_EQ(sl__http_parse_url(long_host, &u), SL_EINVAL);
}
