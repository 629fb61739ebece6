/* Event log for tests: see event_log.h. */
#include "support/event_log.h"

#include <string.h>

#include "core/clock.h"


static void esc(lx_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"' || c == '\\') lx_buf_printf(b, "\\%c", c);
        else if (c == '\n') lx_buf_append_str(b, "\\n");
        else lx_buf_append(b, &c, 1);
    }
}

static void str(lx_buf *b, const char *s) {
    if (!s) {
        lx_buf_append_str(b, " -");
        return;
    }
    lx_buf_append_str(b, " \"");
    esc(b, s, strlen(s));
    lx_buf_append_str(b, "\"");
}

bool log_emit(void *ud, const llmux_event *ev) {
    log_t *l = ud;
    lx_buf *b = &l->out;
    if (l->n_terminal) l->after_terminal = true;
    l->n_events++;
    lx_buf_append_str(b, llmux_event_type_name(ev->type));
    switch (ev->type) {
    case LLMUX_EVENT_START:
        str(b, ev->id);
        str(b, ev->name);
        str(b, ev->provider);
        break;
    case LLMUX_EVENT_TEXT_DELTA:
    case LLMUX_EVENT_TOOL_CALL_DELTA:
    case LLMUX_EVENT_REASONING_DELTA:
        lx_buf_printf(b, " %u \"", ev->index);
        esc(b, ev->text ? ev->text : "", ev->text_len);
        lx_buf_append_str(b, "\"");
        break;
    case LLMUX_EVENT_TOOL_CALL_START:
        lx_buf_printf(b, " %u", ev->index);
        str(b, ev->id);
        str(b, ev->name);
        break;
    case LLMUX_EVENT_TOOL_CALL_END: lx_buf_printf(b, " %u", ev->index); break;
    case LLMUX_EVENT_NATIVE:
        lx_buf_printf(b, " %u", ev->index);
        str(b, ev->name);
        lx_buf_append_str(b, " ");
        lx_buf_append(b, ev->text ? ev->text : "", ev->text ? ev->text_len : 0);
        break;
    case LLMUX_EVENT_USAGE:
        lx_buf_printf(b, " in=%lld out=%lld total=%lld", (long long)ev->usage.input_tokens,
                      (long long)ev->usage.output_tokens, (long long)ev->usage.total_tokens);
        if (ev->cost_known) lx_buf_printf(b, " cost=%.9g", ev->cost_usd);
        break;
    case LLMUX_EVENT_FINISH:
        l->n_terminal++;
        lx_buf_printf(b, " %s", llmux_finish_reason_name(ev->finish_reason));
        break;
    case LLMUX_EVENT_ERROR:
        l->n_terminal++;
        lx_buf_printf(b, " %s", ev->error ? llmux_status_name(ev->error->status) : "?");
        break;
    }
    lx_buf_append_str(b, "\n");
    if (ev->type == LLMUX_EVENT_TEXT_DELTA) {
        l->n_text++;
        if (l->cancel_at_text_token && l->n_text == 1) {
            l->triggered_ns = lx_now_ns();
            llmux_cancel_trigger(l->cancel_at_text_token);
        }
        if (l->stop_at_text && l->n_text == l->stop_at_text) return false;
    }
    return !(l->stop_at_event && l->n_events == l->stop_at_event);
}

void log_init(log_t *l) {
    memset(l, 0, sizeof *l);
    lx_buf_init(&l->out, 1 << 20);
    lx_buf_append(&l->out, "", 0);
}


void log_free(log_t *l) { lx_buf_free(&l->out); }
