/* Anthropic Messages API: canonical request -> POST /messages, and HTTP error mapping.
 * Wire format: https://docs.claude.com/en/api/messages (see docs/providers.md for the choices
 * made where canonical and wire disagree). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/reasoning.h"
#include "core/base64.h"
#include "core/error.h"
#include "core/request_meta.h"
#include "providers/anthropic_internal.h"
#include "providers/embed_models.h"
#include "providers/enc.h"
#include "providers/errors.h"
#include "providers/json_util.h"
#include "providers/ratelimit.h"
#include "providers/wire.h"

#define ANTHROPIC_VERSION "2023-06-01"

static json_t *text_block(lx_enc *c, const char *text, const char *where) {
    json_t *b = lx_enc_obj(c, "text");
    if (b && !lx_enc_set(c, b, "text", lx_enc_str(c, text, where))) {
        json_decref(b);
        return NULL;
    }
    return b;
}

/* "data:image/png;base64,AAAA" -> mime + payload; false when not a base64 data URL. */
static bool split_data_url(const char *url, char *mime, size_t mime_size, const char **data) {
    if (strncmp(url, "data:", 5) != 0) return false;
    const char *semi = strstr(url, ";base64,");
    if (!semi) return false;
    size_t n = (size_t)(semi - (url + 5));
    if (n == 0 || n >= mime_size) return false;
    memcpy(mime, url + 5, n);
    mime[n] = '\0';
    *data = semi + 8;
    return true;
}

static json_t *image_block(lx_enc *c, const llmux_part *p, const char *where) {
    json_t *src = NULL;
    char mime[128];
    const char *data = p->data;
    const char *media = p->mime_type;
    if (!data && p->image_url && split_data_url(p->image_url, mime, sizeof mime, &data)) media = mime;
    if (data) {
        if (!media || !*media) {
            lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s.mime_type: required with base64 image data", where);
            return NULL;
        }
        src = lx_enc_obj(c, "base64");
        if (src && (!lx_enc_set(c, src, "media_type", lx_enc_str(c, media, where)) ||
                    !lx_enc_set(c, src, "data", lx_enc_str(c, data, where)))) {
            json_decref(src);
            return NULL;
        }
    } else if (p->image_url && *p->image_url) {
        src = lx_enc_obj(c, "url");
        if (src && !lx_enc_set(c, src, "url", lx_enc_str(c, p->image_url, where))) {
            json_decref(src);
            return NULL;
        }
    } else {
        lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s: an image needs image_url or data", where);
        return NULL;
    }
    if (!src) return NULL;
    json_t *b = lx_enc_obj(c, p->type == LLMUX_PART_FILE ? "document" : "image");
    if (!b) {
        json_decref(src);
        return NULL;
    }
    if (!lx_enc_set(c, b, "source", src)) {
        json_decref(b);
        return NULL;
    }
    return b;
}

/* A FILE part as a document block: a PDF (base64 or URL, as an image's source), or plain text
 * (base64 data, decoded into a text source). Other types are not documents Anthropic reads. */
static json_t *document_block(lx_enc *c, const llmux_part *p, const char *where) {
    const char *mime = p->mime_type;
    if (p->data && mime && strcmp(mime, "text/plain") == 0) {
        size_t len = strlen(p->data), n = 0;
        char *text = malloc(len / 4 * 3 + 3);
        if (!text) return lx_enc_oom(c), NULL;
        if (!lx_base64_decode(p->data, len, text, len / 4 * 3 + 2, &n)) {
            free(text);
            lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s.data: not base64", where);
            return NULL;
        }
        text[n] = 0;
        json_t *src = lx_enc_obj(c, "text"), *b = lx_enc_obj(c, "document");
        bool ok = src && b && lx_enc_set(c, src, "media_type", json_string("text/plain")) &&
                  lx_enc_set(c, src, "data", lx_enc_str(c, text, where));
        free(text);
        if (!ok || !lx_enc_set(c, b, "source", src)) {
            if (!ok) json_decref(src);
            json_decref(b);
            return NULL;
        }
        return b;
    }
    if (p->data && (!mime || strcmp(mime, "application/pdf") != 0)) {
        lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s.mime_type: anthropic reads PDF (application/pdf) and text/plain documents, not \"%.64s\"",
                     where, mime ? mime : "");
        return NULL;
    }
    return image_block(c, p, where);
}

