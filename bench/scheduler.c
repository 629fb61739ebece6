/* bench_scheduler: concurrent streams on one local model through the public API (llmux_run from
 * one client thread per stream; decoding happens on the model's engine thread either way).
 * Prints, per concurrency level, the aggregate generation tokens/s and the time to first token
 * p50 and p99 over the streams, each the median over runs. Not a test: numbers go to
 * docs/benchmarks.md (scripts/bench-engine.sh's 8-layer shape).
 *
 *   bench_scheduler MODEL.gguf [n_prompt=256] [n_gen=64] [runs=3] [threads=0] [levels=1,4,8]
 *   bench_scheduler MODEL.gguf turns CONVERSATIONS [n_prompt=256] [rounds=3] [threads=0]
 *
 * The second form is the prompt-cache workload: CONVERSATIONS distinct prompts, one request at a
 * time, round-robin (A, B, ..., A, B, ...), 2 tokens each; it prints the time to first token of
 * first turns and of returning turns (p50) and the share of returning turns' prompt tokens that
 * came from a cache (cached_input_tokens).
 *
 * Every stream of every run has a prompt of its own (different first bytes), so no prefix cache
 * hides prompt processing. The runtime's context is 4096 tokens (8 slots by default).
 * Output: one "c=N key value" line per figure. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_stats.h"
#include "llmux.h"

typedef struct stream {
    llmux_runtime *rt;
    const char *model;
    char *prompt;
    int n_gen;
    double ttft_ms;
    long long out_tokens;
    long long in_tokens;
    long long cached_tokens;
    int failed;
} stream;

/* Nearest-rank percentile of v[0..n) (sorted here). */
static double percentile(double *v, int n, double p) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    int k = (int)(p / 100.0 * n + 0.999999) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return v[k];
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run_stream(void *arg) {
    stream *s = arg;
    llmux_part part = {0};
    part.type = LLMUX_PART_TEXT;
    part.text = s->prompt;
    llmux_message msg = {LLMUX_ROLE_USER, &part, 1, NULL};
    llmux_request req = llmux_request_default();
    req.model = s->model;
    req.messages = &msg;
    req.n_messages = 1;
    req.sampling.temperature = 0;
    req.sampling.max_tokens = s->n_gen;
    llmux_response *resp = NULL;
    llmux_error_info err;
    if (llmux_run(s->rt, &req, NULL, &resp, &err) != LLMUX_OK) {
        s->failed = 1;
        fprintf(stderr, "bench_scheduler: %s\n", err.message);
        return NULL;
    }
    s->ttft_ms = resp->timing.ttft_ms;
    s->out_tokens = resp->usage.output_tokens;
    s->in_tokens = resp->usage.input_tokens;
    s->cached_tokens = resp->usage.cached_input_tokens > 0 ? resp->usage.cached_input_tokens : 0;
    llmux_response_free(resp);
    return NULL;
}

#define MAX_STREAMS 64
#define MAX_RUNS 20
#define MAX_CONVERSATIONS 256

static llmux_runtime *make_runtime(const char *model, int threads) {
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s", model);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    static const char *dirs[1];
    dirs[0] = dir;
    llmux_runtime_params rp = llmux_runtime_default_params();
    rp.model_dirs = dirs;
    rp.n_model_dirs = 1;
    rp.n_threads = threads;
    rp.n_ctx = 4096;
    llmux_runtime *rt;
    llmux_error_info err;
    if (llmux_runtime_create(&rp, &rt, &err) != LLMUX_OK) {
        fprintf(stderr, "bench_scheduler: %s\n", err.message);
        return NULL;
    }
    return rt;
}

