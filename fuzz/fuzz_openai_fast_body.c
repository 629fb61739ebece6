/* lx_openai_fast_body on arbitrary bytes: whatever it accepts, jansson (read as the openai
 * decoder reads a non-streaming answer) must read as the same text-only chat.completion with
 * nothing else to decode (tests/support/openai_fast_check.h); it must never read or write out of
 * bounds (ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../tests/support/openai_fast_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy, so a read past the end is caught. */
    char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    const char *why = lx_fast_body_disagreement(copy, size, NULL);
    if (why) {
        fprintf(stderr, "fast body reader disagrees with jansson: %s\n", why);
        abort();
    }
    free(copy);
    return 0;
}
