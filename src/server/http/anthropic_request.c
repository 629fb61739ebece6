/* Anthropic Messages request → canonical request (POST /v1/messages).
 * Reference: https://docs.anthropic.com/en/api/messages. max_tokens is required, as in the
 * Anthropic API; `thinking` becomes the canonical reasoning budget and also travels to an
 * Anthropic backend as sent (provider_options), as do metadata, service_tier,
 * context_management and output_config; tool_result blocks of a user message become a
 * canonical TOOL message placed before the rest of that message. A tool result's images (Claude
 * Code's Read of an image file, a screenshot tool) cannot live in a canonical tool result, which
 * holds text: each leaves "[image]" in the result's text and goes into the rest of that user
 * message, in block order (tool results come first in a turn: so the images lead it), as LiteLLM
 * does for backends whose tool messages take no images; a document there ("[document]") too. */
#include <stdio.h>
#include <string.h>

#include "server/http/translate.h"

static bool image_block(const json_t *b, const char *w, llmux_part *p, llmux_error_info *err) {
    json_t *src = json_object_get(b, "source");
    const char *type = json_string_value(json_object_get(src, "type"));
    p->type = LLMUX_PART_IMAGE;
    if (type && strcmp(type, "base64") == 0) {
        p->mime_type = json_string_value(json_object_get(src, "media_type"));
        p->data = json_string_value(json_object_get(src, "data"));
        if (p->mime_type && p->data) return true;
    } else if (type && strcmp(type, "url") == 0) {
        if ((p->image_url = json_string_value(json_object_get(src, "url")))) return true;
    }
    return lx_srv_fail(err, "%s.source: expected {type: base64, media_type, data} or {type: url, url}", w), false;
}

/* A document block: a PDF (base64 or URL source) as a FILE part (its title as the name), a
 * plain-text source as the TEXT it holds (every backend reads that). */
static bool document_block(const json_t *b, const char *w, llmux_part *p, llmux_error_info *err) {
    json_t *src = json_object_get(b, "source");
    const char *type = json_string_value(json_object_get(src, "type"));
    if (type && strcmp(type, "text") == 0) {
        *p = (llmux_part){.type = LLMUX_PART_TEXT, .text = json_string_value(json_object_get(src, "data"))};
        return p->text || (lx_srv_fail(err, "%s.source.data: expected a string", w), false);
    }
    if (!image_block(b, w, p, err)) return false;
    p->type = LLMUX_PART_FILE;
    p->name = json_string_value(json_object_get(b, "title"));
    return true;
}

#define IMAGE_MARK "[image]"
#define DOCUMENT_MARK "[document]"

static bool is_type(const json_t *b, const char *type) {
    const char *t = json_string_value(json_object_get(b, "type"));
    return t && strcmp(t, type) == 0;
}

static bool is_image(const json_t *b) { return is_type(b, "image"); }

/* An image or a document: what a tool result's text cannot hold. */
static bool is_media(const json_t *b) { return is_type(b, "image") || is_type(b, "document"); }

/* Image and document blocks in a tool_result block's content. */
static size_t result_images(const json_t *b) {
    const char *type = json_string_value(json_object_get(b, "type"));
    json_t *c = json_object_get(b, "content");
    if (!type || strcmp(type, "tool_result") != 0 || !json_is_array(c)) return 0;
    size_t n = 0, i;
    json_t *x;
    json_array_foreach(c, i, x) n += is_media(x);
    return n;
}

/* The text of a tool_result's content: a string or text blocks (joined), an image block as
 * IMAGE_MARK (the image itself is moved by message()). */
