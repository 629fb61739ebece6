/* Canonical JSON for llmux_response (encode, strict decode) and llmux_event (encode only: the
 * CLI's `--events` JSON Lines). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "request_check.h"
#include "response.h"

#define MAX_RESPONSE_PARTS 100000
#define MAX_WARNINGS 1000

/* ----------------------------------------------------------------- encode */

static void write_timing(lx_jw *w, const llmux_timing *t) {
    /* -1 (or NaN) means not measured; `>= 0` is false for both. */
    if (!(t->queued_ms >= 0) && !(t->ttft_ms >= 0) && !(t->total_ms >= 0)) return;
    lx_jw_key(w, "timing");
    lx_jw_obj_begin(w);
    if (t->queued_ms >= 0) lx_jw_kreal(w, "queued_ms", t->queued_ms);
    if (t->ttft_ms >= 0) lx_jw_kreal(w, "ttft_ms", t->ttft_ms);
    if (t->total_ms >= 0) lx_jw_kreal(w, "total_ms", t->total_ms);
    lx_jw_obj_end(w);
}

static void write_cost(lx_jw *w, const llmux_cost *c) {
    if (!c->known) return;
    lx_jw_key(w, "cost");
    lx_jw_obj_begin(w);
    /* A component is NaN when only the provider's total is known: left out, never invented. */
    if (isfinite(c->input)) lx_jw_kreal(w, "input", c->input);
    if (isfinite(c->output)) lx_jw_kreal(w, "output", c->output);
    if (isfinite(c->cache_read)) lx_jw_kreal(w, "cache_read", c->cache_read);
    if (isfinite(c->cache_write)) lx_jw_kreal(w, "cache_write", c->cache_write);
    if (isfinite(c->tools) && c->tools > 0) lx_jw_kreal(w, "tools", c->tools);
    lx_jw_kreal(w, "total", c->total);
    lx_jw_obj_end(w);
}

char *llmux_response_to_json(const llmux_response *resp) {
    if (!resp) return NULL;
    lx_jw w;
    lx_jw_init(&w);
    lx_jw_obj_begin(&w);
    if (resp->id) lx_jw_kstr(&w, "id", resp->id);
    if (resp->model) lx_jw_kstr(&w, "model", resp->model);
    if (resp->provider) lx_jw_kstr(&w, "provider", resp->provider);
    if (resp->execution_id) lx_jw_kstr(&w, "execution_id", resp->execution_id);
    lx_jw_key(&w, "content");
    lx_jw_arr_begin(&w);
    for (size_t i = 0; resp->parts && i < resp->n_parts; i++) lx_jw_part(&w, &resp->parts[i]);
    lx_jw_arr_end(&w);
    lx_jw_kstr(&w, "finish_reason", llmux_finish_reason_name(resp->finish_reason));
    if (resp->stop_sequence) lx_jw_kstr(&w, "stop_sequence", resp->stop_sequence);
    lx_jw_key(&w, "usage");
    lx_jw_usage(&w, &resp->usage);
    write_cost(&w, &resp->cost);
    write_timing(&w, &resp->timing);
    if (resp->warnings && resp->n_warnings) {
        lx_jw_key(&w, "warnings");
        lx_jw_arr_begin(&w);
        for (size_t i = 0; i < resp->n_warnings; i++) {
            lx_jw_obj_begin(&w);
            lx_jw_kstr(&w, "code", resp->warnings[i].code);
            lx_jw_kstr(&w, "message", resp->warnings[i].message);
            lx_jw_obj_end(&w);
        }
        lx_jw_arr_end(&w);
    }
    if (resp->error.status != LLMUX_OK) {
        lx_jw_key(&w, "error");
        lx_jw_error(&w, &resp->error);
    }
    lx_jw_obj_end(&w);
    return lx_jw_finish(&w);
}

