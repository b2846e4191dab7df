/* Tests for spawn.c: event order, exit codes and signals, spawn errors as
 * events (ENOENT, EACCES, EMFILE), env, cwd, stdio kinds, backpressure on a
 * child's stdout, close after a grandchild holds a pipe, kill, kill_tree,
 * timeouts that kill the whole tree, the descriptors a child sees, and
 * reaping on the SIGCHLD path. Children are /bin/sh and coreutils. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "process/process_int.h"
#include "test.h"

/* What a child did, as its listeners saw it. */
typedef struct {
  char order[32]; /* S spawn, E error, X exit, C close */
  int n;
  int err;
  char message[256];
  int exit_code, term_signal, timed_out, drain_timeout;
  char out[1 << 16];
  size_t out_len;
  char errout[4096];
  size_t err_len;
  int out_ended_before_close;
  int out_ended;
  int alive_at_close; /* a grandchild still ran at CLOSE */
  void (*on_spawn)(sl_child_t* c, void* rec);
} rec_t;

static void on_event(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  rec_t* r = arg;
  static const char letters[] = "SEXCDMW";
  if (r->n < 31) r->order[r->n++] = letters[ev->type];
  if (ev->type == SL_CHILD_ERROR) {
    r->err = ev->err;
    snprintf(r->message, sizeof r->message, "%s", ev->message);
  }
  if (ev->type == SL_CHILD_EXIT || ev->type == SL_CHILD_CLOSE) {
    r->exit_code = ev->exit_code;
    r->term_signal = ev->term_signal;
    r->timed_out = ev->timed_out;
  }
  if (ev->type == SL_CHILD_CLOSE) {
    r->drain_timeout = ev->drain_timeout;
    r->out_ended_before_close = r->out_ended;
  }
  if (ev->type == SL_CHILD_SPAWN && r->on_spawn) r->on_spawn(c, r);
}

static void on_out(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  rec_t* r = arg;
  if (ev->type == SL_EV_END) {
    r->out_ended = 1;
    return;
  }
  size_t n = sl_chunk_len(ev->chunk);
  ASSERT(r->out_len + n < sizeof r->out);
  memcpy(r->out + r->out_len, sl_chunk_data(ev->chunk), n);
  r->out_len += n;
}

static void on_errout(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  rec_t* r = arg;
  size_t n = sl_chunk_len(ev->chunk);
  ASSERT(r->err_len + n < sizeof r->errout);
  memcpy(r->errout + r->err_len, sl_chunk_data(ev->chunk), n);
  r->err_len += n;
}

static void listen_all(sl_child_t* c, rec_t* r) {
  for (int t = SL_CHILD_SPAWN; t <= SL_CHILD_CLOSE; t++)
    ASSERT_EQ(sl_child_on(c, (sl_child_event_type_t)t, on_event, r), 0);
  if (sl_child_stdout(c)) {
    ASSERT_EQ(sl_stream_on(sl_child_stdout(c), SL_EV_DATA, on_out, r), 0);
    ASSERT_EQ(sl_stream_on(sl_child_stdout(c), SL_EV_END, on_out, r), 0);
  }
  if (sl_child_stderr(c))
    ASSERT_EQ(sl_stream_on(sl_child_stderr(c), SL_EV_DATA, on_errout, r), 0);
}

/* Runs `argv` to its close with the options, recording everything. The
 * child is freed by then. */
static void run(rec_t* r, const char* const* argv, const sl_spawn_opts_t* o) {
  sl_child_t* c = NULL;
  ASSERT_EQ(sl_spawn(argv[0], argv, o, &c), 0);
  ASSERT(c != NULL);
  listen_all(c, r);
  ASSERT_EQ(r->n, 0); /* nothing inside the call */
  sl_run();
}

static const char* const* sh(const char* script) {
  static const char* argv[4];
  argv[0] = "/bin/sh";
  argv[1] = "-c";
  argv[2] = script;
  argv[3] = NULL;
  return argv;
}

/* Waits up to 3 s for `pid` to go (signals are delivered asynchronously). */
static int pid_gone_soon(pid_t pid) {
  for (int i = 0; i < 300; i++) {
    if (!sl_test_pid_alive(pid)) return 1;
    usleep(10000);
  }
  return 0;
}

