/* HTTP messages as streams: the header-field arena every parsed message
 * keeps (server requests, client responses), the common message head
 * (sl__http_msg_t) with its read hook, and the public accessors that read
 * them (sl_http_method, sl_http_header, ...). Nothing here parses: the
 * owners (server.c, client.c) feed spans from llhttp's callbacks. */
#include "http/http_int.h"

#include <llhttp.h>
#include <strings.h>

/* --- the arena ------------------------------------------------------------ */

static int hdrs_append(sl__http_hdrs_t* h, const char* at, size_t n) {
  return sl_buf_append(&h->b, at, n);
}

/* Ends a name or a value with a NUL that is part of the arena. */
static int hdrs_terminate(sl__http_hdrs_t* h) {
  return sl_buf_append(&h->b, "", 1);
}

/* Starts a field: its name begins at the arena's end. */
static int hdrs_new_field(sl__http_hdrs_t* h) {
  if (h->state == 2 && hdrs_terminate(h) != 0) return SL_ENOMEM;
  if (h->n == h->cap_off) {
    size_t cap = h->cap_off ? h->cap_off * 2 : 16;
    uint32_t* off = sl__realloc(h->off, cap * 2 * sizeof *off);
    if (off == NULL) return SL_ENOMEM;
    h->off = off;
    h->cap_off = cap;
  }
  h->off[2 * h->n] = (uint32_t)h->b.len;
  h->off[2 * h->n + 1] = UINT32_MAX; /* no value yet */
  h->n++;
  h->state = 1;
  return 0;
}

int sl__http_hdrs_field(sl__http_hdrs_t* h, const char* at, size_t n) {
  if (h->state != 1 && hdrs_new_field(h) != 0) return SL_ENOMEM;
  return hdrs_append(h, at, n);
}

int sl__http_hdrs_value(sl__http_hdrs_t* h, const char* at, size_t n) {
  if (h->state == 0) return 0; /* a value without a name: ignore */
  if (h->state == 1) {
    if (hdrs_terminate(h) != 0) return SL_ENOMEM;
    h->off[2 * (h->n - 1) + 1] = (uint32_t)h->b.len;
    h->state = 2;
  }
  return hdrs_append(h, at, n);
}

int sl__http_hdrs_end(sl__http_hdrs_t* h) {
  if (h->state == 1 && sl__http_hdrs_value(h, "", 0) != 0) return SL_ENOMEM;
  if (h->state == 2 && hdrs_terminate(h) != 0) return SL_ENOMEM;
  h->state = 0;
  for (size_t i = 0; i < h->n; i++) {
    char* v = h->b.data + h->off[2 * i + 1];
    size_t len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t')) v[--len] = 0;
  }
  return 0;
}

static void hdrs_free_joined(sl__http_hdrs_t* h) {
  for (size_t i = 0; i < h->njoined; i++) sl__free(h->joined[i]);
  sl__free(h->joined);
  h->joined = NULL;
  h->njoined = 0;
}

void sl__http_hdrs_free(sl__http_hdrs_t* h) {
  hdrs_free_joined(h);
  if (!h->packed) {
    sl_buf_free(&h->b);
    sl__free(h->off);
  }
  memset(h, 0, sizeof *h);
}

void sl__http_hdrs_reset(sl__http_hdrs_t* h) {
  SL_ASSERT(!h->packed); /* a packed copy cannot grow */
  hdrs_free_joined(h);
  sl_buf_reset(&h->b);
  h->n = 0;
  h->state = 0;
}

size_t sl__http_hdrs_packed_size(const sl__http_hdrs_t* src) {
  return 2 * src->n * sizeof *src->off + src->b.len;
}

char* sl__http_hdrs_pack(sl__http_hdrs_t* dst, const sl__http_hdrs_t* src,
                         char* mem) {
  SL_ASSERT(src->state == 0 && ((uintptr_t)mem & 3) == 0);
  size_t off_bytes = 2 * src->n * sizeof *src->off;
  memset(dst, 0, sizeof *dst);
  dst->packed = 1;
  dst->off = (uint32_t*)(void*)mem; /* the offsets first: aligned */
  dst->b.data = mem + off_bytes;
  if (off_bytes != 0) memcpy(dst->off, src->off, off_bytes);
  if (src->b.len != 0) memcpy(dst->b.data, src->b.data, src->b.len);
  dst->b.len = dst->b.cap = src->b.len;
  dst->n = dst->cap_off = src->n;
  return dst->b.data + src->b.len;
}

