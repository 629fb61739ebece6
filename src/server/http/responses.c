/* OpenAI Responses API (POST /v1/responses) ↔ canonical request and response: what the OpenAI
 * Agents SDK, Codex and `client.responses.create` speak. previous_response_id and store are read
 * here and resolved by the server (call.c, response_store.h); conversations and background runs
 * are refused with a 400 that says so.
 * Reference: platform.openai.com/docs/api-reference/responses; the item shapes are those the
 * adapter (src/providers/openai_responses.c) reads and writes.
 *
 * Reasoning: an output reasoning item carries the canonical part's signature so that a client
 * sending the item back restores it: a signature of the Responses form "<rs id>|<encrypted>"
 * becomes that id and encrypted_content; any other provider's (an Anthropic thinking signature)
 * travels as encrypted_content "llmux:<signature>" under an id of its own. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/translate.h"

#define FOREIGN_SIG "llmux:"

/* ------------------------------------------------------------------ request */

/* The canonical messages being built: consecutive assistant-side items (reasoning, assistant
 * message, function_call) form one assistant message, consecutive function_call_output items
 * one tool message. */
typedef struct builder {
    lx_srv_req *r;
    llmux_message *msgs;
    size_t n_msgs;
    llmux_part *parts; /* every part, in order; messages point into it */
    size_t n_parts, cap_parts;
} builder;

/* Starts the message an item's parts go to: a user or system message item always begins one;
 * assistant-side and tool items continue the last message when it has their role. */
static void begin(builder *b, llmux_role role) {
    llmux_message *last = b->n_msgs ? &b->msgs[b->n_msgs - 1] : NULL;
    if (last && last->role == role && (role == LLMUX_ROLE_ASSISTANT || role == LLMUX_ROLE_TOOL)) return;
    b->msgs[b->n_msgs++] = (llmux_message){.role = role, .parts = b->parts + b->n_parts, .n_parts = 0};
}

/* A new part of the current message (zeroed). */
static llmux_part *new_part(builder *b, llmux_error_info *err) {
    if (b->n_parts == b->cap_parts) {
        lx_srv_fail(err, "input: more than %zu items and parts", b->cap_parts);
        return NULL;
    }
    llmux_part *p = &b->parts[b->n_parts++];
    b->msgs[b->n_msgs - 1].n_parts++;
    memset(p, 0, sizeof *p);
    return p;
}

static bool image(builder *b, const json_t *c, const char *where, llmux_part *p, llmux_error_info *err) {
    const char *url = json_string_value(json_object_get(c, "image_url"));
    if (!url || !*url) return lx_srv_fail(err, "%s.image_url: expected a URL (file_id is not supported)", where), false;
    char w[128];
    snprintf(w, sizeof w, "%s.image_url", where);
    return lx_srv_image_url(b->r, url, w, p, err);
}

static bool role_of(const char *s, llmux_role *out) {
    if (!s) return false;
    if (strcmp(s, "user") == 0) *out = LLMUX_ROLE_USER;
    else if (strcmp(s, "system") == 0 || strcmp(s, "developer") == 0) *out = LLMUX_ROLE_SYSTEM;
    else if (strcmp(s, "assistant") == 0) *out = LLMUX_ROLE_ASSISTANT;
    else return false;
    return true;
}

/* A message item: {role, content: string | [input_text | output_text | input_image | input_file |
 * refusal]}. */
static bool message_item(builder *b, const json_t *it, const char *where, llmux_error_info *err) {
    llmux_role role;
    if (!role_of(json_string_value(json_object_get(it, "role")), &role))
        return lx_srv_fail(err, "%s.role: expected user, system, developer or assistant", where), false;
    json_t *content = json_object_get(it, "content");
    begin(b, role);
    if (json_is_string(content)) {
        llmux_part *p = new_part(b, err);
        if (!p) return false;
        *p = (llmux_part){.type = LLMUX_PART_TEXT, .text = json_string_value(content)};
        return true;
    }
    if (!json_is_array(content) || json_array_size(content) == 0)
        return lx_srv_fail(err, "%s.content: expected a string or a non-empty array", where), false;
    size_t i;
    json_t *c;
    json_array_foreach(content, i, c) {
        char w[96];
        snprintf(w, sizeof w, "%s.content[%zu]", where, i);
        const char *type = json_string_value(json_object_get(c, "type"));
        llmux_part *p = new_part(b, err);
        if (!p) return false;
        if (type && (strcmp(type, "input_text") == 0 || strcmp(type, "output_text") == 0 || strcmp(type, "text") == 0 ||
                     strcmp(type, "refusal") == 0)) {
            const char *t = json_string_value(json_object_get(c, strcmp(type, "refusal") == 0 ? "refusal" : "text"));
            if (!t) return lx_srv_fail(err, "%s.text: expected a string", w), false;
            *p = (llmux_part){.type = LLMUX_PART_TEXT, .text = t};
        } else if (type && strcmp(type, "input_image") == 0 && role == LLMUX_ROLE_USER) {
            if (!image(b, c, w, p, err)) return false;
        } else if (type && strcmp(type, "input_file") == 0 && role == LLMUX_ROLE_USER) {
            if (!lx_srv_file(b->r, c, w, p, err)) return false;
        } else {
            return lx_srv_fail(err, "%s.type: expected input_text, input_image or input_file (%s is not supported)", w,
                               type ? type : "no type"),
                   false;
        }
        if (!lx_srv_cache_control(c, w, &p->cache, err)) return false;
    }
    return true;
}

