/* The access log: one line per exchange, to stderr (through a file
 * description of its own, log_open_stderr) or to a file
 * opened O_APPEND, never with a write(2) that could block the loop. Lines
 * of one loop turn collect in one buffer that leaves in one stream write,
 * from a tick. The queue is bounded: while the stream holds more than
 * LOG_QUEUE_MAX bytes its reader is not keeping up (a full pipe, a stopped
 * journal, a slow disk), and further lines are dropped and counted; the
 * next line written says how many were lost. Servers share one log object
 * per destination (refcounted); the last one to go ends its stream, which
 * flushes what is queued. sl_http_access_log_reopen() ends every file
 * stream and opens the path afresh, for logrotate. */
#include "http/http_int.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <stdarg.h>

#define LOG_BUF_SIZE  (16 * 1024)
#define LOG_QUEUE_MAX (256 * 1024)
#define LOG_LINE_MAX  2048

struct sl__alog_s {
  struct sl__alog_s* next; /* logs, all destinations */
  char* path;              /* NULL: stderr */
  sl_stream_t* out;        /* referenced */
  sl_chunk_t* buf;         /* lines of this turn, not yet written */
  size_t used;
  sl__tick_t tick;
  int users;
  uint64_t unreported; /* dropped since the last notice */
};

static sl__alog_t* logs;
uint64_t sl__access_log_dropped;

static void log_flush(sl__tick_t* t) {
  sl__alog_t* l = sl__container_of(t, sl__alog_t, tick);
  sl_chunk_t* c = l->buf;
  l->buf = NULL;
  if (c == NULL) return;
  sl_chunk_set_len(c, l->used);
  l->used = 0;
  if (l->out != NULL && !l->out->destroyed)
    sl_stream_write(l->out, c, NULL, NULL);
  sl_chunk_unref(c);
}

/* A failed open or write is said once on stderr, and the log goes on
 * counting what it drops. */
static void on_log_error(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s, (void)arg;
  fprintf(stderr, "sluice: access log: %s\n",
          ev->message ? ev->message : sl_strerror(ev->err));
}

/* stderr through a stream of our own, never the program's sl_stderr()
 * (ending ours must not end it). A pipe or FIFO is reopened through
 * /proc/self/fd/2, a description of our own: making it non-blocking would
 * otherwise make it so for every process that shares fd 2 (a shell's
 * `2>&1`, the cluster's workers). A file keeps the shared description, so
 * that our lines and the program's own stderr output share one offset; a
 * terminal is reopened by libuv; a socket (the journal's) is used as it is
 * and does become non-blocking. */
static sl_stream_t* log_open_stderr(void) {
  struct stat st;
  int fd = -1;
  if (fstat(2, &st) == 0 && S_ISFIFO(st.st_mode))
    fd = open("/proc/self/fd/2", O_WRONLY | O_CLOEXEC);
  sl_stream_t* s =
      fd >= 0 ? sl_fd_stream(fd, 0, 1, 0) : sl_fd_stream(2, 0, 1, 1);
  return s != NULL ? sl_stream_ref(s) : NULL;
}

static sl_stream_t* log_open_stream(const char* path) {
  if (path == NULL) return log_open_stderr();
  sl_file_opts_t o = {.flags = O_WRONLY | O_APPEND | O_CREAT, .mode = 0644};
  sl_stream_t* s = sl_file_writer(path, &o);
  if (s == NULL) return NULL;
  sl_stream_ref(s);
  sl_stream_on(s, SL_EV_ERROR, on_log_error, NULL);
  return s;
}

static void log_end_stream(sl__alog_t* l) {
  log_flush(&l->tick);
  sl_stream_t* out = l->out;
  l->out = NULL;
  if (out == NULL) return;
  if (!out->destroyed) sl_stream_end(out, NULL, NULL, NULL);
  sl_stream_unref(out);
}

sl__alog_t* sl__access_log_open(const char* path) {
  for (sl__alog_t* l = logs; l != NULL; l = l->next) {
    int same = path == NULL ? l->path == NULL
                            : l->path != NULL && strcmp(l->path, path) == 0;
    if (same) {
      l->users++;
      return l;
    }
  }
  sl__alog_t* l = sl__calloc(1, sizeof *l);
  if (l == NULL) return NULL;
  if (path != NULL && (l->path = sl__strdup(path)) == NULL) {
    sl__free(l);
    return NULL;
  }
  sl__tick_init(&l->tick, log_flush);
  l->out = log_open_stream(path);
  l->users = 1;
  l->next = logs;
  logs = l;
  return l;
}

static void log_notice(sl__alog_t* l);

void sl__access_log_close(sl__alog_t* l) {
  if (l == NULL || --l->users > 0) return;
  if (l->unreported != 0 && l->out != NULL) {
    /* The count goes out even past the bound: it is the last line. */
    log_flush(&l->tick);
    if ((l->buf = sl_chunk_new(LOG_LINE_MAX)) != NULL) log_notice(l);
  }
  log_end_stream(l);
  sl__tick_cancel(&l->tick);
  for (sl__alog_t** p = &logs; *p != NULL; p = &(*p)->next)
    if (*p == l) {
      *p = l->next;
      break;
    }
  sl__free(l->path);
  sl__free(l);
}

int sl_http_access_log_reopen(void) {
  int rc = 0;
  for (sl__alog_t* l = logs; l != NULL; l = l->next) {
    if (l->path == NULL) continue;
    log_end_stream(l);
    if ((l->out = log_open_stream(l->path)) == NULL) rc = SL_ENOMEM;
  }
  return rc;
}

/* Room for a line in this turn's buffer; 0 when the line must be dropped
 * (no memory, or the reader is too far behind). */
static int log_reserve(sl__alog_t* l) {
  if (l->out == NULL || l->out->destroyed || l->out->w.ending) return 0;
  if (sl_stream_writable_length(l->out) + l->used + LOG_LINE_MAX >
      LOG_QUEUE_MAX)
    return 0;
  if (l->buf != NULL && l->used + 2 * LOG_LINE_MAX <= LOG_BUF_SIZE) return 1;
  log_flush(&l->tick);
  if ((l->buf = sl_chunk_new(LOG_BUF_SIZE)) == NULL) return 0;
  sl__tick_schedule(&l->tick);
  return 1;
}

static void log_vadd(sl__alog_t* l, const char* fmt, va_list ap) {
  char* at = sl_chunk_data(l->buf) + l->used;
  int n = vsnprintf(at, LOG_LINE_MAX, fmt, ap);
  if (n < 0) return;
  size_t len = (size_t)n;
  if (len >= LOG_LINE_MAX) { /* cut short, but still one line */
    len = LOG_LINE_MAX - 1;
    at[len - 1] = '\n';
  }
  l->used += len;
}

static void log_add(sl__alog_t* l, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_vadd(l, fmt, ap);
  va_end(ap);
}

static void log_notice(sl__alog_t* l) {
  log_add(l,
          "sluice: %" PRIu64
          " access log lines dropped: the log was "
          "not written fast enough\n",
          l->unreported);
  l->unreported = 0;
}

void sl__access_log_printf(sl__alog_t* l, const char* fmt, ...) {
  if (l == NULL || !log_reserve(l)) {
    sl__access_log_dropped++;
    if (l != NULL) l->unreported++;
    return;
  }
  if (l->unreported != 0) {
    log_notice(l);
    if (!log_reserve(l)) {
      sl__access_log_dropped++;
      l->unreported++;
      return;
    }
  }
  va_list ap;
  va_start(ap, fmt);
  log_vadd(l, fmt, ap);
  va_end(ap);
}
