/* pipe(), pipeline() and finished(), after Node's test-stream-pipe-*,
 * test-stream-pipeline and test-stream-finished: backpressure counted at
 * every step, unpipe, several destinations, no_end, the pipe/unpipe events,
 * the root-cause error of a pipeline with its stage index, and finished()
 * on every way a stream can end. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stream/stream_test_util.h"

/* A source: one chunk of `chunk` bytes per read hook call, `total` chunks,
 * then EOF; optionally failing after `fail_at` chunks. */
typedef struct {
  sl_stream_t* s;
  int reads, produced, total, fail_at, async;
  size_t chunk, max_len;
} psrc_t;

static void psrc_step(void* arg) {
  psrc_t* p = arg;
  if (p->fail_at && p->produced == p->fail_at) {
    sl_stream_fail(p->s, SL_ENOENT, "open '%s'", "nope.txt");
    return;
  }
  if (p->produced == p->total) {
    sl_stream_push(p->s, NULL);
    return;
  }
  char buf[64];
  memset(buf, 'a' + p->produced++ % 26, p->chunk);
  sl_stream_push_bytes(p->s, buf, p->chunk);
  size_t len = sl_stream_readable_length(p->s);
  if (len > p->max_len) p->max_len = len;
}

static void psrc_read(sl_stream_t* s, size_t n) {
  psrc_t* p = sl_stream_data(s);
  (void)n;
  ASSERT(!in_call);
  p->reads++;
  if (p->async)
    run_later(1, psrc_step, p);
  else
    psrc_step(p);
}

static const sl_stream_hooks_t psrc_hooks = {.read = psrc_read};

static sl_stream_t* psrc_new(psrc_t* p, size_t hwm, size_t chunk, int total) {
  sl_stream_opts_t o = {
      .hooks = &psrc_hooks, .data = p, .high_water_mark = hwm};
  p->chunk = chunk;
  p->total = total;
  p->s = sl_readable_new(&o);
  return p->s;
}

/* A sink completing `hops` rounds later (0: at once), or never; failing
 * with `fail_err` on its `fail_at`-th write. Tracks its buffered length. */
typedef struct {
  sl_stream_t* s;
  evlog_t* log;
  int hops, never, writes, fail_at, fail_err;
  size_t got, max_len;
  sl_chunk_t* held;
} psnk_t;

static void psnk_done(void* arg) {
  psnk_t* k = arg;
  sl_stream_write_done(k->s, 0);
}

static void psnk_write(sl_stream_t* s, sl_chunk_t* c) {
  psnk_t* k = sl_stream_data(s);
  ASSERT(!in_call);
  k->writes++;
  k->got += sl_chunk_len(c);
  size_t len = sl_stream_writable_length(s);
  if (len > k->max_len) k->max_len = len;
  if (k->log)
    log_add(k->log, "w(%.*s)", (int)sl_chunk_len(c), sl_chunk_data(c));
  if (k->fail_at && k->writes == k->fail_at) {
    sl_stream_write_done(s, k->fail_err);
  } else if (k->never) {
    sl_chunk_unref(k->held);
    k->held = sl_chunk_ref(c);
  } else if (k->hops) {
    run_later(k->hops, psnk_done, k);
  } else {
    sl_stream_write_done(s, 0);
  }
}

static const sl_stream_hooks_t psnk_hooks = {.write = psnk_write};

static sl_stream_t* psnk_new(psnk_t* k, size_t hwm, int hops) {
  sl_stream_opts_t o = {
      .hooks = &psnk_hooks, .data = k, .high_water_mark = hwm};
  k->hops = hops;
  k->s = sl_writable_new(&o);
  if (k->log) watch(k->s, k->log);
  return k->s;
}

/* --- pipe ----------------------------------------------------------------- */

TEST(pipe_delivers_and_ends) {
  evlog_t log = {0};
  psrc_t p = {0};
  psnk_t k = {.log = &log};
  sl_stream_t* src = psrc_new(&p, 0, 2, 3);
  sl_stream_t* dst = psnk_new(&k, 0, 1);
  sl_stream_t* rc;
  CALL(rc = sl_stream_pipe(src, dst, NULL));
  ASSERT(rc == dst);
  ASSERT_EQ(log.n, 0);
  sl_run();
  /* The source ends (unpipe) while the sink still writes its last chunk. */
  ASSERT_STR_EQ(log.s, "pipe w(aa) w(bb) unpipe w(cc) finish close");
}