static bool reasoning_item(builder *b, const json_t *it, llmux_error_info *err) {
    begin(b, LLMUX_ROLE_ASSISTANT);
    llmux_part *p = new_part(b, err);
    if (!p) return false;
    p->type = LLMUX_PART_REASONING;
    /* The summary's texts joined: what the client saw. */
    size_t total = 0, i;
    json_t *s;
    json_array_foreach(json_object_get(it, "summary"), i, s) {
        const char *t = json_string_value(json_object_get(s, "text"));
        if (t) total += strlen(t) + 2;
    }
    char *text = lx_srv_alloc(b->r, total + 1);
    if (!text) return lx_srv_fail(err, "out of memory"), false;
    json_array_foreach(json_object_get(it, "summary"), i, s) {
        const char *t = json_string_value(json_object_get(s, "text"));
        if (!t) continue;
        if (*text) strcat(text, "\n\n");
        strcat(text, t);
    }
    p->text = text;
    const char *id = json_string_value(json_object_get(it, "id"));
    const char *enc = json_string_value(json_object_get(it, "encrypted_content"));
    if (enc && strncmp(enc, FOREIGN_SIG, strlen(FOREIGN_SIG)) == 0) {
        p->signature = enc + strlen(FOREIGN_SIG);
    } else if (enc && *enc && id && *id) {
        size_t n = strlen(id) + strlen(enc) + 2;
        char *sig = lx_srv_alloc(b->r, n);
        if (!sig) return lx_srv_fail(err, "out of memory"), false;
        snprintf(sig, n, "%s|%s", id, enc);
        p->signature = sig;
    }
    return true;
}

static bool input_items(builder *b, const json_t *input, llmux_error_info *err) {
    if (json_is_string(input)) {
        begin(b, LLMUX_ROLE_USER);
        llmux_part *p = new_part(b, err);
        if (!p) return false;
        *p = (llmux_part){.type = LLMUX_PART_TEXT, .text = json_string_value(input)};
        return true;
    }
    if (!json_is_array(input) || json_array_size(input) == 0)
        return lx_srv_fail(err, "input: expected a string or a non-empty array of items"), false;
    size_t i;
    json_t *it;
    json_array_foreach(input, i, it) {
        char w[48];
        snprintf(w, sizeof w, "input[%zu]", i);
        if (!json_is_object(it)) return lx_srv_fail(err, "%s: expected an object", w), false;
        const char *type = json_string_value(json_object_get(it, "type"));
        if (!type || strcmp(type, "message") == 0) {
            if (!message_item(b, it, w, err)) return false;
        } else if (strcmp(type, "function_call") == 0) {
            begin(b, LLMUX_ROLE_ASSISTANT);
            llmux_part *p = new_part(b, err);
            if (!p) return false;
            const char *call_id = json_string_value(json_object_get(it, "call_id"));
            const char *name = json_string_value(json_object_get(it, "name"));
            const char *args = json_string_value(json_object_get(it, "arguments"));
            if (!call_id || !name) return lx_srv_fail(err, "%s: a function_call needs call_id and name", w), false;
            *p = (llmux_part){.type = LLMUX_PART_TOOL_CALL, .id = call_id, .name = name, .arguments = args ? args : "{}"};
        } else if (strcmp(type, "custom_tool_call") == 0) {
            begin(b, LLMUX_ROLE_ASSISTANT);
            llmux_part *p = new_part(b, err);
            if (!p) return false;
            const char *call_id = json_string_value(json_object_get(it, "call_id"));
            const char *name = json_string_value(json_object_get(it, "name"));
            json_t *in = json_object_get(it, "input");
            if (!call_id || !name || !json_is_string(in))
                return lx_srv_fail(err, "%s: a custom_tool_call needs call_id, name and input", w), false;
            /* Its function form (custom_tool), as the backend made it. */
            json_t *args = json_pack("{s:O}", "input", in);
            const char *a = args ? lx_srv_dump(b->r, args) : NULL;
            json_decref(args);
            if (!a) return lx_srv_fail(err, "out of memory"), false;
            *p = (llmux_part){.type = LLMUX_PART_TOOL_CALL, .id = call_id, .name = name, .arguments = a};
        } else if (strcmp(type, "function_call_output") == 0 || strcmp(type, "custom_tool_call_output") == 0) {
            begin(b, LLMUX_ROLE_TOOL);
            llmux_part *p = new_part(b, err);
            if (!p) return false;
            const char *call_id = json_string_value(json_object_get(it, "call_id"));
            json_t *out = json_object_get(it, "output");
            if (!call_id) return lx_srv_fail(err, "%s.call_id: expected a string", w), false;
            const char *text = json_string_value(out);
            if (!text && json_is_array(out)) { /* [{type: input_text, text}] */
                size_t k;
                json_t *o;
                size_t total = 0;
                json_array_foreach(out, k, o) {
                    const char *t = json_string_value(json_object_get(o, "text"));
                    if (!t) return lx_srv_fail(err, "%s.output[%zu]: only text output is supported", w, k), false;
                    total += strlen(t);
                }
                char *s = lx_srv_alloc(b->r, total + 1);
                if (!s) return lx_srv_fail(err, "out of memory"), false;
                json_array_foreach(out, k, o) strcat(s, json_string_value(json_object_get(o, "text")));
                text = s;
            }
            if (!text) return lx_srv_fail(err, "%s.output: expected a string", w), false;
            *p = (llmux_part){.type = LLMUX_PART_TOOL_RESULT, .id = call_id, .text = text};
        } else if (strcmp(type, "reasoning") == 0) {
            if (!reasoning_item(b, it, err)) return false;
        } else if (lx_srv_responses_hosted_item(type)) {
            /* A hosted tool's item of an earlier turn (a search OpenAI ran): a Responses backend
             * gets it back as it was; other backends leave it out (its findings are in the text). */
            begin(b, LLMUX_ROLE_ASSISTANT);
            llmux_part *p = new_part(b, err);
            if (!p) return false;
            *p = (llmux_part){.type = LLMUX_PART_NATIVE, .name = "openai_responses", .text = lx_srv_dump(b->r, it)};
            if (!p->text) return lx_srv_fail(err, "out of memory"), false;
        } else {
            return lx_srv_fail(err, "%s.type: %s items are not supported (send messages, function_call, "
                                    "function_call_output, custom_tool_call, custom_tool_call_output and reasoning "
                                    "items)",
                               w, type),
                   false;
        }
    }
    return true;
}

