/* Canonical JSON for llmux_request: encode, strict decode, and the decoded request's memory. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "request_box.h"
#include "response.h"
#include "request_check.h"

/* A decoded request and everything it points to live in one arena; `pub` comes first so the
 * public pointer is also the box pointer. */
typedef struct request_box {
    llmux_request pub;
    lx_arena arena;
} request_box;

void llmux_request_free(llmux_request *req) {
    if (!req) return;
    request_box *b = (request_box *)(void *)req;
    lx_arena_release(&b->arena);
    free(b);
}

llmux_request *lx_request_box_new(lx_arena **arena) {
    request_box *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    lx_arena_init(&b->arena);
    b->pub = llmux_request_default();
    *arena = &b->arena;
    return &b->pub;
}

/* ----------------------------------------------------------------- encode */

static const char *const k_roles[] = {"system", "user", "assistant", "tool"};
static const char *const k_formats[] = {"text", "json_object", "json_schema"};

static void write_message(lx_jw *w, const llmux_message *m) {
    size_t n = m->parts ? m->n_parts : 0;
    lx_jw_obj_begin(w);
    lx_jw_kstr(w, "role", (unsigned)m->role < 4 ? k_roles[m->role] : "unknown");
    if (m->name) lx_jw_kstr(w, "name", m->name);
    lx_jw_key(w, "content");
    /* One text part is written in its shorthand, so the common case stays readable; the rule
     * depends only on the struct, which keeps encoding deterministic. A cache breakpoint needs
     * the part's own object. */
    if (n == 1 && m->parts[0].type == LLMUX_PART_TEXT && m->parts[0].text && m->parts[0].cache == LLMUX_CACHE_NONE) {
        lx_jw_str(w, m->parts[0].text);
    } else {
        lx_jw_arr_begin(w);
        for (size_t i = 0; i < n; i++) lx_jw_part(w, &m->parts[i]);
        lx_jw_arr_end(w);
    }
    lx_jw_obj_end(w);
}

static void write_tool_choice(lx_jw *w, const llmux_request *r) {
    switch (r->tool_choice) {
    case LLMUX_TOOL_CHOICE_AUTO: return; /* the default is omitted */
    case LLMUX_TOOL_CHOICE_NONE: lx_jw_kstr(w, "tool_choice", "none"); return;
    case LLMUX_TOOL_CHOICE_REQUIRED: lx_jw_kstr(w, "tool_choice", "required"); return;
    case LLMUX_TOOL_CHOICE_TOOL:
        lx_jw_key(w, "tool_choice");
        lx_jw_obj_begin(w);
        lx_jw_kstr(w, "type", "tool");
        lx_jw_kstr(w, "name", r->tool_choice_name);
        lx_jw_obj_end(w);
        return;
    }
    lx_jw_kstr(w, "tool_choice", "unknown"); /* an out-of-range value: decoding will say so */
}

static void write_format(lx_jw *w, const llmux_request *r) {
    if (r->response_format == LLMUX_FORMAT_TEXT) return;
    lx_jw_key(w, "response_format");
    lx_jw_obj_begin(w);
    lx_jw_kstr(w, "type", (unsigned)r->response_format < 3 ? k_formats[r->response_format] : "unknown");
    if (r->response_format == LLMUX_FORMAT_JSON_SCHEMA) {
        if (r->schema_name) lx_jw_kstr(w, "name", r->schema_name);
        lx_jw_key(w, "schema");
        lx_jw_json_text(w, r->schema ? r->schema : "{}");
        if (r->schema_strict) lx_jw_kbool(w, "strict", true);
    }
    lx_jw_obj_end(w);
}

static void opt_real(lx_jw *w, const char *key, double v) {
    if (!isnan(v)) lx_jw_kreal(w, key, v);
}

static void opt_int(lx_jw *w, const char *key, int64_t v) {
    if (v != LLMUX_UNSET_INT) lx_jw_kint(w, key, v);
}

static void write_sampling(lx_jw *w, const llmux_sampling *s) {
    opt_real(w, "temperature", s->temperature);
    opt_real(w, "top_p", s->top_p);
    opt_int(w, "top_k", s->top_k);
    opt_real(w, "min_p", s->min_p);
    opt_int(w, "max_tokens", s->max_tokens);
    if (s->stop && s->n_stop) {
        lx_jw_key(w, "stop");
        lx_jw_arr_begin(w);
        for (size_t i = 0; i < s->n_stop; i++) lx_jw_str(w, s->stop[i]);
        lx_jw_arr_end(w);
    }
    opt_int(w, "seed", s->seed);
    opt_real(w, "presence_penalty", s->presence_penalty);
    opt_real(w, "frequency_penalty", s->frequency_penalty);
    opt_real(w, "repeat_penalty", s->repeat_penalty);
}

