/* bench_determinism: how many seeded and greedy streams give a different text batched (eight at
 * once on eight slots, one model) than alone (each on a fresh model), with the unified KV cache
 * and with one KV stream per slot. A study, not a test: tests/engine/test_batch_determinism.c
 * asserts what holds; this prints what does not (and where each stream diverges).
 *
 *   bench_determinism [model=models/llmux-fortunes.gguf]...
 *
 * Why unified-cache batching may diverge: a sequence's KV cells sit at other offsets of the
 * shared cache, so attention sums group their terms differently and the logits move by rounding
 * noise; a seeded draw near a boundary of the cumulative distribution follows it. On an F16
 * model a lone decode token goes through ggml_vec_dot_f16 while a batch goes through llamafile's
 * tinyBLAS, which sums in another order, so even per-slot KV streams may diverge. */
#define _XOPEN_SOURCE 700
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "engine/engine.h"
#include "engine/sched.h"

#define N_REQ 8
#define N_TOKENS 48

static const char *const k_prompts[N_REQ] = {
    "Once upon a time",
    "The quick brown fox jumps over the lazy dog",
    "A",
    "Tell me a fortune about the sea and the sky",
    "Numbers: 1 2 3 4 5 6 7 8 9",
    "Why",
    "What does the future hold for a patient gardener who waits all winter?",
    "Write one line",
};

typedef struct stream {
    llmux_part part;
    llmux_message msg;
    llmux_request req;
    lx_buf text;
    int32_t tokens;
} stream;

static bool on_event(void *ud, const llmux_event *ev) {
    stream *s = ud;
    if (ev->type == LLMUX_EVENT_TEXT_DELTA) lx_buf_append(&s->text, ev->text, ev->text_len);
    if (ev->type == LLMUX_EVENT_USAGE) s->tokens = ev->usage.output_tokens;
    return true;
}

static void stream_init(stream *s, int i, bool sampled) {
    memset(s, 0, sizeof *s);
    s->part.type = LLMUX_PART_TEXT;
    s->part.text = k_prompts[i];
    s->msg = (llmux_message){LLMUX_ROLE_USER, &s->part, 1, NULL};
    s->req = llmux_request_default();
    s->req.messages = &s->msg;
    s->req.n_messages = 1;
    llmux_sampling sp = llmux_sampling_default();
    sp.temperature = sampled ? 1.0 : 0.0;
    sp.top_k = 200;
    sp.top_p = 1.0;
    sp.min_p = 0.0;
    sp.seed = 300 + i;
    sp.max_tokens = N_TOKENS;
    s->req.sampling = sp;
    lx_buf_init(&s->text, 1 << 20);
    lx_buf_append(&s->text, "", 0);
}

static lx_model *load(const char *path, bool kv_per_slot) {
    lx_model_params mp = lx_model_default_params();
    mp.path = path;
    mp.n_ctx = 512;
    mp.n_slots = N_REQ;
    mp.kv_per_slot = kv_per_slot;
    lx_model *m = NULL;
    llmux_error_info err;
    if (lx_model_load(&mp, &m, &err) != LLMUX_OK) {
        fprintf(stderr, "bench_determinism: %s: %s\n", path, err.message);
        exit(1);
    }
    return m;
}

/* Starts streams[0..n) before the first step, then steps until all ended. */
static void run_together(lx_model *m, stream *s, int n) {
    lx_seq *seqs[N_REQ];
    for (int i = 0; i < n; i++) {
        llmux_error_info err;
        if (lx_seq_start(m, &s[i].req, NULL, 0, (lx_event_sink){on_event, &s[i]}, &s[i], &seqs[i], &err) != LLMUX_OK) {
            fprintf(stderr, "bench_determinism: start: %s\n", err.message);
            exit(1);
        }
    }
    for (int ended = 0; ended < n;) {
        lx_seq *done[N_REQ];
        int32_t k = lx_model_step(m, done, N_REQ);
        for (int32_t j = 0; j < k; j++) lx_seq_free(done[j]);
        ended += k;
    }
}

static long first_difference(const stream *a, const stream *b) {
    size_t n = a->text.len < b->text.len ? a->text.len : b->text.len;
    for (size_t i = 0; i < n; i++)
        if (a->text.data[i] != b->text.data[i]) return (long)i;
    return a->text.len == b->text.len ? -1 : (long)n;
}

static void measure(const char *path, bool sampled, bool kv_per_slot) {
    stream alone[N_REQ], together[N_REQ];
    for (int i = 0; i < N_REQ; i++) {
        stream_init(&alone[i], i, sampled);
        stream_init(&together[i], i, sampled);
        lx_model *m = load(path, kv_per_slot);
        run_together(m, &alone[i], 1);
        lx_model_free(m);
    }
    lx_model *m = load(path, kv_per_slot);
    run_together(m, together, N_REQ);
    lx_model_free(m);
    int diverged = 0;
    for (int i = 0; i < N_REQ; i++) {
        long at = first_difference(&alone[i], &together[i]);
        if (at >= 0) {
            diverged++;
            printf("  stream %d (%d tokens) diverges at byte %ld of %zu\n", i, alone[i].tokens, at, alone[i].text.len);
        }
        lx_buf_free(&alone[i].text);
        lx_buf_free(&together[i].text);
    }
    printf("%s, %s, %s: %d of %d streams diverge batched vs alone\n", path, sampled ? "seeded" : "greedy",
           kv_per_slot ? "kv_per_slot" : "unified KV", diverged, N_REQ);
}

int main(int argc, char **argv) {
    const char *fallback[] = {"models/llmux-fortunes.gguf"};
    const char **models = argc > 1 ? (const char **)argv + 1 : fallback;
    int n = argc > 1 ? argc - 1 : 1;
    for (int i = 0; i < n; i++)
        for (int kv = 0; kv < 2; kv++)
            for (int sampled = 1; sampled >= 0; sampled--) measure(models[i], sampled, kv);
    return 0;
}