static json_t *tool_use_block(lx_enc *c, const llmux_part *p, const char *where) {
    char field[96];
    if (!p->id || !*p->id || !p->name || !*p->name) {
        lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s: a tool call needs id and name", where);
        return NULL;
    }
    snprintf(field, sizeof field, "%s.arguments", where);
    json_t *b = lx_enc_obj(c, "tool_use");
    if (!b) return NULL;
    if (!lx_enc_set(c, b, "id", lx_enc_str(c, p->id, where)) ||
        !lx_enc_set(c, b, "name", lx_enc_str(c, p->name, where)) ||
        !lx_enc_set(c, b, "input", lx_enc_parse_object(c, p->arguments, field))) {
        json_decref(b);
        return NULL;
    }
    return b;
}

static json_t *tool_result_block(lx_enc *c, const llmux_part *p, const char *where) {
    if (!p->id || !*p->id) {
        lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s.id: a tool result names the call it answers", where);
        return NULL;
    }
    json_t *b = lx_enc_obj(c, "tool_result");
    if (!b || !lx_enc_set(c, b, "tool_use_id", lx_enc_str(c, p->id, where)) ||
        !lx_enc_set(c, b, "content", lx_enc_str(c, p->text, where)) ||
        !lx_enc_set(c, b, "is_error", json_boolean(p->is_error))) {
        json_decref(b);
        return NULL;
    }
    return b;
}

/* Thinking blocks go back exactly as they came: the signature (or the redacted payload) is what
 * lets the API verify them. Returns NULL without error for a part that must be dropped. */
static json_t *thinking_block(lx_enc *c, const llmux_part *p, const char *where) {
    json_t *b = NULL;
    if (p->redacted) {
        b = lx_enc_obj(c, "redacted_thinking");
        if (b && !lx_enc_set(c, b, "data", lx_enc_str(c, p->text, where))) goto fail;
        return b;
    }
    /* Unsigned reasoning (from another provider) cannot be verified: the API would reject it. So
     * would it reject another provider's signature; OpenAI's Responses reasoning travels as
     * "<item id>|<encrypted_content>" (openai_responses.c), and '|' is not in the base64 alphabet
     * of Anthropic's signatures: such a part is left out too (a client that switched a
     * conversation from an OpenAI model to a Claude model sends them back). */
    if (!p->signature || !*p->signature || strchr(p->signature, '|')) return NULL;
    b = lx_enc_obj(c, "thinking");
    if (b && (!lx_enc_set(c, b, "thinking", lx_enc_str(c, p->text, where)) ||
              !lx_enc_set(c, b, "signature", lx_enc_str(c, p->signature, where))))
        goto fail;
    return b;
fail:
    json_decref(b);
    return NULL;
}

/* A cache breakpoint (llmux_cache) as Anthropic's cache_control on block b (taken; NULL when it
 * fails, or when b was NULL). */
static json_t *with_cache(lx_enc *c, json_t *b, llmux_cache k) {
    if (!b || k == LLMUX_CACHE_NONE) return b;
    if (!lx_enc_set(c, b, "cache_control", lx_json_cache_control(k))) {
        json_decref(b);
        return NULL;
    }
    return b;
}

static json_t *part_block_of(lx_enc *c, llmux_role role, const llmux_part *p, const char *where);

/* A NATIVE part of Anthropic's own format (a server tool's call or result an Anthropic client
 * sent back) goes back as it came; another format's is left out (NULL without error). */
static json_t *native_block(lx_enc *c, const llmux_part *p, const char *where) {
    if (!p->name || strcmp(p->name, "anthropic") != 0) return NULL;
    json_t *b = json_loads(p->text ? p->text : "", JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(b)) return b;
    json_decref(b);
    lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s.block: expected a JSON object", where);
    return NULL;
}

/* A part's block with its cache breakpoint (none on thinking blocks: the API refuses it there). */
static json_t *part_block(lx_enc *c, llmux_role role, const llmux_part *p, const char *where) {
    json_t *b = part_block_of(c, role, p, where);
    return p->type == LLMUX_PART_REASONING ? b : with_cache(c, b, p->cache);
}