/* The prompt-cache workload (see the header). */
static int run_turns(const char *model, int n_conv, int n_prompt, int rounds, int threads) {
    if (n_conv < 1 || n_conv > MAX_CONVERSATIONS || n_prompt < 8 || rounds < 2 || rounds > MAX_RUNS) return 2;
    llmux_runtime *rt = make_runtime(model, threads);
    if (!rt) return 1;
    char *prompts[MAX_CONVERSATIONS];
    for (int c = 0; c < n_conv; c++) {
        prompts[c] = malloc((size_t)n_prompt + 1);
        if (!prompts[c]) return 1;
        for (int k = 0; k < n_prompt; k++) prompts[c][k] = (char)('a' + (k * 7 + c * 3) % 26);
        prompts[c][0] = (char)('A' + c % 26);
        prompts[c][1] = (char)('A' + c / 26);
        prompts[c][n_prompt] = '\0';
    }
    double first[MAX_CONVERSATIONS], back[MAX_CONVERSATIONS * MAX_RUNS];
    int n_back = 0;
    long long back_in = 0, back_cached = 0;
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c < n_conv; c++) {
            stream s = {rt, model, prompts[c], 2, 0, 0, 0, 0, 0};
            run_stream(&s);
            if (s.failed) return 1;
            if (r == 0) {
                first[c] = s.ttft_ms;
            } else {
                back[n_back++] = s.ttft_ms;
                back_in += s.in_tokens;
                back_cached += s.cached_tokens;
            }
        }
    printf("turns=%d first_ttft_p50_ms %.1f\n", n_conv, percentile(first, n_conv, 50));
    printf("turns=%d return_ttft_p50_ms %.1f\n", n_conv, percentile(back, n_back, 50));
    printf("turns=%d return_ttft_p99_ms %.1f\n", n_conv, percentile(back, n_back, 99));
    printf("turns=%d return_cached_pct %.1f\n", n_conv, back_in ? 100.0 * (double)back_cached / (double)back_in : 0.0);
    for (int c = 0; c < n_conv; c++) free(prompts[c]);
    llmux_runtime_destroy(rt);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_scheduler MODEL.gguf [n_prompt] [n_gen] [runs] [threads] [levels]\n");
        return 2;
    }
    const char *model = argv[1];
    if (argc > 3 && strcmp(argv[2], "turns") == 0)
        return run_turns(model, atoi(argv[3]), argc > 4 ? atoi(argv[4]) : 256, argc > 5 ? atoi(argv[5]) : 3,
                         argc > 6 ? atoi(argv[6]) : 0);
    int n_prompt = argc > 2 ? atoi(argv[2]) : 256;
    int n_gen = argc > 3 ? atoi(argv[3]) : 64;
    int runs = argc > 4 ? atoi(argv[4]) : 3;
    int threads = argc > 5 ? atoi(argv[5]) : 0;
    const char *levels = argc > 6 ? argv[6] : "1,4,8";
    if (n_prompt < 4 || n_gen < 2 || runs < 1 || runs > MAX_RUNS) return 2;
    llmux_runtime *rt = make_runtime(model, threads);
    if (!rt) return 1;

    /* Load and warm up. */
    stream warm = {rt, model, malloc((size_t)n_prompt + 1), 2, 0, 0, 0, 0, 0};
    if (!warm.prompt) return 1;
    memset(warm.prompt, 'w', (size_t)n_prompt);
    warm.prompt[n_prompt] = '\0';
    run_stream(&warm);
    free(warm.prompt);
    if (warm.failed) return 1;

    int serial = 0; /* makes every prompt unique */
    for (const char *lv = levels; *lv;) {
        int c = atoi(lv);
        if (c < 1 || c > MAX_STREAMS) return 2;
        double agg[MAX_RUNS], p50[MAX_RUNS], p99[MAX_RUNS];
        for (int r = 0; r < runs; r++) {
            stream st[MAX_STREAMS];
            pthread_t th[MAX_STREAMS];
            for (int i = 0; i < c; i++) {
                st[i] = (stream){rt, model, malloc((size_t)n_prompt + 1), n_gen, 0, 0, 0, 0, 0};
                if (!st[i].prompt) return 1;
                for (int k = 0; k < n_prompt; k++) st[i].prompt[k] = (char)('a' + (k * 7) % 26);
                int id = serial++;
                st[i].prompt[0] = (char)('A' + id % 26);
                st[i].prompt[1] = (char)('A' + (id / 26) % 26);
                st[i].prompt[2] = (char)('A' + (id / 676) % 26);
                st[i].prompt[n_prompt] = '\0';
            }
            double t0 = now_s();
            for (int i = 0; i < c; i++) pthread_create(&th[i], NULL, run_stream, &st[i]);
            for (int i = 0; i < c; i++) pthread_join(th[i], NULL);
            double wall = now_s() - t0;
            long long out = 0;
            double ttft[MAX_STREAMS];
            for (int i = 0; i < c; i++) {
                if (st[i].failed) return 1;
                out += st[i].out_tokens;
                ttft[i] = st[i].ttft_ms;
                free(st[i].prompt);
            }
            agg[r] = (double)out / wall;
            p50[r] = percentile(ttft, c, 50);
            p99[r] = percentile(ttft, c, 99);
        }
        printf("c=%d agg_tok_s %.2f\n", c, bench_median(agg, runs));
        printf("c=%d ttft_p50_ms %.1f\n", c, bench_median(p50, runs));
        printf("c=%d ttft_p99_ms %.1f\n", c, bench_median(p99, runs));
        fflush(stdout);
        while (*lv && *lv != ',') lv++;
        if (*lv == ',') lv++;
    }
    llmux_runtime_destroy(rt);
    return 0;
}
