/* The on-disk prompt cache's file parser (src/engine/prompt_file.h) on untrusted bytes, as
 * lx_pdisk reads a file: the bytes are the whole file. Beyond "no crash, no leak": an accepted
 * file has a token count within the limits, every token inside the vocabulary, a size that is
 * exactly header + tokens + blob, a header that writes back to the same 48 bytes, tokens that
 * hash to the header's value; a refusal always says why; the blob check agrees with a
 * recomputed hash. The last input byte chooses whether the model's fingerprint is the file's
 * own (to reach the checks after it) or a fixed one (to exercise the refusal). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/prompt_file.h"

#define MAX_TOKENS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lx_pfile_limits lim = {.fingerprint = UINT64_C(0x1234567890abcdef), .min_tokens = 16, .max_tokens = MAX_TOKENS,
                           .n_vocab = 300, .max_state = 1 << 20};
    if (size >= 16 && (data[size - 1] & 1)) {
        uint64_t fp = 0;
        for (int i = 0; i < 8; i++) fp |= (uint64_t)data[8 + i] << (8 * i);
        lim.fingerprint = fp;
    }
    static int32_t tokens[MAX_TOKENS];
    lx_pfile_header h;
    const char *why = lx_pfile_parse(data, size, size, &lim, &h, tokens);
    if (why) {
        if (!*why) abort();
        return 0;
    }
    if (h.n_tokens < lim.min_tokens || h.n_tokens > lim.max_tokens) abort();
    if (h.fingerprint != lim.fingerprint) abort();
    if (h.state_size == 0 || h.state_size > lim.max_state) abort();
    size_t body = LX_PFILE_HEADER_BYTES + 4 * (size_t)h.n_tokens;
    if (size != body + h.state_size) abort();
    for (int32_t i = 0; i < h.n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= lim.n_vocab) abort();
    uint8_t back[LX_PFILE_HEADER_BYTES];
    lx_pfile_write_header(&h, back);
    if (memcmp(back, data, LX_PFILE_HEADER_BYTES) != 0) abort();
    if (lx_pfile_hash(LX_PFILE_HASH_INIT, data + LX_PFILE_HEADER_BYTES, 4 * (size_t)h.n_tokens) != h.tokens_hash)
        abort();
    const char *state_why = lx_pfile_check_state(&h, data + body, (size_t)h.state_size);
    bool match = lx_pfile_hash(LX_PFILE_HASH_INIT, data + body, (size_t)h.state_size) == h.state_hash;
    if ((state_why == NULL) != match) abort();
    /* A blob of another size is always refused. */
    if (h.state_size > 1 && !lx_pfile_check_state(&h, data + body, (size_t)h.state_size - 1)) abort();
    return 0;
}
