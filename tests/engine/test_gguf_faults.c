/* Damaged GGUF files: a generated model (tools/gguf_gen) truncated at many offsets, with random
 * bytes flipped in its header and metadata, and with the specific metadata values llama.cpp
 * aborts on. Every load must end in a clean error or a working model; a crash (abort, SIGSEGV,
 * SIGBUS, an uncaught C++ exception) fails the whole test program. Runs under ASan too. */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "ggml.h"
#include "gguf.h"

static char g_dir[PATH_MAX];
static char g_model[PATH_MAX];
static char g_bad[PATH_MAX];
static unsigned char *g_bytes;
static size_t g_size;
static size_t g_data_offset; /* where tensor data starts: header + metadata + tensor infos before */

static int sh(const char *cmd) { return system(cmd); }

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void spit(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state) {
    (void)state;
    char tmpl[] = "/tmp/llmux-faults-XXXXXX";
    if (!mkdtemp(tmpl)) return -1;
    snprintf(g_dir, sizeof g_dir, "%s", tmpl);
    snprintf(g_model, sizeof g_model, "%s/m.gguf", g_dir);
    snprintf(g_bad, sizeof g_bad, "%s/bad.gguf", g_dir);
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof cmd,
             "'%s/gguf_gen' --arch llama --n-layer 2 --n-embd 32 --n-head 4 --n-head-kv 2 --n-ff 64 --ctx 128 "
             "--type f16 --seed 3 --out '%s' >/dev/null",
             LLMUX_TEST_BIN_DIR, g_model);
    if (sh(cmd) != 0) return -1;
    g_bytes = slurp(g_model, &g_size);
    struct gguf_init_params ip = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(g_model, ip);
    if (!g_bytes || !g) return -1;
    g_data_offset = gguf_get_data_offset(g);
    gguf_free(g);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    free(g_bytes);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return sh(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- helpers */

static bool on_event(void *ud, const llmux_event *ev) {
    (void)ud;
    (void)ev;
    return true;
}

typedef struct outcome {
    llmux_status load;      /* lx_model_load's status */
    llmux_status gen;       /* a short generation's, when the load succeeded */
    char message[512];
} outcome;

/* Loads path; when that works, generates a few tokens with it. Neither may crash. */
static outcome try_model(const char *path) {
    outcome o = {LLMUX_OK, LLMUX_OK, ""};
    lx_model_params p = lx_model_default_params();
    p.path = path;
    p.n_threads = 1;
    p.n_ctx = 64;
    lx_model *m = NULL;
    llmux_error_info err;
    o.load = lx_model_load(&p, &m, &err);
    if (o.load != LLMUX_OK) {
        assert_null(m);
        snprintf(o.message, sizeof o.message, "%s", err.message);
        return o;
    }
    llmux_part part = {0};
    part.type = LLMUX_PART_TEXT;
    part.text = "Hello <s> there";
    llmux_message msg = {LLMUX_ROLE_USER, &part, 1, NULL};
    llmux_request req = llmux_request_default();
    req.messages = &msg;
    req.n_messages = 1;
    req.sampling.temperature = 0.7;
    req.sampling.seed = 1;
    req.sampling.max_tokens = 3;
    lx_gen_stats stats;
    lx_event_sink sink = {on_event, NULL};
    o.gen = lx_model_generate(m, &req, NULL, 0, sink, &stats, &err);
    if (o.gen != LLMUX_OK) snprintf(o.message, sizeof o.message, "%s", err.message);
    lx_model_free(m);
    return o;
}

/* A load of a damaged file fails as CONFIGURATION (or runs out of memory on absurd sizes); a
 * file that still loads must generate or fail cleanly. */
static void assert_clean(const outcome *o, const char *what) {
    if (o->load != LLMUX_OK) {
        if (o->load != LLMUX_E_CONFIGURATION && o->load != LLMUX_E_OUT_OF_MEMORY) {
            print_message("%s: load failed with %s: %s\n", what, llmux_status_name(o->load), o->message);
            fail();
        }
        /* The reason, not just "failed to load model". */
        assert_null(strstr(o->message, ": failed to load model"));
        return;
    }
    if (o->gen != LLMUX_OK && o->gen != LLMUX_E_CONTEXT_LENGTH && o->gen != LLMUX_E_INTERNAL &&
        o->gen != LLMUX_E_CONFIGURATION) {
        print_message("%s: generation failed with %s: %s\n", what, llmux_status_name(o->gen), o->message);
        fail();
    }
}

typedef enum kv_kind { KV_U32, KV_I32, KV_F32, KV_STR, KV_REMOVE, KV_U32_ARR } kv_kind;

/* Writes g_bad: g_model with one metadata key changed (the tensor data is copied as it is; the
 * tensor infos keep their offsets, which are relative to the data section). */
static void write_with_kv(const char *key, kv_kind kind, const char *value) {
    struct gguf_init_params ip = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(g_model, ip);
    assert_non_null(g);
    switch (kind) {
    case KV_U32: gguf_set_val_u32(g, key, (uint32_t)strtoull(value, NULL, 0)); break;
    case KV_I32: gguf_set_val_i32(g, key, (int32_t)strtol(value, NULL, 0)); break;
    case KV_F32: gguf_set_val_f32(g, key, strtof(value, NULL)); break;
    case KV_STR: gguf_set_val_str(g, key, value); break;
    case KV_REMOVE: gguf_remove_key(g, key); break;
    case KV_U32_ARR: {
        uint32_t v[4] = {4, 4, 4, 4};
        gguf_set_arr_data(g, key, GGUF_TYPE_UINT32, v, (size_t)atoi(value));
        break;
    }
    }
    size_t meta = gguf_get_meta_size(g);
    unsigned char *out = malloc(meta + (g_size - g_data_offset));
    assert_non_null(out);
    gguf_get_meta_data(g, out);
    /* The metadata may have changed size: the data section starts at the next alignment. */
    size_t align = gguf_get_alignment(g), pad = (align - meta % align) % align;
    gguf_free(g);
    unsigned char *full = calloc(1, meta + pad + (g_size - g_data_offset));
    assert_non_null(full);
    memcpy(full, out, meta);
    memcpy(full + meta + pad, g_bytes + g_data_offset, g_size - g_data_offset);
    spit(g_bad, full, meta + pad + (g_size - g_data_offset));
    free(out);
    free(full);
}

/* ------------------------------------------------------------------ tests */

static void test_original_loads(void **state) {
    (void)state;
    outcome o = try_model(g_model);
    assert_int_equal(o.load, LLMUX_OK);
    assert_int_equal(o.gen, LLMUX_OK);
    /* The rewriting helper itself produces a loadable file. */
    write_with_kv("general.name", KV_STR, "renamed");
    o = try_model(g_bad);
    assert_int_equal(o.load, LLMUX_OK);
    assert_int_equal(o.gen, LLMUX_OK);
}

/* The values llama.cpp asserts on: refused up front as CONFIGURATION naming the key. */
static void test_asserting_values_refused(void **state) {
    (void)state;
    static const struct {
        const char *key;
        kv_kind kind;
        const char *value;
        const char *named; /* the key the message must name */
    } cases[] = {
        {"llama.block_count", KV_U32, "0", "llama.block_count"},
        {"llama.block_count", KV_U32, "513", "llama.block_count"},
        {"llama.block_count", KV_U32, "4294967295", "llama.block_count"},
        {"llama.attention.layer_norm_rms_epsilon", KV_F32, "nan", "layer_norm_rms_epsilon"},
        {"llama.attention.layer_norm_rms_epsilon", KV_F32, "-1", "layer_norm_rms_epsilon"},
        {"llama.attention.layer_norm_rms_epsilon", KV_F32, "inf", "layer_norm_rms_epsilon"},
        {"llama.attention.layer_norm_epsilon", KV_F32, "nan", "layer_norm_epsilon"},
        {"llama.rope.scaling.type", KV_STR, "bogus", "llama.rope.scaling.type"},
        {"llama.expert_count", KV_U32, "4", "llama.expert_used_count"},
        {"llama.expert_used_count", KV_U32, "2", "llama.expert_used_count"},
        {"llama.expert_count", KV_U32, "100000", "llama.expert_count"},
        {"llama.expert_group_count", KV_U32, "2", "llama.expert_group_count"},
        {"llama.nextn_predict_layers", KV_U32, "5", "llama.nextn_predict_layers"},
        {"tokenizer.ggml.model", KV_STR, "none", "tokenizer.ggml.model"},
        {"tokenizer.ggml.model", KV_STR, "no_vocab", "tokenizer.ggml.model"},
        /* An SPM tokenizer over a vocabulary without byte-fallback tokens throws on the first
         * character it cannot map. */
        {"tokenizer.ggml.model", KV_STR, "llama", "tokenizer.ggml.tokens"},
        {"general.architecture", KV_REMOVE, "", "general.architecture"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_with_kv(cases[i].key, cases[i].kind, cases[i].value);
        outcome o = try_model(g_bad);
        if (o.load != LLMUX_E_CONFIGURATION || !strstr(o.message, cases[i].named)) {
            print_message("%s = %s: %s: %s\n", cases[i].key, cases[i].value, llmux_status_name(o.load), o.message);
            fail();
        }
    }
}

/* Values llama.cpp itself refuses (cleanly) or survives: never a crash. */
static void test_other_bad_values_clean(void **state) {
    (void)state;
    static const struct {
        const char *key;
        kv_kind kind;
        const char *value;
    } cases[] = {
        {"llama.block_count", KV_U32, "1"},
        {"llama.block_count", KV_U32, "3"},
        {"llama.block_count", KV_I32, "2"},
        {"llama.block_count", KV_STR, "2"},
        {"llama.block_count", KV_REMOVE, ""},
        {"llama.context_length", KV_U32, "0"},
        {"llama.context_length", KV_U32, "1"},
        {"llama.context_length", KV_U32, "2"},
        {"llama.context_length", KV_U32, "4294967295"},
        {"llama.context_length", KV_REMOVE, ""},
        {"llama.embedding_length", KV_U32, "0"},
        {"llama.embedding_length", KV_U32, "33"},
        {"llama.embedding_length", KV_U32, "4294967295"},
        {"llama.feed_forward_length", KV_U32, "0"},
        {"llama.feed_forward_length", KV_U32, "4294967295"},
        {"llama.attention.head_count", KV_U32, "0"},
        {"llama.attention.head_count", KV_U32, "3"},
        {"llama.attention.head_count", KV_U32, "64"},
        {"llama.attention.head_count", KV_U32, "4294967295"},
        {"llama.attention.head_count", KV_U32_ARR, "1"},
        {"llama.attention.head_count", KV_U32_ARR, "3"},
        {"llama.attention.head_count_kv", KV_U32, "0"},
        {"llama.attention.head_count_kv", KV_U32, "3"},
        {"llama.attention.head_count_kv", KV_U32, "8"},
        {"llama.attention.head_count_kv", KV_U32, "4294967295"},
        {"llama.attention.key_length", KV_U32, "0"},
        {"llama.attention.value_length", KV_U32, "4294967295"},
        {"llama.rope.dimension_count", KV_U32, "0"},
        {"llama.rope.dimension_count", KV_U32, "4294967295"},
        {"llama.rope.freq_base", KV_F32, "nan"},
        {"llama.rope.freq_base", KV_F32, "0"},
        {"llama.rope.freq_base", KV_F32, "-inf"},
        {"llama.rope.scaling.factor", KV_F32, "nan"},
        {"llama.rope.scaling.type", KV_STR, "yarn"},
        {"llama.attention.layer_norm_rms_epsilon", KV_F32, "0"},
        {"llama.attention.layer_norm_rms_epsilon", KV_REMOVE, ""},
        {"llama.attention.sliding_window", KV_U32, "0"},
        {"llama.vocab_size", KV_U32, "0"},
        {"tokenizer.ggml.bos_token_id", KV_U32, "4294967295"},
        {"tokenizer.ggml.eos_token_id", KV_U32, "100000"},
        {"tokenizer.ggml.bos_token_id", KV_REMOVE, ""},
        {"tokenizer.ggml.model", KV_STR, "bogus"},
        {"tokenizer.ggml.model", KV_STR, "bert"},
        {"tokenizer.ggml.model", KV_STR, "t5"},
        {"tokenizer.ggml.model", KV_STR, "rwkv"},
        {"tokenizer.ggml.model", KV_REMOVE, ""},
        {"tokenizer.ggml.tokens", KV_REMOVE, ""},
        {"tokenizer.ggml.pre", KV_STR, "bogus"},
        {"tokenizer.chat_template", KV_STR, "{% bogus %}"},
        {"tokenizer.chat_template", KV_STR, "chatml"},
        {"general.architecture", KV_STR, "bogus"},
        {"general.architecture", KV_STR, "qwen2"},
        {"general.architecture", KV_STR, "gemma"},
        {"general.architecture", KV_U32, "1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_with_kv(cases[i].key, cases[i].kind, cases[i].value);
        outcome o = try_model(g_bad);
        char what[256];
        snprintf(what, sizeof what, "%s = %s", cases[i].key, cases[i].value);
        assert_clean(&o, what);
    }
}

static void test_truncations(void **state) {
    (void)state;
    int loaded = 0, refused = 0;
    /* Every byte through the header and metadata, then a spread through the tensor data. */
    for (size_t cut = 0; cut < g_size; cut += cut < g_data_offset + 64 ? 1 : 997) {
        spit(g_bad, g_bytes, cut);
        outcome o = try_model(g_bad);
        char what[64];
        snprintf(what, sizeof what, "truncated at %zu of %zu", cut, g_size);
        assert_clean(&o, what);
        if (o.load == LLMUX_OK) loaded++;
        else refused++;
    }
    print_message("%d truncations refused, %d still loaded (cut inside the last tensor's padding)\n", refused, loaded);
    assert_true(refused > 100);
}

/* Each damaged file says what is wrong with it, in llama.cpp's or ggml's words, instead of the
 * generic "failed to load model". */
static void test_load_errors_say_why(void **state) {
    (void)state;
    static const struct {
        const char *key;
        kv_kind kind;
        const char *value;
        const char *reason;
    } cases[] = {
        {"llama.feed_forward_length", KV_U32, "65", "wrong shape"},
        {"llama.embedding_length", KV_U32, "48", "invalid n_rot"},
        {"llama.block_count", KV_U32, "3", "tensor 'blk.2.attn_norm.weight' not found"},
        {"llama.context_length", KV_REMOVE, "", "llama.context_length"},
        {"general.architecture", KV_STR, "bogus", "unknown model architecture: 'bogus'"},
        {"tokenizer.ggml.model", KV_STR, "bogus", "bogus"},
        {"llama.block_count", KV_STR, "2", "wrong type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_with_kv(cases[i].key, cases[i].kind, cases[i].value);
        outcome o = try_model(g_bad);
        if (o.load != LLMUX_E_CONFIGURATION || !strstr(o.message, cases[i].reason)) {
            print_message("%s = %s: %s: %s\n", cases[i].key, cases[i].value, llmux_status_name(o.load), o.message);
            fail();
        }
    }
    /* Truncated in the tensor data, and in the metadata. */
    spit(g_bad, g_bytes, g_data_offset + 100);
    outcome o = try_model(g_bad);
    assert_int_equal(o.load, LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(o.message, "not within the file bounds"));
    spit(g_bad, g_bytes, g_data_offset / 2);
    o = try_model(g_bad);
    assert_int_equal(o.load, LLMUX_E_CONFIGURATION);
    assert_non_null(strstr(o.message, "not a valid GGUF file: failed to read"));
}

/* splitmix64: the same flips on every machine. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void test_random_flips(void **state) {
    (void)state;
    unsigned char *buf = malloc(g_size);
    assert_non_null(buf);
    /* LLMUX_FAULT_ROUNDS / LLMUX_FAULT_SEED run a longer or different campaign by hand. */
    const char *env_rounds = getenv("LLMUX_FAULT_ROUNDS"), *env_seed = getenv("LLMUX_FAULT_SEED");
    uint64_t rng = env_seed ? strtoull(env_seed, NULL, 10) : 20240611;
    const int rounds = env_rounds ? atoi(env_rounds) : 600;
    int loaded = 0, refused = 0;
    for (int r = 0; r < rounds; r++) {
        memcpy(buf, g_bytes, g_size);
        int flips = 1 + (int)(rng_next(&rng) % 4);
        for (int k = 0; k < flips; k++) {
            size_t at = (size_t)(rng_next(&rng) % g_data_offset);
            uint64_t how = rng_next(&rng);
            switch (how % 4) {
            case 0: buf[at] ^= (unsigned char)(1u << ((how >> 8) % 8)); break; /* one bit */
            case 1: buf[at] = 0x00; break;
            case 2: buf[at] = 0xFF; break;
            default: buf[at] = (unsigned char)(how >> 16); break;
            }
        }
        spit(g_bad, buf, g_size);
        outcome o = try_model(g_bad);
        char what[64];
        snprintf(what, sizeof what, "flip round %d", r);
        assert_clean(&o, what);
        if (o.load == LLMUX_OK) loaded++;
        else refused++;
    }
    print_message("%d damaged headers refused, %d still loaded\n", refused, loaded);
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_original_loads),       cmocka_unit_test(test_asserting_values_refused),
        cmocka_unit_test(test_other_bad_values_clean), cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_random_flips),           cmocka_unit_test(test_load_errors_say_why),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
