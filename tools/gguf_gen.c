/* gguf_gen: writes a GGUF model with random weights (llama, qwen2 or gemma; or, with --embedding,
 * a BERT embedding model) for tests, benchmarks and as the starting point of
 * tools/train_fortunes.c.
 *
 * The model carries a built-in byte-level vocabulary (see add_byte_vocab), so it loads, tokenizes
 * and decodes with llama.cpp without any other file. --n-vocab grows it to a realistic size with
 * lower-case letter words and the BPE merges that build them (see add_word_tokens), so the output
 * layer and the sampler work over as many logits as a real model's. Tensor data is streamed to disk one tensor at
 * a time, so memory stays bounded by the largest tensor, whatever the model size. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "gguf.h"

/* Keeps a mistyped flag from asking for a model the machine cannot hold. */
#define GEN_MAX_DIM     (1 << 16)
#define GEN_MAX_LAYER   256
#define GEN_MAX_CTX     (1 << 20)
#define GEN_N_BYTE_TOK  256
#define GEN_TOK_BOS     256
#define GEN_TOK_EOS     257
#define GEN_N_VOCAB     258
#define GEN_MAX_LONG_TOKEN 4096
/* Words of 2, 3 and 4 lower-case letters give 26^2 + 26^3 + 26^4 = 475,228 extra tokens; 2^18
 * covers the common real vocabularies (32k, 50k, 128k, 152k, 256k). */
#define GEN_MAX_VOCAB   (1 << 18)

enum gen_arch { ARCH_LLAMA, ARCH_QWEN2, ARCH_GEMMA, ARCH_BERT };

struct gen_params {
    enum gen_arch arch;
    int n_layer;
    int n_embd;
    int n_head;
    int n_head_kv;
    int n_ff;
    int n_ctx;
    enum ggml_type type;   /* type of the 2-D weight matrices; norms and biases stay F32 */
    uint64_t seed;
    float std;             /* standard deviation of the weights */
    float embd_std;        /* standard deviation of token_embd (0: std) */
    int tied;              /* 1: no output.weight, llama.cpp reuses token_embd */
    const char *chat_template; /* tokenizer.chat_template, NULL = none */
    int long_token;        /* > 0: one more token (id 258) of this many 'x' bytes, for tests of
                              pieces longer than a fixed buffer; 0 = none */
    int pooling;           /* ARCH_BERT: bert.pooling_type (1 mean, 2 cls, 3 last) */
    int printable;         /* 1: only printable text can win greedy decoding (see usage) */
    int n_vocab;           /* > 0: the vocabulary's total size, the built-in tokens followed by
                              letter words (add_word_tokens); 0 = the built-in tokens only */
    const char *out;
};

static const char *arch_name(enum gen_arch a) {
    switch (a) {
    case ARCH_LLAMA: return "llama";
    case ARCH_QWEN2: return "qwen2";
    case ARCH_GEMMA: return "gemma";
    case ARCH_BERT: return "bert";
    }
    return "?";
}

/* splitmix64: tiny, seedable, and the same stream on every platform. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s) {
    return ((double)(rng_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static void fill_normal(uint64_t *s, float *dst, size_t n, float std) {
    size_t i = 0;
    while (i < n) {
        /* Box-Muller yields two independent normals per pair of uniforms. */
        double r = sqrt(-2.0 * log(rng_uniform(s)));
        double t = 6.283185307179586 * rng_uniform(s);
        dst[i++] = (float)(r * cos(t)) * std;
        if (i < n) {
            dst[i++] = (float)(r * sin(t)) * std;
        }
    }
}

/* GPT-2's bytes_to_unicode(): printable bytes stand for themselves, the other 68 bytes map to
 * U+0100 upwards. With these 256 symbols as the whole vocabulary and no merges, llama.cpp's BPE
 * tokenizer maps every byte of any input to exactly one token. */