/* The one parameter of a custom tool's function form. */
static const char k_custom_params[] =
    "{\"type\":\"object\",\"properties\":{\"input\":{\"type\":\"string\",\"description\":\"The tool's raw input "
    "text.\"}},\"required\":[\"input\"],\"additionalProperties\":false}";

/* A custom (freeform) tool, {type: custom, name, description, format: {type: text} | {type:
 * grammar, syntax, definition}} (Codex's apply_patch): the model answers it with raw text, not
 * JSON. Backends take function tools, so it goes as one taking a string `input`, its description
 * saying so and carrying the grammar; the call comes back to the client as a custom_tool_call
 * with the text (lx_srv_custom_input). */
static bool custom_tool(lx_srv_req *r, const json_t *t, size_t i, llmux_tool *out, llmux_error_info *err) {
    out->name = json_string_value(json_object_get(t, "name"));
    if (!out->name || !*out->name) return lx_srv_fail(err, "tools[%zu].name: expected a string", i), false;
    const char *desc = json_string_value(json_object_get(t, "description"));
    json_t *format = json_object_get(t, "format");
    const char *ftype = json_string_value(json_object_get(format, "type"));
    const char *syntax = json_string_value(json_object_get(format, "syntax"));
    const char *definition = json_string_value(json_object_get(format, "definition"));
    if (format && !json_is_null(format) &&
        (!ftype || (strcmp(ftype, "text") != 0 && (strcmp(ftype, "grammar") != 0 || !definition))))
        return lx_srv_fail(err, "tools[%zu].format: expected {\"type\": \"text\"} or {\"type\": \"grammar\", "
                                "\"syntax\": ..., \"definition\": ...}",
                           i),
               false;
    static const char note[] = "This is a freeform tool: put the raw input text, exactly as the tool takes it, in the "
                               "`input` string.";
    bool grammar = ftype && strcmp(ftype, "grammar") == 0;
    size_t n = (desc ? strlen(desc) + 2 : 0) + sizeof note +
               (grammar ? strlen(definition) + (syntax ? strlen(syntax) : 0) + 64 : 0);
    char *d = lx_srv_alloc(r, n);
    if (!d) return lx_srv_fail(err, "out of memory"), false;
    snprintf(d, n, "%s%s%s%s%s%s%s", desc ? desc : "", desc ? "\n\n" : "", note,
             grammar ? "\n\nThe input follows this " : "", grammar ? (syntax ? syntax : "") : "",
             grammar ? " grammar:\n" : "", grammar ? definition : "");
    out->description = d;
    out->parameters = k_custom_params;
    const char **names = lx_srv_alloc(r, (r->n_custom_tools + 1) * sizeof *names);
    if (!names) return lx_srv_fail(err, "out of memory"), false;
    if (r->n_custom_tools) memcpy(names, r->custom_tools, r->n_custom_tools * sizeof *names);
    names[r->n_custom_tools++] = out->name;
    r->custom_tools = names;
    return true;
}

/* OpenAI's hosted tools (taken) for a Responses backend: provider_options.openai_responses
 * {hosted_tools, tool_choice when it names one of them}; their types are named in the request's
 * metadata as openai_tools (kept in the record), since no other backend runs them. */
static bool hosted_options(lx_srv_req *r, json_t *hosted, const json_t *choice, llmux_error_info *err) {
    if (!lx_srv_option_set(r, "openai_responses", "hosted_tools", hosted, err) ||
        (choice && !lx_srv_option_set(r, "openai_responses", "tool_choice", json_incref((json_t *)choice), err)))
        return false;
    return lx_srv_tag(r, "openai_tools", "web_search") || (lx_srv_fail(err, "out of memory"), false);
}

