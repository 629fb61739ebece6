/* SSE / NDJSON parse + decode throughput for every adapter's stream decoder (openai, anthropic,
 * gemini, ollama), and allocations per canonical event.
 *
 * Inputs, all in memory: (1) "recorded": the project's own fixture streams
 * (tests/providers/data/<provider>) plus, when present, the shared recorded streams under
 * ../shared/fixtures/providers, each decoded by a fresh decoder as one request would be; (2)
 * "long": one synthetic stream of 20,000 text chunks shaped like the recorded chunks of each
 * provider (gpt-4o, Claude content_block_delta, Gemini candidates, Ollama), decoded by one decoder. Bodies are fed in 4 KiB pieces (a typical
 * socket read). Each figure is the median of 5 runs.
 *
 * Allocation counting: this executable defines malloc/calloc/realloc/free itself and forwards to
 * glibc's __libc_malloc & co. Symbols defined in the executable take precedence for every caller
 * in the process (llmux and jansson included), so every allocation on the measured path is
 * counted without LD_PRELOAD or malloc hooks. Run from the repository root. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "providers/provider.h"
#include "transport/sse.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static uint64_t g_allocs;

void *malloc(size_t n) {
    g_allocs++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    g_allocs++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    g_allocs++;
    return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }

static double now_s(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct body {
    char *data;
    size_t len;
} body;

static bool load(const char *path, body *b) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    lx_buf buf;
    lx_buf_init(&buf, 64u << 20);
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) lx_buf_append(&buf, tmp, n);
    fclose(f);
    b->data = buf.data;
    b->len = buf.len;
    return b->data != NULL;
}

static uint64_t g_events;
static bool count_event(void *ud, const llmux_event *ev) {
    (void)ud;
    (void)ev;
    g_events++;
    return true;
}

/* Decodes every body once with a fresh decoder each; returns false on a decode failure. */
static bool decode_all(const lx_provider *p, const char *name, const body *bodies, size_t n) {
    lx_provider_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = name;
    for (size_t i = 0; i < n; i++) {
        lx_decoder *d = p->decoder_create(&cfg, true, (lx_event_sink){count_event, NULL});
        llmux_error_info err;
        llmux_status st = LLMUX_OK;
        for (size_t off = 0; off < bodies[i].len && st == LLMUX_OK; off += 4096) {
            size_t k = bodies[i].len - off < 4096 ? bodies[i].len - off : 4096;
            st = p->decoder_feed(d, bodies[i].data + off, k, &err);
        }
        if (st == LLMUX_OK) st = p->decoder_end(d, &err);
        p->decoder_destroy(d);
        /* Recorded mid-stream error streams end in an error by design. */
        if (st != LLMUX_OK && st != LLMUX_E_RATE_LIMITED && st != LLMUX_E_UPSTREAM_SERVER && st != LLMUX_E_OVERLOADED &&
            st != LLMUX_E_CONTEXT_LENGTH && st != LLMUX_E_UPSTREAM_PROTOCOL) {
            fprintf(stderr, "%s: body %zu failed: %s\n", name, i, err.message);
            return false;
        }
    }
    return true;
}

static llmux_status sse_count(void *ud, const lx_sse_event *ev) {
    (void)ud;
    (void)ev;
    g_events++;
    return LLMUX_OK;
}

