/* HTTP helpers that belong to no one side: the reason phrase of a status
 * (one table for the server's heads and every plain-text answer), the
 * IMF-fixdate formatter every Date and Last-Modified header uses (and its
 * parser for the three date forms), entity tags and If-None-Match lists,
 * Range and Accept-Encoding parsing, and decimal/hex formatting without
 * printf. All are pure functions of their arguments, tested directly,
 * except sl__http_date_now's once-a-second cache. */
#include "http/http_int.h"

#include <strings.h>
#include <time.h>

/* --- status lines -------------------------------------------------------- */

const char* sl__http_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 416:
      return "Range Not Satisfiable";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

/* --- ranges, validators, dates, encodings ------------------------------- */

static const char* skip_ws(const char* p) {
  while (*p == ' ' || *p == '\t') p++;
  return p;
}

/* Digits into *v (saturating); returns the first non-digit, or NULL when
 * there was no digit. */
static const char* parse_u64(const char* p, uint64_t* v) {
  if (*p < '0' || *p > '9') return NULL;
  uint64_t x = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    unsigned d = (unsigned)(*p - '0');
    x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
  }
  *v = x;
  return p;
}

int sl__http_parse_range(const char* h, uint64_t size, uint64_t* start,
                         uint64_t* end) {
  if (h == NULL) return SL__RANGE_NONE;
  h = skip_ws(h);
  if (strncasecmp(h, "bytes", 5) != 0) return SL__RANGE_NONE;
  h = skip_ws(h + 5);
  if (*h++ != '=') return SL__RANGE_NONE;
  h = skip_ws(h);
  if (strchr(h, ',') != NULL) return SL__RANGE_NONE; /* several: all */
  uint64_t a = 0, b = UINT64_MAX;
  int suffix = *h == '-';
  const char* q = parse_u64(suffix ? h + 1 : h, suffix ? &b : &a);
  if (q == NULL) return SL__RANGE_NONE;
  if (!suffix) {
    if (*q++ != '-') return SL__RANGE_NONE;
    const char* r = parse_u64(q, &b);
    if (r != NULL) q = r;
    if (r != NULL && b < a) return SL__RANGE_NONE;
  }
  if (*skip_ws(q) != '\0') return SL__RANGE_NONE;
  if (suffix) {
    if (b == 0 || size == 0) return SL__RANGE_UNSAT;
    a = b >= size ? 0 : size - b;
    b = size - 1;
  }
  if (a >= size) return SL__RANGE_UNSAT;
  *start = a;
  *end = b >= size - 1 ? size : b + 1;
  return SL__RANGE_OK;
}

/* snprintf costs more than the rest of a small answer's own work. */
char* sl__http_put_u64(char* p, uint64_t v, unsigned base) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v != 0);
  while (n > 0) *p++ = tmp[--n];
  return p;
}

void sl__http_etag(uint64_t size, int64_t mtime_ns, char* buf, size_t cap) {
  SL_ASSERT(cap >= 48);
  char* p = buf;
  *p++ = 'W', *p++ = '/', *p++ = '"';
  p = sl__http_put_u64(p, size, 16);
  *p++ = '-';
  p = sl__http_put_u64(p, (uint64_t)mtime_ns, 16);
  *p++ = '"', *p = '\0';
}

/* The opaque tag of an entity tag, without "W/" (weak comparison). */
static size_t opaque_tag(const char* p, const char** tag) {
  if (p[0] == 'W' && p[1] == '/') p += 2;
  *tag = p;
  return strcspn(p, ", \t");
}

int sl__http_etag_match(const char* list, const char* etag) {
  const char* mine;
  size_t mlen = opaque_tag(etag, &mine);
  const char* p = list;
  while (*p != '\0') {
    p = skip_ws(p);
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p == '*') return 1;
    const char* tag;
    size_t len = opaque_tag(p, &tag);
    if (len == 0) break;
    if (len == mlen && memcmp(tag, mine, len) == 0) return 1;
    p = tag + len;
  }
  return 0;
}

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                 "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void sl__http_date(int64_t t, char* out) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  /* The modulos only tell the compiler that every field fits. */
  snprintf(out, 30, "%s, %02u %s %04u %02u:%02u:%02u GMT", wdays[tm.tm_wday],
           (unsigned)tm.tm_mday % 100u, months[tm.tm_mon],
           (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)tm.tm_hour % 100u,
           (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u);
}

static int month_of(const char* m) {
  for (int i = 0; i < 12; i++)
    if (strncasecmp(m, months[i], 3) == 0) return i;
  return -1;
}

/* IMF-fixdate, the obsolete RFC 850 form and asctime's. */
int sl__http_parse_date(const char* s, int64_t* t) {
  char mon[4] = "";
  int d, y, hh, mm, ss;
  struct tm tm = {0};
  if (sscanf(s, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT", &d, mon, &y, &hh, &mm,
             &ss) == 6 ||
      sscanf(s, "%*[A-Za-z], %2d-%3s-%4d %2d:%2d:%2d GMT", &d, mon, &y, &hh,
             &mm, &ss) == 6) {
    if (y < 100) y += y < 70 ? 2000 : 1900;
  } else if (sscanf(s, "%*3s %3s %2d %2d:%2d:%2d %4d", mon, &d, &hh, &mm, &ss,
                    &y) != 6) {
    return SL_EINVAL;
  }
  tm.tm_mon = month_of(mon);
  if (tm.tm_mon < 0 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60)
    return SL_EINVAL;
  tm.tm_mday = d;
  tm.tm_year = y - 1900;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  *t = (int64_t)timegm(&tm);
  return 0;
}

int sl__http_accepts_gzip(const char* ae) {
  int gzip = -1, star = -1;
  const char* p = ae ? ae : "";
  while (*p != '\0') {
    p = skip_ws(p);
    size_t len = strcspn(p, ",; \t");
    const char* tok = p;
    p += len;
    double q = 1;
    const char* params = p;
    p += strcspn(p, ",");
    const char* qp = strstr(params, "q=");
    if (qp != NULL && qp < p) q = strtod(qp + 2, NULL);
    if ((len == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
        (len == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
      gzip = q > 0;
    else if (len == 1 && *tok == '*')
      star = q > 0;
    if (*p == ',') p++;
  }
  return gzip >= 0 ? gzip : star > 0;
}

/* The clock read once per second: a busy server formats its Date header
 * once a second, not once a response. */
const char* sl__http_date_now(size_t* len) {
  static char buf[32];
  static size_t n;
  static time_t at;
  time_t now = time(NULL);
  if (now != at || n == 0) {
    sl__http_date((int64_t)now, buf);
    n = strlen(buf);
    at = now;
  }
  *len = n;
  return buf;
}