TEST(pipe_backpressure_counts) {
  psrc_t p = {0};
  psnk_t k = {0};
  sl_stream_t* src = psrc_new(&p, 64, 16, 200);
  sl_stream_t* dst = psnk_new(&k, 64, 3);
  sl_stream_ref(src);
  sl_stream_pipe(src, dst, NULL);
  sl_run();
  ASSERT_EQ(k.got, 200 * 16);
  /* The source filled to its mark while the sink was slow, and no
   * further: its read hook ran once per chunk (plus EOF), never more. */
  ASSERT_EQ(p.max_len, 64);
  ASSERT_EQ(p.reads, 201);
  ASSERT_LE(k.max_len, 64 + 16);
  sl_stream_stats_t st;
  sl_stream_stats(src, &st);
  ASSERT_LE(st.max_buffered, 64);
  ASSERT_EQ(st.bytes_read, 200 * 16);
  sl_stream_unref(src);
}

TEST(pipe_unpipe) {
  evlog_t log = {0};
  psnk_t k = {.log = &log};
  sl_stream_t* src = sl_readable_new(NULL);
  sl_stream_t* dst = psnk_new(&k, 0, 0);
  sl_stream_push_bytes(src, "a", 1);
  sl_stream_pipe(src, dst, NULL);
  sl_run();
  ASSERT_STR_EQ(log.s, "pipe w(a)");
  CALL(sl_stream_unpipe(src, dst));
  CALL(sl_stream_push_bytes(src, "b", 1));
  sl_run();
  ASSERT_STR_EQ(log.s, "pipe w(a) unpipe");
  ASSERT(sl_stream_is_paused(src));
  ASSERT_EQ(sl_stream_readable_length(src), 1);
  sl_stream_destroy(src, 0);
  sl_stream_end(dst, NULL, NULL, NULL);
  sl_run();
  ASSERT_STR_EQ(log.s, "pipe w(a) unpipe finish close");
}

TEST(pipe_unpipe_all) {
  psnk_t a = {0}, b = {0};
  sl_stream_t* src = sl_readable_new(NULL);
  sl_stream_t* d1 = psnk_new(&a, 0, 0);
  sl_stream_t* d2 = psnk_new(&b, 0, 0);
  sl_stream_pipe(src, d1, NULL);
  sl_stream_pipe(src, d2, NULL);
  sl_stream_push_bytes(src, "a", 1);
  sl_run();
  sl_stream_unpipe(src, NULL);
  sl_stream_push_bytes(src, "b", 1);
  sl_run();
  ASSERT_EQ(a.got, 1);
  ASSERT_EQ(b.got, 1);
  sl_stream_destroy(src, 0);
  sl_stream_end(d1, NULL, NULL, NULL);
  sl_stream_end(d2, NULL, NULL, NULL);
  sl_run();
}

/* Two destinations: the slower one governs the source. */
static psnk_t *gov_fast, *gov_slow;
static size_t gov_max_lead;
static void gov_check(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  (void)ev;
  (void)arg;
  size_t lead = gov_fast->got - gov_slow->got;
  if (lead > gov_max_lead) gov_max_lead = lead;
}

TEST(pipe_two_destinations_slower_governs) {
  psrc_t p = {0};
  psnk_t fast = {0}, slow = {0};
  gov_fast = &fast;
  gov_slow = &slow;
  sl_stream_t* src = psrc_new(&p, 20, 10, 100);
  sl_stream_t* d1 = psnk_new(&fast, 20, 0);
  sl_stream_t* d2 = psnk_new(&slow, 20, 5);
  sl_stream_pipe(src, d1, NULL);
  sl_stream_pipe(src, d2, NULL);
  sl_stream_on(src, SL_EV_DATA, gov_check, NULL);
  sl_run();
  ASSERT_EQ(fast.got, 1000);
  ASSERT_EQ(slow.got, 1000);
  /* The fast sink is never more than the slow sink's buffer ahead. */
  ASSERT_LE(gov_max_lead, 20 + 10);
  ASSERT_LE(slow.max_len, 20 + 10);
  ASSERT_LE(p.max_len, 20);
}

/* When one of two destinations closes while the source waits for its
 * drain, the source resumes for the other (Node's pipe cleanup). */
static void destroy_later(void* arg) { sl_stream_destroy(arg, 0); }

