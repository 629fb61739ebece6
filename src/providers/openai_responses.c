/* OpenAI Responses API adapter (POST /responses): the models OpenAI serves only there (the -pro
 * and -codex models) and servers that speak it. Stateless: every request carries the whole
 * conversation with `store: false`, and reasoning travels back as the encrypted items the API
 * returns (`include: ["reasoning.encrypted_content"]`), so no response id is ever needed.
 *
 * Wire shapes (platform.openai.com/docs/api-reference/responses, and the recorded traffic in
 * ../shared/fixtures/providers/openai_responses): input items are messages ({role, content}),
 * {type: function_call, call_id, name, arguments}, {type: function_call_output, call_id, output}
 * and {type: reasoning, id, encrypted_content, summary}; tools are flat ({type: function, name,
 * description, parameters}); a stream is `event:` + `data:` per event with no [DONE], ending with
 * response.completed, response.incomplete or response.failed; function-call arguments stream
 * keyed by output_index (the call's call_id and name come only with output_item.added).
 *
 * Canonical mapping: each output item is its own part; a reasoning item's signature is
 * "<item id>|<encrypted_content>" (opaque to clients, split again when sent back). Usage comes
 * only with the terminal event. Embeddings and model lists are the Chat Completions adapter's
 * (same host, same endpoints). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/emitter.h"
#include "core/error.h"
#include "providers/embed_models.h"
#include "providers/enc.h"
#include "providers/errors.h"
#include "providers/json_util.h"
#include "providers/openai_internal.h"
#include "providers/ratelimit.h"
#include "providers/reasoning.h"
#include "providers/redact.h"
#include "providers/wire.h"
#include "transport/sse.h"

#define WHO "openai-responses"

/* ------------------------------------------------------------ encode */

static json_t *image_item(lx_enc *c, const llmux_part *p) {
    json_t *url = NULL;
    if (p->image_url) url = lx_enc_str(c, p->image_url, "image_url");
    else if (p->data && p->mime_type) url = json_sprintf("data:%s;base64,%s", p->mime_type, p->data);
    else {
        lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "an image needs image_url or data + mime_type");
        return NULL;
    }
    json_t *o = lx_enc_obj(c, "input_image");
    return lx_enc_set(c, o, "image_url", url) ? o : NULL;
}

/* A document as an input_file: its bytes as a data URL, or its URL (file_url). */
static json_t *file_item(lx_enc *c, const llmux_part *p) {
    json_t *o = lx_enc_obj(c, "input_file");
    if (!o) return NULL;
    bool ok = p->image_url ? lx_enc_set(c, o, "file_url", lx_enc_str(c, p->image_url, "file url"))
              : p->data && p->mime_type
                  ? lx_enc_set(c, o, "filename", lx_enc_str(c, p->name && *p->name ? p->name : "document", "file name")) &&
                        lx_enc_set(c, o, "file_data", json_sprintf("data:%s;base64,%s", p->mime_type, p->data))
                  : (lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "a file needs image_url or data + mime_type"), false);
    if (!ok) json_decref(o);
    return ok ? o : NULL;
}

/* A user or system message: its text, images and documents as input parts. breakpoints: a
 * text part's cache breakpoint goes as OpenAI's explicit one (lx_openai_explicit_cache). */
static bool input_message(lx_enc *c, json_t *input, const char *role, const llmux_message *m, bool breakpoints) {
    json_t *msg = lx_enc_obj(c, NULL);
    json_t *content = json_array();
    if (!lx_enc_push(c, input, msg) || !lx_enc_set(c, msg, "role", json_string(role)) ||
        !lx_enc_set(c, msg, "content", content))
        return false;
    for (size_t i = 0; i < m->n_parts; i++) {
        const llmux_part *p = &m->parts[i];
        json_t *part = NULL;
        if (p->type == LLMUX_PART_TEXT) {
            part = lx_enc_obj(c, "input_text");
            if (!lx_enc_set(c, part, "text", lx_enc_str(c, p->text, "text"))) return false;
            if (breakpoints && p->cache != LLMUX_CACHE_NONE &&
                !lx_enc_set(c, part, "prompt_cache_breakpoint", json_pack("{s:s}", "mode", "explicit")))
                return false;
        } else if (p->type == LLMUX_PART_IMAGE) {
            if (!(part = image_item(c, p))) return false;
        } else if (p->type == LLMUX_PART_FILE) {
            if (!(part = file_item(c, p))) return false;
        } else if (p->type == LLMUX_PART_NATIVE) {
            continue; /* another provider's own block */
        } else {
            return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "a %s message holds only text, images and files", role);
        }
        if (!lx_enc_push(c, content, part)) return false;
    }
    return true;
}