TEST(spawn_event_order) {
  rec_t r = {0};
  run(&r, sh("echo out; echo err >&2; exit 3"), NULL);
  ASSERT_STR_EQ(r.order, "SXC");
  ASSERT_EQ(r.exit_code, 3);
  ASSERT_EQ(r.term_signal, 0);
  ASSERT_EQ(r.timed_out, 0);
  ASSERT_EQ(r.drain_timeout, 0);
  ASSERT_STR_EQ(r.out, "out\n");
  ASSERT_STR_EQ(r.errout, "err\n");
  ASSERT(r.out_ended_before_close);
}

TEST(spawn_exit_signal) {
  rec_t r = {0};
  run(&r, sh("kill -USR1 $$; sleep 5"), NULL);
  ASSERT_STR_EQ(r.order, "SXC");
  ASSERT_EQ(r.exit_code, -1);
  ASSERT_EQ(r.term_signal, SIGUSR1);
}

TEST(spawn_enoent_event) {
  rec_t r = {0};
  const char* argv[] = {"sluice-no-such-program", "x", NULL};
  run(&r, argv, NULL);
  ASSERT_STR_EQ(r.order, "EC");
  ASSERT_EQ(r.err, SL_ENOENT);
  ASSERT_STR_EQ(r.message, "spawn sluice-no-such-program ENOENT");
  ASSERT_EQ(r.exit_code, -1);
}

/* A request piped into a child that failed to start (the crash of an
 * upload server): the streams exist, as in Node, and fail with the spawn
 * error; a pipeline through them reports it with the stage; the close of
 * the child comes after theirs. */
typedef struct {
  int calls, err, stage;
  char msg[256];
  int stdin_err;
  char stdin_msg[256];
  int child_closed;
} failed_pipe_t;

static void fp_pipeline(int err, const sl_pipeline_result_t* pr, void* arg) {
  failed_pipe_t* f = arg;
  f->calls++;
  f->err = err;
  f->stage = pr->stage;
  snprintf(f->msg, sizeof f->msg, "%s", pr->message ? pr->message : "(null)");
}

static void fp_stdin_error(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  failed_pipe_t* f = arg;
  f->stdin_err = ev->err;
  snprintf(f->stdin_msg, sizeof f->stdin_msg, "%s",
           ev->message ? ev->message : "(null)");
}

static void fp_close(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  failed_pipe_t* f = arg;
  f->child_closed = 1;
  ASSERT(sl_stream_closed(sl_child_stdin(c)));
  ASSERT(sl_stream_closed(sl_child_stdout(c)));
}

TEST(spawn_enoent_streams_exist_and_fail) {
  failed_pipe_t f = {0};
  sl_child_t* c = NULL;
  const char* argv[] = {"sluice-no-such-program", NULL};
  ASSERT_EQ(sl_spawn(argv[0], argv, NULL, &c), 0);
  ASSERT_EQ(sl_child_pid(c), 0);
  sl_stream_t* in = sl_child_stdin(c);
  ASSERT(in != NULL && sl_child_stdout(c) != NULL &&
         sl_child_stderr(c) != NULL);
  ASSERT_EQ(sl_stream_on(in, SL_EV_ERROR, fp_stdin_error, &f), 0);
  ASSERT_EQ(sl_child_on(c, SL_CHILD_CLOSE, fp_close, &f), 0);
  /* The request body of the upload server: pipeline(body, child stdin). */
  sl_stream_t* body = sl_stream_ref(sl_readable_new(NULL));
  sl_stream_push_bytes(body, "upload", 6);
  ASSERT_EQ(sl_pipeline(fp_pipeline, &f, body, in), 0);
  /* And a plain pipe out of its stdout. */
  sl_stream_t* sink = sl_passthrough_new(NULL);
  ASSERT(sl_stream_pipe(sl_child_stdout(c), sink, NULL) == sink);
  sl_stream_resume(sink);
  sl_run();
  ASSERT_EQ(f.calls, 1);
  ASSERT_EQ(f.err, SL_ENOENT);
  ASSERT_EQ(f.stage, 1);
  ASSERT_STR_EQ(f.msg, "spawn sluice-no-such-program ENOENT");
  ASSERT_EQ(f.stdin_err, SL_ENOENT);
  ASSERT_STR_EQ(f.stdin_msg, f.msg);
  ASSERT(f.child_closed);
  ASSERT(sl_stream_closed(body)); /* the pipeline destroyed it */
  sl_stream_unref(body);
  /* A pipe does not forward errors: its destination is still ours. */
  ASSERT(!sl_stream_destroyed(sink));
  sl_stream_destroy(sink, 0);
  sl_run();
}

