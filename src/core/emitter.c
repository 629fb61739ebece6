#include "core/emitter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void lx_emitter_init(lx_emitter *e, lx_event_sink sink, const char *provider) {
    memset(e, 0, sizeof *e);
    e->sink = sink;
    e->provider = provider;
    e->text_index = -1;
    e->reasoning_index = -1;
}

void lx_emitter_free(lx_emitter *e) {
    free(e->tools);
    e->tools = NULL;
    e->n_tools = e->cap_tools = 0;
}

static bool is_terminal(llmux_event_type t) { return t == LLMUX_EVENT_FINISH || t == LLMUX_EVENT_ERROR; }

/* The stream guard: nothing after the terminal event; after the sink asked to stop, only USAGE
 * and the terminal event. */
static llmux_status deliver(lx_emitter *e, llmux_event *ev, llmux_error_info *err) {
    if (e->finished)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %s event after the end of the response",
                        e->provider ? e->provider : "provider", llmux_event_type_name(ev->type));
    bool terminal = is_terminal(ev->type);
    if (e->cancelled && !terminal && ev->type != LLMUX_EVENT_USAGE)
        return lx_error(err, LLMUX_E_CANCELLED, "cancelled by the event consumer");
    e->n_events++;
    if (ev->type == LLMUX_EVENT_START) e->started = true;
    if (terminal) {
        e->finished = true;
        if (ev->type == LLMUX_EVENT_ERROR) e->end_status = ev->error ? ev->error->status : LLMUX_E_INTERNAL;
        else e->end_status = ev->finish_reason == LLMUX_FINISH_CANCELLED ? LLMUX_E_CANCELLED : LLMUX_OK;
    }
    bool keep = !e->sink.emit || e->sink.emit(e->sink.user_data, ev);
    if (!keep) e->cancelled = true;
    /* A refused terminal event still ended the stream: there is nothing left to stop. */
    if (!keep && !terminal) return lx_error(err, LLMUX_E_CANCELLED, "cancelled by the event consumer");
    return LLMUX_OK;
}

static llmux_event blank(llmux_event_type t) {
    llmux_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = t;
    ev.usage = llmux_usage_default();
    return ev;
}

llmux_status lx_emit_start(lx_emitter *e, const char *id, const char *model, llmux_error_info *err) {
    if (e->started) return LLMUX_OK;
    llmux_event ev = blank(LLMUX_EVENT_START);
    ev.id = id;
    ev.name = model;
    ev.provider = e->provider;
    return deliver(e, &ev, err);
}

llmux_status lx_emit_text(lx_emitter *e, const char *text, size_t len, llmux_error_info *err) {
    if (len == 0) return LLMUX_OK;
    llmux_status st = lx_emit_start(e, NULL, NULL, err);
    if (st != LLMUX_OK) return st;
    if (e->text_index < 0) e->text_index = e->next_index++;
    llmux_event ev = blank(LLMUX_EVENT_TEXT_DELTA);
    ev.index = (uint32_t)e->text_index;
    ev.text = text;
    ev.text_len = len;
    return deliver(e, &ev, err);
}

llmux_status lx_emit_reasoning(lx_emitter *e, const char *text, size_t len, const char *signature, bool redacted,
                               llmux_error_info *err) {
    if (len == 0 && (!signature || !*signature) && !redacted) return LLMUX_OK;
    llmux_status st = lx_emit_start(e, NULL, NULL, err);
    if (st != LLMUX_OK) return st;
    if (e->reasoning_index < 0) e->reasoning_index = e->next_index++;
    llmux_event ev = blank(LLMUX_EVENT_REASONING_DELTA);
    ev.index = (uint32_t)e->reasoning_index;
    ev.text = text;
    ev.text_len = len;
    ev.signature = signature;
    ev.redacted = redacted;
    return deliver(e, &ev, err);
}

llmux_status lx_emit_native(lx_emitter *e, const char *format, const char *block, size_t len, llmux_error_info *err) {
    llmux_status st = lx_emit_start(e, NULL, NULL, err);
    if (st != LLMUX_OK) return st;
    e->text_index = e->reasoning_index = -1;
    llmux_event ev = blank(LLMUX_EVENT_NATIVE);
    ev.index = e->next_index++;
    ev.name = format;
    ev.text = block;
    ev.text_len = len;
    return deliver(e, &ev, err);
}

void lx_emitter_break_text(lx_emitter *e) { e->text_index = -1; }
void lx_emitter_break_reasoning(lx_emitter *e) { e->reasoning_index = -1; }

/* The newest call with this key: keys may be reused after a call ended. */
static lx_emitter_tool *find_tool(const lx_emitter *e, int64_t key) {
    for (size_t i = e->n_tools; i-- > 0;)
        if (e->tools[i].key == key) return (lx_emitter_tool *)&e->tools[i];
    return NULL;
}

bool lx_emitter_has_tool(const lx_emitter *e, int64_t key) { return find_tool(e, key) != NULL; }

bool lx_emitter_tool_open(const lx_emitter *e, int64_t key) {
    const lx_emitter_tool *t = find_tool(e, key);
    return t && t->open;
}

