/* POST /v1/embeddings: the body is translated on the loop (embeddings_json.c), llmux_embed runs
 * on the offload pool (it blocks until the provider answered), the answer is written back on the
 * loop. Errors use OpenAI's error shape and llmux's status mapping (an upstream 429 stays 429
 * with its Retry-After). */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "server/http/call.h"
#include "server/http/endpoints.h"
#include "server/http/offload.h"

typedef struct embed_job {
    lx_offload o; /* first: the pool hands it back */
    lx_srv_embed *in;
    llmux_embeddings *out;
    llmux_status st;
    llmux_error_info err;
    lx_auth_grant grant; /* the key's admission, released with the job */
    lx_auth *auth;
} embed_job;

static void run(lx_offload *o, llmux_cancel *cancel) {
    embed_job *j = (embed_job *)o;
    llmux_call_params cp = llmux_call_default_params();
    cp.cancel = cancel;
    j->st = llmux_embed(o->s->rt, &j->in->req, &cp, &j->out, &j->err);
}

static void reply(lx_offload *o, struct evhttp_request *req) {
    embed_job *j = (embed_job *)o;
    if (j->st != LLMUX_OK) {
        lx_call_reply_error(req, LX_SRV_OPENAI, j->st, j->err.message, j->err.retry_after_ms);
        return;
    }
    char *body = lx_srv_embed_response(j->out, j->in->req.model, j->in->base64);
    if (!body) {
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_OUT_OF_MEMORY, "out of memory encoding the embeddings", -1);
        return;
    }
    lx_call_reply_json(req, 200, body, -1);
    free(body);
}

static void release(lx_offload *o) {
    embed_job *j = (embed_job *)o;
    lx_auth_release(j->auth, &j->grant);
    llmux_embeddings_free(j->out);
    lx_srv_embed_free(j->in);
    free(j);
}

void lx_embeddings_start(lx_server *s, struct evhttp_request *req, const lx_auth_grant *g) {
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > s->p.max_body_bytes) {
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_INVALID_REQUEST, "request body too large", -1);
        return;
    }
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    llmux_error_info err;
    lx_srv_embed *e = NULL;
    if (lx_srv_embed_request(body, len, &e, &err) != LLMUX_OK) {
        lx_call_reply_error(req, LX_SRV_OPENAI, err.status, err.message, -1);
        return;
    }
    lx_auth_grant grant = *g;
    if (!lx_auth_admit(s, req, LX_SRV_OPENAI, e->req.model, &grant)) {
        lx_srv_embed_free(e);
        return;
    }
    embed_job *j = calloc(1, sizeof *j);
    if (!j) {
        lx_auth_release(s->auth, &grant);
        lx_srv_embed_free(e);
        lx_call_reply_error(req, LX_SRV_OPENAI, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        return;
    }
    j->in = e;
    j->grant = grant;
    j->auth = s->auth;
    j->o.run = run;
    j->o.reply = reply;
    j->o.release = release;
    lx_offload_start(s, req, LX_SRV_OPENAI, &j->o);
}