static bool result_text(lx_srv_req *r, const json_t *c, const char *w, const char **out, llmux_error_info *err) {
    if (!c || json_is_null(c)) {
        *out = "";
        return true;
    }
    if (json_is_string(c)) {
        *out = json_string_value(c);
        return true;
    }
    if (!json_is_array(c)) return lx_srv_fail(err, "%s.content: expected a string or an array of blocks", w), false;
    size_t total = 0, i, at = 0;
    json_t *b;
    json_array_foreach(c, i, b) {
        if (is_media(b)) {
            total += strlen(is_image(b) ? IMAGE_MARK : DOCUMENT_MARK);
            continue;
        }
        const char *t = json_string_value(json_object_get(b, "text"));
        if (!t) return lx_srv_fail(err, "%s.content[%zu]: only text and image blocks are supported in a tool result", w, i), false;
        total += strlen(t);
    }
    char *s = lx_srv_alloc(r, total + 1);
    if (!s) return lx_srv_fail(err, "out of memory"), false;
    json_array_foreach(c, i, b) {
        const char *t = is_image(b)   ? IMAGE_MARK
                        : is_media(b) ? DOCUMENT_MARK
                                      : json_string_value(json_object_get(b, "text"));
        memcpy(s + at, t, strlen(t));
        at += strlen(t);
    }
    *out = s;
    return true;
}

static bool block_of(lx_srv_req *r, const json_t *b, const char *w, bool assistant, llmux_part *p, llmux_error_info *err);

/* A content block with its cache breakpoint (cache_control). */
static bool block(lx_srv_req *r, const json_t *b, const char *w, bool assistant, llmux_part *p, llmux_error_info *err) {
    memset(p, 0, sizeof *p); /* image and document blocks set only their own fields */
    if (!block_of(r, b, w, assistant, p, err) || !lx_srv_cache_control(b, w, &p->cache, err)) return false;
    if (p->type == LLMUX_PART_NATIVE) p->cache = LLMUX_CACHE_NONE; /* its cache_control stays in its JSON */
    return true;
}

/* Anthropic's own blocks that no canonical part models, kept whole as a NATIVE part that only an
 * Anthropic backend gets back: a server tool's call (server_tool_use, mcp_tool_use) or result
 * (web_search_tool_result, web_fetch_tool_result, code_execution_tool_result, mcp_tool_result,
 * ..., any *_tool_result but the client's tool_result), search results and container uploads.
 * Any other unknown type stays a 400 (a typo is not silently dropped for other backends). */
static bool native_block(const char *type) {
    static const char *const k_named[] = {"server_tool_use", "mcp_tool_use", "search_result", "container_upload"};
    for (size_t i = 0; i < sizeof k_named / sizeof *k_named; i++)
        if (strcmp(type, k_named[i]) == 0) return true;
    size_t n = strlen(type), sl = strlen("_tool_result");
    return n > sl && strcmp(type + n - sl, "_tool_result") == 0;
}

static bool block_of(lx_srv_req *r, const json_t *b, const char *w, bool assistant, llmux_part *p, llmux_error_info *err) {
    const char *type = json_string_value(json_object_get(b, "type"));
    if (!type) return lx_srv_fail(err, "%s.type: expected a string", w), false;
    if (strcmp(type, "text") == 0) {
        *p = (llmux_part){.type = LLMUX_PART_TEXT, .text = json_string_value(json_object_get(b, "text"))};
        return p->text || (lx_srv_fail(err, "%s.text: expected a string", w), false);
    }
    if (strcmp(type, "image") == 0 && !assistant) return image_block(b, w, p, err);
    if (strcmp(type, "document") == 0 && !assistant) return document_block(b, w, p, err);
    if (strcmp(type, "tool_use") == 0 && assistant) {
        json_t *input = json_object_get(b, "input");
        *p = (llmux_part){.type = LLMUX_PART_TOOL_CALL, .id = json_string_value(json_object_get(b, "id")),
                          .name = json_string_value(json_object_get(b, "name"))};
        if (!p->id || !p->name || !json_is_object(input))
            return lx_srv_fail(err, "%s: a tool_use block needs id, name and an input object", w), false;
        return (p->arguments = lx_srv_dump(r, input)) || (lx_srv_fail(err, "out of memory"), false);
    }
    if (strcmp(type, "tool_result") == 0 && !assistant) {
        *p = (llmux_part){.type = LLMUX_PART_TOOL_RESULT, .id = json_string_value(json_object_get(b, "tool_use_id")),
                          .is_error = json_is_true(json_object_get(b, "is_error"))};
        if (!p->id) return lx_srv_fail(err, "%s.tool_use_id: expected a string", w), false;
        return result_text(r, json_object_get(b, "content"), w, &p->text, err);
    }
    if (strcmp(type, "thinking") == 0 && assistant) {
        *p = (llmux_part){.type = LLMUX_PART_REASONING, .text = json_string_value(json_object_get(b, "thinking")),
                          .signature = json_string_value(json_object_get(b, "signature"))};
        return p->text || (lx_srv_fail(err, "%s.thinking: expected a string", w), false);
    }
    if (strcmp(type, "redacted_thinking") == 0 && assistant) {
        *p = (llmux_part){.type = LLMUX_PART_REASONING, .redacted = true,
                          .text = json_string_value(json_object_get(b, "data"))};
        return p->text || (lx_srv_fail(err, "%s.data: expected a string", w), false);
    }
    if (native_block(type)) {
        *p = (llmux_part){.type = LLMUX_PART_NATIVE, .name = "anthropic", .text = lx_srv_dump(r, b)};
        return p->text || (lx_srv_fail(err, "out of memory"), false);
    }
    return lx_srv_fail(err, "%s.type: unsupported %s block \"%.40s\"", w, assistant ? "assistant" : "user", type), false;
}