llmux_status lx_emit_tool_start(lx_emitter *e, int64_t key, const char *id, const char *name, llmux_error_info *err) {
    const char *prov = e->provider ? e->provider : "provider";
    lx_emitter_tool *t = find_tool(e, key);
    if (t && t->open) return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: tool call %lld started twice", prov, (long long)key);
    if (e->n_tools >= LX_EMITTER_MAX_TOOLS)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: more than %d tool calls", prov, LX_EMITTER_MAX_TOOLS);
    llmux_status st = lx_emit_start(e, NULL, NULL, err);
    if (st != LLMUX_OK) return st;
    if (e->n_tools == e->cap_tools) {
        size_t cap = e->cap_tools ? e->cap_tools * 2 : 4;
        if (cap > LX_EMITTER_MAX_TOOLS) cap = LX_EMITTER_MAX_TOOLS;
        lx_emitter_tool *grown = realloc(e->tools, cap * sizeof *grown);
        if (!grown) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory for a tool call", prov);
        e->tools = grown;
        e->cap_tools = cap;
    }
    t = &e->tools[e->n_tools++];
    t->key = key;
    t->index = e->next_index++;
    t->open = true;
    t->tag = 0;
    llmux_event ev = blank(LLMUX_EVENT_TOOL_CALL_START);
    ev.index = t->index;
    ev.id = id ? id : "";
    ev.name = name ? name : "";
    return deliver(e, &ev, err);
}

llmux_status lx_emit_tool_delta(lx_emitter *e, int64_t key, const char *frag, size_t len, llmux_error_info *err) {
    lx_emitter_tool *t = find_tool(e, key);
    if (!t || !t->open)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: arguments for tool call %lld that is not open",
                        e->provider ? e->provider : "provider", (long long)key);
    if (len == 0) return LLMUX_OK;
    llmux_event ev = blank(LLMUX_EVENT_TOOL_CALL_DELTA);
    ev.index = t->index;
    ev.text = frag;
    ev.text_len = len;
    return deliver(e, &ev, err);
}

static llmux_status end_tool(lx_emitter *e, lx_emitter_tool *t, llmux_error_info *err) {
    if (!t->open) return LLMUX_OK;
    t->open = false;
    llmux_event ev = blank(LLMUX_EVENT_TOOL_CALL_END);
    ev.index = t->index;
    return deliver(e, &ev, err);
}

llmux_status lx_emit_tool_end(lx_emitter *e, int64_t key, llmux_error_info *err) {
    lx_emitter_tool *t = find_tool(e, key);
    if (!t)
        return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: end of unknown tool call %lld",
                        e->provider ? e->provider : "provider", (long long)key);
    return end_tool(e, t, err);
}

llmux_status lx_emit_usage(lx_emitter *e, const llmux_usage *u, llmux_error_info *err) {
    return lx_emit_usage_cost(e, u, NAN, err);
}

llmux_status lx_emit_usage_cost(lx_emitter *e, const llmux_usage *u, double cost_usd, llmux_error_info *err) {
    llmux_status st = lx_emit_start(e, NULL, NULL, err);
    if (st != LLMUX_OK) return st;
    llmux_event ev = blank(LLMUX_EVENT_USAGE);
    ev.usage = *u;
    if (isfinite(cost_usd) && cost_usd >= 0) {
        ev.cost_known = true;
        ev.cost_usd = cost_usd;
    }
    return deliver(e, &ev, err);
}

llmux_status lx_emit_finish(lx_emitter *e, llmux_finish_reason reason, llmux_error_info *err) {
    return lx_emit_finish_stop(e, reason, NULL, err);
}

llmux_status lx_emit_finish_stop(lx_emitter *e, llmux_finish_reason reason, const char *stop, llmux_error_info *err) {
    llmux_status st = LLMUX_OK;
    if (!e->cancelled) {
        st = lx_emit_start(e, NULL, NULL, err);
        for (size_t i = 0; st == LLMUX_OK && i < e->n_tools; i++) st = end_tool(e, &e->tools[i], err);
        if (st != LLMUX_OK && st != LLMUX_E_CANCELLED) return st;
    }
    llmux_event ev = blank(LLMUX_EVENT_FINISH);
    ev.finish_reason = e->cancelled ? LLMUX_FINISH_CANCELLED : reason;
    if (stop && *stop && ev.finish_reason == LLMUX_FINISH_STOP) {
        ev.text = stop;
        ev.text_len = strlen(stop);
    }
    llmux_status fst = deliver(e, &ev, err);
    if (fst != LLMUX_OK) return fst;
    return e->cancelled ? lx_error(err, LLMUX_E_CANCELLED, "cancelled by the event consumer") : LLMUX_OK;
}

llmux_status lx_emit_error(lx_emitter *e, const llmux_error_info *info, llmux_error_info *err) {
    llmux_error_info fallback;
    if (!info || info->status == LLMUX_OK) {
        lx_error(&fallback, LLMUX_E_INTERNAL, "%s: the stream failed without details",
                 e->provider ? e->provider : "provider");
        info = &fallback;
    }
    if (!e->cancelled) {
        llmux_status st = lx_emit_start(e, NULL, NULL, err);
        if (st != LLMUX_OK && st != LLMUX_E_CANCELLED) return st;
    }
    llmux_event ev = blank(LLMUX_EVENT_ERROR);
    ev.error = info;
    return deliver(e, &ev, err);
}

bool lx_emitter_close(lx_emitter *e, llmux_status st, const llmux_error_info *info) {
    if (e->finished || e->n_events == 0) return false;
    llmux_error_info ignored;
    if (st == LLMUX_E_CANCELLED) {
        e->cancelled = true; /* FINISH(CANCELLED), no tool calls closed after the stop */
        lx_emit_finish(e, LLMUX_FINISH_CANCELLED, &ignored);
        return e->finished;
    }
    llmux_error_info fallback;
    if (!info || info->status == LLMUX_OK) {
        lx_error(&fallback, st != LLMUX_OK ? st : LLMUX_E_INTERNAL, "%s: the stream ended without a terminal event",
                 e->provider ? e->provider : "provider");
        info = &fallback;
    }
    lx_emit_error(e, info, &ignored);
    return e->finished;
}