char *llmux_request_to_json(const llmux_request *req) {
    if (!req) return NULL;
    lx_jw w;
    lx_jw_init(&w);
    lx_jw_obj_begin(&w);
    if (req->model) lx_jw_kstr(&w, "model", req->model);
    if (req->system) lx_jw_kstr(&w, "system", req->system);
    lx_jw_key(&w, "messages");
    lx_jw_arr_begin(&w);
    for (size_t i = 0; req->messages && i < req->n_messages; i++) write_message(&w, &req->messages[i]);
    lx_jw_arr_end(&w);
    if (req->tools && req->n_tools) {
        lx_jw_key(&w, "tools");
        lx_jw_arr_begin(&w);
        for (size_t i = 0; i < req->n_tools; i++) {
            const llmux_tool *t = &req->tools[i];
            lx_jw_obj_begin(&w);
            lx_jw_kstr(&w, "name", t->name);
            if (t->description) lx_jw_kstr(&w, "description", t->description);
            if (t->parameters) {
                lx_jw_key(&w, "parameters");
                lx_jw_json_text(&w, t->parameters);
            }
            if (t->cache != LLMUX_CACHE_NONE) lx_jw_kstr(&w, "cache", lx_cache_name(t->cache));
            lx_jw_obj_end(&w);
        }
        lx_jw_arr_end(&w);
    }
    write_tool_choice(&w, req);
    write_format(&w, req);
    write_sampling(&w, &req->sampling);
    if (req->stream) lx_jw_kbool(&w, "stream", true);
    if (req->priority != 0) lx_jw_kint(&w, "priority", req->priority);
    if (req->deadline_ms != 0) lx_jw_kint(&w, "deadline_ms", req->deadline_ms);
    if (lx_reasoning_effort_name(req->reasoning_effort))
        lx_jw_kstr(&w, "reasoning_effort", lx_reasoning_effort_name(req->reasoning_effort));
    if (req->reasoning_budget != 0) lx_jw_kint(&w, "reasoning_budget", req->reasoning_budget);
    if (req->single_tool_call) lx_jw_kbool(&w, "single_tool_call", true);
    if (req->metadata && req->n_metadata) {
        lx_jw_key(&w, "metadata");
        lx_jw_obj_begin(&w);
        for (size_t i = 0; i < req->n_metadata; i++) {
            lx_jw_key(&w, req->metadata[i].key ? req->metadata[i].key : "");
            lx_jw_str(&w, req->metadata[i].value);
        }
        lx_jw_obj_end(&w);
    }
    if (req->provider_options) {
        lx_jw_key(&w, "provider_options");
        lx_jw_json_text(&w, req->provider_options);
    }
    lx_jw_obj_end(&w);
    return lx_jw_finish(&w);
}

/* ----------------------------------------------------------------- decode */

/* Decoding checks types and spellings only (a JSON value that has no C form: a wrong type, an
 * unknown field or enum name, an absent role or part type); every rule on the values (ranges,
 * required fields, caps, consistency) is lx_request_rules', run on the decoded request. So the
 * decoder, llmux_request_validate and llmux_run say the same thing about the same request.
 * Collections are decoded whole before their caps are checked: the 32 MiB input cap bounds them. */

static const char *const k_request_keys[] = {
    "model",       "system",      "messages",         "tools",  "tool_choice",       "response_format",
    "temperature", "top_p",       "top_k",            "min_p",  "max_tokens",        "stop",
    "seed",        "presence_penalty", "frequency_penalty", "repeat_penalty", "stream", "priority",
    "deadline_ms", "metadata",    "provider_options", "reasoning_effort", "reasoning_budget", "single_tool_call",
    NULL};
static const char *const k_message_keys[] = {"role", "name", "content", NULL};
static const char *const k_tool_keys[] = {"name", "description", "parameters", "cache", NULL};
static const char *const k_choice_keys[] = {"type", "name", NULL};
static const char *const k_format_keys[] = {"type", "name", "schema", "strict", NULL};

static bool fail_at(lx_jr *r, const char *key, const char *what, const char *value) {
    return lx_jr_fail_value(r, key, what, value, NULL);
}

static void *alloc_array(lx_jr *r, size_t n, size_t elem) {
    void *p = lx_arena_alloc(r->arena, n * elem); /* n is capped, so no overflow */
    if (!p) lx_jr_oom(r);
    return p;
}

