/* train_fortunes: trains a small byte-level model (made by gguf_gen) on fortune cookies with
 * llama.cpp's own training API (llama_opt_init / llama_opt_epoch), then writes it as Q8_0 (or F16).
 * Q8_0 is the default: the trained weights grow to rms ~1, and the CPU F16 matmul path (which
 * rounds activations to F16) then overflows to NaN, while Q8_0 keeps F32 scales per block.
 *
 * Corpus format: the fortune files' text, split on lines holding only "%". Each fortune becomes
 * BOS + text + EOS, so a prompt (which gets BOS from the tokenizer) starts a new fortune and the
 * model learns to end one with EOS. Overstrike sequences (X BS Y, used for underlining in a few
 * files) are reduced to Y. A seeded shuffle assigns a fraction of whole fortunes to validation,
 * so no validation text is seen in training. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml-opt.h"
#include "ggml.h"
#include "llama.h"

#define TR_MAX_FILE_BYTES (64u << 20) /* a fortune file is tens of KB; a bigger one is a mistake */
#define TR_MAX_FILES      256

struct opts {
    const char *model_in;
    const char *out;
    const char *out_f32;
    const char *out_type;
    const char *files[TR_MAX_FILES];
    int n_files;
    int n_ctx;
    int n_ubatch;      /* n_ctx / n_ubatch micro-batches are accumulated per step */
    int threads;
    int64_t steps;     /* optimizer steps in total, one step = one n_ctx-token chunk */
    int n_evals;       /* validation passes, evenly spaced over training */
    float lr, lr_min, wd;
    int warmup;
    float val_frac;
    int max_val_chunks;
    uint64_t seed;
};

/* --- tokens --------------------------------------------------------------------------------- */

struct tokvec {
    llama_token *v;
    size_t n, cap;
};

static int tv_push(struct tokvec *t, llama_token x) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1 << 16;
        llama_token *v = realloc(t->v, cap * sizeof *v);
        if (!v) {
            return -1;
        }
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = x;
    return 0;
}

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void shuffle_idx(size_t *a, size_t n, uint64_t *rng) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng_next(rng) % i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* --- corpus --------------------------------------------------------------------------------- */

struct fortune {
    char *text;
    size_t len;
};

struct corpus {
    struct fortune *f;
    size_t n, cap;
    size_t bytes;
};

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "train: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 65536) {
            if (cap >= TR_MAX_FILE_BYTES) {
                fprintf(stderr, "train: %s is larger than %u bytes\n", path, TR_MAX_FILE_BYTES);
                goto fail;
            }
            cap = cap ? cap * 2 : 1 << 17;
            char *b = realloc(buf, cap + 1);
            if (!b) {
                goto fail;
            }
            buf = b;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) {
            break;
        }
    }
    if (ferror(f)) {
        goto fail;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

/* Appends one cleaned fortune; empty ones are dropped. */
static int corpus_add(struct corpus *c, const char *s, size_t len) {
    char *t = malloc(len + 1);
    if (!t) {
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\b') {
            if (n > 0) {
                n--; /* overstrike: the character after the backspace wins */
            }
            continue;
        }
        if (s[i] == '\r') {
            continue;
        }
        t[n++] = s[i];
    }
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == ' ' || t[n - 1] == '\t')) {
        n--;
    }
    size_t start = 0;
    while (start < n && t[start] == '\n') {
        start++;
    }
    if (start == n) {
        free(t);
        return 0;
    }
    memmove(t, t + start, n - start);
    n -= start;
    t[n] = 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        struct fortune *f = realloc(c->f, cap * sizeof *f);
        if (!f) {
            free(t);
            return -1;
        }
        c->f = f;
        c->cap = cap;
    }
    c->f[c->n].text = t;
    c->f[c->n].len = n;
    c->n++;
    c->bytes += n;
    return 0;
}