/* One client message → one or two canonical messages (tool results first, as their own TOOL
 * message). Returns how many were written to out, or -1 on error. */
static int message(lx_srv_req *r, const json_t *m, size_t mi, llmux_message *out, llmux_error_info *err) {
    char w[48];
    snprintf(w, sizeof w, "messages[%zu]", mi);
    const char *role = json_string_value(json_object_get(m, "role"));
    bool assistant = role && strcmp(role, "assistant") == 0;
    if (!role || (!assistant && strcmp(role, "user") != 0))
        return lx_srv_fail(err, "%s.role: expected \"user\" or \"assistant\"", w), -1;
    json_t *content = json_object_get(m, "content");
    llmux_role crole = assistant ? LLMUX_ROLE_ASSISTANT : LLMUX_ROLE_USER;
    if (json_is_string(content)) {
        llmux_part *p = lx_srv_alloc(r, sizeof *p);
        if (!p) return lx_srv_fail(err, "out of memory"), -1;
        *p = (llmux_part){.type = LLMUX_PART_TEXT, .text = json_string_value(content)};
        out[0] = (llmux_message){.role = crole, .parts = p, .n_parts = 1};
        return 1;
    }
    if (!json_is_array(content) || json_array_size(content) == 0)
        return lx_srv_fail(err, "%s.content: expected a string or a non-empty array of blocks", w), -1;
    size_t n = json_array_size(content);
    if (n > LX_SRV_MAX_PARTS) return lx_srv_fail(err, "%s.content: more than %d blocks", w, LX_SRV_MAX_PARTS), -1;
    size_t n_img = 0, i;
    json_t *b;
    json_array_foreach(content, i, b) n_img += assistant ? 0 : result_images(b);
    if (n_img > LX_SRV_MAX_PARTS) return lx_srv_fail(err, "%s.content: more than %d images in tool results", w, LX_SRV_MAX_PARTS), -1;
    llmux_part *results = lx_srv_alloc(r, n * sizeof *results), *rest = lx_srv_alloc(r, (n + n_img) * sizeof *rest);
    if (!results || !rest) return lx_srv_fail(err, "out of memory"), -1;
    size_t nr = 0, nx = 0;
    json_array_foreach(content, i, b) {
        char bw[96];
        snprintf(bw, sizeof bw, "%s.content[%zu]", w, i);
        llmux_part p;
        if (!json_is_object(b)) return lx_srv_fail(err, "%s: expected an object", bw), -1;
        if (!block(r, b, bw, assistant, &p, err)) return -1;
        if (p.type != LLMUX_PART_TOOL_RESULT) {
            rest[nx++] = p;
            continue;
        }
        results[nr++] = p;
        if (!result_images(b)) continue;
        size_t k;
        json_t *x;
        json_array_foreach(json_object_get(b, "content"), k, x) {
            if (!is_media(x)) continue;
            char iw[128];
            snprintf(iw, sizeof iw, "%s.content[%zu]", bw, k);
            memset(&rest[nx], 0, sizeof rest[nx]);
            if (!(is_image(x) ? image_block(x, iw, &rest[nx++], err) : document_block(x, iw, &rest[nx++], err))) return -1;
        }
    }
    int k = 0;
    if (nr) out[k++] = (llmux_message){.role = LLMUX_ROLE_TOOL, .parts = results, .n_parts = nr};
    if (nx) out[k++] = (llmux_message){.role = crole, .parts = rest, .n_parts = nx};
    return k;
}

