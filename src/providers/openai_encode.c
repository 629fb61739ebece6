/* Canonical request -> OpenAI Chat Completions body (also OpenRouter and OpenAI-compatible
 * servers: vLLM, llama-server, LM Studio, MLX, TGI). */
#include <ctype.h>
#include <string.h>

#include "providers/reasoning.h"
#include "core/error.h"
#include "core/request_meta.h"
#include "providers/chat.h"
#include "providers/json_util.h"
#include "providers/openai_internal.h"
#include "providers/wire.h"

static bool is_name(const lx_provider_config *cfg, const char *n) { return cfg->name && strcmp(cfg->name, n) == 0; }

bool lx_openai_own_api(const lx_provider_config *cfg) {
    return cfg->base_url && strncmp(cfg->base_url, "https://api.openai.com/", 23) == 0;
}

llmux_status lx_openai_merge_named(const lx_provider_config *cfg, const llmux_request *req, json_t *body,
                                   llmux_error_info *err) {
    if (!cfg->name || strcmp(cfg->name, "openai") == 0 || strcmp(cfg->name, "openai_chat") == 0 ||
        strcmp(cfg->name, "openai_responses") == 0)
        return LLMUX_OK;
    return lx_merge_provider_options(body, req->provider_options, cfg->name, err);
}

bool lx_openai_caller_fields(const lx_provider_config *cfg, const llmux_request *req, json_t *body) {
    static const char *const keys[] = {"prompt_cache_key", "safety_identifier", "user", "service_tier"};
    if (!lx_openai_own_api(cfg)) return true;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const char *v = lx_request_meta(req, keys[i]);
        if (v && json_object_set_new(body, keys[i], json_string(v)) != 0) return false;
    }
    return true;
}

bool lx_openai_explicit_cache(const lx_provider_config *cfg, const char *model) {
    if (!lx_openai_own_api(cfg) || !model) return false;
    if (strncmp(model, "gpt-", 4) != 0 || !isdigit((unsigned char)model[4])) return false;
    const char *p = model + 4;
    long major = 0, minor = 0;
    while (isdigit((unsigned char)*p) && major < 1000) major = major * 10 + (*p++ - '0');
    if (*p == '.' && isdigit((unsigned char)p[1]))
        for (p++; isdigit((unsigned char)*p) && minor < 1000; p++) minor = minor * 10 + (*p - '0');
    return major > 5 || (major == 5 && minor >= 6);
}

bool lx_openai_is_reasoning_model(const char *model) {
    if (!model) return false;
    const char *slash = strrchr(model, '/');
    const char *m = slash ? slash + 1 : model;
    if ((m[0] == 'o' || m[0] == 'O') && (m[1] == '1' || m[1] == '3' || m[1] == '4') &&
        (m[2] == '\0' || m[2] == '-' || m[2] == '.' || m[2] == '_'))
        return true;
    return strncmp(m, "gpt-5", 5) == 0;
}

/* Adds key: value (a new reference, stolen); false when out of memory. */
static bool set_new(json_t *obj, const char *key, json_t *v) { return v && json_object_set_new(obj, key, v) == 0; }

static llmux_status oom(llmux_error_info *err) { return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "openai: out of memory"); }

/* A document as Chat Completions' file part: its bytes as a data URL (the API takes no document
 * URL, only uploaded file ids). */
static json_t *file_part(const llmux_part *p, size_t mi, size_t pi, llmux_error_info *err) {
    if (!p->data || !p->mime_type) {
        lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content[%zu]: a file goes to Chat Completions as data + mime_type, not a URL",
                 mi, pi);
        return NULL;
    }
    json_t *o = json_pack("{s:s, s:{s:s, s:o}}", "type", "file", "file", "filename", p->name && *p->name ? p->name : "document",
                          "file_data", json_sprintf("data:%s;base64,%s", p->mime_type, p->data));
    if (!o) oom(err);
    return o;
}

