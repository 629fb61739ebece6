/* lx_handoff_check: the promises of lx_handoff's output, checked from the output alone. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "handoff/handoff_internal.h"

static bool fail(char *why, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static bool fail(char *why, size_t size, const char *fmt, ...) {
    if (why && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, size, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool blank(const char *s) {
    if (!s) return true;
    for (; *s; s++)
        if (!strchr(" \t\n\r\f\v", *s)) return false;
    return true;
}

static size_t count_calls(const llmux_message *m) {
    size_t n = 0;
    for (size_t j = 0; j < m->n_parts; j++) n += m->parts[j].type == LLMUX_PART_TOOL_CALL;
    return n;
}

/* Parts that must hold in every message, whatever the target. */
static bool check_parts(const llmux_message *m, size_t i, bool keep_reasoning, lx_handoff_protocol p, lx_idset *ids,
                        char *why, size_t ws) {
    if (!m->n_parts || !m->parts) return fail(why, ws, "messages[%zu]: empty message", i);
    for (size_t j = 0; j < m->n_parts; j++) {
        const llmux_part *q = &m->parts[j];
        switch (q->type) {
        case LLMUX_PART_TEXT:
            if (blank(q->text)) return fail(why, ws, "messages[%zu].content[%zu]: blank text", i, j);
            break;
        case LLMUX_PART_IMAGE:
        case LLMUX_PART_FILE:
            if (m->role != LLMUX_ROLE_USER)
                return fail(why, ws, "messages[%zu].content[%zu]: %s outside a user message", i, j,
                            q->type == LLMUX_PART_FILE ? "file" : "image");
            break;
        case LLMUX_PART_TOOL_CALL:
            if (m->role != LLMUX_ROLE_ASSISTANT)
                return fail(why, ws, "messages[%zu].content[%zu]: tool call outside an assistant message", i, j);
            if (!q->name || !*q->name) return fail(why, ws, "messages[%zu].content[%zu]: tool call without name", i, j);
            if (!lx_handoff_id_valid(p, q->id))
                return fail(why, ws, "messages[%zu].content[%zu]: id \"%.80s\" not valid for %s", i, j,
                            q->id ? q->id : "", lx_handoff_protocol_name(p));
            if (lx_idset_has(ids, q->id))
                return fail(why, ws, "messages[%zu].content[%zu]: id \"%.80s\" used twice", i, j, q->id);
            lx_idset_add(ids, q->id);
            break;
        case LLMUX_PART_TOOL_RESULT:
            if (m->role != LLMUX_ROLE_USER && m->role != LLMUX_ROLE_TOOL)
                return fail(why, ws, "messages[%zu].content[%zu]: tool result outside a user or tool message", i, j);
            break;
        case LLMUX_PART_REASONING:
            if (!keep_reasoning) return fail(why, ws, "messages[%zu].content[%zu]: foreign reasoning", i, j);
            if (m->role != LLMUX_ROLE_ASSISTANT)
                return fail(why, ws, "messages[%zu].content[%zu]: reasoning outside an assistant message", i, j);
            break;
        case LLMUX_PART_NATIVE:
            if (p != LX_HANDOFF_ANTHROPIC || !q->name || strcmp(q->name, "anthropic") != 0)
                return fail(why, ws, "messages[%zu].content[%zu]: another provider's native block", i, j);
            break;
        default: return fail(why, ws, "messages[%zu].content[%zu]: unknown part type", i, j);
        }
    }
    return true;
}

/* Where a target's tool results go: at the start of the next user message (Anthropic), all in
 * one `tool` message right after the call (Gemini), one `tool` message each (chat protocols). */
typedef enum results_at { RESULTS_LEADING, RESULTS_ONE_TOOL, RESULTS_TOOL_EACH } results_at;

/* The results answering assistant message i, in call order. Adds how many results it accounted
 * for to *n_answered. */
static bool check_answers(const llmux_request *r, size_t i, results_at at, size_t *n_answered, char *why,
                          size_t ws) {
    const llmux_message *m = &r->messages[i];
    const llmux_message *next = i + 1 < r->n_messages ? &r->messages[i + 1] : NULL;
    size_t k = 0;
    for (size_t j = 0; j < m->n_parts; j++) {
        const llmux_part *call = &m->parts[j];
        if (call->type != LLMUX_PART_TOOL_CALL) continue;
        const llmux_part *res = NULL;
        if (at == RESULTS_TOOL_EACH) {
            const llmux_message *t = i + 1 + k < r->n_messages ? &r->messages[i + 1 + k] : NULL;
            if (t && t->role == LLMUX_ROLE_TOOL && t->n_parts == 1) res = &t->parts[0];
        } else if (next && next->role == (at == RESULTS_LEADING ? LLMUX_ROLE_USER : LLMUX_ROLE_TOOL) &&
                   k < next->n_parts) {
            res = &next->parts[k];
        }
        if (!res || res->type != LLMUX_PART_TOOL_RESULT || !res->id || strcmp(res->id, call->id) != 0)
            return fail(why, ws, "messages[%zu].content[%zu]: call \"%.80s\" not answered right after", i, j, call->id);
        if (!res->name || strcmp(res->name, call->name) != 0)
            return fail(why, ws, "messages[%zu].content[%zu]: the result of \"%.80s\" names another tool", i, j,
                        call->id);
        k++;
    }
    *n_answered += k;
    return true;
}