/* A reasoning part as the reasoning item it came from: "<id>|<encrypted_content>" as this
 * adapter writes signatures. Reasoning without such a signature (another provider's, or text
 * only) cannot be replayed to the API and is left out, as Chat Completions leaves it out. */
static bool reasoning_item(lx_enc *c, json_t *input, const llmux_part *p) {
    const char *sig = p->signature;
    const char *bar = sig ? strchr(sig, '|') : NULL;
    if (!bar || bar == sig || strncmp(sig, "rs_", 3) != 0 || !bar[1]) return true;
    json_t *it = lx_enc_obj(c, "reasoning");
    json_t *summary = json_array();
    if (!lx_enc_push(c, input, it) || !lx_enc_set(c, it, "id", json_stringn(sig, (size_t)(bar - sig))) ||
        !lx_enc_set(c, it, "encrypted_content", lx_enc_str(c, bar + 1, "signature")) ||
        !lx_enc_set(c, it, "summary", summary))
        return false;
    if (p->text && *p->text && !p->redacted) {
        json_t *s = lx_enc_obj(c, "summary_text");
        if (!lx_enc_push(c, summary, s) || !lx_enc_set(c, s, "text", lx_enc_str(c, p->text, "reasoning"))) return false;
    }
    return true;
}

/* A NATIVE part of this API's own (a built-in tool's item: web_search_call, ...) as the item it
 * was; another provider's is left out. */
static bool native_item(lx_enc *c, json_t *input, const llmux_part *p) {
    if (!p->name || strcmp(p->name, "openai_responses") != 0) return true;
    json_t *it = json_loads(p->text ? p->text : "", JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(it)) {
        json_decref(it);
        return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "a native openai_responses part that is not a JSON object");
    }
    return lx_enc_push(c, input, it);
}

/* An assistant turn: reasoning and built-in tools' items in their order, its text as one
 * assistant message, then its calls. */
static bool assistant_items(lx_enc *c, json_t *input, const llmux_message *m) {
    size_t n_text = 0;
    for (size_t i = 0; i < m->n_parts; i++) {
        const llmux_part *p = &m->parts[i];
        if (p->type == LLMUX_PART_REASONING && !reasoning_item(c, input, p)) return false;
        if (p->type == LLMUX_PART_NATIVE && !native_item(c, input, p)) return false;
        if (p->type == LLMUX_PART_TEXT) n_text++;
    }
    if (n_text) {
        json_t *msg = lx_enc_obj(c, "message");
        json_t *content = json_array();
        if (!lx_enc_push(c, input, msg) || !lx_enc_set(c, msg, "role", json_string("assistant")) ||
            !lx_enc_set(c, msg, "content", content))
            return false;
        for (size_t i = 0; i < m->n_parts; i++) {
            if (m->parts[i].type != LLMUX_PART_TEXT) continue;
            json_t *t = lx_enc_obj(c, "output_text");
            if (!lx_enc_push(c, content, t) || !lx_enc_set(c, t, "text", lx_enc_str(c, m->parts[i].text, "text")))
                return false;
        }
    }
    for (size_t i = 0; i < m->n_parts; i++) {
        const llmux_part *p = &m->parts[i];
        if (p->type == LLMUX_PART_TOOL_CALL) {
            json_t *fc = lx_enc_obj(c, "function_call");
            if (!lx_enc_push(c, input, fc) || !lx_enc_set(c, fc, "call_id", lx_enc_str(c, p->id, "tool call id")) ||
                !lx_enc_set(c, fc, "name", lx_enc_str(c, p->name, "tool call name")) ||
                !lx_enc_set(c, fc, "arguments", lx_enc_str(c, p->arguments && *p->arguments ? p->arguments : "{}",
                                                           "tool call arguments")))
                return false;
        } else if (p->type == LLMUX_PART_IMAGE || p->type == LLMUX_PART_FILE || p->type == LLMUX_PART_TOOL_RESULT) {
            return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "an assistant message holds text, reasoning and tool calls");
        }
    }
    return true;
}