static int byte_symbol(int b, char out[4]) {
    unsigned cp;
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) {
        cp = (unsigned)b;
    } else {
        unsigned n = 0;
        for (int x = 0; x < b; x++) {
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) {
                n++;
            }
        }
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    out[2] = 0;
    return 2;
}

/* The built-in tokens: the bytes, <s>, </s>, and the long token when asked for. */
static int n_base_vocab(const struct gen_params *p) { return GEN_N_VOCAB + (p->long_token > 0 ? 1 : 0); }

/* The vocabulary's size: the built-in tokens, or --n-vocab when it asks for more. */
static int n_vocab(const struct gen_params *p) {
    return p->n_vocab > n_base_vocab(p) ? p->n_vocab : n_base_vocab(p);
}

/* Extra token k (0-based, after the built-in ones): all 2-letter words in order ("aa".."zz"), then
 * all 3-letter words, then 4-letter ones. Writes the word (NUL-terminated) and returns its length. */
static int word_token(int k, char *word) {
    int len = 2, first = 0, count = 26 * 26;
    while (k >= first + count) {
        first += count;
        count *= 26;
        len++;
    }
    int idx = k - first;
    for (int i = len - 1; i >= 0; i--) {
        word[i] = (char)('a' + idx % 26);
        idx /= 26;
    }
    word[len] = '\0';
    return len;
}

/* Whether token id is printable text: a byte from ' ' to '~' or a letter word (--n-vocab); not
 * <s>, </s>, the long token, control or non-ASCII bytes (whose pieces alone are not UTF-8). */
static int is_printable_token(const struct gen_params *p, int id) {
    if (id < GEN_N_BYTE_TOK) {
        return id >= 0x20 && id <= 0x7E;
    }
    return id >= n_base_vocab(p);
}

/* Owns the strings of the extra tokens and of their merges. */
struct word_vocab {
    char *words;  /* n entries of 5 bytes */
    char *merges; /* up to 3 per word, 6 bytes each */
    const char **merge_list;
    int n, n_merges;
};

/* A word of L letters gets L - 1 merges, one per split ("a bcd", "ab cd", "abc d"): both halves
 * are tokens (a byte, or a shorter word, all of which come first), and whichever pairs llama.cpp's
 * BPE merges first (lowest rank), some merge then joins the halves it built into the word. */
static int add_word_tokens(struct word_vocab *wv, int n, const char **tokens, int32_t *types,
                           float *scores) {
    wv->n = n;
    wv->words = malloc((size_t)n * 5);
    wv->merges = malloc((size_t)n * 3 * 6);
    wv->merge_list = malloc((size_t)n * 3 * sizeof *wv->merge_list);
    if (!wv->words || !wv->merges || !wv->merge_list) {
        return -1;
    }
    for (int k = 0; k < n; k++) {
        char *w = wv->words + (size_t)k * 5;
        int len = word_token(k, w);
        for (int split = 1; split < len; split++) {
            char *m = wv->merges + (size_t)wv->n_merges * 6;
            memcpy(m, w, (size_t)split);
            m[split] = ' ';
            memcpy(m + split + 1, w + split, (size_t)(len - split) + 1);
            wv->merge_list[wv->n_merges++] = m;
        }
        tokens[k] = w;
        types[k] = 1; /* LLAMA_TOKEN_TYPE_NORMAL */
        scores[k] = 0.0f;
    }
    return 0;
}

static void word_vocab_free(struct word_vocab *wv) {
    free(wv->words);
    free(wv->merges);
    free(wv->merge_list);
}

