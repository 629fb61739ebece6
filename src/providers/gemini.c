/* Gemini API (generateContent / streamGenerateContent?alt=sse): canonical request -> wire
 * request, and HTTP error mapping. Wire format: https://ai.google.dev/api/generate-content
 * (see docs/providers.md for the choices made where canonical and wire disagree). */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "providers/reasoning.h"
#include "providers/dates.h"
#include "providers/embed_models.h"
#include "providers/enc.h"
#include "providers/errors.h"
#include "providers/gemini_internal.h"
#include "providers/json_util.h"
#include "providers/ratelimit.h"
#include "providers/wire.h"

/* {key: {k1: v1}} in one step; steals v1. */
static json_t *wrap(lx_enc *c, const char *key, json_t *inner) {
    if (!inner) return NULL;
    json_t *o = lx_enc_obj(c, NULL);
    if (!o) {
        json_decref(inner);
        return NULL;
    }
    if (!lx_enc_set(c, o, key, inner)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *text_part(lx_enc *c, const char *text, const char *where) {
    json_t *p = lx_enc_obj(c, NULL);
    if (p && !lx_enc_set(c, p, "text", lx_enc_str(c, text, where))) {
        json_decref(p);
        return NULL;
    }
    return p;
}

static const char *mime_from_url(const char *url) {
    static const struct {
        const char *ext, *mime;
    } k[] = {{".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
             {".gif", "image/gif"}, {".webp", "image/webp"}, {".heic", "image/heic"}};
    size_t n = strcspn(url, "?#");
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        size_t el = strlen(k[i].ext);
        if (n >= el) {
            const char *e = url + n - el;
            bool eq = true;
            for (size_t j = 0; j < el && eq; j++) eq = (e[j] | 0x20) == k[i].ext[j];
            if (eq) return k[i].mime;
        }
    }
    return NULL;
}

static json_t *image_part(lx_enc *c, const llmux_part *p, const char *where) {
    char mime[128];
    const char *data = p->data, *media = p->mime_type;
    if (!data && p->image_url && strncmp(p->image_url, "data:", 5) == 0) {
        const char *semi = strstr(p->image_url, ";base64,");
        size_t n = semi ? (size_t)(semi - (p->image_url + 5)) : 0;
        if (!semi || n == 0 || n >= sizeof mime) {
            lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s.image_url: only base64 data URLs are supported", where);
            return NULL;
        }
        memcpy(mime, p->image_url + 5, n);
        mime[n] = '\0';
        media = mime;
        data = semi + 8;
    }
    json_t *inner = lx_enc_obj(c, NULL);
    if (!inner) return NULL;
    if (data) {
        if (!media || !*media) {
            json_decref(inner);
            lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s.mime_type: required with base64 image data", where);
            return NULL;
        }
        if (!lx_enc_set(c, inner, "mimeType", lx_enc_str(c, media, where)) ||
            !lx_enc_set(c, inner, "data", lx_enc_str(c, data, where))) {
            json_decref(inner);
            return NULL;
        }
        return wrap(c, "inlineData", inner);
    }
    if (!p->image_url || !*p->image_url) {
        json_decref(inner);
        lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s: an image needs image_url or data", where);
        return NULL;
    }
    if (!media || !*media) media = mime_from_url(p->image_url);
    if ((media && !lx_enc_set(c, inner, "mimeType", lx_enc_str(c, media, where))) ||
        !lx_enc_set(c, inner, "fileUri", lx_enc_str(c, p->image_url, where))) {
        json_decref(inner);
        return NULL;
    }
    return wrap(c, "fileData", inner);
}

static json_t *call_part(lx_enc *c, const llmux_part *p, const char *where) {
    char field[96];
    if (!p->name || !*p->name) {
        lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s.name: a tool call needs a name", where);
        return NULL;
    }
    snprintf(field, sizeof field, "%s.arguments", where);
    json_t *fc = lx_enc_obj(c, NULL);
    if (!fc) return NULL;
    if (!lx_enc_set(c, fc, "name", lx_enc_str(c, p->name, where)) ||
        !lx_enc_set(c, fc, "args", lx_enc_parse_object(c, p->arguments, field))) {
        json_decref(fc);
        return NULL;
    }
    return wrap(c, "functionCall", fc);
}

/* Gemini answers a call by name; a canonical result names the call by id, so the name comes
 * from the part or from the newest earlier call with that id. */
static const char *result_name(const lx_enc *c, size_t msg_index, const llmux_part *p) {
    if (p->name && *p->name) return p->name;
    if (!p->id) return NULL;
    for (size_t i = msg_index; i-- > 0;) {
        const llmux_message *m = &c->req->messages[i];
        for (size_t j = m->n_parts; j-- > 0;) {
            const llmux_part *q = &m->parts[j];
            if (q->type == LLMUX_PART_TOOL_CALL && q->id && strcmp(q->id, p->id) == 0) return q->name;
        }
    }
    return NULL;
}

static json_t *result_part(lx_enc *c, size_t msg_index, const llmux_part *p, const char *where) {
    const char *name = result_name(c, msg_index, p);
    if (!name || !*name) {
        lx_enc_failf(c, LLMUX_E_INVALID_REQUEST,
                     "%s.name: Gemini needs the tool name (no earlier call has id \"%.64s\")", where,
                     p->id ? p->id : "");
        return NULL;
    }
    json_t *fr = lx_enc_obj(c, NULL);
    if (!fr) return NULL;
    /* Documented convention: "error" holds a failure, anything else is the output. */
    if (!lx_enc_set(c, fr, "name", lx_enc_str(c, name, where)) ||
        !lx_enc_set(c, fr, "response", wrap(c, p->is_error ? "error" : "content", lx_enc_str(c, p->text, where)))) {
        json_decref(fr);
        return NULL;
    }
    return wrap(c, "functionResponse", fr);
}

/* A thought signature belongs to the part it came on. The decoder surfaces it as a REASONING part
 * just before that part; here it goes back onto the next part of the message, or onto an empty
 * text part when nothing follows (where Gemini put it in the first place). */
static bool flush_signature(lx_enc *c, json_t *parts, const char **pending) {
    if (!*pending) return true;
    const char *sig = *pending;
    *pending = NULL;
    json_t *p = text_part(c, "", "thought signature");
    if (!p) return false;
    if (!lx_enc_set(c, p, "thoughtSignature", lx_enc_str(c, sig, "thought signature"))) {
        json_decref(p);
        return false;
    }
    return lx_enc_push(c, parts, p);
}

static bool add_part(lx_enc *c, json_t *parts, json_t *part, const char *own_signature, const char **pending) {
    if (!part) return false;
    const char *sig = own_signature && *own_signature ? own_signature : NULL;
    if (*pending && sig && !flush_signature(c, parts, pending)) {
        json_decref(part);
        return false;
    }
    if (!sig) sig = *pending;
    *pending = NULL;
    if (sig && !lx_enc_set(c, part, "thoughtSignature", lx_enc_str(c, sig, "thought signature"))) {
        json_decref(part);
        return false;
    }
    return lx_enc_push(c, parts, part);
}

static bool encode_part(lx_enc *c, size_t i, const llmux_message *m, const llmux_part *p, json_t *parts,
                        const char **pending, const char *where) {
    llmux_role role = m->role;
    switch (p->type) {
    case LLMUX_PART_TEXT: return add_part(c, parts, text_part(c, p->text, where), NULL, pending);
    case LLMUX_PART_IMAGE:
    case LLMUX_PART_FILE: /* a document is inline data or a file URI like an image (PDF, text...) */
        if (role == LLMUX_ROLE_USER) return add_part(c, parts, image_part(c, p, where), NULL, pending);
        break;
    case LLMUX_PART_TOOL_CALL:
        if (role == LLMUX_ROLE_ASSISTANT) return add_part(c, parts, call_part(c, p, where), NULL, pending);
        break;
    case LLMUX_PART_TOOL_RESULT:
        if (role == LLMUX_ROLE_USER || role == LLMUX_ROLE_TOOL)
            return add_part(c, parts, result_part(c, i, p, where), NULL, pending);
        break;
    case LLMUX_PART_REASONING: {
        if (role != LLMUX_ROLE_ASSISTANT) break;
        /* Redacted reasoning is another provider's opaque payload: Gemini cannot use it; nor an
         * OpenAI Responses signature ("<item id>|<encrypted_content>": '|' is not base64), whose
         * part keeps only its text. */
        if (p->redacted) return true;
        const char *own = p->signature && !strchr(p->signature, '|') ? p->signature : NULL;
        if (p->text && *p->text) {
            json_t *t = text_part(c, p->text, where);
            if (t && !lx_enc_set(c, t, "thought", json_true())) {
                json_decref(t);
                return false;
            }
            return add_part(c, parts, t, own, pending);
        }
        if (own && *own) {
            if (*pending && !flush_signature(c, parts, pending)) return false;
            *pending = own;
        }
        return true;
    }
    case LLMUX_PART_NATIVE: return true; /* another provider's own block: left out */
    default: return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s.type: unknown part type %d", where, (int)p->type);
    }
    return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s: this part type is not allowed in a %s message", where,
                        role == LLMUX_ROLE_USER ? "user" : role == LLMUX_ROLE_ASSISTANT ? "assistant" : "tool");
}

static bool encode_contents(lx_enc *c, json_t *body) {
    const llmux_request *req = c->req;
    json_t *contents = json_array();
    if (!lx_enc_set(c, body, "contents", contents)) return false;
    char where[64];
    json_t *parts = NULL;
    bool prev_tool = false;
    for (size_t i = 0; i < req->n_messages; i++) {
        const llmux_message *m = &req->messages[i];
        if (m->role == LLMUX_ROLE_SYSTEM) continue;
        if (m->role != LLMUX_ROLE_USER && m->role != LLMUX_ROLE_ASSISTANT && m->role != LLMUX_ROLE_TOOL)
            return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "messages[%zu].role: unknown role %d", i, (int)m->role);
        bool is_tool = m->role == LLMUX_ROLE_TOOL;
        /* Parallel calls are answered in one turn: consecutive tool messages merge. */
        if (!(is_tool && prev_tool)) {
            json_t *content = lx_enc_obj(c, NULL);
            if (!lx_enc_push(c, contents, content)) return false;
            parts = json_array();
            if (!lx_enc_set(c, content, "role", json_string(m->role == LLMUX_ROLE_ASSISTANT ? "model" : "user")) ||
                !lx_enc_set(c, content, "parts", parts))
                return false;
        }
        prev_tool = is_tool;
        const char *pending = NULL;
        for (size_t j = 0; j < m->n_parts; j++) {
            snprintf(where, sizeof where, "messages[%zu].parts[%zu]", i, j);
            if (!encode_part(c, i, m, &m->parts[j], parts, &pending, where)) return false;
        }
        if (!flush_signature(c, parts, &pending)) return false;
        /* A turn left without parts (only another provider's own blocks: an Anthropic server
         * tool's call and result) is left out: Gemini refuses a content without parts. */
        if (!is_tool && json_array_size(parts) == 0 && json_array_remove(contents, json_array_size(contents) - 1) != 0)
            return lx_enc_oom(c);
    }
    return true;
}

