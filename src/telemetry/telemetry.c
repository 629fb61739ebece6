/* The runtime's telemetry (telemetry.h): metric families, the execution log line and the spans of
 * one execution. Metric names follow vLLM's where the meaning is the same (so dashboards written
 * for vLLM's /metrics read llmux's: vllm:time_to_first_token_seconds,
 * vllm:e2e_request_latency_seconds, vllm:request_time_per_output_token_seconds,
 * vllm:request_queue_time_seconds, vllm:prompt_tokens_total, vllm:generation_tokens_total, all
 * labelled model_name, per vLLM's docs/design/metrics.md); the rest is llmux_*. Span attributes
 * follow the OpenTelemetry GenAI semantic conventions (gen_ai.* attributes, span name
 * "{gen_ai.operation.name} {gen_ai.request.model}"). */
#define _DEFAULT_SOURCE
#include "telemetry/telemetry.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/error.h"
#include "core/utf8.h"
#include "telemetry/exec_log.h"
#include "telemetry/metrics.h"
#include "telemetry/otlp.h"

/* Bucket bounds in seconds, as vLLM uses for the same histograms. */
static const double k_ttft_buckets[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                                        1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
static const double k_e2e_buckets[] = {0.3,  0.5,  0.8,  1.0,  1.5,  2.0,   2.5,   5.0,   10.0,   15.0, 20.0,
                                       30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
static const double k_tpot_buckets[] = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
                                        0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};

#define NB(a) (sizeof(a) / sizeof *(a))

struct lx_telemetry {
    lx_metrics *m;
    lx_exec_log *log;
    lx_otlp *otlp;
    /* family ids */
    int requests, attempts, retries, fallbacks, errors, ttft, e2e, tpot, queue_time, prompt_tokens, gen_tokens, cost,
        in_flight, queue_depth, pc_hits, pc_tokens, pc_bytes, spans_exported, spans_dropped, export_failures, log_failed,
        engine_starts, engine_ends, engine_failed, engine_up, engine_landlock, engine_degraded;
    /* what the exporter and log had reported at the last render: counters grow by the difference */
    pthread_mutex_t seen_mu;
    lx_otlp_stats seen_otlp;
    uint64_t seen_log_failed;
};

static bool item_spans(const void *item, json_t *spans);
static void item_release(void *item);

static int define_all(lx_telemetry *t) {
    static const char *const l_mps[] = {"model", "provider", "status", NULL};
    static const char *const l_m[] = {"model", NULL};
    static const char *const l_mn[] = {"model_name", NULL};
    static const char *const l_mp[] = {"model", "provider", NULL};
    static const char *const l_class[] = {"class", NULL};
    static const char *const l_how[] = {"how", NULL};
    lx_metrics *m = t->m;
    int ok = 0;
#define DEF(field, name, help, type, labels, b, nb) ok |= (t->field = lx_metrics_define(m, name, help, type, labels, b, nb)) < 0
    DEF(requests, "llmux_requests_total", "Executions by requested model, provider that answered (or was last tried) and status (ok or the error class).", LX_METRIC_COUNTER, l_mps, NULL, 0);
    DEF(attempts, "llmux_attempts_total", "Attempts (first tries, retries and fallbacks) by target model, provider and status.", LX_METRIC_COUNTER, l_mps, NULL, 0);
    DEF(retries, "llmux_retries_total", "Attempts that retried the same target, by requested model.", LX_METRIC_COUNTER, l_m, NULL, 0);
    DEF(fallbacks, "llmux_fallbacks_total", "Attempts that moved on to another target, by requested model.", LX_METRIC_COUNTER, l_m, NULL, 0);
    DEF(errors, "llmux_errors_total", "Executions that ended in an error, by error class.", LX_METRIC_COUNTER, l_class, NULL, 0);
    DEF(ttft, "vllm:time_to_first_token_seconds", "Time from the request to its first content event.", LX_METRIC_HISTOGRAM, l_mn, k_ttft_buckets, NB(k_ttft_buckets));
    DEF(e2e, "vllm:e2e_request_latency_seconds", "Time from the request to its terminal event.", LX_METRIC_HISTOGRAM, l_mn, k_e2e_buckets, NB(k_e2e_buckets));
    DEF(tpot, "vllm:request_time_per_output_token_seconds", "Mean time between output tokens after the first, per request (inter-token latency).", LX_METRIC_HISTOGRAM, l_mn, k_tpot_buckets, NB(k_tpot_buckets));
    DEF(queue_time, "vllm:request_queue_time_seconds", "Time a local request waited for its model's engine thread.", LX_METRIC_HISTOGRAM, l_mn, k_ttft_buckets, NB(k_ttft_buckets));
    DEF(prompt_tokens, "vllm:prompt_tokens_total", "Prompt (input) tokens, as reported.", LX_METRIC_COUNTER, l_mn, NULL, 0);
    DEF(gen_tokens, "vllm:generation_tokens_total", "Generated (output) tokens, as reported.", LX_METRIC_COUNTER, l_mn, NULL, 0);
    DEF(cost, "llmux_cost_usd_total", "Cost in US dollars of the executions whose cost is known.", LX_METRIC_COUNTER, l_mp, NULL, 0);
    DEF(in_flight, "llmux_executions_in_flight", "Executions accepted and not yet ended.", LX_METRIC_GAUGE, NULL, NULL, 0);
    DEF(queue_depth, "llmux_local_queue_depth", "Requests waiting for a local model's engine thread (not counting the one running).", LX_METRIC_GAUGE, l_m, NULL, 0);
    DEF(pc_hits, "llmux_local_prompt_cache_hits_total", "Local generations that reused a cached prompt prefix (a slot's KV or the host prompt cache).", LX_METRIC_COUNTER, l_m, NULL, 0);
    DEF(pc_tokens, "llmux_local_prompt_cache_reused_tokens_total", "Prompt tokens not processed again because their KV was cached (the sum of usage cached_input_tokens).", LX_METRIC_COUNTER, l_m, NULL, 0);
    DEF(pc_bytes, "llmux_local_prompt_cache_bytes", "Host RAM a loaded local model's prompt cache holds (prefixes evicted from its slots).", LX_METRIC_GAUGE, l_m, NULL, 0);
    DEF(spans_exported, "llmux_otlp_spans_exported_total", "Trace spans the OTLP collector accepted.", LX_METRIC_COUNTER, NULL, NULL, 0);
    DEF(spans_dropped, "llmux_otlp_spans_dropped_total", "Trace spans dropped: export queue full, or their batch failed (collector down or slow).", LX_METRIC_COUNTER, NULL, NULL, 0);
    DEF(export_failures, "llmux_otlp_export_failures_total", "OTLP export requests that failed.", LX_METRIC_COUNTER, NULL, NULL, 0);
    DEF(log_failed, "llmux_log_lines_failed_total", "Execution log lines that could not be written.", LX_METRIC_COUNTER, NULL, NULL, 0);
    DEF(engine_starts, "llmux_engine_process_starts_total", "Sandboxed engine child processes started (local.isolation: process): the first and every restart.", LX_METRIC_COUNTER, NULL, NULL, 0);
    DEF(engine_ends, "llmux_engine_process_ends_total", "Engine child processes that ended, by how: crash (a signal), seccomp (SIGSYS from its filter), killed (SIGKILL from outside, e.g. the OOM killer), heartbeat or runtime (killed by the runtime: no pong, a protocol violation), exit.", LX_METRIC_COUNTER, l_how, NULL, 0);
    DEF(engine_failed, "llmux_engine_process_failed_requests_total", "Requests and calls in flight in an engine child that failed because it ended.", LX_METRIC_COUNTER, NULL, NULL, 0);
    DEF(engine_up, "llmux_engine_process_up", "1 while an engine child runs and has answered its handshake, else 0.", LX_METRIC_GAUGE, NULL, NULL, 0);
    DEF(engine_landlock, "llmux_engine_sandbox_landlock_abi", "The Landlock ABI the engine child's sandbox uses (0: the kernel has none; files and TCP are then confined by seccomp and the user drop only).", LX_METRIC_GAUGE, NULL, NULL, 0);
    DEF(engine_degraded, "llmux_engine_sandbox_degraded", "1 when the engine child started with a sandbox layer missing (it said so in its welcome and on stderr), else 0.", LX_METRIC_GAUGE, NULL, NULL, 0);
#undef DEF
    return ok ? -1 : 0;
}

llmux_status lx_telemetry_create(const lx_telemetry_params *p, lx_telemetry **out, llmux_error_info *err) {
    *out = NULL;
    lx_telemetry *t = calloc(1, sizeof *t);
    if (!t || !(t->m = lx_metrics_create(LX_TELEMETRY_MAX_MODELS)) || define_all(t) != 0) {
        if (t) lx_metrics_destroy(t->m);
        free(t);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory creating the telemetry");
    }
    pthread_mutex_init(&t->seen_mu, NULL);
    llmux_status st = LLMUX_OK;
    if (p && p->log && *p->log && strcmp(p->log, "off") != 0)
        st = lx_exec_log_open(p->log, p->log_level, &t->log, err);
    if (st == LLMUX_OK && p && p->otlp_endpoint && *p->otlp_endpoint) {
        lx_otlp_params op = {.endpoint = p->otlp_endpoint, .client = p->client, .ca_bundle = p->ca_bundle,
                             .max_queue = p->otlp_max_queue, .max_batch = p->otlp_max_batch,
                             .flush_ms = p->otlp_flush_ms, .timeout_ms = p->otlp_timeout_ms,
                             .ops = {.to_spans = item_spans, .release = item_release}};
        st = lx_otlp_start(&op, &t->otlp, err);
    }
    if (st != LLMUX_OK) {
        lx_telemetry_destroy(t);
        return st;
    }
    *out = t;
    return LLMUX_OK;
}

void lx_telemetry_halt_export(lx_telemetry *t) {
    if (t) lx_otlp_halt(t->otlp);
}

void lx_telemetry_destroy(lx_telemetry *t) {
    if (!t) return;
    lx_otlp_stop(t->otlp);
    lx_exec_log_close(t->log);
    lx_metrics_destroy(t->m);
    pthread_mutex_destroy(&t->seen_mu);
    free(t);
}

void lx_telemetry_started(lx_telemetry *t) {
    if (t) lx_metrics_add(t->m, t->in_flight, NULL, 1);
}

static const char *status_label(llmux_status st) { return st == LLMUX_OK ? "ok" : llmux_status_name(st); }

static bool same_str(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

/* Retries (the same target again) and fallbacks (another target) among x's attempts. */
static void count_moves(const lx_tel_execution *x, int *retries, int *fallbacks) {
    *retries = *fallbacks = 0;
    for (size_t i = 1; i < x->n_attempts; i++) {
        if (same_str(x->attempts[i].target, x->attempts[i - 1].target)) (*retries)++;
        else (*fallbacks)++;
    }
}

static void update_metrics(lx_telemetry *t, const lx_tel_execution *x) {
    lx_metrics *m = t->m;
    const char *model = lx_metrics_bound(m, x->requested_model);
    const char *provider = lx_metrics_bound(m, x->provider);
    const char *st = status_label(x->status);
    const char *v_mps[] = {model, provider, st};
    const char *v_m[] = {model};
    lx_metrics_add(m, t->requests, v_mps, 1);
    for (size_t i = 0; i < x->n_attempts; i++) {
        const lx_tel_attempt *a = &x->attempts[i];
        const char *va[] = {lx_metrics_bound(m, a->model), lx_metrics_bound(m, a->provider), status_label(a->status)};
        lx_metrics_add(m, t->attempts, va, 1);
    }
    int retries, fallbacks;
    count_moves(x, &retries, &fallbacks);
    if (retries) lx_metrics_add(m, t->retries, v_m, retries);
    if (fallbacks) lx_metrics_add(m, t->fallbacks, v_m, fallbacks);
    if (x->status != LLMUX_OK) {
        const char *vc[] = {llmux_status_name(x->status)};
        lx_metrics_add(m, t->errors, vc, 1);
    }
    if (x->accepted) {
        if (x->ttft_ms >= 0) lx_metrics_observe(m, t->ttft, v_m, x->ttft_ms / 1000.0);
        if (x->latency_ms >= 0) lx_metrics_observe(m, t->e2e, v_m, x->latency_ms / 1000.0);
        if (x->queued_ms >= 0) lx_metrics_observe(m, t->queue_time, v_m, x->queued_ms / 1000.0);
        if (x->ttft_ms >= 0 && x->latency_ms >= x->ttft_ms && x->output_tokens > 1)
            lx_metrics_observe(m, t->tpot, v_m, (x->latency_ms - x->ttft_ms) / 1000.0 / (double)(x->output_tokens - 1));
        lx_metrics_add(m, t->in_flight, NULL, -1);
    }
    if (x->input_tokens > 0) lx_metrics_add(m, t->prompt_tokens, v_m, (double)x->input_tokens);
    if (x->output_tokens > 0) lx_metrics_add(m, t->gen_tokens, v_m, (double)x->output_tokens);
    if (x->cost_known && isfinite(x->cost_usd) && x->cost_usd > 0) {
        const char *vp[] = {model, provider};
        lx_metrics_add(m, t->cost, vp, x->cost_usd);
    }
}

/* ------------------------------------------------------------------ log line */

static void set_str(json_t *o, const char *k, const char *v) {
    if (!v || !*v) return;
    json_t *s = json_string(v);
    if (!s) { /* not UTF-8 (a refused request's model, say): bytes >= 0x80 shown as '?' */
        char *c = strdup(v);
        if (!c) return;
        for (char *p = c; *p; p++)
            if ((unsigned char)*p >= 0x80) *p = '?';
        s = json_string(c);
        free(c);
    }
    json_object_set_new(o, k, s);
}

static void set_ms(json_t *o, const char *k, double v) {
    if (v >= 0 && isfinite(v)) json_object_set_new(o, k, json_real(round(v * 1000.0) / 1000.0));
}

static void set_count(json_t *o, const char *k, int64_t v) {
    if (v >= 0) json_object_set_new(o, k, json_integer(v));
}

/* RFC 3339 UTC with milliseconds. */
static void iso_time(int64_t ms, char *buf, size_t size) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", (int)(ms % 1000));
}

static llmux_log_level level_of(const lx_tel_execution *x) {
    return x->status == LLMUX_OK || x->status == LLMUX_E_CANCELLED ? LLMUX_LOG_INFO : LLMUX_LOG_ERROR;
}

char *lx_telemetry_log_line(const lx_tel_execution *x, bool with_attempts) {
    json_t *o = json_object();
    if (!o) return NULL;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char ts[40];
    iso_time((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, ts, sizeof ts);
    set_str(o, "ts", ts);
    set_str(o, "level", lx_log_level_name(level_of(x)));
    set_str(o, "msg", "execution");
    set_str(o, "execution_id", x->execution_id);
    set_str(o, "request_id", x->request_id);
    set_str(o, "key_name", x->key_name);
    set_str(o, "model", x->requested_model);
    set_str(o, "response_model", x->model);
    set_str(o, "provider", x->provider);
    set_str(o, "status", status_label(x->status));
    if (x->status != LLMUX_OK) set_str(o, "error", x->error);
    json_object_set_new(o, "stream", json_boolean(x->stream));
    set_ms(o, "latency_ms", x->latency_ms);
    set_ms(o, "ttft_ms", x->ttft_ms);
    set_ms(o, "queued_ms", x->queued_ms);
    set_count(o, "input_tokens", x->input_tokens);
    set_count(o, "output_tokens", x->output_tokens);
    if (x->cost_known && isfinite(x->cost_usd)) json_object_set_new(o, "cost_usd", json_real(x->cost_usd));
    int retries, fallbacks;
    count_moves(x, &retries, &fallbacks);
    json_object_set_new(o, "attempts", json_integer((json_int_t)x->n_attempts));
    json_object_set_new(o, "retries", json_integer(retries));
    json_object_set_new(o, "fallbacks", json_integer(fallbacks));
    if (with_attempts && x->n_attempts) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < x->n_attempts; i++) {
            const lx_tel_attempt *at = &x->attempts[i];
            json_t *e = json_object();
            if (!e) break;
            set_str(e, "target", at->target);
            set_str(e, "status", status_label(at->status));
            if (at->http_status) json_object_set_new(e, "http_status", json_integer(at->http_status));
            if (at->status != LLMUX_OK) set_str(e, "error", at->error);
            set_ms(e, "duration_ms", at->duration_ms);
            set_ms(e, "ttft_ms", at->ttft_ms);
            json_array_append_new(a, e);
        }
        if (a) json_object_set_new(o, "attempt_list", a);
    }
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return line;
}

