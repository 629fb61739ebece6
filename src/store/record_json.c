#define _XOPEN_SOURCE 700
/* A record as JSON (docs/records.md) and back. The writer is core's lx_jw (shortest round-trip
 * doubles, invalid UTF-8 replaced); the reader is jansson with a check of every field's type so an
 * error names the field. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "store.h"

/* A stored JSON text written as the JSON value it holds, so a consumer reads the plan as an
 * object and not as an escaped string; text that is not JSON (it should not happen) is written as
 * a string rather than producing broken output. */
static void embed(lx_jw *w, const char *key, const char *text) {
    lx_jw_key(w, key);
    if (!text) {
        lx_jw_null(w);
        return;
    }
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (v) {
        lx_jw_json(w, v);
        json_decref(v);
    } else {
        lx_jw_str(w, text);
    }
}

static void kstr_or_null(lx_jw *w, const char *key, const char *s) {
    lx_jw_key(w, key);
    if (s) lx_jw_str(w, s);
    else lx_jw_null(w);
}

static void attempt_json(lx_jw *w, const lx_attempt_record *a) {
    lx_jw_obj_begin(w);
    lx_jw_kint(w, "n", a->n);
    lx_jw_kstr(w, "target", a->target);
    lx_jw_kint(w, "started_at_ms", a->started_at_ms);
    lx_jw_kint(w, "http_status", a->http_status);
    lx_jw_kstr(w, "status", llmux_status_name(a->status));
    kstr_or_null(w, "error_message", a->error_message);
    lx_jw_kint(w, "retry_delay_ms", a->retry_delay_ms);
    lx_jw_kreal(w, "ttft_ms", a->ttft_ms);
    lx_jw_kreal(w, "duration_ms", a->duration_ms);
    lx_jw_obj_end(w);
}

char *lx_exec_record_to_json(const lx_exec_record *r, bool with_attempts) {
    if (!r) return NULL;
    lx_jw w;
    lx_jw_init(&w);
    lx_jw_obj_begin(&w);
    kstr_or_null(&w, "id", r->id);
    kstr_or_null(&w, "replay_of", r->replay_of);
    kstr_or_null(&w, "request_id", r->request_id);
    kstr_or_null(&w, "caller", r->caller);
    lx_jw_kint(&w, "started_at_ms", r->started_at_ms);
    lx_jw_kint(&w, "ended_at_ms", r->ended_at_ms);
    kstr_or_null(&w, "requested_model", r->requested_model);
    embed(&w, "plan", r->plan_json);
    kstr_or_null(&w, "model", r->model);
    kstr_or_null(&w, "provider", r->provider);
    lx_jw_kstr(&w, "status", llmux_status_name(r->status));
    kstr_or_null(&w, "error_message", r->error_message);
    lx_jw_kstr(&w, "finish_reason", llmux_finish_reason_name(r->finish_reason));
    lx_jw_key(&w, "usage");
    lx_jw_usage(&w, &r->usage);
    lx_jw_key(&w, "cost");
    lx_jw_obj_begin(&w);
    lx_jw_kbool(&w, "known", r->cost.known);
    lx_jw_kreal(&w, "input", r->cost.input); /* NaN → null */
    lx_jw_kreal(&w, "output", r->cost.output);
    lx_jw_kreal(&w, "cache_read", r->cost.cache_read);
    lx_jw_kreal(&w, "cache_write", r->cost.cache_write);
    lx_jw_kreal(&w, "total", r->cost.total);
    if (r->cost.tools > 0) lx_jw_kreal(&w, "tools", r->cost.tools); /* server tools' fees, when any */
    lx_jw_obj_end(&w);
    kstr_or_null(&w, "cost_source", r->cost_source);
    embed(&w, "warnings", r->warnings_json);
    embed(&w, "request", r->request_json);
    kstr_or_null(&w, "response_text", r->response_text);
    if (with_attempts) {
        lx_jw_key(&w, "attempts");
        lx_jw_arr_begin(&w);
        for (size_t i = 0; i < r->n_attempts; i++) attempt_json(&w, &r->attempts[i]);
        lx_jw_arr_end(&w);
    }
    lx_jw_obj_end(&w);
    return lx_jw_finish(&w);
}

/* ----------------------------------------------------------------- reader */

typedef struct rd {
    llmux_error_info *err;
    llmux_status st;
    char path[96];
} rd;

static bool rfail(rd *r, const char *key, const char *what) {
    if (r->st == LLMUX_OK) r->st = lx_error(r->err, LLMUX_E_INVALID_REQUEST, "%s.%s: %s", r->path, key, what);
    return false;
}

