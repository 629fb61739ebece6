/* Ctrl-C (SIGINT) and SIGTERM cancel the running request through a cancel token, so a command
 * still tears down cleanly and reports LLMUX_E_CANCELLED instead of dying mid-write. */
#define _XOPEN_SOURCE 700
#include <signal.h>
#include <string.h>

#include "cli.h"

/* The handler can only reach the token through a global; one command runs per process. */
static llmux_cancel *g_cancel;

static void on_signal(int sig) {
    (void)sig;
    llmux_cancel_trigger(g_cancel);
}

llmux_cancel *cli_cancel_begin(void) {
    g_cancel = llmux_cancel_create();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return g_cancel;
}

void cli_cancel_end(void) {
    /* Default handlers first: a late signal must not reach a destroyed token. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    llmux_cancel_destroy(g_cancel);
    g_cancel = NULL;
}