static int corpus_load(struct corpus *c, const char *path) {
    size_t len;
    char *buf = read_file(path, &len);
    if (!buf) {
        return -1;
    }
    size_t start = 0, i = 0;
    int rc = 0;
    while (i <= len && rc == 0) {
        size_t eol = i;
        while (eol < len && buf[eol] != '\n') {
            eol++;
        }
        int sep = eol - i == 1 && buf[i] == '%';
        if (sep || eol >= len) {
            size_t end = sep ? i : len;
            rc = corpus_add(c, buf + start, end - start);
            start = eol + 1;
        }
        i = eol + 1;
    }
    free(buf);
    return rc;
}

static int tokenize_fortune(const struct llama_vocab *vocab, const struct fortune *f,
                            struct tokvec *out) {
    /* Byte-level vocabulary: never more tokens than bytes, plus BOS. */
    int cap = (int)f->len + 2;
    llama_token *tmp = malloc((size_t)cap * sizeof *tmp);
    if (!tmp) {
        return -1;
    }
    int n = llama_tokenize(vocab, f->text, (int32_t)f->len, tmp, cap, true, false);
    int rc = n < 0 ? -1 : 0;
    for (int i = 0; i < n && rc == 0; i++) {
        rc = tv_push(out, tmp[i]);
    }
    if (rc == 0) {
        rc = tv_push(out, llama_vocab_eos(vocab));
    }
    free(tmp);
    return rc;
}

/* --- optimizer schedule --------------------------------------------------------------------- */

struct sched {
    const struct opts *o;
    int64_t step;
};

/* Called by ggml-opt once per optimizer step: linear warmup, then cosine decay to lr_min. */
static struct ggml_opt_optimizer_params sched_params(void *ud) {
    struct sched *s = ud;
    const struct opts *o = s->o;
    struct ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(NULL);
    int64_t t = s->step++;
    float lr;
    if (t < o->warmup) {
        lr = o->lr * (float)(t + 1) / (float)o->warmup;
    } else {
        double x = (double)(t - o->warmup) / (double)(o->steps > o->warmup ? o->steps - o->warmup : 1);
        if (x > 1.0) {
            x = 1.0;
        }
        lr = o->lr_min + (o->lr - o->lr_min) * 0.5f * (1.0f + (float)cos(3.14159265358979 * x));
    }
    p.adamw.alpha = lr;
    p.adamw.wd = o->wd;
    p.sgd.alpha = lr;
    p.sgd.wd = o->wd;
    return p;
}

/* --- progress ------------------------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct sched *g_sched; /* read by the progress callback, which has no userdata */

static void progress(bool train, ggml_opt_context_t opt, ggml_opt_dataset_t ds,
                     ggml_opt_result_t res, int64_t ib, int64_t ib_max, int64_t t0_us) {
    (void)opt;
    (void)ds;
    if (!train || (ib % 100 != 0 && ib != ib_max)) {
        return;
    }
    double loss = 0, unc = 0;
    ggml_opt_result_loss(res, &loss, &unc);
    double dt = (double)(ggml_time_us() - t0_us) * 1e-6;
    fprintf(stderr, "  step %6lld  batch %5lld/%lld  loss %.4f  %.0f s\n",
            (long long)(g_sched ? g_sched->step : 0), (long long)ib, (long long)ib_max, loss, dt);
}

/* --- evaluation and sampling ---------------------------------------------------------------- */

