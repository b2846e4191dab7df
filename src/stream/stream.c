/* The stream state machine: Readable, Writable, Duplex and Transform in one
 * object. Every public call only changes state and schedules the stream; one
 * function, process(), runs from the loop, looks at the state and does what is
 * due, in a fixed order: finished writes report, the next write starts, drain,
 * finish, then the readable side delivers data or readable, calls the read
 * hook, and emits end; destroy overrides everything and ends with exactly one
 * close. Because every event leaves from process(), no callback runs inside
 * the call that caused it, and the order Node promises is the order of this
 * function. See docs/design.md, "The stream state machine". */
#include "stream/stream_int.h"

#include <limits.h>
#include <sys/uio.h>

#define SL__DEFAULT_HWM     (16 * 1024)
#define SL__DEFAULT_OBJECTS 16

/* --- ring ---------------------------------------------------------------- */

/* cap is a power of two, so a position wraps with a mask. */
static int ring_grow(sl__ring_t* r) {
  if (r->cap == 0) {
    r->v = r->inl;
    r->cap = SL__RING_INLINE;
    r->head = 0;
    return 0;
  }
  size_t cap = r->cap < 8 ? 8 : r->cap * 2;
  sl__item_t* v = sl__malloc(cap * sizeof *v);
  if (v == NULL) return SL_ENOMEM;
  for (size_t i = 0; i < r->count; i++)
    v[i] = r->v[(r->head + i) & (r->cap - 1)];
  if (r->v != r->inl) sl__free(r->v);
  r->v = v;
  r->cap = cap;
  r->head = 0;
  return 0;
}

int sl__ring_push(sl__ring_t* r, sl__item_t it) {
  if (r->count == r->cap && ring_grow(r) != 0) return SL_ENOMEM;
  r->v[(r->head + r->count) & (r->cap - 1)] = it;
  r->count++;
  return 0;
}

int sl__ring_unshift(sl__ring_t* r, sl__item_t it) {
  if (r->count == r->cap && ring_grow(r) != 0) return SL_ENOMEM;
  r->head = (r->head + r->cap - 1) & (r->cap - 1);
  r->v[r->head] = it;
  r->count++;
  return 0;
}

sl__item_t* sl__ring_at(sl__ring_t* r, size_t i) {
  SL_ASSERT(i < r->count);
  return &r->v[(r->head + i) & (r->cap - 1)];
}

sl__item_t sl__ring_shift(sl__ring_t* r) {
  SL_ASSERT(r->count > 0);
  sl__item_t it = r->v[r->head];
  r->head = (r->head + 1) & (r->cap - 1);
  if (--r->count == 0 && r->v != r->inl) {
    /* Back to the inline slot once empty: a burst's array is not kept by
     * a stream that goes idle (one allocation per burst, not per item). */
    sl__free(r->v);
    r->v = r->inl;
    r->cap = SL__RING_INLINE;
    r->head = 0;
  }
  return it;
}

static size_t chunk_size(int object_mode, const sl_chunk_t* c);

int sl__park(sl__parked_t* p, sl_chunk_t** chunks, size_t n) {
  SL_ASSERT(p->n == 0);
  p->v = sl__malloc(n * sizeof *p->v);
  if (p->v == NULL) return SL_ENOMEM;
  for (size_t i = 0; i < n; i++) p->v[i] = sl_chunk_ref(chunks[i]);
  p->n = n;
  return 0;
}

void sl__parked_free(sl__parked_t* p) {
  for (size_t i = 0; i < p->n; i++) sl_chunk_unref(p->v[i]);
  sl__free(p->v);
  *p = (sl__parked_t){0};
}

sl__parked_t sl__parked_take(sl__parked_t* p) {
  sl__parked_t t = *p;
  *p = (sl__parked_t){0};
  return t;
}

void sl__stream_cancel_write(sl_stream_t* s, size_t i, int err) {
  sl__ring_t* r = &s->w.queue;
  SL_ASSERT(i >= s->w.inflight && i < r->count);
  sl__item_t it = *sl__ring_at(r, i);
  for (size_t k = i; k + 1 < r->count; k++)
    *sl__ring_at(r, k) = *sl__ring_at(r, k + 1);
  r->count--;
  s->w.length -= chunk_size(s->w.object_mode, it.chunk);
  it.err = err;
  if (sl__ring_push(&s->w.completed, it) != 0) sl_chunk_unref(it.chunk);
  sl__stream_schedule(s);
}

void sl__ring_free(sl__ring_t* r) {
  if (r->v != r->inl) sl__free(r->v);
  memset(r, 0, sizeof *r);
}

/* --- construction and lifetime ------------------------------------------- */

static void process(sl__tick_t* t);
static const sl_stream_hooks_t no_hooks;

static size_t chunk_size(int object_mode, const sl_chunk_t* c) {
  return object_mode ? 1 : sl_chunk_len(c);
}

