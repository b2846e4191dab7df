#include "test.h"

static int ndata, nend, nclose;
static void on_ev(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  if (ev->type == SL_EV_DATA) ndata++;
  if (ev->type == SL_EV_END) nend++;
  if (ev->type == SL_EV_CLOSE) nclose++;
}

TEST(smoke_readable_flowing) {
  sl_stream_t* r = sl_readable_new(NULL);
  sl_stream_push_bytes(r, "abc", 3);
  sl_stream_push(r, NULL);
  sl_stream_on(r, SL_EV_DATA, on_ev, NULL);
  sl_stream_on(r, SL_EV_END, on_ev, NULL);
  sl_stream_on(r, SL_EV_CLOSE, on_ev, NULL);
  ASSERT_EQ(ndata, 0);
  sl_run();
  ASSERT_EQ(ndata, 1);
  ASSERT_EQ(nend, 1);
  ASSERT_EQ(nclose, 1);
}