/* Mean next-token cross-entropy (nats) of a model over chunks of val, via plain llama_decode. */
static double eval_loss(struct llama_model *model, const struct tokvec *val, int n_ctx,
                        int max_chunks, int threads) {
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = (uint32_t)n_ctx;
    cp.n_ubatch = (uint32_t)n_ctx;
    cp.n_threads = cp.n_threads_batch = threads;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        return NAN;
    }
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    struct llama_batch b = llama_batch_init(n_ctx, 0, 1);
    double sum = 0;
    int64_t cnt = 0;
    for (int c = 0; c < max_chunks && (size_t)(c + 1) * (size_t)n_ctx + 1 <= val->n; c++) {
        const llama_token *tk = val->v + (size_t)c * (size_t)n_ctx;
        llama_memory_clear(llama_get_memory(ctx), true);
        b.n_tokens = n_ctx;
        for (int i = 0; i < n_ctx; i++) {
            b.token[i] = tk[i];
            b.pos[i] = i;
            b.n_seq_id[i] = 1;
            b.seq_id[i][0] = 0;
            b.logits[i] = 1;
        }
        if (llama_decode(ctx, b) != 0) {
            sum = NAN;
            break;
        }
        for (int i = 0; i < n_ctx; i++) {
            const float *lg = llama_get_logits_ith(ctx, i);
            double mx = lg[0], z = 0;
            for (int k = 1; k < n_vocab; k++) {
                mx = lg[k] > mx ? lg[k] : mx;
            }
            for (int k = 0; k < n_vocab; k++) {
                z += exp(lg[k] - mx);
            }
            sum += -(lg[tk[i + 1]] - mx - log(z));
            cnt++;
        }
    }
    llama_batch_free(b);
    llama_free(ctx);
    return cnt ? sum / (double)cnt : NAN;
}

static void sample(struct llama_model *model, const char *prompt, float temp, uint32_t seed,
                   int n_predict, int threads) {
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512;
    cp.n_threads = cp.n_threads_batch = threads;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    struct llama_sampler *smp = llama_sampler_chain_init(llama_sampler_chain_default_params());
    llama_token toks[512];
    if (!ctx || !smp) {
        goto done;
    }
    if (temp <= 0) {
        llama_sampler_chain_add(smp, llama_sampler_init_greedy());
    } else {
        llama_sampler_chain_add(smp, llama_sampler_init_temp(temp));
        llama_sampler_chain_add(smp, llama_sampler_init_dist(seed));
    }
    int n = llama_tokenize(vocab, prompt, (int32_t)strlen(prompt), toks, 256, true, false);
    if (n < 0) {
        goto done;
    }
    printf("--- prompt \"%s\", %s:\n%s", prompt, temp <= 0 ? "greedy" : "temperature 0.8", prompt);
    struct llama_batch b = llama_batch_get_one(toks, n);
    for (int i = 0; i < n_predict; i++) {
        if (llama_decode(ctx, b) != 0) {
            break;
        }
        llama_token t = llama_sampler_sample(smp, ctx, -1);
        if (llama_vocab_is_eog(vocab, t)) {
            printf("<EOS>");
            break;
        }
        char piece[16];
        int k = llama_token_to_piece(vocab, t, piece, sizeof piece, 0, false);
        if (k > 0) {
            fwrite(piece, 1, (size_t)k, stdout);
        }
        toks[0] = t;
        b = llama_batch_get_one(toks, 1);
    }
    printf("\n");
done:
    if (smp) {
        llama_sampler_free(smp);
    }
    if (ctx) {
        llama_free(ctx);
    }
}

/* --- training ------------------------------------------------------------------------------- */

static void quiet_log(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    if (level >= GGML_LOG_LEVEL_WARN) {
        fputs(text, stderr);
    }
}

/* Builds the dataset of one training segment: n chunks from the shuffled chunk order, followed
 * by the fixed validation chunks (llama_opt_epoch trains on the front, evaluates the back). */
static ggml_opt_dataset_t make_dataset(const struct tokvec *train, const size_t *order,
                                       size_t n_order, size_t first, int64_t n,
                                       const struct tokvec *val, int64_t n_val, int n_ctx) {
    ggml_opt_dataset_t ds = ggml_opt_dataset_init(GGML_TYPE_I32, GGML_TYPE_I32, n_ctx, n_ctx,
                                                  n + n_val, 1);
    llama_token *data = ggml_get_data(ggml_opt_dataset_data(ds));
    llama_token *labels = ggml_get_data(ggml_opt_dataset_labels(ds));
    for (int64_t i = 0; i < n + n_val; i++) {
        const llama_token *src = i < n ? train->v + order[(first + (size_t)i) % n_order]
                                       : val->v + (size_t)(i - n) * (size_t)n_ctx;
        memcpy(data + i * n_ctx, src, (size_t)n_ctx * sizeof *src);
        memcpy(labels + i * n_ctx, src + 1, (size_t)n_ctx * sizeof *src);
    }
    return ds;
}

