/* POST /v1/messages/count_tokens (Anthropic: docs.anthropic.com/en/api/messages-count-tokens):
 * a Messages body without max_tokens → {"input_tokens": N}. The count is llmux_count_tokens, exact
 * for a local model (its chat template and tokenizer); it blocks (it may load the model and
 * queues on the model's engine thread), so it runs on the offload pool. A remote model is
 * answered 400 in Anthropic's error shape: llmux does not forward counting to providers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "server/http/call.h"
#include "server/http/endpoints.h"
#include "server/http/offload.h"

llmux_status lx_srv_count_tokens_request(const char *body, size_t len, lx_srv_req **out, llmux_error_info *err) {
    *out = NULL;
    json_t *root = lx_srv_parse_object(body, len, err);
    if (!root) return LLMUX_E_INVALID_REQUEST;
    /* The Messages translator requires max_tokens, which counting has no use for: any value the
     * client sent is replaced, so the rest of the body reads exactly as in /v1/messages. */
    json_object_del(root, "stream"); /* absent is fine: nothing streams here */
    if (json_object_set_new(root, "max_tokens", json_integer(1)) != 0) {
        json_decref(root);
        return lx_srv_fail(err, "out of memory");
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text) return lx_srv_fail(err, "out of memory");
    llmux_status st = lx_srv_anthropic_request(text, strlen(text), out, err);
    free(text);
    return st;
}

typedef struct count_job {
    lx_offload o; /* first: the pool hands it back */
    lx_srv_req *in;
    int64_t n;
    llmux_status st;
    llmux_error_info err;
    lx_auth_grant grant; /* the key's admission, released with the job */
    lx_auth *auth;
} count_job;

static void run(lx_offload *o, llmux_cancel *cancel) {
    count_job *j = (count_job *)o;
    llmux_call_params cp = llmux_call_default_params();
    cp.cancel = cancel;
    j->st = llmux_count_tokens(o->s->rt, &j->in->req, &cp, &j->n, &j->err);
}

static void reply(lx_offload *o, struct evhttp_request *req) {
    count_job *j = (count_job *)o;
    if (j->st != LLMUX_OK) {
        lx_call_reply_error(req, LX_SRV_ANTHROPIC, j->st, j->err.message, j->err.retry_after_ms);
        return;
    }
    char body[64];
    snprintf(body, sizeof body, "{\"input_tokens\":%lld}", (long long)j->n);
    lx_call_reply_json(req, 200, body, -1);
}

static void release(lx_offload *o) {
    count_job *j = (count_job *)o;
    lx_auth_release(j->auth, &j->grant);
    lx_srv_req_free(j->in);
    free(j);
}

void lx_count_tokens_start(lx_server *s, struct evhttp_request *req, const lx_auth_grant *g) {
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > s->p.max_body_bytes) {
        lx_call_reply_error(req, LX_SRV_ANTHROPIC, LLMUX_E_INVALID_REQUEST, "request body too large", -1);
        return;
    }
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    llmux_error_info err;
    lx_srv_req *r = NULL;
    if (lx_srv_count_tokens_request(body, len, &r, &err) != LLMUX_OK ||
        !lx_srv_anthropic_betas(r, evhttp_find_header(evhttp_request_get_input_headers(req), "anthropic-beta"), &err)) {
        lx_srv_req_free(r);
        lx_call_reply_error(req, LX_SRV_ANTHROPIC, err.status, err.message, -1);
        return;
    }
    lx_auth_grant grant = *g;
    if (!lx_auth_admit(s, req, LX_SRV_ANTHROPIC, r->req.model, &grant)) {
        lx_srv_req_free(r);
        return;
    }
    count_job *j = calloc(1, sizeof *j);
    if (!j) {
        lx_auth_release(s->auth, &grant);
        lx_srv_req_free(r);
        lx_call_reply_error(req, LX_SRV_ANTHROPIC, LLMUX_E_OUT_OF_MEMORY, "out of memory", -1);
        return;
    }
    j->in = r;
    j->grant = grant;
    j->auth = s->auth;
    j->o.run = run;
    j->o.reply = reply;
    j->o.release = release;
    lx_offload_start(s, req, LX_SRV_ANTHROPIC, &j->o);
}