static bool rstr(rd *r, const json_t *o, const char *key, char **out) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_string(v)) return rfail(r, key, "must be a string or null");
    if (json_string_length(v) > LX_RECORD_TEXT_MAX) return rfail(r, key, "too long");
    *out = strdup(json_string_value(v));
    if (!*out) return rfail(r, key, "out of memory");
    return true;
}

/* A JSON value kept as its compact text; a string value is the text itself (what the writer does
 * with text that is not JSON). */
static bool rjson(rd *r, const json_t *o, const char *key, char **out) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return true;
    if (json_is_string(v)) return rstr(r, o, key, out);
    *out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!*out) return rfail(r, key, "out of memory");
    return true;
}

static bool rdint(rd *r, const json_t *o, const char *key, int64_t min, int64_t max, int64_t *out) {
    const json_t *v = json_object_get(o, key);
    if (!v) return true;
    if (!json_is_integer(v)) return rfail(r, key, "must be an integer");
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) return rfail(r, key, "out of range");
    *out = i;
    return true;
}

static bool rreal(rd *r, const json_t *o, const char *key, double *out) {
    const json_t *v = json_object_get(o, key);
    if (!v) return true;
    if (json_is_null(v)) *out = NAN;
    else if (json_is_number(v)) *out = json_number_value(v);
    else return rfail(r, key, "must be a number or null");
    return true;
}

static bool rstatus(rd *r, const json_t *o, const char *key, llmux_status *out) {
    const json_t *v = json_object_get(o, key);
    if (!v) return rfail(r, key, "missing");
    if (!json_is_string(v) || !llmux_status_from_name(json_string_value(v), out))
        return rfail(r, key, "unknown status");
    return true;
}

static bool rusage(rd *r, const json_t *o, llmux_usage *u) {
    const json_t *v = json_object_get(o, "usage");
    *u = llmux_usage_default();
    if (!v || json_is_null(v)) return true;
    if (!json_is_object(v)) return rfail(r, "usage", "must be an object");
    size_t n = strlen(r->path);
    strncat(r->path, ".usage", sizeof r->path - n - 1);
    bool ok = rdint(r, v, "input_tokens", -1, INT64_MAX, &u->input_tokens) &&
              rdint(r, v, "output_tokens", -1, INT64_MAX, &u->output_tokens) &&
              rdint(r, v, "cached_input_tokens", -1, INT64_MAX, &u->cached_input_tokens) &&
              rdint(r, v, "cache_write_tokens", -1, INT64_MAX, &u->cache_write_tokens) &&
              rdint(r, v, "reasoning_tokens", -1, INT64_MAX, &u->reasoning_tokens) &&
              rdint(r, v, "total_tokens", -1, INT64_MAX, &u->total_tokens) &&
              rdint(r, v, "cache_write_1h_tokens", -1, INT64_MAX, &u->cache_write_1h_tokens) &&
              rdint(r, v, "web_search_requests", -1, INT64_MAX, &u->web_search_requests);
    r->path[n] = '\0';
    return ok;
}

static bool rcost(rd *r, const json_t *o, llmux_cost *c) {
    c->known = false;
    c->input = c->output = c->cache_read = c->cache_write = c->total = NAN;
    c->tools = 0;
    const json_t *v = json_object_get(o, "cost");
    if (!v || json_is_null(v)) return true;
    if (!json_is_object(v)) return rfail(r, "cost", "must be an object");
    const json_t *k = json_object_get(v, "known");
    if (k && !json_is_boolean(k)) return rfail(r, "cost.known", "must be a boolean");
    c->known = k && json_is_true(k);
    size_t n = strlen(r->path);
    strncat(r->path, ".cost", sizeof r->path - n - 1);
    bool ok = rreal(r, v, "input", &c->input) && rreal(r, v, "output", &c->output) &&
              rreal(r, v, "cache_read", &c->cache_read) && rreal(r, v, "cache_write", &c->cache_write) &&
              rreal(r, v, "total", &c->total);
    if (ok && json_object_get(v, "tools")) {
        ok = rreal(r, v, "tools", &c->tools);
        if (ok && !(c->tools >= 0)) ok = rfail(r, "tools", "must be a number >= 0");
    }
    r->path[n] = '\0';
    return ok;
}

