/* sluice/ws.h: WebSocket (RFC 6455, permessage-deflate RFC 7692), server and
 * client, as Duplex streams. Included by <sluice.h>; programs include that. */
#ifndef SLUICE_WS_H
#define SLUICE_WS_H

#include "http.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* WebSocket                                                                 */
/*                                                                           */
/* A WebSocket is a Duplex stream in message mode: each SL_EV_DATA chunk is  */
/* one whole message, and each chunk written is sent as one message. The     */
/* chunk's tag (sl_chunk_tag) says what it is: SL_WS_TEXT or SL_WS_BINARY.   */
/* Writing back a chunk that was read keeps its kind, so an echo is          */
/*   sl_stream_write(ws, ev->chunk, NULL, NULL);                             */
/* An untagged chunk is sent as binary (as text with opts.text). High-water  */
/* marks count bytes; write() returns 0 at the mark and SL_EV_DRAIN follows, */
/* as on any stream. Pings are answered by the library; sl_stream_end()      */
/* starts the close handshake (1000), sl_ws_close() with a code of yours.    */
/* A peer that breaks the protocol is sent the close code RFC 6455 names     */
/* (1002 framing, 1007 bad UTF-8, 1009 too big) and the stream fails with    */
/* SL_EPROTO / SL_EMSGSIZE and a message naming the rule; a connection that  */
/* drops without a close frame fails with SL_ECONNRESET (close code 1006).   */
/* Neither is reported when nobody listens for errors: peers leave.          */

/* Chunk tags of messages (sl_chunk_tag / sl_chunk_set_tag). SL_WS_MORE
 * marks a fragment that is not the last of its message: with
 * opts.fragments the reader gets each frame's payload as it arrives, and a
 * writer sends a message in pieces by tagging all but the last with it. */
enum { SL_WS_TEXT = 1, SL_WS_BINARY = 2, SL_WS_MORE = 4 };

/* What to do with a connection whose peer does not read: once the bytes
 * buffered for it (sl_ws_buffered_amount) pass send_cap, either close it
 * with 1008, or drop the oldest whole data messages not yet started until
 * it is back under the cap (sl_ws_dropped counts them). Control frames
 * (ping, pong, close) are never dropped. */
enum { SL_WS_CAP_CLOSE = 0, SL_WS_CAP_DROP = 1 };

typedef struct sl_ws_opts_s {
  /* Server: the subprotocols supported, in order of preference (the first
   * one the client also offers is chosen; none in common: the upgrade is
   * refused with 400 when the client offered some). Client: the ones
   * offered; the server must choose one of them. NULL-terminated. */
  const char* const* protocols;
  size_t max_message;            /* whole message, after inflating; 0: 16 MiB;
                                past it close 1009 */
  size_t max_frame;              /* one frame's payload; 0: max_message */
  size_t high_water_mark;        /* both sides, bytes; 0: 64 KiB */
  size_t send_cap;               /* 0: 16 MiB (see SL_WS_CAP_*) */
  int send_policy;               /* SL_WS_CAP_CLOSE (0) or SL_WS_CAP_DROP */
  uint64_t ping_interval_ms;     /* 0: no keep-alive pings. Otherwise a ping
                                goes out when nothing arrived for this long,
                                and a peer silent for pong_timeout_ms after
                                it is dropped (SL_ETIMEDOUT, 1006): proxies
                                such as nginx close idle WebSockets at 60 s */
  uint64_t pong_timeout_ms;      /* 0: ping_interval_ms */
  uint64_t close_timeout_ms;     /* the peer's close frame, or the end of TCP
                                after it; 0: 5000. Then the socket is cut */
  uint64_t handshake_timeout_ms; /* client: connect + 101; 0: 10000 */
  int text;                      /* untagged chunks are sent as text */
  int fragments;                 /* deliver fragments as they come */
  /* permessage-deflate (RFC 7692), off by default. Server: accept a
   * client's offer; client: offer it. no_context_takeover (both
   * directions) frees the compressor between messages: a connection then
   * costs no zlib memory while idle, about 300 KiB at most while a message
   * is (de)compressed; with context takeover each direction keeps ~256 KiB
   * (deflate) and ~44 KiB (inflate, 32 KiB window) for the connection's
   * life. Server: deflate_window_bits (9..15, 0: 15) caps the window it
   * compresses with (server_max_window_bits), which shrinks what a kept
   * deflate context costs; a client compresses with the window the
   * server's answer allows. */
  int deflate;
  int deflate_no_context_takeover;
  int deflate_window_bits;
  /* Client: extra request headers ("Name: value", NULL-terminated) and an
   * Origin; server (sl_ws_accept): extra headers on the 101. */
  const char* const* headers;
  const char* origin;
  /* Server: keep the upgrade request (about 1 KiB with its headers) for
   * the stream's life, for sl_ws_request(); without it the request is
   * readable only during sl_ws_listen's connection callback. */
  int keep_request;
} sl_ws_opts_t;

