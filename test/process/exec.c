/* Tests for exec.c: exec through the shell, execFile without one (shell
 * metacharacters stay literal), max_buffer, non-zero exits, timeouts,
 * spawn errors, and the synchronous variants. */
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>

#include "test.h"

typedef struct {
  int calls;
  int err;
  sl_exec_result_t r; /* copied: the callback's own is freed after it */
} got_t;

static char* dup_or_null(const char* s) { return s ? strdup(s) : NULL; }

static void on_exec(int err, const sl_exec_result_t* r, void* arg) {
  got_t* g = arg;
  g->calls++;
  g->err = err;
  g->r = *r;
  g->r.out = dup_or_null(r->out);
  g->r.err = dup_or_null(r->err);
  g->r.message = dup_or_null(r->message);
}

static void got_free(got_t* g) {
  free(g->r.out);
  free(g->r.err);
  free(g->r.message);
}

TEST(exec_shell_ok) {
  got_t g = {0};
  ASSERT_EQ(sl_exec("echo hi; echo there >&2", NULL, on_exec, &g), 0);
  ASSERT_EQ(g.calls, 0); /* never inside the call */
  sl_run();
  ASSERT_EQ(g.calls, 1);
  ASSERT_EQ(g.err, 0);
  ASSERT_STR_EQ(g.r.out, "hi\n");
  ASSERT_EQ(g.r.out_len, 3);
  ASSERT_STR_EQ(g.r.err, "there\n");
  ASSERT_EQ(g.r.exit_code, 0);
  ASSERT(g.r.message == NULL);
  got_free(&g);
}

TEST(exec_nonzero_exit) {
  got_t g = {0};
  ASSERT_EQ(sl_exec("echo oops >&2; exit 3", NULL, on_exec, &g), 0);
  sl_run();
  ASSERT_EQ(g.err, SL_ECMDFAILED);
  ASSERT_EQ(g.r.exit_code, 3);
  ASSERT_EQ(g.r.term_signal, 0);
  ASSERT_STR_EQ(g.r.message, "Command failed: echo oops >&2; exit 3\noops\n");
  got_free(&g);
}

TEST(exec_max_buffer) {
  got_t g = {0};
  sl_exec_opts_t o = {.max_buffer = 1000};
  ASSERT_EQ(sl_exec("yes", &o, on_exec, &g), 0);
  sl_run();
  ASSERT_EQ(g.err, SL_EMAXBUFFER);
  ASSERT_EQ(g.r.out_len, 1000);
  ASSERT(strncmp(g.r.out, "y\ny\ny\n", 6) == 0);
  ASSERT_STR_EQ(g.r.message, "stdout maxBuffer length exceeded");
  ASSERT_EQ(g.r.term_signal, SIGTERM);
  got_free(&g);
}

TEST(exec_timeout) {
  got_t g = {0};
  sl_exec_opts_t o = {.spawn = {.timeout_ms = 200}};
  ASSERT_EQ(sl_exec("echo started; sleep 10", &o, on_exec, &g), 0);
  sl_run();
  ASSERT_EQ(g.err, SL_ETIMEDOUT);
  ASSERT_EQ(g.r.timed_out, 1);
  ASSERT_EQ(g.r.term_signal, SIGTERM);
  ASSERT_STR_EQ(g.r.out, "started\n");
  ASSERT(strncmp(g.r.message, "Command failed: echo started; sleep 10\n", 39) ==
         0);
  got_free(&g);
}

TEST(exec_file_metacharacters_inert) {
  got_t g = {0};
  const char* argv[] = {"echo", "a;b", "$(id)", "|", "`x`", "&&", "*", NULL};
  ASSERT_EQ(sl_exec_file("echo", argv, NULL, on_exec, &g), 0);
  sl_run();
  ASSERT_EQ(g.err, 0);
  ASSERT_STR_EQ(g.r.out, "a;b $(id) | `x` && *\n");
  got_free(&g);
}

TEST(exec_file_enoent) {
  got_t g = {0};
  const char* argv[] = {"sluice-nosuch", "--version", NULL};
  ASSERT_EQ(sl_exec_file("sluice-nosuch", argv, NULL, on_exec, &g), 0);
  sl_run();
  ASSERT_EQ(g.calls, 1);
  ASSERT_EQ(g.err, SL_ENOENT);
  ASSERT_STR_EQ(g.r.message, "spawn sluice-nosuch ENOENT");
  ASSERT_EQ(g.r.exit_code, -1);
  ASSERT_STR_EQ(g.r.out, "");
  got_free(&g);
}