/* ------------------------------------------------------------------ spans */

static void random_hex(char *out, size_t n_bytes) {
    unsigned char b[16];
    if (getrandom(b, n_bytes, 0) != (ssize_t)n_bytes) {
        /* No entropy source: still unique enough within one process for tracing. */
        static uint64_t counter;
        uint64_t v = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) ^ (uint64_t)time(NULL) << 20;
        for (size_t i = 0; i < n_bytes; i++) b[i] = (unsigned char)(v >> ((i % 8) * 8)) ^ (unsigned char)i;
    }
    bool zero = true;
    for (size_t i = 0; i < n_bytes; i++) zero = zero && !b[i];
    if (zero) b[0] = 1; /* an all-zero id is invalid */
    for (size_t i = 0; i < n_bytes; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

static void attr_str(json_t *attrs, const char *k, const char *v) {
    if (v && *v) json_array_append_new(attrs, json_pack("{s:s,s:{s:s}}", "key", k, "value", "stringValue", v));
}

static void attr_int(json_t *attrs, const char *k, int64_t v) {
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)v);
    json_array_append_new(attrs, json_pack("{s:s,s:{s:s}}", "key", k, "value", "intValue", s));
}

static void attr_double(json_t *attrs, const char *k, double v) {
    if (isfinite(v)) json_array_append_new(attrs, json_pack("{s:s,s:{s:f}}", "key", k, "value", "doubleValue", v));
}

