/* permessage-deflate (RFC 7692): the offer a client makes, the answer a
 * server gives, and (de)compression of one message at a time.
 *
 * Memory is the reason for most choices here. zlib's deflate with a 32 KiB
 * window and memLevel 8 holds about 256 KiB, inflate about 44 KiB, for as
 * long as the context is kept. Without context takeover the state is freed
 * at the end of each message, so an idle connection holds no zlib memory at
 * all; with it, a connection costs the sum for its lifetime (10,000 such
 * connections: about 3 GiB), which is why it is not the default and why a
 * smaller window can be asked for. Inflating always uses a 32 KiB window
 * (a larger window decodes any smaller one), and deflating never uses 8
 * bits, which zlib raises to 9 for raw streams: a server asked for 8 bits
 * declines the offer instead of sending what the peer cannot decode. */
#include <strings.h>

#include "ws/ws_int.h"

#define TAIL_LEN 4
static const unsigned char tail[TAIL_LEN] = {0x00, 0x00, 0xff, 0xff};

const char* sl__ws_pmd_offer(const sl_ws_opts_t* o) {
  if (o->deflate_no_context_takeover)
    return "permessage-deflate; client_max_window_bits; "
           "server_no_context_takeover; client_no_context_takeover";
  return "permessage-deflate; client_max_window_bits";
}

/* Parses "name[=value]" parameters of one offer, from `p` up to `end`.
 * Returns 0, or -1 for a parameter that is unknown, repeated or has a bad
 * value (the offer is then declined or, in a server's answer, wrong). */
static int parse_params(const char* p, const char* end, sl__ws_pmd_t* r,
                        int* client_bits_offered) {
  int seen[4] = {0};
  *client_bits_offered = 0;
  r->server_max_window_bits = r->client_max_window_bits = 15;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ';')) p++;
    if (p >= end) break;
    const char* q = p;
    while (q < end && *q != ';') q++;
    const char* e = q;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
    const char* eq = memchr(p, '=', (size_t)(e - p));
    size_t nlen = (size_t)((eq ? eq : e) - p);
    while (nlen > 0 && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t')) nlen--;
    int value = -1;
    if (eq != NULL) {
      const char* v = eq + 1;
      while (v < e && (*v == ' ' || *v == '\t')) v++;
      if (v < e && *v == '"') v++;
      value = 0;
      int digits = 0;
      while (v < e && *v >= '0' && *v <= '9' && digits < 3) {
        value = value * 10 + (*v++ - '0');
        digits++;
      }
      if (v < e && *v == '"') v++;
      if (v != e || digits == 0) return -1;
    }
    static const char* const names[] = {
        "server_no_context_takeover", "client_no_context_takeover",
        "server_max_window_bits", "client_max_window_bits"};
    int k = -1;
    for (int i = 0; i < 4; i++)
      if (strlen(names[i]) == nlen && strncasecmp(p, names[i], nlen) == 0)
        k = i;
    if (k < 0 || seen[k]++) return -1;
    if (k < 2 && value != -1) return -1;
    if (k == 2 && (value < 8 || value > 15)) return -1;
    if (k == 3 && value != -1 && (value < 8 || value > 15)) return -1;
    if (k == 0) r->server_no_context_takeover = 1;
    if (k == 1) r->client_no_context_takeover = 1;
    if (k == 2) r->server_max_window_bits = value;
    if (k == 3) {
      *client_bits_offered = 1;
      if (value != -1) r->client_max_window_bits = value;
    }
    p = q;
  }
  return 0;
}

int sl__ws_pmd_accept(const sl_ws_opts_t* o, const char* header,
                      sl__ws_pmd_t* p, char* answer, size_t cap) {
  memset(p, 0, sizeof *p);
  if (!o->deflate || header == NULL) return 0;
  int ours = o->deflate_window_bits >= 9 && o->deflate_window_bits <= 15
                 ? o->deflate_window_bits
                 : 15;
  const char* s = header;
  while (*s != '\0') {
    const char* end = strchr(s, ',');
    if (end == NULL) end = s + strlen(s);
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    const char* semi = s < end ? memchr(s, ';', (size_t)(end - s)) : NULL;
    const char* nend = semi ? semi : end;
    while (nend > s && (nend[-1] == ' ' || nend[-1] == '\t')) nend--;
    sl__ws_pmd_t r = {0};
    int cbits = 0;
    if ((size_t)(nend - s) == 18 &&
        strncasecmp(s, "permessage-deflate", 18) == 0 &&
        parse_params(nend, end, &r, &cbits) == 0 &&
        r.server_max_window_bits >= 9) {
      r.on = 1;
      if (o->deflate_no_context_takeover)
        r.server_no_context_takeover = r.client_no_context_takeover = 1;
      if (r.server_max_window_bits > ours) r.server_max_window_bits = ours;
      if (!cbits) r.client_max_window_bits = 15;
      int n = snprintf(
          answer, cap, "permessage-deflate%s%s",
          r.server_no_context_takeover ? "; server_no_context_takeover" : "",
          r.client_no_context_takeover ? "; client_no_context_takeover" : "");
      if (r.server_max_window_bits < 15 && n > 0 && (size_t)n < cap)
        n += snprintf(answer + n, cap - (size_t)n,
                      "; server_max_window_bits=%d", r.server_max_window_bits);
      if (cbits && r.client_max_window_bits < 15 && n > 0 && (size_t)n < cap)
        snprintf(answer + n, cap - (size_t)n, "; client_max_window_bits=%d",
                 r.client_max_window_bits);
      *p = r;
      return 1;
    }
    s = *end == ',' ? end + 1 : end;
  }
  return 0;
}