static bool encode_system(lx_enc *c, json_t *body) {
    json_t *parts = json_array();
    if (!parts) return lx_enc_oom(c);
    if (!lx_enc_system_texts(c, parts, text_part)) goto fail;
    if (json_array_size(parts) == 0) {
        json_decref(parts);
        return true;
    }
    return lx_enc_set(c, body, "systemInstruction", wrap(c, "parts", parts));
fail:
    json_decref(parts);
    return false;
}

static bool encode_tools(lx_enc *c, json_t *body) {
    const llmux_request *req = c->req;
    char where[64];
    if (req->n_tools > 0) {
        json_t *decls = json_array();
        json_t *tools = json_array();
        if (!lx_enc_set(c, body, "tools", tools) || !lx_enc_push(c, tools, wrap(c, "functionDeclarations", decls)))
            return false;
        for (size_t i = 0; i < req->n_tools; i++) {
            const llmux_tool *t = &req->tools[i];
            snprintf(where, sizeof where, "tools[%zu]", i);
            if (!t->name || !*t->name) return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s.name: required", where);
            json_t *d = lx_enc_obj(c, NULL);
            if (!lx_enc_push(c, decls, d) || !lx_enc_set(c, d, "name", lx_enc_str(c, t->name, where))) return false;
            if (t->description && !lx_enc_set(c, d, "description", lx_enc_str(c, t->description, where))) return false;
            if (t->parameters) {
                snprintf(where, sizeof where, "tools[%zu].parameters", i);
                /* Full JSON Schema; `parameters` would take only Gemini's OpenAPI subset. */
                if (!lx_enc_set(c, d, "parametersJsonSchema", lx_enc_parse_object(c, t->parameters, where)))
                    return false;
            }
        }
    }
    const char *mode = NULL;
    switch (req->tool_choice) {
    case LLMUX_TOOL_CHOICE_AUTO: return true;
    case LLMUX_TOOL_CHOICE_NONE: mode = "NONE"; break;
    case LLMUX_TOOL_CHOICE_REQUIRED: mode = "ANY"; break;
    case LLMUX_TOOL_CHOICE_TOOL: mode = "ANY"; break;
    default: return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "tool_choice: unknown value %d", (int)req->tool_choice);
    }
    if (req->n_tools == 0) {
        if (req->tool_choice == LLMUX_TOOL_CHOICE_NONE) return true;
        return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "tool_choice: requires tools");
    }
    json_t *fcc = lx_enc_obj(c, NULL);
    if (!lx_enc_set(c, body, "toolConfig", wrap(c, "functionCallingConfig", fcc)) ||
        !lx_enc_set(c, fcc, "mode", json_string(mode)))
        return false;
    if (req->tool_choice == LLMUX_TOOL_CHOICE_TOOL) {
        if (!req->tool_choice_name || !*req->tool_choice_name)
            return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "tool_choice_name: required with tool_choice \"tool\"");
        json_t *names = json_array();
        if (!lx_enc_set(c, fcc, "allowedFunctionNames", names) ||
            !lx_enc_push(c, names, lx_enc_str(c, req->tool_choice_name, "tool_choice_name")))
            return false;
    }
    return true;
}

