/* The request rules (request_check.h) and llmux_request_validate. Checked in canonical JSON field
 * order, so a decoded request with several faults reports the same one whichever entry point
 * (llmux_request_from_json, llmux_request_validate, llmux_run) saw it. */
#include <math.h>
#include <string.h>

#include "error.h"
#include "request_check.h"
#include "utf8.h"

/* Fails at the current path extended by key (NULL = the current path itself). */
static bool fail_key(lx_jr *r, const char *key, const char *what) {
    size_t old = key ? lx_jr_push_key(r, key) : r->path_len;
    lx_jr_fail(r, "%s", what);
    lx_jr_pop(r, old);
    return false;
}

/* A C array pointer that is NULL while its count says otherwise (JSON cannot produce this). */
static bool array_present(lx_jr *r, const char *key, const void *p, size_t n, const char *count_name) {
    if (p || n == 0) return true;
    size_t old = key ? lx_jr_push_key(r, key) : r->path_len;
    lx_jr_fail(r, "missing (%s is %zu)", count_name, n);
    lx_jr_pop(r, old);
    return false;
}

static bool cap(lx_jr *r, const char *key, size_t n, size_t max, const char *what) {
    if (n <= max) return true;
    size_t old = lx_jr_push_key(r, key);
    lx_jr_fail(r, "too many %s: %zu (the limit is %zu)", what, n, max);
    lx_jr_pop(r, old);
    return false;
}

/* Text that has to hold a JSON object (a tool's parameters, a schema, provider options). Parsed
 * as the encoder does (lx_jw_json_text), so what passes here is what gets sent. */
static bool json_object_text(lx_jr *r, const char *key, const char *text) {
    if (!text) return true;
    json_error_t e;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    bool ok = v && json_is_object(v);
    json_decref(v);
    return ok ? true : fail_key(r, key, "must be an object");
}

/* Text that reaches tokenizers and JSON encoders must be UTF-8: llama.cpp's tokenizer throws on
 * an invalid code point (a C caller's or the CLI's bytes; JSON bodies are UTF-8 already). */
static bool utf8_text(lx_jr *r, const char *key, const char *text) {
    return !text || lx_utf8_valid(text, strlen(text)) ? true : fail_key(r, key, "must be valid UTF-8");
}

bool lx_part_rules(lx_jr *r, const llmux_part *p) {
    if ((unsigned)p->cache > LLMUX_CACHE_1H) {
        size_t old = lx_jr_push_key(r, "cache");
        lx_jr_fail(r, "unknown cache lifetime (%d)", (int)p->cache);
        lx_jr_pop(r, old);
        return false;
    }
    switch (p->type) {
    case LLMUX_PART_TEXT: return p->text ? utf8_text(r, "text", p->text) : fail_key(r, "text", "missing");
    case LLMUX_PART_IMAGE:
        if (p->image_url && p->data) return lx_jr_fail(r, "image has both \"url\" and \"data\"");
        if (!p->image_url && !p->data) return lx_jr_fail(r, "image needs \"url\" or \"data\"");
        if (p->data && !p->mime_type) return fail_key(r, "mime_type", "missing (required with \"data\")");
        return true;
    case LLMUX_PART_TOOL_CALL:
        if (!p->id) return fail_key(r, "id", "missing");
        if (!p->name) return fail_key(r, "name", "missing");
        return utf8_text(r, "id", p->id) && utf8_text(r, "name", p->name) && utf8_text(r, "arguments", p->arguments);
    case LLMUX_PART_TOOL_RESULT:
        if (!p->id) return fail_key(r, "id", "missing");
        /* The result's text is its JSON "content". */
        if (!p->text) return fail_key(r, "content", "missing");
        return utf8_text(r, "id", p->id) && utf8_text(r, "name", p->name) && utf8_text(r, "content", p->text);
    case LLMUX_PART_REASONING: return utf8_text(r, "text", p->text) && utf8_text(r, "signature", p->signature);
    case LLMUX_PART_FILE:
        if (p->image_url && p->data) return lx_jr_fail(r, "file has both \"url\" and \"data\"");
        if (!p->image_url && !p->data) return lx_jr_fail(r, "file needs \"url\" or \"data\"");
        if (p->data && !p->mime_type) return fail_key(r, "mime_type", "missing (required with \"data\")");
        return utf8_text(r, "url", p->image_url) && utf8_text(r, "mime_type", p->mime_type) && utf8_text(r, "name", p->name);
    case LLMUX_PART_NATIVE:
        /* The part's JSON "format" and "block". */
        if (!p->name || !*p->name) return fail_key(r, "format", "missing");
        if (!p->text) return fail_key(r, "block", "missing");
        return utf8_text(r, "format", p->name) && json_object_text(r, "block", p->text);
    }
    size_t old = lx_jr_push_key(r, "type");
    lx_jr_fail(r, "unknown part type (%d)", (int)p->type);
    lx_jr_pop(r, old);
    return false;
}