sl_stream_t* sl__stream_new(int kind, const sl_stream_opts_t* o, size_t size) {
  static const sl_stream_opts_t defaults;
  if (o == NULL) o = &defaults;
  SL_ASSERT(size >= sizeof(sl_stream_t));
  sl_stream_t* s = sl__calloc(1, size);
  if (s == NULL) return NULL;
  if (o->name != NULL && (s->name = sl__strdup(o->name)) == NULL) {
    sl__free(s);
    return NULL;
  }
  s->hooks = o->hooks ? o->hooks : &no_hooks;
  s->data = o->data;
  s->refs = 1; /* the library's own, dropped after close */
  sl__tick_init(&s->tick, process);
  s->readable = (kind & SL__KIND_READABLE) != 0;
  s->writable = (kind & SL__KIND_WRITABLE) != 0;
  s->is_transform = kind == SL__KIND_TRANSFORM;
  s->auto_destroy = !o->no_auto_destroy;
  s->end_on_end = o->end_on_end != 0;
  int r_obj = o->object_mode || o->readable_object_mode;
  int w_obj = o->object_mode || o->writable_object_mode;
  size_t hwm = o->high_water_mark;
  s->r.object_mode = r_obj;
  s->r.hwm = hwm ? hwm : r_obj ? SL__DEFAULT_OBJECTS : SL__DEFAULT_HWM;
  s->r.flowing = -1;
  sl__queue_init(&s->r.pipes);
  s->w.object_mode = w_obj;
  size_t whwm = o->write_high_water_mark ? o->write_high_water_mark : hwm;
  s->w.hwm = whwm ? whwm : w_obj ? SL__DEFAULT_OBJECTS : SL__DEFAULT_HWM;
  return s;
}

sl_stream_t* sl_readable_new(const sl_stream_opts_t* o) {
  return sl__stream_new(SL__KIND_READABLE, o, sizeof(sl_stream_t));
}
sl_stream_t* sl_writable_new(const sl_stream_opts_t* o) {
  return sl__stream_new(SL__KIND_WRITABLE, o, sizeof(sl_stream_t));
}
sl_stream_t* sl_duplex_new(const sl_stream_opts_t* o) {
  return sl__stream_new(SL__KIND_DUPLEX, o, sizeof(sl_stream_t));
}
sl_stream_t* sl_transform_new(const sl_stream_opts_t* o) {
  return sl__stream_new(SL__KIND_TRANSFORM, o, sizeof(sl_stream_t));
}
sl_stream_t* sl_passthrough_new(const sl_stream_opts_t* o) {
  sl_stream_opts_t copy = o ? *o : (sl_stream_opts_t){0};
  copy.hooks = NULL; /* no transform hook: chunks pass through */
  return sl_transform_new(&copy);
}

/* Frees a ring's storage without resetting it (its owner goes away). */
static void ring_release(sl__ring_t* r) {
  if (r->v != r->inl) sl__free(r->v);
}

static void stream_free(sl_stream_t* s) {
  if (s->on_free != NULL) s->on_free(s);
  while (s->r.buf.count) sl_chunk_unref(sl__ring_shift(&s->r.buf).chunk);
  ring_release(&s->r.buf);
  SL_ASSERT(s->w.queue.count == 0 && s->w.completed.count == 0);
  ring_release(&s->w.queue);
  ring_release(&s->w.completed);
  sl__emitter_clear(&s->events);
  sl__free(s->errmsg);
  sl__free(s->name);
  sl__free(s);
}

sl_stream_t* sl_stream_ref(sl_stream_t* s) {
  SL_ASSERT(s->refs > 0);
  s->refs++;
  return s;
}

void sl_stream_unref(sl_stream_t* s) {
  SL_ASSERT(s->refs > 0);
  if (--s->refs == 0) {
    SL_ASSERT(s->close_emitted);
    stream_free(s);
  }
}

void sl__stream_schedule(sl_stream_t* s) {
  if (!s->close_emitted) sl__tick_schedule(&s->tick);
}

void* sl_stream_data(const sl_stream_t* s) { return s->data; }
void sl_stream_set_data(sl_stream_t* s, void* data) { s->data = data; }
const char* sl_stream_name(const sl_stream_t* s) {
  return s->name ? s->name : "";
}

/* --- listeners ------------------------------------------------------------ */

