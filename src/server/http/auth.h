/* Who may use the server, and how much (auth.c): API keys (server.keys: Authorization: Bearer or
 * x-api-key, held as SHA-256 digests), each key's model patterns, budget (USD, loaded from the
 * execution records at start, then counted in memory), requests per minute and generations in
 * flight; and CORS for browser clients. Loop thread only, except create/destroy.
 *
 * A route protects itself with one call, lx_auth_check, which answers the client itself (401,
 * 403 or 429 in the client's format) when it refuses. docs/server.md describes the behaviour. */
#ifndef LX_SERVER_AUTH_H
#define LX_SERVER_AUTH_H

#include <stdbool.h>

#include <event2/http.h>

#include "server/http/server.h"
#include "server/http/translate.h"

typedef struct lx_auth lx_auth;

/* What a request was granted: its key and the slot it holds. Start from LX_AUTH_GRANT_NONE. */
typedef struct lx_auth_grant {
    int key;          /* index into the configured keys; -1 = no keys are configured (or not yet
                         identified) */
    bool identified;  /* lx_auth_check passed the key check */
    bool holding;     /* holds one of its key's generation slots (lx_auth_release gives it back) */
} lx_auth_grant;

#define LX_AUTH_GRANT_NONE ((lx_auth_grant){.key = -1})

/* Copies the keys and CORS origins of p. When a key has a budget, opens p->records and loads
 * what each key spent (one aggregate query per key); without records such a key is refused:
 * LLMUX_E_CONFIGURATION (a budget that forgets its spending at every restart is none). NULL on
 * failure, with err filled. Not from the loop thread (the query blocks). */
lx_auth *lx_auth_create(const lx_server_params *p, llmux_error_info *err);
void lx_auth_destroy(lx_auth *a);
/* Whether keys are configured (else every request is served). */
bool lx_auth_enabled(const lx_auth *a);

/* The one check a route makes. Identifies the key (401 when missing or wrong); then, when model
 * is not NULL, lx_auth_admit. Returns true when the request may go on; false when it was refused
 * and already answered. Without keys it always passes (g->key -1). */
bool lx_auth_check(lx_server *s, struct evhttp_request *req, lx_srv_format f, const char *model, lx_auth_grant *g);
/* For a route that learns the model after lx_auth_check(model = NULL) identified the key (the
 * body had to be read first): the key's model patterns (403), budget (429, no retry), requests
 * per minute (429 with Retry-After) and generations in flight (429 with Retry-After). On success
 * the request holds a slot until lx_auth_release. */
bool lx_auth_admit(lx_server *s, struct evhttp_request *req, lx_srv_format f, const char *model, lx_auth_grant *g);
/* Gives back the grant's slot (idempotent). */
void lx_auth_release(lx_auth *a, lx_auth_grant *g);
/* Adds what an execution of the grant's key cost (USD; ignored when not finite or <= 0). */
void lx_auth_charge(lx_auth *a, const lx_auth_grant *g, double usd);
/* Whether the grant's key may use model (always, without keys): GET /v1/models lists only those. */
bool lx_auth_allows(const lx_auth *a, const lx_auth_grant *g, const char *model);
/* The grant's key name (the request metadata "key_name", so records carry it); NULL without keys. */
const char *lx_auth_key_name(const lx_auth *a, const lx_auth_grant *g);
/* What the key spent so far (USD); 0 without keys. */
double lx_auth_spent(const lx_auth *a, int key);

/* CORS (server.cors_origins; off when none). Called first for every request: adds
 * Access-Control-Allow-Origin (and Vary, Expose-Headers) for an allowed Origin, and answers a
 * preflight (OPTIONS with Access-Control-Request-Method) itself: 204 with the allowed methods,
 * headers and Max-Age, or 403 for an origin not allowed. Returns true when it answered. */
bool lx_cors_handle(lx_server *s, struct evhttp_request *req);

#endif