TEST(pipe_destination_closed_while_awaiting_drain) {
  psrc_t p = {0};
  psnk_t ok = {0}, stuck = {.never = 1};
  sl_stream_t* src = psrc_new(&p, 8, 4, 50);
  sl_stream_t* d1 = psnk_new(&ok, 8, 0);
  sl_stream_t* d2 = psnk_new(&stuck, 8, 0);
  sl_stream_pipe(src, d1, NULL);
  sl_stream_pipe(src, d2, NULL);
  run_later(20, destroy_later, d2);
  sl_run();
  ASSERT_EQ(ok.got, 200);
  ASSERT_LT(stuck.got, 200);
  sl_chunk_unref(stuck.held);
}

/* As Node's unpipe on the destination's close: a source left with no pipe
 * pauses, so what it produces afterwards stays buffered for the next
 * consumer instead of being dropped with nobody listening. */
static void push_b_on_close(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  (void)ev;
  sl_stream_push_bytes(arg, "b", 1);
}

TEST(pipe_destination_closed_pauses_source) {
  psnk_t k = {0}, k2 = {0};
  sl_stream_t* src = sl_readable_new(NULL);
  sl_stream_t* d1 = psnk_new(&k, 0, 0);
  sl_stream_push_bytes(src, "a", 1);
  sl_stream_pipe(src, d1, NULL);
  sl_stream_on(d1, SL_EV_CLOSE, push_b_on_close, src);
  run_later(5, destroy_later, d1);
  sl_run();
  ASSERT_EQ(k.got, 1);
  ASSERT(sl_stream_is_paused(src));
  ASSERT_EQ(sl_stream_readable_length(src), 1);
  sl_stream_t* d2 = sl_stream_ref(psnk_new(&k2, 0, 0));
  sl_stream_pipe(src, d2, NULL);
  sl_stream_push(src, NULL);
  sl_run();
  ASSERT_EQ(k2.got, 1);
  ASSERT(sl_stream_writable_finished(d2));
  sl_stream_unref(d2);
}

TEST(pipe_no_end) {
  evlog_t log = {0};
  psrc_t p = {0};
  psnk_t k = {.log = &log};
  sl_stream_t* src = psrc_new(&p, 0, 1, 2);
  sl_stream_t* dst = psnk_new(&k, 0, 0);
  sl_pipe_opts_t o = {.no_end = 1};
  sl_stream_pipe(src, dst, &o);
  sl_run();
  ASSERT_STR_EQ(log.s, "pipe w(a) w(b) unpipe");
  ASSERT(sl_stream_is_writable(dst));
  sl_stream_write_str(dst, "c");
  sl_stream_end(dst, NULL, NULL, NULL);
  sl_run();
  ASSERT_STR_EQ(log.s, "pipe w(a) w(b) unpipe w(c) finish close");
}

TEST(pipe_from_ended_source_ends_destination) {
  evlog_t log = {0};
  psnk_t k = {.log = &log};
  sl_stream_opts_t o = {.no_auto_destroy = 1};
  sl_stream_t* src = sl_readable_new(&o);
  sl_stream_push(src, NULL);
  sl_stream_resume(src);
  sl_run();
  ASSERT(sl_stream_ended(src));
  sl_stream_t* dst = psnk_new(&k, 0, 0);
  CALL(sl_stream_pipe(src, dst, NULL));
  sl_run();
  ASSERT(strstr(log.s, "finish close") != NULL);
  sl_stream_destroy(src, 0);
  sl_run();
}

/* --- pipeline ------------------------------------------------------------- */

typedef struct {
  int calls, err, stage;
  char msg[256];
  sl_stream_t* st[4];
  int n;
  int all_closed;
} plres_t;

static void pl_cb(int err, const sl_pipeline_result_t* pr, void* arg) {
  plres_t* r = arg;
  ASSERT(!in_call);
  r->calls++;
  r->err = err;
  r->stage = pr->stage;
  snprintf(r->msg, sizeof r->msg, "%s", pr->message ? pr->message : "(null)");
  r->all_closed = 1;
  for (int i = 0; i < r->n; i++)
    if (!sl_stream_closed(r->st[i])) r->all_closed = 0;
}

static void pl_keep(plres_t* r, sl_stream_t* s) {
  r->st[r->n++] = sl_stream_ref(s);
}

static void pl_release(plres_t* r) {
  for (int i = 0; i < r->n; i++) sl_stream_unref(r->st[i]);
}

