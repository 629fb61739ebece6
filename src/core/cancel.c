/* Cancel tokens: one atomic flag, so triggering is async-signal-safe and lock-free. A token may
 * follow a parent (core/cancel.h); reading walks the short chain, triggering never does. */
#include "core/cancel.h"

#include <stdatomic.h>
#include <stdlib.h>

struct llmux_cancel {
    atomic_int triggered;
    const llmux_cancel *parent; /* set once at creation */
};

llmux_cancel *lx_cancel_create_linked(const llmux_cancel *parent) {
    llmux_cancel *c = malloc(sizeof *c);
    if (!c) return NULL;
    atomic_init(&c->triggered, 0);
    c->parent = parent;
    return c;
}

llmux_cancel *llmux_cancel_create(void) { return lx_cancel_create_linked(NULL); }

void llmux_cancel_destroy(llmux_cancel *c) { free(c); }

void llmux_cancel_trigger(llmux_cancel *c) {
    if (c) atomic_store(&c->triggered, 1);
}

bool llmux_cancel_is_triggered(const llmux_cancel *c) {
    for (; c; c = c->parent)
        if (atomic_load(&((llmux_cancel *)c)->triggered) != 0) return true;
    return false;
}
