/* The translators of the server's other endpoints on untrusted bytes: the first byte picks
 * POST /v1/embeddings, /v1/completions or /v1/messages/count_tokens, the rest is the body. Beyond
 * "no crash, no leak": a refusal always says why and leaves nothing behind; an accepted embeddings
 * body has 1..LX_SRV_MAX_EMBED_INPUTS non-empty inputs and its answer encodes (float and base64)
 * for vectors of the accepted count; an accepted completions or count_tokens body is a request
 * llmux_request_validate accepts and llmux's JSON round-trips. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmux.h"
#include "server/http/translate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void embeddings(const char *body, size_t len) {
    lx_srv_embed *e = NULL;
    llmux_error_info err;
    llmux_status st = lx_srv_embed_request(body, len, &e, &err);
    if (st != LLMUX_OK) {
        if (e || err.status != st || err.message[0] == '\0') abort();
        return;
    }
    if (e->req.n_inputs < 1 || e->req.n_inputs > LX_SRV_MAX_EMBED_INPUTS || !e->req.model) abort();
    for (size_t i = 0; i < e->req.n_inputs; i++)
        if (!e->req.inputs[i] || !e->req.inputs[i][0]) abort();
    /* Vectors with the awkward values (NaN, infinities, denormals) must still encode. */
    static const float v[] = {0.0f, -0.0f, 1e-45f, 3.4e38f, INFINITY, NAN};
    size_t dim = 3;
    float *vec = malloc(e->req.n_inputs * dim * sizeof *vec);
    if (!vec) abort();
    for (size_t i = 0; i < e->req.n_inputs * dim; i++) vec[i] = v[i % 6];
    llmux_embeddings out = {.model = "m", .provider = "p", .n = e->req.n_inputs, .dim = dim, .data = vec,
                            .usage = llmux_usage_default()};
    char *s = lx_srv_embed_response(&out, e->req.model, e->base64);
    free(s);
    free(vec);
    lx_srv_embed_free(e);
}

static void request(bool count, const char *body, size_t len) {
    lx_srv_req *r = NULL;
    llmux_error_info err;
    llmux_status st = count ? lx_srv_count_tokens_request(body, len, &r, &err) : lx_srv_completions_request(body, len, &r, &err);
    if (st != LLMUX_OK) {
        if (r || err.status != st || err.message[0] == '\0') abort();
        return;
    }
    if (llmux_request_validate(&r->req, &err) != LLMUX_OK) abort();
    char *j = llmux_request_to_json(&r->req);
    if (!j) abort();
    llmux_request *back = NULL;
    if (llmux_request_from_json(j, strlen(j), &back, &err) != LLMUX_OK) abort();
    llmux_request_free(back);
    llmux_free(j);
    lx_srv_req_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0: embeddings(body, len); break;
    case 1: request(false, body, len); break;
    default: request(true, body, len); break;
    }
    return 0;
}
