/* The worker pool (manual 4.10 exercise 3, 5.6): a fixed number of slots,
 * each holding one forked worker (a named entry or an executable); a
 * bounded FIFO of tasks; a task is one IPC message and its result is the
 * worker's next message. A task that overruns task_timeout_ms kills its
 * worker's whole group and fails with SL_ETIMEDOUT; a worker that dies
 * fails only the task it held (SL_ECHILD). Either way the slot gets a fresh
 * worker. A worker process stays tracked (retired) until its CLOSE, so
 * close() can wait for every process to be gone. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "process/process_int.h"

#define POOL_QUEUE_DEFAULT 1024
#define POOL_EXIT_GRACE_MS 2000
#define POOL_MAX_WORKERS   1024
/* A worker that dies within this long of its start, before finishing a
 * task, failed to start: its slot is refilled after a doubling delay, and
 * after POOL_START_TRIES such deaths per slot in a row the pool gives up. */
#define POOL_START_MS       1000
#define POOL_BACKOFF_MS     100
#define POOL_BACKOFF_MAX_MS 5000
#define POOL_START_TRIES    4

typedef struct pool_task_s {
  sl__queue_t node;
  sl_task_cb cb;
  void* arg;
  uint64_t submit_ns, start_ns;
  size_t len;
  char data[];
} pool_task_t;

typedef struct pool_worker_s {
  sl__queue_t node; /* pool->procs */
  sl_pool_t* pool;
  sl_child_t* child;
  pool_task_t* task;
  sl_timer_t* timer;
  int slot;
  int retired;
  int completed; /* tasks this process finished */
  int had_task;  /* it was given one: it started */
  int report;    /* the pool gave up at this one: say why at its CLOSE */
  int spawn_err; /* SL_CHILD_ERROR: it never started */
  uint64_t started_ms;
} pool_worker_t;

/* A slot waiting for its replacement after a quick death. */
typedef struct {
  sl_pool_t* pool;
  sl_timer_t* timer;
  int slot;
} pool_respawn_t;

struct sl_pool_s {
  sl_pool_opts_t o;
  char* entry;
  char* file;
  char** argv;
  pool_worker_t** slots;
  pool_respawn_t* respawn; /* one per slot */
  int nslots;
  sl__queue_t tasks;
  size_t queued;
  sl__queue_t cancelled;
  sl__queue_t procs;
  sl__tick_t tick;
  sl_timer_t* kill_timer;
  int closing, stopping, crash_streak, gave_up;
  void (*close_cb)(void*);
  void* close_arg;
  sl_pool_stats_t st;
};

static void worker_event(sl_child_t* c, const sl_child_event_t* ev, void* arg);
static void pool_dispatch(sl_pool_t* p);

/* --- workers ------------------------------------------------------------- */

static int worker_start(sl_pool_t* p, int slot) {
  pool_worker_t* w = sl__calloc(1, sizeof *w);
  if (w == NULL) return SL_ENOMEM;
  sl_spawn_opts_t so = {.serialization = p->o.serialization};
  for (int i = 0; i < 3; i++) so.stdio[i].kind = SL_STDIO_INHERIT;
  const char* const* argv = (const char* const*)p->argv;
  int rc = p->entry != NULL ? sl_fork_entry(p->entry, argv, &so, &w->child)
                            : sl_fork(p->file, argv, &so, &w->child);
  if (rc != 0) {
    sl__free(w);
    return rc;
  }
  w->pool = p;
  w->slot = slot;
  w->started_ms = sl_now_ms();
  for (int t = 0; t < SL__CHILD_EV_COUNT; t++)
    sl_child_on(w->child, t, worker_event, w);
  sl__queue_insert_tail(&p->procs, &w->node);
  p->slots[slot] = w;
  return 0;
}

static void task_finish(sl_pool_t* p, pool_task_t* t, int err,
                        const sl_message_t* m) {
  if (err == 0) {
    p->st.completed++;
    p->st.wait_ns_total += t->start_ns - t->submit_ns;
    p->st.run_ns_total += sl_hrtime() - t->start_ns;
  } else {
    p->st.failed++;
  }
  sl_task_cb cb = t->cb;
  void* arg = t->arg;
  sl__free(t);
  cb(err, m, arg);
}

