/* Internal contract of the HTTP layer: server.c (connections, llhttp,
 * request/response streams, limits, smuggling checks, graceful close),
 * client.c (requests, responses) and agent.c (pools, idle sockets), both
 * over client_int.h, static.c (files), mime.c.
 *
 * Server notes for static.c and client.c (server.c, message.c):
 * - A request `req` is an sl__http_msg_t (below); sl_http_header(),
 *   sl_http_header_at() work on any sl__http_msg_t, so a client response
 *   built on it gets them for free: create it with sl__stream_new(
 *   SL__KIND_READABLE, &o, sizeof(your_struct)) where your struct starts
 *   with sl__http_msg_t, hooks.read = sl__http_msg_read, and set m->on_read
 *   (called from the read hook: resume your parser). Fill m->hdrs while
 *   parsing with sl__http_hdrs_field()/_value() and call sl__http_hdrs_end()
 *   at headers complete.
 * - The response `res` is a Writable. Status and headers go out with the
 *   first write or at end. Framing: Content-Length if set with
 *   sl_http_set_header(res, "Content-Length", "N") before the first write
 *   (or computed at end when the whole body was given at once and nothing
 *   written before), else chunked (HTTP/1.1) or close-delimited (1.0). HEAD,
 *   1xx, 204 and 304: headers only, writes are accepted and dropped.
 * - Zero-copy: `res` exposes the socket as its zero-copy sink (hooks.zc)
 *   when the body is length-delimited, i.e. Content-Length was set before
 *   the pipe starts, and the request is not HEAD. So
 *     sl_http_set_header(res, "Content-Length", len);
 *     sl_stream_pipe(sl_file_reader(path, &range), res, NULL);
 *   moves the bytes with sendfile(2): dst_fd answers SL_EAGAIN, the head
 *   leaves from the connection's next tick (so status and headers set right
 *   after the pipe call still count) and once it is written (and earlier
 *   pipelined responses are done) dst_fd returns the socket. With a transform in
 *   between (gzip) or no Content-Length the body goes as chunks (chunked).
 *   zero_copy_bytes of `res` counts what moved (sl_stream_stats).
 * - The response finishes when its last byte is handed to the socket; the
 *   connection then serves the next pipelined request. A response destroyed
 *   before finishing closes the connection. */
#ifndef SL_HTTP_INT_H
#define SL_HTTP_INT_H

#include "stream/stream_int.h"

/* Maps a file name's extension to a Content-Type ("application/octet-stream"
 * when unknown); *compressible is set for text-like types. mime.c. */
const char* sl__mime_type(const char* path, int* compressible);

/* --- HTTP helpers (util.c) ---------------------------------------------- */

/* The reason phrase of `status` ("Not Found"), or "Unknown". Static. */
const char* sl__http_reason(int status);
/* Writes v in base 10 or 16 (lowercase digits) at p, with no NUL;
 * returns the end. Up to 20 bytes. */
char* sl__http_put_u64(char* p, uint64_t v, unsigned base);
/* Range header against a file of `size` bytes: SL__RANGE_NONE (absent,
 * not bytes, malformed or several ranges: send it all), SL__RANGE_OK with
 * [*start, *end) (end exclusive, clamped to size), or SL__RANGE_UNSAT. */
enum { SL__RANGE_NONE = 0, SL__RANGE_OK = 1, SL__RANGE_UNSAT = 2 };
int sl__http_parse_range(const char* h, uint64_t size, uint64_t* start,
                         uint64_t* end);
