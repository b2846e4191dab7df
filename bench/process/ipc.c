/* bench/process IPC driver: a forked entry of this program on the other end
 * of the channel, in json or binary mode (workloads 4 and 5).
 *   pingpong: the parent sends {"i":N}, the child echoes it back, the parent
 *             sends the next on each reply; N round trips.
 *   oneway:   the parent sends N messages of SIZE bytes as fast as the
 *             channel takes them (waiting for SL_CHILD_DRAIN at the send
 *             mark), then {"end":1}; the child counts them and answers
 *             {"count":N}, which stops the clock.
 * Either stops early once SECS seconds pass.
 *
 * Usage: ipc pingpong|oneway json|binary N SIZE SECS
 * Prints: n=DONE secs=ELAPSED rate=PER_SEC; exits 1 on a failure. */
#include <signal.h>
#include <string.h>

#include "bench.h"

static const char end_msg[] = "{\"end\":1}";
static long want, done, sent;
static double limit, start;
static int oneway, ended, failed;
static char* payload;
static size_t payload_len;
static sl_child_t* child;

/* Child entries: echo every message, or count until the end marker. */
static void on_echo(sl_channel_t* ch, const sl_child_event_t* ev, void* arg) {
  sl_channel_send(ch, ev->msg->data, ev->msg->len, -1);
}

static void on_sink(sl_channel_t* ch, const sl_child_event_t* ev, void* arg) {
  static long count;
  char reply[64];
  if (ev->msg->len == sizeof end_msg - 1 &&
      memcmp(ev->msg->data, end_msg, ev->msg->len) == 0) {
    int n = snprintf(reply, sizeof reply, "{\"count\":%ld}", count);
    sl_channel_send(ch, reply, (size_t)n, -1);
  } else {
    count++;
  }
}

static int child_main(sl_channel_cb cb) {
  sl_channel_t* p = sl_parent();
  if (p == NULL) return 1;
  sl_channel_on(p, SL_CHANNEL_MESSAGE, cb, NULL);
  sl_run();
  return 0;
}

SL_ENTRY(echo) { return child_main(on_echo); }
SL_ENTRY(sink) { return child_main(on_sink); }

/* Sends one message; a refused send stops the run (the child is killed). */
static int send_msg(const char* data, size_t len) {
  int rc = sl_child_send(child, data, len, -1);
  if (rc < 0) {
    fprintf(stderr, "ipc: send: %s\n", sl_strerror(rc));
    failed = 1;
    sl_child_kill(child, SIGKILL);
  }
  return rc;
}

static void ping(void) {
  char msg[32];
  int n = snprintf(msg, sizeof msg, "{\"i\":%ld}", done);
  send_msg(msg, (size_t)n);
}

/* Sends until the channel's send mark, then waits for SL_CHILD_DRAIN. */
static void pump(void) {
  while (!ended && !failed) {
    if (sent == want || bench_elapsed() - start >= limit) {
      ended = 1;
      send_msg(end_msg, sizeof end_msg - 1);
      return;
    }
    int rc = send_msg(payload, payload_len);
    if (rc < 0) return;
    sent++;
    if (rc == 0) return;
  }
}

static void on_message(const sl_message_t* m) {
  int64_t count;
  if (!oneway) {
    done++;
    if (done < want && bench_elapsed() - start < limit) {
      ping();
      return;
    }
  } else if (sl_json_get_int(m->data, m->len, "count", &count) != 0 ||
             count != sent) {
    fprintf(stderr, "ipc: child counted %.*s, %ld sent\n", (int)m->len, m->data,
            sent);
    failed = 1;
  } else {
    done = sent;
  }
  bench_report_rate(done, bench_elapsed() - start);
  sl_channel_disconnect(sl_child_channel(child));
}

static void on_child(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  switch (ev->type) {
    case SL_CHILD_MESSAGE:
      on_message(ev->msg);
      break;
    case SL_CHILD_DRAIN:
      pump();
      break;
    case SL_CHILD_ERROR:
      fprintf(stderr, "ipc: %s\n", ev->message);
      failed = 1;
      break;
    case SL_CHILD_CLOSE:
      if (ev->exit_code != 0) failed = 1;
      break;
    default:
      break;
  }
}

/* A JSON object of exactly `len` bytes ({"p":"aaa..."}), valid in both
 * modes; binary mode sends the same bytes without parsing them. */
static char* make_payload(size_t len) {
  char* p = malloc(len + 1);
  if (p == NULL || len < 8) return NULL;
  memset(p, 'a', len);
  memcpy(p, "{\"p\":\"", 6);
  memcpy(p + len - 2, "\"}", 2);
  p[len] = '\0';
  return p;
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  if (argc < 4) {
    fprintf(stderr, "usage: ipc pingpong|oneway json|binary N SIZE SECS\n");
    return 2;
  }
  oneway = strcmp(argv[1], "oneway") == 0;
  want = (long)bench_arg(argc, argv, 3, 1000);
  payload_len = (size_t)bench_arg(argc, argv, 4, 1024);
  limit = bench_arg(argc, argv, 5, 60);
  if (oneway && (payload = make_payload(payload_len)) == NULL) return 2;
  sl_spawn_opts_t o = {.stdio = {{SL_STDIO_INHERIT, 0},
                                 {SL_STDIO_INHERIT, 0},
                                 {SL_STDIO_INHERIT, 0}},
                       .serialization = strcmp(argv[2], "binary") == 0
                                            ? SL_IPC_BINARY
                                            : SL_IPC_JSON};
  const char* args[] = {argv[0], NULL};
  int rc = sl_fork_entry(oneway ? "sink" : "echo", args, &o, &child);
  if (rc != 0) {
    fprintf(stderr, "ipc: %s\n", sl_strerror(rc));
    return 1;
  }
  for (int t = 0; t < (SL_CHILD_DRAIN + 1); t++)
    sl_child_on(child, t, on_child, NULL);
  start = bench_elapsed();
  if (oneway)
    pump();
  else
    ping();
  sl_run();
  free(payload);
  return failed || done == 0;
}