static bool tool_outputs(lx_enc *c, json_t *input, const llmux_message *m) {
    for (size_t i = 0; i < m->n_parts; i++) {
        const llmux_part *p = &m->parts[i];
        if (p->type == LLMUX_PART_NATIVE) continue; /* another provider's own block */
        if (p->type != LLMUX_PART_TOOL_RESULT)
            return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "a tool message holds only tool results");
        json_t *o = lx_enc_obj(c, "function_call_output");
        if (!lx_enc_push(c, input, o) || !lx_enc_set(c, o, "call_id", lx_enc_str(c, p->id, "tool result id")) ||
            !lx_enc_set(c, o, "output", lx_enc_str(c, p->text, "tool result")))
            return false;
    }
    return true;
}

static bool encode_input(lx_enc *c, json_t *body, bool breakpoints) {
    const llmux_request *req = c->req;
    if (req->n_messages == 0 && !req->system) return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "messages: none");
    if (req->system && !lx_enc_set(c, body, "instructions", lx_enc_str(c, req->system, "system"))) return false;
    json_t *input = json_array();
    if (!lx_enc_set(c, body, "input", input)) return false;
    for (size_t i = 0; i < req->n_messages; i++) {
        const llmux_message *m = &req->messages[i];
        bool ok = true;
        switch (m->role) {
        case LLMUX_ROLE_SYSTEM: ok = input_message(c, input, "system", m, breakpoints); break;
        case LLMUX_ROLE_USER: ok = input_message(c, input, "user", m, breakpoints); break;
        case LLMUX_ROLE_ASSISTANT: ok = assistant_items(c, input, m); break;
        case LLMUX_ROLE_TOOL: ok = tool_outputs(c, input, m); break;
        default: ok = lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "messages[%zu]: unknown role", i);
        }
        if (!ok) return false;
    }
    return true;
}

static bool encode_tools(lx_enc *c, json_t *body) {
    const llmux_request *req = c->req;
    if (req->n_tools == 0) {
        if (req->tool_choice == LLMUX_TOOL_CHOICE_REQUIRED || req->tool_choice == LLMUX_TOOL_CHOICE_TOOL)
            return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "tool_choice: requires tools");
        return true;
    }
    json_t *tools = json_array();
    if (!lx_enc_set(c, body, "tools", tools)) return false;
    for (size_t i = 0; i < req->n_tools; i++) {
        const llmux_tool *t = &req->tools[i];
        json_t *o = lx_enc_obj(c, "function");
        json_t *params = lx_enc_parse_object(c, t->parameters, "tools[].parameters");
        if (!lx_enc_push(c, tools, o) || !lx_enc_set(c, o, "name", lx_enc_str(c, t->name, "tools[].name")) ||
            !lx_enc_set(c, o, "parameters", params) ||
            (t->description && !lx_enc_set(c, o, "description", lx_enc_str(c, t->description, "tools[].description"))))
            return false;
        /* The API defaults strict to true, which refuses schemas without additionalProperties:
         * false; Chat Completions' default is false, and so is the canonical request's. */
        if (!lx_enc_set(c, o, "strict", json_false())) return false;
    }
    json_t *choice = NULL;
    switch (req->tool_choice) {
    case LLMUX_TOOL_CHOICE_AUTO: break;
    case LLMUX_TOOL_CHOICE_NONE: choice = json_string("none"); break;
    case LLMUX_TOOL_CHOICE_REQUIRED: choice = json_string("required"); break;
    case LLMUX_TOOL_CHOICE_TOOL:
        choice = lx_enc_obj(c, "function");
        if (!lx_enc_set(c, choice, "name", lx_enc_str(c, req->tool_choice_name, "tool_choice_name"))) return false;
        break;
    default: return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "tool_choice: unknown value %d", (int)req->tool_choice);
    }
    if (choice && !lx_enc_set(c, body, "tool_choice", choice)) return false;
    return !req->single_tool_call || lx_enc_set(c, body, "parallel_tool_calls", json_false());
}

static bool encode_format(lx_enc *c, json_t *body) {
    const llmux_request *req = c->req;
    if (req->response_format == LLMUX_FORMAT_TEXT) return true;
    json_t *text = lx_enc_obj(c, NULL);
    json_t *fmt = lx_enc_obj(c, req->response_format == LLMUX_FORMAT_JSON_SCHEMA ? "json_schema" : "json_object");
    if (!lx_enc_set(c, body, "text", text) || !lx_enc_set(c, text, "format", fmt)) return false;
    if (req->response_format != LLMUX_FORMAT_JSON_SCHEMA) return true;
    return lx_enc_set(c, fmt, "name",
                      lx_enc_str(c, req->schema_name && *req->schema_name ? req->schema_name : "response", "schema_name")) &&
           lx_enc_set(c, fmt, "schema", lx_enc_parse_object(c, req->schema, "schema")) &&
           lx_enc_set(c, fmt, "strict", json_boolean(req->schema_strict));
}

