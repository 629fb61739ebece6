/* OpenAI Chat Completions request → canonical request (POST /v1/chat/completions).
 * Reference: https://platform.openai.com/docs/api-reference/chat/create. Fields llmux cannot
 * honour in the answer (n > 1, logprobs) are refused with a 400 rather than silently ignored;
 * fields that do not change the answer's shape (user, metadata, store, ...) are ignored. */
#include <stdio.h>
#include <string.h>

#include "server/http/translate.h"

/* "data:image/png;base64,AAAA" → mime + data; anything else is a URL passed through. */
static bool image_part(lx_srv_req *r, const json_t *c, const char *where, llmux_part *p, llmux_error_info *err) {
    json_t *iu = json_object_get(c, "image_url");
    const char *url = json_is_object(iu) ? json_string_value(json_object_get(iu, "url")) : json_string_value(iu);
    if (!url || !*url) return lx_srv_fail(err, "%s.image_url.url: expected a non-empty string", where), false;
    char w[128];
    snprintf(w, sizeof w, "%s.image_url.url", where);
    return lx_srv_image_url(r, url, w, p, err);
}

/* Text of a content that is a string or an array of text parts (system, tool, assistant), and
 * the breakpoint its parts carry (cache_control; the longest lifetime of any: joined, the text
 * ends where the last of them did). cache may be NULL. */
static bool text_of(lx_srv_req *r, const json_t *content, const char *where, const char **out, llmux_cache *cache,
                    llmux_error_info *err) {
    if (json_is_string(content)) {
        *out = json_string_value(content);
        return true;
    }
    if (!json_is_array(content)) return lx_srv_fail(err, "%s: expected a string or an array of text parts", where), false;
    size_t total = 0, i;
    json_t *c;
    json_array_foreach(content, i, c) {
        const char *t = json_string_value(json_object_get(c, "text"));
        if (!t) return lx_srv_fail(err, "%s[%zu]: expected a text part", where, i), false;
        total += strlen(t);
        llmux_cache k = LLMUX_CACHE_NONE;
        char w[96];
        snprintf(w, sizeof w, "%s[%zu]", where, i);
        if (!lx_srv_cache_control(c, w, &k, err)) return false;
        if (cache && k > *cache) *cache = k;
    }
    char *s = lx_srv_alloc(r, total + 1);
    if (!s) return lx_srv_fail(err, "out of memory"), false;
    size_t at = 0;
    json_array_foreach(content, i, c) {
        const char *t = json_string_value(json_object_get(c, "text"));
        size_t l = strlen(t);
        memcpy(s + at, t, l);
        at += l;
    }
    *out = s;
    return true;
}

static bool content_parts(lx_srv_req *r, const json_t *content, const char *where, llmux_part *parts, size_t *n,
                          llmux_error_info *err) {
    if (json_is_string(content)) {
        parts[(*n)++] = (llmux_part){.type = LLMUX_PART_TEXT, .text = json_string_value(content)};
        return true;
    }
    size_t i;
    json_t *c;
    json_array_foreach(content, i, c) {
        char w[96];
        snprintf(w, sizeof w, "%s[%zu]", where, i);
        const char *type = json_string_value(json_object_get(c, "type"));
        if (!type) return lx_srv_fail(err, "%s.type: expected a string", w), false;
        llmux_part *p = &parts[(*n)++];
        if (strcmp(type, "text") == 0) {
            const char *t = json_string_value(json_object_get(c, "text"));
            if (!t) return lx_srv_fail(err, "%s.text: expected a string", w), false;
            *p = (llmux_part){.type = LLMUX_PART_TEXT, .text = t};
        } else if (strcmp(type, "image_url") == 0) {
            if (!image_part(r, c, w, p, err)) return false;
        } else if (strcmp(type, "file") == 0) {
            char fw[112];
            snprintf(fw, sizeof fw, "%s.file", w);
            json_t *f = json_object_get(c, "file");
            if (!json_is_object(f)) return lx_srv_fail(err, "%s: expected an object", fw), false;
            if (!lx_srv_file(r, f, fw, p, err)) return false;
        } else {
            return lx_srv_fail(err, "%s.type: unsupported content part type \"%.40s\"", w, type), false;
        }
        if (!lx_srv_cache_control(c, w, &p->cache, err)) return false;
    }
    return true;
}

static bool tool_calls(const json_t *calls, const char *where, llmux_part *parts, size_t *n, llmux_error_info *err) {
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        json_t *fn = json_object_get(c, "function");
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        if (!id || !name) return lx_srv_fail(err, "%s.tool_calls[%zu]: needs id and function.name", where, i), false;
        parts[(*n)++] = (llmux_part){.type = LLMUX_PART_TOOL_CALL, .id = id, .name = name, .arguments = args ? args : "{}"};
    }
    return true;
}

