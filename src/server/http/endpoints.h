/* The routes that are not a generation through call.c: each answers the client itself on every
 * path. Loop thread. */
#ifndef LX_SERVER_ENDPOINTS_H
#define LX_SERVER_ENDPOINTS_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/http.h>

#include "server/http/auth.h"
#include "server/http/server.h"

/* g: the key identified by lx_auth_check; each route admits the request for its model
 * (lx_auth_admit: 403 / 429) and holds the admission until the job ends. */
/* POST /v1/embeddings (embeddings.c): llmux_embed on the offload pool. */
void lx_embeddings_start(lx_server *s, struct evhttp_request *req, const lx_auth_grant *g);
/* POST /v1/messages/count_tokens (count_tokens.c): llmux_count_tokens on the offload pool. */
void lx_count_tokens_start(lx_server *s, struct evhttp_request *req, const lx_auth_grant *g);

/* The model registry's routes (models_admin.c): POST /models/load, POST /models/unload, GET
 * /models, GET /api/ps. Returns false when path is none of them (nothing answered); true when it
 * answered (or handed the request to the offload pool). g: the key lx_auth_check identified. */
bool lx_models_admin_route(lx_server *s, struct evhttp_request *req, const char *path, const lx_auth_grant *g);

/* The body of POST /models/load and /models/unload: a JSON object of at most
 * LX_MODELS_ADMIN_MAX_BODY bytes whose "model" is a local model name of 1..LX_MODELS_ADMIN_MAX_MODEL
 * bytes (other keys are ignored). Writes it, NUL-terminated, into model (model_size >
 * LX_MODELS_ADMIN_MAX_MODEL). LLMUX_E_INVALID_REQUEST (err names the fault) otherwise. Pure. */
#define LX_MODELS_ADMIN_MAX_BODY 4096
#define LX_MODELS_ADMIN_MAX_MODEL 1024
llmux_status lx_srv_models_admin_body(const char *body, size_t len, char *model, size_t model_size,
                                      llmux_error_info *err);

#endif
