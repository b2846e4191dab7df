/* sluice/http.h: HTTP/1.1 server and client, streams on both sides, and static files.
 * Included by <sluice.h>; programs include that. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* HTTP/1.1 (llhttp underneath)                                              */
/*                                                                           */
/* A request is a Readable stream (its body) with accessors for the request  */
/* line and headers; a response is a Writable stream (its body) with setters */
/* for status and headers, sent with the first write or end. Both are        */
/* ordinary sl_stream_t, so pipe and pipeline work on them:                  */
/*   sl_stream_pipe(sl_file_reader("video.mp4", NULL), res, NULL);           */

typedef struct sl_http_server_s sl_http_server_t;

/* Called for each request, from the loop, once its head is parsed. `req`
 * and `res` are owned by the library like any stream; the handler may answer
 * now or later. Responses leave in request order (pipelining): a later
 * response's writes wait until the earlier ones finished. The handler's
 * first read of `req` sends "100 Continue" to a client that asked for it. A
 * body nobody reads is discarded once the response has finished (Node's
 * dump). Destroying `res` before it finished closes the connection. */
typedef void (*sl_http_handler)(sl_stream_t* req, sl_stream_t* res, void* arg);

/* Node's 'upgrade' event: a request that asks to switch protocols (Upgrade
 * with Connection: upgrade; not CONNECT) goes here instead of the handler,
 * when it is the first in line on its connection (one behind pipelined
 * requests goes to the handler, which may answer it). `req` is the request,
 * destroyed after the call unless the callee took a reference
 * (sl_stream_ref), which makes destroying it the callee's job. `sock` the
 * connection's socket, paused, which the callee now owns (the server
 * neither reads, writes nor counts it any more): it writes the 101 and
 * speaks the new protocol, or answers and ends it. `head` (may be NULL) is
 * what the client sent after the request, borrowed. Runs from the loop. */
typedef void (*sl_http_upgrade_cb)(sl_stream_t* req, sl_stream_t* sock,
                                   sl_chunk_t* head, void* arg);

typedef struct sl_http_server_opts_s {
  const char* host;               /* NULL: "127.0.0.1" */
  int port;                       /* 0: any free port (sl_http_server_port) */
  int backlog;                    /* 0: 511 */
  int reuseport;                  /* SO_REUSEPORT before bind */
  int exclusive;                  /* in a cluster worker: a listener of this
                                    worker alone, not the cluster's */
  size_t max_header_size;         /* request line + headers; 0: 16 KiB -> 431 */
  uint64_t max_body_size;         /* 0: no limit; past it 413 */
  uint64_t headers_timeout_ms;    /* to receive the headers; 0: 10000 -> 408 */
  uint64_t keep_alive_timeout_ms; /* idle keep-alive; 0: 5000 */
  uint64_t body_timeout_ms;       /* no request body byte for this long while
                                    one is due (and the handler reads): 408
                                    and close; 0: 60000 (nginx's
                                    client_body_timeout); UINT64_MAX: none */
  uint64_t send_timeout_ms;       /* a response the client does not read:
                                    no byte taken for this long while some
                                    wait: close; 0: 60000 (nginx's
                                    send_timeout); UINT64_MAX: none */
  size_t max_connections;         /* 0: 10000; at the limit the server stops
                                    accepting (more wait in the backlog)
                                    until one closes */
  size_t max_pipelined;           /* requests in flight per connection (parsed
                                    and not yet answered); past it the socket
                                    is not read; 0: 16 */
  size_t high_water_mark;         /* body streams; 0: 64 KiB. The parser and
                                    the socket pause while a request body is
                                    above it */
  int access_log;                 /* 1: one line per request, written
                                    without blocking the loop (a reader that
                                    falls 256 KiB behind loses lines, which
                                    are counted and the count logged) */
  int access_log_format;          /* SL_ACCESS_LOG_SLUICE (0): 127.0.0.1:5000
                                    "GET /p HTTP/1.1" 200 12 0.153ms (status,
                                    body bytes, time), "aborted: why" after
                                    a response the connection cut short;
                                    SL_ACCESS_LOG_COMBINED: Apache/nginx
                                    combined, which goaccess, awstats and
                                    fail2ban read; SL_ACCESS_LOG_JSON: one
                                    object per line (time, remote, method,
                                    url, version, status, bytes, ms, referer,
                                    user_agent, aborted; strings as
                                    JSON.stringify writes them, UTF-8
                                    kept, ill-formed bytes as U+FFFD) */
  const char* trusted_proxies;    /* NULL: none. Comma-separated addresses
                                    and CIDRs ("10.0.0.0/8, ::1", at most
                                    32) of proxies whose X-Forwarded-For
                                    names the client: the log shows the
                                    right-most address no trusted proxy
                                    vouches past (nginx's real_ip with
                                    real_ip_recursive). A bad list makes
                                    sl_http_listen() return SL_EINVAL */
  const char* access_log_path;    /* NULL: stderr; else a file, opened
                                    O_APPEND|O_CREAT (0644) and opened afresh
                                    by sl_http_access_log_reopen() */
  int unmetered;                  /* 1: its requests and connections are
                                    left out of the load figures
                                    (sl_load_self, load reports): an admin
                                    or metrics server's own traffic */
  sl_http_upgrade_cb on_upgrade;  /* NULL: an upgrade request goes to the
                                    handler, and the connection closes
                                    after its answer. Gets the handler's
                                    `arg` */
} sl_http_server_opts_t;
enum {
  SL_ACCESS_LOG_SLUICE = 0,
  SL_ACCESS_LOG_COMBINED = 1,
  SL_ACCESS_LOG_JSON = 2
};