static bool encode_sampling(lx_enc *c, json_t *body) {
    const llmux_sampling *s = &c->req->sampling;
    /* The Responses API has no stop sequences; dropping them would change what the answer is. */
    if (s->n_stop > 0)
        return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "stop: the Responses API has no stop sequences");
    if (s->max_tokens != LLMUX_UNSET_INT) {
        if (s->max_tokens < 1) return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "sampling.max_tokens: must be >= 1");
        if (!lx_enc_set(c, body, "max_output_tokens", json_integer(s->max_tokens))) return false;
    }
    /* seed, top_k, min_p and the penalties: no such knobs here; sampling hints, ignored. */
    if (!lx_enc_set_real(c, body, "temperature", s->temperature) || !lx_enc_set_real(c, body, "top_p", s->top_p))
        return false;
    const char *effort = lx_reasoning_effort_text(c->req);
    if (effort) {
        json_t *r = lx_enc_obj(c, NULL);
        if (!lx_enc_set(c, body, "reasoning", r) || !lx_enc_set(c, r, "effort", json_string(effort))) return false;
    }
    return true;
}

/* provider_options.openai_responses: hosted_tools, OpenAI's own tools as the Responses API takes
 * them (llmux serve puts a client's web_search there), appended to the tools written from the
 * request; any other key set on the body as it is (a tool_choice naming a hosted tool). Before
 * provider_options.openai, which wins. */
static llmux_status merge_hosted(const llmux_request *req, json_t *body, llmux_error_info *err) {
    json_t *o = NULL;
    llmux_status st = lx_provider_options_get(req->provider_options, "openai_responses", &o, err);
    if (st != LLMUX_OK || !o) return st;
    json_t *hosted = json_object_get(o, "hosted_tools");
    if (!json_is_object(o) || (hosted && !json_is_array(hosted))) {
        json_decref(o);
        return lx_error(err, LLMUX_E_INVALID_REQUEST,
                        "provider_options.openai_responses: must be a JSON object, its hosted_tools an array");
    }
    bool ok = true;
    if (hosted && json_array_size(hosted)) {
        json_t *tools = json_object_get(body, "tools");
        if (!tools) ok = json_object_set_new(body, "tools", tools = json_array()) == 0;
        ok = ok && json_is_array(tools) && json_array_extend(tools, hosted) == 0;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) if (ok && strcmp(k, "hosted_tools") != 0) ok = json_object_set(body, k, v) == 0;
    json_decref(o);
    return ok ? LLMUX_OK : lx_error(err, LLMUX_E_OUT_OF_MEMORY, WHO ": out of memory");
}

static llmux_status responses_encode(const lx_provider_config *cfg, const llmux_request *req, lx_wire_request *out,
                                     llmux_error_info *err) {
    if (!cfg || !req || !out) return lx_error(err, LLMUX_E_INTERNAL, WHO ": encode called with NULL");
    const char *model = cfg->model && *cfg->model ? cfg->model : req->model;
    if (!model || !*model) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: missing");
    lx_enc c = {.err = err, .st = LLMUX_OK, .who = WHO, .req = req};
    json_t *body = json_object();
    if (!body) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, WHO ": out of memory");
    bool ok = lx_enc_set(&c, body, "model", lx_enc_str(&c, model, "model")) && encode_input(&c, body, lx_openai_explicit_cache(cfg, model)) &&
              encode_tools(&c, body) && encode_format(&c, body) && encode_sampling(&c, body) &&
              lx_enc_set(&c, body, "store", json_false()) &&
              lx_enc_set(&c, body, "include", json_pack("[s]", "reasoning.encrypted_content")) &&
              lx_enc_set(&c, body, "stream", json_boolean(req->stream));
    if (ok && !lx_openai_caller_fields(cfg, req, body)) ok = lx_enc_oom(&c);
    if (ok) ok = (c.st = merge_hosted(req, body, err)) == LLMUX_OK;
    if (ok) {
        c.st = lx_merge_provider_options(body, req->provider_options, "openai", err);
        if (c.st == LLMUX_OK) c.st = lx_openai_merge_named(cfg, req, body, err);
        ok = c.st == LLMUX_OK;
    }
    if (ok) {
        lx_buf_reset(&out->body);
        if (!lx_json_dump_buf(body, &out->body))
            ok = lx_enc_failf(&c, LLMUX_E_INVALID_REQUEST, "the request body exceeds its size cap");
    }
    json_decref(body);
    if (!ok) return c.st != LLMUX_OK ? c.st : LLMUX_E_INTERNAL;
    if (!lx_wire_set(out, "POST", "/responses")) return lx_error(err, LLMUX_E_INTERNAL, WHO ": path too long");
    out->stream = req->stream;
    out->accept_types = req->stream ? "text/event-stream,application/json" : NULL;
    bool h = lx_wire_add_header(out, "Content-Type", "application/json", false) &&
             lx_wire_add_header(out, "Accept", req->stream ? "text/event-stream" : "application/json", false);
    if (h && !lx_wire_add_bearer(out, cfg))
        return lx_error(err, LLMUX_E_CONFIGURATION, "api key: too long or contains a line break");
    return h ? LLMUX_OK : lx_error(err, LLMUX_E_INTERNAL, WHO ": too many headers");
}

