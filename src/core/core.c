/* Core: the loop sluice runs on, the deferred-call queue, timers, the
 * replaceable allocator and the error table. */
#define _GNU_SOURCE
#include <assert.h>
#include <stdio.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"

/* Our codes equal libuv's: checked here once, relied on everywhere. */
static_assert((int)SL_ENOENT == (int)UV_ENOENT,
              "SL_ENOENT must equal UV_ENOENT");
static_assert((int)SL_EOF == (int)UV_EOF, "SL_EOF must equal UV_EOF");
static_assert((int)SL_ECANCELED == (int)UV_ECANCELED, "SL_ECANCELED");
static_assert((int)SL_EPIPE == (int)UV_EPIPE, "SL_EPIPE");

static sl_malloc_fn a_malloc = malloc;
static sl_realloc_fn a_realloc = realloc;
static sl_free_fn a_free = free;

int sl_set_allocator(sl_malloc_fn m, sl_realloc_fn r, sl_free_fn f) {
  if (m == NULL || r == NULL || f == NULL) return SL_EINVAL;
  a_malloc = m;
  a_realloc = r;
  a_free = f;
  return 0;
}

void* sl__malloc(size_t n) { return a_malloc(n ? n : 1); }
void* sl__realloc(void* p, size_t n) { return a_realloc(p, n ? n : 1); }
void sl__free(void* p) {
  if (p != NULL) a_free(p);
}
void* sl__calloc(size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size) return NULL;
  void* p = sl__malloc(n * size);
  if (p != NULL) memset(p, 0, n * size);
  return p;
}
char* sl__strdup(const char* s) {
  size_t n = strlen(s) + 1;
  char* p = sl__malloc(n);
  if (p != NULL) memcpy(p, s, n);
  return p;
}

char* sl__strndup(const char* s, size_t n) {
  char* p = sl__malloc(n + 1);
  if (p == NULL) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char* sl__vasprintf(const char* fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) return NULL;
  char* p = sl__malloc((size_t)n + 1);
  if (p != NULL) vsnprintf(p, (size_t)n + 1, fmt, ap);
  return p;
}

char* sl__asprintf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char* p = sl__vasprintf(fmt, ap);
  va_end(ap);
  return p;
}

void sl__assert_fail(const char* expr, const char* file, int line) {
  fprintf(stderr, "sluice: assertion failed: %s (%s:%d)\n", expr, file, line);
  fflush(stderr);
  abort();
}

/* --- errors -------------------------------------------------------------- */

/* 1 if libuv has static strings for `err`. Its uv_strerror/uv_err_name
 * return a leaked malloc'd "Unknown system error N" for any other code, so
 * they are only called for codes this says it knows. */
static int uv_knows(int err) {
  char buf[48];
  if (err >= 0 || err <= -4096) return 0;
  uv_err_name_r(err, buf, sizeof buf);
  return strncmp(buf, "Unknown system error", 20) != 0;
}

const char* sl_strerror(int err) {
  switch (err) {
#define SL__OWN_(name, val, msg) \
  case val:                      \
    return msg;
    SL_OWN_ERRORS(SL__OWN_)
#undef SL__OWN_
    case SL_ECHILD: /* in our table, not in libuv's */
      return "no child processes";
  }
  return uv_knows(err) ? uv_strerror(err) : "unknown error";
}

const char* sl_err_name(int err) {
  switch (err) {
#define SL__OWN_(name, val, msg) \
  case val:                      \
    return #name;
    SL_OWN_ERRORS(SL__OWN_)
#undef SL__OWN_
#define SL__ERR_(name, val) \
  case val:                 \
    return #name;
    SL_ERRNO_MAP(SL__ERR_)
#undef SL__ERR_
  }
  return uv_knows(err) ? uv_err_name(err) : "UNKNOWN";
}

char* sl__verrmsg(int err, const char* fmt, va_list ap) {
  char* ctx = fmt ? sl__vasprintf(fmt, ap) : NULL;
  char* msg;
  if (ctx != NULL && ctx[0] != '\0')
    msg = sl__asprintf("%s: %s, %s", sl_err_name(err), sl_strerror(err), ctx);
  else
    msg = sl__asprintf("%s: %s", sl_err_name(err), sl_strerror(err));
  sl__free(ctx);
  return msg;
}