static bool encode_generation(lx_enc *c, json_t *gc) {
    const llmux_request *req = c->req;
    const llmux_sampling *s = &req->sampling;
    if (!lx_enc_set_real(c, gc, "temperature", s->temperature) || !lx_enc_set_real(c, gc, "topP", s->top_p))
        return false;
    if (s->top_k != LLMUX_UNSET_INT && !lx_enc_set(c, gc, "topK", json_integer(s->top_k))) return false;
    if (s->max_tokens != LLMUX_UNSET_INT) {
        if (s->max_tokens < 1) return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "sampling.max_tokens: must be >= 1");
        if (!lx_enc_set(c, gc, "maxOutputTokens", json_integer(s->max_tokens))) return false;
    }
    if (s->n_stop > 0) {
        json_t *stops = json_array();
        if (!lx_enc_set(c, gc, "stopSequences", stops)) return false;
        for (size_t i = 0; i < s->n_stop; i++)
            if (!lx_enc_push(c, stops, lx_enc_str(c, s->stop[i], "sampling.stop"))) return false;
    }
    if (s->seed != LLMUX_UNSET_INT && !lx_enc_set(c, gc, "seed", json_integer(s->seed))) return false;
    if (!lx_enc_set_real(c, gc, "presencePenalty", s->presence_penalty) ||
        !lx_enc_set_real(c, gc, "frequencyPenalty", s->frequency_penalty))
        return false;
    /* min_p and repeat_penalty have no Gemini equivalent; as sampling hints they are ignored. */
    if (req->response_format == LLMUX_FORMAT_JSON_OBJECT || req->response_format == LLMUX_FORMAT_JSON_SCHEMA) {
        if (!lx_enc_set(c, gc, "responseMimeType", json_string("application/json"))) return false;
    }
    if (req->response_format == LLMUX_FORMAT_JSON_SCHEMA) {
        if (!req->schema)
            return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "schema: required with response_format json_schema");
        /* responseJsonSchema takes standard JSON Schema; responseSchema only the OpenAPI subset. */
        if (!lx_enc_set(c, gc, "responseJsonSchema", lx_enc_parse_object(c, req->schema, "schema"))) return false;
    } else if (req->response_format != LLMUX_FORMAT_TEXT && req->response_format != LLMUX_FORMAT_JSON_OBJECT) {
        return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "response_format: unknown value %d", (int)req->response_format);
    }
    return true;
}

