/* Static files: the pure parts (path resolution, Range, validators, dates,
 * Accept-Encoding, MIME) called directly, then sl_static_serve behind a
 * real server, spoken to over a raw socket so that nothing normalises the
 * request line on the way (traversal attempts stay as written). */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "http/http_int.h"
#include "test.h"

/* --- path resolution ---------------------------------------------------- */

static int resolve(const char* target, char* out, int* dir) {
  return sl__static_resolve(target, out, SL__STATIC_MAX_PATH + 1, dir);
}

TEST(static_resolve_plain) {
  char out[SL__STATIC_MAX_PATH + 1];
  int dir;
  ASSERT_EQ(resolve("/a/b.txt", out, &dir), 0);
  ASSERT_STR_EQ(out, "a/b.txt");
  ASSERT_EQ(dir, 0);
  ASSERT_EQ(resolve("/", out, &dir), 0);
  ASSERT_STR_EQ(out, "");
  ASSERT_EQ(dir, 1);
  ASSERT_EQ(resolve("/a/", out, &dir), 0);
  ASSERT_STR_EQ(out, "a");
  ASSERT_EQ(dir, 1);
  ASSERT_EQ(resolve("/a//b/./c?x=/../..#frag", out, &dir), 0);
  ASSERT_STR_EQ(out, "a/b/c");
  ASSERT_EQ(dir, 0);
  ASSERT_EQ(resolve("http://example.com/x/y?q", out, &dir), 0);
  ASSERT_STR_EQ(out, "x/y");
  ASSERT_EQ(resolve("/...", out, &dir), 0); /* a legal file name */
  ASSERT_STR_EQ(out, "...");
  ASSERT_EQ(resolve("*", out, &dir), 400);
  ASSERT_EQ(resolve("example.com:443", out, &dir), 400);
}

TEST(static_resolve_decodes_once) {
  char out[SL__STATIC_MAX_PATH + 1];
  int dir;
  ASSERT_EQ(resolve("/hello%20world.txt", out, &dir), 0);
  ASSERT_STR_EQ(out, "hello world.txt");
  ASSERT_EQ(resolve("/%C3%A9t%c3%a9", out, &dir), 0);
  ASSERT_STR_EQ(out, "\xc3\xa9t\xc3\xa9");
  /* Decoded once: "%252e%252e" is the literal name "%2e%2e". */
  ASSERT_EQ(resolve("/%252e%252e/x", out, &dir), 0);
  ASSERT_STR_EQ(out, "%2e%2e/x");
}

TEST(static_resolve_dotdot) {
  char out[SL__STATIC_MAX_PATH + 1];
  int dir;
  ASSERT_EQ(resolve("/../etc/passwd", out, &dir), 403);
  ASSERT_EQ(resolve("/a/../../b", out, &dir), 403);
  ASSERT_EQ(resolve("/a/..", out, &dir), 403);
  ASSERT_EQ(resolve("/a/../b", out, &dir), 403); /* even when it stays in */
  ASSERT_EQ(resolve("/%2e%2e/secret", out, &dir), 403);
  ASSERT_EQ(resolve("/%2E%2e/", out, &dir), 403);
  ASSERT_EQ(resolve("/.%2e/x", out, &dir), 403);
  ASSERT_EQ(resolve("http://h/../x", out, &dir), 403);
}

TEST(static_resolve_encoded_slash) {
  char out[SL__STATIC_MAX_PATH + 1];
  int dir;
  ASSERT_EQ(resolve("/a%2Fb", out, &dir), 403);
  ASSERT_EQ(resolve("/a%2f..%2f..%2fetc", out, &dir), 403);
  ASSERT_EQ(resolve("/..%2F", out, &dir), 403);
}

TEST(static_resolve_bad_escape_and_nul) {
  char out[SL__STATIC_MAX_PATH + 1];
  int dir;
  ASSERT_EQ(resolve("/a%00b", out, &dir), 400);
  ASSERT_EQ(resolve("/a%00", out, &dir), 400);
  ASSERT_EQ(resolve("/a%zz", out, &dir), 400);
  ASSERT_EQ(resolve("/a%4", out, &dir), 400);
  ASSERT_EQ(resolve("/a%", out, &dir), 400);
}

TEST(static_resolve_too_long) {
  char out[SL__STATIC_MAX_PATH + 1];
  int dir;
  char* t = malloc(SL__STATIC_MAX_PATH + 16);
  t[0] = '/';
  memset(t + 1, 'a', SL__STATIC_MAX_PATH + 10);
  t[SL__STATIC_MAX_PATH + 11] = '\0';
  ASSERT_EQ(resolve(t, out, &dir), 414);
  t[SL__STATIC_MAX_PATH - 1] = '\0'; /* just under the limit */
  ASSERT_EQ(resolve(t, out, &dir), 0);
  ASSERT_EQ(strlen(out), SL__STATIC_MAX_PATH - 2);
  char small[8];
  ASSERT_EQ(sl__static_resolve("/abcdefghij", small, sizeof small, &dir), 414);
  free(t);
}