static bool tools(lx_srv_req *r, const json_t *root, llmux_error_info *err) {
    json_t *ts = json_object_get(root, "tools");
    json_t *hosted = NULL; /* the hosted web search tools, for a Responses backend */
    size_t n_hosted = 0;
    if (ts && !json_is_null(ts)) {
        if (!json_is_array(ts)) return lx_srv_fail(err, "tools: expected an array"), false;
        if (json_array_size(ts) > LX_SRV_MAX_TOOLS) return lx_srv_fail(err, "tools: more than %d", LX_SRV_MAX_TOOLS), false;
        llmux_tool *out = json_array_size(ts) ? lx_srv_alloc(r, json_array_size(ts) * sizeof *out) : NULL;
        if (json_array_size(ts) && !out) return lx_srv_fail(err, "out of memory"), false;
        size_t i, k = 0;
        json_t *t;
        json_array_foreach(ts, i, t) {
            const char *type = json_string_value(json_object_get(t, "type"));
            /* OpenAI's hosted web search, which Codex declares by default, runs only at OpenAI: a
             * Responses backend gets it as sent (hosted_tools below); any other backend's model
             * goes without, as with any provider that has no hosted search. */
            if (type && strncmp(type, "web_search", 10) == 0) {
                n_hosted++;
                continue;
            }
            if (type && strcmp(type, "custom") == 0) {
                if (!custom_tool(r, t, i, &out[k++], err)) return false;
                continue;
            }
            if (!type || strcmp(type, "function") != 0)
                return lx_srv_fail(err, "tools[%zu].type: only function and custom tools are supported (%s is a built-in "
                                        "tool)",
                                   i, type ? type : "none"),
                       false;
            out[k].name = json_string_value(json_object_get(t, "name"));
            if (!out[k].name) return lx_srv_fail(err, "tools[%zu].name: expected a string", i), false;
            out[k].description = json_string_value(json_object_get(t, "description"));
            json_t *params = json_object_get(t, "parameters");
            if (params && !json_is_null(params)) {
                if (!json_is_object(params)) return lx_srv_fail(err, "tools[%zu].parameters: expected an object", i), false;
                if (!(out[k].parameters = lx_srv_dump(r, params))) return lx_srv_fail(err, "out of memory"), false;
            }
            k++;
        }
        for (size_t a = 0; a < k; a++)
            for (size_t b2 = a + 1; b2 < k; b2++)
                if (strcmp(out[a].name, out[b2].name) == 0)
                    return lx_srv_fail(err, "tools: the name %s is declared twice", out[a].name), false;
        r->req.tools = k ? out : NULL;
        r->req.n_tools = k;
        if (n_hosted && !(hosted = json_array())) return lx_srv_fail(err, "out of memory"), false;
        json_array_foreach(ts, i, t) {
            const char *type = json_string_value(json_object_get(t, "type"));
            if (type && strncmp(type, "web_search", 10) == 0 && json_array_append(hosted, t) != 0) {
                json_decref(hosted);
                return lx_srv_fail(err, "out of memory"), false;
            }
        }
    }
    json_t *tc = json_object_get(root, "tool_choice");
    const char *tct = json_string_value(json_object_get(tc, "type"));
    bool hosted_choice = tct && strncmp(tct, "web_search", 10) == 0;
    if (hosted && !hosted_options(r, hosted, hosted_choice ? tc : NULL, err)) return false;
    if (hosted_choice) tc = NULL; /* auto for a backend without the hosted search */
    if (tc && !json_is_null(tc)) {
        const char *s = json_string_value(tc);
        if (s && strcmp(s, "auto") == 0) r->req.tool_choice = LLMUX_TOOL_CHOICE_AUTO;
        else if (s && strcmp(s, "none") == 0) r->req.tool_choice = LLMUX_TOOL_CHOICE_NONE;
        else if (s && strcmp(s, "required") == 0) r->req.tool_choice = LLMUX_TOOL_CHOICE_REQUIRED;
        else if (json_is_object(tc) && (s = json_string_value(json_object_get(tc, "name")))) {
            r->req.tool_choice = LLMUX_TOOL_CHOICE_TOOL;
            r->req.tool_choice_name = s;
        } else {
            return lx_srv_fail(err, "tool_choice: expected \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
                                    "\"name\": ...}"),
                   false;
        }
    }
    bool parallel = true;
    if (!lx_srv_opt_bool(root, "parallel_tool_calls", &parallel, err)) return false;
    r->req.single_tool_call = !parallel;
    return true;
}

static bool text_format(lx_srv_req *r, const json_t *root, llmux_error_info *err) {
    json_t *fmt = json_object_get(json_object_get(root, "text"), "format");
    if (!fmt || json_is_null(fmt)) return true;
    const char *type = json_string_value(json_object_get(fmt, "type"));
    if (type && strcmp(type, "text") == 0) return true;
    if (type && strcmp(type, "json_object") == 0) {
        r->req.response_format = LLMUX_FORMAT_JSON_OBJECT;
        return true;
    }
    if (!type || strcmp(type, "json_schema") != 0)
        return lx_srv_fail(err, "text.format.type: expected text, json_object or json_schema"), false;
    json_t *schema = json_object_get(fmt, "schema");
    if (!json_is_object(schema)) return lx_srv_fail(err, "text.format.schema: expected an object"), false;
    r->req.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    r->req.schema_name = json_string_value(json_object_get(fmt, "name"));
    r->req.schema = lx_srv_dump(r, schema);
    r->req.schema_strict = json_is_true(json_object_get(fmt, "strict"));
    return r->req.schema || (lx_srv_fail(err, "out of memory"), false);
}