/* provider_options.gemini: "generationConfig" fields and "thinkingConfig" go inside
 * generationConfig, every other field is set on the body (safetySettings, cachedContent...). */
static bool merge_options(lx_enc *c, json_t *body, json_t *gc) {
    const char *text = c->req->provider_options;
    if (!text) return true;
    json_t *all = lx_json_parse_request(text, "provider_options", c->err);
    if (!all) {
        c->st = LLMUX_E_INVALID_REQUEST;
        return false;
    }
    bool ok = true;
    json_t *g = json_is_object(all) ? json_object_get(all, "gemini") : NULL;
    if (!json_is_object(all)) ok = lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "provider_options: must be a JSON object");
    else if (g && !json_is_object(g))
        ok = lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "provider_options.gemini: must be a JSON object");
    const char *key;
    json_t *v;
    if (ok && g) {
        json_object_foreach(g, key, v) {
            if (strcmp(key, "generationConfig") == 0) {
                if (!json_is_object(v)) {
                    ok = lx_enc_failf(c, LLMUX_E_INVALID_REQUEST,
                                      "provider_options.gemini.generationConfig: must be an object");
                    break;
                }
                if (json_object_update(gc, v) != 0) ok = lx_enc_oom(c);
            } else if (strcmp(key, "thinkingConfig") == 0) {
                ok = lx_enc_set(c, gc, key, json_incref(v));
            } else {
                ok = lx_enc_set(c, body, key, json_incref(v));
            }
            if (!ok) break;
        }
    }
    json_decref(all);
    return ok;
}