static int add_listener(sl_stream_t* s, uint32_t types, sl_stream_cb cb,
                        void* arg, int once) {
  SL_ASSERT(types != 0 && types < SL__EV_BIT(SL__EV_COUNT) && cb != NULL);
  if (s->close_emitted) return SL_EDESTROYED;
  int rc = sl__emitter_add(&s->events, types, (sl__fn)cb, arg, once);
  if (rc != 0) return rc;
  if ((types & SL__EV_BIT(SL_EV_DATA)) && s->r.flowing != 0)
    sl_stream_resume(s);
  if (types & SL__EV_BIT(SL_EV_READABLE)) {
    s->r.flowing = 0;
    s->r.want = 1;
    s->r.need_readable = 1;
    if (s->r.length != 0 || s->r.ended) s->r.emit_readable = 1;
    sl__stream_schedule(s);
  }
  return 0;
}

int sl_stream_on(sl_stream_t* s, sl_event_type_t type, sl_stream_cb cb,
                 void* arg) {
  SL_ASSERT((unsigned)type < SL__EV_COUNT);
  return add_listener(s, SL__EV_BIT(type), cb, arg, 0);
}

int sl_stream_once(sl_stream_t* s, sl_event_type_t type, sl_stream_cb cb,
                   void* arg) {
  SL_ASSERT((unsigned)type < SL__EV_COUNT);
  return add_listener(s, SL__EV_BIT(type), cb, arg, 1);
}

int sl_stream_off(sl_stream_t* s, sl_event_type_t type, sl_stream_cb cb,
                  void* arg) {
  return sl__emitter_off(&s->events, SL__EV_BIT(type), (sl__fn)cb, arg);
}

int sl__stream_listen(sl_stream_t* s, uint32_t types, sl_stream_cb cb,
                      void* arg) {
  return add_listener(s, types, cb, arg, 0);
}

int sl__stream_unlisten(sl_stream_t* s, uint32_t types, sl_stream_cb cb,
                        void* arg) {
  return sl__emitter_off(&s->events, types, (sl__fn)cb, arg);
}

static int has_listener(const sl_stream_t* s, sl_event_type_t type) {
  return sl__emitter_has(&s->events, type);
}

static void invoke(sl__fn cb, void* arg, void* owner, const void* ev) {
  ((sl_stream_cb)cb)(owner, ev, arg);
}

void sl__stream_emit(sl_stream_t* s, const sl_event_t* ev) {
  sl__emitter_emit(&s->events, ev->type, invoke, s, ev);
}

static void emit_simple(sl_stream_t* s, sl_event_type_t type) {
  sl_event_t ev = {.type = type};
  sl__stream_emit(s, &ev);
}

/* --- errors and destroy --------------------------------------------------- */

static void set_error(sl_stream_t* s, int err, char* msg) {
  if (s->err != 0) {
    sl__free(msg);
    return;
  }
  s->err = err;
  s->errmsg = msg;
}

static void destroy_with(sl_stream_t* s, int err, char* msg) {
  if (s->destroyed) {
    sl__free(msg);
    return;
  }
  if (err != 0) {
    if (msg == NULL) msg = sl__errmsg(err, "%s", s->name ? s->name : "");
    set_error(s, err, msg);
  } else {
    sl__free(msg);
  }
  s->destroyed = 1;
  /* Drop the read buffer, and fail every write still queued; the writes in
   * flight fail too, and a late write_done() from the hook is ignored. */
  while (s->r.buf.count) sl_chunk_unref(sl__ring_shift(&s->r.buf).chunk);
  s->r.length = 0;
  int werr = err ? err : SL_ECANCELED;
  while (s->w.queue.count) {
    sl__item_t it = sl__ring_shift(&s->w.queue);
    it.err = werr;
    if (sl__ring_push(&s->w.completed, it) != 0) sl_chunk_unref(it.chunk);
  }
  s->w.inflight = 0;
  s->w.length = 0;
  sl__stream_schedule(s);
}

void sl_stream_destroy(sl_stream_t* s, int err) { destroy_with(s, err, NULL); }

void sl__stream_fail_msg(sl_stream_t* s, int err, char* msg) {
  destroy_with(s, err, msg);
}

void sl_stream_fail(sl_stream_t* s, int err, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char* msg = sl__verrmsg(err, fmt, ap);
  va_end(ap);
  destroy_with(s, err, msg);
}

int sl_stream_error(const sl_stream_t* s) { return s->err; }
const char* sl_stream_error_message(const sl_stream_t* s) { return s->errmsg; }

void sl_stream_destroy_done(sl_stream_t* s) {
  SL_ASSERT(s->destroy_called);
  s->destroy_done = 1;
  sl__stream_schedule(s);
}

static void report_completed(sl_stream_t* s) {
  while (s->w.completed.count) {
    sl__item_t it = sl__ring_shift(&s->w.completed);
    if (it.cb != NULL) it.cb(s, it.err, it.arg);
    sl_chunk_unref(it.chunk);
  }
}

static void call_end_cb(sl_stream_t* s, int err) {
  sl_done_cb cb = s->w.end_cb;
  s->w.end_cb = NULL;
  if (cb != NULL) cb(s, err, s->w.end_arg);
}