/* gen_ai.provider.name's well-known value for a provider llmux names differently. */
static const char *genai_provider(const char *p) {
    if (p && strcmp(p, "gemini") == 0) return "gcp.gemini";
    return p;
}

static json_t *span_new(const char *trace_id, const char *span_id, const char *parent, const char *name, int kind,
                        int64_t start_ms, double duration_ms, llmux_status st, const char *error, json_t *attrs) {
    char start[32], end[32];
    snprintf(start, sizeof start, "%lld", (long long)start_ms * 1000000LL);
    double d = duration_ms >= 0 && isfinite(duration_ms) ? duration_ms : 0;
    snprintf(end, sizeof end, "%lld", (long long)start_ms * 1000000LL + (long long)llround(d * 1e6));
    json_t *status = st == LLMUX_OK ? json_pack("{s:i}", "code", 1)
                                    : json_pack("{s:i,s:s}", "code", 2, "message", error && *error ? error : llmux_status_name(st));
    return json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:o,s:o}", "traceId", trace_id, "spanId", span_id, "parentSpanId",
                     parent ? parent : "", "name", name, "kind", kind, "startTimeUnixNano", start, "endTimeUnixNano", end,
                     "attributes", attrs, "status", status);
}

static void common_attrs(json_t *attrs, const char *operation, const char *provider) {
    attr_str(attrs, "gen_ai.operation.name", operation ? operation : "chat");
    attr_str(attrs, "gen_ai.provider.name", genai_provider(provider));
    attr_str(attrs, "gen_ai.system", provider);
}

