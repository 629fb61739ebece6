/* Cost of the runtime's telemetry per execution (src/telemetry/): lx_telemetry_execution with
 * metrics only, with the JSON log written to /dev/null, and with traces queued to a collector that
 * refuses connections (spans enqueued, then dropped by the exporter); from 1 and 8 threads. Then
 * a scrape (lx_telemetry_render) of a registry holding 256 models. Median of 5 runs each.
 *   build/bin/bench_telemetry [N_PER_THREAD] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "telemetry/telemetry.h"
#include "transport/http.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const lx_tel_attempt k_attempts[] = {
    {.target = "a/m", .provider = "a", .model = "m", .duration_ms = 5, .ttft_ms = -1, .status = LLMUX_E_OVERLOADED,
     .http_status = 503, .error = "overloaded"},
    {.target = "b/m", .provider = "b", .model = "m", .duration_ms = 30, .ttft_ms = 12, .status = LLMUX_OK,
     .http_status = 200, .error = ""},
};

typedef struct job {
    lx_telemetry *t;
    long n;
    int id;
} job;

static void *worker(void *p) {
    job *j = p;
    char model[32];
    lx_tel_execution x = {.accepted = true, .execution_id = "exec_x", .request_id = "req", .requested_model = model,
                          .model = "m", .provider = "b", .status = LLMUX_OK, .latency_ms = 40, .ttft_ms = 12,
                          .queued_ms = -1, .input_tokens = 11, .output_tokens = 4, .cost_known = true,
                          .cost_usd = 0.001, .attempts = k_attempts, .n_attempts = 2};
    for (long i = 0; i < j->n; i++) {
        snprintf(model, sizeof model, "model-%ld", (i + j->id) % 16);
        lx_telemetry_started(j->t);
        lx_telemetry_execution(j->t, &x);
    }
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ns per execution, median of 5. */
static double measure(const lx_telemetry_params *p, int threads, long n) {
    double r[5];
    for (int k = 0; k < 5; k++) {
        lx_telemetry *t = NULL;
        if (lx_telemetry_create(p, &t, NULL) != LLMUX_OK) exit(1);
        pthread_t th[8];
        job j[8];
        double t0 = now_s();
        for (int i = 0; i < threads; i++) {
            j[i] = (job){.t = t, .n = n, .id = i};
            pthread_create(&th[i], NULL, worker, &j[i]);
        }
        for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
        r[k] = (now_s() - t0) * 1e9 / (double)(n * threads);
        lx_telemetry_destroy(t);
    }
    qsort(r, 5, sizeof r[0], cmp);
    return r[2];
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    lx_http_client *c = NULL;
    if (lx_http_client_create(NULL, &c, NULL) != LLMUX_OK) return 1;
    lx_telemetry_params metrics_only = {0};
    lx_telemetry_params with_log = {.log = "/dev/null", .log_level = LLMUX_LOG_INFO};
    /* Port 9 (discard) on loopback: nothing listens there in a test machine, connections are refused. */
    lx_telemetry_params with_otlp = {.otlp_endpoint = "http://127.0.0.1:9", .client = c, .otlp_timeout_ms = 200};
    printf("per execution (ns, median of 5; %ld executions per thread):\n", n);
    printf("%-28s %10s %10s\n", "", "1 thread", "8 threads");
    printf("%-28s %10.0f %10.0f\n", "metrics", measure(&metrics_only, 1, n), measure(&metrics_only, 8, n / 8));
    printf("%-28s %10.0f %10.0f\n", "metrics + log (/dev/null)", measure(&with_log, 1, n), measure(&with_log, 8, n / 8));
    printf("%-28s %10.0f %10.0f\n", "metrics + traces (dropped)", measure(&with_otlp, 1, n), measure(&with_otlp, 8, n / 8));

    /* A scrape with 256 models x (requests, histograms, tokens, cost). */
    lx_telemetry *t = NULL;
    lx_telemetry_create(&metrics_only, &t, NULL);
    char model[32];
    lx_tel_execution x = {.accepted = true, .requested_model = model, .model = "m", .provider = "b",
                          .status = LLMUX_OK, .latency_ms = 40, .ttft_ms = 12, .queued_ms = -1, .input_tokens = 11,
                          .output_tokens = 4, .cost_known = true, .cost_usd = 0.001, .attempts = k_attempts,
                          .n_attempts = 2};
    for (int i = 0; i < 256; i++) {
        snprintf(model, sizeof model, "provider/model-%d", i);
        lx_telemetry_started(t);
        lx_telemetry_execution(t, &x);
    }
    double r[5];
    size_t len = 0;
    for (int k = 0; k < 5; k++) {
        double t0 = now_s();
        char *text = lx_telemetry_render(t, &len);
        r[k] = (now_s() - t0) * 1e3;
        free(text);
    }
    qsort(r, 5, sizeof r[0], cmp);
    printf("scrape of 256 models: %.2f ms, %zu bytes\n", r[2], len);
    lx_telemetry_destroy(t);
    lx_http_client_destroy(c);
    return 0;
}
