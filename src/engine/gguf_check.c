#define _POSIX_C_SOURCE 200809L
#include "gguf_check.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "gguf.h"
#include "llama_log.h"

/* The limits of the pinned llama.cpp (src/llama-hparams.h: LLAMA_MAX_LAYERS, LLAMA_MAX_EXPERTS). */
#define LX_MAX_LAYERS INT64_C(512)
#define LX_MAX_EXPERTS INT64_C(1024)

typedef struct checker {
    const struct gguf_context *g;
    const char *path;
    const char *arch;
    llmux_error_info *err;
} checker;

static int64_t int_at(enum gguf_type t, const void *p) {
    switch (t) {
    case GGUF_TYPE_UINT8: return *(const uint8_t *)p;
    case GGUF_TYPE_INT8: return *(const int8_t *)p;
    case GGUF_TYPE_UINT16: return *(const uint16_t *)p;
    case GGUF_TYPE_INT16: return *(const int16_t *)p;
    case GGUF_TYPE_UINT32: return *(const uint32_t *)p;
    case GGUF_TYPE_INT32: return *(const int32_t *)p;
    case GGUF_TYPE_UINT64: {
        uint64_t v = *(const uint64_t *)p;
        return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
    }
    case GGUF_TYPE_INT64: return *(const int64_t *)p;
    case GGUF_TYPE_BOOL: return *(const int8_t *)p != 0;
    default: return 0;
    }
}

static size_t int_size(enum gguf_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32: return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64: return 8;
    default: return 0;
    }
}

/* The smallest and largest value of the integer key "<arch>.<suffix>" (a scalar, or an array of
 * per-layer values). Returns 0 when the key is absent or holds no integers (llama.cpp then
 * refuses the type itself, cleanly), 1 with *lo and *hi set. */
static int int_range(const checker *c, const char *suffix, char *key, size_t key_size, int64_t *lo, int64_t *hi) {
    snprintf(key, key_size, "%s.%s", c->arch, suffix);
    int64_t id = gguf_find_key(c->g, key);
    if (id < 0) return 0;
    enum gguf_type t = gguf_get_kv_type(c->g, id);
    if (t != GGUF_TYPE_ARRAY) {
        if (!int_size(t)) return 0;
        *lo = *hi = int_at(t, gguf_get_val_data(c->g, id));
        return 1;
    }
    enum gguf_type at = gguf_get_arr_type(c->g, id);
    size_t n = gguf_get_arr_n(c->g, id), sz = int_size(at);
    if (!sz || n == 0) return 0;
    const unsigned char *d = gguf_get_arr_data(c->g, id);
    *lo = INT64_MAX;
    *hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        int64_t v = int_at(at, d + i * sz);
        if (v < *lo) *lo = v;
        if (v > *hi) *hi = v;
    }
    return 1;
}