/* Server side, on an HTTP server whose opts.on_upgrade received (req, sock,
 * head): checks the upgrade request (GET, HTTP/1.1, Upgrade: websocket,
 * Connection: Upgrade, Sec-WebSocket-Version 13, a 16-byte
 * Sec-WebSocket-Key), chooses the subprotocol and extensions, sends the
 * 101 and returns the WebSocket stream, which owns `sock` from then on
 * (and keeps `req` with opts.keep_request). `head` (may be NULL) is what the
 * client sent after the request: the first frames. On a request that does
 * not qualify the answer is 400 (426 for another version, with
 * Sec-WebSocket-Version: 13), the socket is ended, and NULL is returned.
 * `o` may be NULL. The stream's events run from the loop. */
SL_EXTERN sl_stream_t* sl_ws_accept(sl_stream_t* req, sl_stream_t* sock,
                                    sl_chunk_t* head, const sl_ws_opts_t* o);
/* Refuses an upgrade the program does not want (auth, origin, a full
 * server): answers `status` with `body` as text/plain (may be NULL) and
 * ends `sock`. */
SL_EXTERN void sl_ws_refuse(sl_stream_t* sock, int status, const char* body);

/* A WebSocket server: an HTTP server whose upgrade requests to any path
 * become WebSockets (cb(ws, arg) runs from the loop for each, after the
 * 101), and whose plain requests get `http` (may be NULL: 426 Upgrade
 * Required). `verify` (may be NULL) runs first with the request and
 * returns 0 to accept it or the HTTP status to refuse it with. Past
 * max_connections open WebSockets (0: 10000) upgrades are refused with
 * 503. Returns as sl_http_listen(). */
typedef void (*sl_ws_cb)(sl_stream_t* ws, void* arg);
typedef struct sl_ws_server_opts_s {
  sl_http_server_opts_t http; /* host, port, cluster sharing ...; its
                                 on_upgrade is the WebSocket server's */
  sl_ws_opts_t ws;
  size_t max_connections;
  int (*verify)(sl_stream_t* req, void* arg);
  sl_http_handler http_handler;
} sl_ws_server_opts_t;
SL_EXTERN int sl_ws_listen(const sl_ws_server_opts_t* o, sl_ws_cb cb, void* arg,
                           sl_http_server_t** out);

/* Client: connects to ws://host[:port]/path (http:// is taken too; wss://
 * needs TLS, which sluice does not have: NULL). Returns the stream at once
 * (NULL for a bad URL or ENOMEM); SL_EV_CONNECT follows the 101, or an
 * error: "WebSocket handshake: unexpected status 403 ...". Writes made
 * before that wait. `o` may be NULL. */
SL_EXTERN sl_stream_t* sl_ws_connect(const char* url, const sl_ws_opts_t* o);

/* Starts the close handshake with `code` (1000, 3000-4999 ...) and
 * `reason` (UTF-8, at most 123 bytes; may be NULL) after the messages
 * already written; the stream ends when the peer answers, or is cut after
 * close_timeout_ms. Returns 0, or SL_EINVAL for a code or reason RFC 6455
 * forbids. */
SL_EXTERN int sl_ws_close(sl_stream_t* ws, int code, const char* reason);
/* Sends a ping with up to 125 bytes of payload (the peer answers with a
 * pong, counted by sl_ws_pongs). Returns 0, SL_EINVAL (too long), or
 * SL_EDESTROYED / SL_EWRITEAFTEREND once closing. */
SL_EXTERN int sl_ws_ping(sl_stream_t* ws, const void* data, size_t len);
/* The peer's close code (1005 when its close frame had none, 1006 when
 * there was no close frame) and reason, once known; 0 and "" before. */
SL_EXTERN int sl_ws_close_code(const sl_stream_t* ws);
SL_EXTERN const char* sl_ws_close_reason(const sl_stream_t* ws);
/* The subprotocol chosen ("" for none) and the extensions in use
 * ("permessage-deflate; ..." or ""). Valid as long as the stream. */
SL_EXTERN const char* sl_ws_protocol(const sl_stream_t* ws);
SL_EXTERN const char* sl_ws_extensions(const sl_stream_t* ws);
/* Server side: the upgrade request (path, query, headers): during
 * sl_ws_listen's connection callback, and for the stream's life with
 * opts.keep_request; NULL otherwise and on a client. */
SL_EXTERN sl_stream_t* sl_ws_request(const sl_stream_t* ws);
/* Bytes written and not yet handed to the kernel: the stream's writable
 * length plus the socket's (the browser's bufferedAmount). */
SL_EXTERN size_t sl_ws_buffered_amount(const sl_stream_t* ws);
/* Messages dropped by SL_WS_CAP_DROP. */
SL_EXTERN uint64_t sl_ws_dropped(const sl_stream_t* ws);
/* Pongs received (answers to sl_ws_ping and to keep-alive pings). */
SL_EXTERN uint64_t sl_ws_pongs(const sl_stream_t* ws);
/* 1 when `s` is a WebSocket stream. */
SL_EXTERN int sl_is_ws(const sl_stream_t* s);

/* A text message: a chunk tagged SL_WS_TEXT holding the printf-formatted
 * text (the caller owns the reference). NULL on ENOMEM. */
SL_EXTERN sl_chunk_t* sl_ws_text(const char* fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Writes the printf-formatted text as one text message: as
 * sl_stream_write(). */
SL_EXTERN int sl_ws_sendf(sl_stream_t* ws, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 1 when `c` is (part of) a text message. */
SL_EXTERN int sl_ws_is_text(const sl_chunk_t* c);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_WS_H */