bool lx_gemini_model_id(const char *configured, const char **id) {
    const char *m = configured;
    if (m && strncmp(m, "models/", 7) == 0) m += 7;
    *id = m;
    if (!m || !*m) return false;
    for (const char *p = m; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '.' || ch == '_'))
            return false;
    }
    return true;
}

/* thinkingConfig from the request's reasoning settings (provider_options.gemini.thinkingConfig,
 * merged afterwards, wins): the budget, with the thoughts' summaries included so they come back
 * as reasoning; NONE asks for a budget of 0 (off, where the model allows it). */
static bool encode_thinking(lx_enc *c, json_t *gc) {
    int64_t budget = lx_reasoning_budget(c->req);
    if (budget < 0) return true;
    json_t *t = json_object();
    return lx_enc_set(c, gc, "thinkingConfig", t) && lx_enc_set(c, t, "thinkingBudget", json_integer(budget)) &&
           (budget == 0 || lx_enc_set(c, t, "includeThoughts", json_true()));
}

/* The generateContent body of req; NULL with c->st set when it cannot be encoded. */
static json_t *content_body(lx_enc *c) {
    json_t *body = json_object();
    json_t *gc = json_object();
    if (!body || !gc) {
        json_decref(body);
        json_decref(gc);
        c->st = lx_error(c->err, LLMUX_E_OUT_OF_MEMORY, "gemini: out of memory");
        return NULL;
    }
    bool ok = encode_contents(c, body) && encode_system(c, body) && encode_tools(c, body) && encode_generation(c, gc) &&
              encode_thinking(c, gc) && merge_options(c, body, gc) &&
              (json_object_size(gc) == 0 || lx_enc_set(c, body, "generationConfig", json_incref(gc)));
    json_decref(gc);
    if (ok) return body;
    json_decref(body);
    return NULL;
}

/* The configured model id (for the path); false with err filled when it is no plain id. */
static bool model_of(const lx_provider_config *cfg, const char **model, llmux_error_info *err) {
    if (lx_gemini_model_id(cfg ? cfg->model : NULL, model)) return true;
    lx_error(err, LLMUX_E_CONFIGURATION, "gemini: model \"%.64s\" is missing or not a plain model id",
             *model ? *model : "");
    return false;
}

/* Writes body and the request line and headers for path into out. */
static llmux_status to_wire(const lx_provider_config *cfg, json_t *body, const char *path, bool stream,
                            lx_wire_request *out, llmux_error_info *err) {
    lx_buf_reset(&out->body);
    if (!lx_json_dump_buf(body, &out->body))
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "gemini: the request body exceeds its size cap");
    out->stream = stream;
    /* JSON too: a server that ignores stream:true, or a bare JSON error, is decoded as such. */
    out->accept_types = stream ? "text/event-stream,application/json" : NULL;
    if (!lx_wire_set(out, "POST", path) || !lx_wire_add_header(out, "content-type", "application/json", false) ||
        (stream && !lx_wire_add_header(out, "accept", "text/event-stream", false)) ||
        (cfg->api_key && *cfg->api_key && !lx_wire_add_header(out, "x-goog-api-key", cfg->api_key, true)))
        return lx_error(err, LLMUX_E_CONFIGURATION, "gemini: a header value is too long or holds a line break");
    return LLMUX_OK;
}