static bool reasoning(lx_srv_req *r, const json_t *root, llmux_error_info *err) {
    json_t *re = json_object_get(json_object_get(root, "reasoning"), "effort");
    if (!re || json_is_null(re)) return true;
    if (!lx_srv_effort(json_string_value(re), &r->req.reasoning_effort))
        return lx_srv_fail(err, "reasoning.effort: expected none, minimal, low, medium or high"), false;
    return true;
}

/* Replaces each item_reference in input by the stored item it names. An id named twice is
 * OpenAI's 400 (the model would see the item twice; an Anthropic backend refuses a repeated
 * tool_use id), and what the references expand to is bounded like a canonical request. */
static bool resolve_references(json_t *input, const char *previous_response_id, lx_srv_item_lookup lookup, void *ctx,
                               llmux_error_info *err) {
    size_t i, total = 0;
    json_t *it, *seen = NULL;
    bool ok = true;
    json_array_foreach(input, i, it) {
        const char *type = json_string_value(json_object_get(it, "type"));
        if (!type || strcmp(type, "item_reference") != 0) continue;
        const char *id = json_string_value(json_object_get(it, "id"));
        if (!id || !*id || strlen(id) > 256) {
            ok = (lx_srv_fail(err, "input[%zu].id: expected an item id", i), false);
            break;
        }
        if (!seen && !(seen = json_object())) {
            ok = (lx_srv_fail(err, "out of memory"), false);
            break;
        }
        if (json_object_get(seen, id)) {
            ok = (lx_srv_fail(err, "input[%zu]: Duplicate item found with id %s.", i, id), false);
            break;
        }
        json_object_set_new(seen, id, json_true());
        err->message[0] = '\0';
        json_t *found = lookup ? lookup(ctx, id, previous_response_id, err) : NULL;
        const char *ftype = json_string_value(json_object_get(found, "type"));
        if (!found || (ftype && strcmp(ftype, "item_reference") == 0)) {
            if (!found && lookup && err->message[0]) {
                char why[sizeof err->message];
                snprintf(why, sizeof why, "%s", err->message);
                lx_srv_fail(err, "input[%zu]: %s", i, why);
            } else {
                lx_srv_fail(err, "input[%zu]: item_reference '%s' names no item of a stored response", i, id);
            }
            json_decref(found);
            ok = false;
            break;
        }
        total += json_dumpb(found, NULL, 0, JSON_COMPACT);
        if (total > LLMUX_JSON_MAX_BYTES) {
            json_decref(found);
            ok = (lx_srv_fail(err, "input: the referenced items come to more than %u bytes", LLMUX_JSON_MAX_BYTES), false);
            break;
        }
        if (json_array_set_new(input, i, found) != 0) {
            ok = (lx_srv_fail(err, "out of memory"), false);
            break;
        }
    }
    json_decref(seen);
    return ok;
}

llmux_status lx_srv_responses_request(const char *body, size_t len, lx_srv_item_lookup lookup, void *ctx,
                                      lx_srv_req **out, llmux_error_info *err) {
    *out = NULL;
    lx_srv_req *r = lx_srv_req_begin(body, len, err);
    if (!r) return LLMUX_E_INVALID_REQUEST;
    const json_t *root = r->root;
    r->store = true; /* the API's default */
    if (!lx_srv_opt_bool(root, "store", &r->store, err) ||
        !lx_srv_opt_string(root, "previous_response_id", &r->previous_response_id, err))
        goto fail;
    if (r->previous_response_id && (!*r->previous_response_id || strlen(r->previous_response_id) > 128)) {
        lx_srv_fail(err, "previous_response_id: expected a response id of 1..128 characters");
        goto fail;
    }
    if (json_is_true(json_object_get(root, "background"))) {
        lx_srv_fail(err, "background: not supported (stream the response instead)");
        goto fail;
    }
    if (json_object_get(root, "conversation") && !json_is_null(json_object_get(root, "conversation"))) {
        lx_srv_fail(err, "conversation: this server keeps no conversations; send the whole conversation in input");
        goto fail;
    }
    json_t *input = json_object_get(root, "input");
    if (json_is_array(input) && json_array_size(input) <= LX_SRV_MAX_MESSAGES &&
        !resolve_references(input, r->previous_response_id, lookup, ctx, err))
        goto fail;
    size_t n_items = json_is_array(input) ? json_array_size(input) : 1;
    if (n_items > LX_SRV_MAX_MESSAGES) {
        lx_srv_fail(err, "input: more than %d items", LX_SRV_MAX_MESSAGES);
        goto fail;
    }
    /* Parts: an item is one part, or a message of up to LX_SRV_MAX_PARTS; bounded by the body. */
    size_t cap = 1;
    if (json_is_array(input)) {
        size_t i;
        json_t *it;
        json_array_foreach(input, i, it) {
            json_t *c = json_object_get(it, "content");
            size_t k = json_is_array(c) ? json_array_size(c) : 1;
            if (k > LX_SRV_MAX_PARTS) {
                lx_srv_fail(err, "input[%zu].content: more than %d parts", i, LX_SRV_MAX_PARTS);
                goto fail;
            }
            cap += k;
        }
    }
    builder b = {.r = r, .cap_parts = cap};
    b.msgs = lx_srv_alloc(r, (n_items + 1) * sizeof *b.msgs);
    b.parts = lx_srv_alloc(r, cap * sizeof *b.parts);
    if (!b.msgs || !b.parts) {
        lx_srv_fail(err, "out of memory");
        goto fail;
    }
    if (!input_items(&b, input, err)) goto fail;
    r->req.messages = b.msgs;
    r->req.n_messages = b.n_msgs;
    if (!lx_srv_opt_string(root, "instructions", &r->req.system, err)) goto fail;
    int64_t mt = -1;
    double temp = llmux_unset(), top_p = llmux_unset();
    if (!lx_srv_opt_int(root, "max_output_tokens", 1, INT32_MAX, &mt, err) ||
        !lx_srv_opt_number(root, "temperature", 0, 2, &temp, err) || !lx_srv_opt_number(root, "top_p", 0, 1, &top_p, err) ||
        !lx_srv_opt_bool(root, "stream", &r->req.stream, err) || !tools(r, root, err) || !text_format(r, root, err) ||
        !reasoning(r, root, err) || !lx_srv_openai_tags(r, err))
        goto fail;
    if (mt > 0) r->req.sampling.max_tokens = (int32_t)mt;
    r->req.sampling.temperature = temp;
    r->req.sampling.top_p = top_p;
    r->include_usage = true; /* response.completed always carries usage */
    if (llmux_request_validate(&r->req, err) != LLMUX_OK) goto fail;
    *out = r;
    return LLMUX_OK;
fail:
    lx_srv_req_free(r);
    return LLMUX_E_INVALID_REQUEST;
}