int sl__http_hdrs_at(const sl__http_hdrs_t* h, size_t i, const char** name,
                     const char** value) {
  if (i >= h->n || h->state != 0 || h->off[2 * i + 1] == UINT32_MAX)
    return SL_ENOENT;
  if (name != NULL) *name = h->b.data + h->off[2 * i];
  if (value != NULL) *value = h->b.data + h->off[2 * i + 1];
  return 0;
}

int sl__http_hdrs_set(sl__http_hdrs_t* h, size_t i, const char* value,
                      size_t n) {
  SL_ASSERT(i < h->n && h->state == 0 && !h->packed);
  size_t name_len = h->off[2 * i + 1] - h->off[2 * i] - 1;
  if (sl_buf_reserve(&h->b, name_len + n + 2) != 0) return SL_ENOMEM;
  /* The old bytes stay in the arena, unused: a set is rare (absolute-form
   * targets), and moving the fields after it would cost more. */
  uint32_t at = (uint32_t)h->b.len;
  memcpy(h->b.data + h->b.len, h->b.data + h->off[2 * i], name_len + 1);
  h->b.len += name_len + 1;
  memcpy(h->b.data + h->b.len, value, n);
  h->b.len += n;
  h->b.data[h->b.len++] = '\0';
  h->b.data[h->b.len] = '\0'; /* sl_buf_t's own NUL, after the arena's */
  h->off[2 * i] = at;
  h->off[2 * i + 1] = at + (uint32_t)name_len + 1;
  return 0;
}

/* A string of `len` bytes (plus the NUL) that lives as long as the
 * headers: joined repeats, decoded query values. NULL on ENOMEM. */
static char* hdrs_keep(sl__http_hdrs_t* h, size_t len) {
  char** j = sl__realloc(h->joined, (h->njoined + 1) * sizeof *j);
  if (j == NULL) return NULL;
  h->joined = j;
  char* out = sl__malloc(len + 1);
  if (out != NULL) h->joined[h->njoined++] = out;
  return out;
}

/* Joins every value of `name` with ", " (Node's rule for repeats) and
 * keeps the string with the headers. */
static const char* hdrs_join(sl__http_hdrs_t* h, const char* name, size_t count,
                             size_t total) {
  char* out = hdrs_keep(h, total + 2 * count);
  if (out == NULL) return NULL;
  size_t len = 0;
  const char *n, *v;
  for (size_t i = 0; sl__http_hdrs_at(h, i, &n, &v) == 0; i++) {
    if (strcasecmp(n, name) != 0) continue;
    if (len != 0) memcpy(out + len, ", ", 2), len += 2;
    memcpy(out + len, v, strlen(v));
    len += strlen(v);
  }
  out[len] = '\0';
  return out;
}

const char* sl__http_hdrs_get(sl__http_hdrs_t* h, const char* name) {
  const char *n, *v, *first = NULL;
  size_t count = 0, total = 0, len = strlen(name);
  for (size_t i = 0; sl__http_hdrs_at(h, i, &n, &v) == 0; i++) {
    /* A name ends just before its value starts: compare lengths first. */
    if ((size_t)(v - n) != len + 1 || strcasecmp(n, name) != 0) continue;
    if (first == NULL) first = v;
    count++;
    total += strlen(v);
  }
  if (count <= 1) return first;
  return hdrs_join(h, name, count, total);
}

/* --- header lines: empty names and obs-fold ------------------------------ */

void sl__http_lines_begin(sl__http_lines_t* l) {
  const char* end = l->end;
  memset(l, 0, sizeof *l);
  l->end = end;
  l->active = 1;
}

void sl__http_lines_exec(sl__http_lines_t* l, const char* base, size_t len) {
  l->gap = base; /* what came before was checked by the last flush */
  l->end = base + len;
}