/* Ends every access log file (what is queued is written first) and opens
 * its path again: after logrotate renamed it, the new lines go to a new
 * file. Call it from a SIGUSR1 handler (sl_signal_on), as nginx does.
 * stderr is left alone. Returns 0, or SL_ENOMEM (that log then drops its
 * lines until the next reopen). */
SL_EXTERN int sl_http_access_log_reopen(void);

/* Listens and serves. `o` may be NULL (127.0.0.1, any port); host is a
 * numeric IPv4/IPv6 address or "localhost". Returns 0 and the server in *out,
 * or a negative code (SL_EADDRINUSE, SL_EINVAL ...) with *out NULL.
 * `handler` runs from the loop for each request. A request the parser or
 * the checks reject (malformed, request smuggling: bare CR/LF in a value,
 * obs-fold, Content-Length with Transfer-Encoding, a last coding other than
 * chunked, conflicting Content-Length; RFC 9112: a header name that is empty
 * or not a token, whitespace or control bytes in the target, an HTTP/1.1
 * request without exactly one Host, a Host that is not host[:port]) gets
 * 400, a major version other than 1 gets 505, and the limits 431, 413 and
 * 408, each with Connection: close, after the responses before it. With an
 * absolute-form target ("GET http://a:1/p") the Host the handler reads is
 * the target's authority ("a:1"), as RFC 9112 3.2.2 says. */
SL_EXTERN int sl_http_listen(const sl_http_server_opts_t* o,
                             sl_http_handler handler, void* arg,
                             sl_http_server_t** out);
SL_EXTERN int sl_http_server_port(const sl_http_server_t* srv);
/* Graceful close: stops accepting (connections already waiting in the
 * listener's accept queue are taken and served, not reset), closes idle
 * keep-alive connections at once, answers in-flight requests with
 * Connection: close, lets them finish, then calls cb (may be NULL) from the
 * loop and frees the server. In a cluster worker the primary stops sending
 * it connections first. */
SL_EXTERN void sl_http_server_close(sl_http_server_t* srv, sl_close_cb cb,
                                    void* arg);