static void respawn_now(sl_pool_t* p, int slot) {
  p->st.replaced++;
  int rc = worker_start(p, slot);
  if (rc != 0) {
    p->gave_up = 1;
    fprintf(stderr, "sluice: pool: cannot start worker '%s': %s: %s\n",
            p->entry ? p->entry : p->file, sl_err_name(rc), sl_strerror(rc));
  }
}

static void on_respawn_due(sl_timer_t* t, void* arg) {
  pool_respawn_t* r = arg;
  sl_pool_t* p = r->pool;
  r->timer = NULL;
  if (p->stopping || p->gave_up) return;
  respawn_now(p, r->slot);
  sl__tick_schedule(&p->tick);
}

/* Takes the process out of its slot; it lives on (tracked) until CLOSE. A
 * replacement starts unless the pool is winding down or has given up: at
 * once after a worker that had lived, after a doubling delay after one
 * that died at its start (a missing library, a bad argument: respawning
 * it in a tight loop only burns the CPU), and not at all once every slot
 * failed POOL_START_TRIES times in a row. */
static void worker_retire(pool_worker_t* w, int replace) {
  sl_pool_t* p = w->pool;
  if (w->retired) return;
  w->retired = 1;
  if (w->timer != NULL) sl_timer_stop(w->timer);
  w->timer = NULL;
  p->slots[w->slot] = NULL;
  if (!replace || p->stopping || p->gave_up) return;
  int quick = w->completed == 0 && !w->had_task &&
              sl_now_ms() - w->started_ms < POOL_START_MS;
  if (!quick) {
    p->crash_streak = 0;
    respawn_now(p, w->slot);
    return;
  }
  if (++p->crash_streak >= POOL_START_TRIES * p->nslots) {
    p->gave_up = 1;
    w->report = 1; /* its CLOSE knows the exit status */
    return;
  }
  int round = (p->crash_streak - 1) / p->nslots;
  uint64_t delay = (uint64_t)POOL_BACKOFF_MS << (round < 6 ? round : 6);
  if (delay > POOL_BACKOFF_MAX_MS) delay = POOL_BACKOFF_MAX_MS;
  pool_respawn_t* r = &p->respawn[w->slot];
  r->timer = sl_timer_start(delay, 0, on_respawn_due, r);
  if (r->timer == NULL) p->gave_up = 1;
}

/* The pool gave up: on_error (or stderr) hears why, with the program. */
static void report_give_up(pool_worker_t* w, const sl_child_event_t* ev) {
  sl_pool_t* p = w->pool;
  const char* what = p->entry ? p->entry : p->file;
  char why[160];
  int err = SL_ECHILD;
  if (w->spawn_err != 0) {
    err = w->spawn_err;
    snprintf(why, sizeof why, "%s: %s", sl_err_name(err), sl_strerror(err));
  } else if (ev->term_signal != 0) {
    snprintf(why, sizeof why, "killed by signal %d", ev->term_signal);
  } else {
    snprintf(why, sizeof why, "exit code %d", ev->exit_code);
  }
  char* msg = sl__asprintf(
      "pool: worker '%s' died at its start %d times in "
      "a row (last: %s): giving up",
      what, p->crash_streak, why);
  if (p->o.on_error != NULL)
    p->o.on_error(err, msg ? msg : "pool: giving up", p->o.on_error_arg);
  else
    fprintf(stderr, "sluice: %s\n", msg ? msg : "pool: giving up");
  sl__free(msg);
}

static void on_task_timeout(sl_timer_t* t, void* arg) {
  pool_worker_t* w = arg;
  sl_pool_t* p = w->pool;
  pool_task_t* task = w->task;
  w->timer = NULL;
  w->task = NULL;
  p->st.timed_out++;
  w->completed++; /* a slow task is not a crash loop */
  sl_child_kill_tree(w->child, SIGKILL);
  worker_retire(w, 1);
  task_finish(p, task, SL_ETIMEDOUT, NULL);
  sl__tick_schedule(&p->tick);
}