/* Destroy runs the hook, then error (if any), then close, then lets go. */
static void process_destroy(sl_stream_t* s) {
  report_completed(s);
  if (!s->destroy_called) {
    s->destroy_called = 1;
    if (s->hooks->destroy != NULL)
      s->hooks->destroy(s, s->err);
    else
      s->destroy_done = 1;
  }
  if (!s->destroy_done || s->close_emitted) return;
  if (s->err != 0 && !s->error_emitted) {
    s->error_emitted = 1;
    /* As in Node, an error nobody listens for is not lost: it is reported
     * on stderr and the program's exit status becomes 1 (sl_report). */
    int unhandled = !s->errors_owned && s->w.end_cb == NULL &&
                    !sl__emitter_has(&s->events, SL_EV_ERROR);
    sl_event_t ev = {.type = SL_EV_ERROR, .err = s->err, .message = s->errmsg};
    sl__stream_emit(s, &ev);
    if (unhandled) sl_report(s->err, s->errmsg);
  }
  if (s->w.end_cb != NULL && !s->w.finished)
    call_end_cb(s, s->err ? s->err : SL_EDESTROYED);
  s->close_emitted = 1;
  emit_simple(s, SL_EV_CLOSE);
  sl__tick_cancel(&s->tick);
  sl_stream_unref(s); /* the library's own reference */
}

/* --- readable side ----------------------------------------------------- */

/* Length of the longest prefix of p[0..n) that ends on a UTF-8 character
 * boundary (an incomplete sequence at the end is left out). */
static size_t utf8_complete(const unsigned char* p, size_t n) {
  size_t i = n, back = 0;
  while (i > 0 && back < 4 && (p[i - 1] & 0xC0) == 0x80) i--, back++;
  if (i == 0) return n; /* only continuation bytes: nothing to wait for */
  unsigned char lead = p[i - 1];
  size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return back + 1 >= need ? n : i - 1;
}

static void note_buffered(sl_stream_t* s) {
  uint64_t total = s->r.length + s->w.length;
  if (total > s->stats.max_buffered) s->stats.max_buffered = total;
}

/* What one buffered chunk counts for on the readable side: its bytes, 1 in
 * object mode, and at least 1 in message mode (an empty message is one). */
static size_t r_size(const sl_stream_t* s, const sl_chunk_t* c) {
  size_t n = chunk_size(s->r.object_mode, c);
  return n == 0 && s->r.messages ? 1 : n;
}

static int push_item(sl_stream_t* s, sl_chunk_t* c, int front) {
  size_t n = r_size(s, c);
  if (n == 0) return 0;
  sl__item_t it = {.chunk = sl_chunk_ref(c)};
  int rc =
      front ? sl__ring_unshift(&s->r.buf, it) : sl__ring_push(&s->r.buf, it);
  if (rc != 0) {
    sl_chunk_unref(c);
    return rc;
  }
  s->r.length += n;
  s->r.drained_by_read = 0;
  if (s->r.need_readable) s->r.emit_readable = 1;
  note_buffered(s);
  return 0;
}

/* UTF-8 mode: joins the carried partial character with `c` and keeps the new
 * incomplete tail back. Returns the chunk to buffer (a new reference) or
 * NULL when everything was carried. */
static sl_chunk_t* utf8_cut(sl_stream_t* s, sl_chunk_t* c) {
  size_t len = sl_chunk_len(c);
  sl_chunk_t* whole = sl_chunk_ref(c);
  if (s->r.ncarry != 0) {
    sl_chunk_unref(whole);
    whole = sl_chunk_new(s->r.ncarry + len);
    if (whole == NULL) return NULL;
    memcpy(sl_chunk_data(whole), s->r.carry, s->r.ncarry);
    memcpy(sl_chunk_data(whole) + s->r.ncarry, sl_chunk_data(c), len);
    len += s->r.ncarry;
    s->r.ncarry = 0;
  }
  size_t ok = utf8_complete((unsigned char*)sl_chunk_data(whole), len);
  s->r.ncarry = (unsigned)(len - ok);
  memcpy(s->r.carry, sl_chunk_data(whole) + ok, len - ok);
  if (ok == len) return whole;
  sl_chunk_t* head = ok ? sl_chunk_slice(whole, 0, ok) : NULL;
  sl_chunk_unref(whole);
  return head;
}

