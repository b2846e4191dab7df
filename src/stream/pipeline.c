/* pipe(), pipeline() and finished(): composition of streams from the outside,
 * through listeners only, as Node does it. A pipe moves chunks by reference
 * (dst's write takes a reference on the chunk src delivered) and pauses src
 * while dst is above its mark. When both ends are descriptors, zerocopy.c
 * takes over instead. pipeline() adds error propagation: the first error of
 * any stage destroys every other stage and is reported, with its stage index,
 * once every stage has closed. */
#include "stream/stream_int.h"

#include <string.h>

typedef struct {
  sl__queue_t src_node; /* in src->r.pipes */
  sl_stream_t* src;
  sl_stream_t* dst;
  int end;
  int awaiting; /* dst's write returned 0; src paused for it */
} pipe_t;

static void pipe_cleanup(pipe_t* p);

/* An event for a pipe's destination, delivered from the loop: pipe() and
 * unpipe() must not run listeners inside the call. `end` ends `s` instead
 * (a pipe from a source that has already ended). */
typedef struct {
  sl_stream_t* s;
  sl_stream_t* peer;
  sl_event_type_t type;
  int end;
} pipe_ev_t;

static void pipe_ev_run(void* arg) {
  pipe_ev_t* e = arg;
  sl_stream_t* s = e->s;
  if (e->end) {
    if (!s->destroyed && !s->w.ending) sl_stream_end(s, NULL, NULL, NULL);
  } else if (!s->close_emitted) {
    sl_event_t ev = {.type = e->type, .peer = e->peer};
    sl__stream_emit(s, &ev);
  }
  sl_stream_unref(e->peer);
  sl_stream_unref(s);
  sl__free(e);
}

static void pipe_ev_later(sl_stream_t* s, sl_stream_t* peer,
                          sl_event_type_t type, int end) {
  pipe_ev_t* e = sl__malloc(sizeof *e);
  if (e == NULL) return; /* only the notification is lost */
  *e = (pipe_ev_t){sl_stream_ref(s), sl_stream_ref(peer), type, end};
  if (sl_defer(pipe_ev_run, e) != 0) {
    sl_stream_unref(e->peer);
    sl_stream_unref(e->s);
    sl__free(e);
  }
}

static void on_src_data(sl_stream_t* src, const sl_event_t* ev, void* arg) {
  pipe_t* p = arg;
  int rc = sl_stream_write(p->dst, ev->chunk, NULL, NULL);
  if (rc == 0 && !p->awaiting) {
    p->awaiting = 1;
    src->r.await_drain++;
    sl_stream_pause(src);
  }
}

static void on_dst_drain(sl_stream_t* dst, const sl_event_t* ev, void* arg) {
  pipe_t* p = arg;
  if (!p->awaiting) return;
  p->awaiting = 0;
  if (--p->src->r.await_drain == 0) sl_stream_resume(p->src);
}

static void on_src_end(sl_stream_t* src, const sl_event_t* ev, void* arg) {
  pipe_t* p = arg;
  sl_stream_t* dst = p->dst;
  int end = p->end;
  pipe_cleanup(p);
  if (end && !dst->destroyed && !dst->w.ending)
    sl_stream_end(dst, NULL, NULL, NULL);
}

static void on_any_close(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  pipe_t* p = arg;
  sl_stream_t* src = sl_stream_ref(p->src);
  pipe_cleanup(p);
  /* As Node's unpipe() when the destination closes: a source left with no
   * pipe pauses, so that what it reads next waits for a new consumer
   * instead of flowing to no one. */
  if (s != src && sl__queue_empty(&src->r.pipes) && !src->destroyed &&
      !src->r.end_emitted)
    sl_stream_pause(src);
  sl_stream_unref(src);
}

static void pipe_cleanup(pipe_t* p) {
  sl_stream_t *src = p->src, *dst = p->dst;
  sl_stream_off(src, SL_EV_DATA, on_src_data, p);
  sl_stream_off(src, SL_EV_END, on_src_end, p);
  sl_stream_off(src, SL_EV_CLOSE, on_any_close, p);
  sl_stream_off(dst, SL_EV_DRAIN, on_dst_drain, p);
  sl_stream_off(dst, SL_EV_CLOSE, on_any_close, p);
  sl__queue_remove(&p->src_node);
  /* If the others only waited for this destination's drain, go on. */
  if (p->awaiting && --src->r.await_drain == 0 &&
      !sl__queue_empty(&src->r.pipes))
    sl_stream_resume(src);
  if (!dst->close_emitted) pipe_ev_later(dst, src, SL_EV_UNPIPE, 0);
  sl_stream_unref(src);
  sl_stream_unref(dst);
  sl__free(p);
}