/* Checks the gap [l->gap, to): a line feed followed by SP or HTAB starts a
 * folded line. With `stop`, a line feed followed by CR or LF (the blank
 * line that ends the head) ends the scan. Returns 0, or -1 for a fold. */
static int lines_scan(sl__http_lines_t* l, const char* to, int stop) {
  for (const char* p = l->gap; p < to; p++) {
    if (l->lf && (*p == ' ' || *p == '\t')) return -1;
    if (l->lf && stop && (*p == '\r' || *p == '\n')) break;
    l->lf = *p == '\n';
  }
  l->gap = to;
  return 0;
}

int sl__http_lines_flush(sl__http_lines_t* l) {
  if (!l->active || !l->started || l->gap == NULL) return 0;
  return lines_scan(l, l->end, 0);
}

/* A span of the head: the gap before it is checked, the span itself holds
 * no line feed (llhttp ends every span at CR or LF). A folded line's blanks
 * may open the value span that continues there. */
static int lines_span(sl__http_lines_t* l, const char* at, size_t n) {
  if (l->started && l->gap != NULL && lines_scan(l, at, 0) != 0) return -1;
  if (l->lf && n > 0 && (at[0] == ' ' || at[0] == '\t')) return -1;
  if (n > 0 || !l->started) l->lf = 0;
  l->started = 1;
  l->gap = at + n;
  return 0;
}

int sl__http_lines_url(sl__http_lines_t* l, const char* at, size_t n) {
  return lines_span(l, at, n);
}

int sl__http_lines_name(sl__http_lines_t* l, const char* at, size_t n) {
  if (!l->active && l->name_len == 0) { /* the first trailer field */
    l->active = 1;
    l->started = l->lf = 0;
  }
  l->name_len += n;
  return lines_span(l, at, n);
}

int sl__http_lines_value(sl__http_lines_t* l, const char* at, size_t n) {
  if (l->name_len == 0) return -1; /* ": x": a value without a name */
  return lines_span(l, at, n);
}

int sl__http_lines_value_done(sl__http_lines_t* l) {
  int empty = l->name_len == 0;
  l->name_len = 0;
  return empty ? -1 : 0;
}

int sl__http_lines_end(sl__http_lines_t* l) {
  int rc = 0;
  if (l->active && l->started && l->gap != NULL) rc = lines_scan(l, l->end, 1);
  l->active = 0;
  return rc;
}

/* --- chunk extensions ---------------------------------------------------- */

int sl__http_ext_value(sl__http_ext_t* x, const char* at, size_t n) {
  if (!x->open) x->quoted = n > 0 && at[0] == '"';
  x->open = 1;
  /* The span ends at its terminator, in this buffer unless the span was
   * only cut by the buffer's end. */
  if (!x->quoted && at + n < x->end && at[n] == ';') x->semi = 1;
  return 0;
}

int sl__http_ext_value_done(sl__http_ext_t* x) {
  int semi = x->semi;
  x->open = x->quoted = x->semi = 0;
  if (!semi) return 0;
  x->resume = 1;
  return HPE_PAUSED;
}

int sl__http_ext_give_back(sl__http_ext_t* x, void* parser) {
  static const char semi[1] = {';'};
  llhttp_t* p = parser;
  x->resume = 0;
  x->end = semi + 1;
  llhttp_resume(p);
  return llhttp_execute(p, semi, 1);
}

/* --- message streams ------------------------------------------------------ */

void sl__http_msg_read(sl_stream_t* s, size_t n) {
  sl__http_msg_t* m = (sl__http_msg_t*)s;
  (void)n;
  if (m->on_read != NULL) m->on_read(m);
}

int sl__http_is_msg(const sl_stream_t* s) {
  return s != NULL && s->hooks != NULL && s->hooks->read == sl__http_msg_read;
}