char *llmux_event_to_json(const llmux_event *ev) {
    if (!ev) return NULL;
    lx_jw w;
    lx_jw_init(&w);
    lx_jw_obj_begin(&w);
    lx_jw_kstr(&w, "type", llmux_event_type_name(ev->type));
    switch (ev->type) {
    case LLMUX_EVENT_START:
        if (ev->id) lx_jw_kstr(&w, "id", ev->id);
        if (ev->name) lx_jw_kstr(&w, "name", ev->name);
        if (ev->provider) lx_jw_kstr(&w, "provider", ev->provider);
        break;
    case LLMUX_EVENT_TEXT_DELTA:
    case LLMUX_EVENT_TOOL_CALL_DELTA:
        lx_jw_kint(&w, "index", ev->index);
        lx_jw_key(&w, "text");
        lx_jw_strn(&w, ev->text, ev->text ? ev->text_len : 0);
        break;
    case LLMUX_EVENT_REASONING_DELTA:
        lx_jw_kint(&w, "index", ev->index);
        if (ev->text) {
            lx_jw_key(&w, "text");
            lx_jw_strn(&w, ev->text, ev->text_len);
        }
        if (ev->signature) lx_jw_kstr(&w, "signature", ev->signature);
        if (ev->redacted) lx_jw_kbool(&w, "redacted", true);
        break;
    case LLMUX_EVENT_TOOL_CALL_START:
        lx_jw_kint(&w, "index", ev->index);
        lx_jw_kstr(&w, "id", ev->id);
        lx_jw_kstr(&w, "name", ev->name);
        break;
    case LLMUX_EVENT_TOOL_CALL_END: lx_jw_kint(&w, "index", ev->index); break;
    case LLMUX_EVENT_NATIVE:
        /* The block as a JSON text in a string (an event's fields are borrowed views: a decoder
         * hands this string back as is). */
        lx_jw_kint(&w, "index", ev->index);
        lx_jw_kstr(&w, "format", ev->name ? ev->name : "");
        lx_jw_key(&w, "block");
        lx_jw_strn(&w, ev->text, ev->text ? ev->text_len : 0);
        break;
    case LLMUX_EVENT_USAGE:
        lx_jw_key(&w, "usage");
        lx_jw_usage(&w, &ev->usage);
        if (ev->cost_known) lx_jw_kreal(&w, "cost_usd", ev->cost_usd);
        break;
    case LLMUX_EVENT_FINISH:
        lx_jw_kstr(&w, "finish_reason", llmux_finish_reason_name(ev->finish_reason));
        if (ev->text && ev->text_len) {
            lx_jw_key(&w, "stop_sequence");
            lx_jw_strn(&w, ev->text, ev->text_len);
        }
        break;
    case LLMUX_EVENT_ERROR: {
        llmux_error_info none;
        if (!ev->error) lx_error(&none, LLMUX_E_INTERNAL, "error event without details");
        lx_jw_key(&w, "error");
        lx_jw_error(&w, ev->error ? ev->error : &none);
        break;
    }
    }
    lx_jw_obj_end(&w);
    return lx_jw_finish(&w);
}

/* ----------------------------------------------------------------- decode */

static const char *const k_response_keys[] = {"id",     "model",  "provider", "content", "finish_reason",
                                              "usage",  "cost",   "timing",   "warnings", "error",
                                              "execution_id", "stop_sequence", NULL};
static const char *const k_cost_keys[] = {"input", "output", "cache_read", "cache_write", "total", "tools", NULL};
static const char *const k_timing_keys[] = {"queued_ms", "ttft_ms", "total_ms", NULL};
static const char *const k_warning_keys[] = {"code", "message", NULL};

static bool ge0(double x) { return x >= 0; }

static bool decode_content(lx_jr *r, const json_t *obj, llmux_response *resp) {
    const json_t *v = json_object_get(obj, "content");
    if (!v) return true;
    size_t old = lx_jr_push_key(r, "content");
    bool ok = lx_jr_expect_array(r, v, MAX_RESPONSE_PARTS);
    for (size_t i = 0; ok && i < json_array_size(v); i++) {
        size_t o = lx_jr_push_index(r, i);
        llmux_part part;
        ok = lx_jr_part(r, json_array_get(v, i), &part) && lx_part_rules(r, &part);
        if (ok) {
            llmux_part *p = lx_response_push_part(resp, part.type);
            if (p)
                *p = part;
            else
                ok = lx_jr_oom(r);
        }
        lx_jr_pop(r, o);
    }
    lx_jr_pop(r, old);
    return ok;
}

static bool decode_finish(lx_jr *r, const json_t *obj, llmux_response *resp) {
    const char *s = NULL;
    if (!lx_jr_string(r, obj, "finish_reason", false, &s)) return false;
    if (!s) return true;
    if (llmux_finish_reason_from_name(s, &resp->finish_reason)) return true;
    size_t old = lx_jr_push_key(r, "finish_reason");
    char shown[72];
    lx_jr_show(shown, sizeof shown, s);
    lx_jr_fail(r, "unknown finish reason \"%s\"", shown);
    lx_jr_pop(r, old);
    return false;
}