/* The pipe of chunks, without the pipe event (zerocopy.c falls back to it
 * after sl_stream_pipe() has announced the pipe). */
void sl__pipe_chunks(sl_stream_t* src, sl_stream_t* dst, int no_end) {
  pipe_t* p = sl__calloc(1, sizeof *p);
  if (p == NULL) {
    sl_stream_destroy(src, SL_ENOMEM);
    return;
  }
  p->src = sl_stream_ref(src);
  p->dst = sl_stream_ref(dst);
  p->end = !no_end;
  sl__queue_insert_tail(&src->r.pipes, &p->src_node);
  /* The data listener switches src to flowing mode. */
  if (sl_stream_on(src, SL_EV_DATA, on_src_data, p) != 0 ||
      sl_stream_on(src, SL_EV_END, on_src_end, p) != 0 ||
      sl_stream_on(src, SL_EV_CLOSE, on_any_close, p) != 0 ||
      sl_stream_on(dst, SL_EV_DRAIN, on_dst_drain, p) != 0 ||
      sl_stream_on(dst, SL_EV_CLOSE, on_any_close, p) != 0) {
    pipe_cleanup(p);
    sl_stream_destroy(src, SL_ENOMEM);
    return;
  }
  if (src->r.flowing != 1) sl_stream_resume(src);
}

sl_stream_t* sl_stream_pipe(sl_stream_t* src, sl_stream_t* dst,
                            const sl_pipe_opts_t* o) {
  static const sl_pipe_opts_t defaults;
  if (o == NULL) o = &defaults;
  /* A NULL end is what a failed constructor gives (a child's stdin that
   * could not be made): refused, not dereferenced, and nothing changes. */
  if (src == NULL || dst == NULL || !src->readable || !dst->writable)
    return NULL;
  if (dst->close_emitted) return dst;
  if (src->r.end_emitted) {
    /* Nothing more will come: end dst later, as Node does. */
    pipe_ev_later(dst, src, SL_EV_PIPE, 0);
    if (!o->no_end) pipe_ev_later(dst, src, SL_EV_PIPE, 1);
    return dst;
  }
  if (src->close_emitted) return dst;
  /* Zero-copy or chunks, dst hears of the pipe the same way. */
  if (o->no_zero_copy || !sl__zc_pipe(src, dst, o))
    sl__pipe_chunks(src, dst, o->no_end);
  pipe_ev_later(dst, src, SL_EV_PIPE, 0);
  return dst;
}

void sl_stream_unpipe(sl_stream_t* src, sl_stream_t* dst) {
  if (src == NULL || !src->readable) return;
  sl__queue_t* q = src->r.pipes.next;
  while (q != &src->r.pipes) {
    pipe_t* p = sl__container_of(q, pipe_t, src_node);
    q = q->next;
    if (dst == NULL || p->dst == dst) pipe_cleanup(p);
  }
  sl_stream_t* zdst;
  while ((zdst = sl__zc_unpipe(src, dst)) != NULL) {
    if (!zdst->close_emitted) pipe_ev_later(zdst, src, SL_EV_UNPIPE, 0);
    sl_stream_unref(zdst);
  }
  if (sl__queue_empty(&src->r.pipes)) sl_stream_pause(src);
}

/* --- finished ------------------------------------------------------------ */

typedef struct {
  sl_done_cb cb;
  void* arg;
  int err;
} finished_t;

static void fin_on_event(sl_stream_t* s, const sl_event_t* ev, void* arg);

static void fin_done(sl_stream_t* s, finished_t* f, int err) {
  sl_stream_off(s, SL_EV_ERROR, fin_on_event, f);
  sl_stream_off(s, SL_EV_CLOSE, fin_on_event, f);
  sl_stream_off(s, SL_EV_END, fin_on_event, f);
  sl_stream_off(s, SL_EV_FINISH, fin_on_event, f);
  sl_done_cb cb = f->cb;
  void* arg = f->arg;
  sl__free(f);
  cb(s, err, arg);
}

static int sides_done(const sl_stream_t* s) {
  return (!s->readable || s->r.end_emitted) && (!s->writable || s->w.finished);
}