/* Request accessors (server side `req`). Strings live as long as `req`. */
SL_EXTERN const char* sl_http_method(const sl_stream_t* req);
SL_EXTERN const char* sl_http_url(const sl_stream_t* req); /* raw target */
/* Percent-decoded path without the query ("%00" stays encoded). */
SL_EXTERN const char* sl_http_path(const sl_stream_t* req);
SL_EXTERN int sl_http_version_minor(const sl_stream_t* req); /* 0 or 1 */
/* The first value of query parameter `name` (URLSearchParams.get): both
 * key and value form-decoded ('+' is a space, %XX a byte), "" for "?a" or
 * "?a=". NULL when absent (or ENOMEM). The string lives as long as `req`. */
SL_EXTERN const char* sl_http_query(const sl_stream_t* req, const char* name);
/* 1 when `req` has this method (NULL: any) and its decoded path equals
 * `pattern` (NULL: any); a pattern ending in '*' matches every path with
 * that prefix ("/api/..."). 0 otherwise. */
SL_EXTERN int sl_http_is(const sl_stream_t* req, const char* method,
                         const char* pattern);
/* The value of header `name` (case-insensitive), or NULL. Repeated headers
 * are joined with ", " as in Node. Works on requests and client responses. */
SL_EXTERN const char* sl_http_header(const sl_stream_t* msg, const char* name);
/* The i-th header (raw order); returns 0 or SL_ENOENT past the end. */
SL_EXTERN int sl_http_header_at(const sl_stream_t* msg, size_t i,
                                const char** name, const char** value);
SL_EXTERN const char* sl_http_remote(const sl_stream_t* req); /* "ip:port" */

/* Response (server side `res`). Status and headers leave with the first
 * write or at end. The body is framed by the Content-Length set here, or,
 * when the whole body is the chunk given to end() with nothing written
 * before, by its length (as Node does); otherwise chunked, or for an
 * HTTP/1.0 client delimited by closing the connection. HEAD, 1xx, 204 and
 * 304 send no body (writes are accepted and dropped). Date and Connection
 * are added unless set. With Content-Length set and nothing in between,
 * sl_stream_pipe(file_reader, res) sends the file with sendfile(2).
 * Until the head is sent; returns 0, SL_EINVAL (not 100..999) or SL_EBUSY. */
SL_EXTERN int sl_http_set_status(sl_stream_t* res, int status);
/* Sets (replaces) a header; Content-Length set here disables chunking.
 * Returns 0, SL_EINVAL for CR/LF in name or value, SL_EBUSY after the
 * head was sent, or the response's error (SL_EDESTROYED if none) once it
 * was destroyed (a client that left). */
SL_EXTERN int sl_http_set_header(sl_stream_t* res, const char* name,
                                 const char* value);
SL_EXTERN int sl_http_add_header(sl_stream_t* res, const char* name,
                                 const char* value);
/* sl_http_set_header() with a printf-formatted value:
 * `sl_http_set_headerf(res, "Content-Length", "%" PRIu64, n)`. Returns as
 * sl_http_set_header(), or SL_ENOMEM. */
