/* bench_engine: prompt processing and generation throughput and time to first token of the
 * llmux engine through the public API (llmux_run), on one GGUF model. Prints medians over runs.
 * scripts/bench-engine.sh runs it beside llama-bench on the same model and prints the ratio.
 *
 *   bench_engine MODEL.gguf [n_prompt=512] [n_gen=128] [runs=5] [threads=0]
 *
 * Each run uses a prompt with a different first byte, so the prefix cache never hides prompt
 * processing. Output: one "key value" line per figure (parsed by the script). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_stats.h"
#include "llmux.h"

static int run_once(llmux_runtime *rt, const char *model, const char *prompt, int n_gen, llmux_response **out) {
    llmux_part part = {0};
    part.type = LLMUX_PART_TEXT;
    part.text = prompt;
    llmux_message msg = {LLMUX_ROLE_USER, &part, 1, NULL};
    llmux_request req = llmux_request_default();
    req.model = model;
    req.messages = &msg;
    req.n_messages = 1;
    req.sampling.temperature = 0;
    req.sampling.max_tokens = n_gen;
    llmux_error_info err;
    llmux_status st = llmux_run(rt, &req, NULL, out, &err);
    if (st != LLMUX_OK) {
        fprintf(stderr, "bench_engine: %s: %s\n", llmux_status_name(st), err.message);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_engine MODEL.gguf [n_prompt] [n_gen] [runs] [threads]\n");
        return 2;
    }
    const char *model = argv[1];
    int n_prompt = argc > 2 ? atoi(argv[2]) : 512;
    int n_gen = argc > 3 ? atoi(argv[3]) : 128;
    int runs = argc > 4 ? atoi(argv[4]) : 5;
    int threads = argc > 5 ? atoi(argv[5]) : 0;
    if (n_prompt < 2 || n_gen < 2 || runs < 1 || runs > 100) return 2;

    char dir[4096];
    snprintf(dir, sizeof dir, "%s", model);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    const char *dirs[] = {dir};
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.model_dirs = dirs;
    rp.n_model_dirs = 1;
    rp.n_threads = threads;
    rp.n_ctx = n_prompt + n_gen + 16;
    llmux_runtime *rt;
    llmux_error_info err;
    if (llmux_runtime_create(&rp, &rt, &err) != LLMUX_OK) {
        fprintf(stderr, "bench_engine: %s\n", err.message);
        return 1;
    }

    /* The prompt: printable bytes; its token count depends on the vocabulary, so the figure
     * reported is tokens/s from the usage the engine reports. */
    char *prompt = malloc((size_t)n_prompt + 1);
    if (!prompt) return 1;
    for (int i = 0; i < n_prompt; i++) prompt[i] = (char)('a' + (i * 7) % 26);
    prompt[n_prompt - 1] = '\0';

    llmux_response *warm = NULL;
    prompt[0] = 'A';
    if (run_once(rt, model, prompt, 2, &warm) != 0) return 1; /* load + warm-up */
    llmux_response_free(warm);

    double pp[100], tg[100], ttft[100];
    long long prompt_tokens = 0, gen_tokens = 0;
    for (int r = 0; r < runs; r++) {
        prompt[0] = (char)('B' + r % 24);
        prompt[1] = (char)('a' + r / 24);
        llmux_response *resp = NULL;
        if (run_once(rt, model, prompt, n_gen, &resp) != 0) return 1;
        long long in = resp->usage.input_tokens - (resp->usage.cached_input_tokens > 0 ? resp->usage.cached_input_tokens : 0);
        long long outn = resp->usage.output_tokens;
        double t_first = resp->timing.ttft_ms, t_total = resp->timing.total_ms;
        /* ttft covers prompt processing + the first sampled token; the rest is generation. */
        pp[r] = (double)in / (t_first / 1e3);
        tg[r] = outn > 1 ? (double)(outn - 1) / ((t_total - t_first) / 1e3) : 0;
        ttft[r] = t_first;
        prompt_tokens = in;
        gen_tokens = outn;
        llmux_response_free(resp);
    }
    printf("model %s\n", model);
    printf("prompt_tokens %lld\n", prompt_tokens);
    printf("gen_tokens %lld\n", gen_tokens);
    printf("runs %d\n", runs);
    printf("pp_tok_s %.2f\n", bench_median(pp, runs));
    printf("tg_tok_s %.2f\n", bench_median(tg, runs));
    printf("ttft_ms %.2f\n", bench_median(ttft, runs));
    free(prompt);
    llmux_runtime_destroy(rt);
    return 0;
}
