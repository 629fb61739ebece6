/* An execution record as a heap object: freeing and checking it against the caps. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store.h"

void lx_exec_record_free(lx_exec_record *r) {
    if (!r) return;
    char **fields[] = {&r->id,           &r->replay_of,    &r->request_id,    &r->caller,
                       &r->requested_model, &r->plan_json, &r->model,         &r->provider,
                       &r->error_message, &r->cost_source, &r->warnings_json, &r->request_json,
                       &r->response_text};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) free(*fields[i]);
    for (size_t i = 0; i < r->n_attempts && r->attempts; i++) {
        free(r->attempts[i].target);
        free(r->attempts[i].error_message);
    }
    free(r->attempts);
    free(r);
}

void lx_exec_record_list_free(lx_exec_record **recs, size_t n) {
    if (!recs) return;
    for (size_t i = 0; i < n; i++) lx_exec_record_free(recs[i]);
    free(recs);
}

bool lx_record_id_valid(const char *id) {
    if (!id) return false;
    size_t n = strlen(id);
    if (n == 0 || n > LX_RECORD_ID_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == ':' || c == '-';
        if (!ok) return false;
    }
    return true;
}

static bool text_ok(const char *s, const char *name, llmux_error_info *err, llmux_status *st) {
    if (s && strlen(s) > LX_RECORD_TEXT_MAX) {
        *st = lx_error(err, LLMUX_E_INVALID_REQUEST, "record.%s: longer than %u bytes", name, LX_RECORD_TEXT_MAX);
        return false;
    }
    return true;
}

llmux_status lx_exec_record_validate(const lx_exec_record *r, llmux_error_info *err) {
    llmux_status st = LLMUX_OK;
    if (!r) return lx_error(err, LLMUX_E_INVALID_REQUEST, "record: NULL");
    if (!lx_record_id_valid(r->id))
        return lx_error(err, LLMUX_E_INVALID_REQUEST,
                        "record.id: must be 1..%d characters of A-Z a-z 0-9 . _ : -", LX_RECORD_ID_MAX);
    if (r->replay_of && !lx_record_id_valid(r->replay_of))
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "record.replay_of: not a valid execution id");
    if ((unsigned)r->status >= LLMUX_STATUS_COUNT)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "record.status: unknown status %d", (int)r->status);
    if ((unsigned)r->finish_reason > LLMUX_FINISH_PAUSED)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "record.finish_reason: unknown value %d", (int)r->finish_reason);
    const struct {
        const char *s, *name;
    } texts[] = {{r->request_id, "request_id"},       {r->caller, "caller"},
                 {r->requested_model, "requested_model"}, {r->plan_json, "plan"},
                 {r->model, "model"},                 {r->provider, "provider"},
                 {r->error_message, "error_message"}, {r->cost_source, "cost_source"},
                 {r->warnings_json, "warnings"},      {r->request_json, "request"},
                 {r->response_text, "response_text"}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (!text_ok(texts[i].s, texts[i].name, err, &st)) return st;
    if (r->n_attempts > LX_RECORD_ATTEMPTS_MAX)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "record.attempts: more than %d", LX_RECORD_ATTEMPTS_MAX);
    if (r->n_attempts && !r->attempts) return lx_error(err, LLMUX_E_INVALID_REQUEST, "record.attempts: NULL array");
    for (size_t i = 0; i < r->n_attempts; i++) {
        const lx_attempt_record *a = &r->attempts[i];
        if (!a->target || !*a->target)
            return lx_error(err, LLMUX_E_INVALID_REQUEST, "record.attempts[%zu].target: missing", i);
        if ((unsigned)a->status >= LLMUX_STATUS_COUNT)
            return lx_error(err, LLMUX_E_INVALID_REQUEST, "record.attempts[%zu].status: unknown status %d", i,
                            (int)a->status);
        for (size_t j = 0; j < i; j++)
            if (r->attempts[j].n == a->n)
                return lx_error(err, LLMUX_E_INVALID_REQUEST, "record.attempts[%zu].n: %d repeats attempts[%zu]", i,
                                (int)a->n, j);
        if (!text_ok(a->target, "attempts.target", err, &st) || !text_ok(a->error_message, "attempts.error_message", err, &st))
            return st;
    }
    return LLMUX_OK;
}