static json_t *image_part(const llmux_part *p, size_t mi, size_t pi, llmux_error_info *err) {
    json_t *url;
    if (p->image_url) {
        url = json_string(p->image_url);
    } else if (p->data && p->mime_type) {
        url = json_sprintf("data:%s;base64,%s", p->mime_type, p->data);
    } else {
        lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content[%zu]: image needs image_url or data + mime_type", mi,
                 pi);
        return NULL;
    }
    json_t *o = json_pack("{s:s, s:{s:o}}", "type", "image_url", "image_url", "url", url);
    if (!o) oom(err);
    return o;
}

/* Where a part's cache breakpoint goes, if anywhere. */
enum { CACHE_DROP, CACHE_CONTROL, CACHE_BREAKPOINT };

/* A part's cache breakpoint in the form the server takes (false when out of memory):
 * CACHE_CONTROL, OpenRouter's (Anthropic's cache_control on the content part, passed on to the
 * models with explicit caching); CACHE_BREAKPOINT, OpenAI's own explicit breakpoint on a text
 * part (gpt-5.6 and later: prompt_cache_breakpoint {mode: explicit}; its one lifetime, 30
 * minutes, serves both of llmux's). */
static bool set_cache(json_t *o, const llmux_part *p, int mode) {
    if (p->cache == LLMUX_CACHE_NONE || mode == CACHE_DROP) return true;
    if (mode == CACHE_CONTROL) return set_new(o, "cache_control", lx_json_cache_control(p->cache));
    return p->type != LLMUX_PART_TEXT || set_new(o, "prompt_cache_breakpoint", json_pack("{s:s}", "mode", "explicit"));
}

/* Content of a user/system message: a plain string when it is one text part (the form every
 * compatible server accepts), else an array of typed parts. cache: whether and how the parts
 * keep their cache breakpoints (then a breakpoint forces the array form, where it can be
 * written). */
static json_t *user_content(const llmux_message *m, size_t mi, bool allow_images, int cache, llmux_error_info *err) {
    size_t n_text = 0, n_other = 0;
    for (size_t i = 0; i < m->n_parts; i++) {
        if (m->parts[i].type == LLMUX_PART_TEXT) n_text++;
        else if (m->parts[i].type == LLMUX_PART_IMAGE || m->parts[i].type == LLMUX_PART_FILE) n_other++;
        if (cache && m->parts[i].cache != LLMUX_CACHE_NONE &&
            (m->parts[i].type == LLMUX_PART_TEXT || m->parts[i].type == LLMUX_PART_IMAGE || m->parts[i].type == LLMUX_PART_FILE))
            n_other++;
    }
    if (n_other == 0 && n_text <= 1) {
        for (size_t i = 0; i < m->n_parts; i++)
            if (m->parts[i].type == LLMUX_PART_TEXT) return json_string(m->parts[i].text ? m->parts[i].text : "");
        return json_string("");
    }
    /* A system prompt's blocks (Anthropic's system array, kept apart for their cache breakpoints)
     * go as one string, a line apart: the form every compatible server takes for a system
     * message. */
    if (n_other == 0 && m->role == LLMUX_ROLE_SYSTEM) {
        lx_buf b;
        lx_buf_init(&b, LLMUX_JSON_MAX_BYTES);
        bool ok = lx_buf_append(&b, "", 0);
        for (size_t i = 0, k = 0; ok && i < m->n_parts; i++) {
            if (m->parts[i].type != LLMUX_PART_TEXT) continue;
            ok = (!k++ || lx_buf_append_str(&b, "\n")) && lx_buf_append_str(&b, m->parts[i].text ? m->parts[i].text : "");
        }
        json_t *s = ok ? json_stringn(b.data, b.len) : NULL;
        lx_buf_free(&b);
        if (!s) oom(err);
        return s;
    }
    json_t *arr = json_array();
    if (!arr) return NULL;
    for (size_t i = 0; i < m->n_parts; i++) {
        const llmux_part *p = &m->parts[i];
        json_t *o = NULL;
        if (p->type == LLMUX_PART_TEXT) {
            o = json_pack("{s:s, s:s}", "type", "text", "text", p->text ? p->text : "");
        } else if (p->type == LLMUX_PART_IMAGE || p->type == LLMUX_PART_FILE) {
            if (!allow_images) {
                lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content[%zu]: images are only allowed in user messages",
                         mi, i);
                json_decref(arr);
                return NULL;
            }
            o = p->type == LLMUX_PART_FILE ? file_part(p, mi, i, err) : image_part(p, mi, i, err);
            if (!o) {
                json_decref(arr);
                return NULL;
            }
        } else {
            continue;
        }
        if (o && !set_cache(o, p, cache)) {
            json_decref(o);
            o = NULL;
        }
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            oom(err);
            return NULL;
        }
    }
    return arr;
}