static int save_converted(const char *f32_path, const char *out, const char *type, int threads) {
    struct llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.nthread = threads;
    if (!strcmp(type, "f16")) {
        qp.ftype = LLAMA_FTYPE_MOSTLY_F16;
    } else if (!strcmp(type, "q8_0")) {
        qp.ftype = LLAMA_FTYPE_MOSTLY_Q8_0;
    } else {
        qp.ftype = LLAMA_FTYPE_ALL_F32;
    }
    /* Keep the tiny embedding and output matrices at the chosen type too (no Q6_K upgrade). */
    qp.pure = true;
    return llama_model_quantize(f32_path, out, &qp) == 0 ? 0 : -1;
}

static int run(const struct opts *o) {
    struct corpus c = {0};
    struct tokvec train = {0}, val = {0};
    size_t *idx = NULL, *order = NULL;
    struct llama_model *model = NULL;
    struct llama_context *ctx = NULL;
    int rc = 1;

    for (int i = 0; i < o->n_files; i++) {
        if (corpus_load(&c, o->files[i]) != 0) {
            goto done;
        }
    }
    fprintf(stderr, "corpus: %d files, %zu fortunes, %zu bytes of text\n", o->n_files, c.n, c.bytes);

    struct llama_model_params mp = llama_model_default_params();
    mp.load_mode = LLAMA_LOAD_MODE_NONE; /* the optimizer writes to the weights */
    mp.use_extra_bufts = false;          /* repacked weights cannot be trained */
    model = llama_model_load_from_file(o->model_in, mp);
    if (!model) {
        fprintf(stderr, "train: cannot load %s\n", o->model_in);
        goto done;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);

    idx = malloc(c.n * sizeof *idx);
    if (!idx) {
        goto done;
    }
    for (size_t i = 0; i < c.n; i++) {
        idx[i] = i;
    }
    uint64_t rng = o->seed;
    shuffle_idx(idx, c.n, &rng);
    size_t n_val_f = (size_t)((double)c.n * o->val_frac);
    for (size_t i = 0; i < c.n; i++) {
        if (tokenize_fortune(vocab, &c.f[idx[i]], i < n_val_f ? &val : &train) != 0) {
            fprintf(stderr, "train: tokenization failed\n");
            goto done;
        }
    }
    const int n_ctx = o->n_ctx;
    int64_t n_val = (int64_t)((val.n - 1) / (size_t)n_ctx);
    if (n_val > o->max_val_chunks) {
        n_val = o->max_val_chunks;
    }
    /* Chunks start every n_ctx/2 tokens; their order is shuffled once and cycled. */
    const size_t stride = (size_t)n_ctx / 2;
    const size_t n_order = (train.n - (size_t)n_ctx - 1) / stride;
    order = malloc(n_order * sizeof *order);
    if (!order) {
        goto done;
    }
    for (size_t i = 0; i < n_order; i++) {
        order[i] = i * stride;
    }
    shuffle_idx(order, n_order, &rng);
    fprintf(stderr, "tokens: train %zu, val %zu (%zu fortunes, %lld chunks of %d)\n", train.n, val.n,
            n_val_f, (long long)n_val, n_ctx);
    fprintf(stderr, "plan: %lld steps of %d tokens = %.2f passes over the training tokens\n",
            (long long)o->steps, n_ctx, (double)o->steps * n_ctx / (double)train.n);

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = (uint32_t)n_ctx;
    cp.n_ubatch = (uint32_t)o->n_ubatch;
    cp.n_threads = cp.n_threads_batch = o->threads;
    cp.type_k = cp.type_v = GGML_TYPE_F32; /* OUT_PROD has no F16 backward */
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        goto done;
    }

    struct sched s = {.o = o, .step = 0};
    g_sched = &s;
    struct llama_opt_params op = {
        .n_ctx_train = 0,
        .param_filter = llama_opt_param_filter_all,
        .param_filter_ud = NULL,
        .get_opt_pars = sched_params,
        .get_opt_pars_ud = &s,
        .optimizer_type = GGML_OPT_OPTIMIZER_TYPE_ADAMW,
    };
    llama_opt_init(ctx, model, op);

    ggml_opt_result_t rtrain = ggml_opt_result_init();
    ggml_opt_result_t rval = ggml_opt_result_init();
    const double t0 = now_s();
    int64_t done_steps = 0;
    for (int e = 0; e < o->n_evals; e++) {
        int64_t n = o->steps * (e + 1) / o->n_evals - done_steps;
        ggml_opt_dataset_t ds = make_dataset(&train, order, n_order, (size_t)done_steps, n, &val,
                                             n_val, n_ctx);
        llama_opt_epoch(ctx, ds, rtrain, rval, n, progress, NULL);
        done_steps += n;
        double lt = 0, lv = 0, u = 0, acc = 0;
        ggml_opt_result_loss(rtrain, &lt, &u);
        ggml_opt_result_loss(rval, &lv, &u);
        ggml_opt_result_accuracy(rval, &acc, &u);
        double dt = now_s() - t0;
        printf("epoch %2d/%d  steps %6lld  pass %.2f  train loss %.4f  val loss %.4f  "
               "val acc %.3f  %.0f s  %.0f tok/s\n",
               e + 1, o->n_evals, (long long)done_steps, (double)done_steps * n_ctx / (double)train.n,
               lt, lv, acc, dt, (double)done_steps * n_ctx / dt);
        fflush(stdout);
        ggml_opt_result_reset(rtrain);
        ggml_opt_result_reset(rval);
        ggml_opt_dataset_free(ds);
    }
    ggml_opt_result_free(rtrain);
    ggml_opt_result_free(rval);
    printf("training: %lld steps, %lld tokens, %.1f s wall\n", (long long)done_steps,
           (long long)(done_steps * n_ctx), now_s() - t0);

    llama_free(ctx);
    ctx = NULL;
    llama_model_save_to_file(model, o->out_f32);
    llama_model_free(model);
    model = NULL;

    if (save_converted(o->out_f32, o->out, o->out_type, o->threads) != 0) {
        fprintf(stderr, "train: conversion to %s failed\n", o->out_type);
        goto done;
    }
    /* Reload both files through the ordinary inference path, as llmux will. */
    struct llama_model_params ip = llama_model_default_params();
    ip.use_extra_bufts = false;
    const char *paths[2] = {o->out_f32, o->out};
    for (int i = 0; i < 2; i++) {
        struct llama_model *m = llama_model_load_from_file(paths[i], ip);
        if (!m) {
            fprintf(stderr, "train: cannot reload %s\n", paths[i]);
            goto done;
        }
        printf("val loss of %s (%s): %.4f\n", paths[i], i ? o->out_type : "f32",
               eval_loss(m, &val, n_ctx, (int)n_val, o->threads));
        if (i == 1) {
            const char *prompts[3] = {"Once upon a time", "The ", "A"};
            for (int k = 0; k < 3; k++) {
                sample(m, prompts[k], 0.0f, 0, 200, o->threads);
                sample(m, prompts[k], 0.8f, 1234 + (uint32_t)k, 200, o->threads);
                sample(m, prompts[k], 0.8f, 99 + (uint32_t)k, 200, o->threads);
            }
        }
        llama_model_free(m);
    }
    rc = 0;