/* An execution as the exporter queue holds it: one allocation with the attempts and every
 * string packed after the struct. */
typedef struct tel_item {
    lx_tel_execution x;
    lx_tel_attempt attempts[];
} tel_item;

static size_t slen(const char *s) { return s ? strlen(s) + 1 : 0; }

/* Copies s into *pool (advancing it); NULL stays NULL. JSON strings must be UTF-8: a copy that
 * is not has each byte >= 0x80 replaced by '?', so one odd request cannot fail a whole batch. */
static const char *pool_dup(char **pool, const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = *pool;
    memcpy(d, s, n);
    *pool += n;
    if (!lx_utf8_valid(d, n - 1))
        for (size_t i = 0; i + 1 < n; i++)
            if ((unsigned char)d[i] >= 0x80) d[i] = '?';
    return d;
}

static tel_item *item_copy(const lx_tel_execution *x) {
    size_t strings = slen(x->execution_id) + slen(x->request_id) + slen(x->key_name) + slen(x->requested_model) +
                     slen(x->model) + slen(x->provider) + slen(x->operation) + slen(x->error);
    for (size_t i = 0; i < x->n_attempts; i++) {
        const lx_tel_attempt *a = &x->attempts[i];
        strings += slen(a->target) + slen(a->provider) + slen(a->model) + slen(a->error);
    }
    tel_item *it = malloc(sizeof *it + x->n_attempts * sizeof(lx_tel_attempt) + strings);
    if (!it) return NULL;
    char *pool = (char *)(it->attempts + x->n_attempts);
    it->x = *x;
    it->x.execution_id = pool_dup(&pool, x->execution_id);
    it->x.request_id = pool_dup(&pool, x->request_id);
    it->x.key_name = pool_dup(&pool, x->key_name);
    it->x.requested_model = pool_dup(&pool, x->requested_model);
    it->x.model = pool_dup(&pool, x->model);
    it->x.provider = pool_dup(&pool, x->provider);
    it->x.operation = pool_dup(&pool, x->operation);
    it->x.error = pool_dup(&pool, x->error);
    for (size_t i = 0; i < x->n_attempts; i++) {
        lx_tel_attempt *a = &it->attempts[i];
        *a = x->attempts[i];
        a->target = pool_dup(&pool, a->target);
        a->provider = pool_dup(&pool, a->provider);
        a->model = pool_dup(&pool, a->model);
        a->error = pool_dup(&pool, a->error);
    }
    it->x.attempts = it->attempts;
    return it;
}

