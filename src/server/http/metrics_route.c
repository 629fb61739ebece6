/* GET /metrics (metrics_route.h). */
#define _DEFAULT_SOURCE
#include "server/http/metrics_route.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "server/http/response_store.h"

/* Longest Authorization value looked at: a key longer than this is refused without reading it. */
#define AUTH_MAX 1024

bool lx_metrics_authorized(const char *key, const char *authorization) {
    if (!key) return true;
    if (!authorization) return false;
    size_t n = strnlen(authorization, AUTH_MAX + 1);
    if (n > AUTH_MAX || n < 7 || strncasecmp(authorization, "Bearer ", 7) != 0) return false;
    const char *given = authorization + 7;
    while (*given == ' ') given++;
    size_t gl = strlen(given), kl = strlen(key);
    /* Every byte of the key is compared whatever matches, so the time taken tells nothing of how
     * much of a guess was right. */
    unsigned char diff = (unsigned char)(gl != kl);
    for (size_t i = 0; i < kl; i++) diff |= (unsigned char)(key[i] ^ (i < gl ? given[i] : 0));
    return diff == 0;
}

/* The kept Responses API responses (response_store.h): how many, and the bytes they count. */
static bool render_resp_store(const lx_server *s, struct evbuffer *b) {
    size_t n = s->resp_store ? lx_resp_store_count(s->resp_store) : 0;
    size_t bytes = s->resp_store ? lx_resp_store_bytes(s->resp_store) : 0;
    return evbuffer_add_printf(b,
                               "# HELP llmux_responses_stored Responses API responses kept for previous_response_id.\n"
                               "# TYPE llmux_responses_stored gauge\nllmux_responses_stored %zu\n"
                               "# HELP llmux_responses_stored_bytes Memory the kept responses count against "
                               "server.limits.responses_store_mb.\n"
                               "# TYPE llmux_responses_stored_bytes gauge\nllmux_responses_stored_bytes %zu\n",
                               n, bytes) > 0;
}

void lx_metrics_route(lx_server *s, struct evhttp_request *req) {
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!lx_metrics_authorized(s->p.metrics_key, auth)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer realm=\"metrics\"");
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_AUTHENTICATION,
                            "GET /metrics needs Authorization: Bearer <telemetry.metrics_key>", -1);
        return;
    }
    char *text = NULL;
    size_t len = 0;
    llmux_error_info err;
    if (llmux_metrics_prometheus(s->rt, &text, &len, &err) != LLMUX_OK) {
        lx_call_reply_error(req, LX_SRV_OPENAI, err.status, err.message, -1);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b || evbuffer_add(b, text, len) != 0 || !lx_route_stats_render(&s->route_stats, b) || !render_resp_store(s, b)) {
        if (b) evbuffer_free(b);
        llmux_free(text);
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        return;
    }
    llmux_free(text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}