static int add_byte_vocab(struct gguf_context *g, const struct gen_params *p) {
    static char sym[GEN_N_BYTE_TOK][4];
    static char long_tok[GEN_MAX_LONG_TOKEN + 1];
    const int nv = n_vocab(p), nb = n_base_vocab(p);
    const char **tokens = malloc((size_t)nv * sizeof *tokens);
    int32_t *types = malloc((size_t)nv * sizeof *types);
    float *scores = malloc((size_t)nv * sizeof *scores);
    struct word_vocab wv = {0};
    int rc = -1;
    if (!tokens || !types || !scores) {
        goto done;
    }
    for (int b = 0; b < GEN_N_BYTE_TOK; b++) {
        byte_symbol(b, sym[b]);
        tokens[b] = sym[b];
        types[b] = 1; /* LLAMA_TOKEN_TYPE_NORMAL */
        scores[b] = 0.0f;
    }
    tokens[GEN_TOK_BOS] = "<s>";
    tokens[GEN_TOK_EOS] = "</s>";
    types[GEN_TOK_BOS] = types[GEN_TOK_EOS] = 3; /* LLAMA_TOKEN_TYPE_CONTROL */
    scores[GEN_TOK_BOS] = scores[GEN_TOK_EOS] = 0.0f;
    if (p->long_token > 0) {
        memset(long_tok, 'x', (size_t)p->long_token); /* 'x' is its own byte symbol */
        long_tok[p->long_token] = '\0';
        tokens[GEN_N_VOCAB] = long_tok;
        types[GEN_N_VOCAB] = 1; /* LLAMA_TOKEN_TYPE_NORMAL */
        scores[GEN_N_VOCAB] = 0.0f;
    }
    if (nv > nb && add_word_tokens(&wv, nv - nb, tokens + nb, types + nb, scores + nb) != 0) {
        goto done;
    }

    gguf_set_val_str(g, "tokenizer.ggml.model", "gpt2");
    gguf_set_val_str(g, "tokenizer.ggml.pre", "default");
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", tokens, (size_t)nv);
    gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (size_t)nv);
    gguf_set_arr_data(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, (size_t)nv);
    /* llama.cpp requires the key; an empty list (no --n-vocab) keeps the tokenizer byte-level. */
    gguf_set_arr_str(g, "tokenizer.ggml.merges", wv.merge_list, (size_t)wv.n_merges);
    gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", GEN_TOK_BOS);
    gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", GEN_TOK_EOS);
    gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", true);
    gguf_set_val_bool(g, "tokenizer.ggml.add_eos_token", false);
    rc = 0; /* gguf_set_* copied every string */
done:
    word_vocab_free(&wv);
    free(tokens);
    free(types);
    free(scores);
    return rc;
}

static void set_u32(struct gguf_context *g, const char *arch, const char *key, uint32_t v) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    gguf_set_val_u32(g, k, v);
}

static void set_f32(struct gguf_context *g, const char *arch, const char *key, float v) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    gguf_set_val_f32(g, k, v);
}

static uint32_t file_type(enum ggml_type t) {
    switch (t) {
    case GGML_TYPE_F32: return 0;  /* LLAMA_FTYPE_ALL_F32 */
    case GGML_TYPE_F16: return 1;  /* LLAMA_FTYPE_MOSTLY_F16 */
    case GGML_TYPE_Q8_0: return 7; /* LLAMA_FTYPE_MOSTLY_Q8_0 */
    default: return 15;            /* LLAMA_FTYPE_MOSTLY_Q4_K_M */
    }
}

/* One tensor to generate: how it is filled is decided from its role. */
struct gen_tensor {
    char name[GGML_MAX_NAME];
    int64_t ne0, ne1; /* ne1 == 0: 1-D */
    enum ggml_type type;
    float std;        /* 0: constant ones (norm weights) */
    int zero;         /* biases start at zero */
};

struct gen_list {
    struct gen_tensor *t;
    size_t n, cap;
};

static int list_add(struct gen_list *l, const char *name, int64_t ne0, int64_t ne1,
                    enum ggml_type type, float std, int zero) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct gen_tensor *t = realloc(l->t, cap * sizeof *t);
        if (!t) {
            return -1;
        }
        l->t = t;
        l->cap = cap;
    }
    struct gen_tensor *e = &l->t[l->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ne0 = ne0;
    e->ne1 = ne1;
    /* A quantized type needs whole blocks per row; rows that do not fit fall back to F16, as
     * llama-quantize does. */
    if (ne1 > 0 && ne0 % ggml_blck_size(type) != 0) {
        type = GGML_TYPE_F16;
    }
    e->type = ne1 > 0 ? type : GGML_TYPE_F32;
    e->std = std;
    e->zero = zero;
    return 0;
}

