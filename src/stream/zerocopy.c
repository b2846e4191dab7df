/* Zero-copy joins between descriptor streams (sendfile, splice,
 * copy_file_range). Until descriptor streams exist, every pipe moves chunks. */
#include "stream/stream_int.h"

int sl__zc_pipe(sl_stream_t* src, sl_stream_t* dst, const sl_pipe_opts_t* o) {
  (void)src;
  (void)dst;
  (void)o;
  return 0;
}