TEST(pipeline_success_once) {
  psrc_t p = {.async = 1};
  psnk_t k = {0};
  plres_t r = {0};
  sl_stream_t* a = psrc_new(&p, 0, 3, 10);
  sl_stream_t* b = sl_passthrough_new(NULL);
  sl_stream_t* c = psnk_new(&k, 0, 2);
  pl_keep(&r, a);
  pl_keep(&r, b);
  pl_keep(&r, c);
  int rc;
  CALL(rc = sl_pipeline(pl_cb, &r, a, b, c));
  ASSERT_EQ(rc, 0);
  sl_run();
  ASSERT_EQ(r.calls, 1);
  ASSERT_EQ(r.err, 0);
  ASSERT_EQ(r.stage, -1);
  ASSERT_STR_EQ(r.msg, "(null)");
  ASSERT(r.all_closed);
  ASSERT_EQ(k.got, 30);
  for (int i = 0; i < 3; i++) ASSERT_EQ(sl_stream_error(r.st[i]), 0);
  pl_release(&r);
}

/* sl_pipeline() takes any number of stages, as sl_pipelinev() does: none
 * past the 64th may be dropped silently. */
#define PT2  sl_passthrough_new(NULL), sl_passthrough_new(NULL)
#define PT8  PT2, PT2, PT2, PT2
#define PT32 PT8, PT8, PT8, PT8

TEST(pipeline_many_stages) {
  psrc_t p = {.async = 1};
  psnk_t k = {0};
  plres_t r = {0};
  sl_stream_t* a = psrc_new(&p, 0, 3, 10);
  sl_stream_t* z = psnk_new(&k, 0, 1);
  pl_keep(&r, a);
  pl_keep(&r, z);
  int rc = sl_pipeline(pl_cb, &r, a, PT32, PT32, PT2, z); /* 68 */
  ASSERT_EQ(rc, 0);
  sl_run();
  ASSERT_EQ(r.calls, 1);
  ASSERT_EQ(r.err, 0);
  ASSERT_EQ(k.got, 30);
  ASSERT(sl_stream_writable_finished(z));
  pl_release(&r);
}

TEST(pipeline_error_first_stage) {
  psrc_t p = {.async = 1, .fail_at = 3};
  psnk_t k = {0};
  plres_t r = {0};
  sl_stream_t* a = psrc_new(&p, 0, 3, 10);
  sl_stream_t* b = sl_passthrough_new(NULL);
  sl_stream_t* c = psnk_new(&k, 0, 2);
  pl_keep(&r, a);
  pl_keep(&r, b);
  pl_keep(&r, c);
  sl_pipeline(pl_cb, &r, a, b, c);
  sl_run();
  ASSERT_EQ(r.calls, 1);
  ASSERT_EQ(r.err, SL_ENOENT);
  ASSERT_EQ(r.stage, 0);
  ASSERT_STR_EQ(r.msg, "ENOENT: no such file or directory, open 'nope.txt'");
  ASSERT(r.all_closed);
  ASSERT(!sl_stream_writable_finished(c)); /* destroyed, not finished */
  pl_release(&r);
}

static void fail_bad(sl_stream_t* s, sl_chunk_t* c) {
  if (sl_chunk_len(c) && sl_chunk_data(c)[0] == 'c') {
    sl_stream_fail(s, SL_EINVAL, "transform chunk %d", 3);
    return;
  }
  sl_stream_push(s, c);
  sl_stream_write_done(s, 0);
}

TEST(pipeline_error_middle_stage) {
  static const sl_stream_hooks_t h = {.transform = fail_bad};
  psrc_t p = {.async = 1};
  psnk_t k = {0};
  plres_t r = {0};
  sl_stream_opts_t o = {.hooks = &h};
  sl_stream_t* a = psrc_new(&p, 0, 3, 10);
  sl_stream_t* b = sl_transform_new(&o);
  sl_stream_t* c = psnk_new(&k, 0, 2);
  pl_keep(&r, a);
  pl_keep(&r, b);
  pl_keep(&r, c);
  sl_pipeline(pl_cb, &r, a, b, c);
  sl_run();
  ASSERT_EQ(r.calls, 1);
  ASSERT_EQ(r.err, SL_EINVAL);
  ASSERT_EQ(r.stage, 1);
  ASSERT_STR_EQ(r.msg, "EINVAL: invalid argument, transform chunk 3");
  ASSERT(r.all_closed);
  ASSERT_EQ(k.got, 6);
  pl_release(&r);
}

