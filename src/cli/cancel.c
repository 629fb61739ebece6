/* Ctrl-C (SIGINT) and SIGTERM cancel the running request through a cancel token, so a command
 * still tears down cleanly, keeps what it printed and reports LLMUX_E_CANCELLED instead of dying
 * mid-write. A second signal means the user does not want to wait for that (a model load or a
 * DNS lookup cannot be interrupted): it restores the default action and re-raises, so the
 * process dies at once. */
#define _XOPEN_SOURCE 700
#include <signal.h>
#include <string.h>

#include "cli.h"

/* The handler can only reach the token through a global; one command runs per process. */
static llmux_cancel *g_cancel;
static volatile sig_atomic_t g_signals;
static volatile sig_atomic_t g_first_signal;

static void on_signal(int sig) {
    if (g_signals == 0) g_first_signal = sig;
    if (g_signals++ > 0 || !g_cancel) {
        /* signal() and raise() are async-signal-safe. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    llmux_cancel_trigger(g_cancel);
}

llmux_cancel *cli_cancel_begin(void) {
    g_cancel = llmux_cancel_create();
    g_signals = 0;
    g_first_signal = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return g_cancel;
}

bool cli_cancel_signalled(void) { return g_signals > 0; }

int cli_cancel_signal(void) { return g_first_signal; }

void cli_cancel_end(void) {
    /* Default handlers first: a late signal must not reach a destroyed token. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    llmux_cancel_destroy(g_cancel);
    g_cancel = NULL;
}