static void item_release(void *item) { free(item); }

/* On the exporter thread: the execution's span and one child span per attempt. */
static bool item_spans(const void *item, json_t *spans) {
    const lx_tel_execution *x = &((const tel_item *)item)->x;
    char trace_id[33], root_id[17], name[320];
    random_hex(trace_id, 16);
    random_hex(root_id, 8);
    const char *op = x->operation ? x->operation : "chat";
    json_t *attrs = json_array();
    if (!attrs) return false;
    common_attrs(attrs, op, x->provider);
    attr_str(attrs, "gen_ai.request.model", x->requested_model);
    attr_str(attrs, "gen_ai.response.model", x->model);
    if (x->input_tokens >= 0) attr_int(attrs, "gen_ai.usage.input_tokens", x->input_tokens);
    if (x->output_tokens >= 0) attr_int(attrs, "gen_ai.usage.output_tokens", x->output_tokens);
    if (x->status != LLMUX_OK) attr_str(attrs, "error.type", llmux_status_name(x->status));
    attr_str(attrs, "llmux.execution_id", x->execution_id);
    attr_str(attrs, "llmux.request_id", x->request_id);
    attr_str(attrs, "llmux.key_name", x->key_name);
    attr_int(attrs, "llmux.attempts", (int64_t)x->n_attempts);
    if (x->cost_known) attr_double(attrs, "llmux.cost_usd", x->cost_usd);
    if (x->ttft_ms >= 0) attr_double(attrs, "llmux.ttft_ms", x->ttft_ms);
    snprintf(name, sizeof name, "%s %.256s", op, x->requested_model ? x->requested_model : "");
    /* The execution: INTERNAL (1); each attempt calls a provider: CLIENT (3), a local model:
     * INTERNAL. */
    json_t *root = span_new(trace_id, root_id, NULL, name, 1, x->started_at_ms, x->latency_ms, x->status, x->error, attrs);
    if (!root || json_array_append_new(spans, root) != 0) return false;
    for (size_t i = 0; i < x->n_attempts; i++) {
        const lx_tel_attempt *a = &x->attempts[i];
        char span_id[17];
        random_hex(span_id, 8);
        json_t *aa = json_array();
        if (!aa) return false;
        common_attrs(aa, op, a->provider);
        attr_str(aa, "gen_ai.request.model", a->model);
        if (a->status == LLMUX_OK) attr_str(aa, "gen_ai.response.model", a->model);
        if (a->http_status > 0) attr_int(aa, "http.response.status_code", a->http_status);
        if (a->status != LLMUX_OK) attr_str(aa, "error.type", llmux_status_name(a->status));
        attr_str(aa, "llmux.target", a->target);
        attr_int(aa, "llmux.attempt", (int64_t)i);
        snprintf(name, sizeof name, "%s %.256s", op, a->model ? a->model : "");
        bool local = a->provider && strcmp(a->provider, "local") == 0;
        json_t *sp = span_new(trace_id, span_id, root_id, name, local ? 1 : 3, a->started_at_ms, a->duration_ms,
                              a->status, a->error, aa);
        if (!sp || json_array_append_new(spans, sp) != 0) return false;
    }
    return true;
}

