/* JSON, the one implementation for every layer (IPC's wire format is JSON
 * lines; HTTP writes JSON bodies and logs). Reading: a small strict scanner,
 * the validator the IPC channel runs on every line a peer sends (RFC 8259
 * grammar, one value per line, no raw newline), and the public helpers that
 * read one top-level key of an object (sl_json_get_number / _int / _string);
 * nothing is allocated, values are located in place and decoded on request.
 * Writing: the one string escaper (sl_buf_json_str) and the printf-like
 * sl_buf_json on top of it, both appending to an sl_buf_t. */
#include <math.h>

#include "core/internal.h"

/* Nesting deeper than this is refused rather than risking the stack. */
#define JSON_MAX_DEPTH 512

typedef struct {
  const char* p;
  const char* end;
} json_scan_t;

static int scan_value(json_scan_t* s, int depth);

static void skip_ws(json_scan_t* s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r'))
    s->p++;
}

static int is_hex(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

/* Whether any of the 8 bytes is a quote, a backslash or below 0x20 (the
 * classic "has a zero byte" / "has a byte less than n" word tricks). */
static int word_special(uint64_t v) {
  const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
  return ((((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b)) &
          high) != 0;
}

/* A string token starting at the opening quote; leaves p past the closing
 * quote. Control characters (a raw newline among them) are refused. Plain
 * runs are skipped a word at a time: IPC strings are mostly plain. */
static int scan_string(json_scan_t* s) {
  s->p++;
  while (s->p < s->end) {
    while (s->end - s->p >= 8) {
      uint64_t v;
      memcpy(&v, s->p, 8);
      if (word_special(v)) break;
      s->p += 8;
    }
    if (s->p >= s->end) break;
    unsigned char c = (unsigned char)*s->p++;
    if (c == '"') return 0;
    if (c < 0x20) return SL_EINVAL;
    if (c != '\\') continue;
    if (s->p >= s->end) return SL_EINVAL;
    c = (unsigned char)*s->p++;
    if (c == 'u') {
      if (s->end - s->p < 4) return SL_EINVAL;
      for (int i = 0; i < 4; i++)
        if (!is_hex(s->p[i])) return SL_EINVAL;
      s->p += 4;
    } else if (strchr("\"\\/bfnrt", c) == NULL || c == 0) {
      return SL_EINVAL;
    }
  }
  return SL_EINVAL;
}

static int scan_digits(json_scan_t* s) {
  const char* start = s->p;
  while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++;
  return s->p > start ? 0 : SL_EINVAL;
}

static int scan_number(json_scan_t* s) {
  if (*s->p == '-') s->p++;
  if (s->p < s->end && *s->p == '0')
    s->p++;
  else if (scan_digits(s) != 0)
    return SL_EINVAL;
  if (s->p < s->end && *s->p == '.') {
    s->p++;
    if (scan_digits(s) != 0) return SL_EINVAL;
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-')) s->p++;
    if (scan_digits(s) != 0) return SL_EINVAL;
  }
  return 0;
}

static int scan_literal(json_scan_t* s, const char* lit, size_t n) {
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
    return SL_EINVAL;
  s->p += n;
  return 0;
}

/* Object or array: `close` is '}' or ']'. */
static int scan_container(json_scan_t* s, int depth, char close) {
  if (depth >= JSON_MAX_DEPTH) return SL_EINVAL;
  s->p++;
  skip_ws(s);
  if (s->p < s->end && *s->p == close) {
    s->p++;
    return 0;
  }
  for (;;) {
    skip_ws(s);
    if (close == '}') {
      if (s->p >= s->end || *s->p != '"' || scan_string(s) != 0)
        return SL_EINVAL;
      skip_ws(s);
      if (s->p >= s->end || *s->p++ != ':') return SL_EINVAL;
    }
    if (scan_value(s, depth + 1) != 0) return SL_EINVAL;
    skip_ws(s);
    if (s->p >= s->end) return SL_EINVAL;
    char c = *s->p++;
    if (c == close) return 0;
    if (c != ',') return SL_EINVAL;
  }
}

static int scan_value(json_scan_t* s, int depth) {
  skip_ws(s);
  if (s->p >= s->end) return SL_EINVAL;
  switch (*s->p) {
    case '{':
      return scan_container(s, depth, '}');
    case '[':
      return scan_container(s, depth, ']');
    case '"':
      return scan_string(s);
    case 't':
      return scan_literal(s, "true", 4);
    case 'f':
      return scan_literal(s, "false", 5);
    case 'n':
      return scan_literal(s, "null", 4);
    default:
      if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) return scan_number(s);
      return SL_EINVAL;
  }
}

int sl__json_validate(const char* json, size_t len) {
  json_scan_t s = {json, json + len};
  if (scan_value(&s, 0) != 0) return SL_EINVAL;
  skip_ws(&s);
  return s.p == s.end ? 0 : SL_EINVAL;
}

/* --- decoding ------------------------------------------------------------ */

static unsigned hex4(const char* p) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int c = p[i];
    v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

static size_t utf8_put(char* o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12);
    o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18);
  o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* One escape sequence after the backslash at *pp (already validated).
 * Surrogate pairs join into one code point; a lone surrogate becomes
 * U+FFFD, since UTF-8 cannot carry it. */
