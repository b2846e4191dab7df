/* The WebSocket fuzzing entry, run in the suite on a bounded set: frames a
 * peer could send, valid and mutated, through both roles, with and without
 * deflate and fragments, split at every kind of place. Under ASan+UBSan in
 * CI; the runner fails the case on a leaked handle or descriptor. The long
 * run is fuzz/run with SL_FUZZ_TARGET=ws_frames. */
#include "test.h"
#include "ws/ws_int.h"

/* A frame as a peer in `client` role sends it (masked when it is a
 * client's), after the two control bytes of the fuzz entry. */
static size_t frame(uint8_t* out, int client_peer, int fin, int rsv, int op,
                    const void* p, size_t n) {
  unsigned char key[4] = {1, 2, 3, 4};
  size_t h = sl__ws_frame_header(out, fin, 0, op, n, client_peer ? key : NULL);
  out[0] |= (uint8_t)(rsv << 4);
  memcpy(out + h, p, n);
  if (client_peer) sl__ws_mask(out + h, n, key, 0);
  return h + n;
}

TEST(ws_fuzz_entry_known_inputs) {
  uint8_t in[512];
  /* A server (flags bit 0 clear) gets a masked text frame: one message. */
  in[0] = 0;
  in[1] = 7; /* split inside the frame */
  size_t n = 2 + frame(in + 2, 1, 1, 0, 1, "hello", 5);
  ASSERT_EQ(sl__ws_fuzz_feed(in, n), 1);
  /* A client (bit 0) gets the same masked frame: a protocol error, none. */
  in[0] = 1;
  ASSERT_EQ(sl__ws_fuzz_feed(in, n), 0);
  /* Two fragments and a ping between them, to a server. */
  in[0] = 0;
  n = 2;
  n += frame(in + n, 1, 0, 0, 1, "ab", 2);
  n += frame(in + n, 1, 1, 0, 9, "", 0);
  n += frame(in + n, 1, 1, 0, 0, "cd", 2);
  ASSERT_EQ(sl__ws_fuzz_feed(in, n), 1);
  in[0] = 8; /* fragments delivered as they come: two */
  ASSERT_EQ(sl__ws_fuzz_feed(in, n), 2);
  /* libFuzzer's first findings: nothing buffered (no arithmetic on the
   * empty buffer's NULL), and an empty compressed text message. */
  ASSERT_EQ(sl__ws_fuzz_feed((const uint8_t*)"\xbe\x0a", 2), 0);
  in[0] = 2; /* a server with permessage-deflate */
  n = 2 + frame(in + 2, 1, 1, 4, 1, "\x00", 1);
  ASSERT_EQ(sl__ws_fuzz_feed(in, n), 1);
}

TEST(ws_fuzz_entry_random_and_mutated) {
  uint8_t in[2048];
  uint64_t seed = 6455;
  long delivered = 0;
  for (int round = 0; round < 3000; round++) {
    size_t n = 2;
    in[0] = (uint8_t)round;
    in[1] = (uint8_t)(round * 7);
    /* Some valid frames of the right masking, then flipped bits. */
    int client_peer = !(in[0] & 1);
    for (int f = 0; f < 1 + round % 4 && n < sizeof in - 200; f++) {
      char payload[150];
      size_t len = (size_t)(round * 13 + f * 31) % sizeof payload;
      sl_test_fill_random(payload, len, seed++);
      /* Every fourth round anything goes (reserved bits, bad opcodes and
       * sequences); the others are whole, valid messages. */
      int wild = round % 4 == 3;
      int op = wild ? (int[]){1, 2, 0, 8, 9, 10, 3}[(round + f) % 7]
                    : (int[]){1, 2, 9, 10}[(round + f) % 4];
      if (op == 1 && !wild)
        for (size_t k = 0; k < len; k++) payload[k] = 'a' + payload[k] % 26;
      n += frame(in + n, client_peer, wild ? (round + f) % 3 != 0 : 1,
                 wild ? (round >> 3) & 7 : 0, op, payload,
                 op >= 8 && len > 125 ? 125 : len);
    }
    if (round % 4 == 1) {
      uint8_t flips[8];
      sl_test_fill_random(flips, sizeof flips, seed++);
      for (int k = 0; k < 4; k++) in[2 + flips[k] % (n - 2)] ^= flips[k + 4];
    }
    if (round % 5 == 0) { /* plain noise */
      n = 2 + (size_t)(round % 700);
      sl_test_fill_random(in + 2, n - 2, seed++);
    }
    delivered += sl__ws_fuzz_feed(in, n);
  }
  /* The unmutated rounds are valid and are delivered: the inputs reach
   * the parser, not just the first check. */
  ASSERT_GT(delivered, 1000);
}
