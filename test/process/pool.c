/* The worker pool over forked entries of the test binary: results, the
 * bounded queue, timeouts and crashes that replace the worker and fail only
 * their task, counters, and both ways of closing. */
#define _GNU_SOURCE
#include <unistd.h>

#include "test.h"

/* --- the worker entry ----------------------------------------------------- */

static void worker_reply(sl_timer_t* t, void* arg) {
  sl_channel_send(sl_parent(), "{\"slept\":true}", 14, -1);
}

static void worker_msg(sl_channel_t* ch, const sl_child_event_t* ev,
                       void* arg) {
  const char* d = ev->msg->data;
  size_t n = ev->msg->len;
  int64_t v;
  char out[128];
  if (sl_json_get_int(d, n, "sum", &v) == 0) {
    int64_t s = 0;
    for (int64_t i = 0; i < v; i++) s += i;
    snprintf(out, sizeof out, "{\"result\":%lld,\"pid\":%d}", (long long)s,
             (int)getpid());
    sl_channel_send(ch, out, strlen(out), -1);
  } else if (sl_json_get_int(d, n, "sleep", &v) == 0) {
    sl_timer_start((uint64_t)v, 0, worker_reply, NULL);
  } else if (sl_json_get_int(d, n, "crash", &v) == 0) {
    _exit((int)v);
  } else {
    sl_channel_send(ch, d, n, -1);
  }
}

SL_ENTRY(pool_worker) {
  sl_channel_t* p = sl_parent();
  if (p == NULL) return 99;
  sl_channel_on(p, SL_CHANNEL_MESSAGE, worker_msg, NULL);
  sl_run();
  return 0;
}

/* --- the pool side ------------------------------------------------------ */

typedef struct {
  int done, ok, timedout, crashed, cancelled, other;
  int64_t results[64];
  int closed;
} tally_t;

typedef struct {
  tally_t* t;
  int index;
} task_arg_t;

static task_arg_t args[64];

/* When set, the pool is closed (after a stats snapshot) once this many
 * tasks have finished, whichever finishes last. */
static void maybe_close(tally_t* t);

static void on_task(int err, const sl_message_t* r, void* arg) {
  task_arg_t* a = arg;
  tally_t* t = a->t;
  t->done++;
  switch (err) {
    case 0:
      t->ok++;
      if (sl_json_get_int(r->data, r->len, "result", &t->results[a->index]))
        t->results[a->index] = -2;
      break;
    case SL_ETIMEDOUT:
      t->timedout++;
      break;
    case SL_ECHILD:
      t->crashed++;
      break;
    case SL_ECANCELED:
      t->cancelled++;
      break;
    default:
      t->other++;
      break;
  }
  maybe_close(t);
}

static void on_closed(void* arg) { ((tally_t*)arg)->closed++; }

static int submit(sl_pool_t* p, tally_t* t, int i, const char* fmt, long v) {
  char buf[64];
  snprintf(buf, sizeof buf, fmt, v);
  args[i].t = t;
  args[i].index = i;
  t->results[i] = -1;
  return sl_pool_submit(p, buf, strlen(buf), on_task, &args[i]);
}

static sl_pool_t* make_pool(int workers, size_t queue_max, uint64_t to) {
  sl_pool_opts_t o = {.workers = workers,
                      .queue_max = queue_max,
                      .task_timeout_ms = to,
                      .entry = "pool_worker"};
  sl_pool_t* p;
  ASSERT_EQ(sl_pool_new(&o, &p), 0);
  return p;
}

TEST(pool_results) {
  tally_t t = {0};
  sl_pool_t* p = make_pool(3, 0, 0);
  for (int i = 0; i < 40; i++)
    ASSERT_EQ(submit(p, &t, i, "{\"sum\":%ld}", 1000L * i), 0);
  sl_pool_stats_t st;
  sl_pool_stats(p, &st);
  ASSERT_EQ(st.workers, 3);
  ASSERT_EQ(st.idle, 0);
  ASSERT_EQ(st.queued, 37);
  ASSERT_EQ(t.done, 0); /* nothing runs inside submit */
  sl_pool_close(p, 0, on_closed, &t);
  ASSERT_EQ(sl_pool_submit(p, "1", 1, on_task, &args[0]), SL_EINVAL);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(t.closed, 1);
  ASSERT_EQ(t.ok, 40);
  for (int i = 0; i < 40; i++) {
    int64_t n = 1000LL * i;
    ASSERT_EQ(t.results[i], n * (n - 1) / 2);
  }
}