static unsigned decode_escape(const char** pp, const char* end) {
  const char* p = *pp;
  char c = *p++;
  unsigned cp;
  switch (c) {
    case 'b':
      cp = '\b';
      break;
    case 'f':
      cp = '\f';
      break;
    case 'n':
      cp = '\n';
      break;
    case 'r':
      cp = '\r';
      break;
    case 't':
      cp = '\t';
      break;
    case 'u':
      cp = hex4(p);
      p += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' &&
          p[1] == 'u' && hex4(p + 2) >= 0xDC00 && hex4(p + 2) < 0xE000) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(p + 2) - 0xDC00);
        p += 6;
      } else if (cp >= 0xD800 && cp < 0xE000) {
        cp = 0xFFFD;
      }
      break;
    default:
      cp = (unsigned char)c;
      break;
  }
  *pp = p;
  return cp;
}

/* Unescapes the string token [tok, tok_end) (quotes included) into
 * out[0..cap). Returns the decoded length, or SL_ENOBUFS if it (plus the
 * NUL, when cap > 0) does not fit; out may be NULL with cap 0 to compare. */
static long decode_string(const char* tok, const char* tok_end, char* out,
                          size_t cap) {
  const char* p = tok + 1;
  const char* end = tok_end - 1;
  size_t n = 0;
  char tmp[4];
  while (p < end) {
    size_t k;
    const char* src = p;
    if (*p == '\\') {
      p++;
      k = utf8_put(tmp, decode_escape(&p, end));
      src = tmp;
    } else {
      k = 1;
      p++;
    }
    if (out != NULL) {
      if (n + k >= cap) return SL_ENOBUFS;
      memcpy(out + n, src, k);
    }
    n += k;
  }
  if (out != NULL) out[n] = '\0';
  return (long)n;
}

/* Compares the key token with `key` after unescaping. */
static int key_equals(const char* tok, const char* tok_end, const char* key) {
  size_t klen = strlen(key);
  size_t raw = (size_t)(tok_end - tok - 2);
  if (memchr(tok + 1, '\\', raw) == NULL)
    return raw == klen && memcmp(tok + 1, key, klen) == 0;
  char buf[256];
  if (klen >= sizeof buf) return 0;
  long n = decode_string(tok, tok_end, buf, sizeof buf);
  return n >= 0 && (size_t)n == klen && memcmp(buf, key, klen) == 0;
}

int sl__json_find(const char* json, size_t len, const char* key,
                  const char** val, size_t* vlen) {
  json_scan_t s = {json, json + len};
  int found = 0;
  skip_ws(&s);
  if (s.p >= s.end || *s.p != '{') return SL_EINVAL;
  s.p++;
  skip_ws(&s);
  if (s.p < s.end && *s.p == '}') {
    s.p++;
  } else {
    for (;;) {
      skip_ws(&s);
      const char* k = s.p;
      if (s.p >= s.end || *s.p != '"' || scan_string(&s) != 0) return SL_EINVAL;
      const char* k_end = s.p;
      skip_ws(&s);
      if (s.p >= s.end || *s.p++ != ':') return SL_EINVAL;
      skip_ws(&s);
      const char* v = s.p;
      if (scan_value(&s, 1) != 0) return SL_EINVAL;
      /* The last duplicate wins, as with JSON.parse. */
      if (key_equals(k, k_end, key)) {
        *val = v;
        *vlen = (size_t)(s.p - v);
        found = 1;
      }
      skip_ws(&s);
      if (s.p >= s.end) return SL_EINVAL;
      char c = *s.p++;
      if (c == '}') break;
      if (c != ',') return SL_EINVAL;
    }
  }
  skip_ws(&s);
  if (s.p != s.end) return SL_EINVAL;
  return found ? 0 : SL_ENOENT;
}

