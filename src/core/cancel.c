/* Cancel tokens: one atomic flag, so triggering is async-signal-safe and lock-free. */
#include <stdatomic.h>
#include <stdlib.h>

#include "llmux.h"

struct llmux_cancel {
    atomic_int triggered;
};

llmux_cancel *llmux_cancel_create(void) {
    llmux_cancel *c = malloc(sizeof *c);
    if (c) atomic_init(&c->triggered, 0);
    return c;
}

void llmux_cancel_destroy(llmux_cancel *c) { free(c); }

void llmux_cancel_trigger(llmux_cancel *c) {
    if (c) atomic_store(&c->triggered, 1);
}

bool llmux_cancel_is_triggered(const llmux_cancel *c) {
    return c && atomic_load(&((llmux_cancel *)c)->triggered) != 0;
}