static llmux_status bad(const checker *c, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static llmux_status bad(const checker *c, const char *key, const char *fmt, ...) {
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return lx_error(c->err, LLMUX_E_CONFIGURATION, "cannot load model %s: metadata key %s: %s", c->path, key, what);
}

static llmux_status check_heads(const checker *c, int64_t n_layer);

/* Layer and expert counts: llama_model_base::load_hparams asserts on these. */
static llmux_status check_counts(const checker *c) {
    char key[256];
    int64_t lo, hi;
    int64_t n_layer = -1;
    if (int_range(c, "block_count", key, sizeof key, &lo, &hi)) {
        if (lo < 1 || hi > LX_MAX_LAYERS)
            return bad(c, key, "%" PRId64 " layers; llama.cpp supports 1 to %" PRId64, lo < 1 ? lo : hi, LX_MAX_LAYERS);
        n_layer = hi;
    }
    static const char *const per_model[] = {"nextn_predict_layers", "posnet.block_count", "convnext.block_count"};
    for (size_t i = 0; i < sizeof per_model / sizeof per_model[0]; i++)
        if (n_layer >= 0 && int_range(c, per_model[i], key, sizeof key, &lo, &hi) && (lo < 0 || hi > n_layer))
            return bad(c, key, "%" PRId64 " is more than the block count %" PRId64, lo < 0 ? lo : hi, n_layer);

    int64_t n_expert = 0, used_lo = 0, used = 0, groups = 0, group_used = 0, x;
    if (int_range(c, "expert_count", key, sizeof key, &n_expert, &x) && (n_expert < 0 || n_expert > LX_MAX_EXPERTS))
        return bad(c, key, "%" PRId64 " experts; llama.cpp supports at most %" PRId64, n_expert, LX_MAX_EXPERTS);
    char used_key[256], groups_key[256], group_used_key[256];
    int has_used = int_range(c, "expert_used_count", used_key, sizeof used_key, &used_lo, &used);
    int_range(c, "expert_group_count", groups_key, sizeof groups_key, &groups, &x);
    int_range(c, "expert_group_used_count", group_used_key, sizeof group_used_key, &group_used, &x);
    if (has_used && used_lo < 0) return bad(c, used_key, "%" PRId64 " is negative", used_lo);
    /* llama.cpp treats a Hunyuan model with one expert as dense. */
    if ((strcmp(c->arch, "hunyuan_vl") == 0 || strcmp(c->arch, "hunyuan-dense") == 0) && n_expert <= 1)
        n_expert = used = 0;
    if (used > n_expert) return bad(c, used_key, "%" PRId64 " experts used per token, but there are %" PRId64, used, n_expert);
    if (n_expert > 0) {
        if (used == 0) return bad(c, used_key, "no expert used per token among %" PRId64, n_expert);
        if (groups < 0 || groups >= n_expert)
            return bad(c, groups_key, "%" PRId64 " expert groups for %" PRId64 " experts", groups, n_expert);
        if (groups > 1) {
            if (n_expert % groups != 0)
                return bad(c, groups_key, "%" PRId64 " groups do not divide %" PRId64 " experts", groups, n_expert);
            if (group_used <= 0 || group_used >= groups)
                return bad(c, group_used_key, "%" PRId64 " groups used out of %" PRId64, group_used, groups);
        }
    } else if (groups != 0) {
        return bad(c, groups_key, "%" PRId64 " expert groups in a model without experts", groups);
    }
    return n_layer > 0 ? check_heads(c, n_layer) : LLMUX_OK;
}

/* The per-layer values of "<arch>.<suffix>" (a scalar for every layer, or an array) into
 * v[0..n_layer). Returns 0 when absent or not integers. */
static int layer_values(const checker *c, const char *suffix, int64_t n_layer, int64_t *v) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", c->arch, suffix);
    int64_t id = gguf_find_key(c->g, key);
    if (id < 0) return 0;
    enum gguf_type t = gguf_get_kv_type(c->g, id);
    if (t != GGUF_TYPE_ARRAY) {
        if (!int_size(t)) return 0;
        int64_t x = int_at(t, gguf_get_val_data(c->g, id));
        for (int64_t i = 0; i < n_layer; i++) v[i] = x;
        return 1;
    }
    enum gguf_type at = gguf_get_arr_type(c->g, id);
    size_t n = gguf_get_arr_n(c->g, id), sz = int_size(at);
    if (!sz) return 0;
    const unsigned char *d = gguf_get_arr_data(c->g, id);
    /* llama.cpp refuses arrays longer than the layer count; shorter ones leave zeros. */
    for (int64_t i = 0; i < n_layer; i++) v[i] = (size_t)i < n ? int_at(at, d + (size_t)i * sz) : 0;
    return 1;
}

/* Attention heads: the graph reshapes K and V by the KV head count and broadcasts them over the
 * query heads (ggml asserts the KV heads divide the query heads), and llama.cpp multiplies head
 * counts by head sizes in 32 bits: a count that wraps around can match the tensor shapes and
 * then abort in the first decode. */