/* ------------------------------------------------------ embedding model (--embedding) */

/* The tensors of llama.cpp's BERT (src/models/bert.cpp): token, token-type and learned position
 * embeddings with a LayerNorm, then per layer Q/K/V and output projections with biases, a
 * post-attention LayerNorm, a GELU feed-forward with biases and a post-FFN LayerNorm. Norm
 * weights start at one, biases at zero. */
static int build_list_bert(const struct gen_params *p, struct gen_list *l) {
    const int64_t nkv = (int64_t)(p->n_embd / p->n_head) * p->n_head_kv;
    const float std_res = p->std / sqrtf(2.0f * (float)p->n_layer);
    char n[GGML_MAX_NAME];
    int rc = 0;
    rc |= list_add(l, "token_embd.weight", p->n_embd, n_vocab(p), p->type, p->embd_std > 0 ? p->embd_std : p->std, 0);
    rc |= list_add(l, "token_types.weight", p->n_embd, 2, GGML_TYPE_F32, p->std, 0);
    rc |= list_add(l, "position_embd.weight", p->n_embd, p->n_ctx, GGML_TYPE_F32, p->std, 0);
    rc |= list_add(l, "token_embd_norm.weight", p->n_embd, 0, GGML_TYPE_F32, 0, 0);
    rc |= list_add(l, "token_embd_norm.bias", p->n_embd, 0, GGML_TYPE_F32, 0, 1);
    for (int i = 0; i < p->n_layer && rc == 0; i++) {
#define T(suffix, ne0, ne1, std, zero)                                   \
    do {                                                                 \
        snprintf(n, sizeof n, "blk.%d.%s", i, suffix);                   \
        rc |= list_add(l, n, ne0, ne1, p->type, std, zero);              \
    } while (0)
        T("attn_q.weight", p->n_embd, p->n_embd, p->std, 0);
        T("attn_q.bias", p->n_embd, 0, 0, 1);
        T("attn_k.weight", p->n_embd, nkv, p->std, 0);
        T("attn_k.bias", nkv, 0, 0, 1);
        T("attn_v.weight", p->n_embd, nkv, p->std, 0);
        T("attn_v.bias", nkv, 0, 0, 1);
        T("attn_output.weight", p->n_embd, p->n_embd, std_res, 0);
        T("attn_output.bias", p->n_embd, 0, 0, 1);
        T("attn_output_norm.weight", p->n_embd, 0, 0, 0);
        T("attn_output_norm.bias", p->n_embd, 0, 0, 1);
        T("ffn_up.weight", p->n_embd, p->n_ff, p->std, 0);
        T("ffn_up.bias", p->n_ff, 0, 0, 1);
        T("ffn_down.weight", p->n_ff, p->n_embd, std_res, 0);
        T("ffn_down.bias", p->n_embd, 0, 0, 1);
        T("layer_output_norm.weight", p->n_embd, 0, 0, 0);
        T("layer_output_norm.bias", p->n_embd, 0, 0, 1);
#undef T
    }
    return rc;
}

/* BERT's own keys: LayerNorm epsilon, bidirectional attention, the pooling llmux must apply
 * (read back through llama_pooling_type), two token types. */
static void add_bert_metadata(struct gguf_context *g, const struct gen_params *p) {
    set_f32(g, "bert", "attention.layer_norm_epsilon", 1e-12f);
    gguf_set_val_bool(g, "bert.attention.causal", false);
    set_u32(g, "bert", "pooling_type", (uint32_t)p->pooling);
    gguf_set_val_u32(g, "tokenizer.ggml.token_type_count", 2);
}