static void fin_on_event(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  finished_t* f = arg;
  switch (ev->type) {
    case SL_EV_ERROR:
      if (f->err == 0) f->err = ev->err;
      break;
    case SL_EV_CLOSE:
      fin_done(s, f,
               f->err          ? f->err
               : s->err        ? s->err
               : sides_done(s) ? 0
                               : SL_EPREMATURECLOSE);
      break;
    default: /* end or finish: done now only if no close will come */
      if (!s->auto_destroy && sides_done(s)) fin_done(s, f, 0);
      break;
  }
}

typedef struct {
  sl_stream_t* s;
  finished_t* f;
} fin_late_t;

static void fin_late(void* arg) {
  fin_late_t* l = arg;
  sl_stream_t* s = l->s;
  finished_t* f = l->f;
  sl__free(l);
  int err = s->err ? s->err : sides_done(s) ? 0 : SL_EPREMATURECLOSE;
  sl_done_cb cb = f->cb;
  void* a = f->arg;
  sl__free(f);
  cb(s, err, a);
  sl_stream_unref(s);
}

int sl_stream_finished(sl_stream_t* s, sl_done_cb cb, void* arg) {
  finished_t* f = sl__calloc(1, sizeof *f);
  if (f == NULL) return SL_ENOMEM;
  f->cb = cb;
  f->arg = arg;
  if (s->close_emitted || (!s->auto_destroy && sides_done(s))) {
    fin_late_t* l = sl__malloc(sizeof *l);
    if (l == NULL || sl_defer(fin_late, l) != 0) {
      sl__free(l);
      sl__free(f);
      return SL_ENOMEM;
    }
    l->s = sl_stream_ref(s);
    l->f = f;
    return 0;
  }
  if (sl_stream_on(s, SL_EV_ERROR, fin_on_event, f) != 0 ||
      sl_stream_on(s, SL_EV_CLOSE, fin_on_event, f) != 0 ||
      sl_stream_on(s, SL_EV_END, fin_on_event, f) != 0 ||
      sl_stream_on(s, SL_EV_FINISH, fin_on_event, f) != 0) {
    sl_stream_off(s, SL_EV_ERROR, fin_on_event, f);
    sl_stream_off(s, SL_EV_CLOSE, fin_on_event, f);
    sl_stream_off(s, SL_EV_END, fin_on_event, f);
    sl__free(f);
    return SL_ENOMEM;
  }
  return 0;
}

/* --- pipeline ------------------------------------------------------------ */

typedef struct {
  size_t n, left;
  sl_pipeline_cb cb;
  void* arg;
  int own_arg; /* arg is the context copy (sl_pipelinev_ctx): freed last */
  int err, stage;
  char* msg;
  int err_is_premature;
  struct pl_stage_s {
    struct pipeline_s* pl;
    size_t idx;
  } * stages;
  sl_stream_t** s;
} pipeline_t;

typedef struct pl_stage_s pl_stage_t;

static void pl_record(pipeline_t* pl, size_t idx, int err, const char* msg) {
  /* The root cause is the first real error; a premature close is only
   * reported when nothing better is known. */
  int premature = err == SL_EPREMATURECLOSE;
  if (pl->err != 0 && (premature || !pl->err_is_premature)) return;
  pl->err = err;
  pl->stage = (int)idx;
  pl->err_is_premature = premature;
  sl__free(pl->msg);
  pl->msg = msg ? sl__strdup(msg) : sl__errmsg(err, NULL);
}

/* The root cause is a peer that left where Node sees no error (an HTTP
 * client gone mid-response): a pipeline without a callback stays quiet. */
static int pl_peer_left(const pipeline_t* pl) {
  int e = pl->err;
  if (e != SL_ECONNRESET && e != SL_EPIPE && e != SL_EPREMATURECLOSE) return 0;
  return pl->stage >= 0 && (size_t)pl->stage < pl->n &&
         pl->s[pl->stage]->peer_quiet;
}

/* The outcome to the callback, or without one to sl_report() (unless
 * `quiet`); then the context the pipeline held is freed. The stages stay
 * valid during the call (the caller drops its references after). */
static void pl_deliver(sl_pipeline_cb cb, void* arg, int own_arg, int err,
                       const sl_pipeline_result_t* r, int quiet) {
  if (cb != NULL)
    cb(err, r, arg);
  else if (!quiet)
    sl_report(err, r->message);
  if (own_arg) sl__free(arg);
}

static void pl_destroy_all(pipeline_t* pl) {
  for (size_t i = 0; i < pl->n; i++)
    if (!pl->s[i]->destroyed) sl_stream_destroy(pl->s[i], 0);
}