/* Roles and their order, and where results may be. */
static bool check_message(const llmux_request *r, size_t i, bool alt, results_at at, char *why, size_t ws) {
    const llmux_message *m = &r->messages[i];
    if (m->role == LLMUX_ROLE_SYSTEM) {
        if (alt || i != 0) return fail(why, ws, "messages[%zu]: a system message here", i);
        if (m->n_parts != 1 || m->parts[0].type != LLMUX_PART_TEXT)
            return fail(why, ws, "messages[0]: the system message holds one text");
        return true;
    }
    if (alt && i == 0 && m->role != LLMUX_ROLE_USER) return fail(why, ws, "messages[0]: must be a user turn");
    if (alt && i > 0 && m->role == r->messages[i - 1].role)
        return fail(why, ws, "messages[%zu]: same role as the message before", i);
    if (m->role == LLMUX_ROLE_TOOL) {
        if (at == RESULTS_LEADING) return fail(why, ws, "messages[%zu]: a tool message for anthropic", i);
        if (at == RESULTS_TOOL_EACH && m->n_parts != 1)
            return fail(why, ws, "messages[%zu]: a tool message holds one tool result", i);
        for (size_t j = 0; j < m->n_parts; j++)
            if (m->parts[j].type != LLMUX_PART_TOOL_RESULT)
                return fail(why, ws, "messages[%zu].content[%zu]: a tool message holds tool results only", i, j);
        return true;
    }
    for (size_t j = 0; j < m->n_parts; j++) {
        if (m->parts[j].type != LLMUX_PART_TOOL_RESULT) continue;
        if (at != RESULTS_LEADING) return fail(why, ws, "messages[%zu].content[%zu]: a result outside a tool message", i, j);
        if (j > 0 && m->parts[j - 1].type != LLMUX_PART_TOOL_RESULT)
            return fail(why, ws, "messages[%zu].content[%zu]: a tool result after other content", i, j);
    }
    return true;
}

bool lx_handoff_check(const llmux_request *r, const lx_handoff_opts *o, char *why, size_t ws) {
    lx_handoff_protocol p;
    if (!r || !o || !lx_handoff_protocol_from_name(o->target_protocol, &p)) return fail(why, ws, "bad arguments");
    if (r->n_messages && !r->messages) return fail(why, ws, "messages: NULL");
    const char *target = o->target_provider ? o->target_provider : o->target_protocol;
    bool keep = o->origin && strcmp(o->origin, target) == 0;
    bool alt = p == LX_HANDOFF_ANTHROPIC || p == LX_HANDOFF_GEMINI;
    results_at at = p == LX_HANDOFF_ANTHROPIC ? RESULTS_LEADING : p == LX_HANDOFF_GEMINI ? RESULTS_ONE_TOOL
                                                                                         : RESULTS_TOOL_EACH;
    if (!alt && r->system)
        return fail(why, ws, "system: must be the first message for %s", lx_handoff_protocol_name(p));

    size_t n_calls = 0, n_results = 0, n_answered = 0;
    for (size_t i = 0; i < r->n_messages; i++)
        if (r->messages[i].parts) n_calls += count_calls(&r->messages[i]);
    lx_idset ids;
    if (!lx_idset_init(&ids, n_calls)) return fail(why, ws, "out of memory");
    bool ok = true;
    for (size_t i = 0; ok && i < r->n_messages; i++) {
        const llmux_message *m = &r->messages[i];
        ok = check_parts(m, i, keep, p, &ids, why, ws) && check_message(r, i, alt, at, why, ws);
        for (size_t j = 0; ok && j < m->n_parts; j++) n_results += m->parts[j].type == LLMUX_PART_TOOL_RESULT;
        if (ok && m->role == LLMUX_ROLE_ASSISTANT) ok = check_answers(r, i, at, &n_answered, why, ws);
    }
    lx_idset_free(&ids);
    if (ok && n_answered != n_results) ok = fail(why, ws, "%zu tool results answer no call", n_results - n_answered);
    return ok;
}
