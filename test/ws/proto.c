/* The pure parts of the WebSocket layer: SHA-1, base64, the accept key,
 * the UTF-8 validator, frame headers, masks, close codes, and the
 * permessage-deflate negotiation and codec. */
#include "test.h"
#include "ws/ws_int.h"

static void hex(const unsigned char* d, size_t n, char* out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

TEST(ws_sha1_vectors) {
  unsigned char d[20];
  char h[41];
  sl__sha1("abc", 3, d);
  hex(d, 20, h);
  ASSERT_STR_EQ(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
  sl__sha1("", 0, d);
  hex(d, 20, h);
  ASSERT_STR_EQ(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  /* 56 bytes: the padding needs a second block. */
  const char* two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  sl__sha1(two, strlen(two), d);
  hex(d, 20, h);
  ASSERT_STR_EQ(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  char* mil = malloc(1000000);
  memset(mil, 'a', 1000000);
  sl__sha1(mil, 1000000, d);
  free(mil);
  hex(d, 20, h);
  ASSERT_STR_EQ(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(ws_base64_and_accept_key) {
  char out[64];
  sl__base64((const unsigned char*)"", 0, out);
  ASSERT_STR_EQ(out, "");
  sl__base64((const unsigned char*)"f", 1, out);
  ASSERT_STR_EQ(out, "Zg==");
  sl__base64((const unsigned char*)"fo", 2, out);
  ASSERT_STR_EQ(out, "Zm8=");
  sl__base64((const unsigned char*)"foobar", 6, out);
  ASSERT_STR_EQ(out, "Zm9vYmFy");
  /* RFC 6455 1.3's example. */
  char acc[29];
  sl__ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, acc);
  ASSERT_STR_EQ(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static int utf8_ok(const char* s, size_t n) {
  sl__utf8_t u = {0};
  return sl__utf8_feed(&u, (const unsigned char*)s, n) == 0 &&
         sl__utf8_complete(&u);
}

TEST(ws_utf8_rules) {
  ASSERT(utf8_ok("", 0));
  ASSERT(utf8_ok("plain ascii, long enough for the fast path", 43));
  ASSERT(utf8_ok("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11));
  ASSERT(utf8_ok("\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
  ASSERT(utf8_ok("\xed\x9f\xbf", 3));      /* U+D7FF */
  ASSERT(!utf8_ok("\xed\xa0\x80", 3));     /* a surrogate */
  ASSERT(!utf8_ok("\xc0\xaf", 2));         /* overlong '/' */
  ASSERT(!utf8_ok("\xe0\x80\xaf", 3));     /* overlong */
  ASSERT(!utf8_ok("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
  ASSERT(!utf8_ok("\xff", 1));
  ASSERT(!utf8_ok("abc\xe2\x82", 5)); /* cut: not complete */
  /* Pieces: valid so far, complete at the end; a bad byte fails at once. */
  sl__utf8_t u = {0};
  ASSERT_EQ(sl__utf8_feed(&u, (const unsigned char*)"\xe2", 1), 0);
  ASSERT(!sl__utf8_complete(&u));
  ASSERT_EQ(sl__utf8_feed(&u, (const unsigned char*)"\x82\xac", 2), 0);
  ASSERT(sl__utf8_complete(&u));
  ASSERT_EQ(sl__utf8_feed(&u, (const unsigned char*)"\xe2\x28", 2), -1);
}

TEST(ws_frame_header_and_mask) {
  unsigned char h[14];
  ASSERT_EQ(sl__ws_frame_header(h, 1, 0, 1, 5, NULL), 2);
  ASSERT_EQ(h[0], 0x81);
  ASSERT_EQ(h[1], 5);
  ASSERT_EQ(sl__ws_frame_header(h, 0, 1, 2, 126, NULL), 4);
  ASSERT_EQ(h[0], 0x42);
  ASSERT_EQ(h[1], 126);
  ASSERT_EQ(h[2] << 8 | h[3], 126);
  const unsigned char key[4] = {1, 2, 3, 4};
  ASSERT_EQ(sl__ws_frame_header(h, 1, 0, 2, 70000, key), 14);
  ASSERT_EQ(h[1], 0x80 | 127);
  ASSERT_EQ(((uint64_t)h[7] << 16) | (h[8] << 8) | h[9], 70000);
  ASSERT_MEM_EQ(h + 10, key, 4);
  /* Masking twice gives the bytes back, at any offset and length. */
  unsigned char buf[37], orig[37];
  sl_test_fill_random(orig, sizeof orig, 7);
  memcpy(buf, orig, sizeof buf);
  sl__ws_mask(buf, sizeof buf, key, 0);
  ASSERT(memcmp(buf, orig, sizeof buf) != 0);
  ASSERT_EQ(buf[5], orig[5] ^ key[1]);
  sl__ws_mask(buf, 3, key, 0);
  sl__ws_mask(buf + 3, sizeof buf - 3, key, 3);
  ASSERT_MEM_EQ(buf, orig, sizeof buf);
}

TEST(ws_close_codes) {
  static const int ok[] = {1000, 1001, 1002, 1003, 1007, 1011, 3000, 4999};
  static const int bad[] = {0, 999, 1004, 1005, 1006, 1015, 2999, 5000};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    ASSERT(sl__ws_close_code_ok(ok[i]));
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ASSERT(!sl__ws_close_code_ok(bad[i]));
}

TEST(ws_deflate_negotiation) {
  sl_ws_opts_t o = {.deflate = 1};
  sl__ws_pmd_t p;
  char ans[200];
  /* Not wanted, not offered, a malformed offer: no extension. */
  sl_ws_opts_t off = {0};
  ASSERT_EQ(sl__ws_pmd_accept(&off, "permessage-deflate", &p, ans, 200), 0);
  ASSERT_EQ(sl__ws_pmd_accept(&o, NULL, &p, ans, 200), 0);
  ASSERT_EQ(sl__ws_pmd_accept(&o, "permessage-deflate; bogus", &p, ans, 200),
            0);
  ASSERT_EQ(
      sl__ws_pmd_accept(&o, "permessage-deflate; server_max_window_bits=99", &p,
                        ans, 200),
      0);
  /* 8 bits for our side cannot be honoured by zlib: declined; the next
   * offer in the list is taken. */
  ASSERT_EQ(sl__ws_pmd_accept(&o,
                              "permessage-deflate; server_max_window_bits=8, "
                              "permessage-deflate; client_max_window_bits",
                              &p, ans, 200),
            1);
  ASSERT_STR_EQ(ans, "permessage-deflate");
  ASSERT_EQ(sl__ws_pmd_accept(&o,
                              "permessage-deflate; client_no_context_takeover; "
                              "server_max_window_bits=10",
                              &p, ans, 200),
            1);
  ASSERT_STR_EQ(ans,
                "permessage-deflate; client_no_context_takeover; "
                "server_max_window_bits=10");
  ASSERT_EQ(p.server_max_window_bits, 10);
  ASSERT(p.client_no_context_takeover && !p.server_no_context_takeover);
  /* Our own no-context-takeover is asked of both sides. */
  sl_ws_opts_t nct = {.deflate = 1, .deflate_no_context_takeover = 1};
  ASSERT_EQ(sl__ws_pmd_accept(&nct, "permessage-deflate", &p, ans, 200), 1);
  ASSERT_STR_EQ(ans,
                "permessage-deflate; server_no_context_takeover; "
                "client_no_context_takeover");
  /* The client's check of an answer. */
  ASSERT_EQ(sl__ws_pmd_check(&o, NULL, &p), 0);
  ASSERT(!p.on);
  ASSERT_EQ(
      sl__ws_pmd_check(&o, "permessage-deflate; server_max_window_bits=9", &p),
      0);
  ASSERT(p.on && p.server_max_window_bits == 9);
  ASSERT_EQ(sl__ws_pmd_check(&off, "permessage-deflate", &p), -1);
  ASSERT_EQ(sl__ws_pmd_check(&o, "x-webkit-deflate-frame", &p), -1);
  ASSERT_EQ(
      sl__ws_pmd_check(&o, "permessage-deflate; client_max_window_bits=8", &p),
      -1);
}

TEST(ws_deflate_round_trip_and_bounds) {
  sl__ws_zctx_t d = {.bits = 15, .keep = 1}, i = {.keep = 1};
  sl_buf_t c = {0}, out = {0};
  char msg[5000];
  for (size_t k = 0; k < sizeof msg; k++) msg[k] = "sluice "[k % 7];
  for (int round = 0; round < 3; round++) {
    sl_buf_reset(&c);
    sl_buf_reset(&out);
    ASSERT_EQ(sl__ws_deflate(&d, msg, sizeof msg, 1, &c), 0);
    ASSERT_LT(c.len, 200); /* repetitive: it compresses */
    ASSERT_EQ(sl__ws_inflate(&i, c.data, c.len, 1, 1 << 20, &out), 0);
    ASSERT_EQ(out.len, sizeof msg);
    ASSERT_MEM_EQ(out.data, msg, sizeof msg);
  }
  /* Over the limit once inflated: SL_EMSGSIZE, whatever the input size. */
  sl__ws_zctx_t d2 = {.bits = 15}, i2 = {0};
  char* zeros = calloc(1, 8 << 20);
  sl_buf_reset(&c);
  sl_buf_reset(&out);
  ASSERT_EQ(sl__ws_deflate(&d2, zeros, 8 << 20, 1, &c), 0);
  free(zeros);
  ASSERT_EQ(sl__ws_inflate(&i2, c.data, c.len, 1, 1 << 20, &out), SL_EMSGSIZE);
  ASSERT_LE(out.len, (1 << 20) + 1);
  ASSERT(!i2.ready); /* freed on failure */
  sl__ws_zctx_t i3 = {0};
  sl_buf_reset(&out);
  ASSERT_EQ(sl__ws_inflate(&i3, "\xff\xff\xff", 3, 1, 100, &out), SL_EZDATA);
  sl__ws_zfree(&d);
  sl__ws_zfree(&i);
  sl__ws_zfree(&d2);
  sl_buf_free(&c);
  sl_buf_free(&out);
}