/* ------------------------------------------------------------ decode */

struct lx_decoder {
    char provider[64];
    bool stream;
    bool sniffed, json_body; /* a JSON body where a stream was asked for: decoded whole */
    lx_emitter em;
    lx_sse_parser sse;
    lx_buf body;
    bool tool_seen, ended, failed;
    int64_t web_searches; /* web_search_call items that ran a search, billed per call (pricing.h) */
    char *key;
    llmux_error_info last_err;
    llmux_error_info *work;
};

static llmux_status protocol(lx_decoder *d, llmux_error_info *err, const char *what) {
    return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %s", d->provider, what);
}

static llmux_status start(lx_decoder *d, const json_t *resp, llmux_error_info *err) {
    return lx_emit_start(&d->em, lx_json_str(resp, "id"), lx_json_str(resp, "model"), err);
}

/* The signature of a reasoning item: "<id>|<encrypted_content>", or NULL without the latter. */
static char *reasoning_signature(const json_t *item) {
    const char *id = lx_json_str(item, "id"), *enc = lx_json_str(item, "encrypted_content");
    if (!id || !enc || !*enc) return NULL;
    size_t n = strlen(id) + strlen(enc) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s|%s", id, enc);
    return s;
}

/* Starts the call of a function_call item (call_id and name come only with the item), with the
 * arguments it already holds (a whole body's; "" when they stream). */
static llmux_status start_call(lx_decoder *d, int64_t idx, const json_t *it, llmux_error_info *err) {
    d->tool_seen = true;
    const char *call_id = lx_json_str(it, "call_id"), *name = lx_json_str(it, "name");
    if (!call_id || !name) return protocol(d, err, "function_call item without call_id or name");
    llmux_status st = lx_emit_tool_start(&d->em, idx, call_id, name, err);
    json_t *a = json_object_get(it, "arguments");
    if (st == LLMUX_OK && json_is_string(a) && json_string_length(a))
        st = lx_emit_tool_delta(&d->em, idx, json_string_value(a), json_string_length(a), err);
    return st;
}

/* A whole output item: a non-streaming body's, or output_item.done's (done: what streamed
 * before is the item's content, so only what never streams is emitted: a call's end, a
 * reasoning item's signature). */
