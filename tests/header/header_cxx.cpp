// Compiles the public header as C++ (extern "C", no C-only constructs).
#include "llmux.h"

int llmux_header_cxx_probe();
int llmux_header_cxx_probe() {
    llmux_request r = llmux_request_default();
    return static_cast<int>(r.n_messages) + LLMUX_VERSION_MAJOR;
}