/* --- public helpers ------------------------------------------------------ */

static int find_number(const char* json, size_t len, const char* key, char* buf,
                       size_t cap) {
  const char* v;
  size_t n;
  int rc = sl__json_find(json, len, key, &v, &n);
  if (rc != 0) return rc;
  if (!(*v == '-' || (*v >= '0' && *v <= '9'))) return SL_EINVAL;
  if (n >= cap) return SL_ERANGE;
  memcpy(buf, v, n);
  buf[n] = '\0';
  return 0;
}

int sl_json_get_number(const char* json, size_t len, const char* key,
                       double* out) {
  char buf[512];
  int rc = find_number(json, len, key, buf, sizeof buf);
  if (rc != 0) return rc;
  *out = strtod(buf, NULL);
  return 0;
}

int sl_json_get_int(const char* json, size_t len, const char* key,
                    int64_t* out) {
  char buf[512];
  int rc = find_number(json, len, key, buf, sizeof buf);
  if (rc != 0) return rc;
  if (strpbrk(buf, ".eE") == NULL) {
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == ERANGE) return SL_ERANGE;
    *out = v;
    return 0;
  }
  /* 1e3 and 2.0 are integers too; 2.5 is not. */
  double d = strtod(buf, NULL);
  if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
    return SL_ERANGE;
  if (d != (double)(int64_t)d) return SL_EINVAL;
  *out = (int64_t)d;
  return 0;
}

int sl_json_get_string(const char* json, size_t len, const char* key, char* out,
                       size_t cap) {
  const char* v;
  size_t n;
  int rc = sl__json_find(json, len, key, &v, &n);
  if (rc != 0) return rc;
  if (*v != '"') return SL_EINVAL;
  if (cap == 0) return SL_ENOBUFS;
  long r = decode_string(v, v + n, out, cap);
  return r < 0 ? (int)r : 0;
}

/* --- writing ------------------------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at p[0..n) (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0 when it is
 * not one; then *bad is the length of its maximal valid prefix (at least
 * 1), the unit that one U+FFFD replaces, as the WHATWG and Python decoders
 * count. */
static size_t utf8_seq(const unsigned char* p, size_t n, size_t* bad) {
  unsigned char c = p[0];
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  size_t i = 1;
  for (; i < need && i < n; i++) {
    unsigned char lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xBF;
    if (p[i] < lo_i || p[i] > hi_i) break;
  }
  if (i == need) return need;
  *bad = i;
  return 0;
}

/* Whether byte c needs an escape in a JSON string. */
static int json_special(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\';
}

/* Appends the escaped text of s[0..len), without quotes. Plain runs are
 * copied whole; only escapes and non-ASCII bytes are looked at one by
 * one. Returns 0 or SL_ENOMEM (then some of the text may be appended; the
 * callers undo it). */
static int escape_into(sl_buf_t* b, const unsigned char* s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t i = 0;
  while (i < len) {
    size_t run = i;
    while (run < len && s[run] < 0x80 && !json_special(s[run])) run++;
    if (run > i && sl_buf_append(b, s + i, run - i) != 0) return SL_ENOMEM;
    i = run;
    if (i == len) break;
    unsigned char c = s[i];
    char esc[6] = {'\\', 0};
    size_t k = 2;
    size_t bad = 0;
    if (c >= 0x80) {
      size_t n = utf8_seq(s + i, len - i, &bad);
      int rc = n ? sl_buf_append(b, s + i, n)
                 : sl_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
      if (rc != 0) return rc;
      i += n ? n : bad;
      continue;
    }
    switch (c) {
      case '"':
        esc[1] = '"';
        break;
      case '\\':
        esc[1] = '\\';
        break;
      case '\b':
        esc[1] = 'b';
        break;
      case '\f':
        esc[1] = 'f';
        break;
      case '\n':
        esc[1] = 'n';
        break;
      case '\r':
        esc[1] = 'r';
        break;
      case '\t':
        esc[1] = 't';
        break;
      default:
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        k = 6;
    }
    if (sl_buf_append(b, esc, k) != 0) return SL_ENOMEM;
    i++;
  }
  return 0;
}