static llmux_status check_heads(const checker *c, int64_t n_layer) {
    int64_t heads[LX_MAX_LAYERS], kv[LX_MAX_LAYERS], n_embd = 0, hd_k = 0, hd_v = 0, rot = 0, x;
    char key[256], kv_key[256], k_key[256], v_key[256];
    if (!layer_values(c, "attention.head_count", n_layer, heads)) return LLMUX_OK;
    snprintf(key, sizeof key, "%s.attention.head_count", c->arch);
    snprintf(kv_key, sizeof kv_key, "%s.attention.head_count_kv", c->arch);
    if (!layer_values(c, "attention.head_count_kv", n_layer, kv)) memcpy(kv, heads, sizeof(int64_t) * (size_t)n_layer);
    int_range(c, "embedding_length", k_key, sizeof k_key, &n_embd, &x);
    int has_k = int_range(c, "attention.key_length", k_key, sizeof k_key, &hd_k, &x);
    int has_v = int_range(c, "attention.value_length", v_key, sizeof v_key, &hd_v, &x);
    char rot_key[256];
    int has_rot = int_range(c, "rope.dimension_count", rot_key, sizeof rot_key, &rot, &x);
    for (int64_t i = 0; i < n_layer; i++) {
        int64_t h = heads[i], k = kv[i];
        if (h < 0 || h > 1 << 20) return bad(c, key, "layer %" PRId64 ": %" PRId64 " heads", i, h);
        if (k < 0 || k > 1 << 20) return bad(c, kv_key, "layer %" PRId64 ": %" PRId64 " KV heads", i, k);
        if (h == 0) continue;
        if (k > 0 && h % k != 0)
            return bad(c, kv_key, "layer %" PRId64 ": %" PRId64 " KV heads do not divide %" PRId64 " heads", i, k, h);
        if (!has_k && n_embd % h != 0)
            return bad(c, key, "layer %" PRId64 ": %" PRId64 " heads do not divide the embedding length %" PRId64, i, h,
                       n_embd);
        int64_t dk = has_k ? hd_k : n_embd / h, dv = has_v ? hd_v : n_embd / h;
        if (dk < 0 || dv < 0 || dk > 1 << 20 || dv > 1 << 20 || h * dk > UINT32_MAX || h * dv > UINT32_MAX)
            return bad(c, key, "layer %" PRId64 ": %" PRId64 " heads of %" PRId64 " values overflow", i, h,
                       dk > dv ? dk : dv);
        if (has_rot && (rot < 0 || rot > dk))
            return bad(c, rot_key, "%" PRId64 " rotary dimensions in heads of %" PRId64, rot, dk);
    }
    return LLMUX_OK;
}

/* Floats: ggml asserts eps >= 0 in its norm kernels (NaN fails the test); llama.cpp asserts the
 * RoPE scaling type is one it knows. */
static llmux_status check_floats(const checker *c) {
    size_t alen = strlen(c->arch);
    int64_t n = gguf_get_n_kv(c->g);
    for (int64_t i = 0; i < n; i++) {
        const char *key = gguf_get_key(c->g, i);
        if (strncmp(key, c->arch, alen) != 0 || key[alen] != '.' || !strstr(key + alen, "epsilon")) continue;
        enum gguf_type t = gguf_get_kv_type(c->g, i);
        double v;
        if (t == GGUF_TYPE_FLOAT32) v = gguf_get_val_f32(c->g, i);
        else if (t == GGUF_TYPE_FLOAT64) v = gguf_get_val_f64(c->g, i);
        else continue;
        if (!isfinite(v) || v < 0)
            return lx_error(c->err, LLMUX_E_CONFIGURATION,
                            "cannot load model %s: metadata key %s: %g is not a finite number >= 0", c->path, key, v);
    }
    char key[256];
    snprintf(key, sizeof key, "%s.rope.scaling.type", c->arch);
    int64_t id = gguf_find_key(c->g, key);
    if (id >= 0 && gguf_get_kv_type(c->g, id) == GGUF_TYPE_STRING) {
        const char *s = gguf_get_val_str(c->g, id);
        if (strcmp(s, "none") != 0 && strcmp(s, "linear") != 0 && strcmp(s, "yarn") != 0 && strcmp(s, "longrope") != 0)
            return lx_error(c->err, LLMUX_E_CONFIGURATION,
                            "cannot load model %s: metadata key %s: unknown RoPE scaling \"%.40s\" (none, linear, yarn "
                            "or longrope)",
                            c->path, key, s);
    }
    return LLMUX_OK;
}