static bool message_rules(lx_jr *r, const llmux_message *m) {
    if ((unsigned)m->role > LLMUX_ROLE_TOOL) {
        size_t old = lx_jr_push_key(r, "role");
        lx_jr_fail(r, "unknown role (%d)", (int)m->role);
        lx_jr_pop(r, old);
        return false;
    }
    if (!utf8_text(r, "name", m->name)) return false; /* providers and templates get it */
    /* A message's parts are its JSON "content". */
    if (!array_present(r, "content", m->parts, m->n_parts, "n_parts") ||
        !cap(r, "content", m->n_parts, LX_REQ_MAX_PARTS, "items"))
        return false;
    size_t old = lx_jr_push_key(r, "content");
    bool ok = true;
    for (size_t i = 0; ok && i < m->n_parts; i++) {
        size_t o = lx_jr_push_index(r, i);
        ok = lx_part_rules(r, &m->parts[i]);
        lx_jr_pop(r, o);
    }
    lx_jr_pop(r, old);
    return ok;
}

static bool messages_rules(lx_jr *r, const llmux_request *req) {
    if (!array_present(r, "messages", req->messages, req->n_messages, "n_messages") ||
        !cap(r, "messages", req->n_messages, LX_REQ_MAX_MESSAGES, "items"))
        return false;
    size_t old = lx_jr_push_key(r, "messages");
    bool ok = true;
    for (size_t i = 0; ok && i < req->n_messages; i++) {
        size_t o = lx_jr_push_index(r, i);
        ok = message_rules(r, &req->messages[i]);
        lx_jr_pop(r, o);
    }
    lx_jr_pop(r, old);
    return ok;
}

static bool tools_rules(lx_jr *r, const llmux_request *req) {
    if (!array_present(r, "tools", req->tools, req->n_tools, "n_tools") ||
        !cap(r, "tools", req->n_tools, LX_REQ_MAX_TOOLS, "items"))
        return false;
    size_t old = lx_jr_push_key(r, "tools");
    bool ok = true;
    for (size_t i = 0; ok && i < req->n_tools; i++) {
        const llmux_tool *t = &req->tools[i];
        size_t o = lx_jr_push_index(r, i);
        if (!t->name) ok = fail_key(r, "name", "missing");
        else if (!*t->name) ok = fail_key(r, "name", "must not be empty");
        else if ((unsigned)t->cache > LLMUX_CACHE_1H) ok = lx_jr_fail(r, "cache: unknown cache lifetime (%d)", (int)t->cache);
        else ok = utf8_text(r, "name", t->name) && utf8_text(r, "description", t->description) &&
                  json_object_text(r, "parameters", t->parameters);
        lx_jr_pop(r, o);
    }
    lx_jr_pop(r, old);
    return ok;
}

static bool has_tool(const llmux_request *req, const char *name) {
    for (size_t i = 0; i < req->n_tools; i++)
        if (req->tools[i].name && strcmp(req->tools[i].name, name) == 0) return true;
    return false;
}

