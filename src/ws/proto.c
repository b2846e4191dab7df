/* The pure parts of RFC 6455, with no stream or loop: the handshake's key
 * digest (SHA-1, FIPS 180-4, and base64, RFC 4648), the UTF-8 rule for text
 * messages and close reasons, frame headers and masking, close codes.
 * Tested directly (test/ws/proto.c). */
#include "ws/ws_int.h"

/* --- SHA-1 ---------------------------------------------------------------- */

static uint32_t rol(uint32_t x, int n) { return x << n | x >> (32 - n); }

static void sha1_block(uint32_t h[5], const unsigned char* p) {
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
           (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 80; i++)
    w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) {
      f = (b & c) | (~b & d);
      k = 0x5A827999;
    } else if (i < 40) {
      f = b ^ c ^ d;
      k = 0x6ED9EBA1;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8F1BBCDC;
    } else {
      f = b ^ c ^ d;
      k = 0xCA62C1D6;
    }
    uint32_t t = rol(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = rol(b, 30);
    b = a;
    a = t;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

void sl__sha1(const void* data, size_t n, unsigned char out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  const unsigned char* p = data;
  size_t left = n;
  for (; left >= 64; left -= 64, p += 64) sha1_block(h, p);
  unsigned char last[128] = {0};
  if (left > 0) memcpy(last, p, left);
  last[left] = 0x80;
  size_t blocks = left + 9 > 64 ? 2 : 1;
  uint64_t bits = (uint64_t)n * 8;
  for (int i = 0; i < 8; i++)
    last[blocks * 64 - 1 - i] = (unsigned char)(bits >> (8 * i));
  for (size_t i = 0; i < blocks; i++) sha1_block(h, last + 64 * i);
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 4; j++)
      out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

void sl__base64(const unsigned char* in, size_t n, char* out) {
  static const char abc[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[o++] = abc[v >> 18 & 63];
    out[o++] = abc[v >> 12 & 63];
    out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? abc[v & 63] : '=';
  }
  out[o] = '\0';
}

void sl__ws_accept_key(const char* key, size_t len, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char buf[128 + sizeof guid];
  if (len > 128) len = 128; /* the caller checked it is 24 characters */
  memcpy(buf, key, len);
  memcpy(buf + len, guid, sizeof guid - 1);
  unsigned char d[20];
  sl__sha1(buf, len + sizeof guid - 1, d);
  sl__base64(d, sizeof d, out);
}

/* --- UTF-8 ---------------------------------------------------------------- */

int sl__utf8_feed(sl__utf8_t* u, const unsigned char* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned b = p[i];
    if (u->need != 0) {
      if (b < u->lo || b > u->hi) return -1;
      u->need--;
      u->lo = 0x80;
      u->hi = 0xBF;
      i++;
      continue;
    }
    if (b < 0x80) {
      /* ASCII runs, eight bytes at a time. */
      while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ull) break;
        i += 8;
      }
      if (i < n && p[i] < 0x80) i++;
      continue;
    }
    u->lo = 0x80;
    u->hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      u->need = 1;
    } else if (b == 0xE0) {
      u->need = 2;
      u->lo = 0xA0; /* no overlong */
    } else if (b == 0xED) {
      u->need = 2;
      u->hi = 0x9F; /* no surrogate */
    } else if (b >= 0xE1 && b <= 0xEF) {
      u->need = 2;
    } else if (b == 0xF0) {
      u->need = 3;
      u->lo = 0x90;
    } else if (b >= 0xF1 && b <= 0xF3) {
      u->need = 3;
    } else if (b == 0xF4) {
      u->need = 3;
      u->hi = 0x8F; /* nothing past U+10FFFF */
    } else {
      return -1;
    }
    i++;
  }
  return 0;
}

/* --- frames --------------------------------------------------------------- */

size_t sl__ws_frame_header(unsigned char out[14], int fin, int rsv1, int op,
                           uint64_t len, const unsigned char* mask) {
  size_t n = 0;
  out[n++] = (unsigned char)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | op);
  unsigned char m = mask != NULL ? 0x80 : 0;
  if (len < 126) {
    out[n++] = (unsigned char)(m | len);
  } else if (len <= 0xFFFF) {
    out[n++] = m | 126;
    out[n++] = (unsigned char)(len >> 8);
    out[n++] = (unsigned char)len;
  } else {
    out[n++] = m | 127;
    for (int i = 7; i >= 0; i--) out[n++] = (unsigned char)(len >> (8 * i));
  }
  if (mask != NULL) {
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

void sl__ws_mask(unsigned char* p, size_t n, const unsigned char mask[4],
                 size_t off) {
  size_t i = 0;
  /* Word at a time once the mask is aligned to the start. */
  if ((off & 3) == 0 && n >= 8) {
    uint64_t m;
    unsigned char m8[8];
    for (int k = 0; k < 8; k++) m8[k] = mask[k & 3];
    memcpy(&m, m8, 8);
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      w ^= m;
      memcpy(p + i, &w, 8);
    }
  }
  for (; i < n; i++) p[i] ^= mask[(off + i) & 3];
}

int sl__ws_close_code_ok(int code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}
