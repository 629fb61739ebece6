/* Compiles the public header as strict C11: nothing else is included first. */
#include "llmux.h"

int llmux_header_c_probe(void);
int llmux_header_c_probe(void) {
    llmux_request r = llmux_request_default();
    return (int)r.n_messages + LLMUX_VERSION_MAJOR;
}