static json_t *part_block_of(lx_enc *c, llmux_role role, const llmux_part *p, const char *where) {
    switch (p->type) {
    case LLMUX_PART_TEXT: return text_block(c, p->text, where);
    case LLMUX_PART_IMAGE:
        if (role == LLMUX_ROLE_USER) return image_block(c, p, where);
        break;
    case LLMUX_PART_FILE:
        if (role == LLMUX_ROLE_USER) return document_block(c, p, where);
        break;
    case LLMUX_PART_TOOL_CALL:
        if (role == LLMUX_ROLE_ASSISTANT) return tool_use_block(c, p, where);
        break;
    case LLMUX_PART_TOOL_RESULT:
        if (role == LLMUX_ROLE_USER || role == LLMUX_ROLE_TOOL) return tool_result_block(c, p, where);
        break;
    case LLMUX_PART_REASONING:
        if (role == LLMUX_ROLE_ASSISTANT) return thinking_block(c, p, where);
        break;
    case LLMUX_PART_NATIVE: return native_block(c, p, where);
    default:
        lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s.type: unknown part type %d", where, (int)p->type);
        return NULL;
    }
    lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s: this part type is not allowed in a %s message", where,
                 role == LLMUX_ROLE_USER ? "user" : role == LLMUX_ROLE_ASSISTANT ? "assistant" : "tool");
    return NULL;
}

/* Appends the system prompt pieces; a single piece without a cache breakpoint stays a plain
 * string. The SYSTEM messages' parts keep their breakpoints: blocks come in the order
 * lx_enc_system_texts writes them (req->system first). */
static bool encode_system(lx_enc *c, json_t *body) {
    json_t *blocks = json_array();
    if (!blocks) return lx_enc_oom(c);
    if (!lx_enc_system_texts(c, blocks, text_block)) goto fail;
    size_t n = json_array_size(blocks), k = c->req->system ? 1 : 0;
    bool cached = false;
    for (size_t i = 0; i < c->req->n_messages; i++) {
        const llmux_message *m = &c->req->messages[i];
        for (size_t j = 0; m->role == LLMUX_ROLE_SYSTEM && j < m->n_parts; j++, k++) {
            if (m->parts[j].cache == LLMUX_CACHE_NONE) continue;
            cached = true;
            json_t *b = json_incref(json_array_get(blocks, k));
            if (!with_cache(c, b, m->parts[j].cache)) goto fail;
            json_decref(b);
        }
    }
    if (n == 0) {
        json_decref(blocks);
        return true;
    }
    if (n == 1 && !cached) {
        json_t *text = json_incref(json_object_get(json_array_get(blocks, 0), "text"));
        json_decref(blocks);
        return lx_enc_set(c, body, "system", text);
    }
    return lx_enc_set(c, body, "system", blocks);
fail:
    json_decref(blocks);
    return false;
}

static bool encode_messages(lx_enc *c, const llmux_request *req, json_t *body) {
    json_t *msgs = json_array();
    if (!lx_enc_set(c, body, "messages", msgs)) return false;
    char where[64];
    json_t *content = NULL;   /* the current wire message's content array */
    bool prev_tool = false;   /* it was built from TOOL messages: merge the next ones */
    for (size_t i = 0; i < req->n_messages; i++) {
        const llmux_message *m = &req->messages[i];
        if (m->role == LLMUX_ROLE_SYSTEM) continue;
        if (m->role != LLMUX_ROLE_USER && m->role != LLMUX_ROLE_ASSISTANT && m->role != LLMUX_ROLE_TOOL)
            return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "messages[%zu].role: unknown role %d", i, (int)m->role);
        bool is_tool = m->role == LLMUX_ROLE_TOOL;
        if (!(is_tool && prev_tool)) {
            json_t *msg = lx_enc_obj(c, NULL);
            if (!msg || !lx_enc_push(c, msgs, msg)) return false;
            content = json_array();
            if (!lx_enc_set(c, msg, "role", json_string(m->role == LLMUX_ROLE_ASSISTANT ? "assistant" : "user")) ||
                !lx_enc_set(c, msg, "content", content))
                return false;
        }
        prev_tool = is_tool;
        for (size_t j = 0; j < m->n_parts; j++) {
            snprintf(where, sizeof where, "messages[%zu].parts[%zu]", i, j);
            json_t *b = part_block(c, m->role, &m->parts[j], where);
            if (!b) {
                if (c->st != LLMUX_OK) return false;
                continue; /* dropped on purpose */
            }
            if (!lx_enc_push(c, content, b)) return false;
        }
    }
    return true;
}

/* The end user an OpenAI-format client named (`user` or `safety_identifier`, kept in the request's
 * metadata by llmux serve) as Anthropic's metadata.user_id, the field Anthropic's abuse checks
 * read; an Anthropic client's own metadata (provider_options) replaces it. */