/* The system prompt: a string, or text blocks. Blocks of which any has a cache breakpoint stay
 * blocks: one SYSTEM message before the conversation, a text part per block with its breakpoint
 * (the Anthropic adapter writes them back as system blocks; other backends read the parts in
 * order, a line apart). Otherwise they are one prompt, joined by a newline, as the text reads. */
static bool system_prompt(lx_srv_req *r, const json_t *root, llmux_error_info *err) {
    json_t *s = json_object_get(root, "system");
    if (!s || json_is_null(s)) return true;
    if (json_is_string(s)) {
        r->req.system = json_string_value(s);
        return true;
    }
    if (!json_is_array(s)) return lx_srv_fail(err, "system: expected a string or an array of text blocks"), false;
    size_t n = json_array_size(s), total = 0, i, at = 0;
    llmux_part *parts = lx_srv_alloc(r, (n ? n : 1) * sizeof *parts);
    if (!parts) return lx_srv_fail(err, "out of memory"), false;
    json_t *b;
    bool cached = false;
    json_array_foreach(s, i, b) {
        const char *t = json_string_value(json_object_get(b, "text"));
        if (!t) return lx_srv_fail(err, "system[%zu]: expected a text block", i), false;
        total += strlen(t) + 1;
        parts[i] = (llmux_part){.type = LLMUX_PART_TEXT, .text = t};
        char w[32];
        snprintf(w, sizeof w, "system[%zu]", i);
        if (!lx_srv_cache_control(b, w, &parts[i].cache, err)) return false;
        cached = cached || parts[i].cache != LLMUX_CACHE_NONE;
    }
    if (cached) {
        llmux_message *ms = lx_srv_alloc(r, (r->req.n_messages + 1) * sizeof *ms);
        if (!ms) return lx_srv_fail(err, "out of memory"), false;
        ms[0] = (llmux_message){.role = LLMUX_ROLE_SYSTEM, .parts = parts, .n_parts = n};
        if (r->req.n_messages) memcpy(ms + 1, r->req.messages, r->req.n_messages * sizeof *ms);
        r->req.messages = ms;
        r->req.n_messages++;
        return true;
    }
    char *out = lx_srv_alloc(r, total + 1);
    if (!out) return lx_srv_fail(err, "out of memory"), false;
    for (i = 0; i < n; i++) {
        if (i) out[at++] = '\n';
        memcpy(out + at, parts[i].text, strlen(parts[i].text));
        at += strlen(parts[i].text);
    }
    r->req.system = out;
    return true;
}

/* An Anthropic-defined tool: a server tool (web_search_20250305, web_fetch_20250910,
 * code_execution_20250825, ...) or a client tool with a built-in schema (bash_20250124,
 * text_editor_20250728, ...): a type that ends in an underscore and a date (8 digits). Any other
 * type but "custom" is refused (tools()), so a typo or an OpenAI-style "function" is a 400. */
static bool anthropic_tool(const json_t *t) {
    const char *type = json_string_value(json_object_get(t, "type"));
    size_t n = type ? strlen(type) : 0;
    if (n < 10 || type[n - 9] != '_') return false;
    for (size_t i = n - 8; i < n; i++)
        if (type[i] < '0' || type[i] > '9') return false;
    return true;
}

/* Whether the request declares Anthropic-defined tools (anthropic_tool). */
static bool has_anthropic_tools(const json_t *root) {
    json_t *ts = json_object_get(root, "tools"), *t;
    size_t i;
    if (!json_is_array(ts)) return false;
    json_array_foreach(ts, i, t) if (anthropic_tool(t)) return true;
    return false;
}