TEST(pool_full_queue) {
  tally_t t = {0};
  sl_pool_t* p = make_pool(1, 2, 0);
  ASSERT_EQ(submit(p, &t, 0, "{\"sleep\":%ld}", 100), 0); /* to the worker */
  ASSERT_EQ(submit(p, &t, 1, "{\"sum\":%ld}", 10), 0);    /* waits */
  ASSERT_EQ(submit(p, &t, 2, "{\"sum\":%ld}", 20), 0);    /* waits */
  ASSERT_EQ(submit(p, &t, 3, "{\"sum\":%ld}", 30), SL_EFULL);
  ASSERT_EQ(sl_pool_submit(p, "{bad", 4, on_task, &args[4]), SL_EINVAL);
  sl_pool_close(p, 0, on_closed, &t);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(t.ok, 3);
  ASSERT_EQ(t.results[2], 190);
  ASSERT_EQ(t.closed, 1);
}

/* The timeout kills the worker; the next task runs on its replacement. */
typedef struct {
  sl_pool_t* p;
  tally_t* t;
  sl_pool_stats_t st;
} chain_t;

static chain_t* g_chain;
static int g_expected;

static void maybe_close(tally_t* t) {
  chain_t* c = g_chain;
  if (c == NULL || c->t != t || t->done != g_expected) return;
  sl_pool_stats(c->p, &c->st);
  sl_pool_close(c->p, 0, on_closed, c->t);
}

static void last_done(int err, const sl_message_t* r, void* arg) {
  on_task(err, r, &args[1]);
}

/* The first task fails; the next one is submitted from its callback. */
static void first_failed(int err, const sl_message_t* r, void* arg) {
  chain_t* c = arg;
  c->t->done++;
  if (err == SL_ETIMEDOUT) c->t->timedout++;
  if (err == SL_ECHILD) c->t->crashed++;
  args[1] = (task_arg_t){c->t, 1};
  c->t->results[1] = -1;
  ASSERT_EQ(sl_pool_submit(c->p, "{\"sum\":100}", 11, last_done, c), 0);
}

