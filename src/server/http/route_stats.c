/* HTTP responses by route, method and status code (route_stats.h). */
#include "server/http/route_stats.h"

#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

enum { M_GET, M_POST, M_OPTIONS, M_DELETE, M_OTHER, M_N };

static const char *const k_route_names[LX_ROUTE_N] = {
    [LX_ROUTE_CHAT] = "/v1/chat/completions",
    [LX_ROUTE_MESSAGES] = "/v1/messages",
    [LX_ROUTE_COUNT_TOKENS] = "/v1/messages/count_tokens",
    [LX_ROUTE_COMPLETIONS] = "/v1/completions",
    [LX_ROUTE_EMBEDDINGS] = "/v1/embeddings",
    [LX_ROUTE_RESPONSES] = "/v1/responses",
    [LX_ROUTE_RESPONSE_ID] = "/v1/responses/{id}",
    [LX_ROUTE_RESPONSE_ITEMS] = "/v1/responses/{id}/input_items",
    [LX_ROUTE_MODELS] = "/v1/models",
    [LX_ROUTE_MODELS_ADMIN] = "/models",
    [LX_ROUTE_HEALTH] = "/health",
    [LX_ROUTE_METRICS] = "/metrics",
    [LX_ROUTE_OTHER] = "other",
};
static const char *const k_method_names[M_N] = {"GET", "POST", "OPTIONS", "DELETE", "other"};

void lx_route_stats_init(lx_route_stats *rs) {
    memset(rs, 0, sizeof *rs);
}

const char *lx_route_response_rest(const char *path) {
    const char *rest = !path                                        ? NULL
                       : strncmp(path, "/v1/responses/", 14) == 0 ? path + 14
                       : strncmp(path, "/responses/", 11) == 0    ? path + 11
                                                                  : NULL;
    return rest && *rest ? rest : NULL;
}

lx_route lx_route_of(const char *path) {
    if (!path) return LX_ROUTE_OTHER;
    for (int r = 0; r < LX_ROUTE_OTHER; r++)
        if (r != LX_ROUTE_MODELS_ADMIN && strcmp(path, k_route_names[r]) == 0) return (lx_route)r;
    /* The OpenAI routes served without their /v1 prefix (server.c), and one model's entry. */
    if (strcmp(path, "/chat/completions") == 0) return LX_ROUTE_CHAT;
    if (strcmp(path, "/completions") == 0) return LX_ROUTE_COMPLETIONS;
    if (strcmp(path, "/embeddings") == 0) return LX_ROUTE_EMBEDDINGS;
    if (strcmp(path, "/responses") == 0) return LX_ROUTE_RESPONSES;
    if (strncmp(path, "/v1/models/", 11) == 0) return LX_ROUTE_MODELS;
    const char *rest = lx_route_response_rest(path);
    if (rest) {
        const char *slash = strchr(rest, '/');
        return !slash ? LX_ROUTE_RESPONSE_ID : strcmp(slash, "/input_items") == 0 ? LX_ROUTE_RESPONSE_ITEMS : LX_ROUTE_OTHER;
    }
    if (strcmp(path, "/models") == 0 || strcmp(path, "/models/load") == 0 || strcmp(path, "/models/unload") == 0 ||
        strcmp(path, "/api/ps") == 0)
        return LX_ROUTE_MODELS_ADMIN;
    return LX_ROUTE_OTHER;
}

static int method_of(enum evhttp_cmd_type cmd) {
    switch (cmd) {
    case EVHTTP_REQ_GET: return M_GET;
    case EVHTTP_REQ_POST: return M_POST;
    case EVHTTP_REQ_OPTIONS: return M_OPTIONS;
    case EVHTTP_REQ_DELETE: return M_DELETE;
    default: return M_OTHER;
    }
}

void lx_route_stats_count(lx_route_stats *rs, lx_route route, int method, int code) {
    if ((unsigned)route >= LX_ROUTE_N) route = LX_ROUTE_OTHER;
    if (method < 0 || method >= M_N) method = M_OTHER;
    if (code < 100 || code > 999) code = 0; /* none sent */
    for (int i = 0; i < rs->n; i++)
        if (rs->e[i].route == route && rs->e[i].method == method && rs->e[i].code == code) {
            rs->e[i].n++;
            return;
        }
    if (rs->n == LX_ROUTE_STATS_MAX) {
        rs->overflow++;
        return;
    }
    rs->e[rs->n].route = (uint8_t)route;
    rs->e[rs->n].method = (uint8_t)method;
    rs->e[rs->n].code = (uint16_t)code;
    rs->e[rs->n].n = 1;
    rs->n++;
}

void lx_route_stats_sent(lx_route_stats *rs, struct evhttp_request *req) {
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    lx_route_stats_count(rs, lx_route_of(u ? evhttp_uri_get_path(u) : NULL), method_of(evhttp_request_get_command(req)),
                         evhttp_request_get_response_code(req));
}

static void on_complete(struct evhttp_request *req, void *arg) { lx_route_stats_sent(arg, req); }

void lx_route_stats_track(lx_route_stats *rs, struct evhttp_request *req) {
    evhttp_request_set_on_complete_cb(req, on_complete, rs);
}

bool lx_route_stats_render(const lx_route_stats *rs, struct evbuffer *out) {
    if (evbuffer_add_printf(out, "# HELP llmux_http_requests_total HTTP responses sent, by route (handler), method "
                                 "and status code.\n# TYPE llmux_http_requests_total counter\n") < 0)
        return false;
    for (int i = 0; i < rs->n; i++)
        if (evbuffer_add_printf(out, "llmux_http_requests_total{handler=\"%s\",method=\"%s\",code=\"%d\"} %llu\n",
                                k_route_names[rs->e[i].route], k_method_names[rs->e[i].method], rs->e[i].code,
                                (unsigned long long)rs->e[i].n) < 0)
            return false;
    if (rs->overflow &&
        evbuffer_add_printf(out, "llmux_http_requests_total{handler=\"other\",method=\"other\",code=\"other\"} %llu\n",
                            (unsigned long long)rs->overflow) < 0)
        return false;
    return true;
}