static bool end_user(lx_enc *c, const llmux_request *req, json_t *body) {
    const char *user = lx_request_meta(req, "user");
    if (!user) user = lx_request_meta(req, "safety_identifier");
    if (!user || !*user) return true;
    json_t *m = json_pack("{s:s}", "user_id", user);
    return m ? lx_enc_set(c, body, "metadata", m) : lx_enc_oom(c);
}

#define MAX_BREAKPOINTS 4

/* Counts the blocks of arr (tools, system blocks, or one message's content) that carry a
 * cache_control, and puts them in out (when not NULL) from *n on, in order. */
static void collect_breakpoints(json_t *arr, json_t **out, size_t *n) {
    size_t i;
    json_t *b;
    json_array_foreach(arr, i, b) {
        if (!json_object_get(b, "cache_control")) continue;
        if (out) out[*n] = b;
        ++*n;
    }
}

/* Every block of body with a cache_control, in prompt order (tools, system, messages). */
static void collect_all_breakpoints(json_t *body, json_t **out, size_t *n) {
    size_t i;
    json_t *m;
    *n = 0;
    collect_breakpoints(json_object_get(body, "tools"), out, n);
    collect_breakpoints(json_object_get(body, "system"), out, n); /* nothing for a plain string */
    json_array_foreach(json_object_get(body, "messages"), i, m) collect_breakpoints(json_object_get(m, "content"), out, n);
}

/* Anthropic's two rules on cache breakpoints, which a request translated from another format (or
 * made with the library) can break and which the API answers with a 400: at most four per
 * request, and a 1-hour one never after a 5-minute one in prompt order (tools, system, messages:
 * https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching). Past four, the first
 * (the most stable prefix, usually the tools or the system prompt, shared across conversations)
 * and the last three (the conversation so far, read back next turn) are kept. A 1-hour
 * breakpoint after a 5-minute one becomes a 5-minute one (the cheaper write). */
static void fit_breakpoints(json_t *body) {
    size_t n;
    collect_all_breakpoints(body, NULL, &n);
    if (n == 0) return;
    json_t **bp = malloc(n * sizeof *bp);
    if (!bp) return; /* the API then says what is wrong */
    collect_all_breakpoints(body, bp, &n);
    for (size_t k = 1; n > MAX_BREAKPOINTS && k + (MAX_BREAKPOINTS - 1) < n; k++) json_object_del(bp[k], "cache_control");
    bool short_seen = false;
    for (size_t k = 0; k < n; k++) {
        json_t *cc = json_object_get(bp[k], "cache_control");
        if (!cc) continue;
        if (!json_object_get(cc, "ttl")) short_seen = true;
        else if (short_seen) json_object_del(cc, "ttl");
    }
    free(bp);
}

static bool encode_tools(lx_enc *c, const llmux_request *req, json_t *body) {
    char where[64];
    if (req->n_tools > 0) {
        json_t *tools = json_array();
        if (!lx_enc_set(c, body, "tools", tools)) return false;
        for (size_t i = 0; i < req->n_tools; i++) {
            const llmux_tool *t = &req->tools[i];
            snprintf(where, sizeof where, "tools[%zu]", i);
            if (!t->name || !*t->name) return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "%s.name: required", where);
            json_t *o = lx_enc_obj(c, NULL);
            if (!lx_enc_push(c, tools, o) || !lx_enc_set(c, o, "name", lx_enc_str(c, t->name, where))) return false;
            if (t->description && !lx_enc_set(c, o, "description", lx_enc_str(c, t->description, where))) return false;
            snprintf(where, sizeof where, "tools[%zu].parameters", i);
            json_t *schema = t->parameters ? lx_enc_parse_object(c, t->parameters, where) : NULL;
            if (!t->parameters) {
                schema = json_pack("{s:s,s:{}}", "type", "object", "properties");
                if (!schema) return lx_enc_oom(c);
            }
            if (!lx_enc_set(c, o, "input_schema", schema)) return false;
            if (t->cache != LLMUX_CACHE_NONE) {
                json_incref(o);
                json_t *kept = with_cache(c, o, t->cache);
                if (!kept) return false;
                json_decref(kept);
            }
        }
    }
    const char *type = NULL;
    switch (req->tool_choice) {
    case LLMUX_TOOL_CHOICE_AUTO:
        if (!req->single_tool_call || req->n_tools == 0) return true; /* the API's default */
        type = "auto";
        break;
    case LLMUX_TOOL_CHOICE_NONE: type = "none"; break;
    case LLMUX_TOOL_CHOICE_REQUIRED: type = "any"; break;
    case LLMUX_TOOL_CHOICE_TOOL: type = "tool"; break;
    default: return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "tool_choice: unknown value %d", (int)req->tool_choice);
    }
    if (req->n_tools == 0) {
        if (req->tool_choice == LLMUX_TOOL_CHOICE_NONE) return true; /* nothing to forbid */
        return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "tool_choice: requires tools");
    }
    json_t *tc = lx_enc_obj(c, type);
    if (!lx_enc_set(c, body, "tool_choice", tc)) return false;
    if (req->single_tool_call && req->tool_choice != LLMUX_TOOL_CHOICE_NONE &&
        !lx_enc_set(c, tc, "disable_parallel_tool_use", json_true()))
        return false;
    if (req->tool_choice == LLMUX_TOOL_CHOICE_TOOL) {
        if (!req->tool_choice_name || !*req->tool_choice_name)
            return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "tool_choice_name: required with tool_choice \"tool\"");
        if (!lx_enc_set(c, tc, "name", lx_enc_str(c, req->tool_choice_name, "tool_choice_name"))) return false;
    }
    return true;
}