static void on_worker_message(pool_worker_t* w, const sl_message_t* m) {
  sl_pool_t* p = w->pool;
  pool_task_t* t = w->task;
  if (w->retired || t == NULL) {
    if (m->fd >= 0) close(m->fd);
    return;
  }
  w->task = NULL;
  w->completed++;
  p->crash_streak = 0;
  if (w->timer != NULL) sl_timer_stop(w->timer);
  w->timer = NULL;
  task_finish(p, t, 0, m);
  sl__tick_schedule(&p->tick);
}

/* The process died, failed to start, or its channel went: fail its task
 * and replace it. */
static void on_worker_gone(pool_worker_t* w) {
  sl_pool_t* p = w->pool;
  if (w->retired) return;
  pool_task_t* t = w->task;
  w->task = NULL;
  if (t != NULL || !p->stopping) p->st.crashed++;
  sl_child_kill_tree(w->child, SIGKILL);
  worker_retire(w, 1);
  if (t != NULL) task_finish(p, t, SL_ECHILD, NULL);
  sl__tick_schedule(&p->tick);
}

static void worker_event(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  pool_worker_t* w = arg;
  switch (ev->type) {
    case SL_CHILD_MESSAGE:
      on_worker_message(w, ev->msg);
      break;
    case SL_CHILD_ERROR:
      if (sl_child_pid(c) == 0) w->spawn_err = ev->err;
      on_worker_gone(w);
      break;
    case SL_CHILD_EXIT:
    case SL_CHILD_DISCONNECT:
      on_worker_gone(w);
      break;
    case SL_CHILD_CLOSE: {
      sl_pool_t* p = w->pool;
      if (w->report) report_give_up(w, ev);
      sl__queue_remove(&w->node);
      sl__free(w);
      sl__tick_schedule(&p->tick);
      break;
    }
    default:
      break;
  }
}

/* --- dispatch and shutdown ---------------------------------------------- */

static void pool_dispatch(sl_pool_t* p) {
  for (int i = 0; i < p->nslots && !sl__queue_empty(&p->tasks); i++) {
    pool_worker_t* w = p->slots[i];
    if (w == NULL || w->task != NULL) continue;
    pool_task_t* t = sl__container_of(p->tasks.next, pool_task_t, node);
    /* A send that fails means the worker is going: its EXIT follows. */
    if (sl_child_send(w->child, t->data, t->len, -1) < 0) continue;
    sl__queue_remove(&t->node);
    p->queued--;
    t->start_ns = sl_hrtime();
    w->task = t;
    w->had_task = 1;
    if (p->o.task_timeout_ms != 0)
      w->timer = sl_timer_start(p->o.task_timeout_ms, 0, on_task_timeout, w);
  }
}

static int pool_busy(const sl_pool_t* p) {
  for (int i = 0; i < p->nslots; i++)
    if (p->slots[i] != NULL && p->slots[i]->task != NULL) return 1;
  return 0;
}

static void on_kill_timer(sl_timer_t* t, void* arg) {
  sl_pool_t* p = arg;
  p->kill_timer = NULL;
  for (sl__queue_t* q = p->procs.next; q != &p->procs; q = q->next)
    sl_child_kill_tree(sl__container_of(q, pool_worker_t, node)->child,
                       SIGKILL);
}

/* Once nothing is queued or running: the workers get a disconnect (they
 * exit on it), then SIGKILL after a grace period. */
static void pool_stop_workers(sl_pool_t* p) {
  p->stopping = 1;
  for (int i = 0; p->respawn != NULL && i < p->nslots; i++)
    if (p->respawn[i].timer != NULL) {
      sl_timer_stop(p->respawn[i].timer);
      p->respawn[i].timer = NULL;
    }
  for (int i = 0; p->slots != NULL && i < p->nslots; i++) {
    pool_worker_t* w = p->slots[i];
    if (w == NULL) continue;
    worker_retire(w, 0);
    sl_channel_t* ch = sl_child_channel(w->child);
    if (ch != NULL) sl_channel_disconnect(ch);
  }
  if (!sl__queue_empty(&p->procs))
    p->kill_timer = sl_timer_start(POOL_EXIT_GRACE_MS, 0, on_kill_timer, p);
}