static int build_list(const struct gen_params *p, struct gen_list *l) {
    if (p->arch == ARCH_BERT) return build_list_bert(p, l);
    const int64_t hd = p->n_embd / p->n_head;
    const int64_t nq = hd * p->n_head, nkv = hd * p->n_head_kv;
    /* GPT-2's residual scaling: projections that write into the residual stream start smaller,
     * so the stream's variance does not grow with depth. */
    const float std_res = p->std / sqrtf(2.0f * (float)p->n_layer);
    char n[GGML_MAX_NAME];
    int rc = 0;
    rc |= list_add(l, "token_embd.weight", p->n_embd, n_vocab(p), p->type,
                   p->embd_std > 0 ? p->embd_std : p->std, 0);
    rc |= list_add(l, "output_norm.weight", p->n_embd, 0, GGML_TYPE_F32, 0, 0);
    if (!p->tied && p->arch != ARCH_GEMMA) {
        rc |= list_add(l, "output.weight", p->n_embd, n_vocab(p), p->type, p->std, 0);
    }
    for (int i = 0; i < p->n_layer && rc == 0; i++) {
#define T(suffix, ne0, ne1, std, zero)                                   \
    do {                                                                 \
        snprintf(n, sizeof n, "blk.%d.%s", i, suffix);                   \
        rc |= list_add(l, n, ne0, ne1, p->type, std, zero);              \
    } while (0)
        T("attn_norm.weight", p->n_embd, 0, 0, 0);
        T("attn_q.weight", p->n_embd, nq, p->std, 0);
        T("attn_k.weight", p->n_embd, nkv, p->std, 0);
        T("attn_v.weight", p->n_embd, nkv, p->std, 0);
        if (p->arch == ARCH_QWEN2) {
            T("attn_q.bias", nq, 0, 0, 1);
            T("attn_k.bias", nkv, 0, 0, 1);
            T("attn_v.bias", nkv, 0, 0, 1);
        }
        T("attn_output.weight", nq, p->n_embd, std_res, 0);
        T("ffn_norm.weight", p->n_embd, 0, 0, 0);
        T("ffn_gate.weight", p->n_embd, p->n_ff, p->std, 0);
        T("ffn_up.weight", p->n_embd, p->n_ff, p->std, 0);
        T("ffn_down.weight", p->n_ff, p->n_embd, std_res, 0);
#undef T
    }
    return rc;
}

static int write_zeros(FILE *f, size_t n) {
    static const char z[64];
    while (n > 0) {
        size_t k = n < sizeof z ? n : sizeof z;
        if (fwrite(z, 1, k, f) != k) {
            return -1;
        }
        n -= k;
    }
    return 0;
}