static void export_spans(lx_telemetry *t, const lx_tel_execution *x) {
    tel_item *it = item_copy(x);
    if (!it) {
        /* Counted like a full queue: the spans are lost, the request is not. */
        lx_otlp_enqueue(t->otlp, NULL, 1 + x->n_attempts);
        return;
    }
    lx_otlp_enqueue(t->otlp, it, 1 + x->n_attempts);
}

void lx_telemetry_execution(lx_telemetry *t, const lx_tel_execution *x) {
    if (!t || !x) return;
    update_metrics(t, x);
    llmux_log_level lvl = level_of(x);
    if (lx_exec_log_wants(t->log, lvl)) {
        char *line = lx_telemetry_log_line(x, lx_exec_log_wants(t->log, LLMUX_LOG_DEBUG));
        if (line) lx_exec_log_write(t->log, lvl, line, strlen(line));
        free(line);
    }
    if (t->otlp) export_spans(t, x);
}

void lx_telemetry_queues_begin(lx_telemetry *t) {
    if (!t) return;
    lx_metrics_reset(t->m, t->queue_depth);
    lx_metrics_reset(t->m, t->pc_bytes);
}

void lx_telemetry_prompt_cache_bytes(lx_telemetry *t, const char *model, size_t bytes) {
    if (!t) return;
    const char *v[] = {lx_metrics_bound(t->m, model)};
    lx_metrics_set(t->m, t->pc_bytes, v, (double)bytes);
}

