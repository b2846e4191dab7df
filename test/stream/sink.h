/* Shared by the descriptor-stream tests (tcp.c, stdio.c): a sink that
 * collects what a stream delivers and how it ended (the feeder that writes
 * to them is sl_test_feed() in test/helpers.c). Static functions only: each
 * test file gets its own copy. */
#ifndef SL_TEST_SINK_H
#define SL_TEST_SINK_H

#include "test.h"

/* Collects what a stream delivers, and how it ended. */
typedef struct {
  char* buf;
  size_t len, cap;
  int ended, closed, finished, connected, err;
  char msg[256];
} sink_t;

static __attribute__((unused)) void on_sink(sl_stream_t* s,
                                            const sl_event_t* ev, void* arg) {
  sink_t* k = arg;
  switch (ev->type) {
    case SL_EV_DATA: {
      size_t n = sl_chunk_len(ev->chunk);
      if (k->len + n > k->cap) {
        k->cap = (k->len + n) * 2;
        k->buf = realloc(k->buf, k->cap);
      }
      memcpy(k->buf + k->len, sl_chunk_data(ev->chunk), n);
      k->len += n;
      break;
    }
    case SL_EV_END:
      k->ended++;
      break;
    case SL_EV_CLOSE:
      k->closed++;
      break;
    case SL_EV_FINISH:
      k->finished++;
      break;
    case SL_EV_CONNECT:
      k->connected++;
      break;
    case SL_EV_ERROR:
      k->err = ev->err;
      snprintf(k->msg, sizeof k->msg, "%s", ev->message ? ev->message : "");
      break;
    default:
      break;
  }
}

static __attribute__((unused)) void sink_watch(sl_stream_t* s, sink_t* k,
                                               int data) {
  static const sl_event_type_t t[] = {SL_EV_END, SL_EV_CLOSE, SL_EV_FINISH,
                                      SL_EV_CONNECT, SL_EV_ERROR};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    ASSERT_EQ(sl_stream_on(s, t[i], on_sink, k), 0);
  if (data) ASSERT_EQ(sl_stream_on(s, SL_EV_DATA, on_sink, k), 0);
}

#endif