static llmux_status item(lx_decoder *d, int64_t idx, const json_t *it, bool done, llmux_error_info *err) {
    const char *type = lx_json_str(it, "type");
    if (!type) return protocol(d, err, "output item without a type");
    llmux_status st = LLMUX_OK;
    if (strcmp(type, "message") == 0) {
        if (done) return LLMUX_OK;
        lx_emitter_break_text(&d->em);
        json_t *content = lx_json_arr(it, "content");
        size_t i;
        json_t *p;
        json_array_foreach(content, i, p) {
            const char *pt = lx_json_str(p, "type");
            json_t *t = json_object_get(p, pt && strcmp(pt, "refusal") == 0 ? "refusal" : "text");
            if (json_is_string(t) && (st = lx_emit_text(&d->em, json_string_value(t), json_string_length(t), err)) != LLMUX_OK)
                return st;
        }
        return LLMUX_OK;
    }
    if (strcmp(type, "function_call") == 0) {
        if (!lx_emitter_has_tool(&d->em, idx)) st = start_call(d, idx, it, err);
        if (st == LLMUX_OK && lx_emitter_tool_open(&d->em, idx)) st = lx_emit_tool_end(&d->em, idx, err);
        return st;
    }
    if (strcmp(type, "reasoning") == 0) {
        if (!done) {
            lx_emitter_break_reasoning(&d->em);
            size_t i;
            json_t *p;
            json_array_foreach(lx_json_arr(it, "summary"), i, p) {
                json_t *t = json_object_get(p, "text");
                if (json_is_string(t) &&
                    (st = lx_emit_reasoning(&d->em, json_string_value(t), json_string_length(t), NULL, false, err)) != LLMUX_OK)
                    return st;
            }
        }
        char *sig = reasoning_signature(it);
        if (sig) st = lx_emit_reasoning(&d->em, NULL, 0, sig, false, err);
        free(sig);
        lx_emitter_break_reasoning(&d->em);
        return st;
    }
    /* Built-in tools' items (web_search_call, file_search_call, ...) and item types added later
     * have no canonical part: passed on whole as NATIVE (a Responses client gets them back, and
     * sends them back), once complete. */
    json_t *action = lx_json_obj(it, "action");
    const char *at = lx_json_str(action, "type");
    if (strcmp(type, "web_search_call") == 0 && (!at || strcmp(at, "search") == 0)) d->web_searches++;
    lx_buf tmp;
    lx_buf_init(&tmp, LX_WIRE_MAX_BODY);
    st = lx_json_dump_buf(it, &tmp) ? lx_emit_native(&d->em, "openai_responses", tmp.data, tmp.len, err)
                                    : lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", d->provider);
    lx_buf_free(&tmp);
    return st;
}

static llmux_status usage(lx_decoder *d, const json_t *u, llmux_error_info *err) {
    if (!json_is_object(u)) return LLMUX_OK;
    llmux_usage x = llmux_usage_default();
    int64_t v;
    if (lx_json_i64(u, "input_tokens", &v)) x.input_tokens = v;
    if (lx_json_i64(u, "output_tokens", &v)) x.output_tokens = v;
    if (lx_json_i64(u, "total_tokens", &v)) x.total_tokens = v;
    if (lx_json_i64(lx_json_obj(u, "input_tokens_details"), "cached_tokens", &v)) x.cached_input_tokens = v;
    if (lx_json_i64(lx_json_obj(u, "output_tokens_details"), "reasoning_tokens", &v)) x.reasoning_tokens = v;
    if (d->web_searches > 0) x.web_search_requests = d->web_searches;
    return lx_emit_usage(&d->em, &x, err);
}

/* The response object's end: its status as the finish (or its error), usage first. */
static llmux_status end_response(lx_decoder *d, const json_t *resp, llmux_error_info *err) {
    const char *status = lx_json_str(resp, "status");
    if (status && strcmp(status, "failed") == 0) {
        json_t *e = lx_json_obj(resp, "error");
        return lx_openai_error_from_object(d->provider, e ? e : resp, 0, NULL, err);
    }
    llmux_status st = usage(d, lx_json_obj(resp, "usage"), err);
    if (st != LLMUX_OK) return st;
    d->ended = true;
    llmux_finish_reason r = d->tool_seen ? LLMUX_FINISH_TOOL_CALLS : LLMUX_FINISH_STOP;
    if (status && strcmp(status, "incomplete") == 0) {
        const char *why = lx_json_str(lx_json_obj(resp, "incomplete_details"), "reason");
        r = why && strcmp(why, "content_filter") == 0 ? LLMUX_FINISH_CONTENT_FILTER : LLMUX_FINISH_LENGTH;
    }
    return lx_emit_finish(&d->em, r, err);
}

static llmux_status whole_response(lx_decoder *d, const json_t *resp, llmux_error_info *err) {
    if (!json_is_object(resp) || !lx_json_arr(resp, "output"))
        return protocol(d, err, "response without an output array");
    llmux_status st = start(d, resp, err);
    size_t i;
    json_t *it;
    json_array_foreach(lx_json_arr(resp, "output"), i, it) {
        if (st == LLMUX_OK) st = item(d, (int64_t)i, it, false, err);
    }
    return st == LLMUX_OK ? end_response(d, resp, err) : st;
}