TEST(exec_file_failed_message) {
  got_t g = {0};
  const char* argv[] = {"ls", "/nonexistent-sluice", NULL};
  ASSERT_EQ(sl_exec_file("ls", argv, NULL, on_exec, &g), 0);
  sl_run();
  ASSERT_EQ(g.err, SL_ECMDFAILED);
  ASSERT_NE(g.r.exit_code, 0);
  ASSERT(strncmp(g.r.message,
                 "Command failed: ls /nonexistent-sluice\nls: ", 42) == 0);
  got_free(&g);
}

TEST(exec_many_concurrent) {
  got_t g[8];
  memset(g, 0, sizeof g);
  for (int i = 0; i < 8; i++) {
    char cmd[64];
    snprintf(cmd, sizeof cmd, "echo %d; exit %d", i, i % 2);
    ASSERT_EQ(sl_exec(cmd, NULL, on_exec, &g[i]), 0);
  }
  sl_run();
  for (int i = 0; i < 8; i++) {
    char want[8];
    snprintf(want, sizeof want, "%d\n", i);
    ASSERT_EQ(g[i].calls, 1);
    ASSERT_STR_EQ(g[i].r.out, want);
    ASSERT_EQ(g[i].err, i % 2 ? SL_ECMDFAILED : 0);
    got_free(&g[i]);
  }
}

TEST(exec_sync_variants) {
  sl_exec_result_t r;
  ASSERT_EQ(sl_exec_sync("echo out; echo err >&2; exit 2", NULL, &r),
            SL_ECMDFAILED);
  ASSERT_STR_EQ(r.out, "out\n");
  ASSERT_STR_EQ(r.err, "err\n");
  ASSERT_EQ(r.exit_code, 2);
  ASSERT_STR_EQ(r.message,
                "Command failed: echo out; echo err >&2; exit 2\nerr\n");
  sl_exec_result_free(&r);

  const char* argv[] = {"echo", "$(id)", "|", ";", NULL};
  ASSERT_EQ(sl_exec_file_sync("echo", argv, NULL, &r), 0);
  ASSERT_STR_EQ(r.out, "$(id) | ;\n");
  sl_exec_result_free(&r);

  /* spawnSync: a non-zero exit is a status, not an error. */
  const char* sh[] = {"/bin/sh", "-c", "echo x; exit 7", NULL};
  ASSERT_EQ(sl_spawn_sync("/bin/sh", sh, NULL, &r), 0);
  ASSERT_EQ(r.exit_code, 7);
  ASSERT_STR_EQ(r.out, "x\n");
  sl_exec_result_free(&r);

  const char* nosuch[] = {"sluice-nosuch", NULL};
  ASSERT_EQ(sl_spawn_sync("sluice-nosuch", nosuch, NULL, &r), SL_ENOENT);
  ASSERT_STR_EQ(r.message, "spawn sluice-nosuch ENOENT");
  sl_exec_result_free(&r);
}

TEST(exec_sync_timeout_and_max_buffer) {
  sl_exec_result_t r;
  sl_exec_opts_t o = {.spawn = {.timeout_ms = 200}};
  ASSERT_EQ(sl_exec_sync("sleep 10 & sleep 10", &o, &r), SL_ETIMEDOUT);
  ASSERT_EQ(r.timed_out, 1);
  ASSERT_EQ(r.term_signal, SIGTERM);
  sl_exec_result_free(&r);

  sl_exec_opts_t o2 = {.max_buffer = 5000};
  ASSERT_EQ(sl_exec_sync("yes", &o2, &r), SL_EMAXBUFFER);
  ASSERT_EQ(r.out_len, 5000);
  ASSERT_STR_EQ(r.message, "stdout maxBuffer length exceeded");
  sl_exec_result_free(&r);

  /* A grandchild that keeps stdout open: the drain deadline ends it. */
  sl_exec_opts_t o3 = {.spawn = {.close_drain_ms = 200}};
  ASSERT_EQ(sl_exec_sync("sleep 30 & echo $!", &o3, &r), 0);
  ASSERT_GT(atoi(r.out), 1);
  kill(atoi(r.out), SIGKILL);
  sl_exec_result_free(&r);
}

TEST(exec_no_loop_needed_for_sync) {
  sl_exec_result_t r;
  ASSERT_EQ(sl_exec_sync("printf abc", NULL, &r), 0);
  ASSERT_STR_EQ(r.out, "abc");
  ASSERT_EQ(r.out_len, 3);
  sl_exec_result_free(&r);
}