static llmux_status add_message_as(json_t *msgs, const llmux_message *m, size_t mi, int cache, llmux_error_info *err) {
    static const char *const roles[] = {"system", "user", "assistant", "tool"};
    if ((unsigned)m->role > LLMUX_ROLE_TOOL)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].role: unknown role %d", mi, (int)m->role);
    /* Tool results travel as one "tool" message each, whatever the canonical role holding them. */
    size_t n_results = 0, n_calls = 0, n_content = 0;
    for (size_t i = 0; i < m->n_parts; i++) {
        const llmux_part *p = &m->parts[i];
        if (p->type == LLMUX_PART_TOOL_RESULT) {
            if (!p->id || !*p->id)
                return lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content[%zu].id: a tool result needs the call id",
                                mi, i);
            json_t *o = json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id", p->id, "content", p->text ? p->text : "");
            if (!o || json_array_append_new(msgs, o) != 0) return oom(err);
            n_results++;
        } else if (p->type == LLMUX_PART_TOOL_CALL) {
            if (m->role != LLMUX_ROLE_ASSISTANT)
                return lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content[%zu]: tool calls belong to assistant messages",
                                mi, i);
            n_calls++;
        } else if (p->type == LLMUX_PART_TEXT || p->type == LLMUX_PART_IMAGE || p->type == LLMUX_PART_FILE) {
            n_content++;
        }
        /* Reasoning parts are dropped: Chat Completions takes no reasoning input. */
    }
    if (m->role == LLMUX_ROLE_TOOL) {
        if (n_content > 0)
            return lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu]: a tool message holds tool_result parts only", mi);
        return LLMUX_OK;
    }
    if (n_results > 0 && n_content == 0 && n_calls == 0) return LLMUX_OK;

    json_t *o = json_object();
    if (!o || !set_new(o, "role", json_string(roles[m->role]))) {
        json_decref(o);
        return oom(err);
    }
    if (m->role == LLMUX_ROLE_ASSISTANT) {
        /* Assistant text is one string; null when the turn only called tools. */
        size_t total = 0;
        for (size_t i = 0; i < m->n_parts; i++) {
            const llmux_part *p = &m->parts[i];
            if (p->type == LLMUX_PART_IMAGE || p->type == LLMUX_PART_FILE) {
                json_decref(o);
                return lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content[%zu]: images are only allowed in user messages",
                                mi, i);
            }
            if (p->type == LLMUX_PART_TEXT && p->text) total += strlen(p->text);
        }
        json_t *content;
        if (n_content == 0 && n_calls > 0) {
            content = json_null();
        } else {
            lx_buf b;
            lx_buf_init(&b, total + 1);
            bool ok = lx_buf_append(&b, "", 0);
            for (size_t i = 0; ok && i < m->n_parts; i++)
                if (m->parts[i].type == LLMUX_PART_TEXT && m->parts[i].text) ok = lx_buf_append_str(&b, m->parts[i].text);
            content = ok ? json_stringn(b.data, b.len) : NULL;
            lx_buf_free(&b);
        }
        if (!set_new(o, "content", content)) {
            json_decref(o);
            return oom(err);
        }
        if (n_calls > 0) {
            json_t *calls = json_array();
            if (!set_new(o, "tool_calls", calls)) {
                json_decref(o);
                return oom(err);
            }
            for (size_t i = 0; i < m->n_parts; i++) {
                const llmux_part *p = &m->parts[i];
                if (p->type != LLMUX_PART_TOOL_CALL) continue;
                if (!p->id || !p->name) {
                    json_decref(o);
                    return lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content[%zu]: a tool call needs id and name",
                                    mi, i);
                }
                json_t *c = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", p->id, "type", "function", "function", "name",
                                      p->name, "arguments", p->arguments && *p->arguments ? p->arguments : "{}");
                if (!c || json_array_append_new(calls, c) != 0) {
                    json_decref(o);
                    return oom(err);
                }
            }
        }
    } else {
        json_t *content = user_content(m, mi, m->role == LLMUX_ROLE_USER, cache, err);
        if (!content) {
            json_decref(o);
            return err && err->status != LLMUX_OK ? err->status : oom(err);
        }
        if (!set_new(o, "content", content)) {
            json_decref(o);
            return oom(err);
        }
    }
    if (m->name && !set_new(o, "name", json_string(m->name))) {
        json_decref(o);
        return oom(err);
    }
    /* In a mixed message (Anthropic style: results, then text) the "tool" messages were added
     * first: they must directly follow the assistant turn that made the calls. */
    if (json_array_append_new(msgs, o) != 0) return oom(err);
    return LLMUX_OK;
}

