/* Canonical response → the client's final JSON (non-streamed answers) and error bodies.
 * OpenAI: the chat.completion object (platform.openai.com/docs/api-reference/chat/object) and
 * error object {"error": {message, type, param, code}}. Anthropic: the Message object
 * (docs.anthropic.com/en/api/messages) and errors {"type": "error", "error": {type, message}}
 * (docs.anthropic.com/en/api/errors). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/translate.h"

const char *lx_srv_openai_finish(llmux_finish_reason r, bool tool_calls_seen) {
    switch (r) {
    case LLMUX_FINISH_LENGTH: return "length";
    case LLMUX_FINISH_CONTENT_FILTER: return "content_filter";
    case LLMUX_FINISH_TOOL_CALLS: return "tool_calls";
    default: return tool_calls_seen ? "tool_calls" : "stop";
    }
}

const char *lx_srv_anthropic_stop(llmux_finish_reason r, bool tool_calls_seen) {
    switch (r) {
    case LLMUX_FINISH_LENGTH: return "max_tokens";
    case LLMUX_FINISH_CONTENT_FILTER: return "refusal";
    case LLMUX_FINISH_TOOL_CALLS: return "tool_use";
    case LLMUX_FINISH_PAUSED: return "pause_turn";
    default: return tool_calls_seen ? "tool_use" : "end_turn";
    }
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 when the bytes there are not one
 * (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    if (c < 0x80) return 1;
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!len || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;
    if (c == 0xED && p[1] > 0x9F) return 0;
    if (c == 0xF0 && p[1] < 0x90) return 0;
    if (c == 0xF4 && p[1] > 0x8F) return 0;
    return len;
}

json_t *lx_srv_json_text(const char *p, size_t n) {
    if (!p) return json_string("");
    json_t *s = json_stringn(p, n);
    if (s) return s;
    /* Invalid UTF-8: repair a copy (a NUL byte is valid and kept: JSON writes it as \u0000). */
    char *fixed = malloc(n * 3 + 1);
    if (!fixed) return NULL;
    size_t k = 0;
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq(u + i, n - i);
        if (len) {
            memcpy(fixed + k, u + i, len);
            k += len;
            i += len;
        } else {
            memcpy(fixed + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i++;
        }
    }
    s = json_stringn(fixed, k);
    free(fixed);
    return s;
}

static json_t *text_or_empty(const char *t) { return lx_srv_json_text(t, t ? strlen(t) : 0); }

static json_int_t known(int64_t v) { return v < 0 ? 0 : v; }

static bool has_tool_call(const llmux_response *resp) {
    for (size_t i = 0; i < resp->n_parts; i++)
        if (resp->parts[i].type == LLMUX_PART_TOOL_CALL) return true;
    return false;
}

