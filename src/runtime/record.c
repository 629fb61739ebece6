/* One execution record (src/store/) from what an execution leaves behind: the request, the plan
 * and attempts of its driver, the response. Built on the consumer's thread once the response
 * exists, then handed to the runtime's writer thread. */
#define _DEFAULT_SOURCE
#include "runtime/record.h"

#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "core/clock.h"
#include "core/json.h"
#include "runtime/runtime_internal.h"
#include "core/request_meta.h"

static char *dup_or_null(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

/* Where the response's cost came from. */
static const char *cost_source(llmux_runtime *rt, const lx_record_input *in) {
    const llmux_response *r = in->resp;
    if (!r || !r->cost.known) return "unknown";
    if (in->provider_cost) return "provider";
    if (!in->priced_spec) return "local"; /* local inference, or nothing answered: free */
    switch (lx_runtime_price_origin(rt, in->priced_spec, r)) {
    case LX_PRICE_ORIGIN_CONFIGURED: return "config";
    case LX_PRICE_ORIGIN_STATIC:
    case LX_PRICE_ORIGIN_DISCOVERED: return "catalog";
    default: return "unknown";
    }
}

/* [{"code":...,"message":...}, ...], null for a missing one: jansson's compact encoding of that
 * array, written directly (a jansson tree per record was ~2% of a proxied request's CPU). */
static char *warnings_json(const llmux_response *r) {
    if (!r || r->n_warnings == 0) return NULL;
    lx_jw w;
    lx_jw_init(&w);
    lx_jw_arr_begin(&w);
    for (size_t i = 0; i < r->n_warnings; i++) {
        lx_jw_obj_begin(&w);
        lx_jw_key(&w, "code");
        if (r->warnings[i].code) lx_jw_str(&w, r->warnings[i].code);
        else lx_jw_null(&w);
        lx_jw_key(&w, "message");
        if (r->warnings[i].message) lx_jw_str(&w, r->warnings[i].message);
        else lx_jw_null(&w);
        lx_jw_obj_end(&w);
    }
    lx_jw_arr_end(&w);
    return lx_jw_finish(&w);
}

lx_exec_record *lx_record_build(llmux_runtime *rt, const lx_record_input *in) {
    lx_exec_record *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    const llmux_response *resp = in->resp;
    bool ok = (r->id = dup_or_null(in->id)) != NULL;
    r->replay_of = dup_or_null(in->replay_of);
    /* A server tags its requests (docs/server.md): the client's X-Request-Id and the name of the
     * API key; they get columns of their own so budgets can be summed per key without bodies. */
    const char *rid = lx_request_meta(in->req, "request_id"), *caller = lx_request_meta(in->req, "key_name");
    if (rid) ok = ok && (r->request_id = dup_or_null(rid)) != NULL;
    if (caller) ok = ok && (r->caller = dup_or_null(caller)) != NULL;
    r->started_at_ms = in->started_at_ms;
    r->ended_at_ms = lx_wall_ms();
    r->requested_model = dup_or_null(in->requested_model ? in->requested_model : "");
    ok = ok && r->requested_model;
    if (in->plan) ok = ok && (r->plan_json = lx_plan_to_json(in->plan)) != NULL;
    r->model = dup_or_null(resp && resp->model && *resp->model ? resp->model : NULL);
    r->provider = dup_or_null(resp && resp->provider && *resp->provider ? resp->provider : NULL);
    r->status = in->status;
    if (in->status != LLMUX_OK && in->err) r->error_message = dup_or_null(in->err->message);
    r->finish_reason = resp ? resp->finish_reason : LLMUX_FINISH_ERROR;
    r->usage = resp ? resp->usage : llmux_usage_default();
    if (resp) r->cost = resp->cost;
    ok = ok && (r->cost_source = dup_or_null(cost_source(rt, in))) != NULL;
    r->warnings_json = warnings_json(resp);
    if (in->bodies) {
        if (in->req) r->request_json = llmux_request_to_json(in->req);
        if (resp) r->response_text = dup_or_null(llmux_response_text(resp));
    }
    if (in->n_attempts) {
        r->attempts = calloc(in->n_attempts, sizeof *r->attempts);
        ok = ok && r->attempts;
        for (size_t i = 0; ok && i < in->n_attempts; i++) {
            const lx_attempt_info *a = &in->attempts[i];
            lx_attempt_record *o = &r->attempts[i];
            r->n_attempts++;
            o->n = (int32_t)i;
            ok = (o->target = dup_or_null(a->target)) != NULL;
            o->started_at_ms = a->started_at_ms;
            o->http_status = a->http_status;
            o->status = a->status;
            if (a->status != LLMUX_OK) o->error_message = dup_or_null(a->error[0] ? a->error : llmux_strerror(a->status));
            o->retry_delay_ms = a->retry_delay_ms;
            o->ttft_ms = a->ttft_ms;
            o->duration_ms = a->duration_ms;
        }
    }
    if (!ok) {
        lx_exec_record_free(r);
        return NULL;
    }
    return r;
}