int sl_stream_push(sl_stream_t* s, sl_chunk_t* chunk) {
  SL_ASSERT(s->readable);
  if (s->destroyed) return SL_EDESTROYED;
  if (s->r.ended) return SL_EPUSHAFTEREOF;
  s->r.reading = 0;
  sl__stream_schedule(s);
  if (chunk == NULL) {
    if (s->r.utf8 && s->r.ncarry != 0) {
      /* An incomplete character at the end becomes U+FFFD, as in Node. */
      s->r.ncarry = 0;
      sl_chunk_t* rep = sl_chunk_copy("\xEF\xBF\xBD", 3);
      if (rep != NULL) push_item(s, rep, 0);
      sl_chunk_unref(rep);
    }
    s->r.ended = 1;
    s->r.emit_readable = 1; /* the end is always announced (Node) */
    return 0;
  }
  int rc;
  if (s->r.utf8) {
    sl_chunk_t* part = utf8_cut(s, chunk);
    rc = part ? push_item(s, part, 0) : 0;
    sl_chunk_unref(part);
  } else {
    rc = push_item(s, chunk, 0);
  }
  if (rc != 0) {
    sl_stream_destroy(s, rc);
    return rc;
  }
  return s->r.length < s->r.hwm;
}

int sl_stream_push_bytes(sl_stream_t* s, const void* data, size_t len) {
  sl_chunk_t* c = sl_chunk_copy(data, len);
  if (c == NULL) return SL_ENOMEM;
  int rc = sl_stream_push(s, c);
  sl_chunk_unref(c);
  return rc;
}

int sl_stream_unshift(sl_stream_t* s, sl_chunk_t* chunk) {
  SL_ASSERT(s->readable);
  if (s->destroyed) return SL_EDESTROYED;
  if (s->r.end_emitted) return SL_EPUSHAFTEREOF;
  int rc = push_item(s, chunk, 1);
  sl__stream_schedule(s);
  return rc;
}

/* Takes up to `n` bytes from the front of the buffer as one chunk: a whole
 * buffered chunk or a slice of one when possible, a copy only when the bytes
 * span several chunks. */
static sl_chunk_t* take_bytes(sl_stream_t* s, size_t n) {
  sl__item_t* head = sl__ring_at(&s->r.buf, 0);
  size_t hlen = sl_chunk_len(head->chunk);
  sl_chunk_t* out;
  if (n == hlen) {
    out = sl__ring_shift(&s->r.buf).chunk;
  } else if (n < hlen) {
    out = sl_chunk_slice(head->chunk, 0, n);
    if (out == NULL) return NULL;
    sl_chunk_t* rest = sl_chunk_slice(head->chunk, n, hlen - n);
    if (rest == NULL) {
      sl_chunk_unref(out);
      return NULL;
    }
    sl_chunk_unref(head->chunk);
    head->chunk = rest;
  } else {
    out = sl_chunk_new(n);
    if (out == NULL) return NULL;
    size_t off = 0;
    while (off < n) {
      sl__item_t* h = sl__ring_at(&s->r.buf, 0);
      size_t len = sl_chunk_len(h->chunk), take = n - off < len ? n - off : len;
      memcpy(sl_chunk_data(out) + off, sl_chunk_data(h->chunk), take);
      off += take;
      if (take == len) {
        sl_chunk_unref(sl__ring_shift(&s->r.buf).chunk);
      } else {
        sl_chunk_t* rest = sl_chunk_slice(h->chunk, take, len - take);
        if (rest == NULL) { /* cannot split: give the rest back whole */
          sl_chunk_unref(out);
          return NULL;
        }
        sl_chunk_unref(h->chunk);
        h->chunk = rest;
      }
    }
  }
  s->r.length -= n;
  return out;
}

/* UTF-8 mode: moves a cut after `n` buffered bytes back to a character
 * boundary, in whichever chunk it falls (each buffered chunk starts on one).
 * A first character longer than `n` is cut as asked. */
static size_t utf8_cut_point(sl_stream_t* s, size_t n) {
  size_t before = 0;
  for (size_t i = 0; i < s->r.buf.count; i++) {
    sl_chunk_t* c = sl__ring_at(&s->r.buf, i)->chunk;
    size_t len = sl_chunk_len(c);
    if (n < before + len) {
      size_t k = n - before;
      size_t ok = k ? utf8_complete((unsigned char*)sl_chunk_data(c), k) : 0;
      return ok || k == 0 ? before + ok : before ? before : n;
    }
    before += len;
  }
  return n;
}

sl_chunk_t* sl_stream_read(sl_stream_t* s, size_t n) {
  SL_ASSERT(s->readable);
  if (s->destroyed) return NULL;
  s->r.want = 1;
  sl__stream_schedule(s);
  if (s->r.length == 0) {
    s->r.need_readable = !s->r.ended;
    s->r.drained_by_read = 1;
    return NULL;
  }
  sl_chunk_t* out;
  if (s->r.object_mode || s->r.messages) {
    out = sl__ring_shift(&s->r.buf).chunk;
    s->r.length -= r_size(s, out);
  } else {
    if (n == 0 || n > s->r.length) {
      if (n > s->r.length && !s->r.ended) {
        /* Wait for more; a request above the mark raises it, as Node's
         * computeNewHighWaterMark does, or it could never be met. */
        if (n > s->r.hwm) s->r.hwm = n;
        s->r.need_readable = 1;
        return NULL;
      }
      n = s->r.length;
    }
    if (s->r.utf8 && n < s->r.length) n = utf8_cut_point(s, n);
    out = take_bytes(s, n);
    if (out == NULL) return NULL;
  }
  s->stats.bytes_read += sl_chunk_len(out);
  if (s->r.length == 0) {
    s->r.drained_by_read = 1;
    s->r.need_readable = !s->r.ended;
  }
  return out;
}