TEST(pipeline_error_last_stage) {
  psrc_t p = {0};
  psnk_t k = {.fail_at = 2, .fail_err = SL_ENOSPC};
  plres_t r = {0};
  sl_stream_t* a = psrc_new(&p, 0, 3, 10);
  sl_stream_t* b = sl_passthrough_new(NULL);
  sl_stream_t* c = psnk_new(&k, 0, 1);
  pl_keep(&r, a);
  pl_keep(&r, b);
  pl_keep(&r, c);
  sl_pipeline(pl_cb, &r, a, b, c);
  sl_run();
  ASSERT_EQ(r.calls, 1);
  ASSERT_EQ(r.err, SL_ENOSPC);
  ASSERT_EQ(r.stage, 2);
  ASSERT_STR_EQ(r.msg, "ENOSPC: no space left on device");
  ASSERT(r.all_closed);
  ASSERT(p.produced < 10); /* the source was stopped early */
  pl_release(&r);
}

TEST(pipeline_premature_close) {
  psrc_t p = {.async = 1};
  psnk_t k = {0};
  plres_t r = {0};
  sl_stream_t* a = psrc_new(&p, 0, 3, 1000);
  sl_stream_t* b = sl_passthrough_new(NULL);
  sl_stream_t* c = psnk_new(&k, 0, 1);
  pl_keep(&r, a);
  pl_keep(&r, b);
  pl_keep(&r, c);
  sl_pipeline(pl_cb, &r, a, b, c);
  run_later(10, destroy_later, b);
  sl_run();
  ASSERT_EQ(r.calls, 1);
  ASSERT_EQ(r.err, SL_EPREMATURECLOSE);
  ASSERT_EQ(r.stage, 1);
  ASSERT_STR_EQ(r.msg, "EPREMATURECLOSE: premature close");
  ASSERT(r.all_closed);
  pl_release(&r);
}

TEST(pipeline_too_few_stages) {
  plres_t r = {0};
  evlog_t log = {0};
  sl_stream_t* a = sl_readable_new(NULL);
  watch(a, &log);
  int rc;
  CALL(rc = sl_pipeline(pl_cb, &r, a));
  ASSERT_EQ(rc, SL_EINVAL);
  ASSERT_EQ(r.calls, 0);
  sl_run();
  ASSERT_EQ(r.calls, 1);
  ASSERT_EQ(r.err, SL_EINVAL);
  ASSERT_EQ(r.stage, -1);
  ASSERT_STR_EQ(log.s, "close"); /* the given stage was destroyed */
  CALL(rc = sl_pipelinev(NULL, 0, pl_cb, &r));
  ASSERT_EQ(rc, SL_EINVAL);
  sl_run();
  ASSERT_EQ(r.calls, 2);
}

TEST(pipeline_null_stage) {
  plres_t r = {0};
  evlog_t la = {0}, lc = {0};
  sl_stream_t* a = sl_readable_new(NULL);
  sl_stream_t* c = sl_writable_new(NULL);
  watch(a, &la);
  watch(c, &lc);
  sl_stream_t* v[3] = {a, NULL, c};
  int rc;
  CALL(rc = sl_pipelinev(v, 3, pl_cb, &r));
  ASSERT_EQ(rc, SL_EINVAL);
  ASSERT_EQ(r.calls, 0);
  sl_run();
  ASSERT_EQ(r.calls, 1);
  ASSERT_EQ(r.err, SL_EINVAL);
  ASSERT_STR_EQ(la.s, "close");
  ASSERT_STR_EQ(lc.s, "close");
}

/* The callback may use every stage: the pipeline's own references keep
 * them until it returns (an upload server read the stats of its request
 * there, after the stages had been freed). The test holds no reference of
 * its own; under ASan a stage freed before the callback is a
 * heap-use-after-free. */
typedef struct {
  sl_stream_t* st[3];
  int calls, err;
  uint64_t read0, written2;
  char names[64];
} pluse_t;

static void pl_use_cb(int err, const sl_pipeline_result_t* pr, void* arg) {
  pluse_t* u = arg;
  u->calls++;
  u->err = err;
  sl_stream_stats_t a, c;
  sl_stream_stats(u->st[0], &a);
  sl_stream_stats(u->st[2], &c);
  u->read0 = a.bytes_read;
  u->written2 = c.bytes_written;
  snprintf(u->names, sizeof u->names, "%s|%s|%s", sl_stream_name(u->st[0]),
           sl_stream_name(u->st[1]), sl_stream_name(u->st[2]));
  for (int i = 0; i < 3; i++) {
    ASSERT(sl_stream_closed(u->st[i]));
    sl_stream_destroy(u->st[i], 0); /* a no-op on a closed stream */
  }
}