/* The client's tools. Anthropic-defined ones (anthropic_tool) have no canonical form: an
 * Anthropic backend gets the tools and tool_choice as sent (anthropic_options), any other backend
 * the client tools only; their names are kept in the request's metadata as anthropic_tools. */
static bool tools(lx_srv_req *r, const json_t *root, llmux_error_info *err) {
    json_t *ts = json_object_get(root, "tools");
    char native[256] = "";
    size_t nn = 0;
    if (ts && !json_is_null(ts)) {
        if (!json_is_array(ts)) return lx_srv_fail(err, "tools: expected an array"), false;
        if (json_array_size(ts) > LX_SRV_MAX_TOOLS) return lx_srv_fail(err, "tools: more than %d tools", LX_SRV_MAX_TOOLS), false;
        llmux_tool *out = lx_srv_alloc(r, json_array_size(ts) * sizeof *out);
        if (!out) return lx_srv_fail(err, "out of memory"), false;
        size_t i, n = 0;
        json_t *t;
        json_array_foreach(ts, i, t) {
            if (!json_is_object(t)) return lx_srv_fail(err, "tools[%zu]: expected an object", i), false;
            const char *name = json_string_value(json_object_get(t, "name"));
            if (anthropic_tool(t)) {
                if (!name) return lx_srv_fail(err, "tools[%zu].name: expected a string", i), false;
                size_t used = strlen(native);
                if (used + strlen(name) + 2 < sizeof native)
                    snprintf(native + used, sizeof native - used, "%s%s", used ? "," : "", name);
                nn++;
                continue;
            }
            const char *type = json_string_value(json_object_get(t, "type"));
            if (type && strcmp(type, "custom") != 0)
                return lx_srv_fail(err, "tools[%zu].type: expected \"custom\" or an Anthropic tool version such as "
                                        "web_search_20250305, not \"%.40s\"",
                                   i, type),
                       false;
            json_t *schema = json_object_get(t, "input_schema");
            out[n].name = name;
            out[n].description = json_string_value(json_object_get(t, "description"));
            if (!out[n].name || !json_is_object(schema))
                return lx_srv_fail(err, "tools[%zu]: a client tool needs {name, description, input_schema}", i), false;
            if (!(out[n].parameters = lx_srv_dump(r, schema))) return lx_srv_fail(err, "out of memory"), false;
            char w[32];
            snprintf(w, sizeof w, "tools[%zu]", i);
            if (!lx_srv_cache_control(t, w, &out[n].cache, err)) return false;
            n++;
        }
        r->req.tools = n ? out : NULL;
        r->req.n_tools = n;
    }
    if (nn && !lx_srv_tag(r, "anthropic_tools", native)) return lx_srv_fail(err, "out of memory"), false;
    json_t *tc = json_object_get(root, "tool_choice");
    if (!tc || json_is_null(tc)) return true;
    const char *type = json_string_value(json_object_get(tc, "type"));
    if (!type) return lx_srv_fail(err, "tool_choice.type: expected a string"), false;
    if (strcmp(type, "auto") == 0) r->req.tool_choice = LLMUX_TOOL_CHOICE_AUTO;
    else if (strcmp(type, "any") == 0) r->req.tool_choice = LLMUX_TOOL_CHOICE_REQUIRED;
    else if (strcmp(type, "none") == 0) r->req.tool_choice = LLMUX_TOOL_CHOICE_NONE;
    else if (strcmp(type, "tool") == 0 && (r->req.tool_choice_name = json_string_value(json_object_get(tc, "name"))))
        r->req.tool_choice = LLMUX_TOOL_CHOICE_TOOL;
    else return lx_srv_fail(err, "tool_choice: expected type auto, any, none or tool (with name)"), false;
    json_t *dp = json_object_get(tc, "disable_parallel_tool_use");
    if (dp && !json_is_boolean(dp)) return lx_srv_fail(err, "tool_choice.disable_parallel_tool_use: expected a boolean"), false;
    r->req.single_tool_call = json_is_true(dp);
    if (nn) {
        /* A choice of an Anthropic-defined tool, or "any" with only such tools, means nothing
         * to a backend without them: auto there (an Anthropic backend gets the choice as sent). */
        bool named_client = false;
        for (size_t i = 0; r->req.tool_choice == LLMUX_TOOL_CHOICE_TOOL && i < r->req.n_tools; i++)
            named_client = named_client || strcmp(r->req.tools[i].name, r->req.tool_choice_name) == 0;
        if ((r->req.tool_choice == LLMUX_TOOL_CHOICE_TOOL && !named_client) ||
            (r->req.tool_choice == LLMUX_TOOL_CHOICE_REQUIRED && r->req.n_tools == 0)) {
            r->req.tool_choice = LLMUX_TOOL_CHOICE_AUTO;
            r->req.tool_choice_name = NULL;
        }
    }
    return true;
}