/* Only piped slots get a stream: an ignored or inherited one stays NULL. */
TEST(spawn_enoent_only_piped_slots) {
  sl_child_t* c = NULL;
  rec_t r = {0};
  sl_spawn_opts_t o = {0};
  o.stdio[0].kind = SL_STDIO_IGNORE;
  o.stdio[2].kind = SL_STDIO_INHERIT;
  const char* argv[] = {"sluice-no-such-program", NULL};
  ASSERT_EQ(sl_spawn(argv[0], argv, &o, &c), 0);
  ASSERT(sl_child_stdin(c) == NULL);
  ASSERT(sl_child_stdout(c) != NULL);
  ASSERT(sl_child_stderr(c) == NULL);
  listen_all(c, &r);
  sl_run();
  ASSERT_STR_EQ(r.order, "EC");
}

TEST(spawn_eacces_event) {
  const char* path = sl_test_path("not-executable.sh");
  sl_test_write_file(path, "#!/bin/sh\necho no\n", 18);
  chmod(path, 0644);
  rec_t r = {0};
  const char* argv[] = {path, NULL};
  run(&r, argv, NULL);
  ASSERT_STR_EQ(r.order, "EC");
  ASSERT_EQ(r.err, SL_EACCES);
  char want[4096 + 32];
  snprintf(want, sizeof want, "spawn %s EACCES", path);
  ASSERT_STR_EQ(r.message, want);
}

TEST(spawn_bad_cwd_event) {
  rec_t r = {0};
  sl_spawn_opts_t o = {.cwd = "/nonexistent-sluice-dir"};
  run(&r, sh("pwd"), &o);
  ASSERT_STR_EQ(r.order, "EC");
  ASSERT_EQ(r.err, SL_ENOENT);
}

TEST(spawn_emfile_event) {
  struct rlimit old, low;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  sl_loop(); /* the loop's own descriptors exist before the limit drops */
  int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT(probe >= 0);
  close(probe);
  /* Room for one pipe, not three. */
  low = old;
  low.rlim_cur = (rlim_t)probe + 3;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  rec_t r = {0};
  sl_child_t* c = NULL;
  ASSERT_EQ(sl_spawn("/bin/true", NULL, NULL, &c), 0);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  listen_all(c, &r);
  sl_run();
  ASSERT_STR_EQ(r.order, "EC");
  ASSERT_EQ(r.err, SL_EMFILE);
  ASSERT(strncmp(r.message, "spawn ", 6) == 0);
  ASSERT(strstr(r.message, " EMFILE") != NULL);
}

TEST(spawn_einval) {
  sl_child_t* c = NULL;
  ASSERT_EQ(sl_spawn(NULL, NULL, NULL, &c), SL_EINVAL);
  ASSERT_EQ(sl_spawn("", NULL, NULL, &c), SL_EINVAL);
  sl_spawn_opts_t o = {.stdio = {{SL_STDIO_FD, -1}}};
  ASSERT_EQ(sl_spawn("/bin/true", NULL, &o, &c), SL_EINVAL);
  sl_spawn_opts_t o2 = {.kill_signal = 1000};
  ASSERT_EQ(sl_spawn("/bin/true", NULL, &o2, &c), SL_EINVAL);
}

TEST(spawn_env_inherit_add_replace) {
  setenv("SL_TEST_INHERITED", "yes", 1);
  rec_t r = {0};
  run(&r, sh("echo \"$SL_TEST_INHERITED\""), NULL);
  ASSERT_STR_EQ(r.out, "yes\n");

  const char* add[] = {"SL_TEST_ADDED=a b", "SL_TEST_INHERITED=over", NULL};
  sl_spawn_opts_t o = {.env = add, .env_mode = SL_ENV_ADD};
  rec_t r2 = {0};
  run(&r2, sh("echo \"$SL_TEST_ADDED|$SL_TEST_INHERITED|${PATH:+path}\""), &o);
  ASSERT_STR_EQ(r2.out, "a b|over|path\n");

  const char* only[] = {"ONLY=1", NULL};
  sl_spawn_opts_t o3 = {.env = only, .env_mode = SL_ENV_REPLACE};
  rec_t r3 = {0};
  const char* argv[] = {"/usr/bin/env", NULL};
  run(&r3, argv, &o3);
  ASSERT_STR_EQ(r3.out, "ONLY=1\n");
}

