#include "providers/errors.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/utf8.h"
#include "providers/ratelimit.h"
#include "providers/redact.h"

llmux_status lx_http_status_class(int s) {
    switch (s) {
    case 400: return LLMUX_E_INVALID_REQUEST;
    case 401: return LLMUX_E_AUTHENTICATION;
    case 402: return LLMUX_E_PERMISSION; /* out of credits: retrying will not help */
    case 403: return LLMUX_E_PERMISSION;
    case 404: return LLMUX_E_MODEL_NOT_FOUND;
    case 408: return LLMUX_E_TIMEOUT;
    case 413: return LLMUX_E_CONTEXT_LENGTH;
    case 429: return LLMUX_E_RATE_LIMITED;
    case 500: return LLMUX_E_UPSTREAM_SERVER;
    case 502: return LLMUX_E_OVERLOADED;
    case 503: return LLMUX_E_OVERLOADED;
    case 504: return LLMUX_E_TIMEOUT;
    case 524: return LLMUX_E_TIMEOUT;
    case 529: return LLMUX_E_OVERLOADED;
    default: break;
    }
    if (s >= 500 && s <= 599) return LLMUX_E_UPSTREAM_SERVER;
    if (s >= 400 && s <= 499) return LLMUX_E_INVALID_REQUEST;
    return LLMUX_E_UPSTREAM_PROTOCOL; /* a non-error status handed to an error mapper */
}

bool lx_contains_ci(const char *h, const char *n) {
    if (!h || !n) return false;
    size_t nl = strlen(n);
    if (nl == 0) return true;
    for (; *h; h++) {
        size_t i = 0;
        while (i < nl && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)n[i])) i++;
        if (i == nl) return true;
    }
    return false;
}

bool lx_mentions_context_length(const char *t) {
    static const char *const k[] = {"context_length_exceeded", "context length", "context_length", "context window",
                                    "maximum context", "too many tokens", "prompt is too long", "prompt too long",
                                    "input is too long", "exceeds the max", "token limit", "request too large",
                                    "reduce the length"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (lx_contains_ci(t, k[i])) return true;
    return false;
}

bool lx_mentions_content_filter(const char *t) {
    static const char *const k[] = {"content_filter", "content filter", "content_policy", "content policy",
                                    "safety", "moderation", "flagged", "guardrail"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (lx_contains_ci(t, k[i])) return true;
    return false;
}

/* Upstream text lands in logs and JSON: invalid UTF-8 becomes '?', control characters spaces. */
static void sanitize(char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) s[i] = ' ';
            i++;
            continue;
        }
        size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (len > 1 && i + len <= n && lx_utf8_valid(s + i, len)) {
            i += len;
        } else {
            s[i++] = '?';
        }
    }
}

llmux_status lx_provider_error(llmux_error_info *err, llmux_status status, const char *provider, int http_status,
                               const char *code, const char *message, int64_t retry_after_ms) {
    if (!err) return status;
    char msg[sizeof err->provider_message];
    lx_copy_field(msg, sizeof msg, message);
    sanitize(msg);
    lx_redact_secrets(msg, NULL);
    if (http_status > 0)
        lx_error(err, status, "%s: HTTP %d: %s%s%s", provider ? provider : "provider", http_status,
                 llmux_strerror(status), msg[0] ? ": " : "", msg);
    else
        lx_error(err, status, "%s: %s%s%s", provider ? provider : "provider", llmux_strerror(status),
                 msg[0] ? ": " : "", msg);
    lx_redact_secrets(err->message, NULL);
    err->provider_status = http_status;
    lx_copy_field(err->provider_code, sizeof err->provider_code, code);
    sanitize(err->provider_code);
    lx_redact_secrets(err->provider_code, NULL);
    memcpy(err->provider_message, msg, sizeof msg);
    err->retry_after_ms = retry_after_ms;
    return status;
}

llmux_status lx_provider_error_raw(llmux_error_info *err, const char *provider, int http_status, const char *body,
                                   size_t len, int64_t retry_after_ms) {
    char text[256];
    size_t n = body ? (len < sizeof text - 1 ? len : sizeof text - 1) : 0;
    if (n) memcpy(text, body, n);
    text[n] = '\0';
    return lx_provider_error(err, lx_http_status_class(http_status), provider, http_status, NULL, text,
                             retry_after_ms);
}

/* Copies a header value that goes into a message: control bytes become spaces, long values are
 * cut at `size` (the caller's cap) on a UTF-8 boundary. */
static void copy_printable(char *dst, size_t size, const char *src) {
    lx_copy_field(dst, size, src ? src : "");
    sanitize(dst);
}

llmux_status lx_provider_map_response(const lx_provider *p, const lx_provider_config *cfg,
                                      const lx_http_response *resp, llmux_error_info *err) {
    llmux_error_info e;
    lx_error_clear(&e);
    const char *who = cfg && cfg->name ? cfg->name : p ? p->protocol : "provider";
    const char *key = cfg ? cfg->api_key : NULL;
    if (resp->status >= 300 && resp->status <= 399) {
        /* Redirects are not followed (a POST would turn into a GET, a key could be sent to another
         * host): a redirect means the configured base URL is not the API's, which retrying cannot
         * fix. Naming the target tells the user what to configure instead. */
        char loc[200];
        copy_printable(loc, sizeof loc, resp->location);
        char text[256];
        snprintf(text, sizeof text, "redirected to %s; check base_url (redirects are not followed)",
                 loc[0] ? loc : "(no Location header)");
        lx_provider_error(&e, LLMUX_E_CONFIGURATION, who, resp->status, NULL, text, -1);
    } else if (p && p->map_error) {
        char resets[LX_RATELIMIT_LIST_MAX];
        p->map_error(resp->status, resp->error_body ? resp->error_body : "", resp->error_body_len,
                     lx_ratelimit_retry_hint(resp, resets, sizeof resets), &e);
    }
    if (e.status == LLMUX_OK) lx_error(&e, LLMUX_E_UPSTREAM_SERVER, "%s: HTTP %d", who, resp->status);
    lx_redact_error(&e, key);
    if (err) *err = e;
    return e.status;
}