/* The fields an Anthropic backend gets as the client sent them (provider_options.anthropic; other
 * backends ignore them): metadata (user_id, Anthropic's abuse tracking of the end user),
 * service_tier, context_management (server-side context editing, with its beta header),
 * output_config (the effort setting of the models that take one). Each must be of the API's type;
 * what is inside is Anthropic's to check. */
static const struct {
    const char *name;
    json_type type;
} k_passthrough[] = {{"metadata", JSON_OBJECT},
                     {"service_tier", JSON_STRING},
                     {"context_management", JSON_OBJECT},
                     {"output_config", JSON_OBJECT}};

/* The fields lx_srv_anthropic_request reads (k_passthrough's among them). */
static const char *const k_read[] = {"model",       "messages",       "max_tokens", "system",      "tools",
                                     "tool_choice", "temperature",    "top_p",      "top_k",       "stop_sequences",
                                     "stream",      "thinking",       "metadata",   "service_tier", "context_management",
                                     "output_config"};

/* thinking (read here into the canonical effort or budget, and also passed through as sent, so a
 * type this server does not know reaches an Anthropic backend) and the k_passthrough fields. */
static bool anthropic_options(lx_srv_req *r, const json_t *root, llmux_error_info *err) {
    json_t *a = json_object();
    if (!a) return lx_srv_fail(err, "out of memory"), false;
    for (size_t i = 0; i < sizeof k_passthrough / sizeof *k_passthrough; i++) {
        json_t *v = json_object_get(root, k_passthrough[i].name);
        if (!v || json_is_null(v)) continue;
        if (json_typeof(v) != k_passthrough[i].type) {
            json_decref(a);
            return lx_srv_fail(err, "%s: expected %s", k_passthrough[i].name,
                               k_passthrough[i].type == JSON_OBJECT ? "an object" : "a string"),
                   false;
        }
        json_object_set(a, k_passthrough[i].name, v);
    }
    /* Any other field this server does not read (container for code execution, mcp_servers for
     * the MCP connector, fields added later) reaches an Anthropic backend as sent. */
    const char *k;
    json_t *v;
    size_t n_extra = 0;
    json_object_foreach((json_t *)root, k, v) {
        bool known = false;
        for (size_t i = 0; i < sizeof k_read / sizeof *k_read && !known; i++) known = strcmp(k, k_read[i]) == 0;
        if (known || json_is_null(v)) continue;
        if (++n_extra > LX_SRV_MAX_EXTRAS) {
            json_decref(a);
            return lx_srv_fail(err, "more than %d fields this server does not read (passed on to the backend)",
                               LX_SRV_MAX_EXTRAS),
                   false;
        }
        json_object_set(a, k, v);
    }
    if (has_anthropic_tools(root)) {
        json_object_set(a, "tools", json_object_get(root, "tools"));
        json_t *tc = json_object_get(root, "tool_choice");
        if (tc && !json_is_null(tc)) json_object_set(a, "tool_choice", tc);
    }
    json_t *t = json_object_get(root, "thinking");
    if (t && !json_is_null(t)) {
        if (!json_is_object(t)) {
            json_decref(a);
            return lx_srv_fail(err, "thinking: expected an object"), false;
        }
        const char *type = json_string_value(json_object_get(t, "type"));
        json_t *budget = json_object_get(t, "budget_tokens");
        if (type && strcmp(type, "disabled") == 0) r->req.reasoning_effort = LLMUX_REASONING_NONE;
        if (type && strcmp(type, "enabled") == 0) {
            if (!json_is_integer(budget) || json_integer_value(budget) < 1 || json_integer_value(budget) > INT32_MAX) {
                json_decref(a);
                return lx_srv_fail(err, "thinking.budget_tokens: expected a positive integer"), false;
            }
            r->req.reasoning_budget = (int32_t)json_integer_value(budget);
        }
        json_object_set(a, "thinking", t);
    }
    if (json_object_size(a) == 0) {
        json_decref(a);
        return true;
    }
    json_t *po = json_pack("{s:o}", "anthropic", a);
    r->req.provider_options = po ? lx_srv_dump(r, po) : NULL;
    json_decref(po);
    return r->req.provider_options || (lx_srv_fail(err, "out of memory"), false);
}

