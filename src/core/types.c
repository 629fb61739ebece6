/* Defaults and names of the canonical types. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llmux.h"

const char *llmux_version(void) { return LLMUX_VERSION_STRING; }
unsigned llmux_version_num(void) { return LLMUX_VERSION_NUM; }

double llmux_unset(void) { return NAN; }
bool llmux_is_unset(double v) { return isnan(v); }

llmux_sampling llmux_sampling_default(void) {
    llmux_sampling s;
    memset(&s, 0, sizeof s);
    s.temperature = NAN;
    s.top_p = NAN;
    s.top_k = LLMUX_UNSET_INT;
    s.min_p = NAN;
    s.max_tokens = LLMUX_UNSET_INT;
    s.seed = LLMUX_UNSET_INT;
    s.presence_penalty = NAN;
    s.frequency_penalty = NAN;
    s.repeat_penalty = NAN;
    return s;
}

llmux_request llmux_request_default(void) {
    llmux_request r;
    memset(&r, 0, sizeof r);
    r.tool_choice = LLMUX_TOOL_CHOICE_AUTO;
    r.response_format = LLMUX_FORMAT_TEXT;
    r.sampling = llmux_sampling_default();
    return r;
}

llmux_usage llmux_usage_default(void) {
    llmux_usage u = {.input_tokens = -1, .output_tokens = -1, .cached_input_tokens = -1, .cache_write_tokens = -1,
                     .reasoning_tokens = -1, .total_tokens = -1, .cache_write_1h_tokens = -1,
                     .web_search_requests = -1};
    return u;
}

void llmux_usage_merge(llmux_usage *dst, const llmux_usage *src) {
    if (!dst || !src) return;
    if (src->input_tokens >= 0) dst->input_tokens = src->input_tokens;
    if (src->output_tokens >= 0) dst->output_tokens = src->output_tokens;
    if (src->cached_input_tokens >= 0) dst->cached_input_tokens = src->cached_input_tokens;
    if (src->cache_write_tokens >= 0) dst->cache_write_tokens = src->cache_write_tokens;
    if (src->reasoning_tokens >= 0) dst->reasoning_tokens = src->reasoning_tokens;
    if (src->total_tokens >= 0) dst->total_tokens = src->total_tokens;
    if (src->cache_write_1h_tokens >= 0) dst->cache_write_1h_tokens = src->cache_write_1h_tokens;
    if (src->web_search_requests >= 0) dst->web_search_requests = src->web_search_requests;
}

static const char *const k_finish[] = {"none", "stop", "length", "tool_calls", "content_filter", "cancelled", "error", "paused"};
static const char *const k_event[] = {"start", "text_delta", "reasoning_delta", "tool_call_start", "tool_call_delta",
                                      "tool_call_end", "usage", "finish", "error", "native"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *llmux_finish_reason_name(llmux_finish_reason r) {
    return (unsigned)r < COUNT(k_finish) ? k_finish[r] : "unknown";
}

bool llmux_finish_reason_from_name(const char *name, llmux_finish_reason *out) {
    for (size_t i = 0; name && i < COUNT(k_finish); i++)
        if (strcmp(name, k_finish[i]) == 0) {
            if (out) *out = (llmux_finish_reason)i;
            return true;
        }
    return false;
}

const char *llmux_event_type_name(llmux_event_type t) {
    return (unsigned)t < COUNT(k_event) ? k_event[t] : "unknown";
}

bool llmux_event_type_from_name(const char *name, llmux_event_type *out) {
    for (size_t i = 0; name && i < COUNT(k_event); i++)
        if (strcmp(name, k_event[i]) == 0) {
            if (out) *out = (llmux_event_type)i;
            return true;
        }
    return false;
}

llmux_runtime_params llmux_runtime_default_params(void) {
    llmux_runtime_params p;
    memset(&p, 0, sizeof p);
    p.log_level = LLMUX_LOG_WARN;
    p.telemetry_log_level = LLMUX_LOG_INFO;
    p.local_prompt_cache_mb = 256;
    return p;
}

llmux_run_params llmux_run_default_params(void) {
    llmux_run_params p;
    memset(&p, 0, sizeof p);
    return p;
}

void llmux_free(void *p) { free(p); }