/* Runs after tools_rules: the tools are well formed. */
static bool tool_choice_rules(lx_jr *r, const llmux_request *req) {
    size_t old = lx_jr_push_key(r, "tool_choice");
    bool ok = true;
    switch (req->tool_choice) {
    case LLMUX_TOOL_CHOICE_AUTO:
    case LLMUX_TOOL_CHOICE_NONE: break;
    case LLMUX_TOOL_CHOICE_REQUIRED:
        /* Every provider refuses "call a tool" without tools; say so before any upstream does. */
        if (req->n_tools == 0) ok = lx_jr_fail(r, "\"required\" needs at least one tool in tools");
        break;
    case LLMUX_TOOL_CHOICE_TOOL: {
        const char *name = req->tool_choice_name;
        if (!name) {
            ok = fail_key(r, "name", "missing");
        } else if (!*name) {
            ok = fail_key(r, "name", "must not be empty");
        } else if (!has_tool(req, name)) {
            char shown[72];
            lx_jr_show(shown, sizeof shown, name);
            size_t o = lx_jr_push_key(r, "name");
            ok = lx_jr_fail(r, "no tool named \"%s\" in tools", shown);
            lx_jr_pop(r, o);
        }
        break;
    }
    default: ok = lx_jr_fail(r, "unknown value (%d)", (int)req->tool_choice);
    }
    lx_jr_pop(r, old);
    return ok;
}

static bool format_rules(lx_jr *r, const llmux_request *req) {
    size_t old = lx_jr_push_key(r, "response_format");
    bool ok = true;
    if ((unsigned)req->response_format > LLMUX_FORMAT_JSON_SCHEMA) {
        size_t o = lx_jr_push_key(r, "type");
        ok = lx_jr_fail(r, "unknown format (%d)", (int)req->response_format);
        lx_jr_pop(r, o);
    } else if (req->response_format == LLMUX_FORMAT_JSON_SCHEMA) {
        ok = req->schema ? json_object_text(r, "schema", req->schema)
                         : fail_key(r, "schema", "missing (required with type \"json_schema\")");
    } else {
        /* A schema with another format would be silently dropped: refuse it instead. */
        const char *only = req->schema_name ? "name" : req->schema ? "schema" : req->schema_strict ? "strict" : NULL;
        if (only) ok = fail_key(r, only, "only allowed with type \"json_schema\"");
    }
    lx_jr_pop(r, old);
    return ok;
}

/* NaN is "unset"; anything else, infinities included, must pass accept. */
static bool real(lx_jr *r, const char *key, double v, bool accept, const char *what) {
    if (isnan(v) || (isfinite(v) && accept)) return true;
    size_t old = lx_jr_push_key(r, key);
    lx_jr_fail(r, "must be a number %s", what);
    lx_jr_pop(r, old);
    return false;
}

/* LLMUX_UNSET_INT is "unset"; anything else must be in [min, max]. */
static bool integer(lx_jr *r, const char *key, int64_t v, int64_t min, int64_t max, const char *what) {
    if (v == LLMUX_UNSET_INT || (v >= min && v <= max)) return true;
    size_t old = lx_jr_push_key(r, key);
    lx_jr_fail(r, "must be an integer %s", what);
    lx_jr_pop(r, old);
    return false;
}

static bool stop_rules(lx_jr *r, const llmux_sampling *s) {
    if (!array_present(r, "stop", s->stop, s->n_stop, "n_stop") ||
        !cap(r, "stop", s->n_stop, LX_REQ_MAX_STOP, "stop sequences"))
        return false;
    size_t old = lx_jr_push_key(r, "stop");
    bool ok = true;
    for (size_t i = 0; ok && i < s->n_stop; i++) {
        if (s->stop[i] && *s->stop[i] && lx_utf8_valid(s->stop[i], strlen(s->stop[i]))) continue;
        size_t o = lx_jr_push_index(r, i);
        ok = lx_jr_fail(r, "%s", !s->stop[i] ? "missing" : !*s->stop[i] ? "must not be empty" : "must be valid UTF-8");
        lx_jr_pop(r, o);
    }
    lx_jr_pop(r, old);
    return ok;
}

