/* Trusted proxies: which peers may say, in X-Forwarded-For, who the client
 * is. A list of CIDRs ("10.0.0.0/8, 127.0.0.1, ::1") is parsed once at
 * listen; a request whose peer is in it is attributed to the right-most
 * address of its X-Forwarded-For that is not (each trusted proxy appended
 * the address it saw), as Express's "trust proxy" and nginx's real_ip
 * with real_ip_recursive do. Anything that does not parse ends the walk:
 * the last address known good is the answer. */
#include "http/http_int.h"

#include <arpa/inet.h>
#include <ctype.h>

/* An address in 16 bytes: IPv4 as ::ffff:a.b.c.d, so one compare. */
static int parse_ip(const char* s, size_t n, uint8_t out[16]) {
  char buf[INET6_ADDRSTRLEN + 2];
  if (n == 0 || n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  struct in_addr a4;
  if (inet_pton(AF_INET, buf, &a4) == 1) {
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, &a4, 4);
    return 4;
  }
  return inet_pton(AF_INET6, buf, out) == 1 ? 6 : -1;
}

int sl__trust_parse(const char* spec, sl__cidr_t* v, size_t max, size_t* n) {
  *n = 0;
  for (const char* p = spec; p != NULL && *p != '\0';) {
    p += strspn(p, " ,");
    if (*p == '\0') break;
    size_t len = strcspn(p, " ,");
    size_t alen = strcspn(p, "/");
    if (alen > len) alen = len;
    if (*n == max) return SL_E2BIG;
    sl__cidr_t* c = &v[(*n)++];
    int fam = parse_ip(p, alen, c->addr);
    if (fam < 0) return SL_EINVAL;
    int bits = fam == 4 ? 32 : 128;
    if (alen < len) {
      char* end;
      const char* d = p + alen + 1;
      if (d == p + len || *d < '0' || *d > '9') return SL_EINVAL; /* "a/" */
      long b = strtol(d, &end, 10);
      if (end != p + len || b < 0 || b > bits) return SL_EINVAL;
      bits = (int)b;
    }
    c->bits = fam == 4 ? bits + 96 : bits;
    p += len;
  }
  return 0;
}

static int in_cidr(const sl__cidr_t* c, const uint8_t a[16]) {
  int full = c->bits / 8, rest = c->bits % 8;
  if (memcmp(c->addr, a, (size_t)full) != 0) return 0;
  if (rest == 0) return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (c->addr[full] & mask) == (a[full] & mask);
}

static int trusted(const sl__cidr_t* v, size_t n, const char* s, size_t len) {
  uint8_t a[16];
  if (parse_ip(s, len, a) < 0) return -1;
  for (size_t i = 0; i < n; i++)
    if (in_cidr(&v[i], a)) return 1;
  return 0;
}

void sl__trust_client(const sl__cidr_t* v, size_t n, const char* peer,
                      const char* xff, char* out, size_t cap) {
  snprintf(out, cap, "%s", peer);
  if (n == 0 || xff == NULL || trusted(v, n, peer, strlen(peer)) != 1) return;
  const char* end = xff + strlen(xff);
  while (end > xff) {
    const char* start = end;
    while (start > xff && start[-1] != ',') start--;
    const char* a = start;
    const char* b = end;
    while (a < b && isspace((unsigned char)*a)) a++;
    while (b > a && isspace((unsigned char)b[-1])) b--;
    int t = trusted(v, n, a, (size_t)(b - a));
    if (t < 0) return; /* not an address: keep the last good one */
    snprintf(out, cap, "%.*s", (int)(b - a), a);
    if (t == 0) return; /* the first hop no trusted proxy vouches past */
    end = start > xff ? start - 1 : xff;
  }
}
