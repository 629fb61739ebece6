/* The Responses API adapter's decoder on arbitrary bytes; the properties checked are listed in
 * stream_harness.h (lx_fuzz_stream_events). */
#include "stream_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return lx_fuzz_stream_events(&lx_provider_openai_responses, "openai-responses", data, size);
}
