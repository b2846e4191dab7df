/* libFuzzer driver for the WebSocket frame parser and its state machine:
 * bytes as they would come from a peer, through sl__ws_fuzz_feed() (see
 * src/ws/ws_int.h: the first two bytes pick the role, deflate, fragments,
 * limits and the split). Build and run with SL_FUZZ_TARGET=ws_frames
 * fuzz/run. */
#include <stddef.h>
#include <stdint.h>

#include "ws/ws_int.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sl__ws_fuzz_feed(data, size);
  return 0;
}