char* sl__errmsg(int err, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char* msg = sl__verrmsg(err, fmt, ap);
  va_end(ap);
  return msg;
}

char* sl__errmsg_sys(int err, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char* sys = sl__vasprintf(fmt, ap);
  va_end(ap);
  char* msg = sys ? sl__asprintf("%s %s", sys, sl_err_name(err)) : NULL;
  sl__free(sys);
  return msg;
}

/* --- loop and deferred queue -------------------------------------------- */

/* The deferred queue and the two handles that run it. */
static struct {
  int idle_init;
  int idle_on; /* the idle handle is started (mirrors uv_is_active) */
  uv_idle_t idle;
  uv_check_t check;
  sl__queue_t ticks;
} ticker;

uv_loop_t* sl__loop(void) { return uv_default_loop(); }
uv_loop_t* sl_loop(void) { return uv_default_loop(); }

/* Runs pending ticks, including those scheduled meanwhile, for a bounded
 * number of rounds so that a tick that keeps rescheduling itself cannot starve
 * I/O. Called after each poll phase (check handle) and, while ticks are
 * pending, before the next poll (idle handle, which also keeps the poll from
 * blocking). */
static void run_ticks(void) {
  if (!ticker.idle_init) return; /* nothing was ever scheduled */
  for (int round = 0; round < 64 && !sl__queue_empty(&ticker.ticks); round++) {
    sl__queue_t batch;
    batch.next = ticker.ticks.next;
    batch.prev = ticker.ticks.prev;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    sl__queue_init(&ticker.ticks);
    while (!sl__queue_empty(&batch)) {
      sl__queue_t* q = batch.next;
      sl__queue_remove(q);
      sl__tick_t* t = sl__container_of(q, sl__tick_t, node);
      t->pending = 0;
      t->fn(t);
    }
  }
  if (sl__queue_empty(&ticker.ticks) && ticker.idle_on) {
    uv_idle_stop(&ticker.idle);
    ticker.idle_on = 0;
  }
}

static void on_idle(uv_idle_t* h) { run_ticks(); }
static void on_check(uv_check_t* h) { run_ticks(); }

static void ticks_init(void) {
  if (ticker.idle_init) return;
  sl__queue_init(&ticker.ticks);
  uv_idle_init(sl__loop(), &ticker.idle);
  uv_check_init(sl__loop(), &ticker.check);
  uv_check_start(&ticker.check, on_check);
  uv_unref((uv_handle_t*)&ticker.check);
  ticker.idle_init = 1;
}

void sl__tick_init(sl__tick_t* t, void (*fn)(sl__tick_t* t)) {
  sl__queue_init(&t->node);
  t->fn = fn;
  t->pending = 0;
}

void sl__tick_schedule(sl__tick_t* t) {
  if (t->pending) return;
  ticks_init();
  t->pending = 1;
  sl__queue_insert_tail(&ticker.ticks, &t->node);
  if (!ticker.idle_on) {
    uv_idle_start(&ticker.idle, on_idle);
    ticker.idle_on = 1;
  }
}

void sl__tick_cancel(sl__tick_t* t) {
  if (!t->pending) return;
  sl__queue_remove(&t->node);
  t->pending = 0;
}

typedef struct {
  sl__tick_t tick;
  sl_defer_cb cb;
  void* arg;
} defer_t;

static void defer_run(sl__tick_t* t) {
  defer_t* d = sl__container_of(t, defer_t, tick);
  sl_defer_cb cb = d->cb;
  void* arg = d->arg;
  sl__free(d);
  cb(arg);
}

int sl_defer(sl_defer_cb cb, void* arg) {
  defer_t* d = sl__malloc(sizeof *d);
  if (d == NULL) return SL_ENOMEM;
  sl__tick_init(&d->tick, defer_run);
  d->cb = cb;
  d->arg = arg;
  sl__tick_schedule(&d->tick);
  return 0;
}

static int exit_code;

void sl_set_exit_code(int code) { exit_code = code & 0xff; }
int sl_exit_code(void) { return exit_code; }

int sl_report(int err, const char* message) {
  /* One failure often reaches several owners (both pipelines around a child
   * that could not start): the same line twice in a row is written once. */
  static char last[256];
  if (err == 0) return 0;
  char line[256];
  if (message != NULL)
    snprintf(line, sizeof line, "%s", message);
  else
    snprintf(line, sizeof line, "%s: %s", sl_err_name(err), sl_strerror(err));
  if (strcmp(line, last) != 0) {
    fprintf(stderr, "%s\n", message != NULL ? message : line);
    fflush(stderr);
    memcpy(last, line, sizeof last);
  }
  sl_set_exit_code(1);
  return err;
}

