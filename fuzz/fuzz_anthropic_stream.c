/* The anthropic response decoder (SSE stream and whole body) on arbitrary bytes; the properties
 * checked are listed in stream_harness.h (lx_fuzz_stream_aggregate). */
#include "stream_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return lx_fuzz_stream_aggregate(&lx_provider_anthropic, "anthropic", data, size);
}
