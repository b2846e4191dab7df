/* Stream internals shared by the generic state machine (stream.c), pipe and
 * pipeline (pipe.c), zero-copy (zerocopy.c) and the concrete streams. */
#ifndef SL_STREAM_INT_H
#define SL_STREAM_INT_H

#include "core/internal.h"

/* One queued item: a chunk, and for writes the completion to report. */
typedef struct {
  sl_chunk_t* chunk;
  sl_done_cb cb;
  void* arg;
  int err; /* completed writes: the result to report */
} sl__item_t;

/* A FIFO of items in a growable ring. */
typedef struct {
  sl__item_t* v;
  size_t cap, head, count;
} sl__ring_t;

int sl__ring_push(sl__ring_t* r, sl__item_t it);
int sl__ring_unshift(sl__ring_t* r, sl__item_t it);
sl__item_t* sl__ring_at(sl__ring_t* r, size_t i);
sl__item_t sl__ring_shift(sl__ring_t* r);
void sl__ring_free(sl__ring_t* r);

typedef struct sl__listener_s {
  struct sl__listener_s* next;
  sl_stream_cb cb;
  void* arg;
  uint8_t type;
  uint8_t once;
  uint8_t removed;
} sl__listener_t;

/* Zero-copy capabilities of a descriptor-backed stream (see zerocopy.c). */
typedef struct sl__zc_ops_s {
  /* Source: the descriptor to copy from, once it is open; returns the fd or
   * a negative code (SL_EAGAIN: not open yet). *pos is the offset for a
   * positioned source (-1: the descriptor's own position, e.g. a pipe);
   * *remaining the byte budget (UINT64_MAX: to EOF). */
  int (*src_fd)(sl_stream_t* s, int64_t* pos, uint64_t* remaining);
  /* Sink: the descriptor to copy to; *pos as above; *kind one of
   * SL__ZC_FILE, SL__ZC_SOCKET, SL__ZC_PIPE. */
  int (*dst_fd)(sl_stream_t* s, int64_t* pos, int* kind);
  /* Tells the stream that `n` bytes moved past it (advance its offset). */
  void (*advance)(sl_stream_t* s, uint64_t n);
} sl__zc_ops_t;

enum { SL__ZC_FILE = 1, SL__ZC_SOCKET = 2, SL__ZC_PIPE = 3 };

struct sl_stream_s {
  const sl_stream_hooks_t* hooks;
  void* data;
  char* name;
  unsigned refs;
  sl__tick_t tick;
  sl__listener_t* listeners;
  int emitting;          /* depth of emit(); compaction waits for 0 */
  int processing;

  unsigned readable : 1, writable : 1, is_transform : 1, auto_destroy : 1,
      end_on_end : 1;
  unsigned destroyed : 1, destroy_called : 1, destroy_done : 1,
      error_emitted : 1, close_emitted : 1;
  int err;
  char* errmsg;

  struct {
    sl__ring_t buf;
    size_t length, hwm;
    int8_t flowing;      /* -1: never chosen, 0: paused, 1: flowing */
    unsigned object_mode : 1, ended : 1, end_emitted : 1, reading : 1,
        want : 1, need_readable : 1, drained_by_read : 1, emit_pause : 1,
        emit_resume : 1, utf8 : 1, zc_active : 1;
    unsigned char carry[4];
    unsigned ncarry;
    int await_drain;     /* pipes waiting for their destination's drain */
    sl__queue_t pipes;   /* pipe_t.src_node */
  } r;

  struct {
    sl__ring_t queue;    /* queued and in-flight writes, oldest first */
    sl__ring_t completed;
    size_t length, hwm;
    size_t inflight;     /* items at the head of `queue` being written */
    unsigned object_mode : 1, writing : 1, ending : 1, final_called : 1,
        final_done : 1, finished : 1, need_drain : 1, held : 1;
    int held_err;
    int corked;
    sl_done_cb end_cb;
    void* end_arg;
  } w;

  sl_stream_stats_t stats;
};

/* Schedules the state machine to run from the loop. */
void sl__stream_schedule(sl_stream_t* s);
/* Emits an event to the listeners now (the caller is the state machine or a
 * piece of the library already running from the loop). */
void sl__stream_emit(sl_stream_t* s, const sl_event_t* ev);
/* Initializes a stream embedded in a larger object (concrete streams that
 * want one allocation); `kind` is one of the SL__KIND_* values. */
enum { SL__KIND_READABLE = 1, SL__KIND_WRITABLE = 2, SL__KIND_DUPLEX = 3,
       SL__KIND_TRANSFORM = 7 };
sl_stream_t* sl__stream_new(int kind, const sl_stream_opts_t* o, size_t size);

/* Zero-copy: called by pipe(); returns 1 if it took over moving the data
 * from src to dst, 0 if chunks must be used. */
int sl__zc_pipe(sl_stream_t* src, sl_stream_t* dst, const sl_pipe_opts_t* o);

#endif