static bool rattempts(rd *r, const json_t *o, lx_exec_record *rec) {
    const json_t *v = json_object_get(o, "attempts");
    if (!v || json_is_null(v)) return true;
    if (!json_is_array(v)) return rfail(r, "attempts", "must be an array");
    size_t n = json_array_size(v);
    if (n > LX_RECORD_ATTEMPTS_MAX) return rfail(r, "attempts", "too many");
    if (n == 0) return true;
    rec->attempts = calloc(n, sizeof *rec->attempts);
    if (!rec->attempts) return rfail(r, "attempts", "out of memory");
    rec->n_attempts = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(v, i);
        lx_attempt_record *at = &rec->attempts[i];
        at->retry_delay_ms = -1;
        at->ttft_ms = -1;
        char saved[sizeof r->path];
        memcpy(saved, r->path, sizeof saved);
        size_t len = strlen(r->path);
        snprintf(r->path + len, sizeof r->path - len, ".attempts[%zu]", i);
        if (!json_is_object(a)) return rfail(r, "", "must be an object");
        int64_t num = (int64_t)i, http = 0, delay = -1;
        bool ok = rdint(r, a, "n", 0, INT32_MAX, &num) && rstr(r, a, "target", &at->target) &&
                  rdint(r, a, "started_at_ms", INT64_MIN, INT64_MAX, &at->started_at_ms) &&
                  rdint(r, a, "http_status", 0, 999, &http) && rstatus(r, a, "status", &at->status) &&
                  rstr(r, a, "error_message", &at->error_message) &&
                  rdint(r, a, "retry_delay_ms", -1, INT64_MAX, &delay) && rreal(r, a, "ttft_ms", &at->ttft_ms) &&
                  rreal(r, a, "duration_ms", &at->duration_ms);
        if (!ok) return false;
        if (isnan(at->ttft_ms)) at->ttft_ms = -1;
        at->n = (int32_t)num;
        at->http_status = (int32_t)http;
        at->retry_delay_ms = delay;
        memcpy(r->path, saved, sizeof saved);
    }
    return true;
}

llmux_status lx_exec_record_from_json(const char *json, size_t len, lx_exec_record **out, llmux_error_info *err) {
    *out = NULL;
    if (!json) return lx_error(err, LLMUX_E_INVALID_REQUEST, "record: NULL");
    if (len > LX_RECORD_JSON_MAX)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "record: larger than %u bytes", LX_RECORD_JSON_MAX);
    json_error_t je;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) return lx_error(err, LLMUX_E_INVALID_REQUEST, "record: line %d column %d: %s", je.line, je.column, je.text);
    if (!json_is_object(o)) {
        json_decref(o);
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "record: must be an object");
    }
    lx_exec_record *rec = calloc(1, sizeof *rec);
    if (!rec) {
        json_decref(o);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory");
    }
    rd r = {err, LLMUX_OK, "record"};
    const json_t *fr = json_object_get(o, "finish_reason");
    bool ok = rstr(&r, o, "id", &rec->id) && rstr(&r, o, "replay_of", &rec->replay_of) &&
              rstr(&r, o, "request_id", &rec->request_id) && rstr(&r, o, "caller", &rec->caller) &&
              rdint(&r, o, "started_at_ms", INT64_MIN, INT64_MAX, &rec->started_at_ms) &&
              rdint(&r, o, "ended_at_ms", INT64_MIN, INT64_MAX, &rec->ended_at_ms) &&
              rstr(&r, o, "requested_model", &rec->requested_model) && rjson(&r, o, "plan", &rec->plan_json) &&
              rstr(&r, o, "model", &rec->model) && rstr(&r, o, "provider", &rec->provider) &&
              rstatus(&r, o, "status", &rec->status) && rstr(&r, o, "error_message", &rec->error_message) &&
              rusage(&r, o, &rec->usage) && rcost(&r, o, &rec->cost) && rstr(&r, o, "cost_source", &rec->cost_source) &&
              rjson(&r, o, "warnings", &rec->warnings_json) && rjson(&r, o, "request", &rec->request_json) &&
              rstr(&r, o, "response_text", &rec->response_text) && rattempts(&r, o, rec);
    if (ok && fr && (!json_is_string(fr) || !llmux_finish_reason_from_name(json_string_value(fr), &rec->finish_reason)))
        ok = rfail(&r, "finish_reason", "unknown finish reason");
    json_decref(o);
    if (ok && !rec->id) ok = rfail(&r, "id", "missing");
    if (!ok) {
        lx_exec_record_free(rec);
        return r.st;
    }
    *out = rec;
    return LLMUX_OK;
}
