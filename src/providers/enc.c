/* The request-encoder builders (enc.h), written once for every adapter that uses them. */
#include "providers/enc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/utf8.h"
#include "providers/json_util.h"

bool lx_enc_failf(lx_enc *c, llmux_status st, const char *fmt, ...) {
    if (c->st != LLMUX_OK) return false;
    char msg[sizeof c->err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->st = lx_error(c->err, st, "%s: %s", c->who, msg);
    return false;
}

bool lx_enc_oom(lx_enc *c) { return lx_enc_failf(c, LLMUX_E_OUT_OF_MEMORY, "out of memory while encoding the request"); }

json_t *lx_enc_str(lx_enc *c, const char *s, const char *where) {
    if (!s) s = "";
    json_t *j = json_string(s);
    if (!j) {
        if (!lx_utf8_valid(s, strlen(s))) lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s: not valid UTF-8", where);
        else lx_enc_oom(c);
    }
    return j;
}

bool lx_enc_set(lx_enc *c, json_t *obj, const char *key, json_t *v) {
    if (!v) return c->st == LLMUX_OK ? lx_enc_oom(c) : false;
    if (json_object_set_new(obj, key, v) != 0) return lx_enc_oom(c);
    return true;
}

bool lx_enc_push(lx_enc *c, json_t *arr, json_t *v) {
    if (!v) return c->st == LLMUX_OK ? lx_enc_oom(c) : false;
    if (json_array_append_new(arr, v) != 0) return lx_enc_oom(c);
    return true;
}

bool lx_enc_set_real(lx_enc *c, json_t *obj, const char *key, double v) {
    return llmux_is_unset(v) ? true : lx_enc_set(c, obj, key, json_real(v));
}

json_t *lx_enc_obj(lx_enc *c, const char *type) {
    json_t *o = json_object();
    if (!o) {
        lx_enc_oom(c);
        return NULL;
    }
    if (type && !lx_enc_set(c, o, "type", json_string(type))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *lx_enc_parse_object(lx_enc *c, const char *text, const char *where) {
    if (!text || !*text) return lx_enc_obj(c, NULL);
    json_t *j = lx_json_parse_request(text, where, c->err);
    if (!j) {
        c->st = LLMUX_E_INVALID_REQUEST;
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s: must be a JSON object", where);
        return NULL;
    }
    return j;
}

bool lx_enc_system_texts(lx_enc *c, json_t *arr, lx_enc_text_fn text) {
    const llmux_request *req = c->req;
    char where[64];
    if (req->system && !lx_enc_push(c, arr, text(c, req->system, "system"))) return false;
    for (size_t i = 0; i < req->n_messages; i++) {
        const llmux_message *m = &req->messages[i];
        if (m->role != LLMUX_ROLE_SYSTEM) continue;
        for (size_t j = 0; j < m->n_parts; j++) {
            snprintf(where, sizeof where, "messages[%zu].parts[%zu]", i, j);
            if (m->parts[j].type != LLMUX_PART_TEXT)
                return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s: a system message holds text only", where);
            if (!lx_enc_push(c, arr, text(c, m->parts[j].text, where))) return false;
        }
    }
    return true;
}
