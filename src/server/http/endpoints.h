/* The routes that are not a generation through call.c: each answers the client itself on every
 * path. Loop thread. */
#ifndef LX_SERVER_ENDPOINTS_H
#define LX_SERVER_ENDPOINTS_H

#include <event2/http.h>

#include "server/http/auth.h"
#include "server/http/server.h"

/* g: the key identified by lx_auth_check; each route admits the request for its model
 * (lx_auth_admit: 403 / 429) and holds the admission until the job ends. */
/* POST /v1/embeddings (embeddings.c): llmux_embed on the offload pool. */
void lx_embeddings_start(lx_server *s, struct evhttp_request *req, const lx_auth_grant *g);
/* POST /v1/messages/count_tokens (count_tokens.c): llmux_count_tokens on the offload pool. */
void lx_count_tokens_start(lx_server *s, struct evhttp_request *req, const lx_auth_grant *g);

#endif