static bool decode_content(lx_jr *r, const json_t *c, llmux_message *m) {
    if (json_is_string(c)) {
        llmux_part *p = alloc_array(r, 1, sizeof *p);
        if (!p) return false;
        p->type = LLMUX_PART_TEXT;
        if (!lx_jr_string_value(r, c, &p->text)) return false;
        m->parts = p;
        m->n_parts = 1;
        return true;
    }
    if (!json_is_array(c)) return lx_jr_fail(r, "must be a string or an array of parts");
    if (!lx_jr_expect_array(r, c, SIZE_MAX)) return false;
    size_t n = json_array_size(c);
    llmux_part *parts = alloc_array(r, n, sizeof *parts);
    if (!parts) return false;
    for (size_t i = 0; i < n; i++) {
        size_t old = lx_jr_push_index(r, i);
        bool ok = lx_jr_part(r, json_array_get(c, i), &parts[i]);
        lx_jr_pop(r, old);
        if (!ok) return false;
    }
    m->parts = parts;
    m->n_parts = n;
    return true;
}

static bool decode_message(lx_jr *r, const json_t *v, llmux_message *m) {
    const char *role = NULL;
    if (!lx_jr_expect_object(r, v) || !lx_jr_check_keys(r, v, k_message_keys) ||
        !lx_jr_string(r, v, "role", true, &role) || !lx_jr_string(r, v, "name", false, &m->name))
        return false;
    size_t i = 0;
    while (i < 4 && strcmp(role, k_roles[i]) != 0) i++;
    if (i == 4) return fail_at(r, "role", "unknown role", role);
    m->role = (llmux_role)i;
    const json_t *c = json_object_get(v, "content");
    size_t old = lx_jr_push_key(r, "content");
    bool ok = c ? decode_content(r, c, m) : lx_jr_fail(r, "missing");
    lx_jr_pop(r, old);
    return ok;
}

static bool decode_messages(lx_jr *r, const json_t *obj, llmux_request *req) {
    const json_t *v = json_object_get(obj, "messages");
    if (!v) return true;
    size_t old = lx_jr_push_key(r, "messages");
    bool ok = lx_jr_expect_array(r, v, SIZE_MAX);
    size_t n = ok ? json_array_size(v) : 0;
    llmux_message *msgs = ok ? alloc_array(r, n, sizeof *msgs) : NULL;
    ok = ok && msgs;
    for (size_t i = 0; ok && i < n; i++) {
        size_t o = lx_jr_push_index(r, i);
        ok = decode_message(r, json_array_get(v, i), &msgs[i]);
        lx_jr_pop(r, o);
    }
    lx_jr_pop(r, old);
    if (ok) {
        req->messages = msgs;
        req->n_messages = n;
    }
    return ok;
}

static bool decode_tools(lx_jr *r, const json_t *obj, llmux_request *req) {
    const json_t *v = json_object_get(obj, "tools");
    if (!v) return true;
    size_t old = lx_jr_push_key(r, "tools");
    bool ok = lx_jr_expect_array(r, v, SIZE_MAX);
    size_t n = ok ? json_array_size(v) : 0;
    llmux_tool *tools = ok ? alloc_array(r, n, sizeof *tools) : NULL;
    ok = ok && tools;
    for (size_t i = 0; ok && i < n; i++) {
        size_t o = lx_jr_push_index(r, i);
        const json_t *t = json_array_get(v, i);
        ok = lx_jr_expect_object(r, t) && lx_jr_check_keys(r, t, k_tool_keys) &&
             lx_jr_string(r, t, "name", false, &tools[i].name) &&
             lx_jr_string(r, t, "description", false, &tools[i].description) &&
             lx_jr_json_object(r, t, "parameters", &tools[i].parameters) && lx_jr_cache(r, t, &tools[i].cache);
        lx_jr_pop(r, o);
    }
    lx_jr_pop(r, old);
    if (ok) {
        req->tools = tools;
        req->n_tools = n;
    }
    return ok;
}

