/* Process start-up, the top layer: sl_init() is the one call that knows
 * every layer, so that no lower layer calls up. It sets what Node sets
 * before a script runs (SIGPIPE ignored) and, in a process forked as a
 * named entry (sl_fork_entry), runs that entry instead of returning. */
#include <signal.h>

#include "process/process_int.h"

int sl_init(int argc, char** argv) {
  /* As in Node: a write to a closed pipe or socket is EPIPE from the write,
   * not a signal that kills the process. */
  sl__ignore_sigpipe();
  sl__entry_dispatch(argc, argv);
  return 0;
}
