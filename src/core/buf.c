/* Growable byte buffers (sl_buf_t): the one place the library grows a run
 * of bytes. A zeroed buffer is empty and owns nothing. Every operation is
 * all or nothing: on failure the contents and length are as before (the
 * capacity may have grown), so a caller never loses or half-writes data.
 * While `data` is not NULL, data[len] is a NUL, so the bytes read as a C
 * string; the capacity counts the bytes before that NUL. */
#include "core/internal.h"

/* The first allocation; later ones double, so appends cost O(1) amortised. */
#define BUF_MIN_CAP 64

int sl_buf_reserve(sl_buf_t* b, size_t extra) {
  if (b->data != NULL && b->cap - b->len >= extra) return 0;
  if (extra > SIZE_MAX - 1 - b->len) return SL_ENOMEM;
  size_t need = b->len + extra;
  size_t cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
  while (cap < need) cap = cap > (SIZE_MAX - 1) / 2 ? need : cap * 2;
  char* p = sl__realloc(b->data, cap + 1);
  if (p == NULL) return SL_ENOMEM;
  p[b->len] = '\0';
  b->data = p;
  b->cap = cap;
  return 0;
}

int sl_buf_append(sl_buf_t* b, const void* data, size_t len) {
  int rc = sl_buf_reserve(b, len);
  if (rc != 0) return rc;
  if (len != 0) memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

int sl_buf_append_str(sl_buf_t* b, const char* s) {
  return sl_buf_append(b, s, strlen(s));
}

int sl_buf_vprintf(sl_buf_t* b, const char* fmt, va_list ap) {
  /* Try the spare room first; most lines fit, and then vsnprintf runs
   * once. */
  char dummy[1];
  size_t room = b->data != NULL ? b->cap - b->len + 1 : 0;
  char* at = b->data != NULL ? b->data + b->len : dummy;
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(at, room ? room : sizeof dummy, fmt, ap2);
  va_end(ap2);
  if (n < 0) goto fail;
  if ((size_t)n < room) {
    b->len += (size_t)n;
    return 0;
  }
  int rc = sl_buf_reserve(b, (size_t)n);
  if (rc != 0) {
    if (b->data != NULL) b->data[b->len] = '\0';
    return rc;
  }
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return 0;

fail:
  if (b->data != NULL) b->data[b->len] = '\0';
  return SL_EINVAL;
}

int sl_buf_printf(sl_buf_t* b, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = sl_buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

void sl_buf_truncate(sl_buf_t* b, size_t len) {
  SL_ASSERT(len <= b->len);
  b->len = len;
  if (b->data != NULL) b->data[len] = '\0';
}

void sl_buf_commit(sl_buf_t* b, size_t n) {
  SL_ASSERT(b->data != NULL ? n <= b->cap - b->len : n == 0);
  if (b->data == NULL) return;
  b->len += n;
  b->data[b->len] = '\0';
}

void sl_buf_reset(sl_buf_t* b) { sl_buf_truncate(b, 0); }

void sl_buf_consume(sl_buf_t* b, size_t n) {
  SL_ASSERT(n <= b->len);
  if (n == 0) return;
  memmove(b->data, b->data + n, b->len - n);
  sl_buf_truncate(b, b->len - n);
}

char* sl_buf_detach(sl_buf_t* b) {
  char* p = b->data;
  *b = (sl_buf_t){0};
  return p;
}

void sl_buf_free(sl_buf_t* b) {
  sl__free(b->data);
  *b = (sl_buf_t){0};
}

static void buf_chunk_free(void* data, void* arg) {
  (void)arg;
  sl__free(data);
}

sl_chunk_t* sl_buf_chunk(sl_buf_t* b) {
  if (b->data == NULL) return sl_chunk_new(0);
  sl_chunk_t* c = sl_chunk_wrap(b->data, b->len, buf_chunk_free, NULL);
  if (c != NULL) *b = (sl_buf_t){0};
  return c;
}