/* Weak ETag W/"<size hex>-<mtime ns hex>" into buf (>= 48 bytes). */
void sl__http_etag(uint64_t size, int64_t mtime_ns, char* buf, size_t cap);
/* If-None-Match list against `etag`, weak comparison, "*" matches. */
int sl__http_etag_match(const char* list, const char* etag);
/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into out (>= 30 bytes). */
void sl__http_date(int64_t t, char* out);
/* Parses the three HTTP date formats; 0 and *t, or SL_EINVAL. */
int sl__http_parse_date(const char* s, int64_t* t);
/* Whether Accept-Encoding allows gzip (q-values honoured, "*" counts). */
int sl__http_accepts_gzip(const char* accept_encoding);
/* The current time as IMF-fixdate (a static buffer, formatted anew once
 * a second) and its length in *len: the value of every Date header. */
const char* sl__http_date_now(size_t* len);

/* --- URLs (url.c) -------------------------------------------------------- */

/* An absolute http:// URL, split for a request. */
typedef struct {
  char host[256];
  int port;
  char authority[300];
  const char* path; /* inside the url: "/p?q", or "" or "?q" */
  size_t path_len;
} sl__http_url_t;
/* Parses http:// or ws://host[:port][/path][?query][#fragment] (user info is
 * dropped, an IPv6 host is bracketed, the port defaults to 80) into *u;
 * u->path points into `url` and stops before any fragment. Returns 0, or
 * SL_EINVAL for another scheme, an empty or too long host, or a bad
 * port. */
int sl__http_parse_url(const char* url, sl__http_url_t* u);

/* --- Static files (static.c): the pure parts, tested directly ----------- */

/* Longest request path (before decoding) the static server accepts: 414. */
#define SL__STATIC_MAX_PATH 4096
/* Turns a request target into a path relative to the root ("" for the root,
 * "a/b.txt"): query and fragment dropped, percent-decoded once, "." and
 * empty segments dropped. Returns 0 (and *dir: the target ended in '/'), or
 * the HTTP status to answer: 400 for a bad escape, NUL or a target that is
 * not a path, 403 for a ".." segment or an encoded '/' (%2F), 414 past
 * SL__STATIC_MAX_PATH or `cap`. */
int sl__static_resolve(const char* target, char* out, size_t cap, int* dir);
/* Whether a request for a file with `etag` and `mtime` (seconds) gets
 * 412: If-Match decides when present (weakly compared, as Node's `send`
 * does: our ETags are weak), else If-Unmodified-Since. */
int sl__static_precondition_failed(const char* if_match,
                                   const char* if_unmodified_since,
                                   const char* etag, int64_t mtime);
/* Whether a GET for a file with `etag` and `mtime` (seconds) gets 304:
 * If-None-Match decides when present, else If-Modified-Since. */
int sl__static_not_modified(const char* if_none_match,
                            const char* if_modified_since, const char* etag,
                            int64_t mtime);

/* --- Messages and header fields (message.c) ------------------------- */

/* Header fields of one message in one arena: "name\0value\0" pairs. Built
 * piece by piece from a parser's spans; lookups valid after _end(). */
typedef struct sl__http_hdrs_s {
  sl_buf_t b;    /* the arena (NULs inside count in b.len) */
  uint32_t* off; /* 2 per field: name offset, value offset */
  size_t n, cap_off;
  int state;     /* 0 none yet, 1 in a name, 2 in a value */
  char** joined; /* strings made by sl__http_hdrs_get for repeats */
  size_t njoined;
  int packed; /* a packed copy: off and b.data in the owner's memory */
} sl__http_hdrs_t;

/* Append a span of the current name / value (a new field starts when a
 * name span follows a value). Return 0 or SL_ENOMEM. */
int sl__http_hdrs_field(sl__http_hdrs_t* h, const char* at, size_t n);
int sl__http_hdrs_value(sl__http_hdrs_t* h, const char* at, size_t n);
/* Terminates the last value and trims trailing blanks of every value.
 * Returns 0 or SL_ENOMEM. */