TEST(pipeline_callback_can_use_every_stage) {
  psrc_t p = {.async = 1};
  psnk_t k = {0};
  pluse_t u = {0};
  sl_stream_opts_t on = {.name = "middle"};
  u.st[0] = psrc_new(&p, 0, 3, 10);
  u.st[1] = sl_passthrough_new(&on);
  u.st[2] = psnk_new(&k, 0, 1);
  ASSERT_EQ(sl_pipeline(pl_use_cb, &u, u.st[0], u.st[1], u.st[2]), 0);
  sl_run();
  ASSERT_EQ(u.calls, 1);
  ASSERT_EQ(u.err, 0);
  ASSERT_EQ(u.read0, 30);
  ASSERT_EQ(u.written2, 30);
  ASSERT(strstr(u.names, "|middle|") != NULL);
}

TEST(pipeline_callback_can_use_every_stage_on_error) {
  psrc_t p = {.async = 1, .fail_at = 2};
  psnk_t k = {0};
  pluse_t u = {0};
  u.st[0] = psrc_new(&p, 0, 3, 10);
  u.st[1] = sl_passthrough_new(NULL);
  u.st[2] = psnk_new(&k, 0, 1);
  ASSERT_EQ(sl_pipeline(pl_use_cb, &u, u.st[0], u.st[1], u.st[2]), 0);
  sl_run();
  ASSERT_EQ(u.calls, 1);
  ASSERT_EQ(u.err, SL_ENOENT);
  ASSERT_EQ(u.read0, 6);
}

/* A NULL end (a child whose stdin could not be made, a failed
 * constructor) is refused, not dereferenced; both streams are left as
 * they were. */
TEST(pipe_null_arguments) {
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_t* w = sl_writable_new(NULL);
  ASSERT(sl_stream_pipe(r, NULL, NULL) == NULL);
  ASSERT(sl_stream_pipe(NULL, w, NULL) == NULL);
  ASSERT(sl_stream_pipe(NULL, NULL, NULL) == NULL);
  ASSERT(sl_stream_pipe(w, r, NULL) == NULL); /* wrong directions */
  ASSERT(!sl_stream_destroyed(r) && !sl_stream_destroyed(w));
  sl_stream_unpipe(NULL, w);
  sl_stream_destroy(r, 0);
  sl_stream_destroy(w, 0);
  sl_run();
}

TEST(pipeline_null_arguments) {
  plres_t r = {0};
  evlog_t la = {0};
  ASSERT_EQ(sl_pipelinev(NULL, 3, pl_cb, &r), SL_EINVAL);
  sl_stream_t* a = sl_readable_new(NULL);
  sl_stream_t* b = sl_writable_new(NULL);
  watch(a, &la);
  sl_stream_t* v[3] = {a, NULL, b};
  ASSERT_EQ(sl_pipelinev(v, 3, pl_cb, &r), SL_EINVAL); /* a failed stage */
  sl_run();
  ASSERT_EQ(r.calls, 2);
  ASSERT_EQ(r.err, SL_EINVAL);
  ASSERT_STR_EQ(la.s, "close"); /* the stages given were destroyed */
}

/* The sl_pipeline() list is counted, not NULL-terminated: a failed
 * constructor in the middle is an error, and the stages after it are not
 * left behind. */
TEST(pipeline_list_with_failed_stage) {
  plres_t r = {0};
  evlog_t la = {0}, lc = {0};
  sl_stream_t* a = sl_readable_new(NULL);
  sl_stream_t* c = sl_writable_new(NULL);
  watch(a, &la);
  watch(c, &lc);
  ASSERT_EQ(sl_pipeline(pl_cb, &r, a, (sl_stream_t*)NULL, c), SL_EINVAL);
  sl_run();
  ASSERT_EQ(r.calls, 1);
  ASSERT_EQ(r.err, SL_EINVAL);
  ASSERT_STR_EQ(la.s, "close");
  ASSERT_STR_EQ(lc.s, "close");
}

/* Runs fn with stderr going to a file; returns what was written there. */
static char* capture_stderr(void (*fn)(void)) {
  const char* path = sl_test_path("stderr.txt");
  int saved = sl_test_capture_fd(2, path);
  fn();
  return sl_test_capture_end(2, saved, path);
}

static int run_status;