/* --- Range -------------------------------------------------------------- */

static int range(const char* h, uint64_t size, uint64_t* a, uint64_t* b) {
  *a = *b = 12345;
  return sl__http_parse_range(h, size, a, b);
}

TEST(static_range_satisfiable) {
  uint64_t a, b;
  ASSERT_EQ(range("bytes=0-99", 1000, &a, &b), SL__RANGE_OK);
  ASSERT_EQ(a, 0);
  ASSERT_EQ(b, 100);
  ASSERT_EQ(range("bytes=500-", 1000, &a, &b), SL__RANGE_OK);
  ASSERT_EQ(a, 500);
  ASSERT_EQ(b, 1000);
  ASSERT_EQ(range("bytes=-100", 1000, &a, &b), SL__RANGE_OK);
  ASSERT_EQ(a, 900);
  ASSERT_EQ(b, 1000);
  ASSERT_EQ(range("bytes=0-5000", 1000, &a, &b), SL__RANGE_OK); /* clamped */
  ASSERT_EQ(b, 1000);
  ASSERT_EQ(range("bytes=-5000", 1000, &a, &b), SL__RANGE_OK);
  ASSERT_EQ(a, 0);
  ASSERT_EQ(b, 1000);
  ASSERT_EQ(range(" Bytes = 999-999 ", 1000, &a, &b), SL__RANGE_OK);
  ASSERT_EQ(a, 999);
  ASSERT_EQ(b, 1000);
  ASSERT_EQ(range("bytes=1-99999999999999999999999", 10, &a, &b), SL__RANGE_OK);
  ASSERT_EQ(b, 10);
}

TEST(static_range_unsatisfiable) {
  uint64_t a, b;
  ASSERT_EQ(range("bytes=1000-", 1000, &a, &b), SL__RANGE_UNSAT);
  ASSERT_EQ(range("bytes=1000-2000", 1000, &a, &b), SL__RANGE_UNSAT);
  ASSERT_EQ(range("bytes=-0", 1000, &a, &b), SL__RANGE_UNSAT);
  ASSERT_EQ(range("bytes=0-", 0, &a, &b), SL__RANGE_UNSAT);
  ASSERT_EQ(range("bytes=-10", 0, &a, &b), SL__RANGE_UNSAT);
  ASSERT_EQ(range("bytes=99999999999999999999999-", 10, &a, &b),
            SL__RANGE_UNSAT);
}

TEST(static_range_ignored) {
  uint64_t a, b;
  ASSERT_EQ(range(NULL, 1000, &a, &b), SL__RANGE_NONE);
  ASSERT_EQ(range("items=0-1", 1000, &a, &b), SL__RANGE_NONE);
  ASSERT_EQ(range("bytes=5-1", 1000, &a, &b), SL__RANGE_NONE);
  ASSERT_EQ(range("bytes=0-1,5-6", 1000, &a, &b), SL__RANGE_NONE);
  ASSERT_EQ(range("bytes=abc", 1000, &a, &b), SL__RANGE_NONE);
  ASSERT_EQ(range("bytes=1-2x", 1000, &a, &b), SL__RANGE_NONE);
  ASSERT_EQ(range("bytes=-", 1000, &a, &b), SL__RANGE_NONE);
  ASSERT_EQ(range("bytes 0-1", 1000, &a, &b), SL__RANGE_NONE);
  ASSERT_EQ(a, 12345); /* untouched */
}

/* --- validators, dates, encodings --------------------------------------- */

TEST(static_etag_match) {
  char etag[64];
  sl__http_etag(1234, 5678, etag, sizeof etag);
  ASSERT_STR_EQ(etag, "W/\"4d2-162e\"");
  ASSERT(sl__http_etag_match("W/\"4d2-162e\"", etag));
  ASSERT(sl__http_etag_match("\"4d2-162e\"", etag)); /* weak comparison */
  ASSERT(sl__http_etag_match("\"x\", W/\"4d2-162e\"", etag));
  ASSERT(sl__http_etag_match("*", etag));
  ASSERT(!sl__http_etag_match("W/\"4d2-162f\"", etag));
  ASSERT(!sl__http_etag_match("\"4d2\"", etag));
  ASSERT(!sl__http_etag_match("", etag));
  char other[64];
  sl__http_etag(1234, 5679, other, sizeof other); /* touched: new tag */
  ASSERT(strcmp(other, etag) != 0);
}