int sl__http_hdrs_end(sl__http_hdrs_t* h);
void sl__http_hdrs_free(sl__http_hdrs_t* h);
/* Empties an arena for the next message and keeps its storage. */
void sl__http_hdrs_reset(sl__http_hdrs_t* h);
/* Copies the finished arena `src` into `dst` (overwritten), its storage
 * in `mem`: sl__http_hdrs_packed_size(src) bytes, 4-aligned, that the
 * caller owns and frees after sl__http_hdrs_free(dst). Returns the end of
 * what it used in `mem`. */
size_t sl__http_hdrs_packed_size(const sl__http_hdrs_t* src);
char* sl__http_hdrs_pack(sl__http_hdrs_t* dst, const sl__http_hdrs_t* src,
                         char* mem);
/* Case-insensitive lookup; repeated fields joined with ", ". NULL if
 * absent (or ENOMEM). */
const char* sl__http_hdrs_get(sl__http_hdrs_t* h, const char* name);
int sl__http_hdrs_at(const sl__http_hdrs_t* h, size_t i, const char** name,
                     const char** value);

/* Sets field `i`'s value to value[0..n) after _end(); the name is copied
 * along, so a name still ends just before its value. 0 or SL_ENOMEM. */
int sl__http_hdrs_set(sl__http_hdrs_t* h, size_t i, const char* value,
                      size_t n);

/* Header-line rules llhttp 8.1 leaves to its user, shared by the server's
 * and the client's parser (RFC 9112 5.1, 5.2): no empty field name, and no
 * obs-fold, i.e. no header line that starts with SP or HTAB, also when the
 * folded field's first line is empty and wherever reads split the head.
 * llhttp reports only spans, so the bytes between spans (the gaps: ": ",
 * CRLF, fold lines) are checked here. Trailers too: a name after the head
 * starts their section, and end() at message complete closes it. Zeroed is
 * ready. */
typedef struct {
  const char* gap; /* first byte after the last span, in this buffer */
  const char* end; /* end of the buffer being parsed */
  size_t name_len; /* of the field being parsed */
  unsigned lf : 1, /* the last gap byte seen (maybe a read ago) was LF */
      started : 1, /* a span of this head was seen: gap is meaningful */
      active : 1;  /* in the head, or in the trailers */
} sl__http_lines_t;

/* on_message_begin. */
void sl__http_lines_begin(sl__http_lines_t* l);
/* Before each llhttp_execute over base[0..len). */
void sl__http_lines_exec(sl__http_lines_t* l, const char* base, size_t len);
/* After it returned: the gap up to the buffer's end is checked now. Returns
 * 0, or -1 for a folded line (the caller rejects the message). */
int sl__http_lines_flush(sl__http_lines_t* l);
/* The url (requests), name and value spans; value_done is
 * on_header_value_complete; end is on_headers_complete (checks the gap up
 * to the blank line). Each returns 0 or -1 (reject: a folded line or an
 * empty field name); call end at message complete too (trailers). */
int sl__http_lines_url(sl__http_lines_t* l, const char* at, size_t n);
int sl__http_lines_name(sl__http_lines_t* l, const char* at, size_t n);
int sl__http_lines_value(sl__http_lines_t* l, const char* at, size_t n);
int sl__http_lines_value_done(sl__http_lines_t* l);
int sl__http_lines_end(sl__http_lines_t* l);

/* Several chunk extensions ("5;a=1;b=2", RFC 9112 7.1.1), for both parsers:
 * llhttp 8.1 eats the ';' that ends an unquoted value and then fails on the
 * next name. So such a value pauses the parser at its end (value_done
 * returns HPE_PAUSED and sets `resume`), and the owner calls give_back,
 * which hands llhttp the ';' again, before the rest of its input. A quoted
 * value keeps its ';', and so does a name without a value. Zeroed is
 * ready; set `end` to the end of each buffer given to llhttp. */
typedef struct {
  const char* end;
  unsigned open : 1, quoted : 1, semi : 1, resume : 1;
} sl__http_ext_t;

