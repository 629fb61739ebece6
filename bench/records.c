/* Cost of writing execution records (src/store/): records written per second and CPU time per
 * record (the whole process: the submitting thread and the writer thread), through the writer
 * thread into a fresh SQLite file, in two shapes:
 *   - "batched": all records submitted at once, so the writer commits up to 256 per transaction;
 *   - "one per transaction": the writer waits for each record before the next is submitted, so
 *     every drain holds one record (one BEGIN/COMMIT each);
 *   - "paced 5000/s": one record every 200 µs, as a server at 5,000 req/s hands them over, with
 *     the writer's group-commit linger (the default, 2 ms) and without it (each wake-up commits
 *     what it finds, often one record).
 * Each record looks like a proxied chat execution: one attempt, a plan, a short request and
 * response. Median of 5 runs each.
 *   build/bin/bench_records [N_RECORDS] [sqlite:DIR_PATH_PREFIX | postgresql://URL] */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "store/store.h"

#define RUNS 5

static double now_s(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *dup_(const char *s) { return strdup(s); }

static lx_exec_record *make_record(int run, long i) {
    lx_exec_record *r = calloc(1, sizeof *r);
    /* The runtime's own ids (lx_make_id): their order decides how many index pages a commit
     * dirties, so a bench with sequential ids of its own would not measure a server's writer. */
    (void)run;
    char id[64];
    lx_make_id(id, sizeof id, "exec_");
    int64_t t = (int64_t)time(NULL) * 1000 + i;
    r->id = dup_(id);
    r->request_id = dup_("req-bench");
    r->started_at_ms = t;
    r->ended_at_ms = t + 40;
    r->requested_model = dup_("openai/gpt-4o-mini");
    r->plan_json = dup_("{\"targets\":[\"openai/gpt-4o-mini\"]}");
    r->model = dup_("gpt-4o-mini");
    r->provider = dup_("openai");
    r->status = LLMUX_OK;
    r->finish_reason = LLMUX_FINISH_STOP;
    r->usage = llmux_usage_default();
    r->usage.input_tokens = 12;
    r->usage.output_tokens = 8;
    r->cost = (llmux_cost){.known = true, .input = 0.0000018, .output = 0.0000048, .total = 0.0000066};
    r->cost_source = dup_("catalog");
    r->request_json =
        dup_("{\"model\":\"openai/gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hi\"}]}");
    r->response_text = dup_("Hello! How can I help you today?");
    r->n_attempts = 1;
    r->attempts = calloc(1, sizeof *r->attempts);
    r->attempts[0] = (lx_attempt_record){.n = 0, .target = dup_("openai/gpt-4o-mini"), .started_at_ms = t,
                                         .http_status = 200, .status = LLMUX_OK, .retry_delay_ms = -1,
                                         .ttft_ms = 20, .duration_ms = 40};
    return r;
}

typedef struct result {
    double per_s, cpu_us;
} result;

static void sleep_until(double t) {
    double left = t - now_s(CLOCK_MONOTONIC);
    if (left <= 0) return;
    struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
    nanosleep(&ts, NULL);
}

static int one_run(const char *url, int run, long n, bool one_per_tx, double pace_s, int64_t linger_us,
                   result *out) {
    lx_store *s;
    llmux_error_info e;
    if (lx_store_open(url, &s, &e) != LLMUX_OK) {
        fprintf(stderr, "bench_records: %s\n", e.message);
        return -1;
    }
    lx_record_writer *w;
    lx_record_writer_params p = lx_record_writer_default_params();
    if (linger_us) p.linger_us = linger_us;
    if (lx_record_writer_start_ex(s, &p, &w, &e) != LLMUX_OK) {
        fprintf(stderr, "bench_records: %s\n", e.message);
        return -1;
    }
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    for (long i = 0; i < n; i++) {
        if (pace_s > 0) sleep_until(w0 + (double)i * pace_s);
        lx_record_writer_submit(w, make_record(run, i));
        if (one_per_tx) lx_record_writer_flush(w);
    }
    lx_record_writer_flush(w);
    double w1 = now_s(CLOCK_MONOTONIC), c1 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    lx_record_writer_stats st;
    lx_record_writer_get_stats(w, &st);
    lx_record_writer_stop(w);
    if (st.written != (uint64_t)n) {
        fprintf(stderr, "bench_records: %llu of %ld written: %s\n", (unsigned long long)st.written, n,
                st.last_error.message);
        return -1;
    }
    out->per_s = (double)n / (w1 - w0);
    out->cpu_us = (c1 - c0) * 1e6 / (double)n;
    return 0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000;
    if (n <= 0) n = 20000;
    char dir[] = "/tmp/bench-records-XXXXXX";
    const char *url_arg = argc > 2 ? argv[2] : NULL;
    if (!url_arg && !mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    static const struct {
        const char *name;
        bool one_per_tx;
        double pace_s;
        int64_t linger_us; /* 0: the default */
        long div;          /* of N: slower shapes write fewer */
    } shapes[] = {{"batched", false, 0, 0, 1},
                  {"one per transaction", true, 0, 0, 4},
                  {"paced 5000/s, linger", false, 200e-6, 0, 8},
                  {"paced 5000/s, no linger", false, 200e-6, -1, 8}};
    printf("%-24s %10s %16s %14s\n", "shape", "records", "records/s", "CPU us/record");
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        double per_s[RUNS], cpu[RUNS];
        long count = n / shapes[k].div;
        for (int run = 0; run < RUNS; run++) {
            char url[600];
            if (url_arg) snprintf(url, sizeof url, "%s", url_arg);
            else snprintf(url, sizeof url, "sqlite:%s/r%zu-%d.db", dir, k, run);
            result r;
            if (one_run(url, (int)(k * RUNS) + run, count, shapes[k].one_per_tx, shapes[k].pace_s, shapes[k].linger_us,
                        &r) != 0)
                return 1;
            per_s[run] = r.per_s;
            cpu[run] = r.cpu_us;
        }
        qsort(per_s, RUNS, sizeof per_s[0], cmp_d);
        qsort(cpu, RUNS, sizeof cpu[0], cmp_d);
        printf("%-24s %10ld %16.0f %14.1f\n", shapes[k].name, count, per_s[RUNS / 2], cpu[RUNS / 2]);
    }
    if (!url_arg) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "bench_records: could not remove %s\n", dir);
    }
    return 0;
}