void sl_stream_pause(sl_stream_t* s) {
  if (s->r.flowing != 0) {
    s->r.flowing = 0;
    s->r.emit_pause = 1;
    s->r.emit_resume = 0;
    sl__stream_schedule(s);
  }
}

void sl_stream_resume(sl_stream_t* s) {
  if (s->r.flowing != 1) {
    s->r.flowing = 1;
    s->r.want = 1;
    s->r.emit_resume = 1;
    s->r.emit_pause = 0;
    sl__stream_schedule(s);
  }
}

int sl_stream_is_paused(const sl_stream_t* s) { return s->r.flowing == 0; }

int sl_stream_set_encoding(sl_stream_t* s, sl_encoding_t enc) {
  if (s->r.object_mode || s->r.messages ||
      (enc != SL_ENC_NONE && enc != SL_ENC_UTF8))
    return SL_EINVAL;
  s->r.utf8 = enc == SL_ENC_UTF8;
  return 0;
}

size_t sl_stream_readable_length(const sl_stream_t* s) { return s->r.length; }
size_t sl_stream_writable_length(const sl_stream_t* s) { return s->w.length; }
size_t sl_stream_readable_hwm(const sl_stream_t* s) { return s->r.hwm; }
size_t sl_stream_writable_hwm(const sl_stream_t* s) { return s->w.hwm; }
int sl_stream_is_readable(const sl_stream_t* s) {
  return s->readable && !s->destroyed && !s->r.end_emitted;
}
int sl_stream_is_writable(const sl_stream_t* s) {
  return s->writable && !s->destroyed && !s->w.ending;
}
int sl_stream_ended(const sl_stream_t* s) { return s->r.end_emitted; }
int sl_stream_writable_finished(const sl_stream_t* s) { return s->w.finished; }
int sl_stream_destroyed(const sl_stream_t* s) { return s->destroyed; }
int sl_stream_closed(const sl_stream_t* s) { return s->close_emitted; }

void sl_stream_stats(const sl_stream_t* s, sl_stream_stats_t* out) {
  *out = s->stats;
}

static void complete_write(sl_stream_t* s, int err);

/* Emits readable when one is due: only when data or the end arrived while a
 * reader waited (need_readable), never again for the same buffer, so a
 * listener whose read(n) returns NULL is not called in a loop. Returns
 * non-zero if the stream was destroyed meanwhile. */
static int process_readable_event(sl_stream_t* s) {
  if (!s->r.emit_readable) return 0;
  if (s->r.flowing == 1 || s->r.end_emitted) {
    s->r.emit_readable = 0;
    return 0;
  }
  if (!has_listener(s, SL_EV_READABLE)) return 0; /* keep it for one */
  s->r.emit_readable = 0;
  if (s->r.length == 0 && !s->r.ended) return 0;
  s->r.need_readable = 0;
  emit_simple(s, SL_EV_READABLE);
  if (s->destroyed) return 1;
  /* As Node: a reader that left data behind hears about the next push. */
  s->r.need_readable =
      !s->r.ended && s->r.length <= s->r.hwm && s->r.flowing != 1;
  return 0;
}

/* The readable half of process(). */
static void process_readable(sl_stream_t* s) {
  if (s->r.emit_resume) {
    s->r.emit_resume = 0;
    emit_simple(s, SL_EV_RESUME);
  }
  if (s->r.emit_pause) {
    s->r.emit_pause = 0;
    emit_simple(s, SL_EV_PAUSE);
  }
  while (s->r.flowing == 1 && s->r.buf.count && !s->destroyed) {
    sl__item_t it = sl__ring_shift(&s->r.buf);
    s->r.length -= r_size(s, it.chunk);
    s->stats.bytes_read += sl_chunk_len(it.chunk);
    sl_event_t ev = {.type = SL_EV_DATA, .chunk = it.chunk};
    sl__stream_emit(s, &ev);
    sl_chunk_unref(it.chunk);
  }
  if (s->destroyed) return;
  if (process_readable_event(s) != 0) return;
  /* Paused mode ends once a read() found the buffer empty, or at once with
   * a readable listener (Node's read(0) after the last readable). */
  if (s->r.ended && s->r.length == 0 && !s->r.end_emitted &&
      (s->r.flowing == 1 || s->r.drained_by_read ||
       has_listener(s, SL_EV_READABLE))) {
    s->r.end_emitted = 1;
    emit_simple(s, SL_EV_END);
    if (s->destroyed) return;
    if (s->end_on_end && s->writable && !s->w.ending)
      sl_stream_end(s, NULL, NULL, NULL);
    return;
  }
  if (s->r.length >= s->r.hwm || s->r.zc_active) return;
  if (s->is_transform) {
    /* A transform's "read" releases the write held while the readable
     * side was full (Node's Transform._read). */
    if (s->w.held) {
      s->w.held = 0;
      complete_write(s, s->w.held_err);
    } else if (s->hooks->read != NULL) {
      /* A transform that holds input of its own (gzip's blocks) resumes
       * here once its reader caught up. */
      s->hooks->read(s, s->r.hwm - s->r.length);
    }
    return;
  }
  if (!s->r.ended && !s->r.reading && (s->r.flowing == 1 || s->r.want) &&
      s->hooks->read != NULL) {
    s->r.reading = 1;
    s->hooks->read(s, s->r.hwm - s->r.length);
  }
}