static llmux_status encode(const lx_provider_config *cfg, const llmux_request *req, lx_wire_request *out,
                           llmux_error_info *err) {
    lx_enc c = {.err = err, .who = "gemini", .req = req};
    const char *model;
    if (!model_of(cfg, &model, err)) return err->status;
    json_t *body = content_body(&c);
    if (!body) return c.st;
    char path[256];
    snprintf(path, sizeof path, "/models/%s:%s", model, req->stream ? "streamGenerateContent?alt=sse" : "generateContent");
    llmux_status st = to_wire(cfg, body, path, req->stream, out, err);
    json_decref(body);
    return st;
}

/* ------------------------------------------------------------ token counting */

/* POST /models/{model}:countTokens with {"generateContentRequest": {...}}
 * (https://ai.google.dev/api/tokens): the whole generateContent request, its model named as
 * "models/{model}", so the system instruction and the tools are counted too. */
static llmux_status encode_count_tokens(const lx_provider_config *cfg, const llmux_request *req, lx_wire_request *out,
                                        llmux_error_info *err) {
    lx_enc c = {.err = err, .who = "gemini", .req = req};
    const char *model;
    if (!model_of(cfg, &model, err)) return err->status;
    json_t *inner = content_body(&c);
    if (!inner) return c.st;
    char name[256], path[256];
    snprintf(name, sizeof name, "models/%s", model);
    snprintf(path, sizeof path, "/models/%s:countTokens", model);
    json_t *body = json_object();
    llmux_status st = LLMUX_OK;
    if (!body || json_object_set_new(inner, "model", json_string(name)) != 0 ||
        json_object_set(body, "generateContentRequest", inner) != 0)
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "gemini: out of memory");
    if (st == LLMUX_OK) st = to_wire(cfg, body, path, false, out, err);
    json_decref(body);
    json_decref(inner);
    return st;
}

/* {"totalTokens": N, ...} */
static llmux_status decode_count_tokens(const lx_provider_config *cfg, const char *body, size_t len, int64_t *n,
                                        llmux_error_info *err) {
    (void)cfg;
    *n = 0;
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *v = json_object_get(j, "totalTokens");
    bool ok = json_is_integer(v) && json_integer_value(v) >= 0;
    if (ok) *n = (int64_t)json_integer_value(v);
    json_decref(j);
    return ok ? LLMUX_OK : lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "gemini: countTokens answered without a totalTokens count");
}

/* ------------------------------------------------------------ errors */

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

