/* Tests for tools/gguf_gen: every architecture x weight type it writes must load in llama.cpp,
 * tokenize byte-for-byte and decode to finite logits; a truncated file must be refused. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "llama.h"

static char g_dir[256];

static void quiet_log(enum ggml_log_level level, const char *text, void *ud) {
    (void)level;
    (void)text;
    (void)ud;
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/llmux_gguf_gen_XXXXXX");
    if (!mkdtemp(g_dir)) {
        return -1;
    }
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    int rc = system(cmd);
    llama_backend_free();
    return rc == 0 ? 0 : -1;
}

/* Runs gguf_gen with the given arguments; returns its exit status. */
static int gen(const char *out, const char *fmt, ...) {
    char args[512], cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s/gguf_gen' --out '%s' %s 2>/dev/null", LLMUX_TEST_BIN_DIR, out,
             args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static struct llama_model *load(const char *path) {
    struct llama_model_params mp = llama_model_default_params();
    /* llama.cpp's AMX repack path crashes on quantized matmuls on this CPU; the plain CPU
     * buffers exercise the same file format. */
    mp.use_extra_bufts = false;
    return llama_model_load_from_file(path, mp);
}

/* Byte-level vocabulary: one token per byte, BOS first, exact round trip, including UTF-8. */
static void check_tokenizer(const struct llama_vocab *vocab) {
    static const char text[] = "Once upon a time,  \"caf\xc3\xa9\" \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac\n\tend";
    const int len = (int)strlen(text);
    llama_token toks[128];
    int n = llama_tokenize(vocab, text, len, toks, 128, true, false);
    assert_int_equal(n, len + 1);
    assert_int_equal(toks[0], llama_vocab_bos(vocab));
    assert_int_equal(toks[0], 256);
    assert_int_equal(llama_vocab_eos(vocab), 257);
    assert_true(llama_vocab_is_eog(vocab, 257));
    char out[256];
    int o = 0;
    for (int i = 1; i < n; i++) {
        int k = llama_token_to_piece(vocab, toks[i], out + o, (int32_t)(sizeof out - (size_t)o), 0,
                                     false);
        assert_int_equal(k, 1);
        o += k;
    }
    assert_int_equal(o, len);
    assert_memory_equal(out, text, (size_t)len);
    /* The byte's value is its token id. */
    assert_int_equal(toks[1], 'O');
    assert_int_equal(toks[5], ' ');
}

static void check_decode(struct llama_model *model) {
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 64;
    cp.n_threads = cp.n_threads_batch = 2;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    assert_non_null(ctx);
    llama_token toks[16];
    int n = llama_tokenize(vocab, "The cat", 7, toks, 16, true, false);
    assert_int_equal(n, 8);
    assert_int_equal(llama_decode(ctx, llama_batch_get_one(toks, n)), 0);
    for (int step = 0; step < 4; step++) {
        const float *lg = llama_get_logits_ith(ctx, -1);
        assert_non_null(lg);
        int best = 0;
        for (int i = 0; i < 258; i++) {
            assert_true(isfinite(lg[i]));
            if (lg[i] > lg[best]) {
                best = i;
            }
        }
        /* Random weights are small, so the logits are near zero, not saturated. */
        assert_true(fabsf(lg[best]) < 10.0f);
        llama_token t = best;
        assert_int_equal(llama_decode(ctx, llama_batch_get_one(&t, 1)), 0);
    }
    llama_free(ctx);
}

static void check_one(const char *arch, const char *type) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s_%s.gguf", g_dir, arch, type);
    assert_int_equal(gen(path, "--arch %s --type %s --n-layer 3 --n-embd 256 --n-head 4 "
                               "--n-head-kv 2 --n-ff 512 --ctx 128 --seed 7",
                         arch, type),
                     0);
    struct llama_model *m = load(path);
    assert_non_null(m);
    const struct llama_vocab *vocab = llama_model_get_vocab(m);
    assert_int_equal(llama_vocab_n_tokens(vocab), 258);
    assert_int_equal(llama_model_n_layer(m), 3);
    assert_int_equal(llama_model_n_embd(m), 256);
    assert_int_equal(llama_model_n_head(m), 4);
    assert_int_equal(llama_model_n_head_kv(m), 2);
    assert_int_equal(llama_model_n_ctx_train(m), 128);
    char buf[64];
    assert_true(llama_model_meta_val_str(m, "general.architecture", buf, sizeof buf) > 0);
    assert_string_equal(buf, arch);
    check_tokenizer(vocab);
    check_decode(m);
    llama_model_free(m);
}

