/* Remote embeddings and model lists: buffered (non-streaming) HTTP requests through an
 * adapter's encode_embed/decode_embed (one request) or encode_models/decode_models (one request
 * per page, following the adapter's cursor). */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/models.h"
#include "providers/errors.h"
#include "providers/redact.h"
#include "runtime/remote.h"
#include "transport/http.h"

llmux_status lx_remote_resolve_provider(const char *name, const llmux_provider_params *providers, size_t n_providers,
                                        lx_remote_target *out, llmux_error_info *err) {
    if (!out) return lx_error(err, LLMUX_E_INTERNAL, "remote: resolve_provider called with NULL");
    memset(out, 0, sizeof *out);
    size_t n = name ? strlen(name) : 0;
    if (n == 0) return lx_error(err, LLMUX_E_INVALID_REQUEST, "provider: missing");
    if (n > 64 || strchr(name, '/'))
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "provider \"%.64s\": expected a bare provider name (e.g. openai)",
                        name);
    /* A placeholder model: the resolver needs one, a model list does not use it. */
    char spec[80];
    snprintf(spec, sizeof spec, "%s/-", name);
    llmux_status st = lx_remote_resolve(spec, providers, n_providers, out, err);
    if (st == LLMUX_E_MODEL_NOT_FOUND) return lx_error(err, st, "unknown provider \"%s\"", name);
    if (st == LLMUX_OK) out->cfg.model = NULL;
    return st;
}

typedef struct body_acc {
    lx_buf buf;
    const char *who;
} body_acc;

static llmux_status on_data(void *ud, const char *data, size_t len, llmux_error_info *err) {
    body_acc *a = ud;
    if (len > a->buf.max - a->buf.len)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: the response body exceeds the %zu-byte cap", a->who,
                        a->buf.max);
    if (!lx_buf_append(&a->buf, data, len))
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory buffering the response", a->who);
    return LLMUX_OK;
}

/* Sends w and buffers a 2xx body into acc; a non-2xx answer goes through the adapter's
 * map_error. */
static llmux_status fetch(const lx_remote_target *t, const lx_wire_request *w, const llmux_cancel *cancel,
                          int64_t deadline_ns, const lx_remote_settings *timeouts, body_acc *acc,
                          llmux_error_info *err) {
    if (llmux_cancel_is_triggered(cancel)) return lx_error(err, LLMUX_E_CANCELLED, "cancelled before the request");
    lx_http_client *client = timeouts ? timeouts->client : NULL;
    if (!client) return lx_error(err, LLMUX_E_INTERNAL, "%s: no HTTP client", acc->who);
    llmux_status st;
    lx_buf url;
    lx_buf_init(&url, 8192);
    if (!lx_buf_append_str(&url, t->cfg.base_url) || !lx_buf_append_str(&url, w->path)) {
        lx_buf_free(&url);
        return lx_error(err, LLMUX_E_CONFIGURATION, "%s: request URL too long", acc->who);
    }
    lx_http_header headers[LX_WIRE_MAX_HEADERS];
    size_t nh = w->n_headers < LX_WIRE_MAX_HEADERS ? w->n_headers : LX_WIRE_MAX_HEADERS;
    for (size_t i = 0; i < nh; i++) headers[i] = (lx_http_header){w->headers[i].name, w->headers[i].value, w->headers[i].secret};

    lx_http_request hr = lx_http_request_default();
    hr.method = w->method;
    hr.url = url.data;
    hr.headers = headers;
    hr.n_headers = nh;
    hr.body = w->body.len ? w->body.data : NULL;
    hr.body_len = w->body.len;
    hr.timeouts.connect_ms = lx_pick_ms(timeouts ? timeouts->connect_ms : 0, LX_DEFAULT_CONNECT_MS);
    hr.timeouts.first_byte_ms = lx_pick_ms(timeouts ? timeouts->first_byte_ms : 0, LX_DEFAULT_FIRST_BYTE_MS);
    hr.timeouts.idle_ms = lx_pick_ms(timeouts ? timeouts->idle_ms : 0, LX_DEFAULT_IDLE_MS);
    hr.ca_bundle = timeouts ? timeouts->ca_bundle : NULL;
    hr.deadline_ns = deadline_ns;
    hr.cancel = cancel;
    hr.on_data = on_data;
    hr.user_data = acc;
    hr.keep_header_prefixes = t->provider->keep_headers; /* what map_error reads */
    lx_http_response resp;
    memset(&resp, 0, sizeof resp);
    st = lx_http_request_run(client, &hr, &resp, err);
    if (st == LLMUX_OK && (resp.status < 200 || resp.status > 299)) {
        st = lx_provider_map_response(t->provider, &t->cfg, &resp, err); /* 3xx named, the key masked */
    }
    lx_http_response_free(&resp);
    lx_buf_free(&url);
    return st;
}

static void wire_free(lx_wire_request *w) {
    for (size_t i = 0; i < LX_WIRE_MAX_HEADERS; i++)
        if (w->headers[i].secret) explicit_bzero(w->headers[i].value, sizeof w->headers[i].value);
    lx_buf_free(&w->body);
}

