/* Chunks: reference-counted byte slices. A chunk made by sl_chunk_new keeps
 * its bytes in the same allocation as its header; a slice points into its
 * parent and holds a reference on it, so storage lives as long as any view of
 * it; a wrapped chunk hands its memory back through the caller's free
 * callback. The loop thread owns every count, so no atomics are needed,
 * except that a chunk may be handed to the thread pool while the loop thread
 * holds its reference and does not touch the count. */
#include "core/internal.h"

struct sl_chunk_s {
  unsigned refs;
  unsigned tag; /* the user's (WebSocket: message kind); in the padding */
  char* base;
  size_t len;
  sl_chunk_t* parent;       /* slices: the chunk owning the storage */
  sl_chunk_free_cb free_cb; /* wrapped memory or object destructor */
  void* free_arg;
  void* obj;          /* object mode */
  char inline_data[]; /* sl_chunk_new storage */
};

static sl_chunk_t* chunk_alloc(size_t extra) {
  if (extra > SIZE_MAX - sizeof(sl_chunk_t)) return NULL; /* would wrap */
  sl_chunk_t* c = sl__malloc(sizeof *c + extra);
  if (c == NULL) return NULL;
  memset(c, 0, sizeof *c);
  c->refs = 1;
  return c;
}

sl_chunk_t* sl_chunk_new(size_t len) {
  sl_chunk_t* c = chunk_alloc(len);
  if (c == NULL) return NULL;
  c->base = c->inline_data;
  c->len = len;
  return c;
}

sl_chunk_t* sl_chunk_copy(const void* data, size_t len) {
  sl_chunk_t* c = sl_chunk_new(len);
  if (c != NULL && len != 0) memcpy(c->base, data, len);
  return c;
}

sl_chunk_t* sl_chunk_str(const char* s) { return sl_chunk_copy(s, strlen(s)); }

sl_chunk_t* sl_chunk_printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return NULL;
  sl_chunk_t* c = sl_chunk_new((size_t)n + 1);
  if (c == NULL) return NULL;
  va_start(ap, fmt);
  vsnprintf(c->base, (size_t)n + 1, fmt, ap);
  va_end(ap);
  c->len = (size_t)n;
  return c;
}

sl_chunk_t* sl_chunk_wrap(void* data, size_t len, sl_chunk_free_cb free_cb,
                          void* arg) {
  sl_chunk_t* c = chunk_alloc(0);
  if (c == NULL) return NULL;
  c->base = data;
  c->len = len;
  c->free_cb = free_cb;
  c->free_arg = arg;
  return c;
}

sl_chunk_t* sl_chunk_object(void* obj, sl_chunk_free_cb dtor, void* arg) {
  sl_chunk_t* c = chunk_alloc(0);
  if (c == NULL) return NULL;
  c->obj = obj;
  c->free_cb = dtor;
  c->free_arg = arg;
  return c;
}

sl_chunk_t* sl_chunk_slice(sl_chunk_t* c, size_t off, size_t len) {
  SL_ASSERT(off <= c->len && len <= c->len - off);
  sl_chunk_t* s = chunk_alloc(0);
  if (s == NULL) return NULL;
  sl_chunk_t* owner = c->parent ? c->parent : c;
  s->parent = sl_chunk_ref(owner);
  s->base = c->base + off;
  s->len = len;
  s->tag = c->tag;
  return s;
}

sl_chunk_t* sl_chunk_ref(sl_chunk_t* c) {
  SL_ASSERT(c->refs > 0);
  c->refs++;
  return c;
}

void sl_chunk_unref(sl_chunk_t* c) {
  if (c == NULL) return;
  SL_ASSERT(c->refs > 0);
  if (--c->refs != 0) return;
  if (c->parent != NULL) sl_chunk_unref(c->parent);
  if (c->free_cb != NULL) c->free_cb(c->obj ? c->obj : c->base, c->free_arg);
  sl__free(c);
}

int sl_chunk_exclusive(const sl_chunk_t* c) {
  if (c->refs != 1 || c->obj != NULL) return 0;
  if (c->parent != NULL) return c->parent->refs == 1;
  return c->base == c->inline_data || c->free_cb != NULL;
}

char* sl_chunk_data(const sl_chunk_t* c) { return c->base; }
size_t sl_chunk_len(const sl_chunk_t* c) { return c->len; }
void* sl_chunk_obj(const sl_chunk_t* c) { return c->obj; }
unsigned sl_chunk_tag(const sl_chunk_t* c) { return c->tag; }
void sl_chunk_set_tag(sl_chunk_t* c, unsigned tag) { c->tag = tag; }

void sl_chunk_set_len(sl_chunk_t* c, size_t len) {
  SL_ASSERT(len <= c->len);
  c->len = len;
}
