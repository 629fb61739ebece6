/* bench_engine_child: local generation through the sandboxed engine child (local.isolation:
 * process) against in-process, same model, same requests, alternating run by run so load on the
 * machine hits both alike. For each stream count: generation tokens/s (all streams' output
 * tokens over the time from the first token to the last finish) and the time to first token
 * (submit to first text delta, median of the streams). Medians over runs; the ratio and the
 * added TTFT are the goals of docs/benchmarks.md, "Sandboxed engine".
 *
 *   bench_engine_child [model_dir=models] [model=local/llmux-fortunes] [n_gen=64] [runs=5]
 *                      [streams=1,8] [engine=<dir of this program>/llmux, or -] [threads=0]
 *
 * The child runs `engine` (the built llmux). Greedy sampling, a prompt per stream (different
 * first words), the same prompts in both modes. */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_stats.h"
#include "llmux.h"

#define MAX_STREAMS 64
#define MAX_RUNS 100

typedef struct stream {
    pthread_mutex_t mu;
    double t_submit, t_first, t_end;
    char prompt[128];
    llmux_part part;
    llmux_message msg;
    llmux_request req;
    llmux_execution *ex;
} stream;

static bool on_event(const llmux_event *ev, void *ud) {
    stream *s = ud;
    if (ev->type == LLMUX_EVENT_TEXT_DELTA) {
        pthread_mutex_lock(&s->mu);
        if (!s->t_first) s->t_first = bench_now_ms();
        pthread_mutex_unlock(&s->mu);
    }
    return true;
}

static const char *const k_topics[] = {"the sea",   "a lighthouse", "winter",   "a fox",   "old books", "the moon",
                                       "a market",  "rain",         "a bridge", "music",   "the desert", "a garden",
                                       "trains",    "a river",      "clocks",   "mountains"};

/* One run of n concurrent streams: tokens/s and median TTFT. False on a failure. */
static bool run_streams(llmux_runtime *rt, const char *model, int n, int n_gen, double *tok_s, double *ttft_ms) {
    stream ss[MAX_STREAMS];
    memset(ss, 0, sizeof ss);
    for (int i = 0; i < n; i++) {
        stream *s = &ss[i];
        pthread_mutex_init(&s->mu, NULL);
        snprintf(s->prompt, sizeof s->prompt, "Tell me about %s.", k_topics[i % 16]);
        s->part.type = LLMUX_PART_TEXT;
        s->part.text = s->prompt;
        s->msg = (llmux_message){LLMUX_ROLE_USER, &s->part, 1, NULL};
        s->req = llmux_request_default();
        s->req.model = model;
        s->req.messages = &s->msg;
        s->req.n_messages = 1;
        s->req.stream = true;
        s->req.sampling.temperature = 0;
        s->req.sampling.max_tokens = n_gen;
    }
    llmux_submit_params sp = llmux_submit_default_params();
    sp.on_event = on_event;
    bool ok = true;
    for (int i = 0; i < n; i++) {
        sp.user_data = &ss[i];
        llmux_error_info err;
        ss[i].t_submit = bench_now_ms();
        if (llmux_submit(rt, &ss[i].req, &sp, &ss[i].ex, &err) != LLMUX_OK) {
            fprintf(stderr, "bench_engine_child: %s\n", err.message);
            ok = false;
        }
    }
    int64_t tokens = 0;
    double first = 0, last = 0, ttft[MAX_STREAMS];
    for (int i = 0; i < n; i++) {
        if (!ss[i].ex) continue;
        llmux_response *resp = NULL;
        llmux_error_info err;
        llmux_status st = llmux_execution_wait(ss[i].ex, &resp, &err);
        ss[i].t_end = bench_now_ms();
        if (st != LLMUX_OK) {
            fprintf(stderr, "bench_engine_child: %s: %s\n", llmux_status_name(st), err.message);
            ok = false;
        } else {
            tokens += resp->usage.output_tokens;
        }
        llmux_response_free(resp);
        llmux_execution_free(ss[i].ex);
    }
    for (int i = 0; i < n; i++) {
        if (!first || (ss[i].t_first && ss[i].t_first < first)) first = ss[i].t_first;
        if (ss[i].t_end > last) last = ss[i].t_end;
        ttft[i] = ss[i].t_first - ss[i].t_submit;
        pthread_mutex_destroy(&ss[i].mu);
    }
    if (!ok || !first || last <= first) return false;
    *tok_s = (double)tokens / ((last - first) / 1e3);
    *ttft_ms = bench_median(ttft, n);
    return true;
}