static void copy_missing_no_cb(void) {
  sl_pipeline(NULL, NULL, sl_file_reader(sl_test_path("missing"), NULL),
              sl_file_writer(sl_test_path("out"), NULL));
  run_status = sl_run();
}

/* No callback: an error is reported as Node reports an unhandled one, on
 * stderr with the stage's message, and the exit status becomes 1. */
TEST(pipeline_without_callback_reports_error) {
  char* err = capture_stderr(copy_missing_no_cb);
  ASSERT_EQ(run_status, 1);
  ASSERT(strstr(err, "ENOENT: no such file or directory") != NULL);
  ASSERT(strstr(err, "missing") != NULL);
  free(err);
  sl_set_exit_code(0);
}

static void copy_ok_no_cb(void) {
  sl_test_write_file(sl_test_path("in"), "hello", 5);
  sl_pipeline(NULL, NULL, sl_file_reader(sl_test_path("in"), NULL),
              sl_file_writer(sl_test_path("out"), NULL));
  run_status = sl_run();
}

TEST(pipeline_without_callback_success_is_silent) {
  char* err = capture_stderr(copy_ok_no_cb);
  ASSERT_EQ(run_status, 0);
  ASSERT_STR_EQ(err, "");
  size_t n;
  char* out = sl_test_read_file(sl_test_path("out"), &n);
  ASSERT_EQ(n, 5);
  ASSERT_MEM_EQ(out, "hello", 5);
  free(out);
  free(err);
}

typedef struct {
  uint64_t start;
  char path[32];
  int calls;
} ctx_t;

static ctx_t* ctx_seen;

static void ctx_cb(int err, const sl_pipeline_result_t* pr, void* arg) {
  ctx_t* c = arg;
  ASSERT_EQ(err, 0);
  ASSERT_EQ(pr->stage, -1);
  ASSERT(pr->message == NULL);
  ASSERT_EQ(pr->nstages, 2);
  sl_stream_stats_t st;
  sl_stream_stats(pr->stages[1], &st); /* the writer, still valid */
  ASSERT_EQ(st.bytes_written, 5);
  ASSERT_EQ(c->start, 42);
  ASSERT_STR_EQ(c->path, "/x");
  c->calls++; /* the copy is writable, and ours until we return */
  ctx_seen = c;
}

/* The context is copied (the caller's may go away at once), handed to the
 * callback and freed after it (ASan checks the free). */
TEST(pipeline_ctx_is_held_for_the_callback) {
  sl_test_write_file(sl_test_path("in"), "hello", 5);
  sl_stream_t* v[2] = {sl_file_reader(sl_test_path("in"), NULL),
                       sl_writable_new(NULL)};
  {
    ctx_t local = {.start = 42, .path = "/x"};
    ASSERT_EQ(sl_pipelinev_ctx(v, 2, ctx_cb, &local, sizeof local), 0);
    memset(&local, 0, sizeof local);
  }
  sl_run();
  ASSERT(ctx_seen != NULL);
  ctx_seen = NULL;
  { /* the macro copies sizeof *ctx bytes */
    ctx_t local = {.start = 42, .path = "/x"};
    ASSERT_EQ(sl_pipeline_ctx(ctx_cb, &local,
                              sl_file_reader(sl_test_path("in"), NULL),
                              sl_writable_new(NULL)),
              0);
    memset(&local, 0, sizeof local);
  }
  sl_run();
  ASSERT(ctx_seen != NULL);
}

/* --- finished ------------------------------------------------------------- */

typedef struct {
  int calls, err;
} fin_t;

static void fin_cb(sl_stream_t* s, int err, void* arg) {
  fin_t* f = arg;
  (void)s;
  ASSERT(!in_call);
  f->calls++;
  f->err = err;
}

TEST(pipeline_finished_normal_end) {
  fin_t f = {0}, g = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_t* w = sl_writable_new(NULL);
  sl_stream_push_bytes(r, "x", 1);
  sl_stream_push(r, NULL);
  CALL(sl_stream_finished(r, fin_cb, &f));
  CALL(sl_stream_finished(w, fin_cb, &g));
  sl_stream_resume(r);
  sl_stream_end(w, NULL, NULL, NULL);
  sl_run();
  ASSERT_EQ(f.calls, 1);
  ASSERT_EQ(f.err, 0);
  ASSERT_EQ(g.calls, 1);
  ASSERT_EQ(g.err, 0);
}