/* --- writable side ------------------------------------------------------- */

int sl_stream_write(sl_stream_t* s, sl_chunk_t* chunk, sl_done_cb cb,
                    void* arg) {
  SL_ASSERT(chunk != NULL);
  if (!s->writable) return SL_ENOTWRITABLE;
  if (s->destroyed) return SL_EDESTROYED;
  if (s->w.ending) {
    /* As in Node: the write fails and the stream is destroyed with the
     * error, which its error listeners see. */
    sl_stream_fail(s, SL_EWRITEAFTEREND, "%s", s->name ? s->name : "write");
    return SL_EWRITEAFTEREND;
  }
  sl__item_t it = {.chunk = sl_chunk_ref(chunk), .cb = cb, .arg = arg};
  if (sl__ring_push(&s->w.queue, it) != 0) {
    sl_chunk_unref(chunk);
    return SL_ENOMEM;
  }
  s->w.length += chunk_size(s->w.object_mode, chunk);
  note_buffered(s);
  sl__stream_schedule(s);
  if (s->on_queued != NULL) s->on_queued(s);
  if (s->w.length >= s->w.hwm) {
    s->w.need_drain = 1;
    return 0;
  }
  return 1;
}

int sl_stream_write_bytes(sl_stream_t* s, const void* data, size_t len,
                          sl_done_cb cb, void* arg) {
  if (!s->writable) return SL_ENOTWRITABLE;
  sl_chunk_t* c = sl_chunk_copy(data, len);
  if (c == NULL) return SL_ENOMEM;
  int rc = sl_stream_write(s, c, cb, arg);
  sl_chunk_unref(c);
  return rc;
}

int sl_stream_write_str(sl_stream_t* s, const char* str) {
  return sl_stream_write_bytes(s, str, strlen(str), NULL, NULL);
}

int sl_stream_end_str(sl_stream_t* s, const char* str) {
  if (str == NULL || *str == '\0') return sl_stream_end(s, NULL, NULL, NULL);
  sl_chunk_t* c = sl_chunk_str(str);
  if (c == NULL) return SL_ENOMEM;
  int rc = sl_stream_end(s, c, NULL, NULL);
  sl_chunk_unref(c);
  return rc;
}

int sl_stream_end(sl_stream_t* s, sl_chunk_t* last, sl_done_cb cb, void* arg) {
  if (!s->writable) return SL_ENOTWRITABLE;
  if (s->w.ending) return SL_EWRITEAFTEREND;
  if (s->destroyed) return SL_EDESTROYED;
  if (last != NULL) {
    int rc = sl_stream_write(s, last, NULL, NULL);
    if (rc < 0) return rc;
  }
  s->w.ending = 1;
  s->w.corked = 0; /* end() uncorks, as in Node */
  s->w.end_cb = cb;
  s->w.end_arg = arg;
  sl__stream_schedule(s);
  return 0;
}

void sl_stream_cork(sl_stream_t* s) { s->w.corked++; }

void sl_stream_uncork(sl_stream_t* s) {
  if (s->w.corked > 0 && --s->w.corked == 0) sl__stream_schedule(s);
}

/* Moves the batch in flight to the completed list with `err`. */
static void complete_write(sl_stream_t* s, int err) {
  for (size_t i = 0; i < s->w.inflight; i++) {
    sl__item_t it = sl__ring_shift(&s->w.queue);
    size_t n = chunk_size(s->w.object_mode, it.chunk);
    s->w.length -= n;
    if (err == 0) s->stats.bytes_written += sl_chunk_len(it.chunk);
    it.err = err;
    if (sl__ring_push(&s->w.completed, it) != 0) sl_chunk_unref(it.chunk);
  }
  s->w.inflight = 0;
  s->w.writing = 0;
  if (err != 0)
    sl_stream_destroy(s, err);
  else if (!s->w.starting) /* else process_writable() goes on at once */
    sl__stream_schedule(s);
}

