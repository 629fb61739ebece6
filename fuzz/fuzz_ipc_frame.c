/* The IPC frame decoder and message parser (src/core/ipc_frame.h, ipc_message.h) on untrusted bytes,
 * read as a client's byte stream: frames are cut with lx_frame_peek under a small cap, each
 * payload goes through lx_ipc_msg_parse, and a request's canonical request through
 * llmux_request_from_json, as the server does. Beyond "no crash, no leak": a frame is never
 * reported whole before its last byte, a refusal always says why, an accepted message has every
 * field its type requires, an accepted request round-trips through llmux's JSON, and what the
 * builders write parses back to the same type and id. A call's body goes through the call parser
 * (core/ipc_call.h) as the engine child would read it, and what it accepted is rebuilt and parsed
 * again to the same op and arguments; a result's body goes through every result parser (the
 * runtime reads them from an untrusted child), an accepted embed result having exactly n * dim
 * finite floats. A pong's "models" (an engine's gauges) are copied and rebuilt to the same entries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmux.h"
#include "core/ipc_call.h"
#include "core/ipc_frame.h"
#include "core/ipc_message.h"

#define CAP ((size_t)64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(const char *p, size_t n) {
    lx_ipc_msg m;
    char err[256];
    err[0] = 0;
    if (!lx_ipc_msg_parse(p, n, &m, err, sizeof err)) {
        if (err[0] == 0) abort();
        if (m.id && !lx_ipc_id_ok(m.id)) abort();
        lx_ipc_msg_clear(&m);
        return;
    }
    switch (m.type) {
    case LX_IPC_HELLO:
        if (!m.token) abort();
        lx_ipc_token_equal("0000000000000000000000000000000000000000000000000000000000000000", m.token, m.token_len);
        break;
    case LX_IPC_REQUEST: {
        if (!m.id || !m.body) abort();
        char *body = json_dumps(m.body, JSON_COMPACT);
        if (!body) abort();
        llmux_request *req = NULL;
        llmux_error_info e;
        if (llmux_request_from_json(body, strlen(body), &req, &e) == LLMUX_OK) {
            char *j = llmux_request_to_json(req);
            llmux_request *back = NULL;
            if (!j || llmux_request_from_json(j, strlen(j), &back, &e) != LLMUX_OK) abort();
            llmux_request_free(back);
            llmux_free(j);
            llmux_request_free(req);
        } else if (req || e.message[0] == 0) {
            abort();
        }
        /* What the server would send back for it parses again, tagged with the same id (the
         * server wraps with its own session id, never the client's string). */
        {
            char *w = lx_ipc_wrap(LX_IPC_RESPONSE, "0123456789abcdef0123456789abcdef", m.id, body);
            lx_ipc_msg back;
            if (!w || !lx_ipc_msg_parse(w, strlen(w), &back, err, sizeof err) || back.type != LX_IPC_RESPONSE ||
                strcmp(back.id, m.id) != 0)
                abort();
            lx_ipc_msg_clear(&back);
            free(w);
        }
        free(body);
        break;
    }
    case LX_IPC_PING:
    case LX_IPC_PONG: {
        char *w = m.type == LX_IPC_PING ? lx_ipc_ping("0123456789abcdef0123456789abcdef", m.id)
                                        : lx_ipc_pong("0123456789abcdef0123456789abcdef", m.id, (int)(m.active & 0x7fffffff));
        lx_ipc_msg back;
        if (!w || !lx_ipc_msg_parse(w, strlen(w), &back, err, sizeof err) || back.type != m.type ||
            (m.id && strcmp(back.id, m.id) != 0))
            abort();
        lx_ipc_msg_clear(&back);
        free(w);
        if (m.type == LX_IPC_PONG) {
            /* An engine's gauges (read by the runtime from an untrusted child): what was accepted
             * is copied whole, and rebuilt it parses back to the same entries. */
            lx_ipc_model_stat st[LX_IPC_MAX_MODEL_STATS], st2[LX_IPC_MAX_MODEL_STATS];
            bool present, present2;
            size_t nst = lx_ipc_pong_models(&m, st, LX_IPC_MAX_MODEL_STATS, &present);
            if (present != (json_object_get(m.root, "models") != NULL)) abort();
            for (size_t i = 0; i < nst; i++)
                if (!st[i].model[0] || st[i].queued < 0 || st[i].prompt_cache_bytes < 0) abort();
            w = lx_ipc_pong_with_models("0123456789abcdef0123456789abcdef", m.id, 0, st, nst);
            if (!w || !lx_ipc_msg_parse(w, strlen(w), &back, err, sizeof err)) abort();
            if (lx_ipc_pong_models(&back, st2, LX_IPC_MAX_MODEL_STATS, &present2) != nst || !present2) abort();
            for (size_t i = 0; i < nst; i++)
                if (strcmp(st[i].model, st2[i].model) != 0 || st[i].queued != st2[i].queued) abort();
            lx_ipc_msg_clear(&back);
            free(w);
        }
        break;
    }
    case LX_IPC_CANCEL:
    case LX_IPC_EVENT:
    case LX_IPC_RESPONSE:
        if (!m.id) abort();
        break;
    case LX_IPC_ERROR: {
        if (!m.err_status || !m.err_message) abort();
        char *w = lx_ipc_error(m.session, m.id, m.err_status, m.err_message, m.fatal);
        lx_ipc_msg back;
        if (!w || !lx_ipc_msg_parse(w, strlen(w), &back, err, sizeof err) || back.type != LX_IPC_ERROR ||
            back.fatal != m.fatal || strcmp(back.err_message, m.err_message) != 0)
            abort();
        lx_ipc_msg_clear(&back);
        free(w);
        break;
    }
    case LX_IPC_WELCOME:
        if (!m.session) abort();
        break;
    case LX_IPC_CALL: {
        if (!m.id || !m.body) abort();
        lx_ipc_call c;
        char why[256] = "";
        if (!lx_ipc_call_parse(m.body, &c, why, sizeof why)) {
            if (!why[0] || c.inputs) abort();
            break;
        }
        char *again = NULL;
        if (c.op == LX_IPC_OP_EMBED) {
            if (c.n_inputs < 1 || !c.model) abort();
            again = lx_ipc_call_embed(c.model, c.inputs, c.n_inputs, c.dimensions, c.deadline_ms);
        } else if (c.op == LX_IPC_OP_COUNT_TOKENS) {
            char *r = json_dumps(c.request, JSON_COMPACT);
            if (!r) abort();
            again = lx_ipc_call_count_tokens(r, c.deadline_ms);
            free(r);
        } else {
            if (c.op != LX_IPC_OP_MODELS_LOADED && !c.model) abort();
            again = lx_ipc_call_model(c.op, c.model, c.deadline_ms);
        }
        json_t *v = again ? json_loads(again, 0, NULL) : NULL;
        lx_ipc_call back;
        if (!v || !lx_ipc_call_parse(v, &back, why, sizeof why) || back.op != c.op || back.n_inputs != c.n_inputs ||
            back.dimensions != c.dimensions || back.deadline_ms != c.deadline_ms ||
            (c.model && strcmp(back.model, c.model) != 0))
            abort();
        lx_ipc_call_clear(&back);
        json_decref(v);
        free(again);
        lx_ipc_call_clear(&c);
        break;
    }
    case LX_IPC_RESULT: {
        if (!m.id || !m.body) abort();
        const char *model;
        size_t dim;
        float *data;
        int64_t tokens;
        char why[256];
        size_t want = json_integer_value(json_object_get(m.body, "n")) > 0
                          ? (size_t)json_integer_value(json_object_get(m.body, "n")) : 1;
        if (lx_ipc_result_embed_parse(m.body, want, &model, &dim, &data, &tokens, why, sizeof why)) {
            for (size_t i = 0; i < want * dim; i++)
                if (!(data[i] == data[i]) || data[i] - data[i] != 0) abort(); /* finite, all of them read */
            free(data);
        } else if (data) {
            abort();
        }
        lx_ipc_result_count_parse(m.body, &tokens, why, sizeof why);
        const json_t *models;
        lx_ipc_result_models_parse(m.body, &models, why, sizeof why);
        lx_ipc_result_empty_parse(m.body, why, sizeof why);
        break;
    }
    }
    lx_ipc_msg_clear(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t at = 0;
    while (at < size) {
        size_t len = 0;
        lx_frame_status st = lx_frame_peek(data + at, size - at, CAP, &len);
        if (st == LX_FRAME_TOO_LARGE) {
            if (len <= CAP) abort();
            break; /* the server answers with a fatal error: the stream is unusable */
        }
        if (st == LX_FRAME_NEED_MORE) break;
        if (st != LX_FRAME_OK || len > CAP || size - at < LX_FRAME_HEADER_BYTES + len) abort();
        /* One byte short is never a whole frame. */
        size_t short_len;
        if (lx_frame_peek(data + at, LX_FRAME_HEADER_BYTES + len - 1, CAP, &short_len) != LX_FRAME_NEED_MORE) abort();
        const char *p = (const char *)data + at + LX_FRAME_HEADER_BYTES;
        check_message(p, len);
        /* The encoder writes the same frame back. */
        uint8_t *enc;
        size_t enc_len;
        if (lx_frame_encode(p, len, CAP, &enc, &enc_len) != LX_FRAME_OK || enc_len != LX_FRAME_HEADER_BYTES + len ||
            memcmp(enc, data + at, enc_len) != 0)
            abort();
        free(enc);
        at += LX_FRAME_HEADER_BYTES + len;
    }
    return 0;
}