static int generate(const struct gen_params *p) {
    struct gen_list l = {0};
    struct ggml_context *meta = NULL;
    struct gguf_context *g = NULL;
    FILE *f = NULL;
    float *src = NULL;
    void *dst = NULL;
    void *hdr = NULL;
    int rc = -1;
    const char *an = arch_name(p->arch);

    if (build_list(p, &l) != 0) {
        fprintf(stderr, "gguf_gen: out of memory\n");
        goto done;
    }
    struct ggml_init_params ip = {
        .mem_size = (l.n + 1) * ggml_tensor_overhead(),
        .mem_buffer = NULL,
        .no_alloc = true,
    };
    meta = ggml_init(ip);
    g = gguf_init_empty();
    if (!meta || !g) {
        fprintf(stderr, "gguf_gen: out of memory\n");
        goto done;
    }

    gguf_set_val_str(g, "general.architecture", an);
    gguf_set_val_str(g, "general.name", "llmux-random");
    gguf_set_val_u32(g, "general.file_type", file_type(p->type));
    set_u32(g, an, "context_length", (uint32_t)p->n_ctx);
    set_u32(g, an, "embedding_length", (uint32_t)p->n_embd);
    set_u32(g, an, "block_count", (uint32_t)p->n_layer);
    set_u32(g, an, "feed_forward_length", (uint32_t)p->n_ff);
    set_u32(g, an, "attention.head_count", (uint32_t)p->n_head);
    set_u32(g, an, "attention.head_count_kv", (uint32_t)p->n_head_kv);
    set_u32(g, an, "rope.dimension_count", (uint32_t)(p->n_embd / p->n_head));
    set_u32(g, an, "vocab_size", (uint32_t)n_vocab(p));
    set_f32(g, an, "attention.layer_norm_rms_epsilon", 1e-5f);
    set_f32(g, an, "rope.freq_base", 10000.0f);
    if (add_byte_vocab(g, p) != 0) {
        fprintf(stderr, "gguf_gen: out of memory\n");
        goto done;
    }
    if (p->arch == ARCH_BERT) {
        add_bert_metadata(g, p);
    }
    if (p->chat_template) {
        gguf_set_val_str(g, "tokenizer.chat_template", p->chat_template);
    }

    size_t max_row_elems = 0, max_bytes = 0;
    for (size_t i = 0; i < l.n; i++) {
        struct gen_tensor *e = &l.t[i];
        struct ggml_tensor *t = e->ne1 > 0 ? ggml_new_tensor_2d(meta, e->type, e->ne0, e->ne1)
                                           : ggml_new_tensor_1d(meta, e->type, e->ne0);
        ggml_set_name(t, e->name);
        gguf_add_tensor(g, t);
        size_t elems = (size_t)e->ne0 * (size_t)(e->ne1 > 0 ? e->ne1 : 1);
        if (elems > max_row_elems) {
            max_row_elems = elems;
        }
        if (ggml_nbytes(t) > max_bytes) {
            max_bytes = ggml_nbytes(t);
        }
    }

    f = fopen(p->out, "wb");
    if (!f) {
        fprintf(stderr, "gguf_gen: cannot open %s: %s\n", p->out, strerror(errno));
        goto done;
    }
    size_t meta_size = gguf_get_meta_size(g);
    hdr = malloc(meta_size);
    src = malloc(max_row_elems * sizeof *src);
    dst = malloc(max_bytes);
    if (!hdr || !src || !dst) {
        fprintf(stderr, "gguf_gen: out of memory\n");
        goto done;
    }
    gguf_get_meta_data(g, hdr);
    if (fwrite(hdr, 1, meta_size, f) != meta_size) {
        goto io_fail;
    }

    uint64_t rng = p->seed;
    const size_t align = gguf_get_alignment(g);
    for (size_t i = 0; i < l.n; i++) {
        struct gen_tensor *e = &l.t[i];
        const int64_t rows = e->ne1 > 0 ? e->ne1 : 1;
        const size_t elems = (size_t)e->ne0 * (size_t)rows;
        if (e->zero) {
            memset(src, 0, elems * sizeof *src);
        } else if (e->std == 0) {
            for (size_t j = 0; j < elems; j++) {
                src[j] = 1.0f;
            }
        } else {
            fill_normal(&rng, src, elems, e->std);
            /* --printable: the output rows (token_embd's when the output is tied to it) of the
             * tokens that are not printable text are zero, so their logits are exactly 0. The
             * rows are drawn first, so every other weight is the same as without the option. */
            const int is_output = !strcmp(e->name, "output.weight") ||
                                  (!strcmp(e->name, "token_embd.weight") && (p->tied || p->arch == ARCH_GEMMA));
            for (int64_t r = 0; p->printable && is_output && r < rows; r++) {
                if (!is_printable_token(p, (int)r)) {
                    memset(src + (size_t)r * (size_t)e->ne0, 0, (size_t)e->ne0 * sizeof *src);
                }
            }
        }
        size_t nbytes;
        if (e->type == GGML_TYPE_F32) {
            memcpy(dst, src, elems * sizeof *src);
            nbytes = elems * sizeof *src;
        } else if (e->type == GGML_TYPE_F16) {
            ggml_fp32_to_fp16_row(src, dst, (int64_t)elems);
            nbytes = elems * sizeof(ggml_fp16_t);
        } else {
            nbytes = ggml_quantize_chunk(e->type, src, dst, 0, rows, e->ne0, NULL);
        }
        if (fwrite(dst, 1, nbytes, f) != nbytes) {
            goto io_fail;
        }
        size_t pad = (align - nbytes % align) % align;
        if (write_zeros(f, pad) != 0) {
            goto io_fail;
        }
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto io_fail;
    }
    f = NULL;
    rc = 0;
    goto done;

io_fail:
    fprintf(stderr, "gguf_gen: write to %s failed: %s\n", p->out, strerror(errno));
done:
    if (f) {
        fclose(f);
    }
    free(hdr);
    free(src);
    free(dst);
    if (g) {
        gguf_free(g);
    }
    if (meta) {
        ggml_free(meta);
    }
    free(l.t);
    return rc;
}

