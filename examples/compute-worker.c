/* Manual 4.4, the child: compute.js as a C program that speaks Node's IPC
 * channel, so it runs under fork-compute or under a real Node.js parent
 * (child_process.fork(path, args, { execPath: './compute-worker' })).
 *
 *   process.on('message', ({ n }) => {
 *     let sum = 0;
 *     for (let i = 0; i < n; i++) sum += i;
 *     process.send({ result: sum });
 *     process.exit();
 *   });
 *
 * Node's fork() runs `execPath [execArgv] modulePath args`; the arguments
 * are ignored here. Exits 1 when started without a channel. */
#include <stdio.h>

#include <sluice.h>

static void on_message(sl_channel_t* ch, const sl_child_event_t* ev,
                       void* arg) {
  int64_t n;
  if (sl_json_get_int(ev->msg->data, ev->msg->len, "n", &n) != 0) {
    fprintf(stderr, "compute-worker: expected {\"n\": N}, got %.*s\n",
            (int)ev->msg->len, ev->msg->data);
    return;
  }
  /* volatile: the loop is the point of the example, not its closed form. */
  volatile int64_t sum = 0;
  for (int64_t i = 0; i < n; i++) sum += i;
  char out[64];
  int len = snprintf(out, sizeof out, "{\"result\":%lld}", (long long)sum);
  sl_channel_send(ch, out, (size_t)len, -1);
  /* process.exit(): leave once the reply is out. */
  sl_channel_disconnect(ch);
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  sl_channel_t* parent = sl_parent();
  if (parent == NULL) {
    fprintf(stderr, "compute-worker: no IPC channel (start it with fork)\n");
    return 1;
  }
  sl_channel_on(parent, SL_CHILD_MESSAGE, on_message, NULL);
  return sl_run();
}