static int json_str(sl_buf_t* b, const char* s, size_t len) {
  if (s == NULL) return sl_buf_append(b, "null", 4);
  /* The escaped text is at least len + 2 bytes: reserve that once. */
  if (len > SIZE_MAX - 2 || sl_buf_reserve(b, len + 2) != 0) return SL_ENOMEM;
  if (sl_buf_append(b, "\"", 1) != 0 ||
      escape_into(b, (const unsigned char*)s, len) != 0 ||
      sl_buf_append(b, "\"", 1) != 0)
    return SL_ENOMEM;
  return 0;
}

int sl_buf_json_str(sl_buf_t* b, const char* s, size_t len) {
  size_t mark = b->len;
  int rc = json_str(b, s, len);
  if (rc != 0 && b->data != NULL) sl_buf_truncate(b, mark);
  return rc;
}

/* A double as printf writes it with `spec` ("%.3f"), or null when it is
 * not finite: JSON has no NaN or Infinity. */
static int json_double(sl_buf_t* b, const char* spec, double v) {
  if (!isfinite(v)) return sl_buf_append(b, "null", 4);
  return sl_buf_printf(b, spec, v);
}

/* One directive after its '%' at *pp; advances *pp past it. */
static int json_directive(sl_buf_t* b, const char** pp, va_list* ap) {
  const char* p = *pp;
  int prec = -1;
  if (*p == '.') {
    p++;
    if (*p == '*') {
      prec = va_arg(*ap, int);
      p++;
    } else {
      prec = 0;
      while (*p >= '0' && *p <= '9' && prec < 100)
        prec = prec * 10 + *p++ - '0';
    }
  }
  int lng = 0; /* 1 l, 2 ll, 3 z */
  if (*p == 'l')
    lng = *++p == 'l' ? (p++, 2) : 1;
  else if (*p == 'z')
    lng = (p++, 3);
  char c = *p;
  if (c != '\0') p++; /* a '%' at the end of fmt is refused below */
  *pp = p;
  switch (c) {
    case 's': {
      if (lng != 0) return SL_EINVAL;
      const char* s = va_arg(*ap, const char*);
      size_t n = s == NULL  ? 0
                 : prec < 0 ? strlen(s)
                            : strnlen(s, (size_t)prec);
      return json_str(b, s, n);
    }
    case 'd':
    case 'i':
      if (prec >= 0) return SL_EINVAL;
      if (lng == 0) return sl_buf_printf(b, "%d", va_arg(*ap, int));
      if (lng == 1) return sl_buf_printf(b, "%ld", va_arg(*ap, long));
      if (lng == 2) return sl_buf_printf(b, "%lld", va_arg(*ap, long long));
      return sl_buf_printf(b, "%zd", va_arg(*ap, ssize_t));
    case 'u':
      if (prec >= 0) return SL_EINVAL;
      if (lng == 0) return sl_buf_printf(b, "%u", va_arg(*ap, unsigned));
      if (lng == 1) return sl_buf_printf(b, "%lu", va_arg(*ap, unsigned long));
      if (lng == 2)
        return sl_buf_printf(b, "%llu", va_arg(*ap, unsigned long long));
      return sl_buf_printf(b, "%zu", va_arg(*ap, size_t));
    case 'f':
    case 'g':
    case 'e': {
      if (lng > 1) return SL_EINVAL;
      char spec[16];
      if (prec > 99) prec = 99;
      if (prec < 0)
        snprintf(spec, sizeof spec, "%%%c", c);
      else
        snprintf(spec, sizeof spec, "%%.%d%c", prec, c);
      return json_double(b, spec, va_arg(*ap, double));
    }
    case '%':
      return prec < 0 && lng == 0 ? sl_buf_append(b, "%", 1) : SL_EINVAL;
    default:
      return SL_EINVAL;
  }
}

int sl_buf_vjson(sl_buf_t* b, const char* fmt, va_list ap) {
  size_t mark = b->len;
  va_list aq;
  va_copy(aq, ap);
  int rc = 0;
  const char* p = fmt;
  while (rc == 0 && *p != '\0') {
    const char* pct = strchr(p, '%');
    size_t n = pct ? (size_t)(pct - p) : strlen(p);
    rc = sl_buf_append(b, p, n);
    p += n;
    if (rc == 0 && *p == '%') {
      p++;
      rc = json_directive(b, &p, &aq);
    }
  }
  va_end(aq);
  if (rc != 0 && b->data != NULL) sl_buf_truncate(b, mark);
  return rc;
}

int sl_buf_json(sl_buf_t* b, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = sl_buf_vjson(b, fmt, ap);
  va_end(ap);
  return rc;
}