llmux_status lx_remote_embed(const lx_remote_target *t, const llmux_embed_request *req, const llmux_cancel *cancel,
                             int64_t deadline_ns, const lx_remote_settings *timeouts, llmux_embeddings **out,
                             llmux_error_info *err) {
    if (out) *out = NULL;
    if (!t || !t->provider || !req || !out) return lx_error(err, LLMUX_E_INTERNAL, "remote: embed called with NULL");
    const lx_provider *p = t->provider;
    body_acc acc = {.who = t->cfg.name ? t->cfg.name : p->protocol};
    if (!p->encode_embed || !p->decode_embed)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "provider %s (%s protocol) has no embeddings endpoint", acc.who,
                        p->protocol);
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, LLMUX_JSON_MAX_BYTES);
    lx_buf_init(&acc.buf, LX_WIRE_MAX_BODY);
    llmux_status st = p->encode_embed(&t->cfg, req, &w, err);
    if (st == LLMUX_OK) st = fetch(t, &w, cancel, deadline_ns, timeouts, &acc, err);
    if (st == LLMUX_OK) st = lx_redact_status(p->decode_embed(&t->cfg, acc.buf.data, acc.buf.len, out, err), err, NULL,
                                              t->cfg.api_key); /* a 200 body may echo the key */
    if (st == LLMUX_OK && (*out)->n != req->n_inputs) {
        st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %zu embeddings for %zu inputs", acc.who, (*out)->n,
                      req->n_inputs);
        llmux_embeddings_free(*out);
        *out = NULL;
    }
    wire_free(&w);
    lx_buf_free(&acc.buf);
    return st;
}

llmux_status lx_remote_count_tokens(const lx_remote_target *t, const llmux_request *req, const llmux_cancel *cancel,
                                    int64_t deadline_ns, const lx_remote_settings *timeouts, int64_t *n,
                                    llmux_error_info *err) {
    if (n) *n = 0;
    if (!t || !t->provider || !req || !n) return lx_error(err, LLMUX_E_INTERNAL, "remote: count_tokens called with NULL");
    const lx_provider *p = t->provider;
    body_acc acc = {.who = t->cfg.name ? t->cfg.name : p->protocol};
    if (!p->encode_count_tokens || !p->decode_count_tokens)
        return lx_error(err, LLMUX_E_INVALID_REQUEST,
                        "provider %s (%s protocol) has no token counting endpoint: counting is available for local "
                        "models and the anthropic and gemini protocols",
                        acc.who, p->protocol);
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, LLMUX_JSON_MAX_BYTES);
    lx_buf_init(&acc.buf, LX_WIRE_MAX_BODY);
    llmux_status st = p->encode_count_tokens(&t->cfg, req, &w, err);
    if (st == LLMUX_OK) st = fetch(t, &w, cancel, deadline_ns, timeouts, &acc, err);
    if (st == LLMUX_OK)
        st = lx_redact_status(p->decode_count_tokens(&t->cfg, acc.buf.data, acc.buf.len, n, err), err, NULL,
                              t->cfg.api_key);
    wire_free(&w);
    lx_buf_free(&acc.buf);
    return st;
}

llmux_status lx_remote_list_models(const lx_remote_target *t, const llmux_cancel *cancel, int64_t deadline_ns,
                                   const lx_remote_settings *timeouts, llmux_model_list **out, llmux_error_info *err) {
    if (out) *out = NULL;
    if (!t || !t->provider || !out) return lx_error(err, LLMUX_E_INTERNAL, "remote: list_models called with NULL");
    const lx_provider *p = t->provider;
    body_acc acc = {.who = t->cfg.name ? t->cfg.name : p->protocol};
    if (!p->encode_models || !p->decode_models)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "provider %s (%s protocol) cannot list its models", acc.who,
                        p->protocol);
    lx_wire_request w;
    memset(&w, 0, sizeof w);
    lx_buf_init(&w.body, LLMUX_JSON_MAX_BYTES);
    lx_buf_init(&acc.buf, LX_WIRE_MAX_BODY);
    char cursor[LX_MODELS_CURSOR_MAX + 1] = "", next[LX_MODELS_CURSOR_MAX + 1];
    llmux_model_list *all = NULL;
    llmux_status st = LLMUX_OK;
    /* One walk, one deadline and one cancel token: deadline_ns bounds all the pages together. */
    for (int page = 1; st == LLMUX_OK; page++) {
        lx_buf_reset(&acc.buf);
        llmux_model_list *l = NULL;
        st = p->encode_models(&t->cfg, cursor, &w, err);
        if (st == LLMUX_OK) st = fetch(t, &w, cancel, deadline_ns, timeouts, &acc, err);
        if (st == LLMUX_OK)
            st = lx_redact_status(p->decode_models(&t->cfg, acc.buf.data, acc.buf.len, next, sizeof next, &l, err), err,
                                  NULL, t->cfg.api_key); /* a 200 body may echo the key */
        if (st != LLMUX_OK) break;
        if (!all) {
            all = l;
        } else {
            st = lx_model_list_append(all, l, err);
            llmux_model_list_free(l);
            if (st != LLMUX_OK) break;
        }
        if (!next[0]) break;
        /* A cursor that does not move would list the same page forever. */
        if (strcmp(next, cursor) == 0)
            st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: model list: page %d repeats the previous page's cursor",
                          acc.who, page);
        else if (page >= LX_MODELS_MAX_PAGES)
            st = lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: model list: more than %d pages", acc.who,
                          LX_MODELS_MAX_PAGES);
        memcpy(cursor, next, strlen(next) + 1);
    }
    wire_free(&w);
    lx_buf_free(&acc.buf);
    if (st != LLMUX_OK) {
        llmux_model_list_free(all); /* no partial list */
        return st;
    }
    *out = all;
    return LLMUX_OK;
}