static bool decode_tool_choice(lx_jr *r, const json_t *obj, llmux_request *req) {
    const json_t *v = json_object_get(obj, "tool_choice");
    if (!v) return true;
    size_t old = lx_jr_push_key(r, "tool_choice");
    bool ok = false;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        ok = true;
        if (strcmp(s, "auto") == 0)
            req->tool_choice = LLMUX_TOOL_CHOICE_AUTO;
        else if (strcmp(s, "none") == 0)
            req->tool_choice = LLMUX_TOOL_CHOICE_NONE;
        else if (strcmp(s, "required") == 0)
            req->tool_choice = LLMUX_TOOL_CHOICE_REQUIRED;
        else {
            char sv[72];
            lx_jr_show(sv, sizeof sv, s);
            ok = lx_jr_fail(r, "unknown value \"%s\" (expected \"auto\", \"none\", \"required\" or "
                               "{\"type\":\"tool\",\"name\":...})", sv);
        }
    } else if (json_is_object(v)) {
        const char *type = NULL;
        ok = lx_jr_check_keys(r, v, k_choice_keys) && lx_jr_string(r, v, "type", true, &type);
        if (ok && strcmp(type, "tool") != 0) ok = fail_at(r, "type", "must be \"tool\", not", type);
        ok = ok && lx_jr_string(r, v, "name", false, &req->tool_choice_name);
        if (ok) req->tool_choice = LLMUX_TOOL_CHOICE_TOOL;
    } else {
        lx_jr_fail(r, "must be a string or an object");
    }
    lx_jr_pop(r, old);
    return ok;
}

static bool decode_format(lx_jr *r, const json_t *obj, llmux_request *req) {
    const json_t *v = json_object_get(obj, "response_format");
    if (!v) return true;
    size_t old = lx_jr_push_key(r, "response_format");
    const char *type = NULL;
    bool ok = lx_jr_expect_object(r, v) && lx_jr_check_keys(r, v, k_format_keys) &&
              lx_jr_string(r, v, "type", true, &type);
    size_t i = 0;
    if (ok) {
        while (i < 3 && strcmp(type, k_formats[i]) != 0) i++;
        if (i == 3) ok = fail_at(r, "type", "unknown format", type);
    }
    /* Read whatever the type; which fields a type allows is a rule (lx_request_rules). */
    ok = ok && lx_jr_string(r, v, "name", false, &req->schema_name) &&
         lx_jr_json_object(r, v, "schema", &req->schema) && lx_jr_bool(r, v, "strict", &req->schema_strict);
    if (ok) req->response_format = (llmux_format)i;
    lx_jr_pop(r, old);
    return ok;
}

static bool decode_stop(lx_jr *r, const json_t *obj, llmux_sampling *s) {
    const json_t *v = json_object_get(obj, "stop");
    if (!v) return true;
    size_t old = lx_jr_push_key(r, "stop");
    bool ok;
    if (json_is_string(v)) {
        const char **stop = alloc_array(r, 1, sizeof *stop);
        ok = stop && lx_jr_string_value(r, v, &stop[0]);
        if (ok) {
            s->stop = stop;
            s->n_stop = 1;
        }
    } else if (!json_is_array(v)) {
        ok = lx_jr_fail(r, "must be a string or an array of strings");
    } else {
        size_t n = json_array_size(v);
        const char **stop = alloc_array(r, n, sizeof *stop);
        ok = stop != NULL;
        for (size_t i = 0; ok && i < n; i++) {
            size_t o = lx_jr_push_index(r, i);
            ok = lx_jr_string_value(r, json_array_get(v, i), &stop[i]);
            lx_jr_pop(r, o);
        }
        if (ok) {
            s->stop = stop;
            s->n_stop = n;
        }
    }
    lx_jr_pop(r, old);
    return ok;
}

static bool any_number(double x) {
    (void)x;
    return true;
}

/* An integer of the field's C type. -1 is how C spells "unset"; in JSON it is a value like any
 * other, which the rules refuse, so it is stored as -2 (equally refused) rather than vanish. */
static bool decode_int(lx_jr *r, const json_t *obj, const char *key, int64_t min, int64_t max, const char *what,
                       int64_t *out) {
    int64_t v = *out;
    if (!lx_jr_int(r, obj, key, min, max, what, &v)) return false;
    if (json_object_get(obj, key) && v == LLMUX_UNSET_INT) v = LLMUX_UNSET_INT - 1;
    *out = v;
    return true;
}

/* The `what` texts are the rules' own, so a value of the wrong type reads like an out-of-range one. */
static bool decode_sampling(lx_jr *r, const json_t *obj, llmux_sampling *s) {
    int64_t top_k = s->top_k, max_tokens = s->max_tokens;
    bool ok = lx_jr_number(r, obj, "temperature", any_number, ">= 0", &s->temperature) &&
              lx_jr_number(r, obj, "top_p", any_number, "in (0, 1]", &s->top_p) &&
              decode_int(r, obj, "top_k", INT32_MIN, INT32_MAX, LX_REQ_INT32_POSITIVE, &top_k) &&
              lx_jr_number(r, obj, "min_p", any_number, "in [0, 1]", &s->min_p) &&
              decode_int(r, obj, "max_tokens", INT32_MIN, INT32_MAX, LX_REQ_INT32_POSITIVE, &max_tokens) &&
              decode_stop(r, obj, s) &&
              decode_int(r, obj, "seed", INT64_MIN, INT64_MAX, LX_REQ_NON_NEGATIVE, &s->seed) &&
              lx_jr_number(r, obj, "presence_penalty", any_number, "in [-2, 2]", &s->presence_penalty) &&
              lx_jr_number(r, obj, "frequency_penalty", any_number, "in [-2, 2]", &s->frequency_penalty) &&
              lx_jr_number(r, obj, "repeat_penalty", any_number, "> 0", &s->repeat_penalty);
    s->top_k = (int32_t)top_k;
    s->max_tokens = (int32_t)max_tokens;
    return ok;
}

