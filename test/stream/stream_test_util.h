/* Helpers shared by the stream semantics tests (readable.c, writable.c,
 * duplex.c, pipeline.c): an event log that renders each event as a short word
 * ("data(ab) end close") so a case can assert the exact order, a guard that
 * fails any callback running inside the API call that caused it, and a few
 * ready-made hook sets (counting sources, slow sinks). Static functions only:
 * each test file gets its own copy. */
#ifndef SL_STREAM_TEST_UTIL_H
#define SL_STREAM_TEST_UTIL_H

#include <stdarg.h>
#include <stdint.h>

#include "test.h"

/* Set around API calls with CALL(); every logged callback asserts it is 0. */
static int in_call;
#define CALL(expr) \
  do {             \
    in_call = 1;   \
    expr;          \
    in_call = 0;   \
  } while (0)

typedef struct {
  char s[8192];
  size_t n;
  int closed; /* close seen: nothing may follow */
} evlog_t;

static __attribute__((unused)) void log_add(evlog_t* l, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
static __attribute__((unused)) void log_add(evlog_t* l, const char* fmt, ...) {
  va_list ap;
  if (l->n && l->n < sizeof l->s - 1) l->s[l->n++] = ' ';
  va_start(ap, fmt);
  int k = vsnprintf(l->s + l->n, sizeof l->s - l->n, fmt, ap);
  va_end(ap);
  if (k > 0) l->n += (size_t)k;
  if (l->n >= sizeof l->s) l->n = sizeof l->s - 1;
}

static const char* ev_word(sl_event_type_t t) {
  static const char* w[] = {"data",     "end",   "error",  "close",
                            "readable", "pause", "resume", "drain",
                            "finish",   "pipe",  "unpipe", "connect"};
  return (unsigned)t < sizeof w / sizeof w[0] ? w[t] : "?";
}

/* The logging listener: arg is the evlog_t. */
static __attribute__((unused)) void on_log(sl_stream_t* s, const sl_event_t* ev,
                                           void* arg) {
  evlog_t* l = arg;
  (void)s;
  ASSERT(!in_call);
  if (l->closed)
    sl_test_fail(__FILE__, __LINE__, "%s after close: %s", ev_word(ev->type),
                 l->s);
  if (ev->type == SL_EV_DATA) {
    if (sl_chunk_obj(ev->chunk) != NULL)
      log_add(l, "data(#%d)", (int)(intptr_t)sl_chunk_obj(ev->chunk));
    else
      log_add(l, "data(%.*s)", (int)sl_chunk_len(ev->chunk),
              sl_chunk_data(ev->chunk));
  } else if (ev->type == SL_EV_ERROR) {
    log_add(l, "error(%s)", sl_err_name(ev->err));
  } else {
    log_add(l, "%s", ev_word(ev->type));
  }
  if (ev->type == SL_EV_CLOSE) l->closed = 1;
}

/* Logs every event that does not change the stream's mode (all but data
 * and readable). */
static __attribute__((unused)) void watch(sl_stream_t* s, evlog_t* l) {
  static const sl_event_type_t t[] = {SL_EV_END,    SL_EV_ERROR,  SL_EV_CLOSE,
                                      SL_EV_PAUSE,  SL_EV_RESUME, SL_EV_DRAIN,
                                      SL_EV_FINISH, SL_EV_PIPE,   SL_EV_UNPIPE};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    ASSERT_EQ(sl_stream_on(s, t[i], on_log, l), 0);
}

/* --- a done callback that logs ------------------------------------------ */

typedef struct {
  evlog_t* log;
  const char* name;
} cbtag_t;

static __attribute__((unused)) void on_done_log(sl_stream_t* s, int err,
                                                void* arg) {
  cbtag_t* t = arg;
  (void)s;
  ASSERT(!in_call);
  if (err)
    log_add(t->log, "%s(%s)", t->name, sl_err_name(err));
  else
    log_add(t->log, "%s", t->name);
}

/* --- deferred helpers ----------------------------------------------------- */

/* Runs fn(arg) after `hops` deferred rounds: a slow but deterministic
 * "later" without timers. */
typedef struct {
  int hops;
  void (*fn)(void* arg);
  void* arg;
} later_t;

static void later_step(void* p) {
  later_t* l = p;
  if (l->hops-- > 0) {
    sl_defer(later_step, l);
    return;
  }
  void (*fn)(void*) = l->fn;
  void* arg = l->arg;
  free(l);
  fn(arg);
}

static __attribute__((unused)) void run_later(int hops, void (*fn)(void*),
                                              void* arg) {
  later_t* l = malloc(sizeof *l);
  ASSERT(l != NULL);
  *l = (later_t){hops, fn, arg};
  ASSERT_EQ(sl_defer(later_step, l), 0);
}

/* Collects every data chunk into one buffer. */
typedef struct {
  char buf[1 << 16];
  size_t len;
  int ndata;
} sink_t;

static __attribute__((unused)) void on_collect(sl_stream_t* s,
                                               const sl_event_t* ev,
                                               void* arg) {
  sink_t* k = arg;
  (void)s;
  ASSERT(!in_call);
  size_t n = sl_chunk_len(ev->chunk);
  ASSERT(k->len + n <= sizeof k->buf);
  memcpy(k->buf + k->len, sl_chunk_data(ev->chunk), n);
  k->len += n;
  k->ndata++;
}

#endif