void sl_stream_write_done(sl_stream_t* s, int err) {
  if (s->destroyed) return; /* the writes were already failed */
  if (!s->w.writing || s->w.held) {
    sl_stream_destroy(s, SL_EMULTIPLECB);
    return;
  }
  if (s->is_transform && err == 0 && s->r.length >= s->r.hwm) {
    /* Hold the write until the readable side drains below its mark: this
     * is what carries backpressure from a transform's reader to its
     * writer. */
    s->w.held = 1;
    s->w.held_err = err;
    return;
  }
  complete_write(s, err);
}

static void start_write(sl_stream_t* s) {
  const sl_stream_hooks_t* h = s->hooks;
  size_t n = s->w.queue.count;
  s->w.writing = 1;
  if (n > 1 && h->writev != NULL && !s->is_transform) {
    sl_chunk_t* batch[64];
    size_t k = n < 64 ? n : 64;
    for (size_t i = 0; i < k; i++)
      batch[i] = sl__ring_at(&s->w.queue, i)->chunk;
    s->w.inflight = k;
    h->writev(s, batch, k);
    return;
  }
  s->w.inflight = 1;
  sl_chunk_t* c = sl__ring_at(&s->w.queue, 0)->chunk;
  if (s->is_transform) {
    if (h->transform != NULL) {
      h->transform(s, c);
    } else {
      sl_stream_push(s, c); /* PassThrough */
      sl_stream_write_done(s, 0);
    }
  } else if (h->write != NULL) {
    h->write(s, c);
  } else if (h->writev != NULL) {
    h->writev(s, &c, 1); /* as Node: writev alone serves single writes */
  } else {
    sl_stream_write_done(s, 0); /* a sink with no hook discards */
  }
}

static void transform_finish(sl_stream_t* s) {
  /* The input ended and flush (if any) completed: end the output. */
  if (s->is_transform && !s->r.ended) sl_stream_push(s, NULL);
}

void sl_stream_final_done(sl_stream_t* s, int err) {
  if (s->destroyed) return;
  if (!s->w.final_called || s->w.final_done) {
    sl_stream_destroy(s, SL_EMULTIPLECB);
    return;
  }
  if (err != 0) {
    sl_stream_destroy(s, err);
    return;
  }
  s->w.final_done = 1;
  transform_finish(s);
  sl__stream_schedule(s);
}

/* The writable half of process(). */
static void process_writable(sl_stream_t* s) {
  /* A hook may complete synchronously: report and start the next write
   * until one is in flight, so callbacks run before drain and finish. A
   * bound keeps a sink that always completes at once from starving I/O. */
  for (int round = 0;; round++) {
    report_completed(s);
    if (s->destroyed) return;
    if (s->w.writing || s->w.queue.count == 0 || (s->w.corked && !s->w.ending))
      break;
    if (round == 64) {
      sl__stream_schedule(s);
      return;
    }
    s->w.starting = 1;
    start_write(s);
    s->w.starting = 0;
    if (s->destroyed) return;
  }
  if (s->w.need_drain && s->w.length == 0 && !s->w.ending) {
    s->w.need_drain = 0;
    emit_simple(s, SL_EV_DRAIN);
    if (s->destroyed) return;
  }
  if (!s->w.ending || s->w.queue.count || s->w.writing || s->w.finished) return;
  if (!s->w.final_called) {
    s->w.final_called = 1;
    void (*hook)(sl_stream_t*) =
        s->is_transform ? s->hooks->flush : s->hooks->final;
    if (hook != NULL) {
      hook(s);
      return;
    }
    s->w.final_done = 1;
    transform_finish(s);
  }
  if (!s->w.final_done) return;
  s->w.finished = 1;
  emit_simple(s, SL_EV_FINISH);
  call_end_cb(s, 0);
}

/* --- the state machine ---------------------------------------------------- */

static void maybe_auto_destroy(sl_stream_t* s) {
  if (!s->auto_destroy || s->destroyed) return;
  int r_done = !s->readable || s->r.end_emitted;
  int w_done = !s->writable || s->w.finished;
  if (r_done && w_done) sl_stream_destroy(s, 0);
}

static void process(sl__tick_t* t) {
  sl_stream_t* s = sl__container_of(t, sl_stream_t, tick);
  if (s->close_emitted) return;
  s->refs++; /* listeners may drop every other reference */
  s->processing = 1;
  if (!s->destroyed && s->writable) process_writable(s);
  if (!s->destroyed && s->readable) process_readable(s);
  if (!s->destroyed) maybe_auto_destroy(s);
  if (s->destroyed) process_destroy(s);
  s->processing = 0;
  sl_stream_unref(s);
}