/* on_chunk_extension_value: returns 0. */
int sl__http_ext_value(sl__http_ext_t* x, const char* at, size_t n);
/* on_chunk_extension_value_complete: returns 0 or HPE_PAUSED. */
int sl__http_ext_value_done(sl__http_ext_t* x);
/* After llhttp_execute returned HPE_PAUSED with x->resume set: resumes
 * `parser` (an llhttp_t*) on the ';'. Returns llhttp's status (HPE_OK). */
int sl__http_ext_give_back(sl__http_ext_t* x, void* parser);

/* The common head of every HTTP message stream (server requests, client
 * responses). Strings are NUL-terminated and live as long as the stream. */
typedef struct sl__http_msg_s {
  sl_stream_t s;
  void (*on_read)(struct sl__http_msg_s* m); /* from the read hook */
  sl__http_hdrs_t hdrs;
  char* method; /* requests */
  char* url;    /* requests: raw target */
  char* path;   /* requests: decoded path without the query */
  int status;   /* client responses */
  int version_minor;
  char remote[64];
} sl__http_msg_t;

/* The read hook of every message stream: calls m->on_read. */
void sl__http_msg_read(sl_stream_t* s, size_t n);
/* Whether `s` is an sl__http_msg_t (its read hook is sl__http_msg_read). */
int sl__http_is_msg(const sl_stream_t* s);
/* Frees what the message owns (call from the stream's destroy hook). */
void sl__http_msg_free(sl__http_msg_t* m);
/* Percent-decodes the path of a request target (no query, no fragment;
 * "http://host/p" gives "/p"; %00 stays encoded). malloc'd, NULL on ENOMEM. */
char* sl__http_decode_path(const char* url);
/* The same into `out`, which has room for strlen(url) + 2 bytes. */
void sl__http_decode_path_into(const char* url, char* out);

/* The access log (access_log.c): one object per destination (NULL:
 * stderr; a path: that file, O_APPEND), shared by the servers that name it.
 * printf adds one line (ending in '\n', at most 2 KiB) or, when its queue
 * is full, drops and counts it in sl__access_log_dropped. */
typedef struct sl__alog_s sl__alog_t;
sl__alog_t* sl__access_log_open(const char* path);
void sl__access_log_close(sl__alog_t* l);
void sl__access_log_printf(sl__alog_t* l, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
extern uint64_t sl__access_log_dropped;

/* Trusted proxies (trust.c). */
typedef struct {
  uint8_t addr[16]; /* IPv4 mapped into ::ffff:0:0/96 */
  int bits;
} sl__cidr_t;
/* Parses "10.0.0.0/8, ::1" into v (at most max); 0, SL_EINVAL, SL_E2BIG. */
int sl__trust_parse(const char* spec, sl__cidr_t* v, size_t max, size_t* n);
/* The client's address: `peer` (an address without port), or, when peer
 * is trusted, the right-most untrusted address of X-Forwarded-For. */
void sl__trust_client(const sl__cidr_t* v, size_t n, const char* peer,
                      const char* xff, char* out, size_t cap);

/* What one fuzz feed did: handler calls, bytes the connection wrote (the
 * first sizeof out of them kept), non-empty reads fed, and the status of
 * each response found in the kept output ("200 400"). */
typedef struct {
  int requests;
  int pieces;
  size_t out_bytes;
  size_t out_kept;
  char out[4096];
  char statuses[64];
} sl__http_fuzz_result_t;

/* Fuzzing entry (fuzz/http_request.c): runs `data` through a server
 * connection without a socket (parser, smuggling checks, limits, a trivial
 * handler), split in two reads where the first byte says, and runs the loop
 * until it is idle again. Returns 0. */
int sl__http_fuzz_feed(const uint8_t* data, size_t len);
/* The same with the split at `cut` (0 or len: one read); fills `r` when it
 * is not NULL. Returns 0. */
int sl__http_fuzz_feed_split(const uint8_t* data, size_t len, size_t cut,
                             sl__http_fuzz_result_t* r);

#endif