llmux_status lx_srv_anthropic_request(const char *body, size_t len, lx_srv_req **out, llmux_error_info *err) {
    *out = NULL;
    lx_srv_req *r = lx_srv_req_begin(body, len, err);
    if (!r) return LLMUX_E_INVALID_REQUEST;
    const json_t *root = r->root;
    int64_t mt = -1, top_k = -1;
    if (!lx_srv_opt_int(root, "max_tokens", 1, INT32_MAX, &mt, err)) goto fail;
    if (mt < 1) {
        lx_srv_fail(err, "max_tokens: required");
        goto fail;
    }
    llmux_sampling *s = &r->req.sampling;
    s->max_tokens = (int32_t)mt;
    if (!lx_srv_opt_number(root, "temperature", 0, 1, &s->temperature, err) ||
        !lx_srv_opt_number(root, "top_p", 0, 1, &s->top_p, err) || !lx_srv_opt_int(root, "top_k", 1, INT32_MAX, &top_k, err))
        goto fail;
    s->top_k = (int32_t)top_k;
    json_t *msgs = json_object_get(root, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        lx_srv_fail(err, "messages: expected a non-empty array");
        goto fail;
    }
    size_t nm = json_array_size(msgs);
    if (nm > LX_SRV_MAX_MESSAGES) {
        lx_srv_fail(err, "messages: more than %d messages", LX_SRV_MAX_MESSAGES);
        goto fail;
    }
    llmux_message *ms = lx_srv_alloc(r, 2 * nm * sizeof *ms);
    if (!ms) {
        lx_srv_fail(err, "out of memory");
        goto fail;
    }
    size_t k = 0, i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m)) {
            lx_srv_fail(err, "messages[%zu]: expected an object", i);
            goto fail;
        }
        int w = message(r, m, i, &ms[k], err);
        if (w < 0) goto fail;
        k += (size_t)w;
    }
    r->req.messages = ms;
    r->req.n_messages = k;
    if (!system_prompt(r, root, err) || !tools(r, root, err) || !anthropic_options(r, root, err) || !lx_srv_stop_list(r, root, "stop_sequences", false, err) ||
        !lx_srv_opt_bool(root, "stream", &r->req.stream, err))
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

bool lx_srv_anthropic_betas(lx_srv_req *r, const char *header, llmux_error_info *err) {
    if (!header) return true;
    json_t *names = json_array();
    if (!names) return lx_srv_fail(err, "out of memory"), false;
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t') p++;
        size_t n = (size_t)(p - start);
        if (!n) continue;
        bool ok = n <= 128 && json_array_size(names) < 32;
        for (size_t k = 0; ok && k < n; k++) {
            char ch = start[k];
            ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                 ch == '_' || ch == '-';
        }
        if (!ok) {
            json_decref(names);
            return lx_srv_fail(err, "anthropic-beta: expected at most 32 comma-separated names of A-Z a-z 0-9 . _ -"), false;
        }
        if (json_array_append_new(names, json_stringn(start, n)) != 0) {
            json_decref(names);
            return lx_srv_fail(err, "out of memory"), false;
        }
    }
    if (!json_array_size(names)) {
        json_decref(names);
        return true;
    }
    return lx_srv_option_set(r, "anthropic", "betas", names, err);
}