static bool message(lx_srv_req *r, const json_t *m, size_t mi, llmux_message *out, llmux_error_info *err) {
    char where[48];
    snprintf(where, sizeof where, "messages[%zu]", mi);
    if (!json_is_object(m)) return lx_srv_fail(err, "%s: expected an object", where), false;
    const char *role = json_string_value(json_object_get(m, "role"));
    if (!role) return lx_srv_fail(err, "%s.role: expected a string", where), false;
    json_t *content = json_object_get(m, "content");
    json_t *calls = json_object_get(m, "tool_calls");
    /* At least one slot: an empty content array still becomes one (empty) text part. */
    size_t n_content = json_is_array(content) && json_array_size(content) ? json_array_size(content) : 1;
    size_t n_calls = json_is_array(calls) ? json_array_size(calls) : 0;
    if (n_content + n_calls > LX_SRV_MAX_PARTS)
        return lx_srv_fail(err, "%s: more than %d content parts", where, LX_SRV_MAX_PARTS), false;
    if (calls && !json_is_null(calls) && !json_is_array(calls))
        return lx_srv_fail(err, "%s.tool_calls: expected an array", where), false;
    llmux_part *parts = lx_srv_alloc(r, (n_content + n_calls) * sizeof *parts);
    if (!parts) return lx_srv_fail(err, "out of memory"), false;
    size_t n = 0;
    const char *name = NULL;
    if (!lx_srv_opt_string(m, "name", &name, err)) return false;
    *out = (llmux_message){.parts = parts, .name = name};
    char cw[64];
    snprintf(cw, sizeof cw, "%s.content", where);
    if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
        out->role = LLMUX_ROLE_SYSTEM;
        if (!text_of(r, content, cw, &parts[0].text, &parts[0].cache, err)) return false;
        parts[0].type = LLMUX_PART_TEXT;
        n = 1;
        /* With cache breakpoints the parts stay parts, each with its own (an Anthropic backend
         * gets them as system blocks). */
        if (parts[0].cache != LLMUX_CACHE_NONE && json_is_array(content)) {
            size_t i;
            json_t *c;
            json_array_foreach(content, i, c) { /* text_of checked each: a text and a valid breakpoint */
                parts[i] = (llmux_part){.type = LLMUX_PART_TEXT, .text = json_string_value(json_object_get(c, "text"))};
                lx_srv_cache_control(c, cw, &parts[i].cache, err);
            }
            n = json_array_size(content);
        }
    } else if (strcmp(role, "user") == 0) {
        out->role = LLMUX_ROLE_USER;
        if (!json_is_string(content) && !json_is_array(content))
            return lx_srv_fail(err, "%s: expected a string or an array of parts", cw), false;
        if (!content_parts(r, content, cw, parts, &n, err)) return false;
    } else if (strcmp(role, "assistant") == 0) {
        out->role = LLMUX_ROLE_ASSISTANT;
        if (content && !json_is_null(content)) {
            const char *t;
            llmux_cache k = LLMUX_CACHE_NONE;
            if (!text_of(r, content, cw, &t, &k, err)) return false;
            if (*t || !n_calls) parts[n++] = (llmux_part){.type = LLMUX_PART_TEXT, .text = t, .cache = k};
        }
        if (n_calls && !tool_calls(calls, where, parts, &n, err)) return false;
        if (!n) return lx_srv_fail(err, "%s: an assistant message needs content or tool_calls", where), false;
    } else if (strcmp(role, "tool") == 0) {
        out->role = LLMUX_ROLE_TOOL;
        const char *id = json_string_value(json_object_get(m, "tool_call_id"));
        if (!id) return lx_srv_fail(err, "%s.tool_call_id: expected a string", where), false;
        const char *t;
        llmux_cache k = LLMUX_CACHE_NONE;
        if (!text_of(r, content, cw, &t, &k, err)) return false;
        parts[n++] = (llmux_part){.type = LLMUX_PART_TOOL_RESULT, .id = id, .text = t, .cache = k};
    } else {
        return lx_srv_fail(err, "%s.role: unknown role \"%.40s\"", where, role), false;
    }
    out->n_parts = n;
    return true;
}

static bool tool_choice(lx_srv_req *r, const json_t *root, llmux_error_info *err);

