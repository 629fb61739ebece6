/* What a finished (or refused) execution tells the telemetry (src/telemetry/): the same inputs
 * as its record (record.h), turned into the telemetry's plain description. Runs on the thread
 * that finished the execution (the loop thread, or the caller of llmux_run). */
#include "runtime/report.h"

#include <string.h>

#include "core/request_meta.h"
#include "runtime/runtime_internal.h"
#include "telemetry/telemetry.h"

void lx_report_started(llmux_runtime *rt) { lx_telemetry_started(lx_runtime_telemetry(rt)); }

void lx_report_execution(llmux_runtime *rt, const lx_record_input *in, bool accepted, const char *model,
                         const char *provider) {
    lx_telemetry *t = lx_runtime_telemetry(rt);
    if (!t) return;
    const llmux_response *r = in->resp;
    lx_tel_attempt at[LX_MAX_ATTEMPTS];
    /* "provider/model" split for the labels; one buffer per attempt, the target's length. */
    char split[LX_MAX_ATTEMPTS][256];
    size_t n = in->n_attempts < LX_MAX_ATTEMPTS ? in->n_attempts : LX_MAX_ATTEMPTS;
    for (size_t i = 0; i < n; i++) {
        const lx_attempt_info *a = &in->attempts[i];
        memcpy(split[i], a->target, sizeof split[i]);
        split[i][sizeof split[i] - 1] = 0;
        const char *prov = "local", *mod = a->target;
        char *slash = strchr(split[i], '/');
        if (lx_runtime_is_remote(rt, a->target) && slash) {
            *slash = 0;
            prov = split[i];
            mod = slash + 1;
        }
        at[i] = (lx_tel_attempt){.target = a->target, .provider = prov, .model = mod,
                                 .started_at_ms = a->started_at_ms, .duration_ms = a->duration_ms,
                                 .ttft_ms = a->ttft_ms, .status = a->status, .http_status = a->http_status,
                                 .error = a->error};
    }
    lx_tel_execution x = {
        .accepted = accepted,
        .execution_id = in->id,
        .request_id = lx_request_meta(in->req, "request_id"),
        .key_name = lx_request_meta(in->req, "key_name"),
        .requested_model = in->requested_model,
        .model = r && r->model && *r->model ? r->model : model,
        .provider = r && r->provider && *r->provider ? r->provider : provider,
        .operation = "chat",
        .stream = in->req && in->req->stream,
        .status = in->status,
        .error = in->status != LLMUX_OK && in->err ? in->err->message : NULL,
        .started_at_ms = in->started_at_ms,
        .latency_ms = r ? r->timing.total_ms : -1,
        .ttft_ms = r ? r->timing.ttft_ms : -1,
        .queued_ms = -1,
        .input_tokens = r ? r->usage.input_tokens : -1,
        .output_tokens = r ? r->usage.output_tokens : -1,
        .cost_known = r && r->cost.known,
        .cost_usd = r ? r->cost.total : 0,
        .attempts = at,
        .n_attempts = n,
    };
    /* Only a local model waits in a queue; a remote execution's queued_ms is ~0 and not a wait. */
    if (r && x.provider && strcmp(x.provider, "local") == 0) x.queued_ms = r->timing.queued_ms;
    lx_telemetry_execution(t, &x);
}