/* ----------------------------------------------------------------- response */

json_t *lx_srv_responses_usage(const llmux_usage *u) {
    json_int_t in = u->input_tokens > 0 ? u->input_tokens : 0, out = u->output_tokens > 0 ? u->output_tokens : 0;
    return json_pack("{s:I,s:{s:I},s:I,s:{s:I},s:I}", "input_tokens", in, "input_tokens_details", "cached_tokens",
                     (json_int_t)(u->cached_input_tokens > 0 ? u->cached_input_tokens : 0), "output_tokens", out,
                     "output_tokens_details", "reasoning_tokens",
                     (json_int_t)(u->reasoning_tokens > 0 ? u->reasoning_tokens : 0), "total_tokens",
                     (json_int_t)(u->total_tokens > 0 ? u->total_tokens : in + out));
}

json_t *lx_srv_responses_reasoning_item(const char *item_id, const char *text, const char *signature) {
    json_t *summary = json_array();
    if (summary && text && *text)
        json_array_append_new(summary, json_pack("{s:s,s:o}", "type", "summary_text", "text", lx_srv_json_text(text, strlen(text))));
    json_t *it = json_pack("{s:s,s:s,s:o}", "id", item_id, "type", "reasoning", "summary", summary);
    if (!it || !signature || !*signature) return it;
    const char *bar = strchr(signature, '|');
    if (strncmp(signature, "rs_", 3) == 0 && bar && bar[1]) {
        json_object_set_new(it, "id", json_stringn(signature, (size_t)(bar - signature)));
        json_object_set_new(it, "encrypted_content", lx_srv_json_text(bar + 1, strlen(bar + 1)));
    } else {
        json_t *e = json_sprintf("%s%s", FOREIGN_SIG, signature);
        if (e) json_object_set_new(it, "encrypted_content", e);
    }
    return it;
}

json_t *lx_srv_responses_object(const char *id, const char *model, long created, const char *status, json_t *output,
                                const llmux_usage *usage, const char *incomplete_reason) {
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:n,s:n,s:s,s:o,s:b,s:n,s:{s:{s:s}}}", "id", id, "object", "response",
                          "created_at", (json_int_t)created, "status", status, "error", "instructions", "model", model,
                          "output", output ? output : json_array(), "parallel_tool_calls", 1, "previous_response_id",
                          "text", "format", "type", "text");
    if (!o) return NULL;
    json_object_set_new(o, "incomplete_details",
                        incomplete_reason ? json_pack("{s:s}", "reason", incomplete_reason) : json_null());
    json_object_set_new(o, "usage", usage ? lx_srv_responses_usage(usage) : json_null());
    return o;
}

void lx_srv_responses_state(json_t *o, const char *previous_response_id, bool store) {
    if (!o) return;
    json_object_set_new(o, "previous_response_id", previous_response_id ? json_string(previous_response_id) : json_null());
    json_object_set_new(o, "store", json_boolean(store));
}

/* The terminal status of a finish reason, and the incomplete reason (NULL when complete). */
const char *lx_srv_responses_status(llmux_finish_reason r, const char **incomplete) {
    *incomplete = r == LLMUX_FINISH_LENGTH ? "max_output_tokens" : r == LLMUX_FINISH_CONTENT_FILTER ? "content_filter" : NULL;
    return *incomplete ? "incomplete" : "completed";
}