static bool tools(lx_srv_req *r, const json_t *root, llmux_error_info *err) {
    json_t *ts = json_object_get(root, "tools");
    if (!ts || json_is_null(ts)) return tool_choice(r, root, err);
    if (!json_is_array(ts)) return lx_srv_fail(err, "tools: expected an array"), false;
    if (json_array_size(ts) > LX_SRV_MAX_TOOLS) return lx_srv_fail(err, "tools: more than %d tools", LX_SRV_MAX_TOOLS), false;
    llmux_tool *out = lx_srv_alloc(r, json_array_size(ts) * sizeof *out);
    if (!out) return lx_srv_fail(err, "out of memory"), false;
    size_t i;
    json_t *t;
    json_array_foreach(ts, i, t) {
        const char *type = json_string_value(json_object_get(t, "type"));
        json_t *fn = json_object_get(t, "function");
        if (!type || strcmp(type, "function") != 0 || !json_is_object(fn))
            return lx_srv_fail(err, "tools[%zu]: only {\"type\": \"function\", \"function\": {...}} tools are supported", i), false;
        out[i].name = json_string_value(json_object_get(fn, "name"));
        if (!out[i].name || !*out[i].name) return lx_srv_fail(err, "tools[%zu].function.name: expected a string", i), false;
        out[i].description = json_string_value(json_object_get(fn, "description"));
        json_t *params = json_object_get(fn, "parameters");
        if (params && !json_is_null(params)) {
            if (!json_is_object(params)) return lx_srv_fail(err, "tools[%zu].function.parameters: expected an object", i), false;
            if (!(out[i].parameters = lx_srv_dump(r, params))) return lx_srv_fail(err, "out of memory"), false;
        }
        char w[32];
        snprintf(w, sizeof w, "tools[%zu]", i);
        if (!lx_srv_cache_control(t, w, &out[i].cache, err)) return false;
    }
    r->req.tools = out;
    r->req.n_tools = json_array_size(ts);
    return tool_choice(r, root, err);
}

static bool tool_choice(lx_srv_req *r, const json_t *root, llmux_error_info *err) {
    json_t *tc = json_object_get(root, "tool_choice");
    if (!tc || json_is_null(tc)) return true;
    const char *s = json_string_value(tc);
    if (s && strcmp(s, "auto") == 0) r->req.tool_choice = LLMUX_TOOL_CHOICE_AUTO;
    else if (s && strcmp(s, "none") == 0) r->req.tool_choice = LLMUX_TOOL_CHOICE_NONE;
    else if (s && strcmp(s, "required") == 0) r->req.tool_choice = LLMUX_TOOL_CHOICE_REQUIRED;
    else if (json_is_object(tc) && (s = json_string_value(json_object_get(json_object_get(tc, "function"), "name")))) {
        r->req.tool_choice = LLMUX_TOOL_CHOICE_TOOL;
        r->req.tool_choice_name = s;
    } else {
        return lx_srv_fail(err, "tool_choice: expected \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}"), false;
    }
    return true;
}

/* reasoning_effort (OpenAI's names: "none" and "minimal" as the least, "xhigh" as the most) and
 * parallel_tool_calls: false, to the canonical fields every backend maps (docs/server.md). */
static bool reasoning_and_parallel(lx_srv_req *r, const json_t *root, llmux_error_info *err) {
    json_t *re = json_object_get(root, "reasoning_effort");
    if (re && !json_is_null(re)) {
        if (!lx_srv_effort(json_string_value(re), &r->req.reasoning_effort))
            return lx_srv_fail(err, "reasoning_effort: expected \"none\", \"minimal\", \"low\", \"medium\" or \"high\""), false;
    }
    bool parallel = true;
    if (!lx_srv_opt_bool(root, "parallel_tool_calls", &parallel, err)) return false;
    r->req.single_tool_call = !parallel;
    return true;
}

static bool response_format(lx_srv_req *r, const json_t *root, llmux_error_info *err) {
    json_t *rf = json_object_get(root, "response_format");
    if (!rf || json_is_null(rf)) return true;
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!type) return lx_srv_fail(err, "response_format.type: expected a string"), false;
    if (strcmp(type, "text") == 0) return true;
    if (strcmp(type, "json_object") == 0) {
        r->req.response_format = LLMUX_FORMAT_JSON_OBJECT;
        return true;
    }
    if (strcmp(type, "json_schema") != 0)
        return lx_srv_fail(err, "response_format.type: unknown type \"%.40s\"", type), false;
    json_t *js = json_object_get(rf, "json_schema");
    json_t *schema = json_object_get(js, "schema");
    if (!json_is_object(js) || !json_is_object(schema))
        return lx_srv_fail(err, "response_format.json_schema.schema: expected an object"), false;
    r->req.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    r->req.schema_name = json_string_value(json_object_get(js, "name"));
    r->req.schema_strict = json_is_true(json_object_get(js, "strict"));
    if (!(r->req.schema = lx_srv_dump(r, schema))) return lx_srv_fail(err, "out of memory"), false;
    return true;
}