static char *dump_free(json_t *o) {
    if (!o) return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* The object form of lx_srv_openai_usage_text, for answers still built as jansson trees (tool
 * calls, reasoning, text completions): one encoder, so both forms cannot drift apart. */
json_t *lx_srv_openai_usage(const llmux_usage *u) {
    char t[LX_SRV_USAGE_TEXT_MAX];
    lx_srv_openai_usage_text(u, t);
    return json_loads(t, 0, NULL);
}

void lx_srv_openai_usage_text(const llmux_usage *u, char out[LX_SRV_USAGE_TEXT_MAX]) {
    json_int_t in = known(u->input_tokens), o = known(u->output_tokens);
    /* OpenAI's key order; integers as jansson writes them (JSON_INTEGER_FORMAT). An unknown
     * count (-1) is written as 0 (known()). */
    snprintf(out, LX_SRV_USAGE_TEXT_MAX,
             "{\"prompt_tokens\":%" JSON_INTEGER_FORMAT ",\"completion_tokens\":%" JSON_INTEGER_FORMAT
             ",\"total_tokens\":%" JSON_INTEGER_FORMAT ",\"prompt_tokens_details\":{\"cached_tokens\":%" JSON_INTEGER_FORMAT
             "},\"completion_tokens_details\":{\"reasoning_tokens\":%" JSON_INTEGER_FORMAT "}}",
             in, o, u->total_tokens >= 0 ? (json_int_t)u->total_tokens : in + o, known(u->cached_input_tokens),
             known(u->reasoning_tokens));
}

/* Jansson's compact encoding of any value (a string: the bytes it writes inside an object);
 * NULL when out of memory or v is NULL. Takes v. */
static char *dump_any(json_t *v) {
    char *e = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    return e;
}

/* The common answer, text only (no tool call, no reasoning), as bytes: the same ones the object of
 * lx_srv_openai_response dumps (asserted in tests/server/test_translate.c), with the three strings
 * encoded by jansson and no object tree around them (bench/gateway: building and dumping that
 * tree was ~7% of a proxied non-streamed request's CPU). NULL when out of memory, or when id or
 * model is not UTF-8 (json_pack's "s" refuses it there too). */
static char *openai_text_response(const llmux_response *resp, const char *id, const char *model, long created,
                                  const char *text) {
    char *e_id = dump_any(json_string(id)), *e_model = dump_any(json_string(model));
    char *e_text = dump_any(text_or_empty(text)), *out = NULL;
    if (e_id && e_model && e_text) {
        char usage[LX_SRV_USAGE_TEXT_MAX];
        lx_srv_openai_usage_text(&resp->usage, usage);
        static const char fmt[] = "{\"id\":%s,\"object\":\"chat.completion\",\"created\":%" JSON_INTEGER_FORMAT
                                  ",\"model\":%s,\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                                  "\"refusal\":null,\"content\":%s},\"logprobs\":null,\"finish_reason\":\"%s\"}],"
                                  "\"usage\":%s}";
        const char *finish = lx_srv_openai_finish(resp->finish_reason, false);
        size_t n = sizeof fmt + 32 + strlen(e_id) + strlen(e_model) + strlen(e_text) + strlen(finish) + strlen(usage);
        out = malloc(n);
        if (out) snprintf(out, n, fmt, e_id, (json_int_t)created, e_model, e_text, finish, usage);
    }
    free(e_id);
    free(e_model);
    free(e_text);
    return out;
}

char *lx_srv_openai_response(const llmux_response *resp, const char *id, const char *model, long created) {
    bool plain = true;
    for (size_t i = 0; plain && i < resp->n_parts; i++) {
        const llmux_part *p = &resp->parts[i];
        if (p->type == LLMUX_PART_TOOL_CALL || (p->type == LLMUX_PART_REASONING && !p->redacted && p->text)) plain = false;
    }
    if (plain) return openai_text_response(resp, id, model, created, llmux_response_text(resp));
    json_t *msg = json_pack("{s:s,s:n}", "role", "assistant", "refusal");
    json_t *calls = json_array();
    size_t text_len = 0;
    const char *text = llmux_response_text(resp);
    text_len = strlen(text);
    json_t *reasoning = NULL;
    for (size_t i = 0; msg && calls && i < resp->n_parts; i++) {
        const llmux_part *p = &resp->parts[i];
        if (p->type == LLMUX_PART_TOOL_CALL) {
            json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:o}}", "id", p->id ? p->id : "", "type", "function",
                                                   "function", "name", p->name ? p->name : "", "arguments",
                                                   text_or_empty(p->arguments ? p->arguments : "{}")));
        } else if (p->type == LLMUX_PART_REASONING && !p->redacted && p->text && !reasoning) {
            /* Chat Completions has no reasoning field; reasoning_content is the de-facto one
             * (DeepSeek, vLLM, llama-server) that OpenAI clients ignore when they do not know it. */
            reasoning = text_or_empty(p->text);
        }
    }
    if (!msg || !calls) goto oom;
    json_object_set_new(msg, "content", text_len || !json_array_size(calls) ? text_or_empty(text) : json_null());
    if (json_array_size(calls)) json_object_set(msg, "tool_calls", calls);
    if (reasoning) json_object_set_new(msg, "reasoning_content", reasoning);
    json_decref(calls);
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:n,s:s}],s:o}", "id", id, "object", "chat.completion", "created",
                          (json_int_t)created, "model", model, "choices", "index", 0, "message", msg, "logprobs",
                          "finish_reason", lx_srv_openai_finish(resp->finish_reason, has_tool_call(resp)), "usage",
                          lx_srv_openai_usage(&resp->usage));
    return dump_free(o);
oom:
    json_decref(msg);
    json_decref(calls);
    json_decref(reasoning);
    return NULL;
}

json_t *lx_srv_anthropic_usage(const llmux_usage *u) {
    /* Anthropic's input_tokens excludes cache reads and writes; the canonical count includes them. */
    int64_t in = known(u->input_tokens) - known(u->cached_input_tokens) - known(u->cache_write_tokens);
    json_t *o = json_pack("{s:I,s:I,s:I,s:I}", "input_tokens", (json_int_t)(in < 0 ? 0 : in), "output_tokens",
                          known(u->output_tokens), "cache_read_input_tokens", known(u->cached_input_tokens),
                          "cache_creation_input_tokens", known(u->cache_write_tokens));
    /* The writes by lifetime, when some were hour-long (an Anthropic backend's cache_creation;
     * a usage zero-initialised in C says 0, which is no different from not saying). */
    if (o && u->cache_write_1h_tokens > 0) {
        int64_t w = known(u->cache_write_tokens), h = u->cache_write_1h_tokens < w ? u->cache_write_1h_tokens : w;
        json_object_set_new(o, "cache_creation", json_pack("{s:I,s:I}", "ephemeral_5m_input_tokens", (json_int_t)(w - h),
                                                           "ephemeral_1h_input_tokens", (json_int_t)h));
    }
    /* The searches an Anthropic backend's web search tool ran, as Anthropic reports them. */
    if (o && u->web_search_requests > 0)
        json_object_set_new(o, "server_tool_use", json_pack("{s:I}", "web_search_requests", (json_int_t)u->web_search_requests));
    return o;
}