bool lx_srv_responses_hosted_item(const char *type) {
    static const char *const k_hosted[] = {"web_search_call",       "file_search_call", "code_interpreter_call",
                                           "image_generation_call", "mcp_call",         "mcp_list_tools"};
    for (size_t i = 0; type && i < sizeof k_hosted / sizeof *k_hosted; i++)
        if (strcmp(type, k_hosted[i]) == 0) return true;
    return false;
}

json_t *lx_srv_responses_native_item(const char *format, const char *text, size_t len) {
    if (!format || strcmp(format, "openai_responses") != 0 || !text) return NULL;
    json_t *it = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(it) && json_is_string(json_object_get(it, "type"))) return it;
    json_decref(it);
    return NULL;
}

/* An assistant part as an output item under item_id: a message (text), a function_call or a
 * reasoning item; a Responses backend's own item (NATIVE) as it came, with its own id. NULL with
 * *skip for the types an assistant turn does not show as items, NULL alone when out of memory. */
static json_t *assistant_item(const llmux_part *p, const char *item_id, bool *skip) {
    *skip = false;
    if (p->type == LLMUX_PART_NATIVE) {
        json_t *it = lx_srv_responses_native_item(p->name, p->text, p->text ? strlen(p->text) : 0);
        *skip = it == NULL;
        return it;
    }
    if (p->type == LLMUX_PART_TEXT) {
        const char *t = p->text ? p->text : "";
        return json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:o,s:[]}]}", "id", item_id, "type", "message", "status", "completed",
                         "role", "assistant", "content", "type", "output_text", "text", lx_srv_json_text(t, strlen(t)),
                         "annotations");
    }
    if (p->type == LLMUX_PART_TOOL_CALL) {
        const char *a = p->arguments && *p->arguments ? p->arguments : "{}";
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "id", item_id, "type", "function_call", "status", "completed",
                         "call_id", p->id ? p->id : "", "name", p->name ? p->name : "", "arguments",
                         lx_srv_json_text(a, strlen(a)));
    }
    if (p->type == LLMUX_PART_REASONING) return lx_srv_responses_reasoning_item(item_id, p->redacted ? NULL : p->text, p->signature);
    *skip = true;
    return NULL;
}

/* The prefix of an item id by what the item is (OpenAI's: msg_, fc_, rs_; fco_ for outputs). */
static const char *item_prefix(const llmux_part *p, llmux_role role) {
    if (role == LLMUX_ROLE_TOOL) return "fco";
    return p->type == LLMUX_PART_TOOL_CALL ? "fc" : p->type == LLMUX_PART_REASONING ? "rs" : "msg";
}

json_t *lx_srv_responses_custom_call(const char *item_id, const char *status, const char *call_id, const char *name,
                                     const char *input) {
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "id", item_id, "type", "custom_tool_call", "status", status, "call_id",
                     call_id ? call_id : "", "name", name ? name : "", "input", lx_srv_json_text(input, strlen(input)));
}

/* A custom tool's call as its item (the raw input out of its function form's arguments). */
static json_t *custom_item(const llmux_part *p, const char *item_id) {
    const char *a = p->arguments ? p->arguments : "";
    char *input = lx_srv_custom_input(a, strlen(a));
    json_t *it = input ? lx_srv_responses_custom_call(item_id, "completed", p->id, p->name, input) : NULL;
    free(input);
    return it;
}

char *lx_srv_responses_response(const llmux_response *resp, const char *id, const char *model, long created,
                                const char *previous_response_id, bool store, const lx_srv_names *custom) {
    json_t *output = json_array();
    if (!output) return NULL;
    for (size_t i = 0; i < resp->n_parts; i++) {
        const llmux_part *p = &resp->parts[i];
        char item_id[96];
        bool is_custom = p->type == LLMUX_PART_TOOL_CALL && lx_srv_names_has(custom, p->name);
        snprintf(item_id, sizeof item_id, "%s_%s_%zu", is_custom ? "ctc" : item_prefix(p, LLMUX_ROLE_ASSISTANT), id + 5, i);
        bool skip = false;
        json_t *it = is_custom ? custom_item(p, item_id) : assistant_item(p, item_id, &skip);
        if (skip) continue;
        if (!it || json_array_append_new(output, it) != 0) {
            json_decref(output);
            return NULL;
        }
    }
    const char *incomplete;
    const char *status = lx_srv_responses_status(resp->finish_reason, &incomplete);
    json_t *o = lx_srv_responses_object(id, model, created, status, output, &resp->usage, incomplete);
    lx_srv_responses_state(o, previous_response_id, store);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* ------------------------------------------------------------- input items */

/* A data URL of part p's base64 data, or its URL. */
static json_t *part_url(const llmux_part *p) {
    if (p->data) return json_sprintf("data:%s;base64,%s", p->mime_type ? p->mime_type : "application/octet-stream", p->data);
    return json_string(p->image_url ? p->image_url : "");
}

/* A user or system message as one message item: input_text, input_image and input_file parts. */
static json_t *message_input_item(const llmux_message *m, const char *item_id) {
    json_t *content = json_array();
    for (size_t i = 0; content && i < m->n_parts; i++) {
        const llmux_part *p = &m->parts[i];
        json_t *c = NULL;
        if (p->type == LLMUX_PART_TEXT) {
            const char *t = p->text ? p->text : "";
            c = json_pack("{s:s,s:o}", "type", "input_text", "text", lx_srv_json_text(t, strlen(t)));
        } else if (p->type == LLMUX_PART_IMAGE) {
            c = json_pack("{s:s,s:o,s:s}", "type", "input_image", "image_url", part_url(p), "detail", "auto");
        } else if (p->type == LLMUX_PART_FILE) {
            c = json_pack("{s:s,s:o}", "type", "input_file", p->data ? "file_data" : "file_url", part_url(p));
            if (c && p->name) json_object_set_new(c, "filename", json_string(p->name));
        } else {
            continue;
        }
        if (!c || json_array_append_new(content, c) != 0) {
            json_decref(content);
            return NULL;
        }
    }
    if (!content) return NULL;
    return json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", item_id, "type", "message", "status", "completed", "role",
                     m->role == LLMUX_ROLE_SYSTEM ? "system" : "user", "content", content);
}

