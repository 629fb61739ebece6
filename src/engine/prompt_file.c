/* The on-disk prompt cache's file format; see prompt_file.h. */
#include "prompt_file.h"

#include <string.h>

#define FNV_PRIME UINT64_C(0x100000001b3)

static uint64_t mix(uint64_t z) { /* splitmix64's finaliser: every input bit reaches every output bit */
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Four independent FNV-1a lanes over 32-byte blocks (a state blob is megabytes: one lane would
 * wait on each multiply), then the tail byte by byte, folded and mixed. */
uint64_t lx_pfile_hash(uint64_t h, const void *data, size_t len) {
    const uint8_t *p = data;
    uint64_t lane[4] = {h, h ^ 1, h ^ 2, h ^ 3};
    size_t i = 0;
    for (; i + 32 <= len; i += 32)
        for (int k = 0; k < 4; k++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * (size_t)k, 8);
            lane[k] = (lane[k] ^ w) * FNV_PRIME;
        }
    uint64_t r = lane[0] ^ mix(lane[1]) ^ mix(mix(lane[2])) ^ mix(mix(mix(lane[3])));
    for (; i < len; i++) r = (r ^ p[i]) * FNV_PRIME;
    return mix(r ^ (uint64_t)len);
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void lx_pfile_write_header(const lx_pfile_header *h, uint8_t out[LX_PFILE_HEADER_BYTES]) {
    memcpy(out, LX_PFILE_MAGIC, 4);
    put32(out + 4, LX_PFILE_VERSION);
    put64(out + 8, h->fingerprint);
    put32(out + 16, (uint32_t)h->n_tokens);
    put32(out + 20, 0);
    put64(out + 24, h->state_size);
    put64(out + 32, h->tokens_hash);
    put64(out + 40, h->state_hash);
}

const char *lx_pfile_parse(const uint8_t *data, size_t len, uint64_t file_size, const lx_pfile_limits *lim,
                           lx_pfile_header *h, int32_t *tokens) {
    memset(h, 0, sizeof *h);
    if (len < LX_PFILE_HEADER_BYTES || file_size < LX_PFILE_HEADER_BYTES) return "shorter than its header";
    if (memcmp(data, LX_PFILE_MAGIC, 4) != 0) return "not a prompt cache file (bad magic)";
    if (get32(data + 4) != LX_PFILE_VERSION) return "a prompt cache file of another version";
    uint64_t fp = get64(data + 8);
    if (fp != lim->fingerprint) return "made with another model (fingerprint differs)";
    uint32_t n = get32(data + 16);
    if (get32(data + 20) != 0) return "reserved header field is not zero";
    if (n < (uint32_t)(lim->min_tokens > 0 ? lim->min_tokens : 1) || n > (uint32_t)lim->max_tokens)
        return "token count out of range for this context";
    uint64_t state_size = get64(data + 24);
    if (state_size == 0 || state_size > lim->max_state) return "state size out of range";
    uint64_t body = (uint64_t)LX_PFILE_HEADER_BYTES + 4 * (uint64_t)n;
    if (file_size < body || file_size - body != state_size) return "file size does not match its header";
    if (len < body) return "truncated token list";
    const uint8_t *tp = data + LX_PFILE_HEADER_BYTES;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t t = get32(tp + 4 * (size_t)i);
        if (t >= (uint32_t)lim->n_vocab) return "a token outside the vocabulary";
        tokens[i] = (int32_t)t;
    }
    uint64_t th = get64(data + 32);
    if (lx_pfile_hash(LX_PFILE_HASH_INIT, tp, 4 * (size_t)n) != th) return "token list does not match its hash";
    h->fingerprint = fp;
    h->n_tokens = (int32_t)n;
    h->state_size = state_size;
    h->tokens_hash = th;
    h->state_hash = get64(data + 40);
    return NULL;
}

const char *lx_pfile_check_state(const lx_pfile_header *h, const uint8_t *state, size_t size) {
    if ((uint64_t)size != h->state_size) return "state size does not match its header";
    if (lx_pfile_hash(LX_PFILE_HASH_INIT, state, size) != h->state_hash) return "state does not match its hash";
    return NULL;
}
