/* Process start-up, the top layer: sl_init() is the one call that knows
 * every layer, so that no lower layer calls up. It sets what Node sets
 * before a script runs (SIGPIPE ignored), installs the cluster's listen
 * hooks in a worker and, in a process forked as a named entry
 * (sl_fork_entry), runs that entry instead of returning. */
#include "cluster/cluster_int.h"

int sl_init(int argc, char** argv) {
  /* As in Node: a write to a closed pipe or socket is EPIPE from the write,
   * not a signal that kills the process. */
  sl__ignore_sigpipe();
  /* In a cluster worker a server's listen asks the primary. */
  sl__wnet_install();
  sl__entry_dispatch(argc, argv);
  return 0;
}