static int g_threads;

static llmux_runtime *runtime(const char *dir, bool process, const char *engine) {
    const char *dirs[] = {dir};
    llmux_runtime_params p = llmux_runtime_default_params();
    p.model_dirs = dirs;
    p.n_model_dirs = 1;
    p.local_slots = 8;
    p.n_threads = g_threads;
    p.n_ctx = 4096;
    if (process) {
        p.local_isolation = LLMUX_ISOLATION_PROCESS;
        p.engine_path = engine;
    }
    llmux_runtime *rt = NULL;
    llmux_error_info err;
    if (llmux_runtime_create(&p, &rt, &err) != LLMUX_OK) {
        fprintf(stderr, "bench_engine_child: %s\n", err.message);
        return NULL;
    }
    return rt;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "models";
    const char *model = argc > 2 ? argv[2] : "local/llmux-fortunes";
    int n_gen = argc > 3 ? atoi(argv[3]) : 64;
    int runs = argc > 4 ? atoi(argv[4]) : 5;
    const char *streams_arg = argc > 5 ? argv[5] : "1,8";
    char engine[PATH_MAX];
    g_threads = argc > 7 ? atoi(argv[7]) : 0;
    if (argc > 6 && strcmp(argv[6], "-") != 0) {
        snprintf(engine, sizeof engine, "%s", argv[6]);
    } else {
        char self[PATH_MAX];
        ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
        if (k <= 0) return 2;
        self[k] = 0;
        *strrchr(self, '/') = 0;
        snprintf(engine, sizeof engine, "%s/llmux", self);
    }
    if (n_gen < 2 || runs < 1 || runs > MAX_RUNS) return 2;
    printf("model %s, %d tokens per stream, %d runs (alternating), engine %s\n", model, n_gen, runs, engine);
    char list[64];
    snprintf(list, sizeof list, "%s", streams_arg);
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int n = atoi(tok);
        if (n < 1 || n > MAX_STREAMS) return 2;
        double ts_in[MAX_RUNS], ts_out[MAX_RUNS], tt_in[MAX_RUNS], tt_out[MAX_RUNS];
        for (int r = 0; r < runs; r++) {
            /* Alternate which goes first, so a trend in the machine's load favours neither. */
            bool in_first = r % 2 == 0;
            for (int k = 0; k < 2; k++) {
                bool do_in = (k == 0) == in_first;
                /* Only one mode's runtime exists at a time: the other's idle engine threads (an
                 * OpenMP pool spins for a while after its work) cannot steal this one's cores. */
                llmux_runtime *rt = runtime(dir, !do_in, engine);
                double t, f;
                if (!rt || !run_streams(rt, model, n, 4, &t, &f)) return 1; /* warm: loaded, child up */
                bool ok = run_streams(rt, model, n, n_gen, do_in ? &ts_in[r] : &ts_out[r], do_in ? &tt_in[r] : &tt_out[r]);
                llmux_runtime_destroy(rt);
                if (!ok) return 1;
            }
        }
        double mts_in = bench_median(ts_in, runs), mts_out = bench_median(ts_out, runs);
        double mtt_in = bench_median(tt_in, runs), mtt_out = bench_median(tt_out, runs);
        printf("streams %d: in-process %.1f tok/s, ttft %.2f ms | child %.1f tok/s, ttft %.2f ms | ratio %.3f, "
               "added ttft %+.2f ms\n",
               n, mts_in, mtt_in, mts_out, mtt_out, mts_out / mts_in, mtt_out - mtt_in);
        fflush(stdout);
    }
    return 0;
}
