/* HTTP responses counted by route, method and status code, for GET /metrics: what the execution
 * metrics cannot see (a 401 from a wrong key, a 404 route, a 400 body refused before any
 * execution, /health probes). Each request is tagged when routing begins and counted when
 * libevent has sent its whole response (evhttp_request_set_on_complete_cb): a client gone before
 * that is not counted. libevent keeps one completion callback per request, so the routes that
 * set their own (call.c, offload.c: a graceful stop waits for their replies) call
 * lx_route_stats_sent from it; a body or header refused by libevent itself (413, 431) never reaches the
 * routes and is not counted either.
 *
 * Loop thread only (the routes, the completions and /metrics all run there): no lock. Bounded:
 * LX_ROUTE_STATS_MAX distinct (route, method, code) series; responses past that are counted in
 * one overflow series. */
#ifndef LX_ROUTE_STATS_H
#define LX_ROUTE_STATS_H

#include <stdbool.h>
#include <stdint.h>

struct evbuffer;
struct evhttp_request;

typedef enum lx_route {
    LX_ROUTE_CHAT,
    LX_ROUTE_MESSAGES,
    LX_ROUTE_COUNT_TOKENS,
    LX_ROUTE_COMPLETIONS,
    LX_ROUTE_EMBEDDINGS,
    LX_ROUTE_RESPONSES,
    LX_ROUTE_RESPONSE_ID,  /* GET / DELETE /v1/responses/{id} */
    LX_ROUTE_RESPONSE_ITEMS, /* GET /v1/responses/{id}/input_items */
    LX_ROUTE_MODELS,
    LX_ROUTE_MODELS_ADMIN, /* /models/load, /models/unload, /models, /api/ps */
    LX_ROUTE_HEALTH,
    LX_ROUTE_METRICS,
    LX_ROUTE_OTHER,        /* no such route */
    LX_ROUTE_N
} lx_route;

#define LX_ROUTE_STATS_MAX 128

typedef struct lx_route_stats lx_route_stats;

struct lx_route_stats {
    struct {
        uint8_t route, method;
        uint16_t code;
        uint64_t n;
    } e[LX_ROUTE_STATS_MAX];
    int n;
    uint64_t overflow;
};

void lx_route_stats_init(lx_route_stats *rs);
/* The route a request path belongs to (NULL: OTHER). */
lx_route lx_route_of(const char *path);
/* What follows "/v1/responses/" (or "/responses/", served without the prefix) in path: "{id}" or
 * "{id}/input_items"; NULL when path is not under either or nothing follows. */
const char *lx_route_response_rest(const char *path);
/* Counts req's response once it has been sent (sets req's completion callback; a route that
 * replaces it calls lx_route_stats_sent from its own). */
void lx_route_stats_track(lx_route_stats *rs, struct evhttp_request *req);
/* Counts req's sent response under its path's route, method and code. */
void lx_route_stats_sent(lx_route_stats *rs, struct evhttp_request *req);
/* Counts one response (what the completion callback does; tests call it directly). */
void lx_route_stats_count(lx_route_stats *rs, lx_route route, int method, int code);
/* Appends the Prometheus text (HELP, TYPE, one line per series) to out. False out of memory. */
bool lx_route_stats_render(const lx_route_stats *rs, struct evbuffer *out);

#endif
