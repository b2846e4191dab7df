/* sl_line_splitter: a Transform from bytes to lines, one object-mode chunk
 * per line, without its "\n" and a "\r" before it. A line that lies inside
 * one input chunk is pushed as a slice of it (no copy); only the bytes of a
 * line that spans chunks are carried and copied. The carry is bounded by
 * max_line: a longer line fails the stream with SL_E2BIG as soon as it is
 * known to be too long, so a stream without newlines cannot grow memory. */
#include "stream/stream_int.h"

#define SL__LINES_MAX       (1024 * 1024)
#define SL__LINES_HWM       16
#define SL__LINES_WRITE_HWM (16 * 1024)

typedef struct {
  sl_stream_t s;
  size_t max_line;
  sl_buf_t carry; /* the start of a line that began in an earlier chunk */
} lines_t;

static void lines_too_long(lines_t* ls) {
  sl_stream_fail(&ls->s, SL_E2BIG, "line longer than %zu bytes", ls->max_line);
}

/* Pushes one line (a chunk the caller owns), without a trailing "\r". */
static int lines_push(lines_t* ls, sl_chunk_t* line) {
  size_t n = sl_chunk_len(line);
  if (n > 0 && sl_chunk_data(line)[n - 1] == '\r') sl_chunk_set_len(line, --n);
  if (n > ls->max_line) {
    sl_chunk_unref(line);
    lines_too_long(ls);
    return SL_E2BIG;
  }
  int rc = sl_stream_push(&ls->s, line);
  sl_chunk_unref(line);
  return rc < 0 ? rc : 0;
}

/* The line that ends at data[0..n): the carried head plus these bytes. */
static int lines_push_joined(lines_t* ls, const char* data, size_t n) {
  sl_chunk_t* line = sl_chunk_new(ls->carry.len + n);
  if (line == NULL) return SL_ENOMEM;
  memcpy(sl_chunk_data(line), ls->carry.data, ls->carry.len);
  memcpy(sl_chunk_data(line) + ls->carry.len, data, n);
  sl_buf_reset(&ls->carry);
  return lines_push(ls, line);
}

/* Keeps data[0..n), the head of a line that continues in a later chunk.
 * One byte more than max_line is allowed for a "\r" before the "\n". */
static int lines_carry(lines_t* ls, const char* data, size_t n) {
  if (ls->carry.len + n > ls->max_line + 1) {
    lines_too_long(ls);
    return SL_E2BIG;
  }
  return sl_buf_append(&ls->carry, data, n);
}

static void lines_transform(sl_stream_t* s, sl_chunk_t* chunk) {
  lines_t* ls = (lines_t*)s;
  const char* data = sl_chunk_data(chunk);
  size_t len = sl_chunk_len(chunk), off = 0;
  const char* nl;
  int rc = 0;
  while (rc == 0 && (nl = memchr(data + off, '\n', len - off)) != NULL) {
    size_t n = (size_t)(nl - data) - off;
    if (ls->carry.len > 0) {
      rc = lines_push_joined(ls, data + off, n);
    } else {
      sl_chunk_t* line = sl_chunk_slice(chunk, off, n);
      rc = line ? lines_push(ls, line) : SL_ENOMEM;
    }
    off += n + 1;
  }
  if (rc == 0 && off < len) rc = lines_carry(ls, data + off, len - off);
  if (!s->destroyed) sl_stream_write_done(s, rc);
}

static void lines_flush(sl_stream_t* s) {
  lines_t* ls = (lines_t*)s;
  int rc = 0;
  if (ls->carry.len > 0) {
    /* The last line has no "\n"; its "\r", if any, is data. */
    if (ls->carry.len > ls->max_line) {
      lines_too_long(ls);
      return;
    }
    sl_chunk_t* line = sl_chunk_copy(ls->carry.data, ls->carry.len);
    sl_buf_reset(&ls->carry);
    if (line == NULL) {
      rc = SL_ENOMEM;
    } else {
      rc = sl_stream_push(s, line);
      sl_chunk_unref(line);
      rc = rc < 0 ? rc : 0;
    }
  }
  if (!s->destroyed) sl_stream_final_done(s, rc);
}

static void lines_destroy(sl_stream_t* s, int err) {
  lines_t* ls = (lines_t*)s;
  sl_buf_free(&ls->carry);
  sl_stream_destroy_done(s);
}

static const sl_stream_hooks_t lines_hooks = {
    .transform = lines_transform,
    .flush = lines_flush,
    .destroy = lines_destroy,
};

sl_stream_t* sl_line_splitter(const sl_lines_opts_t* o) {
  sl_stream_opts_t so = {
      .hooks = &lines_hooks,
      .readable_object_mode = 1,
      .high_water_mark =
          o && o->high_water_mark ? o->high_water_mark : SL__LINES_HWM,
      .write_high_water_mark = SL__LINES_WRITE_HWM,
      .name = "lines",
  };
  lines_t* ls =
      (lines_t*)sl__stream_new(SL__KIND_TRANSFORM, &so, sizeof(lines_t));
  if (ls == NULL) return NULL;
  ls->max_line = o && o->max_line ? o->max_line : SL__LINES_MAX;
  return &ls->s;
}
