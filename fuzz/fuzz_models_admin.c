/* The body of POST /models/load and /models/unload (lx_srv_models_admin_body) on untrusted bytes.
 * Beyond "no crash, no leak": a refusal says why and leaves the model buffer empty; an accepted
 * body yields a NUL-terminated local model name of 1..LX_MODELS_ADMIN_MAX_MODEL bytes without a
 * NUL inside, that is not a remote "provider/model", from a body within the size cap; and a
 * model buffer too small for the name is refused, never overrun. */
#define _XOPEN_SOURCE 700 /* strnlen */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmux.h"
#include "server/http/endpoints.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *body = (const char *)data;
    char model[LX_MODELS_ADMIN_MAX_MODEL + 1 + 8];
    memset(model, 'Z', sizeof model);
    llmux_error_info err;
    /* The real buffer size, with a guard after it that must stay untouched. */
    llmux_status st = lx_srv_models_admin_body(body, size, model, LX_MODELS_ADMIN_MAX_MODEL + 1, &err);
    for (size_t i = LX_MODELS_ADMIN_MAX_MODEL + 1; i < sizeof model; i++)
        if (model[i] != 'Z') abort();
    if (st != LLMUX_OK) {
        if (st != LLMUX_E_INVALID_REQUEST || err.status != st || err.message[0] == '\0' || model[0] != '\0') abort();
    } else {
        size_t n = strnlen(model, LX_MODELS_ADMIN_MAX_MODEL + 1);
        if (size > LX_MODELS_ADMIN_MAX_BODY || n == 0 || n > LX_MODELS_ADMIN_MAX_MODEL) abort();
        if (llmux_model_kind_of(model) == LLMUX_MODEL_REMOTE) abort();
    }
    /* A buffer of 8 bytes: a longer name is refused, nothing is written past it. */
    char small[8 + 8];
    memset(small, 'Z', sizeof small);
    st = lx_srv_models_admin_body(body, size, small, 8, &err);
    for (size_t i = 8; i < sizeof small; i++)
        if (small[i] != 'Z') abort();
    if (st == LLMUX_OK && strnlen(small, 8) >= 8) abort();
    return 0;
}