static bool sampling_rules(lx_jr *r, const llmux_sampling *s) {
    double t = s->temperature, p = s->top_p, mp = s->min_p;
    return real(r, "temperature", t, t >= 0, ">= 0") && real(r, "top_p", p, p > 0 && p <= 1, "in (0, 1]") &&
           integer(r, "top_k", s->top_k, 1, INT32_MAX, LX_REQ_INT32_POSITIVE) &&
           real(r, "min_p", mp, mp >= 0 && mp <= 1, "in [0, 1]") &&
           integer(r, "max_tokens", s->max_tokens, 1, INT32_MAX, LX_REQ_INT32_POSITIVE) && stop_rules(r, s) &&
           integer(r, "seed", s->seed, 0, INT64_MAX, LX_REQ_NON_NEGATIVE) &&
           real(r, "presence_penalty", s->presence_penalty, fabs(s->presence_penalty) <= 2, "in [-2, 2]") &&
           real(r, "frequency_penalty", s->frequency_penalty, fabs(s->frequency_penalty) <= 2, "in [-2, 2]") &&
           real(r, "repeat_penalty", s->repeat_penalty, s->repeat_penalty > 0, "> 0");
}

static bool metadata_rules(lx_jr *r, const llmux_request *req) {
    if (!array_present(r, "metadata", req->metadata, req->n_metadata, "n_metadata") ||
        !cap(r, "metadata", req->n_metadata, LX_REQ_MAX_METADATA, "entries"))
        return false;
    size_t old = lx_jr_push_key(r, "metadata");
    bool ok = true;
    for (size_t i = 0; ok && i < req->n_metadata; i++) {
        const llmux_kv *kv = &req->metadata[i];
        if (!kv->key) {
            size_t o = lx_jr_push_index(r, i);
            ok = fail_key(r, "key", "missing");
            lx_jr_pop(r, o);
        } else if (!kv->value) {
            ok = fail_key(r, kv->key, "missing");
        }
    }
    lx_jr_pop(r, old);
    return ok;
}

bool lx_request_rules(lx_jr *r, const llmux_request *req) {
    if (!utf8_text(r, "system", req->system) || !messages_rules(r, req) || !tools_rules(r, req) || !tool_choice_rules(r, req) || !format_rules(r, req) ||
        !sampling_rules(r, &req->sampling))
        return false;
    if (req->deadline_ms < 0) return fail_key(r, "deadline_ms", "must be an integer " LX_REQ_NON_NEGATIVE);
    if ((unsigned)req->reasoning_effort > LLMUX_REASONING_HIGH) {
        size_t old = lx_jr_push_key(r, "reasoning_effort");
        lx_jr_fail(r, "unknown value (%d)", (int)req->reasoning_effort);
        lx_jr_pop(r, old);
        return false;
    }
    if (req->reasoning_budget < 0) return fail_key(r, "reasoning_budget", "must be an integer in [0, 2147483647]");
    return metadata_rules(r, req) && json_object_text(r, "provider_options", req->provider_options);
}

static const char *const k_effort[] = {NULL, "none", "low", "medium", "high"};

const char *lx_reasoning_effort_name(llmux_reasoning_effort e) {
    return (unsigned)e <= LLMUX_REASONING_HIGH ? k_effort[e] : NULL;
}

bool lx_reasoning_effort_parse(const char *name, llmux_reasoning_effort *out) {
    for (int e = LLMUX_REASONING_NONE; e <= LLMUX_REASONING_HIGH; e++)
        if (name && strcmp(name, k_effort[e]) == 0) {
            *out = (llmux_reasoning_effort)e;
            return true;
        }
    return false;
}

llmux_status llmux_request_validate(const llmux_request *req, llmux_error_info *err) {
    lx_error_clear(err);
    if (!req) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_request_validate: req is NULL");
    lx_jr r;
    lx_jr_init(&r, NULL, err, "request");
    if (!lx_request_rules(&r, req)) return r.status;
    /* Only a request to run needs something to answer; a fragment (decoded `{}`) does not. */
    if (!req->n_messages && !req->system)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "messages: at least one message is required");
    return LLMUX_OK;
}