TEST(spawn_cwd) {
  rec_t r = {0};
  sl_spawn_opts_t o = {.cwd = sl_test_tmpdir()};
  run(&r, sh("pwd"), &o);
  char want[4200];
  snprintf(want, sizeof want, "%s\n", sl_test_tmpdir());
  ASSERT_STR_EQ(r.out, want);
}

TEST(spawn_stdio_ignore_and_fd) {
  const char* path = sl_test_path("out.txt");
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT(fd >= 0);
  sl_spawn_opts_t o = {
      .stdio = {{SL_STDIO_IGNORE, 0}, {SL_STDIO_FD, fd}, {SL_STDIO_FD, fd}}};
  rec_t r = {0};
  /* stdin is /dev/null: cat ends at once and prints nothing. */
  run(&r, sh("cat; echo to-file; echo err-to-file >&2"), &o);
  close(fd);
  ASSERT_STR_EQ(r.order, "SXC");
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.out_len, 0);
  char* got = sl_test_read_file(path, NULL);
  ASSERT_STR_EQ(got, "to-file\nerr-to-file\n");
  free(got);
}

TEST(spawn_stdio_inherit) {
  const char* path = sl_test_path("inherited.txt");
  int saved = sl_test_capture_fd(1, path);
  sl_spawn_opts_t o = {.stdio = {{SL_STDIO_IGNORE, 0},
                                 {SL_STDIO_INHERIT, 0},
                                 {SL_STDIO_PIPE, 0}}};
  rec_t r = {0};
  sl_child_t* c = NULL;
  ASSERT_EQ(sl_spawn("/bin/sh", sh("echo inherited"), &o, &c), 0);
  ASSERT(sl_child_stdin(c) == NULL && sl_child_stdout(c) == NULL);
  ASSERT(sl_child_stderr(c) != NULL);
  listen_all(c, &r);
  sl_run();
  char* got = sl_test_capture_end(1, saved, path);
  ASSERT_STR_EQ(r.order, "SXC");
  ASSERT_STR_EQ(got, "inherited\n");
  free(got);
}

/* A stderr given as the parent's descriptor 1 while stdout is a pipe: the
 * child's 2 is the parent's 1, not its own new 1. */
TEST(spawn_stdio_crosswise_fd) {
  const char* path = sl_test_path("cross.txt");
  int saved = sl_test_capture_fd(1, path);
  sl_spawn_opts_t o = {
      .stdio = {{SL_STDIO_IGNORE, 0}, {SL_STDIO_PIPE, 0}, {SL_STDIO_FD, 1}}};
  rec_t r = {0};
  run(&r, sh("echo piped; echo crossed >&2"), &o);
  char* got = sl_test_capture_end(1, saved, path);
  ASSERT_STR_EQ(r.out, "piped\n");
  ASSERT_STR_EQ(got, "crossed\n");
  free(got);
}

static void write_stdin(sl_child_t* c, void* arg) {
  sl_stream_t* in = sl_child_stdin(c);
  sl_stream_write_str(in, "hello ");
  sl_chunk_t* last = sl_chunk_str("world\n");
  sl_stream_end(in, last, NULL, NULL);
  sl_chunk_unref(last);
}

TEST(spawn_stdin_pipe) {
  rec_t r = {.on_spawn = write_stdin};
  const char* argv[] = {"tr", "a-z", "A-Z", NULL};
  run(&r, argv, NULL);
  ASSERT_STR_EQ(r.order, "SXC");
  ASSERT_STR_EQ(r.out, "HELLO WORLD\n");
}

typedef struct {
  sl_stream_t* out;
  uint64_t total;
  sl_timer_t* timer;
} slow_t;

static void slow_resume(sl_timer_t* t, void* arg) {
  slow_t* s = arg;
  s->timer = NULL;
  sl_stream_resume(s->out);
}

static void slow_data(sl_stream_t* st, const sl_event_t* ev, void* arg) {
  slow_t* s = arg;
  s->total += sl_chunk_len(ev->chunk);
  sl_stream_pause(st);
  s->timer = sl_timer_start(1, 0, slow_resume, s);
}