void sl__ignore_sigpipe(void) {
  static int done;
  if (done) return;
  done = 1;
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
  }
}

int sl_run(void) {
  sl__ignore_sigpipe();
  run_ticks(); /* as nextTick: what the program deferred goes before timers */
  int rc = uv_run(sl__loop(), UV_RUN_DEFAULT);
  return rc < 0 ? 1 : exit_code;
}

void sl_stop(void) { uv_stop(sl__loop()); }

static void count_handle(uv_handle_t* h, void* arg) {
  int ours =
      h == (uv_handle_t*)&ticker.idle || h == (uv_handle_t*)&ticker.check;
  if (!ours && !uv_is_closing(h)) ++*(int*)arg;
}

/* Checks first and changes nothing when busy, so a caller can stop what is
 * still open and call again. Handles already closing (a stopped timer) are
 * not "open": one non-blocking loop turn finishes them, and runs nothing
 * else because nothing else is active. */
int sl_loop_close(void) {
  uv_loop_t* loop = sl__loop();
  if (ticker.idle_init && !sl__queue_empty(&ticker.ticks)) return SL_EBUSY;
  if (loop->active_reqs.count != 0) return SL_EBUSY;
  int open = 0;
  uv_walk(loop, count_handle, &open);
  if (open != 0) return SL_EBUSY;
  if (ticker.idle_init) {
    uv_close((uv_handle_t*)&ticker.idle, NULL);
    ticker.idle_on = 0;
    uv_close((uv_handle_t*)&ticker.check, NULL);
    ticker.idle_init = 0;
  }
  uv_run(loop, UV_RUN_NOWAIT);
  int rc = uv_loop_close(loop);
  return rc == UV_EBUSY ? SL_EBUSY : rc;
}

/* --- timers ------------------------------------------------------------- */

struct sl_timer_s {
  uv_timer_t h;
  sl_timer_cb cb;
  void* arg;
  int in_cb;
  int stopped;
};

static void timer_close_cb(uv_handle_t* h) { sl__free(h->data); }

static void timer_fire(uv_timer_t* h) {
  sl_timer_t* t = h->data;
  int oneshot = uv_timer_get_repeat(h) == 0;
  t->in_cb = 1;
  t->cb(t, t->arg);
  t->in_cb = 0;
  if ((oneshot || t->stopped) && !uv_is_closing((uv_handle_t*)h))
    uv_close((uv_handle_t*)h, timer_close_cb);
  /* As Node: what a timer callback deferred runs before the next timer. */
  run_ticks();
}

void sl__timer_unref(sl_timer_t* t) { uv_unref((uv_handle_t*)&t->h); }

sl_timer_t* sl_timer_start(uint64_t timeout_ms, uint64_t repeat_ms,
                           sl_timer_cb cb, void* arg) {
  sl_timer_t* t = sl__calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  uv_timer_init(sl__loop(), &t->h);
  t->h.data = t;
  t->cb = cb;
  t->arg = arg;
  uv_timer_start(&t->h, timer_fire, timeout_ms, repeat_ms);
  return t;
}

void sl_timer_stop(sl_timer_t* t) {
  if (t == NULL || t->stopped) return;
  t->stopped = 1;
  uv_timer_stop(&t->h);
  if (!t->in_cb) uv_close((uv_handle_t*)&t->h, timer_close_cb);
}

void sl_timer_unref(sl_timer_t* t) {
  if (t != NULL && !t->stopped) uv_unref((uv_handle_t*)&t->h);
}

void sl_timer_ref(sl_timer_t* t) {
  if (t != NULL && !t->stopped) uv_ref((uv_handle_t*)&t->h);
}

uint64_t sl_hrtime(void) { return uv_hrtime(); }
uint64_t sl_now_ms(void) { return uv_hrtime() / 1000000u; }

uint64_t sl_peak_rss(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return (uint64_t)ru.ru_maxrss * 1024u;
}

uint64_t sl_rss(void) {
  char buf[128];
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long long size, res;
  if (sscanf(buf, "%llu %llu", &size, &res) != 2) return 0;
  return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}
