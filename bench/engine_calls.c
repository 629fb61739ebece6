/* The blocking local calls through the sandboxed engine child (local.isolation: process; IPC
 * `call` frames, docs/ipc.md "Calls") against in-process, on the same models: the latency of
 * llmux_count_tokens on a generative model and of llmux_embed (a batch of inputs) on an embedding
 * model. What the child adds is one round trip (runtime loop -> socketpair -> child loop -> call
 * thread -> child loop -> runtime loop) and the encoding (JSON, base64 of the float32 vectors).
 * Each run creates one mode's runtime only, warms it (models loaded, child started), times `calls`
 * calls of each kind, destroys it; the modes alternate which goes first. Prints the medians over
 * runs of each run's median call time.
 *
 *   build/bin/bench_engine_calls DIR GEN_MODEL EMBED_MODEL [runs] [calls] [inputs]
 *
 * DIR must hold both models (docs/benchmarks.md makes a BERT with tools/gguf_gen). */
#define _GNU_SOURCE
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_stats.h"
#include "llmux.h"

#define MAX_RUNS 64
#define MAX_CALLS 1000
#define MAX_INPUTS 256

static llmux_runtime *runtime(const char *dir, bool process, const char *engine) {
    const char *dirs[] = {dir};
    llmux_runtime_params p = llmux_runtime_default_params();
    p.model_dirs = dirs;
    p.n_model_dirs = 1;
    p.n_ctx = 1024;
    if (process) {
        p.local_isolation = LLMUX_ISOLATION_PROCESS;
        p.engine_path = engine;
    }
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    if (llmux_runtime_create(&p, &rt, &err) != LLMUX_OK) {
        fprintf(stderr, "bench_engine_calls: %s\n", err.message);
        return NULL;
    }
    return rt;
}

static const char *g_inputs[MAX_INPUTS];

/* One call of each kind; their times (ms) into *count_ms and *embed_ms. False on an error. */
static bool one_of_each(llmux_runtime *rt, const char *gen, const char *emb, int n_inputs, double *count_ms,
                        double *embed_ms) {
    llmux_part part = {.type = LLMUX_PART_TEXT,
                       .text = "Count the tokens of this question: what will tomorrow bring, and why?"};
    llmux_message msg = {.role = LLMUX_ROLE_USER, .parts = &part, .n_parts = 1};
    llmux_request req = {.model = gen, .messages = &msg, .n_messages = 1, .sampling = llmux_sampling_default()};
    llmux_error_info err;
    int64_t n = 0;
    double t0 = bench_now_ms();
    if (llmux_count_tokens(rt, &req, NULL, &n, &err) != LLMUX_OK) {
        fprintf(stderr, "count_tokens: %s\n", err.message);
        return false;
    }
    double t1 = bench_now_ms();
    llmux_embed_request er = llmux_embed_request_default();
    er.model = emb;
    er.inputs = g_inputs;
    er.n_inputs = (size_t)n_inputs;
    llmux_embeddings *e = NULL;
    if (llmux_embed(rt, &er, NULL, &e, &err) != LLMUX_OK) {
        fprintf(stderr, "embed: %s\n", err.message);
        return false;
    }
    double t2 = bench_now_ms();
    llmux_embeddings_free(e);
    *count_ms = t1 - t0;
    *embed_ms = t2 - t1;
    return true;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_engine_calls DIR GEN_MODEL EMBED_MODEL [runs] [calls] [inputs]\n");
        return 2;
    }
    const char *dir = argv[1], *gen = argv[2], *emb = argv[3];
    int runs = argc > 4 ? atoi(argv[4]) : 7;
    int calls = argc > 5 ? atoi(argv[5]) : 50;
    int n_inputs = argc > 6 ? atoi(argv[6]) : 16;
    if (runs < 1 || runs > MAX_RUNS || calls < 1 || calls > MAX_CALLS || n_inputs < 1 || n_inputs > MAX_INPUTS)
        return 2;
    for (int i = 0; i < n_inputs; i++) g_inputs[i] = i % 2 ? "taxes are due in april" : "the quick brown fox jumps";
    char self[PATH_MAX], engine[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0) return 2;
    self[k] = 0;
    *strrchr(self, '/') = 0;
    snprintf(engine, sizeof engine, "%s/llmux", self);
    printf("count_tokens on %s, embed of %d inputs on %s; %d calls each per run, %d runs (alternating)\n", gen,
           n_inputs, emb, calls, runs);
    static double c_in[MAX_RUNS], c_out[MAX_RUNS], e_in[MAX_RUNS], e_out[MAX_RUNS], per_c[MAX_CALLS], per_e[MAX_CALLS];
    for (int r = 0; r < runs; r++) {
        bool in_first = r % 2 == 0;
        for (int m = 0; m < 2; m++) {
            bool do_in = (m == 0) == in_first;
            llmux_runtime *rt = runtime(dir, !do_in, engine);
            double c, e;
            if (!rt || !one_of_each(rt, gen, emb, n_inputs, &c, &e)) return 1; /* warm */
            for (int i = 0; i < calls; i++)
                if (!one_of_each(rt, gen, emb, n_inputs, &per_c[i], &per_e[i])) return 1;
            llmux_runtime_destroy(rt);
            (do_in ? c_in : c_out)[r] = bench_median(per_c, calls);
            (do_in ? e_in : e_out)[r] = bench_median(per_e, calls);
        }
    }
    double ci = bench_median(c_in, runs), co = bench_median(c_out, runs);
    double ei = bench_median(e_in, runs), eo = bench_median(e_out, runs);
    printf("count_tokens: in-process %.3f ms | child %.3f ms | added %+.3f ms\n", ci, co, co - ci);
    printf("embed (%d inputs): in-process %.3f ms | child %.3f ms | added %+.3f ms (ratio %.2f)\n", n_inputs, ei, eo,
           eo - ei, eo / ei);
    return 0;
}