/* Fields whose answer llmux cannot give in the OpenAI shape. */
static bool refused(const json_t *root, llmux_error_info *err) {
    int64_t n = 1;
    if (!lx_srv_opt_int(root, "n", 1, 128, &n, err)) return false;
    if (n != 1) return lx_srv_fail(err, "n: only n = 1 is supported (one choice per request)"), false;
    bool lp = false;
    if (!lx_srv_opt_bool(root, "logprobs", &lp, err)) return false;
    json_t *tlp = json_object_get(root, "top_logprobs");
    if (lp || (tlp && !json_is_null(tlp))) return lx_srv_fail(err, "logprobs: log probabilities are not supported"), false;
    return true;
}

static bool sampling(lx_srv_req *r, const json_t *root, llmux_error_info *err) {
    llmux_sampling *s = &r->req.sampling;
    int64_t mt = -1, mct = -1, seed = -1;
    if (!lx_srv_opt_number(root, "temperature", 0, 2, &s->temperature, err) ||
        !lx_srv_opt_number(root, "top_p", 0, 1, &s->top_p, err) ||
        !lx_srv_opt_number(root, "presence_penalty", -2, 2, &s->presence_penalty, err) ||
        !lx_srv_opt_number(root, "frequency_penalty", -2, 2, &s->frequency_penalty, err) ||
        !lx_srv_opt_int(root, "max_tokens", 1, INT32_MAX, &mt, err) ||
        !lx_srv_opt_int(root, "max_completion_tokens", 1, INT32_MAX, &mct, err) ||
        !lx_srv_opt_int(root, "seed", INT64_MIN, INT64_MAX, &seed, err))
        return false;
    /* max_completion_tokens replaced max_tokens; the newer field wins when both are sent. */
    s->max_tokens = (int32_t)(mct > 0 ? mct : mt);
    /* A negative seed is legal in OpenAI's API; the canonical seed is >= 0: keep the bits. */
    if (json_is_integer(json_object_get(root, "seed"))) s->seed = seed < 0 ? (int64_t)((uint64_t)seed >> 1) : seed;
    return lx_srv_stop_list(r, root, "stop", true, err);
}

/* What lx_srv_openai_request reads, refuses or leaves out on purpose; any other field goes to a
 * Chat Completions backend as sent (lx_srv_chat_extras). metadata and store mean OpenAI's stored
 * completions, which llmux does not offer; functions and function_call are the API's old tool
 * form, not read. */
static const char *const k_chat_fields[] = {
    "model",          "messages",        "tools",          "tool_choice",       "response_format",
    "temperature",    "top_p",           "presence_penalty", "frequency_penalty", "max_tokens",
    "max_completion_tokens", "seed",     "stop",           "stream",            "stream_options",
    "reasoning_effort", "parallel_tool_calls", "prompt_cache_key", "safety_identifier", "user",
    "service_tier",   "n",               "logprobs",       "top_logprobs",      "top_k",
    "min_p",          "repetition_penalty", "repeat_penalty", "metadata",        "store",
    "functions",      "function_call",   NULL};

llmux_status lx_srv_openai_request(const char *body, size_t len, lx_srv_req **out, llmux_error_info *err) {
    *out = NULL;
    lx_srv_req *r = lx_srv_req_begin(body, len, err);
    if (!r) return LLMUX_E_INVALID_REQUEST;
    const json_t *root = r->root;
    json_t *msgs = json_object_get(root, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        lx_srv_fail(err, "messages: expected a non-empty array");
        goto fail;
    }
    if (json_array_size(msgs) > LX_SRV_MAX_MESSAGES) {
        lx_srv_fail(err, "messages: more than %d messages", LX_SRV_MAX_MESSAGES);
        goto fail;
    }
    llmux_message *ms = lx_srv_alloc(r, json_array_size(msgs) * sizeof *ms);
    if (!ms) {
        lx_srv_fail(err, "out of memory");
        goto fail;
    }
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) if (!message(r, m, i, &ms[i], err)) goto fail;
    r->req.messages = ms;
    r->req.n_messages = json_array_size(msgs);
    if (!refused(root, err) || !tools(r, root, err) || !reasoning_and_parallel(r, root, err) ||
        !response_format(r, root, err) || !sampling(r, root, err) ||
        !lx_srv_opt_bool(root, "stream", &r->req.stream, err))
        goto fail;
    if (!lx_srv_stream_options(r, root, err) || !lx_srv_openai_tags(r, err) || !lx_srv_vendor_sampling(r, err) ||
        !lx_srv_chat_extras(r, k_chat_fields, err))
        goto fail;
    /* The rules every entry point shares (llmux_request_validate): what is accepted here is a
     * request the runtime accepts (tool_choice "required" without tools, say, is refused here
     * with the field named, not later). */
    if (llmux_request_validate(&r->req, err) != LLMUX_OK) goto fail;
    *out = r;
    return LLMUX_OK;
fail:
    lx_srv_req_free(r);
    return LLMUX_E_INVALID_REQUEST;
}
