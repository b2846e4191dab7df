/* Manual 4.6: two-way communication between a parent and a forked child
 * (the child is a named entry of this same program).
 *
 *   worker.send({ command: 'hello' });               // parent
 *   process.on('message', msg =>                      // child
 *     console.log('Message from parent:', msg));
 *   process.send({ reply: 'world' });
 *
 * Prints "Message from parent: {...}" (from the child) and
 * "Message from worker: {...}" (from the parent), then both exit 0. */
#include <stdio.h>
#include <string.h>

#include <sluice.h>

static void child_on_message(sl_channel_t* ch, const sl_child_event_t* ev,
                             void* arg) {
  printf("Message from parent: %.*s\n", (int)ev->msg->len, ev->msg->data);
  fflush(stdout);
}

/* The child: answers at once, prints what the parent says, and ends when
 * the parent disconnects. */
SL_ENTRY(two_way_child) {
  sl_channel_t* parent = sl_parent();
  if (parent == NULL) return 1;
  sl_channel_on(parent, SL_CHILD_MESSAGE, child_on_message, NULL);
  const char* reply = "{\"reply\":\"world\"}";
  sl_channel_send(parent, reply, strlen(reply), -1);
  return sl_run();
}

static int got_reply, status;

static void on_event(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  if (ev->type == SL_CHILD_MESSAGE) {
    printf("Message from worker: %.*s\n", (int)ev->msg->len, ev->msg->data);
    fflush(stdout);
    got_reply = 1;
    /* Both sides have spoken: let the child go. */
    sl_channel_disconnect(sl_child_channel(c));
  } else if (ev->type == SL_CHILD_ERROR) {
    fprintf(stderr, "two-way: %s\n", ev->message);
    status = 1;
  } else if (ev->type == SL_CHILD_EXIT && ev->exit_code != 0) {
    fprintf(stderr, "two-way: child exited with %d\n", ev->exit_code);
    status = 1;
  }
}

int main(int argc, char** argv) {
  sl_init(argc, argv); /* in the child, runs two_way_child and exits */
  sl_child_t* worker;
  if (sl_fork_entry("two_way_child", NULL, NULL, &worker) != 0) return 1;
  sl_child_on(worker, SL_CHILD_MESSAGE, on_event, NULL);
  sl_child_on(worker, SL_CHILD_ERROR, on_event, NULL);
  sl_child_on(worker, SL_CHILD_EXIT, on_event, NULL);
  const char* hello = "{\"command\":\"hello\"}";
  sl_child_send(worker, hello, strlen(hello), -1);
  sl_run();
  return got_reply ? status : 1;
}