static llmux_status add_message(json_t *msgs, const llmux_message *m, size_t mi, llmux_error_info *err) {
    return add_message_as(msgs, m, mi, CACHE_DROP, err);
}

/* OpenRouter keeps cache breakpoints (its prompt caching of Anthropic and Gemini models). */
static llmux_status add_message_cached(json_t *msgs, const llmux_message *m, size_t mi, llmux_error_info *err) {
    return add_message_as(msgs, m, mi, CACHE_CONTROL, err);
}

/* OpenAI's models with explicit caching get the breakpoints as their own. */
static llmux_status add_message_breakpoints(json_t *msgs, const llmux_message *m, size_t mi, llmux_error_info *err) {
    return add_message_as(msgs, m, mi, CACHE_BREAKPOINT, err);
}

static llmux_status add_tools(json_t *body, const llmux_request *req, llmux_error_info *err) {
    if (req->n_tools == 0) {
        if (req->tool_choice == LLMUX_TOOL_CHOICE_REQUIRED || req->tool_choice == LLMUX_TOOL_CHOICE_TOOL)
            return lx_error(err, LLMUX_E_INVALID_REQUEST, "tool_choice: requires tools");
        return LLMUX_OK;
    }
    llmux_status st = lx_chat_tools(body, req, "openai", err);
    if (st != LLMUX_OK) return st;
    json_t *choice = NULL;
    switch (req->tool_choice) {
    case LLMUX_TOOL_CHOICE_AUTO: break;
    case LLMUX_TOOL_CHOICE_NONE: choice = json_string("none"); break;
    case LLMUX_TOOL_CHOICE_REQUIRED: choice = json_string("required"); break;
    case LLMUX_TOOL_CHOICE_TOOL:
        if (!req->tool_choice_name || !*req->tool_choice_name)
            return lx_error(err, LLMUX_E_INVALID_REQUEST, "tool_choice_name: required with tool_choice \"tool\"");
        choice = json_pack("{s:s, s:{s:s}}", "type", "function", "function", "name", req->tool_choice_name);
        break;
    default: return lx_error(err, LLMUX_E_INVALID_REQUEST, "tool_choice: unknown value %d", (int)req->tool_choice);
    }
    if (req->tool_choice != LLMUX_TOOL_CHOICE_AUTO && !set_new(body, "tool_choice", choice)) return oom(err);
    /* Sent only with tools: OpenAI refuses parallel_tool_calls without them. */
    if (req->single_tool_call && !set_new(body, "parallel_tool_calls", json_false())) return oom(err);
    return LLMUX_OK;
}

static llmux_status add_format(json_t *body, const llmux_request *req, llmux_error_info *err) {
    json_t *rf = NULL;
    switch (req->response_format) {
    case LLMUX_FORMAT_TEXT: return LLMUX_OK;
    case LLMUX_FORMAT_JSON_OBJECT: rf = json_pack("{s:s}", "type", "json_object"); break;
    case LLMUX_FORMAT_JSON_SCHEMA: {
        json_t *schema = lx_json_parse_request(req->schema, "schema", err);
        if (!schema) return LLMUX_E_INVALID_REQUEST;
        rf = json_pack("{s:s, s:{s:s, s:o, s:b}}", "type", "json_schema", "json_schema", "name",
                       req->schema_name && *req->schema_name ? req->schema_name : "response", "schema", schema, "strict",
                       req->schema_strict);
        break;
    }
    default: return lx_error(err, LLMUX_E_INVALID_REQUEST, "response_format: unknown value %d", (int)req->response_format);
    }
    return set_new(body, "response_format", rf) ? LLMUX_OK : oom(err);
}