#define ARCH_TYPE_TEST(arch, type)                                                               \
    static void test_##arch##_##type(void **state) {                                             \
        (void)state;                                                                             \
        check_one(#arch, #type);                                                                 \
    }
ARCH_TYPE_TEST(llama, f16)
ARCH_TYPE_TEST(llama, q8_0)
ARCH_TYPE_TEST(llama, q4_k)
ARCH_TYPE_TEST(qwen2, f16)
ARCH_TYPE_TEST(qwen2, q8_0)
ARCH_TYPE_TEST(qwen2, q4_k)
ARCH_TYPE_TEST(gemma, f16)
ARCH_TYPE_TEST(gemma, q8_0)
ARCH_TYPE_TEST(gemma, q4_k)

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static char *slurp(const char *path, long *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    *len = file_size(path);
    char *b = *len > 0 ? malloc((size_t)*len) : NULL;
    if (b && fread(b, 1, (size_t)*len, f) != (size_t)*len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static void test_same_seed_same_bytes(void **state) {
    (void)state;
    char a[512], b[512], c[512];
    snprintf(a, sizeof a, "%s/seed_a.gguf", g_dir);
    snprintf(b, sizeof b, "%s/seed_b.gguf", g_dir);
    snprintf(c, sizeof c, "%s/seed_c.gguf", g_dir);
    assert_int_equal(gen(a, "--n-layer 1 --n-embd 64 --seed 5"), 0);
    assert_int_equal(gen(b, "--n-layer 1 --n-embd 64 --seed 5"), 0);
    assert_int_equal(gen(c, "--n-layer 1 --n-embd 64 --seed 6"), 0);
    long la = 0, lb = 0, lc = 0;
    char *da = slurp(a, &la), *db = slurp(b, &lb), *dc = slurp(c, &lc);
    assert_non_null(da);
    assert_non_null(db);
    assert_non_null(dc);
    assert_int_equal(la, lb);
    assert_int_equal(la, lc);
    assert_memory_equal(da, db, (size_t)la);
    assert_true(memcmp(da, dc, (size_t)la) != 0);
    free(da);
    free(db);
    free(dc);
}

/* A 1-layer, 64-wide F32 llama: exact size from the tensor shapes plus the header. */
static void test_f32_tensor_bytes(void **state) {
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/f32.gguf", g_dir);
    assert_int_equal(gen(p, "--type f32 --n-layer 1 --n-embd 64 --n-head 2 --n-ff 128"), 0);
    /* embd + output: 2*258*64; norms: 3*64; q,k,v,o: 4*64*64; gate,up,down: 3*64*128 */
    const long n_params = 2L * 258 * 64 + 3 * 64 + 4L * 64 * 64 + 3L * 64 * 128;
    long sz = file_size(p);
    assert_true(sz > n_params * 4);
    assert_true(sz < n_params * 4 + 16 * 1024); /* header + vocabulary + padding */
    struct llama_model *m = load(p);
    assert_non_null(m);
    assert_int_equal((long)llama_model_n_params(m), n_params);
    llama_model_free(m);
}

static void test_truncated_file_refused(void **state) {
    (void)state;
    char p[512], t[512];
    snprintf(p, sizeof p, "%s/full.gguf", g_dir);
    snprintf(t, sizeof t, "%s/truncated.gguf", g_dir);
    assert_int_equal(gen(p, "--type q8_0 --n-layer 2 --n-embd 128"), 0);
    long len = 0;
    char *d = slurp(p, &len);
    assert_non_null(d);
    /* Cut inside the tensor data, and (second file) inside the header. */
    const long cuts[2] = {len - 1000, 200};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(t, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(d, 1, (size_t)cuts[i], f), (size_t)cuts[i]);
        assert_int_equal(fclose(f), 0);
        assert_null(load(t));
    }
    free(d);
    struct llama_model *m = load(p);
    assert_non_null(m);
    llama_model_free(m);
}

/* --n-vocab: a realistic vocabulary size. The built-in tokens keep their ids; lower-case words
 * tokenize into the longest word tokens the merges build; every token renders to its text; the
 * output layer gives finite logits over the whole vocabulary and greedy decoding runs on. */
static void test_n_vocab_words(void **state) {
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/vocab.gguf", g_dir);
    assert_int_equal(gen(p, "--type q8_0 --n-layer 2 --n-embd 128 --n-head 4 --n-vocab 32000 --seed 3"), 0);
    struct llama_model *m = load(p);
    assert_non_null(m);
    const struct llama_vocab *vocab = llama_model_get_vocab(m);
    assert_int_equal(llama_vocab_n_tokens(vocab), 32000);
    assert_int_equal(llama_vocab_bos(vocab), 256);
    assert_int_equal(llama_vocab_eos(vocab), 257);

    /* "aa" is the first word (258), "zz" the 676th, "aaa" follows it; 4-letter words fill the
     * rest up to 31999: 258 + 676 + 17576 = 18510 is "aaaa". */
    char piece[16];
    const struct {
        int id;
        const char *text;
    } known[] = {{258, "aa"}, {259, "ab"}, {258 + 675, "zz"}, {258 + 676, "aaa"}, {18510, "aaaa"},
                 {18511, "aaab"}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        int k = llama_token_to_piece(vocab, known[i].id, piece, sizeof piece, 0, false);
        assert_int_equal(k, (int)strlen(known[i].text));
        assert_memory_equal(piece, known[i].text, (size_t)k);
    }
    int k = llama_token_to_piece(vocab, 31999, piece, sizeof piece, 0, false);
    assert_int_equal(k, 4);

    /* "the" and "cat" are 3-letter tokens, "aaaa" a 4-letter one; "hello" is longer than any
     * word, so it splits into words; uppercase, spaces and punctuation stay bytes. Detokenized,
     * the text comes back exactly. */
    static const char text[] = "the cat aaaa, The hello";
    llama_token toks[64];
    int n = llama_tokenize(vocab, text, (int)strlen(text), toks, 64, true, false);
    const int want[] = {256, 258 + 676 + (19 * 676 + 7 * 26 + 4), ' ', 258 + 676 + (2 * 676 + 0 * 26 + 19),
                        ' ', 18510, ',', ' ', 'T', 258 + 7 * 26 + 4, ' '};
    const int n_want = (int)(sizeof want / sizeof want[0]);
    assert_true(n >= n_want + 2 && n <= n_want + 4); /* "hello": 2 to 4 word tokens */
    for (int i = 0; i < n_want; i++) assert_int_equal(toks[i], want[i]);
    for (int i = n_want; i < n; i++) assert_true(toks[i] >= 258);
    char out[64];
    int len = llama_detokenize(vocab, toks + 1, n - 1, out, sizeof out, false, false);
    assert_int_equal(len, (int)strlen(text));
    assert_memory_equal(out, text, (size_t)len);

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 64;
    cp.n_threads = cp.n_threads_batch = 2;
    struct llama_context *ctx = llama_init_from_model(m, cp);
    assert_non_null(ctx);
    assert_int_equal(llama_decode(ctx, llama_batch_get_one(toks, n)), 0);
    for (int step = 0; step < 4; step++) {
        const float *lg = llama_get_logits_ith(ctx, -1);
        assert_non_null(lg);
        int best = 0;
        for (int i = 0; i < 32000; i++) {
            assert_true(isfinite(lg[i]));
            if (lg[i] > lg[best]) best = i;
        }
        llama_token t = best;
        assert_int_equal(llama_decode(ctx, llama_batch_get_one(&t, 1)), 0);
    }
    llama_free(ctx);
    llama_model_free(m);

    /* The default vocabulary is unchanged by the option's existence: no merges, 258 tokens. */
    snprintf(p, sizeof p, "%s/vocab_min.gguf", g_dir);
    assert_int_equal(gen(p, "--n-layer 1 --n-embd 64 --n-vocab 258"), 0);
    m = load(p);
    assert_non_null(m);
    assert_int_equal(llama_vocab_n_tokens(llama_model_get_vocab(m)), 258);
    check_tokenizer(llama_model_get_vocab(m));
    llama_model_free(m);
}

/* --printable: the logits of </s>, <s>, control and non-ASCII bytes are exactly 0 at every step,
 * greedy decoding only picks printable bytes (the best of the other random logits is above 0), and
 * every other weight is the one the seed gives without the option. */
static void test_printable(void **state) {
    (void)state;
    char p[512], q[512];
    snprintf(p, sizeof p, "%s/printable.gguf", g_dir);
    snprintf(q, sizeof q, "%s/any.gguf", g_dir);
    assert_int_equal(gen(p, "--type f32 --n-layer 2 --n-embd 64 --n-head 2 --seed 9 --printable"), 0);
    assert_int_equal(gen(q, "--type f32 --n-layer 2 --n-embd 64 --n-head 2 --seed 9"), 0);
    long lp = 0, lq = 0;
    char *dp = slurp(p, &lp), *dq = slurp(q, &lq);
    assert_non_null(dp);
    assert_non_null(dq);
    assert_int_equal(lp, lq);
    long n_diff = 0;
    for (long i = 0; i < lp; i++) n_diff += dp[i] != dq[i];
    /* 258 - 95 printable = 163 rows of 64 floats in output.weight; nothing else. */
    assert_true(n_diff > 0 && n_diff <= 163L * 64 * 4);
    free(dp);
    free(dq);

    struct llama_model *m = load(p);
    assert_non_null(m);
    const struct llama_vocab *vocab = llama_model_get_vocab(m);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 256;
    cp.n_batch = 256;
    cp.n_threads = cp.n_threads_batch = 2;
    struct llama_context *ctx = llama_init_from_model(m, cp);
    assert_non_null(ctx);
    llama_token toks[16];
    int n = llama_tokenize(vocab, "abc", 3, toks, 16, true, false);
    assert_int_equal(llama_decode(ctx, llama_batch_get_one(toks, n)), 0);
    for (int step = 0; step < 128; step++) {
        const float *lg = llama_get_logits_ith(ctx, -1);
        int best = 0;
        for (int i = 0; i < 258; i++) {
            if (i < 0x20 || i > 0x7E) assert_true(lg[i] == 0.0f);
            if (lg[i] > lg[best]) best = i;
        }
        assert_true(best >= 0x20 && best <= 0x7E);
        llama_token t = best;
        assert_int_equal(llama_decode(ctx, llama_batch_get_one(&t, 1)), 0);
    }
    llama_free(ctx);
    llama_model_free(m);
}

static void test_bad_options_rejected(void **state) {
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/bad.gguf", g_dir);
    assert_int_equal(gen(p, "--arch mamba"), 2);
    assert_int_equal(gen(p, "--type q2_k"), 2);
    assert_int_equal(gen(p, "--n-embd 100 --n-head 3"), 2);
    assert_int_equal(gen(p, "--n-layer 0"), 2);
    assert_int_equal(gen(p, "--n-layer 9999"), 2);
    assert_int_equal(gen(p, "--n-vocab 257"), 2);
    assert_int_equal(gen(p, "--n-vocab 258 --long-token 8"), 2); /* 259 built-in tokens */
    assert_int_equal(gen(p, "--n-vocab 262145"), 2);
    assert_int_equal(gen(p, "--n-vocab 32k"), 2);
    assert_int_equal(file_size(p), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_f16),   cmocka_unit_test(test_llama_q8_0),
        cmocka_unit_test(test_llama_q4_k),  cmocka_unit_test(test_qwen2_f16),
        cmocka_unit_test(test_qwen2_q8_0),  cmocka_unit_test(test_qwen2_q4_k),
        cmocka_unit_test(test_gemma_f16),   cmocka_unit_test(test_gemma_q8_0),
        cmocka_unit_test(test_gemma_q4_k),  cmocka_unit_test(test_same_seed_same_bytes),
        cmocka_unit_test(test_f32_tensor_bytes), cmocka_unit_test(test_truncated_file_refused),
        cmocka_unit_test(test_n_vocab_words),    cmocka_unit_test(test_printable),    cmocka_unit_test(test_bad_options_rejected),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
