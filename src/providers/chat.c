/* The chat-style body pieces (chat.h), written once for openai and ollama. */
#include "providers/chat.h"

#include <stdio.h>

#include "core/error.h"
#include "providers/json_util.h"

llmux_status lx_chat_messages(json_t *body, const llmux_request *req, lx_chat_message_fn add, const char *who,
                              llmux_error_info *err) {
    json_t *msgs = json_array();
    if (!msgs || json_object_set_new(body, "messages", msgs) != 0) goto oom;
    if (req->system) {
        json_t *o = json_pack("{s:s, s:s}", "role", "system", "content", req->system);
        if (!o || json_array_append_new(msgs, o) != 0) goto oom;
    }
    if (req->n_messages > 0 && !req->messages) return lx_error(err, LLMUX_E_INVALID_REQUEST, "messages: NULL");
    for (size_t i = 0; i < req->n_messages; i++) {
        llmux_status st = add(msgs, &req->messages[i], i, err);
        if (st != LLMUX_OK) return st;
    }
    if (json_array_size(msgs) == 0) return lx_error(err, LLMUX_E_INVALID_REQUEST, "messages: empty");
    return LLMUX_OK;
oom:
    return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
}

/* Adds key: v (a new reference, stolen); false when v is NULL or out of memory. */
static bool set_new(json_t *obj, const char *key, json_t *v) { return v && json_object_set_new(obj, key, v) == 0; }

llmux_status lx_chat_tools(json_t *body, const llmux_request *req, const char *who, llmux_error_info *err) {
    if (req->n_tools == 0) return LLMUX_OK;
    json_t *tools = json_array();
    if (!set_new(body, "tools", tools)) goto oom;
    for (size_t i = 0; i < req->n_tools; i++) {
        const llmux_tool *t = &req->tools[i];
        if (!t->name || !*t->name) return lx_error(err, LLMUX_E_INVALID_REQUEST, "tools[%zu].name: missing", i);
        json_t *params;
        if (t->parameters) {
            char field[48];
            snprintf(field, sizeof field, "tools[%zu].parameters", i);
            params = lx_json_parse_request(t->parameters, field, err);
            if (!params) return LLMUX_E_INVALID_REQUEST;
        } else {
            params = json_pack("{s:s, s:{}}", "type", "object", "properties");
        }
        json_t *fn = json_object();
        bool ok = fn && set_new(fn, "name", json_string(t->name)) &&
                  (!t->description || set_new(fn, "description", json_string(t->description))) &&
                  set_new(fn, "parameters", params);
        if (!ok) {
            json_decref(fn);
            goto oom;
        }
        json_t *o = json_pack("{s:s, s:o}", "type", "function", "function", fn);
        if (!o || json_array_append_new(tools, o) != 0) goto oom;
    }
    return LLMUX_OK;
oom:
    return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", who);
}