static bool encode_sampling(lx_enc *c, const llmux_request *req, json_t *body) {
    const llmux_sampling *s = &req->sampling;
    if (s->max_tokens != LLMUX_UNSET_INT) {
        if (s->max_tokens < 1) return lx_enc_failf(c, LLMUX_E_INVALID_REQUEST, "sampling.max_tokens: must be >= 1");
        if (!lx_enc_set(c, body, "max_tokens", json_integer(s->max_tokens))) return false;
    }
    if (!lx_enc_set_real(c, body, "temperature", s->temperature) || !lx_enc_set_real(c, body, "top_p", s->top_p))
        return false;
    if (s->top_k != LLMUX_UNSET_INT && !lx_enc_set(c, body, "top_k", json_integer(s->top_k))) return false;
    if (s->n_stop > 0) {
        json_t *stops = json_array();
        if (!lx_enc_set(c, body, "stop_sequences", stops)) return false;
        for (size_t i = 0; i < s->n_stop; i++)
            if (!lx_enc_push(c, stops, lx_enc_str(c, s->stop[i], "sampling.stop"))) return false;
    }
    /* min_p, seed, presence/frequency/repeat penalties: the Messages API has no such knobs;
     * they are sampling hints, so they are ignored rather than refused (docs/providers.md). */
    return true;
}

/* response_format json_object / json_schema as one forced tool (LX_ANTHROPIC_JSON_TOOL). With
 * extended thinking the API takes no forced tool_choice: then "auto", the description asking
 * for the call. */
static bool encode_json_output(lx_enc *c, const llmux_request *req, json_t *body) {
    if (req->response_format == LLMUX_FORMAT_TEXT) return true;
    json_t *schema = req->response_format == LLMUX_FORMAT_JSON_SCHEMA
                         ? lx_enc_parse_object(c, req->schema, "schema")
                         : json_pack("{s:s}", "type", "object");
    if (!schema) return c->st != LLMUX_OK ? false : lx_enc_oom(c);
    const char *root = json_string_value(json_object_get(schema, "type"));
    if (root && strcmp(root, "object") != 0) {
        lx_enc_failf(c, LLMUX_E_INVALID_REQUEST,
                     "schema: the anthropic adapter answers JSON through a tool, whose input must be an object (this "
                     "schema's root is \"%.32s\")",
                     root); /* before the decref: root is the schema's */
        json_decref(schema);
        return false;
    }
    json_t *tools = json_array(), *tool = lx_enc_obj(c, NULL);
    if (!lx_enc_set(c, body, "tools", tools) || !lx_enc_push(c, tools, tool) ||
        !lx_enc_set(c, tool, "name", json_string(LX_ANTHROPIC_JSON_TOOL)) ||
        !lx_enc_set(c, tool, "description",
                    json_string("Give your answer by calling this tool: its input is the answer, as JSON that matches "
                                "the schema.")) ||
        !lx_enc_set(c, tool, "input_schema", schema))
        return false;
    bool thinking = lx_reasoning_budget(req) > 0;
    json_t *tc = lx_enc_obj(c, thinking ? "auto" : "tool");
    return lx_enc_set(c, body, "tool_choice", tc) &&
           (thinking || lx_enc_set(c, tc, "name", json_string(LX_ANTHROPIC_JSON_TOOL)));
}