TEST(pipeline_finished_error) {
  fin_t f = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_finished(r, fin_cb, &f);
  sl_stream_destroy(r, SL_EIO);
  sl_run();
  ASSERT_EQ(f.calls, 1);
  ASSERT_EQ(f.err, SL_EIO);
}

TEST(pipeline_finished_premature_close) {
  fin_t f = {0}, g = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_t* d = sl_duplex_new(NULL);
  sl_stream_push_bytes(r, "x", 1);
  sl_stream_finished(r, fin_cb, &f);
  sl_stream_finished(d, fin_cb, &g);
  sl_stream_resume(r);
  sl_run();
  sl_stream_destroy(r, 0);
  /* A duplex whose readable side ended but writable side did not finish
   * is not done either. */
  sl_stream_push(d, NULL);
  sl_stream_resume(d);
  sl_run();
  sl_stream_destroy(d, 0);
  sl_run();
  ASSERT_EQ(f.calls, 1);
  ASSERT_EQ(f.err, SL_EPREMATURECLOSE);
  ASSERT_EQ(g.calls, 1);
  ASSERT_EQ(g.err, SL_EPREMATURECLOSE);
}

TEST(pipeline_finished_on_closed_stream) {
  fin_t f = {0};
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_ref(r);
  sl_stream_push(r, NULL);
  sl_stream_resume(r);
  sl_run();
  ASSERT(sl_stream_closed(r));
  int rc;
  CALL(rc = sl_stream_finished(r, fin_cb, &f));
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(f.calls, 0); /* later, never inside the call */
  sl_run();
  ASSERT_EQ(f.calls, 1);
  ASSERT_EQ(f.err, 0);
  sl_stream_unref(r);
}

TEST(pipeline_finished_without_auto_destroy) {
  fin_t f = {0};
  sl_stream_opts_t o = {.no_auto_destroy = 1};
  sl_stream_t* w = sl_writable_new(&o);
  sl_stream_finished(w, fin_cb, &f);
  sl_stream_end(w, NULL, NULL, NULL);
  sl_run();
  ASSERT_EQ(f.calls, 1); /* at finish: no close will come by itself */
  ASSERT_EQ(f.err, 0);
  ASSERT(!sl_stream_closed(w));
  sl_stream_destroy(w, 0);
  sl_run();
  ASSERT_EQ(f.calls, 1);
}

/* --- errors nobody listens for -------------------------------------------- */

static void fail_unheard(void) {
  sl_stream_t* s = sl_readable_new(&(sl_stream_opts_t){.name = "src"});
  sl_stream_fail(s, SL_EIO, "read '%s'", "data.bin");
  run_status = sl_run();
}

static void on_err_count(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (*(int*)arg)++;
}

static int heard;

static void fail_heard(void) {
  sl_stream_t* s = sl_readable_new(NULL);
  sl_stream_on(s, SL_EV_ERROR, on_err_count, &heard);
  sl_stream_fail(s, SL_EIO, "read '%s'", "data.bin");
  run_status = sl_run();
}

/* As in Node, an error event without a listener is not lost: its message
 * goes to stderr and the exit status becomes 1; with a listener it is the
 * listener's alone. */
TEST(stream_unhandled_error_is_reported) {
  char* err = capture_stderr(fail_unheard);
  ASSERT_EQ(run_status, 1);
  ASSERT_STR_EQ(err, "EIO: i/o error, read 'data.bin'\n");
  free(err);
  sl_set_exit_code(0);
  err = capture_stderr(fail_heard);
  ASSERT_EQ(heard, 1);
  ASSERT_EQ(run_status, 0);
  ASSERT_STR_EQ(err, "");
  free(err);
}

static void report_twice(void) {
  sl_report(SL_ENOENT, "spawn gzip ENOENT");
  sl_report(SL_ENOENT, "spawn gzip ENOENT"); /* the same failure, again */
  sl_report(SL_EIO, NULL);
  sl_report(SL_ENOENT, "spawn gzip ENOENT");
  ASSERT_EQ(sl_report(0, "not an error"), 0);
}

/* One failure seen by two owners is written once; different reports, and a
 * report that comes back after another, are all written. */
TEST(report_writes_a_repeated_line_once) {
  char* err = capture_stderr(report_twice);
  ASSERT_STR_EQ(err, "spawn gzip ENOENT\nEIO: i/o error\nspawn gzip ENOENT\n");
  ASSERT_EQ(sl_exit_code(), 1);
  sl_set_exit_code(0);
  free(err);
}