json_t *lx_srv_native_block(const char *format, const char *text, size_t len) {
    if (!format || strcmp(format, "anthropic") != 0 || !text) return NULL;
    json_t *b = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(b)) return b;
    json_decref(b);
    return NULL;
}

char *lx_srv_anthropic_response(const llmux_response *resp, const char *id, const char *model) {
    json_t *content = json_array();
    if (!content) return NULL;
    for (size_t i = 0; i < resp->n_parts; i++) {
        const llmux_part *p = &resp->parts[i];
        json_t *b = NULL;
        if (p->type == LLMUX_PART_TEXT) {
            b = json_pack("{s:s,s:o}", "type", "text", "text", text_or_empty(p->text));
        } else if (p->type == LLMUX_PART_TOOL_CALL) {
            json_t *input = json_loads(p->arguments && *p->arguments ? p->arguments : "{}", JSON_DECODE_ANY, NULL);
            /* A backend that produced arguments that are not an object: Anthropic's input must be
             * one, so the text is kept under a key rather than dropped. */
            if (!json_is_object(input)) {
                json_decref(input);
                input = json_pack("{s:s}", "_raw_arguments", p->arguments ? p->arguments : "");
            }
            b = json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id", p->id ? p->id : "", "name", p->name ? p->name : "",
                          "input", input);
        } else if (p->type == LLMUX_PART_REASONING && p->redacted) {
            b = json_pack("{s:s,s:s}", "type", "redacted_thinking", "data", p->text ? p->text : "");
        } else if (p->type == LLMUX_PART_REASONING) {
            b = json_pack("{s:s,s:o,s:s}", "type", "thinking", "thinking", text_or_empty(p->text), "signature",
                          p->signature ? p->signature : "");
        } else if (p->type == LLMUX_PART_NATIVE && (b = lx_srv_native_block(p->name, p->text, p->text ? strlen(p->text) : 0))) {
            /* an Anthropic backend's own block, as it came */
        } else {
            continue;
        }
        if (!b || json_array_append_new(content, b) != 0) {
            json_decref(content);
            return NULL;
        }
    }
    /* A stop sequence the backend named: Anthropic's stop_reason "stop_sequence" with it. */
    bool by_stop = resp->stop_sequence && resp->finish_reason == LLMUX_FINISH_STOP && !has_tool_call(resp);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:o}", "id", id, "type", "message", "role", "assistant", "model",
                          model, "content", content, "stop_reason",
                          by_stop ? "stop_sequence" : lx_srv_anthropic_stop(resp->finish_reason, has_tool_call(resp)),
                          "stop_sequence", by_stop ? lx_srv_json_text(resp->stop_sequence, strlen(resp->stop_sequence)) : json_null(),
                          "usage", lx_srv_anthropic_usage(&resp->usage));
    return dump_free(o);
}

static const char *openai_type(llmux_status st) {
    switch (st) {
    case LLMUX_E_INVALID_REQUEST:
    case LLMUX_E_CONTEXT_LENGTH:
    case LLMUX_E_CONTENT_FILTERED:
    case LLMUX_E_MODEL_NOT_FOUND: return "invalid_request_error";
    case LLMUX_E_AUTHENTICATION: return "authentication_error";
    case LLMUX_E_PERMISSION: return "permission_error";
    case LLMUX_E_RATE_LIMITED:
    case LLMUX_E_QUEUE_FULL: return "rate_limit_error";
    default: return "server_error";
    }
}

static const char *anthropic_type(llmux_status st) {
    switch (st) {
    case LLMUX_E_INVALID_REQUEST:
    case LLMUX_E_CONTEXT_LENGTH:
    case LLMUX_E_CONTENT_FILTERED: return "invalid_request_error";
    case LLMUX_E_AUTHENTICATION: return "authentication_error";
    case LLMUX_E_PERMISSION: return "permission_error";
    case LLMUX_E_MODEL_NOT_FOUND: return "not_found_error";
    case LLMUX_E_RATE_LIMITED:
    case LLMUX_E_QUEUE_FULL: return "rate_limit_error";
    case LLMUX_E_OVERLOADED: return "overloaded_error";
    case LLMUX_E_TIMEOUT: return "timeout_error";
    default: return "api_error";
    }
}

json_t *lx_srv_error_json(lx_srv_format f, llmux_status st, const char *message) {
    if (!message || !*message) message = llmux_strerror(st);
    /* An upstream's message may have been cut mid-character: repaired, never dropped. */
    json_t *m = text_or_empty(message);
    if (f == LX_SRV_ANTHROPIC)
        return json_pack("{s:s,s:{s:s,s:o}}", "type", "error", "error", "type", anthropic_type(st), "message", m);
    return json_pack("{s:{s:o,s:s,s:n,s:s}}", "error", "message", m, "type", openai_type(st), "param", "code",
                     llmux_status_name(st));
}

char *lx_srv_error_body(lx_srv_format f, llmux_status st, const char *message) {
    return dump_free(lx_srv_error_json(f, st, message));
}