llmux_status lx_gemini_error(const json_t *error, int http_status, int64_t retry_after_ms, const char *provider,
                             llmux_error_info *err) {
    const char *status = lx_json_str(error, "status");
    const char *message = lx_json_str(error, "message");
    int64_t code = 0;
    lx_json_i64(error, "code", &code);
    const char *reason = NULL;
    json_t *details = lx_json_arr(error, "details"), *dv;
    size_t i;
    json_array_foreach(details, i, dv) {
        const char *t = lx_json_str(dv, "@type");
        if (!t) continue;
        if (ends_with(t, "google.rpc.ErrorInfo") && !reason) reason = lx_json_str(dv, "reason");
        if (ends_with(t, "google.rpc.RetryInfo") && retry_after_ms < 0)
            retry_after_ms = lx_parse_duration_ms(lx_json_str(dv, "retryDelay"));
    }
    static const struct {
        const char *name;
        llmux_status st;
    } k[] = {{"INVALID_ARGUMENT", LLMUX_E_INVALID_REQUEST}, {"FAILED_PRECONDITION", LLMUX_E_INVALID_REQUEST},
             {"OUT_OF_RANGE", LLMUX_E_INVALID_REQUEST},    {"UNAUTHENTICATED", LLMUX_E_AUTHENTICATION},
             {"PERMISSION_DENIED", LLMUX_E_PERMISSION},    {"NOT_FOUND", LLMUX_E_MODEL_NOT_FOUND},
             {"RESOURCE_EXHAUSTED", LLMUX_E_RATE_LIMITED}, {"INTERNAL", LLMUX_E_UPSTREAM_SERVER},
             {"UNKNOWN", LLMUX_E_UPSTREAM_SERVER},         {"DATA_LOSS", LLMUX_E_UPSTREAM_SERVER},
             {"CANCELLED", LLMUX_E_UPSTREAM_SERVER},       {"ABORTED", LLMUX_E_UPSTREAM_SERVER},
             {"UNAVAILABLE", LLMUX_E_OVERLOADED},          {"DEADLINE_EXCEEDED", LLMUX_E_TIMEOUT}};
    llmux_status st = LLMUX_OK;
    for (size_t j = 0; status && j < sizeof k / sizeof k[0]; j++)
        if (strcmp(status, k[j].name) == 0) st = k[j].st;
    if (st == LLMUX_OK) {
        int s = http_status > 0 ? http_status : (int)(code >= 400 && code <= 599 ? code : 0);
        st = s > 0 ? lx_http_status_class(s) : LLMUX_E_UPSTREAM_SERVER;
    }
    /* A bad key is a 400 INVALID_ARGUMENT; only the ErrorInfo reason (or the text) says so. */
    if (st == LLMUX_E_INVALID_REQUEST &&
        ((reason && (strcmp(reason, "API_KEY_INVALID") == 0 || strcmp(reason, "API_KEY_EXPIRED") == 0)) ||
         lx_contains_ci(message, "API key not valid") || lx_contains_ci(message, "API key expired")))
        st = LLMUX_E_AUTHENTICATION;
    if (st == LLMUX_E_INVALID_REQUEST &&
        (lx_mentions_context_length(message) || lx_contains_ci(message, "exceeds the maximum number of tokens") ||
         lx_contains_ci(message, "input token count")))
        st = LLMUX_E_CONTEXT_LENGTH;
    return lx_provider_error(err, st, provider, http_status, status, message, retry_after_ms);
}

static void map_error(int http_status, const char *body, size_t len, const char *retry_after, llmux_error_info *err) {
    /* Without Retry-After: the exhausted limits' reset values, which only a gateway in front of
     * Gemini sends (Gemini itself puts RetryInfo in the body, read when this gives none). */
    int64_t retry = lx_parse_retry_hint(retry_after);
    json_t *j = body && len > 0 ? json_loadb(body, len < LX_WIRE_MAX_BODY ? len : LX_WIRE_MAX_BODY, 0, NULL) : NULL;
    /* The non-SSE streaming mode wraps errors in an array. */
    json_t *e = lx_json_obj(json_is_array(j) ? json_array_get(j, 0) : j, "error");
    if (e) {
        lx_gemini_error(e, http_status, retry, "gemini", err);
    } else {
        lx_provider_error_raw(err, "gemini", http_status, body, len, retry);
    }
    json_decref(j);
}

const lx_provider lx_provider_gemini = {
    .protocol = "gemini",
    .caps = LX_CAP_TOOLS | LX_CAP_VISION | LX_CAP_JSON_SCHEMA | LX_CAP_REASONING | LX_CAP_STREAM_USAGE |
            LX_CAP_EMBEDDINGS | LX_CAP_MODEL_LIST,
    .encode = encode,
    .decoder_create = lx_gemini_decoder_create,
    .decoder_feed = lx_gemini_decoder_feed,
    .decoder_end = lx_gemini_decoder_end,
    .decoder_destroy = lx_gemini_decoder_destroy,
    .decoder_progress = lx_gemini_decoder_progress,
    .decoder_emitter = lx_gemini_decoder_emitter,
    .map_error = map_error,
    .keep_headers = lx_ratelimit_headers_openai, /* a gateway's rate limits */
    .encode_embed = lx_gemini_encode_embed,
    .decode_embed = lx_gemini_decode_embed,
    .encode_models = lx_gemini_encode_models,
    .decode_models = lx_gemini_decode_models,
    .encode_count_tokens = encode_count_tokens,
    .decode_count_tokens = decode_count_tokens,
};