static llmux_status add_sampling(json_t *body, const lx_provider_config *cfg, const char *model,
                                 const llmux_sampling *s, llmux_error_info *err) {
    bool ok = true;
    if (!llmux_is_unset(s->temperature)) ok = ok && set_new(body, "temperature", json_real(s->temperature));
    if (!llmux_is_unset(s->top_p)) ok = ok && set_new(body, "top_p", json_real(s->top_p));
    if (s->max_tokens != LLMUX_UNSET_INT) {
        if (s->max_tokens < 1) return lx_error(err, LLMUX_E_INVALID_REQUEST, "sampling.max_tokens: must be >= 1");
        /* OpenAI's reasoning models reject max_tokens; OpenRouter translates max_tokens itself. */
        const char *key = !is_name(cfg, "openrouter") && lx_openai_is_reasoning_model(model) ? "max_completion_tokens"
                                                                                             : "max_tokens";
        ok = ok && set_new(body, key, json_integer(s->max_tokens));
    }
    if (s->n_stop > 0) {
        json_t *stop = json_array();
        ok = ok && set_new(body, "stop", stop);
        for (size_t i = 0; ok && i < s->n_stop; i++) {
            if (!s->stop[i]) return lx_error(err, LLMUX_E_INVALID_REQUEST, "sampling.stop[%zu]: NULL", i);
            ok = json_array_append_new(stop, json_string(s->stop[i])) == 0;
        }
    }
    if (s->seed != LLMUX_UNSET_INT) ok = ok && set_new(body, "seed", json_integer(s->seed));
    if (!llmux_is_unset(s->presence_penalty)) ok = ok && set_new(body, "presence_penalty", json_real(s->presence_penalty));
    if (!llmux_is_unset(s->frequency_penalty))
        ok = ok && set_new(body, "frequency_penalty", json_real(s->frequency_penalty));
    /* OpenAI itself rejects these; OpenRouter, vLLM and most compatible servers accept them
     * under these names (llama-server reads top_k/min_p and its own repeat_penalty). */
    if (!is_name(cfg, "openai") && !lx_openai_own_api(cfg)) {
        if (s->top_k != LLMUX_UNSET_INT) ok = ok && set_new(body, "top_k", json_integer(s->top_k));
        if (!llmux_is_unset(s->min_p)) ok = ok && set_new(body, "min_p", json_real(s->min_p));
        if (!llmux_is_unset(s->repeat_penalty))
            ok = ok && set_new(body, "repetition_penalty", json_real(s->repeat_penalty));
    }
    return ok ? LLMUX_OK : oom(err);
}

/* provider_options.openai_chat: the fields a client of llmux serve's Chat Completions endpoint
 * sent that llmux does not read (vLLM's chat_template_kwargs, OpenRouter's provider, llama-server's
 * grammar, OpenAI's verbosity, ...), set on the body as sent. OpenAI's own API refuses fields it
 * does not know with a 400, which would also break a fallback from a vLLM target to OpenAI: it
 * gets only the fields of its own Chat Completions API. Before provider_options.openai, which
 * wins. */
static llmux_status merge_chat_extras(const lx_provider_config *cfg, const llmux_request *req, json_t *body,
                                      llmux_error_info *err) {
    static const char *const k_openai_own[] = {"logit_bias", "verbosity", "web_search_options", "prediction",
                                               "modalities", "audio",     "prompt_cache_retention", NULL};
    json_t *extras = NULL;
    llmux_status st = lx_provider_options_get(req->provider_options, "openai_chat", &extras, err);
    if (st != LLMUX_OK || !extras) return st;
    if (!json_is_object(extras)) {
        json_decref(extras);
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "provider_options.openai_chat: must be a JSON object");
    }
    bool own = lx_openai_own_api(cfg);
    const char *k;
    json_t *v;
    bool ok = true;
    json_object_foreach(extras, k, v) {
        bool allowed = !own;
        for (size_t i = 0; !allowed && k_openai_own[i]; i++) allowed = strcmp(k, k_openai_own[i]) == 0;
        if (allowed) ok = ok && json_object_set(body, k, v) == 0;
    }
    json_decref(extras);
    return ok ? LLMUX_OK : oom(err);
}