int sl__ws_pmd_check(const sl_ws_opts_t* o, const char* header,
                     sl__ws_pmd_t* p) {
  memset(p, 0, sizeof *p);
  if (header == NULL || *header == '\0') return 0;
  if (!o->deflate) return -1; /* an extension we did not offer */
  const char* s = header;
  while (*s == ' ' || *s == '\t') s++;
  if (strncasecmp(s, "permessage-deflate", 18) != 0) return -1;
  const char* rest = s + 18;
  if (strchr(rest, ',') != NULL) return -1; /* one extension only */
  if (*rest != '\0' && *rest != ';' && *rest != ' ') return -1;
  int cbits = 0;
  if (parse_params(rest, rest + strlen(rest), p, &cbits) != 0) return -1;
  if (p->client_max_window_bits < 9) return -1; /* zlib cannot send 8 */
  p->on = 1;
  return 0;
}

int sl__ws_deflate(sl__ws_zctx_t* z, const void* in, size_t n, int fin,
                   sl_buf_t* out) {
  if (!z->ready) {
    memset(&z->z, 0, sizeof z->z);
    if (deflateInit2(&z->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -z->bits, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
      return SL_ENOMEM;
    z->ready = 1;
  }
  z->z.next_in = (Bytef*)in;
  z->z.avail_in = (uInt)n;
  size_t start = out->len;
  for (;;) {
    size_t room = n / 2 + 64;
    if (sl_buf_reserve(out, room) != 0) return SL_ENOMEM;
    z->z.next_out = (Bytef*)out->data + out->len;
    z->z.avail_out = (uInt)(out->cap - out->len);
    int rc = deflate(&z->z, Z_SYNC_FLUSH);
    sl_buf_commit(out, (out->cap - out->len) - z->z.avail_out);
    if (rc != Z_OK && rc != Z_BUF_ERROR) return SL_ENOMEM;
    if (z->z.avail_out != 0 && z->z.avail_in == 0) break;
  }
  if (fin) {
    if (out->len - start >= TAIL_LEN &&
        memcmp(out->data + out->len - TAIL_LEN, tail, TAIL_LEN) == 0)
      sl_buf_truncate(out, out->len - TAIL_LEN);
    /* Nothing to flush (an empty message right after another one's flush:
     * zlib has no progress to make): the message is one empty stored
     * block's header, 0x00 (RFC 7692 7.2.3.6). An empty payload would
     * make the peer read the tail it adds as a block of its own. */
    if (out->len == start && sl_buf_append(out, "", 1) != 0) return SL_ENOMEM;
    if (!z->keep) sl__ws_zfree(z);
  }
  return 0;
}

/* One inflate() call into up to `room` bytes after out's contents (never
 * past max + 1, so a bomb stops at the limit). 0 to go on, 1 when this
 * call said there is no more to do, or an error code. */
static int inflate_step(sl__ws_zctx_t* z, size_t room, size_t max,
                        sl_buf_t* out) {
  if (room > max - out->len + 1) room = max - out->len + 1;
  if (sl_buf_reserve(out, room) != 0) return SL_ENOMEM;
  z->z.next_out = (Bytef*)out->data + out->len;
  z->z.avail_out = (uInt)room;
  int rc = inflate(&z->z, Z_SYNC_FLUSH);
  sl_buf_commit(out, room - z->z.avail_out);
  if (out->len > max) return SL_EMSGSIZE;
  if (rc == Z_STREAM_END) return z->z.avail_in == 0 ? 1 : SL_EZDATA;
  if (rc == Z_BUF_ERROR ||
      (rc == Z_OK && z->z.avail_out != 0 && z->z.avail_in == 0))
    return 1;
  if (rc != Z_OK) return rc == Z_MEM_ERROR ? SL_ENOMEM : SL_EZDATA;
  return 0;
}

static int inflate_some(sl__ws_zctx_t* z, const void* in, size_t n, size_t max,
                        sl_buf_t* out) {
  z->z.next_in = (Bytef*)in;
  z->z.avail_in = (uInt)n;
  /* Until the input is taken and zlib has no output left inside. */
  for (;;) {
    int rc = inflate_step(z, z->z.avail_in > 0 ? n * 4 + 256 : 4096, max, out);
    if (rc != 0) return rc < 0 ? rc : 0;
  }
}

int sl__ws_inflate(sl__ws_zctx_t* z, const void* in, size_t n, int fin,
                   size_t max, sl_buf_t* out) {
  if (!z->ready) {
    memset(&z->z, 0, sizeof z->z);
    if (inflateInit2(&z->z, -15) != Z_OK) return SL_ENOMEM;
    z->ready = z->inflater = 1;
  }
  int rc = n > 0 ? inflate_some(z, in, n, max, out) : 0;
  if (rc == 0 && fin) rc = inflate_some(z, tail, TAIL_LEN, max, out);
  if (rc != 0 || (fin && !z->keep)) sl__ws_zfree(z);
  return rc;
}

void sl__ws_zfree(sl__ws_zctx_t* z) {
  if (!z->ready) return;
  if (z->inflater)
    inflateEnd(&z->z);
  else
    deflateEnd(&z->z);
  z->ready = 0;
}