TEST(spawn_stdout_backpressure) {
  const char* argv[] = {"head", "-c", "67108864", "/dev/zero", NULL};
  sl_child_t* c = NULL;
  ASSERT_EQ(sl_spawn("head", argv, NULL, &c), 0);
  rec_t r = {0};
  for (int t = SL_CHILD_SPAWN; t <= SL_CHILD_CLOSE; t++)
    sl_child_on(c, (sl_child_event_type_t)t, on_event, &r);
  slow_t s = {.out = sl_stream_ref(sl_child_stdout(c))};
  sl_stream_on(s.out, SL_EV_DATA, slow_data, &s);
  sl_run();
  ASSERT_STR_EQ(r.order, "SXC");
  ASSERT_EQ(s.total, 67108864);
  sl_stream_stats_t st;
  sl_stream_stats(s.out, &st);
  size_t hwm = sl_stream_readable_hwm(s.out);
  /* At most one read past the mark, never the child's whole output. */
  ASSERT_LE(st.max_buffered, 2 * hwm);
  sl_stream_unref(s.out);
}

static void kill_tree_at_close(sl_child_t* c, const sl_child_event_t* ev,
                               void* arg) {
  sl_child_kill_tree(c, SIGKILL);
}

TEST(spawn_close_after_drain_timeout) {
  rec_t r = {0};
  sl_spawn_opts_t o = {.close_drain_ms = 200};
  sl_child_t* c = NULL;
  /* The background sleep keeps stdout open after the shell exits. */
  ASSERT_EQ(sl_spawn("/bin/sh", sh("sleep 30 & echo started"), &o, &c), 0);
  listen_all(c, &r);
  sl_child_on(c, SL_CHILD_CLOSE, kill_tree_at_close, NULL);
  sl_run();
  ASSERT_STR_EQ(r.order, "SXC");
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.drain_timeout, 1);
  ASSERT_STR_EQ(r.out, "started\n");
}

static void kill_on_spawn(sl_child_t* c, void* arg) {
  ASSERT_EQ(sl_child_kill(c, SIGTERM), 0);
}

static void kill_after_exit(sl_child_t* c, const sl_child_event_t* ev,
                            void* arg) {
  ASSERT_EQ(sl_child_kill(c, SIGTERM), SL_ESRCH);
  ASSERT_EQ(sl_child_kill(c, -1), SL_EINVAL);
}

TEST(kill_child) {
  rec_t r = {.on_spawn = kill_on_spawn};
  sl_child_t* c = NULL;
  const char* argv[] = {"sleep", "10", NULL};
  ASSERT_EQ(sl_spawn("sleep", argv, NULL, &c), 0);
  listen_all(c, &r);
  sl_child_on(c, SL_CHILD_EXIT, kill_after_exit, NULL);
  sl_run();
  ASSERT_STR_EQ(r.order, "SXC");
  ASSERT_EQ(r.term_signal, SIGTERM);
  ASSERT_EQ(r.exit_code, -1);
  ASSERT_EQ(r.timed_out, 0);
}

/* The shell prints its background sleep's pid first; the test kills the
 * tree once it has read it. */
typedef struct {
  rec_t r;
  pid_t grandchild;
  sl_child_t* c;
  int kill_tree;
} tree_t;

static void tree_out(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  tree_t* t = arg;
  if (t->grandchild == 0) t->grandchild = atoi(sl_chunk_data(ev->chunk));
  if (t->kill_tree && t->grandchild > 0) {
    ASSERT_EQ(sl_child_kill_tree(t->c, SIGTERM), 0);
    t->kill_tree = 0;
  }
}

static void run_tree(tree_t* t, const char* script, const sl_spawn_opts_t* o) {
  ASSERT_EQ(sl_spawn("/bin/sh", sh(script), o, &t->c), 0);
  for (int k = SL_CHILD_SPAWN; k <= SL_CHILD_CLOSE; k++)
    sl_child_on(t->c, (sl_child_event_type_t)k, on_event, &t->r);
  sl_stream_on(sl_child_stdout(t->c), SL_EV_DATA, tree_out, t);
  sl_run();
}

TEST(kill_tree_group) {
  tree_t t = {.kill_tree = 1};
  run_tree(&t, "sleep 100 & echo $!; sleep 100", NULL);
  ASSERT_STR_EQ(t.r.order, "SXC");
  ASSERT_EQ(t.r.term_signal, SIGTERM);
  ASSERT_GT(t.grandchild, 1);
  ASSERT(pid_gone_soon(t.grandchild));
}

TEST(kill_timeout_tree) {
  tree_t t = {0};
  sl_spawn_opts_t o = {.timeout_ms = 300};
  run_tree(&t, "sleep 100 & echo $!; sleep 100", &o);
  ASSERT_STR_EQ(t.r.order, "SXC");
  ASSERT_EQ(t.r.timed_out, 1);
  ASSERT_EQ(t.r.term_signal, SIGTERM);
  ASSERT_GT(t.grandchild, 1);
  ASSERT(pid_gone_soon(t.grandchild));
}