static llmux_status build_body(const lx_provider_config *cfg, const llmux_request *req, const char *model, json_t *body,
                               llmux_error_info *err) {
    if (!set_new(body, "model", json_string(model))) return oom(err);
    if (!lx_openai_caller_fields(cfg, req, body)) return oom(err);
    llmux_status st = lx_chat_messages(body, req,
                                       is_name(cfg, "openrouter")            ? add_message_cached
                                       : lx_openai_explicit_cache(cfg, model) ? add_message_breakpoints
                                                                              : add_message,
                                       "openai", err);
    if (st != LLMUX_OK) return st;
    st = add_tools(body, req, err);
    if (st == LLMUX_OK) st = add_format(body, req, err);
    if (st == LLMUX_OK) st = add_sampling(body, cfg, model, &req->sampling, err);
    if (st != LLMUX_OK) return st;
    /* OpenAI's reasoning models, OpenRouter and vLLM take reasoning_effort; a model that does not
     * reason refuses it, as it would from the client directly. */
    const char *effort = lx_reasoning_effort_text(req);
    if (effort && !set_new(body, "reasoning_effort", json_string(effort))) return oom(err);
    if (req->stream) {
        if (!set_new(body, "stream", json_true())) return oom(err);
        if (!set_new(body, "stream_options", json_pack("{s:b}", "include_usage", 1))) return oom(err);
    }
    /* Pass-through last, so callers can override anything the adapter wrote. */
    st = merge_chat_extras(cfg, req, body, err);
    if (st == LLMUX_OK) st = lx_merge_provider_options(body, req->provider_options, "openai", err);
    if (st == LLMUX_OK) st = lx_openai_merge_named(cfg, req, body, err);
    return st;
}

llmux_status lx_openai_encode(const lx_provider_config *cfg, const llmux_request *req, lx_wire_request *out,
                              llmux_error_info *err) {
    if (!cfg || !req || !out) return lx_error(err, LLMUX_E_INTERNAL, "openai: encode called with NULL");
    const char *model = cfg->model && *cfg->model ? cfg->model : req->model;
    if (!model || !*model) return lx_error(err, LLMUX_E_INVALID_REQUEST, "model: missing");
    if (!lx_wire_set(out, "POST", "/chat/completions")) return lx_error(err, LLMUX_E_INTERNAL, "openai: path too long");
    out->stream = req->stream;
    /* JSON too: a server that ignores stream:true, or a bare JSON error, is decoded as such. */
    out->accept_types = req->stream ? "text/event-stream,application/json" : NULL;
    bool ok = lx_wire_add_header(out, "Content-Type", "application/json", false) &&
              lx_wire_add_header(out, "Accept", req->stream ? "text/event-stream" : "application/json", false);
    if (ok && !lx_wire_add_bearer(out, cfg))
        return lx_error(err, LLMUX_E_CONFIGURATION, "api key: too long or contains a line break");
    if (ok && cfg->referer) ok = lx_wire_add_header(out, "HTTP-Referer", cfg->referer, false);
    if (ok && cfg->title) ok = lx_wire_add_header(out, "X-Title", cfg->title, false);
    if (!ok) return lx_error(err, LLMUX_E_CONFIGURATION, "openai: a header value is too long or contains a line break");

    json_t *body = json_object();
    if (!body) return oom(err);
    lx_error_clear(err);
    llmux_status st = build_body(cfg, req, model, body, err);
    if (st == LLMUX_OK && !lx_json_dump_buf(body, &out->body))
        st = lx_error(err, LLMUX_E_INVALID_REQUEST, "openai: request body exceeds %zu bytes", out->body.max);
    json_decref(body);
    return st;
}
