/* Internal core: allocation, assertions, intrusive lists, the deferred-call
 * queue and error helpers shared by every layer. Nothing here is public. */
#ifndef SL_CORE_INTERNAL_H
#define SL_CORE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "sluice.h"

#define SL__HIDDEN __attribute__((visibility("hidden")))

/* Always-on invariant check: API misuse and broken invariants abort with the
 * place; anything the environment or a peer can cause returns a code. */
/* The number of each public event type (the public enums have no
 * sentinel): for listener tables and range checks. */
#define SL__EV_COUNT         (SL_EV_CONNECT + 1)
#define SL__CHILD_EV_COUNT   (SL_CHILD_DRAIN + 1)
#define SL__CLUSTER_EV_COUNT (SL_CLUSTER_MESSAGE + 1)
/* Listeners hold their event types in a 32-bit mask (emitter.c). */
_Static_assert(SL__EV_COUNT <= 32 && SL__CHILD_EV_COUNT <= 32 &&
                   SL__CLUSTER_EV_COUNT <= 32,
               "event types fit a listener's mask");

#define SL_ASSERT(expr)                                      \
  do {                                                       \
    if (!(expr)) sl__assert_fail(#expr, __FILE__, __LINE__); \
  } while (0)
void sl__assert_fail(const char* expr, const char* file, int line)
    __attribute__((noreturn));

#define sl__container_of(ptr, type, member) \
  ((type*)((char*)(ptr)-offsetof(type, member)))

void* sl__malloc(size_t n);
void* sl__calloc(size_t n, size_t size);
void* sl__realloc(void* p, size_t n);
void sl__free(void* p);
char* sl__strdup(const char* s);
/* The first `n` bytes of `s` as a string (NUL added); NULL on ENOMEM. */
char* sl__strndup(const char* s, size_t n);
/* malloc'd printf; NULL on ENOMEM. */
char* sl__vasprintf(const char* fmt, va_list ap);
char* sl__asprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

/* A doubly linked intrusive queue, libuv-style but typed. */
typedef struct sl__queue_s {
  struct sl__queue_s* next;
  struct sl__queue_s* prev;
} sl__queue_t;

static inline void sl__queue_init(sl__queue_t* q) { q->next = q->prev = q; }
static inline int sl__queue_empty(const sl__queue_t* q) { return q->next == q; }
static inline void sl__queue_insert_tail(sl__queue_t* h, sl__queue_t* q) {
  q->next = h;
  q->prev = h->prev;
  h->prev->next = q;
  h->prev = q;
}
static inline void sl__queue_insert_head(sl__queue_t* h, sl__queue_t* q) {
  q->next = h->next;
  q->prev = h;
  h->next->prev = q;
  h->next = q;
}
static inline void sl__queue_remove(sl__queue_t* q) {
  q->prev->next = q->next;
  q->next->prev = q->prev;
  q->next = q->prev = q;
}

/* The deferred queue (Node's nextTick queue). An sl__tick_t embedded in an
 * object is scheduled at most once at a time: scheduling a pending tick is a
 * no-op, so "something changed, re-evaluate" is cheap and idempotent. Ticks
 * run from the loop (an idle handle keeps the loop from blocking while any
 * is pending), in the order they were scheduled. */
typedef struct sl__tick_s {
  sl__queue_t node;
  void (*fn)(struct sl__tick_s* t);
  int pending;
} sl__tick_t;

void sl__tick_init(sl__tick_t* t, void (*fn)(sl__tick_t* t));
void sl__tick_schedule(sl__tick_t* t);
void sl__tick_cancel(sl__tick_t* t);

/* A timer that does not keep the loop alive (a heartbeat, a probe). */
void sl__timer_unref(sl_timer_t* t);

/* Listener lists (Node's EventEmitter), shared by streams, children and
 * channels. Listeners run in the order added; one added during an emit is
 * not called for that event; one removed during an emit is skipped and freed
 * when the outermost emit returns. Callbacks are stored type-erased and
 * handed back to the owner's `invoke`, which casts them to their real type.
 * Event types are 0..31; a listener hears a set of them (a mask), so that
 * a library object watching several events of another costs one record. */
typedef void (*sl__fn)(void);
typedef struct sl__listener_s {
  struct sl__listener_s* next;
  sl__fn cb;
  void* arg;
  uint32_t types; /* 1u << type for each type it hears */
  uint8_t once;
  uint8_t removed;
} sl__listener_t;

typedef struct sl__emitter_s {
  sl__listener_t* head;
  sl__listener_t* tail; /* the last listener, NULL when head is */
  int emitting; /* depth of emit(); freeing removed listeners waits for 0 */
  unsigned inl_used : 1, /* `inl` is in the list */
      dirty : 1;         /* some listener is marked removed */
  sl__listener_t inl;    /* the first listener needs no allocation */
} sl__emitter_t;

/* 0 for a type out of range, which no listener matches. */
#define SL__EV_BIT(type) ((unsigned)(type) < 32 ? 1u << (type) : 0u)
/* Adds a listener of the types in `types` (SL__EV_BIT(a) | ...). Returns 0
 * or SL_ENOMEM. */
int sl__emitter_add(sl__emitter_t* e, uint32_t types, sl__fn cb, void* arg,
                    int once);
/* Removes the first listener equal to (types, cb, arg): 0 or SL_ENOENT. */
int sl__emitter_off(sl__emitter_t* e, uint32_t types, sl__fn cb, void* arg);
int sl__emitter_has(const sl__emitter_t* e, int type);
/* Calls invoke(cb, arg, owner, ev) for each listener of `type` present now. */
void sl__emitter_emit(sl__emitter_t* e, int type,
                      void (*invoke)(sl__fn cb, void* arg, void* owner,
                                     const void* ev),
                      void* owner, const void* ev);
/* Frees every listener (the owner is going away; not during an emit). */
void sl__emitter_clear(sl__emitter_t* e);

/* Error messages in Node's two shapes, built only here. Each returns a
 * malloc'd string, or NULL on ENOMEM.
 *
 * sl__errmsg: libuv's (Node's fs and net), "CODE: description[, context]",
 *   as in "ENOENT: no such file or directory, open 'a.txt'"; fmt may be NULL.
 * sl__errmsg_sys: Node's child_process shape, "<syscall> CODE", as in
 *   "spawn grep ENOENT", where fmt builds the syscall part. */
char* sl__verrmsg(int err, const char* fmt, va_list ap);
char* sl__errmsg(int err, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
char* sl__errmsg_sys(int err, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* As Node at start-up: a write to a closed pipe or socket fails with EPIPE
 * instead of killing the process; a handler the program set is kept. */
void sl__ignore_sigpipe(void);

/* Converts a libuv/zlib/errno-style negative code to ours (identity for
 * libuv codes on Linux). */
static inline int sl__uv_err(int uv_status) { return uv_status; }

/* json.c, for IPC and every JSON reader. sl__json_validate: 0 when json[0..len) is exactly one JSON value
 * (RFC 8259, no raw newline anywhere), else SL_EINVAL. sl__json_find: the
 * raw text of the value of top-level `key` of an object in *val / *vlen;
 * 0, SL_ENOENT, or SL_EINVAL when the text is not a valid object. */
int sl__json_validate(const char* json, size_t len);
int sl__json_find(const char* json, size_t len, const char* key,
                  const char** val, size_t* vlen);

/* The loop, created on first use. */
uv_loop_t* sl__loop(void);

#endif