TEST(static_http_dates) {
  char d[32];
  sl__http_date(784111777, d);
  ASSERT_STR_EQ(d, "Sun, 06 Nov 1994 08:49:37 GMT");
  int64_t t = 0;
  ASSERT_EQ(sl__http_parse_date("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
  ASSERT_EQ(t, 784111777);
  t = 0;
  ASSERT_EQ(sl__http_parse_date("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
  ASSERT_EQ(t, 784111777);
  t = 0;
  ASSERT_EQ(sl__http_parse_date("Sun Nov  6 08:49:37 1994", &t), 0);
  ASSERT_EQ(t, 784111777);
  ASSERT_EQ(sl__http_parse_date("yesterday", &t), SL_EINVAL);
  ASSERT_EQ(sl__http_parse_date("Sun, 06 Foo 1994 08:49:37 GMT", &t),
            SL_EINVAL);
}

TEST(static_not_modified_rules) {
  const char* etag = "W/\"a-b\"";
  int64_t mtime = 784111777;
  ASSERT(sl__static_not_modified("W/\"a-b\"", NULL, etag, mtime));
  ASSERT(!sl__static_not_modified("W/\"x\"", NULL, etag, mtime));
  /* If-None-Match wins over If-Modified-Since. */
  ASSERT(!sl__static_not_modified("W/\"x\"", "Sun, 06 Nov 1994 08:49:37 GMT",
                                  etag, mtime));
  ASSERT(sl__static_not_modified(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", etag,
                                 mtime));
  ASSERT(sl__static_not_modified(NULL, "Mon, 07 Nov 1994 08:49:37 GMT", etag,
                                 mtime));
  ASSERT(!sl__static_not_modified(NULL, "Sun, 06 Nov 1994 08:49:36 GMT", etag,
                                  mtime));
  ASSERT(!sl__static_not_modified(NULL, "garbage", etag, mtime));
  ASSERT(!sl__static_not_modified(NULL, NULL, etag, mtime));
}

TEST(static_accepts_gzip) {
  ASSERT(sl__http_accepts_gzip("gzip, deflate, br"));
  ASSERT(sl__http_accepts_gzip("GZIP"));
  ASSERT(sl__http_accepts_gzip("x-gzip"));
  ASSERT(sl__http_accepts_gzip("br;q=1.0, gzip;q=0.5"));
  ASSERT(sl__http_accepts_gzip("*"));
  ASSERT(!sl__http_accepts_gzip("gzip;q=0"));
  ASSERT(!sl__http_accepts_gzip("gzip ; q=0.000, *"));
  ASSERT(!sl__http_accepts_gzip("deflate, *;q=0"));
  ASSERT(!sl__http_accepts_gzip("identity"));
  ASSERT(!sl__http_accepts_gzip("gzipx"));
  ASSERT(!sl__http_accepts_gzip(""));
  ASSERT(!sl__http_accepts_gzip(NULL));
}

TEST(static_mime_types) {
  static const struct {
    const char* path;
    const char* type;
    int z;
  } cases[] = {
      {"index.html", "text/html; charset=utf-8", 1},
      {"a/b/style.css", "text/css; charset=utf-8", 1},
      {"app.js", "text/javascript; charset=utf-8", 1},
      {"data.json", "application/json", 1},
      {"notes.txt", "text/plain; charset=utf-8", 1},
      {"access.log", "text/plain; charset=utf-8", 1},
      {"logo.svg", "image/svg+xml", 1},
      {"p.png", "image/png", 0},
      {"p.jpg", "image/jpeg", 0},
      {"p.JPEG", "image/jpeg", 0},
      {"p.gif", "image/gif", 0},
      {"favicon.ico", "image/x-icon", 1},
      {"video.mp4", "video/mp4", 0},
      {"clip.webm", "video/webm", 0},
      {"song.mp3", "audio/mpeg", 0},
      {"mod.wasm", "application/wasm", 1},
      {"doc.pdf", "application/pdf", 0},
      {"f.woff2", "font/woff2", 0},
      {"access.log.gz", "application/gzip", 0},
      {"Makefile", "application/octet-stream", 0},
      {".bashrc", "application/octet-stream", 0},
      {"dir.d/file", "application/octet-stream", 0},
      {"trailing.", "application/octet-stream", 0},
      {"x.unknownext", "application/octet-stream", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int z = -1;
    ASSERT_STR_EQ(sl__mime_type(cases[i].path, &z), cases[i].type);
    ASSERT_EQ(z, cases[i].z);
  }
  ASSERT_STR_EQ(sl__mime_type("a.html", NULL), "text/html; charset=utf-8");
}

/* --- sl_static_serve behind a server ------------------------------------ */

typedef struct {
  sl_http_server_t* srv;
  sl_static_t* st;
  uint64_t zero_copy; /* of the last response */
  char* buf;          /* the raw response */
  size_t len;
} fx_t;

typedef struct {
  int status;
  char head[8192];
  const char* body;
  size_t body_len;
} resp_t;

static void on_res_finish(sl_stream_t* res, const sl_event_t* ev, void* a) {
  sl_stream_stats_t ss;
  sl_stream_stats(res, &ss);
  ((fx_t*)a)->zero_copy = ss.zero_copy_bytes;
}

static void handler(sl_stream_t* req, sl_stream_t* res, void* arg) {
  fx_t* f = arg;
  sl_stream_on(res, SL_EV_FINISH, on_res_finish, f);
  ASSERT_EQ(sl_static_serve(f->st, req, res), 0);
}

static void fx_start(fx_t* f, const sl_static_opts_t* o) {
  memset(f, 0, sizeof *f);
  int err = -1;
  f->st = sl_static_new(o, &err);
  ASSERT(f->st != NULL);
  ASSERT_EQ(err, 0);
  sl_http_server_opts_t so = {0};
  ASSERT_EQ(sl_http_listen(&so, handler, f, &f->srv), 0);
}

static void fx_stop(fx_t* f) {
  sl_http_server_close(f->srv, NULL, NULL);
  ASSERT_EQ(sl_run(), 0);
  sl_static_free(f->st);
  free(f->buf);
}

static void on_client(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  fx_t* f = arg;
  if (ev->type == SL_EV_DATA) {
    size_t n = sl_chunk_len(ev->chunk);
    f->buf = realloc(f->buf, f->len + n + 1);
    memcpy(f->buf + f->len, sl_chunk_data(ev->chunk), n);
    f->len += n;
    f->buf[f->len] = '\0';
  } else if (ev->type == SL_EV_CLOSE) {
    sl_stop();
  }
}

/* Sends `req` as written ("\r\n" line ends, Connection: close added) and
 * returns the raw response once the server closed the connection. */
static void fetch(fx_t* f, const char* req, resp_t* r) {
  free(f->buf);
  f->buf = NULL;
  f->len = 0;
  sl_stream_t* c =
      sl_tcp_connect("127.0.0.1", sl_http_server_port(f->srv), NULL);
  ASSERT(c != NULL);
  sl_stream_on(c, SL_EV_DATA, on_client, f);
  sl_stream_on(c, SL_EV_CLOSE, on_client, f);
  sl_stream_write_str(c, req);
  sl_stream_write_str(c, "Connection: close\r\n\r\n");
  ASSERT_EQ(sl_run(), 0);
  ASSERT(f->buf != NULL);
  const char* sep = strstr(f->buf, "\r\n\r\n");
  ASSERT(sep != NULL);
  size_t hl = (size_t)(sep - f->buf) + 2;
  ASSERT(hl < sizeof r->head);
  memcpy(r->head, f->buf, hl);
  r->head[hl] = '\0';
  r->status = atoi(f->buf + 9);
  r->body = sep + 4;
  r->body_len = f->len - hl - 2;
}

/* The value of header `name` in r (static buffer), or NULL. */
static const char* hdr(const resp_t* r, const char* name) {
  static char v[1024];
  const char* p = strstr(r->head, "\r\n");
  size_t n = strlen(name);
  while (p != NULL && p[2] != '\0') {
    p += 2;
    if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
      const char* s = p + n + 1;
      while (*s == ' ') s++;
      size_t l = strcspn(s, "\r");
      memcpy(v, s, l);
      v[l] = '\0';
      return v;
    }
    p = strstr(p, "\r\n");
  }
  return NULL;
}

static void get(fx_t* f, const char* path, const char* extra, resp_t* r) {
  char req[8192];
  snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n%s", path,
           extra ? extra : "");
  fetch(f, req, r);
}

static const char hello[] = "Hello, static world!\n";

static void make_site(void) {
  const char* dir = sl_test_tmpdir();
  char p[4096];
  snprintf(p, sizeof p, "%s/site", dir);
  ASSERT_EQ(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/site/sub", dir);
  ASSERT_EQ(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/site/empty", dir);
  ASSERT_EQ(mkdir(p, 0755), 0);
  sl_test_write_file(sl_test_path("site/hello.txt"), hello, strlen(hello));
  sl_test_write_file(sl_test_path("site/sub/index.html"), "<p>sub</p>\n", 11);
  sl_test_write_file(sl_test_path("secret.txt"), "top secret\n", 11);
}

static void site_opts(sl_static_opts_t* o) {
  memset(o, 0, sizeof *o);
  static char root[4096];
  snprintf(root, sizeof root, "%s", sl_test_path("site"));
  o->root = root;
}

TEST(static_serve_file) {
  make_site();
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  get(&f, "/hello.txt", NULL, &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body_len, strlen(hello));
  ASSERT_MEM_EQ(r.body, hello, r.body_len);
  ASSERT_STR_EQ(hdr(&r, "Content-Type"), "text/plain; charset=utf-8");
  ASSERT_STR_EQ(hdr(&r, "Content-Length"), "21");
  ASSERT_STR_EQ(hdr(&r, "Accept-Ranges"), "bytes");
  ASSERT_STR_EQ(hdr(&r, "Vary"), "Accept-Encoding");
  struct stat sb;
  ASSERT_EQ(stat(sl_test_path("site/hello.txt"), &sb), 0);
  char etag[64], lm[32];
  sl__http_etag((uint64_t)sb.st_size,
                (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec,
                etag, sizeof etag);
  sl__http_date(sb.st_mtim.tv_sec, lm);
  ASSERT_STR_EQ(hdr(&r, "ETag"), etag);
  ASSERT_STR_EQ(hdr(&r, "Last-Modified"), lm);
  get(&f, "/nope.txt", NULL, &r);
  ASSERT_EQ(r.status, 404);
  get(&f, "/hello.txt/", NULL, &r);
  ASSERT_EQ(r.status, 404);
  fx_stop(&f);
}

TEST(static_serve_ranges) {
  make_site();
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  get(&f, "/hello.txt", "Range: bytes=7-12\r\n", &r);
  ASSERT_EQ(r.status, 206);
  ASSERT_STR_EQ(hdr(&r, "Content-Range"), "bytes 7-12/21");
  ASSERT_STR_EQ(hdr(&r, "Content-Length"), "6");
  ASSERT_EQ(r.body_len, 6);
  ASSERT_MEM_EQ(r.body, "static", 6);
  get(&f, "/hello.txt", "Range: bytes=-7\r\n", &r);
  ASSERT_EQ(r.status, 206);
  ASSERT_STR_EQ(hdr(&r, "Content-Range"), "bytes 14-20/21");
  ASSERT_EQ(r.body_len, 7);
  ASSERT_MEM_EQ(r.body, "world!\n", 7);
  get(&f, "/hello.txt", "Range: bytes=14-\r\n", &r);
  ASSERT_EQ(r.status, 206);
  ASSERT_MEM_EQ(r.body, "world!\n", 7);
  /* Several ranges: the whole file, 200. */
  get(&f, "/hello.txt", "Range: bytes=0-1,4-5\r\n", &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body_len, 21);
  ASSERT(hdr(&r, "Content-Range") == NULL);
  fx_stop(&f);
}

TEST(static_serve_range_unsatisfiable) {
  make_site();
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  get(&f, "/hello.txt", "Range: bytes=21-\r\n", &r);
  ASSERT_EQ(r.status, 416);
  ASSERT_STR_EQ(hdr(&r, "Content-Range"), "bytes */21");
  /* An If-Range that does not match: the whole file instead. */
  get(&f, "/hello.txt", "Range: bytes=0-1\r\nIf-Range: \"old\"\r\n", &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body_len, 21);
  fx_stop(&f);
}

TEST(static_serve_not_modified) {
  make_site();
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  get(&f, "/hello.txt", NULL, &r);
  char etag[64], lm[64], extra[256];
  snprintf(etag, sizeof etag, "%s", hdr(&r, "ETag"));
  snprintf(lm, sizeof lm, "%s", hdr(&r, "Last-Modified"));
  snprintf(extra, sizeof extra, "If-None-Match: %s\r\n", etag);
  get(&f, "/hello.txt", extra, &r);
  ASSERT_EQ(r.status, 304);
  ASSERT_EQ(r.body_len, 0);
  ASSERT_STR_EQ(hdr(&r, "ETag"), etag);
  get(&f, "/hello.txt", "If-None-Match: \"other\"\r\n", &r);
  ASSERT_EQ(r.status, 200);
  snprintf(extra, sizeof extra, "If-Modified-Since: %s\r\n", lm);
  get(&f, "/hello.txt", extra, &r);
  ASSERT_EQ(r.status, 304);
  get(&f, "/hello.txt", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
      &r);
  ASSERT_EQ(r.status, 200);
  /* With the file range-served later, If-Range by date works. */
  snprintf(extra, sizeof extra, "Range: bytes=0-4\r\nIf-Range: %s\r\n", lm);
  get(&f, "/hello.txt", extra, &r);
  ASSERT_EQ(r.status, 206);
  fx_stop(&f);
}

/* Undoes Transfer-Encoding: chunked in place; returns the body length. */
static size_t dechunk(char* b, size_t n) {
  size_t in = 0, out = 0;
  while (in < n) {
    size_t len = strtoul(b + in, NULL, 16);
    char* eol = strstr(b + in, "\r\n");
    ASSERT(eol != NULL);
    in = (size_t)(eol - b) + 2;
    if (len == 0) break;
    memmove(b + out, b + in, len);
    out += len;
    in += len + 2;
  }
  return out;
}

static size_t gunzip_buf(const char* in, size_t n, char* out, size_t cap) {
  z_stream z = {0};
  ASSERT_EQ(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
  z.next_in = (Bytef*)in;
  z.avail_in = (uInt)n;
  z.next_out = (Bytef*)out;
  z.avail_out = (uInt)cap;
  int rc;
  /* One member, as a client with one decoder reads it: the stream ends
   * exactly where the body does. */
  rc = inflate(&z, Z_FINISH);
  ASSERT_EQ(rc, Z_STREAM_END);
  ASSERT_EQ(z.avail_in, 0);
  size_t got = cap - z.avail_out;
  inflateEnd(&z);
  return got;
}

TEST(static_serve_gzip) {
  make_site();
  size_t len = 300 * 1000;
  char* log = malloc(len);
  for (size_t i = 0; i < len; i++) log[i] = "GET /index.html 200\n"[i % 20];
  sl_test_write_file(sl_test_path("site/access.log"), log, len);
  sl_test_write_file(sl_test_path("site/pic.png"), log, 4096);
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  get(&f, "/access.log", "Accept-Encoding: gzip, deflate\r\n", &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(hdr(&r, "Content-Encoding"), "gzip");
  ASSERT_STR_EQ(hdr(&r, "Vary"), "Accept-Encoding");
  /* Chunked, or a computed length when the whole output came at once. */
  const char* te = hdr(&r, "Transfer-Encoding");
  size_t zl = te != NULL && strcmp(te, "chunked") == 0
                  ? dechunk((char*)r.body, r.body_len)
                  : r.body_len;
  ASSERT_LT(zl, len / 10);
  char* back = malloc(len + 16);
  ASSERT_EQ(gunzip_buf(r.body, zl, back, len + 16), len);
  ASSERT_MEM_EQ(back, log, len);
  /* Not for a Range request, not without Accept-Encoding, not for PNG. */
  get(&f, "/access.log", "Accept-Encoding: gzip\r\nRange: bytes=0-19\r\n", &r);
  ASSERT_EQ(r.status, 206);
  ASSERT(hdr(&r, "Content-Encoding") == NULL);
  ASSERT_MEM_EQ(r.body, log, 20);
  get(&f, "/access.log", "Accept-Encoding: gzip;q=0\r\n", &r);
  ASSERT(hdr(&r, "Content-Encoding") == NULL);
  ASSERT_EQ(r.body_len, len);
  get(&f, "/pic.png", "Accept-Encoding: gzip\r\n", &r);
  ASSERT(hdr(&r, "Content-Encoding") == NULL);
  ASSERT(hdr(&r, "Vary") == NULL);
  ASSERT_STR_EQ(hdr(&r, "Content-Type"), "image/png");
  ASSERT_EQ(r.body_len, 4096);
  fx_stop(&f);
  free(back);
  free(log);
}

TEST(static_serve_no_gzip_option) {
  make_site();
  char big[2000];
  memset(big, 'x', sizeof big);
  sl_test_write_file(sl_test_path("site/big.txt"), big, sizeof big);
  sl_static_opts_t o;
  site_opts(&o);
  o.no_gzip = 1;
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  get(&f, "/big.txt", "Accept-Encoding: gzip\r\n", &r);
  ASSERT_EQ(r.status, 200);
  ASSERT(hdr(&r, "Content-Encoding") == NULL);
  ASSERT_EQ(r.body_len, sizeof big);
  fx_stop(&f);
}

TEST(static_serve_head) {
  make_site();
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  fetch(&f, "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n", &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(hdr(&r, "Content-Length"), "21");
  ASSERT_EQ(r.body_len, 0);
  fetch(&f, "POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n", &r);
  ASSERT_EQ(r.status, 405);
  ASSERT_STR_EQ(hdr(&r, "Allow"), "GET, HEAD");
  fx_stop(&f);
}

TEST(static_serve_directories) {
  make_site();
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  get(&f, "/sub?x=1", NULL, &r);
  ASSERT_EQ(r.status, 301);
  ASSERT_STR_EQ(hdr(&r, "Location"), "/sub/?x=1");
  get(&f, "/sub/", NULL, &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(hdr(&r, "Content-Type"), "text/html; charset=utf-8");
  ASSERT_EQ(r.body_len, 11);
  ASSERT_MEM_EQ(r.body, "<p>sub</p>\n", 11);
  /* "//evil.example" never becomes a protocol-relative Location. */
  char p[4096];
  snprintf(p, sizeof p, "%s/site/evil.example", sl_test_tmpdir());
  ASSERT_EQ(mkdir(p, 0755), 0);
  get(&f, "//evil.example", NULL, &r);
  ASSERT_EQ(r.status, 301);
  ASSERT_STR_EQ(hdr(&r, "Location"), "/evil.example/");
  fx_stop(&f);
}

TEST(static_serve_listing) {
  make_site();
  sl_test_write_file(sl_test_path("site/empty/<b>&\".txt"), "x", 1);
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  get(&f, "/", NULL, &r);
  ASSERT_EQ(r.status, 200);
  ASSERT(memmem(r.body, r.body_len, "<a href=\"hello.txt\">hello.txt</a>",
                33) != NULL);
  ASSERT(memmem(r.body, r.body_len, "<a href=\"sub/\">sub/</a>", 23) != NULL);
  get(&f, "/empty/", NULL, &r);
  ASSERT_EQ(r.status, 200);
  const char* want =
      "<a href=\"%3Cb%3E%26%22.txt\">&lt;b&gt;&amp;&quot;.txt</a>";
  ASSERT(memmem(r.body, r.body_len, want, strlen(want)) != NULL);
  ASSERT(memmem(r.body, r.body_len, "<b>", 3) == NULL);
  ASSERT(memmem(r.body, r.body_len, "href=\"../\"", 10) != NULL);
  fx_stop(&f);
  o.no_listing = 1;
  fx_start(&f, &o);
  get(&f, "/empty/", NULL, &r);
  ASSERT_EQ(r.status, 404);
  get(&f, "/sub/", NULL, &r); /* the index still works */
  ASSERT_EQ(r.status, 200);
  fx_stop(&f);
}

TEST(static_serve_traversal) {
  make_site();
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  static const struct {
    const char* target;
    int status;
  } cases[] = {
      {"/../secret.txt", 403},
      {"/sub/../../secret.txt", 403},
      {"/%2e%2e/secret.txt", 403},
      {"/%2E%2E/secret.txt", 403},
      {"/.%2e/secret.txt", 403},
      {"/sub%2F..%2F..%2Fsecret.txt", 403},
      {"/..%2Fsecret.txt", 403},
      {"/hello.txt%00.png", 400},
      {"/%zz", 400},
      {"/secret.txt", 404},
      {"http://x/../secret.txt", 403},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    get(&f, cases[i].target, NULL, &r);
    if (r.status != cases[i].status)
      sl_test_fail(__FILE__, __LINE__, "%s: %d, want %d", cases[i].target,
                   r.status, cases[i].status);
    ASSERT(memmem(r.body, r.body_len, "top secret", 10) == NULL);
  }
  char* longp = malloc(SL__STATIC_MAX_PATH + 64);
  longp[0] = '/';
  memset(longp + 1, 'a', SL__STATIC_MAX_PATH + 10);
  longp[SL__STATIC_MAX_PATH + 11] = '\0';
  get(&f, longp, NULL, &r);
  ASSERT_EQ(r.status, 414);
  /* A segment over NAME_MAX under the limit: the system says too long. */
  longp[300] = '\0';
  get(&f, longp, NULL, &r);
  ASSERT_EQ(r.status, 414);
  free(longp);
  fx_stop(&f);
}

TEST(static_serve_symlinks) {
  make_site();
  const char* dir = sl_test_tmpdir();
  char target[4096], link[4096];
  snprintf(target, sizeof target, "%s/secret.txt", dir);
  snprintf(link, sizeof link, "%s/site/out.txt", dir);
  ASSERT_EQ(symlink(target, link), 0);
  snprintf(link, sizeof link, "%s/site/outdir", dir);
  ASSERT_EQ(symlink(dir, link), 0);
  snprintf(link, sizeof link, "%s/site/in.txt", dir);
  ASSERT_EQ(symlink("hello.txt", link), 0);
  snprintf(link, sizeof link, "%s/site/dangling", dir);
  ASSERT_EQ(symlink("/nonexistent/x", link), 0);
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  get(&f, "/out.txt", NULL, &r);
  ASSERT_EQ(r.status, 403);
  get(&f, "/outdir/secret.txt", NULL, &r);
  ASSERT_EQ(r.status, 403);
  get(&f, "/outdir/", NULL, &r);
  ASSERT_EQ(r.status, 403);
  get(&f, "/dangling", NULL, &r);
  ASSERT_EQ(r.status, 404);
  get(&f, "/in.txt", NULL, &r); /* a link that stays inside is fine */
  ASSERT_EQ(r.status, 200);
  ASSERT_MEM_EQ(r.body, hello, strlen(hello));
  fx_stop(&f);
}

TEST(static_serve_zero_copy) {
  make_site();
  size_t len = 3 << 20;
  char* data = malloc(len);
  sl_test_fill_random(data, len, 42);
  sl_test_write_file(sl_test_path("site/blob.bin"), data, len);
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  get(&f, "/blob.bin", "Accept-Encoding: gzip\r\n", &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(hdr(&r, "Content-Type"), "application/octet-stream");
  ASSERT_EQ(r.body_len, len);
  ASSERT_MEM_EQ(r.body, data, len);
  ASSERT_EQ(f.zero_copy, len); /* sendfile moved every byte */
  get(&f, "/blob.bin", "Range: bytes=1000-1999999\r\n", &r);
  ASSERT_EQ(r.status, 206);
  ASSERT_EQ(r.body_len, 1999000);
  ASSERT_MEM_EQ(r.body, data + 1000, 1999000);
  ASSERT_EQ(f.zero_copy, 1999000);
  fx_stop(&f);
  free(data);
}

TEST(static_new_errors) {
  int err = 0;
  sl_static_opts_t o = {.root = sl_test_path("missing")};
  ASSERT(sl_static_new(&o, &err) == NULL);
  ASSERT_EQ(err, SL_ENOENT);
  sl_test_write_file(sl_test_path("file"), "x", 1);
  o.root = sl_test_path("file");
  ASSERT(sl_static_new(&o, &err) == NULL);
  ASSERT_EQ(err, SL_ENOTDIR);
  o.root = sl_test_tmpdir();
  sl_static_t* st = sl_static_new(&o, &err);
  ASSERT(st != NULL);
  ASSERT_EQ(err, 0);
  sl_static_free(st);
  sl_static_free(NULL);
}

/* A client that goes away mid-body: the file stream is destroyed with the
 * response and its descriptor closed (the runner checks that no descriptor
 * is left), for the sendfile path and the gzip path. */
typedef struct {
  sl_http_server_t* srv;
  size_t got;
} gone_t;

static void gone_on_data(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  gone_t* g = arg;
  if (ev->type == SL_EV_DATA) {
    g->got += sl_chunk_len(ev->chunk);
    if (g->got > 256 * 1024) sl_stream_destroy(s, 0);
  } else if (ev->type == SL_EV_CLOSE) {
    sl_http_server_close(g->srv, NULL, NULL);
  }
}

TEST(static_serve_client_gone) {
  make_site();
  size_t len = 16 << 20;
  char* data = malloc(len);
  sl_test_fill_random(data, len, 5); /* letters: text that stays big */
  for (size_t i = 0; i < len; i++) data[i] = (char)('a' + (data[i] & 15));
  sl_test_write_file(sl_test_path("site/big.txt"), data, len);
  free(data);
  const char* reqs[] = {"GET /big.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                        "GET /big.txt HTTP/1.1\r\nHost: x\r\n"
                        "Accept-Encoding: gzip\r\n\r\n"};
  for (int i = 0; i < 2; i++) {
    sl_static_opts_t o;
    site_opts(&o);
    fx_t f;
    fx_start(&f, &o);
    gone_t g = {.srv = f.srv};
    sl_stream_t* c =
        sl_tcp_connect("127.0.0.1", sl_http_server_port(f.srv), NULL);
    sl_stream_on(c, SL_EV_DATA, gone_on_data, &g);
    sl_stream_on(c, SL_EV_CLOSE, gone_on_data, &g);
    sl_stream_write_str(c, reqs[i]);
    ASSERT_EQ(sl_run(), 0);
    ASSERT_GT(g.got, 256 * 1024);
    ASSERT_LT(g.got, len);
    sl_static_free(f.st);
  }
}

/* The open-file cache trusts an entry for about a second: after that a
 * file changed on disk is served afresh, and a deleted one is gone. */
TEST(static_cache_sees_changes) {
  make_site();
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  get(&f, "/hello.txt", NULL, &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_MEM_EQ(r.body, hello, r.body_len);
  get(&f, "/hello.txt", NULL, &r); /* from the cache */
  ASSERT_EQ(r.status, 200);
  ASSERT_MEM_EQ(r.body, hello, r.body_len);
  static const char fresh[] = "replaced, and longer than before\n";
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", sl_test_path("site/new.tmp"));
  sl_test_write_file(tmp, fresh, strlen(fresh));
  ASSERT_EQ(rename(tmp, sl_test_path("site/hello.txt")), 0);
  usleep(1200 * 1000); /* past the validity window */
  get(&f, "/hello.txt", NULL, &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body_len, strlen(fresh));
  ASSERT_MEM_EQ(r.body, fresh, r.body_len);
  struct stat sb;
  ASSERT_EQ(stat(sl_test_path("site/hello.txt"), &sb), 0);
  char etag[64];
  sl__http_etag((uint64_t)sb.st_size,
                (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec,
                etag, sizeof etag);
  ASSERT_STR_EQ(hdr(&r, "ETag"), etag);
  fx_stop(&f);
}

TEST(static_cache_deleted_file) {
  make_site();
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  get(&f, "/hello.txt", NULL, &r);
  ASSERT_EQ(r.status, 200);
  get(&f, "/sub/index.html", NULL, &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(unlink(sl_test_path("site/hello.txt")), 0);
  usleep(1200 * 1000);
  get(&f, "/hello.txt", NULL, &r);
  ASSERT_EQ(r.status, 404);
  get(&f, "/sub/index.html", NULL, &r); /* revalidated, still there */
  ASSERT_EQ(r.status, 200);
  ASSERT_MEM_EQ(r.body, "<p>sub</p>\n", 11);
  fx_stop(&f); /* the runner checks that no descriptor is left open */
}

/* Many files through the bounded cache (more than its slots), with HEAD,
 * 304, Range and gzip answers from cached descriptors. */
TEST(static_cache_many_files) {
  make_site();
  char body[400];
  for (size_t i = 0; i < sizeof body; i++) body[i] = (char)('a' + i % 7);
  char name[64];
  for (int i = 0; i < 100; i++) {
    snprintf(name, sizeof name, "site/f%d.txt", i);
    sl_test_write_file(sl_test_path(name), body, sizeof body);
  }
  sl_static_opts_t o;
  site_opts(&o);
  fx_t f;
  fx_start(&f, &o);
  resp_t r;
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < 100; i++) {
      snprintf(name, sizeof name, "/f%d.txt", i);
      get(&f, name, NULL, &r);
      ASSERT_EQ(r.status, 200);
      ASSERT_EQ(r.body_len, sizeof body);
      ASSERT_MEM_EQ(r.body, body, r.body_len);
    }
  }
  get(&f, "/f1.txt", "Range: bytes=10-19\r\n", &r);
  ASSERT_EQ(r.status, 206);
  ASSERT_MEM_EQ(r.body, body + 10, 10);
  char extra[128];
  snprintf(extra, sizeof extra, "If-None-Match: %s\r\n", hdr(&r, "ETag"));
  get(&f, "/f1.txt", extra, &r);
  ASSERT_EQ(r.status, 304);
  get(&f, "/f1.txt", "Accept-Encoding: gzip\r\n", &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(hdr(&r, "Content-Encoding"), "gzip");
  fetch(&f, "HEAD /f1.txt HTTP/1.1\r\nHost: x\r\n", &r);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(hdr(&r, "Content-Length"), "400");
  fx_stop(&f);
}