/* Extended thinking from the request's reasoning settings (provider_options.anthropic.thinking,
 * merged afterwards, still wins). Anthropic takes budgets of at least 1024 tokens, below
 * max_tokens (which counts the thinking too, as OpenAI's max_completion_tokens does): a budget is
 * cut to max_tokens - 1, and with max_tokens of 1024 or less there is no room to think, so none
 * is asked for. NONE: thinking disabled. */
static bool encode_thinking(lx_enc *c, const llmux_request *req, json_t *body) {
    int64_t budget = lx_reasoning_budget(req);
    if (budget < 0) return true;
    if (budget == 0) return lx_enc_set(c, body, "thinking", lx_enc_obj(c, "disabled"));
    int32_t max = req->sampling.max_tokens;
    if (max != LLMUX_UNSET_INT && budget >= max) budget = (int64_t)max - 1;
    if (budget < 1024) {
        if (max != LLMUX_UNSET_INT && max <= 1024) return true;
        budget = 1024;
    }
    json_t *t = lx_enc_obj(c, "enabled");
    return lx_enc_set(c, body, "thinking", t) && lx_enc_set(c, t, "budget_tokens", json_integer(budget));
}

/* max_tokens is mandatory on the wire. Extended thinking needs budget_tokens < max_tokens, so the
 * default leaves the usual 4096 for the answer on top of the budget. */
static bool default_max_tokens(lx_enc *c, json_t *body) {
    if (json_object_get(body, "max_tokens")) return true;
    json_int_t n = LX_ANTHROPIC_DEFAULT_MAX_TOKENS;
    json_t *budget = json_object_get(lx_json_obj(body, "thinking"), "budget_tokens");
    if (json_is_integer(budget) && json_integer_value(budget) > 0 && json_integer_value(budget) < INT32_MAX)
        n += json_integer_value(budget);
    return lx_enc_set(c, body, "max_tokens", json_integer(n));
}

/* The Messages body of req; NULL with c->st set when it cannot be encoded. */
static json_t *messages_body(const lx_provider_config *cfg, const llmux_request *req, lx_enc *c) {
    if (!cfg || !cfg->model || !*cfg->model) {
        c->st = lx_error(c->err, LLMUX_E_CONFIGURATION, "anthropic: no model configured");
        return NULL;
    }
    if (req->response_format != LLMUX_FORMAT_TEXT && req->n_tools > 0) {
        c->st = lx_error(c->err, LLMUX_E_INVALID_REQUEST,
                         "response_format: %s together with tools is not supported by the anthropic adapter (its JSON "
                         "output is a forced tool call, which would keep the model from calling yours)",
                         req->response_format == LLMUX_FORMAT_JSON_SCHEMA ? "json_schema" : "json_object");
        return NULL;
    }
    json_t *body = json_object();
    if (!body) {
        c->st = lx_error(c->err, LLMUX_E_OUT_OF_MEMORY, "anthropic: out of memory");
        return NULL;
    }
    if (!lx_enc_set(c, body, "model", lx_enc_str(c, cfg->model, "model"))) goto fail;
    if (!encode_system(c, body) || !encode_messages(c, req, body) || !encode_tools(c, req, body) ||
        !encode_json_output(c, req, body) || !encode_sampling(c, req, body))
        goto fail;
    if (req->stream && !lx_enc_set(c, body, "stream", json_true())) goto fail;
    if (!encode_thinking(c, req, body)) goto fail;
    if (!end_user(c, req, body)) goto fail;
    c->st = lx_merge_provider_options(body, req->provider_options, "anthropic", c->err);
    if (c->st != LLMUX_OK || !default_max_tokens(c, body)) goto fail;
    fit_breakpoints(body); /* after the options: breakpoints they bring count too */
    return body;
fail:
    json_decref(body);
    return NULL;
}

#define MAX_BETAS 32
#define MAX_BETA_LEN 128
#define BETAS_HEADER_MAX sizeof(((lx_wire_header *)0)->value)

/* provider_options.anthropic.betas (merged into the body with the other options): Anthropic's
 * beta features as its SDKs take them (`betas: [...]`), sent as the anthropic-beta header and
 * taken out of the body. An array of at most MAX_BETAS names of [A-Za-z0-9._-]. */
