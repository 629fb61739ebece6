/* Running a function on the runtime's loop thread and waiting for it: how the HTTP server and the
 * IPC server set up, drain and tear down their loop-owned state from the thread that starts or
 * stops them. */
#ifndef LX_SERVER_LOOP_SYNC_H
#define LX_SERVER_LOOP_SYNC_H

#include <stdbool.h>

#include "llmux.h"

/* Posts fn(arg) to rt's loop (llmux_runtime_post) and waits until it has run. Never from the loop
 * thread (it would wait for itself). False when the runtime refused the post (shutting down);
 * fn did not run then. */
bool lx_run_on_loop_wait(llmux_runtime *rt, void (*fn)(void *arg), void *arg);

#endif