static void fail_all(sl_pool_t* p, sl__queue_t* q, int err) {
  while (!sl__queue_empty(q)) {
    pool_task_t* t = sl__container_of(q->next, pool_task_t, node);
    sl__queue_remove(&t->node);
    if (q == &p->tasks) p->queued--;
    task_finish(p, t, err, NULL);
  }
}

static void pool_free(sl_pool_t* p) {
  if (p->kill_timer != NULL) sl_timer_stop(p->kill_timer);
  for (char** a = p->argv; a != NULL && *a != NULL; a++) sl__free(*a);
  sl__free(p->argv);
  sl__free(p->entry);
  sl__free(p->file);
  sl__free(p->slots);
  sl__free(p->respawn);
  sl__free(p);
}

static void pool_tick(sl__tick_t* tick) {
  sl_pool_t* p = sl__container_of(tick, sl_pool_t, tick);
  fail_all(p, &p->cancelled, SL_ECANCELED);
  pool_dispatch(p);
  int live = 0;
  for (int i = 0; i < p->nslots; i++) live += p->slots[i] != NULL;
  if (p->gave_up && live == 0) fail_all(p, &p->tasks, SL_ECHILD);
  if (!p->closing) return;
  if (!p->stopping && sl__queue_empty(&p->tasks) && !pool_busy(p))
    pool_stop_workers(p);
  if (p->stopping && sl__queue_empty(&p->procs) && !tick->pending) {
    void (*cb)(void*) = p->close_cb;
    void* arg = p->close_arg;
    pool_free(p);
    if (cb != NULL) cb(arg);
  }
}

/* --- public -------------------------------------------------------------- */

static char** copy_argv(const char* const* argv) {
  size_t n = 0;
  while (argv[n] != NULL) n++;
  char** v = sl__calloc(n + 1, sizeof *v);
  for (size_t i = 0; v != NULL && i < n; i++)
    if ((v[i] = sl__strdup(argv[i])) == NULL) return v; /* caught below */
  return v;
}

/* As execvp() would look for `file`: 0, SL_ENOENT or SL_EACCES. A pool
 * over a program that cannot run fails here, with the reason, rather than
 * return a pool whose every worker dies at its start. */
static int exec_check(const char* file) {
  if (strchr(file, '/') != NULL)
    return access(file, X_OK) == 0 ? 0
           : errno == EACCES       ? SL_EACCES
                                   : SL_ENOENT;
  const char* path = getenv("PATH");
  int err = SL_ENOENT;
  for (const char* d = path ? path : "/bin:/usr/bin"; *d != '\0';) {
    size_t n = strcspn(d, ":");
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%.*s/%s", (int)n, n ? d : ".", file) <
            (int)sizeof buf &&
        access(buf, X_OK) == 0)
      return 0;
    if (errno == EACCES) err = SL_EACCES;
    d += n + (d[n] == ':');
  }
  return err;
}

/* Options a pool cannot work with: a code and a message naming them. */
static int pool_check_opts(const sl_pool_opts_t* o) {
  const char* bad = NULL;
  int rc = SL_EINVAL;
  if (o == NULL)
    bad = "no options";
  else if ((o->entry == NULL) == (o->file == NULL))
    bad = "exactly one of entry and file";
  else if (o->workers < 0 || o->workers > POOL_MAX_WORKERS)
    bad = "workers must be 0 (one per CPU) to 1024";
  else if ((unsigned)o->serialization > SL_IPC_BINARY)
    bad = "serialization must be SL_IPC_JSON or SL_IPC_BINARY";
  else if (o->file != NULL && (rc = exec_check(o->file)) != 0)
    bad = o->file;
  if (bad == NULL) return 0;
  if (rc == SL_EINVAL)
    fprintf(stderr, "sluice: pool: invalid options: %s\n", bad);
  else
    fprintf(stderr, "sluice: pool: cannot run '%s': %s: %s\n", bad,
            sl_err_name(rc), sl_strerror(rc));
  return rc;
}