static llmux_status take_betas(json_t *body, char out[BETAS_HEADER_MAX], llmux_error_info *err) {
    out[0] = 0;
    json_t *b = json_object_get(body, "betas");
    if (!b) return LLMUX_OK;
    size_t at = 0, i;
    json_t *v;
    if (!json_is_array(b) || json_array_size(b) > MAX_BETAS)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "provider_options.anthropic.betas: expected an array of at most %d names",
                        MAX_BETAS);
    json_array_foreach(b, i, v) {
        const char *s = json_string_value(v);
        size_t n = s ? strlen(s) : 0;
        bool ok = n > 0 && n <= MAX_BETA_LEN;
        for (size_t k = 0; ok && k < n; k++)
            ok = (s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9') ||
                 s[k] == '.' || s[k] == '_' || s[k] == '-';
        if (!ok)
            return lx_error(err, LLMUX_E_INVALID_REQUEST,
                            "provider_options.anthropic.betas[%zu]: expected a beta name of 1..%d characters of "
                            "A-Z a-z 0-9 . _ -",
                            i, MAX_BETA_LEN);
        if (at + 1 + n >= BETAS_HEADER_MAX)
            return lx_error(err, LLMUX_E_INVALID_REQUEST, "provider_options.anthropic.betas: longer than %zu bytes together",
                            BETAS_HEADER_MAX - 1);
        if (at) out[at++] = ',';
        memcpy(out + at, s, n);
        at += n;
    }
    out[at] = 0;
    json_object_del(body, "betas");
    return LLMUX_OK;
}

/* Writes body and the request line and headers for path into out. */
static llmux_status to_wire(const lx_provider_config *cfg, json_t *body, const char *path, bool stream,
                            lx_wire_request *out, llmux_error_info *err) {
    char betas[BETAS_HEADER_MAX];
    llmux_status st = take_betas(body, betas, err);
    if (st != LLMUX_OK) return st;
    lx_buf_reset(&out->body);
    if (!lx_json_dump_buf(body, &out->body))
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "anthropic: the request body exceeds its size cap");
    out->stream = stream;
    /* JSON too: a server that ignores stream:true, or a bare JSON error, is decoded as such. */
    out->accept_types = stream ? "text/event-stream,application/json" : NULL;
    if (!lx_wire_set(out, "POST", path) || !lx_wire_add_header(out, "content-type", "application/json", false) ||
        !lx_wire_add_header(out, "anthropic-version", ANTHROPIC_VERSION, false) ||
        (stream && !lx_wire_add_header(out, "accept", "text/event-stream", false)) ||
        (betas[0] && !lx_wire_add_header(out, "anthropic-beta", betas, false)) ||
        (cfg->api_key && *cfg->api_key && !lx_wire_add_header(out, "x-api-key", cfg->api_key, true)))
        return lx_error(err, LLMUX_E_CONFIGURATION, "anthropic: a header value is too long or holds a line break");
    return LLMUX_OK;
}

static llmux_status encode(const lx_provider_config *cfg, const llmux_request *req, lx_wire_request *out,
                           llmux_error_info *err) {
    lx_enc c = {.err = err, .who = "anthropic", .req = req};
    json_t *body = messages_body(cfg, req, &c);
    if (!body) return c.st;
    llmux_status st = to_wire(cfg, body, "/messages", req->stream, out, err);
    json_decref(body);
    return st;
}

/* ------------------------------------------------------------ token counting */

/* POST /v1/messages/count_tokens (https://docs.anthropic.com/en/api/messages-count-tokens): the
 * Messages body's prompt parts only; the endpoint refuses the sampling fields (max_tokens, stream,
 * temperature, ...) as extra inputs. */
static llmux_status encode_count_tokens(const lx_provider_config *cfg, const llmux_request *req, lx_wire_request *out,
                                        llmux_error_info *err) {
    static const char *const keep[] = {"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers",
                                       "betas" /* taken out again by to_wire: the header */};
    lx_enc c = {.err = err, .who = "anthropic", .req = req};
    json_t *full = messages_body(cfg, req, &c);
    if (!full) return c.st;
    json_t *body = json_object();
    llmux_status st = body ? LLMUX_OK : lx_error(err, LLMUX_E_OUT_OF_MEMORY, "anthropic: out of memory");
    for (size_t i = 0; st == LLMUX_OK && i < sizeof keep / sizeof keep[0]; i++) {
        json_t *v = json_object_get(full, keep[i]);
        if (v && json_object_set(body, keep[i], v) != 0) st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "anthropic: out of memory");
    }
    if (st == LLMUX_OK) st = to_wire(cfg, body, "/messages/count_tokens", false, out, err);
    json_decref(body);
    json_decref(full);
    return st;
}