/* Everything in the group ignores SIGTERM: SIGKILL follows the grace
 * period, for the shell and for its background sleep. */
TEST(kill_timeout_grace_sigkill) {
  tree_t t = {0};
  sl_spawn_opts_t o = {.timeout_ms = 200, .kill_grace_ms = 200};
  run_tree(&t, "trap '' TERM; sleep 100 & echo $!; sleep 100", &o);
  ASSERT_STR_EQ(t.r.order, "SXC");
  ASSERT_EQ(t.r.timed_out, 1);
  ASSERT_EQ(t.r.term_signal, SIGKILL);
  ASSERT(pid_gone_soon(t.grandchild));
}

TEST(kill_signal_option) {
  tree_t t = {0};
  sl_spawn_opts_t o = {.timeout_ms = 100, .kill_signal = SIGINT};
  run_tree(&t, "sleep 100", &o);
  ASSERT_EQ(t.r.timed_out, 1);
  ASSERT_EQ(t.r.term_signal, SIGINT);
}

/* Descriptors this process inherited from whoever started it are not
 * sluice's: mark them close-on-exec, then open some of sluice's own (a
 * running child with pipes, a file stream, the loop) and list what a new
 * child sees. */
static void cloexec_inherited(void) {
  DIR* d = opendir("/proc/self/fd");
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    int fd = atoi(e->d_name);
    if (fd > 2 && fd != dirfd(d)) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  closedir(d);
}

static void end_busy(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  sl_stream_end(sl_child_stdin(arg), NULL, NULL, NULL);
}

TEST(spawn_child_sees_only_stdio) {
  cloexec_inherited();
  sl_child_t* busy = NULL;
  const char* cat[] = {"cat", NULL};
  ASSERT_EQ(sl_spawn("cat", cat, NULL, &busy), 0);
  rec_t r = {0};
  sl_child_t* c = NULL;
  ASSERT_EQ(sl_spawn("/bin/sh", sh("ls /proc/$$/fd"), NULL, &c), 0);
  listen_all(c, &r);
  /* Ending cat's stdin at the close lets the loop finish it too. */
  sl_child_on(c, SL_CHILD_CLOSE, end_busy, busy);
  sl_run();
  ASSERT_STR_EQ(r.out, "0\n1\n2\n");
}

TEST(spawn_child_sees_channel_fd) {
  cloexec_inherited();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  sl_child_t* c = NULL;
  const char* extra[] = {"NODE_CHANNEL_FD=3", NULL};
  int fds[2] = {sv[1], -1};
  ASSERT_EQ(
      sl__child_spawn("/bin/sh", sh("ls /proc/$$/fd; echo $NODE_CHANNEL_FD"),
                      NULL, extra, fds, &c),
      0);
  rec_t r = {0};
  listen_all(c, &r);
  sl_run();
  close(sv[0]);
  ASSERT_STR_EQ(r.out, "0\n1\n2\n3\n3\n");
}

TEST(spawn_sigchld_path_reaps_each) {
  sl__spawn_no_pidfd = 1;
  rec_t r[5];
  memset(r, 0, sizeof r);
  for (int i = 0; i < 5; i++) {
    char script[64];
    snprintf(script, sizeof script, "sleep 0.0%d; exit %d", i, 10 + i);
    sl_child_t* c = NULL;
    ASSERT_EQ(sl_spawn("/bin/sh", sh(script), NULL, &c), 0);
    listen_all(c, &r[i]);
  }
  sl_run();
  for (int i = 0; i < 5; i++) {
    ASSERT_STR_EQ(r[i].order, "SXC");
    ASSERT_EQ(r[i].exit_code, 10 + i);
  }
}

static void check_ref(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  *(pid_t*)arg = sl_child_pid(c);
}

TEST(spawn_ref_outlives_close) {
  sl_child_t* c = NULL;
  pid_t seen = 0;
  ASSERT_EQ(sl_spawn("/bin/true", NULL, NULL, &c), 0);
  sl_child_ref(c);
  sl_child_on(c, SL_CHILD_CLOSE, check_ref, &seen);
  sl_run();
  ASSERT_EQ(seen, sl_child_pid(c));
  ASSERT_GT(seen, 0);
  ASSERT_EQ(sl_child_on(c, SL_CHILD_EXIT, check_ref, &seen), SL_EDESTROYED);
  ASSERT_EQ(sl_child_kill(c, 0), SL_ESRCH);
  sl_child_unref(c);
}