json_t *lx_srv_responses_input_items(const llmux_message *msgs, size_t n, const char *resp_id) {
    json_t *items = json_array();
    const char *suffix = strlen(resp_id) > 5 ? resp_id + 5 : resp_id;
    size_t k = 0;
    for (size_t i = 0; items && i < n; i++) {
        const llmux_message *m = &msgs[i];
        char item_id[160];
        if (m->role == LLMUX_ROLE_SYSTEM || m->role == LLMUX_ROLE_USER) {
            snprintf(item_id, sizeof item_id, "msg_%s_in%zu", suffix, k);
            json_t *it = message_input_item(m, item_id);
            if (!it) goto oom;
            if (json_array_size(json_object_get(it, "content")) == 0) { /* nothing an item can show */
                json_decref(it);
                continue;
            }
            k++;
            if (json_array_append_new(items, it) != 0) goto oom;
            continue;
        }
        for (size_t j = 0; j < m->n_parts; j++) {
            const llmux_part *p = &m->parts[j];
            snprintf(item_id, sizeof item_id, "%s_%s_in%zu", item_prefix(p, m->role), suffix, k);
            json_t *it = NULL;
            bool skip = false;
            if (m->role == LLMUX_ROLE_TOOL && p->type == LLMUX_PART_TOOL_RESULT) {
                const char *t = p->text ? p->text : "";
                it = json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", item_id, "type", "function_call_output", "status",
                               "completed", "call_id", p->id ? p->id : "", "output", lx_srv_json_text(t, strlen(t)));
            } else if (m->role == LLMUX_ROLE_ASSISTANT) {
                it = assistant_item(p, item_id, &skip);
            } else {
                skip = true;
            }
            if (skip) continue;
            k++;
            if (!it || json_array_append_new(items, it) != 0) goto oom;
        }
    }
    return items;
oom:
    json_decref(items);
    return NULL;
}

/* ------------------------------------------------------------ custom tools */

bool lx_srv_names_copy(lx_srv_names *dst, const char *const *src, size_t n) {
    *dst = (lx_srv_names){0};
    if (!n) return true;
    if (!(dst->v = calloc(n, sizeof *dst->v))) return false;
    for (; dst->n < n; dst->n++)
        if (!(dst->v[dst->n] = strdup(src[dst->n]))) {
            lx_srv_names_free(dst);
            return false;
        }
    return true;
}

void lx_srv_names_free(lx_srv_names *x) {
    for (size_t i = 0; i < x->n; i++) free(x->v[i]);
    free(x->v);
    *x = (lx_srv_names){0};
}

bool lx_srv_names_has(const lx_srv_names *x, const char *name) {
    for (size_t i = 0; x && name && i < x->n; i++)
        if (strcmp(x->v[i], name) == 0) return true;
    return false;
}

/* The string `input` of the arguments object text[0..n), or NULL (no such object). */
static char *input_of(const char *text, size_t n) {
    json_t *a = json_loadb(text, n, JSON_ALLOW_NUL, NULL);
    const char *in = json_string_value(json_object_get(a, "input"));
    char *out = in ? strdup(in) : NULL; /* up to a NUL the input may hold */
    json_decref(a);
    return out;
}

char *lx_srv_custom_input(const char *arguments, size_t len) {
    char *out = input_of(arguments, len);
    if (out) return out;
    /* Cut short (max_tokens): {"input":"... without its end. Closed again, less what may be
     * half an escape or a UTF-8 sequence (at most 6 bytes), it reads as far as it came. */
    static const char head[] = "{\"input\":\"";
    size_t h = sizeof head - 1;
    if (len >= h && memcmp(arguments, head, h) == 0) {
        char *buf = malloc(len + 3);
        if (!buf) return NULL;
        for (size_t cut = len; !out && cut >= h && cut + 6 >= len; cut--) {
            memcpy(buf, arguments, cut);
            memcpy(buf + cut, "\"}", 3);
            out = input_of(buf, cut + 2);
        }
        free(buf);
        if (out) return out;
    }
    /* A model that answered with the raw text itself. */
    if ((out = malloc(len + 1))) {
        memcpy(out, arguments, len);
        out[len] = '\0';
    }
    return out;
}
