/* The access log: one line per exchange, written to stderr through the
 * sl_stderr() stream (a pipe or socket non-blocking, a file on the pool),
 * never with a write(2) that could block the loop. Lines of one loop turn
 * collect in one buffer that leaves in one stream write, from a tick. The
 * queue is bounded: while the stream holds more than LOG_QUEUE_MAX bytes a
 * reader is not keeping up (a full pipe, a stopped journal), and further
 * lines are dropped and counted; the first line written after that says
 * how many were lost. Servers with access_log hold the log open
 * (acquire/release); the last one to go ends the stream, which flushes what
 * is queued. */
#include "http/http_int.h"

#include <inttypes.h>
#include <stdarg.h>

#define LOG_BUF_SIZE (16 * 1024)
#define LOG_QUEUE_MAX (256 * 1024)

static struct {
  sl_stream_t* out;  /* sl_stderr(), referenced while users > 0 */
  sl_chunk_t* buf;   /* lines of this turn, not yet written */
  size_t used;
  sl__tick_t tick;
  int users, tick_ready;
} lg;

uint64_t sl__access_log_dropped;
static uint64_t dropped_unreported;
static void log_dropped(void);

static void log_flush(sl__tick_t* t) {
  (void)t;
  sl_chunk_t* c = lg.buf;
  lg.buf = NULL;
  if (c == NULL) return;
  sl_chunk_set_len(c, lg.used);
  lg.used = 0;
  if (lg.out != NULL) sl_stream_write(lg.out, c, NULL, NULL);
  sl_chunk_unref(c);
}

void sl__access_log_acquire(void) {
  if (!lg.tick_ready) {
    sl__tick_init(&lg.tick, log_flush);
    lg.tick_ready = 1;
  }
  if (lg.users++ == 0 && lg.out == NULL) {
    lg.out = sl_stderr();
    if (lg.out != NULL) sl_stream_ref(lg.out);
  }
}

void sl__access_log_release(void) {
  SL_ASSERT(lg.users > 0);
  if (--lg.users > 0) return;
  if (dropped_unreported != 0 && lg.out != NULL) {
    /* The count goes out even past the bound: it is the last line. */
    log_flush(&lg.tick);
    lg.buf = sl_chunk_new(128);
    if (lg.buf != NULL) log_dropped();
  }
  log_flush(&lg.tick);
  sl__tick_cancel(&lg.tick);
  sl_stream_t* out = lg.out;
  lg.out = NULL;
  if (out == NULL) return;
  if (!out->destroyed) sl_stream_end(out, NULL, NULL, NULL);
  sl_stream_unref(out);
}

/* Room for `n` more bytes in this turn's buffer; 0 when the line must be
 * dropped (no memory, or the reader is too far behind). */
static int log_reserve(size_t n) {
  if (lg.out == NULL || lg.out->destroyed) return 0;
  if (sl_stream_writable_length(lg.out) + lg.used + n > LOG_QUEUE_MAX)
    return 0;
  if (lg.buf != NULL && lg.used + n <= LOG_BUF_SIZE) return 1;
  log_flush(&lg.tick);
  lg.buf = sl_chunk_new(n > LOG_BUF_SIZE ? n : LOG_BUF_SIZE);
  if (lg.buf == NULL) return 0;
  sl__tick_schedule(&lg.tick);
  return 1;
}

static void log_append(const char* fmt, va_list ap) {
  char line[1024];
  int n = vsnprintf(line, sizeof line, fmt, ap);
  if (n < 0) return;
  size_t len = (size_t)n;
  if (len >= sizeof line) { /* cut short, but still one line */
    len = sizeof line - 1;
    line[len - 1] = '\n';
  }
  memcpy(sl_chunk_data(lg.buf) + lg.used, line, len);
  lg.used += len;
}

static void log_add(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_append(fmt, ap);
  va_end(ap);
}

static void log_dropped(void) {
  log_add("sluice: %" PRIu64 " access log lines dropped: stderr was not "
          "read fast enough\n", dropped_unreported);
  dropped_unreported = 0;
}

void sl__access_log_printf(const char* fmt, ...) {
  if (!log_reserve(1024 + 128)) {
    sl__access_log_dropped++;
    dropped_unreported++;
    return;
  }
  if (dropped_unreported != 0) log_dropped();
  va_list ap;
  va_start(ap, fmt);
  log_append(fmt, ap);
  va_end(ap);
}