/* Field `n` (1-based) of /proc/PID/stat, after the command name. */
static long stat_field(const char* stat, int n) {
  const char* p = strrchr(stat, ')');
  for (int f = 2; p != NULL && f < n; f++) p = strchr(p + 1, ' ');
  return p ? atol(p + 1) : -1;
}

TEST(spawn_own_group_and_detached_session) {
  rec_t r = {0};
  run(&r, sh("cat /proc/$$/stat"), NULL);
  /* The child: its own group; the same session as us. */
  long pid = atol(r.out);
  ASSERT_EQ(stat_field(r.out, 5), pid);
  ASSERT_EQ(stat_field(r.out, 6), getsid(0));

  rec_t r2 = {0};
  sl_spawn_opts_t o = {.detached = 1};
  run(&r2, sh("cat /proc/$$/stat"), &o);
  long pid2 = atol(r2.out);
  ASSERT_EQ(stat_field(r2.out, 5), pid2);
  ASSERT_EQ(stat_field(r2.out, 6), pid2);
}

TEST(spawn_uid_gid_fallback) {
  if (geteuid() != 0) SKIP("needs root to switch users");
  rec_t r = {0};
  sl_spawn_opts_t o = {.set_uid = 1, .uid = 65534, .set_gid = 1, .gid = 65534};
  run(&r, sh("id -u; id -g"), &o);
  ASSERT_STR_EQ(r.order, "SXC");
  ASSERT_STR_EQ(r.out, "65534\n65534\n");
  rec_t r2 = {0};
  const char* argv[] = {"/nonexistent/sluice-no-such-program", NULL};
  run(&r2, argv, &o);
  ASSERT_STR_EQ(r2.order, "EC");
  ASSERT_EQ(r2.err, SL_ENOENT);
}

TEST(spawn_unread_output_still_closes) {
  /* Nobody reads stdout: it is drained after the exit, as in Node. */
  sl_child_t* c = NULL;
  rec_t r = {0};
  const char* argv[] = {"head", "-c", "1000", "/dev/zero", NULL};
  ASSERT_EQ(sl_spawn("head", argv, NULL, &c), 0);
  for (int k = SL_CHILD_SPAWN; k <= SL_CHILD_CLOSE; k++)
    sl_child_on(c, (sl_child_event_type_t)k, on_event, &r);
  sl_run();
  ASSERT_STR_EQ(r.order, "SXC");
  ASSERT_EQ(r.drain_timeout, 0);
}

/* Leaves `v` all over the stack below the caller, where the next call's
 * locals will sit. */
static __attribute__((noinline)) int dirty_stack(int v) {
  volatile int a[4096];
  for (int i = 0; i < 4096; i++) a[i] = v;
  return a[v & 1];
}

/* EMFILE half-way through making the pipes: the error is an event and no
 * descriptor of ours is touched (an unset slot of the plan once closed
 * whatever number was on the stack). */
TEST(spawn_emfile_mid_pipes_keeps_other_fds) {
  struct rlimit old, low;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  sl_loop();
  int victim = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT(victim >= 0);
  int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT(probe >= 0);
  close(probe);
  low = old;
  low.rlim_cur = (rlim_t)probe + 3; /* one pipe, not three */
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  rec_t r = {0};
  sl_child_t* c = NULL;
  ASSERT_EQ(dirty_stack(victim), victim);
  int rc = sl_spawn("/bin/true", NULL, NULL, &c);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_EQ(rc, 0);
  ASSERT(fcntl(victim, F_GETFD) >= 0);
  listen_all(c, &r);
  sl_run();
  ASSERT_STR_EQ(r.order, "EC");
  ASSERT_EQ(r.err, SL_EMFILE);
  ASSERT(fcntl(victim, F_GETFD) >= 0);
  close(victim);
}

/* A forked shell exits while its background sleep still holds the channel
 * (fd 3) and will never read it, and a message too large for the socket
 * is queued: the drain deadline still brings CLOSE (the channel is given
 * up, not politely disconnected behind a send that cannot finish). */
static void alive_at_close(sl_child_t* c, const sl_child_event_t* ev,
                           void* arg) {
  rec_t* r = arg;
  pid_t g = (pid_t)atoi(r->out);
  r->alive_at_close = g > 1 && sl_test_pid_alive(g);
  if (g > 1) kill(g, SIGKILL);
}