static bool decode_cost(lx_jr *r, const json_t *obj, llmux_cost *c) {
    const json_t *v = json_object_get(obj, "cost");
    if (!v) return true;
    size_t old = lx_jr_push_key(r, "cost");
    bool ok = lx_jr_expect_object(r, v) && lx_jr_check_keys(r, v, k_cost_keys);
    double *dst[] = {&c->input, &c->output, &c->cache_read, &c->cache_write, &c->total};
    for (size_t i = 0; ok && i < 5; i++) {
        if (json_object_get(v, k_cost_keys[i])) {
            ok = lx_jr_number(r, v, k_cost_keys[i], ge0, ">= 0", dst[i]);
        } else if (dst[i] != &c->total) {
            *dst[i] = NAN; /* a component left out: only the total is known */
        } else {
            size_t o = lx_jr_push_key(r, k_cost_keys[i]);
            ok = lx_jr_fail(r, "missing");
            lx_jr_pop(r, o);
        }
    }
    /* Server tools' fees: written only when some ran. */
    if (ok && json_object_get(v, "tools")) ok = lx_jr_number(r, v, "tools", ge0, ">= 0", &c->tools);
    c->known = ok;
    lx_jr_pop(r, old);
    return ok;
}

static bool decode_timing(lx_jr *r, const json_t *obj, llmux_timing *t) {
    const json_t *v = json_object_get(obj, "timing");
    if (!v) return true;
    size_t old = lx_jr_push_key(r, "timing");
    bool ok = lx_jr_expect_object(r, v) && lx_jr_check_keys(r, v, k_timing_keys) &&
              lx_jr_number(r, v, "queued_ms", ge0, ">= 0", &t->queued_ms) &&
              lx_jr_number(r, v, "ttft_ms", ge0, ">= 0", &t->ttft_ms) &&
              lx_jr_number(r, v, "total_ms", ge0, ">= 0", &t->total_ms);
    lx_jr_pop(r, old);
    return ok;
}

static bool decode_warnings(lx_jr *r, const json_t *obj, llmux_response *resp) {
    const json_t *v = json_object_get(obj, "warnings");
    if (!v) return true;
    size_t old = lx_jr_push_key(r, "warnings");
    bool ok = lx_jr_expect_array(r, v, MAX_WARNINGS);
    for (size_t i = 0; ok && i < json_array_size(v); i++) {
        size_t o = lx_jr_push_index(r, i);
        const json_t *x = json_array_get(v, i);
        const char *code = NULL, *msg = NULL;
        ok = lx_jr_expect_object(r, x) && lx_jr_check_keys(r, x, k_warning_keys) &&
             lx_jr_string(r, x, "code", true, &code) && lx_jr_string(r, x, "message", true, &msg);
        if (ok && !lx_response_add_warning(resp, code, msg)) ok = lx_jr_oom(r);
        lx_jr_pop(r, o);
    }
    lx_jr_pop(r, old);
    return ok;
}

static bool decode_response(lx_jr *r, const json_t *root, llmux_response *resp) {
    if (!json_is_object(root)) return lx_jr_fail(r, "must be a JSON object");
    return lx_jr_check_keys(r, root, k_response_keys) && lx_jr_string(r, root, "id", false, &resp->id) &&
           lx_jr_string(r, root, "model", false, &resp->model) &&
           lx_jr_string(r, root, "provider", false, &resp->provider) &&
           lx_jr_string(r, root, "execution_id", false, &resp->execution_id) && decode_content(r, root, resp) &&
           decode_finish(r, root, resp) && lx_jr_string(r, root, "stop_sequence", false, &resp->stop_sequence) &&
           lx_jr_usage(r, root, "usage", &resp->usage) &&
           decode_cost(r, root, &resp->cost) && decode_timing(r, root, &resp->timing) &&
           decode_warnings(r, root, resp) && lx_jr_error(r, root, "error", &resp->error);
}

llmux_status llmux_response_from_json(const char *json, size_t len, llmux_response **out, llmux_error_info *err) {
    if (out) *out = NULL;
    if (!out) return lx_error(err, LLMUX_E_INVALID_REQUEST, "llmux_response_from_json: out is NULL");
    llmux_response *resp = lx_response_new();
    if (!resp) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory decoding the response");
    lx_jr r;
    lx_jr_init(&r, lx_response_arena(resp), err, "response");
    json_t *root = lx_jr_parse(&r, json, len);
    bool ok = root && decode_response(&r, root, resp);
    json_decref(root);
    if (!ok) {
        llmux_response_free(resp);
        return r.status != LLMUX_OK ? r.status : lx_error(err, LLMUX_E_INTERNAL, "response decoding failed");
    }
    lx_error_clear(err);
    *out = resp;
    return LLMUX_OK;
}
