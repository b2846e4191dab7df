/* libFuzzer driver for the HTTP request path: bytes go through a server
 * connection without a socket (llhttp, our smuggling checks and limits, a
 * trivial handler that reads the body and answers), see
 * sl__http_fuzz_feed() in src/http/server.c. The first byte also chooses
 * where the input is split in two reads. Build and run with fuzz/run. */
#include <stddef.h>
#include <stdint.h>

#include "http/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sl__http_fuzz_feed(data, size);
  return 0;
}
