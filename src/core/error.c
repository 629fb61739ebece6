#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

typedef struct status_info {
    const char *name;
    const char *text;
    int http;
    bool retryable;
} status_info;

/* Indexed by llmux_status; append-only like the enum. */
static const status_info k_status[LLMUX_STATUS_COUNT] = {
    [LLMUX_OK] = {"ok", "success", 200, false},
    [LLMUX_E_INVALID_REQUEST] = {"invalid_request", "the request is invalid", 400, false},
    [LLMUX_E_AUTHENTICATION] = {"authentication", "authentication failed", 401, false},
    [LLMUX_E_PERMISSION] = {"permission", "permission denied", 403, false},
    [LLMUX_E_MODEL_NOT_FOUND] = {"model_not_found", "model not found", 404, false},
    [LLMUX_E_RATE_LIMITED] = {"rate_limited", "rate limited by the provider", 429, true},
    [LLMUX_E_CONTEXT_LENGTH] = {"context_length_exceeded", "the context length was exceeded", 400, false},
    [LLMUX_E_CONTENT_FILTERED] = {"content_filtered", "blocked by a content filter", 400, false},
    [LLMUX_E_OVERLOADED] = {"overloaded", "the provider or engine is overloaded", 503, true},
    [LLMUX_E_UPSTREAM_SERVER] = {"upstream_server_error", "the upstream server failed", 502, true},
    [LLMUX_E_TIMEOUT] = {"timeout", "the request timed out", 504, true},
    [LLMUX_E_NETWORK] = {"network", "a network error occurred", 502, true},
    [LLMUX_E_CANCELLED] = {"cancelled", "the request was cancelled", 499, false},
    [LLMUX_E_UPSTREAM_PROTOCOL] = {"upstream_protocol_error", "the upstream response was malformed", 502, false},
    [LLMUX_E_CONFIGURATION] = {"configuration", "the configuration is invalid", 500, false},
    [LLMUX_E_ROUTING] = {"routing", "no target could serve the request", 502, false},
    [LLMUX_E_QUEUE_FULL] = {"queue_full", "the queue is full", 429, true},
    [LLMUX_E_OUT_OF_MEMORY] = {"out_of_memory", "out of memory", 507, false},
    [LLMUX_E_INTERNAL] = {"internal", "internal error", 500, false},
};

static const status_info *info(llmux_status s) {
    if ((int)s < 0 || (int)s >= LLMUX_STATUS_COUNT) return NULL;
    return &k_status[s];
}

const char *llmux_status_name(llmux_status s) {
    const status_info *i = info(s);
    return i ? i->name : "unknown";
}

const char *llmux_strerror(llmux_status s) {
    const status_info *i = info(s);
    return i ? i->text : "unknown error";
}

bool llmux_status_retryable(llmux_status s) {
    const status_info *i = info(s);
    return i ? i->retryable : false;
}

int llmux_status_http(llmux_status s) {
    const status_info *i = info(s);
    return i ? i->http : 500;
}

bool llmux_status_from_name(const char *name, llmux_status *out) {
    if (!name) return false;
    for (int i = 0; i < LLMUX_STATUS_COUNT; i++) {
        if (strcmp(name, k_status[i].name) == 0) {
            if (out) *out = (llmux_status)i;
            return true;
        }
    }
    return false;
}

void lx_copy_field(char *dst, size_t dst_size, const char *src) {
    if (!dst || dst_size == 0) return;
    if (!src) {
        dst[0] = '\0';
        return;
    }
    size_t n = strlen(src);
    if (n >= dst_size) n = lx_utf8_complete_len(src, dst_size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void lx_error_clear(llmux_error_info *err) {
    if (!err) return;
    memset(err, 0, sizeof *err);
    err->status = LLMUX_OK;
    err->retry_after_ms = -1;
}

llmux_status lx_error(llmux_error_info *err, llmux_status status, const char *fmt, ...) {
    if (!err) return status;
    lx_error_clear(err);
    err->status = status;
    char tmp[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    lx_copy_field(err->message, sizeof err->message, tmp);
    return status;
}