static void pl_on_error(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  pl_stage_t* st = arg;
  pipeline_t* pl = (pipeline_t*)st->pl;
  pl_record(pl, st->idx, ev->err, ev->message);
  pl_destroy_all(pl);
}

static void pl_finished(sl_stream_t* s, int err, void* arg) {
  pl_stage_t* st = arg;
  pipeline_t* pl = (pipeline_t*)st->pl;
  sl_stream_off(s, SL_EV_ERROR, pl_on_error, st);
  if (err != 0) {
    pl_record(pl, st->idx, err, s->errmsg);
    pl_destroy_all(pl);
  }
  if (--pl->left != 0) return;
  /* The callback first, the stages after: it may still look at every one
   * of them (stats, name, error) or destroy it, as docs/design.md
   * promises; our references keep them alive until it returns. */
  sl_pipeline_result_t r = {.stage = pl->err ? pl->stage : -1,
                            .message = pl->err ? pl->msg : NULL,
                            .stages = pl->s,
                            .nstages = pl->n};
  pl_deliver(pl->cb, pl->arg, pl->own_arg, pl->err, &r, pl_peer_left(pl));
  for (size_t i = 0; i < pl->n; i++) sl_stream_unref(pl->s[i]);
  sl__free(pl->msg);
  sl__free(pl->stages);
  sl__free(pl->s);
  sl__free(pl);
}

typedef struct {
  sl_pipeline_cb cb;
  void* arg;
  int own_arg;
} pl_fail_t;

static void pl_fail_later(void* arg) {
  pl_fail_t* f = arg;
  sl_pipeline_result_t r = {
      .stage = -1, .message = "EINVAL: invalid argument, pipeline stage"};
  pl_deliver(f->cb, f->arg, f->own_arg, SL_EINVAL, &r, 0);
  sl__free(f);
}

static int pipeline_start(sl_stream_t** stages, size_t n, sl_pipeline_cb cb,
                          void* arg, int own_arg) {
  if (stages == NULL) n = 0;
  int bad = n < 2;
  for (size_t i = 0; i < n; i++) bad |= stages[i] == NULL;
  pipeline_t* pl = bad ? NULL : sl__calloc(1, sizeof *pl);
  if (pl != NULL) {
    pl->stages = sl__calloc(n, sizeof *pl->stages);
    pl->s = sl__calloc(n, sizeof *pl->s);
  }
  if (bad || pl == NULL || pl->stages == NULL || pl->s == NULL) {
    if (pl != NULL) {
      sl__free(pl->stages);
      sl__free(pl->s);
      sl__free(pl);
    }
    for (size_t i = 0; i < n; i++)
      if (stages[i] != NULL) sl_stream_destroy(stages[i], 0);
    pl_fail_t* f = sl__malloc(sizeof *f);
    if (f == NULL) {
      if (own_arg) sl__free(arg);
      return SL_ENOMEM;
    }
    f->cb = cb;
    f->arg = arg;
    f->own_arg = own_arg;
    sl_defer(pl_fail_later, f);
    return bad ? SL_EINVAL : SL_ENOMEM;
  }
  pl->n = pl->left = n;
  pl->cb = cb;
  pl->arg = arg;
  pl->own_arg = own_arg;
  for (size_t i = 0; i < n; i++) {
    pl->s[i] = sl_stream_ref(stages[i]);
    pl->stages[i].pl = (struct pipeline_s*)pl;
    pl->stages[i].idx = i;
    sl_stream_on(stages[i], SL_EV_ERROR, pl_on_error, &pl->stages[i]);
    sl_stream_finished(stages[i], pl_finished, &pl->stages[i]);
  }
  for (size_t i = 0; i + 1 < n; i++)
    sl_stream_pipe(stages[i], stages[i + 1], NULL);
  return 0;
}

int sl_pipelinev(sl_stream_t** stages, size_t n, sl_pipeline_cb cb, void* arg) {
  return pipeline_start(stages, n, cb, arg, 0);
}

int sl_pipelinev_ctx(sl_stream_t** stages, size_t n, sl_pipeline_cb cb,
                     const void* ctx, size_t size) {
  void* copy = sl__malloc(size ? size : 1);
  if (copy == NULL) {
    for (size_t i = 0; stages != NULL && i < n; i++)
      if (stages[i] != NULL) sl_stream_destroy(stages[i], SL_ENOMEM);
    return SL_ENOMEM;
  }
  if (size) memcpy(copy, ctx, size);
  return pipeline_start(stages, n, cb, copy, 1);
}