static bool decode_metadata(lx_jr *r, const json_t *obj, llmux_request *req) {
    const json_t *v = json_object_get(obj, "metadata");
    if (!v) return true;
    size_t old = lx_jr_push_key(r, "metadata");
    bool ok = lx_jr_expect_object(r, v);
    size_t n = ok ? json_object_size(v) : 0;
    llmux_kv *kv = ok ? alloc_array(r, n, sizeof *kv) : NULL;
    ok = ok && kv;
    size_t i = 0;
    const char *k;
    json_t *x;
    if (ok) json_object_foreach((json_t *)v, k, x) {
            size_t o = lx_jr_push_key(r, k);
            kv[i].key = lx_arena_strdup(r->arena, k);
            ok = kv[i].key ? lx_jr_string_value(r, x, &kv[i].value) : lx_jr_oom(r);
            lx_jr_pop(r, o);
            if (!ok) break;
            i++;
        }
    if (ok) {
        req->metadata = kv;
        req->n_metadata = n;
    }
    lx_jr_pop(r, old);
    return ok;
}

static bool decode_reasoning(lx_jr *r, const json_t *obj, llmux_request *req) {
    const char *effort = NULL;
    int64_t budget = 0;
    if (!lx_jr_string(r, obj, "reasoning_effort", false, &effort)) return false;
    if (effort && !lx_reasoning_effort_parse(effort, &req->reasoning_effort))
        return fail_at(r, "reasoning_effort", "must be \"none\", \"low\", \"medium\" or \"high\", not", effort);
    if (!lx_jr_int(r, obj, "reasoning_budget", INT32_MIN, INT32_MAX, "in [0, 2147483647]", &budget)) return false;
    req->reasoning_budget = (int32_t)budget;
    return lx_jr_bool(r, obj, "single_tool_call", &req->single_tool_call);
}

static bool decode_request(lx_jr *r, const json_t *root, llmux_request *req) {
    if (!json_is_object(root)) return lx_jr_fail(r, "must be a JSON object");
    int64_t priority = 0;
    return lx_jr_check_keys(r, root, k_request_keys) && lx_jr_string(r, root, "model", false, &req->model) &&
           lx_jr_string(r, root, "system", false, &req->system) && decode_messages(r, root, req) &&
           decode_tools(r, root, req) && decode_tool_choice(r, root, req) && decode_format(r, root, req) &&
           decode_sampling(r, root, &req->sampling) && lx_jr_bool(r, root, "stream", &req->stream) &&
           lx_jr_int(r, root, "priority", INT32_MIN, INT32_MAX, "in [-2147483648, 2147483647]", &priority) &&
           (req->priority = (int32_t)priority, true) &&
           lx_jr_int(r, root, "deadline_ms", INT64_MIN, INT64_MAX, LX_REQ_NON_NEGATIVE, &req->deadline_ms) &&
           decode_metadata(r, root, req) && decode_reasoning(r, root, req) && lx_jr_json_object(r, root, "provider_options", &req->provider_options);
}

llmux_status llmux_request_from_json(const char *json, size_t len, llmux_request **out, llmux_error_info *err) {
    if (out) *out = NULL;
    if (!out) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_request_from_json: out is NULL");
    request_box *b = calloc(1, sizeof *b);
    if (!b) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory decoding the request");
    lx_arena_init(&b->arena);
    b->pub = llmux_request_default();
    lx_jr r;
    lx_jr_init(&r, &b->arena, err, "request");
    json_t *root = lx_jr_parse(&r, json, len);
    bool ok = root && decode_request(&r, root, &b->pub) && lx_request_rules(&r, &b->pub);
    json_decref(root);
    if (!ok) {
        llmux_request_free(&b->pub);
        return r.status != LLMUX_OK ? r.status : lx_error(err, LLMUX_E_INTERNAL, "request decoding failed");
    }
    lx_error_clear(err);
    *out = &b->pub;
    return LLMUX_OK;
}