void sl__http_msg_free(sl__http_msg_t* m) {
  sl__http_hdrs_free(&m->hdrs);
  sl__free(m->method);
  sl__free(m->url);
  sl__free(m->path);
  m->method = m->url = m->path = NULL;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char* sl__http_decode_path(const char* url) {
  char* out = sl__malloc(strlen(url) + 2);
  if (out != NULL) sl__http_decode_path_into(url, out);
  return out;
}

void sl__http_decode_path_into(const char* url, char* out) {
  const char* p = url;
  /* Absolute form: skip "scheme://authority". */
  const char* scheme = url[0] != '/' ? strstr(url, "://") : NULL;
  if (scheme != NULL) {
    p = strchr(scheme + 3, '/');
    if (p == NULL) p = "/";
  }
  size_t n = 0; /* up to the query or fragment (strcspn, without its
                 * setup cost on a short target) */
  while (p[n] != '\0' && p[n] != '?' && p[n] != '#') n++;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (p[i] == '%' && i + 2 < n + 1 && (hi = hexval(p[i + 1])) >= 0 &&
        (lo = hexval(p[i + 2])) >= 0 && (hi | lo) != 0) {
      out[o++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      out[o++] = p[i];
    }
  }
  out[o] = '\0';
}

/* --- public accessors ----------------------------------------------------- */

static sl__http_msg_t* msg_of(const sl_stream_t* s) {
  SL_ASSERT(sl__http_is_msg(s));
  return (sl__http_msg_t*)s;
}

const char* sl_http_method(const sl_stream_t* req) {
  const char* m = msg_of(req)->method;
  return m ? m : "";
}

const char* sl_http_url(const sl_stream_t* req) {
  const char* u = msg_of(req)->url;
  return u ? u : "";
}

const char* sl_http_path(const sl_stream_t* req) {
  const char* p = msg_of(req)->path;
  return p ? p : "";
}

/* form-urlencoded decoding of p[0..n) into out ('+' is a space, a bad
 * escape stays as it is); returns the length written. */
static size_t form_decode(const char* p, size_t n, char* out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (p[i] == '+') {
      out[o++] = ' ';
    } else if (p[i] == '%' && i + 2 < n + 1 && (hi = hexval(p[i + 1])) >= 0 &&
               (lo = hexval(p[i + 2])) >= 0) {
      out[o++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      out[o++] = p[i];
    }
  }
  out[o] = '\0';
  return o;
}

const char* sl_http_query(const sl_stream_t* req, const char* name) {
  sl__http_msg_t* m = msg_of(req);
  const char* q = m->url ? strchr(m->url, '?') : NULL;
  if (q == NULL || name == NULL) return NULL;
  size_t want = strlen(name);
  for (const char* p = q + 1; *p != '\0' && *p != '#';) {
    size_t n = strcspn(p, "&#");
    size_t klen = strcspn(p, "=&#");
    if (klen > n) klen = n;
    char key[256];
    if (klen < sizeof key && form_decode(p, klen, key) == want &&
        memcmp(key, name, want) == 0) {
      size_t vlen = klen < n ? n - klen - 1 : 0;
      char* v = hdrs_keep(&m->hdrs, vlen);
      if (v == NULL) return NULL;
      form_decode(p + klen + (klen < n), vlen, v);
      return v;
    }
    p += n;
    if (*p == '&') p++;
  }
  return NULL;
}

int sl_http_is(const sl_stream_t* req, const char* method,
               const char* pattern) {
  if (method != NULL && strcmp(sl_http_method(req), method) != 0) return 0;
  if (pattern == NULL) return 1;
  const char* path = sl_http_path(req);
  size_t n = strlen(pattern);
  if (n > 0 && pattern[n - 1] == '*') return strncmp(path, pattern, n - 1) == 0;
  return strcmp(path, pattern) == 0;
}

int sl_http_version_minor(const sl_stream_t* req) {
  return msg_of(req)->version_minor;
}

const char* sl_http_header(const sl_stream_t* msg, const char* name) {
  return sl__http_hdrs_get(&msg_of(msg)->hdrs, name);
}

int sl_http_header_at(const sl_stream_t* msg, size_t i, const char** name,
                      const char** value) {
  return sl__http_hdrs_at(&msg_of(msg)->hdrs, i, name, value);
}

const char* sl_http_remote(const sl_stream_t* req) {
  return msg_of(req)->remote;
}
