/* Internal contract of the WebSocket layer (above http):
 *   proto.c      the pure parts: SHA-1 and base64 for the handshake keys,
 *                the incremental UTF-8 validator, frame headers, close codes
 *   ws.c         the Duplex stream over a socket: framing both ways,
 *                fragments, control frames, the close handshake, keep-alive
 *                pings, limits and the send cap
 *   deflate.c    permessage-deflate (RFC 7692): offer, answer, and the
 *                per-message (de)compression with bounded memory
 *   handshake.c  sl_ws_accept / sl_ws_listen (server) and sl_ws_connect
 * Everything here runs on the loop thread. */
#ifndef SL_WS_INT_H
#define SL_WS_INT_H

#include <zlib.h>

#include "http/http_int.h"
#include "stream/stream_int.h"

/* --- proto.c ------------------------------------------------------------- */

enum {
  SL__WS_OP_CONT = 0x0,
  SL__WS_OP_TEXT = 0x1,
  SL__WS_OP_BINARY = 0x2,
  SL__WS_OP_CLOSE = 0x8,
  SL__WS_OP_PING = 0x9,
  SL__WS_OP_PONG = 0xA
};

/* The Sec-WebSocket-Accept value for `key` (base64 of SHA-1 of the key and
 * the RFC's GUID), NUL-terminated, 28 characters. */
void sl__ws_accept_key(const char* key, size_t len, char out[29]);
/* base64 of `n` bytes into out (4 * ceil(n / 3) + 1 bytes). */
void sl__base64(const unsigned char* in, size_t n, char* out);
/* SHA-1 of `n` bytes. */
void sl__sha1(const void* data, size_t n, unsigned char out[20]);

/* An incremental UTF-8 validator (RFC 3629: no overlongs, no surrogates,
 * nothing past U+10FFFF): feed it pieces; 0 while valid so far, -1 at the
 * first bad byte (fail fast: the rest is not looked at). `state` 0 means
 * "between characters", which is what a complete message must end in. */
typedef struct {
  unsigned need;        /* continuation bytes still due */
  unsigned char lo, hi; /* the range the next continuation byte must be in */
} sl__utf8_t;
int sl__utf8_feed(sl__utf8_t* u, const unsigned char* p, size_t n);
static inline int sl__utf8_complete(const sl__utf8_t* u) {
  return u->need == 0;
}

/* Writes a frame header (2 to 14 bytes) into out; returns its length.
 * `mask` NULL: unmasked. */
size_t sl__ws_frame_header(unsigned char out[14], int fin, int rsv1, int op,
                           uint64_t len, const unsigned char* mask);
/* XORs `n` bytes with the 4-byte mask, starting at mask offset `off`. */
void sl__ws_mask(unsigned char* p, size_t n, const unsigned char mask[4],
                 size_t off);
/* 1 when `code` may be sent in a close frame (RFC 6455 7.4.1: 1000-1003,
 * 1007-1014, 3000-4999). */
int sl__ws_close_code_ok(int code);

/* --- deflate.c ----------------------------------------------------------- */

/* Negotiated permessage-deflate parameters. */
typedef struct {
  int on;
  int server_no_context_takeover, client_no_context_takeover;
  int server_max_window_bits, client_max_window_bits; /* 8..15 */
} sl__ws_pmd_t;

/* The offer a client sends ("permessage-deflate; ..."). */
const char* sl__ws_pmd_offer(const sl_ws_opts_t* o);
/* Server: reads the client's Sec-WebSocket-Extensions (may be NULL) and,
 * when it offers permessage-deflate acceptably, fills *p and writes the
 * answer into `answer`. Returns 1 accepted, 0 not offered (or not wanted),
 * -1 a malformed offer (400). */
int sl__ws_pmd_accept(const sl_ws_opts_t* o, const char* header,
                      sl__ws_pmd_t* p, char* answer, size_t cap);