int sl_pool_new(const sl_pool_opts_t* o, sl_pool_t** out) {
  int rc = pool_check_opts(o);
  if (rc != 0) return rc;
  sl_pool_t* p = sl__calloc(1, sizeof *p);
  if (p == NULL) return SL_ENOMEM;
  p->o = *o;
  p->nslots = o->workers > 0 ? o->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (p->nslots < 1) p->nslots = 1;
  if (p->o.queue_max == 0) p->o.queue_max = POOL_QUEUE_DEFAULT;
  sl__queue_init(&p->tasks);
  sl__queue_init(&p->cancelled);
  sl__queue_init(&p->procs);
  sl__tick_init(&p->tick, pool_tick);
  p->slots = sl__calloc((size_t)p->nslots, sizeof *p->slots);
  p->respawn = sl__calloc((size_t)p->nslots, sizeof *p->respawn);
  for (int i = 0; p->respawn != NULL && i < p->nslots; i++)
    p->respawn[i] = (pool_respawn_t){.pool = p, .slot = i};
  p->entry = o->entry ? sl__strdup(o->entry) : NULL;
  p->file = o->file ? sl__strdup(o->file) : NULL;
  p->argv = o->argv ? copy_argv(o->argv) : NULL;
  rc = p->slots == NULL || p->respawn == NULL ||
               (p->entry == NULL && p->file == NULL)
           ? SL_ENOMEM
           : 0;
  for (int i = 0; rc == 0 && i < p->nslots; i++) rc = worker_start(p, i);
  if (rc != 0) {
    if (rc != SL_ENOMEM)
      fprintf(stderr, "sluice: pool: cannot start worker '%s': %s: %s\n",
              p->entry ? p->entry : p->file, sl_err_name(rc), sl_strerror(rc));
    /* Workers already started are told to go; they are freed at CLOSE. */
    p->closing = 1;
    pool_stop_workers(p);
    p->close_cb = NULL;
    sl__tick_schedule(&p->tick);
    return rc;
  }
  *out = p;
  return 0;
}

int sl_pool_submit(sl_pool_t* p, const char* data, size_t len, sl_task_cb cb,
                   void* arg) {
  if (p == NULL || cb == NULL || (data == NULL && len != 0) || p->closing)
    return SL_EINVAL;
  if (p->gave_up) return SL_ECHILD;
  if (p->o.serialization == SL_IPC_JSON && sl__json_validate(data, len) != 0)
    return SL_EINVAL;
  if (p->queued >= p->o.queue_max) return SL_EFULL;
  pool_task_t* t = sl__malloc(sizeof *t + len);
  if (t == NULL) return SL_ENOMEM;
  t->cb = cb;
  t->arg = arg;
  t->len = len;
  t->submit_ns = sl_hrtime();
  memcpy(t->data, data, len);
  sl__queue_insert_tail(&p->tasks, &t->node);
  p->queued++;
  p->st.submitted++;
  /* Straight to an idle worker if there is one: only waiting tasks count
   * against queue_max. No callback can run from here. */
  pool_dispatch(p);
  if (p->queued > 0) sl__tick_schedule(&p->tick);
  return 0;
}

void sl_pool_stats(const sl_pool_t* p, sl_pool_stats_t* out) {
  *out = p->st;
  out->gave_up = p->gave_up;
  out->workers = out->idle = 0;
  for (int i = 0; i < p->nslots; i++) {
    if (p->slots[i] == NULL) continue;
    out->workers++;
    out->idle += p->slots[i]->task == NULL;
  }
  out->queued = p->queued;
}

void sl_pool_close(sl_pool_t* p, int cancel, sl_close_cb cb, void* arg) {
  SL_ASSERT(!p->closing);
  p->closing = 1;
  p->close_cb = cb;
  p->close_arg = arg;
  if (cancel) {
    /* Failed from the loop, not from inside this call. */
    while (!sl__queue_empty(&p->tasks)) {
      sl__queue_t* q = p->tasks.next;
      sl__queue_remove(q);
      sl__queue_insert_tail(&p->cancelled, q);
      p->queued--;
    }
  }
  sl__tick_schedule(&p->tick);
}