void lx_telemetry_prompt_cache_hit(lx_telemetry *t, const char *model, int64_t reused_tokens) {
    if (!t) return;
    const char *v[] = {lx_metrics_bound(t->m, model)};
    lx_metrics_add(t->m, t->pc_hits, v, 1);
    lx_metrics_add(t->m, t->pc_tokens, v, (double)reused_tokens);
}

void lx_telemetry_engine_started(lx_telemetry *t) {
    if (t) lx_metrics_add(t->m, t->engine_starts, NULL, 1);
}

void lx_telemetry_engine_up(lx_telemetry *t, bool up) {
    if (t) lx_metrics_set(t->m, t->engine_up, NULL, up ? 1 : 0);
}

void lx_telemetry_engine_ended(lx_telemetry *t, const char *how, size_t failed) {
    if (!t) return;
    const char *v[] = {how};
    lx_metrics_add(t->m, t->engine_ends, v, 1);
    if (failed) lx_metrics_add(t->m, t->engine_failed, NULL, (double)failed);
}

void lx_telemetry_engine_sandbox(lx_telemetry *t, int landlock_abi, bool degraded) {
    if (!t) return;
    lx_metrics_set(t->m, t->engine_landlock, NULL, landlock_abi);
    lx_metrics_set(t->m, t->engine_degraded, NULL, degraded ? 1 : 0);
}

void lx_telemetry_queue_depth(lx_telemetry *t, const char *model, size_t waiting) {
    if (!t) return;
    const char *v[] = {lx_metrics_bound(t->m, model)};
    lx_metrics_set(t->m, t->queue_depth, v, (double)waiting);
}

char *lx_telemetry_render(lx_telemetry *t, size_t *len) {
    if (!t) return NULL;
    /* Bring the exporter's and the log's own counters into the registry. */
    lx_otlp_stats s = lx_otlp_get_stats(t->otlp);
    uint64_t lf = lx_exec_log_failed(t->log);
    pthread_mutex_lock(&t->seen_mu);
    lx_metrics_add(t->m, t->spans_exported, NULL, (double)(s.exported - t->seen_otlp.exported));
    lx_metrics_add(t->m, t->spans_dropped, NULL, (double)(s.dropped - t->seen_otlp.dropped));
    lx_metrics_add(t->m, t->export_failures, NULL, (double)(s.failed_batches - t->seen_otlp.failed_batches));
    lx_metrics_add(t->m, t->log_failed, NULL, (double)(lf - t->seen_log_failed));
    t->seen_otlp = s;
    t->seen_log_failed = lf;
    pthread_mutex_unlock(&t->seen_mu);
    return lx_metrics_render(t->m, len);
}
