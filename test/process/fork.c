/* fork: named entries of the test binary (re-executed through
 * /proc/self/exe and dispatched by sl_init), both serializations, the
 * channel across processes (descriptors included), disconnects in either
 * direction, a parent that dies, and Node.js on either side. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

/* --- entries (run in the forked child) ------------------------------------ */

static int entry_fds_at_start;

static int count_fds(void) {
  DIR* d = opendir("/proc/self/fd");
  int n = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

static void echo_on_msg(sl_channel_t* ch, const sl_child_event_t* ev,
                        void* arg) {
  const sl_message_t* m = ev->msg;
  char out[128];
  int64_t n;
  if (m->fd >= 0) {
    ssize_t w = write(m->fd, "from child", 10);
    close(m->fd);
    snprintf(out, sizeof out, "{\"wrote\":%zd}", w);
  } else if (*(int*)arg == SL_IPC_BINARY) {
    sl_channel_send(ch, m->data, m->len, -1);
    return;
  } else if (sl_json_get_int(m->data, m->len, "n", &n) == 0) {
    snprintf(out, sizeof out, "{\"result\":%lld}",
             (long long)(n * (n - 1) / 2));
  } else if (sl_json_get_int(m->data, m->len, "fds", &n) == 0) {
    snprintf(out, sizeof out, "{\"fds\":%d,\"env\":%d}", entry_fds_at_start,
             getenv("NODE_CHANNEL_FD") != NULL ||
                 getenv("SLUICE_FORK_ENTRY") != NULL);
  } else if (sl_json_get_int(m->data, m->len, "exit", &n) == 0) {
    exit((int)n);
  } else {
    snprintf(out, sizeof out, "{\"unknown\":true}");
  }
  sl_channel_send(ch, out, strlen(out), -1);
}

SL_ENTRY(fork_echo) {
  static int mode;
  entry_fds_at_start = count_fds();
  /* Read before sl_parent(), which takes the variables away. */
  mode = getenv("SLUICE_CHANNEL_MODE") ? SL_IPC_BINARY : SL_IPC_JSON;
  sl_channel_t* p = sl_parent();
  if (p == NULL) return 99;
  sl_channel_on(p, SL_CHANNEL_MESSAGE, echo_on_msg, &mode);
  sl_run();
  return 0;
}

SL_ENTRY(fork_exit7) { return 7; }

static void orphan_on_disconnect(sl_channel_t* ch, const sl_child_event_t* ev,
                                 void* arg) {
  FILE* f = fopen(getenv("SL_IPC_TEST_FILE"), "w");
  if (f) fclose(f);
}

SL_ENTRY(fork_orphan) {
  sl_channel_t* p = sl_parent();
  if (p == NULL) return 99;
  sl_channel_on(p, SL_CHANNEL_DISCONNECT, orphan_on_disconnect, NULL);
  sl_channel_send(p, "\"ready\"", 7, -1);
  sl_run();
  return 0;
}

static void middle_on_msg(sl_child_t* c, const sl_child_event_t* ev,
                          void* arg) {
  _exit(0); /* the grandchild is up: die without a goodbye */
}

SL_ENTRY(fork_middle) {
  sl_child_t* c;
  if (sl_fork_entry("fork_orphan", NULL, NULL, &c) != 0) return 98;
  sl_child_on(c, SL_CHILD_MESSAGE, middle_on_msg, NULL);
  sl_run();
  return 97;
}

SL_ENTRY(fork_send_fd) {
  sl_channel_t* p = sl_parent();
  if (p == NULL) return 99;
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  sl_channel_send(p, "{\"fd\":1}", 8, fd);
  close(fd);
  sl_channel_disconnect(p);
  sl_run();
  return 0;
}

/* --- parent side --------------------------------------------------------- */

typedef struct {
  int spawns, messages, exits, closes, disconnects, errors;
  int exit_code, term_signal;
  char last[256];
  int disconnect_after; /* disconnect once this many messages came */
} watch_t;

static void on_child(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  watch_t* w = arg;
  switch (ev->type) {
    case SL_CHILD_SPAWN:
      w->spawns++;
      break;
    case SL_CHILD_MESSAGE:
      w->messages++;
      snprintf(w->last, sizeof w->last, "%.*s", (int)ev->msg->len,
               ev->msg->data);
      if (w->messages == w->disconnect_after)
        sl_channel_disconnect(sl_child_channel(c));
      break;
    case SL_CHILD_EXIT:
      w->exits++;
      w->exit_code = ev->exit_code;
      w->term_signal = ev->term_signal;
      break;
    case SL_CHILD_CLOSE:
      w->closes++;
      break;
    case SL_CHILD_DISCONNECT:
      w->disconnects++;
      break;
    case SL_CHILD_ERROR:
      w->errors++;
      fprintf(stderr, "child error: %s\n", ev->message);
      break;
    default:
      break;
  }
}

static void watch(sl_child_t* c, watch_t* w) {
  for (int t = 0; t < (SL_CHILD_DRAIN + 1); t++)
    if (t != SL_CHILD_DRAIN) sl_child_on(c, t, on_child, w);
}

TEST(fork_entry_round_trip) {
  sl_child_t* c;
  watch_t w = {.disconnect_after = 1};
  ASSERT_EQ(sl_fork_entry("fork_echo", NULL, NULL, &c), 0);
  watch(c, &w);
  ASSERT(sl_child_channel(c) != NULL);
  ASSERT_EQ(sl_child_send(c, "{\"n\":1000}", 10, -1), 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_STR_EQ(w.last, "{\"result\":499500}");
  /* Disconnecting ends the child's loop: it exits 0 by itself. */
  ASSERT_EQ(w.spawns, 1);
  ASSERT_EQ(w.exits, 1);
  ASSERT_EQ(w.exit_code, 0);
  ASSERT_EQ(w.disconnects, 1);
  ASSERT_EQ(w.closes, 1);
  ASSERT_EQ(w.errors, 0);
}

TEST(fork_entry_exit_code) {
  sl_child_t* c;
  watch_t w = {0};
  ASSERT_EQ(sl_fork_entry("no_such_entry", NULL, NULL, &c), SL_ENOENT);
  ASSERT_EQ(sl_fork_entry("fork_exit7", NULL, NULL, &c), 0);
  watch(c, &w);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(w.exit_code, 7);
  /* The child's end closed with it: the parent sees the disconnect. */
  ASSERT_EQ(w.disconnects, 1);
  ASSERT_EQ(w.closes, 1);
}

/* Descriptors above 3 that this process lets its children inherit (ones
 * its own parent passed down without close-on-exec; none are sluice's). */
static int inheritable_fds(void) {
  int n = 0;
  for (int fd = 4; fd < 1024; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && !(fl & FD_CLOEXEC)) n++;
  }
  return n;
}

/* Only stdio and the channel are open in the child, and the channel
 * variables are gone from its environment once taken. */
TEST(fork_child_descriptors) {
  sl_child_t* c;
  watch_t w = {.disconnect_after = 1};
  ASSERT_EQ(sl_fork_entry("fork_echo", NULL, NULL, &c), 0);
  watch(c, &w);
  sl_child_send(c, "{\"fds\":1}", 9, -1);
  ASSERT_EQ(sl_run(), 0);
  char want[64];
  snprintf(want, sizeof want, "{\"fds\":%d,\"env\":0}", 4 + inheritable_fds());
  ASSERT_STR_EQ(w.last, want);
}

TEST(fork_binary_entry) {
  sl_child_t* c;
  watch_t w = {.disconnect_after = 2};
  sl_spawn_opts_t o = {.serialization = SL_IPC_BINARY};
  for (int i = 0; i < 3; i++) o.stdio[i].kind = SL_STDIO_INHERIT;
  ASSERT_EQ(sl_fork_entry("fork_echo", NULL, &o, &c), 0);
  watch(c, &w);
  ASSERT_EQ(sl_child_send(c, "\0raw\nbytes", 10, -1), 1);
  ASSERT_EQ(sl_child_send(c, "not json", 8, -1), 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(w.messages, 2);
  ASSERT_STR_EQ(w.last, "not json");
  ASSERT_EQ(w.exit_code, 0);
}

TEST(fork_fd_to_child) {
  sl_child_t* c;
  watch_t w = {.disconnect_after = 1};
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  ASSERT_EQ(sl_fork_entry("fork_echo", NULL, NULL, &c), 0);
  watch(c, &w);
  ASSERT_EQ(sl_child_send(c, "{\"write\":true}", 14, p[1]), 1);
  close(p[1]);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_STR_EQ(w.last, "{\"wrote\":10}");
  char buf[32];
  ASSERT_EQ(read(p[0], buf, sizeof buf), 10);
  ASSERT_MEM_EQ(buf, "from child", 10);
  close(p[0]);
}

/* The child exits with the code it chose mid-conversation; the parent
 * sees the channel go. */
TEST(fork_child_exit_mid_channel) {
  sl_child_t* c;
  watch_t w = {0};
  ASSERT_EQ(sl_fork_entry("fork_echo", NULL, NULL, &c), 0);
  watch(c, &w);
  sl_child_send(c, "{\"exit\":3}", 10, -1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(w.exit_code, 3);
  ASSERT_EQ(w.disconnects, 1);
  ASSERT_EQ(w.messages, 0);
}

/* A child whose parent dies sees DISCONNECT: the middle process forks a
 * grandchild and _exits; the grandchild notices and leaves a file. */
static void poll_file(sl_timer_t* t, void* arg) {
  int* left = arg;
  struct stat st;
  if (stat(getenv("SL_IPC_TEST_FILE"), &st) == 0 || --*left == 0)
    sl_timer_stop(t);
}

TEST(fork_parent_death_disconnects_child) {
  setenv("SL_IPC_TEST_FILE", sl_test_path("orphan-saw-disconnect"), 1);
  sl_child_t* c;
  watch_t w = {0};
  ASSERT_EQ(sl_fork_entry("fork_middle", NULL, NULL, &c), 0);
  watch(c, &w);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(w.exit_code, 0);
  int left = 500;
  sl_timer_start(10, 10, poll_file, &left);
  ASSERT_EQ(sl_run(), 0);
  struct stat st;
  ASSERT_EQ(stat(getenv("SL_IPC_TEST_FILE"), &st), 0);
}

/* --- Node.js on the other side -------------------------------------------- */

TEST(fork_node_child) {
  if (!sl_test_have("node")) SKIP("node is not installed");
  const char* js =
      "process.on('message', (m) => {\n"
      "  if (typeof m.n === 'number')\n"
      "    process.send({ result: m.n * (m.n - 1) / 2, from: 'node' });\n"
      "  else process.send({ echo: m });\n"
      "});\n";
  const char* path = sl_test_path("compute.js");
  sl_test_write_file(path, js, strlen(js));
  const char* argv[] = {"node", path, NULL};
  sl_child_t* c;
  watch_t w = {.disconnect_after = 2};
  ASSERT_EQ(sl_fork("node", argv, NULL, &c), 0);
  watch(c, &w);
  ASSERT_EQ(sl_child_send(c, "{\"n\":100}", 9, -1), 1);
  const char* uni = "{\"s\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\"}";
  ASSERT_EQ(sl_child_send(c, uni, strlen(uni), -1), 1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(w.messages, 2);
  /* Node re-serializes: its own escapes, raw UTF-8. */
  ASSERT_STR_EQ(w.last,
                "{\"echo\":{\"s\":\"caf\xc3\xa9 \xf0\x9f\x98\x80 "
                "\\\"q\\\"\"}}");
  /* After our disconnect the Node child has nothing left and exits 0. */
  ASSERT_EQ(w.exit_code, 0);
  ASSERT_EQ(w.errors, 0);
}

TEST(fork_node_parent) {
  if (!sl_test_have("node")) SKIP("node is not installed");
  char worker[PATH_MAX];
  snprintf(worker, sizeof worker, "%s", sl_test_self());
  snprintf(worker + strlen(dirname(worker)), 64, "/../examples/compute-worker");
  if (access(worker, X_OK) != 0) SKIP("%s not built", worker);
  const char* js =
      "const { fork } = require('child_process');\n"
      "const c = fork(__dirname + '/compute.js', ['--ignored'],\n"
      "               { execPath: process.argv[2] });\n"
      "c.on('message', (m) => console.log('result ' + m.result));\n"
      "c.on('exit', (code) => console.log('exit ' + code));\n"
      "c.send({ n: 2000 });\n";
  const char* path = sl_test_path("parent.js");
  sl_test_write_file(path, js, strlen(js));
  char cmd[3 * PATH_MAX];
  snprintf(cmd, sizeof cmd, "node '%s' '%s' 2>&1", path, worker);
  FILE* f = popen(cmd, "r");
  char out[256] = "";
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = '\0';
  ASSERT_EQ(pclose(f), 0);
  ASSERT_STR_EQ(out, "result 1999000\nexit 0\n");
}

/* Node as the parent of a sluice entry, sending a burst in one tick (Node
 * queues the lines and the kernel hands them over in large reads), with a
 * handle in the middle: every message gets its answer, in order. */
TEST(fork_node_parent_burst) {
  if (!sl_test_have("node")) SKIP("node is not installed");
  const char* js =
      "const { fork } = require('child_process');\n"
      "const net = require('net');\n"
      "const c = fork(__filename, [], { execPath: process.argv[2],\n"
      "  env: Object.assign({}, process.env,\n"
      "                     { SLUICE_FORK_ENTRY: 'fork_echo' }) });\n"
      "const N = 3000; let got = 0, sum = 0, wrote = 0, bad = 0;\n"
      "c.on('message', (m) => {\n"
      "  if ('wrote' in m) { wrote++; return; }\n"
      "  if (m.result !== got * (got - 1) / 2) bad++;\n"
      "  got++; sum += m.result;\n"
      "  if (got === N) c.disconnect();\n"
      "});\n"
      "c.on('exit', (code) => {\n"
      "  console.log(`got ${got} bad ${bad} wrote ${wrote} exit ${code}`);\n"
      "  srv.close();\n"
      "});\n"
      "const srv = net.createServer().listen(0, '127.0.0.1', () => {\n"
      "  for (let i = 0; i < N; i++) {\n"
      "    c.send({ n: i, pad: 'x'.repeat(i % 300) });\n"
      "    if (i === N / 2) c.send({ h: 1 }, srv);\n"
      "  }\n"
      "});\n";
  const char* path = sl_test_path("burst.js");
  sl_test_write_file(path, js, strlen(js));
  char cmd[3 * PATH_MAX];
  snprintf(cmd, sizeof cmd, "timeout 20 node '%s' '%s' 2>&1", path,
           sl_test_self());
  FILE* f = popen(cmd, "r");
  char out[512] = "";
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = '\0';
  ASSERT_EQ(pclose(f), 0);
  ASSERT_STR_EQ(out, "got 3000 bad 0 wrote 1 exit 0\n");
}

/* The child exits with messages of ours still unread in its socket: the
 * parent sees a disconnect, not an error (the kernel reports ECONNRESET). */
TEST(fork_child_exit_with_unread_messages) {
  sl_child_t* c;
  watch_t w = {0};
  const char* argv[] = {"/bin/sh", "-c", "exec sleep 0.2", NULL};
  ASSERT_EQ(sl_fork("/bin/sh", argv, NULL, &c), 0);
  watch(c, &w);
  for (int i = 0; i < 50; i++)
    ASSERT_GE(sl_child_send(c, "{\"n\":5}", 7, -1), 0);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(w.exit_code, 0);
  ASSERT_EQ(w.disconnects, 1);
  ASSERT_EQ(w.errors, 0);
  ASSERT_EQ(w.closes, 1);
}

/* A descriptor the child sends to a parent that listens for no MESSAGE
 * is closed by sluice, not left open in the parent. */
TEST(fork_fd_to_parent_without_listener) {
  int before = count_fds();
  sl_child_t* c;
  watch_t w = {0};
  ASSERT_EQ(sl_fork_entry("fork_send_fd", NULL, NULL, &c), 0);
  sl_child_on(c, SL_CHILD_EXIT, on_child, &w);
  sl_child_on(c, SL_CHILD_CLOSE, on_child, &w);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(w.exit_code, 0);
  ASSERT_EQ(w.closes, 1);
  ASSERT_EQ(count_fds(), before);
}