static void sse_only(const body *bodies, size_t n) {
    for (size_t i = 0; i < n; i++) {
        lx_sse_parser p;
        lx_sse_parser_init(&p, LX_WIRE_MAX_LINE);
        llmux_error_info err;
        for (size_t off = 0; off < bodies[i].len; off += 4096) {
            size_t k = bodies[i].len - off < 4096 ? bodies[i].len - off : 4096;
            lx_sse_feed(&p, bodies[i].data + off, k, sse_count, NULL, &err);
        }
        lx_sse_finish(&p, NULL, &err);
        lx_sse_parser_free(&p);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs `reps` passes 5 times; prints median MB/s, events/s and allocations per event. */
static void measure(const char *label, const lx_provider *p, const char *name, const body *bodies, size_t n, int reps) {
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) bytes += bodies[i].len;
    double t[5];
    uint64_t events = 0, allocs = 0;
    for (int run = 0; run < 5; run++) {
        g_events = 0;
        uint64_t a0 = g_allocs;
        double s = now_s();
        for (int r = 0; r < reps; r++) {
            if (p) {
                if (!decode_all(p, name, bodies, n)) return;
            } else {
                sse_only(bodies, n);
            }
        }
        t[run] = now_s() - s;
        events = g_events;
        allocs = g_allocs - a0;
    }
    qsort(t, 5, sizeof t[0], cmp_double);
    double med = t[2];
    double mb = (double)bytes * reps / (1024.0 * 1024.0);
    printf("| %-34s | %9.1f | %12.0f | %8llu | %7.2f |\n", label, mb / med, (double)events / med,
           (unsigned long long)(events / reps), events ? (double)allocs / (double)events : 0.0);
}

static size_t load_set(const char *const *paths, size_t n, body *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (load(paths[i], &out[k])) k++;
    return k;
}

static body synth(const char *head, const char *chunk_fmt, const char *tail, int n) {
    lx_buf b;
    lx_buf_init(&b, 256u << 20);
    lx_buf_append_str(&b, head);
    for (int i = 0; i < n; i++) lx_buf_printf(&b, chunk_fmt, i);
    lx_buf_append_str(&b, tail);
    return (body){b.data, b.len};
}

int main(void) {
    static const char *const openai_files[] = {
        "tests/providers/data/openai/stream_text_usage.sse",
        "tests/providers/data/openai/stream_parallel_tools.sse",
        "tests/providers/data/openai/stream_reasoning.sse",
        "../shared/fixtures/providers/openai_chat/stream_text.sse",
        "../shared/fixtures/providers/openai_chat/stream_tool_call.sse",
        "../shared/fixtures/providers/openai_chat/stream_parallel_tool_calls.sse",
        "../shared/fixtures/providers/openai_chat/stream_tool_result.sse",
        "../shared/fixtures/providers/openrouter/stream_text.sse",
        "../shared/fixtures/providers/openrouter/stream_reasoning.sse",
    };
    static const char *const ollama_files[] = {
        "tests/providers/data/ollama/stream_text.ndjson",
        "tests/providers/data/ollama/stream_tool_calls.ndjson",
        "../shared/fixtures/providers/ollama/stream_text.ndjson",
        "../shared/fixtures/providers/ollama/stream_tool_call.ndjson",
    };
    static const char *const anthropic_files[] = {
        "tests/providers/data/anthropic/stream_text.sse",
        "tests/providers/data/anthropic/stream_thinking.sse",
        "tests/providers/data/anthropic/stream_parallel_tools.sse",
        "tests/providers/data/anthropic/stream_redacted.sse",
        "../shared/fixtures/providers/anthropic_messages/stream_text.sse",
        "../shared/fixtures/providers/anthropic_messages/stream_thinking.sse",
        "../shared/fixtures/providers/anthropic_messages/stream_tool_call.sse",
        "../shared/fixtures/providers/anthropic_messages/stream_redacted_thinking.sse",
    };
    static const char *const gemini_files[] = {
        "tests/providers/data/gemini/stream_text.sse",
        "tests/providers/data/gemini/stream_thinking_tools.sse",
        "../shared/fixtures/providers/gemini/stream_text.sse",
        "../shared/fixtures/providers/gemini/stream_tool_call.sse",
        "../shared/fixtures/providers/gemini/stream_text_firebase_fixture.sse",
        "../shared/fixtures/providers/gemini/stream_thinking_tool_call_firebase_fixture.sse",
    };
    body ob[16], lb[16], ab[16], gb[16];
    size_t n_o = load_set(openai_files, sizeof openai_files / sizeof openai_files[0], ob);
    size_t n_l = load_set(ollama_files, sizeof ollama_files / sizeof ollama_files[0], lb);
    size_t n_a = load_set(anthropic_files, sizeof anthropic_files / sizeof anthropic_files[0], ab);
    size_t n_g = load_set(gemini_files, sizeof gemini_files / sizeof gemini_files[0], gb);
    if (n_o == 0 || n_l == 0 || n_a == 0 || n_g == 0) {
        fprintf(stderr, "run from the repository root (fixtures not found)\n");
        return 1;
    }
    body long_openai = synth("", "data: {\"id\":\"chatcmpl-AAbbCCddEEff\",\"object\":\"chat.completion.chunk\",\"created\":1727346172,"
                                 "\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":\"fp_5050236cbd\",\"choices\":[{\"index\":0,"
                                 "\"delta\":{\"content\":\" token%d\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
                             "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", 20000);
    body long_ollama = synth("", "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T08:52:19.385406455-07:00\",\"message\":{\"role\":"
                                 "\"assistant\",\"content\":\" token%d\"},\"done\":false}\n",
                             "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
                             "\"done_reason\":\"stop\",\"prompt_eval_count\":26,\"eval_count\":20000}\n", 20000);
    body long_anthropic = synth(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\","
        "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5-20250929\","
        "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\" token%d\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
        "\"stop_sequence\":null},\"usage\":{\"output_tokens\":20000}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        20000);
    body long_gemini = synth(
        "",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" token%d\"}],\"role\": \"model\"}}],"
        "\"usageMetadata\": {\"promptTokenCount\": 15,\"totalTokenCount\": 15,\"promptTokensDetails\": "
        "[{\"modality\": \"TEXT\",\"tokenCount\": 15}]},\"modelVersion\": \"gemini-2.5-flash\","
        "\"responseId\": \"w1peaMz6INOvnvgPgYfPiQY\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \".\"}],\"role\": \"model\"},"
        "\"finishReason\": \"STOP\"}],\"usageMetadata\": {\"promptTokenCount\": 15,\"candidatesTokenCount\": 20000,"
        "\"totalTokenCount\": 20015},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"w1peaMz6INOvnvgPgYfPiQY\"}\r\n\r\n",
        20000);
    printf("recorded: %zu openai/openrouter, %zu anthropic, %zu gemini SSE streams, %zu ollama NDJSON streams; "
           "long: 20000 chunks\n\n",
           n_o, n_a, n_g, n_l);
    printf("| %-34s | %9s | %12s | %8s | %7s |\n", "input", "MB/s", "events/s", "ev/pass", "alloc/ev");
    printf("|%s|%s|%s|%s|%s|\n", "------------------------------------", "-----------", "--------------", "----------", "---------");
    measure("SSE parse only, recorded openai", NULL, NULL, ob, n_o, 200);
    measure("SSE parse only, long openai", NULL, NULL, &long_openai, 1, 5);
    measure("openai decode, recorded", &lx_provider_openai, "openai", ob, n_o, 200);
    measure("openai decode, long", &lx_provider_openai, "openai", &long_openai, 1, 5);
    measure("anthropic decode, recorded", &lx_provider_anthropic, "anthropic", ab, n_a, 200);
    measure("anthropic decode, long", &lx_provider_anthropic, "anthropic", &long_anthropic, 1, 5);
    measure("gemini decode, recorded", &lx_provider_gemini, "gemini", gb, n_g, 200);
    measure("gemini decode, long", &lx_provider_gemini, "gemini", &long_gemini, 1, 5);
    measure("ollama decode, recorded", &lx_provider_ollama, "ollama", lb, n_l, 2000);
    measure("ollama decode, long", &lx_provider_ollama, "ollama", &long_ollama, 1, 5);
    return 0;
}