/* A forked shell exits while its background sleep still holds the channel
 * (fd 3) and will never read it, and a message too large for the socket
 * is queued: the drain deadline still brings CLOSE (the channel is given
 * up, not politely disconnected behind a send that cannot finish). */
TEST(spawn_close_after_drain_timeout_channel_queued) {
  rec_t r = {0};
  sl_spawn_opts_t o = {.close_drain_ms = 200, .serialization = SL_IPC_BINARY};
  o.stdio[0].kind = SL_STDIO_IGNORE;
  o.stdio[1].kind = SL_STDIO_PIPE;
  o.stdio[2].kind = SL_STDIO_IGNORE;
  sl_child_t* c = NULL;
  ASSERT_EQ(sl_fork("/bin/sh", sh("sleep 5 & echo $!; exit 0"), &o, &c), 0);
  listen_all(c, &r);
  size_t big = 8u << 20;
  char* m = calloc(1, big);
  ASSERT_GE(sl_child_send(c, m, big, -1), 0);
  free(m);
  sl_child_on(c, SL_CHILD_CLOSE, alive_at_close, &r);
  sl_run();
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.order[r.n - 1], 'C');
  /* CLOSE came while the sleep was still running. */
  ASSERT_EQ(r.alive_at_close, 1);
}

/* The child exits just before its deadline and the loop sees the timer
 * before the exit (timers run first in a loop iteration): it finished on
 * its own, so it did not time out, and exec reports success, as Node does
 * for code 0. */
TEST(spawn_exit_then_due_timeout_not_timed_out) {
  rec_t r = {0};
  sl_spawn_opts_t o = {.timeout_ms = 1};
  sl_child_t* c = NULL;
  const char* argv[] = {"/bin/true", NULL};
  ASSERT_EQ(sl_spawn("/bin/true", argv, &o, &c), 0);
  listen_all(c, &r);
  pid_t pid = sl_child_pid(c);
  for (int i = 0; i < 300; i++) { /* exited, not yet reaped */
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE* f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    char* p = strrchr(buf, ')');
    if (p != NULL && p[2] == 'Z') break;
    usleep(10000);
  }
  sl_run();
  ASSERT_STR_EQ(r.order, "SXC");
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.term_signal, 0);
  ASSERT_EQ(r.timed_out, 0);
}

/* sl_child_wait: one callback with everything a caller checks. */
typedef struct {
  int calls, type, err, exit_code, term_signal, timed_out;
  char message[128];
} waited_t;

static void on_waited(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  (void)c;
  waited_t* w = arg;
  w->calls++;
  w->type = ev->type;
  w->err = ev->err;
  w->exit_code = ev->exit_code;
  w->term_signal = ev->term_signal;
  w->timed_out = ev->timed_out;
  snprintf(w->message, sizeof w->message, "%s", ev->message ? ev->message : "");
}

static waited_t wait_for(const char* file, const char* const* argv,
                         const sl_spawn_opts_t* o) {
  waited_t w = {0};
  sl_child_t* c;
  ASSERT_EQ(sl_spawn(file, argv, o, &c), 0);
  ASSERT_EQ(sl_child_wait(c, on_waited, &w), 0);
  ASSERT_EQ(w.calls, 0); /* never inside the call */
  sl_run();
  ASSERT_EQ(w.calls, 1);
  ASSERT_EQ(w.type, SL_CHILD_CLOSE);
  return w;
}

TEST(spawn_wait_exit_code) {
  sl_spawn_opts_t o = {.stdio = {{SL_STDIO_IGNORE, 0},
                                 {SL_STDIO_IGNORE, 0},
                                 {SL_STDIO_IGNORE, 0}}};
  waited_t w = wait_for("sh", sh("exit 3"), &o);
  ASSERT_EQ(w.err, 0);
  ASSERT_EQ(w.exit_code, 3);
  ASSERT_STR_EQ(w.message, "");
}

TEST(spawn_wait_enoent_and_timeout) {
  const char* argv[] = {"sluice-no-such-program", NULL};
  waited_t w = wait_for(argv[0], argv, NULL);
  ASSERT_EQ(w.err, SL_ENOENT);
  ASSERT(strstr(w.message, "sluice-no-such-program") != NULL);
  sl_spawn_opts_t o = {.timeout_ms = 100, .kill_grace_ms = 200};
  w = wait_for("sh", sh("sleep 100"), &o);
  ASSERT_EQ(w.timed_out, 1);
  ASSERT_EQ(w.term_signal, SIGTERM);
  ASSERT_EQ(w.exit_code, -1);
}