/* Client: checks the server's answer against the offer; 0 or -1. */
int sl__ws_pmd_check(const sl_ws_opts_t* o, const char* header,
                     sl__ws_pmd_t* p);

/* One direction's compressor or decompressor. Memory is allocated on the
 * first message and freed after each message when its side does not keep
 * context, so an idle connection without takeover holds none. */
typedef struct {
  z_stream z;
  int ready, inflater;
  int keep; /* context takeover */
  int bits;
} sl__ws_zctx_t;
/* Compresses one message (or one fragment; `fin` the last) into *out (raw
 * deflate, with the 00 00 ff ff tail removed at the end of the message).
 * Returns 0 or SL_ENOMEM. */
int sl__ws_deflate(sl__ws_zctx_t* z, const void* in, size_t n, int fin,
                   sl_buf_t* out);
/* Inflates one frame's payload of a compressed message, appending to *out
 * and failing with SL_EMSGSIZE once *out would pass `max`; `fin` adds the
 * tail the sender removed. Returns 0, SL_EMSGSIZE, SL_EZDATA or SL_ENOMEM. */
int sl__ws_inflate(sl__ws_zctx_t* z, const void* in, size_t n, int fin,
                   size_t max, sl_buf_t* out);
void sl__ws_zfree(sl__ws_zctx_t* z);

/* --- ws.c ---------------------------------------------------------------- */

/* Makes the WebSocket stream over `sock` (taking a reference; the socket
 * may be paused) after a successful handshake, and feeds it `head`. `req`
 * (server side, may be NULL) is kept, with a reference, only when
 * o->keep_request is set (sl_ws_request). Client streams are
 * made before the handshake with sl__ws_new_pending and opened with
 * sl__ws_open. NULL on ENOMEM (the socket is destroyed then). */
sl_stream_t* sl__ws_new(sl_stream_t* sock, int client, const sl_ws_opts_t* o,
                        const char* protocol, const sl__ws_pmd_t* pmd,
                        const char* extensions, sl_stream_t* req,
                        sl_chunk_t* head);

/* Server: lets go of the upgrade request (sl_ws_request is NULL after). */
void sl__ws_drop_request(sl_stream_t* ws);
/* Client: a stream with no socket yet; writes wait. */
sl_stream_t* sl__ws_new_pending(const sl_ws_opts_t* o, const char* name);
/* Client: the handshake succeeded on `sock`; emits SL_EV_CONNECT. */
int sl__ws_open(sl_stream_t* ws, sl_stream_t* sock, const char* protocol,
                const sl__ws_pmd_t* pmd, const char* extensions,
                sl_chunk_t* head);
/* Client: the handshake failed; fails the stream with err and message. */
void sl__ws_fail_handshake(sl_stream_t* ws, int err, const char* msg);
/* gone(owner) runs once, when the stream is destroyed (before its close
 * event), unless the owner is replaced first: a client's handshake state
 * (cancelled and freed then; sl__ws_open and sl__ws_fail_handshake let go
 * of it), or the server that counts its connections. One slot per stream,
 * so that neither costs a listener record. */
void sl__ws_set_owner(sl_stream_t* ws, void* owner, void (*gone)(void*));

/* Fuzzing (fuzz/ws_frames.c, test/ws/fuzz.c): feeds `data` to a WebSocket
 * over a socket-less duplex whose writes are dropped; data[0] picks the
 * role (bit 0: client), permessage-deflate (bit 1; bit 2: no context
 * takeover), fragments (bit 3), a 200-byte max_frame (bit 4) and a tiny
 * mark (bit 5); data[1] where the input is split in two reads. Echoes each
 * message (the send path runs too). Returns the messages delivered. */
int sl__ws_fuzz_feed(const uint8_t* data, size_t len);

#define SL__WS_DEFAULT_MAX_MESSAGE (16u << 20)
#define SL__WS_DEFAULT_HWM         (64u * 1024)
#define SL__WS_DEFAULT_SEND_CAP    (16u << 20)
#define SL__WS_DEFAULT_CLOSE_MS    5000

#endif