done:
    if (ctx) {
        llama_free(ctx);
    }
    if (model) {
        llama_model_free(model);
    }
    free(idx);
    free(order);
    free(train.v);
    free(val.v);
    for (size_t i = 0; i < c.n; i++) {
        free(c.f[i].text);
    }
    free(c.f);
    return rc;
}

static void usage(void) {
    fprintf(stderr,
            "usage: train_fortunes --model-in INIT.gguf --out OUT.gguf [options] FILE...\n"
            "  --out-f32 PATH     trained F32 model (default OUT.f32.gguf)\n"
            "  --out-type T       q8_0|f16|f32 (default q8_0)\n"
            "  --ctx N            training context (default 256)\n"
            "  --ubatch N         micro-batch; n_ctx/N are accumulated per step (default 128)\n"
            "  --threads N        (default 2)\n"
            "  --steps N          optimizer steps, one n_ctx chunk each (default 1000)\n"
            "  --evals N          validation passes during training (default 10)\n"
            "  --lr X --lr-min X --warmup N --wd X\n"
            "  --val-frac X       fraction of fortunes held out (default 0.02)\n"
            "  --max-val-chunks N (default 64)\n"
            "  --seed N\n");
}

int main(int argc, char **argv) {
    static char f32_default[4096];
    struct opts o = {
        .out_type = "q8_0", .n_ctx = 256, .n_ubatch = 128, .threads = 2, .steps = 1000, .n_evals = 10,
        .lr = 2e-3f, .lr_min = 2e-4f, .wd = 0.01f, .warmup = 100, .val_frac = 0.02f,
        .max_val_chunks = 64, .seed = 1,
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            if (o.n_files == TR_MAX_FILES) {
                fprintf(stderr, "train: more than %d files\n", TR_MAX_FILES);
                return 2;
            }
            o.files[o.n_files++] = a;
            continue;
        }
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (!strcmp(a, "--model-in")) {
            o.model_in = v;
        } else if (!strcmp(a, "--out")) {
            o.out = v;
        } else if (!strcmp(a, "--out-f32")) {
            o.out_f32 = v;
        } else if (!strcmp(a, "--out-type")) {
            o.out_type = v;
        } else if (!strcmp(a, "--ctx")) {
            o.n_ctx = atoi(v);
        } else if (!strcmp(a, "--ubatch")) {
            o.n_ubatch = atoi(v);
        } else if (!strcmp(a, "--threads")) {
            o.threads = atoi(v);
        } else if (!strcmp(a, "--steps")) {
            o.steps = atoll(v);
        } else if (!strcmp(a, "--evals")) {
            o.n_evals = atoi(v);
        } else if (!strcmp(a, "--lr")) {
            o.lr = strtof(v, NULL);
        } else if (!strcmp(a, "--lr-min")) {
            o.lr_min = strtof(v, NULL);
        } else if (!strcmp(a, "--warmup")) {
            o.warmup = atoi(v);
        } else if (!strcmp(a, "--wd")) {
            o.wd = strtof(v, NULL);
        } else if (!strcmp(a, "--val-frac")) {
            o.val_frac = strtof(v, NULL);
        } else if (!strcmp(a, "--max-val-chunks")) {
            o.max_val_chunks = atoi(v);
        } else if (!strcmp(a, "--seed")) {
            o.seed = strtoull(v, NULL, 10);
        } else {
            usage();
            return 2;
        }
    }
    if (!o.model_in || !o.out || o.n_files == 0 || o.n_ctx < 16 || o.n_ctx % 2 || o.n_ubatch < 1 ||
        o.n_ctx % o.n_ubatch || o.threads < 1 ||
        o.steps < 1 || o.n_evals < 1 || o.n_evals > o.steps || !(o.lr > 0) || o.lr_min < 0 ||
        o.warmup < 1 || !(o.val_frac > 0 && o.val_frac < 0.5f) || o.max_val_chunks < 1 ||
        o.wd < 0 || o.wd > 1) {
        usage();
        return 2;
    }
    if (!o.out_f32) {
        snprintf(f32_default, sizeof f32_default, "%s.f32.gguf", o.out);
        o.out_f32 = f32_default;
    }
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    int rc = run(&o);
    llama_backend_free();
    return rc;
}