static llmux_status on_event(lx_decoder *d, const json_t *ev, llmux_error_info *err) {
    const char *type = lx_json_str(ev, "type");
    if (!type) return protocol(d, err, "stream event without a type");
    if (d->ended) return LLMUX_OK;
    if (strcmp(type, "error") == 0) return lx_openai_error_from_object(d->provider, ev, 0, NULL, err);
    json_t *resp = lx_json_obj(ev, "response");
    if (strcmp(type, "response.created") == 0 || strcmp(type, "response.in_progress") == 0 ||
        strcmp(type, "response.queued") == 0)
        return start(d, resp, err);
    if (strcmp(type, "response.completed") == 0 || strcmp(type, "response.incomplete") == 0 ||
        strcmp(type, "response.failed") == 0) {
        if (!json_is_object(resp)) return protocol(d, err, "terminal event without its response");
        llmux_status st = start(d, resp, err);
        return st == LLMUX_OK ? end_response(d, resp, err) : st;
    }
    int64_t idx = -1;
    lx_json_i64(ev, "output_index", &idx);
    if (strcmp(type, "response.output_item.added") == 0 || strcmp(type, "response.output_item.done") == 0) {
        json_t *it = lx_json_obj(ev, "item");
        if (!it || idx < 0) return protocol(d, err, "output item event without item or output_index");
        llmux_status st = lx_emit_start(&d->em, NULL, NULL, err);
        if (st != LLMUX_OK) return st;
        bool done = strcmp(type, "response.output_item.done") == 0;
        const char *it_type = lx_json_str(it, "type");
        /* An added message or reasoning item streams its content: only a new part begins. */
        if (!done && it_type && strcmp(it_type, "message") == 0) {
            lx_emitter_break_text(&d->em);
            return LLMUX_OK;
        }
        if (!done && it_type && strcmp(it_type, "reasoning") == 0) {
            lx_emitter_break_reasoning(&d->em);
            return LLMUX_OK;
        }
        if (!done && it_type && strcmp(it_type, "function_call") == 0) return start_call(d, idx, it, err);
        return done ? item(d, idx, it, true, err) : LLMUX_OK;
    }
    json_t *delta = json_object_get(ev, "delta");
    if (strcmp(type, "response.output_text.delta") == 0 || strcmp(type, "response.refusal.delta") == 0 ||
        strcmp(type, "response.reasoning_summary_text.delta") == 0 || strcmp(type, "response.reasoning_text.delta") == 0 ||
        strcmp(type, "response.function_call_arguments.delta") == 0) {
        if (!json_is_string(delta)) return protocol(d, err, "delta event without a string delta");
        const char *s = json_string_value(delta);
        size_t n = json_string_length(delta);
        if (type[9] == 'f') { /* response.function_call_arguments.delta */
            if (!lx_emitter_tool_open(&d->em, idx)) return protocol(d, err, "arguments for a call that is not open");
            return lx_emit_tool_delta(&d->em, idx, s, n, err);
        }
        if (type[9] == 'r' && type[11] == 'a') /* response.reasoning_... */
            return lx_emit_reasoning(&d->em, s, n, NULL, false, err);
        return lx_emit_text(&d->em, s, n, err);
    }
    return LLMUX_OK; /* *.done repeats of what streamed, content_part events, later additions */
}

static llmux_status on_sse(void *ud, const lx_sse_event *ev) {
    lx_decoder *d = ud;
    llmux_error_info scratch;
    llmux_error_info *err = d->work ? d->work : &scratch;
    json_t *j = lx_json_parse_upstream(ev->data, ev->data_len, LX_WIRE_MAX_LINE, "openai-responses stream event", err);
    if (!j) return err->status;
    llmux_status st = json_is_object(j) ? on_event(d, j, err) : protocol(d, err, "stream event that is not an object");
    json_decref(j);
    return st;
}

static lx_decoder *responses_decoder_create(const lx_provider_config *cfg, bool stream, lx_event_sink sink) {
    lx_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    snprintf(d->provider, sizeof d->provider, "%s", cfg && cfg->name ? cfg->name : "openai");
    d->stream = stream;
    d->json_body = !stream;
    lx_emitter_init(&d->em, sink, d->provider);
    lx_sse_parser_init(&d->sse, LX_WIRE_MAX_LINE);
    lx_buf_init(&d->body, LX_WIRE_MAX_BODY);
    d->key = lx_secret_dup(cfg ? cfg->api_key : NULL);
    return d;
}

static void responses_decoder_destroy(lx_decoder *d) {
    if (!d) return;
    lx_emitter_free(&d->em);
    lx_secret_free(d->key);
    lx_sse_parser_free(&d->sse);
    lx_buf_free(&d->body);
    free(d);
}

static llmux_status fail(lx_decoder *d, llmux_status st, llmux_error_info *err) {
    d->failed = true;
    if (err) d->last_err = *err;
    else lx_error(&d->last_err, st, "%s: the response failed", d->provider);
    if (d->last_err.status == LLMUX_OK) d->last_err.status = st;
    return st;
}