SL_EXTERN int sl_http_set_headerf(sl_stream_t* res, const char* name,
                                  const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Trailers, sent after a chunked body (dropped otherwise). Returns 0,
 * SL_EINVAL for CR/LF, SL_EBUSY once the body has ended. */
SL_EXTERN int sl_http_add_trailer(sl_stream_t* res, const char* name,
                                  const char* value);
SL_EXTERN int sl_http_headers_sent(const sl_stream_t* res);
/* Shorthand: status, Content-Type (may be NULL), Content-Length and the
 * whole body (copied), then end. Returns 0 or the first error (SL_EBUSY when
 * the head was sent, SL_EWRITEAFTEREND after end). */
SL_EXTERN int sl_http_respond(sl_stream_t* res, int status,
                              const char* content_type, const void* body,
                              size_t len);
/* sl_http_respond() with printf-formatted text as the body, sent as
 * "text/plain; charset=utf-8" (res.end(`Worker ${pid}...`)). Returns as
 * sl_http_respond(), or SL_ENOMEM. */
SL_EXTERN int sl_http_replyf(sl_stream_t* res, int status, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A request and its response held for a handler that answers later (a
 * timer, a child's completion, a pipeline's callback): both references are
 * taken (sl_stream_ref), so each stays allocated until sl_http_release(),
 * even when a client that went away destroys it meanwhile (writes then fail
 * with the stream's error). Either may be NULL. Returns the pair, owned by
 * the caller, or NULL on ENOMEM (no reference taken). */
typedef struct sl_http_exchange_s {
  sl_stream_t* req;
  sl_stream_t* res;
} sl_http_exchange_t;
SL_EXTERN sl_http_exchange_t* sl_http_hold(sl_stream_t* req, sl_stream_t* res);
/* Drops both references and frees `x`; NULL is a no-op. */
SL_EXTERN void sl_http_release(sl_http_exchange_t* x);

/* Client. The request is a Writable (its body: end it, even when empty);
 * the response arrives as a Readable with status and headers
 * (sl_http_status, sl_http_header, sl_http_header_at). Bodies: fixed-length,
 * chunked or delimited by the server's close; HEAD, 1xx (skipped), 204 and
 * 304 have none. While the response body is above high_water_mark the
 * parser pauses and the socket stops reading (backpressure to the server). */
typedef struct sl_http_agent_s sl_http_agent_t;
typedef struct sl_http_request_opts_s {
  const char* method; /* NULL: "GET" */
  const char* url;    /* "http://host[:port]/path?query" (http only) */
  /* "Name: value" strings, NULL-terminated, sent as given (copied). Host is
   * added unless given, and Connection: keep-alive unless a Connection
   * header is given ("close" keeps the socket out of the pool). The body
   * is sent chunked unless Content-Length (or Transfer-Encoding) is given;
   * a request ended with no body sends no framing for GET, HEAD, DELETE,
   * OPTIONS, TRACE and CONNECT, and Content-Length: 0 for others. */
  const char* const* headers;
  sl_http_agent_t* agent; /* keep-alive pool; NULL: the default agent */
  /* 0: none. Otherwise no byte from the server for this long while the
   * request waits for it is SL_ETIMEDOUT (a body paused by its reader
   * does not count). */
  uint64_t timeout_ms;
  size_t high_water_mark; /* request and response bodies; 0: 64 KiB */
} sl_http_request_opts_t;
/* Runs once, from the loop: err 0 and the response (owned by the library
 * like any stream: listen, pipe or resume it), or an error and NULL. A
 * failure after the head arrived goes to the response stream instead
 * (SL_EV_ERROR, e.g. SL_ECONNRESET "response aborted" when the server closes
 * inside a body, SL_EPROTO for a malformed body). */
typedef void (*sl_http_response_cb)(int err, sl_stream_t* res, void* arg);
/* Starts a request: a socket from the agent's pool for host:port (an idle
 * keep-alive one, a new one below max_sockets, or the next one freed). The
 * head goes out with the first write or with end. Returns the request body
 * stream, owned by the library, or NULL (cb never runs) for ENOMEM, a URL
 * that is not http://host[:port][/...], a method that is not a token, or a
 * header line without ':' or with CR/LF. Errors before the response (an
 * unreachable server, a malformed response, a hang-up, the timeout) reach
 * cb and fail the request stream with a message naming the peer:
 * "ECONNREFUSED: connection refused, connect 127.0.0.1:9",
 * "EPROTO: protocol error, HPE_INVALID_CONSTANT: Expected HTTP/, response
 * from 127.0.0.1:8080", "ECONNRESET: connection reset by peer, socket hang
 * up, 127.0.0.1:8080". The request stream finishes once the whole request
 * is written to the socket and closes once the response has been
 * delivered; destroying it earlier aborts the exchange (cb gets the error,
 * or SL_ECANCELED). A request that finds its reused keep-alive socket
 * closed by the server before any answer is sent again once on a new
 * socket when no body byte had gone out. */
SL_EXTERN sl_stream_t* sl_http_request(const sl_http_request_opts_t* o,
                                       sl_http_response_cb cb, void* arg);
/* Status code of a client response (SL_ASSERTs that `res` is an HTTP
 * message stream). */
SL_EXTERN int sl_http_status(const sl_stream_t* res);
/* A keep-alive agent: at most max_sockets per host:port (0: 8); more
 * requests wait for a socket, in order. The default agent allows 256.
 * A socket goes back to its pool when its response has been parsed to the
 * end (unless either side said Connection: close); idle sockets close after
 * 4 s, when the server closes them, and whenever nothing but idle sockets
 * would keep the loop running, so sl_run() returns once the program's own
 * work is done and sl_loop_close() finds nothing open. NULL on ENOMEM. */
SL_EXTERN sl_http_agent_t* sl_http_agent_new(size_t max_sockets);
/* Closes the agent's idle sockets now and the others when their exchange
 * ends, then frees it (NULL is ignored). Requests already started go on;
 * `a` must not be passed to sl_http_request afterwards. */
SL_EXTERN void sl_http_agent_close(sl_http_agent_t* a);

/* Static files. */
typedef struct sl_static_s sl_static_t;
typedef struct sl_static_opts_s {
  const char* root;  /* directory served */
  const char* index; /* NULL: "index.html" */
  int no_gzip;       /* 1: never compress on the fly */
  int no_listing;    /* 1: 404 instead of a directory listing */
  int dotfiles;      /* a path segment starting with '.' (.git,
                                .env; ".well-known" excepted):
                                SL_DOTFILES_IGNORE (0): 404, not listed;
                                SL_DOTFILES_DENY: 403, not listed;
                                SL_DOTFILES_ALLOW: served and listed */
} sl_static_opts_t;
enum { SL_DOTFILES_IGNORE = 0, SL_DOTFILES_DENY = 1, SL_DOTFILES_ALLOW = 2 };
/* Resolves o->root (realpath) once. Returns the server (free it with
 * sl_static_free, after the HTTP server using it closed), or NULL with *err
 * (may be NULL) set: SL_ENOENT / SL_ENOTDIR / SL_EACCES for the root. */
SL_EXTERN sl_static_t* sl_static_new(const sl_static_opts_t* o, int* err);
SL_EXTERN void sl_static_free(sl_static_t* st);
/* Answers req (GET or HEAD; others get 405 with Allow) with the file its
 * path names under the root: MIME type from the extension, one Range (206
 * with Content-Range; unsatisfiable: 416 whose Content-Range gives the
 * size; several ranges or a failed If-Range: the whole file, 200), weak
 * ETag and Last-Modified with If-Match / If-Unmodified-Since (412) and
 * If-None-Match / If-Modified-Since (304),
 * gzip when Accept-Encoding allows it and the type is compressible (never
 * for a Range request; chunked, which a HEAD says too; Vary:
 * Accept-Encoding on every answer about such a type), sendfile(2) when
 * nothing transforms the bytes. Dotfiles as o->dotfiles says. A directory gets a
 * 301 to its slash form, then its index file, else an HTML listing (404
 * with no_listing). The path is percent-decoded once: a NUL or a bad
 * escape is 400, a ".." segment or an encoded slash (%2F) 403, a path over
 * 4096 bytes 414; a file whose real location (symlinks resolved) is
 * outside the root is 403, and is never opened (located with O_PATH);
 * missing is 404. open/fstat run on the loop
 * thread; reads (when not sendfile) on the pool. Small regular files (up
 * to 32 KiB) stay open in a bounded open-file cache, as with nginx's
 * open_file_cache: for up to about 1 s after a file was opened, answers
 * use that descriptor and its stat, so a file changed, replaced or
 * deleted on disk may be answered as it was for that long; then it is
 * opened afresh. sl_static_free closes them. Returns 0 (the response
 * is under way or sent, errors included) or a negative code, in which case
 * no head was sent: SL_EBUSY (the head already went out), SL_ENOMEM. */
SL_EXTERN int sl_static_serve(sl_static_t* st, sl_stream_t* req,
                              sl_stream_t* res);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_HTTP_H */