static int hex_digit(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* llama.cpp's name for an empty token at index i (llama_vocab::impl::load). */
static const char *token_text(const struct gguf_context *g, int64_t tid, size_t i, char *tmp, size_t tmp_size) {
    const char *s = gguf_get_arr_str(g, tid, i);
    if (*s) return s;
    snprintf(tmp, tmp_size, "[EMPTY_%zu]", i);
    return tmp;
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* llama.cpp asserts that no two tokens have the same text. */
static llmux_status check_unique_tokens(const checker *c, int64_t tid) {
    size_t n = gguf_get_arr_n(c->g, tid), cap = 16;
    while (cap < 2 * n) cap *= 2;
    size_t *slot = calloc(cap, sizeof *slot); /* token index + 1; 0 = free */
    if (!slot) return lx_error(c->err, LLMUX_E_OUT_OF_MEMORY, "out of memory checking the vocabulary of %s", c->path);
    llmux_status st = LLMUX_OK;
    char ta[32], tb[32];
    for (size_t i = 0; i < n && st == LLMUX_OK; i++) {
        const char *s = token_text(c->g, tid, i, ta, sizeof ta);
        for (size_t h = (size_t)fnv1a(s) & (cap - 1);; h = (h + 1) & (cap - 1)) {
            if (!slot[h]) {
                slot[h] = i + 1;
                break;
            }
            if (strcmp(token_text(c->g, tid, slot[h] - 1, tb, sizeof tb), s) == 0) {
                st = lx_error(c->err, LLMUX_E_CONFIGURATION,
                              "cannot load model %s: metadata key tokenizer.ggml.tokens: tokens %zu and %zu have the same "
                              "text",
                              c->path, slot[h] - 1, i);
                break;
            }
        }
    }
    free(slot);
    return st;
}

/* The tokenizer: "none" has no tokenizer at all (llama_tokenize asserts); an SPM ("llama")
 * vocabulary must map every byte, because its tokenizer falls back to "<0xXX>" or the raw byte
 * for a character it does not know and throws (an uncaught C++ exception) when neither exists. */
static llmux_status check_vocab(const checker *c) {
    int64_t id = gguf_find_key(c->g, "tokenizer.ggml.model");
    if (id < 0 || gguf_get_kv_type(c->g, id) != GGUF_TYPE_STRING) return LLMUX_OK; /* llama.cpp refuses it */
    const char *model = gguf_get_val_str(c->g, id);
    if (strcmp(model, "none") == 0 || strcmp(model, "no_vocab") == 0)
        return lx_error(c->err, LLMUX_E_CONFIGURATION,
                        "cannot load model %s: metadata key tokenizer.ggml.model: \"%s\": the model has no tokenizer",
                        c->path, model);
    int64_t tid = gguf_find_key(c->g, "tokenizer.ggml.tokens");
    if (tid < 0 || gguf_get_kv_type(c->g, tid) != GGUF_TYPE_ARRAY || gguf_get_arr_type(c->g, tid) != GGUF_TYPE_STRING)
        return LLMUX_OK; /* llama.cpp refuses it */
    llmux_status st = check_unique_tokens(c, tid);
    if (st != LLMUX_OK || strcmp(model, "llama") != 0) return st;
    unsigned char have[256] = {0};
    size_t n = gguf_get_arr_n(c->g, tid);
    for (size_t i = 0; i < n; i++) {
        const char *s = gguf_get_arr_str(c->g, tid, i);
        if (s[0] && !s[1]) {
            have[(unsigned char)s[0]] = 1;
        } else if (s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[3] && s[4] && s[5] == '>' && !s[6]) {
            int h = hex_digit(s[3]), l = hex_digit(s[4]);
            if (h >= 0 && l >= 0) have[h * 16 + l] = 1;
        }
    }
    for (int b = 0; b < 256; b++)
        if (!have[b])
            return lx_error(c->err, LLMUX_E_CONFIGURATION,
                            "cannot load model %s: metadata key tokenizer.ggml.tokens: the SPM vocabulary has no token for "
                            "byte 0x%02X (no <0x%02X> byte-fallback token)",
                            c->path, b, b);
    return LLMUX_OK;
}

llmux_status lx_gguf_check(const char *path, bool vocab_only, llmux_error_info *err) {
    lx_llama_init();
    struct gguf_init_params ip = {.no_alloc = true, .ctx = NULL};
    lx_llama_log_begin();
    struct gguf_context *g = gguf_init_from_file(path, ip);
    const char *why = lx_llama_log_end();
    if (!g)
        return lx_error(err, LLMUX_E_CONFIGURATION, "cannot load model %s: not a valid GGUF file: %s", path,
                        *why ? why : "corrupt or truncated header");
    checker c = {g, path, NULL, err};
    llmux_status st = LLMUX_OK;
    int64_t id = gguf_find_key(g, "general.architecture");
    if (id < 0 || gguf_get_kv_type(g, id) != GGUF_TYPE_STRING) {
        st = lx_error(err, LLMUX_E_CONFIGURATION, "cannot load model %s: metadata key general.architecture: %s", path,
                      id < 0 ? "missing" : "not a string");
        goto done;
    }
    c.arch = gguf_get_val_str(g, id);
    if (!vocab_only && ((st = check_counts(&c)) != LLMUX_OK || (st = check_floats(&c)) != LLMUX_OK)) goto done;
    st = check_vocab(&c);
done:
    gguf_free(g);
    return st;
}