/* {"input_tokens": N} */
static llmux_status decode_count_tokens(const lx_provider_config *cfg, const char *body, size_t len, int64_t *n,
                                        llmux_error_info *err) {
    (void)cfg;
    *n = 0;
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *v = json_object_get(j, "input_tokens");
    bool ok = json_is_integer(v) && json_integer_value(v) >= 0;
    if (ok) *n = (int64_t)json_integer_value(v);
    json_decref(j);
    return ok ? LLMUX_OK
              : lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "anthropic: count_tokens answered without an input_tokens count");
}

/* ------------------------------------------------------------ errors */

llmux_status lx_anthropic_error(const json_t *error, int http_status, int64_t retry_after_ms, const char *provider,
                                llmux_error_info *err) {
    const char *type = lx_json_str(error, "type");
    const char *message = lx_json_str(error, "message");
    llmux_status st;
    if (!type) st = http_status > 0 ? lx_http_status_class(http_status) : LLMUX_E_UPSTREAM_SERVER;
    else if (strcmp(type, "invalid_request_error") == 0) st = LLMUX_E_INVALID_REQUEST;
    else if (strcmp(type, "authentication_error") == 0) st = LLMUX_E_AUTHENTICATION;
    else if (strcmp(type, "permission_error") == 0 || strcmp(type, "billing_error") == 0) st = LLMUX_E_PERMISSION;
    else if (strcmp(type, "not_found_error") == 0) st = LLMUX_E_MODEL_NOT_FOUND;
    else if (strcmp(type, "request_too_large") == 0) st = LLMUX_E_CONTEXT_LENGTH;
    else if (strcmp(type, "rate_limit_error") == 0) st = LLMUX_E_RATE_LIMITED;
    else if (strcmp(type, "api_error") == 0) st = LLMUX_E_UPSTREAM_SERVER;
    else if (strcmp(type, "overloaded_error") == 0) st = LLMUX_E_OVERLOADED;
    else if (strcmp(type, "timeout_error") == 0) st = LLMUX_E_TIMEOUT;
    else st = http_status > 0 ? lx_http_status_class(http_status) : LLMUX_E_UPSTREAM_SERVER;
    /* Context overflow is an ordinary invalid_request_error; only the message tells it apart. */
    if (st == LLMUX_E_INVALID_REQUEST &&
        (lx_mentions_context_length(message) || lx_contains_ci(message, "exceed context limit")))
        st = LLMUX_E_CONTEXT_LENGTH;
    return lx_provider_error(err, st, provider, http_status, type, message, retry_after_ms);
}

static void map_error(int http_status, const char *body, size_t len, const char *retry_after, llmux_error_info *err) {
    /* Without Retry-After: the exhausted limits' reset values (RFC 3339 instants for anthropic-ratelimit-*-reset). */
    int64_t retry = lx_parse_retry_hint(retry_after);
    json_t *j = body && len > 0 ? json_loadb(body, len < LX_WIRE_MAX_BODY ? len : LX_WIRE_MAX_BODY, 0, NULL) : NULL;
    json_t *e = lx_json_obj(j, "error");
    if (e) {
        lx_anthropic_error(e, http_status, retry, "anthropic", err);
    } else {
        lx_provider_error_raw(err, "anthropic", http_status, body, len, retry);
    }
    json_decref(j);
}

const lx_provider lx_provider_anthropic = {
    .protocol = "anthropic",
    .caps = LX_CAP_TOOLS | LX_CAP_VISION | LX_CAP_REASONING | LX_CAP_STREAM_USAGE | LX_CAP_MODEL_LIST,
    .encode = encode,
    .decoder_create = lx_anthropic_decoder_create,
    .decoder_feed = lx_anthropic_decoder_feed,
    .decoder_end = lx_anthropic_decoder_end,
    .decoder_destroy = lx_anthropic_decoder_destroy,
    .decoder_progress = lx_anthropic_decoder_progress,
    .decoder_emitter = lx_anthropic_decoder_emitter,
    .map_error = map_error,
    .keep_headers = lx_ratelimit_headers_anthropic,
    .encode_models = lx_anthropic_encode_models,
    .decode_models = lx_anthropic_decode_models,
    .encode_count_tokens = encode_count_tokens,
    .decode_count_tokens = decode_count_tokens,
};