static llmux_status feed_inner(lx_decoder *d, const char *data, size_t len, llmux_error_info *err) {
    if (d->failed) {
        *err = d->last_err;
        return d->last_err.status;
    }
    lx_error_clear(err);
    if (d->stream && !d->sniffed) {
        size_t k = 0;
        while (k < len && isspace((unsigned char)data[k])) k++;
        if (k < len) {
            d->sniffed = true;
            d->json_body = data[k] == '{';
        }
    }
    if (d->json_body) {
        if (lx_buf_append(&d->body, data, len)) return LLMUX_OK;
        lx_error(err, d->body.len + len > d->body.max ? LLMUX_E_UPSTREAM_PROTOCOL : LLMUX_E_OUT_OF_MEMORY,
                 "%s: response body larger than %zu bytes", d->provider, (size_t)LX_WIRE_MAX_BODY);
        return fail(d, err->status, err);
    }
    llmux_error_info work;
    lx_error_clear(&work);
    d->work = &work;
    llmux_status st = lx_sse_feed(&d->sse, data, len, on_sse, d, &work);
    d->work = NULL;
    if (st == LLMUX_OK) return st;
    *err = work;
    return fail(d, st, err);
}

static llmux_status end_inner(lx_decoder *d, llmux_error_info *err) {
    if (d->failed) {
        *err = d->last_err;
        return d->last_err.status;
    }
    lx_error_clear(err);
    llmux_status st;
    if (d->json_body) {
        json_t *j = lx_json_parse_upstream(d->body.data, d->body.len, LX_WIRE_MAX_BODY, "openai-responses body", err);
        if (!j) return fail(d, err->status, err);
        /* A JSON error body on a stream request (a server that answered 200 with an error). */
        json_t *e = lx_json_obj(j, "error");
        st = e && !lx_json_arr(j, "output") ? lx_openai_error_from_object(d->provider, e, 0, NULL, err)
                                            : whole_response(d, j, err);
        json_decref(j);
        return st == LLMUX_OK ? st : fail(d, st, err);
    }
    llmux_error_info work;
    lx_error_clear(&work);
    d->work = &work;
    st = lx_sse_flush(&d->sse, on_sse, d, &work);
    d->work = NULL;
    if (st != LLMUX_OK) {
        *err = work;
        return fail(d, st, err);
    }
    bool pending = false;
    st = lx_sse_finish(&d->sse, &pending, err);
    if (st != LLMUX_OK) return fail(d, st, err);
    if (d->ended) return LLMUX_OK;
    lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: stream ended before response.completed%s (truncated)", d->provider,
             pending ? ", inside an event" : "");
    return fail(d, LLMUX_E_UPSTREAM_PROTOCOL, err);
}

static llmux_status responses_decoder_feed(lx_decoder *d, const char *data, size_t len, llmux_error_info *err) {
    llmux_error_info tmp;
    if (!err) err = &tmp;
    return lx_redact_status(feed_inner(d, data, len, err), err, &d->last_err, d->key);
}

static llmux_status responses_decoder_end(lx_decoder *d, llmux_error_info *err) {
    llmux_error_info tmp;
    if (!err) err = &tmp;
    return lx_redact_status(end_inner(d, err), err, &d->last_err, d->key);
}

static struct lx_emitter *responses_decoder_emitter(lx_decoder *d) { return &d->em; }

static uint64_t responses_decoder_progress(const lx_decoder *d) { return d->em.n_events + d->body.len; }

const lx_provider lx_provider_openai_responses = {
    .protocol = "openai_responses",
    .caps = LX_CAP_TOOLS | LX_CAP_VISION | LX_CAP_JSON_SCHEMA | LX_CAP_REASONING | LX_CAP_STREAM_USAGE |
            LX_CAP_EMBEDDINGS | LX_CAP_MODEL_LIST,
    .encode = responses_encode,
    .decoder_create = responses_decoder_create,
    .decoder_feed = responses_decoder_feed,
    .decoder_end = responses_decoder_end,
    .decoder_destroy = responses_decoder_destroy,
    .decoder_progress = responses_decoder_progress,
    .decoder_emitter = responses_decoder_emitter,
    .map_error = lx_openai_map_error,
    .keep_headers = lx_ratelimit_headers_openai,
    .encode_embed = lx_openai_encode_embed,
    .decode_embed = lx_openai_decode_embed,
    .encode_models = lx_openai_encode_models,
    .decode_models = lx_openai_decode_models,
};