TEST(pool_timeout_replaces_worker) {
  tally_t t = {0};
  chain_t c = {make_pool(1, 0, 300), &t, {0}};
  g_chain = &c;
  g_expected = 2;
  ASSERT_EQ(sl_pool_submit(c.p, "{\"sleep\":20000}", 15, first_failed, &c), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(t.timedout, 1);
  ASSERT_EQ(t.ok, 1);
  ASSERT_EQ(t.results[1], 4950);
  ASSERT_EQ(t.closed, 1);
  ASSERT_EQ(c.st.timed_out, 1);
  ASSERT_EQ(c.st.replaced, 1);
  ASSERT_EQ(c.st.workers, 1);
}

TEST(pool_crash_fails_only_its_task) {
  tally_t t = {0};
  chain_t c = {make_pool(2, 0, 0), &t, {0}};
  g_chain = &c;
  g_expected = 10;
  for (int i = 2; i < 10; i++)
    ASSERT_EQ(submit(c.p, &t, i, "{\"sum\":%ld}", i), 0);
  ASSERT_EQ(sl_pool_submit(c.p, "{\"crash\":3}", 11, first_failed, &c), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(t.crashed, 1);
  ASSERT_EQ(t.ok, 9);
  ASSERT_EQ(t.results[1], 4950);
  ASSERT_EQ(c.st.crashed, 1);
  ASSERT_EQ(c.st.replaced, 1);
  ASSERT_EQ(c.st.completed, 9);
  ASSERT_EQ(c.st.failed, 1);
  ASSERT_EQ(c.st.workers, 2);
  ASSERT(c.st.run_ns_total > 0);
}

TEST(pool_close_cancel) {
  tally_t t = {0};
  sl_pool_t* p = make_pool(1, 0, 0);
  ASSERT_EQ(submit(p, &t, 0, "{\"sleep\":%ld}", 200), 0);
  for (int i = 1; i < 6; i++)
    ASSERT_EQ(submit(p, &t, i, "{\"sum\":%ld}", i), 0);
  sl_pool_close(p, 1, on_closed, &t);
  ASSERT_EQ(t.cancelled, 0); /* failed from the loop, not inside close */
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(t.cancelled, 5);
  ASSERT_EQ(t.ok, 1); /* the running task finished */
  ASSERT_EQ(t.closed, 1);
}

/* A timeout and a crash in the same run: each fails only its own task, the
 * counters add up, and both slots are filled again. */
TEST(pool_timeout_and_crash_accounting) {
  tally_t t = {0};
  chain_t c = {make_pool(2, 0, 400), &t, {0}};
  g_chain = &c;
  g_expected = 12;
  ASSERT_EQ(submit(c.p, &t, 0, "{\"sleep\":%ld}", 20000), 0);
  ASSERT_EQ(submit(c.p, &t, 1, "{\"crash\":%ld}", 5), 0);
  for (int i = 2; i < 12; i++)
    ASSERT_EQ(submit(c.p, &t, i, "{\"sum\":%ld}", i), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(t.closed, 1);
  ASSERT_EQ(t.timedout, 1);
  ASSERT_EQ(t.crashed, 1);
  ASSERT_EQ(t.ok, 10);
  for (int i = 2; i < 12; i++)
    ASSERT_EQ(t.results[i], (int64_t)i * (i - 1) / 2);
  ASSERT_EQ(c.st.submitted, 12);
  ASSERT_EQ(c.st.completed, 10);
  ASSERT_EQ(c.st.failed, 2);
  ASSERT_EQ(c.st.timed_out, 1);
  ASSERT_EQ(c.st.crashed, 1);
  ASSERT_EQ(c.st.replaced, 2);
  ASSERT_EQ(c.st.workers, 2);
  ASSERT_EQ(c.st.idle, 2);
  ASSERT_EQ(c.st.queued, 0);
}

/* --- workers that cannot run -------------------------------------------- */

/* A missing or non-executable program: sl_pool_new says so, with the
 * code, instead of returning a pool that respawns it for ever. */
TEST(pool_missing_executable_fails) {
  sl_pool_t* p = NULL;
  sl_pool_opts_t o = {.workers = 2, .file = "/nonexistent/sluice-worker"};
  ASSERT_EQ(sl_pool_new(&o, &p), SL_ENOENT);
  ASSERT(p == NULL);
  o.file = "sluice-no-such-worker-program"; /* searched in PATH */
  ASSERT_EQ(sl_pool_new(&o, &p), SL_ENOENT);
  const char* path = sl_test_path("not-executable.sh");
  sl_test_write_file(path, "#!/bin/sh\n", 10);
  o.file = path;
  ASSERT_EQ(sl_pool_new(&o, &p), SL_EACCES);
  ASSERT(p == NULL);
  sl_pool_opts_t e = {.workers = 1, .entry = "no_such_pool_entry"};
  ASSERT_EQ(sl_pool_new(&e, &p), SL_ENOENT);
  ASSERT(p == NULL);
  ASSERT_EQ(sl_run(), 0);
}

/* Bad options get a code, never an assertion. */
TEST(pool_bad_options) {
  sl_pool_t* p = NULL;
  ASSERT_EQ(sl_pool_new(NULL, &p), SL_EINVAL);
  sl_pool_opts_t both = {.entry = "pool_worker", .file = "/bin/true"};
  ASSERT_EQ(sl_pool_new(&both, &p), SL_EINVAL);
  sl_pool_opts_t neg = {.workers = -1, .entry = "pool_worker"};
  ASSERT_EQ(sl_pool_new(&neg, &p), SL_EINVAL);
  sl_pool_opts_t many = {.workers = 1 << 20, .entry = "pool_worker"};
  ASSERT_EQ(sl_pool_new(&many, &p), SL_EINVAL);
  sl_pool_opts_t ser = {.entry = "pool_worker",
                        .serialization = (sl_ipc_mode_t)7};
  ASSERT_EQ(sl_pool_new(&ser, &p), SL_EINVAL);
  ASSERT(p == NULL);
  tally_t t = {0};
  p = make_pool(1, 0, 0);
  ASSERT_EQ(sl_pool_submit(p, "1", 1, NULL, NULL), SL_EINVAL);
  sl_pool_close(p, 0, on_closed, &t);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(t.closed, 1);
}

/* A worker that exits at once (here: a program that is not a worker at
 * all) is replaced after a growing delay, not in a tight loop, and the
 * pool gives up with an error naming it; waiting tasks fail, later
 * submits are refused. */
typedef struct {
  int calls, err;
  char msg[256];
  sl_pool_t* p;
  tally_t* t;
} giveup_t;

static void on_pool_error(int err, const char* msg, void* arg) {
  giveup_t* g = arg;
  g->calls++;
  g->err = err;
  snprintf(g->msg, sizeof g->msg, "%s", msg);
  ASSERT_EQ(sl_pool_submit(g->p, "1", 1, on_task, &args[9]), SL_ECHILD);
  sl_pool_close(g->p, 0, on_closed, g->t);
}

TEST(pool_gives_up_on_workers_dying_at_start) {
  tally_t t = {0};
  giveup_t g = {.t = &t};
  const char* argv[] = {"sh", "-c", "exit 3", NULL};
  sl_pool_opts_t o = {.workers = 2,
                      .file = "/bin/sh",
                      .argv = argv,
                      .on_error = on_pool_error,
                      .on_error_arg = &g};
  ASSERT_EQ(sl_pool_new(&o, &g.p), 0);
  ASSERT_EQ(submit(g.p, &t, 0, "{\"sum\":%ld}", 10), 0);
  uint64_t t0 = sl_now_ms();
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(g.calls, 1);
  ASSERT_EQ(g.err, SL_ECHILD);
  ASSERT_STR_EQ(g.msg,
                "pool: worker '/bin/sh' died at its start 8 times "
                "in a row (last: exit code 3): giving up");
  ASSERT_EQ(t.done, 1);
  ASSERT_EQ(t.crashed + t.ok, 1);
  ASSERT_EQ(t.closed, 1);
  /* 2 first workers, then 3 rounds of 2 replacements, 100+200+400 ms
   * apart: a tight loop would have given up within a few ms. */
  ASSERT_GE(sl_now_ms() - t0, 700);
}
