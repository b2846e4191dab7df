/* sluice: Node.js's advanced layer (streams, child processes, cluster, HTTP)
 * for C, on libuv, llhttp and zlib.
 *
 * This is the only header a program includes. Objects are opaque; option
 * structs are visible and a zeroed struct means the defaults. Errors are
 * negative codes equal to libuv's UV_E* values (SL_ENOENT == UV_ENOENT), plus
 * sluice's own range (SL_EWRITEAFTEREND, ...). No callback ever runs inside the
 * call that caused it: every event is delivered from the loop.
 *
 * Threading: every function here must be called on the loop thread.
 */
#ifndef SLUICE_H
#define SLUICE_H

/* One header per layer, each including the one beneath it:
 *   core     errors, loop, timers, signals, memory, chunks
 *   stream   streams and the concrete streams (file, tcp, stdio, zlib)
 *   process  child processes, IPC channels, the worker pool
 *   http     HTTP/1.1 server and client, static files
 *   cluster  primary and workers
 *   ws       WebSocket server and client (over http) */
#include <stdio.h> /* printf and puts: console.log, for every program */

#include "sluice/core.h"
#include "sluice/stream.h"
#include "sluice/process.h"
#include "sluice/http.h"
#include "sluice/cluster.h"
#include "sluice/ws.h"

#endif /* SLUICE_H */