static void usage(void) {
    fprintf(stderr,
            "usage: gguf_gen --out PATH [--arch llama|qwen2|gemma] [--n-layer N] [--n-embd N]\n"
            "                [--n-head N] [--n-head-kv N] [--n-ff N] [--ctx N]\n"
            "                [--type f32|f16|q8_0|q4_k] [--seed N] [--std X] [--embd-std X] [--tied]\n"
            "                [--chat-template TEMPLATE] [--long-token LEN] [--n-vocab N] [--printable]\n"
            "                [--embedding [--pooling mean|cls|last]]\n"
            "Writes a model with random weights and a byte-level vocabulary (258 tokens: the 256 bytes,\n"
            "then the control tokens <s> and </s>). --chat-template stores a template (or a name\n"
            "llama.cpp knows, such as chatml or monarch) as tokenizer.chat_template. --long-token\n"
            "adds token 258, LEN (1..4096) bytes of 'x', for tests of long token pieces. --n-vocab\n"
            "makes the vocabulary N tokens (up to 262144; 32000 is a realistic small one): after the\n"
            "built-in tokens come words of 2, 3, then 4 lower-case letters, each with the BPE merge\n"
            "that builds it, so lower-case text tokenizes into words as with a real BPE vocabulary.\n"
            "--printable zeroes the output rows of every token that is not printable ASCII text (</s>,\n"
            "<s>, control and non-ASCII bytes): their logits are always 0, below the best of the other\n"
            "(random, centred) logits, so greedy decoding never ends early and only ever produces\n"
            "printable text: benchmarks generate exactly max_tokens, streamed token by token, on\n"
            "every server (none holds back incomplete UTF-8).\n"
            "--embedding writes a BERT embedding model (arch bert: bidirectional attention, learned\n"
            "positions, LayerNorm, GELU) whose metadata carries the pooling llama.cpp applies\n"
            "(--pooling, default mean); --ctx is its position count.\n");
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* llama.cpp's enum llama_pooling_type values. */
static int parse_pooling(const char *s, int *out) {
    if (!strcmp(s, "mean")) {
        *out = 1;
    } else if (!strcmp(s, "cls")) {
        *out = 2;
    } else if (!strcmp(s, "last")) {
        *out = 3;
    } else {
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    struct gen_params p = {
        .arch = ARCH_LLAMA, .n_layer = 2, .n_embd = 256, .n_head = 4, .n_head_kv = 0,
        .n_ff = 0, .n_ctx = 256, .type = GGML_TYPE_F16, .seed = 42, .std = 0.02f,
        .tied = 0, .out = NULL, .pooling = 1,
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "--tied")) {
            p.tied = 1;
            continue;
        }
        if (!strcmp(a, "--embedding")) {
            p.arch = ARCH_BERT;
            continue;
        }
        if (!strcmp(a, "--printable")) {
            p.printable = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        }
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (!strcmp(a, "--out")) {
            p.out = v;
        } else if (!strcmp(a, "--chat-template")) {
            p.chat_template = v;
        } else if (!strcmp(a, "--arch")) {
            if (!strcmp(v, "llama")) {
                p.arch = ARCH_LLAMA;
            } else if (!strcmp(v, "qwen2")) {
                p.arch = ARCH_QWEN2;
            } else if (!strcmp(v, "gemma")) {
                p.arch = ARCH_GEMMA;
            } else {
                bad = 1;
            }
        } else if (!strcmp(a, "--pooling")) {
            bad = parse_pooling(v, &p.pooling);
        } else if (!strcmp(a, "--type")) {
            if (!strcmp(v, "f32")) {
                p.type = GGML_TYPE_F32;
            } else if (!strcmp(v, "f16")) {
                p.type = GGML_TYPE_F16;
            } else if (!strcmp(v, "q8_0")) {
                p.type = GGML_TYPE_Q8_0;
            } else if (!strcmp(v, "q4_k")) {
                p.type = GGML_TYPE_Q4_K;
            } else {
                bad = 1;
            }
        } else if (!strcmp(a, "--n-layer")) {
            bad = parse_int(v, 1, GEN_MAX_LAYER, &p.n_layer);
        } else if (!strcmp(a, "--n-embd")) {
            bad = parse_int(v, 1, GEN_MAX_DIM, &p.n_embd);
        } else if (!strcmp(a, "--n-head")) {
            bad = parse_int(v, 1, GEN_MAX_DIM, &p.n_head);
        } else if (!strcmp(a, "--n-head-kv")) {
            bad = parse_int(v, 1, GEN_MAX_DIM, &p.n_head_kv);
        } else if (!strcmp(a, "--n-ff")) {
            bad = parse_int(v, 1, 4 * GEN_MAX_DIM, &p.n_ff);
        } else if (!strcmp(a, "--long-token")) {
            bad = parse_int(v, 1, GEN_MAX_LONG_TOKEN, &p.long_token);
        } else if (!strcmp(a, "--n-vocab")) {
            bad = parse_int(v, GEN_N_VOCAB, GEN_MAX_VOCAB, &p.n_vocab);
        } else if (!strcmp(a, "--ctx")) {
            bad = parse_int(v, 1, GEN_MAX_CTX, &p.n_ctx);
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            p.seed = strtoull(v, &end, 10);
            bad = errno || end == v || *end;
        } else if (!strcmp(a, "--embd-std")) {
            char *end;
            p.embd_std = strtof(v, &end);
            bad = end == v || *end || !(p.embd_std > 0.0f) || p.embd_std > 10.0f;
        } else if (!strcmp(a, "--std")) {
            char *end;
            p.std = strtof(v, &end);
            bad = end == v || *end || !(p.std > 0.0f) || p.std > 10.0f;
        } else {
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "gguf_gen: bad option %s %s\n", a, v);
            usage();
            return 2;
        }
    }
    if (!p.out) {
        usage();
        return 2;
    }
    if (p.n_head_kv == 0) {
        p.n_head_kv = p.n_head;
    }
    if (p.n_ff == 0) {
        p.n_ff = 4 * p.n_embd;
    }
    if (p.n_vocab > 0 && p.n_vocab < n_base_vocab(&p)) {
        fprintf(stderr, "gguf_gen: --n-vocab %d is smaller than the %d built-in tokens\n", p.n_vocab,
                n_base_vocab(&p));
        return 2;
    }
    if (p.n_embd % p.n_head != 0 || p.n_head % p.n_head_kv != 0 || (p.n_embd / p.n_head) % 2) {
        fprintf(stderr, "gguf_gen: n_embd must split into n_head even-sized heads, and n_head "
                        "must be a multiple of n_head_kv\n");
        return 2;
    }
    if (generate(&p) != 0) {
        remove(p.out);
        return 1;
    }
    return 0;
}
